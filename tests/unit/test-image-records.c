/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image records: names to manifest digests in <images>/repositories.json,
 * layers unpacked once under <images>/layers/sha256/, lookups by name and by
 * digest, untagging and the collection of what no record needs. Images are
 * built here from layers written with libarchive. Unpacking needs root.
 */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "base/base.h"
#include "image/image.h"
#include "unit-util.h"

static char dir[64];
static char images[128];
static int fds_before;

static void setup(void)
{
    (void)snprintf(dir, sizeof(dir), "/tmp/podd-test-image-records-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    (void)snprintf(images, sizeof(images), "%s/images", dir);
    fds_before = unit_count_fds();
}

static void teardown(void)
{
    ck_assert_int_eq(unit_count_fds(), fds_before);
    ck_assert_int_eq(unit_rm_tree(dir), 0);
}

/* A layer blob and its diff_id (the digest of its tar, uncompressed). */
typedef struct Layer {
    char blob[IMAGE_DIGEST_SIZE];
    char diff[IMAGE_DIGEST_SIZE];
} Layer;

/* A layer holding one file, name with content, stored as a blob, gzip-compressed or not. */
static void make_layer_as(const char *name, const char *content, bool gz, Layer *ret)
{
    struct archive *w = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    size_t size = 64 * 1024, used = 0, tar_size = 0;
    _cleanup_free_ char *tar = malloc(size), *buf = malloc(size);
    Sha256 sha;

    ck_assert_ptr_nonnull(tar);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(archive_write_set_format_pax(w), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_open_memory(w, tar, size, &tar_size), ARCHIVE_OK);
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)strlen(content));
    ck_assert_int_eq(archive_write_header(w, e), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_data(w, content, strlen(content)), (la_ssize_t)strlen(content));
    ck_assert_int_eq(archive_write_close(w), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_free(w), ARCHIVE_OK);
    sha256_init(&sha);
    sha256_update(&sha, tar, tar_size);
    memcpy(ret->diff, "sha256:", 7);
    sha256_final_hex(&sha, ret->diff + 7);
    if (!gz) {
        ck_assert_int_eq(image_blob_write_data(images, tar, tar_size, ret->blob, NULL), 0);
        archive_entry_free(e);
        return;
    }
    /* The same tar, gzip-compressed as a registry serves it. */
    w = archive_write_new();
    ck_assert_int_eq(archive_write_set_format_raw(w), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_add_filter_gzip(w), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_open_memory(w, buf, size, &used), ARCHIVE_OK);
    archive_entry_clear(e);
    archive_entry_set_filetype(e, AE_IFREG);
    ck_assert_int_eq(archive_write_header(w, e), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_data(w, tar, tar_size), (la_ssize_t)tar_size);
    archive_entry_free(e);
    ck_assert_int_eq(archive_write_close(w), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_free(w), ARCHIVE_OK);
    ck_assert_int_eq(image_blob_write_data(images, buf, used, ret->blob, NULL), 0);
    ck_assert_str_ne(ret->blob, ret->diff);
}

static void make_layer(const char *name, const char *content, Layer *ret)
{
    make_layer_as(name, content, true, ret);
}

/* An image of the layers given, its config naming cmd; as image_load returns one. */
static void make_image(ImageLoaded *ret, const char *name, const char *cmd, size_t n,
                       const Layer *layers)
{
    _cleanup_free_ char *config = NULL, *manifest = NULL, *descs = strdup(""), *diff_ids = NULL;
    char config_digest[IMAGE_DIGEST_SIZE];
    struct stat st;

    diff_ids = strdup("");
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *path = strdup_printf("%s/blobs/sha256/%s", images, layers[i].blob + 7);
        bool gz = !streq(layers[i].blob, layers[i].diff);
        char *d, *id;

        ck_assert_int_eq(stat(path, &st), 0);
        d = strdup_printf("%s%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar%s\","
                          "\"digest\":\"%s\",\"size\":%lld}",
                          descs, i ? "," : "", gz ? "+gzip" : "", layers[i].blob,
                          (long long)st.st_size);
        id = strdup_printf("%s%s\"%s\"", diff_ids, i ? "," : "", layers[i].diff);
        free(descs);
        free(diff_ids);
        descs = d;
        diff_ids = id;
    }
    config = strdup_printf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":"
                           "[\"%s\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[%s]}}",
                           cmd, diff_ids);
    ck_assert_int_eq(image_blob_write_data(images, config, strlen(config), config_digest, NULL), 0);
    manifest = strdup_printf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
                             "\"%s\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[%s]}",
                             IMAGE_MT_OCI_MANIFEST, IMAGE_MT_OCI_CONFIG, config_digest,
                             strlen(config), descs);
    *ret = (ImageLoaded){.name = name ? strdup(name) : NULL};
    ck_assert_int_eq(
        image_blob_write_data(images, manifest, strlen(manifest), ret->manifest_digest, NULL), 0);
    ck_assert_int_eq(
        image_manifest_parse(manifest, strlen(manifest), "m", NULL, &ret->manifest, NULL), 0);
    ck_assert_int_eq(image_config_parse(config, strlen(config), "c", &ret->config, NULL), 0);
}

