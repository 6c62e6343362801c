/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <time.h>

#include "api.h"

/*
 * CRI log lines, as podd-monitor writes them and both ends of the logs
 * operation read them: the daemon filters by time, podctl joins partial
 * lines.
 */

static const char *span_next(const char *p, const char *end, char sep)
{
    return memchr(p, sep, (size_t)(end - p));
}

int api_log_line_parse(const char *line, size_t len, ApiLogLine *ret)
{
    const char *end = line + len, *sp1, *sp2;

    sp1 = span_next(line, end, ' ');
    if (!sp1 || sp1 == line)
        return -EBADMSG;
    sp2 = span_next(sp1 + 1, end, ' ');
    if (!sp2 || sp2 == sp1 + 1)
        return -EBADMSG;
    /* The tag: "F" or "P", followed by a space unless the text is empty. */
    if (sp2 + 1 >= end || (sp2[1] != 'F' && sp2[1] != 'P') || (sp2 + 2 < end && sp2[2] != ' '))
        return -EBADMSG;
    *ret = (ApiLogLine){
        .time = line,
        .time_len = (size_t)(sp1 - line),
        .stream = sp1 + 1,
        .stream_len = (size_t)(sp2 - sp1 - 1),
        .partial = sp2[1] == 'P',
        .text = sp2 + 2 < end ? sp2 + 3 : end,
        .text_len = sp2 + 2 < end ? (size_t)(end - sp2 - 3) : 0,
    };
    return 0;
}

int api_log_join_feed(ApiLogJoin *j, const char *line, size_t len, const char **ret_time,
                      const char **ret_text)
{
    ApiLogLine l;
    int r;

    r = api_log_line_parse(line, len, &l);
    if (r < 0)
        return r;
    if (!j->pending) {
        j->text.len = 0;
        (void)snprintf(j->time, sizeof(j->time), "%.*s", (int)l.time_len, l.time);
    }
    /* strbuf_append keeps the buffer NUL-terminated, even for an empty text. */
    if (strbuf_append(&j->text, l.text, l.text_len) < 0)
        return -ENOMEM;
    j->pending = l.partial;
    if (l.partial)
        return 0;
    *ret_time = j->time;
    *ret_text = j->text.data;
    return 1;
}

int api_log_join_flush(ApiLogJoin *j, const char **ret_time, const char **ret_text)
{
    if (!j->pending)
        return 0;
    j->pending = false;
    *ret_time = j->time;
    *ret_text = j->text.data;
    return 1;
}

void api_log_join_done(ApiLogJoin *j)
{
    strbuf_done(&j->text);
    *j = (ApiLogJoin){0};
}
