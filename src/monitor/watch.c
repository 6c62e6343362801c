/* SPDX-License-Identifier: Apache-2.0 */
/*
 * podd-monitor-watch: what podd-monitor execs itself into once its
 * container runs. Exec keeps our pid, our children, the subreaper flag,
 * blocked (and pending) signals and the pipe fds, and drops everything the
 * start needed (JSON parser, seccomp, libcap, their pages and the heap), so
 * the process that stays for the container's lifetime maps libc only.
 *
 *   podd-monitor-watch PID OUT_FD ERR_FD STARTED_AT EXIT_FILE LOG_PATH|- LOG_MAX CGROUP|-
 *
 * Internal: only podd-monitor runs it.
 */
#include <stdio.h>

#include "monitor.h"
#include "runtime/runtime.h"

static bool parse_num(const char *s, int64_t min, int64_t *ret)
{
    return parse_int64(s, ret) >= 0 && *ret >= min;
}

int main(int argc, char **argv)
{
    int64_t pid, out_fd, err_fd, log_max;
    WatchArgs a;

    if (argc != 9 || !parse_num(argv[1], 1, &pid) || !parse_num(argv[2], -1, &out_fd) ||
        !parse_num(argv[3], -1, &err_fd) || !parse_num(argv[7], 0, &log_max) || argv[5][0] != '/') {
        fprintf(stderr, "podd-monitor-watch: internal helper of podd-monitor\n");
        return 2;
    }
    cgroup_set_root(getenv("PODD_CGROUP_ROOT")); /* kept across podd-monitor's exec */
    a = (WatchArgs){
        .pid = (pid_t)pid,
        .out_fd = (int)out_fd,
        .err_fd = (int)err_fd,
        .started_at = argv[4],
        .exit_file = argv[5],
        .log_path = streq(argv[6], "-") ? NULL : argv[6],
        .log_max_bytes = (uint64_t)log_max,
        .cgroup = streq(argv[8], "-") ? NULL : argv[8],
        .lock_fd = -1, /* inherited, unknown and never closed: see exec_watcher() */
    };
    return monitor_watch(&a);
}
