/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers of the runtime module that need libc only: podd-monitor-watch
 * links them without jansson, libseccomp or libcap.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "runtime-internal.h"

const char *runtime_strerror(int err, char *buf, size_t size)
{
    (void)snprintf(buf, size, "%s", strerror(abs(err)));
    if (buf[0] && isupper((unsigned char)buf[0]) && !(buf[1] && isupper((unsigned char)buf[1])))
        buf[0] = (char)tolower((unsigned char)buf[0]);
    return buf;
}

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

bool path_is_nsfs(const char *path)
{
    struct statfs sfs;

    return statfs(path, &sfs) == 0 && sfs.f_type == NSFS_MAGIC;
}

int mkdir_p(const char *path, mode_t mode)
{
    _cleanup_free_ char *p = NULL;

    /* Mostly the parents exist (each container start, each cgroup): one call, not one a level. */
    if (mkdir(path, mode) == 0 || errno == EEXIST)
        return 0;
    if (errno != ENOENT)
        return -errno;
    p = strdup(path);
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
    char buf[64];
    int n;

    n = snprintf(buf, sizeof(buf), "%d %" PRIu64 "\n", (int)pid, start_time);
    /* No fsync: the run dir is volatile (tmpfs) and this is on the container start path. */
    return write_file_atomic(AT_FDCWD, path, buf, (size_t)n, 0644, 0);
}

/*
 * Written without jansson, so that podd-monitor-watch, the small process
 * that waits for the container, does not need to map it.
 */
int exit_record_write(const char *path, const ExitRecord *e)
{
    StrBuf b = {0};
    int r;

    r = strbuf_printf(&b, "{\"exitCode\":%d,\"signal\":%d,\"oomKilled\":%s,\"startedAt\":",
                      e->exit_code, e->signal, e->oom_killed ? "true" : "false");
    if (r >= 0)
        r = strbuf_append_json_string(&b, e->started_at);
    if (r >= 0)
        r = strbuf_append(&b, ",\"finishedAt\":", 14);
    if (r >= 0)
        r = strbuf_append_json_string(&b, e->finished_at);
    if (r >= 0)
        r = strbuf_append(&b, ",\"reason\":", 10);
    if (r >= 0)
        r = strbuf_append_json_string(&b, e->reason);
    if (r >= 0)
        r = strbuf_append(&b, ",\"message\":", 11);
    if (r >= 0)
        r = strbuf_append_json_string(&b, e->message);
    if (r >= 0)
        r = strbuf_append(&b, "}\n", 2);
    if (r >= 0)
        r = write_file_atomic(AT_FDCWD, path, b.data, b.len, 0644, 0);
    strbuf_done(&b);
    return r;
}
