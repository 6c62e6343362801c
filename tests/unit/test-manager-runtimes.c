/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager's backends, driven through the fake one (no root): a pod runs
 * under --runtime unless podd.io/runtime names another, a backend the
 * manager lacks leaves the pod waiting, the backend is recorded in the
 * pod's state, and an exit the backend reports reaches the restart policy.
 * get_pods' kept views never lag what a fresh rendering shows.
 */
#include <check.h>
#include <stdio.h>
#include <sys/stat.h>

#include "podd/manager.h"
#include "runtime/runtime.h"
#include "state/state.h"
#include "unit-util.h"

static char tmpdir[64];
static Loop *loop;
static Manager *m;
static void *fake;

static char *path(const char *rel)
{
    char *p = strdup_printf("%s/%s", tmpdir, rel);

    ck_assert_ptr_nonnull(p);
    return p;
}

static void write_manifest(const char *name, const char *pod, const char *annotations)
{
    _cleanup_free_ char *p = strdup_printf("%s/manifests/%s", tmpdir, name);
    FILE *f = fopen(p, "we");

    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n%s"
            "spec:\n  containers:\n  - name: app\n    image: %s/img\n    command: [/bin/app]\n",
            pod, annotations, tmpdir);
    ck_assert_int_eq(fclose(f), 0);
}

static void setup(void)
{
    static const RuntimeOps *const backends[] = {&runtime_fake_ops, NULL};
    const char *dirs[] = {"manifests", "state", "run", "log", "img"};
    /* The manager borrows its configuration's strings for as long as it lives. */
    static char mdir[PATH_MAX], sdir[PATH_MAX], rdir[PATH_MAX], ldir[PATH_MAX];
    PdError e = {0};

    (void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-manager-rt.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
        _cleanup_free_ char *d = path(dirs[i]);

        ck_assert_int_eq(mkdir(d, 0755), 0);
    }
    write_manifest("web.yaml", "web", "");
    write_manifest("other.yaml", "other", "  annotations:\n    podd.io/runtime: runc\n");
    write_manifest("nat.yaml", "nat", "  annotations:\n    podd.io/runtime: native\n");
    (void)snprintf(mdir, sizeof(mdir), "%s/manifests", tmpdir);
    (void)snprintf(sdir, sizeof(sdir), "%s/state", tmpdir);
    (void)snprintf(rdir, sizeof(rdir), "%s/run", tmpdir);
    (void)snprintf(ldir, sizeof(ldir), "%s/log", tmpdir);
    ck_assert_int_eq(loop_new(&loop), 0);
    ck_assert_msg(manager_new(loop,
                              &(ManagerConfig){
                                  .manifest_dir = mdir,
                                  .state_dir = sdir,
                                  .run_dir = rdir,
                                  .log_dir = ldir,
                                  .monitor_path = "/nonexistent/podd-monitor",
                                  .runtime = "fake",
                                  .runtimes = backends,
                                  .backoff_initial_usec = 10 * 1000000ull,
                                  .backoff_max_usec = 300 * 1000000ull,
                                  .backoff_reset_usec = 600 * 1000000ull,
                              },
                              &m, &e) == 0,
                  "%s", e.message);
    fake = manager_runtime_ctx(m, "fake");
    ck_assert_ptr_nonnull(fake);
    ck_assert_ptr_null(manager_runtime_ctx(m, "native"));
    ck_assert_int_eq(manager_start(m), 0);
}

static void teardown(void)
{
    m = manager_free(m);
    loop = loop_unref(loop);
    ck_assert_int_eq(unit_rm_tree(tmpdir), 0);
}

/* Runs the loop until the fake has seen n calls starting with call (5 s at most). */
static void run_until_calls(const char *call, size_t n)
{
    for (int i = 0; i < 500 && runtime_fake_count(fake, call) < n; i++)
        ck_assert_int_ge(loop_run_once(loop, 10 * 1000), 0);
    ck_assert_uint_eq(runtime_fake_count(fake, call), n);
}

/* Runs the loop for a while: whatever is due by then has happened. */
static void run_for(int iterations)
{
    for (int i = 0; i < iterations; i++)
        ck_assert_int_ge(loop_run_once(loop, 10 * 1000), 0);
}

