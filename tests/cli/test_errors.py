# SPDX-License-Identifier: Apache-2.0
"""The rules every podctl command follows: exit codes, the message when podd is not
running, and colour only on a terminal and never with NO_COLOR."""
import os
import pathlib
import pty
import re
import subprocess

import pytest

BUILD = pathlib.Path(os.environ.get("PODD_BUILDDIR", pathlib.Path(__file__).parents[2]))
PODCTL = str(BUILD / "podctl")
ANSI = re.compile(r"\x1b\[")


def podctl(*args, env=None, stdin=None):
    full_env = {k: v for k, v in os.environ.items() if k not in ("PODD_SOCKET", "NO_COLOR")}
    full_env.update(env or {})
    return subprocess.run([PODCTL, *args], capture_output=True, text=True, timeout=30,
                          env=full_env, input=stdin, cwd="/")


def help_commands():
    r = podctl("--help")
    section = r.stdout.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in section.splitlines() if line.strip()]



# ---- podd not running -------------------------------------------------------------------


@pytest.mark.parametrize("args", [["get", "pods"], ["get", "pod", "web"], ["get", "po", "-o", "json"],
                                  ["describe", "pod", "web"]])
def test_not_running(args, tmp_path):
    path = str(tmp_path / "podd.sock")
    want = f"podctl: cannot reach podd at {path}: no such file (is podd running?)\n"
    for r in (podctl("--socket", path, *args), podctl(*args, env={"PODD_SOCKET": path})):
        assert (r.returncode, r.stdout, r.stderr) == (1, "", want)


def test_version_not_running(tmp_path):
    path = str(tmp_path / "podd.sock")
    r = podctl("--socket", path, "version")
    assert r.returncode == 1
    assert re.fullmatch(r"podctl \S+\n", r.stdout)
    assert r.stderr == f"podctl: cannot reach podd at {path}: no such file (is podd running?)\n"


def test_not_running_default_socket():
    if os.path.exists("/run/podd/podd.sock"):
        pytest.skip("a podd runs on this host")
    r = podctl("get", "pods")
    assert r.returncode == 1
    assert r.stderr == ("podctl: cannot reach podd at /run/podd/podd.sock: no such file "
                        "(is podd running?)\n")


# ---- usage errors exit 2 ------------------------------------------------------------------


def test_every_command_rejects_an_unknown_option(server):
    for cmd in help_commands():
        r = podctl("--socket", server, cmd, "--no-such-option")
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert r.stderr and r.stdout == "", cmd


def test_every_command_has_help():
    for cmd in help_commands():
        r = podctl(cmd, "--help")
        assert r.returncode == 0, (cmd, r.stderr)
        assert r.stdout.startswith(f"Usage: podctl {cmd}"), (cmd, r.stdout)
        assert r.stderr == ""


@pytest.mark.parametrize("args", [
    [], ["frobnicate"], ["--socket"], ["--socket", ""],
    ["get"], ["get", "nodes"], ["get", "pods", "-o"], ["get", "pods", "-o", "toml"],
    ["get", "pod", "Not_A_Name"],
    ["describe"], ["describe", "pod"], ["describe", "node", "x"], ["describe", "pod", "a/b"],
    ["validate"], ["validate", "-o", "yaml", "x.yaml"], ["validate", "-f"],
    ["graph"], ["graph", "-f"], ["graph", "-f", "x.yaml", "-o", "png"], ["graph", "-f", "x", "y"],
    ["version", "extra"],
])
def test_usage_errors(args, server):
    r = podctl(*args, env={"PODD_SOCKET": server})
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stderr, args


# ---- colour -------------------------------------------------------------------------------


COLOURED = [["get", "pods"], ["get", "pods", "-o", "wide"], ["describe", "pod", "worker"]]
PLAIN = COLOURED + [["get", "pods", "-o", "yaml"], ["get", "pod", "web", "-o", "json"],
                    ["describe", "pod", "web"], ["version"]]


def on_terminal(args, env, stderr_too=False):
    """Runs podctl with a terminal as standard output (and error); returns (exit code, output)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("PODD_SOCKET", "NO_COLOR")}
    full_env.update(env)
    leader, follower = pty.openpty()
    try:
        p = subprocess.run([PODCTL, *args], stdout=follower,
                           stderr=follower if stderr_too else subprocess.PIPE,
                           env=full_env, timeout=30)
    finally:
        os.close(follower)
    out = b""
    try:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(leader)
    return p.returncode, out.decode()


@pytest.mark.parametrize("args", PLAIN)
def test_no_colour_when_not_a_terminal(args, server):
    r = podctl("--socket", server, *args)
    assert r.returncode == 0, r.stderr
    assert not ANSI.search(r.stdout) and not ANSI.search(r.stderr)


@pytest.mark.parametrize("args", PLAIN)
def test_no_colour_with_no_color_on_a_terminal(args, server):
    rc, out = on_terminal(["--socket", server, *args], {"NO_COLOR": "1"})
    assert rc == 0
    assert not ANSI.search(out), out


@pytest.mark.parametrize("args", COLOURED)
def test_colour_on_a_terminal(args, server):
    rc, out = on_terminal(["--socket", server, *args], {})
    assert rc == 0
    assert ANSI.search(out), out
    # The same text once the colour is taken out (ages may tick over between the runs).
    rc, plain = on_terminal(["--socket", server, *args], {"NO_COLOR": "1"})

    def norm(s):
        return re.sub(r"\s+", " ", re.sub(r"[0-9]+", "N", s))

    assert norm(re.sub(r"\x1b\[[0-9;]*m", "", out)) == norm(plain)


def test_errors_on_a_terminal_are_plain(tmp_path):
    for args in (["get", "pods"], ["describe", "pod", "web"], ["get", "nodes"]):
        rc, out = on_terminal(["--socket", str(tmp_path / "none.sock"), *args], {},
                              stderr_too=True)
        assert rc in (1, 2) and out.startswith("podctl"), out
        assert not ANSI.search(out), out