static void loaded_done(ImageLoaded *img)
{
    free(img->name);
    image_manifest_free(img->manifest);
    image_config_free(img->config);
}

static char *vpath(const char *fmt, va_list ap) _printf_(1, 0);
static char *vpath(const char *fmt, va_list ap)
{
    char *p = NULL;

    ck_assert_int_ge(vasprintf(&p, fmt, ap), 0);
    return p;
}

static char *slurp(const char *fmt, ...) _printf_(1, 2);
static char *slurp(const char *fmt, ...)
{
    va_list ap;
    _cleanup_free_ char *path = NULL;
    char *data = NULL;
    size_t size;
    int fd;

    va_start(ap, fmt);
    path = vpath(fmt, ap);
    va_end(ap);
    fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    ck_assert_int_eq(read_fd_full(fd, 1 << 20, &data, &size), 0);
    (void)close(fd);
    return data;
}

static bool exists(const char *fmt, ...) _printf_(1, 2);
static bool exists(const char *fmt, ...)
{
    va_list ap;
    _cleanup_free_ char *path = NULL;

    va_start(ap, fmt);
    path = vpath(fmt, ap);
    va_end(ap);
    return access(path, F_OK) == 0;
}

START_TEST(test_add_find)
{
    Layer layers[2];
    ImageLoaded img;
    ImageRecord rec, found;
    ImageReference ref;
    _cleanup_free_ ImageRecord *all = NULL;
    _cleanup_(strv_freep) char **dirs = NULL;
    _cleanup_free_ char *a = NULL, *b = NULL;
    size_t n;

    make_layer("a.txt", "from layer one\n", &layers[0]);
    make_layer("b.txt", "from layer two\n", &layers[1]);
    make_image(&img, "busybox", "/bin/sh", 2, layers);
    ck_assert_int_eq(image_store_add(images, &img, NULL, 0, &rec, NULL, NULL), 0);
    ck_assert_str_eq(rec.name, "docker.io/library/busybox:latest");
    ck_assert_str_eq(rec.digest, img.manifest_digest);
    ck_assert_uint_gt(rec.size, 0);
    ck_assert_uint_gt(rec.created, 0);

    /* Each layer is unpacked in its own directory; nothing half-done stays beside them. */
    a = slurp("%s/layers/sha256/%s/a.txt", images, layers[0].diff + 7);
    b = slurp("%s/layers/sha256/%s/b.txt", images, layers[1].diff + 7);
    ck_assert_str_eq(a, "from layer one\n");
    ck_assert_str_eq(b, "from layer two\n");
    ck_assert(!exists("%s/layers/sha256/%s/b.txt", images, layers[0].diff + 7));

    /* By the short name, the normalised one, and by digest. */
    ck_assert_int_eq(image_reference_parse("busybox", &ref, NULL), 0);
    ck_assert_int_eq(image_store_find(images, &ref, &found, NULL), 0);
    ck_assert_str_eq(found.digest, img.manifest_digest);
    ck_assert_int_eq(image_reference_parse("docker.io/library/busybox:latest", &ref, NULL), 0);
    ck_assert_int_eq(image_store_find(images, &ref, &found, NULL), 0);
    {
        _cleanup_free_ char *s = strdup_printf("busybox@%s", img.manifest_digest);

        ck_assert_int_eq(image_reference_parse(s, &ref, NULL), 0);
        ck_assert_int_eq(image_store_find(images, &ref, &found, NULL), 0);
        ck_assert_str_eq(found.name, "docker.io/library/busybox:latest");
    }
    ck_assert_int_eq(image_reference_parse("busybox:1.36", &ref, NULL), 0);
    ck_assert_int_eq(image_store_find(images, &ref, &found, NULL), -ENOENT);
    ck_assert_int_eq(image_reference_parse("other/busybox", &ref, NULL), 0);
    ck_assert_int_eq(image_store_find(images, &ref, &found, NULL), -ENOENT);

    /* The lower directories, lowest first. */
    ck_assert_int_eq(image_store_layer_dirs(images, img.manifest_digest, &dirs, NULL), 0);
    ck_assert_uint_eq(strv_length(dirs), 2);
    ck_assert(strstr(dirs[0], layers[0].diff + 7));
    ck_assert(strstr(dirs[1], layers[1].diff + 7));

    /* The same name again replaces the record; an explicit name wins over the image's. */
    ck_assert_int_eq(image_store_add(images, &img, NULL, 0, NULL, NULL, NULL), 0);
    ck_assert_int_eq(
        image_store_add(images, &img, "registry.example:5000/team/app:2.1", 0, &rec, NULL, NULL),
        0);
    ck_assert_str_eq(rec.name, "registry.example:5000/team/app:2.1");
    ck_assert_int_eq(image_store_records(images, &all, &n, NULL), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(all[0].name, "docker.io/library/busybox:latest");
    ck_assert_str_eq(all[1].name, "registry.example:5000/team/app:2.1");
    loaded_done(&img);
}
END_TEST

START_TEST(test_bad_names)
{
    Layer layers[1];
    ImageLoaded img;
    PdError e = {};
    _cleanup_free_ ImageRecord *all = NULL;
    size_t n = 1;

    make_layer("a", "a", &layers[0]);
    make_image(&img, NULL, "/x", 1, layers);
    ck_assert_int_eq(image_store_add(images, &img, NULL, 0, NULL, NULL, &e), -EINVAL);
    ck_assert(strstr(e.message, "has no name"));
    ck_assert_int_eq(image_store_add(images, &img, "Foo:1", 0, NULL, NULL, &e), -EINVAL);
    ck_assert(strstr(e.message, "lowercase"));
    /* Nothing recorded; a store without records lists none. */
    ck_assert_int_eq(image_store_records(images, &all, &n, NULL), 0);
    ck_assert_uint_eq(n, 0);
    loaded_done(&img);
}
END_TEST

START_TEST(test_untag_gc)
{
    Layer layers[3];
    ImageLoaded one, two;
    ImageReference ref;
    ImageRecord found;
    PdError e = {};
    uint64_t freed = 0;

    make_layer("base", "shared base\n", &layers[0]);
    make_layer("one", "only one\n", &layers[1]);
    make_image(&one, "one", "/one", 2, layers);
    make_layer("two", "only two\n", &layers[2]);
    {
        Layer two_layers[2];

        two_layers[0] = layers[0];
        two_layers[1] = layers[2];
        make_image(&two, "two", "/two", 2, two_layers);
    }
    ck_assert_int_eq(image_store_add(images, &one, NULL, 0, NULL, NULL, NULL), 0);
    ck_assert_int_eq(image_store_add(images, &two, NULL, 0, NULL, NULL, NULL), 0);

    /* Everything is used: nothing is collected. */
    ck_assert_int_eq(image_store_gc(images, &freed, NULL), 0);
    ck_assert_uint_eq(freed, 0);

    ck_assert_int_eq(image_store_untag(images, "docker.io/library/one:latest", NULL), 0);
    ck_assert_int_eq(image_store_untag(images, "docker.io/library/one:latest", &e), -ENOENT);
    ck_assert_int_eq(image_reference_parse("one", &ref, NULL), 0);
    ck_assert_int_eq(image_store_find(images, &ref, &found, NULL), -ENOENT);
    ck_assert(exists("%s/blobs/sha256/%s", images, one.manifest_digest + 7));

    /* one's manifest, config and own layer (blob and directory) go; the shared layer stays. */
    ck_assert_int_eq(image_store_gc(images, &freed, NULL), 4);
    ck_assert_uint_gt(freed, 0);
    ck_assert(!exists("%s/blobs/sha256/%s", images, one.manifest_digest + 7));
    ck_assert(!exists("%s/blobs/sha256/%s", images, one.manifest->config.digest + 7));
    ck_assert(!exists("%s/blobs/sha256/%s", images, layers[1].blob + 7));
    ck_assert(!exists("%s/layers/sha256/%s", images, layers[1].diff + 7));
    ck_assert(exists("%s/blobs/sha256/%s", images, layers[0].blob + 7));
    ck_assert(exists("%s/layers/sha256/%s/base", images, layers[0].diff + 7));
    ck_assert(exists("%s/layers/sha256/%s/two", images, layers[2].diff + 7));
    ck_assert(exists("%s/blobs/sha256/%s", images, two.manifest_digest + 7));

    /* Recording one again now fails cleanly: its blobs were collected. */
    ck_assert_int_eq(image_store_add(images, &one, NULL, 0, NULL, NULL, &e), -ENOENT);
    ck_assert(strstr(e.message, "not in"));
    ck_assert_int_eq(image_store_find(images, &ref, &found, NULL), -ENOENT);
    loaded_done(&one);
    loaded_done(&two);
}
END_TEST

START_TEST(test_interrupted_unpack)
{
    Layer layers[1];
    ImageLoaded img;
    _cleanup_free_ char *tmp = NULL, *junk = NULL, *content = NULL;

    make_layer("file", "whole\n", &layers[0]);
    make_image(&img, "app", "/app", 1, layers);
    /* A crash left a partly unpacked layer: it is never used, and is replaced. */
    tmp = strdup_printf("%s/layers/sha256/.tmp-%s", images, layers[0].diff + 7);
    ck_assert_int_eq(mkdir(images, 0700) < 0 && errno != EEXIST, 0);
    junk = strdup_printf("%s/layers", images);
    ck_assert_int_eq(mkdir(junk, 0700), 0);
    free(junk);
    junk = strdup_printf("%s/layers/sha256", images);
    ck_assert_int_eq(mkdir(junk, 0700), 0);
    ck_assert_int_eq(mkdir(tmp, 0700), 0);
    ck_assert_int_eq(image_store_add(images, &img, NULL, 0, NULL, NULL, NULL), 0);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    content = slurp("%s/layers/sha256/%s/file", images, layers[0].diff + 7);
    ck_assert_str_eq(content, "whole\n");
    loaded_done(&img);
}
END_TEST

START_TEST(test_corrupt_records)
{
    static const char bad[] = "{\"version\":1,\"images\":[{\"name\":\"x\"}]}";
    _cleanup_free_ char *path = strdup_printf("%s/" IMAGE_RECORDS_FILE, images);
    _cleanup_free_ ImageRecord *all = NULL;
    PdError e = {};
    size_t n;
    int fd;

    ck_assert_int_eq(mkdir(images, 0700), 0);
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    (void)close(fd);
    ck_assert_int_eq(image_store_records(images, &all, &n, &e), -EBADMSG);
    ck_assert(strstr(e.message, "images[0]"));
}
END_TEST

/* The entries of <images>/layers/sha256 not starting with '.'. */
static unsigned count_layer_dirs(void)
{
    _cleanup_free_ char *path = strdup_printf("%s/layers/sha256", images);
    DIR *d = opendir(path);
    struct dirent *de;
    unsigned n = 0;

    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    (void)closedir(d);
    return n;
}

START_TEST(test_diff_id_keys)
{
    Layer gz, plain, other, liar;
    ImageLoaded pulled, loaded, bad, legacy;
    _cleanup_(strv_freep) char **dirs1 = NULL, **dirs2 = NULL, **dirs3 = NULL;
    _cleanup_free_ char *marker = NULL, *from = NULL, *to = NULL;
    PdError e = {};
    int fd;

    /* The same layer pulled gzip-compressed and loaded uncompressed from an archive. */
    make_layer_as("shared", "one layer, two blobs\n", true, &gz);
    make_layer_as("shared", "one layer, two blobs\n", false, &plain);
    ck_assert_str_eq(gz.diff, plain.diff);
    ck_assert_str_ne(gz.blob, plain.blob);
    make_image(&pulled, "registry.example/app:1", "/pulled", 1, &gz);
    make_image(&loaded, "app:1", "/loaded", 1, &plain);
    ck_assert_int_eq(image_store_add(images, &pulled, NULL, 0, NULL, NULL, NULL), 0);
    ck_assert(exists("%s/layers/sha256/%s/shared", images, gz.diff + 7));
    /* Unpacked once: the second image finds the directory (and what was put there since). */
    marker = strdup_printf("%s/layers/sha256/%s/marker", images, gz.diff + 7);
    fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    (void)close(fd);
    ck_assert_int_eq(image_store_add(images, &loaded, NULL, 0, NULL, NULL, NULL), 0);
    ck_assert_uint_eq(count_layer_dirs(), 1);
    ck_assert_int_eq(access(marker, F_OK), 0);
    ck_assert_int_eq(image_store_layer_dirs(images, pulled.manifest_digest, &dirs1, NULL), 0);
    ck_assert_int_eq(image_store_layer_dirs(images, loaded.manifest_digest, &dirs2, NULL), 0);
    ck_assert_str_eq(dirs1[0], dirs2[0]);

    /* A config whose diff_id is not its layer's content is refused, and nothing is unpacked
     * under that name. */
    make_layer("other", "other content\n", &other);
    make_layer("liar", "not what it claims\n", &liar);
    strcpy(liar.diff, other.diff);
    make_image(&bad, "bad:1", "/bad", 1, &liar);
    ck_assert_int_eq(image_store_add(images, &bad, NULL, 0, NULL, NULL, &e), -EBADMSG);
    ck_assert(strstr(e.message, "diff_id"));
    ck_assert(strstr(e.message, liar.blob));
    ck_assert(!exists("%s/layers/sha256/%s", images, other.diff + 7));
    ck_assert_uint_eq(count_layer_dirs(), 1);

    make_image(&legacy, "legacy:1", "/legacy", 1, &other);
    ck_assert_int_eq(image_store_add(images, &legacy, NULL, 0, NULL, NULL, NULL), 0);

    /* The shared directory stays while one image uses it. */
    ck_assert_int_eq(image_store_untag(images, "registry.example/app:1", NULL), 0);
    ck_assert_int_ge(image_store_gc(images, NULL, NULL), 1);
    ck_assert(exists("%s/layers/sha256/%s/shared", images, gz.diff + 7));
    ck_assert(!exists("%s/blobs/sha256/%s", images, gz.blob + 7));

    /* A store from before diff_id keys: the directory named by the blob serves, and stays. */
    from = strdup_printf("%s/layers/sha256/%s", images, other.diff + 7);
    to = strdup_printf("%s/layers/sha256/%s", images, other.blob + 7);
    ck_assert_int_eq(rename(from, to), 0);
    ck_assert_int_eq(image_store_gc(images, NULL, NULL), 0);
    ck_assert_int_eq(image_store_layer_dirs(images, legacy.manifest_digest, &dirs3, NULL), 0);
    ck_assert_str_eq(dirs3[0], to);
    ck_assert(exists("%s/other", to));

    ck_assert_int_eq(image_store_untag(images, "app:1", &e), -ENOENT);
    ck_assert_int_eq(image_store_untag(images, "docker.io/library/app:1", NULL), 0);
    ck_assert_int_eq(image_store_untag(images, "docker.io/library/legacy:1", NULL), 0);
    ck_assert_int_ge(image_store_gc(images, NULL, NULL), 2);
    ck_assert_uint_eq(count_layer_dirs(), 0);
    loaded_done(&pulled);
    loaded_done(&loaded);
    loaded_done(&bad);
    loaded_done(&legacy);
}
END_TEST

/* A partial download of size bytes, last written age_sec ago; returns its path. */
static char *make_partial(const char *name, size_t size, time_t age_sec)
{
    char *path = strdup_printf("%s/" IMAGE_PARTIAL_DIR "/%s", images, name);
    _cleanup_free_ char *data = calloc(1, size);
    struct timespec ts[2];
    int fd;

    ck_assert_ptr_nonnull(path);
    ck_assert_ptr_nonnull(data);
    ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &ts[0]), 0);
    ts[0].tv_sec -= age_sec;
    ts[1] = ts[0];
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
    ck_assert_int_eq(futimens(fd, ts), 0);
    (void)close(fd);
    return path;
}

