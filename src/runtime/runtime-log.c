/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "runtime-internal.h"

static int cri_log_reopen(CriLog *l)
{
    const char *base = strrchr(l->path, '/') + 1;
    struct stat st;
    int fd;

    fd = openat(l->dir_fd, base, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
                0640);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        int r = -errno;

        close(fd);
        return r;
    }
    if (l->fd >= 0)
        close(l->fd);
    l->fd = fd;
    l->size = (uint64_t)st.st_size;
    return 0;
}

int cri_log_open(CriLog *l, const char *path, uint64_t max_bytes)
{
    _cleanup_free_ char *dir = NULL;
    char *slash;
    int r;

    *l = (CriLog){.fd = -1, .dir_fd = -1, .max_bytes = max_bytes};
    if (path[0] != '/')
        return -EINVAL;
    l->path = strdup(path);
    dir = strdup(path);
    if (!l->path || !dir) {
        cri_log_done(l);
        return -ENOMEM;
    }
    slash = strrchr(dir, '/');
    *slash = 0;
    r = mkdir_p(dir[0] ? dir : "/", 0755);
    if (r >= 0) {
        l->dir_fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = l->dir_fd < 0 ? -errno : cri_log_reopen(l);
    }
    if (r < 0)
        cri_log_done(l);
    return r;
}

static int cri_log_rotate(CriLog *l)
{
    const char *base = strrchr(l->path, '/') + 1;
    char rotated[512];

    (void)snprintf(rotated, sizeof(rotated), "%s.1", base);
    if (renameat(l->dir_fd, base, l->dir_fd, rotated) < 0)
        return -errno;
    return cri_log_reopen(l);
}

int cri_log_write(CriLog *l, uint64_t realtime_usec, const char *stream, bool partial,
                  const char *text, size_t len)
{
    char head[96];
    struct timespec ts;
    struct iovec iov[3];
    size_t total;
    ssize_t n;
    int hlen;

    if (l->fd < 0)
        return -EBADF;
    if (realtime_usec == 0)
        (void)clock_gettime(CLOCK_REALTIME, &ts);
    else
        ts = (struct timespec){(time_t)(realtime_usec / 1000000),
                               (long)(realtime_usec % 1000000) * 1000};
    format_rfc3339_nano(&ts, head, 40);
    hlen = (int)strlen(head);
    hlen +=
        snprintf(head + hlen, sizeof(head) - (size_t)hlen, " %s %c ", stream, partial ? 'P' : 'F');
    total = (size_t)hlen + len + 1;
    if (l->max_bytes > 0 && l->size > 0 && l->size + total > l->max_bytes) {
        int r = cri_log_rotate(l);

        if (r < 0)
            return r;
    }
    iov[0] = (struct iovec){head, (size_t)hlen};
    iov[1] = (struct iovec){(void *)text, len};
    iov[2] = (struct iovec){"\n", 1};
    do
        n = writev(l->fd, iov, 3);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    l->size += (uint64_t)n;
    return (size_t)n == total ? 0 : -EIO;
}

void cri_log_done(CriLog *l)
{
    if (l->fd >= 0)
        close(l->fd);
    if (l->dir_fd >= 0)
        close(l->dir_fd);
    free(l->path);
    *l = (CriLog){.fd = -1, .dir_fd = -1};
}
