/* SPDX-License-Identifier: Apache-2.0 */
/*
 * podctl apply, delete and restart: the commands that change what podd runs.
 *
 * apply validates every manifest here first, with the same messages as
 * podctl validate, and sends nothing when one is wrong; podd validates
 * again (it is the authority) and stores all of them or none.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>

#include "api/api.h"
#include "podctl.h"

#define WAIT_DEFAULT_SECONDS 300
#define WAIT_MAX_SECONDS (7 * 86400)
#define WAIT_POLL_USEC (200 * 1000)

/* ---- reading the manifests --------------------------------------------------------------- */

typedef struct Manifests {
    json_t *list; /* [{"file", "text"}...] as the apply operation takes them */
    char **names; /* the pods, in order */
    unsigned errors;
} Manifests;

static void manifests_done(Manifests *m)
{
    json_decref(m->list);
    strv_free(m->names);
}

static int read_manifest(const char *path, char **ret, size_t *ret_size, PdError *reterr)
{
    _cleanup_close_ int fd = -1;
    int r;

    if (streq(path, "-"))
        r = read_fd_full(STDIN_FILENO, MANIFEST_MAX_BYTES, ret, ret_size);
    else {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            return pd_error_set(reterr, -errno, "%s: cannot open: %s", path, strerror(errno));
        r = read_fd_full(fd, MANIFEST_MAX_BYTES, ret, ret_size);
    }
    if (r == -EFBIG)
        return pd_error_set(reterr, r, "%s: larger than %u bytes (1 MiB)",
                            streq(path, "-") ? "<stdin>" : path, MANIFEST_MAX_BYTES);
    if (r < 0)
        return pd_error_set(reterr, r, "%s: cannot read: %s", streq(path, "-") ? "<stdin>" : path,
                            strerror(-r));
    return 0;
}

/* Reads and validates one file; its errors are printed and counted. */
static int manifests_add(Manifests *m, const char *path)
{
    const char *name = streq(path, "-") ? "<stdin>" : path;
    _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
    _cleanup_free_ char *buf = NULL;
    PdError e = {0};
    size_t size;
    int r;

    r = read_manifest(path, &buf, &size, &e);
    if (r >= 0)
        r = manifest_parse_buffer(name, buf, size,
                                  streq(path, "-") ? MANIFEST_FORMAT_YAML : MANIFEST_FORMAT_AUTO,
                                  &f, &e);
    if (r < 0) {
        if (r != -ENOMEM && !e.file[0] && r != -ENOENT)
            pd_error_set_file(&e, name);
        podctl_print_error(&e);
        m->errors++;
        return r == -ENOMEM ? r : 0;
    }
    podctl_print_diags(f);
    for (size_t i = 0; i < f->n_docs; i++) {
        if (!f->docs[i].pod) {
            m->errors++;
            continue;
        }
        if (strv_extend(&m->names, f->docs[i].name) < 0)
            return -ENOMEM;
    }
    if (json_array_append_new(m->list, json_pack("{s:s,s:s%}", "file", name, "text", buf, size)) <
        0)
        return -ENOMEM;
    return 0;
}

/* Expands the -f paths and reads every manifest; 1 when one is invalid (nothing is sent). */
static int manifests_read(Manifests *m, char *const *paths)
{
    _cleanup_(strv_freep) char **files = NULL;
    int r;

    m->list = json_array();
    if (!m->list || podctl_expand_paths(paths, &files) < 0)
        return PODCTL_EXIT_FAILURE;
    if (!files[0]) {
        fprintf(stderr, "podctl: no manifest found in %s\n", paths[0]);
        return PODCTL_EXIT_FAILURE;
    }
    for (size_t i = 0; files[i]; i++) {
        r = manifests_add(m, files[i]);
        if (r < 0) {
            fprintf(stderr, "podctl: %s\n", strerror(-r));
            return PODCTL_EXIT_FAILURE;
        }
    }
    if (m->errors > 0) {
        fprintf(stderr, "podctl: nothing applied: %u invalid manifest%s\n", m->errors,
                m->errors == 1 ? "" : "s");
        return PODCTL_EXIT_FAILURE;
    }
    return PODCTL_EXIT_OK;
}

