/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "reconcile/reconcile.h"

/* The pod lifecycle (pod_step()): pure, so no root and no clock. */

enum { P_STOP, P_CONT, P_DOWN, _P_MAX };

/* The exit policy stop or continue; or podd shutting down. */
static const PodPolicy policies[_P_MAX] = {
    [P_STOP] = {.exit_policy = EXIT_POLICY_STOP},
    [P_CONT] = {.exit_policy = EXIT_POLICY_CONTINUE},
    [P_DOWN] = {.exit_policy = EXIT_POLICY_STOP, .shutting_down = true},
};

#define ALL ((1u << P_STOP) | (1u << P_CONT) | (1u << P_DOWN))
#define UP ((1u << P_STOP) | (1u << P_CONT))
#define DOWN (1u << P_DOWN)
#define PSTOP (1u << P_STOP)
#define PCONT (1u << P_CONT)

/* Every (state, goal) a pod can be in. */
static const PodLife lives[] = {
    {POD_STATE_RUNNING, POD_GOAL_RUN},       {POD_STATE_FINISHED, POD_GOAL_RUN},
    {POD_STATE_STOPPING, POD_GOAL_STOP},     {POD_STATE_STOPPING, POD_GOAL_RECREATE},
    {POD_STATE_STOPPING, POD_GOAL_SHUTDOWN}, {POD_STATE_STOPPING, POD_GOAL_REMOVE},
    {POD_STATE_STOPPED, POD_GOAL_STOP},      {POD_STATE_STOPPED, POD_GOAL_SHUTDOWN},
    {POD_STATE_STOPPING, POD_GOAL_EVICTED},  {POD_STATE_STOPPED, POD_GOAL_EVICTED},
    {POD_STATE_GONE, POD_GOAL_REMOVE},
};

typedef struct PodCase {
    PodState from;
    PodGoal from_goal;
    PodEventType ev;
    unsigned policies; /* the policies the row holds under */
    PodState to;
    PodGoal to_goal;
    unsigned actions;
} PodCase;

#define S(x) POD_STATE_##x
#define G(x) POD_GOAL_##x
#define E(x) POD_EV_##x
#define A(x) POD_ACT_##x

/*
 * Every pair that does something, the phase event carrying Succeeded; any
 * (state, goal) x event x policy not listed must change nothing
 * (test_pod_no_op_pairs).
 */
