/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * loop: the daemon's one thread around epoll.
 *
 * Sources are io (an fd), signal (a signalfd), timer (absolute
 * CLOCK_MONOTONIC deadlines in a min-heap behind one timerfd), child (a
 * pidfd), inotify (an inotify fd) and deferred (runs after everything else
 * of an iteration). One iteration waits once in epoll_wait() and then
 * dispatches, in this order: child, signal, inotify, io, due timers,
 * enabled deferred sources. The order is LoopSourceType's order.
 *
 * Ownership: loop_add_*() hands the caller one reference to the new
 * source; loop_source_unref() dropping the last one disables and frees it.
 * That is safe at any time, also from inside the source's own callback or
 * from the callback of another source of the same batch: the loop keeps the
 * memory of every source it is about to dispatch until the iteration ends
 * and never calls back a source that is off or freed. Every source holds a
 * reference on its loop, so the loop outlives its sources.
 *
 * A callback returns >= 0, or a negative errno that the loop logs at debug
 * level and otherwise ignores: a failing callback never stops the loop.
 * Nothing in this module logs above debug.
 */

#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>

#include "base/base.h"

/* A deadline that never comes: a timer set to it is disarmed. */
#define LOOP_TIME_INFINITY UINT64_MAX

typedef struct Loop Loop;
typedef struct LoopSource LoopSource;

/* Also the dispatch priority: lower values are dispatched first. */
typedef enum LoopSourceType {
    LOOP_SOURCE_CHILD,
    LOOP_SOURCE_SIGNAL,
    LOOP_SOURCE_INOTIFY,
    LOOP_SOURCE_IO,
    LOOP_SOURCE_TIMER,
    LOOP_SOURCE_DEFERRED,
    _LOOP_SOURCE_TYPE_MAX,
    _LOOP_SOURCE_TYPE_INVALID = -EINVAL,
} LoopSourceType;

typedef enum LoopSourceEnabled {
    LOOP_SOURCE_OFF,     /* never dispatched */
    LOOP_SOURCE_ON,      /* dispatched whenever it is ready */
    LOOP_SOURCE_ONESHOT, /* dispatched once, then switched OFF before its callback runs */
    _LOOP_SOURCE_ENABLED_MAX,
    _LOOP_SOURCE_ENABLED_INVALID = -EINVAL,
} LoopSourceEnabled;

/* revents: EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR, ... as epoll reported them. */
typedef int (*LoopIoHandler)(LoopSource *s, int fd, uint32_t revents, void *userdata);
/* Called once per signal read from the signalfd. */
typedef int (*LoopSignalHandler)(LoopSource *s, const struct signalfd_siginfo *si, void *userdata);
/* deadline: the absolute CLOCK_MONOTONIC time (usec) the timer was set to. */
typedef int (*LoopTimerHandler)(LoopSource *s, uint64_t deadline, void *userdata);
/*
 * The process behind pidfd has exited. For a child of ours the callback
 * may reap it with waitid(P_PIDFD, pidfd, ...); pid is what the source was
 * created with (0 when unknown).
 */
typedef int (*LoopChildHandler)(LoopSource *s, int pidfd, pid_t pid, void *userdata);
/*
 * One batch of inotify events as read() returned them, in order. An event
 * with wd == -1 and IN_Q_OVERFLOW in mask means events were lost: rescan.
 * The events live only until the callback returns.
 */
typedef int (*LoopInotifyHandler)(LoopSource *s, const struct inotify_event *const *events,
                                  size_t n_events, void *userdata);
typedef int (*LoopDeferredHandler)(LoopSource *s, void *userdata);

/* ---- the loop ----------------------------------------------------------------------- */

/*
 * Creates a loop (epoll fd and timerfd, both O_CLOEXEC). The caller owns
 * the returned reference. Returns 0 or -errno (-ENOMEM, -EMFILE, ...).
 * Does not log.
 */
