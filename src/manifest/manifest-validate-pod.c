/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#include "manifest-internal.h"

/* Validation of the document, its metadata, the pod spec, volumes and annotations. */

/* ---- metadata ------------------------------------------------------------------------------ */

static void parse_name(V *v, const Node *n, void *obj)
{
    Pod *p = obj;

    if (validate_string(v, n, &p->name) < 0)
        return;
    if (!dns_label_is_valid(p->name))
        validate_error(
            v, n,
            "'%s' is not a valid name: use at most 63 lower case letters, digits and '-', "
            "starting and ending with a letter or digit",
            p->name);
}

static void parse_namespace(V *v, const Node *n, void *obj)
{
    Pod *p = obj;

    (void)validate_dns_label(v, n, "namespace", &p->namespace);
}

static int str_map_parse(V *v, const Node *n, StrMap *m, bool labels)
{
    size_t total = 0;

    if (!validate_is(v, n, NODE_MAPPING, "a mapping of strings"))
        return -EINVAL;
    m->items = calloc(n->n_pairs ? n->n_pairs : 1, sizeof(StrPair));
    if (!m->items) {
        v->oom = true;
        return -ENOMEM;
    }
    for (size_t i = 0; i < n->n_pairs; i++) {
        const Node *key = n->pairs[i].key, *value = n->pairs[i].value;
        size_t old = validate_push(v, "[\"%s\"]", key->scalar);
        char *s = NULL;

        if (!qualified_name_is_valid(key->scalar))
            validate_error(
                v, key,
                "'%s' is not a valid key: an optional DNS prefix and '/', then at most 63 "
                "letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
                key->scalar);
        if (validate_string(v, value, &s) >= 0) {
            if (labels && !label_value_is_valid(s))
                validate_error(
                    v, value,
                    "'%s' is not a valid label value: at most 63 letters, digits, '-', '_' "
                    "or '.', starting and ending with a letter or digit",
                    s);
            total += strlen(key->scalar) + strlen(s);
            m->items[m->n].key = strdup(key->scalar);
            m->items[m->n].value = s;
            if (!m->items[m->n].key)
                v->oom = true;
            m->n++;
        }
        validate_pop(v, old);
    }
    if (!labels && total > ANNOTATIONS_MAX_BYTES)
        validate_error(v, n, "annotations hold more than %d bytes", ANNOTATIONS_MAX_BYTES);
    return 0;
}

static void parse_labels(V *v, const Node *n, void *obj)
{
    (void)str_map_parse(v, n, &((Pod *)obj)->labels, true);
}

static void parse_annotations(V *v, const Node *n, void *obj)
{
    (void)str_map_parse(v, n, &((Pod *)obj)->annotations, false);
}

static const Field metadata_fields[] = {
    F_PARSE("name", parse_name),
    F_PARSE("namespace", parse_namespace),
    F_PARSE("labels", parse_labels),
    F_PARSE("annotations", parse_annotations),
    F_UNSUPPORTED("generateName", "podd needs a fixed metadata.name"),
    F_IGNORED("uid", "set by a cluster", &(Shape){NULL, 's', NULL}),
    F_IGNORED("resourceVersion", "set by a cluster", &(Shape){NULL, 's', NULL}),
    F_IGNORED("generation", "set by a cluster", &(Shape){NULL, 'i', NULL}),
    F_IGNORED("creationTimestamp", "set by a cluster", &(Shape){NULL, 'n', NULL}),
    F_IGNORED("deletionTimestamp", "set by a cluster", &(Shape){NULL, 's', NULL}),
    F_IGNORED("deletionGracePeriodSeconds", "set by a cluster", &(Shape){NULL, 'i', NULL}),
    F_IGNORED("selfLink", "set by a cluster", &(Shape){NULL, 's', NULL}),
    F_IGNORED("managedFields", "set by a cluster",
              &(Shape){NULL, 'a', (const Shape[]){{NULL, 'o', NULL}}}),
    F_IGNORED("ownerReferences", "only meaningful in a cluster",
              &(Shape){NULL, 'a', (const Shape[]){{NULL, 'o', NULL}}}),
    F_IGNORED("finalizers", "only meaningful in a cluster",
              &(Shape){NULL, 'a', (const Shape[]){{NULL, 's', NULL}}}),
    F_END,
};

/* ---- volumes -------------------------------------------------------------------------------- */

static void parse_volume_name(V *v, const Node *n, void *obj)
{
    Volume *vol = obj;

    (void)validate_dns_label(v, n, "volume name", &vol->name);
}

static void parse_host_path_path(V *v, const Node *n, void *obj)
{
    Volume *vol = obj;

    if (validate_string(v, n, &vol->host_path) >= 0 && !path_is_absolute(vol->host_path))
        validate_error(v, n, "'%s' is not an absolute path", vol->host_path);
    else if (vol->host_path && !path_is_safe_relative(vol->host_path[1] ? vol->host_path + 1 : "."))
        validate_error(v, n, "'%s' must not contain '..'", vol->host_path);
}

