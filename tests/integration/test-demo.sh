#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test-demo: `telepod demo` as CI runs it, without a terminal: it must build
# the simulated cluster, connect, run the transcript (The Odyssey through
# gateway, redis-cli, psql) showing each command and its output, tear
# everything down and exit 0; and leave nothing behind (namespaces,
# /etc/netns dirs, processes, its temporary directory) also when it fails,
# when it is interrupted, and after --keep followed by --down. Not root: it
# says why it needs root. Root only (skips otherwise).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
tp_init demo
tp_is_root || skip "needs root (the demo creates network namespaces)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
tp_need_programs
tp_need_cmd ip dnsmasq redis-server redis-cli psql curl getent setpriv timeout
[ -x "$TP_BUILDDIR/tests/world/gateway" ] || skip "the gateway is not built (run make first)"

chmod 0711 "$TP_TMP" # PostgreSQL (user postgres) must reach the demo's dir
export TELEPOD_DEMO_TMPDIR=$TP_TMP
export TELEPOD_DEMO_CLUSTER_NS=tp-dcl-$$ TELEPOD_DEMO_LAPTOP_NS=tp-dlp-$$
export WORLD_FAIL_AFTER=
# The demo run by the CLI of this build tree (it finds its script there).
DEMO=("$TELEPOD" demo)

# nothing_left LABEL LOG: no namespace, /etc/netns dir, demo directory or
# process of the demo (the PIDs it printed) remains.
nothing_left() {
	local label=$1 log=$2 ns pid
	for ns in "$TELEPOD_DEMO_CLUSTER_NS" "$TELEPOD_DEMO_LAPTOP_NS"; do
		[ ! -e "/run/netns/$ns" ] || fail "$label: namespace $ns is still there"
		[ ! -e "/etc/netns/$ns" ] || fail "$label: /etc/netns/$ns is still there"
	done
	compgen -G "$TP_TMP/telepod-demo.*" >/dev/null &&
		fail "$label: the demo's directory is still there: $(echo "$TP_TMP"/telepod-demo.*)"
	while read -r _ pid; do
		if [ -e "/proc/$pid" ] && grep -qaE 'telepod|dnsmasq|redis|gateway|postgres' "/proc/$pid/cmdline" 2>/dev/null; then
			fail "$label: process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-60)) is still running"
		fi
	done < <(grep -o 'pid [0-9]*' "$log")
	tp_ok "$label: namespaces, /etc/netns, processes and the demo's directory are gone"
}

# Stops a demo left over by a failed check (by its --down), then lib.sh's
# own clean-up.
# shellcheck disable=SC2317 # run by the EXIT trap
demo_test_exit() {
	local rc=$? d
	trap '' INT TERM HUP
	for d in "$TP_TMP"/telepod-demo.*; do
		[ -d "$d" ] && "${DEMO[@]}" --down "$d" >/dev/null 2>&1
	done
	(exit "$rc")
	tp__on_exit
}
trap demo_test_exit EXIT

tp_step "telepod demo without a terminal"
rc=0
timeout -k 5 120 "${DEMO[@]}" </dev/null >"$TP_TMP/run1.log" 2>&1 || rc=$?
sed 's/^/   | /' "$TP_TMP/run1.log"
[ "$rc" = 0 ] || fail "telepod demo exited $rc"
for want in \
	'^\$ curl -sS http://gateway/products -XPOST -d' \
	'^\$ curl -sS http://gateway/products/the_odyssey$' \
	'^\{"id":"the_odyssey","title":"The Odyssey",' \
	'^\$ redis-cli -h redis-master GET greeting$' \
	'^hello from the laptop$' \
	'^\$ psql -h postgresql' \
	'^ the_odyssey \| The Odyssey \|' \
	'^192\.0\.2\.80 +example\.test$' \
	'torn down'; do
	grep -qE -- "$want" "$TP_TMP/run1.log" || fail "the transcript lacks /$want/"
done
grep -q 'A shell on the laptop' "$TP_TMP/run1.log" && fail "it offered a shell without a terminal"
tp_ok "transcript complete, exit 0"
nothing_left "after the demo" "$TP_TMP/run1.log"

tp_step "a failing demo exits non-zero and still cleans up"
rc=0
WORLD_FAIL_AFTER=ready timeout -k 5 60 "${DEMO[@]}" </dev/null >"$TP_TMP/run2.log" 2>&1 || rc=$?
tail -n 5 "$TP_TMP/run2.log" | sed 's/^/   | /'
[ "$rc" != 0 ] || fail "a demo whose cluster did not come up exited 0"
tp_ok "exit $rc"
nothing_left "after the failure" "$TP_TMP/run2.log"

tp_step "Ctrl-C in the middle tears down"
# The whole transcript takes a fraction of a second: a pause before each
# step makes the interrupt land inside it rather than after it.
TELEPOD_DEMO_STEP_PAUSE=3 timeout -k 5 60 "${DEMO[@]}" </dev/null >"$TP_TMP/run3.log" 2>&1 &
demo_pid=$!
tp_track demo "$demo_pid"
tp_retry 30 grep -q 'Connecting the laptop' "$TP_TMP/run3.log" || fail "the demo did not get to connecting"
kill -INT "$demo_pid"
tp_wait_pid "$demo_pid" 30 || fail "the demo did not stop within 30 s of SIGINT"
tail -n 3 "$TP_TMP/run3.log" | sed 's/^/   | /'
[ "$TP_WAIT_RC" != 0 ] || fail "an interrupted demo exited 0"
tp_ok "exit $TP_WAIT_RC"
nothing_left "after SIGINT" "$TP_TMP/run3.log"

tp_step "--keep leaves it running, --down removes it"
timeout -k 5 120 "${DEMO[@]}" --keep </dev/null >"$TP_TMP/run4.log" 2>&1 || fail "telepod demo --keep failed"
down=$(sed -n 's/.*Tear it all down: *sudo .* demo --down //p' "$TP_TMP/run4.log")
if [ -z "$down" ] || [ ! -d "$down" ]; then
	fail "--keep did not say how to tear down: $(tail -n 5 "$TP_TMP/run4.log")"
fi
[ -e "/run/netns/$TELEPOD_DEMO_LAPTOP_NS" ] || fail "--keep did not keep the laptop namespace"
out=$(ip netns exec "$TELEPOD_DEMO_LAPTOP_NS" curl -sS --noproxy '*' --max-time 10 http://gateway/products/the_odyssey) ||
	fail "the kept demo does not answer: $out"
tp_ok "kept: curl http://gateway/products/the_odyssey in the laptop: $out"
"${DEMO[@]}" --down "$down" >"$TP_TMP/run4-down.log" 2>&1 || fail "telepod demo --down failed: $(cat "$TP_TMP/run4-down.log")"
nothing_left "after --down" "$TP_TMP/run4.log"

tp_step "not root: says why it needs root"
rc=0
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "${DEMO[@]}" 2>&1 </dev/null) || rc=$?
[ "$rc" = 77 ] || fail "as nobody: exit $rc (want 77): $out"
[[ $out == *"needs root"*"network namespaces"* ]] || fail "as nobody it said: $out"
tp_ok "${out%%$'\n'*}"

tp_pass
