/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "image-internal.h"

/* ---- references ------------------------------------------------------------------------ */

static bool ref_char_is_valid(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* One path component: non-empty, not starting with '.' (so no "." or ".." either). */
static bool component_is_valid(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!ref_char_is_valid(s[i]))
            return false;
    return true;
}

bool image_ref_is_valid(const char *ref)
{
    const char *colon, *p;
    size_t n = ref ? strlen(ref) : 0;

    if (n == 0 || n > IMAGE_REF_MAX || strstr(ref, ".."))
        return false;
    colon = strchr(ref, ':');
    if (colon && (strchr(colon + 1, ':') || strchr(colon + 1, '/') ||
                  !component_is_valid(colon + 1, strlen(colon + 1))))
        return false;
    /* NAME: components, each a directory of the store. */
    for (p = ref;;) {
        size_t len = strcspn(p, "/:");

        if (!component_is_valid(p, len))
            return false;
        p += len;
        if (*p != '/')
            return true;
        p++;
    }
}

int image_ref_parse(const char *ref, ImageRef *ret)
{
    const char *colon;
    ImageRef r = {};

    if (!image_ref_is_valid(ref))
        return -EINVAL;
    colon = strchr(ref, ':');
    (void)snprintf(r.name, sizeof(r.name), "%.*s", colon ? (int)(colon - ref) : (int)strlen(ref),
                   ref);
    (void)snprintf(r.tag, sizeof(r.tag), "%s", colon ? colon + 1 : IMAGE_DEFAULT_TAG);
    *ret = r;
    return 0;
}

void image_ref_format(const ImageRef *ref, char *buf, size_t size)
{
    (void)snprintf(buf, size, "%s:%s", ref->name, ref->tag);
}

bool image_ref_equal(const char *a, const char *b)
{
    ImageRef ra, rb;

    if (image_ref_parse(a, &ra) < 0 || image_ref_parse(b, &rb) < 0)
        return false;
    return streq(ra.name, rb.name) && streq(ra.tag, rb.tag);
}

bool image_store_name_is_reserved(const char *name)
{
    static const char *const reserved[] = {"blobs", "layers", "incoming"};
    size_t n = strcspn(name, "/");

    for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
        if (strlen(reserved[i]) == n && !strncmp(name, reserved[i], n))
            return true;
    return false;
}

char *image_path(const char *store, const ImageRef *ref)
{
    return strdup_printf("%s/%s/%s", store, ref->name, ref->tag);
}

/* ---- listing ----------------------------------------------------------------------------- */

typedef struct ImageList {
    ImageRef *items;
    size_t n;
} ImageList;

static int list_add(ImageList *l, const char *name, const char *tag)
{
    ImageRef *n = reallocarray(l->items, l->n + 1, sizeof(ImageRef));

    if (!n)
        return -ENOMEM;
    l->items = n;
    n[l->n] = (ImageRef){};
    (void)snprintf(n[l->n].name, sizeof(n[l->n].name), "%s", name);
    (void)snprintf(n[l->n].tag, sizeof(n[l->n].tag), "%s", tag);
    l->n++;
    return 0;
}

/* A rootfs, as opposed to a directory that is one more component of a NAME. */
static bool dir_is_rootfs(int fd)
{
    static const char *const top[] = {"bin", "etc", "lib", "sbin", "usr"};
    /* A new open file description: a dup would share (and move) fd's directory offset. */
    _cleanup_close_ int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d;
    struct dirent *de;
    bool found = false;

    if (dfd < 0)
        return false;
    d = fdopendir(dfd);
    if (!d)
        return false;
    (void)move_fd(dfd);
    while (!found && (de = readdir(d))) {
        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        if (de->d_type != DT_DIR)
            found = true;
        for (size_t i = 0; i < ELEMENTSOF(top); i++)
            if (streq(de->d_name, top[i]))
                found = true;
    }
    (void)closedir(d);
    return found;
}

