/* SPDX-License-Identifier: Apache-2.0 */
#include <limits.h>
#include <poll.h>
#include <sys/timerfd.h>

#include "loop-internal.h"

int loop_new(Loop **ret)
{
    Loop *l;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

    if (!ret)
        return -EINVAL;
    l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->n_ref = 1;
    l->epoll_fd = -1;
    l->timer_fd = -1;
    l->timer_armed = LOOP_TIME_INFINITY;
    l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epoll_fd < 0)
        goto fail;
    l->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (l->timer_fd < 0)
        goto fail;
    /* The timerfd is the one epoll entry without a source: data.ptr NULL marks it. */
    if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, l->timer_fd, &ev) < 0)
        goto fail;
    *ret = l;
    return 0;
fail:;
    int r = -errno;

    (void)loop_unref(l);
    return r;
}

Loop *loop_ref(Loop *l)
{
    if (l)
        l->n_ref++;
    return l;
}

Loop *loop_unref(Loop *l)
{
    if (!l || --l->n_ref > 0)
        return NULL;
    /* Every source holds a reference, so none is left here. */
    closep(&l->timer_fd);
    closep(&l->epoll_fd);
    free(l->heap);
    free(l->snapshot);
    free(l);
    return NULL;
}

void loop_exit(Loop *l, int code)
{
    l->exit_requested = true;
    l->exit_code = code;
}

uint64_t loop_now(Loop *l)
{
    return l->now > 0 ? l->now : now_monotonic_usec();
}

uint64_t loop_get_iteration(const Loop *l)
{
    return l->iteration;
}

static void log_callback_failure(const LoopSource *s, int r)
{
    (void)log_debug_errno(r, "loop: %s source '%s' callback failed; continuing",
                          loop_source_type_to_string(s->type),
                          s->description ? s->description : "-");
}

static void timer_fd_drain(Loop *l)
{
    uint64_t ticks;

    /* The fd may have been rearmed meanwhile: EAGAIN is fine. */
    (void)read(l->timer_fd, &ticks, sizeof(ticks));
    /* Expired: the kernel will not fire again for this deadline, so rearm next time. */
    l->timer_armed = LOOP_TIME_INFINITY;
}

/* Stable by construction: equal types keep epoll's order. */
static void batch_sort(LoopSource **b, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        LoopSource *s = b[i];
        size_t j = i;

        while (j > 0 && b[j - 1]->type > s->type) {
            b[j] = b[j - 1];
            j--;
        }
        b[j] = s;
    }
}

/*
 * Fires every timer due at loop_now(). A timer rearmed during this round
 * waits for the next iteration even when it is due already, so a callback
 * that rearms for "now" cannot keep us here forever.
 */
static bool dispatch_timers(Loop *l)
{
    uint64_t limit = l->timer_seq;
    bool any = false;
    LoopSource *s;

    while (!l->exit_requested && (s = loop_heap_peek(l)) && s->timer.deadline <= l->now &&
           s->timer.seq <= limit) {
        int r;

        loop_source_pin(s);
        /* Timers are one-shot: off (and out of the heap) before the callback. */
        loop_heap_remove(l, s);
        s->enabled = LOOP_SOURCE_OFF;
        r = s->timer.cb(s, s->timer.deadline, s->userdata);
        if (r < 0)
            log_callback_failure(s, r);
        loop_source_unpin(s);
        any = true;
    }
    return any;
}

