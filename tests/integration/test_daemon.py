# SPDX-License-Identifier: Apache-2.0
"""The real podd daemon in private directories, driving real containers.

Each test starts podd with its own manifest, state, run and log directories,
drops manifests in and watches what happens through the files podd and its
monitors write (state.json, pid files, container logs) and podd's own log.
Every process is stopped by its recorded pid; nothing is left behind.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import (STATE_SLOTS, alive, builddir, cgroup_dirs, mounts_under, proc_start_time,
                      read_pod_state)


def wait_for(what, cond, timeout=15.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Daemon:
    def __init__(self, rootfs, top):
        self.top = top
        self.manifests = os.path.join(top, "manifests")
        self.state = os.path.join(top, "state")
        self.run = os.path.join(top, "run")
        self.logs = os.path.join(top, "log")
        os.makedirs(self.manifests)
        image = os.path.join(self.state, "images", "busybox", "latest")
        shutil.copytree(rootfs, image, symlinks=True)
        self.proc = None
        self.generation = 0
        self.log_path = None
        self.extra = []
        self.preexec = None  # run in podd's process before its exec
        self.env = None  # podd's environment, when not ours

    def start(self, *extra):
        self.generation += 1
        self.log_path = os.path.join(self.top, f"podd-{self.generation}.log")
        args = [os.path.join(builddir(), "podd"), "--manifest-dir", self.manifests,
                "--state-dir", self.state, "--run-dir", self.run, "--log-dir", self.logs,
                "--on-exit", "stop", "--restart-backoff", "initial=1s,max=4s,reset=10m",
                *extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log_path, "w"), preexec_fn=self.preexec,
                                     env=self.env)
        wait_for("podd to start",
                 lambda: "podd 0.1" in self.log() or self.proc.poll() is not None, timeout=30)
        # A podd that died at start says why: its exit status and its log.
        assert self.proc.poll() is None, (
            f"podd exited with {self.proc.returncode} at start:\n{self.log()[-2000:]}")
        return self

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # Say what podd was doing: its log, then stop it for good.
                self.kill9()
                raise AssertionError(f"podd did not stop within {timeout}s of SIGTERM; its log "
                                     f"ends:\n{self.log()[-3000:]}")
        return self.proc.returncode

    def write(self, name, text):
        """Writes a manifest the way editors do: a temporary file renamed into place."""
        tmp = os.path.join(self.manifests, f".{name}.swp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(self.manifests, name))

    def pod_state(self, pod):
        return read_pod_state(self.state, pod)

    def ctr_dir(self, pod, ctr):
        return os.path.join(self.run, "containers", f"default_{pod}_{ctr}")

    def ctr_pid(self, pod, ctr):
        """(pid, start time) of the container's first process while it runs, else None."""
        try:
            with open(os.path.join(self.ctr_dir(pod, ctr), "container.pid")) as f:
                pid, start = (int(x) for x in f.read().split())
        except (OSError, ValueError):
            return None
        return (pid, start) if alive((pid, start)) else None

    def ctr_cgroup(self, pod, ctr):
        """The container's cgroup (relative to each hierarchy's root), from its config."""
        with open(os.path.join(self.ctr_dir(pod, ctr), "config.json")) as f:
            return json.load(f)["cgroup"]

    def cgroup_parent(self):
        """Where this instance puts its containers' cgroups, as its start line says."""
        line = [x for x in self.log().splitlines() if "podd 0.1" in x][-1]
        return line.rsplit(", cgroups ", 1)[1].strip()

    def ctr_log(self, pod, ctr):
        try:
            with open(os.path.join(self.logs, f"default_{pod}", f"{ctr}.log")) as f:
                return [line.split(" ", 3)[3].rstrip("\n") for line in f if line.count(" ") >= 3]
        except OSError:
            return []

    def ctr_log_times(self, pod, ctr):
        """The CRI timestamps of the container's log lines, as seconds."""
        import datetime
        times = []
        try:
            with open(os.path.join(self.logs, f"default_{pod}", f"{ctr}.log")) as f:
                for line in f:
                    stamp = line.split(" ", 1)[0]
                    whole, frac = stamp.rstrip("Z").split(".")
                    t = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S")
                    times.append(t.replace(tzinfo=datetime.timezone.utc).timestamp()
                                 + float("0." + frac))
        except OSError:
            pass
        return times

    def restarts(self, pod, ctr):
        st = self.pod_state(pod)
        return st["containers"][ctr]["restartCount"] if st else -1

    def leftovers(self):
        """Monitors and containers still alive, by their pid files."""
        alive = []
        for root, _, files in os.walk(os.path.join(self.run, "containers")):
            for name in ("monitor.pid", "container.pid"):
                if name in files:
                    try:
                        with open(os.path.join(root, name)) as f:
                            pid, start = (int(x) for x in f.read().split())
                    except (OSError, ValueError):
                        continue
                    if proc_start_time(pid) == start:
                        alive.append((pid, start))
        return alive


def private_daemon(rootfs):
    top = tempfile.mkdtemp(prefix="podd-daemon-")
    d = Daemon(rootfs, top)
    yield d
    problems = []
    if d.proc and d.proc.poll() is None:
        try:
            d.stop(timeout=60)
        except AssertionError as e:
            problems.append(str(e))
    for pid, start in d.leftovers():
        problems.append(f"process {pid} left running")
        if proc_start_time(pid) == start:
            os.kill(pid, signal.SIGKILL)
    if mounts_under(top):
        problems.append(f"mounts left: {mounts_under(top)}")
        for mp in sorted(mounts_under(top), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False)
    shutil.rmtree(top, ignore_errors=True)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def daemon(rootfs):
    yield from private_daemon(rootfs)


@pytest.fixture
def other_daemon(rootfs):
    """A second instance: its own state, run, log and manifest directories."""
    yield from private_daemon(rootfs)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def pod_yaml(name, containers, init=(), extra_spec="", annotations=None, grace=1):
    def ctrs(items, indent="  "):
        out = []
        for c in items:
            out.append(f"{indent}- name: {c['name']}\n{indent}  image: busybox:latest\n"
                       f"{indent}  command: [sh, -c, {json.dumps(c['cmd'])}]\n")
            for key in ("restartPolicy",):
                if key in c:
                    out.append(f"{indent}  {key}: {c[key]}\n")
            if "mounts" in c:
                out.append(f"{indent}  volumeMounts:\n")
                for vol, path in c["mounts"]:
                    out.append(f"{indent}  - name: {vol}\n{indent}    mountPath: {path}\n")
        return "".join(out)

    ann = ""
    if annotations:
        ann = "  annotations:\n" + "".join(f"    {k}: {json.dumps(v)}\n"
                                           for k, v in annotations.items())
    text = (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n{ann}spec:\n"
            f"  terminationGracePeriodSeconds: {grace}\n{extra_spec}")
    if init:
        text += "  initContainers:\n" + ctrs(init)
    text += "  containers:\n" + ctrs(containers)
    return text


