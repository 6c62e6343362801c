/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unpacking one image layer (a tar, plain or compressed) into its own
 * directory, in the form overlayfs reads as a lower layer.
 *
 * Safety does not rest on string checks: every parent directory is opened
 * with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
 * | RESOLVE_NO_XDEV) from the layer directory's fd, and the last component
 * is created or replaced with *at() calls that never follow it. So a
 * symlink planted by an earlier entry can never serve as a parent, and a
 * ".." or an absolute name can never climb out. The string checks only give
 * clearer messages (a ".." component is refused by name; an absolute name
 * is read relative to the layer, as containerd and Docker read it).
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "image-internal.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define OVERLAY_XATTR_PREFIX "trusted.overlay."
#define OVERLAY_OPAQUE_XATTR "trusted.overlay.opaque"
#define WARNINGS_MAX 100

typedef struct DirTimes {
    char *path;
    struct timespec ts[2];
} DirTimes;

typedef struct Unpack {
    int root_fd;
    const char *layer;
    unsigned flags;
    char **warnings;
    size_t n_warnings;
    DirTimes *dirs;
    size_t n_dirs, cap_dirs;
    PdError *reterr;
} Unpack;

static void unpack_done(Unpack *u)
{
    for (size_t i = 0; i < u->n_dirs; i++)
        free(u->dirs[i].path);
    free(u->dirs);
    strv_free(u->warnings);
}

static void archive_freep(struct archive **a)
{
    if (*a)
        (void)archive_read_free(*a);
}

_printf_(4, 5) static int fail(Unpack *u, const char *entry, int r, const char *fmt, ...)
{
    char what[PD_ERROR_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (entry)
        return pd_error_set(u->reterr, r, "layer '%s': entry '%s': %s", u->layer, entry, what);
    return pd_error_set(u->reterr, r, "layer '%s': %s", u->layer, what);
}

_printf_(3, 4) static int warn(Unpack *u, const char *entry, const char *fmt, ...)
{
    char what[512];
    char *s;
    va_list ap;

    if (++u->n_warnings > WARNINGS_MAX)
        return 0;
    va_start(ap, fmt);
    (void)vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    s = strdup_printf("layer '%s': entry '%s': %s", u->layer, entry, what);
    if (!s)
        return -ENOMEM;
    return strv_push_take(&u->warnings, s);
}

/*
 * Rewrites a tar name as components joined by '/' relative to the layer
 * ("/a//./b/" is "a/b"; "./" is ""). Returns 0, -EINVAL for a ".."
 * component, or -ENAMETOOLONG.
 */
static int clean_path(const char *name, char *buf, size_t size)
{
    size_t len = 0;

    for (const char *p = name; *p;) {
        size_t n = strcspn(p, "/");

        if (n == 2 && strneq(p, "..", 2))
            return -EINVAL;
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (len + (len > 0) + n + 1 > size || n > NAME_MAX)
                return -ENAMETOOLONG;
            if (len > 0)
                buf[len++] = '/';
            memcpy(buf + len, p, n);
            len += n;
        }
        p += n;
        p += strspn(p, "/");
    }
    buf[len] = 0;
    return 0;
}

