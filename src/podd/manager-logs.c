/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "api/api.h"
#include "manager-internal.h"

/*
 * Container logs for the API. podd-monitor appends CRI lines to
 * <log-dir>/<namespace>_<pod>/<container>.log and renames it to .log.1
 * when it reaches its size limit (runtime-log.c); every run of a container
 * appends to the same file. So a position in the log is a file and a byte
 * offset in it. A file is told from the other by its inode, which a rename
 * keeps: an offset is TAG << 40 | BYTE, TAG being derived from the inode
 * (never 0), and a reader that held a position in .log finds it again in
 * .log.1 after a rotation. An offset whose file is gone (rotated twice)
 * restarts at the oldest file there is: some lines were lost, none is
 * shown twice.
 *
 * Everything here reads at most API_LOGS_MAX_BYTES (plus two fstat and
 * opens) per call: it runs on the daemon's loop.
 */

#define LOG_POS_BITS 40
#define LOG_POS_MASK ((UINT64_C(1) << LOG_POS_BITS) - 1)
#define LOG_TAG_MOD ((UINT32_C(1) << 23) - 1)

enum { LOG_OLD, LOG_CUR, _LOG_FILES };
static const char *const log_suffix[_LOG_FILES] = {".log.1", ".log"};

static uint32_t log_tag(ino_t ino)
{
    return (uint32_t)(ino % LOG_TAG_MOD) + 1;
}

static uint64_t log_offset(uint32_t tag, uint64_t pos)
{
    return (uint64_t)tag << LOG_POS_BITS | (pos & LOG_POS_MASK);
}

static uint32_t log_offset_tag(uint64_t off)
{
    return (uint32_t)(off >> LOG_POS_BITS);
}

/* The two files of one container's log; fd -1 where a file does not exist. */
typedef struct LogFiles {
    int fd[_LOG_FILES];
    uint32_t tag[_LOG_FILES];
    uint64_t size[_LOG_FILES];
    char name[_LOG_FILES][300];
} LogFiles;

static void log_files_done(LogFiles *lf)
{
    for (int k = 0; k < _LOG_FILES; k++)
        if (lf->fd[k] >= 0)
            (void)close(lf->fd[k]);
}