/* status.containerStatuses[0] of pod name. */
static json_t *ctr_status(const char *name)
{
    _cleanup_json_ json_t *pod = manager_pod_to_json(m, name);
    json_t *s;

    ck_assert_ptr_nonnull(pod);
    s = json_array_get(json_object_get(json_object_get(pod, "status"), "containerStatuses"), 0);
    ck_assert_ptr_nonnull(s);
    return json_incref(s);
}

/*
 * get_pods' text (kept views) against every pod rendered afresh: equal bytes.
 * Returns the parsed get_pods result.
 */
static json_t *pods_checked(void)
{
    _cleanup_(strbuf_done) StrBuf out = {0};
    _cleanup_json_ json_t *pods = NULL, *fresh = json_array();
    _cleanup_free_ char *fresh_text = NULL;
    json_t *p;
    size_t i;

    ck_assert_int_eq(manager_pods_append_json(m, &out), 0);
    pods = json_loadb(out.data, out.len, 0, NULL);
    ck_assert_ptr_nonnull(pods);
    ck_assert_ptr_nonnull(fresh);
    json_array_foreach(pods, i, p)
    {
        const char *name =
            json_string_value(json_object_get(json_object_get(p, "metadata"), "name"));

        ck_assert_int_eq(json_array_append_new(fresh, manager_pod_to_json(m, name)), 0);
    }
    fresh_text = json_dumps(fresh, JSON_COMPACT);
    ck_assert_ptr_nonnull(fresh_text);
    if (out.len != strlen(fresh_text) || !streq(out.data, fresh_text)) {
        size_t at = 0;

        while (out.data[at] && out.data[at] == fresh_text[at])
            at++;
        at = at > 40 ? at - 40 : 0;
        ck_abort_msg("get_pods kept a stale view: '%.120s' where a fresh one has '%.120s'",
                     out.data + at, fresh_text + at);
    }
    return move_ptr(pods);
}

/* The first container status of pod name in a get_pods result; NULL when absent. */
static json_t *pods_ctr(json_t *pods, const char *name)
{
    json_t *p;
    size_t i;

    json_array_foreach(pods, i, p)
    {
        if (streq(json_string_value(json_object_get(json_object_get(p, "metadata"), "name")), name))
            return json_array_get(
                json_object_get(json_object_get(p, "status"), "containerStatuses"), 0);
    }
    return NULL;
}

/*
 * Runs the loop, checking get_pods after every iteration (pods_checked()),
 * until ok says web's view shows what is awaited (10 s at most).
 */
static void run_checked_until(const char *what, bool (*ok)(json_t *pods))
{
    for (int i = 0; i < 1000; i++) {
        _cleanup_json_ json_t *pods = pods_checked();

        if (ok(pods))
            return;
        ck_assert_int_ge(loop_run_once(loop, 10 * 1000), 0);
    }
    ck_abort_msg("get_pods never showed %s", what);
}

static bool web_running_ready(json_t *pods)
{
    json_t *c = pods_ctr(pods, "web");

    return c && json_object_get(json_object_get(c, "state"), "running") &&
           json_is_true(json_object_get(c, "ready")) &&
           json_integer_value(json_object_get(c, "restartCount")) == 0;
}

/* Ready, and its probe's count of successes went on past the threshold. */
static bool web_probed_on(json_t *pods)
{
    json_t *c = pods_ctr(pods, "web");
    json_t *ready = json_object_get(json_object_get(c, "probes"), "readiness");

    return web_running_ready(pods) && json_integer_value(json_object_get(ready, "successes")) >= 3;
}

static bool web_unready(json_t *pods)
{
    json_t *c = pods_ctr(pods, "web");

    return c && json_object_get(json_object_get(c, "state"), "running") &&
           json_is_false(json_object_get(c, "ready"));
}

static bool web_restarted_ready(json_t *pods)
{
    json_t *c = pods_ctr(pods, "web");
    json_t *last = json_object_get(json_object_get(c, "lastState"), "terminated");

    return c && json_integer_value(json_object_get(c, "restartCount")) == 1 &&
           json_integer_value(json_object_get(last, "exitCode")) == 3 &&
           json_is_true(json_object_get(c, "ready"));
}

