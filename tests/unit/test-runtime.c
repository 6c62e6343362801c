/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "runtime/runtime.h"
#include "unit-util.h"

static char tmpdir[64];

static void setup_tmp(void)
{
    (void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-runtime.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown_tmp(void)
{
    char cmd[128];

    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *full_config =
    "{\"id\":\"default_web_app\",\"pod\":\"web\",\"name\":\"app\",\"image\":\"bb:latest\","
    "\"imageDir\":\"/images/bb\",\"runDir\":\"/run/podd/containers/default_web_app\","
    "\"args\":[\"/bin/sh\",\"-c\",\"echo hi\"],\"env\":[\"A=1\",\"PATH=/bin\"],"
    "\"workingDir\":\"/tmp\",\"hostname\":\"web\",\"user\":\"1000:1000\","
    "\"supplementaryGroups\":[10,20],"
    "\"namespaces\":{\"net\":\"/p/ns/net\",\"ipc\":\"/p/ns/ipc\",\"uts\":\"/p/ns/uts\","
    "\"hostPID\":false},"
    "\"mounts\":[{\"kind\":\"hostPath\",\"source\":\"/srv\",\"destination\":\"/data\","
    "\"hostPathType\":\"Directory\",\"readOnly\":true},"
    "{\"kind\":\"emptyDir\",\"source\":\"/p/volumes/cache\",\"destination\":\"/cache\","
    "\"subPath\":\"a/b\"}],"
    "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":256,\"hard\":512}],"
    "\"readOnlyRootfs\":true,\"privileged\":false,\"noNewPrivileges\":true,\"seccomp\":true,"
    "\"capAdd\":[\"NET_ADMIN\"],\"capDrop\":[\"KILL\"],\"cgroup\":\"podd/default_web_app\","
    "\"memoryLimit\":67108864,\"cpuLimitMillis\":500,\"pidsLimit\":64,"
    "\"logPath\":\"/var/log/podd/web/app.log\",\"logMaxBytes\":1048576,"
    "\"monitorPidFile\":\"/r/monitor.pid\",\"pidFile\":\"/r/container.pid\","
    "\"exitFile\":\"/r/exit.json\"}";

START_TEST(test_config_roundtrip)
{
    _cleanup_(container_config_freep) ContainerConfig *c = NULL, *c2 = NULL;
    _cleanup_json_ json_t *j = json_loads(full_config, 0, NULL), *j2 = NULL, *j3 = NULL;
    PdError e = {0};

    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(container_config_from_json(j, &c, &e), 0);
    ck_assert_str_eq(c->id, "default_web_app");
    ck_assert_int_eq(strv_length(c->args), 3);
    ck_assert_str_eq(c->user, "1000:1000");
    ck_assert_int_eq(c->n_supplementary_groups, 2);
    ck_assert_int_eq(c->supplementary_groups[1], 20);
    ck_assert_str_eq(c->ns.uts, "/p/ns/uts");
    ck_assert_ptr_null(c->ns.pid);
    ck_assert_int_eq(c->n_mounts, 2);
    ck_assert_int_eq(c->mounts[0].host_path_type, HOST_PATH_DIRECTORY);
    ck_assert(c->mounts[0].read_only);
    ck_assert_int_eq(c->mounts[1].kind, MOUNT_KIND_EMPTY_DIR);
    ck_assert_str_eq(c->mounts[1].sub_path, "a/b");
    ck_assert_int_eq(c->n_rlimits, 1);
    ck_assert_int_eq(c->rlimits[0].resource, RLIMIT_NOFILE);
    ck_assert_int_eq(c->rlimits[0].hard, 512);
    ck_assert(c->read_only_rootfs);
    ck_assert_int_eq(c->memory_limit, 67108864);
    ck_assert_int_eq(c->cpu_shares_millis, UNSET);
    ck_assert_int_eq(c->log_max_bytes, 1048576);
    /* Written before backends were named: the native one. */
    ck_assert_str_eq(c->runtime, "native");
    /* Written before layered images: its imageDir is the one layer. */
    ck_assert_uint_eq(strv_length(c->image_layers), 1);
    ck_assert_str_eq(c->image_layers[0], "/images/bb");

    j2 = container_config_to_json(c);
    ck_assert_str_eq(json_string_value(json_object_get(j2, "runtime")), "native");
    ck_assert_ptr_nonnull(j2);
    ck_assert_int_eq(container_config_from_json(j2, &c2, &e), 0);
    j3 = container_config_to_json(c2);
    ck_assert(json_equal(j2, j3));
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j2, "imageLayers"), 0)),
                     "/images/bb");
}
END_TEST

static const struct {
    const char *json, *error;
} bad_configs[] = {
    {"[]", "not a JSON object"},
    {"{\"imageDir\":\"/i\",\"runDir\":\"/r\",\"args\":[\"x\"],\"exitFile\":\"/e\"}", "'id'"},
    {"{\"id\":\"x\",\"imageDir\":\"i\",\"runDir\":\"/r\",\"args\":[\"x\"],\"exitFile\":\"/e\"}",
     "absolute"},
    {"{\"id\":\"x\",\"imageDir\":\"/i\",\"runDir\":\"/r\",\"args\":[],\"exitFile\":\"/e\"}",
     "'args'"},
    {"{\"id\":\"x\",\"imageDir\":\"/i\",\"runDir\":\"/r\",\"args\":[\"x\"],\"exitFile\":\"/e\","
     "\"env\":[\"NOVALUE\"]}",
     "env[0]"},
    {"{\"id\":\"x\",\"imageDir\":\"/i\",\"runDir\":\"/r\",\"args\":[\"x\"],\"exitFile\":\"/e\","
     "\"cgroup\":\"../escape\"}",
     "'cgroup'"},
    {"{\"id\":\"x\",\"imageDir\":\"/i\",\"runDir\":\"/r\",\"args\":[\"x\"],\"exitFile\":\"/e\","
     "\"mounts\":[{\"source\":\"/a\",\"destination\":\"/b\",\"subPath\":\"../../etc\"}]}",
     "subPath"},
    {"{\"id\":\"x\",\"imageDir\":\"/i\",\"runDir\":\"/r\",\"args\":[\"x\"],\"exitFile\":\"/e\","
     "\"mounts\":[{\"source\":\"/a\",\"destination\":\"/b\",\"hostPathType\":\"Dir\"}]}",
     "hostPathType"},
    {"{\"id\":\"x\",\"imageDir\":\"/i\",\"runDir\":\"/r\",\"args\":[\"x\"],\"exitFile\":\"/e\","
     "\"rlimits\":[{\"type\":\"RLIMIT_FOO\",\"soft\":1,\"hard\":1}]}",
     "RLIMIT_FOO"},
    {"{\"id\":\"x\",\"imageDir\":\"/i\",\"runDir\":\"/r\",\"args\":[\"x\"],\"exitFile\":\"/e\","
     "\"rlimits\":[{\"type\":\"nofile\",\"soft\":10,\"hard\":1}]}",
     "soft <= hard"},
    {"{\"id\":\"x\",\"imageDir\":\"/i\",\"runDir\":\"/r\",\"args\":[\"x\"],\"exitFile\":\"/e\","
     "\"memoryLimit\":-5}",
     "memoryLimit"},
    /* The fake backend has no monitor half: podd-monitor cannot run its containers. */
    {"{\"id\":\"x\",\"imageDir\":\"/i\",\"runDir\":\"/r\",\"args\":[\"x\"],\"exitFile\":\"/e\","
     "\"runtime\":\"fake\"}",
     "'runtime': no backend 'fake'"},
    {"{\"id\":\"x\",\"imageDir\":\"/i\",\"runDir\":\"/r\",\"args\":[\"x\"],\"exitFile\":\"/e\","
     "\"runtime\":7}",
     "'runtime'"},
};

