/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#include "manifest-internal.h"

/*
 * Validation of one document tree into the Pod model. Every known key of
 * every object is listed in a table with its class: supported (parsed
 * into the model), ignored (meaningful only in a cluster: a warning), or
 * unsupported (a Kubernetes field podd does not implement: an error, since
 * ignoring it could weaken what the user asked for). Anything else is an
 * unknown field, with a "did you mean" suggestion. Validation goes on
 * after an error so that one run reports every problem of the document.
 */

/* ---- diagnostics ------------------------------------------------------------------- */

_printf_(5, 0) static void validate_vdiag(V *v, DiagLevel level, unsigned line, unsigned col,
                                          const char *fmt, va_list ap)
{
    Diag *nd, *d;
    char *msg = NULL;

    if (vasprintf(&msg, fmt, ap) < 0) {
        v->oom = true;
        return;
    }
    nd = reallocarray(v->diags->items, v->diags->n + 1, sizeof(Diag));
    if (!nd) {
        free(msg);
        v->oom = true;
        return;
    }
    v->diags->items = nd;
    d = &nd[v->diags->n];
    *d = (Diag){
        .level = level, .line = line, .column = col, .message = msg, .path = strdup(v->path)};
    if (!d->path) {
        free(msg);
        v->oom = true;
        return;
    }
    v->diags->n++;
    if (level == DIAG_ERROR)
        v->diags->n_errors++;
}

void validate_error(V *v, const Node *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    validate_vdiag(v, DIAG_ERROR, n->line, n->column, fmt, ap);
    va_end(ap);
}

void validate_warning(V *v, const Node *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    validate_vdiag(v, DIAG_WARNING, n->line, n->column, fmt, ap);
    va_end(ap);
}

/* ---- the field path ------------------------------------------------------------------- */

