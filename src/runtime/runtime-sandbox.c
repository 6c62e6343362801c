/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "runtime-internal.h"

SandboxConfig *sandbox_config_free(SandboxConfig *c)
{
    if (!c)
        return NULL;
    free(c->name);
    free(c->dir);
    free(c->hostname);
    for (size_t i = 0; i < c->n_volumes; i++)
        free(c->volumes[i].name);
    free(c->volumes);
    free(c);
    return NULL;
}

static bool volume_name_ok(const char *s)
{
    return s[0] && !strchr(s, '/') && !streq(s, ".") && !streq(s, "..") && strlen(s) < 254;
}

int sandbox_config_from_json(json_t *j, SandboxConfig **ret, PdError *reterr)
{
    _cleanup_(sandbox_config_freep) SandboxConfig *c = calloc(1, sizeof(SandboxConfig));
    const char *name = NULL, *dir = NULL, *hostname = NULL;
    int hn = 0, hi = 0;
    json_t *vols = NULL, *v;
    size_t i;

    if (!c)
        return -ENOMEM;
    if (json_unpack(j, "{s:s, s:s, s?s, s?b, s?b, s?o}", "name", &name, "dir", &dir, "hostname",
                    &hostname, "hostNetwork", &hn, "hostIPC", &hi, "volumes", &vols) < 0)
        return pd_error_set(reterr, -EINVAL,
                            "pod config: need name and dir (strings); hostname (string), "
                            "hostNetwork, hostIPC (booleans), volumes (list) are optional");
    if (dir[0] != '/')
        return pd_error_set(reterr, -EINVAL, "pod config: dir must be absolute");
    c->name = strdup(name);
    c->dir = strdup(dir);
    c->hostname = hostname ? strdup(hostname) : NULL;
    if (!c->name || !c->dir || (hostname && !c->hostname))
        return -ENOMEM;
    c->host_network = hn;
    c->host_ipc = hi;
    if (vols && (!json_is_array(vols) || json_array_size(vols) > MANIFEST_MAX_LIST))
        return pd_error_set(reterr, -EINVAL, "pod config: volumes must be a list");
    if (vols && json_array_size(vols) > 0) {
        c->volumes = calloc(json_array_size(vols), sizeof(SandboxVolume));
        if (!c->volumes)
            return -ENOMEM;
    }
    json_array_foreach(vols, i, v)
    {
        SandboxVolume *sv = &c->volumes[c->n_volumes];
        const char *vn = NULL;
        int mem = 0;
        json_int_t size = UNSET;

        if (json_unpack(v, "{s:s, s?b, s?I}", "name", &vn, "memory", &mem, "sizeLimit", &size) <
                0 ||
            !volume_name_ok(vn) || (size != UNSET && size <= 0))
            return pd_error_set(reterr, -EINVAL, "pod config: volumes[%zu] invalid", i);
        sv->name = strdup(vn);
        if (!sv->name)
            return -ENOMEM;
        sv->memory = mem;
        sv->size_limit = size;
        c->n_volumes++;
    }
    *ret = move_ptr(c);
    return 0;
}

json_t *sandbox_config_to_json(const SandboxConfig *c)
{
    _cleanup_json_ json_t *o = NULL, *vols = json_array();

    if (!vols)
        return NULL;
    for (size_t i = 0; i < c->n_volumes; i++) {
        json_t *v =
            json_pack("{s:s, s:b}", "name", c->volumes[i].name, "memory", c->volumes[i].memory);

        if (!v || json_array_append_new(vols, v) < 0)
            return NULL;
        if (c->volumes[i].size_limit != UNSET &&
            json_object_set_new(v, "sizeLimit", json_integer(c->volumes[i].size_limit)) < 0)
            return NULL;
    }
    o = json_pack("{s:s, s:s, s:b, s:b, s:O}", "name", c->name, "dir", c->dir, "hostNetwork",
                  c->host_network, "hostIPC", c->host_ipc, "volumes", vols);
    if (o && c->hostname && json_object_set_new(o, "hostname", json_string(c->hostname)) < 0)
        return NULL;
    return move_ptr(o);
}

