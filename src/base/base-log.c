/* SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>

#include "base.h"

static int max_level = LOG_LEVEL_INFO;

static const char *const level_names[] = {
    [LOG_LEVEL_ERR] = "err",   [LOG_LEVEL_WARNING] = "warning", [LOG_LEVEL_NOTICE] = "notice",
    [LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug",
};

void log_set_max_level(int level)
{
    max_level = level;
}

int log_get_max_level(void)
{
    return max_level;
}

int log_level_from_string(const char *s)
{
    for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
        if (level_names[i] && streq(level_names[i], s))
            return (int)i;
    if (streq(s, "error"))
        return LOG_LEVEL_ERR;
    return -EINVAL;
}

/* journald sets JOURNAL_STREAM to "dev:ino" of our stderr; then <N> prefixes carry the level. */
static bool stderr_is_journal(void)
{
    const char *e = getenv("JOURNAL_STREAM");
    struct stat st;
    unsigned long long dev, ino;

    if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
        return false;
    if (fstat(STDERR_FILENO, &st) < 0)
        return false;
    return st.st_dev == dev && st.st_ino == ino;
}

int log_internal(int level, int error, const char *fmt, ...)
{
    char raw[2048], buf[4096];
    va_list ap;
    int saved = errno;

    if (level > max_level)
        return error == 0 ? 0 : -abs(error);
    va_start(ap, fmt);
    (void)vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    /*
     * Here, not in each caller: names, paths and messages from manifests,
     * requests and containers end up in log lines, and one newline in them
     * would make a line of its own that reads like podd's.
     */
    (void)str_escape_untrusted(raw, buf, sizeof(buf));
    if (stderr_is_journal())
        (void)fprintf(stderr, "<%d>", level);
    if (error != 0)
        (void)fprintf(stderr, "%s: %s\n", buf, strerror(abs(error)));
    else
        (void)fprintf(stderr, "%s\n", buf);
    errno = saved;
    return error == 0 ? 0 : -abs(error);
}

static char armed_failpoint[64];
/* failpoint_error() fails once per arming, whichever thread passes it first. */
static atomic_bool failpoint_spent;

void failpoint_arm(const char *name)
{
    (void)snprintf(armed_failpoint, sizeof(armed_failpoint), "%s", name ? name : "");
    atomic_store(&failpoint_spent, false);
}

int failpoint_error(const char *name, int error)
{
    if (!armed_failpoint[0] || !streq(armed_failpoint, name) ||
        atomic_exchange(&failpoint_spent, true))
        return 0;
    log_notice("failpoint %s reached: %s", name, strerror(-error));
    return error;
}

void failpoint(const char *name)
{
    if (!armed_failpoint[0] || !streq(armed_failpoint, name))
        return;
    log_notice("failpoint %s reached: SIGKILL", name);
    (void)raise(SIGKILL);
}
