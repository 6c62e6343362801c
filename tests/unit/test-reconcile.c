/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <stdio.h>

#include "reconcile/reconcile.h"

/* ---- building pods by hand --------------------------------------------------------- */

/*
 * A container spec: "kind:name" with kind one of init, sidecar, sidecar+probe
 * (a sidecar with a startupProbe) or regular.
 */
static void pod_add_container(Pod *pod, const char *spec, unsigned line)
{
    const char *colon = strchr(spec, ':');
    Container *c, **list;
    size_t *n;
    bool probe = false;
    ContainerKind kind;

    ck_assert_ptr_nonnull(colon);
    if (strneq(spec, "init:", 5))
        kind = CONTAINER_KIND_INIT;
    else if (strneq(spec, "sidecar:", 8))
        kind = CONTAINER_KIND_SIDECAR;
    else if (strneq(spec, "sidecar+probe:", 14)) {
        kind = CONTAINER_KIND_SIDECAR;
        probe = true;
    } else if (strneq(spec, "regular:", 8))
        kind = CONTAINER_KIND_REGULAR;
    else
        ck_abort_msg("bad container spec '%s'", spec);

    list = kind == CONTAINER_KIND_REGULAR ? &pod->containers : &pod->init_containers;
    n = kind == CONTAINER_KIND_REGULAR ? &pod->n_containers : &pod->n_init_containers;
    c = reallocarray(*list, *n + 1, sizeof(Container));
    ck_assert_ptr_nonnull(c);
    *list = c;
    c = &c[(*n)++];
    *c = (Container){
        .name = strdup(colon + 1),
        .image = strdup("busybox"),
        .kind = kind,
        .restart_policy_set = kind == CONTAINER_KIND_SIDECAR,
        .restart_policy = RESTART_POLICY_ALWAYS,
        .pos = {line, 7},
    };
    ck_assert_ptr_nonnull(c->name);
    if (probe) {
        c->startup_probe.action = PROBE_ACTION_EXEC;
        ck_assert_int_eq(strv_extend(&c->startup_probe.exec_command, "true"), 0);
    }
}

typedef struct DepSpec {
    const char *container, *on;
    DepCondition condition;
    unsigned line, column;
} DepSpec;

static void pod_add_dependency(Pod *pod, const DepSpec *s)
{
    Dependency *d;

    d = reallocarray(pod->dependencies, pod->n_dependencies + 1, sizeof(Dependency));
    ck_assert_ptr_nonnull(d);
    pod->dependencies = d;
    pod->dependencies[pod->n_dependencies++] = (Dependency){
        .container = strdup(s->container),
        .on = strdup(s->on),
        .condition = s->condition,
        .pos = {s->line, s->column},
    };
}

static Pod *pod_build(const char *const *containers, const DepSpec *deps)
{
    Pod *pod = calloc(1, sizeof(Pod));

    ck_assert_ptr_nonnull(pod);
    pod->name = strdup("web");
    pod->namespace = strdup("default");
    for (size_t i = 0; containers[i]; i++)
        pod_add_container(pod, containers[i], 10 + (unsigned)i);
    for (; deps && deps->container; deps++)
        pod_add_dependency(pod, deps);
    return pod;
}

/* "a | b,c": layers separated by " | ", nodes by ",". */
static char *layers_to_string(const Graph *g)
{
    StrBuf b = {0};

    ck_assert_int_eq(strbuf_append(&b, "", 0), 0);
    for (size_t l = 0; l < graph_layer_count(g); l++) {
        size_t n;
        const size_t *nodes = graph_layer_nodes(g, l, &n);

        for (size_t i = 0; i < n; i++) {
            const char *sep = i > 0 ? "," : " | ";

            ck_assert_int_eq(
                strbuf_printf(&b, "%s%s", b.len > 0 ? sep : "", graph_node_name(g, nodes[i])), 0);
        }
    }
    return b.data;
}

/* "b->a:completed app->b:started": every edge, nodes in insertion order. */
static char *edges_to_string(const Graph *g)
{
    StrBuf b = {0};

    ck_assert_int_eq(strbuf_append(&b, "", 0), 0);
    for (size_t i = 0; i < graph_node_count(g); i++) {
        size_t n;
        const GraphEdge *edges = graph_node_edges(g, i, &n);

        for (size_t k = 0; k < n; k++)
            ck_assert_int_eq(strbuf_printf(&b, "%s%s->%s:%s", b.len > 0 ? " " : "",
                                           graph_node_name(g, i),
                                           graph_node_name(g, edges[k].waited_on),
                                           graph_condition_to_string(edges[k].condition)),
                             0);
    }
    return b.data;
}

/* ---- the table ------------------------------------------------------------------------- */

