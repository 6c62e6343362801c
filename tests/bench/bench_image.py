#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Image pulls and starts, against the targets of issue 10 ("Performance").

A docker-registry started here on 127.0.0.1 (plain HTTP, its own config and storage in a
temporary directory, tests/registry/test_registry_pull.py's Registry) serves one 3-layer image
built here: busybox-static with its applets in the first layer, and in every layer --layer-mb MB
of generated files (a third random bytes, two thirds 16-symbol noise that gzip takes to about
half: "incompressible-ish", so MB/s counts transfer, hashing and unpacking rather than gzip's
best case), a few hundred of them small, gzip-compressed as skopeo would push them.
 pull     `podctl image pull REF` against a podd started here (the path podd's own pulls
          take: registry_pull() in a child, then image_store_add() unpacking every layer into
          the store), from the command's exec to its exit, against `skopeo copy docker://REF
          oci:DIR:TAG` + `umoci raw unpack --image DIR:TAG ROOTFS` of the same image, one after
          the other in each of --runs rounds (the order alternating), each from an empty store
          (podctl image rm; a new DIR and ROOTFS for skopeo and umoci). MB/s of the image's
          blob bytes (what travels: compressed layers + config) over the median wall time.
          Target: podd at least as fast (ratio >= 1).
 start    a manifest renamed into the directory -> container.pid alive, one container running
          `sh -c` from the pulled 3-layer image (an overlay of three lower directories) against
          the same from a plain root filesystem directory image (one lower directory); median
          over --start-runs runs of each, alternating. Target: <= 1.2x the plain directory.
Each round's times are printed; a missed target is printed, never an error. Run as root:
  python3 tests/bench/bench_image.py --builddir .
"""
import argparse
import gzip
import os
import pathlib
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench_daemon import TERM_CMD, Daemon, Inotify, ms, pod_yaml, spread, wait_until

SRC = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SRC / "tests" / "registry"))

SKOPEO, UMOCI, REGISTRY = (shutil.which(n) for n in ("skopeo", "umoci", "docker-registry"))
BUSYBOX = "/bin/busybox"
REPO, TAG = "bench/img", "1"
# 16 symbols: 4 bits of entropy a byte, which gzip -6 keeps at a little over half.
NOISE = bytes.maketrans(bytes(range(256)), bytes(b"abcdefghijklmnop"[i % 16] for i in range(256)))


def generated(rng, prefix, mb):
    """Files of about mb MB under prefix/: a third random, two thirds noise; many small ones."""
    entries, total, i = [(prefix, None), (prefix + "/small", None)], 0, 0
    for i in range(300):  # per-entry costs: 300 files of 1-8 KiB
        data = os.urandom(rng.randint(1024, 8192)).translate(NOISE)
        entries.append(("%s/small/f%03d" % (prefix, i), data))
        total += len(data)
    while total < mb * 1e6:
        size = rng.choice((64 << 10, 256 << 10, 1 << 20))
        data = os.urandom(size)
        if i % 3:
            data = data.translate(NOISE)
        entries.append(("%s/big%03d" % (prefix, i), data))
        total += size
        i += 1
    return entries, total


def build_image(images, path, layer_mb):
    """The 3-layer image as an OCI layout; returns (layout, blob bytes, uncompressed bytes)."""
    rng = random.Random(10)
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    base = [("bin", None), ("bin/busybox", pathlib.Path(BUSYBOX).read_bytes())]
    base += [("bin/" + a, ("symlink", "busybox")) for a in applets if a != "busybox"]
    base += [(d, None) for d in ("etc", "tmp", "proc", "sys", "dev")]
    base += [("etc/passwd", b"root:x:0:0:root:/:/bin/sh\n"), ("etc/group", b"root:x:0:\n")]
    layout = images.Layout(path)
    layers, diff_ids, raw = [], [], 0
    for n in range(3):
        files, _ = generated(rng, "data%d" % n, layer_mb)
        t = images.tar_bytes((base if n == 0 else []) + files)
        raw += len(t)
        diff_ids.append(images.sha(t))
        layers.append(layout.descriptor(images.LAYER_GZ, gzip.compress(t, compresslevel=6,
                                                                       mtime=0)))
    config = {"architecture": images.HOST_ARCH, "os": "linux",
              "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    manifest = {"schemaVersion": 2, "mediaType": images.OCI_MANIFEST,
                "config": layout.descriptor(images.OCI_CONFIG, config), "layers": layers}
    layout.index([layout.manifest_descriptor(manifest, annotations=images.ref(TAG))])
    blob_bytes = manifest["config"]["size"] + sum(d["size"] for d in layers)
    return layout, blob_bytes, raw


def timed(argv, **kw):
    t0 = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    t1 = time.perf_counter()
    if p.returncode != 0:
        raise SystemExit("bench: %s failed: %s" % (" ".join(argv), p.stderr.strip()))
    return t1 - t0


def bench_pulls(d, host, work, runs):
    """(podd times, skopeo times, umoci times) over runs rounds, each from an empty store."""
    podctl = [os.path.join(d.bin, "podctl"), "--socket", os.path.join(d.run, "podd.sock")]
    ref = "%s/%s:%s" % (host, REPO, TAG)
    podd, skopeo, umoci = [], [], []

    def by_podd():
        podd.append(timed(podctl + ["image", "pull", ref]))

    def by_skopeo_umoci(i):
        layout, rootfs = os.path.join(work, "oci-%d" % i), os.path.join(work, "rootfs-%d" % i)
        skopeo.append(timed([SKOPEO, "--insecure-policy", "copy", "--src-tls-verify=false",
                             "docker://" + ref, "oci:%s:%s" % (layout, TAG)]))
        umoci.append(timed([UMOCI, "raw", "unpack", "--image", "%s:%s" % (layout, TAG), rootfs]))
        shutil.rmtree(layout)
        shutil.rmtree(rootfs)

    for i in range(runs + 1):
        if i % 2:
            by_podd()
            by_skopeo_umoci(i)
        else:
            by_skopeo_umoci(i)
            by_podd()
        if i == 0:  # the first round warms the registry's page cache
            del podd[:], skopeo[:], umoci[:]
        if i < runs:  # the last pull stays, for the start bench
            timed(podctl + ["image", "rm", ref])
    return podd, skopeo, umoci


def bench_starts(d, ino, image, runs):
    """Manifest renamed -> container.pid alive, alternating the pulled image and busybox:latest
    (the plain directory); returns {image: times}."""
    out = {image: [], "busybox:latest": []}
    for i in range(2 * (runs + 1)):
        img = image if i % 2 == 0 else "busybox:latest"
        pod = "start-%d" % i
        t0 = d.write("start.yaml", pod_yaml(pod, [("a", TERM_CMD)], image=img))
        t1 = wait_until(ino, lambda: d.ctr_pid(pod, "a"), what="pod %s to run" % pod)
        if i >= 2:  # the first of each warms the page cache
            out[img].append(t1 - t0)
        os.unlink(os.path.join(d.mdir, "start.yaml"))
        wait_until(None, lambda: d.gone(pod), what="pod %s to go" % pod)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", default=".")
    ap.add_argument("--runs", type=int, default=5 if os.environ.get("FAST") else 9)
    ap.add_argument("--start-runs", type=int, default=10 if os.environ.get("FAST") else 30)
    ap.add_argument("--layer-mb", type=float, default=8.0,
                    help="generated data in each layer, MB before compression")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_image: needs root; skipped")
        return 0
    missing = [n for n, p in (("skopeo", SKOPEO), ("umoci", UMOCI), ("docker-registry", REGISTRY),
                              ("busybox-static", os.path.exists(BUSYBOX))) if not p]
    if missing:
        print("bench_image: needs %s (README's package list); skipped" % ", ".join(missing))
        return 0
    import test_registry_pull as reg  # after the checks: it needs the packages above
    images = reg.images
    load0 = os.getloadavg()[0]
    top = tempfile.mkdtemp(prefix="podd-bench-image-")
    registry, d, ino, notes = None, None, None, []
    try:
        layout, blob_bytes, raw = build_image(images, os.path.join(top, "layout"), a.layer_mb)
        registry = reg.Registry(os.path.join(top, "registry"))
        reg.push(layout, TAG, "%s/%s:%s" % (registry.host, REPO, TAG))
        work = os.path.join(top, "work")
        os.makedirs(work)
        d = Daemon(os.path.abspath(a.builddir), os.path.join(top, "podd"),
                   "initial=1s,max=10s,reset=10m", True)
        d.start()
        d.ready()
        podd, skopeo, umoci = bench_pulls(d, registry.host, work, a.runs)
        both = [s + u for s, u in zip(skopeo, umoci)]
        notes.append("pull: podd %s s" % " ".join("%.3f" % x for x in podd))
        notes.append("pull: skopeo copy %s s, umoci raw unpack %s s" % (
            " ".join("%.3f" % x for x in skopeo), " ".join("%.3f" % x for x in umoci)))
        ino = Inotify(d.cdir)
        ref = "%s/%s:%s" % (registry.host, REPO, TAG)
        starts = bench_starts(d, ino, ref, a.start_runs)
    finally:
        if ino:
            ino.close()
        if d:
            try:
                d.stop()
            except subprocess.TimeoutExpired:
                d.proc.kill()
                d.proc.wait()
            for pid, _ in d.leftovers():
                os.kill(pid, 9)
                notes.append("LEFT RUNNING (killed): %d" % pid)
            subprocess.run(["umount", d.run], check=False)
        if registry:
            registry.stop()
        shutil.rmtree(top, ignore_errors=True)

    p_med, o_med = statistics.median(podd), statistics.median(both)
    p_rate, o_rate = blob_bytes / 1e6 / p_med, blob_bytes / 1e6 / o_med
    s_layers, s_plain = statistics.median(starts[ref]), statistics.median(starts["busybox:latest"])
    print("podd image benchmark: %d CPUs, %d rounds; image: 3 layers, %.1f MB of blobs "
          "(%.1f MB uncompressed)" % (os.cpu_count(), a.runs, blob_bytes / 1e6, raw / 1e6))
    print("load average (1 min) %.2f before, %.2f after: other work on the host skews the times"
          % (load0, os.getloadavg()[0]))
    print()
    print("%-46s %-11s %-20s %-8s %s" % ("issue 10 figure", "value", "ratio", "target",
                                         "verdict"))
    rows = [
        ("pull + unpack, podd (podctl image pull)", "%.1f MB/s" % p_rate,
         "%.2fx skopeo+umoci" % (p_rate / o_rate), ">= 1x", p_rate >= o_rate),
        ("pull + unpack, skopeo copy + umoci raw unpack", "%.1f MB/s" % o_rate, "-", "-", None),
        ("start, 3-layer pulled image", ms(s_layers), "%.2fx plain dir" % (s_layers / s_plain),
         "<= 1.2x", s_layers <= 1.2 * s_plain),
        ("start, plain directory image", ms(s_plain), "-", "-", None),
    ]
    for name, value, ratio, target, ok in rows:
        print("%-46s %-11s %-20s %-8s %s" % (name, value, ratio, target,
                                              "" if ok is None else "meets" if ok else "MISSES"))
    notes.append("pull: podd median %s, skopeo copy + umoci raw unpack median %s (skopeo %s, "
                 "umoci %s)" % (ms(p_med), ms(o_med), ms(statistics.median(skopeo)),
                                ms(statistics.median(umoci))))
    notes.append("start, 3 layers: " + spread(starts[ref]))
    notes.append("start, plain directory: " + spread(starts["busybox:latest"]))
    for n in notes:
        print("  " + n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
