/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API server: a listening Unix socket and up to API_MAX_CLIENTS
 * non-blocking connections (some kept for root, a few per other uid, each
 * decided by SO_PEERCRED at accept), all io sources of a loop of the
 * server's own, on a thread of its own. Nothing here blocks: input is read
 * as it comes (bounded per connection and per dispatch, so one busy client
 * cannot starve the others), responses are queued and written as the peer
 * takes them, and a per-connection timer drops a client that stalls in the
 * middle of a request or stops reading its responses.
 *
 * Why a thread: the daemon's loop is busy for seconds at a time while it
 * starts many containers on a busy host, and `podctl get pods` is what a
 * person runs to watch that. The server's thread parses every request and
 * answers version and get_pods itself, the latter from the pods the daemon
 * last published (api_server_publish_pods()). Every other request is a job
 * for the daemon's loop: queued, announced on an eventfd that loop watches,
 * answered there by the provider, and handed back the same way. A
 * connection waits for the answer to its job before its next request is
 * read from its buffer, so answers keep their order.
 */
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "api.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

/* A request of API_REQUEST_MAX_BYTES and its newline. */
#define API_INPUT_MAX ((size_t)API_REQUEST_MAX_BYTES + 1)
/* Read at most this much per dispatch, so that a fast client cannot starve the others. */
#define API_READ_BUDGET (256u * 1024u)
/* Stop reading requests while more than this waits to be written (backpressure). */
#define API_OUTPUT_HIGH_WATER (4u * 1024u * 1024u)
/* Answer at most this many requests of one client per dispatch, then let the others run. */
#define API_REQUEST_BUDGET 4
#define API_ACCEPT_BUDGET 16
#define API_ACCEPT_RETRY_USEC (100u * 1000u)

typedef enum ApiAccess {
    API_ACCESS_NONE,
    API_ACCESS_READ,
    API_ACCESS_ALL,
} ApiAccess;

typedef struct ApiConn ApiConn;

/* A request for the daemon's loop, and then its answer (a whole response line). */
typedef struct ApiJob ApiJob;
struct ApiJob {
    ApiJob *next;
    uint64_t conn_id;
    ApiRequest *req;
    StrBuf out;
};

/*
 * Jobs handed from one thread to the other: any thread pushes, one takes
 * them all at once. Lock-free, as everything the two threads share: a
 * daemon's thread preempted while it held a lock (its loop is runnable for
 * seconds on a busy host, and gets a core only now and then) would keep the
 * server's thread waiting for as long; a mutex did, for 54 ms, once in six
 * cold starts.
 */
typedef struct ApiJobQueue {
    _Atomic(ApiJob *) top; /* newest first */
} ApiJobQueue;

/* What get_pods answers: the texts as published (one reference each). */
typedef struct ApiPods {
    size_t n;
    SharedText *texts[];
} ApiPods;

struct ApiServer {
    Loop *loop;   /* the server's own: the socket and the connections */
    Loop *daemon; /* the daemon's: the provider runs there */
    pthread_t thread;
    bool has_thread;
    /* Jobs to the daemon's loop (to_daemon) and answers back (to_server). */
    int to_daemon_fd, to_server_fd;
    LoopSource *jobs_source, *answers_source;
    ApiJobQueue jobs, answers;
    /* The daemon's publication not yet taken by the server's thread (pods_withdrawn: none). */
    _Atomic(ApiPods *) next_pods;
    ApiPods *pods;  /* the server's thread's: what get_pods answers; NULL: it is a job */
    bool published; /* the daemon's thread's: whether it last published or withdrew */
    atomic_bool stopping;
    atomic_uint n_clients_seen;          /* n_clients, for any thread */
    _Atomic uint64_t last_get_pods_usec; /* when a get_pods last came (CLOCK_MONOTONIC) */
    uint64_t next_conn_id;
    char *path;
    char *group_name;
    int fd;
    dev_t dev;
    ino_t ino;
    gid_t gid;
    LoopSource *listen_source, *retry_timer;
    const ApiProvider *provider;
    void *userdata;
    _Atomic uint64_t timeout_usec; /* set by any thread */
    ApiConn *clients;
    unsigned n_clients;
    unsigned n_unprivileged; /* clients whose uid is not 0 */
};

struct ApiConn {
    ApiServer *server;
    ApiConn *prev, *next;
    uint64_t id; /* names the connection to a job's answer, which may find it gone */
    int fd;
    LoopSource *io, *timer;
    uint32_t events;
    pid_t pid;
    uid_t uid;
    ApiAccess access;
    char *in;
    size_t in_start, in_len, in_cap, in_scanned;
    uint64_t request_start; /* when the pending partial request began */
    StrBuf out;
    size_t out_off;
    uint64_t write_since; /* last progress of a pending write */
    bool eof, closing;
    bool more;    /* complete requests left over by the budget: come back next iteration */
    bool waiting; /* a job of ours is with the daemon's loop: no request is answered before it */
};

static void conn_free(ApiConn *c)
{
    ApiServer *s;

    if (!c)
        return;
    s = c->server;
    if (c->prev)
        c->prev->next = c->next;
    else if (s->clients == c)
        s->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_clients--;
    atomic_store(&s->n_clients_seen, s->n_clients);
    if (c->uid != 0)
        s->n_unprivileged--;
    (void)loop_source_unref(c->io);
    (void)loop_source_unref(c->timer);
    if (c->fd >= 0)
        (void)close(c->fd);
    free(c->in);
    strbuf_done(&c->out);
    free(c);
}

