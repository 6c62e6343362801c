/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <stdio.h>

#include "reconcile/reconcile.h"

/* The container lifecycle, its policies and the pod phase: pure, so no root and no clock. */

#define SEC 1000000ull
#define NOW (100000 * SEC)

static const CtrPolicy policy_always = {
    .restart = RESTART_POLICY_ALWAYS,
    .backoff = {.initial_usec = 10 * SEC, .max_usec = 300 * SEC, .reset_usec = 600 * SEC},
    .grace_usec = 30 * SEC,
    .image_retry_usec = 2 * SEC,
    .pull_backoff = {.initial_usec = 10 * SEC, .max_usec = 300 * SEC},
    .remove_retry_usec = SEC / 5,
    .start_retry_usec = SEC / 20,
};

static CtrPolicy policy_with(RestartPolicy r)
{
    CtrPolicy p = policy_always;

    p.restart = r;
    return p;
}

static const CtrExit exit_ok = {.code = 0}, exit_fail = {.code = 1};

/*
 * The canonical record of each state, as the manager would hold it: a
 * container that ran once (except in the waiting states and STARTING),
 * whose state's deadline (if any) has just come, with an ordinary goal.
 */
static CtrLife canonical(CtrState s)
{
    CtrLife l = ctr_life_new(CONTAINER_KIND_REGULAR);

    l.state = s;
    switch (s) {
    case CTR_STATE_WAITING:
    case CTR_STATE_WAITING_RUNTIME:
        break;
    case CTR_STATE_WAITING_IMAGE:
        l.reason = CTR_REASON_IMAGE_NOT_FOUND;
        l.deadline = NOW;
        break;
    case CTR_STATE_STARTING:
        l.deadline = NOW;
        break;
    default:
        l.started_once = true;
        l.restart_count = 1;
        l.backoff_step = 1;
        l.started_mono = NOW - SEC;
        l.last_exit = exit_fail;
        break;
    }
    if (s == CTR_STATE_STOPPING || s == CTR_STATE_BACKOFF || s == CTR_STATE_REMOVING ||
        s == CTR_STATE_PULL_BACKOFF)
        l.deadline = NOW;
    /* Its last exit (restart number two, after a run of one second) decided 10 s of back-off. */
    if (s == CTR_STATE_REMOVING || s == CTR_STATE_BACKOFF) {
        l.restart_decided = true;
        l.restart_at = s == CTR_STATE_BACKOFF ? NOW : NOW + 10 * SEC;
        l.backoff_step = 2;
    }
    if (s == CTR_STATE_STOPPING || s == CTR_STATE_KILLING)
        l.goal = CTR_GOAL_REPLACE;
    return l;
}

static CtrEvent event(CtrEventType t)
{
    return (CtrEvent){.type = t, .exit = exit_fail};
}

static void assert_life_eq(const CtrLife *a, const CtrLife *b)
{
    ck_assert_int_eq(a->state, b->state);
    ck_assert_int_eq(a->goal, b->goal);
    ck_assert_int_eq(a->kind, b->kind);
    ck_assert_int_eq(a->reason, b->reason);
    ck_assert_uint_eq(a->deadline, b->deadline);
    ck_assert_uint_eq(a->restart_count, b->restart_count);
    ck_assert_uint_eq(a->backoff_step, b->backoff_step);
    ck_assert_uint_eq(a->pull_failures, b->pull_failures);
    ck_assert_int_eq(a->started_once, b->started_once);
    ck_assert_int_eq(a->succeeded_once, b->succeeded_once);
    ck_assert_uint_eq(a->started_mono, b->started_mono);
    ck_assert_int_eq(a->last_exit.code, b->last_exit.code);
    ck_assert_int_eq(a->restart_decided, b->restart_decided);
    ck_assert_uint_eq(a->restart_at, b->restart_at);
}

/* ---- the state x event table ---------------------------------------------------------------- */

#define KEEP ((uint64_t)-1)
#define ANY_GOAL (-1)

typedef struct StepCase {
    CtrState from;
    CtrEventType ev;
    CtrState to;
    unsigned actions;
    uint64_t deadline; /* absolute; KEEP: as before */
    int goal;          /* ANY_GOAL: as before */
} StepCase;

#define A(x) CTR_ACT_##x
#define S(x) CTR_STATE_##x
#define E(x) CTR_EV_##x
#define G(x) CTR_GOAL_##x

/* Every pair that does something; any pair not listed must change nothing (test_no_op_pairs). */
static const StepCase step_cases[] = {
    {S(WAITING), E(DEPS_UNMET), S(WAITING), 0, 0, ANY_GOAL},
    {S(WAITING), E(DEPS_MET), S(WAITING), A(FIND_IMAGE), KEEP, ANY_GOAL},
    {S(WAITING), E(DEPS_FAILED), S(WAITING), A(EVENT), 0, ANY_GOAL},
    {S(WAITING), E(IMAGE_PRESENT), S(STARTING), A(START), 0, ANY_GOAL},
    {S(WAITING), E(IMAGE_ABSENT), S(WAITING_IMAGE), A(EVENT), NOW + 2 * SEC, ANY_GOAL},
    {S(WAITING), E(RUNTIME_ABSENT), S(WAITING_RUNTIME), A(EVENT), 0, ANY_GOAL},
    {S(WAITING), E(ADOPTED), S(RUNNING), A(EVENT) | A(SAVE), 0, ANY_GOAL},
    {S(WAITING), E(STOP), S(TERMINATED), A(SAVE), 0, G(STOP)},
    {S(WAITING), E(DELETED), S(TERMINATED), A(SAVE) | A(FORGET), 0, G(REMOVE)},

    {S(WAITING_IMAGE), E(DEPS_UNMET), S(WAITING), 0, 0, ANY_GOAL},
    {S(WAITING_IMAGE), E(DEPS_MET), S(WAITING_IMAGE), A(FIND_IMAGE), KEEP, ANY_GOAL},
    {S(WAITING_IMAGE), E(DEPS_FAILED), S(WAITING), A(EVENT), 0, ANY_GOAL},
    {S(WAITING_IMAGE), E(IMAGE_PRESENT), S(STARTING), A(START), 0, ANY_GOAL},
    /* Still absent: no second ImageNotFound event, only the next look. */
    {S(WAITING_IMAGE), E(IMAGE_ABSENT), S(WAITING_IMAGE), 0, NOW + 2 * SEC, ANY_GOAL},
    {S(WAITING_IMAGE), E(RETRY), S(WAITING_IMAGE), 0, 0, ANY_GOAL},
    {S(WAITING_IMAGE), E(RUNTIME_ABSENT), S(WAITING_RUNTIME), A(EVENT), 0, ANY_GOAL},
    {S(WAITING_IMAGE), E(ADOPTED), S(RUNNING), A(EVENT) | A(SAVE), 0, ANY_GOAL},
    {S(WAITING_IMAGE), E(STOP), S(TERMINATED), A(SAVE), 0, G(STOP)},
    {S(WAITING_IMAGE), E(DELETED), S(TERMINATED), A(SAVE) | A(FORGET), 0, G(REMOVE)},

    {S(WAITING_RUNTIME), E(DEPS_UNMET), S(WAITING), 0, 0, ANY_GOAL},
    {S(WAITING_RUNTIME), E(DEPS_MET), S(WAITING_RUNTIME), A(FIND_IMAGE), KEEP, ANY_GOAL},
    {S(WAITING_RUNTIME), E(DEPS_FAILED), S(WAITING), A(EVENT), 0, ANY_GOAL},
    {S(WAITING_RUNTIME), E(IMAGE_PRESENT), S(STARTING), A(START), 0, ANY_GOAL},
    {S(WAITING_RUNTIME), E(IMAGE_ABSENT), S(WAITING_IMAGE), A(EVENT), NOW + 2 * SEC, ANY_GOAL},
    {S(WAITING_RUNTIME), E(ADOPTED), S(RUNNING), A(EVENT) | A(SAVE), 0, ANY_GOAL},
    {S(WAITING_RUNTIME), E(STOP), S(TERMINATED), A(SAVE), 0, G(STOP)},
    {S(WAITING_RUNTIME), E(DELETED), S(TERMINATED), A(SAVE) | A(FORGET), 0, G(REMOVE)},

    /* The pull's end: the start, or the image back-off (10 s after the first failure). */
    {S(PULLING), E(PULL_DONE), S(STARTING), A(START) | A(EVENT), 0, ANY_GOAL},
    {S(PULLING), E(PULL_FAILED), S(PULL_BACKOFF), A(EVENT), NOW + 10 * SEC, ANY_GOAL},
    /* It ran before (canonical): its last run's directory, kept for this start, goes first. */
    {S(PULLING), E(STOP), S(REMOVING), A(REMOVE), 0, G(STOP)},
    {S(PULLING), E(DELETED), S(REMOVING), A(REMOVE), 0, G(REMOVE)},
    {S(PULLING), E(SPEC_CHANGED), S(REMOVING), A(REMOVE), 0, G(REPLACE)},

    {S(PULL_BACKOFF), E(DEPS_FAILED), S(WAITING), A(EVENT), 0, ANY_GOAL},
    {S(PULL_BACKOFF), E(BACKOFF_EXPIRED), S(WAITING), 0, 0, ANY_GOAL},
    /* podctl image pull (or a load) brought it: it looks at once. */
    {S(PULL_BACKOFF), E(IMAGE_ADDED), S(WAITING), 0, 0, ANY_GOAL},
    {S(PULL_BACKOFF), E(STOP), S(REMOVING), A(REMOVE), 0, G(STOP)},
    {S(PULL_BACKOFF), E(DELETED), S(REMOVING), A(REMOVE), 0, G(REMOVE)},
    {S(PULL_BACKOFF), E(SPEC_CHANGED), S(REMOVING), A(REMOVE), 0, G(REPLACE)},

    {S(STARTING), E(STARTED), S(RUNNING), A(EVENT) | A(SAVE), 0, ANY_GOAL},
    {S(STARTING), E(ADOPTED), S(RUNNING), A(EVENT) | A(SAVE), 0, ANY_GOAL},
    {S(STARTING), E(START_BUSY), S(STARTING), 0, NOW + SEC / 20, ANY_GOAL},
    {S(STARTING), E(RETRY), S(STARTING), A(START), 0, ANY_GOAL},
    /* A restart follows (goal RUN, Always, exit 1): only the run's records go. */
    {S(STARTING), E(START_FAILED), S(REMOVING), A(REMOVE) | A(KEEP_DIR) | A(EVENT) | A(SAVE), 0,
     ANY_GOAL},
    {S(STARTING), E(EXITED), S(REMOVING), A(REMOVE) | A(KEEP_DIR) | A(EVENT) | A(SAVE), 0,
     ANY_GOAL},
    {S(STARTING), E(STOP), S(STARTING), 0, KEEP, G(STOP)},
    {S(STARTING), E(DELETED), S(STARTING), 0, KEEP, G(REMOVE)},
    {S(STARTING), E(SPEC_CHANGED), S(STARTING), 0, KEEP, G(REPLACE)},

    {S(RUNNING), E(EXITED), S(REMOVING), A(REMOVE) | A(KEEP_DIR) | A(EVENT) | A(SAVE), 0, ANY_GOAL},
    {S(RUNNING), E(STOP), S(STOPPING), A(SIGTERM) | A(EVENT), NOW + 30 * SEC, G(STOP)},
    {S(RUNNING), E(DELETED), S(STOPPING), A(SIGTERM) | A(EVENT), NOW + 30 * SEC, G(REMOVE)},
    {S(RUNNING), E(SPEC_CHANGED), S(STOPPING), A(SIGTERM) | A(EVENT), NOW + 30 * SEC, G(REPLACE)},
    /* Probe results: `started` and `ready` change, a failure for good stops it, goal kept. */
    {S(RUNNING), E(STARTUP_PASSED), S(RUNNING), A(SAVE), 0, G(RUN)},
    {S(RUNNING), E(READY), S(RUNNING), A(SAVE), 0, G(RUN)},
    {S(RUNNING), E(UNREADY), S(RUNNING), 0, 0, G(RUN)},
    {S(RUNNING), E(UNHEALTHY), S(STOPPING), A(SIGTERM) | A(EVENT), NOW + 30 * SEC, G(RUN)},

    /* Stopped to be replaced: no restart of this version follows, all of it goes. */
    {S(STOPPING), E(EXITED), S(REMOVING), A(REMOVE) | A(EVENT) | A(SAVE), 0, ANY_GOAL},
    {S(STOPPING), E(GRACE_EXPIRED), S(KILLING), A(SIGKILL) | A(EVENT), 0, ANY_GOAL},
    {S(STOPPING), E(SIGNAL_FAILED), S(KILLING), A(SIGKILL) | A(EVENT), 0, ANY_GOAL},
    {S(STOPPING), E(STOP), S(STOPPING), 0, KEEP, G(STOP)},
    {S(STOPPING), E(DELETED), S(STOPPING), 0, KEEP, G(REMOVE)},

    {S(KILLING), E(EXITED), S(REMOVING), A(REMOVE) | A(EVENT) | A(SAVE), 0, ANY_GOAL},
    {S(KILLING), E(STOP), S(KILLING), 0, KEEP, G(STOP)},
    {S(KILLING), E(DELETED), S(KILLING), 0, KEEP, G(REMOVE)},

    /* The 10 s of back-off the exit decided (and saved with it): nothing more to save. */
    {S(REMOVING), E(REMOVED), S(BACKOFF), A(EVENT), NOW + 10 * SEC, ANY_GOAL},
    {S(REMOVING), E(REMOVE_BUSY), S(REMOVING), 0, NOW + SEC / 5, ANY_GOAL},
    {S(REMOVING), E(RETRY), S(REMOVING), A(REMOVE) | A(KEEP_DIR), 0, ANY_GOAL},
    {S(REMOVING), E(STOP), S(REMOVING), 0, KEEP, G(STOP)},
    {S(REMOVING), E(DELETED), S(REMOVING), 0, KEEP, G(REMOVE)},
    {S(REMOVING), E(SPEC_CHANGED), S(REMOVING), 0, KEEP, G(REPLACE)},

    {S(BACKOFF), E(BACKOFF_EXPIRED), S(WAITING), 0, 0, ANY_GOAL},
    /* Its last run's directory, kept for the restart, goes before it stops or is replaced. */
    {S(BACKOFF), E(STOP), S(REMOVING), A(REMOVE), 0, G(STOP)},
    {S(BACKOFF), E(DELETED), S(REMOVING), A(REMOVE), 0, G(REMOVE)},
    {S(BACKOFF), E(SPEC_CHANGED), S(REMOVING), A(REMOVE), 0, G(REPLACE)},

    {S(TERMINATED), E(SPEC_CHANGED), S(WAITING), A(FRESH) | A(SAVE), 0, G(RUN)},
    {S(TERMINATED), E(DELETED), S(TERMINATED), A(FORGET) | A(SAVE), KEEP, G(REMOVE)},
    {S(TERMINATED), E(STOP), S(TERMINATED), 0, KEEP, G(STOP)},
};

