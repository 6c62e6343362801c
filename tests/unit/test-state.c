/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>

#include "base/base.h"
#include "state/state.h"
#include "unit-util.h"

/* ---- fixture: a fresh temporary state dir per test; no fd may leak ------------------ */

static char tmpdir[64];
static char statedir[128];
static int fds_before;

static void setup(void)
{
    fds_before = unit_count_fds();
    (void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/podd-test-state-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    /* A state dir whose parent does not exist yet: opening creates both. */
    (void)snprintf(statedir, sizeof(statedir), "%s/var/lib/podd", tmpdir);
}

static void teardown(void)
{
    ck_assert_int_eq(unit_rm_tree(tmpdir), 0);
    ck_assert_int_eq(unit_count_fds(), fds_before);
}

/* ---- helpers ------------------------------------------------------------------------ */

static char *path_in_store(const char *rel)
{
    char *p = strdup_printf("%s/%s", statedir, rel);

    ck_assert_ptr_nonnull(p);
    return p;
}

static bool exists(const char *rel)
{
    _cleanup_free_ char *p = path_in_store(rel);
    struct stat st;

    return lstat(p, &st) == 0;
}

static void write_raw(const char *rel, const void *data, size_t size)
{
    _cleanup_free_ char *p = path_in_store(rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
    ck_assert_int_eq(close(fd), 0);
}

static char *read_raw(const char *rel)
{
    _cleanup_free_ char *p = path_in_store(rel);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
    char *buf = NULL;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(read_fd_full(fd, 1 << 20, &buf, NULL), 0);
    return buf;
}

/* Slot i of a state.slots file, NUL-terminated (a hole reads as NULs). */
static char *read_region(const char *rel, size_t i)
{
    _cleanup_free_ char *p = path_in_store(rel);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
    char *buf = calloc(1, 65536 + 1);
    ssize_t n;

    ck_assert_int_ge(fd, 0);
    ck_assert_ptr_nonnull(buf);
    n = pread(fd, buf, 65536, (off_t)i * STATE_SLOT_STRIDE);
    ck_assert_int_ge(n, 0);
    return buf;
}

/* Writes over slot i of a state.slots file in place, as podd does (nothing truncated). */
static void write_region(const char *rel, size_t i, const void *data, size_t size)
{
    _cleanup_free_ char *p = path_in_store(rel);
    _cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, data, size, (off_t)i * STATE_SLOT_STRIDE), (ssize_t)size);
}

/* The names in a directory of the store, sorted, joined with ','. */
static char *dir_listing(const char *rel)
{
    _cleanup_free_ char *p = path_in_store(rel);
    struct dirent **names;
    StrBuf b = {0};
    int n;

    n = scandir(p, &names, NULL, alphasort);
    ck_assert_int_ge(n, 0);
    for (int i = 0; i < n; i++) {
        if (!streq(names[i]->d_name, ".") && !streq(names[i]->d_name, "..")) {
            if (b.len > 0)
                ck_assert_int_eq(strbuf_append(&b, ",", 1), 0);
            ck_assert_int_eq(strbuf_append(&b, names[i]->d_name, strlen(names[i]->d_name)), 0);
        }
        free(names[i]);
    }
    free(names);
    if (!b.data)
        return strdup("");
    return b.data;
}

static StateStore *open_store(void)
{
    StateStore *s = NULL;
    PdError e = {0};

    ck_assert_int_eq(state_store_open(statedir, &s, &e), 0);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* ---- tests -------------------------------------------------------------------------- */

START_TEST(test_layout)
{
    _cleanup_(state_store_freep) StateStore *s = open_store();
    const char *dirs[] = {"", "pods", "applied", "images"};
    struct stat st;

    for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
        _cleanup_free_ char *p = path_in_store(dirs[i]);

        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_int_eq(st.st_mode & 07777, 0700);
    }
    ck_assert_int_ge(state_store_dir_fd(s), 0);
    ck_assert_int_ge(state_store_images_fd(s), 0);
    /* Opening again is fine. */
    {
        _cleanup_(state_store_freep) StateStore *again = open_store();

        ck_assert_int_ge(state_store_dir_fd(again), 0);
    }
}
END_TEST

START_TEST(test_open_refuses_symlink)
{
    _cleanup_(state_store_freep) StateStore *s = NULL;
    _cleanup_free_ char *link = strdup_printf("%s/link", tmpdir);
    PdError e = {0};

    ck_assert_int_eq(symlink("/tmp", link), 0);
    ck_assert_int_eq(state_store_open(link, &s, &e), -ELOOP);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(e.message, link));
    ck_assert_int_eq(state_store_open("", &s, &e), -EINVAL);
}
END_TEST

START_TEST(test_pod_roundtrip)
{
    _cleanup_(state_store_freep) StateStore *s = open_store();
    _cleanup_json_ json_t *in = NULL, *in2 = NULL, *out = NULL, *out2 = NULL;
    _cleanup_free_ char *listing = NULL;
    PdError e = {0};

    in = json_pack("{s:s, s:i, s:{s:[s,s]}}", "phase", "Running", "restarts", 3, "containers",
                   "order", "init", "web");
    ck_assert_ptr_nonnull(in);
    ck_assert_int_eq(state_store_save_pod(s, "web", in, true), 0);
    ck_assert_int_eq(state_store_load_pod(s, "web", &out, &e), 0);
    ck_assert(json_equal(in, out));

    /* Replacing is atomic, synced or not: the new content, no temporary file left behind. */
    ck_assert_int_eq(state_store_save_pod(s, "web", in, false), 0);
    in2 = json_pack("{s:s}", "phase", "Succeeded");
    ck_assert_int_eq(state_store_save_pod(s, "web", in2, false), 0);
    ck_assert_int_eq(state_store_load_pod(s, "web", &out2, &e), 0);
    ck_assert(json_equal(in2, out2));
    listing = dir_listing("pods/web");
    ck_assert_str_eq(listing, "state.slots");

    /* Only objects are state. */
    {
        _cleanup_json_ json_t *arr = json_array();

        ck_assert_int_eq(state_store_save_pod(s, "web", arr, true), -EINVAL);
        ck_assert_int_eq(state_store_save_pod(s, "web", NULL, true), -EINVAL);
    }
}
END_TEST

