/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#include "image/image.h"
#include "manifest-internal.h"

/* Validation of init containers, sidecars and regular containers. */

static const char *const capability_names[] = {
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
    "ALL",
    NULL,
};

/* ---- containers --------------------------------------------------------------------------- */

static void parse_container_name(V *v, const Node *n, void *obj)
{
    Container *c = obj;

    if (validate_string(v, n, &c->name) < 0)
        return;
    if (!dns_label_is_valid(c->name))
        validate_error(
            v, n,
            "'%s' is not a valid container name: use at most 63 lower case letters, digits "
            "and '-', starting and ending with a letter or digit",
            c->name);
}

bool manifest_image_is_valid(const char *ref)
{
    ImageReference r;

    if (!ref || !ref[0])
        return false;
    if (ref[0] == '/')
        return true;
    return image_reference_parse(ref, &r, NULL) == 0;
}

static void parse_image(V *v, const Node *n, void *obj)
{
    Container *c = obj;

    if (validate_string(v, n, &c->image) < 0)
        return;
    if (!c->image[0]) {
        validate_error(v, n, "must not be empty");
        return;
    }
    for (const char *s = c->image; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f) {
            validate_error(v, n, "'%s' is not a valid image: no spaces or control characters",
                           c->image);
            return;
        }
    /* An absolute rootfs directory is the administrator's to name; anything else is looked up. */
    if (c->image[0] != '/') {
        ImageReference r;
        PdError e = {0};

        if (image_reference_parse(c->image, &r, &e) < 0)
            validate_error(v, n,
                           "InvalidImageName: %s (give an absolute rootfs directory or a "
                           "reference [HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST])",
                           e.message);
    }
}

ImagePullPolicy image_pull_policy_default(const char *image)
{
    ImageReference r;

    /* As Kubernetes: the tag latest (given, or implied by neither tag nor digest) means Always. */
    if (image && image[0] != '/' && image_reference_parse(image, &r, NULL) == 0 &&
        streq(r.tag, "latest"))
        return IMAGE_PULL_POLICY_ALWAYS;
    return IMAGE_PULL_POLICY_IF_NOT_PRESENT;
}

static void parse_image_pull_policy(V *v, const Node *n, void *obj)
{
    Container *c = obj;
    _cleanup_free_ char *s = NULL;
    ImagePullPolicy p;

    if (validate_string(v, n, &s) < 0)
        return;
    p = image_pull_policy_from_string(s);
    if (p < 0) {
        validate_error(v, n, "'%s' is not an image pull policy: use Always, IfNotPresent or Never",
                       s);
        return;
    }
    c->image_pull_policy = p;
    c->image_pull_policy_set = true;
}

static void parse_command(V *v, const Node *n, void *obj)
{
    (void)validate_strv(v, n, &((Container *)obj)->command);
}

static void parse_args(V *v, const Node *n, void *obj)
{
    (void)validate_strv(v, n, &((Container *)obj)->args);
}

static void parse_working_dir(V *v, const Node *n, void *obj)
{
    Container *c = obj;

    if (validate_string(v, n, &c->working_dir) >= 0 && !path_is_absolute(c->working_dir))
        validate_error(v, n, "'%s' is not an absolute path", c->working_dir);
}

static void parse_env_name(V *v, const Node *n, void *obj)
{
    EnvVar *e = obj;

    if (validate_string(v, n, &e->name) < 0)
        return;
    if (!e->name[0] || strchr(e->name, '='))
        validate_error(v, n, "'%s' is not a valid variable name (not empty, no '=')", e->name);
}

static const Field env_fields[] = {
    F_PARSE("name", parse_env_name),
    F_STRING("value", EnvVar, value),
    F_UNSUPPORTED("valueFrom",
                  "podd has no ConfigMaps, Secrets or downward API; give the value inline"),
    F_END,
};

static void parse_env(V *v, const Node *n, void *obj)
{
    Container *c = obj;

    if (!validate_list_alloc(v, n, MANIFEST_MAX_LIST, "entries", sizeof(EnvVar), (void **)&c->env))
        return;
    for (size_t i = 0; i < n->n_items; i++) {
        size_t old = validate_push(v, "[%zu]", i);
        EnvVar *e = &c->env[c->n_env++];

        if (validate_object(v, n->items[i], env_fields, e)) {
            validate_require(v, n->items[i], "name");
            if (!e->value && !node_get(n->items[i], "valueFrom"))
                e->value = strdup("");
        }
        if (!e->name)
            e->name = strdup("");
        if (!e->value)
            e->value = strdup("");
        if (!e->name || !e->value)
            v->oom = true;
        validate_pop(v, old);
    }
}

