/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <yaml.h>

#include "manifest-internal.h"

/* Entries in one mapping or sequence; bounds the duplicate-key scan too. */
#define MAX_COLLECTION_ENTRIES 4096

Node *node_free(Node *n)
{
    if (!n)
        return NULL;
    free(n->scalar);
    for (size_t i = 0; i < n->n_pairs; i++) {
        node_free(n->pairs[i].key);
        node_free(n->pairs[i].value);
    }
    free(n->pairs);
    for (size_t i = 0; i < n->n_items; i++)
        node_free(n->items[i]);
    free(n->items);
    free(n);
    return NULL;
}

void node_docs_done(NodeDocs *d)
{
    for (size_t i = 0; i < d->n; i++)
        node_free(d->docs[i]);
    free(d->docs);
    *d = (NodeDocs){0};
}

const Node *node_get(const Node *n, const char *key)
{
    if (!n || n->type != NODE_MAPPING)
        return NULL;
    for (size_t i = 0; i < n->n_pairs; i++)
        if (streq(n->pairs[i].key->scalar, key))
            return n->pairs[i].value;
    return NULL;
}

DEFINE_STRING_TABLE(
    scalar_kind, ScalarKind, _SCALAR_KIND_MAX, [SCALAR_STRING] = "a string", [SCALAR_NULL] = "null",
    [SCALAR_BOOL] = "a boolean", [SCALAR_INT] = "an integer", [SCALAR_FLOAT] = "a number")

const char *node_describe(const Node *n)
{
    switch (n->type) {
    case NODE_MAPPING:
        return "a mapping";
    case NODE_SEQUENCE:
        return "a list";
    case NODE_SCALAR:
    default:
        return scalar_kind_to_string(n->kind);
    }
}

/* ---- encoding ------------------------------------------------------------------- */