START_TEST(test_config_bad)
{
    _cleanup_(container_config_freep) ContainerConfig *c = NULL;
    _cleanup_json_ json_t *j = json_loads(bad_configs[_i].json, 0, NULL);
    PdError e = {0};

    ck_assert_ptr_nonnull(j);
    ck_assert_int_lt(container_config_from_json(j, &c, &e), 0);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(e.message, bad_configs[_i].error), "message '%s' lacks '%s'", e.message,
                  bad_configs[_i].error);
}
END_TEST

START_TEST(test_config_file)
{
    _cleanup_(container_config_freep) ContainerConfig *c = NULL, *c2 = NULL;
    _cleanup_json_ json_t *j = json_loads(full_config, 0, NULL);
    _cleanup_free_ char *path = strdup_printf("%s/config.json", tmpdir);
    PdError e = {0};
    struct stat st;

    ck_assert_int_eq(container_config_from_json(j, &c, &e), 0);
    ck_assert_int_eq(container_config_save(c, path, &e), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(container_config_load(path, &c2, &e), 0);
    ck_assert_str_eq(c2->log_path, "/var/log/podd/web/app.log");
}
END_TEST

static Container make_container(char **cmd, char **args, EnvVar *env, size_t n_env)
{
    Container c = {0};

    c.name = "app";
    c.image = "bb:latest";
    c.command = cmd;
    c.args = args;
    c.env = env;
    c.n_env = n_env;
    c.resources = (Resources){UNSET, UNSET, UNSET, UNSET};
    c.security_context = (SecurityContext){.run_as_user = UNSET,
                                           .run_as_group = UNSET,
                                           .run_as_non_root = -1,
                                           .privileged = -1,
                                           .allow_privilege_escalation = -1,
                                           .read_only_root_filesystem = -1};
    return c;
}

START_TEST(test_from_pod)
{
    char *cmd[] = {"/bin/sh", "-c", NULL}, *args[] = {"echo $A", NULL},
         *add[] = {"NET_ADMIN", NULL};
    EnvVar env[] = {{"A", "1"}};
    Container ct = make_container(cmd, args, env, 1);
    VolumeMount vms[] = {{.name = "data", .mount_path = "/data", .read_only = true},
                         {.name = "cache", .mount_path = "/cache", .sub_path = "x"}};
    Volume vols[] = {{.name = "data",
                      .kind = VOLUME_KIND_HOST_PATH,
                      .host_path = "/srv/data",
                      .host_path_type = HOST_PATH_DIRECTORY_OR_CREATE},
                     {.name = "cache",
                      .kind = VOLUME_KIND_EMPTY_DIR,
                      .empty_dir_memory = true,
                      .size_limit_bytes = 1 << 20}};
    Pod pod = {.name = "web",
               .namespace = "prod",
               .run_as_user = UNSET,
               .run_as_group = UNSET,
               .fs_group = 2000,
               .volumes = vols,
               .n_volumes = 2};
    _cleanup_(container_config_freep) ContainerConfig *c = NULL;
    _cleanup_(sandbox_config_freep) SandboxConfig *sc = NULL;
    PdError e = {0};

    ct.volume_mounts = vms;
    ct.n_volume_mounts = 2;
    ct.security_context.run_as_user = 1000;
    ct.security_context.capabilities_add = add;
    ct.security_context.read_only_root_filesystem = 1;
    ct.resources.memory_limit_bytes = 64 << 20;
    ct.resources.cpu_limit_millis = 250;
    ck_assert_int_eq(container_config_new_from_pod(&pod, &ct, "/run/podd", "/var/log/podd",
                                                   RUNTIME_IMAGE_DIR("/img/bb"),
                                                   "podd/var-lib-podd", &c, &e),
                     0);
    ck_assert_str_eq(c->id, "prod_web_app");
    ck_assert_str_eq(c->run_dir, "/run/podd/containers/prod_web_app");
    ck_assert_str_eq(c->log_path, "/var/log/podd/prod_web/app.log");
    ck_assert_str_eq(c->exit_file, "/run/podd/containers/prod_web_app/exit.json");
    ck_assert_str_eq(c->cgroup, "podd/var-lib-podd/prod_web_app");
    ck_assert_int_eq(strv_length(c->args), 3);
    ck_assert_str_eq(c->args[2], "echo $A");
    ck_assert(strv_contains(c->env, "A=1"));
    ck_assert(strv_contains(c->env, "PATH=" RUNTIME_DEFAULT_PATH));
    ck_assert(strv_contains(c->env, "HOSTNAME=web"));
    ck_assert_str_eq(c->hostname, "web");
    ck_assert_str_eq(c->user, "1000");
    ck_assert_int_eq(c->n_supplementary_groups, 1);
    ck_assert_int_eq(c->supplementary_groups[0], 2000);
    ck_assert_str_eq(c->ns.net, "/run/podd/pods/prod_web/ns/net");
    ck_assert_str_eq(c->ns.ipc, "/run/podd/pods/prod_web/ns/ipc");
    ck_assert(!c->ns.host_pid);
    ck_assert_int_eq(c->n_mounts, 2);
    ck_assert_str_eq(c->mounts[0].source, "/srv/data");
    ck_assert_int_eq(c->mounts[0].host_path_type, HOST_PATH_DIRECTORY_OR_CREATE);
    ck_assert(c->mounts[0].read_only);
    ck_assert_str_eq(c->mounts[1].source, "/run/podd/pods/prod_web/volumes/cache");
    ck_assert_str_eq(c->mounts[1].sub_path, "x");
    ck_assert(c->read_only_rootfs);
    ck_assert(c->no_new_privs);
    ck_assert(c->seccomp);
    ck_assert_str_eq(c->cap_add[0], "NET_ADMIN");
    ck_assert_int_eq(c->memory_limit, 64 << 20);
    ck_assert_int_eq(c->cpu_limit_millis, 250);

    ck_assert_int_eq(sandbox_config_new_from_pod(&pod, "/run/podd", &sc, &e), 0);
    ck_assert_str_eq(sc->dir, "/run/podd/pods/prod_web");
    ck_assert_str_eq(sc->hostname, "web");
    ck_assert_int_eq(sc->n_volumes, 1);
    ck_assert(sc->volumes[0].memory);
    ck_assert_int_eq(sc->volumes[0].size_limit, 1 << 20);
}
END_TEST

START_TEST(test_from_pod_host_and_privileged)
{
    char *cmd[] = {"true", NULL};
    Container ct = make_container(cmd, NULL, NULL, 0);
    Pod pod = {.name = "h",
               .host_network = true,
               .host_ipc = true,
               .host_pid = true,
               .run_as_user = UNSET,
               .run_as_group = 7,
               .fs_group = UNSET};
    _cleanup_(container_config_freep) ContainerConfig *c = NULL;
    PdError e = {0};

    ct.security_context.privileged = 1;
    ck_assert_int_eq(container_config_new_from_pod(&pod, &ct, "/r", "/l", RUNTIME_IMAGE_DIR("/i"),
                                                   "podd/x", &c, &e),
                     0);
    ck_assert_str_eq(c->id, "default_h_app");
    ck_assert_ptr_null(c->ns.net);
    ck_assert_ptr_null(c->ns.uts);
    ck_assert_ptr_null(c->ns.ipc);
    ck_assert_ptr_null(c->hostname);
    ck_assert(c->ns.host_pid);
    ck_assert_str_eq(c->user, "0:7");
    ck_assert(c->privileged);
    ck_assert(!c->seccomp);
    ck_assert(!c->no_new_privs);
}
END_TEST

START_TEST(test_from_pod_errors)
{
    char *cmd[] = {"true", NULL};
    Container ct = make_container(NULL, NULL, NULL, 0);
    VolumeMount vm = {.name = "missing", .mount_path = "/m"};
    Pod pod = {.name = "p", .run_as_user = UNSET, .run_as_group = UNSET, .fs_group = UNSET};
    _cleanup_(container_config_freep) ContainerConfig *c = NULL;
    PdError e = {0};

    ck_assert_int_eq(container_config_new_from_pod(&pod, &ct, "/r", "/l", RUNTIME_IMAGE_DIR("/i"),
                                                   "podd/x", &c, &e),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(e.message, "no command"));
    ct.command = cmd;
    ct.volume_mounts = &vm;
    ct.n_volume_mounts = 1;
    ck_assert_int_eq(container_config_new_from_pod(&pod, &ct, "/r", "/l", RUNTIME_IMAGE_DIR("/i"),
                                                   "podd/x", &c, &e),
                     -ENOENT);
    ck_assert_ptr_nonnull(strstr(e.message, "'missing'"));
    ck_assert_ptr_null(c);
    ct.n_volume_mounts = 0;
    pod.share_process_namespace = true;
    ck_assert_int_eq(container_config_new_from_pod(&pod, &ct, "/r", "/l", RUNTIME_IMAGE_DIR("/i"),
                                                   "podd/x", &c, &e),
                     0);
    ck_assert_str_eq(c->ns.pid, "/r/pods/default_p/ns/pid");
}
END_TEST

/* The image's configuration, applied as the kubelet applies it. */
START_TEST(test_from_pod_image)
{
    char *layers[] = {"/l/0", "/l/1", NULL}, *entry[] = {"/bin/ep", "-x", NULL},
         *cmd[] = {"serve", NULL}, *ienv[] = {"PATH=/img/bin", "A=image", "B=image", NULL},
         *command[] = {"/bin/own", NULL}, *args[] = {"arg", NULL};
    RuntimeImage img = {.layers = layers,
                        .entrypoint = entry,
                        .cmd = cmd,
                        .env = ienv,
                        .working_dir = "/srv",
                        .user = "app:staff"};
    EnvVar env[] = {{"A", "pod"}};
    Container ct = make_container(NULL, NULL, env, 1);
    Pod pod = {.name = "p", .run_as_user = UNSET, .run_as_group = UNSET, .fs_group = UNSET};
    ContainerConfig *c = NULL;
    PdError e = {0};

    /* Neither command nor args: Entrypoint + Cmd, the image's env under the pod's. */
    ck_assert_int_eq(container_config_new_from_pod(&pod, &ct, "/r", "/l", &img, "podd/x", &c, &e),
                     0);
    ck_assert_uint_eq(strv_length(c->image_layers), 2);
    ck_assert_str_eq(c->image_layers[1], "/l/1");
    ck_assert_uint_eq(strv_length(c->args), 3);
    ck_assert_str_eq(c->args[0], "/bin/ep");
    ck_assert_str_eq(c->args[2], "serve");
    ck_assert(strv_contains(c->env, "A=pod"));
    ck_assert(!strv_contains(c->env, "A=image"));
    ck_assert(strv_contains(c->env, "B=image"));
    ck_assert(strv_contains(c->env, "PATH=/img/bin"));
    ck_assert(!strv_contains(c->env, "PATH=" RUNTIME_DEFAULT_PATH));
    ck_assert_str_eq(c->working_dir, "/srv");
    ck_assert_str_eq(c->user, "app:staff");
    c = container_config_free(c);

    /* args alone replace Cmd; runAsGroup replaces the image's group. */
    ct.args = args;
    pod.run_as_group = 9;
    ck_assert_int_eq(container_config_new_from_pod(&pod, &ct, "/r", "/l", &img, "podd/x", &c, &e),
                     0);
    ck_assert_uint_eq(strv_length(c->args), 3);
    ck_assert_str_eq(c->args[2], "arg");
    ck_assert_str_eq(c->user, "app:9");
    c = container_config_free(c);

    /* command replaces Entrypoint and drops Cmd; runAsUser and workingDir win. */
    ct.command = command;
    ct.args = NULL;
    ct.working_dir = "/own";
    ct.security_context.run_as_user = 1000;
    pod.run_as_group = UNSET;
    ck_assert_int_eq(container_config_new_from_pod(&pod, &ct, "/r", "/l", &img, "podd/x", &c, &e),
                     0);
    ck_assert_uint_eq(strv_length(c->args), 1);
    ck_assert_str_eq(c->args[0], "/bin/own");
    ck_assert_str_eq(c->working_dir, "/own");
    ck_assert_str_eq(c->user, "1000");
    c = container_config_free(c);

    /* An image without Entrypoint or Cmd and a container without command: an error. */
    img.entrypoint = img.cmd = NULL;
    ct.command = NULL;
    ck_assert_int_eq(container_config_new_from_pod(&pod, &ct, "/r", "/l", &img, "podd/x", &c, &e),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(e.message, "no command"));
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_rfc3339)
{
    struct timespec ts = {.tv_sec = 1700000000, .tv_nsec = 5};
    char buf[40];

    format_rfc3339_nano(&ts, buf, sizeof(buf));
    ck_assert_str_eq(buf, "2023-11-14T22:13:20.000000005Z");
}
END_TEST

static char *read_all(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf = NULL;

    if (fd < 0 || read_fd_full(fd, 1 << 20, &buf, NULL) < 0)
        return NULL;
    return buf;
}

START_TEST(test_cri_log)
{
    _cleanup_free_ char *path = strdup_printf("%s/logs/pod/app.log", tmpdir), *text = NULL,
                        *rotated = NULL, *p1 = NULL;
    CriLog l;
    const uint64_t t = 1700000000ull * 1000000ull + 123456;

    ck_assert_int_eq(cri_log_open(&l, path, 120), 0);
    ck_assert_int_eq(cri_log_write(&l, t, "stdout", false, "hello", 5), 0);
    ck_assert_int_eq(cri_log_write(&l, t, "stderr", true, "part", 4), 0);
    text = read_all(path);
    ck_assert_str_eq(text, "2023-11-14T22:13:20.123456000Z stdout F hello\n"
                           "2023-11-14T22:13:20.123456000Z stderr P part\n");
    /* The third record would pass 120 bytes: the file rotates first. */
    ck_assert_int_eq(cri_log_write(&l, t, "stdout", false, "third", 5), 0);
    cri_log_done(&l);
    p1 = strdup_printf("%s.1", path);
    rotated = read_all(p1);
    ck_assert_str_eq(rotated, text);
    free(text);
    text = read_all(path);
    ck_assert_str_eq(text, "2023-11-14T22:13:20.123456000Z stdout F third\n");
    /* Reopening appends and counts what is there. */
    ck_assert_int_eq(cri_log_open(&l, path, 0), 0);
    ck_assert_int_eq(l.size, strlen(text));
    cri_log_done(&l);
}
END_TEST

START_TEST(test_pid_file)
{
    _cleanup_free_ char *path = strdup_printf("%s/x.pid", tmpdir);
    uint64_t st, st2;
    pid_t pid;
    int fd;

    ck_assert_int_eq(proc_start_time(getpid(), &st), 0);
    ck_assert_uint_gt(st, 0);
    ck_assert_int_eq(pid_file_read(path, &pid, &st2), -ENOENT);
    ck_assert_int_eq(pid_file_write(path, getpid(), st), 0);
    ck_assert_int_eq(pid_file_read(path, &pid, &st2), 0);
    ck_assert_int_eq(pid, getpid());
    ck_assert_uint_eq(st, st2);
    fd = pid_file_open_pidfd(path, &pid);
    ck_assert_int_ge(fd, 0);
    close(fd);
    /* A reused pid (other start time) is never taken for ours. */
    ck_assert_int_eq(pid_file_write(path, getpid(), st + 1), 0);
    ck_assert_int_eq(pid_file_open_pidfd(path, &pid), -ESRCH);
}
END_TEST

START_TEST(test_exit_record)
{
    _cleanup_free_ char *path = strdup_printf("%s/exit.json", tmpdir);
    ExitRecord e = {.exit_code = 137, .signal = 9, .oom_killed = true}, r;

    (void)snprintf(e.reason, sizeof(e.reason), "OOMKilled");
    (void)snprintf(e.started_at, sizeof(e.started_at), "2023-11-14T22:13:20.000000005Z");
    (void)snprintf(e.message, sizeof(e.message), "killed");
    ck_assert_int_eq(exit_record_read(path, &r), -ENOENT);
    ck_assert_int_eq(exit_record_write(path, &e), 0);
    ck_assert_int_eq(exit_record_read(path, &r), 0);
    ck_assert_int_eq(r.exit_code, 137);
    ck_assert_int_eq(r.signal, 9);
    ck_assert(r.oom_killed);
    ck_assert_str_eq(r.reason, "OOMKilled");
    ck_assert_str_eq(r.started_at, e.started_at);
    ck_assert_str_eq(r.finished_at, "");
}
END_TEST

START_TEST(test_misc)
{
    ck_assert_ptr_eq(runtime_find("native"), &runtime_native_ops);
    ck_assert_ptr_null(runtime_find("crun"));
    ck_assert_int_eq(runtime_rlimit_from_name("nofile"), RLIMIT_NOFILE);
    ck_assert_int_eq(runtime_rlimit_from_name("RLIMIT_NPROC"), RLIMIT_NPROC);
    ck_assert_int_eq(runtime_rlimit_from_name("RLIMIT_"), -EINVAL);
    ck_assert_str_eq(runtime_rlimit_to_name(RLIMIT_CORE), "RLIMIT_CORE");
    ck_assert_str_eq(container_state_to_string(CONTAINER_STATE_EXITED), "exited");
    ck_assert_int_ge(cgroup_detect(), 0);
}
END_TEST

START_TEST(test_sandbox_config_json)
{
    _cleanup_json_ json_t
        *j = json_loads("{\"name\":\"p\",\"dir\":\"/run/p\",\"hostname\":\"h\",\"hostIPC\":true,"
                        "\"volumes\":[{\"name\":\"v\",\"memory\":true,\"sizeLimit\":4096}]}",
                        0, NULL),
        *j2 = NULL,
        *bad = json_loads("{\"name\":\"p\",\"dir\":\"/r\","
                          "\"volumes\":[{\"name\":\"../x\"}]}",
                          0, NULL);
    _cleanup_(sandbox_config_freep) SandboxConfig *c = NULL, *c2 = NULL;
    PdError e = {0};

    ck_assert_int_eq(sandbox_config_from_json(j, &c, &e), 0);
    ck_assert(c->host_ipc && !c->host_network);
    ck_assert_int_eq(c->volumes[0].size_limit, 4096);
    j2 = sandbox_config_to_json(c);
    ck_assert_int_eq(sandbox_config_from_json(j2, &c2, &e), 0);
    ck_assert_str_eq(c2->hostname, "h");
    ck_assert(c2->volumes[0].memory);
    sandbox_config_free(c2);
    c2 = NULL;
    ck_assert_int_eq(sandbox_config_from_json(bad, &c2, &e), -EINVAL);
}
END_TEST

/* ---- network namespaces made ahead (root only) ----------------------------------------------- */

static ino_t ns_inode(const char *path)
{
    struct stat st;

    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_ino;
}

/* Whether loopback is up in the network namespace pinned at path (entered and left). */
static bool loopback_up_in(const char *path)
{
    _cleanup_close_ int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC),
                        fd = open(path, O_RDONLY | O_CLOEXEC), sock = -1;
    struct ifreq ifr = {0};

    ck_assert_int_ge(home, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(setns(fd, CLONE_NEWNET), 0);
    sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(sock, 0);
    (void)snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    ck_assert_int_eq(ioctl(sock, SIOCGIFFLAGS, &ifr), 0);
    ck_assert_int_eq(setns(home, CLONE_NEWNET), 0);
    return ifr.ifr_flags & IFF_UP;
}

/*
 * Pods taking namespaces from the pool: each its own, loopback up, pinned
 * where sandbox_create() pins them, the caller's own untouched; removed as
 * any sandbox. The first take finds none (the thread starts then).
 */
START_TEST(test_sandbox_netns_pool)
{
    SandboxNetnsPool *pool = sandbox_netns_pool_new();
    ino_t own = ns_inode("/proc/thread-self/ns/net"), seen[4];
    PdError e = {0};

    ck_assert_ptr_nonnull(pool);
    for (size_t i = 0; i < ELEMENTSOF(seen); i++) {
        _cleanup_free_ char *dir = strdup_printf("%s/pods/p%zu", tmpdir, i),
                            *net = strdup_printf("%s/ns/net", dir);
        char name[8];
        SandboxConfig c = {.name = name, .dir = dir, .hostname = name};

        (void)snprintf(name, sizeof(name), "p%zu", i);
        ck_assert_msg(sandbox_create_pooled(&c, pool, &e) == 0, "%s", e.message);
        seen[i] = ns_inode(net);
        ck_assert(seen[i] != own);
        for (size_t k = 0; k < i; k++)
            ck_assert(seen[k] != seen[i]);
        ck_assert(loopback_up_in(net));
        ck_assert(ns_inode("/proc/thread-self/ns/net") == own);
        /* Time for the thread to make the next ones. */
        (void)usleep(100 * 1000);
    }
    pool = sandbox_netns_pool_free(pool);
    for (size_t i = 0; i < ELEMENTSOF(seen); i++) {
        _cleanup_free_ char *dir = strdup_printf("%s/pods/p%zu", tmpdir, i);

        ck_assert_int_eq(sandbox_destroy(dir, &e), 0);
        ck_assert_int_eq(access(dir, F_OK), -1);
    }
}
END_TEST

/* ---- the native backend through its vtable (root only) ------------------------------------- */

static char monitor[PATH_MAX];

/* Why the native backend cannot be driven on this host, or NULL. Sets monitor. */
static const char *native_unavailable(void)
{
    const char *b = getenv("PODD_BUILDDIR");

    (void)snprintf(monitor, sizeof(monitor), "%s/podd-monitor", b ? b : ".");
    if (geteuid() != 0)
        return "needs root";
    if (access(monitor, X_OK) < 0)
        return "podd-monitor is not built (PODD_BUILDDIR)";
    if (access("/bin/busybox", X_OK) < 0)
        return "needs /bin/busybox (busybox-static)";
    return NULL;
}

static void make_rootfs(const char *root)
{
    char cmd[512];

    (void)snprintf(cmd, sizeof(cmd),
                   "mkdir -p %s/bin %s/etc && cp /bin/busybox %s/bin/ && "
                   "for a in sh sleep true cat hostname; do ln -s busybox %s/bin/$a; done && "
                   "echo root:x:0:0::/:/bin/sh > %s/etc/passwd",
                   root, root, root, root, root);
    ck_assert_int_eq(system(cmd), 0);
}

/* The cgroup podd's own process is in, as /proc/self/cgroup says for the hierarchy used. */
static void own_cgroup(char *buf, size_t size)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    bool v2 = cgroup_detect() == CGROUP_MODE_V2;
    char line[1024];

    ck_assert_ptr_nonnull(f);
    buf[0] = 0;
    while (fgets(line, sizeof(line), f)) {
        char *path = strchr(strchr(line, ':') + 1, ':') + 1;

        line[strcspn(line, "\n")] = 0;
        path[strcspn(path, "\n")] = 0;
        if ((v2 && startswith(line, "0::")) || (!v2 && strstr(line, ":pids:")))
            (void)snprintf(buf, size, "%s", path + strspn(path, "/"));
    }
    fclose(f);
}

