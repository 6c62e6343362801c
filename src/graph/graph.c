/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <stdio.h>

#include "graph.h"

typedef struct GraphNode {
    char *name;
    int kind;
    GraphEdge *edges; /* what this node waits for */
    size_t n_edges;
    int layer; /* -1 until placed */
} GraphNode;

struct Graph {
    GraphNode *nodes;
    size_t n_nodes, cap_nodes;

    /* Valid when sorted: nodes layer by layer, and where each layer begins. */
    bool sorted;
    size_t *start;         /* n_nodes entries */
    size_t *stop;          /* n_nodes entries */
    size_t *layer_offsets; /* n_layers + 1 entries into start[] */
    size_t n_layers;

    /* Valid after graph_sort() failed with -ELOOP. */
    size_t *cycle;
    size_t n_cycle;
};

DEFINE_STRING_TABLE(graph_condition, GraphCondition,
                    _GRAPH_CONDITION_MAX, [GRAPH_CONDITION_STARTED] = "started",
                    [GRAPH_CONDITION_READY] = "ready", [GRAPH_CONDITION_COMPLETED] = "completed")
DEFINE_STRING_TABLE_FROM(graph_condition, GraphCondition, _GRAPH_CONDITION_MAX,
                         _GRAPH_CONDITION_INVALID)

Graph *graph_new(void)
{
    return calloc(1, sizeof(Graph));
}

static void *mfree(void *p)
{
    free(p);
    return NULL;
}

static void graph_drop_layers(Graph *g)
{
    g->start = mfree(g->start);
    g->stop = mfree(g->stop);
    g->layer_offsets = mfree(g->layer_offsets);
    g->n_layers = 0;
    g->sorted = false;
    for (size_t i = 0; i < g->n_nodes; i++)
        g->nodes[i].layer = -1;
}

/* Forgets the result of the last graph_sort(), successful or not. */
static void graph_reset_sort(Graph *g)
{
    graph_drop_layers(g);
    g->cycle = mfree(g->cycle);
    g->n_cycle = 0;
}

Graph *graph_free(Graph *g)
{
    if (!g)
        return NULL;
    graph_reset_sort(g);
    for (size_t i = 0; i < g->n_nodes; i++) {
        free(g->nodes[i].name);
        free(g->nodes[i].edges);
    }
    free(g->nodes);
    free(g);
    return NULL;
}

int graph_find_node(const Graph *g, const char *name)
{
    for (size_t i = 0; i < g->n_nodes; i++)
        if (streq(g->nodes[i].name, name))
            return (int)i;
    return -ENOENT;
}

int graph_add_node(Graph *g, const char *name, int kind)
{
    _cleanup_free_ char *copy = NULL;

    if (!name || !name[0])
        return -EINVAL;
    if (graph_find_node(g, name) >= 0)
        return -EEXIST;
    if (g->n_nodes >= GRAPH_MAX_NODES)
        return -E2BIG;

    if (g->n_nodes == g->cap_nodes) {
        size_t cap = g->cap_nodes ? g->cap_nodes * 2 : 8;
        GraphNode *nodes;

        if (cap > GRAPH_MAX_NODES)
            cap = GRAPH_MAX_NODES;
        nodes = reallocarray(g->nodes, cap, sizeof(GraphNode));
        if (!nodes)
            return -ENOMEM;
        g->nodes = nodes;
        g->cap_nodes = cap;
    }

    copy = strdup(name);
    if (!copy)
        return -ENOMEM;

    graph_reset_sort(g);
    g->nodes[g->n_nodes] = (GraphNode){
        .name = move_ptr(copy),
        .kind = kind,
        .layer = -1,
    };
    return (int)g->n_nodes++;
}

