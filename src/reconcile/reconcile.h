/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * reconcile: from the Pod model to what must happen on the host. This
 * part turns a pod into its dependency graph; nothing here logs above
 * debug.
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
