/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <stdio.h>

#include "reconcile/reconcile.h"

/*
 * The planner over a corpus of edits: version 1 of a pod runs (each of its
 * containers started, unless a case says otherwise), version 2 arrives, and
 * the plan must be exactly the expected one, down to the words apply prints.
 */

/* ---- the pod every edit starts from ------------------------------------------------- */

#define HEAD "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"
/* api waits for db, web for api: a chain of two levels. */
#define DEPS                                                                                       \
    "  annotations:\n"                                                                             \
    "    podd.io/depends-on.api: db\n"                                                             \
    "    podd.io/depends-on.web: api\n"
#define CTR(name, image, cmd)                                                                      \
    "  - name: " name "\n    image: " image "\n    command: [sh, -c, '" cmd "']\n"
#define SIDECAR(name, image, cmd) CTR(name, image, cmd) "    restartPolicy: Always\n"
#define SETUP CTR("setup", "busybox:1", "true")
#define PROXY SIDECAR("proxy", "busybox:1", "sleep 9")
#define DB CTR("db", "busybox:1", "sleep 1")
#define API CTR("api", "busybox:1", "sleep 2")
#define WEB CTR("web", "busybox:1", "sleep 3")
#define SOLO CTR("solo", "busybox:1", "sleep 4")
#define SPEC(policy, inits, ctrs)                                                                  \
    "spec:\n  restartPolicy: " policy "\n  initContainers:\n" inits "  containers:\n" ctrs
#define V1 HEAD DEPS SPEC("Always", SETUP PROXY, DB API WEB SOLO)

typedef struct PlanCase {
    const char *name;
    const char *v2;          /* YAML, or JSON when json is set */
    bool json;               /* v2 is JSON */
    const char *not_started; /* containers of v1 that never started, space-separated */
    const char *replacing;   /* containers of v1 whose replacement is under way */
    bool stopping;           /* the instance of v1 is stopping */
    const char *pod;         /* "keep" or "replace Reason(detail)" */
    const char *ctrs;        /* "name=action Reason(cause)" for each entry, in order */
    const char *summary;     /* reconcile_plan_summary() */
    /* Make before break: images not in the store, and references never resolved. */
    const char *absent, *invalid;
    const char *held; /* "" when the plan is not held, else "Why: image image..." */
} PlanCase;

#define ALL_KEEP                                                                                   \
    "setup=keep Unchanged proxy=keep Unchanged db=keep Unchanged api=keep Unchanged "              \
    "web=keep Unchanged solo=keep Unchanged"
#define ALL_POD_REPLACED(setup, proxy)                                                             \
    "setup=replace " setup " proxy=replace " proxy " db=replace PodReplaced "                      \
    "api=replace PodReplaced web=replace PodReplaced solo=replace PodReplaced"

