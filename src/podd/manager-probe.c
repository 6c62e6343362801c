/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "manager-internal.h"
#include "probe/probe.h"

/*
 * A container's probes, run from the loop. The bookkeeping (when each is
 * due, what its results mean) is reconcile-probe.c's; here are the runs:
 * one timer per running container armed for the next due probe, tcpSocket
 * and httpGet through src/probe/ in the pod's network namespace (podd's with
 * hostNetwork), exec through the runtime's asynchronous exec, whose output
 * is read up to PROBE_EXEC_OUTPUT_MAX bytes and the rest drained and
 * dropped. An exec hook's stdout and stderr come on two pipes and what is
 * kept of them (the same cap) is also appended to the container's log,
 * each line with its stream, as podd-monitor writes the container's own
 * output. What a result means goes into the lifecycle as events
 * (STARTUP_PASSED, READY, UNREADY, UNHEALTHY) through ctr_feed_probe().
 *
 * Everything a run calls back with points at the CtrProbeRuns, which is
 * allocated once per container record: records move in memory
 * (pod_rec_apply_plan), this does not.
 */

/* The most of an exec probe's output kept (the kubelet's limit); the rest is read and dropped. */
#define PROBE_EXEC_OUTPUT_MAX (10u * 1024u)
/* An exec run whose podd-monitor outlives its timeout by this much is killed from here. */
#define PROBE_EXEC_GRACE_USEC (5 * 1000000ull)
/* How much of what is left in the pipe one exit reads before it gives up on it. */
#define PROBE_EXEC_DRAIN_MAX (256u * 1024u)
/*
 * Probe runs start on ticks of this grid of the monotonic clock: a run due
 * between two ticks waits for the next one (at most this long), so the
 * runs of all containers due in the same tick start from one wake-up of
 * podd, not one each. A run begun at a tick counts its period from the
 * tick, so the next run of a period that is a multiple of the tick (every
 * period: whole seconds) is due on a tick again: the wait is once, not
 * once per period. Timeouts are not rounded.
 */
#define PROBE_TICK_USEC (100u * 1000u)

enum { STREAM_OUT, STREAM_ERR, _STREAMS };
static const char *const stream_name[_STREAMS] = {"stdout", "stderr"};

typedef struct ProbeFlight {
    CtrProbeRuns *owner;
    ProbeKind kind;
    ProbeRun *net;
    LoopSource *child;         /* exec: podd-monitor exec */
    LoopSource *out[_STREAMS]; /* exec: its output (a probe's stderr comes with its stdout) */
    int out_fd[_STREAMS];      /* -1: none */
    uint64_t kill_at;          /* exec: the backstop past its timeout; 0 none */
    char *buf;                 /* exec: PROBE_EXEC_OUTPUT_MAX + 1, kept from run to run */
    size_t len;
    CriLog log;                 /* exec hook: the container's log; fd -1 otherwise */
    bool log_partial[_STREAMS]; /* the last record written of the stream is partial (P) */
} ProbeFlight;

/* The slot of the hook in flight, beside the probes'. */
#define HOOK_SLOT _PROBE_KIND_MAX

struct CtrProbeRuns {
    Ctr *c;
    CtrProbes book;
    bool active;
    LoopSource *timer;
    int netns_fd; /* -1: podd's own (hostNetwork); -2: none could be opened */
    char netns_error[96];
    ProbeFlight flight[_PROBE_KIND_MAX + 1]; /* by kind, then the hook */
    bool hook_pre_stop;                      /* the hook in flight is preStop (else postStart) */
    bool hook_sleeping;                      /* ... is a sleep, over at flight[HOOK_SLOT].kill_at */
};