START_TEST(test_step_table)
{
    const StepCase *t = &step_cases[_i];
    CtrLife l = canonical(t->from), before = l;
    CtrEvent ev = event(t->ev);
    unsigned act = ctr_step(&l, &ev, &policy_always, NOW);

    ck_assert_msg(l.state == t->to && act == t->actions,
                  "%s + %s: got %s actions %#x, want %s actions %#x", ctr_state_to_string(t->from),
                  ctr_event_type_to_string(t->ev), ctr_state_to_string(l.state), act,
                  ctr_state_to_string(t->to), t->actions);
    ck_assert_uint_eq(l.deadline, t->deadline == KEEP ? before.deadline : t->deadline);
    ck_assert_int_eq(l.goal, t->goal == ANY_GOAL ? (int)before.goal : t->goal);
    ck_assert_int_eq(l.kind, before.kind);
}
END_TEST

static bool listed(CtrState s, CtrEventType ev)
{
    for (size_t i = 0; i < ELEMENTSOF(step_cases); i++)
        if (step_cases[i].from == s && step_cases[i].ev == ev)
            return true;
    return false;
}

/* The rest of the state x event square: ignored, with nothing changed. */
START_TEST(test_no_op_pairs)
{
    unsigned noops = 0;

    for (int s = 0; s < _CTR_STATE_MAX; s++)
        for (int e = 0; e < _CTR_EV_MAX; e++) {
            CtrLife l = canonical((CtrState)s), before = l;
            CtrEvent ev = event((CtrEventType)e);

            if (listed((CtrState)s, (CtrEventType)e))
                continue;
            ck_assert_msg(ctr_step(&l, &ev, &policy_always, NOW) == 0, "%s + %s acted",
                          ctr_state_to_string((CtrState)s), ctr_event_type_to_string(e));
            assert_life_eq(&l, &before);
            noops++;
        }
    ck_assert_uint_eq(noops + ELEMENTSOF(step_cases), _CTR_STATE_MAX * _CTR_EV_MAX);
}
END_TEST

/* Each state with a deadline names the event the deadline stands for, and the table handles it. */
START_TEST(test_deadline_events)
{
    for (int s = 0; s < _CTR_STATE_MAX; s++) {
        CtrLife l = canonical((CtrState)s);
        CtrEventType t = ctr_deadline_event((CtrState)s);

        if (l.deadline == 0 && s != CTR_STATE_WAITING_IMAGE) {
            ck_assert_int_eq(t, _CTR_EV_INVALID);
            continue;
        }
        ck_assert_msg(listed((CtrState)s, t), "%s has no row for its deadline",
                      ctr_state_to_string((CtrState)s));
    }
}
END_TEST

START_TEST(test_strings)
{
    static const char *const k8s[] = {"PodInitializing",
                                      "ContainerCreating",
                                      "CrashLoopBackOff",
                                      "ImageNotFound",
                                      "RuntimeNotAvailable",
                                      "Completed",
                                      "Error",
                                      "OOMKilled",
                                      "StartError",
                                      "MonitorLost",
                                      "DependencyFailed",
                                      "ErrImagePull",
                                      "ImagePullBackOff",
                                      "ErrImageNeverPull"};

    for (size_t i = 0; i < ELEMENTSOF(k8s); i++)
        ck_assert_str_eq(ctr_reason_to_string(ctr_reason_from_string(k8s[i])), k8s[i]);
    for (int r = 0; r < _CTR_REASON_MAX; r++)
        ck_assert_int_eq(ctr_reason_from_string(ctr_reason_to_string((CtrReason)r)), r);
    for (int s = 0; s < _CTR_STATE_MAX; s++)
        ck_assert_int_eq(ctr_state_from_string(ctr_state_to_string((CtrState)s)), s);
    for (int e = 0; e < _CTR_EV_MAX; e++)
        ck_assert_ptr_nonnull(ctr_event_type_to_string((CtrEventType)e));
    ck_assert_ptr_null(ctr_reason_to_string(_CTR_REASON_MAX));
    /* What a waiting container shows, and what only a termination says. */
    ck_assert(ctr_reason_is_waiting(CTR_REASON_IMAGE_PULL_BACK_OFF));
    ck_assert(ctr_reason_is_waiting(CTR_REASON_ERR_IMAGE_NEVER_PULL));
    ck_assert(ctr_reason_is_waiting(CTR_REASON_DEPENDENCY_FAILED));
    ck_assert(!ctr_reason_is_waiting(CTR_REASON_COMPLETED));
    ck_assert(!ctr_reason_is_waiting(CTR_REASON_OOM_KILLED));
    ck_assert(!ctr_reason_is_waiting(CTR_REASON_NONE));
    ck_assert_int_eq(ctr_reason_from_string("Crashed"), _CTR_REASON_INVALID);
    ck_assert_str_eq(pod_phase_to_string(POD_PHASE_SUCCEEDED), "Succeeded");
    ck_assert_int_eq(pod_phase_from_string("Failed"), POD_PHASE_FAILED);
}
END_TEST

START_TEST(test_exit_reasons)
{
    ck_assert_int_eq(ctr_exit_reason(&exit_ok), CTR_REASON_COMPLETED);
    ck_assert_int_eq(ctr_exit_reason(&exit_fail), CTR_REASON_ERROR);
    ck_assert_int_eq(ctr_exit_reason(&(CtrExit){.code = 137, .signal = 9}), CTR_REASON_ERROR);
    ck_assert_int_eq(ctr_exit_reason(&(CtrExit){.code = 137, .signal = 9, .oom_killed = true}),
                     CTR_REASON_OOM_KILLED);
    ck_assert_int_eq(ctr_exit_reason(&(CtrExit){.code = -1, .monitor_lost = true}),
                     CTR_REASON_MONITOR_LOST);
    ck_assert_int_eq(ctr_exit_reason(&(CtrExit){.code = 127, .start_error = true}),
                     CTR_REASON_START_ERROR);
}
END_TEST

/* ---- restart policies ------------------------------------------------------------------------ */

typedef struct PolicyCase {
    ContainerKind kind;
    RestartPolicy pod;
    bool own_set;
    RestartPolicy own, want;
} PolicyCase;

#define ALWAYS RESTART_POLICY_ALWAYS
#define ONFAIL RESTART_POLICY_ON_FAILURE
#define NEVER RESTART_POLICY_NEVER

static const PolicyCase policy_cases[] = {
    {CONTAINER_KIND_REGULAR, ALWAYS, false, NEVER, ALWAYS},
    {CONTAINER_KIND_REGULAR, ONFAIL, false, ALWAYS, ONFAIL},
    {CONTAINER_KIND_REGULAR, NEVER, false, ALWAYS, NEVER},
    /* A container's own restartPolicy overrides the pod's. */
    {CONTAINER_KIND_REGULAR, ALWAYS, true, NEVER, NEVER},
    {CONTAINER_KIND_REGULAR, NEVER, true, ONFAIL, ONFAIL},
    /* A sidecar always restarts. */
    {CONTAINER_KIND_SIDECAR, NEVER, true, ALWAYS, ALWAYS},
    {CONTAINER_KIND_SIDECAR, ONFAIL, true, ALWAYS, ALWAYS},
    /* An init container runs until it succeeds, or once under Never. */
    {CONTAINER_KIND_INIT, ALWAYS, false, ALWAYS, ONFAIL},
    {CONTAINER_KIND_INIT, ONFAIL, false, ALWAYS, ONFAIL},
    {CONTAINER_KIND_INIT, NEVER, false, ALWAYS, NEVER},
};

START_TEST(test_restart_policy_table)
{
    const PolicyCase *t = &policy_cases[_i];

    ck_assert_int_eq(ctr_restart_policy(t->kind, t->pod, t->own_set, t->own), t->want);
}
END_TEST

/* Ends a run (RUNNING, STOPPING or KILLING) with code, and takes it through the removal. */
static unsigned run_and_exit(CtrLife *l, const CtrPolicy *p, int code, uint64_t at)
{
    CtrEvent ev = {.type = CTR_EV_EXITED, .exit = {.code = code}};
    unsigned act;

    ck_assert(ctr_state_shows_running(l->state));
    act = ctr_step(l, &ev, p, at);
    ck_assert_int_eq(l->state, CTR_STATE_REMOVING);
    ck_assert_uint_ne(act & CTR_ACT_REMOVE, 0);
    return act | ctr_step(l, &(CtrEvent){.type = CTR_EV_REMOVED}, p, at);
}

