#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test-ws-peer: common/ws (through tp-ws) against a WebSocket server no one
# here wrote: the npm `ws` package on the machine's Node.js
# (tests/integration/ws-peer.mjs). Echo of messages at every length form,
# fragmented messages with a ping in between (and a UTF-8 character split
# across fragments), a 3 MiB message in 48 fragments and one over the
# client's limit, both close handshakes, a server that drops the
# connection in the middle of a message, client pings answered by the
# peer, and a refused upgrade with a Status body.
#
# `ws` is installed with npm into ${TP_WS_MODULES:-~/.cache/telepod-tests/
# ws-peer} (kept for the next run). Skipped, saying why, when node or npm
# is missing (install Debian's nodejs and npm) or the registry cannot be
# reached.
set -u
. "$(dirname "$0")/lib.sh"
tp_init ws-peer
TP_WS=${TP_WS:-$TP_BUILDDIR/tests/integration/tp-ws}
[ -x "$TP_WS" ] || skip "$TP_WS is not built (run make check)"
command -v node >/dev/null 2>&1 || skip "node is not installed (apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || skip "npm is not installed (apt-get install npm)"

MODDIR=${TP_WS_MODULES:-${XDG_CACHE_HOME:-$HOME/.cache}/telepod-tests/ws-peer}
if [ ! -f "$MODDIR/node_modules/ws/package.json" ]; then
	tp_step "installing the npm package ws into $MODDIR"
	mkdir -p "$MODDIR" || skip "cannot create $MODDIR"
	tp_run_logged npm 180 npm install --prefix "$MODDIR" --no-audit --no-fund \
		--cache "$TP_TMP/npm-cache" ws@8 >/dev/null ||
		skip "cannot install the npm package ws (is the npm registry reachable?); see $TP_TMP/npm.log"
fi
tp_log "ws $(node -e "console.log(require('$MODDIR/node_modules/ws/package.json').version)") on node $(node --version)"

tp_step "the ws peer"
tp_spawn peer node "$TP_SRCDIR/ws-peer.mjs" "$MODDIR"
tp_retry 15 grep -q '^port ' "$TP_TMP/peer.log" || fail "the ws peer did not start"
PORT=$(sed -n 's/^port //p' "$TP_TMP/peer.log" | head -n 1)
tp_ok "listening on 127.0.0.1:$PORT"

for s in echo fragments big close client-close midmessage keepalive refuse; do
	tp_step "scenario $s"
	tp_run_logged tpws 30 "$TP_WS" "$PORT" "$s" || fail "scenario $s failed"
	tp_ok "$s"
done

tp_step "what the peer saw"
peer_saw() {
	tp_retry 3 grep -q -- "$1" "$TP_TMP/peer.log" || fail "the peer did not log \"$1\""
}
peer_saw "upgrade /echo protocol=v5.channel.k8s.io, v4.channel.k8s.io auth=Bearer tok"
peer_saw "/echo closed code=1000 reason=finished"
peer_saw "/fragments pong are you there"
peer_saw "/fragments closed code=1000 reason=thanks"
peer_saw "/big closed code=1009"
peer_saw "/client-close closed code=1000 reason=done"
peer_saw "/keepalive ping"
if grep -q " error " "$TP_TMP/peer.log"; then
	fail "the peer saw a protocol error: $(grep ' error ' "$TP_TMP/peer.log")"
fi
tp_ok "our pongs, close codes, the 1009 for the oversized message, pings; no protocol error"
tp_pass
