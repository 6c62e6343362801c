/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the commands that talk to podd share: one call over the API with
 * its error printed, kubectl's ages and pod summary columns, times, and a
 * YAML printer for JSON values.
 */
#include <stdio.h>
#include <time.h>

#include "api/api.h"
#include "podctl.h"

int podctl_call(json_t *request_take, json_t **ret_result)
{
    _cleanup_json_ json_t *request = request_take;
    _cleanup_(api_client_freep) ApiClient *c = NULL;
    PdError e = {0};
    int r;

    if (!request) {
        fprintf(stderr, "podctl: out of memory\n");
        return -ENOMEM;
    }
    r = api_client_connect(podctl_socket_path(), &c, &e);
    if (r >= 0)
        r = api_client_call(c, request, ret_result, &e);
    if (r < 0)
        fprintf(stderr, "podctl: %s\n", e.message);
    return r;
}

/* ---- time ---------------------------------------------------------------------------------- */

int podctl_parse_time(const char *s, time_t *ret)
{
    uint64_t usec;
    int r;

    r = s ? parse_rfc3339(s, strlen(s), &usec) : -EINVAL;
    if (r < 0)
        return r;
    *ret = (time_t)(usec / 1000000u);
    return 0;
}

void podctl_format_age(int64_t d, char *buf, size_t size)
{
    int64_t minutes, hours;

    /* As kubectl (apimachinery's HumanDuration) prints it. */
    if (d < -1) {
        (void)snprintf(buf, size, "<invalid>");
        return;
    }
    if (d < 0)
        d = 0;
    if (d < 120) {
        (void)snprintf(buf, size, "%llds", (long long)d);
        return;
    }
    minutes = d / 60;
    if (minutes < 10) {
        if (d % 60 == 0)
            (void)snprintf(buf, size, "%lldm", (long long)minutes);
        else
            (void)snprintf(buf, size, "%lldm%llds", (long long)minutes, (long long)(d % 60));
        return;
    }
    if (minutes < 180) {
        (void)snprintf(buf, size, "%lldm", (long long)minutes);
        return;
    }
    hours = d / 3600;
    if (hours < 8) {
        if (minutes % 60 == 0)
            (void)snprintf(buf, size, "%lldh", (long long)hours);
        else
            (void)snprintf(buf, size, "%lldh%lldm", (long long)hours, (long long)(minutes % 60));
    } else if (hours < 48)
        (void)snprintf(buf, size, "%lldh", (long long)hours);
    else if (hours < 24 * 8) {
        if (hours % 24 == 0)
            (void)snprintf(buf, size, "%lldd", (long long)(hours / 24));
        else
            (void)snprintf(buf, size, "%lldd%lldh", (long long)(hours / 24),
                           (long long)(hours % 24));
    } else if (hours < 24 * 365 * 2)
        (void)snprintf(buf, size, "%lldd", (long long)(hours / 24));
    else if (hours < 24 * 365 * 8) {
        int64_t days = hours / 24;

        if (days % 365 == 0)
            (void)snprintf(buf, size, "%lldy", (long long)(days / 365));
        else
            (void)snprintf(buf, size, "%lldy%lldd", (long long)(days / 365),
                           (long long)(days % 365));
    } else
        (void)snprintf(buf, size, "%lldy", (long long)(hours / 24 / 365));
}

void podctl_format_age_of(const char *timestamp, char *buf, size_t size)
{
    time_t t;

    if (podctl_parse_time(timestamp, &t) < 0) {
        (void)snprintf(buf, size, "<unknown>");
        return;
    }
    podctl_format_age((int64_t)(time(NULL) - t), buf, size);
}

/* ---- the pod summary ------------------------------------------------------------------------ */

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static bool is_sidecar(const json_t *pod, const char *name)
{
    const json_t *inits = json_object_get(json_object_get(pod, "spec"), "initContainers");
    const json_t *c;
    size_t i;

    for (i = 0; i < json_array_size(inits) && (c = json_array_get(inits, i)); i++)
        if (name && streq(str(c, "name") ?: "", name))
            return streq(str(c, "restartPolicy") ?: "", "Always");
    return false;
}

/* The reason a terminated state shows: its reason, else Signal:N or ExitCode:N. */
static void terminated_reason(const json_t *t, const char *prefix, char *buf, size_t size)
{
    const char *reason = str(t, "reason");
    json_int_t sig = json_integer_value(json_object_get(t, "signal"));

    if (reason && *reason)
        (void)snprintf(buf, size, "%s%s", prefix, reason);
    else if (sig != 0)
        (void)snprintf(buf, size, "%sSignal:%lld", prefix, (long long)sig);
    else
        (void)snprintf(buf, size, "%sExitCode:%lld", prefix,
                       (long long)json_integer_value(json_object_get(t, "exitCode")));
}

