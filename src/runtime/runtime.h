/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * runtime: the container runtime interface (RuntimeOps), the container
 * description handed to podd-monitor (ContainerConfig, serialized as JSON),
 * the pod sandbox (pinned namespaces), cgroups, the CRI log writer, the
 * native backend that sets containers up in a cloned child, and a fake
 * backend for tests.
 *
 * Nothing here logs above debug. Functions that fail for reasons a user
 * must see take a PdError *reterr (may be NULL, written only on failure).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/base.h"
#include "manifest/manifest.h"

/* ---- container description ------------------------------------------------------ */

#define RUNTIME_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define RUNTIME_DEFAULT_LOG_MAX_BYTES (10u * 1024u * 1024u)
#define RUNTIME_MAX_MOUNTS 256
#define RUNTIME_MAX_RLIMITS 16
#define RUNTIME_MAX_CAPS 64

typedef enum MountKind {
    MOUNT_KIND_HOST_PATH, /* source is a host path, checked against host_path_type */
    MOUNT_KIND_EMPTY_DIR, /* source is the pod's volume directory (created by the sandbox) */
    _MOUNT_KIND_MAX,
    _MOUNT_KIND_INVALID = -EINVAL,
} MountKind;

typedef struct MountSpec {
    MountKind kind;
    char *source;      /* absolute host path */
    char *destination; /* absolute path inside the container */
    char *sub_path;    /* relative path inside source, NULL when absent */
    HostPathType host_path_type;
    bool read_only;
} MountSpec;

typedef struct RlimitSpec {
    int resource; /* RLIMIT_* */
    uint64_t soft, hard;
} RlimitSpec;

/*
 * Namespace paths to join (a pinned nsfs file or /proc/PID/ns/X). NULL for
 * net/ipc/uts means "stay in the host's namespace"; NULL for pid means "a
 * new PID namespace" unless host_pid is set. A pid path that is not pinned
 * yet (or whose namespace died with its first process) gets a new PID
 * namespace pinned there: the pod-wide one of shareProcessNamespace.
 */
typedef struct NamespaceSpec {
    char *net, *ipc, *uts, *pid;
    bool host_pid;
} NamespaceSpec;

typedef struct ContainerConfig {
    char *runtime;       /* the backend whose monitor half runs it; set by that backend */
    char *id;            /* unique on the host: "<namespace>_<pod>_<container>" */
    char *pod;           /* pod name, for messages */
    char *name;          /* container name */
    char *image;         /* as written in the manifest, for messages */
    char **image_layers; /* the image's rootfs directories, lowest first (overlay lower layers) */
    char *run_dir;       /* the container's own directory: rootfs mount point, upper, work */
    char **args;         /* command + args, never empty */
    char **env;          /* "NAME=value" */
    char *working_dir;
    char *hostname;       /* NULL: leave the UTS namespace as it is */
    char *user;           /* "uid", "name", "uid:gid" or "name:group"; NULL: root */
    bool run_as_non_root; /* refuse to start when user resolves to uid 0 (RUNTIME_ERR_CONFIG) */
    gid_t *supplementary_groups;
    size_t n_supplementary_groups;
    NamespaceSpec ns;
    MountSpec *mounts;
    size_t n_mounts;
    bool read_only_rootfs;
    bool privileged;
    bool no_new_privs; /* ignored when privileged */
    bool seccomp;      /* the default deny-list */
    char **cap_add;    /* securityContext.capabilities.add, as written ("NET_ADMIN", "ALL") */
    char **cap_drop;   /* securityContext.capabilities.drop */
    RlimitSpec rlimits[RUNTIME_MAX_RLIMITS];
    size_t n_rlimits;
    char *cgroup;              /* path relative to each hierarchy's root, NULL: no cgroup */
    int64_t memory_limit;      /* bytes, UNSET */
    int64_t cpu_limit_millis;  /* UNSET */
    int64_t cpu_shares_millis; /* cpu request, UNSET */
    int64_t pids_limit;        /* UNSET */
    char *log_path;
    uint64_t log_max_bytes; /* rotation size, 0: never rotate */
    char *monitor_pid_file; /* "PID STARTTIME\n" of podd-monitor */
    char *pid_file;         /* "PID STARTTIME\n" of the container's first process */
    char *exit_file;        /* the exit record (JSON) */
    /*
     * What the caller says it started, opaque to the runtime (podd: a hash
     * of the container's spec and its pod's fields); returned by inspect,
     * so that a caller can tell what runs from its own records. NULL: none.
     */
    char *version;
} ContainerConfig;

/*
 * A container the runtime refuses to create as configured: runAsNonRoot with
 * a user that is root. Its start error has this code and its exit record
 * the reason RUNTIME_REASON_CONFIG_ERROR, as the kubelet reports it.
 */
#define RUNTIME_ERR_CONFIG (-EKEYREJECTED)
#define RUNTIME_REASON_CONFIG_ERROR "CreateContainerConfigError"

