/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base/base.h"
#include "image/image.h"
#include "manifest/manifest.h"
#include "unit-util.h"

/* ---- fixture: a temporary directory holding a store and a source rootfs ---------------- */

static char tmpdir[64];
static char store[128];
static char src[128];

static void put(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(chmod(path, mode), 0);
}

static char *slurp(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *s = NULL;

    if (fd < 0)
        return NULL;
    ck_assert_int_eq(read_fd_full(fd, 1 << 20, &s, NULL), 0);
    return s;
}

static void make_rootfs(const char *dir, const char *version)
{
    char p[256];

    ck_assert_int_eq(mkdir(dir, 0755), 0);
    (void)snprintf(p, sizeof(p), "%s/bin", dir);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    (void)snprintf(p, sizeof(p), "%s/bin/tool", dir);
    put(p, "#!/bin/sh\n", 0751);
    (void)snprintf(p, sizeof(p), "%s/bin/alias", dir);
    ck_assert_int_eq(symlink("tool", p), 0);
    (void)snprintf(p, sizeof(p), "%s/version", dir);
    put(p, version, 0640);
}

static void setup(void)
{
    (void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-image-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    (void)snprintf(store, sizeof(store), "%s/store", tmpdir);
    (void)snprintf(src, sizeof(src), "%s/src", tmpdir);
    ck_assert_int_eq(mkdir(store, 0755), 0);
    make_rootfs(src, "one\n");
}

static void teardown(void)
{
    (void)unit_rm_tree(tmpdir);
}

/* The names in the store that start with '.': work directories. */
static int hidden_entries(void)
{
    DIR *d = opendir(store);
    struct dirent *de;
    int n = 0;

    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)))
        if (de->d_name[0] == '.' && !streq(de->d_name, ".") && !streq(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void assert_version(const char *ref_text, const char *want)
{
    _cleanup_free_ char *dir = NULL, *p = NULL, *got = NULL;
    char link[64] = "";
    ImageRef ref;
    struct stat st;

    ck_assert_int_eq(image_ref_parse(ref_text, &ref), 0);
    dir = image_path(store, &ref);
    p = strdup_printf("%s/version", dir);
    got = slurp(p);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, want);
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0640);
    free(p);
    p = strdup_printf("%s/bin/tool", dir);
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0751);
    free(p);
    p = strdup_printf("%s/bin/alias", dir);
    ck_assert_int_eq(readlink(p, link, sizeof(link) - 1), 4);
    ck_assert_str_eq(link, "tool");
}

static void run(const char *cmd)
{
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
}

/* ---- references ------------------------------------------------------------------------ */

static const struct {
    const char *ref;
    bool valid;
    const char *name, *tag;
} refs[] = {
    {"busybox", true, "busybox", "latest"},
    {"busybox:1.36", true, "busybox", "1.36"},
    {"library/busybox:v_1-2", true, "library/busybox", "v_1-2"},
    {"a.b/c-d/e_f", true, "a.b/c-d/e_f", "latest"},
    {"", false, NULL, NULL},
    {"/etc", false, NULL, NULL},
    {"../x", false, NULL, NULL},
    {"a/../b", false, NULL, NULL},
    {"a/./b", false, NULL, NULL},
    {".hidden", false, NULL, NULL},
    {"a/.import-1-x", false, NULL, NULL},
    {"a//b", false, NULL, NULL},
    {"a/", false, NULL, NULL},
    {"a:", false, NULL, NULL},
    {"a:.", false, NULL, NULL},
    {"a:..", false, NULL, NULL},
    {"a:.x", false, NULL, NULL},
    {"a:b:c", false, NULL, NULL},
    {"a:b/c", false, NULL, NULL},
    {"Busybox", false, NULL, NULL},
    {"a b", false, NULL, NULL},
    {":tag", false, NULL, NULL},
    {"../../../../etc", false, NULL, NULL},
    {"a/b/..", false, NULL, NULL},
    {"a@sha256:00", false, NULL, NULL},
};

START_TEST(test_ref_parse)
{
    ImageRef r;
    int ret = image_ref_parse(refs[_i].ref, &r);

    ck_assert_msg(image_ref_is_valid(refs[_i].ref) == refs[_i].valid, "'%s'", refs[_i].ref);
    if (!refs[_i].valid) {
        ck_assert_int_eq(ret, -EINVAL);
        return;
    }
    ck_assert_int_eq(ret, 0);
    ck_assert_str_eq(r.name, refs[_i].name);
    ck_assert_str_eq(r.tag, refs[_i].tag);
}
END_TEST

