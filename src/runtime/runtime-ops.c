/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <search.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "runtime-internal.h"

/* podd-monitor's exit codes for "exec" beyond the command's own. */
#define MONITOR_EXEC_TIMEOUT 124
#define MONITOR_EXEC_FAILED 125

/* A dead spawner is started again at most this often; meanwhile starts run podd-monitor. */
#define SPAWNER_RESTART_USEC (1000 * 1000)

typedef struct NativeCtx {
    char *run_dir, *log_dir, *monitor_path;
    char *cgroup_parent;       /* this instance's: only cgroups below it are signalled or removed */
    bool remove_cgroup_parent; /* derived here: removed by done() when empty */
    SandboxNetnsPool *netns_pool; /* the pods' network namespaces, made ahead */
    /*
     * "podd-monitor spawner", our child: it forks the starter of each
     * container (see spawner_request()). -1 when there is none (it died
     * and is not started again yet, or it cannot be): starts then run
     * podd-monitor directly.
     */
    int spawner_fd, spawner_pidfd;
    pid_t spawner_pid;
    uint64_t spawner_started; /* CLOCK_MONOTONIC usec of its last start */
    bool direct_start;        /* RuntimeConfig.direct_start: never one */
    /* <run_dir>/pods: the spawner clones containers from a mount namespace without its pins. */
    char *pins_dir;
    void (*notice)(void *userdata, const char *message);
    void *notice_userdata;
    /*
     * The containers whose config.json this process wrote (a tsearch(3)
     * tree of WrittenConfig by id): their cgroup is ours by construction,
     * so a removal need not read the file back to learn it.
     */
    void *written;
} NativeCtx;

typedef struct WrittenConfig {
    char *id;
    /* A recycle removed the run's records since: the next start has none to clear. */
    bool records_gone;
} WrittenConfig;

static int written_cmp(const void *a, const void *b)
{
    return strcmp(((const WrittenConfig *)a)->id, ((const WrittenConfig *)b)->id);
}

static void written_free(void *p)
{
    WrittenConfig *w = p;

    free(w->id);
    free(w);
}

static WrittenConfig *written_find(NativeCtx *ctx, const char *id)
{
    WrittenConfig key = {.id = (char *)id};
    WrittenConfig **w = tfind(&key, &ctx->written, written_cmp);

    return w ? *w : NULL;
}

/* Notes that id's config.json is ours; without memory, a later removal just reads it. */
static void written_add(NativeCtx *ctx, const char *id)
{
    WrittenConfig *w = written_find(ctx, id), **slot;

    if (w) {
        w->records_gone = false;
        return;
    }
    w = calloc(1, sizeof(*w));
    if (!w || !(w->id = strdup(id))) {
        free(w);
        return;
    }
    slot = tsearch(w, &ctx->written, written_cmp);
    if (!slot || *slot != w)
        written_free(w);
}

static void written_drop(NativeCtx *ctx, const char *id)
{
    WrittenConfig *w = written_find(ctx, id);

    if (!w)
        return;
    (void)tdelete(w, &ctx->written, written_cmp);
    written_free(w);
}

static void spawner_stop(NativeCtx *ctx);
static int spawner_start(NativeCtx *ctx);
static void native_notice(const NativeCtx *ctx, const char *fmt, ...) _printf_(2, 3);

DEFINE_STRING_TABLE(container_state, ContainerState,
                    _CONTAINER_STATE_MAX, [CONTAINER_STATE_UNKNOWN] = "unknown",
                    [CONTAINER_STATE_CREATED] = "created", [CONTAINER_STATE_RUNNING] = "running",
                    [CONTAINER_STATE_EXITED] = "exited", [CONTAINER_STATE_STARTING] = "starting")

static void native_done(void *userdata)
{
    NativeCtx *ctx = userdata;

    if (!ctx)
        return;
    spawner_stop(ctx);
    free(ctx->pins_dir);
    if (ctx->remove_cgroup_parent)
        (void)cgroup_try_remove(ctx->cgroup_parent);
    sandbox_netns_pool_free(ctx->netns_pool);
    tdestroy(ctx->written, written_free);
    free(ctx->cgroup_parent);
    free(ctx->run_dir);
    free(ctx->log_dir);
    free(ctx->monitor_path);
    free(ctx);
}

/*
 * run_dir/pods, where the pods' namespaces are pinned, for the spawner to
 * leave out of the mount namespace it clones containers from
 * (native_lean_mounts_init()); NULL when it cannot be made. The caller frees.
 */
static char *pins_dir_for_spawner(const char *run_dir)
{
    _cleanup_free_ char *dir = strdup_printf("%s/pods", run_dir);

    if (!dir || mkdir_p(dir, 0711) < 0)
        return NULL;
    return move_ptr(dir);
}

