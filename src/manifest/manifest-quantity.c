/* SPDX-License-Identifier: Apache-2.0 */
#include <limits.h>

#include "manifest.h"

/*
 * Kubernetes quantities: a decimal number, then either a binary suffix
 * (Ki Mi Gi Ti Pi Ei), a decimal suffix (n u m "" k M G T P E) or an
 * exponent (e3, E-2). Computed in 128-bit integers so that overflow is
 * caught instead of wrapping; results are rounded up, as Kubernetes does.
 */

typedef struct Quantity {
    __int128 mantissa; /* the digits, without the decimal point */
    int exp10;         /* value = mantissa * 10^exp10 * 2^exp2 */
    int exp2;
} Quantity;

static int quantity_parse(const char *s, Quantity *ret)
{
    static const struct {
        const char *suffix;
        int exp10, exp2;
    } suffixes[] = {
        {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50},
        {"Ei", 0, 60}, {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},
        {"M", 6, 0},   {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},
    };
    Quantity q = {0};
    bool digits = false, negative = false;
    int n_digits = 0;

    if (*s == '+' || *s == '-')
        negative = *s++ == '-';
    for (; *s >= '0' && *s <= '9'; s++, digits = true)
        if (q.mantissa != 0 || *s != '0') {
            if (++n_digits > 30)
                return -ERANGE;
            q.mantissa = q.mantissa * 10 + (*s - '0');
        }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, digits = true) {
            if (n_digits > 30)
                return -ERANGE;
            if (q.mantissa != 0 || *s != '0')
                n_digits++;
            q.mantissa = q.mantissa * 10 + (*s - '0');
            q.exp10--;
        }
    }
    if (!digits)
        return -EINVAL;
    /* "1E3" is an exponent, while "1E" and "1Ei" are the exa suffixes. */
    if ((*s == 'e' || *s == 'E') && (s[1] == '-' || s[1] == '+' || (s[1] >= '0' && s[1] <= '9'))) {
        int64_t e;

        if (parse_int64(s[1] == '+' ? s + 2 : s + 1, &e) < 0)
            return -EINVAL;
        if (e > 100 || e < -100)
            return -ERANGE;
        q.exp10 += (int)e;
    } else if (*s) {
        size_t i;

        for (i = 0; i < ELEMENTSOF(suffixes); i++)
            if (streq(s, suffixes[i].suffix))
                break;
        if (i == ELEMENTSOF(suffixes))
            return -EINVAL;
        q.exp10 += suffixes[i].exp10;
        q.exp2 = suffixes[i].exp2;
    }
    if (negative && q.mantissa != 0)
        return -ERANGE;
    *ret = q;
    return 0;
}

/* value * 10^extra10, rounded up, into int64. */
static int quantity_to_int64(const Quantity *q, int extra10, int64_t *ret)
{
    __int128 v = q->mantissa;
    int e10 = q->exp10 + extra10;

    for (int i = 0; i < q->exp2; i++) {
        v *= 2;
        if (v > INT64_MAX)
            return -ERANGE;
    }
    for (; e10 > 0; e10--) {
        v *= 10;
        if (v > INT64_MAX)
            return -ERANGE;
    }
    for (; e10 < 0; e10++) {
        bool rest = v % 10 != 0;

        v = v / 10 + (rest ? 1 : 0);
    }
    if (v > INT64_MAX)
        return -ERANGE;
    *ret = (int64_t)v;
    return 0;
}

int quantity_parse_cpu_millis(const char *s, int64_t *ret)
{
    Quantity q;
    int r = quantity_parse(s, &q);

    if (r < 0)
        return r;
    return quantity_to_int64(&q, 3, ret);
}

int quantity_parse_bytes(const char *s, int64_t *ret)
{
    Quantity q;
    int r = quantity_parse(s, &q);

    if (r < 0)
        return r;
    return quantity_to_int64(&q, 0, ret);
}

int duration_parse_usec(const char *s, uint64_t *ret)
{
    static const struct {
        const char *unit;
        uint64_t nsec;
    } units[] = {
        /* Longest first, so "ms" is not read as "m" followed by garbage. */
        {"ns", 1},
        {"us", 1000},
        {"\xc2\xb5s", 1000},
        {"ms", 1000000},
        {"s", 1000000000ull},
        {"m", 60ull * 1000000000ull},
        {"h", 3600ull * 1000000000ull},
    };
    unsigned __int128 total = 0;

    if (!*s)
        return -EINVAL;
    if (streq(s, "0")) {
        *ret = 0;
        return 0;
    }
    while (*s) {
        unsigned __int128 whole = 0, frac = 0, scale = 1;
        bool digits = false;
        size_t i;

        for (; *s >= '0' && *s <= '9'; s++, digits = true) {
            whole = whole * 10 + (unsigned)(*s - '0');
            if (whole > UINT64_MAX)
                return -ERANGE;
        }
        if (*s == '.')
            for (s++; *s >= '0' && *s <= '9'; s++, digits = true)
                if (scale < 1000000000000000000ull) {
                    frac = frac * 10 + (unsigned)(*s - '0');
                    scale *= 10;
                }
        if (!digits)
            return -EINVAL;
        for (i = 0; i < ELEMENTSOF(units); i++)
            if (startswith(s, units[i].unit))
                break;
        if (i == ELEMENTSOF(units))
            return -EINVAL;
        s += strlen(units[i].unit);
        total += whole * units[i].nsec + frac * units[i].nsec / scale;
        if (total > (unsigned __int128)UINT64_MAX)
            return -ERANGE;
    }
    *ret = (uint64_t)(total / 1000);
    return 0;
}
