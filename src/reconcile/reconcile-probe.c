/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <stdio.h>

#include "reconcile.h"

#define USEC_PER_SEC 1000000u
#define NOT_DUE UINT64_MAX

static const char *const probe_kind_table[_PROBE_KIND_MAX] = {
    [PROBE_KIND_STARTUP] = "startup",
    [PROBE_KIND_LIVENESS] = "liveness",
    [PROBE_KIND_READINESS] = "readiness",
};

/* As the kubelet's events write them. */
static const char *const probe_kind_title[_PROBE_KIND_MAX] = {
    [PROBE_KIND_STARTUP] = "Startup",
    [PROBE_KIND_LIVENESS] = "Liveness",
    [PROBE_KIND_READINESS] = "Readiness",
};

static bool kind_ok(ProbeKind k)
{
    return (int)k >= 0 && k < _PROBE_KIND_MAX;
}

const char *reconcile_probe_kind_to_string(ProbeKind k)
{
    return kind_ok(k) ? probe_kind_table[k] : NULL;
}

ProbeKind reconcile_probe_kind_from_string(const char *s)
{
    for (int i = 0; s && i < _PROBE_KIND_MAX; i++)
        if (streq(probe_kind_table[i], s))
            return (ProbeKind)i;
    return _PROBE_KIND_INVALID;
}

const Probe *reconcile_probe_spec(const Container *c, ProbeKind k)
{
    switch (k) {
    case PROBE_KIND_STARTUP:
        return &c->startup_probe;
    case PROBE_KIND_LIVENESS:
        return &c->liveness_probe;
    case PROBE_KIND_READINESS:
        return &c->readiness_probe;
    default:
        return NULL;
    }
}

