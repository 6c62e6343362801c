# SPDX-License-Identifier: Apache-2.0
"""registry_pull() against Debian's docker-registry (the CNCF distribution registry) started here
on 127.0.0.1: an open registry over plain HTTP, and one over TLS (a CA made here) behind htpasswd
auth. Images are built from busybox-static as OCI layouts and pushed with skopeo; the pulls go
through tests/registry/registry-pull-tool into a blob store."""
import base64
import crypt  # noqa: the only bcrypt on a Debian 12 base system
import gzip
import fcntl
import hashlib
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SRC = pathlib.Path(os.environ.get("PODD_SRCDIR", pathlib.Path(__file__).parents[2]))
BUILD = pathlib.Path(os.environ.get("PODD_BUILDDIR", pathlib.Path(__file__).parents[2]))
TOOL = BUILD / "tests" / "registry" / "registry-pull-tool"
REGISTRY = shutil.which("docker-registry")
SKOPEO = shutil.which("skopeo")
OPENSSL = shutil.which("openssl")

sys.path.insert(0, str(SRC / "tests" / "image"))
import test_image_load as images  # noqa: E402  (the OCI layout builder)

pytestmark = [
    pytest.mark.skipif(not REGISTRY, reason="needs docker-registry (README's package list)"),
    pytest.mark.skipif(not SKOPEO or not OPENSSL, reason="needs skopeo and openssl"),
    pytest.mark.skipif(not images.BUSYBOX.exists() or images.HOST_ARCH is None,
                       reason="needs busybox-static and a known architecture"),
]

