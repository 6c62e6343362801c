# SPDX-License-Identifier: Apache-2.0
"""podctl validate and podctl graph as a user runs them: exit codes, output, inputs."""
import json
import os
import pathlib
import subprocess

import pytest

BUILD = pathlib.Path(os.environ.get("PODD_BUILDDIR", pathlib.Path(__file__).parents[2]))
PODCTL = str(BUILD / "podctl")

GOOD = """apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  initContainers:
  - name: setup
    image: busybox:latest
    command: [sh, -c, "echo ready > /work/state"]
  - name: proxy
    image: busybox:latest
    restartPolicy: Always
  containers:
  - name: app
    image: busybox:latest
  - name: worker
    image: busybox:latest
"""

BAD = """apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: app
    imagee: busybox
"""

CYCLE = """apiVersion: v1
kind: Pod
metadata:
  name: loop
  annotations:
    podd.io/depends-on.a: b
    podd.io/depends-on.b: a
spec:
  containers:
  - name: a
    image: bb
  - name: b
    image: bb
"""


def podctl(*args, stdin=None):
    return subprocess.run([PODCTL, *args], input=stdin, capture_output=True, text=True,
                          timeout=30)


def test_validate_valid_file(tmp_path):
    f = tmp_path / "web.yaml"
    f.write_text(GOOD)
    r = podctl("validate", "-f", str(f))
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{f}: pod/web valid\n"
    assert r.stderr == ""


def test_validate_error_names_file_line_column_and_field(tmp_path):
    f = tmp_path / "web.yaml"
    f.write_text(BAD)
    r = podctl("validate", "-f", str(f))
    assert r.returncode == 1
    assert f"{f}:8:5: spec.containers[0].imagee: unknown field; did you mean 'image'?" in r.stderr
    assert f"{f}:7:5: spec.containers[0].image: required" in r.stderr
    assert r.stdout == ""


def test_validate_stdin():
    r = podctl("validate", "-f", "-", stdin=GOOD)
    assert r.returncode == 0, r.stderr
    assert "<stdin>: pod/web valid" in r.stdout
    r = podctl("validate", "-f", "-", stdin=BAD)
    assert r.returncode == 1
    assert "<stdin>:8:5: spec.containers[0].imagee" in r.stderr


def test_validate_directory_reads_only_manifest_names(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yml").write_text(GOOD.replace("name: web", "name: web-b"))
    (tmp_path / "c.json").write_text(json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-c"},
        "spec": {"containers": [{"name": "app", "image": "bb"}]}}))
    # None of these may ever be read as a manifest: each would be an error if it were.
    for name in ("web.yaml.bak", "web.yaml~", ".web.yaml.swp", ".hidden.yaml", "notes.txt"):
        (tmp_path / name).write_text(BAD)
    r = podctl("validate", "-f", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == [
        f"{tmp_path}/a.yaml: pod/web valid",
        f"{tmp_path}/b.yml: pod/web-b valid",
        f"{tmp_path}/c.json: pod/web-c valid",
    ]


def test_validate_json_output(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    r = podctl("validate", "-o", "json", "-f", str(good), "-f", str(bad))
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert report["valid"] is False
    files = {f["file"]: f for f in report["files"]}
    assert files[str(good)]["valid"] is True
    assert files[str(good)]["documents"][0]["name"] == "web"
    diags = files[str(bad)]["documents"][0]["diagnostics"]
    assert {"level": "error", "line": 8, "column": 5, "path": "spec.containers[0].imagee",
            "message": "unknown field; did you mean 'image'?"} in diags


def test_validate_whole_file_error_json(tmp_path):
    f = tmp_path / "dup.yaml"
    f.write_text("a: 1\na: 2\n")
    r = podctl("validate", "-o", "json", "-f", str(f))
    assert r.returncode == 1
    err = json.loads(r.stdout)["files"][0]["error"]
    assert err["line"] == 2 and err["column"] == 1
    assert "duplicate key 'a'" in err["message"]


def test_validate_missing_file():
    r = podctl("validate", "-f", "/nonexistent/web.yaml")
    assert r.returncode == 1
    assert "/nonexistent/web.yaml: cannot open: No such file or directory" in r.stderr


def test_validate_reports_cycle(tmp_path):
    f = tmp_path / "loop.yaml"
    f.write_text(CYCLE)
    r = podctl("validate", "-f", str(f))
    assert r.returncode == 1
    assert "dependency cycle: a -> b -> a" in r.stderr
    assert f"{f}:6:" in r.stderr


@pytest.mark.parametrize("args", [
    ["validate"],
    ["validate", "-o", "yaml", "-f", "x"],
    ["validate", "--bogus"],
    ["validate", "-f"],
    ["graph"],
    ["graph", "-f", "x", "-o", "png"],
    ["frobnicate"],
    [],
])
def test_usage_errors_exit_2(args):
    r = podctl(*args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stderr


@pytest.mark.parametrize("args", [["--help"], ["validate", "--help"], ["graph", "--help"]])
def test_help_exits_0_on_stdout(args):
    r = podctl(*args)
    assert r.returncode == 0
    assert "Usage: podctl" in r.stdout


def test_graph_text(tmp_path):
    f = tmp_path / "web.yaml"
    f.write_text(GOOD)
    r = podctl("graph", "-f", str(f))
    assert r.returncode == 0, r.stderr
    lines = [l.strip() for l in r.stdout.splitlines()]
    assert lines[0] == "pod/web"
    start = lines.index("start order:")
    assert lines[start + 1] == "1. setup (init)"
    assert lines[start + 2].split() == ["2.", "proxy", "(sidecar)", "waits", "for", "setup:completed"]
    # Layer 3: app and worker start together, each waiting for the sidecar to start.
    assert lines[start + 3].split() == ["3.", "app", "(regular)", "waits", "for", "proxy:started"]
    assert lines[start + 4].split() == ["worker", "(regular)", "waits", "for", "proxy:started"]
    assert "stop order: app, worker; proxy; setup" in lines


def test_graph_dot(tmp_path):
    f = tmp_path / "web.yaml"
    f.write_text(GOOD)
    r = podctl("graph", "-f", str(f), "-o", "dot")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('digraph "pod/web" {')
    assert '"setup" -> "proxy" [label="completed"];' in r.stdout
    assert '"proxy" -> "app" [label="started"];' in r.stdout
    assert r.stdout.rstrip().endswith("}")


def test_graph_cycle_is_an_error(tmp_path):
    f = tmp_path / "loop.yaml"
    f.write_text(CYCLE)
    r = podctl("graph", "-f", str(f))
    assert r.returncode == 1
    assert "dependency cycle: a -> b -> a" in r.stderr


def test_version_without_daemon(tmp_path):
    # The client's version always; a daemon out of reach is a failure, as with kubectl.
    r = podctl("--socket", str(tmp_path / "none.sock"), "version")
    assert r.returncode == 1
    assert r.stdout.startswith("podctl ")
    assert "is podd running?" in r.stderr


def test_validate_positional_paths(tmp_path):
    f = tmp_path / "web.yaml"
    f.write_text(GOOD)
    r = podctl("validate", str(f), "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files"][0]["file"] == str(f)
    r = podctl("validate", "-", stdin=GOOD)
    assert (r.returncode, r.stdout) == (0, "<stdin>: pod/web valid\n")
