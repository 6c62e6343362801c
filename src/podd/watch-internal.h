/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The watcher's parts: watch.c (inotify, attaching to the directory, the
 * pass and the public API), watch-read.c (reading one file) and
 * watch-desired.c (parses, the desired set and the events of a pass).
 */

#include <sys/inotify.h>

#include "watch.h"

/* Events after which a file is complete and worth reading. */
#define WATCH_COMPLETE_MASK (IN_CLOSE_WRITE | IN_MOVED_TO)

static inline void *mfree(void *p)
{
    free(p);
    return NULL;
}

/* What the watcher concluded about one document of a parse. */
typedef struct WatchDoc {
    bool ok;        /* a valid Pod whose graph sorts */
    bool has_error; /* !ok: error says why */
    PdError error;
} WatchDoc;

/* One successful parse of a file, shared by the file and the entries whose version it holds. */
typedef struct WatchParse {
    unsigned n_ref;
    ManifestFile *mf;
    WatchDoc *docs;          /* mf->n_docs */
    bool has_nameless_error; /* an invalid document without a readable name */
} WatchParse;

typedef struct WatchEntry {
    ManifestWatchPod pub;
    WatchParse *parse; /* holds pub.pod */
    bool released;     /* this pass: its file let go of it; REMOVED unless someone claims it */
} WatchEntry;

typedef struct WatchFile {
    ManifestWatchFile pub;
    WatchParse *parse; /* the last parse that succeeded */
    bool has_error;    /* the file as a whole: unreadable, not regular, syntax error */
    PdError error;
    bool dirty;
    uint32_t dirty_mask; /* inotify events since the last read; 0 for a re-list */
    bool changed;        /* this pass: parse or whole-file error changed */
    bool new_parse;      /* this pass: parse was replaced */
    bool gone;
    bool is_link; /* a symlink when last read: its target may move (the "..data" swap) */
} WatchFile;

typedef struct WatchEventRec {
    ManifestWatchEventType type;
    char *pod_name;
    char *file;
    WatchEntry *entry;
    PdError *error;
} WatchEventRec;

struct ManifestWatcher {
    Loop *loop;
    char *path;
    char *base; /* the last component of path: the name the parent watch waits for */
    ManifestWatchOptions opts;
    ManifestWatchHandler cb;
    void *userdata;

    LoopSource *inotify, *deferred, *timer;
    int dir_fd;
    char *real_dir; /* resolved path of the directory, for the symlink check */
    int wd_dir, wd_parent;
    char *wait_name; /* the child of the parent watch whose appearance means "attach again" */
    bool attached;
    /*
     * The directory is known not to exist (we wait for it): its files are
     * gone. When it merely could not be opened or watched, dir_fd < 0 too,
     * but nothing is concluded about its files.
     */
    bool dir_missing;
    bool need_attach, need_rescan, flushing;
    bool too_many_files;

    WatchFile **files; /* sorted by name */
    size_t n_files;
    WatchEntry **pods; /* sorted by name */
    size_t n_pods;

    /* One pass: events to deliver and what dies after delivery. */
    WatchEventRec *events;
    size_t n_events;
    WatchEntry **dead_pods;
    size_t n_dead_pods;
    WatchFile **dead_files;
    size_t n_dead_files;
};

/* ---- watch-desired.c ---------------------------------------------------------------------- */

WatchParse *watch_parse_unref(WatchParse *p);
DEFINE_CLEANUP_FUNC(WatchParse, watch_parse_unref)
/* Takes mf on every path; judges every document (valid Pod, graph sorts). 0 or -ENOMEM. */
int watch_parse_new_take(ManifestFile *mf, const char *file, WatchParse **ret);

/* Arrays of pointers to records whose first member is their char *name, sorted by it. */
size_t watch_sorted_find(void *const *items, size_t n, const char *name, bool *ret_found);
int watch_sorted_insert(void ***items, size_t *n, size_t at, void *item);
void watch_sorted_remove(void **items, size_t *n, size_t at);
int watch_push_ptr(void ***items, size_t *n, void *item);

WatchEntry *watch_entry_free(WatchEntry *e);
DEFINE_CLEANUP_FUNC(WatchEntry, watch_entry_free)
WatchFile *watch_file_free(WatchFile *f);
DEFINE_CLEANUP_FUNC(WatchFile, watch_file_free)
WatchEntry *watch_find_entry(const ManifestWatcher *w, const char *name);
WatchFile *watch_find_file(const ManifestWatcher *w, const char *name);

/* Records an event for the end of the pass (strings and error copied). 0 or -ENOMEM. */
int watch_queue_event(ManifestWatcher *w, ManifestWatchEventType type, const char *pod_name,
                      const char *file, WatchEntry *entry, const PdError *error);
void watch_event_rec_done(WatchEventRec *rec);

/* The phases of a pass after the reads; each returns 0 or -ENOMEM (and goes on where it can). */
int watch_file_release(ManifestWatcher *w, WatchFile *f);
int watch_file_claim(ManifestWatcher *w, WatchFile *f);
int watch_release_unclaimed(ManifestWatcher *w);
int watch_file_rebuild_errors(ManifestWatcher *w, WatchFile *f);

/* ---- watch-read.c ------------------------------------------------------------------------- */

/* Phase 1: reads one dirty file and records what changed about it. 0 or -ENOMEM. */
int watch_file_refresh(ManifestWatcher *w, WatchFile *f);