static size_t conn_out_pending(const ApiConn *c)
{
    return c->out.len - c->out_off;
}

/* Best effort, for a connection about to be closed: never waits. */
static void send_error_now(int fd, const char *reason, const char *message)
{
    _cleanup_json_ json_t *resp = api_response_error(reason, message);
    _cleanup_free_ char *line = NULL;
    size_t len;

    if (!resp)
        return;
    line = api_response_format(resp, &len);
    if (line)
        (void)send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* ---- credentials ---------------------------------------------------------------------------- */

/* Supplementary groups from /proc/PID/status, for kernels without SO_PEERGROUPS. */
static bool proc_status_has_group(pid_t pid, gid_t gid)
{
    char path[64];
    char line[4096];
    bool found = false;
    FILE *f;

    (void)snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return false;
    while (fgets(line, sizeof(line), f)) {
        char *p, *end;

        if (!startswith(line, "Groups:"))
            continue;
        p = line + strlen("Groups:");
        for (;;) {
            unsigned long g;

            errno = 0;
            g = strtoul(p, &end, 10);
            if (end == p || errno != 0)
                break;
            if ((gid_t)g == gid)
                found = true;
            p = end;
        }
        break;
    }
    (void)fclose(f);
    return found;
}

static bool peer_in_group(int fd, pid_t pid, gid_t gid)
{
    _cleanup_free_ gid_t *groups = NULL;
    socklen_t len = 64 * sizeof(gid_t);

    /* SO_PEERGROUPS (Linux 4.13) reports the groups as of connect(): no race with the PID. */
    for (int attempt = 0; attempt < 2; attempt++) {
        gid_t *n = realloc(groups, len ? len : sizeof(gid_t));

        if (!n)
            return false;
        groups = n;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
            for (size_t i = 0; i < len / sizeof(gid_t); i++)
                if (groups[i] == gid)
                    return true;
            return false;
        }
        if (errno != ERANGE)
            break;
    }
    if (errno == ENOPROTOOPT || errno == EINVAL)
        return proc_status_has_group(pid, gid);
    return false;
}

static ApiAccess peer_access(const ApiServer *s, int fd, pid_t *ret_pid, uid_t *ret_uid)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    *ret_pid = 0;
    *ret_uid = (uid_t)-1;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
        return API_ACCESS_NONE;
    *ret_pid = cred.pid;
    *ret_uid = cred.uid;
    if (cred.uid == 0)
        return API_ACCESS_ALL;
    if (cred.gid == s->gid || peer_in_group(fd, cred.pid, s->gid))
        return API_ACCESS_READ;
    return API_ACCESS_NONE;
}

/* ---- requests, on the daemon's loop ------------------------------------------------------ */

typedef json_t *(*ApiRequestFn)(void *userdata, const ApiRequest *req, ApiError *ret_err);

static json_t *call_with_request(ApiRequestFn fn, void *u, const ApiRequest *req, ApiError *err)
{
    if (fn)
        return fn(u, req, err);
    api_error_set(err, API_REASON_BAD_REQUEST, "operation '%s' is not supported by this daemon",
                  api_op_to_string(req->op));
    return NULL;
}

static json_t *call_provider(const ApiServer *s, const ApiRequest *req, ApiError *err)
{
    const ApiProvider *p = s->provider;
    void *u = s->userdata;

    switch (req->op) {
    case API_OP_GET_POD:
        if (p && p->get_pod)
            return p->get_pod(u, req->name, err);
        break;
    case API_OP_DESCRIBE_POD:
        if (p && p->describe_pod)
            return p->describe_pod(u, req->name, err);
        break;
    case API_OP_EVENTS:
        if (p && p->events)
            return p->events(u, req, err);
        break;
    case API_OP_LOGS:
        return call_with_request(p ? p->logs : NULL, u, req, err);
    case API_OP_IMAGES:
        return call_with_request(p ? p->images : NULL, u, req, err);
    case API_OP_APPLY:
        return call_with_request(p ? p->apply : NULL, u, req, err);
    case API_OP_DELETE_PODS:
        return call_with_request(p ? p->delete_pods : NULL, u, req, err);
    case API_OP_RESTART_POD:
        return call_with_request(p ? p->restart_pod : NULL, u, req, err);
    case API_OP_IMAGE_STORE:
        return call_with_request(p ? p->image_store : NULL, u, req, err);
    case API_OP_IMAGE_ADDED:
        return call_with_request(p ? p->image_added : NULL, u, req, err);
    case API_OP_IMAGE_REMOVE:
        return call_with_request(p ? p->image_remove : NULL, u, req, err);
    default:
        break;
    }
    api_error_set(err, API_REASON_BAD_REQUEST, "operation '%s' is not supported by this daemon",
                  api_op_to_string(req->op));
    return NULL;
}

/* Appends resp (taken; NULL: out of memory) as one response line. */
static int append_response(StrBuf *out, json_t *resp_take)
{
    _cleanup_json_ json_t *resp = resp_take;

    if (!resp)
        resp = api_response_error(API_REASON_INTERNAL, "out of memory");
    if (!resp || api_response_append(resp, out) < 0) {
        static const char oom[] =
            "{\"ok\":false,\"error\":{\"reason\":\"Internal\",\"message\":\"out of memory\"}}\n";

        return strbuf_append(out, oom, sizeof(oom) - 1);
    }
    return 0;
}

