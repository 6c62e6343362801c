/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared between the image store's files (refs, listing, removal, import, records). */

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

/* ---- the records (image-records.c), shared with image-records-add.c ------------------- */

#define RECORDS_VERSION 1
#define RECORDS_MAX (64u * 1024u * 1024u)
#define LOCK_FILE ".lock"                 /* layers: add (unpacking) and gc */
#define RECORDS_LOCK_FILE ".records.lock" /* the records file: short read-modify-writes */
#define LAYER_TMP_PREFIX ".tmp-"

typedef struct ImageRecordList {
    ImageRecord *v;
    size_t n;
} ImageRecordList;

void image_record_list_done(ImageRecordList *l);
/* Opens images_dir (creating it when create is true). The fd, or -errno with reterr set. */
int image_records_open_dir(const char *images_dir, bool create, PdError *reterr);
/*
 * An flock on <images>/name, held while the returned fd is open (see
 * image-records.c for the two locks and their order). The fd or -errno.
 */
int image_records_lock(int images_fd, const char *images_dir, const char *name, PdError *reterr);
/* Reads the records file into *ret (empty when absent). 0 or -errno with reterr set. */
int image_records_read(int images_fd, const char *images_dir, ImageRecordList *ret,
                       PdError *reterr);
/* Writes l (sorting it) atomically. 0 or -errno with reterr set. */
int image_records_write(int images_fd, const char *images_dir, ImageRecordList *l, PdError *reterr);
/*
 * One read-modify-write of the records file under its lock: put (when not
 * NULL) replaces the record of its name or is added; else the record named
 * drop goes (-ENOENT when there is none). 0 or -errno with reterr set.
 */
int image_records_update(int images_fd, const char *images_dir, const ImageRecord *put,
                         const char *drop, PdError *reterr);
/* name normalised as the records keep it. 0 or -EINVAL with reterr set. */
int image_records_normalise_name(const char *name, char buf[static IMAGE_NAME_SIZE],
                                 PdError *reterr);
/* <images>/layers/sha256, created when create is true. The fd or -errno. */
int image_records_layers_open(int images_fd, bool create);
