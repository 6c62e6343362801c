/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The asynchronous start of the native backend (container_start_begin and
 * container_start_finish) with real containers. Root, podd-monitor and
 * /bin/busybox are needed: without them the whole program is skipped (a
 * TAP skip plan for the TAP driver make check uses, exit status 77 otherwise).
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "runtime/runtime.h"
#include "unit-util.h"

static char tmpdir[64], monitor[PATH_MAX], root[128], podname[32];
static const RuntimeOps *ops;
static void *ctx;
static Pod pod;
/* What the backend told the daemon (RuntimeConfig.notice), one line after another. */
static char notices[4096];
/* The tests run twice: through the spawner, and with each starter run directly. */
static bool direct;

static void on_notice(void *userdata, const char *message)
{
    (void)userdata;
    (void)snprintf(notices + strlen(notices), sizeof(notices) - strlen(notices), "%s\n", message);
}

static void setup(void)
{
    _cleanup_free_ char *run = NULL, *log = NULL;
    char cmd[1024];

    (void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-runtime-start.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    (void)snprintf(root, sizeof(root), "%s/rootfs", tmpdir);
    (void)snprintf(cmd, sizeof(cmd),
                   "mkdir -p %s/bin %s/etc && cp /bin/busybox %s/bin/ && "
                   "for a in sh sleep true; do ln -s busybox %s/bin/$a; done && "
                   "echo root:x:0:0::/:/bin/sh > %s/etc/passwd",
                   root, root, root, root, root);
    ck_assert_int_eq(system(cmd), 0);
    run = strdup_printf("%s/run", tmpdir);
    log = strdup_printf("%s/log", tmpdir);
    ck_assert(run && log);
    /* Unique on the host: the cgroup podd/<ns>_<pod>_<ctr> is shared by every podd. */
    (void)snprintf(podname, sizeof(podname), "rtstart%d", (int)getpid());
    pod = (Pod){.name = podname,
                .namespace = "t",
                .run_as_user = UNSET,
                .run_as_group = UNSET,
                .fs_group = UNSET};
    ops = runtime_find("native");
    ck_assert_ptr_nonnull(ops);
    ck_assert_int_eq(ops->init(&ctx,
                               &(RuntimeConfig){.run_dir = run,
                                                .log_dir = log,
                                                .monitor_path = monitor,
                                                .notice = on_notice,
                                                .direct_start = direct},
                               NULL),
                     0);
    ck_assert_int_eq(ops->pod_create(ctx, &pod, NULL), 0);
    notices[0] = 0;
}

static void setup_direct(void)
{
    direct = true;
    setup();
}

static void teardown(void)
{
    ck_assert_int_eq(ops->pod_destroy(ctx, &pod, NULL), 0);
    ops->done(ctx);
    ck_assert_int_eq(unit_rm_tree(tmpdir), 0);
}

static Container container(const char *name, char **cmd)
{
    return (Container){
        .name = (char *)name,
        .image = "bb:latest",
        .command = cmd,
        .resources = (Resources){UNSET, UNSET, UNSET, UNSET},
        .security_context = (SecurityContext){.run_as_user = UNSET,
                                              .run_as_group = UNSET,
                                              .run_as_non_root = -1,
                                              .privileged = -1,
                                              .allow_privilege_escalation = -1,
                                              .read_only_root_filesystem = -1},
    };
}

static char *ctr_file(const Container *c, const char *name)
{
    _cleanup_free_ char *id = runtime_container_id(&pod, c);

    return strdup_printf("%s/run/containers/%s/%s", tmpdir, id, name);
}

static bool readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

/* The pid a pidfd refers to, from /proc/self/fdinfo. */
static pid_t pidfd_pid(int fd)
{
    char path[64], line[256];
    FILE *f;
    int pid = -1;

    (void)snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
    f = fopen(path, "re");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Pid: %d", &pid) == 1)
            break;
    fclose(f);
    return pid;
}

/* Kills the container, waits for its monitor, removes it. */
static void end(const Container *c, int pidfd)
{
    _cleanup_free_ char *id = runtime_container_id(&pod, c);
    ContainerStatus st;
    int r;

    ck_assert_int_eq(ops->container_signal(ctx, id, SIGKILL, NULL), 0);
    ck_assert(readable(pidfd, 10000));
    close(pidfd);
    ck_assert_int_eq(ops->container_inspect(ctx, id, &st, NULL), 0);
    ck_assert_int_eq(st.state, CONTAINER_STATE_EXITED);
    ck_assert_int_eq(st.exit.signal, SIGKILL);
    for (int i = 0; i < 250 && (r = ops->container_remove(ctx, id, NULL)) == -EBUSY; i++)
        (void)usleep(20 * 1000);
    ck_assert_int_eq(r, 0);
}

START_TEST(test_begin_returns_before_the_container_runs)
{
    char *cmd[] = {"sleep", "30", NULL};
    Container c = container("app", cmd);
    _cleanup_free_ char *id = runtime_container_id(&pod, &c), *pidf = ctr_file(&c, "container.pid");
    ContainerStatus st;
    PdError e = {0};
    int starter = -1, pidfd = -1;
    pid_t pid;

    ck_assert_msg(ops->container_start_begin(ctx, &pod, &c, RUNTIME_IMAGE_DIR(root), "v-1234",
                                             &starter, &e) == 0,
                  "%s", e.message);
    /* Back at once: the starter still sets the container up, which holds the container's lock. */
    ck_assert_int_eq(access(pidf, F_OK), -1);
    ck_assert(!readable(starter, 0));
    ck_assert(fcntl(starter, F_GETFD) & FD_CLOEXEC);
    ck_assert_int_eq(ops->container_inspect(ctx, id, &st, NULL), 0);
    ck_assert_int_ne(st.state, CONTAINER_STATE_UNKNOWN);
    ck_assert_int_ne(st.state, CONTAINER_STATE_EXITED);
    /* What the caller said it started, from the container's own records. */
    ck_assert_str_eq(st.version, "v-1234");
    if (direct) {
        /* The starter is our child, until finish reaps it. */
        pid = pidfd_pid(starter);
        ck_assert_int_gt(pid, 0);
    } else {
        struct stat sb;

        /* The spawner's child, which answers on a pipe; the spawner reaps it. */
        ck_assert_int_eq(fstat(starter, &sb), 0);
        ck_assert(S_ISFIFO(sb.st_mode));
        pid = -1;
    }

    ck_assert(readable(starter, 10000));
    ck_assert_msg(ops->container_start_finish(ctx, id, starter, &pidfd, &e) == 0, "%s", e.message);
    /* Reaped by finish; the starter fd is still ours to close. */
    if (direct) {
        ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
        ck_assert_int_eq(errno, ECHILD);
    }
    ck_assert_int_ge(fcntl(starter, F_GETFD), 0);
    close(starter);

    /* finish hands over a pidfd of the monitor that stays with the container. */
    ck_assert(fcntl(pidfd, F_GETFD) & FD_CLOEXEC);
    ck_assert_int_eq(ops->container_inspect(ctx, id, &st, NULL), 0);
    ck_assert_int_eq(st.state, CONTAINER_STATE_RUNNING);
    ck_assert_int_eq(pidfd_pid(pidfd), st.monitor_pid);
    ck_assert_int_ne(st.monitor_pid, pid);
    ck_assert_int_eq(access(pidf, F_OK), 0);
    ck_assert(!readable(pidfd, 0));
    end(&c, pidfd);
}
END_TEST

START_TEST(test_finish_waits_for_the_starter)
{
    char *cmd[] = {"sleep", "30", NULL};
    Container c = container("early", cmd);
    _cleanup_free_ char *id = runtime_container_id(&pod, &c);
    PdError e = {0};
    int starter = -1, pidfd = -1;

    ck_assert_int_eq(
        ops->container_start_begin(ctx, &pod, &c, RUNTIME_IMAGE_DIR(root), NULL, &starter, &e), 0);
    /* Called before the starter is done: it waits, and reports the same. */
    ck_assert_msg(ops->container_start_finish(ctx, id, starter, &pidfd, &e) == 0, "%s", e.message);
    close(starter);
    end(&c, pidfd);
}
END_TEST

START_TEST(test_failure_before_exec)
{
    char *cmd[] = {"/bin/app", NULL};
    Container c = container("nobin", cmd);
    _cleanup_free_ char *id = runtime_container_id(&pod, &c);
    const char *msg = "exec /bin/app: no such file or directory (image bb:latest)";
    ContainerStatus st;
    PdError e = {0};
    int starter = -1, pidfd = -1;

    ck_assert_int_eq(
        ops->container_start_begin(ctx, &pod, &c, RUNTIME_IMAGE_DIR(root), NULL, &starter, &e), 0);
    ck_assert(readable(starter, 10000));
    ck_assert_int_eq(ops->container_start_finish(ctx, id, starter, &pidfd, &e), -EIO);
    close(starter);
    ck_assert_int_eq(pidfd, -1);
    ck_assert_str_eq(e.message, msg);
    ck_assert_int_eq(ops->container_inspect(ctx, id, &st, NULL), 0);
    ck_assert_int_eq(st.state, CONTAINER_STATE_EXITED);
    ck_assert_str_eq(st.exit.reason, "StartError");
    ck_assert_str_eq(st.exit.message, msg);
    ck_assert_int_eq(ops->container_remove(ctx, id, NULL), 0);
}
END_TEST

START_TEST(test_second_begin_is_busy)
{
    char *cmd[] = {"sleep", "30", NULL};
    Container c = container("twice", cmd);
    _cleanup_free_ char *id = runtime_container_id(&pod, &c);
    ContainerStatus st;
    PdError e = {0};
    int starter = -1, other = -1, pidfd = -1;

    ck_assert_int_eq(
        ops->container_start_begin(ctx, &pod, &c, RUNTIME_IMAGE_DIR(root), NULL, &starter, &e), 0);
    /* While the first starter sets it up... */
    ck_assert_int_eq(
        ops->container_start_begin(ctx, &pod, &c, RUNTIME_IMAGE_DIR(root), NULL, &other, &e),
        -EBUSY);
    ck_assert_int_eq(other, -1);
    ck_assert_ptr_nonnull(strstr(e.message, id));
    ck_assert(readable(starter, 10000));
    ck_assert_msg(ops->container_start_finish(ctx, id, starter, &pidfd, &e) == 0, "%s", e.message);
    close(starter);
    /* ... and while its monitor keeps it: the one that runs is never disturbed. */
    ck_assert_int_eq(
        ops->container_start_begin(ctx, &pod, &c, RUNTIME_IMAGE_DIR(root), NULL, &other, &e),
        -EBUSY);
    ck_assert_int_eq(ops->container_inspect(ctx, id, &st, NULL), 0);
    ck_assert_int_eq(st.state, CONTAINER_STATE_RUNNING);
    ck_assert(!readable(pidfd, 0));
    end(&c, pidfd);
}
END_TEST

START_TEST(test_starts_in_parallel)
{
    char *cmd[] = {"sleep", "30", NULL};
    Container cs[4] = {container("p0", cmd), container("p1", cmd), container("p2", cmd),
                       container("p3", cmd)};
    int starters[4], pidfds[4];
    PdError e = {0};

    /* Every begin returns before any container runs: the monitors work side by side. */
    for (size_t i = 0; i < ELEMENTSOF(cs); i++)
        ck_assert_int_eq(ops->container_start_begin(ctx, &pod, &cs[i], RUNTIME_IMAGE_DIR(root),
                                                    NULL, &starters[i], &e),
                         0);
    for (size_t i = 0; i < ELEMENTSOF(cs); i++) {
        _cleanup_free_ char *id = runtime_container_id(&pod, &cs[i]);

        ck_assert(readable(starters[i], 10000));
        ck_assert_msg(ops->container_start_finish(ctx, id, starters[i], &pidfds[i], &e) == 0, "%s",
                      e.message);
        close(starters[i]);
    }
    for (size_t i = 0; i < ELEMENTSOF(cs); i++)
        end(&cs[i], pidfds[i]);
}
END_TEST

/* Our child "podd-monitor spawner": its pid, or -1. */
static pid_t find_spawner_once(void)
{
    char path[64], buf[256];
    pid_t found = -1;
    DIR *d = opendir("/proc");
    struct dirent *de;

    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d))) {
        int pid = atoi(de->d_name), ppid = -1;
        FILE *f;
        size_t n;

        if (pid <= 0)
            continue;
        (void)snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
        f = fopen(path, "re");
        if (!f)
            continue;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        if (!streq(buf, "podd-monitor") || n < 21 || !streq(buf + 13, "spawner"))
            continue;
        (void)snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        f = fopen(path, "re");
        if (!f)
            continue;
        if (fgets(buf, sizeof(buf), f) && strrchr(buf, ')'))
            (void)sscanf(strrchr(buf, ')') + 2, "%*c %d", &ppid);
        fclose(f);
        if (ppid == getpid())
            found = pid;
    }
    closedir(d);
    return found;
}

