# SPDX-License-Identifier: Apache-2.0
"""image_load(): OCI image layouts and oci-archives built here from busybox-static, loaded into a
blob store through tests/image/image-load-tool, with the refusals a hostile or broken layout
gets."""
import gzip
import hashlib
import io
import json
import os
import pathlib
import platform
import shutil
import subprocess
import tarfile

import pytest

BUILD = pathlib.Path(os.environ.get("PODD_BUILDDIR", pathlib.Path(__file__).parents[2]))
TOOL = BUILD / "tests" / "image" / "image-load-tool"
BUSYBOX = pathlib.Path("/bin/busybox")
GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
          "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
HOST_ARCH = GOARCH.get(platform.machine())
OTHER_ARCH = "s390x" if HOST_ARCH != "s390x" else "amd64"

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"

pytestmark = pytest.mark.skipif(not BUSYBOX.exists() or HOST_ARCH is None,
                                reason="needs busybox-static and a known architecture")


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_bytes(entries):
    """entries: (name, bytes or None for a directory, or ("symlink", target))."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            elif isinstance(data, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, data[1]
                t.addfile(info)
            else:
                info.size, info.mode = len(data), 0o755
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Layout:
    """An OCI image layout directory, written blob by blob."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        (self.path / "blobs" / "sha256").mkdir(parents=True)
        (self.path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def blob(self, data):
        if isinstance(data, (dict, list)):
            data = json.dumps(data).encode()
        d = sha(data)
        (self.path / "blobs" / "sha256" / d[7:]).write_bytes(data)
        return d, len(data)

    def blob_path(self, digest):
        return self.path / "blobs" / "sha256" / digest[7:]

    def descriptor(self, media_type, data, **extra):
        d, n = self.blob(data)
        return dict(mediaType=media_type, digest=d, size=n, **extra)

    def image(self, arch=HOST_ARCH, tag="x", layer_type=LAYER_GZ):
        """A two-layer busybox image; returns (manifest descriptor, config dict)."""
        base = tar_bytes([("bin", None), ("bin/busybox", BUSYBOX.read_bytes()),
                          ("bin/sh", ("symlink", "busybox")), ("etc", None),
                          ("etc/motd", b"base\n")])
        top = tar_bytes([("etc", None), ("etc/.wh.motd", b""), ("etc/hello", tag.encode())])
        layers, diff_ids = [], []
        for t in (base, top):
            diff_ids.append(sha(t))
            blob = gzip.compress(t, mtime=0) if layer_type == LAYER_GZ else t
            layers.append(self.descriptor(layer_type, blob))
        config = {"architecture": arch, "os": "linux",
                  "config": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["cat /etc/hello"],
                             "Env": ["PATH=/bin", "GREETING=hi " + tag], "WorkingDir": "/etc",
                             "User": "1000:1000"},
                  "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": self.descriptor(OCI_CONFIG, config), "layers": layers}
        return manifest, config

    def manifest_descriptor(self, manifest, **extra):
        return self.descriptor(OCI_MANIFEST, manifest, **extra)

    def index(self, descriptors):
        (self.path / "index.json").write_text(json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}))


def ref(name):
    return {"org.opencontainers.image.ref.name": name}


def load(store, source, ok=True):
    p = subprocess.run([str(TOOL), str(store), str(source)], capture_output=True, text=True,
                       timeout=60)
    if ok:
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)
    assert p.returncode == 1, (p.stdout, p.stderr)
    return p.stderr.strip()


def store_files(store):
    """Every file under the store, relative names."""
    return sorted(str(p.relative_to(store)) for p in pathlib.Path(store).rglob("*")
                  if not p.is_dir())


def assert_store_verified(store):
    blobs = pathlib.Path(store) / "blobs" / "sha256"
    for p in blobs.iterdir():
        assert not p.name.startswith("."), "temporary file left: " + p.name
        assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name


@pytest.fixture
def layout(tmp_path):
    return Layout(tmp_path / "layout")


@pytest.fixture
def store(tmp_path):
    return tmp_path / "images"


