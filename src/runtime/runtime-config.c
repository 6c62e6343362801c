/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>

#include "runtime-internal.h"

DEFINE_PRIVATE_STRING_TABLE(
    mount_kind, MountKind,
    _MOUNT_KIND_MAX, [MOUNT_KIND_HOST_PATH] = "hostPath", [MOUNT_KIND_EMPTY_DIR] = "emptyDir")
DEFINE_PRIVATE_STRING_TABLE_FROM(mount_kind, MountKind, _MOUNT_KIND_MAX, _MOUNT_KIND_INVALID)

static const struct {
    int resource;
    const char *name;
} rlimit_table[] = {
    {RLIMIT_AS, "RLIMIT_AS"},
    {RLIMIT_CORE, "RLIMIT_CORE"},
    {RLIMIT_CPU, "RLIMIT_CPU"},
    {RLIMIT_DATA, "RLIMIT_DATA"},
    {RLIMIT_FSIZE, "RLIMIT_FSIZE"},
    {RLIMIT_LOCKS, "RLIMIT_LOCKS"},
    {RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"},
    {RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"},
    {RLIMIT_NICE, "RLIMIT_NICE"},
    {RLIMIT_NOFILE, "RLIMIT_NOFILE"},
    {RLIMIT_NPROC, "RLIMIT_NPROC"},
    {RLIMIT_RSS, "RLIMIT_RSS"},
    {RLIMIT_RTPRIO, "RLIMIT_RTPRIO"},
    {RLIMIT_RTTIME, "RLIMIT_RTTIME"},
    {RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"},
    {RLIMIT_STACK, "RLIMIT_STACK"},
};

int runtime_rlimit_from_name(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(rlimit_table); i++)
        if (strcasecmp(name, rlimit_table[i].name) == 0 ||
            strcasecmp(name, rlimit_table[i].name + strlen("RLIMIT_")) == 0)
            return rlimit_table[i].resource;
    return -EINVAL;
}

const char *runtime_rlimit_to_name(int resource)
{
    for (size_t i = 0; i < ELEMENTSOF(rlimit_table); i++)
        if (rlimit_table[i].resource == resource)
            return rlimit_table[i].name;
    return NULL;
}

static void mount_spec_done(MountSpec *m)
{
    free(m->source);
    free(m->destination);
    free(m->sub_path);
}

ContainerConfig *container_config_free(ContainerConfig *c)
{
    if (!c)
        return NULL;
    free(c->id);
    free(c->pod);
    free(c->name);
    free(c->image);
    strv_free(c->image_layers);
    free(c->run_dir);
    strv_free(c->args);
    strv_free(c->env);
    free(c->working_dir);
    free(c->hostname);
    free(c->user);
    free(c->supplementary_groups);
    free(c->ns.net);
    free(c->ns.ipc);
    free(c->ns.uts);
    free(c->ns.pid);
    for (size_t i = 0; i < c->n_mounts; i++)
        mount_spec_done(&c->mounts[i]);
    free(c->mounts);
    strv_free(c->cap_add);
    strv_free(c->cap_drop);
    free(c->cgroup);
    free(c->log_path);
    free(c->version);
    free(c->runtime);
    free(c->monitor_pid_file);
    free(c->pid_file);
    free(c->exit_file);
    free(c);
    return NULL;
}

static ContainerConfig *container_config_new(void)
{
    ContainerConfig *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->memory_limit = c->cpu_limit_millis = c->cpu_shares_millis = c->pids_limit = UNSET;
    c->seccomp = true;
    c->no_new_privs = true;
    return c;
}

/* ---- to JSON ---------------------------------------------------------------------------- */

static bool jset(json_t *o, const char *k, json_t *v)
{
    return v && json_object_set_new(o, k, v) == 0;
}

static bool jset_str(json_t *o, const char *k, const char *v)
{
    return !v || jset(o, k, json_string(v));
}

static bool jset_int(json_t *o, const char *k, int64_t v)
{
    return v == UNSET || jset(o, k, json_integer(v));
}

static json_t *strv_json(char *const *l)
{
    json_t *a = json_array();

    if (!a)
        return NULL;
    for (size_t i = 0; l && l[i]; i++)
        if (json_array_append_new(a, json_string(l[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *container_config_to_json(const ContainerConfig *c)
{
    _cleanup_json_ json_t *o = json_object(), *ns = json_object(), *mounts = json_array(),
                          *rl = json_array(), *groups = json_array();
    bool ok;

    if (!o || !ns || !mounts || !rl || !groups)
        return NULL;
    ok = jset_str(o, "runtime", c->runtime) && jset_str(o, "id", c->id) &&
         jset_str(o, "pod", c->pod) && jset_str(o, "name", c->name) &&
         jset_str(o, "image", c->image) && jset(o, "imageLayers", strv_json(c->image_layers)) &&
         jset_str(o, "runDir", c->run_dir) && jset(o, "args", strv_json(c->args)) &&
         jset(o, "env", strv_json(c->env)) && jset_str(o, "workingDir", c->working_dir) &&
         jset_str(o, "hostname", c->hostname) && jset_str(o, "user", c->user);
    for (size_t i = 0; ok && i < c->n_supplementary_groups; i++)
        ok = json_array_append_new(groups, json_integer(c->supplementary_groups[i])) == 0;
    ok = ok && json_object_set(o, "supplementaryGroups", groups) == 0;
    ok = ok && jset_str(ns, "net", c->ns.net) && jset_str(ns, "ipc", c->ns.ipc) &&
         jset_str(ns, "uts", c->ns.uts) && jset_str(ns, "pid", c->ns.pid) &&
         jset(ns, "hostPID", json_boolean(c->ns.host_pid)) &&
         json_object_set(o, "namespaces", ns) == 0;
    for (size_t i = 0; ok && i < c->n_mounts; i++) {
        const MountSpec *m = &c->mounts[i];
        json_t *mo = json_object();

        ok = mo && json_array_append_new(mounts, mo) == 0 &&
             jset_str(mo, "kind", mount_kind_to_string(m->kind)) &&
             jset_str(mo, "source", m->source) && jset_str(mo, "destination", m->destination) &&
             jset_str(mo, "subPath", m->sub_path) &&
             jset_str(mo, "hostPathType", host_path_type_to_string(m->host_path_type)) &&
             jset(mo, "readOnly", json_boolean(m->read_only));
    }
    ok = ok && json_object_set(o, "mounts", mounts) == 0;
    for (size_t i = 0; ok && i < c->n_rlimits; i++) {
        json_t *r = json_object();

        ok = r && json_array_append_new(rl, r) == 0 &&
             jset_str(r, "type", runtime_rlimit_to_name(c->rlimits[i].resource)) &&
             jset(r, "soft", json_integer((json_int_t)c->rlimits[i].soft)) &&
             jset(r, "hard", json_integer((json_int_t)c->rlimits[i].hard));
    }
    ok = ok && json_object_set(o, "rlimits", rl) == 0 &&
         jset(o, "readOnlyRootfs", json_boolean(c->read_only_rootfs)) &&
         jset(o, "privileged", json_boolean(c->privileged)) &&
         jset(o, "runAsNonRoot", json_boolean(c->run_as_non_root)) &&
         jset(o, "noNewPrivileges", json_boolean(c->no_new_privs)) &&
         jset(o, "seccomp", json_boolean(c->seccomp)) && jset(o, "capAdd", strv_json(c->cap_add)) &&
         jset(o, "capDrop", strv_json(c->cap_drop)) && jset_str(o, "cgroup", c->cgroup) &&
         jset_int(o, "memoryLimit", c->memory_limit) &&
         jset_int(o, "cpuLimitMillis", c->cpu_limit_millis) &&
         jset_int(o, "cpuSharesMillis", c->cpu_shares_millis) &&
         jset_int(o, "pidsLimit", c->pids_limit) && jset_str(o, "logPath", c->log_path) &&
         jset_str(o, "version", c->version) &&
         jset(o, "logMaxBytes", json_integer((json_int_t)c->log_max_bytes)) &&
         jset_str(o, "monitorPidFile", c->monitor_pid_file) &&
         jset_str(o, "pidFile", c->pid_file) && jset_str(o, "exitFile", c->exit_file);
    if (!ok)
        return NULL;
    return move_ptr(o);
}

/* ---- from JSON -------------------------------------------------------------------------- */

static int get_str(json_t *o, const char *k, bool required, bool absolute, char **ret,
                   PdError *reterr)
{
    json_t *v = json_object_get(o, k);
    char *s;

    if (!v || json_is_null(v)) {
        if (required)
            return pd_error_set(reterr, -EINVAL, "config: '%s' is required", k);
        return 0;
    }
    if (!json_is_string(v))
        return pd_error_set(reterr, -EINVAL, "config: '%s' must be a string", k);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return pd_error_set(reterr, -EINVAL, "config: '%s' contains a NUL byte", k);
    if (absolute && json_string_value(v)[0] != '/')
        return pd_error_set(reterr, -EINVAL, "config: '%s' must be an absolute path", k);
    s = strdup(json_string_value(v));
    if (!s)
        return -ENOMEM;
    free(*ret);
    *ret = s;
    return 0;
}

static int get_bool(json_t *o, const char *k, bool *ret, PdError *reterr)
{
    json_t *v = json_object_get(o, k);

    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return pd_error_set(reterr, -EINVAL, "config: '%s' must be a boolean", k);
    *ret = json_is_true(v);
    return 0;
}

static int get_int(json_t *o, const char *k, int64_t min, int64_t *ret, PdError *reterr)
{
    json_t *v = json_object_get(o, k);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min)
        return pd_error_set(reterr, -EINVAL, "config: '%s' must be an integer >= %" PRId64, k, min);
    *ret = json_integer_value(v);
    return 0;
}

static int get_strv(json_t *o, const char *k, char ***ret, PdError *reterr)
{
    _cleanup_(strv_freep) char **l = NULL;
    json_t *v = json_object_get(o, k), *e;
    size_t i;

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) > MANIFEST_MAX_LIST)
        return pd_error_set(reterr, -EINVAL, "config: '%s' must be a list of strings", k);
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))
            return pd_error_set(reterr, -EINVAL, "config: '%s[%zu]' must be a string", k, i);
        if (strv_extend(&l, json_string_value(e)) < 0)
            return -ENOMEM;
    }
    if (!l) {
        l = calloc(1, sizeof(char *));
        if (!l)
            return -ENOMEM;
    }
    strv_free(*ret);
    *ret = move_ptr(l);
    return 0;
}

/*
 * "imageLayers": absolute directories, lowest first; configs of podds before
 * layered images have "imageDir", one directory.
 */
static int get_image_layers(json_t *o, char ***ret, PdError *reterr)
{
    _cleanup_(strv_freep) char **l = NULL;
    _cleanup_free_ char *dir = NULL;
    int r;

    if (!json_object_get(o, "imageLayers")) {
        r = get_str(o, "imageDir", true, true, &dir, reterr);
        if (r < 0)
            return r;
        r = strv_push_take(&l, move_ptr(dir));
        if (r < 0)
            return r;
    } else {
        r = get_strv(o, "imageLayers", &l, reterr);
        if (r < 0)
            return r;
        if (!l[0])
            return pd_error_set(reterr, -EINVAL, "config: 'imageLayers' must not be empty");
        for (size_t i = 0; l[i]; i++)
            if (l[i][0] != '/')
                return pd_error_set(reterr, -EINVAL,
                                    "config: 'imageLayers[%zu]' must be an absolute path", i);
    }
    strv_free(*ret);
    *ret = move_ptr(l);
    return 0;
}

static int mount_from_json(json_t *o, size_t i, MountSpec *m, PdError *reterr)
{
    _cleanup_free_ char *kind = NULL, *type = NULL;
    MountKind k;
    int r;

    if (!json_is_object(o))
        return pd_error_set(reterr, -EINVAL, "config: mounts[%zu] must be an object", i);
    if ((r = get_str(o, "kind", false, false, &kind, reterr)) < 0 ||
        (r = get_str(o, "source", true, true, &m->source, reterr)) < 0 ||
        (r = get_str(o, "destination", true, true, &m->destination, reterr)) < 0 ||
        (r = get_str(o, "subPath", false, false, &m->sub_path, reterr)) < 0 ||
        (r = get_str(o, "hostPathType", false, false, &type, reterr)) < 0 ||
        (r = get_bool(o, "readOnly", &m->read_only, reterr)) < 0)
        return pd_error_prefix(reterr, r, "mounts[%zu]", i);
    k = kind ? mount_kind_from_string(kind) : MOUNT_KIND_HOST_PATH;
    if (k < 0)
        return pd_error_set(reterr, -EINVAL, "config: mounts[%zu]: unknown kind '%s'", i, kind);
    m->kind = k;
    m->host_path_type = HOST_PATH_UNSET;
    if (type) {
        HostPathType t = host_path_type_from_string(type);

        if ((int)t < 0)
            return pd_error_set(reterr, -EINVAL, "config: mounts[%zu]: unknown hostPathType '%s'",
                                i, type);
        m->host_path_type = t;
    }
    if (m->sub_path &&
        (m->sub_path[0] == '/' || streq(m->sub_path, "..") || startswith(m->sub_path, "../") ||
         strstr(m->sub_path, "/../") || endswith(m->sub_path, "/..")))
        return pd_error_set(reterr, -EINVAL,
                            "config: mounts[%zu]: subPath '%s' must be relative and stay inside "
                            "the volume",
                            i, m->sub_path);
    return 0;
}

int container_config_from_json(json_t *j, ContainerConfig **ret, PdError *reterr)
{
    _cleanup_(container_config_freep) ContainerConfig *c = NULL;
    json_t *ns, *mounts, *rl, *groups, *e;
    int64_t v;
    size_t i;
    int r;

    if (!json_is_object(j))
        return pd_error_set(reterr, -EINVAL, "config: not a JSON object");
    c = container_config_new();
    if (!c)
        return -ENOMEM;
    if ((r = get_str(j, "runtime", false, false, &c->runtime, reterr)) < 0 ||
        (r = get_str(j, "id", true, false, &c->id, reterr)) < 0 ||
        (r = get_str(j, "pod", false, false, &c->pod, reterr)) < 0 ||
        (r = get_str(j, "name", false, false, &c->name, reterr)) < 0 ||
        (r = get_str(j, "image", false, false, &c->image, reterr)) < 0 ||
        (r = get_image_layers(j, &c->image_layers, reterr)) < 0 ||
        (r = get_str(j, "runDir", true, true, &c->run_dir, reterr)) < 0 ||
        (r = get_strv(j, "args", &c->args, reterr)) < 0 ||
        (r = get_strv(j, "env", &c->env, reterr)) < 0 ||
        (r = get_str(j, "workingDir", false, true, &c->working_dir, reterr)) < 0 ||
        (r = get_str(j, "hostname", false, false, &c->hostname, reterr)) < 0 ||
        (r = get_str(j, "user", false, false, &c->user, reterr)) < 0 ||
        (r = get_bool(j, "readOnlyRootfs", &c->read_only_rootfs, reterr)) < 0 ||
        (r = get_bool(j, "privileged", &c->privileged, reterr)) < 0 ||
        (r = get_bool(j, "runAsNonRoot", &c->run_as_non_root, reterr)) < 0 ||
        (r = get_bool(j, "noNewPrivileges", &c->no_new_privs, reterr)) < 0 ||
        (r = get_bool(j, "seccomp", &c->seccomp, reterr)) < 0 ||
        (r = get_strv(j, "capAdd", &c->cap_add, reterr)) < 0 ||
        (r = get_strv(j, "capDrop", &c->cap_drop, reterr)) < 0 ||
        (r = get_str(j, "cgroup", false, false, &c->cgroup, reterr)) < 0 ||
        (r = get_int(j, "memoryLimit", 4096, &c->memory_limit, reterr)) < 0 ||
        (r = get_int(j, "cpuLimitMillis", 1, &c->cpu_limit_millis, reterr)) < 0 ||
        (r = get_int(j, "cpuSharesMillis", 0, &c->cpu_shares_millis, reterr)) < 0 ||
        (r = get_int(j, "pidsLimit", 1, &c->pids_limit, reterr)) < 0 ||
        (r = get_str(j, "logPath", false, true, &c->log_path, reterr)) < 0 ||
        (r = get_str(j, "version", false, false, &c->version, reterr)) < 0 ||
        (r = get_str(j, "monitorPidFile", false, true, &c->monitor_pid_file, reterr)) < 0 ||
        (r = get_str(j, "pidFile", false, true, &c->pid_file, reterr)) < 0 ||
        (r = get_str(j, "exitFile", true, true, &c->exit_file, reterr)) < 0)
        return r;
    if (!c->runtime && !(c->runtime = strdup(runtime_native_ops.name)))
        return -ENOMEM;
    if (!runtime_monitor_find(c->runtime))
        return pd_error_set(reterr, -EINVAL, "config: 'runtime': no backend '%s' in podd-monitor",
                            c->runtime);
    if (!c->args || !c->args[0] || !c->args[0][0])
        return pd_error_set(reterr, -EINVAL, "config: 'args' must hold at least the command");
    for (i = 0; c->env && c->env[i]; i++)
        if (!strchr(c->env[i], '=') || c->env[i][0] == '=')
            return pd_error_set(reterr, -EINVAL, "config: env[%zu] '%s' is not NAME=value", i,
                                c->env[i]);
    if (c->cgroup && (c->cgroup[0] == '/' || strstr(c->cgroup, "..") || !c->cgroup[0]))
        return pd_error_set(reterr, -EINVAL, "config: 'cgroup' must be a relative path");
    v = 0;
    if ((r = get_int(j, "logMaxBytes", 0, &v, reterr)) < 0)
        return r;
    c->log_max_bytes = (uint64_t)v;

    groups = json_object_get(j, "supplementaryGroups");
    if (groups && !json_is_array(groups))
        return pd_error_set(reterr, -EINVAL, "config: 'supplementaryGroups' must be a list");
    if (groups && json_array_size(groups) > 0) {
        if (json_array_size(groups) > 64)
            return pd_error_set(reterr, -EINVAL, "config: too many supplementaryGroups");
        c->supplementary_groups = calloc(json_array_size(groups), sizeof(gid_t));
        if (!c->supplementary_groups)
            return -ENOMEM;
        json_array_foreach(groups, i, e)
        {
            if (!json_is_integer(e) || json_integer_value(e) < 0 ||
                json_integer_value(e) > UINT32_MAX - 1)
                return pd_error_set(reterr, -EINVAL, "config: supplementaryGroups[%zu] invalid", i);
            c->supplementary_groups[c->n_supplementary_groups++] = (gid_t)json_integer_value(e);
        }
    }

    ns = json_object_get(j, "namespaces");
    if (ns) {
        if (!json_is_object(ns))
            return pd_error_set(reterr, -EINVAL, "config: 'namespaces' must be an object");
        if ((r = get_str(ns, "net", false, true, &c->ns.net, reterr)) < 0 ||
            (r = get_str(ns, "ipc", false, true, &c->ns.ipc, reterr)) < 0 ||
            (r = get_str(ns, "uts", false, true, &c->ns.uts, reterr)) < 0 ||
            (r = get_str(ns, "pid", false, true, &c->ns.pid, reterr)) < 0 ||
            (r = get_bool(ns, "hostPID", &c->ns.host_pid, reterr)) < 0)
            return pd_error_prefix(reterr, r, "namespaces");
    }

    mounts = json_object_get(j, "mounts");
    if (mounts && !json_is_array(mounts))
        return pd_error_set(reterr, -EINVAL, "config: 'mounts' must be a list");
    if (mounts && json_array_size(mounts) > 0) {
        if (json_array_size(mounts) > RUNTIME_MAX_MOUNTS)
            return pd_error_set(reterr, -EINVAL, "config: too many mounts");
        c->mounts = calloc(json_array_size(mounts), sizeof(MountSpec));
        if (!c->mounts)
            return -ENOMEM;
        json_array_foreach(mounts, i, e)
        {
            r = mount_from_json(e, i, &c->mounts[c->n_mounts++], reterr);
            if (r < 0)
                return r;
        }
    }

    rl = json_object_get(j, "rlimits");
    if (rl && (!json_is_array(rl) || json_array_size(rl) > RUNTIME_MAX_RLIMITS))
        return pd_error_set(reterr, -EINVAL, "config: 'rlimits' must be a list of at most %d",
                            RUNTIME_MAX_RLIMITS);
    json_array_foreach(rl, i, e)
    {
        _cleanup_free_ char *type = NULL;
        int64_t soft = -1, hard = -1;
        int res;

        if (!json_is_object(e))
            return pd_error_set(reterr, -EINVAL, "config: rlimits[%zu] must be an object", i);
        if ((r = get_str(e, "type", true, false, &type, reterr)) < 0 ||
            (r = get_int(e, "soft", 0, &soft, reterr)) < 0 ||
            (r = get_int(e, "hard", 0, &hard, reterr)) < 0)
            return pd_error_prefix(reterr, r, "rlimits[%zu]", i);
        res = runtime_rlimit_from_name(type);
        if (res < 0)
            return pd_error_set(reterr, -EINVAL, "config: rlimits[%zu]: unknown type '%s'", i,
                                type);
        if (soft < 0 || hard < 0 || soft > hard)
            return pd_error_set(reterr, -EINVAL, "config: rlimits[%zu]: need 0 <= soft <= hard", i);
        c->rlimits[c->n_rlimits++] = (RlimitSpec){res, (uint64_t)soft, (uint64_t)hard};
    }

    *ret = move_ptr(c);
    return 0;
}

int container_config_load(const char *path, ContainerConfig **ret, PdError *reterr)
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *buf = NULL;
    _cleanup_json_ json_t *j = NULL;
    json_error_t jerr;
    size_t size;
    int r;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return pd_error_set(reterr, -errno, "open config '%s': %s", path, strerror(errno));
    r = read_fd_full(fd, MANIFEST_MAX_BYTES, &buf, &size);
    if (r < 0)
        return pd_error_set(reterr, r, "read config '%s': %s", path, strerror(-r));
    j = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return pd_error_set(reterr, -EINVAL, "config '%s':%d:%d: %s", path, jerr.line, jerr.column,
                            jerr.text);
    r = container_config_from_json(j, ret, reterr);
    if (r < 0)
        pd_error_set_file(reterr, path);
    return r;
}