static int dispatch_deferred(Loop *l, bool *dispatched)
{
    size_t n = 0;

    if (l->n_deferred_enabled == 0)
        return 0;
    if (l->snapshot_cap < l->n_deferred_enabled) {
        LoopSource **ns = reallocarray(l->snapshot, l->n_deferred_enabled, sizeof(*ns));

        if (!ns)
            return -ENOMEM;
        l->snapshot = ns;
        l->snapshot_cap = l->n_deferred_enabled;
    }
    /* Sources enabled by a deferred callback run in the next iteration, not this one. */
    for (LoopSource *s = l->deferred_head; s && n < l->snapshot_cap; s = s->deferred.next)
        if (s->enabled != LOOP_SOURCE_OFF) {
            loop_source_pin(s);
            l->snapshot[n++] = s;
        }
    for (size_t i = 0; i < n; i++) {
        LoopSource *s = l->snapshot[i];

        if (!l->exit_requested && !s->dead && s->enabled != LOOP_SOURCE_OFF) {
            int r = loop_source_dispatch(s);

            if (r < 0)
                log_callback_failure(s, r);
            *dispatched = true;
        }
    }
    for (size_t i = 0; i < n; i++)
        loop_source_unpin(l->snapshot[i]);
    return 0;
}

static int run_once(Loop *l, uint64_t timeout_usec)
{
    bool dispatched = false;
    size_t n_batch = 0;
    int timeout_ms, n, r;

    if (l->exit_requested)
        return 0;
    r = loop_timer_sync(l);
    if (r < 0)
        return r;
    if (l->n_deferred_enabled > 0)
        timeout_ms = 0;
    else if (timeout_usec == LOOP_TIME_INFINITY)
        timeout_ms = -1;
    else if (timeout_usec / 1000 >= INT_MAX)
        timeout_ms = INT_MAX;
    else
        timeout_ms = (int)((timeout_usec + 999) / 1000);

    n = epoll_wait(l->epoll_fd, l->events, LOOP_EVENTS_MAX, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;

    l->iteration++;
    l->now = now_monotonic_usec();
    l->running = true;

    for (int i = 0; i < n; i++) {
        LoopSource *s = l->events[i].data.ptr;

        if (!s) {
            timer_fd_drain(l);
            continue;
        }
        s->revents = l->events[i].events;
        loop_source_pin(s);
        l->batch[n_batch++] = s;
    }
    batch_sort(l->batch, n_batch);

    for (size_t i = 0; i < n_batch && !l->exit_requested; i++) {
        LoopSource *s = l->batch[i];

        /* Freed or switched off by an earlier callback of this batch. */
        if (s->dead || s->enabled == LOOP_SOURCE_OFF)
            continue;
        r = loop_source_dispatch(s);
        if (r < 0)
            log_callback_failure(s, r);
        dispatched = true;
    }
    if (dispatch_timers(l))
        dispatched = true;
    r = dispatch_deferred(l, &dispatched);
    if (r < 0)
        /* Still enabled, so the next iteration (which does not sleep) tries again. */
        (void)log_debug_errno(r, "loop: cannot dispatch deferred sources; continuing");

    for (size_t i = 0; i < n_batch; i++)
        loop_source_unpin(l->batch[i]);
    l->running = false;
    return dispatched ? 1 : 0;
}

bool loop_has_pending(Loop *l)
{
    /* An epoll fd polls readable while any of its fds (the timerfd among them) is ready. */
    struct pollfd p = {.fd = l->epoll_fd, .events = POLLIN};

    return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

int loop_run_once(Loop *l, uint64_t timeout_usec)
{
    int r;

    if (!l)
        return -EINVAL;
    if (l->running)
        return -EBUSY;
    /* A callback may drop the caller's last reference; we still need the loop until we return. */
    (void)loop_ref(l);
    r = run_once(l, timeout_usec);
    (void)loop_unref(l);
    return r;
}

int loop_run(Loop *l)
{
    int r = 0;

    if (!l)
        return -EINVAL;
    if (l->running)
        return -EBUSY;
    (void)loop_ref(l);
    while (!l->exit_requested) {
        r = run_once(l, LOOP_TIME_INFINITY);
        if (r < 0)
            break;
    }
    if (r >= 0) {
        /* Ready to run again. */
        l->exit_requested = false;
        r = l->exit_code;
    }
    (void)loop_unref(l);
    return r;
}
