/* SPDX-License-Identifier: Apache-2.0 */
/*
 * podd-monitor: one per container. Started with the path of the container's
 * JSON config, it detaches (vfork + setsid: it survives the death of whoever
 * started it), becomes child subreaper, starts the container with the
 * native backend, then execs podd-monitor-watch (monitor-watch.c), which
 * writes the container's stdout and stderr to the CRI log, reaps it,
 * writes the exit record atomically, removes the cgroup and exits. The process that started it
 * returns once the container runs (0) or failed to start (1, message on stderr; the exit record
 * says StartError). The spawner's monitors (cmd_spawner()) do the same in a
 * fork of the spawner that answers podd itself and then waits without an exec.
 *
 *   podd-monitor CONFIG.json
 *   podd-monitor spawner [PINS-DIR]   (fd 3: a SOCK_SEQPACKET socket from podd; see cmd_spawner())
 *   podd-monitor exec --config CONFIG.json [--timeout SECONDS] -- CMD [ARG...]
 *   podd-monitor pod-create POD.json
 *   podd-monitor pod-destroy POD-DIR
 *
 * PODD_CGROUP_ROOT in the environment replaces /sys/fs/cgroup (tests, unusual hosts).
 */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "monitor.h"
#include "runtime/runtime.h"
#include "security/security.h"

#define EXIT_EXEC_TIMEOUT 124
#define EXIT_EXEC_FAILED 125

/* ---- security hooks: the security module, wired into the runtime's child ---------------- */

/*
 * The default seccomp filter as the spawner compiled it once, before its
 * first fork (cmd_spawner()): the starters it forks inherit it instead of
 * each running libseccomp again. Empty in a monitor started directly.
 */
static unsigned char spawner_seccomp[SECURITY_PREPARED_MAX];
static size_t spawner_seccomp_len;

/* In the monitor while the child mounts: the default seccomp filter, compiled. */
static ssize_t hook_prepare(const ContainerConfig *c, void *buf, size_t size)
{
    if (!c->seccomp || c->privileged)
        return 0;
    if (spawner_seccomp_len > 0 && spawner_seccomp_len <= size) {
        memcpy(buf, spawner_seccomp, spawner_seccomp_len);
        return (ssize_t)spawner_seccomp_len;
    }
    return security_seccomp_export_default(buf, size);
}

static int hook_pre_user(const ContainerConfig *c, const void *prepared, size_t prepared_len,
                         PdError *reterr)
{
    uint64_t mask;
    int r;

    r = security_caps_compute(c->cap_add, c->cap_drop, c->privileged, &mask, reterr);
    if (r < 0)
        return r;
    r = security_caps_drop_bounding(mask, reterr);
    if (r < 0)
        return r;
    if (!c->seccomp || c->privileged)
        return 0;
    if (prepared_len > 0)
        return security_seccomp_load_program(prepared, prepared_len, c->no_new_privs, reterr);
    return security_seccomp_load_default(c->no_new_privs, reterr);
}

static int hook_post_user(const ContainerConfig *c, PdError *reterr)
{
    uint64_t mask;
    int r;

    r = security_caps_compute(c->cap_add, c->cap_drop, c->privileged, &mask, reterr);
    if (r < 0)
        return r;
    return security_caps_apply(mask, security_caps_inheritable(c->cap_add, mask), reterr);
}

static const SecurityHooks hooks = {
    .prepare = hook_prepare,
    .pre_user = hook_pre_user,
    .post_user = hook_post_user,
};

/* ---- start ---------------------------------------------------------------------------------- */

static void now_rfc3339(char *buf, size_t size)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    format_rfc3339_nano(&ts, buf, size);
}

/*
 * Who waits for a start, and how it is answered. A direct start's monitor
 * (podd-monitor CONFIG.json) tells its starter on sync_fd: a message when
 * it failed, EOF once the container runs. The spawner's monitor tells podd
 * itself on result_fd: one byte, 0 once the container runs, 1 when it
 * failed (the message on stderr, podd's). -1 for the one not used.
 */
typedef struct StartAnswer {
    int sync_fd;
    int result_fd;
    int lock_fd; /* the container's lock: let go of before a failure is answered */
    int slot_fd; /* the spawner's start slot, closed once the start is answered; -1: none */
} StartAnswer;

static void report(int fd, const char *msg)
{
    if (fd >= 0)
        (void)!write(fd, msg, strlen(msg));
}

/* The byte podd waits for; podd may be gone by now, so no SIGPIPE. */
static void answer_code(int result_fd, unsigned char code)
{
    (void)signal(SIGPIPE, SIG_IGN);
    (void)!write(result_fd, &code, 1);
    (void)close(result_fd);
}

