/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <stdio.h>

#include "reconcile/reconcile.h"
#include "watch-internal.h"

/* ---- parses ---------------------------------------------------------------------------- */

WatchParse *watch_parse_unref(WatchParse *p)
{
    if (!p || --p->n_ref > 0)
        return NULL;
    manifest_file_free(p->mf);
    free(p->docs);
    free(p);
    return NULL;
}

static WatchParse *watch_parse_ref(WatchParse *p)
{
    p->n_ref++;
    return p;
}

ManifestWatchPin *manifest_watch_pod_pin(const ManifestWatchPod *pod)
{
    const WatchEntry *e = (const WatchEntry *)((const char *)pod - offsetof(WatchEntry, pub));

    return watch_parse_ref(e->parse);
}

ManifestWatchPin *manifest_watch_pin_release(ManifestWatchPin *pin)
{
    return watch_parse_unref(pin);
}

const json_t *manifest_watch_pin_source(const ManifestWatchPin *pin, const Pod *pod)
{
    for (size_t i = 0; pin && pod && i < pin->mf->n_docs; i++)
        if (pin->mf->docs[i].pod == pod)
            return pin->mf->docs[i].source;
    return NULL;
}

/* The first error of an invalid document, positioned, as one PdError. */
static void doc_error_from_diags(const ManifestDoc *d, const char *file, PdError *e)
{
    const Diag *first = NULL;

    for (size_t i = 0; i < d->diags.n && !first; i++)
        if (d->diags.items[i].level == DIAG_ERROR)
            first = &d->diags.items[i];
    if (!first)
        (void)pd_error_set_at(e, -EINVAL, d->pos.line, d->pos.column,
                              "document %u is not a valid Pod", d->index + 1);
    else
        (void)pd_error_set_at(e, -EINVAL, first->line, first->column, "%s%s%s%s",
                              first->path ? first->path : "",
                              first->path && *first->path ? ": " : "", first->message,
                              d->diags.n_errors > 1 ? " (and more errors)" : "");
    pd_error_set_file(e, file);
}

/* Takes mf on every path. Judges each document: valid Pod and a dependency graph that sorts. */
int watch_parse_new_take(ManifestFile *mf, const char *file, WatchParse **ret)
{
    _cleanup_(manifest_file_freep) ManifestFile *owned = mf;
    _cleanup_(watch_parse_unrefp) WatchParse *p = NULL;

    p = calloc(1, sizeof(WatchParse));
    if (!p)
        return -ENOMEM;
    p->n_ref = 1;
    p->docs = calloc(owned->n_docs ? owned->n_docs : 1, sizeof(WatchDoc));
    if (!p->docs)
        return -ENOMEM;
    for (size_t i = 0; i < owned->n_docs; i++) {
        const ManifestDoc *d = &owned->docs[i];
        WatchDoc *wd = &p->docs[i];

        if (d->pod) {
            Graph *g = NULL;
            int r = reconcile_pod_graph(d->pod, &g, &wd->error);

            if (r == -ENOMEM)
                return r;
            if (r >= 0) {
                graph_free(g);
                wd->ok = true;
                continue;
            }
            pd_error_set_file(&wd->error, file);
        } else
            doc_error_from_diags(d, file, &wd->error);
        wd->has_error = true;
        if (!d->name)
            p->has_nameless_error = true;
    }
    p->mf = move_ptr(owned);
    *ret = move_ptr(p);
    return 0;
}

ManifestWatchPin *manifest_watch_pin_take(ManifestFile *mf)
{
    WatchParse *p = NULL;

    return watch_parse_new_take(mf, mf->name, &p) < 0 ? NULL : p;
}

/* ---- sorted arrays by name --------------------------------------------------------------- */

/* Index of name in a sorted array of records whose first member is a char *name. */
size_t watch_sorted_find(void *const *items, size_t n, const char *name, bool *ret_found)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(*(char *const *)items[mid], name);

        if (c == 0) {
            *ret_found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *ret_found = false;
    return lo;
}

int watch_sorted_insert(void ***items, size_t *n, size_t at, void *item)
{
    void **ni = reallocarray(*items, *n + 1, sizeof(void *));

    if (!ni)
        return -ENOMEM;
    memmove(ni + at + 1, ni + at, (*n - at) * sizeof(void *));
    ni[at] = item;
    *items = ni;
    (*n)++;
    return 0;
}

void watch_sorted_remove(void **items, size_t *n, size_t at)
{
    memmove(items + at, items + at + 1, (*n - at - 1) * sizeof(void *));
    (*n)--;
}

int watch_push_ptr(void ***items, size_t *n, void *item)
{
    void **ni = reallocarray(*items, *n + 1, sizeof(void *));

    if (!ni)
        return -ENOMEM;
    ni[(*n)++] = item;
    *items = ni;
    return 0;
}

