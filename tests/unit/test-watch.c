/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "base/base.h"
#include "loop/loop.h"
#include "podd/watch.h"
#include "unit-util.h"

#define MSEC 1000u

/* Paths and messages that do not fit are a test bug, not something to truncate. */
#define xsnprintf(buf, size, ...)                                                                  \
    ck_assert_int_lt(snprintf((buf), (size), __VA_ARGS__), (int)(size))

/* ---- fixture: a temp dir, a loop, a watcher, the events it reported --------------------- */

typedef struct Ev {
    ManifestWatchEventType type;
    char pod[64]; /* "" when the event names no pod */
    char file[128];
    char message[512];
    bool has_entry;
    char entry_file[128];
} Ev;

typedef struct Fixture {
    char root[PATH_MAX]; /* mkdtemp */
    char dir[PATH_MAX];  /* the watched directory: root/m unless a test says otherwise */
    Loop *loop;
    ManifestWatcher *w;
    Ev ev[512];
    size_t n;
    size_t n_dropped;
} Fixture;

static Fixture fx;
/*
 * Made by main(): every test's directory lives below it, so that a test
 * that fails (and, forked, never reaches its teardown) leaves nothing behind.
 */
static char base_dir[] = "/tmp/podd-test-watch-XXXXXX";
static int fds_before;

static int on_event(ManifestWatcher *w, const ManifestWatchEvent *ev, void *userdata)
{
    Fixture *f = userdata;
    Ev *e;

    if (f->n == ELEMENTSOF(f->ev)) {
        f->n_dropped++;
        return 0;
    }
    e = &f->ev[f->n++];
    *e = (Ev){.type = ev->type, .has_entry = ev->pod != NULL};
    xsnprintf(e->pod, sizeof(e->pod), "%s", ev->pod_name ? ev->pod_name : "");
    xsnprintf(e->file, sizeof(e->file), "%s", ev->file);
    if (ev->error)
        pd_error_format(ev->error, e->message, sizeof(e->message));
    if (ev->pod)
        xsnprintf(e->entry_file, sizeof(e->entry_file), "%s", ev->pod->file);
    /* The desired set is complete when we are called: what we hear about is in it (or leaving). */
    if (ev->type == MANIFEST_WATCH_ADDED || ev->type == MANIFEST_WATCH_CHANGED)
        ck_assert_ptr_eq(manifest_watcher_get_pod(w, ev->pod_name), ev->pod);
    if (ev->type == MANIFEST_WATCH_REMOVED)
        ck_assert_ptr_null(manifest_watcher_get_pod(w, ev->pod_name));
    /* No nested pass from inside one. */
    ck_assert_int_eq(manifest_watcher_flush(w), -EBUSY);
    return 0;
}

static void setup(void)
{
    fds_before = unit_count_fds();
    memset(&fx, 0, sizeof(fx));
    xsnprintf(fx.root, sizeof(fx.root), "%s/t-XXXXXX", base_dir);
    ck_assert_ptr_nonnull(mkdtemp(fx.root));
    xsnprintf(fx.dir, sizeof(fx.dir), "%s/m", fx.root);
    ck_assert_int_eq(loop_new(&fx.loop), 0);
}

static void teardown(void)
{
    fx.w = manifest_watcher_free(fx.w);
    fx.loop = loop_unref(fx.loop);
    (void)unit_rm_tree(fx.root);
    ck_assert_int_eq(unit_count_fds(), fds_before);
}

static void start_watcher(const ManifestWatchOptions *opts)
{
    PdError err = {0};

    ck_assert_int_eq(manifest_watcher_new(fx.loop, fx.dir, opts, on_event, &fx, &fx.w, &err), 0);
}

/* Runs iterations until n events in all were reported; returns how many iterations it took. */
static unsigned wait_events(size_t n)
{
    unsigned it = 0;

    while (fx.n < n && it < 50) {
        ck_assert_int_ge(loop_run_once(fx.loop, 200 * MSEC), 0);
        it++;
    }
    ck_assert_uint_ge(fx.n, n);
    return it;
}

/* Runs iterations until one dispatches nothing within 30 ms. */
static void settle(void)
{
    for (unsigned i = 0; i < 100; i++)
        if (loop_run_once(fx.loop, 30 * MSEC) == 0)
            return;
    ck_abort_msg("the loop never went idle");
}

static void path_in(char *buf, size_t size, const char *dir, const char *name)
{
    xsnprintf(buf, size, "%s/%s", dir, name);
}

static void write_file(const char *dir, const char *name, const char *content)
{
    char p[PATH_MAX];
    int fd;

    path_in(p, sizeof(p), dir, name);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    ck_assert_int_eq(close(fd), 0);
}

static void remove_file(const char *dir, const char *name)
{
    char p[PATH_MAX];

    path_in(p, sizeof(p), dir, name);
    ck_assert_int_eq(unlink(p), 0);
}

static void rename_in(const char *dir, const char *from, const char *to)
{
    char a[PATH_MAX], b[PATH_MAX];

    path_in(a, sizeof(a), dir, from);
    path_in(b, sizeof(b), dir, to);
    ck_assert_int_eq(rename(a, b), 0);
}

static void make_dir(const char *path)
{
    ck_assert_int_eq(mkdir(path, 0755), 0);
}

/* A valid pod named name running image. */
static const char *pod_yaml(const char *name, const char *image)
{
    static char buf[4][512];
    static unsigned k;
    char *b = buf[k++ % 4];

    xsnprintf(b, sizeof(buf[0]),
              "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  containers:\n"
              "  - name: app\n    image: %s\n",
              name, image);
    return b;
}

static const char *image_of(const char *pod)
{
    const ManifestWatchPod *p = manifest_watcher_get_pod(fx.w, pod);

    ck_assert_ptr_nonnull(p);
    return p->pod->containers[0].image;
}

