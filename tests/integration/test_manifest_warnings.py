# SPDX-License-Identifier: Apache-2.0
"""What podctl validate warns about a manifest, podd says too when it loads the file."""
from test_daemon import daemon, podctl, unique, wait_for  # noqa: F401 (daemon is a fixture)


def test_ignored_fields_are_warned_about_in_the_log_and_events(daemon):
    pod = unique("ignored")
    daemon.start()
    daemon.write(f"{pod}.yaml",
                 f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\nspec:\n"
                 "  terminationGracePeriodSeconds: 1\n  nodeSelector:\n    disk: ssd\n"
                 "  containers:\n  - name: a\n    image: busybox:latest\n"
                 "    command: [sleep, '3600']\n")
    want = (f"{pod}.yaml:7:3: warning: spec.nodeSelector: ignored: only meaningful in a cluster")
    validate = podctl(daemon, "validate", f"{daemon.manifests}/{pod}.yaml")
    assert want in validate.stdout + validate.stderr
    wait_for("the warning in podd's log", lambda: want in daemon.log())
    events = podctl(daemon, "events", pod)
    assert events.returncode == 0, events.stderr
    line = next(x for x in events.stdout.splitlines() if "ManifestWarning" in x)
    assert "Warning" in line and want in line
    # The pod runs all the same: a warning is no error.
    wait_for("the container", lambda: daemon.ctr_pid(pod, "a"))
