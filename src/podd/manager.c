/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include <libgen.h>

#include "manager-internal.h"
#include "reconcile/reconcile.h"

void rfc3339_seconds(uint64_t offset_usec, char buf[40])
{
    /* Now, plus the offset rounded up to whole seconds. */
    (void)format_rfc3339(now_realtime_usec() + (offset_usec + 999999) / 1000000 * 1000000, buf, 40);
}

/* ---- records ---------------------------------------------------------------------- */

PodRec *manager_find_pod(const Manager *m, const char *name)
{
    for (size_t i = 0; i < m->n_pods; i++)
        if (streq(m->pods[i]->name, name))
            return m->pods[i];
    return NULL;
}

static int on_view_changed(LoopSource *s, void *userdata);

/* The pods' views are published at the end of this iteration of the loop. */
static void manager_view_changed(Manager *m)
{
    if (m->view_source)
        (void)loop_source_set_enabled(m->view_source, LOOP_SOURCE_ONESHOT);
}

void pod_rec_view_changed(PodRec *pr)
{
    pr->view = shared_text_unref(pr->view);
    manager_view_changed(pr->m);
}

void manager_mark_dirty(PodRec *pr)
{
    pod_rec_view_changed(pr);
    pr->dirty = true;
    (void)loop_source_set_enabled(pr->m->reconcile, LOOP_SOURCE_ONESHOT);
}

void pod_rec_free(PodRec *pr)
{
    if (!pr)
        return;
    for (size_t i = 0; i < pr->n_ctrs; i++)
        ctr_free_fields(&pr->ctrs[i]);
    free(pr->ctrs);
    graph_free(pr->graph);
    json_decref(pr->level);
    free(pr->level_text);
    manifest_watch_pin_release(pr->pin);
    strv_free(pr->held_images);
    strv_free(pr->held_ctrs);
    free(pr->held_summary);
    free(pr->held_pulls);
    shared_text_unref(pr->view);
    free(pr->source);
    free(pr->runtime);
    loop_source_unref(pr->timer);
    free(pr->name);
    free(pr->namespace);
    free(pr);
}

static int on_pod_timer(LoopSource *s, uint64_t deadline, void *userdata)
{
    manager_mark_dirty(userdata);
    return 0;
}

static PodRec *pod_rec_new(Manager *m, const char *name, const char *namespace)
{
    PodRec *pr = calloc(1, sizeof(PodRec));
    PodRec **np;

    if (!pr)
        return NULL;
    pr->m = m;
    pr->name = strdup(name);
    pr->namespace = strdup(namespace ? namespace : "default");
    np = reallocarray(m->pods, m->n_pods + 1, sizeof(PodRec *));
    if (!pr->name || !pr->namespace || !np ||
        loop_add_timer(m->loop, &pr->timer, LOOP_TIME_INFINITY, on_pod_timer, pr) < 0) {
        if (np)
            m->pods = np;
        pod_rec_free(pr);
        return NULL;
    }
    m->pods = np;
    m->pods[m->n_pods++] = pr;
    manager_view_changed(m);
    pr->life = pod_life_new();
    rfc3339_seconds(0, pr->created_at);
    return pr;
}

/* A pod gone for good takes its logs with it; one replaced under its name keeps them. */
static void manager_forget_pod_logs(Manager *m, const char *namespace, const char *name)
{
    int r = runtime_pod_logs_remove(m->cfg.log_dir, namespace, name);

    if (r < 0)
        log_warning_errno(r, "pod=%s/%s: cannot remove its logs under %s; continuing", namespace,
                          name, m->cfg.log_dir);
}

void manager_drop_pod(Manager *m, PodRec *pr)
{
    for (size_t i = 0; i < m->n_pods; i++)
        if (m->pods[i] == pr) {
            memmove(&m->pods[i], &m->pods[i + 1], (m->n_pods - i - 1) * sizeof(PodRec *));
            m->n_pods--;
            manager_view_changed(m);
            break;
        }
    manager_forget_pod_logs(m, pr->namespace, pr->name);
    (void)state_store_remove_pod(m->store, pr->name);
    pod_rec_free(pr);
}

/* ---- events ----------------------------------------------------------------------- */

static void event_rec_done(EventRec *r)
{
    free(r->pod);
    free(r->text);
    *r = (EventRec){0};
}

/* An event's text (taken) goes into the ring, the oldest out when it is full. 0 or -ENOMEM. */
static int events_push_text(Manager *m, uint64_t seq, const char *pod, char *text_take)
{
    EventRec r = {.seq = seq, .text = text_take};

    r.pod = pod ? strdup(pod) : NULL;
    if (!r.text || (pod && !r.pod)) {
        event_rec_done(&r);
        return -ENOMEM;
    }
    if (m->n_events == MANAGER_MAX_EVENTS) {
        event_rec_done(&m->events[m->events_first]);
        m->events_first = (m->events_first + 1) % MANAGER_MAX_EVENTS;
        m->n_events--;
    }
    m->events[(m->events_first + m->n_events++) % MANAGER_MAX_EVENTS] = r;
    return 0;
}

/* e (consumed) goes into the ring as its compact text. 0 or -ENOMEM. */
static int events_push_take(Manager *m, json_t *e_take)
{
    _cleanup_json_ json_t *e = e_take;

    return events_push_text(m, (uint64_t)json_integer_value(json_object_get(e, "seq")),
                            json_string_value(json_object_get(e, "pod")),
                            json_dumps(e, JSON_COMPACT));
}

/* ,"key":"value", as json_dumps(JSON_COMPACT) writes it for the values event_add() has. */
static int event_field(StrBuf *b, const char *key, const char *value)
{
    int r = strbuf_printf(b, ",\"%s\":", key);

    return r < 0 ? r : strbuf_append_json_string(b, value);
}

static void events_clear(Manager *m)
{
    for (size_t i = 0; i < m->n_events; i++)
        event_rec_done(&m->events[(m->events_first + i) % MANAGER_MAX_EVENTS]);
    m->events_first = m->n_events = 0;
}

/* One more event in the ring; pod is NULL for a manifest that names none. */
static void event_add(Manager *m, const char *pod, const char *container, const char *file,
                      const char *type, const char *reason, const char *msg)
{
    char when[40], safe_msg[4096], safe_file[1024], safe_pod[512];
    StrBuf b = {0};
    int r;

    /* Every reader of events (podctl on a terminal first) gets one line, read as written. */
    (void)str_escape_untrusted(msg, safe_msg, sizeof(safe_msg));
    if (file)
        file = str_escape_untrusted(file, safe_file, sizeof(safe_file));
    if (pod) /* the name an invalid manifest gives is not checked yet */
        pod = str_escape_untrusted(pod, safe_pod, sizeof(safe_pod));
    rfc3339_seconds(0, when);
    /*
     * The text json_dumps(JSON_COMPACT) makes of {seq, pod, container,
     * file, type, reason, message, count 1, firstTimestamp, lastTimestamp}
     * (the nulls left out), written at once: an event per step of a crash
     * loop made and freed a JSON object each.
     */
    r = strbuf_printf(&b, "{\"seq\":%" PRIu64, m->event_seq + 1);
    if (r >= 0 && pod)
        r = event_field(&b, "pod", pod);
    if (r >= 0 && container)
        r = event_field(&b, "container", container);
    if (r >= 0 && file)
        r = event_field(&b, "file", file);
    if (r >= 0)
        r = event_field(&b, "type", type);
    if (r >= 0)
        r = event_field(&b, "reason", reason);
    if (r >= 0)
        r = event_field(&b, "message", safe_msg);
    if (r >= 0)
        r = strbuf_append(&b, ",\"count\":1", 10);
    if (r >= 0)
        r = event_field(&b, "firstTimestamp", when);
    if (r >= 0)
        r = event_field(&b, "lastTimestamp", when);
    if (r >= 0)
        r = strbuf_append(&b, "}", 1);
    if (r < 0) {
        strbuf_done(&b);
        return;
    }
    /* The ring takes the text. */
    if (events_push_text(m, m->event_seq + 1, pod, b.data) < 0)
        return;
    m->event_seq++;
    /* Kept across restarts: one write for a burst, a moment after its first event. */
    if (!m->events_dirty && m->events_timer) {
        m->events_dirty = true;
        (void)loop_timer_set(m->events_timer, now_monotonic_usec() + EVENTS_SAVE_DELAY_USEC);
    }
}

/* The events of the ring after seq, oldest first, a line each. 0 or -ENOMEM. */
static int events_lines(const Manager *m, uint64_t after_seq, StrBuf *out, size_t *ret_n)
{
    size_t first = m->n_events;
    int r = 0;

    while (first > 0 &&
           m->events[(m->events_first + first - 1) % MANAGER_MAX_EVENTS].seq > after_seq)
        first--;
    *ret_n = m->n_events - first;
    for (size_t i = first; r >= 0 && i < m->n_events; i++) {
        const EventRec *e = &m->events[(m->events_first + i) % MANAGER_MAX_EVENTS];

        r = strbuf_append(out, e->text, strlen(e->text));
        if (r >= 0)
            r = strbuf_append(out, "\n", 1);
    }
    return r;
}

/*
 * A burst goes at the end of the journal; the ring is written whole when
 * the journal holds twice the ring (or a megabyte), or cannot be appended to
 * (none yet, an older podd's file, a line cut by a crash, a failed append).
 */
static int events_write(Manager *m)
{
    _cleanup_(strbuf_done) StrBuf text = {0};
    size_t n = 0;
    int r;

    if (m->journal_appendable) {
        r = events_lines(m, m->journal_seq, &text, &n);
        if (r < 0)
            return r;
        if (m->journal_lines + n <= 2 * MANAGER_MAX_EVENTS &&
            m->journal_bytes + text.len <= EVENTS_JOURNAL_MAX_BYTES) {
            r = state_store_append_events_text(m->store, text.data ? text.data : "", text.len);
            if (r >= 0) {
                m->journal_lines += n;
                m->journal_bytes += text.len;
                return 0;
            }
            /* Whatever it left (a part of a line, perhaps), the whole ring replaces it. */
            m->journal_appendable = false;
            if (r != -ENOENT)
                return r;
        }
        strbuf_done(&text);
    }
    r = events_lines(m, 0, &text, &n);
    if (r >= 0)
        r = state_store_save_events_text(m->store, text.data ? text.data : "", text.len,
                                         m->event_seq);
    if (r < 0)
        return r;
    m->journal_lines = n;
    m->journal_bytes = text.len;
    m->journal_appendable = true;
    return 0;
}

