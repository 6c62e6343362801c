/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The write side of the API: apply, delete and restart.
 *
 * An applied Pod is stored as <state>/applied/NAME.yaml (the document as
 * JSON, which is YAML) and reaches the desired set through the second
 * manifest watcher, exactly as a file of the manifest directory does: the
 * same validation, the same change detection, and it survives restarts and
 * reboots with the state directory. apply validates every document of the
 * call before it writes anything; nothing is written when one is wrong.
 */
#include <stdio.h>

#include "manager-internal.h"

typedef enum ApplyAction {
    APPLY_CREATED,
    APPLY_CONFIGURED,
    APPLY_UNCHANGED,
} ApplyAction;

static const char *const apply_action_table[] = {
    [APPLY_CREATED] = "created",
    [APPLY_CONFIGURED] = "configured",
    [APPLY_UNCHANGED] = "unchanged",
};

/* One Pod of the call. */
typedef struct ApplyItem {
    const char *name;  /* into the parsed file */
    const char *file;  /* the client's name of the file it comes from */
    const json_t *doc; /* the document, as stored */
    json_t *spec;      /* pod_to_json() of it: compared with the version in force */
    ApplyAction action;
    json_t *replaced; /* configured: the containers that would be replaced, or "pod" */
} ApplyItem;

typedef struct ApplyCall {
    ManifestFile **files;
    size_t n_files;
    ApplyItem *items;
    size_t n_items;
} ApplyCall;

static void apply_call_done(ApplyCall *c)
{
    for (size_t i = 0; i < c->n_items; i++) {
        json_decref(c->items[i].spec);
        json_decref(c->items[i].replaced);
    }
    free(c->items);
    for (size_t i = 0; i < c->n_files; i++)
        manifest_file_free(c->files[i]);
    free(c->files);
}

/* The first error of a document, as podctl validate prints it. */
static int doc_error(const ManifestFile *f, const ManifestDoc *d, PdError *reterr)
{
    for (size_t i = 0; i < d->diags.n; i++) {
        _cleanup_free_ char *s = NULL;

        if (d->diags.items[i].level != DIAG_ERROR)
            continue;
        s = diag_format(&d->diags.items[i], f->name);
        return pd_error_set(reterr, -EBADMSG, "%s", s ? s : "invalid document");
    }
    return pd_error_set(reterr, -EBADMSG, "%s: document %u is not a valid Pod", f->name,
                        d->index + 1);
}

static int apply_add_item(ApplyCall *c, const ManifestFile *f, const ManifestDoc *d,
                          PdError *reterr)
{
    ApplyItem *items;

    for (size_t i = 0; i < c->n_items; i++)
        if (streq(c->items[i].name, d->name))
            return pd_error_set(reterr, -EBADMSG, "pod '%s' is defined twice: in %s and in %s",
                                d->name, c->items[i].file, f->name);
    items = reallocarray(c->items, c->n_items + 1, sizeof(ApplyItem));
    if (!items)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    c->items = items;
    items[c->n_items] = (ApplyItem){.name = d->name, .file = f->name, .doc = d->source};
    items[c->n_items].spec = pod_to_json(d->pod);
    if (!items[c->n_items++].spec)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    return 0;
}

