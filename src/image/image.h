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

/*
 * True when NAME's first component is a directory of the content store
 * (blobs, layers, incoming): no plain root filesystem may be imported there.
 */
bool image_store_name_is_reserved(const char *name);

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
 * Deletes the leftovers of dead imports and removals (see above), and
 * partial downloads older than a day (image_partials_clean). Returns the
 * number deleted or -errno (a missing store has none). Does not log.
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

/*
 * The name as Docker shows it, and as the store of plain root filesystem
 * directories (<images>/NAME/TAG) names it: without "docker.io/" and
 * "library/" ("nginx", "user/app", "registry.example:5000/team/app").
 * Returns the length or -ENOBUFS.
 */
int image_reference_familiar_name(const ImageReference *ref, char *buf, size_t size);

/* True when a and b are valid and name the same image once normalised ("busybox" and
 * "docker.io/library/busybox:latest" do). */
bool image_reference_equal(const char *a, const char *b);

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
 * 0, writes the layer's diff_id (the "sha256:..." digest of the tar stream
 * once decompressed, hashed as it is unpacked) into ret_diff_id when it is
 * not NULL (IMAGE_DIGEST_SIZE bytes) and, when ret_warnings is not NULL,
 * sets it to a new string vector
 * (NULL when there is none; "layer 'L': entry 'E': ...", at most about
 * a hundred) the caller frees. On failure returns -errno with reterr
 * naming the layer and the entry ("layer 'L': entry 'E': reason"); dir_fd
 * then holds part of the layer, for the caller to delete. Does not log.
 */
int image_layer_unpack(int layer_fd, int dir_fd, const char *layer, unsigned flags,
                       char *ret_diff_id, char ***ret_warnings, PdError *reterr);

/* ---- content store: blobs and image documents ------------------------------------------ */

/*
 * Blobs live in <images>/blobs/sha256/<hex>, where <images> is the store
 * directory above. A blob is written through a temporary file in that same
 * directory and renamed into place only once its SHA-256 and size match
 * what was expected, so a blob present under its name is always its content.
 * A digest is only ever "sha256:" and 64 lower-case hex digits: nothing read
 * from an archive or a registry becomes a path any other way.
 */
/* A digest with its terminating NUL (IMAGE_DIGEST_MAX is above). */
#define IMAGE_DIGEST_SIZE (IMAGE_DIGEST_MAX + 1)
/* Blobs and documents past these sizes are refused. */
#define IMAGE_DOCUMENT_MAX (4u * 1024u * 1024u)

/* True for "sha256:" followed by 64 lower-case hex digits. */
bool image_digest_is_valid(const char *digest);

/*
 * Copies fd (read to its end) into the blob store as digest, which must be
 * exactly size bytes. A blob already present is kept and fd is not read.
 * On a mismatch nothing is left in the store and reterr names the digest.
 * Returns 0 or -errno (-EBADMSG for wrong content). Does not log.
 */
int image_blob_write_fd(const char *images_dir, int fd, const char *digest, uint64_t size,
                        PdError *reterr);
/* The same for a buffer, whose digest is computed into ret_digest (may be NULL). */
int image_blob_write_data(const char *images_dir, const void *data, size_t size,
                          char ret_digest[static IMAGE_DIGEST_SIZE], PdError *reterr);
/*
 * Moves the file name of dir_fd, which must be on the store's filesystem and whose content the
 * caller has checked to be digest and synced (a download hashed as it arrived), into the blob
 * store by a rename: no copy. A blob already present is kept and name is deleted. Returns 0 or
 * -errno. Does not log.
 */
int image_blob_adopt(const char *images_dir, int dir_fd, const char *name, const char *digest,
                     PdError *reterr);
/* Opens a stored blob read-only (O_CLOEXEC); returns the fd or -errno (-ENOENT if absent). */
int image_blob_open(const char *images_dir, const char *digest, PdError *reterr);
/*
 * Reads a stored document blob (at most IMAGE_DOCUMENT_MAX bytes) into a new
 * NUL-terminated buffer the caller frees, checking its digest again.
 * Returns 0 or -errno. Does not log.
 */
