# SPDX-License-Identifier: Apache-2.0
"""podctl image pull against a real podd and a docker-registry started here on 127.0.0.1: the
pull runs in podctl's child process, its progress shows as plain lines off a terminal, and the
image is recorded in podd's store with its layers unpacked. The registry and images come from
tests/registry/test_registry_pull.py; every process started here is ended by its own pid."""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import pytest

from test_daemon import daemon, podctl, unique, wait_for  # noqa: F401 (daemon is a fixture)

SRC = pathlib.Path(os.environ.get("PODD_SRCDIR", pathlib.Path(__file__).parents[2]))
sys.path.insert(0, str(SRC / "tests" / "registry"))
import test_registry_pull as reg  # noqa: E402

pytestmark = reg.pytestmark


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("pull-registry")
    r = reg.Registry(root / "open")
    try:
        layout, manifest = reg.build_layout(root / "layout", extra_layer=b"third\n", tag="p")
        reg.push(layout, "p", r.host + "/open/busybox:1")
        yield r, manifest, layout
    finally:
        r.stop()
        shutil.rmtree(root, ignore_errors=True)


def diff_ids(layout, manifest):
    config = json.loads(layout.blob_path(manifest["config"]["digest"]).read_bytes())
    return config["rootfs"]["diff_ids"]


def test_podctl_image_pull_records_and_unpacks(daemon, registry):
    r, manifest, layout = registry
    daemon.start()
    ref = r.host + "/open/busybox:1"
    p = podctl(daemon, "image", "pull", ref)
    assert p.returncode == 0, p.stderr
    digest = reg.registry_digest(r.host, "open/busybox", "1")
    assert p.stdout == "image %s pulled: %s\n" % (ref, digest)
    lines = p.stderr.splitlines()
    assert lines and all(line.startswith("pulling %s: " % ref) for line in lines), lines
    assert lines[-1].startswith("pulling %s: 4/4 blobs" % ref)
    images = pathlib.Path(daemon.state) / "images"
    records = json.loads((images / "repositories.json").read_text())
    assert digest in json.dumps(records) and ref in json.dumps(records)
    # Each layer unpacked under its diff_id (the digest of its tar, uncompressed).
    layers = [images / "layers" / "sha256" / d[7:] for d in diff_ids(layout, manifest)]
    assert os.access(layers[0] / "bin" / "busybox", os.X_OK)
    assert (layers[1] / "etc" / "hello").read_text() == "p"
    assert (layers[2] / "data" / "blob").read_text() == "third\n"
    # Pulled again: the same record, nothing to fetch but the manifest.
    p = podctl(daemon, "image", "pull", ref)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "image %s pulled: %s\n" % (ref, digest)


def test_pulled_and_loaded_layers_are_unpacked_once(daemon, registry, tmp_path):
    r, manifest, layout = registry
    daemon.start()
    ref = r.host + "/open/busybox:1"
    p = podctl(daemon, "image", "pull", ref)
    assert p.returncode == 0, p.stderr
    layers = pathlib.Path(daemon.state) / "images" / "layers" / "sha256"
    before = sorted(os.listdir(layers))
    assert before == sorted(d[7:] for d in diff_ids(layout, manifest))
    marks = [layers / name / "etc" / ".podd-test-mark" for name in before[:1]]
    for m in marks:
        m.parent.mkdir(exist_ok=True)
        m.write_text("kept")
    # The same image as a docker-archive: its layers are uncompressed blobs of other digests.
    archive = tmp_path / "busybox.tar"
    subprocess.run([reg.SKOPEO, "--insecure-policy", "copy", "oci:%s:p" % layout.path,
                    "docker-archive:%s:local/busybox:2" % archive], check=True,
                   capture_output=True, timeout=120)
    p = podctl(daemon, "image", "load", "-i", str(archive))
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(layers)) == before  # nothing unpacked a second time
    assert all(m.read_text() == "kept" for m in marks)
    p = podctl(daemon, "image", "ls")
    assert "local/busybox" in p.stdout and r.host + "/open/busybox" in p.stdout, p.stdout


def test_podctl_image_pull_failures(daemon, registry):
    r, _, _ = registry
    daemon.start()
    p = podctl(daemon, "image", "pull", r.host + "/open/missing:1")
    assert p.returncode == 1
    assert p.stderr.strip().endswith("open/missing:1: not found (HTTP 404)"), p.stderr
    p = podctl(daemon, "image", "pull", "Bad:Ref")
    assert p.returncode == 2
    assert "invalid image reference 'Bad:Ref'" in p.stderr, p.stderr
    bad = pathlib.Path(daemon.state) / "registries.json"
    bad.write_text('{"registries": {"r.example": {"mirrors": "x"}}}')
    p = podctl(daemon, "image", "pull", "--registries", str(bad), r.host + "/open/busybox:1")
    assert p.returncode == 1
    assert "registries.r.example.mirrors: not an array" in p.stderr, p.stderr


