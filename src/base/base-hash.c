/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include "base.h"

/*
 * SHA-256 (FIPS 180-4) as content identity, rather than a 64-bit FNV-1a:
 * spec hashes are what the state store and the reconciler compare across
 * restarts, and a collision there would silently skip an update. Streamed,
 * because image blobs are hashed while they are copied in chunks.
 */
static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t rotr32(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha256_compress(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];

    for (unsigned i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (unsigned i = 16; i < 64; i++) {
        uint32_t s0 = rotr32(w[i - 15], 7) ^ rotr32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr32(w[i - 2], 17) ^ rotr32(w[i - 2], 19) ^ (w[i - 2] >> 10);

        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    for (unsigned i = 0; i < 64; i++) {
        uint32_t t1 = k + (rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25)) + ((e & f) ^ (~e & g)) +
                      sha256_k[i] + w[i];
        uint32_t t2 =
            (rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));

        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

/* Compresses n blocks of p with the portable code above. */
static void sha256_blocks_portable(uint32_t h[8], const uint8_t *p, size_t n)
{
    for (; n > 0; n--, p += 64)
        sha256_compress(h, p);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

/*
 * The same with the x86 SHA extensions (Intel's sha256rnds2/msg1/msg2), several times faster
 * on the image blobs and layers podd hashes. The state is kept as ABEF and CDGH; each group
 * of four message words is W[4k..4k+3], the ones after the first four from the schedule.
 */
__attribute__((target("sha,sse4.1"))) static void sha256_blocks_shani(uint32_t h[8],
                                                                      const uint8_t *p, size_t n)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i s0, s1, tmp;

    tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1); /* CDAB */
    s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B);  /* EFGH */
    s0 = _mm_alignr_epi8(tmp, s1, 8);                                       /* ABEF */
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);                                    /* CDGH */
    for (; n > 0; n--, p += 64) {
        __m128i abef = s0, cdgh = s1, m[16], wk;

        for (unsigned k = 0; k < 16; k++) {
            if (k < 4)
                m[k] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * k)), bswap);
            else
                m[k] = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(m[k - 4], m[k - 3]),
                                                          _mm_alignr_epi8(m[k - 1], m[k - 2], 4)),
                                            m[k - 1]);
            wk = _mm_add_epi32(m[k], _mm_loadu_si128((const __m128i *)&sha256_k[4 * k]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, wk);
            s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(wk, 0x0E));
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }
    tmp = _mm_shuffle_epi32(s0, 0x1B);   /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);    /* DCHG */
    s0 = _mm_blend_epi16(tmp, s1, 0xF0); /* DCBA */
    s1 = _mm_alignr_epi8(s1, tmp, 8);    /* HGFE */
    _mm_storeu_si128((__m128i *)&h[0], s0);
    _mm_storeu_si128((__m128i *)&h[4], s1);
}

static bool cpu_has_sha(void)
{
    unsigned a, b, c, d;

    /* Leaf 7: EBX bit 29 is SHA; leaf 1: ECX bit 19 is SSE4.1 (SSSE3 comes with it). */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 29)))
        return false;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 19));
}
#else
static void sha256_blocks_shani(uint32_t h[8], const uint8_t *p, size_t n)
{
    sha256_blocks_portable(h, p, n);
}

static bool cpu_has_sha(void)
{
    return false;
}
#endif

/* -1: not decided yet; then 0 (portable) or 1 (SHA extensions). */
static int sha256_accel = -1;

static void sha256_blocks(uint32_t h[8], const uint8_t *p, size_t n)
{
    if (sha256_accel < 0)
        sha256_accel = cpu_has_sha();
    if (sha256_accel)
        sha256_blocks_shani(h, p, n);
    else
        sha256_blocks_portable(h, p, n);
}

bool sha256_set_accelerated(bool on)
{
    bool was;

    if (sha256_accel < 0)
        sha256_accel = cpu_has_sha();
    was = sha256_accel;
    sha256_accel = on && cpu_has_sha();
    return was;
}

void sha256_init(Sha256 *s)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

    *s = (Sha256){};
    memcpy(s->h, iv, sizeof(iv));
}

void sha256_update(Sha256 *s, const void *data, size_t size)
{
    const uint8_t *p = data;

    s->length += size;
    if (s->n_buf > 0) {
        size_t take = size < 64 - s->n_buf ? size : 64 - s->n_buf;

        memcpy(s->buf + s->n_buf, p, take);
        s->n_buf += take;
        p += take;
        size -= take;
        if (s->n_buf < 64)
            return;
        sha256_blocks(s->h, s->buf, 1);
        s->n_buf = 0;
    }
    if (size >= 64) {
        sha256_blocks(s->h, p, size / 64);
        p += size / 64 * 64;
        size %= 64;
    }
    memcpy(s->buf, p, size);
    s->n_buf = size;
}

void sha256_final_hex(Sha256 *s, char out[static CONTENT_HASH_MAX])
{
    uint64_t bits = s->length * 8;
    uint8_t pad[72] = {0x80};
    size_t n_pad = (s->n_buf < 56 ? 56 : 120) - s->n_buf;

    for (unsigned i = 0; i < 8; i++)
        pad[n_pad + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(s, pad, n_pad + 8);
    for (unsigned i = 0; i < 8; i++)
        (void)snprintf(out + 8 * i, 9, "%08x", s->h[i]);
}

void content_hash(const void *data, size_t size, char out[static CONTENT_HASH_MAX])
{
    Sha256 s;

    sha256_init(&s);
    sha256_update(&s, data, size);
    sha256_final_hex(&s, out);
}