def test_init_containers_run_in_order_before_the_app(daemon):
    pod = unique("order")
    daemon.start()
    daemon.write("order.yaml", pod_yaml(
        pod,
        init=[{"name": "first", "cmd": "sleep 0.3; echo first >> /shared/order",
               "mounts": [("shared", "/shared")]},
              {"name": "second", "cmd": "echo second >> /shared/order",
               "mounts": [("shared", "/shared")]}],
        containers=[{"name": "app", "cmd": "echo app >> /shared/order; cat /shared/order; "
                     "sleep 3600", "mounts": [("shared", "/shared")]}],
        extra_spec="  volumes:\n  - name: shared\n    emptyDir: {}\n"))
    wait_for("the app's log", lambda: len(daemon.ctr_log(pod, "app")) >= 3)
    assert daemon.ctr_log(pod, "app")[:3] == ["first", "second", "app"]
    st = wait_for("the saved state", lambda: (daemon.pod_state(pod) or {}).get("phase") == "Running"
                  and daemon.pod_state(pod))
    assert st["containers"]["first"]["completed"] and st["containers"]["second"]["completed"]


@pytest.mark.parametrize("policy", ["Always", "OnFailure"])
def test_crash_loop_restarts_immediately_then_backs_off(daemon, policy):
    pod = unique("crash")
    daemon.start()
    daemon.write("crash.yaml", pod_yaml(
        pod, containers=[{"name": "crasher", "cmd": "echo started; exit 3"}],
        extra_spec=f"  restartPolicy: {policy}\n"))
    wait_for("three restarts", lambda: len(daemon.ctr_log_times(pod, "crasher")) >= 4,
             timeout=20)
    starts = daemon.ctr_log_times(pod, "crasher")
    # The container may print before podd has saved the pod's state.
    wait_for("the restart count", lambda: daemon.restarts(pod, "crasher") >= 3)
    assert len(starts) >= 4
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # kubelet's rhythm: the first restart at once, then initial (1s here), doubling.
    assert gaps[0] < 0.9, gaps
    assert 0.9 <= gaps[1] < 2.5, gaps
    assert 1.9 <= gaps[2] < 3.5, gaps
    assert "BackOff" in daemon.log()
    st = daemon.pod_state(pod)
    assert st["containers"]["crasher"]["lastState"]["exitCode"] == 3


def test_a_restart_gets_a_fresh_writable_layer_and_nothing_of_the_last_run(daemon):
    """A restart keeps the container's directory, not its writable layer or its records."""
    pod = unique("fresh")
    daemon.start()
    daemon.write("fresh.yaml", pod_yaml(
        pod, containers=[{"name": "app", "cmd": "if [ -e /marker ]; then echo stale; "
                          "else echo fresh; fi; echo x > /marker; exit 1"}],
        annotations={"podd.io/restart-backoff": "initial=4s,max=4s,reset=10m"}))
    wait_for("two runs", lambda: len(daemon.ctr_log(pod, "app")) >= 2)
    d = daemon.ctr_dir(pod, "app")
    records = ("config.json", "exit.json", "container.pid", "monitor.pid")
    # In the back-off: its directory is there, but no record of the last run is.
    wait_for("the back-off", lambda: daemon.restarts(pod, "app") >= 1
             and os.path.isdir(d) and not any(os.path.exists(os.path.join(d, f))
                                              for f in records), timeout=5)
    st = daemon.pod_state(pod)
    assert st["containers"]["app"]["lastState"]["exitCode"] == 1
    wait_for("a third run", lambda: len(daemon.ctr_log(pod, "app")) >= 3, timeout=10)
    # Each run found the file the last one wrote gone.
    assert daemon.ctr_log(pod, "app")[:3] == ["fresh"] * 3
    wait_for("the restart count", lambda: daemon.restarts(pod, "app") >= 2)
    # The layers a run left, moved aside by the next start, went once that start was answered.
    assert not [f for f in os.listdir(d) if f.endswith("-old")], os.listdir(d)
    # Stopped for good in its back-off: its directory goes with the pod.
    wait_for("the back-off again", lambda: os.path.isdir(d) and not any(
        os.path.exists(os.path.join(d, f)) for f in records), timeout=5)
    os.unlink(os.path.join(daemon.manifests, "fresh.yaml"))
    wait_for("the pod to go", lambda: daemon.pod_state(pod) is None)
    assert not os.path.exists(d)


def test_never_policy_fails_the_pod_and_onfailure_completes(daemon):
    failing, done = unique("never"), unique("ok")
    daemon.start()
    daemon.write("never.yaml", pod_yaml(failing, containers=[{"name": "job", "cmd": "exit 1"}],
                                        extra_spec="  restartPolicy: Never\n"))
    daemon.write("ok.yaml", pod_yaml(done, containers=[{"name": "job", "cmd": "exit 0"}],
                                     extra_spec="  restartPolicy: OnFailure\n"))
    wait_for("phases", lambda: (daemon.pod_state(failing) or {}).get("phase") == "Failed"
             and (daemon.pod_state(done) or {}).get("phase") == "Succeeded")
    assert daemon.restarts(failing, "job") == 0
    assert daemon.restarts(done, "job") == 0


def test_exit_policy_stop_stops_sidecars_continue_keeps_them(daemon):
    stop, cont = unique("stop"), unique("cont")
    sidecar = [{"name": "side", "cmd": "sleep 3600", "restartPolicy": "Always"}]
    daemon.start()
    daemon.write("stop.yaml", pod_yaml(stop, init=sidecar,
                                       containers=[{"name": "job", "cmd": "sleep 0.5"}],
                                       extra_spec="  restartPolicy: Never\n"))
    daemon.write("cont.yaml", pod_yaml(cont, init=sidecar,
                                       containers=[{"name": "job", "cmd": "sleep 0.5"}],
                                       extra_spec="  restartPolicy: Never\n",
                                       annotations={"podd.io/exit-policy": "continue"}))
    # With continue the pod runs on while its sidecar does (test_pod_outcomes.py).
    wait_for("both jobs to succeed",
             lambda: (daemon.pod_state(stop) or {}).get("phase") == "Succeeded"
             and "exit policy continue keeps the sidecars" in daemon.log())
    wait_for("the stop pod's sidecar to end", lambda: daemon.ctr_pid(stop, "side") is None)
    time.sleep(0.5)
    assert daemon.ctr_pid(cont, "side") is not None, "exit policy continue kept the sidecar"


