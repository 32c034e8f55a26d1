# tests/fakeapi/: fake-apiserver, a faithful stand-in for kube-apiserver
# (TLS, discovery, OpenAPI validation, watch, server-side apply,
# port-forward over WebSocket) that tests and the Kubernetes client run
# against. See tests/fakeapi/README.md. The OpenAPI documents are read from
# the shared data folder beside the repository at run time (configure's
# --with-k8s-schemas; distcheck passes the same folder on).
FAKEAPI_K8S_DIR = @K8S_SCHEMAS_DIR@
AM_TESTS_ENVIRONMENT += FAKEAPI_K8S_DIR='$(FAKEAPI_K8S_DIR)'; export FAKEAPI_K8S_DIR;
AM_DISTCHECK_CONFIGURE_FLAGS += --with-k8s-schemas='$(FAKEAPI_K8S_DIR)'
FAKEAPI_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(LIBEVENT_OPENSSL_CFLAGS) \
	$(OPENSSL_CFLAGS) $(CJSON_CFLAGS) $(YAML_CFLAGS) \
	-DFAKEAPI_K8S_DIR='"$(FAKEAPI_K8S_DIR)"'
FAKEAPI_LIBS = $(COMMON_LIBS) $(YAML_LIBS)

noinst_LIBRARIES += tests/fakeapi/libfakeapi.a
tests_fakeapi_libfakeapi_a_CFLAGS = $(FAKEAPI_CFLAGS)
tests_fakeapi_libfakeapi_a_SOURCES = \
	tests/fakeapi/http.h tests/fakeapi/http.c \
	tests/fakeapi/auth.h tests/fakeapi/auth.c \
	tests/fakeapi/status.h tests/fakeapi/status.c \
	tests/fakeapi/discovery.h tests/fakeapi/discovery.c \
	tests/fakeapi/openapipb.h tests/fakeapi/openapipb.c \
	tests/fakeapi/store.h tests/fakeapi/store.c \
	tests/fakeapi/schema.h tests/fakeapi/schema.c \
	tests/fakeapi/apply.h tests/fakeapi/apply.c \
	tests/fakeapi/ws.h tests/fakeapi/ws.c \
	tests/fakeapi/portforward.h tests/fakeapi/portforward.c \
	tests/fakeapi/controller.h tests/fakeapi/controller.c \
	tests/fakeapi/api.h tests/fakeapi/api.c

noinst_PROGRAMS += tests/fakeapi/fake-apiserver
tests_fakeapi_fake_apiserver_SOURCES = tests/fakeapi/main.c
tests_fakeapi_fake_apiserver_CFLAGS = $(FAKEAPI_CFLAGS)
tests_fakeapi_fake_apiserver_LDADD = tests/fakeapi/libfakeapi.a $(FAKEAPI_LIBS)

EXTRA_DIST += tests/fakeapi/README.md

# Unit tests of the modules (schema against the real examples, store,
# patches and apply, WebSocket codec); exit 77 without ../shared/k8s.
check_PROGRAMS += tests/fakeapi/test_fakeapi
TESTS += tests/fakeapi/test_fakeapi
tests_fakeapi_test_fakeapi_SOURCES = tests/fakeapi/test_fakeapi.c
tests_fakeapi_test_fakeapi_CFLAGS = $(FAKEAPI_CFLAGS) $(CUNIT_CFLAGS)
tests_fakeapi_test_fakeapi_LDADD = tests/fakeapi/libfakeapi.a $(FAKEAPI_LIBS) $(CUNIT_LIBS)

# End to end on loopback: curl for the protocol, kubectl (when installed)
# as an independent client.
TESTS += tests/fakeapi/test-fakeapi.sh
EXTRA_DIST += tests/fakeapi/test-fakeapi.sh

# Port-forward over WebSocket to a real telepod-server (a TLS handshake
# through the tunnel), plus the errors before and after the upgrade.
check_PROGRAMS += tests/fakeapi/test_portforward
TESTS += tests/fakeapi/test_portforward
tests_fakeapi_test_portforward_SOURCES = tests/fakeapi/test_portforward.c
tests_fakeapi_test_portforward_CFLAGS = $(FAKEAPI_CFLAGS)
tests_fakeapi_test_portforward_LDADD = tests/fakeapi/libfakeapi.a $(FAKEAPI_LIBS)
