# SPDX-License-Identifier: Apache-2.0
"""podctl apply, delete and restart against a real podd (issue 5, part 1).

Applied manifests live in <state>/applied/, join the desired set beside the
manifest directory, survive a daemon restart, and are all-or-nothing."""
import os
import subprocess
import time

from test_daemon import daemon, podctl, pod_yaml, unique, wait_for  # noqa: F401 (fixture)
from conftest import builddir


def apply(d, *args, stdin=None, timeout=60):
    return subprocess.run([os.path.join(builddir(), "podctl"), "--socket",
                           os.path.join(d.run, "podd.sock"), "apply", *args],
                          capture_output=True, text=True, input=stdin, timeout=timeout)


def applied_files(d):
    try:
        return sorted(n for n in os.listdir(os.path.join(d.state, "applied"))
                      if not n.startswith("."))
    except FileNotFoundError:
        return []


def write_manifest(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_apply_creates_then_unchanged_then_configures_one_container(daemon, tmp_path):
    pod = unique("web")
    daemon.start()
    path = write_manifest(tmp_path, "web.yaml", pod_yaml(pod, containers=[
        {"name": "app", "cmd": "sleep 3600"}, {"name": "side", "cmd": "sleep 3600"}]))
    r = apply(daemon, "-f", path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"pod/{pod} created\n"
    assert applied_files(daemon) == [f"{pod}.yaml"]
    first = wait_for("the app", lambda: daemon.ctr_pid(pod, "app"))
    side = wait_for("the side", lambda: daemon.ctr_pid(pod, "side"))
    got = podctl(daemon, "get", "pod", pod, "-o", "json")
    assert '"podd.io/source": "api"' in got.stdout.replace('":"', '": "')

    r = apply(daemon, "-f", path)
    assert r.returncode == 0 and r.stdout == f"pod/{pod} unchanged\n", r

    # A dry run names what would change and changes nothing.
    write_manifest(tmp_path, "web.yaml", pod_yaml(pod, containers=[
        {"name": "app", "cmd": "sleep 3601"}, {"name": "side", "cmd": "sleep 3600"}]))
    stored = open(os.path.join(daemon.state, "applied", f"{pod}.yaml")).read()
    r = apply(daemon, "-f", path, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"pod/{pod} configured (dry run): replaces container app\n"
    time.sleep(0.5)
    assert daemon.ctr_pid(pod, "app") == first
    assert open(os.path.join(daemon.state, "applied", f"{pod}.yaml")).read() == stored

    r = apply(daemon, "-f", path)
    assert r.returncode == 0 and r.stdout == f"pod/{pod} configured: replaces container app\n", r
    wait_for("the new app", lambda: daemon.ctr_pid(pod, "app") not in (None, first))
    assert daemon.ctr_pid(pod, "side") == side


def test_concurrent_applies_of_a_new_pod_create_it_exactly_once(daemon, tmp_path):
    pod = unique("race")
    daemon.start()
    path = write_manifest(tmp_path, "race.yaml", pod_yaml(pod, containers=[
        {"name": "app", "cmd": "sleep 3600"}]))
    cmd = [os.path.join(builddir(), "podctl"), "--socket", os.path.join(daemon.run, "podd.sock"),
           "apply", "-f", path]
    for round_ in range(3):
        name = f"{pod}-{round_}"
        with open(path, "w") as f:
            f.write(pod_yaml(name, containers=[{"name": "app", "cmd": "sleep 3600"}]))
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(20)]
        outs = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
        assert all(rc == 0 for _, _, rc in outs), outs
        said = [out for out, _, _ in outs]
        assert said.count(f"pod/{name} created\n") == 1, said
        assert said.count(f"pod/{name} unchanged\n") == 19, said
    first = wait_for("the app", lambda: daemon.ctr_pid(f"{pod}-0", "app"))
    time.sleep(0.5)
    assert daemon.ctr_pid(f"{pod}-0", "app") == first
    assert daemon.log().count(f"pod=default/{pod}-0 Created") == 1


def test_apply_of_a_directory_with_one_invalid_manifest_applies_nothing(daemon, tmp_path):
    daemon.start()
    pods = [unique(f"many{i}") for i in range(20)]
    d = tmp_path / "dir"
    d.mkdir()
    for i, pod in enumerate(pods):
        (d / f"{i:02d}.yaml").write_text(pod_yaml(pod, containers=[{"name": "c", "cmd": "sleep 3600"}]))
    # The 13th breaks a rule the schema cannot see: a negative grace period.
    (d / "12.yaml").write_text(pod_yaml(pods[12], containers=[{"name": "c", "cmd": "true"}],
                                        grace=-5))
    r = apply(daemon, "-f", str(d))
    assert r.returncode == 1, r
    assert f"{d}/12.yaml:" in r.stderr and "terminationGracePeriodSeconds" in r.stderr, r.stderr
    assert "nothing applied" in r.stderr
    assert r.stdout == ""
    assert applied_files(daemon) == []
    assert podctl(daemon, "get", "pods").stdout.strip() in ("", "No resources found.")

    (d / "12.yaml").write_text(pod_yaml(pods[12], containers=[{"name": "c", "cmd": "sleep 3600"}]))
    r = apply(daemon, "-f", str(d))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"pod/{p} created" for p in pods]
    assert len(applied_files(daemon)) == 20


def test_apply_reads_multi_document_stdin_and_waits(daemon):
    a, b = unique("a"), unique("b")
    daemon.start()
    text = (pod_yaml(a, init=[{"name": "setup", "cmd": "true"}],
                     containers=[{"name": "app", "cmd": "sleep 3600"}])
            + "---\n" + pod_yaml(b, containers=[{"name": "app", "cmd": "sleep 3600"}]))
    r = apply(daemon, "-f", "-", "--wait=30s", stdin=text)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:2] == [f"pod/{a} created", f"pod/{b} created"]
    assert sorted(lines[2:]) == sorted([f"pod/{a} ready", f"pod/{b} ready"])
    assert daemon.ctr_pid(a, "app") and daemon.ctr_pid(b, "app")


