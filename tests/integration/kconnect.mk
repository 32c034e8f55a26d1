# `telepod connect` through Kubernetes end to end against
# tests/fakeapi/fake-apiserver and a real telepod-server (no root needed:
# --no-tun), and the WebSocket client against an independent server (the
# npm `ws` package on Node.js; skipped when node or npm is missing or the
# package cannot be installed).
TESTS += tests/integration/test-kube-connect.sh
EXTRA_DIST += tests/integration/test-kube-connect.sh