static const char pods_head[] = "{\"ok\":true,\"result\":", pods_tail[] = "}\n";

/*
 * get_pods from the provider: it appends the pods' text straight to the
 * output, as api_response_ok_take() + api_response_append() would write
 * them; a failure sends no part of it.
 */
static int answer_get_pods(const ApiServer *s, StrBuf *out)
{
    ApiError err = {.reason = ""};
    size_t start = out->len;
    int r = strbuf_append(out, pods_head, sizeof(pods_head) - 1);

    if (r >= 0)
        r = s->provider->get_pods(s->userdata, out, &err);
    if (r >= 0)
        r = strbuf_append(out, pods_tail, sizeof(pods_tail) - 1);
    if (r >= 0)
        return 0;
    strbuf_truncate(out, start);
    return append_response(out, api_response_error(err.reason[0] ? err.reason : API_REASON_INTERNAL,
                                                   err.message[0] ? err.message : "out of memory"));
}

static int answer_job(const ApiServer *s, ApiJob *j)
{
    ApiError err = {.reason = ""};
    json_t *result;

    if (j->req->op == API_OP_GET_PODS && s->provider && s->provider->get_pods)
        return answer_get_pods(s, &j->out);
    result = call_provider(s, j->req, &err);
    if (!result)
        return append_response(&j->out,
                               api_response_error(err.reason[0] ? err.reason : API_REASON_INTERNAL,
                                                  err.message[0] ? err.message : "internal error"));
    return append_response(&j->out, api_response_ok_take(result));
}

static void job_free(ApiJob *j)
{
    api_request_free(j->req);
    strbuf_done(&j->out);
    free(j);
}

static void queue_push(ApiJobQueue *q, ApiJob *j)
{
    ApiJob *top = atomic_load_explicit(&q->top, memory_order_relaxed);

    do
        j->next = top;
    while (!atomic_compare_exchange_weak_explicit(&q->top, &top, j, memory_order_release,
                                                  memory_order_relaxed));
}

/* Empties q, returning what it held, oldest first. */
static ApiJob *queue_take(ApiJobQueue *q)
{
    ApiJob *j = atomic_exchange_explicit(&q->top, NULL, memory_order_acquire), *oldest = NULL;

    while (j) {
        ApiJob *next = j->next;

        j->next = oldest;
        oldest = j;
        j = next;
    }
    return oldest;
}

static void jobs_free(ApiJob *j)
{
    while (j) {
        ApiJob *next = j->next;

        job_free(j);
        j = next;
    }
}

static void wake(int fd)
{
    /* Cannot fail but for an overflow of the counter, which leaves it readable anyway. */
    (void)eventfd_write(fd, 1);
}

/*
 * The daemon's loop: answers the jobs queued, lets the daemon publish what
 * they changed, and only then hands the answers back, so that a client told
 * "done" sees the change in its next get_pods.
 */
static int server_on_jobs(LoopSource *src _unused_, int fd, uint32_t revents _unused_,
                          void *userdata)
{
    ApiServer *s = userdata;
    ApiJob *jobs;
    eventfd_t n;

    (void)eventfd_read(fd, &n);
    jobs = queue_take(&s->jobs);
    if (!jobs)
        return 0;
    for (ApiJob *j = jobs; j; j = j->next)
        if (answer_job(s, j) < 0)
            j->out.len = 0; /* out of memory even for the error: the client is dropped */
    if (s->provider && s->provider->publish)
        s->provider->publish(s->userdata);
    for (ApiJob *j = jobs, *next; j; j = next) {
        next = j->next;
        queue_push(&s->answers, j);
    }
    wake(s->to_server_fd);
    return 0;
}

/* ---- requests, on the server's thread ---------------------------------------------------- */

static void conn_write_starts(ApiConn *c);
static void conn_step(ApiConn *c, uint32_t revents);

static void pods_free(ApiPods *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        shared_text_unref(p->texts[i]);
    free(p);
}

/* Stands for "nothing published" in next_pods, where NULL means "nothing new". */
static ApiPods pods_withdrawn;

/* The server's thread: the daemon's latest publication, if any came, replaces the one before. */
static void server_take_pods(ApiServer *s)
{
    ApiPods *p = atomic_exchange_explicit(&s->next_pods, NULL, memory_order_acq_rel);

    if (!p)
        return;
    pods_free(s->pods);
    s->pods = p == &pods_withdrawn ? NULL : p;
}

/* get_pods from what the daemon published; false when it published nothing. */
static bool conn_answer_pods(ApiConn *c, int *ret)
{
    ApiServer *s = c->server;
    ApiPods *p;
    size_t start = c->out.len;
    int r;

    server_take_pods(s);
    p = s->pods;
    if (!p)
        return false;
    conn_write_starts(c);
    r = strbuf_append(&c->out, pods_head, sizeof(pods_head) - 1);
    if (r >= 0)
        r = strbuf_append(&c->out, "[", 1);
    for (size_t i = 0; r >= 0 && i < p->n; i++) {
        if (i > 0)
            r = strbuf_append(&c->out, ",", 1);
        if (r >= 0)
            r = strbuf_append(&c->out, shared_text_data(p->texts[i]), shared_text_len(p->texts[i]));
    }
    if (r >= 0)
        r = strbuf_append(&c->out, "]", 1);
    if (r >= 0)
        r = strbuf_append(&c->out, pods_tail, sizeof(pods_tail) - 1);
    if (r < 0) {
        strbuf_truncate(&c->out, start);
        r = append_response(&c->out, NULL);
    }
    *ret = r;
    return true;
}