START_TEST(test_pod_missing)
{
    _cleanup_(state_store_freep) StateStore *s = open_store();
    json_t *j = NULL;
    PdError e = {0};

    ck_assert_int_eq(state_store_load_pod(s, "nope", &j, &e), -ENOENT);
    ck_assert_ptr_null(j);
    /* A pod directory without a state file (e.g. only once records). */
    ck_assert_int_eq(state_store_mark_once(s, "db", "init", "h"), 0);
    ck_assert_int_eq(state_store_load_pod(s, "db", &j, NULL), -ENOENT);
    ck_assert_ptr_null(j);
}
END_TEST

static const struct {
    const char *name;
    const char *content;
    size_t size;
} corrupt_cases[] = {
    {"empty", "", 0},
    {"truncated", "{\"phase\": \"Runn", 15},
    {"garbage", "\177ELF\001\377\376 garbage", 15},
    {"not-object", "[1, 2, 3]\n", 10},
    {"duplicate-keys", "{\"a\": 1, \"a\": 2}", 16},
    {"trailing", "{\"a\": 1} x", 10},
};

START_TEST(test_pod_corrupt)
{
    _cleanup_(state_store_freep) StateStore *s = open_store();
    _cleanup_json_ json_t *good = json_pack("{s:s}", "phase", "Running");
    _cleanup_free_ char *moved = NULL, *listing = NULL;
    json_t *j = NULL;
    PdError e = {0};

    /* An older .corrupt exists: the new one replaces it (a state.json rules over slots). */
    ck_assert_int_eq(state_store_save_pod(s, "web", good, true), 0);
    write_raw("pods/web/state.json.corrupt", "old", 3);
    write_raw("pods/web/state.json", corrupt_cases[_i].content, corrupt_cases[_i].size);
    ck_assert_int_eq(state_store_load_pod(s, "web", &j, &e), -EBADMSG);
    ck_assert_ptr_null(j);
    ck_assert_int_eq(e.code, -EBADMSG);
    ck_assert_ptr_nonnull(strstr(e.message, "pods/web/state.json"));
    ck_assert_ptr_nonnull(strstr(e.message, "state.json.corrupt"));
    ck_assert(!exists("pods/web/state.json"));
    moved = read_raw("pods/web/state.json.corrupt");
    ck_assert_mem_eq(moved, corrupt_cases[_i].content, corrupt_cases[_i].size);
    /* Next time the pod simply has no state: it is rebuilt, not crash-looped on. */
    ck_assert_int_eq(state_store_load_pod(s, "web", &j, &e), -ENOENT);
    ck_assert_int_eq(state_store_save_pod(s, "web", good, true), 0);
    ck_assert_int_eq(state_store_load_pod(s, "web", &j, &e), 0);
    json_decref(j);
    listing = dir_listing("pods/web");
    ck_assert_str_eq(listing, "state.json.corrupt,state.slots");
}
END_TEST

START_TEST(test_pod_not_regular)
{
    _cleanup_(state_store_freep) StateStore *s = open_store();
    _cleanup_json_ json_t *good = json_pack("{s:s}", "phase", "Running");
    _cleanup_free_ char *state = NULL;
    json_t *j = NULL;

    ck_assert_int_eq(state_store_save_pod(s, "web", good, true), 0);
    state = path_in_store("pods/web/state.json");
    /* A symlink (O_NOFOLLOW) and a FIFO (O_NONBLOCK: must not hang) are both set aside. */
    ck_assert_int_eq(symlink("/etc/passwd", state), 0);
    ck_assert_int_eq(state_store_load_pod(s, "web", &j, NULL), -EBADMSG);
    ck_assert(!exists("pods/web/state.json"));
    ck_assert_int_eq(mkfifo(state, 0600), 0);
    ck_assert_int_eq(state_store_load_pod(s, "web", &j, NULL), -EBADMSG);
    ck_assert(!exists("pods/web/state.json"));
    ck_assert_ptr_null(j);
}
END_TEST