static const PlanCase plan_cases[] = {
    {
        .name = "unchanged",
        .v2 = V1,
        .pod = "keep",
        .ctrs = ALL_KEEP,
        .summary = "",
    },
    {
        .name = "unchanged but reformatted: flow style, quotes, other key order, comments",
        .v2 = "# the same pod, written differently\n"
              "kind: Pod\napiVersion: v1\n"
              "metadata: {annotations: {podd.io/depends-on.web: \"api\", "
              "podd.io/depends-on.api: 'db'}, name: p}\n"
              "spec:\n"
              "  containers:\n"
              "  - {command: [sh, -c, 'sleep 1'], image: 'busybox:1', name: db}\n"
              "  - {name: api, image: \"busybox:1\", command: [\"sh\", \"-c\", \"sleep 2\"]}\n"
              "  - name: web   # unchanged\n"
              "    command:\n    - sh\n    - -c\n    - sleep 3\n"
              "    image: busybox:1\n"
              "  - {name: solo, image: busybox:1, command: [sh, -c, sleep 4]}\n"
              "  initContainers:\n"
              "  - {name: setup, image: busybox:1, command: [sh, -c, \"true\"]}\n"
              "  - {name: proxy, image: busybox:1, command: [sh, -c, sleep 9], "
              "restartPolicy: Always}\n"
              "  restartPolicy: \"Always\"\n",
        .pod = "keep",
        .ctrs = ALL_KEEP,
        .summary = "",
    },
    {
        .name = "unchanged, as JSON",
        .v2 = "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"p\", "
              "\"annotations\": {\"podd.io/depends-on.api\": \"db\", "
              "\"podd.io/depends-on.web\": \"api\"}}, \"spec\": {\"restartPolicy\": \"Always\", "
              "\"initContainers\": ["
              "{\"name\": \"setup\", \"image\": \"busybox:1\", \"command\": [\"sh\", \"-c\", "
              "\"true\"]}, "
              "{\"name\": \"proxy\", \"image\": \"busybox:1\", \"command\": [\"sh\", \"-c\", "
              "\"sleep 9\"], \"restartPolicy\": \"Always\"}], \"containers\": ["
              "{\"name\": \"db\", \"image\": \"busybox:1\", \"command\": [\"sh\", \"-c\", "
              "\"sleep 1\"]}, "
              "{\"name\": \"api\", \"image\": \"busybox:1\", \"command\": [\"sh\", \"-c\", "
              "\"sleep 2\"]}, "
              "{\"name\": \"web\", \"image\": \"busybox:1\", \"command\": [\"sh\", \"-c\", "
              "\"sleep 3\"]}, "
              "{\"name\": \"solo\", \"image\": \"busybox:1\", \"command\": [\"sh\", \"-c\", "
              "\"sleep 4\"]}]}}",
        .json = true,
        .pod = "keep",
        .ctrs = ALL_KEEP,
        .summary = "",
    },
    {
        .name = "image of a regular container nothing depends on",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, DB API WEB CTR("solo", "busybox:2", "sleep 4")),
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=keep Unchanged api=keep Unchanged "
                "web=keep Unchanged solo=replace SpecChanged",
        .summary = "replaces container solo",
    },
    {
        .name = "image of an init container",
        .v2 = HEAD DEPS SPEC("Always", CTR("setup", "busybox:2", "true") PROXY, DB API WEB SOLO),
        .pod = "replace InitChanged(setup)",
        .ctrs = ALL_POD_REPLACED("SpecChanged", "PodReplaced"),
        .summary = "the whole pod is replaced (init container setup changed)",
    },
    {
        .name = "image of a sidecar",
        .v2 = HEAD DEPS SPEC("Always", SETUP SIDECAR("proxy", "busybox:2", "sleep 9"),
                             DB API WEB SOLO),
        .pod = "replace SidecarChanged(proxy)",
        .ctrs = ALL_POD_REPLACED("PodReplaced", "SpecChanged"),
        .summary = "the whole pod is replaced (sidecar proxy changed)",
    },
    {
        .name = "image of the container a chain of two depends on",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, CTR("db", "busybox:2", "sleep 1") API WEB SOLO),
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=replace SpecChanged "
                "api=replace Dependency(db) web=replace Dependency(api) solo=keep Unchanged",
        .summary = "replaces containers db, api, web (api depends on db, web depends on api)",
    },
    {
        .name = "the middle of the chain",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, DB CTR("api", "busybox:2", "sleep 2") WEB SOLO),
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=keep Unchanged "
                "api=replace SpecChanged web=replace Dependency(api) solo=keep Unchanged",
        .summary = "replaces containers api, web (web depends on api)",
    },
    {
        .name = "a dependent that never started is not replaced, nor what waits for it",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, CTR("db", "busybox:2", "sleep 1") API WEB SOLO),
        .not_started = "api",
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=replace SpecChanged "
                "api=keep Unchanged web=keep Unchanged solo=keep Unchanged",
        .summary = "replaces container db",
    },
    {
        .name = "the last of the chain never started",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, CTR("db", "busybox:2", "sleep 1") API WEB SOLO),
        .not_started = "web",
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=replace SpecChanged "
                "api=replace Dependency(db) web=keep Unchanged solo=keep Unchanged",
        .summary = "replaces containers db, api (api depends on db)",
    },
    {
        .name = "a dependency and its dependent both changed",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY,
                             CTR("db", "busybox:2", "sleep 1") CTR("api", "busybox:2", "sleep 2")
                                 WEB SOLO),
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=replace SpecChanged "
                "api=replace SpecChanged web=replace Dependency(api) solo=keep Unchanged",
        .summary = "replaces containers db, api, web (web depends on api)",
    },
    {
        .name = "a changed container that never started starts with its new spec",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, DB API WEB CTR("solo", "busybox:2", "sleep 4")),
        .not_started = "solo",
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=keep Unchanged api=keep Unchanged "
                "web=keep Unchanged solo=keep NotStarted",
        .summary = "updates container solo (not started yet)",
    },
    {
        .name = "a changed init container that never started",
        .v2 = HEAD DEPS SPEC("Always", CTR("setup", "busybox:2", "true") PROXY, DB API WEB SOLO),
        .not_started = "setup proxy db api web solo",
        .pod = "keep",
        .ctrs = "setup=keep NotStarted proxy=keep Unchanged db=keep Unchanged api=keep Unchanged "
                "web=keep Unchanged solo=keep Unchanged",
        .summary = "updates container setup (not started yet)",
    },
    {
        .name = "pod-level field: restartPolicy",
        .v2 = HEAD DEPS SPEC("OnFailure", SETUP PROXY, DB API WEB SOLO),
        .pod = "replace PodLevel(restartPolicy)",
        .ctrs = ALL_POD_REPLACED("PodReplaced", "PodReplaced"),
        .summary = "the whole pod is replaced (pod-level field restartPolicy changed)",
    },
    {
        .name = "pod-level field: an annotation",
        .v2 = HEAD DEPS "    example.com/owner: ops\n" SPEC("Always", SETUP PROXY, DB API WEB SOLO),
        .pod = "replace PodLevel(annotations)",
        .ctrs = ALL_POD_REPLACED("PodReplaced", "PodReplaced"),
        .summary = "the whole pod is replaced (pod-level field annotations changed)",
    },
    {
        .name = "pod-level fields: two at once, with a container",
        .v2 = HEAD DEPS SPEC(
            "Never", SETUP PROXY,
            DB API WEB CTR("solo", "busybox:2", "sleep 4")) "  terminationGracePeriodSeconds: 5\n",
        .pod = "replace PodLevel(restartPolicy, terminationGracePeriodSeconds)",
        .ctrs = "setup=replace PodReplaced proxy=replace PodReplaced db=replace PodReplaced "
                "api=replace PodReplaced web=replace PodReplaced solo=replace SpecChanged",
        .summary = "the whole pod is replaced (pod-level fields restartPolicy, "
                   "terminationGracePeriodSeconds changed)",
    },
    {
        .name = "a dependency added",
        .v2 = HEAD DEPS
        "    podd.io/depends-on.solo: db\n" SPEC("Always", SETUP PROXY, DB API WEB SOLO),
        .pod = "replace PodLevel(annotations)",
        .ctrs = ALL_POD_REPLACED("PodReplaced", "PodReplaced"),
        .summary = "the whole pod is replaced (pod-level field annotations changed)",
    },
    {
        .name = "container added",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY,
                             DB API WEB SOLO CTR("extra", "busybox:1", "sleep 5")),
        .pod = "keep",
        .ctrs = ALL_KEEP " extra=create New",
        .summary = "creates container extra",
    },
    {
        .name = "container removed",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, DB API WEB),
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=keep Unchanged api=keep Unchanged "
                "web=keep Unchanged solo=remove Gone",
        .summary = "removes container solo",
    },
    {
        .name = "container renamed",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, DB API WEB CTR("lone", "busybox:1", "sleep 4")),
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=keep Unchanged api=keep Unchanged "
                "web=keep Unchanged lone=create New solo=remove Gone",
        .summary = "creates container lone; removes container solo",
    },
    {
        .name = "regular containers reordered",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, SOLO WEB API DB),
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged solo=keep Unchanged "
                "web=keep Unchanged api=keep Unchanged db=keep Unchanged",
        .summary = "",
    },
    {
        .name = "init containers reordered",
        .v2 = HEAD DEPS SPEC("Always", PROXY SETUP, DB API WEB SOLO),
        .pod = "replace InitSequence",
        .ctrs = "proxy=replace PodReplaced setup=replace PodReplaced db=replace PodReplaced "
                "api=replace PodReplaced web=replace PodReplaced solo=replace PodReplaced",
        .summary = "the whole pod is replaced (init containers added, removed or reordered)",
    },
    {
        .name = "init container added",
        .v2 =
            HEAD DEPS SPEC("Always", SETUP CTR("more", "busybox:1", "true") PROXY, DB API WEB SOLO),
        .pod = "replace InitSequence",
        .ctrs = "setup=replace PodReplaced more=create New proxy=replace PodReplaced "
                "db=replace PodReplaced api=replace PodReplaced web=replace PodReplaced "
                "solo=replace PodReplaced",
        .summary = "the whole pod is replaced (init containers added, removed or reordered)",
    },
    {
        .name = "init container removed before anything started",
        .v2 = HEAD DEPS SPEC("Always", PROXY, DB API WEB SOLO),
        .not_started = "setup proxy db api web solo",
        .pod = "keep",
        .ctrs = "proxy=keep Unchanged db=keep Unchanged api=keep Unchanged web=keep Unchanged "
                "solo=keep Unchanged setup=remove Gone",
        .summary = "removes container setup",
    },
    {
        .name = "a regular container becomes a sidecar",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY SIDECAR("solo", "busybox:1", "sleep 4"),
                             DB API WEB),
        .pod = "replace SidecarChanged(solo)",
        .ctrs = "setup=replace PodReplaced proxy=replace PodReplaced solo=replace SpecChanged "
                "db=replace PodReplaced api=replace PodReplaced web=replace PodReplaced",
        .summary = "the whole pod is replaced (sidecar solo changed)",
    },
    {
        .name = "a replacement under way counts as replaced",
        .v2 = V1,
        .replacing = "db",
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=replace Replacing "
                "api=replace Dependency(db) web=replace Dependency(api) solo=keep Unchanged",
        .summary = "replaces containers db, api, web (api depends on db, web depends on api)",
    },
    {
        .name = "the instance is stopping",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, DB API WEB CTR("solo", "busybox:2", "sleep 4")),
        .stopping = true,
        .pod = "replace Stopping",
        .ctrs = "setup=replace PodReplaced proxy=replace PodReplaced db=replace PodReplaced "
                "api=replace PodReplaced web=replace PodReplaced solo=replace SpecChanged",
        .summary = "the whole pod is replaced (the pod is stopping)",
    },
    /* ---- make before break: a replacement waits for its images ---- */
    {
        .name = "a regular container's new image is absent: the replacement waits",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, DB API WEB CTR("solo", "busybox:9", "sleep 4")),
        .absent = "busybox:9",
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=keep Unchanged api=keep Unchanged "
                "web=keep Unchanged solo=replace SpecChanged",
        .held = "ImageNotFound: busybox:9",
        .summary = "waits for image busybox:9 (not in the image store), then replaces container "
                   "solo",
    },
    {
        .name = "the head of a chain gets an absent image: its dependents wait with it",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, CTR("db", "busybox:9", "sleep 1") API WEB SOLO),
        .absent = "busybox:9",
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=replace SpecChanged "
                "api=replace Dependency(db) web=replace Dependency(api) solo=keep Unchanged",
        .held = "ImageNotFound: busybox:9",
        .summary = "waits for image busybox:9 (not in the image store), then replaces containers "
                   "db, api, web (api depends on db, web depends on api)",
    },
    {
        .name = "the same image name, gone from the store: a changed command waits for it",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, DB API WEB CTR("solo", "busybox:1", "sleep 5")),
        .absent = "busybox:1",
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=keep Unchanged api=keep Unchanged "
                "web=keep Unchanged solo=replace SpecChanged",
        .held = "ImageNotFound: busybox:1",
        .summary = "waits for image busybox:1 (not in the image store), then replaces container "
                   "solo",
    },
    {
        .name = "two replaced containers with absent images: both, in container order",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY,
                             CTR("db", "busybox:9", "sleep 1")
                                 API WEB CTR("solo", "busybox:8", "sleep 4")),
        .absent = "busybox:8 busybox:9",
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=replace SpecChanged "
                "api=replace Dependency(db) web=replace Dependency(api) solo=replace SpecChanged",
        .held = "ImageNotFound: busybox:9 busybox:8",
        .summary = "waits for images busybox:9, busybox:8 (not in the image store), then replaces "
                   "containers db, api, web, solo (api depends on db, web depends on api)",
    },
    {
        .name = "an init container's new image is absent: the whole pod waits",
        .v2 = HEAD DEPS SPEC("Always", CTR("setup", "busybox:9", "true") PROXY, DB API WEB SOLO),
        .absent = "busybox:9",
        .pod = "replace InitChanged(setup)",
        .ctrs = ALL_POD_REPLACED("SpecChanged", "PodReplaced"),
        .held = "ImageNotFound: busybox:9",
        .summary = "waits for image busybox:9 (not in the image store), then the whole pod is "
                   "replaced (init container setup changed)",
    },
    {
        .name = "a pod-level change while the pod's image is gone: the whole pod waits",
        .v2 = HEAD DEPS SPEC("OnFailure", SETUP PROXY, DB API WEB SOLO),
        .absent = "busybox:1",
        .pod = "replace PodLevel(restartPolicy)",
        .ctrs = ALL_POD_REPLACED("PodReplaced", "PodReplaced"),
        .held = "ImageNotFound: busybox:1",
        .summary = "waits for image busybox:1 (not in the image store), then the whole pod is "
                   "replaced (pod-level field restartPolicy changed)",
    },
    {
        .name = "a reference that can never be resolved: the replacement waits, visibly",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, DB API WEB CTR("solo", "busybox:9", "sleep 4")),
        .absent = "busybox:8",
        .invalid = "busybox:9",
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=keep Unchanged api=keep Unchanged "
                "web=keep Unchanged solo=replace SpecChanged",
        .held = "InvalidImageName: busybox:9",
        .summary = "waits for image busybox:9 (an invalid reference, never resolved), then "
                   "replaces container solo",
    },
    {
        .name = "an absent image, an invalid one: the worst says why",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY,
                             CTR("db", "busybox:8", "sleep 1")
                                 API WEB CTR("solo", "busybox:9", "sleep 4")),
        .absent = "busybox:8",
        .invalid = "busybox:9",
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=replace SpecChanged "
                "api=replace Dependency(db) web=replace Dependency(api) solo=replace SpecChanged",
        .held = "InvalidImageName: busybox:8 busybox:9",
        .summary = "waits for images busybox:8, busybox:9 (an invalid reference, never resolved), "
                   "then replaces containers db, api, web, solo (api depends on db, web depends "
                   "on api)",
    },
    {
        .name = "a created container's absent image holds nothing: it waits as a new one does",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, DB API WEB SOLO CTR("extra", "busybox:9", "x")),
        .absent = "busybox:9",
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=keep Unchanged api=keep Unchanged "
                "web=keep Unchanged solo=keep Unchanged extra=create New",
        .held = "",
        .summary = "creates container extra",
    },
    {
        .name = "a container that never started holds nothing: its new version waits instead",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, DB API WEB CTR("solo", "busybox:9", "sleep 4")),
        .absent = "busybox:9",
        .not_started = "solo",
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=keep Unchanged api=keep Unchanged "
                "web=keep Unchanged solo=keep NotStarted",
        .held = "",
        .summary = "updates container solo (not started yet)",
    },
    {
        .name = "a pod that never started holds nothing, whole-pod change or not",
        .v2 = HEAD DEPS SPEC("OnFailure", SETUP PROXY, DB API WEB CTR("solo", "busybox:9", "x")),
        .absent = "busybox:1 busybox:9",
        .not_started = "setup proxy db api web solo",
        .pod = "replace PodLevel(restartPolicy)",
        .ctrs = ALL_POD_REPLACED("PodReplaced", "PodReplaced"),
        .held = "",
        .summary = "the whole pod is replaced (pod-level field restartPolicy changed)",
    },
    {
        .name = "a stopping instance holds nothing: what comes next is a new instance",
        .v2 = HEAD DEPS SPEC("Always", SETUP PROXY, DB API WEB CTR("solo", "busybox:9", "sleep 4")),
        .absent = "busybox:9",
        .stopping = true,
        .pod = "replace Stopping",
        .ctrs = "setup=replace PodReplaced proxy=replace PodReplaced db=replace PodReplaced "
                "api=replace PodReplaced web=replace PodReplaced solo=replace SpecChanged",
        .held = "",
        .summary = "the whole pod is replaced (the pod is stopping)",
    },
    {
        .name = "a replacement under way holds nothing: it stops anyway",
        .v2 = V1,
        .absent = "busybox:1",
        .replacing = "solo",
        .pod = "keep",
        .ctrs = "setup=keep Unchanged proxy=keep Unchanged db=keep Unchanged api=keep Unchanged "
                "web=keep Unchanged solo=replace Replacing",
        .held = "",
        .summary = "replaces container solo",
    },
};

