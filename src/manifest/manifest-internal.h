/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The positioned tree that sits between libyaml's events and the Pod model. */

#include "manifest.h"

typedef enum NodeType {
    NODE_SCALAR,
    NODE_MAPPING,
    NODE_SEQUENCE,
} NodeType;

/* How a scalar resolves under the YAML 1.2 core schema (quoted scalars are strings). */
typedef enum ScalarKind {
    SCALAR_STRING,
    SCALAR_NULL,
    SCALAR_BOOL,
    SCALAR_INT,
    SCALAR_FLOAT,
    _SCALAR_KIND_MAX,
    _SCALAR_KIND_INVALID = -EINVAL,
} ScalarKind;

typedef struct Node Node;

typedef struct NodePair {
    Node *key; /* always a scalar */
    Node *value;
} NodePair;

struct Node {
    NodeType type;
    unsigned line, column; /* 1-based */
    /* NODE_SCALAR */
    char *scalar;
    size_t scalar_len;
    ScalarKind kind;
    bool quoted; /* written in quotes (or as a block scalar): never resolved to a number */
    /* NODE_MAPPING */
    NodePair *pairs;
    size_t n_pairs;
    /* NODE_SEQUENCE */
    Node **items;
    size_t n_items;
};

Node *node_free(Node *n);
DEFINE_CLEANUP_FUNC(Node, node_free)
/* Looks a key up in a mapping; NULL when absent or n is not a mapping. */
const Node *node_get(const Node *n, const char *key);
const char *scalar_kind_to_string(ScalarKind k);
/* "a string", "a mapping", "a list", "a number", ... for messages. */
const char *node_describe(const Node *n);

/* A parsed stream: one tree per document. */
typedef struct NodeDocs {
    Node **docs;
    size_t n;
} NodeDocs;

void node_docs_done(NodeDocs *d);

/*
 * The document as plain JSON, scalars resolved as the validator reads
 * them; NULL on ENOMEM or for a value JSON cannot hold (.inf, .nan).
 */
json_t *node_to_json(const Node *n);

/*
 * YAML 1.2 core integers: decimal, 0x hex, 0o octal. A decimal with a
 * leading zero is refused (-EDOM): YAML 1.1, which Kubernetes' parser
 * follows, reads "010" as octal 8 where YAML 1.2 reads 10. -ERANGE otherwise.
 */
int yaml_int_parse(const char *s, long long *ret);

/*
 * Checks the encoding of buf: UTF-8 only (a UTF-8 BOM is fine), no NUL,
 * no overlong forms, surrogates or code points past U+10FFFF. Returns 0 or
 * -EILSEQ with reterr naming byte offset, line and column.
 */
int manifest_check_encoding(const char *buf, size_t size, PdError *reterr);

/* libyaml event stream -> trees, with the depth, alias and duplicate-key rules. */
int yaml_tree_parse(const char *buf, size_t size, NodeDocs *ret, PdError *reterr);

/* Strict JSON check with jansson (duplicate keys rejected); the tree still comes from libyaml. */
int json_check_strict(const char *buf, size_t size, PdError *reterr);

/* Validation of one document tree into a Pod (NULL when it has errors). */
int manifest_validate_document(const Node *doc, Pod **ret_pod, char **ret_name, DiagList *diags);
/* Checks the wrapper of a kind: List (not its items) into diags. */
int manifest_validate_list(const Node *doc, DiagList *diags);
/*
 * JSON "\uD83D\uDE80" escapes (a surrogate pair) are valid JSON that libyaml
 * refuses; returns in *ret a copy with each pair written as UTF-8, or NULL
 * when there is none. 0 or -ENOMEM.
 */
int json_join_surrogate_escapes(const char *buf, size_t size, char **ret, size_t *ret_size);

/* ---- validation internals (manifest-validate*.c) ---------------------------------- */

#define PATH_MAX_LEN 1024
#define ANNOTATIONS_MAX_BYTES (256 * 1024)

typedef struct V {
    DiagList *diags;
    char path[PATH_MAX_LEN];
    size_t len;
    bool oom;
} V;

typedef enum FieldClass {
    FIELD_SUPPORTED,
    FIELD_IGNORED,     /* meaningful only in a cluster: warning */
    FIELD_UNSUPPORTED, /* a Kubernetes field podd does not implement: error */
} FieldClass;

typedef struct Shape Shape;