START_TEST(test_list_and_remove)
{
    _cleanup_(state_store_freep) StateStore *s = open_store();
    _cleanup_json_ json_t *st = json_pack("{s:s}", "phase", "Running");
    _cleanup_(strv_freep) char **l = NULL, **l2 = NULL;
    _cleanup_free_ char *junk = NULL;

    ck_assert_int_eq(state_store_list_pods(s, &l), 0);
    ck_assert_ptr_nonnull(l);
    ck_assert_uint_eq(strv_length(l), 0);
    l = strv_free(l);

    ck_assert_int_eq(state_store_save_pod(s, "web", st, true), 0);
    ck_assert_int_eq(state_store_save_pod(s, "db", st, true), 0);
    ck_assert_int_eq(state_store_save_pod(s, "cache-2", st, true), 0);
    /* Foreign entries are not pods. */
    junk = path_in_store("pods/Not_A_Pod");
    ck_assert_int_eq(mkdir(junk, 0700), 0);
    write_raw("pods/afile", "x", 1);
    ck_assert_int_eq(state_store_list_pods(s, &l), 0);
    ck_assert_uint_eq(strv_length(l), 3);
    ck_assert_str_eq(l[0], "cache-2");
    ck_assert_str_eq(l[1], "db");
    ck_assert_str_eq(l[2], "web");

    /* Remove takes the whole directory, with once records and a .corrupt, and is idempotent. */
    ck_assert_int_eq(state_store_mark_once(s, "web", "init", "h1"), 0);
    write_raw("pods/web/state.json.corrupt", "x", 1);
    ck_assert_int_eq(state_store_remove_pod(s, "web"), 0);
    ck_assert(!exists("pods/web"));
    ck_assert_int_eq(state_store_remove_pod(s, "web"), 0);
    ck_assert_int_eq(state_store_remove_pod(s, "never-was"), 0);
    /* A file where a pod directory belongs goes too. */
    ck_assert_int_eq(state_store_remove_pod(s, "afile"), 0);
    ck_assert(!exists("pods/afile"));
    ck_assert_int_eq(state_store_list_pods(s, &l2), 0);
    ck_assert_uint_eq(strv_length(l2), 2);
    ck_assert_str_eq(l2[0], "cache-2");
    ck_assert_str_eq(l2[1], "db");
}
END_TEST

static const char *const bad_names[] = {
    /* The last one has 64 characters. */
    "../x",   "a/b", "",    "..",
    ".",      "-a",  "a-",  "Web",
    "web.v1", "a b", "x\n", "0123456789012345678901234567890123456789012345678901234567890123",
};

START_TEST(test_bad_names)
{
    _cleanup_(state_store_freep) StateStore *s = open_store();
    _cleanup_json_ json_t *st = json_pack("{s:s}", "phase", "Running");
    _cleanup_free_ char *listing = NULL, *outside = NULL;
    const char *name = bad_names[_i];
    json_t *j = NULL;
    char *buf = NULL;
    PdError e = {0};

    ck_assert(!state_name_is_valid(name));
    ck_assert_int_eq(state_store_save_pod(s, name, st, true), -EINVAL);
    ck_assert_int_eq(state_store_load_pod(s, name, &j, &e), -EINVAL);
    ck_assert_int_eq(state_store_remove_pod(s, name), -EINVAL);
    ck_assert_int_eq(state_store_mark_once(s, name, "init", "h"), -EINVAL);
    ck_assert_int_eq(state_store_mark_once(s, "web", name, "h"), -EINVAL);
    ck_assert_int_eq(state_store_once_done(s, name, "init", "h"), -EINVAL);
    ck_assert_int_eq(state_store_save_applied(s, name, "x", 1), -EINVAL);
    ck_assert_int_eq(state_store_load_applied(s, name, &buf, NULL, &e), -EINVAL);
    ck_assert_int_eq(state_store_remove_applied(s, name), -EINVAL);
    ck_assert_ptr_null(j);
    ck_assert_ptr_null(buf);
    /* Nothing was written anywhere: not in the store, not next to it. */
    listing = dir_listing("pods");
    ck_assert_str_eq(listing, "");
    ck_assert(!exists("x"));
    ck_assert(!exists("x.yaml"));
    outside = strdup_printf("%s/var/lib/x", tmpdir);
    ck_assert_int_ne(access(outside, F_OK), 0);
}
END_TEST

START_TEST(test_good_names)
{
    ck_assert(state_name_is_valid("a"));
    ck_assert(state_name_is_valid("web-1"));
    ck_assert(state_name_is_valid("0"));
    ck_assert(state_name_is_valid(
        "012345678901234567890123456789012345678901234567890123456789012")); /* 63 */
    ck_assert(!state_name_is_valid(NULL));
}
END_TEST

START_TEST(test_once_records)
{
    StateStore *s = open_store();
    _cleanup_free_ char *listing = NULL;

    ck_assert_int_eq(state_store_once_done(s, "web", "init-db", "h1"), 0);
    ck_assert_int_eq(state_store_mark_once(s, "web", "init-db", "h1"), 0);
    ck_assert_int_eq(state_store_mark_once(s, "web", "init-cache", "c1"), 0);
    ck_assert_int_eq(state_store_once_done(s, "web", "init-db", "h1"), 1);
    ck_assert_int_eq(state_store_once_done(s, "web", "init-db", "h2"), 0);
    ck_assert_int_eq(state_store_once_done(s, "web", "other", "h1"), 0);
    ck_assert_int_eq(state_store_once_done(s, "db", "init-db", "h1"), 0);
    ck_assert_int_eq(state_store_mark_once(s, "web", "init-db", ""), -EINVAL);
    s = state_store_free(s);

    /* Records survive closing and reopening the store. */
    s = open_store();
    ck_assert_int_eq(state_store_once_done(s, "web", "init-db", "h1"), 1);
    ck_assert_int_eq(state_store_once_done(s, "web", "init-cache", "c1"), 1);
    /* A changed spec runs again: the new hash replaces the old one. */
    ck_assert_int_eq(state_store_mark_once(s, "web", "init-db", "h2"), 0);
    ck_assert_int_eq(state_store_once_done(s, "web", "init-db", "h1"), 0);
    ck_assert_int_eq(state_store_once_done(s, "web", "init-db", "h2"), 1);
    listing = dir_listing("pods/web");
    ck_assert_str_eq(listing, "once.json");

    /* A broken once.json is set aside; the containers count as not done. */
    write_raw("pods/web/once.json", "{\"containers\":", 14);
    ck_assert_int_eq(state_store_once_done(s, "web", "init-db", "h2"), -EBADMSG);
    ck_assert(exists("pods/web/once.json.corrupt"));
    ck_assert_int_eq(state_store_once_done(s, "web", "init-db", "h2"), 0);
    write_raw("pods/web/once.json", "", 0);
    ck_assert_int_eq(state_store_mark_once(s, "web", "init-db", "h3"), 0);
    ck_assert_int_eq(state_store_once_done(s, "web", "init-db", "h3"), 1);
    s = state_store_free(s);
}
END_TEST