static size_t count_type(ManifestWatchEventType t, const char *pod)
{
    size_t n = 0;

    for (size_t i = 0; i < fx.n; i++)
        if (fx.ev[i].type == t && (!pod || streq(fx.ev[i].pod, pod)))
            n++;
    return n;
}

/* The one event about file; fails when there is none. */
static const Ev *find_event(const char *file)
{
    for (size_t i = 0; i < fx.n; i++)
        if (streq(fx.ev[i].file, file))
            return &fx.ev[i];
    ck_abort_msg("no event about '%s'", file);
    return NULL;
}

static void clear_events(void)
{
    fx.n = 0;
}

/* ---- tests -------------------------------------------------------------------------------- */

START_TEST(test_added_unchanged_changed_removed)
{
    const ManifestWatchPod *p;
    char hash[MANIFEST_WATCH_HASH_LEN], path[PATH_MAX];
    struct timespec ts[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    unsigned it;

    make_dir(fx.dir);
    start_watcher(NULL);
    ck_assert(manifest_watcher_is_attached(fx.w));
    settle();
    ck_assert_uint_eq(fx.n, 0);

    write_file(fx.dir, "web.yaml", pod_yaml("web", "busybox:1"));
    it = wait_events(1);
    ck_assert_uint_le(it, 2);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_ADDED);
    ck_assert_str_eq(fx.ev[0].pod, "web");
    ck_assert_str_eq(fx.ev[0].file, "web.yaml");
    p = manifest_watcher_get_pod(fx.w, "web");
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p->file, "web.yaml");
    ck_assert_uint_eq(strlen(p->spec_hash), 64);
    ck_assert(!p->has_error);
    ck_assert_ptr_nonnull(json_object_get(p->spec, "containers"));
    memcpy(hash, p->spec_hash, sizeof(hash));
    ck_assert_uint_eq(manifest_watcher_n_pods(fx.w), 1);
    ck_assert_ptr_eq(manifest_watcher_pod_at(fx.w, 0), p);

    /* Same bytes, new mtime: content decides, nothing happens. */
    settle();
    clear_events();
    write_file(fx.dir, "web.yaml", pod_yaml("web", "busybox:1"));
    path_in(path, sizeof(path), fx.dir, "web.yaml");
    ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
    settle();
    ck_assert_uint_eq(fx.n, 0);

    write_file(fx.dir, "web.yaml", pod_yaml("web", "busybox:2"));
    ck_assert_uint_le(wait_events(1), 2);
    settle();
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_CHANGED);
    ck_assert_str_ne(manifest_watcher_get_pod(fx.w, "web")->spec_hash, hash);
    ck_assert_str_eq(image_of("web"), "busybox:2");

    clear_events();
    remove_file(fx.dir, "web.yaml");
    ck_assert_uint_le(wait_events(1), 2);
    settle();
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_REMOVED);
    ck_assert_str_eq(fx.ev[0].pod, "web");
    ck_assert_uint_eq(manifest_watcher_n_pods(fx.w), 0);
    ck_assert_uint_eq(manifest_watcher_n_files(fx.w), 0);
}
END_TEST

/* A pinned version stays whole after the watcher moved on to another one, and after it went. */
START_TEST(test_pin_keeps_a_version_the_watcher_let_go)
{
    ManifestWatchPin *pin;
    const Pod *v1;

    make_dir(fx.dir);
    start_watcher(NULL);
    write_file(fx.dir, "web.yaml", pod_yaml("web", "busybox:1"));
    wait_events(1);
    v1 = manifest_watcher_get_pod(fx.w, "web")->pod;
    pin = manifest_watch_pod_pin(manifest_watcher_get_pod(fx.w, "web"));
    ck_assert_ptr_nonnull(pin);

    clear_events();
    write_file(fx.dir, "web.yaml", pod_yaml("web", "busybox:2"));
    wait_events(1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_CHANGED);
    ck_assert_ptr_ne(manifest_watcher_get_pod(fx.w, "web")->pod, v1);
    ck_assert_str_eq(image_of("web"), "busybox:2");
    /* The running version, as the daemon keeps it while the new one waits. */
    ck_assert_str_eq(v1->name, "web");
    ck_assert_str_eq(v1->containers[0].image, "busybox:1");
    /* Its document, as the state file keeps it for the next podd; none for another Pod. */
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(manifest_watch_pin_source(pin, v1), "metadata"), "name")),
                     "web");
    ck_assert_ptr_null(manifest_watch_pin_source(pin, manifest_watcher_get_pod(fx.w, "web")->pod));

    clear_events();
    remove_file(fx.dir, "web.yaml");
    wait_events(1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_REMOVED);
    fx.w = manifest_watcher_free(fx.w);
    ck_assert_str_eq(v1->containers[0].image, "busybox:1");
    /* The last reference: freed (a leak would fail under ASan and valgrind). */
    ck_assert_ptr_null(manifest_watch_pin_release(pin));
    ck_assert_ptr_null(manifest_watch_pin_release(NULL));
}
END_TEST

/* A version read back (from a state file) pinned as the watcher's are. */
START_TEST(test_pin_of_a_parse_of_our_own)
{
    const char *text = pod_yaml("web", "busybox:7");
    ManifestFile *mf = NULL;
    ManifestWatchPin *pin;
    const Pod *pod;

    ck_assert_int_eq(
        manifest_parse_buffer("v.yaml", text, strlen(text), MANIFEST_FORMAT_AUTO, &mf, NULL), 0);
    pod = mf->docs[0].pod;
    pin = manifest_watch_pin_take(mf);
    ck_assert_ptr_nonnull(pin);
    ck_assert_str_eq(pod->containers[0].image, "busybox:7");
    ck_assert_ptr_nonnull(manifest_watch_pin_source(pin, pod));
    ck_assert_ptr_null(manifest_watch_pin_release(pin));
}
END_TEST