/* Writes the new events; a failed write is tried again later. */
static void manager_save_events(Manager *m)
{
    int r;

    if (!m->events_dirty)
        return;
    r = events_write(m);
    if (r < 0) {
        log_warning_errno(r, "cannot save the recent events in %s/%s: %s; retrying",
                          m->cfg.state_dir, STATE_EVENTS_FILE, strerror(-r));
        if (m->events_timer)
            (void)loop_timer_set(m->events_timer, now_monotonic_usec() + EVENTS_SAVE_RETRY_USEC);
        return;
    }
    m->journal_seq = m->event_seq;
    m->events_dirty = false;
}

static int on_events_timer(LoopSource *s, uint64_t deadline, void *userdata)
{
    manager_save_events(userdata);
    return 0;
}

/* The events a previous podd kept: shown again, and the sequence goes on after them. */
static void manager_load_events(Manager *m)
{
    StateEvents got = {0};
    PdError e = {0};
    int r;

    r = state_store_load_events(m->store, MANAGER_MAX_EVENTS, &got, &e);
    if (r == -ENOENT)
        return;
    if (r < 0) {
        log_warning("%s: %s; continuing without the earlier events", m->cfg.state_dir, e.message);
        return;
    }
    events_clear(m);
    for (size_t i = 0; i < json_array_size(got.events); i++)
        if (events_push_take(m, json_incref(json_array_get(got.events, i))) < 0)
            break;
    json_decref(got.events);
    if (got.seq > m->event_seq)
        m->event_seq = got.seq;
    m->journal_seq = m->event_seq;
    m->journal_lines = got.lines;
    m->journal_bytes = got.bytes;
    m->journal_appendable = got.appendable;
}

void manager_event(Manager *m, const PodRec *pr, const char *container, const char *type,
                   const char *reason, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (container)
        log_info("pod=%s/%s container=%s %s: %s", pr->namespace, pr->name, container, reason, msg);
    else
        log_info("pod=%s/%s %s: %s", pr->namespace, pr->name, reason, msg);
    event_add(m, pr->name, container, NULL, type, reason, msg);
}

void manager_file_event(Manager *m, const char *file, const char *type, const char *reason,
                        const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    event_add(m, NULL, NULL, file, type, reason, msg);
}

/* ---- persistence ------------------------------------------------------------------ */

static json_t *exit_record_to_json(const ExitRecord *e)
{
    return json_pack("{s:i,s:i,s:b,s:s,s:s,s:s,s:s}", "exitCode", e->exit_code, "signal", e->signal,
                     "oomKilled", e->oom_killed, "startedAt", e->started_at, "finishedAt",
                     e->finished_at, "reason", e->reason, "message", e->message);
}

static void exit_record_from_json(json_t *j, ExitRecord *e)
{
    const char *s;

    *e = (ExitRecord){.exit_code = -1};
    e->exit_code = (int)json_integer_value(json_object_get(j, "exitCode"));
    e->signal = (int)json_integer_value(json_object_get(j, "signal"));
    e->oom_killed = json_is_true(json_object_get(j, "oomKilled"));
    if ((s = json_string_value(json_object_get(j, "startedAt"))))
        (void)snprintf(e->started_at, sizeof(e->started_at), "%s", s);
    if ((s = json_string_value(json_object_get(j, "finishedAt"))))
        (void)snprintf(e->finished_at, sizeof(e->finished_at), "%s", s);
    if ((s = json_string_value(json_object_get(j, "reason"))))
        (void)snprintf(e->reason, sizeof(e->reason), "%s", s);
    if ((s = json_string_value(json_object_get(j, "message"))))
        (void)snprintf(e->message, sizeof(e->message), "%s", s);
}

static void digest_str(Sha256 *h, const char *s)
{
    /* With its NUL: "ab" + "c" differs from "a" + "bc". */
    s = s ? s : "";
    sha256_update(h, s, strlen(s) + 1);
}

/*
 * What a podd after a crash of the host must not lose: the version that ran,
 * the phase, the exit policy, and per container whether it ever started,
 * completed or finished for good and under which spec. Not the bookkeeping
 * that each restart of a crash loop changes.
 */
static void pod_rec_durable_digest(const PodRec *pr, char out[static CONTENT_HASH_MAX])
{
    Sha256 h;

    sha256_init(&h);
    digest_str(&h, pr->namespace);
    digest_str(&h, pr->running_hash);
    digest_str(&h, pod_phase_to_string(pr->phase));
    digest_str(&h, pr->created_at);
    digest_str(&h, pr->runtime);
    digest_str(&h, pod_life_exit_policy_done(&pr->life) ? "1" : "0");
    digest_str(&h, pr->sandbox_up ? "1" : "0");
    digest_str(&h, pod_life_stopped_by_shutdown(&pr->life) ? "1" : "0");
    digest_str(&h, pod_life_evicted(&pr->life) ? pr->evicted_message : "");
    digest_str(&h, pr->held != PLAN_IMAGE_PRESENT ? "held" : "");
    for (size_t i = 0; i < pr->n_ctrs; i++) {
        const Ctr *c = &pr->ctrs[i];

        digest_str(&h, c->name);
        digest_str(&h, c->id);
        digest_str(&h, c->life.started_once ? "1" : "0");
        digest_str(&h, c->life.succeeded_once ? "1" : "0");
        digest_str(&h, c->life.state == CTR_STATE_TERMINATED ? "1" : "0");
        digest_str(&h, c->spec_json);
    }
    sha256_final_hex(&h, out);
}

/*
 * The pod's state file: which version runs and, per container, what a new
 * daemon needs to carry on: restart count, last termination, whether it
 * completed or finished for good. Running monitors are found again through
 * the runtime's pid files, exits through its exit records.
 */
static json_t *probe_counts_to_json(const ProbeCounts *p)
{
    json_t *s = json_array(), *f = json_array();

    for (ProbeKind k = 0; k < _PROBE_KIND_MAX; k++) {
        (void)json_array_append_new(s, json_integer(p->successes[k]));
        (void)json_array_append_new(f, json_integer(p->failures[k]));
    }
    return json_pack("{s:o,s:o,s:b,s:b}", "successes", s, "failures", f, "started", p->started,
                     "ready", p->ready);
}

static bool probe_counts_from_json(const json_t *o, ProbeCounts *ret)
{
    const json_t *s = json_object_get(o, "successes"), *f = json_object_get(o, "failures");

    if (!json_is_array(s) || !json_is_array(f) || json_array_size(s) != _PROBE_KIND_MAX ||
        json_array_size(f) != _PROBE_KIND_MAX)
        return false;
    *ret = (ProbeCounts){.started = json_is_true(json_object_get(o, "started")),
                         .ready = json_is_true(json_object_get(o, "ready"))};
    for (ProbeKind k = 0; k < _PROBE_KIND_MAX; k++) {
        ret->successes[k] = (uint32_t)json_integer_value(json_array_get(s, k));
        ret->failures[k] = (uint32_t)json_integer_value(json_array_get(f, k));
    }
    return true;
}

static void pod_rec_retry_save(PodRec *pr, int error, const char *what);

int pod_rec_save(PodRec *pr)
{
    _cleanup_json_ json_t *st = NULL;
    ProbeCounts counts;
    json_t *ctrs = NULL;
    uint64_t pending, now_mono = now_monotonic_usec(), now_real = now_realtime_usec();
    int r = -ENOMEM;

    st = json_pack("{s:i,s:s,s:s,s:s,s:s,s:b,s:b,s:b}", "version", 1, "namespace", pr->namespace,
                   "runningHash", pr->running_hash, "phase", pod_phase_to_string(pr->phase),
                   "createdAt", pr->created_at, "exitPolicyDone",
                   pod_life_exit_policy_done(&pr->life), "sandbox", pr->sandbox_up, "stopped",
                   pod_life_stopped_by_shutdown(&pr->life));
    if (st && json_object_set_new(st, "containers", ctrs = json_object()) < 0)
        ctrs = NULL;
    if (ctrs && pr->runtime && json_object_set_new(st, "runtime", json_string(pr->runtime)) < 0)
        ctrs = NULL;
    if (ctrs && pod_life_evicted(&pr->life) &&
        json_object_set_new(st, "evicted", json_string(pr->evicted_message)) < 0)
        ctrs = NULL;
    /*
     * Make before break: a newer version waits for its images and the
     * manifest no longer holds the one that runs: a new podd runs it on from
     * here (pod_rec_resume_held()).
     */
    if (ctrs && pr->held != PLAN_IMAGE_PRESENT && manifest_watch_pin_source(pr->pin, pr->pod) &&
        json_object_set_new(st, "runningManifest",
                            json_deep_copy(manifest_watch_pin_source(pr->pin, pr->pod))) < 0)
        ctrs = NULL;
    for (size_t i = 0; ctrs && i < pr->n_ctrs; i++) {
        const Ctr *c = &pr->ctrs[i];
        json_t *cj = json_pack(
            "{s:s,s:i,s:i,s:b,s:b,s:b,s:s}", "id", c->id, "restartCount",
            (int)c->life.restart_count, "backoffStep", (int)c->life.backoff_step, "everStarted",
            c->life.started_once, "completed", c->life.succeeded_once, "finished",
            c->life.state == CTR_STATE_TERMINATED, "specJson", c->spec_json ? c->spec_json : "");

        if (!cj || json_object_set_new(ctrs, c->name, cj) < 0 || ctr_log_marks_to_json(c, cj) < 0)
            goto fail;
        if (c->has_last && json_object_set_new(cj, "lastState", exit_record_to_json(&c->last)) < 0)
            goto fail;
        /* How its last run ended, shown as its state until it runs again. */
        if (c->has_term &&
            json_object_set_new(cj, "lastTermination", exit_record_to_json(&c->term)) < 0)
            goto fail;
        /*
         * The restart the exit decided (its step counted: a new daemon that
         * finds the exit recorded still does not count it again), and its
         * wait on the wall clock: a new daemon waits out the rest.
         */
        if (c->life.restart_decided && json_object_set_new(cj, "restartDecided", json_true()) < 0)
            goto fail;
        pending = ctr_life_pending_restart(&c->life);
        if (pending > now_mono &&
            json_object_set_new(cj, "backoffUntil",
                                json_integer((json_int_t)(now_real + (pending - now_mono)))) < 0)
            goto fail;
        /* A new daemon adopting the run keeps its start, and the image it runs. */
        if (ctr_state_shows_running(c->life.state) && c->started_at[0] &&
            json_object_set_new(cj, "startedAt", json_string(c->started_at)) < 0)
            goto fail;
        if (ctr_state_shows_running(c->life.state) && c->image_id[0] &&
            (json_object_set_new(cj, "image", json_string(c->image)) < 0 ||
             json_object_set_new(cj, "imageID", json_string(c->image_id)) < 0))
            goto fail;
        /* ... and its probes' counts. */
        if (ctr_probes_counts(c, &counts) &&
            json_object_set_new(cj, "probes", probe_counts_to_json(&counts)) < 0)
            goto fail;
    }
    if (ctrs) {
        char digest[CONTENT_HASH_MAX];
        bool sync;

        pod_rec_durable_digest(pr, digest);
        sync = !streq(digest, pr->synced_digest);
        r = state_store_save_pod(pr->m->store, pr->name, st, sync);
        if (r >= 0) {
            if (sync)
                memcpy(pr->synced_digest, digest, sizeof(digest));
            pr->save_due = false;
            pr->save_retry_at = pr->save_retry_usec = 0;
            return 0;
        }
    }
fail:
    pod_rec_retry_save(pr, r, "save its state");
    return r;
}

