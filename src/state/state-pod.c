/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "state-internal.h"

#define STATE_FILE "state.json"
#define ONCE_FILE "once.json"
#define ONCE_VERSION 1
#define SPEC_HASH_MAX 256

/* Opens pods/NAME/, creating it (and making the new entry durable) when create is set. */
static int open_pod_dir(StateStore *s, const char *pod, bool create)
{
    bool created = false;
    int fd;

    fd = state_open_subdir(s->pods_fd, pod, create, &created);
    if (fd >= 0 && created)
        (void)fsync(s->pods_fd);
    return fd;
}

static int save_json_at(int dir_fd, const char *name, json_t *j, bool sync)
{
    _cleanup_free_ char *text = NULL;
    size_t len;

    /* Sorted keys: identical state gives identical bytes, which keeps diffs and tests simple. */
    text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text)
        return -ENOMEM;
    len = strlen(text);
    {
        char *t = realloc(text, len + 2);

        if (!t)
            return -ENOMEM;
        text = t;
    }
    text[len++] = '\n';
    text[len] = 0;
    return write_file_atomic(dir_fd, name, text, len, 0600, sync ? WRITE_FILE_SYNC : 0);
}

/*
 * Moves a file that cannot be used out of the way, keeping only the newest
 * bad copy, and reports why. Returns -EBADMSG whatever happens: a failed
 * rename is noted in the message, the caller rebuilds either way.
 */
static int set_aside(int dir_fd, const char *pod, const char *name, const char *why,
                     PdError *reterr)
{
    char corrupt[64];
    int saved;

    (void)snprintf(corrupt, sizeof(corrupt), "%s.corrupt", name);
    if (renameat(dir_fd, name, dir_fd, corrupt) < 0) {
        saved = errno;
        return pd_error_set(reterr, -EBADMSG,
                            "state file 'pods/%s/%s' is %s; cannot move it aside: %s", pod, name,
                            why, strerror(saved));
    }
    (void)fsync(dir_fd);
    return pd_error_set(reterr, -EBADMSG, "state file 'pods/%s/%s' is %s; moved to '%s'", pod, name,
                        why, corrupt);
}

/*
 * Reads dir_fd/name as a JSON object. -ENOENT when absent; -EBADMSG (after
 * moving the file aside) when it is unusable; other -errno for I/O errors.
 */
static int load_json_at(int dir_fd, const char *pod, const char *name, json_t **ret,
                        PdError *reterr)
{
    _cleanup_free_ char *buf = NULL;
    _cleanup_close_ int fd = -1;
    json_error_t jerr;
    struct stat st;
    json_t *j;
    size_t size;
    char why[256];
    int r;

    /* O_NONBLOCK: a FIFO planted under our name must not block the loop. */
    fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return pd_error_set(reterr, -ENOENT, "state file 'pods/%s/%s': not found", pod, name);
        if (errno == ELOOP)
            return set_aside(dir_fd, pod, name, "a symlink", reterr);
        return pd_error_set(reterr, -errno, "state file 'pods/%s/%s': %s", pod, name,
                            strerror(errno));
    }
    if (fstat(fd, &st) < 0)
        return pd_error_set(reterr, -errno, "state file 'pods/%s/%s': %s", pod, name,
                            strerror(errno));
    if (!S_ISREG(st.st_mode))
        return set_aside(dir_fd, pod, name, "not a regular file", reterr);
    r = read_fd_full(fd, STATE_JSON_MAX, &buf, &size);
    if (r == -EFBIG)
        return set_aside(dir_fd, pod, name, "too large", reterr);
    if (r < 0)
        return pd_error_set(reterr, r, "state file 'pods/%s/%s': %s", pod, name, strerror(-r));
    if (size == 0)
        return set_aside(dir_fd, pod, name, "empty", reterr);
    j = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        (void)snprintf(why, sizeof(why), "unparsable (%d:%d: %s)", jerr.line, jerr.column,
                       jerr.text);
        return set_aside(dir_fd, pod, name, why, reterr);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return set_aside(dir_fd, pod, name, "not a JSON object", reterr);
    }
    *ret = j;
    return 0;
}

