/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe.h"

static const char *const probe_result_table[_PROBE_RESULT_MAX] = {
    [PROBE_RESULT_SUCCESS] = "success",
    [PROBE_RESULT_FAILURE] = "failure",
    [PROBE_RESULT_TIMEOUT] = "timeout",
};

const char *probe_result_to_string(ProbeResult r)
{
    if ((int)r < 0 || r >= _PROBE_RESULT_MAX)
        return NULL;
    return probe_result_table[r];
}

struct ProbeRun {
    int fd;
    LoopSource *io, *timer;
    ProbeRunHandler cb;
    void *userdata;
    uint64_t timeout_usec;
    char addr[INET6_ADDRSTRLEN + 8]; /* "host:port" or "[host]:port", for excerpts */
    /* A result decided before the loop could run (an immediate connect failure). */
    bool early;
    ProbeResult early_result;
    char excerpt[PROBE_EXCERPT_MAX];
    /* httpGet: the request and how much of it is sent; what came back. */
    char *request;
    size_t request_len, request_sent;
    size_t got;
    char answer[PROBE_HTTP_READ_MAX + 1];
};

ProbeRun *probe_cancel(ProbeRun *run)
{
    if (!run)
        return NULL;
    run->io = loop_source_unref(run->io);
    run->timer = loop_source_unref(run->timer);
    if (run->fd >= 0)
        (void)close(run->fd);
    free(run->request);
    free(run);
    return NULL;
}

/*
 * Reports the result once: the sources are switched off first, so nothing
 * fires again, and nothing touches run after the callback (which may free it).
 */
static void run_finish(ProbeRun *run, ProbeResult result, const char *excerpt)
{
    char text[PROBE_EXCERPT_MAX];

    (void)snprintf(text, sizeof(text), "%s", excerpt);
    run->io = loop_source_unref(run->io);
    (void)loop_timer_set(run->timer, LOOP_TIME_INFINITY);
    run->cb(run, result, text, run->userdata);
}

static void run_fail_errno(ProbeRun *run, const char *what, int r)
{
    char text[PROBE_EXCERPT_MAX];

    (void)snprintf(text, sizeof(text), "%s %s: %s", what, run->addr, strerror(-r));
    run_finish(run, PROBE_RESULT_FAILURE, text);
}

static int on_timer(LoopSource *s, uint64_t deadline, void *userdata)
{
    ProbeRun *run = userdata;
    char text[PROBE_EXCERPT_MAX];

    (void)s;
    (void)deadline;
    if (run->early) {
        run_finish(run, run->early_result, run->excerpt);
        return 0;
    }
    if (run->timeout_usec % 1000000u == 0)
        (void)snprintf(text, sizeof(text), "timed out after %" PRIu64 "s",
                       run->timeout_usec / 1000000u);
    else
        (void)snprintf(text, sizeof(text), "timed out after %" PRIu64 "ms",
                       run->timeout_usec / 1000u);
    run_finish(run, PROBE_RESULT_TIMEOUT, text);
    return 0;
}

/* The status line is in: 2xx and 3xx succeed (as the kubelet's prober says). */
static void http_judge(ProbeRun *run, char *line)
{
    const char *code;
    unsigned status;

    line[strcspn(line, "\r\n")] = '\0';
    /* "HTTP/x.y NNN reason": exactly three digits, then a space or the end. */
    code = strchr(line, ' ');
    if (strncmp(line, "HTTP/", 5) != 0 || !code || !isdigit((unsigned char)code[1]) ||
        !isdigit((unsigned char)code[2]) || !isdigit((unsigned char)code[3]) ||
        (code[4] != ' ' && code[4] != '\0')) {
        char text[PROBE_EXCERPT_MAX];

        (void)snprintf(text, sizeof(text), "no HTTP status line: '%.80s'", line);
        run_finish(run, PROBE_RESULT_FAILURE, text);
        return;
    }
    status = (unsigned)(code[1] - '0') * 100 + (unsigned)(code[2] - '0') * 10 +
             (unsigned)(code[3] - '0');
    run_finish(run, status >= 200 && status < 400 ? PROBE_RESULT_SUCCESS : PROBE_RESULT_FAILURE,
               line);
}

static void http_read(ProbeRun *run)
{
    char *eol;
    ssize_t n;

    n = read(run->fd, run->answer + run->got, PROBE_HTTP_READ_MAX - run->got);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            run_fail_errno(run, "read from", -errno);
        return;
    }
    run->got += (size_t)n;
    run->answer[run->got] = '\0';
    eol = memchr(run->answer, '\n', run->got);
    if (eol) {
        *eol = '\0';
        http_judge(run, run->answer);
    } else if (n == 0)
        run_finish(run, PROBE_RESULT_FAILURE,
                   run->got ? "connection closed inside the HTTP status line"
                            : "connection closed without an HTTP answer");
    else if (run->got == PROBE_HTTP_READ_MAX) {
        char text[PROBE_EXCERPT_MAX];

        (void)snprintf(text, sizeof(text), "no HTTP status line in the first %u bytes",
                       PROBE_HTTP_READ_MAX);
        run_finish(run, PROBE_RESULT_FAILURE, text);
    }
}

