/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "base/base.h"
#include "loop/loop.h"
#include "unit-util.h"

#define MSEC 1000u

/* ---- fixture: no fd may leak from a test -------------------------------------------- */

static int fds_before;

static void setup_fds(void)
{
    fds_before = unit_count_fds();
}

static void teardown_fds(void)
{
    ck_assert_int_eq(unit_count_fds(), fds_before);
}

/* ---- helpers ------------------------------------------------------------------------ */

/*
 * Why child sources cannot be tested here, or NULL: valgrind 3.19 does not
 * know pidfd_open(2) and fails it with ENOSYS. Any other error is left to
 * the tests to fail on.
 */
static const char *pidfd_unavailable(void)
{
    int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);

    if (fd < 0 && errno == ENOSYS)
        return "pidfd_open() is not available (valgrind?)";
    if (fd >= 0)
        (void)close(fd);
    return NULL;
}

typedef struct Recorder {
    Loop *loop;
    char order[64]; /* one letter per callback, in call order */
    size_t n;
    int calls;
    uint64_t last_iteration;
    LoopSource *victim[4]; /* sources a callback frees */
    LoopSource **self;     /* where the callback's own source reference lives */
    int rearm_left;
    int value;
} Recorder;

static void record(Recorder *r, char c)
{
    if (r->n + 1 < sizeof(r->order))
        r->order[r->n++] = c;
    r->calls++;
}

static int on_exit_timer(LoopSource *s, uint64_t deadline, void *userdata)
{
    (void)deadline;
    loop_exit(loop_source_get_loop(s), (int)(intptr_t)userdata);
    return 0;
}

/* Runs iterations until *flag becomes true or timeout_ms pass; returns the flag. */
static bool run_until(Loop *l, const int *flag, int at_least, unsigned timeout_ms)
{
    uint64_t end = now_monotonic_usec() + timeout_ms * MSEC;

    while (*flag < at_least) {
        uint64_t now = now_monotonic_usec();

        if (now >= end)
            return false;
        ck_assert_int_ge(loop_run_once(l, end - now), 0);
    }
    return true;
}

/* ---- io ----------------------------------------------------------------------------- */

static int on_pipe(LoopSource *s, int fd, uint32_t revents, void *userdata)
{
    Recorder *r = userdata;
    char buf[16];

    (void)s;
    ck_assert(revents & EPOLLIN);
    ck_assert_int_ge(read(fd, buf, sizeof(buf)), 1);
    r->value = buf[0];
    record(r, 'i');
    return 0;
}

START_TEST(test_io_pipe)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *s = NULL;
    _cleanup_close_ int rfd = -1, wfd = -1;
    Recorder r = {0};
    int p[2];

    ck_assert_int_eq(loop_new(&l), 0);
    ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    rfd = p[0];
    wfd = p[1];
    ck_assert_int_eq(loop_add_io(l, &s, rfd, EPOLLIN, on_pipe, &r), 0);
    ck_assert_int_eq(loop_source_get_type(s), LOOP_SOURCE_IO);
    /* Nothing to read: a bounded wait returns without dispatching. */
    ck_assert_int_eq(loop_run_once(l, 10 * MSEC), 0);
    ck_assert_int_eq(r.calls, 0);
    ck_assert_int_eq(write(wfd, "x", 1), 1);
    ck_assert_int_eq(loop_run_once(l, 1000 * MSEC), 1);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.value, 'x');
    /* Off: the data stays unread. */
    ck_assert_int_eq(loop_source_set_enabled(s, LOOP_SOURCE_OFF), 0);
    ck_assert_int_eq(write(wfd, "y", 1), 1);
    ck_assert_int_eq(loop_run_once(l, 10 * MSEC), 0);
    ck_assert_int_eq(r.calls, 1);
    /* Oneshot: once, then off again. */
    ck_assert_int_eq(loop_source_set_enabled(s, LOOP_SOURCE_ONESHOT), 0);
    ck_assert_int_eq(write(wfd, "z", 1), 1);
    ck_assert_int_eq(loop_run_once(l, 1000 * MSEC), 1);
    ck_assert_int_eq(r.calls, 2);
    ck_assert_int_eq(r.value, 'y');
    ck_assert_int_eq(loop_source_get_enabled(s), LOOP_SOURCE_OFF);
    /* Watching for EPOLLOUT on the read end never fires; on the same fd twice is refused. */
    ck_assert_int_eq(loop_io_set_events(s, EPOLLOUT), 0);
    {
        _cleanup_(loop_source_unrefp) LoopSource *dup = NULL;

        ck_assert_int_eq(loop_source_set_enabled(s, LOOP_SOURCE_ON), 0);
        ck_assert_int_eq(loop_add_io(l, &dup, rfd, EPOLLIN, on_pipe, &r), -EEXIST);
        ck_assert_ptr_null(dup);
    }
}
END_TEST

/* ---- signals ------------------------------------------------------------------------ */

