/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blob store (digests, verified writes, reads that name nothing outside
 * the store) and the image document parsers, table by table.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "base/base.h"
#include "image/image-internal.h"
#include "image/image.h"
#include "unit-util.h"

#define HEX_A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B64 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
/* SHA-256 of "abc" and of "" (FIPS 180-4 examples). */
#define SHA_ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static char dir[64];
static char images[128];
static int fds_before;

static void setup(void)
{
    (void)snprintf(dir, sizeof(dir), "/tmp/podd-test-image-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    (void)snprintf(images, sizeof(images), "%s/images", dir);
    fds_before = unit_count_fds();
}

static void teardown(void)
{
    ck_assert_int_eq(unit_count_fds(), fds_before);
    ck_assert_int_eq(unit_rm_tree(dir), 0);
}

/* The names in <images>/blobs/sha256, sorted, joined by ' '. */
static void blob_names(char *buf, size_t size)
{
    _cleanup_free_ char *path = strdup_printf("%s/blobs/sha256", images);
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);

    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        if (!streq(names[i]->d_name, ".") && !streq(names[i]->d_name, ".."))
            (void)snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? " " : "",
                           names[i]->d_name);
        free(names[i]);
    }
    free(n >= 0 ? names : NULL);
}

static int tmp_file_with(const char *data, size_t size)
{
    _cleanup_free_ char *path = strdup_printf("%s/src-XXXXXX", dir);
    int fd = mkostemp(path, O_CLOEXEC);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    (void)unlink(path);
    return fd;
}