int state_store_save_pod(StateStore *s, const char *pod, json_t *state, bool sync)
{
    _cleanup_close_ int fd = -1;

    if (!s || !state_name_is_valid(pod) || !json_is_object(state))
        return -EINVAL;
    fd = open_pod_dir(s, pod, true);
    if (fd < 0)
        return fd;
    return save_json_at(fd, STATE_FILE, state, sync);
}

int state_store_load_pod(StateStore *s, const char *pod, json_t **ret, PdError *reterr)
{
    _cleanup_close_ int fd = -1;

    if (!s || !ret || !state_name_is_valid(pod))
        return pd_error_set(reterr, -EINVAL, "state: invalid pod name");
    fd = open_pod_dir(s, pod, false);
    if (fd == -ENOENT)
        return pd_error_set(reterr, -ENOENT, "state of pod '%s': not found", pod);
    if (fd < 0)
        return pd_error_set(reterr, fd, "state directory 'pods/%s': %s", pod, strerror(-fd));
    return load_json_at(fd, pod, STATE_FILE, ret, reterr);
}

/* ---- once records ------------------------------------------------------------------- */

static bool once_args_valid(const char *pod, const char *container, const char *spec_hash)
{
    return state_name_is_valid(pod) && state_name_is_valid(container) && spec_hash && *spec_hash &&
           strlen(spec_hash) <= SPEC_HASH_MAX;
}

/* The "containers" object of once.json (borrowed from root), creating it when missing. */
static json_t *once_containers(json_t *root)
{
    json_t *c = json_object_get(root, "containers");

    if (json_is_object(c))
        return c;
    c = json_object();
    if (!c || json_object_set_new(root, "containers", c) < 0)
        return NULL;
    return c;
}

int state_store_mark_once(StateStore *s, const char *pod, const char *container,
                          const char *spec_hash)
{
    _cleanup_json_ json_t *root = NULL;
    _cleanup_close_ int fd = -1;
    json_t *containers, *rec;
    int r;

    if (!s || !once_args_valid(pod, container, spec_hash))
        return -EINVAL;
    fd = open_pod_dir(s, pod, true);
    if (fd < 0)
        return fd;
    r = load_json_at(fd, pod, ONCE_FILE, &root, NULL);
    if (r == -ENOENT || r == -EBADMSG) {
        /* Nothing usable recorded: start over (a bad file was moved aside). */
        root = json_object();
        if (!root)
            return -ENOMEM;
    } else if (r < 0)
        return r;
    if (json_object_set_new(root, "version", json_integer(ONCE_VERSION)) < 0)
        return -ENOMEM;
    containers = once_containers(root);
    if (!containers)
        return -ENOMEM;
    rec = json_pack("{s:s, s:I}", "specHash", spec_hash, "completedAtUsec",
                    (json_int_t)now_realtime_usec());
    if (!rec || json_object_set_new(containers, container, rec) < 0)
        return -ENOMEM;
    return save_json_at(fd, ONCE_FILE, root, true);
}

int state_store_once_done(StateStore *s, const char *pod, const char *container,
                          const char *spec_hash)
{
    _cleanup_json_ json_t *root = NULL;
    _cleanup_close_ int fd = -1;
    json_t *rec, *hash;
    int r;

    if (!s || !once_args_valid(pod, container, spec_hash))
        return -EINVAL;
    fd = open_pod_dir(s, pod, false);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return fd;
    r = load_json_at(fd, pod, ONCE_FILE, &root, NULL);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    rec = json_object_get(json_object_get(root, "containers"), container);
    hash = json_object_get(rec, "specHash");
    return json_is_string(hash) && streq(json_string_value(hash), spec_hash) ? 1 : 0;
}