# ---- podd pulls by imagePullPolicy ------------------------------------------------------------


def pod_yaml(name, image, policy=None, cmd="cat /etc/hello; echo; sleep 3600"):
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n"
            f"  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n"
            f"    image: {image}\n"
            + (f"    imagePullPolicy: {policy}\n" if policy else "")
            + f"    command: [sh, -c, {json.dumps(cmd)}]\n")


def waiting(daemon, pod):
    """The container's waiting state ({} when it does not wait, None before the pod shows)."""
    r = podctl(daemon, "get", "pod", pod, "-o", "json")
    if r.returncode != 0:
        return None
    statuses = json.loads(r.stdout)["status"].get("containerStatuses") or [{}]
    return statuses[0].get("state", {}).get("waiting", {})


def events(daemon, pod):
    return json.loads(podctl(daemon, "events", "-o", "json", pod).stdout)


def reasons(daemon, pod):
    return [e["reason"] for e in events(daemon, pod)]


def test_podd_pulls_a_missing_image_and_runs_it(daemon, registry):
    r, _, _ = registry
    ref = r.host + "/open/busybox:1"
    pod = unique("pulled")
    daemon.start()
    daemon.write("p.yaml", pod_yaml(pod, ref))
    wait_for("the container", lambda: daemon.ctr_pid(pod, "app"), timeout=30)
    wait_for("its output", lambda: daemon.ctr_log(pod, "app"))
    assert daemon.ctr_log(pod, "app")[0] == "p"
    got = reasons(daemon, pod)
    assert got.index("Pulling") < got.index("Pulled") < got.index("Started"), got
    pulled = [e for e in events(daemon, pod) if e["reason"] == "Pulled"][0]
    assert pulled["message"].startswith(f'Successfully pulled image "{ref}" in '), pulled
    assert re.search(r"Image size: [1-9][0-9]* bytes\.$", pulled["message"]), pulled
    digest = reg.registry_digest(r.host, "open/busybox", "1")
    status = json.loads(podctl(daemon, "get", "pod", pod, "-o", "json").stdout)["status"]
    assert status["containerStatuses"][0]["imageID"] == f"{r.host}/open/busybox@{digest}"
    # In podd's store, as podctl image ls shows it.
    ls = json.loads(podctl(daemon, "image", "ls", "-o", "json").stdout)
    assert [i["digest"] for i in ls if i["reference"] == ref] == [digest]


def test_a_present_image_is_not_pulled_and_says_so(daemon, registry):
    r, _, _ = registry
    ref = r.host + "/open/busybox:1"
    daemon.start()
    p = podctl(daemon, "image", "pull", ref)
    assert p.returncode == 0, p.stderr
    # The registry is down: IfNotPresent and Never start from the store without asking it.
    r.stop()
    try:
        for policy in ("IfNotPresent", "Never"):
            pod = unique("present")
            daemon.write(pod + ".yaml", pod_yaml(pod, ref, policy))
            wait_for("the container", lambda: daemon.ctr_pid(pod, "app"), timeout=30)
            got = reasons(daemon, pod)
            assert "Pulling" not in got and got.index("Pulled") < got.index("Started"), got
            pulled = [e for e in events(daemon, pod) if e["reason"] == "Pulled"]
            assert [e["message"] for e in pulled] == [
                f'Container image "{ref}" already present on machine'], pulled
            assert pulled[0]["type"] == "Normal", pulled
    finally:
        r.start()


