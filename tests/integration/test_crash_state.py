# SPDX-License-Identifier: Apache-2.0
"""What podd keeps across its own crashes: once records, finished init containers,
back-offs, and state files that fell behind while the disk was full.

Reuses the daemon fixture of test_daemon.py. Crashes are a kill -9 of podd or
PODD_FAILPOINT (podd(8)), which makes podd SIGKILL itself at a named step.
"""
import os
import signal

import pytest

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


def test_a_back_off_is_waited_out_across_a_podd_restart(daemon):
    pod = unique("backoff")
    marks = os.path.join(daemon.top, "marks")
    os.makedirs(marks)
    daemon.start()
    # Each run leaves its start time; the second restart waits 6 s.
    daemon.write("backoff.yaml", pod_yaml(
        pod, containers=[{"name": "c", "cmd": "date +%s >> /marks/starts; exit 1",
                          "mounts": [("marks", "/marks")]}],
        extra_spec=f"  volumes:\n  - name: marks\n    hostPath:\n      path: {marks}\n",
        annotations={"podd.io/restart-backoff": "initial=6s,max=6s,reset=10m"}))

    def starts():
        try:
            with open(os.path.join(marks, "starts")) as f:
                return [int(x) for x in f.read().split()]
        except (FileNotFoundError, ValueError):
            return []

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
