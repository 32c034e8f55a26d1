#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test-tun-route: telepodd's TUN device, its routes and the netstate ledger,
# driven by tp-tun-check inside a network namespace this test creates
# (tp-tun-PID) and deletes on any exit. Nothing runs in, or changes, the
# caller's namespace; packets go only to the namespace's TUN device.
#
#  1. conflicts: a subnet overlapping a route through another link, one
#     holding an address of the machine and an IPv6 one inside a route are
#     skipped with the sentence the daemon shows; --never-proxy splits a
#     subnet; the routes in the kernel are exactly the planned ones, with
#     proto 126 and the TUN's source address; SIGTERM undoes everything.
#  2. allowed + packets: with --allow-conflicting-subnet the subnet is
#     routed; UDP datagrams (small and MTU-sized) and a TCP SYN to an IPv4
#     and an IPv6 cluster address are read back from the TUN fd with a
#     valid vnet header (offloads on, MTU 65535), then again without the
#     vnet header (MTU 1500); a second queue opens on a multi-queue device.
#  3. crash: SIGKILL after set-up while a child still holds the TUN fd; the
#     device and routes survive; `recover` removes them and a registered
#     test record; the namespace's links, addresses and routes are byte
#     for byte what they were before. Again without the child.
#  4. name clash: an existing tel0 is refused with the sentence that names
#     --tun-name, and recovery leaves a tel0 that is not the one recorded.
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
tp_init tun-route

tp_is_root || skip "needs root (network namespaces and TUN devices)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
tp_need_cmd ip timeout cmp
CHECK=${TP_TUN_CHECK:-$TP_BUILDDIR/tests/integration/tp-tun-check}
[ -x "$CHECK" ] || skip "$CHECK is not built (run make check)"

NS=tp-tun-$$
ip netns add "$NS" || skip "cannot create a network namespace"
TP_NETNS+=("$NS") # deleted by lib.sh's exit trap, after our PIDs are killed
STATE=$TP_TMP/netstate.json

# in_ns CMD...: runs CMD in the test's namespace, bounded.
in_ns() {
	timeout -k 2 20 ip netns exec "$NS" "$@"
}

# snapshot FILE: everything the tests must leave as it was.
snapshot() {
	{
		echo "## link"
		ip -n "$NS" link
		echo "## addr"
		ip -n "$NS" addr
		echo "## route"
		ip -n "$NS" route show table all
		echo "## route -6"
		ip -n "$NS" -6 route show table all
	} >"$1" 2>&1
}

# same_as_before WHEN: the namespace is what it was before the tests.
same_as_before() {
	snapshot "$TP_TMP/after.txt"
	if ! cmp -s "$TP_TMP/before.txt" "$TP_TMP/after.txt"; then
		diff -u "$TP_TMP/before.txt" "$TP_TMP/after.txt"
		fail "$1: the namespace's links, addresses or routes differ from before"
	fi
	tp_ok "$1: links, addresses and routes are as before"
}

# our_routes: the kernel's routes through tel0 with our protocol, one per
# line, spaces squeezed.
our_routes() {
	{
		ip -n "$NS" route show dev tel0 proto 126
		ip -n "$NS" -6 route show dev tel0 proto 126
	} 2>/dev/null | sed 's/  */ /g; s/ $//'
}

# start_up NAME ARGS...: tp-tun-check up --hold in the namespace; waits
# for "ready". Sets UP_PID.
start_up() {
	local name=$1
	shift
	rm -f "$TP_TMP/$name.ready"
	TP_NS=$NS tp_spawn "$name" "$CHECK" up --state "$STATE" --hold \
		--ready "$TP_TMP/$name.ready" "$@"
	UP_PID=$TP_LAST_PID
	tp_retry 15 tp__ready_or_dead "$name" ||
		fail "$name did not get ready within 15 s"
	[ -f "$TP_TMP/$name.ready" ] || fail "$name exited before getting ready"
}

# shellcheck disable=SC2317 # called through tp_retry
tp__ready_or_dead() {
	[ -f "$TP_TMP/$1.ready" ] || ! tp_pid_running "$UP_PID"
}

# expect_line NAME TEXT: the process log has exactly this line.
expect_line() {
	grep -qxF -- "$2" "$TP_TMP/$1.log" || fail "$1: no line \"$2\""
	tp_ok "$1: $2"
}

# stop_up NAME: SIGTERM, which undoes everything; exit status 0.
stop_up() {
	tp__stop_pid "$UP_PID" TERM 10
	[ "$TP_WAIT_RC" = 0 ] || fail "$1 exited with status $TP_WAIT_RC after SIGTERM"
	grep -qx undone "$TP_TMP/$1.log" || fail "$1 did not report undoing its changes"
	[ ! -e "$STATE" ] || fail "$1 left the state file $STATE behind"
}

