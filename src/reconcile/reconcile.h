/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * reconcile: from the Pod model to what must happen on the host: the
 * pod's dependency graph, and the plan from the version that runs to a
 * new one. Pure: no I/O, nothing here logs above debug.
 */

#include "graph/graph.h"
#include "manifest/manifest.h"

/* The graph's condition for a manifest condition; _GRAPH_CONDITION_INVALID when out of range. */
GraphCondition reconcile_graph_condition(DepCondition c);

/*
 * Builds and sorts the start graph of pod (borrowed). Nodes are the
 * containers, init containers first in their order, then regular ones,
 * each tagged with its ContainerKind. Edges, with Kubernetes semantics:
 *
 *   - each init container waits for the previous one: to complete when it
 *     is a plain init container, to start when it is a sidecar, to be
 *     ready when it is a sidecar with a startupProbe;
 *   - every regular container waits for the last init container under the
 *     same rule (which transitively covers all of them);
 *   - every podd.io/depends-on entry adds "container waits for on".
 *
 * Returns 0 with *ret set to a sorted graph the caller owns, or a negative
 * errno with reterr set and *ret untouched: -ELOOP for a cycle, spelled
 * out ("dependency cycle: a -> b -> a") and positioned at a depends-on
 * entry on the cycle; -ENOENT for a depends-on entry naming no container,
 * -EEXIST for a container name used twice, -E2BIG past GRAPH_MAX_NODES
 * (all positioned), -ENOMEM. Does not log.
 */
int reconcile_pod_graph(const Pod *pod, Graph **ret, PdError *reterr);

/* ---- the plan: what a new version of a pod changes ---------------------------- */

/* What happens to one container, or (KEEP or REPLACE only) to the whole pod. */
typedef enum PlanAction {
    PLAN_ACTION_KEEP,    /* it runs on (or waits on) untouched */
    PLAN_ACTION_CREATE,  /* new: it starts when its dependencies are met */
    PLAN_ACTION_REPLACE, /* it stops, then its new version starts from nothing */
    PLAN_ACTION_REMOVE,  /* it stops and is forgotten */
    _PLAN_ACTION_MAX,
    _PLAN_ACTION_INVALID = -EINVAL,
} PlanAction;

/* Why, for one container. */
typedef enum PlanReason {
    PLAN_REASON_UNCHANGED,    /* keep: its spec is the same */
    PLAN_REASON_NOT_STARTED,  /* keep: its spec changed, but it never started; it starts anew */
    PLAN_REASON_NEW,          /* create: not in the version that runs */
    PLAN_REASON_SPEC_CHANGED, /* replace: its own spec changed */
    PLAN_REASON_DEPENDENCY,   /* replace: it started and waits for a replaced container (cause) */
    PLAN_REASON_REPLACING,    /* replace: a replacement of it is under way already */
    PLAN_REASON_POD_REPLACED, /* replace: the whole pod is replaced */
    PLAN_REASON_GONE,         /* remove: gone from the new version */
    _PLAN_REASON_MAX,
    _PLAN_REASON_INVALID = -EINVAL,
} PlanReason;

/* Why the whole pod is replaced (a new pod instance: init containers run again). */
typedef enum PlanPodReason {
    PLAN_POD_REASON_NONE,            /* it is not */
    PLAN_POD_REASON_STOPPING,        /* the instance that runs is stopping already */
    PLAN_POD_REASON_POD_LEVEL,       /* pod-level fields changed (detail: their names) */
    PLAN_POD_REASON_INIT_CHANGED,    /* an init container that ran changed (detail: its name) */
    PLAN_POD_REASON_SIDECAR_CHANGED, /* a sidecar that ran changed (detail: its name) */
    PLAN_POD_REASON_INIT_SEQUENCE,   /* init containers added, removed or reordered */
    _PLAN_POD_REASON_MAX,
    _PLAN_POD_REASON_INVALID = -EINVAL,
} PlanPodReason;

/* "keep", "create", "replace", "remove"; NULL out of range. */
const char *reconcile_plan_action_to_string(PlanAction a);
/* "Unchanged", "NotStarted", "New", "SpecChanged", "Dependency", "Replacing", "PodReplaced",
 * "Gone". */
const char *reconcile_plan_reason_to_string(PlanReason r);
/* "", "Stopping", "PodLevel", "InitChanged", "SidecarChanged", "InitSequence". */
const char *reconcile_plan_pod_reason_to_string(PlanPodReason r);

