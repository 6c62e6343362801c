/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "state-internal.h"

bool state_name_is_valid(const char *name)
{
    size_t n;

    if (!name)
        return false;
    n = strlen(name);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return name[0] != '-' && name[n - 1] != '-';
}

int state_open_subdir(int dir_fd, const char *name, bool create, bool *ret_created)
{
    const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    bool created = false;
    int fd;

    /*
     * Opened first: it is there on every save but a pod's first, which
     * then makes it. O_NOFOLLOW with O_DIRECTORY: a symlink in place of the
     * directory fails with ELOOP.
     */
    fd = openat(dir_fd, name, flags);
    if (fd < 0 && errno == ENOENT && create) {
        if (mkdirat(dir_fd, name, 0700) < 0) {
            if (errno != EEXIST)
                return -errno;
        } else
            created = true;
        fd = openat(dir_fd, name, flags);
    }
    if (fd < 0)
        return -errno;
    if (ret_created)
        *ret_created = created;
    return fd;
}

int state_for_each_entry(int dir_fd,
                         int (*cb)(int dir_fd, const char *name, unsigned char type,
                                   void *userdata),
                         void *userdata)
{
    DIR *d;
    struct dirent *de;
    int fd, r = 0;

    /* A fresh open file description: readdir() must not share an offset with dir_fd. */
    fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d) {
        r = -errno;
        (void)close(fd);
        return r;
    }
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (!de) {
            if (errno != 0)
                r = -errno;
            break;
        }
        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        r = cb(dir_fd, de->d_name, de->d_type, userdata);
        if (r < 0)
            break;
    }
    (void)closedir(d);
    return r;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void state_strv_sort(char **l)
{
    size_t n = strv_length(l);

    if (n > 1)
        qsort(l, n, sizeof(char *), cmp_str);
}

static int sweep_temp_entry(int dir_fd, const char *name, unsigned char type, void *userdata)
{
    (void)type;
    (void)userdata;
    if (write_file_is_temp(name))
        (void)unlinkat(dir_fd, name, 0);
    return 0;
}

static int sweep_pod_entry(int dir_fd, const char *name, unsigned char type, void *userdata)
{
    _cleanup_close_ int fd = -1;

    (void)type;
    (void)userdata;
    if (!state_name_is_valid(name))
        return 0;
    fd = state_open_subdir(dir_fd, name, false, NULL);
    if (fd < 0)
        return 0;
    return state_for_each_entry(fd, sweep_temp_entry, NULL);
}