/*
 * A save that failed, or whose sync did (what says which): never dropped,
 * the pod's timer tries again, later each time.
 */
static void pod_rec_retry_save(PodRec *pr, int error, const char *what)
{
    uint64_t delay = pr->save_retry_usec ? pr->save_retry_usec : SAVE_RETRY_MIN_USEC;

    pr->save_due = true;
    pr->save_retry_at = now_monotonic_usec() + delay;
    pr->save_retry_usec = delay * 2 < SAVE_RETRY_MAX_USEC ? delay * 2 : SAVE_RETRY_MAX_USEC;
    log_warning_errno(error, "pod=%s/%s: cannot %s: %s; retrying in %llums", pr->namespace,
                      pr->name, what, strerror(-error), (unsigned long long)(delay / 1000));
}

/*
 * The state store's thread could not make a saved state durable: saved and
 * synced again. error 0: a sync succeeded after such a failure.
 */
static void on_sync_news(const char *pod, int error, void *userdata)
{
    PodRec *pr = manager_find_pod(userdata, pod);

    if (error == 0) {
        if (pr)
            log_notice("pod=%s/%s: its state is synced again", pr->namespace, pr->name);
        return;
    }
    if (!pr) {
        log_warning_errno(error, "pod=%s: cannot sync its state: %s", pod, strerror(-error));
        return;
    }
    /* No digest was made durable: the next save is synced. */
    pr->synced_digest[0] = 0;
    pod_rec_retry_save(pr, error, "sync its state");
    manager_mark_dirty(pr);
}

static int on_state_synced(LoopSource *s, int fd, uint32_t revents, void *userdata)
{
    Manager *m = userdata;

    state_store_sync_collect(m->store, false, on_sync_news, m);
    return 0;
}

static CtrExit exit_record_to_ctr_exit(const ExitRecord *e)
{
    return (CtrExit){.code = e->exit_code,
                     .signal = e->signal,
                     .oom_killed = e->oom_killed,
                     .start_error = exit_record_is_start_error(e),
                     .config_error = ctr_reason_from_string(e->reason) ==
                                     CTR_REASON_CREATE_CONTAINER_CONFIG_ERROR};
}

/* Takes over what a previous daemon recorded for a pod that is still desired unchanged. */
static void pod_rec_restore(PodRec *pr, json_t *st)
{
    json_t *ctrs = json_object_get(st, "containers");
    const char *s;

    /* Where runs begin in the logs: a new instance still shows its predecessor's as previous. */
    for (size_t i = 0; i < pr->n_ctrs; i++)
        ctr_log_marks_from_json(&pr->ctrs[i], json_object_get(ctrs, pr->ctrs[i].name));
    /* Evicted stays evicted (and stopped), as kubelet leaves an evicted pod, until a new version.
     */
    if ((s = json_string_value(json_object_get(st, "evicted")))) {
        (void)snprintf(pr->evicted_message, sizeof(pr->evicted_message), "%s", s);
        pr->life = pod_life_restore_evicted();
    }
    /* Stopped with the previous daemon: a new instance starts, as after a reboot. */
    if (json_is_true(json_object_get(st, "stopped")))
        return;
    if ((s = json_string_value(json_object_get(st, "createdAt"))))
        (void)snprintf(pr->created_at, sizeof(pr->created_at), "%s", s);
    pr->sandbox_up = json_is_true(json_object_get(st, "sandbox"));
    if (!pod_life_evicted(&pr->life))
        pr->life =
            pod_life_restore(json_is_true(json_object_get(st, "exitPolicyDone")), pr->sandbox_up);
    /* The instance keeps its backend, whatever --runtime says now (before: native only). */
    free(pr->runtime);
    s = json_string_value(json_object_get(st, "runtime"));
    pr->runtime = strdup(s ? s : runtime_native_ops.name);
    if (!pr->runtime)
        log_error("pod=%s/%s: out of memory; continuing", pr->namespace, pr->name);
    (void)snprintf(pr->running_hash, sizeof(pr->running_hash), "%s", pr->spec_hash);
    for (size_t i = 0; i < pr->n_ctrs; i++) {
        Ctr *c = &pr->ctrs[i];
        json_t *cj = json_object_get(ctrs, c->name);
        CtrExit last = {0};
        json_int_t until;
        bool finished;

        if (!cj)
            continue;
        if (json_object_get(cj, "lastState")) {
            exit_record_from_json(json_object_get(cj, "lastState"), &c->last);
            c->has_last = true;
        }
        finished = json_is_true(json_object_get(cj, "finished"));
        if (json_object_get(cj, "lastTermination")) {
            exit_record_from_json(json_object_get(cj, "lastTermination"), &c->term);
            c->has_term = true;
        } else if (finished && c->has_last) {
            /* Written by a podd that did not save the last run's end: the closest it kept. */
            c->term = c->last;
            c->has_term = true;
        }
        /* The lifecycle's last exit is the last run's: the one that ended, else the one before. */
        if (c->has_term)
            last = exit_record_to_ctr_exit(&c->term);
        else if (c->has_last)
            last = exit_record_to_ctr_exit(&c->last);
        c->life = ctr_life_restore(
            c->life.kind, (unsigned)json_integer_value(json_object_get(cj, "restartCount")),
            (unsigned)json_integer_value(json_object_get(cj, "backoffStep")),
            json_is_true(json_object_get(cj, "everStarted")),
            json_is_true(json_object_get(cj, "completed")), finished,
            c->has_term || c->has_last ? &last : NULL);
        if (!c->life.started_once || finished)
            continue;
        if ((s = json_string_value(json_object_get(cj, "startedAt"))))
            (void)snprintf(c->started_at, sizeof(c->started_at), "%s", s);
        else
            rfc3339_seconds(0, c->started_at);
        /* What the run was started from: the tag may name another image by now. */
        if (json_string_value(json_object_get(cj, "imageID"))) {
            (void)snprintf(c->image, sizeof(c->image), "%s",
                           json_string_value(json_object_get(cj, "image")) ?: "");
            (void)snprintf(c->image_id, sizeof(c->image_id), "%s",
                           json_string_value(json_object_get(cj, "imageID")));
        }
        c->has_saved_probes =
            probe_counts_from_json(json_object_get(cj, "probes"), &c->saved_probes);
        /* Before what the runtime has of the run: an exit still recorded was counted. */
        until = json_integer_value(json_object_get(cj, "backoffUntil"));
        if (json_is_true(json_object_get(cj, "restartDecided")) || until > 0)
            ctr_restore_restart(c, until > 0 ? (uint64_t)until : 0);
        ctr_restore_run(c, rfc3339_to_monotonic(s));
        /* Nothing of a run left and a back-off under way: the rest of it is waited out. */
        ctr_resume_backoff(c);
    }
}

/*
 * Whether the container a pod's state file names was started for that pod,
 * by the backend's own records under this instance's directories. A state
 * file is only a file: one edited, restored from a backup or left by another
 * instance may name anyone's container, and acting on it would stop that one.
 * Logs a warning when it does not.
 */
static bool stored_ctr_is_pods(const RuntimeBackend *rt, const char *ns, const char *pod,
                               const char *id)
{
    ContainerStatus cs = {0};
    PdError e = {0};
    char want[RUNTIME_OWNER_MAX];

    (void)snprintf(want, sizeof(want), "%s/%s", ns, pod);
    if (rt->ops->container_inspect(rt->ctx, id, &cs, &e) < 0) {
        log_warning("pod=%s: its state names container '%s', which cannot be inspected (%s): "
                    "left alone; continuing",
                    want, id, e.message);
        return false;
    }
    /* No records at all: nothing runs under that id for an action to harm. */
    if (cs.state == CONTAINER_STATE_UNKNOWN || streq(cs.owner, want))
        return true;
    if (cs.owner[0])
        log_warning("pod=%s: its state names container '%s', which belongs to pod %s: left "
                    "alone; continuing",
                    want, id, cs.owner);
    else
        log_warning("pod=%s: its state names container '%s', whose records do not say which pod "
                    "it belongs to: left alone; continuing",
                    want, id);
    return false;
}

/*
 * What a previous daemon ran for a pod that is no longer desired in that
 * version: its containers, killed, are removed on the loop (a cgroup still
 * draining says EBUSY: tried again every CLEANUP_RETRY_USEC), then its
 * sandbox and state file.
 */
struct Orphan {
    Manager *m;
    Orphan *next;
    char *name;
    char *namespace;
    const RuntimeBackend *rt;
    char **ids;    /* the containers not removed yet */
    bool for_good; /* no manifest names it any more: its logs go too */
    unsigned tries;
    LoopSource *timer;
};

/* How long the removal of an orphan's containers is retried before podd goes on regardless. */
#define ORPHAN_MAX_TRIES 25

static Orphan *orphan_free(Orphan *o)
{
    if (!o)
        return NULL;
    loop_source_unref(o->timer);
    strv_free(o->ids);
    free(o->name);
    free(o->namespace);
    free(o);
    return NULL;
}

bool manager_orphan_pending(const Manager *m, const char *name)
{
    for (const Orphan *o = m->orphans; o; o = o->next)
        if (streq(o->name, name))
            return true;
    return false;
}

