# SPDX-License-Identifier: Apache-2.0
"""The API protocol, its limits and its permissions, and podctl's read commands.

A stand-in daemon (tests/api/api-test-server) serves two canned pods through the real
ApiServer: web (Running, 2/2, app restarted twice) and worker (CrashLoopBackOff).
"""
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

BUILD = pathlib.Path(os.environ.get("PODD_BUILDDIR", pathlib.Path(__file__).parents[2]))
PODCTL = str(BUILD / "podctl")
SERVER = str(BUILD / "tests" / "api" / "api-test-server")
MiB = 1024 * 1024


class Server:
    def __init__(self, *args):
        # Not under pytest's tmp_path (mode 0700): unprivileged users must reach the socket.
        self.dir = tempfile.mkdtemp(prefix="podd-api-test-")
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "podd.sock")
        self.proc = subprocess.Popen([SERVER, self.path, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line == "ready\n", self.proc.stderr.read()

    def stop(self):
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        left_behind = os.path.exists(self.path)
        shutil.rmtree(self.dir, ignore_errors=True)
        # A clean exit: in the sanitizer build, no leak and no error report either.
        assert self.proc.returncode == 0, err
        assert "Sanitizer" not in err, err
        assert not left_behind, "the socket was left behind"

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.path)
        return s


@pytest.fixture
def server():
    s = Server()
    yield s
    assert s.proc.poll() is None, "the server died"
    s.stop()


@pytest.fixture
def fast_server():
    """Request timeout of 500 ms, to watch stalled clients being dropped."""
    s = Server("--timeout-ms", "500")
    yield s
    s.stop()


def podctl(*args, env=None, user=None):
    cmd = [PODCTL, *args]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *cmd]
    full_env = {k: v for k, v in os.environ.items() if k not in ("PODD_SOCKET", "NO_COLOR")}
    full_env.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=full_env, cwd="/")


def recv_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def assert_hung_up(s):
    # Closing with unread input makes Linux report ECONNRESET after the queued answer.
    try:
        assert s.recv(1) == b""
    except ConnectionResetError:
        pass


def call(s, request):
    s.sendall((request if isinstance(request, str) else json.dumps(request)).encode() + b"\n")
    line = recv_line(s)
    assert line.endswith(b"\n"), line
    return json.loads(line)


# ---- podctl get / describe ----------------------------------------------------------------


def test_get_pods_table(server):
    r = podctl("--socket", server.path, "get", "pods")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    web = re.split(r"\s{2,}", lines[1])
    worker = re.split(r"\s{2,}", lines[2])
    assert web[:3] == ["web", "2/2", "Running"]
    assert re.fullmatch(r"2 \(5m\d*s? ago\)", web[3]), web
    assert web[4] == "62m"
    assert worker[:3] == ["worker", "0/1", "CrashLoopBackOff"]
    assert re.fullmatch(r"5 \(7\ds ago\)", worker[3]), worker
    assert worker[4] == "2d7h"
    # Columns are aligned: every STATUS starts at the same offset.
    assert len({line.index(word) for line, word in
                zip(lines, ["STATUS", "Running", "CrashLoopBackOff"])}) == 1
    assert "\033[" not in r.stdout  # not a terminal: no colour


def test_get_pods_wide(server):
    r = podctl("--socket", server.path, "get", "pods", "-o", "wide")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "RUNTIME",
                                "SOURCE"]
    assert lines[1].split()[-2:] == ["native", "/etc/podd/manifests/web.yaml"]


def test_socket_from_environment(server):
    r = podctl("get", "pods", env={"PODD_SOCKET": server.path})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("NAME")
    r = podctl(f"--socket={server.path}", "get", "pods", "-o", "name")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "pod/web\npod/worker\n"
    # After the verb too, as kubectl takes its global flags anywhere.
    r = podctl("get", "pods", "-o", "name", "--socket", server.path)
    assert (r.returncode, r.stdout) == (0, "pod/web\npod/worker\n"), r.stderr
    r = podctl("describe", "pod", "web", f"--socket={server.path}")
    assert r.returncode == 0, r.stderr


