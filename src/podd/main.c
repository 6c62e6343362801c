/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <grp.h>
#include <sys/stat.h>

#include "api/api.h"
#include "registry/registry.h"
#include "manager.h"
#include "manifest/manifest.h"
#include "runtime/runtime.h"

static const char *arg_manifest_dir = "/etc/podd/manifests";
static const char *arg_state_dir = "/var/lib/podd";
static const char *arg_run_dir = "/run/podd";
static const char *arg_log_dir = "/var/log/podd";
static const char *arg_socket = NULL; /* default: <run-dir>/podd.sock */
static const char *arg_socket_group = NULL;
static const char *arg_runtime = "native";
static const char *arg_monitor_path = NULL;
static const char *arg_cgroup_parent = NULL;  /* default: podd/<escaped state dir> */
static const char *arg_image_incoming = NULL; /* default: <state-dir>/images/incoming */
static bool arg_stop_on_exit = false;
static uint64_t arg_rescan_interval_usec = 0;
static uint64_t arg_backoff_initial_usec = 10 * 1000000ull;
static uint64_t arg_backoff_max_usec = 300 * 1000000ull;
static uint64_t arg_backoff_reset_usec = 600 * 1000000ull;
static const char *arg_registries = REGISTRY_CONFIG_PATH;
static const char *arg_auth = REGISTRY_AUTH_PATH;
/* Kubernetes' image back-off. */
static uint64_t arg_pull_backoff_initial_usec = 10 * 1000000ull;
static uint64_t arg_pull_backoff_max_usec = 300 * 1000000ull;

static void usage(FILE *f)
{
    fputs("Usage: podd [OPTIONS]\n"
          "\n"
          "Runs the pods described by the manifests in a directory and keeps them running.\n"
          "\n"
          "Options:\n"
          "  --manifest-dir DIR       watched manifests (default /etc/podd/manifests)\n"
          "  --state-dir DIR          state: pods, once records, images (default /var/lib/podd)\n"
          "  --run-dir DIR            sandboxes and monitor files (default /run/podd)\n"
          "  --log-dir DIR            container logs (default /var/log/podd)\n"
          "  --socket PATH            the API socket (default <run-dir>/podd.sock)\n"
          "  --socket-group GROUP     group that may read through the socket (default root)\n"
          "  --runtime NAME           container runtime (default native)\n"
          "  --log-level LEVEL        err, warning, notice, info (default), debug\n"
          "  --on-exit keep|stop      on SIGTERM/SIGINT: leave the pods running (keep, default)\n"
          "                           or stop them in graph order first (stop)\n"
          "  --rescan-interval DUR    also re-list the manifest directory every DUR (e.g. 30s;\n"
          "                           off by default: inotify sees every change)\n"
          "  --restart-backoff SPEC   default crash-loop backoff, initial=10s,max=5m,reset=10m\n"
          "  --monitor-path PATH      the podd-monitor binary (default: beside podd, then\n"
          "                           " LIBEXECDIR "/podd-monitor)\n"
          "  --cgroup-parent PATH     cgroup of this podd's containers: /PATH from the root of\n"
          "                           each hierarchy, PATH or . below podd's own cgroup (for a\n"
          "                           Delegate=yes service); default podd/<escaped state dir>\n"
          "  --image-incoming DIR     drop-in directory of image archives, loaded at start and\n"
          "                           as they arrive (default <state-dir>/images/incoming)\n"
          "  --registries FILE        registry settings for pulls (default " REGISTRY_CONFIG_PATH
          ")\n"
          "  --auth FILE              registry credentials, Docker's config.json format\n"
          "                           (default " REGISTRY_AUTH_PATH ")\n"
          "  --image-pull-backoff SPEC  back-off after a failed pull, initial=10s,max=5m\n"
          "  -h, --help               show this help\n"
          "  --version                show the version\n"
          "\n"
          "Signals: SIGTERM and SIGINT end podd (see --on-exit), SIGHUP re-reads every manifest.\n",
          f);
}

