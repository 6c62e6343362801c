/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "state-internal.h"

/* The events that survive a restart of podd: one file, written for the whole ring at once. */

#define EVENTS_VERSION 1
/* Longest string field kept, escaped (the manager's message buffer is smaller). */
#define EVENT_FIELD_MAX 4096

/* Copies the string field key of from, escaped, into to; absent is fine unless required. */
static bool copy_string(json_t *to, const json_t *from, const char *key, bool required)
{
    const json_t *v = json_object_get(from, key);
    char buf[EVENT_FIELD_MAX];

    if (!v || json_is_null(v))
        return !required;
    if (!json_is_string(v))
        return false;
    /* A NUL inside the string would cut it: such an entry was never written by podd. */
    if (strlen(json_string_value(v)) != json_string_length(v))
        return false;
    (void)str_escape_untrusted(json_string_value(v), buf, sizeof(buf));
    return json_object_set_new(to, key, json_string(buf)) == 0;
}

static bool positive_int(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) > 0;
}

/* The event e rebuilt from its known fields, or NULL when it is not one (or ENOMEM). */
static json_t *event_from_json(const json_t *e)
{
    static const char *const required[] = {"type", "reason", "message", "firstTimestamp",
                                           "lastTimestamp"};
    static const char *const optional[] = {"pod", "container", "file"};
    _cleanup_json_ json_t *out = NULL;

    if (!json_is_object(e) || !positive_int(json_object_get(e, "seq")) ||
        !positive_int(json_object_get(e, "count")))
        return NULL;
    out = json_pack("{s:I,s:I}", "seq", json_integer_value(json_object_get(e, "seq")), "count",
                    json_integer_value(json_object_get(e, "count")));
    if (!out)
        return NULL;
    for (size_t i = 0; i < ELEMENTSOF(required); i++)
        if (!copy_string(out, e, required[i], true))
            return NULL;
    for (size_t i = 0; i < ELEMENTSOF(optional); i++)
        if (!copy_string(out, e, optional[i], false))
            return NULL;
    return move_ptr(out);
}

int state_events_parse(const char *data, size_t size, size_t max, json_t **ret_events,
                       uint64_t *ret_seq, PdError *reterr)
{
    _cleanup_json_ json_t *root = NULL, *out = NULL;
    const json_t *events, *seq;
    json_error_t jerr;
    uint64_t last = 0;
    size_t n, first;

    root = json_loadb(data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return pd_error_set(reterr, -EBADMSG, "unparsable (%d:%d: %s)", jerr.line, jerr.column,
                            jerr.text);
    events = json_object_get(root, "events");
    seq = json_object_get(root, "seq");
    if (!json_is_object(root) || !json_is_array(events))
        return pd_error_set(reterr, -EBADMSG, "not an object with an \"events\" array");
    if (seq && !(json_is_integer(seq) && json_integer_value(seq) >= 0))
        return pd_error_set(reterr, -EBADMSG, "\"seq\" is not a non-negative integer");
    if (seq)
        last = (uint64_t)json_integer_value(seq);
    out = json_array();
    if (!out)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    n = json_array_size(events);
    first = n > max ? n - max : 0;
    for (size_t i = first; i < n; i++) {
        json_t *e = event_from_json(json_array_get(events, i));

        if (!e)
            continue;
        if ((uint64_t)json_integer_value(json_object_get(e, "seq")) > last)
            last = (uint64_t)json_integer_value(json_object_get(e, "seq"));
        if (json_array_append_new(out, e) < 0)
            return pd_error_set(reterr, -ENOMEM, "out of memory");
    }
    *ret_events = move_ptr(out);
    *ret_seq = last;
    return 0;
}

int state_store_save_events(StateStore *s, json_t *events, uint64_t seq)
{
    _cleanup_free_ char *text = NULL;

    if (!s || !json_is_array(events))
        return -EINVAL;
    text = json_dumps(events, JSON_COMPACT);
    if (!text)
        return -ENOMEM;
    return state_store_save_events_text(s, text, strlen(text), seq);
}

int state_store_save_events_text(StateStore *s, const char *events_json, size_t len, uint64_t seq)
{
    _cleanup_(strbuf_done) StrBuf out = {0};
    int r;

    if (!s || !events_json)
        return -EINVAL;
    /* As json_dumps(JSON_COMPACT) writes {"version", "seq", "events"}. */
    r = strbuf_printf(&out, "{\"version\":%d,\"seq\":%" PRIu64 ",\"events\":", EVENTS_VERSION, seq);
    if (r >= 0)
        r = strbuf_append(&out, events_json, len);
    if (r >= 0)
        r = strbuf_append(&out, "}", 1);
    if (r < 0)
        return r;
    return write_file_atomic_at(s->dir_fd, STATE_EVENTS_FILE, out.data, out.len, 0600);
}

/* Moves an unusable events file aside (keeping the newest bad copy); -EBADMSG either way. */
static int events_set_aside(StateStore *s, const char *why, PdError *reterr)
{
    const char *corrupt = STATE_EVENTS_FILE ".corrupt";

    if (renameat(s->dir_fd, STATE_EVENTS_FILE, s->dir_fd, corrupt) < 0)
        return pd_error_set(reterr, -EBADMSG, "state file '%s' is %s; cannot move it aside: %s",
                            STATE_EVENTS_FILE, why, strerror(errno));
    (void)fsync(s->dir_fd);
    return pd_error_set(reterr, -EBADMSG, "state file '%s' is %s; moved to '%s'", STATE_EVENTS_FILE,
                        why, corrupt);
}

int state_store_load_events(StateStore *s, size_t max, json_t **ret_events, uint64_t *ret_seq,
                            PdError *reterr)
{
    _cleanup_free_ char *buf = NULL;
    _cleanup_close_ int fd = -1;
    PdError why = {0};
    struct stat st;
    size_t size;
    int r;

    if (!s || !ret_events || !ret_seq)
        return pd_error_set(reterr, -EINVAL, "state: invalid arguments");
    /* O_NONBLOCK: a FIFO planted under our name must not block the loop. */
    fd = openat(s->dir_fd, STATE_EVENTS_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return pd_error_set(reterr, -ENOENT, "state file '%s': not found", STATE_EVENTS_FILE);
        if (errno == ELOOP)
            return events_set_aside(s, "a symlink", reterr);
        return pd_error_set(reterr, -errno, "state file '%s': %s", STATE_EVENTS_FILE,
                            strerror(errno));
    }
    if (fstat(fd, &st) < 0)
        return pd_error_set(reterr, -errno, "state file '%s': %s", STATE_EVENTS_FILE,
                            strerror(errno));
    if (!S_ISREG(st.st_mode))
        return events_set_aside(s, "not a regular file", reterr);
    r = read_fd_full(fd, STATE_JSON_MAX, &buf, &size);
    if (r == -EFBIG)
        return events_set_aside(s, "too large", reterr);
    if (r < 0)
        return pd_error_set(reterr, r, "state file '%s': %s", STATE_EVENTS_FILE, strerror(-r));
    r = state_events_parse(buf, size, max, ret_events, ret_seq, &why);
    if (r == -EBADMSG)
        return events_set_aside(s, why.message, reterr);
    if (r < 0)
        return pd_error_set(reterr, r, "state file '%s': %s", STATE_EVENTS_FILE, why.message);
    return 0;
}
