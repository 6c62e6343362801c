/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "manifest/manifest.h"

static const struct {
    const char *s;
    int r;
    int64_t millis;
} cpus[] = {
    {"500m", 0, 500},      {"0.5", 0, 500},
    {"2", 0, 2000},        {"1.5", 0, 1500},
    {"0.0001", 0, 1},      {"100u", 0, 1},
    {"1e3", 0, 1000000},   {"250m", 0, 250},
    {"", -EINVAL, 0},      {"m", -EINVAL, 0},
    {"1x", -EINVAL, 0},    {"-1", -ERANGE, 0},
    {"1.2.3", -EINVAL, 0}, {"99999999999999999999", -ERANGE, 0},
};

START_TEST(test_quantity_cpu)
{
    int64_t v = -1;

    ck_assert_int_eq(quantity_parse_cpu_millis(cpus[_i].s, &v), cpus[_i].r);
    if (cpus[_i].r == 0)
        ck_assert_int_eq(v, cpus[_i].millis);
}
END_TEST

static const struct {
    const char *s;
    int r;
    int64_t bytes;
} memories[] = {
    {"64Mi", 0, 64ll << 20},
    {"1Gi", 0, 1ll << 30},
    {"128974848", 0, 128974848},
    {"129e6", 0, 129000000},
    {"129M", 0, 129000000},
    {"123Mi", 0, 128974848},
    {"1k", 0, 1000},
    {"1Ki", 0, 1024},
    {"0.5Ki", 0, 512},
    {"1m", 0, 1},
    {"7Ei", 0, 7ll << 60},
    {"8Ei", -ERANGE, 0},
    {"1Ti", 0, 1ll << 40},
    {"1KB", -EINVAL, 0},
    {"Mi", -EINVAL, 0},
    {"-64Mi", -ERANGE, 0},
    {"1E", 0, 1000000000000000000ll},
    {"2e2", 0, 200},
};

START_TEST(test_quantity_bytes)
{
    int64_t v = -1;

    ck_assert_int_eq(quantity_parse_bytes(memories[_i].s, &v), memories[_i].r);
    if (memories[_i].r == 0)
        ck_assert_int_eq(v, memories[_i].bytes);
}
END_TEST

static const struct {
    const char *s;
    int r;
    uint64_t usec;
} durations[] = {
    {"10s", 0, 10000000},
    {"5m", 0, 300000000},
    {"1h30m", 0, 5400000000ull},
    {"250ms", 0, 250000},
    {"1.5s", 0, 1500000},
    {"0", 0, 0},
    {"100us", 0, 100},
    {"", -EINVAL, 0},
    {"10", -EINVAL, 0},
    {"s", -EINVAL, 0},
    {"10d", -EINVAL, 0},
    {"-1s", -EINVAL, 0},
    {"99999999999999999999h", -ERANGE, 0},
};

START_TEST(test_duration)
{
    uint64_t v = 0;

    ck_assert_int_eq(duration_parse_usec(durations[_i].s, &v), durations[_i].r);
    if (durations[_i].r == 0)
        ck_assert_uint_eq(v, durations[_i].usec);
}
END_TEST

START_TEST(test_names)
{
    ck_assert(dns_label_is_valid("web"));
    ck_assert(dns_label_is_valid("web-1"));
    ck_assert(!dns_label_is_valid("Web"));
    ck_assert(!dns_label_is_valid("-web"));
    ck_assert(!dns_label_is_valid("web-"));
    ck_assert(!dns_label_is_valid("web_1"));
    ck_assert(!dns_label_is_valid(""));
    ck_assert(
        dns_label_is_valid("a23456789012345678901234567890123456789012345678901234567890123"));
    ck_assert(
        !dns_label_is_valid("a234567890123456789012345678901234567890123456789012345678901234"));

    ck_assert(manifest_name_is_candidate("web.yaml"));
    ck_assert(manifest_name_is_candidate("web.yml"));
    ck_assert(manifest_name_is_candidate("web.json"));
    ck_assert(!manifest_name_is_candidate("web.yaml.bak"));
    ck_assert(!manifest_name_is_candidate("web.yaml~"));
    ck_assert(!manifest_name_is_candidate(".web.yaml.swp"));
    ck_assert(!manifest_name_is_candidate(".web.yaml"));
    ck_assert(!manifest_name_is_candidate("web.txt"));
}
END_TEST

