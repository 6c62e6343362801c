#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Container start-to-exit latency of podd-monitor (native runtime) next to
the floor and `runc run` on the same busybox rootfs, measured in the same
run; then the monitor's RSS and PSS while its container sleeps.

The floor (issue 8, and every ratio of bench_daemon.py): `unshare --fork
--pid --mount --uts --ipc` and a chroot into the busybox rootfs, running
/bin/true; see floor_argv().
Each sample of podd-monitor is the time from spawning it to the moment its
exit record exists and the monitor has exited (watched through a pidfd).
Run as root: python3 tests/bench/bench_runtime.py --monitor ./podd-monitor
"""
import argparse
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TARGET_FLOOR_RATIO = 3.0
TARGET_RUNC_SPEEDUP = 4.0
TARGET_PSS_KIB = 200


def build_rootfs(top):
    root = os.path.join(top, "rootfs")
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp"):
        os.makedirs(os.path.join(root, d))
    shutil.copy2("/bin/busybox", os.path.join(root, "bin", "busybox"))
    for a in ("sh", "true", "sleep"):
        os.symlink("busybox", os.path.join(root, "bin", a))
    with open(os.path.join(root, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/:/bin/sh\n")
    return root


def monitor_config(top, root, name, args):
    run = os.path.join(top, "run", name)
    os.makedirs(run, exist_ok=True)
    cfg = {
        "id": name, "image": "busybox", "imageDir": root, "runDir": run, "args": args,
        "env": ["PATH=/bin"], "hostname": name, "cgroup": "podd-bench/%s" % name,
        "logPath": os.path.join(top, "log", name + ".log"),
        "monitorPidFile": os.path.join(run, "monitor.pid"),
        "pidFile": os.path.join(run, "container.pid"), "exitFile": os.path.join(run, "exit.json"),
    }
    path = os.path.join(run, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return cfg, path


def floor_argv(root):
    """The floor: new pid, mount, uts and ipc namespaces, chroot into root, /bin/true."""
    return ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "chroot", root, "/bin/true"]


def floor_samples(root, runs, cpu=None):
    """runs samples of the floor's wall time, in seconds, after one to warm the caches. With a
    list as cpu, appends each sample's CPU time (utime + stime of unshare and the processes it
    waited for), which other load on the host inflates far less than the wall time."""
    argv = floor_argv(root)
    run_cmd_once(argv)
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        out.append(time.perf_counter() - t0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            raise SystemExit("floor: %s exited %d" % (" ".join(argv), p.returncode))
        if cpu is not None:
            cpu.append(ru.ru_utime + ru.ru_stime)
    return out


def run_monitor_once(monitor, cfg, path):
    for k in ("exitFile", "pidFile", "monitorPidFile"):
        try:
            os.unlink(cfg[k])
        except FileNotFoundError:
            pass
    t0 = time.perf_counter()
    subprocess.run([monitor, path], check=True)
    with open(cfg["monitorPidFile"]) as f:
        pid = int(f.read().split()[0])
    try:
        fd = os.pidfd_open(pid)
        select.select([fd], [], [], 30)
        os.close(fd)
    except ProcessLookupError:
        pass
    t1 = time.perf_counter()
    with open(cfg["exitFile"]) as f:
        rec = json.load(f)
    if rec["exitCode"] != 0:
        raise SystemExit("container failed: %s" % rec)
    return t1 - t0


def run_cmd_once(argv):
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def runc_bundle(top, root):
    bundle = os.path.join(top, "bundle")
    os.makedirs(bundle)
    subprocess.run(["runc", "spec", "--bundle", bundle], check=True)
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.load(f)
    spec["root"] = {"path": root, "readonly": True}
    spec["process"]["args"] = ["/bin/true"]
    spec["process"]["terminal"] = False
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    return bundle


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def memory_of(pid):
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Rss", "Pss"):
                out[k] = int(v.split()[0])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--monitor", required=True)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--no-runc", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("bench: needs root; skipped")
        return 0
    monitor = os.path.abspath(a.monitor)
    top = tempfile.mkdtemp(prefix="podd-bench-")
    try:
        root = build_rootfs(top)
        cfg, path = monitor_config(top, root, "true", ["/bin/true"])
        floor_cmd = floor_argv(root)
        have_runc = not a.no_runc and shutil.which("runc")
        bundle = runc_bundle(top, root) if have_runc else None
        results = {"podd-monitor": [], "floor": [], "runc": []}
        # Warm up caches, then interleave so that all three see the same machine state.
        run_monitor_once(monitor, cfg, path)
        run_cmd_once(floor_cmd)
        for i in range(a.runs):
            results["podd-monitor"].append(run_monitor_once(monitor, cfg, path))
            results["floor"].append(run_cmd_once(floor_cmd))
            if bundle:
                results["runc"].append(run_cmd_once(["runc", "run", "--bundle", bundle,
                                                     "podd-bench-%d-%d" % (os.getpid(), i)]))
        print("start -> exit of /bin/true, %d runs each (ms); floor: %s"
              % (a.runs, " ".join(floor_argv("ROOTFS"))))
        print("%-14s %9s %9s %14s" % ("runtime", "median", "p95", "median ratio"))
        med = {k: statistics.median(v) for k, v in results.items() if v}
        for k, v in results.items():
            if not v:
                print("%-14s %9s %9s %14s" % (k, "-", "-", "not installed"))
                continue
            print("%-14s %9.2f %9.2f %13.2fx" % (k, med[k] * 1e3, pct(v, 95) * 1e3,
                                                med[k] / med["floor"]))
        ok = True
        floor = med["podd-monitor"] / med["floor"]
        print("podd-monitor / floor: %.2fx (target <= %.1fx) %s" % (
            floor, TARGET_FLOOR_RATIO, "ok" if floor <= TARGET_FLOOR_RATIO else "MISSED"))
        ok = ok and floor <= TARGET_FLOOR_RATIO
        if "runc" in med:
            speedup = med["runc"] / med["podd-monitor"]
            print("runc / podd-monitor: %.2fx faster (target >= %.1fx) %s" % (
                speedup, TARGET_RUNC_SPEEDUP, "ok" if speedup >= TARGET_RUNC_SPEEDUP else "MISSED"))
            ok = ok and speedup >= TARGET_RUNC_SPEEDUP

        scfg, spath = monitor_config(top, root, "sleep", ["sleep", "30"])
        subprocess.run([monitor, spath], check=True)
        time.sleep(0.3)
        with open(scfg["monitorPidFile"]) as f:
            mpid = int(f.read().split()[0])
        with open(scfg["pidFile"]) as f:
            cpid, cstart = (int(x) for x in f.read().split())
        mem = memory_of(mpid)
        print("podd-monitor started alone (podd's own are forks of its spawner: bench_daemon.py) "
              "while its container sleeps: RSS %d KiB, PSS %d KiB "
              "(target PSS <= %d KiB) %s" % (mem["Rss"], mem["Pss"], TARGET_PSS_KIB,
                                             "ok" if mem["Pss"] <= TARGET_PSS_KIB else "MISSED"))
        os.kill(cpid, 9)
        fd = os.pidfd_open(mpid)
        select.select([fd], [], [], 10)
        os.close(fd)
        if not ok:
            print("(targets missed: see the numbers above; the run still succeeded)")
        return 0
    finally:
        for name in ("true", "sleep"):
            for ctl in ("memory", "cpu", "pids", ""):
                try:
                    os.rmdir(os.path.join("/sys/fs/cgroup", ctl, "podd-bench", name))
                except OSError:
                    pass
        for ctl in ("memory", "cpu", "pids", ""):
            try:
                os.rmdir(os.path.join("/sys/fs/cgroup", ctl, "podd-bench"))
            except OSError:
                pass
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
