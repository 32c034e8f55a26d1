#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# world.sh: the simulated cluster ("world") the tunnel tests and `telepod demo`
# run against, built from real Debian packages inside two network namespaces
# this script creates itself:
#
#   laptop ns  eth0 192.168.250.2/30 <--veth--> 192.168.250.1/30 eth0  cluster ns
#   resolver 127.0.0.53 (dnsmasq)               lo: 10.96.0.10 dns (dnsmasq)
#                                                   10.96.0.20 gateway :80
#                                                   10.96.0.21 redis-master :6379
#                                                   10.96.0.22 postgresql :5432
#                                                   10.96.0.23 rabbitmq :5672
#                                                   10.244.0.5 pod IP (telepod-server)
#
# Nothing is added to the root namespace: the veth pair is created inside the
# cluster namespace with its peer placed straight into the laptop namespace,
# and 10.96.0.0/12 exists only on the cluster namespace's lo. See README.md.
#
# Use as a CLI:       world.sh up DIR | down DIR | status DIR
# or as a library:    . tests/world/world.sh; world_up DIR; ...; world_down DIR
#
# State goes to DIR/world.env (sourceable; names, addresses, what was created)
# and DIR/world.pids ("NAME PID STARTTIME" per process started), written as
# each step completes, so another process can tear the world down and `down`
# works after a partial or killed `up`. Processes are stopped by recorded PID
# (checked against the start time, so a recycled PID is never signalled).
#
# Settings (environment, read by world_up):
#   WORLD_CLUSTER_NS   cluster namespace name (default tp-cl-$$)
#   WORLD_LAPTOP_NS    laptop namespace name  (default tp-lp-$$)
#   WORLD_K8S_NAMESPACE  Kubernetes namespace in service names (default jakub)
#   WORLD_RABBITMQ     auto|yes|no (default auto: yes when rabbitmq-server is installed)
#   WORLD_GATEWAY      path of the gateway binary (default: found in the build tree)
#   WORLD_FAIL_AFTER   test hook: make `up` fail after the named step
#                      (netns etc dns redis rabbitmq gateway postgres ready)
#   WORLD_KEEP_ON_FAIL 1: a failed `up` leaves what it built (to inspect it;
#                      `down DIR` removes it)

# Single-quoted scripts below are run by `bash -c` with positional arguments.
# shellcheck disable=SC2016,SC2034

world__src=${BASH_SOURCE[0]}

# Fixed addresses: private ranges that exist only inside the namespaces.
WORLD_CLUSTER_IP=192.168.250.1
WORLD_LAPTOP_IP=192.168.250.2
WORLD_VETH_PREFIX=30
WORLD_DNS_IP=10.96.0.10
WORLD_GATEWAY_IP=10.96.0.20
WORLD_REDIS_IP=10.96.0.21
WORLD_POSTGRES_IP=10.96.0.22
WORLD_RABBITMQ_IP=10.96.0.23
WORLD_POD_IP=10.244.0.5
WORLD_SERVICE_CIDR=10.96.0.0/12
WORLD_LAPTOP_DNS_IP=127.0.0.53
WORLD_CLUSTER_DOMAIN=cluster.local

world__say() {
	echo "world: $*"
}

world__err() {
	echo "world: error: $*" >&2
}

world__now() {
	echo "${EPOCHREALTIME/[.,]/}"
}

# Prints milliseconds since a world__now stamp.
world__ms_since() {
	echo $((($(world__now) - $1) / 1000))
}

world__valid_name() {
	[[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$ ]]
}

# Appends NAME=VALUE (shell-quoted) to DIR/world.env.
world__record() {
	printf '%s=%q\n' "$2" "$3" >>"$1/world.env"
}

world__record_add() {
	printf '%s+=%q\n' "$2" " $3" >>"$1/world.env"
}

# Clears and then loads DIR/world.env into the current shell.
world_load() {
	local dir=$1
	unset WORLD_DIR WORLD_CREATED_DIR WORLD_OWNED_NETNS WORLD_OWNED_ETC \
	    WORLD_CREATED_ETC_NETNS WORLD_PG_STARTED WORLD_PG_DIR WORLD_PG_BIN
	WORLD_OWNED_NETNS=
	WORLD_OWNED_ETC=
	[ -f "$dir/world.env" ] || return 1
	# shellcheck disable=SC1091
	. "$dir/world.env"
}

# Start time (clock ticks since boot) of a live, non-zombie process.
world__starttime() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	# shellcheck disable=SC2086
	set -- ${stat##*) }
	[ "$1" != Z ] && [ "$1" != X ] || return 1
	echo "${20}"
}

