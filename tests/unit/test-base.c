/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base/base.h"
#include "unit-util.h"

START_TEST(test_error_format)
{
    PdError e = {0};
    char buf[256];

    ck_assert_int_eq(
        pd_error_set_at(&e, -EINVAL, 14, 9, "spec.containers[1].image: %s", "required"), -EINVAL);
    pd_error_set_file(&e, "web.yaml");
    pd_error_format(&e, buf, sizeof(buf));
    ck_assert_str_eq(buf, "web.yaml:14:9: spec.containers[1].image: required");
    ck_assert_int_eq(pd_error_prefix(&e, -EINVAL, "manifest"), -EINVAL);
    pd_error_format(&e, buf, sizeof(buf));
    ck_assert_str_eq(buf, "web.yaml:14:9: manifest: spec.containers[1].image: required");
    /* A NULL error is allowed everywhere and still returns the code. */
    ck_assert_int_eq(pd_error_set(NULL, -ENOENT, "x"), -ENOENT);
}
END_TEST

START_TEST(test_error_prefix_without_message)
{
    PdError e = {0};

    ck_assert_int_eq(pd_error_prefix(&e, -ENOENT, "open '%s'", "x"), -ENOENT);
    ck_assert_str_eq(e.message, "open 'x': No such file or directory");
}
END_TEST

START_TEST(test_strv)
{
    _cleanup_(strv_freep) char **l = NULL, **c = NULL;

    ck_assert_int_eq(strv_extend(&l, "a"), 0);
    ck_assert_int_eq(strv_extend(&l, "b"), 0);
    ck_assert_int_eq(strv_push_take(&l, strdup("c")), 0);
    ck_assert_uint_eq(strv_length(l), 3);
    ck_assert(strv_contains(l, "b"));
    ck_assert(!strv_contains(l, "d"));
    c = strv_copy(l);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(c[2], "c");
    ck_assert_ptr_null(c[3]);
}
END_TEST

static const struct {
    const char *a, *b;
    unsigned cap, expected;
} distances[] = {
    {"image", "image", 2, 0},           {"imagee", "image", 2, 1},         {"imgae", "image", 2, 2},
    {"containers", "contianers", 2, 2}, {"volumeMounts", "volumes", 2, 3}, {"", "abc", 5, 3},
};

START_TEST(test_string_distance)
{
    ck_assert_uint_eq(string_distance(distances[_i].a, distances[_i].b, distances[_i].cap),
                      distances[_i].expected);
}
END_TEST

START_TEST(test_strings)
{
    ck_assert(startswith("podd.io/x", "podd.io/"));
    ck_assert(!startswith("pod", "podd"));
    ck_assert(endswith("web.yaml", ".yaml"));
    ck_assert(!endswith("web.yaml.bak", ".yaml"));
}
END_TEST

/* A table with a gap, as the macro's users have (HOST_PATH_UNSET = ""; values without a string). */
typedef enum Fruit {
    FRUIT_APPLE,
    FRUIT_UNNAMED,
    FRUIT_PEAR,
    _FRUIT_MAX,
    _FRUIT_INVALID = -EINVAL,
} Fruit;

DEFINE_PRIVATE_STRING_TABLE(fruit, Fruit,
                            _FRUIT_MAX, [FRUIT_APPLE] = "apple", [FRUIT_PEAR] = "pear")
DEFINE_PRIVATE_STRING_TABLE_FROM(fruit, Fruit, _FRUIT_MAX, _FRUIT_INVALID)

START_TEST(test_string_table)
{
    ck_assert_str_eq(fruit_to_string(FRUIT_APPLE), "apple");
    ck_assert_str_eq(fruit_to_string(FRUIT_PEAR), "pear");
    ck_assert_ptr_null(fruit_to_string(FRUIT_UNNAMED));
    ck_assert_ptr_null(fruit_to_string(_FRUIT_MAX));
    ck_assert_ptr_null(fruit_to_string(_FRUIT_INVALID));
    ck_assert_int_eq(fruit_from_string("pear"), FRUIT_PEAR);
    ck_assert_int_eq(fruit_from_string("apple"), FRUIT_APPLE);
    /* Exact and case-sensitive; NULL and the gap match nothing. */
    ck_assert_int_eq(fruit_from_string("Pear"), _FRUIT_INVALID);
    ck_assert_int_eq(fruit_from_string(""), _FRUIT_INVALID);
    ck_assert_int_eq(fruit_from_string(NULL), _FRUIT_INVALID);
    for (int i = 0; i < _FRUIT_MAX; i++)
        if (fruit_to_string((Fruit)i))
            ck_assert_int_eq(fruit_from_string(fruit_to_string((Fruit)i)), i);
}
END_TEST

