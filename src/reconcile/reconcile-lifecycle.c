/* SPDX-License-Identifier: Apache-2.0 */
#include "reconcile.h"

/*
 * The container lifecycle: one switch per state over the events it
 * expects, in the manner of s6-supervise's state x event table. Pure: the
 * time is an argument, nothing here performs I/O or logs.
 *
 *   WAITING --deps met--> (find image) --present--> STARTING --started--> RUNNING
 *      \--absent--> WAITING_IMAGE (looks again)     \--busy--> STARTING (looks again)
 *      \--absent, or present under Always--> PULLING --done--> STARTING
 *                                                \--failed--> PULL_BACKOFF --expired--> WAITING
 *   RUNNING --stop/replace/delete--> STOPPING --grace--> KILLING
 *   RUNNING/STOPPING/KILLING --exit--> REMOVING --removed--> BACKOFF | WAITING | TERMINATED
 *   BACKOFF --expired--> WAITING
 *
 * What follows REMOVING is decided there, once nothing of the run is left:
 * the goal (replace, stop, remove) first, then the restart policy.
 *
 * A run a restart follows (goal RUN, the policy restarts it) is removed
 * lightly (CTR_ACT_KEEP_DIR): its directory stays for the next start. So
 * a container that ran and waits to run again (not TERMINATED) has its
 * directory left, and a stop, deletion or new version before that start
 * goes through REMOVING for the full removal first:
 *   BACKOFF, WAITING..., PULLING, PULL_BACKOFF (ran once) --stop/delete/spec--> REMOVING
 */

DEFINE_STRING_TABLE(
    ctr_state, CtrState,
    _CTR_STATE_MAX, [CTR_STATE_WAITING] = "waiting", [CTR_STATE_WAITING_IMAGE] = "waiting-image",
    [CTR_STATE_WAITING_RUNTIME] = "waiting-runtime", [CTR_STATE_PULLING] = "pulling",
    [CTR_STATE_PULL_BACKOFF] = "pull-backoff", [CTR_STATE_STARTING] = "starting",
    [CTR_STATE_RUNNING] = "running", [CTR_STATE_STOPPING] = "stopping",
    [CTR_STATE_KILLING] = "killing", [CTR_STATE_REMOVING] = "removing",
    [CTR_STATE_BACKOFF] = "backoff", [CTR_STATE_TERMINATED] = "terminated")

DEFINE_STRING_TABLE(
    ctr_reason, CtrReason,
    _CTR_REASON_MAX, [CTR_REASON_NONE] = "", [CTR_REASON_POD_INITIALIZING] = "PodInitializing",
    [CTR_REASON_CONTAINER_CREATING] = "ContainerCreating",
    [CTR_REASON_CRASH_LOOP_BACK_OFF] = "CrashLoopBackOff",
    [CTR_REASON_IMAGE_NOT_FOUND] = "ImageNotFound",
    [CTR_REASON_RUNTIME_NOT_AVAILABLE] = "RuntimeNotAvailable",
    [CTR_REASON_COMPLETED] = "Completed", [CTR_REASON_ERROR] = "Error",
    [CTR_REASON_OOM_KILLED] = "OOMKilled", [CTR_REASON_START_ERROR] = "StartError",
    [CTR_REASON_CREATE_CONTAINER_CONFIG_ERROR] = "CreateContainerConfigError",
    [CTR_REASON_MONITOR_LOST] = "MonitorLost", [CTR_REASON_DEPENDENCY_FAILED] = "DependencyFailed",
    [CTR_REASON_ERR_IMAGE_PULL] = "ErrImagePull",
    [CTR_REASON_IMAGE_PULL_BACK_OFF] = "ImagePullBackOff",
    [CTR_REASON_ERR_IMAGE_NEVER_PULL] = "ErrImageNeverPull")

