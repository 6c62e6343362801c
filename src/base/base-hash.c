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
        sha256_compress(s->h, s->buf);
        s->n_buf = 0;
    }
    for (; size >= 64; p += 64, size -= 64)
        sha256_compress(s->h, p);
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
