# SPDX-License-Identifier: Apache-2.0
"""The README's walk-through, run line by line as a user would, against a
private podd: `podd` and `podctl` on PATH are wrappers that add private
directories and the private socket, /tmp/busybox-rootfs becomes a temporary
directory. If the README and podd drift apart, this fails."""
import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

from conftest import builddir, mounts_under, skip_reason
from test_daemon import wait_for

SRCDIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def walkthrough_commands():
    with open(os.path.join(SRCDIR, "README.md")) as f:
        text = f.read()
    section = text.split("### Walk-through", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines()
            if line.strip() and not line.startswith("#")]


@pytest.fixture
def private_tools():
    reason = skip_reason()
    if reason or not os.path.exists("/bin/busybox"):
        pytest.skip(reason or "needs /bin/busybox (busybox-static)")
    top = tempfile.mkdtemp(prefix="podd-walk-")
    bindir = os.path.join(top, "bin")
    os.makedirs(bindir)
    os.makedirs(os.path.join(top, "manifests"))
    sock = os.path.join(top, "run", "podd.sock")
    with open(os.path.join(bindir, "podd"), "w") as f:
        f.write(f"#!/bin/sh\necho $$ > {top}/podd.pid\n"
                f"exec {builddir()}/podd --manifest-dir {top}/manifests --state-dir {top}/state "
                f"--run-dir {top}/run --log-dir {top}/log --on-exit stop \"$@\" 2> {top}/podd.log\n")
    with open(os.path.join(bindir, "podctl"), "w") as f:
        f.write(f"#!/bin/sh\nexec {builddir()}/podctl --socket {sock} \"$@\"\n")
    for name in ("podd", "podctl"):
        os.chmod(os.path.join(bindir, name), 0o755)
    yield top
    try:
        with open(os.path.join(top, "podd.pid")) as f:
            pid = int(f.read())
        os.kill(pid, signal.SIGTERM)
        wait_for("podd to stop", lambda: not os.path.exists(f"/proc/{pid}")
                 or open(f"/proc/{pid}/stat").read().split()[2] == "Z", timeout=30)
    except (OSError, ValueError):
        pass
    assert not mounts_under(top)
    shutil.rmtree(top, ignore_errors=True)


def test_the_readme_walkthrough_works_as_written(private_tools):
    top = private_tools
    env = dict(os.environ, PATH=f"{top}/bin:{os.environ['PATH']}")
    outputs = {}
    for cmd in walkthrough_commands():
        cmd = cmd.replace("/tmp/busybox-rootfs", f"{top}/rootfs")
        if cmd.endswith("&"):
            subprocess.Popen(["sh", "-c", cmd], cwd=SRCDIR, env=env)
            wait_for("podd's socket", lambda: os.path.exists(f"{top}/run/podd.sock"), timeout=30)
            continue
        r = subprocess.run(["sh", "-c", cmd], cwd=SRCDIR, env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        outputs[cmd] = r.stdout
    assert "pod/web created" in outputs["podctl apply -f manifests/web.yaml --wait"]
    assert "pod/web ready" in outputs["podctl apply -f manifests/web.yaml --wait"]
    assert re.search(r"^web\s+1/1\s+Running\s+0", outputs["podctl get pods"], re.M)
    assert "wrote /www/index.html" in outputs["podctl logs web -c write-page"]
    assert "Started" in outputs["podctl events"]
    assert outputs["podctl delete pod web"] == "pod/web deleted\n"
    assert "busybox" in outputs["podctl image ls"]
