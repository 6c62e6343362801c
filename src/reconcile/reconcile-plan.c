/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include "reconcile.h"

/*
 * The planner: what a new version of a pod does to the instance that runs.
 * The daemon acts on its answer and `podctl apply --dry-run` prints it, so
 * both say the same by construction.
 */

DEFINE_STRING_TABLE(reconcile_plan_action, PlanAction,
                    _PLAN_ACTION_MAX, [PLAN_ACTION_KEEP] = "keep", [PLAN_ACTION_CREATE] = "create",
                    [PLAN_ACTION_REPLACE] = "replace", [PLAN_ACTION_REMOVE] = "remove")

DEFINE_STRING_TABLE(reconcile_plan_reason, PlanReason, _PLAN_REASON_MAX,
                    [PLAN_REASON_UNCHANGED] = "Unchanged", [PLAN_REASON_NOT_STARTED] = "NotStarted",
                    [PLAN_REASON_NEW] = "New", [PLAN_REASON_SPEC_CHANGED] = "SpecChanged",
                    [PLAN_REASON_DEPENDENCY] = "Dependency", [PLAN_REASON_REPLACING] = "Replacing",
                    [PLAN_REASON_POD_REPLACED] = "PodReplaced", [PLAN_REASON_GONE] = "Gone")

DEFINE_STRING_TABLE(
    reconcile_plan_pod_reason, PlanPodReason,
    _PLAN_POD_REASON_MAX, [PLAN_POD_REASON_NONE] = "", [PLAN_POD_REASON_STOPPING] = "Stopping",
    [PLAN_POD_REASON_POD_LEVEL] = "PodLevel", [PLAN_POD_REASON_INIT_CHANGED] = "InitChanged",
    [PLAN_POD_REASON_SIDECAR_CHANGED] = "SidecarChanged",
    [PLAN_POD_REASON_INIT_SEQUENCE] = "InitSequence")

DEFINE_STRING_TABLE(
    reconcile_plan_image, PlanImage, _PLAN_IMAGE_MAX, [PLAN_IMAGE_PRESENT] = "Present",
    [PLAN_IMAGE_ABSENT] = "ImageNotFound", [PLAN_IMAGE_INVALID] = "InvalidImageName")

Plan *reconcile_plan_free(Plan *p)
{
    if (!p)
        return NULL;
    for (size_t i = 0; i < p->n_ctrs; i++) {
        free(p->ctrs[i].name);
        free(p->ctrs[i].cause);
        free(p->ctrs[i].spec_json);
    }
    free(p->ctrs);
    free(p->pod_detail);
    strv_free(p->held_images);
    graph_free(p->graph);
    free(p);
    return NULL;
}

json_t *reconcile_pod_level_json(const json_t *spec)
{
    json_t *level = json_deep_copy(spec);

    if (level) {
        (void)json_object_del(level, "containers");
        (void)json_object_del(level, "initContainers");
        /* Derived from the annotations, in their order in the document: compared through them
         * (where the order does not count). */
        (void)json_object_del(level, "dependencies");
    }
    return level;
}

const PlanCtr *reconcile_plan_find(const Plan *p, const char *name)
{
    for (size_t i = 0; i < p->n_ctrs; i++)
        if (streq(p->ctrs[i].name, name))
            return &p->ctrs[i];
    return NULL;
}

/* ---- planning ---------------------------------------------------------------------- */

static const PlanObservedCtr *observed_find(const PlanObserved *o, const char *name)
{
    for (size_t i = 0; i < o->n_ctrs; i++)
        if (o->ctrs[i].name && streq(o->ctrs[i].name, name))
            return &o->ctrs[i];
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The top-level keys whose values differ between a and b, sorted, as "k1, k2"; "" when none. */
static int level_diff(const json_t *a, const json_t *b, char **ret)
{
    _cleanup_(strbuf_done) StrBuf out = {0};
    _cleanup_free_ const char **keys = NULL;
    const json_t *objs[] = {a, b};
    size_t n = 0;
    int r;

    keys = calloc(json_object_size(a) + json_object_size(b) + 1, sizeof(char *));
    if (!keys)
        return -ENOMEM;
    for (size_t k = 0; k < ELEMENTSOF(objs); k++) {
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)objs[k], key, v)
        {
            bool seen = false;

            if (json_equal(json_object_get(a, key), json_object_get(b, key)))
                continue;
            for (size_t i = 0; i < n && !seen; i++)
                seen = streq(keys[i], key);
            if (!seen)
                keys[n++] = key;
        }
    }
    qsort(keys, n, sizeof(char *), cmp_str);
    r = strbuf_append(&out, "", 0);
    for (size_t i = 0; r >= 0 && i < n; i++)
        r = strbuf_printf(&out, "%s%s", i ? ", " : "", keys[i]);
    if (r < 0)
        return r;
    *ret = move_ptr(out.data);
    return 0;
}

