# SPDX-License-Identifier: Apache-2.0
"""The image store through podctl and a real podd: import (tar, tar.gz,
directory), ls, rm, and what an interrupted or failed import leaves: nothing.

Archives are built from the busybox rootfs fixture. Every podctl and podd
started here is ended by its own pid.
"""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import builddir
from test_daemon import daemon, podctl, unique, wait_for  # noqa: F401 (daemon is a fixture)


def image_yaml(name, image, cmd="echo up; sleep 3600"):
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n"
            f"  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n"
            f"    image: {image}\n    command: [sh, -c, {json.dumps(cmd)}]\n")


def store(daemon):
    return os.path.join(daemon.state, "images")


def work_dirs(daemon):
    return sorted(e for e in os.listdir(store(daemon)) if e.startswith("."))


@pytest.fixture
def archives(rootfs, tmp_path):
    """The rootfs as a plain tar and as a gzip-compressed tar whose name does not say so."""
    tar, gz = str(tmp_path / "rootfs.tar"), str(tmp_path / "rootfs.bin")
    subprocess.run(["tar", "-C", rootfs, "-cf", tar, "."], check=True)
    subprocess.run(["tar", "-C", rootfs, "-czf", gz, "."], check=True)
    return tar, gz


def test_import_tar_targz_and_dir_then_ls_shows_the_users(daemon, rootfs, archives):
    tar, gz = archives
    pod = unique("img")
    daemon.start()
    for ref, src in (("imp/tar:1", tar), ("imp/gz", gz), ("dir", rootfs)):
        r = podctl(daemon, "image", "import", ref, src)
        assert r.returncode == 0, r.stderr
        name, _, tag = ref.partition(":")
        image = os.path.join(store(daemon), name, tag or "latest")
        assert os.access(os.path.join(image, "bin", "busybox"), os.X_OK)
        assert os.readlink(os.path.join(image, "bin", "sh")) == "busybox"
        assert os.stat(os.path.join(image, "tmp")).st_mode & 0o7777 == 0o1777
        assert os.stat(os.path.join(image, "home", "user")).st_uid == 1000
    assert work_dirs(daemon) == []

    daemon.write("p.yaml", image_yaml(pod, "imp/gz"))
    wait_for("the pod", lambda: daemon.ctr_pid(pod, "app"))
    r = podctl(daemon, "image", "ls")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["IMAGE", "TAG", "DIGEST", "SIZE", "USED", "BY"]
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in lines[1:]}
    assert set(rows) == {("busybox", "latest"), ("dir", "latest"), ("imp/gz", "latest"),
                         ("imp/tar", "1")}
    # A plain rootfs directory has no manifest, hence no digest.
    assert rows[("imp/gz", "latest")][0] == "<none>"
    assert rows[("imp/gz", "latest")][2] == pod
    assert rows[("imp/tar", "1")][2] == "<none>"
    assert rows[("imp/tar", "1")][1].endswith("MB")
    js = json.loads(podctl(daemon, "image", "ls", "-o", "json").stdout)
    by_image = {i["image"]: i for i in js}
    assert by_image["imp/gz:latest"]["usedBy"] == [pod]
    assert by_image["dir:latest"]["usedBy"] == []
    assert by_image["imp/tar:1"]["size"] > 1000000


def test_a_pod_waiting_for_its_image_starts_at_once_after_import(daemon, rootfs):
    pod = unique("late")
    daemon.start()
    # Never: no registry is asked (there is no network here); it waits for the import.
    daemon.write("late.yaml", image_yaml(pod, "late:v1") + "    imagePullPolicy: Never\n")
    wait_for("ErrImageNeverPull",
             lambda: "ErrImageNeverPull" in podctl(daemon, "get", "pods").stdout)
    # Land the import right after a 2 s retry would have looked, at worst.
    time.sleep(0.3)
    r = podctl(daemon, "image", "import", "late:v1", rootfs)
    imported = time.monotonic()
    assert r.returncode == 0, r.stderr
    wait_for("the container", lambda: daemon.ctr_pid(pod, "app"), timeout=10, interval=0.02)
    took = time.monotonic() - imported
    # It takes about 0.1 s; the 2 s retry alone would take 0 to 2 s, so both checks matter.
    assert took < 1.0, f"started {took:.2f}s after the import: the 2s retry, not image_added"
    assert "1 pod waiting for it" in daemon.log()


