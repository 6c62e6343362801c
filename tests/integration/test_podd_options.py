# SPDX-License-Identifier: Apache-2.0
"""podd's command line: what podd(8) promises about options, paths and exit codes."""
import os
import shutil
import signal
import subprocess
import time
import uuid

from conftest import builddir, mounts_under, proc_start_time


def wait_for(what, cond, timeout=15.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def podd(*args, cwd=None, timeout=30):
    return subprocess.run([os.path.join(builddir(), "podd"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def test_unknown_runtime_is_a_usage_error_exit_2(tmp_path):
    r = podd("--runtime", "BAD", "--state-dir", str(tmp_path / "state"),
             "--run-dir", str(tmp_path / "run"), "--manifest-dir", str(tmp_path / "m"),
             "--log-dir", str(tmp_path / "log"))
    assert r.returncode == 2, r.stderr
    assert "unknown runtime 'BAD'" in r.stderr and "native" in r.stderr
    # Refused before anything was created.
    assert not (tmp_path / "state").exists() and not (tmp_path / "run").exists()


def test_relative_directories_are_resolved_at_start_and_containers_run(rootfs, tmp_path):
    top = str(tmp_path)
    image = os.path.join(top, "state", "images", "busybox", "latest")
    shutil.copytree(rootfs, image, symlinks=True)
    os.makedirs(os.path.join(top, "manifests"))
    pod = "rel-%s" % uuid.uuid4().hex[:6]
    log_path = os.path.join(top, "podd.log")
    proc = subprocess.Popen([os.path.join(builddir(), "podd"), "--manifest-dir", "manifests",
                             "--state-dir", "./state", "--run-dir", "run/", "--log-dir", "log",
                             "--on-exit", "stop"],
                            cwd=top, stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))
    pidfile = os.path.join(top, "run", "containers", f"default_{pod}_a", "container.pid")
    try:
        wait_for("podd to start", lambda: "podd 0.1" in read(log_path) or proc.poll() is not None)
        assert proc.poll() is None, read(log_path)
        # The start line names the directories as podd will use them: absolute.
        assert f"state {top}/state," in read(log_path) and f"run {top}/run," in read(log_path)
        with open(os.path.join(top, "manifests", f"{pod}.yaml"), "w") as f:
            f.write(f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\nspec:\n"
                    f"  terminationGracePeriodSeconds: 1\n  containers:\n  - name: a\n"
                    f"    image: busybox:latest\n    command: [sleep, '3600']\n")
        wait_for("the container to run", lambda: os.path.exists(pidfile)
                 or "must be an absolute path" in read(log_path))
        assert "must be an absolute path" not in read(log_path)
        with open(pidfile) as f:
            pid, start = (int(x) for x in f.read().split())
        assert proc_start_time(pid) == start
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        for mp in sorted(mounts_under(top), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False)
    assert proc.returncode == 0, read(log_path)[-2000:]
    assert not mounts_under(top)


def test_relative_directory_whose_parent_is_missing_is_refused_exit_2(tmp_path):
    r = podd("--state-dir", "no/such/state", "--run-dir", str(tmp_path / "run"),
             "--manifest-dir", str(tmp_path / "m"), "--log-dir", str(tmp_path / "log"),
             cwd=str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert "--state-dir 'no/such/state'" in r.stderr and "absolute path" in r.stderr
    assert not (tmp_path / "run").exists()


def test_a_bad_image_pull_backoff_is_a_usage_error_exit_2(tmp_path):
    for spec in ("initial=5m,max=10s", "initial=1x", "reset=1m", "max"):
        r = podd("--image-pull-backoff", spec, "--state-dir", str(tmp_path / "state"),
                 "--run-dir", str(tmp_path / "run"), "--manifest-dir", str(tmp_path / "m"),
                 "--log-dir", str(tmp_path / "log"))
        assert r.returncode == 2, (spec, r.stderr)
        assert f"--image-pull-backoff takes initial=DUR,max=DUR with initial <= max, not '{spec}'" \
            in r.stderr, r.stderr
        assert not os.path.exists(tmp_path / "state")
