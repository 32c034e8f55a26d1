# bench/: `make bench` measures telepod against the bare network and the
# tools users would pick instead (sshuttle, OpenVPN, stunnel) in a
# network-namespace world; see bench/run --help and docs/performance.md.
# Never part of `make check`: it needs root, installs Debian packages and
# runs for minutes.
noinst_PROGRAMS += bench/tp-bench
bench_tp_bench_SOURCES = bench/tp-bench.c
bench_tp_bench_CFLAGS = $(AM_CFLAGS)

EXTRA_DIST += bench/run bench/lib/common.sh bench/lib/setup.sh \
	bench/lib/paths.sh bench/lib/measure.sh bench/lib/report.sh \
	docs/performance.md

# BENCH_ARGS are passed on, e.g. make bench BENCH_ARGS=--quick
bench: all
	$(top_srcdir)/bench/run --build-dir "$(abs_top_builddir)" $(BENCH_ARGS)

.PHONY: bench