static const struct {
    const char *s;
    int r;
    int64_t v;
} ints[] = {
    {"0", 0, 0},      {"42", 0, 42},      {"-7", 0, -7},      {"+7", -EINVAL, 0},
    {"", -EINVAL, 0}, {"4x", -EINVAL, 0}, {" 4", -EINVAL, 0}, {"99999999999999999999", -ERANGE, 0},
};

START_TEST(test_parse_int64)
{
    int64_t v = 0;

    ck_assert_int_eq(parse_int64(ints[_i].s, &v), ints[_i].r);
    if (ints[_i].r == 0)
        ck_assert_int_eq(v, ints[_i].v);
}
END_TEST

START_TEST(test_strbuf)
{
    StrBuf b = {0};

    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(strbuf_printf(&b, "%d,", i), 0);
    ck_assert(startswith(b.data, "0,1,2,"));
    ck_assert(endswith(b.data, "998,999,"));
    strbuf_done(&b);
    ck_assert_ptr_null(b.data);
}
END_TEST

/* A text longer than the room left: formatted again, whole, into a larger buffer. */
START_TEST(test_strbuf_printf_grows)
{
    char want[1200];
    StrBuf b = {0};

    memset(want, 'x', sizeof(want) - 1);
    want[sizeof(want) - 1] = 0;
    ck_assert_int_eq(strbuf_printf(&b, "%.250s", want), 0);
    ck_assert_uint_eq(b.len, 250);
    ck_assert_int_eq(strbuf_printf(&b, "%s|%d", want + 250, 7), 0);
    ck_assert_uint_eq(b.len, sizeof(want) - 1 + 2);
    ck_assert_int_eq(strncmp(b.data, want, sizeof(want) - 1), 0);
    ck_assert_str_eq(b.data + sizeof(want) - 1, "|7");
    ck_assert_uint_ge(b.cap, b.len + 1);
    strbuf_done(&b);
}
END_TEST

/* What jansson reads back is what went in, whatever the bytes (UTF-8 kept as it is). */
START_TEST(test_strbuf_json_string)
{
    static const char *const texts[] = {"",
                                        "plain",
                                        "a \"quoted\" \\path\\",
                                        "tab\there\n",
                                        "\x01\x1f end",
                                        "caf\xc3\xa9 \xe2\x80\x94 ok"};

    for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
        _cleanup_json_ json_t *j = NULL;
        StrBuf b = {0};

        ck_assert_int_eq(strbuf_append(&b, "[", 1), 0);
        ck_assert_int_eq(strbuf_append_json_string(&b, texts[i]), 0);
        ck_assert_int_eq(strbuf_append(&b, "]", 1), 0);
        j = json_loads(b.data, 0, NULL);
        ck_assert_ptr_nonnull(j);
        ck_assert_str_eq(json_string_value(json_array_get(j, 0)), texts[i]);
        strbuf_done(&b);
    }
    {
        StrBuf b = {0};

        ck_assert_int_eq(strbuf_append_json_string(&b, "a\"b\\c\nd"), 0);
        ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\u000ad\"");
        strbuf_done(&b);
    }
}
END_TEST

static char tmpdir[] = "/tmp/podd-test-base.XXXXXX";

