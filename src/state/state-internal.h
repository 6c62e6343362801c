/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "state.h"

/* What the store knows of one pod's state slots (state-pod.c). */
typedef struct StateSlots {
    char pod[64];
    uint64_t gen;   /* the highest generation written or seen in any slot */
    int newest;     /* the slot holding the newest whole copy; -1: none */
    int durable;    /* the slot holding the newest synced copy; -1: none */
    bool legacy;    /* a state.json (of an older podd, or put there by hand) still rules */
    bool old_slots; /* slot files of the podd before (state.a, b, c) are left */
} StateSlots;

struct StateStore {
    char *path; /* for messages only: everything is reached through the fds */
    int dir_fd;
    int pods_fd;
    int applied_fd;
    int images_fd;
    StateSlots *slots; /* one per pod saved or loaded, in no order */
    size_t n_slots;
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

/* state-pod.c */
/* Forgets what the store knew of pod's slots (its directory is gone). */
void state_slots_forget(StateStore *s, const char *pod);
