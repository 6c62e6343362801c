/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe/probe.h"
#include "unit-util.h"

/*
 * tcpSocket and httpGet runs against real servers on loopback, most of
 * them in a network namespace of the test's own (a forked child unshares
 * one, brings lo up and serves there), reached through its namespace fd as
 * podd reaches a pod's.
 */

typedef enum ServeMode {
    SERVE_CLOSE,        /* accept, close */
    SERVE_STATUS,       /* answer with the status line given (NULL: close unanswered) */
    SERVE_HEADERS,      /* 200 when the request is exactly what the header test sends, else 418 */
    SERVE_SILENT,       /* accept, never answer */
    SERVE_FLOOD_STATUS, /* a 200 status line, then bytes for ever */
    SERVE_FLOOD_JUNK,   /* bytes for ever, never a newline */
} ServeMode;

typedef struct Server {
    pid_t pid;
    int netns_fd; /* the server's namespace; -1 for a server in the test's own */
    uint16_t port;
} Server;

static void serve_one(int c, ServeMode mode, const char *status)
{
    char req[4096] = "", junk[65536];
    size_t got = 0;
    ssize_t n;

    switch (mode) {
    case SERVE_CLOSE:
        break;
    case SERVE_SILENT:
        break;
    case SERVE_STATUS:
    case SERVE_HEADERS:
        while (got < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
            n = read(c, req + got, sizeof(req) - 1 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
            req[got] = '\0';
        }
        if (mode == SERVE_HEADERS)
            status = strneq(req, "GET /healthz?x=1 HTTP/1.1\r\n", 27) &&
                             strstr(req, "\r\nHost: probe.example\r\n") &&
                             strstr(req, "\r\nX-Probe-Token: s3cret\r\n") &&
                             strstr(req, "\r\nConnection: close\r\n")
                         ? "HTTP/1.1 200 OK"
                         : "HTTP/1.1 418 I'm a teapot";
        if (status) /* NULL: read the request, close without an answer */
            (void)dprintf(c, "%s\r\nContent-Length: 0\r\n\r\n", status);
        break;
    case SERVE_FLOOD_STATUS:
    case SERVE_FLOOD_JUNK:
        memset(junk, 'x', sizeof(junk));
        if (mode == SERVE_FLOOD_STATUS)
            memcpy(junk, "HTTP/1.1 200 OK\r\n", 17);
        while (send(c, junk, sizeof(junk), MSG_NOSIGNAL) > 0)
            memset(junk, 'x', 17);
        break;
    }
}

/* The server's child: listens on 127.0.0.1 (port 0: any), writes its port to ready_fd, serves. */
static _Noreturn void serve(bool own_netns, ServeMode mode, const char *status, int ready_fd)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int s;

    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (own_netns) {
        struct ifreq ifr = {.ifr_name = "lo"};
        int ctl;

        /* A new network namespace has lo, down. */
        if (unshare(CLONE_NEWNET) < 0 || (ctl = socket(AF_INET, SOCK_DGRAM, 0)) < 0 ||
            ioctl(ctl, SIOCGIFFLAGS, &ifr) < 0)
            _exit(2);
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(ctl, SIOCSIFFLAGS, &ifr) < 0)
            _exit(2);
    }
    s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0 ||
        getsockname(s, (struct sockaddr *)&sa, &len) < 0)
        _exit(3);
    if (write(ready_fd, &sa.sin_port, sizeof(sa.sin_port)) != sizeof(sa.sin_port))
        _exit(4);
    (void)close(ready_fd);
    for (;;) {
        int c = accept(s, NULL, NULL);

        if (c < 0)
            _exit(5);
        /* Silent: the connection stays open, unanswered, until the server dies. */
        if (mode != SERVE_SILENT) {
            serve_one(c, mode, status);
            (void)close(c);
        }
    }
}

