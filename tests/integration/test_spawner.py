# SPDX-License-Identifier: Apache-2.0
"""podd's monitor spawner: the long-lived "podd-monitor spawner" child of podd
that forks each container's starter. It dies with podd while what it started
lives on; killed while pods start, no start is lost and podd starts another.
"""
import os
import signal
import subprocess
import tempfile
import time
import uuid

from conftest import alive, proc_stat_field, proc_start_time
from test_daemon import private_daemon, pod_yaml, unique, wait_for

import pytest


@pytest.fixture
def daemon(rootfs):
    yield from private_daemon(rootfs)


def spawners(daemon):
    """(pid, start time) of each "podd-monitor spawner" child of this podd."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        # Field 4: the parent's pid.
        if (argv[:2] == [b"podd-monitor", b"spawner"]
                and proc_stat_field(pid, 4) == daemon.proc.pid):
            start = proc_start_time(pid)
            if start is not None:
                found.append((pid, start))
    return found


def all_running(daemon, pods, ctrs):
    return all(daemon.ctr_pid(p, c) for p in pods for c in ctrs)


def test_one_spawner_starts_the_containers_and_dies_with_podd_while_they_live_on(daemon):
    pod = unique("sp")
    daemon.start()
    spawner = wait_for("the spawner", lambda: spawners(daemon))
    assert len(spawner) == 1
    daemon.write("sp.yaml", pod_yaml(pod, containers=[{"name": "a", "cmd": "sleep 3600"},
                                                      {"name": "b", "cmd": "sleep 3600"}]))
    wait_for("both containers", lambda: all_running(daemon, [pod], ["a", "b"]))
    # The same spawner did it: no start made podd run podd-monitor itself.
    assert spawners(daemon) == spawner
    assert "spawner" not in daemon.log()
    # Each monitor, a fork of the spawner that stays, keeps nothing of the spawner's: not its
    # socket, nor its copy of the mount namespace, nor podd's stdio, nor its ignored SIGCHLD;
    # and its command line names its container.
    for c in ("a", "b"):
        with open(os.path.join(daemon.ctr_dir(pod, c), "monitor.pid")) as f:
            mon = int(f.read().split()[0])

        def title():
            with open(f"/proc/{mon}/cmdline", "rb") as f:
                return f.read().rstrip(b"\0")
        # It lets go of all that once it answered podd, and then names its container: the
        # container's pid file, which we waited for, comes before both.
        wait_for("the monitor of %s settled" % c,
                 lambda: title() == f"podd-monitor default_{pod}_{c}".encode())
        fds = {int(fd): os.readlink(f"/proc/{mon}/fd/{fd}") for fd in os.listdir(f"/proc/{mon}/fd")}
        assert not [x for x in fds.values() if x.startswith(("socket:", "mnt:"))], fds
        assert [fds[i] for i in range(3)] == ["/dev/null"] * 3, fds
        with open(f"/proc/{mon}/status") as f:
            ign = [int(x.split()[1], 16) for x in f if x.startswith("SigIgn:")][0]
        assert not ign & (1 << (signal.SIGCHLD - 1))
    ctrs = [daemon.ctr_pid(pod, c) for c in ("a", "b")]
    daemon.kill9()
    wait_for("the spawner to die with podd", lambda: not alive(spawner[0]), timeout=5)
    time.sleep(0.3)
    assert all(alive(c) for c in ctrs)
    # A new podd adopts them, with a spawner of its own.
    daemon.start()
    wait_for("a new spawner", lambda: spawners(daemon))
    wait_for("the adopted pod running",
             lambda: (daemon.pod_state(pod) or {}).get("phase") == "Running")
    assert [daemon.ctr_pid(pod, c) for c in ("a", "b")] == ctrs


def setting_up(spawner):
    """The spawner's children that set a container up: forks that are not yet the monitor of a
    running container (which names it in its command line) and not the child that renews the
    spawner's mount namespace copy (in a namespace of its own)."""
    found = []
    with open(f"/proc/{spawner}/task/{spawner}/children") as f:
        children = [int(x) for x in f.read().split()]
    for pid in children:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            same_ns = os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink(f"/proc/{spawner}/ns/mnt")
        except OSError:
            continue
        if argv[:2] == [b"podd-monitor", b"spawner"] and same_ns:
            found.append(pid)
    return found


