/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <sys/timerfd.h>

#include "loop-internal.h"

static bool timer_before(const LoopSource *a, const LoopSource *b)
{
    if (a->timer.deadline != b->timer.deadline)
        return a->timer.deadline < b->timer.deadline;
    return a->timer.seq < b->timer.seq;
}

static void heap_set(Loop *l, size_t i, LoopSource *s)
{
    l->heap[i] = s;
    s->timer.heap_idx = i;
}

static void heap_sift_up(Loop *l, size_t i)
{
    LoopSource *s = l->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (!timer_before(s, l->heap[parent]))
            break;
        heap_set(l, i, l->heap[parent]);
        i = parent;
    }
    heap_set(l, i, s);
}

static void heap_sift_down(Loop *l, size_t i)
{
    LoopSource *s = l->heap[i];

    for (;;) {
        size_t child = 2 * i + 1;

        if (child >= l->heap_len)
            break;
        if (child + 1 < l->heap_len && timer_before(l->heap[child + 1], l->heap[child]))
            child++;
        if (!timer_before(l->heap[child], s))
            break;
        heap_set(l, i, l->heap[child]);
        i = child;
    }
    heap_set(l, i, s);
}

int loop_heap_insert(Loop *l, LoopSource *s)
{
    if (s->timer.heap_idx != SIZE_MAX)
        return 0;
    if (l->heap_len == l->heap_cap) {
        size_t ncap = l->heap_cap ? l->heap_cap * 2 : 16;
        LoopSource **n = reallocarray(l->heap, ncap, sizeof(*n));

        if (!n)
            return -ENOMEM;
        l->heap = n;
        l->heap_cap = ncap;
    }
    heap_set(l, l->heap_len++, s);
    heap_sift_up(l, s->timer.heap_idx);
    return 0;
}

void loop_heap_remove(Loop *l, LoopSource *s)
{
    size_t i = s->timer.heap_idx;
    LoopSource *last;

    if (i == SIZE_MAX)
        return;
    s->timer.heap_idx = SIZE_MAX;
    last = l->heap[--l->heap_len];
    if (i == l->heap_len)
        return;
    heap_set(l, i, last);
    /* The moved element may belong above or below its new slot. */
    if (i > 0 && timer_before(last, l->heap[(i - 1) / 2]))
        heap_sift_up(l, i);
    else
        heap_sift_down(l, i);
}

LoopSource *loop_heap_peek(const Loop *l)
{
    return l->heap_len > 0 ? l->heap[0] : NULL;
}

/*
 * Arms the one timerfd for the earliest deadline, or disarms it. Rearming
 * also resets the timerfd's expiration count, so a disarmed or moved timer
 * cannot leave the fd readable and wake us for nothing.
 */
int loop_timer_sync(Loop *l)
{
    LoopSource *top = loop_heap_peek(l);
    uint64_t want = top ? top->timer.deadline : LOOP_TIME_INFINITY;
    struct itimerspec its = {0};

    if (want == l->timer_armed)
        return 0;
    if (want != LOOP_TIME_INFINITY) {
        /* An all-zero it_value disarms: a deadline of 0 means "as soon as possible". */
        uint64_t t = want > 0 ? want : 1;

        its.it_value.tv_sec = (time_t)(t / 1000000u);
        its.it_value.tv_nsec = (long)(t % 1000000u) * 1000;
    }
    if (timerfd_settime(l->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        return -errno;
    l->timer_armed = want;
    return 0;
}
