# SPDX-License-Identifier: Apache-2.0
"""How a pod ends, and what it shows meanwhile, with real containers under a real podd.

A dependency that failed for good, the phase under exit policy continue, a
container that cannot start, a pod moved to another namespace; the events of it
all, kept across restarts of podd.
"""
import json
import os

from conftest import mounts_under
from test_daemon import daemon, pod_yaml, podctl, unique, wait_for  # noqa: F401 (fixture)


def status(daemon, pod):
    r = podctl(daemon, "get", "pod", pod, "-o", "json")
    return json.loads(r.stdout)["status"] if r.returncode == 0 else None


def ctr_status(daemon, pod, name):
    st = status(daemon, pod) or {}
    for c in st.get("containerStatuses", []) + st.get("initContainerStatuses", []):
        if c["name"] == name:
            return c
    return None


def waiting_reason(daemon, pod, name):
    c = ctr_status(daemon, pod, name)
    return c and c["state"].get("waiting", {}).get("reason")


def test_dependent_of_a_failed_container_says_dependency_failed_and_the_pod_fails(daemon):
    pod = unique("depfail")
    daemon.start()
    daemon.write("depfail.yaml", pod_yaml(
        pod,
        containers=[{"name": "app", "cmd": "sleep 3600"},
                    {"name": "front", "cmd": "sleep 3600"},
                    {"name": "web", "cmd": "exit 3", "restartPolicy": "Never"}],
        annotations={"podd.io/depends-on.app": "web:completed",
                     "podd.io/depends-on.front": "app:started"}))
    wait_for("the pod to fail", lambda: (status(daemon, pod) or {}).get("phase") == "Failed")
    app = ctr_status(daemon, pod, "app")
    assert app["state"]["waiting"] == {"reason": "DependencyFailed", "message": "web exited 3"}
    # Its own dependent can never start either, and says through whom.
    front = ctr_status(daemon, pod, "front")["state"]["waiting"]
    assert front["reason"] == "DependencyFailed"
    assert front["message"].startswith("app will never start: web exited 3"), front
    assert daemon.ctr_pid(pod, "app") is None and daemon.ctr_pid(pod, "front") is None
    events = podctl(daemon, "events").stdout
    assert "DependencyFailed" in events and "web exited 3" in events
    assert "PodInitializing" not in json.dumps(status(daemon, pod))


def test_exit_policy_continue_keeps_the_pod_running_while_its_sidecar_runs(daemon):
    pod = unique("cont")
    daemon.start()
    daemon.write("cont.yaml", pod_yaml(
        pod, init=[{"name": "side", "cmd": "sleep 3600", "restartPolicy": "Always"}],
        containers=[{"name": "job", "cmd": "exit 0"}], extra_spec="  restartPolicy: Never\n",
        annotations={"podd.io/exit-policy": "continue"}))
    wait_for("the job to complete",
             lambda: (ctr_status(daemon, pod, "job") or {}).get("state", {})
             .get("terminated", {}).get("reason") == "Completed")
    wait_for("the exit policy", lambda: "exit policy continue keeps the sidecars" in daemon.log())
    assert daemon.ctr_pid(pod, "side") is not None
    assert status(daemon, pod)["phase"] == "Running"
    assert daemon.pod_state(pod)["phase"] == "Running"
    # Deleted, the sidecar stops: only then is the pod over.
    os.unlink(os.path.join(daemon.manifests, "cont.yaml"))
    wait_for("the pod to go", lambda: status(daemon, pod) is None)


def test_a_container_that_cannot_start_shows_the_real_reason(daemon):
    pod = unique("nocmd")
    daemon.start()
    daemon.write("nocmd.yaml", f"""apiVersion: v1
kind: Pod
metadata:
  name: {pod}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox:latest
""")
    wait_for("the pod to fail", lambda: (status(daemon, pod) or {}).get("phase") == "Failed")
    term = ctr_status(daemon, pod, "app")["state"]["terminated"]
    assert term["reason"] == "StartError", term
    assert "no command" in term["message"], term
    assert "MonitorLost" not in json.dumps(status(daemon, pod))