static int on_signal(LoopSource *s, const struct signalfd_siginfo *si, void *userdata)
{
    Recorder *r = userdata;

    (void)s;
    r->value = (int)si->ssi_signo;
    record(r, 's');
    return 0;
}

START_TEST(test_signal)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *s = NULL;
    sigset_t mask, old;
    Recorder r = {0};

    ck_assert_int_eq(loop_new(&l), 0);
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    /* Not blocked yet: refused, the signal would never reach the fd. */
    ck_assert_int_eq(loop_add_signal(l, &s, &mask, on_signal, &r), -EINVAL);
    ck_assert_int_eq(sigprocmask(SIG_BLOCK, &mask, &old), 0);
    ck_assert_int_eq(loop_add_signal(l, &s, &mask, on_signal, &r), 0);
    ck_assert_int_eq(raise(SIGUSR1), 0);
    ck_assert(run_until(l, &r.calls, 1, 1000));
    ck_assert_int_eq(r.value, SIGUSR1);
    /* The signal was consumed: nothing more to dispatch. */
    ck_assert_int_eq(loop_run_once(l, 10 * MSEC), 0);
    ck_assert_int_eq(r.calls, 1);
    s = loop_source_unref(s);
    ck_assert_int_eq(sigprocmask(SIG_SETMASK, &old, NULL), 0);
}
END_TEST

/* ---- timers ------------------------------------------------------------------------- */

static int on_timer_record(LoopSource *s, uint64_t deadline, void *userdata)
{
    Recorder *r = userdata;

    ck_assert_uint_le(deadline, loop_now(loop_source_get_loop(s)));
    ck_assert_int_eq(loop_source_get_enabled(s), LOOP_SOURCE_OFF);
    record(r, *(const char *)loop_source_get_description(s));
    return 0;
}

START_TEST(test_timer_order)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL,
                                             *cancelled = NULL;
    Recorder r = {0};
    uint64_t now;

    ck_assert_int_eq(loop_new(&l), 0);
    now = loop_now(l);
    ck_assert_int_eq(loop_add_timer(l, &c, now + 30 * MSEC, on_timer_record, &r), 0);
    ck_assert_int_eq(loop_add_timer(l, &a, now + 10 * MSEC, on_timer_record, &r), 0);
    ck_assert_int_eq(loop_add_timer(l, &b, now + 20 * MSEC, on_timer_record, &r), 0);
    /* Equal deadlines fire in arming order. */
    ck_assert_int_eq(loop_add_timer(l, &d, now + 40 * MSEC, on_timer_record, &r), 0);
    ck_assert_int_eq(loop_add_timer(l, &e, now + 40 * MSEC, on_timer_record, &r), 0);
    ck_assert_int_eq(loop_add_timer(l, &cancelled, now + 5 * MSEC, on_timer_record, &r), 0);
    ck_assert_int_eq(loop_source_set_description(a, "a"), 0);
    ck_assert_int_eq(loop_source_set_description(b, "b"), 0);
    ck_assert_int_eq(loop_source_set_description(c, "c"), 0);
    ck_assert_int_eq(loop_source_set_description(d, "d"), 0);
    ck_assert_int_eq(loop_source_set_description(e, "e"), 0);
    ck_assert_int_eq(loop_source_set_description(cancelled, "x"), 0);
    ck_assert_int_eq(loop_timer_set(cancelled, LOOP_TIME_INFINITY), 0);
    ck_assert_int_eq(loop_source_get_enabled(cancelled), LOOP_SOURCE_OFF);
    ck_assert(run_until(l, &r.calls, 5, 2000));
    r.order[r.n] = 0;
    ck_assert_str_eq(r.order, "abcde");
    /* Fired timers are off; a few more iterations fire nothing. */
    ck_assert_int_eq(loop_run_once(l, 20 * MSEC), 0);
    ck_assert_int_eq(r.calls, 5);
    ck_assert_int_eq(loop_source_get_enabled(a), LOOP_SOURCE_OFF);
    /* Re-enabling an expired timer fires it again (its deadline has passed). */
    ck_assert_int_eq(loop_source_set_enabled(a, LOOP_SOURCE_ON), 0);
    ck_assert(run_until(l, &r.calls, 6, 1000));
    ck_assert_int_eq(r.order[5], 'a');
}
END_TEST

static int on_timer_rearm(LoopSource *s, uint64_t deadline, void *userdata)
{
    Recorder *r = userdata;
    Loop *l = loop_source_get_loop(s);

    ck_assert_uint_le(deadline, loop_now(l));
    record(r, 'r');
    if (r->rearm_left-- > 0)
        ck_assert_int_eq(loop_timer_set(s, loop_now(l) + 5 * MSEC), 0);
    else
        loop_exit(l, 3);
    return 0;
}

