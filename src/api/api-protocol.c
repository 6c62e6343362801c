/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>

#include "api.h"
#include "image/image.h"
#include "manifest/manifest.h"

static const struct {
    const char *reason;
    int code;
} reason_table[] = {
    {API_REASON_NOT_FOUND, -ENOENT},
    {API_REASON_BAD_REQUEST, -EINVAL},
    {API_REASON_FORBIDDEN, -EACCES},
    {API_REASON_TOO_LARGE, -EFBIG},
    {API_REASON_TOO_MANY_CLIENTS, -EUSERS},
    {API_REASON_TIMEOUT, -ETIMEDOUT},
    {API_REASON_CONFLICT, -EEXIST},
    {API_REASON_INVALID, -EBADMSG},
    {API_REASON_INTERNAL, -EIO},
};

const char *api_reason_from_errno(int code)
{
    for (size_t i = 0; i < ELEMENTSOF(reason_table); i++)
        if (reason_table[i].code == code)
            return reason_table[i].reason;
    return API_REASON_INTERNAL;
}

int api_reason_to_errno(const char *reason)
{
    for (size_t i = 0; reason && i < ELEMENTSOF(reason_table); i++)
        if (streq(reason_table[i].reason, reason))
            return reason_table[i].code;
    return -EIO;
}

void api_error_set(ApiError *e, const char *reason, const char *fmt, ...)
{
    va_list ap;

    if (!e)
        return;
    (void)snprintf(e->reason, sizeof(e->reason), "%s", reason ? reason : API_REASON_INTERNAL);
    va_start(ap, fmt);
    (void)vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

/* ---- operations ---------------------------------------------------------------------------- */

/* What an operation's argument must be; "name" is always the pod name (req->name). */
typedef enum ApiArgType {
    API_ARG_NAME,  /* a DNS-1123 label */
    API_ARG_LABEL, /* a DNS-1123 label (a container name), not the pod's */
    API_ARG_NAMES, /* a non-empty array of DNS-1123 labels */
    API_ARG_IMAGE, /* an image reference: see api_image_ref_is_valid() */
    API_ARG_UINT,  /* an integer >= 0 */
    API_ARG_BOOL,
    API_ARG_ARRAY, /* checked by the provider */
} ApiArgType;

typedef struct ApiArg {
    const char *key;
    ApiArgType type;
    bool required;
} ApiArg;

#define API_ARGS_MAX 7

static const struct {
    const char *name;
    bool write;
    ApiArg args[API_ARGS_MAX];
} op_table[_API_OP_MAX] = {
    [API_OP_VERSION] = {"version", false, {{0}}},
    [API_OP_GET_PODS] = {"get_pods", false, {{0}}},
    [API_OP_GET_POD] = {"get_pod", false, {{"name", API_ARG_NAME, true}}},
    [API_OP_DESCRIBE_POD] = {"describe_pod", false, {{"name", API_ARG_NAME, true}}},
    [API_OP_EVENTS] = {"events",
                       false,
                       {{"name", API_ARG_NAME, false}, {"after", API_ARG_UINT, false}}},
    [API_OP_LOGS] = {"logs",
                     false,
                     {{"name", API_ARG_NAME, true},
                      {"container", API_ARG_LABEL, false},
                      {"previous", API_ARG_BOOL, false},
                      {"tail", API_ARG_UINT, false},
                      {"sinceSeconds", API_ARG_UINT, false},
                      {"offset", API_ARG_UINT, false}}},
    [API_OP_IMAGES] = {"images", false, {{0}}},
    [API_OP_APPLY] = {"apply",
                      true,
                      {{"manifests", API_ARG_ARRAY, true}, {"dryRun", API_ARG_BOOL, false}}},
    [API_OP_DELETE_PODS] = {"delete_pods", true, {{"names", API_ARG_NAMES, true}}},
    [API_OP_RESTART_POD] = {"restart_pod", true, {{"name", API_ARG_NAME, true}}},
    [API_OP_IMAGE_STORE] = {"image_store", true, {{0}}},
    [API_OP_IMAGE_ADDED] = {"image_added", true, {{"image", API_ARG_IMAGE, true}}},
    [API_OP_IMAGE_REMOVE] = {"image_remove", true, {{"image", API_ARG_IMAGE, true}}},
};

const char *api_op_to_string(ApiOp op)
{
    if (op < 0 || op >= _API_OP_MAX)
        return NULL;
    return op_table[op].name;
}

ApiOp api_op_from_string(const char *s)
{
    for (int i = 0; s && i < _API_OP_MAX; i++)
        if (streq(op_table[i].name, s))
            return (ApiOp)i;
    return _API_OP_INVALID;
}

bool api_op_is_write(ApiOp op)
{
    /* Unknown operations count as writes: fail closed. */
    if (op < 0 || op >= _API_OP_MAX)
        return true;
    return op_table[op].write;
}

/* ---- requests ------------------------------------------------------------------------------ */

ApiRequest *api_request_free(ApiRequest *r)
{
    if (!r)
        return NULL;
    free(r->name);
    json_decref(r->json);
    free(r);
    return NULL;
}

/* A JSON string without embedded NUL (jansson allows "\u0000"); NULL otherwise. */
static const char *plain_string(const json_t *v)
{
    const char *s;

    if (!json_is_string(v))
        return NULL;
    s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return NULL;
    return s;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
    default:
        return "null";
    }
}