/* Removes what it can of o's containers; true once none is left. */
static bool orphan_remove_containers(Orphan *o)
{
    size_t k = 0;

    for (size_t i = 0; o->ids[i]; i++) {
        if (o->rt->ops->container_remove(o->rt->ctx, o->ids[i], NULL) == -EBUSY) {
            o->ids[k++] = o->ids[i];
            continue;
        }
        free(o->ids[i]);
    }
    o->ids[k] = NULL;
    return k == 0;
}

/* Its containers are gone (or podd gave up on them): the sandbox and the state go too. */
static void orphan_finish(Orphan *o)
{
    Manager *m = o->m;
    Pod shell = {.name = o->name, .namespace = o->namespace};
    PodRec *pr;

    (void)o->rt->ops->pod_destroy(o->rt->ctx, &shell, NULL);
    if (o->for_good)
        manager_forget_pod_logs(m, o->namespace, o->name);
    (void)state_store_remove_pod(m->store, o->name);
    log_info("pod=%s/%s: removed, it belongs to no manifest", o->namespace, o->name);
    /* A pod of that name waited for it; a podd stopping waits for every orphan. */
    pr = manager_find_pod(m, o->name);
    if (pr && !manager_orphan_pending(m, o->name))
        manager_mark_dirty(pr);
    if (m->shutting_down)
        (void)loop_source_set_enabled(m->reconcile, LOOP_SOURCE_ONESHOT);
}

static int on_orphan_timer(LoopSource *s, uint64_t deadline, void *userdata)
{
    Orphan *o = userdata, **pp;
    bool done = orphan_remove_containers(o);

    if (!done && ++o->tries < ORPHAN_MAX_TRIES) {
        (void)loop_timer_set(s, now_monotonic_usec() + CLEANUP_RETRY_USEC);
        return 0;
    }
    if (!done)
        log_warning("pod=%s/%s: container '%s' of a previous podd cannot be removed yet (busy); "
                    "going on without it; continuing",
                    o->namespace, o->name, o->ids[0]);
    for (pp = &o->m->orphans; *pp != o; pp = &(*pp)->next)
        ;
    *pp = o->next;
    orphan_finish(o);
    orphan_free(o);
    return 0;
}

/*
 * Whether a state file that names another version than the desired one only
 * fell behind (its saves failed, then podd died): every run the runtime
 * still has of the pod's containers was started with the desired version,
 * as the run's own records say (written before it started, they cannot lag
 * behind it), and there is at least one. Then nothing changed while podd
 * was down, and replacing the pod would kill what runs right.
 */
/* The backend a state file's pod ran under (before backends were named: native). */
static const RuntimeBackend *stored_backend(Manager *m, json_t *st)
{
    const char *runtime = json_string_value(json_object_get(st, "runtime"));

    return manager_backend(m, runtime ? runtime : runtime_native_ops.name);
}

static bool stored_state_lagged(Manager *m, PodRec *pr, json_t *st)
{
    const RuntimeBackend *rt = stored_backend(m, st);
    const char *key;
    json_t *ctrs = json_object_get(st, "containers"), *cj;
    char want[RUNTIME_OWNER_MAX], version[CONTENT_HASH_MAX];
    size_t matched = 0;

    if (!rt || !pr->pod)
        return false;
    (void)snprintf(want, sizeof(want), "%s/%s", pr->namespace, pr->name);
    for (size_t i = 0; i < pr->n_ctrs; i++) {
        const Ctr *c = &pr->ctrs[i];
        ContainerStatus cs = {0};

        if (rt->ops->container_inspect(rt->ctx, c->id, &cs, NULL) < 0)
            return false;
        if (cs.state == CONTAINER_STATE_UNKNOWN)
            continue;
        ctr_version(pr, c->spec_json, version);
        if (!streq(cs.owner, want) || !streq(cs.version, version))
            return false;
        matched++;
    }
    /* A container the desired version no longer has, still there: a real change. */
    json_object_foreach(ctrs, key, cj)
    {
        const char *id = json_string_value(json_object_get(cj, "id"));
        ContainerStatus cs = {0};
        bool desired = false;

        for (size_t i = 0; i < pr->n_ctrs; i++)
            desired = desired || streq(pr->ctrs[i].name, key);
        if (desired || !id)
            continue;
        if (rt->ops->container_inspect(rt->ctx, id, &cs, NULL) < 0 ||
            cs.state != CONTAINER_STATE_UNKNOWN)
            return false;
    }
    return matched > 0;
}

/*
 * The records of a state file that fell behind, made true to what runs (see
 * above) before pod_rec_restore() takes them: a container that runs the
 * desired version is a run under way, whatever the file says; the entry of
 * one that does not run and was saved for another version of it is dropped
 * (that version is gone; the desired one starts).
 */
static void stored_state_catch_up(Manager *m, PodRec *pr, json_t *st)
{
    const RuntimeBackend *rt = stored_backend(m, st);
    json_t *ctrs = json_object_get(st, "containers");

    for (size_t i = 0; rt && i < pr->n_ctrs; i++) {
        const Ctr *c = &pr->ctrs[i];
        json_t *cj = json_object_get(ctrs, c->name);
        const char *spec = json_string_value(json_object_get(cj, "specJson"));
        bool same = spec && c->spec_json && streq(spec, c->spec_json);
        ContainerStatus cs = {0};

        (void)rt->ops->container_inspect(rt->ctx, c->id, &cs, NULL);
        if (cs.state == CONTAINER_STATE_UNKNOWN) {
            if (cj && !same)
                (void)json_object_del(ctrs, c->name);
            continue;
        }
        if (!cj || !same) {
            cj = json_pack("{s:s,s:b}", "id", c->id, "everStarted", true);
            if (!cj || json_object_set_new(ctrs, c->name, cj) < 0)
                continue;
        }
        (void)json_object_set_new(cj, "everStarted", json_true());
        (void)json_object_set_new(cj, "finished", json_false());
        (void)json_object_del(cj, "backoffUntil");
    }
}

/*
 * Stops and forgets what a previous daemon ran for a pod that is no longer
 * desired in that version; for_good (no manifest names it any more): its
 * logs too. Kills its containers now and removes them on the loop.
 */
static void cleanup_orphan(Manager *m, const char *name, json_t *st, bool for_good)
{
    json_t *ctrs = json_object_get(st, "containers"), *cj;
    const char *ns = json_string_value(json_object_get(st, "namespace"));
    const char *key, *runtime = json_string_value(json_object_get(st, "runtime"));
    const RuntimeBackend *rt;
    Orphan *o;

    /* State written before backends were named is the native backend's. */
    if (!runtime)
        runtime = runtime_native_ops.name;
    if (!ns)
        ns = "default";
    rt = manager_backend(m, runtime);
    if (!rt) {
        log_warning("pod=%s/%s: belongs to no manifest, but runs under runtime '%s', which this "
                    "podd does not have: left as it is; continuing",
                    ns, name, runtime);
        return;
    }
    o = calloc(1, sizeof(Orphan));
    if (!o || !(o->name = strdup(name)) || !(o->namespace = strdup(ns)) ||
        !(o->ids = calloc(json_object_size(ctrs) + 1, sizeof(char *)))) {
        log_error("pod=%s/%s: out of memory removing what a previous podd ran; continuing", ns,
                  name);
        orphan_free(o);
        return;
    }
    o->m = m;
    o->rt = rt;
    o->for_good = for_good;
    json_object_foreach(ctrs, key, cj)
    {
        const char *id = json_string_value(json_object_get(cj, "id"));
        size_t n = strv_length(o->ids);

        if (!id || !stored_ctr_is_pods(rt, ns, name, id))
            continue;
        (void)rt->ops->container_signal(rt->ctx, id, SIGKILL, NULL);
        o->ids[n] = strdup(id);
        if (!o->ids[n])
            log_error("pod=%s/%s: out of memory; container '%s' is left; continuing", ns, name, id);
    }
    /* Mostly gone at once; a cgroup still draining is looked at again from the loop. */
    if (orphan_remove_containers(o) ||
        loop_add_timer(m->loop, &o->timer, now_monotonic_usec() + CLEANUP_RETRY_USEC,
                       on_orphan_timer, o) < 0) {
        orphan_finish(o);
        orphan_free(o);
        return;
    }
    o->next = m->orphans;
    m->orphans = o;
}

/* ---- the desired set -------------------------------------------------------------- */

static void pod_take_desired(PodRec *pr, const ManifestWatchPod *wp, bool from_api)
{
    ManifestWatchPin *pin = manifest_watch_pod_pin(wp);

    pr->from_api = from_api;
    pod_rec_set_level(pr, reconcile_pod_level_json(wp->spec));
    pr->pod = wp->pod;
    manifest_watch_pin_release(pr->pin);
    pr->pin = pin;
    free(pr->source);
    pr->source = strdup(pr->from_api ? "api" : wp->file);
    (void)snprintf(pr->spec_hash, sizeof(pr->spec_hash), "%s", wp->spec_hash);
    pr->has_manifest_error = wp->has_error;
    if (wp->has_error)
        pr->manifest_error = wp->error;
}

static void on_pod_added(Manager *m, const ManifestWatchPod *wp, bool from_api)
{
    PodRec *pr = manager_find_pod(m, wp->name);
    PdError e = {0};

    /* Stopping every pod: a pod that appears now is the next podd's to start. */
    if (!pr && m->shutting_down) {
        log_info("pod=%s: its manifest %s appeared while podd stops; not started", wp->name,
                 wp->file);
        return;
    }
    if (!pr) {
        pr = pod_rec_new(m, wp->name, wp->pod->namespace);
        if (!pr) {
            log_error("pod=%s: out of memory; continuing", wp->name);
            return;
        }
    }
    pod_take_desired(pr, wp, from_api);
    if (pod_rec_load_spec(pr, &e) < 0) {
        log_error("pod=%s/%s: %s; continuing", pr->namespace, pr->name, e.message);
        return;
    }
    manager_event(m, pr, NULL, "Normal", "Created", "from %s",
                  from_api ? "an applied manifest" : wp->file);
    manager_mark_dirty(pr);
}

/*
 * The planner's way from what runs to the new version of the pod. NULL (and
 * an error logged) when no plan can be made: the caller then replaces the
 * whole pod, which is always right.
 */
