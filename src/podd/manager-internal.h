/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared between manager.c (records, watcher, state, API views) and manager-pod.c (lifecycle). */

#include "graph/graph.h"
#include "image/image.h"
#include "manager.h"
#include "manifest/manifest.h"
#include "reconcile/reconcile.h"
#include "runtime/runtime.h"
#include "state/state.h"
#include "watch.h"

#define MANAGER_MAX_EVENTS 512
/* How long after an event the ring is written (every event meanwhile goes in the same write). */
#define EVENTS_SAVE_DELAY_USEC (1000 * 1000ull)
/* The journal of events is written whole again before it grows past this. */
#define EVENTS_JOURNAL_MAX_BYTES (1024 * 1024u)
/* How soon a failed write of the ring is tried again. */
#define EVENTS_SAVE_RETRY_USEC (5 * 1000000ull)
/* How often a container waiting for its image looks again. */
#define IMAGE_RETRY_USEC (2 * 1000000ull)
/* How soon a container the runtime could not remove yet is tried again. */
#define CLEANUP_RETRY_USEC (200 * 1000ull)
/* The longest a reconcile pass holds the loop before it lets other sources in. */
#define RECONCILE_BUDGET_USEC (20 * 1000ull)
/* After this long, a pass lets other sources in as soon as one is ready (an API request). */
#define RECONCILE_SLICE_USEC (2 * 1000ull)
/* How soon to look again at a container another podd-monitor is starting. */
#define START_PENDING_RETRY_USEC (50 * 1000ull)

/* How often the usage of disk emptyDir volumes with a sizeLimit is checked, as kubelet does. */
#define VOLUME_CHECK_USEC (1000 * 1000ull)
/* The most entries one check of one volume looks at: the loop is never held for long. */
#define VOLUME_CHECK_MAX_ENTRIES 20000

/* How soon a failed write of a pod's state is tried again: doubling up to the max. */
#define SAVE_RETRY_MIN_USEC (100 * 1000ull)
#define SAVE_RETRY_MAX_USEC (30 * 1000000ull)

typedef struct PodRec PodRec;
typedef struct Orphan Orphan;
typedef struct ImagePull ImagePull;
typedef struct CtrProbeRuns CtrProbeRuns;

/*
 * What podd knows of one container of a pod. Its lifecycle (state, goal,
 * counters, deadline) is the pure CtrLife of src/reconcile/, changed only
 * through ctr_step(); the rest is what the manager needs to carry out the
 * actions and to show the container.
 */
typedef struct Ctr {
    PodRec *pod;
    char *name;
    char *id;              /* the runtime's id */
    const Container *spec; /* into pod->pod; NULL once the pod left the desired set */
    char *spec_json;       /* compact JSON of the spec it runs with: a change replaces it */
    int64_t grace_seconds; /* of the version that runs */
    CtrLife life;
    char message[512]; /* the waiting message shown beside life.reason */
    char started_at[40];
    /* What its last start resolved spec->image to: status' image and imageID ("" before). */
    char image[IMAGE_NAME_SIZE];
    char image_id[2 * IMAGE_REFERENCE_NAME_MAX + 2 + IMAGE_DIGEST_SIZE];
    /* The pull it waits for in PULLING (manager-image.c; cleared when the pull ends), and the
     * error of its last failed pull, for ErrImagePull and ImagePullBackOff. */
    ImagePull *pull;
    char pull_error[384];
    bool has_last;
    ExitRecord last; /* the previous termination (Kubernetes' lastState) */
    bool has_term;
    ExitRecord term;                /* the termination of its last run */
    bool once_pending;              /* init-once: succeeded, its once record not written yet */
    char once_fp[CONTENT_HASH_MAX]; /* the spec that succeeded, while once_pending */
    /* REMOVING: its run ended while others waited; removed at the end of the pass. */
    bool remove_after_pass;
    /*
     * This podd removed or recycled its last run, and nothing started under
     * its id since: the runtime has nothing of it a start must take over.
     */
    bool runtime_clear;
    /* While an image lookup's event is fed: the image it found, for a start that follows. */
    ImageResolved *found_image;
    LoopSource *monitor;    /* pidfd of podd-monitor */
    LoopSource *starter;    /* pidfd of the starter while STARTING (container_start_begin) */
    uint64_t start_log_pos; /* where the run that is starting begins in its log */
    pid_t monitor_pid;
    /* Where its current run and the run before begin in its log (manager-logs.c). */
    bool has_log_run, has_log_prev;
    uint64_t log_run_start, log_prev_start;
    /* Its probes while it runs (manager-probe.c); NULL before the first run. */
    CtrProbeRuns *probes;
    /* The counts a previous podd saved, for the adoption of its run. */
    bool has_saved_probes;
    ProbeCounts saved_probes;
    /* Its preStop hook, kept from the version that runs (the spec may be gone when it stops). */
    LifecycleHandler pre_stop;
    /* Why the stop under way was made, for its Killing event (a failed probe); NULL: asked. */
    const char *kill_text;
    int64_t kill_grace_seconds;
} Ctr;