def test_restart_of_a_pod_its_exit_policy_stopped_runs_it_again(daemon):
    pod = unique("again")
    daemon.start()
    daemon.write("again.yaml", pod_yaml(
        pod, init=[{"name": "side", "cmd": "sleep 3600", "restartPolicy": "Always"}],
        containers=[{"name": "job", "cmd": "echo done"}], extra_spec="  restartPolicy: Never\n"))
    wait_for("the pod to succeed", lambda: pod_json(daemon, pod)["status"]["phase"] == "Succeeded")
    # Stopped as podd records it (the stop done), not merely its process gone.
    wait_for("its sidecar to be stopped",
             lambda: "terminated" in
             pod_json(daemon, pod)["status"]["initContainerStatuses"][0]["state"])
    r = podctl(daemon, "restart", "pod", pod)
    assert r.returncode == 0, r.stderr
    # A new instance: the job runs again and the pod succeeds again, its sidecar stopped again.
    wait_for("the job to run again", lambda: daemon.ctr_log(pod, "job") == ["done", "done"])
    wait_for("the pod to succeed again",
             lambda: pod_json(daemon, pod)["status"]["phase"] == "Succeeded"
             and daemon.ctr_pid(pod, "side") is None)


def test_invalid_edit_keeps_the_running_pod_then_fix_applies(daemon):
    pod = unique("edit")
    daemon.start()
    good = pod_yaml(pod, containers=[{"name": "app", "cmd": "echo v1; sleep 3600"}])
    daemon.write("edit.yaml", good)
    first = wait_for("the app", lambda: daemon.ctr_pid(pod, "app"))
    daemon.write("edit.yaml", good.replace("spec:", "spec: [broken"))
    wait_for("the error", lambda: "ManifestInvalid" in daemon.log())
    assert "edit.yaml:" in daemon.log()
    time.sleep(0.3)
    assert daemon.ctr_pid(pod, "app") == first, "a broken manifest must not touch the pod"
    daemon.write("edit.yaml", good.replace("echo v1", "echo v2"))
    wait_for("the new version", lambda: daemon.ctr_log(pod, "app")[-1:] == ["v2"])
    assert daemon.ctr_pid(pod, "app") != first


def test_unchanged_content_does_nothing_and_backup_files_are_ignored(daemon):
    pod = unique("same")
    daemon.start()
    text = pod_yaml(pod, containers=[{"name": "app", "cmd": "sleep 3600"}])
    daemon.write("same.yaml", text)
    first = wait_for("the app", lambda: daemon.ctr_pid(pod, "app"))
    daemon.write("same.yaml", text)  # same bytes, new inode and mtime
    for name in ("same.yaml.bak", "same.yaml~"):
        with open(os.path.join(daemon.manifests, name), "w") as f:
            f.write(text.replace(pod, pod + "-copy"))
    time.sleep(0.5)
    assert daemon.ctr_pid(pod, "app") == first
    assert daemon.pod_state(pod + "-copy") is None
    assert daemon.log().count(f"pod=default/{pod} Created") == 1


def test_changed_container_is_replaced_alone(daemon):
    pod = unique("partial")
    daemon.start()
    v1 = pod_yaml(pod, containers=[{"name": "keep", "cmd": "sleep 3600"},
                                   {"name": "change", "cmd": "echo one; sleep 3600"}])
    daemon.write("partial.yaml", v1)
    keep = wait_for("keep", lambda: daemon.ctr_pid(pod, "keep"))
    change = wait_for("change", lambda: daemon.ctr_pid(pod, "change"))
    daemon.write("partial.yaml", v1.replace("echo one", "echo two"))
    wait_for("the new container", lambda: daemon.ctr_log(pod, "change")[-1:] == ["two"])
    assert daemon.ctr_pid(pod, "keep") == keep
    assert daemon.ctr_pid(pod, "change") not in (None, change)


def test_removed_manifest_stops_and_removes_the_pod(daemon):
    pod = unique("gone")
    daemon.start()
    daemon.write("gone.yaml", pod_yaml(pod, containers=[{"name": "a", "cmd": "sleep 3600"},
                                                        {"name": "b", "cmd": "sleep 3600"}]))
    pids = [wait_for("a", lambda: daemon.ctr_pid(pod, "a")),
            wait_for("b", lambda: daemon.ctr_pid(pod, "b"))]
    cgroup_a = daemon.ctr_cgroup(pod, "a")
    assert cgroup_dirs(cgroup_a)
    # Containers run before podd saves the pod's state: "gone" means saved, then removed.
    wait_for("the saved state", lambda: daemon.pod_state(pod))
    os.unlink(os.path.join(daemon.manifests, "gone.yaml"))
    wait_for("the pod to go", lambda: daemon.pod_state(pod) is None)
    # Once seen under ASan: a first process still visible for a moment after its pod went.
    wait_for("the containers to be gone", lambda: not any(alive(r) for r in pids), timeout=5)
    assert not os.path.exists(daemon.ctr_dir(pod, "a"))
    assert cgroup_a.endswith(f"/default_{pod}_a")
    assert not cgroup_dirs(cgroup_a)


def test_manifest_put_back_while_the_pod_stops_runs_the_new_version(daemon):
    """Removed, then back before the stop ended: the pod runs again, never dropped."""
    pod = unique("back")
    daemon.start()
    # It ignores SIGTERM: the stop takes the whole grace period, SIGKILL ends it.
    v1 = pod_yaml(pod, containers=[{"name": "app", "cmd": "trap '' TERM; echo one; "
                                                          "while true; do sleep 1; done"}],
                  grace=3)
    daemon.write("back.yaml", v1)
    wait_for("the first version to run", lambda: container_running(daemon, pod, "app"))
    first = daemon.ctr_pid(pod, "app")
    assert first
    os.unlink(os.path.join(daemon.manifests, "back.yaml"))
    wait_for("the pod to be deleting",
             lambda: "deletionTimestamp" in pod_json(daemon, pod)["metadata"])
    daemon.write("back.yaml", v1.replace("echo one", "echo two"))
    # Put back within the grace period: the first run still ends the way it was told to.
    assert alive(first)
    wait_for("the new version to run",
             lambda: daemon.ctr_log(pod, "app")[-1:] == ["two"]
             and container_running(daemon, pod, "app"), timeout=30)
    assert not alive(first)
    status = pod_json(daemon, pod)
    assert "deletionTimestamp" not in status["metadata"]
    assert status["status"]["phase"] == "Running"
    assert daemon.pod_state(pod) is not None
    assert "Removed" not in podctl(daemon, "events").stdout


def test_kill9_of_podd_keeps_containers_and_the_next_podd_adopts_them(daemon):
    pod = unique("adopt")
    daemon.start()
    daemon.write("adopt.yaml", pod_yaml(pod, containers=[{"name": "app", "cmd": "sleep 3600"}]))
    first = wait_for("the app", lambda: daemon.ctr_pid(pod, "app"))
    daemon.kill9()
    assert daemon.ctr_pid(pod, "app") == first, "the container outlives the daemon"
    daemon.start()
    wait_for("adoption", lambda: "Adopted" in daemon.log())
    time.sleep(0.3)
    assert daemon.ctr_pid(pod, "app") == first, "no restart just because podd restarted"
    assert daemon.restarts(pod, "app") == 0
    # The adopted container's exit is seen and the policy applies: a restart.
    os.kill(first[0], signal.SIGKILL)
    wait_for("the restart", lambda: daemon.restarts(pod, "app") == 1)
    st = daemon.pod_state(pod)
    assert st["containers"]["app"]["lastState"]["exitCode"] == 137


