/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * reconcile: from the Pod model to what must happen on the host: the
 * pod's dependency graph, and the plan from the version that runs to a
 * new one. Pure: no I/O, nothing here logs above debug.
 */

#include "graph/graph.h"
#include "manifest/manifest.h"
#include "probe/probe.h"

/* The graph's condition for a manifest condition; _GRAPH_CONDITION_INVALID when out of range. */
GraphCondition reconcile_graph_condition(DepCondition c);

/*
 * Builds and sorts the start graph of pod (borrowed). Nodes are the
 * containers, init containers first in their order, then regular ones,
 * each tagged with its ContainerKind. Edges, with Kubernetes semantics:
 *
 *   - each init container waits for the previous one: to complete when it
 *     is a plain init container, to start when it is a sidecar, to be
 *     ready when it is a sidecar with a startupProbe;
 *   - every regular container waits for the last init container under the
 *     same rule (which transitively covers all of them);
 *   - every podd.io/depends-on entry adds "container waits for on".
 *
 * Returns 0 with *ret set to a sorted graph the caller owns, or a negative
 * errno with reterr set and *ret untouched: -ELOOP for a cycle, spelled
 * out ("dependency cycle: a -> b -> a") and positioned at a depends-on
 * entry on the cycle; -ENOENT for a depends-on entry naming no container,
 * -EEXIST for a container name used twice, -E2BIG past GRAPH_MAX_NODES
 * (all positioned), -ENOMEM. Does not log.
 */
int reconcile_pod_graph(const Pod *pod, Graph **ret, PdError *reterr);

/* ---- the plan: what a new version of a pod changes ---------------------------- */

/* What happens to one container, or (KEEP or REPLACE only) to the whole pod. */
typedef enum PlanAction {
    PLAN_ACTION_KEEP,    /* it runs on (or waits on) untouched */
    PLAN_ACTION_CREATE,  /* new: it starts when its dependencies are met */
    PLAN_ACTION_REPLACE, /* it stops, then its new version starts from nothing */
    PLAN_ACTION_REMOVE,  /* it stops and is forgotten */
    _PLAN_ACTION_MAX,
    _PLAN_ACTION_INVALID = -EINVAL,
} PlanAction;

/* Why, for one container. */
typedef enum PlanReason {
    PLAN_REASON_UNCHANGED,    /* keep: its spec is the same */
    PLAN_REASON_NOT_STARTED,  /* keep: its spec changed, but it never started; it starts anew */
    PLAN_REASON_NEW,          /* create: not in the version that runs */
    PLAN_REASON_SPEC_CHANGED, /* replace: its own spec changed */
    PLAN_REASON_DEPENDENCY,   /* replace: it started and waits for a replaced container (cause) */
    PLAN_REASON_REPLACING,    /* replace: a replacement of it is under way already */
    PLAN_REASON_POD_REPLACED, /* replace: the whole pod is replaced */
    PLAN_REASON_GONE,         /* remove: gone from the new version */
    _PLAN_REASON_MAX,
    _PLAN_REASON_INVALID = -EINVAL,
} PlanReason;

/* Why the whole pod is replaced (a new pod instance: init containers run again). */
typedef enum PlanPodReason {
    PLAN_POD_REASON_NONE,            /* it is not */
    PLAN_POD_REASON_STOPPING,        /* the instance that runs is stopping already */
    PLAN_POD_REASON_POD_LEVEL,       /* pod-level fields changed (detail: their names) */
    PLAN_POD_REASON_INIT_CHANGED,    /* an init container that ran changed (detail: its name) */
    PLAN_POD_REASON_SIDECAR_CHANGED, /* a sidecar that ran changed (detail: its name) */
    PLAN_POD_REASON_INIT_SEQUENCE,   /* init containers added, removed or reordered */
    _PLAN_POD_REASON_MAX,
    _PLAN_POD_REASON_INVALID = -EINVAL,
} PlanPodReason;

/* "keep", "create", "replace", "remove"; NULL out of range. */
const char *reconcile_plan_action_to_string(PlanAction a);
/* "Unchanged", "NotStarted", "New", "SpecChanged", "Dependency", "Replacing", "PodReplaced",
 * "Gone". */
const char *reconcile_plan_reason_to_string(PlanReason r);
/* "", "Stopping", "PodLevel", "InitChanged", "SidecarChanged", "InitSequence". */
const char *reconcile_plan_pod_reason_to_string(PlanPodReason r);

/*
 * Whether an image a new version names can run now: make before break waits
 * for it before anything of the running version stops.
 */
typedef enum PlanImage {
    PLAN_IMAGE_PRESENT, /* in the image store (or a root filesystem directory) */
    PLAN_IMAGE_ABSENT,  /* not there (yet): a load, an import or a pull brings it */
    PLAN_IMAGE_INVALID, /* a reference that can never be resolved (InvalidImageName) */
    _PLAN_IMAGE_MAX,
    _PLAN_IMAGE_INVALID = -EINVAL,
} PlanImage;

/* "Present", "ImageNotFound", "InvalidImageName"; NULL out of range. */
const char *reconcile_plan_image_to_string(PlanImage i);

/* Looks an image (as a manifest names it) up; the planner's only window on the store. */
typedef PlanImage (*PlanImageLookup)(void *userdata, const char *image);

