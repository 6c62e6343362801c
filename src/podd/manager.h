/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * manager: the daemon's heart. It owns one record per pod: the desired
 * version (from the manifest watcher), what runs (container records fed by
 * monitor exits), and the pod's state machine. Handlers only record facts
 * and mark pods dirty; one deferred source reconciles the dirty pods:
 * start what the graph allows, restart under the restart policy with
 * backoff, apply the exit policy, stop in reverse graph order with grace
 * timers. Every change of a pod is written to the state store, and a new
 * daemon adopts the monitors and exit records a previous one left.
 */

#include "base/base.h"
#include "loop/loop.h"

typedef struct Manager Manager;

typedef struct ManagerConfig {
    const char *manifest_dir;
    const char *state_dir;
    const char *run_dir;
    const char *log_dir;
    const char *monitor_path; /* podd-monitor */
    const char *runtime;      /* the backend of pods without podd.io/runtime ("native") */
    /* The backends, NULL-terminated; NULL: runtime_table (tests hand in the fake one). */
    const struct RuntimeOps *const *runtimes;
    /* --cgroup-parent (see cgroup_resolve_parent()); NULL: podd/<escaped state dir> */
    const char *cgroup_parent;
    uint64_t rescan_interval_usec;
    /* Restart backoff defaults (a pod's podd.io/restart-backoff overrides them). */
    uint64_t backoff_initial_usec, backoff_max_usec, backoff_reset_usec;
    /* Pulls: the registries and credentials files (NULL: none), as podctl image pull reads them;
     * the image back-off after a failed pull (initial, doubling up to max). */
    const char *registries_path, *auth_path;
    uint64_t pull_backoff_initial_usec, pull_backoff_max_usec;
    /* Called after every reconcile pass (sd_notify STATUS=); may be NULL. */
    void (*after_pass)(Manager *m, void *userdata);
    /*
     * Called at the end of a loop iteration in which a pod's API view or the
     * set of pods changed, and by manager_view_flush() (the API publishes
     * manager_pods_view()); may be NULL.
     */
    void (*view_changed)(Manager *m, void *userdata);
    void *userdata;
} ManagerConfig;

/*
 * Opens the state store and the runtime, and starts watching the manifest
 * directory on loop. Nothing runs until manager_start(). Returns 0 or
 * -errno with reterr set. Logs nothing.
 */
int manager_new(Loop *loop, const ManagerConfig *cfg, Manager **ret, PdError *reterr);
Manager *manager_free(Manager *m);
DEFINE_CLEANUP_FUNC(Manager, manager_free)
/* The cgroup, relative to each hierarchy's root, under which this instance's containers go. */
const char *manager_cgroup_parent(Manager *m);

/*
 * The first pass: reads the manifest directory, adopts what a previous
 * daemon left running (monitors, exit records), removes what belongs to no
 * manifest, and schedules the first reconcile. Returns 0 or -errno.
 */
int manager_start(Manager *m);

/* The context of the manager's backend called name (for tests of the fake one); NULL. */
void *manager_runtime_ctx(const Manager *m, const char *name);

/* SIGHUP: re-read every manifest. */
void manager_rescan(Manager *m);

/*
 * Ends the daemon: with stop_pods, every pod is stopped in graph order
 * first, and the loop exits once all are down; otherwise the pods keep
 * running under their monitors and the loop exits at once.
 */
void manager_shutdown(Manager *m, bool stop_pods);

/* Pod counts for sd_notify STATUS=: all, running, pending, failed. */
void manager_counts(const Manager *m, unsigned *all, unsigned *running, unsigned *pending,
                    unsigned *failed);

/* True once the first reconcile pass has been issued (sd_notify READY=1). */
bool manager_is_ready(const Manager *m);

/* A Kubernetes v1 Pod object (with PodStatus) for name; NULL when unknown. New reference. */
json_t *manager_pod_to_json(const Manager *m, const char *name);
/*
 * Every pod as above, sorted by name, appended to out as a compact JSON array
 * (the API's get_pods). A pod's text is kept from one call to the next until
 * something it shows changes (see pod_rec_view_changed()). 0 or -ENOMEM, with
 * out then partly written.
 */