/* The pod conditions that have a lastTransitionTime. */
typedef enum PodCondition {
    POD_COND_SCHEDULED,
    POD_COND_INITIALIZED,
    POD_COND_CONTAINERS_READY,
    POD_COND_READY,
    _POD_COND_MAX,
} PodCondition;

/* One pod: its desired version and what runs. */
struct PodRec {
    Manager *m;
    char *name;
    char *namespace;
    const Pod *pod; /* the desired version (the watcher's); NULL when removed */
    char spec_hash[MANIFEST_WATCH_HASH_LEN];
    char running_hash[MANIFEST_WATCH_HASH_LEN]; /* the version whose containers run */
    json_t *level;    /* pod-level fields of the desired version (no containers) */
    char *level_text; /* level as ctr_version() hashes it (compact, sorted); NULL with level */
    char *source;     /* the manifest file it comes from; "api" for an applied one */
    bool from_api;    /* its desired version is an applied manifest (<state>/applied/) */
    Ctr *ctrs;
    size_t n_ctrs;
    Graph *graph;
    bool sandbox_up; /* the runtime made its sandbox (a resource, not a state) */
    PodLife life;    /* the lifecycle of the instance: changed only through pod_rec_feed() */
    PodPhase phase;
    /* The conditions at the last pass, and when each last changed ("": since its creation). */
    bool cond[_POD_COND_MAX];
    char cond_time[_POD_COND_MAX][40];
    char created_at[40];
    char deleting_at[40]; /* its deletionTimestamp, stamped when pod_step() says */
    bool has_manifest_error;
    PdError manifest_error;
    bool dirty;
    LoopSource *timer;
    char *runtime;            /* the backend this instance runs under; NULL until it starts */
    bool save_due;            /* its state file is behind: written at the end of the pass */
    uint64_t save_retry_at;   /* monotonic usec of the next try after a failed write; 0 none */
    uint64_t save_retry_usec; /* the delay after the next failure */
    /* content_hash() of what the last synced write recorded beyond bookkeeping; "" none yet */
    char synced_digest[CONTENT_HASH_MAX];
    uint64_t volume_check_at; /* monotonic usec of the next emptyDir usage check; 0 none */
    /* Why it was evicted (kubelet's message), while life.goal is POD_GOAL_EVICTED. */
    char evicted_message[256];
    ManifestWatchPin *pin; /* keeps pod (the watcher's object) valid while pr runs it */
    /*
     * Make before break: the watcher's version of the pod (in the applied
     * manifests when held_from_api) waits for its images (Plan.held), and pr
     * runs on with the version before it, pinned. PLAN_IMAGE_PRESENT: none
     * waits. pod_reconcile() tries again (manager_update_retry()) when
     * manager_image_added() marks it dirty, and every IMAGE_RETRY_USEC.
     */
    PlanImage held;
    bool held_from_api;
    char **held_images; /* what it waits for */
    char **held_ctrs;   /* the containers of pr it would replace */
    char *held_summary; /* the plan's summary, told once per change */
    /*
     * The pulls of held_images (parallel to it; NULL: none under way), shared
     * with the containers waiting for the same reference. A failed one is
     * tried again after the image pull back-off (held_pull_retry_at, monotonic
     * usec); held_pull_error is the registry's error, held_pull_failures how
     * many failed in a row. held_never: an image is missing whose container
     * says imagePullPolicy: Never (ErrImageNeverPull; it is not pulled).
     */
    ImagePull **held_pulls;
    char held_pull_error[384];
    unsigned held_pull_failures;
    uint64_t held_pull_retry_at;
    bool held_never;
    /* Its API view (pod_rec_to_json()) as compact JSON, as last rendered; NULL once
     * pod_rec_view_changed() said it may differ. Shared with the API's thread once published. */
    SharedText *view;
};