START_TEST(test_cgroup_parent_is_per_instance_and_stable)
{
    char *p = NULL, self[PATH_MAX], want[PATH_MAX + 32];
    PdError e = {0};

    /* Derived from the instance's directory: one per state dir, the same after a restart. */
    ck_assert_int_eq(cgroup_resolve_parent(NULL, "/var/lib/podd", &p, &e), 0);
    ck_assert_str_eq(p, "podd/var-lib-podd");
    free(p);
    ck_assert_int_eq(cgroup_resolve_parent(NULL, "/tmp/podd-a/state", &p, &e), 0);
    ck_assert_str_eq(p, "podd/tmp-podd\\x2da-state");
    free(p);
    ck_assert_int_eq(cgroup_resolve_parent(NULL, "/tmp/podd.a//..b/", &p, &e), 0);
    ck_assert_str_eq(p, "podd/tmp-podd.a-\\x2e.b");
    ck_assert_ptr_null(strstr(p, ".."));
    free(p);
    {
        char longdir[400], *q = NULL;

        memset(longdir, 'x', sizeof(longdir) - 1);
        longdir[0] = '/';
        longdir[sizeof(longdir) - 1] = 0;
        ck_assert_int_eq(cgroup_resolve_parent(NULL, longdir, &p, &e), 0);
        longdir[398] = 'y';
        ck_assert_int_eq(cgroup_resolve_parent(NULL, longdir, &q, &e), 0);
        ck_assert_uint_le(strlen(p), strlen("podd/") + 200);
        ck_assert_str_ne(p, q); /* the hash of the whole path tells them apart */
        free(p);
        free(q);
    }

    /* --cgroup-parent /PATH: from the hierarchy root, never the root itself nor "..". */
    ck_assert_int_eq(cgroup_resolve_parent("//podd-test//a/./b/", NULL, &p, &e), 0);
    ck_assert_str_eq(p, "podd-test/a/b");
    free(p);
    ck_assert_int_eq(cgroup_resolve_parent("/", NULL, &p, &e), -EINVAL);
    ck_assert_int_eq(cgroup_resolve_parent("/a/../../b", NULL, &p, &e), -EINVAL);
    ck_assert_int_eq(cgroup_resolve_parent("x/..", NULL, &p, &e), -EINVAL);

    /* --cgroup-parent PATH: below the cgroup podd runs in (a Delegate=yes subtree). */
    if (cgroup_detect() >= 0 && access("/proc/self/cgroup", R_OK) == 0) {
        own_cgroup(self, sizeof(self));
        ck_assert_int_eq(cgroup_resolve_parent("containers", NULL, &p, &e), 0);
        (void)snprintf(want, sizeof(want), "%s%scontainers", self, self[0] ? "/" : "");
        ck_assert_str_eq(p, want);
        free(p);
        if (self[0]) {
            ck_assert_int_eq(cgroup_resolve_parent(".", NULL, &p, &e), 0);
            ck_assert_str_eq(p, self);
            free(p);
        }
    }

    /* Only what lies below the instance's parent is its own. */
    ck_assert(cgroup_is_below("podd/var-lib-podd", "podd/var-lib-podd/default_web_app"));
    ck_assert(!cgroup_is_below("podd/var-lib-podd", "podd/default_web_app"));
    ck_assert(!cgroup_is_below("podd/var-lib-podd", "podd/var-lib-podd"));
    ck_assert(!cgroup_is_below("podd/var-lib-podd", "podd/var-lib-podd2/default_web_app"));
    ck_assert(!cgroup_is_below("podd/var-lib-podd", "podd/var-lib-podd/../x/default_web_app"));
    ck_assert(!cgroup_is_below(NULL, "podd/default_web_app"));
}
END_TEST