static int list_walk(int dir_fd, const char *prefix, unsigned depth, ImageList *l)
{
    _cleanup_close_ int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d;
    struct dirent *de;
    int r = 0;

    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d)
        return -errno;
    (void)move_fd(fd);
    while (r >= 0 && (de = readdir(d))) {
        _cleanup_close_ int sub = -1;
        _cleanup_free_ char *name = NULL;

        /* Hidden entries are work directories of imports and removals, never images. */
        if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
            continue;
        if (!component_is_valid(de->d_name, strlen(de->d_name)))
            continue;
        /* The content store's own directories hold no plain root filesystems. */
        if (depth == 0 && image_store_name_is_reserved(de->d_name))
            continue;
        sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            continue;
        if (depth >= 1 && dir_is_rootfs(sub)) {
            r = list_add(l, prefix, de->d_name);
            continue;
        }
        name = prefix[0] ? strdup_printf("%s/%s", prefix, de->d_name) : strdup(de->d_name);
        if (!name)
            r = -ENOMEM;
        else if (strlen(name) < IMAGE_REF_MAX)
            r = list_walk(sub, name, depth + 1, l);
    }
    (void)closedir(d);
    return r;
}

static int ref_compare(const void *a, const void *b)
{
    const ImageRef *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : strcmp(x->tag, y->tag);
}

int image_store_list(const char *store, ImageRef **ret, size_t *ret_n)
{
    _cleanup_close_ int fd = -1;
    ImageList l = {};
    int r;

    fd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT)
        return -errno;
    if (fd >= 0) {
        r = list_walk(fd, "", 0, &l);
        if (r < 0) {
            free(l.items);
            return r;
        }
    }
    if (l.n > 1)
        qsort(l.items, l.n, sizeof(ImageRef), ref_compare);
    *ret = l.items;
    *ret_n = l.n;
    return 0;
}

/* ---- work directories and their leftovers ------------------------------------------------ */

int image_make_work_dir(int store_fd, const char *prefix, char **ret_name)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";

    for (unsigned attempt = 0; attempt < 100; attempt++) {
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int fd = -1;
        char rnd[7];

        for (size_t i = 0; i < 6; i++)
            rnd[i] = chars[(unsigned)random() % (sizeof(chars) - 1)];
        rnd[6] = 0;
        name = strdup_printf("%s%ld-%s", prefix, (long)getpid(), rnd);
        if (!name)
            return -ENOMEM;
        if (mkdirat(store_fd, name, 0700) < 0) {
            if (errno == EEXIST)
                continue;
            return -errno;
        }
        /*
         * The pid in the name keeps a cleaner away until we hold the lock:
         * a cleaner only touches entries whose process is gone.
         */
        fd = openat(store_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
            int r = -errno;

            (void)unlinkat(store_fd, name, AT_REMOVEDIR);
            return r;
        }
        *ret_name = move_ptr(name);
        return move_fd(fd);
    }
    return -EEXIST;
}

/* The pid in ".import-<pid>-<random>", or 0 when the name has none. */
static pid_t work_dir_pid(const char *name)
{
    const char *p = strchr(name + 1, '-');
    char *end;
    long pid;

    if (!p)
        return 0;
    errno = 0;
    pid = strtol(p + 1, &end, 10);
    if (errno || end == p + 1 || *end != '-' || pid <= 0)
        return 0;
    return (pid_t)pid;
}

/* A work directory is dead when its process is gone and nobody holds its lock. */
static bool work_dir_is_dead(int store_fd, const char *name)
{
    _cleanup_close_ int fd = -1;
    pid_t pid = work_dir_pid(name);

    if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM))
        return false;
    fd = openat(store_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false; /* gone already, or not ours to judge */
    /*
     * A child (tar, cp) of a killed importer holds the lock until its
     * parent-death signal has done its work: give it a moment (2 s at
     * most), else this leftover would wait for the next clean-up.
     */
    for (int i = 0; i < 200; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return true;
        if (errno != EWOULDBLOCK)
            return false;
        (void)usleep(10 * 1000);
    }
    return false;
}

