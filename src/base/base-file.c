/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "base.h"

ssize_t pread_full(int fd, void *buf, size_t size, off_t off)
{
    size_t done = 0;

    while (done < size) {
        ssize_t n = pread(fd, (char *)buf + done, size - done, off + (off_t)done);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int pwrite_full(int fd, const void *buf, size_t size, off_t off)
{
    while (size > 0) {
        ssize_t n = pwrite(fd, buf, size, off);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf = (const char *)buf + n;
        off += n;
        size -= (size_t)n;
    }
    return 0;
}

int write_full(int fd, const void *buf, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, buf, size);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf = (const char *)buf + n;
        size -= (size_t)n;
    }
    return 0;
}

int read_fd_full(int fd, size_t max, char **ret, size_t *ret_size)
{
    _cleanup_free_ char *buf = NULL;
    size_t size = 0, cap = 0;

    /* Reading max + 1 bytes is enough to tell "too large" from "exactly max". */
    for (;;) {
        ssize_t n;

        if (size + 1 >= cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            char *nb;

            if (ncap > max + 2)
                ncap = max + 2;
            nb = realloc(buf, ncap);
            if (!nb)
                return -ENOMEM;
            buf = nb;
            cap = ncap;
        }
        n = read(fd, buf + size, cap - size - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        size += (size_t)n;
        if (size > max)
            return -EFBIG;
    }
    buf[size] = 0;
    *ret = move_ptr(buf);
    if (ret_size)
        *ret_size = size;
    return 0;
}

bool write_file_is_temp(const char *name)
{
    return startswith(name, ".#") && endswith(name, ".tmp");
}

/* Syncs the directory path lies in (relative to dir_fd), which makes a rename there durable. */
static int sync_parent(int dir_fd, const char *path)
{
    const char *slash = strrchr(path, '/');
    _cleanup_free_ char *dir = NULL;
    _cleanup_close_ int fd = -1;

    if (!slash && dir_fd != AT_FDCWD)
        return fsync(dir_fd) < 0 ? -errno : 0;
    if (!slash)
        fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    else if (slash == path)
        fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    else {
        dir = strndup(path, (size_t)(slash - path));
        if (!dir)
            return -ENOMEM;
        fd = openat(dir_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0 || fsync(fd) < 0)
        return -errno;
    return 0;
}

int write_file_atomic(int dir_fd, const char *path, const void *data, size_t size, mode_t mode,
                      WriteFileFlags flags)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;
    const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
    int r;

    if (!*name)
        return -EINVAL;
    /* The temporary lies beside path, so that the rename stays in one file system. */
    tmp = strdup_printf("%.*s.#%s.%ld.tmp", (int)(name - path), path, name, (long)getpid());
    if (!tmp)
        return -ENOMEM;
    fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    r = write_full(fd, data, size);
    if (r < 0)
        goto fail;
    if ((flags & WRITE_FILE_SYNC) && fsync(fd) < 0) {
        r = -errno;
        goto fail;
    }
    if (renameat(dir_fd, tmp, dir_fd, path) < 0) {
        r = -errno;
        goto fail;
    }
    /* The rename is durable only once the directory itself is synced. */
    return flags & WRITE_FILE_SYNC ? sync_parent(dir_fd, path) : 0;
fail:
    (void)unlinkat(dir_fd, tmp, 0);
    return r;
}

static int rm_rf_entry(int dir_fd, const char *name, const dev_t *dev);

/* Removes the entries of the directory fd (which it consumes), staying on file system dev. */
static int rm_rf_children(int fd, dev_t dev)
{
    DIR *d = fdopendir(fd);
    struct dirent *de;
    int r = 0;

    if (!d) {
        r = -errno;
        (void)close(fd);
        return r;
    }
    while ((de = readdir(d))) {
        int q;

        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        q = rm_rf_entry(dirfd(d), de->d_name, &dev);
        if (q < 0 && r == 0)
            r = q;
    }
    (void)closedir(d);
    return r;
}

static int rm_rf_entry(int dir_fd, const char *name, const dev_t *dev)
{
    struct stat st;
    int fd, r, err;

    /* Most entries are files: one unlinkat() each, and a stat only for directories. */
    if (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT)
        return 0;
    err = -errno;
    if (err != -EISDIR && err != -EPERM)
        return err;
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return err;
    if (dev && st.st_dev != *dev)
        return -EBUSY; /* a mount point: never descend into another file system */
    fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    r = rm_rf_children(fd, st.st_dev); /* consumes fd */
    if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
        r = -errno;
    return r;
}

int rm_rf_at(int dir_fd, const char *path)
{
    return rm_rf_entry(dir_fd, path, NULL);
}

int close_fds_except(const int *keep, size_t n)
{
    unsigned lo = 3;

    /* Each round closes the gap below the lowest kept fd not passed yet. */
    for (;;) {
        unsigned next = ~0u;

        for (size_t i = 0; i < n; i++)
            if (keep[i] >= 0 && (unsigned)keep[i] >= lo && (unsigned)keep[i] < next)
                next = (unsigned)keep[i];
        if (next == ~0u)
            return close_range(lo, ~0u, 0) < 0 ? -errno : 0;
        if (next > lo && close_range(lo, next - 1, 0) < 0)
            return -errno;
        lo = next + 1;
    }
}