def test_two_layer_image(layout, store):
    manifest, config = layout.image(tag="one")
    md = layout.manifest_descriptor(manifest, annotations=ref("example.com/busybox:1.36"))
    layout.index([md])
    images = load(store, layout.path)
    assert len(images) == 1
    img = images[0]
    assert img["name"] == "example.com/busybox:1.36"
    assert img["manifest"] == md["digest"]
    assert img["config"] == manifest["config"]["digest"]
    assert [x["digest"] for x in img["layers"]] == [x["digest"] for x in manifest["layers"]]
    assert img["image"]["Entrypoint"] == ["/bin/sh", "-c"]
    assert img["image"]["Cmd"] == ["cat /etc/hello"]
    assert img["image"]["Env"] == ["PATH=/bin", "GREETING=hi one"]
    assert img["image"]["WorkingDir"] == "/etc"
    assert img["image"]["User"] == "1000:1000"
    assert img["image"]["diff_ids"] == config["rootfs"]["diff_ids"]
    assert img["image"]["architecture"] == HOST_ARCH
    # Every blob is in the store, under its own digest, and nothing else is.
    want = {md["digest"], manifest["config"]["digest"]} | {x["digest"] for x in manifest["layers"]}
    assert set(store_files(store)) == {"blobs/sha256/" + d[7:] for d in want}
    assert_store_verified(store)
    # Loading again is idempotent.
    assert load(store, layout.path) == images


def test_index_of_two_platforms_picks_the_host(layout, store):
    host, _ = layout.image(tag="host", layer_type=LAYER_TAR)
    other, _ = layout.image(arch=OTHER_ARCH, tag="other")
    hd = layout.manifest_descriptor(host, platform={"os": "linux", "architecture": HOST_ARCH})
    od = layout.manifest_descriptor(other, platform={"os": "linux", "architecture": OTHER_ARCH})
    nested = layout.descriptor(OCI_INDEX, {"schemaVersion": 2, "mediaType": OCI_INDEX,
                                           "manifests": [od, hd]},
                               annotations=ref("multi:1"))
    layout.index([nested])
    images = load(store, layout.path)
    assert [(i["name"], i["manifest"]) for i in images] == [("multi:1", hd["digest"])]
    assert images[0]["layers"][0]["mediaType"] == LAYER_TAR
    files = store_files(store)
    assert "blobs/sha256/" + od["digest"][7:] not in files
    assert "blobs/sha256/" + nested["digest"][7:] in files

    # The same two images listed directly in index.json: the other platform is skipped.
    layout.index([od, dict(hd, annotations=ref("direct"))])
    images = load(store, layout.path)
    assert [(i["name"], i["manifest"]) for i in images] == [("direct", hd["digest"])]

    # Only the other platform: nothing to load, and the error says for which platform.
    layout.index([od])
    err = load(store, layout.path, ok=False)
    assert "no image for linux/" + HOST_ARCH in err


def test_config_for_another_architecture_is_refused(layout, store):
    manifest, _ = layout.image(arch=OTHER_ARCH)
    layout.index([layout.manifest_descriptor(manifest)])
    err = load(store, layout.path, ok=False)
    assert "image is for linux/" + OTHER_ARCH in err


def test_corrupt_layer_is_refused_and_not_stored(layout, store):
    manifest, _ = layout.image()
    layout.index([layout.manifest_descriptor(manifest)])
    bad = manifest["layers"][1]["digest"]
    p = layout.blob_path(bad)
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    err = load(store, layout.path, ok=False)
    assert bad in err and "content has digest" in err and "layers[1]" in err
    assert "blobs/sha256/" + bad[7:] not in store_files(store)
    assert_store_verified(store)


def test_truncated_and_overlong_blobs_are_refused(layout, store):
    manifest, config = layout.image()
    md = layout.manifest_descriptor(manifest)
    layout.index([md])
    p = layout.blob_path(manifest["config"]["digest"])
    good = p.read_bytes()
    p.write_bytes(good[:-1])
    assert "size is" in load(store, layout.path, ok=False)
    p.write_bytes(good + b" ")
    assert "size over" in load(store, layout.path, ok=False)
    assert_store_verified(store)
    assert "blobs/sha256/" + manifest["config"]["digest"][7:] not in store_files(store)