static void offset_to_position(const char *buf, size_t off, unsigned *line, unsigned *col)
{
    unsigned l = 1, c = 1;
    size_t i = 0;

    /* A byte order mark is no character: columns count as if it were absent. */
    if (off >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    for (; i < off; i++) {
        if (buf[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)buf[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0 when invalid. */
static size_t utf8_sequence_length(const unsigned char *p, size_t n)
{
    uint32_t cp;
    size_t len;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        len = 2, cp = p[0] & 0x1F;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        len = 3, cp = p[0] & 0x0F;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        len = 4, cp = p[0] & 0x07;
    else
        return 0; /* continuation byte, overlong lead (C0, C1) or past U+10FFFF (F5..FF) */
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) /* overlong */
        return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF) /* UTF-16 surrogates are not characters */
        return 0;
    if (cp > 0x10FFFF)
        return 0;
    return len;
}

int manifest_check_encoding(const char *buf, size_t size, PdError *reterr)
{
    const unsigned char *p = (const unsigned char *)buf;
    unsigned line, col;

    if ((size >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF))) ||
        (size >= 2 && (p[0] == 0 || p[1] == 0) && size % 2 == 0 && (p[0] != 0 || p[1] != 0)))
        return pd_error_set_at(reterr, -EILSEQ, 1, 1,
                               "the file is UTF-16 or UTF-32 encoded; podd reads UTF-8 only");
    for (size_t i = 0; i < size;) {
        size_t len;

        if (p[i] == 0) {
            offset_to_position(buf, i, &line, &col);
            return pd_error_set_at(reterr, -EILSEQ, line, col, "NUL byte at byte offset %zu", i);
        }
        len = utf8_sequence_length(p + i, size - i);
        if (len == 0) {
            offset_to_position(buf, i, &line, &col);
            return pd_error_set_at(reterr, -EILSEQ, line, col,
                                   "invalid UTF-8 (byte 0x%02X) at byte offset %zu", p[i], i);
        }
        i += len;
    }
    return 0;
}

/* ---- the event stream ------------------------------------------------------------ */

typedef struct Anchor {
    char *name;
    Node *node;
    bool open; /* still being built: an alias to it would be a cycle */
} Anchor;

typedef struct Builder {
    const char *buf;
    size_t size;
    Node *stack[MANIFEST_MAX_DEPTH + 2];
    size_t
        open_anchor[MANIFEST_MAX_DEPTH + 2]; /* 1 + index of each open collection's anchor, or 0 */
    Node *pending_key[MANIFEST_MAX_DEPTH + 2]; /* mapping key waiting for its value */
    size_t depth;
    Anchor *anchors;
    size_t n_anchors;
    size_t alias_budget;
    size_t alias_bytes_budget;
    Node *root;
} Builder;

static void builder_done(Builder *b)
{
    for (size_t i = 0; i < b->n_anchors; i++)
        free(b->anchors[i].name);
    free(b->anchors);
    b->anchors = NULL;
    b->n_anchors = 0;
    for (size_t i = 0; i < b->depth; i++)
        node_free(b->pending_key[i]);
    /* The stack's nodes are all reachable from root (each was attached when opened). */
    node_free(b->root);
    b->root = NULL;
    b->depth = 0;
}

static Node *node_new(NodeType type, const yaml_mark_t *m)
{
    Node *n = calloc(1, sizeof(Node));

    if (!n)
        return NULL;
    n->type = type;
    n->line = (unsigned)m->line + 1;
    n->column = (unsigned)m->column + 1;
    return n;
}

static bool match_int(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (startswith(s, "0x") || startswith(s, "0o")) {
        bool hex = s[1] == 'x';

        s += 2;
        if (!*s)
            return false;
        for (; *s; s++)
            if (hex ? !strchr("0123456789abcdefABCDEF", *s) : !strchr("01234567", *s))
                return false;
        return true;
    }
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static bool match_float(const char *s)
{
    bool digits = false;

    if (streq(s, ".inf") || streq(s, ".Inf") || streq(s, ".INF") || streq(s, "-.inf") ||
        streq(s, "+.inf") || streq(s, "-.Inf") || streq(s, "+.Inf") || streq(s, "-.INF") ||
        streq(s, "+.INF") || streq(s, ".nan") || streq(s, ".NaN") || streq(s, ".NAN"))
        return true;
    if (*s == '-' || *s == '+')
        s++;
    while (*s >= '0' && *s <= '9')
        s++, digits = true;
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9')
            s++, digits = true;
    }
    if (!digits)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == 0;
}

/* YAML 1.2 core schema resolution of a plain scalar. */
static ScalarKind resolve_plain(const char *s)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE"};

    for (size_t i = 0; i < ELEMENTSOF(nulls); i++)
        if (streq(s, nulls[i]))
            return SCALAR_NULL;
    for (size_t i = 0; i < ELEMENTSOF(bools); i++)
        if (streq(s, bools[i]))
            return SCALAR_BOOL;
    if (match_int(s))
        return SCALAR_INT;
    if (match_float(s))
        return SCALAR_FLOAT;
    return SCALAR_STRING;
}

static int resolve_tag(const char *tag, ScalarKind *kind, const yaml_mark_t *m, PdError *e)
{
    static const struct {
        const char *tag;
        ScalarKind kind;
    } tags[] = {
        {"tag:yaml.org,2002:str", SCALAR_STRING},  {"tag:yaml.org,2002:int", SCALAR_INT},
        {"tag:yaml.org,2002:bool", SCALAR_BOOL},   {"tag:yaml.org,2002:null", SCALAR_NULL},
        {"tag:yaml.org,2002:float", SCALAR_FLOAT},
    };

    if (!tag || streq(tag, "!"))
        return 0;
    for (size_t i = 0; i < ELEMENTSOF(tags); i++)
        if (streq(tag, tags[i].tag)) {
            /* Only !!str changes anything we rely on; the others must agree with the text. */
            if (tags[i].kind == SCALAR_STRING)
                *kind = SCALAR_STRING;
            else if (*kind != tags[i].kind)
                return pd_error_set_at(e, -EINVAL, (unsigned)m->line + 1, (unsigned)m->column + 1,
                                       "value does not match its tag '%s'", tag);
            return 0;
        }
    return pd_error_set_at(e, -EINVAL, (unsigned)m->line + 1, (unsigned)m->column + 1,
                           "unsupported YAML tag '%s'", tag);
}

