#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# tunnel-basic: the tunnel end to end on loopback with the real programs:
# telepod-server, telepodd (no TUN, SOCKS5 entry) and the telepod CLI, with
# tp-load as the application. Byte-exact bulk and concurrent transfers, a
# slow reader that must not hold up other streams nor swell the daemon,
# half-close both ways, SOCKS errors, curl, and the pod environment.
set -u
. "$(dirname "$0")/lib.sh"
tp_init tunnel-basic
tp_need_programs
# Under AddressSanitizer freed memory waits in a quarantine (256 MiB by
# default) and counts in RSS; keep it small so that the RSS bound below
# measures buffering, not the sanitizer. No effect on other builds.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"

ENV_FILE=$TP_TMP/pod.env
cat >"$ENV_FILE" <<'EOF'
# the pod's environment, as telepod-server --env-file reads it
TP_ITEST_PLAIN=hello
export TP_ITEST_SPACES="two words"
TP_ITEST_EQUALS='a=b=c'
TP_ITEST_TRICKY="it's a \$HOME; \"quoted\""
TP_ITEST_MULTI="first\nsecond"
TP_ITEST_UTF8=héllo wörld ✓
EOF

tp_step "set-up: certificates, echo server, telepod-server --env-file, telepodd, connect"
tp_setup_tunnel itest --env-file "$ENV_FILE"
tp_ok "SOCKS entry at $SOCKS"
state=$(tp_conn_state "$DAEMON_SOCK") || fail "no connection in telepod status -o json"
[ "$state" = connected ] || fail "telepod status says the connection is \"$state\", not connected"
tp_ok "telepod status: connected"
rss_start=$(tp_rss_kb "$DAEMON_PID")
fds_daemon=$(tp_fd_count "$DAEMON_PID")
fds_server=$(tp_fd_count "$SERVER_PID")
tp_log "telepodd at start: RSS $rss_start KiB, $fds_daemon fds; telepod-server: $fds_server fds"

# settled WHAT: streams all closed in status, no descriptors leaked.
settled() {
	tp_retry 5 tp__settled || fail "after $1: $(tp__settled_why)"
	tp_ok "after $1: no stream open, descriptors back to $fds_daemon (telepodd) / $fds_server (telepod-server)"
}
# shellcheck disable=SC2317 # run through tp_retry
tp__settled() {
	local open
	open=$(tp_status_json "$DAEMON_SOCK" | tp_json connections.0.streams_open) || return 1
	[ "$open" = 0 ] &&
		[ "$(tp_fd_count "$DAEMON_PID")" -le "$fds_daemon" ] &&
		[ "$(tp_fd_count "$SERVER_PID")" -le "$fds_server" ]
}
tp__settled_why() {
	echo "streams_open $(tp_status_json "$DAEMON_SOCK" | tp_json connections.0.streams_open)," \
		"telepodd fds $(tp_fd_count "$DAEMON_PID") (was $fds_daemon)," \
		"telepod-server fds $(tp_fd_count "$SERVER_PID") (was $fds_server)"
}

tp_step "100 MiB round trip through SOCKS5 (IPv4 address form), byte-exact, then half-close and EOF"
tp_load load 120 echo --socks "$SOCKS" --target "127.0.0.1:$ECHO_PORT" \
	--bytes 100M --seed 1 --timeout 100 ||
	fail "the 100 MiB echo through the tunnel failed"
tp_ok "100 MiB echoed exactly"

tp_step "200 concurrent streams (DOMAINNAME form, $ECHO_NAME), each 256 KiB and checked"
tp_load load 90 echo --socks "$SOCKS" --target "$ECHO_NAME:$ECHO_PORT" \
	--streams 200 --bytes 256k --seed 2 --timeout 60 ||
	fail "200 concurrent streams through the tunnel failed"
tp_ok "200 streams exact"
settled "200 streams"