static void parse_host_path_type(V *v, const Node *n, void *obj)
{
    Volume *vol = obj;
    _cleanup_free_ char *s = NULL;
    HostPathType t;

    if (validate_string(v, n, &s) < 0)
        return;
    t = host_path_type_from_string(s);
    if (t < 0)
        validate_error(
            v, n,
            "'%s' is not a hostPath type: use DirectoryOrCreate, Directory, FileOrCreate, "
            "File, Socket, CharDevice or BlockDevice",
            s);
    else
        vol->host_path_type = t;
}

static const Field host_path_fields[] = {
    F_PARSE("path", parse_host_path_path),
    F_PARSE("type", parse_host_path_type),
    F_END,
};

static void parse_empty_dir_medium(V *v, const Node *n, void *obj)
{
    Volume *vol = obj;
    _cleanup_free_ char *s = NULL;

    if (validate_string(v, n, &s) < 0)
        return;
    if (streq(s, "Memory"))
        vol->empty_dir_memory = true;
    else if (startswith(s, "HugePages"))
        validate_error(v, n, "not supported by podd: medium '%s' (use \"\" or Memory)", s);
    else if (s[0])
        validate_error(v, n, "'%s' is not a medium: use \"\" (disk) or Memory", s);
}

static void parse_empty_dir_size(V *v, const Node *n, void *obj)
{
    Volume *vol = obj;
    int r;

    if (n->type != NODE_SCALAR ||
        (n->kind != SCALAR_STRING && n->kind != SCALAR_INT && n->kind != SCALAR_FLOAT)) {
        validate_error(v, n, "expected a quantity, got %s", node_describe(n));
        return;
    }
    r = quantity_parse_bytes(n->scalar, &vol->size_limit_bytes);
    if (r == -ERANGE)
        validate_error(v, n, "quantity '%s' is out of range (negative or too large)", n->scalar);
    else if (r < 0)
        validate_error(v, n, "'%s' is not a quantity (examples: 64Mi, 1Gi)", n->scalar);
}

static const Field empty_dir_fields[] = {
    F_PARSE("medium", parse_empty_dir_medium),
    F_PARSE("sizeLimit", parse_empty_dir_size),
    F_END,
};

static void parse_host_path(V *v, const Node *n, void *obj)
{
    Volume *vol = obj;

    vol->kind = VOLUME_KIND_HOST_PATH;
    if (validate_object(v, n, host_path_fields, vol))
        validate_require(v, n, "path");
}

static void parse_empty_dir(V *v, const Node *n, void *obj)
{
    Volume *vol = obj;

    vol->kind = VOLUME_KIND_EMPTY_DIR;
    (void)validate_object(v, n, empty_dir_fields, vol);
}

#define VOLUME_UNSUPPORTED(name) F_UNSUPPORTED(name, "volume type (supported: hostPath, emptyDir)")

static const Field volume_fields[] = {
    F_PARSE("name", parse_volume_name),
    F_PARSE("hostPath", parse_host_path),
    F_PARSE("emptyDir", parse_empty_dir),
    VOLUME_UNSUPPORTED("configMap"),
    VOLUME_UNSUPPORTED("secret"),
    VOLUME_UNSUPPORTED("projected"),
    VOLUME_UNSUPPORTED("downwardAPI"),
    VOLUME_UNSUPPORTED("persistentVolumeClaim"),
    VOLUME_UNSUPPORTED("image"),
    VOLUME_UNSUPPORTED("ephemeral"),
    VOLUME_UNSUPPORTED("csi"),
    VOLUME_UNSUPPORTED("nfs"),
    VOLUME_UNSUPPORTED("iscsi"),
    VOLUME_UNSUPPORTED("gitRepo"),
    VOLUME_UNSUPPORTED("awsElasticBlockStore"),
    VOLUME_UNSUPPORTED("azureDisk"),
    VOLUME_UNSUPPORTED("azureFile"),
    VOLUME_UNSUPPORTED("cephfs"),
    VOLUME_UNSUPPORTED("cinder"),
    VOLUME_UNSUPPORTED("fc"),
    VOLUME_UNSUPPORTED("flexVolume"),
    VOLUME_UNSUPPORTED("flocker"),
    VOLUME_UNSUPPORTED("gcePersistentDisk"),
    VOLUME_UNSUPPORTED("glusterfs"),
    VOLUME_UNSUPPORTED("photonPersistentDisk"),
    VOLUME_UNSUPPORTED("portworxVolume"),
    VOLUME_UNSUPPORTED("quobyte"),
    VOLUME_UNSUPPORTED("rbd"),
    VOLUME_UNSUPPORTED("scaleIO"),
    VOLUME_UNSUPPORTED("storageos"),
    VOLUME_UNSUPPORTED("vsphereVolume"),
    F_END,
};