/* Validation takes exactly the names the store can hold: "../../etc" never reaches a lookup. */
START_TEST(test_manifest_image_rule_is_the_store_rule)
{
    const char *ref = refs[_i].ref;

    if (ref[0] == '/') {
        ck_assert(manifest_image_is_valid(ref)); /* a rootfs directory of the administrator's */
        return;
    }
    ck_assert_msg(manifest_image_is_valid(ref) == image_ref_is_valid(ref), "'%s'", ref);
}
END_TEST

START_TEST(test_ref_limits)
{
    char long_ref[IMAGE_REF_MAX + 2];

    memset(long_ref, 'a', sizeof(long_ref) - 1);
    long_ref[IMAGE_REF_MAX] = 0;
    ck_assert(image_ref_is_valid(long_ref));
    long_ref[IMAGE_REF_MAX] = 'a';
    long_ref[IMAGE_REF_MAX + 1] = 0;
    ck_assert(!image_ref_is_valid(long_ref));
    ck_assert(!image_ref_is_valid(NULL));
    ck_assert_int_eq(MANIFEST_IMAGE_REF_MAX, IMAGE_REF_MAX);
    long_ref[IMAGE_REF_MAX] = 0;
    ck_assert(manifest_image_is_valid(long_ref));
    long_ref[IMAGE_REF_MAX] = 'a';
    ck_assert(!manifest_image_is_valid(long_ref));
    ck_assert(image_ref_equal("busybox", "busybox:latest"));
    ck_assert(!image_ref_equal("busybox", "busybox:1"));
    ck_assert(!image_ref_equal("/abs/path", "/abs/path"));
}
END_TEST

START_TEST(test_path_and_format)
{
    _cleanup_free_ char *p = NULL;
    char buf[64];
    ImageRef r;

    ck_assert_int_eq(image_ref_parse("library/busybox", &r), 0);
    p = image_path("/var/lib/podd/images", &r);
    ck_assert_str_eq(p, "/var/lib/podd/images/library/busybox/latest");
    image_ref_format(&r, buf, sizeof(buf));
    ck_assert_str_eq(buf, "library/busybox:latest");
}
END_TEST

/* ---- listing ------------------------------------------------------------------------------ */