START_TEST(test_atomic_write_and_read)
{
    _cleanup_close_ int dfd = -1, fd = -1;
    _cleanup_free_ char *buf = NULL;
    char big[5000];
    size_t size;
    struct stat st;

    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    dfd = open(tmpdir, O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(dfd, 0);
    ck_assert_int_eq(write_file_atomic_at(dfd, "state.json", "{\"a\":1}", 7, 0600), 0);
    ck_assert_int_eq(write_file_atomic_at(dfd, "state.json", "{\"a\":2}", 7, 0600), 0);
    ck_assert_int_eq(fstatat(dfd, "state.json", &st, 0), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    fd = openat(dfd, "state.json", O_RDONLY | O_CLOEXEC);
    ck_assert_int_eq(read_fd_full(fd, 100, &buf, &size), 0);
    ck_assert_str_eq(buf, "{\"a\":2}");
    ck_assert_uint_eq(size, 7);

    /* Exactly the limit reads; one byte more is -EFBIG. */
    memset(big, 'x', sizeof(big));
    ck_assert_int_eq(write_file_atomic_at(dfd, "big", big, sizeof(big), 0600), 0);
    closep(&fd);
    free(buf);
    buf = NULL;
    fd = openat(dfd, "big", O_RDONLY | O_CLOEXEC);
    ck_assert_int_eq(read_fd_full(fd, sizeof(big), &buf, &size), 0);
    ck_assert_uint_eq(size, sizeof(big));
    closep(&fd);
    free(buf);
    buf = NULL;
    fd = openat(dfd, "big", O_RDONLY | O_CLOEXEC);
    ck_assert_int_eq(read_fd_full(fd, sizeof(big) - 1, &buf, &size), -EFBIG);
    ck_assert_ptr_null(buf);

    ck_assert_int_eq(unlinkat(dfd, "state.json", 0), 0);
    ck_assert_int_eq(unlinkat(dfd, "big", 0), 0);
    ck_assert_int_eq(rmdir(tmpdir), 0);
}
END_TEST

static char *read_path(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf = NULL;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(read_fd_full(fd, 1 << 20, &buf, NULL), 0);
    return buf;
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)))
        if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

START_TEST(test_atomic_write_paths)
{
    char dir[] = "/tmp/podd-test-base.XXXXXX", path[256], rel[256];
    _cleanup_free_ char *a = NULL, *b = NULL;
    struct stat st;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    (void)snprintf(path, sizeof(path), "%s/sub", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);

    /* A path with directories, relative to the working directory, without fsync. */
    (void)umask(022);
    (void)snprintf(path, sizeof(path), "%s/sub/exit.json", dir);
    ck_assert_int_eq(write_file_atomic(AT_FDCWD, path, "{}\n", 3, 0640, 0), 0);
    a = read_path(path);
    ck_assert_str_eq(a, "{}\n");
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0640);

    /* Replaced with sync; the temporary lies beside it and is gone afterwards. */
    ck_assert_int_eq(write_file_atomic(AT_FDCWD, path, "{\"x\":1}\n", 8, 0644, WRITE_FILE_SYNC), 0);
    b = read_path(path);
    ck_assert_str_eq(b, "{\"x\":1}\n");
    (void)snprintf(path, sizeof(path), "%s/sub", dir);
    ck_assert_uint_eq(count_entries(path), 1);

    /* A relative path under a directory fd, and a failure that leaves nothing behind. */
    {
        _cleanup_close_ int dfd = open(dir, O_DIRECTORY | O_CLOEXEC);

        ck_assert_int_ge(dfd, 0);
        ck_assert_int_eq(write_file_atomic(dfd, "sub/state", "s", 1, 0600, WRITE_FILE_SYNC), 0);
        ck_assert_int_eq(write_file_atomic(dfd, "missing/state", "s", 1, 0600, 0), -ENOENT);
        ck_assert_int_eq(write_file_atomic(dfd, "sub/", "s", 1, 0600, 0), -EINVAL);
        /* Renaming over a directory fails after the write: the temporary is removed. */
        ck_assert_int_eq(write_file_atomic(dfd, "sub", "s", 1, 0600, 0), -EISDIR);
        ck_assert_uint_eq(count_entries(dir), 1);
    }
    (void)snprintf(rel, sizeof(rel), ".#state.%ld.tmp", (long)getpid());
    ck_assert(write_file_is_temp(rel));
    ck_assert(!write_file_is_temp("state"));
    ck_assert(!write_file_is_temp(".#state"));

    ck_assert_int_eq(rm_rf_at(AT_FDCWD, dir), 0);
    ck_assert_int_eq(access(dir, F_OK), -1);
}
END_TEST

