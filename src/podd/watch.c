/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "watch-internal.h"

/*
 * Events on the directory itself. IN_CLOSE_WRITE and IN_MOVED_TO say a
 * file is complete; IN_CREATE matters for what arrives complete without a
 * write (symlinks, hard links, FIFOs); IN_ATTRIB catches chmod and link
 * count changes (touch gives one too: the content hash makes it free).
 * IN_MODIFY is left out on purpose: a file is read once it is closed, not
 * half-written.
 */
#define WATCH_DIR_MASK                                                                             \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_ATTRIB |            \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)
/*
 * The parent (or, while waiting, the nearest existing ancestor): only the
 * name we wait for matters. No IN_DONT_FOLLOW anywhere: the directory and
 * its ancestors may be symlinks, and a watch on the link inode itself would
 * see nothing (a symlink never changes; it is replaced, which the parent
 * reports).
 */
#define WATCH_PARENT_MASK                                                                          \
    (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF |         \
     IN_ONLYDIR)
#define WATCH_SELF_GONE (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED)
/* A re-list that keeps finding the path changing under it gives up until the next event. */
#define WATCH_ATTACH_TRIES 16

/* ---- names -------------------------------------------------------------------------------- */

DEFINE_STRING_TABLE(manifest_watch_event_type, ManifestWatchEventType,
                    _MANIFEST_WATCH_EVENT_TYPE_MAX, [MANIFEST_WATCH_ADDED] = "added",
                    [MANIFEST_WATCH_CHANGED] = "changed", [MANIFEST_WATCH_REMOVED] = "removed",
                    [MANIFEST_WATCH_ERROR] = "error", [MANIFEST_WATCH_CONFLICT] = "conflict",
                    [MANIFEST_WATCH_WARNING] = "warning")
DEFINE_STRING_TABLE_FROM(manifest_watch_event_type, ManifestWatchEventType,
                         _MANIFEST_WATCH_EVENT_TYPE_MAX, _MANIFEST_WATCH_EVENT_TYPE_INVALID)

/* ---- dirty names, re-list --------------------------------------------------------------- */

static void schedule(ManifestWatcher *w)
{
    (void)loop_source_set_enabled(w->deferred, LOOP_SOURCE_ONESHOT);
}

/* Marks name for a read in the next pass; mask 0 (a re-list) reads it whatever it is doing. */
static int mark_dirty(ManifestWatcher *w, const char *name, uint32_t mask)
{
    _cleanup_(watch_file_freep) WatchFile *nf = NULL;
    WatchFile *f;
    bool found;
    size_t at;
    int r;

    at = watch_sorted_find((void *const *)w->files, w->n_files, name, &found);
    if (found)
        f = w->files[at];
    else {
        if (w->n_files >= MANIFEST_WATCH_MAX_FILES) {
            w->too_many_files = true;
            return 0;
        }
        nf = calloc(1, sizeof(WatchFile));
        if (!nf)
            return -ENOMEM;
        nf->pub.name = strdup(name);
        if (!nf->pub.name)
            return -ENOMEM;
        r = watch_sorted_insert((void ***)&w->files, &w->n_files, at, nf);
        if (r < 0)
            return r;
        f = move_ptr(nf);
    }
    if (mask == 0 || (f->dirty && f->dirty_mask == 0))
        f->dirty_mask = 0;
    else
        f->dirty_mask |= mask;
    f->dirty = true;
    return 0;
}

/* Every known file and every candidate in the directory gets read again. */
static int watcher_relist(ManifestWatcher *w)
{
    _cleanup_close_ int fd = -1;
    struct dirent *de;
    DIR *d;
    int r = 0;

    for (size_t i = 0; i < w->n_files; i++) {
        w->files[i]->dirty = true;
        w->files[i]->dirty_mask = 0;
    }
    if (w->dir_fd < 0)
        return 0;
    fd = openat(w->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d)
        return -errno;
    (void)move_fd(fd);
    while ((de = readdir(d)) && r >= 0)
        if (manifest_name_is_candidate(de->d_name))
            r = mark_dirty(w, de->d_name, 0);
    (void)closedir(d);
    return r;
}