def test_a_manifest_changed_while_podd_was_down_replaces_the_old_run(daemon):
    """The next podd removes the old run (from its loop), then starts the new version."""
    pod = unique("offline")
    daemon.start()
    v1 = pod_yaml(pod, containers=[{"name": "app", "cmd": "echo one; sleep 3600"}])
    daemon.write("offline.yaml", v1)
    wait_for("the first version to run", lambda: container_running(daemon, pod, "app"))
    first = daemon.ctr_pid(pod, "app")
    assert first
    daemon.kill9()
    daemon.write("offline.yaml", v1.replace("echo one", "echo two"))
    daemon.start()
    wait_for("the new version to run",
             lambda: daemon.ctr_log(pod, "app")[-1:] == ["two"]
             and container_running(daemon, pod, "app"))
    assert not alive(first)
    assert daemon.ctr_log(pod, "app") == ["one", "two"]
    assert "the manifest changed while podd was down" in podctl(daemon, "events").stdout
    wait_for("its new state", lambda: (daemon.pod_state(pod) or {}).get("containers"))
    assert daemon.restarts(pod, "app") == 0


def hybrid_cgroup2_mount():
    """The cgroup2 mount of a hybrid host (v1 controllers beside it), else None."""
    if os.path.exists("/sys/fs/cgroup/cgroup.procs"):
        return None
    p = "/sys/fs/cgroup/unified"
    r = subprocess.run(["stat", "-f", "-c", "%T", p], capture_output=True, text=True)
    return p if r.stdout.strip() == "cgroup2fs" else None


@pytest.mark.parametrize("hierarchy", ["host", "cgroup2"])
def test_two_instances_with_a_pod_of_the_same_name_never_touch_each_other(daemon, other_daemon,
                                                                          hierarchy):
    if hierarchy == "cgroup2":
        # The v2 code on a hybrid host: podd against its cgroup2 mount.
        root = hybrid_cgroup2_mount()
        if not root:
            pytest.skip("not a hybrid host with a separate cgroup2 mount (the host case is v2)")
        daemon.env = other_daemon.env = dict(os.environ, PODD_CGROUP_ROOT=root)
    pod = unique("web")
    daemon.start()
    other_daemon.start()
    daemon.write("web.yaml", pod_yaml(pod, containers=[{"name": "app", "cmd": "sleep 3600"}]))
    other_daemon.write("web.yaml", pod_yaml(pod, containers=[{"name": "app", "cmd": "sleep 1"}],
                                            extra_spec="  restartPolicy: Never\n"))
    first = wait_for("this instance's app", lambda: daemon.ctr_pid(pod, "app"))
    wait_for("the other instance's app", lambda: other_daemon.ctr_pid(pod, "app"))
    theirs = other_daemon.ctr_cgroup(pod, "app")
    # The other instance's container exits; its monitor kills what is left of its cgroup.
    wait_for("the other instance's pod to succeed",
             lambda: (other_daemon.pod_state(pod) or {}).get("phase") == "Succeeded")
    wait_for("the other instance's cgroup to go", lambda: not cgroup_dirs(theirs))
    time.sleep(0.5)
    assert daemon.ctr_pid(pod, "app") == first, "another instance's exit killed this container"
    assert daemon.restarts(pod, "app") == 0

    # Each instance has a cgroup of its own for the same pod, below its own parent.
    mine = daemon.ctr_cgroup(pod, "app")
    parent = daemon.cgroup_parent()
    assert parent != other_daemon.cgroup_parent()
    assert mine == f"{parent}/default_{pod}_app"
    assert theirs == f"{other_daemon.cgroup_parent()}/default_{pod}_app"
    with open(f"/proc/{first[0]}/cgroup") as f:
        assert f":/{mine}\n" in f.read()

    # The other instance ends: its own parent goes, nothing of this one does.
    assert other_daemon.stop() == 0
    assert not cgroup_dirs(other_daemon.cgroup_parent())
    assert daemon.ctr_pid(pod, "app") == first and cgroup_dirs(mine)

    # The same instance (state directory) after a restart: the same cgroups, adopted.
    daemon.kill9()
    daemon.start()
    wait_for("adoption", lambda: "Adopted" in daemon.log())
    assert daemon.cgroup_parent() == parent
    assert daemon.ctr_pid(pod, "app") == first and daemon.ctr_cgroup(pod, "app") == mine
    # Stopping it removes the container's cgroup and then its parent.
    assert daemon.stop() == 0
    assert not cgroup_dirs(mine) and not cgroup_dirs(parent)


def remove_cgroups(rel):
    """rmdir of rel and everything below it in every hierarchy, deepest first."""
    deadline = time.monotonic() + 10
    for top in cgroup_dirs(rel):
        for root, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            while True:
                try:
                    os.rmdir(root)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)


def test_cgroup_parent_flag_places_containers_from_the_root(daemon):
    pod, parent = unique("placed"), unique("podd-test-parent")
    try:
        daemon.start("--cgroup-parent", f"/{parent}/")
        assert daemon.cgroup_parent() == parent
        daemon.write("placed.yaml", pod_yaml(pod, containers=[{"name": "app",
                                                               "cmd": "sleep 3600"}]))
        first = wait_for("the app", lambda: daemon.ctr_pid(pod, "app"))
        assert daemon.ctr_cgroup(pod, "app") == f"{parent}/default_{pod}_app"
        with open(f"/proc/{first[0]}/cgroup") as f:
            assert f":/{parent}/default_{pod}_app\n" in f.read()
        assert daemon.stop() == 0
        assert not cgroup_dirs(f"{parent}/default_{pod}_app")
        assert cgroup_dirs(parent), "a parent podd was given is left to whoever gave it"
    finally:
        daemon.stop()
        remove_cgroups(parent)