START_TEST(test_list)
{
    _cleanup_free_ ImageRef *l = NULL;
    char p[256];
    size_t n = 99;

    (void)snprintf(p, sizeof(p), "%s/missing", tmpdir);
    ck_assert_int_eq(image_store_list(p, &l, &n), 0);
    ck_assert_uint_eq(n, 0);
    free(l);
    l = NULL;

    ck_assert_int_eq(image_store_list(store, &l, &n), 0);
    ck_assert_uint_eq(n, 0);
    free(l);
    l = NULL;

    /* Two tags of one name, a nested name, a work directory and a stray file. */
    (void)snprintf(p, sizeof(p), "%s/zz", store);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    (void)snprintf(p, sizeof(p), "%s/zz/2", store);
    make_rootfs(p, "2");
    (void)snprintf(p, sizeof(p), "%s/zz/10", store);
    make_rootfs(p, "10");
    (void)snprintf(p, sizeof(p), "%s/lib", store);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    (void)snprintf(p, sizeof(p), "%s/lib/bb", store);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    (void)snprintf(p, sizeof(p), "%s/lib/bb/latest", store);
    make_rootfs(p, "x");
    (void)snprintf(p, sizeof(p), "%s/.import-1-abcdef", store);
    make_rootfs(p, "x");
    (void)snprintf(p, sizeof(p), "%s/stray", store);
    put(p, "", 0644);

    ck_assert_int_eq(image_store_list(store, &l, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(l[0].name, "lib/bb");
    ck_assert_str_eq(l[0].tag, "latest");
    ck_assert_str_eq(l[1].name, "zz");
    ck_assert_str_eq(l[1].tag, "10");
    ck_assert_str_eq(l[2].name, "zz");
    ck_assert_str_eq(l[2].tag, "2");
}
END_TEST

/* ---- import --------------------------------------------------------------------------------- */

START_TEST(test_import_dir)
{
    PdError e = {0};
    ImageRef r;

    ck_assert_int_eq(image_ref_parse("lib/tools:1", &r), 0);
    ck_assert_int_eq(image_import(store, &r, src, NULL, &e), 0);
    assert_version("lib/tools:1", "one\n");
    ck_assert_int_eq(hidden_entries(), 0);
}
END_TEST

START_TEST(test_import_tar)
{
    static const char *const flags[] = {"-cf", "-czf"};
    char cmd[512], tar[256];
    PdError e = {0};
    ImageRef r;
    struct stat st;

    /* The name does not say gzip: the first bytes do. */
    (void)snprintf(tar, sizeof(tar), "%s/rootfs.archive", tmpdir);
    (void)snprintf(cmd, sizeof(cmd), "tar -C %s %s %s .", src, flags[_i], tar);
    run(cmd);
    ck_assert_int_eq(image_ref_parse("tarred", &r), 0);
    ck_assert_int_eq(image_import(store, &r, tar, NULL, &e), 0);
    assert_version("tarred:latest", "one\n");
    ck_assert_int_eq(hidden_entries(), 0);
    /* The rootfs's own top directory mode comes from the archive (".", 0755). */
    (void)snprintf(cmd, sizeof(cmd), "%s/tarred/latest", store);
    ck_assert_int_eq(stat(cmd, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0755);
}
END_TEST

START_TEST(test_import_replaces)
{
    char p[256], old_file[256];
    PdError e = {0};
    ImageRef r;

    (void)snprintf(p, sizeof(p), "%s/only-in-one", src);
    put(p, "", 0644);
    ck_assert_int_eq(image_ref_parse("app:v", &r), 0);
    ck_assert_int_eq(image_import(store, &r, src, NULL, &e), 0);
    (void)snprintf(old_file, sizeof(old_file), "%s/app/v/only-in-one", store);
    ck_assert_int_eq(access(old_file, F_OK), 0);
    ck_assert_int_eq(unlink(p), 0);
    (void)snprintf(p, sizeof(p), "%s/version", src);
    put(p, "two\n", 0640);
    ck_assert_int_eq(image_import(store, &r, src, NULL, &e), 0);
    assert_version("app:v", "two\n");
    ck_assert_int_eq(access(old_file, F_OK), -1);
    ck_assert_int_eq(hidden_entries(), 0);
}
END_TEST

START_TEST(test_import_failures_leave_nothing)
{
    _cleanup_free_ ImageRef *l = NULL;
    volatile sig_atomic_t cancel = 1;
    char bad[512], p[1024];
    PdError e = {0};
    ImageRef r;
    size_t n;

    (void)snprintf(bad, sizeof(bad), "%s/corrupt.tar", tmpdir);
    put(bad, "this is not a tar archive at all\n", 0644);
    ck_assert_int_eq(image_ref_parse("broken", &r), 0);
    ck_assert_int_lt(image_import(store, &r, bad, NULL, &e), 0);
    ck_assert_msg(strstr(e.message, "tar failed"), "%s", e.message);
    /* A truncated gzip archive. */
    (void)snprintf(p, sizeof(p), "tar -C %s -czf - . | head -c 60 > %s", src, bad);
    run(p);
    ck_assert_int_lt(image_import(store, &r, bad, NULL, &e), 0);
    /* A missing source. */
    (void)snprintf(p, sizeof(p), "%s/nope", tmpdir);
    ck_assert_int_eq(image_import(store, &r, p, NULL, &e), -ENOENT);
    /* Cancelled (a signal) while copying. */
    ck_assert_int_eq(image_import(store, &r, src, &cancel, &e), -EINTR);

    ck_assert_int_eq(image_store_list(store, &l, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(hidden_entries(), 0);
    (void)snprintf(p, sizeof(p), "%s/broken", store);
    ck_assert_int_eq(access(p, F_OK), -1);
}
END_TEST

/* ---- leftovers and removal -------------------------------------------------------------- */

static pid_t dead_pid(void)
{
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    return pid;
}

START_TEST(test_clean_leftovers)
{
    char dead_import[512], dead_remove[512], alive[512], locked[512];
    _cleanup_close_ int lock = -1;
    pid_t dead = dead_pid();

    (void)snprintf(dead_import, sizeof(dead_import), "%s/.import-%d-aaaaaa", store, (int)dead);
    (void)snprintf(dead_remove, sizeof(dead_remove), "%s/.remove-%d-bbbbbb", store, (int)dead);
    (void)snprintf(alive, sizeof(alive), "%s/.import-%d-cccccc", store, (int)getpid());
    (void)snprintf(locked, sizeof(locked), "%s/.import-%d-dddddd", store, (int)dead);
    make_rootfs(dead_import, "x");
    make_rootfs(dead_remove, "x");
    make_rootfs(alive, "x");
    make_rootfs(locked, "x");
    /* A child of a dead importer (its tar) still holds the lock: not yet. */
    lock = open(locked, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(lock, 0);
    ck_assert_int_eq(flock(lock, LOCK_EX), 0);

    ck_assert_int_eq(image_store_clean(store), 2);
    ck_assert_int_eq(access(dead_import, F_OK), -1);
    ck_assert_int_eq(access(dead_remove, F_OK), -1);
    ck_assert_int_eq(access(alive, F_OK), 0);
    ck_assert_int_eq(access(locked, F_OK), 0);

    (void)close(move_fd(lock));
    ck_assert_int_eq(image_store_clean(store), 1);
    ck_assert_int_eq(access(locked, F_OK), -1);
    ck_assert_int_eq(hidden_entries(), 1); /* ours, alive */
}
END_TEST

START_TEST(test_remove)
{
    _cleanup_free_ ImageRef *l = NULL;
    char p[256];
    PdError e = {0};
    ImageRef a, b;
    size_t n;

    ck_assert_int_eq(image_ref_parse("deep/name/x:1", &a), 0);
    ck_assert_int_eq(image_ref_parse("deep/other:2", &b), 0);
    ck_assert_int_eq(image_import(store, &a, src, NULL, &e), 0);
    ck_assert_int_eq(image_import(store, &b, src, NULL, &e), 0);

    ck_assert_int_eq(image_remove(store, &a, &e), 0);
    /* The emptied NAME directories go; the shared "deep" stays for deep/other. */
    (void)snprintf(p, sizeof(p), "%s/deep/name", store);
    ck_assert_int_eq(access(p, F_OK), -1);
    (void)snprintf(p, sizeof(p), "%s/deep/other/2/version", store);
    ck_assert_int_eq(access(p, F_OK), 0);
    ck_assert_int_eq(image_store_list(store, &l, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(l[0].name, "deep/other");

    ck_assert_int_eq(image_remove(store, &a, &e), -ENOENT);
    ck_assert_msg(strstr(e.message, "'deep/name/x:1' not found"), "%s", e.message);
    ck_assert_int_eq(image_remove(store, &b, &e), 0);
    (void)snprintf(p, sizeof(p), "%s/deep", store);
    ck_assert_int_eq(access(p, F_OK), -1);
    ck_assert_int_eq(hidden_entries(), 0);
}
END_TEST

START_TEST(test_disk_usage)
{
    uint64_t bytes = 0;
    char p[256];

    (void)snprintf(p, sizeof(p), "%s/big", src);
    {
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        char block[4096];

        ck_assert_int_ge(fd, 0);
        memset(block, 'x', sizeof(block));
        for (int i = 0; i < 64; i++)
            ck_assert_int_eq(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
    }
    ck_assert_int_eq(image_disk_usage(src, &bytes), 0);
    ck_assert_uint_ge(bytes, 64u * 4096u);
    ck_assert_uint_lt(bytes, 64u * 4096u + 1024u * 1024u);
    (void)snprintf(p, sizeof(p), "%s/nope", tmpdir);
    ck_assert_int_eq(image_disk_usage(p, &bytes), -ENOENT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("image");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_ref_parse, 0, ELEMENTSOF(refs));
    tcase_add_loop_test(tc, test_manifest_image_rule_is_the_store_rule, 0, ELEMENTSOF(refs));
    tcase_add_test(tc, test_ref_limits);
    tcase_add_test(tc, test_path_and_format);
    tcase_add_test(tc, test_list);
    tcase_add_test(tc, test_import_dir);
    tcase_add_loop_test(tc, test_import_tar, 0, 2);
    tcase_add_test(tc, test_import_replaces);
    tcase_add_test(tc, test_import_failures_leave_nothing);
    tcase_add_test(tc, test_clean_leftovers);
    tcase_add_test(tc, test_remove);
    tcase_add_test(tc, test_disk_usage);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