START_TEST(test_applied)
{
    _cleanup_(state_store_freep) StateStore *s = open_store();
    _cleanup_(strv_freep) char **l = NULL;
    _cleanup_free_ char *buf = NULL, *big = NULL, *listing = NULL;
    static const char manifest[] = "apiVersion: v1\nkind: Pod\n\0binary\xff";
    size_t size = 0;
    PdError e = {0};

    ck_assert_int_eq(state_store_load_applied(s, "web", &buf, &size, &e), -ENOENT);
    ck_assert_int_eq(state_store_save_applied(s, "web", manifest, sizeof(manifest) - 1), 0);
    ck_assert_int_eq(state_store_save_applied(s, "db", "x", 1), 0);
    ck_assert_int_eq(state_store_load_applied(s, "web", &buf, &size, &e), 0);
    ck_assert_uint_eq(size, sizeof(manifest) - 1);
    ck_assert_mem_eq(buf, manifest, size);
    ck_assert_int_eq(buf[size], 0);
    /* Replace, atomically. */
    ck_assert_int_eq(state_store_save_applied(s, "db", "yy", 2), 0);
    listing = dir_listing("applied");
    ck_assert_str_eq(listing, "db.yaml,web.yaml");
    write_raw("applied/.hidden.yaml", "x", 1);
    write_raw("applied/notes.txt", "x", 1);
    ck_assert_int_eq(state_store_list_applied(s, &l), 0);
    ck_assert_uint_eq(strv_length(l), 2);
    ck_assert_str_eq(l[0], "db");
    ck_assert_str_eq(l[1], "web");
    /* Size cap. */
    big = calloc(1, STATE_APPLIED_MAX + 1);
    ck_assert_ptr_nonnull(big);
    ck_assert_int_eq(state_store_save_applied(s, "big", big, STATE_APPLIED_MAX + 1), -EFBIG);
    ck_assert(!exists("applied/big.yaml"));
    /* Remove is idempotent. */
    ck_assert_int_eq(state_store_remove_applied(s, "web"), 0);
    ck_assert_int_eq(state_store_remove_applied(s, "web"), 0);
    ck_assert(!exists("applied/web.yaml"));
}
END_TEST

START_TEST(test_open_sweeps_temp_files)
{
    _cleanup_(state_store_freep) StateStore *s = open_store();
    _cleanup_json_ json_t *st = json_pack("{s:s}", "phase", "Running");
    _cleanup_free_ char *pods = NULL, *applied = NULL;

    ck_assert_int_eq(state_store_save_pod(s, "web", st, true), 0);
    /* What a crash in the middle of write_file_atomic_at() leaves behind. */
    write_raw("pods/web/.#state.json.4242.tmp", "{", 1);
    write_raw("applied/.#web.yaml.4242.tmp", "a", 1);
    s = state_store_free(s);
    s = open_store();
    pods = dir_listing("pods/web");
    ck_assert_str_eq(pods, "state.slots");
    applied = dir_listing("applied");
    ck_assert_str_eq(applied, "");
}
END_TEST

/* Releases j; NULL, for the pointer that held it. */
static json_t *json_drop(json_t *j)
{
    json_decref(j);
    return NULL;
}

static json_t *test_event(int seq)
{
    json_t *e =
        json_pack("{s:i,s:s,s:s,s:s,s:s,s:i,s:s,s:s}", "seq", seq, "pod", "web", "type", "Normal",
                  "reason", "Started", "message", "image x", "count", 1, "firstTimestamp",
                  "2026-12-02T16:00:00Z", "lastTimestamp", "2026-12-02T16:00:00Z");

    ck_assert_ptr_nonnull(e);
    return e;
}

static char *event_line(int seq)
{
    _cleanup_json_ json_t *e = test_event(seq);
    _cleanup_free_ char *text = json_dumps(e, JSON_COMPACT);
    char *line = strdup_printf("%s\n", text);

    ck_assert_ptr_nonnull(line);
    return line;
}