/* How a supported field is read: by its own function, or straight into a member of obj. */
typedef enum FieldValue {
    FIELD_VALUE_PARSER,
    FIELD_VALUE_STRING,   /* char * */
    FIELD_VALUE_BOOL,     /* bool */
    FIELD_VALUE_TRISTATE, /* int: -1 unset, 0, 1 */
    FIELD_VALUE_INT,      /* int64_t in [min, max] */
    FIELD_VALUE_INT32,    /* int32_t in [min, max] */
} FieldValue;

typedef struct Field {
    const char *key;
    FieldClass cls;
    FieldValue value;
    void (*parse)(V *v, const Node *n, void *obj); /* FIELD_VALUE_PARSER */
    size_t offset;                                 /* the other FIELD_VALUE_* */
    int64_t min, max;
    const char *note;   /* the why, for ignored and unsupported fields */
    const Shape *shape; /* ignored fields: the Kubernetes shape still checked */
} Field;

#define F_PARSE(k, fn)                                                                             \
    {                                                                                              \
        .key = k, .cls = FIELD_SUPPORTED, .value = FIELD_VALUE_PARSER, .parse = fn                 \
    }
#define F_MEMBER(k, kind, type, member, lo, hi)                                                    \
    {                                                                                              \
        .key = k, .cls = FIELD_SUPPORTED, .value = kind, .offset = offsetof(type, member),         \
        .min = lo, .max = hi                                                                       \
    }
#define F_STRING(k, type, member) F_MEMBER(k, FIELD_VALUE_STRING, type, member, 0, 0)
#define F_BOOL(k, type, member) F_MEMBER(k, FIELD_VALUE_BOOL, type, member, 0, 0)
#define F_TRISTATE(k, type, member) F_MEMBER(k, FIELD_VALUE_TRISTATE, type, member, 0, 0)
#define F_INT(k, type, member, lo, hi) F_MEMBER(k, FIELD_VALUE_INT, type, member, lo, hi)
#define F_INT32(k, type, member, lo, hi) F_MEMBER(k, FIELD_VALUE_INT32, type, member, lo, hi)
#define F_IGNORED(k, why, ...)                                                                     \
    {                                                                                              \
        .key = k, .cls = FIELD_IGNORED, .note = why, .shape = __VA_ARGS__                          \
    }
#define F_UNSUPPORTED(k, why)                                                                      \
    {                                                                                              \
        .key = k, .cls = FIELD_UNSUPPORTED, .note = why                                            \
    }
#define F_END                                                                                      \
    {                                                                                              \
        .key = NULL                                                                                \
    }

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

/* Shared by the validation files; each reports into v and never logs. */
_printf_(3, 4) void validate_error(V *v, const Node *n, const char *fmt, ...);
_printf_(3, 4) void validate_warning(V *v, const Node *n, const char *fmt, ...);
/* Extends the field path; returns the length to give back to validate_pop(). */
_printf_(2, 3) size_t validate_push(V *v, const char *fmt, ...);
size_t validate_push_key(V *v, const char *key);
void validate_pop(V *v, size_t old);
/* Reports and returns false unless n is of the type (what: "a mapping", ...). */
bool validate_is(V *v, const Node *n, NodeType type, const char *what);
/* Scalar readers: on success replace *ret (freeing an older string) and return 0. */
int validate_string(V *v, const Node *n, char **ret);
/* A string that must be a DNS-1123 label; what names it in the message ("hostname"). */
int validate_dns_label(V *v, const Node *n, const char *what, char **ret);
int validate_int32(V *v, const Node *n, int64_t min, int64_t max, int32_t *ret);
int validate_strv(V *v, const Node *n, char ***ret);
/*
 * Checks that n is a list of at most max entries (what: "entries", for the
 * message) and sets *ret to a zeroed array of n->n_items elements of size
 * bytes, owned by the caller. False, reported, otherwise.
 */
bool validate_list_alloc(V *v, const Node *n, size_t max, const char *what, size_t size,
                         void **ret);
const Field *validate_field_find(const Field *fields, const char *key);
/* Walks a mapping against a field table; false when n is not a mapping. */
bool validate_object(V *v, const Node *n, const Field *fields, void *obj);
/* Reports "path.key: required" at the mapping when key is absent; false then. */
bool validate_require(V *v, const Node *n, const char *key);
bool path_is_absolute(const char *s);
bool path_is_safe_relative(const char *s);
bool qualified_name_is_valid(const char *s);
bool label_value_is_valid(const char *s);
bool port_name_is_valid(const char *s);

/* manifest-validate-container.c */
extern const Shape validate_windows_options_shape;
void validate_seccomp(V *v, const Node *n, SeccompProfile *profile, bool *set);
void validate_init_containers(V *v, const Node *n, void *pod);
void validate_containers(V *v, const Node *n, void *pod);
