/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The waiting half of podd-monitor. It runs for the whole life of the
 * container, so it is kept small: static buffers (in .bss, only touched
 * pages count), no JSON library, no allocation in the loop.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>

#include "monitor.h"
#include "runtime/runtime.h"

typedef struct Stream {
    const char *name;
    int fd;
    size_t len;
    char *buf;
} Stream;

static char out_buf[CRI_LOG_LINE_MAX], err_buf[CRI_LOG_LINE_MAX];

void monitor_signal_mask(sigset_t *mask)
{
    sigemptyset(mask);
    sigaddset(mask, SIGCHLD);
    sigaddset(mask, SIGTERM);
    sigaddset(mask, SIGINT);
    sigaddset(mask, SIGHUP);
    sigaddset(mask, SIGQUIT);
    sigaddset(mask, SIGUSR1);
    sigaddset(mask, SIGUSR2);
}

static void stream_flush(CriLog *log, Stream *s, bool eof)
{
    char *start = s->buf, *nl;
    size_t left = s->len;

    while (left > 0 && (nl = memchr(start, '\n', left))) {
        size_t n = (size_t)(nl - start);

        if (log->fd >= 0)
            (void)cri_log_write(log, 0, s->name, false, start, n);
        start += n + 1;
        left -= n + 1;
    }
    /* A full buffer without a newline is a partial record (P); at EOF the rest is a line. */
    if (left > 0 && (eof || left == CRI_LOG_LINE_MAX)) {
        if (log->fd >= 0)
            (void)cri_log_write(log, 0, s->name, !eof, start, left);
        left = 0;
    }
    if (left > 0 && start != s->buf)
        memmove(s->buf, start, left);
    s->len = left;
}

/* Reads what is available; closes the stream at EOF or on error. */
static void stream_pump(CriLog *log, Stream *s)
{
    ssize_t n;

    do
        n = read(s->fd, s->buf + s->len, CRI_LOG_LINE_MAX - s->len);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0) {
        stream_flush(log, s, true);
        close(s->fd);
        s->fd = -1;
        return;
    }
    s->len += (size_t)n;
    stream_flush(log, s, false);
}

int monitor_watch(const WatchArgs *a)
{
    Stream out = {.name = "stdout", .fd = a->out_fd, .buf = out_buf};
    Stream err = {.name = "stderr", .fd = a->err_fd, .buf = err_buf};
    CriLog log = {.fd = -1, .dir_fd = -1};
    ExitRecord rec = {0};
    struct timespec ts;
    sigset_t mask;
    bool exited = false;
    int sfd, status = 0, r;

    monitor_signal_mask(&mask);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (a->log_path)
        (void)cri_log_open(&log, a->log_path, a->log_max_bytes);
    if (out.fd >= 0)
        (void)fcntl(out.fd, F_SETFL, O_NONBLOCK);
    if (err.fd >= 0)
        (void)fcntl(err.fd, F_SETFL, O_NONBLOCK);

    for (;;) {
        struct pollfd p[3] = {
            {.fd = sfd, .events = POLLIN},
            {.fd = out.fd, .events = POLLIN},
            {.fd = err.fd, .events = POLLIN},
        };

        if (exited && out.fd < 0 && err.fd < 0)
            break;
        /* After the first process died, whatever still holds the pipes gets 2 s. */
        r = poll(p, 3, exited ? 2000 : -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && sfd < 0) {
            /* Without a signalfd we can only poll for the child. */
            if (waitpid(a->pid, &status, 0) == a->pid)
                exited = true;
            continue;
        }
        if (r == 0) {
            (void)cgroup_kill(a->cgroup, SIGKILL);
            if (out.fd >= 0)
                stream_pump(&log, &out);
            if (err.fd >= 0)
                stream_pump(&log, &err);
            break;
        }
        /* Output first, so that what was written just before the exit is kept in order. */
        if (p[1].revents && out.fd >= 0)
            stream_pump(&log, &out);
        if (p[2].revents && err.fd >= 0)
            stream_pump(&log, &err);
        if (p[0].revents) {
            struct signalfd_siginfo si;

            while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo != SIGCHLD) {
                    if (!exited)
                        (void)kill(a->pid, (int)si.ssi_signo);
                    continue;
                }
                for (;;) {
                    int ws;
                    pid_t w = waitpid(-1, &ws, WNOHANG);

                    if (w <= 0)
                        break;
                    if (w != a->pid)
                        continue;
                    status = ws;
                    exited = true;
                    (void)clock_gettime(CLOCK_REALTIME, &ts);
                    format_rfc3339_nano(&ts, rec.finished_at, sizeof(rec.finished_at));
                    /* Without its own PID namespace the rest of the container outlives it. */
                    (void)cgroup_kill(a->cgroup, SIGKILL);
                }
            }
        }
    }
    /* Reap what was left to us as subreaper. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    cri_log_done(&log);

    (void)snprintf(rec.started_at, sizeof(rec.started_at), "%s", a->started_at);
    if (!rec.finished_at[0]) {
        (void)clock_gettime(CLOCK_REALTIME, &ts);
        format_rfc3339_nano(&ts, rec.finished_at, sizeof(rec.finished_at));
    }
    if (WIFSIGNALED(status)) {
        rec.signal = WTERMSIG(status);
        rec.exit_code = 128 + rec.signal;
    } else
        rec.exit_code = WEXITSTATUS(status);
    rec.oom_killed = cgroup_oom_kills(a->cgroup) > 0;
    (void)snprintf(rec.reason, sizeof(rec.reason), "%s",
                   rec.oom_killed       ? "OOMKilled"
                   : rec.exit_code == 0 ? "Completed"
                                        : "Error");
    if (rec.signal)
        (void)snprintf(rec.message, sizeof(rec.message), "killed by signal %d (SIG%s)", rec.signal,
                       sigabbrev_np(rec.signal) ? sigabbrev_np(rec.signal) : "?");
    else
        (void)snprintf(rec.message, sizeof(rec.message), "exited with code %d", rec.exit_code);
    r = exit_record_write(a->exit_file, &rec);
    (void)cgroup_remove(a->cgroup);
    return r < 0 ? 1 : 0;
}
