/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * manifest: Kubernetes v1 Pod manifests (YAML or JSON) -> a tree of nodes
 * that keep their line and column -> validation -> the Pod model.
 *
 * Hostile input is expected: sizes, nesting, alias expansion, duplicate
 * keys and encodings are all bounded and reported with a position. No
 * function here logs above debug.
 */

#include <jansson.h>

#include "base/base.h"

#define MANIFEST_MAX_BYTES (1024u * 1024u)
#define MANIFEST_MAX_DEPTH 64
#define MANIFEST_ALIAS_BUDGET 10000
/* Bytes of scalar text aliases may copy in all: 10,000 nodes of long strings are not small. */
#define MANIFEST_ALIAS_BYTES_BUDGET (4u * 1024u * 1024u)
#define MANIFEST_MAX_DOCUMENTS 256
#define MANIFEST_MAX_CONTAINERS 64
#define MANIFEST_MAX_LIST 1024
/* Longest image-store reference, as the image module's IMAGE_REF_MAX. */
#define MANIFEST_IMAGE_REF_MAX 255

/* ---- the Pod model ------------------------------------------------------------ */

/* Integers that may be absent use -1 for "unset" (every such field is >= 0 when set). */
#define UNSET (-1)

typedef enum RestartPolicy {
    RESTART_POLICY_ALWAYS,
    RESTART_POLICY_ON_FAILURE,
    RESTART_POLICY_NEVER,
    _RESTART_POLICY_MAX,
    _RESTART_POLICY_INVALID = -EINVAL,
} RestartPolicy;

/* When podd pulls a container's image (Kubernetes' imagePullPolicy). */
typedef enum ImagePullPolicy {
    IMAGE_PULL_POLICY_ALWAYS,         /* at every start (an unchanged digest downloads nothing) */
    IMAGE_PULL_POLICY_IF_NOT_PRESENT, /* only when the image store lacks it */
    IMAGE_PULL_POLICY_NEVER,          /* never: ErrImageNeverPull while the store lacks it */
    _IMAGE_PULL_POLICY_MAX,
    _IMAGE_PULL_POLICY_INVALID = -EINVAL,
} ImagePullPolicy;

typedef enum ContainerKind {
    CONTAINER_KIND_INIT,    /* initContainers[] without restartPolicy */
    CONTAINER_KIND_SIDECAR, /* initContainers[] with restartPolicy: Always */
    CONTAINER_KIND_REGULAR, /* containers[] */
    _CONTAINER_KIND_MAX,
    _CONTAINER_KIND_INVALID = -EINVAL,
} ContainerKind;

typedef enum ProbeAction {
    PROBE_ACTION_NONE,
    PROBE_ACTION_EXEC,
    PROBE_ACTION_TCP_SOCKET,
    PROBE_ACTION_HTTP_GET,
    _PROBE_ACTION_MAX,
    _PROBE_ACTION_INVALID = -EINVAL,
} ProbeAction;

typedef enum HostPathType {
    HOST_PATH_UNSET, /* "" : no check */
    HOST_PATH_DIRECTORY_OR_CREATE,
    HOST_PATH_DIRECTORY,
    HOST_PATH_FILE_OR_CREATE,
    HOST_PATH_FILE,
    HOST_PATH_SOCKET,
    HOST_PATH_CHAR_DEVICE,
    HOST_PATH_BLOCK_DEVICE,
    _HOST_PATH_MAX,
    _HOST_PATH_INVALID = -EINVAL,
} HostPathType;

typedef enum VolumeKind {
    VOLUME_KIND_HOST_PATH,
    VOLUME_KIND_EMPTY_DIR,
    _VOLUME_KIND_MAX,
    _VOLUME_KIND_INVALID = -EINVAL,
} VolumeKind;

typedef enum ExitPolicy {
    EXIT_POLICY_STOP,
    EXIT_POLICY_CONTINUE,
    _EXIT_POLICY_MAX,
    _EXIT_POLICY_INVALID = -EINVAL,
} ExitPolicy;

typedef enum RuntimeKind {
    RUNTIME_KIND_NATIVE,
    RUNTIME_KIND_RUNC,
    RUNTIME_KIND_CRUN,
    _RUNTIME_KIND_MAX,
    _RUNTIME_KIND_INVALID = -EINVAL,
} RuntimeKind;