/*
 * The same, given up to 5 s to show: the backend's vfork-style spawn returns
 * once the kernel has switched the child to the new program, but before the
 * kernel sets the program's arguments (a busy host holds that window open
 * while it maps the dynamic linker), and /proc/PID/cmdline reads empty until then.
 */
static pid_t find_spawner(void)
{
    pid_t pid = -1;

    for (int i = 0; i < 500 && (pid = find_spawner_once()) < 0; i++)
        (void)usleep(10000);
    return pid;
}

static int start(const Container *c, int *ret_pidfd)
{
    _cleanup_free_ char *id = runtime_container_id(&pod, c);
    PdError e = {0};
    int starter = -1, r;

    ck_assert_msg(
        ops->container_start_begin(ctx, &pod, c, RUNTIME_IMAGE_DIR(root), NULL, &starter, &e) == 0,
        "%s", e.message);
    ck_assert(readable(starter, 10000));
    r = ops->container_start_finish(ctx, id, starter, ret_pidfd, &e);
    ck_assert_msg(r == 0, "%s", e.message);
    close(starter);
    return r;
}

/*
 * The pod's pins are made after init() started the spawner (setup()), whose
 * copy of our mount namespace, which containers are cloned from, has none
 * (native_lean_mounts_init()): the container still joins the pod's
 * namespaces, opened where the pins are, in a mount namespace of its own.
 */