/*
 * "initial=10s,max=5m[,reset=10m]", any subset, into the given settings;
 * reset is NULL where the key is not allowed (--image-pull-backoff).
 */
static int parse_backoff_spec(const char *spec, uint64_t *initial, uint64_t *max, uint64_t *reset)
{
    _cleanup_free_ char *copy = strdup(spec);
    char *save = NULL;

    if (!copy)
        return -ENOMEM;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        uint64_t usec;

        if (!eq || duration_parse_usec(eq + 1, &usec) < 0 || usec == 0)
            return -EINVAL;
        *eq = 0;
        if (streq(tok, "initial"))
            *initial = usec;
        else if (streq(tok, "max"))
            *max = usec;
        else if (reset && streq(tok, "reset"))
            *reset = usec;
        else
            return -EINVAL;
    }
    return *initial <= *max ? 0 : -EINVAL;
}

static int parse_pull_backoff(const char *spec)
{
    return parse_backoff_spec(spec, &arg_pull_backoff_initial_usec, &arg_pull_backoff_max_usec,
                              NULL);
}

static int parse_backoff(const char *spec)
{
    return parse_backoff_spec(spec, &arg_backoff_initial_usec, &arg_backoff_max_usec,
                              &arg_backoff_reset_usec);
}

static int parse_args(int argc, char *argv[])
{
    enum {
        ARG_MANIFEST_DIR = 0x100,
        ARG_STATE_DIR,
        ARG_RUN_DIR,
        ARG_LOG_DIR,
        ARG_SOCKET,
        ARG_SOCKET_GROUP,
        ARG_RUNTIME,
        ARG_LOG_LEVEL,
        ARG_ON_EXIT,
        ARG_RESCAN,
        ARG_BACKOFF,
        ARG_MONITOR,
        ARG_CGROUP_PARENT,
        ARG_IMAGE_INCOMING,
        ARG_REGISTRIES,
        ARG_AUTH,
        ARG_PULL_BACKOFF,
        ARG_VERSION,
    };
    static const struct option options[] = {
        {"manifest-dir", required_argument, NULL, ARG_MANIFEST_DIR},
        {"state-dir", required_argument, NULL, ARG_STATE_DIR},
        {"run-dir", required_argument, NULL, ARG_RUN_DIR},
        {"log-dir", required_argument, NULL, ARG_LOG_DIR},
        {"socket", required_argument, NULL, ARG_SOCKET},
        {"socket-group", required_argument, NULL, ARG_SOCKET_GROUP},
        {"runtime", required_argument, NULL, ARG_RUNTIME},
        {"log-level", required_argument, NULL, ARG_LOG_LEVEL},
        {"on-exit", required_argument, NULL, ARG_ON_EXIT},
        {"rescan-interval", required_argument, NULL, ARG_RESCAN},
        {"restart-backoff", required_argument, NULL, ARG_BACKOFF},
        {"monitor-path", required_argument, NULL, ARG_MONITOR},
        {"cgroup-parent", required_argument, NULL, ARG_CGROUP_PARENT},
        {"image-incoming", required_argument, NULL, ARG_IMAGE_INCOMING},
        {"registries", required_argument, NULL, ARG_REGISTRIES},
        {"auth", required_argument, NULL, ARG_AUTH},
        {"image-pull-backoff", required_argument, NULL, ARG_PULL_BACKOFF},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, ARG_VERSION},
        {},
    };
    int c, r;

    while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
        switch (c) {
        case ARG_MANIFEST_DIR:
            arg_manifest_dir = optarg;
            break;
        case ARG_STATE_DIR:
            arg_state_dir = optarg;
            break;
        case ARG_IMAGE_INCOMING:
            arg_image_incoming = optarg;
            break;
        case ARG_RUN_DIR:
            arg_run_dir = optarg;
            break;
        case ARG_LOG_DIR:
            arg_log_dir = optarg;
            break;
        case ARG_SOCKET:
            arg_socket = optarg;
            break;
        case ARG_SOCKET_GROUP:
            arg_socket_group = optarg;
            break;
        case ARG_RUNTIME:
            /* A usage error like any bad option value, not a failure to start. */
            if (!runtime_find(optarg)) {
                fprintf(stderr, "podd: --runtime: unknown runtime '%s' (known: %s)\n", optarg,
                        runtime_native_ops.name);
                return -EINVAL;
            }
            arg_runtime = optarg;
            break;
        case ARG_LOG_LEVEL:
            r = log_level_from_string(optarg);
            if (r < 0) {
                fprintf(stderr,
                        "podd: unknown log level '%s' (err, warning, notice, info, "
                        "debug)\n",
                        optarg);
                return -EINVAL;
            }
            log_set_max_level(r);
            break;
        case ARG_ON_EXIT:
            if (!streq(optarg, "keep") && !streq(optarg, "stop")) {
                fprintf(stderr, "podd: --on-exit takes keep or stop, not '%s'\n", optarg);
                return -EINVAL;
            }
            arg_stop_on_exit = streq(optarg, "stop");
            break;
        case ARG_RESCAN:
            if (duration_parse_usec(optarg, &arg_rescan_interval_usec) < 0) {
                fprintf(stderr, "podd: --rescan-interval takes a duration (30s, 5m), not '%s'\n",
                        optarg);
                return -EINVAL;
            }
            break;
        case ARG_BACKOFF:
            if (parse_backoff(optarg) < 0) {
                fprintf(stderr,
                        "podd: --restart-backoff takes initial=DUR,max=DUR,reset=DUR with "
                        "initial <= max, not '%s'\n",
                        optarg);
                return -EINVAL;
            }
            break;
        case ARG_PULL_BACKOFF:
            if (parse_pull_backoff(optarg) < 0) {
                fprintf(stderr,
                        "podd: --image-pull-backoff takes initial=DUR,max=DUR with initial <= "
                        "max, not '%s'\n",
                        optarg);
                return -EINVAL;
            }
            break;
        case ARG_REGISTRIES:
            arg_registries = optarg;
            break;
        case ARG_AUTH:
            arg_auth = optarg;
            break;
        case ARG_MONITOR:
            arg_monitor_path = optarg;
            break;
        case ARG_CGROUP_PARENT:
            if (!optarg[0]) {
                log_error("podd: --cgroup-parent: empty path ('.' is podd's own cgroup)");
                return -EINVAL;
            }
            arg_cgroup_parent = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ARG_VERSION:
            printf("podd %s\n", PACKAGE_VERSION);
            return 0;
        default:
            usage(stderr);
            return -EINVAL;
        }
    if (optind < argc) {
        fprintf(stderr, "podd: unexpected argument '%s'\n", argv[optind]);
        return -EINVAL;
    }
    return 1;
}

