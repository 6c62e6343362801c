/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fake backend (runtime.h): records calls, replays scripts. Its
 * starters and monitors are trivial child processes blocked in read() on a
 * pipe whose write end the fake holds: closing it ends them, and they end
 * by themselves when the test process dies.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "runtime-internal.h"

typedef struct FakeProc {
    pid_t pid;
    int pidfd; /* ours; callers get duplicates */
    int ctl;   /* the pipe's write end: closing it ends the process */
} FakeProc;

typedef enum FakeState {
    FAKE_NONE,
    FAKE_STARTING,
    FAKE_RUNNING,
    FAKE_EXITED,
} FakeState;

typedef struct FakeCtr {
    char *id;
    char owner[RUNTIME_OWNER_MAX];     /* "<namespace>/<pod>" of the last start */
    char version[RUNTIME_VERSION_MAX]; /* ContainerConfig.version of the last start */
    RuntimeFakeScript script;
    FakeState state;
    bool held; /* its starter waits for runtime_fake_release_start() */
    FakeProc starter, monitor;
    unsigned busy_left;
    ExitRecord exit;
} FakeCtr;

typedef struct FakeCtx {
    FakeCtr **ctrs;
    size_t n_ctrs;
    char **calls;
    size_t n_calls;
} FakeCtx;

static void now_rfc3339(char buf[40])
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    format_rfc3339_nano(&ts, buf, 40);
}