int write_json_file(const char *path, json_t *j, mode_t mode)
{
    _cleanup_free_ char *text = NULL;
    size_t n;

    text = json_dumps(j, JSON_COMPACT);
    if (!text)
        return -ENOMEM;
    n = strlen(text);
    text[n] = '\n';
    /*
     * No fsync, as for the pid files and the exit record beside it: the run
     * dir is volatile (a host crash takes the containers with it), and this
     * is on every container start, in podd's loop.
     */
    return write_file_atomic(AT_FDCWD, path, text, n + 1, mode, 0);
}

int container_config_save(const ContainerConfig *c, const char *path, PdError *reterr)
{
    _cleanup_json_ json_t *j = container_config_to_json(c);
    int r;

    if (!j)
        return pd_error_set(reterr, -ENOMEM, "config: out of memory");
    r = write_json_file(path, j, 0600);
    if (r < 0)
        return pd_error_set(reterr, r, "write config '%s': %s", path, strerror(-r));
    return 0;
}

/* ---- from the Pod model ------------------------------------------------------------------- */

char *runtime_pod_dir(const char *run_dir, const Pod *pod)
{
    return strdup_printf("%s/pods/%s_%s", run_dir, pod->namespace ? pod->namespace : "default",
                         pod->name);
}

/* A name from a state file may be anything: only one path component is a name. */
static bool path_name_ok(const char *s)
{
    return s && s[0] && !strchr(s, '/') && !streq(s, ".") && !streq(s, "..");
}

