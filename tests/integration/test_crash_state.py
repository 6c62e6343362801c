# SPDX-License-Identifier: Apache-2.0
"""What podd keeps across its own crashes: once records, finished init containers,
back-offs, and state files that fell behind while the disk was full.

Reuses the daemon fixture of test_daemon.py. Crashes are a kill -9 of podd or
PODD_FAILPOINT (podd(8)), which makes podd SIGKILL itself at a named step.
"""
import contextlib
import errno
import os
import shutil
import signal
import subprocess

import pytest

from conftest import read_pod_state
from test_daemon import (container_running, daemon, pod_json, pod_yaml,  # noqa: F401
                         unique, wait_for)


def once_pod(pod, marks):
    return pod_yaml(
        pod,
        init=[{"name": "provision", "cmd": "echo ran >> /marks/count",
               "mounts": [("marks", "/marks")]}],
        containers=[{"name": "app", "cmd": "sleep 3600"}],
        extra_spec=f"  volumes:\n  - name: marks\n    hostPath:\n      path: {marks}\n",
        annotations={"podd.io/init-once": "provision"})


def runs(marks):
    try:
        with open(os.path.join(marks, "count")) as f:
            return f.read().count("ran\n")
    except FileNotFoundError:
        return 0


def wait_for_podd_death(daemon, timeout=30):
    wait_for("podd to kill itself", lambda: daemon.proc.poll() is not None, timeout=timeout)
    assert daemon.proc.returncode == -signal.SIGKILL, daemon.log()[-2000:]


def assert_completed_init(daemon, pod):
    status = pod_json(daemon, pod)["status"]
    init = status["initContainerStatuses"][0]
    assert init["name"] == "provision"
    done = init["state"].get("terminated")
    assert done, init
    assert done["exitCode"] == 0 and done["reason"] == "Completed", init
    assert done["startedAt"] and done["finishedAt"], init
    conds = {c["type"]: c["status"] for c in status["conditions"]}
    assert conds["Initialized"] == "True", status


# Every step of an init-once container's completion, in the order podd takes them.
ONCE_STEPS = ["init-once-exited", "init-once-recorded", "exit-saved", "run-removed"]


@pytest.mark.parametrize("step", ONCE_STEPS)
def test_once_init_runs_exactly_once_whatever_step_podd_dies_at(daemon, step):
    pod = unique("oncefp")
    marks = os.path.join(daemon.top, "marks")
    os.makedirs(marks)
    daemon.env = dict(os.environ, PODD_FAILPOINT=step)
    daemon.start()
    daemon.write("once.yaml", once_pod(pod, marks))
    wait_for_podd_death(daemon)
    assert f"failpoint {step} reached" in daemon.log()
    assert runs(marks) == 1
    daemon.env = None
    daemon.start()
    wait_for("the app running", lambda: container_running(daemon, pod, "app"))
    assert runs(marks) == 1, "the once-only init container ran again after the crash"
    assert_completed_init(daemon, pod)
    # Whatever the step, nothing of its run is left behind once podd is back.
    wait_for("its run removed", lambda: not os.path.exists(daemon.ctr_dir(pod, "provision")))
    # A later restart of podd finds the same.
    daemon.kill9()
    daemon.start()
    wait_for("adoption", lambda: container_running(daemon, pod, "app"))
    assert runs(marks) == 1
    assert_completed_init(daemon, pod)


