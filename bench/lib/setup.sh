# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Variables are shared between the files of bench/lib and bench/run.
# shellcheck disable=SC2034,SC2153
#
# setup.sh: the bench's world. It is the tests' world (tests/world/world.sh:
# a "cluster" and a "laptop" network namespace joined by a veth pair, the
# cluster's DNS and services) plus what only the bench needs, all inside
# those two namespaces:
#
#   cluster lo 10.96.0.30  bench service: iperf3 :5201, tp-bench HTTP :8080
#                          (1 KiB answers) and echo :7, sockperf :11111
#   cluster lo 10.96.0.11  bench resolver: dnsmasq with the world's records
#                          and no query log (the world's logs every query,
#                          which would fill the disk at 60,000 qps)
#   laptop route 10.0.0.0/8 via the veth: the bare path and sshuttle need a
#                          route; TUN paths add more specific ones
#   cluster nftables table tpbench: rejects veth traffic to 10.96.0.0/12
#                          except while the bare path runs, so every other
#                          path must really carry its traffic
#
# The root namespace's routes, firewall and resolv.conf are never touched.

BENCH_SVC_IP=10.96.0.30
BENCH_DNS_IP=10.96.0.11
BENCH_PORT_IPERF=5201
BENCH_PORT_HTTP=8080
BENCH_PORT_ECHO=7
BENCH_PORT_SOCKPERF=11111
BENCH_VETH_ROUTE=10.0.0.0/8

# in_lp CMD...: runs CMD in the laptop namespace.
in_lp() {
	ip netns exec "$WORLD_LAPTOP_NS" "$@"
}

# in_cl CMD...: runs CMD in the cluster namespace.
in_cl() {
	ip netns exec "$WORLD_CLUSTER_NS" "$@"
}

# bench_world_up: the world, the bench services, the route and the block.
bench_world_up() {
	local name ip
	local -a rec=()
	export WORLD_CLUSTER_NS="tpb-cl-$$" WORLD_LAPTOP_NS="tpb-lp-$$"
	export WORLD_RABBITMQ=no WORLD_GATEWAY="$BENCH_BUILD/tests/world/gateway"
	[ -x "$WORLD_GATEWAY" ] || bench_die "$WORLD_GATEWAY is not built: run make"
	BENCH_WORLD=$BENCH_TMP/world
	# world_up needs DIR reachable by the postgres user.
	chmod 0711 "$BENCH_TMP"
	if ! world_up "$BENCH_WORLD" >"$BENCH_TMP/world.log" 2>&1; then
		tail -n 30 "$BENCH_TMP/world.log" >&2
		bench_die "the world did not come up (log above)"
	fi
	BENCH_WORLD_UP=1
	bench_log "world up: cluster ns $WORLD_CLUSTER_NS, laptop ns $WORLD_LAPTOP_NS"

	ip -n "$WORLD_CLUSTER_NS" addr add "$BENCH_SVC_IP/32" dev lo || return 1
	ip -n "$WORLD_CLUSTER_NS" addr add "$BENCH_DNS_IP/32" dev lo || return 1
	ip -n "$WORLD_LAPTOP_NS" route replace "$BENCH_VETH_ROUTE" via "$WORLD_CLUSTER_IP" || return 1
	# Many short connections per second: widen the ephemeral port range
	# (a per-namespace setting).
	in_lp sysctl -q -w net.ipv4.ip_local_port_range="1024 65000" || true
	in_cl sysctl -q -w net.ipv4.ip_local_port_range="1024 65000" || true

	while read -r name ip; do
		rec+=("--host-record=$name,$ip")
	done < <(world_services)
	bench_spawn bench-dns "$WORLD_CLUSTER_NS" /usr/sbin/dnsmasq --keep-in-foreground \
	    --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
	    --listen-address="$BENCH_DNS_IP" --bind-interfaces --port=53 \
	    --local="/$WORLD_CLUSTER_DOMAIN/" --domain-needed --cache-size=10000 \
	    --dns-forward-max=1000 "${rec[@]}" \
	    --srv-host="_http._tcp.gateway.$WORLD_K8S_NAMESPACE.svc.$WORLD_CLUSTER_DOMAIN,gateway.$WORLD_K8S_NAMESPACE.svc.$WORLD_CLUSTER_DOMAIN,80,0,100" \
	    --pid-file="$BENCH_TMP/bench-dns.pid" --log-facility=-
	bench_spawn iperf3-server "$WORLD_CLUSTER_NS" iperf3 -s -B "$BENCH_SVC_IP" -p "$BENCH_PORT_IPERF"
	bench_spawn service "$WORLD_CLUSTER_NS" "$BENCH_TOOL" serve \
	    --http "$BENCH_SVC_IP:$BENCH_PORT_HTTP" --echo "$BENCH_SVC_IP:$BENCH_PORT_ECHO" --body 1024
	bench_spawn sockperf-server "$WORLD_CLUSTER_NS" sockperf server --tcp \
	    -i "$BENCH_SVC_IP" -p "$BENCH_PORT_SOCKPERF"
	bench_retry 10 bench_tcp_listening "$WORLD_CLUSTER_NS" "$BENCH_SVC_IP" "$BENCH_PORT_IPERF" ||
		bench_die "iperf3 does not listen (see $BENCH_TMP/iperf3-server.log)"
	bench_retry 10 bench_tcp_listening "$WORLD_CLUSTER_NS" "$BENCH_SVC_IP" "$BENCH_PORT_HTTP" ||
		bench_die "tp-bench serve does not listen (see $BENCH_TMP/service.log)"
	bench_retry 10 bench_tcp_listening "$WORLD_CLUSTER_NS" "$BENCH_SVC_IP" "$BENCH_PORT_SOCKPERF" ||
		bench_die "sockperf does not listen (see $BENCH_TMP/sockperf-server.log)"
	bench_retry 10 bench_tcp_listening "$WORLD_CLUSTER_NS" "$BENCH_DNS_IP" 53 ||
		bench_die "the bench resolver does not listen (see $BENCH_TMP/bench-dns.log)"
	bench_block_on || bench_die "cannot install the nftables block in $WORLD_CLUSTER_NS"
	# The world's processes and the bench services: not part of any path.
	bench_snapshot_pids >"$BENCH_TMP/base.pids"
}

