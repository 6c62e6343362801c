/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * state: the on-disk store under the state directory (/var/lib/podd):
 *
 *   pods/NAME/state.slots         the pod's observed state (JSON object), in three slots
 *                                 rewritten in place (see state_store_save_pod())
 *   pods/NAME/state.*.corrupt     the last unusable slots or state.json, set aside
 *   pods/NAME/state.{a,b,c}       the slots of the podd before, one file each, read until the
 *                                 next save replaces them
 *   pods/NAME/state.json          an older podd's state file, read once and replaced
 *   pods/NAME/once.json           "once" init containers that completed
 *   applied/NAME.yaml             Pods applied through the API, one per file (the document as JSON)
 *   images/                       the image store (filled elsewhere)
 *
 * The state directory is opened once; everything below it is reached with
 * openat() from that fd, O_CLOEXEC and O_NOFOLLOW, and every name is checked
 * to be a DNS-1123 label first, so no request can reach a path outside the
 * store. Every write is atomic (temporary file, rename; for a pod's state,
 * checksummed slots): a reader sees the old or the new state, never a
 * mix. Every write but a pod's bookkeeping (state_store_save_pod() without
 * sync) is also durable: the file is synced before the rename and the
 * directory after it (a slot: synced in place), so that a crash of the host
 * leaves the old or the new state too. Files are created 0600, directories
 * 0700.
 *
 * Nothing here logs: errors come back as -errno (and a PdError where the
 * user needs to know which file and why); the caller logs once.
 */

#include "base/base.h"

/* Largest state.json / once.json accepted; larger ones count as corrupt. */
#define STATE_JSON_MAX (4u * 1024u * 1024u)
/* The distance between two slots of state.slots (the largest state and its header fit). */
#define STATE_SLOT_STRIDE (STATE_JSON_MAX + 4096u)
/* Largest applied manifest accepted (the manifest parser's own limit). */
#define STATE_APPLIED_MAX (1024u * 1024u)

typedef struct StateStore StateStore;

/*
 * Opens (creating it, 0700, when absent, parents included) the state
 * directory path and its pods/, applied/ and images/ subdirectories.
 * path itself may not be a symlink. The caller owns *ret. Returns 0 or
 * -errno with reterr naming the directory. Does not log.
 */
int state_store_open(const char *path, StateStore **ret, PdError *reterr);
/* Closes the store's fds and frees it. Accepts NULL; returns NULL. */
StateStore *state_store_free(StateStore *s);
DEFINE_CLEANUP_FUNC(StateStore, state_store_free)

/* The state directory's fd and that of images/ (owned by the store; do not close). */
int state_store_dir_fd(const StateStore *s);
int state_store_images_fd(const StateStore *s);

/*
 * True for a DNS-1123 label: 1..63 of [a-z0-9-], alphanumeric at both ends.
 * Pod, container and applied-manifest names must pass this; it rules out
 * "", ".", "..", "/" and anything a path could be built from.
 */
bool state_name_is_valid(const char *name);

/*
 * Writes state (borrowed; must be a JSON object) to pods/NAME/,
 * creating the directory when needed, in one of three slots of the file
 * state.slots, rewritten in place: no file is created or renamed per save,
 * and a pod's state takes one inode. Slot i starts at byte
 * i * STATE_SLOT_STRIDE (a sparse file). Each slot is a header line,
 * "podd-state 1 GEN LEN SHA256\n" (GEN the generation, 20 decimal digits;
 * LEN the length of the text, 10 decimal digits; SHA256 its hash, 64
 * lowercase hex digits), then the text: the JSON with sorted keys,
 * indented, and a newline; bytes after it are stale and ignored. A reader
 * takes the valid slot of the highest generation, so a slot torn by a crash
 * or being written while read is passed over. The slot files of the podd
 * before (state.a, state.b, state.c, each one slot) are read as well.
 *
 * A save goes to the slot that holds neither the newest copy nor the
 * newest synced one. With sync it is durable (fdatasync); without it, a
 * crash of podd still leaves the new state or the one before, a crash of
 * the host at worst the last synced one. The first save of a pod (and the
 * first after a state.json or older slot files were read) is always
 * synced; that one removes state.json and the older slot files. Returns 0,
 * -EINVAL for a bad name or a non-object, -ENOMEM, -EFBIG for a state
 * larger than STATE_JSON_MAX, -EOVERFLOW when the generations are used up,
 * or -errno of the file system. Does not log.
 */
