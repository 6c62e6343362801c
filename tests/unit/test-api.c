/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "api/api.h"

/* ---- the request parser, table-driven ------------------------------------------------ */

static const struct {
    const char *line;
    int code;           /* 0: accepted */
    ApiOp op;           /* when accepted */
    const char *name;   /* when accepted */
    const char *needle; /* in the error message when refused */
} requests[] = {
    {"{\"op\":\"version\"}", 0, API_OP_VERSION, NULL, NULL},
    {" {\"op\" : \"get_pods\"} \r", 0, API_OP_GET_PODS, NULL, NULL},
    {"{\"op\":\"get_pod\",\"name\":\"web\"}", 0, API_OP_GET_POD, "web", NULL},
    {"{\"name\":\"db-0\",\"op\":\"describe_pod\"}", 0, API_OP_DESCRIBE_POD, "db-0", NULL},
    {"{\"op\":\"events\"}", 0, API_OP_EVENTS, NULL, NULL},
    {"{\"op\":\"events\",\"name\":\"a1\"}", 0, API_OP_EVENTS, "a1", NULL},
    {"{\"op\":\"events\",\"after\":12}", 0, API_OP_EVENTS, NULL, NULL},
    {"{\"op\":\"logs\",\"name\":\"web\",\"container\":\"app\",\"previous\":true,"
     "\"tail\":10,\"sinceSeconds\":60,\"offset\":0}",
     0, API_OP_LOGS, "web", NULL},
    {"{\"op\":\"apply\",\"manifests\":[],\"dryRun\":false}", 0, API_OP_APPLY, NULL, NULL},
    {"{\"op\":\"delete_pods\",\"names\":[\"a\",\"b-2\"]}", 0, API_OP_DELETE_PODS, NULL, NULL},
    {"{\"op\":\"restart_pod\",\"name\":\"web\"}", 0, API_OP_RESTART_POD, "web", NULL},
    {"{\"op\":\"image_added\",\"image\":\"library/busybox:1.36\"}", 0, API_OP_IMAGE_ADDED, NULL,
     NULL},
    {"{\"op\":\"image_remove\",\"image\":\"busybox\"}", 0, API_OP_IMAGE_REMOVE, NULL, NULL},
    /* arguments of the newer operations */
    {"{\"op\":\"events\",\"after\":-1}", -EINVAL, 0, NULL, "'after' must be an integer >= 0"},
    {"{\"op\":\"logs\",\"name\":\"web\",\"container\":\"../x\"}", -EINVAL, 0, NULL,
     "invalid name '../x' in 'container'"},
    {"{\"op\":\"logs\",\"name\":\"web\",\"previous\":1}", -EINVAL, 0, NULL,
     "'previous' must be a boolean"},
    {"{\"op\":\"logs\"}", -EINVAL, 0, NULL, "needs a pod 'name'"},
    {"{\"op\":\"apply\"}", -EINVAL, 0, NULL, "operation 'apply' needs 'manifests'"},
    {"{\"op\":\"apply\",\"manifests\":{}}", -EINVAL, 0, NULL, "'manifests' must be an array"},
    {"{\"op\":\"delete_pods\",\"names\":[]}", -EINVAL, 0, NULL, "non-empty array"},
    {"{\"op\":\"delete_pods\",\"names\":[\"ok\",\"../etc\"]}", -EINVAL, 0, NULL,
     "invalid name '../etc'"},
    {"{\"op\":\"image_added\",\"image\":\"../../etc:x\"}", -EINVAL, 0, NULL, "invalid image"},
    {"{\"op\":\"image_added\",\"image\":\"/etc\"}", -EINVAL, 0, NULL, "invalid image"},
    {"{\"op\":\"image_added\",\"image\":\"a/./b\"}", -EINVAL, 0, NULL, "invalid image"},
    {"{\"op\":\"image_added\",\"image\":\"a:b/c\"}", -EINVAL, 0, NULL, "invalid image"},
    {"{\"op\":\"image_remove\",\"image\":\"Busybox\"}", -EINVAL, 0, NULL, "invalid image"},
    /* malformed */
    {"{\"op\":\"version\"", -EINVAL, 0, NULL, "malformed JSON"},
    {"{op:version}", -EINVAL, 0, NULL, "malformed JSON"},
    {"{\"op\":\"version\"}{\"op\":\"version\"}", -EINVAL, 0, NULL, "malformed JSON"},
    {"", -EINVAL, 0, NULL, "empty"},
    {"[]", -EINVAL, 0, NULL, "must be a JSON object, not an array"},
    {"\"version\"", -EINVAL, 0, NULL, "malformed JSON"},
    {"{\"op\":\"get_pods\xff\"}", -EINVAL, 0, NULL, "malformed JSON"},
    /* duplicate keys */
    {"{\"op\":\"get_pods\",\"op\":\"version\"}", -EINVAL, 0, NULL, "duplicate"},
    {"{\"op\":\"get_pod\",\"name\":\"a\",\"name\":\"b\"}", -EINVAL, 0, NULL, "duplicate"},
    /* unknown op */
    {"{\"op\":\"frobnicate\"}", -EINVAL, 0, NULL, "unknown operation 'frobnicate'"},
    {"{}", -EINVAL, 0, NULL, "no 'op'"},
    {"{\"op\":\"\"}", -EINVAL, 0, NULL, "unknown operation"},
    /* wrong types and arguments */
    {"{\"op\":7}", -EINVAL, 0, NULL, "'op' must be a string, not a number"},
    {"{\"op\":null}", -EINVAL, 0, NULL, "'op' must be a string, not null"},
    {"{\"op\":\"get_pod\",\"name\":7}", -EINVAL, 0, NULL, "'name' must be a string"},
    {"{\"op\":\"get_pod\",\"name\":[\"web\"]}", -EINVAL, 0, NULL, "not an array"},
    {"{\"op\":\"get_pod\"}", -EINVAL, 0, NULL, "needs a pod 'name'"},
    {"{\"op\":\"get_pods\",\"name\":\"web\"}", -EINVAL, 0, NULL, "unknown argument 'name'"},
    {"{\"op\":\"version\",\"verbose\":true}", -EINVAL, 0, NULL, "unknown argument 'verbose'"},
    /* bad names: never a path */
    {"{\"op\":\"get_pod\",\"name\":\"../etc\"}", -EINVAL, 0, NULL, "invalid pod name '../etc'"},
    {"{\"op\":\"get_pod\",\"name\":\"a/b\"}", -EINVAL, 0, NULL, "DNS-1123"},
    {"{\"op\":\"get_pod\",\"name\":\"Web\"}", -EINVAL, 0, NULL, "invalid pod name"},
    {"{\"op\":\"get_pod\",\"name\":\"\"}", -EINVAL, 0, NULL, "invalid pod name"},
    {"{\"op\":\"get_pod\",\"name\":\"-web\"}", -EINVAL, 0, NULL, "invalid pod name"},
    {"{\"op\":\"get_pod\",\"name\":\".\"}", -EINVAL, 0, NULL, "invalid pod name"},
    {"{\"op\":\"get_pod\",\"name\":\"a\\u0000b\"}", -EINVAL, 0, NULL, "malformed JSON"},
    {"{\"op\":\"describe_pod\",\"name\":"
     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaa\"}",
     -EINVAL, 0, NULL, "invalid pod name"},
};