def test_changing_the_namespace_replaces_the_pod_and_delete_leaves_nothing(daemon):
    pod = unique("ns")
    daemon.start()
    text = pod_yaml(pod, containers=[{"name": "app", "cmd": "echo hello; sleep 3600"}],
                    extra_spec="  volumes:\n  - name: v\n    emptyDir: {}\n")
    text = text.replace("  - name: app\n", "  - name: app\n    volumeMounts:\n"
                        "    - name: v\n      mountPath: /v\n", 1)
    first = text.replace("metadata:\n", "metadata:\n  namespace: one\n", 1)
    daemon.write("ns.yaml", first)
    wait_for("the pod in one", lambda: (status(daemon, pod) or {}).get("phase") == "Running")
    old_logs = os.path.join(daemon.logs, f"one_{pod}")
    wait_for("its log", lambda: os.path.exists(os.path.join(old_logs, "app.log")))

    daemon.write("ns.yaml", first.replace("namespace: one", "namespace: two"))

    def in_two():
        r = podctl(daemon, "get", "pod", pod, "-o", "json")
        if r.returncode != 0:
            return False
        o = json.loads(r.stdout)
        return o["metadata"]["namespace"] == "two" and o["status"]["phase"] == "Running"

    wait_for("the pod in two", in_two)
    wait_for("the new container running",
             lambda: os.path.exists(os.path.join(daemon.run, "containers", f"two_{pod}_app",
                                                 "container.pid")))
    assert daemon.pod_state(pod)["namespace"] == "two"
    # The old pod is gone: its sandbox, containers and logs.
    assert not os.path.exists(old_logs)
    assert not os.path.exists(os.path.join(daemon.run, "pods", f"one_{pod}"))
    assert not os.path.exists(os.path.join(daemon.run, "containers", f"one_{pod}_app"))
    wait_for("the log of the new pod", lambda: "hello" in podctl(daemon, "logs", pod, "-c", "app").stdout)

    os.unlink(os.path.join(daemon.manifests, "ns.yaml"))
    wait_for("the pod to go", lambda: status(daemon, pod) is None)
    wait_for("its state to go", lambda: daemon.pod_state(pod) is None)
    assert mounts_under(daemon.run) == [], mounts_under(daemon.run)
    assert not os.path.exists(os.path.join(daemon.logs, f"two_{pod}"))