USER, PASSWORD = "podd", "s3cret-pw"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """One docker-registry process with its own config and storage under dir."""

    def __init__(self, dir, tls=None, htpasswd=None, token=None):
        self.dir = pathlib.Path(dir)
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        self.tls = tls
        lines = ["version: 0.1", "log:", "  level: warn", "storage:", "  filesystem:",
                 "    rootdirectory: %s" % (self.dir / "data"), "  delete:", "    enabled: true",
                 "http:", "  addr: %s" % self.host, "  secret: podd-test"]
        if tls:
            lines += ["  tls:", "    certificate: %s" % tls[0], "    key: %s" % tls[1]]
        if htpasswd:
            lines += ["auth:", "  htpasswd:", "    realm: podd-test",
                      "    path: %s" % htpasswd]
        if token:
            lines += ["auth:", "  token:", "    realm: %s" % token.realm,
                      "    service: %s" % TokenServer.SERVICE,
                      "    issuer: %s" % TokenServer.ISSUER,
                      "    rootcertbundle: %s" % token.cert]
        (self.dir / "config.yml").write_text("\n".join(lines) + "\n")
        self.proc = None
        self.start()

    def start(self):
        self.log = open(self.dir / "registry.log", "ab")
        self.proc = subprocess.Popen([REGISTRY, "serve", str(self.dir / "config.yml")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.dir / "registry.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("docker-registry did not listen on %s" % self.host)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # by its own PID
            self.proc.wait(timeout=30)
        self.proc = None
        self.log.close()

    def blob_data(self, digest):
        hexd = digest[7:]
        return (self.dir / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexd[:2]
                / hexd / "data")


def make_ca(dir):
    dir = pathlib.Path(dir)
    dir.mkdir()

    def run(*args):
        subprocess.run([OPENSSL, *args], check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=podd test CA",
        "-keyout", str(dir / "ca.key"), "-out", str(dir / "ca.crt"))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(dir / "server.key"), "-out", str(dir / "server.csr"))
    (dir / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(dir / "server.csr"), "-CA", str(dir / "ca.crt"),
        "-CAkey", str(dir / "ca.key"), "-CAcreateserial", "-days", "2",
        "-extfile", str(dir / "ext.cnf"), "-out", str(dir / "server.crt"))
    return dir


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A token server as distribution's token auth expects one: it checks basic auth and answers
    with a JWT (RS256, signed by openssl with a key whose self-signed certificate is the
    registry's rootcertbundle and travels in the x5c header) granting the scopes asked for."""
    SERVICE, ISSUER = "podd-test-registry", "podd-test-issuer"

    def __init__(self, dir):
        dir = pathlib.Path(dir)
        dir.mkdir()
        self.key, self.cert = dir / "token.key", dir / "token.crt"
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=podd test token issuer", "-keyout", str(self.key),
                        "-out", str(self.cert)], check=True, capture_output=True, timeout=60)
        der = subprocess.run([OPENSSL, "x509", "-in", str(self.cert), "-outform", "DER"],
                             check=True, capture_output=True, timeout=60).stdout
        self.x5c = base64.b64encode(der).decode()
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                query = urllib.parse.parse_qs(url.query)
                auth = self.headers.get("Authorization", "")
                server.requests.append((url.path, query, auth))
                want = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
                if url.path != "/token" or auth != want:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": server.token(query.get("scope", [])),
                                   "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = "http://127.0.0.1:%d/token" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, scopes):
        access = []
        for scope in scopes:
            for one in scope.split(" "):
                kind, name, actions = one.split(":", 2) if one.count(":") >= 2 else ("", "", "")
                if kind == "repository":
                    access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "x5c": [self.x5c]}
        claims = {"iss": self.ISSUER, "sub": USER, "aud": self.SERVICE, "exp": now + 300,
                  "nbf": now - 60, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        signing = (b64url(json.dumps(header).encode()) + "." +
                   b64url(json.dumps(claims).encode())).encode()
        sig = subprocess.run([OPENSSL, "dgst", "-sha256", "-sign", str(self.key)], input=signing,
                             check=True, capture_output=True, timeout=60).stdout
        return signing.decode() + "." + b64url(sig)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Proxy:
    """A TCP relay that passes the registry's answers slowly and records what clients sent."""

    def __init__(self, target_port, rate=512 * 1024):
        self.target_port = target_port
        self.rate = rate
        self.sent = bytearray()
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.host = "127.0.0.1:%d" % self.port
        self.closed = False
        self.conns = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                u = socket.socket()
                # Small buffers: what the registry sent is what the client got, nearly.
                u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
                u.connect(("127.0.0.1", self.target_port))
            except OSError:
                u.close()
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            threading.Thread(target=self.pump, args=(c, u, False), daemon=True).start()
            threading.Thread(target=self.pump, args=(u, c, True), daemon=True).start()

    def pump(self, src, dst, slow):
        try:
            while True:
                data = src.recv(16384)
                if not data:
                    break
                if not slow:
                    with self.lock:
                        self.sent += data
                dst.sendall(data)
                if slow:
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def cut(self):
        """Breaks every relayed connection, as the death of the registry's host would."""
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.closed = True
        self.cut()
        self.sock.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    ca = make_ca(root / "ca")
    hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))  # cheap: tests only
    (root / "htpasswd").write_text("%s:%s\n" % (USER, hashed.replace("$2b$", "$2y$", 1)))
    regs = []
    tokens = None
    try:
        tokens = TokenServer(root / "tokens")
        open_reg = Registry(root / "open")
        regs.append(open_reg)
        auth_reg = Registry(root / "auth", tls=(ca / "server.crt", ca / "server.key"),
                            htpasswd=root / "htpasswd")
        regs.append(auth_reg)
        token_reg = Registry(root / "token", token=tokens)
        regs.append(token_reg)
        certs = root / "certs"
        certs.mkdir()
        shutil.copy(ca / "ca.crt", certs / "ca.crt")
        yield dict(root=root, open=open_reg, auth=auth_reg, token=token_reg, tokens=tokens, ca=ca,
                   certs=certs)
    finally:
        for r in regs:
            r.stop()
        if tokens:
            tokens.close()
        shutil.rmtree(root, ignore_errors=True)


def build_layout(path, extra_layer=None, tag="x"):
    """The two-layer busybox image of test_image_load (a whiteout in the second), plus a third."""
    layout = images.Layout(path)
    manifest, config = layout.image(tag=tag)
    if extra_layer is not None:
        t = images.tar_bytes([("data", None), ("data/blob", extra_layer)])
        # gzip, as skopeo would otherwise compress it on the way (and change its digest)
        manifest["layers"].append(layout.descriptor(images.LAYER_GZ, gzip.compress(t, mtime=0)))
        config["rootfs"]["diff_ids"].append(images.sha(t))
        manifest["config"] = layout.descriptor(images.OCI_CONFIG, config)
    layout.index([layout.manifest_descriptor(manifest, annotations=images.ref(tag))])
    return layout, manifest