#define STARTED DEP_CONDITION_STARTED
#define READY DEP_CONDITION_READY
#define COMPLETED DEP_CONDITION_COMPLETED

typedef struct PodCase {
    const char *title;
    const char *containers[8]; /* NULL-terminated */
    DepSpec deps[8];           /* ends at container == NULL */
    int result;
    const char *layers; /* on success */
    const char *edges;  /* on success */
    const char *error;  /* on failure */
    unsigned line, column;
} PodCase;

static const PodCase pod_cases[] = {
    {
        .title = "no containers",
        .layers = "",
        .edges = "",
    },
    {
        .title = "regular containers start together",
        .containers = {"regular:app", "regular:worker", "regular:cache"},
        .layers = "app,worker,cache",
        .edges = "",
    },
    {
        .title = "plain init chain",
        .containers = {"init:fetch", "init:migrate", "init:warm", "regular:app", "regular:worker"},
        .layers = "fetch | migrate | warm | app,worker",
        .edges = "migrate->fetch:completed warm->migrate:completed app->warm:completed "
                 "worker->warm:completed",
    },
    {
        .title = "init containers only",
        .containers = {"init:one", "init:two"},
        .layers = "one | two",
        .edges = "two->one:completed",
    },
    {
        .title = "sidecar without startupProbe is waited for to start",
        .containers = {"init:setup", "sidecar:proxy", "regular:app", "regular:worker"},
        .layers = "setup | proxy | app,worker",
        .edges = "proxy->setup:completed app->proxy:started worker->proxy:started",
    },
    {
        .title = "sidecar with startupProbe is waited for to be ready",
        .containers = {"sidecar+probe:proxy", "init:migrate", "sidecar+probe:log", "regular:app"},
        .layers = "proxy | migrate | log | app",
        .edges = "migrate->proxy:ready log->migrate:completed app->log:ready",
    },
    {
        .title = "depends-on orders regular containers with its conditions",
        .containers = {"regular:web", "regular:api", "regular:db", "regular:cron"},
        .deps = {{"web", "api", READY, 30, 5},
                 {"api", "db", STARTED, 31, 5},
                 {"cron", "db", COMPLETED, 32, 5}},
        .layers = "db | api,cron | web",
        .edges = "web->api:ready api->db:started cron->db:completed",
    },
    {
        .title = "depends-on after the init chain",
        .containers = {"init:setup", "sidecar:proxy", "regular:app", "regular:db"},
        .deps = {{"app", "db", READY, 30, 5}},
        .layers = "setup | proxy | db | app",
        .edges = "proxy->setup:completed app->proxy:started app->db:ready db->proxy:started",
    },
    {
        .title = "regular container depending on an init container is redundant but allowed",
        .containers = {"init:a", "init:b", "regular:app"},
        .deps = {{"app", "a", COMPLETED, 30, 5}, {"app", "b", STARTED, 31, 5}},
        .layers = "a | b | app",
        .edges = "b->a:completed app->b:completed app->a:completed",
    },
    {
        .title = "cycle among regular containers",
        .containers = {"regular:a", "regular:b", "regular:c"},
        .deps = {{"b", "c", STARTED, 41, 9}, {"c", "a", READY, 42, 9}, {"a", "b", READY, 40, 9}},
        .result = -ELOOP,
        .error = "dependency cycle: a -> b -> c -> a",
        .line = 40,
        .column = 9,
    },
    {
        .title = "init container depending on a regular container is a cycle",
        .containers = {"init:setup", "sidecar:proxy", "regular:app"},
        .deps = {{"setup", "app", STARTED, 7, 3}},
        .result = -ELOOP,
        .error = "dependency cycle: setup -> app -> proxy -> setup",
        .line = 7,
        .column = 3,
    },
    {
        .title = "init container depending on a later init container is a cycle",
        .containers = {"init:a", "init:b", "init:c", "regular:app"},
        .deps = {{"b", "c", COMPLETED, 12, 4}},
        .result = -ELOOP,
        .error = "dependency cycle: b -> c -> b",
        .line = 12,
        .column = 4,
    },
    {
        .title = "container depending on itself",
        .containers = {"regular:app", "regular:db"},
        .deps = {{"app", "db", READY, 20, 5}, {"db", "db", READY, 21, 6}},
        .result = -ELOOP,
        .error = "dependency cycle: db -> db",
        .line = 21,
        .column = 6,
    },
    {
        .title = "depends-on naming no container",
        .containers = {"regular:app"},
        .deps = {{"app", "db", READY, 20, 5}},
        .result = -ENOENT,
        .error = "dangling reference: 'app' waits for 'db', which is not a container of this "
                 "pod",
        .line = 20,
        .column = 5,
    },
    {
        .title = "container name used twice",
        .containers = {"init:app", "regular:web", "regular:app"},
        .result = -EEXIST,
        .error = "container name 'app' is used more than once",
        .line = 12,
        .column = 7,
    },
};

