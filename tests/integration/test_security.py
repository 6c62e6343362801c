# SPDX-License-Identifier: Apache-2.0
"""What a container may not do or become, checked with real containers under the real podd."""
import json
import os
import shutil
import struct

import pytest

from test_daemon import daemon, podctl, unique, wait_for  # noqa: F401 (daemon is a fixture)

CAP_DAC_OVERRIDE = 1
CAP_NET_ADMIN = 12


def write_pod(daemon, pod, body, extra_spec=""):
    daemon.write(f"{pod}.yaml",
                 f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\nspec:\n"
                 f"  terminationGracePeriodSeconds: 1\n  restartPolicy: Never\n{extra_spec}"
                 f"  containers:\n{body}")


def image_dir(daemon):
    return os.path.join(daemon.state, "images", "busybox", "latest")


def cap_sets(lines):
    """{"CapInh": int, ...} from /proc/self/status lines a container printed."""
    out = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key.startswith("Cap"):
            out[key] = int(value.strip(), 16)
    return out


def run_to_end(daemon, pod, ctr="a", timeout=20):
    wait_for(f"{pod} to finish", lambda: (daemon.pod_state(pod) or {}).get("phase")
             in ("Succeeded", "Failed"), timeout=timeout)
    return daemon.ctr_log(pod, ctr)


@pytest.mark.parametrize("run_as", [None, 1000])
def test_inheritable_and_ambient_capabilities_are_empty_by_default(daemon, run_as):
    pod = unique("capinh")
    daemon.start()
    user = f"      runAsUser: {run_as}\n" if run_as is not None else ""
    write_pod(daemon, pod,
              "  - name: a\n    image: busybox:latest\n"
              "    command: [sh, -c, 'grep ^Cap /proc/self/status']\n"
              f"    securityContext:\n      allowPrivilegeEscalation: true\n{user}")
    caps = cap_sets(run_to_end(daemon, pod))
    assert caps.get("CapInh") == 0, caps
    assert caps.get("CapAmb") == 0, caps
    if run_as is None:
        assert caps["CapEff"] & (1 << CAP_DAC_OVERRIDE)  # the default set is still granted


def test_added_capabilities_are_the_only_inheritable_ones(daemon):
    pod = unique("capadd")
    daemon.start()
    write_pod(daemon, pod,
              "  - name: a\n    image: busybox:latest\n"
              "    command: [sh, -c, 'grep ^Cap /proc/self/status']\n"
              "    securityContext:\n      capabilities:\n        add: [NET_ADMIN]\n")
    caps = cap_sets(run_to_end(daemon, pod))
    assert caps.get("CapInh") == 1 << CAP_NET_ADMIN, caps
    assert caps.get("CapAmb") == 0, caps
    assert caps["CapEff"] & (1 << CAP_NET_ADMIN)


def test_inheritable_file_capabilities_give_a_non_root_user_nothing(daemon):
    """CVE-2022-24769: a program with cap_dac_override+ei must not read a root-only file."""
    root = image_dir(daemon)
    capdir = os.path.join(root, "capbin")
    os.makedirs(capdir)
    # Named as an applet, busybox runs cat; the copy carries the file capability.
    shutil.copy2(os.path.join(root, "bin", "busybox"), os.path.join(capdir, "cat"))
    # struct vfs_cap_data, revision 2: magic | EFFECTIVE, then (permitted, inheritable) x 2.
    xattr = struct.pack("<5I", 0x02000000 | 0x1, 0, 1 << CAP_DAC_OVERRIDE, 0, 0)
    try:
        os.setxattr(os.path.join(capdir, "cat"), "security.capability", xattr)
    except OSError as e:
        pytest.skip(f"cannot set file capabilities here: {e}")
    secret = os.path.join(root, "secret")
    with open(secret, "w") as f:
        f.write("s3cret\n")
    os.chown(secret, 0, 0)
    os.chmod(secret, 0o600)
    pod = unique("filecap")
    daemon.start()
    write_pod(daemon, pod,
              "  - name: a\n    image: busybox:latest\n"
              "    command: [sh, -c, '/capbin/cat /secret; echo rc=$?']\n"
              "    securityContext:\n      runAsUser: 1000\n"
              "      allowPrivilegeEscalation: true\n")
    out = run_to_end(daemon, pod)
    assert "s3cret" not in out, out
    assert "rc=1" in out, out


FORGED = "pod=default/web container=app Exited: exit code 0 (Completed)"