def push(layout, tag, dest, env=None, fmt=None, creds=None, all_=False):
    args = [SKOPEO, "--insecure-policy", "copy"]
    if all_:
        args.append("--all")
    if fmt:
        args += ["--format", fmt]
    if creds:
        args += ["--dest-creds", creds]
    if env is not None:
        args += ["--dest-cert-dir", str(env["certs"])]
    else:
        args.append("--dest-tls-verify=false")
    args += ["oci:%s:%s" % (layout.path, tag), "docker://" + dest]
    subprocess.run(args, check=True, capture_output=True, timeout=120)


def pull(store, ref, registries=None, credentials=None, ok=True, child=False):
    args = [str(TOOL)] + (["--child"] if child else []) + [str(store), ref]
    if registries or credentials:
        args.append(str(registries) if registries else "/nonexistent")
    if credentials:
        args.append(str(credentials))
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if ok:
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout), p.stderr
    assert p.returncode == 1, (p.stdout, p.stderr)
    return p.stderr.strip().splitlines()[-1]


def registry_digest(host, repo, tag):
    """The manifest digest the registry reports (skopeo inspect)."""
    p = subprocess.run([SKOPEO, "inspect", "--tls-verify=false", "--raw",
                        "docker://%s/%s:%s" % (host, repo, tag)],
                       check=True, capture_output=True, timeout=60)
    return "sha256:" + hashlib.sha256(p.stdout).hexdigest()