static void parse_volumes(V *v, const Node *n, void *obj)
{
    Pod *p = obj;

    if (!validate_list_alloc(v, n, MANIFEST_MAX_LIST, "entries", sizeof(Volume),
                             (void **)&p->volumes))
        return;
    for (size_t i = 0; i < n->n_items; i++) {
        const Node *item = n->items[i];
        size_t old = validate_push(v, "[%zu]", i);
        Volume *vol = &p->volumes[p->n_volumes++];
        size_t sources = 0;

        *vol = (Volume){.kind = _VOLUME_KIND_INVALID,
                        .size_limit_bytes = UNSET,
                        .pos = {item->line, item->column}};
        if (validate_object(v, item, volume_fields, vol)) {
            validate_require(v, item, "name");
            for (size_t j = 0; j < item->n_pairs; j++)
                if (!streq(item->pairs[j].key->scalar, "name"))
                    sources++;
            if (sources == 0)
                validate_error(v, item, "needs a source: hostPath or emptyDir");
            else if (sources > 1)
                validate_error(v, item, "has more than one source");
            for (size_t j = 0; vol->name && j + 1 < p->n_volumes; j++)
                if (p->volumes[j].name && streq(p->volumes[j].name, vol->name))
                    validate_error(v, item, "duplicate volume name '%s' (first at line %u)",
                                   vol->name, p->volumes[j].pos.line);
        }
        validate_pop(v, old);
    }
}

/* ---- pod spec ---------------------------------------------------------------------------------
 */

static void parse_pod_restart_policy(V *v, const Node *n, void *obj)
{
    Pod *p = obj;
    _cleanup_free_ char *s = NULL;
    RestartPolicy r;

    if (validate_string(v, n, &s) < 0)
        return;
    r = restart_policy_from_string(s);
    if (r < 0)
        validate_error(v, n, "'%s' is not a restart policy: use Always, OnFailure or Never", s);
    else
        p->restart_policy = r;
}

static void parse_hostname(V *v, const Node *n, void *obj)
{
    Pod *p = obj;

    (void)validate_dns_label(v, n, "hostname", &p->hostname);
}

static void parse_pod_seccomp(V *v, const Node *n, void *obj)
{
    Pod *p = obj;

    validate_seccomp(v, n, &p->seccomp, &p->seccomp_set);
}

static const Field pod_sc_fields[] = {
    F_INT("runAsUser", Pod, run_as_user, 0, INT32_MAX),
    F_INT("runAsGroup", Pod, run_as_group, 0, INT32_MAX),
    F_INT("fsGroup", Pod, fs_group, 0, INT32_MAX),
    F_TRISTATE("runAsNonRoot", Pod, run_as_non_root),
    F_PARSE("seccompProfile", parse_pod_seccomp),
    F_UNSUPPORTED("supplementalGroups", NULL),
    F_UNSUPPORTED("supplementalGroupsPolicy", NULL),
    F_UNSUPPORTED("fsGroupChangePolicy", NULL),
    F_UNSUPPORTED("sysctls", "podd does not set sysctls"),
    F_UNSUPPORTED("seLinuxOptions",
                  "podd does not apply SELinux labels, and ignoring them would weaken isolation"),
    F_UNSUPPORTED("seLinuxChangePolicy", NULL),
    F_UNSUPPORTED(
        "appArmorProfile",
        "podd does not apply AppArmor profiles, and ignoring them would weaken isolation"),
    F_IGNORED("windowsOptions", "only meaningful on Windows nodes",
              &validate_windows_options_shape),
    F_END,
};

static void parse_pod_sc(V *v, const Node *n, void *obj)
{
    Pod *p = obj;

    if (validate_object(v, n, pod_sc_fields, p) && p->run_as_non_root == 1 && p->run_as_user == 0)
        validate_error(v, n, "runAsNonRoot is true but runAsUser is 0 (root)");
}

/* The Kubernetes shapes of the fields podd ignores. */
static const Shape label_selector_shape[] = {
    {"matchLabels", 'm', NULL},
    {"matchExpressions", 'a',
     (const Shape[]){{NULL, 'o',
                      (const Shape[]){{"key", 's', NULL},
                                      {"operator", 's', NULL},
                                      {"values", 'a', (const Shape[]){{NULL, 's', NULL}}},
                                      {NULL, 0, NULL}}}}},
    {NULL, 0, NULL},
};

static const Shape node_selector_term_shape[] = {
    {"matchExpressions", 'a',
     (const Shape[]){{NULL, 'o',
                      (const Shape[]){{"key", 's', NULL},
                                      {"operator", 's', NULL},
                                      {"values", 'a', (const Shape[]){{NULL, 's', NULL}}},
                                      {NULL, 0, NULL}}}}},
    {"matchFields", 'a',
     (const Shape[]){{NULL, 'o',
                      (const Shape[]){{"key", 's', NULL},
                                      {"operator", 's', NULL},
                                      {"values", 'a', (const Shape[]){{NULL, 's', NULL}}},
                                      {NULL, 0, NULL}}}}},
    {NULL, 0, NULL},
};