def test_names_from_outside_cannot_forge_log_lines_or_events(daemon):
    daemon.start()
    # A rejected name with a newline and a right-to-left override, in a manifest and in a file name.
    name = json.dumps(f"x\n{FORGED}\u202etxt.exe")
    daemon.write("inject.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n"
                 f"  name: {name}\nspec:\n  containers:\n  - name: app\n"
                 "    image: busybox:latest\n    command: [sh]\n")
    daemon.write(f"evil\n{FORGED.replace('/', '_')}.yaml", "kind: [\n")
    wait_for("both rejections", lambda: daemon.log().count("ManifestInvalid") >= 2
             or daemon.log().count("manifest ") >= 2)
    for line in daemon.log().splitlines():
        assert not line.startswith("pod=default"), daemon.log()
    assert "\u202e" not in daemon.log()
    assert "\\u202e" in daemon.log() and "\\npod=default/web" in daemon.log()
    events = podctl(daemon, "events")
    assert events.returncode == 0, events.stderr
    assert "\u202e" not in events.stdout
    for line in events.stdout.splitlines():
        assert not line.startswith("pod=default"), events.stdout
    assert "\\npod=default/web" in events.stdout


def container_status(daemon, pod):
    r = podctl(daemon, "get", "pod", pod, "-o", "json")
    if r.returncode != 0:
        return None
    st = json.loads(r.stdout)["status"].get("containerStatuses") or [None]
    return st[0]


def waiting_reason(daemon, pod):
    cs = container_status(daemon, pod)
    return ((cs or {}).get("state") or {}).get("waiting", {}).get("reason")


@pytest.mark.parametrize("level", ["pod", "container"])
def test_run_as_non_root_refuses_an_image_that_runs_as_root(daemon, level):
    pod = unique("nonroot")
    daemon.start()
    sc = "      runAsNonRoot: true\n"
    if level == "pod":
        write_pod(daemon, pod, "  - name: a\n    image: busybox:latest\n"
                  "    command: [sh, -c, 'id -u; sleep 3600']\n",
                  extra_spec="  securityContext:\n    runAsNonRoot: true\n")
    else:
        write_pod(daemon, pod, "  - name: a\n    image: busybox:latest\n"
                  "    command: [sh, -c, 'id -u; sleep 3600']\n"
                  f"    securityContext:\n{sc}")
    wait_for("the refusal", lambda: waiting_reason(daemon, pod) == "CreateContainerConfigError"
             or daemon.ctr_pid(pod, "a"))
    assert daemon.ctr_pid(pod, "a") is None
    assert "0" not in daemon.ctr_log(pod, "a")
    waiting = container_status(daemon, pod)["state"]["waiting"]
    assert waiting["message"] == ("container has runAsNonRoot and image will run as root "
                                  f"(pod: \"{pod}_default\", container: a)")
    assert "CreateContainerConfigError" in podctl(daemon, "get", "pods").stdout


def test_run_as_non_root_with_a_root_run_as_user_from_the_container(daemon):
    pod = unique("nonroot0")
    daemon.start()
    write_pod(daemon, pod, "  - name: a\n    image: busybox:latest\n    command: [sleep, '3600']\n"
              "    securityContext:\n      runAsUser: 0\n",
              extra_spec="  securityContext:\n    runAsNonRoot: true\n")
    wait_for("the refusal", lambda: waiting_reason(daemon, pod) == "CreateContainerConfigError")
    assert container_status(daemon, pod)["state"]["waiting"]["message"] == (
        f"container's runAsUser breaks non-root policy (pod: \"{pod}_default\", container: a)")
    assert daemon.ctr_pid(pod, "a") is None


def test_run_as_non_root_with_a_non_root_user_runs(daemon):
    pod = unique("nonroot1k")
    daemon.start()
    write_pod(daemon, pod, "  - name: a\n    image: busybox:latest\n"
              "    command: [sh, -c, 'id -u; sleep 3600']\n"
              "    securityContext:\n      runAsNonRoot: true\n      runAsUser: 1000\n")
    wait_for("the container", lambda: daemon.ctr_pid(pod, "a"))
    wait_for("its output", lambda: daemon.ctr_log(pod, "a") == ["1000"])


@pytest.mark.parametrize("user", ["root", "root:user"])
def test_run_as_non_root_refuses_a_named_user_that_is_root(harness, user):
    c = harness.container("named", ["/bin/sh", "-c", "id -u"], user=user, runAsNonRoot=True)
    r = c.start(check=False)
    assert r.returncode == 1
    want = ("container has runAsNonRoot and image will run as root: user 'root' is uid 0 in the "
            "image's /etc/passwd (pod: \"test_default\", container: named)")
    assert want in r.stderr, r.stderr
    rec = c.wait_exit()
    assert rec["reason"] == "CreateContainerConfigError" and rec["message"] == want


def test_run_as_non_root_lets_a_named_non_root_user_run(harness):
    c = harness.container("named", ["/bin/sh", "-c", "id -u"], user="user", runAsNonRoot=True)
    c.run()
    assert c.stdout() == ["1000"]