/* A backend of the manager: its operations and the context its init() made. */
typedef struct RuntimeBackend {
    const RuntimeOps *ops;
    void *ctx;
} RuntimeBackend;

typedef struct Incoming Incoming;

/* One event of the ring. */
typedef struct EventRec {
    uint64_t seq;
    char *pod;  /* its pod's name; NULL for a file's event */
    char *text; /* the event object as compact JSON */
} EventRec;

struct Manager {
    Loop *loop;
    ManagerConfig cfg;
    char *images_dir;
    /* podd-image-loader, beside podd-monitor: loads archives and pulls (podd does not link
     * libarchive or libcurl). */
    char *image_loader;
    StateStore *store;
    RuntimeBackend *backends; /* by name; the first is --runtime, the default */
    size_t n_backends;
    char *cgroup_parent; /* cgroup_resolve_parent(): containers go below it, nothing else is touched
                          */
    ManifestWatcher *watcher; /* the manifest directory */
    ManifestWatcher *applied; /* <state>/applied/: manifests applied through the API */
    char *applied_dir;
    LoopSource *reconcile;
    LoopSource *view_source; /* some view or the set of pods changed: cfg.view_changed */
    LoopSource *synced;      /* the state store's syncs ended */
    size_t reconcile_next;   /* where a pass cut short by its budget goes on */
    PodRec **pods;
    size_t n_pods;
    Orphan *orphans; /* what a previous podd ran and no manifest wants: being removed */
    bool ready;
    bool shutting_down;
    /* The ring of recent events, oldest at events_first, each kept as its compact JSON (a
     * jansson object of one costs some 1.5 KiB, its text about 250 bytes). */
    EventRec events[MANAGER_MAX_EVENTS];
    size_t events_first, n_events;
    uint64_t event_seq;       /* of the last event */
    LoopSource *events_timer; /* writes the ring to the state directory, for a burst at once */
    bool events_dirty;        /* the ring changed since it was written */
    /* The journal of them (state.h): what it holds, and whether a burst may be appended. */
    uint64_t journal_seq;
    size_t journal_lines, journal_bytes;
    bool journal_appendable;
    Incoming *incoming; /* the drop-in directory of image archives (manager-incoming.c) */
    ImagePull **pulls;  /* pulls under way, one per reference (manager-image.c) */
    size_t n_pulls;
    int home_netns_fd; /* podd's own network namespace, opened at the first probe that needs it */
};

/* manager.c */
/* The wall-clock time offset_usec from now, to the second, as Kubernetes writes it. */
void rfc3339_seconds(uint64_t offset_usec, char buf[40]);
PodRec *manager_find_pod(const Manager *m, const char *name);
/*
 * What a previous podd ran under this pod name is still being removed: a
 * pod of that name starts nothing until it is gone (its containers have the
 * same ids); the manager marks the pod dirty then.
 */
bool manager_orphan_pending(const Manager *m, const char *name);
/* Marks pr for the next reconcile pass; its API view is rendered again (pod_rec_view_changed()). */
void manager_mark_dirty(PodRec *pr);
/*
 * What pr's API view shows may have changed: get_pods renders it again. The
 * rule that keeps the kept view fresh: a loop callback that changes anything
 * of a pod calls this (or manager_mark_dirty()) before it returns. The
 * lifecycle feeds (container and pod events), pod_reconcile(), every probe
 * result and the desired-set events do, whatever they change.
 */
