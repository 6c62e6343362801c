/* SPDX-License-Identifier: Apache-2.0 */
#include "manifest.h"

/* ---- string tables --------------------------------------------------------------- */

DEFINE_STRING_TABLE(restart_policy, RestartPolicy,
                    _RESTART_POLICY_MAX, [RESTART_POLICY_ALWAYS] = "Always",
                    [RESTART_POLICY_ON_FAILURE] = "OnFailure", [RESTART_POLICY_NEVER] = "Never")
DEFINE_STRING_TABLE_FROM(restart_policy, RestartPolicy, _RESTART_POLICY_MAX,
                         _RESTART_POLICY_INVALID)

DEFINE_STRING_TABLE(
    image_pull_policy, ImagePullPolicy,
    _IMAGE_PULL_POLICY_MAX, [IMAGE_PULL_POLICY_ALWAYS] = "Always",
    [IMAGE_PULL_POLICY_IF_NOT_PRESENT] = "IfNotPresent", [IMAGE_PULL_POLICY_NEVER] = "Never")
DEFINE_STRING_TABLE_FROM(image_pull_policy, ImagePullPolicy, _IMAGE_PULL_POLICY_MAX,
                         _IMAGE_PULL_POLICY_INVALID)

DEFINE_STRING_TABLE(container_kind, ContainerKind,
                    _CONTAINER_KIND_MAX, [CONTAINER_KIND_INIT] = "init",
                    [CONTAINER_KIND_SIDECAR] = "sidecar", [CONTAINER_KIND_REGULAR] = "regular")

DEFINE_STRING_TABLE(probe_action, ProbeAction,
                    _PROBE_ACTION_MAX, [PROBE_ACTION_NONE] = "none", [PROBE_ACTION_EXEC] = "exec",
                    [PROBE_ACTION_TCP_SOCKET] = "tcpSocket", [PROBE_ACTION_HTTP_GET] = "httpGet")

DEFINE_STRING_TABLE(
    host_path_type, HostPathType,
    _HOST_PATH_MAX, [HOST_PATH_UNSET] = "", [HOST_PATH_DIRECTORY_OR_CREATE] = "DirectoryOrCreate",
    [HOST_PATH_DIRECTORY] = "Directory", [HOST_PATH_FILE_OR_CREATE] = "FileOrCreate",
    [HOST_PATH_FILE] = "File", [HOST_PATH_SOCKET] = "Socket",
    [HOST_PATH_CHAR_DEVICE] = "CharDevice", [HOST_PATH_BLOCK_DEVICE] = "BlockDevice")
DEFINE_STRING_TABLE_FROM(host_path_type, HostPathType, _HOST_PATH_MAX, _HOST_PATH_INVALID)

DEFINE_STRING_TABLE(
    volume_kind, VolumeKind,
    _VOLUME_KIND_MAX, [VOLUME_KIND_HOST_PATH] = "hostPath", [VOLUME_KIND_EMPTY_DIR] = "emptyDir")

DEFINE_STRING_TABLE(
    exit_policy, ExitPolicy,
    _EXIT_POLICY_MAX, [EXIT_POLICY_STOP] = "stop", [EXIT_POLICY_CONTINUE] = "continue")
DEFINE_STRING_TABLE_FROM(exit_policy, ExitPolicy, _EXIT_POLICY_MAX, _EXIT_POLICY_INVALID)

DEFINE_STRING_TABLE(runtime_kind, RuntimeKind, _RUNTIME_KIND_MAX, [RUNTIME_KIND_NATIVE] = "native",
                    [RUNTIME_KIND_RUNC] = "runc", [RUNTIME_KIND_CRUN] = "crun")
DEFINE_STRING_TABLE_FROM(runtime_kind, RuntimeKind, _RUNTIME_KIND_MAX, _RUNTIME_KIND_INVALID)

DEFINE_STRING_TABLE(dep_condition, DepCondition,
                    _DEP_CONDITION_MAX, [DEP_CONDITION_STARTED] = "started",
                    [DEP_CONDITION_READY] = "ready", [DEP_CONDITION_COMPLETED] = "completed")
DEFINE_STRING_TABLE_FROM(dep_condition, DepCondition, _DEP_CONDITION_MAX, _DEP_CONDITION_INVALID)