/* A desired container against what runs of it. */
static void plan_one(PlanCtr *e, const PlanObservedCtr *o)
{
    bool changed;

    if (!o) {
        e->action = PLAN_ACTION_CREATE;
        e->reason = PLAN_REASON_NEW;
        return;
    }
    changed = o->spec_json && !streq(o->spec_json, e->spec_json);
    if (changed && o->started) {
        e->action = PLAN_ACTION_REPLACE;
        e->reason = PLAN_REASON_SPEC_CHANGED;
    } else if (o->replacing) {
        e->action = PLAN_ACTION_REPLACE;
        e->reason = PLAN_REASON_REPLACING;
    } else {
        e->action = PLAN_ACTION_KEEP;
        e->reason = changed ? PLAN_REASON_NOT_STARTED : PLAN_REASON_UNCHANGED;
    }
}

/* Whether the init containers (and sidecars) of both versions are the same names in order. */
static bool init_sequence_same(const Pod *desired, const PlanObserved *o)
{
    size_t k = 0;

    for (size_t i = 0; i < o->n_ctrs; i++) {
        if (o->ctrs[i].kind == CONTAINER_KIND_REGULAR)
            continue;
        if (k >= desired->n_init_containers ||
            !streq(o->ctrs[i].name, desired->init_containers[k].name))
            return false;
        k++;
    }
    return k == desired->n_init_containers;
}

static bool any_started(const PlanObserved *o)
{
    for (size_t i = 0; i < o->n_ctrs; i++)
        if (o->ctrs[i].started)
            return true;
    return false;
}

/* Whether, and why, the whole pod is replaced. Sets p->pod_*. */
static int plan_pod(Plan *p, const Pod *desired, const json_t *level, const PlanObserved *o)
{
    if (o->stopping) {
        p->pod_reason = PLAN_POD_REASON_STOPPING;
    } else if (o->level && !json_equal(o->level, level)) {
        int r = level_diff(o->level, level, &p->pod_detail);

        if (r < 0)
            return r;
        p->pod_reason = PLAN_POD_REASON_POD_LEVEL;
    } else {
        /* Init containers and sidecars run only at the start of a pod instance. */
        for (size_t i = 0; i < p->n_ctrs && !p->pod_reason; i++) {
            const PlanCtr *e = &p->ctrs[i];

            if (e->action != PLAN_ACTION_REPLACE || e->kind == CONTAINER_KIND_REGULAR)
                continue;
            p->pod_reason = e->kind == CONTAINER_KIND_SIDECAR ? PLAN_POD_REASON_SIDECAR_CHANGED
                                                              : PLAN_POD_REASON_INIT_CHANGED;
            p->pod_detail = strdup(e->name);
            if (!p->pod_detail)
                return -ENOMEM;
        }
        if (!p->pod_reason && !init_sequence_same(desired, o) && any_started(o))
            p->pod_reason = PLAN_POD_REASON_INIT_SEQUENCE;
    }
    p->pod_action = p->pod_reason ? PLAN_ACTION_REPLACE : PLAN_ACTION_KEEP;
    return 0;
}

/* Every container that started and waits for a replaced one is replaced too. */
static int plan_propagate(Plan *p, const Graph *g, const PlanObserved *o)
{
    const size_t *order;
    size_t n;

    /* Start order puts each container after all it waits for: one pass settles every chain. */
    order = graph_start_order(g, &n);
    for (size_t k = 0; k < n; k++) {
        PlanCtr *e = (PlanCtr *)reconcile_plan_find(p, graph_node_name(g, order[k]));
        const PlanObservedCtr *oc;
        const GraphEdge *edges;
        size_t n_edges;

        if (!e || e->action != PLAN_ACTION_KEEP || !(oc = observed_find(o, e->name)) ||
            !oc->started)
            continue;
        edges = graph_node_edges(g, order[k], &n_edges);
        for (size_t i = 0; i < n_edges; i++) {
            const PlanCtr *on = reconcile_plan_find(p, graph_node_name(g, edges[i].waited_on));

            if (on && on->action == PLAN_ACTION_REPLACE) {
                e->action = PLAN_ACTION_REPLACE;
                e->reason = PLAN_REASON_DEPENDENCY;
                e->cause = strdup(on->name);
                if (!e->cause)
                    return -ENOMEM;
                break;
            }
        }
    }
    return 0;
}

/*
 * Make before break: whether what the plan replaces can start, image by
 * image. Looks up the new version's image of each container the plan
 * replaces (of every container when the whole pod is replaced) and holds
 * the plan on the first that is not present, collecting every such image.
 */