/* Takes a waiting container through its start to RUNNING. */
static void start(CtrLife *l, const CtrPolicy *p, uint64_t at)
{
    ck_assert_uint_eq(ctr_step(l, &(CtrEvent){.type = CTR_EV_DEPS_MET}, p, at), CTR_ACT_FIND_IMAGE);
    ck_assert_uint_eq(ctr_step(l, &(CtrEvent){.type = CTR_EV_IMAGE_PRESENT}, p, at), CTR_ACT_START);
    ck_assert_int_eq(l->state, CTR_STATE_STARTING);
    ck_assert_int_eq(l->reason, CTR_REASON_CONTAINER_CREATING);
    (void)ctr_step(l, &(CtrEvent){.type = CTR_EV_STARTED}, p, at);
    ck_assert_int_eq(l->state, CTR_STATE_RUNNING);
}

typedef struct ExitCase {
    ContainerKind kind;
    RestartPolicy pod;
    int code;
    CtrState want;
} ExitCase;

static const ExitCase exit_cases[] = {
    {CONTAINER_KIND_REGULAR, ALWAYS, 0, CTR_STATE_WAITING},
    {CONTAINER_KIND_REGULAR, ALWAYS, 1, CTR_STATE_WAITING},
    {CONTAINER_KIND_REGULAR, ONFAIL, 0, CTR_STATE_TERMINATED},
    {CONTAINER_KIND_REGULAR, ONFAIL, 1, CTR_STATE_WAITING},
    {CONTAINER_KIND_REGULAR, NEVER, 0, CTR_STATE_TERMINATED},
    {CONTAINER_KIND_REGULAR, NEVER, 1, CTR_STATE_TERMINATED},
    {CONTAINER_KIND_INIT, ALWAYS, 0, CTR_STATE_TERMINATED},
    {CONTAINER_KIND_INIT, ALWAYS, 1, CTR_STATE_WAITING},
    {CONTAINER_KIND_INIT, NEVER, 1, CTR_STATE_TERMINATED},
    {CONTAINER_KIND_SIDECAR, NEVER, 0, CTR_STATE_WAITING},
};

/* The first exit of each kind under each policy: restarted at once, or done for good. */
START_TEST(test_exit_under_policy)
{
    const ExitCase *t = &exit_cases[_i];
    CtrPolicy p = policy_with(ctr_restart_policy(t->kind, t->pod, false, ALWAYS));
    CtrLife l = ctr_life_new(t->kind);

    start(&l, &p, NOW);
    (void)run_and_exit(&l, &p, t->code, NOW + SEC);
    ck_assert_int_eq(l.state, t->want);
    ck_assert_int_eq(l.reason, t->want == CTR_STATE_WAITING ? CTR_REASON_CONTAINER_CREATING
                               : t->code == 0               ? CTR_REASON_COMPLETED
                                                            : CTR_REASON_ERROR);
    ck_assert_int_eq(l.succeeded_once, t->code == 0);
}
END_TEST

/* ---- image pulls ---------------------------------------------------------------------------- */

typedef struct PullCase {
    CtrState from;
    CtrEventType ev;
    bool local; /* IMAGE_PRESENT: a plain directory */
    CtrPull pull;
    CtrState to;
    unsigned actions;
    CtrReason reason;
    uint64_t deadline;
} PullCase;

#define P(x) CTR_PULL_##x
#define R(x) CTR_REASON_##x

/* What a container does with its image looked up, under each pull policy. */
static const PullCase pull_cases[] = {
    /* Present: started, but Always pulls first (a plain directory has no registry). */
    {S(WAITING), E(IMAGE_PRESENT), false, P(NONE), S(STARTING), A(START), R(CONTAINER_CREATING), 0},
    /* Pulled "already present on machine", as kubelet says it, for a registry's image. */
    {S(WAITING), E(IMAGE_PRESENT), false, P(IF_NOT_PRESENT), S(STARTING), A(START) | A(EVENT),
     R(CONTAINER_CREATING), 0},
    {S(WAITING), E(IMAGE_PRESENT), false, P(NEVER), S(STARTING), A(START) | A(EVENT),
     R(CONTAINER_CREATING), 0},
    {S(WAITING), E(IMAGE_PRESENT), true, P(IF_NOT_PRESENT), S(STARTING), A(START),
     R(CONTAINER_CREATING), 0},
    {S(WAITING), E(IMAGE_PRESENT), false, P(ALWAYS), S(PULLING), A(PULL_IMAGE) | A(EVENT),
     R(CONTAINER_CREATING), 0},
    {S(WAITING), E(IMAGE_PRESENT), true, P(ALWAYS), S(STARTING), A(START), R(CONTAINER_CREATING),
     0},
    /* Absent: pulled, unless Never (ErrImageNeverPull) or a directory (ImageNotFound). */
    {S(WAITING), E(IMAGE_ABSENT), false, P(ALWAYS), S(PULLING), A(PULL_IMAGE) | A(EVENT),
     R(CONTAINER_CREATING), 0},
    {S(WAITING), E(IMAGE_ABSENT), false, P(IF_NOT_PRESENT), S(PULLING), A(PULL_IMAGE) | A(EVENT),
     R(CONTAINER_CREATING), 0},
    {S(WAITING), E(IMAGE_ABSENT), false, P(NEVER), S(WAITING_IMAGE), A(EVENT),
     R(ERR_IMAGE_NEVER_PULL), NOW + 2 * SEC},
    {S(WAITING), E(IMAGE_ABSENT), false, P(NONE), S(WAITING_IMAGE), A(EVENT), R(IMAGE_NOT_FOUND),
     NOW + 2 * SEC},
    /* A look after the image back-off: pulled again. */
    {S(WAITING_IMAGE), E(IMAGE_ABSENT), false, P(IF_NOT_PRESENT), S(PULLING),
     A(PULL_IMAGE) | A(EVENT), R(CONTAINER_CREATING), 0},
    {S(WAITING_IMAGE), E(IMAGE_PRESENT), false, P(ALWAYS), S(PULLING), A(PULL_IMAGE) | A(EVENT),
     R(CONTAINER_CREATING), 0},
};

START_TEST(test_pull_table)
{
    const PullCase *t = &pull_cases[_i];
    CtrPolicy p = policy_always;
    CtrLife l = canonical(t->from);
    unsigned act;

    p.pull = t->pull;
    act = ctr_step(&l, &(CtrEvent){.type = t->ev, .local = t->local}, &p, NOW);
    ck_assert_msg(l.state == t->to && act == t->actions && l.reason == t->reason,
                  "row %d: got %s %s actions %#x", _i, ctr_state_to_string(l.state),
                  ctr_reason_to_string(l.reason), act);
    ck_assert_uint_eq(l.deadline, t->deadline);
}
END_TEST

/* Never, still absent at the next look: no second event, the same reason. */
START_TEST(test_never_pull_is_told_once)
{
    CtrPolicy p = policy_always;
    CtrLife l = ctr_life_new(CONTAINER_KIND_REGULAR);

    p.pull = CTR_PULL_NEVER;
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_IMAGE_ABSENT}, &p, NOW),
                      CTR_ACT_EVENT);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_RETRY}, &p, NOW + 2 * SEC), 0);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_IMAGE_ABSENT}, &p, NOW + 2 * SEC), 0);
    ck_assert_int_eq(l.reason, CTR_REASON_ERR_IMAGE_NEVER_PULL);
    ck_assert_str_eq(ctr_reason_to_string(l.reason), "ErrImageNeverPull");
    /* Loaded meanwhile: it starts, with kubelet's "already present on machine". */
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_IMAGE_PRESENT}, &p, NOW + 3 * SEC),
                      CTR_ACT_START | CTR_ACT_EVENT);
}
END_TEST

/*
 * Kubernetes' image back-off: 10 s after the first failed pull, doubling up
 * to 5 min; ErrImagePull until the next look, then ImagePullBackOff; a pull
 * that succeeds starts the container and forgets the failures.
 */
START_TEST(test_pull_backoff_schedule)
{
    static const uint64_t want[] = {10, 20, 40, 80, 160, 300, 300};
    CtrPolicy p = policy_always;
    CtrLife l = ctr_life_new(CONTAINER_KIND_REGULAR);
    uint64_t t = NOW;

    p.pull = CTR_PULL_IF_NOT_PRESENT;
    for (unsigned i = 0; i < ELEMENTSOF(want); i++) {
        ck_assert_uint_eq(ctr_pull_backoff_delay(&p.pull_backoff, i + 1), want[i] * SEC);
        ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_DEPS_MET}, &p, t),
                          CTR_ACT_FIND_IMAGE);
        ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_IMAGE_ABSENT}, &p, t),
                          CTR_ACT_PULL_IMAGE | CTR_ACT_EVENT);
        ck_assert_int_eq(l.state, CTR_STATE_PULLING);
        t += SEC;
        ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_PULL_FAILED}, &p, t),
                          CTR_ACT_EVENT);
        ck_assert_int_eq(l.state, CTR_STATE_PULL_BACKOFF);
        ck_assert_int_eq(l.reason, CTR_REASON_ERR_IMAGE_PULL);
        ck_assert_uint_eq(l.deadline, t + want[i] * SEC);
        /* The next look says ImagePullBackOff, once. */
        ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_DEPS_MET}, &p, t), CTR_ACT_EVENT);
        ck_assert_int_eq(l.reason, CTR_REASON_IMAGE_PULL_BACK_OFF);
        ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_DEPS_MET}, &p, t), 0);
        ck_assert_int_eq(ctr_deadline_event(l.state), CTR_EV_BACKOFF_EXPIRED);
        t = l.deadline;
        ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_BACKOFF_EXPIRED}, &p, t), 0);
        ck_assert_int_eq(l.state, CTR_STATE_WAITING);
        ck_assert_int_eq(l.reason, CTR_REASON_IMAGE_PULL_BACK_OFF);
    }
    ck_assert_uint_eq(l.pull_failures, ELEMENTSOF(want));
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_DEPS_MET}, &p, t),
                      CTR_ACT_FIND_IMAGE);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_IMAGE_ABSENT}, &p, t),
                      CTR_ACT_PULL_IMAGE | CTR_ACT_EVENT);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_PULL_DONE}, &p, t),
                      CTR_ACT_START | CTR_ACT_EVENT);
    ck_assert_int_eq(l.state, CTR_STATE_STARTING);
    ck_assert_uint_eq(l.pull_failures, 0);
    /* Always pulls at each start: after a crash too, before the restart. */
    p.pull = CTR_PULL_ALWAYS;
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_STARTED}, &p, t),
                      CTR_ACT_EVENT | CTR_ACT_SAVE);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_EXITED, .exit = exit_fail}, &p, t + SEC);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_REMOVED}, &p, t + SEC);
    ck_assert_int_eq(l.state, CTR_STATE_WAITING); /* the first restart is immediate */
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_DEPS_MET}, &p, t + SEC),
                      CTR_ACT_FIND_IMAGE);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_IMAGE_PRESENT}, &p, t + SEC),
                      CTR_ACT_PULL_IMAGE | CTR_ACT_EVENT);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_PULL_DONE}, &p, t + SEC),
                      CTR_ACT_START | CTR_ACT_EVENT);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_STARTED}, &p, t + SEC),
                      CTR_ACT_EVENT | CTR_ACT_SAVE);
    ck_assert_uint_eq(l.restart_count, 1);
}
END_TEST

/* ---- back-off ------------------------------------------------------------------------------- */

