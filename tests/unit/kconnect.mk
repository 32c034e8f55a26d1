# Unit tests of the WebSocket client, the port-forward listener and the
# Kubernetes connect flow (common/ws, common/portforward, client/kconnect).
check_PROGRAMS += tests/unit/test_ws
TESTS += tests/unit/test_ws
tests_unit_test_ws_SOURCES = tests/unit/test_ws.c
tests_unit_test_ws_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_ws_LDADD = $(KUBEPF_LIBS) $(TEST_LIBS)
