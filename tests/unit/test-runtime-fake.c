/* SPDX-License-Identifier: Apache-2.0 */
/* The fake backend: what a test of the manager relies on (no root needed). */
#include <check.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "runtime/runtime.h"
#include "unit-util.h"

static char *cmd[] = {"/bin/app", NULL};
static Pod pod = {.name = "web", .namespace = "t"};
static Container app = {.name = "app", .image = "bb", .command = cmd};
static Container side = {.name = "side", .image = "bb", .command = cmd};

static const RuntimeOps *ops = &runtime_fake_ops;
static void *ctx;
static int fds_before;

static void setup(void)
{
    fds_before = unit_count_fds();
    ck_assert_int_eq(ops->init(&ctx, &(RuntimeConfig){0}, NULL), 0);
}

static void teardown(void)
{
    ops->done(ctx);
    ctx = NULL;
    /* done() ended and reaped every process of the fake: nothing of it is left. */
    ck_assert_int_eq(unit_count_fds(), fds_before);
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
}

static bool readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

/* begin + finish, asserting success; returns the monitor's pidfd. */
static int start(const Container *c)
{
    int starter = -1, pidfd = -1;
    PdError e = {0};
    char *id = runtime_container_id(&pod, c);

    ck_assert_int_eq(
        ops->container_start_begin(ctx, &pod, c, RUNTIME_IMAGE_DIR("/img"), NULL, &starter, &e), 0);
    ck_assert(readable(starter, 5000));
    ck_assert_msg(ops->container_start_finish(ctx, id, starter, &pidfd, &e) == 0, "%s", e.message);
    close(starter);
    free(id);
    return pidfd;
}

START_TEST(test_not_user_selectable)
{
    /* Only a test hands the fake to the manager: --runtime fake finds nothing. */
    ck_assert_ptr_null(runtime_find("fake"));
    ck_assert_ptr_eq(runtime_find("native"), &runtime_native_ops);
    for (size_t i = 0; runtime_table[i]; i++)
        ck_assert_ptr_ne(runtime_table[i], &runtime_fake_ops);
    /* It has no monitor half: podd-monitor refuses its configs. */
    ck_assert_ptr_null(runtime_monitor_find("fake"));
    ck_assert_ptr_eq(runtime_monitor_find("native"), &runtime_native_monitor_ops);
}
END_TEST

START_TEST(test_run_and_exit)
{
    ContainerStatus st;
    int pidfd = start(&app);

    ck_assert_int_eq(ops->container_inspect(ctx, "t_web_app", &st, NULL), 0);
    ck_assert_int_eq(st.state, CONTAINER_STATE_RUNNING);
    /* A real process: the manager adopts a monitor by pid. */
    ck_assert_int_gt(st.monitor_pid, 0);
    ck_assert_int_eq(kill(st.monitor_pid, 0), 0);
    ck_assert(!readable(pidfd, 0));
    ck_assert_int_eq(runtime_fake_exit(ctx, "t_web_app", 3, 0, false), 0);
    ck_assert(readable(pidfd, 5000));
    ck_assert_int_eq(ops->container_inspect(ctx, "t_web_app", &st, NULL), 0);
    ck_assert_int_eq(st.state, CONTAINER_STATE_EXITED);
    ck_assert_int_eq(st.exit.exit_code, 3);
    ck_assert_str_eq(st.exit.reason, "Error");
    ck_assert(st.exit.started_at[0] && st.exit.finished_at[0]);
    ck_assert_int_eq(runtime_fake_exit(ctx, "t_web_app", 0, 0, false), -ESRCH);
    ck_assert_int_eq(ops->container_signal(ctx, "t_web_app", SIGTERM, NULL), -ESRCH);
    close(pidfd);

    /* Again, ending well; then an OOM kill. */
    pidfd = start(&app);
    ck_assert_int_eq(runtime_fake_exit(ctx, "t_web_app", 0, 0, false), 0);
    ck_assert(readable(pidfd, 5000));
    ck_assert_int_eq(ops->container_inspect(ctx, "t_web_app", &st, NULL), 0);
    ck_assert_str_eq(st.exit.reason, "Completed");
    close(pidfd);
    pidfd = start(&app);
    ck_assert_int_eq(runtime_fake_exit(ctx, "t_web_app", 0, SIGKILL, true), 0);
    ck_assert_int_eq(ops->container_inspect(ctx, "t_web_app", &st, NULL), 0);
    ck_assert_int_eq(st.exit.exit_code, 137);
    ck_assert_int_eq(st.exit.signal, SIGKILL);
    ck_assert(st.exit.oom_killed);
    ck_assert_str_eq(st.exit.reason, "OOMKilled");
    close(pidfd);
    ck_assert_int_eq(ops->container_remove(ctx, "t_web_app", NULL), 0);
    ck_assert_int_eq(ops->container_inspect(ctx, "t_web_app", &st, NULL), 0);
    ck_assert_int_eq(st.state, CONTAINER_STATE_UNKNOWN);
}
END_TEST

