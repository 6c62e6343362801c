/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * podctl: shared helpers of the subcommands. Each subcommand lives in
 * cmd-<verb>.c and exports cmd_<verb>(argc, argv), where argv[0] is the
 * verb; it returns the process exit code: 0 success, 1 failure, 2 usage.
 */

#include "manifest/manifest.h"

enum {
    PODCTL_EXIT_OK = 0,
    PODCTL_EXIT_FAILURE = 1,
    PODCTL_EXIT_USAGE = 2,
};

int cmd_validate(int argc, char *argv[]);
int cmd_graph(int argc, char *argv[]);

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

/* True when colour may be used on stream fd (a terminal, and NO_COLOR unset). */
bool podctl_use_color(int fd);
