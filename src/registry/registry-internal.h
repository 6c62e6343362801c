/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "registry.h"

/* Base64 (RFC 4648, with padding) of a NUL-terminated string, into a new string. */
int registry_base64_encode(const char *s, char **ret);
/* Decodes s into a new NUL-terminated string; -EINVAL when not base64 or holding a NUL. */
int registry_base64_decode(const char *s, char **ret);

/* The hex part of a valid digest ("sha256:" is 7 characters). */
static inline const char *registry_digest_hex(const char *digest)
{
    return digest + 7;
}

/*
 * Forks a pull's child: in the child (fd 3 the pipe's write end, no other fd
 * of the parent's past stderr, the signal mask empty) returns 0; in the
 * parent 1 with *ret the job; -errno with reterr set when it cannot.
 */
int registry_job_fork(const char *images_dir, const ImageReference *ref, RegistryPullJob **ret,
                      PdError *reterr);
