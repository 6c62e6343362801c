#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs podctl validate under valgrind on every manifest of the corpus, the
# examples and the demo set, in both output formats: no leak and no memory
# error on any path, error paths included. Runs one valgrind per core; TAP
# output, one line per file, in file order.
set -u
src="${PODD_SRCDIR:-.}"
build="${PODD_BUILDDIR:-.}"
if [ -z "${VALGRIND:-}" ] || ! command -v "$VALGRIND" >/dev/null 2>&1; then
    echo "1..0 # SKIP valgrind is not installed"
    exit 0
fi
if grep -q '^SANITIZER_CFLAGS = -fsanitize' "$build/Makefile" 2>/dev/null; then
    echo "1..0 # SKIP sanitizer build: valgrind cannot run AddressSanitizer binaries"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
find "$src/tests/data/manifests" "$src/manifests" "$src/examples" -type f \
    \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) ! -name expected.json 2>/dev/null |
    sort | awk '{ printf "%d %s\n", NR, $0 }' > "$work/list"

# One file: writes $work/N.tap with its verdict and, on failure, valgrind's words.
check_one() {
    n=$1
    f=$2
    for format in text json; do
        out=$("$VALGRIND" --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible \
            --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
            "$build/podctl" validate -o "$format" -f "$f" 2>&1 >/dev/null)
        rc=$?
        if [ "$rc" -eq 99 ] || [ "$rc" -gt 2 ]; then
            {
                echo "not ok $n - ${f#"$src"/} (-o $format, exit $rc)"
                printf '%s\n' "$out" | sed 's/^/# /' | head -40
            } > "$work/$n.tap"
            return
        fi
    done
    echo "ok $n - ${f#"$src"/}" > "$work/$n.tap"
}
export VALGRIND build src work

jobs=$(nproc 2>/dev/null || echo 2)
while read -r n f; do
    echo "$n $f"
done < "$work/list" | xargs -P "$jobs" -L 1 sh -c "$(sed -n '/^check_one() {/,/^}/p' "$0"); check_one \"\$0\" \"\$1\""

echo "1..$(wc -l < "$work/list")"
i=1
while [ "$i" -le "$(wc -l < "$work/list")" ]; do
    cat "$work/$i.tap" 2>/dev/null || echo "not ok $i - no result"
    i=$((i + 1))
done
