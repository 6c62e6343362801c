#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds a small root filesystem from Debian's busybox-static (/bin/busybox):
# the binary, a link per applet, /etc/passwd and /etc/group, and the empty
# mount points a container needs. It is what the demo and the README's
# walk-through import as busybox:latest.
#
#   scripts/busybox-rootfs.sh DIR
set -eu
if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
if [ ! -x /bin/busybox ]; then
    echo "$0: /bin/busybox is missing: apt-get install busybox-static" >&2
    exit 1
fi
dir=$1
mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/proc" "$dir/sys" "$dir/dev" "$dir/root"
cp /bin/busybox "$dir/bin/busybox"
for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -sf busybox "$dir/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/tmp:/bin/sh\n' > "$dir/etc/passwd"
printf 'root:x:0:\nwww:x:33:\n' > "$dir/etc/group"
chmod 1777 "$dir/tmp"