static void http_write(ProbeRun *run)
{
    ssize_t n;

    n = send(run->fd, run->request + run->request_sent, run->request_len - run->request_sent,
             MSG_NOSIGNAL);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            run_fail_errno(run, "send to", -errno);
        return;
    }
    run->request_sent += (size_t)n;
    if (run->request_sent == run->request_len) {
        int r = loop_io_set_events(run->io, EPOLLIN);

        if (r < 0)
            run_fail_errno(run, "watch", r);
    }
}

static int on_io(LoopSource *s, int fd, uint32_t revents, void *userdata)
{
    ProbeRun *run = userdata;

    (void)s;
    if (run->request && run->request_sent == run->request_len) {
        http_read(run);
        return 0;
    }
    if (run->request_sent == 0) {
        /* The first wake-up after connect(): it finished, one way or the other. */
        int error = 0;
        socklen_t len = sizeof(error);

        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
            error = errno;
        else if (error == 0 && (revents & (EPOLLERR | EPOLLHUP)) && !(revents & EPOLLOUT))
            error = ECONNRESET;
        if (error != 0) {
            run_fail_errno(run, "connect", -error);
            return 0;
        }
        if (!run->request) {
            run_finish(run, PROBE_RESULT_SUCCESS, "");
            return 0;
        }
    }
    http_write(run);
    return 0;
}

/*
 * socket() inside the namespace of netns_fd: the calling thread enters it,
 * creates the socket and comes back to home_fd (its own namespace; -1:
 * opened here). A socket stays in the namespace it was created in,
 * whatever its creator does later.
 */
static int socket_in_netns(int netns_fd, int home_fd, int family)
{
    _cleanup_close_ int opened = -1, fd = -1;
    int self = home_fd, r = 0;

    if (netns_fd < 0) {
        fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        return fd < 0 ? -errno : move_fd(fd);
    }
    if (self < 0) {
        self = opened = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0)
            return -errno;
    }
    if (setns(netns_fd, CLONE_NEWNET) < 0)
        return -errno;
    fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        r = -errno;
    /*
     * Going back to a namespace we are holding an fd of cannot fail for a
     * reason a pod controls. If it did, every later socket of podd (API,
     * netlink, probes) would silently live in a pod's namespace: worse
     * than stopping.
     */
    if (setns(self, CLONE_NEWNET) < 0) {
        (void)fprintf(stderr, "podd: cannot return to its own network namespace: %m\n");
        abort();
    }
    return r < 0 ? r : move_fd(fd);
}

static int run_new(const ProbeTarget *t, ProbeRunHandler cb, void *userdata, ProbeRun **ret,
                   struct sockaddr_storage *ret_sa, socklen_t *ret_len)
{
    const char *host = t->host ? t->host : "127.0.0.1";
    struct sockaddr_in *in4 = (struct sockaddr_in *)ret_sa;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret_sa;
    ProbeRun *run;

    assert(cb);
    memset(ret_sa, 0, sizeof(*ret_sa));
    if (t->port == 0)
        return -EINVAL;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(t->port);
        *ret_len = sizeof(*in4);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(t->port);
        *ret_len = sizeof(*in6);
    } else
        return -EINVAL;

    /* Not calloc(): the answer buffer (10 KiB) is written before it is read, never zeroed. */
    run = malloc(sizeof(*run));
    if (!run)
        return -ENOMEM;
    memset(run, 0, offsetof(ProbeRun, answer));
    run->answer[0] = '\0';
    run->fd = -1;
    run->cb = cb;
    run->userdata = userdata;
    run->timeout_usec = t->timeout_usec;
    (void)snprintf(run->addr, sizeof(run->addr),
                   ret_sa->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, (unsigned)t->port);
    *ret = run;
    return 0;
}

/* A result decided in run_connect(), said from the loop at once. Consumes run on failure. */
static int early_arm(ProbeRun *run_in, ProbeRun **ret)
{
    _cleanup_(probe_cancelp) ProbeRun *run = run_in;
    int r = loop_timer_set(run->timer, 0);

    if (r < 0)
        return r;
    *ret = move_ptr(run);
    return 0;
}

