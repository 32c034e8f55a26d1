#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test-tunstack: TCP from unmodified programs through the TUN device into
# the tunnel (docs/vpn-tcp.md). Two network namespaces this test creates
# and deletes on any exit, joined by a veth pair that lives only in them:
#
#   laptop  tp-ts-PID-c  veth 172.31.250.1/30, TUN tel0 198.18.0.1/16 with
#                        10.96.0.0/12 routed into it; tp-tunstack (the TUN
#                        device, one TLS session, client/tunstack)
#   cluster tp-ts-PID-s  veth 172.31.250.2/30; telepod-server announcing
#                        10.96.0.0/12; gateway (HTTP) on 10.96.0.20:80
#                        (lo) and on 172.31.250.2:8080 (the bare veth)
#
# Checks, all with unmodified curl in the laptop namespace:
#  1. a 100 MiB download is byte-exact (sha256 of the (i % 251) pattern);
#  2. a refused port fails with "Connection refused" (exit 7) within 2 s;
#  3. an address with no route in the cluster fails with "No route to
#     host" within 2 s; a blackholed one (SYNs vanish) within the server's
#     dial deadline (3 s) plus 3 s, not after two minutes of SYN retries;
#  4. an address in the TUN's own /16 other than its own is refused at once;
#     UDP gets "connection refused" (ICMP port unreachable);
#  5. 32 parallel downloads, each byte-exact;
#  6. 1 GiB through the TUN and over the bare veth, both timed (Gbit/s
#     printed, no assertion on speed);
#  7. the kernel fast path (client/fastpath.bpf.c) carried the 100 MiB
#     (all but its first segments): its counters hold them and telepodd's
#     own reads do not; its map has the flow's translations, and none once
#     the flows are gone; a connection of one small request and response
#     never enters it; the classifier is on the device only while a flow
#     is in the map;
#  8. with --no-fast-path, telepodd carries a 100 MiB download itself,
#     byte-exact, and its 1 GiB is timed beside the fast path's; without
#     CAP_BPF and CAP_SYS_ADMIN the kernel refuses the fast path, which the
#     log says, and downloads still work;
#  9. tp-tunstack exits 0 on SIGTERM (and clean under ASan).
#
# Nothing runs in, or changes, the caller's namespace. Root only (skip 77).
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
tp_init tunstack

tp_is_root || skip "needs root (network namespaces and TUN devices)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
tp_need_cmd ip curl timeout sha256sum python3 setpriv
TUNSTACK=${TP_TUNSTACK:-$TP_BUILDDIR/tests/integration/tp-tunstack}
GATEWAY=${TP_GATEWAY:-$TP_BUILDDIR/tests/world/gateway}
for p in "$TUNSTACK" "$GATEWAY" "$TELEPOD" "$TELEPOD_SERVER"; do
	[ -x "$p" ] || skip "$p is not built (run make check)"
done

NC=tp-ts-$$-c
NS=tp-ts-$$-s
ip netns add "$NC" || skip "cannot create a network namespace"
TP_NETNS+=("$NC")
tp_netns_new "$NS"
ip -n "$NC" link set lo up || fail "cannot bring lo up in $NC"

# in_c CMD...: runs CMD in the laptop namespace, bounded.
in_c() {
	timeout -k 2 "${TP_CMD_TIMEOUT:-60}" ip netns exec "$NC" "$@"
}

# pattern_sha256 N: the sha256 of gateway's /bytes?n=N (byte i is i % 251).
pattern_sha256() {
	python3 - "$1" <<'EOF'
import hashlib, sys
n = int(sys.argv[1])
block = bytes(range(251)) * 4177  # a whole number of periods, ~1 MiB
h = hashlib.sha256()
while n > 0:
    k = min(n, len(block))
    h.update(block[:k])
    n -= k
print(h.hexdigest())
EOF
}