static Server server_start(bool own_netns, ServeMode mode, const char *status)
{
    Server srv = {.netns_fd = -1};
    uint16_t port_be;
    int p[2];

    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    srv.pid = fork();
    ck_assert_int_ge(srv.pid, 0);
    if (srv.pid == 0) {
        (void)close(p[0]);
        serve(own_netns, mode, status, p[1]);
    }
    (void)close(p[1]);
    ck_assert_int_eq(read(p[0], &port_be, sizeof(port_be)), (ssize_t)sizeof(port_be));
    (void)close(p[0]);
    srv.port = ntohs(port_be);
    if (own_netns) {
        char path[64];

        (void)snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)srv.pid);
        srv.netns_fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(srv.netns_fd, 0);
    }
    return srv;
}

static void server_stop(Server *srv)
{
    ck_assert_int_eq(kill(srv->pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(srv->pid, NULL, 0), srv->pid);
    if (srv->netns_fd >= 0)
        (void)close(srv->netns_fd);
}

/* ---- running the loop until a run reports --------------------------------------------- */

typedef struct Outcome {
    int calls;
    ProbeResult result;
    char excerpt[PROBE_EXCERPT_MAX];
    uint64_t iteration; /* the loop iteration it came in */
} Outcome;

static void on_result(ProbeRun *run, ProbeResult result, const char *excerpt, void *userdata)
{
    Outcome *o = userdata;

    (void)run;
    o->calls++;
    o->result = result;
    (void)snprintf(o->excerpt, sizeof(o->excerpt), "%s", excerpt);
}

/* Runs l until o has its result; a hang guard of 20 s (no speed is asserted). */
static void wait_outcome(Loop *l, Outcome *o)
{
    uint64_t guard = now_monotonic_usec() + 20 * 1000000u;

    while (o->calls == 0) {
        ck_assert_int_ge(loop_run_once(l, 100000), 0);
        ck_assert_uint_lt(now_monotonic_usec(), guard);
    }
    o->iteration = loop_get_iteration(l);
}

static ProbeTarget target(const Server *srv, int netns_fd, uint16_t port, uint64_t timeout_usec)
{
    (void)srv;
    return (ProbeTarget){
        .netns_fd = netns_fd, .home_netns_fd = -1, .port = port, .timeout_usec = timeout_usec};
}

/* One run to its end; checks it reported once and leaked no fd. */
static Outcome run_probe(const ProbeTarget *t, const ProbeHttpRequest *req)
{
    _cleanup_(loop_unrefp) Loop *l = NULL;
    Outcome o = {0};
    int fds = unit_count_fds();

    ck_assert_int_eq(loop_new(&l), 0);
    {
        _cleanup_(probe_cancelp) ProbeRun *run = NULL;

        if (req)
            ck_assert_int_eq(probe_http_start(l, t, req, on_result, &o, &run), 0);
        else
            ck_assert_int_eq(probe_tcp_start(l, t, on_result, &o, &run), 0);
        ck_assert_int_eq(o.calls, 0); /* never from inside *_start() */
        wait_outcome(l, &o);
        /* Inert after its one report. */
        ck_assert_int_eq(loop_run_once(l, 50000), 0);
        ck_assert_int_eq(o.calls, 1);
    }
    l = loop_unref(l);
    ck_assert_int_eq(unit_count_fds(), fds);
    return o;
}

static const ProbeHttpRequest plain_get = {.path = "/"};

/* ---- tcpSocket ------------------------------------------------------------------------ */

START_TEST(test_tcp)
{
    Server srv = server_start(true, SERVE_CLOSE, NULL);
    ProbeTarget t = target(&srv, srv.netns_fd, srv.port, 2000000);
    Outcome o;

    o = run_probe(&t, NULL);
    ck_assert_int_eq(o.result, PROBE_RESULT_SUCCESS);
    ck_assert_str_eq(o.excerpt, "");

    /* Nothing listens on the next port in that namespace, which holds nothing else. */
    t.port = (uint16_t)(srv.port + 1);
    o = run_probe(&t, NULL);
    ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
    ck_assert_msg(strstr(o.excerpt, "Connection refused") && strstr(o.excerpt, "127.0.0.1:"),
                  "excerpt '%s'", o.excerpt);
    server_stop(&srv);
}
END_TEST

/* The socket lives in the namespace it is asked for, and only there. */
START_TEST(test_netns)
{
    Server in_ns = server_start(true, SERVE_CLOSE, NULL);
    Server on_host = server_start(false, SERVE_CLOSE, NULL);
    ProbeTarget t;
    Outcome o;

    ck_assert_uint_ne(in_ns.port, on_host.port);
    /* The test's own namespace reaches its own listener, the pod's reaches the pod's. */
    t = target(&on_host, -1, on_host.port, 2000000);
    ck_assert_int_eq(run_probe(&t, NULL).result, PROBE_RESULT_SUCCESS);
    t = target(&in_ns, in_ns.netns_fd, in_ns.port, 2000000);
    ck_assert_int_eq(run_probe(&t, NULL).result, PROBE_RESULT_SUCCESS);
    /* Crossed over, neither is reachable. */
    t = target(&on_host, in_ns.netns_fd, on_host.port, 2000000);
    o = run_probe(&t, NULL);
    ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
    ck_assert_msg(strstr(o.excerpt, "Connection refused"), "excerpt '%s'", o.excerpt);
    t = target(&in_ns, -1, in_ns.port, 2000000);
    ck_assert_int_eq(run_probe(&t, NULL).result, PROBE_RESULT_FAILURE);
    /* And podd's own namespace is the one it was in before. */
    t = target(&on_host, -1, on_host.port, 2000000);
    ck_assert_int_eq(run_probe(&t, NULL).result, PROBE_RESULT_SUCCESS);

    /* Coming back through the caller's fd of its namespace: the fd stays the caller's. */
    {
        _cleanup_close_ int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        struct stat before, after;

        ck_assert_int_ge(home, 0);
        ck_assert_int_eq(fstat(home, &before), 0);
        for (int i = 0; i < 2; i++) {
            t = target(&in_ns, in_ns.netns_fd, in_ns.port, 2000000);
            t.home_netns_fd = home;
            ck_assert_int_eq(run_probe(&t, NULL).result, PROBE_RESULT_SUCCESS);
            ck_assert_int_eq(stat("/proc/thread-self/ns/net", &after), 0);
            ck_assert_uint_eq(after.st_ino, before.st_ino);
            ck_assert_int_ge(fcntl(home, F_GETFD), 0);
        }
        t = target(&on_host, -1, on_host.port, 2000000);
        ck_assert_int_eq(run_probe(&t, NULL).result, PROBE_RESULT_SUCCESS);
    }
    server_stop(&in_ns);
    server_stop(&on_host);
}
END_TEST

/* ---- httpGet -------------------------------------------------------------------------- */

typedef struct StatusCase {
    const char *status;
    ProbeResult result;
} StatusCase;

static const StatusCase status_cases[] = {
    {"HTTP/1.1 200 OK", PROBE_RESULT_SUCCESS},
    {"HTTP/1.0 204 No Content", PROBE_RESULT_SUCCESS},
    {"HTTP/1.1 302 Found", PROBE_RESULT_SUCCESS},
    {"HTTP/1.1 399 Whatever", PROBE_RESULT_SUCCESS},
    {"HTTP/1.1 400 Bad Request", PROBE_RESULT_FAILURE},
    {"HTTP/1.1 404 Not Found", PROBE_RESULT_FAILURE},
    {"HTTP/1.1 500 Internal Server Error", PROBE_RESULT_FAILURE},
    {"HTTP/1.1 199 Early", PROBE_RESULT_FAILURE},
    {"HTTP/1.1 2000 OK", PROBE_RESULT_FAILURE},
    {"SSH-2.0-OpenSSH_9.2", PROBE_RESULT_FAILURE},
};

START_TEST(test_http_status)
{
    const StatusCase *c = &status_cases[_i];
    Server srv = server_start(true, SERVE_STATUS, c->status);
    ProbeTarget t = target(&srv, srv.netns_fd, srv.port, 2000000);
    Outcome o = run_probe(&t, &plain_get);

    ck_assert_msg(o.result == c->result, "%s: %s", c->status, probe_result_to_string(o.result));
    if (strneq(c->status, "HTTP/1.1 2000", 13) || !strneq(c->status, "HTTP/", 5))
        ck_assert_msg(strneq(o.excerpt, "no HTTP status line: '", 22), "%s", o.excerpt);
    else
        ck_assert_str_eq(o.excerpt, c->status);
    server_stop(&srv);
}
END_TEST

START_TEST(test_http_not_http)
{
    Server srv = server_start(true, SERVE_STATUS, NULL);
    ProbeTarget t = target(&srv, srv.netns_fd, srv.port, 2000000);
    Outcome o = run_probe(&t, &plain_get);

    ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
    ck_assert_str_eq(o.excerpt, "connection closed without an HTTP answer");
    server_stop(&srv);
}
END_TEST

START_TEST(test_http_headers)
{
    const HttpHeader headers[] = {{"Host", "probe.example"}, {"X-Probe-Token", "s3cret"}};
    const HttpHeader wrong[] = {{"Host", "probe.example"}, {"X-Probe-Token", "guess"}};
    ProbeHttpRequest req = {.path = "/healthz?x=1", .headers = headers, .n_headers = 2};
    Server srv = server_start(true, SERVE_HEADERS, NULL);
    ProbeTarget t = target(&srv, srv.netns_fd, srv.port, 2000000);
    _cleanup_(loop_unrefp) Loop *l = NULL;
    ProbeRun *run = NULL;
    Outcome o;

    o = run_probe(&t, &req);
    ck_assert_int_eq(o.result, PROBE_RESULT_SUCCESS);
    ck_assert_str_eq(o.excerpt, "HTTP/1.1 200 OK");
    req.headers = wrong;
    o = run_probe(&t, &req);
    ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
    ck_assert_str_eq(o.excerpt, "HTTP/1.1 418 I'm a teapot");

    /* What would smuggle a second header or request is refused before anything is sent. */
    ck_assert_int_eq(loop_new(&l), 0);
    req = (ProbeHttpRequest){.path = "/ HTTP/1.1\r\nX: y"};
    ck_assert_int_eq(probe_http_start(l, &t, &req, on_result, &o, &run), -EINVAL);
    req = (ProbeHttpRequest){.path = "/", .headers = &(HttpHeader){"X", "a\nb"}, .n_headers = 1};
    ck_assert_int_eq(probe_http_start(l, &t, &req, on_result, &o, &run), -EINVAL);
    t.host = "localhost"; /* names would need a resolver that blocks */
    ck_assert_int_eq(probe_http_start(l, &t, &plain_get, on_result, &o, &run), -EINVAL);
    ck_assert_ptr_null(run);
    server_stop(&srv);
}
END_TEST

/* A server that never answers: a timeout at timeoutSeconds, and the loop runs on meanwhile. */
static int on_other_timer(LoopSource *s, uint64_t deadline, void *userdata)
{
    uint64_t *fired = userdata;

    (void)deadline;
    *fired = loop_get_iteration(loop_source_get_loop(s));
    return 0;
}

START_TEST(test_http_timeout)
{
    Server srv = server_start(true, SERVE_SILENT, NULL);
    ProbeTarget t = target(&srv, srv.netns_fd, srv.port, 300000);
    _cleanup_(loop_unrefp) Loop *l = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *other = NULL;
    _cleanup_(probe_cancelp) ProbeRun *run = NULL;
    uint64_t start, fired = 0;
    Outcome o = {0};

    ck_assert_int_eq(loop_new(&l), 0);
    start = loop_now(l);
    ck_assert_int_eq(probe_http_start(l, &t, &plain_get, on_result, &o, &run), 0);
    ck_assert_int_eq(loop_add_timer(l, &other, start + 50000, on_other_timer, &fired), 0);
    wait_outcome(l, &o);
    ck_assert_int_eq(o.result, PROBE_RESULT_TIMEOUT);
    ck_assert_str_eq(o.excerpt, "timed out after 300ms");
    ck_assert_uint_ge(now_monotonic_usec(), start + 300000);
    ck_assert_uint_gt(fired, 0);
    ck_assert_uint_lt(fired, o.iteration);
    server_stop(&srv);
}
END_TEST

/* A server that floods: the run stops reading at its cap, long before its timeout. */
START_TEST(test_http_flood)
{
    Server srv = server_start(true, SERVE_FLOOD_STATUS, NULL);
    Server junk = server_start(true, SERVE_FLOOD_JUNK, NULL);
    ProbeTarget t = target(&srv, srv.netns_fd, srv.port, 15000000);
    Outcome o;

    o = run_probe(&t, &plain_get);
    ck_assert_int_eq(o.result, PROBE_RESULT_SUCCESS);
    ck_assert_str_eq(o.excerpt, "HTTP/1.1 200 OK");
    t = target(&junk, junk.netns_fd, junk.port, 15000000);
    o = run_probe(&t, &plain_get);
    ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
    ck_assert_str_eq(o.excerpt, "no HTTP status line in the first 10240 bytes");
    server_stop(&srv);
    server_stop(&junk);
}
END_TEST

/* Cancelled before it reports: never reports, and leaves no fd behind. */
START_TEST(test_cancel)
{
    Server srv = server_start(true, SERVE_SILENT, NULL);
    ProbeTarget t = target(&srv, srv.netns_fd, srv.port, 100000);
    _cleanup_(loop_unrefp) Loop *l = NULL;
    ProbeRun *run = NULL;
    Outcome o = {0};
    int fds;

    ck_assert_int_eq(loop_new(&l), 0);
    fds = unit_count_fds();
    ck_assert_int_eq(probe_http_start(l, &t, &plain_get, on_result, &o, &run), 0);
    ck_assert_int_ge(loop_run_once(l, 20000), 0);
    run = probe_cancel(run);
    ck_assert_int_eq(unit_count_fds(), fds);
    for (int i = 0; i < 4; i++)
        ck_assert_int_ge(loop_run_once(l, 50000), 0);
    ck_assert_int_eq(o.calls, 0);
    server_stop(&srv);
}
END_TEST

/* Why the namespace cases cannot run here, or NULL when they can. */
static const char *netns_unavailable(void)
{
    int status;
    pid_t pid;

    if (geteuid() != 0)
        return "needs root (setns into a network namespace)";
    pid = fork();
    if (pid < 0)
        return "fork failed";
    if (pid == 0)
        _exit(unshare(CLONE_NEWNET) < 0 ? 1 : 0);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return "cannot create a network namespace here";
    return NULL;
}

static Suite *probe_net_suite(void)
{
    const char *why_not = netns_unavailable();
    Suite *s = suite_create("probe-net");
    TCase *tc = tcase_create("net");

    unit_add_test_unless(tc, test_tcp, why_not);
    unit_add_test_unless(tc, test_netns, why_not);
    if (why_not)
        unit_add_test_unless(tc, test_http_status, why_not);
    else
        tcase_add_loop_test(tc, test_http_status, 0, (int)ELEMENTSOF(status_cases));
    unit_add_test_unless(tc, test_http_not_http, why_not);
    unit_add_test_unless(tc, test_http_headers, why_not);
    unit_add_test_unless(tc, test_http_timeout, why_not);
    unit_add_test_unless(tc, test_http_flood, why_not);
    unit_add_test_unless(tc, test_cancel, why_not);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(probe_net_suite());
    int r;

    r = unit_run(sr, CK_ENV);
    srunner_free(sr);
    return r;
}
