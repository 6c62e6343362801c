/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

#include "runtime-internal.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* Where the hierarchies are mounted; only tests and unusual hosts change it. */
static char cgroup_root[PATH_MAX] = "/sys/fs/cgroup";
static int cached_mode = -1;

void cgroup_set_root(const char *root)
{
    if (!root || root[0] != '/' || strlen(root) >= sizeof(cgroup_root))
        return;
    (void)snprintf(cgroup_root, sizeof(cgroup_root), "%s", root);
    cached_mode = -1;
}

/* v1 hierarchies we use: memory (limit, OOM count), cpu (quota, shares), pids (limit, kill). */
static const char *const v1_controllers[] = {"memory", "cpu", "pids"};
static_assert(ELEMENTSOF(v1_controllers) <= CGROUP_JOIN_FDS_MAX, "one join fd per hierarchy");

int cgroup_detect(void)
{
    struct statfs sfs;

    if (cached_mode >= 0)
        return cached_mode;
    if (statfs(cgroup_root, &sfs) < 0)
        return -errno;
    cached_mode = sfs.f_type == CGROUP2_SUPER_MAGIC ? CGROUP_MODE_V2 : CGROUP_MODE_V1;
    return cached_mode;
}

int cgroup_open_v2(const char *cgroup)
{
    char dir[PATH_MAX];
    int fd;

    if (!cgroup || cgroup_detect() != CGROUP_MODE_V2)
        return -EOPNOTSUPP;
    if (snprintf(dir, sizeof(dir), "%s/%s", cgroup_root, cgroup) >= (int)sizeof(dir))
        return -ENAMETOOLONG;
    fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static int write_at(const char *dir, const char *file, const char *value)
{
    char path[PATH_MAX];
    _cleanup_close_ int fd = -1;
    size_t len = strlen(value);

    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    if (write(fd, value, len) != (ssize_t)len)
        return -errno;
    return 0;
}

static bool exists_at(const char *dir, const char *file)
{
    char path[PATH_MAX];

    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return false;
    return access(path, F_OK) == 0;
}

static int read_at(const char *dir, const char *file, char *buf, size_t size)
{
    char path[PATH_MAX];
    _cleanup_close_ int fd = -1;
    ssize_t n;

    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, size - 1);
    if (n < 0)
        return -errno;
    buf[n] = 0;
    return (int)n;
}

static int set_limit(const char *dir, const char *file, const char *value, PdError *reterr)
{
    int r = write_at(dir, file, value);

    if (r < 0)
        return pd_error_set(reterr, r, "cgroup: write '%s' to %s/%s: %s", value, dir, file,
                            RUNTIME_STRERROR(r));
    return 0;
}

/* Hands memory, cpu and pids down to the children of the v2 cgroup at path, where available. */
static void cgroup_v2_enable_at(const char *path)
{
    static const char *const want[] = {"memory", "cpu", "pids"};
    char avail[256];

    if (read_at(path, "cgroup.controllers", avail, sizeof(avail)) < 0)
        return;
    for (size_t i = 0; i < ELEMENTSOF(want); i++) {
        char ctl[16];

        if (!strstr(avail, want[i]))
            continue;
        (void)snprintf(ctl, sizeof(ctl), "+%s", want[i]);
        (void)write_at(path, "cgroup.subtree_control", ctl);
    }
}

/* Enables memory, cpu and pids for the children of every ancestor of rel (v2 only). */
static int cgroup_v2_enable_controllers(const char *rel, PdError *reterr)
{
    char path[PATH_MAX];
    _cleanup_free_ char *copy = strdup(rel);
    char *s;

    if (!copy)
        return -ENOMEM;
    if (snprintf(path, sizeof(path), "%s", cgroup_root) >= (int)sizeof(path))
        return pd_error_set(reterr, -ENAMETOOLONG, "cgroup: path too long");
    s = copy;
    for (;;) {
        char *slash = strchr(s, '/');

        cgroup_v2_enable_at(path);
        if (!slash)
            break;
        *slash = 0;
        (void)snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s", s);
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return pd_error_set(reterr, -errno, "cgroup: mkdir %s: %s", path,
                                RUNTIME_STRERROR(errno));
        s = slash + 1;
    }
    return 0;
}