START_TEST(test_backoff_schedule)
{
    static const uint64_t want[] = {0, 10, 20, 40, 80, 160, 300, 300, 300};
    CtrLife l = ctr_life_new(CONTAINER_KIND_REGULAR);
    uint64_t t = NOW;

    for (unsigned i = 0; i < ELEMENTSOF(want); i++)
        ck_assert_uint_eq(ctr_backoff_delay(&policy_always.backoff, i), want[i] * SEC);
    /* The same schedule through the state machine: crash every second. */
    start(&l, &policy_always, t);
    for (unsigned i = 0; i < ELEMENTSOF(want); i++) {
        (void)run_and_exit(&l, &policy_always, 1, t + SEC);
        t += SEC;
        if (want[i] == 0) {
            ck_assert_int_eq(l.state, CTR_STATE_WAITING);
        } else {
            ck_assert_int_eq(l.state, CTR_STATE_BACKOFF);
            ck_assert_int_eq(l.reason, CTR_REASON_CRASH_LOOP_BACK_OFF);
            ck_assert_uint_eq(l.deadline, t + want[i] * SEC);
            t = l.deadline;
            ck_assert_uint_eq(
                ctr_step(&l, &(CtrEvent){.type = CTR_EV_BACKOFF_EXPIRED}, &policy_always, t), 0);
        }
        ck_assert_uint_eq(l.restart_count, i);
        start(&l, &policy_always, t);
        ck_assert_uint_eq(l.restart_count, i + 1);
    }
}
END_TEST

/* Ten minutes up forget the crash loop: the next restart is immediate again. */
START_TEST(test_backoff_reset)
{
    CtrLife l = ctr_life_new(CONTAINER_KIND_REGULAR);

    l.backoff_step = 5;
    start(&l, &policy_always, NOW);
    (void)run_and_exit(&l, &policy_always, 1, NOW + 600 * SEC - 1);
    ck_assert_int_eq(l.state, CTR_STATE_BACKOFF);
    ck_assert_uint_eq(l.deadline - (NOW + 600 * SEC - 1), 160 * SEC);

    l = ctr_life_new(CONTAINER_KIND_REGULAR);
    l.backoff_step = 5;
    start(&l, &policy_always, NOW);
    (void)run_and_exit(&l, &policy_always, 1, NOW + 600 * SEC);
    ck_assert_int_eq(l.state, CTR_STATE_WAITING);
    ck_assert_uint_eq(l.backoff_step, 1);
}
END_TEST

/* podd.io/restart-backoff: "1s,4s,1m" as the manager hands it in. */
START_TEST(test_backoff_override)
{
    static const uint64_t want[] = {0, 1, 2, 4, 4};
    CtrPolicy p = policy_always;
    CtrLife l = ctr_life_new(CONTAINER_KIND_REGULAR);

    p.backoff = (CtrBackoff){.initial_usec = SEC, .max_usec = 4 * SEC, .reset_usec = 60 * SEC};
    for (unsigned i = 0; i < ELEMENTSOF(want); i++)
        ck_assert_uint_eq(ctr_backoff_delay(&p.backoff, i), want[i] * SEC);
    l.backoff_step = 3;
    start(&l, &p, NOW);
    (void)run_and_exit(&l, &p, 1, NOW + 59 * SEC);
    ck_assert_uint_eq(l.deadline, NOW + 63 * SEC);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_BACKOFF_EXPIRED}, &p, l.deadline);
    start(&l, &p, NOW + 63 * SEC);
    (void)run_and_exit(&l, &p, 1, NOW + 123 * SEC);
    ck_assert_int_eq(l.state, CTR_STATE_WAITING);
}
END_TEST

/*
 * The exit decides the restart: its step is counted and its time set then,
 * so that the state saved with the exit holds it; the removal after it saves
 * nothing more, and a slow one is part of the wait.
 */
START_TEST(test_restart_decided_at_exit)
{
    CtrLife l = ctr_life_new(CONTAINER_KIND_REGULAR);
    unsigned act;

    l.backoff_step = 1;
    start(&l, &policy_always, NOW);
    act = ctr_step(&l, &(CtrEvent){.type = CTR_EV_EXITED, .exit = exit_fail}, &policy_always,
                   NOW + SEC);
    ck_assert_uint_ne(act & CTR_ACT_SAVE, 0);
    ck_assert(l.restart_decided);
    ck_assert_uint_eq(l.backoff_step, 2);
    ck_assert_uint_eq(ctr_life_pending_restart(&l), NOW + 11 * SEC);
    /* The removal took 3 s: 7 s are left. */
    act = ctr_step(&l, &(CtrEvent){.type = CTR_EV_REMOVED}, &policy_always, NOW + 4 * SEC);
    ck_assert_uint_eq(act, CTR_ACT_EVENT);
    ck_assert_int_eq(l.state, CTR_STATE_BACKOFF);
    ck_assert_uint_eq(l.deadline, NOW + 11 * SEC);
    ck_assert_uint_eq(ctr_life_pending_restart(&l), NOW + 11 * SEC);
    /* Still decided while it waits to start; the start takes it, and its end decides anew. */
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_BACKOFF_EXPIRED}, &policy_always, NOW + 11 * SEC);
    ck_assert(l.restart_decided);
    ck_assert_uint_eq(ctr_life_pending_restart(&l), 0);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_DEPS_MET}, &policy_always, NOW + 11 * SEC);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_IMAGE_PRESENT}, &policy_always, NOW + 11 * SEC);
    ck_assert(!l.restart_decided);
    /* A start that fails counts as an end: 20 s then, not another immediate attempt. */
    (void)ctr_step(
        &l, &(CtrEvent){.type = CTR_EV_START_FAILED, .exit = {.code = 128, .start_error = true}},
        &policy_always, NOW + 12 * SEC);
    ck_assert_uint_eq(ctr_life_pending_restart(&l), NOW + 32 * SEC);
    ck_assert_uint_eq(l.backoff_step, 3);
    /* An immediate restart: WAITING once removed, nothing to save either. */
    l = ctr_life_new(CONTAINER_KIND_REGULAR);
    start(&l, &policy_always, NOW);
    act = ctr_step(&l, &(CtrEvent){.type = CTR_EV_EXITED, .exit = exit_fail}, &policy_always,
                   NOW + SEC);
    ck_assert_uint_ne(act & CTR_ACT_SAVE, 0);
    ck_assert_uint_eq(ctr_life_pending_restart(&l), NOW + SEC);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_REMOVED}, &policy_always, NOW + SEC),
                      0);
    ck_assert_int_eq(l.state, CTR_STATE_WAITING);
    /* No restart follows (a stop came meanwhile): nothing pending. */
    l = ctr_life_new(CONTAINER_KIND_REGULAR);
    start(&l, &policy_always, NOW);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_EXITED, .exit = exit_fail}, &policy_always,
                   NOW + SEC);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_STOP}, &policy_always, NOW + SEC);
    ck_assert_uint_eq(ctr_life_pending_restart(&l), 0);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_REMOVED}, &policy_always, NOW + SEC),
                      CTR_ACT_SAVE);
    ck_assert_int_eq(l.state, CTR_STATE_TERMINATED);
}
END_TEST

/*
 * A daemon died after saving an exit and before removing its record: the
 * next one finds the exit again. Its step was counted and its time saved;
 * neither changes. A record saved before the exit counts it now.
 */
START_TEST(test_restored_exit_counts_once)
{
    CtrLife l = ctr_life_restore(CONTAINER_KIND_REGULAR, 2, 3, true, false, false, &exit_fail);
    CtrLife before = ctr_life_restore(CONTAINER_KIND_REGULAR, 2, 2, true, false, false, NULL);

    ctr_life_restore_restart(&l, NOW + 15 * SEC);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_EXITED, .exit = exit_fail}, &policy_always, NOW);
    ck_assert_int_eq(l.state, CTR_STATE_REMOVING);
    ck_assert_uint_eq(l.backoff_step, 3);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_REMOVED}, &policy_always, NOW),
                      CTR_ACT_EVENT);
    ck_assert_int_eq(l.state, CTR_STATE_BACKOFF);
    ck_assert_uint_eq(l.deadline, NOW + 15 * SEC);

    before.started_mono = NOW - SEC;
    (void)ctr_step(&before, &(CtrEvent){.type = CTR_EV_EXITED, .exit = exit_fail}, &policy_always,
                   NOW);
    ck_assert_uint_eq(before.backoff_step, 3);
    ck_assert_uint_eq(ctr_life_pending_restart(&before), NOW + 20 * SEC);
}
END_TEST

/* ---- exit policy, init order, once-only init ----------------------------------------------------
 */

START_TEST(test_exit_policy)
{
    ck_assert_int_eq(pod_exit_action(POD_PHASE_RUNNING, EXIT_POLICY_STOP, false), POD_EXIT_NONE);
    ck_assert_int_eq(pod_exit_action(POD_PHASE_PENDING, EXIT_POLICY_STOP, false), POD_EXIT_NONE);
    ck_assert_int_eq(pod_exit_action(POD_PHASE_SUCCEEDED, EXIT_POLICY_STOP, false), POD_EXIT_STOP);
    ck_assert_int_eq(pod_exit_action(POD_PHASE_FAILED, EXIT_POLICY_STOP, false), POD_EXIT_STOP);
    ck_assert_int_eq(pod_exit_action(POD_PHASE_SUCCEEDED, EXIT_POLICY_CONTINUE, false),
                     POD_EXIT_CONTINUE);
    ck_assert_int_eq(pod_exit_action(POD_PHASE_FAILED, EXIT_POLICY_CONTINUE, false),
                     POD_EXIT_CONTINUE);
    /* Once only. */
    ck_assert_int_eq(pod_exit_action(POD_PHASE_FAILED, EXIT_POLICY_STOP, true), POD_EXIT_NONE);
}
END_TEST

/* A pod of containers built by hand: "init:a", "sidecar:b", "regular:c". */
static Pod *pod_of(const char *const *specs)
{
    Pod *pod = calloc(1, sizeof(Pod));

    ck_assert_ptr_nonnull(pod);
    pod->name = strdup("web");
    pod->namespace = strdup("default");
    for (size_t i = 0; specs[i]; i++) {
        const char *colon = strchr(specs[i], ':');
        ContainerKind kind = strneq(specs[i], "init:", 5)      ? CONTAINER_KIND_INIT
                             : strneq(specs[i], "sidecar:", 8) ? CONTAINER_KIND_SIDECAR
                                                               : CONTAINER_KIND_REGULAR;
        bool regular = kind == CONTAINER_KIND_REGULAR;
        Container **list = regular ? &pod->containers : &pod->init_containers;
        size_t *n = regular ? &pod->n_containers : &pod->n_init_containers;
        Container *c = reallocarray(*list, *n + 1, sizeof(Container));

        ck_assert_ptr_nonnull(c);
        *list = c;
        c[(*n)++] = (Container){.name = strdup(colon + 1),
                                .image = strdup("busybox"),
                                .kind = kind,
                                .restart_policy_set = kind == CONTAINER_KIND_SIDECAR,
                                .restart_policy = RESTART_POLICY_ALWAYS,
                                .pos = {1, 1}};
    }
    return pod;
}

typedef struct Lives {
    CtrLife l[8];
} Lives;

static const CtrLife *lives_lookup(void *userdata, size_t node)
{
    return &((Lives *)userdata)->l[node];
}

/* The name of what blocks node, or "" when nothing does. */
static const char *blocker(const Graph *g, Lives *lv, const char *name)
{
    GraphCondition cond;
    int r = reconcile_blocker(g, (size_t)graph_find_node(g, name), lives_lookup, lv, &cond);

    return r < 0 ? "" : graph_node_name(g, (size_t)r);
}