static Plan *pod_rec_plan(PodRec *pr, const Pod *desired)
{
    _cleanup_free_ PlanObservedCtr *seen = NULL;
    PlanObserved observed;
    Plan *plan = NULL;
    PdError e = {0};

    seen = pod_rec_observe(pr, &observed);
    if (!seen) {
        log_error("pod=%s/%s: out of memory planning its new version; continuing", pr->namespace,
                  pr->name);
        return NULL;
    }
    if (reconcile_plan(desired, &observed, &plan, &e) < 0) {
        log_error("pod=%s/%s: cannot plan its new version: %s; continuing", pr->namespace, pr->name,
                  e.message);
        return NULL;
    }
    return plan;
}

static void on_pod_changed(Manager *m, const ManifestWatchPod *wp, bool from_api);

/* No new version waits any more: it went ahead, was replaced by another, or went away. */
static void pod_rec_drop_hold(PodRec *pr)
{
    if (pr->held != PLAN_IMAGE_PRESENT)
        pr->save_due = true;
    pr->held = PLAN_IMAGE_PRESENT;
    pr->held_images = strv_free(pr->held_images);
    pr->held_ctrs = strv_free(pr->held_ctrs);
    free(pr->held_summary);
    pr->held_summary = NULL;
    free(pr->held_pulls);
    pr->held_pulls = NULL;
    pr->held_pull_failures = 0;
    pr->held_pull_error[0] = '\0';
    pr->held_pull_retry_at = 0;
    pr->held_never = false;
}

/*
 * Make before break: the new version (plan) needs images that are not
 * there, so nothing of it happens yet. pr runs on with the version it has
 * (pinned, so the watcher's change does not take it away); the pod's status
 * names what waits and for what, and an event says so once per change.
 */
static void pod_rec_hold(PodRec *pr, const Plan *plan, const char *summary,
                         const ManifestWatchPod *wp, bool from_api, const char *from)
{
    _cleanup_(strv_freep) char **images = strv_copy(plan->held_images), **ctrs = NULL;
    bool told = pr->held_summary && summary && streq(pr->held_summary, summary);
    int r = images ? 0 : -ENOMEM;

    for (size_t i = 0; r >= 0 && i < pr->n_ctrs; i++) {
        const Ctr *c = &pr->ctrs[i];
        const PlanCtr *e =
            c->life.goal == CTR_GOAL_REMOVE ? NULL : reconcile_plan_find(plan, c->name);

        if (plan->pod_action == PLAN_ACTION_REPLACE || (e && e->action == PLAN_ACTION_REPLACE))
            r = strv_extend(&ctrs, c->name);
    }
    if (r < 0) {
        log_error("pod=%s/%s: out of memory; continuing", pr->namespace, pr->name);
        return;
    }
    strv_free(pr->held_images);
    pr->held_images = move_ptr(images);
    strv_free(pr->held_ctrs);
    pr->held_ctrs = move_ptr(ctrs);
    free(pr->held_summary);
    pr->held_summary = summary ? strdup(summary) : NULL;
    /* The pulls go on (manager_update_pull() finds them again); another wait starts afresh. */
    free(pr->held_pulls);
    pr->held_pulls = NULL;
    if (!told) {
        pr->held_pull_failures = 0;
        pr->held_pull_error[0] = '\0';
        pr->held_pull_retry_at = 0;
    }
    if (pr->held == PLAN_IMAGE_PRESENT)
        pr->save_due = true;
    pr->held = plan->held;
    pr->held_from_api = from_api;
    /* The kept version in force at the watcher is the waiting one; its errors are shown. */
    pr->has_manifest_error = wp->has_error;
    if (wp->has_error)
        pr->manifest_error = wp->error;
    if (!told)
        manager_event(pr->m, pr, NULL, "Warning", "UpdateWaiting",
                      "new version from %s %s; the running version runs on until then", from,
                      summary ? summary : "waits for its images");
}

void manager_update_retry(PodRec *pr)
{
    Manager *m = pr->m;
    const ManifestWatchPod *wp;

    if (pr->held == PLAN_IMAGE_PRESENT)
        return;
    wp = manifest_watcher_get_pod(pr->held_from_api ? m->applied : m->watcher, pr->name);
    if (!wp) {
        pod_rec_drop_hold(pr);
        return;
    }
    for (size_t i = 0; pr->held_images && pr->held_images[i]; i++)
        if (manager_plan_image(m, pr->held_images[i]) != PLAN_IMAGE_PRESENT) {
            if (wp->pod)
                manager_update_pull(pr, wp->pod);
            return;
        }
    on_pod_changed(m, wp, pr->held_from_api);
}

/*
 * A new version of a running pod: reconcile_plan() decides, as it does for
 * podctl apply --dry-run. When the whole pod is replaced, it stops and
 * starts again from the new version; otherwise the records take the plan
 * (pod_reconcile() then stops what is replaced or gone and starts what is
 * new), and the other containers run on.
 */
static void on_pod_changed(Manager *m, const ManifestWatchPod *wp, bool from_api)
{
    PodRec *pr = manager_find_pod(m, wp->name);
    _cleanup_(reconcile_plan_freep) Plan *plan = NULL;
    _cleanup_free_ char *summary = NULL;
    const char *from = from_api ? "podctl apply" : wp->file;
    char via[1024];
    PdError e = {0};

    /* Its manifest was removed and it still stops: back, it is added again. */
    if (!pr || !pr->pod) {
        on_pod_added(m, wp, from_api);
        return;
    }
    /*
     * Same source and spec: an error was cleared, or the manifest is back
     * to the version that runs while a newer one waited (dropped: nothing
     * restarts). From the other source it is a new object.
     */
    if (streq(pr->spec_hash, wp->spec_hash) && !wp->has_error && pr->from_api == from_api) {
        pr->has_manifest_error = false;
        if (pr->held != PLAN_IMAGE_PRESENT)
            manager_event(m, pr, NULL, "Normal", "UpdateCancelled",
                          "%s is back to the running version: the waiting one is dropped", from);
        pod_rec_drop_hold(pr);
        manager_mark_dirty(pr);
        return;
    }
    /* Against the records (the version that runs). */
    plan = pod_rec_plan(pr, wp->pod);
    summary = plan ? reconcile_plan_summary(plan) : NULL;
    if (plan && plan->held != PLAN_IMAGE_PRESENT) {
        pod_rec_hold(pr, plan, summary, wp, from_api, from);
        manager_mark_dirty(pr);
        return;
    }
    /* It waited for its images: they are all there now. */
    if (pr->held != PLAN_IMAGE_PRESENT) {
        (void)snprintf(via, sizeof(via), "%s (its images are there now)", from);
        from = via;
    }
    pod_rec_drop_hold(pr);
    if (!plan || plan->pod_action == PLAN_ACTION_REPLACE) {
        /* The old Pod is the watcher's and goes away now: keep only what stopping needs. */
        pr->pod = NULL;
        for (size_t i = 0; i < pr->n_ctrs; i++)
            pr->ctrs[i].spec = NULL;
        (void)snprintf(pr->spec_hash, sizeof(pr->spec_hash), "%s", wp->spec_hash);
        manager_event(m, pr, NULL, "Normal", "Replacing", "new version from %s: %s", from,
                      summary ? summary : "the whole pod is replaced");
        pod_rec_feed(pr, POD_EV_REPLACE);
        pod_take_desired(pr, wp, from_api);
        manager_mark_dirty(pr);
        return;
    }
    pod_take_desired(pr, wp, from_api);
    if (pod_rec_apply_plan(pr, plan, &e) < 0) {
        log_error("pod=%s/%s: %s; continuing", pr->namespace, pr->name, e.message);
        return;
    }
    manager_event(m, pr, NULL, "Normal", "Updated", "new version from %s%s%s", from,
                  summary && summary[0] ? ": " : "", summary ? summary : "");
    manager_mark_dirty(pr);
}

static void on_pod_removed(Manager *m, const char *name)
{
    PodRec *pr = manager_find_pod(m, name);

    if (!pr)
        return;
    pr->pod = NULL;
    for (size_t i = 0; i < pr->n_ctrs; i++)
        pr->ctrs[i].spec = NULL;
    pr->pin = manifest_watch_pin_release(pr->pin);
    pod_rec_drop_hold(pr);
    manager_event(m, pr, NULL, "Normal", "Killing", "its manifest was removed: stopping");
    pod_rec_feed(pr, POD_EV_REMOVE);
    manager_mark_dirty(pr);
}

/*
 * A name in both sources: the pod stays with the one that had it first and
 * the other is refused, naming both (podctl apply refuses it up front; a
 * file dropped into the directory later lands here).
 */
static void on_name_taken(Manager *m, PodRec *pr, const ManifestWatchEvent *ev)
{
    const ManifestWatchPod *file_pod = manifest_watcher_get_pod(m->watcher, pr->name);

    manager_event(m, pr, NULL, "Warning", "NameConflict",
                  "pod '%s' is defined by %s/%s and by an applied manifest; the %s one is kept",
                  pr->name, m->cfg.manifest_dir, file_pod ? file_pod->file : ev->file,
                  pr->from_api ? "applied" : "file's");
}

/* Which source an event is from decides whether it may change the pod. */
static void on_desired_event(Manager *m, ManifestWatcher *w, const ManifestWatchEvent *ev)
{
    bool from_api = w == m->applied;
    ManifestWatcher *other = from_api ? m->watcher : m->applied;
    PodRec *pr = manager_find_pod(m, ev->pod_name);
    const ManifestWatchPod *other_pod;

    if (pr && pr->pod && pr->from_api != from_api) {
        if (ev->type != MANIFEST_WATCH_REMOVED)
            on_name_taken(m, pr, ev);
        return;
    }
    switch (ev->type) {
    case MANIFEST_WATCH_ADDED:
        on_pod_added(m, ev->pod, from_api);
        break;
    case MANIFEST_WATCH_CHANGED:
        on_pod_changed(m, ev->pod, from_api);
        break;
    case MANIFEST_WATCH_REMOVED:
        /* The other source defines it too: it takes over, as a new version. */
        other_pod = manifest_watcher_get_pod(other, ev->pod_name);
        if (pr && other_pod)
            on_pod_changed(m, other_pod, !from_api);
        else
            on_pod_removed(m, ev->pod_name);
        break;
    default:
        break;
    }
}

