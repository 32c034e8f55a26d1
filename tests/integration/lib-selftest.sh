#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# lib-selftest: checks the test harness itself (lib.sh and tp-load) without
# any telepod program: processes are cleaned up by PID on success, failure
# and signals, the temp dir goes away, logs are shown on failure, waits are
# bounded, and tp-load notices corrupted data.
set -u
. "$(dirname "$0")/lib.sh"
tp_init lib-selftest
[ -x "$TP_LOAD" ] || skip "$TP_LOAD is not built"

# child SCRIPT: runs SCRIPT in a fresh bash that sources lib.sh; output in
# $TP_TMP/child.out, exit status in CHILD_RC.
child() {
	CHILD_RC=0
	TP_BUILDDIR=$TP_BUILDDIR TP_LOAD=$TP_LOAD TMPDIR=$TP_TMP \
		timeout -k 2 20 bash -c ". '$TP_SRCDIR/lib.sh'; $1" \
		>"$TP_TMP/child.out" 2>&1 </dev/null || CHILD_RC=$?
}

tp_step "a failing test exits 1, kills its processes by PID, shows their logs, removes its temp dir"
# shellcheck disable=SC2016 # the child script expands its own variables
child 'tp_init child; tp_start_echo echo; echo "$(tp_pid echo) $TP_TMP" >'"$TP_TMP"'/child.info; fail "deliberate failure"'
read -r cpid ctmp <"$TP_TMP/child.info"
[ "$CHILD_RC" = 1 ] || fail "child exited $CHILD_RC, not 1: $(cat "$TP_TMP/child.out")"
grep -q '^FAIL: child: deliberate failure' "$TP_TMP/child.out" || fail "no FAIL line"
grep -q -- '----- echo.log' "$TP_TMP/child.out" || fail "the process log was not shown"
grep -q 'listening on 127.0.0.1' "$TP_TMP/child.out" || fail "the process log is empty"
tp_pid_running "$cpid" && fail "the child's echo server (pid $cpid) survived"
[ -d "$ctmp" ] && fail "the child's temp dir $ctmp survived"
tp_ok "exit 1, pid $cpid gone, log shown, $ctmp removed"

tp_step "a test killed by SIGTERM still cleans up"
rm -f "$TP_TMP/child.info"
TP_BUILDDIR=$TP_BUILDDIR TP_LOAD=$TP_LOAD TMPDIR=$TP_TMP \
	bash -c ". '$TP_SRCDIR/lib.sh'; tp_init child2; tp_start_echo echo; echo \"\$(tp_pid echo) \$TP_TMP\" >$TP_TMP/child.info; tp_spawn sleeper sleep 30; wait \$TP_LAST_PID" \
	>"$TP_TMP/child2.out" 2>&1 </dev/null &
bpid=$!
tp_track child2 "$bpid"
tp_wait_file "$TP_TMP/child.info" 10
read -r cpid ctmp <"$TP_TMP/child.info"
kill -TERM "$bpid"
tp_wait_pid "$bpid" 10 || fail "the child did not exit on SIGTERM"
tp_retry 5 bash -c "! kill -0 $cpid 2>/dev/null" || fail "the echo server (pid $cpid) survived SIGTERM of its test"
[ -d "$ctmp" ] && fail "temp dir $ctmp survived SIGTERM"
tp_ok "pid $cpid gone, $ctmp removed (exit $TP_WAIT_RC)"

tp_step "a PID that now belongs to another process (reused) is never signalled"
# A process that is not our child, recorded as if an older process of ours
# had had its PID.
gpid=$(bash -c 'sleep 30 >/dev/null 2>&1 </dev/null & echo $!')
TP_PIDS+=("$gpid")
TP_NAME_OF[$gpid]=old
TP_START_OF[$gpid]=1
tp_pid_running "$gpid" && fail "tp_pid_running ignores the start time"
tp__stop_pid "$gpid" TERM 1
kill -0 "$gpid" 2>/dev/null || fail "the clean-up signalled a PID whose start time differs"
kill "$gpid"
tp_spawn sleeper sleep 30
spid=$TP_LAST_PID
tp_pid_running "$spid" || fail "a fresh child does not count as running"
tp_stop sleeper TERM 5
tp_pid_running "$spid" && fail "sleeper survived tp_stop"
[ "$TP_WAIT_RC" = 143 ] || fail "sleep exited $TP_WAIT_RC on SIGTERM"
tp_stop sleeper TERM 1
[ "$TP_WAIT_RC" = 143 ] || fail "a second tp_stop lost the exit status ($TP_WAIT_RC)"
tp_ok "left alone while foreign, stopped once ours (exit 143 remembered)"

tp_step "skip exits 77"
child 'tp_init child3; skip "nothing to do"'
[ "$CHILD_RC" = 77 ] || fail "skip exited $CHILD_RC"
tp_ok "77"

