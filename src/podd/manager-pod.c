/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "image/image.h"
#include "manager-internal.h"

/*
 * Wiring of the pure lifecycle (src/reconcile/) to the runtime, the state
 * store and the events. Every container changes state only in ctr_feed(),
 * which runs ctr_step() and carries out the actions it returns; what the
 * runtime answers goes back in as the next event. pod_reconcile() gathers
 * the facts the machine needs (deadlines, dependencies, the stop order)
 * and feeds them; deadlines arm the pod's single timer, which only marks
 * the pod dirty again.
 */

static Ctr *pod_ctr(PodRec *pr, const char *name)
{
    /* While pod_rec_apply_plan() rebuilds the array, moved entries have no name. */
    for (size_t i = 0; i < pr->n_ctrs; i++)
        if (pr->ctrs[i].name && pr->ctrs[i].life.goal != CTR_GOAL_REMOVE &&
            streq(pr->ctrs[i].name, name))
            return &pr->ctrs[i];
    return NULL;
}

/* The once records' key of a container's spec: the content hash the manifests use too. */
static void spec_fingerprint(const char *s, char buf[static CONTENT_HASH_MAX])
{
    content_hash(s, strlen(s), buf);
}

/*
 * The key once records had before they used content_hash(): a 64-bit
 * FNV-1a. Still read, so that an init-once container that ran under an
 * older podd never runs a second time after an upgrade.
 */
static void legacy_spec_fingerprint(const char *s, char buf[17])
{
    uint64_t h = 1469598103934665603ull;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    (void)snprintf(buf, 17, "%016llx", (unsigned long long)h);
}