START_TEST(test_timer_rearm_from_callback)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *t = NULL;
    Recorder r = {.rearm_left = 4};
    uint64_t start = now_monotonic_usec();

    ck_assert_int_eq(loop_new(&l), 0);
    ck_assert_int_eq(loop_add_timer(l, &t, loop_now(l) + 5 * MSEC, on_timer_rearm, &r), 0);
    ck_assert_int_eq(loop_run(l), 3);
    ck_assert_int_eq(r.calls, 5);
    ck_assert_uint_ge(now_monotonic_usec() - start, 25 * MSEC);
    /* No busy waiting between the deadlines. */
    ck_assert_uint_le(loop_get_iteration(l), 12);
}
END_TEST

static int on_timer_now(LoopSource *s, uint64_t deadline, void *userdata)
{
    Recorder *r = userdata;

    (void)deadline;
    record(r, 'n');
    /* Rearming for a time already past must not trap the loop in this iteration. */
    if (r->calls < 3)
        ck_assert_int_eq(loop_timer_set(s, 0), 0);
    return 0;
}

START_TEST(test_timer_past_deadline)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *t = NULL;
    Recorder r = {0};

    ck_assert_int_eq(loop_new(&l), 0);
    ck_assert_int_eq(loop_add_timer(l, &t, 0, on_timer_now, &r), 0);
    ck_assert_int_eq(loop_run_once(l, 1000 * MSEC), 1);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(loop_run_once(l, 1000 * MSEC), 1);
    ck_assert_int_eq(r.calls, 2);
    ck_assert(run_until(l, &r.calls, 3, 1000));
    ck_assert_int_eq(loop_run_once(l, 20 * MSEC), 0);
    ck_assert_int_eq(r.calls, 3);
}
END_TEST

/* ---- freeing sources from callbacks ------------------------------------------------- */

static int on_free_self_and_victims(LoopSource *s, uint64_t deadline, void *userdata)
{
    Recorder *r = userdata;

    (void)deadline;
    (void)s;
    record(r, 'f');
    for (size_t i = 0; i < ELEMENTSOF(r->victim); i++)
        r->victim[i] = loop_source_unref(r->victim[i]);
    *r->self = loop_source_unref(*r->self);
    return 0;
}

static int on_must_not_run_timer(LoopSource *s, uint64_t deadline, void *userdata)
{
    (void)s;
    (void)deadline;
    record(userdata, 'X');
    return 0;
}

static int on_must_not_run_io(LoopSource *s, int fd, uint32_t revents, void *userdata)
{
    (void)s;
    (void)fd;
    (void)revents;
    record(userdata, 'X');
    return 0;
}

static int on_must_not_run_deferred(LoopSource *s, void *userdata)
{
    (void)s;
    record(userdata, 'X');
    return 0;
}

START_TEST(test_timer_frees_self_and_pending)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    LoopSource *first = NULL;
    Recorder r = {0};
    uint64_t now;

    ck_assert_int_eq(loop_new(&l), 0);
    now = loop_now(l);
    /* first is due before the others; all are due in the same iteration. */
    ck_assert_int_eq(loop_add_timer(l, &first, now, on_free_self_and_victims, &r), 0);
    ck_assert_int_eq(loop_add_timer(l, &r.victim[0], now + 1, on_must_not_run_timer, &r), 0);
    ck_assert_int_eq(loop_add_timer(l, &r.victim[1], now + 2, on_must_not_run_timer, &r), 0);
    ck_assert_int_eq(loop_add_deferred(l, &r.victim[2], on_must_not_run_deferred, &r), 0);
    r.self = &first;
    /* Make sure all timers are due when the loop wakes. */
    usleep(2 * MSEC);
    ck_assert_int_eq(loop_run_once(l, 1000 * MSEC), 1);
    r.order[r.n] = 0;
    ck_assert_str_eq(r.order, "f");
    ck_assert_ptr_null(first);
    /* Nothing is left to fire. */
    ck_assert_int_eq(loop_run_once(l, 20 * MSEC), 0);
    ck_assert_int_eq(r.calls, 1);
}
END_TEST

static int on_io_free_other(LoopSource *s, int fd, uint32_t revents, void *userdata)
{
    Recorder *r = userdata;

    (void)fd;
    (void)revents;
    record(r, 'i');
    /* Whichever of the two runs first frees the other (which is ready in this batch too). */
    for (size_t i = 0; i < 2; i++)
        if (r->victim[i] && r->victim[i] != s)
            r->victim[i] = loop_source_unref(r->victim[i]);
    return 0;
}

static int on_signal_free_io(LoopSource *s, const struct signalfd_siginfo *si, void *userdata)
{
    Recorder *r = userdata;

    (void)s;
    (void)si;
    record(r, 's');
    r->victim[2] = loop_source_unref(r->victim[2]);
    return 0;
}