static _Noreturn void start_failed(const ContainerConfig *c, const StartAnswer *ans,
                                   const char *started, const PdError *err)
{
    ExitRecord e = {.exit_code = 128, .signal = 0};
    char also[256] = "";
    int r;

    (void)snprintf(e.started_at, sizeof(e.started_at), "%s", started);
    now_rfc3339(e.finished_at, sizeof(e.finished_at));
    (void)snprintf(e.reason, sizeof(e.reason), "%s",
                   err->code == RUNTIME_ERR_CONFIG ? RUNTIME_REASON_CONFIG_ERROR : "StartError");
    (void)snprintf(e.message, sizeof(e.message), "%s", err->message);
    r = exit_record_write(c->exit_file, &e);
    (void)cgroup_remove(c->cgroup);
    if (r < 0)
        (void)snprintf(also, sizeof(also), "; writing the exit record %s failed: %s", c->exit_file,
                       strerror(-r));
    report(ans->sync_fd, err->message);
    report(ans->sync_fd, also);
    if (ans->result_fd >= 0) {
        fprintf(stderr, "podd-monitor: container %s: %s%s\n", c->id, err->message, also);
        fflush(stderr);
        /* podd acts on the answer (a failed start's removal takes the lock), not on our exit. */
        (void)close(ans->lock_fd);
        answer_code(ans->result_fd, 1);
    }
    _exit(1);
}

/* The container runs: let whoever waits go. */
static void answer_started(const StartAnswer *ans)
{
    if (ans->sync_fd >= 0) {
        report(ans->sync_fd, "");
        (void)close(ans->sync_fd);
    }
    if (ans->result_fd >= 0)
        answer_code(ans->result_fd, 0);
    /* The spawner may have the next container set up. */
    if (ans->slot_fd >= 0)
        (void)close(ans->slot_fd);
}

/* A monitor keeps nobody's terminal or pipes: its stdin, stdout and stderr become /dev/null. */
static void stdio_to_dev_null(void)
{
    /* No O_CLOEXEC: when it lands on 0, 1 or 2 itself, it stays there across an exec. */
    int null = open("/dev/null", O_RDWR);

    if (null < 0)
        return;
    (void)dup2(null, 0);
    (void)dup2(null, 1);
    (void)dup2(null, 2);
    if (null > 2)
        close(null);
}

/* ---- the process title ----------------------------------------------------------------------- */

/*
 * Where /proc/PID/cmdline reads from: our argv strings and the environment
 * strings right after them (which title_init() moved elsewhere first), as
 * PostgreSQL's ps_status.c uses them. The kernel shows a title that runs
 * past the argv strings as long as it stays in that area.
 */
static char *title_area;
static size_t title_room;

static void title_init(int argc, char **argv)
{
    extern char **environ;
    char *end = argv[0], **env;

    for (int i = 0; i < argc && argv[i] == end; i++)
        end += strlen(end) + 1;
    title_area = argv[0];
    title_room = (size_t)(end - argv[0]);
    env = strv_copy(environ);
    if (!env)
        return; /* the argv strings alone, then */
    for (size_t i = 0; environ[i] && environ[i] == end; i++)
        end += strlen(end) + 1;
    environ = env; /* for the rest of our life: never freed */
    title_room = (size_t)(end - argv[0]);
}

/* `ps` then shows the title (cut to the room there is) as our command line. */
static _printf_(1, 2) void title_set(const char *fmt, ...)
{
    va_list ap;

    if (!title_area || title_room < 2)
        return;
    memset(title_area, 0, title_room);
    va_start(ap, fmt);
    (void)vsnprintf(title_area, title_room, fmt, ap);
    va_end(ap);
}

/*
 * podd-monitor-watch beside our own binary; NULL when our path cannot be
 * read. Looked up once (a direct start asks before it forks and again
 * before its exec).
 */
static const char *watcher_path(void)
{
    static char watcher[PATH_MAX + 32];
    char self[PATH_MAX], *slash;
    ssize_t n;

    if (watcher[0])
        return watcher;
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return NULL;
    self[n] = 0;
    slash = strrchr(self, '/');
    if (!slash)
        return NULL;
    *slash = 0;
    (void)snprintf(watcher, sizeof(watcher), "%s/podd-monitor-watch", self);
    return watcher;
}

/* Replaces this process with podd-monitor-watch from our own directory; returns on failure. */
static void exec_watcher(const WatchArgs *a)
{
    const char *watcher = watcher_path();
    char pid[16], out[16], err[16], max[24];

    if (!watcher)
        return;
    (void)snprintf(pid, sizeof(pid), "%d", (int)a->pid);
    (void)snprintf(out, sizeof(out), "%d", a->out_fd);
    (void)snprintf(err, sizeof(err), "%d", a->err_fd);
    (void)snprintf(max, sizeof(max), "%" PRIu64, a->log_max_bytes);
    /* The pipes must survive the exec; everything else is close-on-exec. */
    (void)fcntl(a->out_fd, F_SETFD, 0);
    (void)fcntl(a->err_fd, F_SETFD, 0);
    /* The watcher holds the lock without knowing it: until it exits, the files are its. */
    (void)fcntl(a->lock_fd, F_SETFD, 0);
    execv(watcher, (char *[]){"podd-monitor-watch", pid, out, err, (char *)a->started_at,
                              (char *)a->exit_file, (char *)(a->log_path ? a->log_path : "-"), max,
                              (char *)(a->cgroup ? a->cgroup : "-"), NULL});
    (void)fcntl(a->out_fd, F_SETFD, FD_CLOEXEC);
    (void)fcntl(a->err_fd, F_SETFD, FD_CLOEXEC);
}