size_t validate_push(V *v, const char *fmt, ...)
{
    size_t old = v->len;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(v->path + v->len, sizeof(v->path) - v->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        v->len = v->len + (size_t)n < sizeof(v->path) ? v->len + (size_t)n : sizeof(v->path) - 1;
    return old;
}

size_t validate_push_key(V *v, const char *key)
{
    return validate_push(v, v->len ? ".%s" : "%s", key);
}

void validate_pop(V *v, size_t old)
{
    v->len = old;
    v->path[old] = 0;
}

/* ---- scalars -------------------------------------------------------------------------- */

bool validate_is(V *v, const Node *n, NodeType type, const char *what)
{
    if (n->type == type && !(type == NODE_SCALAR && n->kind == SCALAR_NULL))
        return true;
    if (n->type == NODE_SCALAR && n->kind == SCALAR_NULL)
        validate_error(v, n, "expected %s, got null (give a value or remove the key)", what);
    else
        validate_error(v, n, "expected %s, got %s", what, node_describe(n));
    return false;
}

/* Reports that n is not a scalar of the wanted kind; returns -EINVAL. */
static int validate_scalar_mismatch(V *v, const Node *n, const char *what)
{
    if (n->type == NODE_SCALAR && n->kind == SCALAR_NULL)
        validate_error(v, n, "expected %s, got null (give a value or remove the key)", what);
    else
        validate_error(v, n, "expected %s, got %s", what, node_describe(n));
    return -EINVAL;
}

int validate_string(V *v, const Node *n, char **ret)
{
    char *s;

    if (n->type != NODE_SCALAR || n->kind != SCALAR_STRING) {
        if (n->type == NODE_SCALAR && n->kind != SCALAR_NULL) {
            validate_error(v, n, "expected a string, got %s (quote it: \"%s\")", node_describe(n),
                           n->scalar);
            return -EINVAL;
        }
        return validate_scalar_mismatch(v, n, "a string");
    }
    s = strdup(n->scalar);
    if (!s) {
        v->oom = true;
        return -ENOMEM;
    }
    free(*ret);
    *ret = s;
    return 0;
}

int yaml_int_parse(const char *s, long long *ret)
{
    bool negative = false;
    int base = 10;
    unsigned long long u;
    char *end;

    if (*s == '-' || *s == '+')
        negative = *s++ == '-';
    if (startswith(s, "0x"))
        base = 16, s += 2;
    else if (startswith(s, "0o"))
        base = 8, s += 2;
    else if (s[0] == '0' && s[1])
        return -EDOM;
    errno = 0;
    u = strtoull(s, &end, base);
    if (errno == ERANGE || *end || end == s)
        return -ERANGE;
    if (negative ? u > (unsigned long long)LLONG_MAX + 1 : u > (unsigned long long)LLONG_MAX)
        return -ERANGE;
    *ret = negative ? (long long)(0 - u) : (long long)u;
    return 0;
}

static int validate_int(V *v, const Node *n, int64_t min, int64_t max, int64_t *ret)
{
    long long x;

    int r;

    if (n->type != NODE_SCALAR || n->kind != SCALAR_INT)
        return validate_scalar_mismatch(v, n, "an integer");
    r = yaml_int_parse(n->scalar, &x);
    if (r == -EDOM) {
        validate_error(v, n,
                       "'%s' is ambiguous: YAML 1.1 reads a leading zero as octal; write it "
                       "without the zero, or as 0o%s for octal",
                       n->scalar, n->scalar + strspn(n->scalar, "+-0"));
        return r;
    }
    if (r < 0) {
        validate_error(v, n, "number '%s' is out of range", n->scalar);
        return -ERANGE;
    }
    if (x < min || x > max) {
        if (min == 0 && x < 0)
            validate_error(v, n, "must not be negative (got %lld)", x);
        else
            validate_error(v, n, "must be between %" PRId64 " and %" PRId64 " (got %lld)", min, max,
                           x);
        return -ERANGE;
    }
    *ret = x;
    return 0;
}

int validate_dns_label(V *v, const Node *n, const char *what, char **ret)
{
    int r = validate_string(v, n, ret);

    if (r < 0)
        return r;
    if (!dns_label_is_valid(*ret)) {
        validate_error(v, n, "'%s' is not a valid %s (a DNS-1123 label)", *ret, what);
        return -EINVAL;
    }
    return 0;
}

int validate_int32(V *v, const Node *n, int64_t min, int64_t max, int32_t *ret)
{
    int64_t x;
    int r = validate_int(v, n, min, max, &x);

    if (r >= 0)
        *ret = (int32_t)x;
    return r;
}

static int validate_bool(V *v, const Node *n, bool *ret)
{
    if (n->type != NODE_SCALAR || n->kind != SCALAR_BOOL)
        return validate_scalar_mismatch(v, n, "a boolean (true or false)");
    *ret = n->scalar[0] == 't' || n->scalar[0] == 'T';
    return 0;
}

static int validate_tristate(V *v, const Node *n, int *ret)
{
    bool b;
    int r = validate_bool(v, n, &b);

    if (r >= 0)
        *ret = b;
    return r;
}

bool validate_list_alloc(V *v, const Node *n, size_t max, const char *what, size_t size, void **ret)
{
    void *a;

    if (!validate_is(v, n, NODE_SEQUENCE, "a list"))
        return false;
    if (n->n_items > max) {
        validate_error(v, n, "more than %zu %s", max, what);
        return false;
    }
    a = calloc(n->n_items ? n->n_items : 1, size);
    if (!a) {
        v->oom = true;
        return false;
    }
    *ret = a;
    return true;
}

int validate_strv(V *v, const Node *n, char ***ret)
{
    _cleanup_(strv_freep) char **l = NULL;
    int r = 0;

    if (!validate_is(v, n, NODE_SEQUENCE, "a list of strings"))
        return -EINVAL;
    if (n->n_items > MANIFEST_MAX_LIST) {
        validate_error(v, n, "more than %d entries", MANIFEST_MAX_LIST);
        return -E2BIG;
    }
    l = calloc(1, sizeof(char *));
    if (!l) {
        v->oom = true;
        return -ENOMEM;
    }
    for (size_t i = 0; i < n->n_items; i++) {
        size_t old = validate_push(v, "[%zu]", i);
        char *s = NULL;

        if (validate_string(v, n->items[i], &s) < 0)
            r = -EINVAL;
        else if (strv_push_take(&l, s) < 0)
            v->oom = true;
        validate_pop(v, old);
    }
    if (r < 0)
        return r;
    strv_free(*ret);
    *ret = move_ptr(l);
    return 0;
}

bool path_is_absolute(const char *s)
{
    return s[0] == '/';
}

/* A relative path with no ".." component (subPath, image-relative names). */
bool path_is_safe_relative(const char *s)
{
    const char *p = s;

    if (!*s || s[0] == '/')
        return false;
    while (*p) {
        size_t len = strcspn(p, "/");

        if (len == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += len;
        if (*p == '/')
            p++;
    }
    return true;
}

/* ---- field tables ----------------------------------------------------------------------- */

const Field *validate_field_find(const Field *fields, const char *key)
{
    for (const Field *f = fields; f->key; f++)
        if (streq(f->key, key))
            return f;
    return NULL;
}

static const char *field_suggest(const Field *fields, const char *key)
{
    const char *best = NULL;
    unsigned best_d = 3;

    for (const Field *f = fields; f->key; f++) {
        unsigned d;

        if (strcasecmp(f->key, key) == 0)
            return f->key;
        d = string_distance(f->key, key, 2);
        if (d < best_d) {
            best_d = d;
            best = f->key;
        }
    }
    return best;
}

static void shape_check(V *v, const Node *n, const Shape *s);

static void shape_check_object(V *v, const Node *n, const Shape *children)
{
    if (!validate_is(v, n, NODE_MAPPING, "a mapping") || !children)
        return;
    for (size_t i = 0; i < n->n_pairs; i++) {
        const Node *key = n->pairs[i].key;
        const Shape *c;
        size_t old = validate_push_key(v, key->scalar);

        for (c = children; c->key; c++)
            if (streq(c->key, key->scalar))
                break;
        if (!c->key)
            validate_error(v, key, "unknown field");
        else
            shape_check(v, n->pairs[i].value, c);
        validate_pop(v, old);
    }
}

static void shape_check(V *v, const Node *n, const Shape *s)
{
    switch (s->type) {
    case 's':
        if (n->type != NODE_SCALAR || n->kind != SCALAR_STRING)
            validate_error(v, n, "expected a string, got %s", node_describe(n));
        break;
    case 'i':
        if (n->type != NODE_SCALAR || n->kind != SCALAR_INT)
            validate_error(v, n, "expected an integer, got %s", node_describe(n));
        break;
    case 'b':
        if (n->type != NODE_SCALAR || n->kind != SCALAR_BOOL)
            validate_error(v, n, "expected a boolean, got %s", node_describe(n));
        break;
    case 'n':
        if (n->type != NODE_SCALAR || n->kind == SCALAR_NULL || n->kind == SCALAR_BOOL)
            validate_error(v, n, "expected a number or a string, got %s", node_describe(n));
        break;
    case 'm':
        if (!validate_is(v, n, NODE_MAPPING, "a mapping of strings"))
            break;
        for (size_t i = 0; i < n->n_pairs; i++)
            if (n->pairs[i].value->type != NODE_SCALAR ||
                n->pairs[i].value->kind != SCALAR_STRING) {
                size_t old = validate_push_key(v, n->pairs[i].key->scalar);

                validate_error(v, n->pairs[i].value, "expected a string, got %s",
                               node_describe(n->pairs[i].value));
                validate_pop(v, old);
            }
        break;
    case 'o':
        shape_check_object(v, n, s->children);
        break;
    case 'a':
        if (!validate_is(v, n, NODE_SEQUENCE, "a list"))
            break;
        for (size_t i = 0; i < n->n_items; i++) {
            size_t old = validate_push(v, "[%zu]", i);

            shape_check(v, n->items[i], &s->children[0]);
            validate_pop(v, old);
        }
        break;
    default:
        break;
    }
}

static void field_parse(V *v, const Field *f, const Node *n, void *obj)
{
    void *member = obj ? (char *)obj + f->offset : NULL;

    switch (f->value) {
    case FIELD_VALUE_STRING:
        (void)validate_string(v, n, member);
        break;
    case FIELD_VALUE_BOOL:
        (void)validate_bool(v, n, member);
        break;
    case FIELD_VALUE_TRISTATE:
        (void)validate_tristate(v, n, member);
        break;
    case FIELD_VALUE_INT:
        (void)validate_int(v, n, f->min, f->max, member);
        break;
    case FIELD_VALUE_INT32:
        (void)validate_int32(v, n, f->min, f->max, member);
        break;
    case FIELD_VALUE_PARSER:
    default:
        f->parse(v, n, obj);
        break;
    }
}

/*
 * Walks a mapping against a field table. Supported fields are parsed into
 * obj; ignored ones warn (after a shape check); unsupported and unknown
 * ones are errors. Returns false when n is not a mapping.
 */
bool validate_object(V *v, const Node *n, const Field *fields, void *obj)
{
    if (!validate_is(v, n, NODE_MAPPING, "a mapping"))
        return false;
    for (size_t i = 0; i < n->n_pairs; i++) {
        const Node *key = n->pairs[i].key, *value = n->pairs[i].value;
        const Field *f = validate_field_find(fields, key->scalar);
        size_t old = validate_push_key(v, key->scalar);

        if (!f) {
            const char *hint = field_suggest(fields, key->scalar);

            if (hint)
                validate_error(v, key, "unknown field; did you mean '%s'?", hint);
            else
                validate_error(v, key, "unknown field");
        } else if (f->cls == FIELD_IGNORED) {
            if (f->shape)
                shape_check(v, value, f->shape);
            validate_warning(v, key, "ignored: %s",
                             f->note ? f->note : "only meaningful in a cluster");
        } else if (f->cls == FIELD_UNSUPPORTED) {
            validate_error(v, key, "not supported by podd%s%s", f->note ? ": " : "",
                           f->note ? f->note : "");
        } else if (value->type == NODE_SCALAR && value->kind == SCALAR_NULL) {
            validate_error(v, value, "null value (give a value or remove the key)");
        } else {
            field_parse(v, f, value, obj);
        }
        validate_pop(v, old);
    }
    return true;
}

/* Reports "path.key: required" at the position of the enclosing mapping. */
bool validate_require(V *v, const Node *n, const char *key)
{
    size_t old;

    if (n->type != NODE_MAPPING || node_get(n, key))
        return true;
    old = validate_push_key(v, key);
    validate_error(v, n, "required");
    validate_pop(v, old);
    return false;
}

/* ---- names -------------------------------------------------------------------------------- */

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* DNS-1123 subdomain: labels of [a-z0-9-] joined by dots, at most 253 characters. */
static bool dns_subdomain_is_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return false;
        if ((c == '-' || c == '.') && (i == 0 || i == n - 1))
            return false;
    }
    return true;
}

/* The name part of a label key or value: [A-Za-z0-9] with "-_." inside, at most 63. */
static bool qualified_name_part_is_valid(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

bool qualified_name_is_valid(const char *s)
{
    const char *slash = strchr(s, '/');

    if (slash) {
        _cleanup_free_ char *prefix = strndup(s, (size_t)(slash - s));

        if (!prefix || !dns_subdomain_is_valid(prefix))
            return false;
        s = slash + 1;
    }
    return qualified_name_part_is_valid(s, strlen(s));
}

bool label_value_is_valid(const char *s)
{
    return !*s || qualified_name_part_is_valid(s, strlen(s));
}

/* IANA service name: 1-15 of [a-z0-9-], a letter somewhere, no "--", alnum at both ends. */
bool port_name_is_valid(const char *s)
{
    size_t n = strlen(s);
    bool letter = false;

    if (n == 0 || n > 15 || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 'a' && s[i] <= 'z')
            letter = true;
        else if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
            return false;
    }
    return letter;
}
