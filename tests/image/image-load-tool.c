/* SPDX-License-Identifier: Apache-2.0 */
/*
 * image-load-tool IMAGES-DIR SOURCE: runs image_load() and prints what it
 * found as one JSON object, or the error on stderr with exit status 1.
 * For tests/image/test_image_load.py, until podctl image load exists.
 */
#include <stdio.h>

#include "image/image.h"

static json_t *strv_json(char **l)
{
    json_t *a;

    if (!l)
        return json_null();
    a = json_array();
    for (size_t i = 0; l[i]; i++)
        (void)json_array_append_new(a, json_string(l[i]));
    return a;
}

static json_t *nullable(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *image_json(const ImageLoaded *img)
{
    const ImageConfig *c = img->config;
    json_t *layers = json_array();

    for (size_t i = 0; i < img->manifest->n_layers; i++)
        (void)json_array_append_new(layers, json_pack("{s:s,s:s,s:I}", "mediaType",
                                                      img->manifest->layers[i].media_type, "digest",
                                                      img->manifest->layers[i].digest, "size",
                                                      (json_int_t)img->manifest->layers[i].size));
    return json_pack("{s:o,s:s,s:s,s:s,s:o,s:{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}}", "name",
                     nullable(img->name), "manifest", img->manifest_digest, "mediaType",
                     img->manifest->media_type, "config", img->manifest->config.digest, "layers",
                     layers, "image", "os", nullable(c->platform.os), "architecture",
                     nullable(c->platform.architecture), "variant", nullable(c->platform.variant),
                     "Entrypoint", strv_json(c->entrypoint), "Cmd", strv_json(c->cmd), "Env",
                     strv_json(c->env), "WorkingDir", nullable(c->working_dir), "User",
                     nullable(c->user), "diff_ids", strv_json(c->diff_ids));
}

int main(int argc, char **argv)
{
    _cleanup_(image_load_result_freep) ImageLoadResult *res = NULL;
    _cleanup_json_ json_t *out = NULL;
    PdError err = {};
    char msg[2048];

    if (argc != 3) {
        fprintf(stderr, "usage: %s IMAGES-DIR SOURCE\n", argv[0]);
        return 2;
    }
    if (image_load(argv[1], argv[2], &res, &err) < 0) {
        pd_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        return 1;
    }
    out = json_array();
    for (size_t i = 0; i < res->n_images; i++)
        (void)json_array_append_new(out, image_json(&res->images[i]));
    (void)json_dumpf(out, stdout, JSON_INDENT(1));
    putchar('\n');
    return 0;
}