static void flight_end(ProbeFlight *f)
{
    f->net = probe_cancel(f->net);
    for (int s = 0; s < _STREAMS; s++)
        f->out[s] = loop_source_unref(f->out[s]);
    if (f->child) {
        int pidfd = loop_child_get_pidfd(f->child);

        /* Cancelled while it runs: it dies (and its command with it), and is reaped here. */
        if (pidfd >= 0) {
            siginfo_t si;

            (void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
            while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
                ;
        }
        f->child = loop_source_unref(f->child);
    }
    for (int s = 0; s < _STREAMS; s++) {
        if (f->out_fd[s] >= 0)
            close(f->out_fd[s]);
        f->out_fd[s] = -1;
        /* A line cut by the end of the output or the cap is ended, not glued to the next. */
        if (f->log_partial[s] && f->log.fd >= 0)
            (void)cri_log_write(&f->log, 0, stream_name[s], false, "", 0);
        f->log_partial[s] = false;
    }
    if (f->log.fd >= 0)
        cri_log_done(&f->log);
    /* buf stays for the next run: a probe every period need not allocate every period. */
    f->len = 0;
    f->kill_at = 0;
}

static void runs_cancel_all(CtrProbeRuns *ps)
{
    for (ProbeKind k = 0; k < _PROBE_KIND_MAX; k++)
        flight_end(&ps->flight[k]);
}

void ctr_probes_free(Ctr *c)
{
    CtrProbeRuns *ps = c->probes;

    if (!ps)
        return;
    runs_cancel_all(ps);
    flight_end(&ps->flight[HOOK_SLOT]);
    for (size_t k = 0; k <= HOOK_SLOT; k++)
        free(ps->flight[k].buf);
    ps->timer = loop_source_unref(ps->timer);
    if (ps->netns_fd >= 0)
        close(ps->netns_fd);
    free(ps);
    c->probes = NULL;
}

void ctr_probes_moved(Ctr *c)
{
    if (c->probes)
        c->probes->c = c;
}

/* The first tick at or after t. */
static uint64_t probe_tick_after(uint64_t t)
{
    return t > UINT64_MAX - PROBE_TICK_USEC
               ? t
               : (t + PROBE_TICK_USEC - 1) / PROBE_TICK_USEC * PROBE_TICK_USEC;
}

static void runs_arm(CtrProbeRuns *ps)
{
    uint64_t next = ps->active ? reconcile_probes_next_due(&ps->book, NULL) : UINT64_MAX;

    if (next != UINT64_MAX)
        next = probe_tick_after(next);

    for (size_t k = 0; k <= HOOK_SLOT; k++)
        if (ps->flight[k].kill_at && ps->flight[k].kill_at < next)
            next = ps->flight[k].kill_at;
    (void)loop_timer_set(ps->timer, next == UINT64_MAX ? LOOP_TIME_INFINITY : next);
}

/* Whether the counts a new podd resumes from changed enough to write them. */
static bool counts_changed(const ProbeCounts *a, const ProbeCounts *b, const CtrProbes *p)
{
    const ProbeTrack *ready = &p->track[PROBE_KIND_READINESS];

    if (a->started != b->started || a->ready != b->ready)
        return true;
    for (ProbeKind k = 0; k < _PROBE_KIND_MAX; k++)
        if (a->failures[k] != b->failures[k])
            return true;
    /* Successes only count toward readiness below its threshold. */
    return a->successes[PROBE_KIND_READINESS] != b->successes[PROBE_KIND_READINESS] &&
           a->successes[PROBE_KIND_READINESS] <= ready->success_threshold;
}

/* What a result means for the container: events, and the lifecycle's inputs. */
static void runs_apply(CtrProbeRuns *ps, ProbeKind k, int fx)
{
    Ctr *c = ps->c;
    PodRec *pr = c->pod;
    char text[PROBE_EXCERPT_MAX + 64];

    if (fx <= 0)
        return;
    if (fx & PROBE_EFFECT_UNHEALTHY) {
        (void)reconcile_probe_event_text(&ps->book, k, text, sizeof(text));
        manager_event(pr->m, pr, c->name, "Warning", "Unhealthy", "%s", text);
    }
    if (fx & PROBE_EFFECT_STARTED)
        ctr_feed_probe(c, &(CtrEvent){.type = CTR_EV_STARTUP_PASSED});
    if (fx & PROBE_EFFECT_READY)
        ctr_feed_probe(c, &(CtrEvent){.type = CTR_EV_READY});
    if (fx & PROBE_EFFECT_UNREADY)
        ctr_feed_probe(c, &(CtrEvent){.type = CTR_EV_UNREADY});
    if (fx & PROBE_EFFECT_KILL) {
        int64_t grace = ps->book.track[k].grace_seconds;
        CtrEvent ev = {.type = CTR_EV_UNHEALTHY, .grace_set = grace >= 0};

        if (grace >= 0)
            ev.grace_usec = (uint64_t)grace * 1000000ull;
        c->kill_text = reconcile_probe_kill_text(k);
        c->kill_grace_seconds = grace >= 0 ? grace : c->grace_seconds;
        ctr_feed_probe(c, &ev);
    }
    manager_mark_dirty(pr);
}

static void runs_result(CtrProbeRuns *ps, ProbeKind k, ProbeResult r, const char *excerpt)
{
    ProbeCounts before, after;
    int fx;

    /* Each result shows in the view (its counts, lastResult), whatever its effect. */
    pod_rec_view_changed(ps->c->pod);
    reconcile_probes_save(&ps->book, &before);
    fx = reconcile_probe_result(&ps->book, k, r, excerpt, now_monotonic_usec());
    if (fx < 0)
        return;
    reconcile_probes_save(&ps->book, &after);
    if (counts_changed(&before, &after, &ps->book))
        ps->c->pod->save_due = true;
    runs_apply(ps, k, fx);
    if (ps->c->pod->save_due)
        manager_mark_dirty(ps->c->pod);
    runs_arm(ps);
}

/* Appends what was kept of one read to the container's log: whole lines, then a partial one. */
static void exec_log(ProbeFlight *f, int s, const char *text, size_t len)
{
    const char *nl;

    if (f->log.fd < 0)
        return;
    while (len > 0 && (nl = memchr(text, '\n', len))) {
        size_t n = (size_t)(nl - text);

        (void)cri_log_write(&f->log, 0, stream_name[s], false, text, n);
        f->log_partial[s] = false;
        text += n + 1;
        len -= n + 1;
    }
    if (len > 0) {
        (void)cri_log_write(&f->log, 0, stream_name[s], true, text, len);
        f->log_partial[s] = true;
    }
}

/* Reads what the command wrote on stream s: kept up to the cap, the rest dropped. False at EOF. */
static bool exec_read(ProbeFlight *f, int s, size_t budget)
{
    char sink[4096];

    while (budget > 0) {
        char *dst = f->len < PROBE_EXEC_OUTPUT_MAX ? f->buf + f->len : sink;
        size_t room =
            f->len < PROBE_EXEC_OUTPUT_MAX ? PROBE_EXEC_OUTPUT_MAX - f->len : sizeof(sink);
        ssize_t n = read(f->out_fd[s], dst, room);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN;
        if (n == 0)
            return false;
        if (dst != sink) {
            exec_log(f, s, dst, (size_t)n);
            f->len += (size_t)n;
        }
        budget = (size_t)n < budget ? budget - (size_t)n : 0;
    }
    return true;
}

static void exec_output(ProbeFlight *f, int s)
{
    if (!exec_read(f, s, 64u * 1024u))
        f->out[s] = loop_source_unref(f->out[s]);
}

static int on_exec_stdout(LoopSource *s, int fd, uint32_t revents, void *userdata)
{
    exec_output(userdata, STREAM_OUT);
    return 0;
}

static int on_exec_stderr(LoopSource *s, int fd, uint32_t revents, void *userdata)
{
    exec_output(userdata, STREAM_ERR);
    return 0;
}

/* The excerpt of an exec run's output: its text, or how it ended when it said nothing. */
static void exec_excerpt(ProbeFlight *f, int status, char *buf, size_t size)
{
    size_t start = 0, end = f->len;

    /* One line of printable text, trimmed. */
    for (size_t i = 0; i < f->len; i++)
        if ((unsigned char)f->buf[i] < 0x20 || f->buf[i] == 0x7f)
            f->buf[i] = ' ';
    while (end > 0 && f->buf[end - 1] == ' ')
        end--;
    f->buf[end] = 0;
    while (start < end && f->buf[start] == ' ')
        start++;
    if (start < end)
        (void)snprintf(buf, size, "%s", f->buf + start);
    else if (WIFSIGNALED(status))
        (void)snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
    else
        (void)snprintf(buf, size, "exit code %d", WEXITSTATUS(status));
}

/* A hook returned: its events, then the lifecycle's input. */
static void hook_result(CtrProbeRuns *ps, bool ok, const char *excerpt)
{
    Ctr *c = ps->c;
    PodRec *pr = c->pod;

    ps->hook_sleeping = false;
    if (ps->hook_pre_stop) {
        if (!ok)
            manager_event(pr->m, pr, c->name, "Warning", "FailedPreStopHook",
                          "preStop hook failed: %s", excerpt);
        ctr_feed_probe(c, &(CtrEvent){.type = CTR_EV_HOOK_DONE});
    } else if (ok)
        ctr_feed_probe(c, &(CtrEvent){.type = CTR_EV_HOOK_DONE});
    else {
        manager_event(pr->m, pr, c->name, "Warning", "FailedPostStartHook",
                      "postStart hook failed: %s", excerpt);
        c->kill_text = "failed its postStart hook, will be restarted";
        c->kill_grace_seconds = c->grace_seconds;
        ctr_feed_probe(c, &(CtrEvent){.type = CTR_EV_HOOK_FAILED});
    }
    manager_mark_dirty(pr);
}

static void on_net_result(ProbeRun *run, ProbeResult result, const char *excerpt, void *userdata)
{
    ProbeFlight *f = userdata;

    f->net = probe_cancel(run);
    if (f == &f->owner->flight[HOOK_SLOT])
        hook_result(f->owner, result == PROBE_RESULT_SUCCESS, excerpt);
    else
        runs_result(f->owner, f->kind, result, excerpt);
}

static int on_exec_exit(LoopSource *s, int pidfd, pid_t pid, void *userdata)
{
    ProbeFlight *f = userdata;
    CtrProbeRuns *ps = f->owner;
    const RuntimeBackend *rt = pod_rt(ps->c->pod);
    char excerpt[PROBE_EXCERPT_MAX];
    PdError e = {0};
    ProbeResult result;
    int status = 0, r;

    for (int k = 0; k < _STREAMS; k++)
        if (f->out_fd[k] >= 0)
            (void)exec_read(f, k, PROBE_EXEC_DRAIN_MAX);
    r = rt ? rt->ops->container_exec_finish(rt->ctx, ps->c->id, pidfd, &status, &e) : -ESRCH;
    f->child = loop_source_unref(f->child);
    if (r == -ETIMEDOUT) {
        result = PROBE_RESULT_TIMEOUT;
        (void)snprintf(excerpt, sizeof(excerpt), "timed out after %" PRIu64 "s",
                       ps->book.track[f->kind].timeout / 1000000u);
    } else if (r < 0) {
        result = PROBE_RESULT_FAILURE;
        exec_excerpt(f, 0, excerpt, sizeof(excerpt));
        if (f->len == 0)
            (void)snprintf(excerpt, sizeof(excerpt), "%.*s", (int)sizeof(excerpt) - 1, e.message);
    } else {
        result = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? PROBE_RESULT_SUCCESS
                                                               : PROBE_RESULT_FAILURE;
        exec_excerpt(f, status, excerpt, sizeof(excerpt));
    }
    flight_end(f);
    if (f == &ps->flight[HOOK_SLOT])
        hook_result(ps, result == PROBE_RESULT_SUCCESS, excerpt);
    else
        runs_result(ps, f->kind, result, excerpt);
    return 0;
}

static int exec_launch(ProbeFlight *f, char **argv, uint64_t timeout, PdError *e)
{
    CtrProbeRuns *ps = f->owner;
    const RuntimeBackend *rt = pod_rt(ps->c->pod);
    Loop *loop = ps->c->pod->m->loop;
    bool hook = f == &ps->flight[HOOK_SLOT];
    int pidfd = -1, r;

    if (!rt)
        return pd_error_set(e, -ESRCH, "no runtime");
    if (!f->buf)
        f->buf = malloc(PROBE_EXEC_OUTPUT_MAX + 1);
    if (!f->buf)
        return pd_error_set(e, -ENOMEM, "out of memory");
    if (hook) {
        /*
         * A hook's output goes to the container's log too. Never rotated
         * from here (podd-monitor does it): a hook adds at most the cap.
         */
        _cleanup_free_ char *path = ctr_log_path(ps->c);

        r = path ? cri_log_open(&f->log, path, 0) : -ENOMEM;
        if (r < 0)
            log_warning("pod=%s/%s container=%s: cannot open its log for the hook's output: %s",
                        ps->c->pod->namespace, ps->c->pod->name, ps->c->name, strerror(-r));
    }
    r = rt->ops->container_exec_begin(rt->ctx, ps->c->id, argv, timeout, &pidfd,
                                      &f->out_fd[STREAM_OUT], hook ? &f->out_fd[STREAM_ERR] : NULL,
                                      e);
    if (r < 0)
        return r;
    r = loop_take_child_pidfd(loop, &f->child, pidfd, 0, on_exec_exit, f);
    if (r < 0) {
        /* Without a watch it is waited for here: the backend's timeout bounds it. */
        int status;

        (void)rt->ops->container_exec_finish(rt->ctx, ps->c->id, pidfd, &status, NULL);
        close(pidfd);
        return pd_error_set(e, r, "cannot watch the exec: %s", strerror(-r));
    }
    for (int s = 0; s < _STREAMS; s++)
        if (f->out_fd[s] >= 0 &&
            loop_add_io(loop, &f->out[s], f->out_fd[s], EPOLLIN,
                        s == STREAM_OUT ? on_exec_stdout : on_exec_stderr, f) < 0) {
            /* Unread, the output would block the command: dropped instead. */
            close(f->out_fd[s]);
            f->out_fd[s] = -1;
        }
    /* Hooks have no timeout of their own: the grace period (preStop) or nothing bounds them. */
    f->kill_at = timeout ? now_monotonic_usec() + timeout + PROBE_EXEC_GRACE_USEC : 0;
    return 0;
}

/*
 * podd's own network namespace, which a run comes back to after making its
 * socket in a pod's: opened once, at the first run that needs it. -1 when
 * it cannot be (the run then tries for itself, and says why it fails).
 */
static int manager_home_netns(Manager *m)
{
    if (m->home_netns_fd < 0)
        m->home_netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    return m->home_netns_fd;
}

/* A tcpSocket or httpGet run from netns_fd (as ctr_open_netns() returns); timeout 0: none. */
static int net_launch(ProbeFlight *f, int netns_fd, const char *netns_error, const Probe *spec,
                      uint64_t timeout, PdError *e)
{
    Manager *m = f->owner->c->pod->m;
    Loop *loop = m->loop;
    ProbeTarget t = {.netns_fd = netns_fd,
                     .home_netns_fd = netns_fd >= 0 ? manager_home_netns(m) : -1,
                     .host = spec->host,
                     .port = (uint16_t)spec->port,
                     .timeout_usec = timeout};
    int r;

    if (netns_fd == -2)
        return pd_error_set(e, -ESRCH, "%s", netns_error);
    if (spec->action == PROBE_ACTION_TCP_SOCKET)
        r = probe_tcp_start(loop, &t, on_net_result, f, &f->net);
    else {
        ProbeHttpRequest req = {
            .path = spec->path, .headers = spec->http_headers, .n_headers = spec->n_http_headers};

        r = probe_http_start(loop, &t, &req, on_net_result, f, &f->net);
    }
    if (r < 0)
        return pd_error_set(e, r, "cannot start the probe: %s", strerror(-r));
    return 0;
}

/*
 * Starts the runs that are due at now. Each counts its period from the
 * last tick before now when that is not before it was due (it waited for
 * that tick), else from now.
 */
static void runs_launch_due(CtrProbeRuns *ps, uint64_t now)
{
    uint64_t tick = now / PROBE_TICK_USEC * PROBE_TICK_USEC;

    for (ProbeKind k = 0; ps->active && k < _PROBE_KIND_MAX; k++) {
        ProbeFlight *f = &ps->flight[k];
        const Probe *spec = ps->c->spec ? reconcile_probe_spec(ps->c->spec, k) : NULL;
        uint64_t due = spec ? reconcile_probe_due(&ps->book, k) : UINT64_MAX;
        PdError e = {0};
        int r;

        if (!spec || due > now || reconcile_probe_begin(&ps->book, k, due <= tick ? tick : now) < 0)
            continue;
        r = spec->action == PROBE_ACTION_EXEC
                ? exec_launch(f, spec->exec_command, ps->book.track[k].timeout, &e)
                : net_launch(f, ps->netns_fd, ps->netns_error, spec, ps->book.track[k].timeout, &e);
        if (r < 0) {
            flight_end(f);
            runs_result(ps, k, PROBE_RESULT_FAILURE, e.message);
        }
    }
}

static int on_probe_timer(LoopSource *s, uint64_t deadline, void *userdata)
{
    CtrProbeRuns *ps = userdata;
    uint64_t now = now_monotonic_usec();

    /* A sleep hook is over. */
    if (ps->hook_sleeping && now >= ps->flight[HOOK_SLOT].kill_at) {
        flight_end(&ps->flight[HOOK_SLOT]);
        hook_result(ps, true, "");
    }
    /* A podd-monitor exec that outlived its own timeout: killed, and the run timed out. */
    for (ProbeKind k = 0; k < _PROBE_KIND_MAX; k++) {
        ProbeFlight *f = &ps->flight[k];
        char excerpt[PROBE_EXCERPT_MAX];

        if (!f->kill_at || now < f->kill_at)
            continue;
        (void)snprintf(excerpt, sizeof(excerpt), "timed out after %" PRIu64 "s",
                       ps->book.track[k].timeout / 1000000u);
        flight_end(f);
        runs_result(ps, k, PROBE_RESULT_TIMEOUT, excerpt);
    }
    runs_launch_due(ps, now);
    runs_arm(ps);
    return 0;
}

/*
 * The network namespace of c's pod, from the container's first process:
 * an fd the caller closes, -1 for podd's own (hostNetwork), or -2 with
 * why in err.
 */
static int ctr_open_netns(Ctr *c, char *err, size_t size)
{
    const RuntimeBackend *rt = pod_rt(c->pod);
    ContainerStatus cs = {0};
    char path[64];
    int fd;

    if (c->pod->pod && c->pod->pod->host_network)
        return -1;
    if (!rt || rt->ops->container_inspect(rt->ctx, c->id, &cs, NULL) < 0 || cs.pid <= 0) {
        (void)snprintf(err, size, "the container's network namespace is unknown");
        return -2;
    }
    (void)snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)cs.pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        (void)snprintf(err, size, "open %s: %s", path, strerror(errno));
        return -2;
    }
    return fd;
}

