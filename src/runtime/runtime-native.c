/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "runtime-internal.h"

/*
 * The container's first process is cloned with new PID and mount
 * namespaces. Where nothing of ours has to happen while it sets itself up
 * (the common case: see native_container_spawn()), it is cloned as
 * posix_spawn(3) clones, CLONE_VM | CLONE_VFORK: it runs in our memory on
 * a stack of ours while we wait, and nothing is copied. Otherwise a raw
 * clone(2) used like fork(2) runs it on a copy of our stack while we go on.
 * Everything up to execve(2) happens in that child; a failure is written as
 * one ChildError record to a close-on-exec pipe, so the parent reads EOF
 * exactly when the exec succeeded.
 */

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* struct clone_args of clone3(2), spelled out to keep <linux/sched.h> away from <sched.h>. */
struct clone3_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    uint64_t set_tid, set_tid_size, cgroup;
};

typedef struct ChildError {
    int code; /* negative errno */
    char message[PD_ERROR_MESSAGE_MAX];
} ChildError;

static int child_err_fd = -1;

static _Noreturn _printf_(2, 3) void child_fail(int err, const char *fmt, ...)
{
    ChildError e = {.code = err < 0 ? err : -err};
    va_list ap;

    if (e.code == 0)
        e.code = -EIO;
    va_start(ap, fmt);
    (void)vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    /* A single write below PIPE_BUF is atomic: the parent sees all of it or nothing. */
    if (child_err_fd >= 0)
        (void)!write(child_err_fd, &e, sizeof(e));
    _exit(127);
}

#define ERRSTR(e) RUNTIME_STRERROR(e)

/* The monitor blocks and ignores signals; the container must start with a clean slate. */
static void reset_signals(void)
{
    sigset_t none;

    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)signal(sig, SIG_DFL);
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
}

static int openat2_fd(int dfd, const char *path, int flags, uint64_t resolve)
{
    struct open_how how = {.flags = (uint64_t)flags | O_CLOEXEC, .resolve = resolve};
    int fd;

    fd = (int)syscall(SYS_openat2, dfd, path, &how, sizeof(how));
    return fd < 0 ? -errno : fd;
}

