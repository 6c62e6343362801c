/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "state-internal.h"

/*
 * The events that survive a restart of podd: a journal, a header line and one
 * event per line, appended to for each burst and written whole now and then.
 */

#define EVENTS_VERSION 2
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

/* Keeps e (taken) as the newest of at most max events in out; raises *last to its seq. */
static int events_keep(json_t *out, json_t *e, size_t max, uint64_t *last)
{
    if ((uint64_t)json_integer_value(json_object_get(e, "seq")) > *last)
        *last = (uint64_t)json_integer_value(json_object_get(e, "seq"));
    if (json_array_append_new(out, e) < 0)
        return -ENOMEM;
    if (json_array_size(out) > max)
        (void)json_array_remove(out, 0);
    return 0;
}

/* The events file of podd before the journal: {"version":1,"seq":N,"events":[...]}. */
static int events_parse_whole(const char *data, size_t size, size_t max, StateEvents *ret,
                              PdError *reterr)
{
    _cleanup_json_ json_t *root = NULL;
    const json_t *events, *seq;
    json_error_t jerr;
    size_t n;

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
        ret->seq = (uint64_t)json_integer_value(seq);
    n = json_array_size(events);
    for (size_t i = n > max ? n - max : 0; i < n; i++) {
        json_t *e = event_from_json(json_array_get(events, i));

        if (e && events_keep(ret->events, e, max, &ret->seq) < 0)
            return pd_error_set(reterr, -ENOMEM, "out of memory");
    }
    return 0;
}

/* The header of a journal, its first line: {"version":2,"seq":N}. 0 or -EBADMSG. */
static int events_journal_header(const char *line, size_t len, uint64_t *ret_seq)
{
    _cleanup_json_ json_t *h = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *seq = json_object_get(h, "seq");

    if (!json_is_object(h) || json_integer_value(json_object_get(h, "version")) != EVENTS_VERSION ||
        !json_is_integer(seq) || json_integer_value(seq) < 0)
        return -EBADMSG;
    *ret_seq = (uint64_t)json_integer_value(seq);
    return 0;
}

int state_events_parse(const char *data, size_t size, size_t max, StateEvents *ret, PdError *reterr)
{
    _cleanup_json_ json_t *out = json_array();
    const char *nl = memchr(data, '\n', size), *p, *end = data + size;
    StateEvents r = {.events = out}; /* out, borrowed until the end */
    int k;

    if (!out)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    if (!nl || events_journal_header(data, (size_t)(nl - data), &r.seq) < 0) {
        /* No header line: the whole file of an older podd, appended to by none. */
        k = events_parse_whole(data, size, max, &r, reterr);
        if (k < 0)
            return k;
    } else {
        /* One event per line; a line that is none (cut by a crash, edited) is dropped. */
        for (p = nl + 1; p < end; p = nl + 1) {
            _cleanup_json_ json_t *j = NULL;
            json_t *e;

            nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl)
                nl = end;
            r.lines++;
            j = json_loadb(p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, NULL);
            e = event_from_json(j);
            if (e && events_keep(out, e, max, &r.seq) < 0)
                return pd_error_set(reterr, -ENOMEM, "out of memory");
        }
        r.bytes = size;
        /* Appended to only after a whole line: a cut one would swallow the next event. */
        r.appendable = size > 0 && data[size - 1] == '\n';
    }
    r.events = move_ptr(out);
    *ret = r;
    return 0;
}

int state_store_save_events(StateStore *s, json_t *events, uint64_t seq)
{
    _cleanup_(strbuf_done) StrBuf lines = {0};
    size_t i;
    json_t *e;

    if (!s || !json_is_array(events))
        return -EINVAL;
    json_array_foreach(events, i, e)
    {
        _cleanup_free_ char *text = json_dumps(e, JSON_COMPACT);

        if (!text || strbuf_append(&lines, text, strlen(text)) < 0 ||
            strbuf_append(&lines, "\n", 1) < 0)
            return -ENOMEM;
    }
    return state_store_save_events_text(s, lines.data ? lines.data : "", lines.len, seq);
}