int sandbox_config_new_from_pod(const Pod *pod, const char *run_dir, SandboxConfig **ret,
                                PdError *reterr)
{
    _cleanup_(sandbox_config_freep) SandboxConfig *c = calloc(1, sizeof(SandboxConfig));

    if (!c)
        return -ENOMEM;
    c->name = strdup(pod->name);
    c->dir = runtime_pod_dir(run_dir, pod);
    c->hostname = strdup(pod->hostname ? pod->hostname : pod->name);
    if (!c->name || !c->dir || !c->hostname)
        return -ENOMEM;
    c->host_network = pod->host_network;
    c->host_ipc = pod->host_ipc;
    if (pod->n_volumes > 0) {
        c->volumes = calloc(pod->n_volumes, sizeof(SandboxVolume));
        if (!c->volumes)
            return -ENOMEM;
    }
    for (size_t i = 0; i < pod->n_volumes; i++) {
        const Volume *v = &pod->volumes[i];
        SandboxVolume *sv;

        if (v->kind != VOLUME_KIND_EMPTY_DIR)
            continue;
        if (!volume_name_ok(v->name))
            return pd_error_set(reterr, -EINVAL, "pod '%s': bad volume name '%s'", pod->name,
                                v->name);
        sv = &c->volumes[c->n_volumes++];
        sv->name = strdup(v->name);
        if (!sv->name)
            return -ENOMEM;
        sv->memory = v->empty_dir_memory;
        sv->size_limit = v->size_limit_bytes;
    }
    *ret = move_ptr(c);
    return 0;
}

static int loopback_up(void)
{
    _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};

    if (fd < 0)
        return -errno;
    (void)snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        return -errno;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        return -errno;
    return 0;
}

static const struct {
    const char *name;
    int flag;
} sandbox_nss[] = {{"net", CLONE_NEWNET}, {"uts", CLONE_NEWUTS}, {"ipc", CLONE_NEWIPC}};

/*
 * Returns the calling thread to the namespaces it held fds of. This cannot
 * fail for a reason a pod controls; if it did, every later socket and name
 * of the process would silently belong to a pod: worse than stopping.
 */
static void sandbox_return(const int self[], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (self[i] >= 0 && setns(self[i], sandbox_nss[i].flag) < 0) {
            (void)fprintf(stderr, "cannot return to its own %s namespace: %m\n",
                          sandbox_nss[i].name);
            abort();
        }
}

/*
 * Makes the namespaces in flags and pins them at <dir>/ns/X: the calling
 * thread enters new ones (unshare(2) of net, uts and ipc is per thread, and
 * allowed in a multithreaded process), sets them up, bind-mounts its own
 * /proc/thread-self/ns/X files and goes back to its own. No process is
 * made: a fork of the caller would copy its page tables and wait for a
 * child to be scheduled twice, which on a busy host costs far more than
 * the namespaces.
 */
static int sandbox_pin_new(const SandboxConfig *c, int flags, int net_fd, PdError *reterr)
{
    int self[ELEMENTSOF(sandbox_nss)] = {-1, -1, -1}, r = 0;
    /* A namespace made ahead (net_fd) is pinned as it is; the thread enters only the others. */
    int enter = net_fd >= 0 ? flags & ~CLONE_NEWNET : flags;
    char path[PATH_MAX];

    for (size_t i = 0; i < ELEMENTSOF(sandbox_nss); i++) {
        if (!(enter & sandbox_nss[i].flag))
            continue;
        (void)snprintf(path, sizeof(path), "/proc/thread-self/ns/%s", sandbox_nss[i].name);
        self[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (self[i] < 0) {
            r = pd_error_set(reterr, -errno, "pod '%s': open %s: %s", c->name, path,
                             RUNTIME_STRERROR(errno));
            goto out;
        }
    }
    if (enter && unshare(enter) < 0) {
        r = pd_error_set(reterr, -errno, "pod '%s': create namespaces: %s", c->name,
                         RUNTIME_STRERROR(errno));
        goto out;
    }
    if ((enter & CLONE_NEWUTS) && c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0)
        r = -errno;
    if (r == 0 && (enter & CLONE_NEWNET))
        r = loopback_up();
    if (r < 0)
        (void)pd_error_set(reterr, r, "pod '%s': create namespaces: %s", c->name,
                           RUNTIME_STRERROR(r));
    for (size_t i = 0; r == 0 && i < ELEMENTSOF(sandbox_nss); i++) {
        char src[64];
        int fd;

        if (!(flags & sandbox_nss[i].flag))
            continue;
        (void)snprintf(path, sizeof(path), "%s/ns/%s", c->dir, sandbox_nss[i].name);
        if (sandbox_nss[i].flag == CLONE_NEWNET && net_fd >= 0)
            (void)snprintf(src, sizeof(src), "/proc/self/fd/%d", net_fd);
        else
            (void)snprintf(src, sizeof(src), "/proc/thread-self/ns/%s", sandbox_nss[i].name);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0444);
        if (fd < 0 || close(fd) < 0 || mount(src, path, NULL, MS_BIND, NULL) < 0)
            r = pd_error_set(reterr, -errno, "pod '%s': pin %s namespace at %s: %s", c->name,
                             sandbox_nss[i].name, path, RUNTIME_STRERROR(errno));
    }
    sandbox_return(self, ELEMENTSOF(sandbox_nss));
out:
    for (size_t i = 0; i < ELEMENTSOF(sandbox_nss); i++)
        if (self[i] >= 0)
            (void)close(self[i]);
    return r;
}

