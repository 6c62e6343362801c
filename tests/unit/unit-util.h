/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * What the Check suites share: counting open fds (no test may leak one)
 * and removing a test's temporary tree. Written with libc alone, so that
 * the cleanup never depends on the code under test.
 */
#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>

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