/* The kept events: written whole, appended to, read back after a restart, hostile ones dropped. */
START_TEST(test_events_survive_a_restart_bounded_and_escaped)
{
    _cleanup_(state_store_freep) StateStore *s = open_store();
    _cleanup_json_ json_t *ring = json_array();
    _cleanup_free_ char *l6 = event_line(106), *l7 = event_line(107);
    static const char hostile[] =
        "{\"version\":1,\"seq\":2,\"events\":["
        "{\"seq\":3,\"type\":\"Warning\",\"reason\":\"X\",\"message\":\"a\\nforged\","
        "\"count\":1,\"firstTimestamp\":\"t\",\"lastTimestamp\":\"t\",\"extra\":1},"
        "{\"seq\":0,\"type\":\"N\",\"reason\":\"R\",\"message\":\"m\",\"count\":1,"
        "\"firstTimestamp\":\"t\",\"lastTimestamp\":\"t\"},"
        "\"junk\"]}";
    StateEvents back = {0};
    PdError e = {0};

    ck_assert_int_eq(state_store_load_events(s, 10, &back, &e), -ENOENT);
    /* No journal yet: an append is refused, the caller writes it whole. */
    ck_assert_int_eq(state_store_append_events_text(s, l6, strlen(l6)), -ENOENT);
    for (int i = 1; i <= 5; i++)
        ck_assert_int_eq(json_array_append_new(ring, test_event(100 + i)), 0);
    ck_assert_int_eq(state_store_save_events(s, ring, 105), 0);
    ck_assert_int_eq(state_store_append_events_text(s, l6, strlen(l6)), 0);
    ck_assert_int_eq(state_store_append_events_text(s, l7, strlen(l7)), 0);
    ck_assert_int_eq(json_array_append_new(ring, test_event(106)), 0);
    ck_assert_int_eq(json_array_append_new(ring, test_event(107)), 0);
    s = state_store_free(s);
    s = open_store();
    ck_assert_int_eq(state_store_load_events(s, 10, &back, &e), 0);
    ck_assert(json_equal(back.events, ring));
    ck_assert_uint_eq(back.seq, 107);
    ck_assert_uint_eq(back.lines, 7);
    ck_assert(back.appendable);
    back.events = json_drop(back.events);
    /* Bounded: the newest are kept. */
    ck_assert_int_eq(state_store_load_events(s, 2, &back, &e), 0);
    ck_assert_uint_eq(json_array_size(back.events), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(back.events, 0), "seq")),
                     106);
    back.events = json_drop(back.events);

    /* A file edited by someone else: control characters escaped, unknown fields and bad entries
     * dropped, the sequence goes on after the largest. */
    ck_assert_int_eq(state_events_parse(hostile, strlen(hostile), 10, &back, &e), 0);
    ck_assert_uint_eq(json_array_size(back.events), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(back.events, 0), "message")),
                     "a\\nforged");
    ck_assert_ptr_null(json_object_get(json_array_get(back.events, 0), "extra"));
    ck_assert_uint_eq(back.seq, 3);
    ck_assert(!back.appendable);
    back.events = json_drop(back.events);

    /* Unusable: set aside, and the next start finds none. */
    write_raw(STATE_EVENTS_FILE, "{\"events\": 1}", strlen("{\"events\": 1}"));
    ck_assert_int_eq(state_store_load_events(s, 10, &back, &e), -EBADMSG);
    ck_assert_ptr_nonnull(strstr(e.message, "events.jsonl.corrupt"));
    ck_assert_int_eq(state_store_load_events(s, 10, &back, &e), -ENOENT);
}
END_TEST

/*
 * A journal a crash cut in the middle of a line: that line is dropped, the
 * rest kept, and nothing may be appended after it (it would join the cut
 * line). An older podd's events.json is read when there is no journal and
 * goes once the journal is written.
 */