# True when PID is alive and is still the process recorded with START.
world__alive() {
	local st
	[ "$2" != 0 ] || return 1
	st=$(world__starttime "$1") || return 1
	[ "$st" = "$2" ]
}

# Runs CMD in the background with output appended to LOG and records it.
world__spawn() {
	local dir=$1 name=$2 log=$3 pid st
	shift 3
	"$@" </dev/null >>"$log" 2>&1 &
	pid=$!
	st=$(world__starttime "$pid") || st=0
	echo "$name $pid $st" >>"$dir/world.pids"
	world__say "  $name: pid $pid"
}

# Records an already running process (e.g. a daemon's child) by PID.
world__adopt() {
	local dir=$1 name=$2 pid=$3 st
	st=$(world__starttime "$pid") || return 1
	echo "$name $pid $st" >>"$dir/world.pids"
	world__say "  $name: pid $pid"
}

# SIGTERM, then SIGKILL after 5 s; returns 1 if the process outlives both.
world__kill() {
	local name=$1 pid=$2 st=$3 i
	world__alive "$pid" "$st" || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		world__alive "$pid" "$st" || return 0
		sleep 0.1
	done
	world__say "$name (pid $pid) ignored SIGTERM for 5 s: SIGKILL"
	kill -KILL "$pid" 2>/dev/null
	for ((i = 0; i < 30; i++)); do
		world__alive "$pid" "$st" || return 0
		sleep 0.1
	done
	world__err "$name (pid $pid) survives SIGKILL"
	return 1
}

# Runs CMD up to TRIES times, DELAY seconds apart, until it succeeds.
world__retry() {
	local tries=$1 delay=$2 i
	shift 2
	for ((i = 1; i <= tries; i++)); do
		"$@" && return 0
		sleep "$delay"
	done
	return 1
}

# True when a TCP connection to IP PORT can be opened (run inside a netns).
world__tcp_open() {
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

world__fail_hook() {
	if [ "${WORLD_FAIL_AFTER:-}" = "$1" ]; then
		world__err "failing after step $1 (WORLD_FAIL_AFTER)"
		return 1
	fi
}

world__find_gateway() {
	local here cand
	here=$(cd "$(dirname "$world__src")" && pwd)
	for cand in "${WORLD_GATEWAY:-}" \
	    "${top_builddir:+$top_builddir/tests/world/gateway}" \
	    "$here/gateway" "$here/../../_build/tests/world/gateway"; do
		if [ -n "$cand" ] && [ -x "$cand" ]; then
			echo "$cand"
			return 0
		fi
	done
	world__err "gateway binary not found: build it (make) or set WORLD_GATEWAY=PATH"
	return 1
}

world__find_pg_bin() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && echo "$d"
	done | sort -V | tail -n 1 | grep .
}

# Every service name of the world, "NAME IP" per line.
world_services() {
	local ns=${WORLD_K8S_NAMESPACE:-jakub} d=$WORLD_CLUSTER_DOMAIN
	echo "kube-dns.kube-system.svc.$d $WORLD_DNS_IP"
	echo "gateway.$ns.svc.$d $WORLD_GATEWAY_IP"
	echo "redis-master.$ns.svc.$d $WORLD_REDIS_IP"
	echo "postgresql.$ns.svc.$d $WORLD_POSTGRES_IP"
	if [ "${WORLD_RABBITMQ:-0}" = 1 ]; then
		echo "rabbitmq.$ns.svc.$d $WORLD_RABBITMQ_IP"
	fi
}

world_in_cluster() {
	ip netns exec "$WORLD_CLUSTER_NS" "$@"
}

world_in_laptop() {
	ip netns exec "$WORLD_LAPTOP_NS" "$@"
}

# world__settle_link NS: waits (bounded) until NS's eth0 has its carrier and
# its IPv6 link-local address, which the kernel adds asynchronously after
# `link set up`. Tests snapshot the laptop's links and routes to prove that
# telepod restores them; a snapshot taken before the link settled would
# differ from a later one for reasons that have nothing to do with telepod.
world__settle_link() {
	local ns=$1 i
	for i in $(seq 1 100); do
		if ! ip -n "$ns" -o link show eth0 | grep -q NO-CARRIER &&
		    ip -n "$ns" -o link show eth0 | grep -q 'state UP' &&
		    ip -n "$ns" -6 -o addr show dev eth0 | grep -q 'fe80' &&
		    ! ip -n "$ns" -6 -o addr show dev eth0 | grep -q tentative; then
			return 0
		fi
		sleep 0.05
	done
	world__err "eth0 in $ns did not come up within 5 s"
	return 1
}

