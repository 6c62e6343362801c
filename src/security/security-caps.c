/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <stdio.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "security.h"

const int security_default_caps[] = {
    CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
    CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
    CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
    CAP_KILL,    CAP_AUDIT_WRITE,
};
const size_t security_n_default_caps = ELEMENTSOF(security_default_caps);

unsigned security_cap_count(void)
{
    unsigned n = cap_max_bits();

    return n > 64 ? 64 : n;
}

int security_cap_from_name(const char *name)
{
    char buf[64];
    cap_value_t v;
    size_t i;

    if (strncasecmp(name, "CAP_", 4) == 0)
        name += 4;
    if (!name[0] || strlen(name) + 5 > sizeof(buf))
        return -EINVAL;
    (void)snprintf(buf, sizeof(buf), "cap_%s", name);
    for (i = 0; buf[i]; i++) {
        if (!isalnum((unsigned char)buf[i]) && buf[i] != '_')
            return -EINVAL;
        buf[i] = (char)tolower((unsigned char)buf[i]);
    }
    if (cap_from_name(buf, &v) < 0 || v < 0 || (unsigned)v >= 64)
        return -EINVAL;
    return (int)v;
}

static uint64_t all_caps(void)
{
    unsigned n = security_cap_count();

    return n >= 64 ? UINT64_MAX : (UINT64_C(1) << n) - 1;
}

int security_caps_compute(char *const *add, char *const *drop, bool privileged, uint64_t *ret_mask,
                          PdError *reterr)
{
    uint64_t mask = 0;

    if (privileged) {
        *ret_mask = all_caps();
        return 0;
    }
    for (size_t i = 0; i < security_n_default_caps; i++)
        mask |= UINT64_C(1) << security_default_caps[i];
    for (size_t i = 0; drop && drop[i]; i++)
        if (strcasecmp(drop[i], "ALL") == 0)
            mask = 0;
    for (size_t i = 0; add && add[i]; i++) {
        int v;

        if (strcasecmp(add[i], "ALL") == 0) {
            mask = all_caps();
            continue;
        }
        v = security_cap_from_name(add[i]);
        if (v < 0)
            return pd_error_set(reterr, -EINVAL, "capabilities.add: unknown capability '%s'",
                                add[i]);
        mask |= UINT64_C(1) << v;
    }
    for (size_t i = 0; drop && drop[i]; i++) {
        int v;

        if (strcasecmp(drop[i], "ALL") == 0)
            continue;
        v = security_cap_from_name(drop[i]);
        if (v < 0)
            return pd_error_set(reterr, -EINVAL, "capabilities.drop: unknown capability '%s'",
                                drop[i]);
        mask &= ~(UINT64_C(1) << v);
    }
    *ret_mask = mask & all_caps();
    return 0;
}

uint64_t security_caps_inheritable(char *const *add, uint64_t mask)
{
    uint64_t added = 0;

    for (size_t i = 0; add && add[i]; i++) {
        int v;

        if (strcasecmp(add[i], "ALL") == 0)
            return mask;
        v = security_cap_from_name(add[i]);
        if (v >= 0)
            added |= UINT64_C(1) << v;
    }
    return added & mask;
}

int security_caps_drop_bounding(uint64_t mask, PdError *reterr)
{
    unsigned n = security_cap_count();

    for (unsigned v = 0; v < n; v++) {
        if (mask & (UINT64_C(1) << v))
            continue;
        if (cap_drop_bound((cap_value_t)v) < 0 && errno != EINVAL)
            return pd_error_set(reterr, -errno, "drop capability %u from the bounding set: %s", v,
                                strerror(errno));
    }
    return 0;
}

/* The capabilities the calling process holds in its permitted set, as a mask. */
static uint64_t caps_permitted(void)
{
    cap_t cur = cap_get_proc();
    uint64_t m = 0;

    if (!cur)
        return 0;
    for (unsigned v = 0; v < security_cap_count(); v++) {
        cap_flag_value_t f = CAP_CLEAR;

        if (cap_get_flag(cur, (cap_value_t)v, CAP_PERMITTED, &f) == 0 && f == CAP_SET)
            m |= UINT64_C(1) << v;
    }
    cap_free(cur);
    return m;
}

int security_caps_apply(uint64_t mask, uint64_t inheritable, PdError *reterr)
{
    cap_t caps;
    cap_value_t list[64], inh[64];
    int n = 0, n_inh = 0, r = 0;

    /* "All" can only mean all that we have: a host may withhold some (CAP_SYS_RESOURCE...). */
    mask &= caps_permitted();
    /* Inheritable beyond permitted is refused by the kernel without CAP_SETPCAP; never wanted. */
    inheritable &= mask;
    for (unsigned v = 0; v < security_cap_count(); v++) {
        if (mask & (UINT64_C(1) << v))
            list[n++] = (cap_value_t)v;
        if (inheritable & (UINT64_C(1) << v))
            inh[n_inh++] = (cap_value_t)v;
    }
    caps = cap_init();
    if (!caps)
        return -ENOMEM;
    if ((n > 0 && (cap_set_flag(caps, CAP_EFFECTIVE, n, list, CAP_SET) < 0 ||
                   cap_set_flag(caps, CAP_PERMITTED, n, list, CAP_SET) < 0)) ||
        (n_inh > 0 && cap_set_flag(caps, CAP_INHERITABLE, n_inh, inh, CAP_SET) < 0) ||
        cap_set_proc(caps) < 0)
        r = pd_error_set(reterr, -errno, "set capabilities: %s", strerror(errno));
    cap_free(caps);
    if (r == 0 && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        r = pd_error_set(reterr, -errno, "clear ambient capabilities: %s", strerror(errno));
    return r;
}