int image_store_clean(const char *store)
{
    _cleanup_close_ int fd = -1;
    DIR *d;
    struct dirent *de;
    int n = 0, r = 0, q;

    fd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    d = fdopendir(fcntl(fd, F_DUPFD_CLOEXEC, 3));
    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        if (!startswith(de->d_name, IMAGE_IMPORT_PREFIX) &&
            !startswith(de->d_name, IMAGE_REMOVE_PREFIX))
            continue;
        if (!work_dir_is_dead(fd, de->d_name))
            continue;
        q = rm_rf_at(fd, de->d_name);
        if (q < 0 && r == 0)
            r = q;
        else if (q >= 0)
            n++;
    }
    (void)closedir(d);
    q = image_partials_clean(store, IMAGE_PARTIAL_MAX_AGE_USEC, NULL);
    if (q < 0 && r == 0)
        r = q;
    else if (q > 0)
        n += q;
    return r < 0 ? r : n;
}

/* ---- removal ------------------------------------------------------------------------------ */

int image_make_name_dirs(int store_fd, const char *name)
{
    _cleanup_free_ char *copy = strdup(name);
    _cleanup_close_ int fd = -1;
    char *save = NULL;

    if (!copy)
        return -ENOMEM;
    fd = fcntl(store_fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return -errno;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        int sub;

        if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST)
            return -errno;
        sub = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            return -errno;
        (void)close(fd);
        fd = sub;
    }
    return 0;
}

/* rmdir NAME's directories from the deepest up, as long as they are empty. */
static void remove_empty_name_dirs(int store_fd, const char *name)
{
    _cleanup_free_ char *path = strdup(name);
    char *slash;

    if (!path)
        return;
    for (;;) {
        if (unlinkat(store_fd, path, AT_REMOVEDIR) < 0)
            return;
        slash = strrchr(path, '/');
        if (!slash)
            return;
        *slash = 0;
    }
}

int image_remove(const char *store, const ImageRef *ref, PdError *reterr)
{
    _cleanup_close_ int store_fd = -1, lock_fd = -1;
    _cleanup_free_ char *rel = NULL, *aside = NULL;
    char buf[2 * IMAGE_REF_MAX + 2];
    struct stat st;
    int r;

    image_ref_format(ref, buf, sizeof(buf));
    store_fd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (store_fd < 0 && errno == ENOENT)
        return pd_error_set(reterr, -ENOENT, "image '%s' not found", buf);
    if (store_fd < 0)
        return pd_error_set(reterr, -errno, "cannot open the image store %s: %m", store);
    rel = strdup_printf("%s/%s", ref->name, ref->tag);
    if (!rel)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    if (fstatat(store_fd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
        return pd_error_set(reterr, -ENOENT, "image '%s' not found", buf);
    lock_fd = image_make_work_dir(store_fd, IMAGE_REMOVE_PREFIX, &aside);
    if (lock_fd < 0)
        return pd_error_set(reterr, lock_fd, "cannot create a directory in %s: %s", store,
                            strerror(-lock_fd));
    /* rename(2) replaces an empty directory atomically: the tag is there, then gone. */
    if (renameat(store_fd, rel, store_fd, aside) < 0) {
        r = errno == ENOENT ? -ENOENT : -errno;
        (void)unlinkat(store_fd, aside, AT_REMOVEDIR);
        if (r == -ENOENT)
            return pd_error_set(reterr, r, "image '%s' not found", buf);
        return pd_error_set(reterr, r, "cannot remove image '%s': %s", buf, strerror(-r));
    }
    remove_empty_name_dirs(store_fd, ref->name);
    /* What is left is a hidden leftover only: image_store_clean() finishes it if this fails. */
    (void)rm_rf_at(store_fd, aside);
    return 0;
}

/* ---- size ------------------------------------------------------------------------------- */

static int du_fd(int fd, uint64_t *sum)
{
    DIR *d = fdopendir(fd);
    struct dirent *de;
    struct stat st;

    if (!d) {
        (void)close(fd);
        return -errno;
    }
    while ((de = readdir(d))) {
        int sub;

        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        *sum += (uint64_t)st.st_blocks * 512u;
        if (!S_ISDIR(st.st_mode))
            continue;
        sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0)
            (void)du_fd(sub, sum);
    }
    (void)closedir(d);
    return 0;
}

int image_disk_usage(const char *dir, uint64_t *ret)
{
    uint64_t sum = 0;
    struct stat st;
    int fd, r;

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) == 0)
        sum += (uint64_t)st.st_blocks * 512u;
    r = du_fd(fd, &sum);
    if (r < 0)
        return r;
    *ret = sum;
    return 0;
}