static void make_tree(const char *root)
{
    char p[512];
    _cleanup_close_ int fd = -1;

    ck_assert_int_eq(mkdir(root, 0755), 0);
    (void)snprintf(p, sizeof(p), "%s/a", root);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    (void)snprintf(p, sizeof(p), "%s/a/b", root);
    ck_assert_int_eq(mkdir(p, 0700), 0);
    (void)snprintf(p, sizeof(p), "%s/a/b/file", root);
    fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    (void)snprintf(p, sizeof(p), "%s/a/fifo", root);
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    (void)snprintf(p, sizeof(p), "%s/empty", root);
    ck_assert_int_eq(mkdir(p, 0755), 0);
}

/* A child keeps exactly the fds it names, whatever their order, and stdio. */
START_TEST(test_close_fds_except)
{
    int fds[5], status;
    pid_t pid;

    for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fds[i], 3);
    }
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        bool ok = close_fds_except((int[]){fds[3], -1, fds[1]}, 3) == 0;

        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
            ok = ok && (fcntl(fds[i], F_GETFD) >= 0) == (i == 1 || i == 3);
        ok = ok && fcntl(0, F_GETFD) >= 0 && fcntl(2, F_GETFD) >= 0;
        _exit(ok ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (size_t i = 0; i < ELEMENTSOF(fds); i++)
        close(fds[i]);
}
END_TEST

START_TEST(test_rm_rf)
{
    char dir[] = "/tmp/podd-test-base.XXXXXX", tree[256], outside[256], p[512];
    _cleanup_close_ int dfd = -1;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    (void)snprintf(outside, sizeof(outside), "%s/outside", dir);
    ck_assert_int_eq(mkdir(outside, 0755), 0);
    (void)snprintf(p, sizeof(p), "%s/keep", outside);
    ck_assert_int_eq(write_file_atomic(AT_FDCWD, p, "k", 1, 0644, 0), 0);

    /* A tree with a symlink to a directory outside it: the link goes, not what it points to. */
    (void)snprintf(tree, sizeof(tree), "%s/tree", dir);
    make_tree(tree);
    (void)snprintf(p, sizeof(p), "%s/a/link", tree);
    ck_assert_int_eq(symlink(outside, p), 0);
    ck_assert_int_eq(rm_rf_at(AT_FDCWD, tree), 0);
    ck_assert_int_eq(access(tree, F_OK), -1);
    (void)snprintf(p, sizeof(p), "%s/keep", outside);
    ck_assert_int_eq(access(p, F_OK), 0);

    /* Relative to a directory fd; a file alone; something absent is no error. */
    dfd = open(dir, O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(dfd, 0);
    make_tree(tree);
    ck_assert_int_eq(rm_rf_at(dfd, "tree/a"), 0);
    ck_assert_uint_eq(count_entries(tree), 1);
    ck_assert_int_eq(rm_rf_at(dfd, "tree"), 0);
    ck_assert_int_eq(rm_rf_at(dfd, "outside/keep"), 0);
    ck_assert_uint_eq(count_entries(outside), 0);
    ck_assert_int_eq(rm_rf_at(dfd, "tree"), 0);
    ck_assert_int_eq(rm_rf_at(dfd, "outside/nothing/here"), 0);

    ck_assert_int_eq(rm_rf_at(AT_FDCWD, dir), 0);
    ck_assert_int_eq(access(dir, F_OK), -1);
}
END_TEST

static bool write_proc(const char *path, const char *text)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

    return fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
}

/*
 * Enters a mount namespace of our own, where we may mount: as root directly,
 * otherwise inside a user namespace that maps our ids (so that files can be
 * made on a tmpfs mounted there). False when the host allows neither.
 */
