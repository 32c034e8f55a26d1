#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test-vpn: telepod's TUN mode end to end in the simulated cluster of
# tests/world (two network namespaces this test creates and deletes). The
# server runs in the cluster namespace with --subnets 10.96.0.0/12 and the
# pod's resolv.conf; telepodd runs in the laptop namespace with its own
# state directory and the laptop's own /etc/resolv.conf
# (/etc/netns/LAPTOP/resolv.conf, a bind mount under `ip netns exec`).
# Unmodified programs, no proxy settings:
#
#  1. `telepod connect -n jakub` (TUN by default): curl creates and fetches
#     the_odyssey through `gateway`; redis-cli SET/GET on redis-master;
#     psql on postgresql; a fully qualified name and a name.namespace name;
#     a name outside the cluster still answered by the laptop's original
#     resolver; 100 MiB byte-exact; a port without listener refused fast.
#  2. `telepod quit`: the laptop's links, addresses, routes and resolv.conf
#     are byte for byte as before connect.
#  3. kill -9 of telepodd while connected, then a new telepodd: the same.
#  4. SIGTERM of telepodd while connected: the same.
#  5. a route the laptop already has overlapping the cluster's subnet: not
#     routed, and `telepod status` says so; --allow-conflicting-subnet
#     routes it; --also-proxy and --never-proxy shape the routes.
#
# The server, and the first telepodd (steps 1 to 3), run with --busy-poll
# 200: the transcript also proves the polling loop relays and stops.
#
# Nothing touches the caller's namespace. Everything is stopped by PID and
# the world torn down on any exit. TP_VPN_BENCH=1 also times 1 GiB through
# the tunnel and over the bare veth and prints both rates.
# shellcheck disable=SC2317 # functions run through tp_retry
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/world/world.sh
. "$here/../world/world.sh"
tp_init vpn
tp_is_root || skip "needs root (network namespaces, TUN device)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
tp_need_programs
tp_need_cmd ip dnsmasq redis-server redis-cli psql curl getent setpriv timeout cmp perl
WORLD_GATEWAY=${WORLD_GATEWAY:-$TP_BUILDDIR/tests/world/gateway}
[ -x "$WORLD_GATEWAY" ] || skip "$WORLD_GATEWAY is not built (run make first)"
export WORLD_GATEWAY WORLD_RABBITMQ=no
export WORLD_CLUSTER_NS=tp-vcl-$$ WORLD_LAPTOP_NS=tp-vlp-$$

WDIR=$TP_TMP/world
chmod 0711 "$TP_TMP" # PostgreSQL (user postgres) must reach $WDIR/pg
SOCK=$TP_TMP/telepodd.sock
STATE=$TP_TMP/state
TLS=$TP_TMP/tls
K8S_NS=jakub
SERVER_ADDR=
RESOLV=