int image_blob_read(const char *images_dir, const char *digest, char **ret, size_t *ret_size,
                    PdError *reterr);

/*
 * Downloads of blobs (registry pulls) go to <images>/blobs/.partial/<hex>, kept when a
 * transfer breaks so that the next pull resumes them. A pull holds an flock on each file
 * while it writes it, and a transfer that stalls fails within a minute: a partial file
 * nobody holds that was not written for IMAGE_PARTIAL_MAX_AGE_USEC belongs to no pull that
 * will resume it soon.
 */
#define IMAGE_PARTIAL_DIR "blobs/.partial"
#define IMAGE_PARTIAL_MAX_AGE_USEC (24ull * 3600u * 1000000u)

/*
 * Deletes the partial downloads last written more than max_age_usec ago that no pull holds.
 * *ret_freed (may be NULL) gets the bytes freed. Returns the number deleted or -errno (a
 * store without partial downloads has none). Does not log.
 */
int image_partials_clean(const char *images_dir, uint64_t max_age_usec, uint64_t *ret_freed);

/* Media types, as the OCI image spec and Docker's schema 2 name them. */
#define IMAGE_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define IMAGE_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IMAGE_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define IMAGE_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMAGE_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMAGE_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define IMAGE_ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

typedef struct ImagePlatform {
    char *os, *architecture, *variant; /* NULL when not given */
} ImagePlatform;

typedef struct ImageDescriptor {
    char *media_type;
    char digest[IMAGE_DIGEST_SIZE];
    uint64_t size;
    char *ref_name;         /* the org.opencontainers.image.ref.name annotation, or NULL */
    ImagePlatform platform; /* index entries only */
} ImageDescriptor;

/* An OCI image index or a Docker manifest list. */
typedef struct ImageIndex {
    char *media_type; /* of the document; NULL when it names none (an OCI index.json may not) */
    ImageDescriptor *manifests;
    size_t n_manifests;
} ImageIndex;

/* An OCI image manifest or a Docker schema 2 manifest. */
typedef struct ImageManifest {
    char *media_type;
    ImageDescriptor config;
    ImageDescriptor *layers; /* in order, lowest first; known layer media types only */
    size_t n_layers;
} ImageManifest;

/* The image configuration: what a container of the image runs, and its layers' diff_ids. */
typedef struct ImageConfig {
    ImagePlatform platform;
    char **entrypoint, **cmd, **env; /* NULL when the image sets none */
    char *working_dir, *user;        /* NULL when the image sets none */
    char **diff_ids;                 /* one "sha256:..." per layer, lowest first */
} ImageConfig;

ImageIndex *image_index_free(ImageIndex *idx);
DEFINE_CLEANUP_FUNC(ImageIndex, image_index_free)
ImageManifest *image_manifest_free(ImageManifest *m);
DEFINE_CLEANUP_FUNC(ImageManifest, image_manifest_free)
ImageConfig *image_config_free(ImageConfig *c);
DEFINE_CLEANUP_FUNC(ImageConfig, image_config_free)

/*
 * Parsers of the JSON documents, strict about schemaVersion, media types,
 * digests and sizes. what names the document in errors ("index.json",
 * "manifest sha256:..."); media_type is the one the referring descriptor
 * gave (NULL when none did, as for index.json): the document must agree
 * with it. reterr names the document and the field. New object owned by
 * the caller. Return 0 or -errno (-EINVAL, -EPROTONOSUPPORT for a media
 * type podd does not know). Do not log.
 */
int image_index_parse(const char *data, size_t size, const char *what, const char *media_type,
                      ImageIndex **ret, PdError *reterr);
int image_manifest_parse(const char *data, size_t size, const char *what, const char *media_type,
                         ImageManifest **ret, PdError *reterr);
int image_config_parse(const char *data, size_t size, const char *what, ImageConfig **ret,
                       PdError *reterr);

/* True for an index or manifest list media type; false for anything else. */
bool image_media_type_is_index(const char *media_type);