ContainerConfig *container_config_free(ContainerConfig *c);
DEFINE_CLEANUP_FUNC(ContainerConfig, container_config_free)

/* Serializes c; returns a new reference or NULL on ENOMEM. */
json_t *container_config_to_json(const ContainerConfig *c);
/*
 * Builds a config from JSON; -EINVAL with reterr naming the bad field. Caller owns *ret.
 * An absent "runtime" means "native" (configs written before backends were named); one
 * naming a backend without a monitor half (runtime_monitor_find()) is refused.
 */
int container_config_from_json(json_t *j, ContainerConfig **ret, PdError *reterr);
/* Reads and parses a config file (at most 1 MiB). Does not keep the JSON tree. */
int container_config_load(const char *path, ContainerConfig **ret, PdError *reterr);
/* Writes the config atomically to path (mode 0600). */
int container_config_save(const ContainerConfig *c, const char *path, PdError *reterr);

/* Where a pod's sandbox lives: <run_dir>/pods/<namespace>_<name>. Caller frees. */
char *runtime_pod_dir(const char *run_dir, const Pod *pod);
/*
 * The disk usage (allocated blocks, as du counts them) of the emptyDir
 * volume name of pod under run_dir, in *ret. The walk never follows
 * symlinks nor leaves the volume's file system, and stops early: once the
 * count passes stop_above (the caller only asks "over the limit?"), or
 * after max_entries entries (then *ret is what was counted: a lower bound).
 * Returns 0, -ENOENT when the volume does not exist, or -errno. Does not log.
 */
int runtime_volume_usage(const char *run_dir, const Pod *pod, const char *name, uint64_t stop_above,
                         size_t max_entries, uint64_t *ret);
/*
 * Removes a pod's log directory, <log_dir>/<namespace>_<pod>/, and every log
 * in it: for a pod deleted for good, as kubelet removes a deleted pod's logs
 * (a pod replaced under the same name keeps them, for --previous). Rotation
 * caps what it holds, so this is quick. 0 when absent, else -errno. Does not log.
 */
int runtime_pod_logs_remove(const char *log_dir, const char *namespace, const char *pod);
/* "<namespace>_<pod>_<container>"; caller frees. */
char *runtime_container_id(const Pod *pod, const Container *c);
/* A container's cgroup, "<cgroup_parent>/<id>" (cgroup_resolve_parent()); caller frees. */
char *runtime_container_cgroup(const char *cgroup_parent, const char *id);

/*
 * A container's resolved image: its root filesystem, one directory per
 * layer (lowest first; a plain root filesystem directory is one layer), and
 * the configuration the image gives (NULL where it gives none). Borrowed.
 */
typedef struct RuntimeImage {
    char *const *layers;
    char *const *entrypoint, *const *cmd, *const *env;
    const char *working_dir, *user;
} RuntimeImage;

/* A RuntimeImage of one plain root filesystem directory, without configuration. */
#define RUNTIME_IMAGE_DIR(dir) (&(RuntimeImage){.layers = (char *const[]){(char *)(dir), NULL}})

/*
 * Translates one container of a pod into a ContainerConfig: the container's
 * files go to <run_dir>/containers/<id>/, the log to <log_dir>/<pod>/<name>.log,
 * the namespaces are the pod's pins under runtime_pod_dir(). image is the
 * resolved image of c->image, applied as the kubelet does: command replaces
 * the image's Entrypoint (and drops its Cmd), args alone replace its Cmd;
 * the image's Env comes first and the container's env overrides it; the
 * image's WorkingDir and User apply unless workingDir or runAsUser (or
 * runAsGroup, for the group) say otherwise. The cgroup is
 * <cgroup_parent>/<id> (cgroup_resolve_parent()). Borrowed arguments;
 * caller owns *ret.
 */
int container_config_new_from_pod(const Pod *pod, const Container *c, const char *run_dir,
                                  const char *log_dir, const RuntimeImage *image,
                                  const char *cgroup_parent, ContainerConfig **ret,
                                  PdError *reterr);

/* "RLIMIT_NOFILE" / "nofile" -> RLIMIT_NOFILE; -EINVAL. */
int runtime_rlimit_from_name(const char *name);
const char *runtime_rlimit_to_name(int resource);

/* ---- pod sandbox ---------------------------------------------------------------- */

typedef struct SandboxVolume {
    char *name;
    bool memory;        /* tmpfs */
    int64_t size_limit; /* bytes, UNSET */
} SandboxVolume;

typedef struct SandboxConfig {
    char *name;     /* for messages */
    char *dir;      /* the pod's directory: ns/, volumes/ */
    char *hostname; /* set in the new UTS namespace */
    bool host_network, host_ipc;
    SandboxVolume *volumes; /* emptyDir volumes */
    size_t n_volumes;
} SandboxConfig;