static int fake_proc_spawn(FakeProc *ret)
{
    int p[2], pidfd, r;
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    pid = fork();
    if (pid < 0) {
        r = -errno;
        close(p[0]);
        close(p[1]);
        return r;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        char b;

        /* Nothing of the test's (pipes of other fake processes, its output) stays open here. */
        (void)dup2(p[0], 0);
        if (null >= 0) {
            (void)dup2(null, 1);
            (void)dup2(null, 2);
        }
        (void)close_range(3, ~0U, 0);
        while (read(0, &b, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(p[0]);
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        r = -errno;
        close(p[1]);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return r;
    }
    *ret = (FakeProc){.pid = pid, .pidfd = pidfd, .ctl = p[1]};
    return 0;
}

/* Lets the process end (it exits on EOF). */
static void fake_proc_end(FakeProc *p)
{
    if (p->ctl >= 0)
        close(p->ctl);
    p->ctl = -1;
}

/* Ends and reaps it. */
static void fake_proc_reap(FakeProc *p)
{
    siginfo_t si;

    fake_proc_end(p);
    if (p->pidfd < 0)
        return;
    while (waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si, WEXITED) < 0 && errno == EINTR)
        ;
    close(p->pidfd);
    *p = (FakeProc){.pidfd = -1, .ctl = -1};
}

static int dup_cloexec(int fd)
{
    int r = fcntl(fd, F_DUPFD_CLOEXEC, 3);

    return r < 0 ? -errno : r;
}

static FakeCtr *fake_find(FakeCtx *ctx, const char *id)
{
    for (size_t i = 0; i < ctx->n_ctrs; i++)
        if (streq(ctx->ctrs[i]->id, id))
            return ctx->ctrs[i];
    return NULL;
}

static FakeCtr *fake_get(FakeCtx *ctx, const char *id)
{
    FakeCtr *c = fake_find(ctx, id), **a;

    if (c)
        return c;
    a = realloc(ctx->ctrs, (ctx->n_ctrs + 1) * sizeof(*a));
    if (!a)
        return NULL;
    ctx->ctrs = a;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->id = strdup(id);
    if (!c->id) {
        free(c);
        return NULL;
    }
    c->starter = c->monitor = (FakeProc){.pidfd = -1, .ctl = -1};
    ctx->ctrs[ctx->n_ctrs++] = c;
    return c;
}

static void fake_record(FakeCtx *ctx, const char *fmt, ...) _printf_(2, 3);
static void fake_record(FakeCtx *ctx, const char *fmt, ...)
{
    char **a;
    char *s;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    a = s ? realloc(ctx->calls, (ctx->n_calls + 2) * sizeof(*a)) : NULL;
    if (!a) {
        /* A test that runs out of memory fails on the count it then sees. */
        free(s);
        return;
    }
    ctx->calls = a;
    ctx->calls[ctx->n_calls++] = s;
    ctx->calls[ctx->n_calls] = NULL;
}

/* The container ends with the record e: its monitor exits. */
static void fake_end(FakeCtr *c, int exit_code, int sig, bool oom)
{
    c->exit.exit_code = sig ? 128 + sig : exit_code;
    c->exit.signal = sig;
    c->exit.oom_killed = oom;
    now_rfc3339(c->exit.finished_at);
    (void)snprintf(c->exit.reason, sizeof(c->exit.reason), "%s",
                   oom                      ? "OOMKilled"
                   : c->exit.exit_code == 0 ? "Completed"
                                            : "Error");
    c->exit.message[0] = 0;
    c->state = FAKE_EXITED;
    fake_proc_reap(&c->monitor);
}

static void fake_done(void *userdata)
{
    FakeCtx *ctx = userdata;

    if (!ctx)
        return;
    for (size_t i = 0; i < ctx->n_ctrs; i++) {
        fake_proc_reap(&ctx->ctrs[i]->starter);
        fake_proc_reap(&ctx->ctrs[i]->monitor);
        free(ctx->ctrs[i]->id);
        free(ctx->ctrs[i]);
    }
    free(ctx->ctrs);
    strv_free(ctx->calls);
    free(ctx);
}

static int fake_init(void **ret_ctx, const RuntimeConfig *cfg, PdError *reterr)
{
    FakeCtx *ctx = calloc(1, sizeof(*ctx));

    (void)cfg;
    (void)reterr;
    if (!ctx)
        return -ENOMEM;
    *ret_ctx = ctx;
    return 0;
}

static char *pod_key(const Pod *pod)
{
    return strdup_printf("%s_%s", pod->namespace ? pod->namespace : "default", pod->name);
}

static int fake_pod_create(void *userdata, const Pod *pod, PdError *reterr)
{
    FakeCtx *ctx = userdata;
    _cleanup_free_ char *key = pod_key(pod);
    FakeCtr *s;

    if (!key)
        return -ENOMEM;
    fake_record(ctx, "pod_create %s", key);
    s = fake_find(ctx, key);
    if (s && s->script.pod_create_error < 0)
        return pd_error_set(reterr, s->script.pod_create_error, "fake: pod %s: scripted failure",
                            key);
    return 0;
}

static int fake_pod_destroy(void *userdata, const Pod *pod, PdError *reterr)
{
    FakeCtx *ctx = userdata;
    _cleanup_free_ char *key = pod_key(pod);

    (void)reterr;
    if (!key)
        return -ENOMEM;
    fake_record(ctx, "pod_destroy %s", key);
    return 0;
}

static int fake_start_begin(void *userdata, const Pod *pod, const Container *ct,
                            const RuntimeImage *image, const char *version, int *ret_starter_pidfd,
                            PdError *reterr)
{
    FakeCtx *ctx = userdata;
    _cleanup_free_ char *id = runtime_container_id(pod, ct);
    FakeCtr *c;
    int r, fd;

    (void)image;
    if (!id)
        return -ENOMEM;
    fake_record(ctx, "container_start_begin %s", id);
    c = fake_get(ctx, id);
    if (!c)
        return -ENOMEM;
    if (c->state == FAKE_STARTING || c->state == FAKE_RUNNING)
        return pd_error_set(reterr, -EBUSY, "container %s: another podd-monitor is starting it",
                            id);
    r = fake_proc_spawn(&c->starter);
    if (r < 0)
        return pd_error_set(reterr, r, "fake: fork: %s", RUNTIME_STRERROR(r));
    fd = dup_cloexec(c->starter.pidfd);
    if (fd < 0) {
        fake_proc_reap(&c->starter);
        return fd;
    }
    (void)snprintf(c->owner, sizeof(c->owner), "%s/%s", pod->namespace ? pod->namespace : "default",
                   pod->name);
    (void)snprintf(c->version, sizeof(c->version), "%s", version ? version : "");
    c->state = FAKE_STARTING;
    c->exit = (ExitRecord){.exit_code = -1};
    now_rfc3339(c->exit.started_at);
    c->held = c->script.hold_start;
    if (!c->held)
        fake_proc_end(&c->starter);
    *ret_starter_pidfd = fd;
    return 0;
}

static int fake_start_finish(void *userdata, const char *id, int starter_pidfd, int *ret_pidfd,
                             PdError *reterr)
{
    FakeCtx *ctx = userdata;
    FakeCtr *c = fake_find(ctx, id);
    int r, fd;

    (void)starter_pidfd;
    fake_record(ctx, "container_start_finish %s", id);
    if (!c || c->state != FAKE_STARTING)
        return pd_error_set(reterr, -EINVAL, "fake: no start of %s to finish", id);
    if (c->held)
        return pd_error_set(reterr, -EAGAIN, "fake: the start of %s is still held", id);
    fake_proc_reap(&c->starter);
    if (c->script.start_error < 0) {
        c->state = c->script.start_error == -EIO ? FAKE_EXITED : FAKE_NONE;
        c->exit.exit_code = 128;
        now_rfc3339(c->exit.finished_at);
        (void)snprintf(c->exit.reason, sizeof(c->exit.reason), "StartError");
        (void)snprintf(c->exit.message, sizeof(c->exit.message),
                       "fake: start of %s failed (scripted)", id);
        return pd_error_set(reterr, c->script.start_error, "%s", c->exit.message);
    }
    if (c->script.exit_on_start) {
        fake_end(c, c->script.exit_code, 0, false);
        return pd_error_set(reterr, -ESRCH, "container %s exited before it could be watched", id);
    }
    r = fake_proc_spawn(&c->monitor);
    if (r < 0) {
        c->state = FAKE_NONE;
        return pd_error_set(reterr, r, "fake: fork: %s", RUNTIME_STRERROR(r));
    }
    fd = dup_cloexec(c->monitor.pidfd);
    if (fd < 0) {
        fake_proc_reap(&c->monitor);
        c->state = FAKE_NONE;
        return fd;
    }
    c->state = FAKE_RUNNING;
    *ret_pidfd = fd;
    return 0;
}

static int fake_signal(void *userdata, const char *id, int sig, PdError *reterr)
{
    FakeCtx *ctx = userdata;
    FakeCtr *c = fake_find(ctx, id);

    fake_record(ctx, "container_signal %s %d", id, sig);
    if (!c || c->state != FAKE_RUNNING)
        return pd_error_set(reterr, -ESRCH, "container %s is not running", id);
    if (sig != 0 && (sig == SIGKILL || !c->script.ignore_sigterm))
        fake_end(c, 0, sig, false);
    return 0;
}

static int fake_exec(void *userdata, const char *id, char *const *argv, uint64_t timeout_usec,
                     int *ret_status, PdError *reterr)
{
    FakeCtx *ctx = userdata;
    FakeCtr *c = fake_find(ctx, id);

    (void)timeout_usec;
    fake_record(ctx, "container_exec %s %s", id, argv && argv[0] ? argv[0] : "");
    if (!c || c->state != FAKE_RUNNING)
        return pd_error_set(reterr, -EIO, "exec in %s failed", id);
    *ret_status = W_EXITCODE(c->script.exec_exit_code & 0xff, 0);
    return 0;
}

/*
 * A real child that prints "fake exec ARGV0" (on stdout) and exits with the
 * scripted code at once; with ret_error_fd, "fake exec stderr" on stderr too.
 */
static int fake_exec_begin(void *userdata, const char *id, char *const *argv, uint64_t timeout_usec,
                           int *ret_pidfd, int *ret_output_fd, int *ret_error_fd, PdError *reterr)
{
    FakeCtx *ctx = userdata;
    FakeCtr *c = fake_find(ctx, id);
    int out[2], err[2] = {-1, -1}, pidfd, r;
    pid_t pid;

    (void)timeout_usec;
    fake_record(ctx, "container_exec_begin %s %s", id, argv && argv[0] ? argv[0] : "");
    if (!c || c->state != FAKE_RUNNING)
        return pd_error_set(reterr, -EIO, "exec in %s failed", id);
    if (pipe2(out, O_CLOEXEC) < 0)
        return -errno;
    if (ret_error_fd && pipe2(err, O_CLOEXEC) < 0) {
        r = -errno;
        close(out[0]);
        close(out[1]);
        return r;
    }
    pid = fork();
    if (pid < 0) {
        r = -errno;
        close(out[0]);
        close(out[1]);
        if (err[0] >= 0) {
            close(err[0]);
            close(err[1]);
        }
        return r;
    }
    if (pid == 0) {
        (void)dprintf(out[1], "fake exec %s\n", argv && argv[0] ? argv[0] : "");
        if (err[1] >= 0)
            (void)dprintf(err[1], "fake exec stderr\n");
        _exit(c->script.exec_exit_code & 0xff);
    }
    close(out[1]);
    if (err[1] >= 0)
        close(err[1]);
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        r = -errno;
        close(out[0]);
        if (err[0] >= 0)
            close(err[0]);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return r;
    }
    (void)fcntl(out[0], F_SETFL, O_NONBLOCK);
    *ret_pidfd = pidfd;
    *ret_output_fd = out[0];
    if (ret_error_fd) {
        (void)fcntl(err[0], F_SETFL, O_NONBLOCK);
        *ret_error_fd = err[0];
    }
    return 0;
}