DEFINE_STRING_TABLE(
    ctr_event_type, CtrEventType,
    _CTR_EV_MAX, [CTR_EV_DEPS_UNMET] = "deps-unmet", [CTR_EV_DEPS_MET] = "deps-met",
    [CTR_EV_IMAGE_PRESENT] = "image-present", [CTR_EV_IMAGE_ABSENT] = "image-absent",
    [CTR_EV_PULL_DONE] = "pull-done", [CTR_EV_PULL_FAILED] = "pull-failed",
    [CTR_EV_IMAGE_ADDED] = "image-added", [CTR_EV_RUNTIME_ABSENT] = "runtime-absent",
    [CTR_EV_STARTED] = "started", [CTR_EV_START_BUSY] = "start-busy",
    [CTR_EV_START_FAILED] = "start-failed", [CTR_EV_ADOPTED] = "adopted",
    [CTR_EV_EXITED] = "exited", [CTR_EV_STOP] = "stop", [CTR_EV_SPEC_CHANGED] = "spec-changed",
    [CTR_EV_DELETED] = "deleted", [CTR_EV_SIGNAL_FAILED] = "signal-failed",
    [CTR_EV_GRACE_EXPIRED] = "grace-expired", [CTR_EV_BACKOFF_EXPIRED] = "backoff-expired",
    [CTR_EV_RETRY] = "retry", [CTR_EV_REMOVED] = "removed", [CTR_EV_REMOVE_BUSY] = "remove-busy",
    [CTR_EV_DEPS_FAILED] = "deps-failed", [CTR_EV_STARTUP_PASSED] = "startup-passed",
    [CTR_EV_READY] = "ready", [CTR_EV_UNREADY] = "unready", [CTR_EV_UNHEALTHY] = "unhealthy",
    [CTR_EV_HOOK_DONE] = "hook-done", [CTR_EV_HOOK_FAILED] = "hook-failed")

DEFINE_STRING_TABLE_FROM(ctr_state, CtrState, _CTR_STATE_MAX, _CTR_STATE_INVALID)
DEFINE_STRING_TABLE_FROM(ctr_reason, CtrReason, _CTR_REASON_MAX, _CTR_REASON_INVALID)

/* ---- policies ------------------------------------------------------------------------- */

RestartPolicy ctr_restart_policy(ContainerKind kind, RestartPolicy pod, bool own_set,
                                 RestartPolicy own)
{
    switch (kind) {
    case CONTAINER_KIND_SIDECAR:
        return RESTART_POLICY_ALWAYS;
    case CONTAINER_KIND_INIT:
        /* An init container runs until it succeeds, or once under Never. */
        return pod == RESTART_POLICY_NEVER ? RESTART_POLICY_NEVER : RESTART_POLICY_ON_FAILURE;
    default:
        return own_set ? own : pod;
    }
}

bool ctr_restarts(RestartPolicy policy, int code)
{
    return policy == RESTART_POLICY_ALWAYS || (policy == RESTART_POLICY_ON_FAILURE && code != 0);
}

uint64_t ctr_backoff_delay(const CtrBackoff *b, unsigned step)
{
    uint64_t d = b->initial_usec;

    /* The first restart after a crash is immediate, as the kubelet does. */
    if (step == 0)
        return 0;
    for (unsigned i = 1; i < step && d < b->max_usec; i++)
        d *= 2;
    return d < b->max_usec ? d : b->max_usec;
}

uint64_t ctr_pull_backoff_delay(const CtrBackoff *b, unsigned failures)
{
    /* As ctr_backoff_delay() without its immediate first step: the first failure waits too. */
    return ctr_backoff_delay(b, failures ? failures : 1);
}

bool ctr_reason_is_waiting(CtrReason r)
{
    switch (r) {
    case CTR_REASON_POD_INITIALIZING:
    case CTR_REASON_CONTAINER_CREATING:
    case CTR_REASON_CRASH_LOOP_BACK_OFF:
    case CTR_REASON_IMAGE_NOT_FOUND:
    case CTR_REASON_RUNTIME_NOT_AVAILABLE:
    case CTR_REASON_DEPENDENCY_FAILED:
    case CTR_REASON_ERR_IMAGE_PULL:
    case CTR_REASON_IMAGE_PULL_BACK_OFF:
    case CTR_REASON_ERR_IMAGE_NEVER_PULL:
        return true;
    default:
        return false;
    }
}

CtrReason ctr_exit_reason(const CtrExit *e)
{
    if (e->monitor_lost)
        return CTR_REASON_MONITOR_LOST;
    if (e->config_error)
        return CTR_REASON_CREATE_CONTAINER_CONFIG_ERROR;
    if (e->start_error)
        return CTR_REASON_START_ERROR;
    if (e->oom_killed)
        return CTR_REASON_OOM_KILLED;
    return e->code == 0 ? CTR_REASON_COMPLETED : CTR_REASON_ERROR;
}

