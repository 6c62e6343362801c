/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "image-internal.h"

/*
 * Adding an image to the records (image_store_add(), see image.h): apart
 * from image-records.c because it unpacks layers with libarchive, and podd,
 * which reads and untags records, does not carry that library.
 */

/*
 * Unpacks layer blob d into layers/sha256/<hex of diff_id>/ unless it is there, checking that
 * its content is diff_id. Under the lock.
 */
static int layer_unpack_once(const char *images_dir, int layers_fd, const ImageDescriptor *d,
                             const char *diff_id, unsigned flags, char ***warnings, PdError *reterr)
{
    _cleanup_close_ int blob_fd = -1, dir_fd = -1;
    _cleanup_(strv_freep) char **w = NULL;
    char tmp[IMAGE_DIGEST_SIZE + 16], got[IMAGE_DIGEST_SIZE];
    const char *hex = image_digest_hex(diff_id);
    int r;

    if (faccessat(layers_fd, hex, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    blob_fd = image_blob_open(images_dir, d->digest, reterr);
    if (blob_fd < 0)
        return pd_error_prefix(reterr, blob_fd, "layer %s", d->digest);
    (void)snprintf(tmp, sizeof(tmp), LAYER_TMP_PREFIX "%s", hex);
    /* A leftover of an unpack interrupted by a crash: nobody else unpacks while we hold the lock.
     */
    (void)rm_rf_at(layers_fd, tmp);
    if (mkdirat(layers_fd, tmp, 0755) < 0)
        return pd_error_set(reterr, -errno, "cannot create %s/layers/sha256/%s: %m", images_dir,
                            tmp);
    dir_fd = openat(layers_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir_fd < 0) {
        r = pd_error_set(reterr, -errno, "cannot open %s/layers/sha256/%s: %m", images_dir, tmp);
        goto fail;
    }
    r = image_layer_unpack(blob_fd, dir_fd, d->digest, flags, got, &w, reterr);
    if (r < 0)
        goto fail;
    /* Never another layer's directory under this one's name. */
    if (!streq(got, diff_id)) {
        r = pd_error_set(reterr, -EBADMSG,
                         "layer %s: uncompressed content has digest %s, the config's diff_id is %s",
                         d->digest, got, diff_id);
        goto fail;
    }
    if (fsync(dir_fd) < 0 || renameat(layers_fd, tmp, layers_fd, hex) < 0) {
        r = pd_error_set(reterr, -errno, "cannot store layer %s: %m", d->digest);
        goto fail;
    }
    for (char **p = w; p && *p; p++)
        if (warnings && (r = strv_extend(warnings, *p)) < 0)
            return r;
    return 1;

fail:
    (void)rm_rf_at(layers_fd, tmp);
    return r;
}

static int blob_check(const char *images_dir, int blobs_fd, const char *digest, const char *what,
                      PdError *reterr)
{
    if (faccessat(blobs_fd, image_digest_hex(digest), F_OK, AT_SYMLINK_NOFOLLOW) < 0)
        return pd_error_set(reterr, -errno, "%s %s: not in %s/blobs/sha256: %m", what, digest,
                            images_dir);
    return 0;
}

int image_store_add(const char *images_dir, const ImageLoaded *img, const char *name,
                    unsigned flags, ImageRecord *ret, char ***ret_warnings, PdError *reterr)
{
    _cleanup_close_ int images_fd = -1, lock_fd = -1, layers_fd = -1, blobs_fd = -1;
    _cleanup_(strv_freep) char **warnings = NULL;
    ImageRecord rec = {};
    int r;

    if (!name)
        name = img->name;
    if (!name)
        return pd_error_set(reterr, -EINVAL, "image %s has no name", img->manifest_digest);
    r = image_records_normalise_name(name, rec.name, reterr);
    if (r < 0)
        return r;
    if (!image_digest_is_valid(img->manifest_digest) || !img->manifest)
        return pd_error_set(reterr, -EINVAL, "image '%s': no manifest", rec.name);
    if (!img->config || strv_length(img->config->diff_ids) != img->manifest->n_layers)
        return pd_error_set(reterr, -EINVAL, "image '%s': no diff_id for each layer", rec.name);
    strcpy(rec.digest, img->manifest_digest);

    images_fd = image_records_open_dir(images_dir, true, reterr);
    if (images_fd < 0)
        return images_fd;
    lock_fd = image_records_lock(images_fd, images_dir, LOCK_FILE, reterr);
    if (lock_fd < 0)
        return lock_fd;
    blobs_fd = image_blobs_dir_open(images_dir, true, reterr);
    if (blobs_fd < 0)
        return blobs_fd;
    /* image_store_gc may have run between image_load and now: every blob must still be here. */
    r = blob_check(images_dir, blobs_fd, img->manifest_digest, "manifest", reterr);
    if (r >= 0)
        r = blob_check(images_dir, blobs_fd, img->manifest->config.digest, "config", reterr);
    for (size_t i = 0; r >= 0 && i < img->manifest->n_layers; i++)
        r = blob_check(images_dir, blobs_fd, img->manifest->layers[i].digest, "layer", reterr);
    if (r < 0)
        return pd_error_prefix(reterr, r, "image '%s'", rec.name);

    layers_fd = image_records_layers_open(images_fd, true);
    if (layers_fd < 0)
        return pd_error_set(reterr, layers_fd, "cannot create %s/layers/sha256: %s", images_dir,
                            strerror(-layers_fd));
    for (size_t i = 0; i < img->manifest->n_layers; i++) {
        const ImageDescriptor *d = &img->manifest->layers[i];
        _cleanup_free_ char *path = NULL;
        uint64_t bytes = 0;

        r = layer_unpack_once(images_dir, layers_fd, d, img->config->diff_ids[i], flags, &warnings,
                              reterr);
        if (r < 0)
            return pd_error_prefix(reterr, r, "image '%s'", rec.name);
        path = strdup_printf("%s/layers/sha256/%s", images_dir,
                             image_digest_hex(img->config->diff_ids[i]));
        if (!path)
            return -ENOMEM;
        if (image_disk_usage(path, &bytes) >= 0)
            rec.size += bytes;
    }
    rec.created = now_realtime_usec();

    r = image_records_update(images_fd, images_dir, &rec, NULL, reterr);
    if (r < 0)
        return r;
    if (ret)
        *ret = rec;
    if (ret_warnings)
        *ret_warnings = move_ptr(warnings);
    return 0;
}