static bool spec_has_net_probe(const Container *spec)
{
    for (ProbeKind k = 0; k < _PROBE_KIND_MAX; k++) {
        ProbeAction a = reconcile_probe_spec(spec, k)->action;

        if (a == PROBE_ACTION_TCP_SOCKET || a == PROBE_ACTION_HTTP_GET)
            return true;
    }
    return false;
}

/* c's runs, made on first use; NULL (logged) when they cannot be. */
static CtrProbeRuns *runs_get(Ctr *c)
{
    CtrProbeRuns *ps = c->probes;

    if (ps)
        return ps;
    ps = calloc(1, sizeof(*ps));
    if (!ps) {
        log_error("pod=%s/%s container=%s: out of memory for its probes; continuing",
                  c->pod->namespace, c->pod->name, c->name);
        return NULL;
    }
    ps->c = c;
    ps->netns_fd = -1;
    for (size_t k = 0; k <= HOOK_SLOT; k++)
        ps->flight[k] = (ProbeFlight){
            .owner = ps, .kind = (ProbeKind)k, .out_fd = {-1, -1}, .log = {.fd = -1, .dir_fd = -1}};
    if (loop_add_timer(c->pod->m->loop, &ps->timer, LOOP_TIME_INFINITY, on_probe_timer, ps) < 0) {
        free(ps);
        log_error("pod=%s/%s container=%s: cannot arm its probes' timer; continuing",
                  c->pod->namespace, c->pod->name, c->name);
        return NULL;
    }
    c->probes = ps;
    return ps;
}

