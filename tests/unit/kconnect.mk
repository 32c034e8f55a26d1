# Unit tests of the WebSocket client, the port-forward listener and the
# Kubernetes connect flow (common/ws, common/portforward, client/kconnect).
check_PROGRAMS += tests/unit/test_ws
TESTS += tests/unit/test_ws
tests_unit_test_ws_SOURCES = tests/unit/test_ws.c
tests_unit_test_ws_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_ws_LDADD = $(KUBEPF_LIBS) $(TEST_LIBS)

# Against tests/fakeapi/fake-apiserver (skips when it or ../shared/k8s is
# missing), with an echo server of its own behind the fake's port-forward.
check_PROGRAMS += tests/unit/test_portforward_client
TESTS += tests/unit/test_portforward_client
tests_unit_test_portforward_client_SOURCES = tests/unit/test_portforward_client.c
tests_unit_test_portforward_client_CFLAGS = $(TEST_CFLAGS) $(LIBCURL_CFLAGS)
tests_unit_test_portforward_client_LDADD = $(KUBEPF_LIBS) $(KUBE_LIBS) $(TEST_LIBS)

# client/kmanifest and the cluster-free parts of client/kconnect.
check_PROGRAMS += tests/unit/test_kconnect
TESTS += tests/unit/test_kconnect
tests_unit_test_kconnect_SOURCES = tests/unit/test_kconnect.c
tests_unit_test_kconnect_CFLAGS = $(TEST_CFLAGS) $(YAML_CFLAGS)
tests_unit_test_kconnect_LDADD = client/libkconnect.a client/libcli.a client/libctl.a $(KUBEPF_LIBS) $(KUBE_LIBS) $(TEST_LIBS)