/* pr's pod-level fields become level (taken), with the text ctr_version() hashes of them. */
void pod_rec_set_level(PodRec *pr, json_t *level_take)
{
    json_decref(pr->level);
    free(pr->level_text);
    pr->level = level_take;
    /* Once per version instead of once per start; a failure here is retried there. */
    pr->level_text = level_take ? json_dumps(level_take, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

void ctr_version(const PodRec *pr, const char *spec_json, char out[static CONTENT_HASH_MAX])
{
    _cleanup_free_ char *dumped =
        pr->level && !pr->level_text ? json_dumps(pr->level, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    const char *level = pr->level_text ? pr->level_text : dumped;
    Sha256 s;

    sha256_init(&s);
    if (level)
        sha256_update(&s, level, strlen(level));
    sha256_update(&s, "\n", 1);
    if (spec_json)
        sha256_update(&s, spec_json, strlen(spec_json));
    sha256_final_hex(&s, out);
}

/* ---- the machine's inputs ---------------------------------------------------------------- */

/* When c's image is pulled: its imagePullPolicy; never for a directory image. */
static CtrPull ctr_pull_policy(const Container *spec)
{
    if (!spec || !spec->image || spec->image[0] == '/')
        return CTR_PULL_NONE;
    switch (spec->image_pull_policy) {
    case IMAGE_PULL_POLICY_ALWAYS:
        return CTR_PULL_ALWAYS;
    case IMAGE_PULL_POLICY_NEVER:
        return CTR_PULL_NEVER;
    default:
        return CTR_PULL_IF_NOT_PRESENT;
    }
}

static CtrPolicy ctr_policy(const Ctr *c)
{
    const Manager *m = c->pod->m;
    const Pod *pod = c->pod->pod;
    const RestartBackoff *b = pod ? &pod->backoff : NULL;
    CtrPolicy p = {
        /* A pod leaving the desired set restarts nothing: it is being stopped. */
        .restart = RESTART_POLICY_NEVER,
        .backoff = {m->cfg.backoff_initial_usec, m->cfg.backoff_max_usec,
                    m->cfg.backoff_reset_usec},
        .grace_usec = (uint64_t)(c->grace_seconds > 0 ? c->grace_seconds : 0) * 1000000ull,
        .image_retry_usec = IMAGE_RETRY_USEC,
        .pull = ctr_pull_policy(c->spec),
        .pull_backoff = {m->cfg.pull_backoff_initial_usec, m->cfg.pull_backoff_max_usec, 0},
        .remove_retry_usec = CLEANUP_RETRY_USEC,
        .start_retry_usec = START_PENDING_RETRY_USEC,
        .init_once = c->spec && c->spec->init_once,
        .post_start = c->spec && lifecycle_handler_is_set(&c->spec->post_start),
        .pre_stop = lifecycle_handler_is_set(&c->pre_stop),
    };

    if (pod && c->spec)
        p.restart = ctr_restart_policy(c->life.kind, pod->restart_policy,
                                       c->spec->restart_policy_set, c->spec->restart_policy);
    if (b && b->set)
        p.backoff = (CtrBackoff){b->initial_usec, b->max_usec, b->reset_usec};
    return p;
}

/* ---- building the records from a version ----------------------------------------- */

void ctr_free_fields(Ctr *c)
{
    free(c->name);
    free(c->id);
    free(c->spec_json);
    c->monitor = loop_source_unref(c->monitor);
    c->starter = loop_source_unref(c->starter);
    ctr_probes_free(c);
    lifecycle_handler_done(&c->pre_stop);
}

/* The preStop hook of the version that starts (or is adopted) is the one its stop runs. */
static void ctr_keep_pre_stop(Ctr *c)
{
    const LifecycleHandler *h = c->spec ? &c->spec->pre_stop : NULL;

    lifecycle_handler_done(&c->pre_stop);
    if (h && lifecycle_handler_copy(h, &c->pre_stop) < 0)
        log_error("pod=%s/%s container=%s: out of memory for its preStop hook; continuing",
                  c->pod->namespace, c->pod->name, c->name);
}

/* c moved in memory: its sources call back with the new address. */
static void ctr_moved(Ctr *c)
{
    if (c->monitor)
        (void)loop_source_set_userdata(c->monitor, c);
    if (c->starter)
        (void)loop_source_set_userdata(c->starter, c);
    ctr_probes_moved(c);
}

static void ctr_feed(Ctr *c, CtrEventType type);

PlanObservedCtr *pod_rec_observe(const PodRec *pr, PlanObserved *ret)
{
    PlanObservedCtr *seen = calloc(pr->n_ctrs + 1, sizeof(PlanObservedCtr));
    size_t n = 0;

    if (!seen)
        return NULL;
    for (size_t i = 0; i < pr->n_ctrs; i++) {
        const Ctr *c = &pr->ctrs[i];

        /* Gone from the manifest already: it stops whatever comes. */
        if (c->life.goal == CTR_GOAL_REMOVE || !c->name)
            continue;
        seen[n++] =
            (PlanObservedCtr){.name = c->name,
                              .kind = c->life.kind,
                              .spec_json = c->spec_json,
                              /* A start under way runs the old spec already. */
                              .started = c->life.started_once || ctr_state_is_active(c->life.state),
                              .replacing = c->life.goal == CTR_GOAL_REPLACE};
    }
    *ret = (PlanObserved){.level = pr->level,
                          .ctrs = seen,
                          .n_ctrs = n,
                          .stopping = pod_state_is_terminating(pr->life.state) || !pr->pod,
                          /* Make before break: a replacement waits for its images. */
                          .image_lookup = manager_plan_image,
                          .image_userdata = pr->m};
    return seen;
}

int pod_rec_apply_plan(PodRec *pr, Plan *plan, PdError *reterr)
{
    _cleanup_free_ bool *replace = NULL;
    const Pod *pod = pr->pod;
    size_t total = pod->n_init_containers + pod->n_containers, n = 0, n_new;
    Ctr *nc;
    int r = 0;

    assert(plan->n_ctrs >= total);
    nc = calloc(total + pr->n_ctrs + 1, sizeof(Ctr));
    replace = calloc(total + 1, sizeof(bool));
    if (!nc || !replace) {
        free(nc);
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    }
    POD_FOREACH_CONTAINER (pod, spec, i) {
        const PlanCtr *e = &plan->ctrs[i]; /* the plan lists the new version in this order */
        Ctr *old = pod_ctr(pr, spec->name), *c = &nc[n];

        if (old) {
            *c = *old;
            old->name = NULL; /* moved */
            old->id = NULL;
            old->spec_json = NULL;
            old->monitor = NULL;
            old->starter = NULL;
            old->probes = NULL;
            old->pre_stop = (LifecycleHandler){0};
            ctr_moved(c);
            replace[n] = e->action == PLAN_ACTION_REPLACE;
            free(c->spec_json);
        } else {
            *c = (Ctr){.life = ctr_life_new(spec->kind),
                       .name = strdup(spec->name),
                       .id = runtime_container_id(pod, spec)};
        }
        n++;
        c->pod = pr;
        c->spec = spec;
        c->spec_json = strdup(e->spec_json);
        if (!c->name || !c->id || !c->spec_json)
            r = -ENOMEM;
    }
    n_new = n;
    /* Containers gone from the new version (and those still going) stop and go. */
    for (size_t i = 0; i < pr->n_ctrs; i++)
        if (pr->ctrs[i].name) {
            nc[n] = pr->ctrs[i];
            nc[n].spec = NULL;
            ctr_moved(&nc[n]);
            n++;
        }
    /* Sized for the worst case, and a Ctr is 4 KiB: keep what is used (100 pods: 400 KiB). */
    if (n > 0 && n < total + pr->n_ctrs + 1) {
        Ctr *fit = reallocarray(nc, n, sizeof(Ctr));

        if (fit && fit != nc)
            for (size_t i = 0; i < n; i++)
                ctr_moved(&fit[i]);
        if (fit)
            nc = fit;
    }
    free(pr->ctrs);
    pr->ctrs = nc;
    pr->n_ctrs = n;
    graph_free(pr->graph);
    pr->graph = move_ptr(plan->graph);
    if (r < 0)
        return pd_error_set(reterr, r, "out of memory");
    pr->save_due = true;
    for (size_t i = n_new; i < pr->n_ctrs; i++)
        ctr_feed(&pr->ctrs[i], CTR_EV_DELETED);
    if (plan->pod_action == PLAN_ACTION_REPLACE) {
        /* Also when it stops because its manifest was removed: it is back, so it runs again. */
        pod_rec_feed(pr, POD_EV_REPLACE);
        return 0;
    }
    for (size_t i = 0; i < n_new; i++)
        if (replace[i])
            ctr_feed(&pr->ctrs[i], CTR_EV_SPEC_CHANGED);
    return 0;
}

int pod_rec_load_spec(PodRec *pr, PdError *reterr)
{
    _cleanup_(reconcile_plan_freep) Plan *plan = NULL;
    _cleanup_free_ PlanObservedCtr *seen = NULL;
    PlanObserved observed;
    int r;

    seen = pod_rec_observe(pr, &observed);
    if (!seen)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    /* A new pod or instance: nothing runs that could wait, and the plan happens now. */
    observed.image_lookup = NULL;
    r = reconcile_plan(pr->pod, &observed, &plan, reterr);
    if (r < 0)
        return r;
    return pod_rec_apply_plan(pr, plan, reterr);
}

/* ---- images ------------------------------------------------------------------------ */

/*
 * What CTR_ACT_FIND_IMAGE finds of the container's image in the store (see
 * image_store_resolve()): IMAGE_PRESENT, with .local for a plain root
 * filesystem directory (podctl image import: no registry has it, so it is
 * never pulled), or IMAGE_ABSENT.
 */
static CtrEvent image_lookup(const Manager *m, const char *image, ImageResolved *ret)
{
    if (!image || image_store_resolve(m->images_dir, image, ret, NULL) < 0)
        return (CtrEvent){.type = CTR_EV_IMAGE_ABSENT};
    return (CtrEvent){.type = CTR_EV_IMAGE_PRESENT, .local = !ret->digest[0]};
}

/* ---- carrying out the actions ---------------------------------------------------------------- */

static void ctr_feed_ev(Ctr *c, const CtrEvent *ev);

static void ctr_feed(Ctr *c, CtrEventType type)
{
    ctr_feed_ev(c, &(CtrEvent){.type = type});
}

/* Kubernetes writes status times to the second: "...:05.123456789Z" -> "...:05Z". */
static void timestamp_to_seconds(char *ts)
{
    char *dot = strchr(ts, '.');

    if (dot && strchr(dot, 'Z')) {
        dot[0] = 'Z';
        dot[1] = 0;
    }
}

static int on_monitor_exit(LoopSource *s, int pidfd, pid_t pid, void *userdata);

/* Watches c's monitor through pidfd, which the watch takes (closed here when it fails). */
static bool ctr_watch(Ctr *c, int pidfd, pid_t pid)
{
    int r = loop_take_child_pidfd(c->pod->m->loop, &c->monitor, pidfd, pid, on_monitor_exit, c);

    if (r < 0) {
        (void)close(pidfd);
        log_warning_errno(r, "pod=%s/%s container=%s: cannot watch its monitor; continuing",
                          c->pod->namespace, c->pod->name, c->name);
        return false;
    }
    c->monitor_pid = pid;
    return true;
}

/* Watches an adopted, still running monitor; false when it is gone. */
static bool ctr_watch_adopted(Ctr *c, pid_t monitor_pid)
{
    LoopSource *s = NULL;

    /* loop_add_child opens its own pidfd; the runtime checked the start time just before. */
    if (loop_add_child(c->pod->m->loop, &s, monitor_pid, on_monitor_exit, c) < 0)
        return false;
    c->monitor = s;
    c->monitor_pid = monitor_pid;
    c->grace_seconds = c->pod->pod ? c->pod->pod->termination_grace_period_seconds : 30;
    ctr_keep_pre_stop(c);
    return true;
}

/* Whether the runtime recorded the end of id's run, into cs->exit. */
static bool ctr_recorded_exit(const RuntimeBackend *rt, const char *id, ContainerStatus *cs)
{
    if (!rt)
        return false;
    /* Only the record is wanted here: the backend's cheaper way to it, when it has one. */
    if (rt->ops->container_exit)
        return rt->ops->container_exit(rt->ctx, id, &cs->exit) >= 0;
    return rt->ops->container_inspect(rt->ctx, id, cs, NULL) >= 0 &&
           cs->state == CONTAINER_STATE_EXITED;
}

/*
 * How c's run ended, from the runtime's exit record into c->term; when the
 * monitor left none (someone killed it), MonitorLost with an unknown code,
 * never 0.
 */
static CtrEvent ctr_read_exit(Ctr *c, CtrEventType type)
{
    const RuntimeBackend *rt = pod_rt(c->pod);
    ContainerStatus cs = {0};
    CtrEvent ev = {.type = type};

    if (ctr_recorded_exit(rt, c->id, &cs)) {
        c->term = cs.exit;
        ev.exit = (CtrExit){.code = cs.exit.exit_code,
                            .signal = cs.exit.signal,
                            .oom_killed = cs.exit.oom_killed,
                            .start_error = exit_record_is_start_error(&cs.exit),
                            .config_error = ctr_reason_from_string(cs.exit.reason) ==
                                            CTR_REASON_CREATE_CONTAINER_CONFIG_ERROR};
    } else {
        char monitor[32] = "";

        /* A monitor we started is watched through a pidfd alone: its pid, only when adopted. */
        if (c->monitor_pid > 0)
            (void)snprintf(monitor, sizeof(monitor), " %d", (int)c->monitor_pid);
        c->term = (ExitRecord){.exit_code = -1};
        (void)snprintf(c->term.message, sizeof(c->term.message),
                       "podd-monitor%s ended without recording the exit; the container was "
                       "killed through its cgroup",
                       monitor);
        (void)snprintf(c->term.started_at, sizeof(c->term.started_at), "%s", c->started_at);
        rfc3339_seconds(0, c->term.finished_at);
        ev.exit = (CtrExit){.code = -1, .monitor_lost = true};
    }
    /* The reason is the lifecycle's, rendered in one place. */
    (void)snprintf(c->term.reason, sizeof(c->term.reason), "%s",
                   ctr_reason_to_string(ctr_exit_reason(&ev.exit)));
    timestamp_to_seconds(c->term.started_at);
    timestamp_to_seconds(c->term.finished_at);
    c->has_term = true;
    c->monitor = loop_source_unref(c->monitor);
    return ev;
}

static int on_monitor_exit(LoopSource *s, int pidfd, pid_t pid, void *userdata)
{
    Ctr *c = userdata;
    CtrEvent ev = ctr_read_exit(c, CTR_EV_EXITED);

    ctr_feed_ev(c, &ev);
    manager_mark_dirty(c->pod);
    return 0;
}

/*
 * What the runtime already has under this container's id: a daemon killed
 * between starting a container and saving the pod's state leaves one
 * running, or its exit record. Adopt or record it; never start a twin.
 * True when it fed c what it found.
 */
static bool ctr_take_over_existing(Ctr *c)
{
    const RuntimeBackend *rt = pod_rt(c->pod);
    ContainerStatus cs = {0};

    if (rt->ops->container_inspect(rt->ctx, c->id, &cs, NULL) < 0)
        return false;
    if (cs.state == CONTAINER_STATE_STARTING) {
        ctr_feed(c, CTR_EV_START_BUSY);
        return true;
    }
    if (cs.state == CONTAINER_STATE_RUNNING && ctr_watch_adopted(c, cs.monitor_pid)) {
        rfc3339_seconds(0, c->started_at);
        ctr_feed(c, CTR_EV_ADOPTED);
        return true;
    }
    if (cs.state == CONTAINER_STATE_EXITED) {
        CtrEvent ev = ctr_read_exit(c, CTR_EV_EXITED);

        ctr_feed_ev(c, &ev);
        return true;
    }
    return false;
}

/*
 * The start failed before the runtime recorded anything (no config, no
 * monitor): a StartError with the runtime's own message, as the monitor
 * records one when the exec fails.
 */
static void ctr_start_error(Ctr *c, const char *message)
{
    c->term = (ExitRecord){.exit_code = 128};
    (void)snprintf(c->term.reason, sizeof(c->term.reason), "%s",
                   ctr_reason_to_string(CTR_REASON_START_ERROR));
    (void)snprintf(c->term.message, sizeof(c->term.message), "%s", message);
    rfc3339_seconds(0, c->term.started_at);
    rfc3339_seconds(0, c->term.finished_at);
    c->has_term = true;
    ctr_feed_ev(
        c, &(CtrEvent){.type = CTR_EV_START_FAILED, .exit = {.code = 128, .start_error = true}});
}

static int on_starter_exit(LoopSource *s, int pidfd, pid_t pid, void *userdata);
static void ctr_start_finish(Ctr *c, int starter);
static void ctr_start_ended(Ctr *c, int r, const PdError *e, int pidfd);

static void ctr_do_start(Ctr *c)
{
    PodRec *pr = c->pod;
    Manager *m = pr->m;
    const RuntimeBackend *rt = pod_rt(pr);
    _cleanup_(image_resolved_done) ImageResolved img = {};
    RuntimeImage rimg = {};
    PdError e = {0};
    char version[CONTENT_HASH_MAX];
    uint64_t log_start;
    bool clear = c->runtime_clear;
    int starter = -1, r;

    /* What a killed daemon left is looked for, unless we cleared the id ourselves since. */
    c->runtime_clear = false;
    if (!clear && ctr_take_over_existing(c))
        return;
    if (c->has_term) {
        c->last = c->term;
        c->has_last = true;
        c->has_term = false;
    }
    if (c->found_image && c->spec) {
        img = *c->found_image;
        *c->found_image = (ImageResolved){};
    }
    c->found_image = NULL;
    if (!c->spec || !pr->pod ||
        (!img.name[0] && image_store_resolve(m->images_dir, c->spec->image, &img, NULL) < 0)) {
        char msg[sizeof(c->term.message)];

        /* Gone between the look and the start: a start error, as the monitor records one. */
        (void)snprintf(msg, sizeof(msg), "image '%s' not found", c->spec ? c->spec->image : "");
        ctr_start_error(c, msg);
        return;
    }
    /* Kept with the container: a later version of the pod may change it. */
    c->grace_seconds = pr->pod->termination_grace_period_seconds;
    ctr_keep_pre_stop(c);
    /* Before the monitor can write: the run's first line goes after this position. */
    log_start = ctr_log_position(c);
    rimg.layers = img.layers;
    (void)snprintf(c->image, sizeof(c->image), "%s", img.name);
    c->image_id[0] = 0;
    if (img.digest[0]) {
        ImageReference ref;

        /* The kubelet's form: the repository pinned to the manifest digest. */
        if (image_reference_parse(img.name, &ref, NULL) >= 0)
            (void)snprintf(c->image_id, sizeof(c->image_id), "%s/%s@%s", ref.domain, ref.path,
                           img.digest);
    }
    if (img.config)
        rimg = (RuntimeImage){.layers = img.layers,
                              .entrypoint = img.config->entrypoint,
                              .cmd = img.config->cmd,
                              .env = img.config->env,
                              .working_dir = img.config->working_dir,
                              .user = img.config->user};
    /* In the container's own records, written before it starts: they cannot fall behind it. */
    ctr_version(pr, c->spec_json, version);
    r = rt->ops->container_start_begin(rt->ctx, pr->pod, c->spec, &rimg, version, &starter, &e);
    if (r == -EBUSY) {
        /* A monitor of a killed daemon came between our look and our start. */
        ctr_feed(c, CTR_EV_START_BUSY);
        return;
    }
    if (r >= 0) {
        /*
         * podd-monitor sets the container up (namespaces, mounts, seccomp)
         * in a process of its own, which takes milliseconds: the loop goes
         * on, and ctr_start_finish() runs once that starter has exited.
         * Without a watch, it waits for it here.
         */
        c->start_log_pos = log_start;
        r = loop_take_child_pidfd(m->loop, &c->starter, starter, 0, on_starter_exit, c);
        if (r < 0) {
            ctr_start_finish(c, starter);
            (void)close(starter);
        }
        return;
    }
    ctr_log_mark_run(c, log_start);
    rfc3339_seconds(0, c->started_at);
    ctr_start_ended(c, r, &e, -1);
}

/* The starter exited: the start is decided either way. */
static int on_starter_exit(LoopSource *s, int pidfd, pid_t pid, void *userdata)
{
    Ctr *c = userdata;

    ctr_start_finish(c, pidfd);
    manager_mark_dirty(c->pod);
    return 0;
}

static void ctr_start_finish(Ctr *c, int starter)
{
    const RuntimeBackend *rt = pod_rt(c->pod);
    PdError e = {0};
    int pidfd = -1, r;

    r = rt->ops->container_start_finish(rt->ctx, c->id, starter, &pidfd, &e);
    c->starter = loop_source_unref(c->starter);
    ctr_log_mark_run(c, c->start_log_pos);
    rfc3339_seconds(0, c->started_at);
    ctr_start_ended(c, r, &e, pidfd);
}

/* What the start gave: r and pidfd (the monitor's, consumed) as container_start_finish says. */
static void ctr_start_ended(Ctr *c, int r, const PdError *e, int pidfd)
{
    PodRec *pr = c->pod;
    const RuntimeBackend *rt = pod_rt(pr);
    CtrEvent ev;

    if (r >= 0) {
        if (ctr_watch(c, pidfd, 0)) {
            ctr_feed(c, CTR_EV_STARTED);
            return;
        }
        /* Without a watch we would never see its exit: it ends here, as a lost monitor. */
        (void)rt->ops->container_signal(rt->ctx, c->id, SIGKILL, NULL);
    } else if (r != -ESRCH) {
        ContainerStatus cs = {0};

        manager_event(pr->m, pr, c->name, "Warning", "Failed", "%s", e->message);
        /* Refused before anything ran or was recorded: the runtime's error is the reason. */
        if (rt->ops->container_inspect(rt->ctx, c->id, &cs, NULL) < 0 ||
            cs.state != CONTAINER_STATE_EXITED) {
            ctr_start_error(c, e->message[0] ? e->message : strerror(-r));
            return;
        }
    }
    /* It started and ended already, or never started: the exit record says which. */
    ev = ctr_read_exit(c, CTR_EV_START_FAILED);
    ctr_feed_ev(c, &ev);
}

static int ctr_record_once(Ctr *c);

/*
 * keep_dir: a restart follows (CTR_ACT_KEEP_DIR): only the run's records go,
 * when the backend can do that (container_recycle); else all of it.
 */
static void ctr_do_remove(Ctr *c, bool keep_dir)
{
    const RuntimeBackend *rt = pod_rt(c->pod);
    PdError e = {0};
    int r;

    /* The run's exit record is the only proof of the success until the once record is written. */
    if (c->once_pending && ctr_record_once(c) < 0) {
        ctr_feed(c, CTR_EV_REMOVE_BUSY);
        return;
    }
    /* A cgroup can stay busy for a while after its last task died: the timer tries again. */
    if (keep_dir && rt->ops->container_recycle)
        r = rt->ops->container_recycle(rt->ctx, c->id, &e);
    else
        r = rt->ops->container_remove(rt->ctx, c->id, &e);
    if (r < 0) {
        log_debug("pod=%s/%s container=%s: cannot remove it yet: %s; will retry", c->pod->namespace,
                  c->pod->name, c->name, e.message);
        ctr_feed(c, CTR_EV_REMOVE_BUSY);
        return;
    }
    c->runtime_clear = true;
    failpoint("run-removed");
    ctr_feed(c, CTR_EV_REMOVED);
}

/*
 * An init-once container succeeded. Its once record is what keeps it from
 * running again, whatever else a crash loses: it is written before anything
 * of the run is removed (ctr_do_remove() waits for it, keeping the exit
 * record, and tries again until it is written). Its logs go too.
 */
static int ctr_record_once(Ctr *c)
{
    const char *suffixes[] = {"", ".1"};
    int r;

    failpoint("init-once-exited");
    /* The spec that ran: a retry records it even when a new version came meanwhile. */
    if (!c->once_pending)
        spec_fingerprint(c->spec_json ? c->spec_json : c->name, c->once_fp);
    r = state_store_mark_once(c->pod->m->store, c->pod->name, c->name, c->once_fp);
    if (r < 0) {
        /* Said once; the retries every CLEANUP_RETRY_USEC stay quiet. */
        if (!c->once_pending)
            log_warning_errno(r,
                              "pod=%s/%s container=%s: cannot record its one run: %s; its run is "
                              "kept until it is recorded",
                              c->pod->namespace, c->pod->name, c->name, strerror(-r));
        c->once_pending = true;
        return r;
    }
    c->once_pending = false;
    failpoint("init-once-recorded");
    for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
        _cleanup_free_ char *path =
            strdup_printf("%s/%s_%s/%s.log%s", c->pod->m->cfg.log_dir, c->pod->namespace,
                          c->pod->name, c->name, suffixes[i]);

        if (path && unlink(path) < 0 && errno != ENOENT)
            log_debug_errno(-errno, "cannot remove %s", path);
    }
    return 0;
}

/* The event the user sees for the step c just took (ev) into its new state. */
static void ctr_emit(Ctr *c, CtrEventType ev)
{
    PodRec *pr = c->pod;
    Manager *m = pr->m;

    switch (c->life.state) {
    case CTR_STATE_WAITING_IMAGE:
        if (c->life.reason == CTR_REASON_ERR_IMAGE_NEVER_PULL)
            manager_event(m, pr, c->name, "Warning", "ErrImageNeverPull",
                          "Container image \"%s\" is not present with pull policy of Never",
                          c->spec ? c->spec->image : "");
        else
            manager_event(m, pr, c->name, "Warning", "ImageNotFound",
                          "image '%s' is neither a directory nor in the image store %s",
                          c->spec ? c->spec->image : "", m->images_dir);
        break;
    case CTR_STATE_PULLING:
        manager_event(m, pr, c->name, "Normal", "Pulling", "Pulling image \"%s\"",
                      c->spec ? c->spec->image : "");
        break;
    case CTR_STATE_STARTING:
        if (ev == CTR_EV_IMAGE_PRESENT)
            manager_event(m, pr, c->name, "Normal", "Pulled",
                          "Container image \"%s\" already present on machine",
                          c->spec ? c->spec->image : "");
        if (ev == CTR_EV_PULL_DONE) {
            char how[128];

            ctr_pull_describe(c, how, sizeof(how));
            if (how[0])
                manager_event(m, pr, c->name, "Normal", "Pulled",
                              "Successfully pulled image \"%s\"%s", c->spec ? c->spec->image : "",
                              how);
            else
                manager_event(m, pr, c->name, "Normal", "Pulled",
                              "Container image \"%s\" arrived in the image store",
                              c->spec ? c->spec->image : "");
        }
        break;
    case CTR_STATE_PULL_BACKOFF:
        if (c->life.reason == CTR_REASON_ERR_IMAGE_PULL)
            manager_event(m, pr, c->name, "Warning", "Failed", "Failed to pull image \"%s\": %s",
                          c->spec ? c->spec->image : "", c->pull_error);
        else
            manager_event(
                m, pr, c->name, "Normal", "BackOff",
                "Back-off pulling image \"%s\"; next try in %llus", c->spec ? c->spec->image : "",
                (unsigned long long)((c->life.deadline - now_monotonic_usec() + 999999) / 1000000));
        break;
    case CTR_STATE_WAITING_RUNTIME:
        /* One event for the pod, not one per container. */
        if (c == &pr->ctrs[0]) {
            char have[256] = "";

            for (size_t i = 0; i < m->n_backends; i++)
                (void)snprintf(have + strlen(have), sizeof(have) - strlen(have), "%s%s",
                               i ? ", " : "", m->backends[i].ops->name);
            manager_event(m, pr, NULL, "Warning", "RuntimeNotAvailable",
                          "podd.io/runtime '%s' is not available (this podd has %s)",
                          pr->runtime ? pr->runtime : pod_wanted_runtime(pr), have);
        }
        break;
    case CTR_STATE_WAITING:
        if (c->life.reason == CTR_REASON_DEPENDENCY_FAILED)
            manager_event(m, pr, c->name, "Warning", "DependencyFailed", "%s; it will not start",
                          c->message);
        break;
    case CTR_STATE_RUNNING:
        if (ev == CTR_EV_ADOPTED)
            manager_event(m, pr, c->name, "Normal", "Adopted", "already running under monitor %d",
                          (int)c->monitor_pid);
        else
            manager_event(m, pr, c->name, "Normal", "Started", "image %s",
                          c->spec ? c->spec->image : "");
        break;
    case CTR_STATE_STOPPING:
        if (c->life.hook_running && c->kill_text)
            manager_event(m, pr, c->name, "Normal", "Killing",
                          "Container %s %s: preStop hook, SIGTERM, SIGKILL after %llds", c->name,
                          c->kill_text, (long long)c->kill_grace_seconds);
        else if (c->life.hook_running)
            manager_event(m, pr, c->name, "Normal", "Killing",
                          "stopping: preStop hook, SIGTERM, SIGKILL after %llds",
                          (long long)c->grace_seconds);
        else if (c->kill_text)
            manager_event(m, pr, c->name, "Normal", "Killing",
                          "Container %s %s: SIGTERM, SIGKILL after %llds", c->name, c->kill_text,
                          (long long)c->kill_grace_seconds);
        else
            manager_event(m, pr, c->name, "Normal", "Killing",
                          "stopping: SIGTERM, SIGKILL after %llds", (long long)c->grace_seconds);
        break;
    case CTR_STATE_KILLING:
        if (ev == CTR_EV_UNHEALTHY && c->kill_text)
            manager_event(m, pr, c->name, "Normal", "Killing", "Container %s %s: SIGKILL", c->name,
                          c->kill_text);
        else
            manager_event(m, pr, c->name, "Warning", "Killing",
                          "did not stop within its grace period: SIGKILL");
        break;
    case CTR_STATE_REMOVING:
        manager_event(m, pr, c->name, c->term.exit_code == 0 ? "Normal" : "Warning", "Exited",
                      "exit code %d (%s)%s%s", c->term.exit_code, c->term.reason,
                      c->term.message[0] ? ": " : "", c->term.message);
        break;
    case CTR_STATE_BACKOFF:
        manager_event(
            m, pr, c->name, "Warning", "BackOff", "restarting in %llus",
            (unsigned long long)((c->life.deadline - now_monotonic_usec() + 999999) / 1000000));
        break;
    default:
        break;
    }
}

/* The waiting message beside the reason, for the state c just entered. */
static void ctr_render_message(Ctr *c, CtrEventType ev, uint64_t now)
{
    char when[40];
    uint64_t delay;

    switch (c->life.reason) {
    case CTR_REASON_IMAGE_NOT_FOUND:
        (void)snprintf(c->message, sizeof(c->message), "image '%s' not found",
                       c->spec ? c->spec->image : "");
        break;
    case CTR_REASON_ERR_IMAGE_PULL:
        (void)snprintf(c->message, sizeof(c->message), "%s", c->pull_error);
        break;
    case CTR_REASON_IMAGE_PULL_BACK_OFF:
        (void)snprintf(c->message, sizeof(c->message), "Back-off pulling image \"%s\": %s",
                       c->spec ? c->spec->image : "", c->pull_error);
        break;
    case CTR_REASON_ERR_IMAGE_NEVER_PULL:
        (void)snprintf(c->message, sizeof(c->message),
                       "Container image \"%s\" is not present with pull policy of Never",
                       c->spec ? c->spec->image : "");
        break;
    case CTR_REASON_RUNTIME_NOT_AVAILABLE:
        (void)snprintf(c->message, sizeof(c->message), "runtime '%s' is not available",
                       c->pod->runtime ? c->pod->runtime : pod_wanted_runtime(c->pod));
        break;
    case CTR_REASON_CRASH_LOOP_BACK_OFF:
        delay = c->life.deadline > now ? c->life.deadline - now : 0;
        rfc3339_seconds(delay, when);
        (void)snprintf(c->message, sizeof(c->message),
                       "back-off %llus restarting failed container %s; next try at %s",
                       (unsigned long long)((delay + 999999) / 1000000), c->name, when);
        break;
    case CTR_REASON_CONTAINER_CREATING:
        (void)snprintf(c->message, sizeof(c->message), "%s",
                       ev == CTR_EV_START_BUSY
                           ? "a podd-monitor started before the daemon restart is starting it"
                       : c->life.state == CTR_STATE_STARTING ? ""
                                                             : "restarting");
        break;
    case CTR_REASON_POD_INITIALIZING:
    case CTR_REASON_DEPENDENCY_FAILED:
        /* pod_start_ready_containers() names what it waits for. */
        break;
    default:
        c->message[0] = 0;
        break;
    }
}

static bool ctr_state_is_waiting(CtrState s);

/*
 * A run ended: its exit goes into the state file before the runtime's
 * record of it is removed, so that a crash in between loses neither
 * (unless saves are failing: then the retry's back-off decides).
 */
static void pod_save_exits(PodRec *pr)
{
    if (!pr->save_retry_at && pod_rec_save(pr) >= 0)
        failpoint("exit-saved");
}

/* Whether a container of pr other than c waits (to start, for its dependencies or image). */
static bool pod_has_waiting(const PodRec *pr, const Ctr *c)
{
    for (size_t i = 0; i < pr->n_ctrs; i++)
        if (&pr->ctrs[i] != c && ctr_state_is_waiting(pr->ctrs[i].life.state))
            return true;
    return false;
}

/*
 * The one place a container changes: the step, then its actions in order.
 * An action's result is the next event, fed at once; c stays valid (records
 * are only dropped by pod_forget_removed()).
 */
static void ctr_feed_ev(Ctr *c, const CtrEvent *ev)
{
    PodRec *pr = c->pod;
    Manager *m = pr->m;
    const RuntimeBackend *rt = pod_rt(pr);
    CtrPolicy policy = ctr_policy(c);
    uint64_t now = now_monotonic_usec();
    CtrState before = c->life.state;
    CtrReason reason = c->life.reason;
    unsigned act;

    /* Whatever the event: the step and its actions change what the view shows. */
    pod_rec_view_changed(pr);
    act = ctr_step(&c->life, ev, &policy, now);

    log_debug("pod=%s/%s container=%s: %s + %s -> %s (actions %#x)", pr->namespace, pr->name,
              c->name, ctr_state_to_string(before), ctr_event_type_to_string(ev->type),
              ctr_state_to_string(c->life.state), act);
    if (before != c->life.state || reason != c->life.reason || ev->type == CTR_EV_START_BUSY)
        ctr_render_message(c, ev->type, now);
    /* A new state may start it or its dependents, or end the pod: the pod needs another look. */
    if (before != c->life.state)
        manager_mark_dirty(pr);
    if (act & CTR_ACT_SAVE)
        pr->save_due = true;
    /* A hook belongs to the state it runs in. */
    if (before != c->life.state)
        ctr_hook_cancel(c);
    /* Dependents wait for the end of a postStart hook. */
    if (ev->type == CTR_EV_HOOK_DONE)
        manager_mark_dirty(pr);
    if (act & CTR_ACT_FRESH) {
        c->has_term = false;
        c->message[0] = 0;
    }
    if (act & CTR_ACT_EVENT)
        ctr_emit(c, ev->type);
    /* The reason of a probe's kill is told once. */
    c->kill_text = NULL;
    if (act & CTR_ACT_RECORD_ONCE)
        (void)ctr_record_once(c);
    /*
     * A run ended while others wait: what waited for it (an init
     * container's successors) starts first, and the save and removal below
     * follow at the end of the pass (pod_remove_ended()), off the path from
     * the exit to the next start. A run a restart follows (CTR_ACT_KEEP_DIR)
     * is recycled at once: that removes its records only, and leaves no
     * removal pending while its fate may still change in this pass.
     */
    if ((act & CTR_ACT_REMOVE) && !(act & CTR_ACT_KEEP_DIR) && ev->type == CTR_EV_EXITED &&
        pod_has_waiting(pr, c)) {
        c->remove_after_pass = true;
        act &= ~(unsigned)CTR_ACT_REMOVE;
    }
    if ((act & CTR_ACT_REMOVE) && (ev->type == CTR_EV_EXITED || ev->type == CTR_EV_START_FAILED))
        pod_save_exits(pr);
    if (act & CTR_ACT_POST_START)
        ctr_hook_start(c, false);
    if (act & CTR_ACT_PRE_STOP)
        ctr_hook_start(c, true);
    if ((act & CTR_ACT_SIGTERM) && rt->ops->container_signal(rt->ctx, c->id, SIGTERM, NULL) < 0)
        ctr_feed(c, CTR_EV_SIGNAL_FAILED);
    if (act & CTR_ACT_SIGKILL)
        (void)rt->ops->container_signal(rt->ctx, c->id, SIGKILL, NULL);
    if (act & CTR_ACT_REMOVE)
        ctr_do_remove(c, act & CTR_ACT_KEEP_DIR);
    if (act & CTR_ACT_FIND_IMAGE) {
        _cleanup_(image_resolved_done) ImageResolved res = {};
        CtrEvent found = image_lookup(m, c->spec ? c->spec->image : NULL, &res);

        /* A start the event leads to (at once, in this call) uses what was just found. */
        c->found_image = found.type == CTR_EV_IMAGE_PRESENT ? &res : NULL;
        ctr_feed_ev(c, &found);
        c->found_image = NULL;
    }
    if (act & CTR_ACT_PULL_IMAGE)
        ctr_pull_image(c);
    if (act & CTR_ACT_START)
        ctr_do_start(c);
    /* CTR_ACT_FORGET: pod_forget_removed() drops the record once the pass is done with it. */
    /* Probes run while it runs, and not while it stops. */
    if (c->life.state == CTR_STATE_RUNNING && !c->life.hook_running &&
        (before != CTR_STATE_RUNNING || ev->type == CTR_EV_HOOK_DONE))
        ctr_probes_start(c, ev->type == CTR_EV_ADOPTED);
    else if (before == CTR_STATE_RUNNING && c->life.state != CTR_STATE_RUNNING)
        ctr_probes_stop(c);
}

void ctr_feed_probe(Ctr *c, const CtrEvent *ev)
{
    ctr_feed_ev(c, ev);
}

void ctr_feed_image_event(Ctr *c, CtrEventType type)
{
    ctr_feed(c, type);
}

void ctr_restore_run(Ctr *c, uint64_t started_mono)
{
    const RuntimeBackend *rt = pod_rt(c->pod);
    ContainerStatus cs = {0};
    CtrEvent ev;

    /* Still being started by a monitor of the killed daemon: the start takes it over. */
    if (!rt || rt->ops->container_inspect(rt->ctx, c->id, &cs, NULL) < 0 ||
        cs.state == CONTAINER_STATE_STARTING)
        return;
    if (cs.state == CONTAINER_STATE_RUNNING && ctr_watch_adopted(c, cs.monitor_pid)) {
        ctr_feed_ev(c, &(CtrEvent){.type = CTR_EV_ADOPTED, .started_mono = started_mono});
        return;
    }
    if (cs.state == CONTAINER_STATE_EXITED || cs.state == CONTAINER_STATE_RUNNING ||
        cs.state == CONTAINER_STATE_CREATED) {
        /* It ended while no daemon watched (or its monitor was killed): record it now. */
        ev = ctr_read_exit(c, CTR_EV_EXITED);
        /* How long it ran, for the back-off's reset: its exit record says when it began. */
        ev.started_mono = rfc3339_to_monotonic(c->term.started_at);
        if (!ev.started_mono)
            ev.started_mono = started_mono;
        ctr_feed_ev(c, &ev);
    }
}

void ctr_restore_restart(Ctr *c, uint64_t until_realtime)
{
    CtrPolicy policy = ctr_policy(c);
    uint64_t now = now_monotonic_usec(), now_real = now_realtime_usec(), left = 0;

    /* A clock set back (or a forged file) waits no longer than the longest back-off. */
    if (until_realtime > now_real)
        left = until_realtime - now_real;
    if (left > policy.backoff.max_usec)
        left = policy.backoff.max_usec;
    ctr_life_restore_restart(&c->life, now + left);
}

void ctr_resume_backoff(Ctr *c)
{
    uint64_t now = now_monotonic_usec();

    if (ctr_life_resume_backoff(&c->life, now)) {
        ctr_render_message(c, CTR_EV_BACKOFF_EXPIRED, now);
        manager_mark_dirty(c->pod);
    }
}

/* ---- dependencies -----------------------------------------------------------------------------
 */

static const CtrLife *pod_node_life(void *userdata, size_t node)
{
    PodRec *pr = userdata;
    const Ctr *c = pod_ctr(pr, graph_node_name(pr->graph, node));

    return c ? &c->life : NULL;
}

/* ---- stopping --------------------------------------------------------------------------- */

/* An emptyDir outgrew its sizeLimit: message (kubelet's) goes in the status; pr stops for good. */
static void pod_evict(PodRec *pr, const char *message)
{
    (void)snprintf(pr->evicted_message, sizeof(pr->evicted_message), "%s", message);
    manager_event(pr->m, pr, NULL, "Warning", "Evicted", "%s", message);
    pod_rec_feed(pr, POD_EV_EVICT);
}

/*
 * Disk emptyDir volumes with a sizeLimit, as kubelet enforces them: their
 * usage, every VOLUME_CHECK_USEC; one past its limit evicts the pod. True
 * when it did.
 */
static bool pod_check_volumes(PodRec *pr, uint64_t now)
{
    bool any = false;

    if (!pr->pod || pod_state_is_terminating(pr->life.state) || now < pr->volume_check_at)
        return false;
    for (size_t i = 0; i < pr->pod->n_volumes; i++) {
        const Volume *v = &pr->pod->volumes[i];
        uint64_t used = 0, limit = (uint64_t)v->size_limit_bytes;
        char msg[256];

        if (v->kind != VOLUME_KIND_EMPTY_DIR || v->empty_dir_memory || v->size_limit_bytes == UNSET)
            continue;
        any = true;
        if (runtime_volume_usage(pr->m->cfg.run_dir, pr->pod, v->name, limit,
                                 VOLUME_CHECK_MAX_ENTRIES, &used) < 0 ||
            used <= limit)
            continue;
        (void)snprintf(msg, sizeof(msg),
                       "Usage of EmptyDir volume \"%s\" exceeds the limit \"%lld\": %llu bytes "
                       "used of a sizeLimit of %lld bytes",
                       v->name, (long long)limit, (unsigned long long)used, (long long)limit);
        pr->volume_check_at = 0;
        pod_evict(pr, msg);
        return true;
    }
    pr->volume_check_at = any ? now + VOLUME_CHECK_USEC : 0;
    return false;
}
bool pod_all_stopped(const PodRec *pr)
{
    for (size_t i = 0; i < pr->n_ctrs; i++)
        if (!ctr_state_is_down(pr->ctrs[i].life.state))
            return false;
    return true;
}

/*
 * Stops the pod's containers in reverse graph order, one layer after the
 * other: what does not run stops at once, as do containers outside the
 * graph (gone from the manifest).
 */
static void pod_drive_stop(PodRec *pr)
{
    int layer;

    for (size_t i = 0; i < pr->n_ctrs; i++) {
        Ctr *c = &pr->ctrs[i];

        if (!ctr_state_is_active(c->life.state) || !pr->graph ||
            graph_find_node(pr->graph, c->name) < 0 || c->life.goal == CTR_GOAL_REMOVE)
            ctr_feed(c, CTR_EV_STOP);
    }
    if (!pr->graph)
        return;
    layer = reconcile_stop_layer(pr->graph, pod_node_life, pr);
    if (layer >= 0) {
        const size_t *nodes;
        size_t n;

        nodes = graph_layer_nodes(pr->graph, (size_t)layer, &n);
        for (size_t k = 0; k < n; k++) {
            Ctr *c = pod_ctr(pr, graph_node_name(pr->graph, nodes[k]));

            if (c)
                ctr_feed(c, CTR_EV_STOP);
        }
    }
}

static void pod_destroy_sandbox(PodRec *pr)
{
    const RuntimeBackend *rt = pod_rt(pr);
    Pod shell = {.name = pr->name, .namespace = pr->namespace};
    PdError e = {0};

    if (!pr->sandbox_up)
        return;
    if (rt->ops->pod_destroy(rt->ctx, &shell, &e) < 0)
        log_warning("pod=%s/%s: cannot remove its sandbox: %s; continuing", pr->namespace, pr->name,
                    e.message);
    pr->sandbox_up = false;
    pr->save_due = true;
}

/*
 * The new version lives in another namespace: a pod of another identity.
 * The old one (stopped, its sandbox gone) is removed with its logs, as a
 * deleted pod is, and the new one is created under the same record.
 */
static void pod_move_namespace(PodRec *pr, const char *ns)
{
    char *copy = strdup(ns);
    int r;

    if (!copy) {
        log_error("pod=%s/%s: out of memory; continuing", pr->namespace, pr->name);
        return;
    }
    manager_event(pr->m, pr, NULL, "Normal", "Removed",
                  "pod stopped and removed: its manifest moved it to namespace %s", ns);
    r = runtime_pod_logs_remove(pr->m->cfg.log_dir, pr->namespace, pr->name);
    if (r < 0)
        log_warning_errno(r, "pod=%s/%s: cannot remove its logs under %s; continuing",
                          pr->namespace, pr->name, pr->m->cfg.log_dir);
    free(pr->namespace);
    pr->namespace = copy;
    for (size_t i = 0; i < pr->n_ctrs; i++)
        pr->ctrs[i].has_log_run = pr->ctrs[i].has_log_prev = false;
    rfc3339_seconds(0, pr->created_at);
    manager_event(pr->m, pr, NULL, "Normal", "Created", "from %s",
                  pr->from_api ? "an applied manifest"
                  : pr->source ? pr->source
                               : "?");
}

/* Forgets every container: a new instance of the pod starts from nothing. */
static void pod_reset_instance(PodRec *pr)
{
    const char *ns = pr->pod && pr->pod->namespace ? pr->pod->namespace : "default";
    PdError e = {0};

    if (pr->pod && !streq(ns, pr->namespace))
        pod_move_namespace(pr, ns);

    for (size_t i = 0; i < pr->n_ctrs; i++)
        ctr_free_fields(&pr->ctrs[i]);
    free(pr->ctrs);
    pr->ctrs = NULL;
    pr->n_ctrs = 0;
    pr->evicted_message[0] = 0;
    pr->volume_check_at = 0;
    pr->deleting_at[0] = 0;
    pr->running_hash[0] = 0;
    free(pr->runtime);
    pr->runtime = NULL;
    pr->phase = POD_PHASE_PENDING;
    pr->save_due = true;
    if (pr->pod && pod_rec_load_spec(pr, &e) < 0)
        log_error("pod=%s/%s: %s; continuing", pr->namespace, pr->name, e.message);
}

/* Drops the records of containers gone from the manifest once they are stopped and removed. */
static void pod_forget_removed(PodRec *pr)
{
    for (size_t i = 0; i < pr->n_ctrs;) {
        Ctr *c = &pr->ctrs[i];

        if (c->life.goal != CTR_GOAL_REMOVE || c->life.state != CTR_STATE_TERMINATED) {
            i++;
            continue;
        }
        ctr_free_fields(c);
        memmove(c, c + 1, (pr->n_ctrs - i - 1) * sizeof(Ctr));
        pr->n_ctrs--;
        pr->save_due = true;
        for (size_t k = i; k < pr->n_ctrs; k++)
            ctr_moved(&pr->ctrs[k]);
    }
}

/* ---- the step ------------------------------------------------------------------------------ */

/* Feeds every container whose deadline has come the event it stands for. */
static void pod_feed_deadlines(PodRec *pr, uint64_t now)
{
    for (size_t i = 0; i < pr->n_ctrs; i++) {
        Ctr *c = &pr->ctrs[i];

        if (c->life.deadline && now >= c->life.deadline)
            ctr_feed(c, ctr_deadline_event(c->life.state));
    }
}

static void pod_arm_timer(PodRec *pr, uint64_t now)
{
    uint64_t next = LOOP_TIME_INFINITY;

    for (size_t i = 0; i < pr->n_ctrs; i++)
        if (pr->ctrs[i].life.deadline && pr->ctrs[i].life.deadline < next)
            next = pr->ctrs[i].life.deadline;
    if (!pr->sandbox_up && pr->pod && !pod_state_is_terminating(pr->life.state) &&
        now + IMAGE_RETRY_USEC < next)
        next = now + IMAGE_RETRY_USEC;
    if (pr->save_retry_at && pr->save_retry_at < next)
        next = pr->save_retry_at;
    if (pr->volume_check_at && !pod_state_is_terminating(pr->life.state) &&
        pr->volume_check_at < next)
        next = pr->volume_check_at;
    /* An update waiting for its images looks again, as a container waiting for its image does. */
    if (pr->held != PLAN_IMAGE_PRESENT && now + IMAGE_RETRY_USEC < next)
        next = now + IMAGE_RETRY_USEC;
    /* Its failed pull is tried again once the back-off ends. */
    if (pr->held != PLAN_IMAGE_PRESENT && pr->held_pull_retry_at && pr->held_pull_retry_at > now &&
        pr->held_pull_retry_at < next)
        next = pr->held_pull_retry_at;
    (void)loop_timer_set(pr->timer, next);
}

static bool pod_ensure_sandbox(PodRec *pr)
{
    Manager *m = pr->m;
    const RuntimeBackend *rt = pod_rt(pr);
    PdError e = {0};

    if (pr->sandbox_up)
        return true;
    if (rt->ops->pod_create(rt->ctx, pr->pod, &e) < 0) {
        manager_event(m, pr, NULL, "Warning", "FailedCreatePodSandBox", "%s", e.message);
        return false;
    }
    pr->sandbox_up = true;
    pr->save_due = true;
    return true;
}

static bool ctr_state_is_waiting(CtrState s)
{
    /* PULL_BACKOFF too: the next look turns ErrImagePull into ImagePullBackOff. */
    return s == CTR_STATE_WAITING || s == CTR_STATE_WAITING_IMAGE ||
           s == CTR_STATE_WAITING_RUNTIME || s == CTR_STATE_PULL_BACKOFF;
}

/* An init-once container that succeeded for this pod before runs no more. */
static bool ctr_ran_once_already(const Ctr *c)
{
    char fp[CONTENT_HASH_MAX], legacy[17];

    /*
     * Also after a run began in this instance: a crash may have lost every
     * other trace of its success (its run removed, the state file behind).
     */
    if (c->life.kind != CONTAINER_KIND_INIT || !c->spec->init_once)
        return false;
    spec_fingerprint(c->spec_json, fp);
    if (state_store_once_done(c->pod->m->store, c->pod->name, c->name, fp) == 1)
        return true;
    legacy_spec_fingerprint(c->spec_json, legacy);
    return state_store_once_done(c->pod->m->store, c->pod->name, c->name, legacy) == 1;
}

/* c's waiting message when it waits for on (which failed for good): what became of on. */
static void ctr_dependency_message(Ctr *c, const Ctr *on)
{
    const CtrExit *e = on ? &on->life.last_exit : NULL;

    if (!on)
        c->message[0] = 0;
    else if (on->life.reason == CTR_REASON_DEPENDENCY_FAILED)
        (void)snprintf(c->message, sizeof(c->message), "%s will never start: %.400s", on->name,
                       on->message);
    else if (!on->life.started_once)
        (void)snprintf(c->message, sizeof(c->message), "%s terminated without starting", on->name);
    else if (e->start_error || e->config_error)
        (void)snprintf(c->message, sizeof(c->message), "%s failed to start (%s)", on->name,
                       ctr_reason_to_string(ctr_exit_reason(e)));
    else if (e->monitor_lost)
        (void)snprintf(c->message, sizeof(c->message), "%s ended with its monitor lost", on->name);
    else if (e->signal > 0)
        (void)snprintf(c->message, sizeof(c->message), "%s was killed by signal %d%s", on->name,
                       e->signal, e->oom_killed ? " (OOMKilled)" : "");
    else
        (void)snprintf(c->message, sizeof(c->message), "%s exited %d", on->name, e->code);
}

/* Tells each waiting container, in start order, whether its dependencies are met. */
static void pod_start_ready_containers(PodRec *pr)
{
    const size_t *order;
    size_t n;

    order = graph_start_order(pr->graph, &n);
    for (size_t k = 0; k < n; k++) {
        Ctr *c = pod_ctr(pr, graph_node_name(pr->graph, order[k]));
        GraphCondition cond;
        int blocker;

        if (!c || !c->spec || !ctr_state_is_waiting(c->life.state))
            continue;
        if (ctr_ran_once_already(c)) {
            CtrExit done = {.code = 0};

            /* As a previous run left it: completed, terminated for good. */
            c->life =
                ctr_life_restore(c->life.kind, c->life.restart_count, 0, true, true, true, &done);
            /* Its own exit when the state file kept it; else what the once record says. */
            if (!c->has_term || c->term.exit_code != 0) {
                c->term = (ExitRecord){.exit_code = 0};
                (void)snprintf(c->term.message, sizeof(c->term.message),
                               "ran once for this pod instance already");
            }
            (void)snprintf(c->term.reason, sizeof(c->term.reason), "%s",
                           ctr_reason_to_string(CTR_REASON_COMPLETED));
            c->has_term = true;
            pr->save_due = true;
            continue;
        }
        blocker = reconcile_failed_dependency(pr->graph, order[k], pod_node_life, pr, &cond);
        if (blocker >= 0) {
            /* Set first: the event of the step says it. */
            ctr_dependency_message(c, pod_ctr(pr, graph_node_name(pr->graph, (size_t)blocker)));
            ctr_feed(c, CTR_EV_DEPS_FAILED);
            continue;
        }
        blocker = reconcile_blocker(pr->graph, order[k], pod_node_life, pr, &cond);
        if (blocker >= 0) {
            ctr_feed(c, CTR_EV_DEPS_UNMET);
            /* In the image back-off the pull's error stays what it says. */
            if (c->life.state == CTR_STATE_WAITING)
                (void)snprintf(c->message, sizeof(c->message), "waiting for %s to be %s",
                               graph_node_name(pr->graph, (size_t)blocker),
                               graph_condition_to_string(cond));
            continue;
        }
        ctr_feed(c, CTR_EV_DEPS_MET);
    }
}

/*
 * Carries out what pod_step() returned for pr, but for POD_ACT_FORGET:
 * the caller drops the record (only pod_reconcile() feeds ALL_DOWN).
 */
static unsigned pod_feed_ev(PodRec *pr, const PodEvent *ev)
{
    PodPolicy policy = {.exit_policy = pr->pod ? pr->pod->exit_policy : EXIT_POLICY_STOP,
                        .shutting_down = pr->m->shutting_down};
    PodLife before = pr->life;
    unsigned act;

    pod_rec_view_changed(pr);
    act = pod_step(&pr->life, ev, &policy);

    if (before.state != pr->life.state || before.goal != pr->life.goal)
        log_debug("pod=%s/%s: %s (%s) + %s -> %s (%s)", pr->namespace, pr->name,
                  pod_state_to_string(before.state), pod_goal_to_string(before.goal),
                  pod_event_type_to_string(ev->type), pod_state_to_string(pr->life.state),
                  pod_goal_to_string(pr->life.goal));
    if (act & POD_ACT_STAMP_DELETION)
        rfc3339_seconds(0, pr->deleting_at);
    /* Only a final POD_EV_PHASE runs the exit policy: ev->phase is the outcome it acted on. */
    if (act & POD_ACT_EXIT_CONTINUE)
        manager_event(pr->m, pr, NULL, "Normal", pod_phase_to_string(ev->phase),
                      "every container finished; exit policy continue keeps the sidecars");
    if (act & POD_ACT_EXIT_STOP)
        manager_event(pr->m, pr, NULL, "Normal", pod_phase_to_string(ev->phase),
                      "every container finished; exit policy stop stops the sidecars");
    if (act & POD_ACT_STOP)
        manager_mark_dirty(pr);
    if (act & POD_ACT_DESTROY_SANDBOX)
        pod_destroy_sandbox(pr);
    if (act & POD_ACT_SAVE)
        pr->save_due = true;
    if (act & POD_ACT_RESET)
        pod_reset_instance(pr);
    return act;
}

void pod_rec_feed(PodRec *pr, PodEventType type)
{
    unsigned act = pod_feed_ev(pr, &(PodEvent){.type = type});

    assert(!(act & POD_ACT_FORGET));
}

/*
 * STOPPING: stops the containers in reverse order and, once all are down,
 * tells the lifecycle. Returns false when pr was dropped (it is freed).
 */
static bool pod_stop_step(PodRec *pr)
{
    pod_drive_stop(pr);
    if (!pod_all_stopped(pr))
        return true;
    if (pod_feed_ev(pr, &(PodEvent){.type = POD_EV_ALL_DOWN}) & POD_ACT_FORGET) {
        manager_event(pr->m, pr, NULL, "Normal", "Removed", "pod stopped and removed");
        manager_drop_pod(pr->m, pr);
        return false;
    }
    return true;
}

/* podd.io/runtime names a backend this podd does not have: run nothing rather than another. */
static void pod_wait_for_runtime(PodRec *pr)
{
    for (size_t i = 0; i < pr->n_ctrs; i++)
        if (ctr_state_is_waiting(pr->ctrs[i].life.state))
            ctr_feed(&pr->ctrs[i], CTR_EV_RUNTIME_ABSENT);
}

/* Updates pr->phase, the phase it shows; returns the outcome the exit policy acts on. */
static PodPhase pod_update_phase(PodRec *pr)
{
    _cleanup_free_ const CtrLife **lives = calloc(pr->n_ctrs + 1, sizeof(CtrLife *));
    ExitPolicy policy = pr->pod ? pr->pod->exit_policy : EXIT_POLICY_STOP;
    bool now_cond[_POD_COND_MAX];
    PodConditions pc;
    PodPhase phase;

    if (!lives)
        return pr->phase;
    for (size_t i = 0; i < pr->n_ctrs; i++)
        lives[i] = &pr->ctrs[i].life;
    /* Evicted: Failed, whatever its containers' exits say, as kubelet shows it. */
    phase = pod_life_evicted(&pr->life) ? POD_PHASE_FAILED
                                        : pod_compute_phase(lives, pr->n_ctrs, policy);
    if (phase != pr->phase) {
        pr->phase = phase;
        pr->save_due = true;
    }
    pc = pod_compute_conditions(lives, pr->n_ctrs, pod_state_is_terminating(pr->life.state));
    now_cond[POD_COND_SCHEDULED] = pc.scheduled;
    now_cond[POD_COND_INITIALIZED] = pc.initialized;
    now_cond[POD_COND_CONTAINERS_READY] = pc.containers_ready;
    now_cond[POD_COND_READY] = pc.ready;
    for (size_t k = 0; k < _POD_COND_MAX; k++)
        if (now_cond[k] != pr->cond[k]) {
            pr->cond[k] = now_cond[k];
            rfc3339_seconds(0, pr->cond_time[k]);
        }
    return pod_compute_outcome(lives, pr->n_ctrs);
}

/*
 * The removals ctr_feed_ev() left for the end of the pass: the exits go
 * into the state file (once for all), then their runs are removed, as
 * ctr_feed_ev() does it for one.
 */
static void pod_remove_ended(PodRec *pr)
{
    bool saved = false;

    for (size_t i = 0; i < pr->n_ctrs; i++) {
        Ctr *c = &pr->ctrs[i];

        if (!c->remove_after_pass)
            continue;
        c->remove_after_pass = false;
        /* Replaced or stopped meanwhile: what it is now decides. */
        if (c->life.state != CTR_STATE_REMOVING)
            continue;
        if (!saved)
            pod_save_exits(pr);
        saved = true;
        ctr_do_remove(c, false);
    }
}

/* Ends a pass: the timer for the next deadline, the state file if it changed. */
static void pod_end_pass(PodRec *pr, uint64_t now)
{
    pod_remove_ended(pr);
    pod_forget_removed(pr);
    if (pr->save_due && (!pr->save_retry_at || now >= pr->save_retry_at))
        (void)pod_rec_save(pr);
    pod_arm_timer(pr, now);
}

void pod_reconcile(PodRec *pr)
{
    uint64_t now = now_monotonic_usec();

    /* A pass sets the phase, conditions, messages and runs: the view is rendered again. */
    pod_rec_view_changed(pr);

    /* What a previous podd ran under this name is still being removed: orphan_finish() wakes it. */
    if (manager_orphan_pending(pr->m, pr->name))
        return;
    /* A new version waiting for its images goes ahead once they are there. */
    if (pr->held != PLAN_IMAGE_PRESENT)
        manager_update_retry(pr);
    pod_feed_deadlines(pr, now);
    if (pr->life.state == POD_STATE_STOPPING && !pod_stop_step(pr))
        return;
    /* Still stopping, or stopped (after a recreation, it runs on as a new instance). */
    if (pod_state_is_terminating(pr->life.state)) {
        if (pr->life.state == POD_STATE_STOPPED)
            (void)pod_update_phase(pr);
        pod_end_pass(pr, now);
        return;
    }
    if (!pr->pod) {
        pod_remove_ended(pr);
        return;
    }
    if (!pod_rt(pr)) {
        pod_wait_for_runtime(pr);
        pod_end_pass(pr, now);
        return;
    }
    /* The instance runs under this backend from now on, also after a podd restart. */
    if (!pr->runtime) {
        pr->runtime = strdup(pod_rt(pr)->ops->name);
        if (!pr->runtime) {
            log_error("pod=%s/%s: out of memory; continuing", pr->namespace, pr->name);
            return;
        }
        pr->save_due = true;
    }
    if (pod_ensure_sandbox(pr) && pod_check_volumes(pr, now)) {
        /* Evicted: STOPPING now; drive the stop at once. */
        if (pod_stop_step(pr))
            pod_end_pass(pr, now);
        return;
    }
    if (pr->sandbox_up) {
        if (!streq(pr->running_hash, pr->spec_hash)) {
            (void)snprintf(pr->running_hash, sizeof(pr->running_hash), "%s", pr->spec_hash);
            pr->save_due = true;
        }
        if (pr->phase != POD_PHASE_SUCCEEDED && pr->phase != POD_PHASE_FAILED)
            pod_start_ready_containers(pr);
    }
    /* Before the phase: it sees the ended runs removed, as without the wait. */
    pod_remove_ended(pr);
    (void)pod_feed_ev(pr, &(PodEvent){.type = POD_EV_PHASE, .phase = pod_update_phase(pr)});
    /* The exit policy just began a stop: drive it now. */
    if (pr->life.state == POD_STATE_STOPPING && !pod_stop_step(pr))
        return;
    pod_end_pass(pr, now);
}
