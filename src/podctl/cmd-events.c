/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "podctl.h"

/*
 * podctl events: what podd did, as kubectl events shows it. Each event has
 * a sequence number; watching asks for those after the last one seen.
 */

#define EVENTS_POLL_NSEC (250 * 1000 * 1000L)

typedef struct EventsArgs {
    const char *pod;
    bool watch, json;
    bool color;
} EventsArgs;

/* Column widths, kept from the first table for the rows a watch adds. */
typedef struct EventsWidths {
    int seen, type, reason, object;
} EventsWidths;

static void events_usage(FILE *f)
{
    fputs("Usage: podctl events [-w] [-o json] [POD]\n"
          "\n"
          "Show podd's recent events (of one pod with POD), oldest first.\n"
          "\n"
          "Options:\n"
          "  -w, --watch        after the existing events, print new ones as they happen\n"
          "                     until Ctrl-C\n"
          "  -o, --output json  one JSON array (with -w: one JSON object per line)\n"
          "      --socket PATH  podd's API socket\n",
          f);
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* pod/NAME, pod/NAME/CONTAINER, or manifest/FILE for a manifest that names no pod. */
static void event_object(const json_t *e, char *buf, size_t size)
{
    const char *pod = str(e, "pod"), *ctr = str(e, "container"), *file = str(e, "file");

    if (pod)
        (void)snprintf(buf, size, "pod/%s%s%s", pod, ctr ? "/" : "", ctr ? ctr : "");
    else
        (void)snprintf(buf, size, "manifest/%s", file ? file : "?");
}

static void event_age(const json_t *e, char *buf, size_t size)
{
    const char *last = str(e, "lastTimestamp") ?: str(e, "firstTimestamp");

    podctl_format_age_of(last, buf, size);
}

static int max_int(int a, size_t b)
{
    return (size_t)a > b ? a : (int)b;
}

static void widths_grow(EventsWidths *w, const json_t *events)
{
    const json_t *e;
    size_t i;

    json_array_foreach(events, i, e)
    {
        char obj[600], age[32];

        event_object(e, obj, sizeof(obj));
        event_age(e, age, sizeof(age));
        w->seen = max_int(w->seen, strlen(age));
        w->type = max_int(w->type, strlen(str(e, "type") ?: ""));
        w->reason = max_int(w->reason, strlen(str(e, "reason") ?: ""));
        w->object = max_int(w->object, strlen(obj));
    }
}

static void print_rows(const EventsArgs *a, const EventsWidths *w, const json_t *events)
{
    const json_t *e;
    size_t i;

    json_array_foreach(events, i, e)
    {
        const char *type = str(e, "type") ?: "Normal";
        bool warn = a->color && streq(type, "Warning");
        char obj[600], age[32];

        event_object(e, obj, sizeof(obj));
        event_age(e, age, sizeof(age));
        printf("%-*s  %s%-*s%s  %-*s  %-*s  %s\n", w->seen, age, warn ? "\033[33m" : "", w->type,
               type, warn ? "\033[0m" : "", w->reason, str(e, "reason") ?: "", w->object, obj,
               str(e, "message") ?: "");
    }
}

static void print_json_lines(const json_t *events)
{
    const json_t *e;
    size_t i;

    json_array_foreach(events, i, e)
    {
        _cleanup_free_ char *s = json_dumps(e, JSON_COMPACT);

        if (s)
            printf("%s\n", s);
    }
}

static json_t *events_request(const EventsArgs *a, uint64_t after)
{
    json_t *req = json_pack("{s:s}", "op", "events");

    if (req && a->pod && json_object_set_new(req, "name", json_string(a->pod)) < 0)
        return json_decref(req), NULL;
    if (req && after > 0 && json_object_set_new(req, "after", json_integer((json_int_t)after)) < 0)
        return json_decref(req), NULL;
    return req;
}

/* The largest seq of events, or after when there is none. */
static uint64_t last_seq(const json_t *events, uint64_t after)
{
    const json_t *e;
    size_t i;

    json_array_foreach(events, i, e)
    {
        json_int_t seq = json_integer_value(json_object_get(e, "seq"));

        if (seq > 0 && (uint64_t)seq > after)
            after = (uint64_t)seq;
    }
    return after;
}

static int events_run(const EventsArgs *a)
{
    EventsWidths w = {(int)strlen("LAST SEEN"), (int)strlen("TYPE"), (int)strlen("REASON"),
                      (int)strlen("OBJECT")};
    _cleanup_json_ json_t *events = NULL;
    uint64_t after;

    if (podctl_call(events_request(a, 0), &events) < 0)
        return PODCTL_EXIT_FAILURE;
    if (!json_is_array(events)) {
        fprintf(stderr, "podctl: podd sent an event list that is not an array\n");
        return PODCTL_EXIT_FAILURE;
    }
    if (a->json && !a->watch) {
        _cleanup_free_ char *s = json_dumps(events, JSON_INDENT(4));

        if (s)
            printf("%s\n", s);
        return s ? PODCTL_EXIT_OK : PODCTL_EXIT_FAILURE;
    }
    if (a->json)
        print_json_lines(events);
    else if (json_array_size(events) > 0 || a->watch) {
        widths_grow(&w, events);
        printf("%-*s  %-*s  %-*s  %-*s  %s\n", w.seen, "LAST SEEN", w.type, "TYPE", w.reason,
               "REASON", w.object, "OBJECT", "MESSAGE");
        print_rows(a, &w, events);
    } else
        fprintf(stderr, "No events found.\n");
    (void)fflush(stdout);
    after = last_seq(events, 0);
    while (a->watch) {
        _cleanup_json_ json_t *more = NULL;

        (void)nanosleep(&(struct timespec){0, EVENTS_POLL_NSEC}, NULL);
        if (podctl_call(events_request(a, after), &more) < 0)
            return PODCTL_EXIT_FAILURE;
        if (!json_is_array(more))
            continue;
        if (a->json)
            print_json_lines(more);
        else
            print_rows(a, &w, more);
        (void)fflush(stdout);
        after = last_seq(more, after);
    }
    return PODCTL_EXIT_OK;
}

int cmd_events(int argc, char *argv[])
{
    enum { ARG_SOCKET = 0x100 };
    static const struct option options[] = {
        {"watch", no_argument, NULL, 'w'},
        {"output", required_argument, NULL, 'o'},
        {"socket", required_argument, NULL, ARG_SOCKET},
        {"help", no_argument, NULL, 'h'},
        {},
    };
    EventsArgs a = {0};
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "wo:h", options, NULL)) >= 0)
        switch (c) {
        case 'w':
            a.watch = true;
            break;
        case 'o':
            if (!streq(optarg, "json")) {
                fprintf(stderr, "podctl events: unknown output format '%s' (json)\n", optarg);
                return PODCTL_EXIT_USAGE;
            }
            a.json = true;
            break;
        case ARG_SOCKET:
            podctl_set_socket_path(optarg);
            break;
        case 'h':
            events_usage(stdout);
            return PODCTL_EXIT_OK;
        default:
            events_usage(stderr);
            return PODCTL_EXIT_USAGE;
        }
    if (argc - optind > 1) {
        fprintf(stderr, "podctl events: at most one pod\n");
        events_usage(stderr);
        return PODCTL_EXIT_USAGE;
    }
    if (optind < argc) {
        a.pod = argv[optind];
        if (startswith(a.pod, "pod/"))
            a.pod += strlen("pod/");
        if (!dns_label_is_valid(a.pod)) {
            fprintf(stderr, "podctl events: invalid pod name '%s' (a DNS-1123 label)\n", a.pod);
            return PODCTL_EXIT_USAGE;
        }
    }
    a.color = podctl_use_color(STDOUT_FILENO);
    return events_run(&a);
}