typedef enum DepCondition {
    DEP_CONDITION_STARTED,
    DEP_CONDITION_READY,
    DEP_CONDITION_COMPLETED,
    _DEP_CONDITION_MAX,
    _DEP_CONDITION_INVALID = -EINVAL,
} DepCondition;

typedef enum SeccompProfile {
    SECCOMP_PROFILE_DEFAULT,    /* unset or RuntimeDefault: podd's deny-list */
    SECCOMP_PROFILE_UNCONFINED, /* Unconfined: no filter */
    _SECCOMP_PROFILE_MAX,
    _SECCOMP_PROFILE_INVALID = -EINVAL,
} SeccompProfile;

/* Where a node came from in the manifest, for messages about the model. */
typedef struct SourcePos {
    unsigned line, column;
} SourcePos;

typedef struct StrPair {
    char *key, *value;
} StrPair;

typedef struct StrMap {
    StrPair *items;
    size_t n;
} StrMap;

typedef struct EnvVar {
    char *name;
    char *value; /* "" when absent */
} EnvVar;

typedef struct ContainerPort {
    char *name; /* NULL when absent */
    int32_t container_port;
    int32_t host_port; /* UNSET when absent */
    char *protocol;    /* "TCP", "UDP" or "SCTP"; defaults to "TCP" */
    char *host_ip;     /* NULL when absent */
} ContainerPort;

typedef struct VolumeMount {
    char *name;
    char *mount_path;
    char *sub_path; /* NULL when absent */
    bool read_only;
    SourcePos pos;
} VolumeMount;

typedef struct HttpHeader {
    char *name, *value;
} HttpHeader;

typedef struct Probe {
    ProbeAction action; /* PROBE_ACTION_NONE: no probe configured */
    char **exec_command;
    char *host;      /* tcpSocket/httpGet host, NULL when absent */
    int32_t port;    /* tcpSocket/httpGet port number (named ports are resolved at validation) */
    char *port_name; /* the port's name when it was given by name, else NULL */
    char *path;      /* httpGet */
    char *scheme;    /* httpGet: "HTTP" or "HTTPS" */
    HttpHeader *http_headers;
    size_t n_http_headers;
    int32_t initial_delay_seconds;            /* default 0 */
    int32_t period_seconds;                   /* default 10 */
    int32_t timeout_seconds;                  /* default 1 */
    int32_t success_threshold;                /* default 1 */
    int32_t failure_threshold;                /* default 3 */
    int64_t termination_grace_period_seconds; /* UNSET when absent */
} Probe;

typedef struct LifecycleHandler {
    char **exec_command; /* NULL when no exec handler */
    bool has_sleep;      /* sleep.seconds: the hook waits that long */
    int64_t sleep_seconds;
    /*
     * httpGet: action PROBE_ACTION_HTTP_GET with host, port, path, scheme
     * and headers as a probe's; PROBE_ACTION_NONE when absent. Its probe
     * timing fields are unused: a hook has no timeout or threshold.
     */
    Probe http_get;
} LifecycleHandler;

typedef struct SecurityContext {
    int64_t run_as_user;  /* UNSET */
    int64_t run_as_group; /* UNSET */
    int run_as_non_root;  /* -1 unset, 0, 1 */
    int privileged;
    int allow_privilege_escalation;
    int read_only_root_filesystem;
    char **capabilities_add; /* upper case, without CAP_ prefix, as Kubernetes writes them */
    char **capabilities_drop;
    SeccompProfile seccomp;
    bool seccomp_set;
} SecurityContext;

typedef struct Resources {
    int64_t cpu_limit_millis;     /* UNSET */
    int64_t cpu_request_millis;   /* UNSET */
    int64_t memory_limit_bytes;   /* UNSET */
    int64_t memory_request_bytes; /* UNSET */
} Resources;

typedef struct Container {
    char *name;
    char *image;
    ContainerKind kind;
    char **command; /* NULL when absent: the image's default */
    char **args;
    EnvVar *env;
    size_t n_env;
    char *working_dir;
    ContainerPort *ports;
    size_t n_ports;
    VolumeMount *volume_mounts;
    size_t n_volume_mounts;
    Resources resources;
    SecurityContext security_context;
    Probe liveness_probe, readiness_probe, startup_probe;
    LifecycleHandler post_start, pre_stop;
    /*
     * Effective imagePullPolicy: the manifest's, else Kubernetes' default
     * (Always for a reference tagged latest or with neither tag nor
     * digest, IfNotPresent otherwise; IfNotPresent for an absolute rootfs
     * directory, which is never pulled). image_pull_policy_set: given.
     */
    ImagePullPolicy image_pull_policy;
    bool image_pull_policy_set;
    /* Container-level restartPolicy: only "Always" on an init container (a sidecar). */
    bool restart_policy_set;
    RestartPolicy restart_policy;
    /* podd.io/init-once or podman's init container annotation: run once per pod instance. */
    bool init_once;
    SourcePos pos;
} Container;