START_TEST(test_file_read_once_complete)
{
    const char *content = pod_yaml("web", "busybox");
    size_t half = strlen(content) / 2;
    char path[PATH_MAX], other[PATH_MAX];
    int fd;

    make_dir(fx.dir);
    start_watcher(NULL);
    settle();
    /* Created and half written, still open: not read yet (no error for a half file). */
    path_in(path, sizeof(path), fx.dir, "web.yaml");
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, half), (ssize_t)half);
    settle();
    ck_assert_uint_eq(fx.n, 0);
    ck_assert_int_eq(write(fd, content + half, strlen(content) - half),
                     (ssize_t)(strlen(content) - half));
    ck_assert_int_eq(close(fd), 0);
    wait_events(1);
    settle();
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_ADDED);

    /* A hard link arrives complete with IN_CREATE alone; JSON is read as JSON. */
    clear_events();
    write_file(fx.root, "db.json",
               "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"db\"},"
               " \"spec\": {\"containers\": [{\"name\": \"db\", \"image\": \"busybox\"}]}}");
    path_in(other, sizeof(other), fx.root, "db.json");
    path_in(path, sizeof(path), fx.dir, "db.json");
    ck_assert_int_eq(link(other, path), 0);
    ck_assert_uint_le(wait_events(1), 2);
    settle();
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_ADDED);
    ck_assert_str_eq(fx.ev[0].pod, "db");
}
END_TEST

START_TEST(test_existing_files_and_ignored_names)
{
    make_dir(fx.dir);
    write_file(fx.dir, "a.yaml", pod_yaml("a", "busybox"));
    write_file(fx.dir, "b.yml", pod_yaml("b", "busybox"));
    write_file(fx.dir, "web.yaml.bak", pod_yaml("bak", "busybox"));
    write_file(fx.dir, "web.yaml~", pod_yaml("tilde", "busybox"));
    write_file(fx.dir, ".web.yaml.swp", pod_yaml("swp", "busybox"));
    write_file(fx.dir, "README.md", "# not a manifest\n");
    start_watcher(NULL);
    /* The first pass runs in the first iteration, or at once on flush. */
    ck_assert_int_eq(manifest_watcher_flush(fx.w), 0);
    ck_assert_uint_eq(fx.n, 2);
    ck_assert_uint_eq(count_type(MANIFEST_WATCH_ADDED, NULL), 2);
    ck_assert_uint_eq(manifest_watcher_n_pods(fx.w), 2);
    ck_assert_str_eq(manifest_watcher_pod_at(fx.w, 0)->name, "a");
    ck_assert_str_eq(manifest_watcher_pod_at(fx.w, 1)->name, "b");

    /* Later ones are never read either. */
    write_file(fx.dir, "c.yaml.bak", pod_yaml("bak2", "busybox"));
    write_file(fx.dir, "c.yaml~", pod_yaml("tilde2", "busybox"));
    write_file(fx.dir, ".c.yaml", pod_yaml("hidden", "busybox"));
    settle();
    ck_assert_uint_eq(fx.n, 2);
    ck_assert_uint_eq(manifest_watcher_n_files(fx.w), 2);
    ck_assert_ptr_null(manifest_watcher_get_pod(fx.w, "bak"));
    ck_assert_ptr_null(manifest_watcher_get_pod(fx.w, "swp"));
}
END_TEST

/*
 * A file the caller wrote or removed itself, noted: the flush right after
 * reads it, before the loop has read its inotify event (podctl apply and
 * delete answer with the desired set already changed).
 */
START_TEST(test_noted_file_is_read_by_the_next_flush)
{
    make_dir(fx.dir);
    start_watcher(NULL);
    ck_assert_int_eq(manifest_watcher_flush(fx.w), 0);
    write_file(fx.dir, "a.yaml", pod_yaml("a", "busybox"));
    /* Without the note, the flush knows nothing of it yet. */
    ck_assert_int_eq(manifest_watcher_flush(fx.w), 0);
    ck_assert_ptr_null(manifest_watcher_get_pod(fx.w, "a"));
    ck_assert_int_eq(manifest_watcher_note_changed(fx.w, "a.yaml"), 0);
    ck_assert_int_eq(manifest_watcher_flush(fx.w), 0);
    ck_assert_str_eq(image_of("a"), "busybox");
    remove_file(fx.dir, "a.yaml");
    ck_assert_int_eq(manifest_watcher_note_changed(fx.w, "a.yaml"), 0);
    ck_assert_int_eq(manifest_watcher_flush(fx.w), 0);
    ck_assert_ptr_null(manifest_watcher_get_pod(fx.w, "a"));
    ck_assert_int_eq(manifest_watcher_note_changed(fx.w, ".a.yaml.swp"), -EINVAL);
}
END_TEST

START_TEST(test_editor_rename_reads_once)
{
    char swp[PATH_MAX];
    char buf[4096];
    int ino;
    ssize_t n;

    make_dir(fx.dir);
    write_file(fx.dir, "web.yaml", pod_yaml("web", "busybox:1"));
    start_watcher(NULL);
    wait_events(1);
    settle();
    clear_events();

    /* Our own inotify instance proves the watcher never opens the temp file. */
    ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    ck_assert_int_ge(ino, 0);
    write_file(fx.dir, ".web.yaml.swp", pod_yaml("web", "busybox:2"));
    path_in(swp, sizeof(swp), fx.dir, ".web.yaml.swp");
    ck_assert_int_ge(inotify_add_watch(ino, swp, IN_OPEN | IN_ACCESS), 0);
    settle();
    ck_assert_uint_eq(fx.n, 0);
    /* Nothing opened the temp file while it was one. */
    n = read(ino, buf, sizeof(buf));
    ck_assert_int_lt(n, 0);
    ck_assert_int_eq(errno, EAGAIN);
    rename_in(fx.dir, ".web.yaml.swp", "web.yaml");
    ck_assert_uint_le(wait_events(1), 2);
    settle();
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_CHANGED);
    ck_assert_str_eq(fx.ev[0].pod, "web");
    ck_assert_str_eq(image_of("web"), "busybox:2");
    (void)close(ino);
    ck_assert_ptr_null(manifest_watcher_get_file(fx.w, ".web.yaml.swp"));
}
END_TEST

