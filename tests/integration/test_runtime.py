# SPDX-License-Identifier: Apache-2.0
"""The native runtime and podd-monitor, driven directly with JSON configs
on a busybox rootfs (see conftest.py). Needs root; skips otherwise."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import (CGROUP_PREFIX, RECORDED, alive, cgroup_dirs, monitor_path, mounts_under,
                      read_pid_file)

DEFAULT_CAPS = 0xa80425fb
CAP_CHOWN, CAP_NET_ADMIN, CAP_SYS_ADMIN = 0, 12, 21


def status_field(lines, name):
    for line in lines:
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("%s not in %s" % (name, lines))


def all_caps():
    """Everything this host lets us have (it may withhold some, e.g. CAP_SYS_RESOURCE)."""
    with open("/proc/self/status") as f:
        return int(status_field(f.read().splitlines(), "CapBnd"), 16)


# ---- isolation ------------------------------------------------------------------------------


def test_pid1_and_no_host_process(harness):
    c = harness.container("pid1", ["/bin/sh", "-c", "echo $$; ls /proc | grep -E '^[0-9]+$'"])
    rec, _ = c.run()
    out = c.stdout()
    assert rec["exitCode"] == 0, out
    assert out[0] == "1"
    pids = [int(p) for p in out[1:]]
    # sh, ls and grep at most: no process of the host is visible.
    assert 1 in pids and len(pids) <= 3 and max(pids) < 10, pids


def test_hostname(harness):
    host = socket.gethostname()
    c = harness.container("hn", ["hostname"], hostname="box-1")
    rec, _ = c.run()
    assert rec["exitCode"] == 0
    assert c.stdout() == ["box-1"]
    assert socket.gethostname() == host


def test_pod_shares_net_and_uts_not_pid(harness):
    ns, pod_dir = harness.pod("pod1")
    show = "for n in net uts pid; do readlink /proc/self/ns/$n; done; hostname; " \
           "cat /sys/class/net/lo/flags"
    a = harness.container("a", ["/bin/sh", "-c", show + "; sleep 30"], namespaces=ns)
    b = harness.container("b", ["/bin/sh", "-c", show], namespaces=ns)
    a.start()
    a.wait_for_log("0x")
    rec, _ = b.run()
    assert rec["exitCode"] == 0
    out_a, out_b = a.stdout()[:5], b.stdout()[:5]
    assert out_a[0] == out_b[0] and out_a[0].startswith("net:")  # same network namespace
    assert out_a[1] == out_b[1] and out_a[1].startswith("uts:")  # same UTS namespace
    assert out_a[2] != out_b[2] and out_a[2].startswith("pid:")  # own PID namespaces
    assert out_a[0] != os.readlink("/proc/self/ns/net")
    assert out_a[3] == out_b[3] == "pod1"
    assert int(out_a[4], 16) & 1, "loopback is not up"
    # The pins are nsfs bind mounts under the pod dir until the pod is destroyed.
    assert len(mounts_under(pod_dir)) == 3
    a.kill()
    assert a.wait_exit()["signal"] == 9
    harness.destroy_pod(pod_dir)
    assert mounts_under(pod_dir) == []
    assert not os.path.exists(pod_dir)


def test_pod_shared_pid_namespace(harness):
    ns, pod_dir = harness.pod("sharedpid")
    ns = dict(ns, pid=pod_dir + "/ns/pid")
    a = harness.container("first", ["/bin/sh", "-c", "echo $$; echo up; sleep 30"], namespaces=ns)
    a.start()
    a.wait_for_log("up")
    assert a.stdout()[0] == "1"  # the first container is the namespace's PID 1
    b = harness.container("second", ["/bin/sh", "-c", "ps -o pid,args | grep -c '[s]leep 30'; "
                                     "echo $$"], namespaces=ns)
    rec, _ = b.run()
    assert rec["exitCode"] == 0, b.log()
    assert int(b.stdout()[0]) >= 1 and b.stdout()[1] != "1"
    assert pod_dir + "/ns/pid" in mounts_under(pod_dir)
    # Without its first process the namespace is dead: the next container starts a new one.
    a.kill()
    a.wait_exit()
    c = harness.container("third", ["/bin/sh", "-c", "echo $$"], namespaces=ns)
    rec, _ = c.run()
    assert rec["exitCode"] == 0 and c.stdout() == ["1"], c.log()
    harness.destroy_pod(pod_dir)
    assert mounts_under(pod_dir) == []


def test_host_network(harness):
    c = harness.container("hostnet", ["readlink", "/proc/self/ns/net"], hostname=None)
    rec, _ = c.run()
    assert rec["exitCode"] == 0
    assert c.stdout() == [os.readlink("/proc/self/ns/net")]


def test_host_pid(harness):
    c = harness.container("hostpid", ["/bin/sh", "-c",
                                      "test -d /proc/%d && echo host-visible" % os.getpid()],
                          namespaces={"hostPID": True})
    rec, _ = c.run()
    assert rec["exitCode"] == 0 and c.stdout() == ["host-visible"], c.log()


def test_pod_host_network_and_ipc(harness):
    ns, pod_dir = harness.pod("hostpod", hostNetwork=True, hostIPC=True)
    assert mounts_under(pod_dir) == []  # nothing to pin: the host's namespaces are used
    c = harness.container("hp", ["/bin/sh", "-c", "readlink /proc/self/ns/net; "
                                 "readlink /proc/self/ns/ipc"], hostname=None)
    rec, _ = c.run()
    assert c.stdout() == [os.readlink("/proc/self/ns/net"), os.readlink("/proc/self/ns/ipc")]
    harness.destroy_pod(pod_dir)
    assert not os.path.exists(pod_dir)


def test_proc_and_sys_hardened(harness):
    script = ("cat /proc/keys | wc -c; wc -c < /proc/timer_list; ls /proc/acpi | wc -l; "
              "if [ -e /proc/kcore ]; then wc -c < /proc/kcore; else echo 0; fi; "
              "echo h > /proc/sysrq-trigger && echo sysrq-writable; "
              "touch /sys/x 2>/dev/null && echo sys-writable; "
              "echo 1 > /proc/sys/kernel/domainname && echo procsys-writable; "
              "grep -c ' /proc/kcore \\| /proc/keys ' /proc/self/mountinfo; exit 0")
    c = harness.container("mask", ["/bin/sh", "-c", script])
    rec, _ = c.run()
    assert rec["exitCode"] == 0
    out = c.stdout()
    assert out[:4] == ["0", "0", "0", "0"], out
    assert "sysrq-writable" not in out and "sys-writable" not in out
    assert "procsys-writable" not in out
    # /proc/kcore does not exist on every kernel; /proc/keys is always masked.
    assert int(out[-1]) >= 1


def test_dev_minimal(harness):
    c = harness.container("dev", ["/bin/sh", "-c",
                                  "ls /dev | tr '\\n' ' '; echo; head -c 4 /dev/urandom | wc -c;"
                                  "echo x > /dev/shm/f && cat /dev/shm/f; ls /dev/pts"])
    rec, _ = c.run()
    assert rec["exitCode"] == 0
    out = c.stdout()
    names = set(out[0].split())
    for n in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "ptmx"):
        assert n in names, names
    assert "sda" not in names and "vda" not in names and "mem" not in names
    assert out[1] == "4" and out[2] == "x"


# ---- capabilities, seccomp, user --------------------------------------------------------------


@pytest.mark.parametrize("add,drop,privileged,expected", [
    ([], [], False, DEFAULT_CAPS),
    (["NET_ADMIN"], ["CHOWN"], False, (DEFAULT_CAPS | 1 << CAP_NET_ADMIN) & ~(1 << CAP_CHOWN)),
    ([], ["ALL"], False, 0),
    ([], [], True, None),
])
def test_capabilities(harness, add, drop, privileged, expected):
    c = harness.container("caps", ["cat", "/proc/self/status"], capAdd=add, capDrop=drop,
                          privileged=privileged)
    rec, _ = c.run()
    assert rec["exitCode"] == 0
    out = c.stdout()
    want = all_caps() if expected is None else expected
    assert int(status_field(out, "CapEff"), 16) == want
    assert int(status_field(out, "CapBnd"), 16) == want
    assert status_field(out, "Seccomp") == ("0" if privileged else "2")
    assert status_field(out, "NoNewPrivs") == ("0" if privileged else "1")


def test_seccomp_denies_mount(harness):
    # Even with CAP_SYS_ADMIN the filter answers EPERM ...
    c = harness.container("sc", ["/bin/sh", "-c",
                                 "grep Seccomp: /proc/self/status; mount -t tmpfs none /tmp"],
                          capAdd=["SYS_ADMIN"])
    rec, _ = c.run()
    assert rec["exitCode"] != 0
    log = c.log()
    assert ("stdout", "F", "Seccomp:\t2") in log
    assert any("permission denied" in t.lower() for s, _, t in log if s == "stderr"), log
    # ... and without the filter the same mount works.
    c2 = harness.container("nosc", ["/bin/sh", "-c", "mount -t tmpfs none /tmp && echo mounted"],
                           capAdd=["SYS_ADMIN"], seccomp=False)
    rec, _ = c2.run()
    assert rec["exitCode"] == 0 and c2.stdout() == ["mounted"], c2.log()


def test_no_user_namespace(harness):
    c = harness.container("userns", ["/bin/sh", "-c", "unshare -U true; echo rc=$?"],
                          capAdd=["ALL"])
    rec, _ = c.run()
    assert c.stdout() == ["rc=1"], c.log()


@pytest.mark.parametrize("user,uid,gid,groups", [
    ("1000", 1000, 1000, {1000, 2000}),
    ("user", 1000, 1000, {1000, 2000}),
    ("1000:2000", 1000, 2000, {2000}),
    ("4242", 4242, 0, {0}),
])
def test_run_as_user(harness, user, uid, gid, groups):
    c = harness.container("user", ["/bin/sh", "-c",
                                   "id -u; id -g; id -G; echo $HOME; grep CapEff /proc/self/status"],
                          user=user)
    rec, _ = c.run()
    assert rec["exitCode"] == 0, c.log()
    out = c.stdout()
    assert int(out[0]) == uid and int(out[1]) == gid
    assert {int(g) for g in out[2].split()} >= groups
    assert out[3] == ("/home/user" if uid == 1000 else "/")
    assert int(out[4].split()[1], 16) == 0  # a non-root user keeps no capability


def test_unknown_user(harness):
    c = harness.container("nouser", ["true"], user="nobody-here")
    r = c.start(check=False)
    assert r.returncode == 1
    assert "user nobody-here: not found in the image's /etc/passwd" in r.stderr


def test_rlimits(harness):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    c = harness.container("rl", ["/bin/sh", "-c", "ulimit -n; ulimit -Hn"],
                          rlimits=[{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}])
    rec, _ = c.run()
    assert rec["exitCode"] == 0 and c.stdout() == ["100", "200"], c.log()
    if hard != resource.RLIM_INFINITY:
        # Raising a hard limit needs CAP_SYS_RESOURCE in the host, which this host may lack.
        c2 = harness.container("rl2", ["true"],
                               rlimits=[{"type": "nofile", "soft": hard + 1, "hard": hard + 1}])
        r = c2.start(check=False)
        if r.returncode != 0:
            assert "setrlimit RLIMIT_NOFILE" in r.stderr, r.stderr
        else:
            assert c2.wait_exit()["exitCode"] == 0


# ---- filesystem --------------------------------------------------------------------------------


def test_read_only_rootfs(harness):
    c = harness.container("ro", ["/bin/sh", "-c",
                                 "touch /x 2>&1; echo rc=$?; touch /dev/shm/ok && echo shm-ok"],
                          readOnlyRootfs=True)
    rec, _ = c.run()
    out = c.stdout()
    assert any("Read-only file system" in l for l in out), out
    assert "rc=1" in out and "shm-ok" in out


def test_writable_rootfs_is_copy_on_write(harness):
    c = harness.container("cow", ["/bin/sh", "-c", "echo hi > /etc/new && cat /etc/new"])
    rec, _ = c.run()
    assert rec["exitCode"] == 0 and c.stdout() == ["hi"]
    assert not os.path.exists(os.path.join(harness.rootfs, "etc", "new"))


def test_host_path_volumes(harness):
    data = os.path.join(harness.dir, "data")
    os.makedirs(data)
    with open(os.path.join(data, "in"), "w") as f:
        f.write("from-host\n")
    created = os.path.join(harness.dir, "created", "deep")
    mounts = [
        {"kind": "hostPath", "source": data, "destination": "/data", "hostPathType": "Directory"},
        {"kind": "hostPath", "source": data, "destination": "/ro", "readOnly": True},
        {"kind": "hostPath", "source": created, "destination": "/new",
         "hostPathType": "DirectoryOrCreate"},
        {"kind": "hostPath", "source": data, "destination": "/sub", "subPath": "a/b"},
        {"kind": "hostPath", "source": os.path.join(harness.dir, "file.txt"),
         "destination": "/etc/app.conf", "hostPathType": "FileOrCreate"},
    ]
    c = harness.container("vol", ["/bin/sh", "-c",
                                  "cat /data/in; echo out > /data/out; touch /ro/x 2>&1; "
                                  "echo deep > /new/f; echo s > /sub/f; echo conf > /etc/app.conf; "
                                  "exit 0"], mounts=mounts)
    rec, _ = c.run()
    out = c.stdout()
    assert rec["exitCode"] == 0 and out[0] == "from-host", out
    assert any("Read-only file system" in l for l in out), out
    assert open(os.path.join(data, "out")).read() == "out\n"
    assert open(os.path.join(created, "f")).read() == "deep\n"
    assert open(os.path.join(data, "a", "b", "f")).read() == "s\n"
    assert open(os.path.join(harness.dir, "file.txt")).read() == "conf\n"


@pytest.mark.parametrize("case", ["final", "intermediate", "subpath", "type"])
def test_host_path_refused(harness, case):
    outside = os.path.join(harness.dir, "outside")
    os.makedirs(outside)
    vol = os.path.join(harness.dir, "vol")
    os.makedirs(vol)
    os.symlink(outside, os.path.join(vol, "link"))
    m = {"kind": "hostPath", "destination": "/v"}
    if case == "final":
        m["source"] = os.path.join(vol, "link")
        want = "symbolic link in the path is refused"
    elif case == "intermediate":
        m["source"] = os.path.join(vol, "link", "x")
        os.makedirs(os.path.join(outside, "x"))
        want = "symbolic link in the path is refused"
    elif case == "subpath":
        m["source"] = vol
        m["subPath"] = "link"
        want = "leads outside of the volume"
    else:
        m["source"] = vol
        m["hostPathType"] = "File"
        want = "type File expected, found a directory"
    c = harness.container("refuse", ["true"], mounts=[m])
    r = c.start(check=False)
    assert r.returncode == 1
    assert want in r.stderr, r.stderr
    rec = c.wait_exit()
    assert rec["reason"] == "StartError" and want in rec["message"]


def test_empty_dir_shared_and_tmpfs(harness):
    ns, pod_dir = harness.pod("pod2", volumes=[{"name": "cache", "memory": True,
                                                "sizeLimit": 8 << 20},
                                               {"name": "disk"}])
    cache = pod_dir + "/volumes/cache"
    disk = pod_dir + "/volumes/disk"
    mounts = [{"kind": "emptyDir", "source": cache, "destination": "/cache"},
              {"kind": "emptyDir", "source": disk, "destination": "/disk"}]
    w = harness.container("w", ["/bin/sh", "-c", "echo shared > /cache/f; echo d > /disk/f; "
                                "df -k /cache | tail -1"], namespaces=ns, mounts=mounts)
    rec, _ = w.run()
    assert rec["exitCode"] == 0, w.log()
    assert w.stdout()[0].split()[1] == str(8 << 10)  # tmpfs of sizeLimit
    r = harness.container("r", ["cat", "/cache/f", "/disk/f"], namespaces=ns, mounts=mounts)
    rec, _ = r.run()
    assert r.stdout() == ["shared", "d"]
    assert cache in mounts_under(pod_dir)
    harness.destroy_pod(pod_dir)
    assert mounts_under(pod_dir) == [] and not os.path.exists(pod_dir)


# ---- resources ---------------------------------------------------------------------------------


def test_memory_limit_oom_killed(harness):
    c = harness.container("hog", ["/bin/sh", "-c", "echo start; tail /dev/zero"],
                          memoryLimit=32 << 20)
    rec, _ = c.run(timeout=60)
    assert rec["oomKilled"] is True, rec
    assert rec["reason"] == "OOMKilled"
    assert rec["signal"] == 9 and rec["exitCode"] == 137


def test_pids_limit_stops_fork_bomb(harness):
    # The inner shell forks until the pids controller refuses; the outer one then counts the
    # processes with builtins only (a fork would fail too).
    c = harness.container("bomb", ["/bin/sh", "-c",
                                   "sh -c 'while :; do sleep 30 & done'; set -- /proc/[0-9]*; "
                                   "echo $#; echo done; wait"],
                          pidsLimit=16)
    c.start()
    c.wait_for_log("done", timeout=20)
    n = int(c.stdout()[0])
    assert 8 <= n <= 16, n
    assert any("can't fork" in t or "resource temporarily" in t.lower()
               for s, _, t in c.log() if s == "stderr"), c.log()
    c.kill()
    c.wait_exit()


def test_cgroup_limits_written(harness):
    c = harness.container("lim", ["sleep", "30"], memoryLimit=64 << 20, cpuLimitMillis=500,
                          cpuSharesMillis=250, pidsLimit=20)
    c.start()
    cg = c.config["cgroup"]
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.procs")

    def read(ctl, f):
        base = "/sys/fs/cgroup" if v2 else "/sys/fs/cgroup/" + ctl
        with open(os.path.join(base, cg, f)) as fh:
            return fh.read().strip()
    if v2:
        assert read("", "memory.max") == str(64 << 20)
        assert read("", "cpu.max") == "50000 100000"
        assert read("", "pids.max") == "20"
    else:
        assert read("memory", "memory.limit_in_bytes") == str(64 << 20)
        assert read("cpu", "cpu.cfs_quota_us") == "50000"
        assert read("cpu", "cpu.shares") == "256"
        assert read("pids", "pids.max") == "20"
    pid = c.pid()[0]
    with open("/proc/%d/cgroup" % pid) as f:
        assert cg in f.read()
    c.kill()
    c.wait_exit()
    assert cgroup_dirs(cg) == []


def unified_hierarchy():
    """The cgroup2 mount of a hybrid host, where the v2 code path can run without limits."""
    if os.path.exists("/sys/fs/cgroup/cgroup.procs"):
        return None  # a pure v2 host: every other test already runs the v2 path
    p = "/sys/fs/cgroup/unified"
    r = subprocess.run(["stat", "-f", "-c", "%T", p], capture_output=True, text=True)
    return p if r.stdout.strip() == "cgroup2fs" else None


def test_cgroup_v2_code_path(harness):
    root = unified_hierarchy()
    if not root:
        pytest.skip("no separate cgroup2 hierarchy on this host")
    c = harness.container("v2", ["/bin/sh", "-c", "cat /proc/self/cgroup; echo up; sleep 30"])
    c.env["PODD_CGROUP_ROOT"] = root
    c.start()
    c.wait_for_log("up")
    assert "0::/" in c.stdout()  # its own cgroup namespace
    with open("/proc/%d/cgroup" % c.pid()[0]) as f:
        assert "0::/%s\n" % c.config["cgroup"] in f.read()  # born there (clone3 into cgroup)
    assert os.path.isdir(os.path.join(root, c.config["cgroup"]))
    r = c.exec("/bin/sh", "-c", "cat /proc/self/cgroup; exit 4")
    assert r.returncode == 4 and r.stdout.splitlines()[-1] == "0::/", r
    c.kill()
    rec = c.wait_exit()
    assert rec["signal"] == 9 and rec["reason"] == "Error"
    assert not os.path.exists(os.path.join(root, c.config["cgroup"]))


# ---- exit records ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 1, 42])
def test_exit_code(harness, code):
    c = harness.container("exit", ["/bin/sh", "-c", "exit %d" % code])
    rec, _ = c.run()
    assert rec["exitCode"] == code and rec["signal"] == 0
    assert rec["reason"] == ("Completed" if code == 0 else "Error")
    assert rec["oomKilled"] is False
    assert rec["startedAt"] <= rec["finishedAt"]
    assert cgroup_dirs(c.config["cgroup"]) == []


def test_sigkill_recorded(harness):
    c = harness.container("killed", ["sleep", "30"])
    c.start()
    assert alive(c.pid())
    c.kill(signal.SIGKILL)
    rec = c.wait_exit()
    assert rec["signal"] == 9 and rec["exitCode"] == 137 and rec["reason"] == "Error"


def test_monitor_forwards_sigterm(harness):
    c = harness.container("term", ["/bin/sh", "-c", "trap 'echo got-term; exit 3' TERM; "
                                   "echo ready; while :; do sleep 0.05; done"])
    c.start()
    c.wait_for_log("ready")
    os.kill(c.monitor_pid()[0], signal.SIGTERM)
    rec = c.wait_exit()
    assert rec["exitCode"] == 3 and "got-term" in c.stdout()


def test_pid_files(harness):
    c = harness.container("pids", ["sleep", "30"])
    c.start()
    mon, cpid = c.monitor_pid(), c.pid()
    assert alive(mon) and alive(cpid)
    # The monitor is its own session leader, the container its child.
    with open("/proc/%d/stat" % cpid[0]) as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) == mon[0]
    assert os.getsid(mon[0]) == mon[0]
    c.kill()
    c.wait_exit()
    assert not alive(mon)


# ---- logs --------------------------------------------------------------------------------------


def test_log_order_streams_and_partial(harness):
    script = ("for i in 1 2 3; do echo out$i; sleep 0.03; echo err$i >&2; sleep 0.03; done; "
              "head -c 20000 /dev/zero | tr '\\0' a; echo; printf tail")
    c = harness.container("log", ["/bin/sh", "-c", script])
    rec, log = c.run()
    assert rec["exitCode"] == 0
    assert log[:6] == [("stdout", "F", "out1"), ("stderr", "F", "err1"),
                       ("stdout", "F", "out2"), ("stderr", "F", "err2"),
                       ("stdout", "F", "out3"), ("stderr", "F", "err3")]
    # A 20000-byte line: partial records (P) then the final piece (F).
    long_recs = log[6:-1]
    assert [t for _, t, _ in long_recs][:-1] == ["P"] * (len(long_recs) - 1)
    assert long_recs[-1][1] == "F"
    assert "".join(t for _, _, t in long_recs) == "a" * 20000
    assert log[-1] == ("stdout", "F", "tail")


def test_log_rotation(harness):
    c = harness.container("rot", ["/bin/sh", "-c",
                                  "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done"],
                          logMaxBytes=4000)
    rec, _ = c.run()
    assert rec["exitCode"] == 0
    rotated = c.log_path + ".1"
    assert os.path.exists(rotated)
    assert os.path.getsize(c.log_path) <= 4000 and os.path.getsize(rotated) <= 4000
    old, new = c.log(rotated), c.log()
    texts = [t for _, _, t in old + new]
    # The two files hold the most recent lines, in order, without gaps.
    assert texts == ["line-%d" % i for i in range(200 - len(texts), 200)]


# ---- start errors ------------------------------------------------------------------------------


def test_missing_binary(harness):
    c = harness.container("nobin", ["/bin/app"])
    r = c.start(check=False)
    assert r.returncode == 1
    msg = "exec /bin/app: no such file or directory (image bb:latest)"
    assert msg in r.stderr
    rec = c.wait_exit()
    assert rec["reason"] == "StartError" and rec["message"] == msg
    assert rec["exitCode"] != 0
    assert cgroup_dirs(c.config["cgroup"]) == []
    c2 = harness.container("nobin2", ["app"])
    r = c2.start(check=False)
    assert "exec app: executable file not found in $PATH (image bb:latest)" in r.stderr


def test_missing_rootfs(harness):
    missing = os.path.join(harness.dir, "no-such-image")
    c = harness.container("noroot", ["true"], imageDir=missing)
    r = c.start(check=False)
    assert r.returncode == 1
    msg = "rootfs %s: no such file or directory (image bb:latest)" % missing
    assert msg in r.stderr
    assert c.wait_exit()["message"] == msg


def test_bad_working_dir(harness):
    c = harness.container("wd", ["true"], workingDir="/nope")
    r = c.start(check=False)
    assert "workingDir /nope: no such file or directory" in r.stderr


def test_working_dir_and_env(harness):
    c = harness.container("env", ["/bin/sh", "-c", "pwd; echo $FOO; echo $PATH"],
                          workingDir="/tmp", env=["FOO=bar baz"])
    rec, _ = c.run()
    assert c.stdout() == ["/tmp", "bar baz",
                          "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def test_no_stray_fds(harness):
    c = harness.container("fds", ["ls", "/proc/self/fd"])
    rec, _ = c.run()
    assert sorted(c.stdout()) == ["0", "1", "2", "3"]  # 3: ls's own directory handle


# ---- detaching, exec ----------------------------------------------------------------------------


def test_parent_killed_container_survives(harness):
    c = harness.container("orphan", ["/bin/sh", "-c", "sleep 1; exit 7"])
    parent = subprocess.Popen(["/bin/sh", "-c", '"$0" "$1"; sleep 60', monitor_path(), c.path],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while c.pid() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert c.pid() is not None
    parent.kill()
    parent.wait()
    assert alive(c.pid()) and alive(c.monitor_pid())
    rec = c.wait_exit()
    assert rec["exitCode"] == 7 and rec["reason"] == "Error"


def test_exec_in_container(harness):
    c = harness.container("ex", ["sleep", "30"], hostname="exbox", user="1000")
    c.start()
    r = c.exec("/bin/sh", "-c", "hostname; id -u; ls /proc | grep -cE '^[0-9]+$'; exit 3")
    assert r.returncode == 3, r.stderr
    out = r.stdout.split()
    assert out[0] == "exbox" and out[1] == "1000"
    assert int(out[2]) <= 4  # sleep, sh, ls, grep: the container's PID namespace
    t0 = time.monotonic()
    r = c.exec("sleep", "10", timeout=0.5)
    assert r.returncode == 124 and time.monotonic() - t0 < 5
    r = c.exec("/nope")
    assert r.returncode == 125 and "exec /nope: no such file or directory" in r.stderr
    c.kill()
    c.wait_exit()
    r = c.exec("true")
    assert r.returncode == 125 and "not running" in r.stderr


def test_bad_config(harness, tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"id": "x", "args": []}')
    r = subprocess.run([monitor_path(), str(p)], capture_output=True, text=True)
    assert r.returncode == 1 and "config" in r.stderr


def test_one_monitor_per_container_lock(harness):
    """Whoever holds <runDir>/lock owns the container: a second monitor writes nothing."""
    import fcntl
    c = harness.container("locked", ["sleep", "30"])
    lock = os.open(os.path.join(c.config["runDir"], "lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        r = c.start(check=False)
        assert r.returncode == 1 and "another podd-monitor owns it" in r.stderr, r.stderr
        assert not os.path.exists(c.exit_file) and not os.path.exists(c.config["pidFile"])
    finally:
        os.close(lock)
    c.start()
    # The running monitor (its watcher, after the exec) now holds the lock: no twin.
    twin = subprocess.run([monitor_path(), c.path], capture_output=True, text=True, timeout=30)
    assert twin.returncode == 1 and "another podd-monitor owns it" in twin.stderr
    assert alive(c.pid())
    c.kill()
    rec = c.wait_exit()
    assert rec["signal"] == 9 and rec["exitCode"] == 137, rec
    # Released with the monitor's exit: the next run may take it.
    probe = os.open(os.path.join(c.config["runDir"], "lock"), os.O_RDWR)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(probe)


# ---- must stay last: nothing left behind by the whole file --------------------------------------


def test_zz_nothing_left_behind():
    import glob
    leftovers = []
    for d in cgroup_dirs(CGROUP_PREFIX):
        subs = [e for e in os.listdir(d) if os.path.isdir(os.path.join(d, e))]
        leftovers += [os.path.join(d, s) for s in subs]
    assert leftovers == [], leftovers
    with open("/proc/self/mountinfo") as f:
        ours = [l.split()[4] for l in f if "/podd-rt-" in l or "/podd-rootfs-" in l]
    assert ours == [], ours
    # No monitor or container of ours survives.
    assert RECORDED, "no test recorded a process"
    assert [p for p in RECORDED if alive(p)] == []
    assert glob.glob("/tmp/podd-rt-*") == []
