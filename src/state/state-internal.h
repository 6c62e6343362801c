/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "state.h"

/* The regions of state.slots (state-pod.c). */
#define STATE_REGIONS 3

/* What the store knows of one pod's state slots (state-pod.c). */
typedef struct StateSlots {
    char pod[64];
    uint64_t incarnation; /* this entry's own number: the store's entries are never renumbered */
    uint64_t gen;         /* the highest generation written or seen in any slot */
    int newest;           /* the slot holding the newest whole copy; -1: none */
    int durable;          /* the slot holding the newest synced copy; -1: none */
    bool legacy;          /* a state.json (of an older podd, or put there by hand) still rules */
    bool old_slots;       /* slot files of the podd before (state.a, b, c) are left */
    /* With syncs in the background (state-sync.c): */
    uint64_t written[STATE_REGIONS]; /* the generation each region holds; 0: none known */
    uint64_t syncing[STATE_REGIONS]; /* the generation a queued sync of it makes durable; 0: none */
    bool entries_new; /* pods/NAME/ or its state.slots made since a sync of their directories */
    bool resync;      /* a sync failed: the next save is synced, whatever it is asked */
    bool failing;     /* a sync failed, and none succeeded since */
    struct StateSyncJob *queued; /* the last job queued for it, until taken in; NULL: none */
} StateSlots;

typedef struct StateSyncer StateSyncer;

/* One pod's sync, queued after its write; the fds are the job's own. */
typedef struct StateSyncJob {
    struct StateSyncJob *next;
    char pod[64];
    uint64_t incarnation; /* of the pod's StateSlots when queued: a later one knows none of it */
    int file_fd;          /* state.slots: fdatasync(); -1: none (a pod's directory removed) */
    int dir_fd;           /* pods/NAME/ (its state.slots is new): fsync(); -1: none */
    int parent_fd;        /* pods/ (pods/NAME/ is new): fsync(); -1: none */
    int region;           /* the region written ... */
    uint64_t gen;         /* ... with this generation */
    int error;            /* set by the thread: 0 or -errno */
    bool taken;           /* the thread took it (under its lock): its sync may have begun */
} StateSyncJob;

struct StateStore {
    StateSyncer *syncer; /* NULL: every sync is made in the save that asks for it */
    char *path;          /* for messages only: everything is reached through the fds */
    int dir_fd;
    int pods_fd;
    int applied_fd;
    int images_fd;
    StateSlots *slots;     /* one per pod saved or loaded, in no order */
    uint64_t incarnations; /* the number of StateSlots made so far */
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

/* state-sync.c */
int state_syncer_new(StateSyncer **ret);
/* Runs what is queued, then ends the thread; the jobs it did not hand over are freed. */
void state_syncer_free(StateSyncer *y);
/* An eventfd, readable when jobs ended (state_syncer_take()). */
int state_syncer_fd(const StateSyncer *y);
/* Queues j (taken). */
void state_syncer_queue(StateSyncer *y, StateSyncJob *j);
/*
 * Makes j, queued and not taken by the thread yet, sync the write of region
 * with gen instead (its fdatasync() comes after that write). False when the
 * thread took it: a new job is needed.
 */
bool state_syncer_retarget(StateSyncer *y, StateSyncJob *j, int region, uint64_t gen);
/* The jobs that ended, oldest first (the caller frees them with state_sync_jobs_free()). */
StateSyncJob *state_syncer_take(StateSyncer *y);
/* Returns once every queued job ended. */
void state_syncer_wait(StateSyncer *y);
/* A job for pod (of the StateSlots numbered incarnation; 0: none), every fd -1; NULL: no memory. */
StateSyncJob *state_sync_job_new(const char *pod, uint64_t incarnation);
/* A copy of fd for a job, or -1 (fd is -1; or none is left, and *error says why if unset). */
int state_sync_job_fd(int fd, int *error);
void state_sync_jobs_free(StateSyncJob *j);

/* state-pod.c */
/* Forgets what the store knew of pod's slots (its directory is gone). */
void state_slots_forget(StateStore *s, const char *pod);
