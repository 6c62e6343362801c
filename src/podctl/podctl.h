/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * podctl: shared helpers of the subcommands. Each subcommand lives in
 * cmd-<verb>.c and exports cmd_<verb>(argc, argv), where argv[0] is the
 * verb; it returns the process exit code: 0 success, 1 failure, 2 usage.
 */

#include <stdio.h>
#include <time.h>

#include "manifest/manifest.h"

enum {
    PODCTL_EXIT_OK = 0,
    PODCTL_EXIT_FAILURE = 1,
    PODCTL_EXIT_USAGE = 2,
};

int cmd_validate(int argc, char *argv[]);
int cmd_graph(int argc, char *argv[]);
int cmd_get(int argc, char *argv[]);
int cmd_describe(int argc, char *argv[]);
int cmd_apply(int argc, char *argv[]);
int cmd_delete(int argc, char *argv[]);
int cmd_restart(int argc, char *argv[]);
int cmd_image(int argc, char *argv[]);
/* podctl image pull (cmd-image-pull.c): argv holds what follows "pull". */
int image_pull_cmd(int argc, char *argv[]);
/* The image store's directory, from podd (root only: podctl writes into it itself). */
int image_store_dir(char **ret);
int cmd_logs(int argc, char *argv[]);
int cmd_events(int argc, char *argv[]);
/* Hidden helper of the bash completion: podctl __complete containers POD. */
int cmd_complete(int argc, char *argv[]);

/*
 * Loads one manifest: a file path, or "-" for standard input (named
 * "<stdin>" in messages). Returns 0 with *ret set, or a negative errno
 * with reterr filled in (file, line, column, message). Does not print.
 */
int podctl_load_manifest(const char *path, ManifestFile **ret, PdError *reterr);

/*
 * Expands the -f arguments: files as they are, directories to the manifest
 * candidates directly inside them (sorted), "-" as is. On failure prints
 * the reason and returns a negative errno. The caller owns *ret (strv).
 */
int podctl_expand_paths(char *const *args, char ***ret);

/* Prints every diagnostic of f to stderr, "file:line:col: [warning: ]path: message". */
void podctl_print_diags(const ManifestFile *f);

/* Prints "podctl: " + formatted error to stderr. */
void podctl_print_error(const PdError *e);

/* A duration for a flag: Go's "30s", "5m", "1h30m", or a number of seconds; > 0, rounded up. */
int podctl_parse_seconds(const char *s, uint64_t *ret);

/* True when colour may be used on stream fd (a terminal, and NO_COLOR unset). */
bool podctl_use_color(int fd);

/* ---- talking to podd (podctl-api.c) ---------------------------------------------------- */

/* The API socket: --socket, else $PODD_SOCKET, else /run/podd/podd.sock. Set by main(). */
const char *podctl_socket_path(void);
/* For commands that also take --socket after the verb, as kubectl takes its global flags. */
void podctl_set_socket_path(const char *path);

/*
 * Connects to podd, sends request (consumed on every path) and waits for
 * the answer. Returns 0 with *ret_result a new reference, or a negative
 * errno after printing "podctl: <why>" to stderr (for an error response,
 * the errno of its reason: -ENOENT for NotFound, -EACCES for Forbidden).
 */
int podctl_call(json_t *request_take, json_t **ret_result);

/* parse_rfc3339() of a NUL-terminated s, to the second. Returns 0 or -EINVAL. */
int podctl_parse_time(const char *s, time_t *ret);
/* A duration in seconds as kubectl prints ages: 5s, 3m2s, 62m, 4h5m, 2d7h, 400d. */
void podctl_format_age(int64_t seconds, char *buf, size_t size);
/* The age of an RFC 3339 timestamp, or "<unknown>". */
void podctl_format_age_of(const char *timestamp, char *buf, size_t size);

/* The columns kubectl shows for a pod, computed from a Kubernetes v1 Pod object. */
typedef struct PodSummary {
    char name[256];
    char ready[32];    /* ready/total: regular containers and sidecars */
    char status[128];  /* a container's waiting or terminated reason, Terminating, or the phase */
    char restarts[64]; /* sum of restartCount, "(5m ago)" for the last restart */
    char age[32];
} PodSummary;

/* Returns 0, or -EBADMSG when pod has no metadata.name. */
int podctl_pod_summary(const json_t *pod, PodSummary *ret);
/* An ANSI colour for a STATUS value: green, yellow or red. */
const char *podctl_status_color(const char *status);

/* Prints v as a YAML document in block style (kubectl's layout), quoting where needed. */
void podctl_print_yaml(FILE *f, const json_t *v);
