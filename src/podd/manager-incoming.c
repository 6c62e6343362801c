/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "manager-internal.h"

/*
 * The drop-in directory of image archives (default <state>/images/incoming/):
 * archives there are loaded at start and as they appear (IN_CLOSE_WRITE or
 * IN_MOVED_TO, so a half-copied one waits for its writer to finish), one at a
 * time, each in a child process that reports through a pipe, so the loop
 * never waits for an unpack. A loaded archive is moved to loaded/ below the
 * directory (kept, so an administrator sees what was loaded); a bad one is
 * reported (a Warning event naming the file, and the log) and left where it
 * is, not tried again until it is written anew. Hidden files (names starting
 * with '.') are ignored: copy to a hidden name and rename for an atomic drop.
 */

#define INCOMING_LOADED "loaded"
#define INCOMING_OUTPUT_MAX (64u * 1024u)

typedef struct Failed {
    char *name;
    struct timespec mtime;
    off_t size;
} Failed;

struct Incoming {
    Manager *m;
    char *dir;
    LoopSource *inotify;
    char **queue;      /* names waiting, in order */
    char *current;     /* the one being loaded */
    LoopSource *child; /* its loader */
    int out_fd;        /* the loader's report */
    Failed *failed;
    size_t n_failed;
};

static void incoming_next(Incoming *in);

static Failed *failed_find(Incoming *in, const char *name)
{
    for (size_t i = 0; i < in->n_failed; i++)
        if (streq(in->failed[i].name, name))
            return &in->failed[i];
    return NULL;
}

static void failed_forget(Incoming *in, const char *name)
{
    Failed *f = failed_find(in, name);

    if (!f)
        return;
    free(f->name);
    *f = in->failed[--in->n_failed];
}

static void failed_remember(Incoming *in, const char *name, const struct stat *st)
{
    Failed *v;
    char *n = strdup(name);

    failed_forget(in, name);
    v = n ? reallocarray(in->failed, in->n_failed + 1, sizeof(Failed)) : NULL;
    if (!v) {
        free(n);
        return;
    }
    in->failed = v;
    v[in->n_failed++] = (Failed){.name = n, .mtime = st->st_mtim, .size = st->st_size};
}

/* Queues name unless it is queued, being loaded, hidden, not a file, or failed as it is now. */
static void incoming_queue(Incoming *in, const char *name)
{
    _cleanup_free_ char *path = NULL;
    struct stat st;
    Failed *f;

    if (name[0] == '.' || streq(name, INCOMING_LOADED) || strv_contains(in->queue, name) ||
        (in->current && streq(in->current, name)))
        return;
    path = strdup_printf("%s/%s", in->dir, name);
    if (!path || lstat(path, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)))
        return;
    f = failed_find(in, name);
    if (f && f->size == st.st_size && f->mtime.tv_sec == st.st_mtim.tv_sec &&
        f->mtime.tv_nsec == st.st_mtim.tv_nsec)
        return;
    (void)strv_extend(&in->queue, name);
}

/*
 * The loader, in the child: podd-image-loader (beside podd-monitor) loads
 * path, records its images, and says what happened on fd.
 */
_Noreturn static void loader_exec(const char *loader, const char *images_dir, const char *path,
                                  int fd)
{
    sigset_t none;

    (void)sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    /* dup2() leaves the copy without O_CLOEXEC; the same fd keeps it, so clear it then. */
    if (fd == STDOUT_FILENO ? fcntl(fd, F_SETFD, 0) < 0 : dup2(fd, STDOUT_FILENO) < 0)
        _exit(127);
    (void)execl(loader, "podd-image-loader", images_dir, path, (char *)NULL);
    (void)dprintf(STDOUT_FILENO, "error cannot run %s: %s\n", loader, strerror(errno));
    _exit(127);
}

/* Reads what the loader wrote (it has exited: the pipe holds all of it). */
static char *read_report(int fd)
{
    _cleanup_free_ char *buf = NULL;
    size_t n;

    if (read_fd_full(fd, INCOMING_OUTPUT_MAX, &buf, &n) < 0)
        return strdup("");
    return move_ptr(buf);
}

static int on_loader_exit(LoopSource *s, int pidfd, pid_t pid, void *userdata)
{
    Incoming *in = userdata;
    Manager *m = in->m;
    _cleanup_free_ char *report = NULL, *path = NULL, *dest = NULL;
    siginfo_t si = {0};
    bool ok;
    struct stat st;

    (void)s;
    (void)pid;
    (void)waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED);
    ok = si.si_code == CLD_EXITED && si.si_status == 0;
    report = read_report(in->out_fd);
    (void)close(in->out_fd);
    in->out_fd = -1;
    path = strdup_printf("%s/%s", in->dir, in->current);
    for (char *line = report, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        if (startswith(line, "loaded ")) {
            char *name = line + 7, *digest = strchr(name, ' ');

            if (digest)
                *digest++ = 0;
            unsigned waiting = manager_image_added(m, name);

            log_info("image '%s' loaded from %s; %u pod%s waiting for it", name,
                     path ? path : in->current, waiting, waiting == 1 ? "" : "s");
            manager_file_event(m, path, "Normal", "ImageLoaded", "loaded image '%s' (%s)", name,
                               digest ? digest : "");
        } else if (startswith(line, "warning ")) {
            log_warning("image archive %s: %s; continuing", path ? path : in->current, line + 8);
        } else if (startswith(line, "error ")) {
            log_error("image archive %s: %s; left where it is", path ? path : in->current,
                      line + 6);
            manager_file_event(m, path, "Warning", "ImageLoadFailed", "%s", line + 6);
        }
    }
    if (!ok && !strstr(report ? report : "", "error ")) {
        log_error("image archive %s: the loader failed (status %d); left where it is",
                  path ? path : in->current, si.si_status);
        manager_file_event(m, path, "Warning", "ImageLoadFailed", "the loader failed");
    }
    if (path && ok) {
        dest = strdup_printf("%s/" INCOMING_LOADED "/%s", in->dir, in->current);
        if (dest && rename(path, dest) < 0)
            log_warning_errno(-errno, "image archive %s: cannot move it to %s; continuing", path,
                              dest);
    } else if (path && lstat(path, &st) == 0)
        failed_remember(in, in->current, &st);
    in->current = (free(in->current), NULL);
    in->child = loop_source_unref(in->child);
    incoming_next(in);
    return 0;
}

