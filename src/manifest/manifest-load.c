/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "manifest-internal.h"

void diag_list_done(DiagList *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].path);
        free(l->items[i].message);
    }
    free(l->items);
    *l = (DiagList){0};
}

char *diag_format(const Diag *d, const char *file)
{
    return strdup_printf("%s:%u:%u: %s%s%s%s", file, d->line, d->column,
                         d->level == DIAG_WARNING ? "warning: " : "", d->path ? d->path : "",
                         d->path && *d->path ? ": " : "", d->message);
}

static void manifest_doc_done(ManifestDoc *d)
{
    free(d->name);
    pod_free(d->pod);
    json_decref(d->source);
    diag_list_done(&d->diags);
}

ManifestFile *manifest_file_free(ManifestFile *f)
{
    if (!f)
        return NULL;
    for (size_t i = 0; i < f->n_docs; i++)
        manifest_doc_done(&f->docs[i]);
    free(f->docs);
    free(f->name);
    free(f);
    return NULL;
}

bool manifest_file_ok(const ManifestFile *f)
{
    for (size_t i = 0; i < f->n_docs; i++)
        if (!f->docs[i].pod)
            return false;
    return f->n_docs > 0;
}

bool manifest_name_is_candidate(const char *name)
{
    if (!name[0] || name[0] == '.')
        return false;
    return endswith(name, ".yaml") || endswith(name, ".yml") || endswith(name, ".json");
}

bool dns_label_is_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

        if (!alnum && !(c == '-' && i > 0 && i < n - 1))
            return false;
    }
    return true;
}

static int add_doc(ManifestFile *f, const Node *doc, unsigned index)
{
    ManifestDoc *d, *nd;
    nd = reallocarray(f->docs, f->n_docs + 1, sizeof(ManifestDoc));
    if (!nd)
        return -ENOMEM;
    f->docs = nd;
    d = &nd[f->n_docs++];
    int r;

    *d = (ManifestDoc){.index = index, .pos = {doc->line, doc->column}};
    r = manifest_validate_document(doc, &d->pod, &d->name, &d->diags);
    if (r >= 0 && d->pod) {
        d->source = node_to_json(doc);
        if (!d->source)
            return -ENOMEM;
    }
    return r;
}

/* A kind: List holds documents as items; every other document stands for itself. */
/* A List whose wrapper is wrong becomes one failed document carrying the errors. */
static int add_failed_list(ManifestFile *f, const Node *doc, DiagList *diags)
{
    ManifestDoc *nd = reallocarray(f->docs, f->n_docs + 1, sizeof(ManifestDoc));

    if (!nd)
        return -ENOMEM;
    f->docs = nd;
    nd[f->n_docs] = (ManifestDoc){
        .index = (unsigned)f->n_docs, .pos = {doc->line, doc->column}, .diags = *diags};
    *diags = (DiagList){0};
    f->n_docs++;
    return 0;
}

/* A kind: List holds documents as items; every other document stands for itself. */
static int add_docs(ManifestFile *f, const Node *doc)
{
    const Node *kind = node_get(doc, "kind"), *items;
    _cleanup_(diag_list_done) DiagList diags = {0};
    int r;

    if (!kind || kind->type != NODE_SCALAR || kind->kind != SCALAR_STRING ||
        !streq(kind->scalar, "List"))
        return add_doc(f, doc, (unsigned)f->n_docs);
    r = manifest_validate_list(doc, &diags);
    if (r < 0)
        return r;
    if (diags.n_errors > 0)
        return add_failed_list(f, doc, &diags);
    items = node_get(doc, "items");
    for (size_t i = 0; i < items->n_items; i++) {
        r = add_doc(f, items->items[i], (unsigned)f->n_docs);
        if (r < 0)
            return r;
    }
    return 0;
}