/* ---- helpers ------------------------------------------------------------------------- */

static ManifestFile *parse(const char *name, const char *text)
{
    ManifestFile *f = NULL;
    PdError e = {0};

    ck_assert_msg(manifest_parse_buffer(name, text, strlen(text), MANIFEST_FORMAT_AUTO, &f, &e) ==
                      0,
                  "%s: %s", name, e.message);
    ck_assert_uint_eq(f->n_docs, 1);
    ck_assert_msg(f->docs[0].pod, "%s is not a valid Pod: %s", name,
                  f->docs[0].diags.n ? f->docs[0].diags.items[0].message : "?");
    return f;
}

static bool in_list(const char *list, const char *name)
{
    size_t n = strlen(name);

    for (const char *s = list; s && (s = strstr(s, name)); s += n)
        if ((s == list || s[-1] == ' ') && (s[n] == ' ' || s[n] == 0))
            return true;
    return false;
}

/* What runs of v1: the planner's own spec strings, as the daemon keeps them in its records. */
typedef struct Running {
    Plan *v1;
    json_t *level;
    PlanObservedCtr ctrs[16];
    PlanObserved observed;
} Running;

/* The store of a case: every image is present but those it names absent or invalid. */
static PlanImage case_image_lookup(void *userdata, const char *image)
{
    const PlanCase *c = userdata;

    if (in_list(c->invalid, image))
        return PLAN_IMAGE_INVALID;
    return in_list(c->absent, image) ? PLAN_IMAGE_ABSENT : PLAN_IMAGE_PRESENT;
}

