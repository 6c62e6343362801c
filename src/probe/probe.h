/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * probe: the network halves of a container's probes and hooks, tcpSocket
 * and httpGet, run from podd's loop inside a given network namespace.
 *
 * A run opens a non-blocking socket in the target namespace (setns() to
 * it, socket(), setns() back: a socket keeps the namespace it was created
 * in for its whole life), connects, and for httpGet sends one GET and reads
 * the status line. It never blocks the loop: connect, write and read finish
 * through an io source, the timeout through a timer. What a server sends is
 * read up to PROBE_HTTP_READ_MAX bytes and never more.
 *
 * Pure bookkeeping of what results mean (thresholds, readiness, kills) is
 * in reconcile.h; exec probes go through the runtime. Nothing here logs
 * above debug.
 */

#include "loop/loop.h"
#include "manifest/manifest.h"

/* What one run of a probe says. */
typedef enum ProbeResult {
    PROBE_RESULT_SUCCESS,
    PROBE_RESULT_FAILURE,
    PROBE_RESULT_TIMEOUT,
    _PROBE_RESULT_MAX,
    _PROBE_RESULT_INVALID = -EINVAL,
} ProbeResult;

/* "success", "failure", "timeout"; NULL out of range. */
const char *probe_result_to_string(ProbeResult r);

/* The most an httpGet run reads of an answer, whatever the server sends. */
#define PROBE_HTTP_READ_MAX (10u * 1024u)
/* The longest excerpt (status line or error) a run reports, NUL included. */
#define PROBE_EXCERPT_MAX 128u
/* The longest request an httpGet run sends (path and headers). */
#define PROBE_HTTP_REQUEST_MAX (8u * 1024u)

typedef struct ProbeRun ProbeRun;

/*
 * Called once per run, from the loop (never from inside a *_start() call),
 * unless the run was cancelled first. excerpt (borrowed, valid during the
 * call, never NULL) says why for a failure or a timeout ("connect
 * 127.0.0.1:80: Connection refused", "HTTP/1.1 500 Internal Server Error",
 * "timed out after 1s") and holds the status line of a successful
 * httpGet ("" for tcpSocket). The run is inert afterwards; the callback may
 * probe_cancel() it.
 */
typedef void (*ProbeRunHandler)(ProbeRun *run, ProbeResult result, const char *excerpt,
                                void *userdata);

/* Where and how to connect. Everything is borrowed during the *_start() call only. */
typedef struct ProbeTarget {
    /*
     * The network namespace to connect from (an fd of /proc/PID/ns/net or
     * of a pinned namespace file), or -1 for podd's own (hostNetwork).
     */
    int netns_fd;
    /*
     * With netns_fd >= 0: an fd of the caller's own network namespace, to
     * come back to after the socket is made (opened once by the caller, not
     * per run), or -1 to have /proc/thread-self/ns/net opened for the run.
     * Set it explicitly: 0 is an fd.
     */
    int home_netns_fd;
    const char *host;      /* numeric IPv4 or IPv6 address; NULL: 127.0.0.1 */
    uint16_t port;         /* 1..65535 */
    uint64_t timeout_usec; /* 0: none (a hook, which its caller cuts) */
} ProbeTarget;

/* What an httpGet sends beyond the target. Borrowed during probe_http_start() only. */
typedef struct ProbeHttpRequest {
    const char *path;          /* NULL or "": "/" */
    const HttpHeader *headers; /* sent as given; a Host or User-Agent here replaces podd's */
    size_t n_headers;
} ProbeHttpRequest;

/*
 * Starts a tcpSocket run: success once the connection is established.
 * Returns 0 with *ret set to a run the caller owns (probe_cancel()), or
 * -errno with nothing started: -EINVAL for a host that is no numeric
 * address or port 0; errors of setns(), socket() (-EPERM without
 * CAP_SYS_ADMIN for another namespace), the loop. A refused or unreachable
 * connection is no error here: it is reported through cb as a failure.
 * Does not log.
 */
int probe_tcp_start(Loop *l, const ProbeTarget *t, ProbeRunHandler cb, void *userdata,
                    ProbeRun **ret);

/*
 * Starts an httpGet run (scheme HTTP): connects as probe_tcp_start() does,
 * sends "GET path HTTP/1.1" with Host (host:port unless headers hold one),
 * User-Agent, Accept, "Connection: close" and the headers, and reads the
 * status line: a 2xx or 3xx status succeeds, any other status, a closed
 * connection or no status line within PROBE_HTTP_READ_MAX bytes fails.
 * Redirects are not followed. Returns as probe_tcp_start() does, plus
 * -EINVAL for a CR or LF in the path or a header, -E2BIG for a request
 * over PROBE_HTTP_REQUEST_MAX. Does not log.
 */
int probe_http_start(Loop *l, const ProbeTarget *t, const ProbeHttpRequest *req, ProbeRunHandler cb,
                     void *userdata, ProbeRun **ret);

/*
 * Stops a run (no callback after this) and frees it: closes its socket and
 * its loop sources. Safe at any time, also from inside its own callback.
 * Accepts NULL; returns NULL.
 */
ProbeRun *probe_cancel(ProbeRun *run);
DEFINE_CLEANUP_FUNC(ProbeRun, probe_cancel)