START_TEST(test_string_tables)
{
    for (int i = 0; i < _RESTART_POLICY_MAX; i++)
        ck_assert_int_eq(restart_policy_from_string(restart_policy_to_string(i)), i);
    for (int i = 0; i < _EXIT_POLICY_MAX; i++)
        ck_assert_int_eq(exit_policy_from_string(exit_policy_to_string(i)), i);
    for (int i = 0; i < _RUNTIME_KIND_MAX; i++)
        ck_assert_int_eq(runtime_kind_from_string(runtime_kind_to_string(i)), i);
    for (int i = 0; i < _DEP_CONDITION_MAX; i++)
        ck_assert_int_eq(dep_condition_from_string(dep_condition_to_string(i)), i);
    for (int i = 0; i < _HOST_PATH_MAX; i++)
        ck_assert_int_eq(host_path_type_from_string(host_path_type_to_string(i)), i);
    ck_assert_int_eq(restart_policy_from_string("always"), _RESTART_POLICY_INVALID);
    ck_assert_ptr_null(restart_policy_to_string(_RESTART_POLICY_MAX));
}
END_TEST

/* Parses text; returns the whole-file error code (0 when the file was readable). */
static int parse(const char *name, const char *text, ManifestFile **ret, PdError *e)
{
    return manifest_parse_buffer(name, text, strlen(text), MANIFEST_FORMAT_AUTO, ret, e);
}

#define POD_HEAD "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"

START_TEST(test_parse_minimal)
{
    _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
    PdError e = {0};
    const Pod *p;

    ck_assert_int_eq(
        parse("web.yaml", POD_HEAD "spec:\n  containers:\n  - name: app\n    image: bb\n", &f, &e),
        0);
    ck_assert(manifest_file_ok(f));
    p = f->docs[0].pod;
    ck_assert_str_eq(p->name, "web");
    ck_assert_str_eq(p->namespace, "default");
    ck_assert_int_eq(p->restart_policy, RESTART_POLICY_ALWAYS);
    ck_assert_int_eq(p->termination_grace_period_seconds, 30);
    ck_assert_uint_eq(p->backoff.initial_usec, 10000000);
    ck_assert_uint_eq(p->n_containers, 1);
    ck_assert_ptr_nonnull(pod_find_container(p, "app"));
    ck_assert_ptr_null(pod_find_container(p, "nope"));
}
END_TEST

START_TEST(test_parse_multi_document)
{
    _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
    PdError e = {0};

    ck_assert_int_eq(parse("two.yaml",
                           POD_HEAD "spec:\n  containers:\n  - name: app\n    image: bb\n"
                                    "---\n" POD_HEAD "spec:\n  containers:\n  - name: app\n"
                                    "    imagee: bb\n",
                           &f, &e),
                     0);
    ck_assert_uint_eq(f->n_docs, 2);
    ck_assert_ptr_nonnull(f->docs[0].pod);
    /* The bad document keeps its errors to itself. */
    ck_assert_ptr_null(f->docs[1].pod);
    ck_assert_str_eq(f->docs[1].name, "web");
    ck_assert(!manifest_file_ok(f));
}
END_TEST

static void expect_file_error(const char *name, const char *text, size_t len, unsigned line,
                              unsigned col, const char *needle)
{
    _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
    PdError e = {0};

    ck_assert_int_lt(manifest_parse_buffer(name, text, len, MANIFEST_FORMAT_AUTO, &f, &e), 0);
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(e.message, needle), "'%s' not in '%s'", needle, e.message);
    ck_assert_uint_eq(e.line, line);
    ck_assert_uint_eq(e.column, col);
}

START_TEST(test_hostile_encoding)
{
    expect_file_error("nul.yaml", "a: b\nc: d\0e\n", 12, 2, 5, "NUL byte at byte offset 9");
    expect_file_error("bad.yaml", "a: \xff\n", 5, 1, 4, "invalid UTF-8");
    expect_file_error("overlong.yaml", "a: \xc0\xaf\n", 6, 1, 4, "invalid UTF-8");
    expect_file_error("surrogate.yaml", "a: \xed\xa0\x80\n", 7, 1, 4, "invalid UTF-8");
    expect_file_error("utf16.yaml",
                      "\xff\xfe"
                      "a\0:\0",
                      6, 1, 1, "UTF-16");
    expect_file_error("empty.yaml", "", 0, 1, 1, "no document");
    expect_file_error("comment.yaml", "# nothing\n", 10, 1, 1, "no document");
}
END_TEST

