# common/: code both sides share. Modules add their files to the list.
noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(LIBEVENT_OPENSSL_CFLAGS) $(OPENSSL_CFLAGS) $(CJSON_CFLAGS)
common_libcommon_a_SOURCES = \
	common/log.h common/log.c \
	common/addr.h common/addr.c \
	common/errbuf.h common/errbuf.c \
	common/fileio.h common/fileio.c \
	common/mux.h common/mux.c \
	common/framebuf.h common/framebuf.c \
	common/tlsconf.h common/tlsconf.c \
	common/tlsout.h common/tlsout.c \
	common/evloop.h common/evloop.c \
	common/monotime.h common/monotime.c \
	common/certs.h common/certs.c

# Link line for programs using common/ and proto/.
COMMON_LIBS = common/libcommon.a proto/libproto.a $(LIBEVENT_OPENSSL_LIBS) $(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(CJSON_LIBS)

# The Kubernetes client (common/kube*), a library of its own so that only
# programs that talk to an API server link libcurl and libyaml. Link with
# $(KUBE_LIBS) before $(COMMON_LIBS).
noinst_LIBRARIES += common/libkube.a
common_libkube_a_CFLAGS = $(AM_CFLAGS) $(LIBCURL_CFLAGS) $(YAML_CFLAGS) $(CJSON_CFLAGS) $(OPENSSL_CFLAGS)
common_libkube_a_SOURCES = \
	common/kubeconfig.h common/kubeconfig.c \
	common/kubeexec.h common/kubeexec.c \
	common/kube.h common/kube.c
KUBE_LIBS = common/libkube.a $(LIBCURL_LIBS) $(YAML_LIBS) $(CJSON_LIBS) $(OPENSSL_LIBS)

# The WebSocket client and the port-forward listener (common/ws,
# common/portforward): libevent code that reaches pods through the API
# server. Link with $(KUBEPF_LIBS) before $(KUBE_LIBS) and $(COMMON_LIBS).
noinst_LIBRARIES += common/libkubepf.a
common_libkubepf_a_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(LIBEVENT_OPENSSL_CFLAGS) $(OPENSSL_CFLAGS) $(LIBCURL_CFLAGS) $(CJSON_CFLAGS)
common_libkubepf_a_SOURCES = \
	common/ws.h common/ws.c \
	common/portforward.h common/portforward.c
KUBEPF_LIBS = common/libkubepf.a
