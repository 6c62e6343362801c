/* SPDX-License-Identifier: Apache-2.0 */
#include <curl/curl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "registry-internal.h"

/*
 * A pull in a child process, talking to its parent through a pipe, one line
 * per event. Lines are shorter than PIPE_BUF, so each write is atomic.
 */

#define LINE_MAX_BYTES 2048

struct RegistryPullJob {
    pid_t pid; /* 0 once reaped */
    int fd;
    char *images_dir;
    ImageReference ref;
    StrBuf buf;
    RegistryProgress progress;
    bool eof;
};

int registry_pull_job_fd(const RegistryPullJob *j)
{
    return j->fd;
}

pid_t registry_pull_job_pid(const RegistryPullJob *j)
{
    return j->pid;
}

static void reap(RegistryPullJob *j, bool kill_it)
{
    if (j->pid <= 0)
        return;
    if (kill_it)
        (void)kill(j->pid, SIGKILL);
    while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    j->pid = 0;
}

RegistryPullJob *registry_pull_job_free(RegistryPullJob *j)
{
    if (!j)
        return NULL;
    reap(j, true);
    if (j->fd >= 0)
        (void)close(j->fd);
    free(j->images_dir);
    strbuf_done(&j->buf);
    free(j);
    return NULL;
}

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

__attribute__((noreturn)) static void child_run(int fd, const char *images_dir,
                                                const ImageReference *ref, const char *config_path,
                                                const char *credentials_path, unsigned flags)
{
    _cleanup_(image_load_result_freep) ImageLoadResult *res = NULL;
    _cleanup_(registry_config_freep) RegistryConfig *config = NULL;
    _cleanup_(registry_credentials_freep) RegistryCredentials *creds = NULL;
    RegistryPullOptions opts = {.progress = child_progress, .userdata = &fd};
    char line[LINE_MAX_BYTES];
    PdError e = {};
    sigset_t none;

    (void)sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
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
    _cleanup_(registry_pull_job_freep) RegistryPullJob *j = NULL;
    int pipefd[2];
    pid_t pid;

    j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->fd = -1;
    j->ref = *ref;
    j->images_dir = strdup(images_dir);
    if (!j->images_dir)
        return -ENOMEM;
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return pd_error_set(reterr, -errno, "cannot create a pipe: %m");
    pid = fork();
    if (pid < 0) {
        int r = -errno;

        (void)close(pipefd[0]);
        (void)close(pipefd[1]);
        return pd_error_set(reterr, r, "cannot fork a pull: %s", strerror(-r));
    }
    if (pid == 0) {
        /* The write end becomes fd 3; every other fd of the parent past stderr is closed. */
        if (dup2(pipefd[1], 3) < 0 || close_range(4, ~0u, 0) < 0)
            _exit(2);
        child_run(3, images_dir, ref, config_path, credentials_path, flags);
    }
    (void)close(pipefd[1]);
    j->pid = pid;
    j->fd = pipefd[0];
    if (fcntl(j->fd, F_SETFL, O_NONBLOCK) < 0)
        return pd_error_set(reterr, -errno, "cannot set up the pull's pipe: %m");
    *ret = move_ptr(j);
    return 0;
}

/* ---- the parent ----------------------------------------------------------------------------- */