int state_store_save_pod(StateStore *s, const char *pod, json_t *state, bool sync);

/*
 * From now on the syncs of state_store_save_pod() run on a thread of the
 * store's: a save writes, queues its sync and returns, and the copy counts
 * as synced (a later save may write over the one before) once the thread
 * made it durable. The directories of a new pod, and of its new state file,
 * are synced with its first sync, not when made. Sets *ret_fd to an fd
 * (the store's) that becomes readable when syncs ended:
 * state_store_sync_collect() then. Returns 0 or -errno (no thread: saves
 * sync as before).
 */
int state_store_sync_in_background(StateStore *s, int *ret_fd);
/*
 * Takes in the syncs that ended (with wait: after waiting for all that are
 * queued). For each that failed, calls news(pod, -errno, userdata), and
 * that pod's next save is synced, asked or not; for the first that
 * succeeds after, news(pod, 0, userdata). A no-op without the thread.
 */
void state_store_sync_collect(StateStore *s, bool wait,
                              void (*news)(const char *pod, int error, void *userdata),
                              void *userdata);

/*
 * Reads the state of POD into *ret (a new reference owned by the caller):
 * pods/NAME/state.json when there is one (an older podd's file, or one put
 * there by hand: it rules until the next save replaces it), else the newest
 * valid slot. Returns 0; -ENOENT when the pod has no state; -EINVAL for a
 * bad name; -EBADMSG when the state cannot be used: a state.json that is
 * empty, truncated, unparsable, not a JSON object, too large or not a
 * regular file (it is renamed to state.json.corrupt and the slots are
 * removed), or slots none of which is whole, or whose newest is not a JSON
 * object (their files are renamed to state.slots.corrupt, state.a.corrupt
 * and so on); either way
 * the next load gives -ENOENT, and reterr says what was wrong. The caller
 * logs and rebuilds the pod from its manifest. Other -errno for I/O errors.
 * Does not log.
 */
int state_store_load_pod(StateStore *s, const char *pod, json_t **ret, PdError *reterr);

/*
 * Parses one slot (data need not be NUL-terminated): 0 with *ret_text and
 * *ret_len the JSON text inside data, or -EBADMSG when the header is not
 * well-formed or the text fails its hash (a torn slot). *ret_gen is the
 * header's generation whenever the header itself is well-formed (0 if not).
 * Pure: no I/O.
 */
int state_slot_parse(const char *data, size_t size, uint64_t *ret_gen, const char **ret_text,
                     size_t *ret_len);

/*
 * Lists the pods that have a directory in pods/ (names that are valid
 * labels; anything else found there is ignored), sorted. *ret is a new
 * strv owned by the caller, an empty (non-NULL) one when there are none.
 * Returns 0 or -errno. Does not log.
 */
int state_store_list_pods(StateStore *s, char ***ret);

/*
 * Removes pods/NAME/ with everything in it (state, once records, corrupt
 * and temporary files), and syncs pods/ (on the store's thread after
 * state_store_sync_in_background(); a failure is reported as a pod's sync
 * is). Idempotent: an absent pod gives 0. Returns 0, -EINVAL for a bad
 * name, or -errno. Does not log.
 */
int state_store_remove_pod(StateStore *s, const char *pod);

/*
 * Records that the "once" init container CONTAINER of POD completed for the
 * spec with hash spec_hash (any non-empty string; borrowed), in
 * pods/POD/once.json, atomically. A later mark for the same container
 * replaces the hash. Returns 0, -EINVAL for bad names or an empty hash, or
 * -errno. An unreadable once.json is set aside as once.json.corrupt and
 * replaced. Does not log.
 */
int state_store_mark_once(StateStore *s, const char *pod, const char *container,
                          const char *spec_hash);

/*
 * Whether CONTAINER of POD was recorded with exactly spec_hash. Returns 1
 * (done), 0 (not done: no record, another hash, no file), -EINVAL for bad
 * arguments, -EBADMSG when once.json was unreadable (it is set aside as
 * once.json.corrupt; treat the container as not done), or -errno. Does not
 * log.
 */
int state_store_once_done(StateStore *s, const char *pod, const char *container,
                          const char *spec_hash);

