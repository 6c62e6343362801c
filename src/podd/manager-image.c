/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#include "image/image.h"
#include "manager-internal.h"
#include "registry/registry.h"

/*
 * Whether image (as a manifest names it) is the image named (a normalised
 * reference) whose manifest digest is digest ("" for a plain rootfs
 * directory): the same name, or a reference by digest to that repository.
 */
static bool image_is(const char *image, const char *name, const char *digest)
{
    ImageReference a, b;

    if (!image || image_reference_parse(image, &a, NULL) < 0 ||
        image_reference_parse(name, &b, NULL) < 0)
        return false;
    if (a.digest[0])
        return digest[0] && streq(a.digest, digest) && streq(a.domain, b.domain) &&
               streq(a.path, b.path);
    return streq(a.domain, b.domain) && streq(a.path, b.path) && streq(a.tag, b.tag) &&
           !b.digest[0];
}

/* The image a container runs with: its spec_json is the version that runs. */
static bool ctr_runs_image(const Ctr *c, const char *name, const char *digest)
{
    _cleanup_json_ json_t *spec = NULL;

    if (!ctr_state_shows_running(c->life.state) || !c->spec_json)
        return false;
    spec = json_loads(c->spec_json, 0, NULL);
    return image_is(json_string_value(json_object_get(spec, "image")), name, digest);
}

/* Desired (the manifest names it) or running (a container of an older version runs it). */
static bool pod_uses_image(const PodRec *pr, const char *name, const char *digest)
{
    for (size_t i = 0; i < pr->n_ctrs; i++) {
        const Ctr *c = &pr->ctrs[i];

        if ((c->spec && image_is(c->spec->image, name, digest)) || ctr_runs_image(c, name, digest))
            return true;
    }
    return false;
}