/* mkdir -p for the parents of path (0755, like any /var/lib entry); path itself 0700. */
static int mkdir_parents_and_self(const char *path)
{
    _cleanup_free_ char *p = strdup(path);

    if (!p)
        return -ENOMEM;
    for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = 0;
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            int r = -errno;

            *slash = '/';
            return r;
        }
        *slash = '/';
    }
    if (mkdir(p, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int state_store_open(const char *path, StateStore **ret, PdError *reterr)
{
    _cleanup_(state_store_freep) StateStore *s = NULL;
    static const char *const subdirs[] = {"pods", "applied", "images"};
    bool created = false;
    int r;

    if (!path || !*path || !ret)
        return pd_error_set(reterr, -EINVAL, "state directory: empty path");
    s = calloc(1, sizeof(*s));
    if (!s)
        return pd_error_set(reterr, -ENOMEM, "state directory '%s': out of memory", path);
    s->dir_fd = s->pods_fd = s->applied_fd = s->images_fd = -1;
    s->path = strdup(path);
    if (!s->path)
        return pd_error_set(reterr, -ENOMEM, "state directory '%s': out of memory", path);

    r = mkdir_parents_and_self(path);
    if (r < 0)
        return pd_error_set(reterr, r, "state directory '%s': cannot create: %s", path,
                            strerror(-r));
    s->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s->dir_fd < 0) {
        struct stat st;

        /* O_DIRECTORY wins over O_NOFOLLOW: a symlink fails with ENOTDIR. Say what it is. */
        r = -errno;
        if (r == -ENOTDIR && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
            return pd_error_set(reterr, -ELOOP, "state directory '%s': is a symlink", path);
        return pd_error_set(reterr, r, "state directory '%s': cannot open: %s", path, strerror(-r));
    }
    for (size_t i = 0; i < ELEMENTSOF(subdirs); i++) {
        int fd = state_open_subdir(s->dir_fd, subdirs[i], true, &created);

        if (fd < 0)
            return pd_error_set(reterr, fd, "state directory '%s': '%s': %s", path, subdirs[i],
                                strerror(-fd));
        if (i == 0)
            s->pods_fd = fd;
        else if (i == 1)
            s->applied_fd = fd;
        else
            s->images_fd = fd;
        if (created)
            (void)fsync(s->dir_fd);
    }
    /* Temporary files of writes a crash interrupted: never complete, never read. */
    (void)state_for_each_entry(s->applied_fd, sweep_temp_entry, NULL);
    (void)state_for_each_entry(s->pods_fd, sweep_pod_entry, NULL);

    *ret = move_ptr(s);
    return 0;
}

StateStore *state_store_free(StateStore *s)
{
    if (!s)
        return NULL;
    /* What is queued is synced first: a podd that stops leaves its last states durable. */
    state_syncer_free(s->syncer);
    closep(&s->dir_fd);
    closep(&s->pods_fd);
    closep(&s->applied_fd);
    closep(&s->images_fd);
    free(s->slots);
    free(s->path);
    free(s);
    return NULL;
}

int state_store_dir_fd(const StateStore *s)
{
    return s->dir_fd;
}

int state_store_images_fd(const StateStore *s)
{
    return s->images_fd;
}

/* ---- pods: list and remove ---------------------------------------------------------- */

static int list_pod_entry(int dir_fd, const char *name, unsigned char type, void *userdata)
{
    char ***l = userdata;
    struct stat st;

    if (!state_name_is_valid(name))
        return 0;
    if (type == DT_UNKNOWN) {
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
            return 0;
    } else if (type != DT_DIR)
        return 0;
    return strv_extend(l, name);
}

static int strv_new_empty(char ***ret)
{
    char **l = calloc(1, sizeof(char *));

    if (!l)
        return -ENOMEM;
    *ret = l;
    return 0;
}

/* The sorted names the entry callback collects from one directory of the store. */
static int list_dir(int dir_fd,
                    int (*entry)(int dir_fd, const char *name, unsigned char type, void *userdata),
                    char ***ret)
{
    _cleanup_(strv_freep) char **l = NULL;
    int r;

    r = strv_new_empty(&l);
    if (r < 0)
        return r;
    r = state_for_each_entry(dir_fd, entry, &l);
    if (r < 0)
        return r;
    state_strv_sort(l);
    *ret = move_ptr(l);
    return 0;
}

int state_store_list_pods(StateStore *s, char ***ret)
{
    if (!s || !ret)
        return -EINVAL;
    return list_dir(s->pods_fd, list_pod_entry, ret);
}

static int remove_pod_entry(int dir_fd, const char *name, unsigned char type, void *userdata)
{
    (void)type;
    (void)userdata;
    if (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT)
        return 0;
    /* We never create subdirectories; an empty one left by hand goes too. */
    if (errno == EISDIR && (unlinkat(dir_fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT))
        return 0;
    return -errno;
}

/*
 * Makes the removal of pod's directory durable: on the store's thread when
 * it has one (a removal that a crash undoes only leaves a pod without a
 * manifest, which podd removes again), else here.
 */
static void state_sync_removal(StateStore *s, const char *pod)
{
    StateSyncJob *j = s->syncer ? state_sync_job_new(pod, 0) : NULL;
    int error = 0;

    if (j) {
        j->parent_fd = state_sync_job_fd(s->pods_fd, &error);
        if (error == 0) {
            state_syncer_queue(s->syncer, j);
            return;
        }
        state_sync_jobs_free(j);
    }
    (void)fsync(s->pods_fd);
}

int state_store_remove_pod(StateStore *s, const char *pod)
{
    _cleanup_close_ int fd = -1;
    int r;

    if (!s || !state_name_is_valid(pod))
        return -EINVAL;
    state_slots_forget(s, pod);
    fd = state_open_subdir(s->pods_fd, pod, false, NULL);
    if (fd == -ENOENT)
        return 0;
    if (fd == -ENOTDIR || fd == -ELOOP) {
        /* A file or symlink where the pod's directory belongs: remove the link itself. */
        if (unlinkat(s->pods_fd, pod, 0) < 0 && errno != ENOENT)
            return -errno;
        (void)fsync(s->pods_fd);
        return 0;
    }
    if (fd < 0)
        return fd;
    r = state_for_each_entry(fd, remove_pod_entry, NULL);
    if (r < 0)
        return r;
    if (unlinkat(s->pods_fd, pod, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return -errno;
    state_sync_removal(s, pod);
    return 0;
}

/* ---- applied manifests -------------------------------------------------------------- */

char *state_applied_file_name(const char *name)
{
    return strdup_printf("%s.yaml", name);
}

int state_store_save_applied(StateStore *s, const char *name, const void *data, size_t size)
{
    _cleanup_free_ char *fn = NULL;

    if (!s || !state_name_is_valid(name) || (!data && size > 0))
        return -EINVAL;
    if (size > STATE_APPLIED_MAX)
        return -EFBIG;
    fn = state_applied_file_name(name);
    if (!fn)
        return -ENOMEM;
    return write_file_atomic_at(s->applied_fd, fn, data ? data : "", size, 0600);
}

int state_store_load_applied(StateStore *s, const char *name, char **ret, size_t *ret_size,
                             PdError *reterr)
{
    _cleanup_free_ char *fn = NULL, *buf = NULL;
    _cleanup_close_ int fd = -1;
    struct stat st;
    size_t size;
    int r;

    if (!s || !ret || !state_name_is_valid(name))
        return pd_error_set(reterr, -EINVAL, "applied manifest: invalid name");
    fn = state_applied_file_name(name);
    if (!fn)
        return pd_error_set(reterr, -ENOMEM, "applied manifest '%s': out of memory", name);
    fd = openat(s->applied_fd, fn, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return pd_error_set(reterr, -errno, "applied manifest 'applied/%s': %s", fn,
                            strerror(errno));
    if (fstat(fd, &st) < 0)
        return pd_error_set(reterr, -errno, "applied manifest 'applied/%s': %s", fn,
                            strerror(errno));
    if (!S_ISREG(st.st_mode))
        return pd_error_set(reterr, -EBADMSG, "applied manifest 'applied/%s': not a regular file",
                            fn);
    r = read_fd_full(fd, STATE_APPLIED_MAX, &buf, &size);
    if (r == -EFBIG)
        return pd_error_set(reterr, r, "applied manifest 'applied/%s': larger than %u bytes", fn,
                            STATE_APPLIED_MAX);
    if (r < 0)
        return pd_error_set(reterr, r, "applied manifest 'applied/%s': %s", fn, strerror(-r));
    *ret = move_ptr(buf);
    if (ret_size)
        *ret_size = size;
    return 0;
}

int state_store_remove_applied(StateStore *s, const char *name)
{
    _cleanup_free_ char *fn = NULL;

    if (!s || !state_name_is_valid(name))
        return -EINVAL;
    fn = state_applied_file_name(name);
    if (!fn)
        return -ENOMEM;
    if (unlinkat(s->applied_fd, fn, 0) < 0)
        return errno == ENOENT ? 0 : -errno;
    (void)fsync(s->applied_fd);
    return 0;
}

static int list_applied_entry(int dir_fd, const char *name, unsigned char type, void *userdata)
{
    _cleanup_free_ char *stem = NULL;
    char ***l = userdata;
    size_t n = strlen(name);

    (void)dir_fd;
    if ((type != DT_REG && type != DT_UNKNOWN) || !endswith(name, ".yaml"))
        return 0;
    stem = strndup(name, n - strlen(".yaml"));
    if (!stem)
        return -ENOMEM;
    if (!state_name_is_valid(stem))
        return 0;
    return strv_push_take(l, move_ptr(stem));
}

int state_store_list_applied(StateStore *s, char ***ret)
{
    if (!s || !ret)
        return -EINVAL;
    return list_dir(s->applied_fd, list_applied_entry, ret);
}