static bool private_mounts(void)
{
    if (unshare(CLONE_NEWNS) < 0) {
        char map[64];
        uid_t uid = getuid();
        gid_t gid = getgid();

        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
            return false;
        (void)snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
        if (!write_proc("/proc/self/uid_map", map) || !write_proc("/proc/self/setgroups", "deny"))
            return false;
        (void)snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
        if (!write_proc("/proc/self/gid_map", map))
            return false;
    }
    return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
}

/* Whether private_mounts() works here, tried in a child so that this process stays as it is. */
static bool can_mount(void)
{
    int status;
    pid_t pid = fork();

    if (pid < 0)
        return false;
    if (pid == 0)
        _exit(private_mounts() ? 0 : 1);
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

START_TEST(test_rm_rf_stops_at_mounts)
{
    char dir[] = "/tmp/podd-test-base.XXXXXX", mnt[256], p[512];

    ck_assert_ptr_nonnull(mkdtemp(dir));
    /* Check runs each test in a child process: the namespace ends with it. */
    ck_assert(private_mounts());
    (void)snprintf(mnt, sizeof(mnt), "%s/t", dir);
    make_tree(mnt);
    (void)snprintf(mnt, sizeof(mnt), "%s/t/a/b", dir);
    ck_assert_int_eq(mount("tmpfs", mnt, "tmpfs", 0, "size=64k"), 0);
    (void)snprintf(p, sizeof(p), "%s/on-tmpfs", mnt);
    ck_assert_int_eq(write_file_atomic(AT_FDCWD, p, "x", 1, 0644, 0), 0);

    /* Everything but the mount point and the directories above it goes; the tmpfs is untouched. */
    (void)snprintf(p, sizeof(p), "%s/t", dir);
    ck_assert_int_eq(rm_rf_at(AT_FDCWD, p), -EBUSY);
    (void)snprintf(p, sizeof(p), "%s/on-tmpfs", mnt);
    ck_assert_int_eq(access(p, F_OK), 0);
    (void)snprintf(p, sizeof(p), "%s/t/a/fifo", dir);
    ck_assert_int_eq(access(p, F_OK), -1);
    (void)snprintf(p, sizeof(p), "%s/t/empty", dir);
    ck_assert_int_eq(access(p, F_OK), -1);

    ck_assert_int_eq(umount2(mnt, MNT_DETACH), 0);
    ck_assert_int_eq(rm_rf_at(AT_FDCWD, dir), 0);
    ck_assert_int_eq(access(dir, F_OK), -1);
}
END_TEST

static const struct {
    uint64_t usec;
    const char *seconds;
} times[] = {
    {0, "1970-01-01T00:00:00Z"},
    {1700000000u * UINT64_C(1000000), "2023-11-14T22:13:20Z"},
    /* The fraction is dropped, never rounded up into the next second. */
    {1700000000u * UINT64_C(1000000) + 999999, "2023-11-14T22:13:20Z"},
    {UINT64_C(951782400000000), "2000-02-29T00:00:00Z"},
    {UINT64_C(4102444799000000), "2099-12-31T23:59:59Z"},
};

START_TEST(test_rfc3339)
{
    char buf[RFC3339_MAX];
    struct timespec ts = {.tv_sec = 1700000000, .tv_nsec = 5};

    ck_assert_str_eq(format_rfc3339(times[_i].usec, buf, sizeof(buf)), times[_i].seconds);
    ck_assert_str_eq(format_rfc3339_nano(&ts, buf, sizeof(buf)), "2023-11-14T22:13:20.000000005Z");
    ts.tv_nsec = 999999999;
    ck_assert_str_eq(format_rfc3339_nano(&ts, buf, sizeof(buf)), "2023-11-14T22:13:20.999999999Z");
}
END_TEST

/* The civil date computed by hand matches gmtime_r() and strftime() over the years it covers. */
START_TEST(test_rfc3339_matches_gmtime)
{
    char buf[RFC3339_MAX], want[48];
    struct tm tm;

    /* A prime step: every hour of the day, leap days and century years come along. */
    for (int64_t sec = 0; sec < INT64_C(253402300800); sec += INT64_C(86399) * 97 + 3607) {
        time_t t = (time_t)sec;

        ck_assert_ptr_nonnull(gmtime_r(&t, &tm));
        ck_assert_uint_ne(strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm), 0);
        ck_assert_str_eq(format_rfc3339((uint64_t)sec * 1000000u, buf, sizeof(buf)), want);
    }
    ck_assert_str_eq(format_rfc3339(UINT64_C(253402300799) * 1000000u, buf, sizeof(buf)),
                     "9999-12-31T23:59:59Z");
    ck_assert_str_eq(format_rfc3339(UINT64_C(4107542400) * 1000000u, buf, sizeof(buf)),
                     "2100-03-01T00:00:00Z");
}
END_TEST