/*
 * Makes a relative path given for flag absolute, against the working
 * directory at start: the runtime and podd-monitor need absolute paths, and
 * podd's working directory is no promise to them. The parent is resolved
 * with realpath(3) (it must exist); the last component is kept as given, so
 * that a symlink there is still seen (and refused) by whoever opens it.
 * Absolute paths are kept as they are. Returns 0, or -errno after printing
 * why on stderr.
 */
static int make_absolute(const char *flag, const char **path, char **storage)
{
    _cleanup_free_ char *copy = NULL, *parent = NULL;
    const char *base, *dir;
    char *slash;

    if ((*path)[0] == '/')
        return 0;
    if (!(*path)[0]) {
        fprintf(stderr, "podd: %s: an empty path\n", flag);
        return -EINVAL;
    }
    copy = strdup(*path);
    if (!copy)
        return -ENOMEM;
    /* "a/b/" names a/b: trailing slashes do not make another component. */
    for (size_t n = strlen(copy); n > 1 && copy[n - 1] == '/'; n--)
        copy[n - 1] = 0;
    slash = strrchr(copy, '/');
    if (slash) {
        *slash = 0;
        dir = copy;
        base = slash + 1;
    } else {
        dir = ".";
        base = copy;
    }
    if (streq(base, ".") || streq(base, "..")) {
        /* Nothing to keep: the whole path names a directory that must exist. */
        dir = *path;
        base = NULL;
    }
    parent = realpath(dir, NULL);
    if (!parent) {
        int r = -errno;

        fprintf(stderr,
                "podd: %s '%s': cannot resolve '%s' from the working directory: %s (give an "
                "absolute path)\n",
                flag, *path, dir, strerror(-r));
        return r;
    }
    if (base)
        *storage = strdup_printf("%s%s%s", parent, streq(parent, "/") ? "" : "/", base);
    else
        *storage = move_ptr(parent);
    if (!*storage)
        return -ENOMEM;
    *path = *storage;
    return 0;
}