START_TEST(test_request_table)
{
    _cleanup_(api_request_freep) ApiRequest *req = NULL;
    const char *line = requests[_i].line;
    PdError e = {0};
    int r;

    r = api_request_parse(line, strlen(line), &req, &e);
    ck_assert_msg(r == requests[_i].code, "%s: got %d (%s), want %d", line, r, e.message,
                  requests[_i].code);
    if (r == 0) {
        ck_assert_ptr_nonnull(req);
        ck_assert_int_eq(req->op, requests[_i].op);
        ck_assert_ptr_nonnull(req->json);
        if (requests[_i].name)
            ck_assert_str_eq(req->name, requests[_i].name);
        else
            ck_assert_ptr_null(req->name);
    } else {
        ck_assert_ptr_null(req);
        ck_assert_msg(strstr(e.message, requests[_i].needle), "%s: message '%s' lacks '%s'", line,
                      e.message, requests[_i].needle);
    }
}
END_TEST

START_TEST(test_request_nul_byte)
{
    _cleanup_(api_request_freep) ApiRequest *req = NULL;
    static const char line[] = "{\"op\":\"version\"}\0";
    PdError e = {0};

    ck_assert_int_eq(api_request_parse(line, sizeof(line) - 1, &req, &e), -EINVAL);
    ck_assert_ptr_nonnull(strstr(e.message, "NUL"));
}
END_TEST