START_TEST(test_partials)
{
    _cleanup_free_ char *old = NULL, *fresh = NULL, *held = NULL, *old2 = NULL, *d = NULL;
    uint64_t freed = 0;
    int fd;

    ck_assert_int_eq(mkdir(images, 0700), 0);
    d = strdup_printf("%s/blobs", images);
    ck_assert_int_eq(mkdir(d, 0700), 0);
    free(d);
    d = strdup_printf("%s/" IMAGE_PARTIAL_DIR, images);
    ck_assert_int_eq(mkdir(d, 0700), 0);
    old = make_partial("0ld", 64 * 1024, 2 * 24 * 3600);
    fresh = make_partial("fresh", 4096, 3600);
    held = make_partial("held", 4096, 2 * 24 * 3600);
    /* A pull writing "held" holds it (its own open file, as the pull's child has). */
    fd = open(held, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_SH), 0);

    /* prune: the day-old download nobody holds goes, the others stay for their pulls. */
    ck_assert_int_eq(image_store_gc(images, &freed, NULL), 1);
    ck_assert_uint_ge(freed, 64 * 1024);
    ck_assert_int_eq(access(old, F_OK), -1);
    ck_assert_int_eq(access(fresh, F_OK), 0);
    ck_assert_int_eq(access(held, F_OK), 0);

    /* podd's start (image_store_clean) does the same, once the pull let go. */
    (void)close(fd);
    old2 = make_partial("0ld2", 4096, 25 * 3600);
    ck_assert_int_eq(image_store_clean(images), 2);
    ck_assert_int_eq(access(old2, F_OK), -1);
    ck_assert_int_eq(access(held, F_OK), -1);
    ck_assert_int_eq(access(fresh, F_OK), 0);
    ck_assert_int_eq(image_store_clean(images), 0);
}
END_TEST