static int native_init(void **ret_ctx, const RuntimeConfig *cfg, PdError *reterr)
{
    NativeCtx *ctx;
    int r;

    if (!cfg->run_dir || !cfg->log_dir || !cfg->monitor_path)
        return pd_error_set(reterr, -EINVAL,
                            "native runtime: run dir, log dir and monitor path "
                            "are required");
    ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return -ENOMEM;
    ctx->spawner_fd = ctx->spawner_pidfd = -1;
    ctx->direct_start = cfg->direct_start;
    ctx->notice = cfg->notice;
    ctx->notice_userdata = cfg->notice_userdata;
    ctx->run_dir = strdup(cfg->run_dir);
    ctx->log_dir = strdup(cfg->log_dir);
    ctx->monitor_path = strdup(cfg->monitor_path);
    ctx->netns_pool = sandbox_netns_pool_new();
    if (!ctx->run_dir || !ctx->log_dir || !ctx->monitor_path || !ctx->netns_pool) {
        native_done(ctx);
        return -ENOMEM;
    }
    if (cfg->cgroup_parent)
        r = (ctx->cgroup_parent = strdup(cfg->cgroup_parent)) ? 0 : -ENOMEM;
    else
        r = cgroup_resolve_parent(NULL, cfg->run_dir, &ctx->cgroup_parent, reterr);
    if (r < 0) {
        native_done(ctx);
        return r;
    }
    ctx->remove_cgroup_parent = !cfg->cgroup_parent;
    r = cgroup_prepare_parent(ctx->cgroup_parent, reterr);
    if (r < 0) {
        native_done(ctx);
        return r;
    }
    if (!cfg->direct_start)
        ctx->pins_dir = pins_dir_for_spawner(ctx->run_dir);
    /* Without it, every start runs podd-monitor itself: slower, just as correct. */
    r = cfg->direct_start ? 0 : spawner_start(ctx);
    if (r < 0)
        native_notice(ctx,
                      "cannot start podd-monitor spawner: %s; starting each podd-monitor "
                      "directly",
                      RUNTIME_STRERROR(-r));
    *ret_ctx = ctx;
    return 0;
}

static int native_pod_create(void *userdata, const Pod *pod, PdError *reterr)
{
    NativeCtx *ctx = userdata;
    _cleanup_(sandbox_config_freep) SandboxConfig *sc = NULL;
    int r;

    r = sandbox_config_new_from_pod(pod, ctx->run_dir, &sc, reterr);
    if (r < 0)
        return r;
    return sandbox_create_pooled(sc, ctx->netns_pool, reterr);
}

static int native_pod_destroy(void *userdata, const Pod *pod, PdError *reterr)
{
    NativeCtx *ctx = userdata;
    _cleanup_free_ char *dir = runtime_pod_dir(ctx->run_dir, pod);

    if (!dir)
        return -ENOMEM;
    return sandbox_destroy(dir, reterr);
}

static bool id_ok(const char *id)
{
    return id[0] && !strchr(id, '/') && !streq(id, ".") && !streq(id, "..");
}

static char *container_file(const NativeCtx *ctx, const char *id, const char *name)
{
    return strdup_printf("%s/containers/%s/%s", ctx->run_dir, id, name);
}

/* What the child of spawn_monitor_out() needs; it shares our memory until its execve(). */
typedef struct SpawnChild {
    const char *path;
    char *const *argv;
    int out_fd, err_fd, keep_fd;
    sigset_t mask; /* the caller's, restored in the child */
    int error;     /* set by the child when it fails before or at its execve() */
} SpawnChild;

/* dup2() that also clears close-on-exec when from == to. */
static int spawn_dup(int from, int to)
{
    if (from == to)
        return fcntl(to, F_SETFD, 0);
    return dup2(from, to) < 0 ? -1 : 0;
}

/*
 * The child between clone() and execve(): it runs on a stack of the
 * parent's frame, in the parent's memory, while the parent waits (vfork
 * semantics). It only makes system calls; what fails is left in sc->error.
 */
static int spawn_child(void *userdata)
{
    SpawnChild *sc = userdata;
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

    if (fd < 0 || spawn_dup(fd, 0) < 0)
        goto fail;
    if (fd != 0)
        (void)close(fd);
    if (sc->out_fd >= 0 && spawn_dup(sc->out_fd, 1) < 0)
        goto fail;
    if ((sc->err_fd >= 0 || sc->out_fd >= 0) &&
        spawn_dup(sc->err_fd >= 0 ? sc->err_fd : sc->out_fd, 2) < 0)
        goto fail;
    if (sc->keep_fd >= 0 && spawn_dup(sc->keep_fd, 3) < 0)
        goto fail;
    if (close_range(sc->keep_fd >= 0 ? 4 : 3, ~0u, 0) < 0)
        goto fail;
    if (sigprocmask(SIG_SETMASK, &sc->mask, NULL) < 0)
        goto fail;
    (void)execve(sc->path, sc->argv, environ);
fail:
    sc->error = errno ? errno : EIO;
    _exit(127);
}

/*
 * Runs podd-monitor with argv, stdin on /dev/null. keep_fd (or -1) becomes
 * the monitor's fd 3; out_fd (or -1: inherited) its stdout, err_fd its
 * stderr (out_fd when -1); every other fd but stdio is closed. It is run
 * as posix_spawn(3) would, through clone(CLONE_VM | CLONE_VFORK): nothing
 * of podd's memory is copied, which a fork would do page table by page
 * table and then fault back in on every write. Unlike glibc's
 * posix_spawn(), the child's stack is a buffer on this one (no mmap() and
 * munmap() with its TLB shootdown per run), no file action asks for the
 * fd limit, and ret_pidfd (or NULL) gets a pidfd of the child from the
 * clone() itself (CLONE_PIDFD). Signals are blocked around the clone, as
 * glibc does: podd has no signal handlers, and the child gets the
 * caller's mask back before its execve(). Returns the child's pid; the
 * caller reaps it.
 */