/* One container of what runs, as the planner sees it. Every pointer is borrowed. */
typedef struct PlanObservedCtr {
    const char *name;
    ContainerKind kind;
    /* The spec it runs with, as reconcile_plan() writes PlanCtr.spec_json; NULL: unknown
     * (never counts as a change). */
    const char *spec_json;
    bool started;   /* it started in this pod instance */
    bool replacing; /* a replacement of it is under way: it counts as replaced */
} PlanObservedCtr;

/*
 * What runs: filled by the daemon from its records, by `podctl apply
 * --dry-run` from the same records. Everything is borrowed; the caller
 * keeps it alive during reconcile_plan().
 */
typedef struct PlanObserved {
    /* reconcile_pod_level_json() of the version that runs; NULL when none does (not compared). */
    const json_t *level;
    const PlanObservedCtr *ctrs; /* init containers first, in their order; then the others */
    size_t n_ctrs;
    bool stopping; /* the pod instance is stopping: what comes next is a new instance */
    /* Where the new version's images are; NULL: every image is present (nothing waits). */
    PlanImageLookup image_lookup;
    void *image_userdata;
} PlanObserved;

/* The verdict for one container. */
typedef struct PlanCtr {
    char *name;         /* owned by the plan */
    ContainerKind kind; /* of the new version; of the old one for a removed container */
    PlanAction action;
    PlanReason reason;
    char *cause;     /* PLAN_REASON_DEPENDENCY: the replaced container it waits for; else NULL */
    char *spec_json; /* desired containers: compact key-sorted JSON of its spec; NULL if removed */
    /* Its new version's image, looked up when the plan replaces it (PRESENT otherwise). */
    PlanImage image;
} PlanCtr;

typedef struct Plan {
    Graph *graph;          /* the new version's start graph, owned (move it out to keep it) */
    PlanAction pod_action; /* PLAN_ACTION_KEEP or PLAN_ACTION_REPLACE */
    PlanPodReason pod_reason;
    char *pod_detail; /* the fields ("restartPolicy, annotations") or the container; or NULL */
    /* The new version's containers in POD_FOREACH_CONTAINER order, then the removed ones in the
     * order of observed. With pod_action REPLACE every container still in the new version is
     * replaced (its own reason when it has one, else PLAN_REASON_POD_REPLACED). */
    PlanCtr *ctrs;
    size_t n_ctrs;
    /*
     * Make before break: the replacement waits. Nothing of the plan happens
     * (the running version stays as it is) until every image in held_images
     * is present; held says why (ABSENT, or INVALID when one can never be).
     * PLAN_IMAGE_PRESENT: nothing waits, the plan happens now.
     */
    PlanImage held;
    char **held_images; /* strv, in container order, each once; NULL when not held */
} Plan;

Plan *reconcile_plan_free(Plan *p);
DEFINE_CLEANUP_FUNC(Plan, reconcile_plan_free)

/*
 * The pod-level fields of pod_to_json() output spec (borrowed): all but the
 * container lists and the dependencies (they come from the annotations,
 * which are compared as a map, so reordering them changes nothing). A
 * change there replaces the whole pod. New reference, NULL on ENOMEM.
 */
json_t *reconcile_pod_level_json(const json_t *spec);

/*
 * Plans the way from observed (borrowed) to desired (borrowed, a valid
 * Pod). The rules:
 *
 *   - a container of both whose spec changed is replaced if it started,
 *     else kept (it starts with its new spec); one new is created, one gone
 *     is removed;
 *   - the whole pod is replaced when the instance is stopping, when a
 *     pod-level field changed, when an init container or a sidecar that
 *     started is replaced, or when init containers were added, removed or
 *     reordered after any container started;
 *   - otherwise every container that started and waits, directly or not,
 *     for a replaced one (graph edges of desired) is replaced too;
 *   - make before break: when something that started would stop (a
 *     replaced container, or any of a replaced pod) and an image the
 *     replacement needs is not present (observed->image_lookup: the images
 *     of the replaced containers; of every container for a whole pod), the
 *     plan is held (Plan.held): nothing happens until they are all there.
 *     A pod that stops already, containers created and containers that never
 *     started do not wait: they wait for their image as a new pod does.
 *
 * Returns 0 with *ret set to a plan the caller owns (reconcile_plan_free()),
 * or a negative errno with reterr set: what reconcile_pod_graph() returns
 * for desired, -ENOMEM. Does not log.
 */
int reconcile_plan(const Pod *desired, const PlanObserved *observed, Plan **ret, PdError *reterr);

/* The entry for a container, or NULL. */
const PlanCtr *reconcile_plan_find(const Plan *p, const char *name);

/*
 * For humans (apply's answers, events). Each returns a new string the
 * caller frees, or NULL on ENOMEM:
 *
 *   reconcile_plan_pod_reason_text(): "pod-level field restartPolicy changed",
 *     "init container setup changed", ...; "" when the pod is kept;
 *   reconcile_plan_ctr_reason_text(): "its spec changed", "it depends on db,
 *     which is replaced", "gone from the manifest", ...;
 *   reconcile_plan_summary(): one line, "" when nothing happens:
 *     "the whole pod is replaced (pod-level field restartPolicy changed)", or
 *     parts joined by "; ": "replaces containers db, web (web depends on db)",
 *     "creates container x", "removes container y", "updates container z
 *     (not started yet)". A held plan begins with what it waits for: "waits
 *     for image app:2 (not in the image store), then replaces container app".
 *   reconcile_plan_held_text(): that beginning alone ("waits for image app:2
 *     (not in the image store)"); "" when the plan is not held.
 */