static int on_watch_event(ManifestWatcher *w, const ManifestWatchEvent *ev, void *userdata)
{
    Manager *m = userdata;
    char where[PD_ERROR_MESSAGE_MAX + PD_ERROR_FILE_MAX + 64];
    PodRec *pr;

    /* Its desired version, source or manifest error may change: the view is rendered again. */
    pr = ev->pod_name ? manager_find_pod(m, ev->pod_name) : NULL;
    if (pr)
        pod_rec_view_changed(pr);
    switch (ev->type) {
    case MANIFEST_WATCH_ADDED:
    case MANIFEST_WATCH_CHANGED:
    case MANIFEST_WATCH_REMOVED:
        on_desired_event(m, w, ev);
        break;
    case MANIFEST_WATCH_ERROR:
    case MANIFEST_WATCH_CONFLICT:
        pd_error_format(ev->error, where, sizeof(where));
        if (pr) {
            pr->has_manifest_error = true;
            pr->manifest_error = *ev->error;
            manager_event(m, pr, NULL, "Warning",
                          ev->type == MANIFEST_WATCH_ERROR ? "ManifestInvalid" : "NameConflict",
                          "%s (the running version is kept)", where);
        } else {
            /* Nothing runs from it: still an event, so that podctl events shows why. */
            log_warning("manifest %s: %s; continuing", ev->file ? ev->file : "?", where);
            event_add(m, ev->pod_name, NULL, ev->file, "Warning",
                      ev->type == MANIFEST_WATCH_ERROR ? "ManifestInvalid" : "NameConflict", where);
        }
        break;
    case MANIFEST_WATCH_WARNING:
        /* What podctl validate would print about the file, now that podd reads it. */
        pd_error_format(ev->error, where, sizeof(where));
        log_warning("manifest %s: %s; continuing", ev->file, where);
        event_add(m, ev->pod_name, NULL, ev->file, "Warning", "ManifestWarning", where);
        break;
    default:
        break;
    }
    return 0;
}

/* ---- the reconcile pass ----------------------------------------------------------- */

static int on_reconcile(LoopSource *s, void *userdata)
{
    Manager *m = userdata;
    uint64_t begin = now_monotonic_usec(), deadline = begin + RECONCILE_BUDGET_USEC;
    bool any_left = false, more = false;
    size_t start = m->n_pods ? m->reconcile_next % m->n_pods : 0, seen = 0;

    /*
     * Starting a container takes a few milliseconds: past the budget, the
     * rest waits for the next iteration, so that the API and the monitors'
     * exits are served in between (a cold start of 100 pods would otherwise
     * hold the loop for seconds). The next pass goes on where this one
     * stopped, so that a pod that keeps itself busy cannot starve others
     * (a pod marked dirty meanwhile has re-armed this source already).
     * Past a short slice, anything else ready (a request on the API, a
     * start that finished) ends the pass too: a get_pods during a cold
     * start waits for about one pod's work, not for the whole budget.
     */
    for (size_t i = start; seen < m->n_pods;) {
        PodRec *pr = m->pods[i];
        size_t before = m->n_pods;
        uint64_t now = pr->dirty ? now_monotonic_usec() : 0;

        if (pr->dirty &&
            (now > deadline || (now > begin + RECONCILE_SLICE_USEC && loop_has_pending(m->loop)))) {
            more = true;
            m->reconcile_next = i;
            break;
        }
        if (pr->dirty) {
            pr->dirty = false;
            pod_reconcile(pr);
        }
        if (m->n_pods == 0)
            break;
        /* Dropped: the next pod moved into slot i, and pr no longer counts as seen. */
        if (m->n_pods == before) {
            i++;
            seen++;
        }
        i %= m->n_pods;
    }
    if (more) {
        (void)loop_source_set_enabled(m->reconcile, LOOP_SOURCE_ONESHOT);
        return 0;
    }
    if (m->cfg.after_pass)
        m->cfg.after_pass(m, m->cfg.userdata);
    if (m->shutting_down) {
        for (size_t i = 0; i < m->n_pods; i++)
            if (!pod_all_stopped(m->pods[i]))
                any_left = true;
        /* What a previous podd left is removed first: the next podd need not do it again. */
        if (!any_left && !m->orphans)
            loop_exit(m->loop, 0);
    }
    return 0;
}

/* ---- backends ---------------------------------------------------------------------- */

const RuntimeBackend *manager_backend(const Manager *m, const char *name)
{
    for (size_t i = 0; name && i < m->n_backends; i++)
        if (streq(m->backends[i].ops->name, name))
            return &m->backends[i];
    return NULL;
}

const char *pod_wanted_runtime(const PodRec *pr)
{
    for (size_t i = 0; pr->pod && i < pr->pod->annotations.n; i++)
        if (streq(pr->pod->annotations.items[i].key, "podd.io/runtime"))
            return runtime_kind_to_string(pr->pod->runtime);
    return pr->m->backends[0].ops->name;
}

const RuntimeBackend *pod_rt(const PodRec *pr)
{
    return manager_backend(pr->m, pr->runtime ? pr->runtime : pod_wanted_runtime(pr));
}

void *manager_runtime_ctx(const Manager *m, const char *name)
{
    const RuntimeBackend *b = manager_backend(m, name);

    return b ? b->ctx : NULL;
}

/*
 * Initializes every backend of table, the default (cfg.runtime) first. The
 * default must work; another that cannot start is left out, and pods naming
 * it wait with RuntimeNotAvailable.
 */
static int manager_open_backends(Manager *m, const RuntimeOps *const *table,
                                 const RuntimeConfig *rc, PdError *reterr)
{
    const RuntimeOps *def = NULL;
    char known[256] = "";
    size_t n = 0;
    int r;

    for (size_t i = 0; table[i]; i++) {
        n++;
        if (streq(table[i]->name, m->cfg.runtime))
            def = table[i];
        (void)snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", i ? ", " : "",
                       table[i]->name);
    }
    if (!def)
        return pd_error_set(reterr, -EINVAL, "unknown runtime '%s' (known: %s)", m->cfg.runtime,
                            known);
    m->backends = calloc(n, sizeof(RuntimeBackend));
    if (!m->backends)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    r = def->init(&m->backends[0].ctx, rc, reterr);
    if (r < 0)
        return pd_error_prefix(reterr, r, "runtime '%s'", def->name);
    m->backends[m->n_backends++].ops = def;
    for (size_t i = 0; table[i]; i++) {
        RuntimeBackend *b = &m->backends[m->n_backends];

        if (table[i] == def || table[i]->init(&b->ctx, rc, NULL) < 0)
            continue;
        b->ops = table[i];
        m->n_backends++;
    }
    return 0;
}

/* ---- life of the manager ---------------------------------------------------------- */

/* What a backend noticed and went on after (RuntimeConfig.notice). */
static void on_runtime_notice(void *userdata, const char *message)
{
    (void)userdata;
    log_warning("runtime: %s; continuing", message);
}

/*
 * Where this instance's container cgroups go: derived from the state
 * directory as the kernel resolves it (so the same instance finds the same
 * cgroups after a restart), or the --cgroup-parent podd was given. The
 * backends that use cgroups create it (cgroup_prepare_parent()).
 */
static int manager_place_cgroups(Manager *m, PdError *reterr)
{
    _cleanup_free_ char *real = NULL;

    if (!m->cfg.cgroup_parent) {
        real = realpath(m->cfg.state_dir, NULL);
        if (!real)
            return pd_error_set(reterr, -errno, "state directory %s: %s", m->cfg.state_dir,
                                strerror(errno));
    }
    return cgroup_resolve_parent(m->cfg.cgroup_parent, real, &m->cgroup_parent, reterr);
}

int manager_new(Loop *loop, const ManagerConfig *cfg, Manager **ret, PdError *reterr)
{
    _cleanup_(manager_freep) Manager *m = calloc(1, sizeof(Manager));
    RuntimeConfig rc;
    ManifestWatchOptions wo = {.rescan_interval_usec = cfg->rescan_interval_usec};
    int r, fd;

    if (!m)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    m->loop = loop_ref(loop);
    m->cfg = *cfg;
    m->home_netns_fd = -1;
    /* Kubernetes' image back-off unless told otherwise. */
    if (!m->cfg.pull_backoff_initial_usec)
        m->cfg.pull_backoff_initial_usec = 10 * 1000000ull;
    if (m->cfg.pull_backoff_max_usec < m->cfg.pull_backoff_initial_usec)
        m->cfg.pull_backoff_max_usec = m->cfg.pull_backoff_initial_usec < 300 * 1000000ull
                                           ? 300 * 1000000ull
                                           : m->cfg.pull_backoff_initial_usec;
    /* Milliseconds of wall time: a podctl events -w keeps seeing new events across a restart. */
    m->event_seq = now_realtime_usec() / 1000u;
    m->images_dir = strdup_printf("%s/images", cfg->state_dir);
    if (cfg->monitor_path) {
        _cleanup_free_ char *dir = strdup(cfg->monitor_path);

        m->image_loader = dir ? strdup_printf("%s/podd-image-loader", dirname(dir)) : NULL;
    }
    if (!m->images_dir)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    r = state_store_open(cfg->state_dir, &m->store, reterr);
    if (r < 0)
        return r;
    /* The loop never waits for the disk: the states' syncs run on the store's thread. */
    r = state_store_sync_in_background(m->store, &fd);
    if (r >= 0)
        r = loop_add_io(loop, &m->synced, fd, EPOLLIN, on_state_synced, m);
    if (r < 0)
        return pd_error_set(reterr, r, "cannot sync states in the background: %s", strerror(-r));
    manager_load_events(m);
    r = loop_add_timer(loop, &m->events_timer, LOOP_TIME_INFINITY, on_events_timer, m);
    if (r < 0)
        return pd_error_set(reterr, r, "cannot add the events timer: %s", strerror(-r));
    r = manager_place_cgroups(m, reterr);
    if (r < 0)
        return r;
    rc = (RuntimeConfig){.run_dir = cfg->run_dir,
                         .log_dir = cfg->log_dir,
                         .monitor_path = cfg->monitor_path,
                         .cgroup_parent = m->cgroup_parent,
                         .notice = on_runtime_notice};
    r = manager_open_backends(m, cfg->runtimes ? cfg->runtimes : runtime_table, &rc, reterr);
    if (r < 0)
        return r;
    r = loop_add_deferred(loop, &m->reconcile, on_reconcile, m);
    if (r < 0)
        return pd_error_set(reterr, r, "cannot add the reconcile source: %s", strerror(-r));
    (void)loop_source_set_enabled(m->reconcile, LOOP_SOURCE_OFF);
    r = loop_add_deferred(loop, &m->view_source, on_view_changed, m);
    if (r < 0)
        return pd_error_set(reterr, r, "cannot add the view source: %s", strerror(-r));
    (void)loop_source_set_enabled(m->view_source, LOOP_SOURCE_OFF);
    r = manifest_watcher_new(loop, cfg->manifest_dir, &wo, on_watch_event, m, &m->watcher, reterr);
    if (r < 0)
        return r;
    m->applied_dir = strdup_printf("%s/applied", cfg->state_dir);
    if (!m->applied_dir)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    r = manifest_watcher_new(loop, m->applied_dir, &wo, on_watch_event, m, &m->applied, reterr);
    if (r < 0)
        return r;
    *ret = move_ptr(m);
    return 0;
}

