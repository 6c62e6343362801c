/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <time.h>

#include "api/api.h"
#include "podctl.h"

/*
 * podctl logs: a container's output, as kubectl logs shows it. The daemon
 * answers with CRI lines and an offset; following is polling with that
 * offset, which the daemon keeps valid across log rotation, and which a
 * restarted container's new run simply continues.
 */

#define LOGS_POLL_NSEC (250 * 1000 * 1000L)

typedef struct LogsArgs {
    const char *pod;
    const char *container;
    bool follow, previous, timestamps;
    bool has_tail;
    int64_t tail;
    uint64_t since_seconds;
} LogsArgs;

static void logs_usage(FILE *f)
{
    fputs("Usage: podctl logs POD [-c CONTAINER] [-f] [--tail N] [--since DURATION]\n"
          "                       [--previous] [--timestamps]\n"
          "\n"
          "Print the output of a container of POD (also written pod/POD).\n"
          "\n"
          "Options:\n"
          "  -c, --container NAME  the container; needed when the pod has several\n"
          "  -f, --follow          keep printing new output, across restarts, until the pod\n"
          "                        is deleted or Ctrl-C\n"
          "      --tail N          only the last N lines (-1: all)\n"
          "      --since DURATION  only lines newer than DURATION (10s, 5m, 2h)\n"
          "  -p, --previous        the output of the run before the last restart\n"
          "      --timestamps      prefix each line with its RFC 3339 time\n"
          "      --socket PATH     podd's API socket\n",
          f);
}

/* One logs call; errors are returned, not printed (following ends quietly on NotFound). */
static int logs_call(const LogsArgs *a, bool first, bool has_offset, uint64_t offset, json_t **ret,
                     PdError *reterr)
{
    _cleanup_(api_client_freep) ApiClient *c = NULL;
    _cleanup_json_ json_t *req =
        json_pack("{s:s,s:s,s:b}", "op", "logs", "name", a->pod, "previous", a->previous);
    int r;

    if (!req)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    if ((a->container && json_object_set_new(req, "container", json_string(a->container)) < 0) ||
        (first && a->has_tail && a->tail >= 0 &&
         json_object_set_new(req, "tail", json_integer(a->tail)) < 0) ||
        (a->since_seconds > 0 &&
         json_object_set_new(req, "sinceSeconds", json_integer((json_int_t)a->since_seconds)) <
             0) ||
        (has_offset && json_object_set_new(req, "offset", json_integer((json_int_t)offset)) < 0))
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    r = api_client_connect(podctl_socket_path(), &c, reterr);
    if (r < 0)
        return r;
    return api_client_call(c, req, ret, reterr);
}

static void print_line(const LogsArgs *a, const char *time, const char *text)
{
    if (a->timestamps)
        printf("%s %s\n", time, text);
    else
        printf("%s\n", text);
}

/* Prints the lines of one answer; returns its offset and whether more is waiting. */
static int print_answer(const LogsArgs *a, ApiLogJoin *j, const json_t *answer,
                        uint64_t *ret_offset, bool *ret_more)
{
    const json_t *lines = json_object_get(answer, "lines"), *l;
    const json_t *off = json_object_get(answer, "offset");
    size_t i;

    if (!json_is_array(lines) || !json_is_integer(off) || json_integer_value(off) < 0) {
        fprintf(stderr, "podctl: podd sent a logs answer without lines or offset\n");
        return -EBADMSG;
    }
    json_array_foreach(lines, i, l)
    {
        const char *s = json_string_value(l), *time, *text;
        int r;

        if (!s)
            continue;
        r = api_log_join_feed(j, s, json_string_length(l), &time, &text);
        if (r == -EBADMSG)
            printf("%s\n", s); /* not a CRI line: shown as it is */
        else if (r < 0)
            return r;
        else if (r > 0)
            print_line(a, time, text);
    }
    (void)fflush(stdout);
    *ret_offset = (uint64_t)json_integer_value(off);
    *ret_more = json_is_true(json_object_get(answer, "more"));
    return 0;
}

