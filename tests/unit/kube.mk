# Unit tests of the Kubernetes client (common/kube*). Fixtures (kubeconfig
# files, certificates, exec plugins) live in tests/fixtures/kube/.
check_PROGRAMS += tests/unit/test_kubeconfig
TESTS += tests/unit/test_kubeconfig
tests_unit_test_kubeconfig_SOURCES = tests/unit/test_kubeconfig.c
tests_unit_test_kubeconfig_CFLAGS = $(TEST_CFLAGS) $(YAML_CFLAGS)
tests_unit_test_kubeconfig_LDADD = $(KUBE_LIBS) $(TEST_LIBS)

# test_kube runs a small HTTP(S) responder in threads on 127.0.0.1.
check_PROGRAMS += tests/unit/test_kube
TESTS += tests/unit/test_kube
tests_unit_test_kube_SOURCES = tests/unit/test_kube.c
tests_unit_test_kube_CFLAGS = $(TEST_CFLAGS) $(LIBCURL_CFLAGS) -pthread
tests_unit_test_kube_LDADD = $(KUBE_LIBS) $(TEST_LIBS) -lpthread

EXTRA_DIST += tests/fixtures/kube
