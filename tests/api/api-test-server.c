/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A stand-in for podd's API side: serves two canned pods through the real
 * ApiServer, so that the protocol, its limits and podctl's read commands
 * can be tested without containers.
 *
 *   api-test-server SOCKET [--group GID] [--timeout-ms N]
 *
 * Prints "ready" on stdout once the socket listens; exits on SIGTERM/SIGINT.
 *   web:    Running, 2/2 ready, an init container completed, app restarted twice
 *   worker: CrashLoopBackOff, 0/1 ready, 5 restarts, and a manifest error
 */
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "api/api.h"

/*
 * Times are counted back from the server's start, not from each request:
 * two requests that straddle a second boundary (get -o json, then -o yaml)
 * must render the same pod.
 */
static char *rfc3339_ago(long seconds)
{
    static time_t start;
    char buf[64];
    time_t t;
    struct tm tm;

    if (!start)
        start = time(NULL);
    t = start - seconds;

    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return strdup(buf);
}

#define AGO(var, s) _cleanup_free_ char *var = rfc3339_ago(s)

static json_t *load(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);

    if (!j)
        fprintf(stderr, "api-test-server: canned JSON: %s at line %d\n", err.text, err.line);
    return j;
}

static json_t *pod_web(void)
{
    AGO(created, 3723);
    AGO(init_started, 3720);
    AGO(init_finished, 3719);
    AGO(app_started, 300);
    AGO(app_last_started, 600);
    AGO(app_last_finished, 301);
    AGO(proxy_started, 3718);
    _cleanup_free_ char *text = strdup_printf(
        "{\"apiVersion\": \"v1\", \"kind\": \"Pod\",\n"
        " \"metadata\": {\"name\": \"web\", \"namespace\": \"default\",\n"
        "   \"uid\": \"0d3c4f1e-6d1c-4b8e-9c51-1f7a2b9e8a01\", \"creationTimestamp\": \"%s\",\n"
        "   \"labels\": {\"app\": \"web\", \"tier\": \"front: end\"},\n"
        "   \"annotations\": {\"podd.io/runtime\": \"native\",\n"
        "                     \"podd.io/source\": \"/etc/podd/manifests/web.yaml\"}},\n"
        " \"spec\": {\"restartPolicy\": \"Always\",\n"
        "   \"initContainers\": [{\"name\": \"setup\", \"image\": \"busybox:latest\",\n"
        "      \"command\": [\"sh\", \"-c\", \"echo 'ready: yes' > /work/state\"]}],\n"
        "   \"containers\": [\n"
        "     {\"name\": \"app\", \"image\": \"busybox:latest\", \"args\": [\"--port\", \"8080\", "
        "\"\", "
        "\"yes\", \"multi\\nline\"],\n"
        "      \"ports\": [{\"containerPort\": 8080, \"protocol\": \"TCP\"}]},\n"
        "     {\"name\": \"proxy\", \"image\": \"busybox:latest\"}]},\n"
        " \"status\": {\"phase\": \"Running\", \"startTime\": \"%s\",\n"
        "   \"conditions\": [{\"type\": \"Initialized\", \"status\": \"True\"},\n"
        "     {\"type\": \"Ready\", \"status\": \"True\"},\n"
        "     {\"type\": \"ContainersReady\", \"status\": \"True\"},\n"
        "     {\"type\": \"PodScheduled\", \"status\": \"True\"}],\n"
        "   \"initContainerStatuses\": [{\"name\": \"setup\",\n"
        "     \"state\": {\"terminated\": {\"exitCode\": 0, \"reason\": \"Completed\",\n"
        "                 \"startedAt\": \"%s\", \"finishedAt\": \"%s\"}},\n"
        "     \"lastState\": {}, \"ready\": true, \"restartCount\": 0, \"image\": "
        "\"busybox:latest\",\n"
        "     \"imageID\": \"\", \"containerID\": \"podd://web-setup\", \"started\": false}],\n"
        "   \"containerStatuses\": [\n"
        "     {\"name\": \"app\", \"state\": {\"running\": {\"startedAt\": \"%s\"}},\n"
        "      \"lastState\": {\"terminated\": {\"exitCode\": 137, \"reason\": \"Error\", "
        "\"signal\": 9,\n"
        "                      \"startedAt\": \"%s\", \"finishedAt\": \"%s\"}},\n"
        "      \"ready\": true, \"restartCount\": 2, \"image\": \"busybox:latest\", \"imageID\": "
        "\"\",\n"
        "      \"containerID\": \"podd://web-app\", \"started\": true},\n"
        "     {\"name\": \"proxy\", \"state\": {\"running\": {\"startedAt\": \"%s\"}},\n"
        "      \"lastState\": {}, \"ready\": true, \"restartCount\": 0, \"image\": "
        "\"busybox:latest\",\n"
        "      \"imageID\": \"\", \"containerID\": \"podd://web-proxy\", \"started\": true}]}}\n",
        created, created, init_started, init_finished, app_started, app_last_started,
        app_last_finished, proxy_started);

    return text ? load(text) : NULL;
}

