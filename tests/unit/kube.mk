# Unit tests of the Kubernetes client (common/kube*). Fixtures (kubeconfig
# files, certificates, exec plugins) live in tests/fixtures/kube/.
check_PROGRAMS += tests/unit/test_kubeconfig
TESTS += tests/unit/test_kubeconfig
tests_unit_test_kubeconfig_SOURCES = tests/unit/test_kubeconfig.c
tests_unit_test_kubeconfig_CFLAGS = $(TEST_CFLAGS) $(YAML_CFLAGS)
tests_unit_test_kubeconfig_LDADD = $(KUBE_LIBS) $(TEST_LIBS)

EXTRA_DIST += tests/fixtures/kube