@pytest.mark.parametrize("how", ["kill9", "sigterm-keep"])
def test_a_finished_init_container_shows_completed_after_a_podd_restart(daemon, how):
    pod = unique("initdone")
    daemon.start("--on-exit", "keep") if how == "sigterm-keep" else daemon.start()
    daemon.write("initdone.yaml", pod_yaml(
        pod, init=[{"name": "setup", "cmd": "true"}],
        containers=[{"name": "app", "cmd": "sleep 3600"}]))
    wait_for("the app running", lambda: container_running(daemon, pod, "app"))
    before = pod_json(daemon, pod)["status"]["initContainerStatuses"][0]
    assert before["state"]["terminated"]["reason"] == "Completed", before
    app = daemon.ctr_pid(pod, "app")
    if how == "kill9":
        daemon.kill9()
    else:
        assert daemon.stop() == 0
    daemon.start()
    wait_for("adoption", lambda: container_running(daemon, pod, "app"))
    assert daemon.ctr_pid(pod, "app") == app
    status = pod_json(daemon, pod)["status"]
    after = status["initContainerStatuses"][0]
    # Exactly as before the restart: terminated, Completed, exit 0, its own times.
    assert after["state"] == before["state"], (before, after)
    conds = {c["type"]: c["status"] for c in status["conditions"]}
    assert conds["Initialized"] == "True" and status["phase"] == "Running", status


def crash_loop(daemon, pod, name, backoff):
    """Writes a pod whose container notes its start time in marks/starts and exits 1, with
    the back-off backoff; returns the reader of those start times (seconds)."""
    marks = os.path.join(daemon.top, "marks")
    os.makedirs(marks)
    daemon.write(name, pod_yaml(
        pod, containers=[{"name": "c", "cmd": "date +%s >> /marks/starts; exit 1",
                          "mounts": [("marks", "/marks")]}],
        extra_spec=f"  volumes:\n  - name: marks\n    hostPath:\n      path: {marks}\n",
        annotations={"podd.io/restart-backoff": backoff}))

    def starts():
        try:
            with open(os.path.join(marks, "starts")) as f:
                return [int(x) for x in f.read().split()]
        except (FileNotFoundError, ValueError):
            return []
    return starts


def test_a_back_off_is_waited_out_across_a_podd_restart(daemon):
    pod = unique("backoff")
    daemon.start()
    # Each run leaves its start time; the second restart waits 6 s.
    starts = crash_loop(daemon, pod, "backoff.yaml", "initial=6s,max=6s,reset=10m")

    def waiting_reason():
        for c in pod_json(daemon, pod)["status"].get("containerStatuses", []):
            return c["state"].get("waiting", {}).get("reason")
        return None

    # The first restart is immediate; after the second exit comes the 6 s back-off.
    wait_for("the back-off", lambda: len(starts()) == 2 and waiting_reason() ==
             "CrashLoopBackOff")
    wait_for("the back-off saved",
             lambda: "backoffUntil" in daemon.pod_state(pod)["containers"]["c"])
    last = starts()[-1]
    daemon.kill9()
    daemon.start()
    wait_for("podd to take the pod over", lambda: waiting_reason() is not None)
    assert waiting_reason() == "CrashLoopBackOff"
    status = pod_json(daemon, pod)["status"]["containerStatuses"][0]
    assert status["restartCount"] == 1, status
    assert status["lastState"]["terminated"]["exitCode"] == 1, status
    # The restart comes when the back-off ends, not when podd came back.
    wait_for("the restart after the back-off", lambda: len(starts()) == 3, timeout=20)
    assert starts()[-1] - last >= 5, starts()


def test_an_exit_found_again_after_a_crash_counts_once_in_the_back_off(daemon):
    """podd dies right after saving an exit (failpoint exit-saved), before it removes the
    run's records: the next podd finds the exit again. The back-off step it counted then
    is not counted again: the restart after the next exit waits 4 s, not 8."""
    pod = unique("recount")
    daemon.env = dict(os.environ, PODD_FAILPOINT="exit-saved")
    daemon.start()
    starts = crash_loop(daemon, pod, "recount.yaml", "initial=4s,max=60s,reset=10m")
    wait_for("podd to kill itself", lambda: daemon.proc.poll() is not None)
    assert "failpoint exit-saved reached" in daemon.log()
    assert len(starts()) == 1
    saved = daemon.pod_state(pod)["containers"]["c"]
    assert saved["restartDecided"] and saved["backoffStep"] == 1, saved
    daemon.env = None
    daemon.start()
    # The first restart is immediate; the exit after it waits the first back-off, 4 s.
    wait_for("the third run", lambda: len(starts()) == 3, timeout=30)
    first, second, third = starts()
    assert 3 <= third - second <= 6, starts()
    status = pod_json(daemon, pod)["status"]["containerStatuses"][0]
    assert status["restartCount"] >= 2, status