def assert_store(store, digests):
    blobs = pathlib.Path(store) / "blobs" / "sha256"
    for d in digests:
        data = (blobs / d[7:]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == d[7:]
    for p in blobs.iterdir():
        assert not p.name.startswith("."), "temporary file left: " + p.name
    partial = pathlib.Path(store) / "blobs" / ".partial"
    assert not partial.exists() or not list(partial.iterdir())


def test_pull_oci_image_by_tag_and_digest(env, tmp_path):
    layout, manifest = build_layout(tmp_path / "layout", extra_layer=b"third\n")
    reg = env["open"].host
    push(layout, "x", reg + "/open/busybox:1")
    store = tmp_path / "store"
    img, progress = pull(store, reg + "/open/busybox:1")
    want = registry_digest(reg, "open/busybox", "1")
    assert img["manifest"] == want
    assert img["name"] == reg + "/open/busybox:1"
    assert img["mediaType"] == images.OCI_MANIFEST
    assert img["layers"] == [d["digest"] for d in manifest["layers"]]
    assert img["Cmd"] == "cat /etc/hello"
    assert_store(store, [want, img["config"], *img["layers"]])
    last = progress.strip().splitlines()[-1].split()
    assert last[0] == "progress" and last[1] == last[2] and last[3] == last[4] == "4"
    # By digest: the same manifest, nothing fetched again but the manifest.
    img2, _ = pull(store, "%s/open/busybox@%s" % (reg, want))
    assert img2["manifest"] == want


def test_docker_schema2_and_manifest_list_pick_the_host(env, tmp_path):
    reg = env["open"].host
    layout = images.Layout(tmp_path / "layout")
    host_m, _ = layout.image(tag="host")
    other_m, _ = layout.image(arch=images.OTHER_ARCH, tag="other")
    descs = [layout.manifest_descriptor(other_m,
                                        platform={"os": "linux",
                                                  "architecture": images.OTHER_ARCH}),
             layout.manifest_descriptor(host_m,
                                        platform={"os": "linux", "architecture": images.HOST_ARCH})]
    index = {"schemaVersion": 2, "mediaType": images.OCI_INDEX, "manifests": descs}
    layout.index([layout.descriptor(images.OCI_INDEX, index, annotations=images.ref("multi"))])
    push(layout, "multi", reg + "/open/multi:1", all_=True, fmt="v2s2")
    store = tmp_path / "store"
    img, _ = pull(store, reg + "/open/multi:1")
    assert img["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert img["Cmd"] == "cat /etc/hello"
    list_digest = registry_digest(reg, "open/multi", "1")
    assert (store / "blobs" / "sha256" / list_digest[7:]).exists()
    assert img["manifest"] != list_digest


def test_missing_image_and_registry(env, tmp_path):
    reg = env["open"].host
    err = pull(tmp_path / "store", reg + "/open/nothing:1", ok=False)
    assert "error -2:" in err and "not found" in err and "open/nothing:1" in err
    port = free_port()
    err = pull(tmp_path / "store", "127.0.0.1:%d/open/busybox:1" % port, ok=False)
    assert "127.0.0.1:%d" % port in err and ("error -113:" in err or "error -5:" in err)


def test_mirror_serves_an_unreachable_registry(env, tmp_path):
    layout, _ = build_layout(tmp_path / "layout", tag="m")
    reg = env["open"].host
    push(layout, "m", reg + "/team/app:2")
    conf = tmp_path / "registries.json"
    conf.write_text(json.dumps({"registries": {"registry.invalid:5000": {"mirrors": [reg]}}}))
    img, _ = pull(tmp_path / "store", "registry.invalid:5000/team/app:2", registries=conf)
    assert img["name"] == "registry.invalid:5000/team/app:2"
    assert img["manifest"] == registry_digest(reg, "team/app", "2")


def test_tls_registry_with_basic_auth(env, tmp_path):
    layout, _ = build_layout(tmp_path / "layout", tag="s")
    reg = env["auth"].host
    push(layout, "s", reg + "/private/app:1", env=env, creds="%s:%s" % (USER, PASSWORD))
    store = tmp_path / "store"
    conf = tmp_path / "registries.json"
    conf.write_text(json.dumps({"registries": {reg: {"caFile": str(env["ca"] / "ca.crt")}}}))
    creds = tmp_path / "auth.json"
    auth = base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
    creds.write_text(json.dumps({"auths": {"https://%s/v1/" % reg: {"auth": auth}}}))
    # Without the CA the certificate is not trusted.
    err = pull(store, reg + "/private/app:1", credentials=creds, ok=False)
    assert "certificate" in err.lower(), err
    # With the CA but no credentials the registry refuses.
    err = pull(store, reg + "/private/app:1", registries=conf, ok=False)
    assert "error -13:" in err and "credentials file has none" in err, err
    # A wrong password is refused too.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"auths": {reg: {"username": USER, "password": "wrong"}}}))
    err = pull(store, reg + "/private/app:1", registries=conf, credentials=bad, ok=False)
    assert "error -13:" in err and "refused" in err, err
    img, _ = pull(store, reg + "/private/app:1", registries=conf, credentials=creds)
    assert img["Cmd"] == "cat /etc/hello"
    assert_store(store, [img["manifest"], img["config"], *img["layers"]])
    # The same from a child process, which reads both files itself, into a new store.
    img2, _ = pull(tmp_path / "store2", reg + "/private/app:1", registries=conf,
                   credentials=creds, child=True)
    assert img2 == img
    err = pull(tmp_path / "store2", reg + "/private/app:1", registries=conf, child=True, ok=False)
    assert "error -13:" in err and "credentials file has none" in err, err


def test_registry_behind_token_auth(env, tmp_path):
    layout, _ = build_layout(tmp_path / "layout", tag="t")
    reg = env["token"].host
    push(layout, "t", reg + "/team/tok:1", creds="%s:%s" % (USER, PASSWORD))
    store = tmp_path / "store"
    # Anonymous: the token server refuses.
    err = pull(store, reg + "/team/tok:1", ok=False)
    assert "error -13:" in err and "refused an anonymous pull" in err, err
    creds = tmp_path / "auth.json"
    creds.write_text(json.dumps({"auths": {reg: {"username": USER, "password": PASSWORD}}}))
    del env["tokens"].requests[:]
    img, _ = pull(store, reg + "/team/tok:1", credentials=creds)
    assert img["Cmd"] == "cat /etc/hello"
    assert_store(store, [img["manifest"], img["config"], *img["layers"]])
    # One token, asked for with the challenge's service and scope.
    assert len(env["tokens"].requests) == 1, env["tokens"].requests
    _, query, _ = env["tokens"].requests[0]
    assert query["service"] == [TokenServer.SERVICE]
    assert query["scope"] == ["repository:team/tok:pull"]


def test_interrupted_pull_resumes(env, tmp_path):
    big = os.urandom(3 * 1024 * 1024)
    layout, manifest = build_layout(tmp_path / "layout", extra_layer=big, tag="big")
    reg = env["open"]
    push(layout, "big", reg.host + "/open/big:1")
    big_digest = manifest["layers"][-1]["digest"]
    proxy = Proxy(reg.port)
    store = tmp_path / "store"
    partial = store / "blobs" / ".partial" / big_digest[7:]
    try:
        p = subprocess.Popen([str(TOOL), str(store), proxy.host + "/open/big:1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not (partial.exists() and partial.stat().st_size > 256 * 1024):
            assert p.poll() is None, p.communicate()
            assert time.monotonic() < deadline, "the big layer never started"
            time.sleep(0.02)
        reg.stop()  # the registry dies in the middle of the layer,
        proxy.cut()  # and with it the connections (the relay would drain its buffers)
        out, err = p.communicate(timeout=120)
        assert p.returncode == 1, (out, err)
        # The first transfer to break is named (layers download concurrently: any of them).
        assert "error -5:" in err and " blob sha256:" in err, err
        kept = partial.stat().st_size
        assert 0 < kept < manifest["layers"][-1]["size"]
        reg.start()
        proxy.rate = 1 << 30  # the rest at full speed
        with proxy.lock:
            proxy.sent.clear()
        img, _ = pull(store, proxy.host + "/open/big:1")
        with proxy.lock:
            sent = proxy.sent.decode(errors="replace")
        assert "range: bytes=%d-" % kept in sent.lower(), sent
        assert img["layers"][-1] == big_digest
        assert_store(store, [img["manifest"], img["config"], *img["layers"]])
    finally:
        proxy.close()
        if reg.proc is None:
            reg.start()


def pull_while_another_writes(store, ref, digest, prefix, meanwhile, wait):
    """Pulls ref into store while "another pull" (this test) holds the flock of the layer's
    partial file, which holds prefix; after wait seconds the pull must still be waiting, with
    the file as it was; meanwhile() then plays the other pull's part and lets go. Returns the
    pull's image record."""
    partial = store / "blobs" / ".partial" / digest[7:]
    partial.parent.mkdir(parents=True)
    partial.write_bytes(prefix)
    with open(partial, "rb") as other:
        fcntl.flock(other, fcntl.LOCK_EX)  # as the other pull holds it while it writes
        p = subprocess.Popen([str(TOOL), str(store), ref],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(wait)
            assert p.poll() is None, p.communicate()
            assert partial.read_bytes() == prefix  # not a byte of its own added
            meanwhile(partial)
        except BaseException:
            p.kill()
            p.wait()
            raise
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    return json.loads(out)


def test_a_blob_another_pull_writes_is_left_to_it_then_resumed(env, tmp_path):
    """Two pulls of images sharing a layer (podd's and podctl's, say): one writes the layer's
    partial file, the other waits for it instead of appending its own bytes to it, then
    resumes from where the first left it."""
    big = os.urandom(1024 * 1024)
    layout, manifest = build_layout(tmp_path / "layout", extra_layer=big, tag="shared")
    reg = env["open"]
    ref = reg.host + "/open/shared:1"
    push(layout, "shared", ref)
    digest = manifest["layers"][-1]["digest"]
    blob = reg.blob_data(digest).read_bytes()
    half = len(blob) // 2

    def write_on(partial):  # the other pull gets a little further, then stops
        with open(partial, "ab") as f:
            f.write(blob[half:half + 4096])

    store = tmp_path / "store"
    img = pull_while_another_writes(store, ref, digest, blob[:half], write_on, 1.5)
    assert img["layers"][-1] == digest
    assert_store(store, [img["manifest"], img["config"], *img["layers"]])

    # The other pull stored the layer while this one waited: nothing is fetched twice.
    def store_it(partial):
        blobs = partial.parent.parent / "sha256"
        blobs.mkdir(exist_ok=True)
        (blobs / digest[7:]).write_bytes(blob)
        partial.unlink()

    store2 = tmp_path / "store2"
    img = pull_while_another_writes(store2, ref, digest, blob[:half], store_it, 1)
    assert_store(store2, [img["manifest"], *img["layers"]])

def test_corrupt_blob_is_refused(env, tmp_path):
    layout, manifest = build_layout(tmp_path / "layout", extra_layer=b"x" * 4096, tag="c")
    reg = env["open"]
    push(layout, "c", reg.host + "/open/corrupt:1")
    victim = manifest["layers"][-1]["digest"]
    data = reg.blob_data(victim)
    blob = bytearray(data.read_bytes())
    blob[len(blob) // 2] ^= 0xff
    data.write_bytes(bytes(blob))
    store = tmp_path / "store"
    err = pull(store, reg.host + "/open/corrupt:1", ok=False)
    assert "error -74:" in err and victim in err and "corrupt" in err, err
    assert not (store / "blobs" / "sha256" / victim[7:]).exists()
    assert not (store / "blobs" / ".partial" / victim[7:]).exists()


def test_child_pull_reports_progress_and_can_be_killed(env, tmp_path):
    big = os.urandom(2 * 1024 * 1024)
    layout, manifest = build_layout(tmp_path / "layout", extra_layer=big, tag="kid")
    reg = env["open"]
    push(layout, "kid", reg.host + "/open/kid:1")
    big_digest = manifest["layers"][-1]["digest"]
    total = sum(d["size"] for d in manifest["layers"]) + manifest["config"]["size"]
    proxy = Proxy(reg.port)
    store = tmp_path / "store"
    partial = store / "blobs" / ".partial" / big_digest[7:]
    try:
        p = subprocess.Popen([str(TOOL), "--child", str(store), proxy.host + "/open/kid:1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = p.stderr.readline().split()
        assert first[0] == "pid", first
        child = int(first[1])
        deadline = time.monotonic() + 60
        while not (partial.exists() and partial.stat().st_size > 128 * 1024):
            assert p.poll() is None, p.communicate()
            assert time.monotonic() < deadline, "the big layer never started"
            time.sleep(0.02)
        os.kill(child, signal.SIGKILL)  # the pull's own process, by its pid
        out, err = p.communicate(timeout=60)
        assert p.returncode == 1, (out, err)
        assert "the pull process died (signal 9) without a result" in err, err
        progress = [line.split() for line in err.splitlines() if line.startswith("progress")]
        assert progress and all(int(x[2]) == total for x in progress[1:])
        kept = partial.stat().st_size
        assert kept > 0
        # The next pull in a child resumes the layer and finishes.
        proxy.rate = 1 << 30
        with proxy.lock:
            proxy.sent.clear()
        img, err = pull(store, proxy.host + "/open/kid:1", child=True)
        with proxy.lock:
            assert "range: bytes=%d-" % kept in proxy.sent.decode(errors="replace").lower()
        done = [line.split() for line in err.splitlines() if line.startswith("progress")]
        assert done[-1][1:] == [str(total), str(total), "4", "4"]
        assert_store(store, [img["manifest"], img["config"], *img["layers"]])
    finally:
        proxy.close()


def test_child_pull_error(env, tmp_path):
    err = pull(tmp_path / "store", env["open"].host + "/open/nothing:2", child=True, ok=False)
    assert "error -2:" in err and "not found (HTTP 404)" in err, err
    bad = tmp_path / "registries.json"
    bad.write_text('{"registries": {"r.example": {"insecure": "yes"}}}')
    err = pull(tmp_path / "store", env["open"].host + "/open/nothing:2", registries=bad,
               child=True, ok=False)
    assert "error -22:" in err and "registries.r.example.insecure: not a boolean" in err, err