/* podd-monitor beside our own binary (a build tree, a relocated install), else libexecdir. */
static char *find_monitor(void)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *p;

    if (n > 0) {
        self[n] = 0;
        p = strdup_printf("%s/podd-monitor", dirname(self));
        if (p && access(p, X_OK) == 0)
            return p;
        free(p);
    }
    return strdup(LIBEXECDIR "/podd-monitor");
}

/* sd_notify(3) by hand: one datagram to $NOTIFY_SOCKET; no libsystemd. */
static void notify(const char *text)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    _cleanup_close_ int fd = -1;
    size_t len;

    if (!path || !path[0] || strlen(path) >= sizeof(sa.sun_path))
        return;
    len = strlen(path);
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = 0; /* abstract namespace */
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    (void)sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *)&sa,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
}

static void after_pass(Manager *m, void *userdata)
{
    static char last[256];
    unsigned all, running, pending, failed;
    char buf[256];

    manager_counts(m, &all, &running, &pending, &failed);
    (void)snprintf(buf, sizeof(buf), "STATUS=%u pods: %u running, %u pending, %u failed", all,
                   running, pending, failed);
    if (streq(buf, last))
        return;
    memcpy(last, buf, sizeof(last));
    notify(buf);
}

/* ---- the API: the manager's views behind the socket ------------------------------------- */

static int api_get_pods(void *userdata, StrBuf *out, ApiError *ret_err)
{
    int r = manager_pods_append_json(userdata, out);

    if (r < 0)
        api_error_set(ret_err, API_REASON_INTERNAL, "out of memory");
    return r;
}

static json_t *api_get_pod(void *userdata, const char *name, ApiError *ret_err)
{
    json_t *pod = manager_pod_to_json(userdata, name);

    if (!pod)
        api_error_set(ret_err, API_REASON_NOT_FOUND, "pod '%s' not found", name);
    return pod;
}

static json_t *api_describe_pod(void *userdata, const char *name, ApiError *ret_err)
{
    json_t *d = manager_describe_pod(userdata, name);

    if (!d)
        api_error_set(ret_err, API_REASON_NOT_FOUND, "pod '%s' not found", name);
    return d;
}

static json_t *api_events(void *userdata, const ApiRequest *req, ApiError *ret_err)
{
    json_t *after = json_object_get(req->json, "after");
    json_t *e = manager_events_to_json(userdata, req->name,
                                       after ? (uint64_t)json_integer_value(after) : 0);

    if (!e)
        api_error_set(ret_err, API_REASON_INTERNAL, "out of memory");
    return e;
}

/* A manager error as an API error: -EBADMSG Invalid, -EEXIST Conflict, -ENOENT NotFound... */
static json_t *api_result(json_t *result, const PdError *e, ApiError *ret_err)
{
    if (!result)
        api_error_set(ret_err, api_reason_from_errno(e->code ? e->code : -ENOMEM), "%s",
                      e->message[0] ? e->message : "out of memory");
    return result;
}