/* ---- records --------------------------------------------------------------------------- */

CtrLife ctr_life_new(ContainerKind kind)
{
    return (CtrLife){
        .state = CTR_STATE_WAITING,
        .goal = CTR_GOAL_RUN,
        .kind = kind,
        .reason = CTR_REASON_POD_INITIALIZING,
    };
}

CtrLife ctr_life_restore(ContainerKind kind, unsigned restart_count, unsigned backoff_step,
                         bool started_once, bool succeeded_once, bool finished,
                         const CtrExit *last_exit)
{
    CtrLife l = ctr_life_new(kind);

    l.restart_count = restart_count;
    l.backoff_step = backoff_step;
    l.started_once = started_once;
    l.succeeded_once = succeeded_once;
    if (last_exit) {
        l.last_exit = *last_exit;
        l.reason = ctr_exit_reason(last_exit);
    }
    if (finished)
        l.state = CTR_STATE_TERMINATED;
    return l;
}

void ctr_life_restore_restart(CtrLife *l, uint64_t restart_at)
{
    if (l->state != CTR_STATE_WAITING || !l->started_once)
        return;
    l->restart_decided = true;
    l->restart_at = restart_at;
}

bool ctr_life_resume_backoff(CtrLife *l, uint64_t now)
{
    if (l->state != CTR_STATE_WAITING || !l->restart_decided || l->restart_at <= now)
        return false;
    l->state = CTR_STATE_BACKOFF;
    l->reason = CTR_REASON_CRASH_LOOP_BACK_OFF;
    l->deadline = l->restart_at;
    return true;
}

uint64_t ctr_life_pending_restart(const CtrLife *l)
{
    if (!l->restart_decided || l->goal != CTR_GOAL_RUN)
        return 0;
    return l->state == CTR_STATE_REMOVING || l->state == CTR_STATE_BACKOFF ? l->restart_at : 0;
}

bool ctr_state_is_down(CtrState s)
{
    return !ctr_state_is_active(s) && s != CTR_STATE_REMOVING;
}

bool ctr_state_is_active(CtrState s)
{
    return s == CTR_STATE_STARTING || ctr_state_shows_running(s);
}

bool ctr_state_shows_running(CtrState s)
{
    return s == CTR_STATE_RUNNING || s == CTR_STATE_STOPPING || s == CTR_STATE_KILLING;
}

bool ctr_condition_met(const CtrLife *on, GraphCondition cond)
{
    if (cond == GRAPH_CONDITION_COMPLETED)
        return on->succeeded_once;
    /* Its postStart hook holds its dependents back. */
    if (on->state == CTR_STATE_RUNNING && on->hook_running)
        return on->succeeded_once;
    if (cond == GRAPH_CONDITION_READY)
        return (ctr_state_shows_running(on->state) && on->ready) || on->succeeded_once;
    /* A regular container stays started. */
    return ctr_state_shows_running(on->state) || on->succeeded_once ||
           (on->kind == CONTAINER_KIND_REGULAR && on->started_once);
}

CtrEventType ctr_deadline_event(CtrState s)
{
    switch (s) {
    case CTR_STATE_STOPPING:
        return CTR_EV_GRACE_EXPIRED;
    case CTR_STATE_BACKOFF:
    case CTR_STATE_PULL_BACKOFF:
        return CTR_EV_BACKOFF_EXPIRED;
    case CTR_STATE_WAITING_IMAGE:
    case CTR_STATE_STARTING:
    case CTR_STATE_REMOVING:
        return CTR_EV_RETRY;
    default:
        return _CTR_EV_INVALID;
    }
}

/* ---- transitions shared by several states ------------------------------------------------ */

static void enter(CtrLife *l, CtrState s, CtrReason reason, uint64_t deadline)
{
    l->state = s;
    l->reason = reason;
    l->deadline = deadline;
}

/* A stop, replacement or removal asked while a run goes on or ends: the strongest wins. */
static void raise_goal(CtrLife *l, CtrGoal goal)
{
    if (goal > l->goal)
        l->goal = goal;
}