SandboxConfig *sandbox_config_free(SandboxConfig *c);
DEFINE_CLEANUP_FUNC(SandboxConfig, sandbox_config_free)
int sandbox_config_from_json(json_t *j, SandboxConfig **ret, PdError *reterr);
json_t *sandbox_config_to_json(const SandboxConfig *c);
int sandbox_config_new_from_pod(const Pod *pod, const char *run_dir, SandboxConfig **ret,
                                PdError *reterr);

/*
 * Creates the pod's shared namespaces and pins them at <dir>/ns/{net,ipc,uts}
 * (bind mounts of the namespace files, no process stays behind), brings
 * loopback up in the new network namespace, sets the hostname, creates the
 * emptyDir directories (tmpfs for medium Memory). Idempotent: an existing
 * sandbox is kept. Must run as root. Forks nothing: the calling thread
 * enters the new namespaces and returns to its own (it aborts the process
 * should that return fail, which nothing a pod does can cause).
 */
int sandbox_create(const SandboxConfig *c, PdError *reterr);

/*
 * Network namespaces made ahead of the pods that take them: creating one is
 * the costliest step of sandbox_create() (about a millisecond of kernel
 * work), and a daemon's loop should not wait for it. The first take starts
 * a thread that keeps a few ready (loopback up, each held by an fd, so
 * nothing is mounted and a crash leaves nothing behind); a take finding
 * none gets -1 and the caller makes its own, as without a pool.
 */
typedef struct SandboxNetnsPool SandboxNetnsPool;
SandboxNetnsPool *sandbox_netns_pool_new(void);
/* Stops the thread and closes the namespaces not taken. */
SandboxNetnsPool *sandbox_netns_pool_free(SandboxNetnsPool *p);
/* sandbox_create() taking its network namespace from p when it has one (p may be NULL). */
int sandbox_create_pooled(const SandboxConfig *c, SandboxNetnsPool *p, PdError *reterr);
/* Unmounts and removes everything sandbox_create made under dir. 0 when already gone. */
int sandbox_destroy(const char *dir, PdError *reterr);

/* ---- cgroups -------------------------------------------------------------------- */

typedef enum CgroupMode {
    CGROUP_MODE_V1, /* v1 controllers (also hybrid hosts) */
    CGROUP_MODE_V2, /* unified hierarchy at /sys/fs/cgroup */
} CgroupMode;

/* Mount point of the hierarchies (default /sys/fs/cgroup); for tests and unusual hosts. */
void cgroup_set_root(const char *root);
/* Detects the host's layout; result cached. Returns a CgroupMode or -errno. */
int cgroup_detect(void);
/* O_PATH fd of the cgroup's directory on a v2 host (for clone3 CLONE_INTO_CGROUP); -errno. */
int cgroup_open_v2(const char *cgroup);
/*
 * Creates the cgroup and writes the limits of c. On v1 it is created in the
 * pids hierarchy (process tracking) and in memory and cpu only when c has
 * limits there; OOM kills are then only detected with a memory limit.
 */
int cgroup_create(const ContainerConfig *c, PdError *reterr);
/* Moves pid into the container's cgroup(s); pid 0 means the caller. */
int cgroup_attach(const char *cgroup, pid_t pid);
/*
 * Moves the caller, which must be single-threaded (a child between fork and
 * exec), into the container's cgroup(s). On v1 it writes 0 to each `tasks`
 * file: moving the current thread alone spares the kernel's global
 * threadgroup lock, whose write side waits for an RCU grace period
 * (milliseconds) on every move through cgroup.procs.
 */
int cgroup_join_self(const char *cgroup);
/* Most hierarchies cgroup_open_join() opens. */
#define CGROUP_JOIN_FDS_MAX 3
/*
 * For a child that joins the cgroup in another mount namespace: on v1, opens
 * the `tasks` file of each of the container's hierarchies into fds (ret_n of
 * them) for cgroup_join_fds(). -EOPNOTSUPP on v2 (use clone3 into the cgroup)
 * and -errno when one cannot be opened; then nothing is left open.
 */
int cgroup_open_join(const char *cgroup, int fds[CGROUP_JOIN_FDS_MAX], size_t *ret_n);
/* Moves the (single-threaded) caller in through fds from cgroup_open_join(); closes them. */
int cgroup_join_fds(int *fds, size_t n);
/* Sends sig to every process in the cgroup; 0 when it is gone. */
int cgroup_kill(const char *cgroup, int sig);
/*
 * Sends sig once to each process in the cgroup (on v1 as one hierarchy lists
 * them: cgroup_kill() would repeat it per hierarchy); returns how many got it.
 */
int cgroup_signal(const char *cgroup, int sig);
/* Number of OOM kills recorded for the cgroup; 0 when unknown. */
uint64_t cgroup_oom_kills(const char *cgroup);
/* Removes the cgroup (retries briefly while it drains); 0 when gone already. */
int cgroup_remove(const char *cgroup);
/* One attempt, for callers that must not wait: -EBUSY while it still drains. */
int cgroup_try_remove(const char *cgroup);
/*
 * cgroup_kill(SIGKILL) and cgroup_try_remove() in one pass over the
 * hierarchies, for a caller with no monitor to wait for in between.
 */