/* ---- waiting for the pods ------------------------------------------------------------------ */

typedef enum PodProgress {
    POD_PROGRESS_WAITING,
    POD_PROGRESS_READY,
    POD_PROGRESS_FAILED,
} PodProgress;

/* The exit code a container last ended with, for messages; -1 when none is known. */
static int last_exit_code(const json_t *cs)
{
    const json_t *t = json_object_get(json_object_get(cs, "lastState"), "terminated");

    if (!t)
        t = json_object_get(json_object_get(cs, "state"), "terminated");
    return t ? (int)json_integer_value(json_object_get(t, "exitCode")) : -1;
}

/*
 * Where one container stands: ready when it runs and is ready (or
 * completed, for init containers and jobs), failed when it crash-loops.
 * Fills why when not ready.
 */
static PodProgress container_progress(const json_t *cs, bool sidecar_or_regular, char *why,
                                      size_t size)
{
    const json_t *state = json_object_get(cs, "state");
    const json_t *waiting = json_object_get(state, "waiting");
    const json_t *term = json_object_get(state, "terminated");
    const char *name = json_string_value(json_object_get(cs, "name"));
    const json_t *pending = json_object_get(cs, "pendingUpdate");
    const char *reason;

    /* The old version runs on while the applied one waits for its images: not there yet. */
    if (pending) {
        const char *message = json_string_value(json_object_get(pending, "message"));

        (void)snprintf(why, size, "the update of container %s waits: %s%s%s", name,
                       json_string_value(json_object_get(pending, "reason")) ?: "ImageNotFound",
                       message && message[0] ? ", " : "", message ?: "");
        return POD_PROGRESS_WAITING;
    }
    if (json_object_get(state, "running")) {
        /* Ready means its readiness probe says so (or it has none), not that it runs. */
        if (sidecar_or_regular && json_is_true(json_object_get(cs, "ready")))
            return POD_PROGRESS_READY;
        if (sidecar_or_regular) {
            (void)snprintf(why, size, "container %s is running, not ready", name);
            return POD_PROGRESS_WAITING;
        }
        (void)snprintf(why, size, "init container %s is running", name);
        return POD_PROGRESS_WAITING;
    }
    if (term && json_integer_value(json_object_get(term, "exitCode")) == 0)
        return POD_PROGRESS_READY;
    reason = json_string_value(json_object_get(waiting ? waiting : term, "reason"));
    if (waiting && reason && streq(reason, "CrashLoopBackOff")) {
        (void)snprintf(why, size, "container %s is crash-looping (last exit code %d)", name,
                       last_exit_code(cs));
        return POD_PROGRESS_FAILED;
    }
    if (term)
        (void)snprintf(why, size, "container %s exited with code %d", name,
                       (int)json_integer_value(json_object_get(term, "exitCode")));
    else
        (void)snprintf(why, size, "container %s is waiting: %s%s%s", name,
                       reason ? reason : "ContainerCreating",
                       json_string_value(json_object_get(waiting, "message")) ? ", " : "",
                       json_string_value(json_object_get(waiting, "message")) ?: "");
    return POD_PROGRESS_WAITING;
}

/* An init container with restartPolicy Always runs beside the others: a sidecar. */
static bool is_sidecar(const json_t *pod, const json_t *cs)
{
    const json_t *c;
    size_t i;

    json_array_foreach(json_object_get(json_object_get(pod, "spec"), "initContainers"), i, c)
    {
        const char *policy = json_string_value(json_object_get(c, "restartPolicy"));

        if (json_equal(json_object_get(c, "name"), json_object_get(cs, "name")))
            return policy && streq(policy, "Always");
    }
    return false;
}

/*
 * A pod runs to completion when no regular container is restarted after it
 * exits 0: restartPolicy Never or OnFailure, as a container's own policy
 * overrides the pod's. --wait then waits for Succeeded or Failed, not for
 * the process to exist: a job that runs for a moment and exits 9 has failed.
 */