static int fake_exec_finish(void *userdata, const char *id, int pidfd, int *ret_status,
                            PdError *reterr)
{
    siginfo_t si = {0};

    fake_record(userdata, "container_exec_finish %s", id);
    while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0)
        if (errno != EINTR)
            return pd_error_set(reterr, -errno, "wait: %s", strerror(errno));
    *ret_status =
        si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status & 0xff, 0) : si.si_status & 0x7f;
    return 0;
}

static int fake_clear(FakeCtx *ctx, const char *id, PdError *reterr)
{
    FakeCtr *c = fake_find(ctx, id);

    if (!c || c->state == FAKE_NONE)
        return 0;
    if (c->state == FAKE_RUNNING)
        fake_end(c, 0, SIGKILL, false);
    if (c->state == FAKE_STARTING)
        return pd_error_set(reterr, -EBUSY, "container %s: its podd-monitor is still there", id);
    if (c->busy_left > 0) {
        c->busy_left--;
        return pd_error_set(reterr, -EBUSY, "remove cgroup of %s: device or resource busy", id);
    }
    c->state = FAKE_NONE;
    c->exit = (ExitRecord){0};
    c->busy_left = c->script.remove_busy;
    return 0;
}

static int fake_remove(void *userdata, const char *id, PdError *reterr)
{
    fake_record(userdata, "container_remove %s", id);
    return fake_clear(userdata, id, reterr);
}