static bool web_labelled(json_t *pods)
{
    json_t *p;
    size_t i;

    json_array_foreach(pods, i, p)
    {
        json_t *meta = json_object_get(p, "metadata");

        if (streq(json_string_value(json_object_get(meta, "name")), "web")) {
            const char *tier =
                json_string_value(json_object_get(json_object_get(meta, "labels"), "tier"));

            return tier && streq(tier, "front") && web_running_ready(pods);
        }
    }
    return false;
}

static bool web_gone(json_t *pods)
{
    return !pods_ctr(pods, "web") && json_array_size(pods) == 2;
}

START_TEST(test_view_fresh)
{
    static const char probe[] = "    readinessProbe:\n      exec:\n        command: [/bin/check]\n"
                                "      periodSeconds: 1\n      failureThreshold: 1\n";
    _cleanup_free_ char *web = path("manifests/web.yaml");
    FILE *f;

    /* web with a readiness probe (the fake's exec answers exec_exit_code). */
    f = fopen(web, "we");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"
            "spec:\n  containers:\n  - name: app\n    image: %s/img\n    command: [/bin/app]\n%s",
            tmpdir, probe);
    ck_assert_int_eq(fclose(f), 0);
    run_checked_until("web running and ready", web_running_ready);
    run_checked_until("web's probe passing on", web_probed_on);

    /* The probe fails, then passes again. */
    ck_assert_int_eq(
        runtime_fake_script(fake, "default_web_app", &(RuntimeFakeScript){.exec_exit_code = 1}), 0);
    run_checked_until("web unready", web_unready);
    ck_assert_int_eq(runtime_fake_script(fake, "default_web_app", &(RuntimeFakeScript){0}), 0);
    run_checked_until("web ready again", web_running_ready);

    /* It exits: restarted at once, its exit as lastState, ready once its probe passes. */
    ck_assert_int_eq(runtime_fake_exit(fake, "default_web_app", 3, 0, false), 0);
    run_checked_until("web restarted", web_restarted_ready);

    /* A new version with a label: the pod is replaced and shows it. */
    f = fopen(web, "we");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels:\n    tier: front\n"
            "spec:\n  containers:\n  - name: app\n    image: %s/img\n    command: [/bin/app]\n%s",
            tmpdir, probe);
    ck_assert_int_eq(fclose(f), 0);
    run_checked_until("web's new version running", web_labelled);

    /* Its manifest removed: it stops and leaves the list. */
    ck_assert_int_eq(unlink(web), 0);
    run_checked_until("web gone", web_gone);
}
END_TEST

START_TEST(test_default_backend_runs_and_restarts)
{
    _cleanup_json_ json_t *st = NULL, *saved = NULL;
    _cleanup_(state_store_freep) StateStore *store = NULL;
    _cleanup_free_ char *state = path("state");

    run_until_calls("container_start_finish default_web_app", 1);
    ck_assert_uint_eq(runtime_fake_count(fake, "pod_create default_web"), 1);
    run_for(3);
    st = ctr_status("web");
    ck_assert_ptr_nonnull(json_object_get(json_object_get(st, "state"), "running"));
    json_decref(st);

    /* The instance's backend is in its state: an adopting podd keeps it. */
    ck_assert_int_eq(state_store_open(state, &store, NULL), 0);
    ck_assert_int_eq(state_store_load_pod(store, "web", &saved, NULL), 0);
    ck_assert_ptr_nonnull(saved);
    ck_assert_str_eq(json_string_value(json_object_get(saved, "runtime")), "fake");

    /* The backend reports an exit through the monitor's pidfd: the first restart is at once. */
    ck_assert_int_eq(runtime_fake_exit(fake, "default_web_app", 3, 0, false), 0);
    run_until_calls("container_start_begin default_web_app", 2);
    run_until_calls("container_start_finish default_web_app", 2);
    run_for(3);
    /* A restart follows: only the run's records went, not the whole container. */
    ck_assert_uint_eq(runtime_fake_count(fake, "container_recycle default_web_app"), 1);
    ck_assert_uint_eq(runtime_fake_count(fake, "container_remove default_web_app"), 0);
    st = ctr_status("web");
    ck_assert_int_eq(json_integer_value(json_object_get(st, "restartCount")), 1);
    ck_assert_int_eq(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(st, "lastState"), "terminated"), "exitCode")),
        3);
}
END_TEST

