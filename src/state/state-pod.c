/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "state-internal.h"

/* What podd wrote before the slots (read, and replaced by the first save). */
#define STATE_FILE "state.json"
#define ONCE_FILE "once.json"
#define ONCE_VERSION 1
#define SPEC_HASH_MAX 256

/* Opens pods/NAME/, creating it (and making the new entry durable) when create is set. */
static int open_pod_dir_created(StateStore *s, const char *pod, bool create, bool *ret_created)
{
    bool created = false;
    int fd;

    fd = state_open_subdir(s->pods_fd, pod, create, &created);
    if (fd >= 0 && created)
        (void)fsync(s->pods_fd);
    if (ret_created)
        *ret_created = fd >= 0 && created;
    return fd;
}

static int open_pod_dir(StateStore *s, const char *pod, bool create)
{
    return open_pod_dir_created(s, pod, create, NULL);
}

static int save_json_at(int dir_fd, const char *name, json_t *j, bool sync)
{
    _cleanup_free_ char *text = NULL;
    size_t len;

    /* Sorted keys: identical state gives identical bytes, which keeps diffs and tests simple. */
    text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text)
        return -ENOMEM;
    len = strlen(text);
    {
        char *t = realloc(text, len + 2);

        if (!t)
            return -ENOMEM;
        text = t;
    }
    text[len++] = '\n';
    text[len] = 0;
    return write_file_atomic(dir_fd, name, text, len, 0600, sync ? WRITE_FILE_SYNC : 0);
}

/*
 * Moves a file that cannot be used out of the way, keeping only the newest
 * bad copy, and reports why. Returns -EBADMSG whatever happens: a failed
 * rename is noted in the message, the caller rebuilds either way.
 */
static int set_aside(int dir_fd, const char *pod, const char *name, const char *why,
                     PdError *reterr)
{
    char corrupt[64];
    int saved;

    (void)snprintf(corrupt, sizeof(corrupt), "%s.corrupt", name);
    if (renameat(dir_fd, name, dir_fd, corrupt) < 0) {
        saved = errno;
        return pd_error_set(reterr, -EBADMSG,
                            "state file 'pods/%s/%s' is %s; cannot move it aside: %s", pod, name,
                            why, strerror(saved));
    }
    (void)fsync(dir_fd);
    return pd_error_set(reterr, -EBADMSG, "state file 'pods/%s/%s' is %s; moved to '%s'", pod, name,
                        why, corrupt);
}

/*
 * Reads dir_fd/name as a JSON object. -ENOENT when absent; -EBADMSG (after
 * moving the file aside) when it is unusable; other -errno for I/O errors.
 */
static int load_json_at(int dir_fd, const char *pod, const char *name, json_t **ret,
                        PdError *reterr)
{
    _cleanup_free_ char *buf = NULL;
    _cleanup_close_ int fd = -1;
    json_error_t jerr;
    struct stat st;
    json_t *j;
    size_t size;
    char why[256];
    int r;

    /* O_NONBLOCK: a FIFO planted under our name must not block the loop. */
    fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return pd_error_set(reterr, -ENOENT, "state file 'pods/%s/%s': not found", pod, name);
        if (errno == ELOOP)
            return set_aside(dir_fd, pod, name, "a symlink", reterr);
        return pd_error_set(reterr, -errno, "state file 'pods/%s/%s': %s", pod, name,
                            strerror(errno));
    }
    if (fstat(fd, &st) < 0)
        return pd_error_set(reterr, -errno, "state file 'pods/%s/%s': %s", pod, name,
                            strerror(errno));
    if (!S_ISREG(st.st_mode))
        return set_aside(dir_fd, pod, name, "not a regular file", reterr);
    r = read_fd_full(fd, STATE_JSON_MAX, &buf, &size);
    if (r == -EFBIG)
        return set_aside(dir_fd, pod, name, "too large", reterr);
    if (r < 0)
        return pd_error_set(reterr, r, "state file 'pods/%s/%s': %s", pod, name, strerror(-r));
    if (size == 0)
        return set_aside(dir_fd, pod, name, "empty", reterr);
    j = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        (void)snprintf(why, sizeof(why), "unparsable (%d:%d: %s)", jerr.line, jerr.column,
                       jerr.text);
        return set_aside(dir_fd, pod, name, why, reterr);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return set_aside(dir_fd, pod, name, "not a JSON object", reterr);
    }
    *ret = j;
    return 0;
}

