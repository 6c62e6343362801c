/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * base: the libc-only helpers every other module builds on: cleanup
 * attributes, the PdError convention, logging, string vectors and
 * string tables, small string and number helpers, whole-file reads,
 * atomic writes and tree removal, RFC 3339 times, content hashes.
 * Nothing here logs above debug except the log functions themselves.
 */

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ---- cleanup and ownership ---------------------------------------------- */

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

static inline void freep(void *p)
{
    free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        (void)close(*fd);
        errno = saved;
    }
}
#define _cleanup_close_ _cleanup_(closep)

/* jansson >= 2.11 provides json_decrefp(). */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* Declares type_freep() for use with _cleanup_(type_freep). */
#define DEFINE_CLEANUP_FUNC(type, func)                                                            \
    static inline void func##p(type **p)                                                           \
    {                                                                                              \
        if (*p)                                                                                    \
            func(*p);                                                                              \
    }

/* Returns the pointer and resets the source to NULL: ownership moves. */
#define move_ptr(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _moved = (p);                                                                \
        (p) = NULL;                                                                                \
        _moved;                                                                                    \
    })

/* Returns the fd and resets the source to -1. */
#define move_fd(fd)                                                                                \
    ({                                                                                             \
        int _moved = (fd);                                                                         \
        (fd) = -1;                                                                                 \
        _moved;                                                                                    \
    })

#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)

/* ---- errors ----------------------------------------------------------------- */

/*
 * PdError carries where and why for the user. Building one never allocates:
 * the message lives in a fixed buffer. A function that takes a PdError
 * *reterr writes it only on failure, and reterr may be NULL.
 */
#define PD_ERROR_MESSAGE_MAX 1024
#define PD_ERROR_FILE_MAX 512

typedef struct PdError {
    int code;                     /* negative errno */
    char file[PD_ERROR_FILE_MAX]; /* "" when not about a file */
    unsigned line, column;        /* 1-based; 0 when unknown */
    char message[PD_ERROR_MESSAGE_MAX];
} PdError;

/* Sets code and message (printf style); returns code. */
int pd_error_set(PdError *e, int code, const char *fmt, ...) _printf_(3, 4);
/* Sets code, position and message; returns code. */
int pd_error_set_at(PdError *e, int code, unsigned line, unsigned column, const char *fmt, ...)
    _printf_(5, 6);
/* Prepends "prefix: " to the message, sets code if no message yet; returns code. */
int pd_error_prefix(PdError *e, int code, const char *fmt, ...) _printf_(3, 4);
/* Records the file the error is about, when none is recorded yet. */
void pd_error_set_file(PdError *e, const char *file);
/* Formats "file:line:col: message" (parts that are unknown are left out). */
void pd_error_format(const PdError *e, char *buf, size_t size);

/* ---- logging ---------------------------------------------------------------- */

/* syslog levels */
enum {
    LOG_LEVEL_ERR = 3,
    LOG_LEVEL_WARNING = 4,
    LOG_LEVEL_NOTICE = 5,
    LOG_LEVEL_INFO = 6,
    LOG_LEVEL_DEBUG = 7,
};

void log_set_max_level(int level);
int log_get_max_level(void);
/* Parses "err", "warning", "notice", "info", "debug"; returns the level or -EINVAL. */
int log_level_from_string(const char *s);
/* Logs to stderr (with <N> prefixes when stderr is the journal); returns -abs(error) or 0. */
int log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_error(...) (void)log_internal(LOG_LEVEL_ERR, 0, __VA_ARGS__)
#define log_warning(...) (void)log_internal(LOG_LEVEL_WARNING, 0, __VA_ARGS__)
#define log_notice(...) (void)log_internal(LOG_LEVEL_NOTICE, 0, __VA_ARGS__)
#define log_info(...) (void)log_internal(LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define log_debug(...) (void)log_internal(LOG_LEVEL_DEBUG, 0, __VA_ARGS__)
#define log_error_errno(r, ...) log_internal(LOG_LEVEL_ERR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) log_internal(LOG_LEVEL_WARNING, (r), __VA_ARGS__)
#define log_debug_errno(r, ...) log_internal(LOG_LEVEL_DEBUG, (r), __VA_ARGS__)