def test_wait_fails_on_a_crash_looping_container_within_its_timeout(daemon, tmp_path):
    pod = unique("crash")
    daemon.start()
    path = write_manifest(tmp_path, "crash.yaml",
                          pod_yaml(pod, containers=[{"name": "c", "cmd": "exit 3"}]))
    t0 = time.monotonic()
    r = apply(daemon, "-f", path, "--wait=20s")
    assert r.returncode == 1, r
    assert time.monotonic() - t0 < 20
    assert f"pod/{pod} failed: container c is crash-looping (last exit code 3)" in r.stderr

    # A pod that never gets ready: the timeout says what it waits for.
    slow = unique("noimage")
    path = write_manifest(tmp_path, "slow.yaml", pod_yaml(slow, containers=[
        {"name": "c", "cmd": "true"}]).replace("busybox:latest",
                                               "nothere:1\n    imagePullPolicy: Never"))
    r = apply(daemon, "-f", path, "--wait=2")
    assert r.returncode == 1
    assert f"timed out after 2s waiting for pod/{slow}: container c is waiting: ErrImageNeverPull" \
        in r.stderr, r.stderr


def test_wait_follows_an_update_held_for_its_image_not_the_old_version(daemon, tmp_path):
    pod = unique("held")
    daemon.start()
    path = write_manifest(tmp_path, "held.yaml",
                          pod_yaml(pod, containers=[{"name": "c", "cmd": "sleep 3600"}]))
    r = apply(daemon, "-f", path, "--wait=30s")
    assert r.returncode == 0 and f"pod/{pod} ready" in r.stdout, r
    first = daemon.ctr_pid(pod, "c")
    # The new version waits for an image that is not there; the old one, ready, runs on.
    write_manifest(tmp_path, "held.yaml", pod_yaml(pod, containers=[
        {"name": "c", "cmd": "sleep 3601"}]).replace("busybox:latest",
                                                     "nothere:2\n    imagePullPolicy: Never"))
    r = apply(daemon, "-f", path, "--wait=3")
    assert r.returncode == 1, r
    assert f"timed out after 3s waiting for pod/{pod}: the update of container c waits: " \
        "ErrImageNeverPull" in r.stderr, r.stderr
    assert daemon.ctr_pid(pod, "c") == first