char *reconcile_plan_pod_reason_text(const Plan *p);
char *reconcile_plan_ctr_reason_text(const PlanCtr *c);
char *reconcile_plan_summary(const Plan *p);
char *reconcile_plan_held_text(const Plan *p);

/* ---- probes: when each runs, and what its results mean ----------------------------- */

/*
 * The bookkeeping of one container's probes, with the kubelet's semantics.
 * Pure: time is an argument (absolute CLOCK_MONOTONIC usec), nothing is
 * run here. The caller runs a probe when reconcile_probe_due() says so
 * (reconcile_probe_begin() first), feeds its result to
 * reconcile_probe_result(), and acts on the effects it returns.
 *
 *   - Each probe first runs initialDelaySeconds after the container
 *     started, then every periodSeconds counted from the start of the
 *     previous run (never two runs at once: a run that outlasts the period
 *     is followed at once by the next); a run is cut at timeoutSeconds,
 *     which counts as a failure.
 *   - Results count in a row: a success resets the failures, a failure
 *     the successes.
 *   - The startup probe holds the other two back until it succeeds once;
 *     then it never runs again and the others start (at once, or when
 *     their initial delay ends, if later). failureThreshold failures: kill.
 *   - Liveness: failureThreshold failures in a row: kill.
 *   - Readiness: ready starts false; successThreshold successes in a row
 *     make the container ready, failureThreshold failures in a row make it
 *     unready again. Without a readiness probe it is ready once started.
 *   - After a kill nothing runs until reconcile_probes_init() for the next
 *     start of the container; a container being killed is not ready.
 */

typedef enum ProbeKind {
    PROBE_KIND_STARTUP,
    PROBE_KIND_LIVENESS,
    PROBE_KIND_READINESS,
    _PROBE_KIND_MAX,
    _PROBE_KIND_INVALID = -EINVAL,
} ProbeKind;

/* "startup", "liveness", "readiness"; NULL out of range. */
const char *reconcile_probe_kind_to_string(ProbeKind k);
ProbeKind reconcile_probe_kind_from_string(const char *s);
/* The container's probe of that kind (borrowed from c); NULL out of range. */
const Probe *reconcile_probe_spec(const Container *c, ProbeKind k);

/* What a result means; reconcile_probe_result() returns an OR of these. */
typedef enum ProbeEffect {
    PROBE_EFFECT_UNHEALTHY =
        1 << 0,                    /* a failure: an Unhealthy event (reconcile_probe_event_text) */
    PROBE_EFFECT_STARTED = 1 << 1, /* the startup probe succeeded: `started` */
    PROBE_EFFECT_READY = 1 << 2,   /* the container became ready */
    PROBE_EFFECT_UNREADY = 1 << 3, /* the container is ready no more */
    PROBE_EFFECT_KILL = 1 << 4,    /* liveness or startup failed for good: kill, then restart
                                    * under the restart policy (reconcile_probe_kill_text) */
} ProbeEffect;

/* One probe of one container. */
typedef struct ProbeTrack {
    bool configured;
    /* Settings, copied from the manifest (usec). */
    uint64_t initial_delay, period, timeout;
    uint32_t success_threshold, failure_threshold;
    int64_t grace_seconds; /* probe-level terminationGracePeriodSeconds; -1 when unset */
    /* In a row; at most one of them is not 0. */
    uint32_t successes, failures;
    uint64_t due; /* absolute; UINT64_MAX: not due (held back, running, done) */
    bool running; /* a run is in flight, begun at run_started */
    uint64_t run_started;
    /* The last result (_PROBE_RESULT_INVALID before the first) and its excerpt, one line. */
    ProbeResult last;
    char excerpt[PROBE_EXCERPT_MAX];
} ProbeTrack;

typedef struct CtrProbes {
    ProbeTrack track[_PROBE_KIND_MAX];
    uint64_t started_at; /* when the container's process started */
    bool started;        /* the startup probe succeeded, or there is none */
    bool ready;
    bool killed; /* a probe failed for good: nothing more runs */
} CtrProbes;

/* What survives a restart of podd, per container (saved with its state). */
typedef struct ProbeCounts {
    uint32_t successes[_PROBE_KIND_MAX], failures[_PROBE_KIND_MAX];
    bool started, ready;
} ProbeCounts;

/*
 * Starts the bookkeeping for a container c (borrowed during the call only:
 * settings are copied) whose process started at started_at. Returns the
 * effects that hold from the start: PROBE_EFFECT_STARTED without a startup
 * probe, and PROBE_EFFECT_READY too without a readiness probe either.
 */
unsigned reconcile_probes_init(CtrProbes *p, const Container *c, uint64_t started_at);

/*
 * The same after a restart of podd, for an adopted container: the counts,
 * `started` and `ready` resume from saved (NULL: none saved, as init), and
 * every probe that runs is first due one period after now (or at the end of
 * its initial delay, if later): never in the past, so the gap while podd
 * was down neither counts as a failure nor fires a burst of runs. Returns
 * the effects that hold, as reconcile_probes_init() does (READY when
 * ready).
 */
unsigned reconcile_probes_adopt(CtrProbes *p, const Container *c, uint64_t started_at,
                                const ProbeCounts *saved, uint64_t now);
/* What reconcile_probes_adopt() takes back. */
void reconcile_probes_save(const CtrProbes *p, ProbeCounts *ret);