static int logs_run(const LogsArgs *a)
{
    ApiLogJoin j = {0};
    bool has_offset = false, more = false;
    uint64_t offset = 0;
    const char *time, *text;
    int r;

    for (;;) {
        _cleanup_json_ json_t *answer = NULL;
        PdError e = {0};

        r = logs_call(a, !has_offset, has_offset, offset, &answer, &e);
        if (r == -ENOENT && has_offset && a->follow) {
            r = 0; /* the pod (or container) is gone: nothing more will come */
            break;
        }
        if (r < 0) {
            fprintf(stderr, "podctl: %s\n", e.message);
            break;
        }
        r = print_answer(a, &j, answer, &offset, &more);
        if (r < 0)
            break;
        has_offset = true;
        if (more)
            continue;
        if (!a->follow || a->previous)
            break;
        (void)nanosleep(&(struct timespec){0, LOGS_POLL_NSEC}, NULL);
    }
    if (api_log_join_flush(&j, &time, &text) > 0)
        print_line(a, time, text);
    api_log_join_done(&j);
    (void)fflush(stdout);
    return r < 0 ? PODCTL_EXIT_FAILURE : PODCTL_EXIT_OK;
}

int cmd_logs(int argc, char *argv[])
{
    enum { ARG_TAIL = 0x100, ARG_SINCE, ARG_TIMESTAMPS, ARG_SOCKET };
    static const struct option options[] = {
        {"container", required_argument, NULL, 'c'},
        {"follow", no_argument, NULL, 'f'},
        {"previous", no_argument, NULL, 'p'},
        {"tail", required_argument, NULL, ARG_TAIL},
        {"since", required_argument, NULL, ARG_SINCE},
        {"timestamps", no_argument, NULL, ARG_TIMESTAMPS},
        {"socket", required_argument, NULL, ARG_SOCKET},
        {"help", no_argument, NULL, 'h'},
        {},
    };
    LogsArgs a = {0};
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:fph", options, NULL)) >= 0)
        switch (c) {
        case 'c':
            if (!dns_label_is_valid(optarg)) {
                fprintf(stderr, "podctl logs: invalid container name '%s'\n", optarg);
                return PODCTL_EXIT_USAGE;
            }
            a.container = optarg;
            break;
        case 'f':
            a.follow = true;
            break;
        case 'p':
            a.previous = true;
            break;
        case ARG_TAIL:
            if (parse_int64(optarg, &a.tail) < 0 || a.tail < -1) {
                fprintf(stderr, "podctl logs: --tail needs a number of lines (-1: all), not '%s'\n",
                        optarg);
                return PODCTL_EXIT_USAGE;
            }
            a.has_tail = true;
            break;
        case ARG_SINCE:
            if (podctl_parse_seconds(optarg, &a.since_seconds) < 0) {
                fprintf(stderr,
                        "podctl logs: --since needs a duration such as 10s, 5m or 2h, not '%s'\n",
                        optarg);
                return PODCTL_EXIT_USAGE;
            }
            break;
        case ARG_TIMESTAMPS:
            a.timestamps = true;
            break;
        case ARG_SOCKET:
            podctl_set_socket_path(optarg);
            break;
        case 'h':
            logs_usage(stdout);
            return PODCTL_EXIT_OK;
        default:
            logs_usage(stderr);
            return PODCTL_EXIT_USAGE;
        }
    if (argc - optind != 1) {
        fprintf(stderr, "podctl logs: %s\n",
                optind >= argc ? "which pod? (podctl logs POD)" : "one pod at a time");
        logs_usage(stderr);
        return PODCTL_EXIT_USAGE;
    }
    a.pod = argv[optind];
    if (startswith(a.pod, "pod/"))
        a.pod += strlen("pod/");
    else if (startswith(a.pod, "pods/"))
        a.pod += strlen("pods/");
    if (!dns_label_is_valid(a.pod)) {
        fprintf(stderr, "podctl logs: invalid pod name '%s' (a DNS-1123 label)\n", a.pod);
        return PODCTL_EXIT_USAGE;
    }
    return logs_run(&a);
}
