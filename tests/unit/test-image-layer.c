/* SPDX-License-Identifier: Apache-2.0 */
/*
 * image_layer_unpack(): layers built here with libarchive's writer (or GNU
 * tar for a busybox root filesystem), unpacked into a temporary directory
 * beside an "outside" directory that hostile layers aim at. Needs root:
 * owners, whiteout devices and trusted.* attributes are root's to set.
 */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "base/base.h"
#include "image/image.h"
#include "unit-util.h"

static char tmpdir[64], layer[128], outside[128], tarball[128];

static void setup(void)
{
    char p[256];
    int fd;

    (void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-layer-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    (void)snprintf(layer, sizeof(layer), "%s/layer", tmpdir);
    (void)snprintf(outside, sizeof(outside), "%s/outside", tmpdir);
    (void)snprintf(tarball, sizeof(tarball), "%s/layer.tar", tmpdir);
    ck_assert_int_eq(mkdir(layer, 0755), 0);
    ck_assert_int_eq(mkdir(outside, 0755), 0);
    (void)snprintf(p, sizeof(p), "%s/keep", outside);
    fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "keep\n", 5), 5);
    ck_assert_int_eq(close(fd), 0);
}

static void teardown(void)
{
    (void)unit_rm_tree(tmpdir);
}

/* ---- building layers ------------------------------------------------------------------------ */

typedef enum { GZ_NONE, GZ_GZIP, GZ_ZSTD } Compression;

static struct archive *tar_new(Compression c)
{
    struct archive *w = archive_write_new();

    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(archive_write_set_format_pax(w), ARCHIVE_OK);
    if (c == GZ_GZIP)
        ck_assert_int_eq(archive_write_add_filter_gzip(w), ARCHIVE_OK);
    else if (c == GZ_ZSTD)
        ck_assert_int_eq(archive_write_add_filter_zstd(w), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_open_filename(w, tarball), ARCHIVE_OK);
    return w;
}

static void tar_close(struct archive *w)
{
    ck_assert_int_eq(archive_write_close(w), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_free(w), ARCHIVE_OK);
}

/* One entry: type 'f' file (data), 'd' directory, 'l' symlink (data is the target),
 * 'h' hard link (data is the target), 'c' character device 1:3, 'p' fifo. */
typedef struct Entry {
    char type;
    const char *name;
    const char *data;
    mode_t mode;
    unsigned uid, gid;
    time_t mtime;
    const char *xattr_name, *xattr_value;
} Entry;

static void tar_add(struct archive *w, const Entry *en)
{
    struct archive_entry *e = archive_entry_new();
    size_t len = en->type == 'f' && en->data ? strlen(en->data) : 0;

    ck_assert_ptr_nonnull(e);
    archive_entry_set_pathname(e, en->name);
    archive_entry_set_uid(e, en->uid);
    archive_entry_set_gid(e, en->gid);
    archive_entry_set_mtime(e, en->mtime ? en->mtime : 1700000000, 0);
    switch (en->type) {
    case 'f':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, (la_int64_t)len);
        break;
    case 'd':
        archive_entry_set_filetype(e, AE_IFDIR);
        break;
    case 'l':
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, en->data);
        break;
    case 'h':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, en->data);
        break;
    case 'c':
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_rdevmajor(e, 1);
        archive_entry_set_rdevminor(e, 3);
        break;
    case 'p':
        archive_entry_set_filetype(e, AE_IFIFO);
        break;
    default:
        ck_abort_msg("bad entry type '%c'", en->type);
    }
    archive_entry_set_perm(e, en->mode ? en->mode : (en->type == 'd' ? 0755 : 0644));
    if (en->xattr_name)
        archive_entry_xattr_add_entry(e, en->xattr_name, en->xattr_value, strlen(en->xattr_value));
    ck_assert_int_eq(archive_write_header(w, e), ARCHIVE_OK);
    if (len)
        ck_assert_int_eq(archive_write_data(w, en->data, len), (la_ssize_t)len);
    archive_entry_free(e);
}

static void make_tar(Compression c, const Entry *entries)
{
    struct archive *w = tar_new(c);

    for (const Entry *en = entries; en->type; en++)
        tar_add(w, en);
    tar_close(w);
}