static int plan_hold(Plan *p, const Pod *desired, const PlanObserved *o)
{
    /* Nothing runs that a wait would keep: a stopping pod, a pod that never started. */
    if (!o->image_lookup || p->pod_reason == PLAN_POD_REASON_STOPPING ||
        (p->pod_action == PLAN_ACTION_REPLACE && !any_started(o)))
        return 0;
    POD_FOREACH_CONTAINER (desired, c, i) {
        PlanCtr *e = &p->ctrs[i]; /* the plan lists the new version in this order */

        /* A replacement under way stops anyway; a created container stops nothing. */
        if (p->pod_action != PLAN_ACTION_REPLACE &&
            (e->action != PLAN_ACTION_REPLACE || e->reason == PLAN_REASON_REPLACING))
            continue;
        e->image = o->image_lookup(o->image_userdata, c->image);
        if (e->image == PLAN_IMAGE_PRESENT)
            continue;
        if (e->image > p->held)
            p->held = e->image;
        if (!strv_contains(p->held_images, c->image) && strv_extend(&p->held_images, c->image) < 0)
            return -ENOMEM;
    }
    return 0;
}

int reconcile_plan(const Pod *desired, const PlanObserved *observed, Plan **ret, PdError *reterr)
{
    _cleanup_(reconcile_plan_freep) Plan *p = NULL;
    _cleanup_(graph_freep) Graph *g = NULL;
    _cleanup_json_ json_t *pj = NULL, *level = NULL;
    size_t n_desired = desired->n_init_containers + desired->n_containers;
    int r;

    r = reconcile_pod_graph(desired, &g, reterr);
    if (r < 0)
        return r;
    p = calloc(1, sizeof(Plan));
    pj = pod_to_json(desired);
    level = pj ? reconcile_pod_level_json(pj) : NULL;
    if (!p || !level || !(p->ctrs = calloc(n_desired + observed->n_ctrs + 1, sizeof(PlanCtr))))
        return pd_error_set(reterr, -ENOMEM, "out of memory");

    POD_FOREACH_CONTAINER (desired, c, i) {
        bool init = i < desired->n_init_containers;
        json_t *cj = json_array_get(json_object_get(pj, init ? "initContainers" : "containers"),
                                    init ? i : i - desired->n_init_containers);
        PlanCtr *e = &p->ctrs[p->n_ctrs++];

        e->kind = c->kind;
        e->name = strdup(c->name);
        e->spec_json = cj ? json_dumps(cj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (!e->name || !e->spec_json)
            return pd_error_set(reterr, -ENOMEM, "out of memory");
        plan_one(e, observed_find(observed, c->name));
    }
    for (size_t i = 0; i < observed->n_ctrs; i++) {
        const PlanObservedCtr *o = &observed->ctrs[i];
        PlanCtr *e;

        if (!o->name || pod_find_container(desired, o->name) || reconcile_plan_find(p, o->name))
            continue;
        e = &p->ctrs[p->n_ctrs++];
        *e = (PlanCtr){.name = strdup(o->name),
                       .kind = o->kind,
                       .action = PLAN_ACTION_REMOVE,
                       .reason = PLAN_REASON_GONE};
        if (!e->name)
            return pd_error_set(reterr, -ENOMEM, "out of memory");
    }

    r = plan_pod(p, desired, level, observed);
    if (r >= 0 && p->pod_action == PLAN_ACTION_REPLACE) {
        /* A new instance: everything of the old one stops, whatever it is. */
        for (size_t i = 0; i < n_desired; i++) {
            PlanCtr *e = &p->ctrs[i];

            if (e->action == PLAN_ACTION_CREATE || e->action == PLAN_ACTION_REPLACE)
                continue;
            e->action = PLAN_ACTION_REPLACE;
            e->reason = PLAN_REASON_POD_REPLACED;
        }
    } else if (r >= 0)
        r = plan_propagate(p, g, observed);
    if (r >= 0)
        r = plan_hold(p, desired, observed);
    if (r < 0)
        return pd_error_set(reterr, r, "out of memory");

    p->graph = move_ptr(g);
    *ret = move_ptr(p);
    return 0;
}

/* ---- for humans -------------------------------------------------------------------- */

char *reconcile_plan_pod_reason_text(const Plan *p)
{
    const char *d = p->pod_detail ? p->pod_detail : "";

    switch (p->pod_reason) {
    case PLAN_POD_REASON_STOPPING:
        return strdup("the pod is stopping");
    case PLAN_POD_REASON_POD_LEVEL:
        return strdup_printf("pod-level field%s %s changed", strchr(d, ',') ? "s" : "", d);
    case PLAN_POD_REASON_INIT_CHANGED:
        return strdup_printf("init container %s changed", d);
    case PLAN_POD_REASON_SIDECAR_CHANGED:
        return strdup_printf("sidecar %s changed", d);
    case PLAN_POD_REASON_INIT_SEQUENCE:
        return strdup("init containers added, removed or reordered");
    default:
        return strdup("");
    }
}

char *reconcile_plan_ctr_reason_text(const PlanCtr *c)
{
    switch (c->reason) {
    case PLAN_REASON_UNCHANGED:
        return strdup("unchanged");
    case PLAN_REASON_NOT_STARTED:
        return strdup("its spec changed before it ever started");
    case PLAN_REASON_NEW:
        return strdup("new in the manifest");
    case PLAN_REASON_SPEC_CHANGED:
        return strdup("its spec changed");
    case PLAN_REASON_DEPENDENCY:
        return strdup_printf("it depends on %s, which is replaced", c->cause ? c->cause : "?");
    case PLAN_REASON_REPLACING:
        return strdup("a replacement is under way");
    case PLAN_REASON_POD_REPLACED:
        return strdup("the whole pod is replaced");
    case PLAN_REASON_GONE:
        return strdup("gone from the manifest");
    default:
        return strdup("");
    }
}

/*
 * Appends "<verb> container a" or "<verb> containers a, b" for the entries of
 * action act (and not_started: of reason PLAN_REASON_NOT_STARTED or not).
 * Returns how many, or -ENOMEM.
 */
static int summary_part(StrBuf *b, const Plan *p, PlanAction act, bool not_started,
                        const char *verb)
{
    size_t n = 0, k = 0;
    int r = 0;

    for (size_t i = 0; i < p->n_ctrs; i++)
        if (p->ctrs[i].action == act &&
            (p->ctrs[i].reason == PLAN_REASON_NOT_STARTED) == not_started)
            n++;
    if (n == 0)
        return 0;
    r = strbuf_printf(b, "%s%s container%s", b->len ? "; " : "", verb, n == 1 ? "" : "s");
    for (size_t i = 0; r >= 0 && i < p->n_ctrs; i++)
        if (p->ctrs[i].action == act &&
            (p->ctrs[i].reason == PLAN_REASON_NOT_STARTED) == not_started)
            r = strbuf_printf(b, "%s %s", k++ ? "," : "", p->ctrs[i].name);
    return r < 0 ? r : (int)n;
}

char *reconcile_plan_held_text(const Plan *p)
{
    _cleanup_(strbuf_done) StrBuf b = {0};
    size_t n = strv_length(p->held_images);
    int r;

    if (p->held == PLAN_IMAGE_PRESENT || n == 0)
        return strdup("");
    r = strbuf_printf(&b, "waits for image%s", n > 1 ? "s" : "");
    for (size_t i = 0; r >= 0 && i < n; i++)
        r = strbuf_printf(&b, "%s %s", i ? "," : "", p->held_images[i]);
    if (r >= 0)
        r = strbuf_printf(&b, " (%s)",
                          p->held == PLAN_IMAGE_INVALID ? "an invalid reference, never resolved"
                                                        : "not in the image store");
    if (r < 0)
        return NULL;
    return move_ptr(b.data);
}

/* The summary of what the plan does once it happens. */
static char *plan_summary_now(const Plan *p)
{
    _cleanup_(strbuf_done) StrBuf b = {0};
    size_t k = 0;
    int r;

    if (p->pod_action == PLAN_ACTION_REPLACE) {
        _cleanup_free_ char *why = reconcile_plan_pod_reason_text(p);

        return why ? strdup_printf("the whole pod is replaced (%s)", why) : NULL;
    }
    r = strbuf_append(&b, "", 0);
    if (r >= 0)
        r = summary_part(&b, p, PLAN_ACTION_REPLACE, false, "replaces");
    for (size_t i = 0; r >= 0 && i < p->n_ctrs; i++)
        if (p->ctrs[i].reason == PLAN_REASON_DEPENDENCY)
            r = strbuf_printf(&b, "%s%s depends on %s", k++ ? ", " : " (", p->ctrs[i].name,
                              p->ctrs[i].cause ? p->ctrs[i].cause : "?");
    if (r >= 0 && k)
        r = strbuf_append(&b, ")", 1);
    if (r >= 0)
        r = summary_part(&b, p, PLAN_ACTION_CREATE, false, "creates");
    if (r >= 0)
        r = summary_part(&b, p, PLAN_ACTION_REMOVE, false, "removes");
    if (r >= 0)
        r = summary_part(&b, p, PLAN_ACTION_KEEP, true, "updates");
    if (r > 0)
        r = strbuf_append(&b, " (not started yet)", strlen(" (not started yet)"));
    if (r < 0)
        return NULL;
    return move_ptr(b.data);
}

char *reconcile_plan_summary(const Plan *p)
{
    _cleanup_free_ char *held = reconcile_plan_held_text(p);
    _cleanup_free_ char *now = plan_summary_now(p);

    if (!held || !now)
        return NULL;
    if (!held[0])
        return move_ptr(now);
    return strdup_printf("%s, then %s", held, now);
}