static bool runs_to_completion(const json_t *pod)
{
    const json_t *spec = json_object_get(pod, "spec");
    const char *pod_policy = json_string_value(json_object_get(spec, "restartPolicy"));
    const json_t *c;
    size_t i;

    json_array_foreach(json_object_get(spec, "containers"), i, c)
    {
        const char *policy = json_string_value(json_object_get(c, "restartPolicy"));

        if (!policy)
            policy = pod_policy;
        if (!policy || streq(policy, "Always"))
            return false;
    }
    return true;
}

static PodProgress pod_progress(const json_t *pod, char *why, size_t size)
{
    const json_t *status = json_object_get(pod, "status");
    const char *phase = json_string_value(json_object_get(status, "phase"));
    static const char *const lists[] = {"initContainerStatuses", "containerStatuses"};
    PodProgress worst = POD_PROGRESS_READY;

    why[0] = 0;
    if (phase && streq(phase, "Succeeded"))
        return POD_PROGRESS_READY;
    for (size_t l = 0; l < ELEMENTSOF(lists); l++) {
        const json_t *cs;
        size_t i;

        json_array_foreach(json_object_get(status, lists[l]), i, cs)
        {
            char w[512];
            PodProgress p = container_progress(cs, l == 1 || is_sidecar(pod, cs), w, sizeof(w));

            if (p == POD_PROGRESS_READY || worst == POD_PROGRESS_FAILED)
                continue;
            worst = p;
            (void)snprintf(why, size, "%s", w);
        }
    }
    if (phase && streq(phase, "Failed")) {
        if (!why[0])
            (void)snprintf(why, size, "the pod failed");
        return POD_PROGRESS_FAILED;
    }
    if (runs_to_completion(pod) && worst != POD_PROGRESS_FAILED) {
        /* Only Succeeded (returned above) ends the wait of a pod that runs to completion. */
        if (worst == POD_PROGRESS_READY || !why[0])
            (void)snprintf(why, size, "the pod is %s", phase ? phase : "unknown");
        return POD_PROGRESS_WAITING;
    }
    if (worst == POD_PROGRESS_READY && (!phase || !streq(phase, "Running")))
        (void)snprintf(why, size, "the pod is %s", phase ? phase : "unknown");
    return why[0] && worst == POD_PROGRESS_READY ? POD_PROGRESS_WAITING : worst;
}

static bool pod_succeeded(const json_t *pod)
{
    const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));

    return phase && streq(phase, "Succeeded");
}

/* The sum of the restart counts: a change means a container ended meanwhile. */
static int64_t pod_restarts(const json_t *pod)
{
    static const char *const lists[] = {"initContainerStatuses", "containerStatuses"};
    int64_t sum = 0;

    for (size_t l = 0; l < ELEMENTSOF(lists); l++) {
        const json_t *cs;
        size_t i;

        json_array_foreach(json_object_get(json_object_get(pod, "status"), lists[l]), i, cs)
        {
            sum += json_integer_value(json_object_get(cs, "restartCount"));
        }
    }
    return sum;
}

/*
 * Ready counts once it has held for READY_HOLD_USEC without a restart: a
 * crash-looping container is "running" for an instant after each start.
 */
#define READY_HOLD_USEC (1000 * 1000)

typedef struct WaitState {
    bool done;
    uint64_t ready_since; /* 0: not ready at the last look */
    int64_t restarts;
    char shown[512];
} WaitState;

static bool ready_held(WaitState *w, const json_t *pod, uint64_t now)
{
    int64_t restarts = pod_restarts(pod);

    if (!w->ready_since || restarts != w->restarts) {
        w->ready_since = now;
        w->restarts = restarts;
        return false;
    }
    return now - w->ready_since >= READY_HOLD_USEC;
}

