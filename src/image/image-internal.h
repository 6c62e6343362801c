/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared between image-store.c (refs, listing, removal) and image-import.c. */

#include "image.h"

#define IMAGE_IMPORT_PREFIX ".import-"
#define IMAGE_REMOVE_PREFIX ".remove-"

/*
 * Creates <store>/<prefix><pid>-<6 random characters> and holds an flock on it through the
 * returned fd (no O_CLOEXEC is needed by callers: it is O_CLOEXEC). Sets
 * *ret_name to the new entry's name (caller frees). Returns the fd or -errno.
 */
int image_make_work_dir(int store_fd, const char *prefix, char **ret_name);

/* mkdir -p of the NAME part of ref under store_fd. Returns 0 or -errno. */
int image_make_name_dirs(int store_fd, const char *name);

/* ---- SHA-256, streamed (FIPS 180-4) ---------------------------------------------------- */

/* "sha256:<hex>" into out: ends s (base.h's streamed SHA-256). */
void image_sha256_digest(Sha256 *s, char out[static IMAGE_DIGEST_SIZE]);

/* The hex part of a valid digest. */
static inline const char *image_digest_hex(const char *digest)
{
    return digest + 7;
}

/* Opens <images_dir>/blobs/sha256, creating it (and its parents) when create is true. */
int image_blobs_dir_open(const char *images_dir, bool create, PdError *reterr);

/*
 * An image name as OCI's org.opencontainers.image.ref.name allows: components
 * of [A-Za-z0-9]+ joined by one of "-._:@+" or "--", separated by '/' (so
 * no "..", no leading '/', no empty component), at most 1024 bytes.
 */
bool image_ref_name_is_valid(const char *s);