/* The platform podd runs on: "linux", the architecture as Go names it, and its variant. */
void image_host_platform(ImagePlatform *ret);
/* True when an entry for platform p can run on host (a missing variant matches any). */
bool image_platform_matches(const ImagePlatform *p, const ImagePlatform *host);
/* "OS/ARCHITECTURE[/VARIANT]" of p into buf ('?' for what p lacks); returns buf. */
char *image_platform_format(const ImagePlatform *p, char *buf, size_t size);
/*
 * image_config_parse(), then what every image podd stores must pass: its
 * platform runs on this host (-ENOEXEC), and, unless n_layers is SIZE_MAX,
 * rootfs.diff_ids has one entry per layer of its manifest (-EINVAL). reterr
 * names what. Does not log.
 */
int image_config_parse_for_host(const char *data, size_t size, const char *what, size_t n_layers,
                                ImageConfig **ret, PdError *reterr);
/*
 * The entry of idx for host: the first matching entry with the host's variant
 * if one has it, else the first matching one. Returns its index or -ENOENT.
 */
int image_index_select(const ImageIndex *idx, const ImagePlatform *host);

/* ---- loading archives and layouts ------------------------------------------------------- */

typedef struct ImageLoaded {
    char *name;                              /* ref.name annotation or RepoTag; NULL if none */
    char manifest_digest[IMAGE_DIGEST_SIZE]; /* of the manifest, stored as a blob */
    ImageManifest *manifest;
    ImageConfig *config;
} ImageLoaded;

typedef struct ImageLoadResult {
    ImageLoaded *images;
    size_t n_images;
} ImageLoadResult;

ImageLoadResult *image_load_result_free(ImageLoadResult *res);
DEFINE_CLEANUP_FUNC(ImageLoadResult, image_load_result_free)

/*
 * Loads every image of source into the blob store of images_dir: source is
 * an OCI image layout directory, or a tar of one (oci-archive), or a
 * docker-archive (docker save's manifest.json). An index (or a manifest
 * list) is resolved to the host's platform; index.json entries for another
 * platform are skipped. Every blob is verified as it is copied; layers are
 * not unpacked. On failure no image is returned and reterr names the
 * archive, the document and the field; blobs already copied stay, as they
 * are verified and may be shared. New result owned by the caller. Returns
 * 0 or -errno. Does not log; tar's own messages go to stderr.
 */
int image_load(const char *images_dir, const char *source, ImageLoadResult **ret, PdError *reterr);

/* ---- image records: names of the images in the store ------------------------------------ */

/*
 * <images>/repositories.json maps each image name (a normalised reference,
 * "docker.io/library/busybox:latest", or one by digest) to the digest of its
 * manifest. A recorded image is complete: its manifest, config and layer
 * blobs are in the blob store and every layer is unpacked, once, under
 * <images>/layers/sha256/<hex of its diff_id>/ (the digest of the layer's
 * tar uncompressed, checked against the config's rootfs.diff_ids as it is
 * unpacked; so a layer pulled gzip-compressed and the same layer loaded
 * uncompressed from an archive share one directory). Unpacked into a
 * ".tmp-" directory beside it and renamed, so a layer directory present
 * under its name is whole. A directory named by the layer blob's digest
 * (as stores before diff_id keys have them) still serves its image. image_store_add and _gc hold an
 * flock on <images>/.lock (for unpacking, for deleting); every read-modify-write of the records
 * file (add, untag, gc's read) holds one on <images>/.records.lock, briefly, so an untag never
 * waits for an unpack. The records file is replaced atomically (write_file_atomic), so readers take
 * no lock. Files of podds before image records (plain root filesystem directories,
 * <images>/NAME/TAG) are left alone and still read (see image_store_resolve).
 */
#define IMAGE_RECORDS_FILE "repositories.json"
#define IMAGE_NAME_SIZE (IMAGE_REFERENCE_STRING_MAX + 1)

typedef struct ImageRecord {
    char name[IMAGE_NAME_SIZE];     /* normalised reference */
    char digest[IMAGE_DIGEST_SIZE]; /* of the manifest */
    uint64_t size;                  /* disk space of its unpacked layers when recorded, bytes */
    uint64_t created;               /* when recorded, CLOCK_REALTIME microseconds */
} ImageRecord;