static int parse_name(const json_t *v, char **ret, PdError *reterr)
{
    const char *s;
    char *copy;

    if (!json_is_string(v))
        return pd_error_set(reterr, -EINVAL, "'name' must be a string, not %s", json_type_name(v));
    s = plain_string(v);
    if (!s || !dns_label_is_valid(s))
        return pd_error_set(reterr, -EINVAL,
                            "invalid pod name '%.64s%s': a pod name is a DNS-1123 label (1 to 63 "
                            "lower case letters, digits and '-', starting and ending with a "
                            "letter or digit)",
                            s ? s : "", s && strlen(s) > 64 ? "..." : "");
    copy = strdup(s);
    if (!copy)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    *ret = copy;
    return 0;
}

bool api_image_ref_is_valid(const char *ref)
{
    ImageReference r;

    /* One rule for the API and manifests: a reference as image_reference_parse() reads one. */
    return ref && image_reference_parse(ref, &r, NULL) == 0;
}

static const ApiArg *op_arg(ApiOp op, const char *key)
{
    for (size_t i = 0; i < API_ARGS_MAX && op_table[op].args[i].key; i++)
        if (streq(op_table[op].args[i].key, key))
            return &op_table[op].args[i];
    return NULL;
}

static int check_label(const char *key, const json_t *v, PdError *reterr)
{
    const char *s = plain_string(v);

    if (!json_is_string(v))
        return pd_error_set(reterr, -EINVAL, "'%s' must be a string, not %s", key,
                            json_type_name(v));
    if (!s || !dns_label_is_valid(s))
        return pd_error_set(reterr, -EINVAL, "invalid name '%.64s' in '%s': a DNS-1123 label",
                            s ? s : "", key);
    return 0;
}

static int check_arg(const ApiArg *arg, const json_t *v, ApiRequest *req, PdError *reterr)
{
    const char *s;
    size_t i;
    json_t *item;

    switch (arg->type) {
    case API_ARG_NAME:
        return parse_name(v, &req->name, reterr);
    case API_ARG_LABEL:
        return check_label(arg->key, v, reterr);
    case API_ARG_NAMES:
        if (!json_is_array(v) || json_array_size(v) == 0)
            return pd_error_set(reterr, -EINVAL, "'%s' must be a non-empty array of names",
                                arg->key);
        json_array_foreach(v, i, item) if (check_label(arg->key, item, reterr) < 0) return -EINVAL;
        return 0;
    case API_ARG_IMAGE:
        s = plain_string(v);
        if (!s || !api_image_ref_is_valid(s))
            return pd_error_set(reterr, -EINVAL,
                                "invalid image '%.64s': a reference [HOST[:PORT]/]PATH[:TAG]"
                                "[@sha256:DIGEST]",
                                s ? s : "");
        return 0;
    case API_ARG_UINT:
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return pd_error_set(reterr, -EINVAL, "'%s' must be an integer >= 0, not %s", arg->key,
                                json_type_name(v));
        return 0;
    case API_ARG_BOOL:
        if (!json_is_boolean(v))
            return pd_error_set(reterr, -EINVAL, "'%s' must be a boolean, not %s", arg->key,
                                json_type_name(v));
        return 0;
    case API_ARG_ARRAY:
        if (!json_is_array(v))
            return pd_error_set(reterr, -EINVAL, "'%s' must be an array, not %s", arg->key,
                                json_type_name(v));
        return 0;
    }
    return -EINVAL;
}

