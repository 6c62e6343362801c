/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * security: capabilities (libcap) and the default seccomp filter
 * (libseccomp) that containers run with. The functions that change the
 * calling process are meant for the container's child, just before exec.
 * Nothing here logs.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/base.h"

/* The capabilities container runtimes grant by default (Docker's/containerd's set). */
extern const int security_default_caps[];
extern const size_t security_n_default_caps;

/* Highest capability number this kernel knows + 1 (from libcap's cap_max_bits()). */
unsigned security_cap_count(void);

/* "CAP_CHOWN", "chown" or "CHOWN" -> CAP_CHOWN; -EINVAL when unknown. */
int security_cap_from_name(const char *name);

/*
 * The effective set of a container as a bit mask (bit N = capability N):
 * privileged -> every capability; otherwise the default set, "ALL" in drop
 * clears it, then add ("ALL" allowed) and drop are applied as Kubernetes does.
 * reterr names an unknown capability.
 */
int security_caps_compute(char *const *add, char *const *drop, bool privileged, uint64_t *ret_mask,
                          PdError *reterr);

/*
 * The inheritable set of a container whose effective set is mask: the
 * capabilities its manifest adds by name (all of mask for "ALL"), nothing
 * otherwise, privileged or not. A non-empty inheritable set by default lets
 * any program with inheritable file capabilities gain them, even under a
 * non-root user (CVE-2022-24769); runc, crun and containerd leave it empty.
 */
uint64_t security_caps_inheritable(char *const *add, uint64_t mask);

/* Removes every capability not in mask from the bounding set (needs CAP_SETPCAP). */
int security_caps_drop_bounding(uint64_t mask, PdError *reterr);
/*
 * Sets effective and permitted to mask (limited to what the caller holds),
 * inheritable to inheritable (limited to that mask; see
 * security_caps_inheritable()) and clears the ambient set.
 */
int security_caps_apply(uint64_t mask, uint64_t inheritable, PdError *reterr);

/*
 * Loads the default deny-list: module loading, kexec, reboot, mount and the
 * new mount API, swap, keyrings, bpf, perf_event_open, clock setting,
 * pivot_root, setns, user namespace creation (unshare/clone with
 * CLONE_NEWUSER; clone3 answers ENOSYS so libc falls back to clone) and a
 * few obsolete or dangerous calls: each fails with EPERM. set_nnp sets
 * no_new_privs as a side effect (libseccomp's default); without it the
 * caller needs CAP_SYS_ADMIN.
 */
int security_seccomp_load_default(bool set_nnp, PdError *reterr);
/*
 * The same filter compiled to classic BPF (struct sock_filter[]) in buf, for
 * security_seccomp_load_program() in another process: compiling takes
 * libseccomp about as long as a container's mounts, so podd-monitor does it
 * meanwhile. Returns the length in bytes or -errno (-ENOBUFS: size too small).
 */
ssize_t security_seccomp_export_default(void *buf, size_t size);
/*
 * Loads a program from security_seccomp_export_default() as
 * security_seccomp_load_default() loads the filter: no_new_privs first when
 * set_nnp, then seccomp(2) without flags.
 */
int security_seccomp_load_program(const void *prog, size_t len, bool set_nnp, PdError *reterr);

/* The names the default filter denies (for tests and documentation), NULL-terminated. */
extern const char *const security_seccomp_denied[];