@pytest.mark.parametrize("hierarchy", ["host", "cgroup2"])
def test_cgroup_parent_relative_goes_below_podds_own_cgroup(daemon, hierarchy):
    """As under systemd with Delegate=yes: podd starts in a cgroup of its own (the service's).

    "host" is the host's own layout; "cgroup2" runs podd against the cgroup2 mount of a hybrid
    host (PODD_CGROUP_ROOT), so that the v2 code runs on v1 hosts too."""
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.procs")
    if hierarchy == "host":
        base = "/sys/fs/cgroup" if v2 else "/sys/fs/cgroup/pids"
    else:
        base = hybrid_cgroup2_mount()
        if not base:
            pytest.skip("not a hybrid host with a separate cgroup2 mount (the host case is v2)")
        daemon.env = dict(os.environ, PODD_CGROUP_ROOT=base)
        v2 = True
    if not os.path.isdir(base):
        pytest.skip("no pids hierarchy and no cgroup v2 on this host")
    pod, service = unique("delegated"), unique("podd-test-service")
    os.mkdir(os.path.join(base, service))

    def enter(leaf=""):
        with open(os.path.join(base, service, leaf, "cgroup.procs"), "w") as f:
            f.write("0")

    daemon.preexec = enter
    try:
        daemon.start("--cgroup-parent", "containers")
        assert daemon.cgroup_parent() == f"{service}/containers"
        daemon.write("delegated.yaml", pod_yaml(pod, containers=[{"name": "app",
                                                                  "cmd": "sleep 3600"}]))
        first = wait_for("the app", lambda: daemon.ctr_pid(pod, "app"))
        cg = f"{service}/containers/default_{pod}_app"
        assert daemon.ctr_cgroup(pod, "app") == cg
        with open(f"/proc/{first[0]}/cgroup") as f:
            assert f":/{cg}\n" in f.read()
        if v2:
            # No processes in a cgroup whose children have controllers: podd took a leaf.
            with open(f"/proc/{daemon.proc.pid}/cgroup") as f:
                assert f"0::/{service}/podd-daemon\n" in f.read()
            assert os.path.isdir(os.path.join(base, cg))
        # The same place after a restart; on v2 even for a podd started inside its leaf.
        daemon.kill9()
        if v2:
            daemon.preexec = lambda: enter("podd-daemon")
        daemon.start("--cgroup-parent", "containers")
        assert daemon.cgroup_parent() == f"{service}/containers"
        wait_for("adoption", lambda: "Adopted" in daemon.log())
        assert daemon.ctr_pid(pod, "app") == first
        assert daemon.stop() == 0
        assert not cgroup_dirs(cg) and not os.path.exists(os.path.join(base, cg))
    finally:
        daemon.stop()
        remove_cgroups(service)


def test_exit_while_podd_is_down_is_recorded(daemon):
    pod = unique("down")
    daemon.start()
    daemon.write("down.yaml", pod_yaml(pod, containers=[{"name": "app", "cmd": "sleep 3600",
                                                         "restartPolicy": "Never"}]))
    first = wait_for("the app", lambda: daemon.ctr_pid(pod, "app"))
    daemon.kill9()
    os.kill(first[0], signal.SIGKILL)
    time.sleep(0.3)
    daemon.start()
    wait_for("the exit to be recorded", lambda: (daemon.pod_state(pod) or {}).get("phase")
             == "Failed")
    assert "exit code 137" in daemon.log()


def test_once_init_does_not_run_again_after_a_daemon_restart(daemon):
    pod = unique("once")
    marks = os.path.join(daemon.top, "marks")
    os.makedirs(marks)
    daemon.start()
    daemon.write("once.yaml", pod_yaml(
        pod,
        init=[{"name": "provision", "cmd": "echo ran >> /marks/count",
               "mounts": [("marks", "/marks")]}],
        containers=[{"name": "app", "cmd": "sleep 3600"}],
        extra_spec=f"  volumes:\n  - name: marks\n    hostPath:\n      path: {marks}\n",
        annotations={"podd.io/init-once": "provision"}))
    first = wait_for("the app", lambda: daemon.ctr_pid(pod, "app"))
    # A host reboot that also lost the pod's state file: podd down, containers gone, state
    # unreadable. Only the once record can keep the init container from running again.
    daemon.kill9()
    monitor = daemon.ctr_dir(pod, "app") + "/monitor.pid"
    with open(monitor) as f:
        mpid, mstart = (int(x) for x in f.read().split())
    os.kill(first[0], signal.SIGKILL)
    wait_for("the monitor to end", lambda: proc_start_time(mpid) != mstart)
    with open(os.path.join(daemon.state, "pods", pod, "state.json"), "w") as f:
        f.write('{"truncated')
    daemon.start()
    wait_for("the app again", lambda: daemon.ctr_pid(pod, "app"))
    assert "rebuilding it from its manifest" in daemon.log()
    with open(os.path.join(marks, "count")) as f:
        assert f.read() == "ran\n"
    # Its container and its log are removed after its success.
    assert not os.path.exists(daemon.ctr_dir(pod, "provision"))
    assert not os.path.exists(os.path.join(daemon.logs, f"default_{pod}", "provision.log"))


def test_depends_on_orders_regular_containers(daemon):
    pod = unique("deps")
    daemon.start()
    daemon.write("deps.yaml", pod_yaml(
        pod,
        containers=[{"name": "worker", "cmd": "echo worker >> /s/order; sleep 3600",
                     "mounts": [("s", "/s")]},
                    {"name": "migrate", "cmd": "sleep 0.4; echo migrate >> /s/order",
                     "restartPolicy": "Never", "mounts": [("s", "/s")]}],
        extra_spec="  volumes:\n  - name: s\n    emptyDir: {}\n",
        annotations={"podd.io/depends-on.worker": "migrate:completed"}))
    order = os.path.join(daemon.run, "pods", f"default_{pod}", "volumes", "s", "order")

    def lines():
        try:
            with open(order) as f:
                return f.read().split()
        except OSError:
            return []

    wait_for("both to write", lambda: len(lines()) >= 2)
    assert lines() == ["migrate", "worker"]


def test_sigterm_with_keep_leaves_pods_running(daemon):
    pod = unique("keep")
    daemon.start("--on-exit", "keep")
    daemon.write("keep.yaml", pod_yaml(pod, containers=[{"name": "app", "cmd": "sleep 3600"}]))
    first = wait_for("the app", lambda: daemon.ctr_pid(pod, "app"))
    assert daemon.stop() == 0
    assert daemon.ctr_pid(pod, "app") == first
    # A daemon with --on-exit stop takes over, and stops it on its way out (fixture).
    daemon.start()
    wait_for("adoption", lambda: "Adopted" in daemon.log())


def test_orphan_state_naming_another_pods_container_leaves_it_running(daemon):
    a, b = unique("own-a"), unique("own-b")
    daemon.start("--on-exit", "keep")
    daemon.write("a.yaml", pod_yaml(a, containers=[{"name": "app", "cmd": "sleep 3600"}]))
    daemon.write("b.yaml", pod_yaml(b, containers=[{"name": "app", "cmd": "sleep 3600"}]))
    wait_for("a's app", lambda: daemon.ctr_pid(a, "app"))
    b_first = wait_for("b's app", lambda: daemon.ctr_pid(b, "app"))
    wait_for("a's state", lambda: (daemon.pod_state(a) or {}).get("phase") == "Running")
    assert daemon.stop() == 0
    # While podd is down: a's manifest goes and its state names b's container too.
    os.unlink(os.path.join(daemon.manifests, "a.yaml"))
    path = os.path.join(daemon.state, "pods", a, "state.json")
    st = daemon.pod_state(a)
    st["containers"]["stolen"] = dict(st["containers"]["app"], id=f"default_{b}_app")
    with open(path, "w") as f:
        json.dump(st, f)
    daemon.start()
    # The cleanup kills before it forgets: once a's state is gone, b would be dead.
    wait_for("a to be cleaned up", lambda: not os.path.exists(path))
    assert daemon.ctr_pid(a, "app") is None
    assert daemon.ctr_pid(b, "app") == b_first
    assert (f"its state names container 'default_{b}_app', which belongs to pod default/{b}: "
            "left alone" in daemon.log())
    time.sleep(0.5)
    assert daemon.ctr_pid(b, "app") == b_first