static json_t *api_apply(void *userdata, const ApiRequest *req, ApiError *ret_err)
{
    PdError e = {0};

    return api_result(manager_apply(userdata, json_object_get(req->json, "manifests"),
                                    json_is_true(json_object_get(req->json, "dryRun")), &e),
                      &e, ret_err);
}

static json_t *api_delete_pods(void *userdata, const ApiRequest *req, ApiError *ret_err)
{
    PdError e = {0};

    return api_result(manager_delete_pods(userdata, json_object_get(req->json, "names"), &e), &e,
                      ret_err);
}

static json_t *api_restart_pod(void *userdata, const ApiRequest *req, ApiError *ret_err)
{
    PdError e = {0};

    return api_result(manager_restart_pod(userdata, req->name, &e), &e, ret_err);
}

static json_t *api_images(void *userdata, const ApiRequest *req, ApiError *ret_err)
{
    PdError e = {0};
    json_t *a = manager_images_to_json(userdata, &e);

    (void)req;
    if (!a)
        api_error_set(ret_err, api_reason_from_errno(e.code), "%s", e.message);
    return a;
}

static json_t *api_image_store(void *userdata, const ApiRequest *req, ApiError *ret_err)
{
    json_t *r = json_pack("{s:s}", "dir", manager_images_dir(userdata));

    (void)req;
    if (!r)
        api_error_set(ret_err, API_REASON_INTERNAL, "out of memory");
    return r;
}

/* The protocol layer validated "image": a reference inside the store. */
static const char *request_image(const ApiRequest *req)
{
    return json_string_value(json_object_get(req->json, "image"));
}

static json_t *api_image_added(void *userdata, const ApiRequest *req, ApiError *ret_err)
{
    unsigned n = manager_image_added(userdata, request_image(req));

    (void)ret_err;
    log_info("image '%s' imported; %u pod%s waiting for it", request_image(req), n,
             n == 1 ? "" : "s");
    return json_null();
}

static json_t *api_image_remove(void *userdata, const ApiRequest *req, ApiError *ret_err)
{
    PdError e = {0};
    int r = manager_image_remove(userdata, request_image(req), &e);

    if (r < 0) {
        api_error_set(ret_err, api_reason_from_errno(r), "%s", e.message);
        return NULL;
    }
    log_info("image '%s' removed", request_image(req));
    return json_null();
}

static json_t *api_logs(void *userdata, const ApiRequest *req, ApiError *ret_err)
{
    PdError e = {0};
    json_t *l = manager_logs(userdata, req->name, req->json, &e);

    if (!l)
        api_error_set(ret_err, api_reason_from_errno(e.code), "%s", e.message);
    return l;
}

/* The API's server, once it listens: it answers get_pods from what is published here. */
static ApiServer *api;

/* The manager's pods changed (at the end of a loop iteration): get_pods shows them from now on. */
static void publish_view(Manager *m, void *userdata)
{
    _cleanup_free_ SharedText **texts = NULL;
    size_t n = 0;

    if (!api)
        return;
    /* Nobody watched for a while: not worth rendering; the next get_pods asks the loop. */
    if (!api_server_pods_wanted(api)) {
        api_server_withdraw_pods(api);
        return;
    }
    /* Out of memory: nothing is published, and get_pods asks the loop, as before the first. */
    if (manager_pods_view(m, &texts, &n) < 0)
        api_server_withdraw_pods(api);
    else
        (void)api_server_publish_pods(api, texts, n);
}

/* After the API's requests ran: what they changed, or what a get_pods wants again, goes out. */
static void api_publish(void *userdata)
{
    if (!api_server_pods_published(api) && api_server_pods_wanted(api))
        publish_view(userdata, NULL);
    else
        manager_view_flush(userdata);
}

