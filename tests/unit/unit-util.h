/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * What the Check suites share: counting open fds (no test may leak one),
 * removing a test's temporary tree, and skipping a case that cannot run on
 * this host. Written with libc alone, so that none of it depends on the
 * code under test.
 */
#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The process's open fds, as /proc/self/fd lists them. */
static inline int unit_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int n = 0;

    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int unit_rm_failed;

static inline int unit_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) < 0)
        unit_rm_failed = 1;
    return 0;
}

/* Removes path and everything below it, going on past failures; -1 when one failed. */
static inline int unit_rm_tree(const char *path)
{
    unit_rm_failed = 0;
    if (nftw(path, unit_rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
        return -1;
    return unit_rm_failed ? -1 : 0;
}

/*
 * Skips. Check (0.15) has no skip: a case that returns early because the
 * host cannot run it (no root, no pidfd under valgrind) passes without
 * testing anything. So whether a case can run is decided in main(), before
 * the run: unit_add_test_unless() adds the case, or records why not, and
 * unit_run() reports each recorded case as "ok N - FILE:NAME # SKIP WHY"
 * after Check's own results, which automake's tap-driver counts as a SKIP
 * (and quickstart.sh's summary with it). Check writes its TAP plan last,
 * so while a skip is recorded its TAP goes to a memfd and is copied to
 * stdout without that plan; the plan printed instead counts the skips.
 */
typedef struct UnitSkip {
    const char *file;
    const char *name;
    char why[256];
} UnitSkip;

static UnitSkip unit_skips[16];
static int unit_n_skips;

/* Adds test t to tc when why_not is NULL; otherwise records t as skipped, for why_not. */
static inline void unit_add_test_unless(TCase *tc, const TTest *t, const char *why_not)
{
    UnitSkip *k;

    if (!why_not) {
        tcase_add_test(tc, t);
        return;
    }
    if (unit_n_skips >= (int)(sizeof(unit_skips) / sizeof(unit_skips[0]))) {
        (void)fprintf(stderr, "unit_add_test_unless: more than %d skips\n", unit_n_skips);
        abort();
    }
    k = &unit_skips[unit_n_skips++];
    k->file = t->file;
    k->name = t->name;
    (void)snprintf(k->why, sizeof(k->why), "%s", why_not);
    /* A reason is one line, and a '#' in it would start a second TAP directive. */
    for (char *c = k->why; *c; c++)
        if (*c == '\n' || *c == '#')
            *c = ' ';
}

/* Copies Check's TAP from fd to stdout, all but its plan line; returns 0, or -1. */
static inline int unit_copy_tap(int fd)
{
    FILE *f;
    char *line = NULL;
    size_t size = 0;
    int n;

    if (lseek(fd, 0, SEEK_SET) < 0 || !(f = fdopen(fd, "r")))
        return -1;
    while (getline(&line, &size, f) >= 0) {
        char end;

        if (sscanf(line, "1..%d%c", &n, &end) == 2 && end == '\n')
            continue;
        (void)fputs(line, stdout);
    }
    free(line);
    (void)fclose(f);
    return 0;
}

/*
 * Runs sr as srunner_run_all(sr, mode) does and reports the skips recorded
 * by unit_add_test_unless() (on stderr always, as TAP results too when
 * Check writes TAP to stdout). Returns main()'s exit status: 1 when a case
 * failed or the TAP could not be written, else 0.
 */
static inline int unit_run(SRunner *sr, enum print_output mode)
{
    const char *tap = srunner_has_tap(sr) ? srunner_tap_fname(sr) : NULL;
    bool tap_stdout = tap && strcmp(tap, "-") == 0 && unit_n_skips > 0;
    char path[64];
    int fd = -1, n, failed;

    for (int i = 0; i < unit_n_skips; i++)
        (void)fprintf(stderr, "# SKIP %s: %s\n", unit_skips[i].name, unit_skips[i].why);
    if (tap_stdout) {
        fd = memfd_create("unit-tap", MFD_CLOEXEC);
        if (fd < 0) {
            perror("memfd_create");
            return 1;
        }
        (void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        srunner_set_tap(sr, path);
    }
    (void)fflush(stdout);
    srunner_run_all(sr, mode);
    n = srunner_ntests_run(sr);
    failed = srunner_ntests_failed(sr);
    if (tap_stdout) {
        if (unit_copy_tap(fd) < 0) {
            perror("unit_copy_tap");
            (void)close(fd);
            return 1;
        }
        for (int i = 0; i < unit_n_skips; i++)
            (void)printf("ok %d - %s:%s # SKIP %s\n", n + 1 + i, unit_skips[i].file,
                         unit_skips[i].name, unit_skips[i].why);
        (void)printf("1..%d\n", n + unit_n_skips);
        (void)fflush(stdout);
    }
    return failed ? 1 : 0;
}