def test_get_pod_json_is_a_kubernetes_pod(server):
    r = podctl("--socket", server.path, "get", "pod", "web", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("{\n    \"apiVersion\": \"v1\",")
    pod = json.loads(r.stdout)
    assert pod["kind"] == "Pod" and pod["metadata"]["name"] == "web"
    status = pod["status"]
    assert status["phase"] == "Running"
    assert {c["type"] for c in status["conditions"]} >= {"Ready", "Initialized"}
    app = status["containerStatuses"][0]
    assert app["restartCount"] == 2
    assert "running" in app["state"]
    assert app["lastState"]["terminated"]["exitCode"] == 137
    assert status["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


def test_get_pod_yaml_round_trips(server):
    yaml = pytest.importorskip("yaml")
    for args in (["pod", "web"], ["pod", "worker"], ["pods"]):
        j = podctl("--socket", server.path, "get", *args, "-o", "json")
        y = podctl("--socket", server.path, "get", *args, "-o", "yaml")
        assert j.returncode == 0 and y.returncode == 0, y.stderr
        # PyYAML reads YAML 1.1: timestamps, "yes", "8080" would change type if unquoted.
        assert yaml.safe_load(y.stdout) == json.loads(j.stdout)
    # kubectl's layout: sequences sit at their key's indentation.
    assert "\n    initContainers:\n    - name: setup\n      image: busybox:latest\n" in y.stdout
    lst = json.loads(j.stdout)
    assert lst["kind"] == "List" and [p["metadata"]["name"] for p in lst["items"]] == [
        "web", "worker"]


def test_get_pod_name_and_table(server):
    r = podctl("--socket", server.path, "get", "pod", "worker", "-o", "name")
    assert (r.returncode, r.stdout) == (0, "pod/worker\n")
    r = podctl("--socket", server.path, "get", "po", "worker")
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) == 2 and "CrashLoopBackOff" in r.stdout


def test_describe_crashlooping_pod(server):
    r = podctl("--socket", server.path, "describe", "pod", "worker")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"^Name:\s+worker$", out, re.M)
    assert re.search(r"^Namespace:\s+default$", out, re.M)
    assert re.search(r"^Status:\s+CrashLoopBackOff$", out, re.M)
    assert re.search(r"^Containers:\n  job:\n", out, re.M)
    assert re.search(r"^    State:\s+Waiting\n      Reason:\s+CrashLoopBackOff$", out, re.M)
    assert re.search(r"^    Last State:\s+Terminated\n      Reason:\s+Error\n"
                     r"      Exit Code:\s+1$", out, re.M)
    assert re.search(r"^    Ready:\s+False$", out, re.M)
    assert re.search(r"^    Restart Count:\s+5$", out, re.M)
    assert re.search(r"^Conditions:\n  Type\s+Status\n  Initialized\s+True\n  Ready\s+False$",
                     out, re.M)
    assert re.search(r"^Events:\n  Type\s+Reason\s+Age\s+From\s+Message$", out, re.M)
    assert re.search(r"^  Warning\s+BackOff\s+7\ds \(x5 over 62m\)\s+podd\s+Back-off", out, re.M)
    assert ("Manifest Errors:\n  /etc/podd/manifests/worker.yaml:9:7: "
            "spec.containers[0].imagee: unknown field") in out


def test_describe_running_pod(server):
    r = podctl("--socket", server.path, "describe", "pod", "web")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"^Init Containers:\n  setup:\n", out, re.M)
    assert re.search(r"^    State:\s+Terminated\n      Reason:\s+Completed\n"
                     r"      Exit Code:\s+0$", out, re.M)
    assert re.search(r"^    Restart Count:\s+2$", out, re.M)
    assert re.search(r"^      Exit Code:\s+137\n      Signal:\s+9$", out, re.M)
    assert re.search(r"^    Port:\s+8080/TCP$", out, re.M)
    assert "Manifest Errors" not in out


def test_not_running():
    path = "/tmp/podd-api-test-nowhere.sock"
    r = podctl("--socket", path, "get", "pods")
    assert r.returncode == 1
    assert r.stderr == f"podctl: cannot reach podd at {path}: no such file (is podd running?)\n"
    assert r.stdout == ""