START_TEST(test_the_container_joins_the_pins_made_after_the_spawner)
{
    static const char *const nss[] = {"net", "uts", "ipc", "mnt"};
    char *cmd[] = {"sleep", "30", NULL};
    Container c = container("pins", cmd);
    _cleanup_free_ char *pidf = NULL;
    char path[PATH_MAX];
    struct stat pin, in;
    int pidfd, pid;
    FILE *f;

    start(&c, &pidfd);
    pidf = ctr_file(&c, "container.pid");
    f = pidf ? fopen(pidf, "re") : NULL;
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%d", &pid), 1);
    fclose(f);
    ck_assert_int_gt(pid, 0);
    for (size_t i = 0; i < ELEMENTSOF(nss); i++) {
        if (streq(nss[i], "mnt"))
            (void)snprintf(path, sizeof(path), "/proc/self/ns/mnt");
        else
            (void)snprintf(path, sizeof(path), "%s/run/pods/t_%s/ns/%s", tmpdir, podname, nss[i]);
        ck_assert_int_eq(stat(path, &pin), 0);
        (void)snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, nss[i]);
        ck_assert_int_eq(stat(path, &in), 0);
        if (streq(nss[i], "mnt"))
            ck_assert_msg(pin.st_ino != in.st_ino, "the container shares our mount namespace");
        else
            ck_assert_msg(pin.st_ino == in.st_ino, "the container is not in the pod's %s namespace",
                          nss[i]);
    }
    end(&c, pidfd);
}
END_TEST