static CtrGoal goal_of(CtrEventType t)
{
    return t == CTR_EV_STOP      ? CTR_GOAL_STOP
           : t == CTR_EV_DELETED ? CTR_GOAL_REMOVE
                                 : CTR_GOAL_REPLACE;
}

static unsigned enter_stopping_grace(CtrLife *l, const CtrPolicy *p, uint64_t grace_usec,
                                     uint64_t now)
{
    /* A container being stopped is not ready; a postStart hook still running is cut. */
    l->ready = false;
    l->hook_running = false;
    if (grace_usec == 0) {
        enter(l, CTR_STATE_KILLING, CTR_REASON_NONE, 0);
        return CTR_ACT_SIGKILL | CTR_ACT_EVENT;
    }
    enter(l, CTR_STATE_STOPPING, CTR_REASON_NONE, now + grace_usec);
    /* preStop first, inside the grace period; SIGTERM once it returned. */
    if (p->pre_stop) {
        l->hook_running = true;
        return CTR_ACT_PRE_STOP | CTR_ACT_EVENT;
    }
    return CTR_ACT_SIGTERM | CTR_ACT_EVENT;
}

static unsigned enter_stopping(CtrLife *l, const CtrPolicy *p, uint64_t now)
{
    return enter_stopping_grace(l, p, p->grace_usec, now);
}

/* A run begins: Kubernetes counts restarts done, not restarts planned. */
static void run_begins(CtrLife *l, uint64_t started_mono, bool counts)
{
    if (counts && l->started_once)
        l->restart_count++;
    l->started_once = true;
    l->started_mono = started_mono;
    l->restart_decided = false;
    l->restart_at = 0;
    /* The probes of the new run decide (the manager feeds their first effects). */
    l->startup_passed = l->ready = l->hook_running = false;
}

static unsigned enter_running(CtrLife *l, const CtrPolicy *p, uint64_t now)
{
    enter(l, CTR_STATE_RUNNING, CTR_REASON_NONE, 0);
    /* Told to stop while it started: it stops now that it can be signalled. */
    if (l->goal != CTR_GOAL_RUN)
        return CTR_ACT_EVENT | CTR_ACT_SAVE | enter_stopping(l, p, now);
    return CTR_ACT_EVENT | CTR_ACT_SAVE;
}

/* Whether the run that ended is followed by another under the same goal and policy. */
static bool restart_follows(const CtrLife *l, const CtrPolicy *p)
{
    return l->goal == CTR_GOAL_RUN && ctr_restarts(p->restart, l->last_exit.code);
}

/* The removal of what the run left: its records only when a restart follows. */
static unsigned remove_run(const CtrLife *l, const CtrPolicy *p)
{
    return CTR_ACT_REMOVE | (restart_follows(l, p) ? CTR_ACT_KEEP_DIR : 0);
}

/*
 * The restart after the run that ended: its back-off step counted once, at
 * the exit (a restarted daemon that finds the exit still recorded keeps the
 * decision it restored). A long enough run (ten minutes by default) forgets
 * the crash loop.
 */
static void decide_restart(CtrLife *l, const CtrPolicy *p, uint64_t now)
{
    if (l->restart_decided)
        return;
    if (l->started_once && now - l->started_mono >= p->backoff.reset_usec)
        l->backoff_step = 0;
    l->restart_at = now + ctr_backoff_delay(&p->backoff, l->backoff_step);
    l->backoff_step++;
    l->restart_decided = true;
}

static unsigned run_ended(CtrLife *l, const CtrExit *e, const CtrPolicy *p, uint64_t now)
{
    unsigned act = CTR_ACT_EVENT | CTR_ACT_SAVE;

    l->last_exit = *e;
    l->startup_passed = l->ready = l->hook_running = false;
    enter(l, CTR_STATE_REMOVING, ctr_exit_reason(e), 0);
    if (e->code == 0 && !e->monitor_lost && !e->start_error && !e->config_error) {
        l->succeeded_once = true;
        if (l->kind == CONTAINER_KIND_INIT && p->init_once)
            act |= CTR_ACT_RECORD_ONCE;
    }
    if (restart_follows(l, p))
        decide_restart(l, p, now);
    return act | remove_run(l, p);
}

