# tests/unit/client.mk

check_PROGRAMS += tests/unit/test_socks5
TESTS += tests/unit/test_socks5
tests_unit_test_socks5_SOURCES = tests/unit/test_socks5.c
tests_unit_test_socks5_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_socks5_LDADD = client/libtelepodd.a $(TEST_LIBS)