START_TEST(test_a_killed_spawner_is_reported_and_started_again)
{
    char *cmd[] = {"sleep", "30", NULL};
    Container a = container("sa", cmd), b = container("sb", cmd), c = container("sc", cmd);
    pid_t spawner = find_spawner(), again;
    char state = 0, path[64], buf[256];
    int pa, pb, pc;

    ck_assert_int_gt(spawner, 0);
    start(&a, &pa);
    ck_assert_int_eq(find_spawner(), spawner);
    ck_assert_str_eq(notices, "");
    ck_assert_int_eq(kill(spawner, SIGKILL), 0);
    /* Dead, and not reaped: the backend reaps it when it notices. */
    (void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)spawner);
    for (int i = 0; i < 500 && state != 'Z'; i++) {
        FILE *f = fopen(path, "re");

        ck_assert_ptr_nonnull(f);
        if (fgets(buf, sizeof(buf), f) && strrchr(buf, ')'))
            state = strrchr(buf, ')')[2];
        fclose(f);
        (void)usleep(2000);
    }
    ck_assert_int_eq(state, 'Z');
    /* The next start finds it gone, says so, and is not lost. */
    start(&b, &pb);
    (void)snprintf(buf, sizeof(buf), "podd-monitor spawner (pid %d) was killed by signal 9\n",
                   (int)spawner);
    ck_assert_ptr_nonnull(strstr(notices, buf));
    ck_assert_int_eq(access(path, F_OK), -1);
    /* Another one, at most once a second: the start after that has it. */
    (void)usleep(1100 * 1000);
    start(&c, &pc);
    again = find_spawner();
    ck_assert_int_gt(again, 0);
    ck_assert_int_ne(again, spawner);
    (void)snprintf(buf, sizeof(buf), "started podd-monitor spawner again (pid %d)\n", (int)again);
    ck_assert_ptr_nonnull(strstr(notices, buf));
    end(&a, pa);
    end(&b, pb);
    end(&c, pc);
}
END_TEST

