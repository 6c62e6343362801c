/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "image-internal.h"

/*
 * Image records (see image.h): <images>/repositories.json,
 *   {"version": 1, "images": [{"name": N, "digest": D, "size": S, "created": T}, ...]}
 * sorted by name, and the unpacked layers under <images>/layers/sha256/.
 */

void image_record_list_done(ImageRecordList *l)
{
    free(l->v);
    *l = (ImageRecordList){};
}

int image_records_open_dir(const char *images_dir, bool create, PdError *reterr)
{
    int fd;

    if (create && mkdir(images_dir, 0700) < 0 && errno != EEXIST)
        return pd_error_set(reterr, -errno, "cannot create %s: %m", images_dir);
    fd = open(images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return pd_error_set(reterr, -errno, "cannot open %s: %m", images_dir);
    return fd;
}

/*
 * An flock on <images>/name, held while the returned fd is open. Two locks,
 * always taken in this order: LOCK_FILE by image_store_add (for its unpacking
 * and its record) and image_store_gc (for its deletions), RECORDS_LOCK_FILE
 * around each read-modify-write of the records file (add, untag) and gc's
 * read. So an untag (podd's loop does them) never waits for an unpack.
 */
int image_records_lock(int images_fd, const char *images_dir, const char *name, PdError *reterr)
{
    _cleanup_close_ int fd = -1;

    fd = openat(images_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return pd_error_set(reterr, -errno, "cannot open %s/%s: %m", images_dir, name);
    while (flock(fd, LOCK_EX) < 0)
        if (errno != EINTR)
            return pd_error_set(reterr, -errno, "cannot lock %s/%s: %m", images_dir, name);
    return move_fd(fd);
}

static int record_compare(const void *a, const void *b)
{
    return strcmp(((const ImageRecord *)a)->name, ((const ImageRecord *)b)->name);
}

static int json_u64(json_t *v, uint64_t *ret)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -EINVAL;
    *ret = (uint64_t)json_integer_value(v);
    return 0;
}

int image_records_read(int images_fd, const char *images_dir, ImageRecordList *ret, PdError *reterr)
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *data = NULL;
    _cleanup_json_ json_t *root = NULL;
    _cleanup_(image_record_list_done) ImageRecordList l = {};
    json_error_t jerr;
    json_t *images, *v;
    size_t size, i;
    int r;

    fd = openat(images_fd, IMAGE_RECORDS_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        *ret = (ImageRecordList){};
        return 0;
    }
    if (fd < 0)
        return pd_error_set(reterr, -errno, "cannot open %s/%s: %m", images_dir,
                            IMAGE_RECORDS_FILE);
    r = read_fd_full(fd, RECORDS_MAX, &data, &size);
    if (r < 0)
        return pd_error_set(reterr, r, "cannot read %s/%s: %s", images_dir, IMAGE_RECORDS_FILE,
                            strerror(-r));
    root = json_loadb(data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return pd_error_set_at(reterr, -EBADMSG, (unsigned)jerr.line, (unsigned)jerr.column,
                               "%s/%s: %s", images_dir, IMAGE_RECORDS_FILE, jerr.text);
    v = json_object_get(root, "version");
    if (!json_is_integer(v) || json_integer_value(v) != RECORDS_VERSION)
        return pd_error_set(reterr, -EBADMSG, "%s/%s: version: not %d", images_dir,
                            IMAGE_RECORDS_FILE, RECORDS_VERSION);
    images = json_object_get(root, "images");
    if (!json_is_array(images))
        return pd_error_set(reterr, -EBADMSG, "%s/%s: images: not an array", images_dir,
                            IMAGE_RECORDS_FILE);
    l.v = calloc(json_array_size(images) + 1, sizeof(ImageRecord));
    if (!l.v)
        return -ENOMEM;
    json_array_foreach(images, i, v)
    {
        ImageRecord *rec = &l.v[l.n];
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *digest = json_string_value(json_object_get(v, "digest"));

        if (!name || strlen(name) >= sizeof(rec->name) || !image_digest_is_valid(digest) ||
            json_u64(json_object_get(v, "size"), &rec->size) < 0 ||
            json_u64(json_object_get(v, "created"), &rec->created) < 0)
            return pd_error_set(reterr, -EBADMSG, "%s/%s: images[%zu]: invalid record", images_dir,
                                IMAGE_RECORDS_FILE, i);
        strcpy(rec->name, name);
        strcpy(rec->digest, digest);
        l.n++;
    }
    qsort(l.v, l.n, sizeof(ImageRecord), record_compare);
    *ret = l;
    l = (ImageRecordList){};
    return 0;
}

int image_records_write(int images_fd, const char *images_dir, ImageRecordList *l, PdError *reterr)
{
    _cleanup_json_ json_t *root = NULL, *images = json_array();
    _cleanup_free_ char *data = NULL;
    int r;

    if (!images)
        return -ENOMEM;
    qsort(l->v, l->n, sizeof(ImageRecord), record_compare);
    for (size_t i = 0; i < l->n; i++) {
        const ImageRecord *rec = &l->v[i];

        if (json_array_append_new(images,
                                  json_pack("{s:s,s:s,s:I,s:I}", "name", rec->name, "digest",
                                            rec->digest, "size", (json_int_t)rec->size, "created",
                                            (json_int_t)rec->created)) < 0)
            return -ENOMEM;
    }
    root = json_pack("{s:i,s:O}", "version", RECORDS_VERSION, "images", images);
    data = root ? json_dumps(root, JSON_INDENT(1)) : NULL;
    if (!data)
        return -ENOMEM;
    r = write_file_atomic_at(images_fd, IMAGE_RECORDS_FILE, data, strlen(data), 0600);
    if (r < 0)
        return pd_error_set(reterr, r, "cannot write %s/%s: %s", images_dir, IMAGE_RECORDS_FILE,
                            strerror(-r));
    return 0;
}

/*
 * One read-modify-write of the records file, under RECORDS_LOCK_FILE: put (when not NULL)
 * replaces the record of its name or is added; else the record named drop is removed
 * (-ENOENT when there is none).
 */
int image_records_update(int images_fd, const char *images_dir, const ImageRecord *put,
                         const char *drop, PdError *reterr)
{
    _cleanup_close_ int lock_fd = -1;
    _cleanup_(image_record_list_done) ImageRecordList l = {};
    ImageRecord *slot = NULL;
    size_t kept = 0;
    int r;

    lock_fd = image_records_lock(images_fd, images_dir, RECORDS_LOCK_FILE, reterr);
    if (lock_fd < 0)
        return lock_fd;
    r = image_records_read(images_fd, images_dir, &l, reterr);
    if (r < 0)
        return r;
    for (size_t i = 0; i < l.n; i++) {
        if (put && streq(l.v[i].name, put->name))
            slot = &l.v[i];
        if (!put && !streq(l.v[i].name, drop))
            l.v[kept++] = l.v[i];
    }
    if (put) {
        if (!slot) {
            /* image_records_read leaves room for one more record, or none when there was no file */
            if (!l.v && !(l.v = calloc(1, sizeof(ImageRecord))))
                return -ENOMEM;
            slot = &l.v[l.n++];
        }
        *slot = *put;
    } else {
        if (kept == l.n)
            return pd_error_set(reterr, -ENOENT, "image '%s' is not in the store", drop);
        l.n = kept;
    }
    return image_records_write(images_fd, images_dir, &l, reterr);
}

int image_records_normalise_name(const char *name, char buf[static IMAGE_NAME_SIZE],
                                 PdError *reterr)
{
    ImageReference ref;
    int r;

    r = image_reference_parse(name, &ref, reterr);
    if (r < 0)
        return r;
    r = image_reference_format(&ref, buf, IMAGE_NAME_SIZE);
    return r < 0 ? pd_error_set(reterr, r, "'%s': too long", name) : 0;
}

/* ---- layers ---------------------------------------------------------------------------------- */

static int mkdir_open(int dir_fd, const char *name, mode_t mode)
{
    int fd;

    if (mkdirat(dir_fd, name, mode) < 0 && errno != EEXIST)
        return -errno;
    fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* <images>/layers/sha256, created when create is true. */
int image_records_layers_open(int images_fd, bool create)
{
    _cleanup_close_ int layers_fd = -1;
    int fd;

    if (!create) {
        fd = openat(images_fd, "layers/sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
    }
    layers_fd = mkdir_open(images_fd, "layers", 0700);
    if (layers_fd < 0)
        return layers_fd;
    return mkdir_open(layers_fd, "sha256", 0700);
}

int image_store_records(const char *images_dir, ImageRecord **ret, size_t *ret_n, PdError *reterr)
{
    _cleanup_close_ int images_fd = -1;
    _cleanup_(image_record_list_done) ImageRecordList l = {};
    int r;

    images_fd = open(images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (images_fd < 0 && errno != ENOENT)
        return pd_error_set(reterr, -errno, "cannot open %s: %m", images_dir);
    if (images_fd >= 0) {
        r = image_records_read(images_fd, images_dir, &l, reterr);
        if (r < 0)
            return r;
    }
    if (l.n == 0)
        image_record_list_done(&l);
    *ret_n = l.n;
    *ret = move_ptr(l.v);
    return 0;
}

int image_store_find(const char *images_dir, const ImageReference *ref, ImageRecord *ret,
                     PdError *reterr)
{
    _cleanup_free_ ImageRecord *v = NULL;
    char name[IMAGE_NAME_SIZE];
    size_t n;
    int r;

    r = image_reference_format(ref, name, sizeof(name));
    if (r < 0)
        return pd_error_set(reterr, r, "image reference too long");
    r = image_store_records(images_dir, &v, &n, reterr);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++)
        if (streq(v[i].name, name)) {
            *ret = v[i];
            return 0;
        }
    for (size_t i = 0; ref->digest[0] && i < n; i++) {
        ImageReference other;

        if (streq(v[i].digest, ref->digest) &&
            image_reference_parse(v[i].name, &other, NULL) >= 0 &&
            streq(other.domain, ref->domain) && streq(other.path, ref->path)) {
            *ret = v[i];
            return 0;
        }
    }
    return pd_error_set(reterr, -ENOENT, "image '%s' is not in the store", name);
}

int image_store_untag(const char *images_dir, const char *name, PdError *reterr)
{
    _cleanup_close_ int images_fd = -1;

    images_fd = image_records_open_dir(images_dir, false, reterr);
    if (images_fd < 0)
        return images_fd;
    return image_records_update(images_fd, images_dir, NULL, name, reterr);
}

int image_store_open_image(const char *images_dir, const char *digest, ImageManifest **ret_manifest,
                           ImageConfig **ret_config, PdError *reterr)
{
    _cleanup_(image_manifest_freep) ImageManifest *m = NULL;
    _cleanup_(image_config_freep) ImageConfig *c = NULL;
    _cleanup_free_ char *data = NULL;
    char what[IMAGE_DIGEST_SIZE + 16];
    size_t size;
    int r;

    r = image_blob_read(images_dir, digest, &data, &size, reterr);
    if (r < 0)
        return r;
    (void)snprintf(what, sizeof(what), "manifest %s", digest);
    r = image_manifest_parse(data, size, what, NULL, &m, reterr);
    if (r < 0)
        return r;
    if (ret_config) {
        free(data);
        data = NULL;
        r = image_blob_read(images_dir, m->config.digest, &data, &size, reterr);
        if (r < 0)
            return r;
        (void)snprintf(what, sizeof(what), "config %s", m->config.digest);
        r = image_config_parse(data, size, what, &c, reterr);
        if (r < 0)
            return r;
        *ret_config = move_ptr(c);
    }
    if (ret_manifest)
        *ret_manifest = move_ptr(m);
    return 0;
}

/*
 * The directory of layer i of an image: by its diff_id, else by its blob's digest (a store
 * from before diff_id keys). New string, or NULL (ENOMEM) with *ret_found false when neither
 * exists (then the diff_id path).
 */
static char *layer_dir(const char *images_dir, const ImageManifest *m, const ImageConfig *c,
                       size_t i, bool *ret_found)
{
    const char *keys[] = {c->diff_ids[i], m->layers[i].digest};

    for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
        char *p = strdup_printf("%s/layers/sha256/%s", images_dir, image_digest_hex(keys[k]));
        struct stat st;

        if (!p || (stat(p, &st) == 0 && S_ISDIR(st.st_mode))) {
            *ret_found = p != NULL;
            return p;
        }
        free(p);
    }
    *ret_found = false;
    return strdup_printf("%s/layers/sha256/%s", images_dir, image_digest_hex(keys[0]));
}

/* The layer directories of the image of manifest m and config c (manifest digest digest). */
static int layer_dirs(const char *images_dir, const char *digest, const ImageManifest *m,
                      const ImageConfig *c, char ***ret, PdError *reterr)
{
    _cleanup_(strv_freep) char **dirs = NULL;
    int r;

    if (strv_length(c->diff_ids) != m->n_layers)
        return pd_error_set(reterr, -EBADMSG, "image %s: %zu diff_ids for %zu layers", digest,
                            strv_length(c->diff_ids), m->n_layers);
    for (size_t i = 0; i < m->n_layers; i++) {
        bool found;
        char *p = layer_dir(images_dir, m, c, i, &found);

        if (!p)
            return -ENOMEM;
        r = strv_push_take(&dirs, p);
        if (r < 0)
            return r;
        if (!found)
            return pd_error_set(reterr, -ENOENT, "image %s: layer %s is not unpacked in %s", digest,
                                m->layers[i].digest, images_dir);
    }
    if (!dirs) {
        /* An image without layers: one empty lower directory would do, but overlay needs one. */
        return pd_error_set(reterr, -ENOENT, "image %s has no layers", digest);
    }
    *ret = move_ptr(dirs);
    return 0;
}

int image_store_layer_dirs(const char *images_dir, const char *digest, char ***ret, PdError *reterr)
{
    _cleanup_(image_manifest_freep) ImageManifest *m = NULL;
    _cleanup_(image_config_freep) ImageConfig *c = NULL;
    int r;

    r = image_store_open_image(images_dir, digest, &m, &c, reterr);
    if (r < 0)
        return r;
    return layer_dirs(images_dir, digest, m, c, ret, reterr);
}

/* ---- garbage collection -------------------------------------------------------------------- */

static void closedirp(DIR **d)
{
    if (*d)
        (void)closedir(*d);
}

/* Removes the entries of dir_fd not in keep (by name); in blobs (!dirs) dot files stay. */
static int gc_dir(int dir_fd, char *const *keep, bool dirs, uint64_t *freed, unsigned *count)
{
    _cleanup_(closedirp) DIR *d = NULL;
    struct dirent *de;
    int fd, r = 0;

    fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d) {
        (void)close(fd);
        return -errno;
    }
    while ((de = readdir(d))) {
        struct stat st;
        uint64_t bytes = 0;
        int q;

        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        /* Blobs being written are ".tmp-" files of their writer; leave them. */
        if (!dirs && de->d_name[0] == '.')
            continue;
        if (de->d_name[0] != '.' && strv_contains(keep, de->d_name))
            continue;
        if (fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dir_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

            if (sub >= 0) {
                _cleanup_free_ char *path = strdup_printf("/proc/self/fd/%d", sub);

                if (path)
                    (void)image_disk_usage(path, &bytes);
                (void)close(sub);
            }
            q = rm_rf_at(dir_fd, de->d_name);
        } else {
            bytes = (uint64_t)st.st_blocks * 512u;
            q = unlinkat(dir_fd, de->d_name, 0) < 0 ? -errno : 0;
        }
        if (q < 0) {
            if (r == 0)
                r = q;
            continue;
        }
        *freed += bytes;
        (*count)++;
    }
    return r;
}

int image_store_gc(const char *images_dir, uint64_t *ret_freed, PdError *reterr)
{
    _cleanup_close_ int images_fd = -1, lock_fd = -1, blobs_fd = -1, layers_fd = -1,
                        records_lock_fd = -1;
    _cleanup_(image_record_list_done) ImageRecordList l = {};
    _cleanup_(strv_freep) char **blobs = NULL, **layers = NULL;
    uint64_t freed = 0, partial_freed = 0;
    unsigned count = 0;
    int r;

    images_fd = open(images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (images_fd < 0 && errno == ENOENT)
        goto done;
    if (images_fd < 0)
        return pd_error_set(reterr, -errno, "cannot open %s: %m", images_dir);
    /* A store of plain root filesystems only: nothing to collect, and no lock files made. */
    if (faccessat(images_fd, IMAGE_RECORDS_FILE, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
        faccessat(images_fd, "blobs", F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
        faccessat(images_fd, "layers", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
        goto done;
    lock_fd = image_records_lock(images_fd, images_dir, LOCK_FILE, reterr);
    if (lock_fd < 0)
        return lock_fd;
    /* Held for the read only: an add waits on LOCK_FILE, an untag only takes references away. */
    records_lock_fd = image_records_lock(images_fd, images_dir, RECORDS_LOCK_FILE, reterr);
    if (records_lock_fd < 0)
        return records_lock_fd;
    r = image_records_read(images_fd, images_dir, &l, reterr);
    (void)close(records_lock_fd);
    records_lock_fd = -1;
    if (r < 0)
        return r;
    /* What every record needs; an unreadable image stops the collection (nothing is guessed). */
    for (size_t i = 0; i < l.n; i++) {
        _cleanup_(image_manifest_freep) ImageManifest *m = NULL;
        _cleanup_(image_config_freep) ImageConfig *c = NULL;

        r = image_store_open_image(images_dir, l.v[i].digest, &m, &c, reterr);
        if (r < 0)
            return pd_error_prefix(reterr, r, "image '%s'", l.v[i].name);
        if (strv_extend(&blobs, image_digest_hex(l.v[i].digest)) < 0 ||
            strv_extend(&blobs, image_digest_hex(m->config.digest)) < 0)
            return -ENOMEM;
        /* Layer directories by diff_id, and by blob digest as older stores have them. */
        for (size_t k = 0; k < m->n_layers; k++)
            if (strv_extend(&blobs, image_digest_hex(m->layers[k].digest)) < 0 ||
                strv_extend(&layers, image_digest_hex(m->layers[k].digest)) < 0)
                return -ENOMEM;
        for (char **d = c->diff_ids; d && *d; d++)
            if (strv_extend(&layers, image_digest_hex(*d)) < 0)
                return -ENOMEM;
    }
    blobs_fd = image_blobs_dir_open(images_dir, false, NULL);
    if (blobs_fd >= 0) {
        r = gc_dir(blobs_fd, blobs, false, &freed, &count);
        if (r < 0)
            return pd_error_set(reterr, r, "cannot delete blobs in %s/blobs/sha256: %s", images_dir,
                                strerror(-r));
    }
    layers_fd = image_records_layers_open(images_fd, false);
    if (layers_fd >= 0) {
        r = gc_dir(layers_fd, layers, true, &freed, &count);
        if (r < 0)
            return pd_error_set(reterr, r, "cannot delete layers in %s/layers/sha256: %s",
                                images_dir, strerror(-r));
    }
    /* Downloads no pull will resume. */
    r = image_partials_clean(images_dir, IMAGE_PARTIAL_MAX_AGE_USEC, &partial_freed);
    if (r < 0)
        return pd_error_set(reterr, r,
                            "cannot delete partial downloads in %s/" IMAGE_PARTIAL_DIR ": %s",
                            images_dir, strerror(-r));
    freed += partial_freed;
    count += (unsigned)r;
done:
    if (ret_freed)
        *ret_freed = freed;
    return (int)count;
}

/* ---- resolving what a container runs ----------------------------------------------------- */

void image_resolved_done(ImageResolved *r)
{
    strv_free(r->layers);
    image_config_free(r->config);
    *r = (ImageResolved){};
}

static int resolve_dir(const char *dir, ImageResolved *ret)
{
    _cleanup_(strv_freep) char **layers = NULL;
    struct stat st;

    if (stat(dir, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (strv_extend(&layers, dir) < 0)
        return -ENOMEM;
    ret->layers = move_ptr(layers);
    return 0;
}

int image_store_resolve(const char *images_dir, const char *image, ImageResolved *ret,
                        PdError *reterr)
{
    _cleanup_(image_resolved_done) ImageResolved res = {};
    _cleanup_free_ char *dir = NULL;
    ImageReference ref;
    ImageRecord rec;
    char familiar[IMAGE_NAME_SIZE];
    int r;

    if (image[0] == '/') {
        if (strlen(image) >= sizeof(res.name))
            return pd_error_set(reterr, -ENAMETOOLONG, "image path too long");
        strcpy(res.name, image);
        r = resolve_dir(image, &res);
        if (r < 0)
            return pd_error_set(reterr, r, "image %s: %s", image, strerror(-r));
        *ret = res;
        res = (ImageResolved){};
        return 0;
    }
    r = image_reference_parse(image, &ref, reterr);
    if (r < 0)
        return r;
    r = image_store_find(images_dir, &ref, &rec, NULL);
    if (r >= 0) {
        strcpy(res.name, rec.name);
        strcpy(res.digest, rec.digest);
        _cleanup_(image_manifest_freep) ImageManifest *m = NULL;

        /* The manifest and config read once, for the layers and the configuration. */
        r = image_store_open_image(images_dir, rec.digest, &m, &res.config, reterr);
        if (r >= 0)
            r = layer_dirs(images_dir, rec.digest, m, res.config, &res.layers, reterr);
        if (r < 0)
            return pd_error_prefix(reterr, r, "image '%s'", rec.name);
        *ret = res;
        res = (ImageResolved){};
        return 0;
    }
    if (r != -ENOENT)
        return pd_error_set(reterr, r, "image '%s': %s", image, strerror(-r));
    (void)image_reference_format(&ref, res.name, sizeof(res.name));
    /* A plain root filesystem directory, by the name podctl image import gave it. */
    if (ref.digest[0] || image_reference_familiar_name(&ref, familiar, sizeof(familiar)) < 0)
        return pd_error_set(reterr, -ENOENT, "image '%s' is not in the store", res.name);
    dir = strdup_printf("%s/%s/%s", images_dir, familiar, ref.tag);
    if (!dir)
        return -ENOMEM;
    r = resolve_dir(dir, &res);
    if (r < 0)
        return pd_error_set(reterr, -ENOENT, "image '%s' is not in the store", res.name);
    *ret = res;
    res = (ImageResolved){};
    return 0;
}
