/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Walks tests/data/manifests/{valid,invalid}/<case>/: each case holds
 * pod.yaml (or pod.json) and either expected.json (the Pod model of every
 * document, as pod_to_json() writes it: an object for one document, an
 * array for several) or expected-error (lines "line:col: message" that
 * must all be among the reported errors). A new case needs no C.
 * PODD_UPDATE_EXPECTED=1 rewrites expected.json from the current output.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>

#include "manifest/manifest.h"
#include "reconcile/reconcile.h"

static char **cases; /* "valid/NAME" or "invalid/NAME" */
static const char *corpus_dir;

static char *case_input(const char *dir)
{
    static const char *const names[] = {"pod.yaml", "pod.json", "pod.yml"};

    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        char *p = strdup_printf("%s/%s", dir, names[i]);

        if (p && access(p, F_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

static char *read_text(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf = NULL;

    if (fd < 0 || read_fd_full(fd, 4 * 1024 * 1024, &buf, NULL) < 0)
        return NULL;
    return buf;
}

/* Every error of the file as "line:col: path: message", one per line. */
static char *collect_errors(const ManifestFile *f, const PdError *e)
{
    StrBuf b = {0};

    if (!f) {
        (void)strbuf_printf(&b, "%u:%u: %s\n", e->line, e->column, e->message);
        return b.data;
    }
    for (size_t i = 0; i < f->n_docs; i++) {
        const ManifestDoc *d = &f->docs[i];

        for (size_t j = 0; j < d->diags.n; j++)
            if (d->diags.items[j].level == DIAG_ERROR)
                (void)strbuf_printf(&b, "%u:%u: %s%s%s\n", d->diags.items[j].line,
                                    d->diags.items[j].column, d->diags.items[j].path,
                                    d->diags.items[j].path[0] ? ": " : "",
                                    d->diags.items[j].message);
        if (d->pod) {
            _cleanup_(graph_freep) Graph *g = NULL;
            PdError ge = {0};

            if (reconcile_pod_graph(d->pod, &g, &ge) < 0)
                (void)strbuf_printf(&b, "%u:%u: %s\n", ge.line, ge.column, ge.message);
        }
    }
    if (!b.data)
        (void)strbuf_append(&b, "", 0);
    return b.data;
}

static json_t *model_json(const ManifestFile *f)
{
    json_t *a;

    if (f->n_docs == 1)
        return pod_to_json(f->docs[0].pod);
    a = json_array();
    for (size_t i = 0; a && i < f->n_docs; i++)
        (void)json_array_append_new(a, pod_to_json(f->docs[i].pod));
    return a;
}

START_TEST(test_corpus_case)
{
    const char *name = cases[_i];
    _cleanup_free_ char *dir = strdup_printf("%s/%s", corpus_dir, name);
    _cleanup_free_ char *input = case_input(dir);
    _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
    _cleanup_free_ char *errors = NULL;
    PdError e = {0};
    int r;

    ck_assert_msg(input, "%s: no pod.yaml or pod.json", name);
    r = manifest_load_at(AT_FDCWD, input, &f, &e);
    errors = collect_errors(r < 0 ? NULL : f, &e);
    ck_assert_ptr_nonnull(errors);

    if (startswith(name, "valid/")) {
        _cleanup_free_ char *expected_path = strdup_printf("%s/expected.json", dir);
        _cleanup_json_ json_t *actual = NULL, *expected = NULL;
        json_error_t jerr;

        ck_assert_msg(r >= 0 && manifest_file_ok(f) && !errors[0], "%s: rejected:\n%s", name,
                      errors);
        actual = model_json(f);
        ck_assert_ptr_nonnull(actual);
        if (getenv("PODD_UPDATE_EXPECTED"))
            ck_assert_int_eq(json_dump_file(actual, expected_path, JSON_INDENT(2) | JSON_SORT_KEYS),
                             0);
        expected = json_load_file(expected_path, 0, &jerr);
        ck_assert_msg(expected, "%s: cannot read expected.json: %s", name, jerr.text);
        if (!json_equal(actual, expected)) {
            _cleanup_free_ char *dump = json_dumps(actual, JSON_INDENT(2) | JSON_SORT_KEYS);

            ck_abort_msg("%s: model differs from expected.json; got:\n%s", name, dump);
        }
    } else {
        _cleanup_free_ char *expected_path = strdup_printf("%s/expected-error", dir);
        _cleanup_free_ char *expected = read_text(expected_path);
        char *save = NULL;

        ck_assert_msg(expected, "%s: no expected-error file", name);
        ck_assert_msg(errors[0], "%s: accepted, but it must be rejected", name);
        for (char *line = strtok_r(expected, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            _cleanup_free_ char *needle = strdup_printf("%s\n", line);

            if (!line[0])
                continue;
            ck_assert_msg(strstr(errors, needle), "%s: expected error\n  %s\nnot among:\n%s", name,
                          line, errors);
        }
    }
}
END_TEST

static int compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void scan(const char *kind)
{
    _cleanup_free_ char *path = strdup_printf("%s/%s", corpus_dir, kind);
    DIR *d = opendir(path);
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            (void)strv_push_take(&cases, strdup_printf("%s/%s", kind, de->d_name));
    (void)closedir(d);
}

int main(void)
{
    const char *srcdir = getenv("PODD_SRCDIR");
    _cleanup_free_ char *dir = strdup_printf("%s/tests/data/manifests", srcdir ? srcdir : ".");
    Suite *s = suite_create("manifest-corpus");
    TCase *tc = tcase_create("corpus");
    SRunner *sr;
    int failed;

    corpus_dir = dir;
    scan("valid");
    scan("invalid");
    if (!cases) {
        fprintf(stderr, "no corpus cases under %s\n", dir);
        return 1;
    }
    qsort(cases, strv_length(cases), sizeof(char *), compare);
    tcase_add_loop_test(tc, test_corpus_case, 0, (int)strv_length(cases));
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    strv_free(cases);
    return failed == 0 ? 0 : 1;
}
