/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdio.h>

#include "podctl.h"
#include "reconcile/reconcile.h"

static void validate_usage(FILE *f)
{
    fputs("Usage: podctl validate [-o text|json] PATH...\n"
          "\n"
          "Checks Pod manifests without running anything. PATH is a file, a directory\n"
          "(its *.yaml, *.yml and *.json files) or - for standard input.\n"
          "\n"
          "Options:\n"
          "  -f, --filename PATH   one more PATH, as kubectl spells it (may repeat)\n"
          "  -o, --output FORMAT   text (default) or json\n"
          "  -h, --help            show this help\n"
          "\n"
          "Exit status: 0 when every document is a valid Pod, 1 otherwise, 2 on usage errors.\n",
          f);
}

static json_t *diag_to_json(const Diag *d)
{
    return json_pack("{s:s,s:i,s:i,s:s,s:s}", "level", d->level == DIAG_ERROR ? "error" : "warning",
                     "line", (int)d->line, "column", (int)d->column, "path", d->path ? d->path : "",
                     "message", d->message);
}

/* Graph problems (cycles) become one more error diagnostic of the document. */
static int check_graph(ManifestDoc *d)
{
    _cleanup_(graph_freep) Graph *g = NULL;
    PdError e = {0};
    Diag *nd;

    if (!d->pod || reconcile_pod_graph(d->pod, &g, &e) >= 0)
        return 0;
    nd = reallocarray(d->diags.items, d->diags.n + 1, sizeof(Diag));
    if (!nd)
        return -ENOMEM;
    d->diags.items = nd;
    nd[d->diags.n] = (Diag){.level = DIAG_ERROR,
                            .line = e.line ? e.line : d->pos.line,
                            .column = e.line ? e.column : d->pos.column,
                            .path = strdup("metadata.annotations"),
                            .message = strdup(e.message)};
    if (!nd[d->diags.n].path || !nd[d->diags.n].message) {
        free(nd[d->diags.n].path);
        free(nd[d->diags.n].message);
        return -ENOMEM;
    }
    d->diags.n++;
    d->diags.n_errors++;
    d->pod = pod_free(d->pod);
    return 0;
}

static json_t *file_to_json(const char *path, const ManifestFile *f, const PdError *e)
{
    json_t *o = json_pack("{s:s,s:b}", "file", path, "valid", f && manifest_file_ok(f));
    json_t *docs = json_array();

    if (!o || !docs || json_object_set_new(o, "documents", docs) < 0) {
        json_decref(o);
        return NULL;
    }
    if (!f) {
        json_t *err = json_pack("{s:i,s:i,s:s}", "line", (int)e->line, "column", (int)e->column,
                                "message", e->message);

        if (json_object_set_new(o, "error", err) < 0) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    for (size_t i = 0; i < f->n_docs; i++) {
        const ManifestDoc *d = &f->docs[i];
        json_t *dj = json_pack("{s:i,s:i,s:b,s:s?}", "index", (int)d->index, "line",
                               (int)d->pos.line, "valid", d->pod != NULL, "name", d->name);
        json_t *diags = json_array();

        if (!dj || !diags || json_object_set_new(dj, "diagnostics", diags) < 0 ||
            json_array_append_new(docs, dj) < 0) {
            json_decref(dj);
            json_decref(o);
            return NULL;
        }
        for (size_t j = 0; j < d->diags.n; j++)
            if (json_array_append_new(diags, diag_to_json(&d->diags.items[j])) < 0) {
                json_decref(o);
                return NULL;
            }
    }
    return o;
}

int cmd_validate(int argc, char *argv[])
{
    static const struct option options[] = {
        {"filename", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {},
    };
    _cleanup_(strv_freep) char **args = NULL, **paths = NULL;
    _cleanup_json_ json_t *out = NULL;
    bool json = false, all_ok = true;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:h", options, NULL)) >= 0)
        switch (c) {
        case 'f':
            if (strv_extend(&args, optarg) < 0)
                return PODCTL_EXIT_FAILURE;
            break;
        case 'o':
            if (streq(optarg, "json"))
                json = true;
            else if (!streq(optarg, "text")) {
                fprintf(stderr, "podctl validate: unknown output format '%s' (text, json)\n",
                        optarg);
                return PODCTL_EXIT_USAGE;
            }
            break;
        case 'h':
            validate_usage(stdout);
            return PODCTL_EXIT_OK;
        default:
            validate_usage(stderr);
            return PODCTL_EXIT_USAGE;
        }
    for (int i = optind; i < argc; i++)
        if (strv_extend(&args, argv[i]) < 0)
            return PODCTL_EXIT_FAILURE;
    if (!args) {
        fprintf(stderr, "podctl validate: no manifest given (podctl validate PATH...)\n");
        validate_usage(stderr);
        return PODCTL_EXIT_USAGE;
    }
    if (podctl_expand_paths(args, &paths) < 0)
        return PODCTL_EXIT_FAILURE;
    if (!paths[0]) {
        fprintf(stderr, "podctl validate: no manifest (*.yaml, *.yml, *.json) found\n");
        return PODCTL_EXIT_FAILURE;
    }
    out = json_array();
    if (!out)
        return PODCTL_EXIT_FAILURE;

    for (size_t i = 0; paths[i]; i++) {
        _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
        const char *shown = streq(paths[i], "-") ? "<stdin>" : paths[i];
        PdError e = {0};

        if (podctl_load_manifest(paths[i], &f, &e) < 0) {
            all_ok = false;
            if (!json)
                podctl_print_error(&e);
        } else {
            for (size_t j = 0; j < f->n_docs; j++)
                if (check_graph(&f->docs[j]) < 0)
                    return PODCTL_EXIT_FAILURE;
            if (!manifest_file_ok(f))
                all_ok = false;
            if (!json) {
                podctl_print_diags(f);
                for (size_t j = 0; j < f->n_docs; j++)
                    if (f->docs[j].pod)
                        printf("%s: pod/%s valid\n", shown, f->docs[j].pod->name);
            }
        }
        if (json && json_array_append_new(out, file_to_json(shown, f, &e)) < 0)
            return PODCTL_EXIT_FAILURE;
    }
    if (json) {
        _cleanup_json_ json_t *report = json_pack("{s:b,s:O}", "valid", all_ok, "files", out);
        _cleanup_free_ char *s = report ? json_dumps(report, JSON_INDENT(2)) : NULL;

        if (!s)
            return PODCTL_EXIT_FAILURE;
        printf("%s\n", s);
    }
    return all_ok ? PODCTL_EXIT_OK : PODCTL_EXIT_FAILURE;
}
