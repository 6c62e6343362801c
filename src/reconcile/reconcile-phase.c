/* SPDX-License-Identifier: Apache-2.0 */
#include "reconcile.h"

/* A pod from its containers: phase, conditions, exit policy, start and stop order. Pure. */

DEFINE_STRING_TABLE(
    pod_phase, PodPhase,
    _POD_PHASE_MAX, [POD_PHASE_PENDING] = "Pending", [POD_PHASE_RUNNING] = "Running",
    [POD_PHASE_SUCCEEDED] = "Succeeded", [POD_PHASE_FAILED] = "Failed")
DEFINE_STRING_TABLE_FROM(pod_phase, PodPhase, _POD_PHASE_MAX, _POD_PHASE_INVALID)

/* Its last run ended well: exit 0, recorded by its monitor. */
static bool ctr_ended_well(const CtrLife *c)
{
    return c->started_once && ctr_exit_reason(&c->last_exit) == CTR_REASON_COMPLETED;
}

bool ctr_finished_for_good(const CtrLife *c)
{
    return c->state == CTR_STATE_TERMINATED ||
           (c->state == CTR_STATE_WAITING && c->reason == CTR_REASON_DEPENDENCY_FAILED);
}

PodPhase pod_compute_outcome(const CtrLife *const *ctrs, size_t n)
{
    bool all_finished = true, all_ok = true, any_started = false, any_regular = false;

    for (size_t i = 0; i < n; i++) {
        const CtrLife *c = ctrs[i];
        bool finished = ctr_finished_for_good(c);

        if (c->goal == CTR_GOAL_REMOVE)
            continue;
        /* A failed init container under Never, or one whose dependency failed. */
        if (c->kind == CONTAINER_KIND_INIT && finished && !c->succeeded_once)
            return POD_PHASE_FAILED;
        if (c->kind != CONTAINER_KIND_REGULAR)
            continue;
        any_regular = true;
        any_started |= c->started_once;
        if (!finished)
            all_finished = false;
        else if (!ctr_ended_well(c) || c->reason == CTR_REASON_DEPENDENCY_FAILED)
            all_ok = false;
    }
    if (any_regular && all_finished)
        return all_ok ? POD_PHASE_SUCCEEDED : POD_PHASE_FAILED;
    return any_started ? POD_PHASE_RUNNING : POD_PHASE_PENDING;
}

PodPhase pod_compute_phase(const CtrLife *const *ctrs, size_t n, ExitPolicy policy)
{
    PodPhase outcome = pod_compute_outcome(ctrs, n);

    if (policy != EXIT_POLICY_CONTINUE ||
        (outcome != POD_PHASE_SUCCEEDED && outcome != POD_PHASE_FAILED))
        return outcome;
    /* The sidecars the policy keeps run on: the pod is not over while they do. */
    for (size_t i = 0; i < n; i++)
        if (ctrs[i]->goal != CTR_GOAL_REMOVE && !ctr_finished_for_good(ctrs[i]))
            return POD_PHASE_RUNNING;
    return outcome;
}

PodConditions pod_compute_conditions(const CtrLife *const *ctrs, size_t n, bool terminating)
{
    PodConditions pc = {.scheduled = true, .initialized = true, .containers_ready = n > 0};

    for (size_t i = 0; i < n; i++) {
        if (ctrs[i]->kind == CONTAINER_KIND_INIT && !ctrs[i]->succeeded_once)
            pc.initialized = false;
        if (ctrs[i]->kind == CONTAINER_KIND_REGULAR &&
            (!ctr_state_shows_running(ctrs[i]->state) || !ctrs[i]->ready))
            pc.containers_ready = false;
    }
    pc.ready = pc.containers_ready && !terminating;
    return pc;
}

PodExitAction pod_exit_action(PodPhase outcome, ExitPolicy policy, bool done)
{
    if (done || (outcome != POD_PHASE_SUCCEEDED && outcome != POD_PHASE_FAILED))
        return POD_EXIT_NONE;
    return policy == EXIT_POLICY_CONTINUE ? POD_EXIT_CONTINUE : POD_EXIT_STOP;
}

int reconcile_blocker(const Graph *g, size_t node, CtrLookup lookup, void *userdata,
                      GraphCondition *ret_cond)
{
    const GraphEdge *edges;
    size_t n;

    edges = graph_node_edges(g, node, &n);
    for (size_t k = 0; k < n; k++) {
        const CtrLife *on = lookup(userdata, edges[k].waited_on);

        if (on && !ctr_condition_met(on, edges[k].condition)) {
            *ret_cond = edges[k].condition;
            return (int)edges[k].waited_on;
        }
    }
    return -ENOENT;
}

bool ctr_dependency_failed(const CtrLife *on, GraphCondition cond)
{
    if (ctr_condition_met(on, cond))
        return false;
    return ctr_finished_for_good(on);
}

int reconcile_failed_dependency(const Graph *g, size_t node, CtrLookup lookup, void *userdata,
                                GraphCondition *ret_cond)
{
    const GraphEdge *edges;
    size_t n;

    edges = graph_node_edges(g, node, &n);
    for (size_t k = 0; k < n; k++) {
        const CtrLife *on = lookup(userdata, edges[k].waited_on);

        if (on && ctr_dependency_failed(on, edges[k].condition)) {
            *ret_cond = edges[k].condition;
            return (int)edges[k].waited_on;
        }
    }
    return -ENOENT;
}

int reconcile_stop_layer(const Graph *g, CtrLookup lookup, void *userdata)
{
    for (size_t l = graph_layer_count(g); l > 0; l--) {
        const size_t *nodes;
        size_t n;

        nodes = graph_layer_nodes(g, l - 1, &n);
        for (size_t k = 0; k < n; k++) {
            const CtrLife *c = lookup(userdata, nodes[k]);

            if (c && ctr_state_is_active(c->state))
                return (int)(l - 1);
        }
    }
    return -ENOENT;
}
