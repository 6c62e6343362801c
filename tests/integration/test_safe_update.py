# SPDX-License-Identifier: Apache-2.0
"""Safe updates, make before break (issue 10, item 6): a new version of a running pod whose image
is not in the store waits for it, and the old container runs on meanwhile (same process, same
restart count); the pod's status and events say what the update waits for; the image arriving
(podctl image import here) replaces the container; the manifest going back drops the wait and
restarts nothing. The same for a whole-pod replacement (a changed init container). The images
waited for here say imagePullPolicy: Never (podd would pull them otherwise: the pulls of an update
are in test_image_pull.py). Every podd started here is ended by its own pid."""
import json
import os
import time

from test_daemon import daemon, pod_json, podctl, unique, wait_for  # noqa: F401 (fixture)

# Exits at once on SIGTERM: a replacement takes milliseconds.
APP = "trap 'exit 0' TERM; sleep 3600 & wait"


def manifest(name, image="busybox:latest", init_image=None, cmd=APP, pull_policy=None):
    text = (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n"
            f"  terminationGracePeriodSeconds: 1\n")
    pull = f"    imagePullPolicy: {pull_policy}\n" if pull_policy else ""
    if init_image:
        text += (f"  initContainers:\n  - name: setup\n    image: {init_image}\n{pull}"
                 f"    command: [sh, -c, 'echo ran >> /runs/setup']\n"
                 f"    volumeMounts:\n    - name: runs\n      mountPath: /runs\n"
                 f"  volumes:\n  - name: runs\n    emptyDir: {{}}\n")
    text += (f"  containers:\n  - name: app\n    image: {image}\n{pull}"
             f"    command: [sh, -c, {json.dumps(cmd)}]\n")
    if init_image:
        text += "    volumeMounts:\n    - name: runs\n      mountPath: /runs\n"
    return text


def app_status(d, pod, name="app"):
    st = pod_json(d, pod)["status"]
    for c in st.get("initContainerStatuses", []) + st.get("containerStatuses", []):
        if c["name"] == name:
            return c
    return None


def running_pid(d, pod, name="app"):
    """The container's process once the API reports it running, else None."""
    c = app_status(d, pod, name)
    return d.ctr_pid(pod, name) if c and "running" in c["state"] else None


def replaced(d, pod, old, name="app"):
    """The container's new process once one other than old runs, else None."""
    pid = running_pid(d, pod, name)
    return pid if pid not in (None, old) else None