static json_t *pod_worker(void)
{
    AGO(created, 200000);
    AGO(last_started, 75);
    AGO(last_finished, 70);
    _cleanup_free_ char *text = strdup_printf(
        "{\"apiVersion\": \"v1\", \"kind\": \"Pod\",\n"
        " \"metadata\": {\"name\": \"worker\", \"namespace\": \"default\",\n"
        "   \"creationTimestamp\": \"%s\",\n"
        "   \"annotations\": {\"podd.io/source\": \"/etc/podd/manifests/worker.yaml\"}},\n"
        " \"spec\": {\"restartPolicy\": \"Always\",\n"
        "   \"containers\": [{\"name\": \"job\", \"image\": \"busybox:latest\",\n"
        "                   \"command\": [\"sh\", \"-c\", \"exit 1\"]}]},\n"
        " \"status\": {\"phase\": \"Running\", \"startTime\": \"%s\",\n"
        "   \"conditions\": [{\"type\": \"Initialized\", \"status\": \"True\"},\n"
        "     {\"type\": \"Ready\", \"status\": \"False\", \"reason\": \"ContainersNotReady\"}],\n"
        "   \"containerStatuses\": [{\"name\": \"job\",\n"
        "     \"state\": {\"waiting\": {\"reason\": \"CrashLoopBackOff\",\n"
        "       \"message\": \"back-off 40s restarting failed container=job pod=worker\"}},\n"
        "     \"lastState\": {\"terminated\": {\"exitCode\": 1, \"reason\": \"Error\",\n"
        "                     \"startedAt\": \"%s\", \"finishedAt\": \"%s\"}},\n"
        "     \"ready\": false, \"restartCount\": 5, \"image\": \"busybox:latest\",\n"
        "     \"containerID\": \"podd://worker-job\", \"started\": false}]}}\n",
        created, created, last_started, last_finished);

    return text ? load(text) : NULL;
}

static json_t *find_pod(const char *name)
{
    if (streq(name, "web"))
        return pod_web();
    if (streq(name, "worker"))
        return pod_worker();
    return NULL;
}

static json_t *events_of(const char *name)
{
    AGO(t1, 3723);
    AGO(t2, 300);
    AGO(t3, 75);
    AGO(t4, 70);
    json_t *all = json_pack(
        "[{s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s},{s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s},"
        "{s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s},{s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s}]",
        "type", "Normal", "reason", "Started", "message", "Started container app", "pod", "web",
        "container", "app", "count", 3, "firstTimestamp", t1, "lastTimestamp", t2, "type", "Normal",
        "reason", "Started", "message", "Started container job", "pod", "worker", "container",
        "job", "count", 6, "firstTimestamp", t1, "lastTimestamp", t3, "type", "Warning", "reason",
        "BackOff", "message", "Back-off restarting failed container job", "pod", "worker",
        "container", "job", "count", 5, "firstTimestamp", t1, "lastTimestamp", t4, "type",
        "Warning", "reason", "Failed", "message", "Exited with code 1", "pod", "worker",
        "container", "job", "count", 5, "firstTimestamp", t1, "lastTimestamp", t4);
    json_t *out;
    size_t i;
    json_t *e;

    if (!all || !name)
        return all;
    out = json_array();
    for (i = 0; i < json_array_size(all) && (e = json_array_get(all, i)); i++)
        if (streq(json_string_value(json_object_get(e, "pod")) ?: "", name))
            (void)json_array_append(out, e);
    json_decref(all);
    return out;
}