START_TEST(test_hostile_structure)
{
    StrBuf deep = {0};

    expect_file_error("dup.yaml", "a: 1\nb: 2\na: 3\n", 15, 3, 1,
                      "duplicate key 'a' (first defined at line 1)");
    expect_file_error("tab.yaml", "a:\n\tb: 1\n", 9, 2, 1, "tab character in indentation");
    expect_file_error("cycle.yaml", "a: &x\n  b: *x\n", 14, 2, 6, "a cycle");
    expect_file_error("noanchor.yaml", "a: *x\n", 6, 1, 4, "names no anchor");
    expect_file_error("dup.json", "{\"a\": 1, \"a\": 2}", 16, 1, 12, "duplicate object key");
    expect_file_error("syntax.json", "{\"a\": 1,}", 9, 1, 9, "JSON error");

    /* 64 levels are fine, 65 are not. */
    for (int i = 0; i < 64; i++)
        (void)strbuf_append(&deep, "[", 1);
    for (int i = 0; i < 64; i++)
        (void)strbuf_append(&deep, "]", 1);
    {
        _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
        PdError e = {0};

        ck_assert_int_eq(
            manifest_parse_buffer("deep.yaml", deep.data, deep.len, MANIFEST_FORMAT_YAML, &f, &e),
            0);
        /* Readable, but a list is not a Pod. */
        ck_assert(!manifest_file_ok(f));
    }
    strbuf_done(&deep);
    for (int i = 0; i < 65; i++)
        (void)strbuf_append(&deep, "[", 1);
    for (int i = 0; i < 65; i++)
        (void)strbuf_append(&deep, "]", 1);
    expect_file_error("deeper.yaml", deep.data, deep.len, 1, 65, "nesting deeper than 64");
    strbuf_done(&deep);
}
END_TEST

START_TEST(test_billion_laughs)
{
    static const char bomb[] = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                               "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                               "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                               "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                               "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                               "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                               "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                               "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                               "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
    _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
    PdError e = {0};

    ck_assert_int_eq(parse("bomb.yaml", bomb, &f, &e), -E2BIG);
    ck_assert(strstr(e.message, "expands past the budget of 10000 nodes"));
    ck_assert_uint_eq(e.line, 4);
}
END_TEST

START_TEST(test_alias_bytes_budget)
{
    /* Few nodes, many bytes: 300 aliases of a 20 KB string would copy 6 MB of text. */
    StrBuf b = {0};
    _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
    PdError e = {0};

    (void)strbuf_append(&b, "a: &big \"", 9);
    for (int i = 0; i < 20000; i++)
        (void)strbuf_append(&b, "x", 1);
    (void)strbuf_append(&b, "\"\nb: [", 6);
    for (int i = 0; i < 300; i++)
        (void)strbuf_append(&b, "*big, ", 6);
    (void)strbuf_append(&b, "]\n", 2);
    ck_assert_int_eq(manifest_parse_buffer("big.yaml", b.data, b.len, MANIFEST_FORMAT_YAML, &f, &e),
                     -E2BIG);
    ck_assert(strstr(e.message, "bytes of text"));
    strbuf_done(&b);
}
END_TEST

START_TEST(test_aliases_within_budget)
{
    _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
    PdError e = {0};
    const Pod *p;

    ck_assert_int_eq(parse("alias.yaml",
                           POD_HEAD "spec:\n  containers:\n  - name: a\n    image: bb\n"
                                    "    command: &cmd [sleep, \"60\"]\n"
                                    "  - name: b\n    image: bb\n    command: *cmd\n",
                           &f, &e),
                     0);
    ck_assert(manifest_file_ok(f));
    p = f->docs[0].pod;
    ck_assert_str_eq(p->containers[1].command[1], "60");
}
END_TEST