/*
 * A stop, deletion or new version of a container that ran and waits to run
 * again: its last run left its directory for that (CTR_ACT_KEEP_DIR). The
 * full removal first (of nothing, when a restarted daemon finds it gone),
 * then what removed() decides for the goal.
 */
static unsigned remove_left(CtrLife *l, CtrEventType type)
{
    raise_goal(l, goal_of(type));
    enter(l, CTR_STATE_REMOVING, l->reason, 0);
    return CTR_ACT_REMOVE;
}

/* A new version of the container: nothing of the old one counts. */
static unsigned fresh(CtrLife *l)
{
    *l = ctr_life_new(l->kind);
    return CTR_ACT_FRESH | CTR_ACT_SAVE;
}

/* A new version of a container that does not run: what its last run left goes first. */
static unsigned replace_down(CtrLife *l)
{
    return l->started_once ? remove_left(l, CTR_EV_SPEC_CHANGED) : fresh(l);
}

/*
 * Nothing of the run is left: what now? A restart waits out what is left of
 * the back-off decided at the exit; the state saved then holds it already.
 */
static unsigned removed(CtrLife *l, const CtrPolicy *p, uint64_t now)
{
    switch (l->goal) {
    case CTR_GOAL_REMOVE:
        enter(l, CTR_STATE_TERMINATED, l->reason, 0);
        return CTR_ACT_FORGET | CTR_ACT_SAVE;
    case CTR_GOAL_STOP:
        enter(l, CTR_STATE_TERMINATED, l->reason, 0);
        return CTR_ACT_SAVE;
    case CTR_GOAL_REPLACE:
        return fresh(l);
    default:
        break;
    }
    if (!ctr_restarts(p->restart, l->last_exit.code)) {
        enter(l, CTR_STATE_TERMINATED, l->reason, 0);
        return CTR_ACT_SAVE;
    }
    /* run_ended() decided it: the goal was RUN then too, and the policy is the same. */
    if (l->restart_at <= now) {
        enter(l, CTR_STATE_WAITING, CTR_REASON_CONTAINER_CREATING, 0);
        return 0;
    }
    enter(l, CTR_STATE_BACKOFF, CTR_REASON_CRASH_LOOP_BACK_OFF, l->restart_at);
    return CTR_ACT_EVENT;
}

/* The image is pulled (or a pull of it under way joined); the start follows its end. */
static unsigned enter_pulling(CtrLife *l)
{
    enter(l, CTR_STATE_PULLING, CTR_REASON_CONTAINER_CREATING, 0);
    return CTR_ACT_PULL_IMAGE | CTR_ACT_EVENT;
}

/*
 * A start begins: the restart the last exit decided is under way, and the
 * end of this attempt (even one that never runs) decides the next.
 */
static void enter_starting(CtrLife *l)
{
    enter(l, CTR_STATE_STARTING, CTR_REASON_CONTAINER_CREATING, 0);
    l->restart_decided = false;
    l->restart_at = 0;
}

static unsigned image_present(CtrLife *l, const CtrEvent *ev, const CtrPolicy *p)
{
    if (p->pull == CTR_PULL_ALWAYS && !ev->local)
        return enter_pulling(l);
    enter_starting(l);
    /* kubelet's "already present on machine", for an image a registry could have pulled. */
    if (!ev->local && p->pull != CTR_PULL_NONE)
        return CTR_ACT_START | CTR_ACT_EVENT;
    return CTR_ACT_START;
}

static unsigned image_absent(CtrLife *l, const CtrPolicy *p, uint64_t now)
{
    CtrReason reason = CTR_REASON_IMAGE_NOT_FOUND;
    bool news;

    switch (p->pull) {
    case CTR_PULL_ALWAYS:
    case CTR_PULL_IF_NOT_PRESENT:
        return enter_pulling(l);
    case CTR_PULL_NEVER:
        reason = CTR_REASON_ERR_IMAGE_NEVER_PULL;
        break;
    default:
        break;
    }
    /* Not there, and not to be pulled: it looks again (a load, podctl image pull may bring it). */
    news = l->state != CTR_STATE_WAITING_IMAGE || l->reason != reason;
    enter(l, CTR_STATE_WAITING_IMAGE, reason, now + p->image_retry_usec);
    return news ? CTR_ACT_EVENT : 0;
}

/* ---- one case per state ----------------------------------------------------------------- */