const char *reconcile_probe_kill_text(ProbeKind k)
{
    switch (k) {
    case PROBE_KIND_STARTUP:
        return "failed startup probe, will be restarted";
    case PROBE_KIND_LIVENESS:
        return "failed liveness probe, will be restarted";
    default:
        return NULL;
    }
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* Settings in range whatever the model holds (validation enforces the same bounds). */
static void track_init(ProbeTrack *t, ProbeKind k, const Probe *spec)
{
    *t = (ProbeTrack){.configured = spec->action != PROBE_ACTION_NONE,
                      .due = NOT_DUE,
                      .last = _PROBE_RESULT_INVALID,
                      .grace_seconds = spec->termination_grace_period_seconds};
    if (!t->configured)
        return;
    t->initial_delay =
        (uint64_t)(spec->initial_delay_seconds > 0 ? spec->initial_delay_seconds : 0) *
        USEC_PER_SEC;
    t->period = (uint64_t)(spec->period_seconds > 0 ? spec->period_seconds : 10) * USEC_PER_SEC;
    t->timeout = (uint64_t)(spec->timeout_seconds > 0 ? spec->timeout_seconds : 1) * USEC_PER_SEC;
    /* Liveness and startup succeed with one success, as Kubernetes requires. */
    t->success_threshold = k == PROBE_KIND_READINESS && spec->success_threshold > 0
                               ? (uint32_t)spec->success_threshold
                               : 1;
    t->failure_threshold = spec->failure_threshold > 0 ? (uint32_t)spec->failure_threshold : 3;
}

/* Liveness and readiness may run: the startup probe is done (or absent). */
static void release_held(CtrProbes *p, uint64_t first)
{
    for (ProbeKind k = PROBE_KIND_LIVENESS; k <= PROBE_KIND_READINESS; k++)
        if (p->track[k].configured)
            p->track[k].due = max_u64(first, p->started_at + p->track[k].initial_delay);
}

static unsigned effects_now(const CtrProbes *p)
{
    return (p->started ? PROBE_EFFECT_STARTED : 0) | (p->ready ? PROBE_EFFECT_READY : 0);
}

unsigned reconcile_probes_init(CtrProbes *p, const Container *c, uint64_t started_at)
{
    ProbeTrack *startup = &p->track[PROBE_KIND_STARTUP];

    *p = (CtrProbes){.started_at = started_at};
    for (ProbeKind k = 0; k < _PROBE_KIND_MAX; k++)
        track_init(&p->track[k], k, reconcile_probe_spec(c, k));
    if (startup->configured)
        startup->due = started_at + startup->initial_delay;
    else {
        p->started = true;
        release_held(p, started_at);
    }
    p->ready = p->started && !p->track[PROBE_KIND_READINESS].configured;
    return effects_now(p);
}

unsigned reconcile_probes_adopt(CtrProbes *p, const Container *c, uint64_t started_at,
                                const ProbeCounts *saved, uint64_t now)
{
    (void)reconcile_probes_init(p, c, started_at);
    if (saved) {
        for (ProbeKind k = 0; k < _PROBE_KIND_MAX; k++)
            if (p->track[k].configured) {
                p->track[k].successes = saved->successes[k];
                p->track[k].failures = saved->failures[k];
            }
        p->started = p->started || saved->started;
        p->ready = p->started && (p->track[PROBE_KIND_READINESS].configured ? saved->ready : true);
    }
    for (ProbeKind k = 0; k < _PROBE_KIND_MAX; k++) {
        ProbeTrack *t = &p->track[k];
        bool runs = t->configured && (k == PROBE_KIND_STARTUP ? !p->started : p->started);

        t->due = runs ? max_u64(now + t->period, started_at + t->initial_delay) : NOT_DUE;
    }
    return effects_now(p);
}

void reconcile_probes_save(const CtrProbes *p, ProbeCounts *ret)
{
    *ret = (ProbeCounts){.started = p->started, .ready = p->ready};
    for (ProbeKind k = 0; k < _PROBE_KIND_MAX; k++) {
        ret->successes[k] = p->track[k].successes;
        ret->failures[k] = p->track[k].failures;
    }
}

uint64_t reconcile_probe_due(const CtrProbes *p, ProbeKind k)
{
    if (!kind_ok(k) || p->killed || !p->track[k].configured)
        return NOT_DUE;
    return p->track[k].due;
}

uint64_t reconcile_probes_next_due(const CtrProbes *p, ProbeKind *ret_kind)
{
    uint64_t best = NOT_DUE;

    for (ProbeKind k = 0; k < _PROBE_KIND_MAX; k++) {
        uint64_t due = reconcile_probe_due(p, k);

        if (due < best) {
            best = due;
            if (ret_kind)
                *ret_kind = k;
        }
    }
    return best;
}

int reconcile_probe_begin(CtrProbes *p, ProbeKind k, uint64_t now)
{
    if (reconcile_probe_due(p, k) == NOT_DUE)
        return -EBUSY;
    p->track[k].due = NOT_DUE;
    p->track[k].running = true;
    p->track[k].run_started = now;
    return 0;
}

/* One line of printable text, trimmed. */
static void excerpt_set(char *dst, const char *src)
{
    size_t n = 0;

    for (; src && *src && n < PROBE_EXCERPT_MAX - 1; src++)
        dst[n++] = (unsigned char)*src < 0x20 || *src == 0x7f ? ' ' : *src;
    while (n > 0 && dst[n - 1] == ' ')
        n--;
    dst[n] = '\0';
}

static uint32_t bump(uint32_t n)
{
    return n < UINT32_MAX ? n + 1 : n;
}

int reconcile_probe_result(CtrProbes *p, ProbeKind k, ProbeResult r, const char *excerpt,
                           uint64_t now)
{
    ProbeTrack *t;
    unsigned fx = 0;

    if (!kind_ok(k) || (int)r < 0 || r >= _PROBE_RESULT_MAX || p->killed || !p->track[k].running)
        return -EINVAL;
    t = &p->track[k];
    /* The next run is a period after this one began; at once when this one outlasted it. */
    t->due = max_u64(t->run_started + t->period, now);
    t->running = false;
    t->last = r;
    excerpt_set(t->excerpt, excerpt);

    if (r == PROBE_RESULT_SUCCESS) {
        t->successes = bump(t->successes);
        t->failures = 0;
        if (k == PROBE_KIND_STARTUP) {
            t->due = NOT_DUE;
            p->started = true;
            fx |= PROBE_EFFECT_STARTED;
            release_held(p, now);
            if (!p->track[PROBE_KIND_READINESS].configured) {
                p->ready = true;
                fx |= PROBE_EFFECT_READY;
            }
        } else if (k == PROBE_KIND_READINESS && !p->ready && t->successes >= t->success_threshold) {
            p->ready = true;
            fx |= PROBE_EFFECT_READY;
        }
        return (int)fx;
    }

    t->failures = bump(t->failures);
    t->successes = 0;
    fx |= PROBE_EFFECT_UNHEALTHY;
    if (t->failures < t->failure_threshold)
        return (int)fx;
    if (k == PROBE_KIND_READINESS) {
        if (p->ready) {
            p->ready = false;
            fx |= PROBE_EFFECT_UNREADY;
        }
        return (int)fx;
    }
    p->killed = true;
    fx |= PROBE_EFFECT_KILL;
    if (p->ready) {
        p->ready = false;
        fx |= PROBE_EFFECT_UNREADY;
    }
    return (int)fx;
}

int reconcile_probe_event_text(const CtrProbes *p, ProbeKind k, char *buf, size_t size)
{
    const ProbeTrack *t;

    if (!kind_ok(k))
        return snprintf(buf, size, "%s", "");
    t = &p->track[k];
    return snprintf(buf, size, "%s probe failed (%" PRIu32 "/%" PRIu32 "): %s", probe_kind_title[k],
                    t->failures, t->failure_threshold,
                    t->excerpt[0] ? t->excerpt : probe_result_to_string(t->last));
}