# timed CMD...: runs CMD; sets TIMED_RC, TIMED_MS and TIMED_OUT (its output).
timed() {
	local t0 rc=0
	t0=$(tp_now_ms)
	"$@" >"$TP_TMP/.timed" 2>&1 || rc=$?
	TIMED_RC=$rc
	TIMED_MS=$(($(tp_now_ms) - t0))
	TIMED_OUT=$(cat "$TP_TMP/.timed")
}

tp_step "set-up: two namespaces and a veth pair, certificates, telepod-server, gateway, tp-tunstack"
ip -n "$NC" link add vc type veth peer name vs netns "$NS" ||
	fail "cannot create the veth pair"
ip -n "$NC" addr add 172.31.250.1/30 dev vc
ip -n "$NS" addr add 172.31.250.2/30 dev vs
ip -n "$NC" link set vc up
ip -n "$NS" link set vs up
ip -n "$NS" addr add 10.96.0.20/32 dev lo
# A blackhole for the cluster: SYNs to 10.96.0.98 go to the laptop
# namespace, which does not forward, and vanish.
ip -n "$NS" route add 10.96.0.98/32 via 172.31.250.1
TLS=$TP_TMP/tls
tp_certs "$TLS"
TP_NS=$NS tp_spawn server "$TELEPOD_SERVER" --listen 172.31.250.2:7443 \
	--tls-dir "$TLS" --namespace itest --subnets 10.96.0.0/12 \
	--connect-timeout 3 --log-level info
TP_NS=$NS tp_wait_port 7443 10 server
TP_NS=$NS tp_spawn gw "$GATEWAY" --listen 10.96.0.20:80 --redis 127.0.0.1:1
TP_NS=$NS tp_wait_port 80 10 gw
TP_NS=$NS tp_spawn gw-bare "$GATEWAY" --listen 172.31.250.2:8080 --redis 127.0.0.1:1
TP_NS=$NS tp_wait_port 8080 10 gw-bare
TP_NS=$NC tp_spawn tun "$TUNSTACK" --server 172.31.250.2:7443 --tls-dir "$TLS" \
	--ready-file "$TP_TMP/ready" ${TP_TUNSTACK_DEBUG:+--debug}
tp_retry 15 test -s "$TP_TMP/ready" || fail "tp-tunstack did not get ready"
tp_running tun || fail "tp-tunstack exited"
tp_ok "$(cat "$TP_TMP/ready")"
ip -n "$NC" route show | sed 's/^/   | /'

# counters: SIGUSR1 to tp-tunstack, which prints its counters; sets FAST
# and STATS to its newest "fast:" and "stats:" lines.
fast_lines_over() {
	[ "$(grep -c '^fast:' "$TP_TMP/tun.log")" -gt "$1" ]
}
counters() {
	local n
	n=$(grep -c '^fast:' "$TP_TMP/tun.log")
	kill -USR1 "$(tp_pid tun)" || fail "tp-tunstack is gone"
	tp_retry 5 fast_lines_over "$n" ||
		fail "tp-tunstack printed no counters on SIGUSR1"
	FAST=$(grep '^fast:' "$TP_TMP/tun.log" | tail -n 1)
	STATS=$(grep '^stats:' "$TP_TMP/tun.log" | tail -n 1)
}
# kv LINE KEY: the number after the word KEY in LINE.
kv() {
	awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$1"
}
counters
[ "$(kv "$FAST" loaded)" = 1 ] || fail "the kernel fast path did not load: $FAST"
# On the device only while flows use it: no flow, no lookup per packet.
[ "$(kv "$FAST" attached)" = 0 ] || fail "the classifier is on the device with no flow in it: $FAST"

tp_step "a connection of one small request stays with telepodd"
in_c curl -sS --max-time 10 -o /dev/null "http://10.96.0.20/bytes?n=1000" ||
	fail "a small request through the TUN failed"
