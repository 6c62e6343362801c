/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "image/image.h"
#include "manager-internal.h"
#include "reconcile/reconcile.h"

/*
 * The lifecycle of one pod as an explicit sequence of decisions. Every
 * entry point only updates records; pod_reconcile() then looks at the
 * whole pod and takes the next steps: stop what must stop (reverse graph
 * order, SIGTERM, SIGKILL after the grace period), create the sandbox,
 * start each container whose dependencies are met, compute the phase and
 * apply the exit policy. Deadlines (backoff, SIGKILL, image retries) arm
 * the pod's single timer, which only marks the pod dirty again.
 */

static Ctr *pod_ctr(PodRec *pr, const char *name)
{
    /* While pod_rec_apply_plan() rebuilds the array, moved entries have no name. */
    for (size_t i = 0; i < pr->n_ctrs; i++)
        if (pr->ctrs[i].name && !pr->ctrs[i].orphan && streq(pr->ctrs[i].name, name))
            return &pr->ctrs[i];
    return NULL;
}

/* FNV-1a, for the once records: it only tells one spec from another. */
static void spec_fingerprint(const char *s, char buf[17])
{
    uint64_t h = 1469598103934665603ull;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    (void)snprintf(buf, 17, "%016llx", (unsigned long long)h);
}

/* ---- building the records from a version ----------------------------------------- */

void ctr_free_fields(Ctr *c)
{
    free(c->name);
    free(c->id);
    free(c->spec_json);
    c->monitor = loop_source_unref(c->monitor);
}

PlanObservedCtr *pod_rec_observe(const PodRec *pr, PlanObserved *ret)
{
    PlanObservedCtr *seen = calloc(pr->n_ctrs + 1, sizeof(PlanObservedCtr));
    size_t n = 0;

    if (!seen)
        return NULL;
    for (size_t i = 0; i < pr->n_ctrs; i++) {
        const Ctr *c = &pr->ctrs[i];

        /* Gone from the manifest already: it stops whatever comes. */
        if (c->orphan || !c->name)
            continue;
        seen[n++] = (PlanObservedCtr){.name = c->name,
                                      .kind = c->kind,
                                      .spec_json = c->spec_json,
                                      .started = c->ever_started,
                                      .replacing = c->replace};
    }
    *ret = (PlanObserved){
        .level = pr->level, .ctrs = seen, .n_ctrs = n, .stopping = pr->terminating || !pr->pod};
    return seen;
}

int pod_rec_apply_plan(PodRec *pr, Plan *plan, PdError *reterr)
{
    const Pod *pod = pr->pod;
    size_t total = pod->n_init_containers + pod->n_containers, n = 0;
    Ctr *nc;
    int r = 0;

    assert(plan->n_ctrs >= total);
    nc = calloc(total + pr->n_ctrs + 1, sizeof(Ctr));
    if (!nc)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    POD_FOREACH_CONTAINER (pod, spec, i) {
        const PlanCtr *e = &plan->ctrs[i]; /* the plan lists the new version in this order */
        Ctr *old = pod_ctr(pr, spec->name), *c = &nc[n++];

        if (old) {
            *c = *old;
            old->name = NULL; /* moved */
            old->id = NULL;
            old->spec_json = NULL;
            old->monitor = NULL;
            if (c->monitor)
                (void)loop_source_set_userdata(c->monitor, c);
            if (e->action == PLAN_ACTION_REPLACE)
                c->replace = true;
            free(c->spec_json);
        } else {
            *c = (Ctr){.state = CTR_WAITING,
                       .name = strdup(spec->name),
                       .id = runtime_container_id(pod, spec)};
            (void)snprintf(c->reason, sizeof(c->reason), "PodInitializing");
        }
        c->pod = pr;
        c->spec = spec;
        c->kind = spec->kind;
        c->spec_json = strdup(e->spec_json);
        if (!c->name || !c->id || !c->spec_json)
            r = -ENOMEM;
    }
    /* Containers gone from the new version stop and go. */
    for (size_t i = 0; i < pr->n_ctrs; i++)
        if (pr->ctrs[i].name) {
            nc[n] = pr->ctrs[i];
            nc[n].orphan = true;
            nc[n].spec = NULL;
            if (nc[n].monitor)
                (void)loop_source_set_userdata(nc[n].monitor, &nc[n]);
            n++;
        }
    free(pr->ctrs);
    pr->ctrs = nc;
    pr->n_ctrs = n;
    graph_free(pr->graph);
    pr->graph = move_ptr(plan->graph);
    if (r < 0)
        return pd_error_set(reterr, r, "out of memory");
    if (plan->pod_action == PLAN_ACTION_REPLACE) {
        pr->recreate_after_stop = true;
        pod_begin_stop(pr);
    }
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
    r = reconcile_plan(pr->pod, &observed, &plan, reterr);
    if (r < 0)
        return r;
    return pod_rec_apply_plan(pr, plan, reterr);
}