/* The pulled image, read back from the blob store. */
static int load_result(RegistryPullJob *j, const char *digest, const char *media_type,
                       ImageLoadResult **ret, PdError *reterr)
{
    _cleanup_(image_load_result_freep) ImageLoadResult *res = NULL;
    _cleanup_free_ char *data = NULL, *cdata = NULL;
    char what[IMAGE_DIGEST_SIZE + 16], name[IMAGE_REFERENCE_STRING_MAX + 1];
    size_t size;
    int r;

    if (!image_digest_is_valid(digest))
        return pd_error_set(reterr, -EBADMSG, "pull process: invalid digest '%.80s'", digest);
    res = calloc(1, sizeof(*res));
    if (!res || !(res->images = calloc(1, sizeof(*res->images))))
        return -ENOMEM;
    res->n_images = 1;
    r = image_blob_read(j->images_dir, digest, &data, &size, reterr);
    if (r < 0)
        return r;
    (void)snprintf(what, sizeof(what), "manifest %s", digest);
    r = image_manifest_parse(data, size, what, media_type, &res->images[0].manifest, reterr);
    if (r < 0)
        return r;
    r = image_blob_read(j->images_dir, res->images[0].manifest->config.digest, &cdata, &size,
                        reterr);
    if (r < 0)
        return r;
    (void)snprintf(what, sizeof(what), "config %s", res->images[0].manifest->config.digest);
    r = image_config_parse(cdata, size, what, &res->images[0].config, reterr);
    if (r < 0)
        return r;
    strcpy(res->images[0].manifest_digest, digest);
    (void)image_reference_format(&j->ref, name, sizeof(name));
    res->images[0].name = strdup(name);
    if (!res->images[0].name)
        return -ENOMEM;
    *ret = move_ptr(res);
    return 0;
}

/* One complete line: 0 for progress, 1 or -errno for the end. */
static int handle_line(RegistryPullJob *j, char *line, ImageLoadResult **ret, PdError *reterr)
{
    unsigned long long done, total;
    unsigned bd, nb;
    int code, off = 0;

    if (sscanf(line, "progress %llu %llu %u %u", &done, &total, &bd, &nb) == 4) {
        j->progress = (RegistryProgress){
            .what = "", .done = done, .total = total, .blobs_done = bd, .n_blobs = nb};
        return 0;
    }
    if (startswith(line, "ok ")) {
        char *digest = line + 3, *media_type = strchr(digest, ' ');
        int r;

        if (!media_type)
            return pd_error_set(reterr, -EBADMSG, "pull process: malformed result");
        *media_type++ = 0;
        reap(j, false);
        r = load_result(j, digest, media_type, ret, reterr);
        return r < 0 ? r : 1;
    }
    if (sscanf(line, "error %d %n", &code, &off) == 1 && off > 0 && code > 0 && code < 4096) {
        reap(j, false);
        return pd_error_set(reterr, -code, "%s", line + off);
    }
    return pd_error_set(reterr, -EBADMSG, "pull process: unexpected line '%.80s'", line);
}

int registry_pull_job_read(RegistryPullJob *j, RegistryProgress *ret_progress,
                           ImageLoadResult **ret, PdError *reterr)
{
    char chunk[4096];
    int r = 0;

    while (!j->eof) {
        ssize_t n = read(j->fd, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0)
            return pd_error_set(reterr, -errno, "cannot read from the pull process: %m");
        if (n == 0) {
            j->eof = true;
            break;
        }
        if (strbuf_append(&j->buf, chunk, (size_t)n) < 0)
            return -ENOMEM;
        if (j->buf.len > 64 * 1024)
            return pd_error_set(reterr, -EBADMSG, "pull process: line too long");
    }
    /* Complete lines, in order; the last event wins. */
    while (j->buf.len > 0) {
        char *nl = memchr(j->buf.data, '\n', j->buf.len);
        size_t k;

        if (!nl)
            break;
        *nl = 0;
        r = handle_line(j, j->buf.data, ret, reterr);
        k = (size_t)(nl - j->buf.data) + 1;
        memmove(j->buf.data, j->buf.data + k, j->buf.len - k);
        j->buf.len -= k;
        if (r != 0) {
            if (ret_progress)
                *ret_progress = j->progress;
            return r;
        }
    }
    if (j->eof) {
        int status = 0;
        pid_t pid = j->pid;

        if (pid > 0)
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        j->pid = 0;
        return pd_error_set(reterr, -EIO, "the pull process died (%s %d) without a result",
                            WIFSIGNALED(status) ? "signal" : "exit status",
                            WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
    if (ret_progress)
        *ret_progress = j->progress;
    return 0;
}