/* A pod of namespace "t" with nothing set, for the native backend's tests. */
static Pod native_pod(char *name)
{
    return (Pod){.name = name,
                 .namespace = "t",
                 .run_as_user = UNSET,
                 .run_as_group = UNSET,
                 .fs_group = UNSET};
}

/* Ends the backend and removes the cgroup parents its containers made (when empty). */
static void end_native_backend(const RuntimeOps *ops, void *ctx)
{
    ops->done(ctx);
    (void)rmdir("/sys/fs/cgroup/memory/podd");
    (void)rmdir("/sys/fs/cgroup/cpu/podd");
    (void)rmdir("/sys/fs/cgroup/pids/podd");
    (void)rmdir("/sys/fs/cgroup/podd");
}

START_TEST(test_native_ops)
{
    char *cmd[] = {"/bin/sh", "-c", NULL}, *args[] = {"hostname; sleep 30", NULL};
    char *probe[] = {"/bin/sh", "-c", "exit 5", NULL}, *slow[] = {"sleep", "5", NULL};
    Container ct = make_container(cmd, args, NULL, 0);
    Pod pod = native_pod("optest");
    _cleanup_free_ char *root = strdup_printf("%s/rootfs", tmpdir),
                        *run = strdup_printf("%s/run", tmpdir),
                        *log = strdup_printf("%s/log", tmpdir), *cdir = NULL, *logf = NULL,
                        *text = NULL;
    const RuntimeOps *ops = runtime_find("native");
    RuntimeConfig cfg = {.run_dir = run, .log_dir = log, .monitor_path = monitor};
    ContainerStatus st;
    PdError e = {0};
    void *ctx = NULL;
    int pidfd = -1, status = -1;

    make_rootfs(root);
    ck_assert_int_eq(ops->init(&ctx, &cfg, &e), 0);
    ck_assert_int_eq(ops->pod_create(ctx, &pod, &e), 0);
    ck_assert_int_eq(ops->pod_create(ctx, &pod, &e), 0); /* idempotent */
    ck_assert_msg(
        runtime_container_start(ops, ctx, &pod, &ct, RUNTIME_IMAGE_DIR(root), &pidfd, &e) == 0,
        "%s", e.message);
    ck_assert_int_ge(pidfd, 0);
    ck_assert_int_eq(ops->container_inspect(ctx, "t_optest_app", &st, &e), 0);
    ck_assert_int_eq(st.state, CONTAINER_STATE_RUNNING);
    ck_assert_int_gt(st.pid, 0);
    ck_assert_msg(ops->container_exec(ctx, "t_optest_app", probe, 5000000, &status, &e) == 0, "%s",
                  e.message);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 5);
    ck_assert_int_eq(ops->container_exec(ctx, "t_optest_app", slow, 200000, &status, &e),
                     -ETIMEDOUT);
    ck_assert_int_eq(ops->container_signal(ctx, "t_optest_app", SIGKILL, &e), 0);
    {
        struct pollfd p = {.fd = pidfd, .events = POLLIN};

        ck_assert_int_eq(poll(&p, 1, 10000), 1);
    }
    close(pidfd);
    ck_assert_int_eq(ops->container_inspect(ctx, "t_optest_app", &st, &e), 0);
    ck_assert_int_eq(st.state, CONTAINER_STATE_EXITED);
    ck_assert_int_eq(st.exit.signal, SIGKILL);
    ck_assert_int_eq(st.exit.exit_code, 137);
    {
        /* The exit record alone: the same as inspect's. */
        ExitRecord rec = {0};

        ck_assert_int_eq(ops->container_exit(ctx, "t_optest_app", &rec), 0);
        ck_assert_int_eq(rec.signal, SIGKILL);
        ck_assert_int_eq(rec.exit_code, 137);
        ck_assert_str_eq(rec.finished_at, st.exit.finished_at);
        ck_assert_int_eq(ops->container_exit(ctx, "../t_optest_app", &rec), -EINVAL);
    }
    ck_assert_int_eq(ops->container_signal(ctx, "t_optest_app", SIGTERM, &e), -ESRCH);
    logf = strdup_printf("%s/t_optest/app.log", log);
    text = read_all(logf);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(strstr(text, " stdout F optest\n"));
    ck_assert_int_eq(ops->container_remove(ctx, "t_optest_app", &e), 0);
    cdir = strdup_printf("%s/containers/t_optest_app", run);
    ck_assert_int_eq(access(cdir, F_OK), -1);
    ck_assert_int_eq(ops->container_remove(ctx, "t_optest_app", &e), 0);
    ck_assert_int_eq(ops->container_inspect(ctx, "t_optest_app", &st, &e), 0);
    ck_assert_int_eq(st.state, CONTAINER_STATE_UNKNOWN);

    /* A start error comes back with the child's message. */
    ck_assert_int_lt(runtime_container_start(ops, ctx, &pod, &ct,
                                             RUNTIME_IMAGE_DIR("/nonexistent-image"), &pidfd, &e),
                     0);
    ck_assert_ptr_nonnull(
        strstr(e.message, "rootfs /nonexistent-image: no such file or directory"));
    ck_assert_int_eq(ops->container_remove(ctx, "t_optest_app", &e), 0);

    ck_assert_int_eq(ops->pod_destroy(ctx, &pod, &e), 0);
    ck_assert_int_eq(ops->pod_destroy(ctx, &pod, &e), 0);
    end_native_backend(ops, ctx);
}
END_TEST

