/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdio.h>

#include "podctl.h"

typedef enum GetOutput {
    GET_OUTPUT_TABLE,
    GET_OUTPUT_WIDE,
    GET_OUTPUT_JSON,
    GET_OUTPUT_YAML,
    GET_OUTPUT_NAME,
    _GET_OUTPUT_MAX,
    _GET_OUTPUT_INVALID = -EINVAL,
} GetOutput;

DEFINE_PRIVATE_STRING_TABLE(
    get_output, GetOutput,
    _GET_OUTPUT_MAX, [GET_OUTPUT_TABLE] = "table", [GET_OUTPUT_WIDE] = "wide",
    [GET_OUTPUT_JSON] = "json", [GET_OUTPUT_YAML] = "yaml", [GET_OUTPUT_NAME] = "name")
DEFINE_PRIVATE_STRING_TABLE_FROM(get_output, GetOutput, _GET_OUTPUT_MAX, _GET_OUTPUT_INVALID)

static void get_usage(FILE *f)
{
    fputs("Usage: podctl get pods [NAME...] [-o wide|json|yaml|name]\n"
          "\n"
          "Lists the pods podd runs (or the named ones) with kubectl's columns: NAME, READY,\n"
          "STATUS, RESTARTS, AGE. 'pod' and 'po' work as well as 'pods'.\n"
          "\n"
          "Options:\n"
          "  -o, --output FORMAT   wide (adds IP, RUNTIME and SOURCE), json or yaml (the\n"
          "                        Kubernetes v1 Pod objects), name (pod/NAME)\n"
          "  -h, --help            show this help\n"
          "\n"
          "Exit status: 0 on success, 1 when podd cannot be reached or a pod does not exist,\n"
          "2 on usage errors.\n",
          f);
}

static const char *annotation(const json_t *pod, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(pod, "metadata"), "annotations"), key));
}

#define GET_COLUMNS_MAX 8

typedef struct Row {
    const char *cell[GET_COLUMNS_MAX];
} Row;

static void print_table(const json_t *pods, bool wide)
{
    static const char *const header[] = {"NAME", "READY", "STATUS",  "RESTARTS",
                                         "AGE",  "IP",    "RUNTIME", "SOURCE"};
    size_t n_cols = wide ? 8 : 5, n = json_array_size(pods), width[GET_COLUMNS_MAX] = {0};
    _cleanup_free_ PodSummary *sums = calloc(n ? n : 1, sizeof(PodSummary));
    _cleanup_free_ Row *rows = calloc(n + 1, sizeof(Row));
    bool color = podctl_use_color(STDOUT_FILENO);

    if (!sums || !rows)
        return;
    for (size_t c = 0; c < n_cols; c++)
        rows[0].cell[c] = header[c];
    for (size_t i = 0; i < n; i++) {
        const json_t *pod = json_array_get(pods, i);
        const char *ip =
            json_string_value(json_object_get(json_object_get(pod, "status"), "podIP"));
        Row *r = &rows[i + 1];

        if (podctl_pod_summary(pod, &sums[i]) < 0)
            (void)snprintf(sums[i].name, sizeof(sums[i].name), "<invalid>");
        r->cell[0] = sums[i].name;
        r->cell[1] = sums[i].ready;
        r->cell[2] = sums[i].status;
        r->cell[3] = sums[i].restarts;
        r->cell[4] = sums[i].age;
        r->cell[5] = ip && *ip ? ip : "<none>";
        r->cell[6] = annotation(pod, "podd.io/runtime") ?: "native";
        r->cell[7] = annotation(pod, "podd.io/source") ?: "<none>";
    }
    for (size_t i = 0; i <= n; i++)
        for (size_t c = 0; c < n_cols; c++)
            if (strlen(rows[i].cell[c]) > width[c])
                width[c] = strlen(rows[i].cell[c]);
    for (size_t i = 0; i <= n; i++) {
        for (size_t c = 0; c < n_cols; c++) {
            const char *cell = rows[i].cell[c];
            bool last = c + 1 == n_cols;
            int pad = last ? 0 : (int)(width[c] - strlen(cell) + 3);

            if (color && i > 0 && c == 2)
                printf("%s%s\033[0m%*s", podctl_status_color(cell), cell, pad, "");
            else
                printf("%s%*s", cell, pad, "");
        }
        putchar('\n');
    }
}

