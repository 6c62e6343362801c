/* SPDX-License-Identifier: Apache-2.0 */
#include "reconcile.h"

GraphCondition reconcile_graph_condition(DepCondition c)
{
    switch (c) {
    case DEP_CONDITION_STARTED:
        return GRAPH_CONDITION_STARTED;
    case DEP_CONDITION_READY:
        return GRAPH_CONDITION_READY;
    case DEP_CONDITION_COMPLETED:
        return GRAPH_CONDITION_COMPLETED;
    default:
        return _GRAPH_CONDITION_INVALID;
    }
}

/*
 * What the containers after an init container wait for: a plain init
 * container must exit; a sidecar never does, so its successors wait for it
 * to start, or to pass its startupProbe when it has one (as the kubelet
 * does).
 */
static GraphCondition init_successor_condition(const Container *c)
{
    if (c->kind != CONTAINER_KIND_SIDECAR)
        return GRAPH_CONDITION_COMPLETED;
    if (c->startup_probe.action != PROBE_ACTION_NONE)
        return GRAPH_CONDITION_READY;
    return GRAPH_CONDITION_STARTED;
}

static int pod_graph_add_container(Graph *g, const Container *c, PdError *reterr)
{
    int r;

    r = graph_add_node(g, c->name, (int)c->kind);
    if (r == -EEXIST)
        return pd_error_set_at(reterr, r, c->pos.line, c->pos.column,
                               "container name '%s' is used more than once", c->name);
    if (r == -E2BIG)
        return pd_error_set_at(reterr, r, c->pos.line, c->pos.column,
                               "too many containers: at most %d per pod", GRAPH_MAX_NODES);
    if (r == -EINVAL)
        return pd_error_set_at(reterr, r, c->pos.line, c->pos.column, "container without a name");
    if (r < 0)
        return pd_error_set(reterr, r, "out of memory");
    return 0;
}

/* The first depends-on entry behind an edge of the cycle, walking from its start; or NULL. */
static const Dependency *pod_cycle_dependency(const Pod *pod, const Graph *g)
{
    const size_t *cycle;
    size_t n;

    cycle = graph_cycle(g, &n);
    for (size_t k = 0; k < n; k++) {
        const char *waiter = graph_node_name(g, cycle[k]);
        const char *waited_on = graph_node_name(g, cycle[(k + 1) % n]);

        for (size_t i = 0; i < pod->n_dependencies; i++) {
            const Dependency *d = &pod->dependencies[i];

            if (streq(d->container, waiter) && streq(d->on, waited_on))
                return d;
        }
    }
    return NULL;
}

int reconcile_pod_graph(const Pod *pod, Graph **ret, PdError *reterr)
{
    _cleanup_(graph_freep) Graph *g = NULL;
    const Container *last_init = NULL;
    PdError e = {0};
    int r;

    g = graph_new();
    if (!g)
        return pd_error_set(reterr, -ENOMEM, "out of memory");

    POD_FOREACH_CONTAINER (pod, c, i) {
        r = pod_graph_add_container(g, c, reterr);
        if (r < 0)
            return r;
    }

    for (size_t i = 0; i < pod->n_init_containers; i++) {
        const Container *c = &pod->init_containers[i];

        if (last_init) {
            r = graph_add_edge(g, c->name, last_init->name, init_successor_condition(last_init),
                               reterr);
            if (r < 0)
                return r;
        }
        last_init = c;
    }

    for (size_t i = 0; last_init && i < pod->n_containers; i++) {
        r = graph_add_edge(g, pod->containers[i].name, last_init->name,
                           init_successor_condition(last_init), reterr);
        if (r < 0)
            return r;
    }

    for (size_t i = 0; i < pod->n_dependencies; i++) {
        const Dependency *d = &pod->dependencies[i];
        GraphCondition cond = reconcile_graph_condition(d->condition);

        if (cond < 0)
            return pd_error_set_at(reterr, -EINVAL, d->pos.line, d->pos.column,
                                   "'%s' waits for '%s' with an invalid condition", d->container,
                                   d->on);
        r = graph_add_edge(g, d->container, d->on, cond, &e);
        if (r < 0)
            return pd_error_set_at(reterr, r, d->pos.line, d->pos.column, "%s", e.message);
    }

    r = graph_sort(g, &e);
    if (r == -ELOOP) {
        const Dependency *d = pod_cycle_dependency(pod, g);

        if (!d)
            return pd_error_set(reterr, r, "%s", e.message);
        return pd_error_set_at(reterr, r, d->pos.line, d->pos.column, "%s", e.message);
    }
    if (r < 0)
        return pd_error_set(reterr, r, "%s", e.message);

    *ret = move_ptr(g);
    return 0;
}