static pid_t spawn_monitor_out(const NativeCtx *ctx, char *const *argv, int keep_fd, int out_fd,
                               int err_fd, int *ret_pidfd, PdError *reterr)
{
    /* The child's stack: it only makes system calls, but the first call of a libc function
     * may go through the dynamic linker's resolver, which saves the vector registers. */
    _Alignas(64) char stack[32 * 1024];
    SpawnChild sc = {.path = ctx->monitor_path,
                     .argv = argv,
                     .keep_fd = keep_fd,
                     .out_fd = out_fd,
                     .err_fd = err_fd};
    _cleanup_close_ int moved = -1;
    int pidfd = -1, flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
    sigset_t all;
    pid_t pid;

    /* dup2 of fd 3 onto itself would keep its close-on-exec flag: use another fd first. */
    if (keep_fd == 3) {
        moved = fcntl(keep_fd, F_DUPFD_CLOEXEC, 4);
        if (moved < 0)
            return pd_error_set(reterr, -errno, "dup: %s", RUNTIME_STRERROR(errno));
        sc.keep_fd = moved;
    }
    if (ret_pidfd)
        flags |= CLONE_PIDFD;
    (void)sigfillset(&all);
    if (pthread_sigmask(SIG_BLOCK, &all, &sc.mask) != 0)
        return pd_error_set(reterr, -EIO, "cannot block signals to run podd-monitor");
    pid = clone(spawn_child, stack + sizeof(stack), flags, &sc, &pidfd);
    if (pid < 0)
        sc.error = errno;
    (void)pthread_sigmask(SIG_SETMASK, &sc.mask, NULL);
    if (pid < 0)
        return pd_error_set(reterr, -EIO, "cannot run podd-monitor %s: %s", ctx->monitor_path,
                            RUNTIME_STRERROR(sc.error));
    if (sc.error != 0) {
        /* It exited before or at its execve(): reaped here, as posix_spawn() does. */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        if (pidfd >= 0)
            close(pidfd);
        return pd_error_set(reterr, -EIO, "cannot run podd-monitor %s: %s", ctx->monitor_path,
                            RUNTIME_STRERROR(sc.error));
    }
    if (ret_pidfd)
        *ret_pidfd = pidfd; /* close-on-exec from the start */
    return pid;
}

static pid_t spawn_monitor(const NativeCtx *ctx, char *const *argv, int keep_fd, PdError *reterr)
{
    return spawn_monitor_out(ctx, argv, keep_fd, -1, -1, NULL, reterr);
}

/*
 * spawn_monitor_out() with a pidfd of the child in *ret_pidfd: the caller
 * waits for it with waitid(P_PIDFD) and so reaps it.
 */
static int spawn_monitor_pidfd(const NativeCtx *ctx, char *const *argv, int keep_fd, int out_fd,
                               int err_fd, int *ret_pidfd, PdError *reterr)
{
    pid_t pid = spawn_monitor_out(ctx, argv, keep_fd, out_fd, err_fd, ret_pidfd, reterr);

    return pid < 0 ? pid : 0;
}

/* ---- the spawner ---------------------------------------------------------------------- */

static void native_notice(const NativeCtx *ctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (!ctx->notice)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ctx->notice(ctx->notice_userdata, msg);
}

/*
 * Starts "podd-monitor spawner" with one end of a SOCK_SEQPACKET socketpair
 * on its fd 3 (nothing in the file system: only we can talk to it).
 */
static int spawner_start(NativeCtx *ctx)
{
    int sv[2], pidfd = -1;
    pid_t pid;

    ctx->spawner_started = now_monotonic_usec();
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    pid = spawn_monitor_out(ctx, (char *[]){"podd-monitor", "spawner", ctx->pins_dir, NULL}, sv[1],
                            -1, -1, &pidfd, NULL);
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return (int)pid;
    }
    ctx->spawner_fd = sv[0];
    ctx->spawner_pidfd = pidfd;
    ctx->spawner_pid = pid;
    return 0;
}

/* Reaps the spawner after closing its socket, which ends it. */
static void spawner_reap(NativeCtx *ctx, siginfo_t *ret_si)
{
    siginfo_t si = {0};

    if (ctx->spawner_pidfd < 0)
        return;
    if (ctx->spawner_fd >= 0)
        close(ctx->spawner_fd);
    ctx->spawner_fd = -1;
    while (waitid((idtype_t)P_PIDFD, (id_t)ctx->spawner_pidfd, &si, WEXITED) < 0 && errno == EINTR)
        ;
    close(ctx->spawner_pidfd);
    ctx->spawner_pidfd = -1;
    if (ret_si)
        *ret_si = si;
}

/*
 * Closing its socket ends the spawner once it has forked what it was sent
 * already: no start that begin returned is dropped.
 */
static void spawner_stop(NativeCtx *ctx)
{
    spawner_reap(ctx, NULL);
}

/*
 * Whether the spawner is gone, asked when its socket refused a request or
 * a request ended, answered or not: when its pidfd says it exited, reaps
 * it, says so, and starts another, at most once per SPAWNER_RESTART_USEC.
 */