void pod_rec_view_changed(PodRec *pr);
void manager_event(Manager *m, const PodRec *pr, const char *container, const char *type,
                   const char *reason, const char *fmt, ...) _printf_(6, 7);
/* An event about a file and no pod (an image archive of the drop-in directory). Does not log. */
void manager_file_event(Manager *m, const char *file, const char *type, const char *reason,
                        const char *fmt, ...) _printf_(5, 6);
/*
 * Writes pr's state file when save_due says it changed; a failed write is
 * logged and tried again after a back-off (pod_reconcile() arms the timer
 * for save_retry_at). The write is synced to disk unless only bookkeeping
 * changed since the last synced one (restart counts, back-off step, last
 * termination, start time, log marks: what a crash loop changes on every
 * restart, and what a reboot makes moot). Returns 0 or -errno.
 */
int pod_rec_save(PodRec *pr);
void pod_rec_free(PodRec *pr);
void manager_drop_pod(Manager *m, PodRec *pr);
/*
 * A version of pr that waits for its images (pr->held): once every one is
 * present, it goes ahead as a new version does; else nothing happens.
 */
void manager_update_retry(PodRec *pr);
/* Where image (as a manifest names it) is: the planner's look at the store (userdata: Manager). */
PlanImage manager_plan_image(void *userdata, const char *image);
/* The backend called name; NULL when this podd does not have it. */
const RuntimeBackend *manager_backend(const Manager *m, const char *name);
/* The backend pr's desired version asks for: podd.io/runtime, else --runtime. */
const char *pod_wanted_runtime(const PodRec *pr);
/*
 * The backend pr runs under: the one recorded for its instance, else the
 * wanted one. NULL when this podd does not have it; pod_reconcile() starts
 * nothing then, so a pod with containers always has its backend.
 */
const RuntimeBackend *pod_rt(const PodRec *pr);

/* manager-pod.c */
/*
 * What a run of a container of pr with spec_json is started with, recorded
 * in its runtime records (ContainerConfig.version): a hash of pr's
 * pod-level fields and of spec_json.
 */
void pod_rec_set_level(PodRec *pr, json_t *level_take);
void ctr_version(const PodRec *pr, const char *spec_json, char out[static CONTENT_HASH_MAX]);
/* Frees what a container record owns (not the record itself). */
void ctr_free_fields(Ctr *c);
/*
 * The planner's view of what runs of pr: the records of its containers (not
 * those gone from the manifest and stopping), its pod-level fields, whether
 * it stops. Fills *ret with pointers into pr, valid until its records
 * change; returns the array *ret points to, which the caller frees, or
 * NULL on ENOMEM.
 */
PlanObservedCtr *pod_rec_observe(const PodRec *pr, PlanObserved *ret);
/*
 * Rebuilds the container records and graph of pr for its desired version
 * (pr->pod) as plan (made from pod_rec_observe() against pr->pod) says:
 * records of kept and replaced containers carry on, replaced ones are
 * marked to stop and start anew, removed ones stop and go; a whole-pod
 * replacement stops the pod to start it again. Moves plan->graph into pr.
 */
int pod_rec_apply_plan(PodRec *pr, Plan *plan, PdError *reterr);
/* Plans pr's desired version against its records and applies the plan (above). */
int pod_rec_load_spec(PodRec *pr, PdError *reterr);
/* Drives pr one step toward its goal; arms its timer for the next deadline. */
void pod_reconcile(PodRec *pr);
/*
 * After a daemon restart: takes over what the runtime still has of c's run
 * (a running monitor, an exit record), feeding ADOPTED or EXITED. started_mono
 * is when the run began (from the state file), 0 when unknown.
 */
void ctr_restore_run(Ctr *c, uint64_t started_mono);
/*
 * After a daemon restart, before ctr_restore_run(): the restart a previous
 * daemon decided at c's last exit, to begin at until_realtime (wall-clock
 * usec from the state file; 0 or past: at once), never later than c's
 * longest back-off from now, whatever the clock did meanwhile.
 */
