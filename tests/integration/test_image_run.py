# SPDX-License-Identifier: Apache-2.0
"""Real images through podctl and a real podd: a multi-layer busybox-static image (the top layer
deletes a file of the base through a whiteout) is built here as an OCI layout, turned into an
oci-archive and a docker-archive with skopeo, loaded with podctl image load, and run by a pod
whose manifest has no command: the image's Entrypoint and Cmd run as its user, in its working
directory, with its Env. Then ls, inspect, rm and prune. Every podd started here is ended by its
own pid."""
import gzip
import hashlib
import io
import json
import os
import pathlib
import platform
import shutil
import subprocess
import tarfile

import pytest

from test_daemon import daemon, podctl, unique, wait_for  # noqa: F401 (daemon is a fixture)

BUSYBOX = pathlib.Path("/bin/busybox")
GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
          "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
SKOPEO = shutil.which("skopeo")

pytestmark = pytest.mark.skipif(
    not BUSYBOX.exists() or platform.machine() not in GOARCH or not SKOPEO,
    reason="needs busybox-static, skopeo and a known architecture")

SCRIPT = ("echo uid=$(id -u) gid=$(id -g) cwd=$(pwd) greeting=$GREETING; "
          "test -e /etc/motd && echo motd-present || echo motd-deleted; cat /etc/hello; "
          "exec sleep 3600")


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_bytes(entries):
    """entries: (name, bytes | None for a directory | ("symlink", target))."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            elif isinstance(data, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, data[1]
                t.addfile(info)
            else:
                info.size, info.mode = len(data), 0o755
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def oci_layout(path, tag):
    """A three-layer OCI layout of busybox-static; returns its path."""
    path = pathlib.Path(path)
    (path / "blobs" / "sha256").mkdir(parents=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def blob(data):
        if isinstance(data, dict):
            data = json.dumps(data).encode()
        d = sha(data)
        (path / "blobs" / "sha256" / d[7:]).write_bytes(data)
        return d, len(data)

    links = [(f"bin/{tool}", ("symlink", "busybox"))
             for tool in ("sh", "id", "pwd", "test", "cat", "sleep", "echo", "ls")]
    base = tar_bytes([("bin", None), ("bin/busybox", BUSYBOX.read_bytes()), *links,
                      ("etc", None), ("etc/motd", b"base\n"),
                      ("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                                     b"app:x:1000:1000:app:/srv:/bin/sh\n"),
                      ("etc/group", b"root:x:0:\napp:x:1000:\n")])
    middle = tar_bytes([("srv", None), ("srv/data", b"data\n")])
    top = tar_bytes([("etc", None), ("etc/.wh.motd", b""), ("etc/hello", f"hello {tag}\n".encode())])
    layers, diff_ids = [], []
    for t in (base, middle, top):
        diff_ids.append(sha(t))
        d, n = blob(gzip.compress(t, mtime=0))
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": d, "size": n})
    config = {"architecture": GOARCH[platform.machine()], "os": "linux",
              "config": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": [SCRIPT],
                         "Env": ["PATH=/bin", f"GREETING=hi-{tag}"], "WorkingDir": "/srv",
                         "User": "app"},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cd, cn = blob(config)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": cd, "size": cn}, "layers": layers}
    md, mn = blob(manifest)
    (path / "index.json").write_text(json.dumps(
        {"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
             "size": mn, "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return path, md


def skopeo_copy(src, dst):
    subprocess.run([SKOPEO, "--insecure-policy", "copy", src, dst], check=True,
                   capture_output=True, timeout=120)


def pod_yaml(name, image, extra=""):
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n"
            f"  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n"
            f"    image: {image}\n{extra}")


def load(daemon, archive):
    r = podctl(daemon, "image", "load", "-i", str(archive))
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture
def archives(tmp_path):
    layout, digest = oci_layout(tmp_path / "layout", "one")
    oci, docker = tmp_path / "one.oci.tar", tmp_path / "one.docker.tar"
    skopeo_copy(f"oci:{layout}:one", f"oci-archive:{oci}:example/one:1")
    skopeo_copy(f"oci:{layout}:one", f"docker-archive:{docker}:example/docker-one:2")
    return oci, docker, digest


def test_loaded_image_runs_its_entrypoint_as_its_user(daemon, archives):  # noqa: F811
    oci, docker, digest = archives
    pod, pod2 = unique("img"), unique("dimg")
    daemon.start()
    out = load(daemon, oci)
    assert f"Loaded image: docker.io/example/one:1 ({digest})" in out
    assert "docker.io/example/docker-one:2" in load(daemon, docker)
    images = os.path.join(daemon.state, "images")
    # Layers unpacked once and shared by both images; nothing half-done left.
    layers = os.listdir(os.path.join(images, "layers", "sha256"))
    assert not [x for x in layers if x.startswith(".")]
    # The oci-archive's layers are gzip blobs, the docker-archive's plain tars: one directory
    # each all the same, under its diff_id.
    assert len(layers) == 3, layers

    daemon.write("p.yaml", pod_yaml(pod, "example/one:1"))
    daemon.write("d.yaml", pod_yaml(pod2, "docker.io/example/docker-one:2",
                                    "    env:\n    - name: GREETING\n      value: from-pod\n"))
    wait_for("the pod", lambda: daemon.ctr_pid(pod, "app"))
    wait_for("its output", lambda: len(daemon.ctr_log(pod, "app")) >= 3)
    assert daemon.ctr_log(pod, "app")[:3] == [
        "uid=1000 gid=1000 cwd=/srv greeting=hi-one", "motd-deleted", "hello one"]
    # Status: the resolved reference and the image ID, the repository pinned to its digest.
    status = json.loads(podctl(daemon, "get", "pod", pod, "-o", "json").stdout)["status"]
    cs = status["containerStatuses"][0]
    assert cs["image"] == "docker.io/example/one:1"
    assert cs["imageID"] == f"docker.io/example/one@{digest}"
    # The docker-archive's image is the same; the pod's env wins over the image's.
    wait_for("the second pod", lambda: len(daemon.ctr_log(pod2, "app")) >= 1)
    assert daemon.ctr_log(pod2, "app")[0] == "uid=1000 gid=1000 cwd=/srv greeting=from-pod"

    r = podctl(daemon, "image", "ls", "-o", "json")
    assert r.returncode == 0, r.stderr
    by_ref = {i["reference"]: i for i in json.loads(r.stdout)}
    one = by_ref["docker.io/example/one:1"]
    assert one["digest"] == digest and one["usedBy"] == [pod] and one["size"] > 1000000
    assert by_ref["docker.io/example/docker-one:2"]["usedBy"] == [pod2]
    r = podctl(daemon, "image", "ls")
    assert r.stdout.splitlines()[0].split() == ["IMAGE", "TAG", "DIGEST", "SIZE", "USED", "BY"]
    assert any(line.split()[:3] == ["example/one", "1", digest[7:19]]
               for line in r.stdout.splitlines())

    r = podctl(daemon, "image", "inspect", "example/one:1")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["digest"] == digest and len(info["layers"]) == 3
    assert info["imageConfig"]["User"] == "app"
    assert info["imageConfig"]["Entrypoint"] == ["/bin/sh", "-c"]
    assert all(os.path.isdir(x["dir"]) for x in info["layers"])

    r = podctl(daemon, "image", "rm", "example/one:1")
    assert r.returncode == 1 and f"used by pod {pod}" in r.stderr, r.stderr

    # prune keeps what pods use: with one pod gone, only its image goes (and layers stay shared).
    os.unlink(os.path.join(daemon.manifests, "d.yaml"))
    wait_for("the pod to go", lambda: podctl(daemon, "get", "pod", pod2).returncode == 1,
             timeout=20)
    r = podctl(daemon, "image", "prune")
    assert r.returncode == 0, r.stderr
    refs = [i["reference"] for i in json.loads(podctl(daemon, "image", "ls", "-o",
                                                      "json").stdout)]
    assert "docker.io/example/one:1" in refs and "docker.io/example/docker-one:2" not in refs
    assert "docker.io/library/busybox:latest" not in refs  # a plain rootfs no pod used
    for x in info["layers"]:
        assert os.path.isdir(x["dir"])
    assert daemon.ctr_pid(pod, "app")


def test_adopted_container_keeps_its_image_id(daemon, tmp_path):  # noqa: F811
    """podd killed with SIGKILL and started again adopts the running container with the image
    it was started from, though the tag names another image by then."""
    layout, digest = oci_layout(tmp_path / "layout", "old")
    layout2, digest2 = oci_layout(tmp_path / "layout2", "new")
    old, new = tmp_path / "old.tar", tmp_path / "new.tar"
    skopeo_copy(f"oci:{layout}:old", f"oci-archive:{old}:example/app:1")
    skopeo_copy(f"oci:{layout2}:new", f"oci-archive:{new}:example/app:1")
    pod = unique("adopt")
    daemon.start()
    load(daemon, old)
    daemon.write("a.yaml", pod_yaml(pod, "example/app:1"))
    first = wait_for("the pod", lambda: daemon.ctr_pid(pod, "app"))

    def status():
        doc = json.loads(podctl(daemon, "get", "pod", pod, "-o", "json").stdout)
        return doc["status"]["containerStatuses"][0]
    want = f"docker.io/example/app@{digest}"
    assert status()["imageID"] == want
    wait_for("the state file to record the run", lambda: (daemon.pod_state(pod) or {}).get(
        "containers", {}).get("app", {}).get("imageID") == want)
    load(daemon, new)  # the tag moves on; the container keeps running the old image
    daemon.kill9()
    daemon.start()
    wait_for("the container to be adopted",
             lambda: podctl(daemon, "get", "pod", pod, "-o", "json").returncode == 0 and
             status().get("state", {}).get("running"))
    assert daemon.ctr_pid(pod, "app") == first  # the same process: adopted, not restarted
    cs = status()
    assert cs["imageID"] == want and digest2 not in cs["imageID"]
    assert cs["image"] == "docker.io/example/app:1"


def test_run_as_non_root_sees_the_image_user(daemon, tmp_path):  # noqa: F811
    layout, _ = oci_layout(tmp_path / "layout", "nr")
    archive = tmp_path / "nr.tar"
    skopeo_copy(f"oci:{layout}:nr", f"oci-archive:{archive}:nonroot:1")
    pod = unique("nonroot")
    daemon.start()
    load(daemon, archive)
    # The image's user is uid 1000: runAsNonRoot lets it run (without it, root: refused).
    daemon.write("n.yaml", pod_yaml(pod, "nonroot:1",
                                    "    securityContext:\n      runAsNonRoot: true\n"))
    wait_for("the pod", lambda: daemon.ctr_pid(pod, "app"))
    wait_for("its output", lambda: daemon.ctr_log(pod, "app"))
    assert daemon.ctr_log(pod, "app")[0].startswith("uid=1000 ")


def test_a_pod_waiting_for_its_image_starts_when_it_is_loaded(daemon, tmp_path):  # noqa: F811
    layout, _ = oci_layout(tmp_path / "layout", "late")
    archive = tmp_path / "late.tar"
    skopeo_copy(f"oci:{layout}:late", f"oci-archive:{archive}:registry.example:5000/late:3")
    pod = unique("late")
    daemon.start()
    # Never: no registry is asked (there is no network here); it waits for the load.
    daemon.write("l.yaml", pod_yaml(pod, "registry.example:5000/late:3",
                                    "    imagePullPolicy: Never\n"))
    wait_for("ErrImageNeverPull",
             lambda: "ErrImageNeverPull" in podctl(daemon, "get", "pods").stdout)
    load(daemon, archive)
    wait_for("the container", lambda: daemon.ctr_pid(pod, "app"), timeout=10)
    wait_for("its output", lambda: len(daemon.ctr_log(pod, "app")) >= 3)
    assert daemon.ctr_log(pod, "app")[2] == "hello late"


def test_drop_in_directory_boots_a_pod_with_no_network(daemon, tmp_path):  # noqa: F811
    """A device with only an archive in the drop-in directory gets a running pod; a bad archive
    is reported and left there; one renamed in later is loaded and moved to loaded/."""
    layout, _ = oci_layout(tmp_path / "layout", "boot")
    incoming = os.path.join(daemon.state, "images", "incoming")
    os.makedirs(incoming)
    skopeo_copy(f"oci:{layout}:boot", f"oci-archive:{incoming}/boot.tar:edge/boot:1")
    pod, late = unique("boot"), unique("later")
    daemon.write("b.yaml", pod_yaml(pod, "edge/boot:1"))
    daemon.start()
    wait_for("the pod", lambda: daemon.ctr_pid(pod, "app"), timeout=30)
    wait_for("its output", lambda: len(daemon.ctr_log(pod, "app")) >= 3)
    assert daemon.ctr_log(pod, "app")[2] == "hello boot"
    wait_for("the archive to move", lambda: os.path.exists(
        os.path.join(incoming, "loaded", "boot.tar")))
    assert not os.path.exists(os.path.join(incoming, "boot.tar"))

    bad = os.path.join(incoming, "bad.tar")
    with open(bad, "wb") as f:
        f.write(b"not an archive\n" * 100)
    wait_for("the failure to be reported", lambda: "ImageLoadFailed" in podctl(
        daemon, "events", "-o", "json").stdout)
    events = json.loads(podctl(daemon, "events", "-o", "json").stdout)
    failed = [e for e in events if e["reason"] == "ImageLoadFailed"]
    assert failed[0]["file"] == bad and failed[0]["type"] == "Warning"
    assert f"image archive {bad}:" in daemon.log()
    assert os.path.exists(bad)

    # Copied under a hidden name and renamed: loaded once complete; the waiting pod starts.
    daemon.write("l.yaml", pod_yaml(late, "edge/late:2", "    imagePullPolicy: Never\n"))
    wait_for("ErrImageNeverPull",
             lambda: "ErrImageNeverPull" in podctl(daemon, "get", "pods").stdout)
    layout2, _ = oci_layout(tmp_path / "layout2", "late")
    skopeo_copy(f"oci:{layout2}:late", f"oci-archive:{incoming}/.late.tar:edge/late:2")
    os.rename(os.path.join(incoming, ".late.tar"), os.path.join(incoming, "late.tar"))
    wait_for("the late pod", lambda: daemon.ctr_pid(late, "app"), timeout=20)
    wait_for("late.tar in loaded/", lambda: os.path.exists(
        os.path.join(incoming, "loaded", "late.tar")))
    assert os.path.exists(bad)


def test_an_update_waits_for_its_image_from_the_drop_in_directory(daemon, tmp_path):  # noqa: F811
    """Make before break, the air-gap way: a new version naming an image not yet on the device
    leaves the running container alone (same process, same restart count) and says why; the
    archive renamed into the drop-in directory later brings the image, and only then is the
    container replaced, by one of the new image."""
    pod = unique("upd")
    keep = "    command: [sh, -c, 'exec sleep 3600']\n"
    daemon.start()
    daemon.write("u.yaml", pod_yaml(pod, "busybox:latest", keep))
    wait_for("the pod", lambda: daemon.ctr_pid(pod, "app"))
    wait_for("it runs", lambda: "running" in json.loads(podctl(
        daemon, "get", "pod", pod, "-o", "json").stdout)["status"]["containerStatuses"][0]["state"])
    first = daemon.ctr_pid(pod, "app")
    daemon.write("u.yaml", pod_yaml(pod, "edge/upd:2", keep))
    wait_for("the update to wait", lambda: "UpdateWaiting" in podctl(
        daemon, "events", pod).stdout)
    cs = json.loads(podctl(daemon, "get", "pod", pod, "-o", "json").stdout)[
        "status"]["containerStatuses"][0]
    assert "running" in cs["state"] and cs["restartCount"] == 0, cs
    assert cs["pendingUpdate"]["images"] == ["edge/upd:2"], cs
    assert daemon.ctr_pid(pod, "app") == first

    layout, digest = oci_layout(tmp_path / "layout", "upd")
    incoming = os.path.join(daemon.state, "images", "incoming")
    skopeo_copy(f"oci:{layout}:upd", f"oci-archive:{incoming}/.upd.tar:edge/upd:2")
    os.rename(os.path.join(incoming, ".upd.tar"), os.path.join(incoming, "upd.tar"))

    def replaced():
        pid = daemon.ctr_pid(pod, "app")
        return pid if pid not in (None, first) else None
    wait_for("the replacement", replaced, timeout=20)
    wait_for("the new image in the status", lambda: json.loads(podctl(
        daemon, "get", "pod", pod, "-o", "json").stdout)["status"]["containerStatuses"][0].get(
        "imageID") == f"docker.io/edge/upd@{digest}")