START_TEST(test_init_order)
{
    static const char *const specs[] = {"init:setup", "init:migrate", "sidecar:proxy",
                                        "regular:app", NULL};
    _cleanup_(pod_freep) Pod *pod = pod_of(specs);
    _cleanup_(graph_freep) Graph *g = NULL;
    CtrPolicy onfail = policy_with(RESTART_POLICY_ON_FAILURE);
    Lives lv;
    size_t n;
    const size_t *order;

    ck_assert_int_eq(reconcile_pod_graph(pod, &g, NULL), 0);
    order = graph_start_order(g, &n);
    ck_assert_uint_eq(n, 4);
    for (size_t i = 0; i < n; i++)
        lv.l[i] = ctr_life_new((ContainerKind)graph_node_kind(g, i));
    ck_assert_str_eq(graph_node_name(g, order[0]), "setup");
    ck_assert_str_eq(blocker(g, &lv, "setup"), "");
    ck_assert_str_eq(blocker(g, &lv, "migrate"), "setup");
    ck_assert_str_eq(blocker(g, &lv, "proxy"), "migrate");
    ck_assert_str_eq(blocker(g, &lv, "app"), "proxy");

    /* setup running is not enough: an init container must complete. */
    start(&lv.l[0], &policy_always, NOW);
    ck_assert_str_eq(blocker(g, &lv, "migrate"), "setup");
    (void)run_and_exit(&lv.l[0], &onfail, 0, NOW);
    ck_assert_int_eq(lv.l[0].state, CTR_STATE_TERMINATED);
    ck_assert_str_eq(blocker(g, &lv, "migrate"), "");
    /* A failed init container is retried and blocks until it succeeds. */
    start(&lv.l[1], &policy_always, NOW);
    (void)run_and_exit(&lv.l[1], &onfail, 1, NOW);
    ck_assert_int_eq(lv.l[1].state, CTR_STATE_WAITING);
    ck_assert_str_eq(blocker(g, &lv, "proxy"), "migrate");
    start(&lv.l[1], &policy_always, NOW);
    (void)run_and_exit(&lv.l[1], &onfail, 0, NOW);
    ck_assert_str_eq(blocker(g, &lv, "proxy"), "");
    /* A sidecar only has to start. */
    ck_assert_str_eq(blocker(g, &lv, "app"), "proxy");
    start(&lv.l[2], &policy_always, NOW);
    ck_assert_str_eq(blocker(g, &lv, "app"), "");
}
END_TEST

START_TEST(test_init_once)
{
    CtrPolicy p = policy_with(RESTART_POLICY_ON_FAILURE);
    CtrLife l = ctr_life_new(CONTAINER_KIND_INIT);

    p.init_once = true;
    /* A failure records nothing: it runs again. */
    start(&l, &p, NOW);
    ck_assert_uint_eq(run_and_exit(&l, &p, 1, NOW) & CTR_ACT_RECORD_ONCE, 0);
    start(&l, &p, NOW);
    ck_assert_uint_ne(run_and_exit(&l, &p, 0, NOW) & CTR_ACT_RECORD_ONCE, 0);
    ck_assert_int_eq(l.state, CTR_STATE_TERMINATED);
    /* Only an init container is "once". */
    l = ctr_life_new(CONTAINER_KIND_REGULAR);
    start(&l, &p, NOW);
    ck_assert_uint_eq(run_and_exit(&l, &p, 0, NOW) & CTR_ACT_RECORD_ONCE, 0);
    /* Without the annotation neither. */
    p.init_once = false;
    l = ctr_life_new(CONTAINER_KIND_INIT);
    start(&l, &p, NOW);
    ck_assert_uint_eq(run_and_exit(&l, &p, 0, NOW) & CTR_ACT_RECORD_ONCE, 0);
}
END_TEST

/* ---- stopping, replacing ----------------------------------------------------------------------
 */

START_TEST(test_reverse_order_stop)
{
    static const char *const specs[] = {"init:setup", "sidecar:proxy", "regular:app",
                                        "regular:worker", NULL};
    _cleanup_(pod_freep) Pod *pod = pod_of(specs);
    _cleanup_(graph_freep) Graph *g = NULL;
    CtrPolicy onfail = policy_with(RESTART_POLICY_ON_FAILURE);
    Lives lv;
    int setup, proxy, app, worker;

    ck_assert_int_eq(reconcile_pod_graph(pod, &g, NULL), 0);
    setup = graph_find_node(g, "setup");
    proxy = graph_find_node(g, "proxy");
    app = graph_find_node(g, "app");
    worker = graph_find_node(g, "worker");
    for (size_t i = 0; i < graph_node_count(g); i++) {
        lv.l[i] = ctr_life_new((ContainerKind)graph_node_kind(g, i));
        start(&lv.l[i], &policy_always, NOW);
    }
    (void)run_and_exit(&lv.l[setup], &onfail, 0, NOW);

    /* app and worker first; proxy waits for both. */
    ck_assert_int_eq(reconcile_stop_layer(g, lives_lookup, &lv), graph_node_layer(g, app));
    ck_assert_int_eq(graph_node_layer(g, app), graph_node_layer(g, worker));
    (void)ctr_step(&lv.l[app], &(CtrEvent){.type = CTR_EV_STOP}, &policy_always, NOW);
    (void)ctr_step(&lv.l[worker], &(CtrEvent){.type = CTR_EV_STOP}, &policy_always, NOW);
    (void)run_and_exit(&lv.l[app], &policy_always, 0, NOW);
    ck_assert_int_eq(lv.l[app].state, CTR_STATE_TERMINATED);
    /* A stopping container still holds the layer below. */
    ck_assert_int_eq(lv.l[worker].state, CTR_STATE_STOPPING);
    ck_assert_int_eq(reconcile_stop_layer(g, lives_lookup, &lv), graph_node_layer(g, worker));
    (void)ctr_step(&lv.l[worker], &(CtrEvent){.type = CTR_EV_GRACE_EXPIRED}, &policy_always,
                   NOW + 30 * SEC);
    ck_assert_int_eq(lv.l[worker].state, CTR_STATE_KILLING);
    ck_assert_int_eq(reconcile_stop_layer(g, lives_lookup, &lv), graph_node_layer(g, worker));
    (void)run_and_exit(&lv.l[worker], &policy_always, 137, NOW + 30 * SEC);
    ck_assert_int_eq(lv.l[worker].state, CTR_STATE_TERMINATED);
    ck_assert_int_eq(reconcile_stop_layer(g, lives_lookup, &lv), graph_node_layer(g, proxy));
    (void)ctr_step(&lv.l[proxy], &(CtrEvent){.type = CTR_EV_STOP}, &policy_always, NOW);
    (void)run_and_exit(&lv.l[proxy], &policy_always, 0, NOW);
    ck_assert_int_eq(lv.l[proxy].state, CTR_STATE_TERMINATED);
    ck_assert_int_eq(reconcile_stop_layer(g, lives_lookup, &lv), -ENOENT);
}
END_TEST

START_TEST(test_grace_zero_kills_at_once)
{
    CtrPolicy p = policy_always;
    CtrLife l = ctr_life_new(CONTAINER_KIND_REGULAR);

    p.grace_usec = 0;
    start(&l, &p, NOW);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_STOP}, &p, NOW),
                      CTR_ACT_SIGKILL | CTR_ACT_EVENT);
    ck_assert_int_eq(l.state, CTR_STATE_KILLING);
}
END_TEST

/* A liveness kill: the probe's grace period, not ready, then the restart policy with back-off. */
START_TEST(test_unhealthy_restarts_under_the_policy)
{
    CtrLife l = ctr_life_new(CONTAINER_KIND_REGULAR);
    CtrEvent kill = {.type = CTR_EV_UNHEALTHY, .grace_set = true, .grace_usec = 2 * SEC};
    CtrPolicy never = policy_always;

    start(&l, &policy_always, NOW);
    ck_assert(!l.ready && !l.startup_passed);
    ck_assert(!ctr_condition_met(&l, GRAPH_CONDITION_READY));
    ck_assert(ctr_condition_met(&l, GRAPH_CONDITION_STARTED));
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_STARTUP_PASSED}, &policy_always, NOW);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_READY}, &policy_always, NOW);
    ck_assert(l.ready && l.startup_passed);
    ck_assert(ctr_condition_met(&l, GRAPH_CONDITION_READY));
    ck_assert_uint_eq(ctr_step(&l, &kill, &policy_always, NOW + SEC),
                      CTR_ACT_SIGTERM | CTR_ACT_EVENT);
    ck_assert_int_eq(l.state, CTR_STATE_STOPPING);
    ck_assert_uint_eq(l.deadline, NOW + 3 * SEC);
    ck_assert_int_eq(l.goal, CTR_GOAL_RUN);
    ck_assert(!l.ready && !ctr_condition_met(&l, GRAPH_CONDITION_READY));
    /* Killed by SIGTERM: Always restarts it at once (first restart), a new run is not ready. */
    (void)run_and_exit(&l, &policy_always, 143, NOW + 2 * SEC);
    ck_assert_int_eq(l.state, CTR_STATE_WAITING);
    start(&l, &policy_always, NOW + 2 * SEC);
    ck_assert_uint_eq(l.restart_count, 1);
    ck_assert(!l.ready && !l.startup_passed);
    /* The second kill waits for the back-off. */
    (void)ctr_step(&l, &kill, &policy_always, NOW + 3 * SEC);
    (void)run_and_exit(&l, &policy_always, 143, NOW + 4 * SEC);
    ck_assert_int_eq(l.state, CTR_STATE_BACKOFF);
    /* Under Never it stays terminated; with a grace of 0 it is killed at once. */
    never.restart = RESTART_POLICY_NEVER;
    l = ctr_life_new(CONTAINER_KIND_REGULAR);
    start(&l, &never, NOW);
    kill.grace_usec = 0;
    ck_assert_uint_eq(ctr_step(&l, &kill, &never, NOW), CTR_ACT_SIGKILL | CTR_ACT_EVENT);
    ck_assert_int_eq(l.state, CTR_STATE_KILLING);
    (void)run_and_exit(&l, &never, 137, NOW + SEC);
    ck_assert_int_eq(l.state, CTR_STATE_TERMINATED);
}
END_TEST

/* postStart holds the run back; preStop comes before SIGTERM, inside the grace period. */
START_TEST(test_hooks)
{
    CtrPolicy p = policy_always;
    CtrLife l = ctr_life_new(CONTAINER_KIND_REGULAR);

    p.post_start = p.pre_stop = true;
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_DEPS_MET}, &p, NOW);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_IMAGE_PRESENT}, &p, NOW);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_STARTED}, &p, NOW),
                      CTR_ACT_EVENT | CTR_ACT_SAVE | CTR_ACT_POST_START);
    ck_assert(l.hook_running);
    ck_assert(!ctr_condition_met(&l, GRAPH_CONDITION_STARTED));
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_HOOK_DONE}, &p, NOW), CTR_ACT_SAVE);
    ck_assert(ctr_condition_met(&l, GRAPH_CONDITION_STARTED));
    /* A stop runs preStop first; SIGTERM once it returned. */
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_STOP}, &p, NOW),
                      CTR_ACT_PRE_STOP | CTR_ACT_EVENT);
    ck_assert_int_eq(l.state, CTR_STATE_STOPPING);
    ck_assert_uint_eq(l.deadline, NOW + 30 * SEC);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_HOOK_DONE}, &p, NOW + SEC),
                      CTR_ACT_SIGTERM);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_HOOK_DONE}, &p, NOW + SEC), 0);
    /* A preStop that outlasts the grace period is cut: SIGKILL. */
    l = ctr_life_new(CONTAINER_KIND_REGULAR);
    start(&l, &policy_always, NOW);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_DELETED}, &p, NOW),
                      CTR_ACT_PRE_STOP | CTR_ACT_EVENT);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_GRACE_EXPIRED}, &p, NOW + 30 * SEC),
                      CTR_ACT_SIGKILL | CTR_ACT_EVENT);
    ck_assert(!l.hook_running);
    /* A failed postStart kills it like a liveness failure: the goal stays RUN. */
    l = ctr_life_new(CONTAINER_KIND_REGULAR);
    p.pre_stop = false;
    start(&l, &p, NOW);
    ck_assert(l.hook_running);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_HOOK_FAILED}, &p, NOW),
                      CTR_ACT_SIGTERM | CTR_ACT_EVENT);
    ck_assert_int_eq(l.goal, CTR_GOAL_RUN);
    (void)run_and_exit(&l, &p, 143, NOW + SEC);
    ck_assert_int_eq(l.state, CTR_STATE_WAITING);
    /* An adopted run does not run postStart again. */
    l = ctr_life_new(CONTAINER_KIND_REGULAR);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_ADOPTED}, &p, NOW),
                      CTR_ACT_EVENT | CTR_ACT_SAVE);
    ck_assert(!l.hook_running);
}
END_TEST