typedef struct Volume {
    char *name;
    VolumeKind kind;
    char *host_path; /* hostPath.path */
    HostPathType host_path_type;
    bool empty_dir_memory;    /* emptyDir.medium: Memory */
    int64_t size_limit_bytes; /* emptyDir.sizeLimit, UNSET */
    SourcePos pos;
} Volume;

/* One edge of podd.io/depends-on.<container>: container waits for `on` to reach cond. */
typedef struct Dependency {
    char *container;
    char *on;
    DepCondition condition;
    SourcePos pos;
} Dependency;

typedef struct RestartBackoff {
    uint64_t initial_usec; /* default 10 s */
    uint64_t max_usec;     /* default 5 min */
    uint64_t reset_usec;   /* default 10 min */
    bool set;              /* podd.io/restart-backoff was given */
} RestartBackoff;

typedef struct Pod {
    char *name;
    char *namespace; /* "default" when absent */
    StrMap labels;
    StrMap annotations;

    Container *init_containers;
    size_t n_init_containers;
    Container *containers;
    size_t n_containers;

    RestartPolicy restart_policy;
    int64_t termination_grace_period_seconds; /* default 30 */
    bool host_network, host_pid, host_ipc, share_process_namespace;
    char *hostname; /* NULL: the pod name */
    Volume *volumes;
    size_t n_volumes;

    int64_t run_as_user, run_as_group, fs_group; /* pod securityContext, UNSET */
    int run_as_non_root;                         /* -1 unset */
    SeccompProfile seccomp;
    bool seccomp_set;

    ExitPolicy exit_policy;
    RuntimeKind runtime;
    RestartBackoff backoff;
    Dependency *dependencies;
    size_t n_dependencies;

    SourcePos pos; /* the document's first line */
} Pod;

Pod *pod_free(Pod *p);
DEFINE_CLEANUP_FUNC(Pod, pod_free)

/* Looks a container up by name among init and regular containers; NULL when absent. */
const Container *pod_find_container(const Pod *p, const char *name);
/* Calls back for every container: init containers (and sidecars) in order, then regular ones. */
#define POD_FOREACH_CONTAINER(pod, c, i)                                                           \
    for (size_t i = 0; i < (pod)->n_init_containers + (pod)->n_containers; i++)                    \
        for (const Container *c = i < (pod)->n_init_containers                                     \
                                      ? &(pod)->init_containers[i]                                 \
                                      : &(pod)->containers[i - (pod)->n_init_containers];          \
             c; c = NULL)

/* Whether h has a handler (exec, httpGet or sleep). */
bool lifecycle_handler_is_set(const LifecycleHandler *h);
/*
 * Deep-copies src into *ret (which the caller then owns and releases with
 * lifecycle_handler_done()). Returns 0 or -ENOMEM with *ret untouched.
 */
int lifecycle_handler_copy(const LifecycleHandler *src, LifecycleHandler *ret);
/* Frees what h holds and empties it. Accepts an empty or partly built handler. */
void lifecycle_handler_done(LifecycleHandler *h);

const char *restart_policy_to_string(RestartPolicy p);
RestartPolicy restart_policy_from_string(const char *s);
const char *image_pull_policy_to_string(ImagePullPolicy p);
ImagePullPolicy image_pull_policy_from_string(const char *s);
/* Kubernetes' default imagePullPolicy for image (as a manifest names it). */
ImagePullPolicy image_pull_policy_default(const char *image);
const char *container_kind_to_string(ContainerKind k);
const char *probe_action_to_string(ProbeAction a);
const char *host_path_type_to_string(HostPathType t);
HostPathType host_path_type_from_string(const char *s);
const char *volume_kind_to_string(VolumeKind k);
const char *exit_policy_to_string(ExitPolicy p);
ExitPolicy exit_policy_from_string(const char *s);
const char *runtime_kind_to_string(RuntimeKind k);
RuntimeKind runtime_kind_from_string(const char *s);
const char *dep_condition_to_string(DepCondition c);
DepCondition dep_condition_from_string(const char *s);
const char *seccomp_profile_to_string(SeccompProfile p);