START_TEST(test_signals)
{
    ContainerStatus st;
    int pidfd;

    ck_assert_int_eq(
        runtime_fake_script(ctx, "t_web_side", &(RuntimeFakeScript){.ignore_sigterm = true}), 0);
    pidfd = start(&app);
    ck_assert_int_eq(ops->container_signal(ctx, "t_web_app", SIGTERM, NULL), 0);
    ck_assert(readable(pidfd, 5000));
    ck_assert_int_eq(ops->container_inspect(ctx, "t_web_app", &st, NULL), 0);
    ck_assert_int_eq(st.exit.exit_code, 128 + SIGTERM);
    ck_assert_int_eq(st.exit.signal, SIGTERM);
    close(pidfd);

    pidfd = start(&side);
    ck_assert_int_eq(ops->container_signal(ctx, "t_web_side", SIGTERM, NULL), 0);
    ck_assert(!readable(pidfd, 50));
    ck_assert_int_eq(ops->container_inspect(ctx, "t_web_side", &st, NULL), 0);
    ck_assert_int_eq(st.state, CONTAINER_STATE_RUNNING);
    ck_assert_int_eq(ops->container_signal(ctx, "t_web_side", SIGKILL, NULL), 0);
    ck_assert(readable(pidfd, 5000));
    ck_assert_int_eq(ops->container_inspect(ctx, "t_web_side", &st, NULL), 0);
    ck_assert_int_eq(st.exit.exit_code, 137);
    close(pidfd);
    ck_assert_uint_eq(runtime_fake_count(ctx, "container_signal t_web_side"), 2);
    ck_assert_uint_eq(runtime_fake_count(ctx, "container_signal t_web_side 9"), 1);
    ck_assert_uint_eq(runtime_fake_count(ctx, "container_signal"), 3);
}
END_TEST

START_TEST(test_scripted_starts)
{
    ContainerStatus st;
    PdError e = {0};
    int starter = -1, pidfd = -1;

    /* Exits with code 3 right after its start: nothing to watch. */
    ck_assert_int_eq(
        runtime_fake_script(ctx, "t_web_app",
                            &(RuntimeFakeScript){.exit_on_start = true, .exit_code = 3}),
        0);
    ck_assert_int_eq(
        ops->container_start_begin(ctx, &pod, &app, RUNTIME_IMAGE_DIR("/img"), NULL, &starter, &e),
        0);
    ck_assert(readable(starter, 5000));
    ck_assert_int_eq(ops->container_start_finish(ctx, "t_web_app", starter, &pidfd, &e), -ESRCH);
    close(starter);
    ck_assert_int_eq(ops->container_inspect(ctx, "t_web_app", &st, NULL), 0);
    ck_assert_int_eq(st.state, CONTAINER_STATE_EXITED);
    ck_assert_int_eq(st.exit.exit_code, 3);

    /* Never runs: a StartError, like a missing binary. */
    ck_assert_int_eq(
        runtime_fake_script(ctx, "t_web_app", &(RuntimeFakeScript){.start_error = -EIO}), 0);
    ck_assert_int_eq(
        runtime_container_start(ops, ctx, &pod, &app, RUNTIME_IMAGE_DIR("/img"), &pidfd, &e), -EIO);
    ck_assert_ptr_nonnull(strstr(e.message, "t_web_app"));
    ck_assert_int_eq(ops->container_inspect(ctx, "t_web_app", &st, NULL), 0);
    ck_assert_int_eq(st.state, CONTAINER_STATE_EXITED);
    ck_assert_str_eq(st.exit.reason, "StartError");
    ck_assert_str_eq(st.exit.message, e.message);

    /* Held: starting until released; a second start of it is refused meanwhile. */
    ck_assert_int_eq(
        runtime_fake_script(ctx, "t_web_app", &(RuntimeFakeScript){.hold_start = true}), 0);
    ck_assert_int_eq(
        ops->container_start_begin(ctx, &pod, &app, RUNTIME_IMAGE_DIR("/img"), NULL, &starter, &e),
        0);
    ck_assert(!readable(starter, 50));
    ck_assert_int_eq(ops->container_inspect(ctx, "t_web_app", &st, NULL), 0);
    ck_assert_int_eq(st.state, CONTAINER_STATE_STARTING);
    ck_assert_int_eq(
        ops->container_start_begin(ctx, &pod, &app, RUNTIME_IMAGE_DIR("/img"), NULL, &pidfd, &e),
        -EBUSY);
    ck_assert_int_eq(ops->container_start_finish(ctx, "t_web_app", starter, &pidfd, &e), -EAGAIN);
    ck_assert_int_eq(ops->container_remove(ctx, "t_web_app", &e), -EBUSY);
    ck_assert_int_eq(runtime_fake_release_start(ctx, "t_web_app"), 0);
    ck_assert_int_eq(runtime_fake_release_start(ctx, "t_web_app"), -ESRCH);
    ck_assert(readable(starter, 5000));
    ck_assert_int_eq(ops->container_start_finish(ctx, "t_web_app", starter, &pidfd, &e), 0);
    close(starter);
    ck_assert_int_eq(ops->container_inspect(ctx, "t_web_app", &st, NULL), 0);
    ck_assert_int_eq(st.state, CONTAINER_STATE_RUNNING);
    close(pidfd);
    /* done() ends the one still running. */
}
END_TEST

