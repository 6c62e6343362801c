# SPDX-License-Identifier: Apache-2.0
"""podd's monitor spawner: the long-lived "podd-monitor spawner" child of podd
that forks each container's starter. It dies with podd while what it started
lives on; killed while pods start, no start is lost and podd starts another.
"""
import os
import signal
import time

from conftest import alive, proc_start_time
from test_daemon import private_daemon, pod_yaml, unique, wait_for

import pytest


@pytest.fixture
def daemon(rootfs):
    yield from private_daemon(rootfs)


def ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    return int(data[data.rindex(")") + 2:].split()[1])


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
        if argv[:2] == [b"podd-monitor", b"spawner"] and ppid(pid) == daemon.proc.pid:
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
    # Each monitor starts from what an exec would give it: nothing of the spawner's.
    for c in ("a", "b"):
        with open(os.path.join(daemon.ctr_dir(pod, c), "monitor.pid")) as f:
            mon = int(f.read().split()[0])
        fds = [os.readlink(f"/proc/{mon}/fd/{fd}") for fd in os.listdir(f"/proc/{mon}/fd")]
        assert not [x for x in fds if x.startswith("socket:")], fds
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
