/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "state.h"

struct StateStore {
    char *path; /* for messages only: everything is reached through the fds */
    int dir_fd;
    int pods_fd;
    int applied_fd;
    int images_fd;
};

/* state-store.c */
/* Opens (creating it 0700 when create is set) the directory name below dir_fd, no symlinks. */
int state_open_subdir(int dir_fd, const char *name, bool create, bool *ret_created);
/* Calls cb for each entry of dir_fd except "." and ".."; stops at the first error. */
int state_for_each_entry(int dir_fd,
                         int (*cb)(int dir_fd, const char *name, unsigned char type,
                                   void *userdata),
                         void *userdata);
/* Sorts a strv in place (strcmp order). */
void state_strv_sort(char **l);