/* The directory of pr's logs: namespace and pod name are validated DNS labels. */
static int log_dir_open(const PodRec *pr)
{
    _cleanup_free_ char *dir =
        strdup_printf("%s/%s_%s", pr->m->cfg.log_dir, pr->namespace, pr->name);
    int fd;

    if (!dir)
        return -ENOMEM;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* Opens what exists of c's log: only regular files, never through a symlink. */
static void log_files_open(const Ctr *c, LogFiles *lf)
{
    _cleanup_close_ int dir_fd = -1;
    struct stat st;

    for (int k = 0; k < _LOG_FILES; k++) {
        lf->fd[k] = -1;
        lf->tag[k] = 0;
        lf->size[k] = 0;
        (void)snprintf(lf->name[k], sizeof(lf->name[k]), "%s%s", c->name, log_suffix[k]);
    }
    dir_fd = log_dir_open(c->pod);
    if (dir_fd < 0)
        return;
    /*
     * The current file first: a rotation between the two opens then shows
     * one file twice (dropped below), never a file we did not open.
     */
    for (int k = _LOG_FILES - 1; k >= 0; k--) {
        int fd = openat(dir_fd, lf->name[k], O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

        if (fd < 0)
            continue;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            (void)close(fd);
            continue;
        }
        lf->fd[k] = fd;
        lf->tag[k] = log_tag(st.st_ino);
        lf->size[k] = (uint64_t)st.st_size;
    }
    if (lf->fd[LOG_OLD] >= 0 && lf->fd[LOG_CUR] >= 0 && lf->tag[LOG_OLD] == lf->tag[LOG_CUR]) {
        (void)close(lf->fd[LOG_OLD]);
        lf->fd[LOG_OLD] = -1;
    }
}

char *ctr_log_path(const Ctr *c)
{
    return strdup_printf("%s/%s_%s/%s.log", c->pod->m->cfg.log_dir, c->pod->namespace, c->pod->name,
                         c->name);
}

uint64_t ctr_log_position(const Ctr *c)
{
    _cleanup_close_ int dir_fd = log_dir_open(c->pod);
    char name[300];
    struct stat st;

    /*
     * Of the files log_files_open() would open, only the current one
     * counts: a look at it is enough (no symlink, a regular file). No log
     * yet: 0 matches no file, which reads from the oldest one, as it should.
     */
    (void)snprintf(name, sizeof(name), "%s%s", c->name, log_suffix[LOG_CUR]);
    if (dir_fd < 0 || fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
        return 0;
    return log_offset(log_tag(st.st_ino), (uint64_t)st.st_size);
}

void ctr_log_mark_run(Ctr *c, uint64_t position)
{
    c->log_prev_start = c->log_run_start;
    c->has_log_prev = c->has_log_run;
    c->log_run_start = position;
    c->has_log_run = true;
}

int ctr_log_marks_to_json(const Ctr *c, json_t *cj)
{
    if (c->has_log_run &&
        json_object_set_new(cj, "logRunStart", json_integer((json_int_t)c->log_run_start)) < 0)
        return -ENOMEM;
    if (c->has_log_prev &&
        json_object_set_new(cj, "logPrevStart", json_integer((json_int_t)c->log_prev_start)) < 0)
        return -ENOMEM;
    return 0;
}

void ctr_log_marks_from_json(Ctr *c, const json_t *cj)
{
    const json_t *run = json_object_get(cj, "logRunStart");
    const json_t *prev = json_object_get(cj, "logPrevStart");

    c->has_log_run = json_is_integer(run) && json_integer_value(run) >= 0;
    c->log_run_start = c->has_log_run ? (uint64_t)json_integer_value(run) : 0;
    c->has_log_prev = json_is_integer(prev) && json_integer_value(prev) >= 0;
    c->log_prev_start = c->has_log_prev ? (uint64_t)json_integer_value(prev) : 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

/* A place in the log: which file, which byte. */
typedef struct LogPos {
    int file;
    uint64_t pos;
} LogPos;

static bool log_pos_before(LogPos a, LogPos b)
{
    return a.file < b.file || (a.file == b.file && a.pos < b.pos);
}

/* Where offset points, if one of the files is its file. */
static bool log_find(const LogFiles *lf, uint64_t off, LogPos *ret)
{
    for (int k = 0; k < _LOG_FILES; k++)
        if (lf->fd[k] >= 0 && lf->tag[k] == log_offset_tag(off)) {
            uint64_t pos = off & LOG_POS_MASK;

            *ret = (LogPos){k, pos < lf->size[k] ? pos : lf->size[k]};
            return true;
        }
    return false;
}

static LogPos log_oldest(const LogFiles *lf)
{
    return (LogPos){lf->fd[LOG_OLD] >= 0 ? LOG_OLD : LOG_CUR, 0};
}

static LogPos log_end(const LogFiles *lf)
{
    if (lf->fd[LOG_CUR] >= 0)
        return (LogPos){LOG_CUR, lf->size[LOG_CUR]};
    return (LogPos){LOG_OLD, lf->fd[LOG_OLD] >= 0 ? lf->size[LOG_OLD] : 0};
}

/* Moves from back toward the end of a file that was read to its end. */
static LogPos log_normalize(const LogFiles *lf, LogPos p, LogPos end)
{
    if (p.file == LOG_OLD && log_pos_before(p, end) && p.pos >= lf->size[LOG_OLD])
        return (LogPos){LOG_CUR, 0};
    return p;
}

/* The start of a window of at most budget bytes before end, but not before start. */
static LogPos log_back(const LogFiles *lf, LogPos start, LogPos end, uint64_t budget)
{
    LogPos p = end;

    if (p.pos >= budget)
        p.pos -= budget;
    else if (p.file == LOG_CUR && lf->fd[LOG_OLD] >= 0) {
        budget -= p.pos;
        p = (LogPos){LOG_OLD, lf->size[LOG_OLD] > budget ? lf->size[LOG_OLD] - budget : 0};
    } else
        p.pos = 0;
    return log_pos_before(p, start) ? start : p;
}

/* Valid UTF-8 as it is; else each byte that does not fit becomes U+FFFD. */
static json_t *json_text(const char *s, size_t len)
{
    _cleanup_(strbuf_done) StrBuf b = {0};
    json_t *j = json_stringn(s, len);

    if (j)
        return j;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80             ? 1
                   : (c & 0xe0) == 0xc0 ? 2
                   : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0 ? 4
                                        : 0;
        json_t *one = n > 1 && i + n <= len ? json_stringn(s + i, n) : NULL;

        if (n == 1 || one) {
            json_decref(one);
            if (strbuf_append(&b, s + i, n) < 0)
                return NULL;
            i += n;
            continue;
        }
        if (strbuf_append(&b, "\xef\xbf\xbd", 3) < 0)
            return NULL;
        i++;
    }
    return json_stringn(b.data ? b.data : "", b.len);
}

/* What one call gathers. */
typedef struct LogRead {
    json_t *lines;
    LogPos next;   /* after the last whole line read */
    bool more;     /* the budget ended the read before end */
    bool skip_cut; /* the window starts inside a line: drop up to its newline */
    uint64_t since_usec;
} LogRead;

static bool line_wanted(const LogRead *rd, const char *line, size_t len)
{
    ApiLogLine l;
    uint64_t t;

    if (rd->since_usec == 0)
        return true;
    /* A line without a readable time is shown rather than lost. */
    if (api_log_line_parse(line, len, &l) < 0 || parse_rfc3339(l.time, l.time_len, &t) < 0)
        return true;
    return t >= rd->since_usec;
}

/* Splits buf into lines; returns the bytes used (up to the last newline). */
static size_t log_take_lines(LogRead *rd, const char *buf, size_t n, bool whole)
{
    size_t used = 0;

    while (used < n) {
        const char *nl = memchr(buf + used, '\n', n - used);
        size_t len;

        if (!nl) {
            /* Only a line longer than the whole budget is cut: it cannot wait for its end. */
            if (!whole || used > 0)
                break;
            nl = buf + n;
        }
        len = (size_t)(nl - (buf + used));
        if (rd->skip_cut)
            rd->skip_cut = false;
        else if (line_wanted(rd, buf + used, len) &&
                 json_array_append_new(rd->lines, json_text(buf + used, len)) < 0)
            return used;
        used += len + (nl < buf + n ? 1 : 0);
    }
    return used;
}

/* Reads [from, end) into rd, at most budget bytes. Returns 0 or -errno. */
static int log_read_range(const LogFiles *lf, LogPos from, LogPos end, LogRead *rd, uint64_t budget)
{
    _cleanup_free_ char *buf = NULL;
    LogPos p = log_normalize(lf, from, end);

    buf = malloc(budget);
    if (!buf)
        return -ENOMEM;
    rd->next = p;
    while (log_pos_before(p, end) && lf->fd[p.file] >= 0) {
        uint64_t left = (p.file == end.file ? end.pos : lf->size[p.file]) - p.pos;
        size_t want = (size_t)(left < budget ? left : budget), used;
        ssize_t n;

        if (budget == 0) {
            rd->more = true;
            break;
        }
        n = pread(lf->fd[p.file], buf, want, (off_t)p.pos);
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        used = log_take_lines(rd, buf, (size_t)n, (size_t)n == API_LOGS_MAX_BYTES);
        if (used == 0) {
            /* A line the budget cut: more. The log's unfinished last line: not yet. */
            rd->more = (uint64_t)n < left;
            break;
        }
        budget -= used;
        p.pos += used;
        p = log_normalize(lf, p, end);
        rd->next = p;
    }
    return 0;
}

/* Keeps the last tail lines; a run of partial lines counts as the one line it makes. */
static void log_keep_tail(json_t *lines, uint64_t tail)
{
    size_t n = json_array_size(lines), keep_from = n, whole = 0;

    for (size_t i = n; i > 0; i--) {
        const char *s = json_string_value(json_array_get(lines, i - 1));
        ApiLogLine l;
        bool partial = api_log_line_parse(s, strlen(s), &l) == 0 && l.partial;

        if (!partial && whole++ == tail)
            break;
        keep_from = i - 1;
    }
    while (keep_from-- > 0)
        (void)json_array_remove(lines, 0);
}

/* ---- the operation ------------------------------------------------------------------------ */

static const Ctr *logs_pick_container(const PodRec *pr, const char *name, PdError *reterr)
{
    _cleanup_(strbuf_done) StrBuf all = {0};
    const Ctr *only = NULL;
    size_t n_regular = 0;

    for (size_t i = 0; i < pr->n_ctrs; i++) {
        const Ctr *c = &pr->ctrs[i];

        if (c->life.goal == CTR_GOAL_REMOVE)
            continue;
        if (name && streq(c->name, name))
            return c;
        if (c->life.kind == CONTAINER_KIND_REGULAR) {
            only = c;
            n_regular++;
        }
    }
    if (name)
        return pd_error_set(reterr, -ENOENT, "container '%s' is not valid for pod '%s'", name,
                            pr->name),
               NULL;
    if (n_regular == 1)
        return only;
    /* kubectl's order: the containers, then the init containers and sidecars. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < pr->n_ctrs; i++) {
            const Ctr *c = &pr->ctrs[i];

            if (c->life.goal == CTR_GOAL_REMOVE ||
                (c->life.kind == CONTAINER_KIND_REGULAR) != (pass == 0))
                continue;
            (void)strbuf_printf(&all, "%s%s", all.len ? ", " : "", c->name);
        }
    (void)pd_error_set(reterr, -EINVAL, "a container name is required: one of [%s]",
                       all.data ? all.data : "");
    return NULL;
}

static uint64_t arg_uint(const json_t *args, const char *key, bool *ret_set)
{
    const json_t *v = json_object_get(args, key);

    *ret_set = json_is_integer(v) && json_integer_value(v) >= 0;
    return *ret_set ? (uint64_t)json_integer_value(v) : 0;
}

json_t *manager_logs(const Manager *m, const char *name, const json_t *args, PdError *reterr)
{
    _cleanup_(log_files_done) LogFiles lf = {.fd = {-1, -1}};
    _cleanup_json_ json_t *lines = json_array();
    bool previous = json_is_true(json_object_get(args, "previous"));
    bool has_offset, has_tail, has_since;
    uint64_t offset = arg_uint(args, "offset", &has_offset);
    uint64_t tail = arg_uint(args, "tail", &has_tail);
    uint64_t since = arg_uint(args, "sinceSeconds", &has_since);
    const PodRec *pr = manager_find_pod(m, name);
    LogRead rd = {0};
    LogPos from, end;
    const Ctr *c;
    int r;

    if (!lines)
        return pd_error_set(reterr, -ENOMEM, "out of memory"), NULL;
    if (!pr)
        return pd_error_set(reterr, -ENOENT, "pod '%s' not found", name), NULL;
    c = logs_pick_container(pr, json_string_value(json_object_get(args, "container")), reterr);
    if (!c)
        return NULL;
    if (previous && !c->has_log_prev)
        return pd_error_set(reterr, -ENOENT,
                            "previous terminated container '%s' in pod '%s' not found", c->name,
                            pr->name),
               NULL;
    log_files_open(c, &lf);
    end = log_end(&lf);
    from = log_oldest(&lf);
    if (previous) {
        /*
         * The previous run is [its start, the current run's start). Where its
         * start was rotated away, it begins in the oldest file left (.log.1).
         * Where the current run's start is gone too, the current run alone
         * filled more than a whole file and nothing of the previous is left.
         */
        if (!log_find(&lf, c->log_run_start, &end))
            end = log_oldest(&lf);
        if (!log_find(&lf, c->log_prev_start, &from))
            from = log_oldest(&lf);
    }
    if (has_offset && !log_find(&lf, offset, &from))
        from = log_oldest(&lf);
    if (has_since)
        rd.since_usec = now_realtime_usec() - since * 1000000u;
    if (has_tail && !has_offset) {
        LogPos w = log_back(&lf, from, end, API_LOGS_MAX_BYTES);

        /* The window may start inside a line: that line is not whole, drop it. */
        rd.skip_cut = log_pos_before(from, w) && w.pos > 0;
        from = w;
    }
    rd.lines = lines;
    r = log_read_range(&lf, from, end, &rd, API_LOGS_MAX_BYTES);
    if (r < 0)
        return pd_error_set(reterr, r, "cannot read the log of container '%s': %s", c->name,
                            strerror(-r)),
               NULL;
    if (has_tail && !has_offset)
        log_keep_tail(lines, tail);
    return json_pack("{s:s,s:O,s:I,s:s,s:b,s:b}", "container", c->name, "lines", lines, "offset",
                     (json_int_t)(lf.fd[rd.next.file] >= 0
                                      ? log_offset(lf.tag[rd.next.file], rd.next.pos)
                                  : has_offset ? offset
                                               : 0),
                     "file", lf.fd[rd.next.file] >= 0 ? lf.name[rd.next.file] : "", "running",
                     !previous && ctr_state_shows_running(c->life.state), "more", rd.more);
}