/*
 * Failpoints, a testing aid: failpoint_arm(name) (NULL or "" disarms) makes
 * the process log "failpoint NAME reached" and kill itself with SIGKILL the
 * first time it passes failpoint(NAME), as a crash at that step would. podd
 * arms the one PODD_FAILPOINT names. Unarmed, failpoint() is a string compare.
 */
void failpoint_arm(const char *name);
void failpoint(const char *name);
/*
 * A failpoint that fails a step instead: returns error (a -errno), logging
 * "failpoint NAME reached", the first time any thread passes
 * failpoint_error(NAME) after failpoint_arm(NAME); 0 otherwise.
 */
int failpoint_error(const char *name, int error);

/* ---- strings ------------------------------------------------------------------ */

/* NULL-terminated string vectors; strv_free() frees every element and the vector. */
char **strv_free(char **l);
DEFINE_CLEANUP_FUNC(char *, strv_free)
size_t strv_length(char *const *l);
/* Appends a copy of s; returns 0 or -ENOMEM. */
int strv_extend(char ***l, const char *s);
/* Appends s itself (takes ownership of s on every path); returns 0 or -ENOMEM. */
int strv_push_take(char ***l, char *s);
bool strv_contains(char *const *l, const char *s);
/* Deep copy; NULL on allocation failure (a NULL input gives NULL with errno 0). */
char **strv_copy(char *const *l);

/* Like asprintf, but returns the string or NULL. */
char *strdup_printf(const char *fmt, ...) _printf_(1, 2);
bool startswith(const char *s, const char *prefix);
bool endswith(const char *s, const char *suffix);
/* Levenshtein distance between a and b, capped at cap+1 (cheap early exit). */
unsigned string_distance(const char *a, const char *b, unsigned cap);

/*
 * Copies s into buf (size > 0, always NUL-terminated) with what could forge
 * or disguise a line escaped, for text from outside shown in a log line or
 * an event: C0 and C1 controls and DEL (\n, \r, \t, else \xNN or \u00NN),
 * the bidirectional formatting characters U+061C, U+200E, U+200F,
 * U+202A..U+202E and U+2066..U+2069 and the separators U+2028, U+2029 (as
 * \uNNNN), and bytes that are not UTF-8 (\xNN). Other text, backslashes
 * included, is kept. Truncates at a character boundary. Returns buf.
 */
char *str_escape_untrusted(const char *s, char *buf, size_t size);

/* Growable byte buffer for building output. */
typedef struct StrBuf {
    char *data;
    size_t len, cap;
} StrBuf;
int strbuf_append(StrBuf *b, const char *s, size_t n);
int strbuf_printf(StrBuf *b, const char *fmt, ...) _printf_(2, 3);
/*
 * Appends s as a JSON string: in quotes, '"' and '\\' escaped with a
 * backslash, bytes below 0x20 as \u00XX, all other bytes as they are (the
 * caller's text is UTF-8). For JSON written without jansson. 0 or -ENOMEM.
 */
int strbuf_append_json_string(StrBuf *b, const char *s);
/* Cuts b back to its first len bytes (len <= b->len): what a failed append left goes. */
void strbuf_truncate(StrBuf *b, size_t len);
void strbuf_done(StrBuf *b);

/*
 * Immutable bytes shared between threads, with one atomic reference count:
 * made and changed by nobody after shared_text_new(), read by any thread
 * that holds a reference. data is NUL-terminated after len bytes.
 */
typedef struct SharedText SharedText;
/* A copy of the len bytes at data, with one reference; NULL on -ENOMEM. */
SharedText *shared_text_new(const char *data, size_t len);
/* Takes ownership of data (malloc'ed, NUL-terminated at len); frees it on -ENOMEM. */
SharedText *shared_text_take(char *data, size_t len);
SharedText *shared_text_ref(SharedText *t);
/* Drops a reference, from any thread; the last one frees. Accepts NULL; returns NULL. */
SharedText *shared_text_unref(SharedText *t);
DEFINE_CLEANUP_FUNC(SharedText, shared_text_unref)
const char *shared_text_data(const SharedText *t);
size_t shared_text_len(const SharedText *t);