/* ---- images ------------------------------------------------------------------------ */

/* image: an absolute rootfs path, or NAME[:TAG] in <state>/images/NAME/TAG. Caller frees. */
static char *image_dir_for(const Manager *m, const char *image)
{
    struct stat st;
    ImageRef ref;
    char *dir;

    if (image[0] == '/')
        dir = strdup(image);
    else if (image_ref_parse(image, &ref) < 0)
        return NULL;
    else
        dir = image_path(m->images_dir, &ref);
    if (!dir)
        return NULL;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        free(dir);
        return NULL;
    }
    return dir;
}

/* ---- one container -------------------------------------------------------------------- */

static void ctr_set_waiting(Ctr *c, const char *reason, const char *fmt, ...) _printf_(3, 4);
static void ctr_set_waiting(Ctr *c, const char *reason, const char *fmt, ...)
{
    va_list ap;

    (void)snprintf(c->reason, sizeof(c->reason), "%s", reason);
    va_start(ap, fmt);
    (void)vsnprintf(c->message, sizeof(c->message), fmt, ap);
    va_end(ap);
}

static int on_monitor_exit(LoopSource *s, int pidfd, pid_t pid, void *userdata)
{
    Ctr *c = userdata;

    c->monitor = loop_source_unref(c->monitor);
    ctr_handle_exit(c);
    manager_mark_dirty(c->pod);
    return 0;
}

static bool ctr_watch(Ctr *c, int pidfd, pid_t pid)
{
    int r = loop_add_child_pidfd(c->pod->m->loop, &c->monitor, pidfd, pid, on_monitor_exit, c);

    if (r < 0) {
        log_warning_errno(r, "pod=%s/%s container=%s: cannot watch its monitor; continuing",
                          c->pod->namespace, c->pod->name, c->name);
        return false;
    }
    c->monitor_pid = pid;
    return true;
}

bool ctr_adopt_running(Ctr *c, pid_t monitor_pid)
{
    LoopSource *s = NULL;

    /* loop_add_child opens its own pidfd; the runtime checked the start time just before. */
    if (loop_add_child(c->pod->m->loop, &s, monitor_pid, on_monitor_exit, c) < 0)
        return false;
    c->monitor = s;
    c->monitor_pid = monitor_pid;
    c->grace_seconds = c->pod->pod ? c->pod->pod->termination_grace_period_seconds : 30;
    c->state = CTR_RUNNING;
    c->started_mono = now_monotonic_usec();
    rfc3339_seconds(0, c->started_at);
    c->reason[0] = c->message[0] = 0;
    return true;
}

/* A daemon killed while it started c left a monitor that is still at it: adopt it once it runs. */
static void ctr_wait_for_other_monitor(Ctr *c)
{
    c->start_pending = true;
    ctr_set_waiting(c, "ContainerCreating",
                    "a podd-monitor started before the daemon restart is starting it");
}

/*
 * What the runtime already has under this container's id: a daemon killed
 * between starting a container and saving the pod's state leaves one
 * running, or its exit record. Adopt or record it; never start a twin.
 * True when c was taken care of.
 */