/* Starts the loader of the next queued archive, when none runs. */
static void incoming_next(Incoming *in)
{
    while (!in->current && in->queue && in->queue[0]) {
        _cleanup_free_ char *path = NULL;
        int fds[2];
        pid_t pid;
        int r;

        in->current = in->queue[0];
        memmove(in->queue, in->queue + 1, strv_length(in->queue) * sizeof(char *));
        path = strdup_printf("%s/%s", in->dir, in->current);
        if (!path || pipe2(fds, O_CLOEXEC) < 0) {
            in->current = (free(in->current), NULL);
            continue;
        }
        pid = fork();
        if (pid == 0) {
            (void)close(fds[0]);
            loader_exec(in->m->image_loader, in->m->images_dir, path, fds[1]);
        }
        (void)close(fds[1]);
        if (pid < 0) {
            log_error_errno(-errno, "image archive %s: cannot start its loader", path);
            (void)close(fds[0]);
            in->current = (free(in->current), NULL);
            continue;
        }
        in->out_fd = fds[0];
        log_info("image archive %s: loading", path);
        r = loop_add_child(in->m->loop, &in->child, pid, on_loader_exit, in);
        if (r < 0) {
            log_error_errno(r, "image archive %s: cannot watch its loader; stopping it", path);
            (void)kill(pid, SIGKILL);
            (void)waitpid(pid, NULL, 0);
            (void)close(in->out_fd);
            in->out_fd = -1;
            in->current = (free(in->current), NULL);
        }
    }
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void incoming_scan(Incoming *in)
{
    _cleanup_(strv_freep) char **names = NULL;
    DIR *d = opendir(in->dir);
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            (void)strv_extend(&names, de->d_name);
    (void)closedir(d);
    if (names)
        qsort(names, strv_length(names), sizeof(char *), compare_names);
    for (char **n = names; n && *n; n++)
        incoming_queue(in, *n);
    incoming_next(in);
}

static int on_incoming(LoopSource *s, const struct inotify_event *const *events, size_t n,
                       void *userdata)
{
    Incoming *in = userdata;

    (void)s;
    for (size_t i = 0; i < n; i++) {
        const struct inotify_event *ev = events[i];

        if (ev->mask & IN_Q_OVERFLOW) {
            incoming_scan(in);
            continue;
        }
        if (!ev->len)
            continue;
        /* Written anew: a failure of its older content is forgotten. */
        failed_forget(in, ev->name);
        incoming_queue(in, ev->name);
    }
    incoming_next(in);
    return 0;
}

int manager_incoming_start(Manager *m, const char *dir)
{
    _cleanup_free_ char *loaded = NULL;
    Incoming *in;
    int r;

    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    loaded = strdup_printf("%s/" INCOMING_LOADED, dir);
    if (!loaded)
        return -ENOMEM;
    if (mkdir(loaded, 0700) < 0 && errno != EEXIST)
        return -errno;
    in = calloc(1, sizeof(*in));
    if (!in)
        return -ENOMEM;
    *in = (Incoming){.m = m, .dir = strdup(dir), .out_fd = -1};
    m->incoming = in;
    if (!in->dir)
        return -ENOMEM;
    if (!m->image_loader)
        return -EINVAL;
    r = loop_add_inotify(m->loop, &in->inotify, on_incoming, in);
    if (r < 0)
        return r;
    r = loop_inotify_add_watch(in->inotify, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR);
    if (r < 0)
        return r;
    incoming_scan(in);
    return 0;
}

void manager_incoming_free(Manager *m)
{
    Incoming *in = m->incoming;

    if (!in)
        return;
    in->inotify = loop_source_unref(in->inotify);
    if (in->child) {
        int pidfd = loop_child_get_pidfd(in->child);

        /* A load cut short leaves verified blobs and no record: the next start loads again. */
        if (pidfd >= 0) {
            siginfo_t si;

            (void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
            (void)waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED);
        }
        in->child = loop_source_unref(in->child);
    }
    if (in->out_fd >= 0)
        (void)close(in->out_fd);
    for (size_t i = 0; i < in->n_failed; i++)
        free(in->failed[i].name);
    free(in->failed);
    strv_free(in->queue);
    free(in->current);
    free(in->dir);
    free(in);
    m->incoming = NULL;
}