def test_stale_socket_is_connection_refused(tmp_path):
    path = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    r = podctl("--socket", str(path), "describe", "pod", "web")
    s.close()
    assert r.returncode == 1
    assert "connection refused (is podd running?)" in r.stderr


def test_not_found(server):
    r = podctl("--socket", server.path, "get", "pod", "nope")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == "podctl: pod 'nope' not found\n"
    r = podctl("--socket", server.path, "describe", "pod", "nope")
    assert r.returncode == 1 and "not found" in r.stderr
    # One missing pod among found ones: the found ones print, the exit code says failure.
    r = podctl("--socket", server.path, "get", "pods", "web", "nope", "-o", "name")
    assert (r.returncode, r.stdout) == (1, "pod/web\n")


@pytest.mark.parametrize("args", [
    ["get"], ["get", "nodes"], ["get", "pods", "-o", "toml"], ["describe", "pod"],
    ["describe", "deployment", "x"], ["get", "pod", "../etc"], ["--socket"],
])
def test_usage_errors(args, server):
    r = podctl("--socket", server.path, *args) if args[0] != "--socket" else podctl(*args)
    assert r.returncode == 2, r
    assert r.stderr


def test_version_shows_both(server):
    r = podctl("--socket", server.path, "version")
    assert r.returncode == 0
    assert re.fullmatch(r"podctl \S+\npodd \S+\n", r.stdout)


# ---- the protocol on a raw socket ---------------------------------------------------------


def test_raw_requests(server):
    with server.connect() as s:
        assert call(s, {"op": "version"})["ok"] is True
        pods = call(s, {"op": "get_pods"})["result"]
        assert [p["metadata"]["name"] for p in pods] == ["web", "worker"]
        assert call(s, {"op": "get_pod", "name": "web"})["result"]["kind"] == "Pod"
        d = call(s, {"op": "describe_pod", "name": "worker"})["result"]
        assert set(d) == {"pod", "events", "errors"}
        ev = call(s, {"op": "events", "name": "worker"})["result"]
        assert {e["pod"] for e in ev} == {"worker"}
        assert len(call(s, {"op": "events"})["result"]) == 4
        nf = call(s, {"op": "get_pod", "name": "nope"})
        assert nf == {"ok": False, "error": {"reason": "NotFound",
                                             "message": "pod 'nope' not found"}}


@pytest.mark.parametrize("line,needle", [
    ("{not json", "malformed JSON"),
    ('{"op":"get_pods","op":"version"}', "duplicate"),
    ('{"op":"reboot"}', "unknown operation 'reboot'"),
    ('{"op":"get_pod","name":"../../etc/shadow"}', "invalid pod name"),
    ('{"op":"get_pod","name":"/etc/shadow"}', "invalid pod name"),
    ('{"op":"get_pod","name":5}', "'name' must be a string"),
    ('{"op":"get_pod"}', "needs a pod 'name'"),
    ("[1,2]", "must be a JSON object"),
])
def test_bad_request_keeps_the_connection(server, line, needle):
    with server.connect() as s:
        resp = call(s, line)
        assert resp["ok"] is False
        assert resp["error"]["reason"] == "BadRequest"
        assert needle in resp["error"]["message"]
        assert call(s, {"op": "version"})["ok"] is True


def test_pipelined_requests_answered_in_order(server):
    with server.connect() as s:
        s.sendall(b'{"op":"get_pod","name":"worker"}\n\n{"op":"nope"}\n{"op":"get_pod",'
                  b'"name":"web"}\n')
        with s.makefile("rb") as f:
            answers = [json.loads(f.readline()) for _ in range(3)]
    assert answers[0]["result"]["metadata"]["name"] == "worker"
    assert answers[1]["error"]["reason"] == "BadRequest"
    assert answers[2]["result"]["metadata"]["name"] == "web"


def test_last_request_without_newline_at_eof(server):
    with server.connect() as s:
        s.sendall(b'{"op":"version"}')
        s.shutdown(socket.SHUT_WR)
        assert json.loads(recv_line(s))["ok"] is True
        assert s.recv(1) == b""


