#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# negative: telepod-server refuses what it must refuse, says why in its log,
# and keeps serving the good client: a client certificate from another CA,
# an expired client certificate, a plain TCP client, and garbage after a
# good TLS handshake.
set -u
. "$(dirname "$0")/lib.sh"
tp_init negative
tp_need_programs
TP_MKCERT=${TP_MKCERT:-$TP_BUILDDIR/tests/integration/tp-mkcert}
[ -x "$TP_MKCERT" ] || skip "$TP_MKCERT is not built"

tp_step "set-up: a good session"
tp_setup_tunnel good
tp_ok "connected, SOCKS at $SOCKS"

# still_serving WHAT: the good session carries data and the server lives.
still_serving() {
	tp_running server || fail "telepod-server died after $1"
	tp_load load 30 echo --socks "$SOCKS" --target "127.0.0.1:$ECHO_PORT" \
		--bytes 1M --timeout 20 >/dev/null ||
		fail "the good session stopped working after $1"
	tp_ok "the good session still works after $1"
}

# refused_connect NAMESPACE TLSDIR WHAT: a connect that must fail, fast.
refused_connect() {
	local ns=$1 dir=$2 what=$3 t0 t rc=0 out
	t0=$(tp_now_ms)
	out=$(TP_CLI_TIMEOUT=40 tp_cli "$DAEMON_SOCK" connect --server "127.0.0.1:$SERVER_PORT" \
		--tls-dir "$dir" -n "$ns" --no-tun) || rc=$?
	t=$(($(tp_now_ms) - t0))
	[ "$rc" != 0 ] || fail "connect with $what succeeded: $out"
	[ "$rc" != 124 ] || fail "connect with $what hung (killed after 40 s)"
	[ "$t" -lt 15000 ] || fail "connect with $what took $t ms to fail"
	tp_ok "the CLI refused after $t ms (exit $rc): $(printf '%s' "$out" | tail -n 1)"
}

tp_step "a client certificate signed by another CA is refused"
tp_certs "$TP_TMP/other"
mkdir -m 700 "$TP_TMP/mixed"
cp "$TLS_DIR/ca.crt" "$TP_TMP/mixed/ca.crt"
cp "$TP_TMP/other/client.crt" "$TP_TMP/other/client.key" "$TP_TMP/mixed/"
mark=$(tp_log_mark server)
refused_connect otherca "$TP_TMP/mixed" "a client certificate from another CA"
line=$(tp_wait_log server "$mark" 'unknown ca|certificate verify|verify failed|unable to get (local )?issuer|untrusted|not trusted' 5) ||
	fail "the server log does not say why it refused the foreign certificate"
tp_ok "server log: $line"
still_serving "a foreign client certificate"

tp_step "an expired client certificate (signed by the right CA) is refused"
"$TP_MKCERT" --ca-dir "$TLS_DIR" --out "$TP_TMP/expired" \
	--not-before-days -10 --not-after-days -1 >>"$TP_TMP/cli.log" 2>&1 ||
	fail "tp-mkcert could not issue an expired certificate"
mark=$(tp_log_mark server)
refused_connect expired "$TP_TMP/expired" "an expired client certificate"
line=$(tp_wait_log server "$mark" 'expired' 5) ||
	fail "the server log does not say the client certificate expired"
tp_ok "server log: $line"
still_serving "an expired client certificate"

tp_step "a plain TCP client (no TLS) is dropped"
mark=$(tp_log_mark server)
t0=$(tp_now_ms)
rc=0
# shellcheck disable=SC2016 # expanded by the inner bash
timeout -k 2 10 bash -c '
	exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 90
	printf "hello\r\n\r\n" >&3
	# The server must close the connection: read until EOF or error.
	cat <&3 >/dev/null 2>&1
	exit 0' plain "$SERVER_PORT" || rc=$?
t=$(($(tp_now_ms) - t0))
[ "$rc" != 90 ] || fail "could not connect to the server port"
[ "$rc" != 124 ] || fail "the server kept a plain TCP client open for 10 s"
tp_ok "connection closed by the server after $t ms"
line=$(tp_wait_log server "$mark" 'tls|ssl|handshake|wrong version|http' 5) ||
	fail "the server log does not mention the failed handshake of the plain client"
tp_ok "server log: $line"
still_serving "a plain TCP client"

tp_step "garbage after a good TLS handshake is a protocol error; the connection is closed"
tp_need_cmd openssl
head -c 4096 /dev/urandom >"$TP_TMP/garbage"
mark=$(tp_log_mark server)
t0=$(tp_now_ms)
rc=0
timeout -k 2 15 openssl s_client -connect "127.0.0.1:$SERVER_PORT" -quiet \
	-CAfile "$TLS_DIR/ca.crt" -cert "$TLS_DIR/client.crt" -key "$TLS_DIR/client.key" \
	-servername telepod-server -verify_return_error \
	<"$TP_TMP/garbage" >"$TP_TMP/s_client.out" 2>"$TP_TMP/s_client.log" || rc=$?
t=$(($(tp_now_ms) - t0))
[ "$rc" != 124 ] || fail "the server kept a connection sending garbage open for 15 s"
grep -q -i 'verify return:1\|verify return code: 0\|depth=0' "$TP_TMP/s_client.log" ||
	fail "openssl s_client did not complete a good handshake: $(cat "$TP_TMP/s_client.log")"
tp_ok "s_client: handshake ok, connection ended after $t ms (exit $rc)"
line=$(tp_wait_log server "$mark" 'protocol|version|frame|hello|goaway|truncat' 5) ||
	fail "the server log does not report the protocol violation"
tp_ok "server log: $line"
still_serving "garbage after the handshake"

tp_step "a new good session can still be made"
tp_cli "$DAEMON_SOCK" quit >/dev/null || fail "telepod quit failed"
tp_connect "$DAEMON_SOCK" "127.0.0.1:$SERVER_PORT" "$TLS_DIR" good
still_serving "a reconnect"

tp_pass