def test_a_name_of_the_manifest_directory_cannot_be_applied(daemon, tmp_path):
    pod = unique("owned")
    daemon.start()
    daemon.write("owned.yaml", pod_yaml(pod, containers=[{"name": "c", "cmd": "sleep 3600"}]))
    wait_for("the file's pod", lambda: daemon.ctr_pid(pod, "c"))
    path = write_manifest(tmp_path, "mine.yaml",
                          pod_yaml(pod, containers=[{"name": "c", "cmd": "sleep 10"}]))
    r = apply(daemon, "-f", path)
    assert r.returncode == 1
    assert f"pod '{pod}' of {path} is already defined by {daemon.manifests}/owned.yaml" \
        in r.stderr, r.stderr
    assert applied_files(daemon) == []
    d = podctl(daemon, "delete", "pod", pod)
    assert d.returncode == 1
    assert f"defined by {daemon.manifests}/owned.yaml in the manifest directory" in d.stderr
    assert daemon.ctr_pid(pod, "c")


def test_delete_stops_and_removes_an_applied_pod(daemon, tmp_path):
    a, b = unique("del"), unique("keep")
    daemon.start()
    pa = write_manifest(tmp_path, "a.yaml", pod_yaml(a, containers=[{"name": "c", "cmd": "sleep 3600"}]))
    pb = write_manifest(tmp_path, "b.yaml", pod_yaml(b, containers=[{"name": "c", "cmd": "sleep 3600"}]))
    assert apply(daemon, "-f", pa, "-f", pb).returncode == 0
    pid = wait_for("a", lambda: daemon.ctr_pid(a, "c"))
    wait_for("b", lambda: daemon.ctr_pid(b, "c"))

    r = podctl(daemon, "delete", "pod", a)
    assert r.returncode == 0 and r.stdout == f"pod/{a} deleted\n", r
    # delete waits until the pod is gone.
    assert podctl(daemon, "get", "pod", a).returncode == 1
    assert not os.path.exists(daemon.ctr_dir(a, "c"))
    assert not os.path.exists(f"/proc/{pid[0]}") or open(f"/proc/{pid[0]}/stat").read().split()[2] == "Z"
    assert applied_files(daemon) == [f"{b}.yaml"]

    r = podctl(daemon, "delete", "-f", pb)
    assert r.returncode == 0 and r.stdout == f"pod/{b} deleted\n", r
    assert applied_files(daemon) == []

    r = podctl(daemon, "delete", "pod", "nope")
    assert r.returncode == 1 and "pod 'nope' not found" in r.stderr
    assert podctl(daemon, "delete").returncode == 2


def test_applied_pods_survive_a_daemon_restart(daemon, tmp_path):
    pod = unique("lasting")
    daemon.start()
    path = write_manifest(tmp_path, "p.yaml", pod_yaml(pod, containers=[{"name": "c", "cmd": "sleep 3600"}]))
    assert apply(daemon, "-f", path).returncode == 0
    wait_for("the pod", lambda: daemon.ctr_pid(pod, "c"))
    # The fixture's podd stops its pods on SIGTERM: the next one must start it again.
    assert daemon.stop() == 0
    assert daemon.ctr_pid(pod, "c") is None
    daemon.start()
    wait_for("the pod again", lambda: daemon.ctr_pid(pod, "c"))
    assert apply(daemon, "-f", path).stdout == f"pod/{pod} unchanged\n"


def test_restart_runs_init_again_but_not_once_init(daemon, tmp_path):
    pod = unique("again")
    runs = tmp_path / "runs"
    runs.mkdir()
    daemon.start()
    mount = [("runs", "/runs")]
    text = pod_yaml(pod, init=[{"name": "once", "cmd": "echo once >> /runs/log", "mounts": mount},
                               {"name": "every", "cmd": "echo every >> /runs/log", "mounts": mount}],
                    containers=[{"name": "app", "cmd": "sleep 3600"}],
                    annotations={"podd.io/init-once": "once"},
                    extra_spec=f"  volumes:\n  - name: runs\n    hostPath:\n      path: {runs}\n")
    r = apply(daemon, "-f", write_manifest(tmp_path, "p.yaml", text))
    assert r.returncode == 0, r.stderr
    first = wait_for("the app", lambda: daemon.ctr_pid(pod, "app"))
    assert (runs / "log").read_text().split() == ["once", "every"]
    r = podctl(daemon, "restart", "pod", pod)
    assert r.returncode == 0 and r.stdout == f"pod/{pod} restarted\n", r
    wait_for("the restarted app", lambda: daemon.ctr_pid(pod, "app") not in (None, first),
             timeout=20)
    assert (runs / "log").read_text().split() == ["once", "every", "every"]
    assert podctl(daemon, "restart", "pod", "nope").returncode == 1
    assert podctl(daemon, "restart").returncode == 2