static bool files_have_links(const ManifestWatcher *w)
{
    for (size_t i = 0; i < w->n_files; i++)
        if (w->files[i]->is_link)
            return true;
    return false;
}

/*
 * An event on a name that is no manifest but may change where candidate
 * symlinks lead: the "..data" swap of projected volumes (rename of a new
 * "..data" symlink over the old one, then removal of the old "..2026_..."
 * directory), or any directory or symlink created, moved or removed.
 */
static bool name_may_redirect(const ManifestWatcher *w, const char *name, uint32_t mask)
{
    struct stat st;

    if (startswith(name, "..") || (mask & IN_ISDIR))
        return true;
    if ((mask & (IN_CREATE | IN_MOVED_TO)) && w->dir_fd >= 0)
        return fstatat(w->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISLNK(st.st_mode);
    if (mask & (IN_DELETE | IN_MOVED_FROM))
        return files_have_links(w);
    return false;
}

/* ---- attaching to the directory -------------------------------------------------------- */

static void watcher_detach(ManifestWatcher *w)
{
    if (w->wd_dir >= 0)
        (void)loop_inotify_rm_watch(w->inotify, w->wd_dir);
    if (w->wd_parent >= 0 && w->wd_parent != w->wd_dir)
        (void)loop_inotify_rm_watch(w->inotify, w->wd_parent);
    w->wd_dir = w->wd_parent = -1;
    closep(&w->dir_fd);
    w->dir_fd = -1;
    w->real_dir = mfree(w->real_dir);
    w->wait_name = mfree(w->wait_name);
    w->attached = w->dir_missing = false;
}

/* The directory part of path, as a new string: "a/b" -> "a", "b" -> ".", "/b" -> "/". */
static char *path_parent(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        return strdup(".");
    while (slash > path && slash[-1] == '/')
        slash--;
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static const char *path_last(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/*
 * (Re-)attaches: watches the parent of the directory (to see the directory
 * appear, vanish or be swapped through a symlink), then the directory
 * itself. While the directory is missing, the nearest existing ancestor is
 * watched for the next component instead. Every attach asks for a re-list.
 * Returns 0 (attached or waiting) or -errno with err set.
 */
static int watcher_attach(ManifestWatcher *w, PdError *err)
{
    watcher_detach(w);
    w->need_rescan = true;
    for (unsigned t = 0; t < WATCH_ATTACH_TRIES; t++) {
        _cleanup_free_ char *child = strdup(w->path), *parent = NULL;
        char proc[64];
        struct stat st;
        int wd = -1, fd;

        if (!child)
            return pd_error_set(err, -ENOMEM, "out of memory");
        for (;;) {
            parent = path_parent(child);
            if (!parent)
                return pd_error_set(err, -ENOMEM, "out of memory");
            if (streq(parent, child) || streq(path_last(child), ".") ||
                streq(path_last(child), ".."))
                break; /* "/", "." or "..": there is nothing above to watch */
            wd = loop_inotify_add_watch(w->inotify, parent, WATCH_PARENT_MASK);
            if (wd >= 0)
                break;
            if (wd != -ENOENT && wd != -ENOTDIR && wd != -EACCES)
                return pd_error_set(err, wd, "cannot watch '%s': %s", parent, strerror(-wd));
            free(child);
            child = move_ptr(parent);
        }
        w->wd_parent = wd;
        w->wait_name = strdup(path_last(child));
        if (!w->wait_name)
            return pd_error_set(err, -ENOMEM, "out of memory");
        if (!streq(child, w->path)) {
            /* Waiting on an ancestor: its child may have appeared before the watch did. */
            if (stat(child, &st) >= 0 && S_ISDIR(st.st_mode)) {
                watcher_detach(w);
                continue;
            }
            log_debug("watch: waiting for '%s' (watching '%s')", w->path, parent);
            w->dir_missing = true;
            return 0;
        }
        /* The parent is watched first, so a directory created from now on is seen. */
        fd = open(w->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT || errno == ENOTDIR) {
                log_debug("watch: waiting for '%s' to appear", w->path);
                w->dir_missing = true;
                return 0;
            }
            return pd_error_set(err, -errno, "cannot open '%s': %s", w->path, strerror(errno));
        }
        w->dir_fd = fd;
        (void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        {
            char target[PATH_MAX];
            ssize_t n = readlink(proc, target, sizeof(target) - 1);

            if (n > 0) {
                target[n] = 0;
                w->real_dir = strdup(target);
            } else
                w->real_dir = realpath(w->path, NULL);
        }
        /*
         * Watch exactly the directory we opened, not whatever the path names
         * by now. Should that fail (the inotify watch limit), dir_fd stays:
         * re-lists still read the files, and the periodic re-list retries.
         */
        wd = loop_inotify_add_watch(w->inotify, proc, WATCH_DIR_MASK);
        if (wd == -ENOENT)
            wd = loop_inotify_add_watch(w->inotify, w->path, WATCH_DIR_MASK);
        if (wd < 0)
            return pd_error_set(err, wd, "cannot watch '%s': %s", w->path, strerror(-wd));
        w->wd_dir = wd;
        w->attached = true;
        log_debug("watch: watching '%s' (%s)", w->path, w->real_dir ? w->real_dir : "?");
        return 0;
    }
    /* The path keeps changing under us: the next event on the ancestor tries again. */
    return 0;
}

/* ---- sources ------------------------------------------------------------------------------ */

static int on_inotify(LoopSource *s, const struct inotify_event *const *events, size_t n_events,
                      void *userdata)
{
    ManifestWatcher *w = userdata;
    bool work = false;
    int r = 0;

    for (size_t i = 0; i < n_events; i++) {
        const struct inotify_event *e = events[i];
        const char *name = e->len > 0 ? e->name : NULL;

        if (e->mask & IN_Q_OVERFLOW) {
            log_debug("watch: inotify queue overflow, re-listing '%s'", w->path);
            w->need_rescan = work = true;
            continue;
        }
        if (e->wd < 0)
            continue;
        if (e->wd == w->wd_dir) {
            if (e->mask & WATCH_SELF_GONE) {
                w->need_attach = work = true;
                continue;
            }
            if (!name)
                continue;
            if (manifest_name_is_candidate(name)) {
                int k = mark_dirty(w, name, e->mask);

                if (k < 0 && r == 0)
                    r = k;
                work = true;
            } else if (!w->need_rescan && name_may_redirect(w, name, e->mask)) {
                log_debug("watch: '%s' changed, re-listing '%s'", name, w->path);
                w->need_rescan = work = true;
            }
        } else if (e->wd == w->wd_parent) {
            if ((e->mask & WATCH_SELF_GONE) || (name && w->wait_name && streq(name, w->wait_name)))
                w->need_attach = work = true;
        }
        /* Anything else belongs to a watch we dropped (IN_IGNORED and stragglers). */
    }
    if (work)
        schedule(w);
    return r;
}

static int on_timer(LoopSource *s, uint64_t deadline, void *userdata)
{
    ManifestWatcher *w = userdata;

    w->need_rescan = true;
    if (!w->attached)
        w->need_attach = true;
    schedule(w);
    return loop_timer_set(s, loop_now(w->loop) + w->opts.rescan_interval_usec);
}

static int watcher_pass(ManifestWatcher *w);

static int on_deferred(LoopSource *s, void *userdata)
{
    return watcher_pass(userdata);
}

/* ---- the pass --------------------------------------------------------------------------- */

static void keep_first_error(int *r, int k)
{
    if (k < 0 && *r >= 0)
        *r = k;
}

static void emit_events(ManifestWatcher *w)
{
    for (size_t i = 0; i < w->n_events; i++) {
        const WatchEventRec *rec = &w->events[i];
        ManifestWatchEvent ev = {
            .type = rec->type,
            .pod_name = rec->pod_name,
            .file = rec->file,
            .pod = rec->entry ? &rec->entry->pub : NULL,
            .error = rec->error,
        };
        int r;

        log_debug("watch: %s%s%s%s from '%s'%s%s", manifest_watch_event_type_to_string(rec->type),
                  rec->pod_name ? " pod '" : "", rec->pod_name ? rec->pod_name : "",
                  rec->pod_name ? "'" : "", rec->file, rec->error ? ": " : "",
                  rec->error ? rec->error->message : "");
        r = w->cb(w, &ev, w->userdata);
        if (r < 0)
            (void)log_debug_errno(r, "watch: callback failed; continuing");
    }
}

static void pass_done(ManifestWatcher *w)
{
    for (size_t i = 0; i < w->n_events; i++)
        watch_event_rec_done(&w->events[i]);
    w->events = mfree(w->events);
    w->n_events = 0;
    for (size_t i = 0; i < w->n_dead_pods; i++)
        watch_entry_free(w->dead_pods[i]);
    w->dead_pods = mfree(w->dead_pods);
    w->n_dead_pods = 0;
    for (size_t i = 0; i < w->n_dead_files; i++)
        watch_file_free(w->dead_files[i]);
    w->dead_files = mfree(w->dead_files);
    w->n_dead_files = 0;
}

/*
 * One pass: attach and re-list if asked, read every dirty file once, turn
 * what changed into the new desired set, then call back. The desired set
 * is complete before the first callback.
 */
static int watcher_pass(ManifestWatcher *w)
{
    bool any_changed = false;
    int r = 0;

    if (w->flushing)
        return -EBUSY;
    w->flushing = true;
    if (w->need_attach) {
        PdError err = {0};
        int k;

        w->need_attach = false;
        k = watcher_attach(w, &err);
        if (k < 0) {
            pd_error_set_file(&err, w->path);
            keep_first_error(&r, k);
            keep_first_error(&r,
                             watch_queue_event(w, MANIFEST_WATCH_ERROR, NULL, w->path, NULL, &err));
        }
    }
    if (w->need_rescan) {
        w->need_rescan = false;
        keep_first_error(&r, watcher_relist(w));
    }
    if (w->too_many_files) {
        PdError err = {0};

        w->too_many_files = false;
        (void)pd_error_set(&err, -EMFILE, "more than %u manifest files; the others are ignored",
                           MANIFEST_WATCH_MAX_FILES);
        pd_error_set_file(&err, w->path);
        keep_first_error(&r, watch_queue_event(w, MANIFEST_WATCH_ERROR, NULL, w->path, NULL, &err));
    }

    for (size_t i = 0; i < w->n_files; i++)
        if (w->files[i]->dirty) {
            keep_first_error(&r, watch_file_refresh(w, w->files[i]));
            any_changed = any_changed || w->files[i]->changed;
        }
    if (any_changed) {
        for (size_t i = 0; i < w->n_files; i++)
            if (w->files[i]->changed)
                keep_first_error(&r, watch_file_release(w, w->files[i]));
        for (size_t i = 0; i < w->n_files; i++)
            keep_first_error(&r, watch_file_claim(w, w->files[i]));
        keep_first_error(&r, watch_release_unclaimed(w));
        for (size_t i = w->n_files; i > 0; i--) {
            WatchFile *f = w->files[i - 1];

            f->changed = f->new_parse = false;
            if (!f->gone) {
                keep_first_error(&r, watch_file_rebuild_errors(w, f));
                continue;
            }
            if (watch_push_ptr((void ***)&w->dead_files, &w->n_dead_files, f) < 0) {
                /* Out of memory: keep the record, emptied, rather than lose it. */
                keep_first_error(&r, -ENOMEM);
                f->gone = f->has_error = false;
                f->parse = watch_parse_unref(f->parse);
                f->pub.parsed = NULL;
                continue;
            }
            watch_sorted_remove((void **)w->files, &w->n_files, i - 1);
        }
    }
    emit_events(w);
    pass_done(w);
    w->flushing = false;
    return r;
}

/* ---- public ------------------------------------------------------------------------------ */

int manifest_watcher_new(Loop *loop, const char *dir_path, const ManifestWatchOptions *opts,
                         ManifestWatchHandler cb, void *userdata, ManifestWatcher **ret,
                         PdError *reterr)
{
    _cleanup_(manifest_watcher_freep) ManifestWatcher *w = NULL;
    size_t n;
    int r;

    if (!loop || !dir_path || !*dir_path || !cb || !ret)
        return pd_error_set(reterr, -EINVAL, "invalid argument");
    w = calloc(1, sizeof(ManifestWatcher));
    if (!w)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    w->dir_fd = w->wd_dir = w->wd_parent = -1;
    w->loop = loop_ref(loop);
    w->cb = cb;
    w->userdata = userdata;
    if (opts)
        w->opts = *opts;
    w->path = strdup(dir_path);
    if (!w->path)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    /* "dir/" and "dir" are the same directory; the parent watch needs the last component. */
    n = strlen(w->path);
    while (n > 1 && w->path[n - 1] == '/')
        w->path[--n] = 0;

    r = loop_add_inotify(loop, &w->inotify, on_inotify, w);
    if (r < 0)
        return pd_error_set(reterr, r, "cannot create an inotify instance: %s", strerror(-r));
    r = loop_add_deferred(loop, &w->deferred, on_deferred, w);
    if (r < 0)
        return pd_error_set(reterr, r, "out of memory");
    (void)loop_source_set_description(w->inotify, "manifest-watch");
    (void)loop_source_set_description(w->deferred, "manifest-watch-pass");
    if (w->opts.rescan_interval_usec > 0) {
        r = loop_add_timer(loop, &w->timer, loop_now(loop) + w->opts.rescan_interval_usec, on_timer,
                           w);
        if (r < 0)
            return pd_error_set(reterr, r, "out of memory");
        (void)loop_source_set_description(w->timer, "manifest-watch-rescan");
    }
    r = watcher_attach(w, reterr);
    if (r < 0)
        return r;
    w->need_rescan = true;
    schedule(w);
    *ret = move_ptr(w);
    return 0;
}

ManifestWatcher *manifest_watcher_free(ManifestWatcher *w)
{
    if (!w)
        return NULL;
    /* The inotify fd goes with its source, and every watch with it. */
    w->inotify = loop_source_unref(w->inotify);
    w->deferred = loop_source_unref(w->deferred);
    w->timer = loop_source_unref(w->timer);
    closep(&w->dir_fd);
    pass_done(w);
    for (size_t i = 0; i < w->n_pods; i++)
        watch_entry_free(w->pods[i]);
    free(w->pods);
    for (size_t i = 0; i < w->n_files; i++)
        watch_file_free(w->files[i]);
    free(w->files);
    free(w->real_dir);
    free(w->wait_name);
    free(w->path);
    loop_unref(w->loop);
    free(w);
    return NULL;
}

int manifest_watcher_rescan(ManifestWatcher *w)
{
    if (!w)
        return -EINVAL;
    w->need_rescan = true;
    if (!w->attached)
        w->need_attach = true;
    schedule(w);
    return 0;
}

int manifest_watcher_flush(ManifestWatcher *w)
{
    if (!w)
        return -EINVAL;
    if (w->flushing)
        return -EBUSY;
    (void)loop_source_set_enabled(w->deferred, LOOP_SOURCE_OFF);
    return watcher_pass(w);
}

int manifest_watcher_note_changed(ManifestWatcher *w, const char *file_name)
{
    if (!w || !file_name || !manifest_name_is_candidate(file_name))
        return -EINVAL;
    schedule(w);
    return mark_dirty(w, file_name, 0);
}

bool manifest_watcher_is_attached(const ManifestWatcher *w)
{
    return w && w->attached;
}

const char *manifest_watcher_get_path(const ManifestWatcher *w)
{
    return w ? w->path : NULL;
}

size_t manifest_watcher_n_pods(const ManifestWatcher *w)
{
    return w ? w->n_pods : 0;
}

const ManifestWatchPod *manifest_watcher_pod_at(const ManifestWatcher *w, size_t i)
{
    return w && i < w->n_pods ? &w->pods[i]->pub : NULL;
}

const ManifestWatchPod *manifest_watcher_get_pod(const ManifestWatcher *w, const char *name)
{
    const WatchEntry *e = w && name ? watch_find_entry(w, name) : NULL;

    return e ? &e->pub : NULL;
}

size_t manifest_watcher_n_files(const ManifestWatcher *w)
{
    return w ? w->n_files : 0;
}

const ManifestWatchFile *manifest_watcher_file_at(const ManifestWatcher *w, size_t i)
{
    return w && i < w->n_files ? &w->files[i]->pub : NULL;
}

const ManifestWatchFile *manifest_watcher_get_file(const ManifestWatcher *w, const char *name)
{
    const WatchFile *f = w && name ? watch_find_file(w, name) : NULL;

    return f ? &f->pub : NULL;
}