int state_store_save_events_text(StateStore *s, const char *lines, size_t len, uint64_t seq)
{
    _cleanup_(strbuf_done) StrBuf out = {0};
    int r;

    if (!s || !lines)
        return -EINVAL;
    r = strbuf_printf(&out, "{\"version\":%d,\"seq\":%" PRIu64 "}\n", EVENTS_VERSION, seq);
    if (r >= 0)
        r = strbuf_append(&out, lines, len);
    if (r < 0)
        return r;
    r = write_file_atomic_at(s->dir_fd, STATE_EVENTS_FILE, out.data, out.len, 0600);
    if (r < 0)
        return r;
    /* The file of an older podd, read when there was no journal, is replaced by it. */
    if (unlinkat(s->dir_fd, STATE_EVENTS_OLD_FILE, 0) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

int state_store_append_events_text(StateStore *s, const char *lines, size_t len)
{
    _cleanup_close_ int fd = -1;

    if (!s || !lines)
        return -EINVAL;
    /* No O_CREAT: a journal that went is written whole again, with its header. */
    fd = openat(s->dir_fd, STATE_EVENTS_FILE,
                O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    return write_full(fd, lines, len);
}

/* Moves an unusable events file aside (keeping the newest bad copy); -EBADMSG either way. */
static int events_set_aside(StateStore *s, const char *name, const char *why, PdError *reterr)
{
    char corrupt[64];

    (void)snprintf(corrupt, sizeof(corrupt), "%s.corrupt", name);
    if (renameat(s->dir_fd, name, s->dir_fd, corrupt) < 0)
        return pd_error_set(reterr, -EBADMSG, "state file '%s' is %s; cannot move it aside: %s",
                            name, why, strerror(errno));
    (void)fsync(s->dir_fd);
    return pd_error_set(reterr, -EBADMSG, "state file '%s' is %s; moved to '%s'", name, why,
                        corrupt);
}

/* Reads the events file name as state_events_parse() does; see state_store_load_events(). */
static int events_load_file(StateStore *s, const char *name, size_t max, StateEvents *ret,
                            PdError *reterr)
{
    _cleanup_free_ char *buf = NULL;
    _cleanup_close_ int fd = -1;
    PdError why = {0};
    struct stat st;
    size_t size;
    int r;

    /* O_NONBLOCK: a FIFO planted under our name must not block the loop. */
    fd = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return pd_error_set(reterr, -ENOENT, "state file '%s': not found", name);
        if (errno == ELOOP)
            return events_set_aside(s, name, "a symlink", reterr);
        return pd_error_set(reterr, -errno, "state file '%s': %s", name, strerror(errno));
    }
    if (fstat(fd, &st) < 0)
        return pd_error_set(reterr, -errno, "state file '%s': %s", name, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return events_set_aside(s, name, "not a regular file", reterr);
    r = read_fd_full(fd, STATE_JSON_MAX, &buf, &size);
    if (r == -EFBIG)
        return events_set_aside(s, name, "too large", reterr);
    if (r < 0)
        return pd_error_set(reterr, r, "state file '%s': %s", name, strerror(-r));
    r = state_events_parse(buf, size, max, ret, &why);
    if (r == -EBADMSG)
        return events_set_aside(s, name, why.message, reterr);
    if (r < 0)
        return pd_error_set(reterr, r, "state file '%s': %s", name, why.message);
    return 0;
}

int state_store_load_events(StateStore *s, size_t max, StateEvents *ret, PdError *reterr)
{
    int r;

    if (!s || !ret)
        return pd_error_set(reterr, -EINVAL, "state: invalid arguments");
    r = events_load_file(s, STATE_EVENTS_FILE, max, ret, reterr);
    if (r != -ENOENT)
        return r;
    /* An older podd's file: read, and replaced by a journal at the first write. */
    r = events_load_file(s, STATE_EVENTS_OLD_FILE, max, ret, reterr);
    if (r >= 0)
        ret->appendable = false;
    return r;
}