def test_apply_usage_errors(daemon, tmp_path):
    path = write_manifest(tmp_path, "p.yaml", pod_yaml("p", containers=[{"name": "c", "cmd": "true"}]))
    for args in (["--wait=soon", "-f", path], ["--wait=0", "-f", path], ["--dry-run", "--wait",
                 "-f", path], [], ["-f"]):
        r = apply(daemon, *args)
        assert r.returncode == 2, (args, r)
    r = apply(daemon, "-f", path, "--wait=1m30s")
    # No podd runs: the usage was fine, the call fails.
    assert r.returncode == 1 and "is podd running?" in r.stderr, r.stderr


def test_a_stalled_client_delays_neither_other_clients_nor_the_reconciler(daemon, tmp_path):
    import json
    import socket
    pod = unique("busy")
    daemon.start()
    sock_path = os.path.join(daemon.run, "podd.sock")
    stalled = socket.socket(socket.AF_UNIX)
    stalled.connect(sock_path)
    stalled.sendall(b'{"op":"get_po')
    try:
        path = write_manifest(tmp_path, "p.yaml",
                              pod_yaml(pod, containers=[{"name": "c", "cmd": "sleep 3600"}]))
        assert apply(daemon, "-f", path).returncode == 0
        wait_for("the pod", lambda: daemon.ctr_pid(pod, "c"))
        # A loop blocked on the stalled request would answer nobody until its timeout
        # dropped that client: the others are answered while it stays connected, and it
        # is answered once it sends the rest.
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(sock_path)
            f = s.makefile("rb")
            for _ in range(21):
                s.sendall(b'{"op":"get_pods"}\n')
                assert json.loads(f.readline())["ok"] is True
        r = podctl(daemon, "get", "pods")
        assert r.returncode == 0 and pod in r.stdout
        stalled.sendall(b'ds"}\n')
        answer = json.loads(stalled.makefile("rb").readline())
        assert answer["ok"] is True and pod in json.dumps(answer)
    finally:
        stalled.close()


def test_a_file_dropped_later_with_an_applied_name_is_refused_until_the_applied_pod_goes(
        daemon, tmp_path):
    pod = unique("both")
    daemon.start()
    path = write_manifest(tmp_path, "p.yaml",
                          pod_yaml(pod, containers=[{"name": "c", "cmd": "sleep 3600"}]))
    assert apply(daemon, "-f", path).returncode == 0
    first = wait_for("the applied pod", lambda: daemon.ctr_pid(pod, "c"))
    daemon.write("late.yaml", pod_yaml(pod, containers=[{"name": "c", "cmd": "sleep 3601"}]))

    def conflict():
        r = podctl(daemon, "events", pod)
        return "NameConflict" in r.stdout and r.stdout
    text = wait_for("the conflict event", conflict)
    assert f"{daemon.manifests}/late.yaml" in text and "applied manifest" in text, text
    time.sleep(0.5)
    assert daemon.ctr_pid(pod, "c") == first
    # Once the applied pod is deleted, the file's version takes the name over.
    r = podctl(daemon, "delete", "pod", pod, "--wait=false")
    assert r.returncode == 0, r.stderr
    wait_for("the file's version", lambda: daemon.ctr_pid(pod, "c") not in (None, first),
             timeout=20)
    got = podctl(daemon, "get", "pod", pod, "-o", "json")
    assert '"late.yaml"' in got.stdout


