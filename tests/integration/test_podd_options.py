# SPDX-License-Identifier: Apache-2.0
"""podd's command line: what podd(8) promises about options, paths and exit codes."""
import os
import subprocess

from conftest import builddir


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
