#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test-dns-stub: the DNS stub and the resolver switch with the real glibc
# resolver (getent), in a network namespace of our own whose
# /etc/resolv.conf is a file of ours bind-mounted in a private mount
# namespace, as `ip netns exec` and containers do. Two dnsmasq play the
# laptop's original resolver and the cluster's; tp-dnsstub runs the stub
# and rewrites resolv.conf (in place: it is a bind mount) around a command.
# Checks: cluster names in every form resolve (bare, NAME.NS, NAME.NS.svc,
# absolute; over UDP and TCP), other names still resolve through the
# original server, unknown names fail, the file comes back byte for byte,
# and after a kill -9 the next start puts it back from the ledger.
#
# The root namespace's /etc/resolv.conf is never written: every write goes
# to the bind mount's source in $TP_TMP (checked at the end).
set -u
. "$(dirname "$0")/lib.sh"
tp_init test-dns-stub
tp_is_root || skip "needs root (a network namespace, a mount namespace, port 53)"
tp_need_cmd ip unshare mount getent ss cmp sha256sum
[ -x /usr/sbin/dnsmasq ] || skip "dnsmasq is not installed"
HELPER=$TP_BUILDDIR/tests/integration/tp-dnsstub
[ -x "$HELPER" ] || skip "$HELPER is not built (run make check)"

host_resolv_sum=$(sha256sum /etc/resolv.conf 2>/dev/null | cut -d' ' -f1)
NS=tpdns$$
tp_netns_new "$NS"
# getaddrinfo's AI_ADDRCONFIG (getent ahostsv4) wants an IPv4 address
# besides loopback: a veth pair with both ends in the namespace.
if ! { ip -n "$NS" link add tpd0 type veth peer name tpd1 &&
	ip -n "$NS" addr add 10.253.0.1/24 dev tpd0 &&
	ip -n "$NS" link set tpd0 up && ip -n "$NS" link set tpd1 up; }; then
	fail "cannot set up an interface in $NS"
fi

# The laptop's resolv.conf before telepod: ends without a newline on purpose.
ORIG=$TP_TMP/resolv.conf
printf '# written by a network manager\nnameserver 127.0.0.1\nsearch corp.test\noptions ndots:1 timeout:2 attempts:2' >"$ORIG"
cp "$ORIG" "$TP_TMP/resolv.conf.before"
LEDGER=$TP_TMP/state/netstate.json

tp_step "set-up: the original resolver and the cluster's, each a dnsmasq in $NS"
dnsmasq_args=(--keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts
	--bind-interfaces --listen-address=127.0.0.1 --user=root --group=root)
TP_NS=$NS tp_spawn original /usr/sbin/dnsmasq "${dnsmasq_args[@]}" --port=5301 \
	--pid-file="$TP_TMP/original.pid" --address=/example.test/192.0.2.80 --local=/nx.test/
TP_NS=$NS tp_spawn cluster /usr/sbin/dnsmasq "${dnsmasq_args[@]}" --port=5302 \
	--pid-file="$TP_TMP/cluster.pid" --local=/cluster.local/ \
	--host-record=gateway.jakub.svc.cluster.local,10.96.0.10 \
	--host-record=db.other.svc.cluster.local,10.96.0.11
# shellcheck disable=SC2317 # run through tp_retry
listening() { ip netns exec "$NS" ss -Hlun "sport = :$1" | grep -q .; }
tp_retry 5 listening 5301 || fail "the original resolver does not listen"
tp_retry 5 listening 5302 || fail "the cluster resolver does not listen"
tp_ok "dnsmasq on 127.0.0.1:5301 (original) and :5302 (cluster)"

# inside NAME CMD...: CMD in $NS with $ORIG bind-mounted over
# /etc/resolv.conf in a private mount namespace.
inside() {
	local name=$1
	shift
	# shellcheck disable=SC2016 # expanded by the inner sh
	TP_NS=$NS tp_run_logged "$name" 40 unshare -m --propagation private \
		sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$ORIG" "$@"
}
# The stub around a command (append the command).
STUB=("$HELPER" --listen 127.0.0.2:53 --server 127.0.0.1:5301 --cluster 127.0.0.1:5302
	--namespace jakub --resolv-conf /etc/resolv.conf --ledger "$LEDGER" --)

CHECKS=$TP_TMP/checks.sh
cat >"$CHECKS" <<'EOF'
# checks.sh OUT: resolves names through the system resolver into OUT.
# first NAME: NAME's first IPv4 address, "none" when it does not resolve.
first() {
	a=$(getent ahostsv4 "$1" | awk 'NR == 1 { print $1 }')
	echo "${a:-none}"
}
{
	echo "bare=$(first gateway)"
	echo "absolute-bare=$(first gateway.)"
	echo "ns=$(first gateway.jakub)"
	echo "svc=$(first gateway.jakub.svc)"
	echo "fqdn=$(first gateway.jakub.svc.cluster.local)"
	echo "other-ns=$(first db.other.svc.cluster.local)"
	echo "both=$(getent ahosts gateway.jakub | awk 'NR == 1 { print $1 }')"
	echo "outside=$(first www.example.test)"
	echo "unknown-cluster=$(first nope.jakub)"
	echo "unknown-outside=$(first foo.nx.test)"
} >"$1"
cp /etc/resolv.conf "$1.resolv"
EOF