/* container_config_from_json() accepts only configs whose backend has a monitor half. */
static const RuntimeMonitorOps *monitor_ops(const ContainerConfig *c)
{
    const RuntimeMonitorOps *ops = runtime_monitor_find(c->runtime);

    assert(ops);
    return ops;
}

/*
 * In the spawner's monitor, once its container runs: instead of exec'ing
 * podd-monitor-watch, it waits in this process, a copy of the spawner that
 * shares its pages with it and with every other such monitor (a new
 * program would start afresh: its C library's start alone costs a third of
 * a millisecond where cpuid traps to the hypervisor, and its pages are its
 * own). It lets go of what it must not keep: podd's stdio, the spawner's
 * mount namespace copy; and names its container in its command line.
 */
static void monitor_settle(const ContainerConfig *c)
{
    /* Its container's exit is news podd waits for: no longer batch work. */
    (void)native_run_priority_restore();
    stdio_to_dev_null();
    native_lean_mounts_close();
    title_set("podd-monitor %s", c->id);
    /* What the start allocated and freed, given back rather than kept in this copy. */
    (void)malloc_trim(0);
}

/*
 * Runs the container and waits for it. Answers the start as ans says; a
 * direct start's monitor then execs podd-monitor-watch, the spawner's stays
 * (monitor_settle()).
 */
static int monitor_run(const ContainerConfig *c, const StartAnswer *ans)
{
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, null, r;
    char started[40];
    CriLog log = {.fd = -1, .dir_fd = -1};
    PdError e = {0};
    sigset_t mask;
    pid_t pid = 0;
    uint64_t st;
    WatchArgs wa;

    now_rfc3339(started, sizeof(started));
    /* Keep no directory of our starter busy for the container's lifetime. */
    if (chdir("/") < 0 || setsid() < 0 || prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        (void)pd_error_set(&e, -errno, "podd-monitor: setsid/subreaper: %s", strerror(errno));
        start_failed(c, ans, started, &e);
    }
    if (c->monitor_pid_file) {
        r = proc_start_time(getpid(), &st);
        if (r >= 0)
            r = pid_file_write(c->monitor_pid_file, getpid(), st);
        if (r < 0) {
            (void)pd_error_set(&e, r, "write %s: %s", c->monitor_pid_file, strerror(-r));
            start_failed(c, ans, started, &e);
        }
    }
    /* Blocked from now on, through the exec into the watcher: no SIGCHLD gets lost. */
    monitor_signal_mask(&mask);
    (void)sigprocmask(SIG_BLOCK, &mask, NULL);
    (void)signal(SIGPIPE, SIG_IGN);
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        (void)pd_error_set(&e, -errno, "podd-monitor: set up: %s", strerror(errno));
        start_failed(c, ans, started, &e);
    }
    if (c->log_path) {
        /* Opened once here so that an unusable log path is a start error. */
        r = cri_log_open(&log, c->log_path, c->log_max_bytes);
        if (r < 0) {
            (void)pd_error_set(&e, r, "open log %s: %s", c->log_path, strerror(-r));
            start_failed(c, ans, started, &e);
        }
        cri_log_done(&log);
    }
    r = cgroup_create(c, &e);
    if (r < 0)
        start_failed(c, ans, started, &e);

    r = monitor_ops(c)->spawn(
        c, &(ContainerStdio){.stdin_fd = null, .stdout_fd = outp[1], .stderr_fd = errp[1]}, &hooks,
        &pid, &e);
    if (r < 0)
        start_failed(c, ans, started, &e);
    close(outp[1]);
    close(errp[1]);
    close(null);
    if (c->pid_file) {
        /* The container may be gone already (true exits fast): then its pid, start time 0. */
        if (proc_start_time(pid, &st) < 0)
            st = 0;
        (void)pid_file_write(c->pid_file, pid, st);
    }
    answer_started(ans);
    if (monitor_ops(c)->tidy)
        monitor_ops(c)->tidy(c);

    wa = (WatchArgs){
        .pid = pid,
        .out_fd = outp[0],
        .err_fd = errp[0],
        .log_path = c->log_path,
        .log_max_bytes = c->log_max_bytes,
        .exit_file = c->exit_file,
        .cgroup = c->cgroup,
        .started_at = started,
        .lock_fd = ans->lock_fd,
    };
    if (ans->result_fd >= 0)
        monitor_settle(c);
    else
        exec_watcher(&wa);
    /* Or no watcher binary: wait in this process, bigger but just as correct. */
    return monitor_watch(&wa);
}

/*
 * The container's lock (see container_lock_try): inherited from podd on
 * lock_fd, or taken here when run by hand. Close-on-exec, so that the
 * container never holds it; the watcher is given it explicitly.
 */
static int take_container_lock(const ContainerConfig *c, int lock_fd)
{
    if (lock_fd < 0)
        return container_lock_try(c->run_dir);
    if (fcntl(lock_fd, F_SETFD, FD_CLOEXEC) < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0)
        return errno == EWOULDBLOCK ? -EBUSY : -errno;
    return lock_fd;
}

