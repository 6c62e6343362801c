/* SPDX-License-Identifier: Apache-2.0 */
#include <sys/utsname.h>

#include "image-internal.h"

/*
 * The image documents: OCI image index and manifest, Docker schema 2
 * manifest list and manifest, and the image configuration. Each parser
 * takes what it uses and checks it strictly; fields it does not use are
 * left alone, as the specifications ask.
 */

static const char *const layer_media_types[] = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
};

bool image_media_type_is_index(const char *media_type)
{
    return media_type &&
           (streq(media_type, IMAGE_MT_OCI_INDEX) || streq(media_type, IMAGE_MT_DOCKER_LIST));
}

static bool media_type_is_manifest(const char *media_type)
{
    return media_type && (streq(media_type, IMAGE_MT_OCI_MANIFEST) ||
                          streq(media_type, IMAGE_MT_DOCKER_MANIFEST));
}

static bool media_type_is_layer(const char *media_type)
{
    for (size_t i = 0; i < ELEMENTSOF(layer_media_types); i++)
        if (streq(media_type, layer_media_types[i]))
            return true;
    return false;
}

static void platform_done(ImagePlatform *p)
{
    free(p->os);
    free(p->architecture);
    free(p->variant);
    *p = (ImagePlatform){};
}

static void descriptor_done(ImageDescriptor *d)
{
    free(d->media_type);
    free(d->ref_name);
    platform_done(&d->platform);
}

ImageIndex *image_index_free(ImageIndex *idx)
{
    if (!idx)
        return NULL;
    for (size_t i = 0; i < idx->n_manifests; i++)
        descriptor_done(&idx->manifests[i]);
    free(idx->manifests);
    free(idx->media_type);
    free(idx);
    return NULL;
}

ImageManifest *image_manifest_free(ImageManifest *m)
{
    if (!m)
        return NULL;
    descriptor_done(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        descriptor_done(&m->layers[i]);
    free(m->layers);
    free(m->media_type);
    free(m);
    return NULL;
}

ImageConfig *image_config_free(ImageConfig *c)
{
    if (!c)
        return NULL;
    platform_done(&c->platform);
    strv_free(c->entrypoint);
    strv_free(c->cmd);
    strv_free(c->env);
    strv_free(c->diff_ids);
    free(c->working_dir);
    free(c->user);
    free(c);
    return NULL;
}

/* ---- fields ------------------------------------------------------------------------------ */

/* Where an error is: "<what>: <field>". */
typedef struct Ctx {
    const char *what;
    PdError *err;
} Ctx;

#define FAIL(ctx, code, field, ...)                                                                \
    ((void)pd_error_set((ctx)->err, (code), __VA_ARGS__),                                          \
     pd_error_prefix((ctx)->err, (code), "%s: %s", (ctx)->what, (field)))

static int load_json(const Ctx *ctx, const char *data, size_t size, json_t **ret)
{
    json_error_t jerr;
    json_t *root;

    if (size > IMAGE_DOCUMENT_MAX)
        return pd_error_set(ctx->err, -EFBIG, "%s: larger than %u bytes", ctx->what,
                            IMAGE_DOCUMENT_MAX);
    root = json_loadb(data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return pd_error_set(ctx->err, -EINVAL, "%s: invalid JSON at line %d column %d: %s",
                            ctx->what, jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return pd_error_set(ctx->err, -EINVAL, "%s: not a JSON object", ctx->what);
    }
    *ret = root;
    return 0;
}

/* An optional string field: absent or null gives NULL; anything but a string is an error. */
static int get_string(const Ctx *ctx, json_t *obj, const char *key, const char *field, char **ret)
{
    json_t *v = json_object_get(obj, key);
    char *s;

    if (!v || json_is_null(v)) {
        *ret = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return FAIL(ctx, -EINVAL, field, "not a string");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return FAIL(ctx, -EINVAL, field, "contains a NUL byte");
    s = strdup(json_string_value(v));
    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}

/* An optional array of strings: absent or null gives NULL. */
static int get_strv(const Ctx *ctx, json_t *obj, const char *key, const char *field, char ***ret)
{
    _cleanup_(strv_freep) char **l = NULL;
    json_t *v = json_object_get(obj, key), *e;
    size_t i;

    if (!v || json_is_null(v)) {
        *ret = NULL;
        return 0;
    }
    if (!json_is_array(v))
        return FAIL(ctx, -EINVAL, field, "not an array of strings");
    l = calloc(1, sizeof(char *));
    if (!l)
        return -ENOMEM;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))
            return FAIL(ctx, -EINVAL, field, "element %zu is not a string", i);
        if (strv_extend(&l, json_string_value(e)) < 0)
            return -ENOMEM;
    }
    *ret = move_ptr(l);
    return 0;
}