/* ---- string tables ------------------------------------------------------------ */

/*
 * DEFINE_STRING_TABLE(name, Type, MAX, [VALUE] = "string", ...) defines the
 * table name_table and name_to_string(), which returns NULL for a value
 * outside [0, MAX) or one without a string. DEFINE_STRING_TABLE_FROM(name,
 * Type, MAX, INVALID) then defines name_from_string() over the same table:
 * the value whose string equals s, INVALID for NULL or an unknown string.
 * The PRIVATE forms make the functions static (and silent when unused).
 */
#define _DEFINE_STRING_TABLE(scope, name, type, max, ...)                                          \
    static const char *const name##_table[max] = {__VA_ARGS__};                                    \
    scope const char *name##_to_string(type v)                                                     \
    {                                                                                              \
        if ((int)v < 0 || (int)v >= (int)(max))                                                    \
            return NULL;                                                                           \
        return name##_table[v];                                                                    \
    }

#define _DEFINE_STRING_TABLE_FROM(scope, name, type, max, invalid)                                 \
    scope type name##_from_string(const char *s)                                                   \
    {                                                                                              \
        for (int i = 0; s && i < (int)(max); i++)                                                  \
            if (name##_table[i] && streq(name##_table[i], s))                                      \
                return (type)i;                                                                    \
        return invalid;                                                                            \
    }

#define DEFINE_STRING_TABLE(name, type, max, ...)                                                  \
    _DEFINE_STRING_TABLE(, name, type, max, __VA_ARGS__)
#define DEFINE_STRING_TABLE_FROM(name, type, max, invalid)                                         \
    _DEFINE_STRING_TABLE_FROM(, name, type, max, invalid)
#define DEFINE_PRIVATE_STRING_TABLE(name, type, max, ...)                                          \
    _DEFINE_STRING_TABLE(static _unused_, name, type, max, __VA_ARGS__)
#define DEFINE_PRIVATE_STRING_TABLE_FROM(name, type, max, invalid)                                 \
    _DEFINE_STRING_TABLE_FROM(static _unused_, name, type, max, invalid)

/* ---- numbers ------------------------------------------------------------------ */

/* Strict decimal parse of a whole string into int64 (no sign prefix '+', no spaces). */
int parse_int64(const char *s, int64_t *ret);

/* ---- files ---------------------------------------------------------------------- */

/*
 * Reads at most max bytes (+1 to detect "too large") from fd into a new
 * NUL-terminated buffer. Returns 0, -EFBIG when the file holds more than
 * max bytes, or -errno. The caller owns *ret.
 */
int read_fd_full(int fd, size_t max, char **ret, size_t *ret_size);
/* pread(2) until size bytes or the end of the file: the count read, or -errno. */
ssize_t pread_full(int fd, void *buf, size_t size, off_t off);
/* pwrite(2) until all size bytes are written at off: 0 or -errno. */
int pwrite_full(int fd, const void *buf, size_t size, off_t off);
/* write(2) until all size bytes are written: 0 or -errno. */
int write_full(int fd, const void *buf, size_t size);

typedef enum WriteFileFlags {
    /* fsync the file before the rename and its directory after it: the write survives a crash */
    WRITE_FILE_SYNC = 1 << 0,
} WriteFileFlags;

/*
 * Replaces dir_fd/path with data atomically: a reader sees the old file or
 * the new one, never a part. data goes to a temporary file ".#NAME.PID.tmp"
 * beside path (write_file_is_temp() tells such names), is written in full,
 * then renamed over path; with WRITE_FILE_SYNC the file is synced before the
 * rename and the directory after it. path may have directories in front of
 * its name; dir_fd may be AT_FDCWD. mode applies when the file is new.
 * Returns 0 or -errno; on failure before the rename the temporary is removed.
 */
int write_file_atomic(int dir_fd, const char *path, const void *data, size_t size, mode_t mode,
                      WriteFileFlags flags);
/* write_file_atomic() with WRITE_FILE_SYNC: for state that must survive a crash. */
static inline int write_file_atomic_at(int dir_fd, const char *name, const void *data, size_t size,
                                       mode_t mode)
{
    return write_file_atomic(dir_fd, name, data, size, mode, WRITE_FILE_SYNC);
}
/* True for the names write_file_atomic() gives its temporary files. */
bool write_file_is_temp(const char *name);

/*
 * Removes dir_fd/path and, when it is a directory, everything below it
 * (rm -r), never descending into another file system: a mount point below
 * path is left alone and reported as -EBUSY. Goes on past failures and
 * returns the first; a path that does not exist gives 0. dir_fd may be
 * AT_FDCWD.
 */
int rm_rf_at(int dir_fd, const char *path);

/*
 * Closes every fd from 3 up but the n in keep (each >= 3, in any order): what
 * a child keeps of its parent's descriptors before it runs something else.
 * Returns 0 or -errno.
 */
int close_fds_except(const int *keep, size_t n);

/* ---- time --------------------------------------------------------------------- */

/* Monotonic and realtime clocks in microseconds. */
uint64_t now_monotonic_usec(void);
uint64_t now_realtime_usec(void);

/* Room for either RFC 3339 form below, NUL included. */
#define RFC3339_MAX 40

/*
 * Formats a wall-clock time (microseconds since the epoch, as
 * now_realtime_usec() gives) in UTC at second resolution, as Kubernetes
 * renders times: "2026-11-22T10:36:01Z" (the fraction is dropped, not
 * rounded). size >= RFC3339_MAX always suffices. Returns buf.
 */
char *format_rfc3339(uint64_t realtime_usec, char *buf, size_t size);
/* The same with nanoseconds, "2026-11-22T10:36:01.123456789Z": CRI log lines, exit records. */
char *format_rfc3339_nano(const struct timespec *ts, char *buf, size_t size);
/*
 * Parses the len bytes at s (no NUL needed) as an RFC 3339 time:
 * "2026-11-22T10:00:00Z", with an optional fraction of any length (kept
 * to the microsecond) and 'Z', 'z' or a "+HH:MM"/"-HH:MM" offset. Sets
 * *ret_usec to microseconds since the epoch; returns 0, or -EINVAL (and
 * leaves *ret_usec) for anything else, trailing bytes, or a time before
 * the epoch.
 */
int parse_rfc3339(const char *s, size_t len, uint64_t *ret_usec);
/*
 * When the wall-clock time s ("2026-12-02T13:19:05Z", taken to the second,
 * as status times are written) was, as CLOCK_MONOTONIC usec; 0 when s is
 * NULL, unreadable, in the future or before the boot.
 */
uint64_t rfc3339_to_monotonic(const char *s);

/* ---- content hashes ------------------------------------------------------------ */

/* SHA-256 in lower-case hex, NUL included. */
#define CONTENT_HASH_MAX 65

/*
 * The identity of a spec or a file's content: SHA-256 (FIPS 180-4) of the
 * size bytes at data, in lower-case hex. Equal hashes mean equal content;
 * the value is stable across versions of podd, so it may be stored.
 */
void content_hash(const void *data, size_t size, char out[static CONTENT_HASH_MAX]);

/* The same, streamed: sha256_init(), sha256_update() for each piece, then sha256_final_hex(). */
typedef struct Sha256 {
    uint32_t h[8];
    uint64_t length; /* bytes so far */
    uint8_t buf[64];
    size_t n_buf;
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t size);
/* Ends s (it must be initialised again before another use) and writes the hex digest. */
void sha256_final_hex(Sha256 *s, char out[static CONTENT_HASH_MAX]);
/*
 * Whether sha256_update() uses the CPU's SHA instructions (x86-64 SHA extensions, where the
 * CPU has them: the default) or the portable code; tests check both. Returns the previous
 * setting. Not thread-safe: call it before threads start.
 */
bool sha256_set_accelerated(bool on);