START_TEST(test_replacement)
{
    CtrLife l = ctr_life_new(CONTAINER_KIND_REGULAR);
    unsigned act;

    start(&l, &policy_always, NOW);
    (void)run_and_exit(&l, &policy_always, 1, NOW + SEC);
    start(&l, &policy_always, NOW + SEC);
    ck_assert_uint_eq(l.restart_count, 1);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_SPEC_CHANGED}, &policy_always, NOW + 2 * SEC);
    ck_assert_int_eq(l.state, CTR_STATE_STOPPING);
    act = run_and_exit(&l, &policy_always, 143, NOW + 3 * SEC);
    /* The new version starts from nothing: no restart counted, no back-off. */
    ck_assert_uint_ne(act & CTR_ACT_FRESH, 0);
    ck_assert_int_eq(l.state, CTR_STATE_WAITING);
    ck_assert_uint_eq(l.restart_count, 0);
    ck_assert_uint_eq(l.backoff_step, 0);
    ck_assert(!l.started_once);
    start(&l, &policy_always, NOW + 3 * SEC);
    ck_assert_uint_eq(l.restart_count, 0);

    /* A replacement the pod's stop overtakes ends terminated. */
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_SPEC_CHANGED}, &policy_always, NOW + 4 * SEC);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_STOP}, &policy_always, NOW + 4 * SEC);
    ck_assert_int_eq(l.goal, CTR_GOAL_STOP);
    (void)run_and_exit(&l, &policy_always, 143, NOW + 5 * SEC);
    ck_assert_int_eq(l.state, CTR_STATE_TERMINATED);
    /* A deletion overtakes both, and the record goes. */
    l = ctr_life_new(CONTAINER_KIND_REGULAR);
    start(&l, &policy_always, NOW);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_STOP}, &policy_always, NOW);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_DELETED}, &policy_always, NOW);
    ck_assert_uint_ne(run_and_exit(&l, &policy_always, 0, NOW) & CTR_ACT_FORGET, 0);
    /* A container that never started just takes the new spec. */
    l = ctr_life_new(CONTAINER_KIND_REGULAR);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_SPEC_CHANGED}, &policy_always, NOW),
                      0);
    ck_assert_int_eq(l.state, CTR_STATE_WAITING);
}
END_TEST

/* Stopped while it starts (podd stops during a cold start): it stops once it runs. */
START_TEST(test_stop_while_starting)
{
    CtrLife l = ctr_life_new(CONTAINER_KIND_REGULAR);
    unsigned act;

    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_IMAGE_PRESENT}, &policy_always, NOW);
    ck_assert_int_eq(l.state, CTR_STATE_STARTING);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_STOP}, &policy_always, NOW), 0);
    ck_assert(ctr_state_is_active(l.state));
    act = ctr_step(&l, &(CtrEvent){.type = CTR_EV_STARTED}, &policy_always, NOW);
    ck_assert_uint_ne(act & CTR_ACT_SIGTERM, 0);
    ck_assert_int_eq(l.state, CTR_STATE_STOPPING);
    (void)run_and_exit(&l, &policy_always, 143, NOW + SEC);
    ck_assert_int_eq(l.state, CTR_STATE_TERMINATED);
    ck_assert(ctr_state_is_down(l.state));

    /* Or its start fails meanwhile: it ends without a restart. */
    l = ctr_life_new(CONTAINER_KIND_REGULAR);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_IMAGE_PRESENT}, &policy_always, NOW);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_STOP}, &policy_always, NOW);
    (void)ctr_step(
        &l, &(CtrEvent){.type = CTR_EV_START_FAILED, .exit = {.code = 127, .start_error = true}},
        &policy_always, NOW);
    ck_assert_int_eq(l.reason, CTR_REASON_START_ERROR);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_REMOVED}, &policy_always, NOW);
    ck_assert_int_eq(l.state, CTR_STATE_TERMINATED);
}
END_TEST

/* The removal waits for a draining cgroup; the back-off decision waits for the removal. */
START_TEST(test_removal_busy)
{
    CtrLife l = ctr_life_new(CONTAINER_KIND_REGULAR);

    start(&l, &policy_always, NOW);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_EXITED, .exit = exit_fail}, &policy_always, NOW);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_REMOVE_BUSY}, &policy_always, NOW);
    ck_assert_int_eq(l.state, CTR_STATE_REMOVING);
    ck_assert(!ctr_state_is_down(l.state));
    /* A restart follows: the retry, too, keeps the directory. */
    ck_assert_uint_eq(
        ctr_step(&l, &(CtrEvent){.type = ctr_deadline_event(l.state)}, &policy_always, l.deadline),
        CTR_ACT_REMOVE | CTR_ACT_KEEP_DIR);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_REMOVED}, &policy_always, NOW + SEC);
    ck_assert_int_eq(l.state, CTR_STATE_WAITING);

    /* Stopped while the removal waits: the retry decides again, and removes all of it. */
    l = ctr_life_new(CONTAINER_KIND_REGULAR);
    start(&l, &policy_always, NOW);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_EXITED, .exit = exit_fail}, &policy_always, NOW);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_REMOVE_BUSY}, &policy_always, NOW);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_STOP}, &policy_always, NOW);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_RETRY}, &policy_always, l.deadline),
                      CTR_ACT_REMOVE);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_REMOVED}, &policy_always, NOW + SEC);
    ck_assert_int_eq(l.state, CTR_STATE_TERMINATED);
}
END_TEST

/* ---- a restart in place: the directory kept, removed should the restart not come ------------ */

/* Which removal a run's end asks for: its records only exactly when a restart follows. */
START_TEST(test_restart_keeps_dir)
{
    static const struct {
        RestartPolicy policy;
        int code;
        CtrEventType goal_ev; /* _CTR_EV_INVALID: goal RUN */
        bool keep;
    } cases[] = {
        {RESTART_POLICY_ALWAYS, 0, _CTR_EV_INVALID, true},
        {RESTART_POLICY_ALWAYS, 1, _CTR_EV_INVALID, true},
        {RESTART_POLICY_ON_FAILURE, 1, _CTR_EV_INVALID, true},
        {RESTART_POLICY_ON_FAILURE, 0, _CTR_EV_INVALID, false},
        {RESTART_POLICY_NEVER, 1, _CTR_EV_INVALID, false},
        {RESTART_POLICY_ALWAYS, 143, CTR_EV_STOP, false},
        {RESTART_POLICY_ALWAYS, 143, CTR_EV_DELETED, false},
        {RESTART_POLICY_ALWAYS, 143, CTR_EV_SPEC_CHANGED, false},
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        CtrPolicy p = policy_with(cases[i].policy);
        CtrLife l = ctr_life_new(CONTAINER_KIND_REGULAR);
        CtrEvent ev = {.type = CTR_EV_EXITED, .exit = {.code = cases[i].code}};
        unsigned act;

        start(&l, &p, NOW);
        if (cases[i].goal_ev != _CTR_EV_INVALID)
            (void)ctr_step(&l, &(CtrEvent){.type = cases[i].goal_ev}, &p, NOW);
        act = ctr_step(&l, &ev, &p, NOW + SEC);
        ck_assert_msg((act & (CTR_ACT_REMOVE | CTR_ACT_KEEP_DIR)) ==
                          (CTR_ACT_REMOVE | (cases[i].keep ? CTR_ACT_KEEP_DIR : 0)),
                      "case %zu: actions %#x", i, act);
        (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_REMOVED}, &p, NOW + SEC);
        /* Kept exactly for a container that ran and waits to run again (a new version
         * starts afresh, as one that never ran). */
        ck_assert_int_eq(
            (l.started_once && (l.state == CTR_STATE_WAITING || l.state == CTR_STATE_BACKOFF)),
            cases[i].keep);
    }
}
END_TEST

/*
 * Every state a kept directory waits in, and each change of fate: the full
 * removal (REMOVING, CTR_ACT_REMOVE) comes before the record is ended,
 * forgotten or replaced, and removed() then does what it does for the goal.
 */
START_TEST(test_kept_dir_is_removed_when_the_restart_is_off)
{
    static const CtrState down[] = {CTR_STATE_WAITING,         CTR_STATE_WAITING_IMAGE,
                                    CTR_STATE_WAITING_RUNTIME, CTR_STATE_PULLING,
                                    CTR_STATE_PULL_BACKOFF,    CTR_STATE_BACKOFF};
    static const struct {
        CtrEventType ev;
        CtrGoal goal;
        CtrState after;
        unsigned after_act;
    } fates[] = {
        {CTR_EV_STOP, CTR_GOAL_STOP, CTR_STATE_TERMINATED, CTR_ACT_SAVE},
        {CTR_EV_DELETED, CTR_GOAL_REMOVE, CTR_STATE_TERMINATED, CTR_ACT_FORGET | CTR_ACT_SAVE},
        {CTR_EV_SPEC_CHANGED, CTR_GOAL_RUN, CTR_STATE_WAITING, CTR_ACT_FRESH | CTR_ACT_SAVE},
    };

    for (size_t i = 0; i < ELEMENTSOF(down); i++)
        for (size_t k = 0; k < ELEMENTSOF(fates); k++) {
            CtrLife l = canonical(down[i]);
            unsigned act;

            l.started_once = true;
            act = ctr_step(&l, &(CtrEvent){.type = fates[k].ev}, &policy_always, NOW);
            ck_assert_msg(l.state == CTR_STATE_REMOVING && act == CTR_ACT_REMOVE,
                          "%s + %s: got %s actions %#x", ctr_state_to_string(down[i]),
                          ctr_event_type_to_string(fates[k].ev), ctr_state_to_string(l.state), act);
            /* Still busy: the retry removes all of it too. */
            (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_REMOVE_BUSY}, &policy_always, NOW);
            ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_RETRY}, &policy_always, NOW),
                              CTR_ACT_REMOVE);
            act = ctr_step(&l, &(CtrEvent){.type = CTR_EV_REMOVED}, &policy_always, NOW);
            ck_assert_msg(l.state == fates[k].after && act == fates[k].after_act,
                          "%s + %s, removed: got %s actions %#x", ctr_state_to_string(down[i]),
                          ctr_event_type_to_string(fates[k].ev), ctr_state_to_string(l.state), act);
            ck_assert_int_eq(l.goal, fates[k].goal);
        }
}
END_TEST