def test_at_most_twice_the_cpus_set_containers_up_at_once_the_others_wait_their_turn(daemon):
    """A cold start of many pods sets up two containers per CPU at once, not all of them: the
    others wait in the spawner, in order, and start as slots come free. Each container's log is
    a FIFO here, so that its monitor blocks in the set-up (opening the log) until we read it."""
    daemon.start()
    spawner = wait_for("the spawner", lambda: spawners(daemon))[0][0]
    slots = min(64, 2 * len(os.sched_getaffinity(spawner)))
    pods = [unique("slot") for _ in range(slots + 3)]
    for pod in pods:
        os.makedirs(os.path.join(daemon.logs, f"default_{pod}"))
        os.mkfifo(os.path.join(daemon.logs, f"default_{pod}", "a.log"))
    readers = []

    def read_logs():
        # Unblocks every monitor in its set-up, and every later one: each FIFO has a reader.
        for pod in pods[len(readers):]:
            readers.append(os.open(os.path.join(daemon.logs, f"default_{pod}", "a.log"),
                                   os.O_RDONLY | os.O_NONBLOCK))
    try:
        for pod in pods:
            daemon.write(pod + ".yaml",
                         pod_yaml(pod, containers=[{"name": "a", "cmd": "sleep 3600"}]))
        wait_for("%d containers in their set-up" % slots,
                 lambda: len(setting_up(spawner)) == slots, timeout=30)
        # Nothing more comes while they stay in it: the other three wait for a slot.
        time.sleep(0.5)
        assert len(setting_up(spawner)) == slots
        assert not any(daemon.ctr_pid(p, "a") for p in pods)
        read_logs()
        wait_for("all %d containers" % len(pods), lambda: all_running(daemon, pods, ["a"]),
                 timeout=30)
        assert setting_up(spawner) == []
    finally:
        read_logs()
        daemon.stop()
        for fd in readers:
            os.close(fd)


def test_containers_start_at_a_lower_cpu_priority_and_run_at_podds(daemon):
    """Making namespaces and mounts for many containers at once is batch work: the spawner and
    the monitors while they start run 10 nice levels below podd; the container's process, and
    the monitor once its container runs, at podd's own level."""
    pod = unique("nice")
    daemon.start()
    spawner = wait_for("the spawner", lambda: spawners(daemon))
    # Field 19: the nice level.
    podd_nice = proc_stat_field(daemon.proc.pid, 19)
    # It lowers itself as it starts, once exec'ed: slow under the sanitizers.
    wait_for("the spawner 10 levels below podd",
             lambda: proc_stat_field(spawner[0][0], 19) == min(19, podd_nice + 10))
    daemon.write("nice.yaml", pod_yaml(pod, containers=[
        {"name": "a", "cmd": "sleep 3600"}]))
    wait_for("the container", lambda: all_running(daemon, [pod], ["a"]))
    first = daemon.ctr_pid(pod, "a")[0]
    with open(os.path.join(daemon.ctr_dir(pod, "a"), "monitor.pid")) as f:
        mon = int(f.read().split()[0])
    # The container's process from its exec on (its pid may be written before), the monitor
    # once it answered podd.
    for what, pid in (("container's process", first), ("monitor", mon)):
        wait_for("the %s at podd's level" % what, lambda: proc_stat_field(pid, 19) == podd_nice)