static int register_anchor(Builder *b, const char *name, Node *n, bool open, Anchor **ret)
{
    Anchor *na;

    /* A later anchor of the same name hides the earlier one, as in YAML. */
    na = reallocarray(b->anchors, b->n_anchors + 1, sizeof(Anchor));
    if (!na)
        return -ENOMEM;
    b->anchors = na;
    na[b->n_anchors] = (Anchor){.name = strdup(name), .node = n, .open = open};
    if (!na[b->n_anchors].name)
        return -ENOMEM;
    if (ret)
        *ret = &na[b->n_anchors];
    b->n_anchors++;
    return 0;
}

static Anchor *find_anchor(Builder *b, const char *name)
{
    for (size_t i = b->n_anchors; i > 0; i--)
        if (streq(b->anchors[i - 1].name, name))
            return &b->anchors[i - 1];
    return NULL;
}

static size_t node_count(const Node *n, size_t limit)
{
    size_t c = 1;

    for (size_t i = 0; i < n->n_pairs && c <= limit; i++)
        c += 1 + node_count(n->pairs[i].value, limit);
    for (size_t i = 0; i < n->n_items && c <= limit; i++)
        c += node_count(n->items[i], limit);
    return c;
}

/* The scalar bytes under n, counted up to limit + 1. */
static size_t node_bytes(const Node *n, size_t limit)
{
    size_t c = n->scalar_len;

    for (size_t i = 0; i < n->n_pairs && c <= limit; i++)
        c += n->pairs[i].key->scalar_len + node_bytes(n->pairs[i].value, limit);
    for (size_t i = 0; i < n->n_items && c <= limit; i++)
        c += node_bytes(n->items[i], limit);
    return c;
}

static Node *node_copy(const Node *n)
{
    _cleanup_(node_freep) Node *c = calloc(1, sizeof(Node));

    if (!c)
        return NULL;
    c->type = n->type;
    c->line = n->line;
    c->column = n->column;
    c->kind = n->kind;
    c->quoted = n->quoted;
    if (n->scalar) {
        c->scalar = malloc(n->scalar_len + 1);
        if (!c->scalar)
            return NULL;
        memcpy(c->scalar, n->scalar, n->scalar_len + 1);
        c->scalar_len = n->scalar_len;
    }
    if (n->n_pairs) {
        c->pairs = calloc(n->n_pairs, sizeof(NodePair));
        if (!c->pairs)
            return NULL;
        for (size_t i = 0; i < n->n_pairs; i++, c->n_pairs++) {
            c->pairs[i].key = node_copy(n->pairs[i].key);
            c->pairs[i].value = node_copy(n->pairs[i].value);
            if (!c->pairs[i].key || !c->pairs[i].value) {
                c->n_pairs++;
                return NULL;
            }
        }
    }
    if (n->n_items) {
        c->items = calloc(n->n_items, sizeof(Node *));
        if (!c->items)
            return NULL;
        for (size_t i = 0; i < n->n_items; i++, c->n_items++) {
            c->items[i] = node_copy(n->items[i]);
            if (!c->items[i])
                return NULL;
        }
    }
    return move_ptr(c);
}