/* Follows the pods until each is ready, one fails, or the time is up. */
static int wait_for_pods(char *const *names, unsigned timeout_sec)
{
    size_t n = strv_length(names);
    _cleanup_free_ WaitState *ws = calloc(n ? n : 1, sizeof(WaitState));
    uint64_t deadline = now_monotonic_usec() + (uint64_t)timeout_sec * 1000000u;
    bool tty = isatty(STDOUT_FILENO);
    size_t left = n;
    char why[512];

    if (!ws)
        return PODCTL_EXIT_FAILURE;
    for (;;) {
        for (size_t i = 0; i < n; i++) {
            _cleanup_json_ json_t *pod = NULL;
            PodProgress p;

            if (ws[i].done)
                continue;
            if (podctl_call(json_pack("{s:s,s:s}", "op", "get_pod", "name", names[i]), &pod) < 0)
                return PODCTL_EXIT_FAILURE;
            p = pod_progress(pod, why, sizeof(why));
            if (p == POD_PROGRESS_FAILED) {
                fprintf(stderr, "podctl: pod/%s failed: %s\n", names[i], why);
                return PODCTL_EXIT_FAILURE;
            }
            if (p != POD_PROGRESS_READY)
                ws[i].ready_since = 0;
            if (pod_succeeded(pod)) {
                /* Final: nothing runs or restarts any more. */
                ws[i].done = true;
                left--;
                printf("pod/%s succeeded\n", names[i]);
                fflush(stdout);
            } else if (p == POD_PROGRESS_READY && ready_held(&ws[i], pod, now_monotonic_usec())) {
                ws[i].done = true;
                left--;
                printf("pod/%s ready\n", names[i]);
                fflush(stdout);
            } else if (p != POD_PROGRESS_READY && tty && !streq(ws[i].shown, why)) {
                /* Live progress, one line per change, only for a person watching. */
                printf("pod/%s: %s\n", names[i], why);
                fflush(stdout);
                (void)snprintf(ws[i].shown, sizeof(ws[i].shown), "%s", why);
            }
            if (!ws[i].done && now_monotonic_usec() >= deadline) {
                fprintf(stderr, "podctl: timed out after %us waiting for pod/%s: %s\n", timeout_sec,
                        names[i], why);
                return PODCTL_EXIT_FAILURE;
            }
        }
        if (left == 0)
            return PODCTL_EXIT_OK;
        (void)usleep(WAIT_POLL_USEC);
    }
}

/* ---- apply ------------------------------------------------------------------------------------
 */

static void apply_usage(FILE *f)
{
    fputs("Usage: podctl apply -f PATH... [--dry-run] [--wait[=TIMEOUT]]\n"
          "\n"
          "Sends the Pods of the manifests to podd, which runs them. PATH is a file, a\n"
          "directory (its *.yaml, *.yml and *.json files) or - for standard input; a file may\n"
          "hold several documents. Every manifest is checked first: when one is invalid,\n"
          "nothing is applied. Prints one line per pod: created, configured or unchanged.\n"
          "\n"
          "Options:\n"
          "  -f, --filename PATH   a manifest file or directory, or - (repeatable)\n"
          "      --dry-run         show what would change (created, the containers that would\n"
          "                        be replaced, unchanged) and change nothing\n"
          "      --wait[=TIMEOUT]  follow the pods until every container runs (init containers:\n"
          "                        completed); a pod that runs to completion (restartPolicy\n"
          "                        Never or OnFailure) until it has Succeeded; fail when one\n"
          "                        crash-loops or fails, or after TIMEOUT (default 5m; 30s, 2m,\n"
          "                        1h or seconds)\n"
          "  -h, --help            show this help\n"
          "\n"
          "Exit status: 0 on success, 1 when a manifest is invalid, podd refuses it, or a pod\n"
          "fails while waiting, 2 on usage errors.\n",
          f);
}

static void print_applied(const json_t *results, bool dry_run)
{
    const json_t *r;
    size_t i;

    json_array_foreach(results, i, r)
    {
        /* podd's planner words what changes: the same words as its events. */
        const char *summary = json_string_value(json_object_get(r, "summary"));

        printf("pod/%s %s%s%s%s\n", json_string_value(json_object_get(r, "name")),
               json_string_value(json_object_get(r, "action")), dry_run ? " (dry run)" : "",
               summary && *summary ? ": " : "", summary ? summary : "");
    }
    fflush(stdout);
}

