/* SPDX-License-Identifier: Apache-2.0 */
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

/* ---- starting ------------------------------------------------------------------------------ */

int registry_job_fork(const char *images_dir, const ImageReference *ref, RegistryPullJob **ret,
                      PdError *reterr)
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
        sigset_t none;

        /* The write end becomes fd 3; every other fd of the parent past stderr is closed. */
        if (dup2(pipefd[1], 3) < 0 || close_range(4, ~0u, 0) < 0)
            _exit(2);
        (void)sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        return 0;
    }
    (void)close(pipefd[1]);
    j->pid = pid;
    j->fd = pipefd[0];
    if (fcntl(j->fd, F_SETFL, O_NONBLOCK) < 0)
        return pd_error_set(reterr, -errno, "cannot set up the pull's pipe: %m");
    *ret = move_ptr(j);
    return 1;
}

int registry_pull_start_exec(const char *helper, const char *images_dir, const ImageReference *ref,
                             const char *config_path, const char *credentials_path, unsigned flags,
                             RegistryPullJob **ret, PdError *reterr)
{
    char name[IMAGE_REFERENCE_STRING_MAX + 1], flags_s[16];
    int r;

    r = image_reference_format(ref, name, sizeof(name));
    if (r < 0)
        return pd_error_set(reterr, r, "cannot name the image to pull");
    (void)snprintf(flags_s, sizeof(flags_s), "%u", flags);
    r = registry_job_fork(images_dir, ref, ret, reterr);
    if (r != 0)
        return r < 0 ? r : 0;
    (void)execl(helper, "podd-image-loader", "--pull", images_dir, name, config_path ?: "",
                credentials_path ?: "", flags_s, (char *)NULL);
    (void)dprintf(3, "error %d cannot run %s: %s\n", errno, helper, strerror(errno));
    _exit(127);
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