def test_killing_the_spawner_while_pods_start_loses_no_container(daemon):
    first = [unique("k") for _ in range(10)]
    daemon.start()
    spawner = wait_for("the spawner", lambda: spawners(daemon))[0]
    for p in first:
        daemon.write(f"{p}.yaml", pod_yaml(p, containers=[{"name": "a", "cmd": "sleep 3600"},
                                                         {"name": "b", "cmd": "sleep 3600"}]))
    # In the middle of the starts: as soon as the first container of them runs.
    wait_for("a first container", lambda: any(daemon.ctr_pid(p, "a") or daemon.ctr_pid(p, "b")
                                              for p in first), interval=0.002)
    os.kill(spawner[0], signal.SIGKILL) if alive(spawner) else None
    wait_for("every container", lambda: all_running(daemon, first, ["a", "b"]), timeout=30)
    wait_for("podd to report the spawner's death",
             lambda: f"spawner (pid {spawner[0]}) was killed by signal 9" in daemon.log(),
             timeout=10)
    # podd starts another (at most once a second), for the next starts.
    time.sleep(1.1)
    second = [unique("k") for _ in range(3)]
    for p in second:
        daemon.write(f"{p}.yaml", pod_yaml(p, containers=[{"name": "a", "cmd": "sleep 3600"}]))
    wait_for("the later containers", lambda: all_running(daemon, second, ["a"]), timeout=30)
    assert "started podd-monitor spawner again" in daemon.log()
    now = spawners(daemon)
    assert len(now) == 1 and now[0] != spawner
    for p in first + second:
        assert daemon.restarts(p, "a") <= 1


def mountinfo(path):
    """The optional fields (propagation) of each mount at path, in mount order."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == path:
                found.append(fields[6:fields.index("-")])
    return found


def ns_ino(path):
    return os.stat(path).st_ino


def test_containers_cloned_without_the_pins_join_the_pins_made_after_the_spawner(daemon):
    """The spawner clones containers from a copy of podd's mount namespace
    without the pins under <run>/pods: pods made after the copy still start in
    their pinned namespaces, podd restarted adopts them and starts new pods;
    no mount is added on the host (the fixture checks that nothing is left)."""
    pods_dir = os.path.join(daemon.run, "pods")
    daemon.start()
    spawner = wait_for("the spawner", lambda: spawners(daemon))[0]
    with open("/proc/%d/cmdline" % spawner[0], "rb") as f:
        assert f.read().split(b"\0")[2] == pods_dir.encode()
    assert mountinfo(pods_dir) == []
    pod = unique("lean")
    daemon.write("lean.yaml", pod_yaml(pod, containers=[{"name": "a", "cmd": "sleep 3600"},
                                                        {"name": "b", "cmd": "sleep 3600"}]))
    wait_for("both containers", lambda: all_running(daemon, [pod], ["a", "b"]))
    pins = os.path.join(pods_dir, f"default_{pod}", "ns")
    for c in ("a", "b"):
        pid = daemon.ctr_pid(pod, c)[0]
        for ns in ("net", "uts", "ipc"):
            assert ns_ino(f"/proc/{pid}/ns/{ns}") == ns_ino(os.path.join(pins, ns)), (c, ns)
        # Its own mount namespace, as before, with no pin in it.
        assert ns_ino(f"/proc/{pid}/ns/mnt") != ns_ino("/proc/self/ns/mnt")
        with open(f"/proc/{pid}/mountinfo") as f:
            assert not [l for l in f if " nsfs " in l], c
    ctrs = [daemon.ctr_pid(pod, c) for c in ("a", "b")]
    daemon.kill9()
    wait_for("the spawner to die with podd", lambda: not alive(spawner), timeout=5)
    daemon.start()
    wait_for("a new spawner", lambda: spawners(daemon))
    wait_for("the adopted pod running",
             lambda: (daemon.pod_state(pod) or {}).get("phase") == "Running")
    assert [daemon.ctr_pid(pod, c) for c in ("a", "b")] == ctrs
    assert mountinfo(pods_dir) == []
    later = unique("lean")
    daemon.write("later.yaml", pod_yaml(later, containers=[{"name": "a", "cmd": "sleep 3600"}]))
    wait_for("the later pod's container", lambda: all_running(daemon, [later], ["a"]))
    pid = daemon.ctr_pid(later, "a")[0]
    assert ns_ino(f"/proc/{pid}/ns/net") == ns_ino(
        os.path.join(pods_dir, f"default_{later}", "ns", "net"))
    assert "spawner" not in daemon.log() and "mount namespace" not in daemon.log()


def test_a_host_path_mounted_after_podd_started_is_seen_by_the_container(daemon):
    """Containers with volumes are cloned from podd's own mount namespace: a
    mount made on the host after the spawner's copy is there as before."""
    host = os.path.join(daemon.top, "hostvol")
    os.makedirs(host)
    daemon.start()
    wait_for("the spawner", lambda: spawners(daemon))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "pins8-hostvol", host], check=True)
    try:
        with open(os.path.join(host, "mark"), "w") as f:
            f.write("on the tmpfs\n")
        pod = unique("hp")
        daemon.write("hp.yaml", pod_yaml(
            pod, containers=[{"name": "a", "cmd": "cat /hv/mark; sleep 3600",
                              "mounts": [("hv", "/hv")]}],
            extra_spec=f"  volumes:\n  - name: hv\n    hostPath:\n      path: {host}\n"))
        wait_for("the container's log", lambda: daemon.ctr_log(pod, "a"))
        assert daemon.ctr_log(pod, "a")[0] == "on the tmpfs"
        daemon.stop()
    finally:
        subprocess.run(["umount", "-l", host], check=False)