DEFINE_STRING_TABLE(seccomp_profile, SeccompProfile,
                    _SECCOMP_PROFILE_MAX, [SECCOMP_PROFILE_DEFAULT] = "RuntimeDefault",
                    [SECCOMP_PROFILE_UNCONFINED] = "Unconfined")

/* ---- destructors ----------------------------------------------------------------- */

static void str_map_done(StrMap *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->items[i].key);
        free(m->items[i].value);
    }
    free(m->items);
    *m = (StrMap){0};
}

static void probe_done(Probe *p)
{
    strv_free(p->exec_command);
    free(p->host);
    free(p->port_name);
    free(p->path);
    free(p->scheme);
    for (size_t i = 0; i < p->n_http_headers; i++) {
        free(p->http_headers[i].name);
        free(p->http_headers[i].value);
    }
    free(p->http_headers);
}

bool lifecycle_handler_is_set(const LifecycleHandler *h)
{
    return h->exec_command || h->has_sleep || h->http_get.action != PROBE_ACTION_NONE;
}

void lifecycle_handler_done(LifecycleHandler *h)
{
    strv_free(h->exec_command);
    probe_done(&h->http_get);
    *h = (LifecycleHandler){0};
}

static int strdup_opt(const char *s, char **ret)
{
    if (s && !(*ret = strdup(s)))
        return -ENOMEM;
    return 0;
}

int lifecycle_handler_copy(const LifecycleHandler *src, LifecycleHandler *ret)
{
    const Probe *sp = &src->http_get;
    LifecycleHandler h = {.has_sleep = src->has_sleep, .sleep_seconds = src->sleep_seconds};
    Probe *p = &h.http_get;
    bool ok;

    p->action = sp->action;
    p->port = sp->port;
    ok = (!src->exec_command || (h.exec_command = strv_copy(src->exec_command))) &&
         strdup_opt(sp->host, &p->host) >= 0 && strdup_opt(sp->port_name, &p->port_name) >= 0 &&
         strdup_opt(sp->path, &p->path) >= 0 && strdup_opt(sp->scheme, &p->scheme) >= 0;
    if (ok && sp->n_http_headers > 0) {
        p->http_headers = calloc(sp->n_http_headers, sizeof(HttpHeader));
        ok = p->http_headers != NULL;
    }
    for (size_t i = 0; ok && i < sp->n_http_headers; i++) {
        p->n_http_headers++;
        ok = strdup_opt(sp->http_headers[i].name, &p->http_headers[i].name) >= 0 &&
             strdup_opt(sp->http_headers[i].value, &p->http_headers[i].value) >= 0;
    }
    if (!ok) {
        lifecycle_handler_done(&h);
        return -ENOMEM;
    }
    *ret = h;
    return 0;
}

static void container_done(Container *c)
{
    free(c->name);
    free(c->image);
    strv_free(c->command);
    strv_free(c->args);
    for (size_t i = 0; i < c->n_env; i++) {
        free(c->env[i].name);
        free(c->env[i].value);
    }
    free(c->env);
    free(c->working_dir);
    for (size_t i = 0; i < c->n_ports; i++) {
        free(c->ports[i].name);
        free(c->ports[i].protocol);
        free(c->ports[i].host_ip);
    }
    free(c->ports);
    for (size_t i = 0; i < c->n_volume_mounts; i++) {
        free(c->volume_mounts[i].name);
        free(c->volume_mounts[i].mount_path);
        free(c->volume_mounts[i].sub_path);
    }
    free(c->volume_mounts);
    strv_free(c->security_context.capabilities_add);
    strv_free(c->security_context.capabilities_drop);
    probe_done(&c->liveness_probe);
    probe_done(&c->readiness_probe);
    probe_done(&c->startup_probe);
    lifecycle_handler_done(&c->post_start);
    lifecycle_handler_done(&c->pre_stop);
}