static bool ctr_take_over_existing(Ctr *c)
{
    Manager *m = c->pod->m;
    const RuntimeBackend *rt = pod_rt(c->pod);
    ContainerStatus cs = {0};

    c->start_pending = false;
    if (rt->ops->container_inspect(rt->ctx, c->id, &cs, NULL) < 0)
        return false;
    if (cs.state == CONTAINER_STATE_STARTING) {
        ctr_wait_for_other_monitor(c);
        return true;
    }
    if (cs.state == CONTAINER_STATE_RUNNING && ctr_adopt_running(c, cs.monitor_pid)) {
        c->ever_started = true;
        manager_event(m, c->pod, c->name, "Normal", "Adopted", "already running under monitor %d",
                      (int)cs.monitor_pid);
        return true;
    }
    if (cs.state == CONTAINER_STATE_EXITED) {
        c->ever_started = true;
        c->state = CTR_RUNNING;
        ctr_handle_exit(c);
        return true;
    }
    return false;
}

static void ctr_start(Ctr *c, const char *image_dir)
{
    PodRec *pr = c->pod;
    Manager *m = pr->m;
    const RuntimeBackend *rt = pod_rt(pr);
    PdError e = {0};
    uint64_t log_start;
    int pidfd = -1, r;

    if (!c->monitor && ctr_take_over_existing(c))
        return;

    if (c->has_term) {
        c->last = c->term;
        c->has_last = true;
        c->has_term = false;
    }
    /* Kept with the container: a later version of the pod may change it. */
    c->grace_seconds = pr->pod->termination_grace_period_seconds;
    /* Before the monitor can write: the run's first line goes after this position. */
    log_start = ctr_log_position(c);
    r = runtime_container_start(rt->ops, rt->ctx, pr->pod, c->spec, image_dir, &pidfd, &e);
    if (r == -EBUSY) {
        /* That monitor came between our look and our start. */
        ctr_wait_for_other_monitor(c);
        return;
    }
    ctr_log_mark_run(c, log_start);
    /* Kubernetes counts restarts done, not restarts planned. */
    if (c->ever_started)
        c->restart_count++;
    c->ever_started = true;
    c->started_mono = now_monotonic_usec();
    rfc3339_seconds(0, c->started_at);
    c->reason[0] = c->message[0] = 0;
    if (r >= 0) {
        c->state = CTR_RUNNING;
        if (!ctr_watch(c, pidfd, 0)) {
            /* Without a watch we would never see its exit: take it down and retry. */
            (void)rt->ops->container_remove(rt->ctx, c->id, NULL);
            c->state = CTR_WAITING;
        }
        (void)close(pidfd);
        manager_event(m, pr, c->name, "Normal", "Started", "image %s", c->spec->image);
        return;
    }
    /* It started and ended already, or never started: the exit record says which. */
    c->state = CTR_RUNNING;
    if (r != -ESRCH)
        manager_event(m, pr, c->name, "Warning", "Failed", "%s", e.message);
    ctr_handle_exit(c);
}

static void ctr_stop(Ctr *c, uint64_t now)
{
    Manager *m = c->pod->m;
    const RuntimeBackend *rt = pod_rt(c->pod);

    if (c->state != CTR_RUNNING || c->stopping)
        return;
    c->stopping = true;
    c->kill_at = now + (uint64_t)c->grace_seconds * 1000000ull;
    if (rt->ops->container_signal(rt->ctx, c->id, SIGTERM, NULL) < 0 || c->grace_seconds == 0)
        c->kill_at = now;
    manager_event(m, c->pod, c->name, "Normal", "Killing", "stopping: SIGTERM, SIGKILL after %llds",
                  (long long)c->grace_seconds);
}

static uint64_t backoff_delay(const PodRec *pr, unsigned step)
{
    const RestartBackoff *b = pr->pod ? &pr->pod->backoff : NULL;
    uint64_t initial = b && b->set ? b->initial_usec : pr->m->cfg.backoff_initial_usec;
    uint64_t max = b && b->set ? b->max_usec : pr->m->cfg.backoff_max_usec;
    uint64_t d = initial;

    /* The first restart after a crash is immediate, as the kubelet does. */
    if (step == 0)
        return 0;
    for (unsigned i = 1; i < step && d < max; i++)
        d *= 2;
    return d < max ? d : max;
}