/* Connects run (built by run_new()) and hooks it into the loop. Consumes run on failure. */
static int run_connect(Loop *l, ProbeRun *run_in, const ProbeTarget *t,
                       const struct sockaddr_storage *sa, socklen_t sa_len, ProbeRun **ret)
{
    _cleanup_(probe_cancelp) ProbeRun *run = run_in;
    uint64_t deadline = t->timeout_usec ? loop_now(l) + t->timeout_usec : LOOP_TIME_INFINITY;
    int r;

    r = socket_in_netns(t->netns_fd, t->home_netns_fd, sa->ss_family);
    if (r < 0)
        return r;
    run->fd = r;
    r = loop_add_timer(l, &run->timer, deadline, on_timer, run);
    if (r < 0)
        return r;
    if (connect(run->fd, (const struct sockaddr *)sa, sa_len) < 0 && errno != EINPROGRESS) {
        /* Refused at once (loopback does that): say so from the loop, not from here. */
        run->early = true;
        run->early_result = PROBE_RESULT_FAILURE;
        (void)snprintf(run->excerpt, sizeof(run->excerpt), "connect %s: %m", run->addr);
        return early_arm(move_ptr(run), ret);
    }
    if (run->request) {
        /*
         * A connection to an address of the namespace's own (127.0.0.1, the
         * pod's IP) is established inside connect(), which still says
         * EINPROGRESS: the request goes now, and the loop only waits for the
         * answer. Otherwise (EAGAIN: the handshake goes on) it goes once the
         * socket is writable, as it always did. An error here is the
         * connection's (a send() takes it as on_io()'s SO_ERROR would): said
         * from the loop, in on_io()'s words.
         */
        ssize_t n = send(run->fd, run->request, run->request_len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n > 0)
            run->request_sent = (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            run->early = true;
            run->early_result = PROBE_RESULT_FAILURE;
            (void)snprintf(run->excerpt, sizeof(run->excerpt), "%s %s: %m",
                           errno == EPIPE ? "send to" : "connect", run->addr);
            return early_arm(move_ptr(run), ret);
        }
    }
    r = loop_add_io(l, &run->io, run->fd,
                    run->request && run->request_sent == run->request_len ? EPOLLIN : EPOLLOUT,
                    on_io, run);
    if (r < 0)
        return r;
    *ret = move_ptr(run);
    return 0;
}

int probe_tcp_start(Loop *l, const ProbeTarget *t, ProbeRunHandler cb, void *userdata,
                    ProbeRun **ret)
{
    struct sockaddr_storage sa;
    socklen_t sa_len;
    ProbeRun *run;
    int r;

    r = run_new(t, cb, userdata, &run, &sa, &sa_len);
    if (r < 0)
        return r;
    return run_connect(l, run, t, &sa, sa_len, ret);
}

static bool has_crlf(const char *s)
{
    return s && strpbrk(s, "\r\n");
}

static bool has_header(const ProbeHttpRequest *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return true;
    return false;
}

static int http_request(const ProbeRun *run, const ProbeHttpRequest *req, StrBuf *b)
{
    const char *path = req->path && req->path[0] ? req->path : "/";
    bool ok;

    if (has_crlf(path))
        return -EINVAL;
    for (size_t i = 0; i < req->n_headers; i++)
        if (!req->headers[i].name || !req->headers[i].name[0] || has_crlf(req->headers[i].name) ||
            has_crlf(req->headers[i].value) || strchr(req->headers[i].name, ':'))
            return -EINVAL;

    ok = strbuf_printf(b, "GET %s HTTP/1.1\r\n", path) >= 0;
    if (ok && !has_header(req, "Host"))
        ok = strbuf_printf(b, "Host: %s\r\n", run->addr) >= 0;
    if (ok && !has_header(req, "User-Agent"))
        ok = strbuf_printf(b, "User-Agent: podd-probe\r\n") >= 0;
    if (ok && !has_header(req, "Accept"))
        ok = strbuf_printf(b, "Accept: */*\r\n") >= 0;
    for (size_t i = 0; ok && i < req->n_headers; i++)
        ok = strbuf_printf(b, "%s: %s\r\n", req->headers[i].name,
                           req->headers[i].value ? req->headers[i].value : "") >= 0;
    ok = ok && strbuf_printf(b, "Connection: close\r\n\r\n") >= 0;
    if (!ok)
        return -ENOMEM;
    return b->len > PROBE_HTTP_REQUEST_MAX ? -E2BIG : 0;
}

int probe_http_start(Loop *l, const ProbeTarget *t, const ProbeHttpRequest *req, ProbeRunHandler cb,
                     void *userdata, ProbeRun **ret)
{
    _cleanup_(probe_cancelp) ProbeRun *run = NULL;
    _cleanup_(strbuf_done) StrBuf b = {0};
    struct sockaddr_storage sa;
    socklen_t sa_len;
    int r;

    r = run_new(t, cb, userdata, &run, &sa, &sa_len);
    if (r < 0)
        return r;
    r = http_request(run, req, &b);
    if (r < 0)
        return r;
    run->request_len = b.len;
    run->request = move_ptr(b.data);
    return run_connect(l, move_ptr(run), t, &sa, sa_len, ret);
}