def fill(path):
    """Writes one file until the filesystem at path is full."""
    with open(os.path.join(path, "filler"), "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC, e


def block_pod_state(daemon, pod):
    """Moves the pod's state directory aside (to STATE/aside/pods/POD, the same file system)
    and puts a file in its place: every save fails until unblock_pod_state(). Renamed in one
    step: podd may be writing into it right now."""
    os.makedirs(os.path.join(daemon.state, "aside", "pods"), exist_ok=True)
    poddir = os.path.join(daemon.state, "pods", pod)
    os.rename(poddir, os.path.join(daemon.state, "aside", "pods", pod))
    with open(poddir, "w"):
        pass


def blocked_pod_state(daemon, pod):
    """The state of a pod whose directory block_pod_state() moved aside."""
    return read_pod_state(os.path.join(daemon.state, "aside"), pod)


def unblock_pod_state(daemon, pod):
    """Puts the state directory moved aside by block_pod_state() back, as it was."""
    poddir = os.path.join(daemon.state, "pods", pod)
    os.unlink(poddir)
    os.rename(os.path.join(daemon.state, "aside", "pods", pod), poddir)


@contextlib.contextmanager
def small_state_dir(daemon):
    """The state directory on a small tmpfs of its own, the image store in it."""
    aside = os.path.join(daemon.top, "state-aside")
    os.rename(daemon.state, aside)
    os.makedirs(daemon.state)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "podd-test-state",
                    daemon.state], check=True)
    try:
        shutil.copytree(os.path.join(aside, "images"), os.path.join(daemon.state, "images"),
                        symlinks=True)
        yield
    finally:
        daemon.stop()
        subprocess.run(["umount", "-l", daemon.state], check=False)


def test_once_init_on_a_full_disk_keeps_its_run_until_recorded(daemon):
    pod = unique("oncefull")
    marks = os.path.join(daemon.top, "marks")
    os.makedirs(marks)
    with small_state_dir(daemon):
        daemon.start()
        fill(daemon.state)
        daemon.write("once.yaml", once_pod(pod, marks))
        wait_for("the app running", lambda: container_running(daemon, pod, "app"))
        assert runs(marks) == 1
        wait_for("the failed once record", lambda: "cannot record its one run" in daemon.log())
        # Its exit record is the only proof of its success: kept.
        assert os.path.exists(os.path.join(daemon.ctr_dir(pod, "provision"), "exit.json"))
        daemon.kill9()
        os.unlink(os.path.join(daemon.state, "filler"))
        daemon.start()
        wait_for("the app taken over", lambda: container_running(daemon, pod, "app"))
        wait_for("its run removed", lambda: not os.path.exists(daemon.ctr_dir(pod, "provision")))
        assert runs(marks) == 1, "the once-only init container ran again"
        assert_completed_init(daemon, pod)
        with open(os.path.join(daemon.state, "pods", pod, "once.json")) as f:
            assert "provision" in f.read()