START_TEST(test_request_too_large)
{
    _cleanup_(api_request_freep) ApiRequest *req = NULL;
    _cleanup_free_ char *big = malloc(API_REQUEST_MAX_BYTES + 2);
    PdError e = {0};
    size_t pre = strlen("{\"op\":\"version\",\"x\":\""), n;

    ck_assert_ptr_nonnull(big);
    /* Exactly at the limit: parsed (and refused for its unknown argument, not its size). */
    n = API_REQUEST_MAX_BYTES;
    memcpy(big, "{\"op\":\"version\",\"x\":\"", pre);
    memset(big + pre, 'a', n - pre - 2);
    memcpy(big + n - 2, "\"}", 2);
    ck_assert_int_eq(api_request_parse(big, n, &req, &e), -EINVAL);
    ck_assert_ptr_nonnull(strstr(e.message, "unknown argument 'x'"));
    /* One byte more: TooLarge. */
    ck_assert_int_eq(api_request_parse(big, n + 1, &req, &e), -EFBIG);
    ck_assert_ptr_nonnull(strstr(e.message, "4 MiB"));
    ck_assert_str_eq(api_reason_from_errno(-EFBIG), "TooLarge");
}
END_TEST

START_TEST(test_ops)
{
    for (int i = 0; i < _API_OP_MAX; i++) {
        ck_assert_ptr_nonnull(api_op_to_string(i));
        ck_assert_int_eq(api_op_from_string(api_op_to_string(i)), i);
        /* Exactly the operations that change something are root's alone. */
        ck_assert_int_eq(api_op_is_write(i),
                         i == API_OP_APPLY || i == API_OP_DELETE_PODS || i == API_OP_RESTART_POD ||
                             i == API_OP_IMAGE_STORE || i == API_OP_IMAGE_ADDED ||
                             i == API_OP_IMAGE_REMOVE);
    }
    ck_assert_int_eq(api_op_from_string("nope"), _API_OP_INVALID);
    ck_assert_ptr_null(api_op_to_string(_API_OP_MAX));
    ck_assert(api_op_is_write(_API_OP_INVALID));
}
END_TEST

/* ---- responses ------------------------------------------------------------------------ */

START_TEST(test_reasons)
{
    static const char *reasons[] = {"NotFound",       "BadRequest", "Forbidden", "TooLarge",
                                    "TooManyClients", "Timeout",    "Internal"};

    for (size_t i = 0; i < ELEMENTSOF(reasons); i++)
        ck_assert_str_eq(api_reason_from_errno(api_reason_to_errno(reasons[i])), reasons[i]);
    ck_assert_str_eq(api_reason_from_errno(-E2BIG), "Internal");
    ck_assert_int_eq(api_reason_to_errno("SomethingNew"), -EIO);
}
END_TEST

START_TEST(test_error_response)
{
    _cleanup_json_ json_t *resp = api_response_error("NotFound", "pod 'x' not found");
    _cleanup_json_ json_t *empty = api_response_error("", "");
    _cleanup_json_ json_t *result = NULL;
    _cleanup_free_ char *line = NULL, *line2 = NULL;
    PdError e = {0};
    size_t len;

    ck_assert_ptr_nonnull(resp);
    line = api_response_format(resp, &len);
    ck_assert_str_eq(line,
                     "{\"ok\":false,\"error\":{\"reason\":\"NotFound\",\"message\":\"pod 'x' not "
                     "found\"}}\n");
    ck_assert_uint_eq(len, strlen(line));
    ck_assert_int_eq(api_response_parse(line, len - 1, &result, &e), -ENOENT);
    ck_assert_str_eq(e.message, "pod 'x' not found");
    ck_assert_ptr_null(result);

    line2 = api_response_format(empty, &len);
    ck_assert_str_eq(line2, "{\"ok\":false,\"error\":{\"reason\":\"Internal\",\"message\":"
                            "\"internal error\"}}\n");
}
END_TEST

START_TEST(test_ok_response)
{
    _cleanup_json_ json_t *resp = api_response_ok_take(json_pack("{s:s}", "v", "a\nb"));
    _cleanup_json_ json_t *result = NULL, *null_resp = api_response_ok_take(NULL);
    _cleanup_free_ char *line = NULL;
    PdError e = {0};
    size_t len;

    line = api_response_format(resp, &len);
    ck_assert_str_eq(line, "{\"ok\":true,\"result\":{\"v\":\"a\\nb\"}}\n");
    ck_assert_int_eq(api_response_parse(line, len, &result, &e), 0);
    ck_assert_str_eq(json_string_value(json_object_get(result, "v")), "a\nb");
    ck_assert(json_is_null(json_object_get(null_resp, "result")));

    /* Appended after a reply still queued, as the server does: both lines, whole. */
    {
        StrBuf out = {0};

        ck_assert_int_eq(api_response_append(null_resp, &out), 0);
        ck_assert_int_eq(api_response_append(resp, &out), 0);
        ck_assert_str_eq(out.data, "{\"ok\":true,\"result\":null}\n"
                                   "{\"ok\":true,\"result\":{\"v\":\"a\\nb\"}}\n");
        ck_assert_uint_eq(out.len, strlen(out.data));
        strbuf_done(&out);
    }
}
END_TEST