/* When the probe of kind k is due next (absolute); UINT64_MAX: not (none, held back, running). */
uint64_t reconcile_probe_due(const CtrProbes *p, ProbeKind k);
/* The earliest of them, and its kind in *ret_kind (may be NULL); UINT64_MAX when none is due. */
uint64_t reconcile_probes_next_due(const CtrProbes *p, ProbeKind *ret_kind);

/*
 * A run of the probe of kind k starts at now (it was due): it is not due
 * again until its result comes. Cut it at now + p->track[k].timeout.
 * Returns 0, or -EBUSY when it is not configured, held back, killed or
 * running already.
 */
int reconcile_probe_begin(CtrProbes *p, ProbeKind k, uint64_t now);

/*
 * The run of kind k begun earlier ended at now with r; excerpt (borrowed,
 * may be NULL) is what it said (a status line, an error, output), kept as
 * one line of at most PROBE_EXCERPT_MAX - 1 bytes. Returns the effects, an
 * OR of ProbeEffect (0: nothing changed), or -EINVAL for a result of no run
 * begun (ignored: a late result after a kill or a new start).
 */
int reconcile_probe_result(CtrProbes *p, ProbeKind k, ProbeResult r, const char *excerpt,
                           uint64_t now);

/*
 * The message of the Unhealthy event for the last failure of kind k, as
 * the kubelet's with the count: "Liveness probe failed (2/3): HTTP/1.1 500
 * Internal Server Error", "Readiness probe failed (1/3): timed out after
 * 1s". Writes at most size bytes (NUL included); returns what snprintf()
 * returns.
 */
int reconcile_probe_event_text(const CtrProbes *p, ProbeKind k, char *buf, size_t size);

/* The Killing event's words after "Container NAME ": "failed liveness probe, will be restarted". */
const char *reconcile_probe_kill_text(ProbeKind k);
/* ---- the container lifecycle (reconcile-lifecycle.c) ---------------------------------- */

/*
 * One container of a pod instance is in exactly one of these states. The
 * manager never sets a state itself: it feeds events to ctr_step() and
 * carries out the actions it returns.
 */
typedef enum CtrState {
    CTR_STATE_WAITING,         /* for its dependencies (or a start after a crash) */
    CTR_STATE_WAITING_IMAGE,   /* dependencies met, its image is not there: looks again */
    CTR_STATE_WAITING_RUNTIME, /* the pod names a runtime this podd lacks: runs nothing */
    CTR_STATE_PULLING,         /* dependencies met, its image is being pulled; the start follows */
    CTR_STATE_PULL_BACKOFF,    /* the pull failed: pulls again at the deadline (image back-off) */
    CTR_STATE_STARTING,        /* a start is under way (or another monitor is at it) */
    CTR_STATE_RUNNING,
    CTR_STATE_STOPPING,   /* SIGTERM sent; SIGKILL at the deadline */
    CTR_STATE_KILLING,    /* SIGKILL sent; the exit is coming */
    CTR_STATE_REMOVING,   /* exited; the runtime removes its cgroup, mounts and files */
    CTR_STATE_BACKOFF,    /* removed; restarts at the deadline */
    CTR_STATE_TERMINATED, /* for good in this pod instance: no restart will come */
    _CTR_STATE_MAX,
    _CTR_STATE_INVALID = -EINVAL,
} CtrState;

const char *ctr_state_to_string(CtrState s);
CtrState ctr_state_from_string(const char *s);

/*
 * Where the container is meant to go, beside where it is (s6's "want up"):
 * it only says what follows once a stop is complete.
 */
typedef enum CtrGoal {
    CTR_GOAL_RUN,     /* run under its restart policy */
    CTR_GOAL_REPLACE, /* its spec changed: stop, then start the new version afresh */
    CTR_GOAL_STOP,    /* the pod stops: stop and stay terminated */
    CTR_GOAL_REMOVE,  /* gone from the manifest: stop, then forget the record */
    _CTR_GOAL_MAX,
    _CTR_GOAL_INVALID = -EINVAL,
} CtrGoal;

/*
 * Waiting and termination reasons, rendered to the Kubernetes strings by
 * ctr_reason_to_string() and nowhere else in podd.
 */
typedef enum CtrReason {
    CTR_REASON_NONE,
    CTR_REASON_POD_INITIALIZING,
    CTR_REASON_CONTAINER_CREATING,
    CTR_REASON_CRASH_LOOP_BACK_OFF,
    CTR_REASON_IMAGE_NOT_FOUND,
    CTR_REASON_RUNTIME_NOT_AVAILABLE,
    CTR_REASON_COMPLETED,
    CTR_REASON_ERROR,
    CTR_REASON_OOM_KILLED,
    CTR_REASON_START_ERROR,
    CTR_REASON_CREATE_CONTAINER_CONFIG_ERROR,
    CTR_REASON_MONITOR_LOST,
    CTR_REASON_DEPENDENCY_FAILED,    /* waiting for a dependency that can never be met */
    CTR_REASON_ERR_IMAGE_PULL,       /* the pull just failed */
    CTR_REASON_IMAGE_PULL_BACK_OFF,  /* the pull failed: waiting for the next one */
    CTR_REASON_ERR_IMAGE_NEVER_PULL, /* imagePullPolicy Never and the image is not there */
    _CTR_REASON_MAX,
    _CTR_REASON_INVALID = -EINVAL,
} CtrReason;

const char *ctr_reason_to_string(CtrReason r);
CtrReason ctr_reason_from_string(const char *s);
/* True for a reason a waiting container shows; false for a termination's (and NONE). */
bool ctr_reason_is_waiting(CtrReason r);