/* Attaches a finished (or just opened) node to its parent. Takes n on every path. */
static int attach(Builder *b, Node *n, PdError *e)
{
    _cleanup_(node_freep) Node *node = n;
    Node *parent;

    if (b->depth == 0) {
        if (b->root)
            return pd_error_set_at(e, -EINVAL, node->line, node->column,
                                   "more than one root node in a document");
        b->root = move_ptr(node);
        return 0;
    }
    parent = b->stack[b->depth - 1];
    if (parent->type == NODE_SEQUENCE) {
        Node **ni;

        if (parent->n_items >= MAX_COLLECTION_ENTRIES)
            return pd_error_set_at(e, -E2BIG, node->line, node->column,
                                   "a list with more than %d entries", MAX_COLLECTION_ENTRIES);
        ni = reallocarray(parent->items, parent->n_items + 1, sizeof(Node *));
        if (!ni)
            return -ENOMEM;
        parent->items = ni;
        ni[parent->n_items++] = move_ptr(node);
        return 0;
    }

    /* A mapping: this node is either a key or the value of the pending key. */
    if (!b->pending_key[b->depth - 1]) {
        if (node->type != NODE_SCALAR)
            return pd_error_set_at(e, -EINVAL, node->line, node->column,
                                   "a mapping key must be a plain string, not %s",
                                   node_describe(node));
        if (node->kind == SCALAR_NULL && node->scalar_len == 0)
            return pd_error_set_at(e, -EINVAL, node->line, node->column, "empty mapping key");
        if (node->kind == SCALAR_STRING && streq(node->scalar, "<<") && !node->quoted)
            return pd_error_set_at(e, -EINVAL, node->line, node->column,
                                   "YAML merge keys ('<<') are not supported: write the keys out");
        for (size_t i = 0; i < parent->n_pairs; i++)
            if (streq(parent->pairs[i].key->scalar, node->scalar))
                return pd_error_set_at(e, -EINVAL, node->line, node->column,
                                       "duplicate key '%s' (first defined at line %u)",
                                       node->scalar, parent->pairs[i].key->line);
        if (parent->n_pairs >= MAX_COLLECTION_ENTRIES)
            return pd_error_set_at(e, -E2BIG, node->line, node->column,
                                   "a mapping with more than %d keys", MAX_COLLECTION_ENTRIES);
        b->pending_key[b->depth - 1] = move_ptr(node);
        return 0;
    } else {
        NodePair *np = reallocarray(parent->pairs, parent->n_pairs + 1, sizeof(NodePair));

        if (!np)
            return -ENOMEM;
        parent->pairs = np;
        np[parent->n_pairs].key = move_ptr(b->pending_key[b->depth - 1]);
        np[parent->n_pairs].value = move_ptr(node);
        parent->n_pairs++;
        return 0;
    }
}

static int on_scalar(Builder *b, yaml_event_t *ev, PdError *e)
{
    _cleanup_(node_freep) Node *n = node_new(NODE_SCALAR, &ev->start_mark);
    const char *tag = (const char *)ev->data.scalar.tag;
    Node *raw;
    int r;

    if (!n)
        return -ENOMEM;
    n->scalar_len = ev->data.scalar.length;
    n->scalar = malloc(n->scalar_len + 1);
    if (!n->scalar)
        return -ENOMEM;
    memcpy(n->scalar, ev->data.scalar.value, n->scalar_len);
    n->scalar[n->scalar_len] = 0;
    if (strlen(n->scalar) != n->scalar_len)
        /* An escaped "\0" inside a quoted string. */
        return pd_error_set_at(e, -EILSEQ, n->line, n->column, "NUL character in a string");
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    n->kind = n->quoted ? SCALAR_STRING : resolve_plain(n->scalar);
    r = resolve_tag(tag, &n->kind, &ev->start_mark, e);
    if (r < 0)
        return r;
    raw = n;
    r = attach(b, move_ptr(n), e);
    if (r < 0)
        return r;
    if (ev->data.scalar.anchor)
        return register_anchor(b, (const char *)ev->data.scalar.anchor, raw, false, NULL);
    return 0;
}