counters
[ "$(kv "$FAST" flows)" = 0 ] || fail "a one-request connection entered the fast path: $FAST"
[ "$(kv "$FAST" attached)" = 0 ] || fail "the classifier went on the device for no flow: $FAST"
[ "$(kv "$STATS" accepted)" = 1 ] || fail "no connection was accepted: $STATS"
tp_ok "accepted 1, fast path flows 0"
fast0=$(kv "$FAST" to_app_bytes)
slow0=$(kv "$STATS" bytes_in)

tp_step "a 100 MiB download through the TUN is byte-exact"
N=$((100 * 1024 * 1024))
want=$(pattern_sha256 "$N")
in_c curl -sS --max-time 60 -o "$TP_TMP/big" "http://10.96.0.20/bytes?n=$N" ||
	fail "curl of 100 MiB through the TUN failed"
got=$(sha256sum "$TP_TMP/big" | cut -d' ' -f1)
size=$(stat -c %s "$TP_TMP/big")
rm -f "$TP_TMP/big"
[ "$size" = "$N" ] || fail "got $size bytes, not $N"
[ "$got" = "$want" ] || fail "sha256 $got, expected $want"
tp_ok "$N bytes, sha256 $got"

tp_step "the kernel fast path carried it, not telepodd's reads"
counters
fast=$(($(kv "$FAST" to_app_bytes) - fast0))
slow=$(($(kv "$STATS" bytes_in) - slow0))
entries=$(kv "$FAST" entries)
echo "   | $FAST"
[ "$(kv "$FAST" flows)" = 1 ] || fail "the download did not enter the fast path: $FAST"
# Its first segments (TS_FAST_AFTER_SEGS) went through telepodd.
[ "$fast" -ge $((N - 1024 * 1024)) ] || fail "the fast path moved $fast bytes to the application, not >= $N - 1 MiB"
[ "$slow" -lt $((1024 * 1024)) ] || fail "telepodd read $slow bytes off the device itself"
[ "$entries" -ge 2 ] || fail "$entries translations in the map while the flow is in the NAT table"
[ "$(kv "$FAST" attached)" = 1 ] || fail "the classifier is off the device while a flow uses it: $FAST"
tp_ok "fast path: $fast bytes to the application; telepodd read $slow bytes; $entries translations"

tp_step "a refused port fails fast with Connection refused"
# curl 7.88 says "Couldn't connect to server" and names the errno only in
# its verbose lines ("connect to ... failed: Connection refused").
timed in_c curl -sS -v --max-time 10 http://10.96.0.20:81/
[ "$TIMED_RC" = 7 ] || fail "curl exit $TIMED_RC, not 7: $TIMED_OUT"
case $TIMED_OUT in *"failed: Connection refused"*) ;; *) fail "curl said: $TIMED_OUT" ;; esac
[ "$TIMED_MS" -lt 2000 ] || fail "took $TIMED_MS ms"
tp_ok "exit 7 in $TIMED_MS ms: $(grep 'failed:' "$TP_TMP/.timed")"

tp_step "unreachable and blackholed addresses fail fast"
timed in_c curl -sS -v --max-time 20 http://10.96.0.99/
[ "$TIMED_RC" = 7 ] || fail "curl exit $TIMED_RC, not 7: $TIMED_OUT"
case $TIMED_OUT in *"failed: No route to host"*) ;; *) fail "curl said: $TIMED_OUT" ;; esac
[ "$TIMED_MS" -lt 2000 ] || fail "took $TIMED_MS ms"
tp_ok "no route in the cluster: exit 7 in $TIMED_MS ms: $(grep 'failed:' "$TP_TMP/.timed")"
timed in_c curl -sS -v --max-time 30 http://10.96.0.98/
[ "$TIMED_RC" = 7 ] || fail "curl exit $TIMED_RC, not 7: $TIMED_OUT"
case $TIMED_OUT in *"failed: No route to host"*) ;; *) fail "curl said: $TIMED_OUT" ;; esac
[ "$TIMED_MS" -lt 6000 ] || fail "took $TIMED_MS ms"
tp_ok "blackholed (server dial deadline 3 s): exit 7 in $TIMED_MS ms"