# shellcheck disable=SC2317 # run by the EXIT trap
vpn_exit() {
	local rc=$?
	trap '' INT TERM HUP
	# Our processes first (telepodd restores the laptop), then the world.
	local i pid
	for ((i = ${#TP_PIDS[@]} - 1; i >= 0; i--)); do
		pid=${TP_PIDS[i]}
		tp_pid_running "$pid" && tp__stop_pid "$pid" TERM 5
	done
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -d "$WDIR" ]; then
		world__dump_logs "$WDIR"
	fi
	world_down "$WDIR" >/dev/null 2>&1
	(exit "$rc")
	tp__on_exit
}
trap vpn_exit EXIT

# lp CMD...: CMD in the laptop namespace as a user's terminal runs it: no
# proxy variables, bounded.
lp() {
	timeout -k 2 "${LP_TIMEOUT:-20}" ip netns exec "$WORLD_LAPTOP_NS" \
		env -u http_proxy -u https_proxy -u all_proxy -u no_proxy \
		-u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u NO_PROXY "$@"
}

# snapshot FILE: what telepodd must leave exactly as it found it.
snapshot() {
	{
		echo "## link"
		ip -n "$WORLD_LAPTOP_NS" link
		echo "## addr"
		ip -n "$WORLD_LAPTOP_NS" addr
		echo "## route"
		ip -n "$WORLD_LAPTOP_NS" route show table all
		echo "## route -6"
		ip -n "$WORLD_LAPTOP_NS" -6 route show table all
		echo "## rule"
		ip -n "$WORLD_LAPTOP_NS" rule
		echo "## resolv.conf"
		cat "$RESOLV"
	} >"$1" 2>&1
}

no_tentative() {
	! ip -n "$WORLD_LAPTOP_NS" addr | grep -q tentative
}

same_as_before() {
	snapshot "$TP_TMP/after.txt"
	if ! cmp -s "$TP_TMP/before.txt" "$TP_TMP/after.txt"; then
		diff -u "$TP_TMP/before.txt" "$TP_TMP/after.txt"
		fail "$1: the laptop's links, addresses, routes or resolv.conf differ from before"
	fi
	[ ! -e "$STATE/netstate.json" ] || fail "$1: $STATE/netstate.json is still there"
	tp_ok "$1: links, addresses, routes and resolv.conf byte for byte as before"
}

# reconnected: the session is connected again after at least one reconnect.
reconnected() {
	local js
	js=$(status_json 2>/dev/null) || return 1
	[ "$(printf '%s' "$js" | tp_json connections.0.state)" = connected ] &&
		[ "$(printf '%s' "$js" | tp_json connections.0.reconnects)" -ge 1 ]
}

# start_daemon [ARGS...]: a telepodd in the laptop namespace.
start_daemon() {
	TP_NS=$WORLD_LAPTOP_NS tp_spawn telepodd "$TELEPODD" --foreground \
		--socket "$SOCK" --state-dir "$STATE" --resolver file \
		--log-level debug "$@"
	DAEMON_PID=$TP_LAST_PID
	tp_wait_socket "$SOCK" 10 telepodd
}

connect() {
	local out
	out=$(TP_NS=$WORLD_LAPTOP_NS tp_cli "$SOCK" connect --server "$SERVER_ADDR" \
		--tls-dir "$TLS" -n "$K8S_NS" "$@" 2>&1) || fail "telepod connect $* failed: $out"
	printf '%s\n' "$out" | sed 's/^/   | /'
}

status_json() {
	TP_NS=$WORLD_LAPTOP_NS tp_cli "$SOCK" status -o json
}

# ---- set-up ----------------------------------------------------------------

tp_step "the simulated cluster"
world_up "$WDIR" >"$TP_TMP/world-up.log" 2>&1 || {
	cat "$TP_TMP/world-up.log"
	fail "world_up failed"
}
tp_ok "world up: cluster $WORLD_CLUSTER_NS, laptop $WORLD_LAPTOP_NS"
RESOLV=/etc/netns/$WORLD_LAPTOP_NS/resolv.conf
SERVER_ADDR=$WORLD_CLUSTER_IP:8443
lp bash -c 'exec 3<>/dev/tcp/10.96.0.20/80' 2>/dev/null &&
	fail "the laptop reaches the gateway before telepod connects"
# The veth's IPv6 link-local address is "tentative" for a second or two
# (duplicate address detection): wait, or the snapshot would change alone.
tp_retry 10 no_tentative || fail "the laptop's addresses stay tentative"
snapshot "$TP_TMP/before.txt"
cp "$RESOLV" "$TP_TMP/resolv.before"

tp_certs "$TLS"
TP_NS=$WORLD_CLUSTER_NS tp_spawn server "$TELEPOD_SERVER" \
	--listen "$SERVER_ADDR" --tls-dir "$TLS" --namespace "$K8S_NS" \
	--subnets "$WORLD_SERVICE_CIDR" --busy-poll 200 --log-level debug
tp_retry 10 lp bash -c "exec 3<>/dev/tcp/${SERVER_ADDR%:*}/${SERVER_ADDR#*:}" 2>/dev/null ||
	fail "telepod-server does not listen on $SERVER_ADDR"
# Both ends poll before sleeping (--busy-poll, common/evloop.c) for the
# transcript and the kill -9; the daemons started later do not.
start_daemon --busy-poll 200

# ---- 1. the issue's transcript -------------------------------------------

tp_step "connect (TUN by default)"
connect
js=$(status_json) || fail "status failed: $js"
[ "$(printf '%s' "$js" | tp_json connections.0.tun)" = true ] ||
	fail "status says the session has no TUN: $js"
[ "$(printf '%s' "$js" | tp_json connections.0.subnets.0)" = "$WORLD_SERVICE_CIDR" ] ||
	fail "status does not show $WORLD_SERVICE_CIDR routed: $js"
ip -n "$WORLD_LAPTOP_NS" route show "$WORLD_SERVICE_CIDR" | grep -q "dev tel0" ||
	fail "no route $WORLD_SERVICE_CIDR dev tel0 in the laptop"
cmp -s "$RESOLV" "$TP_TMP/resolv.before" && fail "connect did not configure resolv.conf"
tp_ok "routed $WORLD_SERVICE_CIDR through tel0; resolv.conf now: $(tr '\n' ';' <"$RESOLV")"

tp_step "curl creates and fetches the_odyssey through gateway"
body='{"id": "the_odyssey", "title": "The Odyssey", "passenger_capacity": 101, "maximum_speed": 5, "in_stock": 10}'
out=$(lp curl -sS --max-time 10 http://gateway/products -XPOST -d "$body") || fail "POST failed: $out"
[[ $out == *'"the_odyssey"'* ]] || fail "POST answered: $out"
tp_ok "POST http://gateway/products: $out"
out=$(lp curl -sS --max-time 10 -w ' %{http_code}' http://gateway/products/the_odyssey) || fail "GET failed: $out"
[[ $out == *'"The Odyssey"'*' 200' ]] || fail "GET answered: $out"
tp_ok "GET http://gateway/products/the_odyssey: $out"

tp_step "redis-cli and psql by service name"
out=$(lp redis-cli -h redis-master SET vpn-key "hello tunnel") || fail "redis SET failed: $out"
[ "$out" = OK ] || fail "redis SET answered: $out"
out=$(lp redis-cli -h redis-master GET vpn-key) || fail "redis GET failed: $out"
[ "$out" = "hello tunnel" ] || fail "redis GET answered: $out"
out=$(lp redis-cli -h redis-master GET product:the_odyssey)
[[ $out == *'The Odyssey'* ]] || fail "the gateway's product is not in Redis: $out"
tp_ok "redis-cli -h redis-master SET/GET"
out=$(lp psql -X -h postgresql -U postgres -d shop -Atc "SELECT title FROM products WHERE id = 'the_odyssey'") ||
	fail "psql failed: $out"
[ "$out" = "The Odyssey" ] || fail "psql answered: $out"
tp_ok "psql -h postgresql: $out"

tp_step "names: fully qualified, name.namespace, outside the cluster"
out=$(lp curl -sS --max-time 10 "http://gateway.$K8S_NS.svc.cluster.local/healthz") || fail "FQDN: $out"
tp_ok "curl http://gateway.$K8S_NS.svc.cluster.local/healthz: $out"
out=$(lp redis-cli -h "redis-master.$K8S_NS" PING) || fail "name.namespace: $out"
[ "$out" = PONG ] || fail "redis-cli -h redis-master.$K8S_NS answered: $out"
tp_ok "redis-cli -h redis-master.$K8S_NS PING: PONG"
out=$(lp getent ahostsv4 example.test | head -n 1)
[ "${out%% *}" = 192.0.2.80 ] || fail "example.test (the laptop's own resolver) gave: $out"
out=$(lp getent ahostsv4 www.outside.test | head -n 1)
[ "${out%% *}" = 192.0.2.81 ] || fail "www.outside.test gave: $out"
tp_ok "example.test and www.outside.test still answered by the laptop's resolver"
if lp getent hosts nosuch 2>/dev/null; then
	fail "a name that exists nowhere resolved"
fi
tp_ok "a bare name the cluster does not know does not resolve"

tp_step "100 MiB byte-exact through the tunnel"
n=$((100 << 20))
t0=$(tp_now_ms)
lp curl -sS --max-time 60 "http://gateway/bytes?n=$n" |
	cmp - <(perl -e '$b = join "", map { chr } 0 .. 250; $n = shift;
		while ($n > 0) { $c = $n > 251 * 4096 ? 251 * 4096 : $n;
		print substr($b x 4096, 0, $c); $n -= $c }' "$n") ||
	fail "the 100 MiB transfer differs from the pattern"
ms=$(($(tp_now_ms) - t0))
tp_ok "100 MiB identical in $ms ms"

tp_step "a port without listener is refused, fast"
t0=$(tp_now_ms)
rc=0
out=$(lp curl -sS --max-time 10 http://gateway:81/ 2>&1) || rc=$?
ms=$(($(tp_now_ms) - t0))
[ "$rc" = 7 ] || fail "curl to gateway:81 exited $rc (want 7, cannot connect): $out"
[ "$ms" -lt 3000 ] || fail "curl's failure took $ms ms"
tp_ok "curl http://gateway:81/: $out ($ms ms)"
# curl does not print the errno; bash does (ECONNREFUSED, not a timeout or
# EHOSTUNREACH).
out=$(lp bash -c 'exec 3<>/dev/tcp/gateway/81' 2>&1) && fail "connected to gateway:81"
[[ $out == *"Connection refused"* ]] || fail "connect() to gateway:81 said: $out"
tp_ok "connect() to gateway:81: ${out##*: }"

tp_step "the server restarts: the session reconnects, names and TCP work again"
tp_stop server TERM 10
TP_NS=$WORLD_CLUSTER_NS tp_spawn server "$TELEPOD_SERVER" \
	--listen "$SERVER_ADDR" --tls-dir "$TLS" --namespace "$K8S_NS" \
	--subnets "$WORLD_SERVICE_CIDR" --log-level debug
tp_retry 15 reconnected || fail "the session did not reconnect: $(status_json)"
out=$(tp_retry 5 lp curl -sS --max-time 5 http://gateway/products/the_odyssey) ||
	fail "no gateway after the reconnect: $out"
[[ $out == *'"The Odyssey"'* ]] || fail "after the reconnect the gateway answered: $out"
tp_ok "reconnected; curl http://gateway/products/the_odyssey works again"

tp_step "a second namespace shares the device and the routes"
out=$(TP_NS=$WORLD_LAPTOP_NS tp_cli "$SOCK" connect --server "$SERVER_ADDR" \
	--tls-dir "$TLS" -n staging 2>&1) || fail "connect -n staging failed: $out"
[ "$(ip -n "$WORLD_LAPTOP_NS" route show dev tel0 proto 126 | wc -l)" = 1 ] ||
	fail "routes after a second namespace: $(ip -n "$WORLD_LAPTOP_NS" route show dev tel0 proto 126)"
grep -q '^search staging.svc.cluster.local .*jakub.svc.cluster.local' "$RESOLV" ||
	fail "resolv.conf does not search both namespaces: $(grep search "$RESOLV")"
out=$(lp curl -sS --max-time 10 http://gateway/healthz) || fail "gateway with two namespaces: $out"
TP_NS=$WORLD_LAPTOP_NS tp_cli "$SOCK" quit -n staging >/dev/null || fail "quit -n staging failed"
out=$(lp curl -sS --max-time 10 http://gateway/healthz) || fail "gateway after staging left: $out"
grep -q '^search jakub.svc.cluster.local svc.cluster.local cluster.local$' "$RESOLV" ||
	fail "resolv.conf after staging left: $(grep search "$RESOLV")"
tp_ok "one route for both, both searched; jakub keeps working after staging quits"

# ---- 2. quit ---------------------------------------------------------------

tp_step "quit restores the laptop"
out=$(TP_NS=$WORLD_LAPTOP_NS tp_cli "$SOCK" quit) || fail "quit failed: $out"
same_as_before "after quit"
lp bash -c 'exec 3<>/dev/tcp/10.96.0.20/80' 2>/dev/null && fail "the gateway is still reachable"

# ---- 3. kill -9 and a new daemon ------------------------------------------

tp_step "kill -9 of telepodd, then a new telepodd"
connect
lp curl -sS --max-time 10 http://gateway/healthz >/dev/null || fail "no gateway after reconnecting"
kill -KILL "$DAEMON_PID"
tp_wait_pid "$DAEMON_PID" 5 || fail "telepodd survived SIGKILL"
cmp -s "$TP_TMP/before.txt" <(snapshot /dev/stdout) &&
	fail "nothing was left to recover after kill -9 (resolv.conf should still point at the dead daemon)"
rm -f "$SOCK"
start_daemon
same_as_before "after kill -9 and restart"
out=$(TP_NS=$WORLD_LAPTOP_NS tp_cli "$SOCK" status) || fail "status after recovery: $out"

# ---- 4. SIGTERM ------------------------------------------------------------

tp_step "SIGTERM of a connected telepodd"
connect
tp_stop telepodd TERM 10
[ "$TP_WAIT_RC" = 0 ] || fail "telepodd exited $TP_WAIT_RC on SIGTERM"
same_as_before "after SIGTERM"

# ---- 5. conflicts, --allow-conflicting-subnet, --also-proxy, --never-proxy --

tp_step "a subnet overlapping an existing route is not routed unless allowed"
start_daemon
ip -n "$WORLD_LAPTOP_NS" route add 10.100.0.0/16 via "$WORLD_CLUSTER_IP" dev eth0 ||
	fail "cannot add the conflicting route"
snapshot "$TP_TMP/before.txt"
connect
js=$(status_json)
[ "$(printf '%s' "$js" | tp_json connections.0.skipped_subnets.0.subnet)" = "$WORLD_SERVICE_CIDR" ] ||
	fail "status does not list $WORLD_SERVICE_CIDR as skipped: $js"
out=$(TP_NS=$WORLD_LAPTOP_NS tp_cli "$SOCK" status)
printf '%s\n' "$out" | sed 's/^/   | /'
[[ $out == *"10.96.0.0/12 overlaps 10.100.0.0/16"*"not routed"*"--allow-conflicting-subnet 10.96.0.0/12"* ]] ||
	fail "telepod status does not say that $WORLD_SERVICE_CIDR is not routed"
[ -z "$(ip -n "$WORLD_LAPTOP_NS" route show dev tel0 proto 126)" ] ||
	fail "telepod routes something though the subnet conflicts: $(ip -n "$WORLD_LAPTOP_NS" route show dev tel0 proto 126)"
tp_ok "not routed, and status says why"
TP_NS=$WORLD_LAPTOP_NS tp_cli "$SOCK" quit >/dev/null || fail "quit failed"
same_as_before "after quit (with a conflicting route)"

connect --allow-conflicting-subnet 10.96.0.0/12 --also-proxy 10.244.0.0/16 \
	--never-proxy 10.96.0.22/32
# `ip route` writes host routes without /32.
routes=" $(ip -n "$WORLD_LAPTOP_NS" route show dev tel0 proto 126 | awk '{print $1}' | sort -V | tr '\n' ' ')"
for r in 10.96.0.20/31 10.96.0.23 10.96.0.24/29 10.97.0.0/16 10.104.0.0/13 10.244.0.0/16; do
	[[ $routes == *" $r "* ]] || fail "no route $r (--never-proxy 10.96.0.22/32, --also-proxy 10.244.0.0/16): $routes"
done
[[ $routes == *" 10.96.0.22 "* || $routes == *" 10.96.0.0/12 "* ]] &&
	fail "10.96.0.22 is routed despite --never-proxy: $routes"
tp_ok "routes: $routes"
out=$(lp curl -sS --max-time 10 http://gateway/healthz) || fail "gateway with --allow-conflicting-subnet: $out"
rc=0
LP_TIMEOUT=5 lp psql -X -h postgresql -U postgres -d shop -Atc 'select 1' >/dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "postgresql reachable despite --never-proxy 10.96.0.22/32"
tp_ok "gateway reachable, postgresql (never-proxy) not"
TP_NS=$WORLD_LAPTOP_NS tp_cli "$SOCK" quit >/dev/null || fail "quit failed"
same_as_before "after quit (allowed conflict)"
ip -n "$WORLD_LAPTOP_NS" route del 10.100.0.0/16

# ---- optional: throughput ---------------------------------------------------

if [ "${TP_VPN_BENCH:-0}" = 1 ]; then
	tp_step "1 GiB: bare veth against the tunnel"
	connect
	n=$((1 << 30))
	# rate URL: prints Mbit/s and ms of one curl of URL to /dev/null.
	rate() {
		local t0 t1
		t0=$(tp_now_ms)
		LP_TIMEOUT=130 lp curl -sS --max-time 120 -o /dev/null "$1" || return 1
		t1=$(tp_now_ms)
		echo "$((n * 8 / (t1 - t0) / 1000)) $((t1 - t0))"
	}
	# The bare veth: a second gateway on the cluster's veth address,
	# fetched straight from the laptop (no tunnel, same machine, same
	# HTTP server and client).
	TP_NS=$WORLD_CLUSTER_NS tp_spawn gw2 "$WORLD_GATEWAY" --listen "$WORLD_CLUSTER_IP:8080" --redis redis-master:6379
	tp_retry 10 lp bash -c "exec 3<>/dev/tcp/$WORLD_CLUSTER_IP/8080" 2>/dev/null || fail "second gateway not up"
	read -r veth veth_ms < <(rate "http://$WORLD_CLUSTER_IP:8080/bytes?n=$n") || fail "veth transfer failed"
	read -r tun tun_ms < <(rate "http://gateway/bytes?n=$n") || fail "tunnel transfer failed"
	printf '   1 GiB bare veth: %d.%03d Gbit/s (%d ms); through the tunnel: %d.%03d Gbit/s (%d ms)\n' \
		$((veth / 1000)) $((veth % 1000)) "$veth_ms" $((tun / 1000)) $((tun % 1000)) "$tun_ms"
	TP_NS=$WORLD_LAPTOP_NS tp_cli "$SOCK" quit >/dev/null
fi

tp_stop telepodd TERM 10
[ "$TP_WAIT_RC" = 0 ] || fail "telepodd exited $TP_WAIT_RC on SIGTERM"
tp_stop server TERM 10
[ "$TP_WAIT_RC" = 0 ] || fail "telepod-server exited $TP_WAIT_RC on SIGTERM"
if grep -l -E 'Sanitizer|runtime error' "$TP_TMP"/*.log; then
	fail "a sanitizer reported an error (see the logs)"
fi
tp_pass
