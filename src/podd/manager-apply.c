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
    _APPLY_ACTION_MAX,
    _APPLY_ACTION_INVALID = -EINVAL,
} ApplyAction;

DEFINE_PRIVATE_STRING_TABLE(apply_action, ApplyAction,
                            _APPLY_ACTION_MAX, [APPLY_CREATED] = "created",
                            [APPLY_CONFIGURED] = "configured", [APPLY_UNCHANGED] = "unchanged")

/* One Pod of the call. */
typedef struct ApplyItem {
    const char *name;  /* into the parsed file */
    const char *file;  /* the client's name of the file it comes from */
    const json_t *doc; /* the document, as stored */
    const Pod *pod;    /* into the parsed file */
    json_t *spec;      /* pod_to_json() of it: compared with the version in force */
    ApplyAction action;
    json_t *plan; /* configured: what the daemon will do, from reconcile_plan() */
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
        json_decref(c->items[i].plan);
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
    items[c->n_items] =
        (ApplyItem){.name = d->name, .file = f->name, .doc = d->source, .pod = d->pod};
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

/*
 * The plan as the answer carries it: {"summary": "replaces container app",
 * "replaced": [names] or "pod", "plan": {"pod": {"action", "reason",
 * "message"}, "containers": [{"name", "action", "reason", "message",
 * "cause"?}]}}, with "waitsFor": {"reason", "images"} when it waits for
 * images (make before break: nothing of it happens before they are there).
 */
static json_t *plan_to_json(const Plan *p)
{
    _cleanup_free_ char *summary = reconcile_plan_summary(p);
    _cleanup_free_ char *why = reconcile_plan_pod_reason_text(p);
    _cleanup_json_ json_t *o = NULL;
    json_t *replaced, *ctrs;

    if (!summary || !why)
        return NULL;
    o = json_pack("{s:s,s:{s:{s:s,s:s,s:s},s:[]}}", "summary", summary, "plan", "pod", "action",
                  reconcile_plan_action_to_string(p->pod_action), "reason",
                  reconcile_plan_pod_reason_to_string(p->pod_reason), "message", why, "containers");
    replaced = p->pod_action == PLAN_ACTION_REPLACE ? json_string("pod") : json_array();
    if (!o || json_object_set_new(o, "replaced", replaced) < 0)
        return NULL;
    /* Make before break: nothing of it happens before these images are there. */
    if (p->held != PLAN_IMAGE_PRESENT) {
        json_t *images = json_array();

        for (size_t i = 0; images && p->held_images[i]; i++)
            if (json_array_append_new(images, json_string(p->held_images[i])) < 0)
                json_decref(move_ptr(images));
        if (!images || json_object_set_new(o, "waitsFor",
                                           json_pack("{s:s,s:o}", "reason",
                                                     reconcile_plan_image_to_string(p->held),
                                                     "images", images)) < 0)
            return NULL;
    }
    ctrs = json_object_get(json_object_get(o, "plan"), "containers");
    for (size_t i = 0; i < p->n_ctrs; i++) {
        const PlanCtr *c = &p->ctrs[i];
        _cleanup_free_ char *text = reconcile_plan_ctr_reason_text(c);
        json_t *cj;

        if (!text)
            return NULL;
        cj = json_pack("{s:s,s:s,s:s,s:s}", "name", c->name, "action",
                       reconcile_plan_action_to_string(c->action), "reason",
                       reconcile_plan_reason_to_string(c->reason), "message", text);
        if (json_array_append_new(ctrs, cj) < 0 ||
            (c->cause && json_object_set_new(cj, "cause", json_string(c->cause)) < 0))
            return NULL;
        if (json_is_array(replaced) && c->action == PLAN_ACTION_REPLACE &&
            json_array_append_new(replaced, json_string(c->name)) < 0)
            return NULL;
    }
    return move_ptr(o);
}

/*
 * What the daemon will do with the new version: the planner's answer against
 * its records of what runs, exactly as on_pod_changed() will ask it. No
 * record (nothing runs): everything is created.
 */
static int apply_plan_configured(Manager *m, ApplyItem *it, PdError *reterr)
{
    _cleanup_(reconcile_plan_freep) Plan *plan = NULL;
    _cleanup_free_ PlanObservedCtr *seen = NULL;
    PodRec *pr = manager_find_pod(m, it->name);
    PlanObserved observed = {0};
    int r;

    if (pr && !(seen = pod_rec_observe(pr, &observed)))
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    r = reconcile_plan(it->pod, &observed, &plan, reterr);
    if (r < 0)
        return r;
    it->plan = plan_to_json(plan);
    if (!it->plan)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    return 0;
}

/*
 * The applied version in force, as the store holds it (*ret_spec NULL: none).
 * Each apply stores its pods before it answers, and the loop runs one
 * request at a time, so deciding against the store is atomic: of concurrent
 * applies of a new name exactly one creates it. The watcher of applied/
 * would not do: it sees a stored file only at its next inotify round. A
 * stored file that cannot be read or is not one valid Pod gives {}: what is
 * applied over it configures.
 */
static int apply_stored_spec(Manager *m, const char *name, json_t **ret_spec, PdError *reterr)
{
    _cleanup_(manifest_file_freep) ManifestFile *f = NULL;
    _cleanup_free_ char *text = NULL;
    json_t *spec;
    size_t size;
    int r;

    r = state_store_load_applied(m->store, name, &text, &size, NULL);
    if (r == -ENOENT) {
        *ret_spec = NULL;
        return 0;
    }
    if (r >= 0)
        r = manifest_parse_buffer(name, text, size, MANIFEST_FORMAT_AUTO, &f, NULL);
    if (r == -ENOMEM)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    if (r >= 0 && f && f->n_docs == 1 && f->docs[0].pod)
        spec = pod_to_json(f->docs[0].pod);
    else
        spec = json_object();
    if (!spec)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    *ret_spec = spec;
    return 0;
}

/* What applying it would do, against the applied version in force. */
static int apply_plan_one(Manager *m, ApplyItem *it, PdError *reterr)
{
    const ManifestWatchPod *in_dir = manifest_watcher_get_pod(m->watcher, it->name);
    _cleanup_json_ json_t *old = NULL;
    PodRec *pr = manager_find_pod(m, it->name);
    int r;

    /* The manifest directory is the host's own configuration: the API never overrides it. */
    if (in_dir || (pr && pr->pod && !pr->from_api))
        return pd_error_set(reterr, -EEXIST,
                            "pod '%s' of %s is already defined by %s/%s in the manifest "
                            "directory; edit that file, or remove it before applying",
                            it->name, it->file, m->cfg.manifest_dir,
                            in_dir ? in_dir->file : (pr->source ? pr->source : "?"));
    r = apply_stored_spec(m, it->name, &old, reterr);
    if (r < 0)
        return r;
    if (!old) {
        it->action = APPLY_CREATED;
        return 0;
    }
    if (json_equal(old, it->spec)) {
        it->action = APPLY_UNCHANGED;
        return 0;
    }
    it->action = APPLY_CONFIGURED;
    return apply_plan_configured(m, it, reterr);
}

/*
 * Its inotify event is not read before the flush that follows: the file is
 * marked for that flush to read, so that the answer's pods are in the
 * desired set when the answer goes out (a get_pod right after finds them).
 */
static int note_applied_changed(Manager *m, const char *name)
{
    _cleanup_free_ char *fn = state_applied_file_name(name);

    return fn ? manifest_watcher_note_changed(m->applied, fn) : -ENOMEM;
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
    return note_applied_changed(m, it->name);
}

static json_t *apply_results(const ApplyCall *c)
{
    _cleanup_json_ json_t *out = json_array();

    for (size_t i = 0; out && i < c->n_items; i++) {
        const ApplyItem *it = &c->items[i];
        json_t *o = json_pack("{s:s,s:s,s:s}", "name", it->name, "action",
                              apply_action_to_string(it->action), "file", it->file);

        if (!o || json_array_append_new(out, o) < 0)
            return NULL;
        if (it->plan && json_object_update(o, it->plan) < 0)
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
    /* Now, not at the next inotify round: the answer's pods are in the desired set
     * (note_applied_changed()). */
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
        if (r >= 0)
            r = note_applied_changed(m, json_string_value(v));
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
    if (pr->life.state == POD_STATE_STOPPING) {
        (void)pd_error_set(reterr, -EEXIST, "pod '%s' is stopping already", name);
        return NULL;
    }
    /* A new instance of the same version: init containers run again, "once" ones do not. */
    manager_event(m, pr, NULL, "Normal", "Restarting",
                  "restart requested: stopping every container, then starting again");
    pod_rec_feed(pr, POD_EV_REPLACE);
    manager_mark_dirty(pr);
    return json_pack("{s:s,s:s}", "name", name, "action", "restarted");
}
