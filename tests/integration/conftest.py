# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the runtime tests: a busybox rootfs built on the fly and a
harness that drives podd-monitor directly with JSON container configs.

Everything a test starts is recorded (pids with their start times, pod
directories, cgroups) and torn down by the harness; processes are only ever
killed by their recorded pid after checking the start time, never by name.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

BUSYBOX = "/bin/busybox"
CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_PREFIX = "podd-test-%d" % os.getpid()
# Every (pid, start time) a test recorded, checked once more by the last test.
RECORDED = []


def builddir():
    return os.environ.get("PODD_BUILDDIR") or os.path.abspath(
        os.path.join(os.path.dirname(__file__), "..", ".."))


def monitor_path():
    return os.path.join(builddir(), "podd-monitor")


def skip_reason():
    """Why the runtime tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (namespaces, mounts and cgroups)"
    if not os.path.exists(monitor_path()):
        return "podd-monitor is not built at %s" % monitor_path()
    if not os.path.exists(BUSYBOX):
        return "needs a static busybox at %s (Debian package busybox-static)" % BUSYBOX
    try:
        subprocess.run(["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net",
                        "true"], check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return "namespaces are not available: %s" % e
    return None


def proc_stat_field(pid, n):
    """Field n (as proc(5) counts them, from 1) of /proc/PID/stat as an int; None when
    the process is gone. Fields are split after the ")" that ends the command name."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    return int(data[data.rindex(")") + 2:].split()[n - 3])


def proc_start_time(pid):
    return proc_stat_field(pid, 22)


def read_pid_file(path):
    try:
        with open(path) as f:
            pid, start = f.read().split()
        return int(pid), int(start)
    except (OSError, ValueError):
        return None


# The slots of state.slots, STATE_SLOT_STRIDE bytes apart, and the one-slot files of the podd
# before (src/state/state.h).
STATE_SLOTS_FILE = "state.slots"
STATE_SLOT_STRIDE = 4 * 1024 * 1024 + 4096
STATE_OLD_SLOTS = ("state.a", "state.b", "state.c")
# Every file a pod's state slots can be in.
STATE_SLOTS = (STATE_SLOTS_FILE,) + STATE_OLD_SLOTS


def state_slot_bytes(pod_dir):
    """The bytes of each of a pod's state slots there is (from the start of the slot)."""
    out = []
    try:
        with open(os.path.join(pod_dir, STATE_SLOTS_FILE), "rb") as f:
            for i in range(3):
                f.seek(i * STATE_SLOT_STRIDE)
                head = f.readline(256)
                if not head:
                    break
                parts = head.split(b" ")
                size = int(parts[3]) if len(parts) == 5 and parts[3].isdigit() else 0
                out.append(head + f.read(min(size, STATE_SLOT_STRIDE)))
    except OSError:
        pass
    for name in STATE_OLD_SLOTS:
        try:
            with open(os.path.join(pod_dir, name), "rb") as f:
                out.append(f.read())
        except OSError:
            continue
    return out