static int check_schema_version(const Ctx *ctx, json_t *root)
{
    json_t *v = json_object_get(root, "schemaVersion");

    if (!v)
        return FAIL(ctx, -EINVAL, "schemaVersion", "missing");
    if (!json_is_integer(v) || json_integer_value(v) != 2)
        return FAIL(ctx, -EPROTONOSUPPORT, "schemaVersion", "must be 2");
    return 0;
}

/* An index or a manifest: a JSON object of schema version 2. */
static int load_document(const Ctx *ctx, const char *data, size_t size, json_t **ret)
{
    _cleanup_json_ json_t *root = NULL;
    int r;

    r = load_json(ctx, data, size, &root);
    if (r < 0)
        return r;
    r = check_schema_version(ctx, root);
    if (r < 0)
        return r;
    *ret = move_ptr(root);
    return 0;
}

/*
 * The document's own mediaType against the one its descriptor gave:
 * absent is allowed only for OCI documents (the OCI spec made it optional).
 */
static int check_media_type(const Ctx *ctx, json_t *root, const char *expected,
                            bool (*known)(const char *), const char *oci_default, char **ret)
{
    _cleanup_free_ char *mt = NULL;
    int r;

    r = get_string(ctx, root, "mediaType", "mediaType", &mt);
    if (r < 0)
        return r;
    if (!mt && expected && !streq(expected, oci_default))
        return FAIL(ctx, -EINVAL, "mediaType", "missing (the descriptor says '%s')", expected);
    if (mt && !known(mt))
        return FAIL(ctx, -EPROTONOSUPPORT, "mediaType", "unsupported media type '%s'", mt);
    if (mt && expected && !streq(mt, expected))
        return FAIL(ctx, -EINVAL, "mediaType", "'%s', but the descriptor says '%s'", mt, expected);
    if (!mt && !expected)
        *ret = NULL;
    else if (!(*ret = strdup(mt ? mt : expected)))
        return -ENOMEM;
    return 0;
}

static int parse_platform(const Ctx *ctx, json_t *obj, const char *field, ImagePlatform *p)
{
    const char *dot = field[0] ? "." : "";
    char f[128];
    int r;

    (void)snprintf(f, sizeof(f), "%s%sos", field, dot);
    r = get_string(ctx, obj, "os", f, &p->os);
    if (r >= 0) {
        (void)snprintf(f, sizeof(f), "%s%sarchitecture", field, dot);
        r = get_string(ctx, obj, "architecture", f, &p->architecture);
    }
    if (r >= 0) {
        (void)snprintf(f, sizeof(f), "%s%svariant", field, dot);
        r = get_string(ctx, obj, "variant", f, &p->variant);
    }
    return r;
}

/*
 * A ref.name annotation, by the OCI layout's grammar: components of
 * [A-Za-z0-9]+ joined by one of "-._:@+" or "--", separated by '/'. That
 * rules out "..", absolute names and empty components.
 */
bool image_ref_name_is_valid(const char *s)
{
    bool alnum_before = false;
    size_t n = strlen(s);

    if (n == 0 || n > 1024)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            alnum_before = true;
            continue;
        }
        if (!alnum_before || !strchr("-._:@+/", c))
            return false;
        if (c == '-' && s[i + 1] == '-')
            i++;
        alnum_before = false;
    }
    return alnum_before;
}