int api_request_parse(const char *line, size_t len, ApiRequest **ret, PdError *reterr)
{
    _cleanup_(api_request_freep) ApiRequest *req = NULL;
    _cleanup_json_ json_t *j = NULL;
    json_error_t jerr;
    const char *key, *op_name;
    json_t *v;
    ApiOp op;

    if (len > API_REQUEST_MAX_BYTES)
        return pd_error_set(reterr, -EFBIG,
                            "request of %zu bytes is larger than the limit of %u "
                            "bytes (4 MiB)",
                            len, API_REQUEST_MAX_BYTES);
    if (len == 0 || !line)
        return pd_error_set(reterr, -EINVAL, "empty request");
    if (memchr(line, '\0', len))
        return pd_error_set(reterr, -EINVAL, "request contains a NUL byte");

    j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return pd_error_set(reterr, -EINVAL, "malformed JSON at column %d: %s", jerr.column,
                            jerr.text);
    if (!json_is_object(j))
        return pd_error_set(reterr, -EINVAL, "a request must be a JSON object, not %s",
                            json_type_name(j));

    v = json_object_get(j, "op");
    if (!v)
        return pd_error_set(reterr, -EINVAL, "request has no 'op'");
    if (!json_is_string(v))
        return pd_error_set(reterr, -EINVAL, "'op' must be a string, not %s", json_type_name(v));
    op_name = plain_string(v);
    op = api_op_from_string(op_name);
    if (op < 0)
        return pd_error_set(reterr, -EINVAL, "unknown operation '%.64s'", op_name ? op_name : "");

    req = calloc(1, sizeof(*req));
    if (!req)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    req->op = op;

    for (void *it = json_object_iter(j);
         it && (key = json_object_iter_key(it)) && (v = json_object_iter_value(it));
         it = json_object_iter_next(j, it)) {
        const ApiArg *arg;
        int r;

        if (streq(key, "op"))
            continue;
        arg = op_arg(op, key);
        if (!arg)
            return pd_error_set(reterr, -EINVAL, "unknown argument '%.64s' for operation '%s'", key,
                                op_table[op].name);
        r = check_arg(arg, v, req, reterr);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < API_ARGS_MAX && op_table[op].args[i].key; i++) {
        const ApiArg *arg = &op_table[op].args[i];

        if (!arg->required || json_object_get(j, arg->key))
            continue;
        if (arg->type == API_ARG_NAME)
            return pd_error_set(reterr, -EINVAL, "operation '%s' needs a pod 'name'",
                                op_table[op].name);
        return pd_error_set(reterr, -EINVAL, "operation '%s' needs '%s'", op_table[op].name,
                            arg->key);
    }

    req->json = move_ptr(j);
    *ret = move_ptr(req);
    return 0;
}

/* ---- responses ----------------------------------------------------------------------------- */

json_t *api_response_ok_take(json_t *result)
{
    json_t *o = json_object();

    if (!o) {
        json_decref(result);
        return NULL;
    }
    if (json_object_set_new(o, "ok", json_true()) < 0 ||
        json_object_set_new(o, "result", result ? result : json_null()) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *api_response_error(const char *reason, const char *message)
{
    return json_pack("{s:b,s:{s:s,s:s}}", "ok", 0, "error", "reason",
                     reason && *reason ? reason : API_REASON_INTERNAL, "message",
                     message && *message ? message : "internal error");
}

static int append_to_strbuf(const char *buffer, size_t size, void *data)
{
    return strbuf_append(data, buffer, size) < 0 ? -1 : 0;
}

int api_response_append(const json_t *response, StrBuf *out)
{
    size_t start = out->len;

    /* Straight into out: no buffer of the whole line in between, no copy of it. */
    if (json_dump_callback(response, append_to_strbuf, out, JSON_COMPACT) < 0 ||
        strbuf_append(out, "\n", 1) < 0) {
        strbuf_truncate(out, start);
        return -ENOMEM;
    }
    return 0;
}

char *api_response_format(const json_t *response, size_t *ret_len)
{
    StrBuf b = {0};

    if (api_response_append(response, &b) < 0) {
        strbuf_done(&b);
        return NULL;
    }
    if (ret_len)
        *ret_len = b.len;
    return b.data;
}

int api_response_parse(const char *line, size_t len, json_t **ret_result, PdError *reterr)
{
    _cleanup_json_ json_t *j = NULL;
    json_error_t jerr;
    json_t *ok, *error, *result;
    const char *reason, *message;

    j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return pd_error_set(reterr, -EBADMSG, "malformed response from podd: %s", jerr.text);
    ok = json_object_get(j, "ok");
    if (!json_is_object(j) || !json_is_boolean(ok))
        return pd_error_set(reterr, -EBADMSG, "malformed response from podd: no 'ok'");
    if (json_is_true(ok)) {
        result = json_object_get(j, "result");
        *ret_result = json_incref(result ? result : json_null());
        return 0;
    }
    error = json_object_get(j, "error");
    reason = json_string_value(json_object_get(error, "reason"));
    message = json_string_value(json_object_get(error, "message"));
    if (!reason || !message)
        return pd_error_set(reterr, -EBADMSG, "malformed error response from podd");
    return pd_error_set(reterr, api_reason_to_errno(reason), "%s", message);
}
