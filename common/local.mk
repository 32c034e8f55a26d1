# common/: code both sides share. Modules add their files to the list.
noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(LIBEVENT_OPENSSL_CFLAGS) $(OPENSSL_CFLAGS) $(CJSON_CFLAGS)
common_libcommon_a_SOURCES = \
	common/log.h common/log.c \
	common/mux.h common/mux.c \
	common/framebuf.h common/framebuf.c \
	common/tls.h common/tls.c \
	common/certs.h common/certs.c

# Link line for programs using common/ and proto/.
COMMON_LIBS = common/libcommon.a proto/libproto.a $(LIBEVENT_OPENSSL_LIBS) $(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(CJSON_LIBS)