START_TEST(test_load_limits)
{
    char dir[] = "/tmp/podd-test-manifest.XXXXXX";
    _cleanup_free_ char *fifo = NULL, *big = NULL;
    _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
    _cleanup_free_ char *data = NULL;
    PdError e = {0};
    int fd;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    fifo = strdup_printf("%s/pipe.yaml", dir);
    big = strdup_printf("%s/big.yaml", dir);
    /* A FIFO must not block the reader: it is refused as not a regular file. */
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(manifest_load_at(AT_FDCWD, fifo, &f, &e), -EBADFD);
    ck_assert_str_eq(e.file, fifo);
    ck_assert(strstr(e.message, "not a regular file"));

    data = malloc(MANIFEST_MAX_BYTES + 1);
    memset(data, '#', MANIFEST_MAX_BYTES + 1);
    fd = open(big, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, MANIFEST_MAX_BYTES + 1), MANIFEST_MAX_BYTES + 1);
    (void)close(fd);
    e = (PdError){0};
    ck_assert_int_eq(manifest_load_at(AT_FDCWD, big, &f, &e), -EFBIG);
    ck_assert(strstr(e.message, "larger than 1048576 bytes"));

    ck_assert_int_eq(unlink(fifo), 0);
    ck_assert_int_eq(unlink(big), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_pod_to_json)
{
    _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
    _cleanup_json_ json_t *j = NULL;
    PdError e = {0};

    ck_assert_int_eq(parse("web.yaml",
                           POD_HEAD "  annotations:\n    podd.io/exit-policy: continue\n"
                                    "spec:\n  restartPolicy: OnFailure\n"
                                    "  containers:\n  - name: app\n    image: bb\n"
                                    "    resources:\n      limits: {cpu: 250m, memory: 64Mi}\n",
                           &f, &e),
                     0);
    ck_assert(manifest_file_ok(f));
    j = pod_to_json(f->docs[0].pod);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "exitPolicy")), "continue");
    ck_assert_str_eq(json_string_value(json_object_get(j, "restartPolicy")), "OnFailure");
    ck_assert_int_eq(
        json_integer_value(json_object_get(
            json_object_get(json_array_get(json_object_get(j, "containers"), 0), "resources"),
            "memoryLimitBytes")),
        64 << 20);
}
END_TEST

START_TEST(test_lifecycle_handler_copy)
{
    _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
    LifecycleHandler pre = {0}, post = {0};
    const Container *c;
    PdError e = {0};

    ck_assert_int_eq(parse("hooks.yaml",
                           POD_HEAD "spec:\n  containers:\n  - name: app\n    image: bb\n"
                                    "    ports: [{name: admin, containerPort: 8081}]\n"
                                    "    lifecycle:\n"
                                    "      postStart: {exec: {command: [sh, -c, 'echo up']}}\n"
                                    "      preStop:\n        httpGet:\n          port: admin\n"
                                    "          path: /drain\n          host: 127.0.0.1\n"
                                    "          httpHeaders: [{name: X-Why, value: stop}]\n",
                           &f, &e),
                     0);
    ck_assert(manifest_file_ok(f));
    c = &f->docs[0].pod->containers[0];
    ck_assert(lifecycle_handler_is_set(&c->post_start) && lifecycle_handler_is_set(&c->pre_stop));
    ck_assert_int_eq(lifecycle_handler_copy(&c->pre_stop, &pre), 0);
    ck_assert_int_eq(lifecycle_handler_copy(&c->post_start, &post), 0);
    /* A deep copy: the manifest can go, the stop still knows where to send its GET. */
    f = manifest_file_free(f);
    ck_assert_int_eq(pre.http_get.action, PROBE_ACTION_HTTP_GET);
    ck_assert_int_eq(pre.http_get.port, 8081);
    ck_assert_str_eq(pre.http_get.path, "/drain");
    ck_assert_str_eq(pre.http_get.host, "127.0.0.1");
    ck_assert_str_eq(pre.http_get.scheme, "HTTP");
    ck_assert_uint_eq(pre.http_get.n_http_headers, 1);
    ck_assert_str_eq(pre.http_get.http_headers[0].name, "X-Why");
    ck_assert_str_eq(pre.http_get.http_headers[0].value, "stop");
    ck_assert_ptr_null(pre.exec_command);
    ck_assert_str_eq(post.exec_command[2], "echo up");
    ck_assert_int_eq(post.http_get.action, PROBE_ACTION_NONE);
    lifecycle_handler_done(&pre);
    lifecycle_handler_done(&post);
    ck_assert(!lifecycle_handler_is_set(&pre) && !lifecycle_handler_is_set(&post));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("manifest");
    TCase *tc = tcase_create("manifest");
    SRunner *sr;
    int failed;

    tcase_add_loop_test(tc, test_quantity_cpu, 0, ELEMENTSOF(cpus));
    tcase_add_loop_test(tc, test_quantity_bytes, 0, ELEMENTSOF(memories));
    tcase_add_loop_test(tc, test_duration, 0, ELEMENTSOF(durations));
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_string_tables);
    tcase_add_test(tc, test_parse_minimal);
    tcase_add_test(tc, test_parse_multi_document);
    tcase_add_test(tc, test_hostile_encoding);
    tcase_add_test(tc, test_hostile_structure);
    tcase_add_test(tc, test_billion_laughs);
    tcase_add_test(tc, test_alias_bytes_budget);
    tcase_add_test(tc, test_aliases_within_budget);
    tcase_add_test(tc, test_load_limits);
    tcase_add_test(tc, test_pod_to_json);
    tcase_add_test(tc, test_lifecycle_handler_copy);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
