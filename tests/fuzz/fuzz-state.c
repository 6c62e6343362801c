/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the files podd reads back after a restart: the bytes
 * become, in a private state directory, a pod's state.json of an older podd
 * and one of its state slots, as state.slots and as the state.a of the podd before (all read by
 * state_store_load_pod(); the slot
 * also by state_slot_parse(), and as a slot wrapped around the bytes, so
 * that the JSON parser behind a whole slot is reached too), its once.json (state_store_once_done(),
 * then state_store_mark_once(), which must keep the other records and make its own one count), a
 * container's exit.json (exit_record_read()) and the kept events, events.json
 * (state_store_load_events(), whose result must save and load back unchanged). Never prints.
 *
 * The state directory is made once per process under $TMPDIR (default
 * /tmp) and removed at exit; each input rewrites the three files, so a
 * previous input's set-aside .corrupt copy does not change the outcome.
 */
#include <assert.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "runtime/runtime.h"
#include "state/state.h"

#define POD "fuzz"

static char top[256];
static StateStore *store;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    (void)remove(path);
    return 0;
}

static void cleanup(void)
{
    store = state_store_free(store);
    if (top[0])
        (void)nftw(top, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    char path[512];
    PdError e = {0};

    (void)snprintf(top, sizeof(top), "%s/podd-fuzz-state-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(top))
        abort();
    atexit(cleanup);
    (void)snprintf(path, sizeof(path), "%s/state", top);
    if (state_store_open(path, &store, &e) < 0)
        abort();
    /* A first save makes pods/POD/, where every input is written. */
    {
        _cleanup_json_ json_t *j = json_object();

        if (!j || state_store_save_pod(store, POD, j, true) < 0)
            abort();
    }
}

static void put(const char *name, const uint8_t *data, size_t size)
{
    char path[512];
    _cleanup_close_ int fd = -1;

    (void)snprintf(path, sizeof(path), "%s/state/pods/" POD "/%s", top, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size))
        abort();
}

static void fuzz_state_json(const uint8_t *data, size_t size)
{
    _cleanup_json_ json_t *j = NULL;
    PdError e = {0};
    int r;

    put("state.json", data, size);
    r = state_store_load_pod(store, POD, &j, &e);
    if (r == 0) {
        assert(json_is_object(j));
        return;
    }
    assert(!j);
    assert(e.message[0]);
    /* What could not be used was set aside: the next start does not read it again. */
    if (r == -EBADMSG) {
        PdError again = {0};

        assert(state_store_load_pod(store, POD, &j, &again) == -ENOENT);
    }
}

static void drop(const char *name)
{
    char path[512];

    (void)snprintf(path, sizeof(path), "%s/state/pods/" POD "/%s", top, name);
    if (unlink(path) < 0 && errno != ENOENT)
        abort();
}

/*
 * The bytes as the only slot of the pod, as state.slots (its first slot) and as the file of
 * one slot of the podd before: a whole one gives an object, anything else no state.
 */
static void load_only_slot(const uint8_t *data, size_t size)
{
    static const char *const files[] = {"state.slots", "state.a"};

    for (size_t i = 0; i < 2; i++) {
        _cleanup_json_ json_t *j = NULL;
        PdError e = {0};
        int r;

        drop("state.json");
        drop("state.slots");
        drop("state.a");
        drop("state.b");
        drop("state.c");
        put(files[i], data, size);
        r = state_store_load_pod(store, POD, &j, &e);
        if (r == 0) {
            assert(json_is_object(j));
            continue;
        }
        assert(r == -EBADMSG && !j && e.message[0]);
        assert(state_store_load_pod(store, POD, &j, &e) == -ENOENT);
    }
}

static void fuzz_state_slot(const uint8_t *data, size_t size)
{
    _cleanup_free_ char *wrapped = NULL;
    const char *text = NULL;
    char sum[CONTENT_HASH_MAX];
    uint64_t gen = 0;
    size_t len = 0;

    if (state_slot_parse((const char *)data, size, &gen, &text, &len) == 0)
        assert(gen > 0 && text >= (const char *)data && text + len <= (const char *)data + size);
    load_only_slot(data, size);
    /* The same bytes as a whole slot's text: the JSON behind the hash. */
    content_hash(data, size, sum);
    wrapped = malloc(size + 128);
    if (!wrapped)
        abort();
    (void)snprintf(wrapped, 128, "podd-state 1 %020d %010zu %s\n", 1, size, sum);
    len = strlen(wrapped);
    if (size > 0)
        memcpy(wrapped + len, data, size);
    load_only_slot((const uint8_t *)wrapped, len + size);
}

static void fuzz_once_json(const uint8_t *data, size_t size)
{
    int r;

    put("once.json", data, size);
    r = state_store_once_done(store, POD, "init", "spec-a");
    assert(r == 0 || r == 1 || r == -EBADMSG);
    /* Recorded once, whatever the file held before: the record must count from now on. */
    put("once.json", data, size);
    r = state_store_mark_once(store, POD, "init", "spec-b");
    assert(r == 0);
    assert(state_store_once_done(store, POD, "init", "spec-b") == 1);
    assert(state_store_once_done(store, POD, "init", "spec-a") == 0);
}

static void fuzz_exit_json(const uint8_t *data, size_t size)
{
    char path[512];
    ExitRecord e;
    int r;

    put("exit.json", data, size);
    (void)snprintf(path, sizeof(path), "%s/state/pods/" POD "/exit.json", top);
    r = exit_record_read(path, &e);
    if (r < 0) {
        assert(r == -EBADMSG || r == -EFBIG);
        return;
    }
    /* Fixed-size fields, always terminated: the manager copies them with %s. */
    assert(memchr(e.started_at, 0, sizeof(e.started_at)));
    assert(memchr(e.finished_at, 0, sizeof(e.finished_at)));
    assert(memchr(e.reason, 0, sizeof(e.reason)));
    assert(memchr(e.message, 0, sizeof(e.message)));
}

/* Releases j; NULL, for the pointer that held it. */
static json_t *json_decref_take(json_t *j)
{
    json_decref(j);
    return NULL;
}

static void fuzz_events_json(const uint8_t *data, size_t size)
{
    _cleanup_json_ json_t *events = NULL, *again = NULL;
    StateEvents got = {0}, back = {0};
    char path[512];
    PdError e = {0};
    size_t i;
    json_t *ev;
    int r;

    /* The same bytes as a journal, then as an older podd's whole file. */
    for (int kind = 0; kind < 2; kind++) {
        const char *name = kind ? STATE_EVENTS_OLD_FILE : STATE_EVENTS_FILE;

        (void)snprintf(path, sizeof(path), "%s/state/%s", top, name);
        {
            _cleanup_close_ int fd =
                open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);

            if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size))
                abort();
        }
        r = state_store_load_events(store, 8, &got, &e);
        if (r < 0) {
            assert(r == -EBADMSG);
            assert(e.message[0]);
            assert(!got.events);
            continue;
        }
        events = got.events;
        assert(json_array_size(events) <= 8);
        assert(!kind || !got.appendable);
        json_array_foreach(events, i, ev)
        {
            const char *msg = json_string_value(json_object_get(ev, "message"));

            /* Every event kept is one the API may serve: a seq the sequence goes on after, one
             * line. */
            assert(json_integer_value(json_object_get(ev, "seq")) > 0);
            assert((uint64_t)json_integer_value(json_object_get(ev, "seq")) <= got.seq);
            assert(msg && !strchr(msg, '\n'));
        }
        /* What podd writes back, it reads back the same (and the older file is gone). */
        assert(state_store_save_events(store, events, got.seq) == 0);
        assert(state_store_load_events(store, 8, &back, &e) == 0);
        again = back.events;
        assert(back.seq == got.seq && json_equal(events, again) && back.appendable);
        events = json_decref_take(events);
        again = json_decref_take(again);
        (void)unlink(path);
        (void)snprintf(path, sizeof(path), "%s/state/%s", top, STATE_EVENTS_FILE);
        (void)unlink(path);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!store)
        setup();
    fuzz_state_json(data, size);
    fuzz_state_slot(data, size);
    fuzz_once_json(data, size);
    fuzz_exit_json(data, size);
    fuzz_events_json(data, size);
    return 0;
}