START_TEST(test_sha256_streamed)
{
    /* One million 'a' (FIPS 180-4), fed in chunks that straddle every block boundary. */
    static const size_t chunks[] = {1, 63, 64, 65, 55, 56, 57, 127, 1000, 4096};
    char *buf = malloc(1000000), got[IMAGE_DIGEST_SIZE];
    Sha256 s;
    size_t done = 0;

    memset(buf, 'a', 1000000);
    sha256_init(&s);
    for (size_t i = 0; done < 1000000; i++) {
        size_t n = chunks[i % ELEMENTSOF(chunks)];

        if (n > 1000000 - done)
            n = 1000000 - done;
        sha256_update(&s, buf + done, n);
        done += n;
    }
    image_sha256_digest(&s, got);
    ck_assert_str_eq(got,
                     "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(buf);

    ck_assert_int_eq(image_blob_write_data(images, "abc", 3, got, NULL), 0);
    ck_assert_str_eq(got, SHA_ABC);
    ck_assert_int_eq(image_blob_write_data(images, "", 0, got, NULL), 0);
    ck_assert_str_eq(got, SHA_EMPTY);
}
END_TEST

static const struct {
    const char *digest;
    bool valid;
} digests[] = {
    {"sha256:" HEX_A64, true},
    {"sha256:" HEX_A64 "a", false},
    {"sha256:" HEX_A64 "/", false},
    {"sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false},
    {"sha256:../../../../../../../../../../../../../../../../../etc/passwd", false},
    {"sha512:" HEX_A64, false},
    {HEX_A64, false},
    {"", false},
};

START_TEST(test_digest_syntax)
{
    PdError err = {};

    ck_assert_int_eq(image_digest_is_valid(digests[_i].digest), digests[_i].valid);
    if (!digests[_i].valid) {
        ck_assert_int_eq(image_blob_open(images, digests[_i].digest, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.message, "invalid digest"));
    }
}
END_TEST

START_TEST(test_blob_write_verified)
{
    _cleanup_close_ int fd = -1, good = -1, again = -1;
    _cleanup_free_ char *data = NULL;
    char names[512];
    PdError err = {};
    size_t n;

    /* Wrong content: refused, nothing stays, not even the temporary file. */
    fd = tmp_file_with("abd", 3);
    ck_assert_int_eq(image_blob_write_fd(images, fd, SHA_ABC, 3, &err), -EBADMSG);
    ck_assert_ptr_nonnull(strstr(err.message, "content has digest"));
    blob_names(names, sizeof(names));
    ck_assert_str_eq(names, "");
    /* Right content, wrong size: refused either way. */
    good = tmp_file_with("abc", 3);
    ck_assert_int_eq(image_blob_write_fd(images, good, SHA_ABC, 2, &err), -EBADMSG);
    ck_assert_int_eq(lseek(good, 0, SEEK_SET), 0);
    ck_assert_int_eq(image_blob_write_fd(images, good, SHA_ABC, 4, &err), -EBADMSG);
    blob_names(names, sizeof(names));
    ck_assert_str_eq(names, "");
    /* Right: stored under its hex, readable back. */
    ck_assert_int_eq(lseek(good, 0, SEEK_SET), 0);
    ck_assert_int_eq(image_blob_write_fd(images, good, SHA_ABC, 3, &err), 0);
    blob_names(names, sizeof(names));
    ck_assert_str_eq(names, &SHA_ABC[7]); /* the hex after "sha256:" */
    ck_assert_int_eq(image_blob_read(images, SHA_ABC, &data, &n, &err), 0);
    ck_assert_str_eq(data, "abc");
    /* Present already: kept, the source is not read. */
    again = tmp_file_with("", 0);
    ck_assert_int_eq(image_blob_write_fd(images, again, SHA_ABC, 3, &err), 0);
    /* Absent: -ENOENT naming the digest. */
    ck_assert_int_eq(image_blob_open(images, "sha256:" HEX_B64, &err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err.message, HEX_B64));
}
END_TEST

START_TEST(test_blob_read_detects_corruption)
{
    _cleanup_free_ char *path = NULL, *data = NULL;
    char digest[IMAGE_DIGEST_SIZE];
    PdError err = {};
    FILE *f;
    size_t n;

    ck_assert_int_eq(image_blob_write_data(images, "{}", 2, digest, &err), 0);
    path = strdup_printf("%s/blobs/sha256/%s", images, digest + 7);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{ }", f);
    fclose(f);
    ck_assert_int_eq(image_blob_read(images, digest, &data, &n, &err), -EBADMSG);
    ck_assert_ptr_nonnull(strstr(err.message, "corrupt"));
    ck_assert_ptr_null(data);
}
END_TEST

/* ---- documents ------------------------------------------------------------------------------ */

#define DESC(mt, hex) "{\"mediaType\":\"" mt "\",\"digest\":\"sha256:" hex "\",\"size\":5"
#define OCI_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"
#define MANIFEST(mt_field, config_mt, layer_mt)                                                    \
    "{\"schemaVersion\":2," mt_field                                                               \
    "\"config\":" DESC(config_mt, HEX_A64) "},"                                                    \
                                           "\"layers\":[" DESC(layer_mt, HEX_B64) "}]}"

enum { INDEX, MANIFEST_DOC, CONFIG };

static const struct {
    int kind;
    const char *json;
    const char *media_type; /* the descriptor's */
    int r;
    const char *error; /* part of the message */
} docs[] = {
    {MANIFEST_DOC, MANIFEST("", IMAGE_MT_OCI_CONFIG, OCI_LAYER), NULL, 0, NULL},
    {MANIFEST_DOC, MANIFEST("", IMAGE_MT_OCI_CONFIG, OCI_LAYER), IMAGE_MT_OCI_MANIFEST, 0, NULL},
    {MANIFEST_DOC,
     MANIFEST("\"mediaType\":\"" IMAGE_MT_DOCKER_MANIFEST "\",", IMAGE_MT_DOCKER_CONFIG,
              "application/vnd.docker.image.rootfs.diff.tar.gzip"),
     IMAGE_MT_DOCKER_MANIFEST, 0, NULL},
    /* A Docker manifest must say so; its config must be Docker's. */
    {MANIFEST_DOC, MANIFEST("", IMAGE_MT_DOCKER_CONFIG, OCI_LAYER), IMAGE_MT_DOCKER_MANIFEST,
     -EINVAL, "doc: mediaType: missing (the descriptor says"},
    {MANIFEST_DOC,
     MANIFEST("\"mediaType\":\"" IMAGE_MT_DOCKER_MANIFEST "\",", IMAGE_MT_OCI_CONFIG, OCI_LAYER),
     NULL, -EPROTONOSUPPORT, "doc: config.mediaType: unsupported media type"},
    {MANIFEST_DOC, MANIFEST("", IMAGE_MT_OCI_CONFIG, "text/plain"), NULL, -EPROTONOSUPPORT,
     "doc: layers[0].mediaType: unsupported layer media type 'text/plain'"},
    {MANIFEST_DOC,
     MANIFEST("\"mediaType\":\"" IMAGE_MT_OCI_INDEX "\",", IMAGE_MT_OCI_CONFIG, OCI_LAYER), NULL,
     -EPROTONOSUPPORT, "doc: mediaType: unsupported media type"},
    {MANIFEST_DOC, "{\"schemaVersion\":1}", NULL, -EPROTONOSUPPORT,
     "doc: schemaVersion: must be 2"},
    {MANIFEST_DOC, "{\"schemaVersion\":2,\"schemaVersion\":2}", NULL, -EINVAL, "invalid JSON"},
    {MANIFEST_DOC, "[]", NULL, -EINVAL, "doc: not a JSON object"},
    {INDEX,
     "{\"schemaVersion\":2,\"manifests\":[" DESC(IMAGE_MT_OCI_MANIFEST,
                                                 HEX_A64) ",\"annotations\":"
                                                          "{\"" IMAGE_ANNOTATION_REF_NAME
                                                          "\":\"reg.example:5000/a/b:1.0\"}}]}",
     NULL, 0, NULL},
    {INDEX,
     "{\"schemaVersion\":2,\"manifests\":[" DESC(
         IMAGE_MT_OCI_MANIFEST, HEX_A64) ",\"annotations\":"
                                         "{\"" IMAGE_ANNOTATION_REF_NAME "\":\"a//b\"}}]}",
     NULL, -EINVAL, "invalid image name 'a//b'"},
    {INDEX,
     "{\"schemaVersion\":2,\"mediaType\":\"" IMAGE_MT_DOCKER_LIST
     "\",\"manifests\":[" DESC(IMAGE_MT_OCI_MANIFEST, HEX_A64) "}]}",
     NULL, -EINVAL, "doc: manifests[0]: media type '" IMAGE_MT_OCI_MANIFEST "' in a Docker"},
    {INDEX, "{\"schemaVersion\":2,\"manifests\":[" DESC("text/plain", HEX_A64) "}]}", NULL,
     -EPROTONOSUPPORT, "doc: manifests[0]: unsupported media type 'text/plain'"},
    {INDEX, "{\"schemaVersion\":2,\"manifests\":{}}", NULL, -EINVAL,
     "doc: manifests: missing or not an array"},
    {INDEX, "{\"schemaVersion\":2,\"manifests\":[]}", IMAGE_MT_DOCKER_LIST, -EINVAL,
     "doc: mediaType: missing (the descriptor says"},
    {CONFIG,
     "{\"os\":\"linux\",\"architecture\":\"amd64\",\"config\":{\"Env\":[\"A=1\"],\"Cmd\":null},"
     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:" HEX_A64 "\"]}}",
     NULL, 0, NULL},
    {CONFIG,
     "{\"os\":\"linux\",\"architecture\":\"amd64\",\"config\":{\"Env\":[\"=1\"]},"
     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
     NULL, -EINVAL, "doc: config.Env[0]: '=1' is not NAME=VALUE"},
    {CONFIG,
     "{\"os\":\"linux\",\"architecture\":\"amd64\",\"config\":{\"Cmd\":\"sh\"},"
     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
     NULL, -EINVAL, "doc: config.Cmd: not an array of strings"},
    {CONFIG,
     "{\"os\":\"linux\",\"architecture\":\"amd64\","
     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:../x\"]}}",
     NULL, -EINVAL, "doc: rootfs.diff_ids[0]: invalid digest"},
    {CONFIG, "{\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", NULL, -EINVAL,
     "doc: architecture: missing"},
};

START_TEST(test_documents)
{
    PdError err = {};
    size_t n = strlen(docs[_i].json);
    void *obj = NULL;
    int r;

    switch (docs[_i].kind) {
    case INDEX:
        r = image_index_parse(docs[_i].json, n, "doc", docs[_i].media_type, (ImageIndex **)&obj,
                              &err);
        image_index_free(obj);
        break;
    case MANIFEST_DOC:
        r = image_manifest_parse(docs[_i].json, n, "doc", docs[_i].media_type,
                                 (ImageManifest **)&obj, &err);
        image_manifest_free(obj);
        break;
    default:
        r = image_config_parse(docs[_i].json, n, "doc", (ImageConfig **)&obj, &err);
        image_config_free(obj);
        break;
    }
    ck_assert_msg(r == docs[_i].r, "case %d: %d (%s)", _i, r, err.message);
    if (docs[_i].error)
        ck_assert_msg(strstr(err.message, docs[_i].error), "case %d: '%s'", _i, err.message);
    else
        ck_assert_ptr_nonnull(obj);
}
END_TEST

START_TEST(test_platform_selection)
{
    static const char index[] = "{\"schemaVersion\":2,\"manifests\":[" DESC(
        IMAGE_MT_OCI_MANIFEST,
        HEX_A64) ",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}}"
                 "," DESC(IMAGE_MT_OCI_MANIFEST,
                          HEX_A64) ",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\","
                                   "\"variant\":\"v7\"}}"
                                   "," DESC(
                                       IMAGE_MT_OCI_MANIFEST,
                                       HEX_A64) ",\"platform\":{\"os\":\"windows\","
                                                "\"architecture\":\"amd64\"}}"
                                                "," DESC(
                                                    IMAGE_MT_OCI_MANIFEST,
                                                    HEX_A64) ",\"platform\":{\"os\":\"linux\","
                                                             "\"architecture\":\"amd64\"}}," DESC(
                                                                 IMAGE_MT_OCI_MANIFEST,
                                                                 HEX_A64) ",\"platform\":{\"os\":"
                                                                          "\"linux\","
                                                                          "\"architecture\":"
                                                                          "\"arm64\"}}]}";
    _cleanup_(image_index_freep) ImageIndex *idx = NULL;
    ImagePlatform host;

    ck_assert_int_eq(image_index_parse(index, strlen(index), "i", NULL, &idx, NULL), 0);
    host = (ImagePlatform){(char *)"linux", (char *)"arm", (char *)"v7"};
    ck_assert_int_eq(image_index_select(idx, &host), 1);
    host.variant = (char *)"v6";
    ck_assert_int_eq(image_index_select(idx, &host), 0);
    host.variant = (char *)"v5";
    ck_assert_int_eq(image_index_select(idx, &host), -ENOENT);
    host = (ImagePlatform){(char *)"linux", (char *)"amd64", NULL};
    ck_assert_int_eq(image_index_select(idx, &host), 3);
    host = (ImagePlatform){(char *)"linux", (char *)"arm64", (char *)"v8"};
    ck_assert_int_eq(image_index_select(idx, &host), 4);
    host = (ImagePlatform){(char *)"linux", (char *)"riscv64", NULL};
    ck_assert_int_eq(image_index_select(idx, &host), -ENOENT);
    /* This host is linux and has a Go architecture name. */
    image_host_platform(&host);
    ck_assert_str_eq(host.os, "linux");
    ck_assert_ptr_nonnull(host.architecture);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("image-store");
    TCase *tc = tcase_create("image-store");
    SRunner *sr;
    int status;

    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_sha256_streamed);
    tcase_add_loop_test(tc, test_digest_syntax, 0, ELEMENTSOF(digests));
    tcase_add_test(tc, test_blob_write_verified);
    tcase_add_test(tc, test_blob_read_detects_corruption);
    tcase_add_loop_test(tc, test_documents, 0, ELEMENTSOF(docs));
    tcase_add_test(tc, test_platform_selection);
    sr = srunner_create(s);
    status = unit_run(sr, CK_NORMAL);
    srunner_free(sr);
    return status;
}