/* A crash loop reuses the directory; the pod's stop during the back-off removes it. */
START_TEST(test_crash_loop_then_stop)
{
    CtrLife l = ctr_life_new(CONTAINER_KIND_REGULAR);
    unsigned act;

    start(&l, &policy_always, NOW);
    act = run_and_exit(&l, &policy_always, 1, NOW + SEC);
    ck_assert_uint_ne(act & CTR_ACT_KEEP_DIR, 0);
    /* The first restart is at once: the start reuses the directory. */
    ck_assert_int_eq(l.state, CTR_STATE_WAITING);
    start(&l, &policy_always, NOW + SEC);
    act = run_and_exit(&l, &policy_always, 1, NOW + 2 * SEC);
    ck_assert_uint_ne(act & CTR_ACT_KEEP_DIR, 0);
    ck_assert_int_eq(l.state, CTR_STATE_BACKOFF);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_STOP}, &policy_always, NOW + 3 * SEC),
                      CTR_ACT_REMOVE);
    ck_assert_int_eq(l.state, CTR_STATE_REMOVING);
    ck_assert(!ctr_state_is_down(l.state));
    ck_assert_uint_eq(
        ctr_step(&l, &(CtrEvent){.type = CTR_EV_REMOVED}, &policy_always, NOW + 3 * SEC),
        CTR_ACT_SAVE);
    ck_assert_int_eq(l.state, CTR_STATE_TERMINATED);
    /* It ends as a stop in the back-off always did: the back-off's reason, the counts kept. */
    ck_assert_int_eq(l.reason, CTR_REASON_CRASH_LOOP_BACK_OFF);
    ck_assert_uint_eq(l.restart_count, 1);
    ck_assert_int_eq(l.last_exit.code, 1);
    ck_assert_int_eq(l.goal, CTR_GOAL_STOP);
    /* A container that never ran has nothing left: its stop is immediate. */
    l = ctr_life_new(CONTAINER_KIND_REGULAR);
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_STOP}, &policy_always, NOW),
                      CTR_ACT_SAVE);
    ck_assert_int_eq(l.state, CTR_STATE_TERMINATED);
}
END_TEST

/* ---- adoption after a daemon restart ------------------------------------------------------------
 */

START_TEST(test_adopt_running_keeps_its_start)
{
    CtrExit last = {.code = 2};
    CtrLife l = ctr_life_restore(CONTAINER_KIND_REGULAR, 3, 4, true, false, false, &last);

    ck_assert_int_eq(l.state, CTR_STATE_WAITING);
    /* It has been up for eleven minutes under its monitor. */
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_ADOPTED, .started_mono = NOW - 660 * SEC},
                   &policy_always, NOW);
    ck_assert_int_eq(l.state, CTR_STATE_RUNNING);
    ck_assert_uint_eq(l.restart_count, 3);
    ck_assert_uint_eq(l.started_mono, NOW - 660 * SEC);
    /* Its crash a minute later restarts at once: the back-off was reset by its real run. */
    (void)run_and_exit(&l, &policy_always, 1, NOW + 60 * SEC);
    ck_assert_int_eq(l.state, CTR_STATE_WAITING);

    /* Adopted without a known start, the run counts from the adoption: 40 s of back-off. */
    l = ctr_life_restore(CONTAINER_KIND_REGULAR, 3, 3, true, false, false, &last);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_ADOPTED}, &policy_always, NOW);
    ck_assert_uint_eq(l.started_mono, NOW);
    (void)run_and_exit(&l, &policy_always, 1, NOW + 60 * SEC);
    ck_assert_int_eq(l.state, CTR_STATE_BACKOFF);
    ck_assert_uint_eq(l.deadline, NOW + 100 * SEC);
}
END_TEST

START_TEST(test_adopt_exited)
{
    CtrLife l = ctr_life_restore(CONTAINER_KIND_REGULAR, 0, 1, true, false, false, NULL);
    CtrPolicy never = policy_with(RESTART_POLICY_NEVER);
    unsigned act;

    /* It exited with 3 while no daemon watched. */
    act = ctr_step(&l, &(CtrEvent){.type = CTR_EV_EXITED, .exit = {.code = 3}}, &never, NOW);
    ck_assert_uint_ne(act & CTR_ACT_EVENT, 0);
    ck_assert_int_eq(l.reason, CTR_REASON_ERROR);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_REMOVED}, &never, NOW);
    ck_assert_int_eq(l.state, CTR_STATE_TERMINATED);
    ck_assert_int_eq(l.last_exit.code, 3);
    /* A record of a container that never started has no run to end. */
    l = ctr_life_restore(CONTAINER_KIND_REGULAR, 0, 0, false, false, false, NULL);
    ck_assert_uint_eq(
        ctr_step(&l, &(CtrEvent){.type = CTR_EV_EXITED, .exit = {.code = 3}}, &never, NOW), 0);
}
END_TEST

/*
 * An exit a new daemon finds: the run's start from its record decides the
 * back-off's reset, as for a run it watched; unknown, the run counts as long.
 */
START_TEST(test_adopt_exited_keeps_its_run_length)
{
    CtrLife l = ctr_life_restore(CONTAINER_KIND_REGULAR, 3, 3, true, false, false, &exit_fail);

    (void)ctr_step(
        &l, &(CtrEvent){.type = CTR_EV_EXITED, .exit = exit_fail, .started_mono = NOW - 30 * SEC},
        &policy_always, NOW);
    ck_assert_uint_eq(l.started_mono, NOW - 30 * SEC);
    ck_assert_uint_eq(l.backoff_step, 4);
    ck_assert_uint_eq(ctr_life_pending_restart(&l), NOW + 40 * SEC);

    l = ctr_life_restore(CONTAINER_KIND_REGULAR, 3, 3, true, false, false, &exit_fail);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_EXITED, .exit = exit_fail}, &policy_always, NOW);
    ck_assert_uint_eq(l.backoff_step, 1);
    ck_assert_uint_eq(ctr_life_pending_restart(&l), NOW);
}
END_TEST

START_TEST(test_restored_backoff_is_waited_out)
{
    CtrExit crash = {.code = 1};
    CtrLife l = ctr_life_restore(CONTAINER_KIND_REGULAR, 2, 3, true, false, false, &crash);
    CtrLife fresh = ctr_life_restore(CONTAINER_KIND_REGULAR, 0, 0, false, false, false, NULL);
    CtrLife done = ctr_life_restore(CONTAINER_KIND_REGULAR, 2, 3, true, false, true, &crash);

    /* The previous daemon's back-off has 7 s left: the restart waits for them. */
    ctr_life_restore_restart(&l, NOW + 7 * SEC);
    ck_assert(ctr_life_resume_backoff(&l, NOW));
    ck_assert_int_eq(l.state, CTR_STATE_BACKOFF);
    ck_assert_int_eq(l.reason, CTR_REASON_CRASH_LOOP_BACK_OFF);
    ck_assert_uint_eq(l.deadline, NOW + 7 * SEC);
    ck_assert_uint_eq(l.restart_count, 2);
    ck_assert_uint_eq(l.backoff_step, 3);
    ck_assert_int_eq(ctr_deadline_event(l.state), CTR_EV_BACKOFF_EXPIRED);
    (void)ctr_step(&l, &(CtrEvent){.type = CTR_EV_BACKOFF_EXPIRED}, &policy_always, NOW + 7 * SEC);
    ck_assert_int_eq(l.state, CTR_STATE_WAITING);
    ck_assert_int_eq(l.reason, CTR_REASON_CONTAINER_CREATING);
    /* Never started, finished for good, no restart decided or its time come: nothing to wait. */
    ctr_life_restore_restart(&fresh, NOW + 7 * SEC);
    ck_assert(!ctr_life_resume_backoff(&fresh, NOW));
    ck_assert_int_eq(fresh.state, CTR_STATE_WAITING);
    ctr_life_restore_restart(&done, NOW + 7 * SEC);
    ck_assert(!ctr_life_resume_backoff(&done, NOW));
    ck_assert_int_eq(done.state, CTR_STATE_TERMINATED);
    l = ctr_life_restore(CONTAINER_KIND_REGULAR, 2, 3, true, false, false, &crash);
    ck_assert(!ctr_life_resume_backoff(&l, NOW));
    ctr_life_restore_restart(&l, NOW);
    ck_assert(!ctr_life_resume_backoff(&l, NOW));
    ck_assert_int_eq(l.state, CTR_STATE_WAITING);
    /* Stopped in a back-off the previous daemon began: what its run left goes first. */
    l = ctr_life_restore(CONTAINER_KIND_REGULAR, 2, 3, true, false, false, &crash);
    ctr_life_restore_restart(&l, NOW + 7 * SEC);
    ck_assert(ctr_life_resume_backoff(&l, NOW));
    ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = CTR_EV_STOP}, &policy_always, NOW),
                      CTR_ACT_REMOVE);
    ck_assert_int_eq(l.state, CTR_STATE_REMOVING);
}
END_TEST

START_TEST(test_adopt_finished_init)
{
    CtrExit ok = {.code = 0};
    const CtrLife *ls[2];
    CtrLife init = ctr_life_restore(CONTAINER_KIND_INIT, 0, 0, true, true, true, &ok);
    CtrLife app = ctr_life_restore(CONTAINER_KIND_REGULAR, 0, 0, true, false, false, NULL);

    /* Terminated for good: it does not start again, and its dependents may run. */
    ck_assert_int_eq(init.state, CTR_STATE_TERMINATED);
    ck_assert_int_eq(init.reason, CTR_REASON_COMPLETED);
    ck_assert(ctr_condition_met(&init, GRAPH_CONDITION_COMPLETED));
    for (int e = 0; e < _CTR_EV_MAX; e++) {
        CtrLife l = init;

        if (e == CTR_EV_SPEC_CHANGED || e == CTR_EV_DELETED || e == CTR_EV_STOP)
            continue;
        ck_assert_uint_eq(ctr_step(&l, &(CtrEvent){.type = (CtrEventType)e}, &policy_always, NOW),
                          0);
        ck_assert_int_eq(l.state, CTR_STATE_TERMINATED);
    }
    (void)ctr_step(&app, &(CtrEvent){.type = CTR_EV_ADOPTED}, &policy_always, NOW);
    ls[0] = &init;
    ls[1] = &app;
    ck_assert_int_eq(pod_compute_phase(ls, 2, EXIT_POLICY_STOP), POD_PHASE_RUNNING);
    ck_assert(pod_compute_conditions(ls, 2, false).initialized);
}
END_TEST

/* ---- phase and conditions ---------------------------------------------------------------------
 */

typedef struct PhaseCase {
    const char *title;
    struct {
        ContainerKind kind;
        CtrState state;
        bool started, succeeded;
        int code;
        CtrGoal goal;
        bool ready;
    } c[4];
    size_t n;
    bool terminating;
    PodPhase phase;
    PodConditions cond;
} PhaseCase;

#define INIT CONTAINER_KIND_INIT
#define SIDE CONTAINER_KIND_SIDECAR
#define REG CONTAINER_KIND_REGULAR