def test_rm_is_refused_while_a_pod_uses_the_image(daemon, rootfs):
    pod = unique("user")
    daemon.start()
    assert podctl(daemon, "image", "import", "used:1", rootfs).returncode == 0
    daemon.write("user.yaml", image_yaml(pod, "used:1"))
    wait_for("the pod", lambda: daemon.ctr_pid(pod, "app"))
    r = podctl(daemon, "image", "rm", "used:1")
    assert r.returncode == 1
    assert r.stderr.startswith("podctl: ") and f"used by pod {pod}" in r.stderr, r.stderr
    assert os.path.isdir(os.path.join(store(daemon), "used", "1"))

    os.unlink(os.path.join(daemon.manifests, "user.yaml"))
    wait_for("the pod to go", lambda: podctl(daemon, "get", "pod", pod).returncode == 1,
             timeout=20)
    r = podctl(daemon, "image", "rm", "used:1")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(os.path.join(store(daemon), "used"))
    assert work_dirs(daemon) == []
    r = podctl(daemon, "image", "rm", "used:1")
    assert r.returncode == 1 and "podctl: image 'used:1' not found" in r.stderr, r.stderr


def start_import_from_fifo(daemon, tmp_path, tar, ref):
    """A podctl import reading tar from a fifo, held after the first half of the archive."""
    fifo = str(tmp_path / f"fifo-{unique('f')}")
    os.mkfifo(fifo)
    proc = subprocess.Popen([os.path.join(builddir(), "podctl"), "--socket",
                             os.path.join(daemon.run, "podd.sock"), "image", "import", ref, fifo],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with open(tar, "rb") as f:
        data = f.read()
    w = os.open(fifo, os.O_WRONLY)
    os.write(w, data[:len(data) // 2])

    def extracting():
        return any(os.path.exists(os.path.join(store(daemon), d, "bin", "busybox"))
                   for d in work_dirs(daemon))
    wait_for("tar to be mid-extraction", extracting)
    return proc, w


def test_an_interrupted_import_leaves_nothing_behind(daemon, rootfs, archives, tmp_path):
    tar, _ = archives
    daemon.start()

    # SIGTERM: podctl stops tar and removes its work directory itself.
    proc, w = start_import_from_fifo(daemon, tmp_path, tar, "cut:term")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    os.close(w)
    assert proc.returncode == 1 and "interrupted" in err, err
    assert not os.path.exists(os.path.join(store(daemon), "cut"))
    assert work_dirs(daemon) == []

    # SIGKILL: the leftover goes with the next import.
    proc, w = start_import_from_fifo(daemon, tmp_path, tar, "cut:kill")
    proc.kill()
    proc.communicate(timeout=10)
    os.close(w)
    assert not os.path.exists(os.path.join(store(daemon), "cut"))
    r = podctl(daemon, "image", "import", "other", rootfs)
    assert r.returncode == 0, r.stderr
    assert work_dirs(daemon) == []
    assert not os.path.exists(os.path.join(store(daemon), "cut"))

    # SIGKILL: the leftover goes when podd starts.
    proc, w = start_import_from_fifo(daemon, tmp_path, tar, "cut:kill2")
    proc.kill()
    proc.communicate(timeout=10)
    os.close(w)
    daemon.stop()
    wait_for("tar to die with podctl", lambda: not any(
        os.path.exists(os.path.join(store(daemon), d)) and _locked(store(daemon), d)
        for d in work_dirs(daemon)))
    daemon.start()
    assert work_dirs(daemon) == []
    assert not os.path.exists(os.path.join(store(daemon), "cut"))
    assert "leftover" in daemon.log()


def _locked(top, name):
    import fcntl
    try:
        fd = os.open(os.path.join(top, name), os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def test_a_corrupt_tar_leaves_nothing_and_says_why(daemon, tmp_path, archives):
    tar, _ = archives
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not a tar archive\n" * 100)
    truncated = tmp_path / "truncated.tar"
    with open(tar, "rb") as f:
        truncated.write_bytes(f.read()[:100000])
    daemon.start()
    for src in (bad, truncated):
        r = podctl(daemon, "image", "import", "broken:1", str(src))
        assert r.returncode == 1, r.stderr
        assert "tar: " in r.stderr and "podctl: cannot import" in r.stderr, r.stderr
        assert not os.path.exists(os.path.join(store(daemon), "broken"))
        assert work_dirs(daemon) == []
    r = podctl(daemon, "image", "import", "broken:1", str(tmp_path / "missing"))
    assert r.returncode == 1 and "podctl: cannot import" in r.stderr, r.stderr


@pytest.mark.parametrize("ref", ["../x", "/etc", "a/../../b", "x:../y", ".hidden", "UPPER"])
def test_bad_references_are_refused(daemon, rootfs, ref):
    daemon.start()
    for args in (("import", ref, rootfs), ("rm", ref)):
        r = podctl(daemon, "image", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith(f"podctl: invalid image reference '{ref}'"), r.stderr
    # Nothing but the fixture's image and podd's drop-in directory of archives.
    assert sorted(os.listdir(store(daemon))) == ["busybox", "incoming"]