def test_missing_blob(layout, store):
    manifest, _ = layout.image()
    layout.index([layout.manifest_descriptor(manifest)])
    layout.blob_path(manifest["layers"][0]["digest"]).unlink()
    err = load(store, layout.path, ok=False)
    assert manifest["layers"][0]["digest"] + ": missing from the layout" in err


@pytest.mark.parametrize("field,value,message", [
    ("layer mediaType", "application/x-tar", "layers[0].mediaType: unsupported layer media type"),
    ("config mediaType", "application/json", "config.mediaType: unsupported media type"),
    ("manifest mediaType", "application/vnd.docker.distribution.manifest.v2+json",
     "mediaType: 'application/vnd.docker.distribution.manifest.v2+json', but the descriptor"),
    ("layer digest", "sha256:../../../etc/passwd", "layers[0].digest: invalid digest"),
    ("layer digest", "/etc/passwd", "layers[0].digest: invalid digest"),
    ("layer digest", "sha512:" + "0" * 128, "layers[0].digest: unsupported digest"),
    ("layer size", -1, "layers[0].size: missing or not a non-negative integer"),
    ("schemaVersion", 1, "schemaVersion: must be 2"),
])
def test_bad_manifest_fields(layout, store, field, value, message):
    manifest, _ = layout.image()
    if field == "layer mediaType":
        manifest["layers"][0]["mediaType"] = value
    elif field == "config mediaType":
        manifest["config"]["mediaType"] = value
    elif field == "manifest mediaType":
        manifest["mediaType"] = value
    elif field == "layer digest":
        manifest["layers"][0]["digest"] = value
    elif field == "layer size":
        manifest["layers"][0]["size"] = value
    else:
        manifest[field] = value
    md = layout.manifest_descriptor(manifest)
    layout.index([md])
    err = load(store, layout.path, ok=False)
    assert "manifest " + md["digest"] + ": " + message in err, err
    assert "index.json: manifests[0]" in err


@pytest.mark.parametrize("name", ["../evil", "/abs/name", "a/../b", "", "name\nwith-newline"])
def test_hostile_ref_names_are_refused(layout, store, name):
    manifest, _ = layout.image()
    layout.index([layout.manifest_descriptor(manifest, annotations=ref(name))])
    err = load(store, layout.path, ok=False)
    assert "index.json: manifests[0].annotations" in err and "invalid image name" in err
    assert not (store / "blobs").exists() or not any((store / "blobs" / "sha256").iterdir())