/*
 * podd told to stop while a container starts (its starter still at work):
 * nothing is signalled before it runs, podd waits for the start, and then
 * stops and removes the container instead of leaving it running.
 */
START_TEST(test_stop_while_starting)
{
    ck_assert_int_eq(
        runtime_fake_script(fake, "default_web_app", &(RuntimeFakeScript){.hold_start = true}), 0);
    run_until_calls("container_start_begin default_web_app", 1);
    manager_shutdown(m, true);
    run_for(20);
    ck_assert_uint_eq(runtime_fake_count(fake, "container_start_finish default_web_app"), 0);
    ck_assert_uint_eq(runtime_fake_count(fake, "container_signal default_web_app"), 0);
    ck_assert_uint_eq(runtime_fake_count(fake, "container_remove default_web_app"), 0);
    ck_assert_int_eq(runtime_fake_release_start(fake, "default_web_app"), 0);
    run_until_calls("container_start_finish default_web_app", 1);
    run_until_calls("container_signal default_web_app 15", 1);
    run_until_calls("container_remove default_web_app", 1);
}
END_TEST

/*
 * An init container's exit starts what waited for it first: its run is
 * saved and removed after, off the path from the exit to the next start.
 */
START_TEST(test_init_exit_starts_successors_first)
{
    _cleanup_free_ char *p = path("manifests/seq.yaml");
    _cleanup_json_ json_t *st = NULL;
    _cleanup_free_ char *state = path("state");
    _cleanup_(state_store_freep) StateStore *store = NULL;
    char *const *calls;
    ssize_t begin = -1, removed = -1;
    FILE *f = fopen(p, "we");

    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: seq\nspec:\n  initContainers:\n"
            "  - name: init\n    image: %s/img\n    command: [/bin/init]\n  containers:\n"
            "  - name: app\n    image: %s/img\n    command: [/bin/app]\n",
            tmpdir, tmpdir);
    ck_assert_int_eq(fclose(f), 0);
    manager_rescan(m);
    run_until_calls("container_start_finish default_seq_init", 1);
    run_for(3);
    ck_assert_uint_eq(runtime_fake_count(fake, "container_start_begin default_seq_app"), 0);
    ck_assert_int_eq(runtime_fake_exit(fake, "default_seq_init", 0, 0, false), 0);
    run_until_calls("container_start_begin default_seq_app", 1);
    run_until_calls("container_remove default_seq_init", 1);
    calls = runtime_fake_calls(fake);
    for (ssize_t i = 0; calls[i]; i++) {
        if (streq(calls[i], "container_start_begin default_seq_app"))
            begin = i;
        if (streq(calls[i], "container_remove default_seq_init"))
            removed = i;
    }
    ck_assert_int_ge(begin, 0);
    ck_assert_int_gt(removed, begin);
    /* Its exit reached the state file all the same. */
    ck_assert_int_eq(state_store_open(state, &store, NULL), 0);
    ck_assert_int_eq(state_store_load_pod(store, "seq", &st, NULL), 0);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(json_object_get(json_object_get(st, "containers"), "init"),
                                         "lastTermination"),
                         "exitCode")),
                     0);
    ck_assert(json_is_true(
        json_object_get(json_object_get(json_object_get(st, "containers"), "init"), "completed")));
}
END_TEST

/*
 * A crash loop recycles the container for each restart; stopped during its
 * back-off, it is removed for good before it counts as stopped.
 */