/* ---- pod state: three slots ------------------------------------------------------- */

/*
 * A pod's state lives in three slots, rewritten in place (no new inode, no
 * rename per save), each a header line and the JSON text:
 *
 *   "podd-state 1 GGGGGGGGGGGGGGGGGGGG LLLLLLLLLL HHHH...H\n" TEXT [stale bytes]
 *
 * G the generation (20 decimal digits), L the length of TEXT (10 decimal
 * digits), H its SHA-256 (64 lowercase hex digits). A reader takes the valid
 * slot of the highest generation; a torn slot (a crash, or a reader racing
 * the writer) fails its hash and is passed over. A save never writes over
 * the newest copy nor over the newest synced one (the third slot is for
 * that): a crash of podd in a write leaves the newest whole copy, a crash of
 * the host the newest synced one at worst, never nothing.
 *
 * The slots are regions of one file, state.slots, SLOT_STRIDE bytes apart
 * (a sparse file: a region holds only what was written to it), so that a
 * new pod costs one inode for its state, not one per slot: on a file system
 * without a journal, ext4 scans past every inode deleted in the last minute
 * for each one it allocates, which made a cold start of many pods pay more
 * for the slot files' inodes than for anything else podd does. The podd
 * before kept each slot in a file of its own (state.a, state.b, state.c):
 * those are read as well, the highest generation of either kind rules, and
 * the first save (synced) removes them.
 */
#define N_SLOTS STATE_REGIONS
#define SLOTS_FILE "state.slots"
static const char *const old_slot_names[N_SLOTS] = {"state.a", "state.b", "state.c"};
#define SLOT_MAGIC "podd-state 1 "
#define SLOT_MAGIC_LEN (sizeof(SLOT_MAGIC) - 1)
#define SLOT_GEN_DIGITS 20
#define SLOT_LEN_DIGITS 10
#define SLOT_HEADER_LEN (SLOT_MAGIC_LEN + SLOT_GEN_DIGITS + 1 + SLOT_LEN_DIGITS + 1 + 64 + 1)
#define SLOT_STRIDE ((size_t)STATE_SLOT_STRIDE)

static bool parse_decimal(const char *p, size_t n, uint64_t *ret)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';

        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *ret = v;
    return true;
}

int state_slot_parse(const char *data, size_t size, uint64_t *ret_gen, const char **ret_text,
                     size_t *ret_len)
{
    char sum[CONTENT_HASH_MAX];
    const char *p = data + SLOT_MAGIC_LEN;
    uint64_t gen, len;

    *ret_gen = 0;
    if (!data || size < SLOT_HEADER_LEN || memcmp(data, SLOT_MAGIC, SLOT_MAGIC_LEN) != 0)
        return -EBADMSG;
    if (!parse_decimal(p, SLOT_GEN_DIGITS, &gen) || gen == 0 || p[SLOT_GEN_DIGITS] != ' ')
        return -EBADMSG;
    p += SLOT_GEN_DIGITS + 1;
    if (!parse_decimal(p, SLOT_LEN_DIGITS, &len) || p[SLOT_LEN_DIGITS] != ' ')
        return -EBADMSG;
    p += SLOT_LEN_DIGITS + 1;
    if (p[64] != '\n')
        return -EBADMSG;
    /* The generation counts even when the text is torn: the next one must be higher. */
    *ret_gen = gen;
    if (len > size - SLOT_HEADER_LEN)
        return -EBADMSG;
    content_hash(data + SLOT_HEADER_LEN, (size_t)len, sum);
    if (memcmp(sum, p, 64) != 0)
        return -EBADMSG;
    *ret_text = data + SLOT_HEADER_LEN;
    *ret_len = (size_t)len;
    return 0;
}