/* Hands req to the daemon's loop; the connection waits for the answer. */
static int conn_forward(ApiConn *c, ApiRequest *req_take)
{
    ApiServer *s = c->server;
    ApiJob *j = calloc(1, sizeof(*j));

    if (!j) {
        api_request_free(req_take);
        return -ENOMEM;
    }
    j->conn_id = c->id;
    j->req = req_take;
    c->waiting = true;
    queue_push(&s->jobs, j);
    wake(s->to_daemon_fd);
    return 0;
}

static int conn_queue(ApiConn *c, json_t *resp_take)
{
    conn_write_starts(c);
    return append_response(&c->out, resp_take);
}

/* One request line: answered here (0), handed to the daemon's loop (0, c->waiting), or -errno. */
static int conn_handle_line(ApiConn *c, const char *line, size_t len)
{
    _cleanup_(api_request_freep) ApiRequest *req = NULL;
    ApiServer *s = c->server;
    PdError e = {0};
    ApiError err = {.reason = ""};
    int r;

    r = api_request_parse(line, len, &req, &e);
    if (r < 0) {
        if (r == -EFBIG)
            c->closing = true;
        return conn_queue(c, api_response_error(api_reason_from_errno(r), e.message));
    }
    if (api_op_is_write(req->op) && c->access != API_ACCESS_ALL) {
        api_error_set(&err, API_REASON_FORBIDDEN,
                      "permission denied: operation '%s' changes the host and needs root; "
                      "members of group '%s' may only read",
                      api_op_to_string(req->op), s->group_name);
        return conn_queue(c, api_response_error(err.reason, err.message));
    }
    log_debug("api: uid %u pid %d: %s", (unsigned)c->uid, (int)c->pid, api_op_to_string(req->op));
    if (req->op == API_OP_VERSION)
        return conn_queue(c, api_response_ok_take(json_pack("{s:s}", "version", PACKAGE_VERSION)));
    if (req->op == API_OP_GET_PODS) {
        atomic_store(&s->last_get_pods_usec, now_monotonic_usec());
        if (conn_answer_pods(c, &r))
            return r;
    }
    return conn_forward(c, move_ptr(req));
}

/* A reply is about to be queued: an idle output starts its write timeout now. */
static void conn_write_starts(ApiConn *c)
{
    if (conn_out_pending(c) == 0)
        c->write_since = loop_now(c->server->loop);
}

static bool is_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r", p[i]))
            return false;
    return true;
}

/* Answers every complete request in the input buffer, as far as backpressure allows. */
static int conn_process(ApiConn *c)
{
    unsigned budget = API_REQUEST_BUDGET;
    int r;

    c->more = false;
    while (!c->closing && !c->waiting && conn_out_pending(c) < API_OUTPUT_HIGH_WATER &&
           c->in_len > c->in_start) {
        char *start = c->in + c->in_start;
        size_t avail = c->in_len - c->in_start, scanned = c->in_scanned, n;
        char *nl = memchr(start + scanned, '\n', avail - scanned);

        if (nl)
            n = (size_t)(nl - start);
        else if (avail >= API_INPUT_MAX) {
            /* Where this request ends is unknown: answer and hang up. */
            r = conn_queue(c, api_response_error(API_REASON_TOO_LARGE,
                                                 "request larger than the limit of 4194304 "
                                                 "bytes (4 MiB)"));
            c->closing = true;
            c->in_start = c->in_len = c->in_scanned = 0;
            return r;
        } else if (c->eof)
            n = avail; /* the last request may lack its newline */
        else {
            c->in_scanned = avail;
            break;
        }
        if (budget == 0) {
            c->more = true;
            break;
        }
        if (!is_blank(start, n)) {
            r = conn_handle_line(c, start, n);
            if (r < 0)
                return r;
            budget--;
        }
        c->in_start += nl ? n + 1 : n;
        c->in_scanned = 0;
        c->request_start = loop_now(c->server->loop);
    }
    if (c->in_start == c->in_len) {
        c->in_start = c->in_len = c->in_scanned = 0;
        if (c->in_cap > 64 * 1024) {
            free(move_ptr(c->in));
            c->in_cap = 0;
        }
    }
    return 0;
}

static int conn_read(ApiConn *c)
{
    size_t budget = API_READ_BUDGET;

    while (budget > 0 && !c->eof) {
        ssize_t k;
        size_t want;

        if (c->in_start > 0 && c->in_len == c->in_cap) {
            memmove(c->in, c->in + c->in_start, c->in_len - c->in_start);
            c->in_len -= c->in_start;
            c->in_start = 0;
        }
        if (c->in_len - c->in_start >= API_INPUT_MAX)
            return 0; /* conn_process() answers TooLarge */
        if (c->in_len == c->in_cap) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 16 * 1024;
            char *n;

            if (cap > API_INPUT_MAX)
                cap = API_INPUT_MAX;
            n = realloc(c->in, cap);
            if (!n)
                return -ENOMEM;
            c->in = n;
            c->in_cap = cap;
        }
        want = c->in_cap - c->in_len;
        if (want > budget)
            want = budget;
        k = recv(c->fd, c->in + c->in_len, want, MSG_DONTWAIT);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -errno;
        }
        if (k == 0) {
            c->eof = true;
            return 0;
        }
        if (c->in_len == c->in_start)
            c->request_start = loop_now(c->server->loop);
        c->in_len += (size_t)k;
        budget -= (size_t)k;
    }
    return 0;
}