/*
 * The model as JSON (the canonical form used by test expectations, the
 * state store and spec hashes). Returns a new reference or NULL on ENOMEM.
 */
json_t *pod_to_json(const Pod *p);

/* ---- quantities and durations ------------------------------------------------ */

/* Kubernetes quantity for cpu ("500m", "0.5", "2") in millicores; -EINVAL / -ERANGE. */
int quantity_parse_cpu_millis(const char *s, int64_t *ret);
/* Kubernetes quantity for memory ("64Mi", "1G", "1e3", "128974848") in bytes, rounded up. */
int quantity_parse_bytes(const char *s, int64_t *ret);
/* Durations as Go writes them: "10s", "5m", "1h30m", "250ms"; -EINVAL / -ERANGE. */
int duration_parse_usec(const char *s, uint64_t *ret);

/* ---- diagnostics ---------------------------------------------------------------- */

typedef enum DiagLevel {
    DIAG_ERROR,
    DIAG_WARNING,
} DiagLevel;

/* One finding of validation: position, field path ("spec.containers[1].image") and text. */
typedef struct Diag {
    DiagLevel level;
    unsigned line, column;
    char *path;
    char *message;
} Diag;

typedef struct DiagList {
    Diag *items;
    size_t n;
    size_t n_errors;
} DiagList;

void diag_list_done(DiagList *l);
/* Formats one diagnostic as "file:line:col: [warning: ]path: message" into a new string. */
char *diag_format(const Diag *d, const char *file);

/* ---- parsing -------------------------------------------------------------------- */

typedef enum ManifestFormat {
    MANIFEST_FORMAT_AUTO, /* by the name: *.json is JSON, anything else YAML */
    MANIFEST_FORMAT_YAML,
    MANIFEST_FORMAT_JSON,
} ManifestFormat;

/* One document of a manifest file: a Pod, or the reasons it is not one. */
typedef struct ManifestDoc {
    unsigned index; /* 0-based position in the file (items of a List count one each) */
    SourcePos pos;
    char *name;     /* metadata.name when readable, else NULL */
    Pod *pod;       /* NULL when the document has errors */
    json_t *source; /* with pod: the document as JSON (what podd stores of an applied Pod) */
    DiagList diags; /* errors and warnings */
} ManifestDoc;

typedef struct ManifestFile {
    char *name; /* as given, for messages */
    ManifestDoc *docs;
    size_t n_docs;
} ManifestFile;

ManifestFile *manifest_file_free(ManifestFile *f);
DEFINE_CLEANUP_FUNC(ManifestFile, manifest_file_free)
/* True when every document is a valid Pod. */
bool manifest_file_ok(const ManifestFile *f);

/*
 * Parses and validates a whole manifest held in memory. name is used for
 * messages and, with MANIFEST_FORMAT_AUTO, to pick the format.
 *
 * Returns 0 with *ret set when the file could be read as YAML/JSON at all:
 * each document then carries its own Pod or its own errors. Returns a
 * negative errno with reterr set (line and column included) when the file
 * as a whole is unusable: too large, bad encoding, a syntax error anywhere
 * (which rejects every document of the file), no document, too deep, alias
 * budget exceeded. Does not log.
 */
int manifest_parse_buffer(const char *name, const char *buf, size_t size, ManifestFormat format,
                          ManifestFile **ret, PdError *reterr);

/*
 * Opens dir_fd/path (dir_fd may be AT_FDCWD) and parses it as above.
 * Only regular files are read (opened O_NONBLOCK, so a FIFO cannot block
 * us); at most MANIFEST_MAX_BYTES + 1 bytes are read. reterr->file is set.
 */
int manifest_load_at(int dir_fd, const char *path, ManifestFile **ret, PdError *reterr);

/* True for names podd reads from a manifest directory: *.yaml, *.yml, *.json, not hidden. */
bool manifest_name_is_candidate(const char *name);

/* True for a DNS-1123 label (lower case alphanumerics and '-', 1..63, alnum at both ends). */
bool dns_label_is_valid(const char *s);

/*
 * True for a container image podd can look up: an absolute rootfs
 * directory, or a reference image_reference_parse() takes
 * ([HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST]). Validation reports a bad one
 * as InvalidImageName with the parser's reason.
 */
bool manifest_image_is_valid(const char *image);