static int get_pods(void *userdata _unused_, StrBuf *out, ApiError *ret_err)
{
    _cleanup_json_ json_t *pods = json_pack("[o,o]", pod_web(), pod_worker());
    _cleanup_free_ char *text = pods ? json_dumps(pods, JSON_COMPACT) : NULL;

    if (!text || strbuf_append(out, text, strlen(text)) < 0) {
        api_error_set(ret_err, API_REASON_INTERNAL, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

static json_t *get_pod(void *userdata _unused_, const char *name, ApiError *ret_err)
{
    json_t *p = find_pod(name);

    if (!p)
        api_error_set(ret_err, API_REASON_NOT_FOUND, "pod '%s' not found", name);
    return p;
}

static json_t *describe_pod(void *userdata _unused_, const char *name, ApiError *ret_err)
{
    json_t *p = find_pod(name), *errors;

    if (!p) {
        api_error_set(ret_err, API_REASON_NOT_FOUND, "pod '%s' not found", name);
        return NULL;
    }
    if (streq(name, "worker"))
        errors = json_pack("[{s:s,s:i,s:i,s:s}]", "file", "/etc/podd/manifests/worker.yaml", "line",
                           9, "column", 7, "message",
                           "spec.containers[0].imagee: unknown field; did you mean "
                           "'image'? (the running version is kept)");
    else
        errors = json_array();
    return json_pack("{s:o,s:o,s:o}", "pod", p, "events", events_of(name), "errors", errors);
}

static json_t *events(void *userdata _unused_, const ApiRequest *req, ApiError *ret_err _unused_)
{
    return events_of(req->name);
}

static const ApiProvider provider = {
    .get_pods = get_pods,
    .get_pod = get_pod,
    .describe_pod = describe_pod,
    .events = events,
};

static int on_signal(LoopSource *s, const struct signalfd_siginfo *si _unused_,
                     void *userdata _unused_)
{
    loop_exit(loop_source_get_loop(s), 0);
    return 0;
}

int main(int argc, char *argv[])
{
    _cleanup_(loop_unrefp) Loop *loop = NULL;
    _cleanup_(api_server_freep) ApiServer *server = NULL;
    _cleanup_(loop_source_unrefp) LoopSource *sig = NULL;
    gid_t group = (gid_t)-1;
    long timeout_ms = -1;
    PdError e = {0};
    sigset_t mask;

    if (argc < 2) {
        fprintf(stderr, "usage: %s SOCKET [--group GID] [--timeout-ms N]\n", argv[0]);
        return 2;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        if (streq(argv[i], "--group"))
            group = (gid_t)strtoul(argv[i + 1], NULL, 10);
        else if (streq(argv[i], "--timeout-ms"))
            timeout_ms = strtol(argv[i + 1], NULL, 10);
    }
    log_set_max_level(getenv("API_TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING);
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    if (loop_new(&loop) < 0 || loop_add_signal(loop, &sig, &mask, on_signal, NULL) < 0) {
        fprintf(stderr, "cannot set up the loop\n");
        return 1;
    }
    server = api_server_new(loop, argv[1], group, &provider, NULL, &e);
    if (!server) {
        fprintf(stderr, "api-test-server: %s\n", e.message);
        return 1;
    }
    if (timeout_ms >= 0)
        api_server_set_request_timeout(server, (uint64_t)timeout_ms * 1000);
    printf("ready\n");
    fflush(stdout);
    return loop_run(loop) < 0 ? 1 : 0;
}