/*
 * Records img (as image_load() or a pull returns it) under name, or under
 * img->name when name is NULL (-EINVAL when both are NULL); the name is
 * normalised first (image_reference_parse; "busybox" is recorded as
 * "docker.io/library/busybox:latest"). Unpacks the image's layers not
 * unpacked yet (flags: IMAGE_LAYER_* for image_layer_unpack; warnings as it
 * gives them, into *ret_warnings when not NULL) and checks that its blobs
 * are all in the store. A record of the same name is replaced (the image it
 * named stays in the store until image_store_gc). *ret (may be NULL) gets
 * the new record. Returns 0 or -errno with reterr naming the image and what
 * failed. Does not log.
 */
int image_store_add(const char *images_dir, const ImageLoaded *img, const char *name,
                    unsigned flags, ImageRecord *ret, char ***ret_warnings, PdError *reterr);

/*
 * Every record, sorted by name, into a new array the caller frees (*ret_n
 * entries; none and NULL for a store without records). Returns 0 or -errno
 * (-EBADMSG for a records file that cannot be read, with reterr). Does not log.
 */
int image_store_records(const char *images_dir, ImageRecord **ret, size_t *ret_n, PdError *reterr);

/*
 * The record ref names: the one of its exact normalised name, else (for a
 * reference with a digest) one of the same repository with that manifest
 * digest. Returns 0, -ENOENT when there is none, or -errno. Does not log.
 */
int image_store_find(const char *images_dir, const ImageReference *ref, ImageRecord *ret,
                     PdError *reterr);

/*
 * Removes the record of name (a normalised reference, as image_store_records
 * gives). Blobs and layers stay until image_store_gc. Returns 0, -ENOENT
 * when there is no such record, or -errno. Does not log.
 */
int image_store_untag(const char *images_dir, const char *name, PdError *reterr);

/*
 * Deletes the blobs and layer directories no record needs, leftovers of
 * interrupted layer unpacks, and partial downloads older than a day
 * (image_partials_clean). Blobs being written (temporary files) are left
 * alone; an image_load() whose blobs are deleted before image_store_add
 * records them makes image_store_add fail (-ENOENT), never a half image.
 * *ret_freed (may be NULL) gets the bytes freed. Returns the number of
 * blobs and layers deleted or -errno. Does not log.
 */
int image_store_gc(const char *images_dir, uint64_t *ret_freed, PdError *reterr);

/*
 * The manifest and config of the recorded image whose manifest digest is
 * digest, from the blob store. New objects owned by the caller (either
 * return pointer may be NULL). Returns 0 or -errno. Does not log.
 */
int image_store_open_image(const char *images_dir, const char *digest, ImageManifest **ret_manifest,
                           ImageConfig **ret_config, PdError *reterr);

/*
 * The unpacked layer directories of the image whose manifest digest is
 * digest, lowest first, as a new string vector (absolute paths when
 * images_dir is) the caller frees. -ENOENT (reterr naming the layer) when
 * one is missing. Returns 0 or -errno. Does not log.
 */
int image_store_layer_dirs(const char *images_dir, const char *digest, char ***ret,
                           PdError *reterr);

/* A container's image, resolved in the store. */
typedef struct ImageResolved {
    char name[IMAGE_NAME_SIZE];     /* the normalised reference, or the absolute path given */
    char digest[IMAGE_DIGEST_SIZE]; /* the manifest's; "" for a plain root filesystem directory */
    char **layers;                  /* directories, lowest first */
    ImageConfig *config;            /* NULL for a plain root filesystem directory */
} ImageResolved;

void image_resolved_done(ImageResolved *r);

/*
 * Resolves image, as a manifest names it: an absolute path is a plain root
 * filesystem directory; a reference is looked up in the records
 * (image_store_find), else (without a digest) as a plain root filesystem
 * directory imported by podctl image import or an older podd,
 * <images>/FAMILIAR-NAME/TAG. Returns 0, -ENOENT when there is no such
 * image, -EINVAL with the reason for an invalid reference, or -errno.
 * Does not log.
 */
int image_store_resolve(const char *images_dir, const char *image, ImageResolved *ret,
                        PdError *reterr);