static const PhaseCase phase_cases[] = {
    {"nothing started",
     {{INIT, S(WAITING), false, false, 0, G(RUN), false},
      {REG, S(WAITING), false, false, 0, G(RUN), false}},
     2,
     false,
     POD_PHASE_PENDING,
     {true, false, false, false}},
    {"init done, app starting",
     {{INIT, S(TERMINATED), true, true, 0, G(RUN), false},
      {REG, S(STARTING), false, false, 0, G(RUN), false}},
     2,
     false,
     POD_PHASE_PENDING,
     {true, true, false, false}},
    {"app runs",
     {{INIT, S(TERMINATED), true, true, 0, G(RUN), false},
      {REG, S(RUNNING), true, false, 0, G(RUN), true}},
     2,
     false,
     POD_PHASE_RUNNING,
     {true, true, true, true}},
    {"app runs, not ready",
     {{INIT, S(TERMINATED), true, true, 0, G(RUN), false},
      {REG, S(RUNNING), true, false, 0, G(RUN), false}},
     2,
     false,
     POD_PHASE_RUNNING,
     {true, true, false, false}},
    {"app runs, pod terminating",
     {{REG, S(STOPPING), true, false, 0, G(STOP), true}},
     1,
     true,
     POD_PHASE_RUNNING,
     {true, true, true, false}},
    {"app in back-off",
     {{REG, S(BACKOFF), true, false, 1, G(RUN), false}},
     1,
     false,
     POD_PHASE_RUNNING,
     {true, true, false, false}},
    {"init failed under Never",
     {{INIT, S(TERMINATED), true, false, 1, G(RUN), false},
      {REG, S(WAITING), false, false, 0, G(RUN), false}},
     2,
     false,
     POD_PHASE_FAILED,
     {true, false, false, false}},
    {"all succeeded, sidecar runs",
     {{SIDE, S(RUNNING), true, false, 0, G(RUN), false},
      {REG, S(TERMINATED), true, true, 0, G(RUN), false},
      {REG, S(TERMINATED), true, true, 0, G(RUN), false}},
     3,
     false,
     POD_PHASE_SUCCEEDED,
     {true, true, false, false}},
    {"one failed",
     {{REG, S(TERMINATED), true, true, 0, G(RUN), false},
      {REG, S(TERMINATED), true, false, 2, G(RUN), false}},
     2,
     false,
     POD_PHASE_FAILED,
     {true, true, false, false}},
    {"exited but still being removed",
     {{REG, S(REMOVING), true, true, 0, G(RUN), false}},
     1,
     false,
     POD_PHASE_RUNNING,
     {true, true, false, false}},
    {"a deleted container no longer counts",
     {{REG, S(TERMINATED), true, true, 0, G(RUN), false},
      {REG, S(STOPPING), true, false, 0, G(REMOVE), false}},
     2,
     false,
     POD_PHASE_SUCCEEDED,
     {true, true, false, false}},
    {"terminated without ever running",
     {{REG, S(TERMINATED), false, false, 0, G(STOP), false}},
     1,
     true,
     POD_PHASE_FAILED,
     {true, true, false, false}},
};

START_TEST(test_phase_table)
{
    const PhaseCase *t = &phase_cases[_i];
    CtrLife l[4];
    const CtrLife *ls[4];
    PodConditions pc;

    for (size_t i = 0; i < t->n; i++) {
        l[i] = ctr_life_new(t->c[i].kind);
        l[i].state = t->c[i].state;
        l[i].started_once = t->c[i].started;
        l[i].succeeded_once = t->c[i].succeeded;
        l[i].last_exit.code = t->c[i].code;
        l[i].goal = t->c[i].goal;
        l[i].ready = t->c[i].ready;
        ls[i] = &l[i];
    }
    ck_assert_msg(pod_compute_phase(ls, t->n, EXIT_POLICY_STOP) == t->phase, "%s: phase %s",
                  t->title, pod_phase_to_string(pod_compute_phase(ls, t->n, EXIT_POLICY_STOP)));
    pc = pod_compute_conditions(ls, t->n, t->terminating);
    ck_assert_msg(pc.scheduled == t->cond.scheduled && pc.initialized == t->cond.initialized &&
                      pc.containers_ready == t->cond.containers_ready && pc.ready == t->cond.ready,
                  "%s: conditions %d %d %d %d", t->title, pc.scheduled, pc.initialized,
                  pc.containers_ready, pc.ready);
}
END_TEST

/* A dependency that failed for good is told apart from one not met yet. */
START_TEST(test_dependency_failed_is_final_and_fails_the_pod)
{
    CtrLife web = ctr_life_restore(CONTAINER_KIND_REGULAR, 0, 0, true, false, true, &exit_fail);
    CtrLife pending = ctr_life_new(CONTAINER_KIND_REGULAR);
    CtrLife app = ctr_life_new(CONTAINER_KIND_REGULAR), again;
    CtrPolicy never = policy_with(RESTART_POLICY_NEVER);
    const CtrLife *ls[2] = {&web, &app};

    /* web exited 1 under Never: "completed" never comes; "started" was met. */
    ck_assert(ctr_dependency_failed(&web, GRAPH_CONDITION_COMPLETED));
    ck_assert(!ctr_dependency_failed(&web, GRAPH_CONDITION_STARTED));
    /* Not started yet is only unmet. */
    ck_assert(!ctr_dependency_failed(&pending, GRAPH_CONDITION_COMPLETED));
    ck_assert(!ctr_finished_for_good(&app));

    ck_assert_uint_eq(ctr_step(&app, &(CtrEvent){.type = CTR_EV_DEPS_FAILED}, &never, NOW),
                      CTR_ACT_EVENT);
    ck_assert_int_eq(app.state, CTR_STATE_WAITING);
    ck_assert_str_eq(ctr_reason_to_string(app.reason), "DependencyFailed");
    ck_assert(ctr_finished_for_good(&app));
    /* Said once: the next pass finds it so again, silently. */
    again = app;
    ck_assert_uint_eq(ctr_step(&again, &(CtrEvent){.type = CTR_EV_DEPS_FAILED}, &never, NOW), 0);
    /* Its dependents fail in turn. */
    ck_assert(ctr_dependency_failed(&app, GRAPH_CONDITION_STARTED));

    /* Both finished for good, neither well: the pod fails, so the exit policy acts. */
    ck_assert_int_eq(pod_compute_outcome(ls, 2), POD_PHASE_FAILED);
    ck_assert_int_eq(pod_compute_phase(ls, 2, EXIT_POLICY_STOP), POD_PHASE_FAILED);
    ck_assert_int_eq(pod_exit_action(pod_compute_outcome(ls, 2), EXIT_POLICY_STOP, false),
                     POD_EXIT_STOP);
    /* An init container whose dependency failed fails the pod too. */
    app.kind = CONTAINER_KIND_INIT;
    ck_assert_int_eq(pod_compute_outcome(ls, 2), POD_PHASE_FAILED);

    /* Replaced, the dependency may run again: the dependent waits as before. */
    app.kind = CONTAINER_KIND_REGULAR;
    ck_assert_uint_eq(ctr_step(&app, &(CtrEvent){.type = CTR_EV_DEPS_UNMET}, &never, NOW), 0);
    ck_assert_int_eq(app.reason, CTR_REASON_POD_INITIALIZING);
    ck_assert(!ctr_finished_for_good(&app));
}
END_TEST

/* Exit policy continue: the pod runs on while a sidecar does, though its outcome is final. */
START_TEST(test_exit_policy_continue_keeps_the_phase_running_while_a_sidecar_runs)
{
    CtrLife side = ctr_life_new(CONTAINER_KIND_SIDECAR);
    CtrLife job = ctr_life_restore(CONTAINER_KIND_REGULAR, 0, 0, true, true, true, &exit_ok);
    const CtrLife *ls[2] = {&side, &job};

    side.state = CTR_STATE_RUNNING;
    side.started_once = true;
    ck_assert_int_eq(pod_compute_outcome(ls, 2), POD_PHASE_SUCCEEDED);
    ck_assert_int_eq(pod_compute_phase(ls, 2, EXIT_POLICY_STOP), POD_PHASE_SUCCEEDED);
    ck_assert_int_eq(pod_compute_phase(ls, 2, EXIT_POLICY_CONTINUE), POD_PHASE_RUNNING);
    /* The policy acts on the outcome: once, with the sidecar still running. */
    ck_assert_int_eq(pod_exit_action(pod_compute_outcome(ls, 2), EXIT_POLICY_CONTINUE, false),
                     POD_EXIT_CONTINUE);
    /* A sidecar in its back-off still belongs to a running pod. */
    side.state = CTR_STATE_BACKOFF;
    ck_assert_int_eq(pod_compute_phase(ls, 2, EXIT_POLICY_CONTINUE), POD_PHASE_RUNNING);
    /* Once it is stopped too (the pod deleted), the phase is the outcome. */
    side.state = CTR_STATE_TERMINATED;
    side.goal = CTR_GOAL_STOP;
    ck_assert_int_eq(pod_compute_phase(ls, 2, EXIT_POLICY_CONTINUE), POD_PHASE_SUCCEEDED);
    /* A failed job: Failed the same way. */
    side.state = CTR_STATE_RUNNING;
    job = ctr_life_restore(CONTAINER_KIND_REGULAR, 0, 0, true, false, true, &exit_fail);
    ck_assert_int_eq(pod_compute_phase(ls, 2, EXIT_POLICY_CONTINUE), POD_PHASE_RUNNING);
    ck_assert_int_eq(pod_compute_outcome(ls, 2), POD_PHASE_FAILED);
}
END_TEST

static Suite *lifecycle_suite(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("step");

    tcase_add_loop_test(tc, test_step_table, 0, (int)ELEMENTSOF(step_cases));
    tcase_add_test(tc, test_no_op_pairs);
    tcase_add_test(tc, test_deadline_events);
    tcase_add_test(tc, test_strings);
    tcase_add_test(tc, test_exit_reasons);
    tcase_add_loop_test(tc, test_pull_table, 0, (int)ELEMENTSOF(pull_cases));
    tcase_add_test(tc, test_never_pull_is_told_once);
    tcase_add_test(tc, test_pull_backoff_schedule);
    suite_add_tcase(s, tc);

    tc = tcase_create("policy");
    tcase_add_loop_test(tc, test_restart_policy_table, 0, (int)ELEMENTSOF(policy_cases));
    tcase_add_loop_test(tc, test_exit_under_policy, 0, (int)ELEMENTSOF(exit_cases));
    tcase_add_test(tc, test_backoff_schedule);
    tcase_add_test(tc, test_backoff_reset);
    tcase_add_test(tc, test_backoff_override);
    tcase_add_test(tc, test_restart_decided_at_exit);
    tcase_add_test(tc, test_restored_exit_counts_once);
    tcase_add_test(tc, test_exit_policy);
    tcase_add_test(tc, test_dependency_failed_is_final_and_fails_the_pod);
    tcase_add_test(tc, test_exit_policy_continue_keeps_the_phase_running_while_a_sidecar_runs);
    tcase_add_test(tc, test_init_order);
    tcase_add_test(tc, test_init_once);
    suite_add_tcase(s, tc);

    tc = tcase_create("stop");
    tcase_add_test(tc, test_reverse_order_stop);
    tcase_add_test(tc, test_grace_zero_kills_at_once);
    tcase_add_test(tc, test_unhealthy_restarts_under_the_policy);
    tcase_add_test(tc, test_hooks);
    tcase_add_test(tc, test_replacement);
    tcase_add_test(tc, test_stop_while_starting);
    tcase_add_test(tc, test_removal_busy);
    tcase_add_test(tc, test_restart_keeps_dir);
    tcase_add_test(tc, test_kept_dir_is_removed_when_the_restart_is_off);
    tcase_add_test(tc, test_crash_loop_then_stop);
    suite_add_tcase(s, tc);

    tc = tcase_create("adopt");
    tcase_add_test(tc, test_adopt_running_keeps_its_start);
    tcase_add_test(tc, test_adopt_exited);
    tcase_add_test(tc, test_adopt_finished_init);
    tcase_add_test(tc, test_adopt_exited_keeps_its_run_length);
    tcase_add_test(tc, test_restored_backoff_is_waited_out);
    suite_add_tcase(s, tc);

    tc = tcase_create("phase");
    tcase_add_loop_test(tc, test_phase_table, 0, (int)ELEMENTSOF(phase_cases));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(lifecycle_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