/* One container of what runs, as the planner sees it. Every pointer is borrowed. */
typedef struct PlanObservedCtr {
    const char *name;
    ContainerKind kind;
    /* The spec it runs with, as reconcile_plan() writes PlanCtr.spec_json; NULL: unknown
     * (never counts as a change). */
    const char *spec_json;
    bool started;   /* it started in this pod instance */
    bool replacing; /* a replacement of it is under way: it counts as replaced */
} PlanObservedCtr;

/*
 * What runs: filled by the daemon from its records, by `podctl apply
 * --dry-run` from the same records. Everything is borrowed; the caller
 * keeps it alive during reconcile_plan().
 */
typedef struct PlanObserved {
    /* reconcile_pod_level_json() of the version that runs; NULL when none does (not compared). */
    const json_t *level;
    const PlanObservedCtr *ctrs; /* init containers first, in their order; then the others */
    size_t n_ctrs;
    bool stopping; /* the pod instance is stopping: what comes next is a new instance */
} PlanObserved;

/* The verdict for one container. */
typedef struct PlanCtr {
    char *name;         /* owned by the plan */
    ContainerKind kind; /* of the new version; of the old one for a removed container */
    PlanAction action;
    PlanReason reason;
    char *cause;     /* PLAN_REASON_DEPENDENCY: the replaced container it waits for; else NULL */
    char *spec_json; /* desired containers: compact key-sorted JSON of its spec; NULL if removed */
} PlanCtr;

typedef struct Plan {
    Graph *graph;          /* the new version's start graph, owned (move it out to keep it) */
    PlanAction pod_action; /* PLAN_ACTION_KEEP or PLAN_ACTION_REPLACE */
    PlanPodReason pod_reason;
    char *pod_detail; /* the fields ("restartPolicy, annotations") or the container; or NULL */
    /* The new version's containers in POD_FOREACH_CONTAINER order, then the removed ones in the
     * order of observed. With pod_action REPLACE every container still in the new version is
     * replaced (its own reason when it has one, else PLAN_REASON_POD_REPLACED). */
    PlanCtr *ctrs;
    size_t n_ctrs;
} Plan;

Plan *reconcile_plan_free(Plan *p);
DEFINE_CLEANUP_FUNC(Plan, reconcile_plan_free)

/*
 * The pod-level fields of pod_to_json() output spec (borrowed): all but the
 * container lists and the dependencies (they come from the annotations,
 * which are compared as a map, so reordering them changes nothing). A
 * change there replaces the whole pod. New reference, NULL on ENOMEM.
 */
json_t *reconcile_pod_level_json(const json_t *spec);

/*
 * Plans the way from observed (borrowed) to desired (borrowed, a valid
 * Pod). The rules:
 *
 *   - a container of both whose spec changed is replaced if it started,
 *     else kept (it starts with its new spec); one new is created, one gone
 *     is removed;
 *   - the whole pod is replaced when the instance is stopping, when a
 *     pod-level field changed, when an init container or a sidecar that
 *     started is replaced, or when init containers were added, removed or
 *     reordered after any container started;
 *   - otherwise every container that started and waits, directly or not,
 *     for a replaced one (graph edges of desired) is replaced too.
 *
 * Returns 0 with *ret set to a plan the caller owns (reconcile_plan_free()),
 * or a negative errno with reterr set: what reconcile_pod_graph() returns
 * for desired, -ENOMEM. Does not log.
 */
int reconcile_plan(const Pod *desired, const PlanObserved *observed, Plan **ret, PdError *reterr);

/* The entry for a container, or NULL. */
const PlanCtr *reconcile_plan_find(const Plan *p, const char *name);

/*
 * For humans (apply's answers, events). Each returns a new string the
 * caller frees, or NULL on ENOMEM:
 *
 *   reconcile_plan_pod_reason_text(): "pod-level field restartPolicy changed",
 *     "init container setup changed", ...; "" when the pod is kept;
 *   reconcile_plan_ctr_reason_text(): "its spec changed", "it depends on db,
 *     which is replaced", "gone from the manifest", ...;
 *   reconcile_plan_summary(): one line, "" when nothing happens:
 *     "the whole pod is replaced (pod-level field restartPolicy changed)", or
 *     parts joined by "; ": "replaces containers db, web (web depends on db)",
 *     "creates container x", "removes container y", "updates container z
 *     (not started yet)".
 */
char *reconcile_plan_pod_reason_text(const Plan *p);
char *reconcile_plan_ctr_reason_text(const PlanCtr *c);
char *reconcile_plan_summary(const Plan *p);
