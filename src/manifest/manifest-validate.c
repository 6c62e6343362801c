/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <limits.h>
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

#define PATH_MAX_LEN 1024
#define ANNOTATIONS_MAX_BYTES (256 * 1024)

typedef struct V {
    DiagList *diags;
    char path[PATH_MAX_LEN];
    size_t len;
    bool oom;
} V;

/* ---- diagnostics ------------------------------------------------------------------- */

static void v_vdiag(V *v, DiagLevel level, unsigned line, unsigned col, const char *fmt,
                    va_list ap)
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
    *d = (Diag){.level = level, .line = line, .column = col, .message = msg,
                .path = strdup(v->path)};
    if (!d->path) {
        free(msg);
        v->oom = true;
        return;
    }
    v->diags->n++;
    if (level == DIAG_ERROR)
        v->diags->n_errors++;
}

_printf_(3, 4) static void v_error(V *v, const Node *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    v_vdiag(v, DIAG_ERROR, n->line, n->column, fmt, ap);
    va_end(ap);
}

_printf_(3, 4) static void v_warning(V *v, const Node *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    v_vdiag(v, DIAG_WARNING, n->line, n->column, fmt, ap);
    va_end(ap);
}

/* ---- the field path ------------------------------------------------------------------- */

_printf_(2, 3) static size_t v_push(V *v, const char *fmt, ...)
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

static size_t v_push_key(V *v, const char *key)
{
    return v_push(v, v->len ? ".%s" : "%s", key);
}

static void v_pop(V *v, size_t old)
{
    v->len = old;
    v->path[old] = 0;
}

/* ---- scalars -------------------------------------------------------------------------- */

static bool v_is(V *v, const Node *n, NodeType type, const char *what)
{
    if (n->type == type && !(type == NODE_SCALAR && n->kind == SCALAR_NULL))
        return true;
    if (n->type == NODE_SCALAR && n->kind == SCALAR_NULL)
        v_error(v, n, "expected %s, got null (give a value or remove the key)", what);
    else
        v_error(v, n, "expected %s, got %s", what, node_describe(n));
    return false;
}

static int v_string(V *v, const Node *n, char **ret)
{
    char *s;

    if (n->type != NODE_SCALAR || n->kind != SCALAR_STRING) {
        if (n->type == NODE_SCALAR && n->kind != SCALAR_NULL)
            v_error(v, n, "expected a string, got %s (quote it: \"%s\")", node_describe(n),
                    n->scalar);
        else
            (void)v_is(v, n, NODE_SCALAR, "a string");
        return -EINVAL;
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

/* YAML 1.2 core integers: decimal (leading zeros stay decimal), 0x hex, 0o octal. */
static int yaml_int_parse(const char *s, long long *ret)
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
    errno = 0;
    u = strtoull(s, &end, base);
    if (errno == ERANGE || *end || end == s)
        return -ERANGE;
    if (negative ? u > (unsigned long long)LLONG_MAX + 1 : u > (unsigned long long)LLONG_MAX)
        return -ERANGE;
    *ret = negative ? (long long)(0 - u) : (long long)u;
    return 0;
}

static int v_int(V *v, const Node *n, int64_t min, int64_t max, int64_t *ret)
{
    long long x;

    if (n->type != NODE_SCALAR || n->kind != SCALAR_INT) {
        if (n->type == NODE_SCALAR && n->kind == SCALAR_STRING)
            v_error(v, n, "expected an integer, got a string");
        else
            (void)v_is(v, n, NODE_SCALAR, "an integer");
        return -EINVAL;
    }
    if (yaml_int_parse(n->scalar, &x) < 0) {
        v_error(v, n, "number '%s' is out of range", n->scalar);
        return -ERANGE;
    }
    if (x < min || x > max) {
        if (min == 0 && x < 0)
            v_error(v, n, "must not be negative (got %lld)", x);
        else
            v_error(v, n, "must be between %" PRId64 " and %" PRId64 " (got %lld)", min, max, x);
        return -ERANGE;
    }
    *ret = x;
    return 0;
}

static int v_int32(V *v, const Node *n, int64_t min, int64_t max, int32_t *ret)
{
    int64_t x;
    int r = v_int(v, n, min, max, &x);

    if (r >= 0)
        *ret = (int32_t)x;
    return r;
}

static int v_bool(V *v, const Node *n, bool *ret)
{
    if (n->type != NODE_SCALAR || n->kind != SCALAR_BOOL) {
        if (n->type == NODE_SCALAR && n->kind == SCALAR_STRING)
            v_error(v, n, "expected a boolean (true or false), got a string");
        else
            (void)v_is(v, n, NODE_SCALAR, "a boolean (true or false)");
        return -EINVAL;
    }
    *ret = n->scalar[0] == 't' || n->scalar[0] == 'T';
    return 0;
}

static int v_tristate(V *v, const Node *n, int *ret)
{
    bool b;
    int r = v_bool(v, n, &b);

    if (r >= 0)
        *ret = b;
    return r;
}

static int v_strv(V *v, const Node *n, char ***ret)
{
    _cleanup_(strv_freep) char **l = NULL;
    int r = 0;

    if (!v_is(v, n, NODE_SEQUENCE, "a list of strings"))
        return -EINVAL;
    if (n->n_items > MANIFEST_MAX_LIST) {
        v_error(v, n, "more than %d entries", MANIFEST_MAX_LIST);
        return -E2BIG;
    }
    l = calloc(1, sizeof(char *));
    if (!l) {
        v->oom = true;
        return -ENOMEM;
    }
    for (size_t i = 0; i < n->n_items; i++) {
        size_t old = v_push(v, "[%zu]", i);
        char *s = NULL;

        if (v_string(v, n->items[i], &s) < 0)
            r = -EINVAL;
        else if (strv_push_take(&l, s) < 0)
            v->oom = true;
        v_pop(v, old);
    }
    if (r < 0)
        return r;
    strv_free(*ret);
    *ret = move_ptr(l);
    return 0;
}

static bool is_absolute_path(const char *s)
{
    return s[0] == '/';
}

/* A relative path with no ".." component (subPath, image-relative names). */
static bool is_safe_relative_path(const char *s)
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

typedef enum FieldClass {
    FIELD_SUPPORTED,
    FIELD_IGNORED,     /* meaningful only in a cluster: warning */
    FIELD_UNSUPPORTED, /* a Kubernetes field podd does not implement: error */
} FieldClass;

typedef struct Shape Shape;

typedef struct Field {
    const char *key;
    FieldClass cls;
    void (*parse)(V *v, const Node *n, void *obj);
    const char *note;    /* the why, for ignored and unsupported fields */
    const Shape *shape;  /* ignored fields: the Kubernetes shape still checked */
} Field;

/*
 * The shape of ignored fields: podd does nothing with them, but an
 * accepted manifest must still be a valid Kubernetes Pod.
 * type: 's' string, 'i' integer, 'b' boolean, 'm' map of strings,
 * 'o' object (keys listed in children, NULL children: any keys),
 * 'a' list (children[0] describes the items), 'n' number or string.
 */
struct Shape {
    const char *key;
    char type;
    const Shape *children;
};

static const Field *field_find(const Field *fields, const char *key)
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
    if (!v_is(v, n, NODE_MAPPING, "a mapping") || !children)
        return;
    for (size_t i = 0; i < n->n_pairs; i++) {
        const Node *key = n->pairs[i].key;
        const Shape *c;
        size_t old = v_push_key(v, key->scalar);

        for (c = children; c->key; c++)
            if (streq(c->key, key->scalar))
                break;
        if (!c->key)
            v_error(v, key, "unknown field");
        else
            shape_check(v, n->pairs[i].value, c);
        v_pop(v, old);
    }
}

static void shape_check(V *v, const Node *n, const Shape *s)
{
    switch (s->type) {
    case 's':
        if (n->type != NODE_SCALAR || n->kind != SCALAR_STRING)
            v_error(v, n, "expected a string, got %s", node_describe(n));
        break;
    case 'i':
        if (n->type != NODE_SCALAR || n->kind != SCALAR_INT)
            v_error(v, n, "expected an integer, got %s", node_describe(n));
        break;
    case 'b':
        if (n->type != NODE_SCALAR || n->kind != SCALAR_BOOL)
            v_error(v, n, "expected a boolean, got %s", node_describe(n));
        break;
    case 'n':
        if (n->type != NODE_SCALAR || n->kind == SCALAR_NULL || n->kind == SCALAR_BOOL)
            v_error(v, n, "expected a number or a string, got %s", node_describe(n));
        break;
    case 'm':
        if (!v_is(v, n, NODE_MAPPING, "a mapping of strings"))
            break;
        for (size_t i = 0; i < n->n_pairs; i++)
            if (n->pairs[i].value->type != NODE_SCALAR ||
                n->pairs[i].value->kind != SCALAR_STRING) {
                size_t old = v_push_key(v, n->pairs[i].key->scalar);

                v_error(v, n->pairs[i].value, "expected a string, got %s",
                        node_describe(n->pairs[i].value));
                v_pop(v, old);
            }
        break;
    case 'o':
        shape_check_object(v, n, s->children);
        break;
    case 'a':
        if (!v_is(v, n, NODE_SEQUENCE, "a list"))
            break;
        for (size_t i = 0; i < n->n_items; i++) {
            size_t old = v_push(v, "[%zu]", i);

            shape_check(v, n->items[i], &s->children[0]);
            v_pop(v, old);
        }
        break;
    default:
        break;
    }
}

/*
 * Walks a mapping against a field table. Supported fields are parsed into
 * obj; ignored ones warn (after a shape check); unsupported and unknown
 * ones are errors. Returns false when n is not a mapping.
 */
static bool v_object(V *v, const Node *n, const Field *fields, void *obj)
{
    if (!v_is(v, n, NODE_MAPPING, "a mapping"))
        return false;
    for (size_t i = 0; i < n->n_pairs; i++) {
        const Node *key = n->pairs[i].key, *value = n->pairs[i].value;
        const Field *f = field_find(fields, key->scalar);
        size_t old = v_push_key(v, key->scalar);

        if (!f) {
            const char *hint = field_suggest(fields, key->scalar);

            if (hint)
                v_error(v, key, "unknown field; did you mean '%s'?", hint);
            else
                v_error(v, key, "unknown field");
        } else if (f->cls == FIELD_IGNORED) {
            if (f->shape)
                shape_check(v, value, f->shape);
            v_warning(v, key, "ignored: %s", f->note ? f->note : "only meaningful in a cluster");
        } else if (f->cls == FIELD_UNSUPPORTED) {
            v_error(v, key, "not supported by podd%s%s", f->note ? ": " : "",
                    f->note ? f->note : "");
        } else if (value->type == NODE_SCALAR && value->kind == SCALAR_NULL) {
            v_error(v, value, "null value (give a value or remove the key)");
        } else {
            f->parse(v, value, obj);
        }
        v_pop(v, old);
    }
    return true;
}

