#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs one pytest file and reports each test case as TAP, so that automake
# counts test cases (passed, failed, skipped), not files.
set -u
test_file="$1"
py="${PYTHON3:-/usr/bin/python3}"
here=$(cd "$(dirname "$0")" && pwd)
xml=$(mktemp /tmp/podd-pytest.XXXXXX.xml)
trap 'rm -f "$xml"' EXIT
"$py" -m pytest -p no:cacheprovider -q -rfEs --junitxml="$xml" "$test_file" >&2
rc=$?
"$py" "$here/junit2tap.py" "$xml" "$rc"