int cgroup_create(const ContainerConfig *c, PdError *reterr)
{
    char dir[PATH_MAX], val[64];
    int mode, r;

    if (!c->cgroup)
        return 0;
    mode = cgroup_detect();
    if (mode < 0)
        return pd_error_set(reterr, mode, "cgroup: cannot stat %s: %s", cgroup_root,
                            RUNTIME_STRERROR(mode));
    if (mode == CGROUP_MODE_V2) {
        r = cgroup_v2_enable_controllers(c->cgroup, reterr);
        if (r < 0)
            return r;
        if (snprintf(dir, sizeof(dir), "%s/%s", cgroup_root, c->cgroup) >= (int)sizeof(dir))
            return pd_error_set(reterr, -ENAMETOOLONG, "cgroup: path too long");
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            return pd_error_set(reterr, -errno, "cgroup: mkdir %s: %s", dir,
                                RUNTIME_STRERROR(errno));
        if (c->memory_limit != UNSET) {
            (void)snprintf(val, sizeof(val), "%" PRId64, c->memory_limit);
            if ((r = set_limit(dir, "memory.max", val, reterr)) < 0)
                return r;
            if (exists_at(dir, "memory.swap.max") &&
                (r = set_limit(dir, "memory.swap.max", "0", reterr)) < 0)
                return r;
        }
        if (c->cpu_limit_millis != UNSET) {
            (void)snprintf(val, sizeof(val), "%" PRId64 " 100000", c->cpu_limit_millis * 100);
            if ((r = set_limit(dir, "cpu.max", val, reterr)) < 0)
                return r;
        }
        if (c->cpu_shares_millis != UNSET) {
            /* request -> v1 shares -> v2 weight, the conversion Kubernetes uses */
            uint64_t shares = (uint64_t)c->cpu_shares_millis * 1024 / 1000;

            if (shares < 2)
                shares = 2;
            if (shares > 262144)
                shares = 262144;
            (void)snprintf(val, sizeof(val), "%" PRIu64, 1 + ((shares - 2) * 9999) / 262142);
            if ((r = set_limit(dir, "cpu.weight", val, reterr)) < 0)
                return r;
        }
        if (c->pids_limit != UNSET) {
            (void)snprintf(val, sizeof(val), "%" PRId64, c->pids_limit);
            if ((r = set_limit(dir, "pids.max", val, reterr)) < 0)
                return r;
        }
        return 0;
    }

    for (size_t i = 0; i < ELEMENTSOF(v1_controllers); i++) {
        const char *ctl = v1_controllers[i];
        bool needed = (streq(ctl, "memory") && c->memory_limit != UNSET) ||
                      (streq(ctl, "cpu") &&
                       (c->cpu_limit_millis != UNSET || c->cpu_shares_millis != UNSET)) ||
                      (streq(ctl, "pids") && c->pids_limit != UNSET);

        if (snprintf(dir, sizeof(dir), "%s/%s", cgroup_root, ctl) >= (int)sizeof(dir))
            return pd_error_set(reterr, -ENAMETOOLONG, "cgroup: path too long");
        if (access(dir, F_OK) < 0) {
            if (needed)
                return pd_error_set(reterr, -EOPNOTSUPP,
                                    "cgroup: the %s controller is not mounted at %s", ctl, dir);
            continue;
        }
        /*
         * Moving a process into a v1 hierarchy waits for an RCU grace period
         * (milliseconds), so only the hierarchies with a limit to enforce are
         * used, plus pids always: it tracks every process of the container.
         */
        if (!needed && !streq(ctl, "pids"))
            continue;
        if (snprintf(dir, sizeof(dir), "%s/%s/%s", cgroup_root, ctl, c->cgroup) >= (int)sizeof(dir))
            return pd_error_set(reterr, -ENAMETOOLONG, "cgroup: path too long");
        r = mkdir_p(dir, 0755);
        if (r < 0)
            return pd_error_set(reterr, r, "cgroup: mkdir %s: %s", dir, RUNTIME_STRERROR(r));
        if (streq(ctl, "memory") && c->memory_limit != UNSET) {
            (void)snprintf(val, sizeof(val), "%" PRId64, c->memory_limit);
            if ((r = set_limit(dir, "memory.limit_in_bytes", val, reterr)) < 0)
                return r;
            /* With swap accounting, the same value for memory+swap: no swapping around it. */
            if (exists_at(dir, "memory.memsw.limit_in_bytes") &&
                (r = set_limit(dir, "memory.memsw.limit_in_bytes", val, reterr)) < 0)
                return r;
        }
        if (streq(ctl, "cpu") && c->cpu_limit_millis != UNSET) {
            if ((r = set_limit(dir, "cpu.cfs_period_us", "100000", reterr)) < 0)
                return r;
            (void)snprintf(val, sizeof(val), "%" PRId64, c->cpu_limit_millis * 100);
            if ((r = set_limit(dir, "cpu.cfs_quota_us", val, reterr)) < 0)
                return r;
        }
        if (streq(ctl, "cpu") && c->cpu_shares_millis != UNSET) {
            int64_t shares = c->cpu_shares_millis * 1024 / 1000;

            (void)snprintf(val, sizeof(val), "%" PRId64, shares < 2 ? 2 : shares);
            if ((r = set_limit(dir, "cpu.shares", val, reterr)) < 0)
                return r;
        }
        if (streq(ctl, "pids") && c->pids_limit != UNSET) {
            (void)snprintf(val, sizeof(val), "%" PRId64, c->pids_limit);
            if ((r = set_limit(dir, "pids.max", val, reterr)) < 0)
                return r;
        }
    }
    return 0;
}