def test_hostile_digest_in_index(layout, store, tmp_path):
    (tmp_path / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    layout.index([{"mediaType": OCI_MANIFEST, "digest": "sha256:../../../passwd", "size": 26}])
    assert "index.json: manifests[0].digest: invalid digest" in load(store, layout.path, ok=False)


def test_symlinked_blob_is_refused(layout, store, tmp_path):
    manifest, _ = layout.image()
    layout.index([layout.manifest_descriptor(manifest)])
    # A layer blob pointing outside the layout, even at the right content, is not followed.
    d = manifest["layers"][0]["digest"]
    outside = tmp_path / "outside"
    shutil.move(layout.blob_path(d), outside)
    layout.blob_path(d).symlink_to(outside)
    err = load(store, layout.path, ok=False)
    assert d + ": a symbolic link or outside the layout" in err
    # So is a symlinked blobs directory.
    shutil.move(outside, layout.blob_path(d))
    shutil.move(layout.path / "blobs", tmp_path / "blobs")
    (layout.path / "blobs").symlink_to(tmp_path / "blobs")
    assert "a symbolic link or outside the layout" in load(store, layout.path, ok=False)


def test_not_a_layout(tmp_path, store):
    (tmp_path / "empty").mkdir()
    assert "not an OCI image layout (no oci-layout file)" in load(store, tmp_path / "empty",
                                                                  ok=False)
    (tmp_path / "junk.tar").write_bytes(b"this is not a tar archive" * 100)
    assert "not a readable tar archive" in load(store, tmp_path / "junk.tar", ok=False)
    # The work directory of a failed archive load is gone.
    assert not [p for p in store.iterdir() if p.name.startswith(".")]


def make_oci_archive(layout, path, extra=()):
    with tarfile.open(path, "w") as t:
        for p in sorted(layout.path.rglob("*")):
            t.add(p, arcname=str(p.relative_to(layout.path)), recursive=False)
        for name, data in extra:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def test_oci_archive(layout, store, tmp_path):
    manifest, _ = layout.image(tag="arch")
    md = layout.manifest_descriptor(manifest, annotations=ref("archived:2"))
    layout.index([md])
    archive = tmp_path / "image.tar"
    # A leading '/' is stripped: the member lands inside the work directory, unused.
    make_oci_archive(layout, archive, [("/abs-escaped", b"y")])
    images = load(store, archive)
    assert [(i["name"], i["manifest"]) for i in images] == [("archived:2", md["digest"])]
    assert not pathlib.Path("/abs-escaped").exists()
    assert not [p for p in store.iterdir() if p.name.startswith(".")]
    assert_store_verified(store)


def test_oci_archive_with_dotdot_member_is_refused(layout, store, tmp_path):
    manifest, _ = layout.image()
    layout.index([layout.manifest_descriptor(manifest)])
    archive = tmp_path / "sub" / "image.tar"
    archive.parent.mkdir()
    make_oci_archive(layout, archive, [("../escaped", b"x"), ("a/../../escaped2", b"x")])
    assert "not a readable tar archive" in load(store, archive, ok=False)
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "sub" / "escaped").exists()
    assert not (store / "escaped2").exists() and not (tmp_path / "escaped2").exists()
    assert not [p for p in store.iterdir() if p.name.startswith(".")]


def test_oci_archive_writing_through_a_symlink(layout, store, tmp_path):
    manifest, _ = layout.image()
    layout.index([layout.manifest_descriptor(manifest)])
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as t:
        link = tarfile.TarInfo("evil")
        link.type, link.linkname = tarfile.SYMTYPE, str(outside)
        t.addfile(link)
        data = b"planted"
        info = tarfile.TarInfo("evil/planted")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
        for p in sorted(layout.path.rglob("*")):
            t.add(p, arcname=str(p.relative_to(layout.path)), recursive=False)
    # GNU tar makes the symlink a placeholder until the end: the member under it fails.
    assert "not a readable tar archive" in load(store, archive, ok=False)
    assert list(outside.iterdir()) == []
    assert not [p for p in store.iterdir() if p.name.startswith(".")]


def test_skopeo_oci_archive(layout, store, tmp_path):
    skopeo = shutil.which("skopeo")
    if not skopeo:
        pytest.skip("skopeo is not installed")
    manifest, _ = layout.image(tag="sk")
    layout.index([layout.manifest_descriptor(manifest, annotations=ref("sk"))])
    archive = tmp_path / "sk.tar"
    subprocess.run([skopeo, "--insecure-policy", "copy", "oci:%s:sk" % layout.path,
                    "oci-archive:%s:example/sk:1" % archive], check=True, capture_output=True,
                   timeout=120)
    images = load(store, archive)
    assert len(images) == 1 and images[0]["name"] == "example/sk:1"
    assert images[0]["image"]["Cmd"] == ["cat /etc/hello"]
    assert images[0]["image"]["diff_ids"] == [
        d for d in json.loads(layout.blob_path(manifest["config"]["digest"]).read_text())
        ["rootfs"]["diff_ids"]]
    assert_store_verified(store)


