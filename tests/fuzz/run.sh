#!/bin/sh
# run.sh SECONDS: builds every tests/fuzz/fuzz_*.c as a libFuzzer target
# (clang, ASan + UBSan, no recovery) into _build-fuzz/, seeds a temporary
# corpus from proto/vectors/*.bin (plus tests/fuzz/seeds/TARGET/ when it
# exists), runs the targets one after another for an equal share of
# SECONDS, prints one summary line per target and exits 1 if any target
# crashed, hit a sanitizer report, or failed to build.
#
# Run from anywhere; paths are relative to the repository top. Crash inputs
# are kept as _build-fuzz/TARGET-crash-*; reproduce with
#   _build-fuzz/TARGET _build-fuzz/TARGET-crash-<hash>
set -eu
cd "$(dirname "$0")/../.."

total=${1:-60}
case $total in
'' | *[!0-9]*)
	echo "usage: $0 SECONDS" >&2
	exit 2
	;;
esac

# The targets: one line each, "TARGET | sources besides tests/fuzz/TARGET.c
# | pkg-config modules to link". To add a target, write
# tests/fuzz/fuzz_NAME.c and add its line here.
TARGETS='
fuzz_frame   | proto/frame.c proto/wire.c |
fuzz_dns     | server/dnsmsg.c |
fuzz_socks5  | client/socks5.c |
fuzz_dnswire | client/dnswire.c |
fuzz_ctl     | client/ctl.c common/log.c | libevent libcjson
fuzz_pkt     | client/pkt.c |
fuzz_kubeconfig | common/kubeconfig.c common/kubeexec.c common/kube.c common/log.c common/errbuf.c | yaml-0.1 libcjson libcurl libcrypto
fuzz_ws      | common/ws.c common/log.c | libevent libevent_openssl libssl libcrypto
fuzz_mux     | common/mux.c common/monotime.c common/tlsout.c common/log.c proto/frame.c proto/wire.c | libevent libevent_openssl libssl libcrypto
'

CC=${FUZZ_CC:-clang}
CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I."
out=_build-fuzz
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

field() { # field LINE N: the Nth '|' field of LINE, trimmed
	printf '%s\n' "$1" | awk -F'|' -v n="$2" '{ gsub(/^[ \t]+|[ \t]+$/, "", $n); print $n }'
}

targets=
for src in tests/fuzz/fuzz_*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	line=$(printf '%s\n' "$TARGETS" | awk -v n="$name" '$1 == n')
	if [ -z "$line" ]; then
		echo "$name: FAIL: no line in the TARGETS table of $0" >&2
		exit 1
	fi
	targets="$targets $name"
done
# shellcheck disable=SC2086 # a list of names, split on purpose
set -- $targets
if [ $# = 0 ]; then
	echo "run.sh: no tests/fuzz/fuzz_*.c targets" >&2
	exit 1
fi
share=$((total / $#))
[ "$share" -ge 1 ] || share=1

failed=0
for name in "$@"; do
	line=$(printf '%s\n' "$TARGETS" | awk -v n="$name" '$1 == n')
	sources=$(field "$line" 2)
	pkgs=$(field "$line" 3)
	pkgflags=
	if [ -n "$pkgs" ]; then
		# shellcheck disable=SC2086 # a list of modules
		pkgflags=$(pkg-config --cflags --libs $pkgs)
	fi
	# shellcheck disable=SC2086
	if ! $CC $CFLAGS -o "$out/$name" "tests/fuzz/$name.c" $sources $pkgflags \
		>"$work/$name.build" 2>&1; then
		echo "$name: FAIL: build failed"
		cat "$work/$name.build"
		failed=1
		continue
	fi

	corpus="$work/corpus-$name"
	mkdir -p "$corpus"
	cp proto/vectors/*.bin "$corpus/"
	if [ -d "tests/fuzz/seeds/$name" ]; then
		cp "tests/fuzz/seeds/$name"/* "$corpus/" 2>/dev/null || true
	fi

	status=0
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		"$out/$name" -max_total_time="$share" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/$name-" \
		"$corpus" >"$work/$name.log" 2>&1 || status=$?

	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name.log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$work/$name.log" | tail -n 1 | cut -d' ' -f2)
	units=$(find "$corpus" -type f | wc -l)
	if [ $status != 0 ] || grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: libFuzzer' \
		-e 'runtime error:' -e 'SUMMARY: UndefinedBehaviorSanitizer' "$work/$name.log"; then
		echo "$name: FAIL (exit $status) after ${runs:-?} runs; log follows, inputs in $out/$name-crash-*"
		tail -n 60 "$work/$name.log"
		failed=1
	else
		echo "$name: ok, ${runs:-0} runs in ${share}s, coverage ${cov:-0}, corpus $units"
	fi
done
exit $failed
