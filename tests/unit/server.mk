# tests/unit/server.mk: unit tests of server/ modules.
SERVER_TEST_CFLAGS = $(TEST_CFLAGS) $(CARES_CFLAGS)
SERVER_TEST_LIBS = $(SERVER_LIBS) $(CUNIT_LIBS)

check_PROGRAMS += tests/unit/test_env
TESTS += tests/unit/test_env
tests_unit_test_env_SOURCES = tests/unit/test_env.c
tests_unit_test_env_CFLAGS = $(SERVER_TEST_CFLAGS)
tests_unit_test_env_LDADD = $(SERVER_TEST_LIBS)

check_PROGRAMS += tests/unit/test_dial
TESTS += tests/unit/test_dial
tests_unit_test_dial_SOURCES = tests/unit/test_dial.c
tests_unit_test_dial_CFLAGS = $(SERVER_TEST_CFLAGS)
tests_unit_test_dial_LDADD = $(SERVER_TEST_LIBS)

check_PROGRAMS += tests/unit/test_resolver
TESTS += tests/unit/test_resolver
tests_unit_test_resolver_SOURCES = tests/unit/test_resolver.c tests/unit/dnsmasq.c tests/unit/dnsmasq.h
tests_unit_test_resolver_CFLAGS = $(SERVER_TEST_CFLAGS)
tests_unit_test_resolver_LDADD = $(SERVER_TEST_LIBS)

check_PROGRAMS += tests/unit/test_dnsmsg
TESTS += tests/unit/test_dnsmsg
tests_unit_test_dnsmsg_SOURCES = tests/unit/test_dnsmsg.c tests/unit/dnsmasq.c tests/unit/dnsmasq.h
tests_unit_test_dnsmsg_CFLAGS = $(SERVER_TEST_CFLAGS)
tests_unit_test_dnsmsg_LDADD = $(SERVER_TEST_LIBS)

check_PROGRAMS += tests/unit/test_server
TESTS += tests/unit/test_server
tests_unit_test_server_SOURCES = tests/unit/test_server.c tests/unit/dnsmasq.c tests/unit/dnsmasq.h
tests_unit_test_server_CFLAGS = $(SERVER_TEST_CFLAGS)
tests_unit_test_server_LDADD = $(SERVER_TEST_LIBS)