static int conn_flush(ApiConn *c)
{
    while (conn_out_pending(c) > 0) {
        ssize_t k =
            send(c->fd, c->out.data + c->out_off, conn_out_pending(c), MSG_NOSIGNAL | MSG_DONTWAIT);

        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -errno;
        }
        c->out_off += (size_t)k;
        c->write_since = loop_now(c->server->loop);
    }
    if (conn_out_pending(c) > 0) {
        /* A slow reader: drop what was sent, so the buffer holds only what is pending. */
        if (c->out_off >= 1024 * 1024) {
            memmove(c->out.data, c->out.data + c->out_off, conn_out_pending(c));
            c->out.len -= c->out_off;
            c->out_off = 0;
        }
        return 0;
    }
    if (c->out.cap > 1024 * 1024)
        strbuf_done(&c->out);
    c->out.len = 0;
    c->out_off = 0;
    return 0;
}

static bool conn_wants_input(const ApiConn *c)
{
    return !c->eof && !c->closing && conn_out_pending(c) < API_OUTPUT_HIGH_WATER;
}

/* Re-derives the epoll events and the deadline from the connection's state. */
static int conn_update(ApiConn *c)
{
    uint64_t deadline = LOOP_TIME_INFINITY, t = c->server->timeout_usec;
    uint32_t events = 0;
    int r;

    if (conn_wants_input(c))
        events |= EPOLLIN;
    /* Writable is level-triggered and almost always true: it brings us back for c->more. */
    if (c->more)
        events |= EPOLLOUT;
    if (conn_out_pending(c) > 0) {
        events |= EPOLLOUT;
        deadline = c->write_since + t;
    } else if (!c->waiting && c->in_len > c->in_start && c->request_start + t < deadline)
        /* Not while the daemon answers: the request is complete, the time is the daemon's. */
        deadline = c->request_start + t;
    if (events != c->events) {
        /* Nothing to wait for (an answer due after the peer's EOF): out of epoll, which would
         * report the hang-up over and over. */
        r = events ? loop_io_set_events(c->io, events) : 0;
        if (r >= 0 && (events == 0) != (c->events == 0))
            r = loop_source_set_enabled(c->io, events ? LOOP_SOURCE_ON : LOOP_SOURCE_OFF);
        if (r < 0)
            return r;
        c->events = events;
    }
    if (deadline != loop_timer_get(c->timer))
        return loop_timer_set(c->timer, deadline);
    return 0;
}

static int conn_on_timer(LoopSource *src _unused_, uint64_t deadline _unused_, void *userdata)
{
    ApiConn *c = userdata;

    log_debug("api: uid %u pid %d: request or response timed out; dropping the client",
              (unsigned)c->uid, (int)c->pid);
    if (conn_out_pending(c) == 0)
        send_error_now(c->fd, API_REASON_TIMEOUT, "request not completed in time");
    conn_free(c);
    return 0;
}

/* Reads, answers and writes what it can, and hangs up when all is said. May free c. */
static void conn_step(ApiConn *c, uint32_t revents)
{
    int r = 0;

    if (revents & EPOLLOUT)
        r = conn_flush(c);
    if (r >= 0 && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && conn_wants_input(c))
        r = conn_read(c);
    if (r >= 0)
        r = conn_process(c);
    if (r >= 0)
        r = conn_flush(c);
    if (r >= 0 && conn_out_pending(c) == 0 && !c->waiting &&
        (c->closing || (c->eof && c->in_len == c->in_start)))
        r = -ECONNRESET; /* all said: hang up */
    else if (r >= 0 && (revents & EPOLLERR))
        r = -EPIPE;
    if (r >= 0)
        r = conn_update(c);
    if (r < 0) {
        if (r != -ECONNRESET)
            log_debug_errno(r, "api: uid %u pid %d: dropping the client: %m", (unsigned)c->uid,
                            (int)c->pid);
        conn_free(c);
    }
}

static int conn_on_io(LoopSource *src _unused_, int fd _unused_, uint32_t revents, void *userdata)
{
    conn_step(userdata, revents);
    return 0;
}