START_TEST(test_io_frees_pending_in_batch)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *sig = NULL;
    _cleanup_close_ int r1 = -1, w1 = -1, r2 = -1, w2 = -1;
    Recorder r = {0};
    sigset_t mask, old;
    int p[2];

    ck_assert_int_eq(loop_new(&l), 0);
    ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    r1 = p[0];
    w1 = p[1];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    r2 = p[0];
    w2 = p[1];
    ck_assert_int_eq(loop_add_io(l, &r.victim[0], r1, EPOLLIN, on_io_free_other, &r), 0);
    ck_assert_int_eq(loop_add_io(l, &r.victim[1], r2, EPOLLIN, on_io_free_other, &r), 0);
    ck_assert_int_eq(write(w1, "a", 1), 1);
    ck_assert_int_eq(write(w2, "b", 1), 1);
    ck_assert_int_eq(loop_run_once(l, 1000 * MSEC), 1);
    ck_assert_int_eq(r.calls, 1);
    for (size_t i = 0; i < 2; i++)
        r.victim[i] = loop_source_unref(r.victim[i]);

    /* A signal source (dispatched first) frees an io source that is ready in the same batch. */
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(loop_add_io(l, &r.victim[2], r1, EPOLLIN, on_must_not_run_io, &r), 0);
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR2);
    ck_assert_int_eq(sigprocmask(SIG_BLOCK, &mask, &old), 0);
    ck_assert_int_eq(loop_add_signal(l, &sig, &mask, on_signal_free_io, &r), 0);
    ck_assert_int_eq(raise(SIGUSR2), 0);
    ck_assert_int_eq(loop_run_once(l, 1000 * MSEC), 1);
    r.order[r.n] = 0;
    ck_assert_str_eq(r.order, "s");
    ck_assert_ptr_null(r.victim[2]);
    sig = loop_source_unref(sig);
    ck_assert_int_eq(sigprocmask(SIG_SETMASK, &old, NULL), 0);
}
END_TEST

/* ---- children ----------------------------------------------------------------------- */

static int on_child_reap(LoopSource *s, int pidfd, pid_t pid, void *userdata)
{
    Recorder *r = userdata;
    siginfo_t si = {0};

    ck_assert_int_eq(loop_child_get_pidfd(s), pidfd);
    ck_assert_int_eq(waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED), 0);
    ck_assert_int_eq(si.si_pid, pid);
    ck_assert_int_eq(si.si_code, CLD_EXITED);
    r->value = si.si_status;
    record(r, 'c');
    return 0;
}

START_TEST(test_child)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *s = NULL;
    Recorder r = {0};
    int sync[2];
    pid_t pid;

    ck_assert_int_eq(loop_new(&l), 0);
    ck_assert_int_eq(pipe2(sync, O_CLOEXEC), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char c;

        (void)close(sync[1]);
        /* Exit only once the parent watches us. */
        (void)read(sync[0], &c, 1);
        _exit(7);
    }
    (void)close(sync[0]);
    ck_assert_int_eq(loop_add_child(l, &s, pid, on_child_reap, &r), 0);
    ck_assert_int_eq(loop_source_get_enabled(s), LOOP_SOURCE_ONESHOT);
    ck_assert_int_eq(loop_run_once(l, 20 * MSEC), 0);
    (void)close(sync[1]);
    ck_assert(run_until(l, &r.calls, 1, 2000));
    ck_assert_int_eq(r.value, 7);
    /* One shot: the readable pidfd does not spin the loop. */
    ck_assert_int_eq(loop_source_get_enabled(s), LOOP_SOURCE_OFF);
    ck_assert_int_eq(loop_run_once(l, 20 * MSEC), 0);
    ck_assert_int_eq(r.calls, 1);
    /* No such process. */
    {
        _cleanup_(loop_source_unrefp) LoopSource *gone = NULL;

        ck_assert_int_eq(loop_add_child(l, &gone, pid, on_child_reap, &r), -ESRCH);
    }
}
END_TEST