int graph_add_edge(Graph *g, const char *waiter, const char *waited_on, GraphCondition cond,
                   PdError *reterr)
{
    GraphNode *w;
    GraphEdge *edges;
    int a, b;

    if ((int)cond < 0 || (int)cond >= _GRAPH_CONDITION_MAX)
        return pd_error_set(reterr, -EINVAL, "invalid dependency condition %d", (int)cond);

    a = graph_find_node(g, waiter);
    if (a < 0)
        return pd_error_set(reterr, -ENOENT,
                            "dangling reference: '%s', which waits for '%s', is not a container "
                            "of this pod",
                            waiter, waited_on);
    b = graph_find_node(g, waited_on);
    if (b < 0)
        return pd_error_set(reterr, -ENOENT,
                            "dangling reference: '%s' waits for '%s', which is not a container "
                            "of this pod",
                            waiter, waited_on);

    graph_reset_sort(g);
    w = &g->nodes[a];
    for (size_t i = 0; i < w->n_edges; i++)
        if (w->edges[i].waited_on == (size_t)b) {
            if (cond > w->edges[i].condition)
                w->edges[i].condition = cond;
            return 0;
        }

    edges = reallocarray(w->edges, w->n_edges + 1, sizeof(GraphEdge));
    if (!edges)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    w->edges = edges;
    w->edges[w->n_edges++] = (GraphEdge){.waited_on = (size_t)b, .condition = cond};
    return 0;
}

/*
 * Called when some nodes could not be placed: each of them waits for at
 * least one other unplaced node, so following edges among them always
 * closes a loop. Picks the earliest-inserted unplaced node that lies on a
 * cycle and the shortest cycle through it (breadth first, edges in
 * insertion order), and stores it in g->cycle.
 */
static int graph_find_cycle(Graph *g)
{
    size_t queue[GRAPH_MAX_NODES], parent[GRAPH_MAX_NODES];
    bool seen[GRAPH_MAX_NODES];

    for (size_t start = 0; start < g->n_nodes; start++) {
        size_t head = 0, tail = 0;

        if (g->nodes[start].layer >= 0)
            continue;

        memset(seen, 0, sizeof(seen));
        queue[tail++] = start;
        seen[start] = true;
        while (head < tail) {
            size_t u = queue[head++];
            const GraphNode *n = &g->nodes[u];

            for (size_t i = 0; i < n->n_edges; i++) {
                size_t v = n->edges[i].waited_on, len = 1;

                if (g->nodes[v].layer >= 0)
                    continue;
                if (v == start) {
                    /* u closes the loop: walk parents back to start. */
                    for (size_t x = u; x != start; x = parent[x])
                        len++;
                    g->cycle = reallocarray(NULL, len, sizeof(size_t));
                    if (!g->cycle)
                        return -ENOMEM;
                    g->n_cycle = len;
                    for (size_t x = u, k = len - 1; k > 0; x = parent[x], k--)
                        g->cycle[k] = x;
                    g->cycle[0] = start;
                    return 0;
                }
                if (seen[v])
                    continue;
                seen[v] = true;
                parent[v] = u;
                queue[tail++] = v;
            }
        }
    }

    /* Unreachable when some node is unplaced. */
    return -EINVAL;
}

/* Spells the stored cycle out into reterr; a cycle too long for the message ends in "...". */
static int graph_cycle_error(const Graph *g, PdError *reterr)
{
    char buf[PD_ERROR_MESSAGE_MAX];
    size_t len = 0;

    for (size_t i = 0; i <= g->n_cycle; i++) {
        const char *name = g->nodes[g->cycle[i % g->n_cycle]].name;
        int n;

        n = snprintf(buf + len, sizeof(buf) - len, "%s%s",
                     i > 0 ? " -> " : "dependency cycle: ", name);
        if (n < 0 || (size_t)n >= sizeof(buf) - len) {
            memcpy(buf + sizeof(buf) - 4, "...", 4);
            break;
        }
        len += (size_t)n;
    }
    return pd_error_set(reterr, -ELOOP, "%s", buf);
}