static int on_alias(Builder *b, yaml_event_t *ev, PdError *e)
{
    const char *name = (const char *)ev->data.alias.anchor;
    unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;
    Anchor *a = find_anchor(b, name);
    size_t cost;
    Node *copy;

    if (!a)
        return pd_error_set_at(e, -EINVAL, line, col, "alias '*%s' names no anchor", name);
    if (a->open)
        return pd_error_set_at(e, -ELOOP, line, col,
                               "alias '*%s' refers to a node that contains it (a cycle)", name);
    cost = node_count(a->node, b->alias_budget);
    if (cost > b->alias_budget)
        return pd_error_set_at(e, -E2BIG, line, col,
                               "alias '*%s' expands past the budget of %d nodes", name,
                               MANIFEST_ALIAS_BUDGET);
    b->alias_budget -= cost;
    cost = node_bytes(a->node, b->alias_bytes_budget);
    if (cost > b->alias_bytes_budget)
        return pd_error_set_at(e, -E2BIG, line, col,
                               "alias '*%s' expands past the budget of %u bytes of text", name,
                               MANIFEST_ALIAS_BYTES_BUDGET);
    b->alias_bytes_budget -= cost;
    copy = node_copy(a->node);
    if (!copy)
        return -ENOMEM;
    copy->line = line;
    copy->column = col;
    return attach(b, copy, e);
}

static int on_collection_start(Builder *b, yaml_event_t *ev, NodeType type, PdError *e)
{
    const char *anchor = (const char *)(type == NODE_MAPPING ? ev->data.mapping_start.anchor
                                                             : ev->data.sequence_start.anchor);
    const char *tag = (const char *)(type == NODE_MAPPING ? ev->data.mapping_start.tag
                                                          : ev->data.sequence_start.tag);
    Node *n;
    Anchor *a = NULL;
    int r;

    if (b->depth >= MANIFEST_MAX_DEPTH)
        return pd_error_set_at(e, -E2BIG, (unsigned)ev->start_mark.line + 1,
                               (unsigned)ev->start_mark.column + 1, "nesting deeper than %d levels",
                               MANIFEST_MAX_DEPTH);
    if (tag && !streq(tag, "!") && !streq(tag, "tag:yaml.org,2002:map") &&
        !streq(tag, "tag:yaml.org,2002:seq"))
        return pd_error_set_at(e, -EINVAL, (unsigned)ev->start_mark.line + 1,
                               (unsigned)ev->start_mark.column + 1, "unsupported YAML tag '%s'",
                               tag);
    n = node_new(type, &ev->start_mark);
    if (!n)
        return -ENOMEM;
    /* Attach first, so the tree owns the node; its children come later. */
    r = attach(b, n, e);
    if (r < 0)
        return r;
    if (anchor) {
        r = register_anchor(b, anchor, n, true, &a);
        if (r < 0)
            return r;
    }
    b->stack[b->depth] = n;
    /* The anchors array may move on realloc: remember the index, not the pointer. */
    b->open_anchor[b->depth] = a ? (size_t)(a - b->anchors) + 1 : 0;
    b->pending_key[b->depth] = NULL;
    b->depth++;
    return 0;
}

static void on_collection_end(Builder *b)
{
    size_t idx;

    if (b->depth == 0)
        return;
    b->depth--;
    idx = b->open_anchor[b->depth];
    if (idx)
        b->anchors[idx - 1].open = false;
    /* A key without a value cannot reach here (libyaml emits a null scalar); be safe anyway. */
    node_free(b->pending_key[b->depth]);
    b->pending_key[b->depth] = NULL;
}

static bool line_indent_has_tab(const char *buf, size_t size, size_t line0)
{
    size_t l = 0, i = 0;

    while (i < size && l < line0) {
        if (buf[i] == '\n')
            l++;
        i++;
    }
    for (; i < size && (buf[i] == ' ' || buf[i] == '\t'); i++)
        if (buf[i] == '\t')
            return true;
    return false;
}

