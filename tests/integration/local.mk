# tests/integration: end-to-end tests with real processes on loopback
# (server, daemon, CLI, and tp-load as the application). Each test is a
# self-contained script sourcing lib.sh; they skip (exit 77) only when a
# prerequisite is truly missing.
check_PROGRAMS += tests/integration/tp-load
tests_integration_tp_load_SOURCES = tests/integration/tp-load.c
tests_integration_tp_load_CFLAGS = $(TEST_CFLAGS)
tests_integration_tp_load_LDADD = $(COMMON_LIBS)
# tp-mkcert: a certificate with a chosen validity from a CA dir (expired
# client certificates for the negative tests).
check_PROGRAMS += tests/integration/tp-mkcert
tests_integration_tp_mkcert_SOURCES = tests/integration/tp-mkcert.c
tests_integration_tp_mkcert_CFLAGS = $(TEST_CFLAGS)
tests_integration_tp_mkcert_LDADD = $(COMMON_LIBS)

# tp-tun-check: the TUN device, routes and the netstate ledger as telepodd
# drives them, for test-tun-route.sh (run inside a namespace of its own).
check_PROGRAMS += tests/integration/tp-tun-check
tests_integration_tp_tun_check_SOURCES = tests/integration/tp-tun-check.c
tests_integration_tp_tun_check_CFLAGS = $(TEST_CFLAGS)
tests_integration_tp_tun_check_LDADD = client/libtelepodd.a $(COMMON_LIBS) $(CLIENT_NET_LIBS)

# tp-dnsstub: the DNS stub and the resolver switch as telepodd drives them,
# for test-dns-stub.sh (run inside a namespace of its own).
check_PROGRAMS += tests/integration/tp-dnsstub
tests_integration_tp_dnsstub_SOURCES = tests/integration/tp-dnsstub.c
tests_integration_tp_dnsstub_CFLAGS = $(TEST_CFLAGS)
tests_integration_tp_dnsstub_LDADD = client/libtelepodd.a $(COMMON_LIBS) $(CLIENT_NET_LIBS)

# The scripts (executable, found in the source tree). Each starts its own
# processes on loopback and cleans up by PID. Every script (and what it
# sources) must also be in EXTRA_DIST.
TESTS += tests/integration/lib-selftest.sh \
	tests/integration/tunnel-basic.sh \
	tests/integration/negative.sh \
	tests/integration/fault.sh \
	tests/integration/ctl-auth.sh
# Listed one by one: distributing the folder would also copy the build
# tree's objects and programs of the same path into the tarball.
EXTRA_DIST += tests/integration/lib.sh tests/integration/BUGS.md \
	tests/integration/lib-selftest.sh \
	tests/integration/tunnel-basic.sh \
	tests/integration/negative.sh \
	tests/integration/fault.sh \
	tests/integration/ctl-auth.sh
# Root only (skips otherwise): TUN device, routes and recovery inside a
# network namespace of its own.
TESTS += tests/integration/test-tun-route.sh
EXTRA_DIST += tests/integration/test-tun-route.sh
# Root only: the DNS stub and resolv.conf with glibc, in a namespace.
TESTS += tests/integration/test-dns-stub.sh
EXTRA_DIST += tests/integration/test-dns-stub.sh

# tp-tunstack: the TUN packet path (client/tunstack) with one session, for
# test-tunstack.sh (root only, namespaces of its own).
check_PROGRAMS += tests/integration/tp-tunstack
tests_integration_tp_tunstack_SOURCES = tests/integration/tp-tunstack.c
tests_integration_tp_tunstack_CFLAGS = $(TEST_CFLAGS)
tests_integration_tp_tunstack_LDADD = client/libtelepodd.a $(COMMON_LIBS) $(CLIENT_NET_LIBS)
TESTS += tests/integration/test-tunstack.sh
EXTRA_DIST += tests/integration/test-tunstack.sh
# Root only: telepod's TUN mode end to end in the simulated cluster
# (tests/world): names, routes, DNS, restore after quit, SIGTERM, kill -9.
TESTS += tests/integration/test-vpn.sh
EXTRA_DIST += tests/integration/test-vpn.sh
# Root only: `telepod demo` without a terminal, as CI runs it, and its
# clean-up on failure, SIGINT and --keep/--down.
TESTS += tests/integration/test-demo.sh
EXTRA_DIST += tests/integration/test-demo.sh
