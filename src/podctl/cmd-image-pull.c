/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>

#include "image/image.h"
#include "podctl.h"
#include "registry/registry.h"

/*
 * podctl image pull REF: the pull runs in a child process (registry.h) that
 * podctl watches; once it is done the image is recorded in podd's store
 * (image_store_add, which unpacks its layers), and podd is told
 * (image_added), so that containers waiting for the image start at once.
 * Root only, like import: podctl writes into the store itself.
 */

static volatile sig_atomic_t pull_cancel = 0;

static void on_interrupt(int sig)
{
    (void)sig;
    pull_cancel = 1;
}

static void mb(uint64_t bytes, char *buf, size_t size)
{
    (void)snprintf(buf, size, "%.1f MB", (double)bytes / 1e6);
}

static void show_progress(const char *name, const RegistryProgress *p, bool tty)
{
    char done[32], total[32];

    mb(p->done, done, sizeof(done));
    mb(p->total, total, sizeof(total));
    if (tty) {
        unsigned width = 30, fill = p->total ? (unsigned)(p->done * width / p->total) : 0;
        char bar[64];

        for (unsigned i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[width] = 0;
        fprintf(stderr, "\r%s [%s] %s / %s, %u/%u blobs\033[K", name, bar, done, total,
                p->blobs_done, p->n_blobs);
    } else
        fprintf(stderr, "pulling %s: %u/%u blobs, %s of %s\n", name, p->blobs_done, p->n_blobs,
                done, total);
    fflush(stderr);
}

/* Runs the pull's child until it ends, showing its progress. */
static int run_pull(const char *store, const ImageReference *ref, const char *name,
                    const char *registries, const char *auth, ImageLoadResult **ret, PdError *err)
{
    _cleanup_(registry_pull_job_freep) RegistryPullJob *job = NULL;
    bool tty = isatty(STDERR_FILENO);
    RegistryProgress last = {};
    int r;

    r = registry_pull_start(store, ref, registries, auth, &job, err);
    if (r < 0)
        return r;
    for (;;) {
        struct pollfd pfd = {.fd = registry_pull_job_fd(job), .events = POLLIN};
        RegistryProgress p = {};

        if (pull_cancel)
            return pd_error_set(err, -EINTR, "interrupted");
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            return pd_error_set(err, -errno, "poll: %m");
        r = registry_pull_job_read(job, &p, ret, err);
        if (r > 0 && p.total && p.blobs_done != last.blobs_done)
            show_progress(name, &p, tty); /* the last blob's line came with the result */
        if (r != 0) {
            if (tty && last.total)
                fputc('\n', stderr);
            return r < 0 ? r : 0;
        }
        /* On a terminal every change; otherwise a line per blob done. */
        if (p.total && (tty ? p.done != last.done || p.blobs_done != last.blobs_done
                            : p.blobs_done != last.blobs_done || !last.total))
            show_progress(name, &p, tty);
        last = p;
    }
}

int image_pull_cmd(int argc, char *argv[])
{
    static const struct option options[] = {
        {"registries", required_argument, NULL, 'r'},
        {"auth", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {},
    };
    _cleanup_(image_load_result_freep) ImageLoadResult *res = NULL;
    _cleanup_(strv_freep) char **warnings = NULL;
    _cleanup_free_ char *store = NULL;
    _cleanup_json_ json_t *result = NULL;
    const char *registries = REGISTRY_CONFIG_PATH, *auth = REGISTRY_AUTH_PATH;
    char name[IMAGE_REFERENCE_STRING_MAX + 1];
    struct sigaction sa = {.sa_handler = on_interrupt};
    ImageReference ref;
    ImageRecord rec;
    PdError e = {};
    int c;

    /* argv[-1] is "pull": getopt starts after it. */
    optind = 1;
    while ((c = getopt_long(argc + 1, argv - 1, "+r:a:h", options, NULL)) >= 0)
        switch (c) {
        case 'r':
            registries = optarg;
            break;
        case 'a':
            auth = optarg;
            break;
        case 'h':
            fputs("Usage: podctl image pull [--registries FILE] [--auth FILE] REFERENCE\n", stdout);
            return PODCTL_EXIT_OK;
        default:
            return PODCTL_EXIT_USAGE;
        }
    if (optind != argc) {
        fprintf(stderr, "podctl: image pull needs one image reference\n");
        return PODCTL_EXIT_USAGE;
    }
    if (image_reference_parse(argv[optind - 1], &ref, &e) < 0) {
        fprintf(stderr, "podctl: invalid image reference %s\n", e.message);
        return PODCTL_EXIT_USAGE;
    }
    (void)image_reference_format(&ref, name, sizeof(name));
    if (image_store_dir(&store) < 0)
        return PODCTL_EXIT_FAILURE;
    (void)sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    if (run_pull(store, &ref, name, registries, auth, &res, &e) < 0) {
        fprintf(stderr, "podctl: cannot pull %s: %s\n", name, e.message);
        return PODCTL_EXIT_FAILURE;
    }
    if (image_store_add(store, &res->images[0], NULL, 0, &rec, &warnings, &e) < 0) {
        fprintf(stderr, "podctl: cannot add %s to the store: %s\n", name, e.message);
        return PODCTL_EXIT_FAILURE;
    }
    for (size_t i = 0; warnings && warnings[i]; i++)
        fprintf(stderr, "podctl: warning: %s\n", warnings[i]);
    printf("image %s pulled: %s\n", rec.name, rec.digest);
    fflush(stdout);
    /* Containers of podd waiting for it start at once. */
    if (podctl_call(json_pack("{s:s,s:s}", "op", "image_added", "image", rec.name), &result) < 0)
        return PODCTL_EXIT_FAILURE;
    return PODCTL_EXIT_OK;
}