/* Reports "path.key: required" at the position of the enclosing mapping. */
static bool v_require(V *v, const Node *n, const char *key)
{
    size_t old;

    if (n->type != NODE_MAPPING || node_get(n, key))
        return true;
    old = v_push_key(v, key);
    v_error(v, n, "required");
    v_pop(v, old);
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

static bool qualified_name_is_valid(const char *s)
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

static bool label_value_is_valid(const char *s)
{
    return !*s || qualified_name_part_is_valid(s, strlen(s));
}

/* IANA service name: 1-15 of [a-z0-9-], a letter somewhere, no "--", alnum at both ends. */
static bool port_name_is_valid(const char *s)
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

static const char *const capability_names[] = {
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE", "ALL",
    NULL,
};

/* ---- metadata ------------------------------------------------------------------------------ */

static void parse_name(V *v, const Node *n, void *obj)
{
    Pod *p = obj;

    if (v_string(v, n, &p->name) < 0)
        return;
    if (!dns_label_is_valid(p->name))
        v_error(v, n,
                "'%s' is not a valid name: use at most 63 lower case letters, digits and '-', "
                "starting and ending with a letter or digit",
                p->name);
}

static void parse_namespace(V *v, const Node *n, void *obj)
{
    Pod *p = obj;

    if (v_string(v, n, &p->namespace) < 0)
        return;
    if (!dns_label_is_valid(p->namespace))
        v_error(v, n, "'%s' is not a valid namespace (a DNS-1123 label)", p->namespace);
}

static int str_map_parse(V *v, const Node *n, StrMap *m, bool labels)
{
    size_t total = 0;

    if (!v_is(v, n, NODE_MAPPING, "a mapping of strings"))
        return -EINVAL;
    m->items = calloc(n->n_pairs ? n->n_pairs : 1, sizeof(StrPair));
    if (!m->items) {
        v->oom = true;
        return -ENOMEM;
    }
    for (size_t i = 0; i < n->n_pairs; i++) {
        const Node *key = n->pairs[i].key, *value = n->pairs[i].value;
        size_t old = v_push(v, "[\"%s\"]", key->scalar);
        char *s = NULL;

        if (!qualified_name_is_valid(key->scalar))
            v_error(v, key,
                    "'%s' is not a valid key: an optional DNS prefix and '/', then at most 63 "
                    "letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
                    key->scalar);
        if (v_string(v, value, &s) >= 0) {
            if (labels && !label_value_is_valid(s))
                v_error(v, value,
                        "'%s' is not a valid label value: at most 63 letters, digits, '-', '_' "
                        "or '.', starting and ending with a letter or digit",
                        s);
            total += strlen(key->scalar) + strlen(s);
            m->items[m->n].key = strdup(key->scalar);
            m->items[m->n].value = s;
            if (!m->items[m->n].key)
                v->oom = true;
            m->n++;
        }
        v_pop(v, old);
    }
    if (!labels && total > ANNOTATIONS_MAX_BYTES)
        v_error(v, n, "annotations hold more than %d bytes", ANNOTATIONS_MAX_BYTES);
    return 0;
}

static void parse_labels(V *v, const Node *n, void *obj)
{
    (void)str_map_parse(v, n, &((Pod *)obj)->labels, true);
}

static void parse_annotations(V *v, const Node *n, void *obj)
{
    (void)str_map_parse(v, n, &((Pod *)obj)->annotations, false);
}

static const Field metadata_fields[] = {
    {"name", FIELD_SUPPORTED, parse_name, NULL, NULL},
    {"namespace", FIELD_SUPPORTED, parse_namespace, NULL, NULL},
    {"labels", FIELD_SUPPORTED, parse_labels, NULL, NULL},
    {"annotations", FIELD_SUPPORTED, parse_annotations, NULL, NULL},
    {"generateName", FIELD_UNSUPPORTED, NULL, "podd needs a fixed metadata.name", NULL},
    {"uid", FIELD_IGNORED, NULL, "set by a cluster", &(Shape){NULL, 's', NULL}},
    {"resourceVersion", FIELD_IGNORED, NULL, "set by a cluster", &(Shape){NULL, 's', NULL}},
    {"generation", FIELD_IGNORED, NULL, "set by a cluster", &(Shape){NULL, 'i', NULL}},
    {"creationTimestamp", FIELD_IGNORED, NULL, "set by a cluster", &(Shape){NULL, 'n', NULL}},
    {"deletionTimestamp", FIELD_IGNORED, NULL, "set by a cluster", &(Shape){NULL, 's', NULL}},
    {"deletionGracePeriodSeconds", FIELD_IGNORED, NULL, "set by a cluster",
     &(Shape){NULL, 'i', NULL}},
    {"selfLink", FIELD_IGNORED, NULL, "set by a cluster", &(Shape){NULL, 's', NULL}},
    {"managedFields", FIELD_IGNORED, NULL, "set by a cluster", &(Shape){NULL, 'a',
     (const Shape[]){{NULL, 'o', NULL}}}},
    {"ownerReferences", FIELD_IGNORED, NULL, "only meaningful in a cluster",
     &(Shape){NULL, 'a', (const Shape[]){{NULL, 'o', NULL}}}},
    {"finalizers", FIELD_IGNORED, NULL, "only meaningful in a cluster",
     &(Shape){NULL, 'a', (const Shape[]){{NULL, 's', NULL}}}},
    {NULL, 0, NULL, NULL, NULL},
};

/* ---- containers --------------------------------------------------------------------------- */

static void parse_container_name(V *v, const Node *n, void *obj)
{
    Container *c = obj;

    if (v_string(v, n, &c->name) < 0)
        return;
    if (!dns_label_is_valid(c->name))
        v_error(v, n,
                "'%s' is not a valid container name: use at most 63 lower case letters, digits "
                "and '-', starting and ending with a letter or digit",
                c->name);
}

static void parse_image(V *v, const Node *n, void *obj)
{
    Container *c = obj;

    if (v_string(v, n, &c->image) < 0)
        return;
    if (!c->image[0]) {
        v_error(v, n, "must not be empty");
        return;
    }
    for (const char *s = c->image; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f) {
            v_error(v, n, "'%s' is not a valid image: no spaces or control characters", c->image);
            return;
        }
}

static void parse_command(V *v, const Node *n, void *obj)
{
    (void)v_strv(v, n, &((Container *)obj)->command);
}

static void parse_args(V *v, const Node *n, void *obj)
{
    (void)v_strv(v, n, &((Container *)obj)->args);
}

static void parse_working_dir(V *v, const Node *n, void *obj)
{
    Container *c = obj;

    if (v_string(v, n, &c->working_dir) >= 0 && !is_absolute_path(c->working_dir))
        v_error(v, n, "'%s' is not an absolute path", c->working_dir);
}

static void parse_env_name(V *v, const Node *n, void *obj)
{
    EnvVar *e = obj;

    if (v_string(v, n, &e->name) < 0)
        return;
    if (!e->name[0] || strchr(e->name, '='))
        v_error(v, n, "'%s' is not a valid variable name (not empty, no '=')", e->name);
}

static void parse_env_value(V *v, const Node *n, void *obj)
{
    (void)v_string(v, n, &((EnvVar *)obj)->value);
}

static const Field env_fields[] = {
    {"name", FIELD_SUPPORTED, parse_env_name, NULL, NULL},
    {"value", FIELD_SUPPORTED, parse_env_value, NULL, NULL},
    {"valueFrom", FIELD_UNSUPPORTED, NULL,
     "podd has no ConfigMaps, Secrets or downward API; give the value inline", NULL},
    {NULL, 0, NULL, NULL, NULL},
};

static void parse_env(V *v, const Node *n, void *obj)
{
    Container *c = obj;

    if (!v_is(v, n, NODE_SEQUENCE, "a list"))
        return;
    if (n->n_items > MANIFEST_MAX_LIST) {
        v_error(v, n, "more than %d entries", MANIFEST_MAX_LIST);
        return;
    }
    c->env = calloc(n->n_items ? n->n_items : 1, sizeof(EnvVar));
    if (!c->env) {
        v->oom = true;
        return;
    }
    for (size_t i = 0; i < n->n_items; i++) {
        size_t old = v_push(v, "[%zu]", i);
        EnvVar *e = &c->env[c->n_env++];

        if (v_object(v, n->items[i], env_fields, e)) {
            v_require(v, n->items[i], "name");
            if (!e->value && !node_get(n->items[i], "valueFrom"))
                e->value = strdup("");
        }
        if (!e->name)
            e->name = strdup("");
        if (!e->value)
            e->value = strdup("");
        if (!e->name || !e->value)
            v->oom = true;
        v_pop(v, old);
    }
}

static void parse_port_container_port(V *v, const Node *n, void *obj)
{
    (void)v_int32(v, n, 1, 65535, &((ContainerPort *)obj)->container_port);
}

static void parse_port_host_port(V *v, const Node *n, void *obj)
{
    (void)v_int32(v, n, 0, 65535, &((ContainerPort *)obj)->host_port);
}

static void parse_port_protocol(V *v, const Node *n, void *obj)
{
    ContainerPort *p = obj;

    if (v_string(v, n, &p->protocol) < 0)
        return;
    if (streq(p->protocol, "TCP") || streq(p->protocol, "UDP") || streq(p->protocol, "SCTP"))
        return;
    if (strcasecmp(p->protocol, "TCP") == 0 || strcasecmp(p->protocol, "UDP") == 0 ||
        strcasecmp(p->protocol, "SCTP") == 0) {
        /* podman accepts lower case; Kubernetes does not: run it, but say so. */
        v_warning(v, n, "'%s' read as upper case; Kubernetes accepts only TCP, UDP or SCTP",
                  p->protocol);
        for (char *c = p->protocol; *c; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
        return;
    }
    v_error(v, n, "'%s' is not a protocol: use TCP, UDP or SCTP", p->protocol);
}

static void parse_port_name(V *v, const Node *n, void *obj)
{
    ContainerPort *p = obj;

    if (v_string(v, n, &p->name) >= 0 && !port_name_is_valid(p->name))
        v_error(v, n,
                "'%s' is not a valid port name: 1-15 lower case letters, digits and '-', with "
                "at least one letter",
                p->name);
}

static void parse_port_host_ip(V *v, const Node *n, void *obj)
{
    (void)v_string(v, n, &((ContainerPort *)obj)->host_ip);
}

static const Field port_fields[] = {
    {"containerPort", FIELD_SUPPORTED, parse_port_container_port, NULL, NULL},
    {"hostPort", FIELD_SUPPORTED, parse_port_host_port, NULL, NULL},
    {"protocol", FIELD_SUPPORTED, parse_port_protocol, NULL, NULL},
    {"name", FIELD_SUPPORTED, parse_port_name, NULL, NULL},
    {"hostIP", FIELD_SUPPORTED, parse_port_host_ip, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL},
};

static void parse_ports(V *v, const Node *n, void *obj)
{
    Container *c = obj;

    if (!v_is(v, n, NODE_SEQUENCE, "a list"))
        return;
    if (n->n_items > MANIFEST_MAX_LIST) {
        v_error(v, n, "more than %d entries", MANIFEST_MAX_LIST);
        return;
    }
    c->ports = calloc(n->n_items ? n->n_items : 1, sizeof(ContainerPort));
    if (!c->ports) {
        v->oom = true;
        return;
    }
    for (size_t i = 0; i < n->n_items; i++) {
        size_t old = v_push(v, "[%zu]", i);
        ContainerPort *p = &c->ports[c->n_ports++];

        p->host_port = UNSET;
        if (v_object(v, n->items[i], port_fields, p)) {
            v_require(v, n->items[i], "containerPort");
            for (size_t j = 0; p->name && j + 1 < c->n_ports; j++)
                if (c->ports[j].name && streq(c->ports[j].name, p->name))
                    v_error(v, n->items[i], "duplicate port name '%s'", p->name);
        }
        if (p->host_port == 0)
            p->host_port = UNSET;
        if (!p->protocol && !(p->protocol = strdup("TCP")))
            v->oom = true;
        v_pop(v, old);
    }
}

static void parse_mount_name(V *v, const Node *n, void *obj)
{
    (void)v_string(v, n, &((VolumeMount *)obj)->name);
}

static void parse_mount_path(V *v, const Node *n, void *obj)
{
    VolumeMount *m = obj;

    if (v_string(v, n, &m->mount_path) >= 0 && !is_absolute_path(m->mount_path))
        v_error(v, n, "'%s' is not an absolute path", m->mount_path);
    else if (m->mount_path && strchr(m->mount_path, ':'))
        v_error(v, n, "'%s' must not contain ':'", m->mount_path);
}

static void parse_mount_sub_path(V *v, const Node *n, void *obj)
{
    VolumeMount *m = obj;

    if (v_string(v, n, &m->sub_path) >= 0 && !is_safe_relative_path(m->sub_path))
        v_error(v, n, "'%s' must be a relative path without '..'", m->sub_path);
}

static void parse_mount_read_only(V *v, const Node *n, void *obj)
{
    (void)v_bool(v, n, &((VolumeMount *)obj)->read_only);
}

static const Field mount_fields[] = {
    {"name", FIELD_SUPPORTED, parse_mount_name, NULL, NULL},
    {"mountPath", FIELD_SUPPORTED, parse_mount_path, NULL, NULL},
    {"subPath", FIELD_SUPPORTED, parse_mount_sub_path, NULL, NULL},
    {"readOnly", FIELD_SUPPORTED, parse_mount_read_only, NULL, NULL},
    {"mountPropagation", FIELD_UNSUPPORTED, NULL, "mounts are always private", NULL},
    {"subPathExpr", FIELD_UNSUPPORTED, NULL, "use subPath", NULL},
    {"recursiveReadOnly", FIELD_UNSUPPORTED, NULL, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL},
};

static void parse_volume_mounts(V *v, const Node *n, void *obj)
{
    Container *c = obj;

    if (!v_is(v, n, NODE_SEQUENCE, "a list"))
        return;
    if (n->n_items > MANIFEST_MAX_LIST) {
        v_error(v, n, "more than %d entries", MANIFEST_MAX_LIST);
        return;
    }
    c->volume_mounts = calloc(n->n_items ? n->n_items : 1, sizeof(VolumeMount));
    if (!c->volume_mounts) {
        v->oom = true;
        return;
    }
    for (size_t i = 0; i < n->n_items; i++) {
        size_t old = v_push(v, "[%zu]", i);
        VolumeMount *m = &c->volume_mounts[c->n_volume_mounts++];

        m->pos = (SourcePos){n->items[i]->line, n->items[i]->column};
        if (v_object(v, n->items[i], mount_fields, m)) {
            v_require(v, n->items[i], "name");
            v_require(v, n->items[i], "mountPath");
            for (size_t j = 0; m->mount_path && j + 1 < c->n_volume_mounts; j++)
                if (c->volume_mounts[j].mount_path &&
                    streq(c->volume_mounts[j].mount_path, m->mount_path))
                    v_error(v, n->items[i], "mountPath '%s' is mounted twice", m->mount_path);
        }
        v_pop(v, old);
    }
}

/* ---- resources ---------------------------------------------------------------------------- */

static void parse_resource_list(V *v, const Node *n, int64_t *cpu, int64_t *memory)
{
    if (!v_is(v, n, NODE_MAPPING, "a mapping of quantities"))
        return;
    for (size_t i = 0; i < n->n_pairs; i++) {
        const Node *key = n->pairs[i].key, *value = n->pairs[i].value;
        size_t old = v_push_key(v, key->scalar);
        bool is_cpu = streq(key->scalar, "cpu");
        int r;

        if (!is_cpu && !streq(key->scalar, "memory")) {
            if (streq(key->scalar, "ephemeral-storage") || startswith(key->scalar, "hugepages-") ||
                strchr(key->scalar, '/'))
                v_error(v, key, "not supported by podd: it enforces cpu and memory only");
            else if (string_distance(key->scalar, "memory", 2) <= 2 ||
                     string_distance(key->scalar, "cpu", 1) <= 1)
                v_error(v, key, "unknown resource; did you mean '%s'?",
                        string_distance(key->scalar, "cpu", 1) <= 1 ? "cpu" : "memory");
            else
                v_error(v, key, "unknown resource: use cpu or memory");
        } else if (value->type != NODE_SCALAR ||
                   (value->kind != SCALAR_STRING && value->kind != SCALAR_INT &&
                    value->kind != SCALAR_FLOAT)) {
            v_error(v, value, "expected a quantity, got %s", node_describe(value));
        } else {
            r = is_cpu ? quantity_parse_cpu_millis(value->scalar, cpu)
                       : quantity_parse_bytes(value->scalar, memory);
            if (r == -ERANGE)
                v_error(v, value, "quantity '%s' is out of range (negative or too large)",
                        value->scalar);
            else if (r < 0)
                v_error(v, value,
                        "'%s' is not a quantity (examples: %s)", value->scalar,
                        is_cpu ? "500m, 0.5, 2" : "128Mi, 1Gi, 500M, 1048576");
        }
        v_pop(v, old);
    }
}

static void parse_limits(V *v, const Node *n, void *obj)
{
    Resources *r = obj;

    parse_resource_list(v, n, &r->cpu_limit_millis, &r->memory_limit_bytes);
}

static void parse_requests(V *v, const Node *n, void *obj)
{
    Resources *r = obj;

    parse_resource_list(v, n, &r->cpu_request_millis, &r->memory_request_bytes);
}

static const Field resources_fields[] = {
    {"limits", FIELD_SUPPORTED, parse_limits, NULL, NULL},
    {"requests", FIELD_SUPPORTED, parse_requests, NULL, NULL},
    {"claims", FIELD_UNSUPPORTED, NULL, "podd has no dynamic resource allocation", NULL},
    {NULL, 0, NULL, NULL, NULL},
};

static void parse_resources(V *v, const Node *n, void *obj)
{
    Resources *r = &((Container *)obj)->resources;

    if (!v_object(v, n, resources_fields, r))
        return;
    if (r->cpu_limit_millis != UNSET && r->cpu_request_millis != UNSET &&
        r->cpu_request_millis > r->cpu_limit_millis)
        v_error(v, n, "requests.cpu must not exceed limits.cpu");
    if (r->memory_limit_bytes != UNSET && r->memory_request_bytes != UNSET &&
        r->memory_request_bytes > r->memory_limit_bytes)
        v_error(v, n, "requests.memory must not exceed limits.memory");
}

/* ---- security contexts -------------------------------------------------------------------- */

static void parse_caps(V *v, const Node *n, char ***ret)
{
    if (v_strv(v, n, ret) < 0)
        return;
    for (size_t i = 0; (*ret)[i]; i++) {
        const char *name = (*ret)[i];

        if (startswith(name, "CAP_"))
            name += 4;
        if (!strv_contains((char *const *)capability_names, name)) {
            size_t old = v_push(v, "[%zu]", i);

            v_error(v, n->items[i], "'%s' is not a Linux capability", (*ret)[i]);
            v_pop(v, old);
        } else if (name != (*ret)[i]) {
            memmove((*ret)[i], name, strlen(name) + 1);
        }
    }
}

static void parse_caps_add(V *v, const Node *n, void *obj)
{
    parse_caps(v, n, &((SecurityContext *)obj)->capabilities_add);
}

static void parse_caps_drop(V *v, const Node *n, void *obj)
{
    parse_caps(v, n, &((SecurityContext *)obj)->capabilities_drop);
}

static const Field capabilities_fields[] = {
    {"add", FIELD_SUPPORTED, parse_caps_add, NULL, NULL},
    {"drop", FIELD_SUPPORTED, parse_caps_drop, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL},
};

typedef struct SeccompTarget {
    SeccompProfile *profile;
    bool *set;
} SeccompTarget;

static void parse_seccomp_type(V *v, const Node *n, void *obj)
{
    SeccompTarget *t = obj;
    _cleanup_free_ char *s = NULL;

    if (v_string(v, n, &s) < 0)
        return;
    if (streq(s, "RuntimeDefault")) {
        *t->profile = SECCOMP_PROFILE_DEFAULT;
        *t->set = true;
    } else if (streq(s, "Unconfined")) {
        *t->profile = SECCOMP_PROFILE_UNCONFINED;
        *t->set = true;
    } else if (streq(s, "Localhost")) {
        v_error(v, n,
                "not supported by podd: 'Localhost' seccomp profiles (use RuntimeDefault or "
                "Unconfined)");
    } else {
        v_error(v, n, "'%s' is not a seccomp profile type: use RuntimeDefault or Unconfined", s);
    }
}

static const Field seccomp_fields[] = {
    {"type", FIELD_SUPPORTED, parse_seccomp_type, NULL, NULL},
    {"localhostProfile", FIELD_UNSUPPORTED, NULL,
     "'Localhost' seccomp profiles (use RuntimeDefault or Unconfined)", NULL},
    {NULL, 0, NULL, NULL, NULL},
};

static void parse_seccomp(V *v, const Node *n, SeccompProfile *profile, bool *set)
{
    SeccompTarget t = {profile, set};

    if (v_object(v, n, seccomp_fields, &t))
        v_require(v, n, "type");
}

static void parse_sc_run_as_user(V *v, const Node *n, void *obj)
{
    (void)v_int(v, n, 0, INT32_MAX, &((SecurityContext *)obj)->run_as_user);
}

static void parse_sc_run_as_group(V *v, const Node *n, void *obj)
{
    (void)v_int(v, n, 0, INT32_MAX, &((SecurityContext *)obj)->run_as_group);
}

static void parse_sc_run_as_non_root(V *v, const Node *n, void *obj)
{
    (void)v_tristate(v, n, &((SecurityContext *)obj)->run_as_non_root);
}

static void parse_sc_privileged(V *v, const Node *n, void *obj)
{
    (void)v_tristate(v, n, &((SecurityContext *)obj)->privileged);
}

static void parse_sc_allow_pe(V *v, const Node *n, void *obj)
{
    (void)v_tristate(v, n, &((SecurityContext *)obj)->allow_privilege_escalation);
}

static void parse_sc_rorootfs(V *v, const Node *n, void *obj)
{
    (void)v_tristate(v, n, &((SecurityContext *)obj)->read_only_root_filesystem);
}

static void parse_sc_capabilities(V *v, const Node *n, void *obj)
{
    (void)v_object(v, n, capabilities_fields, obj);
}

static void parse_sc_seccomp(V *v, const Node *n, void *obj)
{
    SecurityContext *sc = obj;

    parse_seccomp(v, n, &sc->seccomp, &sc->seccomp_set);
}

static const Shape windows_options_shape = {
    NULL, 'o',
    (const Shape[]){{"gmsaCredentialSpecName", 's', NULL},
                    {"gmsaCredentialSpec", 's', NULL},
                    {"runAsUserName", 's', NULL},
                    {"hostProcess", 'b', NULL},
                    {NULL, 0, NULL}},
};

static const Field container_sc_fields[] = {
    {"runAsUser", FIELD_SUPPORTED, parse_sc_run_as_user, NULL, NULL},
    {"runAsGroup", FIELD_SUPPORTED, parse_sc_run_as_group, NULL, NULL},
    {"runAsNonRoot", FIELD_SUPPORTED, parse_sc_run_as_non_root, NULL, NULL},
    {"privileged", FIELD_SUPPORTED, parse_sc_privileged, NULL, NULL},
    {"allowPrivilegeEscalation", FIELD_SUPPORTED, parse_sc_allow_pe, NULL, NULL},
    {"readOnlyRootFilesystem", FIELD_SUPPORTED, parse_sc_rorootfs, NULL, NULL},
    {"capabilities", FIELD_SUPPORTED, parse_sc_capabilities, NULL, NULL},
    {"seccompProfile", FIELD_SUPPORTED, parse_sc_seccomp, NULL, NULL},
    {"seLinuxOptions", FIELD_UNSUPPORTED, NULL,
     "podd does not apply SELinux labels, and ignoring them would weaken isolation", NULL},
    {"appArmorProfile", FIELD_UNSUPPORTED, NULL,
     "podd does not apply AppArmor profiles, and ignoring them would weaken isolation", NULL},
    {"procMount", FIELD_UNSUPPORTED, NULL, "/proc is always masked", NULL},
    {"windowsOptions", FIELD_IGNORED, NULL, "only meaningful on Windows nodes",
     &windows_options_shape},
    {NULL, 0, NULL, NULL, NULL},
};

static void parse_container_sc(V *v, const Node *n, void *obj)
{
    SecurityContext *sc = &((Container *)obj)->security_context;

    if (!v_object(v, n, container_sc_fields, sc))
        return;
    if (sc->privileged == 1 && sc->allow_privilege_escalation == 0)
        v_error(v, n, "allowPrivilegeEscalation cannot be false when privileged is true");
    if (sc->run_as_non_root == 1 && sc->run_as_user == 0)
        v_error(v, n, "runAsNonRoot is true but runAsUser is 0 (root)");
}

/* ---- probes and lifecycle ------------------------------------------------------------------- */

static void parse_exec_action(V *v, const Node *n, void *obj)
{
    char ***cmd = obj;
    static const Field exec_fields[] = {
        {"command", FIELD_SUPPORTED, NULL, NULL, NULL},
        {NULL, 0, NULL, NULL, NULL},
    };
    const Node *c;

    /* One supported key: check for unknown keys, then parse it directly. */
    if (!v_is(v, n, NODE_MAPPING, "a mapping"))
        return;
    for (size_t i = 0; i < n->n_pairs; i++)
        if (!field_find(exec_fields, n->pairs[i].key->scalar)) {
            size_t old = v_push_key(v, n->pairs[i].key->scalar);

            v_error(v, n->pairs[i].key, "unknown field; did you mean 'command'?");
            v_pop(v, old);
        }
    c = node_get(n, "command");
    if (!c) {
        v_require(v, n, "command");
        return;
    }
    {
        size_t old = v_push_key(v, "command");

        if (v_strv(v, c, cmd) >= 0 && !(*cmd)[0])
            v_error(v, c, "must not be empty");
        v_pop(v, old);
    }
}

static void parse_probe_exec(V *v, const Node *n, void *obj)
{
    Probe *p = obj;

    p->action = PROBE_ACTION_EXEC;
    parse_exec_action(v, n, &p->exec_command);
}

static void parse_probe_port(V *v, const Node *n, void *obj)
{
    Probe *p = obj;

    if (n->type == NODE_SCALAR && n->kind == SCALAR_STRING) {
        if (!port_name_is_valid(n->scalar))
            v_error(v, n, "'%s' is neither a port number nor a valid port name", n->scalar);
        else if (!(p->port_name = strdup(n->scalar)))
            v->oom = true;
        return;
    }
    (void)v_int32(v, n, 1, 65535, &p->port);
}

static void parse_probe_host(V *v, const Node *n, void *obj)
{
    (void)v_string(v, n, &((Probe *)obj)->host);
}

static void parse_probe_path(V *v, const Node *n, void *obj)
{
    Probe *p = obj;

    if (v_string(v, n, &p->path) >= 0 && p->path[0] != '/')
        v_error(v, n, "'%s' must start with '/'", p->path);
}

static void parse_probe_scheme(V *v, const Node *n, void *obj)
{
    Probe *p = obj;

    if (v_string(v, n, &p->scheme) >= 0 && !streq(p->scheme, "HTTP") &&
        !streq(p->scheme, "HTTPS"))
        v_error(v, n, "'%s' is not a scheme: use HTTP or HTTPS", p->scheme);
}

static void parse_header_name(V *v, const Node *n, void *obj)
{
    (void)v_string(v, n, &((HttpHeader *)obj)->name);
}

static void parse_header_value(V *v, const Node *n, void *obj)
{
    (void)v_string(v, n, &((HttpHeader *)obj)->value);
}

static const Field header_fields[] = {
    {"name", FIELD_SUPPORTED, parse_header_name, NULL, NULL},
    {"value", FIELD_SUPPORTED, parse_header_value, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL},
};

static void parse_probe_headers(V *v, const Node *n, void *obj)
{
    Probe *p = obj;

    if (!v_is(v, n, NODE_SEQUENCE, "a list"))
        return;
    if (n->n_items > 64) {
        v_error(v, n, "more than 64 headers");
        return;
    }
    p->http_headers = calloc(n->n_items ? n->n_items : 1, sizeof(HttpHeader));
    if (!p->http_headers) {
        v->oom = true;
        return;
    }
    for (size_t i = 0; i < n->n_items; i++) {
        size_t old = v_push(v, "[%zu]", i);
        HttpHeader *h = &p->http_headers[p->n_http_headers++];

        if (v_object(v, n->items[i], header_fields, h)) {
            v_require(v, n->items[i], "name");
            v_require(v, n->items[i], "value");
        }
        if (!h->name && !(h->name = strdup("")))
            v->oom = true;
        if (!h->value && !(h->value = strdup("")))
            v->oom = true;
        v_pop(v, old);
    }
}

static const Field tcp_fields[] = {
    {"port", FIELD_SUPPORTED, parse_probe_port, NULL, NULL},
    {"host", FIELD_SUPPORTED, parse_probe_host, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL},
};

static const Field http_fields[] = {
    {"port", FIELD_SUPPORTED, parse_probe_port, NULL, NULL},
    {"host", FIELD_SUPPORTED, parse_probe_host, NULL, NULL},
    {"path", FIELD_SUPPORTED, parse_probe_path, NULL, NULL},
    {"scheme", FIELD_SUPPORTED, parse_probe_scheme, NULL, NULL},
    {"httpHeaders", FIELD_SUPPORTED, parse_probe_headers, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL},
};

static void parse_probe_tcp(V *v, const Node *n, void *obj)
{
    Probe *p = obj;

    p->action = PROBE_ACTION_TCP_SOCKET;
    if (v_object(v, n, tcp_fields, p))
        v_require(v, n, "port");
}

static void parse_probe_http(V *v, const Node *n, void *obj)
{
    Probe *p = obj;

    p->action = PROBE_ACTION_HTTP_GET;
    if (v_object(v, n, http_fields, p))
        v_require(v, n, "port");
}

static void parse_probe_initial_delay(V *v, const Node *n, void *obj)
{
    (void)v_int32(v, n, 0, INT32_MAX, &((Probe *)obj)->initial_delay_seconds);
}

static void parse_probe_period(V *v, const Node *n, void *obj)
{
    (void)v_int32(v, n, 1, INT32_MAX, &((Probe *)obj)->period_seconds);
}

static void parse_probe_timeout(V *v, const Node *n, void *obj)
{
    (void)v_int32(v, n, 1, INT32_MAX, &((Probe *)obj)->timeout_seconds);
}

static void parse_probe_success(V *v, const Node *n, void *obj)
{
    (void)v_int32(v, n, 1, INT32_MAX, &((Probe *)obj)->success_threshold);
}

static void parse_probe_failure(V *v, const Node *n, void *obj)
{
    (void)v_int32(v, n, 1, INT32_MAX, &((Probe *)obj)->failure_threshold);
}

static void parse_probe_grace(V *v, const Node *n, void *obj)
{
    (void)v_int(v, n, 1, INT32_MAX, &((Probe *)obj)->termination_grace_period_seconds);
}

static const Field probe_fields[] = {
    {"exec", FIELD_SUPPORTED, parse_probe_exec, NULL, NULL},
    {"tcpSocket", FIELD_SUPPORTED, parse_probe_tcp, NULL, NULL},
    {"httpGet", FIELD_SUPPORTED, parse_probe_http, NULL, NULL},
    {"grpc", FIELD_UNSUPPORTED, NULL, "gRPC probes (use exec, tcpSocket or httpGet)", NULL},
    {"initialDelaySeconds", FIELD_SUPPORTED, parse_probe_initial_delay, NULL, NULL},
    {"periodSeconds", FIELD_SUPPORTED, parse_probe_period, NULL, NULL},
    {"timeoutSeconds", FIELD_SUPPORTED, parse_probe_timeout, NULL, NULL},
    {"successThreshold", FIELD_SUPPORTED, parse_probe_success, NULL, NULL},
    {"failureThreshold", FIELD_SUPPORTED, parse_probe_failure, NULL, NULL},
    {"terminationGracePeriodSeconds", FIELD_SUPPORTED, parse_probe_grace, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL},
};

static void parse_probe(V *v, const Node *n, Probe *p, bool success_must_be_one)
{
    int handlers = 0;

    *p = (Probe){.period_seconds = 10, .timeout_seconds = 1, .success_threshold = 1,
                 .failure_threshold = 3, .termination_grace_period_seconds = UNSET};
    if (!v_object(v, n, probe_fields, p))
        return;
    handlers = !!node_get(n, "exec") + !!node_get(n, "tcpSocket") + !!node_get(n, "httpGet") +
               !!node_get(n, "grpc");
    if (handlers == 0)
        v_error(v, n, "needs one handler: exec, tcpSocket or httpGet");
    else if (handlers > 1)
        v_error(v, n, "has more than one handler: give exactly one of exec, tcpSocket, httpGet");
    if (success_must_be_one && p->success_threshold != 1)
        v_error(v, n, "successThreshold must be 1 for liveness and startup probes");
    if (p->action == PROBE_ACTION_HTTP_GET) {
        if (!p->path && !(p->path = strdup("/")))
            v->oom = true;
        if (!p->scheme && !(p->scheme = strdup("HTTP")))
            v->oom = true;
    }
}

static void parse_liveness(V *v, const Node *n, void *obj)
{
    parse_probe(v, n, &((Container *)obj)->liveness_probe, true);
}

static void parse_readiness(V *v, const Node *n, void *obj)
{
    parse_probe(v, n, &((Container *)obj)->readiness_probe, false);
}

static void parse_startup(V *v, const Node *n, void *obj)
{
    parse_probe(v, n, &((Container *)obj)->startup_probe, true);
}

static void parse_handler_exec(V *v, const Node *n, void *obj)
{
    parse_exec_action(v, n, &((LifecycleHandler *)obj)->exec_command);
}

static const Field handler_fields[] = {
    {"exec", FIELD_SUPPORTED, parse_handler_exec, NULL, NULL},
    {"httpGet", FIELD_UNSUPPORTED, NULL, "lifecycle hooks run exec commands only", NULL},
    {"tcpSocket", FIELD_UNSUPPORTED, NULL, "lifecycle hooks run exec commands only", NULL},
    {"sleep", FIELD_UNSUPPORTED, NULL, "use exec with sleep", NULL},
    {NULL, 0, NULL, NULL, NULL},
};

static void parse_handler(V *v, const Node *n, void *obj)
{
    if (v_object(v, n, handler_fields, obj) && !node_get(n, "exec") && n->n_pairs == 0)
        v_error(v, n, "needs a handler: exec");
}

static void parse_post_start(V *v, const Node *n, void *obj)
{
    parse_handler(v, n, &((Container *)obj)->post_start);
}

static void parse_pre_stop(V *v, const Node *n, void *obj)
{
    parse_handler(v, n, &((Container *)obj)->pre_stop);
}

static const Field lifecycle_fields[] = {
    {"postStart", FIELD_SUPPORTED, parse_post_start, NULL, NULL},
    {"preStop", FIELD_SUPPORTED, parse_pre_stop, NULL, NULL},
    {"stopSignal", FIELD_UNSUPPORTED, NULL, "containers are stopped with SIGTERM", NULL},
    {NULL, 0, NULL, NULL, NULL},
};

static void parse_lifecycle(V *v, const Node *n, void *obj)
{
    (void)v_object(v, n, lifecycle_fields, obj);
}

static void parse_container_restart_policy(V *v, const Node *n, void *obj)
{
    Container *c = obj;
    _cleanup_free_ char *s = NULL;
    RestartPolicy p;

    if (v_string(v, n, &s) < 0)
        return;
    p = restart_policy_from_string(s);
    if (p < 0) {
        v_error(v, n, "'%s' is not a restart policy: use Always, OnFailure or Never", s);
        return;
    }
    /* On an init container only Always is meaningful: it makes the container a sidecar. */
    if (c->kind != CONTAINER_KIND_REGULAR && p != RESTART_POLICY_ALWAYS) {
        v_error(v, n,
                "an init container's restartPolicy can only be Always (which makes it a "
                "sidecar)");
        return;
    }
    c->restart_policy = p;
    c->restart_policy_set = true;
    if (c->kind == CONTAINER_KIND_INIT)
        c->kind = CONTAINER_KIND_SIDECAR;
}

static const Field container_fields[] = {
    {"name", FIELD_SUPPORTED, parse_container_name, NULL, NULL},
    {"image", FIELD_SUPPORTED, parse_image, NULL, NULL},
    {"command", FIELD_SUPPORTED, parse_command, NULL, NULL},
    {"args", FIELD_SUPPORTED, parse_args, NULL, NULL},
    {"env", FIELD_SUPPORTED, parse_env, NULL, NULL},
    {"workingDir", FIELD_SUPPORTED, parse_working_dir, NULL, NULL},
    {"ports", FIELD_SUPPORTED, parse_ports, NULL, NULL},
    {"volumeMounts", FIELD_SUPPORTED, parse_volume_mounts, NULL, NULL},
    {"resources", FIELD_SUPPORTED, parse_resources, NULL, NULL},
    {"securityContext", FIELD_SUPPORTED, parse_container_sc, NULL, NULL},
    {"livenessProbe", FIELD_SUPPORTED, parse_liveness, NULL, NULL},
    {"readinessProbe", FIELD_SUPPORTED, parse_readiness, NULL, NULL},
    {"startupProbe", FIELD_SUPPORTED, parse_startup, NULL, NULL},
    {"lifecycle", FIELD_SUPPORTED, parse_lifecycle, NULL, NULL},
    {"restartPolicy", FIELD_SUPPORTED, parse_container_restart_policy, NULL, NULL},
    {"imagePullPolicy", FIELD_IGNORED, NULL, "podd never pulls images (see podctl image import)",
     &(Shape){NULL, 's', NULL}},
    {"terminationMessagePath", FIELD_IGNORED, NULL, "podd keeps exit codes and logs instead",
     &(Shape){NULL, 's', NULL}},
    {"terminationMessagePolicy", FIELD_IGNORED, NULL, "podd keeps exit codes and logs instead",
     &(Shape){NULL, 's', NULL}},
    {"resizePolicy", FIELD_IGNORED, NULL, "resources change by replacing the container",
     &(Shape){NULL, 'a', (const Shape[]){{NULL, 'o', (const Shape[]){
                                                     {"resourceName", 's', NULL},
                                                     {"restartPolicy", 's', NULL},
                                                     {NULL, 0, NULL}}}}}},
    {"envFrom", FIELD_UNSUPPORTED, NULL, "podd has no ConfigMaps or Secrets; use env", NULL},
    {"stdin", FIELD_UNSUPPORTED, NULL, "containers have no standard input", NULL},
    {"stdinOnce", FIELD_UNSUPPORTED, NULL, "containers have no standard input", NULL},
    {"tty", FIELD_UNSUPPORTED, NULL, "containers have no terminal", NULL},
    {"volumeDevices", FIELD_UNSUPPORTED, NULL, "podd has no block volumes", NULL},
    {"restartPolicyRules", FIELD_UNSUPPORTED, NULL, "use restartPolicy", NULL},
    {NULL, 0, NULL, NULL, NULL},
};

static void container_init(Container *c, ContainerKind kind, const Node *n)
{
    *c = (Container){.kind = kind, .pos = {n->line, n->column}};
    c->resources = (Resources){UNSET, UNSET, UNSET, UNSET};
    c->security_context = (SecurityContext){.run_as_user = UNSET, .run_as_group = UNSET,
                                            .run_as_non_root = -1, .privileged = -1,
                                            .allow_privilege_escalation = -1,
                                            .read_only_root_filesystem = -1};
}

/* Resolves a probe's named port against the container's ports. */
static void resolve_probe_port(V *v, const Node *cn, const char *key, Container *c, Probe *p)
{
    const Node *pn;
    size_t old;

    if (!p->port_name)
        return;
    for (size_t i = 0; i < c->n_ports; i++)
        if (c->ports[i].name && streq(c->ports[i].name, p->port_name)) {
            p->port = c->ports[i].container_port;
            return;
        }
    pn = node_get(cn, key);
    old = v_push_key(v, key);
    v_error(v, pn ? pn : cn, "port '%s' names no port of this container", p->port_name);
    v_pop(v, old);
}

static void parse_container(V *v, const Node *n, Container *c, ContainerKind kind)
{
    container_init(c, kind, n);
    if (!v_object(v, n, container_fields, c))
        return;
    v_require(v, n, "name");
    v_require(v, n, "image");
    resolve_probe_port(v, n, "livenessProbe", c, &c->liveness_probe);
    resolve_probe_port(v, n, "readinessProbe", c, &c->readiness_probe);
    resolve_probe_port(v, n, "startupProbe", c, &c->startup_probe);
    if (c->kind == CONTAINER_KIND_INIT) {
        static const char *const forbidden[] = {"livenessProbe", "readinessProbe", "startupProbe",
                                                "lifecycle"};

        for (size_t i = 0; i < ELEMENTSOF(forbidden); i++) {
            const Node *f = node_get(n, forbidden[i]);

            if (f) {
                size_t old = v_push_key(v, forbidden[i]);

                v_error(v, f,
                        "only allowed on sidecars (init containers with restartPolicy: Always) "
                        "and regular containers");
                v_pop(v, old);
            }
        }
    }
}

static int parse_containers(V *v, const Node *n, ContainerKind kind, Container **ret, size_t *ret_n)
{
    if (!v_is(v, n, NODE_SEQUENCE, "a list of containers"))
        return -EINVAL;
    if (n->n_items > MANIFEST_MAX_CONTAINERS) {
        v_error(v, n, "more than %d containers", MANIFEST_MAX_CONTAINERS);
        return -E2BIG;
    }
    *ret = calloc(n->n_items ? n->n_items : 1, sizeof(Container));
    if (!*ret) {
        v->oom = true;
        return -ENOMEM;
    }
    for (size_t i = 0; i < n->n_items; i++) {
        size_t old = v_push(v, "[%zu]", i);

        parse_container(v, n->items[i], &(*ret)[i], kind);
        (*ret_n)++;
        v_pop(v, old);
    }
    return 0;
}

static void parse_init_containers(V *v, const Node *n, void *obj)
{
    Pod *p = obj;

    (void)parse_containers(v, n, CONTAINER_KIND_INIT, &p->init_containers, &p->n_init_containers);
}

static void parse_regular_containers(V *v, const Node *n, void *obj)
{
    Pod *p = obj;

    if (parse_containers(v, n, CONTAINER_KIND_REGULAR, &p->containers, &p->n_containers) >= 0 &&
        n->n_items == 0)
        v_error(v, n, "must hold at least one container");
}

/* ---- volumes -------------------------------------------------------------------------------- */

static void parse_volume_name(V *v, const Node *n, void *obj)
{
    Volume *vol = obj;

    if (v_string(v, n, &vol->name) >= 0 && !dns_label_is_valid(vol->name))
        v_error(v, n, "'%s' is not a valid volume name (a DNS-1123 label)", vol->name);
}

static void parse_host_path_path(V *v, const Node *n, void *obj)
{
    Volume *vol = obj;

    if (v_string(v, n, &vol->host_path) >= 0 && !is_absolute_path(vol->host_path))
        v_error(v, n, "'%s' is not an absolute path", vol->host_path);
    else if (vol->host_path && !is_safe_relative_path(vol->host_path[1] ? vol->host_path + 1 : "."))
        v_error(v, n, "'%s' must not contain '..'", vol->host_path);
}

static void parse_host_path_type(V *v, const Node *n, void *obj)
{
    Volume *vol = obj;
    _cleanup_free_ char *s = NULL;
    HostPathType t;

    if (v_string(v, n, &s) < 0)
        return;
    t = host_path_type_from_string(s);
    if (t < 0)
        v_error(v, n,
                "'%s' is not a hostPath type: use DirectoryOrCreate, Directory, FileOrCreate, "
                "File, Socket, CharDevice or BlockDevice",
                s);
    else
        vol->host_path_type = t;
}

static const Field host_path_fields[] = {
    {"path", FIELD_SUPPORTED, parse_host_path_path, NULL, NULL},
    {"type", FIELD_SUPPORTED, parse_host_path_type, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL},
};

static void parse_empty_dir_medium(V *v, const Node *n, void *obj)
{
    Volume *vol = obj;
    _cleanup_free_ char *s = NULL;

    if (v_string(v, n, &s) < 0)
        return;
    if (streq(s, "Memory"))
        vol->empty_dir_memory = true;
    else if (startswith(s, "HugePages"))
        v_error(v, n, "not supported by podd: medium '%s' (use \"\" or Memory)", s);
    else if (s[0])
        v_error(v, n, "'%s' is not a medium: use \"\" (disk) or Memory", s);
}

static void parse_empty_dir_size(V *v, const Node *n, void *obj)
{
    Volume *vol = obj;
    int r;

    if (n->type != NODE_SCALAR ||
        (n->kind != SCALAR_STRING && n->kind != SCALAR_INT && n->kind != SCALAR_FLOAT)) {
        v_error(v, n, "expected a quantity, got %s", node_describe(n));
        return;
    }
    r = quantity_parse_bytes(n->scalar, &vol->size_limit_bytes);
    if (r == -ERANGE)
        v_error(v, n, "quantity '%s' is out of range (negative or too large)", n->scalar);
    else if (r < 0)
        v_error(v, n, "'%s' is not a quantity (examples: 64Mi, 1Gi)", n->scalar);
}

static const Field empty_dir_fields[] = {
    {"medium", FIELD_SUPPORTED, parse_empty_dir_medium, NULL, NULL},
    {"sizeLimit", FIELD_SUPPORTED, parse_empty_dir_size, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL},
};

static void parse_host_path(V *v, const Node *n, void *obj)
{
    Volume *vol = obj;

    vol->kind = VOLUME_KIND_HOST_PATH;
    if (v_object(v, n, host_path_fields, vol))
        v_require(v, n, "path");
}

static void parse_empty_dir(V *v, const Node *n, void *obj)
{
    Volume *vol = obj;

    vol->kind = VOLUME_KIND_EMPTY_DIR;
    (void)v_object(v, n, empty_dir_fields, vol);
}

#define VOLUME_UNSUPPORTED(name)                                                                   \
    {name, FIELD_UNSUPPORTED, NULL, "volume type (supported: hostPath, emptyDir)", NULL}

static const Field volume_fields[] = {
    {"name", FIELD_SUPPORTED, parse_volume_name, NULL, NULL},
    {"hostPath", FIELD_SUPPORTED, parse_host_path, NULL, NULL},
    {"emptyDir", FIELD_SUPPORTED, parse_empty_dir, NULL, NULL},
    VOLUME_UNSUPPORTED("configMap"),
    VOLUME_UNSUPPORTED("secret"),
    VOLUME_UNSUPPORTED("projected"),
    VOLUME_UNSUPPORTED("downwardAPI"),
    VOLUME_UNSUPPORTED("persistentVolumeClaim"),
    VOLUME_UNSUPPORTED("image"),
    VOLUME_UNSUPPORTED("ephemeral"),
    VOLUME_UNSUPPORTED("csi"),
    VOLUME_UNSUPPORTED("nfs"),
    VOLUME_UNSUPPORTED("iscsi"),
    VOLUME_UNSUPPORTED("gitRepo"),
    VOLUME_UNSUPPORTED("awsElasticBlockStore"),
    VOLUME_UNSUPPORTED("azureDisk"),
    VOLUME_UNSUPPORTED("azureFile"),
    VOLUME_UNSUPPORTED("cephfs"),
    VOLUME_UNSUPPORTED("cinder"),
    VOLUME_UNSUPPORTED("fc"),
    VOLUME_UNSUPPORTED("flexVolume"),
    VOLUME_UNSUPPORTED("flocker"),
    VOLUME_UNSUPPORTED("gcePersistentDisk"),
    VOLUME_UNSUPPORTED("glusterfs"),
    VOLUME_UNSUPPORTED("photonPersistentDisk"),
    VOLUME_UNSUPPORTED("portworxVolume"),
    VOLUME_UNSUPPORTED("quobyte"),
    VOLUME_UNSUPPORTED("rbd"),
    VOLUME_UNSUPPORTED("scaleIO"),
    VOLUME_UNSUPPORTED("storageos"),
    VOLUME_UNSUPPORTED("vsphereVolume"),
    {NULL, 0, NULL, NULL, NULL},
};

static void parse_volumes(V *v, const Node *n, void *obj)
{
    Pod *p = obj;

    if (!v_is(v, n, NODE_SEQUENCE, "a list"))
        return;
    if (n->n_items > MANIFEST_MAX_LIST) {
        v_error(v, n, "more than %d entries", MANIFEST_MAX_LIST);
        return;
    }
    p->volumes = calloc(n->n_items ? n->n_items : 1, sizeof(Volume));
    if (!p->volumes) {
        v->oom = true;
        return;
    }
    for (size_t i = 0; i < n->n_items; i++) {
        const Node *item = n->items[i];
        size_t old = v_push(v, "[%zu]", i);
        Volume *vol = &p->volumes[p->n_volumes++];
        size_t sources = 0;

        *vol = (Volume){.kind = _VOLUME_KIND_INVALID, .size_limit_bytes = UNSET,
                        .pos = {item->line, item->column}};
        if (v_object(v, item, volume_fields, vol)) {
            v_require(v, item, "name");
            for (size_t j = 0; j < item->n_pairs; j++)
                if (!streq(item->pairs[j].key->scalar, "name"))
                    sources++;
            if (sources == 0)
                v_error(v, item, "needs a source: hostPath or emptyDir");
            else if (sources > 1)
                v_error(v, item, "has more than one source");
            for (size_t j = 0; vol->name && j + 1 < p->n_volumes; j++)
                if (p->volumes[j].name && streq(p->volumes[j].name, vol->name))
                    v_error(v, item, "duplicate volume name '%s' (first at line %u)", vol->name,
                            p->volumes[j].pos.line);
        }
        v_pop(v, old);
    }
}

/* ---- pod spec --------------------------------------------------------------------------------- */

static void parse_pod_restart_policy(V *v, const Node *n, void *obj)
{
    Pod *p = obj;
    _cleanup_free_ char *s = NULL;
    RestartPolicy r;

    if (v_string(v, n, &s) < 0)
        return;
    r = restart_policy_from_string(s);
    if (r < 0)
        v_error(v, n, "'%s' is not a restart policy: use Always, OnFailure or Never", s);
    else
        p->restart_policy = r;
}

static void parse_grace(V *v, const Node *n, void *obj)
{
    (void)v_int(v, n, 0, INT32_MAX, &((Pod *)obj)->termination_grace_period_seconds);
}

static void parse_host_network(V *v, const Node *n, void *obj)
{
    (void)v_bool(v, n, &((Pod *)obj)->host_network);
}

static void parse_host_pid(V *v, const Node *n, void *obj)
{
    (void)v_bool(v, n, &((Pod *)obj)->host_pid);
}

static void parse_host_ipc(V *v, const Node *n, void *obj)
{
    (void)v_bool(v, n, &((Pod *)obj)->host_ipc);
}

static void parse_share_pid(V *v, const Node *n, void *obj)
{
    (void)v_bool(v, n, &((Pod *)obj)->share_process_namespace);
}

static void parse_hostname(V *v, const Node *n, void *obj)
{
    Pod *p = obj;

    if (v_string(v, n, &p->hostname) >= 0 && !dns_label_is_valid(p->hostname))
        v_error(v, n, "'%s' is not a valid hostname (a DNS-1123 label)", p->hostname);
}

static void parse_pod_run_as_user(V *v, const Node *n, void *obj)
{
    (void)v_int(v, n, 0, INT32_MAX, &((Pod *)obj)->run_as_user);
}

static void parse_pod_run_as_group(V *v, const Node *n, void *obj)
{
    (void)v_int(v, n, 0, INT32_MAX, &((Pod *)obj)->run_as_group);
}

static void parse_pod_fs_group(V *v, const Node *n, void *obj)
{
    (void)v_int(v, n, 0, INT32_MAX, &((Pod *)obj)->fs_group);
}

static void parse_pod_run_as_non_root(V *v, const Node *n, void *obj)
{
    (void)v_tristate(v, n, &((Pod *)obj)->run_as_non_root);
}

static void parse_pod_seccomp(V *v, const Node *n, void *obj)
{
    Pod *p = obj;

    parse_seccomp(v, n, &p->seccomp, &p->seccomp_set);
}

static const Field pod_sc_fields[] = {
    {"runAsUser", FIELD_SUPPORTED, parse_pod_run_as_user, NULL, NULL},
    {"runAsGroup", FIELD_SUPPORTED, parse_pod_run_as_group, NULL, NULL},
    {"fsGroup", FIELD_SUPPORTED, parse_pod_fs_group, NULL, NULL},
    {"runAsNonRoot", FIELD_SUPPORTED, parse_pod_run_as_non_root, NULL, NULL},
    {"seccompProfile", FIELD_SUPPORTED, parse_pod_seccomp, NULL, NULL},
    {"supplementalGroups", FIELD_UNSUPPORTED, NULL, NULL, NULL},
    {"supplementalGroupsPolicy", FIELD_UNSUPPORTED, NULL, NULL, NULL},
    {"fsGroupChangePolicy", FIELD_UNSUPPORTED, NULL, NULL, NULL},
    {"sysctls", FIELD_UNSUPPORTED, NULL, "podd does not set sysctls", NULL},
    {"seLinuxOptions", FIELD_UNSUPPORTED, NULL,
     "podd does not apply SELinux labels, and ignoring them would weaken isolation", NULL},
    {"seLinuxChangePolicy", FIELD_UNSUPPORTED, NULL, NULL, NULL},
    {"appArmorProfile", FIELD_UNSUPPORTED, NULL,
     "podd does not apply AppArmor profiles, and ignoring them would weaken isolation", NULL},
    {"windowsOptions", FIELD_IGNORED, NULL, "only meaningful on Windows nodes",
     &windows_options_shape},
    {NULL, 0, NULL, NULL, NULL},
};

static void parse_pod_sc(V *v, const Node *n, void *obj)
{
    Pod *p = obj;

    if (v_object(v, n, pod_sc_fields, p) && p->run_as_non_root == 1 && p->run_as_user == 0)
        v_error(v, n, "runAsNonRoot is true but runAsUser is 0 (root)");
}

/* The Kubernetes shapes of the fields podd ignores. */
static const Shape label_selector_shape[] = {
    {"matchLabels", 'm', NULL},
    {"matchExpressions", 'a',
     (const Shape[]){{NULL, 'o',
                      (const Shape[]){{"key", 's', NULL},
                                      {"operator", 's', NULL},
                                      {"values", 'a', (const Shape[]){{NULL, 's', NULL}}},
                                      {NULL, 0, NULL}}}}},
    {NULL, 0, NULL},
};

static const Shape node_selector_term_shape[] = {
    {"matchExpressions", 'a',
     (const Shape[]){{NULL, 'o',
                      (const Shape[]){{"key", 's', NULL},
                                      {"operator", 's', NULL},
                                      {"values", 'a', (const Shape[]){{NULL, 's', NULL}}},
                                      {NULL, 0, NULL}}}}},
    {"matchFields", 'a',
     (const Shape[]){{NULL, 'o',
                      (const Shape[]){{"key", 's', NULL},
                                      {"operator", 's', NULL},
                                      {"values", 'a', (const Shape[]){{NULL, 's', NULL}}},
                                      {NULL, 0, NULL}}}}},
    {NULL, 0, NULL},
};

static const Shape pod_affinity_term_shape[] = {
    {"labelSelector", 'o', label_selector_shape},
    {"namespaceSelector", 'o', label_selector_shape},
    {"namespaces", 'a', (const Shape[]){{NULL, 's', NULL}}},
    {"topologyKey", 's', NULL},
    {"matchLabelKeys", 'a', (const Shape[]){{NULL, 's', NULL}}},
    {"mismatchLabelKeys", 'a', (const Shape[]){{NULL, 's', NULL}}},
    {NULL, 0, NULL},
};

static const Shape pod_affinity_shape[] = {
    {"requiredDuringSchedulingIgnoredDuringExecution", 'a',
     (const Shape[]){{NULL, 'o', pod_affinity_term_shape}}},
    {"preferredDuringSchedulingIgnoredDuringExecution", 'a',
     (const Shape[]){{NULL, 'o',
                      (const Shape[]){{"weight", 'i', NULL},
                                      {"podAffinityTerm", 'o', pod_affinity_term_shape},
                                      {NULL, 0, NULL}}}}},
    {NULL, 0, NULL},
};

static const Shape affinity_shape = {
    NULL, 'o',
    (const Shape[]){
        {"nodeAffinity", 'o',
         (const Shape[]){
             {"requiredDuringSchedulingIgnoredDuringExecution", 'o',
              (const Shape[]){{"nodeSelectorTerms", 'a',
                               (const Shape[]){{NULL, 'o', node_selector_term_shape}}},
                              {NULL, 0, NULL}}},
             {"preferredDuringSchedulingIgnoredDuringExecution", 'a',
              (const Shape[]){{NULL, 'o',
                               (const Shape[]){{"weight", 'i', NULL},
                                               {"preference", 'o', node_selector_term_shape},
                                               {NULL, 0, NULL}}}}},
             {NULL, 0, NULL}}},
        {"podAffinity", 'o', pod_affinity_shape},
        {"podAntiAffinity", 'o', pod_affinity_shape},
        {NULL, 0, NULL}},
};

static const Shape tolerations_shape = {
    NULL, 'a',
    (const Shape[]){{NULL, 'o',
                     (const Shape[]){{"key", 's', NULL},
                                     {"operator", 's', NULL},
                                     {"value", 's', NULL},
                                     {"effect", 's', NULL},
                                     {"tolerationSeconds", 'i', NULL},
                                     {NULL, 0, NULL}}}},
};

static const Shape local_object_list_shape = {
    NULL, 'a', (const Shape[]){{NULL, 'o', (const Shape[]){{"name", 's', NULL}, {NULL, 0, NULL}}}},
};

#define IGNORED_CLUSTER(name, ...)                                                                 \
    {name, FIELD_IGNORED, NULL, "only meaningful in a cluster", __VA_ARGS__}

static const Field spec_fields[] = {
    {"containers", FIELD_SUPPORTED, parse_regular_containers, NULL, NULL},
    {"initContainers", FIELD_SUPPORTED, parse_init_containers, NULL, NULL},
    {"restartPolicy", FIELD_SUPPORTED, parse_pod_restart_policy, NULL, NULL},
    {"terminationGracePeriodSeconds", FIELD_SUPPORTED, parse_grace, NULL, NULL},
    {"hostNetwork", FIELD_SUPPORTED, parse_host_network, NULL, NULL},
    {"hostPID", FIELD_SUPPORTED, parse_host_pid, NULL, NULL},
    {"hostIPC", FIELD_SUPPORTED, parse_host_ipc, NULL, NULL},
    {"hostname", FIELD_SUPPORTED, parse_hostname, NULL, NULL},
    {"shareProcessNamespace", FIELD_SUPPORTED, parse_share_pid, NULL, NULL},
    {"volumes", FIELD_SUPPORTED, parse_volumes, NULL, NULL},
    {"securityContext", FIELD_SUPPORTED, parse_pod_sc, NULL, NULL},
    IGNORED_CLUSTER("nodeSelector", &(Shape){NULL, 'm', NULL}),
    IGNORED_CLUSTER("nodeName", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("affinity", &affinity_shape),
    IGNORED_CLUSTER("tolerations", &tolerations_shape),
    IGNORED_CLUSTER("schedulerName", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("priorityClassName", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("priority", &(Shape){NULL, 'i', NULL}),
    IGNORED_CLUSTER("preemptionPolicy", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("serviceAccountName", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("serviceAccount", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("automountServiceAccountToken", &(Shape){NULL, 'b', NULL}),
    IGNORED_CLUSTER("imagePullSecrets", &local_object_list_shape),
    IGNORED_CLUSTER("dnsPolicy", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("enableServiceLinks", &(Shape){NULL, 'b', NULL}),
    IGNORED_CLUSTER("topologySpreadConstraints",
                    (&(Shape){NULL, 'a', (const Shape[]){{NULL, 'o', NULL}}})),
    IGNORED_CLUSTER("readinessGates",
                    (&(Shape){NULL, 'a', (const Shape[]){{NULL, 'o', (const Shape[]){
                                                                         {"conditionType", 's',
                                                                          NULL},
                                                                         {NULL, 0, NULL}}}}})),
    IGNORED_CLUSTER("runtimeClassName", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("overhead", &(Shape){NULL, 'o', NULL}),
    IGNORED_CLUSTER("subdomain", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("schedulingGates", &local_object_list_shape),
    IGNORED_CLUSTER("os", (&(Shape){NULL, 'o', (const Shape[]){{"name", 's', NULL},
                                                               {NULL, 0, NULL}}})),
    {"setHostnameAsFQDN", FIELD_UNSUPPORTED, NULL, NULL, NULL},
    {"dnsConfig", FIELD_UNSUPPORTED, NULL, "containers use the host's resolver configuration",
     NULL},
    {"hostAliases", FIELD_UNSUPPORTED, NULL, NULL, NULL},
    {"hostUsers", FIELD_UNSUPPORTED, NULL, "podd does not create user namespaces", NULL},
    {"activeDeadlineSeconds", FIELD_UNSUPPORTED, NULL, NULL, NULL},
    {"ephemeralContainers", FIELD_UNSUPPORTED, NULL, NULL, NULL},
    {"resourceClaims", FIELD_UNSUPPORTED, NULL, "podd has no dynamic resource allocation", NULL},
    {"resources", FIELD_UNSUPPORTED, NULL, "pod-level resources (set them per container)",
     NULL},
    {NULL, 0, NULL, NULL, NULL},
};

/* ---- annotations -------------------------------------------------------------------------------- */

#define PODD_PREFIX "podd.io/"
#define DEPENDS_ON_PREFIX "podd.io/depends-on."
#define PODMAN_INIT_TYPE "io.podman.annotations.init.container.type"

static const char *const podd_annotations[] = {
    "podd.io/exit-policy", "podd.io/init-once", "podd.io/runtime", "podd.io/restart-backoff",
    "podd.io/depends-on.<container>", NULL,
};

static char *strip(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = 0;
    return s;
}

static Container *find_container_mut(Pod *p, const char *name)
{
    return (Container *)pod_find_container(p, name);
}

static void annotation_init_once(V *v, Pod *p, const Node *value)
{
    _cleanup_free_ char *copy = strdup(value->scalar);
    char *save = NULL;

    if (!copy) {
        v->oom = true;
        return;
    }
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *name = strip(tok);
        Container *c;

        if (!*name)
            continue;
        c = find_container_mut(p, name);
        if (!c)
            v_error(v, value, "no init container named '%s'", name);
        else if (c->kind == CONTAINER_KIND_SIDECAR)
            v_error(v, value, "'%s' is a sidecar; only plain init containers can run once", name);
        else if (c->kind != CONTAINER_KIND_INIT)
            v_error(v, value, "'%s' is not an init container", name);
        else
            c->init_once = true;
    }
}

static void annotation_podman_init(V *v, Pod *p, const char *key, const Node *value)
{
    const char *suffix = key + strlen(PODMAN_INIT_TYPE);
    bool once;

    if (streq(value->scalar, "once"))
        once = true;
    else if (streq(value->scalar, "always"))
        once = false;
    else {
        v_error(v, value, "'%s' is not an init container type: use once or always",
                value->scalar);
        return;
    }
    if (*suffix == 0) {
        for (size_t i = 0; i < p->n_init_containers; i++)
            if (p->init_containers[i].kind == CONTAINER_KIND_INIT)
                p->init_containers[i].init_once = once;
        return;
    }
    /* Per container: PODMAN_INIT_TYPE "/NAME". */
    {
        Container *c = find_container_mut(p, suffix + 1);

        if (!c || c->kind == CONTAINER_KIND_REGULAR)
            v_error(v, value, "no init container named '%s'", suffix + 1);
        else if (c->kind == CONTAINER_KIND_SIDECAR)
            v_error(v, value, "'%s' is a sidecar; only plain init containers can run once",
                    suffix + 1);
        else
            c->init_once = once;
    }
}

static void annotation_depends_on(V *v, Pod *p, const char *key, const Node *value)
{
    const char *waiter = key + strlen(DEPENDS_ON_PREFIX);
    _cleanup_free_ char *copy = strdup(value->scalar);
    char *save = NULL;

    if (!copy) {
        v->oom = true;
        return;
    }
    if (!pod_find_container(p, waiter)) {
        v_error(v, value, "annotation names container '%s', which is not in this pod", waiter);
        return;
    }
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *item = strip(tok), *colon = strchr(item, ':');
        DepCondition cond = DEP_CONDITION_STARTED;
        Dependency *nd;

        if (!*item) {
            v_error(v, value, "empty entry in the list");
            continue;
        }
        if (colon) {
            *colon = 0;
            cond = dep_condition_from_string(strip(colon + 1));
            if (cond < 0) {
                v_error(v, value, "'%s' is not a condition: use started, ready or completed",
                        strip(colon + 1));
                continue;
            }
            item = strip(item);
        }
        if (streq(item, waiter)) {
            v_error(v, value, "'%s' cannot depend on itself", waiter);
            continue;
        }
        if (!pod_find_container(p, item)) {
            v_error(v, value, "'%s' depends on '%s', which is not a container of this pod",
                    waiter, item);
            continue;
        }
        nd = reallocarray(p->dependencies, p->n_dependencies + 1, sizeof(Dependency));
        if (!nd) {
            v->oom = true;
            return;
        }
        p->dependencies = nd;
        nd[p->n_dependencies] = (Dependency){.container = strdup(waiter), .on = strdup(item),
                                             .condition = cond,
                                             .pos = {value->line, value->column}};
        p->n_dependencies++;
        if (!nd[p->n_dependencies - 1].container || !nd[p->n_dependencies - 1].on)
            v->oom = true;
    }
}

static void annotation_backoff(V *v, Pod *p, const Node *value)
{
    _cleanup_free_ char *copy = strdup(value->scalar);
    char *save = NULL;

    if (!copy) {
        v->oom = true;
        return;
    }
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *item = strip(tok), *eq = strchr(item, '=');
        uint64_t usec;
        uint64_t *target;

        if (!eq) {
            v_error(v, value, "'%s' is not key=duration (keys: initial, max, reset)", item);
            continue;
        }
        *eq = 0;
        if (streq(strip(item), "initial"))
            target = &p->backoff.initial_usec;
        else if (streq(strip(item), "max"))
            target = &p->backoff.max_usec;
        else if (streq(strip(item), "reset"))
            target = &p->backoff.reset_usec;
        else {
            v_error(v, value, "unknown key '%s': use initial, max or reset", strip(item));
            continue;
        }
        if (duration_parse_usec(strip(eq + 1), &usec) < 0 || usec == 0) {
            v_error(v, value, "'%s' is not a positive duration (examples: 500ms, 10s, 5m)",
                    strip(eq + 1));
            continue;
        }
        *target = usec;
        p->backoff.set = true;
    }
    if (p->backoff.initial_usec > p->backoff.max_usec)
        v_error(v, value, "initial backoff must not exceed max");
}

static void annotation_suggest(V *v, const Node *key)
{
    const char *best = NULL;
    unsigned best_d = 4;

    for (size_t i = 0; podd_annotations[i]; i++) {
        unsigned d = string_distance(podd_annotations[i], key->scalar, 3);

        if (d < best_d) {
            best_d = d;
            best = podd_annotations[i];
        }
    }
    if (best)
        v_error(v, key, "unknown podd annotation; did you mean '%s'?", best);
    else
        v_error(v, key, "unknown podd annotation (known: podd.io/exit-policy, podd.io/init-once, "
                        "podd.io/runtime, podd.io/restart-backoff, podd.io/depends-on.<container>)");
}

static void validate_annotations(V *v, Pod *p, const Node *annotations)
{
    if (!annotations || annotations->type != NODE_MAPPING)
        return;
    for (size_t i = 0; i < annotations->n_pairs; i++) {
        const Node *key = annotations->pairs[i].key, *value = annotations->pairs[i].value;
        const char *k = key->scalar;
        size_t old;

        if (!startswith(k, PODD_PREFIX) && !startswith(k, PODMAN_INIT_TYPE))
            continue;
        if (startswith(k, PODMAN_INIT_TYPE) && k[strlen(PODMAN_INIT_TYPE)] != 0 &&
            k[strlen(PODMAN_INIT_TYPE)] != '/')
            continue;
        if (value->type != NODE_SCALAR || value->kind != SCALAR_STRING)
            continue; /* already reported by the map parser */
        old = v_push(v, "metadata.annotations[\"%s\"]", k);
        if (streq(k, "podd.io/exit-policy")) {
            ExitPolicy e = exit_policy_from_string(value->scalar);

            if (e < 0)
                v_error(v, value, "'%s' is not an exit policy: use stop or continue",
                        value->scalar);
            else
                p->exit_policy = e;
        } else if (streq(k, "podd.io/runtime")) {
            RuntimeKind r = runtime_kind_from_string(value->scalar);

            if (r < 0)
                v_error(v, value, "'%s' is not a runtime: use native, runc or crun", value->scalar);
            else
                p->runtime = r;
        } else if (streq(k, "podd.io/init-once")) {
            annotation_init_once(v, p, value);
        } else if (streq(k, "podd.io/restart-backoff")) {
            annotation_backoff(v, p, value);
        } else if (startswith(k, DEPENDS_ON_PREFIX) && k[strlen(DEPENDS_ON_PREFIX)]) {
            annotation_depends_on(v, p, k, value);
        } else if (startswith(k, PODMAN_INIT_TYPE)) {
            annotation_podman_init(v, p, k, value);
        } else {
            annotation_suggest(v, key);
        }
        v_pop(v, old);
    }
}

/* ---- cross-field checks ------------------------------------------------------------------------- */

static void check_unique_containers(V *v, Pod *p, const Node *spec)
{
    const Node *lists[2] = {node_get(spec, "initContainers"), node_get(spec, "containers")};

    POD_FOREACH_CONTAINER(p, c, i)
    {
        const Container *first;

        if (!c->name)
            continue;
        first = pod_find_container(p, c->name);
        if (first != c) {
            bool init = i < p->n_init_containers;
            size_t idx = init ? i : i - p->n_init_containers;
            const Node *list = lists[init ? 0 : 1];
            const Node *item = list && idx < list->n_items ? list->items[idx] : spec;
            const Node *name = node_get(item, "name");
            size_t old = v_push(v, "spec.%s[%zu].name", init ? "initContainers" : "containers",
                                idx);

            v_error(v, name ? name : item, "duplicate container name '%s' (first at line %u)",
                    c->name, first->pos.line);
            v_pop(v, old);
        }
    }
}

static void check_mounts(V *v, Pod *p, const Node *spec)
{
    const Node *lists[2] = {node_get(spec, "initContainers"), node_get(spec, "containers")};

    POD_FOREACH_CONTAINER(p, c, i)
    {
        bool init = i < p->n_init_containers;
        size_t idx = init ? i : i - p->n_init_containers;

        for (size_t m = 0; m < c->n_volume_mounts; m++) {
            const VolumeMount *vm = &c->volume_mounts[m];
            bool found = false;

            if (!vm->name)
                continue;
            for (size_t k = 0; k < p->n_volumes; k++)
                if (p->volumes[k].name && streq(p->volumes[k].name, vm->name))
                    found = true;
            if (!found) {
                const Node *list = lists[init ? 0 : 1];
                const Node *mounts = list && idx < list->n_items
                                         ? node_get(list->items[idx], "volumeMounts")
                                         : NULL;
                const Node *mn = mounts && m < mounts->n_items ? node_get(mounts->items[m], "name")
                                                               : NULL;
                size_t old = v_push(v, "spec.%s[%zu].volumeMounts[%zu].name",
                                    init ? "initContainers" : "containers", idx, m);

                if (mn)
                    v_error(v, mn, "no volume named '%s' in spec.volumes", vm->name);
                v_pop(v, old);
            }
        }
    }
}

static void check_host_ports(V *v, Pod *p, const Node *spec)
{
    const Node *containers = node_get(spec, "containers");

    for (size_t i = 0; i < p->n_containers; i++) {
        const Container *c = &p->containers[i];

        for (size_t j = 0; j < c->n_ports; j++) {
            const ContainerPort *port = &c->ports[j];
            const Node *ports = containers && i < containers->n_items
                                    ? node_get(containers->items[i], "ports")
                                    : NULL;
            const Node *pn = ports && j < ports->n_items ? ports->items[j] : spec;
            size_t old = v_push(v, "spec.containers[%zu].ports[%zu]", i, j);

            if (p->host_network && port->host_port != UNSET &&
                port->host_port != port->container_port)
                v_error(v, pn, "with hostNetwork, hostPort must equal containerPort");
            v_pop(v, old);
        }
    }
}

/* ---- the document ------------------------------------------------------------------------------- */

typedef struct DocTarget {
    Pod *pod;
    const Node *metadata, *spec;
} DocTarget;

static void parse_api_version(V *v, const Node *n, void *obj)
{
    _cleanup_free_ char *s = NULL;

    if (v_string(v, n, &s) >= 0 && !streq(s, "v1"))
        v_error(v, n, "'%s' is not supported: podd reads apiVersion v1", s);
}

static void parse_kind(V *v, const Node *n, void *obj)
{
    _cleanup_free_ char *s = NULL;

    if (v_string(v, n, &s) >= 0 && !streq(s, "Pod"))
        v_error(v, n, "'%s' is not supported: podd runs kind Pod only", s);
}

static void parse_metadata(V *v, const Node *n, void *obj)
{
    DocTarget *t = obj;

    t->metadata = n;
    if (v_object(v, n, metadata_fields, t->pod))
        v_require(v, n, "name");
}

static void parse_spec(V *v, const Node *n, void *obj)
{
    DocTarget *t = obj;

    t->spec = n;
    if (v_object(v, n, spec_fields, t->pod))
        v_require(v, n, "containers");
}

static const Field document_fields[] = {
    {"apiVersion", FIELD_SUPPORTED, parse_api_version, NULL, NULL},
    {"kind", FIELD_SUPPORTED, parse_kind, NULL, NULL},
    {"metadata", FIELD_SUPPORTED, parse_metadata, NULL, NULL},
    {"spec", FIELD_SUPPORTED, parse_spec, NULL, NULL},
    {"status", FIELD_IGNORED, NULL, "podd reports status itself", &(Shape){NULL, 'o', NULL}},
    {NULL, 0, NULL, NULL, NULL},
};

static Pod *pod_new_defaults(const Node *doc)
{
    Pod *p = calloc(1, sizeof(Pod));

    if (!p)
        return NULL;
    p->restart_policy = RESTART_POLICY_ALWAYS;
    p->termination_grace_period_seconds = 30;
    p->run_as_user = p->run_as_group = p->fs_group = UNSET;
    p->run_as_non_root = -1;
    p->exit_policy = EXIT_POLICY_STOP;
    p->runtime = RUNTIME_KIND_NATIVE;
    p->backoff = (RestartBackoff){.initial_usec = 10 * 1000000ull,
                                  .max_usec = 300 * 1000000ull,
                                  .reset_usec = 600 * 1000000ull};
    p->pos = (SourcePos){doc->line, doc->column};
    return p;
}

int manifest_validate_document(const Node *doc, Pod **ret_pod, char **ret_name, DiagList *diags)
{
    _cleanup_(pod_freep) Pod *pod = NULL;
    V v = {.diags = diags};
    DocTarget t = {0};

    pod = pod_new_defaults(doc);
    if (!pod)
        return -ENOMEM;
    t.pod = pod;
    if (doc->type != NODE_MAPPING) {
        v_error(&v, doc, "a manifest document must be a mapping (a Pod object), not %s",
                node_describe(doc));
        return v.oom ? -ENOMEM : 0;
    }
    /* Another kind of object: one clear error, not a cascade about Pod fields. */
    {
        const Node *kind = node_get(doc, "kind");

        if (kind && kind->type == NODE_SCALAR && kind->kind == SCALAR_STRING &&
            !streq(kind->scalar, "Pod")) {
            size_t old = v_push_key(&v, "kind");

            v_error(&v, kind, "'%s' is not supported: podd runs kind Pod only", kind->scalar);
            v_pop(&v, old);
            return v.oom ? -ENOMEM : 0;
        }
    }
    (void)v_object(&v, doc, document_fields, &t);
    v_require(&v, doc, "apiVersion");
    v_require(&v, doc, "kind");
    v_require(&v, doc, "metadata");
    v_require(&v, doc, "spec");

    if (!pod->namespace && !(pod->namespace = strdup("default")))
        return -ENOMEM;
    if (t.spec && t.spec->type == NODE_MAPPING) {
        check_unique_containers(&v, pod, t.spec);
        check_mounts(&v, pod, t.spec);
        check_host_ports(&v, pod, t.spec);
        if (pod->host_pid && pod->share_process_namespace) {
            const Node *n = node_get(t.spec, "shareProcessNamespace");
            size_t old = v_push(&v, "spec.shareProcessNamespace");

            v_error(&v, n, "cannot be true together with hostPID");
            v_pop(&v, old);
        }
    }
    if (t.metadata)
        validate_annotations(&v, pod, node_get(t.metadata, "annotations"));
    if (v.oom)
        return -ENOMEM;
    if (pod->name && ret_name && !(*ret_name = strdup(pod->name)))
        return -ENOMEM;
    if (diags->n_errors == 0)
        *ret_pod = move_ptr(pod);
    return 0;
}