/* A download hashed as it arrived is moved into the store, not copied; one already there stays. */
START_TEST(test_blob_adopt)
{
    static const char content[] = "a downloaded layer\n";
    _cleanup_free_ char *d = strdup_printf("%s/dl", dir), *first = NULL, *data = NULL;
    char digest[IMAGE_DIGEST_SIZE];
    struct stat before, after;
    Sha256 sha;
    size_t size;
    int dfd, fd;

    sha256_init(&sha);
    sha256_update(&sha, content, strlen(content));
    memcpy(digest, "sha256:", 7);
    sha256_final_hex(&sha, digest + 7);
    ck_assert_int_eq(mkdir(d, 0700), 0);
    dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(dfd, 0);
    for (int round = 0; round < 2; round++) {
        fd = openat(dfd, "part", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
        ck_assert_int_eq(fstat(fd, &before), 0);
        (void)close(fd);
        ck_assert_int_eq(image_blob_adopt(images, dfd, "part", digest, NULL), 0);
        ck_assert_int_eq(faccessat(dfd, "part", F_OK, 0), -1);
        first = strdup_printf("%s/blobs/sha256/%s", images, digest + 7);
        ck_assert_int_eq(stat(first, &after), 0);
        if (round == 0) /* the same inode: renamed */
            ck_assert_uint_eq(after.st_ino, before.st_ino);
        else /* already present: kept, the second copy deleted */
            ck_assert_uint_ne(after.st_ino, before.st_ino);
        free(first);
        first = NULL;
    }
    ck_assert_int_eq(image_blob_read(images, digest, &data, &size, NULL), 0);
    ck_assert_str_eq(data, content);
    ck_assert_int_eq(image_blob_adopt(images, dfd, "part", "sha256:nothex", NULL), -EINVAL);
    (void)close(dfd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("image-records");
    TCase *tc = tcase_create("image-records");
    const char *why_not = geteuid() == 0 ? NULL : "unpacking layers needs root";
    SRunner *sr;
    int status;

    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(tc, setup, teardown);
    unit_add_test_unless(tc, test_add_find, why_not);
    unit_add_test_unless(tc, test_bad_names, why_not);
    unit_add_test_unless(tc, test_untag_gc, why_not);
    unit_add_test_unless(tc, test_interrupted_unpack, why_not);
    unit_add_test_unless(tc, test_diff_id_keys, why_not);
    tcase_add_test(tc, test_corrupt_records);
    tcase_add_test(tc, test_partials);
    tcase_add_test(tc, test_blob_adopt);
    sr = srunner_create(s);
    status = unit_run(sr, CK_NORMAL);
    srunner_free(sr);
    return status;
}
