/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <inttypes.h>
#include <limits.h>
#include <strings.h>

#include "runtime.h"

/* Serializes j to path atomically (temp file, rename; no fsync: for the volatile run dir). */
int write_json_file(const char *path, json_t *j, mode_t mode);

/* strerror() with a lower-case first letter, as our messages read ("no such file or directory"). */
const char *runtime_strerror(int err, char *buf, size_t size);
#define RUNTIME_STRERROR(err) runtime_strerror((err), (char[128]){0}, 128)

/* True when path is an nsfs file (a pinned namespace). */
bool path_is_nsfs(const char *path);

/* mkdir -p with mode for the missing components; 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);
/* Unmounts path (lazily) until nothing is mounted there; 0 when nothing was. */
int umount_all(const char *path);