static const PodCase pod_cases[] = {
    {S(RUNNING), G(RUN), E(PHASE), PSTOP | DOWN, S(STOPPING), G(STOP),
     A(EXIT_STOP) | A(SAVE) | A(STOP)},
    {S(RUNNING), G(RUN), E(PHASE), PCONT, S(FINISHED), G(RUN), A(EXIT_CONTINUE) | A(SAVE)},
    {S(RUNNING), G(RUN), E(REPLACE), UP, S(STOPPING), G(RECREATE), A(STOP) | A(STAMP_DELETION)},
    {S(RUNNING), G(RUN), E(REPLACE), DOWN, S(STOPPING), G(SHUTDOWN), A(STOP) | A(STAMP_DELETION)},
    {S(RUNNING), G(RUN), E(REMOVE), ALL, S(STOPPING), G(REMOVE), A(STOP) | A(STAMP_DELETION)},
    {S(RUNNING), G(RUN), E(SHUTDOWN), ALL, S(STOPPING), G(SHUTDOWN), A(STOP) | A(STAMP_DELETION)},
    /* Evicted: it stops, and stays stopped; not a deletion (no deletionTimestamp). */
    {S(RUNNING), G(RUN), E(EVICT), ALL, S(STOPPING), G(EVICTED), A(STOP) | A(SAVE)},

    /* The exit policy ran: a final phase does nothing more. */
    {S(FINISHED), G(RUN), E(REPLACE), UP, S(STOPPING), G(RECREATE), A(STOP) | A(STAMP_DELETION)},
    {S(FINISHED), G(RUN), E(REPLACE), DOWN, S(STOPPING), G(SHUTDOWN), A(STOP) | A(STAMP_DELETION)},
    {S(FINISHED), G(RUN), E(REMOVE), ALL, S(STOPPING), G(REMOVE), A(STOP) | A(STAMP_DELETION)},
    {S(FINISHED), G(RUN), E(SHUTDOWN), ALL, S(STOPPING), G(SHUTDOWN), A(STOP) | A(STAMP_DELETION)},
    {S(FINISHED), G(RUN), E(EVICT), ALL, S(STOPPING), G(EVICTED), A(STOP) | A(SAVE)},

    /* Stopped by the exit policy: not a deletion until something else asks. */
    {S(STOPPING), G(STOP), E(ALL_DOWN), ALL, S(STOPPED), G(STOP), A(DESTROY_SANDBOX) | A(SAVE)},
    {S(STOPPING), G(STOP), E(REPLACE), UP, S(STOPPING), G(RECREATE), A(STAMP_DELETION)},
    {S(STOPPING), G(STOP), E(REPLACE), DOWN, S(STOPPING), G(SHUTDOWN), A(STAMP_DELETION)},
    {S(STOPPING), G(STOP), E(REMOVE), ALL, S(STOPPING), G(REMOVE), A(STAMP_DELETION)},
    {S(STOPPING), G(STOP), E(SHUTDOWN), ALL, S(STOPPING), G(SHUTDOWN), A(STAMP_DELETION)},

    {S(STOPPING), G(RECREATE), E(ALL_DOWN), UP, S(RUNNING), G(RUN),
     A(DESTROY_SANDBOX) | A(RESET) | A(SAVE)},
    {S(STOPPING), G(RECREATE), E(ALL_DOWN), DOWN, S(STOPPED), G(SHUTDOWN),
     A(DESTROY_SANDBOX) | A(SAVE)},
    {S(STOPPING), G(RECREATE), E(REPLACE), DOWN, S(STOPPING), G(SHUTDOWN), 0},
    {S(STOPPING), G(RECREATE), E(REMOVE), ALL, S(STOPPING), G(REMOVE), 0},
    {S(STOPPING), G(RECREATE), E(SHUTDOWN), ALL, S(STOPPING), G(SHUTDOWN), 0},

    {S(STOPPING), G(SHUTDOWN), E(ALL_DOWN), ALL, S(STOPPED), G(SHUTDOWN),
     A(DESTROY_SANDBOX) | A(SAVE)},
    {S(STOPPING), G(SHUTDOWN), E(REPLACE), UP, S(STOPPING), G(RECREATE), 0},
    {S(STOPPING), G(SHUTDOWN), E(REMOVE), ALL, S(STOPPING), G(REMOVE), 0},

    {S(STOPPING), G(REMOVE), E(ALL_DOWN), ALL, S(GONE), G(REMOVE), A(DESTROY_SANDBOX) | A(FORGET)},
    /* Its manifest is back before the stop ended: a new instance starts, nothing is dropped. */
    {S(STOPPING), G(REMOVE), E(REPLACE), UP, S(STOPPING), G(RECREATE), 0},
    {S(STOPPING), G(REMOVE), E(REPLACE), DOWN, S(STOPPING), G(SHUTDOWN), 0},

    /* Evicted, stopping: a shutdown leaves it evicted; a new version, a restart or a removal not.
     */
    {S(STOPPING), G(EVICTED), E(ALL_DOWN), ALL, S(STOPPED), G(EVICTED),
     A(DESTROY_SANDBOX) | A(SAVE)},
    {S(STOPPING), G(EVICTED), E(REPLACE), UP, S(STOPPING), G(RECREATE), A(STAMP_DELETION)},
    {S(STOPPING), G(EVICTED), E(REPLACE), DOWN, S(STOPPING), G(SHUTDOWN), A(STAMP_DELETION)},
    {S(STOPPING), G(EVICTED), E(REMOVE), ALL, S(STOPPING), G(REMOVE), A(STAMP_DELETION)},

    {S(STOPPED), G(STOP), E(REPLACE), UP, S(STOPPING), G(RECREATE), A(STOP) | A(STAMP_DELETION)},
    {S(STOPPED), G(STOP), E(REPLACE), DOWN, S(STOPPING), G(SHUTDOWN), A(STOP) | A(STAMP_DELETION)},
    {S(STOPPED), G(STOP), E(REMOVE), ALL, S(STOPPING), G(REMOVE), A(STOP) | A(STAMP_DELETION)},
    {S(STOPPED), G(STOP), E(SHUTDOWN), ALL, S(STOPPING), G(SHUTDOWN), A(STOP) | A(STAMP_DELETION)},

    {S(STOPPED), G(SHUTDOWN), E(REPLACE), UP, S(STOPPING), G(RECREATE), A(STOP)},
    {S(STOPPED), G(SHUTDOWN), E(REMOVE), ALL, S(STOPPING), G(REMOVE), A(STOP)},

    /* Evicted and stopped: a new version (or a restart) replaces it; a shutdown changes nothing. */
    {S(STOPPED), G(EVICTED), E(REPLACE), UP, S(STOPPING), G(RECREATE), A(STOP) | A(STAMP_DELETION)},
    {S(STOPPED), G(EVICTED), E(REPLACE), DOWN, S(STOPPING), G(SHUTDOWN),
     A(STOP) | A(STAMP_DELETION)},
    {S(STOPPED), G(EVICTED), E(REMOVE), ALL, S(STOPPING), G(REMOVE), A(STOP) | A(STAMP_DELETION)},
};