/* ---- entries and files ---------------------------------------------------------------- */

WatchEntry *watch_entry_free(WatchEntry *e)
{
    if (!e)
        return NULL;
    free(e->pub.name);
    free(e->pub.file);
    json_decref(e->pub.spec);
    watch_parse_unref(e->parse);
    free(e);
    return NULL;
}

WatchFile *watch_file_free(WatchFile *f)
{
    if (!f)
        return NULL;
    free(f->pub.name);
    free(f->pub.errors);
    watch_parse_unref(f->parse);
    free(f);
    return NULL;
}

WatchEntry *watch_find_entry(const ManifestWatcher *w, const char *name)
{
    bool found;
    size_t i = watch_sorted_find((void *const *)w->pods, w->n_pods, name, &found);

    return found ? w->pods[i] : NULL;
}

WatchFile *watch_find_file(const ManifestWatcher *w, const char *name)
{
    bool found;
    size_t i = watch_sorted_find((void *const *)w->files, w->n_files, name, &found);

    return found ? w->files[i] : NULL;
}

/*
 * Points e at document i of parse (a valid one): the version in force.
 * Returns 1 when the spec hash changed, 0 when it did not, -ENOMEM.
 */
static int entry_set_version(WatchEntry *e, WatchFile *f, WatchParse *parse, size_t i)
{
    const Pod *pod = parse->mf->docs[i].pod;
    _cleanup_json_ json_t *spec = NULL;
    _cleanup_free_ char *dump = NULL, *file = NULL;
    char hash[MANIFEST_WATCH_HASH_LEN];
    bool changed;

    spec = pod_to_json(pod);
    if (!spec)
        return -ENOMEM;
    dump = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
    if (!dump)
        return -ENOMEM;
    if (!e->pub.file || !streq(e->pub.file, f->pub.name)) {
        file = strdup(f->pub.name);
        if (!file)
            return -ENOMEM;
        free(e->pub.file);
        e->pub.file = move_ptr(file);
    }
    content_hash(dump, strlen(dump), hash);
    changed = !streq(hash, e->pub.spec_hash);
    /*
     * Same spec: keep the Pod object (and the parse that owns it) in force, so that
     * callers may hold e->pub.pod until an event says it changed or went away.
     */
    if (!changed && e->pub.pod) {
        e->pub.doc_index = (unsigned)i;
        return 0;
    }
    memcpy(e->pub.spec_hash, hash, sizeof(hash));
    json_decref(e->pub.spec);
    e->pub.spec = move_ptr(spec);
    watch_parse_ref(parse);
    watch_parse_unref(e->parse);
    e->parse = parse;
    e->pub.pod = pod;
    e->pub.doc_index = (unsigned)i;
    return changed;
}

/* A pod whose last good version stays while its owner becomes f (a move into a bad version). */
static int entry_set_owner(WatchEntry *e, const WatchFile *f)
{
    char *file;

    if (streq(e->pub.file, f->pub.name))
        return 0;
    file = strdup(f->pub.name);
    if (!file)
        return -ENOMEM;
    free(e->pub.file);
    e->pub.file = file;
    return 0;
}

static void entry_set_error(WatchEntry *e, const PdError *error)
{
    e->pub.has_error = true;
    e->pub.error = *error;
}

static bool parse_names(const WatchParse *p, const char *name)
{
    for (size_t i = 0; i < p->mf->n_docs; i++)
        if (p->mf->docs[i].name && streq(p->mf->docs[i].name, name))
            return true;
    return false;
}

/* The first document of p named name (a later one with the same name is ignored). */
static size_t parse_first_named(const WatchParse *p, const char *name)
{
    for (size_t i = 0; i < p->mf->n_docs; i++)
        if (p->mf->docs[i].name && streq(p->mf->docs[i].name, name))
            return i;
    return SIZE_MAX;
}

/* The first invalid document without a readable name, or NULL. */
static const PdError *parse_nameless_error(const WatchParse *p)
{
    for (size_t i = 0; i < p->mf->n_docs; i++)
        if (!p->mf->docs[i].name && p->docs[i].has_error)
            return &p->docs[i].error;
    return NULL;
}

static void conflict_error(PdError *c, const WatchFile *f, const ManifestDoc *d, const char *holder)
{
    if (streq(holder, f->pub.name))
        (void)pd_error_set_at(c, -EEXIST, d->pos.line, d->pos.column,
                              "pod '%s' is defined twice in this file; document %u is ignored",
                              d->name, d->index + 1);
    else
        (void)pd_error_set_at(c, -EEXIST, d->pos.line, d->pos.column,
                              "pod '%s' is already defined in '%s'; this definition is ignored "
                              "while that one exists",
                              d->name, holder);
    pd_error_set_file(c, f->pub.name);
}