def test_sigterm_with_stop_stops_in_reverse_graph_order(daemon):
    pod = unique("rev")
    daemon.start()
    trap = "trap 'echo {n} >> /s/stops; exit 0' TERM; echo up; while true; do sleep 0.1; done"
    daemon.write("rev.yaml", pod_yaml(
        pod,
        init=[{"name": "side", "cmd": trap.format(n="side"), "restartPolicy": "Always",
               "mounts": [("s", "/s")]}],
        containers=[{"name": "app", "cmd": trap.format(n="app"), "mounts": [("s", "/s")]}],
        extra_spec=f"  volumes:\n  - name: s\n    hostPath:\n      path: {daemon.top}\n"))
    # Each says so once its trap is set: a SIGTERM before that would end it unheard.
    wait_for("both traps", lambda: daemon.ctr_log(pod, "side") == ["up"]
             and daemon.ctr_log(pod, "app") == ["up"])
    assert daemon.stop() == 0
    with open(os.path.join(daemon.top, "stops")) as f:
        assert f.read().split() == ["app", "side"]
    assert not daemon.leftovers()
    # Stopped with the daemon, not finished: the next daemon starts the pod again.
    daemon.start()
    wait_for("the pod to come back", lambda: daemon.ctr_pid(pod, "app"))
    wait_for("the new state", lambda: (daemon.pod_state(pod) or {}).get("phase") == "Running")


def test_a_run_directory_emptied_under_podd_still_lets_it_stop_its_containers(daemon):
    """The containers' records go from podd's run directory while they run (an operator's
    rm -rf, a cleaner of old files): podd still stops them, through their cgroups, a SIGTERM
    first and a SIGKILL after the grace period, and exits when told to. It once waited for
    their exits forever."""
    pod = unique("wiped")
    daemon.start()
    trap = "trap 'echo app >> /s/stops; exit 0' TERM; echo up; while true; do sleep 0.1; done"
    deaf = "trap '' TERM; echo up; while true; do sleep 0.1; done"
    daemon.write("wiped.yaml", pod_yaml(
        pod,
        containers=[{"name": "app", "cmd": trap, "mounts": [("s", "/s")]},
                    {"name": "deaf", "cmd": deaf}],
        extra_spec=f"  volumes:\n  - name: s\n    hostPath:\n      path: {daemon.top}\n"))
    wait_for("both to be up", lambda: daemon.ctr_log(pod, "app") == ["up"]
             and daemon.ctr_log(pod, "deaf") == ["up"])
    running = [daemon.ctr_pid(pod, c) for c in ("app", "deaf")]
    assert all(running), running
    shutil.rmtree(os.path.join(daemon.run, "containers"))
    try:
        assert daemon.stop(timeout=20) == 0
        # The trap ran once: SIGTERM reached the container, and only once.
        with open(os.path.join(daemon.top, "stops")) as f:
            assert f.read().split() == ["app"]
        for p in running:
            wait_for(f"process {p[0]} to be gone", lambda: not alive(p), timeout=10)
        assert "killed through its cgroup" in daemon.log()
    finally:
        # The fixture finds what runs by the records that went: whatever is left, goes here.
        for p in running:
            if p and alive(p):
                os.kill(p[0], signal.SIGKILL)


def monitors_by_container(run_dir):
    """Container id -> number of live podd-monitor processes serving it: those holding its
    lock (<run>/containers/ID/lock), as a monitor does for its container's whole life."""
    counts = {}
    prefix = os.path.join(run_dir, "containers") + "/"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if not f.read().startswith("podd-monitor"):
                    continue
            fds = os.listdir(f"/proc/{entry}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{entry}/fd/{fd}")
            except OSError:
                continue
            if target.startswith(prefix) and target.endswith("/lock"):
                cid = target[len(prefix):].split("/")[0]
                counts[cid] = counts.get(cid, 0) + 1
                break
    return counts


def test_kill9_at_random_moments_never_duplicates_or_loses_containers(daemon):
    import random
    rng = random.Random(4242)
    pods = [unique(f"storm{i}") for i in range(20)]
    daemon.start()
    for pod in pods:
        daemon.write(f"{pod}.yaml", pod_yaml(
            pod, init=[{"name": "init", "cmd": "sleep 0.05"}],
            containers=[{"name": "a", "cmd": "sleep 3600"}, {"name": "b", "cmd": "sleep 3600"}]))
    for _ in range(50):
        time.sleep(rng.uniform(0, 0.3))
        daemon.kill9()
        daemon.start()
    expected = {f"default_{p}_{c}" for p in pods for c in ("a", "b")}

    def all_running():
        return all(daemon.ctr_pid(p, c) for p in pods for c in ("a", "b"))

    wait_for("every container to run", all_running, timeout=60)
    time.sleep(0.5)
    live = monitors_by_container(daemon.run)
    assert {k for k, n in live.items() if n > 0} == expected, live
    # One monitor each: one process per container.
    assert all(n == 1 for n in live.values()), live
    # Saved states may trail the containers by a pass; none may show a restart.
    wait_for("every state", lambda: all(daemon.restarts(p, c) == 0 for p in pods for c in "ab"))