static PodEvent pod_event(PodEventType t)
{
    return (PodEvent){.type = t, .phase = POD_PHASE_SUCCEEDED};
}

START_TEST(test_pod_step_table)
{
    const PodCase *t = &pod_cases[_i];

    for (int p = 0; p < _P_MAX; p++) {
        PodLife l = {t->from, t->from_goal};
        PodEvent ev = pod_event(t->ev);
        unsigned act;

        if (!(t->policies & (1u << p)))
            continue;
        act = pod_step(&l, &ev, &policies[p]);
        ck_assert_msg(l.state == t->to && l.goal == t->to_goal && act == t->actions,
                      "%s (%s) + %s, policy %d: got %s (%s) actions %#x, want %s (%s) actions %#x",
                      pod_state_to_string(t->from), pod_goal_to_string(t->from_goal),
                      pod_event_type_to_string(t->ev), p, pod_state_to_string(l.state),
                      pod_goal_to_string(l.goal), act, pod_state_to_string(t->to),
                      pod_goal_to_string(t->to_goal), t->actions);
    }
}
END_TEST

static bool pod_listed(const PodLife *l, PodEventType ev, int p)
{
    for (size_t i = 0; i < ELEMENTSOF(pod_cases); i++)
        if (pod_cases[i].from == l->state && pod_cases[i].from_goal == l->goal &&
            pod_cases[i].ev == ev && (pod_cases[i].policies & (1u << p)))
            return true;
    return false;
}