typedef struct Slot {
    bool present;
    bool valid;
    uint64_t gen;
    char *buf;
    const char *text;
    size_t len;
} Slot;

/*
 * What is on disk of a pod's state: the regions of state.slots and the
 * slot files of the podd before. A slot index below N_SLOTS is a region,
 * N_SLOTS + i the older file old_slot_names[i].
 */
typedef struct SlotSet {
    int fd;            /* state.slots, read-only; -1: absent or not a regular file */
    bool file_present; /* something is named state.slots */
    int old_fds[N_SLOTS];
    Slot slots[2 * N_SLOTS];
} SlotSet;

static const char *slot_file_name(int i)
{
    return i < N_SLOTS ? SLOTS_FILE : old_slot_names[i - N_SLOTS];
}

static void slot_set_done(SlotSet *set)
{
    closep(&set->fd);
    for (size_t i = 0; i < N_SLOTS; i++)
        closep(&set->old_fds[i]);
    for (size_t i = 0; i < 2 * N_SLOTS; i++) {
        free(set->slots[i].buf);
        set->slots[i] = (Slot){0};
    }
}

static bool slot_set_any_present(const SlotSet *set)
{
    for (size_t i = 0; i < 2 * N_SLOTS; i++)
        if (set->slots[i].present)
            return true;
    return set->file_present;
}

static bool slot_set_has_old(const SlotSet *set)
{
    for (size_t i = N_SLOTS; i < 2 * N_SLOTS; i++)
        if (set->slots[i].present)
            return true;
    return false;
}

/* Reads region i of state.slots (size bytes long) into *ret: absent, torn or valid. */
static int region_read(int fd, off_t size, size_t i, Slot *ret)
{
    off_t off = (off_t)(i * SLOT_STRIDE);
    char head[SLOT_HEADER_LEN];
    const char *text;
    uint64_t len = 0;
    size_t text_len;
    ssize_t n;

    *ret = (Slot){0};
    if (size <= off)
        return 0;
    ret->present = true;
    n = pread_full(fd, head, sizeof(head), off);
    if (n < 0)
        return (int)n;
    /* Only the header: learns the generation (kept even when the text is torn) and LEN. */
    (void)state_slot_parse(head, (size_t)n, &ret->gen, &text, &text_len);
    if (ret->gen == 0 ||
        !parse_decimal(head + SLOT_MAGIC_LEN + SLOT_GEN_DIGITS + 1, SLOT_LEN_DIGITS, &len) ||
        len > SLOT_STRIDE - SLOT_HEADER_LEN)
        return 0;
    ret->buf = malloc(SLOT_HEADER_LEN + (size_t)len);
    if (!ret->buf)
        return -ENOMEM;
    n = pread_full(fd, ret->buf, SLOT_HEADER_LEN + (size_t)len, off);
    if (n < 0)
        return (int)n;
    ret->valid = state_slot_parse(ret->buf, (size_t)n, &ret->gen, &ret->text, &ret->len) == 0;
    return 0;
}