/* Kubernetes' and CRI's forms, and what is refused. */
static const struct {
    const char *s;
    int code;
    uint64_t usec;
} rfc3339_inputs[] = {
    {"1970-01-01T00:00:00Z", 0, 0},
    {"2026-11-22T10:00:00Z", 0, 1795341600000000ull},
    {"2026-11-22T10:00:00.123456789Z", 0, 1795341600123456ull},
    {"2026-11-22T10:00:00.5z", 0, 1795341600500000ull},
    {"2026-11-22T12:00:00+02:00", 0, 1795341600000000ull},
    {"2026-11-22T08:30:00-01:30", 0, 1795341600000000ull},
    {"2000-02-29T00:00:00Z", 0, 951782400000000ull},
    {"2026-11-22T10:00:00", -EINVAL, 0},
    {"2026-11-22T10:00:00.Z", -EINVAL, 0},
    {"2026-13-22T10:00:00Z", -EINVAL, 0},
    {"2026-11-22T24:00:00Z", -EINVAL, 0},
    {"2026-11-22 10:00:00Z", -EINVAL, 0},
    {"2026-11-22T10:00:00Zjunk", -EINVAL, 0},
    {"2026-11-22T10:00:00+0200", -EINVAL, 0},
    {"26-11-22T10:00:00Z", -EINVAL, 0},
    {"1969-12-31T23:59:59Z", -EINVAL, 0},
    {"1970-01-01T00:30:00+01:00", -EINVAL, 0},
    {"", -EINVAL, 0},
};

START_TEST(test_rfc3339_parse)
{
    uint64_t usec = 42;

    ck_assert_int_eq(parse_rfc3339(rfc3339_inputs[_i].s, strlen(rfc3339_inputs[_i].s), &usec),
                     rfc3339_inputs[_i].code);
    if (rfc3339_inputs[_i].code == 0)
        ck_assert_uint_eq(usec, rfc3339_inputs[_i].usec);
    else
        ck_assert_uint_eq(usec, 42);
}
END_TEST

/* What format_rfc3339() writes reads back to its second; only len bytes are read. */
START_TEST(test_rfc3339_round_trip)
{
    char buf[RFC3339_MAX + 8];
    uint64_t usec = 0;

    (void)format_rfc3339(times[_i].usec, buf, sizeof(buf));
    ck_assert_int_eq(parse_rfc3339(buf, strlen(buf), &usec), 0);
    ck_assert_uint_eq(usec, times[_i].usec - times[_i].usec % 1000000u);
    /* A field cut short by len is refused; what follows len is not looked at. */
    ck_assert_int_eq(parse_rfc3339(buf, strlen(buf) - 1, &usec), -EINVAL);
    (void)strcat(buf, "junk");
    ck_assert_int_eq(parse_rfc3339(buf, strlen(buf) - 4, &usec), 0);
}
END_TEST

/* A status time back on the monotonic clock: to the second, never in the future. */
START_TEST(test_rfc3339_to_monotonic)
{
    char buf[RFC3339_MAX];
    uint64_t mono = now_monotonic_usec(), got;

    (void)format_rfc3339(now_realtime_usec() - 5000000u, buf, sizeof(buf));
    got = rfc3339_to_monotonic(buf);
    ck_assert_uint_le(got, mono - 5000000u + 1000000u);
    ck_assert_uint_ge(got + 7000000u, mono);
    (void)format_rfc3339(now_realtime_usec() + 3600000000u, buf, sizeof(buf));
    ck_assert_uint_eq(rfc3339_to_monotonic(buf), 0);
    ck_assert_uint_eq(rfc3339_to_monotonic("1970-01-01T00:00:00Z"), 0);
    ck_assert_uint_eq(rfc3339_to_monotonic("yesterday"), 0);
    ck_assert_uint_eq(rfc3339_to_monotonic(NULL), 0);
}
END_TEST