/*
 * Stores the raw bytes of a manifest applied through the API as
 * applied/NAME.yaml, atomically. data is borrowed. Returns 0, -EINVAL for a
 * bad name, -EFBIG above STATE_APPLIED_MAX, or -errno. Does not log.
 */
int state_store_save_applied(StateStore *s, const char *name, const void *data, size_t size);
/* "NAME.yaml": the file name of pod NAME in applied/ (malloc'ed; NULL on -ENOMEM). */
char *state_applied_file_name(const char *name);

/*
 * Reads applied/NAME.yaml into a new NUL-terminated buffer owned by the
 * caller (*ret_size, optional, excludes the NUL). Returns 0, -ENOENT when
 * absent, -EINVAL for a bad name, -EFBIG when larger than
 * STATE_APPLIED_MAX, or -errno; reterr names the file. Does not log.
 */
int state_store_load_applied(StateStore *s, const char *name, char **ret, size_t *ret_size,
                             PdError *reterr);

/* Removes applied/NAME.yaml. Idempotent: absent gives 0. Returns 0, -EINVAL or -errno. */
int state_store_remove_applied(StateStore *s, const char *name);

/*
 * Lists the names (without ".yaml") of the applied manifests, sorted, in a
 * new strv owned by the caller (empty, non-NULL, when none). Temporary and
 * foreign files are ignored. Returns 0 or -errno. Does not log.
 */
int state_store_list_applied(StateStore *s, char ***ret);

/*
 * The recent events (state directory's events.jsonl), so that podctl events
 * still shows them after podd restarts: a journal of JSON lines,
 *
 *   {"version": 2, "seq": LAST}
 *   EVENT
 *   ...
 *
 * where each EVENT is an object as the API serves it: "seq" (a positive
 * integer), "type", "reason", "message", "firstTimestamp", "lastTimestamp"
 * (strings), "count" (a positive integer) and optional "pod", "container",
 * "file" (strings). New events are appended (one write for a burst, no sync:
 * a power cut may lose the last ones); the journal is written whole again,
 * atomically and synced, when it grew long. podd before the journal kept
 * events.json, {"version": 1, "seq": LAST, "events": [EVENT, ...]}: read when
 * there is no journal, and removed once there is one.
 */
#define STATE_EVENTS_FILE "events.jsonl"
#define STATE_EVENTS_OLD_FILE "events.json"

typedef struct StateEvents {
    json_t *events;  /* the last max kept, oldest first (the caller's) */
    uint64_t seq;    /* the larger of the header's and the last kept event's (0: neither) */
    size_t lines;    /* the journal's event lines, kept or not (0 for an older podd's file) */
    size_t bytes;    /* the journal's size */
    bool appendable; /* a journal that ends with a whole line: events may be appended to it */
} StateEvents;

/*
 * Parses the bytes of an events file, a journal or an older podd's (data
 * need not be NUL-terminated). Keeps the last max well-formed events in file
 * order, each rebuilt from the known fields only, with every string escaped
 * again as podd escapes outside text (str_escape_untrusted()), and drops any
 * other entry or line. Returns 0 (*ret filled), -EBADMSG (reterr says why)
 * when the bytes are neither, or -ENOMEM. Pure: no I/O.
 */
int state_events_parse(const char *data, size_t size, size_t max, StateEvents *ret,
                       PdError *reterr);

/*
 * Writes the journal whole, atomically and synced: its header with seq, then
 * lines (each event's compact JSON and a newline, borrowed); an older podd's
 * events.json goes. Returns 0, -EINVAL, -ENOMEM or -errno. Does not log.
 */
int state_store_save_events_text(StateStore *s, const char *lines, size_t len, uint64_t seq);
/* The same for events (borrowed, an array of event objects). */
int state_store_save_events(StateStore *s, json_t *events, uint64_t seq);
/*
 * Appends lines (as above) to the journal, unsynced. -ENOENT when there is no
 * journal (the caller writes it whole); 0 or -errno. Does not log.
 */
int state_store_append_events_text(StateStore *s, const char *lines, size_t len);

/*
 * Reads the journal (else an older podd's events.json, then not appendable)
 * as state_events_parse() does. Returns 0; -ENOENT when there is neither;
 * -EBADMSG when it is unusable (it is then renamed to NAME.corrupt, and
 * reterr says why); or -errno. Does not log.
 */
int state_store_load_events(StateStore *s, size_t max, StateEvents *ret, PdError *reterr);
