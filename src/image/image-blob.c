/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "image-internal.h"

void image_sha256_digest(Sha256 *s, char out[static IMAGE_DIGEST_SIZE])
{
    memcpy(out, "sha256:", 7);
    sha256_final_hex(s, out + 7);
}

bool image_digest_is_valid(const char *digest)
{
    if (!digest || !startswith(digest, "sha256:") || strlen(digest) != IMAGE_DIGEST_SIZE - 1)
        return false;
    for (const char *p = digest + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* ---- the blob store ------------------------------------------------------------------------ */

#define BLOB_CHUNK (128u * 1024u)

static int mkdir_at(int dir_fd, const char *name)
{
    if (mkdirat(dir_fd, name, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int image_blobs_dir_open(const char *images_dir, bool create, PdError *reterr)
{
    _cleanup_free_ char *path = strdup_printf("%s/blobs/sha256", images_dir);
    int fd;

    if (!path)
        return -ENOMEM;
    if (create) {
        _cleanup_close_ int images_fd = -1, blobs_fd = -1;
        int r;

        if (mkdir(images_dir, 0700) < 0 && errno != EEXIST)
            return pd_error_set(reterr, -errno, "cannot create %s: %m", images_dir);
        images_fd = open(images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (images_fd < 0)
            return pd_error_set(reterr, -errno, "cannot open %s: %m", images_dir);
        r = mkdir_at(images_fd, "blobs");
        if (r >= 0) {
            blobs_fd = openat(images_fd, "blobs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            r = blobs_fd < 0 ? -errno : mkdir_at(blobs_fd, "sha256");
        }
        if (r < 0)
            return pd_error_set(reterr, r, "cannot create %s: %s", path, strerror(-r));
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return pd_error_set(reterr, -errno, "cannot open %s: %m", path);
    return fd;
}

/* A temporary file beside the blobs; the name is "." + hex + random, never a blob's name. */
static int blob_tmp_create(int dir_fd, const char *hex, char name[static 96])
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";

    for (unsigned attempt = 0; attempt < 100; attempt++) {
        char rnd[9];
        int fd;

        for (size_t i = 0; i < 8; i++)
            rnd[i] = chars[(unsigned)random() % (sizeof(chars) - 1)];
        rnd[8] = 0;
        (void)snprintf(name, 96, ".tmp-%s-%s", hex, rnd);
        fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            return fd < 0 ? -errno : fd;
    }
    return -EEXIST;
}

/*
 * Streams src_fd (when >= 0) or data into a temporary file, hashing as it
 * goes, and renames it to its digest when the content is what was expected.
 */
static int blob_store(const char *images_dir, int src_fd, const void *data, uint64_t size,
                      const char *digest, char ret_digest[static IMAGE_DIGEST_SIZE],
                      PdError *reterr)
{
    _cleanup_close_ int dir_fd = -1, fd = -1;
    _cleanup_free_ uint8_t *buf = NULL;
    char tmp[96], got[IMAGE_DIGEST_SIZE];
    Sha256 sha;
    uint64_t n = 0;
    int r;

    if (digest && !image_digest_is_valid(digest))
        return pd_error_set(reterr, -EINVAL, "invalid digest '%s'", digest);
    dir_fd = image_blobs_dir_open(images_dir, true, reterr);
    if (dir_fd < 0)
        return dir_fd;
    if (digest && faccessat(dir_fd, image_digest_hex(digest), F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        strcpy(ret_digest, digest);
        return 0;
    }
    fd = blob_tmp_create(dir_fd, digest ? image_digest_hex(digest) : "data", tmp);
    if (fd < 0)
        return pd_error_set(reterr, fd, "cannot create a blob in %s/blobs/sha256: %s", images_dir,
                            strerror(-fd));
    sha256_init(&sha);
    if (src_fd >= 0) {
        buf = malloc(BLOB_CHUNK);
        if (!buf) {
            r = -ENOMEM;
            goto fail;
        }
        /* Read one byte past size at most: a longer source is wrong, however long. */
        while (n <= size) {
            ssize_t k = read(src_fd, buf, BLOB_CHUNK);

            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                r = pd_error_set(reterr, -errno, "cannot read blob %s: %m", digest);
                goto fail;
            }
            if (k == 0)
                break;
            sha256_update(&sha, buf, (size_t)k);
            r = write_full(fd, buf, (size_t)k);
            if (r < 0)
                goto write_fail;
            n += (uint64_t)k;
        }
    } else {
        sha256_update(&sha, data, size);
        r = write_full(fd, data, size);
        if (r < 0)
            goto write_fail;
        n = size;
    }
    image_sha256_digest(&sha, got);
    if (n != size) {
        r = pd_error_set(reterr, -EBADMSG, "blob %s: size %s %" PRIu64 " bytes, expected %" PRIu64,
                         digest, n > size ? "over" : "is", n, size);
        goto fail;
    }
    if (digest && !streq(got, digest)) {
        r = pd_error_set(reterr, -EBADMSG, "blob %s: content has digest %s (corrupt or wrong blob)",
                         digest, got);
        goto fail;
    }
    if (fsync(fd) < 0) {
        r = -errno;
        goto write_fail;
    }
    if (renameat(dir_fd, tmp, dir_fd, image_digest_hex(got)) < 0) {
        r = -errno;
        goto write_fail;
    }
    (void)fsync(dir_fd);
    strcpy(ret_digest, got);
    return 0;

write_fail:
    (void)pd_error_set(reterr, r, "cannot write blob %s: %s", digest ? digest : "from memory",
                       strerror(-r));
fail:
    (void)unlinkat(dir_fd, tmp, 0);
    return r;
}

int image_blob_write_fd(const char *images_dir, int fd, const char *digest, uint64_t size,
                        PdError *reterr)
{
    char got[IMAGE_DIGEST_SIZE];

    assert(fd >= 0 && digest);
    return blob_store(images_dir, fd, NULL, size, digest, got, reterr);
}

int image_blob_write_data(const char *images_dir, const void *data, size_t size,
                          char ret_digest[static IMAGE_DIGEST_SIZE], PdError *reterr)
{
    char got[IMAGE_DIGEST_SIZE];
    int r;

    r = blob_store(images_dir, -1, data, size, NULL, got, reterr);
    if (r >= 0 && ret_digest)
        strcpy(ret_digest, got);
    return r;
}

int image_blob_adopt(const char *images_dir, int dir_fd, const char *name, const char *digest,
                     PdError *reterr)
{
    _cleanup_close_ int blobs_fd = -1;

    if (!image_digest_is_valid(digest))
        return pd_error_set(reterr, -EINVAL, "invalid digest '%s'", digest ? digest : "");
    blobs_fd = image_blobs_dir_open(images_dir, true, reterr);
    if (blobs_fd < 0)
        return blobs_fd;
    if (faccessat(blobs_fd, image_digest_hex(digest), F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        (void)unlinkat(dir_fd, name, 0);
        return 0;
    }
    if (renameat(dir_fd, name, blobs_fd, image_digest_hex(digest)) < 0)
        return pd_error_set(reterr, -errno, "cannot store blob %s: %m", digest);
    (void)fsync(blobs_fd);
    return 0;
}

int image_blob_open(const char *images_dir, const char *digest, PdError *reterr)
{
    _cleanup_close_ int dir_fd = -1, fd = -1;
    struct stat st;

    if (!image_digest_is_valid(digest))
        return pd_error_set(reterr, -EINVAL, "invalid digest '%s'", digest ? digest : "");
    dir_fd = image_blobs_dir_open(images_dir, false, reterr);
    if (dir_fd < 0)
        return dir_fd;
    fd = openat(dir_fd, image_digest_hex(digest), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return pd_error_set(reterr, -errno, "blob %s: %m", digest);
    if (fstat(fd, &st) < 0)
        return pd_error_set(reterr, -errno, "blob %s: %m", digest);
    if (!S_ISREG(st.st_mode))
        return pd_error_set(reterr, -EBADMSG, "blob %s is not a regular file", digest);
    return move_fd(fd);
}

int image_blob_read(const char *images_dir, const char *digest, char **ret, size_t *ret_size,
                    PdError *reterr)
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *buf = NULL;
    char got[IMAGE_DIGEST_SIZE];
    Sha256 sha;
    size_t n;
    int r;

    fd = image_blob_open(images_dir, digest, reterr);
    if (fd < 0)
        return fd;
    r = read_fd_full(fd, IMAGE_DOCUMENT_MAX, &buf, &n);
    if (r == -EFBIG)
        return pd_error_set(reterr, r, "blob %s is larger than %u bytes", digest,
                            IMAGE_DOCUMENT_MAX);
    if (r < 0)
        return pd_error_set(reterr, r, "cannot read blob %s: %s", digest, strerror(-r));
    sha256_init(&sha);
    sha256_update(&sha, buf, n);
    image_sha256_digest(&sha, got);
    if (!streq(got, digest))
        return pd_error_set(reterr, -EBADMSG, "blob %s in the store has digest %s (corrupt)",
                            digest, got);
    *ret = move_ptr(buf);
    *ret_size = n;
    return 0;
}

/* ---- partial downloads ---------------------------------------------------------------------- */

int image_partials_clean(const char *images_dir, uint64_t max_age_usec, uint64_t *ret_freed)
{
    _cleanup_free_ char *path = strdup_printf("%s/" IMAGE_PARTIAL_DIR, images_dir);
    _cleanup_close_ int dir_fd = -1;
    uint64_t now = now_realtime_usec(), freed = 0;
    struct dirent *de;
    DIR *d;
    int n = 0, r = 0;

    if (!path)
        return -ENOMEM;
    if (ret_freed)
        *ret_freed = 0;
    dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir_fd < 0)
        return errno == ENOENT ? 0 : -errno;
    d = fdopendir(fcntl(dir_fd, F_DUPFD_CLOEXEC, 3));
    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        uint64_t mtime;

        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        fd = openat(dir_fd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        mtime = (uint64_t)st.st_mtim.tv_sec * 1000000u + (uint64_t)st.st_mtim.tv_nsec / 1000u;
        if (now >= mtime && now - mtime < max_age_usec)
            continue;
        /* A running pull holds its files: never delete one under it. */
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
            continue;
        if (unlinkat(dir_fd, de->d_name, 0) < 0) {
            if (r == 0)
                r = -errno;
            continue;
        }
        freed += (uint64_t)st.st_blocks * 512u;
        n++;
    }
    (void)closedir(d);
    if (ret_freed)
        *ret_freed = freed;
    return r < 0 ? r : n;
}