static int on_grandchild(LoopSource *s, int pidfd, pid_t pid, void *userdata)
{
    Recorder *r = userdata;
    siginfo_t si = {0};

    (void)s;
    (void)pid;
    /* Not our child: the kernel refuses to let us reap it. */
    ck_assert_int_eq(waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    record(r, 'g');
    return 0;
}

START_TEST(test_child_not_ours)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *s = NULL, *by_fd = NULL, *taken = NULL;
    _cleanup_close_ int pidfd = -1;
    Recorder r = {0};
    int pid_pipe[2], hold[2], pidfd2;
    pid_t child, grandchild;
    int status;

    ck_assert_int_eq(loop_new(&l), 0);
    ck_assert_int_eq(pipe2(pid_pipe, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(hold, O_CLOEXEC), 0);
    child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        pid_t g = fork();

        if (g == 0) {
            char c;

            (void)close(hold[1]);
            (void)read(hold[0], &c, 1);
            _exit(0);
        }
        (void)write(pid_pipe[1], &g, sizeof(g));
        _exit(g > 0 ? 0 : 1);
    }
    (void)close(pid_pipe[1]);
    (void)close(hold[0]);
    ck_assert_int_eq(read(pid_pipe[0], &grandchild, sizeof(grandchild)), sizeof(grandchild));
    (void)close(pid_pipe[0]);
    /* (Its exit status is not checked: under valgrind it reports the child's leak check.) */
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_int_gt(grandchild, 0);

    ck_assert_int_eq(loop_add_child(l, &s, grandchild, on_grandchild, &r), 0);
    /* The same process through a pidfd the caller holds (the source keeps its own copy). */
    pidfd = (int)syscall(SYS_pidfd_open, grandchild, 0);
    ck_assert_int_ge(pidfd, 0);
    ck_assert_int_eq(loop_add_child_pidfd(l, &by_fd, pidfd, grandchild, on_grandchild, &r), 0);
    ck_assert_int_ne(loop_child_get_pidfd(by_fd), pidfd);
    /* And through one the source takes: no copy, and the source closes it. */
    pidfd2 = (int)syscall(SYS_pidfd_open, grandchild, 0);
    ck_assert_int_ge(pidfd2, 0);
    ck_assert_int_eq(loop_take_child_pidfd(l, &taken, -1, grandchild, on_grandchild, &r), -EINVAL);
    ck_assert_int_eq(loop_take_child_pidfd(l, &taken, pidfd2, grandchild, on_grandchild, &r), 0);
    ck_assert_int_eq(loop_child_get_pidfd(taken), pidfd2);
    ck_assert_int_eq(loop_run_once(l, 20 * MSEC), 0);
    (void)close(hold[1]);
    ck_assert(run_until(l, &r.calls, 3, 5000));
    ck_assert_int_eq(loop_run_once(l, 20 * MSEC), 0);
    ck_assert_int_eq(r.calls, 3);
    taken = loop_source_unref(taken);
    /* Closed with its source. */
    ck_assert_int_eq(fcntl(pidfd2, F_GETFD), -1);
}
END_TEST

/* ---- inotify ------------------------------------------------------------------------ */

typedef struct InotifySeen {
    int calls;
    bool created, close_write, moved_to;
    int wd;
} InotifySeen;

static int on_inotify(LoopSource *s, const struct inotify_event *const *events, size_t n_events,
                      void *userdata)
{
    InotifySeen *seen = userdata;

    (void)s;
    ck_assert_uint_gt(n_events, 0);
    for (size_t i = 0; i < n_events; i++) {
        const struct inotify_event *e = events[i];

        ck_assert(e->wd == seen->wd || (e->mask & IN_Q_OVERFLOW));
        if (e->len == 0)
            continue;
        if ((e->mask & IN_CREATE) && streq(e->name, "a.yaml"))
            seen->created = true;
        if ((e->mask & IN_CLOSE_WRITE) && streq(e->name, "a.yaml"))
            seen->close_write = true;
        if ((e->mask & IN_MOVED_TO) && streq(e->name, "b.yaml"))
            seen->moved_to = true;
    }
    seen->calls++;
    return 0;
}

START_TEST(test_inotify)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *s = NULL;
    char dir[] = "/tmp/podd-test-loop-XXXXXX";
    char path[256], tmp[256];
    InotifySeen seen = {0};
    int fd;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(loop_new(&l), 0);
    ck_assert_int_eq(loop_add_inotify(l, &s, on_inotify, &seen), 0);
    seen.wd = loop_inotify_add_watch(s, dir, IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO);
    ck_assert_int_ge(seen.wd, 0);

    (void)snprintf(path, sizeof(path), "%s/a.yaml", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "x", 1), 1);
    ck_assert_int_eq(close(fd), 0);
    (void)snprintf(tmp, sizeof(tmp), "%s/.b.yaml.tmp", dir);
    fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(close(fd), 0);
    (void)snprintf(path, sizeof(path), "%s/b.yaml", dir);
    ck_assert_int_eq(rename(tmp, path), 0);

    {
        uint64_t end = now_monotonic_usec() + 2000 * MSEC;

        while (!(seen.created && seen.close_write && seen.moved_to) && now_monotonic_usec() < end)
            ck_assert_int_ge(loop_run_once(l, 100 * MSEC), 0);
    }
    ck_assert(seen.created);
    ck_assert(seen.close_write);
    ck_assert(seen.moved_to);

    /* After removing the watch, changes are not reported (IN_IGNORED aside). */
    ck_assert_int_eq(loop_inotify_rm_watch(s, seen.wd), 0);
    ck_assert_int_eq(loop_inotify_rm_watch(s, seen.wd), -EINVAL);
    while (loop_run_once(l, 20 * MSEC) > 0)
        ;
    seen.created = false;
    (void)snprintf(path, sizeof(path), "%s/c.yaml", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(close(fd), 0);
    ck_assert_int_eq(loop_run_once(l, 20 * MSEC), 0);

    ck_assert_int_eq(unlink(path), 0);
    (void)snprintf(path, sizeof(path), "%s/a.yaml", dir);
    ck_assert_int_eq(unlink(path), 0);
    (void)snprintf(path, sizeof(path), "%s/b.yaml", dir);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ---- deferred and priorities -------------------------------------------------------- */

static int on_deferred(LoopSource *s, void *userdata)
{
    Recorder *r = userdata;
    Loop *l = loop_source_get_loop(s);

    /* Once per iteration at most. */
    ck_assert_uint_ne(r->last_iteration, loop_get_iteration(l));
    r->last_iteration = loop_get_iteration(l);
    record(r, 'd');
    return 0;
}

static int on_io_order(LoopSource *s, int fd, uint32_t revents, void *userdata)
{
    char buf[16];

    (void)s;
    (void)revents;
    (void)read(fd, buf, sizeof(buf));
    record(userdata, 'i');
    return 0;
}

static int on_timer_order(LoopSource *s, uint64_t deadline, void *userdata)
{
    (void)s;
    (void)deadline;
    record(userdata, 't');
    return 0;
}

static int on_signal_order(LoopSource *s, const struct signalfd_siginfo *si, void *userdata)
{
    (void)s;
    (void)si;
    record(userdata, 's');
    return 0;
}

static int on_child_order(LoopSource *s, int pidfd, pid_t pid, void *userdata)
{
    siginfo_t si = {0};

    (void)s;
    (void)pid;
    (void)waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED);
    record(userdata, 'c');
    return 0;
}