/* The monitor's side of spawn_monitor(): never returns. */
static _Noreturn void monitor_child(const ContainerConfig *c, const int sync_p[2], int lock_fd)
{
    close(sync_p[0]);
    /* Nobody's terminal or pipes: the starter must not wait for our end of its stdio. */
    stdio_to_dev_null();
    _exit(
        monitor_run(c, &(StartAnswer){.sync_fd = sync_p[1], .result_fd = -1, .lock_fd = lock_fd}));
}

/*
 * Starts the monitor as our child; returns its pid (in us) or -1 with
 * errno. It is a vfork(2) child when podd-monitor-watch is there: it
 * borrows our memory, and we stay suspended until it execs the watcher
 * (once its container runs and the start is reported) or exits. A fork
 * would copy our page tables for it and then fault in a copy of every page
 * either of us writes: on a busy or virtualized host that costs more than
 * the rest of the start. Sharing is safe as nothing of ours runs meanwhile,
 * and the child ends in _exit() or an exec, never returning here. Without
 * the watcher the monitor would wait for its container in this process,
 * holding us suspended, so it is forked.
 */
static pid_t spawn_monitor(const ContainerConfig *c, const int sync_p[2], int lock_fd)
{
    const char *watcher = watcher_path();
    pid_t pid;

    if (watcher && access(watcher, X_OK) == 0)
        pid = vfork();
    else
        pid = fork();
    if (pid == 0)
        monitor_child(c, sync_p, lock_fd);
    return pid;
}

/*
 * Loads the container's config and makes its lock ours (lock_fd: podd's,
 * or -1); returns the lock's fd, or -1 after saying why on stderr.
 */
static int start_prepare(const char *config_path, int lock_fd, ContainerConfig **ret_c)
{
    PdError e = {0};
    int r;

    r = container_config_load(config_path, ret_c, &e);
    if (r < 0) {
        char buf[PD_ERROR_MESSAGE_MAX + PD_ERROR_FILE_MAX + 32];

        pd_error_format(&e, buf, sizeof(buf));
        fprintf(stderr, "podd-monitor: %s\n", buf);
        return -1;
    }
    /* Nothing is written before the lock is ours: another monitor may own these files. */
    r = take_container_lock(*ret_c, lock_fd);
    if (r < 0)
        fprintf(stderr, "podd-monitor: container %s: %s\n", (*ret_c)->id,
                r == -EBUSY ? "another podd-monitor owns it" : strerror(-r));
    return r < 0 ? -1 : r;
}