/*
 * A stop or delete of a container with no process of its own (waiting, pulling,
 * back-off): it is done at once, and forgotten when deleted; once the
 * directory its last run kept is removed, when it ran before.
 */
static unsigned end_unstarted(CtrLife *l, CtrEventType type)
{
    if (l->started_once)
        return remove_left(l, type);
    raise_goal(l, goal_of(type));
    enter(l, CTR_STATE_TERMINATED, l->reason, 0);
    return CTR_ACT_SAVE | (type == CTR_EV_DELETED ? CTR_ACT_FORGET : 0);
}

/* WAITING, WAITING_IMAGE and WAITING_RUNTIME: nothing runs; the start is what comes next. */
static unsigned step_waiting(CtrLife *l, const CtrEvent *ev, const CtrPolicy *p, uint64_t now)
{
    switch (ev->type) {
    case CTR_EV_DEPS_UNMET:
        enter(l, CTR_STATE_WAITING, CTR_REASON_POD_INITIALIZING, 0);
        return 0;
    case CTR_EV_DEPS_MET:
        return CTR_ACT_FIND_IMAGE;
    case CTR_EV_DEPS_FAILED: {
        bool news = l->reason != CTR_REASON_DEPENDENCY_FAILED;

        /* It never starts; the pod's phase counts it as failed. */
        enter(l, CTR_STATE_WAITING, CTR_REASON_DEPENDENCY_FAILED, 0);
        return news ? CTR_ACT_EVENT : 0;
    }
    case CTR_EV_IMAGE_PRESENT:
        return image_present(l, ev, p);
    case CTR_EV_IMAGE_ABSENT:
        return image_absent(l, p, now);
    case CTR_EV_RETRY:
        /* WAITING_IMAGE's timer: the next dependency check looks for the image again. */
        l->deadline = 0;
        return 0;
    case CTR_EV_RUNTIME_ABSENT:
        if (l->state == CTR_STATE_WAITING_RUNTIME)
            return 0;
        enter(l, CTR_STATE_WAITING_RUNTIME, CTR_REASON_RUNTIME_NOT_AVAILABLE, 0);
        return CTR_ACT_EVENT;
    case CTR_EV_ADOPTED:
        /* A run a previous daemon (or a monitor of it) started goes on. */
        run_begins(l, ev->started_mono ? ev->started_mono : now, false);
        return enter_running(l, p, now);
    case CTR_EV_EXITED:
        /* A run of a previous daemon ended while no daemon watched: how long it ran counts. */
        if (!l->started_once)
            return 0;
        if (ev->started_mono)
            l->started_mono = ev->started_mono;
        return run_ended(l, &ev->exit, p, now);
    case CTR_EV_STOP:
    case CTR_EV_DELETED:
        return end_unstarted(l, ev->type);
    case CTR_EV_SPEC_CHANGED:
        /* Never started in this instance: the new version simply starts. */
        return l->started_once ? replace_down(l) : 0;
    default:
        return 0;
    }
}

/* PULLING: the end of the pull is what comes next; dependencies are not asked again. */
static unsigned step_pulling(CtrLife *l, const CtrEvent *ev, const CtrPolicy *p, uint64_t now)
{
    switch (ev->type) {
    case CTR_EV_PULL_DONE:
        l->pull_failures = 0;
        enter_starting(l);
        return CTR_ACT_START | CTR_ACT_EVENT;
    case CTR_EV_PULL_FAILED:
        l->pull_failures++;
        enter(l, CTR_STATE_PULL_BACKOFF, CTR_REASON_ERR_IMAGE_PULL,
              now + ctr_pull_backoff_delay(&p->pull_backoff, l->pull_failures));
        return CTR_ACT_EVENT;
    case CTR_EV_STOP:
    case CTR_EV_DELETED:
        /* The pull goes on for whoever else waits for it; this container is done. */
        return end_unstarted(l, ev->type);
    case CTR_EV_SPEC_CHANGED:
        return l->started_once ? replace_down(l) : 0;
    default:
        return 0;
    }
}

/*
 * PULL_BACKOFF: ErrImagePull until the next look at it (DEPS_MET, as the
 * kubelet's next sync), then ImagePullBackOff until the deadline.
 */
