/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * watch: the manifest directory as a desired set of pods.
 *
 * A ManifestWatcher sits on a Loop and watches one directory with raw
 * inotify. Handlers only record which names are dirty; one deferred
 * (ONESHOT) source re-reads each dirty file once per loop iteration, so a
 * burst of events for one file costs one read and a dropped manifest is
 * picked up in the same iteration its events arrive in.
 *
 * Changes are detected by content: each file's bytes are hashed
 * (SHA-256); a file read again with the same bytes causes nothing. Each
 * valid Pod document becomes an entry of the desired set, keyed by
 * metadata.name, and the callback hears ADDED, CHANGED, REMOVED, ERROR or
 * CONFLICT for each pod name whose entry or errors changed.
 *
 * Rules (DESIGN.md, "Manifests"):
 *   - only names manifest_name_is_candidate() accepts are read, and only
 *     regular files (opened O_NONBLOCK); symlinks only when they resolve
 *     inside the directory (the "..data" pattern: a swap of "..data"
 *     triggers a rescan);
 *   - an invalid document keeps its pod's last good version and records
 *     the error on the entry; a file that cannot be parsed at all (syntax
 *     error, unreadable, not a regular file) keeps every pod of the file;
 *   - a removed file, or a pod no longer in its file, removes the pod;
 *   - a pod name defined by two files stays with the file that has it;
 *     the other is reported as a conflict and takes over once the first
 *     lets go (files new in the same pass: the name that sorts first
 *     wins). A pod that moves from one file to another in one pass (mv
 *     a.yaml b.yaml) keeps its entry: CHANGED only if its spec changed.
 *   - a missing directory is waited for (also after it is removed or
 *     swapped); while it is missing it holds no manifest.
 *
 * Nothing here logs above debug; problems are reported through events
 * and the error accessors.
 */

#include <jansson.h>

#include "base/base.h"
#include "loop/loop.h"
#include "manifest/manifest.h"

/* A content_hash() (hex SHA-256) and its NUL. */
#define MANIFEST_WATCH_HASH_LEN CONTENT_HASH_MAX
/* The most files of one directory the watcher tracks; the rest are reported and skipped. */
#define MANIFEST_WATCH_MAX_FILES 4096

typedef struct ManifestWatcher ManifestWatcher;

typedef struct ManifestWatchOptions {
    /* Period of a full re-list that covers filesystems where inotify misses changes; 0: off. */
    uint64_t rescan_interval_usec;
} ManifestWatchOptions;

/* An entry of the desired set. Owned by the watcher; read-only to callers. */
typedef struct ManifestWatchPod {
    char *name;         /* metadata.name: the key */
    char *file;         /* the file (name inside the directory) the pod comes from */
    unsigned doc_index; /* its document in that file, as last read */
    /*
     * The version in force. The same object until a CHANGED or REMOVED
     * event for this pod: a re-read with an equal spec keeps it, so the
     * daemon may hold it between events.
     */
    const Pod *pod;
    json_t *spec;                            /* pod_to_json(pod) */
    char spec_hash[MANIFEST_WATCH_HASH_LEN]; /* SHA-256 of spec as compact JSON, sorted keys */
    bool has_error; /* a newer version could not be applied; error says why */
    PdError error;  /* file, line, column and message of that version's first error */
} ManifestWatchPod;

/* One candidate file of the directory. Owned by the watcher; read-only to callers. */
typedef struct ManifestWatchFile {
    char *name;
    /*
     * The last parse that succeeded (documents with their diagnostics,
     * warnings included), NULL when none has. Pods of a document that is
     * in force are the ones in the desired set.
     */
    const ManifestFile *parsed;
    char content_hash[MANIFEST_WATCH_HASH_LEN]; /* of the bytes last read; "" when unreadable */
    /* Everything wrong with the file now: first a whole-file error, then one per document. */
    PdError *errors;
    size_t n_errors;
} ManifestWatchFile;

typedef enum ManifestWatchEventType {
    MANIFEST_WATCH_ADDED,    /* a new pod: pod is the new entry */
    MANIFEST_WATCH_CHANGED,  /* its spec hash changed, or a recorded error was cleared */
    MANIFEST_WATCH_REMOVED,  /* pod is the entry being dropped, valid during the callback only */
    MANIFEST_WATCH_ERROR,    /* a version was not applied; pod is the kept entry or NULL */
    MANIFEST_WATCH_CONFLICT, /* file defines a name another file (or document) has: pod holds it */
    /*
     * A newly read document has a warning (an ignored field...), one event
     * per warning, before the pod's own event: error holds file, line,
     * column and "warning: PATH: MESSAGE", as podctl validate prints it;
     * pod_name is the document's name (or NULL), pod is NULL.
     */
    MANIFEST_WATCH_WARNING,
    _MANIFEST_WATCH_EVENT_TYPE_MAX,
    _MANIFEST_WATCH_EVENT_TYPE_INVALID = -EINVAL,
} ManifestWatchEventType;