static const Shape pod_affinity_term_shape[] = {
    {"labelSelector", 'o', label_selector_shape},
    {"namespaceSelector", 'o', label_selector_shape},
    {"namespaces", 'a', (const Shape[]){{NULL, 's', NULL}}},
    {"topologyKey", 's', NULL},
    {"matchLabelKeys", 'a', (const Shape[]){{NULL, 's', NULL}}},
    {"mismatchLabelKeys", 'a', (const Shape[]){{NULL, 's', NULL}}},
    {NULL, 0, NULL},
};

static const Shape pod_affinity_shape[] = {
    {"requiredDuringSchedulingIgnoredDuringExecution", 'a',
     (const Shape[]){{NULL, 'o', pod_affinity_term_shape}}},
    {"preferredDuringSchedulingIgnoredDuringExecution", 'a',
     (const Shape[]){{NULL, 'o',
                      (const Shape[]){{"weight", 'i', NULL},
                                      {"podAffinityTerm", 'o', pod_affinity_term_shape},
                                      {NULL, 0, NULL}}}}},
    {NULL, 0, NULL},
};

static const Shape affinity_shape = {
    NULL,
    'o',
    (const Shape[]){
        {"nodeAffinity", 'o',
         (const Shape[]){
             {"requiredDuringSchedulingIgnoredDuringExecution", 'o',
              (const Shape[]){{"nodeSelectorTerms", 'a',
                               (const Shape[]){{NULL, 'o', node_selector_term_shape}}},
                              {NULL, 0, NULL}}},
             {"preferredDuringSchedulingIgnoredDuringExecution", 'a',
              (const Shape[]){{NULL, 'o',
                               (const Shape[]){{"weight", 'i', NULL},
                                               {"preference", 'o', node_selector_term_shape},
                                               {NULL, 0, NULL}}}}},
             {NULL, 0, NULL}}},
        {"podAffinity", 'o', pod_affinity_shape},
        {"podAntiAffinity", 'o', pod_affinity_shape},
        {NULL, 0, NULL}},
};

static const Shape tolerations_shape = {
    NULL,
    'a',
    (const Shape[]){{NULL, 'o',
                     (const Shape[]){{"key", 's', NULL},
                                     {"operator", 's', NULL},
                                     {"value", 's', NULL},
                                     {"effect", 's', NULL},
                                     {"tolerationSeconds", 'i', NULL},
                                     {NULL, 0, NULL}}}},
};

static const Shape local_object_list_shape = {
    NULL,
    'a',
    (const Shape[]){{NULL, 'o', (const Shape[]){{"name", 's', NULL}, {NULL, 0, NULL}}}},
};

#define IGNORED_CLUSTER(name, ...) F_IGNORED(name, "only meaningful in a cluster", __VA_ARGS__)