def test_too_large_request(server):
    with server.connect() as s:
        s.sendall(b'{"op":"get_pods","x":"' + b"a" * (4 * MiB) + b'"}\n')
        resp = json.loads(recv_line(s))
        assert resp["error"]["reason"] == "TooLarge"
        assert_hung_up(s)
    with server.connect() as s:  # others are fine
        assert call(s, {"op": "version"})["ok"] is True


def test_request_of_four_mib_is_parsed(server):
    body = b'{"op":"version","pad":"'
    line = body + b"a" * (4 * MiB - len(body) - 2) + b'"}'
    assert len(line) == 4 * MiB
    with server.connect() as s:
        s.sendall(line + b"\n")
        resp = json.loads(recv_line(s))
        # At the limit the size is fine: it is refused for its unknown argument.
        assert resp["error"]["reason"] == "BadRequest"
        assert "unknown argument 'pad'" in resp["error"]["message"]


def test_stalled_client_does_not_delay_others(server):
    # A loop that blocked on the stalled request would answer nobody until the request
    # timeout (10 s) dropped that client; so the others are answered while it is still
    # connected, and it is answered too once it sends the rest. No clock is read.
    with server.connect() as stalled:
        stalled.sendall(b'{"op":"get_po')
        with server.connect() as s:
            for _ in range(21):
                assert call(s, {"op": "get_pods"})["ok"] is True
        # podctl too, as a user runs it.
        r = podctl("--socket", server.path, "get", "pods")
        assert r.returncode == 0
        stalled.sendall(b'ds"}\n')
        assert json.loads(recv_line(stalled))["ok"] is True


def test_stalled_client_is_dropped(fast_server):
    with fast_server.connect() as s:
        s.sendall(b'{"op":"get_po')
        t0 = time.monotonic()
        resp = recv_line(s)
        waited = time.monotonic() - t0
        assert json.loads(resp)["error"]["reason"] == "Timeout"
        assert_hung_up(s)
    assert 0.3 < waited < 3


def test_idle_complete_client_is_kept(fast_server):
    with fast_server.connect() as s:
        assert call(s, {"op": "version"})["ok"] is True
        time.sleep(0.8)
        assert call(s, {"op": "version"})["ok"] is True


def test_client_that_does_not_read_is_bounded_and_dropped(fast_server):
    """Thousands of pipelined requests whose answers are never read: the server stops
    reading them (backpressure), keeps serving others, and drops the client once its
    answers have made no progress for the request timeout."""
    flood = fast_server.connect()
    flood.setblocking(False)
    req = b'{"op":"get_pods"}\n' * 1000
    sent = 0
    try:
        for _ in range(200):
            try:
                sent += flood.send(req)
            except BlockingIOError:
                break
        assert sent > 0
        with fast_server.connect() as s:
            times = []
            for _ in range(5):
                t0 = time.monotonic()
                assert call(s, {"op": "get_pods"})["ok"] is True
                times.append(time.monotonic() - t0)
            assert sorted(times)[2] < 0.1, times
        deadline = time.monotonic() + 5
        while fast_server_has_client(flood) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not fast_server_has_client(flood), "the client that never reads was kept"
    finally:
        flood.close()
    assert fast_server.proc.poll() is None


def fast_server_has_client(s):
    """True while the server keeps its end: our send buffer still accepts data or blocks."""
    try:
        s.send(b" ")
        return True
    except BlockingIOError:
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


def test_colour_only_on_a_terminal(server):
    import pty
    for env, coloured in (({}, True), ({"NO_COLOR": "1"}, False)):
        leader, follower = pty.openpty()
        full_env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        full_env.update(env)
        p = subprocess.run([PODCTL, "--socket", server.path, "get", "pods"], stdout=follower,
                           stderr=subprocess.PIPE, env=full_env, timeout=30)
        os.close(follower)
        out = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.close(leader)
        assert p.returncode == 0
        assert (b"\033[" in out) == coloured, out
        assert b"CrashLoopBackOff" in out