START_TEST(test_bad_responses)
{
    static const char *bad[] = {
        "",           "nope",           "{}",
        "{\"ok\":1}", "{\"ok\":false}", "{\"ok\":false,\"error\":{\"reason\":\"X\"}}"};

    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        json_t *result = NULL;
        PdError e = {0};

        ck_assert_int_eq(api_response_parse(bad[i], strlen(bad[i]), &result, &e), -EBADMSG);
        ck_assert_ptr_null(result);
    }
}
END_TEST

START_TEST(test_api_error_set)
{
    ApiError e = {.reason = ""};

    api_error_set(&e, API_REASON_NOT_FOUND, "pod '%s' not found", "web");
    ck_assert_str_eq(e.reason, "NotFound");
    ck_assert_str_eq(e.message, "pod 'web' not found");
    api_error_set(NULL, API_REASON_NOT_FOUND, "ignored");
}
END_TEST

/* ---- the server, in process: a raw client socket and loop iterations ---------------- */

static json_t *fake_get_pod(void *userdata, const char *name, ApiError *ret_err)
{
    int *calls = userdata;

    (*calls)++;
    if (streq(name, "web"))
        return json_pack("{s:{s:s}}", "metadata", "name", "web");
    api_error_set(ret_err, API_REASON_NOT_FOUND, "pod '%s' not found", name);
    return NULL;
}

static const ApiProvider fake_provider = {.get_pod = fake_get_pod};

static char sockdir[64];
static char sockpath[128];