static int open_beneath(int dir_fd, const char *path)
{
    struct open_how how = {
        .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    long fd = syscall(SYS_openat2, dir_fd, path, &how, sizeof(how));

    return fd < 0 ? -errno : (int)fd;
}

static const char *resolve_reason(int r)
{
    switch (r) {
    case -ELOOP:
        return "goes through a symlink";
    case -ENOTDIR:
        return "goes through something that is not a directory";
    case -EXDEV:
        return "leads outside the layer";
    case -ENOENT:
        return "does not exist";
    default:
        return strerror(-r);
    }
}

/*
 * Opens the directory holding path (a clean_path() result, not empty) and
 * points *ret_last at path's last component. With create, missing parents
 * are made (0755, root-owned, as tar does). Returns the fd or -errno,
 * reterr naming entry and what (the entry itself when NULL).
 */
static int open_parent(Unpack *u, const char *entry, const char *what, const char *path,
                       bool create, const char **ret_last)
{
    _cleanup_free_ char *dir = NULL;
    const char *slash = strrchr(path, '/');
    int fd;

    *ret_last = slash ? slash + 1 : path;
    dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return -ENOMEM;
    fd = open_beneath(u->root_fd, dir);
    if (fd == -ENOENT && create) {
        _cleanup_close_ int cur = open_beneath(u->root_fd, ".");
        char *save = NULL;

        if (cur < 0)
            return fail(u, entry, cur, "cannot open the layer directory: %s", strerror(-cur));
        for (char *c = strtok_r(dir, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
            int next = open_beneath(cur, c);

            if (next == -ENOENT) {
                if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST)
                    return fail(u, entry, -errno, "cannot create parent '%s': %s", c,
                                strerror(errno));
                next = open_beneath(cur, c);
            }
            if (next < 0)
                return fail(u, entry, next, "%s%sparent '%s' %s", what ?: "", what ? ": " : "", c,
                            resolve_reason(next));
            closep(&cur);
            cur = next;
        }
        return move_fd(cur);
    }
    if (fd < 0)
        return fail(u, entry, fd, "%s%sparent directory '%s' %s", what ?: "", what ? ": " : "", dir,
                    resolve_reason(fd));
    return fd;
}

/*
 * Clears the way for a new entry named last in parent_fd: a later tar
 * entry replaces an earlier one, except that a directory over a directory
 * merges. Returns 1 when a directory to keep is there, 0 when the name is
 * free, or -errno.
 */
static int make_room(int parent_fd, const char *last, bool want_dir)
{
    struct stat st;

    if (fstatat(parent_fd, last, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (S_ISDIR(st.st_mode))
        return want_dir ? 1 : rm_rf_at(parent_fd, last);
    return unlinkat(parent_fd, last, 0) < 0 ? -errno : 0;
}

static int apply_xattrs(Unpack *u, const char *entry, int parent_fd, const char *last,
                        struct archive_entry *e)
{
    _cleanup_(strv_freep) char **seen = NULL;
    char proc[64 + NAME_MAX];
    const char *name;
    const void *value;
    size_t size;

    if (archive_entry_xattr_reset(e) == 0)
        return 0;
    /* lsetxattr() on the entry through its parent's fd: no path outside our fds is walked. */
    (void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", parent_fd, last);
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        int r;

        /* libarchive's pax writer stores each attribute twice (LIBARCHIVE.xattr and SCHILY.xattr).
         */
        if (strv_contains(seen, name))
            continue;
        r = strv_extend(&seen, name);
        if (r < 0)
            return r;
        /* overlayfs reads these as instructions (opaque, redirect, metacopy): never from a layer.
         */
        if (startswith(name, OVERLAY_XATTR_PREFIX)) {
            r = warn(u, entry, "extended attribute '%s' ignored (reserved for overlayfs)", name);
            if (r < 0)
                return r;
            continue;
        }
        if (lsetxattr(proc, name, value, size, 0) == 0)
            continue;
        /* Linux allows user.* attributes on files and directories only (EPERM elsewhere). */
        if (errno == EOPNOTSUPP || (errno == EPERM && startswith(name, "user."))) {
            r = warn(u, entry, "extended attribute '%s' cannot be set here (%s); skipped", name,
                     strerror(errno));
            if (r < 0)
                return r;
            continue;
        }
        return fail(u, entry, -errno, "cannot set extended attribute '%s': %s", name,
                    strerror(errno));
    }
    return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
    ts[1] = archive_entry_mtime_is_set(e)
                ? (struct timespec){archive_entry_mtime(e), archive_entry_mtime_nsec(e)}
                : (struct timespec){0, UTIME_OMIT};
    ts[0] = archive_entry_atime_is_set(e)
                ? (struct timespec){archive_entry_atime(e), archive_entry_atime_nsec(e)}
                : ts[1];
}

/*
 * Owner, then mode (chown clears set-id bits), then xattrs (chown clears
 * security.capability), then times; a directory's times wait until its
 * children are in (each of them changes the directory's mtime).
 */
static int apply_metadata(Unpack *u, const char *entry, const char *path, int parent_fd,
                          const char *last, struct archive_entry *e)
{
    mode_t type = archive_entry_filetype(e);
    struct timespec ts[2];
    int r;

    if (archive_entry_uid(e) < 0 || archive_entry_uid(e) >= UINT32_MAX ||
        archive_entry_gid(e) < 0 || archive_entry_gid(e) >= UINT32_MAX)
        return fail(u, entry, -EINVAL, "owner %lld:%lld out of range",
                    (long long)archive_entry_uid(e), (long long)archive_entry_gid(e));
    if (fchownat(parent_fd, last, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                 AT_SYMLINK_NOFOLLOW) < 0)
        return fail(u, entry, -errno, "cannot set owner: %s", strerror(errno));
    /* Linux has no mode for a symlink; everything else was just created by us, not a symlink. */
    if (type != AE_IFLNK && fchmodat(parent_fd, last, archive_entry_perm(e) & 07777, 0) < 0)
        return fail(u, entry, -errno, "cannot set mode: %s", strerror(errno));
    r = apply_xattrs(u, entry, parent_fd, last, e);
    if (r < 0)
        return r;

    entry_times(e, ts);
    if (type == AE_IFDIR) {
        if (u->n_dirs == u->cap_dirs) {
            size_t cap = u->cap_dirs ? 2 * u->cap_dirs : 64;
            DirTimes *d = reallocarray(u->dirs, cap, sizeof(*d));

            if (!d)
                return -ENOMEM;
            u->dirs = d;
            u->cap_dirs = cap;
        }
        u->dirs[u->n_dirs].path = strdup(path);
        if (!u->dirs[u->n_dirs].path)
            return -ENOMEM;
        memcpy(u->dirs[u->n_dirs++].ts, ts, sizeof(ts));
        return 0;
    }
    if (utimensat(parent_fd, last, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(u, entry, -errno, "cannot set times: %s", strerror(errno));
    return 0;
}

static int write_data(Unpack *u, const char *entry, struct archive *a, int fd,
                      struct archive_entry *e)
{
    for (;;) {
        const void *buf;
        size_t size;
        la_int64_t offset;
        int r = archive_read_data_block(a, &buf, &size, &offset), w;

        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return fail(u, entry, -EIO, "%s", archive_error_string(a));
        w = pwrite_full(fd, buf, size, offset);
        if (w < 0)
            return fail(u, entry, w, "cannot write: %s", strerror(-w));
    }
    /* A sparse file's trailing hole. */
    if (archive_entry_size_is_set(e) && ftruncate(fd, archive_entry_size(e)) < 0)
        return fail(u, entry, -errno, "cannot set size: %s", strerror(errno));
    return 0;
}

/* overlayfs's forms: a whiteout is a 0:0 character device, an opaque directory an xattr. */
static int unpack_whiteout(Unpack *u, const char *entry, const char *path)
{
    _cleanup_close_ int parent_fd = -1;
    const char *last, *name;
    struct stat st;

    parent_fd = open_parent(u, entry, NULL, path, true, &last);
    if (parent_fd < 0)
        return parent_fd;
    if (streq(last, WHITEOUT_OPAQUE)) {
        if (fsetxattr(parent_fd, OVERLAY_OPAQUE_XATTR, "y", 1, 0) < 0)
            return fail(u, entry, -errno, "cannot mark the directory opaque: %s", strerror(errno));
        return 0;
    }
    if (startswith(last, WHITEOUT_META_PREFIX))
        return 0; /* aufs bookkeeping (.wh..wh.plnk and the like): not content */
    name = last + strlen(WHITEOUT_PREFIX);
    if (!*name || streq(name, "."))
        return fail(u, entry, -EINVAL, "whiteout of nothing");
    /* A whiteout hides lower layers only: this layer's own entry of that name stays. */
    if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    if (mknodat(parent_fd, name, S_IFCHR, makedev(0, 0)) < 0)
        return fail(u, entry, -errno, "cannot create the whiteout of '%s': %s", name,
                    strerror(errno));
    return 0;
}

static int unpack_hardlink(Unpack *u, const char *entry, int parent_fd, const char *last,
                           const char *target_name)
{
    _cleanup_close_ int target_fd = -1;
    char target[PATH_MAX], what[64 + PATH_MAX];
    const char *target_last;
    struct stat st;
    int r;

    r = clean_path(target_name, target, sizeof(target));
    if (r < 0 || !target[0])
        return fail(u, entry, r < 0 ? r : -EINVAL, "hard link target '%s' is not in the layer",
                    target_name);
    (void)snprintf(what, sizeof(what), "hard link target '%s'", target_name);
    target_fd = open_parent(u, entry, what, target, false, &target_last);
    if (target_fd < 0)
        return target_fd;
    if (fstatat(target_fd, target_last, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(u, entry, -errno, "hard link target '%s': %s", target_name, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return fail(u, entry, -EINVAL, "hard link target '%s' is a directory", target_name);
    r = make_room(parent_fd, last, false);
    if (r < 0)
        return fail(u, entry, r, "cannot replace the existing entry: %s", strerror(-r));
    /* flags 0: a symlink target is linked itself, never followed. */
    if (linkat(target_fd, target_last, parent_fd, last, 0) < 0)
        return fail(u, entry, -errno, "cannot link to '%s': %s", target_name, strerror(errno));
    return 0;
}

static int unpack_entry(Unpack *u, struct archive *a, struct archive_entry *e)
{
    _cleanup_close_ int parent_fd = -1, fd = -1;
    const char *entry = archive_entry_pathname(e), *last;
    char path[PATH_MAX];
    mode_t type = archive_entry_filetype(e);
    int r;

    if (!entry)
        return fail(u, NULL, -EINVAL, "an entry has no name");
    r = clean_path(entry, path, sizeof(path));
    if (r == -EINVAL)
        return fail(u, entry, r, "a '..' component would leave the layer");
    if (r < 0)
        return fail(u, entry, r, "name too long");
    if (!path[0])
        return 0; /* the layer's root: the directory we were given */
    last = strrchr(path, '/');
    if (startswith(last ? last + 1 : path, WHITEOUT_PREFIX))
        return unpack_whiteout(u, entry, path);

    if ((type == AE_IFCHR || type == AE_IFBLK) && !archive_entry_hardlink(e)) {
        if (!(u->flags & IMAGE_LAYER_SKIP_DEVICES))
            return fail(u, entry, -EPERM, "device nodes are refused");
        return warn(u, entry, "%s device %lu:%lu skipped", type == AE_IFCHR ? "character" : "block",
                    (unsigned long)archive_entry_rdevmajor(e),
                    (unsigned long)archive_entry_rdevminor(e));
    }

    parent_fd = open_parent(u, entry, NULL, path, true, &last);
    if (parent_fd < 0)
        return parent_fd;
    if (archive_entry_hardlink(e))
        return unpack_hardlink(u, entry, parent_fd, last, archive_entry_hardlink(e));

    r = make_room(parent_fd, last, type == AE_IFDIR);
    if (r < 0)
        return fail(u, entry, r, "cannot replace the existing entry: %s", strerror(-r));
    switch (type) {
    case AE_IFDIR:
        if (r == 0 && mkdirat(parent_fd, last, 0700) < 0)
            return fail(u, entry, -errno, "cannot create: %s", strerror(errno));
        break;
    case AE_IFREG:
        fd = openat(parent_fd, last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return fail(u, entry, -errno, "cannot create: %s", strerror(errno));
        r = write_data(u, entry, a, fd, e);
        if (r < 0)
            return r;
        break;
    case AE_IFLNK:
        if (!archive_entry_symlink(e))
            return fail(u, entry, -EINVAL, "symlink without a target");
        if (symlinkat(archive_entry_symlink(e), parent_fd, last) < 0)
            return fail(u, entry, -errno, "cannot create: %s", strerror(errno));
        break;
    case AE_IFIFO:
        if (mknodat(parent_fd, last, S_IFIFO | 0600, 0) < 0)
            return fail(u, entry, -errno, "cannot create: %s", strerror(errno));
        break;
    default:
        return warn(u, entry, "entry of type 0%o skipped", (unsigned)type);
    }
    return apply_metadata(u, entry, path, parent_fd, last, e);
}

/* Directory times last, once nothing more is created inside them. */
static int apply_dir_times(Unpack *u)
{
    for (size_t i = 0; i < u->n_dirs; i++) {
        _cleanup_close_ int parent_fd = -1;
        _cleanup_free_ char *dir = NULL;
        const char *path = u->dirs[i].path, *slash = strrchr(path, '/');
        const char *last = slash ? slash + 1 : path;
        struct stat st;

        dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
        if (!dir)
            return -ENOMEM;
        /* Gone or replaced by a later entry of another type: that one has its own times. */
        parent_fd = open_beneath(u->root_fd, dir);
        if (parent_fd < 0 || fstatat(parent_fd, last, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISDIR(st.st_mode))
            continue;
        if (utimensat(parent_fd, last, u->dirs[i].ts, AT_SYMLINK_NOFOLLOW) < 0)
            return fail(u, u->dirs[i].path, -errno, "cannot set times: %s", strerror(errno));
    }
    return 0;
}

/*
 * The layer's tar stream as the tar reader gets it: the blob decompressed by a
 * second archive (gzip, zstd or none, "raw" format), hashed on the way, so
 * that the diff_id comes from the very bytes that were unpacked.
 */
typedef struct Stream {
    struct archive *raw;
    Sha256 sha;
} Stream;

static la_ssize_t stream_read(struct archive *a, void *userdata, const void **buf)
{
    Stream *s = userdata;
    size_t size = 0;
    la_int64_t offset;
    int r;

    do
        r = archive_read_data_block(s->raw, buf, &size, &offset);
    while (r >= ARCHIVE_WARN && r != ARCHIVE_EOF && size == 0);
    if (r == ARCHIVE_EOF)
        return 0;
    if (r < ARCHIVE_WARN) {
        archive_set_error(a, archive_errno(s->raw) ? archive_errno(s->raw) : EINVAL, "%s",
                          archive_error_string(s->raw) ? archive_error_string(s->raw)
                                                       : "read error");
        return -1;
    }
    sha256_update(&s->sha, *buf, size);
    return (la_ssize_t)size;
}

static int stream_open(Unpack *u, Stream *s, int layer_fd)
{
    struct archive_entry *e;
    int r;

    s->raw = archive_read_new();
    if (!s->raw)
        return -ENOMEM;
    sha256_init(&s->sha);
    if (archive_read_support_filter_gzip(s->raw) != ARCHIVE_OK ||
        archive_read_support_filter_zstd(s->raw) != ARCHIVE_OK ||
        archive_read_support_format_raw(s->raw) != ARCHIVE_OK)
        return fail(u, NULL, -EOPNOTSUPP, "libarchive: %s", archive_error_string(s->raw));
    if (archive_read_open_fd(s->raw, layer_fd, 128 * 1024) != ARCHIVE_OK)
        return fail(u, NULL, -EINVAL, "cannot read: %s", archive_error_string(s->raw));
    r = archive_read_next_header(s->raw, &e);
    if (r < ARCHIVE_WARN)
        return fail(u, NULL, -EINVAL, "cannot read: %s", archive_error_string(s->raw));
    return 0;
}

int image_layer_unpack(int layer_fd, int dir_fd, const char *layer, unsigned flags,
                       char *ret_diff_id, char ***ret_warnings, PdError *reterr)
{
    _cleanup_(archive_freep) struct archive *raw = NULL;
    _cleanup_(archive_freep) struct archive *a = NULL; /* freed first: it reads from raw */
    Unpack u = {.root_fd = dir_fd, .layer = layer, .flags = flags, .reterr = reterr};
    _cleanup_free_ char *prev = NULL;
    Stream st = {};
    int r = 0;

    r = stream_open(&u, &st, layer_fd);
    raw = st.raw;
    if (r < 0)
        return r;
    a = archive_read_new();
    if (!a)
        return -ENOMEM;
    if (archive_read_support_format_tar(a) != ARCHIVE_OK)
        return fail(&u, NULL, -EOPNOTSUPP, "libarchive: %s", archive_error_string(a));
    if (archive_read_open(a, &st, NULL, stream_read, NULL) != ARCHIVE_OK)
        return fail(&u, NULL, -EINVAL, "not a tar archive (plain, gzip or zstd): %s",
                    archive_error_string(a));

    for (;;) {
        struct archive_entry *e;
        int ar = archive_read_next_header(a, &e);

        if (ar == ARCHIVE_EOF)
            break;
        if (ar < ARCHIVE_WARN) {
            r = prev
                    ? fail(&u, NULL, -EINVAL, "after entry '%s': %s", prev, archive_error_string(a))
                    : fail(&u, NULL, -EINVAL, "%s", archive_error_string(a));
            break;
        }
        r = unpack_entry(&u, a, e);
        if (r < 0)
            break;
        free(prev);
        prev = strdup(archive_entry_pathname(e) ?: "");
        if (!prev) {
            r = -ENOMEM;
            break;
        }
    }
    if (r >= 0)
        r = apply_dir_times(&u);
    if (r >= 0) {
        /* What follows the end-of-archive blocks is part of the diff_id too. */
        const void *buf;
        la_ssize_t n;

        while ((n = stream_read(a, &st, &buf)) > 0)
            ;
        if (n < 0)
            r = fail(&u, NULL, -EINVAL, "after the end of the archive: %s",
                     archive_error_string(a));
    }
    if (r >= 0 && ret_diff_id) {
        memcpy(ret_diff_id, "sha256:", 7);
        sha256_final_hex(&st.sha, ret_diff_id + 7);
    }
    if (r >= 0 && u.n_warnings > WARNINGS_MAX) {
        char *s =
            strdup_printf("layer '%s': %zu more warnings", layer, u.n_warnings - WARNINGS_MAX);

        r = s ? strv_push_take(&u.warnings, s) : -ENOMEM;
    }
    if (r >= 0 && ret_warnings)
        *ret_warnings = move_ptr(u.warnings);
    unpack_done(&u);
    return r < 0 ? r : 0;
}