typedef struct ManifestWatchEvent {
    ManifestWatchEventType type;
    const char *pod_name;        /* NULL for an error about a file that names no pod */
    const char *file;            /* the file the event is about */
    const ManifestWatchPod *pod; /* see ManifestWatchEventType; NULL when there is no entry */
    const PdError *error;        /* ERROR and CONFLICT; NULL otherwise */
} ManifestWatchEvent;

/*
 * Called once per event, after the desired set holds the outcome of the
 * whole pass (the accessors below see it). Everything the event points to
 * is borrowed and valid during the call only. The callback may call every
 * function here except manifest_watcher_free() and manifest_watcher_flush().
 * A negative return is logged at debug level and otherwise ignored.
 */
typedef int (*ManifestWatchHandler)(ManifestWatcher *w, const ManifestWatchEvent *ev,
                                    void *userdata);

/*
 * Watches dir_path (copied; relative paths are relative to the current
 * directory at every (re)attach) on loop (referenced). opts may be NULL.
 * The first full scan runs in the first loop iteration (or on
 * manifest_watcher_flush()), so nothing is called back from here. A
 * missing directory is not an error: it is waited for. Returns 0 with *ret
 * owned by the caller, or -errno (-EINVAL, -ENOMEM, -EMFILE, ...) with
 * reterr set. Does not log.
 */
int manifest_watcher_new(Loop *loop, const char *dir_path, const ManifestWatchOptions *opts,
                         ManifestWatchHandler cb, void *userdata, ManifestWatcher **ret,
                         PdError *reterr);
/* Frees the watcher, its sources and its desired set. Accepts NULL; returns NULL. */
ManifestWatcher *manifest_watcher_free(ManifestWatcher *w);
DEFINE_CLEANUP_FUNC(ManifestWatcher, manifest_watcher_free)

/* Asks for a full re-list in the next iteration (SIGHUP). Returns 0 or -errno. */
int manifest_watcher_rescan(ManifestWatcher *w);

/*
 * Does now what the deferred source would do in this iteration: re-attach,
 * re-list and re-read what is pending, then call back. For startup (a
 * first pass before the first reconcile) and tests. Returns 0, -EBUSY from
 * inside the callback, or -errno of a failure that leaves work pending.
 */
int manifest_watcher_flush(ManifestWatcher *w);
/*
 * Marks file_name (in the directory) for a read in the next pass, as its
 * inotify event would: for a file we wrote or removed ourselves, whose
 * event a manifest_watcher_flush() right after would not have seen yet.
 * Returns 0, -EINVAL for a name the watcher never reads, or -ENOMEM.
 */
int manifest_watcher_note_changed(ManifestWatcher *w, const char *file_name);

/* True while the directory exists and is watched (false: waiting for it). */
bool manifest_watcher_is_attached(const ManifestWatcher *w);
const char *manifest_watcher_get_path(const ManifestWatcher *w);

/* The desired set, sorted by pod name. Entries stay valid until the next pass. */
size_t manifest_watcher_n_pods(const ManifestWatcher *w);
const ManifestWatchPod *manifest_watcher_pod_at(const ManifestWatcher *w, size_t i);
/* Looks a pod up by name; NULL when it is not in the desired set. */
const ManifestWatchPod *manifest_watcher_get_pod(const ManifestWatcher *w, const char *name);

/*
 * A pin keeps the Pod object of an entry (and the parse that owns it) valid
 * after the entry changes or goes, until it is released: the daemon keeps
 * running a version the watcher no longer holds (an update that waits).
 * Never fails (a reference count); release accepts NULL and returns NULL.
 */
typedef struct WatchParse ManifestWatchPin;
ManifestWatchPin *manifest_watch_pod_pin(const ManifestWatchPod *pod);
ManifestWatchPin *manifest_watch_pin_release(ManifestWatchPin *pin);
/*
 * A pin of a parse the watcher never had (a version read back from a state
 * file): takes mf on every path; NULL on ENOMEM.
 */
ManifestWatchPin *manifest_watch_pin_take(ManifestFile *mf);
/* The document (as JSON) of pod in what pin holds; NULL when pod is not one of its documents. */
const json_t *manifest_watch_pin_source(const ManifestWatchPin *pin, const Pod *pod);

/* The candidate files, sorted by name; same lifetime as the pods. */
size_t manifest_watcher_n_files(const ManifestWatcher *w);
const ManifestWatchFile *manifest_watcher_file_at(const ManifestWatcher *w, size_t i);
const ManifestWatchFile *manifest_watcher_get_file(const ManifestWatcher *w, const char *name);

const char *manifest_watch_event_type_to_string(ManifestWatchEventType t);
ManifestWatchEventType manifest_watch_event_type_from_string(const char *s);