def test_a_container_another_monitor_owns_is_not_started_twice(daemon):
    """A monitor left by a killed podd holds the container's lock until its pid is recorded."""
    import fcntl
    pod = unique("owned")
    os.makedirs(daemon.ctr_dir(pod, "a"))
    lock = os.open(os.path.join(daemon.ctr_dir(pod, "a"), "lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        daemon.start()
        daemon.write(f"{pod}.yaml", pod_yaml(pod, containers=[{"name": "a", "cmd": "sleep 3600"}]))

        def waiting_reason():
            r = podctl(daemon, "get", "pod", pod, "-o", "json")
            if r.returncode != 0:
                return None
            state = json.loads(r.stdout)["status"]["containerStatuses"][0]["state"]
            return state.get("waiting", {}).get("reason")

        wait_for("the container to wait for the other monitor",
                 lambda: waiting_reason() == "ContainerCreating")
        time.sleep(0.5)
        assert not os.path.exists(os.path.join(daemon.ctr_dir(pod, "a"), "config.json"))
        assert waiting_reason() == "ContainerCreating"
    finally:
        os.close(lock)
    # That monitor gave up without starting anything: podd starts it, once.
    wait_for("the container", lambda: daemon.ctr_pid(pod, "a"))
    # While it starts, the starter and the container's child before its exec count too.
    one = {f"default_{pod}_a": 1}
    wait_for("one monitor", lambda: monitors_by_container(daemon.run) == one)
    time.sleep(0.5)
    assert monitors_by_container(daemon.run) == one
    wait_for("its state", lambda: daemon.restarts(pod, "a") == 0)


def test_pods_stopped_while_their_containers_start_leave_nothing(daemon):
    """Pods removed, or podd stopped, in the middle of their containers' starts: every
    container that started is stopped and removed, nothing is left behind."""
    daemon.start()
    pods = [unique(f"brief{i}") for i in range(6)]
    for pod in pods:
        daemon.write(f"{pod}.yaml", pod_yaml(pod, containers=[
            {"name": n, "cmd": "trap 'exit 0' TERM; sleep 3600 & wait"} for n in ("a", "b", "c")]))
    # The first start has begun (its directory exists): most are still on their way.
    wait_for("a start to begin", lambda: any(os.path.exists(daemon.ctr_dir(p, "a")) for p in pods))
    for pod in pods:
        os.unlink(os.path.join(daemon.manifests, f"{pod}.yaml"))
    wait_for("every pod to go", lambda: podctl(daemon, "get", "pods").stdout.strip()
             in ("", "No resources found."), timeout=30)
    wait_for("no process left", lambda: not daemon.leftovers(), timeout=10)
    for pod in pods:
        for n in ("a", "b", "c"):
            assert not os.path.exists(daemon.ctr_dir(pod, n))
    # And a podd told to stop in the middle of a cold start stops everything it started.
    more = [unique(f"cold{i}") for i in range(10)]
    for pod in more:
        daemon.write(f"{pod}.yaml", pod_yaml(pod, containers=[{"name": "a", "cmd": "sleep 3600"},
                                                              {"name": "b", "cmd": "sleep 3600"}]))
    wait_for("a first container", lambda: any(daemon.ctr_pid(p, "a") for p in more))
    assert daemon.stop() == 0
    assert not daemon.leftovers()


def podctl(daemon, *args):
    return subprocess.run([os.path.join(builddir(), "podctl"), "--socket",
                           os.path.join(daemon.run, "podd.sock"), *args],
                          capture_output=True, text=True, timeout=30)


def test_podctl_shows_pods_as_kubectl_does(daemon):
    web, crash = unique("web"), unique("crash")
    daemon.start()
    daemon.write("web.yaml", pod_yaml(web, init=[{"name": "setup", "cmd": "true"}],
                                      containers=[{"name": "app", "cmd": "sleep 3600"}]))
    daemon.write("crash.yaml", pod_yaml(crash, containers=[{"name": "c", "cmd": "exit 2"}]))
    # The process exists (its pid file) a moment before podd records the start.
    wait_for("the app running", lambda: container_running(daemon, web, "app"))
    wait_for("the crash loop", lambda: daemon.restarts(crash, "c") >= 1)
    r = podctl(daemon, "get", "pods")
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:]}
    assert r.stdout.split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows[web][1:4] == ["1/1", "Running", "0"]
    wait_for("CrashLoopBackOff", lambda: "CrashLoopBackOff" in podctl(daemon, "get", "pods").stdout)

    pod = json.loads(podctl(daemon, "get", "pod", web, "-o", "json").stdout)
    assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod"
    assert pod["metadata"]["name"] == web
    assert pod["metadata"]["annotations"]["podd.io/source"] == "web.yaml"
    status = pod["status"]
    assert status["phase"] == "Running"
    assert [c["name"] for c in status["initContainerStatuses"]] == ["setup"]
    assert status["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    app = status["containerStatuses"][0]
    assert app["ready"] is True and "running" in app["state"] and app["restartCount"] == 0
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"

    bad = json.loads(podctl(daemon, "get", "pod", crash, "-o", "json").stdout)["status"]
    c = bad["containerStatuses"][0]
    assert c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert "next try at 20" in c["state"]["waiting"]["message"]
    assert c["lastState"]["terminated"]["exitCode"] == 2

    d = podctl(daemon, "describe", "pod", crash)
    assert d.returncode == 0 and "Exit Code:    2" in d.stdout and "BackOff" in d.stdout
    nf = podctl(daemon, "get", "pod", "nope")
    assert nf.returncode == 1 and "not found" in nf.stderr


def ctxt_switches(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    return None


def test_idle_daemon_does_not_wake_up(daemon):
    pods = [unique(f"idle{i}") for i in range(5)]
    daemon.start()
    for pod in pods:
        daemon.write(f"{pod}.yaml", pod_yaml(pod, containers=[{"name": "a", "cmd": "sleep 3600"}]))
    wait_for("every pod", lambda: all(container_running(daemon, p, "a") for p in pods))
    # podd writes the burst of events a second after its first one: wait for that write.
    def started_events_saved():
        started = {e.get("pod") for e in saved_events(daemon)[1] if e["reason"] == "Started"}
        return all(p in started for p in pods)

    wait_for("the events written", started_events_saved)
    time.sleep(0.5)
    before = ctxt_switches(daemon.proc.pid)
    time.sleep(3)
    # No timer, no polling: nothing wakes a daemon whose pods are all running.
    assert ctxt_switches(daemon.proc.pid) == before


def test_a_runtime_podd_lacks_is_refused_not_replaced(daemon):
    pod = unique("runc")
    daemon.start()
    daemon.write("runc.yaml", pod_yaml(pod, containers=[{"name": "a", "cmd": "sleep 3600"}],
                                       annotations={"podd.io/runtime": "runc"}))
    wait_for("the refusal", lambda: "RuntimeNotAvailable" in daemon.log())
    time.sleep(0.3)
    assert daemon.ctr_pid(pod, "a") is None
    status = json.loads(podctl(daemon, "get", "pod", pod, "-o", "json").stdout)["status"]
    assert status["containerStatuses"][0]["state"]["waiting"]["reason"] == "RuntimeNotAvailable"


def container_running(daemon, pod, ctr):
    """True once the API reports the container running (not merely its pid file written)."""
    r = podctl(daemon, "get", "pod", pod, "-o", "json")
    if r.returncode != 0:
        return False
    for c in json.loads(r.stdout)["status"].get("containerStatuses", []):
        if c["name"] == ctr:
            return "running" in c["state"]
    return False


def pod_json(daemon, pod):
    r = podctl(daemon, "get", "pod", pod, "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_an_adopted_container_keeps_its_start_and_its_backoff_clock(daemon):
    pod = unique("keep")
    daemon.start()
    daemon.write("keep.yaml", pod_yaml(pod, containers=[{"name": "app", "cmd": "sleep 3600"}],
                                       annotations={"podd.io/restart-backoff":
                                                    "initial=4s,max=8s,reset=3s"}))
    first = wait_for("the app", lambda: daemon.ctr_pid(pod, "app"))
    # Two crashes in a row: the first restart is immediate, the second waits 4 s.
    os.kill(first[0], signal.SIGKILL)
    second = wait_for("the restart", lambda: daemon.ctr_pid(pod, "app") not in (None, first)
                      and daemon.ctr_pid(pod, "app"))
    os.kill(second[0], signal.SIGKILL)
    third = wait_for("the restart after its back-off",
                     lambda: daemon.ctr_pid(pod, "app") not in (None, second)
                     and daemon.ctr_pid(pod, "app"))
    wait_for("the state file", lambda: daemon.restarts(pod, "app") == 2)
    wait_for("the third run recorded", lambda: container_running(daemon, pod, "app"))
    started = pod_json(daemon, pod)["status"]["containerStatuses"][0]["state"]["running"]
    daemon.kill9()
    # Longer than the reset time, and long enough for a new start time to differ.
    time.sleep(4)
    daemon.start()
    wait_for("adoption", lambda: "Adopted" in daemon.log())
    c = pod_json(daemon, pod)["status"]["containerStatuses"][0]
    assert c["state"]["running"] == started, "startedAt is the run's, not the adoption's"
    assert daemon.ctr_pid(pod, "app") == third
    # It ran for more than the reset time: its crash restarts at once, not after 8 s.
    crashed = time.monotonic()
    os.kill(third[0], signal.SIGKILL)
    wait_for("the restart", lambda: daemon.ctr_pid(pod, "app") not in (None, third)
             and daemon.ctr_pid(pod, "app"), timeout=3)
    assert time.monotonic() - crashed < 3


def test_status_times_have_seconds_only(daemon):
    pod = unique("times")
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    daemon.start()
    daemon.write("times.yaml", pod_yaml(pod, init=[{"name": "setup", "cmd": "true"}],
                                        containers=[{"name": "app", "cmd": "sleep 3600"}]))
    wait_for("the app running", lambda: container_running(daemon, pod, "app"))
    status = pod_json(daemon, pod)["status"]
    setup = status["initContainerStatuses"][0]["state"]["terminated"]
    app = status["containerStatuses"][0]["state"]["running"]
    for t in (setup["startedAt"], setup["finishedAt"], app["startedAt"], status["startTime"]):
        assert stamp.match(t), t
    # In one format, the order reads right: setup finished before app started.
    assert setup["startedAt"] <= setup["finishedAt"] <= app["startedAt"]


def saved_events(daemon):
    """(seq, events) of podd's journal of events (STATE-DIR/events.jsonl): a header line
    {"version": 2, "seq": N}, then an event per line. (0, []) when there is none; a line
    cut short (a write under way) is left out, as podd leaves it out."""
    try:
        with open(os.path.join(daemon.state, "events.jsonl")) as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return 0, []
    seq = json.loads(lines[0])["seq"]
    events = []
    for line in lines[1:]:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return max([seq] + [e["seq"] for e in events]), events


def state_files(daemon, pod):
    """(name, mtime, bytes) of each of the pod's state files: equal when nothing was written."""
    out = []
    for name in STATE_SLOTS:
        path = os.path.join(daemon.state, "pods", pod, name)
        try:
            with open(path, "rb") as f:
                out.append((name, os.stat(path).st_mtime_ns, f.read()))
        except FileNotFoundError:
            pass
    return out


def test_state_is_written_only_when_it_changes(daemon):
    pod = unique("still")
    daemon.start()
    daemon.write("still.yaml", pod_yaml(pod, containers=[{"name": "a", "cmd": "sleep 3600"}])
                 .replace("busybox:latest", "nothere:1\n    imagePullPolicy: Never"))
    wait_for("the missing image", lambda: "ErrImageNeverPull" in daemon.log())
    wait_for("the state file", lambda: daemon.pod_state(pod))
    time.sleep(0.5)
    before = state_files(daemon, pod)
    # The image is looked for every 2 s; nothing of the pod changes, so nothing is written.
    time.sleep(4.5)
    assert state_files(daemon, pod) == before


def test_a_failed_state_write_is_retried_not_dropped(daemon):
    pod = unique("retry")
    daemon.start()
    daemon.write("retry.yaml", pod_yaml(pod, containers=[{"name": "a", "cmd": "sleep 3600"}]))
    first = wait_for("the app", lambda: daemon.ctr_pid(pod, "a"))
    wait_for("the state file", lambda: daemon.pod_state(pod))
    # A file where the pod's state directory belongs: every write fails.
    # Renamed away in one step: podd may be writing into it right now.
    poddir = os.path.join(daemon.state, "pods", pod)
    os.rename(poddir, os.path.join(daemon.top, "pod-state-away"))
    with open(poddir, "w") as f:
        f.write("in the way\n")
    os.kill(first[0], signal.SIGKILL)
    wait_for("the restart", lambda: daemon.ctr_pid(pod, "a") not in (None, first))
    wait_for("the failed write, tried again",
             lambda: daemon.log().count(f"pod=default/{pod}: cannot save its state") >= 2)
    assert "retrying in" in daemon.log()
    os.unlink(poddir)
    wait_for("the state written after all", lambda: daemon.restarts(pod, "a") == 1)


def fnv1a64(text):
    h = 1469598103934665603
    for b in text.encode():
        h = ((h ^ b) * 1099511628211) % (1 << 64)
    return f"{h:016x}"


def test_once_records_of_an_older_podd_still_count(daemon):
    # Once records written before they used the content hash hold a 64-bit FNV-1a of the
    # container's spec: an upgrade must not run such an init container a second time.
    pod = unique("oldonce")
    marks = os.path.join(daemon.top, "marks")
    os.makedirs(marks)
    daemon.start()
    daemon.write("once.yaml", pod_yaml(
        pod,
        init=[{"name": "provision", "cmd": "echo ran >> /marks/count",
               "mounts": [("marks", "/marks")]}],
        containers=[{"name": "app", "cmd": "sleep 3600"}],
        extra_spec=f"  volumes:\n  - name: marks\n    hostPath:\n      path: {marks}\n",
        annotations={"podd.io/init-once": "provision"}))
    first = wait_for("the app", lambda: daemon.ctr_pid(pod, "app"))
    daemon.kill9()
    pod_dir = os.path.join(daemon.state, "pods", pod)
    spec = daemon.pod_state(pod)["containers"]["provision"]["specJson"]
    with open(os.path.join(pod_dir, "once.json")) as f:
        once = json.load(f)
    assert len(once["containers"]["provision"]["specHash"]) == 64
    once["containers"]["provision"]["specHash"] = fnv1a64(spec)
    with open(os.path.join(pod_dir, "once.json"), "w") as f:
        json.dump(once, f)
    # As in the test above: the containers are gone and the pod state is lost.
    monitor = daemon.ctr_dir(pod, "app") + "/monitor.pid"
    with open(monitor) as f:
        mpid, mstart = (int(x) for x in f.read().split())
    os.kill(first[0], signal.SIGKILL)
    wait_for("the monitor to end", lambda: proc_start_time(mpid) != mstart)
    with open(os.path.join(pod_dir, "state.json"), "w") as f:
        f.write('{"truncated')
    daemon.start()
    wait_for("the app again", lambda: daemon.ctr_pid(pod, "app"))
    with open(os.path.join(marks, "count")) as f:
        assert f.read() == "ran\n"