static int parse_descriptor(const Ctx *ctx, json_t *obj, const char *field, bool with_platform,
                            ImageDescriptor *d)
{
    json_t *size, *annotations, *platform;
    char f[128];
    const char *digest;
    int r;

    if (!json_is_object(obj))
        return FAIL(ctx, -EINVAL, field, "not an object");
    (void)snprintf(f, sizeof(f), "%s.mediaType", field);
    r = get_string(ctx, obj, "mediaType", f, &d->media_type);
    if (r < 0)
        return r;
    if (!d->media_type)
        return FAIL(ctx, -EINVAL, f, "missing");
    (void)snprintf(f, sizeof(f), "%s.digest", field);
    digest = json_string_value(json_object_get(obj, "digest"));
    if (!digest)
        return FAIL(ctx, -EINVAL, f, "missing or not a string");
    if (!image_digest_is_valid(digest)) {
        if (!strchr(digest, ':') || startswith(digest, "sha256:"))
            return FAIL(ctx, -EINVAL, f, "invalid digest '%.100s'", digest);
        return FAIL(ctx, -EPROTONOSUPPORT, f, "unsupported digest '%.100s' (only sha256)", digest);
    }
    strcpy(d->digest, digest);
    (void)snprintf(f, sizeof(f), "%s.size", field);
    size = json_object_get(obj, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return FAIL(ctx, -EINVAL, f, "missing or not a non-negative integer");
    d->size = (uint64_t)json_integer_value(size);
    annotations = json_object_get(obj, "annotations");
    if (annotations && !json_is_object(annotations)) {
        (void)snprintf(f, sizeof(f), "%s.annotations", field);
        return FAIL(ctx, -EINVAL, f, "not an object");
    }
    (void)snprintf(f, sizeof(f), "%s.annotations.\"%s\"", field, IMAGE_ANNOTATION_REF_NAME);
    r = get_string(ctx, annotations, IMAGE_ANNOTATION_REF_NAME, f, &d->ref_name);
    if (r < 0)
        return r;
    if (d->ref_name && !image_ref_name_is_valid(d->ref_name))
        return FAIL(ctx, -EINVAL, f, "invalid image name '%.100s'", d->ref_name);
    platform = json_object_get(obj, "platform");
    if (platform && with_platform) {
        (void)snprintf(f, sizeof(f), "%s.platform", field);
        if (!json_is_object(platform))
            return FAIL(ctx, -EINVAL, f, "not an object");
        r = parse_platform(ctx, platform, f, &d->platform);
    }
    return r;
}

/* What a list allows beyond a valid descriptor: FAIL()s at field (as "layers[2]") or returns 0. */
typedef int (*DescriptorCheck)(const Ctx *ctx, const ImageDescriptor *d, const char *field,
                               const void *userdata);

/*
 * The array root.key of descriptors into *list and *n (the caller's, so
 * that its cleanup frees what was parsed when one fails), each checked by
 * check.
 */
static int parse_descriptor_list(const Ctx *ctx, json_t *root, const char *key, bool with_platform,
                                 ImageDescriptor **list, size_t *n, DescriptorCheck check,
                                 const void *userdata)
{
    json_t *arr = json_object_get(root, key), *e;
    size_t i;
    int r;

    if (!json_is_array(arr))
        return FAIL(ctx, -EINVAL, key, "missing or not an array");
    *list = calloc(json_array_size(arr) + 1, sizeof(ImageDescriptor));
    if (!*list)
        return -ENOMEM;
    json_array_foreach(arr, i, e)
    {
        ImageDescriptor *d = &(*list)[(*n)++];
        char f[64];

        (void)snprintf(f, sizeof(f), "%s[%zu]", key, i);
        r = parse_descriptor(ctx, e, f, with_platform, d);
        if (r < 0)
            return r;
        r = check(ctx, d, f, userdata);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- documents ------------------------------------------------------------------------------ */

static int check_index_entry(const Ctx *ctx, const ImageDescriptor *d, const char *field,
                             const void *userdata)
{
    const char *list_type = userdata;

    if (!media_type_is_manifest(d->media_type) && !image_media_type_is_index(d->media_type))
        return FAIL(ctx, -EPROTONOSUPPORT, field, "unsupported media type '%s'", d->media_type);
    /* A Docker list names manifests only; an OCI index may nest indexes. */
    if (list_type && streq(list_type, IMAGE_MT_DOCKER_LIST) &&
        !streq(d->media_type, IMAGE_MT_DOCKER_MANIFEST))
        return FAIL(ctx, -EINVAL, field, "media type '%s' in a Docker manifest list",
                    d->media_type);
    return 0;
}

static int check_layer(const Ctx *ctx, const ImageDescriptor *d, const char *field,
                       const void *userdata)
{
    char f[80];

    if (media_type_is_layer(d->media_type))
        return 0;
    (void)snprintf(f, sizeof(f), "%s.mediaType", field);
    return FAIL(ctx, -EPROTONOSUPPORT, f, "unsupported layer media type '%s'", d->media_type);
}

int image_index_parse(const char *data, size_t size, const char *what, const char *media_type,
                      ImageIndex **ret, PdError *reterr)
{
    _cleanup_(image_index_freep) ImageIndex *idx = NULL;
    _cleanup_json_ json_t *root = NULL;
    Ctx ctx = {what, reterr};
    int r;

    r = load_document(&ctx, data, size, &root);
    if (r < 0)
        return r;
    idx = calloc(1, sizeof(*idx));
    if (!idx)
        return -ENOMEM;
    r = check_media_type(&ctx, root, media_type, image_media_type_is_index, IMAGE_MT_OCI_INDEX,
                         &idx->media_type);
    if (r < 0)
        return r;
    r = parse_descriptor_list(&ctx, root, "manifests", true, &idx->manifests, &idx->n_manifests,
                              check_index_entry, idx->media_type);
    if (r < 0)
        return r;
    *ret = move_ptr(idx);
    return 0;
}

int image_manifest_parse(const char *data, size_t size, const char *what, const char *media_type,
                         ImageManifest **ret, PdError *reterr)
{
    _cleanup_(image_manifest_freep) ImageManifest *m = NULL;
    _cleanup_json_ json_t *root = NULL;
    Ctx ctx = {what, reterr};
    bool docker;
    int r;

    r = load_document(&ctx, data, size, &root);
    if (r < 0)
        return r;
    m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    r = check_media_type(&ctx, root, media_type, media_type_is_manifest, IMAGE_MT_OCI_MANIFEST,
                         &m->media_type);
    if (r < 0)
        return r;
    if (!m->media_type && !(m->media_type = strdup(IMAGE_MT_OCI_MANIFEST)))
        return -ENOMEM;
    docker = streq(m->media_type, IMAGE_MT_DOCKER_MANIFEST);
    r = parse_descriptor(&ctx, json_object_get(root, "config"), "config", false, &m->config);
    if (r < 0)
        return r;
    if (!streq(m->config.media_type, docker ? IMAGE_MT_DOCKER_CONFIG : IMAGE_MT_OCI_CONFIG))
        return FAIL(&ctx, -EPROTONOSUPPORT, "config.mediaType", "unsupported media type '%s'",
                    m->config.media_type);
    r = parse_descriptor_list(&ctx, root, "layers", false, &m->layers, &m->n_layers, check_layer,
                              NULL);
    if (r < 0)
        return r;
    *ret = move_ptr(m);
    return 0;
}

static int check_env(const Ctx *ctx, char **env)
{
    for (size_t i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');

        if (!eq || eq == env[i]) {
            char f[64];

            (void)snprintf(f, sizeof(f), "config.Env[%zu]", i);
            return FAIL(ctx, -EINVAL, f, "'%.100s' is not NAME=VALUE", env[i]);
        }
    }
    return 0;
}

int image_config_parse(const char *data, size_t size, const char *what, ImageConfig **ret,
                       PdError *reterr)
{
    _cleanup_(image_config_freep) ImageConfig *c = NULL;
    _cleanup_json_ json_t *root = NULL;
    Ctx ctx = {what, reterr};
    json_t *cfg, *rootfs;
    const char *type;
    int r;

    r = load_json(&ctx, data, size, &root);
    if (r < 0)
        return r;
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    r = parse_platform(&ctx, root, "", &c->platform);
    if (r < 0)
        return r;
    if (!c->platform.os || !c->platform.architecture)
        return FAIL(&ctx, -EINVAL, c->platform.os ? "architecture" : "os", "missing");
    cfg = json_object_get(root, "config");
    if (cfg && !json_is_null(cfg)) {
        if (!json_is_object(cfg))
            return FAIL(&ctx, -EINVAL, "config", "not an object");
        if ((r = get_strv(&ctx, cfg, "Entrypoint", "config.Entrypoint", &c->entrypoint)) < 0 ||
            (r = get_strv(&ctx, cfg, "Cmd", "config.Cmd", &c->cmd)) < 0 ||
            (r = get_strv(&ctx, cfg, "Env", "config.Env", &c->env)) < 0 ||
            (r = check_env(&ctx, c->env)) < 0 ||
            (r = get_string(&ctx, cfg, "WorkingDir", "config.WorkingDir", &c->working_dir)) < 0 ||
            (r = get_string(&ctx, cfg, "User", "config.User", &c->user)) < 0)
            return r;
    }
    rootfs = json_object_get(root, "rootfs");
    if (!json_is_object(rootfs))
        return FAIL(&ctx, -EINVAL, "rootfs", "missing or not an object");
    type = json_string_value(json_object_get(rootfs, "type"));
    if (!type || !streq(type, "layers"))
        return FAIL(&ctx, -EINVAL, "rootfs.type", "must be \"layers\"");
    r = get_strv(&ctx, rootfs, "diff_ids", "rootfs.diff_ids", &c->diff_ids);
    if (r < 0)
        return r;
    if (!c->diff_ids)
        return FAIL(&ctx, -EINVAL, "rootfs.diff_ids", "missing");
    for (size_t i = 0; c->diff_ids[i]; i++)
        if (!image_digest_is_valid(c->diff_ids[i])) {
            char f[64];

            (void)snprintf(f, sizeof(f), "rootfs.diff_ids[%zu]", i);
            return FAIL(&ctx, -EINVAL, f, "invalid digest '%.100s'", c->diff_ids[i]);
        }
    *ret = move_ptr(c);
    return 0;
}

/* ---- platforms ---------------------------------------------------------------------------- */

void image_host_platform(ImagePlatform *ret)
{
    /* Architectures and variants as Go's GOARCH and GOARM name them. */
#if defined(__x86_64__)
    static const char arch[] = "amd64", *variant = NULL;
#elif defined(__aarch64__)
    static const char arch[] = "arm64", variant[] = "v8";
#elif defined(__arm__) && defined(__ARM_ARCH_7A__)
    static const char arch[] = "arm", variant[] = "v7";
#elif defined(__arm__)
    static const char arch[] = "arm", variant[] = "v6";
#elif defined(__i386__)
    static const char arch[] = "386", *variant = NULL;
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    static const char arch[] = "ppc64le", *variant = NULL;
#elif defined(__s390x__)
    static const char arch[] = "s390x", *variant = NULL;
#elif defined(__riscv) && __riscv_xlen == 64
    static const char arch[] = "riscv64", *variant = NULL;
#else
#error "unknown architecture: add its Go name"
#endif
    *ret = (ImagePlatform){
        .os = (char *)"linux",
        .architecture = (char *)arch,
        .variant = (char *)variant,
    };
}

bool image_platform_matches(const ImagePlatform *p, const ImagePlatform *host)
{
    if (!p->os || !p->architecture || !streq(p->os, host->os) ||
        !streq(p->architecture, host->architecture))
        return false;
    /* arm64 images say "v8" or nothing; both run on any arm64. */
    if (!p->variant || !host->variant || streq(host->architecture, "arm64"))
        return true;
    /* An armv7 host runs v6 and v5 images too. */
    return strcmp(p->variant, host->variant) <= 0;
}

char *image_platform_format(const ImagePlatform *p, char *buf, size_t size)
{
    (void)snprintf(buf, size, "%s/%s%s%s", p->os ? p->os : "?",
                   p->architecture ? p->architecture : "?", p->variant ? "/" : "",
                   p->variant ? p->variant : "");
    return buf;
}

int image_config_parse_for_host(const char *data, size_t size, const char *what, size_t n_layers,
                                ImageConfig **ret, PdError *reterr)
{
    _cleanup_(image_config_freep) ImageConfig *c = NULL;
    ImagePlatform host;
    char p1[64], p2[64];
    int r;

    r = image_config_parse(data, size, what, &c, reterr);
    if (r < 0)
        return r;
    image_host_platform(&host);
    if (!image_platform_matches(&c->platform, &host))
        return pd_error_set(reterr, -ENOEXEC, "%s: image is for %s, this host is %s", what,
                            image_platform_format(&c->platform, p1, sizeof(p1)),
                            image_platform_format(&host, p2, sizeof(p2)));
    if (n_layers != SIZE_MAX && strv_length(c->diff_ids) != n_layers)
        return pd_error_set(reterr, -EINVAL,
                            "%s: rootfs.diff_ids: %zu entries for the manifest's %zu layers", what,
                            strv_length(c->diff_ids), n_layers);
    *ret = move_ptr(c);
    return 0;
}

int image_index_select(const ImageIndex *idx, const ImagePlatform *host)
{
    int found = -ENOENT;

    for (size_t i = 0; i < idx->n_manifests; i++) {
        const ImagePlatform *p = &idx->manifests[i].platform;

        if (!image_platform_matches(p, host))
            continue;
        if (host->variant && p->variant && streq(p->variant, host->variant))
            return (int)i;
        if (found < 0)
            found = (int)i;
    }
    return found;
}