START_TEST(test_events_journal_cut_and_older_file)
{
    _cleanup_(state_store_freep) StateStore *s = open_store();
    _cleanup_free_ char *l1 = event_line(1), *l2 = event_line(2), *cut = NULL, *old = NULL;
    StateEvents back = {0};
    PdError e = {0};
    struct stat st;

    cut = strdup_printf("{\"version\":2,\"seq\":0}\n%s%.*s", l1, (int)strlen(l2) / 2, l2);
    ck_assert_ptr_nonnull(cut);
    write_raw(STATE_EVENTS_FILE, cut, strlen(cut));
    ck_assert_int_eq(state_store_load_events(s, 10, &back, &e), 0);
    ck_assert_uint_eq(json_array_size(back.events), 1);
    ck_assert_uint_eq(back.seq, 1);
    ck_assert_uint_eq(back.lines, 2);
    ck_assert(!back.appendable);
    back.events = json_drop(back.events);
    ck_assert_int_eq(unlinkat(state_store_dir_fd(s), STATE_EVENTS_FILE, 0), 0);

    old = strdup_printf("{\"version\":1,\"seq\":9,\"events\":[%.*s]}", (int)strlen(l2) - 1, l2);
    ck_assert_ptr_nonnull(old);
    write_raw(STATE_EVENTS_OLD_FILE, old, strlen(old));
    ck_assert_int_eq(state_store_load_events(s, 10, &back, &e), 0);
    ck_assert_uint_eq(json_array_size(back.events), 1);
    ck_assert_uint_eq(back.seq, 9);
    ck_assert(!back.appendable);
    ck_assert_int_eq(state_store_save_events(s, back.events, back.seq), 0);
    back.events = json_drop(back.events);
    ck_assert_int_eq(fstatat(state_store_dir_fd(s), STATE_EVENTS_OLD_FILE, &st, 0), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(state_store_load_events(s, 10, &back, &e), 0);
    ck_assert_uint_eq(back.seq, 9);
    ck_assert(back.appendable);
    back.events = json_drop(back.events);
}
END_TEST

/* A slot as podd writes it: header line, then the text. */
static char *slot_bytes(uint64_t gen, const char *text)
{
    char sum[CONTENT_HASH_MAX];
    char *out;

    content_hash(text, strlen(text), sum);
    out = strdup_printf("podd-state 1 %020llu %010zu %s\n%s", (unsigned long long)gen, strlen(text),
                        sum, text);
    ck_assert_ptr_nonnull(out);
    return out;
}

START_TEST(test_slot_parse)
{
    _cleanup_free_ char *good = slot_bytes(7, "{\"a\": 1}\n"), *stale = NULL;
    const char *text = NULL;
    uint64_t gen = 0;
    size_t len = 0;

    ck_assert_int_eq(state_slot_parse(good, strlen(good), &gen, &text, &len), 0);
    ck_assert_uint_eq(gen, 7);
    ck_assert_uint_eq(len, 9);
    ck_assert_mem_eq(text, "{\"a\": 1}\n", 9);
    /* Stale bytes after the text (a longer earlier copy) do not count. */
    stale = strdup_printf("%sxxxxxxxx", good);
    ck_assert_int_eq(state_slot_parse(stale, strlen(stale), &gen, &text, &len), 0);
    ck_assert_uint_eq(len, 9);
    /* Torn: the generation is known, the text is not trusted. */
    ck_assert_int_eq(state_slot_parse(good, strlen(good) - 1, &gen, &text, &len), -EBADMSG);
    ck_assert_uint_eq(gen, 7);
    good[strlen(good) - 2] = 'x';
    ck_assert_int_eq(state_slot_parse(good, strlen(good), &gen, &text, &len), -EBADMSG);
    /* Not a slot at all. */
    ck_assert_int_eq(state_slot_parse("{}", 2, &gen, &text, &len), -EBADMSG);
    ck_assert_uint_eq(gen, 0);
    ck_assert_int_eq(state_slot_parse(NULL, 0, &gen, &text, &len), -EBADMSG);
}
END_TEST

/* What a restarted podd reads: the store opened anew, pod web's state loaded (the caller frees it).
 */
static json_t *reopened_web_state(StateStore **s)
{
    json_t *j = NULL;
    PdError e = {0};

    *s = state_store_free(*s);
    *s = open_store();
    ck_assert_int_eq(state_store_load_pod(*s, "web", &j, &e), 0);
    return j;
}

/* Saves rotate over the slots and never write over the newest copy nor the newest synced one. */
START_TEST(test_pod_slots_rotate_and_survive_a_torn_write)
{
    _cleanup_(state_store_freep) StateStore *s = open_store();
    _cleanup_free_ char *torn = NULL;
    json_t *j = NULL;
    PdError e = {0};
    const char *file = "pods/web/state.slots";
    const uint64_t gens[] = {6, 7, 3};
    int newest = -1;

    for (int i = 1; i <= 7; i++) {
        _cleanup_json_ json_t *st = json_pack("{s:i}", "n", i);

        /* The first save is synced whatever asked: then only the third is. */
        ck_assert_int_eq(state_store_save_pod(s, "web", st, i == 3), 0);
    }
    /* 1 synced in a, 2 in b, 3 synced in c, 4 in a, 5 in b (c: newest synced), 6 in a, 7 in b. */
    for (int i = 0; i < 3; i++) {
        _cleanup_free_ char *raw = read_region(file, i);
        const char *text;
        uint64_t gen;
        size_t len;

        ck_assert_int_eq(state_slot_parse(raw, strlen(raw), &gen, &text, &len), 0);
        if (gen == 7)
            newest = i;
        ck_assert_uint_eq(gen, gens[i]);
    }
    ck_assert_int_eq(newest, 1);
    /* One file: a pod's state is one inode. */
    ck_assert(!exists("pods/web/state.a") && !exists("pods/web/state.b"));
    ck_assert_int_eq(state_store_load_pod(s, "web", &j, &e), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "n")), 7);
    json_decref(j);
    j = NULL;
    /* The newest copy torn (a crash in the write): the one before it is read. */
    torn = read_region(file, 1);
    write_region(file, 1, "xxxxxxxxxxxxxxxx", 16);
    j = reopened_web_state(&s);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "n")), 6);
    json_decref(j);
    j = NULL;
    /* Torn at its end (the last bytes of the text not the ones written): the same. */
    torn[strlen(torn) - 3] = 'x';
    write_region(file, 1, torn, strlen(torn));
    j = reopened_web_state(&s);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "n")), 6);
    json_decref(j);
    j = NULL;
    /* A new store goes on after the highest generation seen, torn or not. */
    {
        _cleanup_json_ json_t *st = json_pack("{s:i}", "n", 8);
        _cleanup_free_ char *raw = NULL;
        const char *text;
        uint64_t gen;
        size_t len;

        ck_assert_int_eq(state_store_save_pod(s, "web", st, false), 0);
        raw = read_region(file, 1);
        ck_assert_int_eq(state_slot_parse(raw, strlen(raw), &gen, &text, &len), 0);
        ck_assert_uint_eq(gen, 8);
    }
    /* None whole: set aside, and then the pod has no state. */
    write_region(file, 0, "x", 1);
    write_region(file, 1, "y", 1);
    write_region(file, 2, "z", 1);
    ck_assert_int_eq(state_store_load_pod(s, "web", &j, &e), -EBADMSG);
    ck_assert_ptr_nonnull(strstr(e.message, "corrupt"));
    ck_assert(exists("pods/web/state.slots.corrupt"));
    ck_assert(!exists(file));
    ck_assert_int_eq(state_store_load_pod(s, "web", &j, &e), -ENOENT);
}
END_TEST

/* The generation in region i of pod web's state.slots. */
static uint64_t region_gen(size_t i)
{
    _cleanup_free_ char *raw = read_region("pods/web/state.slots", i);
    const char *text;
    uint64_t gen = 0;
    size_t len;

    ck_assert_int_eq(state_slot_parse(raw, strlen(raw), &gen, &text, &len), 0);
    return gen;
}

static void save_web(StateStore *s, int n, bool sync)
{
    _cleanup_json_ json_t *st = json_pack("{s:i}", "n", n);

    ck_assert_int_eq(state_store_save_pod(s, "web", st, sync), 0);
}

/* Counts the failed syncs in [0], the first good one after in [1]. */
static void count_news(const char *pod, int error, void *userdata)
{
    int *counts = userdata;

    ck_assert_str_eq(pod, "web");
    ck_assert(error == 0 || error == -EIO);
    counts[error == 0]++;
}

/*
 * With the syncs on the store's thread, a copy counts as synced only once
 * its sync ended, and a save never writes over the copy a queued sync waits
 * for without being synced itself.
 */