static int on_inotify_order(LoopSource *s, const struct inotify_event *const *events,
                            size_t n_events, void *userdata)
{
    (void)s;
    (void)events;
    (void)n_events;
    record(userdata, 'n');
    return 0;
}

/*
 * Every kind of source ready at once runs in priority order, deferred last;
 * with_child adds a child source (pidfd), which comes first.
 */
static void check_priority_and_deferred(bool with_child)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *io = NULL, *timer = NULL, *sig = NULL, *child = NULL,
                                             *ino = NULL, *def = NULL;
    _cleanup_close_ int rfd = -1, wfd = -1;
    char dir[] = "/tmp/podd-test-loop-XXXXXX";
    char path[256];
    Recorder r = {0};
    sigset_t mask, old;
    siginfo_t si;
    pid_t pid = 0;
    int p[2], fd;

    ck_assert_int_eq(loop_new(&l), 0);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    rfd = p[0];
    wfd = p[1];
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR2);
    ck_assert_int_eq(sigprocmask(SIG_BLOCK, &mask, &old), 0);

    /* Created in reverse priority order, so epoll's order is not the answer. */
    ck_assert_int_eq(loop_add_deferred(l, &def, on_deferred, &r), 0);
    ck_assert_int_eq(loop_add_timer(l, &timer, 0, on_timer_order, &r), 0);
    ck_assert_int_eq(loop_add_io(l, &io, rfd, EPOLLIN, on_io_order, &r), 0);
    ck_assert_int_eq(loop_add_inotify(l, &ino, on_inotify_order, &r), 0);
    ck_assert_int_ge(loop_inotify_add_watch(ino, dir, IN_CREATE), 0);
    ck_assert_int_eq(loop_add_signal(l, &sig, &mask, on_signal_order, &r), 0);
    if (with_child) {
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            _exit(0);
        ck_assert_int_eq(loop_add_child(l, &child, pid, on_child_order, &r), 0);
    }

    /* Make everything ready before the loop looks. */
    ck_assert_int_eq(write(wfd, "x", 1), 1);
    ck_assert_int_eq(raise(SIGUSR2), 0);
    (void)snprintf(path, sizeof(path), "%s/x", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    (void)close(fd);
    if (with_child)
        ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);

    ck_assert_int_eq(loop_run_once(l, 1000 * MSEC), 1);
    r.order[r.n] = 0;
    /* The child first when there is one; the rest is the same either way. */
    if (with_child)
        ck_assert_int_eq(r.order[0], 'c');
    ck_assert_str_eq(r.order + with_child, "snitd");

    /* Deferred stays on: once in each further iteration, and the loop does not sleep. */
    ck_assert_int_eq(loop_run_once(l, 5000 * MSEC), 1);
    ck_assert_int_eq(loop_run_once(l, 5000 * MSEC), 1);
    r.order[r.n] = 0;
    ck_assert_str_eq(r.order + with_child, "snitddd");
    /* Oneshot: runs once more, then it is off and the loop sleeps again. */
    ck_assert_int_eq(loop_source_set_enabled(def, LOOP_SOURCE_ONESHOT), 0);
    ck_assert_int_eq(loop_run_once(l, 5000 * MSEC), 1);
    ck_assert_int_eq(loop_source_get_enabled(def), LOOP_SOURCE_OFF);
    ck_assert_int_eq(loop_run_once(l, 20 * MSEC), 0);
    r.order[r.n] = 0;
    ck_assert_str_eq(r.order + with_child, "snitdddd");

    sig = loop_source_unref(sig);
    ck_assert_int_eq(sigprocmask(SIG_SETMASK, &old, NULL), 0);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}