START_TEST(test_remove_busy_and_exec)
{
    int pidfd, status = -1;
    char *argv[] = {"check", NULL};

    ck_assert_int_eq(
        runtime_fake_script(ctx, "t_web_app",
                            &(RuntimeFakeScript){.remove_busy = 2, .exec_exit_code = 4}),
        0);
    /* Nothing to remove yet: no busy answer spent on that. */
    ck_assert_int_eq(ops->container_remove(ctx, "t_web_app", NULL), 0);
    ck_assert_int_eq(ops->container_exec(ctx, "t_web_app", argv, 0, &status, NULL), -EIO);
    pidfd = start(&app);
    ck_assert_int_eq(ops->container_exec(ctx, "t_web_app", argv, 0, &status, NULL), 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 4);
    /* Remove kills it, then the "cgroup" stays busy twice. */
    ck_assert_int_eq(ops->container_remove(ctx, "t_web_app", NULL), -EBUSY);
    ck_assert(readable(pidfd, 5000));
    ck_assert_int_eq(ops->container_remove(ctx, "t_web_app", NULL), -EBUSY);
    ck_assert_int_eq(ops->container_remove(ctx, "t_web_app", NULL), 0);
    ck_assert_int_eq(ops->container_remove(ctx, "t_web_app", NULL), 0);
    close(pidfd);
    ck_assert_uint_eq(runtime_fake_count(ctx, "container_remove t_web_app"), 5);
    ck_assert_uint_eq(runtime_fake_count(ctx, "container_exec t_web_app check"), 2);
}
END_TEST

START_TEST(test_pods_and_calls)
{
    char *const *calls;
    PdError e = {0};

    ck_assert_int_eq(
        runtime_fake_script(ctx, "t_bad", &(RuntimeFakeScript){.pod_create_error = -ENOSPC}), 0);
    ck_assert_int_eq(ops->pod_create(ctx, &pod, &e), 0);
    ck_assert_int_eq(ops->pod_create(ctx, &(Pod){.name = "bad", .namespace = "t"}, &e), -ENOSPC);
    ck_assert_ptr_nonnull(strstr(e.message, "t_bad"));
    ck_assert_int_eq(ops->pod_destroy(ctx, &pod, &e), 0);
    calls = runtime_fake_calls(ctx);
    ck_assert_int_eq(strv_length(calls), 3);
    ck_assert_str_eq(calls[0], "pod_create t_web");
    ck_assert_str_eq(calls[1], "pod_create t_bad");
    ck_assert_str_eq(calls[2], "pod_destroy t_web");
    runtime_fake_calls_clear(ctx);
    ck_assert_ptr_null(runtime_fake_calls(ctx)[0]);
    close(start(&app));
    calls = runtime_fake_calls(ctx);
    ck_assert_int_eq(strv_length(calls), 2);
    ck_assert_str_eq(calls[0], "container_start_begin t_web_app");
    ck_assert_str_eq(calls[1], "container_start_finish t_web_app");
    ck_assert_uint_eq(runtime_fake_count(ctx, "container_start"), 0);
    ck_assert_uint_eq(runtime_fake_count(ctx, "container_start_begin"), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runtime-fake");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_not_user_selectable);
    tcase_add_test(tc, test_run_and_exit);
    tcase_add_test(tc, test_signals);
    tcase_add_test(tc, test_scripted_starts);
    tcase_add_test(tc, test_remove_busy_and_exec);
    tcase_add_test(tc, test_pods_and_calls);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
