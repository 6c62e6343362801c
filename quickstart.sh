#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# ./quickstart.sh demo   install what is missing, build, run the demo
# ./quickstart.sh test   install what is missing, build, run every test
#
# Needs root for apt-get when a package is missing. Installs only Debian
# packages, and only those that are absent.
set -euo pipefail
cd "$(dirname "$0")"

# Everything the build and the tests need, by Debian package name.
PACKAGES=(
    gcc make pkg-config autoconf automake libtool
    libyaml-dev libjansson-dev libseccomp-dev libcap-dev libarchive-dev libcurl4-openssl-dev check
    python3 python3-pytest python3-jsonschema python3-yaml
    busybox-static runc valgrind skopeo docker-registry umoci
)

log() { printf '==> %s\n' "$*" >&2; }

install_missing() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' \
            || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${missing[*]}; run as root or: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

build() {
    [ -x configure ] || { log "autogen"; ./autogen.sh >&2; }
    [ -f Makefile ] || { log "configure"; ./configure --enable-werror >&2; }
    log "make"
    make -j"$(nproc)" >&2
}

# Sums automake's "# PASS: N" style lines over every test run in the logs.
summary() {
    awk '/^# PASS: *[0-9]+$/ { pass += $3 }
         /^# (FAIL|ERROR|XPASS): *[0-9]+$/ { fail += $3 }
         /^# SKIP: *[0-9]+$/ { skip += $3 }
         END { printf "%d %d %d\n", pass, fail, skip }' "$@" /dev/null
}

# Runs a command with its output in a log, shows the lines that matter, returns its status.
run_logged() {
    local log=$1 filter=$2 status
    shift 2
    set +e
    "$@" 2>&1 | tee "$log" | grep -E "$filter"
    status=${PIPESTATUS[0]}
    set -e
    return "$status"
}

# The reasons of failed tests (pytest's E lines, TAP diagnostics), from automake's test-suite logs.
show_failures() {
    local f
    for f in test-suite.log podd-*/_build/sub/test-suite.log; do
        [ -f "$f" ] || continue
        grep -E '^(FAIL|ERROR):|^E  |^# |^(FAILED|ERROR) ' "$f" | grep -vE '^# (TOTAL|PASS|SKIP|XFAIL|XPASS|FAIL|ERROR):' | head -n 150 || true
    done
}

run_tests() {
    local logs=build-logs rc=0 pass fail skip
    mkdir -p "$logs"
    log "make check"
    run_logged "$logs/check.log" '^(PASS|FAIL|ERROR|XPASS|SKIP|# )' \
        make -j"$(nproc)" check || rc=1
    log "make distcheck with AddressSanitizer and UndefinedBehaviorSanitizer"
    run_logged "$logs/distcheck.log" '^(FAIL|ERROR|XPASS|# |=+$|podd-.* archives ready)' \
        make distcheck DISTCHECK_CONFIGURE_FLAGS="--enable-sanitizers --enable-werror" || rc=1
    read -r pass fail skip < <(summary "$logs/check.log" "$logs/distcheck.log")
    # A build that broke before its tests ran counts as one failure, never as a pass.
    if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        fail=1
        log "a build step failed: see $logs/"
    fi
    [ "$fail" -eq 0 ] || rc=1
    [ "$rc" -eq 0 ] || show_failures >&2
    echo "$pass passed, $fail failed, $skip skipped"
    return "$rc"
}

case "${1:-}" in
demo)
    install_missing
    build
    make demo
    ;;
test)
    install_missing
    build
    run_tests
    ;;
*)
    echo "usage: $0 demo|test" >&2
    exit 2
    ;;
esac