/*
 * A container recycled for its restart: its directory stays, nothing of the
 * run's records does (inspect: UNKNOWN), and the next run gets a fresh
 * writable layer; container_remove then takes the rest.
 */
START_TEST(test_native_recycle)
{
    char *cmd[] = {"/bin/sh", "-c", NULL},
         *args[] = {"if [ -e /marker ]; then echo stale; else echo fresh; fi; echo x > /marker",
                    NULL};
    static const char *const records[] = {"config.json", "exit.json", "container.pid",
                                          "monitor.pid"};
    Container ct = make_container(cmd, args, NULL, 0);
    Pod pod = native_pod("recycle");
    _cleanup_free_ char *root = strdup_printf("%s/rootfs", tmpdir),
                        *run = strdup_printf("%s/run", tmpdir),
                        *log = strdup_printf("%s/log", tmpdir),
                        *cdir = strdup_printf("%s/run/containers/t_recycle_app", tmpdir),
                        *logf = strdup_printf("%s/log/t_recycle/app.log", tmpdir), *text = NULL;
    const RuntimeOps *ops = runtime_find("native");
    RuntimeConfig cfg = {.run_dir = run, .log_dir = log, .monitor_path = monitor};
    const char *first;
    ContainerStatus st;
    PdError e = {0};
    void *ctx = NULL;

    make_rootfs(root);
    ck_assert_int_eq(ops->init(&ctx, &cfg, &e), 0);
    ck_assert_int_eq(ops->pod_create(ctx, &pod, &e), 0);
    for (int i = 0; i < 2; i++) {
        int pidfd = -1, r;

        r = runtime_container_start(ops, ctx, &pod, &ct, RUNTIME_IMAGE_DIR(root), &pidfd, &e);
        ck_assert_msg(r == 0 || r == -ESRCH, "%s", e.message);
        if (r == 0) {
            struct pollfd p = {.fd = pidfd, .events = POLLIN};

            ck_assert_int_eq(poll(&p, 1, 10000), 1);
            close(pidfd);
        }
        ck_assert_int_eq(ops->container_inspect(ctx, "t_recycle_app", &st, &e), 0);
        ck_assert_int_eq(st.state, CONTAINER_STATE_EXITED);
        ck_assert_msg(ops->container_recycle(ctx, "t_recycle_app", &e) == 0, "%s", e.message);
        ck_assert_int_eq(access(cdir, F_OK), 0);
        for (size_t k = 0; k < ELEMENTSOF(records); k++) {
            _cleanup_free_ char *f = strdup_printf("%s/%s", cdir, records[k]);

            ck_assert_msg(access(f, F_OK) < 0 && errno == ENOENT, "%s is left", records[k]);
        }
        ck_assert_int_eq(ops->container_inspect(ctx, "t_recycle_app", &st, &e), 0);
        ck_assert_int_eq(st.state, CONTAINER_STATE_UNKNOWN);
        /* No exit recorded once the run's records went. */
        ck_assert_int_eq(ops->container_exit(ctx, "t_recycle_app", &st.exit), -ENOENT);
    }
    /* Both runs found no /marker: the first run's writable layer did not reach the second. */
    text = read_all(logf);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_null(strstr(text, "stale"));
    first = strstr(text, " stdout F fresh\n");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_nonnull(strstr(first + 1, " stdout F fresh\n"));
    ck_assert_int_eq(ops->container_remove(ctx, "t_recycle_app", &e), 0);
    ck_assert_int_eq(access(cdir, F_OK), -1);
    ck_assert_int_eq(ops->pod_destroy(ctx, &pod, &e), 0);
    end_native_backend(ops, ctx);
}
END_TEST