def events(daemon):
    r = podctl(daemon, "events", "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_events_survive_podd_restarts_and_their_sequence_goes_on(daemon):
    pod = unique("ev")
    daemon.start()
    daemon.write("ev.yaml", pod_yaml(pod, containers=[{"name": "app", "cmd": "sleep 3600"}]))
    started = wait_for("the Started event", lambda: [e for e in events(daemon)
                                                     if e["reason"] == "Started"])[0]
    kept = os.path.join(daemon.state, "events.jsonl")
    # Written a moment later, with whatever else happened meanwhile.
    wait_for("the events kept", lambda: os.path.exists(kept) and '"Started"' in open(kept).read())
    journal = os.stat(kept).st_ino
    daemon.kill9()

    daemon.start()
    wait_for("the pod adopted", lambda: any(e["reason"] == "Adopted" for e in events(daemon)))
    # The next burst is appended to the journal, not written with all the others again.
    wait_for("the adoption kept", lambda: '"Adopted"' in open(kept).read())
    assert os.stat(kept).st_ino == journal
    after = events(daemon)
    assert started in after, after
    assert all(e["seq"] > started["seq"] for e in after if e["reason"] == "Adopted")
    seqs = [e["seq"] for e in after]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    # A clean stop keeps the last events too: the pod's stop.
    assert daemon.stop() == 0
    daemon.start()
    again = events(daemon)
    assert started in again
    assert any(e["reason"] == "Killing" and e.get("pod") == pod for e in again), again


def test_events_an_older_podd_kept_are_shown_and_replaced_by_the_journal(daemon):
    old = os.path.join(daemon.state, "events.json")
    os.makedirs(daemon.state, exist_ok=True)
    with open(old, "w") as f:
        json.dump({"version": 1, "seq": 41, "events": [
            {"seq": 41, "pod": "gone", "type": "Normal", "reason": "Started", "message": "old",
             "count": 1, "firstTimestamp": "2026-12-01T10:00:00Z",
             "lastTimestamp": "2026-12-01T10:00:00Z"}]}, f)
    pod = unique("evold")
    daemon.start()
    daemon.write("evold.yaml", pod_yaml(pod, containers=[{"name": "app", "cmd": "sleep 3600"}]))
    wait_for("the Started event", lambda: any(e["reason"] == "Started" and e.get("pod") == pod
                                              for e in events(daemon)))
    shown = events(daemon)
    assert shown[0]["seq"] == 41 and shown[0]["message"] == "old", shown
    assert all(e["seq"] > 41 for e in shown[1:]), shown
    kept = os.path.join(daemon.state, "events.jsonl")
    wait_for("the journal", lambda: os.path.exists(kept) and '"Started"' in open(kept).read())
    assert not os.path.exists(old)
    assert '"message":"old"' in open(kept).read()


def test_a_disk_emptydir_past_its_size_limit_evicts_the_pod(daemon):
    pod, small = unique("full"), unique("fits")
    daemon.start()
    volume = "  volumes:\n  - name: scratch\n    emptyDir:\n      sizeLimit: 1Mi\n"
    mounts = [("scratch", "/scratch")]
    daemon.write("full.yaml", pod_yaml(
        pod, containers=[{"name": "app", "mounts": mounts,
                          "cmd": "dd if=/dev/zero of=/scratch/big bs=1024 count=5120; sleep 3600"}],
        extra_spec=volume))
    daemon.write("fits.yaml", pod_yaml(
        small, containers=[{"name": "app", "mounts": mounts,
                            "cmd": "dd if=/dev/zero of=/scratch/f bs=1024 count=256; sleep 3600"}],
        extra_spec=volume))
    wait_for("the eviction", lambda: (status(daemon, pod) or {}).get("reason") == "Evicted")
    st = wait_for("the pod to fail",
                  lambda: (lambda s: s if s.get("phase") == "Failed" else None)(status(daemon, pod)))
    assert '"scratch"' in st["message"] and "bytes used" in st["message"], st
    assert any(e["reason"] == "Evicted" and e.get("pod") == pod for e in events(daemon))
    wait_for("its container stopped", lambda: daemon.ctr_pid(pod, "app") is None)
    # Evicted for good: not restarted, also not by the next podd.
    daemon.stop()
    daemon.start()
    wait_for("the evicted pod restored",
             lambda: (status(daemon, pod) or {}).get("reason") == "Evicted"
             and status(daemon, pod)["phase"] == "Failed")
    # The pod within its limit runs (again: podd stopped it on its way out).
    wait_for("the other pod running", lambda: (status(daemon, small) or {}).get("phase") == "Running"
             and daemon.ctr_pid(small, "app"))
    assert "reason" not in status(daemon, small)
    assert daemon.ctr_pid(pod, "app") is None
    assert status(daemon, pod)["phase"] == "Failed"
    # A new version replaces the evicted pod: it runs again, no longer evicted.
    daemon.write("full.yaml", pod_yaml(
        pod, containers=[{"name": "app", "mounts": mounts,
                          "cmd": "dd if=/dev/zero of=/scratch/f bs=1024 count=16; sleep 3600"}],
        extra_spec=volume))
    wait_for("the new version running",
             lambda: (status(daemon, pod) or {}).get("phase") == "Running"
             and daemon.ctr_pid(pod, "app"))
    assert "reason" not in status(daemon, pod)
    wait_for("its state file no longer evicted",
             lambda: "evicted" not in (daemon.pod_state(pod) or {"evicted": ""}))