static void spawner_died(NativeCtx *ctx)
{
    struct pollfd p = {.fd = ctx->spawner_pidfd, .events = POLLIN};
    siginfo_t si = {0};

    if (ctx->spawner_pidfd >= 0) {
        if (poll(&p, 1, 0) <= 0)
            return; /* still there */
        spawner_reap(ctx, &si);
        native_notice(ctx, "podd-monitor spawner (pid %d) %s %d", (int)ctx->spawner_pid,
                      si.si_code == CLD_EXITED ? "exited with status" : "was killed by signal",
                      si.si_status);
    }
    if (ctx->direct_start || now_monotonic_usec() - ctx->spawner_started < SPAWNER_RESTART_USEC)
        return;
    if (spawner_start(ctx) < 0)
        native_notice(ctx, "cannot start podd-monitor spawner again; starting each "
                           "podd-monitor directly");
    else
        native_notice(ctx, "started podd-monitor spawner again (pid %d)", (int)ctx->spawner_pid);
}

/*
 * Has the spawner fork a starter for the container configured at cfg_path,
 * handing it lock (borrowed: the spawner gets a copy). Does not wait: the
 * starter answers with its exit code, one byte on the pipe whose read end
 * is returned in *ret_fd (close-on-exec, blocking), and an EOF without it
 * means it never ran or died (the spawner with it, perhaps). -EAGAIN when
 * the spawner cannot take the request now (none, or its queue is full):
 * nothing was sent.
 */