static void ctr_schedule_restart(Ctr *c, uint64_t now)
{
    PodRec *pr = c->pod;
    const RestartBackoff *b = pr->pod ? &pr->pod->backoff : NULL;
    uint64_t reset = b && b->set ? b->reset_usec : pr->m->cfg.backoff_reset_usec;
    uint64_t delay;

    /* Ten quiet minutes (by default) forget the crash loop. */
    if (c->started_mono && now - c->started_mono >= reset)
        c->backoff_step = 0;
    delay = backoff_delay(pr, c->backoff_step);
    c->backoff_step++;
    c->backoff_until = delay ? now + delay : 0;
    if (!delay)
        ctr_set_waiting(c, "ContainerCreating", "restarting");
    if (delay) {
        char when[40];

        rfc3339_seconds(delay, when);
        ctr_set_waiting(c, "CrashLoopBackOff",
                        "back-off %llus restarting failed container %s; next try at %s",
                        (unsigned long long)(delay / 1000000), c->name, when);
        manager_event(pr->m, pr, c->name, "Warning", "BackOff", "restarting in %llus",
                      (unsigned long long)(delay / 1000000));
    }
}

/* Decides what an exit means for this container under the pod's policies. */
static void ctr_apply_policy(Ctr *c, int code, uint64_t now)
{
    PodRec *pr = c->pod;
    RestartPolicy policy;

    if (!pr->pod || pr->terminating || c->replace || c->orphan) {
        c->finished = true;
        return;
    }
    policy = pr->pod->restart_policy;
    if (c->kind == CONTAINER_KIND_SIDECAR)
        policy = RESTART_POLICY_ALWAYS;
    else if (c->kind == CONTAINER_KIND_REGULAR && c->spec && c->spec->restart_policy_set)
        policy = c->spec->restart_policy;
    else if (c->kind == CONTAINER_KIND_INIT && code == 0)
        policy = RESTART_POLICY_NEVER; /* done */
    else if (c->kind == CONTAINER_KIND_INIT && policy == RESTART_POLICY_ALWAYS)
        policy = RESTART_POLICY_ON_FAILURE; /* a failed init container is retried */

    if (policy == RESTART_POLICY_NEVER || (policy == RESTART_POLICY_ON_FAILURE && code == 0)) {
        c->finished = true;
        return;
    }
    ctr_schedule_restart(c, now);
}

/*
 * Removes what the runtime keeps of an ended container (its cgroup, mounts,
 * files). A cgroup can stay busy for a while after its last task died; then
 * the container counts as not stopped yet and the pod's timer tries again.
 * True once it is gone.
 */
static bool ctr_cleanup(Ctr *c)
{
    const RuntimeBackend *rt = pod_rt(c->pod);
    PdError e = {0};

    if (rt->ops->container_remove(rt->ctx, c->id, &e) < 0) {
        if (!c->cleanup_pending)
            log_debug("pod=%s/%s container=%s: cannot remove it yet: %s; will retry",
                      c->pod->namespace, c->pod->name, c->name, e.message);
        c->cleanup_pending = true;
        return false;
    }
    c->cleanup_pending = false;
    return true;
}

/* A once init container leaves nothing behind after its success: its logs go too. */
static void ctr_remove_logs(const Ctr *c)
{
    const char *suffixes[] = {"", ".1"};

    for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
        _cleanup_free_ char *path =
            strdup_printf("%s/%s_%s/%s.log%s", c->pod->m->cfg.log_dir, c->pod->namespace,
                          c->pod->name, c->name, suffixes[i]);

        if (path && unlink(path) < 0 && errno != ENOENT)
            log_debug_errno(-errno, "cannot remove %s", path);
    }
}

