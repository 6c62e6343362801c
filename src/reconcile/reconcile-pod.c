/* SPDX-License-Identifier: Apache-2.0 */
#include "reconcile.h"

/*
 * The pod lifecycle: one switch per state over the events it expects, as
 * ctr_step() does for containers. Pure: nothing here performs I/O or logs.
 *
 *   RUNNING --phase final, exit policy continue--> FINISHED
 *   RUNNING --phase final, exit policy stop--> STOPPING (goal STOP)
 *   RUNNING/FINISHED --evict--> STOPPING (goal EVICTED)
 *   RUNNING/FINISHED/STOPPED --replace/remove/shutdown--> STOPPING (goal RECREATE/REMOVE/SHUTDOWN)
 *   STOPPING --all down--> STOPPED (STOP, SHUTDOWN, EVICTED) | RUNNING (RECREATE) | GONE (REMOVE)
 *
 * While it stops, a later event only changes the goal: a manifest removed
 * and put back before the stop ends starts a new instance (RECREATE
 * cancels REMOVE), and once podd shuts down nothing starts again. An
 * eviction outlasts a shutdown (the next podd leaves the pod stopped), not
 * a new version, a restart or a removal.
 */

DEFINE_STRING_TABLE(
    pod_state, PodState,
    _POD_STATE_MAX, [POD_STATE_RUNNING] = "running", [POD_STATE_FINISHED] = "finished",
    [POD_STATE_STOPPING] = "stopping", [POD_STATE_STOPPED] = "stopped", [POD_STATE_GONE] = "gone")
DEFINE_STRING_TABLE_FROM(pod_state, PodState, _POD_STATE_MAX, _POD_STATE_INVALID)

DEFINE_STRING_TABLE(pod_goal, PodGoal,
                    _POD_GOAL_MAX, [POD_GOAL_RUN] = "run", [POD_GOAL_STOP] = "stop",
                    [POD_GOAL_RECREATE] = "recreate", [POD_GOAL_SHUTDOWN] = "shutdown",
                    [POD_GOAL_REMOVE] = "remove", [POD_GOAL_EVICTED] = "evicted")

DEFINE_STRING_TABLE(
    pod_event_type, PodEventType,
    _POD_EV_MAX, [POD_EV_PHASE] = "phase", [POD_EV_REPLACE] = "replace", [POD_EV_REMOVE] = "remove",
    [POD_EV_SHUTDOWN] = "shutdown", [POD_EV_ALL_DOWN] = "all-down", [POD_EV_EVICT] = "evict")

PodLife pod_life_new(void)
{
    return (PodLife){.state = POD_STATE_RUNNING, .goal = POD_GOAL_RUN};
}

PodLife pod_life_restore(bool exit_policy_done, bool sandbox)
{
    if (!exit_policy_done)
        return pod_life_new();
    if (sandbox)
        return (PodLife){.state = POD_STATE_FINISHED, .goal = POD_GOAL_RUN};
    return (PodLife){.state = POD_STATE_STOPPED, .goal = POD_GOAL_STOP};
}

PodLife pod_life_restore_evicted(void)
{
    return (PodLife){.state = POD_STATE_STOPPING, .goal = POD_GOAL_EVICTED};
}

bool pod_state_is_terminating(PodState s)
{
    return s == POD_STATE_STOPPING || s == POD_STATE_STOPPED || s == POD_STATE_GONE;
}

bool pod_life_exit_policy_done(const PodLife *l)
{
    return l->state == POD_STATE_FINISHED || l->goal == POD_GOAL_STOP;
}

bool pod_life_stopped_by_shutdown(const PodLife *l)
{
    return l->state == POD_STATE_STOPPED && l->goal == POD_GOAL_SHUTDOWN;
}

bool pod_life_evicted(const PodLife *l)
{
    return l->goal == POD_GOAL_EVICTED;
}

/* The pod instance goes away (Kubernetes' deletionTimestamp): all but the exit policy's stop. */
static bool goal_deletes(PodGoal g)
{
    return g == POD_GOAL_RECREATE || g == POD_GOAL_SHUTDOWN || g == POD_GOAL_REMOVE;
}