static unsigned step_pull_backoff(CtrLife *l, const CtrEvent *ev, const CtrPolicy *p, uint64_t now)
{
    switch (ev->type) {
    case CTR_EV_DEPS_MET:
        if (l->reason != CTR_REASON_ERR_IMAGE_PULL)
            return 0;
        l->reason = CTR_REASON_IMAGE_PULL_BACK_OFF;
        return CTR_ACT_EVENT;
    case CTR_EV_DEPS_FAILED:
        enter(l, CTR_STATE_WAITING, CTR_REASON_DEPENDENCY_FAILED, 0);
        return CTR_ACT_EVENT;
    case CTR_EV_BACKOFF_EXPIRED:
    case CTR_EV_IMAGE_ADDED:
        /* The next dependency check looks for the image again (and pulls it, if need be). */
        enter(l, CTR_STATE_WAITING, CTR_REASON_IMAGE_PULL_BACK_OFF, 0);
        return 0;
    case CTR_EV_STOP:
    case CTR_EV_DELETED:
        return end_unstarted(l, ev->type);
    case CTR_EV_SPEC_CHANGED:
        /* The failures were the old version's. */
        return replace_down(l);
    default:
        return 0;
    }
}

static unsigned step_starting(CtrLife *l, const CtrEvent *ev, const CtrPolicy *p, uint64_t now)
{
    switch (ev->type) {
    case CTR_EV_STARTED: {
        unsigned act;

        run_begins(l, now, true);
        act = enter_running(l, p, now);
        /* A new run (not one adopted) runs its postStart hook first. */
        if (l->state == CTR_STATE_RUNNING && p->post_start) {
            l->hook_running = true;
            act |= CTR_ACT_POST_START;
        }
        return act;
    }
    case CTR_EV_ADOPTED:
        run_begins(l, ev->started_mono ? ev->started_mono : now, false);
        return enter_running(l, p, now);
    case CTR_EV_START_BUSY:
        enter(l, CTR_STATE_STARTING, CTR_REASON_CONTAINER_CREATING, now + p->start_retry_usec);
        return 0;
    case CTR_EV_RETRY:
        l->deadline = 0;
        return CTR_ACT_START;
    case CTR_EV_START_FAILED:
        run_begins(l, now, true);
        return run_ended(l, &ev->exit, p, now);
    case CTR_EV_EXITED:
        /* Its twin, started by a killed daemon, has ended already. */
        run_begins(l, now, false);
        return run_ended(l, &ev->exit, p, now);
    case CTR_EV_STOP:
    case CTR_EV_DELETED:
    case CTR_EV_SPEC_CHANGED:
        /* It cannot be signalled before it runs: the stop comes once it does. */
        raise_goal(l, goal_of(ev->type));
        return 0;
    default:
        return 0;
    }
}

static unsigned step_running(CtrLife *l, const CtrEvent *ev, const CtrPolicy *p, uint64_t now)
{
    switch (ev->type) {
    case CTR_EV_EXITED:
        return run_ended(l, &ev->exit, p, now);
    case CTR_EV_STARTUP_PASSED:
        if (l->startup_passed)
            return 0;
        l->startup_passed = true;
        return CTR_ACT_SAVE;
    case CTR_EV_READY:
    case CTR_EV_UNREADY:
        if (l->ready == (ev->type == CTR_EV_READY))
            return 0;
        l->ready = ev->type == CTR_EV_READY;
        return CTR_ACT_SAVE;
    case CTR_EV_UNHEALTHY:
    case CTR_EV_HOOK_FAILED:
        if (ev->type == CTR_EV_HOOK_FAILED && !l->hook_running)
            return 0;
        /* The goal stays RUN: once it is removed, the restart policy decides. */
        return enter_stopping_grace(l, p, ev->grace_set ? ev->grace_usec : p->grace_usec, now);
    case CTR_EV_HOOK_DONE:
        if (!l->hook_running)
            return 0;
        l->hook_running = false;
        return CTR_ACT_SAVE;
    case CTR_EV_STOP:
    case CTR_EV_DELETED:
    case CTR_EV_SPEC_CHANGED:
        raise_goal(l, goal_of(ev->type));
        return enter_stopping(l, p, now);
    default:
        return 0;
    }
}

