#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# telepod-demo: what `telepod demo` runs (the CLI execs this script; see
# client/cli.c for how it is found). It builds the simulated cluster of
# tests/world (two network namespaces: a "cluster" with DNS, Redis,
# PostgreSQL and the demo HTTP service "gateway", and a "laptop"), starts
# telepod-server in the cluster namespace and telepodd in the laptop
# namespace, each with its own files under one temporary directory, connects
# namespace jakub, and runs the transcript of the README with unmodified
# curl, redis-cli and psql, showing each command and its output. On a
# terminal it then leaves the user a shell in the laptop namespace; when
# that shell exits (or at once without a terminal) everything is torn down,
# also on Ctrl-C and on failure. --keep leaves it running and prints how to
# tear it down; --down DIR does that.
#
# Nothing touches this machine's own network: every address, route, TUN
# device and resolver change lives in the two namespaces, and the laptop's
# /etc/resolv.conf is /etc/netns/LAPTOP/resolv.conf (bind-mounted by
# `ip netns exec`). Processes are stopped by recorded PID only.
#
# Exit status: 0 the demo ran, 1 a step failed, 2 usage, 77 not root.
#
# Environment (set by `telepod demo`): TELEPOD_DEMO_CLI (the telepod
# binary), and either TELEPOD_DEMO_BUILDDIR + TELEPOD_DEMO_SRCDIR (a build
# tree) or TELEPOD_DEMO_SBINDIR + TELEPOD_DEMO_LIBEXECDIR (an installation).
# TELEPOD_DEMO_CLUSTER_NS / TELEPOD_DEMO_LAPTOP_NS name the namespaces
# (default telepod-cluster, telepod-laptop); TELEPOD_DEMO_TMPDIR is where the
# temporary directory goes (default /tmp). TELEPOD_DEMO_STEP_PAUSE=SECONDS
# pauses before each step (tests use it to interrupt the demo mid-way).

# shellcheck disable=SC2016 # single-quoted commands run in the namespace
# shellcheck disable=SC2317 # functions run by traps
# shellcheck disable=SC2153 # WORLD_* come from world.sh
set -u

demo_k8s_ns=jakub
demo_port=8443
demo_dir=
demo_keep=0
demo_done=0
demo_failed=0
demo_cmd_pid=
declare -A demo_pid=()

if [ -t 1 ]; then
	demo_b=$'\e[1m' demo_c=$'\e[36m' demo_r=$'\e[31m' demo_g=$'\e[32m' demo_0=$'\e[0m'
else
	demo_b='' demo_c='' demo_r='' demo_g='' demo_0=''
fi

demo_say() {
	printf '%s\n' "$*"
}

demo_err() {
	printf '%stelepod demo: %s%s\n' "$demo_r" "$*" "$demo_0" >&2
}

demo_step() {
	printf '\n%s== %s%s\n' "$demo_b" "$*" "$demo_0"
	if [ -n "${TELEPOD_DEMO_STEP_PAUSE:-}" ]; then
		sleep "$TELEPOD_DEMO_STEP_PAUSE" &
		wait $!
	fi
}

demo_usage() {
	echo "usage: telepod demo [--keep | --down DIR]" >&2
	exit 2
}

# ---- where the programs are ------------------------------------------------

demo_locate() {
	local cli=${TELEPOD_DEMO_CLI:-}
	if [ -n "${TELEPOD_DEMO_BUILDDIR:-}" ]; then
		local b=$TELEPOD_DEMO_BUILDDIR s=${TELEPOD_DEMO_SRCDIR:-$TELEPOD_DEMO_BUILDDIR}
		TELEPOD=${cli:-$b/client/telepod}
		TELEPODD=$b/client/telepodd
		TELEPOD_SERVER=$b/server/telepod-server
		GATEWAY=$b/tests/world/gateway
		WORLD_SH=$s/tests/world/world.sh
	else
		local l=${TELEPOD_DEMO_LIBEXECDIR:-$(cd "$(dirname "$0")" && pwd)}
		TELEPOD=${cli:-$(command -v telepod)}
		TELEPODD=${TELEPOD_DEMO_SBINDIR:-/usr/sbin}/telepodd
		TELEPOD_SERVER=$(dirname "$TELEPOD")/telepod-server
		GATEWAY=$l/gateway
		WORLD_SH=$l/world.sh
	fi
	local p
	for p in "$TELEPOD" "$TELEPODD" "$TELEPOD_SERVER" "$GATEWAY"; do
		if [ ! -x "$p" ]; then
			demo_err "$p is missing: build everything first (./dev.sh demo, or make)"
			exit 1
		fi
	done
	if [ ! -f "$WORLD_SH" ]; then
		demo_err "$WORLD_SH is missing: run the demo from a source tree (./dev.sh demo)"
		exit 1
	fi
	for p in ip dnsmasq redis-server redis-cli psql curl getent setpriv timeout; do
		if ! command -v "$p" >/dev/null 2>&1; then
			demo_err "the command $p is missing: install the packages of packaging/debian/build-deps.txt (./dev.sh demo does)"
			exit 1
		fi
	done
}