def test_wait_follows_a_pod_that_runs_to_completion_until_it_ends(daemon, tmp_path):
    # A Never pod that runs for a moment, then exits 9: running is not success.
    pod = unique("job")
    daemon.start()
    path = write_manifest(tmp_path, "job.yaml", pod_yaml(
        pod, containers=[{"name": "c", "cmd": "sleep 1.5; exit 9"}],
        extra_spec="  restartPolicy: Never\n"))
    r = apply(daemon, "-f", path, "--wait=30s")
    assert r.returncode == 1, r
    assert f"pod/{pod} ready" not in r.stdout, r.stdout
    assert f"pod/{pod} failed: container c exited with code 9" in r.stderr, r.stderr

    # The same job exiting 0 succeeds, and says so.
    ok = unique("jobok")
    path = write_manifest(tmp_path, "jobok.yaml", pod_yaml(
        ok, containers=[{"name": "c", "cmd": "sleep 1.5"}],
        extra_spec="  restartPolicy: OnFailure\n"))
    r = apply(daemon, "-f", path, "--wait=30s")
    assert r.returncode == 0, r
    assert r.stdout.splitlines() == [f"pod/{ok} created", f"pod/{ok} succeeded"], r.stdout


def _promise(line, pod, dry_run):
    """What an apply line says: (whole pod?, replaced, created, removed) as sets of names."""
    head = f"pod/{pod} configured{' (dry run)' if dry_run else ''}"
    if line in (f"pod/{pod} unchanged{' (dry run)' if dry_run else ''}", head):
        return False, set(), set(), set()
    # Make before break: it waits for its images, and nothing happens until they are there.
    if line.startswith(head + ": waits for image"):
        return False, set(), set(), set()
    assert line.startswith(head + ": "), line
    whole, found = False, {"replaces": set(), "creates": set(), "removes": set()}
    for part in line[len(head) + 2:].split("; "):
        if part.startswith("the whole pod is replaced ("):
            whole = True
            continue
        verb, _, names = part.partition(" ")
        names = names.split(" (")[0].split(" ", 1)[1]  # "containers a, b (x depends on a)"
        found[verb] |= set(names.split(", "))
    return whole, found["replaces"], found["creates"], found["removes"]