static void running_init(Running *r, const Pod *v1, const PlanCase *c)
{
    PlanObserved nothing = {0};
    _cleanup_json_ json_t *pj = pod_to_json(v1);

    ck_assert_int_eq(reconcile_plan(v1, &nothing, &r->v1, NULL), 0);
    ck_assert_uint_le(r->v1->n_ctrs, ELEMENTSOF(r->ctrs));
    for (size_t i = 0; i < r->v1->n_ctrs; i++) {
        const PlanCtr *e = &r->v1->ctrs[i];

        ck_assert_int_eq(e->action, PLAN_ACTION_CREATE);
        r->ctrs[i] = (PlanObservedCtr){
            .name = e->name,
            .kind = e->kind,
            .spec_json = e->spec_json,
            .started = !in_list(c->not_started, e->name),
            .replacing = in_list(c->replacing, e->name),
        };
    }
    r->level = reconcile_pod_level_json(pj);
    ck_assert_ptr_nonnull(r->level);
    r->observed = (PlanObserved){.level = r->level,
                                 .ctrs = r->ctrs,
                                 .n_ctrs = r->v1->n_ctrs,
                                 .stopping = c->stopping,
                                 .image_lookup = case_image_lookup,
                                 .image_userdata = (void *)c};
}

static void running_done(Running *r)
{
    reconcile_plan_free(r->v1);
    json_decref(r->level);
}