# ---- tearing down ----------------------------------------------------------

# demo_down DIR: stops telepodd, telepod-server and the world (every process
# by its recorded PID, newest first: telepodd first, so it restores the
# laptop's routes and resolver), deletes the namespaces, removes DIR.
demo_down() {
	local dir=$1 rc=0
	if [ ! -f "$dir/telepod-demo.env" ]; then
		demo_err "$dir is not a directory of telepod demo (no telepod-demo.env)"
		return 1
	fi
	if [ -f "$dir/world/world.env" ]; then
		world_down "$dir/world" || rc=1
	fi
	if [ "$rc" = 0 ]; then
		rm -rf -- "$dir"
		demo_say "telepod demo: torn down"
	else
		demo_err "tear-down incomplete; try again: telepod demo --down $dir"
	fi
	return "$rc"
}

demo_on_exit() {
	local rc=$?
	trap - EXIT
	trap '' INT TERM HUP
	TELEPOD_DEMO_STEP_PAUSE=
	# A command interrupted mid-way: timeout passes the signal on to it.
	if [ -n "$demo_cmd_pid" ]; then
		kill -TERM "$demo_cmd_pid" 2>/dev/null
		wait "$demo_cmd_pid" 2>/dev/null
	fi
	[ "$demo_failed" = 1 ] && [ "$rc" = 0 ] && rc=1
	if [ -n "$demo_dir" ] && [ -d "$demo_dir" ]; then
		if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
			demo_show_logs
		fi
		if [ "$demo_keep" = 1 ] && [ "$demo_done" = 1 ]; then
			exit "$rc"
		fi
		demo_step "Tearing down"
		demo_down "$demo_dir" >"$demo_dir.down.log" 2>&1 || {
			cat "$demo_dir.down.log"
			rc=1
		}
		tail -n 1 "$demo_dir.down.log"
		rm -f "$demo_dir.down.log"
	fi
	exit "$rc"
}

demo_show_logs() {
	local f
	for f in "$demo_dir"/*.log; do
		[ -s "$f" ] || continue
		printf -- '----- %s (last 15 lines) -----\n' "${f##*/}" >&2
		tail -n 15 "$f" >&2
	done
}

# ---- helpers ---------------------------------------------------------------

demo_starttime() {
	local stat f
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	read -r -a f <<<"${stat##*) }"
	echo "${f[19]}"
}

# demo_spawn NAME NETNS CMD...: starts CMD in NETNS in the background, logs
# to DIR/NAME.log, records it in the world's PID list so that tearing the
# world down stops it (by PID).
demo_spawn() {
	local name=$1 ns=$2 pid st
	shift 2
	ip netns exec "$ns" "$@" </dev/null >>"$demo_dir/$name.log" 2>&1 &
	pid=$!
	st=$(demo_starttime "$pid") || st=0
	echo "$name $pid $st" >>"$demo_dir/world/world.pids"
	demo_pid[$name]=$pid
}