static void setup(void)
{
    snprintf(sockdir, sizeof(sockdir), "/tmp/test-api-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(sockdir));
    snprintf(sockpath, sizeof(sockpath), "%s/podd.sock", sockdir);
}

static void teardown(void)
{
    (void)unlink(sockpath);
    (void)rmdir(sockdir);
}

static int raw_connect(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    ck_assert_int_ge(fd, 0);
    strcpy(sa.sun_path, sockpath);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Sends line, turns the loop until a whole response line arrived, returns it. */
static char *roundtrip(Loop *l, int fd, const char *line)
{
    char buf[4096];
    size_t len = 0;

    ck_assert_int_eq(send(fd, line, strlen(line), MSG_NOSIGNAL), (ssize_t)strlen(line));
    for (int i = 0; i < 100; i++) {
        ssize_t k;

        ck_assert_int_ge(loop_run_once(l, 10000), 0);
        k = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
        if (k > 0)
            len += (size_t)k;
        if (len > 0 && buf[len - 1] == '\n') {
            buf[len] = '\0';
            return strdup(buf);
        }
    }
    ck_abort_msg("no response to %s", line);
    return NULL;
}

START_TEST(test_server_roundtrip)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(api_server_freep) ApiServer *s = NULL;
    _cleanup_close_ int fd = -1;
    PdError e = {0};
    int calls = 0;
    struct stat st;

    ck_assert_int_eq(loop_new(&l), 0);
    s = api_server_new(l, sockpath, (gid_t)-1, &fake_provider, &calls, &e);
    ck_assert_msg(s, "%s", e.message);
    ck_assert_int_eq(stat(sockpath, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_int_eq(st.st_mode & 07777, 0660);

    fd = raw_connect();
    {
        _cleanup_free_ char *a = roundtrip(l, fd, "{\"op\":\"get_pod\",\"name\":\"web\"}\n");
        _cleanup_free_ char *b = roundtrip(l, fd, "{\"op\":\"get_pod\",\"name\":\"db\"}\n");
        _cleanup_free_ char *c = roundtrip(l, fd, "not json\n");
        _cleanup_free_ char *d = roundtrip(l, fd, "{\"op\":\"get_pods\"}\n");
        _cleanup_free_ char *v = roundtrip(l, fd, "{\"op\":\"version\"}\n");

        ck_assert_str_eq(a, "{\"ok\":true,\"result\":{\"metadata\":{\"name\":\"web\"}}}\n");
        ck_assert_str_eq(b, "{\"ok\":false,\"error\":{\"reason\":\"NotFound\",\"message\":\"pod "
                            "'db' not found\"}}\n");
        ck_assert_ptr_nonnull(strstr(c, "\"reason\":\"BadRequest\""));
        ck_assert_ptr_nonnull(strstr(d, "not supported by this daemon"));
        ck_assert_ptr_nonnull(strstr(v, "\"version\":\"" PACKAGE_VERSION "\""));
    }
    ck_assert_int_eq(calls, 2);
    ck_assert_uint_eq(api_server_client_count(s), 1);
    s = api_server_free(s);
    ck_assert_int_eq(access(sockpath, F_OK), -1);
}
END_TEST

/* Appends two pods' text; with *fail set, half a pod and then an error. */
static int fake_get_pods(void *userdata, StrBuf *out, ApiError *ret_err)
{
    static const char pods[] = "[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{\"name\":\"b\"}}]";
    bool *fail = userdata;

    if (*fail) {
        (void)strbuf_append(out, pods, 10);
        api_error_set(ret_err, API_REASON_INTERNAL, "out of memory");
        return -ENOMEM;
    }
    return strbuf_append(out, pods, sizeof(pods) - 1);
}

/* get_pods' text goes out as the result of an ok response; a failure sends no part of it. */
START_TEST(test_server_get_pods_text)
{
    static const ApiProvider provider = {.get_pods = fake_get_pods};
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(api_server_freep) ApiServer *s = NULL;
    _cleanup_close_ int fd = -1;
    PdError e = {0};
    bool fail = false;

    ck_assert_int_eq(loop_new(&l), 0);
    s = api_server_new(l, sockpath, (gid_t)-1, &provider, &fail, &e);
    ck_assert_msg(s, "%s", e.message);
    fd = raw_connect();
    {
        _cleanup_free_ char *a = roundtrip(l, fd, "{\"op\":\"get_pods\"}\n");
        _cleanup_free_ char *b = NULL, *c = NULL;

        ck_assert_str_eq(a, "{\"ok\":true,\"result\":[{\"metadata\":{\"name\":\"a\"}},"
                            "{\"metadata\":{\"name\":\"b\"}}]}\n");
        fail = true;
        b = roundtrip(l, fd, "{\"op\":\"get_pods\"}\n");
        ck_assert_str_eq(b, "{\"ok\":false,\"error\":{\"reason\":\"Internal\",\"message\":\"out of "
                            "memory\"}}\n");
        fail = false;
        c = roundtrip(l, fd, "{\"op\":\"get_pods\"}\n");
        ck_assert_str_eq(c, a);
    }
}
END_TEST

/* ---- the server's own thread: get_pods from what was published ------------------------- */

typedef struct Published {
    ApiServer *s;
    int get_pods_calls, get_pod_calls, publish_calls;
    bool changed; /* get_pod "changes" the pods: publish() publishes pod c */
} Published;

static int pub_get_pods(void *userdata, StrBuf *out, ApiError *ret_err)
{
    Published *p = userdata;

    p->get_pods_calls++;
    return strbuf_append(out, "[\"from the loop\"]", 17);
}

static json_t *pub_get_pod(void *userdata, const char *name, ApiError *ret_err)
{
    Published *p = userdata;

    p->get_pod_calls++;
    p->changed = true;
    return json_pack("{s:s}", "name", name);
}

static void publish_one(ApiServer *s, const char *text);

static void pub_publish(void *userdata)
{
    Published *p = userdata;

    p->publish_calls++;
    if (!p->changed)
        return;
    p->changed = false;
    publish_one(p->s, "\"c\"");
}

static const ApiProvider pub_provider = {
    .get_pods = pub_get_pods, .get_pod = pub_get_pod, .publish = pub_publish};

/* A server with pub_provider on a new loop *l, p->s set. */
static ApiServer *pub_server_new(Loop **l, Published *p)
{
    PdError e = {0};

    ck_assert_int_eq(loop_new(l), 0);
    p->s = api_server_new(*l, sockpath, (gid_t)-1, &pub_provider, p, &e);
    ck_assert_msg(p->s, "%s", e.message);
    return p->s;
}

/* Publishes one pod's text, a copy of text. */
static void publish_one(ApiServer *s, const char *text)
{
    SharedText *t = shared_text_new(text, strlen(text));

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(api_server_publish_pods(s, &t, 1), 0);
    shared_text_unref(t);
}

/* The next response line on fd, read without turning any loop of ours (5 s at most). */
static char *recv_line(int fd)
{
    char buf[4096];
    size_t len = 0;

    while (len < sizeof(buf) - 1) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t k;

        ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
        k = recv(fd, buf + len, 1, 0);
        ck_assert_int_eq(k, 1);
        if (buf[len++] == '\n') {
            buf[len] = 0;
            return strdup(buf);
        }
    }
    ck_abort_msg("response too long");
    return NULL;
}

/* Sends get_pods and returns the answer, without turning any loop of ours. */
static char *get_pods_without_the_loop(int fd)
{
    ck_assert_int_eq(send(fd, "{\"op\":\"get_pods\"}\n", 18, MSG_NOSIGNAL), 18);
    return recv_line(fd);
}

/*
 * get_pods is answered by the server's thread from the pods published,
 * while the daemon's loop is not turned at all; before the first
 * publication and after a withdrawal, by the provider on the loop.
 */
START_TEST(test_server_published_pods)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(api_server_freep) ApiServer *s = NULL;
    _cleanup_close_ int fd = -1;
    Published p = {0};
    SharedText *texts[2];

    s = pub_server_new(&l, &p);
    fd = raw_connect();
    {
        _cleanup_free_ char *a = roundtrip(l, fd, "{\"op\":\"get_pods\"}\n");

        ck_assert_str_eq(a, "{\"ok\":true,\"result\":[\"from the loop\"]}\n");
        ck_assert_int_eq(p.get_pods_calls, 1);
    }
    texts[0] = shared_text_new("{\"a\":1}", 7);
    texts[1] = shared_text_new("{\"b\":2}", 7);
    ck_assert_int_eq(api_server_publish_pods(s, texts, 2), 0);
    /* The server holds references of its own. */
    shared_text_unref(texts[0]);
    shared_text_unref(texts[1]);
    for (int i = 0; i < 3; i++) {
        _cleanup_free_ char *b = get_pods_without_the_loop(fd);

        ck_assert_str_eq(b, "{\"ok\":true,\"result\":[{\"a\":1},{\"b\":2}]}\n");
    }
    ck_assert_int_eq(p.get_pods_calls, 1);
    ck_assert_int_eq(api_server_publish_pods(s, NULL, 0), 0);
    {
        _cleanup_free_ char *c = get_pods_without_the_loop(fd);

        ck_assert_str_eq(c, "{\"ok\":true,\"result\":[]}\n");
    }
    api_server_withdraw_pods(s);
    {
        _cleanup_free_ char *d = roundtrip(l, fd, "{\"op\":\"get_pods\"}\n");

        ck_assert_str_eq(d, "{\"ok\":true,\"result\":[\"from the loop\"]}\n");
        ck_assert_int_eq(p.get_pods_calls, 2);
    }
}
END_TEST

/*
 * Requests sent together are answered in order, though get_pods could be
 * answered at once; and what a request answered on the loop changed is
 * published before its answer goes out, so the get_pods after it sees it.
 */
START_TEST(test_server_answers_in_order_and_publishes_first)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(api_server_freep) ApiServer *s = NULL;
    _cleanup_close_ int fd = -1;
    static const char two[] = "{\"op\":\"get_pod\",\"name\":\"web\"}\n{\"op\":\"get_pods\"}\n";
    Published p = {0};

    s = pub_server_new(&l, &p);
    publish_one(s, "\"old\"");
    fd = raw_connect();
    ck_assert_int_eq(send(fd, two, sizeof(two) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(two) - 1);
    {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};

        /* Nothing comes while the loop that answers get_pod is not turned. */
        ck_assert_int_eq(poll(&pfd, 1, 200), 0);
    }
    for (int i = 0; i < 100 && p.get_pod_calls == 0; i++)
        ck_assert_int_ge(loop_run_once(l, 10000), 0);
    ck_assert_int_eq(p.get_pod_calls, 1);
    ck_assert_int_ge(p.publish_calls, 1);
    {
        _cleanup_free_ char *a = recv_line(fd);
        _cleanup_free_ char *b = recv_line(fd);

        ck_assert_str_eq(a, "{\"ok\":true,\"result\":{\"name\":\"web\"}}\n");
        ck_assert_str_eq(b, "{\"ok\":true,\"result\":[\"c\"]}\n");
    }
    ck_assert_int_eq(p.get_pods_calls, 0);
}
END_TEST

