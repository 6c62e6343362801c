/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * registry: pulls images from registries speaking the OCI distribution API
 * (Docker's registry v2 API) into the image blob store (image.h), over
 * libcurl.
 *
 * A pull resolves a reference to a manifest (an image index or Docker
 * manifest list is resolved to the host's platform), fetches the config and
 * the layers concurrently, resuming a layer whose download was interrupted
 * (HTTP Range) from <images>/partial/<hex>, and writes every blob through
 * image_blob_write_fd(), which checks its digest and size. Its result is an
 * ImageLoadResult, as image_load() returns for archives.
 *
 * Everything read from the network or from a settings file is parsed by the
 * functions below, which never trust it: they are fuzzed
 * (tests/fuzz/fuzz-registry.c).
 */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "image/image.h"

#define REGISTRY_CONFIG_PATH "/etc/podd/registries.json"
#define REGISTRY_AUTH_PATH "/etc/podd/auth.json"
/* Settings files past this size are refused. */
#define REGISTRY_FILE_MAX (1024u * 1024u)

/* ---- the registries file: per-registry settings -------------------------------------------- */

typedef struct RegistryHost {
    char *host;     /* as in a reference: "registry.example:5000", "docker.io" */
    bool insecure;  /* plain HTTP, or HTTPS without certificate checks */
    char *ca_file;  /* a PEM file of CAs trusted besides the system's; NULL if none */
    char **mirrors; /* hosts tried before host, in order; NULL if none */
} RegistryHost;

typedef struct RegistryConfig {
    RegistryHost *hosts;
    size_t n_hosts;
} RegistryConfig;

RegistryConfig *registry_config_free(RegistryConfig *c);
DEFINE_CLEANUP_FUNC(RegistryConfig, registry_config_free)

/*
 * Parses a registries file:
 *
 *   {"registries": {"HOST": {"insecure": BOOL, "caFile": "/ABS/PATH",
 *                            "mirrors": ["HOST", ...]}, ...}}
 *
 * HOST is a registry host as a reference names it ([a-z0-9.-] labels, an
 * optional :PORT, or a bracketed IPv6 address); unknown fields are refused.
 * what names the file in errors, which say the line and the field. New
 * object owned by the caller. Returns 0 or -errno. Does not log.
 */
int registry_config_parse(const char *data, size_t size, const char *what, RegistryConfig **ret,
                          PdError *reterr);
/* Reads and parses path; a missing file is an empty configuration. */
int registry_config_load(const char *path, RegistryConfig **ret, PdError *reterr);
/* The settings of host, or NULL when the file has none. */
const RegistryHost *registry_config_find(const RegistryConfig *c, const char *host);

/* True for a registry host: "localhost", a name, an IPv4 or [IPv6] address, each with :PORT. */
bool registry_host_is_valid(const char *host);
/* True for a host Docker lets answer plain HTTP with no setting: localhost and 127.0.0.0/8. */
bool registry_host_is_loopback(const char *host);

/* ---- the credentials file (Docker's config.json format) ---------------------------------- */

typedef struct RegistryCredential {
    char *host; /* normalised: "docker.io" for "https://index.docker.io/v1/" */
    char *username, *password;
} RegistryCredential;

typedef struct RegistryCredentials {
    RegistryCredential *entries;
    size_t n_entries;
} RegistryCredentials;

RegistryCredentials *registry_credentials_free(RegistryCredentials *c);
DEFINE_CLEANUP_FUNC(RegistryCredentials, registry_credentials_free)

/*
 * Parses {"auths": {"KEY": {"auth": BASE64("USER:PASSWORD")} or
 * {"username": U, "password": P}, ...}} as docker login writes it (other
 * top-level fields, such as credHelpers, are ignored). KEY is a host, or a
 * URL whose host is taken ("https://index.docker.io/v1/" is docker.io).
 * Returns 0 or -errno. Does not log.
 */
int registry_credentials_parse(const char *data, size_t size, const char *what,
                               RegistryCredentials **ret, PdError *reterr);
/* Reads and parses path; a missing file holds no credentials. */
int registry_credentials_load(const char *path, RegistryCredentials **ret, PdError *reterr);
/* The credential for host, or NULL. */
const RegistryCredential *registry_credentials_find(const RegistryCredentials *c, const char *host);

/* ---- what registries answer ------------------------------------------------------------------ */

typedef struct RegistryChallenge {
    bool bearer;                   /* Bearer, else Basic */
    char *realm, *service, *scope; /* Bearer's parameters; NULL when absent */
} RegistryChallenge;

void registry_challenge_done(RegistryChallenge *c);

/*
 * Parses a WWW-Authenticate header value, 'Bearer realm="URL",service="S",
 * scope="S"' (RFC 7235 auth-params, quoted or not) or 'Basic realm="R"'.
 * A Bearer challenge needs an http(s) realm. Returns 0, -EPROTONOSUPPORT
 * for another scheme, or -EINVAL. Does not log.
 */
int registry_challenge_parse(const char *header, RegistryChallenge *ret, PdError *reterr);

/* The token of a token server's JSON answer ("token", else "access_token"); new string. */
int registry_token_parse(const char *data, size_t size, char **ret, PdError *reterr);

/* ---- pulls --------------------------------------------------------------------------------- */

typedef struct RegistryProgress {
    const char *what; /* "manifest", "config" or a layer's digest */
    uint64_t done;    /* bytes of the image's blobs present so far (resumed bytes count) */
    uint64_t total;   /* bytes of all its blobs; 0 until the manifest is known */
    unsigned blobs_done, n_blobs;
} RegistryProgress;

typedef void (*RegistryProgressFn)(const RegistryProgress *p, void *userdata);

typedef struct RegistryPullOptions {
    const RegistryConfig *config;           /* may be NULL: no settings */
    const RegistryCredentials *credentials; /* may be NULL: anonymous */
    unsigned max_parallel;                  /* concurrent blob downloads; 0 means 3 */
    RegistryProgressFn progress;            /* may be NULL; called at most a few times a second */
    void *userdata;
    const volatile sig_atomic_t *cancel; /* may be NULL; the pull stops with -EINTR */
} RegistryPullOptions;

/*
 * Pulls ref into the blob store of images_dir. The registry is ref's host,
 * after its mirrors (the first that has the image wins; a mirror that fails
 * is skipped). HTTPS with the system CA store plus the host's caFile;
 * plain HTTP when the host is insecure or loopback (then HTTPS is not
 * tried). A 401 is answered once with a bearer token fetched from the
 * challenge's realm, or with basic auth, using the host's credential if any.
 * A reference with a digest gets exactly that manifest. A layer fetched in
 * part earlier resumes where it stopped when the registry honours Range.
 * On failure reterr names the registry, the document or blob and the HTTP
 * status or the transfer error; complete blobs already stored stay (they
 * are verified and may be shared). Returns 0 or -errno (-ENOENT when the
 * registry does not have the image, -EACCES when it refuses the
 * credentials, -EBADMSG for content that does not match its digest,
 * -EHOSTUNREACH when no registry could be reached). Does not log.
 */
int registry_pull(const char *images_dir, const ImageReference *ref,
                  const RegistryPullOptions *opts, ImageLoadResult **ret, PdError *reterr);

/* Initialises libcurl once per process, before any thread starts; returns 0 or -ENOMEM. */
int registry_global_init(void);

/* ---- pulls in a child process ------------------------------------------------------------ */

/*
 * A pull that never blocks its caller: registry_pull_start() forks a child
 * that reads the registries and credentials files and runs registry_pull(),
 * writing one line per event into a pipe ("progress DONE TOTAL BLOBS N",
 * then "ok DIGEST MEDIA-TYPE" or "error ERRNO MESSAGE"). The caller watches
 * registry_pull_job_fd() for input (and may watch the child through its
 * pid) and calls registry_pull_job_read() when it is readable.
 */
typedef struct RegistryPullJob RegistryPullJob;

/*
 * Starts the child. config_path and credentials_path may be NULL (no
 * settings, no credentials); a missing file is the same. The child's
 * signal mask is emptied and it holds no fd of the caller's but the pipe.
 * Returns 0 or -errno. Does not log.
 */
int registry_pull_start(const char *images_dir, const ImageReference *ref, const char *config_path,
                        const char *credentials_path, RegistryPullJob **ret, PdError *reterr);

/* registry_pull_start_flags(): the child also records the image (image_store_add under its
 * reference, which unpacks its layers) before it reports "ok", so its caller never waits for an
 * unpack. */
#define REGISTRY_PULL_RECORD (1u << 0)

/* registry_pull_start() with flags, an OR of REGISTRY_PULL_*. */
int registry_pull_start_flags(const char *images_dir, const ImageReference *ref,
                              const char *config_path, const char *credentials_path, unsigned flags,
                              RegistryPullJob **ret, PdError *reterr);
/*
 * registry_pull_start_flags(), but the child execs helper (podd-image-loader
 * --pull IMAGES-DIR REF CONFIG AUTH FLAGS, which calls
 * registry_pull_child_run() on fd 3) instead of pulling in a fork of the
 * caller: podd starts pulls this way and so does not carry libcurl.
 */
int registry_pull_start_exec(const char *helper, const char *images_dir, const ImageReference *ref,
                             const char *config_path, const char *credentials_path, unsigned flags,
                             RegistryPullJob **ret, PdError *reterr);
/* The child's side: pulls ref as registry_pull_start_flags() says, reports on fd, exits. */
_Noreturn void registry_pull_child_run(int fd, const char *images_dir, const ImageReference *ref,
                                       const char *config_path, const char *credentials_path,
                                       unsigned flags);
/* The read end of the pipe (O_NONBLOCK, O_CLOEXEC), and the child's pid. */
int registry_pull_job_fd(const RegistryPullJob *j);
pid_t registry_pull_job_pid(const RegistryPullJob *j);
/*
 * Reads what the child wrote so far, without blocking. *ret_progress, when
 * not NULL, gets the latest progress (also with the end). Returns 0 while the
 * pull runs; 1 when
 * it succeeded (*ret gets the image, as registry_pull() returns it, read
 * back from the blob store; the child is reaped); or -errno when it failed
 * (reterr gets the child's message; -EIO when the child died without one).
 * Does not log.
 */
int registry_pull_job_read(RegistryPullJob *j, RegistryProgress *ret_progress,
                           ImageLoadResult **ret, PdError *reterr);
/* Kills a child still running (SIGKILL, by its pid), reaps it and frees j. */
RegistryPullJob *registry_pull_job_free(RegistryPullJob *j);
DEFINE_CLEANUP_FUNC(RegistryPullJob, registry_pull_job_free)
