/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdio.h>

#include "podctl.h"
#include "reconcile/reconcile.h"

typedef enum GraphOutput {
    GRAPH_OUTPUT_TEXT,
    GRAPH_OUTPUT_DOT,
    _GRAPH_OUTPUT_MAX,
    _GRAPH_OUTPUT_INVALID = -EINVAL,
} GraphOutput;

DEFINE_PRIVATE_STRING_TABLE(
    graph_output, GraphOutput,
    _GRAPH_OUTPUT_MAX, [GRAPH_OUTPUT_TEXT] = "text", [GRAPH_OUTPUT_DOT] = "dot")
DEFINE_PRIVATE_STRING_TABLE_FROM(graph_output, GraphOutput, _GRAPH_OUTPUT_MAX,
                                 _GRAPH_OUTPUT_INVALID)

static void graph_usage(FILE *f)
{
    fputs("Usage: podctl graph -f FILE [-o text|dot]\n"
          "\n"
          "Prints the order in which podd starts and stops the containers of each pod\n"
          "in FILE: init containers and sidecars in sequence, then the regular\n"
          "containers, as podd.io/depends-on annotations refine it. Containers under\n"
          "one number start together.\n"
          "\n"
          "Options:\n"
          "  -f, --filename FILE    manifest to read, a directory of manifests, or - for\n"
          "                         standard input (may be repeated)\n"
          "  -o, --output FORMAT    text (the default) or dot, for Graphviz:\n"
          "                         podctl graph -f pod.yaml -o dot | dot -Tsvg > pod.svg\n"
          "  -h, --help             show this help\n"
          "\n"
          "Exit status: 0 success, 1 invalid manifest or dependency cycle, 2 usage error.\n",
          f);
}

static int graph_usage_error(const char *fmt, ...) _printf_(1, 2);
static int graph_usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("podctl graph: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    graph_usage(stderr);
    return PODCTL_EXIT_USAGE;
}

static const char *graph_kind_name(const Graph *g, size_t node)
{
    const char *s = container_kind_to_string((ContainerKind)graph_node_kind(g, node));

    return s ?: "container";
}

/* ---- text -------------------------------------------------------------------------- */

static void graph_print_text(FILE *out, const Pod *pod, const Graph *g)
{
    size_t n_layers = graph_layer_count(g), width = 0, digits = 1, n_stop;
    const size_t *stop;

    for (size_t i = 0; i < graph_node_count(g); i++) {
        size_t w = strlen(graph_node_name(g, i)) + strlen(graph_kind_name(g, i)) + 3;

        if (w > width)
            width = w;
    }
    for (size_t n = n_layers; n >= 10; n /= 10)
        digits++;

    fprintf(out, "pod/%s\n", pod->name);
    if (n_layers == 0) {
        fputs("  no containers\n", out);
        return;
    }

    fputs("  start order:\n", out);
    for (size_t l = 0; l < n_layers; l++) {
        size_t n;
        const size_t *nodes = graph_layer_nodes(g, l, &n);

        for (size_t i = 0; i < n; i++) {
            size_t n_edges;
            const GraphEdge *edges = graph_node_edges(g, nodes[i], &n_edges);
            int len;

            if (i == 0)
                fprintf(out, "    %*zu. ", (int)digits, l + 1);
            else
                fprintf(out, "    %*s  ", (int)digits, "");
            len =
                fprintf(out, "%s (%s)", graph_node_name(g, nodes[i]), graph_kind_name(g, nodes[i]));
            for (size_t e = 0; e < n_edges; e++) {
                if (e == 0)
                    fprintf(out, "%*s  waits for ", (int)(width - (size_t)(len > 0 ? len : 0)), "");
                else
                    fputs(", ", out);
                fprintf(out, "%s:%s", graph_node_name(g, edges[e].waited_on),
                        graph_condition_to_string(edges[e].condition));
            }
            fputs("\n", out);
        }
    }

    /* Layers in reverse, ';' between layers, ',' within one (they stop together). */
    fputs("  stop order: ", out);
    stop = graph_stop_order(g, &n_stop);
    for (size_t k = 0; k < n_stop; k++) {
        if (k > 0)
            fputs(graph_node_layer(g, stop[k]) == graph_node_layer(g, stop[k - 1]) ? ", " : "; ",
                  out);
        fputs(graph_node_name(g, stop[k]), out);
    }
    fputs("\n", out);
}

/* ---- dot ----------------------------------------------------------------------------- */