tp_step "set up the namespace $NS: routes and an address that conflict"
ip -n "$NS" link set lo up
ip -n "$NS" route add 10.100.0.0/16 dev lo
ip -n "$NS" addr add 10.200.0.5/32 dev lo
ip -n "$NS" -6 route add fd00:200::/48 dev lo
snapshot "$TP_TMP/before.txt"
tp_ok "snapshot taken"

tp_step "1. conflicting subnets are skipped, the rest routed exactly"
start_up conflicts --subnet 10.96.0.0/12,172.20.0.0/16,10.200.0.0/16 \
	--subnet fd00:200:0:1::/64,fd00:96::/112 --never 172.20.5.0/24 \
	--ipv6 fd7e:1e0d::1/64
expect_line conflicts "skipped 10.96.0.0/12 overlaps 10.100.0.0/16 via lo; not routed; allow with --allow-conflicting-subnet 10.96.0.0/12"
expect_line conflicts "skipped 10.200.0.0/16 contains 10.200.0.5, an address of this machine on lo; not routed; allow with --allow-conflicting-subnet 10.200.0.0/16"
expect_line conflicts "skipped fd00:200:0:1::/64 overlaps fd00:200::/48 via lo; not routed; allow with --allow-conflicting-subnet fd00:200:0:1::/64"
want="172.20.0.0/22 scope link src 198.18.0.1
172.20.4.0/24 scope link src 198.18.0.1
172.20.6.0/23 scope link src 198.18.0.1
172.20.8.0/21 scope link src 198.18.0.1
172.20.16.0/20 scope link src 198.18.0.1
172.20.32.0/19 scope link src 198.18.0.1
172.20.64.0/18 scope link src 198.18.0.1
172.20.128.0/17 scope link src 198.18.0.1
fd00:96::/112 src fd7e:1e0d::1 metric 1024 pref medium"
got=$(our_routes)
if [ "$got" != "$want" ]; then
	printf 'expected:\n%s\ngot:\n%s\n' "$want" "$got"
	fail "the routes through tel0 with proto 126 are not the planned ones"
fi
tp_ok "the kernel has exactly the 9 planned routes (proto 126, src = the TUN address)"
ip -n "$NS" route show 10.100.0.0/16 | grep -q 'dev lo' || fail "the conflicting route changed"
ip -n "$NS" -d link show tel0 | grep -q 'mtu 65535' || fail "tel0's MTU is not 65535"
ip -n "$NS" -d link show tel0 | grep -q 'tun type tun pi off vnet_hdr on' ||
	fail "tel0 is not a TUN with vnet_hdr on and pi off: $(ip -n "$NS" -d link show tel0)"
tp_ok "tel0: MTU 65535, tun, pi off, vnet_hdr on"
grep -q '"route"' "$STATE" || fail "the ledger $STATE records no route"
stop_up conflicts
same_as_before "after SIGTERM"

tp_step "2. allowed subnet routed; packets read back from the TUN fd"
start_up packets --subnet 10.96.0.0/12,fd00:96::/112 --allow 10.96.0.0/12 \
	--ipv6 fd7e:1e0d::1/64 --multi-queue \
	--packet 10.96.0.20 --packet fd00:96::20
expect_line packets "routed 10.96.0.0/12"
ip -n "$NS" route show 10.96.0.0/12 | grep -q 'dev tel0 proto 126 scope link src 198.18.0.1' ||
	fail "no route 10.96.0.0/12 dev tel0 proto 126: $(ip -n "$NS" route show 10.96.0.0/12)"
# The more specific route through lo still wins for its addresses.
ip -n "$NS" route get 10.100.1.1 | grep -q 'dev lo' || fail "10.100.1.1 no longer goes through lo"
ip -n "$NS" route get 10.96.0.20 | grep -q 'dev tel0' || fail "10.96.0.20 does not go into tel0"
tp_ok "10.96.0.20 routes into tel0, 10.100.1.1 still through lo"
for a in 10.96.0.20 fd00:96::20; do
	for what in "udp 14 bytes" tcp\ syn; do
		grep -q "^packet $a $what: ok" "$TP_TMP/packets.log" ||
			fail "no checked $what packet to $a"
	done
done
grep -q '^packet 10.96.0.20 udp 65507 bytes: ok (65535 bytes of IP)' "$TP_TMP/packets.log" ||
	fail "no 65535-byte IPv4 packet in one read"
grep -q '^packet fd00:96::20 udp 65487 bytes: ok (65535 bytes of IP)' "$TP_TMP/packets.log" ||
	fail "no 65535-byte IPv6 packet in one read"