def test_a_pod_backs_off_while_its_registry_is_down(daemon, tmp_path):
    r = reg.Registry(tmp_path / "registry")
    try:
        layout, _ = reg.build_layout(tmp_path / "layout", tag="down")
        ref = r.host + "/team/app:2"
        reg.push(layout, "down", ref)
        r.stop()
        pod = unique("backoff")
        daemon.start("--image-pull-backoff", "initial=1s,max=2s")
        daemon.write("b.yaml", pod_yaml(pod, ref))
        wait_for("ImagePullBackOff",
                 lambda: (waiting(daemon, pod) or {}).get("reason") == "ImagePullBackOff")
        w = waiting(daemon, pod)
        assert w["message"].startswith(f'Back-off pulling image "{ref}": '), w
        assert r.host in w["message"], w
        failed = [e for e in events(daemon, pod) if e["reason"] == "Failed"]
        assert failed and failed[0]["type"] == "Warning", events(daemon, pod)
        assert failed[0]["message"].startswith(f'Failed to pull image "{ref}": '), failed
        assert "BackOff" in reasons(daemon, pod)
        assert daemon.ctr_pid(pod, "app") is None
        # The registry is back: the next pull (at most 2 s later) gets it and the pod starts.
        r.start()
        wait_for("the container", lambda: daemon.ctr_pid(pod, "app"), timeout=20)
        wait_for("its output", lambda: daemon.ctr_log(pod, "app"))
        assert daemon.ctr_log(pod, "app")[0] == "down"
        assert "Pulled" in reasons(daemon, pod)
    finally:
        r.stop()


def test_never_waits_for_the_image_and_podctl_pull_starts_it(daemon, registry):
    r, _, _ = registry
    ref = r.host + "/open/busybox:1"
    pod = unique("never")
    daemon.start()
    daemon.write("n.yaml", pod_yaml(pod, ref, policy="Never"))
    wait_for("ErrImageNeverPull",
             lambda: (waiting(daemon, pod) or {}).get("reason") == "ErrImageNeverPull")
    assert waiting(daemon, pod)["message"] == (
        f'Container image "{ref}" is not present with pull policy of Never')
    never = [e for e in events(daemon, pod) if e["reason"] == "ErrImageNeverPull"]
    assert never and never[0]["type"] == "Warning"
    assert "Pulling" not in reasons(daemon, pod)
    images = pathlib.Path(daemon.state) / "images" / "repositories.json"
    assert not images.exists() or ref not in images.read_text()
    # podctl image pull tells podd: the pod starts at once, not at its next look.
    p = podctl(daemon, "image", "pull", ref)
    assert p.returncode == 0, p.stderr
    pulled = time.monotonic()
    wait_for("the container", lambda: daemon.ctr_pid(pod, "app"), timeout=10, interval=0.02)
    took = time.monotonic() - pulled
    assert took < 1.5, f"started {took:.2f}s after the pull: the 2s retry, not image_added"
    assert "Pulling" not in reasons(daemon, pod)


def test_always_pulls_a_moved_tag_at_the_next_start(daemon, registry, tmp_path):
    r, _, _ = registry
    ref = r.host + "/open/moving"  # no tag: latest, so Always by default
    first, _ = reg.build_layout(tmp_path / "first", tag="one")
    second, _ = reg.build_layout(tmp_path / "second", tag="two")
    reg.push(first, "one", ref + ":latest")
    pod = unique("always")
    daemon.start()
    # It runs a second and exits; restartPolicy Always starts it again, pulling first.
    daemon.write("a.yaml", pod_yaml(pod, ref, cmd="cat /etc/hello; echo; sleep 1"))
    wait_for("its first run", lambda: daemon.ctr_log(pod, "app"), timeout=30)
    assert daemon.ctr_log(pod, "app")[0] == "one"
    reg.push(second, "two", ref + ":latest")
    wait_for("a run of the moved tag", lambda: "two" in daemon.ctr_log(pod, "app"), timeout=30)
    got = reasons(daemon, pod)
    assert got.count("Pulling") >= 2 and got.count("Pulled") >= 2, got
    digest = reg.registry_digest(r.host, "open/moving", "latest")
    ls = json.loads(podctl(daemon, "image", "ls", "-o", "json").stdout)
    assert [i["digest"] for i in ls if i["reference"] == ref + ":latest"] == [digest]


def test_podd_start_deletes_day_old_partial_downloads(daemon):
    partial = pathlib.Path(daemon.state) / "images" / "blobs" / ".partial"
    partial.mkdir(parents=True)
    old, fresh = partial / ("a" * 64), partial / ("b" * 64)
    old.write_bytes(b"x" * 4096)
    fresh.write_bytes(b"y" * 4096)
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    daemon.start()
    # podd cleans the store before it answers its socket.
    p = podctl(daemon, "image", "ls")
    assert p.returncode == 0, p.stderr
    assert not old.exists()
    assert fresh.read_bytes() == b"y" * 4096  # a pull may still resume it


# ---- make before break: an update pulls its image while the old container runs on -----------

# Exits at once on SIGTERM: a replacement takes milliseconds.
RUN = "cat /etc/hello 2>/dev/null; echo; trap 'exit 0' TERM; sleep 3600 & wait"


