/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "base.h"

uint64_t now_monotonic_usec(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t now_realtime_usec(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * "YYYY-MM-DDTHH:MM:SS" of sec in UTC into date ("" for a time gmtime() cannot
 * break down). From 1970 to 9999 the civil date is computed here (days to
 * year, month and day as in Howard Hinnant's days_from_civil, inverted):
 * glibc's gmtime_r() and strftime() read /etc/localtime on their first call,
 * seven system calls that podd-monitor would make twice per start, once
 * on its exit path.
 */
static void format_date_time(time_t sec, char date[static 32])
{
    struct tm tm;

    if (sec >= 0 && sec < INT64_C(253402300800)) {
        uint64_t days = (uint64_t)sec / 86400 + 719468, rem = (uint64_t)sec % 86400;
        uint64_t era = days / 146097, doe = days % 146097;
        uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
        uint64_t day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
        uint64_t year = yoe + era * 400 + (month <= 2);

        (void)snprintf(date, 32, "%04u-%02u-%02uT%02u:%02u:%02u", (unsigned)(year % 10000),
                       (unsigned)(month % 100), (unsigned)(day % 100), (unsigned)(rem / 3600 % 100),
                       (unsigned)(rem / 60 % 60), (unsigned)(rem % 60));
        return;
    }
    if (!gmtime_r(&sec, &tm) || strftime(date, 32, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        date[0] = 0;
}

char *format_rfc3339(uint64_t realtime_usec, char *buf, size_t size)
{
    char date[32];

    format_date_time((time_t)(realtime_usec / 1000000u), date);
    (void)snprintf(buf, size, "%sZ", date);
    return buf;
}

char *format_rfc3339_nano(const struct timespec *ts, char *buf, size_t size)
{
    char date[32];

    format_date_time(ts->tv_sec, date);
    (void)snprintf(buf, size, "%s.%09ldZ", date, (long)ts->tv_nsec);
    return buf;
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

int parse_rfc3339(const char *s, size_t len, uint64_t *ret_usec)
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

uint64_t rfc3339_to_monotonic(const char *s)
{
    uint64_t then, now_real = now_realtime_usec(), now_mono = now_monotonic_usec();

    if (!s || parse_rfc3339(s, strlen(s), &then) < 0)
        return 0;
    then -= then % 1000000u;
    if (then > now_real || now_real - then >= now_mono)
        return 0;
    return now_mono - (now_real - then);
}