tp_step "waiting for a port that never listens is bounded"
port=$(tp_free_port)
t0=$(tp_now_ms)
child "tp_init child4; tp_wait_port $port 1"
t=$(($(tp_now_ms) - t0))
[ "$CHILD_RC" = 1 ] || fail "tp_wait_port on a dead port exited $CHILD_RC"
[ "$t" -lt 5000 ] || fail "tp_wait_port 1 took $t ms"
grep -q "nothing listens on port $port" "$TP_TMP/child.out" || fail "no clear message: $(cat "$TP_TMP/child.out")"
tp_ok "gave up after $t ms"

tp_step "fail inside a command substitution ends only that subshell"
x=$(fail "inner" 2>/dev/null) && fail "fail in a subshell returned 0"
[ -z "$x" ] || fail "fail in a subshell printed on stdout: $x"
tp_ok "the caller decides"

tp_step "tp-load: echo, many streams, half-close both ways, HTTP"
tp_start_echo echo
tp_wait_port "$ECHO_PORT" 5 echo
tp_load load 30 echo --target "127.0.0.1:$ECHO_PORT" --bytes 8M --timeout 20 ||
	fail "direct echo of 8 MiB failed"
tp_load load 30 echo --target "127.0.0.1:$ECHO_PORT" --bytes 64k --streams 100 --shut early --timeout 20 ||
	fail "100 streams failed"
tp_load load 30 halfclose --target "127.0.0.1:$ECHO_PORT" --bytes 1M --timeout 20 ||
	fail "server-first half-close failed"
if command -v curl >/dev/null; then
	body=$(curl -sS --max-time 5 "http://127.0.0.1:$ECHO_PORT/") || fail "curl against the HTTP mode failed"
	[ "$body" = "tp-load http ok" ] || fail "HTTP body: $body"
fi
tp_ok "all verified"

tp_step "tp-load notices one corrupted byte (exit 1) and a closed port (exit 3)"
tp_spawn bad "$TP_LOAD" serve --port-file "$TP_TMP/bad.port" --corrupt-at 123457
tp_wait_file "$TP_TMP/bad.port"
rc=0
tp_load load 30 echo --target "127.0.0.1:$(cat "$TP_TMP/bad.port")" --bytes 1M --timeout 20 || rc=$?
[ "$rc" = 1 ] || fail "corrupted echo: tp-load exited $rc, not 1"
grep -q "mismatch at byte 123457" "$TP_TMP/load.log" || fail "the mismatch offset was not reported"
rc=0
tp_load load 30 echo --target "127.0.0.1:$(tp_free_port)" --timeout 5 || rc=$?
[ "$rc" = 3 ] || fail "connecting to a closed port: tp-load exited $rc, not 3"
tp_ok "mismatch and refusal reported"

tp_step "tp-load json reads a document and JSON lines"
v=$(printf '{"daemon":{"socks":"127.0.0.1:9"},"connections":[{"state":"connected"}]}' | tp_json connections.0.state) || fail "json path failed"
[ "$v" = connected ] || fail "json: got $v"
v=$(printf '{"ok":true,"progress":"x"}\n{"ok":true,"socks":"127.0.0.1:7"}\n' | tp_json socks) || fail "json lines failed"
[ "$v" = 127.0.0.1:7 ] || fail "json lines: got $v"
tp_ok "ok"

tp_step "a network namespace world: processes and tools run inside it, and it is deleted on exit"
if tp_is_root && command -v ip >/dev/null 2>&1; then
	child "tp_init child5; tp_netns_new tp-self-\$\$; echo tp-self-\$\$ >$TP_TMP/child.ns
		TP_NS=tp-self-\$\$ tp_start_echo echo
		TP_NS=tp-self-\$\$ tp_wait_port \$ECHO_PORT 5 echo
		tp_port_listening \$ECHO_PORT && fail 'the echo port listens outside the namespace'
		TP_NS=tp-self-\$\$ tp_load load 20 echo --target 127.0.0.1:\$ECHO_PORT --bytes 1M --timeout 10 || fail 'echo inside the namespace failed'
		tp_pass"
	ns=$(cat "$TP_TMP/child.ns")
	[ "$CHILD_RC" = 0 ] || fail "the namespace child failed ($CHILD_RC): $(cat "$TP_TMP/child.out")"
	[ -e "/run/netns/$ns" ] && fail "namespace $ns survived its test"
	tp_ok "echo inside $ns, invisible outside, $ns deleted"
else
	tp_log "not root or no ip(8): namespace helpers not checked"
fi

tp_step "a TERM stops the echo server with status 0"
tp_stop echo TERM 5
[ "$TP_WAIT_RC" = 0 ] || fail "tp-load serve exited $TP_WAIT_RC on SIGTERM"
tp_ok "exit 0"

tp_pass
