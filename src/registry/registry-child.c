/* SPDX-License-Identifier: Apache-2.0 */
#include <curl/curl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>

#include "registry-internal.h"

/*
 * The child's side of a pull (registry-job.c has the parent's): apart, so
 * that a program that only starts pulls through a helper and reads their
 * reports (podd, registry_pull_start_exec()) does not link libcurl.
 */

#define LINE_MAX_BYTES 2048

/* ---- the child ---------------------------------------------------------------------------- */

static void child_write(int fd, const char *line)
{
    size_t n = strlen(line);

    while (n > 0) {
        ssize_t w = write(fd, line, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            _exit(3); /* the parent is gone */
        line += w;
        n -= (size_t)w;
    }
}

static void child_progress(const RegistryProgress *p, void *userdata)
{
    char line[128];

    (void)snprintf(line, sizeof(line), "progress %" PRIu64 " %" PRIu64 " %u %u\n", p->done,
                   p->total, p->blobs_done, p->n_blobs);
    child_write(*(int *)userdata, line);
}

static void child_fail(int fd, const PdError *e)
{
    char msg[PD_ERROR_MESSAGE_MAX + PD_ERROR_FILE_MAX + 64], line[LINE_MAX_BYTES];

    pd_error_format(e, msg, sizeof(msg));
    /* One line: newlines of a message become spaces. */
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    (void)snprintf(line, sizeof(line), "error %d %s\n", e->code < 0 ? -e->code : EIO, msg);
    child_write(fd, line);
    _exit(1);
}

_Noreturn void registry_pull_child_run(int fd, const char *images_dir, const ImageReference *ref,
                                       const char *config_path, const char *credentials_path,
                                       unsigned flags)
{
    _cleanup_(image_load_result_freep) ImageLoadResult *res = NULL;
    _cleanup_(registry_config_freep) RegistryConfig *config = NULL;
    _cleanup_(registry_credentials_freep) RegistryCredentials *creds = NULL;
    RegistryPullOptions opts = {.progress = child_progress, .userdata = &fd};
    char line[LINE_MAX_BYTES];
    PdError e = {};
    (void)signal(SIGPIPE, SIG_DFL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        e.code = -ENOMEM;
        (void)snprintf(e.message, sizeof(e.message), "cannot initialise libcurl");
        child_fail(fd, &e);
    }
    if (config_path && registry_config_load(config_path, &config, &e) < 0)
        child_fail(fd, &e);
    if (credentials_path && registry_credentials_load(credentials_path, &creds, &e) < 0)
        child_fail(fd, &e);
    opts.config = config;
    opts.credentials = creds;
    if (registry_pull(images_dir, ref, &opts, &res, &e) < 0)
        child_fail(fd, &e);
    if ((flags & REGISTRY_PULL_RECORD) &&
        image_store_add(images_dir, &res->images[0], NULL, 0, NULL, NULL, &e) < 0)
        child_fail(fd, &e);
    (void)snprintf(line, sizeof(line), "ok %s %s\n", res->images[0].manifest_digest,
                   res->images[0].manifest->media_type);
    child_write(fd, line);
    _exit(0);
}

int registry_pull_start(const char *images_dir, const ImageReference *ref, const char *config_path,
                        const char *credentials_path, RegistryPullJob **ret, PdError *reterr)
{
    return registry_pull_start_flags(images_dir, ref, config_path, credentials_path, 0, ret,
                                     reterr);
}

int registry_pull_start_flags(const char *images_dir, const ImageReference *ref,
                              const char *config_path, const char *credentials_path, unsigned flags,
                              RegistryPullJob **ret, PdError *reterr)
{
    int r = registry_job_fork(images_dir, ref, ret, reterr);

    if (r != 0)
        return r < 0 ? r : 0;
    registry_pull_child_run(3, images_dir, ref, config_path, credentials_path, flags);
}
