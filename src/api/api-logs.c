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

static bool take_digits(const char **p, const char *end, int n, int *ret)
{
    int v = 0;

    for (int i = 0; i < n; i++, (*p)++) {
        if (*p >= end || **p < '0' || **p > '9')
            return false;
        v = v * 10 + (**p - '0');
    }
    *ret = v;
    return true;
}

static bool take_char(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c)
        return false;
    (*p)++;
    return true;
}

int api_log_time_parse(const char *s, size_t len, uint64_t *ret_usec)
{
    const char *p = s, *end = s + len;
    struct tm tm = {0};
    int64_t usec = 0, scale = 100000, offset = 0;
    int oh, om;
    time_t t;

    if (!take_digits(&p, end, 4, &tm.tm_year) || !take_char(&p, end, '-') ||
        !take_digits(&p, end, 2, &tm.tm_mon) || !take_char(&p, end, '-') ||
        !take_digits(&p, end, 2, &tm.tm_mday) || !take_char(&p, end, 'T') ||
        !take_digits(&p, end, 2, &tm.tm_hour) || !take_char(&p, end, ':') ||
        !take_digits(&p, end, 2, &tm.tm_min) || !take_char(&p, end, ':') ||
        !take_digits(&p, end, 2, &tm.tm_sec))
        return -EINVAL;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -EINVAL;
    if (take_char(&p, end, '.')) {
        if (p >= end || *p < '0' || *p > '9')
            return -EINVAL;
        for (; p < end && *p >= '0' && *p <= '9'; p++, scale /= 10)
            usec += (*p - '0') * scale;
    }
    if (take_char(&p, end, 'Z') || take_char(&p, end, 'z'))
        ;
    else if (p < end && (*p == '+' || *p == '-')) {
        char sign = *p++;

        if (!take_digits(&p, end, 2, &oh) || !take_char(&p, end, ':') ||
            !take_digits(&p, end, 2, &om))
            return -EINVAL;
        offset = (oh * 3600 + om * 60) * (sign == '-' ? -1 : 1);
    } else
        return -EINVAL;
    if (p != end)
        return -EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    t = timegm(&tm);
    if (t == (time_t)-1 || t - offset < 0)
        return -EINVAL;
    *ret_usec = (uint64_t)(t - offset) * 1000000u + (uint64_t)usec;
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