typedef enum CtrEventType {
    CTR_EV_DEPS_UNMET,      /* a dependency is not met (or no longer) */
    CTR_EV_DEPS_MET,        /* every dependency is met */
    CTR_EV_IMAGE_PRESENT,   /* the image looked up after CTR_ACT_FIND_IMAGE is there (.local) */
    CTR_EV_IMAGE_ABSENT,    /* ... is not */
    CTR_EV_PULL_DONE,       /* the pull of CTR_ACT_PULL_IMAGE recorded the image */
    CTR_EV_PULL_FAILED,     /* ... failed */
    CTR_EV_IMAGE_ADDED,     /* its image arrived in the store otherwise (a load, another pull) */
    CTR_EV_RUNTIME_ABSENT,  /* the pod's runtime is not available */
    CTR_EV_STARTED,         /* the start done: a new run began */
    CTR_EV_START_BUSY,      /* another podd-monitor is starting it: look again */
    CTR_EV_START_FAILED,    /* the start was tried and failed (.exit says how) */
    CTR_EV_ADOPTED,         /* found running under a monitor (.started_mono: its real start) */
    CTR_EV_EXITED,          /* its run ended (.exit); also an exit found after a daemon restart */
    CTR_EV_STOP,            /* the pod stops */
    CTR_EV_SPEC_CHANGED,    /* its spec changed: replace it */
    CTR_EV_DELETED,         /* gone from the manifest */
    CTR_EV_SIGNAL_FAILED,   /* SIGTERM could not be sent */
    CTR_EV_GRACE_EXPIRED,   /* STOPPING's deadline */
    CTR_EV_BACKOFF_EXPIRED, /* BACKOFF's deadline */
    CTR_EV_RETRY,           /* the deadline of WAITING_IMAGE, STARTING or REMOVING */
    CTR_EV_REMOVED,         /* the runtime removed what the run left */
    CTR_EV_REMOVE_BUSY,     /* ... not yet: its cgroup still drains */
    CTR_EV_DEPS_FAILED,     /* a dependency failed for good: it will never start */
    /*
     * Probe results (reconcile_probe_result()'s effects) and hooks, in
     * RUNNING only: STARTUP_PASSED and READY/UNREADY change `started` and
     * `ready`; UNHEALTHY (liveness or startup failed for good, or a failed
     * postStart hook) goes to STOPPING with the goal kept at RUN, under the
     * probe's own grace period when it has one, so that the restart policy
     * decides what follows.
     */
    CTR_EV_STARTUP_PASSED,
    CTR_EV_READY,
    CTR_EV_UNREADY,
    CTR_EV_UNHEALTHY,
    /*
     * Hooks (CTR_ACT_POST_START, CTR_ACT_PRE_STOP): HOOK_DONE when the
     * hook returned (postStart: successfully; preStop: either way, SIGTERM
     * follows), HOOK_FAILED when postStart failed (a stop, as UNHEALTHY).
     */
    CTR_EV_HOOK_DONE,
    CTR_EV_HOOK_FAILED,
    _CTR_EV_MAX,
    _CTR_EV_INVALID = -EINVAL,
} CtrEventType;

const char *ctr_event_type_to_string(CtrEventType t);

/* How a run ended. */
typedef struct CtrExit {
    int code;   /* 128 + signal for a signal death; -1 unknown */
    int signal; /* 0 when it exited */
    bool oom_killed;
    bool monitor_lost; /* the monitor ended without recording the exit */
    bool start_error;  /* it never ran: the runtime said StartError */
    bool config_error; /* it never ran: its configuration was refused (runAsNonRoot) */
} CtrExit;

typedef struct CtrEvent {
    CtrEventType type;
    CtrExit exit; /* CTR_EV_EXITED, CTR_EV_START_FAILED */
    /*
     * CTR_EV_ADOPTED: when the run began; 0 unknown (then now). CTR_EV_EXITED
     * of a run a previous daemon began: the same (0 unknown: a long run).
     */
    uint64_t started_mono;
    bool grace_set; /* CTR_EV_UNHEALTHY: grace_usec replaces the policy's */
    uint64_t grace_usec;
    /* CTR_EV_IMAGE_PRESENT: a plain root filesystem directory, which no registry has (never
     * pulled, whatever the pull policy says). */
    bool local;
} CtrEvent;

/* The restart back-off: the first restart is immediate, then initial doubling up to max. */
typedef struct CtrBackoff {
    uint64_t initial_usec, max_usec;
    uint64_t reset_usec; /* a run this long forgets the crash loop */
} CtrBackoff;

/* When the image is pulled: the container's imagePullPolicy, or NONE for a directory image. */
typedef enum CtrPull {
    CTR_PULL_NONE,           /* an absolute directory: nothing to pull; absent: ImageNotFound */
    CTR_PULL_ALWAYS,         /* at every start, present or not */
    CTR_PULL_IF_NOT_PRESENT, /* when absent */
    CTR_PULL_NEVER,          /* never; absent: ErrImageNeverPull */
} CtrPull;