static const ApiProvider api_provider = {
    .get_pods = api_get_pods,
    .get_pod = api_get_pod,
    .describe_pod = api_describe_pod,
    .events = api_events,
    .apply = api_apply,
    .delete_pods = api_delete_pods,
    .restart_pod = api_restart_pod,
    .images = api_images,
    .image_store = api_image_store,
    .image_added = api_image_added,
    .image_remove = api_image_remove,
    .logs = api_logs,
    .publish = api_publish,
};

static int resolve_group(const char *name, gid_t *ret)
{
    struct group *g;
    int64_t n;

    if (!name) {
        *ret = (gid_t)-1;
        return 0;
    }
    if (parse_int64(name, &n) == 0 && n >= 0 && n < UINT32_MAX) {
        *ret = (gid_t)n;
        return 0;
    }
    g = getgrnam(name);
    if (!g)
        return -ENOENT;
    *ret = g->gr_gid;
    return 0;
}

static int on_signal(LoopSource *s, const struct signalfd_siginfo *si, void *userdata)
{
    Manager *m = userdata;

    if (si->ssi_signo == SIGHUP) {
        log_info("SIGHUP: re-reading every manifest");
        manager_rescan(m);
        return 0;
    }
    log_info("%s: %s", strsignal((int)si->ssi_signo),
             arg_stop_on_exit ? "stopping every pod, then exiting"
                              : "exiting; the pods keep running under their monitors");
    notify("STOPPING=1");
    manager_shutdown(m, arg_stop_on_exit);
    return 0;
}

