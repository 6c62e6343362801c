/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API client: one connection, blocking calls bounded by a deadline
 * (poll() on a non-blocking socket), for podctl and the tests.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "api.h"

struct ApiClient {
    int fd;
    uint64_t timeout_usec;
    char *buf;
    size_t len, cap;
};

ApiClient *api_client_free(ApiClient *c)
{
    if (!c)
        return NULL;
    if (c->fd >= 0)
        (void)close(c->fd);
    free(c->buf);
    free(c);
    return NULL;
}

void api_client_set_timeout(ApiClient *c, uint64_t usec)
{
    c->timeout_usec = usec;
}

static const char *connect_hint(int code)
{
    switch (code) {
    case -ENOENT:
        return "no such file (is podd running?)";
    case -ECONNREFUSED:
        return "connection refused (is podd running?)";
    case -EACCES:
    case -EPERM:
        return "permission denied (podctl needs root, or membership in the group that owns "
               "the socket)";
    case -ENOTDIR:
        return "a parent of the path is not a directory";
    case -EAGAIN:
        return "podd is too busy to accept connections (try again)";
    default:
        return NULL;
    }
}

int api_client_connect(const char *path, ApiClient **ret, PdError *reterr)
{
    _cleanup_(api_client_freep) ApiClient *c = NULL;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = path ? strlen(path) : 0;
    const char *hint;
    int r, flags;

    if (n == 0 || n >= sizeof(sa.sun_path))
        return pd_error_set(reterr, -ENAMETOOLONG,
                            "cannot reach podd at %s: the socket path is empty or longer than %zu "
                            "bytes",
                            path ? path : "", sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, path, n);
    c = calloc(1, sizeof(*c));
    if (!c)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    c->timeout_usec = API_CLIENT_TIMEOUT_USEC;
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return pd_error_set(reterr, -errno, "cannot create a socket: %s", strerror(errno));
    if (connect(c->fd, (struct sockaddr *)&sa,
                (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1)) < 0) {
        r = -errno;
        hint = connect_hint(r);
        if (hint)
            return pd_error_set(reterr, r, "cannot reach podd at %s: %s", path, hint);
        return pd_error_set(reterr, r, "cannot reach podd at %s: %s", path, strerror(-r));
    }
    flags = fcntl(c->fd, F_GETFL);
    if (flags < 0 || fcntl(c->fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return pd_error_set(reterr, -errno, "fcntl: %s", strerror(errno));
    *ret = move_ptr(c);
    return 0;
}

/* Waits for events on the socket until deadline (CLOCK_MONOTONIC usec). */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        uint64_t now = now_monotonic_usec();
        int k;

        if (now >= deadline)
            return -ETIMEDOUT;
        k = poll(&p, 1, (int)((deadline - now + 999) / 1000));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k > 0)
            return 0;
    }
}

static int send_all(ApiClient *c, const char *data, size_t len, uint64_t deadline)
{
    size_t off = 0;

    while (off < len) {
        ssize_t k = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
        int r;

        if (k >= 0) {
            off += (size_t)k;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        r = wait_fd(c->fd, POLLOUT, deadline);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Reads until a complete line is buffered; returns its length (without '\n'). */
static int read_line(ApiClient *c, uint64_t deadline, size_t *ret_len)
{
    size_t scanned = 0;

    for (;;) {
        char *nl = c->len > scanned ? memchr(c->buf + scanned, '\n', c->len - scanned) : NULL;
        ssize_t k;
        int r;

        if (nl) {
            *ret_len = (size_t)(nl - c->buf);
            return 0;
        }
        scanned = c->len;
        if (c->len >= API_RESPONSE_MAX_BYTES)
            return -EFBIG;
        if (c->cap - c->len < 64 * 1024) {
            size_t cap = c->cap ? c->cap * 2 : 128 * 1024;
            char *n;

            if (cap > API_RESPONSE_MAX_BYTES + 1)
                cap = API_RESPONSE_MAX_BYTES + 1;
            n = realloc(c->buf, cap);
            if (!n)
                return -ENOMEM;
            c->buf = n;
            c->cap = cap;
        }
        k = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (k > 0) {
            c->len += (size_t)k;
            continue;
        }
        if (k == 0)
            return -ECONNRESET;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        r = wait_fd(c->fd, POLLIN, deadline);
        if (r < 0)
            return r;
    }
}

int api_client_call(ApiClient *c, json_t *request, json_t **ret_result, PdError *reterr)
{
    _cleanup_free_ char *line = NULL;
    uint64_t deadline = now_monotonic_usec() + c->timeout_usec;
    size_t n = 0;
    int r, rs;

    line = json_dumps(request, JSON_COMPACT);
    if (!line)
        return pd_error_set(reterr, -ENOMEM, "cannot encode the request");
    n = strlen(line);
    line[n] = '\n'; /* json_dumps() leaves room: overwrite the NUL, length is tracked */
    rs = send_all(c, line, n + 1, deadline);
    /* Even when sending failed, podd may have said why before hanging up (too many clients). */
    r = read_line(c, rs < 0 ? now_monotonic_usec() + 100 * 1000 : deadline, &n);
    if (r < 0) {
        if (rs < 0)
            r = rs;
        if (r == -ETIMEDOUT)
            return pd_error_set(reterr, r, "podd did not answer within %llu s",
                                (unsigned long long)(c->timeout_usec / 1000000));
        if (r == -ECONNRESET || r == -EPIPE)
            return pd_error_set(reterr, -ECONNRESET, "podd closed the connection");
        if (r == -EFBIG)
            return pd_error_set(reterr, r, "podd's answer is larger than %u bytes",
                                API_RESPONSE_MAX_BYTES);
        return pd_error_set(reterr, r, "cannot talk to podd: %s", strerror(-r));
    }
    r = api_response_parse(c->buf, n, ret_result, reterr);
    memmove(c->buf, c->buf + n + 1, c->len - n - 1);
    c->len -= n + 1;
    return r;
}
