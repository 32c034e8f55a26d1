# server/: telepod-server. The modules form a library so the unit tests can
# link them; main.c adds flags, the listener, signals and drain.
noinst_LIBRARIES += server/libserver.a
SERVER_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(LIBEVENT_OPENSSL_CFLAGS) $(OPENSSL_CFLAGS) $(CARES_CFLAGS)
server_libserver_a_CFLAGS = $(SERVER_CFLAGS)
server_libserver_a_SOURCES = \
	server/env.h server/env.c \
	server/dial.h server/dial.c \
	server/dnsmsg.h server/dnsmsg.c \
	server/resolver.h server/resolver.c \
	server/session.h server/session.c
SERVER_LIBS = server/libserver.a $(COMMON_LIBS) $(CARES_LIBS)

bin_PROGRAMS += server/telepod-server
server_telepod_server_SOURCES = server/main.c
server_telepod_server_CFLAGS = $(SERVER_CFLAGS)
server_telepod_server_LDADD = $(SERVER_LIBS)
EXTRA_DIST += server/README.md