int cgroup_kill_try_remove(const char *cgroup);
/*
 * The cgroup (relative to each hierarchy's root) under which one podd
 * instance puts its containers, as <parent>/<namespace>_<pod>_<container>:
 *  - spec NULL: podd/<instance_dir escaped as systemd-escape --path does>,
 *    so that every state directory has its own and keeps it across restarts;
 *  - spec "/a/b": a/b from the root of each hierarchy;
 *  - spec "a/b" or ".": relative to the cgroup podd runs in (the subtree
 *    systemd delegates to a Delegate=yes service), on v1 that of the pids
 *    hierarchy. The result never is the root nor holds "..".
 */
int cgroup_resolve_parent(const char *spec, const char *instance_dir, char **ret, PdError *reterr);
/*
 * Creates the parent (v2: with memory, cpu and pids handed down; v1: in the
 * pids hierarchy). On v2, when the parent is podd's own cgroup or below it,
 * first moves the calling process into the leaf "podd-daemon" of its cgroup.
 */
int cgroup_prepare_parent(const char *parent, PdError *reterr);
/* True when cgroup lies strictly below parent: the only cgroups an instance signals or removes. */
bool cgroup_is_below(const char *parent, const char *cgroup);

/* ---- process identity ------------------------------------------------------------- */

/* Field 22 of /proc/PID/stat (start time in clock ticks); -errno. */
int proc_start_time(pid_t pid, uint64_t *ret);
/* Writes "PID STARTTIME\n" atomically to path (rename, no fsync: the run dir is volatile). */
int pid_file_write(const char *path, pid_t pid, uint64_t start_time);
/* Reads a pid file; -ENOENT when absent, -EBADMSG when malformed. */
int pid_file_read(const char *path, pid_t *ret_pid, uint64_t *ret_start_time);
/* pidfd of the process in path when it is alive with the recorded start time; -ESRCH otherwise. */
int pid_file_open_pidfd(const char *path, pid_t *ret_pid);

/*
 * The container's lock, <run_dir>/lock: whoever holds it owns the
 * container's records. podd takes it before it touches them and hands it
 * to podd-monitor, which keeps it (through the exec into the watcher) until
 * the container's end is recorded. A daemon killed while a monitor starts
 * thus never starts a twin. Returns the locked fd (close-on-exec), or
 * -EBUSY while another holds it.
 */
#define CONTAINER_LOCK_FILE "lock"
int container_lock_try(const char *container_dir);
/* True while someone holds the lock of an existing container directory. */
bool container_lock_busy(const char *container_dir);

/* ---- CRI log writer ----------------------------------------------------------------- */

#define CRI_LOG_LINE_MAX 16384

typedef struct CriLog {
    int fd;
    int dir_fd;
    char *path;
    uint64_t size, max_bytes;
} CriLog;

/* Opens (appends to) path; creates the directory's last component if missing. */
int cri_log_open(CriLog *l, const char *path, uint64_t max_bytes);
/*
 * Writes one record "TIMESTAMP STREAM TAG TEXT\n": tag F for a full line, P
 * for a partial one (text without its newline). Rotates path -> path.1 first
 * when the record would take the file beyond max_bytes.
 */
int cri_log_write(CriLog *l, uint64_t realtime_usec_or_0, const char *stream, bool partial,
                  const char *text, size_t len);
void cri_log_done(CriLog *l);

/* ---- exit records ------------------------------------------------------------------- */

typedef struct ExitRecord {
    int exit_code; /* 128 + signal for a signal death; -1 unknown */
    int signal;    /* 0 when it exited */
    bool oom_killed;
    char started_at[40], finished_at[40]; /* RFC 3339 nano, "" when unknown */
    char reason[32]; /* Completed, Error, OOMKilled, StartError, CreateContainerConfigError */
    char message[PD_ERROR_MESSAGE_MAX];
} ExitRecord;

/* Writes the record as JSON atomically (rename, no fsync: the run dir is volatile). */
int exit_record_write(const char *path, const ExitRecord *e);
/* -ENOENT when there is none yet, -EBADMSG when unreadable. */
int exit_record_read(const char *path, ExitRecord *ret);
/* True when the record says the container never ran: StartError or RUNTIME_REASON_CONFIG_ERROR. */
bool exit_record_is_start_error(const ExitRecord *e);

/* ---- native container setup ---------------------------------------------------------- */

