/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

/* What the waiting half of podd-monitor needs once the container runs. */
typedef struct WatchArgs {
    pid_t pid;            /* the container's first process, our child */
    int out_fd, err_fd;   /* read ends of its stdout and stderr */
    const char *log_path; /* NULL: discard output */
    uint64_t log_max_bytes;
    const char *exit_file;
    const char *cgroup; /* NULL: none */
    const char *started_at;
    int lock_fd; /* the container's lock: held, never used, until we exit */
} WatchArgs;

/* The signals the monitor handles through a signalfd (blocked before the container starts). */
void monitor_signal_mask(sigset_t *mask);

/*
 * Copies the container's output to the CRI log, forwards SIGTERM, SIGINT,
 * SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to it, reaps it (and, as subreaper,
 * any orphan), writes the exit record, removes the cgroup. Returns the
 * process exit status for the monitor (0, or 1 when the record could not be
 * written). Expects monitor_signal_mask() to be blocked.
 */
int monitor_watch(const WatchArgs *a);