static json_t *pod_list(json_t *items)
{
    return json_pack("{s:s,s:O,s:s,s:{s:s}}", "apiVersion", "v1", "items", items, "kind", "List",
                     "metadata", "resourceVersion", "");
}

static int print_pods(json_t *pods, GetOutput output, bool single)
{
    _cleanup_json_ json_t *doc = NULL;
    _cleanup_free_ char *s = NULL;
    const json_t *pod;
    size_t i;

    switch (output) {
    case GET_OUTPUT_TABLE:
    case GET_OUTPUT_WIDE:
        if (json_array_size(pods) == 0) {
            fprintf(stderr, "No resources found.\n");
            return 0;
        }
        print_table(pods, output == GET_OUTPUT_WIDE);
        return 0;
    case GET_OUTPUT_NAME:
        for (i = 0; i < json_array_size(pods) && (pod = json_array_get(pods, i)); i++)
            printf("pod/%s\n",
                   json_string_value(json_object_get(json_object_get(pod, "metadata"), "name"))
                       ?: "");
        return 0;
    case GET_OUTPUT_JSON:
    case GET_OUTPUT_YAML:
        doc = single ? json_incref(json_array_get(pods, 0)) : pod_list(pods);
        if (!doc)
            return -ENOMEM;
        if (output == GET_OUTPUT_YAML) {
            podctl_print_yaml(stdout, doc);
            return 0;
        }
        s = json_dumps(doc, JSON_INDENT(4));
        if (!s)
            return -ENOMEM;
        printf("%s\n", s);
        return 0;
    default:
        return -EINVAL;
    }
}

int cmd_get(int argc, char *argv[])
{
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {"socket", required_argument, NULL, 'S'},
        {},
    };
    _cleanup_json_ json_t *pods = NULL;
    GetOutput output = GET_OUTPUT_TABLE;
    const char *resource;
    bool failed = false;
    int c, n_names;

    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) >= 0)
        switch (c) {
        case 'o':
            output = get_output_from_string(optarg);
            if (output < 0 || output == GET_OUTPUT_TABLE) {
                fprintf(stderr, "podctl get: unknown output format '%s' (wide, json, yaml, name)\n",
                        optarg);
                return PODCTL_EXIT_USAGE;
            }
            break;
        case 'S':
            podctl_set_socket_path(optarg);
            break;
        case 'h':
            get_usage(stdout);
            return PODCTL_EXIT_OK;
        default:
            get_usage(stderr);
            return PODCTL_EXIT_USAGE;
        }
    if (optind >= argc) {
        fprintf(stderr, "podctl get: what to get? (podctl get pods)\n");
        get_usage(stderr);
        return PODCTL_EXIT_USAGE;
    }
    resource = argv[optind++];
    if (!streq(resource, "pods") && !streq(resource, "pod") && !streq(resource, "po")) {
        fprintf(stderr, "podctl get: unknown resource type '%s' (podd serves pods)\n", resource);
        return PODCTL_EXIT_USAGE;
    }
    n_names = argc - optind;
    for (int i = optind; i < argc; i++)
        if (!dns_label_is_valid(argv[i])) {
            fprintf(stderr, "podctl get: invalid pod name '%s' (a DNS-1123 label)\n", argv[i]);
            return PODCTL_EXIT_USAGE;
        }

    if (n_names == 0) {
        if (podctl_call(json_pack("{s:s}", "op", "get_pods"), &pods) < 0)
            return PODCTL_EXIT_FAILURE;
        if (!json_is_array(pods)) {
            fprintf(stderr, "podctl: podd sent a pod list that is not an array\n");
            return PODCTL_EXIT_FAILURE;
        }
    } else {
        pods = json_array();
        if (!pods)
            return PODCTL_EXIT_FAILURE;
        for (int i = optind; i < argc; i++) {
            json_t *pod = NULL;

            if (podctl_call(json_pack("{s:s,s:s}", "op", "get_pod", "name", argv[i]), &pod) < 0) {
                failed = true;
                continue;
            }
            if (json_array_append_new(pods, pod) < 0)
                return PODCTL_EXIT_FAILURE;
        }
        if (json_array_size(pods) == 0)
            return PODCTL_EXIT_FAILURE;
    }
    if (print_pods(pods, output, n_names == 1) < 0)
        return PODCTL_EXIT_FAILURE;
    return failed ? PODCTL_EXIT_FAILURE : PODCTL_EXIT_OK;
}