def read_pod_state(state_dir, pod):
    """A pod's state as podd last wrote it (src/state/state.h): an older podd's state.json
    when there is one, else the whole slot of the highest generation; None when there is
    none. A newer slot that is torn is being written: read again, a moment later."""
    d = os.path.join(state_dir, "pods", pod)
    best = None
    for _ in range(100):
        try:
            with open(os.path.join(d, "state.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            pass
        except (OSError, ValueError):
            return None
        best, best_gen, torn_gen = None, 0, 0
        for data in state_slot_bytes(d):
            head, _, rest = data.partition(b"\n")
            parts = head.split(b" ")
            if len(parts) != 5 or parts[:2] != [b"podd-state", b"1"]:
                continue
            gen, size = int(parts[2]), int(parts[3])
            text = rest[:size]
            if len(text) != size or hashlib.sha256(text).hexdigest().encode() != parts[4]:
                torn_gen = max(torn_gen, gen)
                continue
            if gen > best_gen:
                try:
                    best, best_gen = json.loads(text), gen
                except ValueError:
                    pass
        if torn_gen < best_gen or not torn_gen:
            return best
        time.sleep(0.002)
    return best


def alive(recorded):
    """True when the recorded (pid, start time) still names a live process."""
    if not recorded:
        return False
    pid, start = recorded
    st = proc_start_time(pid)
    if st is None:
        return False
    if start and st != start:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def kill_recorded(recorded, sig=signal.SIGKILL):
    if alive(recorded):
        try:
            os.kill(recorded[0], sig)
        except ProcessLookupError:
            pass


def mounts_under(path):
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp == path or mp.startswith(path.rstrip("/") + "/"):
                found.append(mp)
    return found


def cgroup_dirs(rel):
    """Existing directories of cgroup rel in every hierarchy."""
    found = []
    for ctl in ("", "memory", "cpu", "pids", "unified"):
        d = os.path.join(CGROUP_ROOT, ctl, rel) if ctl else os.path.join(CGROUP_ROOT, rel)
        if os.path.isdir(d) and (ctl or os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.procs"))):
            found.append(d)
    return found


@pytest.fixture(scope="session")
def rootfs():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    top = tempfile.mkdtemp(prefix="podd-rootfs-")
    root = os.path.join(top, "rootfs")
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "home/user", "root"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(root, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for a in applets:
        if a != "busybox":
            os.symlink("busybox", os.path.join(root, "bin", a))
    with open(os.path.join(root, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n")
    with open(os.path.join(root, "etc", "group"), "w") as f:
        f.write("root:x:0:\nuser:x:1000:\nextra:x:2000:user\n")
    os.chown(os.path.join(root, "home", "user"), 1000, 1000)
    yield root
    shutil.rmtree(top, ignore_errors=True)


class Container:
    def __init__(self, harness, name, config, path):
        self.h = harness
        self.name = name
        self.config = config
        self.path = path
        self.proc = None
        self.env = dict(os.environ)

    @property
    def exit_file(self):
        return self.config["exitFile"]

    @property
    def log_path(self):
        return self.config["logPath"]

    def start(self, check=True):
        self.proc = subprocess.run([monitor_path(), self.path], capture_output=True, text=True,
                                   timeout=30, env=self.env)
        if check and self.proc.returncode != 0:
            raise AssertionError("podd-monitor failed (%d): %s" % (self.proc.returncode,
                                                                  self.proc.stderr))
        return self.proc

    def pid(self):
        return read_pid_file(self.config["pidFile"])

    def monitor_pid(self):
        return read_pid_file(self.config["monitorPidFile"])

    def wait_exit(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(self.exit_file):
                # The monitor exits right after writing it; give it the moment it needs.
                mon = self.monitor_pid()
                end = time.monotonic() + 5
                while alive(mon) and time.monotonic() < end:
                    time.sleep(0.01)
                with open(self.exit_file) as f:
                    return json.load(f)
            time.sleep(0.01)
        raise AssertionError("container %s did not exit within %ss" % (self.name, timeout))

    def run(self, timeout=20):
        """Starts the container, waits for it, returns (exit record, log records)."""
        self.start()
        record = self.wait_exit(timeout)
        return record, self.log()

    def log(self, path=None):
        """Log records as (stream, tag, text) tuples."""
        records = []
        try:
            with open(path or self.log_path) as f:
                for line in f:
                    ts, stream, tag, text = line.rstrip("\n").split(" ", 3) + [""] * (
                        4 - len(line.rstrip("\n").split(" ", 3)))
                    assert ts.endswith("Z") and "T" in ts, line
                    records.append((stream, tag, text))
        except FileNotFoundError:
            pass
        return records

    def stdout(self):
        return [t for s, _, t in self.log() if s == "stdout"]

    def wait_for_log(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in t for _, _, t in self.log()):
                return
            time.sleep(0.01)
        raise AssertionError("'%s' not in the log of %s: %s" % (text, self.name, self.log()))

    def exec(self, *argv, timeout=10):
        return subprocess.run([monitor_path(), "exec", "--config", self.path, "--timeout",
                               str(timeout), "--"] + list(argv), capture_output=True, text=True,
                              timeout=timeout + 10, env=self.env)

    def kill(self, sig=signal.SIGKILL):
        kill_recorded(self.pid(), sig)


class Harness:
    """One test's private run dir, log dir and cgroup prefix."""

    counter = 0

    def __init__(self, rootfs, tmp):
        Harness.counter += 1
        self.rootfs = rootfs
        self.dir = tmp
        self.run_dir = os.path.join(tmp, "run")
        self.log_dir = os.path.join(tmp, "log")
        os.makedirs(self.run_dir)
        os.makedirs(self.log_dir)
        self.cgroup = "%s/t%d" % (CGROUP_PREFIX, Harness.counter)
        self.containers = []
        self.pods = []

    def container(self, name, args, **overrides):
        run = os.path.join(self.run_dir, "containers", name)
        os.makedirs(run, exist_ok=True)
        config = {
            "id": name,
            "pod": "test",
            "name": name,
            "image": "bb:latest",
            "imageDir": self.rootfs,
            "runDir": run,
            "args": list(args),
            "env": ["PATH=/bin"],
            "cgroup": "%s/%s" % (self.cgroup, name),
            "logPath": os.path.join(self.log_dir, name + ".log"),
            "logMaxBytes": 1 << 20,
            "monitorPidFile": os.path.join(run, "monitor.pid"),
            "pidFile": os.path.join(run, "container.pid"),
            "exitFile": os.path.join(run, "exit.json"),
        }
        for k, v in overrides.items():
            if v is None:
                config.pop(k, None)
            else:
                config[k] = v
        path = os.path.join(run, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        c = Container(self, name, config, path)
        self.containers.append(c)
        return c

    def pod(self, name, **extra):
        d = os.path.join(self.run_dir, "pods", name)
        spec = {"name": name, "dir": d, "hostname": name}
        spec.update(extra)
        path = os.path.join(self.dir, "pod-%s.json" % name)
        with open(path, "w") as f:
            json.dump(spec, f)
        self.pods.append(d)
        r = subprocess.run([monitor_path(), "pod-create", path], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        return {"net": d + "/ns/net", "ipc": d + "/ns/ipc", "uts": d + "/ns/uts"}, d

    def destroy_pod(self, d):
        r = subprocess.run([monitor_path(), "pod-destroy", d], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr

    def cleanup(self):
        problems = []
        for c in self.containers:
            RECORDED.extend(p for p in (c.pid(), c.monitor_pid()) if p)
            c.kill()
        for c in self.containers:
            mon = c.monitor_pid()
            deadline = time.monotonic() + 10
            while alive(mon) and time.monotonic() < deadline:
                time.sleep(0.01)
            if alive(mon):
                problems.append("monitor of %s still running" % c.name)
                kill_recorded(mon)
            if alive(c.pid()):
                problems.append("container %s still running" % c.name)
        for d in self.pods:
            if os.path.exists(d):
                r = subprocess.run([monitor_path(), "pod-destroy", d], capture_output=True,
                                   text=True, timeout=30)
                if r.returncode != 0:
                    problems.append("pod-destroy %s: %s" % (d, r.stderr))
        for c in self.containers:
            for d in cgroup_dirs(c.config.get("cgroup") or "/nonexistent"):
                problems.append("cgroup %s left behind" % d)
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        for d in cgroup_dirs(self.cgroup):
            try:
                os.rmdir(d)
            except OSError as e:
                problems.append("cgroup %s: %s" % (d, e))
        left = mounts_under(self.dir)
        if left:
            problems.append("mounts left behind: %s" % left)
            for mp in reversed(left):
                subprocess.run(["umount", "-l", mp], capture_output=True)
        return problems


@pytest.fixture
def harness(rootfs):
    tmp = tempfile.mkdtemp(prefix="podd-rt-")
    h = Harness(rootfs, tmp)
    yield h
    problems = h.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)
    assert not problems, problems


def pytest_sessionfinish(session, exitstatus):
    for d in cgroup_dirs(CGROUP_PREFIX):
        try:
            os.rmdir(d)
        except OSError:
            pass