def events(d, pod):
    r = podctl(d, "events", pod, "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def reasons(d, pod):
    return [e["reason"] for e in events(d, pod)]


def import_image(d, name):
    rootfs = os.path.join(d.state, "images", "busybox", "latest")
    r = podctl(d, "image", "import", name, rootfs)
    assert r.returncode == 0, r.stderr


def test_an_update_to_a_missing_image_waits_and_the_old_container_runs_on(daemon):
    pod = unique("mbb")
    daemon.start()
    daemon.write("p.yaml", manifest(pod))
    first = wait_for("the app running", lambda: running_pid(daemon, pod))
    restarts = app_status(daemon, pod)["restartCount"]

    daemon.write("p.yaml", manifest(pod, image="busybox:v2", pull_policy="Never"))
    wait_for("the update to wait", lambda: "UpdateWaiting" in reasons(daemon, pod))
    [ev] = [e for e in events(daemon, pod) if e["reason"] == "UpdateWaiting"]
    assert "busybox:v2" in ev["message"] and "not in the image store" in ev["message"], ev
    st = app_status(daemon, pod)
    assert "running" in st["state"], st
    assert st["restartCount"] == restarts
    assert st["pendingUpdate"]["reason"] == "ErrImageNeverPull", st
    assert st["pendingUpdate"]["images"] == ["busybox:v2"], st
    assert "busybox:v2" in podctl(daemon, "describe", "pod", pod).stdout
    # Its 2 s look for the image comes and goes: nothing else happens.
    time.sleep(2.5)
    assert daemon.ctr_pid(pod, "app") == first
    assert app_status(daemon, pod)["restartCount"] == restarts
    assert "Killing" not in reasons(daemon, pod)

    # The image arrives: now the container is replaced, by one of the new version.
    import_image(daemon, "busybox:v2")
    second = wait_for("the replacement", lambda: replaced(daemon, pod, first))
    st = app_status(daemon, pod)
    assert "pendingUpdate" not in st, st
    assert st["image"].endswith("busybox:v2"), st
    assert first != second and daemon.ctr_pid(pod, "app") == second


def test_a_waiting_update_survives_a_restart_of_podd(daemon):
    """podd killed and started again while an update waits: the new podd adopts the old
    container and the update waits on; the image arriving then replaces it."""
    pod = unique("again")
    daemon.start()
    daemon.write("p.yaml", manifest(pod))
    first = wait_for("the app running", lambda: running_pid(daemon, pod))
    daemon.write("p.yaml", manifest(pod, image="busybox:v3", pull_policy="Never"))
    wait_for("the update to wait", lambda: "UpdateWaiting" in reasons(daemon, pod))
    wait_for("the state file to say so",
             lambda: "runningManifest" in (daemon.pod_state(pod) or {}))
    daemon.kill9()
    daemon.start()
    wait_for("the update to wait again",
             lambda: "pendingUpdate" in (app_status(daemon, pod) or {}))
    assert running_pid(daemon, pod) == first
    st = app_status(daemon, pod)
    assert st["restartCount"] == 0 and st["pendingUpdate"]["images"] == ["busybox:v3"], st
    assert "Adopted" in reasons(daemon, pod)
    import_image(daemon, "busybox:v3")
    wait_for("the replacement", lambda: replaced(daemon, pod, first))
    assert app_status(daemon, pod)["image"].endswith("busybox:v3")
    wait_for("the state file to drop the old version",
             lambda: "runningManifest" not in (daemon.pod_state(pod) or {"runningManifest": 1}))


def test_the_manifest_going_back_drops_the_wait_and_restarts_nothing(daemon):
    pod = unique("back")
    daemon.start()
    daemon.write("p.yaml", manifest(pod))
    first = wait_for("the app running", lambda: running_pid(daemon, pod))
    daemon.write("p.yaml", manifest(pod, image="nothere:1", pull_policy="Never"))
    wait_for("the update to wait", lambda: "UpdateWaiting" in reasons(daemon, pod))
    daemon.write("p.yaml", manifest(pod))
    wait_for("the wait dropped", lambda: "UpdateCancelled" in reasons(daemon, pod))
    assert "pendingUpdate" not in app_status(daemon, pod)
    # The image the dropped version named arrives: nothing follows it.
    import_image(daemon, "nothere:1")
    time.sleep(1)
    assert daemon.ctr_pid(pod, "app") == first
    assert app_status(daemon, pod)["restartCount"] == 0
    assert "Killing" not in reasons(daemon, pod)


def test_a_whole_pod_replacement_waits_for_its_init_containers_image(daemon):
    pod = unique("whole")
    daemon.start()
    daemon.write("p.yaml", manifest(pod, init_image="busybox:latest"))
    first = wait_for("the app running", lambda: running_pid(daemon, pod))

    daemon.write("p.yaml", manifest(pod, init_image="busybox:init2", pull_policy="Never"))
    wait_for("the update to wait", lambda: "UpdateWaiting" in reasons(daemon, pod))
    [ev] = [e for e in events(daemon, pod) if e["reason"] == "UpdateWaiting"]
    assert "the whole pod is replaced (init container setup changed)" in ev["message"], ev
    assert app_status(daemon, pod)["pendingUpdate"]["images"] == ["busybox:init2"]
    time.sleep(1)
    assert daemon.ctr_pid(pod, "app") == first
    assert app_status(daemon, pod, "setup")["state"]["terminated"]["reason"] == "Completed"

    import_image(daemon, "busybox:init2")
    wait_for("the new instance", lambda: replaced(daemon, pod, first))
    assert app_status(daemon, pod, "setup")["image"].endswith("busybox:init2")
    assert "pendingUpdate" not in app_status(daemon, pod)


def test_an_update_to_an_invalid_reference_keeps_the_running_version(daemon):
    """A reference that can never resolve is refused with the manifest (InvalidImageName, with
    the parser's reason): the running version is kept, and the status and events say why."""
    pod = unique("bad")
    daemon.start()
    daemon.write("p.yaml", manifest(pod))
    first = wait_for("the app running", lambda: running_pid(daemon, pod))
    daemon.write("p.yaml", manifest(pod, image="Busybox/UPPER:1"))
    wait_for("the refusal", lambda: "ManifestInvalid" in reasons(daemon, pod))
    [ev] = [e for e in events(daemon, pod) if e["reason"] == "ManifestInvalid"]
    assert "InvalidImageName" in ev["message"] and "the running version is kept" in ev["message"]
    st = pod_json(daemon, pod)["status"]
    assert st["reason"] == "ManifestInvalid" and "InvalidImageName" in st["message"], st
    time.sleep(0.5)
    assert daemon.ctr_pid(pod, "app") == first
    assert app_status(daemon, pod)["restartCount"] == 0


def test_a_new_pod_waits_for_its_image_as_before(daemon):
    pod = unique("new")
    daemon.start()
    daemon.write("p.yaml", manifest(pod, image="later:1", pull_policy="Never"))
    wait_for("ErrImageNeverPull", lambda: (app_status(daemon, pod) or {}).get("state", {}).get(
        "waiting", {}).get("reason") == "ErrImageNeverPull")
    assert "UpdateWaiting" not in reasons(daemon, pod)
    import_image(daemon, "later:1")
    wait_for("the app running", lambda: running_pid(daemon, pod))