/* A client gone before its answer: the request still runs, the answer goes nowhere. */
START_TEST(test_server_client_gone_before_its_answer)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(api_server_freep) ApiServer *s = NULL;
    _cleanup_close_ int fd2 = -1;
    Published p = {0};
    int fd;

    s = pub_server_new(&l, &p);
    fd = raw_connect();
    ck_assert_int_eq(send(fd, "{\"op\":\"get_pod\",\"name\":\"x\"}\n", 29, MSG_NOSIGNAL), 29);
    /* The server has read it once the job reaches the loop; then the client goes. */
    for (int i = 0; i < 100 && p.get_pod_calls == 0; i++) {
        if (i == 0)
            (void)usleep(50 * 1000);
        if (i == 0)
            ck_assert_int_eq(close(fd), 0);
        ck_assert_int_ge(loop_run_once(l, 10000), 0);
    }
    ck_assert_int_eq(p.get_pod_calls, 1);
    /* The server goes on serving others. */
    fd2 = raw_connect();
    {
        _cleanup_free_ char *v = roundtrip(l, fd2, "{\"op\":\"version\"}\n");

        ck_assert_ptr_nonnull(strstr(v, "\"version\":\"" PACKAGE_VERSION "\""));
    }
    for (int i = 0; i < 100 && api_server_client_count(s) != 1; i++)
        ck_assert_int_ge(loop_run_once(l, 10000), 0);
    ck_assert_uint_eq(api_server_client_count(s), 1);
}
END_TEST