/* Calls f for each directory of the cgroup that exists; stops at the first error. */
static int cgroup_foreach_dir(const char *cgroup, int (*f)(const char *dir, void *u), void *u)
{
    char dir[PATH_MAX];
    int mode = cgroup_detect(), r;

    if (mode < 0)
        return mode;
    if (mode == CGROUP_MODE_V2) {
        if (snprintf(dir, sizeof(dir), "%s/%s", cgroup_root, cgroup) >= (int)sizeof(dir))
            return -ENAMETOOLONG;
        return access(dir, F_OK) < 0 ? 0 : f(dir, u);
    }
    for (size_t i = 0; i < ELEMENTSOF(v1_controllers); i++) {
        if (snprintf(dir, sizeof(dir), "%s/%s/%s", cgroup_root, v1_controllers[i], cgroup) >=
            (int)sizeof(dir))
            return -ENAMETOOLONG;
        if (access(dir, F_OK) < 0)
            continue;
        r = f(dir, u);
        if (r < 0)
            return r;
    }
    return 0;
}

static int attach_one(const char *dir, void *u)
{
    char val[32];

    (void)snprintf(val, sizeof(val), "%d", (int)(intptr_t)u);
    return write_at(dir, "cgroup.procs", val);
}

int cgroup_attach(const char *cgroup, pid_t pid)
{
    if (!cgroup)
        return 0;
    return cgroup_foreach_dir(cgroup, attach_one, (void *)(intptr_t)pid);
}

/* The current thread only (tasks, v1): see cgroup_join_self(). cgroup.procs where none. */
static int join_self_one(const char *dir, void *u)
{
    int r = write_at(dir, "tasks", "0");

    return r == -ENOENT ? write_at(dir, "cgroup.procs", "0") : r;
}

int cgroup_join_self(const char *cgroup)
{
    if (!cgroup)
        return 0;
    if (cgroup_detect() == CGROUP_MODE_V2)
        return cgroup_attach(cgroup, 0);
    return cgroup_foreach_dir(cgroup, join_self_one, NULL);
}

typedef struct JoinFds {
    int *fds;
    size_t n;
} JoinFds;

