/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * graph: the dependency graph of one pod. Nodes are containers, named, with
 * a kind tag the caller chooses (the graph never interprets it). An edge
 * says "waiter waits for waited_on to reach a condition". graph_sort()
 * orders the nodes into layers: every node of layer N waits only for nodes
 * of layers < N, so the nodes of one layer may start together; stopping
 * walks the layers backwards.
 *
 * Pure: no I/O, no logging. Everything is deterministic: ties are broken
 * by insertion order.
 */

#include "base/base.h"

/* Twice MANIFEST_MAX_CONTAINERS: init containers plus regular ones. */
#define GRAPH_MAX_NODES 128

/* Ordered from weakest to strongest: ready implies started, completed implies both. */
typedef enum GraphCondition {
    GRAPH_CONDITION_STARTED,
    GRAPH_CONDITION_READY,
    GRAPH_CONDITION_COMPLETED,
    _GRAPH_CONDITION_MAX,
    _GRAPH_CONDITION_INVALID = -EINVAL,
} GraphCondition;

/* "started", "ready", "completed"; NULL for a value out of range. */
const char *graph_condition_to_string(GraphCondition c);
/* The inverse; _GRAPH_CONDITION_INVALID for NULL or an unknown string. */
GraphCondition graph_condition_from_string(const char *s);

/* One edge as seen from its waiter. */
typedef struct GraphEdge {
    size_t waited_on; /* node index */
    GraphCondition condition;
} GraphEdge;

typedef struct Graph Graph;

/* Returns an empty graph, or NULL on ENOMEM. */
Graph *graph_new(void);
/* Frees g and everything it holds; accepts NULL; returns NULL. */
Graph *graph_free(Graph *g);
DEFINE_CLEANUP_FUNC(Graph, graph_free)

/*
 * Adds a node. name is copied. Returns the new node's index (insertion
 * order, from 0), -EEXIST when a node of that name exists, -E2BIG past
 * GRAPH_MAX_NODES, -EINVAL for a NULL or empty name, -ENOMEM.
 */
int graph_add_node(Graph *g, const char *name, int kind);

/*
 * Adds the edge "waiter waits for waited_on to reach cond". Returns 0 or a
 * negative errno with reterr set: -ENOENT when either name is not a node
 * ("dangling reference: 'x' waits for 'y', which is not a container of
 * this pod"), -EINVAL for a bad condition, -ENOMEM. A second edge between
 * the same two nodes is merged into the first, which keeps the stronger
 * condition. A node may wait for itself: graph_sort() reports that loop.
 */
int graph_add_edge(Graph *g, const char *waiter, const char *waited_on, GraphCondition cond,
                   PdError *reterr);

/*
 * Computes the layers (Kahn's algorithm, level by level; within a layer
 * nodes keep their insertion order). Returns 0, -ENOMEM, or -ELOOP with
 * reterr set to "dependency cycle: a -> b -> c -> a" (a -> b: a waits for
 * b), starting at the earliest-inserted node that lies on any cycle; the
 * cycle is then available from graph_cycle(). Adding nodes or edges
 * afterwards discards the result.
 */
int graph_sort(Graph *g, PdError *reterr);

/* ---- accessors (indexes must be in range; results are owned by g) ------------ */

size_t graph_node_count(const Graph *g);
const char *graph_node_name(const Graph *g, size_t node);
int graph_node_kind(const Graph *g, size_t node);
/* Index of the node called name, or -ENOENT. */
int graph_find_node(const Graph *g, const char *name);
/* The edges node waits for, in insertion order; *ret_n is set (0 when none). */
const GraphEdge *graph_node_edges(const Graph *g, size_t node, size_t *ret_n);

/* After a successful graph_sort(): the node's layer (0-based); -ESTALE before. */
int graph_node_layer(const Graph *g, size_t node);
/* After a successful graph_sort(): the number of layers; 0 before (and for no nodes). */
size_t graph_layer_count(const Graph *g);
/* The nodes of a layer, in insertion order. */
const size_t *graph_layer_nodes(const Graph *g, size_t layer, size_t *ret_n);

/*
 * Every node in start order (layer 0 first) or stop order (last layer
 * first; within a layer insertion order is kept). NULL with *ret_n = 0
 * before a successful graph_sort().
 */
const size_t *graph_start_order(const Graph *g, size_t *ret_n);
const size_t *graph_stop_order(const Graph *g, size_t *ret_n);

/*
 * After graph_sort() returned -ELOOP: the nodes of the reported cycle in
 * order (each waits for the next; the last waits for the first), without
 * repeating the first. NULL with *ret_n = 0 otherwise.
 */
const size_t *graph_cycle(const Graph *g, size_t *ret_n);
