/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * image: the image store, <store>/NAME/TAG/ holding an unpacked rootfs.
 *
 * A reference is NAME[:TAG] (TAG defaults to "latest"); its validity rules
 * make it a relative path inside the store and nothing else, so that no
 * request naming an image can reach outside the store.
 *
 * Imports unpack into <store>/.import-<pid>-<6 random characters> (one
 * filesystem with the images, so the final rename is atomic) while holding
 * an flock on that directory; removals rename the image aside to
 * <store>/.remove-<pid>-<6 random characters> first. A leftover of
 * either whose process is dead and whose lock is free belongs to an
 * interrupted import or removal: image_store_clean() deletes it. Readers
 * therefore see a tag either complete or not at all.
 */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

#define IMAGE_DEFAULT_TAG "latest"
#define IMAGE_REF_MAX 255

/*
 * True for NAME[:TAG] where NAME is '/'-separated components of
 * [a-z0-9._-] (no empty component, none starting with '.', no ".."), TAG
 * is [a-z0-9._-] not starting with '.', at most IMAGE_REF_MAX bytes.
 */
bool image_ref_is_valid(const char *ref);

typedef struct ImageRef {
    char name[IMAGE_REF_MAX + 1];
    char tag[IMAGE_REF_MAX + 1];
} ImageRef;

/* Splits a valid reference. Returns 0, or -EINVAL when ref is not valid. */
int image_ref_parse(const char *ref, ImageRef *ret);
/* "NAME:TAG" into buf (always with the tag). */
void image_ref_format(const ImageRef *ref, char *buf, size_t size);
/* True when a and b name the same image ("busybox" and "busybox:latest" do). */
bool image_ref_equal(const char *a, const char *b);

/* <store>/NAME/TAG. New string owned by the caller; NULL on ENOMEM. */
char *image_path(const char *store, const ImageRef *ref);

/*
 * Every image of the store, sorted by NAME then TAG, into a new array the
 * caller frees (*ret_n entries). A directory two or more levels down is an
 * image (a TAG) when it holds a rootfs: anything that is not a directory,
 * or one of bin, etc, lib, sbin, usr; otherwise it is part of a NAME.
 * A missing store has no images. Returns 0 or -errno. Does not log.
 */
int image_store_list(const char *store, ImageRef **ret, size_t *ret_n);

/*
 * Deletes the leftovers of dead imports and removals (see above). Returns
 * the number deleted or -errno (a missing store has none). Does not log.
 */
int image_store_clean(const char *store);

/*
 * Imports source as ref: a directory is copied (cp -a), anything else
 * (a file, a fifo, "-" for standard input) is read as a tar archive,
 * gzip-compressed or not (told by its first bytes), and unpacked by GNU
 * tar with numeric owners and permissions kept. An existing tag is
 * replaced atomically. The import stops with -EINTR when *cancel (may be
 * NULL) becomes true while it runs (a signal handler sets it; a handler
 * installed without SA_RESTART interrupts the waits). The caller ignores
 * SIGPIPE (a tar that stops reading must not kill it). On any failure
 * nothing of the import remains. tar's and cp's own messages go to
 * stderr; reterr says what failed. Returns 0 or -errno. Does not log.
 */
int image_import(const char *store, const ImageRef *ref, const char *source,
                 const volatile sig_atomic_t *cancel, PdError *reterr);

/*
 * Removes ref from the store: renamed aside atomically, then deleted, then
 * NAME directories left empty are removed. Returns 0, or -ENOENT when the
 * image does not exist, or another -errno, with reterr set. Does not log.
 */
int image_remove(const char *store, const ImageRef *ref, PdError *reterr);

/*
 * The disk space used under dir (allocated blocks, as du counts them; a file
 * with several links counts for each). Returns 0 or -errno. Does not log.
 */
int image_disk_usage(const char *dir, uint64_t *ret);
