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

/* ---- references: [HOST[:PORT]/]PATH[:TAG][@sha256:HEX] ------------------------------------ */

#define IMAGE_REFERENCE_NAME_MAX 255 /* DOMAIN/PATH, after normalisation */
#define IMAGE_TAG_MAX 128
#define IMAGE_DIGEST_MAX 71 /* "sha256:" + 64 hex digits */
/* The longest formatted reference: NAME:TAG@DIGEST. */
#define IMAGE_REFERENCE_STRING_MAX                                                                 \
    (IMAGE_REFERENCE_NAME_MAX + 1 + IMAGE_TAG_MAX + 1 + IMAGE_DIGEST_MAX)

/*
 * A normalised reference, as Kubernetes and the containers tools read one
 * (github.com/distribution/reference's ParseNormalizedNamed plus its
 * TagNameOnly): "nginx" is docker.io/library/nginx:latest, "user/app" is
 * docker.io/user/app:latest, "index.docker.io" becomes "docker.io".
 */
typedef struct ImageReference {
    char domain[IMAGE_REFERENCE_NAME_MAX +
                1]; /* "docker.io", "registry.example:5000", "[::1]:5000" */
    char path[IMAGE_REFERENCE_NAME_MAX + 1]; /* "library/nginx", "team/app" */
    char tag[IMAGE_TAG_MAX + 1];             /* "latest" when neither tag nor digest was given;
                                              * "" for a reference by digest alone */
    char digest[IMAGE_DIGEST_MAX + 1];       /* "sha256:<64 hex>" or "" */
} ImageReference;

/*
 * Parses s into *ret. The first '/'-separated component is a registry
 * (DOMAIN) when another follows and it holds '.' or ':' or an uppercase
 * letter, or is "localhost"; otherwise the image is on docker.io. Path
 * components are lowercase [a-z0-9] runs joined by '.', '_', '__' or
 * '-'s; DOMAIN/PATH is at most IMAGE_REFERENCE_NAME_MAX characters once
 * normalised; a bare 64-hex string is refused (it is an image ID). Returns
 * 0, or -EINVAL with reterr saying what is wrong (the quoted reference,
 * then the reason, e.g. "'Foo:1': repository name must be lowercase").
 * Does not log.
 */
int image_reference_parse(const char *s, ImageReference *ret, PdError *reterr);

/*
 * "DOMAIN/PATH[:TAG][@DIGEST]" into buf, the normalised (fully qualified)
 * form, which parses back to the same reference. Returns the length, or
 * -ENOBUFS when buf is smaller than the string (IMAGE_REFERENCE_STRING_MAX
 * + 1 always suffices).
 */
int image_reference_format(const ImageReference *ref, char *buf, size_t size);

/* ---- layers ------------------------------------------------------------------------------- */

/* Skip device nodes with a warning instead of refusing the layer. */
#define IMAGE_LAYER_SKIP_DEVICES (1u << 0)

/*
 * Unpacks the layer read from layer_fd (a tar archive: plain, gzip or zstd,
 * told by its first bytes; read from the fd's position, which is left open)
 * into the directory dir_fd, which should be empty, in the form overlayfs
 * takes as a lower directory: regular files, directories, symlinks, hard
 * links and fifos with numeric owners, modes, times and extended
 * attributes; an OCI whiteout ".wh.NAME" becomes a 0:0 character device
 * NAME (unless this layer has its own NAME) and ".wh..wh..opq" the xattr
 * trusted.overlay.opaque=y on its directory. Later entries replace
 * earlier ones of the same name (directories merge). Needs root (owners,
 * whiteouts, trusted.* xattrs).
 *
 * Nothing is created outside dir_fd: absolute names are read relative to
 * it, a ".." component is refused, and a parent directory that is a
 * symlink (or leads out of dir_fd's mount) is refused, for entries and for
 * hard link targets alike. Device nodes are refused (-EPERM), or with
 * IMAGE_LAYER_SKIP_DEVICES skipped with a warning; "trusted.overlay.*"
 * attributes of entries are ignored with a warning.
 *
 * layer names the layer in messages (e.g. its digest). On success returns
 * 0 and, when ret_warnings is not NULL, sets it to a new string vector
 * (NULL when there is none; "layer 'L': entry 'E': ...", at most about
 * a hundred) the caller frees. On failure returns -errno with reterr
 * naming the layer and the entry ("layer 'L': entry 'E': reason"); dir_fd
 * then holds part of the layer, for the caller to delete. Does not log.
 */
int image_layer_unpack(int layer_fd, int dir_fd, const char *layer, unsigned flags,
                       char ***ret_warnings, PdError *reterr);