/*
 * Capabilities and seccomp live in the security module, a peer of this one,
 * so the program wiring both hands them in. pre_user runs in the child as
 * root after pivot_root (bounding set, seccomp filter); post_user after the
 * switch to the container's uid/gid (the remaining capability sets). Each
 * returns 0 or a negative errno with reterr set.
 *
 * prepare (optional) runs in the parent of a spawn while the child sets up
 * its mounts, so that work pre_user would do serially (compiling the seccomp
 * filter) overlaps with them: it writes at most size bytes to buf and returns
 * their number, which pre_user then receives as prepared (0 for nothing; on
 * -errno, or on exec, pre_user gets prepared_len 0 and does the work itself).
 */
#define SECURITY_PREPARED_MAX 32768
typedef struct SecurityHooks {
    ssize_t (*prepare)(const ContainerConfig *c, void *buf, size_t size);
    int (*pre_user)(const ContainerConfig *c, const void *prepared, size_t prepared_len,
                    PdError *reterr);
    int (*post_user)(const ContainerConfig *c, PdError *reterr);
} SecurityHooks;

/* Stdio and error channel of the container's first process, as fds in the monitor. */
typedef struct ContainerStdio {
    int stdin_fd, stdout_fd, stderr_fd; /* the child's ends */
} ContainerStdio;

/*
 * Clones the container's first process (new PID, mount and cgroup namespaces,
 * joining the configured ones), sets it up and execs it. Returns its pid once
 * the exec succeeded, or a negative errno with reterr holding the precise
 * message the child sent (e.g. "exec /bin/app: no such file or directory
 * (image bb:latest)"). The caller must be root and own the cgroup already
 * (cgroup_create). Does not log. What the last container of the same run
 * dir left (its writable layers) is only moved aside: native_container_tidy()
 * removes it once the start is answered.
 */
int native_container_spawn(const ContainerConfig *c, const ContainerStdio *stdio,
                           const SecurityHooks *hooks, pid_t *ret_pid, PdError *reterr);
/*
 * Removes what native_container_spawn() moved aside, the writable layers of
 * the container that ran before in c's run dir: after the start is answered,
 * so that a restart does not wait for it. A start that finds them still there
 * (its monitor died first) removes them itself.
 */
void native_container_tidy(const ContainerConfig *c);

/*
 * For podd-monitor's spawner, once before it forks the starters: makes the
 * mount namespace that native_container_spawn() clones a container from
 * (each clone copies every mount of the namespace it is made in): a copy of
 * ours without what is mounted below hidden, the directory of the pods'
 * namespace pins, nor any other nsfs pin, and with the mount that holds
 * hidden private there, so that no pin made later reaches the copy (each
 * other mount that is shared in ours has its slave there, which later
 * mounts and unmounts reach). The caller stays in its namespace; the copy
 * lives as long as the caller and the processes it forks. A
 * container is cloned from ours as before when anything of its own could
 * differ in the copy: it has volumes (hostPath, emptyDir), or its run
 * directory or an image layer is not the same file seen from there. Fails
 * (the caller goes on without it) when it cannot be made. Not thread-safe.
 */
int native_lean_mounts_init(const char *hidden, PdError *reterr);
/*
 * After native_lean_mounts_init() succeeded, when our mount table changed:
 * the copy is a snapshot where our mounts are private (a file system
 * unmounted here stays mounted, busy, in it), so it is replaced with a new
 * one made the same way. That takes a while (each pin's unmount in it waits
 * for an RCU grace period), so a child makes it:
 * native_lean_mounts_renew_start() forks it and returns in *ret_fd what to
 * wait on (readable once it is done) and its pid; then
 * native_lean_mounts_renew_finish() (it closes fd) puts the new copy in the
 * place of the old one. The processes forked before keep the old one. When
 * either fails there is no copy any more (containers are cloned from ours);
 * a later renewal may make one again. The caller must ignore SIGCHLD (the
 * child is not waited for). Not thread-safe.
 */
int native_lean_mounts_renew_start(const char *hidden, int *ret_fd, pid_t *ret_pid,
                                   PdError *reterr);
int native_lean_mounts_renew_finish(int fd, pid_t pid, PdError *reterr);
/*
 * The SHA-256 (hex) of our mount table as a copy keeps it: every line of
 * /proc/self/mountinfo but those of the mounts a copy leaves out (below
 * hidden, namespace pins). A change of our mount table that leaves it the
 * same, such as a pod's pins made or removed, needs no new copy.
 */
int native_lean_mounts_digest(const char *hidden, char ret[static CONTENT_HASH_MAX],
                              PdError *reterr);
/*
 * Starting containers at a lower CPU priority than they then run at: from
 * now on, this process runs NATIVE_START_NICE_DELTA nice levels lower than
 * it does now (at most 19), and what native_container_spawn() starts goes
 * back to today's level right before its exec (the monitor, with
 * native_run_priority_restore(), once its container runs). Making namespaces,
 * mounts and the exec of a few hundred containers at once is batch work:
 * at the same priority it would keep both cores from the daemon, from
 * podctl and from the host's own shells for as long as it lasts. Nothing is
 * lowered when this process could not raise it back (no CAP_SYS_NICE).
 * Returns 0, or -errno (nothing changed). Not thread-safe.
 */
