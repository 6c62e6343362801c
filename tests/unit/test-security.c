/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#include "security/security.h"

static uint64_t bit(int cap)
{
    return UINT64_C(1) << cap;
}

static uint64_t default_mask(void)
{
    uint64_t m = 0;

    for (size_t i = 0; i < security_n_default_caps; i++)
        m |= bit(security_default_caps[i]);
    return m;
}

START_TEST(test_cap_names)
{
    ck_assert_int_eq(security_cap_from_name("CAP_CHOWN"), CAP_CHOWN);
    ck_assert_int_eq(security_cap_from_name("NET_ADMIN"), CAP_NET_ADMIN);
    ck_assert_int_eq(security_cap_from_name("sys_admin"), CAP_SYS_ADMIN);
    ck_assert_int_eq(security_cap_from_name("NOPE"), -EINVAL);
    ck_assert_int_eq(security_cap_from_name(""), -EINVAL);
    ck_assert_int_eq(security_cap_from_name("CAP_"), -EINVAL);
    ck_assert_int_eq(security_cap_from_name("chown,kill"), -EINVAL);
}
END_TEST

#define B(c) (UINT64_C(1) << (c))

static const struct {
    const char *add[4], *drop[4];
    bool privileged;
    uint64_t plus, minus;
    bool none, all;
    uint64_t inh; /* the inheritable set: only what add names (CVE-2022-24769) */
    bool inh_is_mask;
} cases[] = {
    {.plus = 0},
    {.add = {"NET_ADMIN"}, .plus = B(CAP_NET_ADMIN), .inh = B(CAP_NET_ADMIN)},
    {.drop = {"CHOWN", "cap_kill"}, .minus = B(CAP_CHOWN) | B(CAP_KILL)},
    {.add = {"SYS_TIME"},
     .drop = {"ALL"},
     .none = true,
     .plus = B(CAP_SYS_TIME),
     .inh = B(CAP_SYS_TIME)},
    {.drop = {"ALL"}, .none = true},
    {.add = {"ALL"},
     .drop = {"NET_RAW"},
     .all = true,
     .minus = B(CAP_NET_RAW),
     .inh_is_mask = true},
    {.privileged = true, .drop = {"ALL"}, .all = true},
    {.privileged = true, .all = true},
    {.add = {"CHOWN", "cap_net_admin"},
     .drop = {"CHOWN"},
     .plus = B(CAP_NET_ADMIN),
     .minus = B(CAP_CHOWN),
     .inh = B(CAP_NET_ADMIN)},
};

START_TEST(test_caps_compute)
{
    uint64_t mask = 0, want;
    uint64_t all =
        security_cap_count() >= 64 ? UINT64_MAX : (UINT64_C(1) << security_cap_count()) - 1;

    want = cases[_i].none ? 0 : cases[_i].all ? all : default_mask();
    want = (want | cases[_i].plus) & ~cases[_i].minus;
    ck_assert_int_eq(security_caps_compute((char **)cases[_i].add, (char **)cases[_i].drop,
                                           cases[_i].privileged, &mask, NULL),
                     0);
    ck_assert_uint_eq(mask, want);
    ck_assert_uint_eq(security_caps_inheritable((char **)cases[_i].add, mask),
                      cases[_i].inh_is_mask ? mask : cases[_i].inh);
}
END_TEST

START_TEST(test_caps_unknown)
{
    PdError e = {0};
    uint64_t mask;
    char *add[] = {"FLY", NULL};

    ck_assert_int_eq(security_caps_compute(add, NULL, false, &mask, &e), -EINVAL);
    ck_assert_ptr_nonnull(strstr(e.message, "'FLY'"));
}
END_TEST

START_TEST(test_default_set)
{
    uint64_t m = default_mask();

    ck_assert_uint_eq(security_n_default_caps, 14);
    ck_assert(m & bit(CAP_NET_BIND_SERVICE));
    ck_assert(!(m & bit(CAP_SYS_ADMIN)));
    ck_assert(!(m & bit(CAP_NET_ADMIN)));
}
END_TEST

/*
 * Loads the default filter in a child (load: one way or the other) and checks
 * that it denies there, as it must, and only there.
 */
static void check_filter_in_child(int (*load)(const void *arg), const void *arg)
{
    pid_t pid = fork();
    int status;

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (load(arg) < 0)
            _exit(10);
        if (prctl(PR_GET_SECCOMP) != 2 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
            _exit(11);
        if (swapoff("/nonexistent") == 0 || errno != EPERM)
            _exit(12);
        if (unshare(CLONE_NEWUSER) == 0 || errno != EPERM)
            _exit(13);
        if (getpid() <= 0)
            _exit(14);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_int_eq(prctl(PR_GET_SECCOMP), 0);
}

static int load_default(const void *arg)
{
    (void)arg;
    return security_seccomp_load_default(true, NULL);
}

START_TEST(test_seccomp_denies)
{
    check_filter_in_child(load_default, NULL);
}
END_TEST

typedef struct Program {
    const void *prog;
    size_t len;
} Program;

static int load_program(const void *arg)
{
    const Program *p = arg;

    return security_seccomp_load_program(p->prog, p->len, true, NULL);
}

/* The compiled filter, loaded in another process, denies as the filter loaded directly does. */
START_TEST(test_seccomp_export_and_load)
{
    static unsigned char prog[32768], tiny[8];
    ssize_t len = security_seccomp_export_default(prog, sizeof(prog));
    PdError e = {0};

    ck_assert_int_gt(len, 0);
    ck_assert_int_eq(len % 8, 0); /* struct sock_filter */
    ck_assert_int_eq(security_seccomp_export_default(tiny, sizeof(tiny)), -ENOBUFS);
    ck_assert_int_eq(security_seccomp_load_program(prog, 7, true, &e), -EINVAL);
    ck_assert_int_eq(security_seccomp_load_program(prog, 0, true, NULL), -EINVAL);
    ck_assert_int_eq(prctl(PR_GET_SECCOMP), 0);
    check_filter_in_child(load_program, &(Program){prog, (size_t)len});
}
END_TEST

START_TEST(test_seccomp_list)
{
    bool mount = false, kexec = false;

    for (size_t i = 0; security_seccomp_denied[i]; i++) {
        mount = mount || streq(security_seccomp_denied[i], "mount");
        kexec = kexec || streq(security_seccomp_denied[i], "kexec_load");
    }
    ck_assert(mount && kexec);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("security");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_cap_names);
    tcase_add_loop_test(tc, test_caps_compute, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, test_caps_unknown);
    tcase_add_test(tc, test_default_set);
    tcase_add_test(tc, test_seccomp_denies);
    tcase_add_test(tc, test_seccomp_export_and_load);
    tcase_add_test(tc, test_seccomp_list);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