/* ---- network namespaces made ahead ---------------------------------------------------- */

/*
 * Enough for a pod created now and then. The thread makes the next one a
 * while after a take, not while the pod that took one starts; and not
 * during a burst (a take found none, less than BURST_GAP after the one
 * before, as in a cold start): there, the takers make their own, as the
 * thread would only compete with them for the same CPUs (on a busy host,
 * for the share of the daemon that its loop needs).
 */
#define NETNS_POOL_SIZE 2
#define NETNS_POOL_AFTER_TAKE_USEC (20 * 1000ull)
#define NETNS_POOL_AFTER_BURST_USEC (200 * 1000ull)
#define NETNS_POOL_BURST_GAP_USEC (50 * 1000ull)

struct SandboxNetnsPool {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* on CLOCK_MONOTONIC */
    pthread_t thread;
    bool started, has_thread, stop;
    int fds[NETNS_POOL_SIZE];
    size_t n;
    uint64_t last_take, last_miss; /* now_monotonic_usec() of the last take, of a burst's miss */
};

SandboxNetnsPool *sandbox_netns_pool_new(void)
{
    SandboxNetnsPool *p = calloc(1, sizeof(SandboxNetnsPool));
    pthread_condattr_t attr;
    int r;

    if (!p)
        return NULL;
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return NULL;
    }
    r = pthread_condattr_init(&attr);
    if (r == 0) {
        r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        if (r == 0)
            r = pthread_cond_init(&p->wake, &attr);
        (void)pthread_condattr_destroy(&attr);
    }
    if (r != 0) {
        (void)pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    return p;
}

/*
 * One new network namespace with loopback up, held by the fd returned.
 * The calling thread (the pool's own) stays in it: the next unshare(2)
 * leaves it for the next one.
 */
static int netns_make(void)
{
    int r;

    if (unshare(CLONE_NEWNET) < 0)
        return -errno;
    r = loopback_up();
    if (r < 0)
        return r;
    r = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    return r < 0 ? -errno : r;
}

static void *netns_pool_run(void *userdata)
{
    SandboxNetnsPool *p = userdata;

    (void)pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        uint64_t now = now_monotonic_usec(), at = 0;
        int fd;

        if (p->n >= NETNS_POOL_SIZE) {
            (void)pthread_cond_wait(&p->wake, &p->lock);
            continue;
        }
        if (p->last_take && now < p->last_take + NETNS_POOL_AFTER_TAKE_USEC)
            at = p->last_take + NETNS_POOL_AFTER_TAKE_USEC;
        if (p->last_miss && now < p->last_miss + NETNS_POOL_AFTER_BURST_USEC &&
            p->last_miss + NETNS_POOL_AFTER_BURST_USEC > at)
            at = p->last_miss + NETNS_POOL_AFTER_BURST_USEC;
        if (at) {
            struct timespec ts = {.tv_sec = (time_t)(at / 1000000),
                                  .tv_nsec = (long)(at % 1000000) * 1000};

            (void)pthread_cond_timedwait(&p->wake, &p->lock, &ts);
            continue;
        }
        (void)pthread_mutex_unlock(&p->lock);
        fd = netns_make();
        (void)pthread_mutex_lock(&p->lock);
        /* Not allowed here (no privilege, a seccomp filter): the takers make their own. */
        if (fd < 0)
            break;
        p->fds[p->n++] = fd;
    }
    (void)pthread_mutex_unlock(&p->lock);
    return NULL;
}