int native_start_priority_lower(void);
/* Back to the level before native_start_priority_lower() (no-op without it). 0 or -errno. */
int native_run_priority_restore(void);
#define NATIVE_START_NICE_DELTA 10

/* The fds that namespace needs kept open in a fork: 0, or 2 in ret. */
size_t native_lean_mounts_fds(int ret[2]);
/*
 * In a process forked by the spawner that stays once its container runs:
 * lets go of the copy (and of our namespace's fd), so that it does not keep
 * an old copy alive (busy, its unmounted file systems with it).
 */
void native_lean_mounts_close(void);

/*
 * Runs argv inside the running container whose first process is pid: its
 * namespaces, cgroup, user, capabilities and seccomp filter. Waits at most
 * timeout_usec (0: no limit); returns the wait status (as from waitpid), or
 * -ETIMEDOUT after killing the command and its process group (the
 * command leads one of its own, so that what it forked dies with it).
 * stdio is inherited.
 */
int native_container_exec(const ContainerConfig *c, pid_t pid, char *const *argv,
                          const SecurityHooks *hooks, uint64_t timeout_usec, int *ret_status,
                          PdError *reterr);

/* ---- runtime backends ------------------------------------------------------------------ */

typedef struct RuntimeConfig {
    const char *run_dir;      /* /run/podd */
    const char *log_dir;      /* /var/log/podd */
    const char *monitor_path; /* the podd-monitor binary */
    /*
     * cgroup_resolve_parent() of this instance, which a backend that uses
     * cgroups creates in init() (cgroup_prepare_parent()); NULL: derived
     * from run_dir, and then removed (when empty) by done().
     */
    const char *cgroup_parent;
    /*
     * Called (when set) with a one-line notice the daemon should log at
     * warning level: what the backend noticed and went on after, e.g. a
     * helper process of its that died and was started again.
     */
    void (*notice)(void *userdata, const char *message);
    void *notice_userdata;
    /*
     * For a backend with a long-lived starter helper (native: "podd-monitor
     * spawner"): true runs the starter of each container directly, as
     * without the helper (tests of that path).
     */
    bool direct_start;
} RuntimeConfig;

typedef enum ContainerState {
    CONTAINER_STATE_UNKNOWN, /* no files: never started or removed */
    CONTAINER_STATE_CREATED, /* config written, no monitor */
    CONTAINER_STATE_RUNNING,
    CONTAINER_STATE_EXITED,
    CONTAINER_STATE_STARTING, /* a monitor holds the lock, its pid not recorded yet */
    _CONTAINER_STATE_MAX,
    _CONTAINER_STATE_INVALID = -EINVAL,
} ContainerState;

const char *container_state_to_string(ContainerState s);

/* "<namespace>/<pod>": a namespace (63) and a pod name (253), with room to spare. */
#define RUNTIME_OWNER_MAX 384
/* The longest ContainerConfig.version inspect returns, its NUL included (a SHA-256 in hex). */
#define RUNTIME_VERSION_MAX 65

typedef struct ContainerStatus {
    ContainerState state;
    pid_t monitor_pid, pid;
    ExitRecord exit; /* valid when state is EXITED */
    /*
     * The pod the container was started for, "<namespace>/<pod>", from the
     * backend's own records of it (for native: the config.json it wrote
     * under its run dir at start); "" when it has none (state UNKNOWN) or
     * they are unreadable. A stored id is only as good as this check.
     */
    char owner[RUNTIME_OWNER_MAX];
    /* The version the run was started with (ContainerConfig.version); "" when none. */
    char version[RUNTIME_VERSION_MAX];
} ContainerStatus;

/*
 * A backend, as podd sees it. Every backend is one static const instance;
 * the table runtime_find() searches holds those a user may name (--runtime,
 * podd.io/runtime). Operations take the ctx init() made; optional ones are
 * NULL (none is, today). Removing or signalling what is gone is not an error
 * the caller must handle specially: remove returns 0, signal -ESRCH.
 */
