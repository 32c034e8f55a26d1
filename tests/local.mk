# tests/: CUnit drivers (one per module), integration worlds, fuzz targets.
# Unit tests link CUnit; integration tests exit 77 (skip) when not root.
TEST_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(CJSON_CFLAGS)
TEST_LIBS = $(COMMON_LIBS) $(CUNIT_LIBS)
AM_TESTS_ENVIRONMENT = top_srcdir='$(abs_top_srcdir)'; top_builddir='$(abs_top_builddir)'; export top_srcdir top_builddir;
# Fuzz sources are listed one by one: shipping the folder whole would copy
# build products of an in-tree build into the tarball.
EXTRA_DIST += tests/fuzz/run.sh tests/fuzz/vectors-check.sh tests/fuzz/seeds \
	tests/fuzz/fuzz_ctl.c tests/fuzz/fuzz_dns.c tests/fuzz/fuzz_dnswire.c \
	tests/fuzz/fuzz_frame.c tests/fuzz/fuzz_kubeconfig.c \
	tests/fuzz/fuzz_mux.c tests/fuzz/fuzz_pkt.c tests/fuzz/fuzz_socks5.c \
	tests/fuzz/fuzz_ws.c

include tests/unit/proto.mk
include tests/unit/common.mk
include tests/unit/server.mk
include tests/unit/client.mk
include tests/unit/kube.mk
include tests/unit/kconnect.mk
include tests/integration/local.mk
include tests/integration/kconnect.mk
include tests/world/local.mk
include tests/fakeapi/local.mk