/* Unpacks tarball into dir; returns the result, the error message and warnings. */
static int unpack_into(const char *dir, unsigned flags, char ***warnings, PdError *err)
{
    _cleanup_close_ int fd = open(tarball, O_RDONLY | O_CLOEXEC);
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fds = unit_count_fds(), r;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(dfd, 0);
    r = image_layer_unpack(fd, dfd, "sha256:test", flags, NULL, warnings, err);
    ck_assert_int_eq(unit_count_fds(), fds);
    return r;
}

static int unpack(unsigned flags, char ***warnings, PdError *err)
{
    return unpack_into(layer, flags, warnings, err);
}

static char *at(const char *dir, const char *name)
{
    static char p[4][512];
    static int next;
    char *s = p[next++ % 4];

    (void)snprintf(s, sizeof(p[0]), "%s/%s", dir, name);
    return s;
}

static char *slurp(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    char *s = NULL;

    if (fd < 0)
        return NULL;
    ck_assert_int_eq(read_fd_full(fd, 1 << 20, &s, NULL), 0);
    return s;
}

static void assert_file(const char *path, const char *content, mode_t mode, uid_t uid, gid_t gid)
{
    _cleanup_free_ char *got = slurp(path);
    struct stat st;

    ck_assert_msg(got, "%s missing", path);
    ck_assert_str_eq(got, content);
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(st.st_mode & 07777, mode);
    ck_assert_int_eq(st.st_uid, uid);
    ck_assert_int_eq(st.st_gid, gid);
}

/* The outside directory holds its one file, unchanged: nothing landed there or changed it. */
static void assert_outside_untouched(void)
{
    struct stat st;
    int n = 0;
    DIR *d = opendir(outside);
    struct dirent *de;
    char value[16];

    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)))
        if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
            n++;
    closedir(d);
    ck_assert_int_eq(n, 1);
    assert_file(at(outside, "keep"), "keep\n", 0644, 0, 0);
    ck_assert_int_eq(stat(at(outside, "keep"), &st), 0);
    ck_assert_int_eq(st.st_nlink, 1);
    ck_assert_int_lt(getxattr(outside, "trusted.overlay.opaque", value, sizeof(value)), 0);
    /* and the temporary directory holds only what setup() made */
    d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    n = 0;
    while ((de = readdir(d)))
        if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
            n++;
    closedir(d);
    ck_assert_int_eq(n, 3);
}

/* ---- ordinary content, in each compression -------------------------------------------------- */