/* The names of the pods using an image, sorted as the pods are. New reference; NULL on ENOMEM. */
static json_t *image_users(const Manager *m, const char *name, const char *digest)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < m->n_pods; i++)
        if (pod_uses_image(m->pods[i], name, digest) &&
            json_array_append_new(a, json_string(m->pods[i]->name)) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

const char *manager_images_dir(const Manager *m)
{
    return m->images_dir;
}

/*
 * One {"image": "FAMILIAR:TAG", "name", "tag", "reference", "digest", "size",
 * "created", "usedBy"} entry; digest, size and created are null for a plain
 * rootfs directory. New reference; NULL on ENOMEM.
 */
static json_t *image_to_json(const Manager *m, const char *name, const ImageRecord *rec)
{
    char familiar[IMAGE_NAME_SIZE], shown[2 * IMAGE_NAME_SIZE], when[40];
    const char *digest = rec ? rec->digest : "";
    ImageReference ref;
    json_t *users;

    if (image_reference_parse(name, &ref, NULL) < 0 ||
        image_reference_familiar_name(&ref, familiar, sizeof(familiar)) < 0)
        return json_null();
    (void)snprintf(shown, sizeof(shown), "%s%s%s%s%s", familiar, ref.tag[0] ? ":" : "", ref.tag,
                   ref.digest[0] ? "@" : "", ref.digest);
    users = image_users(m, name, digest);
    if (!users)
        return NULL;
    return json_pack("{s:s,s:s,s:s,s:s,s:s?,s:o,s:s?,s:o}", "image", shown, "name", familiar, "tag",
                     ref.tag, "reference", name, "digest", rec ? rec->digest : NULL, "size",
                     rec ? json_integer((json_int_t)rec->size) : json_null(), "created",
                     rec ? format_rfc3339(rec->created, when, sizeof(when)) : NULL, "usedBy",
                     users);
}

json_t *manager_images_to_json(const Manager *m, PdError *reterr)
{
    _cleanup_free_ ImageRef *refs = NULL;
    _cleanup_free_ ImageRecord *recs = NULL;
    _cleanup_json_ json_t *a = json_array();
    size_t n = 0, n_recs = 0;
    int r;

    r = image_store_records(m->images_dir, &recs, &n_recs, reterr);
    if (r < 0)
        return NULL;
    r = image_store_list(m->images_dir, &refs, &n);
    if (r < 0) {
        (void)pd_error_set(reterr, r, "cannot list the image store %s: %s", m->images_dir,
                           strerror(-r));
        return NULL;
    }
    for (size_t i = 0; a && i < n_recs; i++)
        if (json_array_append_new(a, image_to_json(m, recs[i].name, &recs[i])) < 0)
            json_decref(move_ptr(a));
    /* Plain root filesystem directories (podctl image import). */
    for (size_t i = 0; a && i < n; i++) {
        char legacy[2 * IMAGE_REF_MAX + 2];
        json_t *j;

        image_ref_format(&refs[i], legacy, sizeof(legacy));
        j = image_to_json(m, legacy, NULL);
        if (json_is_null(j))
            continue;
        if (json_array_append_new(a, j) < 0)
            json_decref(move_ptr(a));
    }
    if (!a)
        (void)pd_error_set(reterr, -ENOMEM, "out of memory");
    return move_ptr(a);
}

PlanImage manager_plan_image(void *userdata, const char *image)
{
    const Manager *m = userdata;
    _cleanup_(image_resolved_done) ImageResolved res = {};
    int r = image_store_resolve(m->images_dir, image, &res, NULL);

    return r >= 0 ? PLAN_IMAGE_PRESENT : r == -EINVAL ? PLAN_IMAGE_INVALID : PLAN_IMAGE_ABSENT;
}

/* Whether pr's waiting version names ref (a reference by digest matches once resolved). */
static bool update_waits_for(const PodRec *pr, const char *ref)
{
    for (size_t i = 0; pr->held_images && pr->held_images[i]; i++)
        if (image_reference_equal(pr->held_images[i], ref) || strchr(pr->held_images[i], '@'))
            return true;
    return false;
}

unsigned manager_image_added(Manager *m, const char *ref)
{
    unsigned n = 0;

    for (size_t i = 0; i < m->n_pods; i++) {
        PodRec *pr = m->pods[i];
        bool marked = false;

        /* A new version waiting for its images looks again (manager_update_retry()). */
        if (pr->held != PLAN_IMAGE_PRESENT && update_waits_for(pr, ref)) {
            manager_mark_dirty(pr);
            n++;
            continue;
        }

        for (size_t k = 0; k < pr->n_ctrs; k++) {
            Ctr *c = &pr->ctrs[k];
            bool same = c->spec && image_reference_equal(c->spec->image, ref);

            if (!c->spec)
                continue;
            /* Its pull, or another way, brought it. */
            if (same && c->life.state == CTR_STATE_PULLING)
                ctr_feed_image_event(c, CTR_EV_PULL_DONE);
            else if (same && c->life.state == CTR_STATE_PULL_BACKOFF)
                ctr_feed_image_event(c, CTR_EV_IMAGE_ADDED);
            /* A reference by digest matches once resolved: such a container looks again too. */
            else if (c->life.state == CTR_STATE_WAITING_IMAGE &&
                     (same || strchr(c->spec->image, '@')))
                manager_mark_dirty(pr);
            else
                continue;
            marked = true;
        }
        n += marked;
    }
    return n;
}

/* ---- pulls ---------------------------------------------------------------------------------- */

/* One pull under way, shared by every container that waits for its reference. */
struct ImagePull {
    Manager *m;
    char name[IMAGE_NAME_SIZE]; /* the normalised reference */
    RegistryPullJob *job;
    LoopSource *io;
    uint64_t started; /* monotonic usec */
    bool done;        /* it succeeded: bytes and took say how */
    uint64_t bytes, took;
};

static ImagePull *image_pull_free(ImagePull *p)
{
    if (!p)
        return NULL;
    p->io = loop_source_unref(p->io);
    p->job = registry_pull_job_free(p->job);
    free(p);
    return NULL;
}

void manager_pulls_free(Manager *m)
{
    for (size_t i = 0; i < m->n_pulls; i++)
        (void)image_pull_free(m->pulls[i]);
    free(m->pulls);
    m->pulls = NULL;
    m->n_pulls = 0;
}

/* " in 1.234s. Image size: N bytes." for a pull that succeeded, else "". */
static void image_pull_describe(const ImagePull *p, char *buf, size_t size)
{
    if (!p || !p->done) {
        (void)snprintf(buf, size, "%s", "");
        return;
    }
    (void)snprintf(buf, size, " in %" PRIu64 ".%03" PRIu64 "s. Image size: %" PRIu64 " bytes.",
                   p->took / 1000000, p->took / 1000 % 1000, p->bytes);
}

void ctr_pull_describe(const Ctr *c, char *buf, size_t size)
{
    image_pull_describe(c->pull, buf, size);
}

/* A pull for pr's waiting version failed: the running version runs on; it is tried again later. */
static void held_pull_failed(PodRec *pr, const char *image, const char *message)
{
    uint64_t delay;

    pr->held_pull_failures++;
    /* The containers' own image back-off (the lifecycle's schedule), with podd's settings. */
    delay = ctr_pull_backoff_delay(
        &(CtrBackoff){pr->m->cfg.pull_backoff_initial_usec, pr->m->cfg.pull_backoff_max_usec, 0},
        pr->held_pull_failures);
    pr->held_pull_retry_at = now_monotonic_usec() + delay;
    (void)snprintf(pr->held_pull_error, sizeof(pr->held_pull_error), "%.380s", message);
    log_warning("pod=%s/%s: cannot pull image '%s' for its new version: %s; the running version "
                "runs on",
                pr->namespace, pr->name, image, message);
    manager_event(pr->m, pr, NULL, "Warning", "Failed",
                  "Failed to pull image \"%s\": %s; the running version runs on, next try in "
                  "%llus",
                  image, message, (unsigned long long)((delay + 999999) / 1000000));
    manager_mark_dirty(pr);
}

/* The containers waiting for p: told how it ended, and let go of it. */
static void image_pull_finish(ImagePull *p, int r, const PdError *e)
{
    Manager *m = p->m;
    unsigned waiting;

    if (r >= 0) {
        p->done = true;
        p->took = now_monotonic_usec() - p->started;
        waiting = manager_image_added(m, p->name);
        log_info("image '%s' pulled in %" PRIu64 " ms; %u pod%s waiting for it", p->name,
                 p->took / 1000, waiting, waiting == 1 ? "" : "s");
    } else
        log_warning("cannot pull image '%s': %s; its containers back off", p->name, e->message);
    for (size_t i = 0; i < m->n_pods; i++) {
        PodRec *pr = m->pods[i];

        /* A new version waiting for it: pulled, it goes ahead (marked above); failed, it backs off.
         */
        for (size_t k = 0; pr->held_pulls && pr->held_images && pr->held_images[k]; k++) {
            if (pr->held_pulls[k] != p)
                continue;
            pr->held_pulls[k] = NULL;
            if (r < 0)
                held_pull_failed(pr, pr->held_images[k], e->message);
            else {
                char how[128];

                pr->held_pull_failures = 0;
                pr->held_pull_error[0] = '\0';
                image_pull_describe(p, how, sizeof(how));
                manager_event(m, pr, NULL, "Normal", "Pulled",
                              "Successfully pulled image \"%s\" for the new version%s",
                              pr->held_images[k], how);
            }
        }
        for (size_t k = 0; k < pr->n_ctrs; k++) {
            Ctr *c = &pr->ctrs[k];

            if (c->pull != p)
                continue;
            c->pull = NULL;
            if (c->life.state != CTR_STATE_PULLING || !c->spec)
                continue;
            /* A new version names another image while the old one was pulled: pull that. */
            if (!image_reference_equal(c->spec->image, p->name)) {
                ctr_pull_image(c);
                continue;
            }
            if (r >= 0) /* recorded, yet not found by manager_image_added(): cannot be */
                continue;
            (void)snprintf(c->pull_error, sizeof(c->pull_error), "%.380s", e->message);
            ctr_feed_image_event(c, CTR_EV_PULL_FAILED);
        }
    }
    for (size_t i = 0; i < m->n_pulls; i++)
        if (m->pulls[i] == p) {
            m->pulls[i] = m->pulls[--m->n_pulls];
            break;
        }
    (void)image_pull_free(p);
}

static int on_pull_io(LoopSource *s, int fd, uint32_t revents, void *userdata)
{
    ImagePull *p = userdata;
    RegistryProgress progress = {};
    ImageLoadResult *res = NULL;
    PdError e = {};
    int r;

    (void)s;
    (void)fd;
    (void)revents;
    r = registry_pull_job_read(p->job, &progress, &res, &e);
    res = image_load_result_free(res);
    if (r == 0)
        return 0;
    p->bytes = progress.total;
    image_pull_finish(p, r, &e);
    return 0;
}

/*
 * The pull of image (as a manifest names it): the one under way, else a new
 * one. *started says which. Returns 0 or -errno (with reterr).
 */
static int image_pull_get(Manager *m, const char *image, ImagePull **ret, bool *started,
                          PdError *reterr)
{
    _cleanup_free_ ImagePull *p = NULL;
    ImagePull **v;
    ImageReference ref;
    int r;

    *started = false;
    r = image_reference_parse(image, &ref, reterr);
    if (r < 0)
        return r;
    p = calloc(1, sizeof(*p));
    if (!p)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    (void)image_reference_format(&ref, p->name, sizeof(p->name));
    for (size_t i = 0; i < m->n_pulls; i++)
        if (streq(m->pulls[i]->name, p->name)) {
            *ret = m->pulls[i];
            return 0;
        }
    v = reallocarray(m->pulls, m->n_pulls + 1, sizeof(ImagePull *));
    if (!v)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    m->pulls = v;
    p->m = m;
    p->started = now_monotonic_usec();
    r = registry_pull_start_exec(m->image_loader, m->images_dir, &ref, m->cfg.registries_path,
                                 m->cfg.auth_path, REGISTRY_PULL_RECORD, &p->job, reterr);
    if (r < 0)
        return r;
    r = loop_add_io(m->loop, &p->io, registry_pull_job_fd(p->job), EPOLLIN, on_pull_io, p);
    if (r < 0) {
        p->job = registry_pull_job_free(p->job);
        return pd_error_set(reterr, r, "cannot watch the pull: %s", strerror(-r));
    }
    log_info("pulling image '%s' (process %d)", p->name, (int)registry_pull_job_pid(p->job));
    *ret = p;
    *started = true;
    m->pulls[m->n_pulls++] = move_ptr(p);
    return 0;
}

void ctr_pull_image(Ctr *c)
{
    PdError e = {};
    bool started;
    int r;

    r = image_pull_get(c->pod->m, c->spec ? c->spec->image : "", &c->pull, &started, &e);
    if (r >= 0)
        return;
    c->pull = NULL;
    (void)snprintf(c->pull_error, sizeof(c->pull_error), "%.380s", e.message);
    log_warning("pod=%s/%s container=%s: cannot pull image '%s': %s; it backs off",
                c->pod->namespace, c->pod->name, c->name, c->spec ? c->spec->image : "", e.message);
    ctr_feed_image_event(c, CTR_EV_PULL_FAILED);
}

/* How desired's containers naming image let it be pulled: Never wins (nothing pulls it). */
static ImagePullPolicy held_image_policy(const Pod *desired, const char *image, bool *pullable)
{
    ImagePullPolicy policy = IMAGE_PULL_POLICY_IF_NOT_PRESENT;

    *pullable = image[0] != '/'; /* a plain root filesystem directory is never pulled */
    POD_FOREACH_CONTAINER (desired, c, i) {
        if (!c->image || !streq(c->image, image))
            continue;
        if (c->image_pull_policy == IMAGE_PULL_POLICY_NEVER)
            policy = IMAGE_PULL_POLICY_NEVER;
    }
    return policy;
}

void manager_update_pull(PodRec *pr, const Pod *desired)
{
    Manager *m = pr->m;
    size_t n = strv_length(pr->held_images);
    uint64_t now = now_monotonic_usec();

    if (pr->held != PLAN_IMAGE_ABSENT || n == 0)
        return;
    if (!pr->held_pulls) {
        pr->held_pulls = calloc(n, sizeof(ImagePull *));
        if (!pr->held_pulls) {
            log_error("pod=%s/%s: out of memory; its images are not pulled", pr->namespace,
                      pr->name);
            return;
        }
    }
    pr->held_never = false;
    for (size_t i = 0; i < n; i++) {
        const char *image = pr->held_images[i];
        PdError e = {};
        bool pullable, started;

        if (pr->held_pulls[i] || manager_plan_image(m, image) == PLAN_IMAGE_PRESENT)
            continue;
        if (held_image_policy(desired, image, &pullable) == IMAGE_PULL_POLICY_NEVER) {
            pr->held_never = true;
            continue;
        }
        if (!pullable || (pr->held_pull_retry_at && now < pr->held_pull_retry_at))
            continue;
        if (image_pull_get(m, image, &pr->held_pulls[i], &started, &e) < 0) {
            pr->held_pulls[i] = NULL;
            held_pull_failed(pr, image, e.message);
            continue;
        }
        manager_event(m, pr, NULL, "Normal", "Pulling",
                      "Pulling image \"%s\" for the new version; the running version runs on",
                      image);
    }
    /* Every pull due was started (or failed again and set the next try). */
    if (pr->held_pull_retry_at && now >= pr->held_pull_retry_at)
        pr->held_pull_retry_at = 0;
}

/* The plain rootfs directory of ref, as podctl image import names it; -EINVAL for none. */
static int legacy_ref(const ImageReference *ref, ImageRef *ret)
{
    char familiar[IMAGE_NAME_SIZE], s[IMAGE_NAME_SIZE + IMAGE_TAG_MAX + 2];

    if (ref->digest[0] || image_reference_familiar_name(ref, familiar, sizeof(familiar)) < 0)
        return -EINVAL;
    (void)snprintf(s, sizeof(s), "%s:%s", familiar, ref->tag);
    return image_ref_parse(s, ret);
}

int manager_image_remove(Manager *m, const char *image, PdError *reterr)
{
    _cleanup_json_ json_t *users = NULL;
    char names[512] = "", name[IMAGE_NAME_SIZE];
    size_t i, len = 0;
    json_t *u;
    ImageReference ref;
    ImageRecord rec = {};
    ImageRef legacy;
    bool recorded;
    int r;

    r = image_reference_parse(image, &ref, reterr);
    if (r < 0)
        return r;
    r = image_store_find(m->images_dir, &ref, &rec, NULL);
    if (r < 0 && r != -ENOENT)
        return pd_error_set(reterr, r, "image '%s': %s", image, strerror(-r));
    recorded = r >= 0;
    if (recorded)
        strcpy(name, rec.name);
    else
        (void)image_reference_format(&ref, name, sizeof(name));
    users = image_users(m, name, rec.digest);
    if (!users)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    if (json_array_size(users) > 0) {
        json_array_foreach(users, i, u)
        {
            if (len < sizeof(names))
                len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
                                        json_string_value(u));
        }
        return pd_error_set(reterr, -EEXIST, "image '%s' is used by pod%s %s", image,
                            json_array_size(users) > 1 ? "s" : "", names);
    }
    /*
     * Only the name: the layers and blobs it leaves unused go with
     * image_store_gc(), which podctl runs (it may wait for an unpack).
     */
    if (recorded)
        return image_store_untag(m->images_dir, rec.name, reterr);
    if (legacy_ref(&ref, &legacy) < 0)
        return pd_error_set(reterr, -ENOENT, "image '%s' not found", image);
    r = image_remove(m->images_dir, &legacy, reterr);
    if (r == -ENOENT)
        return pd_error_set(reterr, -ENOENT, "image '%s' not found", image);
    return r;
}

int manager_images_prepare(Manager *m)
{
    if (mkdir(m->images_dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    return image_store_clean(m->images_dir);
}