/* Reads the older slot file i into *ret (its fd into *ret_fd): absent, torn or valid. */
static int old_slot_read(int dir_fd, size_t i, Slot *ret, int *ret_fd)
{
    struct stat st;
    size_t size;
    int r;

    *ret = (Slot){0};
    /* O_NONBLOCK: a FIFO planted under our name must not block the loop. */
    *ret_fd = openat(dir_fd, old_slot_names[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (*ret_fd < 0) {
        if (errno == ENOENT)
            return 0;
        ret->present = true;
        return errno == ELOOP ? 0 : -errno;
    }
    ret->present = true;
    if (fstat(*ret_fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return 0;
    r = read_fd_full(*ret_fd, STATE_JSON_MAX + SLOT_HEADER_LEN, &ret->buf, &size);
    if (r == -EFBIG)
        return 0;
    if (r < 0)
        return r;
    ret->valid = state_slot_parse(ret->buf, size, &ret->gen, &ret->text, &ret->len) == 0;
    return 0;
}

/* Reads every slot; returns the index of the newest valid one, -1 when none is, or -errno. */
static int slots_read(int dir_fd, SlotSet *set)
{
    struct stat st;
    int best = -1, r;

    set->fd = openat(dir_fd, SLOTS_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (set->fd < 0) {
        if (errno != ENOENT && errno != ELOOP)
            return -errno;
        set->file_present = errno == ELOOP;
    } else {
        set->file_present = true;
        if (fstat(set->fd, &st) < 0)
            return -errno;
        if (!S_ISREG(st.st_mode))
            closep(&set->fd);
    }
    for (size_t i = 0; i < N_SLOTS; i++) {
        r = set->fd < 0 ? 0 : region_read(set->fd, st.st_size, i, &set->slots[i]);
        if (r < 0)
            return r;
        r = old_slot_read(dir_fd, i, &set->slots[N_SLOTS + i], &set->old_fds[i]);
        if (r < 0)
            return r;
    }
    for (int i = 0; i < 2 * N_SLOTS; i++)
        if (set->slots[i].valid && (best < 0 || set->slots[i].gen > set->slots[best].gen))
            best = i;
    return best;
}

/* What the store knows of pod's slots, a new (unknown) entry when nothing yet; NULL: ENOMEM. */
static StateSlots *slots_entry(StateStore *s, const char *pod, bool *ret_new)
{
    StateSlots *l;

    *ret_new = false;
    for (size_t i = 0; i < s->n_slots; i++)
        if (streq(s->slots[i].pod, pod))
            return &s->slots[i];
    l = realloc(s->slots, (s->n_slots + 1) * sizeof(*l));
    if (!l)
        return NULL;
    s->slots = l;
    l = &s->slots[s->n_slots++];
    *l = (StateSlots){.newest = -1, .durable = -1, .incarnation = ++s->incarnations};
    (void)snprintf(l->pod, sizeof(l->pod), "%s", pod);
    *ret_new = true;
    return l;
}

void state_slots_forget(StateStore *s, const char *pod)
{
    for (size_t i = 0; i < s->n_slots; i++)
        if (streq(s->slots[i].pod, pod)) {
            s->slots[i] = s->slots[--s->n_slots];
            return;
        }
}

/* Forgets which regions hold what: their file was set aside or removed. */
static void slots_reset(StateSlots *e)
{
    e->durable = e->newest = -1;
    for (size_t i = 0; i < N_SLOTS; i++)
        e->written[i] = e->syncing[i] = 0;
}

/*
 * Learns what is on disk: the highest generation, the newest valid slot
 * (synced now, so that it stays the copy a crash of the host falls back
 * to), whether older slot files are left and whether a state.json rules.
 * 0 or -errno.
 */
static int slots_learn(int dir_fd, StateSlots *e, const SlotSet *set, int best)
{
    struct stat st;

    e->gen = 0;
    for (size_t i = 0; i < 2 * N_SLOTS; i++)
        if (set->slots[i].gen > e->gen)
            e->gen = set->slots[i].gen;
    for (size_t i = 0; i < N_SLOTS; i++)
        e->written[i] = set->slots[i].valid ? set->slots[i].gen : 0;
    /* A copy in an older file is not in a region: no region is to be spared for it. */
    e->durable = e->newest = best < N_SLOTS ? best : -1;
    if (best >= 0 && fdatasync(best < N_SLOTS ? set->fd : set->old_fds[best - N_SLOTS]) < 0)
        return -errno;
    e->old_slots = slot_set_has_old(set);
    e->legacy = fstatat(dir_fd, STATE_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0;
    return 0;
}

/* Opens state.slots in dir_fd for writing, creating it (*ret_created) when absent. */
static int slots_open_for_write(int dir_fd, bool *ret_created)
{
    int fd;

    *ret_created = false;
    fd = openat(dir_fd, SLOTS_FILE, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 && errno == ENOENT) {
        fd = openat(dir_fd, SLOTS_FILE,
                    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
        *ret_created = fd >= 0;
    }
    return fd < 0 ? -errno : fd;
}

/*
 * Syncs a write made just now: the file, then the directories of entries
 * made since their last sync (a new name is durable only once its
 * directory is synced). Without the thread, pods/ was synced when the
 * pod's directory was made.
 */
static int slot_sync_now(StateStore *s, StateSlots *e, int dir_fd, int fd)
{
    if (fdatasync(fd) < 0)
        return -errno;
    if (e->entries_new && fsync(dir_fd) < 0)
        return -errno;
    if (e->entries_new && s->syncer && fsync(s->pods_fd) < 0)
        return -errno;
    e->entries_new = false;
    return 0;
}

/* Whether a sync is queued for a region other than target (which this save writes over). */
static bool slots_sync_queued(const StateSlots *e, size_t target)
{
    for (size_t i = 0; i < N_SLOTS; i++)
        if (i != target && e->syncing[i])
            return true;
    return false;
}

/*
 * Queues the sync of the write of region i with generation gen (file_fd
 * taken). A job of the pod's still queued, not begun, syncs it instead:
 * during a pod's start its saves come faster than the disk syncs, and each
 * would be a sync of its own.
 */
static int slot_sync_queue(StateStore *s, StateSlots *e, int dir_fd, int file_fd, size_t i)
{
    StateSyncJob *j = e->queued;
    int error = 0;

    if (j && (!e->entries_new || j->dir_fd >= 0)) {
        int was = j->region;
        uint64_t gen = j->gen;

        if (state_syncer_retarget(s->syncer, j, (int)i, e->written[i])) {
            close(file_fd);
            if (e->syncing[was] == gen)
                e->syncing[was] = 0;
            e->syncing[i] = e->written[i];
            return 0;
        }
    }
    j = state_sync_job_new(e->pod, e->incarnation);
    if (!j) {
        close(file_fd);
        return -ENOMEM;
    }
    j->file_fd = file_fd;
    j->region = (int)i;
    j->gen = e->written[i];
    if (e->entries_new) {
        j->dir_fd = state_sync_job_fd(dir_fd, &error);
        j->parent_fd = state_sync_job_fd(s->pods_fd, &error);
    }
    if (error < 0) {
        state_sync_jobs_free(j);
        return error;
    }
    e->syncing[i] = e->written[i];
    e->queued = j;
    state_syncer_queue(s->syncer, j);
    return 0;
}

int state_store_save_pod(StateStore *s, const char *pod, json_t *state, bool sync)
{
    _cleanup_(strbuf_done) StrBuf out = {0};
    _cleanup_free_ char *text = NULL;
    _cleanup_close_ int fd = -1, file = -1;
    char sum[CONTENT_HASH_MAX];
    StateSlots *e;
    size_t len, target;
    bool fresh, created, file_created, background;
    Sha256 h;
    int r;

    if (!s || !state_name_is_valid(pod) || !json_is_object(state))
        return -EINVAL;
    /* In the background, a new directory is synced with the pod's first sync. */
    fd = s->syncer ? state_open_subdir(s->pods_fd, pod, true, &created)
                   : open_pod_dir_created(s, pod, true, &created);
    if (fd < 0)
        return fd;
    /* A directory made anew (the old one went behind our back) has none of the slots we knew. */
    if (created)
        state_slots_forget(s, pod);
    e = slots_entry(s, pod, &fresh);
    if (!e)
        return -ENOMEM;
    if (created)
        e->entries_new = true;
    /* Nothing to read in a directory made just now. */
    if (fresh && !created) {
        SlotSet set = {.fd = -1, .old_fds = {-1, -1, -1}};

        r = slots_read(fd, &set);
        if (r >= -1)
            r = slots_learn(fd, e, &set, r);
        slot_set_done(&set);
        if (r < 0) {
            state_slots_forget(s, pod);
            return r;
        }
    }
    /* Sorted keys: identical state gives identical bytes, which keeps diffs and tests simple. */
    text = json_dumps(state, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text)
        return -ENOMEM;
    len = strlen(text);
    /* A region holds no more: a reader would take such a slot for a torn one. */
    if (len + 1 > STATE_JSON_MAX)
        return -EFBIG;
    sha256_init(&h);
    sha256_update(&h, text, len);
    sha256_update(&h, "\n", 1);
    sha256_final_hex(&h, sum);
    if (e->gen == UINT64_MAX)
        return -EOVERFLOW;
    r = strbuf_printf(&out, SLOT_MAGIC "%020" PRIu64 " %010zu %s\n", e->gen + 1, len + 1, sum);
    if (r >= 0)
        r = strbuf_append(&out, text, len);
    if (r >= 0)
        r = strbuf_append(&out, "\n", 1);
    if (r < 0)
        return r;
    /* Never over the newest copy nor the newest synced one (until there is one, synced). */
    for (target = 0; (int)target == e->durable || (int)target == e->newest; target++)
        ;
    /* The older files go in a save synced here and now (it removes them). */
    background = s->syncer && !e->legacy && !e->old_slots;
    /*
     * Until there is a synced copy, one is on its way (a sync queued for a
     * copy not written over since) or this one is synced. A sync still
     * queued for this region waits for a copy we now write over: this
     * write takes its place, synced.
     */
    if ((e->durable < 0 && !slots_sync_queued(e, target)) || e->legacy || e->old_slots ||
        e->resync || e->syncing[target])
        sync = true;
    file = slots_open_for_write(fd, &file_created);
    if (file < 0)
        return file;
    /* Synced when new, whatever asked: the region after it may then be written unsynced. */
    if (file_created) {
        sync = true;
        e->entries_new = true;
    }
    e->gen++;
    e->written[target] = 0;
    r = pwrite_full(file, out.data, out.len, (off_t)(target * SLOT_STRIDE));
    if (r < 0)
        return r;
    e->written[target] = e->gen;
    e->newest = (int)target;
    e->syncing[target] = 0;
    if (sync && background) {
        e->resync = false;
        r = slot_sync_queue(s, e, fd, file, target);
        file = -1;
        if (r < 0)
            e->resync = true;
        return r;
    }
    if (sync) {
        r = slot_sync_now(s, e, fd, file);
        if (r < 0)
            return r;
        e->durable = (int)target;
    }
    if (e->legacy || e->old_slots) {
        /* The slots of state.slots rule from now on: the older files go. */
        if (e->legacy && unlinkat(fd, STATE_FILE, 0) < 0 && errno != ENOENT)
            return -errno;
        for (size_t i = 0; e->old_slots && i < N_SLOTS; i++)
            if (unlinkat(fd, old_slot_names[i], 0) < 0 && errno != ENOENT)
                return -errno;
        if (fsync(fd) < 0)
            return -errno;
        e->legacy = e->old_slots = false;
    }
    return 0;
}

/*
 * Takes in what a job that ended tells of its pod's regions. Returns true
 * when it is news: its sync failed, or it is the first to succeed since one
 * failed.
 */
static bool slots_synced(StateStore *s, const StateSyncJob *j)
{
    StateSlots *e = NULL;
    bool news;

    for (size_t i = 0; i < s->n_slots && !e; i++)
        if (s->slots[i].incarnation == j->incarnation)
            e = &s->slots[i];
    /* The pod's directory went (and maybe came again): nothing of it is known any more. */
    if (!e)
        return j->error < 0;
    if (e->queued == j)
        e->queued = NULL;
    if (e->syncing[j->region] == j->gen)
        e->syncing[j->region] = 0;
    if (j->error < 0) {
        e->resync = e->failing = true;
        return true;
    }
    news = e->failing;
    e->failing = false;
    if (j->dir_fd >= 0)
        e->entries_new = false;
    /* Durable if nothing was written over it since, and newer than the durable one. */
    if (e->written[j->region] == j->gen && (e->durable < 0 || j->gen > e->written[e->durable]))
        e->durable = j->region;
    return news;
}

int state_store_sync_in_background(StateStore *s, int *ret_fd)
{
    int r;

    if (!s->syncer) {
        r = state_syncer_new(&s->syncer);
        if (r < 0)
            return r;
    }
    *ret_fd = state_syncer_fd(s->syncer);
    return 0;
}

void state_store_sync_collect(StateStore *s, bool wait,
                              void (*news)(const char *pod, int error, void *userdata),
                              void *userdata)
{
    StateSyncJob *done;

    if (!s || !s->syncer)
        return;
    if (wait)
        state_syncer_wait(s->syncer);
    done = state_syncer_take(s->syncer);
    for (StateSyncJob *j = done; j; j = j->next)
        if (slots_synced(s, j) && news)
            news(j->pod, j->error, userdata);
    state_sync_jobs_free(done);
}

/* Moves the slot files aside after they could not be used; -EBADMSG with why. */
static int slots_set_aside(int dir_fd, const char *pod, const SlotSet *set, const char *why,
                           PdError *reterr)
{
    char corrupt[64];

    for (int i = 0; i < 2 * N_SLOTS; i++) {
        const char *name = slot_file_name(i);

        /* state.slots once, for its first region (or for a state.slots that is no file). */
        if (i < N_SLOTS ? i > 0 || !set->file_present : !set->slots[i].present)
            continue;
        (void)snprintf(corrupt, sizeof(corrupt), "%s.corrupt", name);
        if (renameat(dir_fd, name, dir_fd, corrupt) < 0 && errno != ENOENT)
            return pd_error_set(reterr, -EBADMSG,
                                "state of pod '%s': %s; cannot move 'pods/%s/%s' aside: %s", pod,
                                why, pod, name, strerror(errno));
    }
    (void)fsync(dir_fd);
    return pd_error_set(reterr, -EBADMSG,
                        "state of pod '%s': %s; moved to 'pods/%s/state.*.corrupt'", pod, why, pod);
}

/* Removes every slot file (a state.json that could not be used rules over them). */
static void slots_remove(int dir_fd)
{
    (void)unlinkat(dir_fd, SLOTS_FILE, 0);
    for (size_t i = 0; i < N_SLOTS; i++)
        (void)unlinkat(dir_fd, old_slot_names[i], 0);
    (void)fsync(dir_fd);
}

int state_store_load_pod(StateStore *s, const char *pod, json_t **ret, PdError *reterr)
{
    _cleanup_close_ int fd = -1;
    SlotSet set = {.fd = -1, .old_fds = {-1, -1, -1}};
    StateSlots *e;
    json_error_t jerr;
    json_t *j;
    bool fresh;
    char why[256];
    int best, r;

    if (!s || !ret || !state_name_is_valid(pod))
        return pd_error_set(reterr, -EINVAL, "state: invalid pod name");
    fd = open_pod_dir(s, pod, false);
    if (fd == -ENOENT)
        return pd_error_set(reterr, -ENOENT, "state of pod '%s': not found", pod);
    if (fd < 0)
        return pd_error_set(reterr, fd, "state directory 'pods/%s': %s", pod, strerror(-fd));
    e = slots_entry(s, pod, &fresh);
    if (!e)
        return pd_error_set(reterr, -ENOMEM, "state of pod '%s': out of memory", pod);
    best = slots_read(fd, &set);
    if (best < -1) {
        slot_set_done(&set);
        state_slots_forget(s, pod);
        return pd_error_set(reterr, best, "state of pod '%s': %s", pod, strerror(-best));
    }
    r = slots_learn(fd, e, &set, best);
    if (r < 0) {
        slot_set_done(&set);
        state_slots_forget(s, pod);
        return pd_error_set(reterr, r, "state of pod '%s': %s", pod, strerror(-r));
    }
    /* A state.json (an older podd's, or one put there by hand) rules until the next save. */
    if (e->legacy) {
        r = load_json_at(fd, pod, STATE_FILE, ret, reterr);
        if (r == -EBADMSG) {
            /* Rebuilt from the manifest, as before the slots: older slots must not come back. */
            slots_remove(fd);
            e->legacy = e->old_slots = false;
            slots_reset(e);
        }
        slot_set_done(&set);
        return r;
    }
    if (best < 0) {
        if (!slot_set_any_present(&set)) {
            slot_set_done(&set);
            return pd_error_set(reterr, -ENOENT, "state of pod '%s': not found", pod);
        }
        r = slots_set_aside(fd, pod, &set, "no slot is whole", reterr);
        slots_reset(e);
        e->old_slots = false;
        slot_set_done(&set);
        return r;
    }
    j = json_loadb(set.slots[best].text, set.slots[best].len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j || !json_is_object(j)) {
        char what[64];

        if (best < N_SLOTS)
            (void)snprintf(what, sizeof(what), "slot %d of '%s'", best, SLOTS_FILE);
        else
            (void)snprintf(what, sizeof(what), "slot '%s'", slot_file_name(best));
        if (j)
            (void)snprintf(why, sizeof(why), "%s is not a JSON object", what);
        else
            (void)snprintf(why, sizeof(why), "%s is unparsable (%d:%d: %s)", what, jerr.line,
                           jerr.column, jerr.text);
        json_decref(j);
        r = slots_set_aside(fd, pod, &set, why, reterr);
        slots_reset(e);
        e->old_slots = false;
        slot_set_done(&set);
        return r;
    }
    slot_set_done(&set);
    *ret = j;
    return 0;
}

/* ---- once records ------------------------------------------------------------------- */

static bool once_args_valid(const char *pod, const char *container, const char *spec_hash)
{
    return state_name_is_valid(pod) && state_name_is_valid(container) && spec_hash && *spec_hash &&
           strlen(spec_hash) <= SPEC_HASH_MAX;
}

/* The "containers" object of once.json (borrowed from root), creating it when missing. */
static json_t *once_containers(json_t *root)
{
    json_t *c = json_object_get(root, "containers");

    if (json_is_object(c))
        return c;
    c = json_object();
    if (!c || json_object_set_new(root, "containers", c) < 0)
        return NULL;
    return c;
}

int state_store_mark_once(StateStore *s, const char *pod, const char *container,
                          const char *spec_hash)
{
    _cleanup_json_ json_t *root = NULL;
    _cleanup_close_ int fd = -1;
    json_t *containers, *rec;
    int r;

    if (!s || !once_args_valid(pod, container, spec_hash))
        return -EINVAL;
    fd = open_pod_dir(s, pod, true);
    if (fd < 0)
        return fd;
    r = load_json_at(fd, pod, ONCE_FILE, &root, NULL);
    if (r == -ENOENT || r == -EBADMSG) {
        /* Nothing usable recorded: start over (a bad file was moved aside). */
        root = json_object();
        if (!root)
            return -ENOMEM;
    } else if (r < 0)
        return r;
    if (json_object_set_new(root, "version", json_integer(ONCE_VERSION)) < 0)
        return -ENOMEM;
    containers = once_containers(root);
    if (!containers)
        return -ENOMEM;
    rec = json_pack("{s:s, s:I}", "specHash", spec_hash, "completedAtUsec",
                    (json_int_t)now_realtime_usec());
    if (!rec || json_object_set_new(containers, container, rec) < 0)
        return -ENOMEM;
    return save_json_at(fd, ONCE_FILE, root, true);
}

int state_store_once_done(StateStore *s, const char *pod, const char *container,
                          const char *spec_hash)
{
    _cleanup_json_ json_t *root = NULL;
    _cleanup_close_ int fd = -1;
    json_t *rec, *hash;
    int r;

    if (!s || !once_args_valid(pod, container, spec_hash))
        return -EINVAL;
    fd = open_pod_dir(s, pod, false);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return fd;
    r = load_json_at(fd, pod, ONCE_FILE, &root, NULL);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    rec = json_object_get(json_object_get(root, "containers"), container);
    hash = json_object_get(rec, "specHash");
    return json_is_string(hash) && streq(json_string_value(hash), spec_hash) ? 1 : 0;
}
