#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Every C file is formatted as .clang-format says. TAP output, one line per file.
set -u
src="${PODD_SRCDIR:-.}"
if ! command -v clang-format >/dev/null 2>&1; then
    echo "1..0 # SKIP clang-format is not installed"
    exit 0
fi
files=$(cd "$src" && find src tests -name '*.[ch]' | sort)
echo "1..$(echo "$files" | wc -l)"
i=0
for f in $files; do
    i=$((i + 1))
    if (cd "$src" && clang-format --dry-run --Werror "$f" >/dev/null 2>&1); then
        echo "ok $i - $f"
    else
        echo "not ok $i - $f is not formatted: run clang-format -i $f"
    fi
done