/*
 * Under p->lock. The thread blocks every signal: they are the main loop's to
 * read. Without it (it could not be made) every take finds none.
 */
static void netns_pool_start(SandboxNetnsPool *p)
{
    sigset_t all, old;

    p->started = true;
    (void)sigfillset(&all);
    if (pthread_sigmask(SIG_BLOCK, &all, &old) != 0)
        return;
    p->has_thread = pthread_create(&p->thread, NULL, netns_pool_run, p) == 0;
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* A ready namespace's fd (the caller closes it), or -1; the thread makes the next one. */
static int netns_pool_take(SandboxNetnsPool *p)
{
    uint64_t now;
    int fd = -1;

    if (!p)
        return -1;
    (void)pthread_mutex_lock(&p->lock);
    if (!p->started)
        netns_pool_start(p);
    now = now_monotonic_usec();
    if (p->n > 0)
        fd = p->fds[--p->n];
    else if (p->last_take && now < p->last_take + NETNS_POOL_BURST_GAP_USEC)
        /* None left, and takes come close together: a burst. */
        p->last_miss = now;
    p->last_take = now;
    (void)pthread_mutex_unlock(&p->lock);
    /* After the unlock: woken under it, the thread would only block on the lock again. */
    (void)pthread_cond_signal(&p->wake);
    return fd;
}

SandboxNetnsPool *sandbox_netns_pool_free(SandboxNetnsPool *p)
{
    if (!p)
        return NULL;
    (void)pthread_mutex_lock(&p->lock);
    p->stop = true;
    (void)pthread_cond_signal(&p->wake);
    (void)pthread_mutex_unlock(&p->lock);
    if (p->has_thread)
        (void)pthread_join(p->thread, NULL);
    for (size_t i = 0; i < p->n; i++)
        (void)close(p->fds[i]);
    (void)pthread_cond_destroy(&p->wake);
    (void)pthread_mutex_destroy(&p->lock);
    free(p);
    return NULL;
}

int sandbox_create(const SandboxConfig *c, PdError *reterr)
{
    return sandbox_create_pooled(c, NULL, reterr);
}

int sandbox_create_pooled(const SandboxConfig *c, SandboxNetnsPool *pool, PdError *reterr)
{
    char path[PATH_MAX];
    int flags = 0, r;

    r = mkdir_p(c->dir, 0711);
    if (r < 0)
        return pd_error_set(reterr, r, "pod '%s': mkdir %s: %s", c->name, c->dir,
                            RUNTIME_STRERROR(r));
    (void)snprintf(path, sizeof(path), "%s/ns", c->dir);
    if (mkdir(path, 0711) < 0 && errno != EEXIST)
        return pd_error_set(reterr, -errno, "pod '%s': mkdir %s: %s", c->name, path,
                            RUNTIME_STRERROR(errno));

    for (size_t i = 0; i < ELEMENTSOF(sandbox_nss); i++) {
        bool host = sandbox_nss[i].flag == CLONE_NEWIPC ? c->host_ipc : c->host_network;

        (void)snprintf(path, sizeof(path), "%s/ns/%s", c->dir, sandbox_nss[i].name);
        if (!host && !path_is_nsfs(path))
            flags |= sandbox_nss[i].flag;
    }

    if (flags) {
        int net_fd = (flags & CLONE_NEWNET) ? netns_pool_take(pool) : -1;

        r = sandbox_pin_new(c, flags, net_fd, reterr);
        if (net_fd >= 0)
            (void)close(net_fd);
        if (r < 0) {
            (void)sandbox_destroy(c->dir, NULL);
            return r;
        }
    }

    if (c->n_volumes > 0) {
        (void)snprintf(path, sizeof(path), "%s/volumes", c->dir);
        if (mkdir(path, 0711) < 0 && errno != EEXIST)
            return pd_error_set(reterr, -errno, "pod '%s': mkdir %s: %s", c->name, path,
                                RUNTIME_STRERROR(errno));
    }
    for (size_t i = 0; i < c->n_volumes; i++) {
        const SandboxVolume *v = &c->volumes[i];
        struct stat st, parent;

        (void)snprintf(path, sizeof(path), "%s/volumes/%s", c->dir, v->name);
        if (mkdir(path, 0777) < 0 && errno != EEXIST) {
            r = -errno;
            goto fail_volume;
        }
        (void)chmod(path, 0777);
        if (!v->memory)
            continue;
        /* Already a mount point (an earlier create): keep it and its contents. */
        if (stat(path, &st) == 0 && stat(c->dir, &parent) == 0 && st.st_dev != parent.st_dev)
            continue;
        char opts[64] = "mode=0777";
        if (v->size_limit != UNSET)
            (void)snprintf(opts, sizeof(opts), "mode=0777,size=%" PRId64, v->size_limit);
        if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
            r = -errno;
            goto fail_volume;
        }
        continue;
    fail_volume:
        (void)pd_error_set(reterr, r, "pod '%s': emptyDir volume '%s' at %s: %s", c->name, v->name,
                           path, RUNTIME_STRERROR(r));
        (void)sandbox_destroy(c->dir, NULL);
        return r;
    }
    return 0;
}