def spawner_mount_nss(spawner):
    """The mountinfo of each mount namespace the spawner holds an fd of."""
    found = []
    for fd in os.listdir(f"/proc/{spawner}/fd"):
        try:
            if not os.readlink(f"/proc/{spawner}/fd/{fd}").startswith("mnt:["):
                continue
        except OSError:
            continue
        out = subprocess.run(["nsenter", f"--mount=/proc/{spawner}/fd/{fd}",
                              "cat", "/proc/self/mountinfo"],
                             capture_output=True, text=True)
        if out.returncode == 0:
            found.append(out.stdout)
    return found


def test_a_file_system_unmounted_on_the_host_is_not_kept_by_the_spawners_copy(daemon):
    """The spawner's copy of podd's mount namespace is a snapshot where the
    host's mounts are private: it renews it after the host's mount table
    changed, so that a file system unmounted on the host (mounted before or
    after podd started) is not kept mounted, busy, in the copy."""
    mark = uuid.uuid4().hex[:8]
    dirs = {}
    for when in ("early", "late"):
        dirs[when] = tempfile.mkdtemp(prefix=f"podd-pins9-{when}-")
    mounted = []

    def mount(when):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", f"pins9-{when}-{mark}",
                        dirs[when]], check=True)
        mounted.append(dirs[when])

    def held():
        return [when for when in dirs for mi in spawner_mount_nss(spawner)
                if f" pins9-{when}-{mark} " in mi]

    try:
        mount("early")
        daemon.start()
        spawner = wait_for("the spawner", lambda: spawners(daemon))[0][0]
        mount("late")
        pod = unique("um")
        daemon.write("um.yaml", pod_yaml(pod, containers=[{"name": "a", "cmd": "sleep 3600"}]))
        wait_for("the container", lambda: all_running(daemon, [pod], ["a"]))
        assert spawner_mount_nss(spawner), "the spawner holds no mount namespace copy"
        for d in list(mounted):
            subprocess.run(["umount", d], check=True)
            mounted.remove(d)
        wait_for("no copy of the spawner's to hold the unmounted tmpfs",
                 lambda: not held(), timeout=5, interval=0.2)
        # It still clones from a copy, and pods still start.
        assert spawner_mount_nss(spawner), "the spawner dropped its mount namespace copy"
        later = unique("um")
        daemon.write("later.yaml", pod_yaml(later, containers=[{"name": "a", "cmd": "sleep 3600"}]))
        wait_for("the later container", lambda: all_running(daemon, [later], ["a"]))
        assert spawners(daemon)[0][0] == spawner
        assert "mount namespace" not in daemon.log()
    finally:
        for d in mounted:
            subprocess.run(["umount", "-l", d], check=False)
        for d in dirs.values():
            os.rmdir(d)