world__up_netns() {
	local dir=$1 cl=$WORLD_CLUSTER_NS lp=$WORLD_LAPTOP_NS a
	world__say "netns: $cl (cluster) and $lp (laptop), veth $WORLD_CLUSTER_IP <-> $WORLD_LAPTOP_IP"
	ip netns add "$cl" || return 1
	world__record_add "$dir" WORLD_OWNED_NETNS "$cl"
	ip netns add "$lp" || return 1
	world__record_add "$dir" WORLD_OWNED_NETNS "$lp"
	ip -n "$cl" link set lo up || return 1
	ip -n "$lp" link set lo up || return 1
	# Created inside the cluster namespace, peer moved straight into the
	# laptop namespace: the root namespace never sees either end.
	ip -n "$cl" link add eth0 type veth peer name eth0 netns "$lp" || return 1
	ip -n "$cl" addr add "$WORLD_CLUSTER_IP/$WORLD_VETH_PREFIX" dev eth0 || return 1
	ip -n "$lp" addr add "$WORLD_LAPTOP_IP/$WORLD_VETH_PREFIX" dev eth0 || return 1
	# No duplicate-address detection on the veth: its link-local address
	# is then final at once instead of "tentative" for a second.
	for a in "$cl" "$lp"; do
		ip netns exec "$a" sh -c 'echo 0 >/proc/sys/net/ipv6/conf/eth0/accept_dad' || return 1
	done
	ip -n "$cl" link set eth0 up || return 1
	ip -n "$lp" link set eth0 up || return 1
	world__settle_link "$cl" || return 1
	world__settle_link "$lp" || return 1
	for a in "$WORLD_DNS_IP" "$WORLD_GATEWAY_IP" "$WORLD_REDIS_IP" \
	    "$WORLD_POSTGRES_IP" "$WORLD_RABBITMQ_IP" "$WORLD_POD_IP"; do
		ip -n "$cl" addr add "$a/32" dev lo || return 1
	done
}

# /etc/netns/NAME/{resolv.conf,hosts}: `ip netns exec` bind-mounts them over
# /etc, which is how a pod and the laptop get their own resolver.
world__up_etc() {
	local dir=$1 cl=$WORLD_CLUSTER_NS lp=$WORLD_LAPTOP_NS ns=$WORLD_K8S_NAMESPACE n
	if [ ! -d /etc/netns ]; then
		mkdir -p /etc/netns || return 1
		world__record "$dir" WORLD_CREATED_ETC_NETNS 1
	fi
	for n in "$cl" "$lp"; do
		if ! mkdir "/etc/netns/$n"; then
			world__err "/etc/netns/$n exists already: another world uses the name $n"
			return 1
		fi
		world__record_add "$dir" WORLD_OWNED_ETC "$n"
		printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"/etc/netns/$n/hosts" || return 1
	done
	printf 'nameserver %s\nsearch %s.svc.%s svc.%s %s\noptions ndots:5\n' \
	    "$WORLD_DNS_IP" "$ns" "$WORLD_CLUSTER_DOMAIN" "$WORLD_CLUSTER_DOMAIN" \
	    "$WORLD_CLUSTER_DOMAIN" >"/etc/netns/$cl/resolv.conf" || return 1
	printf 'nameserver %s\n' "$WORLD_LAPTOP_DNS_IP" >"/etc/netns/$lp/resolv.conf" || return 1
	world__say "resolv.conf: cluster -> $WORLD_DNS_IP (search $ns.svc.$WORLD_CLUSTER_DOMAIN ...), laptop -> $WORLD_LAPTOP_DNS_IP"
}