START_TEST(test_crash_loop_then_stop_removes)
{
    char *const *calls;
    ssize_t recycled = -1, begun = -1;

    run_until_calls("container_start_finish default_web_app", 1);
    ck_assert_int_eq(runtime_fake_exit(fake, "default_web_app", 1, 0, false), 0);
    run_until_calls("container_start_finish default_web_app", 2);
    /* The restart after its own recycle does not look again for what a killed daemon left. */
    calls = runtime_fake_calls(fake);
    for (ssize_t i = 0; calls[i]; i++) {
        if (recycled < 0 && streq(calls[i], "container_recycle default_web_app"))
            recycled = i;
        else if (recycled >= 0 && streq(calls[i], "container_start_begin default_web_app")) {
            begun = i;
            break;
        } else if (recycled >= 0)
            ck_assert_msg(!streq(calls[i], "container_inspect default_web_app"),
                          "inspected between its recycle and its restart");
    }
    ck_assert_int_gt(begun, recycled);
    ck_assert_int_ge(recycled, 0);
    ck_assert_int_eq(runtime_fake_exit(fake, "default_web_app", 1, 0, false), 0);
    /* The second restart waits 10 s. */
    run_until_calls("container_recycle default_web_app", 2);
    run_for(5);
    ck_assert_uint_eq(runtime_fake_count(fake, "container_start_begin default_web_app"), 2);
    ck_assert_uint_eq(runtime_fake_count(fake, "container_remove default_web_app"), 0);
    manager_shutdown(m, true);
    run_until_calls("container_remove default_web_app", 1);
    run_for(5);
    ck_assert_uint_eq(runtime_fake_count(fake, "container_start_begin default_web_app"), 2);
    ck_assert_uint_eq(runtime_fake_count(fake, "container_recycle default_web_app"), 2);
}
END_TEST

START_TEST(test_missing_backend_waits)
{
    _cleanup_json_ json_t *other = NULL, *nat = NULL;

    run_until_calls("container_start_finish default_web_app", 1);
    run_for(5);
    /* runc and native are not this manager's: nothing of theirs reaches any backend. */
    ck_assert_uint_eq(runtime_fake_count(fake, "pod_create default_other"), 0);
    ck_assert_uint_eq(runtime_fake_count(fake, "container_start_begin default_other_app"), 0);
    ck_assert_uint_eq(runtime_fake_count(fake, "pod_create default_nat"), 0);
    ck_assert_uint_eq(runtime_fake_count(fake, "container_start_begin default_nat_app"), 0);
    other = ctr_status("other");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(other, "state"), "waiting"), "reason")),
                     "RuntimeNotAvailable");
    nat = ctr_status("nat");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(nat, "state"), "waiting"), "reason")),
                     "RuntimeNotAvailable");
}
END_TEST

START_TEST(test_unknown_default)
{
    static const RuntimeOps *const backends[] = {&runtime_fake_ops, NULL};
    Manager *m2 = NULL;
    PdError e = {0};
    _cleanup_free_ char *mdir = path("manifests"), *sdir = path("state2");

    /* --runtime must name a backend of the table; the fake one is not in the users' table. */
    ck_assert_int_eq(manager_new(loop,
                                 &(ManagerConfig){.manifest_dir = mdir,
                                                  .state_dir = sdir,
                                                  .run_dir = tmpdir,
                                                  .log_dir = tmpdir,
                                                  .monitor_path = "/x",
                                                  .runtime = "fake"},
                                 &m2, &e),
                     -EINVAL);
    ck_assert_str_eq(e.message, "unknown runtime 'fake' (known: native)");
    ck_assert_int_eq(manager_new(loop,
                                 &(ManagerConfig){.manifest_dir = mdir,
                                                  .state_dir = sdir,
                                                  .run_dir = tmpdir,
                                                  .log_dir = tmpdir,
                                                  .monitor_path = "/x",
                                                  .runtime = "runc",
                                                  .runtimes = backends},
                                 &m2, &e),
                     -EINVAL);
    ck_assert_str_eq(e.message, "unknown runtime 'runc' (known: fake)");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("manager-runtimes");
    TCase *tc = tcase_create("fake");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_default_backend_runs_and_restarts);
    tcase_add_test(tc, test_missing_backend_waits);
    tcase_add_test(tc, test_init_exit_starts_successors_first);
    tcase_add_test(tc, test_stop_while_starting);
    tcase_add_test(tc, test_crash_loop_then_stop_removes);
    tcase_add_test(tc, test_unknown_default);
    tcase_add_test(tc, test_view_fresh);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