def test_sixty_fifth_client_is_refused_politely(server):
    clients = []
    try:
        for _ in range(64):
            s = server.connect()
            assert call(s, {"op": "version"})["ok"] is True
            clients.append(s)
        with server.connect() as extra:
            resp = json.loads(recv_line(extra))
            assert resp["ok"] is False
            assert resp["error"]["reason"] == "TooManyClients"
            assert "64" in resp["error"]["message"]
            assert_hung_up(extra)
        r = podctl("--socket", server.path, "get", "pods")
        assert r.returncode == 1 and "too many clients" in r.stderr
        clients.pop().close()
        time.sleep(0.05)
        with server.connect() as again:
            assert call(again, {"op": "version"})["ok"] is True
    finally:
        for s in clients:
            s.close()


def test_socket_mode(server):
    st = os.stat(server.path)
    assert oct(st.st_mode & 0o7777) == oct(0o660)


# ---- SO_PEERCRED: root, group members, everyone else --------------------------------------


def _run(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def users():
    if os.geteuid() != 0:
        pytest.skip("needs root to create users and run podctl as them")
    if not shutil.which("useradd") or not shutil.which("setpriv"):
        pytest.skip("needs useradd and setpriv")
    tag = os.getpid()
    group, member, outsider = f"podd-tg-{tag}", f"podd-tm-{tag}", f"podd-tu-{tag}"
    _run("groupadd", "--system", group)
    try:
        _run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             "--groups", group, member)
        _run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             outsider)
        import grp
        yield {"group": group, "gid": grp.getgrnam(group).gr_gid, "member": member,
               "outsider": outsider}
    finally:
        for u in (member, outsider):
            subprocess.run(["userdel", u], capture_output=True)
        subprocess.run(["groupdel", group], capture_output=True)


@pytest.fixture
def group_server(users):
    s = Server("--group", str(users["gid"]))
    yield s
    s.stop()


def test_socket_owned_by_root_and_group(group_server, users):
    st = os.stat(group_server.path)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, users["gid"], 0o660)


def test_group_member_may_read(group_server, users):
    r = podctl("--socket", group_server.path, "get", "pods", user=users["member"])
    assert r.returncode == 0, r.stderr
    assert "CrashLoopBackOff" in r.stdout
    r = podctl("--socket", group_server.path, "describe", "pod", "web", user=users["member"])
    assert r.returncode == 0, r.stderr


def test_primary_group_member_may_read(group_server, users):
    cmd = ["setpriv", f"--reuid={users['outsider']}", f"--regid={users['gid']}",
           "--clear-groups", "--", PODCTL, "--socket", group_server.path, "get", "pods"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd="/")
    assert r.returncode == 0, r.stderr


def test_outsider_cannot_connect(group_server, users):
    r = podctl("--socket", group_server.path, "get", "pods", user=users["outsider"])
    assert r.returncode == 1
    assert r.stderr.startswith(f"podctl: cannot reach podd at {group_server.path}: "
                               "permission denied")


def test_outsider_is_forbidden_even_with_a_wide_socket(group_server, users):
    # If the socket mode were widened by mistake, SO_PEERCRED still says no.
    os.chmod(group_server.path, 0o666)
    r = podctl("--socket", group_server.path, "get", "pods", user=users["outsider"])
    assert r.returncode == 1
    assert "permission denied: uid" in r.stderr
    assert f"member of group '{users['group']}'" in r.stderr
    r = podctl("--socket", group_server.path, "get", "pods", user=users["member"])
    assert r.returncode == 0, r.stderr


def test_group_member_may_not_change_anything(group_server, users):
    import tempfile
    top = tempfile.mkdtemp(prefix="podd-api-")
    os.chmod(top, 0o755)
    manifest = os.path.join(top, "web.yaml")
    with open(manifest, "w") as f:
        f.write("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web2\nspec:\n"
                "  containers:\n  - name: c\n    image: busybox\n")
    os.chmod(manifest, 0o644)
    try:
        _forbidden_writes(group_server, users, manifest)
    finally:
        shutil.rmtree(top)