/* Nothing of a run is left either way: only the call's name differs. */
static int fake_recycle(void *userdata, const char *id, PdError *reterr)
{
    fake_record(userdata, "container_recycle %s", id);
    return fake_clear(userdata, id, reterr);
}

static int fake_inspect(void *userdata, const char *id, ContainerStatus *ret, PdError *reterr)
{
    FakeCtx *ctx = userdata;
    FakeCtr *c = fake_find(ctx, id);
    ContainerStatus s = {0};

    (void)reterr;
    fake_record(ctx, "container_inspect %s", id);
    if (c && c->state == FAKE_STARTING)
        s.state = CONTAINER_STATE_STARTING;
    else if (c && c->state == FAKE_RUNNING) {
        s.state = CONTAINER_STATE_RUNNING;
        s.monitor_pid = s.pid = c->monitor.pid;
    } else if (c && c->state == FAKE_EXITED) {
        s.state = CONTAINER_STATE_EXITED;
        s.exit = c->exit;
    }
    if (s.state != CONTAINER_STATE_UNKNOWN) {
        (void)snprintf(s.owner, sizeof(s.owner), "%s", c->owner);
        (void)snprintf(s.version, sizeof(s.version), "%s", c->version);
    }
    *ret = s;
    return 0;
}

const RuntimeOps runtime_fake_ops = {
    .name = "fake",
    .init = fake_init,
    .done = fake_done,
    .pod_create = fake_pod_create,
    .pod_destroy = fake_pod_destroy,
    .container_start_begin = fake_start_begin,
    .container_start_finish = fake_start_finish,
    .container_signal = fake_signal,
    .container_exec = fake_exec,
    .container_exec_begin = fake_exec_begin,
    .container_exec_finish = fake_exec_finish,
    .container_remove = fake_remove,
    .container_recycle = fake_recycle,
    .container_inspect = fake_inspect,
};

int runtime_fake_script(void *userdata, const char *id, const RuntimeFakeScript *script)
{
    FakeCtr *c = fake_get(userdata, id);

    if (!c)
        return -ENOMEM;
    c->script = *script;
    if (c->state == FAKE_NONE || c->state == FAKE_EXITED)
        c->busy_left = script->remove_busy;
    return 0;
}

int runtime_fake_exit(void *userdata, const char *id, int exit_code, int signal, bool oom_killed)
{
    FakeCtr *c = fake_find(userdata, id);

    if (!c || c->state != FAKE_RUNNING)
        return -ESRCH;
    fake_end(c, exit_code, signal, oom_killed);
    return 0;
}

int runtime_fake_release_start(void *userdata, const char *id)
{
    FakeCtr *c = fake_find(userdata, id);

    if (!c || c->state != FAKE_STARTING || !c->held)
        return -ESRCH;
    c->held = false;
    fake_proc_end(&c->starter);
    return 0;
}

char *const *runtime_fake_calls(void *userdata)
{
    FakeCtx *ctx = userdata;
    static char *const none[] = {NULL};

    return ctx->calls ? ctx->calls : none;
}

void runtime_fake_calls_clear(void *userdata)
{
    FakeCtx *ctx = userdata;

    ctx->calls = strv_free(ctx->calls);
    ctx->n_calls = 0;
}

size_t runtime_fake_count(void *userdata, const char *call)
{
    FakeCtx *ctx = userdata;
    size_t n = 0, len = strlen(call);

    for (size_t i = 0; i < ctx->n_calls; i++)
        if (strncmp(ctx->calls[i], call, len) == 0 &&
            (ctx->calls[i][len] == 0 || ctx->calls[i][len] == ' '))
            n++;
    return n;
}