def app(daemon, pod):
    r = podctl(daemon, "get", "pod", pod, "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["status"]["containerStatuses"][0]


def running_pid(daemon, pod):
    """The container's process once the API reports it running, else None."""
    return daemon.ctr_pid(pod, "app") if "running" in app(daemon, pod)["state"] else None


def test_an_update_pulls_its_image_and_replaces_the_container_once_pulled(daemon, registry,
                                                                          tmp_path):
    r, _, _ = registry
    layout, _ = reg.build_layout(tmp_path / "layout", tag="two")
    ref = r.host + "/open/app:2"
    reg.push(layout, "two", ref)
    pod = unique("mbbpull")
    daemon.start()
    daemon.write("p.yaml", pod_yaml(pod, "busybox:latest", cmd=RUN))
    first = wait_for("the app running", lambda: running_pid(daemon, pod))
    restarts = app(daemon, pod)["restartCount"]

    daemon.write("p.yaml", pod_yaml(pod, ref, cmd=RUN))
    second = wait_for("the replacement",
                      lambda: (lambda p: p if p not in (None, first) else None)(
                          running_pid(daemon, pod)), timeout=30)
    wait_for("its output", lambda: "two" in daemon.ctr_log(pod, "app"))
    st = app(daemon, pod)
    assert "pendingUpdate" not in st and st["image"] == ref, st
    assert st["restartCount"] == restarts
    evs = events(daemon, pod)
    got = [e["reason"] for e in evs]
    # It waited, pulled, and only then stopped the old container.
    assert got.index("UpdateWaiting") < got.index("Pulling") < got.index("Pulled") \
        < got.index("Killing"), got
    pulling = [e for e in evs if e["reason"] == "Pulling"][0]
    assert pulling["message"] == (
        f'Pulling image "{ref}" for the new version; the running version runs on'), pulling
    pulled = [e for e in evs if e["reason"] == "Pulled"][0]
    assert pulled["message"].startswith(f'Successfully pulled image "{ref}" for the new version'), \
        pulled
    assert first != second and daemon.ctr_pid(pod, "app") == second


def test_a_failed_pull_for_an_update_keeps_the_old_container(daemon, tmp_path):
    r = reg.Registry(tmp_path / "registry")
    try:
        layout, _ = reg.build_layout(tmp_path / "layout", tag="back")
        ref = r.host + "/team/app:3"
        reg.push(layout, "back", ref)
        r.stop()
        pod = unique("mbbdown")
        daemon.start("--image-pull-backoff", "initial=1s,max=2s")
        daemon.write("d.yaml", pod_yaml(pod, "busybox:latest", cmd=RUN))
        first = wait_for("the app running", lambda: running_pid(daemon, pod))
        restarts = app(daemon, pod)["restartCount"]

        daemon.write("d.yaml", pod_yaml(pod, ref, cmd=RUN))
        wait_for("ImagePullBackOff", lambda: app(daemon, pod).get("pendingUpdate", {}).get(
            "reason") == "ImagePullBackOff", timeout=20)
        st = app(daemon, pod)
        assert "running" in st["state"] and st["restartCount"] == restarts, st
        assert st["pendingUpdate"]["images"] == [ref], st
        assert r.host in st["pendingUpdate"]["message"], st
        assert daemon.ctr_pid(pod, "app") == first
        failed = [e for e in events(daemon, pod) if e["reason"] == "Failed"]
        assert len(failed) >= 2 and failed[0]["type"] == "Warning", failed
        assert failed[0]["message"].startswith(f'Failed to pull image "{ref}": '), failed
        assert "the running version runs on" in failed[0]["message"], failed
        assert "Killing" not in reasons(daemon, pod)

        # The registry is back: the next try (at most 2 s later) pulls it and the update goes on.
        r.start()
        wait_for("the replacement",
                 lambda: (lambda p: p if p not in (None, first) else None)(
                     running_pid(daemon, pod)), timeout=20)
        wait_for("its output", lambda: "back" in daemon.ctr_log(pod, "app"))
        st = app(daemon, pod)
        assert "pendingUpdate" not in st and st["image"] == ref, st
        assert "Pulled" in reasons(daemon, pod)
    finally:
        r.stop()


def test_an_update_with_pull_policy_never_waits_without_pulling(daemon, registry):
    r, _, _ = registry
    ref = r.host + "/open/busybox:1"
    pod = unique("mbbnever")
    daemon.start()
    daemon.write("n.yaml", pod_yaml(pod, "busybox:latest", cmd=RUN))
    first = wait_for("the app running", lambda: running_pid(daemon, pod))
    daemon.write("n.yaml", pod_yaml(pod, ref, policy="Never", cmd=RUN))
    wait_for("ErrImageNeverPull", lambda: app(daemon, pod).get("pendingUpdate", {}).get(
        "reason") == "ErrImageNeverPull")
    # Its 2 s look comes and goes: nothing is pulled, the old container runs on.
    time.sleep(2.5)
    assert app(daemon, pod)["pendingUpdate"]["reason"] == "ErrImageNeverPull"
    assert "Pulling" not in reasons(daemon, pod)
    assert daemon.ctr_pid(pod, "app") == first
    # podctl image pull brings it: the update goes ahead.
    p = podctl(daemon, "image", "pull", ref)
    assert p.returncode == 0, p.stderr
    wait_for("the replacement", lambda: (lambda p: p if p not in (None, first) else None)(
        running_pid(daemon, pod)))


SHARED = pathlib.Path(os.environ.get("PODD_SHARED_DIR") or SRC.parent / "shared")
LIVENESS_EXAMPLE = SHARED / "conformance" / "k8s-examples" / "website" / "probe-exec-liveness.yaml"


def busybox_like_layout(path, tag):
    """One layer as Docker Hub's busybox has it: the applets as links, /tmp, Cmd ["sh"]."""
    layout = reg.images.Layout(path)
    applets = ("sh", "cat", "touch", "sleep", "rm")
    layer = reg.images.tar_bytes(
        [("bin", None), ("bin/busybox", reg.images.BUSYBOX.read_bytes())]
        + [(f"bin/{a}", ("symlink", "busybox")) for a in applets] + [("tmp", None)])
    config = {"architecture": reg.images.HOST_ARCH, "os": "linux",
              "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
              "rootfs": {"type": "layers", "diff_ids": [reg.images.sha(layer)]}}
    blob = reg.gzip.compress(layer, mtime=0)
    manifest = {"schemaVersion": 2, "mediaType": reg.images.OCI_MANIFEST,
                "config": layout.descriptor(reg.images.OCI_CONFIG, config),
                "layers": [layout.descriptor(reg.images.LAYER_GZ, blob)]}
    layout.index([layout.manifest_descriptor(manifest, annotations=reg.images.ref(tag))])
    return layout


def test_a_real_world_manifest_runs_its_registry_image_through_a_mirror(daemon, tmp_path):
    """The Kubernetes documentation's liveness example, unchanged, names
    registry.k8s.io/busybox:1.27.2; a registries file sends registry.k8s.io to a mirror here."""
    if not LIVENESS_EXAMPLE.is_file():
        pytest.skip(f"{LIVENESS_EXAMPLE} is missing (../shared/conformance)")
    r = reg.Registry(tmp_path / "registry")
    try:
        reg.push(busybox_like_layout(tmp_path / "layout", "k8s"), "k8s",
                 r.host + "/busybox:1.27.2")
        conf = tmp_path / "registries.json"
        conf.write_text(json.dumps({"registries": {"registry.k8s.io": {"mirrors": [r.host]}}}))
        daemon.start("--registries", str(conf))
        daemon.write("liveness.yaml", LIVENESS_EXAMPLE.read_text())
        pod = "liveness-exec"
        wait_for("the container", lambda: daemon.ctr_pid(pod, "liveness"), timeout=30)
        assert reasons(daemon, pod).index("Pulled") < reasons(daemon, pod).index("Started")
        status = json.loads(podctl(daemon, "get", "pod", pod, "-o", "json").stdout)["status"]
        ctr = status["containerStatuses"][0]
        assert ctr["image"] == "registry.k8s.io/busybox:1.27.2", ctr
        digest = reg.registry_digest(r.host, "busybox", "1.27.2")
        assert ctr["imageID"] == f"registry.k8s.io/busybox@{digest}", ctr
        # Its liveness probe (cat /tmp/healthy after 5 s) passes in the pulled image.
        wait_for("the liveness probe's first success", lambda: json.loads(
            podctl(daemon, "get", "pod", pod, "-o", "json").stdout)["status"][
            "containerStatuses"][0].get("probes", {}).get("liveness", {}).get(
            "successes", 0) >= 1, timeout=20)
        assert "Unhealthy" not in reasons(daemon, pod)
        assert daemon.ctr_pid(pod, "liveness")
    finally:
        r.stop()
