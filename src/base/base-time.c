/* SPDX-License-Identifier: Apache-2.0 */
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

/* "YYYY-MM-DDTHH:MM:SS" of sec in UTC into date ("" for a time gmtime() cannot break down). */
static void format_date_time(time_t sec, char date[static 32])
{
    struct tm tm;

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