void ctr_handle_exit(Ctr *c)
{
    PodRec *pr = c->pod;
    Manager *m = pr->m;
    const RuntimeBackend *rt = pod_rt(pr);
    ContainerStatus cs = {0};
    uint64_t now = now_monotonic_usec();

    if (c->state != CTR_RUNNING)
        return;
    if (rt->ops->container_inspect(rt->ctx, c->id, &cs, NULL) >= 0 &&
        cs.state == CONTAINER_STATE_EXITED) {
        c->term = cs.exit;
    } else {
        /* The monitor died without an exit record: someone killed it. Never report 0. */
        c->term = (ExitRecord){.exit_code = -1};
        (void)snprintf(c->term.reason, sizeof(c->term.reason), "MonitorLost");
        (void)snprintf(c->term.message, sizeof(c->term.message),
                       "podd-monitor %d ended without recording the exit; the container was "
                       "killed through its cgroup",
                       (int)c->monitor_pid);
        (void)snprintf(c->term.started_at, sizeof(c->term.started_at), "%s", c->started_at);
        rfc3339_seconds(0, c->term.finished_at);
    }
    c->has_term = true;
    c->state = CTR_TERMINATED;
    c->stopping = false;
    c->kill_at = 0;
    c->monitor = loop_source_unref(c->monitor);
    (void)ctr_cleanup(c);
    if (c->term.exit_code == 0)
        c->completed = true;
    manager_event(m, pr, c->name, c->term.exit_code == 0 ? "Normal" : "Warning", "Exited",
                  "exit code %d (%s)%s%s", c->term.exit_code, c->term.reason,
                  c->term.message[0] ? ": " : "", c->term.message);
    if (c->kind == CONTAINER_KIND_INIT && c->completed && c->spec && c->spec->init_once) {
        char fp[17];

        spec_fingerprint(c->spec_json ? c->spec_json : c->name, fp);
        (void)state_store_mark_once(m->store, pr->name, c->name, fp);
        ctr_remove_logs(c);
    }
    ctr_apply_policy(c, c->term.exit_code, now);
    /* An immediate restart needs another pass, whoever called us. */
    if (!c->finished && !c->backoff_until)
        manager_mark_dirty(pr);
}

/* ---- dependencies and phase --------------------------------------------------------- */

static bool condition_met(const Ctr *on, GraphCondition cond)
{
    if (cond == GRAPH_CONDITION_COMPLETED)
        return on->completed;
    /* "ready" is "started" until probes exist. */
    return on->state == CTR_RUNNING || on->completed ||
           (on->kind == CONTAINER_KIND_REGULAR && on->ever_started);
}

/* NULL when every dependency of c is met; else the first one that is not. */
static const Ctr *ctr_blocker(PodRec *pr, const Ctr *c, GraphCondition *ret_cond)
{
    int node = graph_find_node(pr->graph, c->name);
    const GraphEdge *edges;
    size_t n;

    if (node < 0)
        return NULL;
    edges = graph_node_edges(pr->graph, (size_t)node, &n);
    for (size_t k = 0; k < n; k++) {
        const Ctr *on = pod_ctr(pr, graph_node_name(pr->graph, edges[k].waited_on));

        if (on && !condition_met(on, edges[k].condition)) {
            *ret_cond = edges[k].condition;
            return on;
        }
    }
    return NULL;
}

static PodPhase pod_phase_of(const PodRec *pr)
{
    bool all_finished = true, all_ok = true, any_started = false, any_regular = false;

    for (size_t i = 0; i < pr->n_ctrs; i++) {
        const Ctr *c = &pr->ctrs[i];

        if (c->orphan)
            continue;
        if (c->kind == CONTAINER_KIND_INIT && c->finished && !c->completed)
            return POD_PHASE_FAILED; /* a failed init container under Never */
        if (c->kind != CONTAINER_KIND_REGULAR)
            continue;
        any_regular = true;
        any_started |= c->ever_started;
        if (!c->finished)
            all_finished = false;
        else if (!c->has_term || c->term.exit_code != 0)
            all_ok = false;
    }
    if (any_regular && all_finished)
        return all_ok ? POD_PHASE_SUCCEEDED : POD_PHASE_FAILED;
    return any_started ? POD_PHASE_RUNNING : POD_PHASE_PENDING;
}

/* ---- stopping --------------------------------------------------------------------------- */