START_TEST(test_rfc3339_now)
{
    char a[RFC3339_MAX], b[RFC3339_MAX];
    struct timespec ts;
    uint64_t now;

    /* Seconds of the same instant agree in both forms. */
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    (void)format_rfc3339(now, a, sizeof(a));
    (void)format_rfc3339_nano(&ts, b, sizeof(b));
    ck_assert_uint_eq(strlen(a), 20);
    ck_assert_uint_eq(strlen(b), 30);
    ck_assert(strneq(a, b, 19));
    ck_assert_int_eq(a[19], 'Z');
    ck_assert_int_eq(b[19], '.');
}
END_TEST

static const struct {
    size_t n; /* of 'a', or the literal when text is set */
    const char *text, *hex;
} hashes[] = {
    /* FIPS 180-4 examples */
    {0, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {0, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {0, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {1000000, NULL, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    /* around the padding boundaries: one block, two blocks, block-aligned */
    {55, NULL, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
    {56, NULL, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
    {63, NULL, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
    {64, NULL, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
    {65, NULL, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
    {119, NULL, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
    {120, NULL, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    {128, NULL, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e"},
};

START_TEST(test_content_hash)
{
    _cleanup_free_ char *data = NULL;
    char out[CONTENT_HASH_MAX];
    size_t n = hashes[_i].text ? strlen(hashes[_i].text) : hashes[_i].n;

    data = malloc(n + 1);
    ck_assert_ptr_nonnull(data);
    if (hashes[_i].text)
        memcpy(data, hashes[_i].text, n);
    else
        memset(data, 'a', n);
    memset(out, 'x', sizeof(out));
    content_hash(data, n, out);
    ck_assert_str_eq(out, hashes[_i].hex);
    /* The portable code too, where the CPU's SHA instructions served above. */
    if (sha256_set_accelerated(false)) {
        memset(out, 'x', sizeof(out));
        content_hash(data, n, out);
        ck_assert_str_eq(out, hashes[_i].hex);
        (void)sha256_set_accelerated(true);
    }
}
END_TEST

/* Streamed in pieces of every size up to 200 bytes: the same digest, both ways. */
START_TEST(test_sha256_streamed)
{
    static uint8_t data[4099];
    char one[CONTENT_HASH_MAX], pieces[CONTENT_HASH_MAX], portable[CONTENT_HASH_MAX];
    bool accelerated;
    Sha256 s;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 131u + (i >> 7));
    content_hash(data, sizeof(data), one);
    for (size_t step = 1; step <= 200; step++) {
        sha256_init(&s);
        for (size_t off = 0; off < sizeof(data); off += step)
            sha256_update(&s, data + off, off + step <= sizeof(data) ? step : sizeof(data) - off);
        sha256_final_hex(&s, pieces);
        ck_assert_str_eq(pieces, one);
    }
    accelerated = sha256_set_accelerated(false);
    content_hash(data, sizeof(data), portable);
    (void)sha256_set_accelerated(accelerated);
    ck_assert_str_eq(portable, one);
}
END_TEST

START_TEST(test_log_levels)
{
    ck_assert_int_eq(log_level_from_string("debug"), LOG_LEVEL_DEBUG);
    ck_assert_int_eq(log_level_from_string("warning"), LOG_LEVEL_WARNING);
    ck_assert_int_eq(log_level_from_string("error"), LOG_LEVEL_ERR);
    ck_assert_int_eq(log_level_from_string("loud"), -EINVAL);
    /* Below the threshold nothing is printed, but the error still comes back negative. */
    log_set_max_level(LOG_LEVEL_ERR - 1);
    ck_assert_int_eq(log_error_errno(-EIO, "x"), -EIO);
    ck_assert_int_eq(log_error_errno(EIO, "x"), -EIO);
    log_set_max_level(LOG_LEVEL_INFO);
}
END_TEST

static const struct {
    const char *in, *out;
} escapes[] = {
    {"plain text, caf\u00e9 \u2615 \\ kept", "plain text, caf\u00e9 \u2615 \\ kept"},
    {"x\npod=default/web container=app Exited: exit code 0",
     "x\\npod=default/web container=app Exited: exit code 0"},
    {"a\r\tb\x1b[31mred\x7f", "a\\r\\tb\\x1b[31mred\\x7f"},
    {"gpj.\u202eexe", "gpj.\\u202eexe"},
    {"\u2066\u2069\u200e\u200f\u061c\u2028\u2029\u202a",
     "\\u2066\\u2069\\u200e\\u200f\\u061c\\u2028\\u2029\\u202a"},
    {"c1 \xc2\x85 end", "c1 \\u0085 end"},
    {"bad \xff\xc3( utf8", "bad \\xff\\xc3( utf8"},
    {"\xe2\x80", "\\xe2\\x80"},
    {"", ""},
};

START_TEST(test_escape_untrusted)
{
    char buf[256];

    ck_assert_str_eq(str_escape_untrusted(escapes[_i].in, buf, sizeof(buf)), escapes[_i].out);
    /* Idempotent: text escaped once is not changed again. */
    {
        char again[256];

        ck_assert_str_eq(str_escape_untrusted(buf, again, sizeof(again)), buf);
    }
}
END_TEST

/* Truncation keeps whole characters and whole escapes. */
START_TEST(test_escape_untrusted_truncates_cleanly)
{
    char buf[8];

    ck_assert_str_eq(str_escape_untrusted("ab\ncd", buf, 4), "ab");
    ck_assert_str_eq(str_escape_untrusted("ab\u00e9\u00e9", buf, 6), "ab\u00e9");
    ck_assert_str_eq(str_escape_untrusted("abc", buf, 1), "");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("base");
    TCase *tc = tcase_create("base");
    SRunner *sr;
    int status;

    tcase_add_test(tc, test_error_format);
    tcase_add_test(tc, test_error_prefix_without_message);
    tcase_add_test(tc, test_strv);
    tcase_add_loop_test(tc, test_string_distance, 0, ELEMENTSOF(distances));
    tcase_add_test(tc, test_strings);
    tcase_add_loop_test(tc, test_parse_int64, 0, ELEMENTSOF(ints));
    tcase_add_test(tc, test_strbuf);
    tcase_add_test(tc, test_strbuf_printf_grows);
    tcase_add_test(tc, test_strbuf_json_string);
    tcase_add_test(tc, test_string_table);
    tcase_add_test(tc, test_atomic_write_and_read);
    tcase_add_test(tc, test_atomic_write_paths);
    tcase_add_test(tc, test_close_fds_except);
    tcase_add_test(tc, test_rm_rf);
    unit_add_test_unless(tc, test_rm_rf_stops_at_mounts,
                         can_mount() ? NULL : "no mount namespace: needs root or user namespaces");
    tcase_add_loop_test(tc, test_rfc3339, 0, ELEMENTSOF(times));
    tcase_add_test(tc, test_rfc3339_now);
    tcase_add_test(tc, test_rfc3339_to_monotonic);
    tcase_add_test(tc, test_rfc3339_matches_gmtime);
    tcase_add_loop_test(tc, test_rfc3339_parse, 0, ELEMENTSOF(rfc3339_inputs));
    tcase_add_loop_test(tc, test_rfc3339_round_trip, 0, ELEMENTSOF(times));
    tcase_add_loop_test(tc, test_content_hash, 0, ELEMENTSOF(hashes));
    tcase_add_test(tc, test_sha256_streamed);
    tcase_add_test(tc, test_log_levels);
    tcase_add_loop_test(tc, test_escape_untrusted, 0, ELEMENTSOF(escapes));
    tcase_add_test(tc, test_escape_untrusted_truncates_cleanly);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    status = unit_run(sr, CK_NORMAL);
    srunner_free(sr);
    return status;
}