START_TEST(test_content)
{
    const Entry entries[] = {
        {'d', "./", NULL, 0755, 0, 0, 0, NULL, NULL},
        {'d', "./etc/", NULL, 0705, 0, 0, 1600000000, NULL, NULL},
        {'f', "./etc/motd", "hello\n", 0640, 1234, 5678, 1600000001, "user.podd", "test"},
        {'f', "./etc/trusted", "t\n", 0600, 0, 0, 0, "trusted.podd", "t"},
        {'f', "bin/su", "su\n", 04755, 1000, 1000, 0, NULL, NULL},
        {'l', "bin/sh", "su", 0777, 42, 43, 1500000000, NULL, NULL},
        {'h', "bin/su-again", "bin/su", 0, 0, 0, 0, NULL, NULL},
        {'p', "run/fifo", NULL, 0620, 7, 8, 0, NULL, NULL},
        {'f', "implicit/parents/file", "x", 0644, 0, 0, 0, NULL, NULL},
        {'f', "/absolute/file", "abs", 0644, 0, 0, 0, NULL, NULL},
        {'f', "replaced", "first", 0644, 0, 0, 0, NULL, NULL},
        {'f', "replaced", "second", 0600, 0, 0, 0, NULL, NULL},
        {'d', "was-dir/", NULL, 0755, 0, 0, 0, NULL, NULL},
        {'f', "was-dir/inner", "x", 0644, 0, 0, 0, NULL, NULL},
        {'f', "was-dir", "now a file", 0644, 0, 0, 0, NULL, NULL},
        {'f', "etc/later", "late", 0644, 0, 0, 0, NULL, NULL},
        {0},
    };
    const Compression comp[] = {GZ_NONE, GZ_GZIP, GZ_ZSTD};
    _cleanup_(strv_freep) char **warnings = NULL;
    PdError err = {0};
    struct stat st, st2;
    char buf[64];

    make_tar(comp[_i], entries);
    ck_assert_msg(unpack(0, &warnings, &err) == 0, "%s", err.message);
    ck_assert_ptr_null(warnings);

    assert_file(at(layer, "etc/motd"), "hello\n", 0640, 1234, 5678);
    ck_assert_int_eq(getxattr(at(layer, "etc/motd"), "user.podd", buf, sizeof(buf)), 4);
    ck_assert_mem_eq(buf, "test", 4);
    ck_assert_int_eq(getxattr(at(layer, "etc/trusted"), "trusted.podd", buf, sizeof(buf)), 1);
    ck_assert_int_eq(stat(at(layer, "etc/motd"), &st), 0);
    ck_assert_int_eq(st.st_mtim.tv_sec, 1600000001);
    /* The directory's time holds although entries were created in it afterwards. */
    ck_assert_int_eq(lstat(at(layer, "etc"), &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(st.st_mode & 07777, 0705);
    ck_assert_int_eq(st.st_mtim.tv_sec, 1600000000);
    /* set-uid survives the chown */
    assert_file(at(layer, "bin/su"), "su\n", 04755, 1000, 1000);
    ck_assert_int_eq(lstat(at(layer, "bin/sh"), &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    ck_assert_int_eq(st.st_uid, 42);
    ck_assert_int_eq(st.st_gid, 43);
    ck_assert_int_eq(st.st_mtim.tv_sec, 1500000000);
    ck_assert_int_eq(readlink(at(layer, "bin/sh"), buf, sizeof(buf)), 2);
    ck_assert_int_eq(stat(at(layer, "bin/su"), &st), 0);
    ck_assert_int_eq(stat(at(layer, "bin/su-again"), &st2), 0);
    ck_assert_int_eq(st.st_ino, st2.st_ino);
    ck_assert_int_eq(st.st_nlink, 2);
    ck_assert_int_eq(lstat(at(layer, "run/fifo"), &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
    ck_assert_int_eq(st.st_mode & 07777, 0620);
    ck_assert_int_eq(st.st_uid, 7);
    assert_file(at(layer, "implicit/parents/file"), "x", 0644, 0, 0);
    ck_assert_int_eq(stat(at(layer, "implicit/parents"), &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0755);
    assert_file(at(layer, "absolute/file"), "abs", 0644, 0, 0);
    assert_file(at(layer, "replaced"), "second", 0600, 0, 0);
    assert_file(at(layer, "was-dir"), "now a file", 0644, 0, 0);
    assert_outside_untouched();
}
END_TEST

START_TEST(test_large_file)
{
    const size_t chunk = 1 << 20, n_chunks = 80;
    _cleanup_free_ char *data = malloc(chunk), *back = malloc(chunk);
    struct archive *w = tar_new(GZ_ZSTD);
    struct archive_entry *e = archive_entry_new();
    _cleanup_close_ int fd = -1;
    PdError err = {0};
    struct stat st;

    ck_assert_ptr_nonnull(data);
    ck_assert_ptr_nonnull(back);
    archive_entry_set_pathname(e, "big");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)(chunk * n_chunks));
    ck_assert_int_eq(archive_write_header(w, e), ARCHIVE_OK);
    for (size_t i = 0; i < n_chunks; i++) {
        for (size_t k = 0; k < chunk; k += sizeof(uint64_t)) {
            uint64_t v = (i * chunk + k) * 0x9e3779b97f4a7c15ull;
            memcpy(data + k, &v, sizeof(v));
        }
        ck_assert_int_eq(archive_write_data(w, data, chunk), (la_ssize_t)chunk);
    }
    archive_entry_free(e);
    tar_close(w);

    ck_assert_msg(unpack(0, NULL, &err) == 0, "%s", err.message);
    fd = open(at(layer, "big"), O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_int_eq(st.st_size, (off_t)(chunk * n_chunks));
    for (size_t i = 0; i < n_chunks; i++) {
        for (size_t k = 0; k < chunk; k += sizeof(uint64_t)) {
            uint64_t v = (i * chunk + k) * 0x9e3779b97f4a7c15ull;
            memcpy(data + k, &v, sizeof(v));
        }
        ck_assert_int_eq(read(fd, back, chunk), (ssize_t)chunk);
        ck_assert_msg(memcmp(data, back, chunk) == 0, "chunk %zu differs", i);
    }
}
END_TEST

/* ---- whiteouts ------------------------------------------------------------------------------ */

static void assert_whiteout(const char *path)
{
    struct stat st;

    ck_assert_msg(lstat(path, &st) == 0, "%s missing", path);
    ck_assert_msg(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0), "%s is no whiteout", path);
}

START_TEST(test_whiteouts)
{
    const Entry lower[] = {
        {'f', "gone", "lower", 0644, 0, 0, 0, NULL, NULL},
        {'f', "both", "lower", 0644, 0, 0, 0, NULL, NULL},
        {'d', "dir/", NULL, 0755, 0, 0, 0, NULL, NULL},
        {'f', "dir/old", "lower", 0644, 0, 0, 0, NULL, NULL},
        {'f', "sub/x", "lower", 0644, 0, 0, 0, NULL, NULL},
        {'f', "sub/y", "lower", 0644, 0, 0, 0, NULL, NULL},
        {0},
    };
    const Entry upper[] = {
        {'f', ".wh.gone", "", 0644, 0, 0, 0, NULL, NULL},
        {'d', "dir/", NULL, 0755, 0, 0, 0, NULL, NULL},
        {'f', "dir/.wh..wh..opq", "", 0644, 0, 0, 0, NULL, NULL},
        {'f', "dir/new", "upper", 0644, 0, 0, 0, NULL, NULL},
        {'f', "both", "upper", 0644, 0, 0, 0, NULL, NULL},
        {'f', ".wh.both", "", 0644, 0, 0, 0, NULL, NULL},
        {'f', "sub/.wh.x", "", 0644, 0, 0, 0, NULL, NULL},
        {'f', ".wh..wh.plnk", "", 0644, 0, 0, 0, NULL, NULL},
        {0},
    };
    char lower_dir[256], upper_dir[256], merged[256], opts[1024], buf[8];
    PdError err = {0};
    struct stat st;

    (void)snprintf(lower_dir, sizeof(lower_dir), "%s/lower", tmpdir);
    (void)snprintf(upper_dir, sizeof(upper_dir), "%s/upper", tmpdir);
    (void)snprintf(merged, sizeof(merged), "%s/merged", tmpdir);
    ck_assert_int_eq(mkdir(lower_dir, 0755), 0);
    ck_assert_int_eq(mkdir(upper_dir, 0755), 0);
    ck_assert_int_eq(mkdir(merged, 0755), 0);
    make_tar(GZ_GZIP, lower);
    ck_assert_msg(unpack_into(lower_dir, 0, NULL, &err) == 0, "%s", err.message);
    make_tar(GZ_GZIP, upper);
    ck_assert_msg(unpack_into(upper_dir, 0, NULL, &err) == 0, "%s", err.message);

    /* The layer directory in overlayfs's own form. */
    assert_whiteout(at(upper_dir, "gone"));
    assert_whiteout(at(upper_dir, "sub/x"));
    ck_assert_int_eq(lstat(at(upper_dir, ".wh.gone"), &st), -1);
    ck_assert_int_eq(lstat(at(upper_dir, ".wh..wh.plnk"), &st), -1);
    ck_assert_int_eq(getxattr(at(upper_dir, "dir"), "trusted.overlay.opaque", buf, sizeof(buf)), 1);
    ck_assert_int_eq(buf[0], 'y');
    ck_assert_int_lt(getxattr(upper_dir, "trusted.overlay.opaque", buf, sizeof(buf)), 0);
    /* This layer's own "both" stays, whiteout or not. */
    assert_file(at(upper_dir, "both"), "upper", 0644, 0, 0);

    /* And overlayfs reads it so: mounted in this test's own mount namespace. */
    ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
    ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    (void)snprintf(opts, sizeof(opts), "lowerdir=%s:%s", upper_dir, lower_dir);
    ck_assert_msg(mount("overlay", merged, "overlay", MS_RDONLY, opts) == 0, "mount: %s",
                  strerror(errno));
    ck_assert_int_eq(lstat(at(merged, "gone"), &st), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(lstat(at(merged, "dir/old"), &st), -1);
    ck_assert_int_eq(lstat(at(merged, "sub/x"), &st), -1);
    assert_file(at(merged, "sub/y"), "lower", 0644, 0, 0);
    assert_file(at(merged, "dir/new"), "upper", 0644, 0, 0);
    assert_file(at(merged, "both"), "upper", 0644, 0, 0);
    ck_assert_int_eq(umount(merged), 0);
}
END_TEST

/* ---- hostile layers ------------------------------------------------------------------------- */

#define OUT "@OUTSIDE@" /* replaced by the outside directory's absolute path */

#define REG(n, d)                                                                                  \
    {                                                                                              \
        .type = 'f', .name = (n), .data = (d)                                                      \
    }
#define DIR(n)                                                                                     \
    {                                                                                              \
        .type = 'd', .name = (n)                                                                   \
    }
#define SYM(n, t)                                                                                  \
    {                                                                                              \
        .type = 'l', .name = (n), .data = (t)                                                      \
    }
#define HARD(n, t)                                                                                 \
    {                                                                                              \
        .type = 'h', .name = (n), .data = (t)                                                      \
    }
#define DEV(n)                                                                                     \
    {                                                                                              \
        .type = 'c', .name = (n)                                                                   \
    }

static const struct {
    const char *what;
    Entry entries[4];
    unsigned flags;
    const char *error;   /* part of the message, or NULL when the layer unpacks */
    const char *warning; /* part of the one warning, or NULL for none */
} hostile[] = {
    {.what = "dot-dot",
     .entries = {REG("../outside/evil", "x")},
     .error = "entry '../outside/evil': a '..' component"},
    {.what = "dot-dot inside",
     .entries = {REG("a/../../outside/evil", "x")},
     .error = "'..' component"},
    {.what = "symlink parent, absolute",
     .entries = {SYM("a", OUT), REG("a/evil", "x")},
     .error = "entry 'a/evil': parent directory 'a' goes through a symlink"},
    {.what = "symlink parent, relative",
     .entries = {SYM("a", "../outside"), REG("a/evil", "x")},
     .error = "entry 'a/evil': parent directory 'a' goes through a symlink"},
    {.what = "symlink parent, inside the layer",
     .entries = {DIR("d/"), SYM("a", "d"), REG("a/evil", "x")},
     .error = "entry 'a/evil': parent directory 'a' goes through a symlink"},
    {.what = "symlink grandparent",
     .entries = {DIR("d/"), SYM("d/a", OUT), REG("d/a/b/evil", "x")},
     .error = "entry 'd/a/b/evil': parent directory 'd/a/b' goes through a symlink"},
    {.what = "symlink parent of a directory",
     .entries = {SYM("a", OUT), DIR("a/sub/")},
     .error = "goes through a symlink"},
    {.what = "symlink parent of a whiteout",
     .entries = {SYM("a", OUT), REG("a/.wh.keep", "")},
     .error = "entry 'a/.wh.keep': parent directory 'a' goes through a symlink"},
    {.what = "symlink parent of an opaque marker",
     .entries = {SYM("a", OUT), REG("a/.wh..wh..opq", "")},
     .error = "goes through a symlink"},
    {.what = "symlink parent of a symlink",
     .entries = {SYM("a", OUT), SYM("a/evil", "/etc")},
     .error = "goes through a symlink"},
    {.what = "hard link out",
     .entries = {HARD("evil", "../outside/keep")},
     .error = "entry 'evil': hard link target '../outside/keep' is not in the layer"},
    {.what = "hard link absolute",
     .entries = {HARD("evil", OUT "/keep")},
     .error = "hard link target"},
    {.what = "hard link through a symlink",
     .entries = {SYM("a", OUT), HARD("evil", "a/keep")},
     .error =
         "entry 'evil': hard link target 'a/keep': parent directory 'a' goes through a symlink"},
    {.what = "hard link to the root",
     .entries = {HARD("evil", "./")},
     .error = "is not in the layer"},
    {.what = "symlink replaced by a file", .entries = {SYM("a", OUT "/keep"), REG("a", "x")}},
    {.what = "symlink replaced by a directory",
     .entries = {SYM("a", OUT), DIR("a/"), REG("a/file", "x")}},
    {.what = "hard link to a symlink links the symlink",
     .entries = {SYM("s", OUT "/keep"), HARD("h", "s")}},
    {.what = "device refused",
     .entries = {DEV("dev/null")},
     .error = "entry 'dev/null': device nodes are refused"},
    {.what = "device skipped",
     .entries = {DEV("dev/null")},
     .flags = IMAGE_LAYER_SKIP_DEVICES,
     .warning = "entry 'dev/null': character device 1:3 skipped"},
    {.what = "overlay attribute",
     .entries = {{.type = 'f',
                  .name = "f",
                  .data = "x",
                  .xattr_name = "trusted.overlay.redirect",
                  .xattr_value = "/outside"}},
     .warning = "entry 'f': extended attribute 'trusted.overlay.redirect' ignored"},
    {.what = "user attribute on a symlink",
     .entries =
         {{.type = 'l', .name = "s", .data = "t", .xattr_name = "user.x", .xattr_value = "1"}},
     .warning = "entry 's': extended attribute 'user.x' cannot be set here"},
    {.what = "whiteout of nothing", .entries = {REG(".wh.", "")}, .error = "whiteout of nothing"},
    {.what = "whiteout of dot", .entries = {REG("x/.wh..", "")}, .error = "whiteout of nothing"},
};

START_TEST(test_hostile)
{
    _cleanup_(strv_freep) char **warnings = NULL;
    Entry entries[ELEMENTSOF(hostile[0].entries) + 1] = {};
    char target[256];
    PdError err = {0};
    struct stat st;
    int r;

    for (size_t k = 0; k < ELEMENTSOF(hostile[_i].entries); k++) {
        entries[k] = hostile[_i].entries[k];
        if (entries[k].data && startswith(entries[k].data, OUT)) {
            (void)snprintf(target, sizeof(target), "%s%s", outside, entries[k].data + strlen(OUT));
            entries[k].data = strdup(target);
        }
    }
    make_tar(GZ_NONE, entries);
    r = unpack(hostile[_i].flags, &warnings, &err);
    for (size_t k = 0; k < ELEMENTSOF(hostile[0].entries); k++)
        if (hostile[_i].entries[k].data && entries[k].data != hostile[_i].entries[k].data)
            free((char *)entries[k].data);

    if (hostile[_i].error) {
        ck_assert_msg(r < 0, "%s: unpacked", hostile[_i].what);
        ck_assert_msg(startswith(err.message, "layer 'sha256:test': "), "%s", err.message);
        ck_assert_msg(strstr(err.message, hostile[_i].error), "%s: '%s' lacks '%s'",
                      hostile[_i].what, err.message, hostile[_i].error);
    } else {
        ck_assert_msg(r == 0, "%s: %s", hostile[_i].what, err.message);
        if (hostile[_i].warning) {
            ck_assert_msg(strv_length(warnings) == 1, "%s: '%s' and more", hostile[_i].what,
                          warnings ? warnings[0] : "");
            ck_assert_msg(strstr(warnings[0], hostile[_i].warning), "'%s' lacks '%s'", warnings[0],
                          hostile[_i].warning);
        } else
            ck_assert_ptr_null(warnings);
    }
    assert_outside_untouched();
    /* Nothing the refused or skipped entries named exists in the layer either. */
    ck_assert_int_eq(lstat(at(layer, "dev/null"), &st), -1);
    ck_assert_int_eq(lstat(at(layer, "evil"), &st), -1);
}
END_TEST

START_TEST(test_not_a_layer)
{
    PdError err = {0};
    int fd;

    fd = open(tarball, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "this is not a tar archive, not even close\n", 42), 42);
    ck_assert_int_eq(close(fd), 0);
    ck_assert_int_eq(unpack(0, NULL, &err), -EINVAL);
    ck_assert_msg(startswith(err.message, "layer 'sha256:test': "), "%s", err.message);

    /* A truncated archive names the last entry read whole. */
    {
        const Entry entries[] = {
            REG("first", "1"),
            REG("second", "this one is cut short"),
            {0},
        };
        struct stat st;

        make_tar(GZ_NONE, entries);
        ck_assert_int_eq(stat(tarball, &st), 0);
        ck_assert_int_eq(truncate(tarball, 1024 + 100), 0);
        ck_assert_int_lt(unpack(0, NULL, &err), 0);
        ck_assert_msg(strstr(err.message, "layer 'sha256:test': "), "%s", err.message);
    }
}
END_TEST

/* ---- a busybox root filesystem, through GNU tar -----------------------------------------------
 */

static char rootfs[128];

static int compare_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    char other[1024], a[256], b[256];
    struct stat ost;

    (void)flag;
    (void)ftw;
    if (streq(path, rootfs))
        return 0;
    (void)snprintf(other, sizeof(other), "%s%s", layer, path + strlen(rootfs));
    ck_assert_msg(lstat(other, &ost) == 0, "%s missing", other);
    ck_assert_msg((st->st_mode & S_IFMT) == (ost.st_mode & S_IFMT), "%s: type", other);
    if (!S_ISLNK(st->st_mode))
        ck_assert_msg(st->st_mode == ost.st_mode, "%s: mode %o, want %o", other, ost.st_mode,
                      st->st_mode);
    ck_assert_msg(st->st_uid == ost.st_uid && st->st_gid == ost.st_gid, "%s: owner", other);
    ck_assert_msg(st->st_nlink == ost.st_nlink, "%s: links", other);
    ck_assert_msg(st->st_mtim.tv_sec == ost.st_mtim.tv_sec, "%s: mtime", other);
    if (S_ISREG(st->st_mode)) {
        char cmd[2200];

        ck_assert_int_eq(st->st_size, ost.st_size);
        (void)snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", path, other);
        ck_assert_msg(system(cmd) == 0, "%s: content", other);
    } else if (S_ISLNK(st->st_mode)) {
        ssize_t na = readlink(path, a, sizeof(a) - 1), nb = readlink(other, b, sizeof(b) - 1);

        ck_assert(na > 0 && na == nb);
        ck_assert_mem_eq(a, b, (size_t)na);
    }
    return 0;
}

static void run(const char *fmt, ...) _printf_(1, 2);
static void run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
}

START_TEST(test_busybox_rootfs)
{
    PdError err = {0};
    int n;

    (void)snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmpdir);
    /* busybox, a hard link and a symlink per applet, a few files of other owners and modes. */
    run("set -e; r='%s'; mkdir -p $r/bin $r/etc $r/tmp $r/home/user $r/var/empty; "
        "cp /bin/busybox $r/bin/busybox; ln $r/bin/busybox $r/bin/sh; "
        "for a in $(/bin/busybox --list); do "
        "  [ -e $r/bin/$a ] || ln -s busybox $r/bin/$a; done; "
        "echo 'root:x:0:0:root:/root:/bin/sh' > $r/etc/passwd; chmod 0644 $r/etc/passwd; "
        "echo 'user:x:1000:' > $r/etc/group; chmod 0600 $r/etc/group; "
        "chown -R 1000:1000 $r/home/user; chmod 1777 $r/tmp; chmod 0700 $r/var/empty; "
        "touch -h -d '2021-03-04 05:06:07' $r/bin/ls $r/etc/passwd $r/tmp $r/var/empty $r/bin; "
        "tar --numeric-owner --xattrs -C $r -czf '%s' .",
        rootfs, tarball);
    ck_assert_msg(unpack(0, NULL, &err) == 0, "%s", err.message);
    n = nftw(rootfs, compare_entry, 16, FTW_PHYS);
    ck_assert_int_eq(n, 0);
    /* and the unpacked busybox runs */
    run("'%s/bin/sh' -c 'exit 0'", layer);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("image-layer");
    TCase *tc = tcase_create("image-layer");
    const char *why_not =
        geteuid() != 0 ? "needs root (owners, whiteout devices, trusted.*)" : NULL;
    const char *no_overlay = why_not;
    _cleanup_free_ char *fs = NULL;
    SRunner *sr;
    int fd, status;

    fd = open("/proc/filesystems", O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && read_fd_full(fd, 1 << 16, &fs, NULL) >= 0 && !strstr(fs, "\toverlay\n") &&
        !no_overlay)
        no_overlay = "overlayfs is not available";
    if (fd >= 0)
        (void)close(fd);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    if (why_not) {
        unit_add_test_unless(tc, test_content, why_not);
        unit_add_test_unless(tc, test_large_file, why_not);
        unit_add_test_unless(tc, test_hostile, why_not);
        unit_add_test_unless(tc, test_not_a_layer, why_not);
    } else {
        tcase_add_loop_test(tc, test_content, 0, 3);
        tcase_add_test(tc, test_large_file);
        tcase_add_loop_test(tc, test_hostile, 0, ELEMENTSOF(hostile));
        tcase_add_test(tc, test_not_a_layer);
    }
    unit_add_test_unless(tc, test_whiteouts, no_overlay);
    unit_add_test_unless(tc, test_busybox_rootfs,
                         why_not                            ? why_not
                         : access("/bin/busybox", X_OK) < 0 ? "no /bin/busybox (busybox-static)"
                                                            : NULL);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    status = unit_run(sr, CK_ENV);
    srunner_free(sr);
    return status;
}