void pod_begin_stop(PodRec *pr)
{
    pr->terminating = true;
    if (!pr->deleting_at[0] &&
        (pr->remove_after_stop || pr->recreate_after_stop || pr->m->shutting_down)) {
        rfc3339_seconds(0, pr->deleting_at);
        pr->deletion_mono = now_monotonic_usec();
    }
    /* Nothing waiting to restart may start again. */
    for (size_t i = 0; i < pr->n_ctrs; i++)
        pr->ctrs[i].backoff_until = 0;
}

bool pod_all_stopped(const PodRec *pr)
{
    for (size_t i = 0; i < pr->n_ctrs; i++)
        if (pr->ctrs[i].state == CTR_RUNNING || pr->ctrs[i].cleanup_pending)
            return false;
    return true;
}

/* Tries again to remove the containers the runtime could not remove before. */
static void pod_retry_cleanups(PodRec *pr)
{
    for (size_t i = 0; i < pr->n_ctrs; i++)
        if (pr->ctrs[i].cleanup_pending)
            (void)ctr_cleanup(&pr->ctrs[i]);
}

static void ctr_enforce_deadline(Ctr *c, uint64_t now)
{
    Manager *m = c->pod->m;
    const RuntimeBackend *rt = pod_rt(c->pod);

    if (c->stopping && c->kill_at && now >= c->kill_at) {
        c->kill_at = 0;
        (void)rt->ops->container_signal(rt->ctx, c->id, SIGKILL, NULL);
        manager_event(m, c->pod, c->name, "Warning", "Killing",
                      "did not stop within its grace period: SIGKILL");
    }
}

/* Stops the pod's containers in reverse graph order: one layer after the other. */
static void pod_drive_stop(PodRec *pr, uint64_t now)
{
    size_t layers = pr->graph ? graph_layer_count(pr->graph) : 0;

    /* Containers outside the graph (gone from the manifest) need no order. */
    for (size_t i = 0; i < pr->n_ctrs; i++)
        if (pr->ctrs[i].orphan || !pr->graph || graph_find_node(pr->graph, pr->ctrs[i].name) < 0)
            ctr_stop(&pr->ctrs[i], now);
    for (size_t l = layers; l > 0; l--) {
        const size_t *nodes;
        size_t n;
        bool running = false;

        nodes = graph_layer_nodes(pr->graph, l - 1, &n);
        for (size_t k = 0; k < n; k++) {
            Ctr *c = pod_ctr(pr, graph_node_name(pr->graph, nodes[k]));

            if (c && c->state == CTR_RUNNING) {
                running = true;
                ctr_stop(c, now);
            }
        }
        if (running)
            break; /* the next layer waits for this one */
    }
    for (size_t i = 0; i < pr->n_ctrs; i++)
        ctr_enforce_deadline(&pr->ctrs[i], now);
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
}

/* Forgets every container: a new instance of the pod starts from nothing. */
static void pod_reset_instance(PodRec *pr)
{
    PdError e = {0};

    for (size_t i = 0; i < pr->n_ctrs; i++)
        ctr_free_fields(&pr->ctrs[i]);
    free(pr->ctrs);
    pr->ctrs = NULL;
    pr->n_ctrs = 0;
    pr->terminating = pr->recreate_after_stop = pr->exit_policy_done = false;
    pr->deleting_at[0] = 0;
    pr->running_hash[0] = 0;
    free(pr->runtime);
    pr->runtime = NULL;
    pr->phase = POD_PHASE_PENDING;
    if (pr->pod && pod_rec_load_spec(pr, &e) < 0)
        log_error("pod=%s/%s: %s; continuing", pr->namespace, pr->name, e.message);
}

/* ---- the step ------------------------------------------------------------------------------ */