/* What a disk emptyDir holds, as du counts it: never through a symlink, stopping when told. */
START_TEST(test_volume_usage)
{
    Pod pod = {.name = "web", .namespace = "default"};
    char dir[PATH_MAX], path[PATH_MAX + 32];
    static char block[64 * 1024];
    uint64_t used = 0;
    int fd;

    static const char *const levels[] = {"pods", "pods/default_web", "pods/default_web/volumes",
                                         "pods/default_web/volumes/v",
                                         "pods/default_web/volumes/v/sub"};

    ck_assert_int_eq(runtime_volume_usage(tmpdir, &pod, "v", UINT64_MAX, 100, &used), -ENOENT);
    for (size_t i = 0; i < ELEMENTSOF(levels); i++) {
        (void)snprintf(dir, sizeof(dir), "%s/%s", tmpdir, levels[i]);
        ck_assert_int_eq(mkdir(dir, 0755), 0);
    }
    memset(block, 'x', sizeof(block));
    for (int i = 0; i < 4; i++) {
        (void)snprintf(path, sizeof(path), "%s/f%d", dir, i);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
        ck_assert_int_eq(fsync(fd), 0);
        (void)close(fd);
    }
    /* A link out of the volume counts as the link, not as what it points to. */
    (void)snprintf(path, sizeof(path), "%s/etc", dir);
    ck_assert_int_eq(symlink("/usr", path), 0);
    ck_assert_int_eq(runtime_volume_usage(tmpdir, &pod, "v", UINT64_MAX, 100, &used), 0);
    ck_assert_uint_ge(used, 4 * sizeof(block));
    ck_assert_uint_lt(used, 4 * sizeof(block) + 256 * 1024);
    /* Past the limit it stops: over, but not necessarily all of it. */
    ck_assert_int_eq(runtime_volume_usage(tmpdir, &pod, "v", 1, 100, &used), 0);
    ck_assert_uint_gt(used, 1);
    ck_assert_uint_lt(used, 4 * sizeof(block));
    /* At most max_entries: a lower bound. */
    ck_assert_int_eq(runtime_volume_usage(tmpdir, &pod, "v", UINT64_MAX, 2, &used), 0);
    ck_assert_uint_lt(used, 4 * sizeof(block));
}
END_TEST