/* The goal after ev, from goal: the last word wins, except that a shutdown stops for good. */
static PodGoal goal_after(PodGoal goal, PodEventType t, const PodPolicy *p)
{
    switch (t) {
    case POD_EV_REMOVE:
        return POD_GOAL_REMOVE;
    case POD_EV_SHUTDOWN:
        return goal == POD_GOAL_REMOVE || goal == POD_GOAL_EVICTED ? goal : POD_GOAL_SHUTDOWN;
    case POD_EV_REPLACE:
        /* Wanted again (it cancels a removal), but while podd stops, the next podd starts it. */
        return p->shutting_down ? POD_GOAL_SHUTDOWN : POD_GOAL_RECREATE;
    default:
        return goal;
    }
}

/* RUNNING, FINISHED or STOPPED: every container stops, then the goal decides. */
static unsigned begin_stop(PodLife *l, PodGoal goal)
{
    unsigned act = POD_ACT_STOP;

    if (goal_deletes(goal) && !goal_deletes(l->goal))
        act |= POD_ACT_STAMP_DELETION;
    l->state = POD_STATE_STOPPING;
    l->goal = goal;
    return act;
}

/* STOPPING: a later event only changes what follows the stop. */
static unsigned change_goal(PodLife *l, PodGoal goal)
{
    unsigned act = goal_deletes(goal) && !goal_deletes(l->goal) ? POD_ACT_STAMP_DELETION : 0;

    l->goal = goal;
    return act;
}

static unsigned step_running(PodLife *l, const PodEvent *ev, const PodPolicy *p)
{
    switch (ev->type) {
    case POD_EV_PHASE:
        if (l->state != POD_STATE_RUNNING)
            return 0; /* FINISHED: the exit policy ran already */
        switch (pod_exit_action(ev->phase, p->exit_policy, false)) {
        case POD_EXIT_CONTINUE:
            l->state = POD_STATE_FINISHED;
            return POD_ACT_EXIT_CONTINUE | POD_ACT_SAVE;
        case POD_EXIT_STOP:
            return POD_ACT_EXIT_STOP | POD_ACT_SAVE | begin_stop(l, POD_GOAL_STOP);
        default:
            return 0;
        }
    case POD_EV_EVICT:
        return POD_ACT_SAVE | begin_stop(l, POD_GOAL_EVICTED);
    case POD_EV_REPLACE:
    case POD_EV_REMOVE:
    case POD_EV_SHUTDOWN:
        return begin_stop(l, goal_after(l->goal, ev->type, p));
    default:
        return 0;
    }
}

static unsigned step_stopping(PodLife *l, const PodEvent *ev, const PodPolicy *p)
{
    switch (ev->type) {
    case POD_EV_ALL_DOWN:
        switch (l->goal) {
        case POD_GOAL_REMOVE:
            l->state = POD_STATE_GONE;
            return POD_ACT_DESTROY_SANDBOX | POD_ACT_FORGET;
        case POD_GOAL_RECREATE:
            /* podd stops meanwhile (it feeds SHUTDOWN first): the next podd starts it. */
            if (p->shutting_down) {
                *l = (PodLife){.state = POD_STATE_STOPPED, .goal = POD_GOAL_SHUTDOWN};
                return POD_ACT_DESTROY_SANDBOX | POD_ACT_SAVE;
            }
            *l = pod_life_new();
            return POD_ACT_DESTROY_SANDBOX | POD_ACT_RESET | POD_ACT_SAVE;
        default:
            l->state = POD_STATE_STOPPED;
            return POD_ACT_DESTROY_SANDBOX | POD_ACT_SAVE;
        }
    case POD_EV_REPLACE:
    case POD_EV_REMOVE:
    case POD_EV_SHUTDOWN:
        return change_goal(l, goal_after(l->goal, ev->type, p));
    default:
        return 0;
    }
}

static unsigned step_stopped(PodLife *l, const PodEvent *ev, const PodPolicy *p)
{
    PodGoal goal;

    switch (ev->type) {
    case POD_EV_REPLACE:
    case POD_EV_REMOVE:
    case POD_EV_SHUTDOWN:
        goal = goal_after(l->goal, ev->type, p);
        /* Stopped by the shutdown already: the next podd starts it (or finds it gone). */
        if (goal == l->goal)
            return 0;
        return begin_stop(l, goal);
    default:
        return 0;
    }
}

unsigned pod_step(PodLife *l, const PodEvent *ev, const PodPolicy *p)
{
    switch (l->state) {
    case POD_STATE_RUNNING:
    case POD_STATE_FINISHED:
        return step_running(l, ev, p);
    case POD_STATE_STOPPING:
        return step_stopping(l, ev, p);
    case POD_STATE_STOPPED:
        return step_stopped(l, ev, p);
    default:
        return 0; /* GONE */
    }
}