# demo_wait SECONDS CMD...: runs CMD every 0.1 s until it succeeds.
demo_wait() {
	local i n=$(($1 * 10))
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

demo_listening() {
	ip netns exec "$1" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$2" "$3" 2>/dev/null
}

# demo_laptop CMD...: runs CMD in the laptop namespace the way a user's
# terminal would: no proxy settings, telepod's socket known.
demo_laptop() {
	ip netns exec "$WORLD_LAPTOP_NS" env -u http_proxy -u https_proxy \
	    -u all_proxy -u no_proxy -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY \
	    -u NO_PROXY TELEPOD_SOCKET="$demo_sock" PATH="$demo_path" "$@"
}

# demo_run EXPECT DISPLAY: shows "$ DISPLAY", runs it in the laptop
# namespace (bounded), shows its output, and fails the demo unless it
# exits 0 and its output matches the extended regex EXPECT.
demo_run() {
	local expect=$1 cmd=$2 out rc=0
	printf '%s$ %s%s\n' "$demo_c" "$cmd" "$demo_0"
	# In the background and waited for: bash runs a signal's trap at
	# once during `wait`, but only after a foreground command or a
	# command substitution ends (and then not always), so Ctrl-C
	# could leave the demo running on.
	demo_laptop timeout -k 2 20 bash -c "$cmd" </dev/null >"$demo_dir/cmd.out" 2>&1 &
	demo_cmd_pid=$!
	wait "$demo_cmd_pid" || rc=$?
	demo_cmd_pid=
	out=$(cat "$demo_dir/cmd.out")
	[ -z "$out" ] || printf '%s\n' "$out"
	if [ "$rc" != 0 ]; then
		demo_err "\"$cmd\" failed (exit $rc)"
		demo_failed=1
		exit 1
	fi
	if ! grep -q -E -- "$expect" <<<"$out"; then
		demo_err "\"$cmd\" printed something unexpected (wanted /$expect/)"
		demo_failed=1
		exit 1
	fi
}

# ---- the demo --------------------------------------------------------------

demo_up() {
	local t0=$SECONDS
	demo_dir=$(mktemp -d "${TELEPOD_DEMO_TMPDIR:-/tmp}/telepod-demo.XXXXXX") || {
		demo_err "cannot create a temporary directory"
		exit 1
	}
	# PostgreSQL runs as postgres and must reach its data dir inside.
	chmod 0711 "$demo_dir"
	export WORLD_CLUSTER_NS=${TELEPOD_DEMO_CLUSTER_NS:-telepod-cluster}
	export WORLD_LAPTOP_NS=${TELEPOD_DEMO_LAPTOP_NS:-telepod-laptop}
	export WORLD_K8S_NAMESPACE=$demo_k8s_ns WORLD_RABBITMQ=no WORLD_GATEWAY=$GATEWAY
	demo_sock=$demo_dir/telepodd.sock
	demo_path=$(dirname "$TELEPOD")
	[ "$(dirname "$TELEPODD")" = "$demo_path" ] || demo_path+=:$(dirname "$TELEPODD")
	demo_path+=:$PATH
	{
		printf '# telepod demo; tear down with: telepod demo --down %q\n' "$demo_dir"
		printf 'DEMO_DIR=%q\nDEMO_SOCKET=%q\nWORLD_CLUSTER_NS=%q\nWORLD_LAPTOP_NS=%q\n' \
		    "$demo_dir" "$demo_sock" "$WORLD_CLUSTER_NS" "$WORLD_LAPTOP_NS"
	} >"$demo_dir/telepod-demo.env"

	demo_step "Building the simulated cluster (network namespaces $WORLD_CLUSTER_NS and $WORLD_LAPTOP_NS)"
	if ! world_up "$demo_dir/world" >"$demo_dir/world-up.log" 2>&1; then
		cat "$demo_dir/world-up.log"
		demo_err "the simulated cluster did not come up (see above)"
		exit 1
	fi
	demo_say "cluster: DNS 10.96.0.10, gateway 10.96.0.20:80, redis-master 10.96.0.21:6379, postgresql 10.96.0.22:5432"
	demo_say "laptop:  192.168.250.2, its own resolver 127.0.0.53; no route to the cluster's 10.96.0.0/12"

	demo_step "Starting telepod-server in the cluster and telepodd on the laptop"
	"$TELEPOD" certs create --out "$demo_dir/tls" --server-name "$WORLD_CLUSTER_IP" \
	    >"$demo_dir/certs.log" 2>&1 || {
		cat "$demo_dir/certs.log"
		demo_err "telepod certs create failed"
		exit 1
	}
	demo_spawn server "$WORLD_CLUSTER_NS" "$TELEPOD_SERVER" \
	    --listen "$WORLD_CLUSTER_IP:$demo_port" --tls-dir "$demo_dir/tls" \
	    --namespace "$demo_k8s_ns" --subnets "$WORLD_SERVICE_CIDR"
	demo_spawn telepodd "$WORLD_LAPTOP_NS" "$TELEPODD" --foreground \
	    --socket "$demo_sock" --state-dir "$demo_dir/state" \
	    --resolver file
	if ! demo_wait 30 demo_listening "$WORLD_LAPTOP_NS" "$WORLD_CLUSTER_IP" "$demo_port"; then
		demo_err "telepod-server does not listen on $WORLD_CLUSTER_IP:$demo_port"
		exit 1
	fi
	if ! demo_wait 30 test -S "$demo_sock"; then
		demo_err "telepodd did not open its control socket $demo_sock"
		exit 1
	fi
	demo_say "telepod-server: $WORLD_CLUSTER_IP:$demo_port in $WORLD_CLUSTER_NS (pid ${demo_pid[server]})"
	demo_say "telepodd:       control socket $demo_sock in $WORLD_LAPTOP_NS (pid ${demo_pid[telepodd]})"

	demo_step "Connecting the laptop to namespace $demo_k8s_ns"
	demo_run 'Connected' "telepod connect --server $WORLD_CLUSTER_IP:$demo_port --tls-dir $demo_dir/tls -n $demo_k8s_ns"
	demo_run 'connected' "telepod status"

	demo_step "Cluster names resolve on the laptop; other names as before"
	demo_run "^$WORLD_GATEWAY_IP +gateway" "getent hosts gateway"
	demo_run "^$WORLD_POSTGRES_IP " "getent hosts postgresql.$demo_k8s_ns"
	demo_run '^192\.0\.2\.80 ' "getent hosts example.test"

	demo_step "Create and fetch The Odyssey through the gateway service"
	demo_run '"the_odyssey"' "curl -sS http://gateway/products -XPOST -d '{\"id\": \"the_odyssey\", \"title\": \"The Odyssey\", \"passenger_capacity\": 101, \"maximum_speed\": 5, \"in_stock\": 10}'"
	demo_run '"The Odyssey"' "curl -sS http://gateway/products/the_odyssey"

	demo_step "Redis and PostgreSQL by their service names"
	demo_run '^OK$' "redis-cli -h redis-master SET greeting 'hello from the laptop'"
	demo_run '^hello from the laptop$' "redis-cli -h redis-master GET greeting"
	demo_run 'The Odyssey' "redis-cli -h redis-master GET product:the_odyssey"
	demo_run 'the_odyssey.*The Odyssey' "psql -h postgresql -U postgres -d shop -c 'SELECT id, title, in_stock FROM products'"
	demo_done=1
	printf '\n%sThe demo ran in %d s: unmodified programs on the laptop reached the cluster by name.%s\n' \
	    "$demo_g" $((SECONDS - t0)) "$demo_0"
}

# The shell's start-up file: a prompt that says where it is, telepod's
# socket and programs, no proxy settings.
demo_rcfile() {
	cat >"$demo_dir/bashrc" <<-EOF
		PS1='\[\e[1;36m\][telepod demo: laptop namespace, connected to $demo_k8s_ns]\[\e[0m\] \w\\$ '
		export TELEPOD_SOCKET=$(printf '%q' "$demo_sock")
		export PATH=$(printf '%q' "$demo_path")
		unset http_proxy https_proxy all_proxy no_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY NO_PROXY
	EOF
}

demo_shell() {
	demo_rcfile
	demo_step "A shell on the laptop (network namespace $WORLD_LAPTOP_NS)"
	cat <<-EOF
		Try:
		  curl http://gateway/products/the_odyssey
		  redis-cli -h redis-master
		  psql -h postgresql -U postgres -d shop
		  getent hosts gateway.$demo_k8s_ns.svc.cluster.local
		  telepod status
		  cat /etc/resolv.conf; ip route
		Type exit (or Ctrl-D) to leave; the demo is then torn down.
	EOF
	# Ctrl-C belongs to the shell and its commands, not to us: a trap
	# that does nothing (unlike an ignored signal) is not inherited.
	trap ':' INT
	ip netns exec "$WORLD_LAPTOP_NS" bash --rcfile "$demo_dir/bashrc" -i
	trap 'exit 130' INT
}

demo_kept() {
	demo_rcfile
	demo_step "Left running (--keep)"
	cat <<-EOF
		A shell on the laptop:  sudo ip netns exec $WORLD_LAPTOP_NS bash --rcfile $demo_dir/bashrc
		A shell in the cluster: sudo ip netns exec $WORLD_CLUSTER_NS bash
		Logs:                   $demo_dir/*.log
		Tear it all down:       sudo $TELEPOD demo --down $demo_dir
	EOF
}

# ---- main --------------------------------------------------------------

demo_down_dir=
case ${1:-} in
'') ;;
--keep)
	demo_keep=1
	[ $# = 1 ] || demo_usage
	;;
--down)
	[ $# = 2 ] || demo_usage
	demo_down_dir=$2
	;;
*) demo_usage ;;
esac

if [ "$(id -u)" != 0 ]; then
	cat >&2 <<-EOF
		telepod demo needs root: it creates two network namespaces (a simulated
		cluster and a "laptop"), a TUN device and routes inside the laptop
		namespace, and starts dnsmasq, Redis, PostgreSQL and telepod-server in
		the cluster namespace. Your machine's own network, routes and
		/etc/resolv.conf are not touched. Run it as: sudo telepod demo
	EOF
	exit 77
fi

demo_locate
# shellcheck source=/dev/null
. "$WORLD_SH"

if [ -n "$demo_down_dir" ]; then
	demo_down "$demo_down_dir"
	exit
fi

trap demo_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
demo_up
if [ "$demo_keep" = 1 ]; then
	demo_kept
elif [ -t 0 ] && [ -t 1 ]; then
	demo_shell
fi
exit 0