typedef struct RuntimeOps {
    const char *name;
    int (*init)(void **ret_ctx, const RuntimeConfig *cfg, PdError *reterr);
    void (*done)(void *ctx);
    /* Pod sandbox: shared net/ipc/uts namespaces, emptyDir volumes. Idempotent. */
    int (*pod_create)(void *ctx, const Pod *pod, PdError *reterr);
    int (*pod_destroy)(void *ctx, const Pod *pod, PdError *reterr);
    /*
     * Starting a container takes two calls, so that a caller on an event
     * loop never waits for it (runtime_container_start() is both in one,
     * for callers that may wait).
     *
     * container_start_begin writes the container's config (with version,
     * which may be NULL: see ContainerConfig.version), takes its lock
     * and launches the starter (for native: podd-monitor, a child of the
     * caller, which sets the container up and hands the lock on to the
     * monitor that stays). It returns at once, before the container runs,
     * with *ret_starter_pidfd: a close-on-exec fd the caller owns and
     * closes, which becomes readable (POLLIN) once the start is decided
     * either way. Errors: -EBUSY when another starter or monitor holds the
     * container (nothing was launched; look again later, inspect says
     * STARTING or RUNNING); anything else with reterr set. On any error
     * there is nothing to finish.
     *
     * container_start_finish must be called exactly once after each
     * successful begin, with the container's id (runtime_container_id())
     * and the starter fd, which it borrows (it closes nothing of the
     * caller's). It never blocks once the starter fd is readable (called
     * earlier, it waits until then). It reaps the starter and returns:
     *   0       the container runs; *ret_pidfd (close-on-exec, the caller's)
     *           is a pidfd of its monitor, readable once the container's end
     *           is recorded (container_inspect then says EXITED).
     *   -ESRCH  it ran and ended already, its monitor with it: its end is
     *           recorded; there is nothing to watch.
     *   -EIO    it never ran: reterr holds the precise reason ("exec
     *           /bin/app: no such file or directory (image bb:latest)") and
     *           the exit record says StartError with the same message.
     *   other   -errno with reterr set (e.g. the starter could not be reaped).
     * Never reap the processes behind the returned fds yourself.
     */
    int (*container_start_begin)(void *ctx, const Pod *pod, const Container *c,
                                 const RuntimeImage *image, const char *version,
                                 int *ret_starter_pidfd, PdError *reterr);
    int (*container_start_finish)(void *ctx, const char *id, int starter_pidfd, int *ret_pidfd,
                                  PdError *reterr);
    /* The container's processes get sig; -ESRCH when it does not run. */
    int (*container_signal)(void *ctx, const char *id, int sig, PdError *reterr);
    /* Exec probe: *ret_status is a wait status; -ETIMEDOUT after timeout. */
    int (*container_exec)(void *ctx, const char *id, char *const *argv, uint64_t timeout_usec,
                          int *ret_status, PdError *reterr);
    /*
     * The same without waiting, for exec probes and hooks run from a loop.
     * container_exec_begin launches argv inside the running container (its
     * namespaces, cgroup, user) and returns at once with *ret_pidfd, a
     * close-on-exec pidfd of the launched process that becomes readable
     * when it ended, and *ret_output_fd, the non-blocking, close-on-exec
     * read end of a pipe carrying the command's stdout and stderr (the
     * caller reads it, or closes it to discard the output). With
     * ret_error_fd, stderr goes to a pipe of its own whose read end (the
     * same kind) is returned there, and *ret_output_fd carries stdout only;
     * without it (NULL), the two are one pipe. The backend
     * enforces timeout_usec (0: none): at the timeout the command and its
     * process group are killed. All the fds are the caller's.
     * container_exec_finish must then be called exactly once with the
     * pidfd (borrowed): it reaps the launched process (never blocking once
     * the pidfd is readable) and returns 0 with *ret_status a wait status
     * of the command, -ETIMEDOUT when it was killed at the timeout, or
     * -errno with reterr set (-EIO: it could not be run, for one because
     * the container does not run).
     */
    int (*container_exec_begin)(void *ctx, const char *id, char *const *argv, uint64_t timeout_usec,
                                int *ret_pidfd, int *ret_output_fd, int *ret_error_fd,
                                PdError *reterr);
    int (*container_exec_finish)(void *ctx, const char *id, int pidfd, int *ret_status,
                                 PdError *reterr);
    /*
     * Kills what is left, removes cgroup, mounts and files. 0 when already
     * gone; -EBUSY while the cgroup still drains or a monitor still holds
     * the container (try again later: it does not wait for the kernel).
     */
    int (*container_remove)(void *ctx, const char *id, PdError *reterr);
    /*
     * container_remove for a container that starts again under the same id
     * (a restart): the same, but of its files only the run's records go
     * (pid files, config, and the exit record last, so that inspect says
     * EXITED until the end and UNKNOWN after); its directory and the last
     * writable layer stay for the next start, which replaces the layer
     * with a fresh one. Should it not start again, container_remove is
     * still owed. Optional: NULL when the backend has no cheaper way.
     */
    int (*container_recycle)(void *ctx, const char *id, PdError *reterr);
    int (*container_inspect)(void *ctx, const char *id, ContainerStatus *ret, PdError *reterr);
    /*
     * Of container_inspect, only the exit record, for a caller that saw the
     * monitor end (its pidfd) and needs nothing else of the run: 0 with *ret
     * when the end is recorded (inspect would say EXITED), -ENOENT when it
     * is not, other -errno. Optional: NULL when inspect is as cheap.
     */
    int (*container_exit)(void *ctx, const char *id, ExitRecord *ret);
} RuntimeOps;

extern const RuntimeOps runtime_native_ops;

/*
 * container_start_begin (without a version), a wait for the starter,
 * container_start_finish: returns what finish returns. For tests and
 * callers that may block.
 */
