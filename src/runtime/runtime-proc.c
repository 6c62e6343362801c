/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/syscall.h>

#include "runtime-internal.h"

int pid_file_read(const char *path, pid_t *ret_pid, uint64_t *ret_start_time)
{
    _cleanup_close_ int fd = -1;
    char buf[64];
    ssize_t n;
    int pid;
    uint64_t st;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0)
        return -errno;
    buf[n] = 0;
    if (sscanf(buf, "%d %" SCNu64, &pid, &st) != 2 || pid <= 0)
        return -EBADMSG;
    *ret_pid = pid;
    if (ret_start_time)
        *ret_start_time = st;
    return 0;
}

int pid_file_open_pidfd(const char *path, pid_t *ret_pid)
{
    uint64_t want, have;
    pid_t pid;
    int fd, r;

    r = pid_file_read(path, &pid, &want);
    if (r < 0)
        return r;
    fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return -errno;
    /* Checked after pidfd_open: the pidfd pins the process we compared. */
    r = proc_start_time(pid, &have);
    if (r < 0 || have != want) {
        close(fd);
        return -ESRCH;
    }
    if (ret_pid)
        *ret_pid = pid;
    return fd;
}

static int container_lock_open(const char *container_dir, int flags)
{
    _cleanup_free_ char *path = strdup_printf("%s/" CONTAINER_LOCK_FILE, container_dir);
    int fd;

    if (!path)
        return -ENOMEM;
    fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | flags, 0600);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int r = errno == EWOULDBLOCK ? -EBUSY : -errno;

        close(fd);
        return r;
    }
    return fd;
}

int container_lock_try(const char *container_dir)
{
    return container_lock_open(container_dir, O_CREAT);
}

bool container_lock_busy(const char *container_dir)
{
    int fd = container_lock_open(container_dir, 0);

    if (fd >= 0)
        close(fd);
    return fd == -EBUSY;
}

bool exit_record_is_start_error(const ExitRecord *e)
{
    return streq(e->reason, "StartError") || streq(e->reason, RUNTIME_REASON_CONFIG_ERROR);
}

int exit_record_read(const char *path, ExitRecord *ret)
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *buf = NULL;
    _cleanup_json_ json_t *j = NULL;
    const char *started = "", *finished = "", *reason = "", *message = "";
    ExitRecord e = {0};
    int oom = 0, r;
    size_t size;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    r = read_fd_full(fd, 64 * 1024, &buf, &size);
    if (r < 0)
        return r;
    j = json_loadb(buf, size, 0, NULL);
    if (!j || json_unpack(j, "{s:i, s:i, s?b, s?s, s?s, s?s, s?s}", "exitCode", &e.exit_code,
                          "signal", &e.signal, "oomKilled", &oom, "startedAt", &started,
                          "finishedAt", &finished, "reason", &reason, "message", &message) < 0)
        return -EBADMSG;
    e.oom_killed = oom;
    (void)snprintf(e.started_at, sizeof(e.started_at), "%s", started);
    (void)snprintf(e.finished_at, sizeof(e.finished_at), "%s", finished);
    (void)snprintf(e.reason, sizeof(e.reason), "%s", reason);
    (void)snprintf(e.message, sizeof(e.message), "%s", message);
    *ret = e;
    return 0;
}
