# tests/unit/client.mk

check_PROGRAMS += tests/unit/test_socks5
TESTS += tests/unit/test_socks5
tests_unit_test_socks5_SOURCES = tests/unit/test_socks5.c
tests_unit_test_socks5_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_socks5_LDADD = client/libtelepodd.a $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_ctl
TESTS += tests/unit/test_ctl
tests_unit_test_ctl_SOURCES = tests/unit/test_ctl.c
tests_unit_test_ctl_CFLAGS = $(TEST_CFLAGS) -pthread
tests_unit_test_ctl_LDADD = client/libctl.a $(TEST_LIBS) -lpthread

check_PROGRAMS += tests/unit/test_cli
TESTS += tests/unit/test_cli
tests_unit_test_cli_SOURCES = tests/unit/test_cli.c
tests_unit_test_cli_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cli_LDADD = client/libcli.a client/libctl.a $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_cidr
TESTS += tests/unit/test_cidr
tests_unit_test_cidr_SOURCES = tests/unit/test_cidr.c
tests_unit_test_cidr_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cidr_LDADD = client/libtelepodd.a $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_conn
TESTS += tests/unit/test_conn
tests_unit_test_conn_SOURCES = tests/unit/test_conn.c
tests_unit_test_conn_CFLAGS = $(TEST_CFLAGS) -pthread
tests_unit_test_conn_LDADD = client/libtelepodd.a client/libctl.a $(TEST_LIBS) $(CLIENT_NET_LIBS) -lpthread

check_PROGRAMS += tests/unit/test_dnswire
TESTS += tests/unit/test_dnswire
tests_unit_test_dnswire_SOURCES = tests/unit/test_dnswire.c
tests_unit_test_dnswire_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_dnswire_LDADD = client/libtelepodd.a $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_dnsstub
TESTS += tests/unit/test_dnsstub
tests_unit_test_dnsstub_SOURCES = tests/unit/test_dnsstub.c
tests_unit_test_dnsstub_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_dnsstub_LDADD = client/libtelepodd.a $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_resolvconf
TESTS += tests/unit/test_resolvconf
tests_unit_test_resolvconf_SOURCES = tests/unit/test_resolvconf.c
tests_unit_test_resolvconf_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_resolvconf_LDADD = client/libtelepodd.a $(TEST_LIBS) $(CLIENT_NET_LIBS)

check_PROGRAMS += tests/unit/test_netstate
TESTS += tests/unit/test_netstate
tests_unit_test_netstate_SOURCES = tests/unit/test_netstate.c
tests_unit_test_netstate_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_netstate_LDADD = client/libtelepodd.a $(TEST_LIBS) $(CLIENT_NET_LIBS)

check_PROGRAMS += tests/unit/test_route
TESTS += tests/unit/test_route
tests_unit_test_route_SOURCES = tests/unit/test_route.c
tests_unit_test_route_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_route_LDADD = client/libtelepodd.a $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_pkt
TESTS += tests/unit/test_pkt
tests_unit_test_pkt_SOURCES = tests/unit/test_pkt.c
tests_unit_test_pkt_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_pkt_LDADD = client/libtelepodd.a $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_nat
TESTS += tests/unit/test_nat
tests_unit_test_nat_SOURCES = tests/unit/test_nat.c
tests_unit_test_nat_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_nat_LDADD = client/libtelepodd.a $(TEST_LIBS)

check_PROGRAMS += tests/unit/test_tunstack
TESTS += tests/unit/test_tunstack
tests_unit_test_tunstack_SOURCES = tests/unit/test_tunstack.c
tests_unit_test_tunstack_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_tunstack_LDADD = client/libtelepodd.a $(TEST_LIBS) $(LIBBPF_LIBS)

check_PROGRAMS += tests/unit/test_nlerr
TESTS += tests/unit/test_nlerr
tests_unit_test_nlerr_SOURCES = tests/unit/test_nlerr.c
tests_unit_test_nlerr_CFLAGS = $(TEST_CFLAGS) $(LIBNL_CFLAGS)
tests_unit_test_nlerr_LDADD = client/libtelepodd.a $(TEST_LIBS)