/* What decides a container's course; the manager fills it from the pod, its spec and config. */
typedef struct CtrPolicy {
    RestartPolicy restart; /* effective: from ctr_restart_policy() */
    CtrBackoff backoff;
    uint64_t grace_usec;       /* SIGTERM to SIGKILL */
    uint64_t image_retry_usec; /* WAITING_IMAGE looks again after this */
    CtrPull pull;
    CtrBackoff pull_backoff; /* after a failed pull: initial, doubling up to max (reset unused) */
    uint64_t remove_retry_usec; /* REMOVING tries again after this */
    uint64_t start_retry_usec;  /* STARTING, another monitor at it: looks again after this */
    bool init_once;             /* podd.io/init-once: record its success, never run it again */
    bool post_start;            /* it has a postStart hook: run after each start */
    bool pre_stop;              /* it has a preStop hook: run before SIGTERM, in the grace period */
} CtrPolicy;

/* The lifecycle record of one container. Plain data: copy it, compare it. */
typedef struct CtrLife {
    CtrState state;
    CtrGoal goal;
    ContainerKind kind;
    CtrReason reason;       /* the waiting reason, or the last termination's */
    uint64_t deadline;      /* absolute monotonic usec of the state's timer; 0 none */
    unsigned restart_count; /* restarts done, as Kubernetes counts them */
    unsigned backoff_step;  /* restarts since the last reset; the first one is immediate */
    unsigned pull_failures; /* failed pulls in a row: the image back-off's step */
    bool started_once;      /* a run began in this pod instance (history, not a state) */
    bool succeeded_once;    /* a run exited 0 (the "completed" dependency condition) */
    uint64_t started_mono;  /* when the current or last run began */
    bool startup_passed;    /* this run passed its startup probe (or has none): `started` */
    bool ready;             /* this run is ready (readiness probe, or started without one) */
    /*
     * A hook runs: postStart in RUNNING (it meets no dependency, probes
     * wait), preStop in STOPPING (SIGTERM waits for it).
     */
    bool hook_running;
    CtrExit last_exit; /* valid once a run ended */
    /*
     * The restart the last exit decided, from that exit until the next run
     * begins: its back-off step is counted and it may begin at restart_at
     * (CLOCK_MONOTONIC usec). Decided at the exit, so that the state saved
     * with the exit holds it and a removal that takes a while is part of
     * the wait, as the kubelet counts it from the container's end.
     */
    bool restart_decided;
    uint64_t restart_at;
} CtrLife;

/* What the manager must do after a step, in this order. */
typedef enum CtrAction {
    CTR_ACT_FIND_IMAGE = 1u << 0,  /* look up the image; feed IMAGE_PRESENT or IMAGE_ABSENT */
    CTR_ACT_START = 1u << 1,       /* start (or take over a twin); feed STARTED, START_BUSY, ... */
    CTR_ACT_SIGTERM = 1u << 2,     /* feed SIGNAL_FAILED when it cannot be sent */
    CTR_ACT_SIGKILL = 1u << 3,     /* the grace period is over */
    CTR_ACT_REMOVE = 1u << 4,      /* remove what the run left; feed REMOVED or REMOVE_BUSY */
    CTR_ACT_RECORD_ONCE = 1u << 5, /* an init-once container succeeded: record it for good */
    CTR_ACT_FRESH = 1u << 6,       /* a new version starts from nothing: drop old records */
    CTR_ACT_FORGET = 1u << 7,      /* gone from the manifest and stopped: drop the record */
    CTR_ACT_EVENT = 1u << 8,       /* tell the user: the new state's event (see the manager) */
    CTR_ACT_SAVE = 1u << 9,        /* the pod's state file changed */
    CTR_ACT_POST_START = 1u << 10, /* run its postStart hook; feed HOOK_DONE or HOOK_FAILED */
    CTR_ACT_PRE_STOP = 1u << 11,   /* run its preStop hook; feed HOOK_DONE when it returned */
    CTR_ACT_PULL_IMAGE = 1u << 12, /* pull its image (or join that pull); feed PULL_DONE/FAILED */
    /*
     * With CTR_ACT_REMOVE, for a run a restart follows: only the run's
     * records go (container_recycle); its directory and writable layer stay
     * for the next start, which replaces the layer. Should it be stopped,
     * deleted or replaced before that start, REMOVING with a full
     * CTR_ACT_REMOVE comes first.
     */
    CTR_ACT_KEEP_DIR = 1u << 13,
} CtrAction;

/* The effective restart policy of a container of kind with its pod's and own policy. */
RestartPolicy ctr_restart_policy(ContainerKind kind, RestartPolicy pod, bool own_set,
                                 RestartPolicy own);
/* True when a run that ended with code restarts under policy. */
bool ctr_restarts(RestartPolicy policy, int code);
/* The delay before restart number step + 1 since the last reset (step 0: at once). */
uint64_t ctr_backoff_delay(const CtrBackoff *b, unsigned step);
/* The image back-off after failures failed pulls in a row (>= 1): initial, doubling up to max. */
uint64_t ctr_pull_backoff_delay(const CtrBackoff *b, unsigned failures);
/* The termination reason of an exit. */
CtrReason ctr_exit_reason(const CtrExit *e);

/* A fresh record: WAITING with goal RUN. */
CtrLife ctr_life_new(ContainerKind kind);
/*
 * A record a previous daemon saved: counters, history and the last exit
 * (NULL: none) as given; TERMINATED when it had finished for good, else
 * WAITING (the manager then feeds ADOPTED or EXITED for what the runtime
 * still has of its run).
 */
CtrLife ctr_life_restore(ContainerKind kind, unsigned restart_count, unsigned backoff_step,
                         bool started_once, bool succeeded_once, bool finished,
                         const CtrExit *last_exit);