def spawner_copies(spawner):
    """The mount namespaces (mnt:[inode]) the spawner holds an fd of: its copy, and its own."""
    found = set()
    for fd in os.listdir(f"/proc/{spawner}/fd"):
        try:
            link = os.readlink(f"/proc/{spawner}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("mnt:["):
            found.add(link)
    return found


def mounts_a_copy_keeps(pid, pins_dir):
    """The mounts of process pid's mount table that the spawner's copy keeps: all but the
    namespace pins and what is below pins_dir (native_lean_mounts_digest())."""
    kept = set()
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            fields = line.split()
            mp, fstype = fields[4], fields[fields.index("-") + 1]
            if fstype != "nsfs" and not mp.startswith(pins_dir + "/"):
                kept.add(line)
    return kept


def test_pods_made_and_removed_do_not_renew_the_spawners_copy(daemon):
    """The pods' namespace pins are all that changes in podd's mount table as pods come
    and go: a copy made anew would leave them out again (unmounting each one, an RCU grace
    period apiece), so the spawner keeps its copy; a mount elsewhere still renews it.
    Other tests may mount and unmount meanwhile: a try in which podd's mount table changed
    but for the pins is made again."""
    pins_dir = os.path.join(daemon.run, "pods")
    daemon.start()
    spawner = wait_for("the spawner", lambda: spawners(daemon))[0][0]
    for attempt in range(6):
        # A copy that stays while the mounts it keeps stay, past the spawner's once-a-second
        # look at its mount table.
        table, copies = mounts_a_copy_keeps(daemon.proc.pid, pins_dir), spawner_copies(spawner)
        time.sleep(1.5)
        if (mounts_a_copy_keeps(daemon.proc.pid, pins_dir) != table
                or spawner_copies(spawner) != copies):
            continue
        assert copies
        pods = [unique("keep") for _ in range(3)]
        for p in pods:
            daemon.write(f"{p}.yaml", pod_yaml(p, containers=[{"name": "a",
                                                               "cmd": "sleep 3600"}]))
            wait_for("the container", lambda: all_running(daemon, [p], ["a"]))
        os.unlink(os.path.join(daemon.manifests, f"{pods[0]}.yaml"))
        wait_for("the pod gone", lambda: not os.path.exists(daemon.ctr_dir(pods[0], "a")))
        time.sleep(2.5)
        if mounts_a_copy_keeps(daemon.proc.pid, pins_dir) != table:
            continue
        assert spawner_copies(spawner) == copies
        break
    else:
        raise AssertionError("podd's mount table never stayed the same (but the pins) "
                             "for 5 s in 6 tries")
    host = tempfile.mkdtemp(prefix="podd-keep-")
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "keep", host], check=True)
        wait_for("a new copy after a mount on the host",
                 lambda: spawner_copies(spawner) - copies, timeout=5, interval=0.2)
    finally:
        subprocess.run(["umount", "-l", host], check=False)
        os.rmdir(host)
    later = unique("keep")
    daemon.write("later.yaml", pod_yaml(later, containers=[{"name": "a", "cmd": "sleep 3600"}]))
    wait_for("a container cloned from the new copy", lambda: all_running(daemon, [later], ["a"]))
    assert "mount namespace" not in daemon.log()