def _forbidden_writes(group_server, users, manifest):
    for args in (["apply", "-f", manifest], ["delete", "pod", "web"],
                 ["restart", "pod", "web"]):
        r = podctl("--socket", group_server.path, *args, user=users["member"])
        assert r.returncode == 1, (args, r)
        assert "needs root; members of group" in r.stderr and "may only read" in r.stderr, (args, r.stderr)


# A reader who opens connections, sends "{" on each and keeps them, topping up as podd drops or
# refuses them; prints the most it held at once and the refusals it got.
HOLD_CONNECTIONS = r"""
import json, socket, sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
held, most, refusals = [], 0, []
end = time.monotonic() + seconds
while time.monotonic() < end:
    for s in list(held):
        try:
            data = s.recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        held.remove(s)
        s.close()
        if data:
            refusals.append(json.loads(data.split(b"\n")[0])["error"])
    most = max(most, len(held))
    for _ in range(70 - len(held)):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        try:
            s.sendall(b"{")
        except OSError:
            pass
        s.setblocking(False)
        held.append(s)
    time.sleep(0.1)
print(json.dumps({"most": most, "refusals": refusals}))
"""


def as_user(user, *cmd, group=None):
    ids = [f"--reuid={user}", f"--regid={group or user}"]
    ids += ["--clear-groups"] if group else ["--init-groups"]
    return ["setpriv", *ids, "--", *cmd]


@pytest.fixture
def group_fast_server(users):
    """A group socket whose server drops a stalled request after 1 s."""
    s = Server("--group", str(users["gid"]), "--timeout-ms", "1000")
    yield s
    s.stop()


def test_a_reader_holding_every_connection_it_can_does_not_lock_root_out(group_fast_server,
                                                                          users):
    attacker = subprocess.Popen(
        as_user(users["member"], "/usr/bin/python3", "-c", HOLD_CONNECTIONS,
                group_fast_server.path, "6"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
    try:
        time.sleep(1.5)
        for _ in range(12):
            r = podctl("--socket", group_fast_server.path, "get", "pods")
            assert r.returncode == 0, r.stderr
            assert "CrashLoopBackOff" in r.stdout
            time.sleep(0.3)
        out, err = attacker.communicate(timeout=30)
    finally:
        if attacker.poll() is None:
            attacker.kill()
            attacker.wait()
    assert attacker.returncode == 0, err
    seen = json.loads(out)
    # It got its share and no more, and was told why when it asked for more.
    assert seen["most"] == 8, seen
    # Its stalled requests were dropped (Timeout) and it reconnected: refused beyond its share.
    assert {r["reason"] for r in seen["refusals"]} == {"TooManyClients", "Timeout"}, seen
    uid = int(subprocess.run(["id", "-u", users["member"]], capture_output=True, text=True,
                             check=True).stdout)
    refused = [r["message"] for r in seen["refusals"] if r["reason"] == "TooManyClients"]
    assert f"uid {uid} already holds 8 connections" in refused[0], seen
    # Another member of the group still gets through meanwhile.
    r = podctl("--socket", group_fast_server.path, "get", "pods", user=users["member"])
    assert r.returncode == 0, r.stderr


# Connects, sends what argv[2] says, and prints what comes back until the server hangs up.
CONNECT_AND_READ = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
if sys.argv[2]:
    try:
        s.sendall(sys.argv[2].encode())
    except OSError:
        pass
out = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
except ConnectionResetError:
    pass
except socket.timeout:
    out += b"<still open>"
sys.stdout.write(out.decode())
"""


@pytest.mark.parametrize("sent", ["", "{"])
def test_outsider_is_refused_before_its_request_is_read(group_server, users, sent):
    os.chmod(group_server.path, 0o666)  # a socket widened by mistake: SO_PEERCRED still decides
    r = subprocess.run(as_user(users["outsider"], "/usr/bin/python3", "-c", CONNECT_AND_READ,
                               group_server.path, sent),
                       capture_output=True, text=True, timeout=30, cwd="/")
    assert r.returncode == 0, r.stderr
    assert not r.stdout.endswith("<still open>"), r.stdout
    resp = json.loads(r.stdout)
    assert resp["error"]["reason"] == "Forbidden", resp
    assert "permission denied: uid" in resp["error"]["message"]