/*
 * The restart a previous daemon decided at the last exit (the record
 * restored as above), to begin at restart_at: an exit of that run still
 * recorded by the runtime (fed as EXITED next) does not count its step again.
 * Only a WAITING record of a container that ran changes.
 */
void ctr_life_restore_restart(CtrLife *l, uint64_t restart_at);
/*
 * Then, once the runtime's records are fed: a restart still to wait for (the
 * run gone) is BACKOFF with reason CrashLoopBackOff until restart_at, so that
 * a restart of podd does not restart a crash loop early. Returns true when
 * the record changed.
 */
bool ctr_life_resume_backoff(CtrLife *l, uint64_t now);
/* When the restart decided at the last exit may begin, while it is still to come; else 0. */
uint64_t ctr_life_pending_restart(const CtrLife *l);

/*
 * The transition function. Applies ev to *life (state, goal, reason,
 * counters, deadline) under policy at monotonic time now, and returns the
 * CtrAction bits the manager carries out. An event a state does not expect
 * changes nothing and returns 0. Pure: no I/O, no clock.
 */
unsigned ctr_step(CtrLife *life, const CtrEvent *ev, const CtrPolicy *policy, uint64_t now);
/* The event a state's deadline stands for; _CTR_EV_INVALID for a state without one. */
CtrEventType ctr_deadline_event(CtrState s);

/* Nothing runs and nothing is left to remove: the pod may go on when all are so. */
bool ctr_state_is_down(CtrState s);
/* A run is under way or ending (STARTING to KILLING): reverse-order stop waits for it. */
bool ctr_state_is_active(CtrState s);
/* Kubernetes shows it running. */
bool ctr_state_shows_running(CtrState s);
/*
 * It may meet a dependency's condition (graph semantics): "ready" while it
 * runs ready (or once it completed), "started" once it ran.
 */
bool ctr_condition_met(const CtrLife *on, GraphCondition cond);

/* ---- pods (reconcile-phase.c) --------------------------------------------------------- */

typedef enum PodPhase {
    POD_PHASE_PENDING,
    POD_PHASE_RUNNING,
    POD_PHASE_SUCCEEDED,
    POD_PHASE_FAILED,
    _POD_PHASE_MAX,
    _POD_PHASE_INVALID = -EINVAL,
} PodPhase;

const char *pod_phase_to_string(PodPhase p);
PodPhase pod_phase_from_string(const char *s);

/* The pod conditions podd shows. */
typedef struct PodConditions {
    bool scheduled, initialized, containers_ready, ready;
} PodConditions;

/*
 * Whether c finished for good: TERMINATED, or waiting with DependencyFailed
 * (it never starts: a dependency failed for good).
 */
bool ctr_finished_for_good(const CtrLife *c);

/*
 * The outcome of a pod from its containers' records (borrowed, n of them;
 * those with goal REMOVE no longer count): Failed once an init container
 * failed for good; Succeeded or Failed once every regular container
 * finished for good (ctr_finished_for_good()), by their last exits (one
 * with DependencyFailed never ran: Failed); Running once one of them
 * started; else Pending. The exit policy acts on it.
 */
PodPhase pod_compute_outcome(const CtrLife *const *ctrs, size_t n);
/*
 * The phase the pod shows: its outcome, except that under exit policy
 * continue a pod whose outcome is final stays Running while any of its
 * containers has not finished for good (a sidecar runs on, or restarts).
 */
PodPhase pod_compute_phase(const CtrLife *const *ctrs, size_t n, ExitPolicy policy);
/*
 * Initialized: every init container completed; ContainersReady: every
 * regular container runs and is ready (and there is a container); Ready:
 * that, and the pod is not terminating; PodScheduled: always (one host).
 */
PodConditions pod_compute_conditions(const CtrLife *const *ctrs, size_t n, bool terminating);

/* What the exit policy asks once the phase is final. */
typedef enum PodExitAction {
    POD_EXIT_NONE,     /* the phase is not final, or the policy ran already */
    POD_EXIT_CONTINUE, /* keep the sidecars */
    POD_EXIT_STOP,     /* stop the sidecars */
} PodExitAction;

/* outcome: pod_compute_outcome()'s. */
PodExitAction pod_exit_action(PodPhase outcome, ExitPolicy policy, bool done);

/* Finds a container's record by its graph node; NULL when it has none. */
typedef const CtrLife *(*CtrLookup)(void *userdata, size_t node);

/*
 * The first dependency of node (in g, borrowed) that is not met, as a node
 * index with its condition in *ret_cond, or -ENOENT when all are met.
 */
int reconcile_blocker(const Graph *g, size_t node, CtrLookup lookup, void *userdata,
                      GraphCondition *ret_cond);

/*
 * Whether on can never meet cond: it finished for good without meeting it,
 * or it waits with DependencyFailed itself.
 */
bool ctr_dependency_failed(const CtrLife *on, GraphCondition cond);

/*
 * The first dependency of node (in g, borrowed) that can never be met
 * (ctr_dependency_failed()), as a node index with its condition in
 * *ret_cond, or -ENOENT when there is none.
 */
int reconcile_failed_dependency(const Graph *g, size_t node, CtrLookup lookup, void *userdata,
                                GraphCondition *ret_cond);

/*
 * Reverse-order stop: the graph layer whose containers are told to stop
 * now (the last layer that still has an active one), or -ENOENT when no
 * container of the graph is active.
 */
int reconcile_stop_layer(const Graph *g, CtrLookup lookup, void *userdata);

/* ---- the pod lifecycle (reconcile-pod.c) ---------------------------------------------- */

