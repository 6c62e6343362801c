/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <stdio.h>

#include "graph/graph.h"

/* ---- helpers ------------------------------------------------------------------- */

/* "a | b,c | d": layers separated by " | ", nodes of a layer by ",". */
static char *layers_to_string(const Graph *g)
{
    StrBuf b = {0};

    ck_assert_int_eq(strbuf_append(&b, "", 0), 0);
    for (size_t l = 0; l < graph_layer_count(g); l++) {
        size_t n;
        const size_t *nodes = graph_layer_nodes(g, l, &n);

        ck_assert_uint_gt(n, 0);
        for (size_t i = 0; i < n; i++) {
            const char *sep = i > 0 ? "," : " | ";

            ck_assert_int_eq(
                strbuf_printf(&b, "%s%s", b.len > 0 ? sep : "", graph_node_name(g, nodes[i])), 0);
        }
    }
    return b.data;
}

/* Node names of an order, separated by spaces. */
static char *order_to_string(const Graph *g, const size_t *order, size_t n)
{
    StrBuf b = {0};

    ck_assert_int_eq(strbuf_append(&b, "", 0), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(strbuf_printf(&b, "%s%s", i > 0 ? " " : "", graph_node_name(g, order[i])),
                         0);
    return b.data;
}

/* "a | b,c" -> "a b c" */
static char *flatten(const char *layers)
{
    char *s = strdup(layers), *w = s;

    ck_assert_ptr_nonnull(s);
    for (const char *p = layers; *p; p++) {
        if (startswith(p, " | ")) {
            *w++ = ' ';
            p += 2;
        } else
            *w++ = *p == ',' ? ' ' : *p;
    }
    *w = 0;
    return s;
}

/* ---- table-driven sorting ---------------------------------------------------------- */

typedef struct EdgeSpec {
    const char *waiter, *waited_on;
    GraphCondition condition;
} EdgeSpec;

typedef struct SortCase {
    const char *title;
    const char *nodes[8]; /* NULL-terminated */
    EdgeSpec edges[8];    /* ends at waiter == NULL */
    int result;
    const char *layers; /* on success */
    const char *stop;   /* on success: the stop order */
    const char *error;  /* on failure */
} SortCase;

#define S GRAPH_CONDITION_STARTED
#define R GRAPH_CONDITION_READY
#define C GRAPH_CONDITION_COMPLETED

static const SortCase sort_cases[] = {
    {
        .title = "empty graph",
        .result = 0,
        .layers = "",
        .stop = "",
    },
    {
        .title = "one node",
        .nodes = {"a"},
        .result = 0,
        .layers = "a",
        .stop = "a",
    },
    {
        .title = "chain",
        .nodes = {"a", "b", "c"},
        .edges = {{"a", "b", S}, {"b", "c", C}},
        .result = 0,
        .layers = "c | b | a",
        .stop = "a b c",
    },
    {
        .title = "diamond",
        .nodes = {"top", "left", "right", "bottom"},
        .edges = {{"left", "top", C},
                  {"right", "top", R},
                  {"bottom", "left", S},
                  {"bottom", "right", S}},
        .result = 0,
        .layers = "top | left,right | bottom",
        .stop = "bottom left right top",
    },
    {
        .title = "independent nodes share one layer in insertion order",
        .nodes = {"c", "a", "b"},
        .result = 0,
        .layers = "c,a,b",
        .stop = "c a b",
    },
    {
        .title = "layer is the longest path, not the first edge",
        .nodes = {"a", "b", "c", "d"},
        .edges = {{"d", "a", S}, {"d", "c", S}, {"c", "b", S}, {"b", "a", S}},
        .result = 0,
        .layers = "a | b | c | d",
        .stop = "d c b a",
    },
    {
        .title = "two components interleave by layer",
        .nodes = {"x1", "y1", "x2", "y2", "z"},
        .edges = {{"x2", "x1", C}, {"y2", "y1", C}},
        .result = 0,
        .layers = "x1,y1,z | x2,y2",
        .stop = "x2 y2 x1 y1 z",
    },
    {
        .title = "duplicate edge is merged",
        .nodes = {"a", "b"},
        .edges = {{"a", "b", S}, {"a", "b", C}, {"a", "b", R}},
        .result = 0,
        .layers = "b | a",
        .stop = "a b",
    },
    {
        .title = "self-loop",
        .nodes = {"a", "b"},
        .edges = {{"b", "b", S}},
        .result = -ELOOP,
        .error = "dependency cycle: b -> b",
    },
    {
        .title = "2-cycle",
        .nodes = {"a", "b"},
        .edges = {{"a", "b", S}, {"b", "a", R}},
        .result = -ELOOP,
        .error = "dependency cycle: a -> b -> a",
    },
    {
        .title = "3-cycle",
        .nodes = {"a", "b", "c"},
        .edges = {{"a", "b", S}, {"b", "c", S}, {"c", "a", S}},
        .result = -ELOOP,
        .error = "dependency cycle: a -> b -> c -> a",
    },
    {
        .title = "cycle starts at its earliest-inserted node",
        .nodes = {"x", "b", "c", "a"},
        .edges = {{"x", "a", S}, {"c", "a", S}, {"a", "b", S}, {"b", "c", S}},
        .result = -ELOOP,
        .error = "dependency cycle: b -> c -> a -> b",
    },
    {
        .title = "of two cycles the one with the earliest node is reported",
        .nodes = {"p", "q", "r", "s"},
        .edges = {{"r", "s", S}, {"s", "r", S}, {"q", "p", S}, {"p", "q", S}},
        .result = -ELOOP,
        .error = "dependency cycle: p -> q -> p",
    },
    {
        .title = "shortest cycle through the first node",
        .nodes = {"a", "b", "c", "d"},
        .edges = {{"a", "b", S}, {"b", "c", S}, {"c", "a", S}, {"b", "a", S}, {"d", "a", S}},
        .result = -ELOOP,
        .error = "dependency cycle: a -> b -> a",
    },
};

START_TEST(test_sort_table)
{
    const SortCase *t = &sort_cases[_i];
    _cleanup_(graph_freep) Graph *g = NULL;
    PdError e = {0};
    size_t n_nodes = 0;
    int r;

    g = graph_new();
    ck_assert_ptr_nonnull(g);
    for (; t->nodes[n_nodes]; n_nodes++)
        ck_assert_int_eq(graph_add_node(g, t->nodes[n_nodes], (int)n_nodes * 10), (int)n_nodes);
    for (const EdgeSpec *es = t->edges; es->waiter; es++)
        ck_assert_int_eq(graph_add_edge(g, es->waiter, es->waited_on, es->condition, &e), 0);

    r = graph_sort(g, &e);
    ck_assert_msg(r == t->result, "%s: graph_sort() = %d, expected %d (%s)", t->title, r, t->result,
                  e.message);
    ck_assert_uint_eq(graph_node_count(g), n_nodes);

    if (r == 0) {
        _cleanup_free_ char *layers = layers_to_string(g), *stop = NULL, *start = NULL,
                            *flat = NULL;
        const size_t *order;
        size_t n;

        ck_assert_msg(streq(layers, t->layers), "%s: layers '%s', expected '%s'", t->title, layers,
                      t->layers);
        order = graph_stop_order(g, &n);
        ck_assert_uint_eq(n, n_nodes);
        stop = order_to_string(g, order, n);
        ck_assert_msg(streq(stop, t->stop), "%s: stop order '%s', expected '%s'", t->title, stop,
                      t->stop);

        /* Start order is the layers flattened; each node's dependencies come earlier. */
        order = graph_start_order(g, &n);
        ck_assert_uint_eq(n, n_nodes);
        start = order_to_string(g, order, n);
        ck_assert_str_eq(start, flat = flatten(t->layers));
        for (size_t i = 0; i < n_nodes; i++) {
            size_t n_edges;
            const GraphEdge *edges = graph_node_edges(g, i, &n_edges);

            ck_assert_int_eq(graph_node_kind(g, i), (int)i * 10);
            for (size_t k = 0; k < n_edges; k++)
                ck_assert_int_lt(graph_node_layer(g, edges[k].waited_on), graph_node_layer(g, i));
        }
        ck_assert_ptr_null(graph_cycle(g, &n));
        ck_assert_uint_eq(n, 0);
    } else {
        const size_t *cycle;
        size_t n;

        ck_assert_int_eq(e.code, t->result);
        ck_assert_msg(streq(e.message, t->error), "%s: error '%s', expected '%s'", t->title,
                      e.message, t->error);
        ck_assert_uint_eq(e.line, 0);
        cycle = graph_cycle(g, &n);
        ck_assert_ptr_nonnull(cycle);
        ck_assert_uint_gt(n, 0);
        ck_assert_uint_eq(graph_layer_count(g), 0);
        ck_assert_ptr_null(graph_start_order(g, &n));
        ck_assert_uint_eq(n, 0);
    }
}
END_TEST

/* ---- single cases ---------------------------------------------------------------------- */

START_TEST(test_condition_strings)
{
    static const struct {
        GraphCondition c;
        const char *s;
    } table[] = {
        {GRAPH_CONDITION_STARTED, "started"},
        {GRAPH_CONDITION_READY, "ready"},
        {GRAPH_CONDITION_COMPLETED, "completed"},
    };

    for (size_t i = 0; i < ELEMENTSOF(table); i++) {
        ck_assert_str_eq(graph_condition_to_string(table[i].c), table[i].s);
        ck_assert_int_eq(graph_condition_from_string(table[i].s), table[i].c);
    }
    ck_assert_int_eq(ELEMENTSOF(table), _GRAPH_CONDITION_MAX);
    ck_assert_ptr_null(graph_condition_to_string(_GRAPH_CONDITION_MAX));
    ck_assert_ptr_null(graph_condition_to_string(_GRAPH_CONDITION_INVALID));
    ck_assert_int_eq(graph_condition_from_string("Started"), _GRAPH_CONDITION_INVALID);
    ck_assert_int_eq(graph_condition_from_string(""), _GRAPH_CONDITION_INVALID);
    ck_assert_int_eq(graph_condition_from_string(NULL), _GRAPH_CONDITION_INVALID);
}
END_TEST

START_TEST(test_empty_graph)
{
    _cleanup_(graph_freep) Graph *g = graph_new();
    size_t n = 42;

    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(graph_node_count(g), 0);
    ck_assert_int_eq(graph_find_node(g, "a"), -ENOENT);
    ck_assert_int_eq(graph_sort(g, NULL), 0);
    ck_assert_uint_eq(graph_layer_count(g), 0);
    (void)graph_stop_order(g, &n);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(graph_free(NULL));
}
END_TEST

START_TEST(test_duplicate_node)
{
    _cleanup_(graph_freep) Graph *g = graph_new();

    ck_assert_int_eq(graph_add_node(g, "a", 1), 0);
    ck_assert_int_eq(graph_add_node(g, "b", 2), 1);
    ck_assert_int_eq(graph_add_node(g, "a", 3), -EEXIST);
    ck_assert_int_eq(graph_add_node(g, "", 3), -EINVAL);
    ck_assert_int_eq(graph_add_node(g, NULL, 3), -EINVAL);
    ck_assert_uint_eq(graph_node_count(g), 2);
    ck_assert_int_eq(graph_node_kind(g, 0), 1);
    ck_assert_int_eq(graph_find_node(g, "b"), 1);
}
END_TEST

START_TEST(test_dangling_reference)
{
    _cleanup_(graph_freep) Graph *g = graph_new();
    PdError e = {0};

    ck_assert_int_eq(graph_add_node(g, "app", 0), 0);
    ck_assert_int_eq(graph_add_edge(g, "app", "db", GRAPH_CONDITION_READY, &e), -ENOENT);
    ck_assert_int_eq(e.code, -ENOENT);
    ck_assert_str_eq(e.message,
                     "dangling reference: 'app' waits for 'db', which is not a container of "
                     "this pod");

    ck_assert_int_eq(graph_add_edge(g, "web", "app", GRAPH_CONDITION_READY, &e), -ENOENT);
    ck_assert_str_eq(e.message, "dangling reference: 'web', which waits for 'app', is not a "
                                "container of this pod");

    ck_assert_int_eq(graph_add_edge(g, "app", "app", _GRAPH_CONDITION_INVALID, NULL), -EINVAL);
    ck_assert_int_eq(graph_add_edge(g, "app", "app", _GRAPH_CONDITION_MAX, NULL), -EINVAL);
    ck_assert_int_eq(graph_sort(g, &e), 0);
}
END_TEST

START_TEST(test_edges)
{
    _cleanup_(graph_freep) Graph *g = graph_new();
    const GraphEdge *edges;
    size_t n;

    ck_assert_int_eq(graph_add_node(g, "a", 0), 0);
    ck_assert_int_eq(graph_add_node(g, "b", 0), 1);
    ck_assert_int_eq(graph_add_node(g, "c", 0), 2);
    ck_assert_int_eq(graph_add_edge(g, "a", "c", GRAPH_CONDITION_READY, NULL), 0);
    ck_assert_int_eq(graph_add_edge(g, "a", "b", GRAPH_CONDITION_COMPLETED, NULL), 0);
    /* Merged into the first edge, which keeps the stronger condition. */
    ck_assert_int_eq(graph_add_edge(g, "a", "c", GRAPH_CONDITION_STARTED, NULL), 0);
    ck_assert_int_eq(graph_add_edge(g, "a", "b", GRAPH_CONDITION_READY, NULL), 0);

    edges = graph_node_edges(g, 0, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(edges[0].waited_on, 2);
    ck_assert_int_eq(edges[0].condition, GRAPH_CONDITION_READY);
    ck_assert_uint_eq(edges[1].waited_on, 1);
    ck_assert_int_eq(edges[1].condition, GRAPH_CONDITION_COMPLETED);
    (void)graph_node_edges(g, 1, &n);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_modification_discards_sort)
{
    _cleanup_(graph_freep) Graph *g = graph_new();
    PdError e = {0};
    size_t n;

    ck_assert_int_eq(graph_add_node(g, "a", 0), 0);
    ck_assert_int_eq(graph_add_node(g, "b", 0), 1);
    ck_assert_int_eq(graph_sort(g, &e), 0);
    ck_assert_uint_eq(graph_layer_count(g), 1);
    ck_assert_int_eq(graph_node_layer(g, 1), 0);

    ck_assert_int_eq(graph_add_edge(g, "a", "b", GRAPH_CONDITION_STARTED, &e), 0);
    ck_assert_uint_eq(graph_layer_count(g), 0);
    ck_assert_int_eq(graph_node_layer(g, 0), -ESTALE);
    ck_assert_int_eq(graph_sort(g, &e), 0);
    ck_assert_uint_eq(graph_layer_count(g), 2);

    /* A failed sort can be repeated; adding anything forgets the cycle. */
    ck_assert_int_eq(graph_add_edge(g, "b", "a", GRAPH_CONDITION_STARTED, &e), 0);
    ck_assert_int_eq(graph_sort(g, &e), -ELOOP);
    ck_assert_int_eq(graph_sort(g, &e), -ELOOP);
    ck_assert_ptr_nonnull(graph_cycle(g, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(graph_add_node(g, "c", 0), 2);
    ck_assert_ptr_null(graph_cycle(g, &n));
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_stop_order_is_reverse)
{
    _cleanup_(graph_freep) Graph *g = graph_new();
    const size_t *start, *stop;
    size_t n_start, n_stop, n_layers;

    /* A chain of 10 plus a node beside each: layers of two. */
    for (int i = 0; i < 10; i++) {
        char name[16], other[16];

        (void)snprintf(name, sizeof(name), "c%d", i);
        (void)snprintf(other, sizeof(other), "o%d", i);
        ck_assert_int_eq(graph_add_node(g, name, 0), 2 * i);
        ck_assert_int_eq(graph_add_node(g, other, 0), 2 * i + 1);
        if (i > 0) {
            char prev[16];

            (void)snprintf(prev, sizeof(prev), "c%d", i - 1);
            ck_assert_int_eq(graph_add_edge(g, name, prev, GRAPH_CONDITION_STARTED, NULL), 0);
            ck_assert_int_eq(graph_add_edge(g, other, prev, GRAPH_CONDITION_READY, NULL), 0);
        }
    }
    ck_assert_int_eq(graph_sort(g, NULL), 0);
    n_layers = graph_layer_count(g);
    ck_assert_uint_eq(n_layers, 10);

    start = graph_start_order(g, &n_start);
    stop = graph_stop_order(g, &n_stop);
    ck_assert_uint_eq(n_start, 20);
    ck_assert_uint_eq(n_stop, 20);

    /* Layer by layer the stop order is the start order backwards. */
    for (size_t l = 0, k = 0; l < n_layers; l++) {
        size_t n;
        const size_t *nodes = graph_layer_nodes(g, n_layers - 1 - l, &n);

        ck_assert_uint_eq(n, 2);
        for (size_t i = 0; i < n; i++, k++)
            ck_assert_uint_eq(stop[k], nodes[i]);
    }
    for (size_t i = 0; i < n_stop; i++) {
        /* Every node stops before anything it waits for. */
        size_t n_edges;
        const GraphEdge *edges = graph_node_edges(g, stop[i], &n_edges);

        for (size_t e = 0; e < n_edges; e++)
            for (size_t j = 0; j < i; j++)
                ck_assert_uint_ne(stop[j], edges[e].waited_on);
    }
    ck_assert_str_eq(graph_node_name(g, start[0]), "c0");
    ck_assert_str_eq(graph_node_name(g, stop[0]), "c9");
    ck_assert_str_eq(graph_node_name(g, stop[19]), "o0");
}
END_TEST

START_TEST(test_node_cap)
{
    _cleanup_(graph_freep) Graph *g = graph_new();
    PdError e = {0};
    char name[16], prev[16];

    for (int i = 0; i < GRAPH_MAX_NODES; i++) {
        (void)snprintf(name, sizeof(name), "node-%03d", i);
        ck_assert_int_eq(graph_add_node(g, name, i), i);
        if (i > 0) {
            (void)snprintf(prev, sizeof(prev), "node-%03d", i - 1);
            ck_assert_int_eq(graph_add_edge(g, name, prev, GRAPH_CONDITION_COMPLETED, &e), 0);
        }
    }
    ck_assert_int_eq(graph_add_node(g, "one-too-many", 0), -E2BIG);
    ck_assert_int_eq(graph_add_node(g, "node-000", 0), -EEXIST);
    ck_assert_uint_eq(graph_node_count(g), GRAPH_MAX_NODES);

    ck_assert_int_eq(graph_sort(g, &e), 0);
    ck_assert_uint_eq(graph_layer_count(g), GRAPH_MAX_NODES);
    ck_assert_int_eq(graph_node_layer(g, GRAPH_MAX_NODES - 1), GRAPH_MAX_NODES - 1);

    /* The longest possible cycle: still spelled out, cut short to fit the message. */
    ck_assert_int_eq(graph_add_edge(g, "node-000", name, GRAPH_CONDITION_STARTED, &e), 0);
    ck_assert_int_eq(graph_sort(g, &e), -ELOOP);
    ck_assert(startswith(e.message, "dependency cycle: node-000 -> node-127 -> node-126 -> "));
    ck_assert(endswith(e.message, "..."));
    ck_assert_uint_lt(strlen(e.message), sizeof(e.message));
}
END_TEST

START_TEST(test_long_cycle_message_fits)
{
    _cleanup_(graph_freep) Graph *g = graph_new();
    PdError e = {0};
    const size_t *cycle;
    size_t n;

    /* Four nodes: the whole cycle fits, so no ellipsis. */
    ck_assert_int_eq(graph_add_node(g, "alpha", 0), 0);
    ck_assert_int_eq(graph_add_node(g, "beta", 0), 1);
    ck_assert_int_eq(graph_add_node(g, "gamma", 0), 2);
    ck_assert_int_eq(graph_add_node(g, "delta", 0), 3);
    ck_assert_int_eq(graph_add_edge(g, "delta", "alpha", GRAPH_CONDITION_STARTED, &e), 0);
    ck_assert_int_eq(graph_add_edge(g, "alpha", "gamma", GRAPH_CONDITION_STARTED, &e), 0);
    ck_assert_int_eq(graph_add_edge(g, "gamma", "delta", GRAPH_CONDITION_STARTED, &e), 0);
    ck_assert_int_eq(graph_add_edge(g, "beta", "alpha", GRAPH_CONDITION_STARTED, &e), 0);
    ck_assert_int_eq(graph_sort(g, &e), -ELOOP);
    ck_assert_str_eq(e.message, "dependency cycle: alpha -> gamma -> delta -> alpha");
    cycle = graph_cycle(g, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(cycle[0], 0);
    ck_assert_uint_eq(cycle[1], 2);
    ck_assert_uint_eq(cycle[2], 3);
}
END_TEST

static Suite *graph_suite(void)
{
    Suite *s = suite_create("graph");
    TCase *tc = tcase_create("graph");

    tcase_add_loop_test(tc, test_sort_table, 0, (int)ELEMENTSOF(sort_cases));
    tcase_add_test(tc, test_condition_strings);
    tcase_add_test(tc, test_empty_graph);
    tcase_add_test(tc, test_duplicate_node);
    tcase_add_test(tc, test_dangling_reference);
    tcase_add_test(tc, test_edges);
    tcase_add_test(tc, test_modification_discards_sort);
    tcase_add_test(tc, test_stop_order_is_reverse);
    tcase_add_test(tc, test_node_cap);
    tcase_add_test(tc, test_long_cycle_message_fits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(graph_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
