/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "base.h"

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

int write_file_atomic_at(int dir_fd, const char *name, const void *data, size_t size, mode_t mode)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;
    const char *p = data;
    int r;

    tmp = strdup_printf(".#%s.%ld.tmp", name, (long)getpid());
    if (!tmp)
        return -ENOMEM;
    fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    while (size > 0) {
        ssize_t n = write(fd, p, size);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            goto fail;
        }
        p += n;
        size -= (size_t)n;
    }
    if (fsync(fd) < 0) {
        r = -errno;
        goto fail;
    }
    if (renameat(dir_fd, tmp, dir_fd, name) < 0) {
        r = -errno;
        goto fail;
    }
    /* The rename is durable only once the directory itself is synced. */
    if (fsync(dir_fd) < 0)
        return -errno;
    return 0;
fail:
    (void)unlinkat(dir_fd, tmp, 0);
    return r;
}

uint64_t now_monotonic_usec(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t now_realtime_usec(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