/* ---- events ------------------------------------------------------------------------------ */

void watch_event_rec_done(WatchEventRec *rec)
{
    free(rec->pod_name);
    free(rec->file);
    free(rec->error);
}

/* Records an event for the end of the pass; entry must stay alive until then (dead_pods). */
int watch_queue_event(ManifestWatcher *w, ManifestWatchEventType type, const char *pod_name,
                      const char *file, WatchEntry *entry, const PdError *error)
{
    WatchEventRec rec = {.type = type, .entry = entry}, *ne;

    if (pod_name && !(rec.pod_name = strdup(pod_name)))
        goto fail;
    if (!(rec.file = strdup(file)))
        goto fail;
    if (error) {
        rec.error = malloc(sizeof(PdError));
        if (!rec.error)
            goto fail;
        *rec.error = *error;
    }
    ne = reallocarray(w->events, w->n_events + 1, sizeof(WatchEventRec));
    if (!ne)
        goto fail;
    w->events = ne;
    w->events[w->n_events++] = rec;
    return 0;
fail:
    watch_event_rec_done(&rec);
    return -ENOMEM;
}

/* ---- one pass ---------------------------------------------------------------------------- */

/* Phase 2: the pods of a changed file that it no longer defines are released. */
int watch_file_release(ManifestWatcher *w, WatchFile *f)
{
    size_t n_owned = 0;
    int r = 0;

    for (size_t i = 0; i < w->n_pods; i++) {
        WatchEntry *e = w->pods[i];
        const PdError *nameless;

        if (e->released || !streq(e->pub.file, f->pub.name))
            continue;
        n_owned++;
        if (f->gone) {
            e->released = true;
            continue;
        }
        if (f->has_error) {
            /* The whole file is unusable: every pod of it stays as it was. */
            entry_set_error(e, &f->error);
            r = watch_queue_event(w, MANIFEST_WATCH_ERROR, e->pub.name, f->pub.name, e, &f->error);
            if (r < 0)
                return r;
            continue;
        }
        if (!f->new_parse || parse_names(f->parse, e->pub.name))
            continue;
        /* A document whose name cannot be read may be this pod: keep it, say why. */
        nameless = parse_nameless_error(f->parse);
        if (nameless) {
            entry_set_error(e, nameless);
            r = watch_queue_event(w, MANIFEST_WATCH_ERROR, e->pub.name, f->pub.name, e, nameless);
            if (r < 0)
                return r;
            continue;
        }
        e->released = true;
    }
    if (f->has_error && !f->gone && n_owned == 0)
        r = watch_queue_event(w, MANIFEST_WATCH_ERROR, NULL, f->pub.name, NULL, &f->error);
    return r;
}

/* A valid document of f for entry e, which f holds or takes over: CHANGED when it matters. */
static int entry_apply(ManifestWatcher *w, WatchEntry *e, WatchFile *f, size_t i)
{
    int r = entry_set_version(e, f, f->parse, i);

    if (r < 0)
        return r;
    if (r == 0 && !e->pub.has_error)
        return 0;
    e->pub.has_error = false;
    e->pub.error = (PdError){0};
    return watch_queue_event(w, MANIFEST_WATCH_CHANGED, e->pub.name, f->pub.name, e, NULL);
}

static int entry_add(ManifestWatcher *w, WatchFile *f, size_t i)
{
    _cleanup_(watch_entry_freep) WatchEntry *e = NULL;
    const char *name = f->parse->mf->docs[i].name;
    bool found;
    size_t at;
    int r;

    e = calloc(1, sizeof(WatchEntry));
    if (!e)
        return -ENOMEM;
    e->pub.name = strdup(name);
    if (!e->pub.name)
        return -ENOMEM;
    r = entry_set_version(e, f, f->parse, i);
    if (r < 0)
        return r;
    at = watch_sorted_find((void *const *)w->pods, w->n_pods, name, &found);
    assert(!found);
    r = watch_sorted_insert((void ***)&w->pods, &w->n_pods, at, e);
    if (r < 0)
        return r;
    return watch_queue_event(w, MANIFEST_WATCH_ADDED, name, f->pub.name, move_ptr(e), NULL);
}

/* A newly read document's warnings, one event each, worded as podctl validate prints them. */
static int queue_warnings(ManifestWatcher *w, const WatchFile *f, const ManifestDoc *d)
{
    for (size_t j = 0; j < d->diags.n; j++) {
        const Diag *g = &d->diags.items[j];
        PdError e = {0};
        int r;

        if (g->level != DIAG_WARNING)
            continue;
        (void)pd_error_set_at(&e, 0, g->line, g->column, "warning: %s%s%s", g->path ? g->path : "",
                              g->path && *g->path ? ": " : "", g->message);
        pd_error_set_file(&e, f->pub.name);
        r = watch_queue_event(w, MANIFEST_WATCH_WARNING, d->name, f->pub.name, NULL, &e);
        if (r < 0)
            return r;
    }
    return 0;
}

