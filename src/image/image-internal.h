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

/* Deletes name under dir_fd with everything below it, never following symlinks. */
int image_rm_rf_at(int dir_fd, const char *name);

/* mkdir -p of the NAME part of ref under store_fd. Returns 0 or -errno. */
int image_make_name_dirs(int store_fd, const char *name);