static int parser_error(Builder *b, yaml_parser_t *p, PdError *e)
{
    const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->mark;
    const char *problem = p->problem ? p->problem : "syntax error";

    if (p->error == YAML_MEMORY_ERROR)
        return -ENOMEM;
    if (line_indent_has_tab(b->buf, b->size, m->line))
        return pd_error_set_at(e, -EINVAL, (unsigned)m->line + 1, (unsigned)m->column + 1,
                               "tab character in indentation (YAML indents with spaces only)");
    if (p->context)
        return pd_error_set_at(e, -EINVAL, (unsigned)m->line + 1, (unsigned)m->column + 1,
                               "YAML syntax error: %s %s", problem, p->context);
    return pd_error_set_at(e, -EINVAL, (unsigned)m->line + 1, (unsigned)m->column + 1,
                           "YAML syntax error: %s", problem);
}

static int push_doc(NodeDocs *d, Node *n)
{
    Node **nd;

    if (d->n >= MANIFEST_MAX_DOCUMENTS) {
        node_free(n);
        return -E2BIG;
    }
    nd = reallocarray(d->docs, d->n + 1, sizeof(Node *));
    if (!nd) {
        node_free(n);
        return -ENOMEM;
    }
    d->docs = nd;
    nd[d->n++] = n;
    return 0;
}

int yaml_tree_parse(const char *buf, size_t size, NodeDocs *ret, PdError *reterr)
{
    _cleanup_(node_docs_done) NodeDocs docs = {0};
    Builder b = {.alias_budget = MANIFEST_ALIAS_BUDGET,
                 .alias_bytes_budget = MANIFEST_ALIAS_BYTES_BUDGET};
    yaml_parser_t parser;
    bool done = false;
    int r = 0;

    /*
     * libyaml skips a byte order mark only while it detects the encoding, and
     * we name the encoding: left in, the BOM is read as content and a
     * block-style document fails on its second line. Dropping it here keeps
     * every line and column where they are without it.
     */
    if (size >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
        buf += 3;
        size -= 3;
    }
    b.buf = buf;
    b.size = size;
    if (!yaml_parser_initialize(&parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, size);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

    while (!done) {
        yaml_event_t ev;

        if (!yaml_parser_parse(&parser, &ev)) {
            r = parser_error(&b, &parser, reterr);
            break;
        }
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            b.root = NULL;
            /* Anchors do not cross documents. */
            for (size_t i = 0; i < b.n_anchors; i++)
                free(b.anchors[i].name);
            b.n_anchors = 0;
            break;
        case YAML_DOCUMENT_END_EVENT:
            if (b.root) {
                r = push_doc(&docs, move_ptr(b.root));
                if (r == -E2BIG)
                    r = pd_error_set_at(reterr, r, (unsigned)ev.start_mark.line + 1, 1,
                                        "more than %d documents in one file",
                                        MANIFEST_MAX_DOCUMENTS);
            }
            break;
        case YAML_SCALAR_EVENT:
            r = on_scalar(&b, &ev, reterr);
            break;
        case YAML_ALIAS_EVENT:
            r = on_alias(&b, &ev, reterr);
            break;
        case YAML_MAPPING_START_EVENT:
            r = on_collection_start(&b, &ev, NODE_MAPPING, reterr);
            break;
        case YAML_SEQUENCE_START_EVENT:
            r = on_collection_start(&b, &ev, NODE_SEQUENCE, reterr);
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            on_collection_end(&b);
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (r < 0)
            break;
    }
    yaml_parser_delete(&parser);
    if (r < 0) {
        builder_done(&b);
        return r;
    }
    builder_done(&b);
    *ret = docs;
    docs = (NodeDocs){0};
    return 0;
}

int json_check_strict(const char *buf, size_t size, PdError *reterr)
{
    json_error_t jerr;
    json_t *j;

    j = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return pd_error_set_at(reterr, -EINVAL, jerr.line > 0 ? (unsigned)jerr.line : 1,
                               jerr.column > 0 ? (unsigned)jerr.column : 1, "JSON error: %s",
                               jerr.text);
    json_decref(j);
    return 0;
}

static int hex4(const char *p, unsigned *ret)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        char c = p[i];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -EINVAL;
    }
    *ret = v;
    return 0;
}