void ctr_hook_start(Ctr *c, bool pre_stop)
{
    CtrProbeRuns *ps = runs_get(c);
    const LifecycleHandler *h = pre_stop ? &c->pre_stop : c->spec ? &c->spec->post_start : NULL;
    ProbeFlight *f;
    PdError e = {0};

    if (!ps || !h) {
        /* Nothing can run it: it counts as returned, so that the stop or start goes on. */
        ctr_feed_probe(c, &(CtrEvent){.type = CTR_EV_HOOK_DONE});
        return;
    }
    f = &ps->flight[HOOK_SLOT];
    flight_end(f);
    ps->hook_pre_stop = pre_stop;
    ps->hook_sleeping = false;
    if (h->http_get.action == PROBE_ACTION_HTTP_GET) {
        /* No timeout of its own: the grace period cuts preStop, nothing cuts postStart. */
        char err[96] = "";
        int netns_fd = ctr_open_netns(c, err, sizeof(err));

        if (net_launch(f, netns_fd, err, &h->http_get, 0, &e) < 0) {
            flight_end(f);
            hook_result(ps, false, e.message);
        }
        if (netns_fd >= 0)
            close(netns_fd);
        return;
    }
    if (!h->exec_command) {
        ps->hook_sleeping = true;
        f->kill_at = now_monotonic_usec() + (uint64_t)h->sleep_seconds * 1000000ull;
        runs_arm(ps);
        return;
    }
    if (exec_launch(f, h->exec_command, 0, &e) < 0) {
        flight_end(f);
        hook_result(ps, false, e.message);
    }
}