static void fd_path(int fd, char *buf, size_t size)
{
    (void)snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/*
 * Resolves path under dfd (RESOLVE_IN_ROOT for the container's rootfs,
 * RESOLVE_BENEATH for a subPath), creating missing directories, and the
 * last component as an empty file when as_file. Returns an O_PATH fd.
 */
static int mkdir_p_under(int dfd, const char *path, bool as_file, uint64_t resolve)
{
    _cleanup_free_ char *p = strdup(path);
    char *s;
    int fd;

    if (!p)
        return -ENOMEM;
    fd = openat2_fd(dfd, p, O_PATH, resolve);
    if (fd >= 0 || fd != -ENOENT)
        return fd;
    /* Create each missing component, resolving the parent again every time. */
    for (s = p; *s == '/'; s++)
        ;
    while (*s) {
        char *slash = strchr(s, '/'), save = 0;
        _cleanup_close_ int parent = -1;
        const char *last;
        bool is_last;

        if (slash) {
            save = *slash;
            *slash = 0;
        }
        is_last = !slash || !slash[1 + strspn(slash + 1, "/")];
        fd = openat2_fd(dfd, p, O_PATH, resolve);
        if (fd >= 0) {
            if (is_last)
                return fd;
            close(fd);
        } else if (fd != -ENOENT)
            return fd;
        else {
            char *lslash = strrchr(p, '/');

            if (lslash && lslash != p) {
                *lslash = 0;
                parent = openat2_fd(dfd, p, O_PATH | O_DIRECTORY, resolve);
                *lslash = '/';
                last = lslash + 1;
            } else {
                parent = openat2_fd(dfd, lslash ? "/" : ".", O_PATH | O_DIRECTORY, resolve);
                last = lslash ? lslash + 1 : p;
            }
            if (parent < 0)
                return parent;
            if (is_last && as_file) {
                int nfd = openat(parent, last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                 0644);
                if (nfd < 0 && errno != EEXIST)
                    return -errno;
                if (nfd >= 0)
                    close(nfd);
            } else if (mkdirat(parent, last, 0755) < 0 && errno != EEXIST)
                return -errno;
            if (is_last)
                return openat2_fd(dfd, p, O_PATH, resolve);
        }
        if (!slash)
            break;
        *slash = save;
        s = slash + 1;
        while (*s == '/')
            s++;
    }
    return openat2_fd(dfd, p, O_PATH, resolve);
}

/* ---- rootfs ----------------------------------------------------------------------------- */

/*
 * overlay's lowerdir option: the layers topmost first, ':'-separated. With
 * prefix_len, each layer is named without its first prefix_len bytes (the
 * shared parent directory, the cwd of the mount). Returns the length, or -1
 * when it does not fit size.
 */
static int lowerdir_format(char *const *layers, size_t prefix_len, char *buf, size_t size)
{
    size_t n = strv_length(layers), used = 0;

    buf[0] = 0;
    for (size_t i = n; i > 0; i--) {
        int k =
            snprintf(buf + used, size - used, "%s%s", i < n ? ":" : "", layers[i - 1] + prefix_len);

        if (k < 0 || (size_t)k >= size - used)
            return -1;
        used += (size_t)k;
    }
    return (int)used;
}

/* The length of the parent directory every layer shares, with its '/'; 0 when none. */
static size_t layers_common_parent(char *const *layers)
{
    const char *slash = strrchr(layers[0], '/');
    size_t len = slash ? (size_t)(slash - layers[0]) + 1 : 0;

    for (size_t i = 1; len && layers[i]; i++)
        if (strncmp(layers[i], layers[0], len) || strchr(layers[i] + len, '/'))
            len = 0;
    return len;
}

static bool overlay_mount(const ContainerConfig *c, const char *root, const char *upper,
                          const char *work)
{
    /* mount(2) takes one page of options; past it, the layers are named from their parent. */
    long page = sysconf(_SC_PAGESIZE);
    size_t max = page > 0 ? (size_t)page : 4096, prefix = 0;
    _cleanup_free_ char *opts = malloc(max), *lower = malloc(max);
    _cleanup_close_ int cwd = -1;
    char parent[PATH_MAX];
    bool ok = false;

    if (!opts || !lower)
        child_fail(-ENOMEM, "out of memory");
    if (lowerdir_format(c->image_layers, 0, lower, max) < 0 ||
        (size_t)snprintf(opts, max, "lowerdir=%s,upperdir=%s,workdir=%s,volatile", lower, upper,
                         work) >= max) {
        prefix = layers_common_parent(c->image_layers);
        if (prefix == 0 || lowerdir_format(c->image_layers, prefix, lower, max) < 0 ||
            (size_t)snprintf(opts, max, "lowerdir=%s,upperdir=%s,workdir=%s,volatile", lower, upper,
                             work) >= max)
            child_fail(-E2BIG,
                       "image %s: its %zu layers make an overlay mount option longer than %zu "
                       "bytes",
                       c->image, strv_length(c->image_layers), max);
        cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        (void)snprintf(parent, sizeof(parent), "%.*s", (int)prefix, c->image_layers[0]);
        if (cwd < 0 || chdir(parent) < 0)
            child_fail(-errno, "chdir %s: %s", parent, ERRSTR(errno));
    }
    if (mount("overlay", root, "overlay", 0, opts) == 0)
        ok = true;
    else {
        *strrchr(opts, ',') = 0;
        ok = mount("overlay", root, "overlay", 0, opts) == 0;
    }
    if (cwd >= 0 && fchdir(cwd) < 0)
        child_fail(-errno, "fchdir: %s", ERRSTR(errno));
    return ok;
}

static void setup_rootfs(const ContainerConfig *c, const char *root)
{
    char upper[PATH_MAX], work[PATH_MAX];
    bool plain_paths = !strpbrk(c->run_dir, ",:\\");
    size_t n_layers = strv_length(c->image_layers);
    struct stat st;

    for (size_t i = 0; i < n_layers; i++) {
        const char *dir = c->image_layers[i];

        if (stat(dir, &st) < 0)
            child_fail(-errno, "rootfs %s: %s (image %s)", dir, ERRSTR(errno), c->image);
        if (!S_ISDIR(st.st_mode))
            child_fail(-ENOTDIR, "rootfs %s: not a directory (image %s)", dir, c->image);
        plain_paths = plain_paths && !strpbrk(dir, ",:\\");
    }
    if (mkdir(root, 0755) < 0 && errno != EEXIST)
        child_fail(-errno, "mkdir %s: %s", root, ERRSTR(errno));
    (void)snprintf(upper, sizeof(upper), "%s/upper", c->run_dir);
    (void)snprintf(work, sizeof(work), "%s/work", c->run_dir);
    if (plain_paths) {
        /*
         * Every start gets a fresh writable layer, as a restarted container
         * does in Kubernetes: the parent moved the last one aside
         * (stale_layers_move), so both are made at once; what is left
         * (the parent could not move it) is removed here. "volatile"
         * spares the upper file system the sync when the container's
         * mount namespace goes away, which otherwise delays its exit by
         * milliseconds (kernel >= 5.10; an older kernel refuses the option
         * and we mount without it).
         */
        if (mkdir(upper, 0755) < 0 && errno == EEXIST) {
            (void)rm_rf_at(AT_FDCWD, upper);
            (void)mkdir(upper, 0755);
        }
        if (mkdir(work, 0700) < 0 && errno == EEXIST) {
            (void)rm_rf_at(AT_FDCWD, work);
            (void)mkdir(work, 0700);
        }
        if (overlay_mount(c, root, upper, work))
            return;
    }
    /* No overlayfs (or paths it cannot take): a one-layer image itself, bind-mounted. */
    if (n_layers != 1)
        child_fail(-EOPNOTSUPP, "image %s: its %zu layers need overlayfs, which failed", c->image,
                   n_layers);
    if (mount(c->image_layers[0], root, NULL, MS_BIND | MS_REC, NULL) < 0)
        child_fail(-errno, "bind-mount rootfs %s: %s (image %s)", c->image_layers[0], ERRSTR(errno),
                   c->image);
}

static int root_target(int rootfd, const char *path, bool as_file, char *buf, size_t size)
{
    int fd = mkdir_p_under(rootfd, path, as_file, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);

    if (fd < 0)
        child_fail(fd, "create mount point %s in the rootfs: %s", path, ERRSTR(fd));
    fd_path(fd, buf, size);
    return fd;
}

static void mount_at(int rootfd, const char *path, const char *src, const char *fstype,
                     unsigned long flags, const char *data)
{
    char target[64];
    int fd = root_target(rootfd, path, false, target, sizeof(target));

    if (mount(src, target, fstype, flags, data) < 0)
        child_fail(-errno, "mount %s on %s: %s", fstype ? fstype : src, path, ERRSTR(errno));
    close(fd);
}

static void setup_dev(int rootfd, const char *root)
{
    static const struct {
        const char *name;
        unsigned maj, min;
    } nodes[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
                 {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
    static const struct {
        const char *link, *target;
    } links[] = {{"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"},
                 {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
                 {"ptmx", "pts/ptmx"},          {"core", "/proc/kcore"}};
    char path[PATH_MAX + 8];
    _cleanup_close_ int devfd = -1;

    mount_at(rootfd, "/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
    (void)snprintf(path, sizeof(path), "%s/dev", root);
    devfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (devfd < 0)
        child_fail(-errno, "open /dev: %s", ERRSTR(errno));
    /* Without a umask the nodes get their mode as made, no chmod each. */
    (void)umask(0);
    for (size_t i = 0; i < ELEMENTSOF(nodes); i++)
        if (mknodat(devfd, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) < 0)
            child_fail(-errno, "mknod /dev/%s: %s", nodes[i].name, ERRSTR(errno));
    (void)umask(022);
    for (size_t i = 0; i < ELEMENTSOF(links); i++)
        if (symlinkat(links[i].target, devfd, links[i].link) < 0)
            child_fail(-errno, "symlink /dev/%s: %s", links[i].link, ERRSTR(errno));
    if (mkdirat(devfd, "pts", 0755) < 0 || mkdirat(devfd, "shm", 01777) < 0 ||
        mkdirat(devfd, "mqueue", 0755) < 0)
        child_fail(-errno, "mkdir in /dev: %s", ERRSTR(errno));
    mount_at(rootfd, "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
             "newinstance,ptmxmode=0666,mode=0620,gid=5");
    mount_at(rootfd, "/dev/shm", "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
             "mode=1777,size=65536k");
    mount_at(rootfd, "/dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

/* What container runtimes hide or freeze in /proc and /sys (the OCI defaults of runc/moby). */
static const char *const masked_paths[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
};
static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

/*
 * A read-only copy of the mount tree at fd (an O_PATH fd), put on top of
 * it: open_tree() clones it detached, mount_setattr() sets the flags on the
 * copy and move_mount() attaches it, with no path to look up again (a bind
 * mount and a remount need the path resolved twice, through /proc/self/fd).
 * -ENOSYS on a kernel without these calls (before 5.12): nothing changed.
 */
static int bind_readonly_at(int fd)
{
    struct mount_attr attr = {
        .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
    };
    _cleanup_close_ int tree = -1;

    tree = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
    if (tree < 0)
        return -errno;
    /* On a kernel with open_tree() but no mount_setattr() (5.2 to 5.11) the copy is dropped. */
    if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
        return -errno;
    if (move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return -errno;
    return 0;
}

static void mask_paths(int rootfd)
{
    char target[64], null[64] = "";
    _cleanup_close_ int nfd = -1;
    int r;

    for (size_t i = 0; i < ELEMENTSOF(masked_paths); i++) {
        int fd = openat2_fd(rootfd, masked_paths[i], O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);
        struct stat st;

        if (fd == -ENOENT)
            continue;
        if (fd < 0)
            child_fail(fd, "mask %s: %s", masked_paths[i], ERRSTR(fd));
        if (fstat(fd, &st) < 0)
            child_fail(-errno, "mask %s: %s", masked_paths[i], ERRSTR(errno));
        fd_path(fd, target, sizeof(target));
        if (S_ISDIR(st.st_mode)) {
            if (mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      "size=0") < 0)
                child_fail(-errno, "mask %s: %s", masked_paths[i], ERRSTR(errno));
        } else {
            /* The container's /dev/null, looked up once for all the files masked. */
            if (nfd < 0) {
                nfd =
                    openat2_fd(rootfd, "/dev/null", O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);
                if (nfd < 0)
                    child_fail(nfd, "mask %s: open /dev/null: %s", masked_paths[i], ERRSTR(nfd));
                fd_path(nfd, null, sizeof(null));
            }
            if (mount(null, target, NULL, MS_BIND, NULL) < 0)
                child_fail(-errno, "mask %s: %s", masked_paths[i], ERRSTR(errno));
        }
        close(fd);
    }
    for (size_t i = 0; i < ELEMENTSOF(readonly_paths); i++) {
        int fd =
            openat2_fd(rootfd, readonly_paths[i], O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);

        if (fd == -ENOENT)
            continue;
        if (fd < 0)
            child_fail(fd, "read-only %s: %s", readonly_paths[i], ERRSTR(fd));
        r = bind_readonly_at(fd);
        if (r == 0) {
            close(fd);
            continue;
        }
        if (r != -ENOSYS)
            child_fail(r, "read-only %s: %s", readonly_paths[i], ERRSTR(r));
        /* A kernel before 5.12: a bind mount, then a remount of the mount found on top. */
        fd_path(fd, target, sizeof(target));
        if (mount(target, target, NULL, MS_BIND | MS_REC, NULL) < 0)
            child_fail(-errno, "read-only %s: %s", readonly_paths[i], ERRSTR(errno));
        close(fd);
        /* Reopen: the new bind mount now sits on top of the path. */
        fd = openat2_fd(rootfd, readonly_paths[i], O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);
        if (fd < 0)
            child_fail(fd, "read-only %s: %s", readonly_paths[i], ERRSTR(fd));
        fd_path(fd, target, sizeof(target));
        if (mount(NULL, target, NULL,
                  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            child_fail(-errno, "read-only %s: %s", readonly_paths[i], ERRSTR(errno));
        close(fd);
    }
}

/* ---- volumes -------------------------------------------------------------------------------- */

static const char *file_type_name(mode_t m)
{
    return S_ISDIR(m)    ? "a directory"
           : S_ISREG(m)  ? "a regular file"
           : S_ISSOCK(m) ? "a socket"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISLNK(m)  ? "a symbolic link"
                         : "a special file";
}

#define HOST_RESOLVE (RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

/* Opens the hostPath source as O_PATH, checking/creating it as its type says. */
static int open_host_path(const MountSpec *m)
{
    HostPathType t = m->host_path_type;
    struct stat st;
    int fd;

    fd = openat2_fd(AT_FDCWD, m->source, O_PATH, HOST_RESOLVE);
    if (fd == -ENOENT && t == HOST_PATH_DIRECTORY_OR_CREATE)
        fd = mkdir_p_under(AT_FDCWD, m->source, false, HOST_RESOLVE);
    else if (fd == -ENOENT && t == HOST_PATH_FILE_OR_CREATE) {
        _cleanup_free_ char *dir = strdup(m->source);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        _cleanup_close_ int pfd = -1;
        int nfd;

        if (!slash)
            child_fail(-ENOMEM, "out of memory");
        *slash = 0;
        pfd = openat2_fd(AT_FDCWD, dir[0] ? dir : "/", O_PATH | O_DIRECTORY, HOST_RESOLVE);
        if (pfd < 0)
            fd = pfd;
        else {
            nfd = openat(pfd, slash + 1, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (nfd >= 0)
                close(nfd);
            fd = openat2_fd(AT_FDCWD, m->source, O_PATH, HOST_RESOLVE);
        }
    }
    if (fd == -ELOOP)
        child_fail(fd,
                   "hostPath %s: a symbolic link in the path is refused (it could lead outside of "
                   "the intended place)",
                   m->source);
    if (fd < 0)
        child_fail(fd, "hostPath %s: %s", m->source, ERRSTR(fd));
    if (fstat(fd, &st) < 0)
        child_fail(-errno, "hostPath %s: %s", m->source, ERRSTR(errno));
    if (((t == HOST_PATH_DIRECTORY || t == HOST_PATH_DIRECTORY_OR_CREATE) &&
         !S_ISDIR(st.st_mode)) ||
        ((t == HOST_PATH_FILE || t == HOST_PATH_FILE_OR_CREATE) && !S_ISREG(st.st_mode)) ||
        (t == HOST_PATH_SOCKET && !S_ISSOCK(st.st_mode)) ||
        (t == HOST_PATH_CHAR_DEVICE && !S_ISCHR(st.st_mode)) ||
        (t == HOST_PATH_BLOCK_DEVICE && !S_ISBLK(st.st_mode)))
        child_fail(-EINVAL, "hostPath %s: type %s expected, found %s", m->source,
                   host_path_type_to_string(t), file_type_name(st.st_mode));
    return fd;
}

static void setup_mount(int rootfd, const MountSpec *m)
{
    char src[64], dst[64];
    int sfd, dfd;
    struct stat st;
    struct statvfs sv;

    if (m->kind == MOUNT_KIND_HOST_PATH)
        sfd = open_host_path(m);
    else {
        sfd = openat2_fd(AT_FDCWD, m->source, O_PATH | O_DIRECTORY, HOST_RESOLVE);
        if (sfd < 0)
            child_fail(sfd, "emptyDir %s: %s (was the pod sandbox created?)", m->source,
                       ERRSTR(sfd));
    }
    if (m->sub_path) {
        int sub;

        if (fstat(sfd, &st) < 0 || !S_ISDIR(st.st_mode))
            child_fail(-ENOTDIR, "subPath %s: volume %s is not a directory", m->sub_path,
                       m->source);
        sub = mkdir_p_under(sfd, m->sub_path, false, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
        if (sub == -EXDEV || sub == -ELOOP)
            child_fail(sub, "subPath %s of %s leads outside of the volume", m->sub_path, m->source);
        if (sub < 0)
            child_fail(sub, "subPath %s of %s: %s", m->sub_path, m->source, ERRSTR(sub));
        close(sfd);
        sfd = sub;
    }
    if (fstat(sfd, &st) < 0)
        child_fail(-errno, "volume %s: %s", m->source, ERRSTR(errno));
    dfd = root_target(rootfd, m->destination, !S_ISDIR(st.st_mode), dst, sizeof(dst));
    fd_path(sfd, src, sizeof(src));
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
        child_fail(-errno, "mount %s on %s: %s", m->source, m->destination, ERRSTR(errno));
    close(dfd);
    if (m->read_only) {
        unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY;

        dfd = openat2_fd(rootfd, m->destination, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        if (dfd < 0)
            child_fail(dfd, "remount %s read-only: %s", m->destination, ERRSTR(dfd));
        /* A bind remount resets the per-mount flags it is not given: keep the source's. */
        if (fstatvfs(dfd, &sv) == 0) {
            if (sv.f_flag & ST_NOSUID)
                flags |= MS_NOSUID;
            if (sv.f_flag & ST_NODEV)
                flags |= MS_NODEV;
            if (sv.f_flag & ST_NOEXEC)
                flags |= MS_NOEXEC;
        }
        fd_path(dfd, dst, sizeof(dst));
        if (mount(NULL, dst, NULL, flags, NULL) < 0)
            child_fail(-errno, "remount %s read-only: %s", m->destination, ERRSTR(errno));
        close(dfd);
    }
    close(sfd);
}

/* ---- user --------------------------------------------------------------------------------- */

typedef struct ResolvedUser {
    uid_t uid;
    gid_t gid;
    gid_t groups[64];
    size_t n_groups;
    char home[256];
} ResolvedUser;

static bool parse_id(const char *s, unsigned *ret)
{
    int64_t v;

    if (parse_int64(s, &v) < 0 || v < 0 || v >= UINT32_MAX)
        return false;
    *ret = (unsigned)v;
    return true;
}

/* Looks "name" or a numeric id up in an /etc/passwd- or /etc/group-style file of the image. */
static bool lookup_db(const char *file, const char *key, char *line, size_t size, char **fields,
                      size_t n_fields)
{
    FILE *f = fopen(file, "re");
    bool found = false;
    unsigned want = 0;
    bool numeric = parse_id(key, &want);

    if (!f)
        return false;
    while (!found && fgets(line, (int)size, f)) {
        size_t n = 0;
        char *s = line, *e;
        unsigned id;

        line[strcspn(line, "\n")] = 0;
        while (n < n_fields) {
            fields[n++] = s;
            e = strchr(s, ':');
            if (!e)
                break;
            *e = 0;
            s = e + 1;
        }
        if (n < 3)
            continue;
        while (n < n_fields)
            fields[n++] = "";
        found = numeric ? parse_id(fields[2], &id) && id == want : streq(fields[0], key);
    }
    fclose(f);
    return found;
}

static void resolve_user(const ContainerConfig *c, ResolvedUser *u)
{
    char user[256] = "0", line[1024], *fields[7], *group = NULL, username[256] = "";
    FILE *f;

    *u = (ResolvedUser){0};
    (void)snprintf(u->home, sizeof(u->home), "/");
    if (c->user)
        (void)snprintf(user, sizeof(user), "%s", c->user);
    group = strchr(user, ':');
    if (group)
        *group++ = 0;
    if (lookup_db("/etc/passwd", user, line, sizeof(line), fields, 7)) {
        unsigned id;

        if (!parse_id(fields[2], &u->uid) || !parse_id(fields[3], &id))
            child_fail(-EINVAL, "user %s: malformed entry in the image's /etc/passwd", user);
        u->gid = id;
        (void)snprintf(username, sizeof(username), "%s", fields[0]);
        if (fields[5][0])
            (void)snprintf(u->home, sizeof(u->home), "%s", fields[5]);
    } else if (!parse_id(user, &u->uid))
        child_fail(-ENOENT, "user %s: not found in the image's /etc/passwd (image %s)", user,
                   c->image);
    else
        u->gid = 0;
    if (group) {
        if (lookup_db("/etc/group", group, line, sizeof(line), fields, 4)) {
            if (!parse_id(fields[2], &u->gid))
                child_fail(-EINVAL, "group %s: malformed entry in the image's /etc/group", group);
        } else if (!parse_id(group, &u->gid))
            child_fail(-ENOENT, "group %s: not found in the image's /etc/group (image %s)", group,
                       c->image);
    }
    /* Supplementary groups: the image's memberships of the user, then the configured ones. */
    f = username[0] ? fopen("/etc/group", "re") : NULL;
    while (f && fgets(line, sizeof(line), f) && u->n_groups < ELEMENTSOF(u->groups)) {
        char *save = NULL, *gid_s, *members, *m;
        unsigned gid;

        line[strcspn(line, "\n")] = 0;
        if (!strtok_r(line, ":", &save) || !strtok_r(NULL, ":", &save))
            continue;
        gid_s = strtok_r(NULL, ":", &save);
        members = strtok_r(NULL, ":", &save);
        if (!gid_s || !members || !parse_id(gid_s, &gid))
            continue;
        for (m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save))
            if (streq(m, username) && gid != u->gid)
                u->groups[u->n_groups++] = gid;
    }
    if (f)
        fclose(f);
    for (size_t i = 0; i < c->n_supplementary_groups && u->n_groups < ELEMENTSOF(u->groups); i++)
        u->groups[u->n_groups++] = c->supplementary_groups[i];
}

/*
 * runAsNonRoot, as the kubelet enforces it, with its messages: the native
 * runtime knows the user only here, resolved in the image, so a name that
 * is root is caught as well as a missing runAsUser (the image runs as root).
 */
static void check_non_root(const ContainerConfig *c, const ResolvedUser *u)
{
    char user[256] = "", ns[128] = "default";
    const char *sep = c->pod ? strstr(c->id, c->pod) : NULL;
    int64_t id;

    if (!c->run_as_non_root || u->uid != 0)
        return;
    /* The id is "<namespace>_<pod>_<container>": the kubelet names pods "<pod>_<namespace>". */
    if (sep && sep > c->id && sep[-1] == '_')
        (void)snprintf(ns, sizeof(ns), "%.*s", (int)(sep - c->id - 1), c->id);
    if (c->user)
        (void)snprintf(user, sizeof(user), "%.*s", (int)strcspn(c->user, ":"), c->user);
    if (!user[0])
        child_fail(RUNTIME_ERR_CONFIG,
                   "container has runAsNonRoot and image will run as root (pod: \"%s_%s\", "
                   "container: %s)",
                   c->pod ? c->pod : "", ns, c->name ? c->name : "");
    if (parse_int64(user, &id) == 0)
        child_fail(RUNTIME_ERR_CONFIG,
                   "container's runAsUser breaks non-root policy (pod: \"%s_%s\", container: %s)",
                   c->pod ? c->pod : "", ns, c->name ? c->name : "");
    child_fail(RUNTIME_ERR_CONFIG,
               "container has runAsNonRoot and image will run as root: user '%s' is uid 0 in the "
               "image's /etc/passwd (pod: \"%s_%s\", container: %s)",
               user, c->pod ? c->pod : "", ns, c->name ? c->name : "");
}

/* ---- the final steps, shared by the first process and exec ---------------------------------- */

static const char *env_get(char *const *env, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; env && env[i]; i++)
        if (strneq(env[i], name, n) && env[i][n] == '=')
            return env[i] + n + 1;
    return NULL;
}

/* The nice level before native_start_priority_lower(); INT_MIN: not lowered. */
static int run_nice = INT_MIN;

/* CAP_SYS_NICE in our effective set: what raises a nice level again (setpriority(2)). */
static bool can_raise_priority(void)
{
    cap_t cur = cap_get_proc();
    cap_flag_value_t f = CAP_CLEAR;

    if (!cur)
        return false;
    if (cap_get_flag(cur, CAP_SYS_NICE, CAP_EFFECTIVE, &f) < 0)
        f = CAP_CLEAR;
    cap_free(cur);
    return f == CAP_SET;
}

int native_start_priority_lower(void)
{
    int now, low;

    errno = 0;
    now = getpriority(PRIO_PROCESS, 0);
    if (now == -1 && errno != 0)
        return -errno;
    low = now + NATIVE_START_NICE_DELTA > 19 ? 19 : now + NATIVE_START_NICE_DELTA;
    if (low == now || run_nice != INT_MIN)
        return 0;
    /* Only where the way back is allowed: what we start must not stay low. */
    if (!can_raise_priority())
        return -EPERM;
    if (setpriority(PRIO_PROCESS, 0, low) < 0)
        return -errno;
    run_nice = now;
    return 0;
}

int native_run_priority_restore(void)
{
    if (run_nice == INT_MIN)
        return 0;
    return setpriority(PRIO_PROCESS, 0, run_nice) < 0 ? -errno : 0;
}

/* What the parent's hooks->prepare() made for the child (spawn only). */
static unsigned char child_prepared[SECURITY_PREPARED_MAX];
static size_t child_prepared_len;

/* hooks->prepare()'s bytes in buf: their length, 0 when there is none or it failed. */
static size_t hooks_prepare(const ContainerConfig *c, const SecurityHooks *hooks, void *buf,
                            size_t size)
{
    ssize_t n = hooks && hooks->prepare ? hooks->prepare(c, buf, size) : 0;

    return n > 0 && (size_t)n <= size ? (size_t)n : 0;
}

static _Noreturn void child_finish(const ContainerConfig *c, const SecurityHooks *hooks,
                                   char *const *argv, const char *cwd)
{
    /* Nothing allocated: the child may run in our memory, and is not to leave it in our heap. */
    size_t n_env = strv_length(c->env);
    char *env[n_env + 3], home[sizeof("HOME=") + sizeof(((ResolvedUser *)NULL)->home)];
    ResolvedUser u;
    const char *path, *cmd = argv[0];
    char exe[PATH_MAX];
    int r, err = ENOENT;

    resolve_user(c, &u);
    check_non_root(c, &u);
    /* While still allowed to (before the user and the capabilities change). */
    r = native_run_priority_restore();
    if (r < 0)
        child_fail(r, "restore the CPU priority (nice %d): %s", run_nice, ERRSTR(-r));
    if (n_env > 0)
        memcpy(env, c->env, n_env * sizeof(char *));
    env[n_env] = NULL;
    if (!env_get(env, "PATH")) {
        env[n_env++] = (char *)"PATH=" RUNTIME_DEFAULT_PATH;
        env[n_env] = NULL;
    }
    if (!env_get(env, "HOME")) {
        (void)snprintf(home, sizeof(home), "HOME=%s", u.home);
        env[n_env++] = home;
        env[n_env] = NULL;
    }

    for (size_t i = 0; i < c->n_rlimits; i++) {
        const RlimitSpec *rl = &c->rlimits[i];
        struct rlimit lim = {.rlim_cur = rl->soft, .rlim_max = rl->hard};

        if (setrlimit(rl->resource, &lim) < 0)
            child_fail(-errno, "setrlimit %s %" PRIu64 ":%" PRIu64 ": %s",
                       runtime_rlimit_to_name(rl->resource), rl->soft, rl->hard, ERRSTR(errno));
    }
    if (c->no_new_privs && !c->privileged && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        child_fail(-errno, "set no_new_privs: %s", ERRSTR(errno));
    if (hooks && hooks->pre_user) {
        PdError e = {0};

        r = hooks->pre_user(c, child_prepared, child_prepared_len, &e);
        if (r < 0)
            child_fail(r, "%s", e.message);
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        child_fail(-errno, "keep capabilities: %s", ERRSTR(errno));
    if (setgroups(u.n_groups, u.groups) < 0)
        child_fail(-errno, "setgroups: %s", ERRSTR(errno));
    if (setresgid(u.gid, u.gid, u.gid) < 0)
        child_fail(-errno, "setgid %u: %s", (unsigned)u.gid, ERRSTR(errno));
    if (setresuid(u.uid, u.uid, u.uid) < 0)
        child_fail(-errno, "setuid %u: %s", (unsigned)u.uid, ERRSTR(errno));
    if (hooks && hooks->post_user) {
        PdError e = {0};

        r = hooks->post_user(c, &e);
        if (r < 0)
            child_fail(r, "%s", e.message);
    }
    (void)prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    if (cwd && chdir(cwd) < 0)
        child_fail(-errno, "workingDir %s: %s", cwd, ERRSTR(errno));

    /* Stray descriptors: everything above stderr except the (close-on-exec) error pipe. */
    (void)close_fds_except(&child_err_fd, 1);
    (void)prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);

    if (strchr(cmd, '/')) {
        execve(cmd, argv, env);
        child_fail(-errno, "exec %s: %s (image %s)", cmd, ERRSTR(errno), c->image);
    }
    path = env_get(env, "PATH");
    for (const char *p = path; p && *p;) {
        size_t n = strcspn(p, ":");

        (void)snprintf(exe, sizeof(exe), "%.*s/%s", (int)n, n ? p : ".", cmd);
        execve(exe, argv, env);
        if (errno != ENOENT && errno != ENOTDIR)
            err = errno;
        p += n;
        if (*p == ':')
            p++;
    }
    if (err != ENOENT)
        child_fail(-err, "exec %s: %s (image %s)", cmd, ERRSTR(err), c->image);
    child_fail(-ENOENT, "exec %s: executable file not found in $PATH (image %s)", cmd, c->image);
}

/* The pod's namespaces the child joins, opened by the parent: pins may be absent where it is. */
static const struct {
    int type;
    const char *what;
} join_nss[] = {{CLONE_NEWNET, "network"}, {CLONE_NEWIPC, "IPC"}, {CLONE_NEWUTS, "UTS"}};

static const char *join_ns_path(const ContainerConfig *c, size_t i)
{
    const char *const paths[] = {c->ns.net, c->ns.ipc, c->ns.uts};

    return paths[i];
}

static int join_ns_open(const ContainerConfig *c, int fds[ELEMENTSOF(join_nss)], PdError *reterr)
{
    for (size_t i = 0; i < ELEMENTSOF(join_nss); i++) {
        const char *path = join_ns_path(c, i);

        if (!path)
            continue;
        fds[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0)
            return pd_error_set(reterr, -errno, "open %s namespace %s: %s", join_nss[i].what, path,
                                ERRSTR(errno));
    }
    return 0;
}

static void close_ns_fds(int fds[ELEMENTSOF(join_nss)])
{
    for (size_t i = 0; i < ELEMENTSOF(join_nss); i++)
        if (fds[i] >= 0) {
            (void)close(fds[i]);
            fds[i] = -1;
        }
}

static void join_ns(const ContainerConfig *c, const int fds[ELEMENTSOF(join_nss)])
{
    for (size_t i = 0; i < ELEMENTSOF(join_nss); i++) {
        if (fds[i] < 0)
            continue;
        if (setns(fds[i], join_nss[i].type) < 0)
            child_fail(-errno, "join %s namespace %s: %s", join_nss[i].what, join_ns_path(c, i),
                       ERRSTR(errno));
        (void)close(fds[i]);
    }
}

/* Reads exactly size bytes; false on EOF or error. */
static bool read_full(int fd, void *buf, size_t size)
{
    for (size_t done = 0; done < size;) {
        ssize_t n = read(fd, (char *)buf + done, size - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += (size_t)n;
    }
    return true;
}

/*
 * What the container's child is given. It may run in our memory (clone()
 * with CLONE_VM), so it writes nothing here nor in any variable of ours that
 * we read afterwards (valgrind runs such a child as a fork: we could not
 * rely on it either), and what it allocates it frees before the exec
 * (child_finish() keeps the environment on its stack): nothing of it stays
 * in our heap.
 */
typedef struct ChildArgs {
    const ContainerConfig *c;
    const ContainerStdio *stdio;
    const SecurityHooks *hooks;
    int err_fd;          /* the ChildError pipe's write end */
    int unused_fds[2];   /* our ends of the pipes, closed in the child */
    int go_fd;           /* -1: no go to wait for, child_prepared holds hooks->prepare()'s */
    const int *join_fds; /* the `tasks` files of the container's v1 hierarchies */
    size_t n_join;       /* 0 when clone3 put it there already or the parent moves it */
    const int *ns_fds;   /* join_ns_open()'s */
} ChildArgs;

static void lean_mounts_close_fds(void);

/* Waits for the parent's go and reads what hooks->prepare() made into child_prepared. */
static void child_wait_for_go(int go_fd)
{
    uint32_t len;
    ssize_t n;
    char b;

    do
        n = read(go_fd, &b, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        _exit(127); /* the parent failed and reports why */
    /* Then the length of what hooks->prepare() made (host byte order) and the bytes. */
    if (!read_full(go_fd, &len, sizeof(len)) || len > sizeof(child_prepared) ||
        !read_full(go_fd, child_prepared, len))
        _exit(127);
    child_prepared_len = len;
    close(go_fd);
}

static _Noreturn void container_child(const ChildArgs *a)
{
    const ContainerConfig *c = a->c;
    int join_fds[CGROUP_JOIN_FDS_MAX];
    _cleanup_close_ int rootfd = -1;
    char root[PATH_MAX];
    int r;

    (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    child_err_fd = a->err_fd;
    for (size_t i = 0; i < ELEMENTSOF(a->unused_fds); i++)
        if (a->unused_fds[i] >= 0)
            (void)close(a->unused_fds[i]);
    /* First, so that the setup below is charged to the container. A copy: it sets them to -1. */
    memcpy(join_fds, a->join_fds, a->n_join * sizeof(int));
    r = cgroup_join_fds(join_fds, a->n_join);
    if (r < 0)
        child_fail(r, "join cgroup %s: %s", c->cgroup, ERRSTR(r));
    reset_signals();
    (void)umask(022);
    lean_mounts_close_fds();
    join_ns(c, a->ns_fds);
    if (!c->ns.uts && c->hostname && unshare(CLONE_NEWUTS) < 0)
        child_fail(-errno, "new UTS namespace: %s", ERRSTR(errno));
    if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0)
        child_fail(-errno, "set hostname %s: %s", c->hostname, ERRSTR(errno));

    if (dup2(a->stdio->stdin_fd, 0) < 0 || dup2(a->stdio->stdout_fd, 1) < 0 ||
        dup2(a->stdio->stderr_fd, 2) < 0)
        child_fail(-errno, "set up stdio: %s", ERRSTR(errno));

    /* Nothing we mount may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        child_fail(-errno, "make mounts private: %s", ERRSTR(errno));
    (void)snprintf(root, sizeof(root), "%s/rootfs", c->run_dir);
    setup_rootfs(c, root);
    rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        child_fail(-errno, "open rootfs %s: %s", root, ERRSTR(errno));

    mount_at(rootfd, "/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    setup_dev(rootfd, root);
    mount_at(rootfd, "/sys", "sysfs", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mask_paths(rootfd);
    for (size_t i = 0; i < c->n_mounts; i++)
        setup_mount(rootfd, &c->mounts[i]);
    if (c->read_only_rootfs && mount(NULL, root, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
        child_fail(-errno, "make rootfs read-only: %s", ERRSTR(errno));

    if (chdir(root) < 0)
        child_fail(-errno, "chdir %s: %s", root, ERRSTR(errno));
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        child_fail(-errno, "pivot_root %s: %s", root, ERRSTR(errno));
    if (umount2(".", MNT_DETACH) < 0)
        child_fail(-errno, "detach the old root: %s", ERRSTR(errno));
    if (chdir("/") < 0)
        child_fail(-errno, "chdir /: %s", ERRSTR(errno));

    /*
     * A child in its own memory waits until the parent is done with it
     * (pinned the pod's PID namespace; moved it into the cgroup where it
     * could not join it itself, which on v1 waits for an RCU grace period:
     * in parallel with the mounts).
     */
    if (a->go_fd >= 0)
        child_wait_for_go(a->go_fd);
    /* After joining, so the container sees its own cgroup as the root. */
    if (c->cgroup && unshare(CLONE_NEWCGROUP) < 0 && errno != EINVAL)
        child_fail(-errno, "new cgroup namespace: %s", ERRSTR(errno));

    child_finish(c, a->hooks, c->args, c->working_dir);
}

/* clone()'s entry point for a child in our memory. */
static int container_child_in_our_memory(void *userdata)
{
    container_child(userdata);
}

static int read_child_error(int fd, PdError *reterr)
{
    ChildError e;
    ssize_t n;

    do
        n = read(fd, &e, sizeof(e));
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return 0; /* EOF: the exec succeeded */
    if (n != (ssize_t)sizeof(e))
        return pd_error_set(reterr, -EIO, "container setup failed without a message");
    e.message[sizeof(e.message) - 1] = 0;
    return pd_error_set(reterr, e.code, "%s", e.message);
}

/*
 * The child's stack when it runs in our memory: setup_rootfs() and
 * child_finish() keep a few paths on it, libcap and stdio calls take some
 * more. A start used 25 KiB of it, 42 KiB in a sanitizer build (measured
 * by filling it first). Only what the child touches becomes memory.
 */
#define CHILD_STACK_SIZE (256 * 1024)

/*
 * Clones the container's child in our memory, as posix_spawn(3) does: we
 * wait until it has exec'd or died. Signals stay blocked until it has
 * reset its handlers, so that none of ours runs on its stack.
 */
static pid_t clone_child_in_our_memory(int flags, ChildArgs *args)
{
    _Alignas(64) char stack[CHILD_STACK_SIZE];
    sigset_t all, saved;
    pid_t pid;
    int err;

    (void)sigfillset(&all);
    if (sigprocmask(SIG_BLOCK, &all, &saved) < 0)
        return -1;
    pid = clone(container_child_in_our_memory, stack + sizeof(stack),
                flags | CLONE_VM | CLONE_VFORK, args);
    err = errno;
    (void)sigprocmask(SIG_SETMASK, &saved, NULL);
    errno = err;
    return pid;
}

/*
 * clone(2) used like fork(2); on cgroup v2 clone3(2) straight into the
 * container's cgroup. Returns 0 in the child.
 */
static pid_t clone_child(int flags, const char *cgroup, bool *ret_into_cgroup)
{
    int cgfd = cgroup_open_v2(cgroup);
    pid_t pid = -1;

    *ret_into_cgroup = false;
    if (cgfd >= 0) {
        struct clone3_args a = {
            .flags = ((uint64_t)flags & ~(uint64_t)0xff) | CLONE_INTO_CGROUP,
            .exit_signal = SIGCHLD,
            .cgroup = (uint64_t)cgfd,
        };

        pid = (pid_t)syscall(SYS_clone3, &a, sizeof(a));
        if (pid == 0)
            return 0;
        *ret_into_cgroup = pid > 0;
        close(cgfd);
        if (pid > 0 || errno == ENOMEM)
            return pid;
    }
    /* v1, or a kernel without clone3/CLONE_INTO_CGROUP: clone, then the parent moves it. */
    return (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
}

/*
 * Lets the child go past pivot_root: one byte, then the length and bytes of
 * hooks->prepare(), made here while the child mounts. Errors are ignored:
 * EPIPE when the child died already (its message waits on errp); a failed
 * prepare sends nothing and pre_user does the work itself.
 */
static void send_go(int fd, const ContainerConfig *c, const SecurityHooks *hooks)
{
    static unsigned char msg[1 + sizeof(uint32_t) + SECURITY_PREPARED_MAX];
    uint32_t len =
        (uint32_t)hooks_prepare(c, hooks, msg + 1 + sizeof(uint32_t), SECURITY_PREPARED_MAX);
    size_t total = 1 + sizeof(len) + len, done = 0;

    msg[0] = 'g';
    memcpy(msg + 1, &len, sizeof(len));
    while (done < total) {
        ssize_t w = send(fd, msg + done, total - done, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        done += (size_t)w;
    }
}

/*
 * The last start's writable layer and overlay work directory: moved aside
 * before the clone (a rename each, ENOENT when there are none), removed by
 * native_container_tidy() once the start is answered, so that a restart
 * does not wait for the removal: the child and whoever removes them share a
 * CPU more often than not. On a disk with online discard each removed
 * directory waits for the device.
 */
static const char *const stale_layers[][2] = {{"upper", ".upper-old"}, {"work", ".work-old"}};

static void stale_layers_move(const ContainerConfig *c, bool moved[2])
{
    char from[PATH_MAX], to[PATH_MAX];

    for (size_t i = 0; i < ELEMENTSOF(stale_layers); i++) {
        moved[i] = false;
        if ((size_t)snprintf(from, sizeof(from), "%s/%s", c->run_dir, stale_layers[i][0]) >=
                sizeof(from) ||
            (size_t)snprintf(to, sizeof(to), "%s/%s", c->run_dir, stale_layers[i][1]) >= sizeof(to))
            continue;
        if (rename(from, to) == 0)
            moved[i] = true;
        else if (errno != ENOENT && rm_rf_at(AT_FDCWD, to) >= 0)
            /* A leftover of a start that died before its removal was in the way. */
            moved[i] = rename(from, to) == 0;
    }
}

static void stale_layers_remove(const ContainerConfig *c, const bool moved[2])
{
    char path[PATH_MAX];

    for (size_t i = 0; i < ELEMENTSOF(stale_layers); i++)
        if (moved[i] && (size_t)snprintf(path, sizeof(path), "%s/%s", c->run_dir,
                                         stale_layers[i][1]) < sizeof(path))
            (void)rm_rf_at(AT_FDCWD, path);
}

void native_container_tidy(const ContainerConfig *c)
{
    stale_layers_remove(c, (const bool[ELEMENTSOF(stale_layers)]){true, true});
}

/* ---- the mount namespace containers are cloned from ----------------------------------- */

/* Set by native_lean_mounts_init() in the spawner; the starters it forks inherit them. */
static int lean_mnt_fd = -1, host_mnt_fd = -1;

/*
 * Closes the descriptors and leaves the variables alone: the container's
 * child, which must not keep them (close-on-exec anyway), may run in our
 * memory, where they are ours.
 */
static void lean_mounts_close_fds(void)
{
    if (lean_mnt_fd >= 0)
        (void)close(lean_mnt_fd);
    if (host_mnt_fd >= 0)
        (void)close(host_mnt_fd);
}

void native_lean_mounts_close(void)
{
    lean_mounts_close_fds();
    lean_mnt_fd = host_mnt_fd = -1;
}

/* Undoes mountinfo's escapes (\\ooo for space, tab, newline, backslash) in place. */
static void mountinfo_unescape(char *s)
{
    char *out = s;

    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else
            *out++ = *s;
    }
    *out = 0;
}

/*
 * Of one line of mountinfo, the mount point (unescaped) and the file system
 * type, in place; false for a line not as expected.
 */
static bool mountinfo_split(char *line, char **ret_mp, char **ret_type)
{
    /* id parent major:minor root mount-point options [optional...] - type source super */
    char *mp = line, *end, *type;

    for (int i = 0; i < 4 && mp; i++) {
        mp = strchr(mp, ' ');
        mp = mp ? mp + 1 : NULL;
    }
    end = mp ? strchr(mp, ' ') : NULL;
    type = end ? strstr(end, " - ") : NULL;
    if (!type)
        return false;
    type += 3;
    *end = 0;
    end = strchr(type, ' ');
    if (end)
        *end = 0;
    mountinfo_unescape(mp);
    *ret_mp = mp;
    *ret_type = type;
    return true;
}

/* Whether lean_hide() takes the mount at mp (of type type) out of a copy. */
static bool lean_drops(const char *hidden, const char *mp, const char *type)
{
    size_t n = strlen(hidden), len = strlen(mp);

    return (len > n && strncmp(mp, hidden, n) == 0 && mp[n] == '/') || streq(type, "nsfs");
}

/*
 * In the copy: detaches what is mounted below hidden, and every namespace
 * pin (nsfs) anywhere, such as another podd's: a container cloned from the
 * copy needs none, and the copy must not keep a namespace alive. Then
 * makes the mount that holds hidden private, so that no pin made later in
 * ours comes here.
 */
static int lean_hide(const char *hidden, PdError *reterr)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char *line = NULL, **drop = NULL, *parent = NULL;
    size_t size = 0, n = strlen(hidden), n_drop = 0, best = 0;
    int r = 0;

    if (!f)
        return pd_error_set(reterr, -errno, "open /proc/self/mountinfo: %s", ERRSTR(errno));
    while (r == 0 && getline(&line, &size, f) > 0) {
        char *mp, *type;
        size_t len;

        if (!mountinfo_split(line, &mp, &type))
            continue;
        len = strlen(mp);
        if (lean_drops(hidden, mp, type)) {
            if (strv_extend(&drop, mp) < 0)
                r = -ENOMEM;
            else
                n_drop++;
        } else if ((len == 1 || (len <= n && strncmp(mp, hidden, len) == 0 &&
                                 (hidden[len] == '/' || hidden[len] == 0))) &&
                   len >= best) {
            /* The last of the longest: the one on top. */
            free(parent);
            parent = strdup(mp);
            best = len;
            if (!parent)
                r = -ENOMEM;
        }
    }
    free(line);
    (void)fclose(f);
    /* Children come after their parents in mountinfo: from the end (a path gone is no error). */
    for (size_t i = n_drop; r == 0 && i > 0; i--)
        r = umount_all(drop[i - 1]);
    if (r < 0)
        (void)pd_error_set(reterr, r, "unmount the pins in the copy: %s", ERRSTR(r));
    else if (!parent)
        r = pd_error_set(reterr, -ENOENT, "no mount holds %s", hidden);
    else if (mount(NULL, parent, NULL, MS_PRIVATE, NULL) < 0)
        r = pd_error_set(reterr, -errno, "make %s private in the copy: %s", parent, ERRSTR(errno));
    strv_free(drop);
    free(parent);
    return r;
}

int native_lean_mounts_digest(const char *hidden, char ret[static CONTENT_HASH_MAX],
                              PdError *reterr)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char *line = NULL;
    size_t size = 0;
    ssize_t n;
    Sha256 h;

    if (!f)
        return pd_error_set(reterr, -errno, "open /proc/self/mountinfo: %s", ERRSTR(errno));
    sha256_init(&h);
    while ((n = getline(&line, &size, f)) > 0) {
        /* The line whole goes in, before mountinfo_split() cuts it; taken back when dropped. */
        Sha256 with = h;
        char *mp, *type;

        sha256_update(&with, line, (size_t)n);
        if (!mountinfo_split(line, &mp, &type) || !lean_drops(hidden, mp, type))
            h = with;
    }
    free(line);
    (void)fclose(f);
    sha256_final_hex(&h, ret);
    return 0;
}

/*
 * Back into our own mount namespace, host, from a copy, errno kept. Staying
 * in the copy would hide the pins from everything we do: abort() when not.
 */
static void lean_return(int host)
{
    int saved = errno;

    if (setns(host, CLONE_NEWNS) < 0) {
        (void)fprintf(stderr, "cannot return to its own mount namespace: %m\n");
        abort();
    }
    errno = saved;
}

/*
 * In a new copy of the mount namespace, just unshared: makes its mounts
 * slaves of ours, then takes out what hidden names (lean_hide()).
 */
static int lean_prune(const char *hidden, PdError *reterr)
{
    /* Slaves first: the unmounts of lean_hide() must not propagate to our own namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return pd_error_set(reterr, -errno, "make the copy's mounts slaves: %s", ERRSTR(errno));
    return lean_hide(hidden, reterr);
}

/*
 * Makes a copy of our mount namespace, host, without what hidden names
 * (native_lean_mounts_init()) and opens it in *ret_lean; we are back in
 * host when it returns.
 */
static int lean_make(const char *hidden, int host, int *ret_lean, PdError *reterr)
{
    int lean = -1, r = 0;

    if (unshare(CLONE_NEWNS) < 0)
        return pd_error_set(reterr, -errno, "new mount namespace: %s", ERRSTR(errno));
    r = lean_prune(hidden, reterr);
    if (r == 0 && (lean = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)) < 0)
        r = pd_error_set(reterr, -errno, "open /proc/self/ns/mnt: %s", ERRSTR(errno));
    lean_return(host);
    if (r < 0) {
        if (lean >= 0)
            (void)close(lean);
        return r;
    }
    *ret_lean = lean;
    return 0;
}

int native_lean_mounts_init(const char *hidden, PdError *reterr)
{
    int host, lean = -1, r;

    if (lean_mnt_fd >= 0)
        return 0;
    host = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (host < 0)
        return pd_error_set(reterr, -errno, "open /proc/self/ns/mnt: %s", ERRSTR(errno));
    r = lean_make(hidden, host, &lean, reterr);
    if (r < 0) {
        (void)close(host);
        return r;
    }
    lean_mnt_fd = lean;
    host_mnt_fd = host;
    return 0;
}

/* What the child making a new copy answers: 0 and the copy is its namespace, or -errno. */
typedef struct LeanAnswer {
    int code;
    char message[256];
} LeanAnswer;

/*
 * The child of native_lean_mounts_renew_start(): makes the new copy its own
 * mount namespace (as lean_make() does), answers on sock, and stays in it
 * until the parent, which opens it through /proc/PID/ns/mnt, closes its end.
 */
static _Noreturn void lean_renew_child(const char *hidden, int sock)
{
    LeanAnswer a = {0};
    PdError e = {0};
    char b;

    if (close_fds_except(&sock, 1) < 0)
        a.code = pd_error_set(&e, -errno, "close the fds: %s", ERRSTR(errno));
    else if (unshare(CLONE_NEWNS) < 0)
        a.code = pd_error_set(&e, -errno, "new mount namespace: %s", ERRSTR(errno));
    else
        a.code = lean_prune(hidden, &e);
    if (a.code < 0)
        (void)snprintf(a.message, sizeof(a.message), "%.255s", e.message);
    if (send(sock, &a, sizeof(a), MSG_NOSIGNAL) == (ssize_t)sizeof(a) && a.code == 0)
        (void)!read(sock, &b, 1);
    _exit(0);
}

int native_lean_mounts_renew_start(const char *hidden, int *ret_fd, pid_t *ret_pid, PdError *reterr)
{
    int sv[2];
    pid_t pid;

    if (host_mnt_fd < 0)
        return pd_error_set(reterr, -EBADF, "no copy to renew: native_lean_mounts_init() failed");
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        pid = -1;
        sv[0] = sv[1] = -1;
    } else {
        (void)fflush(NULL);
        pid = fork();
        if (pid == 0)
            lean_renew_child(hidden, sv[1]);
    }
    if (pid < 0) {
        int r = pd_error_set(reterr, -errno, "make a new copy: %s", ERRSTR(errno));

        if (sv[0] >= 0) {
            (void)close(sv[0]);
            (void)close(sv[1]);
        }
        /* As when finish fails: the old one keeps what was unmounted here alive. */
        if (lean_mnt_fd >= 0)
            (void)close(lean_mnt_fd);
        lean_mnt_fd = -1;
        return r;
    }
    (void)close(sv[1]);
    *ret_fd = sv[0];
    *ret_pid = pid;
    return 0;
}

int native_lean_mounts_renew_finish(int fd, pid_t pid, PdError *reterr)
{
    LeanAnswer a = {.code = -EPIPE};
    char path[64];
    int lean = -1, r;
    ssize_t n = recv(fd, &a, sizeof(a), 0);

    if (n != (ssize_t)sizeof(a))
        r = pd_error_set(reterr, n < 0 ? -errno : -EPIPE, "no answer from the child");
    else if (a.code < 0)
        r = pd_error_set(reterr, a.code, "%.*s", (int)sizeof(a.message), a.message);
    else {
        (void)snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
        lean = open(path, O_RDONLY | O_CLOEXEC);
        r = lean < 0 ? pd_error_set(reterr, -errno, "open %s: %s", path, ERRSTR(errno)) : 0;
    }
    /* The child exits when it reads EOF; the kernel reaps it (SIGCHLD is ignored). */
    (void)close(fd);
    /* Even when no new one was made: the old one keeps what was unmounted here alive. */
    if (lean_mnt_fd >= 0)
        (void)close(lean_mnt_fd);
    lean_mnt_fd = lean;
    return r;
}

size_t native_lean_mounts_fds(int ret[2])
{
    if (lean_mnt_fd < 0)
        return 0;
    ret[0] = lean_mnt_fd;
    ret[1] = host_mnt_fd;
    return 2;
}

#define LEAN_MAX_PATHS 64

/* The file a path names: the run dir (i 0) or image layer i - 1. */
static bool lean_stat(const ContainerConfig *c, size_t i, dev_t *dev, ino_t *ino)
{
    struct stat st;

    if (stat(i == 0 ? c->run_dir : c->image_layers[i - 1], &st) < 0)
        return false;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return true;
}

/*
 * Enters the namespace the container is to be cloned from, when there is one
 * (native_lean_mounts_init()) and the container sees the same in it: no
 * volume (a hostPath may be under a mount made after the copy, an emptyDir
 * is below the pins' directory), the same run directory and image layers
 * (the copy does not follow mounts made in ours after it where ours is not
 * shared). False: we stay in ours.
 */
static bool lean_enter(const ContainerConfig *c)
{
    size_t n = strv_length(c->image_layers) + 1;
    dev_t dev[LEAN_MAX_PATHS];
    ino_t ino[LEAN_MAX_PATHS];

    if (lean_mnt_fd < 0 || c->n_mounts > 0 || n > LEAN_MAX_PATHS)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!lean_stat(c, i, &dev[i], &ino[i]))
            return false;
    if (setns(lean_mnt_fd, CLONE_NEWNS) < 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        dev_t d;
        ino_t in;

        if (!lean_stat(c, i, &d, &in) || d != dev[i] || in != ino[i]) {
            lean_return(host_mnt_fd);
            return false;
        }
    }
    return true;
}

/* Bind-mounts the child's PID namespace at path (the pod's shared one: first container). */
static int pin_pid_ns(const char *path, pid_t pid)
{
    char src[64];
    int fd;

    (void)snprintf(src, sizeof(src), "/proc/%d/ns/pid", (int)pid);
    /* An earlier, dead namespace may be pinned there: the new one is mounted on top. */
    fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
    if (fd < 0 && errno != EEXIST)
        return -errno;
    if (fd >= 0)
        close(fd);
    if (mount(src, path, NULL, MS_BIND, NULL) < 0)
        return -errno;
    return 0;
}

/*
 * Clones the container's child: a child that waits for no go (args->go_fd
 * -1) in our memory (clone_child_in_our_memory()), else in a copy of it.
 */
static pid_t clone_container_child(int flags, const char *cgroup, ChildArgs *args,
                                   bool *ret_into_cgroup)
{
    pid_t pid;

    *ret_into_cgroup = false;
    if (args->go_fd < 0)
        return clone_child_in_our_memory(flags, args);
    pid = clone_child(flags, cgroup, ret_into_cgroup);
    if (pid == 0)
        container_child(args);
    return pid;
}

int native_container_spawn(const ContainerConfig *c, const ContainerStdio *stdio,
                           const SecurityHooks *hooks, pid_t *ret_pid, PdError *reterr)
{
    int errp[2], gop[2], r, flags = SIGCHLD | CLONE_NEWNS, join_fds[CGROUP_JOIN_FDS_MAX];
    int ns_fds[ELEMENTSOF(join_nss)] = {-1, -1, -1};
    _cleanup_close_ int selfns = -1, nsfd = -1;
    bool into_cgroup = false, pin = false, child_joins, lean, stale[ELEMENTSOF(stale_layers)];
    size_t n_join = 0;
    ChildArgs args;
    pid_t pid;

    /*
     * A pod-wide PID namespace (shareProcessNamespace) without a pause
     * process: the first container creates it and pins it at c->ns.pid,
     * later ones join it. It lives as long as its first process; once that
     * is gone the kernel refuses new members (ENOMEM) and the next container
     * starts a fresh one in its place.
     */
    if (c->ns.pid && path_is_nsfs(c->ns.pid)) {
        nsfd = open(c->ns.pid, O_RDONLY | O_CLOEXEC);
        /* Only the next child enters it; we return to our own namespace right after. */
        selfns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        if (nsfd < 0 || selfns < 0 || setns(nsfd, CLONE_NEWPID) < 0)
            return pd_error_set(reterr, -errno, "join PID namespace %s: %s", c->ns.pid,
                                ERRSTR(errno));
    } else if (c->ns.pid) {
        flags |= CLONE_NEWPID;
        pin = true;
    } else if (!c->ns.host_pid)
        flags |= CLONE_NEWPID;

    r = join_ns_open(c, ns_fds, reterr);
    if (r == 0 && pipe2(errp, O_CLOEXEC) < 0)
        r = pd_error_set(reterr, -errno, "pipe: %s", ERRSTR(errno));
    if (r == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, gop) < 0) {
        r = -errno;
        close(errp[0]);
        close(errp[1]);
        (void)pd_error_set(reterr, r, "pipe: %s", ERRSTR(r));
    }
    if (r < 0) {
        close_ns_fds(ns_fds);
        return r;
    }
    stale_layers_move(c, stale);
    /* v1: the child joins by itself (cheap); otherwise (v2: clone3; odd hosts) as below. */
    child_joins = cgroup_open_join(c->cgroup, join_fds, &n_join) == 0;
    args = (ChildArgs){.c = c,
                       .stdio = stdio,
                       .hooks = hooks,
                       .err_fd = errp[1],
                       .unused_fds = {errp[0], gop[1]},
                       .join_fds = join_fds,
                       .n_join = n_join,
                       .ns_fds = ns_fds};
    /*
     * Nothing of ours has to happen while it sets itself up when it joins
     * its cgroup by itself and no PID namespace is to be pinned: then it
     * waits for no go and runs in our memory, and what hooks->prepare()
     * makes is made now, since we wait for the child.
     */
    args.go_fd = pin || !child_joins ? gop[0] : -1;
    if (args.go_fd < 0)
        child_prepared_len = hooks_prepare(c, hooks, child_prepared, sizeof(child_prepared));
    /* Only the clone happens there: the child's copy of it is all we want of it. */
    lean = lean_enter(c);
    pid = clone_container_child(flags, c->cgroup, &args, &into_cgroup);
    if (pid < 0 && errno == ENOMEM && selfns >= 0) {
        (void)setns(selfns, CLONE_NEWPID);
        flags |= CLONE_NEWPID;
        pin = true;
        args.go_fd = gop[0];
        pid = clone_container_child(flags, c->cgroup, &args, &into_cgroup);
    }
    if (lean)
        lean_return(host_mnt_fd);
    if (selfns >= 0)
        (void)setns(selfns, CLONE_NEWPID);
    if (pid < 0) {
        r = -errno;
        close(errp[0]);
        close(errp[1]);
        close(gop[0]);
        close(gop[1]);
        for (size_t i = 0; i < n_join; i++)
            close(join_fds[i]);
        close_ns_fds(ns_fds);
        stale_layers_remove(c, stale);
        return pd_error_set(reterr, r, "clone: %s", ERRSTR(r));
    }
    close(errp[1]);
    close(gop[0]);
    for (size_t i = 0; i < n_join; i++)
        close(join_fds[i]);
    close_ns_fds(ns_fds);
    r = 0;
    if (pin) {
        r = pin_pid_ns(c->ns.pid, pid);
        if (r < 0)
            (void)pd_error_set(reterr, r, "pin the pod's PID namespace at %s: %s", c->ns.pid,
                               ERRSTR(r));
    }
    if (r == 0 && !into_cgroup && !child_joins) {
        r = cgroup_attach(c->cgroup, pid);
        if (r < 0)
            (void)pd_error_set(reterr, r, "move the container into cgroup %s: %s", c->cgroup,
                               ERRSTR(r));
    }
    if (r < 0)
        (void)kill(pid, SIGKILL);
    else if (args.go_fd >= 0)
        send_go(gop[1], c, hooks);
    close(gop[1]);
    if (r == 0)
        r = read_child_error(errp[0], reterr);
    close(errp[0]);
    if (r < 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        stale_layers_remove(c, stale);
        return r;
    }
    *ret_pid = pid;
    return 0;
}

/* ---- exec in a running container ---------------------------------------------------------- */

int native_container_exec(const ContainerConfig *c, pid_t target, char *const *argv,
                          const SecurityHooks *hooks, uint64_t timeout_usec, int *ret_status,
                          PdError *reterr)
{
    static const struct {
        const char *name;
        int type;
    } nss[] = {{"cgroup", CLONE_NEWCGROUP},
               {"ipc", CLONE_NEWIPC},
               {"uts", CLONE_NEWUTS},
               {"net", CLONE_NEWNET},
               {"mnt", CLONE_NEWNS}};
    int fds[ELEMENTSOF(nss)], pidns = -1, selfns = -1, errp[2], r, status = 0, pidfd;
    char path[64];
    pid_t pid;

    if (!argv || !argv[0])
        return pd_error_set(reterr, -EINVAL, "exec: no command");
    for (size_t i = 0; i < ELEMENTSOF(nss); i++)
        fds[i] = -1;
    (void)snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)target);
    pidns = open(path, O_RDONLY | O_CLOEXEC);
    r = pidns < 0 ? -errno : 0;
    for (size_t i = 0; r == 0 && i < ELEMENTSOF(nss); i++) {
        (void)snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)target, nss[i].name);
        fds[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0)
            r = -errno;
    }
    if (r == 0 && (selfns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC)) < 0)
        r = -errno;
    if (r == 0 && setns(pidns, CLONE_NEWPID) < 0)
        r = -errno;
    if (r < 0) {
        (void)pd_error_set(reterr, r == -ENOENT ? -ESRCH : r, "exec: container process %d: %s",
                           (int)target, ERRSTR(r));
        goto out;
    }
    if (pipe2(errp, O_CLOEXEC) < 0) {
        r = pd_error_set(reterr, -errno, "pipe: %s", ERRSTR(errno));
        goto out;
    }
    pid = fork();
    /* Back to our own PID namespace for later children (LSan's helper thread, for one). */
    if (selfns >= 0)
        (void)setns(selfns, CLONE_NEWPID);
    if (pid < 0) {
        r = pd_error_set(reterr, -errno, "fork: %s", ERRSTR(errno));
        close(errp[0]);
        close(errp[1]);
        goto out;
    }
    if (pid == 0) {
        close(errp[0]);
        child_err_fd = errp[1];
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        reset_signals();
        /* A group of its own: the timeout kills what it forked too. */
        (void)setpgid(0, 0);
        r = cgroup_join_self(c->cgroup);
        if (r < 0)
            child_fail(r, "join cgroup %s: %s", c->cgroup, ERRSTR(r));
        for (size_t i = 0; i < ELEMENTSOF(nss); i++)
            if (setns(fds[i], nss[i].type) < 0)
                child_fail(-errno, "join %s namespace: %s", nss[i].name, ERRSTR(errno));
        child_finish(c, hooks, argv, c->working_dir ? c->working_dir : "/");
    }
    close(errp[1]);
    r = read_child_error(errp[0], reterr);
    close(errp[0]);
    if (r < 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        goto out;
    }
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd >= 0 && timeout_usec > 0) {
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        uint64_t deadline = now_monotonic_usec() + timeout_usec;
        int k;

        for (;;) {
            uint64_t now = now_monotonic_usec();

            if (now >= deadline) {
                k = 0;
                break;
            }
            k = poll(&p, 1, (int)((deadline - now + 999) / 1000));
            if (k >= 0 || errno != EINTR)
                break;
        }
        if (k == 0) {
            (void)kill(-pid, SIGKILL);
            (void)kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
            close(pidfd);
            r = pd_error_set(reterr, -ETIMEDOUT, "exec %s: timed out after %" PRIu64 " ms", argv[0],
                             timeout_usec / 1000);
            goto out;
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            r = pd_error_set(reterr, -errno, "wait: %s", ERRSTR(errno));
            goto out;
        }
    *ret_status = status;
    r = 0;
out:
    if (selfns >= 0)
        close(selfns);
    if (pidns >= 0)
        close(pidns);
    for (size_t i = 0; i < ELEMENTSOF(nss); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return r;
}

const RuntimeMonitorOps runtime_native_monitor_ops = {
    .name = "native",
    .spawn = native_container_spawn,
    .exec = native_container_exec,
    .tidy = native_container_tidy,
};