static void pod_arm_timer(PodRec *pr, uint64_t now)
{
    uint64_t next = LOOP_TIME_INFINITY;

    for (size_t i = 0; i < pr->n_ctrs; i++) {
        const Ctr *c = &pr->ctrs[i];

        if (c->backoff_until && c->backoff_until < next)
            next = c->backoff_until;
        if (c->stopping && c->kill_at && c->kill_at < next)
            next = c->kill_at;
        if (c->state == CTR_WAITING && streq(c->reason, "ImageNotFound") &&
            now + IMAGE_RETRY_USEC < next)
            next = now + IMAGE_RETRY_USEC;
        if (c->cleanup_pending && now + CLEANUP_RETRY_USEC < next)
            next = now + CLEANUP_RETRY_USEC;
        if (c->start_pending && now + START_PENDING_RETRY_USEC < next)
            next = now + START_PENDING_RETRY_USEC;
    }
    if (!pr->sandbox_up && pr->pod && !pr->terminating && now + IMAGE_RETRY_USEC < next)
        next = now + IMAGE_RETRY_USEC;
    (void)loop_timer_set(pr->timer, next);
}

/* The containers gone from the manifest and those being replaced. */
static void pod_stop_replaced(PodRec *pr, uint64_t now)
{
    for (size_t i = 0; i < pr->n_ctrs;) {
        Ctr *c = &pr->ctrs[i];

        if ((c->orphan || c->replace) && c->state == CTR_RUNNING) {
            ctr_stop(c, now);
            ctr_enforce_deadline(c, now);
        } else if (c->orphan && !c->cleanup_pending) {
            ctr_free_fields(c);
            memmove(c, c + 1, (pr->n_ctrs - i - 1) * sizeof(Ctr));
            pr->n_ctrs--;
            for (size_t k = i; k < pr->n_ctrs; k++)
                if (pr->ctrs[k].monitor)
                    (void)loop_source_set_userdata(pr->ctrs[k].monitor, &pr->ctrs[k]);
            continue;
        } else if (c->replace && !c->cleanup_pending) {
            /* Stopped: the new version starts from nothing. */
            c->replace = false;
            c->ever_started = c->completed = c->finished = false;
            c->has_term = false;
            c->restart_count = c->backoff_step = 0;
            c->backoff_until = 0;
            c->state = CTR_WAITING;
        }
        i++;
    }
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
    return true;
}

static void pod_start_ready_containers(PodRec *pr, uint64_t now)
{
    Manager *m = pr->m;
    const size_t *order;
    size_t n;

    order = graph_start_order(pr->graph, &n);
    for (size_t k = 0; k < n; k++) {
        Ctr *c = pod_ctr(pr, graph_node_name(pr->graph, order[k]));
        _cleanup_free_ char *image_dir = NULL;
        GraphCondition cond;
        const Ctr *blocker;

        if (!c || !c->spec || c->state == CTR_RUNNING || c->finished || c->replace ||
            c->cleanup_pending)
            continue;
        if (c->backoff_until > now)
            continue;
        c->backoff_until = 0;
        if (c->kind == CONTAINER_KIND_INIT && c->spec->init_once && !c->ever_started) {
            char fp[17];

            spec_fingerprint(c->spec_json, fp);
            if (state_store_once_done(m->store, pr->name, c->name, fp) == 1) {
                c->completed = c->finished = true;
                c->state = CTR_TERMINATED;
                c->term = (ExitRecord){.exit_code = 0};
                (void)snprintf(c->term.reason, sizeof(c->term.reason), "Completed");
                (void)snprintf(c->term.message, sizeof(c->term.message),
                               "ran once for this pod instance already");
                c->has_term = true;
                continue;
            }
        }
        blocker = ctr_blocker(pr, c, &cond);
        if (blocker) {
            ctr_set_waiting(c, "PodInitializing", "waiting for %s to be %s", blocker->name,
                            graph_condition_to_string(cond));
            continue;
        }
        image_dir = image_dir_for(m, c->spec->image);
        if (!image_dir) {
            if (!streq(c->reason, "ImageNotFound"))
                manager_event(m, pr, c->name, "Warning", "ImageNotFound",
                              "image '%s' is neither a directory nor in the image store %s",
                              c->spec->image, m->images_dir);
            ctr_set_waiting(c, "ImageNotFound", "image '%s' not found", c->spec->image);
            continue;
        }
        ctr_start(c, image_dir);
    }
}