world__up_dns() {
	local dir=$1 ns=$WORLD_K8S_NAMESPACE d=$WORLD_CLUSTER_DOMAIN name ip
	local -a rec=()
	while read -r name ip; do
		rec+=("--host-record=$name,$ip")
	done < <(world_services)
	: >"$dir/dnsmasq-cluster.log"
	: >"$dir/dnsmasq-laptop.log"
	chmod 0666 "$dir/dnsmasq-cluster.log" "$dir/dnsmasq-laptop.log"
	world__say "dns: dnsmasq on $WORLD_DNS_IP:53 for *.$d, laptop resolver on $WORLD_LAPTOP_DNS_IP:53"
	# --local: names under cluster.local that are not listed get NXDOMAIN;
	# --no-resolv: nothing is ever forwarded out of the world.
	world__spawn "$dir" dnsmasq-cluster "$dir/dnsmasq-cluster.out" \
	    ip netns exec "$WORLD_CLUSTER_NS" /usr/sbin/dnsmasq --keep-in-foreground \
	    --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
	    --listen-address="$WORLD_DNS_IP" --bind-interfaces --port=53 \
	    --local="/$d/" --domain-needed \
	    "${rec[@]}" \
	    --srv-host="_http._tcp.gateway.$ns.svc.$d,gateway.$ns.svc.$d,80,0,100" \
	    --srv-host="_redis._tcp.redis-master.$ns.svc.$d,redis-master.$ns.svc.$d,6379,0,100" \
	    --srv-host="_postgresql._tcp.postgresql.$ns.svc.$d,postgresql.$ns.svc.$d,5432,0,100" \
	    --txt-record="info.$ns.svc.$d,telepod test world" \
	    --pid-file="$dir/dnsmasq-cluster.pid" \
	    --log-facility="$dir/dnsmasq-cluster.log" --log-queries
	world__spawn "$dir" dnsmasq-laptop "$dir/dnsmasq-laptop.out" \
	    ip netns exec "$WORLD_LAPTOP_NS" /usr/sbin/dnsmasq --keep-in-foreground \
	    --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
	    --listen-address="$WORLD_LAPTOP_DNS_IP" --bind-interfaces --port=53 \
	    --local=/test/ \
	    --host-record=example.test,192.0.2.80 \
	    --address=/outside.test/192.0.2.81 \
	    --txt-record=example.test,"laptop resolver" \
	    --pid-file="$dir/dnsmasq-laptop.pid" \
	    --log-facility="$dir/dnsmasq-laptop.log" --log-queries
}

world__up_redis() {
	local dir=$1
	world__say "redis: $WORLD_REDIS_IP:6379"
	world__spawn "$dir" redis "$dir/redis.log" \
	    ip netns exec "$WORLD_CLUSTER_NS" /usr/bin/redis-server \
	    --bind "$WORLD_REDIS_IP" --port 6379 --daemonize no --save '' \
	    --appendonly no --dir "$dir" --protected-mode no --logfile ''
}

world__up_rabbitmq() {
	local dir=$1 r=$1/rabbitmq i pid
	world__say "rabbitmq: $WORLD_RABBITMQ_IP:5672 (epmd on 127.0.0.1:4369)"
	mkdir -p "$r/mnesia" "$r/log" || return 1
	printf 'loopback_users.guest = false\nlisteners.tcp.default = %s:5672\n' \
	    "$WORLD_RABBITMQ_IP" >"$r/rabbitmq.conf" || return 1
	: >"$r/enabled_plugins"
	# Our own epmd in the foreground, so the node does not daemonize one
	# we could not stop by PID.
	world__spawn "$dir" epmd "$r/epmd.log" \
	    ip netns exec "$WORLD_CLUSTER_NS" /usr/bin/epmd -address 127.0.0.1
	world__retry 50 0.1 world_in_cluster bash -c \
	    "$(declare -f world__tcp_open); world__tcp_open 127.0.0.1 4369" || {
		world__err "epmd did not start (see $r/epmd.log)"
		return 1
	}
	world__spawn "$dir" rabbitmq "$r/out.log" \
	    ip netns exec "$WORLD_CLUSTER_NS" env HOME="$r" \
	    RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_MNESIA_BASE="$r/mnesia" \
	    RABBITMQ_LOG_BASE="$r/log" RABBITMQ_LOGS="$r/log/rabbit.log" \
	    RABBITMQ_CONFIG_FILE="$r/rabbitmq.conf" \
	    RABBITMQ_ENABLED_PLUGINS_FILE="$r/enabled_plugins" \
	    RABBITMQ_PID_FILE="$r/rabbit.pid" ERL_EPMD_ADDRESS=127.0.0.1 \
	    /usr/lib/rabbitmq/bin/rabbitmq-server
	# The Erlang VM is a child of the start script: record it as well.
	for ((i = 0; i < 100; i++)); do
		pid=$(cat "$r/rabbit.pid" 2>/dev/null)
		if [ -n "$pid" ] && world__adopt "$dir" rabbitmq-beam "$pid"; then
			return 0
		fi
		sleep 0.1
	done
	world__err "rabbitmq did not write $r/rabbit.pid (see $r/out.log)"
	return 1
}