void ctr_hook_cancel(Ctr *c)
{
    if (!c->probes)
        return;
    c->probes->hook_sleeping = false;
    flight_end(&c->probes->flight[HOOK_SLOT]);
    runs_arm(c->probes);
}

void ctr_probes_start(Ctr *c, bool adopted)
{
    CtrProbeRuns *ps;
    uint64_t now = now_monotonic_usec();
    unsigned fx;

    if (!c->spec || !(ps = runs_get(c)) || ps->active)
        return;
    ps->c = c;
    ps->active = true;
    pod_rec_view_changed(c->pod);
    if (ps->netns_fd >= 0)
        close(ps->netns_fd);
    ps->netns_fd = -1;
    if (spec_has_net_probe(c->spec))
        ps->netns_fd = ctr_open_netns(c, ps->netns_error, sizeof(ps->netns_error));
    if (adopted)
        fx = reconcile_probes_adopt(&ps->book, c->spec, c->life.started_mono,
                                    c->has_saved_probes ? &c->saved_probes : NULL, now);
    else
        fx = reconcile_probes_init(&ps->book, c->spec, c->life.started_mono);
    c->has_saved_probes = false;
    runs_apply(ps, PROBE_KIND_STARTUP, (int)fx);
    runs_arm(ps);
}

void ctr_probes_stop(Ctr *c)
{
    CtrProbeRuns *ps = c->probes;

    if (!ps || !ps->active)
        return;
    ps->active = false;
    pod_rec_view_changed(c->pod);
    runs_cancel_all(ps);
    if (ps->netns_fd >= 0)
        close(ps->netns_fd);
    ps->netns_fd = -1;
    runs_arm(ps);
}