/* In a child: 0 when no line of the mountinfo of fd (a mount namespace) has field, 1 if one has. */
static int ns_has_field(int fd, const char *field)
{
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        char line[4096];
        bool found = false;
        FILE *f;

        if (setns(fd, CLONE_NEWNS) < 0 || !(f = fopen("/proc/self/mountinfo", "re")))
            _exit(2);
        while (fgets(line, sizeof(line), f))
            if (strstr(line, field))
                found = true;
        _exit(found ? 1 : 0);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* The body of the test below, in a child (the copy is process-wide); its exit status: 0, passed. */
static int lean_renewal(const char *dir)
{
    char pins[128], x[128], source[64], field[80];
    int fds[2], fd = -1, r;
    struct pollfd p;
    pid_t pid;

    (void)signal(SIGCHLD, SIG_IGN);
    (void)snprintf(pins, sizeof(pins), "%s/pods", dir);
    (void)snprintf(x, sizeof(x), "%s/x", dir);
    (void)snprintf(source, sizeof(source), "trs-lean-%d", (int)getpid());
    (void)snprintf(field, sizeof(field), " %s ", source);
    if (mkdir(pins, 0700) < 0 || mkdir(x, 0700) < 0 || mount(source, x, "tmpfs", 0, "size=64k") < 0)
        return 10;
    if (native_lean_mounts_init(pins, NULL) < 0 || native_lean_mounts_fds(fds) != 2) {
        (void)umount2(x, MNT_DETACH);
        return 11;
    }
    if (umount(x) < 0)
        return 12;
    if (native_lean_mounts_renew_start(pins, &fd, &pid, NULL) < 0)
        return 13;
    p = (struct pollfd){.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 10000) != 1)
        return 14;
    if (native_lean_mounts_renew_finish(fd, pid, NULL) < 0 || native_lean_mounts_fds(fds) != 2)
        return 15;
    /* The child that made it is gone once we let it go. */
    for (int i = 0; i < 200 && kill(pid, 0) == 0; i++)
        (void)usleep(10000);
    if (kill(pid, 0) == 0)
        return 16;
    /* Back, for ns_has_field()'s waitpid(). */
    (void)signal(SIGCHLD, SIG_DFL);
    r = ns_has_field(fds[0], field);
    return r == 0 ? 0 : r == 1 ? 17 : 18;
}

/*
 * The mount namespace copy the spawner clones containers from, renewed
 * (native_lean_mounts_renew_start(), as the spawner does when our mount
 * table changed), no longer holds a file system unmounted here since the
 * first copy: the host's mounts may be private, which makes a copy a snapshot.
 */
START_TEST(test_a_renewed_copy_does_not_hold_what_was_unmounted_here)
{
    char dir[] = "/tmp/test-runtime-start.lean.XXXXXX", path[128];
    pid_t pid;
    int status;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    pid = fork();
    if (pid == 0)
        _exit(lean_renewal(dir));
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    (void)snprintf(path, sizeof(path), "%s/x", dir);
    (void)rmdir(path);
    (void)snprintf(path, sizeof(path), "%s/pods", dir);
    (void)rmdir(path);
    (void)rmdir(dir);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d (see lean_renewal())",
                  status);
}
END_TEST

int main(void)
{
    const char *b = getenv("PODD_BUILDDIR");
    Suite *s = suite_create("runtime-start");
    TCase *tc = tcase_create("native"), *td = tcase_create("native-direct");
    TCase *tl = tcase_create("lean-mounts");
    SRunner *sr;
    int failed;

    (void)snprintf(monitor, sizeof(monitor), "%s/podd-monitor", b ? b : ".");
    if (geteuid() != 0 || access(monitor, X_OK) < 0 || access("/bin/busybox", X_OK) < 0) {
        if (getenv("CK_TAP_LOG_FILE_NAME")) {
            printf("1..0 # SKIP needs root, %s and /bin/busybox\n", monitor);
            return 0;
        }
        fprintf(stderr, "skipped: needs root, %s and /bin/busybox\n", monitor);
        return 77;
    }
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_checked_fixture(td, setup_direct, teardown);
    for (TCase **t = (TCase *[]){tc, td, NULL}; *t; t++) {
        tcase_add_test(*t, test_begin_returns_before_the_container_runs);
        tcase_add_test(*t, test_finish_waits_for_the_starter);
        tcase_add_test(*t, test_failure_before_exec);
        tcase_add_test(*t, test_second_begin_is_busy);
        tcase_add_test(*t, test_starts_in_parallel);
        tcase_add_test(*t, test_the_container_joins_the_pins_made_after_the_spawner);
        tcase_set_timeout(*t, 60);
        suite_add_tcase(s, *t);
    }
    tcase_add_test(tc, test_a_killed_spawner_is_reported_and_started_again);
    tcase_add_test(tl, test_a_renewed_copy_does_not_hold_what_was_unmounted_here);
    suite_add_tcase(s, tl);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
