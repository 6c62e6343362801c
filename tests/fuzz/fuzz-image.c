/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the image document parsers: the same bytes as an image
 * index, an image manifest (OCI and Docker) and an image config, each
 * checked for the promises image.h makes. Never prints.
 */
#include <assert.h>

#include "fuzz.h"
#include "image/image.h"

static void check_descriptor(const ImageDescriptor *d)
{
    assert(d->media_type);
    assert(image_digest_is_valid(d->digest));
    assert(!d->ref_name || (d->ref_name[0] && d->ref_name[0] != '/' && !strstr(d->ref_name, "..")));
}

static void fuzz_index(const char *data, size_t size, const char *media_type)
{
    _cleanup_(image_index_freep) ImageIndex *idx = NULL;
    ImagePlatform host;
    PdError err = {};
    int r;

    r = image_index_parse(data, size, "index", media_type, &idx, &err);
    if (r < 0) {
        assert(!idx && err.code == r && err.message[0]);
        return;
    }
    for (size_t i = 0; i < idx->n_manifests; i++)
        check_descriptor(&idx->manifests[i]);
    image_host_platform(&host);
    r = image_index_select(idx, &host);
    assert(r == -ENOENT || (r >= 0 && (size_t)r < idx->n_manifests));
}

static void fuzz_manifest(const char *data, size_t size, const char *media_type)
{
    _cleanup_(image_manifest_freep) ImageManifest *m = NULL;
    PdError err = {};
    int r;

    r = image_manifest_parse(data, size, "manifest", media_type, &m, &err);
    if (r < 0) {
        assert(!m && err.code == r && err.message[0]);
        return;
    }
    assert(m->media_type);
    check_descriptor(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        check_descriptor(&m->layers[i]);
}

static void fuzz_config(const char *data, size_t size)
{
    _cleanup_(image_config_freep) ImageConfig *c = NULL;
    PdError err = {};
    int r;

    r = image_config_parse(data, size, "config", &c, &err);
    if (r < 0) {
        assert(!c && err.code == r && err.message[0]);
        return;
    }
    assert(c->platform.os && c->platform.architecture && c->diff_ids);
    for (size_t i = 0; c->diff_ids[i]; i++)
        assert(image_digest_is_valid(c->diff_ids[i]));
    for (size_t i = 0; c->env && c->env[i]; i++)
        assert(strchr(c->env[i], '=') && c->env[i][0] != '=');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;

    fuzz_index(s, size, NULL);
    fuzz_index(s, size, IMAGE_MT_DOCKER_LIST);
    fuzz_manifest(s, size, NULL);
    fuzz_manifest(s, size, IMAGE_MT_DOCKER_MANIFEST);
    fuzz_config(s, size);
    return 0;
}
