# tests/world/: the simulated cluster built from real Debian packages inside
# network namespaces (see tests/world/README.md). gateway is the demo service.
# Both gateway and world.sh are installed next to the demo script
# (pkglibexecdir), so an installed `telepod demo` builds the same world.
pkglibexec_PROGRAMS = tests/world/gateway
pkglibexec_SCRIPTS += tests/world/world.sh
tests_world_gateway_SOURCES = tests/world/gateway.c
tests_world_gateway_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(CJSON_CFLAGS)
tests_world_gateway_LDADD = common/libcommon.a $(LIBEVENT_LIBS) $(CJSON_LIBS) -lm

TESTS += tests/world/test-world.sh
EXTRA_DIST += tests/world/world.sh tests/world/test-world.sh tests/world/README.md
