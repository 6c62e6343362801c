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

/* Validation takes exactly the references the store can look up: "../../etc" never reaches one. */
START_TEST(test_manifest_image_rule_is_the_store_rule)
{
    const char *ref = refs[_i].ref;
    ImageReference r;

    if (ref[0] == '/') {
        ck_assert(manifest_image_is_valid(ref)); /* a rootfs directory of the administrator's */
        return;
    }
    ck_assert_msg(manifest_image_is_valid(ref) == (image_reference_parse(ref, &r, NULL) == 0),
                  "'%s'", ref);
    /* Every old store name is a valid reference (the converse does not hold: hosts, digests). */
    if (refs[_i].valid)
        ck_assert_msg(manifest_image_is_valid(ref), "'%s'", ref);
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
    /* DOCKER.IO/LIBRARY/ + NAME: at most IMAGE_REFERENCE_NAME_MAX once normalised. */
    long_ref[IMAGE_REFERENCE_NAME_MAX - strlen("docker.io/library/")] = 0;
    ck_assert(manifest_image_is_valid(long_ref));
    long_ref[IMAGE_REFERENCE_NAME_MAX - strlen("docker.io/library/")] = 'a';
    long_ref[IMAGE_REFERENCE_NAME_MAX - strlen("docker.io/library/") + 1] = 0;
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

/* ---- normalised references (cases after distribution/reference's test suite) -------------- */

#define F64 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define D64 "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"

static const struct {
    const char *in;
    const char *want; /* the normalised form, or NULL when refused */
    const char *why;  /* for a refusal: part of the reason */
} references[] = {
    /* Docker Hub normalisation */
    {"nginx", "docker.io/library/nginx:latest", NULL},
    {"nginx:1.25", "docker.io/library/nginx:1.25", NULL},
    {"user/app", "docker.io/user/app:latest", NULL},
    {"docker.io/foo", "docker.io/library/foo:latest", NULL},
    {"docker.io/library/foo/bar", "docker.io/library/foo/bar:latest", NULL},
    {"index.docker.io/debian", "docker.io/library/debian:latest", NULL},
    {"index.docker.io/docker/docker", "docker.io/docker/docker:latest", NULL},
    {"test_com/foo", "docker.io/test_com/foo:latest", NULL},
    {"redis@sha256:" D64, "docker.io/library/redis@sha256:" D64, NULL},
    {"busybox:latest@sha256:" D64, "docker.io/library/busybox:latest@sha256:" D64, NULL},
    {"dbcc1", "docker.io/library/dbcc1:latest", NULL},
    /* 63 hex digits are a name, 64 an image ID */
    {"dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
     "docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9:latest",
     NULL},
    {D64, NULL, "64-byte hexadecimal"},
    {"docker.io/" D64, "docker.io/library/" D64 ":latest", NULL},
    /* registries: a first component with '.' or ':' or uppercase, or localhost */
    {"registry.example:5000/team/app:2.1", "registry.example:5000/team/app:2.1", NULL},
    {"localhost/app", "localhost/app:latest", NULL},
    {"localhost:5000/app:v1", "localhost:5000/app:v1", NULL},
    {"test:5000/repo", "test:5000/repo:latest", NULL},
    {"test:5000/repo@sha256:" F64, "test:5000/repo@sha256:" F64, NULL},
    {"test:5000/repo:tag@sha256:" F64, "test:5000/repo:tag@sha256:" F64, NULL},
    {"sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
     NULL},
    {"b.gcr.io/test.example.com/my-app:test.example.com",
     "b.gcr.io/test.example.com/my-app:test.example.com", NULL},
    {"xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com", NULL},
    {"192.168.1.1/repo", "192.168.1.1/repo:latest", NULL},
    {"192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050", NULL},
    {"[2001:db8::1]/repo", "[2001:db8::1]/repo:latest", NULL},
    {"[2001:db8::1]:5000/repo:tag@sha256:" F64, "[2001:db8::1]:5000/repo:tag@sha256:" F64, NULL},
    {"[::1]:5000/repo", "[::1]:5000/repo:latest", NULL},
    {"Docker/docker", "Docker/docker:latest", NULL},
    {"FOO/bar", "FOO/bar:latest", NULL},
    /* a name alone: what follows ':' is a tag */
    {"test.com:5000", "docker.io/library/test.com:5000", NULL},
    {"192.168.1.1:5000", "docker.io/library/192.168.1.1:5000", NULL},
    {"foo_bar.com:8080", "docker.io/library/foo_bar.com:8080", NULL},
    {"lowercase:Uppercase", "docker.io/library/lowercase:Uppercase", NULL},
    /* path components and separators */
    {"docker---rules/docker", "docker.io/docker---rules/docker:latest", NULL},
    {"dock__er/docker", "docker.io/dock__er/docker:latest", NULL},
    {"d/docker", "docker.io/d/docker:latest", NULL},
    {"jess/t", "docker.io/jess/t:latest", NULL},
    {"docker.io/a.b_c-d/e", "docker.io/a.b_c-d/e:latest", NULL},
    {"x:_tag", "docker.io/library/x:_tag", NULL},
    /* refusals */
    {"", NULL, "at least one component"},
    {":justtag", NULL, "no repository name"},
    {"@sha256:" F64, NULL, "no repository name"},
    {"repo@sha256:ffffffffffffffffffffffffffffffffff", NULL, "digest length"},
    {"validname@invaliddigest:" F64, NULL, "unsupported digest algorithm"},
    {"repo@sha256:" D64 "X", NULL, "digest length"},
    {"repo@sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", NULL,
     "lowercase hexadecimal"},
    {"repo@" F64, NULL, "invalid digest"},
    {"Uppercase:tag", NULL, "must be lowercase"},
    {"test:5000/Uppercase/lowercase:tag", NULL, "must be lowercase"},
    {"docker/Docker", NULL, "must be lowercase"},
    {"aa/asdf$$^/aa", NULL, "path component 'asdf$$^'"},
    {"https://github.com/docker/docker", NULL, "registry 'https:'"},
    {"-docker", NULL, "path component '-docker'"},
    {"-docker/docker", NULL, "path component '-docker'"},
    {"docker-/docker", NULL, "path component 'docker-'"},
    {"-docker.io/docker/docker", NULL, "registry '-docker.io'"},
    {"docker///docker", NULL, "empty path component"},
    {"docker/", NULL, "empty path component"},
    {"____/____", NULL, "path component '____'"},
    {"_docker/_docker", NULL, "path component '_docker'"},
    {"docker.io/dock..er", NULL, "path component 'dock..er'"},
    {"dock..er/docker", NULL, "registry 'dock..er'"},
    {"docker.io/dock_.er", NULL, "path component 'dock_.er'"},
    {"docker.io/dock-.er", NULL, "path component 'dock-.er'"},
    {"dock___er/docker", NULL, "path component 'dock___er'"},
    {"[2001:db8::1]", NULL, "invalid tag"},
    {"[2001:db8::1]:5000", NULL, "path component '[2001:db8::1]'"},
    {"[fc00::1]:5000", NULL, "path component '[fc00::1]'"},
    {"fc00::1:5000/debian", NULL, "registry 'fc00::1:5000'"},
    {"[fe80::1%eth0]:5000/repo", NULL, "registry"},
    {"[2001:db8:3:4::192.0.2.33]:5000/debian", NULL, "registry"},
    {"host:port/repo", NULL, "registry 'host:port'"},
    {"host:/repo", NULL, "registry 'host:'"},
    {"a:-tag", NULL, "invalid tag '-tag'"},
    {"a:.tag", NULL, "invalid tag '.tag'"},
    {"a:", NULL, "invalid tag ''"},
    {"a:b:c", NULL, "path component 'a:b'"},
    {"a b", NULL, "path component 'a b'"},
    {"/etc", NULL, "empty path component"},
    {"../x", NULL, "registry '..'"},
    {"x/../y", NULL, "path component '..'"},
};

START_TEST(test_reference_parse)
{
    char buf[IMAGE_REFERENCE_STRING_MAX + 1];
    ImageReference ref, again;
    PdError err = {0};
    int r = image_reference_parse(references[_i].in, &ref, &err);

    if (!references[_i].want) {
        ck_assert_msg(r == -EINVAL, "'%s' was accepted", references[_i].in);
        ck_assert_msg(strstr(err.message, references[_i].why), "'%s': message '%s' lacks '%s'",
                      references[_i].in, err.message, references[_i].why);
        return;
    }
    ck_assert_msg(r == 0, "'%s': %s", references[_i].in, err.message);
    ck_assert_int_eq(image_reference_format(&ref, buf, sizeof(buf)),
                     (int)strlen(references[_i].want));
    ck_assert_str_eq(buf, references[_i].want);
    /* The normalised form is a fixed point. */
    ck_assert_int_eq(image_reference_parse(buf, &again, NULL), 0);
    ck_assert_mem_eq(&again, &ref, sizeof(ref));
}
END_TEST

START_TEST(test_reference_parts_and_limits)
{
    char name[512], buf[IMAGE_REFERENCE_STRING_MAX + 1];
    ImageReference ref;
    PdError err = {0};

    ck_assert_int_eq(image_reference_parse("registry.example:5000/team/app:2.1", &ref, NULL), 0);
    ck_assert_str_eq(ref.domain, "registry.example:5000");
    ck_assert_str_eq(ref.path, "team/app");
    ck_assert_str_eq(ref.tag, "2.1");
    ck_assert_str_eq(ref.digest, "");
    /* By digest alone: no tag is made up. */
    ck_assert_int_eq(image_reference_parse("app@sha256:" D64, &ref, NULL), 0);
    ck_assert_str_eq(ref.tag, "");
    ck_assert_str_eq(ref.digest, "sha256:" D64);

    /* The name counts once normalised: DOMAIN/PATH at most 255. */
    (void)snprintf(name, sizeof(name), "a.io/%0*d", IMAGE_REFERENCE_NAME_MAX - 5, 0);
    ck_assert_int_eq(strlen(name), IMAGE_REFERENCE_NAME_MAX);
    ck_assert_int_eq(image_reference_parse(name, &ref, NULL), 0);
    (void)snprintf(name, sizeof(name), "a.io/%0*d:tag", IMAGE_REFERENCE_NAME_MAX - 4, 0);
    ck_assert_int_eq(image_reference_parse(name, &ref, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "not be more than 255 characters"));
    /* "docker.io/library/" counts too. */
    (void)snprintf(name, sizeof(name), "%0*d", IMAGE_REFERENCE_NAME_MAX - 18, 0);
    ck_assert_int_eq(image_reference_parse(name, &ref, NULL), 0);
    ck_assert_int_eq(strlen(ref.domain) + 1 + strlen(ref.path), IMAGE_REFERENCE_NAME_MAX);
    (void)snprintf(name, sizeof(name), "%0*d", IMAGE_REFERENCE_NAME_MAX - 17, 0);
    ck_assert_int_eq(image_reference_parse(name, &ref, NULL), -EINVAL);
    /* Tags: 128 characters at most. */
    (void)snprintf(name, sizeof(name), "a:%0*d", IMAGE_TAG_MAX, 0);
    ck_assert_int_eq(image_reference_parse(name, &ref, NULL), 0);
    (void)snprintf(name, sizeof(name), "a:%0*d", IMAGE_TAG_MAX + 1, 0);
    ck_assert_int_eq(image_reference_parse(name, &ref, NULL), -EINVAL);
    ck_assert_int_eq(image_reference_parse(NULL, &ref, NULL), -EINVAL);

    /* The longest reference fits the documented buffer; a short buffer is refused. */
    (void)snprintf(name, sizeof(name), "a.io/%0*d:%0*d@sha256:" D64, IMAGE_REFERENCE_NAME_MAX - 5,
                   0, IMAGE_TAG_MAX, 0);
    ck_assert_int_eq(image_reference_parse(name, &ref, NULL), 0);
    ck_assert_int_eq(image_reference_format(&ref, buf, sizeof(buf)), IMAGE_REFERENCE_STRING_MAX);
    ck_assert_str_eq(buf, name);
    ck_assert_int_eq(image_reference_format(&ref, buf, 10), -ENOBUFS);
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
    tcase_add_loop_test(tc, test_reference_parse, 0, ELEMENTSOF(references));
    tcase_add_test(tc, test_reference_parts_and_limits);
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