int runtime_pod_logs_remove(const char *log_dir, const char *namespace, const char *pod)
{
    _cleanup_free_ char *dir = NULL;

    if (!path_name_ok(namespace) || !path_name_ok(pod))
        return -EINVAL;
    dir = strdup_printf("%s/%s_%s", log_dir, namespace, pod);
    if (!dir)
        return -ENOMEM;
    return rm_rf_at(AT_FDCWD, dir);
}

char *runtime_container_id(const Pod *pod, const Container *c)
{
    return strdup_printf("%s_%s_%s", pod->namespace ? pod->namespace : "default", pod->name,
                         c->name);
}

char *runtime_container_cgroup(const char *cgroup_parent, const char *id)
{
    return strdup_printf("%s/%s", cgroup_parent, id);
}

static const Volume *pod_find_volume(const Pod *pod, const char *name)
{
    for (size_t i = 0; i < pod->n_volumes; i++)
        if (streq(pod->volumes[i].name, name))
            return &pod->volumes[i];
    return NULL;
}

static int strv_append(char ***l, char *const *add)
{
    for (size_t i = 0; add && add[i]; i++)
        if (strv_extend(l, add[i]) < 0)
            return -ENOMEM;
    return 0;
}

/*
 * The kubelet's rule: command replaces the Entrypoint and drops the Cmd;
 * args alone replace the Cmd; neither runs Entrypoint + Cmd.
 */
