# SPDX-License-Identifier: Apache-2.0
"""podctl logs and podctl events against a real podd running real containers.

Reuses the daemon fixture of test_daemon.py: podd in private directories,
stopped (with every pod) after each test. Followers and watchers started
here are ended by their own pid.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import builddir
from test_daemon import Daemon, daemon, pod_yaml, podctl, unique, wait_for  # noqa: F401

PODCTL = os.path.join(builddir(), "podctl")
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"


class Background:
    """A podctl that runs on (logs -f, events -w), its output in a file."""

    def __init__(self, daemon, *args):
        self.out = tempfile.NamedTemporaryFile(mode="w+", prefix="podctl-", delete=False)
        self.err = tempfile.NamedTemporaryFile(mode="w+", prefix="podctl-", delete=False)
        self.proc = subprocess.Popen(
            [PODCTL, "--socket", os.path.join(daemon.run, "podd.sock"), *args],
            stdout=self.out, stderr=self.err)

    def text(self):
        with open(self.out.name) as f:
            return f.read()

    def stderr(self):
        with open(self.err.name) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for f in (self.out, self.err):
            if not f.closed:
                f.close()
                os.unlink(f.name)


@pytest.fixture
def background():
    started = []

    def start(daemon, *args):
        b = Background(daemon, *args)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


def lines(r):
    return r.stdout.splitlines()


def test_logs_of_a_single_container_pod(daemon):
    pod = unique("one")
    daemon.start()
    daemon.write("one.yaml", pod_yaml(pod, containers=[
        {"name": "app", "cmd": "echo one; echo two; echo three; sleep 3600"}]))
    wait_for("the output", lambda: len(daemon.ctr_log(pod, "app")) >= 3)

    r = podctl(daemon, "logs", pod)
    assert r.returncode == 0, r.stderr
    assert lines(r) == ["one", "two", "three"]
    assert lines(podctl(daemon, "logs", f"pod/{pod}")) == ["one", "two", "three"]
    assert lines(podctl(daemon, "logs", pod, "--tail", "2")) == ["two", "three"]
    assert lines(podctl(daemon, "logs", pod, "--tail", "0")) == []
    assert lines(podctl(daemon, "logs", pod, "--tail=-1")) == ["one", "two", "three"]

    stamped = lines(podctl(daemon, "logs", pod, "--timestamps"))
    assert len(stamped) == 3
    for line, text in zip(stamped, ["one", "two", "three"]):
        assert re.fullmatch(f"{STAMP} {text}", line), line

    r = podctl(daemon, "logs", "nope")
    assert r.returncode == 1
    assert r.stderr == "podctl: pod 'nope' not found\n"
    r = podctl(daemon, "logs", pod, "--since", "5x")
    assert r.returncode == 2 and r.stderr.startswith("podctl logs: --since needs a duration")
    r = podctl(daemon, "logs")
    assert r.returncode == 2


def test_logs_since_keeps_only_newer_lines(daemon):
    pod = unique("since")
    daemon.start()
    daemon.write("since.yaml", pod_yaml(pod, containers=[
        {"name": "app", "cmd": "echo old; sleep 4; echo new; sleep 3600"}]))
    wait_for("the second line", lambda: daemon.ctr_log(pod, "app") == ["old", "new"], timeout=20)
    assert lines(podctl(daemon, "logs", pod, "--since", "2s")) == ["new"]
    assert lines(podctl(daemon, "logs", pod, "--since", "1h")) == ["old", "new"]
    assert lines(podctl(daemon, "logs", pod, "--since", "2m", "--tail", "1")) == ["new"]


def test_a_pod_with_several_containers_needs_one_named(daemon):
    pod = unique("multi")
    daemon.start()
    daemon.write("multi.yaml", pod_yaml(
        pod, init=[{"name": "sidecar", "cmd": "echo side; sleep 3600", "restartPolicy": "Always"}],
        containers=[{"name": "a", "cmd": "echo from-a; sleep 3600"},
                    {"name": "b", "cmd": "echo from-b; sleep 3600"}]))
    wait_for("b's output", lambda: daemon.ctr_log(pod, "b") == ["from-b"])

    r = podctl(daemon, "logs", pod)
    assert r.returncode == 1
    assert r.stderr == "podctl: a container name is required: one of [a, b, sidecar]\n"
    r = podctl(daemon, "logs", pod, "-c", "b")
    assert r.returncode == 0, r.stderr
    assert lines(r) == ["from-b"]
    assert lines(podctl(daemon, "logs", pod, "--container", "sidecar")) == ["side"]
    r = podctl(daemon, "logs", pod, "-c", "nope")
    assert r.returncode == 1
    assert r.stderr == f"podctl: container 'nope' is not valid for pod '{pod}'\n"


# Each run appends its number to a file that outlives it; from run 3 on it stays.
COUNTER = ("n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; "
           "echo run $n; echo bye $n; if [ $n -ge 3 ]; then sleep 3600; fi; sleep 0.5; exit 1")


def counter_pod(name):
    return pod_yaml(name, containers=[{"name": "app", "cmd": COUNTER,
                                       "mounts": [("data", "/data")]}],
                    extra_spec="  volumes:\n  - name: data\n    emptyDir: {}\n")


def test_follow_keeps_going_across_restarts_and_previous_shows_the_last_run(daemon, background):
    pod = unique("restart")
    daemon.start()
    daemon.write("restart.yaml", counter_pod(pod))
    follower = background(daemon, "logs", "-f", pod)

    expected = ["run 1", "bye 1", "run 2", "bye 2", "run 3", "bye 3"]
    wait_for("three runs followed", lambda: follower.text().splitlines() == expected
             or len(follower.text().splitlines()) > len(expected), timeout=30)
    assert follower.text().splitlines() == expected, follower.stderr()
    assert follower.proc.poll() is None, "the follower ended while the pod runs"
    os.kill(follower.proc.pid, signal.SIGINT)
    follower.proc.wait(timeout=10)

    wait_for("two restarts", lambda: daemon.restarts(pod, "app") == 2)
    r = podctl(daemon, "logs", pod, "--previous")
    assert r.returncode == 0, r.stderr
    assert lines(r) == ["run 2", "bye 2"]
    assert lines(podctl(daemon, "logs", pod, "-p", "--tail", "1")) == ["bye 2"]
    assert lines(podctl(daemon, "logs", pod)) == expected

    # The run positions are in the pod's state: a new daemon still knows the previous run.
    daemon.kill9()
    daemon.start()
    wait_for("the adoption", lambda: "Adopted" in daemon.log())
    assert lines(podctl(daemon, "logs", pod, "--previous")) == ["run 2", "bye 2"]

    # Deleting the pod ends a follower, successfully.
    second = background(daemon, "logs", "-f", "--tail", "1", pod)
    wait_for("the last line", lambda: second.text() == "bye 3\n")
    os.unlink(os.path.join(daemon.manifests, "restart.yaml"))
    assert second.proc.wait(timeout=30) == 0, second.stderr()
    assert second.text() == "bye 3\n"


def test_a_deleted_pods_log_directory_goes_with_it(daemon):
    live, offline, kept = unique("gone"), unique("gone-off"), unique("stays")
    daemon.start("--on-exit", "keep")
    for name in (live, offline, kept):
        daemon.write(f"{name}.yaml", pod_yaml(name, containers=[
            {"name": "app", "cmd": "echo hello; sleep 3600"}]))
    for name in (live, offline, kept):
        wait_for(f"{name}'s log", lambda: daemon.ctr_log(name, "app") == ["hello"])

    def log_dir(name):
        return os.path.join(daemon.logs, f"default_{name}")

    # Deleted while podd runs: gone once the pod is.
    os.unlink(os.path.join(daemon.manifests, f"{live}.yaml"))
    wait_for("the pod to go", lambda: daemon.pod_state(live) is None)
    assert not os.path.exists(log_dir(live))
    # Deleted while podd was down: the next podd removes it, logs too.
    assert daemon.stop() == 0
    os.unlink(os.path.join(daemon.manifests, f"{offline}.yaml"))
    daemon.start()
    wait_for("the orphan to go", lambda: daemon.pod_state(offline) is None)
    assert not os.path.exists(log_dir(offline))
    # The pod still wanted keeps its log.
    assert daemon.ctr_log(kept, "app") == ["hello"]


def test_previous_of_a_container_that_never_restarted_is_an_error(daemon):
    pod = unique("noprev")
    daemon.start()
    daemon.write("noprev.yaml", pod_yaml(pod, containers=[{"name": "app", "cmd": "sleep 3600"}]))
    wait_for("the app", lambda: daemon.ctr_pid(pod, "app"))
    r = podctl(daemon, "logs", pod, "--previous")
    assert r.returncode == 1
    assert r.stderr == (f"podctl: previous terminated container 'app' in pod '{pod}' "
                        "not found\n")


def test_follow_continues_across_a_log_rotation(daemon, background):
    pod = unique("rotate")
    daemon.start()
    # 10 MiB is the rotation size: 11,000 lines of 1 KiB rotate the log once.
    daemon.write("rotate.yaml", pod_yaml(pod, containers=[
        {"name": "app", "cmd": "sleep 1; i=0; while [ $i -lt 11000 ]; do i=$((i+1)); "
         "printf '%05d %01019d\\n' $i 0; done; echo done; sleep 3600"}]))
    follower = background(daemon, "logs", "-f", pod)
    rotated = os.path.join(daemon.logs, f"default_{pod}", "app.log.1")
    wait_for("the rotation", lambda: os.path.exists(rotated), timeout=60)
    wait_for("the end", lambda: follower.text().endswith("done\n"), timeout=60)
    got = follower.text().splitlines()
    assert got[-1] == "done"
    numbers = [int(line.split()[0]) for line in got[:-1]]
    assert numbers == list(range(1, 11001)), "every line once, in order"


def test_logs_as_a_member_of_the_socket_group(daemon, tmp_path):
    if not shutil.which("setpriv"):
        pytest.skip("needs setpriv")
    pod = unique("group")
    gid = 54321
    sockdir = tempfile.mkdtemp(prefix="podd-sock-")
    os.chmod(sockdir, 0o755)
    sock = os.path.join(sockdir, "podd.sock")
    try:
        daemon.start("--socket", sock, "--socket-group", str(gid))
        daemon.write("group.yaml", pod_yaml(pod, containers=[
            {"name": "app", "cmd": "echo visible; sleep 3600"}]))
        wait_for("the output", lambda: daemon.ctr_log(pod, "app") == ["visible"])
        as_member = ["setpriv", "--reuid=65534", f"--regid={gid}", "--clear-groups", "--",
                     PODCTL, "--socket", sock]
        r = subprocess.run([*as_member, "logs", pod], capture_output=True, text=True,
                           timeout=30, cwd="/")
        assert r.returncode == 0, r.stderr
        assert r.stdout == "visible\n"
        r = subprocess.run([*as_member, "events", pod], capture_output=True, text=True,
                           timeout=30, cwd="/")
        assert r.returncode == 0, r.stderr
        assert f"pod/{pod}/app" in r.stdout
        outsider = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                    PODCTL, "--socket", sock, "logs", pod]
        r = subprocess.run(outsider, capture_output=True, text=True, timeout=30, cwd="/")
        assert r.returncode == 1 and "permission denied" in r.stderr
    finally:
        daemon.stop(timeout=60)
        shutil.rmtree(sockdir, ignore_errors=True)


def events_json(daemon, *args):
    r = podctl(daemon, "events", "-o", "json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_events_for_each_lifecycle_step(daemon):
    pod = unique("life")
    daemon.start()
    daemon.write("life.yaml", pod_yaml(pod, containers=[
        {"name": "c", "cmd": "echo hi; sleep 0.3; exit 3"}]))
    wait_for("a back-off", lambda: any(e["reason"] == "BackOff"
                                       for e in events_json(daemon, pod)), timeout=20)
    # Let it run again, then delete it while it runs or backs off.
    wait_for("the third start", lambda: sum(e["reason"] == "Started"
                                            for e in events_json(daemon, pod)) >= 3, timeout=20)
    daemon.write("life.yaml", pod_yaml(pod, containers=[
        {"name": "c", "cmd": "echo hi; sleep 3600"}]).replace("spec:", "spec: [oops", 1))
    wait_for("the invalid manifest", lambda: any(e["reason"] == "ManifestInvalid"
                                                 for e in events_json(daemon, pod)))
    daemon.write("broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [x\n")
    wait_for("the broken file", lambda: any(e.get("file") == "broken.yaml"
                                            for e in events_json(daemon)))
    os.unlink(os.path.join(daemon.manifests, "life.yaml"))
    wait_for("Killing", lambda: any(e["reason"] == "Killing" for e in events_json(daemon, pod)))

    events = events_json(daemon, pod)
    reasons = [e["reason"] for e in events]
    assert reasons[0] == "Created", reasons
    for reason in ("Started", "Exited", "BackOff", "ManifestInvalid", "Killing"):
        assert reason in reasons, (reason, reasons)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    by = {e["reason"]: e for e in events}
    assert by["Exited"]["type"] == "Warning" and by["Exited"]["container"] == "c"
    assert by["Exited"]["message"].startswith("exit code 3")
    assert re.fullmatch(r"restarting in \d+s", by["BackOff"]["message"])
    assert re.match(r"life\.yaml:\d+:\d+: ", by["ManifestInvalid"]["message"]), by
    for e in events:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["lastTimestamp"])
    broken = [e for e in events_json(daemon) if e.get("file") == "broken.yaml"]
    assert broken[0]["reason"] == "ManifestInvalid" and "pod" not in broken[0]
    assert re.match(r"broken\.yaml:\d+:\d+: ", broken[0]["message"])

    r = podctl(daemon, "events", pod)
    assert r.returncode == 0, r.stderr
    head, *rows = r.stdout.splitlines()
    assert re.fullmatch(r"LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE", head)
    assert any(re.fullmatch(rf"\S+\s+Warning\s+Exited\s+pod/{pod}/c\s+exit code 3.*", row)
               for row in rows), rows
    assert any(re.fullmatch(rf"\S+\s+Normal\s+Created\s+pod/{pod}\s+from life\.yaml", row)
               for row in rows), rows
    assert "\033[" not in r.stdout
    r = podctl(daemon, "events")
    assert "manifest/broken.yaml" in r.stdout


def test_events_watch_prints_what_happens_after_it_started(daemon, background):
    first, later = unique("first"), unique("later")
    daemon.start()
    daemon.write("first.yaml", pod_yaml(first, containers=[{"name": "app", "cmd": "sleep 3600"}]))
    wait_for("first started", lambda: daemon.ctr_pid(first, "app"))
    watcher = background(daemon, "events", "-w")
    wait_for("the existing events", lambda: f"pod/{first}/app" in watcher.text())
    assert later not in watcher.text()
    daemon.write("later.yaml", pod_yaml(later, containers=[{"name": "app", "cmd": "sleep 3600"}]))
    wait_for("the new events", lambda: re.search(
        rf"Normal\s+Started\s+pod/{later}/app", watcher.text()))
    time.sleep(0.6)
    text = watcher.text()
    assert len(re.findall(rf"Created\s+pod/{later}\s", text)) == 1, text
    assert text.count(f"pod/{first}/app") == 1, text
    assert text.splitlines()[0].startswith("LAST SEEN")
    assert watcher.proc.poll() is None