tp_step "the TUN's own prefix is refused; UDP gets port unreachable"
timed in_c curl -sS -v --max-time 10 http://198.18.5.5/
[ "$TIMED_RC" = 7 ] || fail "curl exit $TIMED_RC, not 7: $TIMED_OUT"
case $TIMED_OUT in *"failed: Connection refused"*) ;; *) fail "curl said: $TIMED_OUT" ;; esac
[ "$TIMED_MS" -lt 2000 ] || fail "took $TIMED_MS ms"
tp_ok "198.18.5.5: exit 7 in $TIMED_MS ms"
out=$(in_c python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("10.96.0.20", 9))
s.send(b"x")
try:
    s.recv(10)
    print("answered")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
') || fail "the UDP probe failed: $out"
[ "$out" = refused ] || fail "UDP to 10.96.0.20:9: $out, not refused"
tp_ok "UDP: connection refused"

tp_step "32 parallel downloads, each byte-exact"
M=$((4 * 1024 * 1024 + 123))
want=$(pattern_sha256 "$M")
pids=()
for i in $(seq 1 32); do
	in_c curl -sS --max-time 60 -o "$TP_TMP/par.$i" "http://10.96.0.20/bytes?n=$M" \
		>"$TP_TMP/par.$i.err" 2>&1 &
	pids+=($!)
done
bad=0
for i in $(seq 1 32); do
	wait "${pids[i - 1]}" || { bad=$((bad + 1)); cat "$TP_TMP/par.$i.err"; continue; }
	got=$(sha256sum "$TP_TMP/par.$i" | cut -d' ' -f1)
	[ "$got" = "$want" ] || { bad=$((bad + 1)); echo "download $i: sha256 $got"; }
done
rm -f "$TP_TMP"/par.*
[ "$bad" = 0 ] || fail "$bad of 32 parallel downloads failed"
tp_ok "32 x $M bytes"

