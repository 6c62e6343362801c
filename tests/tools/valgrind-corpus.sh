#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs podctl validate under valgrind on every manifest of the corpus, the
# examples and the demo set: no leak and no memory error on any path, error
# paths included. TAP output, one line per file.
set -u
src="${PODD_SRCDIR:-.}"
build="${PODD_BUILDDIR:-.}"
if [ -z "${VALGRIND:-}" ] || ! command -v "$VALGRIND" >/dev/null 2>&1; then
    echo "1..0 # SKIP valgrind is not installed"
    exit 0
fi
if grep -q 'fsanitize' "$build/Makefile" 2>/dev/null && grep -q '^SANITIZER_CFLAGS = -fsanitize' "$build/Makefile"; then
    echo "1..0 # SKIP sanitizer build: valgrind cannot run AddressSanitizer binaries"
    exit 0
fi
list=$(mktemp)
trap 'rm -f "$list"' EXIT
find "$src/tests/data/manifests" "$src/manifests" "$src/examples" -type f \
    \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) ! -name expected.json 2>/dev/null | sort > "$list"
n=$(wc -l < "$list")
echo "1..$n"
i=0
while IFS= read -r f; do
    i=$((i + 1))
    rel=${f#"$src"/}
    # Both output formats: each has its own error paths.
    for format in text json; do
        out=$("$VALGRIND" --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible \
            --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
            "$build/podctl" validate -o "$format" -f "$f" 2>&1 >/dev/null)
        rc=$?
        [ "$rc" -eq 99 ] || [ "$rc" -gt 2 ] && break
    done
    if [ "$rc" -eq 99 ] || [ "$rc" -gt 2 ]; then
        echo "not ok $i - $rel (-o $format, exit $rc)"
        printf '%s\n' "$out" | sed 's/^/# /' | head -40
    else
        echo "ok $i - $rel"
    fi
done < "$list"
