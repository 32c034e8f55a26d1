# Unit tests of common/ modules.
check_PROGRAMS += tests/unit/test_log
TESTS += tests/unit/test_log
tests_unit_test_log_SOURCES = tests/unit/test_log.c
tests_unit_test_log_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_log_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_addr
TESTS += tests/unit/test_addr
tests_unit_test_addr_SOURCES = tests/unit/test_addr.c
tests_unit_test_addr_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_addr_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_errbuf
TESTS += tests/unit/test_errbuf
tests_unit_test_errbuf_SOURCES = tests/unit/test_errbuf.c
tests_unit_test_errbuf_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_errbuf_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_fileio
TESTS += tests/unit/test_fileio
tests_unit_test_fileio_SOURCES = tests/unit/test_fileio.c
tests_unit_test_fileio_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_fileio_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_certs
TESTS += tests/unit/test_certs
tests_unit_test_certs_SOURCES = tests/unit/test_certs.c
tests_unit_test_certs_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_certs_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_tlsconf
TESTS += tests/unit/test_tlsconf
tests_unit_test_tlsconf_SOURCES = tests/unit/test_tlsconf.c tests/unit/evtest.h
tests_unit_test_tlsconf_CFLAGS = $(TEST_CFLAGS) $(LIBEVENT_OPENSSL_CFLAGS)
tests_unit_test_tlsconf_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_tlsout
TESTS += tests/unit/test_tlsout
tests_unit_test_tlsout_SOURCES = tests/unit/test_tlsout.c tests/unit/evtest.h
tests_unit_test_tlsout_CFLAGS = $(TEST_CFLAGS) $(LIBEVENT_OPENSSL_CFLAGS)
tests_unit_test_tlsout_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_mux
TESTS += tests/unit/test_mux
tests_unit_test_mux_SOURCES = tests/unit/test_mux.c \
	tests/unit/vectors.h tests/unit/vectors.c
tests_unit_test_mux_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_mux_LDADD = $(TEST_LIBS)

# The session fuzz target (the mux driven by a fuzzed peer), replayed over
# the vectors and its seeds with a plain main().
check_PROGRAMS += tests/fuzz/fuzz_mux_replay
TESTS += tests/fuzz/fuzz_mux_replay
tests_fuzz_fuzz_mux_replay_SOURCES = tests/fuzz/fuzz_mux.c \
	tests/fuzz/replay.c tests/unit/vectors.h tests/unit/vectors.c
tests_fuzz_fuzz_mux_replay_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) \
	-DREPLAY_SEEDS='"fuzz_mux"'
tests_fuzz_fuzz_mux_replay_LDADD = $(COMMON_LIBS)

check_PROGRAMS += tests/unit/test_evloop
TESTS += tests/unit/test_evloop
tests_unit_test_evloop_SOURCES = tests/unit/test_evloop.c
tests_unit_test_evloop_CFLAGS = $(TEST_CFLAGS) -pthread
tests_unit_test_evloop_LDADD = $(TEST_LIBS) -lpthread
