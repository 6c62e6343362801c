#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# make demo: validates and draws every manifest in manifests/, then (as root)
# runs them under a private podd on a busybox image built from Debian's
# busybox-static, shows the pods coming up, and stops everything again.
# DEMO_KEEP=1 leaves podd running (the script says how to stop it).
set -eu
src=${PODD_SRCDIR:?}
build=${PODD_BUILDDIR:?}
top=${PODD_DEMO_DIR:-$build/demo}
podctl="$build/podctl --socket $top/run/podd.sock"

for f in "$src"/manifests/*.yaml; do
    echo "== $f"
    "$build/podctl" validate -f "$f"
    "$build/podctl" graph -f "$f"
done

if [ "$(id -u)" -ne 0 ]; then
    echo "Running the pods needs root (namespaces, mounts, cgroups): run make demo as root."
    exit 0
fi
if [ ! -x /bin/busybox ]; then
    echo "Running the pods needs /bin/busybox (Debian package busybox-static)." >&2
    exit 1
fi

# The image: busybox-static and its applets, as busybox:latest in the image store.
image="$top/state/images/busybox/latest"
[ -x "$image/bin/busybox" ] || sh "$src/scripts/busybox-rootfs.sh" "$image"

"$build/podd" --manifest-dir "$src/manifests" --state-dir "$top/state" --run-dir "$top/run" \
    --log-dir "$top/log" --on-exit stop 2> "$top/podd.log" &
pid=$!
stop() {
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
if [ "${DEMO_KEEP:-0}" != 1 ]; then
    trap stop EXIT INT TERM
fi

echo "== podd $pid runs manifests/ (its log: $top/podd.log)"
i=0
while [ $i -lt 8 ]; do
    sleep 1
    i=$((i + 1))
    echo "-- after ${i}s:"
    $podctl get pods || true
done
echo "== podctl describe pod web"
$podctl describe pod web || true

if [ "${DEMO_KEEP:-0}" = 1 ]; then
    echo "podd keeps running as pid $pid. Try: $podctl get pods"
    echo "Stop it (and its pods) with: kill $pid"
else
    echo "== stopping podd and its pods (SIGTERM, --on-exit stop)"
fi
