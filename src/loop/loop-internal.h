/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <sys/epoll.h>

#include "loop.h"

/* Events taken from one epoll_wait(); more stay pending for the next iteration. */
#define LOOP_EVENTS_MAX 64
/* Signals read from one signalfd per dispatch, so a signal storm cannot starve the rest. */
#define LOOP_SIGNALS_PER_DISPATCH 64
/* One read() of an inotify fd per dispatch; what does not fit is read next iteration. */
#define LOOP_INOTIFY_BUFFER_SIZE (64 * 1024)
#define LOOP_INOTIFY_EVENTS_MAX (LOOP_INOTIFY_BUFFER_SIZE / sizeof(struct inotify_event))

struct LoopSource {
    Loop *loop; /* a reference */
    LoopSourceType type;
    LoopSourceEnabled enabled;
    unsigned n_ref;
    unsigned n_pin; /* the loop's holds while it dispatches: memory stays valid */
    bool dead;      /* the last reference is gone: disconnected, freed when unpinned */
    bool in_epoll;
    uint32_t revents; /* of the current batch */
    void *userdata;
    char *description;
    union {
        struct {
            int fd; /* borrowed */
            uint32_t events;
            LoopIoHandler cb;
        } io;
        struct {
            int fd; /* owned signalfd */
            LoopSignalHandler cb;
        } signal;
        struct {
            uint64_t deadline;
            uint64_t seq;    /* orders equal deadlines by arming order */
            size_t heap_idx; /* SIZE_MAX: not in the heap */
            LoopTimerHandler cb;
        } timer;
        struct {
            int fd; /* owned pidfd */
            pid_t pid;
            LoopChildHandler cb;
        } child;
        struct {
            int fd; /* owned inotify fd */
            char *buffer;
            const struct inotify_event **events;
            LoopInotifyHandler cb;
        } inotify;
        struct {
            LoopSource *prev, *next;
            LoopDeferredHandler cb;
        } deferred;
    };
};

struct Loop {
    unsigned n_ref;
    int epoll_fd;
    int timer_fd;
    uint64_t timer_armed; /* deadline the timerfd is armed for; LOOP_TIME_INFINITY: none */

    LoopSource **heap; /* armed timers, min-heap on (deadline, seq) */
    size_t heap_len, heap_cap;
    uint64_t timer_seq;

    LoopSource *deferred_head; /* every deferred source, on or off */
    size_t n_deferred_enabled;
    LoopSource **snapshot; /* deferred sources pinned for one dispatch round */
    size_t snapshot_cap;

    uint64_t now;
    uint64_t iteration;
    bool running;
    bool exit_requested;
    int exit_code;

    struct epoll_event events[LOOP_EVENTS_MAX];
    LoopSource *batch[LOOP_EVENTS_MAX];
};

/* loop-timer.c */
int loop_heap_insert(Loop *l, LoopSource *s);
void loop_heap_remove(Loop *l, LoopSource *s);
LoopSource *loop_heap_peek(const Loop *l);
int loop_timer_sync(Loop *l);

/* loop-source.c */
LoopSource *loop_source_new(Loop *l, LoopSourceType type, void *userdata);
int loop_source_epoll_update(LoopSource *s);
void loop_source_pin(LoopSource *s);
void loop_source_unpin(LoopSource *s);
int loop_source_dispatch(LoopSource *s);