START_TEST(test_pod_graph_table)
{
    const PodCase *t = &pod_cases[_i];
    _cleanup_(pod_freep) Pod *pod = pod_build(t->containers, t->deps);
    _cleanup_(graph_freep) Graph *g = NULL;
    PdError e = {0};
    int r;

    r = reconcile_pod_graph(pod, &g, &e);
    ck_assert_msg(r == t->result, "%s: reconcile_pod_graph() = %d, expected %d (%s)", t->title, r,
                  t->result, e.message);
    if (r == 0) {
        _cleanup_free_ char *layers = layers_to_string(g), *edges = edges_to_string(g);

        ck_assert_ptr_nonnull(g);
        ck_assert_msg(streq(layers, t->layers), "%s: layers '%s', expected '%s'", t->title, layers,
                      t->layers);
        ck_assert_msg(streq(edges, t->edges), "%s: edges '%s', expected '%s'", t->title, edges,
                      t->edges);
        POD_FOREACH_CONTAINER (pod, c, i) {
            ck_assert_str_eq(graph_node_name(g, i), c->name);
            ck_assert_int_eq(graph_node_kind(g, i), (int)c->kind);
        }
    } else {
        ck_assert_ptr_null(g);
        ck_assert_int_eq(e.code, t->result);
        ck_assert_msg(streq(e.message, t->error), "%s: error '%s', expected '%s'", t->title,
                      e.message, t->error);
        ck_assert_uint_eq(e.line, t->line);
        ck_assert_uint_eq(e.column, t->column);
    }
}
END_TEST

START_TEST(test_condition_mapping)
{
    ck_assert_int_eq(reconcile_graph_condition(DEP_CONDITION_STARTED), GRAPH_CONDITION_STARTED);
    ck_assert_int_eq(reconcile_graph_condition(DEP_CONDITION_READY), GRAPH_CONDITION_READY);
    ck_assert_int_eq(reconcile_graph_condition(DEP_CONDITION_COMPLETED), GRAPH_CONDITION_COMPLETED);
    ck_assert_int_eq(reconcile_graph_condition(_DEP_CONDITION_MAX), _GRAPH_CONDITION_INVALID);
    ck_assert_int_eq(reconcile_graph_condition(_DEP_CONDITION_INVALID), _GRAPH_CONDITION_INVALID);
    /* The strings agree too, so messages read the same from both modules. */
    for (int c = 0; c < _DEP_CONDITION_MAX; c++)
        ck_assert_str_eq(dep_condition_to_string((DepCondition)c),
                         graph_condition_to_string(reconcile_graph_condition((DepCondition)c)));
}
END_TEST

START_TEST(test_stop_order)
{
    static const char *const containers[] = {"init:setup", "sidecar:proxy", "regular:app",
                                             "regular:worker", NULL};
    _cleanup_(pod_freep) Pod *pod = pod_build(containers, NULL);
    _cleanup_(graph_freep) Graph *g = NULL;
    const size_t *stop;
    size_t n;

    ck_assert_int_eq(reconcile_pod_graph(pod, &g, NULL), 0);
    stop = graph_stop_order(g, &n);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(graph_node_name(g, stop[0]), "app");
    ck_assert_str_eq(graph_node_name(g, stop[1]), "worker");
    ck_assert_str_eq(graph_node_name(g, stop[2]), "proxy");
    ck_assert_str_eq(graph_node_name(g, stop[3]), "setup");
}
END_TEST

START_TEST(test_invalid_condition)
{
    static const char *const containers[] = {"regular:a", "regular:b", NULL};
    static const DepSpec deps[] = {{"a", "b", _DEP_CONDITION_MAX, 3, 4}, {}};
    _cleanup_(pod_freep) Pod *pod = pod_build(containers, deps);
    _cleanup_(graph_freep) Graph *g = NULL;
    PdError e = {0};

    ck_assert_int_eq(reconcile_pod_graph(pod, &g, &e), -EINVAL);
    ck_assert_ptr_null(g);
    ck_assert_uint_eq(e.line, 3);
}
END_TEST

static Suite *reconcile_suite(void)
{
    Suite *s = suite_create("reconcile");
    TCase *tc = tcase_create("graph");

    tcase_add_loop_test(tc, test_pod_graph_table, 0, (int)ELEMENTSOF(pod_cases));
    tcase_add_test(tc, test_condition_mapping);
    tcase_add_test(tc, test_stop_order);
    tcase_add_test(tc, test_invalid_condition);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(reconcile_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
