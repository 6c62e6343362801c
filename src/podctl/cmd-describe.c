/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdio.h>

#include "podctl.h"

static bool arg_color;

static void describe_usage(FILE *f)
{
    fputs("Usage: podctl describe pod NAME\n"
          "\n"
          "Shows a pod as kubectl describe does: its containers with their state, last\n"
          "state, readiness and restarts, its conditions, recent events, and the errors of\n"
          "its manifest when the running version is kept because a newer one is invalid.\n"
          "\n"
          "Options:\n"
          "  -h, --help   show this help\n"
          "\n"
          "Exit status: 0 on success, 1 when podd cannot be reached or the pod does not exist,\n"
          "2 on usage errors.\n",
          f);
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* "key:" padded to width, at indent, then the value. */
static void kv(int indent, int width, const char *key, const char *value)
{
    char k[128];

    (void)snprintf(k, sizeof(k), "%s:", key);
    printf("%*s%-*s%s\n", indent, "", width, k, value && *value ? value : "<none>");
}

/* RFC 1123 with numeric zone, in local time, as kubectl describe prints times. */
static void format_time(const char *ts, char *buf, size_t size)
{
    struct tm tm;
    time_t t;

    if (!ts || podctl_parse_time(ts, &t) < 0 || !localtime_r(&t, &tm) ||
        strftime(buf, size, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
        (void)snprintf(buf, size, "%s", ts ? ts : "<unknown>");
}

static void kv_time(int indent, int width, const char *key, const char *ts)
{
    char buf[64];

    format_time(ts, buf, sizeof(buf));
    kv(indent, width, key, buf);
}

static void print_map(int width, const char *key, const json_t *map, const char *sep)
{
    const char *k;
    const json_t *v;
    bool first = true;

    if (json_object_size(map) == 0) {
        kv(0, width, key, NULL);
        return;
    }
    for (void *it = json_object_iter((json_t *)map);
         it && (k = json_object_iter_key(it)) && (v = json_object_iter_value(it));
         it = json_object_iter_next((json_t *)map, it)) {
        char line[1024];

        (void)snprintf(line, sizeof(line), "%s%s%s", k, sep, json_string_value(v) ?: "");
        if (first)
            kv(0, width, key, line);
        else
            printf("%*s%s\n", width, "", line);
        first = false;
    }
}

static void describe_state(const char *label, const json_t *state)
{
    const json_t *running = json_object_get(state, "running");
    const json_t *waiting = json_object_get(state, "waiting");
    const json_t *term = json_object_get(state, "terminated");
    char num[32];

    if (running) {
        kv(4, 16, label, "Running");
        kv_time(6, 14, "Started", str(running, "startedAt"));
    } else if (waiting) {
        kv(4, 16, label, "Waiting");
        if (str(waiting, "reason"))
            kv(6, 14, "Reason", str(waiting, "reason"));
        if (str(waiting, "message"))
            kv(6, 14, "Message", str(waiting, "message"));
    } else if (term) {
        kv(4, 16, label, "Terminated");
        if (str(term, "reason"))
            kv(6, 14, "Reason", str(term, "reason"));
        if (str(term, "message"))
            kv(6, 14, "Message", str(term, "message"));
        (void)snprintf(num, sizeof(num), "%lld",
                       (long long)json_integer_value(json_object_get(term, "exitCode")));
        kv(6, 14, "Exit Code", num);
        if (json_integer_value(json_object_get(term, "signal")) != 0) {
            (void)snprintf(num, sizeof(num), "%lld",
                           (long long)json_integer_value(json_object_get(term, "signal")));
            kv(6, 14, "Signal", num);
        }
        kv_time(6, 14, "Started", str(term, "startedAt"));
        kv_time(6, 14, "Finished", str(term, "finishedAt"));
    } else
        kv(4, 16, label, "Waiting");
}

static const json_t *find_status(const json_t *statuses, const char *name)
{
    const json_t *cs;
    size_t i;

    for (i = 0; i < json_array_size(statuses) && (cs = json_array_get(statuses, i)); i++)
        if (name && streq(str(cs, "name") ?: "", name))
            return cs;
    return NULL;
}

static void describe_probes(const json_t *probes);

static void describe_container(const json_t *spec, const json_t *cs)
{
    const char *name = str(spec, "name") ?: str(cs, "name") ?: "?";
    const json_t *cmd = json_object_get(spec, "command"), *args = json_object_get(spec, "args");
    const json_t *ports = json_object_get(spec, "ports"), *v;
    char num[32];
    size_t i;

    printf("  %s:\n", name);
    kv(4, 16, "Container ID", str(cs, "containerID"));
    kv(4, 16, "Image", str(spec, "image") ?: str(cs, "image"));
    if (str(spec, "restartPolicy"))
        kv(4, 16, "Restart Policy", str(spec, "restartPolicy"));
    for (i = 0; i < json_array_size(ports) && (v = json_array_get(ports, i)); i++) {
        char p[64];

        (void)snprintf(p, sizeof(p), "%lld/%s",
                       (long long)json_integer_value(json_object_get(v, "containerPort")),
                       str(v, "protocol") ?: "TCP");
        kv(4, 16, i == 0 ? "Port" : "", p);
    }
    for (int pass = 0; pass < 2; pass++) {
        const json_t *list = pass ? args : cmd;

        if (json_array_size(list) == 0)
            continue;
        printf("    %s:\n", pass ? "Args" : "Command");
        for (i = 0; i < json_array_size(list); i++)
            printf("      %s\n", json_string_value(json_array_get(list, i)) ?: "");
    }
    if (!cs) {
        kv(4, 16, "State", "Waiting");
        return;
    }
    describe_state("State", json_object_get(cs, "state"));
    if (json_object_size(json_object_get(cs, "lastState")) > 0)
        describe_state("Last State", json_object_get(cs, "lastState"));
    /* podd's own: a new version of it waits for its images while this one runs on. */
    if (json_object_get(cs, "pendingUpdate"))
        kv(4, 16, "Update",
           str(json_object_get(cs, "pendingUpdate"), "message") ?: "waits for its images");
    kv(4, 16, "Ready", json_is_true(json_object_get(cs, "ready")) ? "True" : "False");
    (void)snprintf(num, sizeof(num), "%lld",
                   (long long)json_integer_value(json_object_get(cs, "restartCount")));
    kv(4, 16, "Restart Count", num);
    describe_probes(json_object_get(cs, "probes"));
}

/*
 * Each probe as kubectl describe writes it ("exec [cat /tmp/ok] delay=0s
 * timeout=1s period=10s #success=1 #failure=3"), then its last result and
 * the counts in a row (podd's own line).
 */
static void describe_probes(const json_t *probes)
{
    static const char *const kinds[][2] = {
        {"liveness", "Liveness"}, {"readiness", "Readiness"}, {"startup", "Startup"}};

    for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
        const json_t *p = json_object_get(probes, kinds[i][0]);
        const char *action = str(p, "action");
        char line[1024], key[32];
        size_t n = 0;

        if (!p || !action)
            continue;
        if (streq(action, "exec")) {
            const json_t *cmd = json_object_get(p, "command");

            n += (size_t)snprintf(line, sizeof(line), "exec [");
            for (size_t k = 0; k < json_array_size(cmd) && n < sizeof(line); k++)
                n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s", k ? " " : "",
                                      json_string_value(json_array_get(cmd, k)) ?: "");
            if (n < sizeof(line))
                n += (size_t)snprintf(line + n, sizeof(line) - n, "]");
        } else if (streq(action, "httpGet"))
            n = (size_t)snprintf(
                line, sizeof(line), "http-get http://%s:%lld%s", str(p, "host") ?: "",
                json_integer_value(json_object_get(p, "port")), str(p, "path") ?: "/");
        else
            n = (size_t)snprintf(line, sizeof(line), "tcp-socket %s:%lld", str(p, "host") ?: "",
                                 json_integer_value(json_object_get(p, "port")));
        if (n < sizeof(line))
            (void)snprintf(line + n, sizeof(line) - n,
                           " delay=%llds timeout=%llds period=%llds #success=%lld #failure=%lld",
                           json_integer_value(json_object_get(p, "initialDelaySeconds")),
                           json_integer_value(json_object_get(p, "timeoutSeconds")),
                           json_integer_value(json_object_get(p, "periodSeconds")),
                           json_integer_value(json_object_get(p, "successThreshold")),
                           json_integer_value(json_object_get(p, "failureThreshold")));
        kv(4, 16, kinds[i][1], line);
        if (!str(p, "lastResult"))
            continue;
        (void)snprintf(key, sizeof(key), "%s Last", kinds[i][1]);
        (void)snprintf(line, sizeof(line), "%s (%lld successes, %lld failures in a row)%s%s",
                       str(p, "lastResult"), json_integer_value(json_object_get(p, "successes")),
                       json_integer_value(json_object_get(p, "failures")),
                       str(p, "lastMessage") && *str(p, "lastMessage") ? ": " : "",
                       str(p, "lastMessage") ?: "");
        kv(4, 16, key, line);
    }
}

static void describe_containers(const char *title, const json_t *specs, const json_t *statuses)
{
    const json_t *v;
    size_t i;

    if (json_array_size(specs) == 0 && json_array_size(statuses) == 0)
        return;
    printf("%s:\n", title);
    for (i = 0; i < json_array_size(specs) && (v = json_array_get(specs, i)); i++)
        describe_container(v, find_status(statuses, str(v, "name")));
    /* Statuses of containers the spec does not name (should not happen, but show them). */
    for (i = 0; i < json_array_size(statuses) && (v = json_array_get(statuses, i)); i++) {
        const json_t *s;
        size_t j;
        bool known = false;

        for (j = 0; j < json_array_size(specs) && (s = json_array_get(specs, j)); j++)
            if (streq(str(s, "name") ?: "", str(v, "name") ?: ""))
                known = true;
        if (!known)
            describe_container(NULL, v);
    }
}

static void describe_conditions(const json_t *conds)
{
    const json_t *c;
    size_t i;

    if (json_array_size(conds) == 0) {
        kv(0, 18, "Conditions", NULL);
        return;
    }
    printf("Conditions:\n  %-18s%s\n", "Type", "Status");
    for (i = 0; i < json_array_size(conds) && (c = json_array_get(conds, i)); i++)
        printf("  %-18s%s\n", str(c, "type") ?: "?", str(c, "status") ?: "Unknown");
}

static void describe_events(const json_t *events)
{
    const char *header[] = {"Type", "Reason", "Age", "From", "Message"};
    size_t n = json_array_size(events), w[4] = {0};
    _cleanup_free_ char(*ages)[128] = NULL;
    const json_t *e;
    size_t i;

    if (n == 0) {
        kv(0, 18, "Events", NULL);
        return;
    }
    ages = calloc(n, sizeof(*ages));
    if (!ages)
        return;
    for (i = 0; i < json_array_size(events) && (e = json_array_get(events, i)); i++) {
        const char *last = str(e, "lastTimestamp") ?: str(e, "eventTime") ?: str(e, "time");
        const char *first = str(e, "firstTimestamp");
        json_int_t count = json_integer_value(json_object_get(e, "count"));
        char a[32], b[32];

        podctl_format_age_of(last ? last : first, a, sizeof(a));
        if (count > 1 && first) {
            podctl_format_age_of(first, b, sizeof(b));
            (void)snprintf(ages[i], sizeof(ages[i]), "%s (x%lld over %s)", a, (long long)count, b);
        } else
            (void)snprintf(ages[i], sizeof(ages[i]), "%s", a);
    }
    for (size_t c = 0; c < 4; c++)
        w[c] = strlen(header[c]);
    for (i = 0; i < json_array_size(events) && (e = json_array_get(events, i)); i++) {
        const char *cells[4] = {str(e, "type") ?: "Normal", str(e, "reason") ?: "", ages[i],
                                str(e, "source") ?: "podd"};

        for (size_t c = 0; c < 4; c++)
            if (strlen(cells[c]) > w[c])
                w[c] = strlen(cells[c]);
    }
    printf("Events:\n");
    printf("  %-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0], "Type", (int)w[1], "Reason", (int)w[2],
           "Age", (int)w[3], "From", "Message");
    printf("  %-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0], "----", (int)w[1], "------", (int)w[2],
           "---", (int)w[3], "----", "-------");
    for (i = 0; i < json_array_size(events) && (e = json_array_get(events, i)); i++) {
        const char *type = str(e, "type") ?: "Normal";
        bool warn = arg_color && streq(type, "Warning");

        printf("  %s%-*s%s  %-*s  %-*s  %-*s  %s\n", warn ? "\033[33m" : "", (int)w[0], type,
               warn ? "\033[0m" : "", (int)w[1], str(e, "reason") ?: "", (int)w[2], ages[i],
               (int)w[3], str(e, "source") ?: "podd", str(e, "message") ?: "");
    }
}

static void describe_errors(const json_t *errors)
{
    const json_t *e;
    size_t i;

    if (json_array_size(errors) == 0)
        return;
    printf("Manifest Errors:\n");
    for (i = 0; i < json_array_size(errors) && (e = json_array_get(errors, i)); i++) {
        json_int_t line = json_integer_value(json_object_get(e, "line"));
        json_int_t col = json_integer_value(json_object_get(e, "column"));
        const char *file = str(e, "file");

        printf("  %s%s", arg_color ? "\033[31m" : "", file ? file : "");
        if (file && line > 0)
            printf(":%lld:%lld", (long long)line, (long long)col);
        printf("%s%s%s\n", file ? ": " : "", str(e, "message") ?: "", arg_color ? "\033[0m" : "");
    }
}

static void describe_pod(const json_t *result)
{
    const json_t *pod = json_object_get(result, "pod");
    const json_t *meta = json_object_get(pod, "metadata"), *spec = json_object_get(pod, "spec");
    const json_t *status = json_object_get(pod, "status");
    const char *source =
        json_string_value(json_object_get(json_object_get(meta, "annotations"), "podd.io/source"));
    PodSummary sum;
    char line[256];

    if (podctl_pod_summary(pod, &sum) < 0)
        (void)snprintf(sum.status, sizeof(sum.status), "%s", str(status, "phase") ?: "Unknown");
    kv(0, 18, "Name", str(meta, "name"));
    kv(0, 18, "Namespace", str(meta, "namespace") ?: "default");
    if (str(status, "startTime"))
        kv_time(0, 18, "Start Time", str(status, "startTime"));
    print_map(18, "Labels", json_object_get(meta, "labels"), "=");
    print_map(18, "Annotations", json_object_get(meta, "annotations"), ": ");
    if (str(meta, "deletionTimestamp")) {
        char t[64];

        format_time(str(meta, "deletionTimestamp"), t, sizeof(t));
        (void)snprintf(line, sizeof(line), "Terminating (lasts since %s)", t);
        kv(0, 18, "Status", line);
    } else if (arg_color) {
        (void)snprintf(line, sizeof(line), "%s%s\033[0m", podctl_status_color(sum.status),
                       sum.status);
        kv(0, 18, "Status", line);
    } else
        kv(0, 18, "Status", sum.status);
    if (str(status, "reason"))
        kv(0, 18, "Reason", str(status, "reason"));
    if (str(status, "message"))
        kv(0, 18, "Message", str(status, "message"));
    if (source)
        kv(0, 18, "Source", source);
    if (str(spec, "restartPolicy"))
        kv(0, 18, "Restart Policy", str(spec, "restartPolicy"));
    if (str(status, "podIP"))
        kv(0, 18, "IP", str(status, "podIP"));
    describe_containers("Init Containers", json_object_get(spec, "initContainers"),
                        json_object_get(status, "initContainerStatuses"));
    describe_containers("Containers", json_object_get(spec, "containers"),
                        json_object_get(status, "containerStatuses"));
    describe_conditions(json_object_get(status, "conditions"));
    describe_events(json_object_get(result, "events"));
    describe_errors(json_object_get(result, "errors"));
}

int cmd_describe(int argc, char *argv[])
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {"socket", required_argument, NULL, 'S'},
        {},
    };
    bool failed = false;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
        switch (c) {
        case 'S':
            podctl_set_socket_path(optarg);
            break;
        case 'h':
            describe_usage(stdout);
            return PODCTL_EXIT_OK;
        default:
            describe_usage(stderr);
            return PODCTL_EXIT_USAGE;
        }
    if (optind >= argc) {
        fprintf(stderr, "podctl describe: what to describe? (podctl describe pod NAME)\n");
        return PODCTL_EXIT_USAGE;
    }
    if (!streq(argv[optind], "pod") && !streq(argv[optind], "pods") && !streq(argv[optind], "po")) {
        fprintf(stderr, "podctl describe: unknown resource type '%s' (podd serves pods)\n",
                argv[optind]);
        return PODCTL_EXIT_USAGE;
    }
    if (++optind >= argc) {
        fprintf(stderr, "podctl describe: which pod? (podctl describe pod NAME)\n");
        return PODCTL_EXIT_USAGE;
    }
    for (int i = optind; i < argc; i++)
        if (!dns_label_is_valid(argv[i])) {
            fprintf(stderr, "podctl describe: invalid pod name '%s' (a DNS-1123 label)\n", argv[i]);
            return PODCTL_EXIT_USAGE;
        }
    arg_color = podctl_use_color(STDOUT_FILENO);
    for (int i = optind; i < argc; i++) {
        _cleanup_json_ json_t *result = NULL;

        if (podctl_call(json_pack("{s:s,s:s}", "op", "describe_pod", "name", argv[i]), &result) <
            0) {
            failed = true;
            continue;
        }
        if (i > optind)
            putchar('\n');
        describe_pod(result);
    }
    return failed ? PODCTL_EXIT_FAILURE : PODCTL_EXIT_OK;
}