/* The scheduling policy (stat's field 41) of each thread of ours but the calling one. */
static size_t other_threads_policies(int *ret, size_t max)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *de;
    size_t n = 0;

    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) && n < max) {
        char path[300], buf[1024], *p;
        FILE *f;

        if (de->d_name[0] == '.' || atoi(de->d_name) == gettid())
            continue;
        (void)snprintf(path, sizeof(path), "/proc/self/task/%s/stat", de->d_name);
        f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
        fclose(f);
        p = strrchr(buf, ')');
        ck_assert_ptr_nonnull(p);
        /* Fields from the third (the state) on; the policy is the 41st. */
        for (int field = 3; p && field <= 41; field++)
            p = strchr(p + 1, ' ');
        ck_assert_ptr_nonnull(p);
        ret[n++] = atoi(p + 1);
    }
    closedir(d);
    return n;
}

START_TEST(test_syncer_never_preempts_the_loop)
{
    _cleanup_(state_store_freep) StateStore *s = open_store();
    int fd = -1, policies[8];

    ck_assert_int_eq(state_store_sync_in_background(s, &fd), 0);
    /* Its thread, woken by each save, runs as a batch thread: no preemption of its waker. */
    ck_assert_uint_eq(other_threads_policies(policies, 8), 1);
    ck_assert_int_eq(policies[0], SCHED_BATCH);
}
END_TEST

START_TEST(test_pod_syncs_in_the_background)
{
    _cleanup_(state_store_freep) StateStore *s = open_store();
    int fd = -1, failures[2] = {0, 0};
    struct pollfd p;
    json_t *j = NULL;
    PdError e = {0};

    ck_assert_int_eq(state_store_sync_in_background(s, &fd), 0);
    ck_assert_int_ge(fd, 0);
    /*
     * Until the first sync ended, a save is synced unless one is queued for a
     * copy it does not write over: 1 in a (synced), 2 in b (not), 3 in a again
     * (synced: over the copy the queued sync waits for).
     */
    for (int i = 1; i <= 3; i++)
        save_web(s, i, false);
    p = (struct pollfd){.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 5000), 1);
    state_store_sync_collect(s, true, count_news, failures);
    ck_assert_int_eq(failures[0], 0);
    ck_assert_uint_eq(region_gen(0), 3);
    ck_assert_uint_eq(region_gen(1), 2);
    /* 3 (in a) is the synced copy: unsynced saves go to b and c, never to a. */
    for (int i = 4; i <= 6; i++)
        save_web(s, i, false);
    ck_assert_uint_eq(region_gen(0), 3);
    ck_assert_uint_eq(region_gen(1), 6);
    ck_assert_uint_eq(region_gen(2), 5);
    /*
     * 7 synced goes to c; its sync not taken in yet, 8 goes to b and 9 to
     * c again, over what the queued sync waits for: so 9 is synced.
     */
    save_web(s, 7, true);
    save_web(s, 8, false);
    save_web(s, 9, false);
    ck_assert_uint_eq(region_gen(2), 9);
    state_store_sync_collect(s, true, count_news, failures);
    /* 9 in c is the synced copy now: 10, 11 and 12 go to a and b. */
    for (int i = 10; i <= 12; i++)
        save_web(s, i, false);
    ck_assert_uint_eq(region_gen(2), 9);
    ck_assert_uint_eq(region_gen(0), 12);
    ck_assert_uint_eq(region_gen(1), 11);
    /* A failed sync is reported, and the next save is synced whatever it asked (and reported). */
    failpoint_arm("state-sync");
    save_web(s, 13, true);
    state_store_sync_collect(s, true, count_news, failures);
    ck_assert_int_eq(failures[0], 1);
    ck_assert_int_eq(failures[1], 0);
    failpoint_arm(NULL);
    /* 13 (in b) did not become the synced copy: 14 goes to a, over 12, and is synced. */
    save_web(s, 14, false);
    ck_assert_uint_eq(region_gen(2), 9);
    ck_assert_uint_eq(region_gen(0), 14);
    state_store_sync_collect(s, true, count_news, failures);
    ck_assert_int_eq(failures[0], 1);
    ck_assert_int_eq(failures[1], 1);
    /* 14 in a is the synced copy: 15 goes to b, 16 to c. */
    save_web(s, 15, false);
    save_web(s, 16, false);
    ck_assert_uint_eq(region_gen(0), 14);
    ck_assert_uint_eq(region_gen(2), 16);
    /*
     * Two pods saved in turn, each save synced, faster than the thread
     * syncs: a job not begun yet takes the next save of its pod over, one
     * begun leaves it to a job of its own. Either way the last save of each
     * ends up the synced copy, which the next two saves go around.
     */
    for (int i = 100; i < 300; i++) {
        _cleanup_json_ json_t *a = json_pack("{s:i}", "n", i), *b = json_pack("{s:i}", "n", -i);

        ck_assert_int_eq(state_store_save_pod(s, "web", a, true), 0);
        ck_assert_int_eq(state_store_save_pod(s, "db", b, true), 0);
    }
    state_store_sync_collect(s, true, count_news, failures);
    {
        uint64_t last = 0;
        size_t synced = 0;

        for (size_t i = 0; i < 3; i++)
            if (region_gen(i) > last) {
                last = region_gen(i);
                synced = i;
            }
        save_web(s, 300, false);
        save_web(s, 301, false);
        ck_assert_uint_eq(region_gen(synced), last);
    }
    /* A sync still queued when the store is freed is made, and the newest copy is read back. */
    save_web(s, 17, true);
    j = reopened_web_state(&s);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "n")), 17);
    json_decref(j);
    /* A pod removed while its sync is queued: the sync's end is taken in without harm. */
    ck_assert_int_eq(state_store_sync_in_background(s, &fd), 0);
    save_web(s, 18, true);
    ck_assert_int_eq(state_store_remove_pod(s, "web"), 0);
    state_store_sync_collect(s, true, count_news, failures);
    ck_assert_int_eq(failures[0], 1);
    ck_assert_int_eq(failures[1], 1);
    ck_assert_int_eq(state_store_load_pod(s, "web", &j, &e), -ENOENT);
}
END_TEST

