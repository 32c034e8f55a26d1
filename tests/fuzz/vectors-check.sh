#!/bin/sh
# vectors-check.sh: the committed proto/vectors are exactly what
# tests/fuzz/mkvectors.c writes (run by make check; top_srcdir and
# top_builddir come from AM_TESTS_ENVIRONMENT).
set -eu
src=${top_srcdir:-..}
build=${top_builddir:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/tests/fuzz/mkvectors" "$tmp"
# Same file set, same bytes.
(cd "$src/proto/vectors" && ls) >"$tmp.want" 2>/dev/null
(cd "$tmp" && ls) >"$tmp.got"
status=0
if ! cmp -s "$tmp.want" "$tmp.got"; then
	echo "vectors-check: proto/vectors and mkvectors disagree on the file set:"
	diff "$tmp.want" "$tmp.got" || true
	status=1
fi
rm -f "$tmp.want" "$tmp.got"
for f in "$tmp"/*; do
	name=$(basename "$f")
	if ! cmp -s "$f" "$src/proto/vectors/$name"; then
		echo "vectors-check: proto/vectors/$name differs from what mkvectors writes"
		status=1
	fi
done
if [ $status != 0 ]; then
	echo "vectors-check: regenerate with: cc -std=c11 -I. tests/fuzz/mkvectors.c -o mkvectors && ./mkvectors proto/vectors"
fi
exit $status