int loop_new(Loop **ret);
Loop *loop_ref(Loop *l);
/* Drops a reference; the last one frees the loop. Accepts NULL; returns NULL. */
Loop *loop_unref(Loop *l);
DEFINE_CLEANUP_FUNC(Loop, loop_unref)

/*
 * Runs iterations until loop_exit() is called. Returns the code given to
 * loop_exit(), or -errno when epoll itself fails (EINTR is retried), or
 * -EBUSY when called from inside a callback. Logs failing callbacks at
 * debug level only.
 */
int loop_run(Loop *l);

/*
 * Runs one iteration: waits at most timeout_usec (LOOP_TIME_INFINITY: no
 * limit; the wait is zero while a deferred source is enabled), then
 * dispatches. Returns 1 when something was dispatched, 0 when nothing was
 * (timeout, EINTR, exit requested), -errno on failure, -EBUSY when nested.
 */
int loop_run_once(Loop *l, uint64_t timeout_usec);

/*
 * True when a source other than the deferred ones is ready now (an fd
 * event, a due timer): a long deferred callback may return early, re-arm
 * itself, and let those run first. Never blocks; false on error.
 */
bool loop_has_pending(Loop *l);

/*
 * Asks loop_run() to return code once the current callback returns; no
 * further source of the current iteration is dispatched. Never fails.
 */
void loop_exit(Loop *l, int code);

/*
 * The CLOCK_MONOTONIC time (usec) sampled when the current iteration woke
 * up; before the first iteration, the current time. Cheap: use it for
 * deadlines computed inside callbacks.
 */
uint64_t loop_now(Loop *l);

/* How many iterations have run so far (diagnostics and tests). */
uint64_t loop_get_iteration(const Loop *l);

/* ---- sources ------------------------------------------------------------------------ */

/*
 * Watches fd (borrowed: the caller keeps it open while the source lives and
 * frees the source before closing it) for events (EPOLLIN, EPOLLOUT, ...;
 * level-triggered). Enabled ON. One io source per fd. Returns 0 or -errno
 * (-EEXIST when fd is already watched, -EPERM for regular files). On
 * success *ret holds a new reference. Does not log.
 */
int loop_add_io(Loop *l, LoopSource **ret, int fd, uint32_t events, LoopIoHandler cb,
                void *userdata);
/* Changes the events an io source waits for. Returns 0 or -errno; -EINVAL for other types. */
int loop_io_set_events(LoopSource *s, uint32_t events);

/*
 * Creates a signalfd for mask (copied). The caller must have blocked every
 * signal of mask with sigprocmask() first, else -EINVAL (a signal that is
 * not blocked is delivered the classic way and never reaches the fd).
 * Enabled ON. Returns 0 or -errno; *ret holds a new reference. Does not log.
 */
int loop_add_signal(Loop *l, LoopSource **ret, const sigset_t *mask, LoopSignalHandler cb,
                    void *userdata);

/*
 * A timer for the absolute CLOCK_MONOTONIC deadline (usec; compute it from
 * loop_now()). A deadline of LOOP_TIME_INFINITY creates it disarmed. Timers
 * are one-shot: once due they are switched OFF and then called back;
 * the callback may re-arm with loop_timer_set(). Equal deadlines fire in
 * the order they were set. Returns 0 or -errno; *ret holds a new reference.
 * Does not log.
 */
int loop_add_timer(Loop *l, LoopSource **ret, uint64_t deadline, LoopTimerHandler cb,
                   void *userdata);
/*
 * (Re-)arms a timer for deadline (ONESHOT), or disarms it with
 * LOOP_TIME_INFINITY (OFF). Safe from any callback. Returns 0, or -EINVAL
 * for a source that is not a timer.
 */
int loop_timer_set(LoopSource *s, uint64_t deadline);
/* The deadline the timer was last set to (LOOP_TIME_INFINITY: never). */
uint64_t loop_timer_get(const LoopSource *s);