/* A document with nothing in it (a trailing "---"): kubectl skips it, and so do we. */
static bool doc_is_empty(const Node *doc)
{
    return doc->type == NODE_SCALAR && doc->kind == SCALAR_NULL && doc->scalar_len == 0;
}

int manifest_parse_buffer(const char *name, const char *buf, size_t size, ManifestFormat format,
                          ManifestFile **ret, PdError *reterr)
{
    _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
    _cleanup_(node_docs_done) NodeDocs docs = {0};
    _cleanup_free_ char *joined = NULL;
    size_t n_nonempty = 0;
    int r;

    if (format == MANIFEST_FORMAT_AUTO)
        format = endswith(name, ".json") ? MANIFEST_FORMAT_JSON : MANIFEST_FORMAT_YAML;
    if (size > MANIFEST_MAX_BYTES)
        return pd_error_set_at(reterr, -EFBIG, 1, 1, "the file is larger than %u bytes (1 MiB)",
                               MANIFEST_MAX_BYTES);
    r = manifest_check_encoding(buf, size, reterr);
    if (r < 0)
        return r;
    if (format == MANIFEST_FORMAT_JSON) {
        /* jansson does not skip a UTF-8 byte order mark; libyaml does. */
        bool bom = size >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0;

        r = json_check_strict(buf + (bom ? 3 : 0), size - (bom ? 3 : 0), reterr);
        if (r < 0)
            return r;
        r = json_join_surrogate_escapes(buf, size, &joined, &size);
        if (r < 0)
            return pd_error_set(reterr, r, "out of memory");
        if (joined)
            buf = joined;
    }
    r = yaml_tree_parse(buf, size, &docs, reterr);
    if (r == -ENOMEM)
        return pd_error_set(reterr, r, "out of memory");
    if (r < 0)
        return r;
    for (size_t i = 0; i < docs.n; i++)
        n_nonempty += !doc_is_empty(docs.docs[i]);
    if (n_nonempty == 0)
        return pd_error_set_at(reterr, -ENODATA, 1, 1, "the file holds no document (empty)");

    f = calloc(1, sizeof(ManifestFile));
    if (!f)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    f->name = strdup(name);
    if (!f->name)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    for (size_t i = 0; i < docs.n; i++) {
        if (doc_is_empty(docs.docs[i]))
            continue;
        r = add_docs(f, docs.docs[i]);
        if (r < 0)
            return pd_error_set(reterr, r, "out of memory");
    }
    *ret = move_ptr(f);
    return 0;
}

int manifest_load_at(int dir_fd, const char *path, ManifestFile **ret, PdError *reterr)
{
    _cleanup_free_ char *buf = NULL;
    _cleanup_close_ int fd = -1;
    struct stat st;
    size_t size;
    int r;

    /* O_NONBLOCK: a FIFO named *.yaml must not block the caller. */
    fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        r = pd_error_set(reterr, -errno, "cannot open: %s", strerror(errno));
        pd_error_set_file(reterr, path);
        return r;
    }
    if (fstat(fd, &st) < 0) {
        r = pd_error_set(reterr, -errno, "cannot stat: %s", strerror(errno));
        pd_error_set_file(reterr, path);
        return r;
    }
    if (!S_ISREG(st.st_mode)) {
        r = pd_error_set(reterr, -EBADFD, "not a regular file");
        pd_error_set_file(reterr, path);
        return r;
    }
    r = read_fd_full(fd, MANIFEST_MAX_BYTES, &buf, &size);
    if (r == -EFBIG)
        r = pd_error_set_at(reterr, r, 1, 1, "the file is larger than %u bytes (1 MiB)",
                            MANIFEST_MAX_BYTES);
    else if (r < 0)
        r = pd_error_set(reterr, r, "cannot read: %s", strerror(-r));
    else
        r = manifest_parse_buffer(path, buf, size, MANIFEST_FORMAT_AUTO, ret, reterr);
    if (r < 0)
        pd_error_set_file(reterr, path);
    return r;
}