static ApiConn *server_find_conn(ApiServer *s, uint64_t id)
{
    for (ApiConn *c = s->clients; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

/* The server's thread: the daemon's answers go to their connections (those still there). */
static int server_on_answers(LoopSource *src _unused_, int fd, uint32_t revents _unused_,
                             void *userdata)
{
    ApiServer *s = userdata;
    ApiJob *answers;
    bool stopping;
    eventfd_t n;

    (void)eventfd_read(fd, &n);
    answers = queue_take(&s->answers);
    stopping = atomic_load(&s->stopping);
    for (ApiJob *j = answers; j; j = j->next) {
        ApiConn *c = server_find_conn(s, j->conn_id);

        if (!c)
            continue;
        c->waiting = false;
        conn_write_starts(c);
        if (j->out.len == 0 || strbuf_append(&c->out, j->out.data, j->out.len) < 0) {
            log_debug("api: uid %u pid %d: out of memory for an answer; dropping the client",
                      (unsigned)c->uid, (int)c->pid);
            conn_free(c);
            continue;
        }
        conn_step(c, 0);
    }
    jobs_free(answers);
    if (stopping)
        loop_exit(s->loop, 0);
    return 0;
}

/* ---- accepting ------------------------------------------------------------------------------- */

/*
 * Whether a client of uid may get a connection now; if not, says why in
 * reason. Root always finds one of the API_ROOT_RESERVED_CLIENTS left.
 */
static bool server_has_room(const ApiServer *s, uid_t uid, char *reason, size_t size)
{
    unsigned mine = 0;

    if (s->n_clients >= API_MAX_CLIENTS) {
        (void)snprintf(reason, size,
                       "too many clients: podd serves at most %u connections at once; "
                       "try again later",
                       API_MAX_CLIENTS);
        return false;
    }
    if (uid == 0)
        return true;
    if (s->n_unprivileged >= API_MAX_CLIENTS - API_ROOT_RESERVED_CLIENTS) {
        (void)snprintf(reason, size,
                       "too many clients: podd serves at most %u connections at once, %u of them "
                       "kept for root; try again later",
                       API_MAX_CLIENTS, API_ROOT_RESERVED_CLIENTS);
        return false;
    }
    for (const ApiConn *c = s->clients; c; c = c->next)
        if (c->uid == uid)
            mine++;
    if (mine >= API_MAX_CLIENTS_PER_UID) {
        (void)snprintf(reason, size,
                       "too many clients: uid %u already holds %u connections, the most one "
                       "user other than root may hold; try again later",
                       (unsigned)uid, mine);
        return false;
    }
    return true;
}

/*
 * Takes a client on, or answers why not and hangs up, by its SO_PEERCRED
 * alone: nothing it sent is read before it is known to be allowed in.
 */
static int server_add_client(ApiServer *s, int fd_take)
{
    _cleanup_close_ int fd = fd_take;
    char reason[256];
    ApiAccess access;
    ApiConn *c;
    pid_t pid;
    uid_t uid;
    int r;

    access = peer_access(s, fd, &pid, &uid);
    if (access == API_ACCESS_NONE) {
        (void)snprintf(reason, sizeof(reason),
                       "permission denied: uid %u is neither root nor a member of group '%s' "
                       "(gid %u), which owns %s",
                       (unsigned)uid, s->group_name, (unsigned)s->gid, s->path);
        send_error_now(fd, API_REASON_FORBIDDEN, reason);
        log_debug("api: refused uid %u pid %d: not root nor in group '%s'", (unsigned)uid, (int)pid,
                  s->group_name);
        return 0;
    }
    if (!server_has_room(s, uid, reason, sizeof(reason))) {
        send_error_now(fd, API_REASON_TOO_MANY_CLIENTS, reason);
        log_debug("api: refused uid %u pid %d: %s", (unsigned)uid, (int)pid, reason);
        return 0;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->server = s;
    c->id = ++s->next_conn_id;
    c->fd = -1;
    c->access = access;
    c->pid = pid;
    c->uid = uid;
    c->next = s->clients;
    if (s->clients)
        s->clients->prev = c;
    s->clients = c;
    s->n_clients++;
    atomic_store(&s->n_clients_seen, s->n_clients);
    if (uid != 0)
        s->n_unprivileged++;
    c->fd = move_fd(fd);
    c->events = EPOLLIN;
    r = loop_add_io(s->loop, &c->io, c->fd, EPOLLIN, conn_on_io, c);
    if (r >= 0)
        r = loop_add_timer(s->loop, &c->timer, LOOP_TIME_INFINITY, conn_on_timer, c);
    if (r < 0) {
        conn_free(c);
        return r;
    }
    (void)loop_source_set_description(c->io, "api-client");
    log_debug("api: client uid %u pid %d connected (%s)", (unsigned)c->uid, (int)c->pid,
              c->access == API_ACCESS_ALL ? "all" : "read");
    return 0;
}

static int server_on_retry(LoopSource *src _unused_, uint64_t deadline _unused_, void *userdata)
{
    ApiServer *s = userdata;

    return loop_source_set_enabled(s->listen_source, LOOP_SOURCE_ON);
}

static int server_on_listen(LoopSource *src _unused_, int fd _unused_, uint32_t revents _unused_,
                            void *userdata)
{
    ApiServer *s = userdata;

    for (int i = 0; i < API_ACCEPT_BUDGET; i++) {
        int cfd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (cfd < 0) {
            int r = -errno;

            if (r == -EAGAIN || r == -EWOULDBLOCK || r == -EINTR || r == -ECONNABORTED)
                return 0;
            if (r == -EMFILE || r == -ENFILE || r == -ENOBUFS || r == -ENOMEM) {
                /* Level-triggered: pause accepting instead of spinning. */
                (void)loop_source_set_enabled(s->listen_source, LOOP_SOURCE_OFF);
                if (!s->retry_timer && loop_add_timer(s->loop, &s->retry_timer, LOOP_TIME_INFINITY,
                                                      server_on_retry, s) < 0)
                    return loop_source_set_enabled(s->listen_source, LOOP_SOURCE_ON);
                (void)loop_timer_set(s->retry_timer, loop_now(s->loop) + API_ACCEPT_RETRY_USEC);
            }
            return log_debug_errno(r, "api: accept failed: %m");
        }
        if (server_add_client(s, cfd) < 0)
            log_debug("api: cannot set up a client; dropped it");
    }
    return 0;
}

/* ---- the socket ------------------------------------------------------------------------------ */

static int fill_address(const char *path, struct sockaddr_un *sa, socklen_t *ret_len)
{
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(sa->sun_path))
        return -ENAMETOOLONG;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, n);
    *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

/*
 * Whether a listener answers at sa, for a whole second: a killed daemon's
 * socket can linger for a moment in a child that was between fork and exec.
 */
static bool socket_answers(const struct sockaddr_un *sa, socklen_t sa_len, int *ret_err)
{
    *ret_err = 0;
    for (int i = 0; i < 20; i++) {
        _cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (probe < 0) {
            *ret_err = -errno;
            return false;
        }
        if (connect(probe, (const struct sockaddr *)sa, sa_len) < 0)
            return false;
        (void)usleep(50 * 1000);
    }
    return true;
}

/* Removes a stale socket at path; refuses a live one and anything else. */
static int remove_stale(const char *path, const struct sockaddr_un *sa, socklen_t sa_len,
                        PdError *reterr)
{
    struct stat st;
    int r = 0;

    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return pd_error_set(reterr, -errno, "cannot check %s: %s", path, strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode))
        return pd_error_set(reterr, -EEXIST, "%s exists and is not a socket; not replacing it",
                            path);
    if (socket_answers(sa, sa_len, &r) && r == 0)
        return pd_error_set(reterr, -EADDRINUSE,
                            "another podd is already serving %s; not replacing its socket", path);
    if (r < 0)
        return pd_error_set(reterr, r, "socket: %s", strerror(-r));
    if (unlink(path) < 0 && errno != ENOENT)
        return pd_error_set(reterr, -errno, "cannot remove the stale socket %s: %s", path,
                            strerror(errno));
    return 0;
}

static char *group_name_of(gid_t gid)
{
    char buf[4096];
    struct group gr, *res = NULL;

    if (getgrgid_r(gid, &gr, buf, sizeof(buf), &res) == 0 && res)
        return strdup(res->gr_name);
    return strdup_printf("%u", (unsigned)gid);
}

static void *server_run(void *userdata)
{
    ApiServer *s = userdata;
    int r = loop_run(s->loop);

    if (r < 0)
        log_debug_errno(r, "api: the server's loop failed: %m");
    return NULL;
}

/* The eventfds between the loops, and the server's thread, which takes no signal. */
static int server_start_thread(ApiServer *s, PdError *reterr)
{
    sigset_t all, old;
    int r;

    s->to_daemon_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    s->to_server_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->to_daemon_fd < 0 || s->to_server_fd < 0)
        return pd_error_set(reterr, -errno, "eventfd: %s", strerror(errno));
    r = loop_add_io(s->daemon, &s->jobs_source, s->to_daemon_fd, EPOLLIN, server_on_jobs, s);
    if (r >= 0)
        r = loop_add_io(s->loop, &s->answers_source, s->to_server_fd, EPOLLIN, server_on_answers,
                        s);
    if (r < 0)
        return pd_error_set(reterr, r, "cannot watch the server's eventfds: %s", strerror(-r));
    (void)loop_source_set_description(s->jobs_source, "api-jobs");
    (void)loop_source_set_description(s->answers_source, "api-answers");
    (void)sigfillset(&all);
    (void)pthread_sigmask(SIG_SETMASK, &all, &old);
    r = -pthread_create(&s->thread, NULL, server_run, s);
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r < 0)
        return pd_error_set(reterr, r, "cannot start the server's thread: %s", strerror(-r));
    s->has_thread = true;
    (void)pthread_setname_np(s->thread, "podd-api");
    return 0;
}