# fast_alone_bound: sets FAST_BOUND, the seconds the 4 fast streams may
# take beside a slow one:
# 10, or 4 times what they take alone when the machine (a sanitizer build,
# a loaded CI runner) is slower than that. Held up by the slow stream they
# would need minutes (16 MiB at 64 KiB/s).
fast_alone_bound() {
	local t0 ms
	t0=$(date +%s%N)
	tp_load load-alone 90 echo --socks "$SOCKS" --target "127.0.0.1:$ECHO_PORT" \
		--streams 4 --bytes 16M --seed 5 --timeout 60 ||
		fail "4 streams of 16 MiB alone failed"
	ms=$((($(date +%s%N) - t0) / 1000000))
	FAST_BOUND=10
	[ $((ms * 4)) -le 10000 ] || FAST_BOUND=$((ms * 4 / 1000 + 1))
	tp_ok "4 fast streams alone: $ms ms; beside a slow one they may take $FAST_BOUND s"
}

# slow_reader SIDE WHO: one stream read at 64 KiB/s (by the destination, or
# by the application) while 4 fast streams of 16 MiB run beside it.
slow_reader() {
	local side=$1 who=$2 rss_max slack bound
	tp_step "$who reads one stream at 64 KiB/s beside 4 fast streams: the fast ones finish within 10 s (or 4x their time alone on a slower machine), the RSS of telepodd and telepod-server grows < 64 MiB"
	fast_alone_bound
	bound=$FAST_BOUND
	tp_load load 90 slow --slow-side "$side" --socks "$SOCKS" \
		--target "127.0.0.1:$ECHO_PORT" --slow-rate 64k --streams 4 \
		--bytes 16M --warmup 2 --hold 2 --max-seconds "$bound" \
		--watch-pid "$DAEMON_PID" --watch-pid "$SERVER_PID" \
		--rss-limit 64M --seed 3 --timeout 60 ||
		fail "a slow reader ($who) held up other streams, or memory grew without bound"
	# Also against the daemon's RSS right after it connected (tp-load's
	# own baseline is taken when it starts, after the bulk tests above).
	rss_max=$(sed -n "s/^   | pid $DAEMON_PID: RSS [0-9]* KiB at start, \([0-9]*\) KiB at most.*/\1/p;s/^pid $DAEMON_PID: RSS [0-9]* KiB at start, \([0-9]*\) KiB at most.*/\1/p" "$TP_TMP/load.log" | tail -n 1)
	[ -n "$rss_max" ] || fail "tp-load did not report telepodd's RSS"
	# A sanitizer build carries its quarantine and allocator caches on top.
	slack=65536
	tp_is_asan_build "$TELEPODD" && slack=$((slack + 65536))
	[ "$rss_max" -le $((rss_start + slack)) ] ||
		fail "telepodd's RSS reached $rss_max KiB, more than $((slack / 1024)) MiB above the $rss_start KiB it had after connecting"
	tp_ok "fast streams unaffected; telepodd RSS at most $rss_max KiB (start $rss_start KiB)"
	settled "the slow reader ($who)"
}
slow_reader server "the destination"
slow_reader client "the application"

tp_step "half-close, client first: send 8 MiB, shutdown(SHUT_WR), still receive all 8 MiB, then EOF"
tp_load load 60 echo --socks "$SOCKS" --target "127.0.0.1:$ECHO_PORT" \
	--bytes 8M --shut early --seed 4 --timeout 40 ||
	fail "client-first half-close through the tunnel failed"
tp_ok "echo complete after our FIN, then the server's EOF"

tp_step "half-close, server first: the server sends 4 MiB and FIN while we still send 4 MiB after it"
tp_load load 60 halfclose --socks "$SOCKS" --target "127.0.0.1:$ECHO_PORT" \
	--bytes 4M --seed 5 --timeout 40 ||
	fail "server-first half-close through the tunnel failed"
tp_ok "both directions complete"

tp_step "reset, destination first: the echo server resets after 64 KiB; the application sees a reset, not a clean EOF"
tp_load load 30 reset --socks "$SOCKS" --target "127.0.0.1:$ECHO_PORT" \
	--bytes 64k --seed 6 --timeout 20 ||
	fail "a reset by the destination did not reach the application as a reset"
tp_ok "reset seen"

