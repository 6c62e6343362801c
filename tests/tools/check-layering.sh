#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Dependencies point down only (DESIGN.md): fails on an #include of a module
# a module may not use. TAP output, one line per module.
set -u
src="${PODD_SRCDIR:-.}/src"
allowed() {
    case "$1" in
    base) echo "base" ;;
    graph | state | loop | image) echo "base $1" ;;
    manifest) echo "base image manifest" ;;
    registry) echo "base image registry" ;;
    runtime | security) echo "base manifest runtime security" ;;
    probe) echo "base loop manifest probe" ;;
    reconcile | api) echo "base manifest graph state loop image runtime security probe reconcile api" ;;
    *) echo "*" ;;
    esac
}
modules=$(cd "$src" && ls -d */ | tr -d /)
n=$(echo "$modules" | wc -w)
echo "1..$n"
i=0
for m in $modules; do
    i=$((i + 1))
    ok=$(allowed "$m")
    bad=""
    if [ "$ok" != "*" ]; then
        for used in $(grep -ho '#include "[a-z]*/' "$src/$m"/*.[ch] 2>/dev/null | sed 's|#include "||; s|/||' | sort -u); do
            case " $ok " in
            *" $used "*) ;;
            *) bad="$bad $used" ;;
            esac
        done
    fi
    if [ -n "$bad" ]; then
        echo "not ok $i - src/$m includes$bad"
    else
        echo "ok $i - src/$m"
    fi
done