static int open_tasks_one(const char *dir, void *u)
{
    JoinFds *j = u;
    char path[PATH_MAX];
    int fd;

    if (j->n >= CGROUP_JOIN_FDS_MAX)
        return -E2BIG;
    if (snprintf(path, sizeof(path), "%s/tasks", dir) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    j->fds[j->n++] = fd;
    return 0;
}

int cgroup_open_join(const char *cgroup, int fds[CGROUP_JOIN_FDS_MAX], size_t *ret_n)
{
    JoinFds j = {.fds = fds, .n = 0};
    int mode = cgroup_detect(), r;

    *ret_n = 0;
    if (!cgroup)
        return 0;
    if (mode < 0)
        return mode;
    if (mode == CGROUP_MODE_V2)
        return -EOPNOTSUPP;
    r = cgroup_foreach_dir(cgroup, open_tasks_one, &j);
    if (r < 0) {
        for (size_t i = 0; i < j.n; i++)
            close(fds[i]);
        return r;
    }
    *ret_n = j.n;
    return 0;
}

int cgroup_join_fds(int *fds, size_t n)
{
    int r = 0;

    for (size_t i = 0; i < n; i++) {
        if (r == 0 && write(fds[i], "0", 1) != 1)
            r = -errno;
        close(fds[i]);
        fds[i] = -1;
    }
    return r;
}

/* Sends sig to each process dir/cgroup.procs lists: how many got it, or -errno (-ENOENT: none). */
static int signal_procs(const char *dir, int sig)
{
    char path[PATH_MAX], line[32];
    int n = 0;
    FILE *f;

    if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= sizeof(path))
        return -ENAMETOOLONG;
    f = fopen(path, "re");
    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        int pid = atoi(line);

        if (pid > 0 && kill(pid, sig) == 0)
            n++;
    }
    fclose(f);
    return n;
}

static int kill_one(const char *dir, void *u)
{
    int sig = (int)(intptr_t)u, r;

    if (sig == SIGKILL && write_at(dir, "cgroup.kill", "1") >= 0)
        return 0;
    r = signal_procs(dir, sig);
    return r < 0 && r != -ENOENT ? r : 0;
}

int cgroup_kill(const char *cgroup, int sig)
{
    if (!cgroup)
        return 0;
    return cgroup_foreach_dir(cgroup, kill_one, (void *)(intptr_t)sig);
}

/* cgroup_signal()'s walk: the first hierarchy that has the cgroup lists its processes. */
typedef struct {
    int sig, n;
    bool listed;
} SignalWalk;

static int signal_listed(const char *dir, void *u)
{
    SignalWalk *w = u;
    int r;

    if (w->listed)
        return 0;
    r = signal_procs(dir, w->sig);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    w->listed = true;
    w->n = r;
    return 0;
}

int cgroup_signal(const char *cgroup, int sig)
{
    SignalWalk w = {.sig = sig};
    int r;

    if (!cgroup)
        return 0;
    r = cgroup_foreach_dir(cgroup, signal_listed, &w);
    return r < 0 ? r : w.n;
}

uint64_t cgroup_oom_kills(const char *cgroup)
{
    char dir[PATH_MAX], buf[1024];
    const char *file, *p;
    unsigned long long n;

    if (!cgroup)
        return 0;
    if (cgroup_detect() == CGROUP_MODE_V2) {
        if (snprintf(dir, sizeof(dir), "%s/%s", cgroup_root, cgroup) >= (int)sizeof(dir))
            return 0;
        file = "memory.events";
    } else {
        if (snprintf(dir, sizeof(dir), "%s/memory/%s", cgroup_root, cgroup) >= (int)sizeof(dir))
            return 0;
        file = "memory.oom_control";
    }
    if (read_at(dir, file, buf, sizeof(buf)) < 0)
        return 0;
    p = strstr(buf, "oom_kill ");
    if (!p || sscanf(p, "oom_kill %llu", &n) != 1)
        return 0;
    return n;
}