/* Writes s as a DOT double-quoted string. */
static void dot_quote(FILE *out, const char *prefix, const char *s)
{
    fputc('"', out);
    fputs(prefix, out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

static const char *dot_shape(int kind)
{
    switch (kind) {
    case CONTAINER_KIND_INIT:
        return "box";
    case CONTAINER_KIND_SIDECAR:
        return "hexagon";
    default:
        return "ellipse";
    }
}

static int graph_print_dot(FILE *out, const Pod *pod, const Graph *g)
{
    fputs("digraph ", out);
    dot_quote(out, "pod/", pod->name);
    fputs(" {\n", out);
    fputs("  rankdir=TB;\n", out);
    fputs("  node [fontname=\"sans-serif\"];\n", out);
    fputs("  edge [fontname=\"sans-serif\", fontsize=10];\n", out);

    for (size_t i = 0; i < graph_node_count(g); i++) {
        _cleanup_free_ char *label = NULL;

        label = strdup_printf("%s\n(%s)", graph_node_name(g, i), graph_kind_name(g, i));
        if (!label)
            return -ENOMEM;
        fputs("  ", out);
        dot_quote(out, "", graph_node_name(g, i));
        fprintf(out, " [shape=%s, label=", dot_shape(graph_node_kind(g, i)));
        dot_quote(out, "", label);
        fputs("];\n", out);
    }

    /* Edges point the way things happen: from the container waited on to its waiter. */
    for (size_t i = 0; i < graph_node_count(g); i++) {
        size_t n_edges;
        const GraphEdge *edges = graph_node_edges(g, i, &n_edges);

        for (size_t e = 0; e < n_edges; e++) {
            fputs("  ", out);
            dot_quote(out, "", graph_node_name(g, edges[e].waited_on));
            fputs(" -> ", out);
            dot_quote(out, "", graph_node_name(g, i));
            fprintf(out, " [label=\"%s\"];\n", graph_condition_to_string(edges[e].condition));
        }
    }

    for (size_t l = 0; l < graph_layer_count(g); l++) {
        size_t n;
        const size_t *nodes = graph_layer_nodes(g, l, &n);

        fputs("  { rank=same;", out);
        for (size_t i = 0; i < n; i++) {
            fputc(' ', out);
            dot_quote(out, "", graph_node_name(g, nodes[i]));
            fputc(';', out);
        }
        fputs(" }\n", out);
    }
    fputs("}\n", out);
    return 0;
}

/* ---- the command ------------------------------------------------------------------------ */

static void graph_print_pod_error(const ManifestFile *f, PdError *e)
{
    char buf[PD_ERROR_FILE_MAX + PD_ERROR_MESSAGE_MAX + 64];

    pd_error_set_file(e, f->name);
    pd_error_format(e, buf, sizeof(buf));
    fprintf(stderr, "%s\n", buf);
}

/* Prints the graph of every valid pod of path; returns true when all of them were fine. */
static bool graph_file(const char *path, GraphOutput output, size_t *n_printed)
{
    _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
    PdError e = {0};
    bool ok = true;
    int r;

    r = podctl_load_manifest(path, &f, &e);
    if (r < 0) {
        podctl_print_error(&e);
        return false;
    }
    podctl_print_diags(f);

    for (size_t i = 0; i < f->n_docs; i++) {
        const ManifestDoc *doc = &f->docs[i];
        _cleanup_(graph_freep) Graph *g = NULL;

        if (!doc->pod) {
            ok = false;
            continue;
        }

        e = (PdError){0};
        r = reconcile_pod_graph(doc->pod, &g, &e);
        if (r < 0) {
            graph_print_pod_error(f, &e);
            ok = false;
            continue;
        }

        if (output == GRAPH_OUTPUT_DOT) {
            if (graph_print_dot(stdout, doc->pod, g) < 0) {
                fputs("podctl graph: out of memory\n", stderr);
                ok = false;
            }
        } else {
            if (*n_printed > 0)
                fputs("\n", stdout);
            graph_print_text(stdout, doc->pod, g);
        }
        (*n_printed)++;
    }
    return ok;
}

int cmd_graph(int argc, char *argv[])
{
    static const struct option options[] = {
        {"filename", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {},
    };
    _cleanup_(strv_freep) char **files = NULL, **paths = NULL;
    GraphOutput output = GRAPH_OUTPUT_TEXT;
    size_t n_printed = 0;
    bool ok = true;
    int c;

    /* 0, not 1: a full re-initialisation of getopt, which main() may have used. */
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:o:h", options, NULL)) >= 0) {
        switch (c) {
        case 'f':
            if (strv_extend(&files, optarg) < 0) {
                fputs("podctl graph: out of memory\n", stderr);
                return PODCTL_EXIT_FAILURE;
            }
            break;
        case 'o':
            output = graph_output_from_string(optarg);
            if (output < 0)
                return graph_usage_error("unknown output format '%s' (use text or dot)", optarg);
            break;
        case 'h':
            graph_usage(stdout);
            return PODCTL_EXIT_OK;
        case ':':
            return graph_usage_error("option '%s' requires an argument", argv[optind - 1]);
        default:
            if (optopt)
                return graph_usage_error("unknown option '-%c'", optopt);
            return graph_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return graph_usage_error("unexpected argument '%s'", argv[optind]);
    if (!files)
        return graph_usage_error("no manifest given: use -f FILE");

    if (podctl_expand_paths(files, &paths) < 0)
        return PODCTL_EXIT_FAILURE;

    for (size_t i = 0; paths && paths[i]; i++)
        if (!graph_file(paths[i], output, &n_printed))
            ok = false;

    if (fflush(stdout) != 0 || ferror(stdout)) {
        fputs("podctl graph: error writing to standard output\n", stderr);
        return PODCTL_EXIT_FAILURE;
    }
    return ok ? PODCTL_EXIT_OK : PODCTL_EXIT_FAILURE;
}