static int cmd_start(const char *config_path, int lock_fd)
{
    _cleanup_(container_config_freep) ContainerConfig *c = NULL;
    int sync_p[2];
    char msg[PD_ERROR_MESSAGE_MAX + 256];
    ssize_t n;
    size_t len = 0;
    pid_t pid;

    lock_fd = start_prepare(config_path, lock_fd, &c);
    if (lock_fd < 0)
        return 1;
    if (pipe2(sync_p, O_CLOEXEC) < 0) {
        fprintf(stderr, "podd-monitor: pipe: %m\n");
        return 1;
    }
    fflush(NULL);
    pid = spawn_monitor(c, sync_p, lock_fd);
    if (pid < 0) {
        fprintf(stderr, "podd-monitor: fork: %m\n");
        return 1;
    }
    close(sync_p[1]);
    while ((n = read(sync_p[0], msg + len, sizeof(msg) - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        len += (size_t)n;
        if (len >= sizeof(msg) - 1)
            break;
    }
    msg[len] = 0;
    close(sync_p[0]);
    if (len > 0) {
        fprintf(stderr, "podd-monitor: container %s: %s\n", c->id, msg);
        return 1;
    }
    /* EOF without a message: either "started" (report("") then close) or the monitor died. */
    {
        ExitRecord rec;

        if (exit_record_read(c->exit_file, &rec) >= 0 && exit_record_is_start_error(&rec)) {
            fprintf(stderr, "podd-monitor: container %s: %s\n", c->id, rec.message);
            return 1;
        }
        if (c->pid_file && access(c->pid_file, F_OK) < 0) {
            fprintf(stderr, "podd-monitor: container %s: the monitor died while starting it\n",
                    c->id);
            return 1;
        }
    }
    return 0;
}

/* ---- exec ------------------------------------------------------------------------------------ */

static int cmd_exec(int argc, char **argv)
{
    _cleanup_(container_config_freep) ContainerConfig *c = NULL;
    const char *config = NULL;
    double timeout = 0;
    PdError e = {0};
    int i, r, status, fd;
    pid_t pid;

    for (i = 0; i < argc; i++) {
        if (streq(argv[i], "--config") && i + 1 < argc)
            config = argv[++i];
        else if (streq(argv[i], "--timeout") && i + 1 < argc) {
            char *end;

            timeout = strtod(argv[++i], &end);
            if (*end || timeout < 0 || timeout > 86400) {
                fprintf(stderr, "podd-monitor exec: bad --timeout '%s'\n", argv[i]);
                return EXIT_EXEC_FAILED;
            }
        } else if (streq(argv[i], "--")) {
            i++;
            break;
        } else {
            fprintf(stderr, "podd-monitor exec: unexpected argument '%s'\n", argv[i]);
            return EXIT_EXEC_FAILED;
        }
    }
    if (!config || i >= argc) {
        fprintf(stderr, "usage: podd-monitor exec --config CONFIG [--timeout SECONDS] -- CMD...\n");
        return EXIT_EXEC_FAILED;
    }
    r = container_config_load(config, &c, &e);
    if (r < 0) {
        fprintf(stderr, "podd-monitor exec: %s\n", e.message);
        return EXIT_EXEC_FAILED;
    }
    fd = c->pid_file ? pid_file_open_pidfd(c->pid_file, &pid) : -ENOENT;
    if (fd < 0) {
        fprintf(stderr, "podd-monitor exec: container %s is not running\n", c->id);
        return EXIT_EXEC_FAILED;
    }
    r = monitor_ops(c)->exec(c, pid, argv + i, &hooks, (uint64_t)(timeout * 1e6), &status, &e);
    close(fd);
    if (r == -ETIMEDOUT) {
        fprintf(stderr, "podd-monitor exec: %s\n", e.message);
        return EXIT_EXEC_TIMEOUT;
    }
    if (r < 0) {
        fprintf(stderr, "podd-monitor exec: %s\n", e.message);
        return EXIT_EXEC_FAILED;
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* ---- pod sandbox ----------------------------------------------------------------------------- */

static int cmd_pod_create(const char *path)
{
    _cleanup_(sandbox_config_freep) SandboxConfig *sc = NULL;
    _cleanup_json_ json_t *j = NULL;
    json_error_t jerr;
    PdError e = {0};

    j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        fprintf(stderr, "podd-monitor pod-create: %s:%d: %s\n", path, jerr.line, jerr.text);
        return 1;
    }
    if (sandbox_config_from_json(j, &sc, &e) < 0 || sandbox_create(sc, &e) < 0) {
        fprintf(stderr, "podd-monitor pod-create: %s\n", e.message);
        return 1;
    }
    return 0;
}

static int cmd_pod_destroy(const char *dir)
{
    PdError e = {0};

    if (dir[0] != '/') {
        fprintf(stderr, "podd-monitor pod-destroy: the pod directory must be absolute\n");
        return 1;
    }
    if (sandbox_destroy(dir, &e) < 0) {
        fprintf(stderr, "podd-monitor pod-destroy: %s\n", e.message);
        return 1;
    }
    return 0;
}

/* ---- spawner --------------------------------------------------------------------------------- */

/*
 * The spawner's child for one request, the container's monitor. It starts
 * from what a fresh exec of podd-monitor by podd would have (the signal
 * mask and SIGCHLD disposition the spawner was exec'ed with, no fd but
 * stdio, the lock and the result channel, no parent-death signal: fork
 * cleared it), starts the container as a direct start's monitor does,
 * answers podd with one byte on result_fd (StartAnswer) and stays, waiting
 * for the container (monitor_settle()). Never returns.
 */
static _Noreturn void spawner_child(const char *config_path, int lock_fd, int result_fd,
                                    int slot_fd, const sigset_t *mask, const struct sigaction *chld)
{
    ContainerConfig *c = NULL;
    int keep[5] = {lock_fd, result_fd, slot_fd};
    size_t n_keep = 3 + native_lean_mounts_fds(keep + 3);
    int lock;

    if (sigaction(SIGCHLD, chld, NULL) < 0 || close_fds_except(keep, n_keep) < 0 ||
        sigprocmask(SIG_SETMASK, mask, NULL) < 0) {
        fprintf(stderr, "podd-monitor: spawner: set up the child: %m\n");
        lock = -1;
    } else
        lock = start_prepare(config_path, lock_fd, &c);
    if (lock < 0) {
        /* Our copy of the lock goes before the answer: podd acts on the answer. */
        (void)close(lock_fd);
        fflush(NULL);
        answer_code(result_fd, 1);
        _exit(1);
    }
    _exit(monitor_run(
        c, &(StartAnswer){
               .sync_fd = -1, .result_fd = result_fd, .lock_fd = lock, .slot_fd = slot_fd}));
}

/*
 * The requests the spawner took and has not started yet, and the starts
 * under way. Each monitor it forks sets its container up (namespaces,
 * mounts, the clone and exec), which is CPU work: a cold start of a few
 * hundred containers that forked them all at once would have as many
 * runnable processes, each in a session (an autogroup) of its own, and
 * podd, podctl and the host's shells would wait behind all of them for a
 * core. So at most SpawnQueue.max_busy (twice the CPUs we may run on) set
 * up at once, which keeps every core busy; the others wait here, in order.
 * A start's slot is the read end of a pipe whose write end its monitor
 * closes once it answered podd, or dies with.
 */
#define SPAWNER_QUEUE_MAX 1024
#define SPAWNER_BUSY_MAX 64

typedef struct PendingStart {
    char *config_path;
    int lock_fd;
    int result_fd;
} PendingStart;

typedef struct SpawnQueue {
    PendingStart pending[SPAWNER_QUEUE_MAX]; /* a ring: head, n */
    size_t head, n;
    int busy[SPAWNER_BUSY_MAX]; /* the slots' read ends */
    size_t n_busy, max_busy;
} SpawnQueue;

static size_t spawner_max_busy(void)
{
    cpu_set_t set;
    int cpus = 1;

    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        cpus = CPU_COUNT(&set);
    cpus = cpus < 1 ? 1 : cpus;
    return (size_t)cpus * 2 < SPAWNER_BUSY_MAX ? (size_t)cpus * 2 : SPAWNER_BUSY_MAX;
}

/*
 * One request: the config path (the datagram, NUL-terminated, absolute)
 * with two fds by SCM_RIGHTS, the container's lock (already taken) and the
 * write end of the pipe podd waits on. Returns 0 after queueing it (a bad
 * one is dropped: closing its fds tells podd), 1 on EOF (podd is gone),
 * -errno when the socket fails.
 */
static int spawner_receive(int sock, SpawnQueue *q)
{
    char path[PATH_MAX + 1];
    union {
        char buf[CMSG_SPACE(2 * sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = path, .iov_len = sizeof(path)};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    int fds[2] = {-1, -1};
    size_t nfds = 0;
    ssize_t n;

    n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

            for (size_t i = 0; i < k; i++) {
                int fd;

                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                if (nfds < 2)
                    fds[nfds++] = fd;
                else
                    close(fd);
            }
        }
    if (n == 0 && nfds == 0)
        return 1;
    if (nfds == 2 && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && n >= 2 && path[0] == '/' &&
        path[n - 1] == 0 && strlen(path) == (size_t)n - 1 && q->n < SPAWNER_QUEUE_MAX) {
        PendingStart *ps = &q->pending[(q->head + q->n) % SPAWNER_QUEUE_MAX];

        ps->config_path = strdup(path);
        if (ps->config_path) {
            ps->lock_fd = fds[0];
            ps->result_fd = fds[1];
            q->n++;
            return 0;
        }
        fprintf(stderr, "podd-monitor: spawner: out of memory\n");
    } else
        fprintf(stderr, "podd-monitor: spawner: dropped a malformed request\n");
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    return 0;
}

/* Forks a monitor for each request waiting, as long as a slot is free. */
static void spawner_dispatch(SpawnQueue *q, const sigset_t *mask, const struct sigaction *chld)
{
    while (q->n > 0 && q->n_busy < q->max_busy) {
        PendingStart ps = q->pending[q->head];
        int slot[2] = {-1, -1};
        pid_t pid;

        q->head = (q->head + 1) % SPAWNER_QUEUE_MAX;
        q->n--;
        /* Without a slot it starts all the same, uncounted. */
        if (pipe2(slot, O_CLOEXEC) < 0)
            fprintf(stderr, "podd-monitor: spawner: pipe: %m\n");
        fflush(NULL);
        pid = fork();
        if (pid == 0) {
            if (slot[0] >= 0)
                (void)close(slot[0]);
            spawner_child(ps.config_path, ps.lock_fd, ps.result_fd, slot[1], mask, chld);
        }
        if (pid < 0)
            fprintf(stderr, "podd-monitor: spawner: fork: %m\n");
        if (slot[1] >= 0)
            (void)close(slot[1]);
        if (pid > 0 && slot[0] >= 0)
            q->busy[q->n_busy++] = slot[0];
        else if (slot[0] >= 0)
            (void)close(slot[0]);
        (void)close(ps.lock_fd);
        (void)close(ps.result_fd);
        free(ps.config_path);
    }
}

/*
 * The spawner's copy of our mount namespace (native_lean_mounts_init()) is a
 * snapshot where our mounts are private: a file system unmounted here after
 * it stays mounted there (busy, its data not released) as long as the copy
 * lives. So the spawner watches its own mountinfo (opened here: poll()
 * reports POLLPRI on any change of our mount table and re-arms itself) and
 * renews the copy after a change: when no request waits, at most once every
 * LEAN_RENEW_USEC (a cold start's pins change our mount table with every
 * pod: not a renewal per start), and LEAN_RENEW_USEC after the change at the
 * latest even while requests keep coming. A child makes the new copy
 * (native_lean_mounts_renew_start()) while we go on with the old one.
 */
#define LEAN_RENEW_USEC (1000 * 1000ULL)

typedef struct LeanWatch {
    const char *pins;     /* the pins' directory, hidden in the copy */
    int mountinfo_fd;     /* -1: no copy to renew */
    int renew_fd;         /* the child making a new copy answers here; -1: none */
    pid_t renew_pid;      /* ... that child */
    bool stale;           /* our mount table changed since the copy was made */
    uint64_t stale_since; /* CLOCK_MONOTONIC usec of the first change since */
    uint64_t renewed;     /* ... of the last start of a copy's making (or look at the table) */
    /* Our mount table as the copy keeps it (native_lean_mounts_digest()), when the copy was made.
     */
    char digest[CONTENT_HASH_MAX];
    bool has_digest; /* false: unknown, or no copy */
} LeanWatch;

/* The digest of our mount table as a copy made now keeps it, in w (none when unknown). */
static void lean_watch_digest(LeanWatch *w)
{
    PdError e = {0};

    w->has_digest = native_lean_mounts_digest(w->pins, w->digest, &e) >= 0;
}

static void lean_watch_start(LeanWatch *w, const char *pins)
{
    *w = (LeanWatch){
        .pins = pins, .mountinfo_fd = -1, .renew_fd = -1, .renewed = now_monotonic_usec()};
    /* Before the copy: a change while it is made is one to catch. */
    w->mountinfo_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (w->mountinfo_fd < 0)
        fprintf(stderr, "podd-monitor spawner: open /proc/self/mountinfo: %m "
                        "(the mount namespace copy will not be renewed)\n");
    lean_watch_digest(w);
}

static void lean_watch_failed(LeanWatch *w, const PdError *e)
{
    /* No copy now: the next change makes one, whatever it is. */
    w->has_digest = false;
    fprintf(stderr, "podd-monitor: containers are cloned from podd's mount namespace: %s\n",
            e->message);
}

/*
 * Renews the copy, unless our mount table changed only where a copy leaves
 * it out: a pod's pins made or removed (every pod, hundreds in a cold
 * start), which a new copy would unmount one by one again, each unmount
 * waiting for an RCU grace period that interrupts every CPU.
 */
static void lean_watch_renew(LeanWatch *w, uint64_t now)
{
    struct pollfd p = {.fd = w->mountinfo_fd, .events = POLLPRI};
    char before[CONTENT_HASH_MAX];
    bool had = w->has_digest;
    PdError e = {0};

    /* Re-arms it (a change from here on is one the new copy may miss). */
    (void)poll(&p, 1, 0);
    w->stale = false;
    w->renewed = now;
    /* After the re-arming: a change after the digest is seen again, and compared. */
    memcpy(before, w->digest, sizeof(before));
    lean_watch_digest(w);
    if (had && w->has_digest && streq(before, w->digest))
        return;
    if (native_lean_mounts_renew_start(w->pins, &w->renew_fd, &w->renew_pid, &e) < 0) {
        w->renew_fd = -1;
        lean_watch_failed(w, &e);
    }
}

/* Lets go of the slots whose monitors answered (or died): p holds their poll results. */
static void spawner_slots_reap(SpawnQueue *q, const struct pollfd *p)
{
    size_t kept = 0;

    for (size_t i = 0; i < q->n_busy; i++)
        if (p[i].revents)
            (void)close(q->busy[i]);
        else
            q->busy[kept++] = q->busy[i];
    q->n_busy = kept;
}

/*
 * Waits until a request can be read on sock (and there is room for it in
 * q), or a start slot came free while requests wait, renewing the mount
 * namespace copy meanwhile as the comment on LEAN_RENEW_USEC says. 0 then
 * (*ret_request: sock is readable, or at its end), -errno when poll() fails.
 */
static int spawner_wait(int sock, LeanWatch *w, SpawnQueue *q, bool *ret_request)
{
    for (;;) {
        struct pollfd p[3 + SPAWNER_BUSY_MAX] = {
            {.fd = q->n < SPAWNER_QUEUE_MAX ? sock : -1, .events = POLLIN},
            {.fd = w->mountinfo_fd, .events = POLLPRI},
            {.fd = w->renew_fd, .events = POLLIN}};
        uint64_t now = now_monotonic_usec();
        size_t n_busy = q->n_busy;
        int timeout = -1;
        bool waiting, freed = false;

        for (size_t i = 0; i < n_busy; i++)
            p[3 + i] = (struct pollfd){.fd = q->busy[i], .events = POLLIN};
        if (w->stale && w->renew_fd < 0) {
            uint64_t due = w->renewed + LEAN_RENEW_USEC;

            timeout = due <= now ? 0 : (int)((due - now + 999) / 1000);
        }
        /* poll() ignores the entries with a negative fd. */
        if (poll(p, 3 + n_busy, timeout) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        now = now_monotonic_usec();
        if (p[2].revents) {
            PdError e = {0};

            if (native_lean_mounts_renew_finish(w->renew_fd, w->renew_pid, &e) < 0)
                lean_watch_failed(w, &e);
            w->renew_fd = -1;
        }
        if ((p[1].revents & (POLLPRI | POLLERR)) && !w->stale) {
            w->stale = true;
            w->stale_since = now;
        }
        for (size_t i = 0; i < n_busy; i++)
            freed = freed || p[3 + i].revents;
        if (freed)
            spawner_slots_reap(q, p + 3);
        waiting = p[0].revents != 0 || q->n > 0;
        if (w->stale && w->renew_fd < 0 && now >= w->renewed + LEAN_RENEW_USEC &&
            (!waiting || now >= w->stale_since + LEAN_RENEW_USEC))
            lean_watch_renew(w, now);
        *ret_request = p[0].revents != 0;
        if (*ret_request || (freed && q->n > 0))
            return 0;
    }
}

/*
 * podd's monitor spawner: started once by podd with a SOCK_SEQPACKET socket
 * on sock, it forks one child per request, the container's monitor
 * (spawner_child()), so that a start costs podd neither an exec of this
 * binary nor its dynamic linking, and the monitor no exec of the watcher;
 * at most SpawnQueue.max_busy of them at once, the other requests queued.
 * It keeps nothing across requests but that queue, and allocates nothing
 * after its start but the queued requests' paths and to renew its mount
 * namespace copy; at its start it compiles the default seccomp filter once
 * for all of them (libseccomp's memory freed again): each child carries only
 * what a fresh podd-monitor would, and that program. It dies
 * with podd (parent-death signal, and EOF on the socket); what it started
 * does not (the children lose the parent-death signal at fork, and the
 * monitors detach as always). Its children are reaped by the kernel
 * (SIGCHLD ignored here, restored in each child). Given pins (podd's
 * directory of the pods' namespace pins), the containers are cloned from
 * a copy of our mount namespace without them (native_lean_mounts_init()):
 * each clone copies every mount of the namespace it is made in.
 */
static int cmd_spawner(int sock, const char *pins)
{
    static SpawnQueue queue;
    LeanWatch watch = {.mountinfo_fd = -1, .renew_fd = -1};
    struct sigaction ign = {.sa_handler = SIG_IGN}, chld;
    sigset_t mask;
    pid_t parent = getppid();
    ssize_t n;
    int r;

    if (fcntl(sock, F_SETFD, FD_CLOEXEC) < 0) {
        fprintf(stderr, "podd-monitor spawner: fd %d: %m\n", sock);
        return 1;
    }
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
        return 1;
    if (sigprocmask(SIG_SETMASK, NULL, &mask) < 0 || sigaction(SIGCHLD, &ign, &chld) < 0) {
        fprintf(stderr, "podd-monitor spawner: signals: %m\n");
        return 1;
    }
    r = native_start_priority_lower();
    if (r < 0)
        fprintf(stderr, "podd-monitor spawner: starting at the same CPU priority as podd: %s\n",
                strerror(-r));
    /* Once for every start; without it (it failed) each start compiles its own. */
    n = security_seccomp_export_default(spawner_seccomp, sizeof(spawner_seccomp));
    spawner_seccomp_len = n > 0 ? (size_t)n : 0;
    if (pins) {
        PdError e = {0};

        lean_watch_start(&watch, pins);
        r = pins[0] != '/' ? pd_error_set(&e, -EINVAL, "the pins' directory must be absolute")
                           : native_lean_mounts_init(pins, &e);
        if (r < 0) {
            lean_watch_failed(&watch, &e);
            closep(&watch.mountinfo_fd);
            watch.mountinfo_fd = -1;
        }
    }
    /*
     * What libseccomp and the copy's making freed sits in malloc's fast
     * bins: the first larger malloc() of every child would merge them
     * again, writing to (so copying) each heap page it touches. Merged here
     * once instead.
     */
    (void)malloc_trim(0);
    queue.max_busy = spawner_max_busy();
    for (;;) {
        bool request;

        r = spawner_wait(sock, &watch, &queue, &request);
        if (r == 0 && request)
            r = spawner_receive(sock, &queue);
        if (r != 0)
            break;
        spawner_dispatch(&queue, &mask, &chld);
    }
    if (r < 0) {
        fprintf(stderr, "podd-monitor spawner: wait for requests: %s\n", strerror(-r));
        return 1;
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: podd-monitor [--lock-fd=FD] CONFIG.json\n"
                    "       podd-monitor exec --config CONFIG.json [--timeout SECONDS] -- CMD...\n"
                    "       podd-monitor pod-create POD.json\n"
                    "       podd-monitor pod-destroy POD-DIR\n"
                    "       podd-monitor spawner [PINS-DIR] (fd 3: podd's socket)\n");
}

int main(int argc, char **argv)
{
    /* Another mount point for the cgroup hierarchies (tests, unusual hosts). */
    cgroup_set_root(getenv("PODD_CGROUP_ROOT"));
    if (argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
        usage();
        return 0;
    }
    if (argc >= 2 && streq(argv[1], "exec"))
        return cmd_exec(argc - 2, argv + 2);
    if (argc == 3 && streq(argv[1], "pod-create"))
        return cmd_pod_create(argv[2]);
    if (argc == 3 && streq(argv[1], "pod-destroy"))
        return cmd_pod_destroy(argv[2]);
    if ((argc == 2 || argc == 3) && streq(argv[1], "spawner")) {
        /* Its children, the monitors, name their containers there. */
        title_init(argc, argv);
        return cmd_spawner(3, argc == 3 ? argv[2] : NULL);
    }
    if (argc == 2 && argv[1][0] != '-')
        return cmd_start(argv[1], -1);
    /* podd hands over the container's lock, already taken, on this fd. */
    if (argc == 3 && startswith(argv[1], "--lock-fd=") && argv[2][0] != '-') {
        int64_t fd;

        if (parse_int64(argv[1] + strlen("--lock-fd="), &fd) >= 0 && fd >= 3 && fd <= INT_MAX)
            return cmd_start(argv[2], (int)fd);
    }
    usage();
    return 2;
}