grep -q '^second queue fd' "$TP_TMP/packets.log" || fail "no second queue"
tp_ok "UDP (14 bytes and MTU-sized) and TCP SYN, IPv4 and IPv6, read back with valid vnet headers"
stop_up packets
same_as_before "after the packet checks"

tp_step "2b. without the vnet header: MTU 1500, bare IP packets"
tp_run_logged plain 20 ip netns exec "$NS" "$CHECK" up --state "$STATE" \
	--no-vnet-hdr --subnet 10.96.0.0/12 --allow 10.96.0.0/12 --packet 10.96.0.20 ||
	fail "tp-tun-check up --no-vnet-hdr failed"
grep -qE '^tun tel0 ifindex [0-9]+ mtu 1500 vnet_hdr 0$' "$TP_TMP/plain.log" ||
	fail "tel0 without the vnet header does not have MTU 1500"
grep -q '^packet 10.96.0.20 udp 1472 bytes: ok (1500 bytes of IP)' "$TP_TMP/plain.log" ||
	fail "no 1500-byte packet without the vnet header"
same_as_before "after the plain run"

tp_step "3. SIGKILL while a child holds the TUN fd, then recover"
start_up crash --subnet 10.96.0.0/12,fd00:96::/112 --allow 10.96.0.0/12 \
	--ipv6 fd7e:1e0d::1/64 --marker "$TP_TMP/marker" \
	--leak-child "$TP_TMP/child.pid"
CHILD=$(cat "$TP_TMP/child.pid") || fail "no child PID"
tp_track leaked-child "$CHILD" # killed by PID on any exit
[ -e "$TP_TMP/marker" ] || fail "the marker file was not created"
tp__stop_pid "$UP_PID" KILL 5
tp_pid_running "$UP_PID" && fail "tp-tun-check survived SIGKILL"
ip -n "$NS" link show tel0 >/dev/null 2>&1 || fail "tel0 vanished although the child holds its fd"
[ -n "$(our_routes)" ] || fail "the routes vanished although tel0 lives on"
tp_ok "after SIGKILL tel0 and its routes remain (the child holds the fd)"
tp_run_logged recover 20 ip netns exec "$NS" "$CHECK" recover --state "$STATE" ||
	fail "tp-tun-check recover failed"
[ ! -e "$TP_TMP/marker" ] || fail "recover did not undo the test record (marker file)"
[ ! -e "$STATE" ] || fail "recover left the state file"
tp_ok "recover removed tel0, the routes and the test record"
same_as_before "after recovery (child still alive)"
tp__stop_pid "$CHILD" KILL 5
tp_pid_running "$CHILD" && fail "the leaked child survived SIGKILL"

tp_step "3b. SIGKILL with nothing else holding the TUN, then recover"
start_up crash2 --subnet 10.96.0.0/12 --allow 10.96.0.0/12 --marker "$TP_TMP/marker2"
tp__stop_pid "$UP_PID" KILL 5
tp_pid_running "$UP_PID" && fail "tp-tun-check survived SIGKILL"
grep -q '"tun"' "$STATE" || fail "the ledger does not name the TUN device"
tp_run_logged recover2 20 ip netns exec "$NS" "$CHECK" recover --state "$STATE" ||
	fail "tp-tun-check recover failed"
if [ -e "$TP_TMP/marker2" ] || [ -e "$STATE" ]; then
	fail "recover left the marker or the state file"
fi
same_as_before "after the second recovery"

tp_step "4. an existing tel0 is refused; recovery leaves a tel0 it did not make"
ip -n "$NS" tuntap add dev tel0 mode tun || fail "cannot create a tel0 for the clash test"
idx=$(in_ns cat /sys/class/net/tel0/ifindex) || fail "no ifindex for tel0"
tp_run_logged clash 20 ip netns exec "$NS" "$CHECK" up --state "$STATE" \
	--subnet 10.96.0.0/12 && fail "tp-tun-check up succeeded with tel0 taken"
expect_line clash "tun_open failed: a link named tel0 already exists; another telepodd running? use --tun-name"
printf '{"version": 1, "records": [{"id": 1, "kind": "tun", "payload": {"name": "tel0", "ifindex": %d}}]}\n' \
	$((idx + 1000)) >"$STATE"
tp_run_logged recover3 20 ip netns exec "$NS" "$CHECK" recover --state "$STATE" ||
	fail "recover failed on a record of another tel0"
ip -n "$NS" link show tel0 >/dev/null 2>&1 || fail "recover deleted a tel0 it had not made"
tp_ok "recover left the tel0 with another index alone"
ip -n "$NS" link del tel0
same_as_before "at the end"

tp_pass