def test_a_state_file_behind_a_full_disk_never_replaces_what_runs(daemon):
    pod = unique("full")
    with small_state_dir(daemon):

        def manifest(b_cmd, c=False):
            ctrs = [{"name": "a", "cmd": "sleep 3600"}, {"name": "b", "cmd": b_cmd}]
            if c:
                ctrs.append({"name": "c", "cmd": "sleep 3600"})
            return pod_yaml(pod, containers=ctrs)

        daemon.start()
        daemon.write("full.yaml", manifest("sleep 3600"))
        wait_for("both running", lambda: container_running(daemon, pod, "a")
                 and container_running(daemon, pod, "b"))
        a, old_b = daemon.ctr_pid(pod, "a"), daemon.ctr_pid(pod, "b")
        wait_for("the state saved", lambda: daemon.pod_state(pod)["containers"]["b"]
                 .get("everStarted"))
        saved = daemon.pod_state(pod)["runningHash"]

        # Full: b is replaced in place, and the state file cannot say so. (A slot rewritten in
        # place may still have room on a full disk: the pod's directory goes out of reach too.)
        fill(daemon.state)
        block_pod_state(daemon, pod)
        fails = daemon.log().count(f"pod=default/{pod}: cannot save its state")
        daemon.write("full.yaml", manifest("sleep 3601"))
        wait_for("b replaced", lambda: daemon.ctr_pid(pod, "b") not in (None, old_b)
                 and container_running(daemon, pod, "b"))
        b = daemon.ctr_pid(pod, "b")
        wait_for("the failed save", lambda: daemon.log().count(
            f"pod=default/{pod}: cannot save its state") > fails)
        assert blocked_pod_state(daemon, pod)["runningHash"] == saved, "the state file is behind"
        daemon.kill9()
        unblock_pod_state(daemon, pod)
        os.unlink(os.path.join(daemon.state, "filler"))
        daemon.start()
        wait_for("both taken over", lambda: container_running(daemon, pod, "a")
                 and container_running(daemon, pod, "b"))
        assert daemon.ctr_pid(pod, "a") == a, "a was restarted because the state file lagged"
        assert daemon.ctr_pid(pod, "b") == b, "b was restarted because the state file lagged"
        assert "manifest changed while podd was down" not in daemon.log()
        wait_for("the state caught up", lambda: daemon.pod_state(pod)["runningHash"] != saved)
        assert "sleep 3601" in daemon.pod_state(pod)["containers"]["b"]["specJson"]

        # Full again: a new container; space comes back; the retries catch the state up.
        saved = daemon.pod_state(pod)["runningHash"]
        fill(daemon.state)
        block_pod_state(daemon, pod)
        daemon.write("full.yaml", manifest("sleep 3601", c=True))
        wait_for("c running", lambda: container_running(daemon, pod, "c"))
        c = daemon.ctr_pid(pod, "c")
        assert blocked_pod_state(daemon, pod)["runningHash"] == saved
        unblock_pod_state(daemon, pod)
        os.unlink(os.path.join(daemon.state, "filler"))
        wait_for("the state caught up", lambda: "c" in daemon.pod_state(pod)["containers"],
                 timeout=40)
        daemon.kill9()
        daemon.start()
        wait_for("all taken over", lambda: all(container_running(daemon, pod, x)
                                               for x in "abc"))
        assert [daemon.ctr_pid(pod, x) for x in "abc"] == [a, b, c]
        assert daemon.restarts(pod, "a") == 0


def test_a_state_sync_that_fails_is_logged_and_made_again(daemon):
    """podd syncs the pods' states on a thread of its own, so that its loop never waits for
    the disk. A sync that fails (PODD_FAILPOINT=state-sync fails the first with EIO) is
    logged, the state is saved and synced again, and the pod runs on; a podd killed after
    takes the pod over from that state."""
    pod = unique("syncfail")
    daemon.env = dict(os.environ, PODD_FAILPOINT="state-sync")
    daemon.start()
    daemon.write("s.yaml", pod_yaml(pod, containers=[{"name": "a", "cmd": "sleep 3600"}]))
    wait_for("the container", lambda: container_running(daemon, pod, "a"))
    wait_for("the failed sync and the one after it logged",
             lambda: f"pod=default/{pod}: its state is synced again" in daemon.log())
    log = daemon.log()
    assert "failpoint state-sync reached" in log
    assert log.count(f"pod=default/{pod}: cannot sync its state: Input/output error") == 1, log
    assert log.index("cannot sync its state") < log.index("its state is synced again")
    ctr = daemon.ctr_pid(pod, "a")
    daemon.kill9()
    daemon.env = None
    daemon.start()
    wait_for("the pod taken over", lambda: (daemon.pod_state(pod) or {}).get("phase") == "Running"
             and container_running(daemon, pod, "a"))
    assert daemon.ctr_pid(pod, "a") == ctr
    assert daemon.restarts(pod, "a") == 0