START_TEST(test_server_stale_and_live_socket)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(api_server_freep) ApiServer *s = NULL, *s2 = NULL;
    _cleanup_close_ int stale = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), f = -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    PdError e = {0};

    ck_assert_int_eq(loop_new(&l), 0);
    strcpy(sa.sun_path, sockpath);
    ck_assert_int_eq(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
    /* Bound but not listening: a stale socket, replaced. */
    s = api_server_new(l, sockpath, (gid_t)-1, &fake_provider, NULL, &e);
    ck_assert_msg(s, "%s", e.message);
    /* A live one is refused. */
    s2 = api_server_new(l, sockpath, (gid_t)-1, &fake_provider, NULL, &e);
    ck_assert_ptr_null(s2);
    ck_assert_int_eq(e.code, -EADDRINUSE);
    s = api_server_free(s);
    /* Not a socket: refused. */
    f = open(sockpath, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ck_assert_int_ge(f, 0);
    s = api_server_new(l, sockpath, (gid_t)-1, &fake_provider, NULL, &e);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(e.code, -EEXIST);
}
END_TEST

START_TEST(test_client_not_running)
{
    _cleanup_(api_client_freep) ApiClient *c = NULL;
    PdError e = {0};
    char want[256];

    ck_assert_int_eq(api_client_connect(sockpath, &c, &e), -ENOENT);
    snprintf(want, sizeof(want), "cannot reach podd at %s: no such file (is podd running?)",
             sockpath);
    ck_assert_str_eq(e.message, want);
}
END_TEST

/* ---- CRI log lines ------------------------------------------------------------------ */

static const struct {
    const char *line;
    int code;
    const char *time, *stream, *text;
    bool partial;
} cri_lines[] = {
    {"2026-11-22T10:00:00.123456789Z stdout F hello world", 0, "2026-11-22T10:00:00.123456789Z",
     "stdout", "hello world", false},
    {"2026-11-22T10:00:00.1Z stderr P  two  spaces ", 0, "2026-11-22T10:00:00.1Z", "stderr",
     " two  spaces ", true},
    {"2026-11-22T10:00:00Z stdout F", 0, "2026-11-22T10:00:00Z", "stdout", "", false},
    {"2026-11-22T10:00:00Z stdout F ", 0, "2026-11-22T10:00:00Z", "stdout", "", false},
    {"2026-11-22T10:00:00Z stdout X text", -EBADMSG, NULL, NULL, NULL, false},
    {"2026-11-22T10:00:00Z stdout Ftext", -EBADMSG, NULL, NULL, NULL, false},
    {"2026-11-22T10:00:00Z stdout", -EBADMSG, NULL, NULL, NULL, false},
    {"just some text", -EBADMSG, NULL, NULL, NULL, false},
    {" stdout F x", -EBADMSG, NULL, NULL, NULL, false},
    {"", -EBADMSG, NULL, NULL, NULL, false},
};

START_TEST(test_cri_line_table)
{
    const char *line = cri_lines[_i].line;
    ApiLogLine l;

    ck_assert_int_eq(api_log_line_parse(line, strlen(line), &l), cri_lines[_i].code);
    if (cri_lines[_i].code < 0)
        return;
    ck_assert_int_eq((int)l.time_len, (int)strlen(cri_lines[_i].time));
    ck_assert(strncmp(l.time, cri_lines[_i].time, l.time_len) == 0);
    ck_assert_int_eq((int)l.stream_len, (int)strlen(cri_lines[_i].stream));
    ck_assert(strncmp(l.stream, cri_lines[_i].stream, l.stream_len) == 0);
    ck_assert_int_eq((int)l.text_len, (int)strlen(cri_lines[_i].text));
    ck_assert(strncmp(l.text, cri_lines[_i].text, l.text_len) == 0);
    ck_assert_int_eq(l.partial, cri_lines[_i].partial);
}
END_TEST

static int feed(ApiLogJoin *j, const char *line, const char **time, const char **text)
{
    return api_log_join_feed(j, line, strlen(line), time, text);
}

START_TEST(test_cri_join_partial_lines)
{
    ApiLogJoin j = {0};
    const char *time = NULL, *text = NULL;

    ck_assert_int_eq(feed(&j, "2026-11-22T10:00:00.1Z stdout F whole", &time, &text), 1);
    ck_assert_str_eq(time, "2026-11-22T10:00:00.1Z");
    ck_assert_str_eq(text, "whole");
    /* P P F: one line, with the time of its first part. */
    ck_assert_int_eq(feed(&j, "2026-11-22T10:00:01.1Z stdout P ab", &time, &text), 0);
    ck_assert_int_eq(feed(&j, "2026-11-22T10:00:01.2Z stdout P cd", &time, &text), 0);
    ck_assert_int_eq(feed(&j, "2026-11-22T10:00:01.3Z stdout F ef", &time, &text), 1);
    ck_assert_str_eq(time, "2026-11-22T10:00:01.1Z");
    ck_assert_str_eq(text, "abcdef");
    /* An empty F line after a P ends it. */
    ck_assert_int_eq(feed(&j, "2026-11-22T10:00:02Z stdout P tail", &time, &text), 0);
    ck_assert_int_eq(feed(&j, "2026-11-22T10:00:03Z stdout F", &time, &text), 1);
    ck_assert_str_eq(text, "tail");
    ck_assert_int_eq(feed(&j, "2026-11-22T10:00:04Z stdout F", &time, &text), 1);
    ck_assert_str_eq(text, "");
    /* Not CRI: refused, nothing kept. */
    ck_assert_int_eq(feed(&j, "garbage", &time, &text), -EBADMSG);
    /* A P line left at the end comes out through flush, once. */
    ck_assert_int_eq(feed(&j, "2026-11-22T10:00:05Z stderr P unfinished", &time, &text), 0);
    ck_assert_int_eq(api_log_join_flush(&j, &time, &text), 1);
    ck_assert_str_eq(text, "unfinished");
    ck_assert_str_eq(time, "2026-11-22T10:00:05Z");
    ck_assert_int_eq(api_log_join_flush(&j, &time, &text), 0);
    api_log_join_done(&j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("protocol");
    TCase *ts = tcase_create("server");
    SRunner *sr;
    int failed;

    tcase_add_loop_test(tc, test_request_table, 0, ELEMENTSOF(requests));
    tcase_add_test(tc, test_request_nul_byte);
    tcase_add_test(tc, test_request_too_large);
    tcase_add_test(tc, test_ops);
    tcase_add_test(tc, test_reasons);
    tcase_add_test(tc, test_error_response);
    tcase_add_test(tc, test_ok_response);
    tcase_add_test(tc, test_bad_responses);
    tcase_add_test(tc, test_api_error_set);
    tcase_add_loop_test(tc, test_cri_line_table, 0, ELEMENTSOF(cri_lines));
    tcase_add_test(tc, test_cri_join_partial_lines);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(ts, setup, teardown);
    tcase_add_test(ts, test_server_roundtrip);
    tcase_add_test(ts, test_server_get_pods_text);
    tcase_add_test(ts, test_server_published_pods);
    tcase_add_test(ts, test_server_answers_in_order_and_publishes_first);
    tcase_add_test(ts, test_server_client_gone_before_its_answer);
    tcase_add_test(ts, test_server_stale_and_live_socket);
    tcase_add_test(ts, test_client_not_running);
    suite_add_tcase(s, ts);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