/* The slot files of the podd before (one file a slot) are read, and the first save replaces them.
 */
START_TEST(test_pod_slot_files_of_the_podd_before)
{
    _cleanup_(state_store_freep) StateStore *s = open_store();
    _cleanup_json_ json_t *st = json_pack("{s:s}", "phase", "Failed");
    _cleanup_free_ char *a = slot_bytes(4, "{\"phase\": \"Pending\"}\n");
    _cleanup_free_ char *b = slot_bytes(5, "{\"phase\": \"Running\"}\n");
    _cleanup_free_ char *c = slot_bytes(6, "{\"phase\": \"Succeeded\"}\n");
    _cleanup_free_ char *listing = NULL, *raw = NULL;
    json_t *j = NULL;
    PdError e = {0};
    const char *text;
    uint64_t gen;
    size_t len;

    {
        _cleanup_free_ char *dir = path_in_store("pods/web");

        ck_assert_int_eq(mkdir(dir, 0700), 0);
    }
    write_raw("pods/web/state.a", a, strlen(a));
    write_raw("pods/web/state.b", b, strlen(b));
    /* The newest torn: the whole one of the highest generation rules. */
    write_raw("pods/web/state.c", c, strlen(c) - 2);
    ck_assert_int_eq(state_store_load_pod(s, "web", &j, &e), 0);
    ck_assert_str_eq(json_string_value(json_object_get(j, "phase")), "Running");
    json_decref(j);
    j = NULL;
    /* Read again until saved: a crash before the first save loses nothing. */
    j = reopened_web_state(&s);
    ck_assert_str_eq(json_string_value(json_object_get(j, "phase")), "Running");
    json_decref(j);
    j = NULL;
    /* The first save goes on after the highest generation seen, and the older files go. */
    ck_assert_int_eq(state_store_save_pod(s, "web", st, false), 0);
    listing = dir_listing("pods/web");
    ck_assert_str_eq(listing, "state.slots");
    raw = read_region("pods/web/state.slots", 0);
    ck_assert_int_eq(state_slot_parse(raw, strlen(raw), &gen, &text, &len), 0);
    ck_assert_uint_eq(gen, 7);
    j = reopened_web_state(&s);
    ck_assert_str_eq(json_string_value(json_object_get(j, "phase")), "Failed");
    json_decref(j);
}
END_TEST

/* An older podd's state.json is read, and the first save replaces it for good. */
START_TEST(test_pod_state_json_of_an_older_podd)
{
    _cleanup_(state_store_freep) StateStore *s = open_store();
    _cleanup_json_ json_t *st = json_pack("{s:s}", "phase", "Failed");
    _cleanup_free_ char *listing = NULL;
    static const char old[] = "{\n  \"phase\": \"Running\"\n}\n";
    json_t *j = NULL;
    PdError e = {0};

    ck_assert_int_eq(state_store_save_pod(s, "web", st, true), 0);
    /* Put there while podd was down (an older podd, or by hand): it rules over the slots. */
    write_raw("pods/web/state.json", old, strlen(old));
    j = reopened_web_state(&s);
    ck_assert_str_eq(json_string_value(json_object_get(j, "phase")), "Running");
    json_decref(j);
    j = NULL;
    /* Read again until saved: a crash before the first save loses nothing. */
    ck_assert_int_eq(state_store_load_pod(s, "web", &j, &e), 0);
    ck_assert_str_eq(json_string_value(json_object_get(j, "phase")), "Running");
    json_decref(j);
    j = NULL;
    ck_assert_int_eq(state_store_save_pod(s, "web", st, false), 0);
    ck_assert(!exists("pods/web/state.json"));
    ck_assert_int_eq(state_store_load_pod(s, "web", &j, &e), 0);
    ck_assert_str_eq(json_string_value(json_object_get(j, "phase")), "Failed");
    json_decref(j);
    listing = dir_listing("pods/web");
    ck_assert_str_eq(listing, "state.slots");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("state");
    TCase *tc = tcase_create("state");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_open_refuses_symlink);
    tcase_add_test(tc, test_pod_roundtrip);
    tcase_add_test(tc, test_pod_missing);
    tcase_add_loop_test(tc, test_pod_corrupt, 0, ELEMENTSOF(corrupt_cases));
    tcase_add_test(tc, test_pod_not_regular);
    tcase_add_test(tc, test_slot_parse);
    tcase_add_test(tc, test_pod_slots_rotate_and_survive_a_torn_write);
    tcase_add_test(tc, test_pod_slot_files_of_the_podd_before);
    tcase_add_test(tc, test_pod_state_json_of_an_older_podd);
    tcase_add_test(tc, test_list_and_remove);
    tcase_add_loop_test(tc, test_bad_names, 0, ELEMENTSOF(bad_names));
    tcase_add_test(tc, test_good_names);
    tcase_add_test(tc, test_once_records);
    tcase_add_test(tc, test_applied);
    tcase_add_test(tc, test_open_sweeps_temp_files);
    tcase_add_test(tc, test_events_survive_a_restart_bounded_and_escaped);
    tcase_add_test(tc, test_events_journal_cut_and_older_file);
    tcase_add_test(tc, test_pod_syncs_in_the_background);
    tcase_add_test(tc, test_syncer_never_preempts_the_loop);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