Manager *manager_free(Manager *m)
{
    if (!m)
        return NULL;
    manager_incoming_free(m);
    manager_pulls_free(m);
    /* What happened last (the pods' stops on the way out) is kept too. */
    if (m->store)
        manager_save_events(m);
    m->events_timer = loop_source_unref(m->events_timer);
    manifest_watcher_free(m->watcher);
    manifest_watcher_free(m->applied);
    free(m->applied_dir);
    for (size_t i = 0; i < m->n_pods; i++)
        pod_rec_free(m->pods[i]);
    free(m->pods);
    while (m->orphans) {
        Orphan *next = m->orphans->next;

        orphan_free(m->orphans);
        m->orphans = next;
    }
    loop_source_unref(m->reconcile);
    m->view_source = loop_source_unref(m->view_source);
    for (size_t i = 0; i < m->n_backends; i++)
        m->backends[i].ops->done(m->backends[i].ctx);
    free(m->backends);
    /* The parent derived from the state directory is the instance's own: gone once empty. */
    if (m->cgroup_parent && !m->cfg.cgroup_parent)
        (void)cgroup_try_remove(m->cgroup_parent);
    free(m->cgroup_parent);
    if (m->home_netns_fd >= 0)
        close(m->home_netns_fd);
    loop_source_unref(m->synced);
    state_store_free(m->store);
    events_clear(m);
    free(m->images_dir);
    free(m->image_loader);
    loop_unref(m->loop);
    free(m);
    return NULL;
}

const char *manager_cgroup_parent(Manager *m)
{
    return m->cgroup_parent;
}

/*
 * Make before break across a restart of podd: the state file names the
 * version that ran (runningManifest, saved while a newer version waited for
 * its images). That version is taken back (records, runs adopted) and the
 * manifest's version is then a new version of it, as it was before: it waits
 * again, or goes ahead if its images came meanwhile. False when the state
 * has no such version, or not the one it ran.
 */
static bool pod_rec_resume_held(Manager *m, PodRec *pr, json_t *st)
{
    const json_t *doc = json_object_get(st, "runningManifest");
    const char *hash = json_string_value(json_object_get(st, "runningHash"));
    const ManifestWatchPod *wp =
        manifest_watcher_get_pod(pr->from_api ? m->applied : m->watcher, pr->name);
    _cleanup_(manifest_file_freep) ManifestFile *mf = NULL;
    _cleanup_free_ char *text = NULL, *dump = NULL;
    _cleanup_json_ json_t *spec = NULL;
    char running[CONTENT_HASH_MAX];
    ManifestWatchPin *pin;
    const Pod *pod;
    PdError e = {0};

    if (!json_is_object(doc) || !hash || !wp || !(text = json_dumps(doc, JSON_COMPACT)))
        return false;
    if (manifest_parse_buffer("state.json", text, strlen(text), MANIFEST_FORMAT_AUTO, &mf, &e) <
            0 ||
        mf->n_docs != 1 || !(pod = mf->docs[0].pod) || !streq(pod->name, pr->name) ||
        !(spec = pod_to_json(pod)) || !(dump = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS)))
        return false;
    content_hash(dump, strlen(dump), running);
    if (!streq(running, hash))
        return false;
    pin = manifest_watch_pin_take(move_ptr(mf));
    if (!pin)
        return false;
    /* The records of the version that ran, instead of the manifest's. */
    for (size_t i = 0; i < pr->n_ctrs; i++)
        ctr_free_fields(&pr->ctrs[i]);
    free(pr->ctrs);
    pr->ctrs = NULL;
    pr->n_ctrs = 0;
    manifest_watch_pin_release(pr->pin);
    pr->pin = pin;
    pr->pod = pod;
    pod_rec_set_level(pr, reconcile_pod_level_json(spec));
    (void)snprintf(pr->spec_hash, sizeof(pr->spec_hash), "%s", hash);
    if (pod_rec_load_spec(pr, &e) < 0) {
        log_error("pod=%s/%s: %s; continuing", pr->namespace, pr->name, e.message);
        return true;
    }
    pod_rec_restore(pr, st);
    on_pod_changed(m, wp, pr->from_api);
    return true;
}

int manager_start(Manager *m)
{
    _cleanup_(strv_freep) char **stored = NULL;
    int r;

    /* The desired set first: adoption compares what ran with what is wanted. */
    r = manifest_watcher_flush(m->watcher);
    if (r < 0)
        log_warning_errno(r, "manifest directory %s: first scan incomplete; continuing",
                          m->cfg.manifest_dir);
    /* After the directory: a name in both stays with the file, as the conflict rule says. */
    r = manifest_watcher_flush(m->applied);
    if (r < 0)
        log_warning_errno(r, "applied manifests %s: first scan incomplete; continuing",
                          m->applied_dir);
    r = state_store_list_pods(m->store, &stored);
    if (r < 0)
        log_warning_errno(r, "state directory %s: cannot list pods; continuing", m->cfg.state_dir);
    for (size_t i = 0; stored && stored[i]; i++) {
        _cleanup_json_ json_t *st = NULL;
        PdError e = {0};
        PodRec *pr = manager_find_pod(m, stored[i]);
        const char *hash;

        r = state_store_load_pod(m->store, stored[i], &st, &e);
        if (r == -EBADMSG) {
            log_warning("pod=%s: %s; rebuilding it from its manifest; continuing", stored[i],
                        e.message);
            continue;
        }
        if (r < 0)
            continue;
        if (!pr) {
            cleanup_orphan(m, stored[i], st, true);
            continue;
        }
        hash = json_string_value(json_object_get(st, "runningHash"));
        if (hash && streq(hash, pr->spec_hash)) {
            pod_rec_restore(pr, st);
        } else if (pod_rec_resume_held(m, pr, st)) {
            /* The version that ran waited for a newer one's images: it runs on. */
        } else if (stored_state_lagged(m, pr, st)) {
            /* Its saves failed before podd died: what runs is the desired version already. */
            manager_event(m, pr, NULL, "Normal", "Adopting",
                          "its state file fell behind; what runs is the desired version: kept");
            stored_state_catch_up(m, pr, st);
            pod_rec_restore(pr, st);
            pr->save_due = true;
        } else {
            /* Another version ran: stop it; the desired one starts after. */
            manager_event(m, pr, NULL, "Normal", "Replacing",
                          "the manifest changed while podd was down");
            cleanup_orphan(m, stored[i], st, false);
        }
    }
    m->ready = true;
    (void)loop_source_set_enabled(m->reconcile, LOOP_SOURCE_ONESHOT);
    return 0;
}

void manager_rescan(Manager *m)
{
    (void)manifest_watcher_rescan(m->watcher);
    (void)manifest_watcher_rescan(m->applied);
}

void manager_shutdown(Manager *m, bool stop_pods)
{
    m->shutting_down = true;
    if (!stop_pods) {
        loop_exit(m->loop, 0);
        return;
    }
    for (size_t i = 0; i < m->n_pods; i++) {
        PodRec *pr = m->pods[i];

        pod_rec_feed(pr, POD_EV_SHUTDOWN);
        manager_mark_dirty(pr);
    }
    (void)loop_source_set_enabled(m->reconcile, LOOP_SOURCE_ONESHOT);
}

void manager_counts(const Manager *m, unsigned *all, unsigned *running, unsigned *pending,
                    unsigned *failed)
{
    *all = (unsigned)m->n_pods;
    *running = *pending = *failed = 0;
    for (size_t i = 0; i < m->n_pods; i++) {
        PodPhase p = m->pods[i]->phase;

        *running += p == POD_PHASE_RUNNING;
        *pending += p == POD_PHASE_PENDING;
        *failed += p == POD_PHASE_FAILED;
    }
}

bool manager_is_ready(const Manager *m)
{
    return m->ready;
}

/* ---- API views: Kubernetes v1 Pod objects ----------------------------------------------- */

/* A restart is coming: Kubernetes shows the container waiting, its crash as lastState. */
static bool ctr_restart_pending(const Ctr *c)
{
    return c->has_term &&
           (c->life.state == CTR_STATE_BACKOFF || c->life.state == CTR_STATE_WAITING ||
            c->life.state == CTR_STATE_WAITING_IMAGE || c->life.state == CTR_STATE_PULLING ||
            c->life.state == CTR_STATE_PULL_BACKOFF || c->life.state == CTR_STATE_WAITING_RUNTIME ||
            c->life.state == CTR_STATE_STARTING);
}

static json_t *terminated_json(const ExitRecord *e)
{
    return json_pack("{s:{s:i,s:s,s:s,s:s,s:s?}}", "terminated", "exitCode", e->exit_code, "reason",
                     e->reason, "startedAt", e->started_at, "finishedAt", e->finished_at, "message",
                     e->message[0] ? e->message : NULL);
}

static json_t *ctr_state_json(const Ctr *c)
{
    const char *reason = ctr_reason_to_string(c->life.reason);

    if (ctr_state_shows_running(c->life.state))
        return json_pack("{s:{s:s}}", "running", "startedAt", c->started_at);
    /* Refused before it ran: the kubelet shows it waiting with the reason until the spec changes.
     */
    if (c->has_term && c->life.last_exit.config_error)
        return json_pack("{s:{s:s,s:s}}", "waiting", "reason", c->term.reason, "message",
                         c->term.message);
    if (c->has_term && !ctr_restart_pending(c))
        return terminated_json(&c->term);
    /* A termination's reason belongs to lastState; a restart is being created. */
    if (!ctr_reason_is_waiting(c->life.reason))
        reason = ctr_reason_to_string(CTR_REASON_CONTAINER_CREATING);
    return json_pack("{s:{s:s,s:s?}}", "waiting", "reason", reason, "message",
                     c->message[0] ? c->message : NULL);
}

