#!/bin/sh
# dev.sh: one entry point for a fresh Debian 12 machine.
#   ./dev.sh demo   install dependencies, build, run `telepod demo`
#   ./dev.sh test   install dependencies, build, run the whole test suite
#   ./dev.sh build  install dependencies and build into _build/
# Needs root: it installs Debian packages, and the tests and the demo create
# network namespaces and TUN devices.
set -eu
cd "$(dirname "$0")"
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "dev.sh: must run as root (it installs Debian packages and creates network namespaces); try: sudo $0 $*" >&2
		exit 1
	fi
}

deps() {
	pkgs=$(grep -v '^#' packaging/debian/build-deps.txt | tr '\n' ' ')
	missing=
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "dev.sh: installing:$missing"
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
	fi
}

build() {
	[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi
	mkdir -p _build
	(cd _build && { [ -f Makefile ] || ../configure --quiet; } && make -j"$jobs")
}

# Every check CI makes, in order; stops at the first failure.
run_tests() {
	(cd _build && make -j"$jobs" check) || { cat _build/test-suite.log 2>/dev/null; exit 1; }
	echo "== format check"
	(cd _build && make format-check CLANG_FORMAT=clang-format-14)
	echo "== sanitizers (ASan+UBSan)"
	mkdir -p _build-asan
	(cd _build-asan && { [ -f Makefile ] || CC=clang ../configure --quiet --enable-sanitizers; } &&
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		make -j"$jobs" check) || { cat _build-asan/test-suite.log 2>/dev/null; exit 1; }
	echo "== fuzzing"
	tests/fuzz/run.sh "${FUZZ_SECONDS:-60}"
	echo "== distcheck"
	(cd _build && make -j"$jobs" distcheck) || {
		# The failing tests' logs, last, so the tail of CI's output shows them.
		cat _build/telepod-*/_build/sub/test-suite.log 2>/dev/null
		exit 1
	}
	pass=$(sed -n 's/^# PASS: *//p' _build/test-suite.log)
	fail=$(sed -n 's/^# FAIL: *//p' _build/test-suite.log)
	skip=$(sed -n 's/^# SKIP: *//p' _build/test-suite.log)
	echo "dev.sh: all checks passed (make check, format, ASan+UBSan, fuzzing, distcheck)"
	echo "tests: ${pass:-0} passed, ${fail:-0} failed, ${skip:-0} skipped"
}

cmd=${1:-}
case "$cmd" in
demo)
	need_root "$@"
	deps
	build
	shift
	# The simulated cluster in network namespaces, the transcript, then a
	# shell on the "laptop" when run from a terminal (see README.md).
	exec _build/client/telepod demo "$@"
	;;
test)
	need_root "$@"
	deps
	build
	run_tests
	;;
build)
	need_root "$@"
	deps
	build
	;;
*)
	echo "usage: $0 demo|test|build" >&2
	exit 2
	;;
esac