int runtime_container_start(const RuntimeOps *ops, void *ctx, const Pod *pod, const Container *c,
                            const RuntimeImage *image, int *ret_pidfd, PdError *reterr);

/* The backend called name ("native") that users may choose; NULL when there is none. */
const RuntimeOps *runtime_find(const char *name);
/* The NULL-terminated table runtime_find() searches, in the order podd lists them. */
extern const RuntimeOps *const runtime_table[];

/*
 * The half of a backend that runs inside podd-monitor, chosen by
 * ContainerConfig.runtime: spawn creates the container's first process (a
 * child of the monitor, which reaps it) and returns its pid once it runs, or
 * the precise reason it could not start; exec runs a command in the running
 * container whose first process is pid and returns its wait status
 * (-ETIMEDOUT after timeout_usec, 0: no limit). Both run as root in the
 * monitor and do not log.
 */
typedef struct RuntimeMonitorOps {
    const char *name; /* the RuntimeOps it belongs to */
    int (*spawn)(const ContainerConfig *c, const ContainerStdio *stdio, const SecurityHooks *hooks,
                 pid_t *ret_pid, PdError *reterr);
    int (*exec)(const ContainerConfig *c, pid_t pid, char *const *argv, const SecurityHooks *hooks,
                uint64_t timeout_usec, int *ret_status, PdError *reterr);
    /* After a successful spawn has been answered: what the start left for later (may be NULL). */
    void (*tidy)(const ContainerConfig *c);
} RuntimeMonitorOps;

extern const RuntimeMonitorOps runtime_native_monitor_ops;

/* The monitor half of the backend called name; NULL when this podd-monitor has none. */
const RuntimeMonitorOps *runtime_monitor_find(const char *name);

/* ---- the fake backend (tests only) ----------------------------------------------------- */

/*
 * runtime_fake_ops ("fake") runs no container: it records every call and
 * replays what a test scripted, so that the manager's wiring can be tested
 * without root, namespaces or podd-monitor. It is not in runtime_table: no
 * user can name it (podd.io/runtime only knows native, runc and crun, and
 * --runtime only runtime_table); a test hands it to the manager itself.
 *
 * Its starters and monitors are real, trivial processes: children of the
 * caller blocked on a pipe that the fake closes when they are to end. So
 * their fds are real pidfds, readable exactly when a real backend's would
 * be, and inspect gives a real monitor pid (an adoption by pid works). A
 * starter ends at once unless the script holds the start; finish reaps it.
 * A monitor ends when its container does: by runtime_fake_exit(), by a
 * signal that ends it, by container_remove (or container_recycle, which
 * the fake treats alike but records as its own call), or at once with exit_on_start;
 * the fake reaps it then. container_inspect then says EXITED with the
 * scripted code, signal and OOM flag (reason Completed, Error or OOMKilled).
 * Unlike a real backend, finish of a start still held returns -EAGAIN
 * instead of waiting (the test would wait for itself). done() ends them all.
 */
extern const RuntimeOps runtime_fake_ops;

/* What a container (by id) does; kept until scripted again. */
typedef struct RuntimeFakeScript {
    bool hold_start;      /* the starter runs until runtime_fake_release_start() */
    int start_error;      /* < 0: finish fails with it (-EIO: a StartError exit record) */
    bool exit_on_start;   /* it ends as soon as it runs (finish: -ESRCH) with exit_code */
    int exit_code;        /* with exit_on_start */
    bool ignore_sigterm;  /* only SIGKILL (or runtime_fake_exit) ends it */
    int exec_exit_code;   /* what container_exec's command exits with (and exec_begin's) */
    unsigned remove_busy; /* container_remove returns -EBUSY this many times first */
    int pod_create_error; /* < 0: pod_create fails with it; for the id "<namespace>_<pod>" */
} RuntimeFakeScript;

/* Scripts the container (or pod) id; 0 or -ENOMEM. */
int runtime_fake_script(void *ctx, const char *id, const RuntimeFakeScript *script);
/* The running container id ends: exit_code, or 128 + signal when signal is set. -ESRCH. */
int runtime_fake_exit(void *ctx, const char *id, int exit_code, int signal, bool oom_killed);
/* A held start of id is decided now (its starter exits). -ESRCH when none is held. */
int runtime_fake_release_start(void *ctx, const char *id);
/*
 * The calls so far, oldest first, one string each: "<op> <id>" with the op
 * named as its RuntimeOps field ("container_start_begin default_web_app"),
 * pod ops with "<namespace>_<name>", a signal as "container_signal <id>
 * <number>", an exec as "container_exec <id> <argv[0]>". NULL-terminated,
 * owned by ctx, valid until the next call into it.
 */
char *const *runtime_fake_calls(void *ctx);
void runtime_fake_calls_clear(void *ctx);
/* How many calls so far are exactly call, or start with call and a space. */
size_t runtime_fake_count(void *ctx, const char *call);