ApiServer *api_server_new(Loop *loop, const char *socket_path, gid_t group,
                          const ApiProvider *provider, void *userdata, PdError *reterr)
{
    ApiServer *s = NULL;
    struct sockaddr_un sa;
    socklen_t sa_len;
    struct stat st;
    mode_t old_umask;
    int r;

    if (!loop || !socket_path) {
        r = pd_error_set(reterr, -EINVAL, "no loop or socket path");
        goto fail;
    }
    r = fill_address(socket_path, &sa, &sa_len);
    if (r < 0) {
        r = pd_error_set(reterr, r, "socket path '%s' is empty or longer than %zu bytes",
                         socket_path, sizeof(sa.sun_path) - 1);
        goto fail;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        r = pd_error_set(reterr, -ENOMEM, "out of memory");
        goto fail;
    }
    s->fd = s->to_daemon_fd = s->to_server_fd = -1;
    s->daemon = loop_ref(loop);
    s->provider = provider;
    s->userdata = userdata;
    s->timeout_usec = API_REQUEST_TIMEOUT_USEC;
    s->path = strdup(socket_path);
    if (!s->path) {
        r = pd_error_set(reterr, -ENOMEM, "out of memory");
        goto fail;
    }
    r = loop_new(&s->loop);
    if (r < 0) {
        r = pd_error_set(reterr, r, "cannot create the server's loop: %s", strerror(-r));
        goto fail;
    }
    r = remove_stale(socket_path, &sa, sa_len, reterr);
    if (r < 0)
        goto fail;
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        r = pd_error_set(reterr, -errno, "socket: %s", strerror(errno));
        goto fail;
    }
    /* The socket must never exist with a mode wider than 0660, not even for a moment. */
    old_umask = umask(0117);
    r = bind(s->fd, (const struct sockaddr *)&sa, sa_len) < 0 ? -errno : 0;
    (void)umask(old_umask);
    if (r < 0) {
        r = pd_error_set(reterr, r, "cannot bind %s: %s", socket_path, strerror(-r));
        goto fail;
    }
    if (group != (gid_t)-1 && chown(socket_path, (uid_t)-1, group) < 0) {
        r = pd_error_set(reterr, -errno, "cannot give %s to group %u: %s", socket_path,
                         (unsigned)group, strerror(errno));
        (void)unlink(socket_path);
        goto fail;
    }
    if (chmod(socket_path, 0660) < 0 || stat(socket_path, &st) < 0) {
        r = pd_error_set(reterr, -errno, "cannot set up %s: %s", socket_path, strerror(errno));
        (void)unlink(socket_path);
        goto fail;
    }
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->gid = st.st_gid;
    s->group_name = group_name_of(s->gid);
    if (!s->group_name) {
        r = pd_error_set(reterr, -ENOMEM, "out of memory");
        goto fail;
    }
    if (listen(s->fd, 128) < 0) {
        r = pd_error_set(reterr, -errno, "cannot listen on %s: %s", socket_path, strerror(errno));
        goto fail;
    }
    r = loop_add_io(s->loop, &s->listen_source, s->fd, EPOLLIN, server_on_listen, s);
    if (r < 0) {
        r = pd_error_set(reterr, r, "cannot watch %s: %s", socket_path, strerror(-r));
        goto fail;
    }
    (void)loop_source_set_description(s->listen_source, "api-listen");
    r = server_start_thread(s, reterr);
    if (r < 0)
        goto fail;
    log_debug("api: listening on %s (group %s)", socket_path, s->group_name);
    return s;