START_TEST(test_invalid_keeps_last_good)
{
    const ManifestWatchPod *p;
    const ManifestWatchFile *f;

    make_dir(fx.dir);
    write_file(fx.dir, "web.yaml", pod_yaml("web", "busybox:1"));
    start_watcher(NULL);
    wait_events(1);
    settle();
    clear_events();

    /* A syntax error: the whole file is unusable, the pod stays as it was. */
    write_file(fx.dir, "web.yaml",
               "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec: [unclosed\n");
    wait_events(1);
    settle();
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_ERROR);
    ck_assert_str_eq(fx.ev[0].pod, "web");
    ck_assert(fx.ev[0].has_entry);
    ck_assert_msg(strstr(fx.ev[0].message, "web.yaml:"), "%s", fx.ev[0].message);
    p = manifest_watcher_get_pod(fx.w, "web");
    ck_assert_ptr_nonnull(p);
    ck_assert(p->has_error);
    ck_assert_str_eq(p->error.file, "web.yaml");
    ck_assert_uint_gt(p->error.line, 0);
    ck_assert_str_eq(image_of("web"), "busybox:1");
    f = manifest_watcher_get_file(fx.w, "web.yaml");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_ge(f->n_errors, 1);
    ck_assert_uint_gt(f->errors[0].line, 0);

    /* A valid YAML document that is no valid Pod: same, the error is positioned. */
    clear_events();
    write_file(fx.dir, "web.yaml",
               "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n"
               "  - name: app\n");
    wait_events(1);
    settle();
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_ERROR);
    ck_assert_msg(strstr(fx.ev[0].message, "image"), "%s", fx.ev[0].message);
    p = manifest_watcher_get_pod(fx.w, "web");
    ck_assert(p->has_error);
    ck_assert_uint_eq(p->error.line, 7);
    ck_assert_str_eq(image_of("web"), "busybox:1");

    /* A dependency cycle is rejected too (the graph check). */
    clear_events();
    write_file(fx.dir, "web.yaml",
               "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  annotations:\n"
               "    podd.io/depends-on.a: b\n    podd.io/depends-on.b: a\nspec:\n"
               "  containers:\n  - name: a\n    image: busybox\n  - name: b\n"
               "    image: busybox\n");
    wait_events(1);
    settle();
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_ERROR);
    ck_assert_msg(strstr(fx.ev[0].message, "cycle"), "%s", fx.ev[0].message);
    ck_assert_str_eq(image_of("web"), "busybox:1");

    /* Fixed: applied, error cleared. */
    clear_events();
    write_file(fx.dir, "web.yaml", pod_yaml("web", "busybox:2"));
    wait_events(1);
    settle();
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_CHANGED);
    p = manifest_watcher_get_pod(fx.w, "web");
    ck_assert(!p->has_error);
    ck_assert_str_eq(image_of("web"), "busybox:2");
    ck_assert_uint_eq(manifest_watcher_get_file(fx.w, "web.yaml")->n_errors, 0);

    /* Broken, then restored to exactly the version in force: CHANGED clears the error. */
    clear_events();
    write_file(fx.dir, "web.yaml", "kind: [\n");
    wait_events(1);
    settle();
    write_file(fx.dir, "web.yaml", pod_yaml("web", "busybox:2"));
    wait_events(2);
    settle();
    ck_assert_uint_eq(fx.n, 2);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_ERROR);
    ck_assert_int_eq(fx.ev[1].type, MANIFEST_WATCH_CHANGED);
    ck_assert(!manifest_watcher_get_pod(fx.w, "web")->has_error);

    clear_events();
    remove_file(fx.dir, "web.yaml");
    wait_events(1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_REMOVED);
    ck_assert_uint_eq(manifest_watcher_n_pods(fx.w), 0);
}
END_TEST

START_TEST(test_new_invalid_file)
{
    const ManifestWatchFile *f;
    const Ev *e;

    make_dir(fx.dir);
    start_watcher(NULL);
    settle();
    write_file(fx.dir, "bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\n");
    write_file(fx.dir, "worse.yaml", "{ not yaml");
    wait_events(2);
    settle();
    ck_assert_uint_eq(fx.n, 2);
    ck_assert_uint_eq(count_type(MANIFEST_WATCH_ERROR, NULL), 2);
    e = find_event("bad.yaml");
    ck_assert_str_eq(e->pod, "bad");
    ck_assert(!e->has_entry);
    e = find_event("worse.yaml");
    ck_assert_str_eq(e->pod, "");
    ck_assert_msg(strstr(e->message, "worse.yaml:2:1: YAML syntax error"), "%s", e->message);
    ck_assert_uint_eq(manifest_watcher_n_pods(fx.w), 0);
    f = manifest_watcher_get_file(fx.w, "worse.yaml");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_null(f->parsed);
    ck_assert_uint_eq(f->n_errors, 1);
    f = manifest_watcher_get_file(fx.w, "bad.yaml");
    ck_assert_ptr_nonnull(f->parsed);
    ck_assert_uint_eq(f->n_errors, 1);
    ck_assert_str_eq(f->errors[0].file, "bad.yaml");
}
END_TEST