Pod *pod_free(Pod *p)
{
    if (!p)
        return NULL;
    free(p->name);
    free(p->namespace);
    str_map_done(&p->labels);
    str_map_done(&p->annotations);
    for (size_t i = 0; i < p->n_init_containers; i++)
        container_done(&p->init_containers[i]);
    free(p->init_containers);
    for (size_t i = 0; i < p->n_containers; i++)
        container_done(&p->containers[i]);
    free(p->containers);
    free(p->hostname);
    for (size_t i = 0; i < p->n_volumes; i++) {
        free(p->volumes[i].name);
        free(p->volumes[i].host_path);
    }
    free(p->volumes);
    for (size_t i = 0; i < p->n_dependencies; i++) {
        free(p->dependencies[i].container);
        free(p->dependencies[i].on);
    }
    free(p->dependencies);
    free(p);
    return NULL;
}

const Container *pod_find_container(const Pod *p, const char *name)
{
    /* A pod under validation may hold containers whose name was missing. */
    POD_FOREACH_CONTAINER (p, c, i)
        if (c->name && streq(c->name, name))
            return c;
    return NULL;
}

/* ---- the canonical JSON form ------------------------------------------------------ */

/* Each setter below steals the new value; a NULL value (ENOMEM) makes the object NULL. */
static bool set(json_t *o, const char *k, json_t *v)
{
    return v && json_object_set_new(o, k, v) == 0;
}