static int spawner_request(NativeCtx *ctx, const char *cfg_path, int lock, int *ret_fd)
{
    union {
        char buf[CMSG_SPACE(2 * sizeof(int))];
        struct cmsghdr align;
    } u = {{0}};
    struct iovec iov = {.iov_base = (char *)cfg_path, .iov_len = strlen(cfg_path) + 1};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    int p[2], r;

    /* It gets an absolute path it can take in one datagram, or nothing. */
    if (cfg_path[0] != '/' || iov.iov_len > PATH_MAX)
        return -EAGAIN;
    if (ctx->spawner_fd < 0) {
        spawner_died(ctx);
        if (ctx->spawner_fd < 0)
            return -EAGAIN;
    }
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
    memcpy(CMSG_DATA(cm), (int[]){lock, p[1]}, 2 * sizeof(int));
    for (int attempt = 0;; attempt++) {
        r = sendmsg(ctx->spawner_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -errno : 0;
        if (r != -EPIPE && r != -ECONNREFUSED && r != -ECONNRESET)
            break;
        /* It died: nothing of this request reached it. Another, once. */
        spawner_died(ctx);
        if (attempt > 0 || ctx->spawner_fd < 0) {
            r = -EAGAIN;
            break;
        }
    }
    close(p[1]);
    if (r < 0) {
        close(p[0]);
        return r == -ENOBUFS ? -EAGAIN : r;
    }
    *ret_fd = p[0];
    return 0;
}

/*
 * The starter's exit code from the spawner's pipe fd: 0 with *ret_code, or
 * -EPIPE when it closed without one. Waits for it.
 */
static int spawner_result(NativeCtx *ctx, int fd, int *ret_code)
{
    unsigned char code;
    ssize_t n;

    while ((n = read(fd, &code, 1)) < 0 && errno == EINTR)
        ;
    /*
     * Without an answer, a dead spawner is why. With one, it may have died
     * since it forked that child (its requests all taken, none lost to tell
     * us): said, and replaced, now rather than at the next request.
     */
    spawner_died(ctx);
    if (n == 1) {
        *ret_code = code;
        return 0;
    }
    return -EPIPE;
}

/* spawn_monitor() and wait for it; returns the wait status. */
static int run_monitor(const NativeCtx *ctx, char *const *argv, int keep_fd, int *ret_status,
                       PdError *reterr)
{
    pid_t pid = spawn_monitor(ctx, argv, keep_fd, reterr);
    int status;

    if (pid < 0)
        return pid;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return pd_error_set(reterr, -errno, "wait for podd-monitor: %s",
                                RUNTIME_STRERROR(errno));
    *ret_status = status;
    return 0;
}

static int native_container_start_begin(void *userdata, const Pod *pod, const Container *ct,
                                        const RuntimeImage *image, const char *version,
                                        int *ret_starter_pidfd, PdError *reterr)
{
    NativeCtx *ctx = userdata;
    _cleanup_(container_config_freep) ContainerConfig *c = NULL;
    _cleanup_free_ char *cfg_path = NULL;
    _cleanup_close_ int lock = -1;
    WrittenConfig *w;
    int r;

    r = container_config_new_from_pod(pod, ct, ctx->run_dir, ctx->log_dir, image,
                                      ctx->cgroup_parent, &c, reterr);
    if (r < 0)
        return r;
    c->runtime = strdup(runtime_native_ops.name);
    if (!c->runtime || (version && !(c->version = strdup(version))))
        return -ENOMEM;
    r = mkdir_p(c->run_dir, 0700);
    if (r < 0)
        return pd_error_set(reterr, r, "mkdir %s: %s", c->run_dir, RUNTIME_STRERROR(r));
    lock = container_lock_try(c->run_dir);
    if (lock == -EBUSY)
        return pd_error_set(reterr, -EBUSY, "container %s: another podd-monitor is starting it",
                            c->id);
    if (lock < 0)
        return pd_error_set(reterr, lock, "lock %s: %s", c->run_dir, RUNTIME_STRERROR(lock));
    /* A previous run's records must not be mistaken for this one's (unless we removed them). */
    w = written_find(ctx, c->id);
    if (!w || !w->records_gone) {
        (void)unlink(c->exit_file);
        (void)unlink(c->pid_file);
        (void)unlink(c->monitor_pid_file);
    }
    cfg_path = strdup_printf("%s/config.json", c->run_dir);
    if (!cfg_path)
        return -ENOMEM;
    r = container_config_save(c, cfg_path, reterr);
    if (r < 0)
        return r;
    written_add(ctx, c->id);
    /* The starter inherits the lock and hands it to the monitor, which keeps it. */
    r = spawner_request(ctx, cfg_path, lock, ret_starter_pidfd);
    if (r != -EAGAIN)
        return r < 0 ? pd_error_set(reterr, r, "podd-monitor spawner: %s", RUNTIME_STRERROR(-r))
                     : 0;
    return spawn_monitor_pidfd(ctx, (char *[]){"podd-monitor", "--lock-fd=3", cfg_path, NULL}, lock,
                               -1, -1, ret_starter_pidfd, reterr);
}

static int native_container_start_finish(void *userdata, const char *id, int starter_pidfd,
                                         int *ret_pidfd, PdError *reterr)
{
    NativeCtx *ctx = userdata;
    _cleanup_free_ char *exitf = NULL, *monf = NULL;
    siginfo_t si = {0};
    struct stat st;
    bool no_answer = false, started;
    ExitRecord e;
    int fd;

    if (!id_ok(id))
        return pd_error_set(reterr, -EINVAL, "bad container id '%s'", id);
    exitf = container_file(ctx, id, "exit.json");
    monf = container_file(ctx, id, "monitor.pid");
    if (!exitf || !monf)
        return -ENOMEM;
    if (fstat(starter_pidfd, &st) == 0 && S_ISFIFO(st.st_mode)) {
        /* A starter of the spawner's: its answer, as the wait status of one of ours. */
        int code;

        if (spawner_result(ctx, starter_pidfd, &code) >= 0)
            si = (siginfo_t){.si_code = CLD_EXITED, .si_status = code};
        else
            no_answer = true;
    } else
        while (waitid((idtype_t)P_PIDFD, (id_t)starter_pidfd, &si, WEXITED) < 0)
            if (errno != EINTR)
                return pd_error_set(reterr, -errno, "wait for podd-monitor of %s: %s", id,
                                    RUNTIME_STRERROR(errno));
    started = !no_answer && si.si_code == CLD_EXITED && si.si_status == 0;
    /*
     * A monitor records a start error before it answers, and answers only
     * when the container runs: a record after that answer (of a container
     * that exited at once) is its exit, read when the monitor ends.
     */
    if (!started && exit_record_read(exitf, &e) >= 0 && exit_record_is_start_error(&e))
        return pd_error_set(
            reterr, streq(e.reason, RUNTIME_REASON_CONFIG_ERROR) ? RUNTIME_ERR_CONFIG : -EIO, "%s",
            e.message);
    if (no_answer)
        return pd_error_set(reterr, -EIO,
                            "container %s: podd-monitor spawner or its child ended without an "
                            "answer",
                            id);
    if (si.si_code != CLD_EXITED || si.si_status != 0)
        return pd_error_set(reterr, -EIO, "container %s: podd-monitor failed (%s %d)", id,
                            si.si_code == CLD_EXITED ? "exit status" : "signal", si.si_status);
    fd = pid_file_open_pidfd(monf, NULL);
    if (fd == -ESRCH)
        /* The container already finished and its monitor with it: a pidfd of nothing. */
        return pd_error_set(reterr, -ESRCH, "container %s exited before it could be watched", id);
    if (fd < 0)
        return pd_error_set(reterr, fd, "monitor pid file %s: %s", monf, RUNTIME_STRERROR(fd));
    *ret_pidfd = fd;
    return 0;
}

/*
 * id's pid file is gone while the container may run: the run directory was
 * emptied under us. Its cgroup, ours by its name, still holds what runs;
 * each process there gets the signal, as systemd's KillMode=control-group
 * sends it. -ESRCH when nothing runs there.
 */
static int signal_by_cgroup(const NativeCtx *ctx, const char *id, int sig, PdError *reterr)
{
    _cleanup_free_ char *cgroup = runtime_container_cgroup(ctx->cgroup_parent, id);
    int n;

    if (!cgroup)
        return -ENOMEM;
    n = cgroup_signal(cgroup, sig);
    if (n < 0)
        return pd_error_set(reterr, n, "signal the processes of cgroup %s: %s", cgroup,
                            RUNTIME_STRERROR(n));
    if (n == 0)
        return pd_error_set(reterr, -ESRCH, "container %s is not running", id);
    return 0;
}

static int native_container_signal(void *userdata, const char *id, int sig, PdError *reterr)
{
    NativeCtx *ctx = userdata;
    _cleanup_free_ char *pidf = NULL;
    _cleanup_close_ int fd = -1;

    if (!id_ok(id))
        return pd_error_set(reterr, -EINVAL, "bad container id '%s'", id);
    pidf = container_file(ctx, id, "container.pid");
    if (!pidf)
        return -ENOMEM;
    fd = pid_file_open_pidfd(pidf, NULL);
    if (fd == -ENOENT)
        return signal_by_cgroup(ctx, id, sig, reterr);
    if (fd < 0)
        return pd_error_set(reterr, fd, "container %s is not running", id);
    if (syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0)
        return pd_error_set(reterr, -errno, "signal container %s: %s", id, RUNTIME_STRERROR(errno));
    return 0;
}

/* "podd-monitor exec --config CFG --timeout T -- argv...": NULL-terminated, the caller frees. */
static char **exec_args(const char *cfg, char *const *argv, char timeout[32], uint64_t timeout_usec)
{
    size_t n = strv_length(argv), k = 0;
    char **args = calloc(n + 8, sizeof(char *));
    /* Seconds with milliseconds, as "%.3f" said them, without formatting a double per run. */
    uint64_t ms = timeout_usec / 1000 + (timeout_usec % 1000 >= 500);

    if (!args)
        return NULL;
    (void)snprintf(timeout, 32, "%" PRIu64 ".%03u", ms / 1000, (unsigned)(ms % 1000));
    args[k++] = "podd-monitor";
    args[k++] = "exec";
    args[k++] = "--config";
    args[k++] = (char *)cfg;
    args[k++] = "--timeout";
    args[k++] = timeout;
    args[k++] = "--";
    for (size_t i = 0; i < n; i++)
        args[k++] = argv[i];
    return args;
}

/* What podd-monitor exec's wait status says. */
static int exec_status(const char *id, int status, int *ret_status, PdError *reterr)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == MONITOR_EXEC_TIMEOUT)
        return pd_error_set(reterr, -ETIMEDOUT, "exec in %s timed out", id);
    if (WIFEXITED(status) && WEXITSTATUS(status) == MONITOR_EXEC_FAILED)
        return pd_error_set(reterr, -EIO, "exec in %s failed", id);
    *ret_status = status;
    return 0;
}