/* Ignored fields are reported by podd as podctl validate reports them: once per new content. */
START_TEST(test_ignored_fields_are_warned_about)
{
    static const char text[] =
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n"
        "  nodeSelector:\n    disk: ssd\n  containers:\n"
        "  - name: app\n    image: busybox\n    terminationMessagePolicy: File\n";

    make_dir(fx.dir);
    write_file(fx.dir, "web.yaml", text);
    start_watcher(NULL);
    wait_events(3);
    settle();
    ck_assert_uint_eq(fx.n, 3);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_WARNING);
    ck_assert_str_eq(fx.ev[0].pod, "web");
    ck_assert_str_eq(fx.ev[0].file, "web.yaml");
    ck_assert_msg(!fx.ev[0].has_entry, "a warning carries no entry");
    ck_assert_str_eq(fx.ev[0].message,
                     "web.yaml:6:3: warning: spec.nodeSelector: ignored: only meaningful in a "
                     "cluster");
    ck_assert_int_eq(fx.ev[1].type, MANIFEST_WATCH_WARNING);
    ck_assert_str_eq(
        fx.ev[1].message,
        "web.yaml:11:5: warning: spec.containers[0].terminationMessagePolicy: ignored: "
        "podd keeps exit codes and logs instead");
    ck_assert_int_eq(fx.ev[2].type, MANIFEST_WATCH_ADDED);
    ck_assert_str_eq(manifest_watch_event_type_to_string(MANIFEST_WATCH_WARNING), "warning");
    clear_events();

    /* The same bytes again: nothing new to say. */
    write_file(fx.dir, "web.yaml", text);
    settle();
    ck_assert_uint_eq(fx.n, 0);
}
END_TEST

START_TEST(test_conflict_first_keeps_it)
{
    const ManifestWatchFile *f;

    make_dir(fx.dir);
    write_file(fx.dir, "b.yaml", pod_yaml("web", "busybox:b"));
    start_watcher(NULL);
    wait_events(1);
    settle();
    clear_events();

    /* a.yaml sorts first but comes second: b.yaml keeps the name. */
    write_file(fx.dir, "a.yaml", pod_yaml("web", "busybox:a"));
    wait_events(1);
    settle();
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_CONFLICT);
    ck_assert_str_eq(fx.ev[0].pod, "web");
    ck_assert_str_eq(fx.ev[0].file, "a.yaml");
    ck_assert_str_eq(fx.ev[0].entry_file, "b.yaml");
    ck_assert_msg(strstr(fx.ev[0].message, "a.yaml") && strstr(fx.ev[0].message, "b.yaml"), "%s",
                  fx.ev[0].message);
    ck_assert_str_eq(manifest_watcher_get_pod(fx.w, "web")->file, "b.yaml");
    ck_assert_str_eq(image_of("web"), "busybox:b");
    f = manifest_watcher_get_file(fx.w, "a.yaml");
    ck_assert_uint_eq(f->n_errors, 1);
    ck_assert_int_eq(f->errors[0].code, -EEXIST);

    /* The holder goes away: the other one takes over in the same pass. */
    clear_events();
    remove_file(fx.dir, "b.yaml");
    wait_events(1);
    settle();
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_CHANGED);
    ck_assert_str_eq(manifest_watcher_get_pod(fx.w, "web")->file, "a.yaml");
    ck_assert_str_eq(image_of("web"), "busybox:a");
    ck_assert_uint_eq(manifest_watcher_get_file(fx.w, "a.yaml")->n_errors, 0);
}
END_TEST

START_TEST(test_move_between_files_keeps_pod)
{
    make_dir(fx.dir);
    write_file(fx.dir, "web.yaml", pod_yaml("web", "busybox"));
    start_watcher(NULL);
    wait_events(1);
    settle();
    clear_events();
    rename_in(fx.dir, "web.yaml", "web2.yaml");
    settle();
    ck_assert_uint_eq(fx.n, 0);
    ck_assert_str_eq(manifest_watcher_get_pod(fx.w, "web")->file, "web2.yaml");
    ck_assert_ptr_null(manifest_watcher_get_file(fx.w, "web.yaml"));
}
END_TEST

START_TEST(test_fifo_skipped)
{
    char path[PATH_MAX];
    const ManifestWatchFile *f;
    const Ev *e;

    make_dir(fx.dir);
    start_watcher(NULL);
    settle();
    path_in(path, sizeof(path), fx.dir, "x.yaml");
    ck_assert_int_eq(mkfifo(path, 0644), 0);
    write_file(fx.dir, "web.yaml", pod_yaml("web", "busybox"));
    wait_events(2);
    settle();
    ck_assert_uint_eq(fx.n, 2);
    ck_assert_uint_eq(count_type(MANIFEST_WATCH_ADDED, "web"), 1);
    e = find_event("x.yaml");
    ck_assert_int_eq(e->type, MANIFEST_WATCH_ERROR);
    ck_assert_str_eq(e->pod, "");
    ck_assert_msg(strstr(e->message, "FIFO"), "%s", e->message);
    f = manifest_watcher_get_file(fx.w, "x.yaml");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(f->n_errors, 1);
    ck_assert_int_eq(f->errors[0].code, -EBADFD);

    /* Reported once, not on every re-list. */
    clear_events();
    ck_assert_int_eq(manifest_watcher_rescan(fx.w), 0);
    settle();
    ck_assert_uint_eq(fx.n, 0);
}
END_TEST

START_TEST(test_directory_created_later)
{
    char a[PATH_MAX];

    xsnprintf(a, sizeof(a), "%s/a", fx.root);
    xsnprintf(fx.dir, sizeof(fx.dir), "%s/a/b/m", fx.root);
    start_watcher(NULL);
    settle();
    ck_assert(!manifest_watcher_is_attached(fx.w));
    make_dir(a);
    settle();
    xsnprintf(a, sizeof(a), "%s/a/b", fx.root);
    make_dir(a);
    settle();
    ck_assert(!manifest_watcher_is_attached(fx.w));
    make_dir(fx.dir);
    settle();
    ck_assert(manifest_watcher_is_attached(fx.w));
    write_file(fx.dir, "web.yaml", pod_yaml("web", "busybox"));
    ck_assert_uint_le(wait_events(1), 2);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_ADDED);

    /* Removed: its pods go; created again: back. */
    clear_events();
    (void)unit_rm_tree(fx.dir);
    wait_events(1);
    settle();
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_REMOVED);
    ck_assert(!manifest_watcher_is_attached(fx.w));
    clear_events();
    make_dir(fx.dir);
    write_file(fx.dir, "web.yaml", pod_yaml("web", "busybox"));
    wait_events(1);
    settle();
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_ADDED);
    ck_assert(manifest_watcher_is_attached(fx.w));

    /* Several components at once (mkdir -p), quicker than the watcher. */
    clear_events();
    (void)unit_rm_tree(a);
    settle();
    ck_assert_uint_eq(count_type(MANIFEST_WATCH_REMOVED, "web"), 1);
    make_dir(a);
    make_dir(fx.dir);
    write_file(fx.dir, "web.yaml", pod_yaml("web", "busybox"));
    wait_events(2);
    ck_assert_int_eq(fx.ev[1].type, MANIFEST_WATCH_ADDED);
}
END_TEST