static json_t *strv_to_json(char *const *l)
{
    json_t *a = json_array();

    for (size_t i = 0; a && l && l[i]; i++)
        if (json_array_append_new(a, json_string(l[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *str_map_to_json(const StrMap *m)
{
    json_t *o = json_object();

    for (size_t i = 0; o && i < m->n; i++)
        if (!set(o, m->items[i].key, json_string(m->items[i].value))) {
            json_decref(o);
            return NULL;
        }
    return o;
}

static bool set_opt_int(json_t *o, const char *k, int64_t v)
{
    return v == UNSET || set(o, k, json_integer(v));
}

static bool set_opt_bool(json_t *o, const char *k, int v)
{
    return v < 0 || set(o, k, json_boolean(v));
}

static bool set_opt_str(json_t *o, const char *k, const char *v)
{
    return !v || set(o, k, json_string(v));
}

/* The target of a tcpSocket or httpGet action into o. */
static bool net_action_to_json(json_t *o, const Probe *p)
{
    bool ok = set(o, "port", json_integer(p->port)) && set_opt_str(o, "host", p->host);

    if (p->action == PROBE_ACTION_HTTP_GET) {
        json_t *h = json_array();

        ok = ok && set(o, "path", json_string(p->path)) &&
             set(o, "scheme", json_string(p->scheme)) && set(o, "httpHeaders", h);
        for (size_t i = 0; ok && i < p->n_http_headers; i++) {
            json_t *e = json_pack("{s:s,s:s}", "name", p->http_headers[i].name, "value",
                                  p->http_headers[i].value);
            ok = e && json_array_append_new(h, e) == 0;
        }
    }
    return ok;
}

/* A hook: its command (as an array, the historical form), {"sleep": N} or {"httpGet": {...}}. */
static json_t *handler_to_json(const LifecycleHandler *h)
{
    _cleanup_json_ json_t *http = NULL;

    if (h->exec_command)
        return strv_to_json(h->exec_command);
    if (h->has_sleep)
        return json_pack("{s:I}", "sleep", (json_int_t)h->sleep_seconds);
    http = json_object();
    if (!http || !net_action_to_json(http, &h->http_get))
        return NULL;
    return json_pack("{s:O}", "httpGet", http);
}

static json_t *probe_to_json(const Probe *p)
{
    _cleanup_json_ json_t *o = json_object();
    bool ok;

    if (!o)
        return NULL;
    ok = set(o, "action", json_string(probe_action_to_string(p->action)));
    if (p->action == PROBE_ACTION_EXEC)
        ok = ok && set(o, "command", strv_to_json(p->exec_command));
    if (p->action == PROBE_ACTION_TCP_SOCKET || p->action == PROBE_ACTION_HTTP_GET)
        ok = ok && net_action_to_json(o, p);
    ok = ok && set(o, "initialDelaySeconds", json_integer(p->initial_delay_seconds)) &&
         set(o, "periodSeconds", json_integer(p->period_seconds)) &&
         set(o, "timeoutSeconds", json_integer(p->timeout_seconds)) &&
         set(o, "successThreshold", json_integer(p->success_threshold)) &&
         set(o, "failureThreshold", json_integer(p->failure_threshold)) &&
         set_opt_int(o, "terminationGracePeriodSeconds", p->termination_grace_period_seconds);
    return ok ? json_incref(o) : NULL;
}

static json_t *container_to_json(const Container *c)
{
    _cleanup_json_ json_t *o = json_object();
    json_t *env, *ports, *mounts, *res, *sc;
    bool ok;

    if (!o)
        return NULL;
    ok = set(o, "name", json_string(c->name)) && set(o, "image", json_string(c->image)) &&
         set(o, "kind", json_string(container_kind_to_string(c->kind))) &&
         (!c->command || set(o, "command", strv_to_json(c->command))) &&
         (!c->args || set(o, "args", strv_to_json(c->args))) &&
         set_opt_str(o, "workingDir", c->working_dir) && set(o, "env", env = json_array()) &&
         set(o, "ports", ports = json_array()) && set(o, "volumeMounts", mounts = json_array()) &&
         set(o, "resources", res = json_object()) && set(o, "securityContext", sc = json_object());
    for (size_t i = 0; ok && i < c->n_env; i++)
        ok = json_array_append_new(env, json_pack("{s:s,s:s}", "name", c->env[i].name, "value",
                                                  c->env[i].value)) == 0;
    for (size_t i = 0; ok && i < c->n_ports; i++) {
        const ContainerPort *p = &c->ports[i];
        json_t *po = json_pack("{s:i,s:s}", "containerPort", (int)p->container_port, "protocol",
                               p->protocol);

        ok = po && set_opt_str(po, "name", p->name) && set_opt_int(po, "hostPort", p->host_port) &&
             set_opt_str(po, "hostIP", p->host_ip);
        ok = ok && json_array_append_new(ports, po) == 0;
        if (!ok)
            json_decref(po);
    }
    for (size_t i = 0; ok && i < c->n_volume_mounts; i++) {
        const VolumeMount *m = &c->volume_mounts[i];
        json_t *mo = json_pack("{s:s,s:s,s:b}", "name", m->name, "mountPath", m->mount_path,
                               "readOnly", m->read_only);

        ok = mo && set_opt_str(mo, "subPath", m->sub_path);
        ok = ok && json_array_append_new(mounts, mo) == 0;
        if (!ok)
            json_decref(mo);
    }
    ok = ok && set_opt_int(res, "cpuLimitMillis", c->resources.cpu_limit_millis) &&
         set_opt_int(res, "cpuRequestMillis", c->resources.cpu_request_millis) &&
         set_opt_int(res, "memoryLimitBytes", c->resources.memory_limit_bytes) &&
         set_opt_int(res, "memoryRequestBytes", c->resources.memory_request_bytes);
    ok =
        ok && set_opt_int(sc, "runAsUser", c->security_context.run_as_user) &&
        set_opt_int(sc, "runAsGroup", c->security_context.run_as_group) &&
        set_opt_bool(sc, "runAsNonRoot", c->security_context.run_as_non_root) &&
        set_opt_bool(sc, "privileged", c->security_context.privileged) &&
        set_opt_bool(sc, "allowPrivilegeEscalation",
                     c->security_context.allow_privilege_escalation) &&
        set_opt_bool(sc, "readOnlyRootFilesystem", c->security_context.read_only_root_filesystem) &&
        set(sc, "capabilitiesAdd", strv_to_json(c->security_context.capabilities_add)) &&
        set(sc, "capabilitiesDrop", strv_to_json(c->security_context.capabilities_drop)) &&
        (!c->security_context.seccomp_set ||
         set(sc, "seccompProfile",
             json_string(seccomp_profile_to_string(c->security_context.seccomp))));
    if (ok && c->liveness_probe.action != PROBE_ACTION_NONE)
        ok = set(o, "livenessProbe", probe_to_json(&c->liveness_probe));
    if (ok && c->readiness_probe.action != PROBE_ACTION_NONE)
        ok = set(o, "readinessProbe", probe_to_json(&c->readiness_probe));
    if (ok && c->startup_probe.action != PROBE_ACTION_NONE)
        ok = set(o, "startupProbe", probe_to_json(&c->startup_probe));
    if (ok && lifecycle_handler_is_set(&c->post_start))
        ok = set(o, "postStart", handler_to_json(&c->post_start));
    if (ok && lifecycle_handler_is_set(&c->pre_stop))
        ok = set(o, "preStop", handler_to_json(&c->pre_stop));
    /* Only when given: the spec of a container that gave none stays as older podds wrote it. */
    if (ok && c->image_pull_policy_set)
        ok = set(o, "imagePullPolicy",
                 json_string(image_pull_policy_to_string(c->image_pull_policy)));
    if (ok && c->restart_policy_set)
        ok = set(o, "restartPolicy", json_string(restart_policy_to_string(c->restart_policy)));
    if (ok && c->kind == CONTAINER_KIND_INIT)
        ok = set(o, "initOnce", json_boolean(c->init_once));
    return ok ? json_incref(o) : NULL;
}

static json_t *volume_to_json(const Volume *v)
{
    json_t *o = json_pack("{s:s,s:s}", "name", v->name, "kind", volume_kind_to_string(v->kind));
    bool ok = o != NULL;

    if (ok && v->kind == VOLUME_KIND_HOST_PATH)
        ok = set(o, "path", json_string(v->host_path)) &&
             set(o, "type", json_string(host_path_type_to_string(v->host_path_type)));
    if (ok && v->kind == VOLUME_KIND_EMPTY_DIR)
        ok = set(o, "medium", json_string(v->empty_dir_memory ? "Memory" : "")) &&
             set_opt_int(o, "sizeLimitBytes", v->size_limit_bytes);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *containers_to_json(const Container *cs, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, container_to_json(&cs[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *pod_to_json(const Pod *p)
{
    _cleanup_json_ json_t *o = json_object();
    json_t *vols, *deps, *sc;
    bool ok;

    if (!o)
        return NULL;
    ok = set(o, "name", json_string(p->name)) && set(o, "namespace", json_string(p->namespace)) &&
         set(o, "labels", str_map_to_json(&p->labels)) &&
         set(o, "annotations", str_map_to_json(&p->annotations)) &&
         set(o, "initContainers", containers_to_json(p->init_containers, p->n_init_containers)) &&
         set(o, "containers", containers_to_json(p->containers, p->n_containers)) &&
         set(o, "restartPolicy", json_string(restart_policy_to_string(p->restart_policy))) &&
         set(o, "terminationGracePeriodSeconds",
             json_integer(p->termination_grace_period_seconds)) &&
         set(o, "hostNetwork", json_boolean(p->host_network)) &&
         set(o, "hostPID", json_boolean(p->host_pid)) &&
         set(o, "hostIPC", json_boolean(p->host_ipc)) &&
         set(o, "shareProcessNamespace", json_boolean(p->share_process_namespace)) &&
         set_opt_str(o, "hostname", p->hostname) && set(o, "volumes", vols = json_array()) &&
         set(o, "securityContext", sc = json_object()) &&
         set(o, "exitPolicy", json_string(exit_policy_to_string(p->exit_policy))) &&
         set(o, "runtime", json_string(runtime_kind_to_string(p->runtime))) &&
         set(o, "restartBackoff",
             json_pack("{s:I,s:I,s:I}", "initialUsec", (json_int_t)p->backoff.initial_usec,
                       "maxUsec", (json_int_t)p->backoff.max_usec, "resetUsec",
                       (json_int_t)p->backoff.reset_usec)) &&
         set(o, "dependencies", deps = json_array());
    ok = ok && set_opt_int(sc, "runAsUser", p->run_as_user) &&
         set_opt_int(sc, "runAsGroup", p->run_as_group) &&
         set_opt_int(sc, "fsGroup", p->fs_group) &&
         set_opt_bool(sc, "runAsNonRoot", p->run_as_non_root) &&
         (!p->seccomp_set ||
          set(sc, "seccompProfile", json_string(seccomp_profile_to_string(p->seccomp))));
    for (size_t i = 0; ok && i < p->n_volumes; i++)
        ok = json_array_append_new(vols, volume_to_json(&p->volumes[i])) == 0;
    for (size_t i = 0; ok && i < p->n_dependencies; i++)
        ok = json_array_append_new(
                 deps, json_pack("{s:s,s:s,s:s}", "container", p->dependencies[i].container, "on",
                                 p->dependencies[i].on, "condition",
                                 dep_condition_to_string(p->dependencies[i].condition))) == 0;
    return ok ? json_incref(o) : NULL;
}
