# SPDX-License-Identifier: Apache-2.0
"""completion/podctl.bash in a real bash: the completion function called as bash calls it.

Pod and container names come from the stand-in daemon tests/api/api-test-server, which
serves web (init container setup, containers app and proxy) and worker (container job).
"""
import os
import pathlib
import subprocess

import pytest

SRC = pathlib.Path(os.environ.get("PODD_SRCDIR", pathlib.Path(__file__).parents[2]))
BUILD = pathlib.Path(os.environ.get("PODD_BUILDDIR", pathlib.Path(__file__).parents[2]))
PODCTL = str(BUILD / "podctl")
SCRIPT = str(SRC / "completion" / "podctl.bash")

# Sources the script, sets COMP_WORDS and COMP_CWORD as bash would, prints COMPREPLY.
DRIVER = r'''
source "$1" || exit 3
shift
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
complete -p podctl >/dev/null || exit 4
_podctl || exit 5
printf '%s\n' "${COMPREPLY[@]}"
'''


def complete(*words, cwd=None, env=None):
    """Completes the last word of `podctl WORDS...` (the podctl under test)."""
    full_env = {k: v for k, v in os.environ.items() if k != "PODD_SOCKET"}
    full_env.update(env or {})
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", DRIVER, "driver", SCRIPT, PODCTL,
                        *words], capture_output=True, text=True, timeout=30, cwd=cwd,
                       env=full_env)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return sorted(line for line in r.stdout.split("\n") if line)



COMMANDS = sorted(["apply", "delete", "restart", "get", "describe", "logs", "events", "image",
                   "validate", "graph", "version"])


def test_commands():
    assert complete("") == COMMANDS
    assert complete("g") == ["get", "graph"]
    assert complete("--socket", "/tmp/x.sock", "de") == ["delete", "describe"]


def test_every_command_of_help_is_completed():
    r = subprocess.run([PODCTL, "--help"], capture_output=True, text=True, timeout=30)
    section = r.stdout.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    for cmd in (line.split()[0] for line in section.splitlines() if line.strip()):
        assert cmd in COMMANDS


def test_global_flags():
    assert complete("--") == ["--help", "--socket"]


def test_subcommands():
    assert complete("get", "") == ["pod", "pods"]
    assert complete("describe", "") == ["pod"]
    assert complete("delete", "") == ["pod"]
    assert complete("restart", "") == ["pod"]
    assert complete("image", "") == ["import", "inspect", "load", "ls", "prune", "pull", "rm"]
    assert complete("image", "i") == ["import", "inspect"]
    assert complete("image", "load", "-") == ["--help", "--input", "-i"]
    assert complete("image", "p") == ["prune", "pull"]
    assert complete("image", "pull", "--") == ["--auth", "--help", "--registries"]


@pytest.mark.parametrize("words, expected", [
    (["apply", "--"], ["--dry-run", "--help", "--wait", "--wait="]),
    (["apply", "-"], ["--dry-run", "--help", "--wait", "--wait=", "-f"]),
    (["delete", "-"], ["--help", "-f"]),
    (["get", "pods", "-"], ["--help", "--output", "-o"]),
    (["logs", "web", "--"], ["--help", "--previous", "--since", "--tail", "--timestamps"]),
    (["logs", "web", "-"], ["--help", "--previous", "--since", "--tail", "--timestamps", "-c",
                            "-f"]),
    (["events", "-"], ["--help", "-w"]),
    (["validate", "-"], ["--filename", "--help", "--output", "-f", "-o"]),
    (["graph", "--"], ["--filename", "--help", "--output"]),
    (["version", "-"], ["--help"]),
])
def test_flags_per_command(words, expected):
    assert complete(*words) == expected


def test_output_formats():
    assert complete("get", "pods", "-o", "") == ["json", "name", "wide", "yaml"]
    assert complete("get", "pod", "web", "--output", "y") == ["yaml"]
    assert complete("validate", "-o", "") == ["json", "text"]
    assert complete("graph", "-f", "x.yaml", "-o", "") == ["dot", "text"]


def test_files_after_f(tmp_path):
    (tmp_path / "web.yaml").write_text("")
    (tmp_path / "worker.yml").write_text("")
    (tmp_path / "manifests").mkdir()
    assert complete("apply", "-f", "w", cwd=tmp_path) == ["web.yaml", "worker.yml"]
    assert complete("apply", "-f", "", cwd=tmp_path) == ["manifests", "web.yaml", "worker.yml"]
    assert complete("delete", "-f", "m", cwd=tmp_path) == ["manifests"]
    assert complete("graph", "--filename", "web", cwd=tmp_path) == ["web.yaml"]
    assert complete("validate", "wo", cwd=tmp_path) == ["worker.yml"]
    assert complete("image", "import", "busybox", "ma", cwd=tmp_path) == ["manifests"]
    assert complete("image", "pull", "--registries", "w", cwd=tmp_path) == ["web.yaml",
                                                                            "worker.yml"]


def test_pod_names(server):
    assert complete("--socket", server, "get", "pods", "") == ["web", "worker"]
    assert complete("--socket", server, "get", "pod", "w") == ["web", "worker"]
    assert complete("--socket", server, "describe", "pod", "wo") == ["worker"]
    assert complete("--socket", server, "delete", "pod", "") == ["web", "worker"]
    assert complete("--socket", server, "restart", "pod", "") == ["web", "worker"]
    assert complete("--socket", server, "logs", "") == ["web", "worker"]
    assert complete("--socket", server, "events", "-w", "") == ["web", "worker"]
    # The socket from the environment, as podctl itself takes it.
    assert complete("logs", "", env={"PODD_SOCKET": server}) == ["web", "worker"]
    # restart takes one pod, logs one pod, then flags only.
    assert complete("--socket", server, "restart", "pod", "web", "") == []
    assert complete("--socket", server, "logs", "web", "") == []


def test_container_names(server):
    assert complete("--socket", server, "logs", "web", "-c", "") == ["app", "proxy", "setup"]
    assert complete("--socket", server, "logs", "web", "-c", "a") == ["app"]
    assert complete("--socket", server, "logs", "worker", "-f", "-c", "") == ["job"]
    assert complete("--socket", server, "logs", "-f", "worker", "--tail", "5", "-c", "") == \
        ["job"]
    assert complete("--socket", server, "logs", "nope", "-c", "") == []


def test_no_daemon_completes_nothing_quietly(tmp_path):
    sock = str(tmp_path / "none.sock")
    assert complete("--socket", sock, "get", "pods", "") == []
    assert complete("--socket", sock, "logs", "web", "-c", "") == []


def test_hidden_helper_is_not_in_help():
    r = subprocess.run([PODCTL, "--help"], capture_output=True, text=True, timeout=30)
    assert "__complete" not in r.stdout
    r = subprocess.run([PODCTL, "__complete", "pods"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
