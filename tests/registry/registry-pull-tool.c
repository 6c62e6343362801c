/* SPDX-License-Identifier: Apache-2.0 */
/*
 * registry-pull-tool IMAGES-DIR REFERENCE [REGISTRIES-FILE [CREDENTIALS-FILE]]: runs
 * registry_pull() and prints the image as one JSON object, or the error on stderr with exit
 * status 1. Progress goes to stderr as "progress DONE TOTAL BLOBS_DONE N_BLOBS" lines. For
 * tests/registry/test_registry_pull.py.
 */
#include <stdio.h>

#include "registry/registry.h"

static void on_progress(const RegistryProgress *p, void *userdata)
{
    (void)userdata;
    fprintf(stderr, "progress %llu %llu %u %u\n", (unsigned long long)p->done,
            (unsigned long long)p->total, p->blobs_done, p->n_blobs);
}

int main(int argc, char **argv)
{
    _cleanup_(image_load_result_freep) ImageLoadResult *res = NULL;
    _cleanup_(registry_config_freep) RegistryConfig *config = NULL;
    _cleanup_(registry_credentials_freep) RegistryCredentials *creds = NULL;
    _cleanup_json_ json_t *out = NULL, *layers = NULL;
    RegistryPullOptions opts = {.progress = on_progress};
    ImageReference ref;
    PdError err = {};
    char msg[2048];

    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s IMAGES-DIR REFERENCE [REGISTRIES-FILE [CREDENTIALS-FILE]]\n",
                argv[0]);
        return 2;
    }
    if (registry_global_init() < 0)
        return 1;
    if (image_reference_parse(argv[2], &ref, &err) < 0 ||
        registry_config_load(argc > 3 ? argv[3] : "/nonexistent", &config, &err) < 0 ||
        registry_credentials_load(argc > 4 ? argv[4] : "/nonexistent", &creds, &err) < 0) {
        pd_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        return 1;
    }
    opts.config = config;
    opts.credentials = creds;
    if (registry_pull(argv[1], &ref, &opts, &res, &err) < 0) {
        pd_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "error %d: %s\n", err.code, msg);
        return 1;
    }
    layers = json_array();
    for (size_t i = 0; i < res->images[0].manifest->n_layers; i++)
        (void)json_array_append_new(layers, json_string(res->images[0].manifest->layers[i].digest));
    out = json_pack(
        "{s:s,s:s,s:s,s:s,s:O,s:o}", "name", res->images[0].name, "manifest",
        res->images[0].manifest_digest, "mediaType", res->images[0].manifest->media_type, "config",
        res->images[0].manifest->config.digest, "layers", layers, "Cmd",
        res->images[0].config->cmd ? json_string(res->images[0].config->cmd[0]) : json_null());
    (void)json_dumpf(out, stdout, JSON_INDENT(1));
    putchar('\n');
    return 0;
}