static int remove_one(const char *dir, void *u)
{
    /* The kernel frees a cgroup shortly after its last task is reaped: retry for ~2 s. */
    for (int i = 0; i < 200; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            return -errno;
        (void)nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    return -EBUSY;
}

int cgroup_remove(const char *cgroup)
{
    if (!cgroup)
        return 0;
    return cgroup_foreach_dir(cgroup, remove_one, NULL);
}

static int try_remove_one(const char *dir, void *u)
{
    if (rmdir(dir) == 0 || errno == ENOENT)
        return 0;
    return -errno;
}

int cgroup_try_remove(const char *cgroup)
{
    if (!cgroup)
        return 0;
    return cgroup_foreach_dir(cgroup, try_remove_one, NULL);
}

static int kill_try_remove_one(const char *dir, void *u)
{
    int r = kill_one(dir, (void *)(intptr_t)SIGKILL);

    return r < 0 ? r : try_remove_one(dir, u);
}

int cgroup_kill_try_remove(const char *cgroup)
{
    if (!cgroup)
        return 0;
    return cgroup_foreach_dir(cgroup, kill_try_remove_one, NULL);
}

/* ---- where an instance's cgroups go ------------------------------------------------------- */

/* The leaf a podd moves itself into on v2 when its containers go below its own cgroup. */
#define CGROUP_DAEMON_LEAF "podd-daemon"

/* Appends the components of path to the cgroup path in buf; "." is skipped, ".." refused. */
static int cgroup_path_join(char *buf, size_t size, const char *path)
{
    _cleanup_free_ char *copy = strdup(path);
    size_t len = strlen(buf);
    char *save = NULL;

    if (!copy)
        return -ENOMEM;
    for (char *tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        int n;

        if (streq(tok, "."))
            continue;
        if (streq(tok, ".."))
            return -EINVAL;
        n = snprintf(buf + len, size - len, "%s%s", len ? "/" : "", tok);
        if (n < 0 || (size_t)n >= size - len)
            return -ENAMETOOLONG;
        len += (size_t)n;
    }
    return 0;
}

/*
 * The cgroup podd itself runs in, from /proc/self/cgroup: the "0::" entry on
 * a v2 host, else that of the pids hierarchy (systemd's Delegate=yes puts a
 * service at the same path in every hierarchy). "" for the root.
 */
static int cgroup_self(char *buf, size_t size)
{
    _cleanup_close_ int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
    _cleanup_free_ char *text = NULL;
    int mode = cgroup_detect(), r;
    char *save = NULL;

    if (mode < 0)
        return mode;
    if (fd < 0)
        return -errno;
    r = read_fd_full(fd, 64 * 1024, &text, NULL);
    if (r < 0)
        return r;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *ctls = strchr(line, ':'), *path;
        bool match = false;

        if (!ctls || !(path = strchr(ctls + 1, ':')))
            continue;
        *path++ = 0;
        ctls++;
        if (mode == CGROUP_MODE_V2)
            match = startswith(line, "0") && !ctls[0];
        else {
            char *s2 = NULL;

            for (char *c = strtok_r(ctls, ",", &s2); c && !match; c = strtok_r(NULL, ",", &s2))
                match = streq(c, "pids");
        }
        if (!match)
            continue;
        buf[0] = 0;
        return cgroup_path_join(buf, size, path);
    }
    return -ENOENT;
}

/*
 * As systemd-escape --path, except that a '.' that starts a component or
 * follows a '.' is escaped too, so that the name never holds "..":
 * /var/lib/podd is "var-lib-podd". A name longer than 200 characters keeps
 * its start and ends in a hash of the whole path.
 */
static void cgroup_escape_dir(const char *dir, char *buf, size_t size)
{
    uint64_t hash = 0xcbf29ce484222325ull; /* FNV-1a */
    size_t len = 0;

    for (const char *p = dir; *p; p++)
        hash = (hash ^ (unsigned char)*p) * 0x100000001b3ull;
    while (*dir == '/')
        dir++;
    for (const char *p = dir; *p && len + 5 < size; p++) {
        unsigned char ch = (unsigned char)*p;

        if (ch == '/') {
            while (p[1] == '/')
                p++;
            if (p[1])
                buf[len++] = '-';
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || ch == '_' || ch == ':' ||
                   (ch == '.' && len > 0 && buf[len - 1] != '-' && buf[len - 1] != '.'))
            buf[len++] = (char)ch;
        else
            len += (size_t)snprintf(buf + len, size - len, "\\x%02x", ch);
    }
    buf[len] = 0;
    if (len > 200 || !dir[0])
        (void)snprintf(buf + (len > 183 ? 183 : len), size - (len > 183 ? 183 : len),
                       "%s%016" PRIx64, len ? "-" : "", hash);
}

