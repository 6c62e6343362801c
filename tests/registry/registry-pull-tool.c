/* SPDX-License-Identifier: Apache-2.0 */
/*
 * registry-pull-tool [--child] IMAGES-DIR REFERENCE [REGISTRIES-FILE [CREDENTIALS-FILE]]:
 * runs registry_pull() (with --child: registry_pull_start() and a poll() loop on its pipe, as
 * podd's loop would) and prints the image as one JSON object, or the error on stderr with exit
 * status 1. Progress goes to stderr as "progress DONE TOTAL BLOBS_DONE N_BLOBS" lines; with
 * --child the child's pid comes first as "pid PID". For tests/registry/test_registry_pull.py.
 */
#include <poll.h>
#include <stdio.h>

#include "registry/registry.h"

static void on_progress(const RegistryProgress *p, void *userdata)
{
    (void)userdata;
    fprintf(stderr, "progress %llu %llu %u %u\n", (unsigned long long)p->done,
            (unsigned long long)p->total, p->blobs_done, p->n_blobs);
}

static int pull_child(const char *images_dir, const ImageReference *ref, const char *config,
                      const char *creds, ImageLoadResult **ret, PdError *err)
{
    _cleanup_(registry_pull_job_freep) RegistryPullJob *job = NULL;
    RegistryProgress last = {};
    int r;

    r = registry_pull_start(images_dir, ref, config, creds, &job, err);
    if (r < 0)
        return r;
    fprintf(stderr, "pid %d\n", (int)registry_pull_job_pid(job));
    for (;;) {
        struct pollfd pfd = {.fd = registry_pull_job_fd(job), .events = POLLIN};
        RegistryProgress p = {};

        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            return -errno;
        r = registry_pull_job_read(job, &p, ret, err);
        if (r > 0 && (p.done != last.done || p.blobs_done != last.blobs_done))
            on_progress(&p, NULL); /* the last progress came with the result */
        if (r != 0)
            return r < 0 ? r : 0;
        if (p.done != last.done || p.blobs_done != last.blobs_done || p.total != last.total)
            on_progress(&p, NULL);
        last = p;
    }
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
    bool child = argc > 1 && streq(argv[1], "--child");
    int r;

    if (child) {
        argv++;
        argc--;
    }
    if (argc < 3 || argc > 5) {
        fprintf(stderr,
                "usage: %s [--child] IMAGES-DIR REFERENCE [REGISTRIES-FILE [CREDENTIALS-FILE]]\n",
                argv[0]);
        return 2;
    }
    if (image_reference_parse(argv[2], &ref, &err) < 0) {
        pd_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        return 1;
    }
    if (child)
        r = pull_child(argv[1], &ref, argc > 3 ? argv[3] : NULL, argc > 4 ? argv[4] : NULL, &res,
                       &err);
    else if (registry_global_init() < 0 ||
             registry_config_load(argc > 3 ? argv[3] : "/nonexistent", &config, &err) < 0 ||
             registry_credentials_load(argc > 4 ? argv[4] : "/nonexistent", &creds, &err) < 0)
        r = err.code ? err.code : -ENOMEM;
    else {
        opts.config = config;
        opts.credentials = creds;
        r = registry_pull(argv[1], &ref, &opts, &res, &err);
    }
    if (r < 0) {
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