static int native_container_exec_op(void *userdata, const char *id, char *const *argv,
                                    uint64_t timeout_usec, int *ret_status, PdError *reterr)
{
    NativeCtx *ctx = userdata;
    _cleanup_free_ char *cfg = NULL, **args = NULL;
    char timeout[32];
    int r, status = 0;

    if (!id_ok(id))
        return pd_error_set(reterr, -EINVAL, "bad container id '%s'", id);
    cfg = container_file(ctx, id, "config.json");
    args = cfg ? exec_args(cfg, argv, timeout, timeout_usec) : NULL;
    if (!cfg || !args)
        return -ENOMEM;
    r = run_monitor(ctx, args, -1, &status, reterr);
    if (r < 0)
        return r;
    return exec_status(id, status, ret_status, reterr);
}

static int native_container_exec_begin(void *userdata, const char *id, char *const *argv,
                                       uint64_t timeout_usec, int *ret_pidfd, int *ret_output_fd,
                                       int *ret_error_fd, PdError *reterr)
{
    NativeCtx *ctx = userdata;
    _cleanup_free_ char *cfg = NULL, **args = NULL;
    char timeout[32];
    int out[2], err[2] = {-1, -1}, fd, r;

    if (!id_ok(id))
        return pd_error_set(reterr, -EINVAL, "bad container id '%s'", id);
    cfg = container_file(ctx, id, "config.json");
    args = cfg ? exec_args(cfg, argv, timeout, timeout_usec) : NULL;
    if (!cfg || !args)
        return -ENOMEM;
    if (pipe2(out, O_CLOEXEC) < 0)
        return pd_error_set(reterr, -errno, "pipe: %s", RUNTIME_STRERROR(errno));
    if (ret_error_fd && pipe2(err, O_CLOEXEC) < 0) {
        r = -errno;
        close(out[0]);
        close(out[1]);
        return pd_error_set(reterr, r, "pipe: %s", RUNTIME_STRERROR(-r));
    }
    r = spawn_monitor_pidfd(ctx, args, -1, out[1], err[1], &fd, reterr);
    close(out[1]);
    if (err[1] >= 0)
        close(err[1]);
    if (r < 0) {
        close(out[0]);
        if (err[0] >= 0)
            close(err[0]);
        return r;
    }
    (void)fcntl(out[0], F_SETFL, O_NONBLOCK);
    *ret_pidfd = fd;
    *ret_output_fd = out[0];
    if (ret_error_fd) {
        (void)fcntl(err[0], F_SETFL, O_NONBLOCK);
        *ret_error_fd = err[0];
    }
    return 0;
}

static int native_container_exec_finish(void *userdata, const char *id, int pidfd, int *ret_status,
                                        PdError *reterr)
{
    siginfo_t si = {0};
    int status;

    (void)userdata;
    while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0)
        if (errno != EINTR)
            return pd_error_set(reterr, -errno, "wait for podd-monitor exec in %s: %s", id,
                                RUNTIME_STRERROR(errno));
    status = si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status & 0xff, 0) : si.si_status & 0x7f;
    if (si.si_code == CLD_EXITED && si.si_status == MONITOR_EXEC_FAILED)
        return pd_error_set(reterr, -EIO, "exec in %s failed", id);
    return exec_status(id, status, ret_status, reterr);
}

/*
 * The pod a container was started for, from the config.json written at its
 * start under this instance's run dir: its id must be the directory's (a
 * file copied from elsewhere is no record of ours) and end in
 * "_<pod>_<name>", the rest being the namespace. "" when any of it fails.
 * The version it was started with goes with it.
 */