/*
 * One pod instance is in exactly one of these states. The manager never
 * sets one itself: it feeds events to pod_step() and carries out the
 * actions it returns, as it does for containers with ctr_step().
 */
typedef enum PodState {
    POD_STATE_RUNNING,  /* containers start as their dependencies are met */
    POD_STATE_FINISHED, /* the phase was final and the exit policy kept the sidecars: it ran */
    POD_STATE_STOPPING, /* every container stops, in reverse order; the goal says what follows */
    POD_STATE_STOPPED,  /* nothing runs and the sandbox is gone, until a new version or restart */
    POD_STATE_GONE,     /* stopped for good and removed: the manager drops the record */
    _POD_STATE_MAX,
    _POD_STATE_INVALID = -EINVAL,
} PodState;

const char *pod_state_to_string(PodState s);
PodState pod_state_from_string(const char *s);

/* What follows a stop (meaningful in STOPPING and STOPPED; RUN otherwise). */
typedef enum PodGoal {
    POD_GOAL_RUN,
    POD_GOAL_STOP,     /* the exit policy stopped it: it stays stopped */
    POD_GOAL_RECREATE, /* a new instance starts: a pod-level change, a restart, a re-added manifest
                        */
    POD_GOAL_SHUTDOWN, /* podd stops: it stays stopped, and the next podd starts it anew */
    POD_GOAL_REMOVE,   /* its manifest is gone: the record goes once it stopped */
    POD_GOAL_EVICTED,  /* evicted (a volume outgrew its limit): it stays stopped, Failed, even
                        * across podd restarts, until a new version or a restart */
    _POD_GOAL_MAX,
    _POD_GOAL_INVALID = -EINVAL,
} PodGoal;

const char *pod_goal_to_string(PodGoal g);

typedef enum PodEventType {
    POD_EV_PHASE,    /* the phase was computed (.phase): a final one runs the exit policy */
    POD_EV_REPLACE,  /* a new instance is wanted: whole-pod change, restart, re-added manifest */
    POD_EV_REMOVE,   /* its manifest is gone */
    POD_EV_SHUTDOWN, /* podd stops every pod */
    POD_EV_ALL_DOWN, /* STOPPING: no container runs any more, nothing is left to remove */
    POD_EV_EVICT,    /* a resource limit was passed (RUNNING, FINISHED): stop it, for good */
    _POD_EV_MAX,
    _POD_EV_INVALID = -EINVAL,
} PodEventType;

const char *pod_event_type_to_string(PodEventType t);

typedef struct PodEvent {
    PodEventType type;
    PodPhase phase; /* POD_EV_PHASE */
} PodEvent;

/* What decides a pod's course; the manager fills it from the pod and its own state. */
typedef struct PodPolicy {
    ExitPolicy exit_policy;
    bool shutting_down; /* podd is stopping: nothing starts again */
} PodPolicy;

/* The lifecycle record of one pod. Plain data: copy it, compare it. */
typedef struct PodLife {
    PodState state;
    PodGoal goal;
} PodLife;

/* What the manager must do after a step, in this order. */
typedef enum PodAction {
    POD_ACT_STAMP_DELETION = 1u << 0,  /* the deletion began now: its deletionTimestamp */
    POD_ACT_STOP = 1u << 1,            /* begin stopping every container (reverse order) */
    POD_ACT_DESTROY_SANDBOX = 1u << 2, /* every container is down: remove the pod's sandbox */
    POD_ACT_RESET = 1u << 3,           /* forget every container: a new instance begins */
    POD_ACT_FORGET = 1u << 4,          /* drop the pod's record and state */
    POD_ACT_EXIT_CONTINUE = 1u << 5,   /* tell: the exit policy keeps the sidecars */
    POD_ACT_EXIT_STOP = 1u << 6,       /* tell: the exit policy stops the sidecars */
    POD_ACT_SAVE = 1u << 7,            /* the pod's state file changed */
} PodAction;

/* A fresh instance: RUNNING with goal RUN. */
PodLife pod_life_new(void);
/*
 * The record a previous daemon saved, of an instance that was not stopped
 * by its shutdown: FINISHED when its exit policy ran and its sandbox is up,
 * STOPPED (by the policy) when it ran and the sandbox is gone, else RUNNING.
 */
PodLife pod_life_restore(bool exit_policy_done, bool sandbox);
/*
 * The record of an instance a previous daemon evicted (its state file's
 * "evicted"): STOPPING with goal EVICTED, so that whatever of it still runs
 * stops, and it then stays STOPPED.
 */
PodLife pod_life_restore_evicted(void);

/*
 * The transition function. Applies ev to *life under policy and returns
 * the PodAction bits the manager carries out. An event a state does not
 * expect changes nothing and returns 0. Pure: no I/O, no clock.
 */
unsigned pod_step(PodLife *life, const PodEvent *ev, const PodPolicy *policy);

/* Its containers stop or are stopped (STOPPING, STOPPED, GONE): the pod is not Ready. */
bool pod_state_is_terminating(PodState s);
/* What the state file's "exitPolicyDone" says: the policy ran for this instance. */
bool pod_life_exit_policy_done(const PodLife *life);
/* What its "stopped" says: podd's shutdown stopped it, so the next podd starts a new instance. */
bool pod_life_stopped_by_shutdown(const PodLife *life);
/* What its "evicted" says: the instance was evicted (its phase is Failed, reason Evicted). */
bool pod_life_evicted(const PodLife *life);