/* kubectl's printPod(): the STATUS column. */
static void pod_status_reason(const json_t *pod, char *buf, size_t size)
{
    const json_t *meta = json_object_get(pod, "metadata"), *status = json_object_get(pod, "status");
    const json_t *inits = json_object_get(status, "initContainerStatuses");
    const json_t *ctrs = json_object_get(status, "containerStatuses");
    const json_t *cs;
    size_t i,
        n_init = json_array_size(json_object_get(json_object_get(pod, "spec"), "initContainers"));
    bool initializing = false, has_running = false;

    (void)snprintf(buf, size, "%s", str(status, "reason") ?: str(status, "phase") ?: "Unknown");
    if (n_init < json_array_size(inits))
        n_init = json_array_size(inits);
    for (i = 0; i < json_array_size(inits) && (cs = json_array_get(inits, i)); i++) {
        const json_t *state = json_object_get(cs, "state");
        const json_t *t = json_object_get(state, "terminated");
        const json_t *w = json_object_get(state, "waiting");

        if (t && json_integer_value(json_object_get(t, "exitCode")) == 0)
            continue;
        if (is_sidecar(pod, str(cs, "name")) && json_is_true(json_object_get(cs, "started")))
            continue;
        initializing = true;
        if (t)
            terminated_reason(t, "Init:", buf, size);
        else if (w && str(w, "reason") && *str(w, "reason") &&
                 !streq(str(w, "reason"), "PodInitializing"))
            (void)snprintf(buf, size, "Init:%s", str(w, "reason"));
        else
            (void)snprintf(buf, size, "Init:%zu/%zu", i, n_init);
        break;
    }
    if (!initializing) {
        bool found = false;

        for (size_t k = json_array_size(ctrs); k > 0; k--) {
            const json_t *state = json_object_get(json_array_get(ctrs, k - 1), "state");
            const json_t *t = json_object_get(state, "terminated");
            const json_t *w = json_object_get(state, "waiting");

            if (w && str(w, "reason") && *str(w, "reason")) {
                (void)snprintf(buf, size, "%s", str(w, "reason"));
                found = true;
            } else if (t) {
                terminated_reason(t, "", buf, size);
                found = true;
            } else if (json_object_get(state, "running") &&
                       json_is_true(json_object_get(json_array_get(ctrs, k - 1), "ready")))
                has_running = true;
        }
        if (found && streq(buf, "Completed") && has_running)
            (void)snprintf(buf, size, "Running");
    }
    if (str(meta, "deletionTimestamp"))
        (void)snprintf(buf, size, "Terminating");
}

int podctl_pod_summary(const json_t *pod, PodSummary *ret)
{
    const json_t *meta = json_object_get(pod, "metadata"), *status = json_object_get(pod, "status");
    const json_t *ctrs = json_object_get(status, "containerStatuses");
    const json_t *inits = json_object_get(status, "initContainerStatuses");
    const json_t *cs;
    size_t i, total = json_array_size(json_object_get(json_object_get(pod, "spec"), "containers"));
    size_t ready = 0;
    int64_t restarts = 0;
    time_t last = 0, t;

    if (!str(meta, "name"))
        return -EBADMSG;
    *ret = (PodSummary){0};
    (void)snprintf(ret->name, sizeof(ret->name), "%s", str(meta, "name"));
    if (total < json_array_size(ctrs))
        total = json_array_size(ctrs);
    for (i = 0; i < json_array_size(inits) && (cs = json_array_get(inits, i)); i++) {
        if (!is_sidecar(pod, str(cs, "name")))
            continue;
        total++;
        if (json_is_true(json_object_get(cs, "ready")))
            ready++;
    }
    for (int pass = 0; pass < 2; pass++)
        for (i = 0; i < json_array_size(pass ? ctrs : inits) &&
                    (cs = json_array_get(pass ? ctrs : inits, i));
             i++) {
            const char *fin =
                str(json_object_get(json_object_get(cs, "lastState"), "terminated"), "finishedAt");

            if (pass && json_is_true(json_object_get(cs, "ready")))
                ready++;
            restarts += json_integer_value(json_object_get(cs, "restartCount"));
            if (fin && podctl_parse_time(fin, &t) >= 0 && t > last)
                last = t;
        }
    (void)snprintf(ret->ready, sizeof(ret->ready), "%zu/%zu", ready, total);
    pod_status_reason(pod, ret->status, sizeof(ret->status));
    if (restarts > 0 && last > 0) {
        char ago[32];

        podctl_format_age((int64_t)(time(NULL) - last), ago, sizeof(ago));
        (void)snprintf(ret->restarts, sizeof(ret->restarts), "%lld (%s ago)", (long long)restarts,
                       ago);
    } else
        (void)snprintf(ret->restarts, sizeof(ret->restarts), "%lld", (long long)restarts);
    podctl_format_age_of(str(meta, "creationTimestamp"), ret->age, sizeof(ret->age));
    return 0;
}