/* Exit policy: once every regular container has terminated for good. */
static void pod_apply_exit_policy(PodRec *pr)
{
    if (pr->exit_policy_done || !pr->pod ||
        (pr->phase != POD_PHASE_SUCCEEDED && pr->phase != POD_PHASE_FAILED))
        return;
    pr->exit_policy_done = true;
    if (pr->pod->exit_policy == EXIT_POLICY_CONTINUE) {
        manager_event(pr->m, pr, NULL, "Normal", pod_phase_to_string(pr->phase),
                      "every container finished; exit policy continue keeps the sidecars");
        return;
    }
    manager_event(pr->m, pr, NULL, "Normal", pod_phase_to_string(pr->phase),
                  "every container finished; exit policy stop stops the sidecars");
    pod_begin_stop(pr);
}

/* podd.io/runtime names a backend this podd does not have: run nothing rather than another. */
static void pod_wait_for_runtime(PodRec *pr, const char *want)
{
    char have[256] = "";

    for (size_t i = 0; i < pr->m->n_backends; i++)
        (void)snprintf(have + strlen(have), sizeof(have) - strlen(have), "%s%s", i ? ", " : "",
                       pr->m->backends[i].ops->name);

    for (size_t i = 0; i < pr->n_ctrs; i++) {
        Ctr *c = &pr->ctrs[i];

        if (c->state != CTR_WAITING || streq(c->reason, "RuntimeNotAvailable"))
            continue;
        if (i == 0)
            manager_event(pr->m, pr, NULL, "Warning", "RuntimeNotAvailable",
                          "podd.io/runtime '%s' is not available (this podd has %s)", want, have);
        ctr_set_waiting(c, "RuntimeNotAvailable", "runtime '%s' is not available", want);
    }
}

void pod_reconcile(PodRec *pr)
{
    Manager *m = pr->m;
    uint64_t now = now_monotonic_usec();

    pod_retry_cleanups(pr);
    if (pr->terminating) {
        pod_drive_stop(pr, now);
        if (!pod_all_stopped(pr)) {
            pod_arm_timer(pr, now);
            (void)pod_rec_save(pr);
            return;
        }
        pod_destroy_sandbox(pr);
        if (pr->remove_after_stop) {
            manager_event(m, pr, NULL, "Normal", "Removed", "pod stopped and removed");
            manager_drop_pod(m, pr);
            return;
        }
        if (!pr->recreate_after_stop || m->shutting_down) {
            pr->stopped_by_shutdown = m->shutting_down;
            pr->phase = pod_phase_of(pr);
            (void)loop_timer_set(pr->timer, LOOP_TIME_INFINITY);
            (void)pod_rec_save(pr);
            return;
        }
        pod_reset_instance(pr);
    }
    if (!pr->pod)
        return;
    if (!pod_rt(pr)) {
        pod_wait_for_runtime(pr, pr->runtime ? pr->runtime : pod_wanted_runtime(pr));
        (void)pod_rec_save(pr);
        return;
    }
    /* The instance runs under this backend from now on, also after a podd restart. */
    if (!pr->runtime && !(pr->runtime = strdup(pod_rt(pr)->ops->name))) {
        log_error("pod=%s/%s: out of memory; continuing", pr->namespace, pr->name);
        return;
    }
    pod_stop_replaced(pr, now);
    if (pod_ensure_sandbox(pr)) {
        (void)snprintf(pr->running_hash, sizeof(pr->running_hash), "%s", pr->spec_hash);
        if (pr->phase != POD_PHASE_SUCCEEDED && pr->phase != POD_PHASE_FAILED)
            pod_start_ready_containers(pr, now);
    }
    pr->phase = pod_phase_of(pr);
    pod_apply_exit_policy(pr);
    if (pr->terminating) {
        /* The exit policy just began a stop: drive it now. */
        pod_drive_stop(pr, now);
        if (pod_all_stopped(pr))
            pod_destroy_sandbox(pr);
    }
    pod_arm_timer(pr, now);
    (void)pod_rec_save(pr);
}