static const Field spec_fields[] = {
    F_PARSE("containers", validate_containers),
    F_PARSE("initContainers", validate_init_containers),
    F_PARSE("restartPolicy", parse_pod_restart_policy),
    F_INT("terminationGracePeriodSeconds", Pod, termination_grace_period_seconds, 0, INT32_MAX),
    F_BOOL("hostNetwork", Pod, host_network),
    F_BOOL("hostPID", Pod, host_pid),
    F_BOOL("hostIPC", Pod, host_ipc),
    F_PARSE("hostname", parse_hostname),
    F_BOOL("shareProcessNamespace", Pod, share_process_namespace),
    F_PARSE("volumes", parse_volumes),
    F_PARSE("securityContext", parse_pod_sc),
    IGNORED_CLUSTER("nodeSelector", &(Shape){NULL, 'm', NULL}),
    IGNORED_CLUSTER("nodeName", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("affinity", &affinity_shape),
    IGNORED_CLUSTER("tolerations", &tolerations_shape),
    IGNORED_CLUSTER("schedulerName", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("priorityClassName", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("priority", &(Shape){NULL, 'i', NULL}),
    IGNORED_CLUSTER("preemptionPolicy", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("serviceAccountName", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("serviceAccount", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("automountServiceAccountToken", &(Shape){NULL, 'b', NULL}),
    IGNORED_CLUSTER("imagePullSecrets", &local_object_list_shape),
    IGNORED_CLUSTER("dnsPolicy", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("enableServiceLinks", &(Shape){NULL, 'b', NULL}),
    IGNORED_CLUSTER("topologySpreadConstraints",
                    (&(Shape){NULL, 'a', (const Shape[]){{NULL, 'o', NULL}}})),
    IGNORED_CLUSTER("readinessGates",
                    (&(Shape){NULL, 'a',
                              (const Shape[]){{NULL, 'o',
                                               (const Shape[]){{"conditionType", 's', NULL},
                                                               {NULL, 0, NULL}}}}})),
    IGNORED_CLUSTER("runtimeClassName", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("overhead", &(Shape){NULL, 'o', NULL}),
    IGNORED_CLUSTER("subdomain", &(Shape){NULL, 's', NULL}),
    IGNORED_CLUSTER("schedulingGates", &local_object_list_shape),
    IGNORED_CLUSTER("os",
                    (&(Shape){NULL, 'o', (const Shape[]){{"name", 's', NULL}, {NULL, 0, NULL}}})),
    F_UNSUPPORTED("setHostnameAsFQDN", NULL),
    F_UNSUPPORTED("dnsConfig", "containers use the host's resolver configuration"),
    F_UNSUPPORTED("hostAliases", NULL),
    F_UNSUPPORTED("hostUsers", "podd does not create user namespaces"),
    F_UNSUPPORTED("activeDeadlineSeconds", NULL),
    F_UNSUPPORTED("ephemeralContainers", NULL),
    F_UNSUPPORTED("resourceClaims", "podd has no dynamic resource allocation"),
    F_UNSUPPORTED("resources", "pod-level resources (set them per container)"),
    F_END,
};

/* ---- annotations --------------------------------------------------------------------------------
 */

#define PODD_PREFIX "podd.io/"
#define DEPENDS_ON_PREFIX "podd.io/depends-on."
#define PODMAN_INIT_TYPE "io.podman.annotations.init.container.type"

static const char *const podd_annotations[] = {
    "podd.io/exit-policy",
    "podd.io/init-once",
    "podd.io/runtime",
    "podd.io/restart-backoff",
    "podd.io/depends-on.<container>",
    NULL,
};

static char *strip(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = 0;
    return s;
}

static Container *find_container_mut(Pod *p, const char *name)
{
    return (Container *)pod_find_container(p, name);
}

static void annotation_init_once(V *v, Pod *p, const Node *value)
{
    _cleanup_free_ char *copy = strdup(value->scalar);
    char *save = NULL;

    if (!copy) {
        v->oom = true;
        return;
    }
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *name = strip(tok);
        Container *c;

        if (!*name)
            continue;
        c = find_container_mut(p, name);
        if (!c)
            validate_error(v, value, "no init container named '%s'", name);
        else if (c->kind == CONTAINER_KIND_SIDECAR)
            validate_error(v, value, "'%s' is a sidecar; only plain init containers can run once",
                           name);
        else if (c->kind != CONTAINER_KIND_INIT)
            validate_error(v, value, "'%s' is not an init container", name);
        else
            c->init_once = true;
    }
}

static void annotation_podman_init(V *v, Pod *p, const char *key, const Node *value)
{
    const char *suffix = key + strlen(PODMAN_INIT_TYPE);
    bool once;

    if (streq(value->scalar, "once"))
        once = true;
    else if (streq(value->scalar, "always"))
        once = false;
    else {
        validate_error(v, value, "'%s' is not an init container type: use once or always",
                       value->scalar);
        return;
    }
    if (*suffix == 0) {
        for (size_t i = 0; i < p->n_init_containers; i++)
            if (p->init_containers[i].kind == CONTAINER_KIND_INIT)
                p->init_containers[i].init_once = once;
        return;
    }
    /* Per container: PODMAN_INIT_TYPE "/NAME". */
    {
        Container *c = find_container_mut(p, suffix + 1);

        if (!c || c->kind == CONTAINER_KIND_REGULAR)
            validate_error(v, value, "no init container named '%s'", suffix + 1);
        else if (c->kind == CONTAINER_KIND_SIDECAR)
            validate_error(v, value, "'%s' is a sidecar; only plain init containers can run once",
                           suffix + 1);
        else
            c->init_once = once;
    }
}

static void annotation_depends_on(V *v, Pod *p, const char *key, const Node *value)
{
    const char *waiter = key + strlen(DEPENDS_ON_PREFIX);
    _cleanup_free_ char *copy = strdup(value->scalar);
    char *save = NULL;

    if (!copy) {
        v->oom = true;
        return;
    }
    if (!pod_find_container(p, waiter)) {
        validate_error(v, value, "annotation names container '%s', which is not in this pod",
                       waiter);
        return;
    }
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *item = strip(tok), *colon = strchr(item, ':');
        DepCondition cond = DEP_CONDITION_STARTED;
        Dependency *nd;

        if (!*item) {
            validate_error(v, value, "empty entry in the list");
            continue;
        }
        if (colon) {
            *colon = 0;
            cond = dep_condition_from_string(strip(colon + 1));
            if (cond < 0) {
                validate_error(v, value, "'%s' is not a condition: use started, ready or completed",
                               strip(colon + 1));
                continue;
            }
            item = strip(item);
        }
        if (streq(item, waiter)) {
            validate_error(v, value, "'%s' cannot depend on itself", waiter);
            continue;
        }
        if (!pod_find_container(p, item)) {
            validate_error(v, value, "'%s' depends on '%s', which is not a container of this pod",
                           waiter, item);
            continue;
        }
        nd = reallocarray(p->dependencies, p->n_dependencies + 1, sizeof(Dependency));
        if (!nd) {
            v->oom = true;
            return;
        }
        p->dependencies = nd;
        nd[p->n_dependencies] = (Dependency){.container = strdup(waiter),
                                             .on = strdup(item),
                                             .condition = cond,
                                             .pos = {value->line, value->column}};
        p->n_dependencies++;
        if (!nd[p->n_dependencies - 1].container || !nd[p->n_dependencies - 1].on)
            v->oom = true;
    }
}

static void annotation_backoff(V *v, Pod *p, const Node *value)
{
    _cleanup_free_ char *copy = strdup(value->scalar);
    char *save = NULL;

    if (!copy) {
        v->oom = true;
        return;
    }
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *item = strip(tok), *eq = strchr(item, '=');
        uint64_t usec;
        uint64_t *target;

        if (!eq) {
            validate_error(v, value, "'%s' is not key=duration (keys: initial, max, reset)", item);
            continue;
        }
        *eq = 0;
        if (streq(strip(item), "initial"))
            target = &p->backoff.initial_usec;
        else if (streq(strip(item), "max"))
            target = &p->backoff.max_usec;
        else if (streq(strip(item), "reset"))
            target = &p->backoff.reset_usec;
        else {
            validate_error(v, value, "unknown key '%s': use initial, max or reset", strip(item));
            continue;
        }
        if (duration_parse_usec(strip(eq + 1), &usec) < 0 || usec == 0) {
            validate_error(v, value, "'%s' is not a positive duration (examples: 500ms, 10s, 5m)",
                           strip(eq + 1));
            continue;
        }
        *target = usec;
        p->backoff.set = true;
    }
    if (p->backoff.initial_usec > p->backoff.max_usec)
        validate_error(v, value, "initial backoff must not exceed max");
}

static void annotation_suggest(V *v, const Node *key)
{
    const char *best = NULL;
    unsigned best_d = 4;

    for (size_t i = 0; podd_annotations[i]; i++) {
        unsigned d = string_distance(podd_annotations[i], key->scalar, 3);

        if (d < best_d) {
            best_d = d;
            best = podd_annotations[i];
        }
    }
    if (best)
        validate_error(v, key, "unknown podd annotation; did you mean '%s'?", best);
    else
        validate_error(v, key,
                       "unknown podd annotation (known: podd.io/exit-policy, podd.io/init-once, "
                       "podd.io/runtime, podd.io/restart-backoff, podd.io/depends-on.<container>)");
}

static void validate_annotation(V *v, Pod *p, const Node *key, const Node *value)
{
    const char *k = key->scalar;

    if (streq(k, "podd.io/exit-policy")) {
        ExitPolicy e = exit_policy_from_string(value->scalar);

        if (e < 0)
            validate_error(v, value, "'%s' is not an exit policy: use stop or continue",
                           value->scalar);
        else
            p->exit_policy = e;
    } else if (streq(k, "podd.io/runtime")) {
        RuntimeKind r = runtime_kind_from_string(value->scalar);

        if (r < 0)
            validate_error(v, value, "'%s' is not a runtime: use native, runc or crun",
                           value->scalar);
        else
            p->runtime = r;
    } else if (streq(k, "podd.io/init-once")) {
        annotation_init_once(v, p, value);
    } else if (streq(k, "podd.io/restart-backoff")) {
        annotation_backoff(v, p, value);
    } else if (startswith(k, DEPENDS_ON_PREFIX) && k[strlen(DEPENDS_ON_PREFIX)]) {
        annotation_depends_on(v, p, k, value);
    } else if (startswith(k, PODMAN_INIT_TYPE)) {
        annotation_podman_init(v, p, k, value);
    } else {
        annotation_suggest(v, key);
    }
}

static bool annotation_is_ours(const char *k)
{
    size_t n = strlen(PODMAN_INIT_TYPE);

    if (startswith(k, PODD_PREFIX))
        return true;
    return startswith(k, PODMAN_INIT_TYPE) && (k[n] == 0 || k[n] == '/');
}

static void validate_annotations(V *v, Pod *p, const Node *annotations)
{
    if (!annotations || annotations->type != NODE_MAPPING)
        return;
    /*
     * Two rounds: podman's pod-wide init container type first, so that a
     * per-container "/NAME" annotation wins wherever it stands in the file.
     */
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < annotations->n_pairs; i++) {
            const Node *key = annotations->pairs[i].key, *value = annotations->pairs[i].value;
            bool pod_wide = streq(key->scalar, PODMAN_INIT_TYPE);
            size_t old;

            if (!annotation_is_ours(key->scalar) || pod_wide != (round == 0))
                continue;
            if (value->type != NODE_SCALAR || value->kind != SCALAR_STRING)
                continue; /* already reported by the map parser */
            old = validate_push(v, "metadata.annotations[\"%s\"]", key->scalar);
            validate_annotation(v, p, key, value);
            validate_pop(v, old);
        }
}

/* ---- cross-field checks -------------------------------------------------------------------------
 */

static void check_unique_containers(V *v, Pod *p, const Node *spec)
{
    const Node *lists[2] = {node_get(spec, "initContainers"), node_get(spec, "containers")};

    POD_FOREACH_CONTAINER (p, c, i) {
        const Container *first;

        if (!c->name)
            continue;
        first = pod_find_container(p, c->name);
        if (first != c) {
            bool init = i < p->n_init_containers;
            size_t idx = init ? i : i - p->n_init_containers;
            const Node *list = lists[init ? 0 : 1];
            const Node *item = list && idx < list->n_items ? list->items[idx] : spec;
            const Node *name = node_get(item, "name");
            size_t old =
                validate_push(v, "spec.%s[%zu].name", init ? "initContainers" : "containers", idx);

            validate_error(v, name ? name : item,
                           "duplicate container name '%s' (first at line %u)", c->name,
                           first->pos.line);
            validate_pop(v, old);
        }
    }
}

static void check_mounts(V *v, Pod *p, const Node *spec)
{
    const Node *lists[2] = {node_get(spec, "initContainers"), node_get(spec, "containers")};

    POD_FOREACH_CONTAINER (p, c, i) {
        bool init = i < p->n_init_containers;
        size_t idx = init ? i : i - p->n_init_containers;

        for (size_t m = 0; m < c->n_volume_mounts; m++) {
            const VolumeMount *vm = &c->volume_mounts[m];
            bool found = false;

            if (!vm->name)
                continue;
            for (size_t k = 0; k < p->n_volumes; k++)
                if (p->volumes[k].name && streq(p->volumes[k].name, vm->name))
                    found = true;
            if (!found) {
                const Node *list = lists[init ? 0 : 1];
                const Node *mounts =
                    list && idx < list->n_items ? node_get(list->items[idx], "volumeMounts") : NULL;
                const Node *mn =
                    mounts && m < mounts->n_items ? node_get(mounts->items[m], "name") : NULL;
                size_t old = validate_push(v, "spec.%s[%zu].volumeMounts[%zu].name",
                                           init ? "initContainers" : "containers", idx, m);

                if (mn)
                    validate_error(v, mn, "no volume named '%s' in spec.volumes", vm->name);
                validate_pop(v, old);
            }
        }
    }
}

static void check_host_ports(V *v, Pod *p, const Node *spec)
{
    const Node *containers = node_get(spec, "containers");

    for (size_t i = 0; i < p->n_containers; i++) {
        const Container *c = &p->containers[i];

        for (size_t j = 0; j < c->n_ports; j++) {
            const ContainerPort *port = &c->ports[j];
            const Node *ports = containers && i < containers->n_items
                                    ? node_get(containers->items[i], "ports")
                                    : NULL;
            const Node *pn = ports && j < ports->n_items ? ports->items[j] : spec;
            size_t old = validate_push(v, "spec.containers[%zu].ports[%zu]", i, j);

            if (p->host_network && port->host_port != UNSET &&
                port->host_port != port->container_port)
                validate_error(v, pn, "with hostNetwork, hostPort must equal containerPort");
            validate_pop(v, old);
        }
    }
}

/* ---- the document -------------------------------------------------------------------------------
 */

typedef struct DocTarget {
    Pod *pod;
    const Node *metadata, *spec;
} DocTarget;

static void parse_api_version(V *v, const Node *n, void *obj)
{
    _cleanup_free_ char *s = NULL;

    if (validate_string(v, n, &s) >= 0 && !streq(s, "v1"))
        validate_error(v, n, "'%s' is not supported: podd reads apiVersion v1", s);
}

static void parse_kind(V *v, const Node *n, void *obj)
{
    _cleanup_free_ char *s = NULL;

    if (validate_string(v, n, &s) >= 0 && !streq(s, "Pod"))
        validate_error(v, n, "'%s' is not supported: podd runs kind Pod only", s);
}

static void parse_metadata(V *v, const Node *n, void *obj)
{
    DocTarget *t = obj;

    t->metadata = n;
    if (validate_object(v, n, metadata_fields, t->pod))
        validate_require(v, n, "name");
}

static void parse_spec(V *v, const Node *n, void *obj)
{
    DocTarget *t = obj;

    t->spec = n;
    if (validate_object(v, n, spec_fields, t->pod))
        validate_require(v, n, "containers");
}

static const Field document_fields[] = {
    F_PARSE("apiVersion", parse_api_version),
    F_PARSE("kind", parse_kind),
    F_PARSE("metadata", parse_metadata),
    F_PARSE("spec", parse_spec),
    F_IGNORED("status", "podd reports status itself", &(Shape){NULL, 'o', NULL}),
    F_END,
};

static Pod *pod_new_defaults(const Node *doc)
{
    Pod *p = calloc(1, sizeof(Pod));

    if (!p)
        return NULL;
    p->restart_policy = RESTART_POLICY_ALWAYS;
    p->termination_grace_period_seconds = 30;
    p->run_as_user = p->run_as_group = p->fs_group = UNSET;
    p->run_as_non_root = -1;
    p->exit_policy = EXIT_POLICY_STOP;
    p->runtime = RUNTIME_KIND_NATIVE;
    p->backoff = (RestartBackoff){.initial_usec = 10 * 1000000ull,
                                  .max_usec = 300 * 1000000ull,
                                  .reset_usec = 600 * 1000000ull};
    p->pos = (SourcePos){doc->line, doc->column};
    return p;
}

/* ---- kind: List ----------------------------------------------------------------- */

static void parse_list_kind(V *v, const Node *n, void *obj)
{
    _cleanup_free_ char *s = NULL;

    (void)validate_string(v, n, &s);
}

static void parse_list_metadata(V *v, const Node *n, void *obj)
{
    /* kubectl writes "metadata: {resourceVersion: ''}" on lists: a mapping, otherwise unused. */
    (void)validate_is(v, n, NODE_MAPPING, "a mapping");
}

static void parse_list_items(V *v, const Node *n, void *obj)
{
    if (validate_is(v, n, NODE_SEQUENCE, "a list of Pods") && n->n_items == 0)
        validate_error(v, n, "the List holds no item");
}

static const Field list_fields[] = {
    F_PARSE("apiVersion", parse_api_version),
    F_PARSE("kind", parse_list_kind),
    F_PARSE("metadata", parse_list_metadata),
    F_PARSE("items", parse_list_items),
    F_END,
};

int manifest_validate_list(const Node *doc, DiagList *diags)
{
    V v = {.diags = diags};

    if (validate_object(&v, doc, list_fields, NULL)) {
        validate_require(&v, doc, "apiVersion");
        validate_require(&v, doc, "items");
    }
    return v.oom ? -ENOMEM : 0;
}

int manifest_validate_document(const Node *doc, Pod **ret_pod, char **ret_name, DiagList *diags)
{
    _cleanup_(pod_freep) Pod *pod = NULL;
    V v = {.diags = diags};
    DocTarget t = {0};

    pod = pod_new_defaults(doc);
    if (!pod)
        return -ENOMEM;
    t.pod = pod;
    if (doc->type != NODE_MAPPING) {
        validate_error(&v, doc, "a manifest document must be a mapping (a Pod object), not %s",
                       node_describe(doc));
        return v.oom ? -ENOMEM : 0;
    }
    /* Another kind of object: one clear error, not a cascade about Pod fields. */
    {
        const Node *kind = node_get(doc, "kind");

        if (kind && kind->type == NODE_SCALAR && kind->kind == SCALAR_STRING &&
            !streq(kind->scalar, "Pod")) {
            size_t old = validate_push_key(&v, "kind");

            validate_error(&v, kind, "'%s' is not supported: podd runs kind Pod only",
                           kind->scalar);
            validate_pop(&v, old);
            return v.oom ? -ENOMEM : 0;
        }
    }
    (void)validate_object(&v, doc, document_fields, &t);
    validate_require(&v, doc, "apiVersion");
    validate_require(&v, doc, "kind");
    validate_require(&v, doc, "metadata");
    validate_require(&v, doc, "spec");

    if (!pod->namespace && !(pod->namespace = strdup("default")))
        return -ENOMEM;
    if (t.spec && t.spec->type == NODE_MAPPING) {
        check_unique_containers(&v, pod, t.spec);
        check_mounts(&v, pod, t.spec);
        check_host_ports(&v, pod, t.spec);
        if (pod->host_pid && pod->share_process_namespace) {
            const Node *n = node_get(t.spec, "shareProcessNamespace");
            size_t old = validate_push(&v, "spec.shareProcessNamespace");

            validate_error(&v, n, "cannot be true together with hostPID");
            validate_pop(&v, old);
        }
    }
    if (t.metadata)
        validate_annotations(&v, pod, node_get(t.metadata, "annotations"));
    if (v.oom)
        return -ENOMEM;
    if (pod->name && ret_name && !(*ret_name = strdup(pod->name)))
        return -ENOMEM;
    if (diags->n_errors == 0)
        *ret_pod = move_ptr(pod);
    return 0;
}