int sandbox_destroy(const char *dir, PdError *reterr)
{
    /* pid: pinned by a pod's first container when it shares one PID namespace. */
    static const char *const nss[] = {"net", "uts", "ipc", "pid"};
    char path[PATH_MAX];
    DIR *d;
    int r;

    for (size_t i = 0; i < ELEMENTSOF(nss); i++) {
        (void)snprintf(path, sizeof(path), "%s/ns/%s", dir, nss[i]);
        r = umount_all(path);
        if (r < 0)
            return pd_error_set(reterr, r, "umount %s: %s", path, RUNTIME_STRERROR(r));
    }
    (void)snprintf(path, sizeof(path), "%s/volumes", dir);
    d = opendir(path);
    if (d) {
        struct dirent *de;

        while ((de = readdir(d))) {
            char vp[PATH_MAX + 256];

            if (de->d_name[0] == '.')
                continue;
            (void)snprintf(vp, sizeof(vp), "%s/%s", path, de->d_name);
            r = umount_all(vp);
            if (r < 0) {
                closedir(d);
                return pd_error_set(reterr, r, "umount %s: %s", vp, RUNTIME_STRERROR(r));
            }
        }
        closedir(d);
    }
    r = rm_rf_at(AT_FDCWD, dir);
    if (r < 0)
        return pd_error_set(reterr, r, "remove %s: %s", dir, RUNTIME_STRERROR(r));
    return 0;
}

/* ---- emptyDir usage ------------------------------------------------------------------- */

typedef struct UsageWalk {
    dev_t dev;
    uint64_t bytes, stop_above;
    size_t entries, max_entries;
} UsageWalk;

static bool usage_walk_done(const UsageWalk *w)
{
    return w->bytes > w->stop_above || w->entries >= w->max_entries;
}

/* Adds what dir_fd (consumed) holds, depth first. */
static void usage_walk_dir(UsageWalk *w, int dir_fd, unsigned depth)
{
    DIR *d = fdopendir(dir_fd);
    struct dirent *de;

    if (!d) {
        (void)close(dir_fd);
        return;
    }
    while (!usage_walk_done(w) && (de = readdir(d))) {
        struct stat st;
        int fd;

        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        w->entries++;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != w->dev)
            continue;
        w->bytes += (uint64_t)st.st_blocks * 512u;
        /* Deeper than any real tree: what is below still counts toward the entry cap only. */
        if (!S_ISDIR(st.st_mode) || depth >= 256)
            continue;
        fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
            usage_walk_dir(w, fd, depth + 1);
    }
    (void)closedir(d);
}

int runtime_volume_usage(const char *run_dir, const Pod *pod, const char *name, uint64_t stop_above,
                         size_t max_entries, uint64_t *ret)
{
    _cleanup_free_ char *dir = runtime_pod_dir(run_dir, pod), *path = NULL;
    UsageWalk w = {.stop_above = stop_above, .max_entries = max_entries};
    struct stat st;
    int fd;

    if (!dir)
        return -ENOMEM;
    path = strdup_printf("%s/volumes/%s", dir, name);
    if (!path)
        return -ENOMEM;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        int r = -errno;

        (void)close(fd);
        return r;
    }
    w.dev = st.st_dev;
    usage_walk_dir(&w, fd, 0);
    *ret = w.bytes;
    return 0;
}