world__up_gateway() {
	local dir=$1 gw
	gw=$(world__find_gateway) || return 1
	world__say "gateway: $WORLD_GATEWAY_IP:80 -> redis-master:6379 ($gw)"
	world__spawn "$dir" gateway "$dir/gateway.log" \
	    ip netns exec "$WORLD_CLUSTER_NS" "$gw" \
	    --listen "$WORLD_GATEWAY_IP:80" --redis redis-master:6379
}

world__pg() {
	ip netns exec "$WORLD_CLUSTER_NS" setpriv --reuid=postgres \
	    --regid=postgres --init-groups --reset-env -- "$@"
}

world__up_postgres() {
	local dir=$1 pg=$1/pg bin pid t0
	bin=$(world__find_pg_bin) || {
		world__err "PostgreSQL not found in /usr/lib/postgresql/*/bin: apt-get install postgresql"
		return 1
	}
	t0=$(world__now)
	world__say "postgresql: $WORLD_POSTGRES_IP:5432 ($bin), data in $pg"
	install -d -o postgres -g postgres -m 0700 "$pg" || return 1
	install -d -o postgres -g postgres -m 0755 "$dir/pgsock" || return 1
	install -o postgres -g postgres -m 0644 /dev/null "$dir/postgresql.log" || return 1
	world__record "$dir" WORLD_PG_DIR "$pg"
	world__record "$dir" WORLD_PG_BIN "$bin"
	if ! world__pg "$bin/initdb" -D "$pg" -U postgres --auth=trust \
	    --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
		world__err "initdb failed (see $dir/initdb.log)"
		return 1
	fi
	cat >"$pg/pg_hba.conf" <<-EOF || return 1
		# telepod test world: trust inside the namespaces only.
		local all all trust
		host all all 127.0.0.1/32 trust
		host all all 10.0.0.0/8 trust
		host all all 192.168.0.0/16 trust
	EOF
	cat >>"$pg/postgresql.conf" <<-EOF || return 1
		listen_addresses = '$WORLD_POSTGRES_IP'
		port = 5432
		unix_socket_directories = '$dir/pgsock'
		fsync = off
		synchronous_commit = off
		full_page_writes = off
	EOF
	world__say "  initdb: $(world__ms_since "$t0") ms"
	world__record "$dir" WORLD_PG_STARTED 1
	if ! world__pg "$bin/pg_ctl" -D "$pg" -l "$dir/postgresql.log" -w -t 30 \
	    start >>"$dir/pg_ctl.log" 2>&1; then
		world__err "PostgreSQL did not start (see $dir/postgresql.log)"
		return 1
	fi
	pid=$(head -n 1 "$pg/postmaster.pid" 2>/dev/null)
	world__adopt "$dir" postgres "$pid" || return 1
	world_in_cluster psql -X -q -v ON_ERROR_STOP=1 -h "$dir/pgsock" \
	    -U postgres -d postgres -c 'CREATE DATABASE shop' >/dev/null || return 1
	world_in_cluster psql -X -q -v ON_ERROR_STOP=1 -h "$dir/pgsock" \
	    -U postgres -d shop >/dev/null <<-EOF || return 1
		CREATE TABLE products (id text PRIMARY KEY, title text NOT NULL,
		    passenger_capacity integer, maximum_speed integer, in_stock integer);
		INSERT INTO products VALUES ('the_odyssey', 'The Odyssey', 101, 5, 10);
	EOF
	world__say "  started and seeded database shop: $(world__ms_since "$t0") ms"
}

# Readiness checks, each run inside the cluster namespace with bounded retries.
world__check() {
	local what=$1 t0
	shift
	t0=$(world__now)
	if world__retry 300 0.1 "$@" >/dev/null 2>&1; then
		world__say "ready: $what ($(world__ms_since "$t0") ms)"
		return 0
	fi
	world__err "not ready after 30 s: $what"
	return 1
}

# world_amqp_ok HOST: true when an AMQP 0-9-1 broker answers on HOST:5672
# (it replies to the protocol header with a method frame, type 1).
world_amqp_ok() {
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/5672" || exit 1
		printf "AMQP\0\0\11\1" >&3
		[ "$(head -c 1 <&3 | od -An -tx1 | tr -d " ")" = 01 ]' _ "$1"
}

