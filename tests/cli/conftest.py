# SPDX-License-Identifier: Apache-2.0
"""What the podctl tests share: the stand-in API server (tests/api/api-test-server)."""
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

BUILD = pathlib.Path(os.environ.get("PODD_BUILDDIR", pathlib.Path(__file__).parents[2]))
SERVER = str(BUILD / "tests" / "api" / "api-test-server")


@pytest.fixture
def server():
    """The socket path of a stand-in podd that answers get_pods and get_pod with fixed pods."""
    tmp = tempfile.mkdtemp(prefix="podd-cli-test-")
    path = os.path.join(tmp, "podd.sock")
    proc = subprocess.Popen([SERVER, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
        yield path
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        shutil.rmtree(tmp, ignore_errors=True)