int graph_sort(Graph *g, PdError *reterr)
{
    size_t placed = 0;
    int r;

    graph_reset_sort(g);
    if (g->n_nodes == 0) {
        g->sorted = true;
        return 0;
    }

    g->start = reallocarray(NULL, g->n_nodes, sizeof(size_t));
    g->stop = reallocarray(NULL, g->n_nodes, sizeof(size_t));
    g->layer_offsets = reallocarray(NULL, g->n_nodes + 1, sizeof(size_t));
    if (!g->start || !g->stop || !g->layer_offsets) {
        graph_reset_sort(g);
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    }

    /*
     * Kahn by levels: layer L takes every unplaced node whose dependencies
     * all sit in layers < L. Nodes placed during this pass have layer L,
     * so they do not count yet.
     */
    for (int layer = 0; placed < g->n_nodes; layer++) {
        size_t before = placed;

        for (size_t i = 0; i < g->n_nodes; i++) {
            GraphNode *n = &g->nodes[i];
            bool ready = n->layer < 0;

            for (size_t e = 0; ready && e < n->n_edges; e++) {
                int l = g->nodes[n->edges[e].waited_on].layer;

                ready = l >= 0 && l < layer;
            }
            if (!ready)
                continue;
            n->layer = layer;
            g->start[placed++] = i;
        }
        if (placed == before)
            break;
        g->layer_offsets[g->n_layers++] = before;
    }
    g->layer_offsets[g->n_layers] = placed;

    if (placed < g->n_nodes) {
        r = graph_find_cycle(g);
        if (r < 0) {
            graph_reset_sort(g);
            return pd_error_set(reterr, r, "dependency cycle");
        }
        r = graph_cycle_error(g, reterr);
        /* Keep only the cycle: the partial layering means nothing. */
        graph_drop_layers(g);
        return r;
    }

    for (size_t l = 0, k = 0; l < g->n_layers; l++) {
        size_t from = g->layer_offsets[g->n_layers - 1 - l];
        size_t to = g->layer_offsets[g->n_layers - l];

        for (size_t i = from; i < to; i++)
            g->stop[k++] = g->start[i];
    }
    g->sorted = true;
    return 0;
}

size_t graph_node_count(const Graph *g)
{
    return g->n_nodes;
}

const char *graph_node_name(const Graph *g, size_t node)
{
    assert(node < g->n_nodes);
    return g->nodes[node].name;
}

int graph_node_kind(const Graph *g, size_t node)
{
    assert(node < g->n_nodes);
    return g->nodes[node].kind;
}

const GraphEdge *graph_node_edges(const Graph *g, size_t node, size_t *ret_n)
{
    assert(node < g->n_nodes);
    *ret_n = g->nodes[node].n_edges;
    return g->nodes[node].edges;
}

int graph_node_layer(const Graph *g, size_t node)
{
    assert(node < g->n_nodes);
    if (!g->sorted)
        return -ESTALE;
    return g->nodes[node].layer;
}

size_t graph_layer_count(const Graph *g)
{
    return g->sorted ? g->n_layers : 0;
}

const size_t *graph_layer_nodes(const Graph *g, size_t layer, size_t *ret_n)
{
    assert(g->sorted && layer < g->n_layers);
    *ret_n = g->layer_offsets[layer + 1] - g->layer_offsets[layer];
    return g->start + g->layer_offsets[layer];
}

const size_t *graph_start_order(const Graph *g, size_t *ret_n)
{
    *ret_n = g->sorted ? g->n_nodes : 0;
    return g->sorted ? g->start : NULL;
}

const size_t *graph_stop_order(const Graph *g, size_t *ret_n)
{
    *ret_n = g->sorted ? g->n_nodes : 0;
    return g->sorted ? g->stop : NULL;
}

const size_t *graph_cycle(const Graph *g, size_t *ret_n)
{
    *ret_n = g->n_cycle;
    return g->cycle;
}