world__wait_ready() {
	local dir=$1 ns=$WORLD_K8S_NAMESPACE d=$WORLD_CLUSTER_DOMAIN name ip
	while read -r name ip; do
		world__check "dns $name -> $ip" world_in_cluster bash -c \
		    '[ "$(getent ahostsv4 "$1" | head -n 1 | cut -d " " -f 1)" = "$2" ]' _ "$name" "$ip" || return 1
	done < <(world_services)
	world__check "laptop resolver example.test" world_in_laptop bash -c \
	    '[ "$(getent ahostsv4 example.test | head -n 1 | cut -d " " -f 1)" = 192.0.2.80 ]' || return 1
	world__check "redis-cli -h $WORLD_REDIS_IP ping" world_in_cluster bash -c \
	    '[ "$(redis-cli -h "$1" ping)" = PONG ]' _ "$WORLD_REDIS_IP" || return 1
	world__check "curl http://$WORLD_GATEWAY_IP/healthz" world_in_cluster \
	    curl -sf --noproxy '*' --max-time 2 "http://$WORLD_GATEWAY_IP/healthz" || return 1
	world__check "psql -h $WORLD_POSTGRES_IP select 1" world_in_cluster \
	    psql -X -h "$WORLD_POSTGRES_IP" -U postgres -d shop -Atc 'select 1' || return 1
	if [ "$WORLD_RABBITMQ" = 1 ]; then
		world__check "amqp $WORLD_RABBITMQ_IP:5672" world_in_cluster bash -c \
		    "$(declare -f world_amqp_ok); world_amqp_ok $WORLD_RABBITMQ_IP" || return 1
	fi
}

