/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "runtime-internal.h"

const char *runtime_strerror(int err, char *buf, size_t size)
{
    (void)snprintf(buf, size, "%s", strerror(abs(err)));
    if (buf[0] && isupper((unsigned char)buf[0]) && !(buf[1] && isupper((unsigned char)buf[1])))
        buf[0] = (char)tolower((unsigned char)buf[0]);
    return buf;
}

int mkdir_p(const char *path, mode_t mode)
{
    _cleanup_free_ char *p = strdup(path);

    if (!p)
        return -ENOMEM;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;

            *s = 0;
            if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
            *s = c;
            if (c == 0)
                break;
        }
    }
    return 0;
}

static int rm_rf_at(int dfd, dev_t dev)
{
    _cleanup_close_ int fd = dfd;
    DIR *d;
    struct dirent *de;
    int r = 0;

    d = fdopendir(fd);
    if (!d)
        return -errno;
    fd = -1;
    while ((de = readdir(d))) {
        struct stat st;

        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            int sub;

            if (st.st_dev != dev) {
                r = -EBUSY; /* a mount point: never descend into another file system */
                continue;
            }
            sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                int k = rm_rf_at(sub, dev);

                if (k < 0 && r == 0)
                    r = k;
            }
            if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && r == 0)
                r = -errno;
        } else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && r == 0)
            r = -errno;
    }
    closedir(d);
    return r;
}

int rm_rf(const char *path)
{
    struct stat st;
    int fd, r;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    r = rm_rf_at(fd, st.st_dev);
    if (rmdir(path) < 0 && errno != ENOENT && r == 0)
        r = -errno;
    return r;
}

int umount_all(const char *path)
{
    int n = 0;

    /* Several mounts may be stacked on path; each umount2 removes the top one. */
    while (n < 64 && umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
        n++;
    if (n == 0 && errno != EINVAL && errno != ENOENT)
        return -errno;
    return 0;
}

int proc_start_time(pid_t pid, uint64_t *ret)
{
    char path[64], buf[1024];
    _cleanup_close_ int fd = -1;
    const char *p;
    ssize_t n;

    (void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0)
        return errno == ESRCH ? -ESRCH : -errno;
    buf[n] = 0;
    /* comm may contain spaces and parentheses: fields start after the last ')'. */
    p = strrchr(buf, ')');
    if (!p)
        return -EBADMSG;
    p++;
    /* after ')' comes field 3; field 22 is 19 fields further */
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return -EBADMSG;
    }
    if (sscanf(p, " %" SCNu64, ret) != 1)
        return -EBADMSG;
    return 0;
}

int pid_file_write(const char *path, pid_t pid, uint64_t start_time)
{
    _cleanup_free_ char *dir = strdup(path);
    _cleanup_close_ int dfd = -1;
    char buf[64], *slash;
    int n;

    if (!dir)
        return -ENOMEM;
    slash = strrchr(dir, '/');
    if (!slash)
        return -EINVAL;
    *slash = 0;
    dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    n = snprintf(buf, sizeof(buf), "%d %" PRIu64 "\n", (int)pid, start_time);
    return write_file_atomic_at(dfd, slash + 1, buf, (size_t)n, 0644);
}

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

void format_rfc3339_nano(const struct timespec *ts, char *buf, size_t size)
{
    struct tm tm;
    char date[32];

    (void)gmtime_r(&ts->tv_sec, &tm);
    (void)strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    (void)snprintf(buf, size, "%s.%09ldZ", date, (long)ts->tv_nsec);
}

int exit_record_write(const char *path, const ExitRecord *e)
{
    _cleanup_json_ json_t *j = NULL;

    j = json_pack("{s:i, s:i, s:b, s:s, s:s, s:s, s:s}", "exitCode", e->exit_code, "signal",
                  e->signal, "oomKilled", e->oom_killed, "startedAt", e->started_at,
                  "finishedAt", e->finished_at, "reason", e->reason, "message", e->message);
    if (!j)
        return -ENOMEM;
    return write_json_file(path, j, 0644);
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