bench_world_down() {
	[ "${BENCH_WORLD_UP:-0}" = 1 ] || return 0
	world_down "$BENCH_WORLD" >>"$BENCH_TMP/world.log" 2>&1 ||
		bench_log "world_down reported a problem (see $BENCH_TMP/world.log)"
	BENCH_WORLD_UP=0
}

# bench_block_on: veth traffic to the service range is rejected (TCP with
# a reset, the rest with ICMP) and counted, in the cluster namespace only.
bench_block_on() {
	in_cl nft -f - <<-EOF
		table ip tpbench {
			chain input {
				type filter hook input priority 0; policy accept;
				iifname "eth0" ip daddr $WORLD_SERVICE_CIDR meta l4proto tcp counter reject with tcp reset
				iifname "eth0" ip daddr $WORLD_SERVICE_CIDR counter reject
			}
		}
	EOF
}

bench_block_off() {
	in_cl nft delete table ip tpbench 2>/dev/null
	return 0
}

# bench_block_count: packets the block has rejected so far.
bench_block_count() {
	in_cl nft list table ip tpbench 2>/dev/null |
		awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") s += $(i + 1) } END { print s + 0 }'
}

# bench_direct_fails: a direct request from the laptop to the service
# fails (the block works), over TCP and for DNS over UDP.
bench_direct_fails() {
	if in_lp curl -s -o /dev/null --noproxy '*' --max-time 2 \
	    "http://$BENCH_SVC_IP:$BENCH_PORT_HTTP/"; then
		return 1
	fi
	if in_lp bash -c "$(declare -f world_dns_query world__err); world_dns_query \"\$@\"" _ \
	    "$BENCH_DNS_IP" "gateway.$WORLD_K8S_NAMESPACE.svc.$WORLD_CLUSTER_DOMAIN" A \
	    >/dev/null 2>&1; then
		return 1
	fi
	return 0
}

# bench_snapshot_pids: "NS PID" of every process in the two namespaces,
# except PostgreSQL's (the world's database forks workers at any time).
bench_snapshot_pids() {
	local ns pid
	for ns in "$WORLD_LAPTOP_NS" "$WORLD_CLUSTER_NS"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ] && continue
			echo "$ns $pid"
		done
	done | sort
}