/*
 * Why pr's new version waits: InvalidImageName, ErrImageNeverPull (missing
 * with imagePullPolicy: Never), ErrImagePull (its pull failed) then
 * ImagePullBackOff (failed again), else ImageNotFound (not there yet, or
 * being pulled).
 */
static const char *held_reason(const PodRec *pr)
{
    if (pr->held == PLAN_IMAGE_INVALID)
        return reconcile_plan_image_to_string(pr->held);
    if (pr->held_never)
        return "ErrImageNeverPull";
    if (pr->held_pull_failures)
        return pr->held_pull_failures > 1 ? "ImagePullBackOff" : "ErrImagePull";
    return reconcile_plan_image_to_string(pr->held);
}

static json_t *ctr_status_json(const Ctr *c)
{
    bool running = ctr_state_shows_running(c->life.state);
    json_t *o = json_pack("{s:s,s:s,s:s,s:b,s:i,s:b,s:o}", "name", c->name, "image",
                          c->image[0] ? c->image
                          : c->spec   ? c->spec->image
                                      : "",
                          "imageID", c->image_id, "ready", running && c->life.ready, "restartCount",
                          (int)c->life.restart_count, "started", running && c->life.startup_passed,
                          "state", ctr_state_json(c));
    const ExitRecord *last = ctr_restart_pending(c) ? &c->term : c->has_last ? &c->last : NULL;
    json_t *probes = ctr_probes_json(c);

    if (o)
        (void)json_object_set_new(o, "lastState", last ? terminated_json(last) : json_object());
    /* podd's own: a new version of it waits for its images; this one runs on meanwhile. */
    if (o && c->pod->held != PLAN_IMAGE_PRESENT && strv_contains(c->pod->held_ctrs, c->name)) {
        json_t *images = json_array();

        for (size_t i = 0; images && c->pod->held_images[i]; i++)
            (void)json_array_append_new(images, json_string(c->pod->held_images[i]));
        (void)json_object_set_new(o, "pendingUpdate",
                                  json_pack("{s:s,s:o,s:s}", "reason", held_reason(c->pod),
                                            "images", images ? images : json_array(), "message",
                                            c->pod->held_pull_failures ? c->pod->held_pull_error
                                            : c->pod->held_summary     ? c->pod->held_summary
                                                                       : ""));
    }
    /* podd's own: each probe's settings and its last result (podctl describe shows them). */
    if (o && probes)
        (void)json_object_set_new(o, "probes", probes);
    else
        json_decref(probes);
    return o;
}

static json_t *condition(const PodRec *pr, PodCondition k, const char *type, bool status)
{
    return json_pack("{s:s,s:s,s:s}", "type", type, "status", status ? "True" : "False",
                     "lastTransitionTime", pr->cond_time[k][0] ? pr->cond_time[k] : pr->created_at);
}

static json_t *pod_rec_to_json(const PodRec *pr)
{
    json_t *init = json_array(), *regular = json_array(), *conds = json_array();
    json_t *spec_init = json_array(), *spec_regular = json_array();
    _cleanup_free_ const CtrLife **lives = calloc(pr->n_ctrs + 1, sizeof(CtrLife *));
    json_t *o, *meta;
    PodConditions pc;

    for (size_t i = 0; i < pr->n_ctrs; i++) {
        const Ctr *c = &pr->ctrs[i];
        bool is_init = c->life.kind != CONTAINER_KIND_REGULAR;

        (void)json_array_append_new(is_init ? init : regular, ctr_status_json(c));
        (void)json_array_append_new(
            is_init ? spec_init : spec_regular,
            json_pack("{s:s,s:s,s:s?}", "name", c->name, "image", c->spec ? c->spec->image : "",
                      "restartPolicy", c->life.kind == CONTAINER_KIND_SIDECAR ? "Always" : NULL));
        if (lives)
            lives[i] = &c->life;
    }
    if (!lives)
        return NULL;
    pc = pod_compute_conditions(lives, pr->n_ctrs, pod_state_is_terminating(pr->life.state));
    (void)json_array_append_new(conds,
                                condition(pr, POD_COND_SCHEDULED, "PodScheduled", pc.scheduled));
    (void)json_array_append_new(conds,
                                condition(pr, POD_COND_INITIALIZED, "Initialized", pc.initialized));
    (void)json_array_append_new(
        conds, condition(pr, POD_COND_CONTAINERS_READY, "ContainersReady", pc.containers_ready));
    (void)json_array_append_new(conds, condition(pr, POD_COND_READY, "Ready", pc.ready));
    meta = json_pack("{s:s,s:s,s:s}", "name", pr->name, "namespace", pr->namespace,
                     "creationTimestamp", pr->created_at);
    if (meta && pod_state_is_terminating(pr->life.state) && pr->deleting_at[0])
        (void)json_object_set_new(meta, "deletionTimestamp", json_string(pr->deleting_at));
    if (meta && pr->pod) {
        json_t *labels = json_object();

        for (size_t i = 0; labels && i < pr->pod->labels.n; i++)
            (void)json_object_set_new(labels, pr->pod->labels.items[i].key,
                                      json_string(pr->pod->labels.items[i].value));
        (void)json_object_set_new(meta, "labels", labels);
    }
    if (meta) {
        json_t *ann =
            json_pack("{s:s,s:s}", "podd.io/source", pr->source ? pr->source : "",
                      "podd.io/runtime", pr->runtime ? pr->runtime : pod_wanted_runtime(pr));

        for (size_t i = 0; ann && pr->pod && i < pr->pod->annotations.n; i++)
            (void)json_object_set_new(ann, pr->pod->annotations.items[i].key,
                                      json_string(pr->pod->annotations.items[i].value));
        (void)json_object_set_new(meta, "annotations", ann);
    }
    o = json_pack(
        "{s:s,s:s,s:o,s:{s:o,s:o,s:s},s:{s:s,s:o,s:o,s:o,s:s}}", "apiVersion", "v1", "kind", "Pod",
        "metadata", meta, "spec", "initContainers", spec_init, "containers", spec_regular,
        "restartPolicy", pr->pod ? restart_policy_to_string(pr->pod->restart_policy) : "Always",
        "status", "phase", pod_phase_to_string(pr->phase), "conditions", conds,
        "initContainerStatuses", init, "containerStatuses", regular, "startTime", pr->created_at);
    if (o && pr->has_manifest_error) {
        char buf[PD_ERROR_MESSAGE_MAX + PD_ERROR_FILE_MAX + 64];

        pd_error_format(&pr->manifest_error, buf, sizeof(buf));
        (void)json_object_set_new(json_object_get(o, "status"), "message", json_string(buf));
        (void)json_object_set_new(json_object_get(o, "status"), "reason",
                                  json_string("ManifestInvalid"));
    } else if (o && pod_life_evicted(&pr->life)) {
        (void)json_object_set_new(json_object_get(o, "status"), "message",
                                  json_string(pr->evicted_message));
        (void)json_object_set_new(json_object_get(o, "status"), "reason", json_string("Evicted"));
    }
    return o;
}

json_t *manager_pod_to_json(const Manager *m, const char *name)
{
    const PodRec *pr = manager_find_pod(m, name);

    return pr ? pod_rec_to_json(pr) : NULL;
}

/* The compact JSON of pr's view: the kept text, else rendered now and kept. 0 or -ENOMEM. */
static int pod_rec_view_text(PodRec *pr)
{
    _cleanup_json_ json_t *o = NULL;
    char *text;

    if (pr->view)
        return 0;
    o = pod_rec_to_json(pr);
    text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    pr->view = text ? shared_text_take(text, strlen(text)) : NULL;
    return pr->view ? 0 : -ENOMEM;
}

int manager_pods_append_json(const Manager *m, StrBuf *out)
{
    int r = strbuf_append(out, "[", 1);

    for (size_t i = 0; r >= 0 && i < m->n_pods; i++) {
        PodRec *pr = m->pods[i];

        r = pod_rec_view_text(pr);
        if (r >= 0 && i > 0)
            r = strbuf_append(out, ",", 1);
        if (r >= 0)
            r = strbuf_append(out, shared_text_data(pr->view), shared_text_len(pr->view));
    }
    return r < 0 ? r : strbuf_append(out, "]", 1);
}

int manager_pods_view(const Manager *m, SharedText ***ret, size_t *ret_n)
{
    _cleanup_free_ SharedText **texts = calloc(m->n_pods ? m->n_pods : 1, sizeof(SharedText *));

    if (!texts)
        return -ENOMEM;
    for (size_t i = 0; i < m->n_pods; i++) {
        if (pod_rec_view_text(m->pods[i]) < 0)
            return -ENOMEM;
        texts[i] = m->pods[i]->view;
    }
    *ret = move_ptr(texts);
    *ret_n = m->n_pods;
    return 0;
}

void manager_view_flush(Manager *m)
{
    if (!m->view_source || loop_source_get_enabled(m->view_source) == LOOP_SOURCE_OFF)
        return;
    (void)loop_source_set_enabled(m->view_source, LOOP_SOURCE_OFF);
    if (m->cfg.view_changed)
        m->cfg.view_changed(m, m->cfg.userdata);
}

static int on_view_changed(LoopSource *s, void *userdata)
{
    Manager *m = userdata;

    if (m->cfg.view_changed)
        m->cfg.view_changed(m, m->cfg.userdata);
    return 0;
}

json_t *manager_events_to_json(const Manager *m, const char *name, uint64_t after)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < m->n_events; i++) {
        const EventRec *e = &m->events[(m->events_first + i) % MANAGER_MAX_EVENTS];

        if (e->seq <= after || (name && (!e->pod || !streq(e->pod, name))))
            continue;
        if (json_array_append_new(a, json_loads(e->text, 0, NULL)) < 0)
            return json_decref(a), NULL;
    }
    return a;
}

json_t *manager_describe_pod(const Manager *m, const char *name)
{
    const PodRec *pr = manager_find_pod(m, name);
    json_t *errors;

    if (!pr)
        return NULL;
    errors = json_array();
    if (errors && pr->has_manifest_error)
        (void)json_array_append_new(errors,
                                    json_pack("{s:s,s:i,s:i,s:s}", "file", pr->manifest_error.file,
                                              "line", (int)pr->manifest_error.line, "column",
                                              (int)pr->manifest_error.column, "message",
                                              pr->manifest_error.message));
    return json_pack("{s:o,s:o,s:o}", "pod", pod_rec_to_json(pr), "events",
                     manager_events_to_json(m, name, 0), "errors", errors);
}