static void parse_port_protocol(V *v, const Node *n, void *obj)
{
    ContainerPort *p = obj;

    if (validate_string(v, n, &p->protocol) < 0)
        return;
    if (streq(p->protocol, "TCP") || streq(p->protocol, "UDP") || streq(p->protocol, "SCTP"))
        return;
    if (strcasecmp(p->protocol, "TCP") == 0 || strcasecmp(p->protocol, "UDP") == 0 ||
        strcasecmp(p->protocol, "SCTP") == 0) {
        /* podman accepts lower case; Kubernetes does not: run it, but say so. */
        validate_warning(v, n, "'%s' read as upper case; Kubernetes accepts only TCP, UDP or SCTP",
                         p->protocol);
        for (char *c = p->protocol; *c; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
        return;
    }
    validate_error(v, n, "'%s' is not a protocol: use TCP, UDP or SCTP", p->protocol);
}

static void parse_port_name(V *v, const Node *n, void *obj)
{
    ContainerPort *p = obj;

    if (validate_string(v, n, &p->name) >= 0 && !port_name_is_valid(p->name))
        validate_error(
            v, n,
            "'%s' is not a valid port name: 1-15 lower case letters, digits and '-', with "
            "at least one letter",
            p->name);
}

static const Field port_fields[] = {
    F_INT32("containerPort", ContainerPort, container_port, 1, 65535),
    F_INT32("hostPort", ContainerPort, host_port, 0, 65535),
    F_PARSE("protocol", parse_port_protocol),
    F_PARSE("name", parse_port_name),
    F_STRING("hostIP", ContainerPort, host_ip),
    F_END,
};

static void parse_ports(V *v, const Node *n, void *obj)
{
    Container *c = obj;

    if (!validate_list_alloc(v, n, MANIFEST_MAX_LIST, "entries", sizeof(ContainerPort),
                             (void **)&c->ports))
        return;
    for (size_t i = 0; i < n->n_items; i++) {
        size_t old = validate_push(v, "[%zu]", i);
        ContainerPort *p = &c->ports[c->n_ports++];

        p->host_port = UNSET;
        if (validate_object(v, n->items[i], port_fields, p)) {
            validate_require(v, n->items[i], "containerPort");
            for (size_t j = 0; p->name && j + 1 < c->n_ports; j++)
                if (c->ports[j].name && streq(c->ports[j].name, p->name))
                    validate_error(v, n->items[i], "duplicate port name '%s'", p->name);
        }
        if (p->host_port == 0)
            p->host_port = UNSET;
        if (!p->protocol && !(p->protocol = strdup("TCP")))
            v->oom = true;
        validate_pop(v, old);
    }
}

static void parse_mount_path(V *v, const Node *n, void *obj)
{
    VolumeMount *m = obj;

    if (validate_string(v, n, &m->mount_path) >= 0 && !path_is_absolute(m->mount_path))
        validate_error(v, n, "'%s' is not an absolute path", m->mount_path);
    else if (m->mount_path && strchr(m->mount_path, ':'))
        validate_error(v, n, "'%s' must not contain ':'", m->mount_path);
}

static void parse_mount_sub_path(V *v, const Node *n, void *obj)
{
    VolumeMount *m = obj;

    if (validate_string(v, n, &m->sub_path) >= 0 && !path_is_safe_relative(m->sub_path))
        validate_error(v, n, "'%s' must be a relative path without '..'", m->sub_path);
}

static const Field mount_fields[] = {
    F_STRING("name", VolumeMount, name),
    F_PARSE("mountPath", parse_mount_path),
    F_PARSE("subPath", parse_mount_sub_path),
    F_BOOL("readOnly", VolumeMount, read_only),
    F_UNSUPPORTED("mountPropagation", "mounts are always private"),
    F_UNSUPPORTED("subPathExpr", "use subPath"),
    F_UNSUPPORTED("recursiveReadOnly", NULL),
    F_END,
};

static void parse_volume_mounts(V *v, const Node *n, void *obj)
{
    Container *c = obj;

    if (!validate_list_alloc(v, n, MANIFEST_MAX_LIST, "entries", sizeof(VolumeMount),
                             (void **)&c->volume_mounts))
        return;
    for (size_t i = 0; i < n->n_items; i++) {
        size_t old = validate_push(v, "[%zu]", i);
        VolumeMount *m = &c->volume_mounts[c->n_volume_mounts++];

        m->pos = (SourcePos){n->items[i]->line, n->items[i]->column};
        if (validate_object(v, n->items[i], mount_fields, m)) {
            validate_require(v, n->items[i], "name");
            validate_require(v, n->items[i], "mountPath");
            for (size_t j = 0; m->mount_path && j + 1 < c->n_volume_mounts; j++)
                if (c->volume_mounts[j].mount_path &&
                    streq(c->volume_mounts[j].mount_path, m->mount_path))
                    validate_error(v, n->items[i], "mountPath '%s' is mounted twice",
                                   m->mount_path);
        }
        validate_pop(v, old);
    }
}

/* ---- resources ---------------------------------------------------------------------------- */

static void parse_resource_list(V *v, const Node *n, int64_t *cpu, int64_t *memory)
{
    if (!validate_is(v, n, NODE_MAPPING, "a mapping of quantities"))
        return;
    for (size_t i = 0; i < n->n_pairs; i++) {
        const Node *key = n->pairs[i].key, *value = n->pairs[i].value;
        size_t old = validate_push_key(v, key->scalar);
        bool is_cpu = streq(key->scalar, "cpu");
        int r;

        if (!is_cpu && !streq(key->scalar, "memory")) {
            if (streq(key->scalar, "ephemeral-storage") || startswith(key->scalar, "hugepages-") ||
                strchr(key->scalar, '/'))
                validate_error(v, key, "not supported by podd: it enforces cpu and memory only");
            else if (string_distance(key->scalar, "memory", 2) <= 2 ||
                     string_distance(key->scalar, "cpu", 1) <= 1)
                validate_error(v, key, "unknown resource; did you mean '%s'?",
                               string_distance(key->scalar, "cpu", 1) <= 1 ? "cpu" : "memory");
            else
                validate_error(v, key, "unknown resource: use cpu or memory");
        } else if (value->type != NODE_SCALAR ||
                   (value->kind != SCALAR_STRING && value->kind != SCALAR_INT &&
                    value->kind != SCALAR_FLOAT)) {
            validate_error(v, value, "expected a quantity, got %s", node_describe(value));
        } else {
            r = is_cpu ? quantity_parse_cpu_millis(value->scalar, cpu)
                       : quantity_parse_bytes(value->scalar, memory);
            if (r == -ERANGE)
                validate_error(v, value, "quantity '%s' is out of range (negative or too large)",
                               value->scalar);
            else if (r < 0)
                validate_error(v, value, "'%s' is not a quantity (examples: %s)", value->scalar,
                               is_cpu ? "500m, 0.5, 2" : "128Mi, 1Gi, 500M, 1048576");
        }
        validate_pop(v, old);
    }
}

static void parse_limits(V *v, const Node *n, void *obj)
{
    Resources *r = obj;

    parse_resource_list(v, n, &r->cpu_limit_millis, &r->memory_limit_bytes);
}

static void parse_requests(V *v, const Node *n, void *obj)
{
    Resources *r = obj;

    parse_resource_list(v, n, &r->cpu_request_millis, &r->memory_request_bytes);
}

static const Field resources_fields[] = {
    F_PARSE("limits", parse_limits),
    F_PARSE("requests", parse_requests),
    F_UNSUPPORTED("claims", "podd has no dynamic resource allocation"),
    F_END,
};

static void parse_resources(V *v, const Node *n, void *obj)
{
    Resources *r = &((Container *)obj)->resources;

    if (!validate_object(v, n, resources_fields, r))
        return;
    if (r->cpu_limit_millis != UNSET && r->cpu_request_millis != UNSET &&
        r->cpu_request_millis > r->cpu_limit_millis)
        validate_error(v, n, "requests.cpu must not exceed limits.cpu");
    if (r->memory_limit_bytes != UNSET && r->memory_request_bytes != UNSET &&
        r->memory_request_bytes > r->memory_limit_bytes)
        validate_error(v, n, "requests.memory must not exceed limits.memory");
}

/* ---- security contexts -------------------------------------------------------------------- */

static void parse_caps(V *v, const Node *n, char ***ret)
{
    if (validate_strv(v, n, ret) < 0)
        return;
    for (size_t i = 0; (*ret)[i]; i++) {
        const char *name = (*ret)[i];

        if (startswith(name, "CAP_"))
            name += 4;
        if (!strv_contains((char *const *)capability_names, name)) {
            size_t old = validate_push(v, "[%zu]", i);

            validate_error(v, n->items[i], "'%s' is not a Linux capability", (*ret)[i]);
            validate_pop(v, old);
        } else if (name != (*ret)[i]) {
            memmove((*ret)[i], name, strlen(name) + 1);
        }
    }
}

static void parse_caps_add(V *v, const Node *n, void *obj)
{
    parse_caps(v, n, &((SecurityContext *)obj)->capabilities_add);
}

static void parse_caps_drop(V *v, const Node *n, void *obj)
{
    parse_caps(v, n, &((SecurityContext *)obj)->capabilities_drop);
}

static const Field capabilities_fields[] = {
    F_PARSE("add", parse_caps_add),
    F_PARSE("drop", parse_caps_drop),
    F_END,
};

typedef struct SeccompTarget {
    SeccompProfile *profile;
    bool *set;
} SeccompTarget;

static void parse_seccomp_type(V *v, const Node *n, void *obj)
{
    SeccompTarget *t = obj;
    _cleanup_free_ char *s = NULL;

    if (validate_string(v, n, &s) < 0)
        return;
    if (streq(s, "RuntimeDefault")) {
        *t->profile = SECCOMP_PROFILE_DEFAULT;
        *t->set = true;
    } else if (streq(s, "Unconfined")) {
        *t->profile = SECCOMP_PROFILE_UNCONFINED;
        *t->set = true;
    } else if (streq(s, "Localhost")) {
        validate_error(v, n,
                       "not supported by podd: 'Localhost' seccomp profiles (use RuntimeDefault or "
                       "Unconfined)");
    } else {
        validate_error(v, n, "'%s' is not a seccomp profile type: use RuntimeDefault or Unconfined",
                       s);
    }
}

static const Field seccomp_fields[] = {
    F_PARSE("type", parse_seccomp_type),
    F_UNSUPPORTED("localhostProfile",
                  "'Localhost' seccomp profiles (use RuntimeDefault or Unconfined)"),
    F_END,
};

void validate_seccomp(V *v, const Node *n, SeccompProfile *profile, bool *set)
{
    SeccompTarget t = {profile, set};

    if (validate_object(v, n, seccomp_fields, &t))
        validate_require(v, n, "type");
}

static void parse_sc_capabilities(V *v, const Node *n, void *obj)
{
    (void)validate_object(v, n, capabilities_fields, obj);
}

static void parse_sc_seccomp(V *v, const Node *n, void *obj)
{
    SecurityContext *sc = obj;

    validate_seccomp(v, n, &sc->seccomp, &sc->seccomp_set);
}

const Shape validate_windows_options_shape = {
    NULL,
    'o',
    (const Shape[]){{"gmsaCredentialSpecName", 's', NULL},
                    {"gmsaCredentialSpec", 's', NULL},
                    {"runAsUserName", 's', NULL},
                    {"hostProcess", 'b', NULL},
                    {NULL, 0, NULL}},
};

static const Field container_sc_fields[] = {
    F_INT("runAsUser", SecurityContext, run_as_user, 0, INT32_MAX),
    F_INT("runAsGroup", SecurityContext, run_as_group, 0, INT32_MAX),
    F_TRISTATE("runAsNonRoot", SecurityContext, run_as_non_root),
    F_TRISTATE("privileged", SecurityContext, privileged),
    F_TRISTATE("allowPrivilegeEscalation", SecurityContext, allow_privilege_escalation),
    F_TRISTATE("readOnlyRootFilesystem", SecurityContext, read_only_root_filesystem),
    F_PARSE("capabilities", parse_sc_capabilities),
    F_PARSE("seccompProfile", parse_sc_seccomp),
    F_UNSUPPORTED("seLinuxOptions",
                  "podd does not apply SELinux labels, and ignoring them would weaken isolation"),
    F_UNSUPPORTED(
        "appArmorProfile",
        "podd does not apply AppArmor profiles, and ignoring them would weaken isolation"),
    F_UNSUPPORTED("procMount", "/proc is always masked"),
    F_IGNORED("windowsOptions", "only meaningful on Windows nodes",
              &validate_windows_options_shape),
    F_END,
};

static void parse_container_sc(V *v, const Node *n, void *obj)
{
    SecurityContext *sc = &((Container *)obj)->security_context;

    if (!validate_object(v, n, container_sc_fields, sc))
        return;
    if (sc->privileged == 1 && sc->allow_privilege_escalation == 0)
        validate_error(v, n, "allowPrivilegeEscalation cannot be false when privileged is true");
    if (sc->run_as_non_root == 1 && sc->run_as_user == 0)
        validate_error(v, n, "runAsNonRoot is true but runAsUser is 0 (root)");
}

/* ---- probes and lifecycle ------------------------------------------------------------------- */

static void parse_exec_action(V *v, const Node *n, void *obj)
{
    char ***cmd = obj;
    static const Field exec_fields[] = {
        F_PARSE("command", NULL),
        F_END,
    };
    const Node *c;

    /* One supported key: check for unknown keys, then parse it directly. */
    if (!validate_is(v, n, NODE_MAPPING, "a mapping"))
        return;
    for (size_t i = 0; i < n->n_pairs; i++)
        if (!validate_field_find(exec_fields, n->pairs[i].key->scalar)) {
            size_t old = validate_push_key(v, n->pairs[i].key->scalar);

            validate_error(v, n->pairs[i].key, "unknown field; did you mean 'command'?");
            validate_pop(v, old);
        }
    c = node_get(n, "command");
    if (!c) {
        validate_require(v, n, "command");
        return;
    }
    {
        size_t old = validate_push_key(v, "command");

        if (validate_strv(v, c, cmd) >= 0 && !(*cmd)[0])
            validate_error(v, c, "must not be empty");
        validate_pop(v, old);
    }
}

static void parse_probe_exec(V *v, const Node *n, void *obj)
{
    Probe *p = obj;

    p->action = PROBE_ACTION_EXEC;
    parse_exec_action(v, n, &p->exec_command);
}

static void parse_probe_port(V *v, const Node *n, void *obj)
{
    Probe *p = obj;

    if (n->type == NODE_SCALAR && n->kind == SCALAR_STRING) {
        if (!port_name_is_valid(n->scalar))
            validate_error(v, n, "'%s' is neither a port number nor a valid port name", n->scalar);
        else if (free(p->port_name), !(p->port_name = strdup(n->scalar)))
            v->oom = true;
        return;
    }
    (void)validate_int32(v, n, 1, 65535, &p->port);
}

static void parse_probe_path(V *v, const Node *n, void *obj)
{
    Probe *p = obj;

    if (validate_string(v, n, &p->path) >= 0 && p->path[0] != '/')
        validate_error(v, n, "'%s' must start with '/'", p->path);
}

static void parse_probe_scheme(V *v, const Node *n, void *obj)
{
    Probe *p = obj;

    if (validate_string(v, n, &p->scheme) < 0)
        return;
    if (streq(p->scheme, "HTTPS"))
        validate_error(v, n, "HTTPS probes are not supported: podd's httpGet speaks plain HTTP");
    else if (!streq(p->scheme, "HTTP"))
        validate_error(v, n, "'%s' is not a scheme: use HTTP", p->scheme);
}

/* A probe connects to a numeric address (no resolver runs in podd's loop). */
static void parse_probe_host(V *v, const Node *n, void *obj)
{
    Probe *p = obj;
    unsigned char addr[16];

    if (validate_string(v, n, &p->host) < 0)
        return;
    if (inet_pton(AF_INET, p->host, addr) != 1 && inet_pton(AF_INET6, p->host, addr) != 1)
        validate_error(v, n,
                       "'%s' is not a numeric IPv4 or IPv6 address (host names are not "
                       "resolved)",
                       p->host);
}

static const Field header_fields[] = {
    F_STRING("name", HttpHeader, name),
    F_STRING("value", HttpHeader, value),
    F_END,
};

static void parse_probe_headers(V *v, const Node *n, void *obj)
{
    Probe *p = obj;

    if (!validate_list_alloc(v, n, 64, "headers", sizeof(HttpHeader), (void **)&p->http_headers))
        return;
    for (size_t i = 0; i < n->n_items; i++) {
        size_t old = validate_push(v, "[%zu]", i);
        HttpHeader *h = &p->http_headers[p->n_http_headers++];

        if (validate_object(v, n->items[i], header_fields, h)) {
            validate_require(v, n->items[i], "name");
            validate_require(v, n->items[i], "value");
        }
        if (!h->name && !(h->name = strdup("")))
            v->oom = true;
        if (!h->value && !(h->value = strdup("")))
            v->oom = true;
        validate_pop(v, old);
    }
}

static const Field tcp_fields[] = {
    F_PARSE("port", parse_probe_port),
    F_PARSE("host", parse_probe_host),
    F_END,
};

static const Field http_fields[] = {
    F_PARSE("port", parse_probe_port),           F_PARSE("host", parse_probe_host),
    F_PARSE("path", parse_probe_path),           F_PARSE("scheme", parse_probe_scheme),
    F_PARSE("httpHeaders", parse_probe_headers), F_END,
};

static void parse_probe_tcp(V *v, const Node *n, void *obj)
{
    Probe *p = obj;

    p->action = PROBE_ACTION_TCP_SOCKET;
    if (validate_object(v, n, tcp_fields, p))
        validate_require(v, n, "port");
}

static void parse_probe_http(V *v, const Node *n, void *obj)
{
    Probe *p = obj;

    p->action = PROBE_ACTION_HTTP_GET;
    if (validate_object(v, n, http_fields, p))
        validate_require(v, n, "port");
}

static const Field probe_fields[] = {
    F_PARSE("exec", parse_probe_exec),
    F_PARSE("tcpSocket", parse_probe_tcp),
    F_PARSE("httpGet", parse_probe_http),
    F_UNSUPPORTED("grpc", "gRPC probes (use exec, tcpSocket or httpGet)"),
    F_INT32("initialDelaySeconds", Probe, initial_delay_seconds, 0, INT32_MAX),
    F_INT32("periodSeconds", Probe, period_seconds, 1, INT32_MAX),
    F_INT32("timeoutSeconds", Probe, timeout_seconds, 1, INT32_MAX),
    F_INT32("successThreshold", Probe, success_threshold, 1, INT32_MAX),
    F_INT32("failureThreshold", Probe, failure_threshold, 1, INT32_MAX),
    F_INT("terminationGracePeriodSeconds", Probe, termination_grace_period_seconds, 1, INT32_MAX),
    F_END,
};

static void parse_probe(V *v, const Node *n, Probe *p, bool success_must_be_one)
{
    int handlers = 0;

    *p = (Probe){.period_seconds = 10,
                 .timeout_seconds = 1,
                 .success_threshold = 1,
                 .failure_threshold = 3,
                 .termination_grace_period_seconds = UNSET};
    if (!validate_object(v, n, probe_fields, p))
        return;
    handlers = !!node_get(n, "exec") + !!node_get(n, "tcpSocket") + !!node_get(n, "httpGet") +
               !!node_get(n, "grpc");
    if (handlers == 0)
        validate_error(v, n, "needs one handler: exec, tcpSocket or httpGet");
    else if (handlers > 1)
        validate_error(v, n,
                       "has more than one handler: give exactly one of exec, tcpSocket, httpGet");
    if (success_must_be_one && p->success_threshold != 1)
        validate_error(v, n, "successThreshold must be 1 for liveness and startup probes");
    if (p->action == PROBE_ACTION_HTTP_GET) {
        if (!p->path && !(p->path = strdup("/")))
            v->oom = true;
        if (!p->scheme && !(p->scheme = strdup("HTTP")))
            v->oom = true;
    }
}

static void parse_liveness(V *v, const Node *n, void *obj)
{
    parse_probe(v, n, &((Container *)obj)->liveness_probe, true);
}

static void parse_readiness(V *v, const Node *n, void *obj)
{
    parse_probe(v, n, &((Container *)obj)->readiness_probe, false);
}

static void parse_startup(V *v, const Node *n, void *obj)
{
    parse_probe(v, n, &((Container *)obj)->startup_probe, true);
}

static void parse_handler_exec(V *v, const Node *n, void *obj)
{
    parse_exec_action(v, n, &((LifecycleHandler *)obj)->exec_command);
}

static const Field sleep_fields[] = {
    F_INT("seconds", LifecycleHandler, sleep_seconds, 0, INT32_MAX),
    F_END,
};

static void parse_handler_sleep(V *v, const Node *n, void *obj)
{
    LifecycleHandler *h = obj;

    h->has_sleep = true;
    if (validate_object(v, n, sleep_fields, h))
        validate_require(v, n, "seconds");
}

static void parse_handler_http(V *v, const Node *n, void *obj)
{
    LifecycleHandler *h = obj;

    parse_probe_http(v, n, &h->http_get);
    if (!h->http_get.path && !(h->http_get.path = strdup("/")))
        v->oom = true;
    if (!h->http_get.scheme && !(h->http_get.scheme = strdup("HTTP")))
        v->oom = true;
}

static const Field handler_fields[] = {
    F_PARSE("exec", parse_handler_exec),
    F_PARSE("httpGet", parse_handler_http),
    F_PARSE("sleep", parse_handler_sleep),
    F_UNSUPPORTED("tcpSocket",
                  "a tcpSocket lifecycle hook (Kubernetes does not run it either); use exec, "
                  "httpGet or sleep"),
    F_END,
};

static void parse_handler(V *v, const Node *n, void *obj)
{
    int handlers;

    if (!validate_object(v, n, handler_fields, obj))
        return;
    handlers = !!node_get(n, "exec") + !!node_get(n, "httpGet") + !!node_get(n, "sleep");
    if (handlers > 1)
        validate_error(v, n, "has more than one handler: give exactly one of exec, httpGet, sleep");
    else if (handlers == 0 && n->n_pairs == 0)
        validate_error(v, n, "needs a handler: exec, httpGet or sleep");
}

static void parse_post_start(V *v, const Node *n, void *obj)
{
    parse_handler(v, n, &((Container *)obj)->post_start);
}

static void parse_pre_stop(V *v, const Node *n, void *obj)
{
    parse_handler(v, n, &((Container *)obj)->pre_stop);
}

static const Field lifecycle_fields[] = {
    F_PARSE("postStart", parse_post_start),
    F_PARSE("preStop", parse_pre_stop),
    F_UNSUPPORTED("stopSignal", "containers are stopped with SIGTERM"),
    F_END,
};

static void parse_lifecycle(V *v, const Node *n, void *obj)
{
    (void)validate_object(v, n, lifecycle_fields, obj);
}

static void parse_container_restart_policy(V *v, const Node *n, void *obj)
{
    Container *c = obj;
    _cleanup_free_ char *s = NULL;
    RestartPolicy p;

    if (validate_string(v, n, &s) < 0)
        return;
    p = restart_policy_from_string(s);
    if (p < 0) {
        validate_error(v, n, "'%s' is not a restart policy: use Always, OnFailure or Never", s);
        return;
    }
    /* On an init container only Always is meaningful: it makes the container a sidecar. */
    if (c->kind != CONTAINER_KIND_REGULAR && p != RESTART_POLICY_ALWAYS) {
        validate_error(v, n,
                       "an init container's restartPolicy can only be Always (which makes it a "
                       "sidecar)");
        return;
    }
    c->restart_policy = p;
    c->restart_policy_set = true;
    if (c->kind == CONTAINER_KIND_INIT)
        c->kind = CONTAINER_KIND_SIDECAR;
}

static const Field container_fields[] = {
    F_PARSE("name", parse_container_name),
    F_PARSE("image", parse_image),
    F_PARSE("command", parse_command),
    F_PARSE("args", parse_args),
    F_PARSE("env", parse_env),
    F_PARSE("workingDir", parse_working_dir),
    F_PARSE("ports", parse_ports),
    F_PARSE("volumeMounts", parse_volume_mounts),
    F_PARSE("resources", parse_resources),
    F_PARSE("securityContext", parse_container_sc),
    F_PARSE("livenessProbe", parse_liveness),
    F_PARSE("readinessProbe", parse_readiness),
    F_PARSE("startupProbe", parse_startup),
    F_PARSE("lifecycle", parse_lifecycle),
    F_PARSE("restartPolicy", parse_container_restart_policy),
    F_PARSE("imagePullPolicy", parse_image_pull_policy),
    F_IGNORED("terminationMessagePath", "podd keeps exit codes and logs instead",
              &(Shape){NULL, 's', NULL}),
    F_IGNORED("terminationMessagePolicy", "podd keeps exit codes and logs instead",
              &(Shape){NULL, 's', NULL}),
    F_IGNORED("resizePolicy", "resources change by replacing the container",
              &(Shape){NULL, 'a',
                       (const Shape[]){{NULL, 'o',
                                        (const Shape[]){{"resourceName", 's', NULL},
                                                        {"restartPolicy", 's', NULL},
                                                        {NULL, 0, NULL}}}}}),
    F_UNSUPPORTED("envFrom", "podd has no ConfigMaps or Secrets; use env"),
    F_UNSUPPORTED("stdin", "containers have no standard input"),
    F_UNSUPPORTED("stdinOnce", "containers have no standard input"),
    F_UNSUPPORTED("tty", "containers have no terminal"),
    F_UNSUPPORTED("volumeDevices", "podd has no block volumes"),
    F_UNSUPPORTED("restartPolicyRules", "use restartPolicy"),
    F_END,
};

static void container_init(Container *c, ContainerKind kind, const Node *n)
{
    *c = (Container){.kind = kind, .pos = {n->line, n->column}};
    c->resources = (Resources){UNSET, UNSET, UNSET, UNSET};
    c->security_context = (SecurityContext){.run_as_user = UNSET,
                                            .run_as_group = UNSET,
                                            .run_as_non_root = -1,
                                            .privileged = -1,
                                            .allow_privilege_escalation = -1,
                                            .read_only_root_filesystem = -1};
}

/*
 * Resolves a probe's or hook's named port against the container's ports;
 * errors point at the port. key is the probe's key ("livenessProbe") or
 * the hook's under lifecycle ("lifecycle.preStop").
 */
static void resolve_probe_port(V *v, const Node *cn, const char *key, Container *c, Probe *p)
{
    static const char *const handlers[] = {"tcpSocket", "httpGet"};
    const Node *probe = NULL, *port = NULL;
    size_t old;

    if (!p->port_name)
        return;
    if (startswith(key, "lifecycle."))
        probe = node_get(node_get(cn, "lifecycle"), key + strlen("lifecycle."));
    else
        probe = node_get(cn, key);
    for (size_t i = 0; i < c->n_ports; i++)
        if (c->ports[i].name && streq(c->ports[i].name, p->port_name)) {
            p->port = c->ports[i].container_port;
            return;
        }
    for (size_t i = 0; i < ELEMENTSOF(handlers) && !port; i++)
        if ((port = node_get(node_get(probe, handlers[i]), "port")))
            old = validate_push(v, ".%s.%s.port", key, handlers[i]);
    if (!port)
        return;
    validate_error(v, port, "port '%s' names no port of this container", p->port_name);
    validate_pop(v, old);
}

static void parse_container(V *v, const Node *n, Container *c, ContainerKind kind)
{
    container_init(c, kind, n);
    if (!validate_object(v, n, container_fields, c))
        return;
    validate_require(v, n, "name");
    validate_require(v, n, "image");
    if (!c->image_pull_policy_set)
        c->image_pull_policy = image_pull_policy_default(c->image);
    resolve_probe_port(v, n, "livenessProbe", c, &c->liveness_probe);
    resolve_probe_port(v, n, "readinessProbe", c, &c->readiness_probe);
    resolve_probe_port(v, n, "startupProbe", c, &c->startup_probe);
    resolve_probe_port(v, n, "lifecycle.postStart", c, &c->post_start.http_get);
    resolve_probe_port(v, n, "lifecycle.preStop", c, &c->pre_stop.http_get);
    if (c->kind == CONTAINER_KIND_INIT) {
        static const char *const forbidden[] = {"livenessProbe", "readinessProbe", "startupProbe",
                                                "lifecycle"};

        for (size_t i = 0; i < ELEMENTSOF(forbidden); i++) {
            const Node *f = node_get(n, forbidden[i]);

            if (f) {
                size_t old = validate_push_key(v, forbidden[i]);

                validate_error(
                    v, f,
                    "only allowed on sidecars (init containers with restartPolicy: Always) "
                    "and regular containers");
                validate_pop(v, old);
            }
        }
    }
}

static int parse_containers(V *v, const Node *n, ContainerKind kind, Container **ret, size_t *ret_n)
{
    if (!validate_is(v, n, NODE_SEQUENCE, "a list of containers"))
        return -EINVAL;
    if (n->n_items > MANIFEST_MAX_CONTAINERS) {
        validate_error(v, n, "more than %d containers", MANIFEST_MAX_CONTAINERS);
        return -E2BIG;
    }
    *ret = calloc(n->n_items ? n->n_items : 1, sizeof(Container));
    if (!*ret) {
        v->oom = true;
        return -ENOMEM;
    }
    for (size_t i = 0; i < n->n_items; i++) {
        size_t old = validate_push(v, "[%zu]", i);

        parse_container(v, n->items[i], &(*ret)[i], kind);
        (*ret_n)++;
        validate_pop(v, old);
    }
    return 0;
}

void validate_init_containers(V *v, const Node *n, void *obj)
{
    Pod *p = obj;

    (void)parse_containers(v, n, CONTAINER_KIND_INIT, &p->init_containers, &p->n_init_containers);
}

void validate_containers(V *v, const Node *n, void *obj)
{
    Pod *p = obj;

    if (parse_containers(v, n, CONTAINER_KIND_REGULAR, &p->containers, &p->n_containers) >= 0 &&
        n->n_items == 0)
        validate_error(v, n, "must hold at least one container");
}
