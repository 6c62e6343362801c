# SPDX-License-Identifier: Apache-2.0
"""The man pages and the bash completion: installed, complete, and rendering cleanly.

Every command and option that podctl --help, podctl COMMAND --help and podd --help
print must be in the matching page, every field of schemas/pod.schema.json and every
podd.io annotation the validator knows must be in podd-manifest(5), so the pages
cannot go stale.
"""
import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import tempfile

import pytest

SRC = pathlib.Path(os.environ.get("PODD_SRCDIR", pathlib.Path(__file__).parents[2]))
BUILD = pathlib.Path(os.environ.get("PODD_BUILDDIR", pathlib.Path(__file__).parents[2]))
PODCTL = str(BUILD / "podctl")
PODD = str(BUILD / "podd")
PAGES = {"podd.8": "man8", "podctl.1": "man1", "podd-manifest.5": "man5"}


def run(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


def page_text(name):
    """The page's source with roff escapes removed: \\- is -, fonts are dropped."""
    s = (SRC / "man" / name).read_text()
    s = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", s)
    s = s.replace("\\-", "-").replace("\\e", "\\").replace("\\(dq", '"').replace("\\&", "")
    # The alternating-font macros join their arguments: ".BI --wait= TIMEOUT" is --wait=TIMEOUT.
    return re.sub(r"^\.(?:BI|IB|BR|RB|IR|RI) (.*)$",
                  lambda m: "".join(shlex.split(m.group(1), posix=True)), s, flags=re.M)


def has_word(text, word):
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


def help_options(help_text):
    """Options in a --help text: the -x and --long words that start an indented line."""
    opts = set()
    for line in help_text.splitlines():
        m = re.match(r"^\s+(-[^\s]+(?:, --?[\w-]+)?)", line)
        if m:
            opts.update(o.rstrip(",") for o in re.findall(r"--?[A-Za-z][\w-]*", m.group(1)))
    return opts


def podctl_commands():
    r = run(PODCTL, "--help")
    assert r.returncode == 0, r.stderr
    section = r.stdout.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    cmds = [line.split()[0] for line in section.splitlines() if line.strip()]
    assert "get" in cmds and "version" in cmds, cmds
    return cmds


# ---- installation ---------------------------------------------------------------------------


def test_make_install_installs_pages_and_completion():
    if not (BUILD / "Makefile").exists():
        pytest.skip("no configured build tree")
    dest = tempfile.mkdtemp(prefix="podd-install-test-")
    try:
        # A make of our own, not a job of the make that runs this test. install-data is
        # make install without the programs: relinking them would race the tests using them.
        env = {k: v for k, v in os.environ.items()
               if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
        r = run("make", "-C", str(BUILD), "install-data", f"DESTDIR={dest}", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        installed = {p.relative_to(dest) for p in pathlib.Path(dest).rglob("*") if p.is_file()}
        for name, section in PAGES.items():
            found = [p for p in installed if p.parts[-2:] == (section, name)]
            assert len(found) == 1, (name, sorted(installed))
            assert (pathlib.Path(dest) / found[0]).read_bytes() == \
                (SRC / "man" / name).read_bytes()
        comp = [p for p in installed if p.parts[-3:] == ("bash-completion", "completions",
                                                         "podctl")]
        assert len(comp) == 1, sorted(installed)
        assert (pathlib.Path(dest) / comp[0]).read_bytes() == \
            (SRC / "completion" / "podctl.bash").read_bytes()
    finally:
        shutil.rmtree(dest, ignore_errors=True)


# ---- the pages say what --help says ---------------------------------------------------------


def test_every_podctl_command_has_a_section():
    text = page_text("podctl.1")
    sections = set(re.findall(r"^\.SS (\S+)$", text, re.M))
    for cmd in podctl_commands():
        assert cmd in sections, f"podctl.1 has no section for '{cmd}'"


def test_every_podctl_option_is_documented():
    text = page_text("podctl.1")
    opts = help_options(run(PODCTL, "--help").stdout)
    assert "--socket" in opts
    for opt in opts:
        assert has_word(text, opt), f"podctl.1 does not mention the global option {opt}"
    for cmd in podctl_commands():
        r = run(PODCTL, cmd, "--help")
        assert r.returncode == 0, (cmd, r.stderr)
        section = text.split(f"\n.SS {cmd}\n", 1)[1].split("\n.SS ", 1)[0]
        for opt in help_options(r.stdout) - {"-h", "--help"}:
            assert has_word(section, opt), f"podctl.1, section {cmd}, does not mention {opt}"


def test_the_command_line_of_issue_5_is_in_the_synopsis():
    synopsis = page_text("podctl.1").split(".SH SYNOPSIS", 1)[1].split(".SH ", 1)[0]
    for words in ("apply -f PATH... [--dry-run] [--wait[=TIMEOUT]]", "delete pod NAME...",
                  "delete -f PATH...", "restart pod NAME", "get pods [-o wide|json|yaml|name]",
                  "get pod NAME [-o ...]", "describe pod NAME",
                  "logs POD [-c CONTAINER] [-f] [--tail N] [--since DURATION] [--previous] "
                  "[--timestamps]", "events [-w] [POD]",
                  "image import NAME[:TAG] ROOTFS.tar[.gz]|DIR", "image ls",
                  "image rm NAME[:TAG]...", "validate [-o json] PATH...", "version"):
        assert f"podctl {words}" in synopsis, words


def test_every_podd_option_is_documented():
    r = run(PODD, "--help")
    assert r.returncode == 0, r.stderr
    opts = help_options(r.stdout)
    assert {"--manifest-dir", "--socket-group", "--restart-backoff", "--version"} <= opts, opts
    text = page_text("podd.8")
    options = text.split(".SH OPTIONS", 1)[1].split(".SH ", 1)[0]
    for opt in opts:
        assert has_word(options, opt), f"podd.8 OPTIONS does not describe {opt}"


def test_environment_and_exit_status_are_documented():
    podctl = page_text("podctl.1")
    for word in ("PODD_SOCKET", "NO_COLOR", "is podd running?"):
        assert word in podctl
    exit_status = podctl.split(".SH EXIT STATUS", 1)[1].split(".SH ", 1)[0]
    assert re.findall(r"^\.B ([0-9])$", exit_status, re.M) == ["0", "1", "2"]
    podd = page_text("podd.8")
    for word in ("NOTIFY_SOCKET", "SIGHUP", "SIGTERM", "/etc/podd/manifests", "/var/lib/podd",
                 "/run/podd/podd.sock", "/var/log/podd"):
        assert word in podd


# ---- podd-manifest(5) says what the validator and the schema say ----------------------------


def test_every_schema_field_is_in_the_manifest_page():
    text = page_text("podd-manifest.5")
    raw = (SRC / "man" / "podd-manifest.5").read_text()
    section = raw.split(".SH FIELDS ACCEPTED AND IGNORED", 1)[1].split(".SH ", 1)[0]
    lines = section.splitlines()
    # The fields in bold, not the .TP tags that say where they are (spec, metadata...).
    ignored = {word.split(".")[-1] for i, line in enumerate(lines)
               if line.startswith(".B") and (i == 0 or lines[i - 1] != ".TP")
               for word in re.findall(r"[A-Za-z][\w.]*", line[3:])}
    assert {"nodeSelector", "affinity", "windowsOptions", "resizePolicy"} <= ignored
    assert "imagePullPolicy" not in ignored
    assert "spec" not in ignored
    schema = json.loads((SRC / "schemas" / "pod.schema.json").read_text())
    missing, seen = set(), set()

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/") and ref not in seen:
                seen.add(ref)
                target = schema
                for part in ref[len("#/"):].split("/"):  # a JSON pointer, maybe nested
                    target = target[part]
                walk(target)
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    for name, sub in value.items():
                        if not has_word(text, name):
                            missing.add(name)
                        # The inside of a field ignored as a whole needs no words.
                        if name not in ignored:
                            walk(sub)
                elif key != "$defs":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    assert not missing, f"podd-manifest.5 does not mention {sorted(missing)}"


def test_every_podd_annotation_is_in_the_manifest_page():
    manifest = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  annotations:\n"
                "    podd.io/zzzzzzzzzzzzzzzzzz: v\nspec:\n  containers:\n"
                "  - name: a\n    image: bb\n")
    r = run(PODCTL, "validate", "-", input=manifest)
    assert r.returncode == 1
    known = re.search(r"known: ([^)]*)\)", r.stderr).group(1).split(", ")
    text = page_text("podd-manifest.5")
    for a in known + ["io.podman.annotations.init.container.type"]:
        a = a.replace("<container>", "CONTAINER")
        assert a in text, a


def test_the_manifest_example_is_valid(tmp_path):
    text = page_text("podd-manifest.5").split(".SH EXAMPLES", 1)[1]
    example = text.split(".nf\n", 1)[1].split(".fi\n", 1)[0]
    f = tmp_path / "example.yaml"
    f.write_text(example)
    r = run(PODCTL, "validate", str(f))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


# ---- rendering ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_renders_without_warnings(name):
    if not shutil.which("groff"):
        pytest.skip("groff is not installed")
    page = str(SRC / "man" / name)
    r = run("groff", "-man", "-ww", "-z", "-Tutf8", page)
    assert (r.returncode, r.stderr) == (0, "")
    if shutil.which("man"):
        env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
        r = run("man", "--warnings", "-l", page, env=env)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        assert "NAME" in r.stdout and "SEE ALSO" in r.stdout