tp_step "reset, application first: we reset a stream midway; the echo server sees a reset"
mark=$(tp_log_mark echo)
tp_load load 30 abort --socks "$SOCKS" --target "127.0.0.1:$ECHO_PORT" \
	--bytes 4M --seed 7 --timeout 20 || fail "tp-load abort failed"
line=$(tp_wait_log echo "$mark" 'reset by peer' 5) ||
	fail "the application's reset did not reach the destination as a reset"
tp_ok "echo server: $line"

settled "the half-closes and resets"

tp_step "SOCKS CONNECT to a name that does not exist: reply 4 (host unreachable) within 5 s"
tp_load load 30 connect --socks "$SOCKS" --target "no-such-name.invalid:80" \
	--expect 4 --max-seconds 5 --timeout 20 ||
	fail "a nonexistent name did not give SOCKS reply 4 quickly"
tp_ok "reply 4"

tp_step "SOCKS CONNECT to a closed port: reply 5 (connection refused)"
closed=$(tp_free_port)
tp_load load 30 connect --socks "$SOCKS" --target "127.0.0.1:$closed" \
	--expect 5 --max-seconds 5 --timeout 20 ||
	fail "a closed port did not give SOCKS reply 5"
tp_ok "reply 5"

tp_step "curl --socks5-hostname: a nonexistent name fails fast"
if command -v curl >/dev/null 2>&1; then
	t0=$(tp_now_ms)
	rc=0
	tp_run_logged curl 20 curl -sS --max-time 15 --socks5-hostname "$SOCKS" \
		"http://no-such-name.invalid/" || rc=$?
	t=$(($(tp_now_ms) - t0))
	[ "$rc" != 0 ] || fail "curl succeeded for a nonexistent name"
	case $rc in 28 | 124) fail "curl timed out (exit $rc) instead of failing fast" ;; esac
	[ "$t" -lt 5000 ] || fail "curl took $t ms to fail"
	tp_ok "curl exit $rc after $t ms"

	tp_step "curl --socks5-hostname http://localhost:PORT/ against the HTTP mode of the echo server"
	body=$(timeout 20 curl -sS --max-time 15 --socks5-hostname "$SOCKS" \
		"http://localhost:$ECHO_PORT/index.html" 2>"$TP_TMP/curl.err") ||
		fail "curl through the tunnel failed: $(cat "$TP_TMP/curl.err")"
	[ "$body" = "tp-load http ok" ] || fail "curl got \"$body\""
	tp_ok "got \"$body\""
else
	tp_log "curl is not installed: curl checks skipped"
fi