/* "keep" or "replace Reason(detail)". */
static char *pod_string(const Plan *p)
{
    if (p->pod_action == PLAN_ACTION_KEEP)
        return strdup_printf("%s", reconcile_plan_action_to_string(p->pod_action));
    return strdup_printf("%s %s%s%s%s", reconcile_plan_action_to_string(p->pod_action),
                         reconcile_plan_pod_reason_to_string(p->pod_reason),
                         p->pod_detail ? "(" : "", p->pod_detail ? p->pod_detail : "",
                         p->pod_detail ? ")" : "");
}

/* "name=action Reason(cause) ..." for every entry. */
static char *ctrs_string(const Plan *p)
{
    StrBuf b = {0};

    ck_assert_int_eq(strbuf_append(&b, "", 0), 0);
    for (size_t i = 0; i < p->n_ctrs; i++) {
        const PlanCtr *c = &p->ctrs[i];

        ck_assert_int_eq(strbuf_printf(&b, "%s%s=%s %s%s%s%s", i ? " " : "", c->name,
                                       reconcile_plan_action_to_string(c->action),
                                       reconcile_plan_reason_to_string(c->reason),
                                       c->cause ? "(" : "", c->cause ? c->cause : "",
                                       c->cause ? ")" : ""),
                         0);
    }
    return b.data;
}