/*
 * Phase 3, over every file in name order: documents claim their names.
 * A changed file reports its errors and conflicts; any file takes over a
 * name nobody holds any more.
 */
int watch_file_claim(ManifestWatcher *w, WatchFile *f)
{
    WatchParse *p = f->parse;
    int r = 0;

    if (f->gone || !p)
        return 0;
    for (size_t i = 0; i < p->mf->n_docs && r >= 0; i++) {
        const ManifestDoc *d = &p->mf->docs[i];
        const WatchDoc *wd = &p->docs[i];
        WatchEntry *e;
        PdError c;

        if (f->new_parse) {
            r = queue_warnings(w, f, d);
            if (r < 0)
                break;
        }
        if (!d->name) {
            if (f->new_parse)
                r = watch_queue_event(w, MANIFEST_WATCH_ERROR, NULL, f->pub.name, NULL, &wd->error);
            continue;
        }
        e = watch_find_entry(w, d->name);
        if (parse_first_named(p, d->name) != i) {
            if (f->new_parse) {
                conflict_error(&c, f, d, f->pub.name);
                r = watch_queue_event(w, MANIFEST_WATCH_CONFLICT, d->name, f->pub.name,
                                      e && !e->released ? e : NULL, &c);
            }
            continue;
        }
        if (e && !e->released && !streq(e->pub.file, f->pub.name)) {
            if (f->new_parse) {
                conflict_error(&c, f, d, e->pub.file);
                r = watch_queue_event(w, MANIFEST_WATCH_CONFLICT, d->name, f->pub.name, e, &c);
            }
            continue;
        }
        if (e && !e->released && !f->new_parse)
            continue;
        if (!wd->ok) {
            /* Not applicable: the last good version (if any) stays, with the reason. */
            if (!f->new_parse)
                continue;
            if (e) {
                e->released = false;
                r = entry_set_owner(e, f);
                if (r < 0)
                    break;
                entry_set_error(e, &wd->error);
            }
            r = watch_queue_event(w, MANIFEST_WATCH_ERROR, d->name, f->pub.name, e, &wd->error);
            continue;
        }
        if (e) {
            e->released = false;
            r = entry_apply(w, e, f, i);
        } else
            r = entry_add(w, f, i);
    }
    return r;
}

/* Phase 4: released entries nobody took over leave the desired set. */
int watch_release_unclaimed(ManifestWatcher *w)
{
    int r = 0;

    for (size_t i = w->n_pods; i > 0; i--) {
        WatchEntry *e = w->pods[i - 1];

        if (!e->released)
            continue;
        r = watch_push_ptr((void ***)&w->dead_pods, &w->n_dead_pods, e);
        if (r < 0) {
            e->released = false; /* keep it rather than leak it */
            continue;
        }
        watch_sorted_remove((void **)w->pods, &w->n_pods, i - 1);
        r = watch_queue_event(w, MANIFEST_WATCH_REMOVED, e->pub.name, e->pub.file, e, NULL);
    }
    return r;
}

/* Phase 5: the file's error list as the accessors show it. */
int watch_file_rebuild_errors(ManifestWatcher *w, WatchFile *f)
{
    size_t n = 0, cap = (f->has_error ? 1 : 0) + (f->parse ? f->parse->mf->n_docs : 0);
    _cleanup_free_ PdError *errs = NULL;

    f->pub.errors = mfree(f->pub.errors);
    f->pub.n_errors = 0;
    if (cap == 0)
        return 0;
    errs = calloc(cap, sizeof(PdError));
    if (!errs)
        return -ENOMEM;
    if (f->has_error)
        errs[n++] = f->error;
    for (size_t i = 0; f->parse && i < f->parse->mf->n_docs; i++) {
        const ManifestDoc *d = &f->parse->mf->docs[i];
        const WatchEntry *e;

        if (f->parse->docs[i].has_error) {
            errs[n++] = f->parse->docs[i].error;
            continue;
        }
        if (!d->name)
            continue;
        if (parse_first_named(f->parse, d->name) != i) {
            conflict_error(&errs[n++], f, d, f->pub.name);
            continue;
        }
        e = watch_find_entry(w, d->name);
        if (e && !streq(e->pub.file, f->pub.name))
            conflict_error(&errs[n++], f, d, e->pub.file);
    }
    if (n > 0) {
        f->pub.errors = move_ptr(errs);
        f->pub.n_errors = n;
    }
    return 0;
}