def make_docker_archive(layout, manifest, path, tags, layer_paths=None):
    """docker save's classic format from one image of layout: uncompressed layers."""
    config = layout.blob_path(manifest["config"]["digest"]).read_bytes()
    diff_ids = json.loads(config)["rootfs"]["diff_ids"]
    members = [(manifest["config"]["digest"][7:] + ".json", config)]
    for i, layer in enumerate(manifest["layers"]):
        data = layout.blob_path(layer["digest"]).read_bytes()
        if layer["mediaType"].endswith("gzip"):
            data = gzip.decompress(data)
        members.append((diff_ids[i][7:] + "/layer.tar", data))
    names = layer_paths or [m[0] for m in members[1:]]
    entry = {"Config": members[0][0], "RepoTags": tags, "Layers": names}
    members.append(("manifest.json", json.dumps([entry]).encode()))
    with tarfile.open(path, "w") as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def test_docker_archive(layout, store, tmp_path):
    manifest, config = layout.image(tag="dock")
    archive = tmp_path / "docker.tar"
    make_docker_archive(layout, manifest, archive, ["example.com/a:1", "b:latest"])
    images = load(store, archive)
    assert [i["name"] for i in images] == ["example.com/a:1", "b:latest"]
    assert images[0]["manifest"] == images[1]["manifest"]
    img = images[0]
    assert img["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert img["config"] == manifest["config"]["digest"]
    assert [x["digest"] for x in img["layers"]] == config["rootfs"]["diff_ids"]
    assert img["image"]["Entrypoint"] == ["/bin/sh", "-c"]
    # The manifest podd wrote is a stored, verified blob, the same on every load.
    assert "blobs/sha256/" + img["manifest"][7:] in store_files(store)
    assert_store_verified(store)
    assert load(store, archive)[0]["manifest"] == img["manifest"]


def test_docker_archive_layer_not_matching_diff_id(layout, store, tmp_path):
    manifest, config = layout.image()
    archive = tmp_path / "docker.tar"
    first = config["rootfs"]["diff_ids"][0][7:] + "/layer.tar"
    # The second layer named where the first belongs: its content is not diff_ids[0].
    second = config["rootfs"]["diff_ids"][1][7:] + "/layer.tar"
    make_docker_archive(layout, manifest, archive, ["x:1"], [second, first])
    err = load(store, archive, ok=False)
    assert "manifest.json: [0].Layers[0]" in err and "content has digest" in err
    assert_store_verified(store)
    assert "blobs/sha256/" + config["rootfs"]["diff_ids"][0][7:] not in store_files(store)


@pytest.mark.parametrize("tags,layers,message", [
    (["../evil:1"], None, "[0].RepoTags[0]: invalid image name"),
    (["ok:1"], ["../../etc/passwd", "x"], "[0].Layers[0]: missing or invalid path"),
    (["ok:1"], ["/etc/passwd", "x"], "[0].Layers[0]: missing or invalid path"),
    (["ok:1"], ["nope/layer.tar", "x"], "[0].Layers[0]: nope/layer.tar: missing"),
])
def test_docker_archive_hostile_names(layout, store, tmp_path, tags, layers, message):
    manifest, _ = layout.image()
    archive = tmp_path / "docker.tar"
    make_docker_archive(layout, manifest, archive, tags, layers)
    assert message in load(store, archive, ok=False)


def test_skopeo_docker_archive(layout, store, tmp_path):
    skopeo = shutil.which("skopeo")
    if not skopeo:
        pytest.skip("skopeo is not installed")
    manifest, config = layout.image(tag="skd")
    layout.index([layout.manifest_descriptor(manifest, annotations=ref("skd"))])
    archive = tmp_path / "skd.tar"
    subprocess.run([skopeo, "--insecure-policy", "copy", "oci:%s:skd" % layout.path,
                    "docker-archive:%s:example/skd:2" % archive], check=True,
                   capture_output=True, timeout=120)
    images = load(store, archive)
    assert [i["name"] for i in images] == ["docker.io/example/skd:2"]  # skopeo normalises
    assert images[0]["image"]["diff_ids"] == config["rootfs"]["diff_ids"]
    assert images[0]["image"]["Env"] == ["PATH=/bin", "GREETING=hi skd"]
    assert_store_verified(store)