int main(int argc, char *argv[])
{
    _cleanup_(loop_unrefp) Loop *loop = NULL;
    _cleanup_(manager_freep) Manager *m = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *sig = NULL;
    _cleanup_free_ char *monitor = NULL, *socket_path = NULL;
    _cleanup_free_ char *abs_manifest_dir = NULL, *abs_state_dir = NULL, *abs_run_dir = NULL,
                        *abs_log_dir = NULL, *abs_socket = NULL, *abs_monitor = NULL,
                        *abs_incoming = NULL, *abs_registries = NULL, *abs_auth = NULL;
    gid_t socket_gid;
    ManagerConfig cfg;
    PdError e = {0};
    sigset_t mask;
    int r;

    r = parse_args(argc, argv);
    if (r <= 0)
        return r < 0 ? 2 : 0;
    if (make_absolute("--manifest-dir", &arg_manifest_dir, &abs_manifest_dir) < 0 ||
        make_absolute("--state-dir", &arg_state_dir, &abs_state_dir) < 0 ||
        make_absolute("--run-dir", &arg_run_dir, &abs_run_dir) < 0 ||
        make_absolute("--log-dir", &arg_log_dir, &abs_log_dir) < 0 ||
        (arg_socket && make_absolute("--socket", &arg_socket, &abs_socket) < 0) ||
        (arg_monitor_path &&
         make_absolute("--monitor-path", &arg_monitor_path, &abs_monitor) < 0) ||
        (arg_image_incoming &&
         make_absolute("--image-incoming", &arg_image_incoming, &abs_incoming) < 0) ||
        make_absolute("--registries", &arg_registries, &abs_registries) < 0 ||
        make_absolute("--auth", &arg_auth, &abs_auth) < 0)
        return 2;

    /* Handled signals are blocked before anything else exists, then read from a signalfd. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
        return log_error_errno(-errno, "cannot block signals") < 0 ? 1 : 1;
    (void)signal(SIGPIPE, SIG_IGN);

    monitor = arg_monitor_path ? strdup(arg_monitor_path) : find_monitor();
    if (!monitor)
        return 1;
    r = loop_new(&loop);
    if (r < 0) {
        log_error_errno(r, "cannot create the event loop");
        return 1;
    }
    cfg = (ManagerConfig){
        .manifest_dir = arg_manifest_dir,
        .state_dir = arg_state_dir,
        .run_dir = arg_run_dir,
        .log_dir = arg_log_dir,
        .monitor_path = monitor,
        .runtime = arg_runtime,
        .cgroup_parent = arg_cgroup_parent,
        .rescan_interval_usec = arg_rescan_interval_usec,
        .backoff_initial_usec = arg_backoff_initial_usec,
        .backoff_max_usec = arg_backoff_max_usec,
        .backoff_reset_usec = arg_backoff_reset_usec,
        .registries_path = arg_registries,
        .auth_path = arg_auth,
        .pull_backoff_initial_usec = arg_pull_backoff_initial_usec,
        .pull_backoff_max_usec = arg_pull_backoff_max_usec,
        .after_pass = after_pass,
        .view_changed = publish_view,
    };
    /* A testing aid (podd(8)): die at a named step; not passed on to the monitors. */
    failpoint_arm(getenv("PODD_FAILPOINT"));
    (void)unsetenv("PODD_FAILPOINT");
    /* Another mount point of the cgroup hierarchies (tests, unusual hosts); monitors inherit it. */
    cgroup_set_root(getenv("PODD_CGROUP_ROOT"));
    r = manager_new(loop, &cfg, &m, &e);
    if (r < 0) {
        char buf[PD_ERROR_MESSAGE_MAX + PD_ERROR_FILE_MAX + 64];

        pd_error_format(&e, buf, sizeof(buf));
        log_error("podd: %s", buf);
        return 1;
    }
    r = resolve_group(arg_socket_group, &socket_gid);
    if (r < 0) {
        log_error("podd: --socket-group: no group '%s'", arg_socket_group);
        return 1;
    }
    socket_path = arg_socket ? strdup(arg_socket) : strdup_printf("%s/podd.sock", arg_run_dir);
    if (!socket_path)
        return 1;
    {
        _cleanup_free_ char *dir = strdup(socket_path);

        /* The run dir is ours to create; the socket's directory too when it is elsewhere. */
        if (!dir || (mkdir(dirname(dir), 0755) < 0 && errno != EEXIST)) {
            log_error_errno(-errno, "podd: cannot create the directory of %s", socket_path);
            return 1;
        }
    }
    api = api_server_new(loop, socket_path, socket_gid, &api_provider, m, &e);
    if (!api) {
        char buf[PD_ERROR_MESSAGE_MAX + PD_ERROR_FILE_MAX + 64];

        pd_error_format(&e, buf, sizeof(buf));
        log_error("podd: API socket %s: %s", socket_path, buf);
        return 1;
    }
    r = loop_add_signal(loop, &sig, &mask, on_signal, m);
    if (r < 0) {
        log_error_errno(r, "cannot watch signals");
        return 1;
    }
    /* Before the start line: whoever waits for it finds the store clean. */
    r = manager_images_prepare(m);
    if (r < 0)
        log_warning_errno(r, "image store %s: cannot prepare it; continuing",
                          manager_images_dir(m));
    else if (r > 0)
        log_info("image store %s: removed %d leftover%s of interrupted imports",
                 manager_images_dir(m), r, r == 1 ? "" : "s");
    log_info("podd %s: manifests %s, state %s, run %s, logs %s, cgroups %s", PACKAGE_VERSION,
             arg_manifest_dir, arg_state_dir, arg_run_dir, arg_log_dir, manager_cgroup_parent(m));
    r = manager_start(m);
    if (r < 0) {
        log_error_errno(r, "cannot start");
        return 1;
    }
    {
        _cleanup_free_ char *incoming = arg_image_incoming
                                            ? strdup(arg_image_incoming)
                                            : strdup_printf("%s/incoming", manager_images_dir(m));

        r = incoming ? manager_incoming_start(m, incoming) : -ENOMEM;
        if (r < 0)
            log_warning_errno(r, "image drop-in directory %s: cannot watch it; continuing",
                              incoming ? incoming : "");
    }
    notify("READY=1");
    r = loop_run(loop);
    if (r < 0) {
        log_error_errno(r, "event loop failed");
        return 1;
    }
    log_info("podd: exiting");
    api = api_server_free(api);
    return 0;
}