int cgroup_resolve_parent(const char *spec, const char *instance_dir, char **ret, PdError *reterr)
{
    char buf[PATH_MAX] = "", self[PATH_MAX];
    int r;

    if (!spec) {
        char name[256];

        cgroup_escape_dir(instance_dir, name, sizeof(name));
        r = snprintf(buf, sizeof(buf), "podd/%s", name) >= (int)sizeof(buf) ? -ENAMETOOLONG : 0;
    } else if (spec[0] == '/')
        r = cgroup_path_join(buf, sizeof(buf), spec);
    else {
        r = cgroup_self(self, sizeof(self));
        if (r < 0)
            return pd_error_set(reterr, r, "cgroup parent '%s': cannot read podd's own cgroup: %s",
                                spec, RUNTIME_STRERROR(r));
        /* Moved there by an earlier podd of this cgroup (cgroup_prepare_parent): the same place. */
        if (streq(self, CGROUP_DAEMON_LEAF))
            self[0] = 0;
        else if (endswith(self, "/" CGROUP_DAEMON_LEAF))
            self[strlen(self) - strlen("/" CGROUP_DAEMON_LEAF)] = 0;
        (void)snprintf(buf, sizeof(buf), "%s", self);
        r = cgroup_path_join(buf, sizeof(buf), spec);
    }
    if (r == -EINVAL)
        return pd_error_set(reterr, r, "cgroup parent '%s': '..' is not allowed", spec);
    if (r < 0)
        return pd_error_set(reterr, r, "cgroup parent '%s': %s", spec ? spec : instance_dir,
                            RUNTIME_STRERROR(r));
    if (!buf[0])
        return pd_error_set(reterr, -EINVAL,
                            "cgroup parent '%s' is the root cgroup: podd needs one of its own",
                            spec);
    *ret = strdup(buf);
    return *ret ? 0 : -ENOMEM;
}

int cgroup_prepare_parent(const char *parent, PdError *reterr)
{
    char dir[PATH_MAX], self[PATH_MAX];
    int mode = cgroup_detect(), r;
    size_t n;

    if (mode < 0)
        return pd_error_set(reterr, mode, "cgroup: cannot stat %s: %s", cgroup_root,
                            RUNTIME_STRERROR(mode));
    if (mode == CGROUP_MODE_V1) {
        if (snprintf(dir, sizeof(dir), "%s/pids", cgroup_root) >= (int)sizeof(dir))
            return pd_error_set(reterr, -ENAMETOOLONG, "cgroup: path too long");
        if (access(dir, F_OK) < 0)
            return 0; /* nothing to prepare: cgroup_create says what is missing */
        if (snprintf(dir, sizeof(dir), "%s/pids/%s", cgroup_root, parent) >= (int)sizeof(dir))
            return pd_error_set(reterr, -ENAMETOOLONG, "cgroup: path too long");
        r = mkdir_p(dir, 0755);
        if (r < 0)
            return pd_error_set(reterr, r, "cgroup: mkdir %s: %s", dir, RUNTIME_STRERROR(r));
        return 0;
    }
    /*
     * v2 allows no processes in a cgroup whose children get controllers: when
     * the containers go into podd's own cgroup or below (a Delegate=yes
     * service), podd first moves itself into a leaf of that cgroup.
     */
    r = cgroup_self(self, sizeof(self));
    n = r >= 0 ? strlen(self) : 0;
    if (r >= 0 && n > 0 && startswith(parent, self) && (!parent[n] || parent[n] == '/')) {
        if (snprintf(dir, sizeof(dir), "%s/%s/%s", cgroup_root, self, CGROUP_DAEMON_LEAF) >=
            (int)sizeof(dir))
            return pd_error_set(reterr, -ENAMETOOLONG, "cgroup: path too long");
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            return pd_error_set(reterr, -errno, "cgroup: mkdir %s: %s", dir,
                                RUNTIME_STRERROR(errno));
        r = write_at(dir, "cgroup.procs", "0");
        if (r < 0)
            return pd_error_set(reterr, r, "cgroup: move podd into %s: %s", dir,
                                RUNTIME_STRERROR(r));
    }
    r = cgroup_v2_enable_controllers(parent, reterr);
    if (r < 0)
        return r;
    if (snprintf(dir, sizeof(dir), "%s/%s", cgroup_root, parent) >= (int)sizeof(dir))
        return pd_error_set(reterr, -ENAMETOOLONG, "cgroup: path too long");
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return pd_error_set(reterr, -errno, "cgroup: mkdir %s: %s", dir, RUNTIME_STRERROR(errno));
    cgroup_v2_enable_at(dir);
    return 0;
}

bool cgroup_is_below(const char *parent, const char *cgroup)
{
    size_t n = parent ? strlen(parent) : 0;

    return n > 0 && cgroup && startswith(cgroup, parent) && cgroup[n] == '/' && cgroup[n + 1] &&
           !strstr(cgroup, "/../") && !endswith(cgroup, "/..");
}
