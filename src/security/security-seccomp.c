/* SPDX-License-Identifier: Apache-2.0 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "security.h"

/* Denied outright with EPERM (the spirit of Docker's default profile, as a deny-list). */
const char *const security_seccomp_denied[] = {
    /* kernel modules, kexec, reboot */
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "query_module",
    "get_kernel_syms",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    /* mounts, old and new API */
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    /* swap, keyrings, bpf, perf */
    "swapon",
    "swapoff",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    /* clocks */
    "clock_settime",
    "clock_settime64",
    "clock_adjtime",
    "clock_adjtime64",
    "settimeofday",
    "adjtimex",
    "stime",
    /* namespaces: joining is denied, creating a user namespace below */
    "setns",
    /* obsolete or dangerous */
    "acct",
    "iopl",
    "ioperm",
    "lookup_dcookie",
    "nfsservctl",
    "open_by_handle_at",
    "quotactl",
    "quotactl_fd",
    "uselib",
    "userfaultfd",
    "vm86",
    "vm86old",
    "_sysctl",
    "syslog",
    "vhangup",
    NULL,
};

static int add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n_args,
                    const struct scmp_arg_cmp *args, PdError *reterr)
{
    int nr = seccomp_syscall_resolve_name(name), r;

    if (nr == __NR_SCMP_ERROR)
        return 0; /* unknown to this libseccomp: nothing to deny */
    r = seccomp_rule_add_array(ctx, action, nr, n_args, args);
    /* -EDOM/-EINVAL: the call does not exist on one of the filter's architectures. */
    if (r < 0 && r != -EDOM && r != -EINVAL && r != -EEXIST)
        return pd_error_set(reterr, r, "seccomp: rule for %s: %s", name, strerror(-r));
    return 0;
}

/* The default filter, not loaded, in *ret (for seccomp_release()). */
static int build_default(bool set_nnp, scmp_filter_ctx *ret, PdError *reterr)
{
    scmp_filter_ctx ctx;
    struct scmp_arg_cmp newuser = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER);
    int r = 0;

    ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return pd_error_set(reterr, -ENOMEM, "seccomp: cannot create a filter");
    if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
        /* 32-bit and x32 entry points must not bypass the filter. */
        (void)seccomp_arch_add(ctx, SCMP_ARCH_X86);
        (void)seccomp_arch_add(ctx, SCMP_ARCH_X32);
    }
    if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, set_nnp ? 1 : 0) < 0) {
        seccomp_release(ctx);
        return pd_error_set(reterr, -EINVAL, "seccomp: cannot configure no_new_privs");
    }
    /*
     * The syscall numbers as a binary tree, not a chain: the same verdicts,
     * but attaching the filter runs it in the kernel for every syscall of
     * each architecture (to fill its cache of constant verdicts), with
     * interrupts off: ~250 us per container with the ~50 rules as a chain,
     * ~100 us as a tree. Optional: a libseccomp that lacks it builds the chain.
     */
    (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    for (size_t i = 0; r == 0 && security_seccomp_denied[i]; i++)
        r = add_rule(ctx, SCMP_ACT_ERRNO(EPERM), security_seccomp_denied[i], 0, NULL, reterr);
    if (r == 0)
        r = add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "unshare", 1, &newuser, reterr);
    if (r == 0)
        r = add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, &newuser, reterr);
    /* clone3 passes its flags in memory, out of a filter's reach: libc then uses clone. */
    if (r == 0)
        r = add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, reterr);
    if (r < 0) {
        seccomp_release(ctx);
        return r;
    }
    *ret = ctx;
    return 0;
}

int security_seccomp_load_default(bool set_nnp, PdError *reterr)
{
    scmp_filter_ctx ctx;
    int r = build_default(set_nnp, &ctx, reterr);

    if (r < 0)
        return r;
    r = seccomp_load(ctx);
    if (r < 0)
        r = pd_error_set(reterr, r, "seccomp: load the default filter: %s", strerror(-r));
    seccomp_release(ctx);
    return r;
}

ssize_t security_seccomp_export_default(void *buf, size_t size)
{
    scmp_filter_ctx ctx;
    _cleanup_close_ int fd = -1;
    ssize_t n = -EIO;
    off_t len;
    int r = build_default(false, &ctx, NULL);

    if (r < 0)
        return r;
    fd = memfd_create("podd-seccomp", MFD_CLOEXEC);
    if (fd < 0) {
        n = -errno;
        goto out;
    }
    r = seccomp_export_bpf(ctx, fd);
    if (r < 0) {
        n = r;
        goto out;
    }
    len = lseek(fd, 0, SEEK_END);
    if (len <= 0 || len % (off_t)sizeof(struct sock_filter) != 0 ||
        len / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS)
        goto out;
    if ((size_t)len > size) {
        n = -ENOBUFS;
        goto out;
    }
    n = pread(fd, buf, (size_t)len, 0);
    if (n < 0)
        n = -errno;
    else if (n != len)
        n = -EIO;
out:
    seccomp_release(ctx);
    return n;
}

int security_seccomp_load_program(const void *prog, size_t len, bool set_nnp, PdError *reterr)
{
    struct sock_fprog fprog = {
        .len = (unsigned short)(len / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)prog,
    };

    if (len == 0 || len % sizeof(struct sock_filter) != 0 ||
        len / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return pd_error_set(reterr, -EINVAL, "seccomp: a compiled filter of %zu bytes", len);
    if (set_nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return pd_error_set(reterr, -errno, "seccomp: set no_new_privs: %s", strerror(errno));
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
        return pd_error_set(reterr, -errno, "seccomp: load the default filter: %s",
                            strerror(errno));
    return 0;
}
