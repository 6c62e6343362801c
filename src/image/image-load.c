/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "image-internal.h"

/*
 * Loading an OCI image layout (a directory, or a tar of one) into the blob
 * store. Every file of the layout is opened beneath the layout directory
 * with no symlink followed, and by a name podd builds from a checked digest
 * only; what is copied is verified against its digest on the way in.
 */

extern char **environ;

ImageLoadResult *image_load_result_free(ImageLoadResult *res)
{
    if (!res)
        return NULL;
    for (size_t i = 0; i < res->n_images; i++) {
        free(res->images[i].name);
        image_manifest_free(res->images[i].manifest);
        image_config_free(res->images[i].config);
    }
    free(res->images);
    free(res);
    return NULL;
}

/* A regular file at name beneath dir_fd (no symlink, no "..", nothing else opened). */
static int open_beneath(int dir_fd, const char *name)
{
    struct open_how how = {
        .flags = O_PATH | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    _cleanup_close_ int path_fd = -1;
    char proc[64];
    struct stat st;
    int fd;

    path_fd = (int)syscall(SYS_openat2, dir_fd, name, &how, sizeof(how));
    if (path_fd < 0)
        return errno == ELOOP || errno == EXDEV ? -ELOOP : -errno;
    if (fstat(path_fd, &st) < 0)
        return -errno;
    /* Never open a device or fifo an archive may hold: O_PATH first, then only a file. */
    if (!S_ISREG(st.st_mode))
        return -EBADF;
    (void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", path_fd);
    fd = open(proc, O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static const char *open_error(int r)
{
    switch (r) {
    case -ELOOP:
        return "a symbolic link or outside the layout";
    case -EBADF:
        return "not a regular file";
    default:
        return strerror(-r);
    }
}

/* Reads a small file of the layout (oci-layout, index.json) whole. */
static int read_layout_file(int dir_fd, const char *name, char **ret, size_t *ret_size,
                            PdError *reterr)
{
    _cleanup_close_ int fd = -1;
    int r;

    fd = open_beneath(dir_fd, name);
    if (fd < 0)
        return pd_error_set(reterr, fd, "%s: %s", name, open_error(fd));
    r = read_fd_full(fd, IMAGE_DOCUMENT_MAX, ret, ret_size);
    if (r < 0)
        return pd_error_set(reterr, r, "%s: %s", name, r == -EFBIG ? "too large" : strerror(-r));
    return 0;
}

static int check_oci_layout(int dir_fd, PdError *reterr)
{
    _cleanup_free_ char *data = NULL;
    _cleanup_json_ json_t *root = NULL;
    const char *version;
    size_t size;
    int r;

    r = read_layout_file(dir_fd, "oci-layout", &data, &size, reterr);
    if (r == -ENOENT)
        return pd_error_set(reterr, r, "not an OCI image layout (no oci-layout file)");
    if (r < 0)
        return r;
    root = json_loadb(data, size, JSON_REJECT_DUPLICATES, NULL);
    version = json_string_value(json_object_get(root, "imageLayoutVersion"));
    if (!version)
        return pd_error_set(reterr, -EINVAL, "oci-layout: imageLayoutVersion: missing");
    if (!streq(version, "1.0.0"))
        return pd_error_set(reterr, -EPROTONOSUPPORT,
                            "oci-layout: imageLayoutVersion: unsupported version '%.50s'", version);
    return 0;
}

/* Copies the blob d describes from the layout into the store, verified. */
static int copy_blob(const char *images_dir, int dir_fd, const ImageDescriptor *d, PdError *reterr)
{
    _cleanup_close_ int fd = -1;
    char name[IMAGE_DIGEST_SIZE + 16];

    (void)snprintf(name, sizeof(name), "blobs/sha256/%s", image_digest_hex(d->digest));
    fd = open_beneath(dir_fd, name);
    if (fd < 0)
        return pd_error_set(reterr, fd, "blob %s: %s", d->digest,
                            fd == -ENOENT ? "missing from the layout" : open_error(fd));
    return image_blob_write_fd(images_dir, fd, d->digest, d->size, reterr);
}

/* Copies in a document blob and reads it back from the store. */
static int copy_document(const char *images_dir, int dir_fd, const ImageDescriptor *d, char **ret,
                         size_t *ret_size, PdError *reterr)
{
    int r;

    if (d->size > IMAGE_DOCUMENT_MAX)
        return pd_error_set(reterr, -EFBIG, "%s %s: size %" PRIu64 " is over %u bytes",
                            d->media_type, d->digest, d->size, IMAGE_DOCUMENT_MAX);
    r = copy_blob(images_dir, dir_fd, d, reterr);
    if (r < 0)
        return r;
    return image_blob_read(images_dir, d->digest, ret, ret_size, reterr);
}

/* One image: its manifest, config and layers copied in and parsed. */
static int load_manifest(const char *images_dir, int dir_fd, const ImageDescriptor *d,
                         const char *name, ImageLoaded *ret, PdError *reterr)
{
    _cleanup_(image_manifest_freep) ImageManifest *m = NULL;
    _cleanup_(image_config_freep) ImageConfig *c = NULL;
    _cleanup_free_ char *data = NULL, *n = NULL;
    char what[128];
    size_t size;
    int r;

    r = copy_document(images_dir, dir_fd, d, &data, &size, reterr);
    if (r < 0)
        return r;
    (void)snprintf(what, sizeof(what), "manifest %s", d->digest);
    r = image_manifest_parse(data, size, what, d->media_type, &m, reterr);
    if (r < 0)
        return r;
    free(data);
    data = NULL;
    r = copy_document(images_dir, dir_fd, &m->config, &data, &size, reterr);
    if (r < 0)
        return pd_error_prefix(reterr, r, "%s: config", what);
    (void)snprintf(what, sizeof(what), "config %s", m->config.digest);
    r = image_config_parse_for_host(data, size, what, m->n_layers, &c, reterr);
    if (r < 0)
        return r;
    for (size_t i = 0; i < m->n_layers; i++) {
        r = copy_blob(images_dir, dir_fd, &m->layers[i], reterr);
        if (r < 0)
            return pd_error_prefix(reterr, r, "manifest %s: layers[%zu]", d->digest, i);
    }
    if (name && !(n = strdup(name)))
        return -ENOMEM;
    *ret = (ImageLoaded){.name = move_ptr(n), .manifest = move_ptr(m), .config = move_ptr(c)};
    strcpy(ret->manifest_digest, d->digest);
    return 0;
}

/* An index entry that is itself an index (a multi-platform image): its manifest for the host. */
static int load_nested_index(const char *images_dir, int dir_fd, const ImageDescriptor *d,
                             ImageLoaded *ret, PdError *reterr)
{
    _cleanup_(image_index_freep) ImageIndex *idx = NULL;
    _cleanup_free_ char *data = NULL;
    ImagePlatform host;
    char what[128], p[64];
    size_t size;
    int r, i;

    r = copy_document(images_dir, dir_fd, d, &data, &size, reterr);
    if (r < 0)
        return r;
    (void)snprintf(what, sizeof(what), "index %s", d->digest);
    r = image_index_parse(data, size, what, d->media_type, &idx, reterr);
    if (r < 0)
        return r;
    image_host_platform(&host);
    i = image_index_select(idx, &host);
    if (i < 0)
        return pd_error_set(reterr, -ENOEXEC, "%s: no manifest for %s", what,
                            image_platform_format(&host, p, sizeof(p)));
    if (image_media_type_is_index(idx->manifests[i].media_type))
        return pd_error_set(reterr, -EINVAL, "%s: manifests[%d]: an index nested too deep", what,
                            i);
    return load_manifest(images_dir, dir_fd, &idx->manifests[i], d->ref_name, ret, reterr);
}

static int result_add(ImageLoadResult *res, ImageLoaded *img)
{
    ImageLoaded *a = reallocarray(res->images, res->n_images + 1, sizeof(*a));

    if (!a)
        return -ENOMEM;
    res->images = a;
    res->images[res->n_images++] = *img;
    *img = (ImageLoaded){};
    return 0;
}

static int load_layout(const char *images_dir, int dir_fd, ImageLoadResult **ret, PdError *reterr)
{
    _cleanup_(image_load_result_freep) ImageLoadResult *res = NULL;
    _cleanup_(image_index_freep) ImageIndex *idx = NULL;
    _cleanup_free_ char *data = NULL;
    ImagePlatform host;
    char p[64];
    size_t size;
    int r;

    r = check_oci_layout(dir_fd, reterr);
    if (r < 0)
        return r;
    r = read_layout_file(dir_fd, "index.json", &data, &size, reterr);
    if (r < 0)
        return r;
    r = image_index_parse(data, size, "index.json", NULL, &idx, reterr);
    if (r < 0)
        return r;
    res = calloc(1, sizeof(*res));
    if (!res)
        return -ENOMEM;
    image_host_platform(&host);
    for (size_t i = 0; i < idx->n_manifests; i++) {
        const ImageDescriptor *d = &idx->manifests[i];
        ImageLoaded img = {};

        /* index.json may list one image per platform: this host's only. */
        if (d->platform.os && !image_platform_matches(&d->platform, &host))
            continue;
        if (image_media_type_is_index(d->media_type))
            r = load_nested_index(images_dir, dir_fd, d, &img, reterr);
        else
            r = load_manifest(images_dir, dir_fd, d, d->ref_name, &img, reterr);
        if (r < 0)
            return pd_error_prefix(reterr, r, "index.json: manifests[%zu]", i);
        r = result_add(res, &img);
        if (r < 0) {
            free(img.name);
            image_manifest_free(img.manifest);
            image_config_free(img.config);
            return r;
        }
    }
    if (res->n_images == 0)
        return pd_error_set(reterr, -ENOENT, "index.json: no image for %s",
                            image_platform_format(&host, p, sizeof(p)));
    *ret = move_ptr(res);
    return 0;
}

/* ---- docker-archive ------------------------------------------------------------------------ */

#define DOCKER_LAYER_TAR "application/vnd.docker.image.rootfs.diff.tar"

/* A path manifest.json names: relative, no "..", no empty component. */
static bool archive_path_is_valid(const char *p)
{
    if (!p || !*p || p[0] == '/' || strlen(p) > 1024)
        return false;
    for (const char *c = p; *c;) {
        size_t n = strcspn(c, "/");

        if (n == 0 || (n == 2 && strneq(c, "..", 2)) || (n == 1 && c[0] == '.'))
            return false;
        c += n;
        if (*c == '/')
            c++;
    }
    return true;
}

/*
 * One manifest.json entry: the config copied in by the digest of its bytes,
 * each layer (an uncompressed tar) by its diff_id, which it must match;
 * then a Docker schema 2 manifest podd writes for them, so that the image
 * has a manifest digest like any other.
 */
static int load_docker_entry(const char *images_dir, int dir_fd, json_t *entry, const char *field,
                             ImageLoadResult *res, PdError *reterr)
{
    _cleanup_(image_config_freep) ImageConfig *c = NULL;
    _cleanup_json_ json_t *manifest = NULL, *layer_descs = NULL;
    _cleanup_free_ char *data = NULL, *mdata = NULL;
    char config_digest[IMAGE_DIGEST_SIZE], manifest_digest[IMAGE_DIGEST_SIZE], what[128];
    const char *config_path;
    json_t *layers, *tags, *v;
    size_t size, i;
    int r;

    if (!json_is_object(entry))
        return pd_error_set(reterr, -EINVAL, "manifest.json: %s: not an object", field);
    config_path = json_string_value(json_object_get(entry, "Config"));
    if (!archive_path_is_valid(config_path))
        return pd_error_set(reterr, -EINVAL, "manifest.json: %s.Config: missing or invalid path",
                            field);
    r = read_layout_file(dir_fd, config_path, &data, &size, reterr);
    if (r < 0)
        return pd_error_prefix(reterr, r, "manifest.json: %s.Config", field);
    r = image_blob_write_data(images_dir, data, size, config_digest, reterr);
    if (r < 0)
        return r;
    (void)snprintf(what, sizeof(what), "config %s", config_path);
    r = image_config_parse_for_host(data, size, what, SIZE_MAX, &c, reterr);
    if (r < 0)
        return r;
    layers = json_object_get(entry, "Layers");
    if (!json_is_array(layers))
        return pd_error_set(reterr, -EINVAL, "manifest.json: %s.Layers: missing or not an array",
                            field);
    if (json_array_size(layers) != strv_length(c->diff_ids))
        return pd_error_set(reterr, -EINVAL,
                            "manifest.json: %s.Layers: %zu layers for the config's %zu diff_ids",
                            field, json_array_size(layers), strv_length(c->diff_ids));
    layer_descs = json_array();
    if (!layer_descs)
        return -ENOMEM;
    json_array_foreach(layers, i, v)
    {
        const char *path = json_string_value(v);
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (!archive_path_is_valid(path))
            return pd_error_set(reterr, -EINVAL,
                                "manifest.json: %s.Layers[%zu]: missing or invalid path", field, i);
        fd = open_beneath(dir_fd, path);
        if (fd < 0)
            return pd_error_set(reterr, fd, "manifest.json: %s.Layers[%zu]: %s: %s", field, i, path,
                                fd == -ENOENT ? "missing" : open_error(fd));
        if (fstat(fd, &st) < 0)
            return -errno;
        r = image_blob_write_fd(images_dir, fd, c->diff_ids[i], (uint64_t)st.st_size, reterr);
        if (r < 0)
            return pd_error_prefix(reterr, r, "manifest.json: %s.Layers[%zu] (%s, diff_ids[%zu])",
                                   field, i, path, i);
        if (json_array_append_new(layer_descs,
                                  json_pack("{s:s,s:I,s:s}", "mediaType", DOCKER_LAYER_TAR, "size",
                                            (json_int_t)st.st_size, "digest", c->diff_ids[i])) < 0)
            return -ENOMEM;
    }
    manifest = json_pack("{s:i,s:s,s:{s:s,s:I,s:s},s:O}", "schemaVersion", 2, "mediaType",
                         IMAGE_MT_DOCKER_MANIFEST, "config", "mediaType", IMAGE_MT_DOCKER_CONFIG,
                         "size", (json_int_t)size, "digest", config_digest, "layers", layer_descs);
    mdata = manifest ? json_dumps(manifest, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!mdata)
        return -ENOMEM;
    r = image_blob_write_data(images_dir, mdata, strlen(mdata), manifest_digest, reterr);
    if (r < 0)
        return r;

    /* One image per RepoTag (none: one without a name), each with its own parsed copy. */
    tags = json_object_get(entry, "RepoTags");
    if (tags && !json_is_null(tags) && !json_is_array(tags))
        return pd_error_set(reterr, -EINVAL, "manifest.json: %s.RepoTags: not an array", field);
    for (i = 0; i < (json_array_size(tags) ? json_array_size(tags) : 1); i++) {
        const char *tag = json_string_value(json_array_get(tags, i));
        ImageLoaded img = {};

        if (json_array_size(tags) && (!tag || !image_ref_name_is_valid(tag)))
            return pd_error_set(reterr, -EINVAL,
                                "manifest.json: %s.RepoTags[%zu]: invalid image name", field, i);
        (void)snprintf(what, sizeof(what), "manifest %s", manifest_digest);
        r = image_manifest_parse(mdata, strlen(mdata), what, IMAGE_MT_DOCKER_MANIFEST,
                                 &img.manifest, reterr);
        if (r >= 0)
            r = image_config_parse(data, size, what, &img.config, reterr);
        if (r >= 0 && tag && !(img.name = strdup(tag)))
            r = -ENOMEM;
        strcpy(img.manifest_digest, manifest_digest);
        if (r >= 0)
            r = result_add(res, &img);
        if (r < 0) {
            free(img.name);
            image_manifest_free(img.manifest);
            image_config_free(img.config);
            return r;
        }
    }
    return 0;
}

static int load_docker_archive(const char *images_dir, int dir_fd, ImageLoadResult **ret,
                               PdError *reterr)
{
    _cleanup_(image_load_result_freep) ImageLoadResult *res = NULL;
    _cleanup_json_ json_t *root = NULL;
    _cleanup_free_ char *data = NULL;
    json_error_t jerr;
    json_t *entry;
    size_t size, i;
    int r;

    r = read_layout_file(dir_fd, "manifest.json", &data, &size, reterr);
    if (r < 0)
        return r;
    root = json_loadb(data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return pd_error_set(reterr, -EINVAL, "manifest.json: invalid JSON at line %d: %s",
                            jerr.line, jerr.text);
    if (!json_is_array(root) || json_array_size(root) == 0)
        return pd_error_set(reterr, -EINVAL, "manifest.json: not a non-empty array");
    res = calloc(1, sizeof(*res));
    if (!res)
        return -ENOMEM;
    json_array_foreach(root, i, entry)
    {
        char field[32];

        (void)snprintf(field, sizeof(field), "[%zu]", i);
        r = load_docker_entry(images_dir, dir_fd, entry, field, res, reterr);
        if (r < 0)
            return r;
    }
    *ret = move_ptr(res);
    return 0;
}

/*
 * Unpacks the archive at source into dir (ours, empty) with GNU tar, which
 * skips names with ".." and strips a leading '/'; owners and modes are not
 * kept. What it writes is only ever read back through open_beneath().
 */
static int extract_archive(const char *source, const char *dir, PdError *reterr)
{
    _cleanup_free_ char *file_arg = strdup_printf("--file=%s", source);
    _cleanup_free_ char *dir_arg = strdup_printf("--directory=%s", dir);
    char *argv[] = {(char *)"tar",
                    (char *)"--extract",
                    (char *)"--no-same-owner",
                    (char *)"--no-same-permissions",
                    (char *)"--no-overwrite-dir",
                    file_arg,
                    dir_arg,
                    NULL};
    pid_t pid;
    int status, r;

    if (!file_arg || !dir_arg)
        return -ENOMEM;
    r = posix_spawnp(&pid, "tar", NULL, NULL, argv, environ);
    if (r != 0)
        return pd_error_set(reterr, -r, "cannot run tar: %s", strerror(r));
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return pd_error_set(reterr, -errno, "waiting for tar: %m");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return pd_error_set(reterr, -EINVAL, "not a readable tar archive (tar failed)");
    return 0;
}

int image_load(const char *images_dir, const char *source, ImageLoadResult **ret, PdError *reterr)
{
    _cleanup_close_ int dir_fd = -1, store_fd = -1, lock_fd = -1;
    _cleanup_free_ char *work = NULL, *work_path = NULL;
    struct stat st;
    int r;

    if (stat(source, &st) < 0)
        return pd_error_set(reterr, -errno, "%s: %m", source);
    if (S_ISDIR(st.st_mode)) {
        dir_fd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
            return pd_error_set(reterr, -errno, "%s: %m", source);
        r = load_layout(images_dir, dir_fd, ret, reterr);
        return r < 0 ? pd_error_prefix(reterr, r, "%s", source) : 0;
    }
    if (mkdir(images_dir, 0700) < 0 && errno != EEXIST)
        return pd_error_set(reterr, -errno, "cannot create %s: %m", images_dir);
    store_fd = open(images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (store_fd < 0)
        return pd_error_set(reterr, -errno, "cannot open %s: %m", images_dir);
    /* An import work directory: image_store_clean() removes it if we die. */
    lock_fd = image_make_work_dir(store_fd, IMAGE_IMPORT_PREFIX, &work);
    if (lock_fd < 0)
        return pd_error_set(reterr, lock_fd, "cannot create a directory in %s: %s", images_dir,
                            strerror(-lock_fd));
    work_path = strdup_printf("%s/%s", images_dir, work);
    if (!work_path)
        r = -ENOMEM;
    else
        r = extract_archive(source, work_path, reterr);
    if (r >= 0) {
        dir_fd = openat(store_fd, work, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir_fd < 0)
            r = -errno;
    }
    /* An OCI layout first: docker save since Docker 25 writes both, the layout complete. */
    if (r >= 0 && faccessat(dir_fd, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        r = load_layout(images_dir, dir_fd, ret, reterr);
    else if (r >= 0 && faccessat(dir_fd, "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        r = load_docker_archive(images_dir, dir_fd, ret, reterr);
    else if (r >= 0)
        r = pd_error_set(reterr, -EINVAL,
                         "neither an oci-archive (no oci-layout) nor a docker-archive (no "
                         "manifest.json)");
    (void)rm_rf_at(store_fd, work);
    return r < 0 ? pd_error_prefix(reterr, r, "%s", source) : 0;
}