/* STOPPING and KILLING: the exit is what comes next. */
static unsigned step_stopping(CtrLife *l, const CtrEvent *ev, const CtrPolicy *p, uint64_t now)
{
    switch (ev->type) {
    case CTR_EV_EXITED:
        return run_ended(l, &ev->exit, p, now);
    case CTR_EV_GRACE_EXPIRED:
    case CTR_EV_SIGNAL_FAILED:
        if (l->state != CTR_STATE_STOPPING)
            return 0;
        /* A preStop hook still running is cut at the grace period. */
        l->hook_running = false;
        enter(l, CTR_STATE_KILLING, CTR_REASON_NONE, 0);
        return CTR_ACT_SIGKILL | CTR_ACT_EVENT;
    case CTR_EV_HOOK_DONE:
        if (l->state != CTR_STATE_STOPPING || !l->hook_running)
            return 0;
        l->hook_running = false;
        return CTR_ACT_SIGTERM;
    case CTR_EV_STOP:
    case CTR_EV_DELETED:
    case CTR_EV_SPEC_CHANGED:
        raise_goal(l, goal_of(ev->type));
        return 0;
    default:
        return 0;
    }
}

static unsigned step_removing(CtrLife *l, const CtrEvent *ev, const CtrPolicy *p, uint64_t now)
{
    switch (ev->type) {
    case CTR_EV_REMOVED:
        return removed(l, p, now);
    case CTR_EV_REMOVE_BUSY:
        l->deadline = now + p->remove_retry_usec;
        return 0;
    case CTR_EV_RETRY:
        l->deadline = 0;
        /* The goal may have changed since: decided again. */
        return remove_run(l, p);
    case CTR_EV_STOP:
    case CTR_EV_DELETED:
    case CTR_EV_SPEC_CHANGED:
        raise_goal(l, goal_of(ev->type));
        return 0;
    default:
        return 0;
    }
}

static unsigned step_backoff(CtrLife *l, const CtrEvent *ev, const CtrPolicy *p, uint64_t now)
{
    switch (ev->type) {
    case CTR_EV_BACKOFF_EXPIRED:
        enter(l, CTR_STATE_WAITING, CTR_REASON_CONTAINER_CREATING, 0);
        return 0;
    case CTR_EV_STOP:
    case CTR_EV_DELETED:
        return end_unstarted(l, ev->type);
    case CTR_EV_SPEC_CHANGED:
        /* The crash loop was the old version's. */
        return replace_down(l);
    default:
        return 0;
    }
}

static unsigned step_terminated(CtrLife *l, const CtrEvent *ev, const CtrPolicy *p, uint64_t now)
{
    switch (ev->type) {
    case CTR_EV_SPEC_CHANGED:
        /* A new version of a container that finished runs again, if the pod still runs. */
        return l->started_once && l->goal == CTR_GOAL_RUN ? fresh(l) : 0;
    case CTR_EV_DELETED:
        raise_goal(l, CTR_GOAL_REMOVE);
        return CTR_ACT_FORGET | CTR_ACT_SAVE;
    case CTR_EV_STOP:
        raise_goal(l, CTR_GOAL_STOP);
        return 0;
    default:
        return 0;
    }
}

unsigned ctr_step(CtrLife *l, const CtrEvent *ev, const CtrPolicy *p, uint64_t now)
{
    switch (l->state) {
    case CTR_STATE_WAITING:
    case CTR_STATE_WAITING_IMAGE:
    case CTR_STATE_WAITING_RUNTIME:
        return step_waiting(l, ev, p, now);
    case CTR_STATE_PULLING:
        return step_pulling(l, ev, p, now);
    case CTR_STATE_PULL_BACKOFF:
        return step_pull_backoff(l, ev, p, now);
    case CTR_STATE_STARTING:
        return step_starting(l, ev, p, now);
    case CTR_STATE_RUNNING:
        return step_running(l, ev, p, now);
    case CTR_STATE_STOPPING:
    case CTR_STATE_KILLING:
        return step_stopping(l, ev, p, now);
    case CTR_STATE_REMOVING:
        return step_removing(l, ev, p, now);
    case CTR_STATE_BACKOFF:
        return step_backoff(l, ev, p, now);
    case CTR_STATE_TERMINATED:
        return step_terminated(l, ev, p, now);
    default:
        return 0;
    }
}