expect() { # expect FILE KEY VALUE
	grep -qx "$2=$3" "$1" || fail "$2: expected $3, got $(grep "^$2=" "$1")"
}
check_answers() { # check_answers FILE WHAT
	local f=$1
	expect "$f" bare 10.96.0.10
	expect "$f" absolute-bare 10.96.0.10
	expect "$f" ns 10.96.0.10
	expect "$f" svc 10.96.0.10
	expect "$f" fqdn 10.96.0.10
	expect "$f" other-ns 10.96.0.11
	expect "$f" both 10.96.0.10
	expect "$f" outside 192.0.2.80
	expect "$f" unknown-cluster none
	expect "$f" unknown-outside none
	tp_ok "$2: gateway, gateway., gateway.jakub, gateway.jakub.svc, the FQDN, another namespace's FQDN -> cluster; www.example.test -> original; unknown names fail"
}

tp_step "connected (UDP): glibc resolves through the stub"
inside udp "${STUB[@]}" sh "$CHECKS" "$TP_TMP/udp.out" || fail "tp-dnsstub failed (see udp.log)"
check_answers "$TP_TMP/udp.out" "UDP"
grep -qx 'nameserver 127.0.0.2' "$TP_TMP/udp.out.resolv" || fail "resolv.conf while connected does not name the stub"
grep -q '^nameserver 127.0.0.1' "$TP_TMP/udp.out.resolv" && fail "resolv.conf while connected still names the original server"
grep -qx 'search jakub.svc.cluster.local svc.cluster.local cluster.local corp.test' "$TP_TMP/udp.out.resolv" ||
	fail "resolv.conf while connected: wrong search line"
grep -qx 'options ndots:1 timeout:2 attempts:2' "$TP_TMP/udp.out.resolv" || fail "resolv.conf lost the options line"
grep -q 'rewritten in place: it is a bind mount' "$TP_TMP/udp.log" || fail "tp-dnsstub did not report the in-place rewrite"
tp_ok "resolv.conf while connected: stub only, namespace search domains first, options kept, rewritten in place"
cmp -s "$ORIG" "$TP_TMP/resolv.conf.before" || fail "resolv.conf not restored byte for byte"
[ ! -e "$LEDGER" ] || fail "the ledger still holds records after a clean disconnect"
tp_ok "disconnected: resolv.conf byte-identical to the original, ledger empty"

tp_step "connected (TCP: options use-vc)"
inside tcp env RES_OPTIONS=use-vc "${STUB[@]}" sh "$CHECKS" "$TP_TMP/tcp.out" ||
	fail "tp-dnsstub failed (see tcp.log)"
check_answers "$TP_TMP/tcp.out" "TCP"
grep -q 'gateway.jakub type 1 over tcp: cluster' "$TP_TMP/tcp.log" || fail "the stub saw no TCP query"
grep -q 'over udp' "$TP_TMP/tcp.log" && fail "the stub saw UDP queries under use-vc"
cmp -s "$ORIG" "$TP_TMP/resolv.conf.before" || fail "resolv.conf not restored byte for byte"
tp_ok "restored again"

tp_step "kill -9 while connected, then the next start restores"
# The command kills tp-dnsstub (its parent) with SIGKILL: no clean-up runs.
rc=0
# shellcheck disable=SC2016 # the inner sh's $PPID: tp-dnsstub
inside crash "${STUB[@]}" sh -c 'kill -9 $PPID' || rc=$?
[ "$rc" = 137 ] || fail "tp-dnsstub was not killed (exit $rc)"
grep -q '^# telepod: written by telepodd' "$ORIG" || fail "resolv.conf was not rewritten before the kill"
[ -s "$LEDGER" ] || fail "no ledger after the kill"
tp_ok "killed; resolv.conf still points at the stub and the ledger holds the record"
inside recover "$HELPER" --recover --ledger "$LEDGER" || fail "recovery failed (see recover.log)"
cmp -s "$ORIG" "$TP_TMP/resolv.conf.before" || fail "resolv.conf not restored byte for byte after the kill"
[ ! -e "$LEDGER" ] || fail "the ledger still holds records after recovery"
tp_ok "recovered: resolv.conf byte-identical, ledger empty"

now_sum=$(sha256sum /etc/resolv.conf 2>/dev/null | cut -d' ' -f1)
[ "$now_sum" = "$host_resolv_sum" ] || fail "the host's /etc/resolv.conf changed!"
tp_ok "the host's /etc/resolv.conf untouched"
tp_pass