START_TEST(test_directory_swapped_through_symlink)
{
    char v1[PATH_MAX], v2[PATH_MAX], tmp[PATH_MAX];

    xsnprintf(v1, sizeof(v1), "%s/v1", fx.root);
    xsnprintf(v2, sizeof(v2), "%s/v2", fx.root);
    xsnprintf(tmp, sizeof(tmp), "%s/m.tmp", fx.root);
    make_dir(v1);
    make_dir(v2);
    write_file(v1, "web.yaml", pod_yaml("web", "busybox:1"));
    write_file(v2, "web.yaml", pod_yaml("web", "busybox:2"));
    write_file(v2, "db.yaml", pod_yaml("db", "busybox:2"));
    ck_assert_int_eq(symlink("v1", fx.dir), 0);
    start_watcher(NULL);
    wait_events(1);
    settle();
    clear_events();
    ck_assert_int_eq(symlink("v2", tmp), 0);
    ck_assert_int_eq(rename(tmp, fx.dir), 0);
    wait_events(2);
    settle();
    ck_assert_uint_eq(fx.n, 2);
    ck_assert_str_eq(image_of("web"), "busybox:2");
    ck_assert_uint_eq(count_type(MANIFEST_WATCH_ADDED, "db"), 1);
    ck_assert_uint_eq(count_type(MANIFEST_WATCH_CHANGED, "web"), 1);
}
END_TEST

START_TEST(test_data_symlink_swap)
{
    char d1[PATH_MAX], d2[PATH_MAX], outside[PATH_MAX], target[PATH_MAX], link[PATH_MAX];
    const ManifestWatchFile *f;

    make_dir(fx.dir);
    xsnprintf(d1, sizeof(d1), "%s/..2026_11_22_1", fx.dir);
    xsnprintf(d2, sizeof(d2), "%s/..2026_11_22_2", fx.dir);
    make_dir(d1);
    write_file(d1, "web.yaml", pod_yaml("web", "busybox:1"));
    path_in(link, sizeof(link), fx.dir, "..data");
    ck_assert_int_eq(symlink("..2026_11_22_1", link), 0);
    path_in(link, sizeof(link), fx.dir, "web.yaml");
    ck_assert_int_eq(symlink("..data/web.yaml", link), 0);
    start_watcher(NULL);
    wait_events(1);
    settle();
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_ADDED);
    ck_assert_str_eq(image_of("web"), "busybox:1");

    /* The kubelet's atomic swap: new timestamped dir, new ..data link renamed over the old. */
    clear_events();
    make_dir(d2);
    write_file(d2, "web.yaml", pod_yaml("web", "busybox:2"));
    path_in(link, sizeof(link), fx.dir, "..data_tmp");
    ck_assert_int_eq(symlink("..2026_11_22_2", link), 0);
    rename_in(fx.dir, "..data_tmp", "..data");
    ck_assert_uint_le(wait_events(1), 2);
    (void)unit_rm_tree(d1);
    settle();
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_CHANGED);
    ck_assert_str_eq(image_of("web"), "busybox:2");

    /* A symlink that leads out of the directory is refused. */
    clear_events();
    xsnprintf(outside, sizeof(outside), "%s/outside", fx.root);
    make_dir(outside);
    write_file(outside, "evil.yaml", pod_yaml("evil", "busybox"));
    path_in(target, sizeof(target), outside, "evil.yaml");
    path_in(link, sizeof(link), fx.dir, "evil.yaml");
    ck_assert_int_eq(symlink(target, link), 0);
    /* Relative, through "..": refused as well. */
    path_in(link, sizeof(link), fx.dir, "evil2.yaml");
    ck_assert_int_eq(symlink("../outside/evil.yaml", link), 0);
    wait_events(2);
    settle();
    ck_assert_uint_eq(fx.n, 2);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_ERROR);
    ck_assert_int_eq(fx.ev[1].type, MANIFEST_WATCH_ERROR);
    ck_assert_msg(strstr(fx.ev[0].message, "outside"), "%s", fx.ev[0].message);
    ck_assert_ptr_null(manifest_watcher_get_pod(fx.w, "evil"));
    f = manifest_watcher_get_file(fx.w, "evil.yaml");
    ck_assert_int_eq(f->errors[0].code, -EXDEV);

    /* The "..data" link removed: web.yaml dangles, so the pod goes. */
    clear_events();
    path_in(link, sizeof(link), fx.dir, "..data");
    ck_assert_int_eq(unlink(link), 0);
    wait_events(1);
    settle();
    ck_assert_uint_eq(count_type(MANIFEST_WATCH_REMOVED, "web"), 1);
}
END_TEST

START_TEST(test_burst_coalesced)
{
    char content[512];

    make_dir(fx.dir);
    start_watcher(NULL);
    settle();
    for (int i = 0; i < 50; i++) {
        xsnprintf(content, sizeof(content), "%s", pod_yaml("web", "busybox"));
        /* Different bytes every time. */
        xsnprintf(content + strlen(content), sizeof(content) - strlen(content),
                  "# write %d\n    command: [\"sleep\", \"%d\"]\n", i, i);
        write_file(fx.dir, "web.yaml", content);
        if (i % 10 == 9)
            (void)loop_run_once(fx.loop, 0);
    }
    settle();
    ck_assert_uint_ge(fx.n, 1);
    ck_assert_uint_le(fx.n, 6);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_ADDED);
    ck_assert_str_eq(manifest_watcher_get_pod(fx.w, "web")->pod->containers[0].command[1], "49");
}
END_TEST

