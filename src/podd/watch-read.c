/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "watch-internal.h"

/* ---- reading one file ------------------------------------------------------------------- */

static const char *file_type_name(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    return "of an unknown type";
}

static bool path_is_inside(const char *dir, const char *path)
{
    size_t n = strlen(dir);

    if (streq(dir, "/"))
        return path[0] == '/';
    return strneq(path, dir, n) && path[n] == '/';
}

/*
 * Before opening a symlink: it must resolve inside the directory, so that
 * nothing outside (a device, a FIFO, a file of another user) is even
 * opened. Returns 1 when inside, 0 when dangling (the file is gone), or
 * -errno with err set.
 */
static int check_link_by_path(const ManifestWatcher *w, const char *name, PdError *err)
{
    _cleanup_free_ char *p = NULL, *resolved = NULL;

    if (!w->real_dir)
        return pd_error_set(err, -EXDEV, "symlink not followed: directory path unknown; skipped");
    p = strdup_printf("%s/%s", w->real_dir, name);
    if (!p)
        return pd_error_set(err, -ENOMEM, "out of memory");
    resolved = realpath(p, NULL);
    if (!resolved) {
        if (errno == ENOENT)
            return 0;
        return pd_error_set(err, -errno, "cannot resolve the symlink: %s", strerror(errno));
    }
    if (!path_is_inside(w->real_dir, resolved))
        return pd_error_set(err, -EXDEV,
                            "symlink resolves outside the manifest directory, to '%s'; skipped",
                            resolved);
    return 1;
}

/*
 * After opening through a symlink: what was opened is what counts (the
 * link may have been swapped between the check and the open). Without
 * /proc the check by path stands.
 */
static int check_link_by_fd(const ManifestWatcher *w, int fd, PdError *err)
{
    char proc[64], target[PATH_MAX];
    ssize_t n;

    (void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    n = readlink(proc, target, sizeof(target) - 1);
    if (n < 0)
        return 0;
    target[n] = 0;
    if (!path_is_inside(w->real_dir, target))
        return pd_error_set(err, -EXDEV,
                            "symlink resolves outside the manifest directory, to '%s'; skipped",
                            target);
    return 0;
}

/*
 * Reads the bytes of f. Returns 1 with *ret_buf (NUL-terminated) and
 * *ret_size, 0 when the file is gone (or a dangling symlink), -EAGAIN when
 * it is still being written (created, not yet closed), or another -errno
 * with err set when it cannot be used.
 */
static int watch_read(ManifestWatcher *w, WatchFile *f, bool relist, char **ret_buf,
                      size_t *ret_size, PdError *err)
{
    const char *name = f->pub.name;
    _cleanup_free_ char *buf = NULL;
    _cleanup_close_ int fd = -1;
    struct stat st;
    bool link = false;
    size_t size;
    int r;

    if (w->dir_fd < 0) {
        if (w->dir_missing)
            return 0;
        return pd_error_set(err, -EIO, "the manifest directory cannot be opened; nothing changes");
    }
    for (unsigned attempt = 0;; attempt++) {
        if (fstatat(w->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                return 0;
            return pd_error_set(err, -errno, "cannot stat: %s", strerror(errno));
        }
        link = f->is_link = S_ISLNK(st.st_mode);
        /* Never open what is not a regular file: a FIFO or a device may block or act on open. */
        if (!link && !S_ISREG(st.st_mode))
            return pd_error_set(err, -EBADFD, "not a regular file but %s; skipped",
                                file_type_name(st.st_mode));
        /*
         * Created but neither closed after writing nor renamed into place:
         * still being written, IN_CLOSE_WRITE follows. A hard link (a
         * second name) arrives complete with IN_CREATE only.
         */
        if (!link && !relist && (f->dirty_mask & IN_CREATE) &&
            !(f->dirty_mask & WATCH_COMPLETE_MASK) && st.st_nlink == 1)
            return -EAGAIN;
        if (link) {
            r = check_link_by_path(w, name, err);
            if (r <= 0)
                return r;
        }
        fd = openat(w->dir_fd, name,
                    O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (link ? 0 : O_NOFOLLOW));
        if (fd >= 0)
            break;
        if (errno == ENOENT)
            return 0;
        /* Replaced by a symlink between fstatat() and openat(): judge it again. */
        if (errno == ELOOP && !link && attempt == 0)
            continue;
        return pd_error_set(err, -errno, "cannot open: %s", strerror(errno));
    }
    if (fstat(fd, &st) < 0)
        return pd_error_set(err, -errno, "cannot stat: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return pd_error_set(err, -EBADFD, "not a regular file but %s; skipped",
                            file_type_name(st.st_mode));
    if (link) {
        r = check_link_by_fd(w, fd, err);
        if (r < 0)
            return r;
    }
    r = read_fd_full(fd, MANIFEST_MAX_BYTES, &buf, &size);
    if (r == -EFBIG)
        return pd_error_set_at(err, r, 1, 1, "the file is larger than %u bytes (1 MiB)",
                               MANIFEST_MAX_BYTES);
    if (r < 0)
        return pd_error_set(err, r, "cannot read: %s", strerror(-r));
    *ret_buf = move_ptr(buf);
    *ret_size = size;
    return 1;
}

/* Phase 1: reads one dirty file and records what changed about it; no entry is touched. */
int watch_file_refresh(ManifestWatcher *w, WatchFile *f)
{
    _cleanup_(manifest_file_freep) ManifestFile *mf = NULL;
    WatchParse *parse = NULL;
    _cleanup_free_ char *buf = NULL;
    char hash[MANIFEST_WATCH_HASH_LEN];
    bool relist = f->dirty_mask == 0;
    PdError err = {0};
    size_t size = 0;
    int r;

    r = watch_read(w, f, relist, &buf, &size, &err);
    f->dirty = false;
    f->dirty_mask = 0;
    if (r == -EAGAIN)
        return 0;
    if (r == 0) {
        log_debug("watch: '%s' is gone", f->pub.name);
        f->gone = f->changed = true;
        return 0;
    }
    if (r < 0) {
        pd_error_set_file(&err, f->pub.name);
        f->pub.content_hash[0] = 0;
        /* The same problem as last time was already reported. */
        if (f->has_error && f->error.code == err.code && streq(f->error.message, err.message))
            return 0;
        log_debug("watch: '%s' cannot be used: %s", f->pub.name, err.message);
        f->has_error = f->changed = true;
        f->error = err;
        return 0;
    }
    content_hash(buf, size, hash);
    if (streq(hash, f->pub.content_hash))
        return 0;
    r = manifest_parse_buffer(f->pub.name, buf, size, MANIFEST_FORMAT_AUTO, &mf, &err);
    if (r == -ENOMEM)
        return r;
    memcpy(f->pub.content_hash, hash, sizeof(hash));
    f->changed = true;
    if (r < 0) {
        pd_error_set_file(&err, f->pub.name);
        log_debug("watch: '%s' cannot be parsed: %s", f->pub.name, err.message);
        f->has_error = true;
        f->error = err;
        return 0;
    }
    r = watch_parse_new_take(move_ptr(mf), f->pub.name, &parse);
    if (r < 0) {
        f->pub.content_hash[0] = 0;
        f->changed = false;
        return r;
    }
    log_debug("watch: '%s' read, %zu document(s)", f->pub.name, parse->mf->n_docs);
    watch_parse_unref(f->parse);
    f->parse = parse;
    f->pub.parsed = parse->mf;
    f->has_error = false;
    f->new_parse = true;
    return 0;
}
