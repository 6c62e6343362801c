/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * api: the Unix-socket protocol between podd and podctl.
 *
 * Newline-delimited JSON over a stream socket, one object per line each
 * way, answered in order:
 *
 *   request:  {"op": "get_pod", "name": "web"}
 *   success:  {"ok": true, "result": ...}
 *   failure:  {"ok": false, "error": {"reason": "NotFound", "message": "pod 'web' not found"}}
 *
 * Operations (the result shapes are the provider's, see ApiProvider):
 *
 *   version       -> {"version": "x.y"}
 *   get_pods      -> [Pod, ...]            Kubernetes v1 Pod objects, sorted by name
 *   get_pod       {"name"} -> Pod
 *   describe_pod  {"name"} -> {"pod": Pod, "events": [Event...], "errors": [ManifestError...]}
 *   events        {"name"?, "after"?} -> [Event, ...] oldest first; "after": only those
 *                 with a larger "seq" (podctl events -w polls with it)
 *   logs          {"name", "container"?, "previous"?, "tail"?, "sinceSeconds"?, "offset"?}
 *                 -> {"container", "lines": [CRI log lines], "offset", "file", "running",
 *                     "more"}   see "container logs" below
 *   images        -> [{"image": "busybox:latest", "name": "busybox", "tag": "latest",
 *                      "usedBy": [pod...]}, ...]   sorted; usedBy: desired or running
 *
 * Write operations (root only):
 *
 *   apply         {"manifests": [{"file", "text"}...], "dryRun"?}
 *                 -> [{"name", "action": "created"|"configured"|"unchanged", "file",
 *                      configured: "summary": "replaces container app" (podd's planner,
 *                      "" when no container changes), "replaced": [container...] or
 *                      "pod", "plan": {"pod": {"action": "keep"|"replace", "reason",
 *                      "message"}, "containers": [{"name", "action": "keep"|"create"|
 *                      "replace"|"remove", "reason", "message", "cause"?}]}}, ...]
 *                 all or nothing; the dry run's plan is the one the daemon then follows
 *   delete_pods   {"names": [...]} -> [{"name", "action": "deleted"}]
 *   restart_pod   {"name"} -> {"name", "action": "restarted"}
 *   image_store   -> {"dir": the image store}   podctl imports into it itself
 *   image_added   {"image"} -> null: containers waiting for it start now
 *   image_remove  {"image"} -> null; Conflict while a pod uses it
 *
 * Event:          {"seq": 1, "type": "Normal"|"Warning", "reason": "Started",
 *                  "message": "...", "pod": "web" (absent for a manifest that names no
 *                  pod), "container": "app" (optional), "file": manifest (optional),
 *                  "count": 1, "firstTimestamp": RFC 3339, "lastTimestamp": RFC 3339}
 *                 "seq" grows with each event, across daemon restarts too (it
 *                 starts from the wall clock in milliseconds).
 * ManifestError:  {"file": "...", "line": 3, "column": 5, "message": "..."}
 *
 * What podctl reads from a Pod beyond Kubernetes' own fields: the
 * annotations podd.io/runtime and podd.io/source (the manifest file, or
 * "api") for `get -o wide` and `describe`; metadata.deletionTimestamp set
 * while a pod stops shows as Terminating; a waiting container's reason
 * (CrashLoopBackOff, ImageNotFound, ...) and message (the next try) show
 * as its STATUS and in describe.
 *
 * Security: the server reads SO_PEERCRED at accept time, before it reads a
 * byte. Root may run every operation; members of the socket's group
 * (primary or supplementary) may run read operations; anyone else is
 * answered Forbidden at once and hung up on. Requests are bounded in size
 * (API_REQUEST_MAX_BYTES) and in time (a request must be complete within
 * the server's request timeout). At most API_MAX_CLIENTS connections are
 * served at once, of which API_ROOT_RESERVED_CLIENTS only to root, and at
 * most API_MAX_CLIENTS_PER_UID to any other uid: readers cannot lock root
 * out.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/base.h"
#include "loop/loop.h"

#define API_DEFAULT_SOCKET "/run/podd/podd.sock"
#define API_REQUEST_MAX_BYTES (4u * 1024u * 1024u)
/* What a client accepts from the server in one line (a long pod list fits). */
#define API_RESPONSE_MAX_BYTES (64u * 1024u * 1024u)
#define API_MAX_CLIENTS 64
/* Of API_MAX_CLIENTS, kept for uid 0 whatever others hold. */
#define API_ROOT_RESERVED_CLIENTS 16
/* Connections one uid other than 0 may hold at once. */
#define API_MAX_CLIENTS_PER_UID 8
#define API_REQUEST_TIMEOUT_USEC (10u * 1000u * 1000u)
#define API_CLIENT_TIMEOUT_USEC (30u * 1000u * 1000u)

/* Reasons of error responses (Kubernetes' StatusReason spelling). */
#define API_REASON_BAD_REQUEST "BadRequest"
#define API_REASON_NOT_FOUND "NotFound"
#define API_REASON_FORBIDDEN "Forbidden"
#define API_REASON_TOO_LARGE "TooLarge"
#define API_REASON_TOO_MANY_CLIENTS "TooManyClients"
#define API_REASON_TIMEOUT "Timeout"
#define API_REASON_CONFLICT "Conflict"
#define API_REASON_INVALID "Invalid"
#define API_REASON_INTERNAL "Internal"

/*
 * Reason <-> errno, so that a PdError can carry a reason: NotFound -ENOENT,
 * BadRequest -EINVAL, Forbidden -EACCES, TooLarge -EFBIG, TooManyClients
 * -EUSERS, Timeout -ETIMEDOUT, Conflict -EEXIST, Invalid -EBADMSG, anything
 * else Internal -EIO. Never fail.
 */
const char *api_reason_from_errno(int code);
int api_reason_to_errno(const char *reason);

typedef struct ApiError {
    char reason[32];   /* one of API_REASON_*; "" means Internal */
    char message[512]; /* for a human, without a trailing newline */
} ApiError;

/* Fills e (may be NULL) with reason and a printf-style message. Never fails. */
void api_error_set(ApiError *e, const char *reason, const char *fmt, ...) _printf_(3, 4);

/* ---- operations and requests --------------------------------------------------------- */

typedef enum ApiOp {
    API_OP_VERSION,
    API_OP_GET_PODS,
    API_OP_GET_POD,
    API_OP_DESCRIBE_POD,
    API_OP_EVENTS,
    API_OP_LOGS,
    API_OP_IMAGES,
    API_OP_APPLY,
    API_OP_DELETE_PODS,
    API_OP_RESTART_POD,
    API_OP_IMAGE_STORE,
    API_OP_IMAGE_ADDED,
    API_OP_IMAGE_REMOVE,
    _API_OP_MAX,
    _API_OP_INVALID = -EINVAL,
} ApiOp;

const char *api_op_to_string(ApiOp op);
ApiOp api_op_from_string(const char *s);
/* True for operations that change something (root only). */
bool api_op_is_write(ApiOp op);
/* An image reference podd stores: image_ref_is_valid() of the image module. */
bool api_image_ref_is_valid(const char *ref);

typedef struct ApiRequest {
    ApiOp op;
    char *name;   /* the pod name argument; NULL when the op has none or it was omitted */
    json_t *json; /* the whole request object (owned), for the arguments of later ops */
} ApiRequest;

ApiRequest *api_request_free(ApiRequest *r);
DEFINE_CLEANUP_FUNC(ApiRequest, api_request_free)

/*
 * Parses one request line (len bytes, without the newline; NUL bytes are
 * rejected). Strict: one JSON object, no duplicate keys, a known "op",
 * only the arguments that op takes with the right types, and pod names
 * that are DNS-1123 labels (so no request can name a path). On failure
 * returns -EFBIG (over API_REQUEST_MAX_BYTES: TooLarge) or -EINVAL
 * (BadRequest) with reterr's message saying why. *ret is owned by the
 * caller. Does not log.
 */
int api_request_parse(const char *line, size_t len, ApiRequest **ret, PdError *reterr);

/* ---- responses ------------------------------------------------------------------------- */

/* {"ok": true, "result": result}; consumes result (NULL result means JSON null). NULL on ENOMEM. */
json_t *api_response_ok_take(json_t *result);
/* {"ok": false, "error": {"reason", "message"}}; an empty reason becomes Internal. */
json_t *api_response_error(const char *reason, const char *message);
/*
 * Serialises a response as one compact line ending in '\n'. Returns a new
 * string (*ret_len without the NUL) or NULL on ENOMEM.
 */
char *api_response_format(const json_t *response, size_t *ret_len);
/*
 * The same line appended to out, serialised straight into it (a large reply
 * costs no second buffer and no copy). Returns 0, or -ENOMEM with out as it
 * was.
 */
int api_response_append(const json_t *response, StrBuf *out);

/*
 * Parses one response line. On {"ok": true} returns 0 with *ret_result a
 * new reference to the result (JSON null when absent). On {"ok": false}
 * returns the errno of the reason (api_reason_to_errno()) with the
 * server's message in reterr. A line that is not a response gives -EBADMSG.
 * Does not log.
 */
int api_response_parse(const char *line, size_t len, json_t **ret_result, PdError *reterr);

/* ---- container logs ------------------------------------------------------------------ */

/*
 * The logs operation's result: {"container", "lines": [...], "offset",
 * "file", "running", "more"}. "lines" are whole CRI lines without their
 * newline: "2026-11-22T10:00:00.123456789Z stdout F text", where P instead
 * of F marks a partial line that the next one continues. At most
 * API_LOGS_MAX_BYTES of log come back per call; "more" says the answer
 * stopped there. "offset" is opaque: passed back, the next call returns
 * what came after (also across a rotation of the log to .1 and across a
 * restart, whose run appends to the same log). "file" names the log file
 * the offset points into. Without "container", a pod with exactly one
 * regular container means that one; any other pod is answered BadRequest
 * listing its containers. "previous": the run before the last restart
 * (NotFound when there was none). "tail" (first call only) keeps the last
 * N lines; "sinceSeconds" keeps lines whose CRI time is that recent.
 */
#define API_LOGS_MAX_BYTES (1024u * 1024u)

/* One parsed CRI log line; the spans point into the caller's line. */
typedef struct ApiLogLine {
    const char *time; /* RFC 3339 with nanoseconds */
    size_t time_len;
    const char *stream; /* "stdout" or "stderr" */
    size_t stream_len;
    bool partial; /* "P": the next line continues this one */
    const char *text;
    size_t text_len;
} ApiLogLine;

/* Splits one CRI line (without its newline). Returns 0, or -EBADMSG when it is not one. */
int api_log_line_parse(const char *line, size_t len, ApiLogLine *ret);

/*
 * Joins CRI partial lines as kubectl shows them: the texts of P lines and
 * of the F line that ends them make one line, with the time of its first
 * part. Zero-initialise; api_log_join_done() frees.
 */
typedef struct ApiLogJoin {
    StrBuf text;
    char time[64];
    bool pending; /* a P line waits for its end */
} ApiLogJoin;

/*
 * Feeds one CRI line. Returns 1 when a whole line is complete, with its
 * time and text (NUL-terminated, valid until the next call) in *ret_time
 * and *ret_text; 0 when a partial line was kept; -EBADMSG for a line that
 * is not CRI (nothing is kept); -ENOMEM.
 */
int api_log_join_feed(ApiLogJoin *j, const char *line, size_t len, const char **ret_time,
                      const char **ret_text);
/* What a P line left pending at the end (1 and the text), else 0. Clears it. */
int api_log_join_flush(ApiLogJoin *j, const char **ret_time, const char **ret_text);
void api_log_join_done(ApiLogJoin *j);

/* ---- server ------------------------------------------------------------------------------ */

/*
 * What the daemon implements. Each callback returns a new reference, or
 * NULL with *ret_err filled (reason + message; an empty reason means
 * Internal). A NULL callback answers BadRequest "not supported by this
 * daemon". Callbacks run on the thread of the loop given to
 * api_server_new() (the daemon's) and must not block; the server's own
 * thread calls none of them.
 */
typedef struct ApiProvider {
    /*
     * get_pods' result, already serialised as compact JSON (the daemon keeps
     * each pod's text), appended to out. Returns 0, or a negative errno with
     * *ret_err filled and out as it may be (the server cuts it back).
     */
    int (*get_pods)(void *userdata, StrBuf *out, ApiError *ret_err);
    /* Each returns a new reference, or NULL with *ret_err filled (reason + message). */
    json_t *(*get_pod)(void *userdata, const char *name, ApiError *ret_err);
    json_t *(*describe_pod)(void *userdata, const char *name, ApiError *ret_err);
    json_t *(*events)(void *userdata, const ApiRequest *req, ApiError *ret_err);
    /* The operations with arguments: the provider reads them from req->json. */
    json_t *(*logs)(void *userdata, const ApiRequest *req, ApiError *ret_err);
    json_t *(*images)(void *userdata, const ApiRequest *req, ApiError *ret_err);
    json_t *(*apply)(void *userdata, const ApiRequest *req, ApiError *ret_err);
    json_t *(*delete_pods)(void *userdata, const ApiRequest *req, ApiError *ret_err);
    json_t *(*restart_pod)(void *userdata, const ApiRequest *req, ApiError *ret_err);
    json_t *(*image_store)(void *userdata, const ApiRequest *req, ApiError *ret_err);
    json_t *(*image_added)(void *userdata, const ApiRequest *req, ApiError *ret_err);
    json_t *(*image_remove)(void *userdata, const ApiRequest *req, ApiError *ret_err);
    /*
     * Called after a batch of requests was answered and before the answers
     * go out: publish the pods now if they changed (api_server_publish_pods()),
     * so that a client told an apply or a delete is done sees it in its next
     * get_pods. May be NULL.
     */
    void (*publish)(void *userdata);
} ApiProvider;

typedef struct ApiServer ApiServer;

/*
 * Creates the listening socket at socket_path: a stale socket there is
 * removed (a live one, or anything that is not a socket, is refused with
 * -EADDRINUSE / -EEXIST), the new one is bound with mode 0660 and given
 * group `group` (pass (gid_t)-1 to keep the creator's group). Clients are
 * served by a thread of the server's own (named podd-api, taking no
 * signal), which reads and parses every request, answers version, and
 * get_pods from the pods last published; every other request, and get_pods
 * while nothing is published, is answered by provider (borrowed, must
 * outlive the server) and userdata on loop, which the caller turns. A
 * client's answers keep the order of its requests. Returns the new server
 * (owned by the caller), or NULL with reterr set (reterr->code is the
 * -errno; errno is set too). Logs at debug level only.
 */
ApiServer *api_server_new(Loop *loop, const char *socket_path, gid_t group,
                          const ApiProvider *provider, void *userdata, PdError *reterr);
/*
 * Stops the server's thread, closes every client and the socket, and
 * unlinks the socket file if it is still ours. From loop's thread.
 */
ApiServer *api_server_free(ApiServer *s);
DEFINE_CLEANUP_FUNC(ApiServer, api_server_free)

/*
 * From loop's thread: the pods get_pods answers from now on, without
 * waiting for loop, each one's compact JSON text in the order given (the
 * server takes its own references). Until the first call, and after a call
 * that fails (-ENOMEM), get_pods is the provider's.
 */
int api_server_publish_pods(ApiServer *s, SharedText *const *texts, size_t n);
/* From loop's thread: nothing is published any more; get_pods is the provider's again. */
void api_server_withdraw_pods(ApiServer *s);
/* From loop's thread: whether pods are published now. */
bool api_server_pods_published(const ApiServer *s);
/*
 * Whether a get_pods came in the last API_PODS_WANTED_USEC: publishing is
 * worth its rendering only while somebody watches. Any thread.
 */
bool api_server_pods_wanted(const ApiServer *s);
#define API_PODS_WANTED_USEC (60ull * 1000 * 1000)

/* The time a client gets to complete a request, or to take a response (default 10 s). */
void api_server_set_request_timeout(ApiServer *s, uint64_t usec);
/* Connected clients right now (diagnostics and tests). */
unsigned api_server_client_count(const ApiServer *s);

/* ---- client ------------------------------------------------------------------------------ */

typedef struct ApiClient ApiClient;

/*
 * Connects to podd at path. On failure reterr says so in plain words:
 * "cannot reach podd at PATH: no such file (is podd running?)" for
 * ENOENT, "connection refused (is podd running?)" for ECONNREFUSED,
 * "permission denied (...)" for EACCES. Returns 0 or -errno. Does not log.
 */
int api_client_connect(const char *path, ApiClient **ret, PdError *reterr);
ApiClient *api_client_free(ApiClient *c);
DEFINE_CLEANUP_FUNC(ApiClient, api_client_free)

/* Timeout of each later api_client_call() (default API_CLIENT_TIMEOUT_USEC). */
void api_client_set_timeout(ApiClient *c, uint64_t usec);

/*
 * Sends request (borrowed) and waits for its response. Returns 0 with
 * *ret_result a new reference, the reason's errno with the server's
 * message in reterr for an error response, -ETIMEDOUT, -ECONNRESET when
 * the server hung up, or another -errno. Does not log.
 */
int api_client_call(ApiClient *c, json_t *request, json_t **ret_result, PdError *reterr);