START_TEST(test_multi_document)
{
    const ManifestWatchFile *f;
    const Pod *pa, *pb;

    make_dir(fx.dir);
    start_watcher(NULL);
    settle();
    {
        char content[1024];

        xsnprintf(content, sizeof(content), "%s---\n%s", pod_yaml("a", "busybox:1"),
                  pod_yaml("b", "busybox:1"));
        write_file(fx.dir, "pods.yaml", content);
    }
    wait_events(2);
    settle();
    ck_assert_uint_eq(count_type(MANIFEST_WATCH_ADDED, NULL), 2);

    /* a changes; b becomes invalid: a is applied, b keeps its last good version. */
    clear_events();
    {
        char content[1024];

        xsnprintf(content, sizeof(content),
                  "%s---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\nspec:\n"
                  "  containers:\n  - name: app\n    image: busybox:2\n    bogus: 1\n",
                  pod_yaml("a", "busybox:2"));
        write_file(fx.dir, "pods.yaml", content);
    }
    wait_events(2);
    settle();
    ck_assert_uint_eq(fx.n, 2);
    ck_assert_uint_eq(count_type(MANIFEST_WATCH_CHANGED, "a"), 1);
    ck_assert_uint_eq(count_type(MANIFEST_WATCH_ERROR, "b"), 1);
    ck_assert_str_eq(image_of("a"), "busybox:2");
    ck_assert_str_eq(image_of("b"), "busybox:1");
    ck_assert(manifest_watcher_get_pod(fx.w, "b")->has_error);
    ck_assert_uint_eq(manifest_watcher_get_pod(fx.w, "b")->error.line, 18);
    f = manifest_watcher_get_file(fx.w, "pods.yaml");
    ck_assert_uint_eq(f->n_errors, 1);
    ck_assert_uint_eq(f->parsed->n_docs, 2);

    /* A comment only, same specs: the Pod objects stay the same. */
    clear_events();
    pa = manifest_watcher_get_pod(fx.w, "a")->pod;
    pb = manifest_watcher_get_pod(fx.w, "b")->pod;
    {
        char content[1024];

        xsnprintf(content, sizeof(content),
                  "# a comment\n%s---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\nspec:\n"
                  "  containers:\n  - name: app\n    image: busybox:2\n    bogus: 1\n",
                  pod_yaml("a", "busybox:2"));
        write_file(fx.dir, "pods.yaml", content);
    }
    settle();
    /* b is still invalid (its error moved a line down): said again; a is quiet. */
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_uint_eq(count_type(MANIFEST_WATCH_ERROR, "b"), 1);
    ck_assert_uint_eq(manifest_watcher_get_pod(fx.w, "b")->error.line, 19);
    ck_assert_ptr_eq(manifest_watcher_get_pod(fx.w, "a")->pod, pa);
    ck_assert_ptr_eq(manifest_watcher_get_pod(fx.w, "b")->pod, pb);
    ck_assert_str_eq(pa->containers[0].image, "busybox:2");
    ck_assert_str_eq(pb->containers[0].image, "busybox:1");

    /* b dropped from the file: removed; a untouched. */
    clear_events();
    write_file(fx.dir, "pods.yaml", pod_yaml("a", "busybox:2"));
    wait_events(1);
    settle();
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_REMOVED);
    ck_assert_str_eq(fx.ev[0].pod, "b");

    /* The same name twice in one file: the first document wins. */
    clear_events();
    {
        char content[1024];

        xsnprintf(content, sizeof(content), "%s---\n%s", pod_yaml("a", "busybox:2"),
                  pod_yaml("a", "busybox:3"));
        write_file(fx.dir, "pods.yaml", content);
    }
    wait_events(1);
    settle();
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.ev[0].type, MANIFEST_WATCH_CONFLICT);
    ck_assert_str_eq(image_of("a"), "busybox:2");
}
END_TEST

/* fs.inotify.max_queued_events, 16384 (the kernel's default) when unreadable. */
static unsigned max_queued_events(void)
{
    unsigned max_events = 16384;
    FILE *mq = fopen("/proc/sys/fs/inotify/max_queued_events", "re");

    if (mq) {
        if (fscanf(mq, "%u", &max_events) != 1)
            max_events = 16384;
        (void)fclose(mq);
    }
    return max_events;
}

/*
 * Why the inotify queue cannot be overflowed here, or NULL: the test writes
 * more events than the queue holds, which takes too long past 200000.
 */
static const char *overflow_unreachable(void)
{
    static char why[128];

    if (max_queued_events() <= 200000)
        return NULL;
    xsnprintf(why, sizeof(why), "fs.inotify.max_queued_events is %u: too many to overflow",
              max_queued_events());
    return why;
}

START_TEST(test_queue_overflow_rescans)
{
    char a[PATH_MAX], b[PATH_MAX];
    struct timespec ts[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_NOW}};
    unsigned max_events = max_queued_events();

    make_dir(fx.dir);
    write_file(fx.dir, "a.yaml", pod_yaml("a", "busybox"));
    write_file(fx.dir, "b.yaml", pod_yaml("b", "busybox"));
    start_watcher(NULL);
    wait_events(2);
    settle();
    clear_events();
    /* Alternating names, so the kernel cannot merge them, until the queue overflows. */
    path_in(a, sizeof(a), fx.dir, "a.yaml");
    path_in(b, sizeof(b), fx.dir, "b.yaml");
    for (unsigned i = 0; i < max_events / 2 + 16; i++) {
        ck_assert_int_eq(utimensat(AT_FDCWD, a, ts, 0), 0);
        ck_assert_int_eq(utimensat(AT_FDCWD, b, ts, 0), 0);
    }
    /* These events are lost: only the re-list after the overflow finds them. */
    write_file(fx.dir, "c.yaml", pod_yaml("c", "busybox"));
    remove_file(fx.dir, "a.yaml");
    for (unsigned i = 0; i < 40 && fx.n < 2; i++)
        (void)loop_run_once(fx.loop, 100 * MSEC);
    settle();
    ck_assert_uint_eq(fx.n, 2);
    ck_assert_uint_eq(count_type(MANIFEST_WATCH_ADDED, "c"), 1);
    ck_assert_uint_eq(count_type(MANIFEST_WATCH_REMOVED, "a"), 1);
}
END_TEST