/* The rest of the (state, goal) x event x policy cube: ignored, with nothing changed. */
START_TEST(test_pod_no_op_pairs)
{
    unsigned noops = 0, acting = 0;

    for (size_t i = 0; i < ELEMENTSOF(lives); i++)
        for (int e = 0; e < _POD_EV_MAX; e++)
            for (int p = 0; p < _P_MAX; p++) {
                PodLife l = lives[i];
                PodEvent ev = pod_event((PodEventType)e);

                if (pod_listed(&lives[i], (PodEventType)e, p)) {
                    acting++;
                    continue;
                }
                ck_assert_msg(pod_step(&l, &ev, &policies[p]) == 0, "%s (%s) + %s acted",
                              pod_state_to_string(lives[i].state),
                              pod_goal_to_string(lives[i].goal),
                              pod_event_type_to_string((PodEventType)e));
                ck_assert_int_eq(l.state, lives[i].state);
                ck_assert_int_eq(l.goal, lives[i].goal);
                noops++;
            }
    ck_assert_uint_eq(noops + acting, ELEMENTSOF(lives) * _POD_EV_MAX * _P_MAX);
    /* Every row is reached from a listed (state, goal). */
    for (size_t k = 0; k < ELEMENTSOF(pod_cases); k++) {
        bool found = false;

        for (size_t i = 0; i < ELEMENTSOF(lives); i++)
            found |= lives[i].state == pod_cases[k].from && lives[i].goal == pod_cases[k].from_goal;
        ck_assert_msg(found, "row %zu starts from an unlisted state", k);
    }
}
END_TEST

/* A phase that is not final runs no exit policy. */
START_TEST(test_pod_phase_not_final)
{
    static const PodPhase phases[] = {POD_PHASE_PENDING, POD_PHASE_RUNNING};

    for (size_t i = 0; i < ELEMENTSOF(phases); i++)
        for (int p = 0; p < _P_MAX; p++) {
            PodLife l = pod_life_new();
            PodEvent ev = {.type = POD_EV_PHASE, .phase = phases[i]};

            ck_assert_uint_eq(pod_step(&l, &ev, &policies[p]), 0);
            ck_assert_int_eq(l.state, POD_STATE_RUNNING);
        }
    /* Failed is final as Succeeded is. */
    PodLife l = pod_life_new();
    PodEvent ev = {.type = POD_EV_PHASE, .phase = POD_PHASE_FAILED};

    ck_assert_uint_eq(pod_step(&l, &ev, &policies[P_CONT]), POD_ACT_EXIT_CONTINUE | POD_ACT_SAVE);
    ck_assert_int_eq(l.state, POD_STATE_FINISHED);
}
END_TEST

static unsigned feed(PodLife *l, PodEventType t, int p)
{
    PodEvent ev = pod_event(t);

    return pod_step(l, &ev, &policies[p]);
}

/* The bug this machine fixed: removed, put back while it stops: it runs again, never dropped. */
START_TEST(test_pod_readded_while_stopping)
{
    PodLife l = pod_life_new();
    unsigned act;

    ck_assert_uint_eq(feed(&l, POD_EV_REMOVE, P_STOP), POD_ACT_STOP | POD_ACT_STAMP_DELETION);
    /* Back: its deletion goes on (one stamp), and what follows is a new instance. */
    ck_assert_uint_eq(feed(&l, POD_EV_REPLACE, P_STOP), 0);
    act = feed(&l, POD_EV_ALL_DOWN, P_STOP);
    ck_assert(!(act & POD_ACT_FORGET));
    ck_assert(act & POD_ACT_RESET);
    ck_assert_int_eq(l.state, POD_STATE_RUNNING);
    ck_assert_int_eq(l.goal, POD_GOAL_RUN);

    /* Removed again after that: it goes. */
    l = pod_life_new();
    (void)feed(&l, POD_EV_REMOVE, P_STOP);
    (void)feed(&l, POD_EV_REPLACE, P_STOP);
    (void)feed(&l, POD_EV_REMOVE, P_STOP);
    ck_assert(feed(&l, POD_EV_ALL_DOWN, P_STOP) & POD_ACT_FORGET);
    ck_assert_int_eq(l.state, POD_STATE_GONE);
    ck_assert_uint_eq(feed(&l, POD_EV_REPLACE, P_STOP), 0);
}
END_TEST

