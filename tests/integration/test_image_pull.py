# SPDX-License-Identifier: Apache-2.0
"""podctl image pull against a real podd and a docker-registry started here on 127.0.0.1: the
pull runs in podctl's child process, its progress shows as plain lines off a terminal, and the
image is recorded in podd's store with its layers unpacked. The registry and images come from
tests/registry/test_registry_pull.py; every process started here is ended by its own pid."""
import json
import os
import pathlib
import shutil
import sys

import pytest

from test_daemon import daemon, podctl  # noqa: F401 (daemon is a fixture)

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
        yield r, manifest
    finally:
        r.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_podctl_image_pull_records_and_unpacks(daemon, registry):
    r, manifest = registry
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
    layers = [images / "layers" / "sha256" / d["digest"][7:] for d in manifest["layers"]]
    assert os.access(layers[0] / "bin" / "busybox", os.X_OK)
    assert (layers[1] / "etc" / "hello").read_text() == "p"
    assert (layers[2] / "data" / "blob").read_text() == "third\n"
    # Pulled again: the same record, nothing to fetch but the manifest.
    p = podctl(daemon, "image", "pull", ref)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "image %s pulled: %s\n" % (ref, digest)


def test_podctl_image_pull_failures(daemon, registry):
    r, _ = registry
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