void ctr_restore_restart(Ctr *c, uint64_t until_realtime);
/* Then, once ctr_restore_run() found nothing of c's run: what is left of that back-off. */
void ctr_resume_backoff(Ctr *c);
/*
 * Feeds pr's lifecycle an event (replace, remove, shutdown) and carries out
 * what pod_step() returns; a stop it begins is driven by the next pass.
 * Never drops pr: only pod_reconcile() does, once a removed pod stopped.
 */
void pod_rec_feed(PodRec *pr, PodEventType type);
/* True once nothing of pr runs anymore. */
bool pod_all_stopped(const PodRec *pr);

/*
 * Feeds c a probe's (or a hook's) event: STARTUP_PASSED, READY, UNREADY or
 * UNHEALTHY, carrying out what the step returns.
 */
void ctr_feed_probe(Ctr *c, const CtrEvent *ev);
/* Feeds c an image event (PULL_DONE, PULL_FAILED, IMAGE_ADDED), carrying out what the step returns.
 */
void ctr_feed_image_event(Ctr *c, CtrEventType type);

/* manager-probe.c */
/*
 * c's run began (adopted: found running after a restart of podd, with the
 * counts in c->saved_probes when has_saved_probes): its probes start, and
 * the effects that hold at once (started, ready without probes) are fed.
 * Nothing when they run already.
 */
void ctr_probes_start(Ctr *c, bool adopted);
/* c's run stops or ended: no probe runs anymore; runs in flight are cancelled. */
void ctr_probes_stop(Ctr *c);
/*
 * Runs c's postStart hook (from c->spec) or preStop hook (c->pre_stop):
 * exec inside the container, httpGet from the pod's network namespace
 * (podd's with hostNetwork; 2xx and 3xx succeed), or sleep. Feeds HOOK_DONE when it returned
 * (postStart: successfully), HOOK_FAILED when postStart failed, with the
 * events FailedPostStartHook and FailedPreStopHook.
 */
void ctr_hook_start(Ctr *c, bool pre_stop);
/* Cancels a hook in flight (c's state moved on). */
void ctr_hook_cancel(Ctr *c);
/* c moved in memory. */
void ctr_probes_moved(Ctr *c);
/* Frees c's probe runs (with ctr_free_fields()). */
void ctr_probes_free(Ctr *c);
/* The counts to save for c's run; false when its probes do not run. */
bool ctr_probes_counts(const Ctr *c, ProbeCounts *ret);
/* c's probes, settings and last results by kind, for the API; NULL when it has none. */
json_t *ctr_probes_json(const Ctr *c);

/* manager-image.c */
/*
 * CTR_ACT_PULL_IMAGE: pulls c's image in a child process (registry.h), or
 * joins the pull of it under way; PULL_DONE (through manager_image_added())
 * or PULL_FAILED is fed when it ends. Never waits.
 */
void ctr_pull_image(Ctr *c);
/*
 * Pulls the images pr's waiting version (desired) lacks, by its containers'
 * imagePullPolicy: Never pulls nothing (held_never), a directory image is
 * never pulled, a failed pull is tried again after the image pull back-off.
 * The running version runs on; manager_image_added() resumes the update.
 */
void manager_update_pull(PodRec *pr, const Pod *desired);
/* What the pull c waits for says, for its Pulled event; "" when it ended otherwise. */
void ctr_pull_describe(const Ctr *c, char *buf, size_t size);
/* Ends every pull under way (their children are killed). */
void manager_pulls_free(Manager *m);

/* manager-logs.c */
/* The path of c's current log file (the one podd-monitor appends to); NULL without memory. */
char *ctr_log_path(const Ctr *c);
/* Where c's log ends now, as a logs offset: taken just before a run starts. */
uint64_t ctr_log_position(const Ctr *c);
/* A run of c starts at position (from ctr_log_position()): the current run becomes the previous. */
void ctr_log_mark_run(Ctr *c, uint64_t position);
/* The run positions in c's entry of state.json, and back. */
int ctr_log_marks_to_json(const Ctr *c, json_t *cj);
void ctr_log_marks_from_json(Ctr *c, const json_t *cj);