static void native_container_owner(const char *cfg_path, const char *id,
                                   char owner[RUNTIME_OWNER_MAX], char version[RUNTIME_VERSION_MAX])
{
    _cleanup_(container_config_freep) ContainerConfig *c = NULL;
    _cleanup_free_ char *suffix = NULL;
    size_t n;

    owner[0] = version[0] = 0;
    if (container_config_load(cfg_path, &c, NULL) < 0 || !c->id || !c->pod || !c->name ||
        !streq(c->id, id))
        return;
    suffix = strdup_printf("_%s_%s", c->pod, c->name);
    if (!suffix || !endswith(id, suffix) || (n = strlen(id) - strlen(suffix)) == 0)
        return;
    (void)snprintf(owner, RUNTIME_OWNER_MAX, "%.*s/%s", (int)n, id, c->pod);
    if (c->version && strlen(c->version) < RUNTIME_VERSION_MAX)
        memcpy(version, c->version, strlen(c->version) + 1);
}

static int native_container_inspect(void *userdata, const char *id, ContainerStatus *ret,
                                    PdError *reterr)
{
    NativeCtx *ctx = userdata;
    _cleanup_free_ char *exitf = NULL, *monf = NULL, *pidf = NULL, *cfg = NULL, *dir = NULL;
    ContainerStatus s = {0};
    int fd, r;

    if (!id_ok(id))
        return pd_error_set(reterr, -EINVAL, "bad container id '%s'", id);
    exitf = container_file(ctx, id, "exit.json");
    monf = container_file(ctx, id, "monitor.pid");
    pidf = container_file(ctx, id, "container.pid");
    cfg = container_file(ctx, id, "config.json");
    dir = strdup_printf("%s/containers/%s", ctx->run_dir, id);
    if (!exitf || !monf || !pidf || !cfg || !dir)
        return -ENOMEM;
    (void)pid_file_read(monf, &s.monitor_pid, NULL);
    (void)pid_file_read(pidf, &s.pid, NULL);
    r = exit_record_read(exitf, &s.exit);
    if (r >= 0)
        s.state = CONTAINER_STATE_EXITED;
    else if (r != -ENOENT)
        return pd_error_set(reterr, r, "exit record %s: %s", exitf, RUNTIME_STRERROR(r));
    else if ((fd = pid_file_open_pidfd(monf, NULL)) >= 0) {
        close(fd);
        s.state = CONTAINER_STATE_RUNNING;
    } else if (container_lock_busy(dir))
        s.state = CONTAINER_STATE_STARTING;
    else if (access(cfg, F_OK) == 0)
        s.state = CONTAINER_STATE_CREATED;
    if (s.state != CONTAINER_STATE_UNKNOWN)
        native_container_owner(cfg, id, s.owner, s.version);
    *ret = s;
    return 0;
}

static int native_container_exit(void *userdata, const char *id, ExitRecord *ret)
{
    NativeCtx *ctx = userdata;
    _cleanup_free_ char *exitf = NULL;

    if (!id_ok(id))
        return -EINVAL;
    exitf = container_file(ctx, id, "exit.json");
    if (!exitf)
        return -ENOMEM;
    return exit_record_read(exitf, ret);
}

/* The run's records, unlinked in this order: the exit record last, the proof of the end. */
static const char *const run_records[] = {"container.pid", "monitor.pid", "config.json",
                                          "exit.json"};

/*
 * The cgroup of id's run, as its config.json cfg names it (NULL: none, or no
 * config). One we wrote (written) names ours, which we know without reading it.
 */
static char *container_cgroup(const NativeCtx *ctx, const WrittenConfig *written, const char *id,
                              const char *cfg)
{
    _cleanup_(container_config_freep) ContainerConfig *c = NULL;

    if (written)
        return runtime_container_cgroup(ctx->cgroup_parent, id);
    if (container_config_load(cfg, &c, NULL) < 0 || !c->cgroup)
        return NULL;
    return move_ptr(c->cgroup);
}

/*
 * container_remove (keep_dir false) and container_recycle (true): they
 * differ in what goes once nothing runs and no monitor holds the files.
 */