START_TEST(test_priority_and_deferred)
{
    check_priority_and_deferred(false);
}
END_TEST

/* The same with a child source, which needs pidfd_open(): a skip where it is missing. */
START_TEST(test_priority_child_first)
{
    check_priority_and_deferred(true);
}
END_TEST

/* The "mark dirty, reconcile once" pattern: an io callback arms a oneshot deferred source. */
static int on_io_mark_dirty(LoopSource *s, int fd, uint32_t revents, void *userdata)
{
    Recorder *r = userdata;
    char buf[16];

    (void)s;
    (void)revents;
    (void)read(fd, buf, sizeof(buf));
    record(r, 'i');
    ck_assert_int_eq(loop_source_set_enabled(r->victim[0], LOOP_SOURCE_ONESHOT), 0);
    return 0;
}

START_TEST(test_deferred_oneshot_from_handler)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *io = NULL;
    _cleanup_close_ int rfd = -1, wfd = -1;
    Recorder r = {0};
    int p[2];

    ck_assert_int_eq(loop_new(&l), 0);
    ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    rfd = p[0];
    wfd = p[1];
    ck_assert_int_eq(loop_add_deferred(l, &r.victim[0], on_deferred, &r), 0);
    ck_assert_int_eq(loop_source_set_enabled(r.victim[0], LOOP_SOURCE_OFF), 0);
    ck_assert_int_eq(loop_add_io(l, &io, rfd, EPOLLIN, on_io_mark_dirty, &r), 0);
    ck_assert_int_eq(loop_run_once(l, 20 * MSEC), 0);
    ck_assert_int_eq(write(wfd, "x", 1), 1);
    ck_assert_int_eq(write(wfd, "y", 1), 1);
    ck_assert_int_eq(loop_run_once(l, 1000 * MSEC), 1);
    ck_assert_int_eq(loop_run_once(l, 20 * MSEC), 0);
    r.order[r.n] = 0;
    ck_assert_str_eq(r.order, "id");
    r.victim[0] = loop_source_unref(r.victim[0]);
}
END_TEST

static int on_drain(LoopSource *s, int fd, uint32_t revents, void *userdata)
{
    char buf[16];

    (void)s;
    (void)revents;
    (void)userdata;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    return 0;
}

/* What a long deferred callback asks before it goes on: is anything else ready now? */
START_TEST(test_has_pending)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *io = NULL, *d = NULL;
    _cleanup_close_ int rfd = -1, wfd = -1;
    Recorder r = {0};
    int p[2];

    ck_assert_int_eq(loop_new(&l), 0);
    ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    rfd = p[0];
    wfd = p[1];
    ck_assert_int_eq(loop_add_io(l, &io, rfd, EPOLLIN, on_drain, NULL), 0);
    /* An enabled deferred source is not "pending": it runs anyway. */
    ck_assert_int_eq(loop_add_deferred(l, &d, on_deferred, &r), 0);
    ck_assert(!loop_has_pending(l));
    ck_assert_int_eq(write(wfd, "x", 1), 1);
    ck_assert(loop_has_pending(l));
    /* Asking consumes nothing: the iteration still sees the fd. */
    ck_assert(loop_has_pending(l));
    ck_assert_int_eq(loop_run_once(l, 20 * MSEC), 1);
    ck_assert(!loop_has_pending(l));
}
END_TEST

/* ---- exit, errors, idling ----------------------------------------------------------- */

static int on_fail(LoopSource *s, void *userdata)
{
    Recorder *r = userdata;

    record(r, 'e');
    if (r->calls == 3)
        loop_exit(loop_source_get_loop(s), 9);
    return -EIO;
}

START_TEST(test_exit_and_failing_callbacks)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *def = NULL, *t = NULL;
    Recorder r = {0};

    ck_assert_int_eq(loop_new(&l), 0);
    /* A callback that keeps failing does not stop the loop; loop_exit() does. */
    ck_assert_int_eq(loop_add_deferred(l, &def, on_fail, &r), 0);
    ck_assert_int_eq(loop_run(l), 9);
    ck_assert_int_eq(r.calls, 3);
    def = loop_source_unref(def);

    /* The loop runs again, and exit codes come through unchanged. */
    ck_assert_int_eq(
        loop_add_timer(l, &t, loop_now(l) + 1 * MSEC, on_exit_timer, (void *)(intptr_t)42), 0);
    ck_assert_int_eq(loop_run(l), 42);
    /* Exit requested before running: returns at once. */
    loop_exit(l, 5);
    ck_assert_int_eq(loop_run(l), 5);
}
END_TEST

static int on_nested(LoopSource *s, void *userdata)
{
    Loop *l = loop_source_get_loop(s);

    (void)userdata;
    ck_assert_int_eq(loop_run_once(l, 0), -EBUSY);
    ck_assert_int_eq(loop_run(l), -EBUSY);
    loop_exit(l, 0);
    return 0;
}