int manager_pods_append_json(const Manager *m, StrBuf *out);
/*
 * The same pods' texts, in the same order: *ret (an array the caller frees;
 * the texts are the manager's: take a reference to keep one) and *ret_n.
 * 0 or -ENOMEM.
 */
int manager_pods_view(const Manager *m, SharedText ***ret, size_t *ret_n);
/* Calls cfg.view_changed now when a view changed since it was last called. */
void manager_view_flush(Manager *m);
/* {"pod", "events", "errors"} for podctl describe; NULL when unknown. New reference. */
json_t *manager_describe_pod(const Manager *m, const char *name);
/*
 * Recent events (of one pod when name is not NULL) whose seq is larger than
 * after, oldest first. New reference; NULL on ENOMEM.
 */
json_t *manager_events_to_json(const Manager *m, const char *name, uint64_t after);
/*
 * The logs operation (see api.h): args is the request object ("container",
 * "previous", "tail", "sinceSeconds", "offset", all checked for type by the
 * API). Reads at most API_LOGS_MAX_BYTES of the pod's log files under the
 * log dir; never waits. Returns a new reference, or NULL with reterr set:
 * -ENOENT for an unknown pod or container or no previous run, -EINVAL when
 * the container must be named. Does not log.
 */
json_t *manager_logs(const Manager *m, const char *name, const json_t *args, PdError *reterr);

/* ---- the write side of the API (manager-apply.c) ----------------------------------- */

/*
 * Validates every Pod of manifests ([{"file", "text"}...]) and, unless
 * dry_run, stores them as applied manifests and takes them into the
 * desired set; all or nothing. Returns [{"name", "action", "file",
 * "replaced"?}...], or NULL with reterr: -EBADMSG (invalid, the first
 * error as file:line:col: path: message), -EEXIST (the name belongs to the
 * manifest directory), -EINVAL, -ENOMEM or a storage -errno.
 */
json_t *manager_apply(Manager *m, const json_t *manifests, bool dry_run, PdError *reterr);
/* Removes applied pods by name (all or nothing): -ENOENT unknown, -EEXIST a manifest file's. */
json_t *manager_delete_pods(Manager *m, const json_t *names, PdError *reterr);
/* Stops the pod and starts it again as a new instance: -ENOENT, -EEXIST while it stops. */
json_t *manager_restart_pod(Manager *m, const char *name, PdError *reterr);

/* ---- the image store (manager-image.c) ------------------------------------------------- */

/* <state-dir>/images. Owned by m. */
const char *manager_images_dir(const Manager *m);
/*
 * Creates the image store when missing and deletes what interrupted
 * imports and removals left. Returns the number of leftovers deleted, or
 * -errno. Does not log.
 */
int manager_images_prepare(Manager *m);
/*
 * Watches dir, the drop-in directory of image archives (created when
 * missing, with loaded/ below it), and loads what is there now and what
 * arrives later, each archive in a child process (manager-incoming.c).
 * Returns 0 or -errno. Logs what it loads.
 */
int manager_incoming_start(Manager *m, const char *dir);
void manager_incoming_free(Manager *m);
/*
 * [{"image": "NAME:TAG", "name", "tag", "usedBy": [pod...]}, ...] sorted,
 * where usedBy names the pods whose desired version or running containers
 * use the image. New reference, or NULL with reterr set.
 */
json_t *manager_images_to_json(const Manager *m, PdError *reterr);
/*
 * ref (a valid reference) arrived in the store (podctl image import, load
 * or pull, the drop-in directory, or a pull of podd's own): the one place
 * that tells the containers waiting for it. Those waiting for the image
 * look again now rather than at their next retry, those whose pull of it
 * runs go on to their start (PULL_DONE), those in the image back-off look
 * again at once (IMAGE_ADDED). Returns how many pods were marked.
 */
unsigned manager_image_added(Manager *m, const char *ref);
/*
 * Removes ref from the store unless a pod uses it: -EEXIST naming the pods,
 * -ENOENT when it does not exist, else image_remove()'s result.
 */
int manager_image_remove(Manager *m, const char *ref, PdError *reterr);