const char *podctl_status_color(const char *status)
{
    if (streq(status, "Running") || streq(status, "Completed") || streq(status, "Succeeded"))
        return "\033[32m";
    if (streq(status, "Pending") || streq(status, "Terminating") || startswith(status, "Init:") ||
        streq(status, "ContainerCreating") || streq(status, "PodInitializing"))
        return "\033[33m";
    return "\033[31m";
}

/* ---- YAML ----------------------------------------------------------------------------------- */

static bool looks_like_number(const char *s)
{
    char *end;

    if (!*s)
        return false;
    errno = 0;
    (void)strtod(s, &end);
    if (*end == '\0')
        return true;
    /* YAML 1.1 also reads 0x1F, 0o17, 1_000 and sexagesimal 1:20 as numbers. */
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-._:xXoObBeEabcdefABCDEF", *p))
            return false;
    return strchr("0123456789+-.", s[0]) != NULL;
}

static bool plain_safe(const char *s, size_t len)
{
    static const char *const reserved[] = {
        "true", "false", "yes",  "no",    "on",    "off",  "y",    "n",  "null",
        "~",    "True",  "TRUE", "False", "FALSE", "Yes",  "YES",  "No", "NO",
        "On",   "ON",    "Off",  "OFF",   "Null",  "NULL", "Y",    "N",  "<<",
        ".inf", ".Inf",  ".INF", "-.inf", ".nan",  ".NaN", ".NAN", "=",
    };

    if (len == 0 || strlen(s) != len)
        return false;
    /* YAML 1.1 timestamps (2026-11-22, 2026-11-22T10:00:00Z) and document markers. */
    if (len >= 8 && strspn(s, "0123456789") == 4 && s[4] == '-')
        return false;
    if (startswith(s, "---") || startswith(s, "..."))
        return false;
    if (strchr("-?:,[]{}#&*!|>'\"%@` \t", s[0]) &&
        !(s[0] == '-' && len > 1 && s[1] != ' ' && !looks_like_number(s)))
        return false;
    if (s[len - 1] == ' ' || s[len - 1] == ':' || s[len - 1] == '\t')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f)
            return false;
        if ((c == ':' || c == ',') && s[i + 1] == ' ')
            return false;
        if (c == '#' && i > 0 && s[i - 1] == ' ')
            return false;
        if (strchr("[]{},", c) && c != ',')
            return false;
    }
    for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
        if (streq(s, reserved[i]))
            return false;
    return !looks_like_number(s);
}

static void yaml_scalar_string(FILE *f, const char *s, size_t len)
{
    if (plain_safe(s, len)) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        switch (c) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\x%02x", c);
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

static bool yaml_is_inline(const json_t *v)
{
    return !(json_is_object(v) && json_object_size(v) > 0) &&
           !(json_is_array(v) && json_array_size(v) > 0);
}

static void yaml_inline(FILE *f, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        fputs("{}", f);
        break;
    case JSON_ARRAY:
        fputs("[]", f);
        break;
    case JSON_STRING:
        yaml_scalar_string(f, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        fprintf(f, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        fputs("true", f);
        break;
    case JSON_FALSE:
        fputs("false", f);
        break;
    case JSON_NULL:
    default:
        fputs("null", f);
        break;
    }
}

/*
 * Block style as kubectl prints it: sequences at their key's indentation,
 * "- " starting the first key of a mapping item. first_inline: the caller
 * already wrote the indentation of the first line ("- ").
 */
static void yaml_block(FILE *f, const json_t *v, int indent, bool first_inline)
{
    const char *key;
    const json_t *item;
    size_t i;
    bool first = true;

    if (json_is_object(v)) {
        for (void *it = json_object_iter((json_t *)v);
             it && (key = json_object_iter_key(it)) && (item = json_object_iter_value(it));
             it = json_object_iter_next((json_t *)v, it)) {
            if (!(first && first_inline))
                fprintf(f, "%*s", indent, "");
            first = false;
            yaml_scalar_string(f, key, strlen(key));
            fputc(':', f);
            if (yaml_is_inline(item)) {
                fputc(' ', f);
                yaml_inline(f, item);
                fputc('\n', f);
            } else if (json_is_array(item)) {
                fputc('\n', f);
                yaml_block(f, item, indent, false);
            } else {
                fputc('\n', f);
                yaml_block(f, item, indent + 2, false);
            }
        }
        return;
    }
    for (i = 0; i < json_array_size(v) && (item = json_array_get(v, i)); i++) {
        if (!(first && first_inline))
            fprintf(f, "%*s", indent, "");
        first = false;
        fputs("- ", f);
        if (yaml_is_inline(item)) {
            yaml_inline(f, item);
            fputc('\n', f);
        } else
            yaml_block(f, item, indent + 2, true);
    }
}

void podctl_print_yaml(FILE *f, const json_t *v)
{
    if (yaml_is_inline(v)) {
        yaml_inline(f, v);
        fputc('\n', f);
    } else
        yaml_block(f, v, 0, false);
}