static int config_args(const Container *ct, const RuntimeImage *image, char ***ret)
{
    _cleanup_(strv_freep) char **l = NULL;
    bool has_command = ct->command && ct->command[0];
    bool has_args = ct->args && ct->args[0];

    if (strv_append(&l, has_command ? ct->command : image->entrypoint) < 0 ||
        strv_append(&l, has_command || has_args ? ct->args : image->cmd) < 0)
        return -ENOMEM;
    *ret = move_ptr(l);
    return 0;
}

int container_config_new_from_pod(const Pod *pod, const Container *ct, const char *run_dir,
                                  const char *log_dir, const RuntimeImage *image,
                                  const char *cgroup_parent, ContainerConfig **ret, PdError *reterr)
{
    _cleanup_(container_config_freep) ContainerConfig *c = NULL;
    _cleanup_free_ char *pod_dir = NULL;
    const SecurityContext *sc = &ct->security_context;
    bool have_path = false, have_hostname = false;
    int64_t uid, gid;
    int r;

    c = container_config_new();
    pod_dir = runtime_pod_dir(run_dir, pod);
    if (!c || !pod_dir)
        return -ENOMEM;
    c->id = runtime_container_id(pod, ct);
    c->pod = strdup(pod->name);
    c->name = strdup(ct->name);
    c->image = strdup(ct->image ? ct->image : image->layers[0]);
    c->image_layers = strv_copy(image->layers);
    if (!c->id || !c->pod || !c->name || !c->image || !c->image_layers)
        return -ENOMEM;
    c->run_dir = strdup_printf("%s/containers/%s", run_dir, c->id);
    c->log_path = strdup_printf("%s/%s_%s/%s.log", log_dir,
                                pod->namespace ? pod->namespace : "default", pod->name, ct->name);
    c->monitor_pid_file = strdup_printf("%s/monitor.pid", c->run_dir);
    c->pid_file = strdup_printf("%s/container.pid", c->run_dir);
    c->exit_file = strdup_printf("%s/exit.json", c->run_dir);
    c->cgroup = runtime_container_cgroup(cgroup_parent, c->id);
    if (!c->run_dir || !c->log_path || !c->monitor_pid_file || !c->pid_file || !c->exit_file ||
        !c->cgroup)
        return -ENOMEM;
    c->log_max_bytes = RUNTIME_DEFAULT_LOG_MAX_BYTES;

    /* command + args, over the image's Entrypoint + Cmd as the kubelet does */
    r = config_args(ct, image, &c->args);
    if (r < 0)
        return r;
    if (!c->args || !c->args[0])
        return pd_error_set(reterr, -EINVAL,
                            "container '%s': no command (neither the manifest nor the image '%s' "
                            "gives one)",
                            ct->name, c->image);

    /* env: the image's, the manifest's over them, then defaults */
    for (size_t i = 0; image->env && image->env[i]; i++) {
        size_t n = strcspn(image->env[i], "=");
        bool overridden = false;

        for (size_t k = 0; k < ct->n_env && !overridden; k++)
            overridden =
                strlen(ct->env[k].name) == n && !strncmp(ct->env[k].name, image->env[i], n);
        if (overridden || !image->env[i][n])
            continue;
        if (strv_extend(&c->env, image->env[i]) < 0)
            return -ENOMEM;
        have_path = have_path || (n == 4 && !strncmp(image->env[i], "PATH", 4));
        have_hostname = have_hostname || (n == 8 && !strncmp(image->env[i], "HOSTNAME", 8));
    }
    for (size_t i = 0; i < ct->n_env; i++) {
        char *kv = strdup_printf("%s=%s", ct->env[i].name, ct->env[i].value);

        if (!kv || strv_push_take(&c->env, kv) < 0)
            return -ENOMEM;
        have_path = have_path || streq(ct->env[i].name, "PATH");
        have_hostname = have_hostname || streq(ct->env[i].name, "HOSTNAME");
    }
    if (!have_path && strv_extend(&c->env, "PATH=" RUNTIME_DEFAULT_PATH) < 0)
        return -ENOMEM;
    if (!pod->host_network) {
        c->hostname = strdup(pod->hostname ? pod->hostname : pod->name);
        if (!c->hostname)
            return -ENOMEM;
    }
    if (!have_hostname && c->hostname) {
        char *kv = strdup_printf("HOSTNAME=%s", c->hostname);

        if (!kv || strv_push_take(&c->env, kv) < 0)
            return -ENOMEM;
    }
    if (ct->working_dir && !(c->working_dir = strdup(ct->working_dir)))
        return -ENOMEM;
    if (!ct->working_dir && image->working_dir && image->working_dir[0] &&
        !(c->working_dir = strdup(image->working_dir)))
        return -ENOMEM;

    /* user: container securityContext wins over the pod's */
    uid = sc->run_as_user != UNSET ? sc->run_as_user : pod->run_as_user;
    gid = sc->run_as_group != UNSET ? sc->run_as_group : pod->run_as_group;
    if (uid == UNSET && image->user && image->user[0]) {
        /* The image's user (a name is resolved in its /etc/passwd); runAsGroup wins for the group.
         */
        if (gid != UNSET)
            c->user =
                strdup_printf("%.*s:%" PRId64, (int)strcspn(image->user, ":"), image->user, gid);
        else
            c->user = strdup(image->user);
        if (!c->user)
            return -ENOMEM;
    } else if (uid != UNSET || gid != UNSET) {
        if (gid != UNSET)
            c->user = strdup_printf("%" PRId64 ":%" PRId64, uid != UNSET ? uid : 0, gid);
        else
            c->user = strdup_printf("%" PRId64, uid);
        if (!c->user)
            return -ENOMEM;
    }
    /* The container's runAsNonRoot wins over the pod's; checked where the user is resolved. */
    c->run_as_non_root =
        (sc->run_as_non_root != -1 ? sc->run_as_non_root : pod->run_as_non_root) == 1;
    if (pod->fs_group != UNSET) {
        c->supplementary_groups = calloc(1, sizeof(gid_t));
        if (!c->supplementary_groups)
            return -ENOMEM;
        c->supplementary_groups[c->n_supplementary_groups++] = (gid_t)pod->fs_group;
    }

    /* namespaces: the pod's pins */
    if (!pod->host_network && (!(c->ns.net = strdup_printf("%s/ns/net", pod_dir)) ||
                               !(c->ns.uts = strdup_printf("%s/ns/uts", pod_dir))))
        return -ENOMEM;
    if (!pod->host_ipc && !(c->ns.ipc = strdup_printf("%s/ns/ipc", pod_dir)))
        return -ENOMEM;
    c->ns.host_pid = pod->host_pid;
    /* shareProcessNamespace: the first container creates and pins it (runtime-native.c). */
    if (pod->share_process_namespace && !pod->host_pid &&
        !(c->ns.pid = strdup_printf("%s/ns/pid", pod_dir)))
        return -ENOMEM;

    /* volumes */
    if (ct->n_volume_mounts > 0) {
        c->mounts = calloc(ct->n_volume_mounts, sizeof(MountSpec));
        if (!c->mounts)
            return -ENOMEM;
    }
    for (size_t i = 0; i < ct->n_volume_mounts; i++) {
        const VolumeMount *vm = &ct->volume_mounts[i];
        const Volume *v = pod_find_volume(pod, vm->name);
        MountSpec *m = &c->mounts[c->n_mounts++];

        if (!v)
            return pd_error_set(reterr, -ENOENT, "container '%s': volumeMount '%s': no such volume",
                                ct->name, vm->name);
        m->kind = v->kind == VOLUME_KIND_HOST_PATH ? MOUNT_KIND_HOST_PATH : MOUNT_KIND_EMPTY_DIR;
        if (v->kind == VOLUME_KIND_HOST_PATH)
            m->source = strdup(v->host_path);
        else
            m->source = strdup_printf("%s/volumes/%s", pod_dir, v->name);
        m->destination = strdup(vm->mount_path);
        if (!m->source || !m->destination)
            return -ENOMEM;
        if (vm->sub_path && vm->sub_path[0] && !(m->sub_path = strdup(vm->sub_path)))
            return -ENOMEM;
        m->host_path_type = v->kind == VOLUME_KIND_HOST_PATH ? v->host_path_type : HOST_PATH_UNSET;
        m->read_only = vm->read_only;
    }

    /* security */
    c->privileged = sc->privileged == 1;
    c->read_only_rootfs = sc->read_only_root_filesystem == 1;
    c->no_new_privs = !c->privileged && sc->allow_privilege_escalation != 1;
    if (sc->seccomp_set)
        c->seccomp = sc->seccomp == SECCOMP_PROFILE_DEFAULT;
    else if (pod->seccomp_set)
        c->seccomp = pod->seccomp == SECCOMP_PROFILE_DEFAULT;
    else
        c->seccomp = true;
    if (c->privileged)
        c->seccomp = false;
    if (sc->capabilities_add && !(c->cap_add = strv_copy(sc->capabilities_add)))
        return -ENOMEM;
    if (sc->capabilities_drop && !(c->cap_drop = strv_copy(sc->capabilities_drop)))
        return -ENOMEM;

    /* resources */
    c->memory_limit = ct->resources.memory_limit_bytes;
    c->cpu_limit_millis = ct->resources.cpu_limit_millis;
    c->cpu_shares_millis = ct->resources.cpu_request_millis;

    *ret = move_ptr(c);
    return 0;
}