/* podd stops: a pod being recreated or removed stops; recreated only by the next podd. */
START_TEST(test_pod_shutdown)
{
    PodLife l = pod_life_new();

    (void)feed(&l, POD_EV_REPLACE, P_STOP);
    (void)feed(&l, POD_EV_SHUTDOWN, P_DOWN);
    ck_assert(!(feed(&l, POD_EV_ALL_DOWN, P_DOWN) & POD_ACT_RESET));
    ck_assert(pod_life_stopped_by_shutdown(&l));
    ck_assert(!pod_life_exit_policy_done(&l));

    /* A removal is carried out even while podd stops. */
    l = pod_life_new();
    (void)feed(&l, POD_EV_REMOVE, P_STOP);
    (void)feed(&l, POD_EV_SHUTDOWN, P_DOWN);
    ck_assert(feed(&l, POD_EV_ALL_DOWN, P_DOWN) & POD_ACT_FORGET);
    ck_assert(!pod_life_stopped_by_shutdown(&l));
}
END_TEST

/* The exit policy runs once per instance, and what the state file says of it. */
START_TEST(test_pod_exit_policy_once)
{
    PodLife l = pod_life_new();

    ck_assert(!pod_life_exit_policy_done(&l));
    ck_assert_uint_eq(feed(&l, POD_EV_PHASE, P_CONT), POD_ACT_EXIT_CONTINUE | POD_ACT_SAVE);
    ck_assert(pod_life_exit_policy_done(&l));
    ck_assert_uint_eq(feed(&l, POD_EV_PHASE, P_CONT), 0);
    ck_assert_uint_eq(feed(&l, POD_EV_PHASE, P_STOP), 0);
    ck_assert(!pod_state_is_terminating(l.state));

    l = pod_life_new();
    (void)feed(&l, POD_EV_PHASE, P_STOP);
    ck_assert(pod_life_exit_policy_done(&l));
    ck_assert(pod_state_is_terminating(l.state));
    ck_assert_uint_eq(feed(&l, POD_EV_ALL_DOWN, P_STOP), POD_ACT_DESTROY_SANDBOX | POD_ACT_SAVE);
    ck_assert(pod_life_exit_policy_done(&l));
    ck_assert(!pod_life_stopped_by_shutdown(&l));
    /* A restart (or a new version) starts a new instance, whose policy runs again. */
    (void)feed(&l, POD_EV_REPLACE, P_STOP);
    ck_assert(!pod_life_exit_policy_done(&l));
    ck_assert(feed(&l, POD_EV_ALL_DOWN, P_STOP) & POD_ACT_RESET);
    ck_assert(!pod_life_exit_policy_done(&l));
}
END_TEST

/*
 * Eviction: Failed for good (pod_life_evicted(), the state file's "evicted"),
 * through a shutdown and the next podd, until a new version replaces it.
 */
