# `telepod connect` through Kubernetes end to end against
# tests/fakeapi/fake-apiserver and a real telepod-server (no root needed:
# --no-tun), and the WebSocket client against an independent server (the
# npm `ws` package on Node.js; skipped when node or npm is missing or the
# package cannot be installed).
TESTS += tests/integration/test-kube-connect.sh
EXTRA_DIST += tests/integration/test-kube-connect.sh

check_PROGRAMS += tests/integration/tp-ws
tests_integration_tp_ws_SOURCES = tests/integration/tp-ws.c
tests_integration_tp_ws_CFLAGS = $(TEST_CFLAGS)
tests_integration_tp_ws_LDADD = $(KUBEPF_LIBS) $(COMMON_LIBS)
TESTS += tests/integration/test-ws-peer.sh
EXTRA_DIST += tests/integration/test-ws-peer.sh tests/integration/ws-peer.mjs
