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
/* Validation of an item of a kind: List, or a document; may expand into several docs. */