# Prints the tail of every log of the world (before a failed up removes them).
world__dump_logs() {
	local f
	for f in "$1"/*.log "$1"/*.out "$1"/rabbitmq/out.log; do
		[ -s "$f" ] || continue
		printf -- '----- world %s (last 20 lines) -----\n' "${f#"$1"/}"
		tail -n 20 "$f"
	done
}

# world_up DIR: builds the world; returns 0 only when every service answers.
# On failure everything created so far is torn down again.
world_up() {
	local dir=${1:?usage: world_up DIR} t0 created=0 step
	t0=$(world__now)
	WORLD_CLUSTER_NS=${WORLD_CLUSTER_NS:-tp-cl-$$}
	WORLD_LAPTOP_NS=${WORLD_LAPTOP_NS:-tp-lp-$$}
	WORLD_K8S_NAMESPACE=${WORLD_K8S_NAMESPACE:-jakub}
	case ${WORLD_RABBITMQ:-auto} in
	auto) [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] && WORLD_RABBITMQ=1 || WORLD_RABBITMQ=0 ;;
	yes | 1) WORLD_RABBITMQ=1 ;;
	no | 0) WORLD_RABBITMQ=0 ;;
	*) world__err "WORLD_RABBITMQ must be auto, yes or no"; return 1 ;;
	esac
	if [ "$(id -u)" != 0 ]; then
		world__err "must run as root (it creates network namespaces)"
		return 1
	fi
	if ! world__valid_name "$WORLD_CLUSTER_NS" || ! world__valid_name "$WORLD_LAPTOP_NS" ||
	    [ "$WORLD_CLUSTER_NS" = "$WORLD_LAPTOP_NS" ]; then
		world__err "namespace names must be two different [A-Za-z0-9_.-]{1,32} names"
		return 1
	fi
	if ! [[ $WORLD_K8S_NAMESPACE =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]]; then
		world__err "WORLD_K8S_NAMESPACE must be a DNS label"
		return 1
	fi
	if [ -e "/run/netns/$WORLD_CLUSTER_NS" ] || [ -e "/run/netns/$WORLD_LAPTOP_NS" ]; then
		world__err "namespace $WORLD_CLUSTER_NS or $WORLD_LAPTOP_NS exists already"
		return 1
	fi
	if [ -e "$dir/world.env" ]; then
		world__err "$dir/world.env exists: a world is up there; run: $world__src down $dir"
		return 1
	fi
	if [ ! -d "$dir" ]; then
		mkdir -p "$dir" || return 1
		created=1
	fi
	dir=$(cd "$dir" && pwd) || return 1
	# PostgreSQL runs as postgres and must reach DIR/pg.
	chmod a+rx "$dir" || return 1
	if ! setpriv --reuid=postgres --regid=postgres --clear-groups test -x "$dir"; then
		world__err "the postgres user cannot reach $dir: make its parent directories searchable (chmod o+x) or choose another DIR"
		[ "$created" = 0 ] || rmdir "$dir"
		return 1
	fi
	: >"$dir/world.pids"
	printf '# telepod test world; source me. Written by %s.\nWORLD_DIR=%q\n' \
	    "$world__src" "$dir" >"$dir/world.env" || return 1
	world__record "$dir" WORLD_CREATED_DIR "$created"
	local v
	for v in WORLD_CLUSTER_NS WORLD_LAPTOP_NS WORLD_K8S_NAMESPACE WORLD_RABBITMQ \
	    WORLD_CLUSTER_IP WORLD_LAPTOP_IP WORLD_VETH_PREFIX WORLD_DNS_IP \
	    WORLD_GATEWAY_IP WORLD_REDIS_IP WORLD_POSTGRES_IP WORLD_RABBITMQ_IP \
	    WORLD_POD_IP WORLD_SERVICE_CIDR WORLD_LAPTOP_DNS_IP WORLD_CLUSTER_DOMAIN; do
		world__record "$dir" "$v" "${!v}"
	done
	world__say "up in $dir (cluster ns $WORLD_CLUSTER_NS, laptop ns $WORLD_LAPTOP_NS, k8s namespace $WORLD_K8S_NAMESPACE)"
	for step in netns etc dns redis rabbitmq gateway postgres ready; do
		[ "$step" != rabbitmq ] || [ "$WORLD_RABBITMQ" = 1 ] || continue
		if [ "$step" = ready ]; then
			world__wait_ready "$dir" || break
		else
			"world__up_$step" "$dir" || break
		fi
		world__fail_hook "$step" || break
		step=finished
	done
	if [ "$step" != finished ]; then
		if [ "${WORLD_KEEP_ON_FAIL:-0}" = 1 ]; then
			world__err "up failed at step $step: left as is (WORLD_KEEP_ON_FAIL=1); remove with: $world__src down $dir"
			return 1
		fi
		world__err "up failed at step $step: tearing down"
		world__dump_logs "$dir" >&2
		world_down "$dir"
		return 1
	fi
	world__say "up: ready in $(world__ms_since "$t0") ms; state in $dir/world.env"
}

# world_down DIR: stops every recorded process, deletes the namespaces and the
# /etc/netns dirs this world created, and DIR if `up` created it. Idempotent.
world_down() {
	local dir=${1:?usage: world_down DIR} t0 rc=0 name pid st n i
	local -a procs=()
	t0=$(world__now)
	if ! world_load "$dir"; then
		world__say "down: nothing to do ($dir/world.env not found)"
		return 0
	fi
	world__say "down: $dir"
	if [ -f "$dir/world.pids" ]; then
		mapfile -t procs <"$dir/world.pids"
	fi
	# PostgreSQL first, cleanly, while its namespace is still there.
	if [ "${WORLD_PG_STARTED:-0}" = 1 ] && [ -f "$WORLD_PG_DIR/postmaster.pid" ] &&
	    [ -e "/run/netns/$WORLD_CLUSTER_NS" ]; then
		world__pg "$WORLD_PG_BIN/pg_ctl" -D "$WORLD_PG_DIR" -m fast -w -t 10 \
		    stop >>"$dir/pg_ctl.log" 2>&1 || world__say "pg_ctl stop failed; killing postgres"
	fi
	# Newest first: the gateway before Redis, the broker before epmd.
	for ((i = ${#procs[@]} - 1; i >= 0; i--)); do
		read -r name pid st <<<"${procs[i]}"
		[ -n "$pid" ] || continue
		world__kill "$name" "$pid" "$st" || rc=1
	done
	# Anything still inside our namespaces was started in this world (a
	# backend, a helper, a test's telepod-server): stop it by PID too.
	for n in $WORLD_OWNED_NETNS; do
		[ -e "/run/netns/$n" ] || continue
		for pid in $(ip netns pids "$n" 2>/dev/null); do
			st=$(world__starttime "$pid") || continue
			world__say "stray pid $pid in $n: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80)"
			world__kill stray "$pid" "$st" || rc=1
		done
	done
	for n in $WORLD_OWNED_NETNS; do
		if [ -e "/run/netns/$n" ]; then
			ip netns del "$n" || rc=1
		fi
	done
	for n in $WORLD_OWNED_ETC; do
		if world__valid_name "$n" && [ -d "/etc/netns/$n" ]; then
			rm -rf -- "/etc/netns/$n" || rc=1
		fi
	done
	if [ "${WORLD_CREATED_ETC_NETNS:-0}" = 1 ]; then
		rmdir /etc/netns 2>/dev/null
	fi
	if [ "$rc" = 0 ] && [ "${WORLD_CREATED_DIR:-0}" = 1 ] && { [ "$WORLD_DIR" = "$dir" ] || [ "$WORLD_DIR" = "$(cd "$dir" && pwd)" ]; }; then
		rm -rf -- "$WORLD_DIR" || rc=1
	elif [ "$rc" = 0 ]; then
		# Keep DIR (the caller's) and its logs, but mark the world as down.
		mv -f "$dir/world.env" "$dir/world.env.down" || rc=1
	fi
	if [ "$rc" = 0 ]; then
		world__say "down: done in $(world__ms_since "$t0") ms"
	else
		world__err "down: incomplete; state kept in $dir/world.env"
	fi
	return "$rc"
}

# world_status DIR: prints what is up; returns 0 when every process is alive.
world_status() {
	local dir=${1:?usage: world_status DIR} rc=0 name pid st n
	world_load "$dir" || {
		echo "world: no world in $dir"
		return 1
	}
	echo "world: $dir: cluster ns $WORLD_CLUSTER_NS, laptop ns $WORLD_LAPTOP_NS, k8s namespace $WORLD_K8S_NAMESPACE"
	for n in $WORLD_OWNED_NETNS; do
		if [ -e "/run/netns/$n" ]; then
			echo "  netns $n: present"
		else
			echo "  netns $n: missing"
			rc=1
		fi
	done
	while read -r name pid st; do
		if world__alive "$pid" "$st"; then
			echo "  $name pid $pid: running"
		else
			echo "  $name pid $pid: gone"
			rc=1
		fi
	done <"$dir/world.pids"
	world_services | while read -r name pid; do
		echo "  service $name $pid"
	done
	return "$rc"
}

# world_dns_query SERVER NAME TYPE: one DNS query over UDP (no dig needed).
# Prints "rcode=N answers=N" and, for the first answer, "rdata=HEX".
world_dns_query() {
	local server=$1 name=$2 type=$3 qtype label pkt resp
	local -a labels
	case $type in
	A) qtype='\x00\x01' ;;
	TXT) qtype='\x00\x10' ;;
	AAAA) qtype='\x00\x1c' ;;
	SRV) qtype='\x00\x21' ;;
	*) world__err "world_dns_query: type $type not supported"; return 2 ;;
	esac
	pkt='\x4a\x17\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00'
	IFS=. read -ra labels <<<"$name"
	for label in "${labels[@]}"; do
		pkt+=$(printf '\\x%02x' "${#label}")$label
	done
	pkt+="\\x00$qtype\\x00\\x01"
	resp=$(timeout 3 bash -c 'exec 3<>"/dev/udp/$1/53" || exit 1
		printf "$2" >&3
		dd bs=4096 count=1 <&3 2>/dev/null | od -An -v -tx1' _ "$server" "$pkt") || return 1
	# shellcheck disable=SC2206
	local -a b=($resp)
	[ "${#b[@]}" -ge 12 ] && [ "${b[0]}${b[1]}" = 4a17 ] || return 1
	local rcode=$((0x${b[3]} & 15)) an=$((0x${b[6]}${b[7]})) off=12 rdlen
	echo "rcode=$rcode answers=$an"
	[ "$an" -gt 0 ] || return 0
	# Skip the question (labels), its type and class.
	while [ "${b[off]}" != 00 ]; do
		off=$((off + 1 + 0x${b[off]}))
	done
	off=$((off + 5))
	# The answer's name: a pointer or labels.
	if (((0x${b[off]} & 0xc0) == 0xc0)); then
		off=$((off + 2))
	else
		while [ "${b[off]}" != 00 ]; do
			off=$((off + 1 + 0x${b[off]}))
		done
		off=$((off + 1))
	fi
	off=$((off + 8))
	rdlen=$((0x${b[off]}${b[off + 1]}))
	local IFS=
	echo "rdata=${b[*]:off+2:rdlen}"
}

world__usage() {
	echo "usage: $world__src up DIR | down DIR | status DIR | dns SERVER NAME A|AAAA|SRV|TXT" >&2
	return 2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case ${1:-} in
	up)
		[ $# = 2 ] || { world__usage; exit 2; }
		trap 'world__err "interrupted"; world_down "$2"; exit 130' INT TERM
		world_up "$2"
		;;
	down)
		[ $# = 2 ] || { world__usage; exit 2; }
		world_down "$2"
		;;
	status)
		[ $# = 2 ] || { world__usage; exit 2; }
		world_status "$2"
		;;
	dns)
		[ $# = 4 ] || { world__usage; exit 2; }
		world_dns_query "$2" "$3" "$4"
		;;
	*)
		world__usage
		exit 2
		;;
	esac
fi