/* "" or "Why: image image ...": what a held plan waits for. */
static char *held_string(const Plan *p)
{
    StrBuf b = {0};

    ck_assert_int_eq(strbuf_append(&b, "", 0), 0);
    if (p->held == PLAN_IMAGE_PRESENT) {
        ck_assert_ptr_null(p->held_images);
        return b.data;
    }
    ck_assert_int_eq(strbuf_printf(&b, "%s:", reconcile_plan_image_to_string(p->held)), 0);
    for (size_t i = 0; p->held_images && p->held_images[i]; i++)
        ck_assert_int_eq(strbuf_printf(&b, " %s", p->held_images[i]), 0);
    return b.data;
}

/* ---- the corpus ---------------------------------------------------------------------- */

START_TEST(test_plan_corpus)
{
    const PlanCase *c = &plan_cases[_i];
    _cleanup_(manifest_file_freep) ManifestFile *f1 = parse("v1.yaml", V1);
    _cleanup_(manifest_file_freep) ManifestFile *f2 = parse(c->json ? "v2.json" : "v2.yaml", c->v2);
    _cleanup_(reconcile_plan_freep) Plan *plan = NULL;
    _cleanup_free_ char *pod = NULL, *ctrs = NULL, *summary = NULL, *held = NULL;
    Running run = {0};
    PdError e = {0};

    running_init(&run, f1->docs[0].pod, c);
    ck_assert_msg(reconcile_plan(f2->docs[0].pod, &run.observed, &plan, &e) == 0, "%s: %s", c->name,
                  e.message);
    pod = pod_string(plan);
    ctrs = ctrs_string(plan);
    summary = reconcile_plan_summary(plan);
    ck_assert_msg(streq(pod, c->pod), "%s: pod is '%s', expected '%s'", c->name, pod, c->pod);
    ck_assert_msg(streq(ctrs, c->ctrs), "%s:\n  got      '%s'\n  expected '%s'", c->name, ctrs,
                  c->ctrs);
    ck_assert_msg(streq(summary, c->summary), "%s: summary '%s', expected '%s'", c->name, summary,
                  c->summary);
    /* Every case runs against a store; those that name no image have it all. */
    held = held_string(plan);
    ck_assert_msg(streq(held, c->held ? c->held : ""), "%s: held '%s', expected '%s'", c->name,
                  held, c->held ? c->held : "");
    /* The plan hands over the new version's graph, and one spec string per container. */
    ck_assert_ptr_nonnull(plan->graph);
    ck_assert_uint_eq(graph_node_count(plan->graph),
                      f2->docs[0].pod->n_init_containers + f2->docs[0].pod->n_containers);
    for (size_t i = 0; i < plan->n_ctrs; i++)
        ck_assert((plan->ctrs[i].spec_json != NULL) ==
                  (plan->ctrs[i].action != PLAN_ACTION_REMOVE));
    running_done(&run);
}
END_TEST