START_TEST(test_pod_evicted)
{
    PodLife l = pod_life_new();

    ck_assert(!pod_life_evicted(&l));
    ck_assert_uint_eq(feed(&l, POD_EV_EVICT, P_STOP), POD_ACT_STOP | POD_ACT_SAVE);
    ck_assert(pod_life_evicted(&l));
    ck_assert(pod_state_is_terminating(l.state));
    /* Evicted once: a second overgrown volume, or a final phase, changes nothing. */
    ck_assert_uint_eq(feed(&l, POD_EV_EVICT, P_STOP), 0);
    ck_assert_uint_eq(feed(&l, POD_EV_PHASE, P_STOP), 0);
    /* podd stops meanwhile: it stays evicted, not "stopped by the shutdown". */
    ck_assert_uint_eq(feed(&l, POD_EV_SHUTDOWN, P_DOWN), 0);
    ck_assert_uint_eq(feed(&l, POD_EV_ALL_DOWN, P_DOWN), POD_ACT_DESTROY_SANDBOX | POD_ACT_SAVE);
    ck_assert_int_eq(l.state, POD_STATE_STOPPED);
    ck_assert(pod_life_evicted(&l));
    ck_assert(!pod_life_stopped_by_shutdown(&l));
    ck_assert(!pod_life_exit_policy_done(&l));

    /* The next podd: whatever still runs stops, and it stays stopped. */
    l = pod_life_restore_evicted();
    ck_assert(pod_life_evicted(&l));
    ck_assert_int_eq(l.state, POD_STATE_STOPPING);
    ck_assert_uint_eq(feed(&l, POD_EV_ALL_DOWN, P_STOP), POD_ACT_DESTROY_SANDBOX | POD_ACT_SAVE);
    ck_assert_int_eq(l.state, POD_STATE_STOPPED);
    ck_assert_uint_eq(feed(&l, POD_EV_EVICT, P_STOP), 0);
    /* A new version of the manifest replaces it with a new instance, no longer evicted. */
    ck_assert_uint_eq(feed(&l, POD_EV_REPLACE, P_STOP), POD_ACT_STOP | POD_ACT_STAMP_DELETION);
    ck_assert(!pod_life_evicted(&l));
    ck_assert(feed(&l, POD_EV_ALL_DOWN, P_STOP) & POD_ACT_RESET);
    ck_assert_int_eq(l.state, POD_STATE_RUNNING);
    ck_assert_int_eq(l.goal, POD_GOAL_RUN);

    /* Evicted after its exit policy kept the sidecars: evicted all the same. */
    l = pod_life_new();
    (void)feed(&l, POD_EV_PHASE, P_CONT);
    ck_assert_uint_eq(feed(&l, POD_EV_EVICT, P_CONT), POD_ACT_STOP | POD_ACT_SAVE);
    ck_assert(pod_life_evicted(&l));
}
END_TEST

/* What a new podd makes of a saved record; a saved record restores to itself. */
START_TEST(test_pod_restore)
{
    PodLife l;

    l = pod_life_restore(false, false);
    ck_assert_int_eq(l.state, POD_STATE_RUNNING);
    l = pod_life_restore(false, true);
    ck_assert_int_eq(l.state, POD_STATE_RUNNING);
    l = pod_life_restore(true, true);
    ck_assert_int_eq(l.state, POD_STATE_FINISHED);
    l = pod_life_restore(true, false);
    ck_assert_int_eq(l.state, POD_STATE_STOPPED);
    ck_assert_int_eq(l.goal, POD_GOAL_STOP);
    ck_assert(pod_life_exit_policy_done(&l));
    ck_assert(!pod_life_stopped_by_shutdown(&l));
}
END_TEST

START_TEST(test_pod_strings)
{
    for (int s = 0; s < _POD_STATE_MAX; s++) {
        ck_assert_ptr_nonnull(pod_state_to_string((PodState)s));
        ck_assert_int_eq(pod_state_from_string(pod_state_to_string((PodState)s)), s);
    }
    for (int g = 0; g < _POD_GOAL_MAX; g++)
        ck_assert_ptr_nonnull(pod_goal_to_string((PodGoal)g));
    for (int e = 0; e < _POD_EV_MAX; e++)
        ck_assert_ptr_nonnull(pod_event_type_to_string((PodEventType)e));
    ck_assert_ptr_null(pod_state_to_string(_POD_STATE_MAX));
    ck_assert_int_eq(pod_state_from_string("nonsense"), _POD_STATE_INVALID);
}
END_TEST

static Suite *pod_lifecycle_suite(void)
{
    Suite *s = suite_create("pod-lifecycle");
    TCase *tc = tcase_create("step");

    tcase_add_loop_test(tc, test_pod_step_table, 0, (int)ELEMENTSOF(pod_cases));
    tcase_add_test(tc, test_pod_no_op_pairs);
    tcase_add_test(tc, test_pod_phase_not_final);
    tcase_add_test(tc, test_pod_readded_while_stopping);
    tcase_add_test(tc, test_pod_shutdown);
    tcase_add_test(tc, test_pod_exit_policy_once);
    tcase_add_test(tc, test_pod_evicted);
    tcase_add_test(tc, test_pod_restore);
    tcase_add_test(tc, test_pod_strings);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pod_lifecycle_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
