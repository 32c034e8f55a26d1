#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# ctl-auth: the control socket's authorization (SO_PEERCRED). A session made
# by root cannot be commanded by another user (quit, env: "forbidden"), whose
# status shows no details of it; root still can. Needs root to switch users;
# skipped otherwise.
set -u
. "$(dirname "$0")/lib.sh"
tp_init ctl-auth
tp_need_programs
tp_is_root || skip "needs root to run a command as another user"
tp_need_cmd setpriv
id nobody >/dev/null 2>&1 || skip "no user nobody"
nobody_group=$(id -gn nobody)

tp_step "set-up: a session connected by root"
tp_setup_tunnel authz
tp_ok "connected"

# The other user must reach the socket and the CLI: open the temp dir for
# traversal, the socket for connecting, and run a copy of the CLI from there
# (the build tree may sit below a private directory).
chmod 0711 "$TP_TMP"
chmod 0666 "$DAEMON_SOCK"
install -m 0755 "$TELEPOD" "$TP_TMP/telepod"

# as_nobody ARGS...: the CLI as user nobody; output on stdout and cli.log.
as_nobody() {
	local rc=0
	timeout -k 2 20 setpriv --reuid=nobody --regid="$nobody_group" --clear-groups \
		"$TP_TMP/telepod" --socket "$DAEMON_SOCK" "$@" >"$TP_TMP/.nobody" 2>&1 || rc=$?
	{ echo "\$ (as nobody) telepod $*"; cat "$TP_TMP/.nobody"; echo "(exit $rc)"; } >>"$TP_TMP/cli.log"
	cat "$TP_TMP/.nobody"
	return "$rc"
}

tp_step "nobody: telepod version works (open to everyone)"
out=$(as_nobody version) || fail "telepod version as nobody failed: $out"
tp_ok "$(printf '%s' "$out" | head -n 1)"

tp_step "nobody: telepod quit -n authz is refused as forbidden"
rc=0
out=$(as_nobody quit -n authz) || rc=$?
[ "$rc" != 0 ] || fail "quit of root's session as nobody succeeded: $out"
printf '%s' "$out" | grep -q -i forbidden || fail "quit as nobody failed without saying forbidden: $out"
tp_ok "exit $rc: $(printf '%s' "$out" | tail -n 1)"

tp_step "nobody: telepod env -n authz is refused as forbidden"
rc=0
out=$(as_nobody env -n authz -o json) || rc=$?
[ "$rc" != 0 ] || fail "env of root's session as nobody succeeded: $out"
printf '%s' "$out" | grep -q -i forbidden || fail "env as nobody failed without saying forbidden: $out"
tp_ok "exit $rc"

tp_step "nobody: telepod quit (all of mine) closes nothing of root's"
out=$(as_nobody quit) || tp_log "quit without a namespace as nobody: exit status non-zero: $out"
state=$(tp_conn_state "$DAEMON_SOCK")
[ "$state" = connected ] || fail "root's session is \"$state\" after nobody's quit"
tp_ok "root's session is still connected"

tp_step "nobody: telepod status shows root's session without details"
js=$(as_nobody status -o json) || fail "status as nobody failed: $js"
owner=$(printf '%s\n' "$js" | tp_json connections.0.owner_uid) || fail "status as nobody lists no session: $js"
[ "$owner" = 0 ] || fail "owner_uid is $owner, not 0"
if printf '%s\n' "$js" | tp_json connections.0.bytes_in >/dev/null 2>&1; then
	fail "status as nobody shows the details of root's session: $js"
fi
tp_ok "owner_uid 0, no details"

tp_step "the session still carries data; root may quit it"
tp_load load 30 echo --socks "$SOCKS" --target "127.0.0.1:$ECHO_PORT" \
	--bytes 1M --timeout 20 >/dev/null || fail "the session stopped working"
out=$(tp_cli "$DAEMON_SOCK" quit -n authz) || fail "root's quit failed: $out"
n=$(tp_status_json "$DAEMON_SOCK" | tp_json connections) || fail "status failed after quit"
[ "$n" = "[]" ] || fail "connections left after root's quit: $n"
tp_ok "quit by root"

tp_pass