static void put_file(const char *dir, const char *name, const char *content)
{
    _cleanup_free_ char *path = strdup_printf("%s/%s", dir, name);
    FILE *f = fopen(path, "we");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(content, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

static void assert_file(const char *dir, const char *name, const char *want)
{
    _cleanup_free_ char *path = strdup_printf("%s/%s", dir, name);
    char buf[64] = {0};
    FILE *f = fopen(path, "re");

    ck_assert_ptr_nonnull(f);
    (void)!fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    ck_assert_str_eq(buf, want);
}

/* v1 (a plain directory is not cgroup2): the child joins through `tasks`, 0 = the caller alone. */
START_TEST(test_cgroup_v1_join_through_tasks)
{
    _cleanup_free_ char *pids = strdup_printf("%s/pids/pod/app", tmpdir);
    _cleanup_free_ char *mem = strdup_printf("%s/memory/pod/app", tmpdir);
    int fds[CGROUP_JOIN_FDS_MAX];
    size_t n = 99;

    _cleanup_free_ char *mk = strdup_printf("mkdir -p '%s' '%s'", pids, mem);

    ck_assert_int_eq(system(mk), 0);
    put_file(pids, "tasks", "");
    put_file(pids, "cgroup.procs", "");
    put_file(mem, "cgroup.procs", "");
    cgroup_set_root(tmpdir);
    ck_assert_int_eq(cgroup_detect(), CGROUP_MODE_V1);

    /* A hierarchy without a tasks file: nothing left open, the caller falls back. */
    ck_assert_int_eq(cgroup_open_join("pod/app", fds, &n), -ENOENT);
    ck_assert_uint_eq(n, 0);
    /* cgroup_join_self() writes cgroup.procs where there is no tasks file. */
    ck_assert_int_eq(cgroup_join_self("pod/app"), 0);
    assert_file(pids, "tasks", "0");
    assert_file(pids, "cgroup.procs", "");
    assert_file(mem, "cgroup.procs", "0");

    put_file(pids, "tasks", "");
    put_file(mem, "tasks", "");
    ck_assert_int_eq(cgroup_open_join("pod/app", fds, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(cgroup_join_fds(fds, n), 0);
    ck_assert_int_eq(fds[0], -1);
    ck_assert_int_eq(fds[1], -1);
    assert_file(pids, "tasks", "0");
    assert_file(mem, "tasks", "0");

    ck_assert_int_eq(cgroup_open_join(NULL, fds, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(cgroup_join_fds(fds, 0), 0);
    cgroup_set_root("/sys/fs/cgroup");
}
END_TEST

/* cgroup_signal(): each process once, as one hierarchy lists it; the count of those signalled. */
START_TEST(test_cgroup_signal_reaches_each_process_once)
{
    _cleanup_free_ char *pids = strdup_printf("%s/pids/pod/app", tmpdir);
    _cleanup_free_ char *mem = strdup_printf("%s/memory/pod/app", tmpdir);
    _cleanup_free_ char *mk = strdup_printf("mkdir -p '%s' '%s'", pids, mem);
    _cleanup_free_ char *self = strdup_printf("%d\n2147483646\n", (int)getpid());
    struct timespec none = {0};
    sigset_t rt;
    int got = 0;

    ck_assert_int_eq(system(mk), 0);
    /* We are the process listed, in both hierarchies; a real-time signal queues each send. */
    put_file(pids, "cgroup.procs", self);
    put_file(mem, "cgroup.procs", self);
    sigemptyset(&rt);
    sigaddset(&rt, SIGRTMIN);
    ck_assert_int_eq(sigprocmask(SIG_BLOCK, &rt, NULL), 0);
    cgroup_set_root(tmpdir);
    ck_assert_int_eq(cgroup_detect(), CGROUP_MODE_V1);

    ck_assert_int_eq(cgroup_signal("pod/app", SIGRTMIN), 1);
    while (sigtimedwait(&rt, NULL, &none) == SIGRTMIN)
        got++;
    ck_assert_int_eq(got, 1);
    /* Nothing there, or no such cgroup: nobody got it. */
    put_file(pids, "cgroup.procs", "");
    put_file(mem, "cgroup.procs", "");
    ck_assert_int_eq(cgroup_signal("pod/app", SIGRTMIN), 0);
    ck_assert_int_eq(cgroup_signal("pod/gone", SIGRTMIN), 0);
    ck_assert_int_eq(cgroup_signal(NULL, SIGRTMIN), 0);
    ck_assert_int_eq(sigtimedwait(&rt, NULL, &none), -1);
    cgroup_set_root("/sys/fs/cgroup");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int status;

    tcase_add_checked_fixture(tc, setup_tmp, teardown_tmp);
    tcase_add_test(tc, test_config_roundtrip);
    tcase_add_test(tc, test_volume_usage);
    tcase_add_loop_test(tc, test_config_bad, 0, (int)ELEMENTSOF(bad_configs));
    tcase_add_test(tc, test_config_file);
    tcase_add_test(tc, test_from_pod);
    tcase_add_test(tc, test_from_pod_host_and_privileged);
    tcase_add_test(tc, test_from_pod_errors);
    tcase_add_test(tc, test_from_pod_image);
    tcase_add_test(tc, test_rfc3339);
    tcase_add_test(tc, test_cri_log);
    tcase_add_test(tc, test_pid_file);
    tcase_add_test(tc, test_exit_record);
    tcase_add_test(tc, test_misc);
    tcase_add_test(tc, test_sandbox_config_json);
    tcase_add_test(tc, test_cgroup_parent_is_per_instance_and_stable);
    tcase_add_test(tc, test_cgroup_v1_join_through_tasks);
    tcase_add_test(tc, test_cgroup_signal_reaches_each_process_once);
    unit_add_test_unless(tc, test_native_ops, native_unavailable());
    unit_add_test_unless(tc, test_sandbox_netns_pool, geteuid() != 0 ? "needs root" : NULL);
    unit_add_test_unless(tc, test_native_recycle, native_unavailable());
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    status = unit_run(sr, CK_ENV);
    srunner_free(sr);
    return status;
}