/* Is there a "\uHIGH\uLOW" surrogate pair escape at p (p[0] == '\\')? Gives the code point. */
static bool surrogate_pair_at(const char *p, const char *end, uint32_t *ret)
{
    unsigned hi, lo;

    if (end - p < 12 || p[1] != 'u' || p[6] != '\\' || p[7] != 'u')
        return false;
    if (hex4(p + 2, &hi) < 0 || hex4(p + 8, &lo) < 0)
        return false;
    if (hi < 0xD800 || hi > 0xDBFF || lo < 0xDC00 || lo > 0xDFFF)
        return false;
    *ret = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
    return true;
}

int json_join_surrogate_escapes(const char *buf, size_t size, char **ret, size_t *ret_size)
{
    _cleanup_free_ char *out = NULL;
    const char *end = buf + size;
    bool found = false;
    uint32_t cp;
    size_t o = 0;

    *ret = NULL;
    /* Escapes come in pairs of bytes: "\\\\uD83D" is a backslash, then text. */
    for (const char *p = buf; p < end && !found; p++)
        if (*p == '\\') {
            found = surrogate_pair_at(p, end, &cp);
            p++;
        }
    if (!found)
        return 0;
    /* Each 12-byte escape becomes 4 bytes of UTF-8: the copy never grows. */
    out = malloc(size + 1);
    if (!out)
        return -ENOMEM;
    for (const char *p = buf; p < end;) {
        if (*p == '\\' && surrogate_pair_at(p, end, &cp)) {
            out[o++] = (char)(0xF0 | (cp >> 18));
            out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
            p += 12;
        } else if (*p == '\\' && p + 1 < end) {
            out[o++] = *p++;
            out[o++] = *p++;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = 0;
    *ret = move_ptr(out);
    *ret_size = o;
    return 0;
}

/* ---- the document as JSON ---------------------------------------------------------------- */

static json_t *scalar_to_json(const Node *n)
{
    long long i;

    if (n->quoted)
        return json_stringn(n->scalar, n->scalar_len);
    switch (n->kind) {
    case SCALAR_NULL:
        return json_null();
    case SCALAR_BOOL:
        return json_boolean(n->scalar[0] == 't' || n->scalar[0] == 'T');
    case SCALAR_INT:
        return yaml_int_parse(n->scalar, &i) < 0 ? NULL : json_integer(i);
    case SCALAR_FLOAT:
        /* .inf and .nan have no JSON form. */
        return strchr(n->scalar, 'n') || strchr(n->scalar, 'N')
                   ? NULL
                   : json_real(strtod(n->scalar, NULL));
    case SCALAR_STRING:
    default:
        return json_stringn(n->scalar, n->scalar_len);
    }
}

json_t *node_to_json(const Node *n)
{
    _cleanup_json_ json_t *j = NULL;

    if (n->type == NODE_SCALAR)
        return scalar_to_json(n);
    j = n->type == NODE_MAPPING ? json_object() : json_array();
    if (!j)
        return NULL;
    for (size_t i = 0; n->type == NODE_MAPPING && i < n->n_pairs; i++)
        if (json_object_set_new(j, n->pairs[i].key->scalar, node_to_json(n->pairs[i].value)) < 0)
            return NULL;
    for (size_t i = 0; n->type == NODE_SEQUENCE && i < n->n_items; i++)
        if (json_array_append_new(j, node_to_json(n->items[i])) < 0)
            return NULL;
    return move_ptr(j);
}