tp_step "environment: telepod env -o json carries the --env-file variables"
js=$(tp_cli "$DAEMON_SOCK" env -o json) || fail "telepod env -o json failed: $js"
envjson() {
	printf '%s\n' "$js" | tp_json "env.$1" 2>/dev/null ||
		printf '%s\n' "$js" | tp_json "$1" 2>/dev/null
}
for pair in "TP_ITEST_PLAIN=hello" "TP_ITEST_SPACES=two words" \
	"TP_ITEST_EQUALS=a=b=c" "TP_ITEST_TRICKY=it's a \$HOME; \"quoted\"" \
	"TP_ITEST_MULTI=first"$'\n'"second" "TP_ITEST_UTF8=héllo wörld ✓"; do
	name=${pair%%=*}
	want=${pair#*=}
	got=$(envjson "$name") || fail "$name missing from telepod env -o json: $js"
	[ "$got" = "$want" ] || fail "$name is \"$got\" in telepod env -o json, not \"$want\""
done
tp_ok "6 variables with their exact values (quotes, \$, =, a newline, UTF-8)"

tp_step "environment: telepod env -o sh evaluates to the same values in sh"
sh_out=$(tp_cli "$DAEMON_SOCK" env -o sh) || fail "telepod env -o sh failed: $sh_out"
printf '%s\n' "$sh_out" >"$TP_TMP/env.sh"
got=$(sh -c '. "$1" && printf "%s|%s|%s|%s" "$TP_ITEST_SPACES" "$TP_ITEST_TRICKY" "$TP_ITEST_MULTI" "$TP_ITEST_UTF8"' sh "$TP_TMP/env.sh") ||
	fail "the output of telepod env -o sh does not run in sh: $sh_out"
[ "$got" = "two words|it's a \$HOME; \"quoted\"|first"$'\n'"second|héllo wörld ✓" ] ||
	fail "telepod env -o sh quotes wrongly: sh sees \"$got\""
tp_ok "quoting survives sh"

tp_step "environment: telepod env -o dotenv lists them"
dot=$(tp_cli "$DAEMON_SOCK" env -o dotenv) || fail "telepod env -o dotenv failed: $dot"
printf '%s\n' "$dot" | grep -q '^TP_ITEST_PLAIN=' || fail "no TP_ITEST_PLAIN line in: $dot"
tp_ok "dotenv lines present"

tp_step "telepod run -- env shows the variables; run -- sh -c 'exit 7' returns 7"
out=$(tp_cli "$DAEMON_SOCK" run -- env) || fail "telepod run -- env failed: $out"
printf '%s\n' "$out" | grep -qx 'TP_ITEST_PLAIN=hello' || fail "telepod run -- env lacks TP_ITEST_PLAIN=hello"
printf '%s\n' "$out" | grep -qx 'TP_ITEST_SPACES=two words' || fail "telepod run -- env lacks TP_ITEST_SPACES=two words"
rc=0
tp_cli "$DAEMON_SOCK" run -- sh -c 'exit 7' >/dev/null || rc=$?
[ "$rc" = 7 ] || fail "telepod run -- sh -c 'exit 7' returned $rc, not 7"
tp_ok "variables present, exit status 7 passed through"

tp_step "environment: the dotenv output reads back: a second server started with it hands out the same values"
printf '%s\n' "$dot" >"$TP_TMP/roundtrip.env"
rt_port=$(tp_free_port)
tp_start_server server-rt "$rt_port" "$TLS_DIR" --env-file "$TP_TMP/roundtrip.env"
tp_connect "$DAEMON_SOCK" "127.0.0.1:$rt_port" "$TLS_DIR" roundtrip
js2=$(tp_cli "$DAEMON_SOCK" env -n roundtrip -o json) || fail "telepod env -n roundtrip -o json failed: $js2"
for name in TP_ITEST_PLAIN TP_ITEST_SPACES TP_ITEST_EQUALS TP_ITEST_TRICKY TP_ITEST_MULTI TP_ITEST_UTF8; do
	a=$(envjson "$name")
	b=$(js=$js2 envjson "$name") || fail "$name lost in the dotenv round trip"
	[ "$a" = "$b" ] || fail "$name changed in the dotenv round trip: \"$a\" became \"$b\""
done
tp_cli "$DAEMON_SOCK" quit -n roundtrip >/dev/null || fail "telepod quit -n roundtrip failed"
tp_stop server-rt TERM 10
tp_ok "6 values identical after telepod env -o dotenv | telepod-server --env-file"

tp_step "telepod quit ends the session; telepod-server exits 0 on SIGTERM"
tp_cli "$DAEMON_SOCK" quit >/dev/null || fail "telepod quit failed"
n=$(tp_status_json "$DAEMON_SOCK" | tp_json connections) || fail "telepod status -o json failed after quit"
[ "$n" = "[]" ] || fail "connections left after quit: $n"
tp_stop server TERM 10
[ "$TP_WAIT_RC" = 0 ] || fail "telepod-server exited $TP_WAIT_RC on SIGTERM, not 0"
tp_ok "session gone, server exit 0"

tp_step "telepodd exits 0 on SIGTERM and removes its control socket"
tp_stop daemon TERM 10
[ "$TP_WAIT_RC" = 0 ] || fail "telepodd exited $TP_WAIT_RC on SIGTERM, not 0"
[ ! -e "$DAEMON_SOCK" ] || fail "telepodd left its socket $DAEMON_SOCK behind"
tp_ok "daemon exit 0, socket removed"

tp_pass