/* ---- the rest ------------------------------------------------------------------------ */

/* Nothing runs (no record of the pod): everything is created, nothing compared. */
START_TEST(test_nothing_runs)
{
    _cleanup_(manifest_file_freep) ManifestFile *f = parse("v1.yaml", V1);
    _cleanup_(reconcile_plan_freep) Plan *plan = NULL;
    _cleanup_free_ char *summary = NULL;
    PlanObserved nothing = {0};

    ck_assert_int_eq(reconcile_plan(f->docs[0].pod, &nothing, &plan, NULL), 0);
    ck_assert_int_eq(plan->pod_action, PLAN_ACTION_KEEP);
    ck_assert_int_eq(plan->pod_reason, PLAN_POD_REASON_NONE);
    ck_assert_uint_eq(plan->n_ctrs, 6);
    for (size_t i = 0; i < plan->n_ctrs; i++) {
        ck_assert_int_eq(plan->ctrs[i].action, PLAN_ACTION_CREATE);
        ck_assert_int_eq(plan->ctrs[i].reason, PLAN_REASON_NEW);
    }
    summary = reconcile_plan_summary(plan);
    ck_assert_str_eq(summary, "creates containers setup, proxy, db, api, web, solo");
}
END_TEST

/* A spec podd cannot know (NULL) never counts as a change. */
START_TEST(test_unknown_spec_is_no_change)
{
    _cleanup_(manifest_file_freep) ManifestFile *f = parse("v1.yaml", V1);
    _cleanup_(reconcile_plan_freep) Plan *plan = NULL;
    PlanObservedCtr seen[] = {
        {.name = "setup", .kind = CONTAINER_KIND_INIT, .started = true},
        {.name = "proxy", .kind = CONTAINER_KIND_SIDECAR, .started = true},
        {.name = "solo", .kind = CONTAINER_KIND_REGULAR, .started = true},
    };
    PlanObserved observed = {.ctrs = seen, .n_ctrs = ELEMENTSOF(seen)};
    _cleanup_free_ char *ctrs = NULL;

    ck_assert_int_eq(reconcile_plan(f->docs[0].pod, &observed, &plan, NULL), 0);
    ck_assert_int_eq(plan->pod_action, PLAN_ACTION_KEEP);
    ctrs = ctrs_string(plan);
    ck_assert_str_eq(ctrs, "setup=keep Unchanged proxy=keep Unchanged db=create New "
                           "api=create New web=create New solo=keep Unchanged");
    ck_assert_ptr_nonnull(reconcile_plan_find(plan, "solo"));
    ck_assert_ptr_null(reconcile_plan_find(plan, "nothere"));
    /* Without a look at the store, nothing waits for an image. */
    ck_assert_int_eq(plan->held, PLAN_IMAGE_PRESENT);
    ck_assert_ptr_null(plan->held_images);
}
END_TEST

