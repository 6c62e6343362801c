/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>

#include "base.h"

char **strv_free(char **l)
{
    if (!l)
        return NULL;
    for (char **i = l; *i; i++)
        free(*i);
    free(l);
    return NULL;
}

size_t strv_length(char *const *l)
{
    size_t n = 0;

    if (!l)
        return 0;
    while (l[n])
        n++;
    return n;
}

int strv_push_take(char ***l, char *s)
{
    size_t n = strv_length(*l);
    char **nl;

    if (!s)
        return -ENOMEM;
    nl = reallocarray(*l, n + 2, sizeof(char *));
    if (!nl) {
        free(s);
        return -ENOMEM;
    }
    nl[n] = s;
    nl[n + 1] = NULL;
    *l = nl;
    return 0;
}

int strv_extend(char ***l, const char *s)
{
    return strv_push_take(l, strdup(s));
}

bool strv_contains(char *const *l, const char *s)
{
    for (size_t i = 0; l && l[i]; i++)
        if (streq(l[i], s))
            return true;
    return false;
}

char **strv_copy(char *const *l)
{
    _cleanup_(strv_freep) char **c = NULL;
    size_t n = strv_length(l);

    errno = 0;
    if (!l)
        return NULL;
    c = calloc(n + 1, sizeof(char *));
    if (!c)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        c[i] = strdup(l[i]);
        if (!c[i])
            return NULL;
    }
    return move_ptr(c);
}

char *strdup_printf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int r;

    va_start(ap, fmt);
    r = vasprintf(&s, fmt, ap);
    va_end(ap);
    return r < 0 ? NULL : s;
}

bool startswith(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool endswith(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);

    return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

unsigned string_distance(const char *a, const char *b, unsigned cap)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned row[64 + 1];

    /* Suggestions are for field names; long strings are never "close". */
    if (la > 64 || lb > 64)
        return cap + 1;
    if ((la > lb ? la - lb : lb - la) > cap)
        return cap + 1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diag = row[0], best;

        row[0] = (unsigned)i;
        best = row[0];
        for (size_t j = 1; j <= lb; j++) {
            unsigned up = row[j];
            unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
            unsigned v = diag + cost;

            if (row[j] + 1 < v)
                v = row[j] + 1;
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
            if (v < best)
                best = v;
        }
        if (best > cap)
            return cap + 1;
    }
    return row[lb] > cap ? cap + 1 : row[lb];
}

/* Room for n more bytes and the NUL, the capacity doubling from 256. */
static int strbuf_reserve(StrBuf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : 256;
    char *d;

    if (b->len + n + 1 <= b->cap)
        return 0;
    while (cap < b->len + n + 1)
        cap *= 2;
    d = realloc(b->data, cap);
    if (!d)
        return -ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int strbuf_append(StrBuf *b, const char *s, size_t n)
{
    if (strbuf_reserve(b, n) < 0)
        return -ENOMEM;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

/* Formatted straight into the buffer: a second try only when the text did not fit. */
int strbuf_printf(StrBuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (strbuf_reserve(b, 0) < 0)
        return -ENOMEM;
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->data[b->len] = 0;
        return -EINVAL;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (strbuf_reserve(b, (size_t)n) < 0) {
            b->data[b->len] = 0;
            return -ENOMEM;
        }
        va_start(ap, fmt);
        (void)vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return 0;
}

int strbuf_append_json_string(StrBuf *b, const char *s)
{
    int r = strbuf_append(b, "\"", 1);

    while (r >= 0 && *s) {
        size_t n = 0;

        /* A run that needs no escape, then the byte that does. */
        while (s[n] && s[n] != '"' && s[n] != '\\' && (unsigned char)s[n] >= 0x20)
            n++;
        r = strbuf_append(b, s, n);
        s += n;
        if (r < 0 || !*s)
            break;
        if (*s == '"' || *s == '\\')
            r = strbuf_append(b, (const char[]){'\\', *s}, 2);
        else
            r = strbuf_printf(b, "\\u%04x", (unsigned)(unsigned char)*s);
        s++;
    }
    return r < 0 ? r : strbuf_append(b, "\"", 1);
}

void strbuf_truncate(StrBuf *b, size_t len)
{
    b->len = len;
    if (b->data)
        b->data[len] = 0;
}

void strbuf_done(StrBuf *b)
{
    free(b->data);
    *b = (StrBuf){0};
}

struct SharedText {
    atomic_size_t refs;
    size_t len;
    char *data;
};

SharedText *shared_text_take(char *data, size_t len)
{
    SharedText *t = malloc(sizeof(*t));

    if (!t) {
        free(data);
        return NULL;
    }
    atomic_init(&t->refs, 1);
    t->len = len;
    t->data = data;
    return t;
}

SharedText *shared_text_new(const char *data, size_t len)
{
    char *copy = malloc(len + 1);

    if (!copy)
        return NULL;
    memcpy(copy, data, len);
    copy[len] = 0;
    return shared_text_take(copy, len);
}

SharedText *shared_text_ref(SharedText *t)
{
    if (t)
        atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

SharedText *shared_text_unref(SharedText *t)
{
    /* Release, then acquire before the free: the last holder sees every other holder done. */
    if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_release) == 1) {
        atomic_thread_fence(memory_order_acquire);
        free(t->data);
        free(t);
    }
    return NULL;
}

const char *shared_text_data(const SharedText *t)
{
    return t->data;
}

size_t shared_text_len(const SharedText *t)
{
    return t->len;
}

int parse_int64(const char *s, int64_t *ret)
{
    char *end;
    long long v;

    if (!s || !*s || *s == '+' || *s == ' ')
        return -EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    if (*end != 0 || end == s)
        return -EINVAL;
    *ret = v;
    return 0;
}

/* Length of the UTF-8 sequence at p (NUL-terminated) and its code point; 0 when invalid. */
static size_t utf8_decode(const unsigned char *p, uint32_t *ret)
{
    uint32_t cp;
    size_t len;

    if (p[0] < 0x80) {
        *ret = p[0];
        return 1;
    }
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        len = 2, cp = p[0] & 0x1F;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        len = 3, cp = p[0] & 0x0F;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        len = 4, cp = p[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) /* a NUL ends the string here too */
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    *ret = cp;
    return len;
}

static bool char_needs_escape(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E ||
           cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

char *str_escape_untrusted(const char *s, char *buf, size_t size)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;

    assert(size > 0);
    while (*p) {
        char esc[16];
        const char *piece = esc;
        size_t n;
        uint32_t cp;
        size_t len = utf8_decode(p, &cp);

        if (len == 0) {
            (void)snprintf(esc, sizeof(esc), "\\x%02x", p[0]);
            len = 1;
        } else if (!char_needs_escape(cp)) {
            piece = (const char *)p;
        } else if (cp == '\n' || cp == '\r' || cp == '\t') {
            (void)snprintf(esc, sizeof(esc), "\\%c", cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't');
        } else if (cp < 0x80) {
            (void)snprintf(esc, sizeof(esc), "\\x%02x", (unsigned)cp);
        } else {
            (void)snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
        }
        n = piece == esc ? strlen(esc) : len;
        if (o + n >= size)
            break;
        memcpy(buf + o, piece, n);
        o += n;
        p += len;
    }
    buf[o] = 0;
    return buf;
}
