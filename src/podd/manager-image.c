/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <sys/stat.h>

#include "image/image.h"
#include "manager-internal.h"

/* The image a container runs with: its spec_json is the version that runs. */
static bool ctr_runs_image(const Ctr *c, const char *ref)
{
    _cleanup_json_ json_t *spec = NULL;
    const char *image;

    if (!ctr_state_shows_running(c->life.state) || !c->spec_json)
        return false;
    spec = json_loads(c->spec_json, 0, NULL);
    image = json_string_value(json_object_get(spec, "image"));
    return image && image_ref_equal(image, ref);
}

/* Desired (the manifest names it) or running (a container of an older version runs it). */
static bool pod_uses_image(const PodRec *pr, const char *ref)
{
    for (size_t i = 0; i < pr->n_ctrs; i++) {
        const Ctr *c = &pr->ctrs[i];

        if ((c->spec && image_ref_equal(c->spec->image, ref)) || ctr_runs_image(c, ref))
            return true;
    }
    return false;
}

/* The names of the pods using ref, sorted as the pods are. New reference; NULL on ENOMEM. */
static json_t *image_users(const Manager *m, const char *ref)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < m->n_pods; i++)
        if (pod_uses_image(m->pods[i], ref) &&
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

/* One {"image", "name", "tag", "usedBy"} entry. New reference; NULL on ENOMEM. */
static json_t *image_to_json(const Manager *m, const ImageRef *r)
{
    char ref[2 * IMAGE_REF_MAX + 2];
    json_t *users;

    image_ref_format(r, ref, sizeof(ref));
    users = image_users(m, ref);
    if (!users)
        return NULL;
    return json_pack("{s:s,s:s,s:s,s:o}", "image", ref, "name", r->name, "tag", r->tag, "usedBy",
                     users);
}

json_t *manager_images_to_json(const Manager *m, PdError *reterr)
{
    _cleanup_free_ ImageRef *refs = NULL;
    _cleanup_json_ json_t *a = json_array();
    size_t n = 0;
    int r;

    r = image_store_list(m->images_dir, &refs, &n);
    if (r < 0) {
        (void)pd_error_set(reterr, r, "cannot list the image store %s: %s", m->images_dir,
                           strerror(-r));
        return NULL;
    }
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, image_to_json(m, &refs[i])) < 0)
            json_decref(move_ptr(a));
    if (!a)
        (void)pd_error_set(reterr, -ENOMEM, "out of memory");
    return move_ptr(a);
}

unsigned manager_image_added(Manager *m, const char *ref)
{
    unsigned n = 0;

    for (size_t i = 0; i < m->n_pods; i++) {
        PodRec *pr = m->pods[i];

        for (size_t k = 0; k < pr->n_ctrs; k++) {
            const Ctr *c = &pr->ctrs[k];

            if (c->spec && c->life.state == CTR_STATE_WAITING_IMAGE &&
                image_ref_equal(c->spec->image, ref)) {
                manager_mark_dirty(pr);
                n++;
                break;
            }
        }
    }
    return n;
}

int manager_image_remove(Manager *m, const char *ref, PdError *reterr)
{
    _cleanup_json_ json_t *users = image_users(m, ref);
    char names[512] = "";
    size_t i, len = 0;
    json_t *u;
    ImageRef r;

    if (image_ref_parse(ref, &r) < 0)
        return pd_error_set(reterr, -EINVAL, "invalid image '%s'", ref);
    if (!users)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    if (json_array_size(users) > 0) {
        json_array_foreach(users, i, u)
        {
            if (len < sizeof(names))
                len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
                                        json_string_value(u));
        }
        return pd_error_set(reterr, -EEXIST, "image '%s:%s' is used by pod%s %s", r.name, r.tag,
                            json_array_size(users) > 1 ? "s" : "", names);
    }
    return image_remove(m->images_dir, &r, reterr);
}

int manager_images_prepare(Manager *m)
{
    if (mkdir(m->images_dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    return image_store_clean(m->images_dir);
}