START_TEST(test_reason_texts)
{
    static const struct {
        PlanReason reason;
        const char *cause, *text;
    } rows[] = {
        {PLAN_REASON_UNCHANGED, NULL, "unchanged"},
        {PLAN_REASON_NOT_STARTED, NULL, "its spec changed before it ever started"},
        {PLAN_REASON_NEW, NULL, "new in the manifest"},
        {PLAN_REASON_SPEC_CHANGED, NULL, "its spec changed"},
        {PLAN_REASON_DEPENDENCY, "db", "it depends on db, which is replaced"},
        {PLAN_REASON_REPLACING, NULL, "a replacement is under way"},
        {PLAN_REASON_POD_REPLACED, NULL, "the whole pod is replaced"},
        {PLAN_REASON_GONE, NULL, "gone from the manifest"},
    };
    static const struct {
        PlanPodReason reason;
        const char *detail, *text;
    } pod_rows[] = {
        {PLAN_POD_REASON_NONE, NULL, ""},
        {PLAN_POD_REASON_STOPPING, NULL, "the pod is stopping"},
        {PLAN_POD_REASON_POD_LEVEL, "hostname", "pod-level field hostname changed"},
        {PLAN_POD_REASON_POD_LEVEL, "labels, volumes", "pod-level fields labels, volumes changed"},
        {PLAN_POD_REASON_INIT_CHANGED, "setup", "init container setup changed"},
        {PLAN_POD_REASON_SIDECAR_CHANGED, "proxy", "sidecar proxy changed"},
        {PLAN_POD_REASON_INIT_SEQUENCE, NULL, "init containers added, removed or reordered"},
    };

    ck_assert_uint_eq(ELEMENTSOF(rows), _PLAN_REASON_MAX);
    for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
        PlanCtr c = {.name = (char *)"x", .reason = rows[i].reason, .cause = (char *)rows[i].cause};
        _cleanup_free_ char *text = reconcile_plan_ctr_reason_text(&c);

        ck_assert_str_eq(text, rows[i].text);
        ck_assert_ptr_nonnull(reconcile_plan_reason_to_string(rows[i].reason));
    }
    ck_assert_uint_eq(ELEMENTSOF(pod_rows), _PLAN_POD_REASON_MAX + 1);
    for (size_t i = 0; i < ELEMENTSOF(pod_rows); i++) {
        Plan p = {.pod_reason = pod_rows[i].reason, .pod_detail = (char *)pod_rows[i].detail};
        _cleanup_free_ char *text = reconcile_plan_pod_reason_text(&p);

        ck_assert_str_eq(text, pod_rows[i].text);
        ck_assert_ptr_nonnull(reconcile_plan_pod_reason_to_string(pod_rows[i].reason));
    }
    ck_assert_str_eq(reconcile_plan_image_to_string(PLAN_IMAGE_ABSENT), "ImageNotFound");
    ck_assert_str_eq(reconcile_plan_image_to_string(PLAN_IMAGE_INVALID), "InvalidImageName");
    ck_assert_ptr_null(reconcile_plan_image_to_string(_PLAN_IMAGE_MAX));
    ck_assert_str_eq(reconcile_plan_action_to_string(PLAN_ACTION_REMOVE), "remove");
    ck_assert_ptr_null(reconcile_plan_action_to_string(_PLAN_ACTION_MAX));
    ck_assert_ptr_null(reconcile_plan_reason_to_string(_PLAN_REASON_INVALID));
    ck_assert_ptr_null(reconcile_plan_pod_reason_to_string(_PLAN_POD_REASON_MAX));
}
END_TEST

static Suite *plan_suite(void)
{
    Suite *s = suite_create("plan");
    TCase *tc = tcase_create("plan");

    tcase_add_loop_test(tc, test_plan_corpus, 0, (int)ELEMENTSOF(plan_cases));
    tcase_add_test(tc, test_nothing_runs);
    tcase_add_test(tc, test_unknown_spec_is_no_change);
    tcase_add_test(tc, test_reason_texts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(plan_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