fail:
    (void)api_server_free(s);
    errno = -r;
    return NULL;
}

static void server_stop_thread(ApiServer *s)
{
    if (!s->has_thread)
        return;
    atomic_store(&s->stopping, true);
    wake(s->to_server_fd);
    (void)pthread_join(s->thread, NULL);
    s->has_thread = false;
}

ApiServer *api_server_free(ApiServer *s)
{
    struct stat st;

    if (!s)
        return NULL;
    /* From here on, this thread alone touches what the server's thread did. */
    server_stop_thread(s);
    while (s->clients)
        conn_free(s->clients);
    (void)loop_source_unref(s->listen_source);
    (void)loop_source_unref(s->retry_timer);
    (void)loop_source_unref(s->answers_source);
    (void)loop_source_unref(s->jobs_source);
    jobs_free(queue_take(&s->jobs));
    jobs_free(queue_take(&s->answers));
    server_take_pods(s);
    pods_free(s->pods);
    if (s->fd >= 0) {
        (void)close(s->fd);
        /* Remove the socket file only if it is still the one we made. */
        if (s->path && s->ino != 0 && lstat(s->path, &st) == 0 && st.st_dev == s->dev &&
            st.st_ino == s->ino)
            (void)unlink(s->path);
    }
    if (s->to_daemon_fd >= 0)
        (void)close(s->to_daemon_fd);
    if (s->to_server_fd >= 0)
        (void)close(s->to_server_fd);
    (void)loop_unref(s->loop);
    (void)loop_unref(s->daemon);
    free(s->path);
    free(s->group_name);
    free(s);
    return NULL;
}

/* The daemon's thread: p_take (or pods_withdrawn) is what the server's thread takes next. */
static void server_set_pods(ApiServer *s, ApiPods *p_take)
{
    /* Published before and never taken: nobody else holds it. */
    ApiPods *old = atomic_exchange_explicit(&s->next_pods, p_take, memory_order_acq_rel);

    if (old != &pods_withdrawn)
        pods_free(old);
    s->published = p_take != &pods_withdrawn;
}

int api_server_publish_pods(ApiServer *s, SharedText *const *texts, size_t n)
{
    ApiPods *p = malloc(sizeof(ApiPods) + n * sizeof(SharedText *));

    if (p) {
        p->n = n;
        for (size_t i = 0; i < n; i++)
            p->texts[i] = shared_text_ref(texts[i]);
    }
    /* Out of memory: nothing published, rather than what no longer holds; get_pods asks us. */
    server_set_pods(s, p ? p : &pods_withdrawn);
    return p ? 0 : -ENOMEM;
}

void api_server_withdraw_pods(ApiServer *s)
{
    if (s->published)
        server_set_pods(s, &pods_withdrawn);
}

bool api_server_pods_published(const ApiServer *s)
{
    return s->published;
}

bool api_server_pods_wanted(const ApiServer *s)
{
    uint64_t last = atomic_load(&((ApiServer *)s)->last_get_pods_usec);

    return last != 0 && now_monotonic_usec() < last + API_PODS_WANTED_USEC;
}

void api_server_set_request_timeout(ApiServer *s, uint64_t usec)
{
    s->timeout_usec = usec;
}

unsigned api_server_client_count(const ApiServer *s)
{
    return atomic_load(&((ApiServer *)s)->n_clients_seen);
}