START_TEST(test_nested_run_refused)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *def = NULL;

    ck_assert_int_eq(loop_new(&l), 0);
    ck_assert_int_eq(loop_add_deferred(l, &def, on_nested, NULL), 0);
    ck_assert_int_eq(loop_run(l), 0);
}
END_TEST

START_TEST(test_idle_does_not_wake)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *t = NULL, *io = NULL;
    _cleanup_close_ int rfd = -1, wfd = -1;
    uint64_t start;
    int p[2];

    ck_assert_int_eq(loop_new(&l), 0);
    ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    rfd = p[0];
    wfd = p[1];
    /* An fd that never becomes ready and one exit timer: the loop must sleep in between. */
    ck_assert_int_eq(loop_add_io(l, &io, rfd, EPOLLIN, on_must_not_run_io, NULL), 0);
    start = now_monotonic_usec();
    ck_assert_int_eq(loop_add_timer(l, &t, loop_now(l) + 200 * MSEC, on_exit_timer, NULL), 0);
    ck_assert_int_eq(loop_run(l), 0);
    ck_assert_uint_ge(now_monotonic_usec() - start, 200 * MSEC);
    ck_assert_uint_le(loop_get_iteration(l), 2);
    ck_assert_uint_ge(loop_now(l), start + 200 * MSEC);
}
END_TEST

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

START_TEST(test_eintr)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *t = NULL;
    struct sigaction sa = {.sa_handler = on_alarm}, old_sa;
    struct itimerval it = {.it_value.tv_usec = 20000}, off = {{0, 0}, {0, 0}};

    /* A signal with a classic handler interrupts epoll_wait(): the loop just carries on. */
    ck_assert_int_eq(loop_new(&l), 0);
    ck_assert_int_eq(sigaction(SIGALRM, &sa, &old_sa), 0);
    alarms = 0;
    ck_assert_int_eq(
        loop_add_timer(l, &t, loop_now(l) + 100 * MSEC, on_exit_timer, (void *)(intptr_t)4), 0);
    ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
    ck_assert_int_eq(loop_run(l), 4);
    ck_assert_int_eq(alarms, 1);
    ck_assert_int_eq(setitimer(ITIMER_REAL, &off, NULL), 0);
    ck_assert_int_eq(sigaction(SIGALRM, &old_sa, NULL), 0);
}
END_TEST

START_TEST(test_unref_loop_before_sources)
{
    Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *t = NULL;

    /* Sources keep their loop alive: dropping the loop first is fine. */
    ck_assert_int_eq(loop_new(&l), 0);
    ck_assert_int_eq(loop_add_timer(l, &t, LOOP_TIME_INFINITY, on_must_not_run_timer, NULL), 0);
    ck_assert_int_eq(loop_source_get_enabled(t), LOOP_SOURCE_OFF);
    l = loop_unref(l);
    ck_assert_int_eq(loop_timer_set(t, 1), 0);
    ck_assert_int_eq(loop_source_get_type(t), LOOP_SOURCE_TIMER);
    ck_assert_str_eq(loop_source_type_to_string(LOOP_SOURCE_INOTIFY), "inotify");
    ck_assert_int_eq(loop_source_type_from_string("deferred"), LOOP_SOURCE_DEFERRED);
    ck_assert_int_eq(loop_source_type_from_string("nope"), _LOOP_SOURCE_TYPE_INVALID);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("loop");
    SRunner *sr;
    int status;

    log_set_max_level(LOG_LEVEL_INFO);
    tcase_add_checked_fixture(tc, setup_fds, teardown_fds);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_io_pipe);
    tcase_add_test(tc, test_signal);
    tcase_add_test(tc, test_timer_order);
    tcase_add_test(tc, test_timer_rearm_from_callback);
    tcase_add_test(tc, test_timer_past_deadline);
    tcase_add_test(tc, test_timer_frees_self_and_pending);
    tcase_add_test(tc, test_io_frees_pending_in_batch);
    unit_add_test_unless(tc, test_child, pidfd_unavailable());
    unit_add_test_unless(tc, test_child_not_ours, pidfd_unavailable());
    tcase_add_test(tc, test_inotify);
    tcase_add_test(tc, test_priority_and_deferred);
    unit_add_test_unless(tc, test_priority_child_first, pidfd_unavailable());
    tcase_add_test(tc, test_deferred_oneshot_from_handler);
    tcase_add_test(tc, test_has_pending);
    tcase_add_test(tc, test_exit_and_failing_callbacks);
    tcase_add_test(tc, test_nested_run_refused);
    tcase_add_test(tc, test_idle_does_not_wake);
    tcase_add_test(tc, test_eintr);
    tcase_add_test(tc, test_unref_loop_before_sources);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    status = unit_run(sr, CK_NORMAL);
    srunner_free(sr);
    return status;
}