/*
 * Watches process pid through a pidfd of its own (pidfd_open(2): works for
 * processes that are not our children, e.g. monitors adopted after a
 * restart). Enabled ONESHOT: called back once when the process has exited.
 * Returns 0 or -errno (-ESRCH: no such process, -ENOSYS: kernel < 5.3);
 * *ret holds a new reference. Does not log.
 */
int loop_add_child(Loop *l, LoopSource **ret, pid_t pid, LoopChildHandler cb, void *userdata);
/*
 * Like loop_add_child() for a pidfd the caller already has: pidfd is
 * borrowed and duplicated (the caller still closes its own copy). pid is
 * passed to the callback as is (0 when unknown).
 */
int loop_add_child_pidfd(Loop *l, LoopSource **ret, int pidfd, pid_t pid, LoopChildHandler cb,
                         void *userdata);
/*
 * The same without the duplicate: the source owns pidfd (close-on-exec,
 * which the caller made) once this returns 0; on an error it is still the
 * caller's.
 */
int loop_take_child_pidfd(Loop *l, LoopSource **ret, int pidfd, pid_t pid, LoopChildHandler cb,
                          void *userdata);
/* The source's pidfd (owned by the source), or -EINVAL for other types. */
int loop_child_get_pidfd(const LoopSource *s);

/*
 * Creates an inotify fd (IN_NONBLOCK | IN_CLOEXEC) without watches.
 * Enabled ON. Returns 0 or -errno; *ret holds a new reference. Does not log.
 */
int loop_add_inotify(Loop *l, LoopSource **ret, LoopInotifyHandler cb, void *userdata);
/* inotify_add_watch() on the source's fd: returns the watch descriptor (>= 0) or -errno. */
int loop_inotify_add_watch(LoopSource *s, const char *path, uint32_t mask);
/* inotify_rm_watch(): returns 0 or -errno (-EINVAL: unknown wd). */
int loop_inotify_rm_watch(LoopSource *s, int wd);

/*
 * A source called back after every other source of an iteration, in every
 * iteration while it is enabled (the loop does not sleep meanwhile). Turn
 * it OFF or ONESHOT when its work is done; e.g. "reconcile dirty pods" is
 * switched to ONESHOT by whoever marks a pod dirty. Created ON. Returns 0
 * or -errno; *ret holds a new reference. Does not log.
 */
int loop_add_deferred(Loop *l, LoopSource **ret, LoopDeferredHandler cb, void *userdata);

/* ---- any source --------------------------------------------------------------------- */

LoopSource *loop_source_ref(LoopSource *s);
/*
 * Drops a reference; the last one disables the source, closes the fds it
 * owns and frees it (deferred until the end of the iteration when the loop
 * still holds it for dispatch). Accepts NULL; returns NULL.
 */
LoopSource *loop_source_unref(LoopSource *s);
DEFINE_CLEANUP_FUNC(LoopSource, loop_source_unref)

/*
 * Switches a source OFF, ON or ONESHOT. For a timer, ON and ONESHOT both
 * mean "armed for its last deadline" (a timer fires once either way; one
 * that never had a deadline stays OFF).
 * Returns 0 or -errno (-EINVAL for a bad value, errors of epoll_ctl).
 */
int loop_source_set_enabled(LoopSource *s, LoopSourceEnabled enabled);
LoopSourceEnabled loop_source_get_enabled(const LoopSource *s);
LoopSourceType loop_source_get_type(const LoopSource *s);
/* The loop the source belongs to (borrowed). */
Loop *loop_source_get_loop(const LoopSource *s);
void *loop_source_get_userdata(const LoopSource *s);
/* Returns the previous userdata. */
void *loop_source_set_userdata(LoopSource *s, void *userdata);
/* A name for debug logs (copied). Returns 0 or -ENOMEM. */
int loop_source_set_description(LoopSource *s, const char *description);
const char *loop_source_get_description(const LoopSource *s);

const char *loop_source_type_to_string(LoopSourceType t);
LoopSourceType loop_source_type_from_string(const char *s);
