/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the manifest parser: bytes -> manifest_parse_buffer() ->
 * every valid Pod through pod_to_json() and reconcile_pod_graph(). Every
 * result is freed, so that LeakSanitizer sees anything the parser loses.
 * Never prints: libFuzzer owns stdout and stderr.
 *
 * The input is always parsed as YAML. It is parsed as JSON as well when it
 * starts with '{' or when the low bit of its last byte is set (which holds
 * for a JSON text ending in '}' and not for a YAML file ending in '\n'), so
 * the fuzzer can steer between both paths with one byte.
 */
#include <assert.h>
#include <jansson.h>

#include "fuzz.h"
#include "manifest/manifest.h"
#include "reconcile/reconcile.h"

static void fuzz_graph(const Graph *g)
{
    const size_t *order;
    size_t n;

    for (size_t i = 0; i < graph_node_count(g); i++) {
        (void)graph_node_name(g, i);
        (void)graph_node_edges(g, i, &n);
        (void)graph_node_layer(g, i);
    }
    for (size_t l = 0; l < graph_layer_count(g); l++)
        (void)graph_layer_nodes(g, l, &n);
    order = graph_start_order(g, &n);
    assert(!order == !n);
    order = graph_stop_order(g, &n);
    assert(!order == !n);
}

static void fuzz_pod(const char *name, const Pod *pod)
{
    _cleanup_(graph_freep) Graph *g = NULL;
    _cleanup_free_ char *dump = NULL;
    _cleanup_json_ json_t *j = NULL;
    PdError err = {0};
    char msg[PD_ERROR_MESSAGE_MAX + PD_ERROR_FILE_MAX + 64];

    /* NULL only on ENOMEM, which libFuzzer's -rss_limit_mb turns into its own report. */
    j = pod_to_json(pod);
    if (j)
        dump = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

    if (reconcile_pod_graph(pod, &g, &err) >= 0)
        fuzz_graph(g);
    else {
        pd_error_set_file(&err, name);
        pd_error_format(&err, msg, sizeof(msg));
    }
}

static void fuzz_one(const char *name, const uint8_t *data, size_t size, ManifestFormat format)
{
    _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
    PdError err = {0};
    char msg[PD_ERROR_MESSAGE_MAX + PD_ERROR_FILE_MAX + 64];

    if (manifest_parse_buffer(name, (const char *)data, size, format, &f, &err) < 0) {
        pd_error_format(&err, msg, sizeof(msg));
        return;
    }
    assert(f);
    (void)manifest_file_ok(f);
    for (size_t i = 0; i < f->n_docs; i++) {
        const ManifestDoc *d = &f->docs[i];

        for (size_t k = 0; k < d->diags.n; k++)
            free(diag_format(&d->diags.items[k], name));
        if (d->pod)
            fuzz_pod(name, d->pod);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_one("fuzz.yaml", data, size, MANIFEST_FORMAT_YAML);
    if (size > 0 && (data[0] == '{' || (data[size - 1] & 1)))
        fuzz_one("fuzz.json", data, size, MANIFEST_FORMAT_JSON);
    return 0;
}