/*
 * A shared writable mapping of a file, its descriptor already closed.
 * Writes through it raise no inotify event (inotify(7)); the close, and
 * the unmap that drops the file's last reference, each raise IN_CLOSE_WRITE.
 */
typedef struct Mapping {
    char *data;
    size_t size;
} Mapping;

static Mapping map_file(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    Mapping m;
    int fd;

    path_in(path, sizeof(path), dir, name);
    fd = open(path, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    m = (Mapping){.size = (size_t)st.st_size};
    m.data = mmap(NULL, m.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(m.data, MAP_FAILED);
    ck_assert_int_eq(close(fd), 0);
    return m;
}

static void replace_in_mapping(Mapping *m, const char *from, const char *to)
{
    char *at = memmem(m->data, m->size, from, strlen(from));

    ck_assert_ptr_nonnull(at);
    ck_assert_uint_eq(strlen(from), strlen(to));
    memcpy(at, to, strlen(to));
    ck_assert_int_eq(msync(m->data, m->size, MS_SYNC), 0);
}

/* Runs until n iterations dispatched something: with a rescan timer, n periods or more. */
static void run_rounds(unsigned n)
{
    unsigned rounds = 0;

    for (unsigned i = 0; i < 500 && rounds < n; i++) {
        int r = loop_run_once(fx.loop, 200 * MSEC);

        ck_assert_int_ge(r, 0);
        rounds += r > 0;
    }
    ck_assert_uint_ge(rounds, n);
}

START_TEST(test_periodic_rescan)
{
    ManifestWatchOptions opts = {.rescan_interval_usec = 20 * MSEC};
    Mapping m;

    make_dir(fx.dir);
    write_file(fx.dir, "web.yaml", pod_yaml("web", "busybox:1"));
    start_watcher(&opts);
    wait_events(1);
    /*
     * Several periods, counted by what the loop dispatched (only the timer
     * and the pass it schedules are left), not by the clock: a slow machine
     * gives the same count. Re-reads of unchanged content say nothing.
     */
    run_rounds(10);
    ck_assert_uint_eq(fx.n, 1);

    /* A change inotify never reports is found by the next rescan. */
    m = map_file(fx.dir, "web.yaml");
    run_rounds(3); /* the close's event and the re-read it asks for */
    ck_assert_uint_eq(fx.n, 1);
    replace_in_mapping(&m, "busybox:1", "busybox:2");
    wait_events(2);
    ck_assert_int_eq(fx.ev[1].type, MANIFEST_WATCH_CHANGED);
    ck_assert_str_eq(image_of("web"), "busybox:2");
    ck_assert_int_eq(munmap(m.data, m.size), 0);
}
END_TEST

START_TEST(test_content_hash_is_sha256)
{
    static const struct {
        const char *name, *content, *sha256;
    } cases[] = {
        {"empty.yaml", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc.yaml", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"two-blocks.yaml", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"long.yaml",
         "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
         "lmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };

    make_dir(fx.dir);
    for (size_t i = 0; i < ELEMENTSOF(cases); i++)
        write_file(fx.dir, cases[i].name, cases[i].content);
    start_watcher(NULL);
    ck_assert_int_eq(manifest_watcher_flush(fx.w), 0);
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        const ManifestWatchFile *f = manifest_watcher_get_file(fx.w, cases[i].name);

        ck_assert_ptr_nonnull(f);
        ck_assert_str_eq(f->content_hash, cases[i].sha256);
    }
    ck_assert_str_eq(manifest_watch_event_type_to_string(MANIFEST_WATCH_CONFLICT), "conflict");
    ck_assert_int_eq(manifest_watch_event_type_from_string("removed"), MANIFEST_WATCH_REMOVED);
    ck_assert_int_eq(manifest_watch_event_type_from_string("nope"), -EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("watch");
    TCase *tc = tcase_create("watch");
    SRunner *sr;
    int status;

    log_set_max_level(LOG_LEVEL_INFO);
    if (!mkdtemp(base_dir)) {
        perror("mkdtemp");
        return 1;
    }
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_added_unchanged_changed_removed);
    tcase_add_test(tc, test_noted_file_is_read_by_the_next_flush);
    tcase_add_test(tc, test_pin_keeps_a_version_the_watcher_let_go);
    tcase_add_test(tc, test_pin_of_a_parse_of_our_own);
    tcase_add_test(tc, test_file_read_once_complete);
    tcase_add_test(tc, test_existing_files_and_ignored_names);
    tcase_add_test(tc, test_editor_rename_reads_once);
    tcase_add_test(tc, test_invalid_keeps_last_good);
    tcase_add_test(tc, test_new_invalid_file);
    tcase_add_test(tc, test_ignored_fields_are_warned_about);
    tcase_add_test(tc, test_conflict_first_keeps_it);
    tcase_add_test(tc, test_move_between_files_keeps_pod);
    tcase_add_test(tc, test_fifo_skipped);
    tcase_add_test(tc, test_directory_created_later);
    tcase_add_test(tc, test_directory_swapped_through_symlink);
    tcase_add_test(tc, test_data_symlink_swap);
    tcase_add_test(tc, test_burst_coalesced);
    tcase_add_test(tc, test_multi_document);
    unit_add_test_unless(tc, test_queue_overflow_rescans, overflow_unreachable());
    tcase_add_test(tc, test_periodic_rescan);
    tcase_add_test(tc, test_content_hash_is_sha256);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    status = unit_run(sr, CK_NORMAL);
    srunner_free(sr);
    (void)unit_rm_tree(base_dir);
    return status;
}