def test_dry_run_promises_what_the_daemon_does(daemon, tmp_path):
    """A corpus of edits, each through podctl apply --dry-run and then the daemon itself: the
    containers replaced (new processes), created and removed, and whether the whole pod started
    anew (its init container ran again), are exactly what the dry run promised."""
    pod = unique("plan")
    runs = tmp_path / "runs"
    runs.mkdir()
    daemon.start()

    def ctr(name, n=0):
        # Exits at once on SIGTERM, so replacing takes milliseconds.
        return {"name": name, "cmd": f"trap 'exit 0' TERM; sleep {3600 + n} & wait"}

    def version(ctrs=("db", "api", "web", "solo"), changed=(), setup="echo ran >> /runs/setup",
                proxy=0, annotations=None, policy="", reverse=False):
        ann = {"podd.io/depends-on.api": "db", "podd.io/depends-on.web": "api"}
        ann.update(annotations or {})
        if reverse:
            ann = dict(reversed(ann.items()))
        init = [{"name": "setup", "cmd": setup, "mounts": [("runs", "/runs")]},
                dict(ctr("proxy", proxy), restartPolicy="Always")]
        return pod_yaml(pod, init=init, containers=[ctr(c, 1 if c in changed else 0) for c in ctrs],
                        annotations=ann,
                        extra_spec=f"{policy}  volumes:\n  - name: runs\n    hostPath:\n"
                                   f"      path: {runs}\n")

    steps = [
        ("a regular container", version(changed=["solo"]), "replaces container solo"),
        ("the head of a chain of two", version(changed=["solo", "db"]),
         "replaces containers db, api, web (api depends on db, web depends on api)"),
        ("the middle of the chain", version(changed=["solo", "db", "api"]),
         "replaces containers api, web (web depends on api)"),
        ("a container added", version(("db", "api", "web", "solo", "extra"), ["solo", "db", "api"]),
         "creates container extra"),
        ("a container renamed, another removed", version(("db", "api", "web", "lone"),
                                                         ["db", "api"]),
         "creates container lone; removes containers solo, extra"),
        ("containers reordered", version(("lone", "web", "db", "api"), ["db", "api"]), ""),
        ("comments and layout only",
         "# the same pod\n\n" + version(("lone", "web", "db", "api"), ["db", "api"]).replace(
             "  containers:\n", "  containers:   # the long-running ones\n"), "unchanged"),
        ("annotations reordered", version(("lone", "web", "db", "api"), ["db", "api"],
                                          reverse=True), ""),
        ("the sidecar", version(("lone", "web", "db", "api"), ["db", "api"], proxy=1),
         "the whole pod is replaced (sidecar proxy changed)"),
        ("the init container", version(("lone", "web", "db", "api"), ["db", "api"], proxy=1,
                                       setup="echo ran >> /runs/setup; true"),
         "the whole pod is replaced (init container setup changed)"),
        ("an annotation", version(("lone", "web", "db", "api"), ["db", "api"], proxy=1,
                                  setup="echo ran >> /runs/setup; true",
                                  annotations={"example.com/team": "ops"}),
         "the whole pod is replaced (pod-level field annotations changed)"),
        ("restartPolicy", version(("lone", "web", "db", "api"), ["db", "api"], proxy=1,
                                  setup="echo ran >> /runs/setup; true",
                                  annotations={"example.com/team": "ops"},
                                  policy="  restartPolicy: OnFailure\n"),
         "the whole pod is replaced (pod-level field restartPolicy changed)"),
    ]
    last = steps[-1][1]
    missing = last.replace("- name: lone\n    image: busybox:latest",
                           "- name: lone\n    image: nothere:1")
    steps += [
        # Make before break: nothing stops before the new version's images are in the store.
        ("an image not in the store", missing,
         "waits for image nothere:1 (not in the image store), then replaces container lone"),
        ("back to the running version", last, ""),
        ("the init container's image not in the store",
         last.replace("- name: setup\n    image: busybox:latest",
                      "- name: setup\n    image: nothere:2"),
         "waits for image nothere:2 (not in the image store), then the whole pod is replaced "
         "(init container setup changed)"),
    ]
    path = str(tmp_path / "p.yaml")

    def setup_runs():
        try:
            return (runs / "setup").read_text().count("ran")
        except FileNotFoundError:
            return 0

    def running(names):
        return {n: daemon.ctr_pid(pod, n) for n in names}

    with open(path, "w") as f:
        f.write(version())
    assert apply(daemon, "-f", path).stdout == f"pod/{pod} created\n"
    names = ["proxy", "db", "api", "web", "solo"]
    wait_for("version 1", lambda: all(running(names).values()))
    for what, text, summary in steps:
        before, setup_before = running(names), setup_runs()
        with open(path, "w") as f:
            f.write(text)
        dry = apply(daemon, "-f", path, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        if summary == "unchanged":
            assert dry.stdout == f"pod/{pod} unchanged (dry run)\n", what
        else:
            assert dry.stdout == (f"pod/{pod} configured (dry run)"
                                  f"{': ' if summary else ''}{summary}\n"), what
        assert running(names) == before, f"{what}: the dry run changed something"
        real = apply(daemon, "-f", path)
        assert real.returncode == 0, real.stderr
        assert real.stdout == dry.stdout.replace(" (dry run)", ""), what
        whole, replaced, created, removed = _promise(dry.stdout.rstrip("\n"), pod, True)
        new_names = [line.split("- name: ")[1] for line in text.splitlines()
                     if "- name: " in line and "setup" not in line and "runs" not in line]
        kept = [n for n in new_names if n in before]
        if whole:
            replaced = set(kept)

        def settled():
            now = running(new_names)
            return (all(now.values())
                    and all(now[n] != before[n] for n in replaced)
                    and all(daemon.ctr_pid(pod, n) is None for n in removed)
                    and (setup_runs() > setup_before) == whole)
        try:
            wait_for(f"{what}: the daemon to do what the dry run said", settled, timeout=10)
        except AssertionError:
            pass  # compared below, with the details
        time.sleep(0.3)  # anything more than promised would be under way by now
        after = running(new_names)
        assert {n for n in kept if after[n] != before[n]} == replaced, (what, dry.stdout)
        assert set(new_names) - set(kept) == created, (what, dry.stdout)
        assert {n for n in before if n not in new_names} == removed, (what, dry.stdout)
        assert not any(daemon.ctr_pid(pod, n) for n in removed), what
        assert all(after.values()), (what, after)
        assert (setup_runs() > setup_before) == whole, (what, setup_runs(), setup_before)
        names = new_names