/* Parses and validates one {"file", "text"} of the request. */
static int apply_parse_one(ApplyCall *c, size_t index, const json_t *entry, PdError *reterr)
{
    const char *file = json_string_value(json_object_get(entry, "file"));
    const json_t *text = json_object_get(entry, "text");
    ManifestFile **files, *f = NULL;
    int r;

    if (!json_is_object(entry) || !file || !*file || !json_is_string(text))
        return pd_error_set(reterr, -EINVAL,
                            "manifests[%zu] must be an object with a 'file' and a 'text' string",
                            index);
    files = reallocarray(c->files, c->n_files + 1, sizeof(ManifestFile *));
    if (!files)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    c->files = files;
    r = manifest_parse_buffer(file, json_string_value(text), json_string_length(text),
                              MANIFEST_FORMAT_AUTO, &f, reterr);
    if (r < 0)
        return r == -ENOMEM ? r : pd_error_set(reterr, -EBADMSG, "%s", reterr->message);
    c->files[c->n_files++] = f;
    for (size_t i = 0; i < f->n_docs; i++) {
        const ManifestDoc *d = &f->docs[i];

        r = d->pod && d->source ? apply_add_item(c, f, d, reterr) : doc_error(f, d, reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

static const json_t *container_named(const json_t *list, const json_t *name)
{
    const json_t *c;
    size_t i;

    json_array_foreach(list, i, c)
    {
        if (json_equal(json_object_get(c, "name"), name))
            return c;
    }
    return NULL;
}

/* The names of the containers whose spec differs between two pod JSONs (added or removed too). */
static json_t *changed_containers(const json_t *old, const json_t *new)
{
    static const char *const lists[] = {"initContainers", "containers"};
    _cleanup_json_ json_t *names = json_array();

    for (size_t l = 0; names && l < ELEMENTSOF(lists); l++) {
        const json_t *a = json_object_get(old, lists[l]), *b = json_object_get(new, lists[l]);
        const json_t *x, *y;
        size_t i, k;

        json_array_foreach(b, i, y)
        {
            x = container_named(a, json_object_get(y, "name"));
            if ((!x || !json_equal(x, y)) &&
                json_array_append(names, json_object_get(y, "name")) < 0)
                return NULL;
        }
        json_array_foreach(a, k, x)
        {
            if (!container_named(b, json_object_get(x, "name")) &&
                json_array_append(names, json_object_get(x, "name")) < 0)
                return NULL;
        }
    }
    return move_ptr(names);
}

/* Pod-level fields (everything but the containers) differ: the whole pod is replaced. */
static bool pod_level_differs(json_t *old, json_t *new)
{
    _cleanup_json_ json_t *a = pod_level_json(old), *b = pod_level_json(new);

    return !a || !b || !json_equal(a, b);
}

/* What applying it would do, against the applied version in force. */
static int apply_plan_one(Manager *m, ApplyItem *it, PdError *reterr)
{
    const ManifestWatchPod *in_dir = manifest_watcher_get_pod(m->watcher, it->name);
    const ManifestWatchPod *old = manifest_watcher_get_pod(m->applied, it->name);
    PodRec *pr = manager_find_pod(m, it->name);

    /* The manifest directory is the host's own configuration: the API never overrides it. */
    if (in_dir || (pr && pr->pod && !pr->from_api))
        return pd_error_set(reterr, -EEXIST,
                            "pod '%s' of %s is already defined by %s/%s in the manifest "
                            "directory; edit that file, or remove it before applying",
                            it->name, it->file, m->cfg.manifest_dir,
                            in_dir ? in_dir->file : (pr->source ? pr->source : "?"));
    if (!old) {
        it->action = APPLY_CREATED;
        return 0;
    }
    if (json_equal(old->spec, it->spec) && !old->has_error) {
        it->action = APPLY_UNCHANGED;
        return 0;
    }
    it->action = APPLY_CONFIGURED;
    it->replaced = pod_level_differs(old->spec, it->spec) ? json_string("pod")
                                                          : changed_containers(old->spec, it->spec);
    if (!it->replaced)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    return 0;
}

static int apply_store_one(Manager *m, const ApplyItem *it, PdError *reterr)
{
    _cleanup_free_ char *text = json_dumps(it->doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    _cleanup_free_ char *line = NULL;
    int r;

    if (!text || !(line = strdup_printf("%s\n", text)))
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    r = state_store_save_applied(m->store, it->name, line, strlen(line));
    if (r < 0)
        return pd_error_set(reterr, r, "cannot store pod '%s' in %s: %s", it->name, m->applied_dir,
                            strerror(-r));
    return 0;
}

static json_t *apply_results(const ApplyCall *c)
{
    _cleanup_json_ json_t *out = json_array();

    for (size_t i = 0; out && i < c->n_items; i++) {
        const ApplyItem *it = &c->items[i];
        json_t *o = json_pack("{s:s,s:s,s:s}", "name", it->name, "action",
                              apply_action_table[it->action], "file", it->file);

        if (!o || json_array_append_new(out, o) < 0)
            return NULL;
        if (it->replaced && json_object_set(o, "replaced", it->replaced) < 0)
            return NULL;
    }
    return move_ptr(out);
}

json_t *manager_apply(Manager *m, const json_t *manifests, bool dry_run, PdError *reterr)
{
    _cleanup_(apply_call_done) ApplyCall c = {0};
    const json_t *entry;
    size_t i;

    /* Everything is checked before anything is written: all or nothing. */
    json_array_foreach(manifests, i, entry)
    {
        if (apply_parse_one(&c, i, entry, reterr) < 0)
            return NULL;
    }
    if (c.n_items == 0) {
        (void)pd_error_set(reterr, -EINVAL, "no Pod to apply");
        return NULL;
    }
    for (i = 0; i < c.n_items; i++)
        if (apply_plan_one(m, &c.items[i], reterr) < 0)
            return NULL;
    for (i = 0; !dry_run && i < c.n_items; i++)
        if (c.items[i].action != APPLY_UNCHANGED && apply_store_one(m, &c.items[i], reterr) < 0)
            return NULL;
    /* Now, not at the next inotify round: the answer's pods are in the desired set. */
    if (!dry_run)
        (void)manifest_watcher_flush(m->applied);
    return apply_results(&c);
}

/* Checks that every name is an applied pod. */
static int delete_check_one(Manager *m, const char *name, PdError *reterr)
{
    const ManifestWatchPod *in_dir = manifest_watcher_get_pod(m->watcher, name);

    if (manifest_watcher_get_pod(m->applied, name))
        return 0;
    if (in_dir)
        return pd_error_set(reterr, -EEXIST,
                            "pod '%s' is defined by %s/%s in the manifest directory; remove "
                            "that file to delete it",
                            name, m->cfg.manifest_dir, in_dir->file);
    return pd_error_set(reterr, -ENOENT, "pod '%s' not found", name);
}

json_t *manager_delete_pods(Manager *m, const json_t *names, PdError *reterr)
{
    _cleanup_json_ json_t *out = json_array();
    const json_t *v;
    size_t i;
    int r;

    if (!out) {
        (void)pd_error_set(reterr, -ENOMEM, "out of memory");
        return NULL;
    }
    json_array_foreach(names, i, v)
    {
        if (delete_check_one(m, json_string_value(v), reterr) < 0)
            return NULL;
    }
    json_array_foreach(names, i, v)
    {
        r = state_store_remove_applied(m->store, json_string_value(v));
        if (r < 0) {
            (void)pd_error_set(reterr, r, "cannot remove pod '%s' from %s: %s",
                               json_string_value(v), m->applied_dir, strerror(-r));
            return NULL;
        }
        if (json_array_append_new(out, json_pack("{s:O,s:s}", "name", v, "action", "deleted")) < 0)
            return NULL;
    }
    (void)manifest_watcher_flush(m->applied);
    return move_ptr(out);
}

json_t *manager_restart_pod(Manager *m, const char *name, PdError *reterr)
{
    PodRec *pr = manager_find_pod(m, name);

    if (!pr || !pr->pod) {
        (void)pd_error_set(reterr, -ENOENT, "pod '%s' not found", name);
        return NULL;
    }
    if (pr->terminating) {
        (void)pd_error_set(reterr, -EEXIST, "pod '%s' is stopping already", name);
        return NULL;
    }
    /* A new instance of the same version: init containers run again, "once" ones do not. */
    manager_event(m, pr, NULL, "Normal", "Restarting",
                  "restart requested: stopping every container, then starting again");
    pr->recreate_after_stop = true;
    pod_begin_stop(pr);
    manager_mark_dirty(pr);
    return json_pack("{s:s,s:s}", "name", name, "action", "restarted");
}
