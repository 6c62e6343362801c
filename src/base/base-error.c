/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include "base.h"

_printf_(2, 0) static void error_vformat(PdError *e, const char *fmt, va_list ap)
{
    (void)vsnprintf(e->message, sizeof(e->message), fmt, ap);
}

int pd_error_set(PdError *e, int code, const char *fmt, ...)
{
    va_list ap;

    if (!e)
        return code;
    e->code = code;
    e->line = e->column = 0;
    e->file[0] = 0;
    va_start(ap, fmt);
    error_vformat(e, fmt, ap);
    va_end(ap);
    return code;
}

int pd_error_set_at(PdError *e, int code, unsigned line, unsigned column, const char *fmt, ...)
{
    va_list ap;

    if (!e)
        return code;
    e->code = code;
    e->file[0] = 0;
    e->line = line;
    e->column = column;
    va_start(ap, fmt);
    error_vformat(e, fmt, ap);
    va_end(ap);
    return code;
}

int pd_error_prefix(PdError *e, int code, const char *fmt, ...)
{
    char prefix[PD_ERROR_MESSAGE_MAX], old[PD_ERROR_MESSAGE_MAX];
    va_list ap;

    if (!e)
        return code;
    va_start(ap, fmt);
    (void)vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    if (e->code == 0) {
        /* Nothing was recorded below us: the prefix is the whole message. */
        e->code = code;
        (void)snprintf(e->message, sizeof(e->message), "%.500s: %.500s", prefix, strerror(-code));
        return code;
    }
    memcpy(old, e->message, sizeof(old));
    /* The newest context first; an over-long chain loses its tail, not its head. */
    (void)snprintf(e->message, sizeof(e->message), "%.400s: %.600s", prefix, old);
    return code;
}

void pd_error_set_file(PdError *e, const char *file)
{
    if (!e || e->file[0] || !file)
        return;
    (void)snprintf(e->file, sizeof(e->file), "%s", file);
}

void pd_error_format(const PdError *e, char *buf, size_t size)
{
    if (e->file[0] && e->line > 0)
        (void)snprintf(buf, size, "%s:%u:%u: %s", e->file, e->line, e->column, e->message);
    else if (e->file[0])
        (void)snprintf(buf, size, "%s: %s", e->file, e->message);
    else if (e->line > 0)
        (void)snprintf(buf, size, "%u:%u: %s", e->line, e->column, e->message);
    else
        (void)snprintf(buf, size, "%s", e->message);
}