static int native_container_clear(NativeCtx *ctx, const char *id, bool keep_dir, PdError *reterr)
{
    _cleanup_free_ char *cfg = NULL, *dir = NULL, *monf = NULL, *cgroup = NULL;
    _cleanup_close_ int lock = -1;
    WrittenConfig *w;
    int fd, r;

    if (!id_ok(id))
        return pd_error_set(reterr, -EINVAL, "bad container id '%s'", id);
    cfg = container_file(ctx, id, "config.json");
    monf = container_file(ctx, id, "monitor.pid");
    dir = strdup_printf("%s/containers/%s", ctx->run_dir, id);
    if (!cfg || !dir || !monf)
        return -ENOMEM;
    if (access(dir, F_OK) < 0) {
        /*
         * Gone with its records, maybe under a container that still runs
         * (the run directory emptied under us): what is left in its cgroup,
         * ours by its name, is killed as the cgroup goes.
         */
        cgroup = runtime_container_cgroup(ctx->cgroup_parent, id);
        r = cgroup ? cgroup_kill_try_remove(cgroup) : -ENOMEM;
        if (r < 0)
            return pd_error_set(reterr, r, "remove cgroup %s: %s", cgroup ? cgroup : id,
                                RUNTIME_STRERROR(r));
        written_drop(ctx, id);
        return 0;
    }
    /*
     * The monitor holds the lock from its start (its starter before it) to
     * its exit: when we get it at once, as after an exit we were told of,
     * there is no monitor to wait for, only what may be left in the cgroup.
     */
    lock = container_lock_try(dir);
    w = written_find(ctx, id);
    cgroup = container_cgroup(ctx, w, id, cfg);
    if (cgroup && !cgroup_is_below(ctx->cgroup_parent, cgroup))
        /*
         * Not this instance's cgroup (a config from before cgroups were per
         * instance, or a forged one): never signal or remove it. The
         * container's own first process is killed, after its start time.
         */
        (void)native_container_signal(ctx, id, SIGKILL, NULL);
    else if (cgroup) {
        if (lock != -EBUSY)
            /* No monitor to wait for: what may be left is killed as its cgroup goes. */
            r = cgroup_kill_try_remove(cgroup);
        else {
            /* Kill what runs; the monitor then records the exit and removes the cgroup. */
            (void)cgroup_kill(cgroup, SIGKILL);
            fd = pid_file_open_pidfd(monf, NULL);
            if (fd >= 0) {
                struct pollfd p = {.fd = fd, .events = POLLIN};

                (void)poll(&p, 1, 5000);
                close(fd);
            }
            r = cgroup_try_remove(cgroup);
        }
        /* The kernel frees a cgroup a moment after its last task: the caller retries. */
        if (r < 0)
            return pd_error_set(reterr, r, "remove cgroup %s: %s", cgroup, RUNTIME_STRERROR(r));
    }
    /* A monitor still starting (no cgroup yet) or finishing owns the files: not yet. */
    if (lock == -EBUSY)
        lock = container_lock_try(dir);
    if (lock == -EBUSY)
        return pd_error_set(reterr, -EBUSY, "container %s: its podd-monitor is still there", id);
    if (!keep_dir) {
        r = rm_rf_at(AT_FDCWD, dir);
        if (r < 0)
            return pd_error_set(reterr, r, "remove %s: %s", dir, RUNTIME_STRERROR(r));
        written_drop(ctx, id);
        return 0;
    }
    /*
     * Until the exit record goes, inspect says EXITED, as it does before a
     * removal; once it went, UNKNOWN: nothing of the run is left to be
     * taken for the next one's. upper/ and work/ stay for the next start,
     * which moves them aside (a fresh writable layer) and deletes them.
     */
    for (size_t i = 0; i < ELEMENTSOF(run_records); i++) {
        _cleanup_free_ char *path = container_file(ctx, id, run_records[i]);

        if (!path)
            return -ENOMEM;
        if (unlink(path) < 0 && errno != ENOENT)
            return pd_error_set(reterr, -errno, "remove %s: %s", path, RUNTIME_STRERROR(errno));
    }
    if (w)
        w->records_gone = true;
    return 0;
}

static int native_container_remove(void *userdata, const char *id, PdError *reterr)
{
    return native_container_clear(userdata, id, false, reterr);
}

static int native_container_recycle(void *userdata, const char *id, PdError *reterr)
{
    return native_container_clear(userdata, id, true, reterr);
}

const RuntimeOps runtime_native_ops = {
    .name = "native",
    .init = native_init,
    .done = native_done,
    .pod_create = native_pod_create,
    .pod_destroy = native_pod_destroy,
    .container_start_begin = native_container_start_begin,
    .container_start_finish = native_container_start_finish,
    .container_signal = native_container_signal,
    .container_exec = native_container_exec_op,
    .container_exec_begin = native_container_exec_begin,
    .container_exec_finish = native_container_exec_finish,
    .container_remove = native_container_remove,
    .container_recycle = native_container_recycle,
    .container_inspect = native_container_inspect,
    .container_exit = native_container_exit,
};

const RuntimeOps *const runtime_table[] = {
    &runtime_native_ops,
    NULL,
};

const RuntimeOps *runtime_find(const char *name)
{
    for (size_t i = 0; name && runtime_table[i]; i++)
        if (streq(runtime_table[i]->name, name))
            return runtime_table[i];
    return NULL;
}

static const RuntimeMonitorOps *const runtime_monitor_table[] = {
    &runtime_native_monitor_ops,
    NULL,
};

const RuntimeMonitorOps *runtime_monitor_find(const char *name)
{
    for (size_t i = 0; name && runtime_monitor_table[i]; i++)
        if (streq(runtime_monitor_table[i]->name, name))
            return runtime_monitor_table[i];
    return NULL;
}

int runtime_container_start(const RuntimeOps *ops, void *ctx, const Pod *pod, const Container *c,
                            const RuntimeImage *image, int *ret_pidfd, PdError *reterr)
{
    _cleanup_free_ char *id = runtime_container_id(pod, c);
    _cleanup_close_ int starter = -1;
    struct pollfd p;
    int r;

    if (!id)
        return -ENOMEM;
    r = ops->container_start_begin(ctx, pod, c, image, NULL, &starter, reterr);
    if (r < 0)
        return r;
    p = (struct pollfd){.fd = starter, .events = POLLIN};
    /* Should poll fail, finish (owed once per begin) waits for the starter itself. */
    while (poll(&p, 1, -1) < 0 && errno == EINTR)
        ;
    return ops->container_start_finish(ctx, id, starter, ret_pidfd, reterr);
}