/* Collects -f arguments: each -f takes one path, and plain arguments after it are paths too. */
static int collect_paths(int argc, char *argv[], const struct option *opts, const char *shortopts,
                         char ***paths, bool *dry_run, int *wait_sec, void (*usage)(FILE *))
{
    uint64_t secs;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (strv_extend(paths, optarg) < 0)
                return -ENOMEM;
            break;
        case 'd':
            *dry_run = true;
            break;
        case 'w':
            if (!optarg)
                *wait_sec = WAIT_DEFAULT_SECONDS;
            else if (streq(optarg, "false"))
                *wait_sec = 0;
            else if (podctl_parse_seconds(optarg, &secs) < 0 || secs > WAIT_MAX_SECONDS) {
                fprintf(stderr, "podctl: invalid --wait timeout '%s' (30s, 2m, 1h or seconds)\n",
                        optarg);
                return -EINVAL;
            } else
                *wait_sec = (int)secs;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -EINVAL;
        }
    }
    for (int i = optind; i < argc && *paths; i++)
        if (strv_extend(paths, argv[i]) < 0)
            return -ENOMEM;
    return 0;
}

int cmd_apply(int argc, char *argv[])
{
    static const struct option opts[] = {
        {"filename", required_argument, NULL, 'f'},
        {"dry-run", no_argument, NULL, 'd'},
        {"wait", optional_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    _cleanup_(strv_freep) char **paths = NULL;
    _cleanup_(manifests_done) Manifests m = {0};
    _cleanup_json_ json_t *result = NULL;
    bool dry_run = false;
    int wait_sec = 0, r;

    r = collect_paths(argc, argv, opts, "f:h", &paths, &dry_run, &wait_sec, apply_usage);
    if (r != 0)
        return r > 0 ? PODCTL_EXIT_OK : PODCTL_EXIT_USAGE;
    if (!paths) {
        fprintf(stderr, "podctl apply: -f PATH is required\n");
        apply_usage(stderr);
        return PODCTL_EXIT_USAGE;
    }
    if (dry_run && wait_sec) {
        fprintf(stderr, "podctl apply: --dry-run and --wait exclude each other\n");
        return PODCTL_EXIT_USAGE;
    }
    r = manifests_read(&m, paths);
    if (r != PODCTL_EXIT_OK)
        return r;
    if (podctl_call(
            json_pack("{s:s,s:O,s:b}", "op", "apply", "manifests", m.list, "dryRun", dry_run),
            &result) < 0)
        return PODCTL_EXIT_FAILURE;
    print_applied(result, dry_run);
    return wait_sec ? wait_for_pods(m.names, (unsigned)wait_sec) : PODCTL_EXIT_OK;
}

/* ---- delete ------------------------------------------------------------------------------------
 */

static void delete_usage(FILE *f)
{
    fputs("Usage: podctl delete pod NAME...\n"
          "       podctl delete -f PATH...\n"
          "\n"
          "Stops and removes pods that were applied through podctl apply, and waits until\n"
          "they are gone. A pod defined by a file in the manifest directory is refused: remove\n"
          "the file instead. 'pods', 'po' and pod/NAME work as well.\n"
          "\n"
          "Options:\n"
          "  -f, --filename PATH   delete the pods the manifests define (repeatable)\n"
          "      --wait=false      return once podd has been told, without waiting\n"
          "  -h, --help            show this help\n"
          "\n"
          "Exit status: 0 on success, 1 when a pod does not exist or is not podctl's to\n"
          "delete, 2 on usage errors.\n",
          f);
}

/* "pod NAME...", "pods NAME...", "pod/NAME..." into names. */
static int pod_names_from_args(int argc, char *argv[], char ***names)
{
    int i = 0;

    if (i < argc && (streq(argv[i], "pod") || streq(argv[i], "pods") || streq(argv[i], "po")))
        i++;
    else if (i >= argc || !startswith(argv[i], "pod/"))
        return -EINVAL;
    for (; i < argc; i++) {
        const char *n = startswith(argv[i], "pod/") ? argv[i] + 4 : argv[i];

        if (!dns_label_is_valid(n)) {
            fprintf(stderr, "podctl: invalid pod name '%s'\n", n);
            return -EINVAL;
        }
        if (strv_extend(names, n) < 0)
            return -ENOMEM;
    }
    return *names ? 0 : -EINVAL;
}

/* Waits until get_pod says NotFound for each. */
static int wait_until_gone(char *const *names, unsigned timeout_sec)
{
    uint64_t deadline = now_monotonic_usec() + (uint64_t)timeout_sec * 1000000u;

    for (size_t i = 0; names[i]; i++) {
        for (;;) {
            _cleanup_(api_client_freep) ApiClient *c = NULL;
            _cleanup_json_ json_t *req = json_pack("{s:s,s:s}", "op", "get_pod", "name", names[i]);
            _cleanup_json_ json_t *pod = NULL;
            PdError e = {0};
            int r = api_client_connect(podctl_socket_path(), &c, &e);

            if (r >= 0)
                r = api_client_call(c, req, &pod, &e);
            if (r == -ENOENT)
                break;
            if (r < 0) {
                fprintf(stderr, "podctl: %s\n", e.message);
                return PODCTL_EXIT_FAILURE;
            }
            if (now_monotonic_usec() >= deadline) {
                fprintf(stderr, "podctl: timed out after %us waiting for pod/%s to be gone\n",
                        timeout_sec, names[i]);
                return PODCTL_EXIT_FAILURE;
            }
            (void)usleep(WAIT_POLL_USEC);
        }
    }
    return PODCTL_EXIT_OK;
}

int cmd_delete(int argc, char *argv[])
{
    static const struct option opts[] = {
        {"filename", required_argument, NULL, 'f'},
        {"wait", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    _cleanup_(strv_freep) char **paths = NULL, **names = NULL;
    _cleanup_(manifests_done) Manifests m = {0};
    _cleanup_json_ json_t *result = NULL, *list = NULL;
    const json_t *v;
    bool dry_run = false;
    int wait_sec = 60, r;
    size_t i;

    r = collect_paths(argc, argv, opts, "f:h", &paths, &dry_run, &wait_sec, delete_usage);
    if (r != 0)
        return r > 0 ? PODCTL_EXIT_OK : PODCTL_EXIT_USAGE;
    if (paths) {
        r = manifests_read(&m, paths);
        if (r != PODCTL_EXIT_OK)
            return r;
        names = move_ptr(m.names);
    } else if (pod_names_from_args(argc - optind, argv + optind, &names) < 0) {
        delete_usage(stderr);
        return PODCTL_EXIT_USAGE;
    }
    list = json_array();
    for (i = 0; list && names[i]; i++)
        if (json_array_append_new(list, json_string(names[i])) < 0)
            return PODCTL_EXIT_FAILURE;
    if (podctl_call(json_pack("{s:s,s:O}", "op", "delete_pods", "names", list), &result) < 0)
        return PODCTL_EXIT_FAILURE;
    json_array_foreach(result, i, v)
    {
        printf("pod/%s deleted\n", json_string_value(json_object_get(v, "name")));
    }
    fflush(stdout);
    return wait_sec ? wait_until_gone(names, (unsigned)wait_sec) : PODCTL_EXIT_OK;
}

/* ---- restart ------------------------------------------------------------------------------------
 */

static void restart_usage(FILE *f)
{
    fputs("Usage: podctl restart pod NAME\n"
          "\n"
          "Stops every container of the pod in reverse start order, then starts the pod again:\n"
          "init containers run again, except the 'once' ones that completed already.\n"
          "\n"
          "Exit status: 0 on success, 1 when the pod does not exist, 2 on usage errors.\n",
          f);
}

int cmd_restart(int argc, char *argv[])
{
    _cleanup_(strv_freep) char **names = NULL;
    _cleanup_json_ json_t *result = NULL;

    if (argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
        restart_usage(stdout);
        return PODCTL_EXIT_OK;
    }
    if (pod_names_from_args(argc - 1, argv + 1, &names) < 0 || strv_length(names) != 1) {
        restart_usage(stderr);
        return PODCTL_EXIT_USAGE;
    }
    if (podctl_call(json_pack("{s:s,s:s}", "op", "restart_pod", "name", names[0]), &result) < 0)
        return PODCTL_EXIT_FAILURE;
    printf("pod/%s restarted\n", names[0]);
    return PODCTL_EXIT_OK;
}