bool ctr_probes_counts(const Ctr *c, ProbeCounts *ret)
{
    if (!c->probes || !c->probes->active)
        return false;
    reconcile_probes_save(&c->probes->book, ret);
    return true;
}

/* ---- what the user sees -------------------------------------------------------------------- */

static json_t *probe_json(const Probe *spec, const ProbeTrack *t)
{
    json_t *o = json_pack(
        "{s:s,s:i,s:i,s:i,s:i,s:i}", "action", probe_action_to_string(spec->action),
        "initialDelaySeconds", (int)spec->initial_delay_seconds, "periodSeconds",
        (int)spec->period_seconds, "timeoutSeconds", (int)spec->timeout_seconds, "successThreshold",
        (int)spec->success_threshold, "failureThreshold", (int)spec->failure_threshold);

    if (!o)
        return NULL;
    if (spec->action == PROBE_ACTION_EXEC && spec->exec_command) {
        json_t *cmd = json_array();

        for (char *const *a = spec->exec_command; cmd && *a; a++)
            (void)json_array_append_new(cmd, json_string(*a));
        (void)json_object_set_new(o, "command", cmd);
    } else if (spec->action != PROBE_ACTION_EXEC) {
        (void)json_object_set_new(o, "port", json_integer(spec->port));
        if (spec->host)
            (void)json_object_set_new(o, "host", json_string(spec->host));
        if (spec->path)
            (void)json_object_set_new(o, "path", json_string(spec->path));
    }
    if (spec->termination_grace_period_seconds >= 0)
        (void)json_object_set_new(o, "terminationGracePeriodSeconds",
                                  json_integer(spec->termination_grace_period_seconds));
    if (t) {
        (void)json_object_set_new(o, "successes", json_integer(t->successes));
        (void)json_object_set_new(o, "failures", json_integer(t->failures));
        if ((int)t->last >= 0) {
            (void)json_object_set_new(o, "lastResult",
                                      json_string(probe_result_to_string(t->last)));
            (void)json_object_set_new(o, "lastMessage", json_string(t->excerpt));
        }
    }
    return o;
}

json_t *ctr_probes_json(const Ctr *c)
{
    const CtrProbeRuns *ps = c->probes && c->probes->active ? c->probes : NULL;
    json_t *o;

    if (!c->spec)
        return NULL;
    o = json_object();
    for (ProbeKind k = 0; o && k < _PROBE_KIND_MAX; k++) {
        const Probe *spec = reconcile_probe_spec(c->spec, k);

        if (spec->action != PROBE_ACTION_NONE)
            (void)json_object_set_new(o, reconcile_probe_kind_to_string(k),
                                      probe_json(spec, ps ? &ps->book.track[k] : NULL));
    }
    if (o && json_object_size(o) == 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}