tp_step "1 GiB through the TUN and over the bare veth (timed; no assertion on speed)"
G=$((1024 * 1024 * 1024))
gbps() { # gbps URL: prints the Gbit/s of downloading URL to /dev/null
	local out size speed
	out=$(in_c curl -sS --max-time 120 -o /dev/null -w '%{size_download} %{speed_download}' "$1") ||
		fail "curl $1 failed: $out"
	read -r size speed <<<"$out"
	[ "$size" = "$G" ] || fail "curl $1: $size bytes, not $G"
	awk -v s="$speed" 'BEGIN { printf "%.2f", s * 8 / 1e9 }'
}
tun=$(gbps "http://10.96.0.20/bytes?n=$G")
bare=$(gbps "http://172.31.250.2:8080/bytes?n=$G")
ratio=$(awk -v a="$tun" -v b="$bare" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
tp_ok "1 GiB: TUN $tun Gbit/s, bare veth $bare Gbit/s (ratio $ratio)"
echo "RESULT tunstack 1GiB tun_gbps=$tun bare_gbps=$bare ratio=$ratio"

tp_step "the fast path's map empties with the NAT table"
# Finished flows stay in the NAT table for 3 s (closed) - longer for ones
# reset mid-way (the blackholed SYN's is gone at once).
empty() {
	counters
	[ "$(kv "$STATS" nat_entries)" = 0 ]
}
tp_retry 20 empty || fail "the NAT table still holds flows: $STATS"
[ "$(kv "$FAST" entries)" = 0 ] || fail "translations left in the map with no flow: $FAST"
[ "$(kv "$FAST" attached)" = 0 ] || fail "the classifier stayed on the device with no flow: $FAST"
tp_ok "no flows, no translations: $FAST"

tp_step "without the fast path, telepodd carries 100 MiB itself, byte-exact"
tp_stop tun TERM 10
[ "$TP_WAIT_RC" = 0 ] || fail "tp-tunstack exited $TP_WAIT_RC"
rm -f "$TP_TMP/ready"
TP_NS=$NC tp_spawn tun "$TUNSTACK" --server 172.31.250.2:7443 --tls-dir "$TLS" \
	--ready-file "$TP_TMP/ready" --no-fast-path ${TP_TUNSTACK_DEBUG:+--debug}
tp_retry 15 test -s "$TP_TMP/ready" || fail "tp-tunstack --no-fast-path did not get ready"
counters
[ "$(kv "$FAST" loaded)" = 0 ] || fail "the fast path is loaded with --no-fast-path: $FAST"
in_c curl -sS --max-time 60 -o "$TP_TMP/big" "http://10.96.0.20/bytes?n=$N" ||
	fail "curl of 100 MiB through the TUN without the fast path failed"
want=$(pattern_sha256 "$N")
got=$(sha256sum "$TP_TMP/big" | cut -d' ' -f1)
rm -f "$TP_TMP/big"
[ "$got" = "$want" ] || fail "sha256 $got, expected $want"
counters
slow=$(kv "$STATS" bytes_in) # a new process: counted from 0
[ "$slow" -ge "$N" ] || fail "telepodd read $slow bytes off the device, not >= $N"
slowtun=$(gbps "http://10.96.0.20/bytes?n=$G")
tp_ok "$N bytes, sha256 $got; telepodd read $slow bytes; 1 GiB at $slowtun Gbit/s (fast path $tun, bare veth $bare)"
echo "RESULT tunstack 1GiB no_fast_path_gbps=$slowtun"

tp_step "without CAP_BPF the kernel refuses the fast path, and it says so"
tp_stop tun TERM 10
[ "$TP_WAIT_RC" = 0 ] || fail "tp-tunstack exited $TP_WAIT_RC"
rm -f "$TP_TMP/ready"
# Root without the two capabilities that load BPF programs (this kernel
# keeps unprivileged BPF off): creating the TUN device and its routes
# needs CAP_NET_ADMIN only.
TP_NS=$NC tp_spawn tun setpriv --bounding-set -bpf,-sys_admin --inh-caps -bpf,-sys_admin \
	"$TUNSTACK" --server 172.31.250.2:7443 --tls-dir "$TLS" \
	--ready-file "$TP_TMP/ready" ${TP_TUNSTACK_DEBUG:+--debug}
tp_retry 15 test -s "$TP_TMP/ready" || fail "tp-tunstack without CAP_BPF did not get ready"
counters
[ "$(kv "$FAST" loaded)" = 0 ] || fail "the fast path is loaded without CAP_BPF: $FAST"
warn=$(grep -m 1 'no kernel fast path' "$TP_TMP/tun.log") ||
	fail "no warning that the fast path is off"
case $warn in
*CAP_BPF*"telepodd carries every packet itself"*) ;;
*) fail "the warning does not say why and what happens: $warn" ;;
esac
want=$(pattern_sha256 "$M")
in_c curl -sS --max-time 60 -o "$TP_TMP/small" "http://10.96.0.20/bytes?n=$M" ||
	fail "a download without the fast path failed"
got=$(sha256sum "$TP_TMP/small" | cut -d' ' -f1)
rm -f "$TP_TMP/small"
[ "$got" = "$want" ] || fail "sha256 $got, expected $want"
tp_ok "$M bytes byte-exact; logged: ${warn#*tun: }"

tp_step "tp-tunstack exits 0 on SIGTERM"
tp_stop tun TERM 10
[ "$TP_WAIT_RC" = 0 ] || fail "tp-tunstack exited $TP_WAIT_RC"
grep -E '^(stats|fast):' "$TP_TMP/tun.log" | tail -n 2 | sed 's/^/   | /'
if grep -q -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TP_TMP/tun.log"; then
	fail "sanitizer report in tp-tunstack's log"
fi
tp_ok "exit 0"
tp_pass
