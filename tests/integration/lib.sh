# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
#
# lib.sh: helpers for the integration tests (bash). A test sources this file,
# calls tp_init NAME, starts its processes with tp_spawn (or the telepod
# wrappers below), checks with tp_step / fail, and ends with tp_pass.
#
# Guarantees: every process a test starts is recorded by PID and killed BY
# PID on any exit (success, failure, signal); the temporary directory is
# removed (kept if TP_KEEP=1); when a test fails, the log of every process is
# printed. Every wait is bounded. Exit status: 0 pass, 1 fail, 77 skip (only
# when a prerequisite is truly missing).
#
# By hand: cd _build && make check TESTS=tests/integration/fault.sh, or
# TP_BUILDDIR=$PWD/_build tests/integration/fault.sh (TP_KEEP=1 keeps the
# temp dir and its logs; TP_LOG_LINES sets how much of each log a failure
# shows).
#
# Worlds: today everything runs on 127.0.0.1 in the caller's network
# namespace. Commands run through tp__exec, which honours TP_NS (a network
# namespace name: "ip netns exec TP_NS ..."), so namespace worlds can reuse
# every helper by setting TP_NS around a call (TP_NS=client tp_spawn ...).

# Variables set here for the tests that source this file:
# shellcheck disable=SC2034
TP_NAME=${TP_NAME:-itest}
TP_TMP=
TP_FAILED=0
TP_T0=$SECONDS
declare -a TP_PIDS=()
declare -A TP_PID_OF=()   # process name -> pid
declare -A TP_NAME_OF=()  # pid -> process name
declare -A TP_START_OF=() # pid -> start time (/proc/PID/stat field 22)
declare -A TP_REAPED=()   # pid -> 1 once waited for (the PID may be reused)
declare -A TP_STATUS_OF=() # pid -> exit status, once waited for
declare -a TP_NETNS=()    # namespaces to delete on exit

# ---- reporting -----------------------------------------------------------

tp_log() {
	printf '%s [%s +%ds] %s\n' "$(date +%T)" "$TP_NAME" $((SECONDS - TP_T0)) "$*"
}

# tp_step MESSAGE: says what is being checked next.
tp_step() {
	printf '\n== %s: %s\n' "$TP_NAME" "$*"
}

# tp_ok MESSAGE: a check passed.
tp_ok() {
	printf '   ok: %s\n' "$*"
}

# fail MESSAGE: the test failed; logs are shown by the exit trap. Inside a
# command substitution it only ends that subshell (message on stderr): the
# caller must check, as in x=$(tp_socks_addr "$sock") || fail "...".
fail() {
	if [ "$BASH_SUBSHELL" -gt 0 ]; then
		printf '%s: %s\n' "$TP_NAME" "$*" >&2
		exit 1
	fi
	TP_FAILED=1
	printf '\nFAIL: %s: %s\n' "$TP_NAME" "$*"
	exit 1
}

# skip MESSAGE: a prerequisite is missing (exit 77).
skip() {
	printf '\nSKIP: %s: %s\n' "$TP_NAME" "$*"
	exit 77
}

tp_pass() {
	printf '\nPASS: %s (%d s)\n' "$TP_NAME" $((SECONDS - TP_T0))
	exit 0
}

# ---- set-up and clean-up ---------------------------------------------------

# tp_init NAME: temp dir, exit trap, program paths.
tp_init() {
	TP_NAME=$1
	# shellcheck disable=SC2034 # for the tests
	TP_SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	# make check exports top_builddir; by hand, TP_BUILDDIR or the cwd.
	TP_BUILDDIR=${TP_BUILDDIR:-${top_builddir:-$(pwd)}}
	TELEPOD=${TELEPOD:-$TP_BUILDDIR/client/telepod}
	TELEPODD=${TELEPODD:-$TP_BUILDDIR/client/telepodd}
	TELEPOD_SERVER=${TELEPOD_SERVER:-$TP_BUILDDIR/server/telepod-server}
	TP_LOAD=${TP_LOAD:-$TP_BUILDDIR/tests/integration/tp-load}
	TP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/telepod-$TP_NAME.XXXXXX") ||
		skip "cannot create a temporary directory"
	trap tp__on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	tp_log "temporary directory $TP_TMP, build directory $TP_BUILDDIR"
}

# tp_need_programs: skips unless the programs under test are built.
tp_need_programs() {
	local p
	for p in "$TELEPOD" "$TELEPODD" "$TELEPOD_SERVER" "$TP_LOAD"; do
		[ -x "$p" ] || skip "$p is not built (run make first)"
	done
}

# tp_need_cmd CMD...: skips unless each command exists.
tp_need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "the command $c is not installed"
	done
}

tp_is_root() {
	[ "$(id -u)" = 0 ]
}

tp__on_exit() {
	local rc=$? pid
	# Finish the clean-up even if signalled again (it is bounded).
	trap - EXIT
	trap '' INT TERM HUP
	set +e
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		TP_FAILED=1
	fi
	# Stop what we started, newest first, by PID only.
	for ((i = ${#TP_PIDS[@]} - 1; i >= 0; i--)); do
		pid=${TP_PIDS[i]}
		tp_pid_running "$pid" && tp__stop_pid "$pid" TERM 3
	done
	if [ "$TP_FAILED" = 1 ]; then
		tp_dump_logs
		[ "$rc" = 0 ] && rc=1
	fi
	for ns in "${TP_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	if [ -n "$TP_TMP" ] && [ -d "$TP_TMP" ] && [[ $TP_TMP == */telepod-"$TP_NAME".* ]]; then
		if [ "${TP_KEEP:-0}" = 1 ]; then
			echo "kept $TP_TMP (TP_KEEP=1)"
		else
			rm -rf "$TP_TMP"
		fi
	fi
	exit "$rc"
}

# tp_dump_logs: prints the tail of every process log of this test.
tp_dump_logs() {
	local f
	for f in "$TP_TMP"/*.log; do
		[ -f "$f" ] || continue
		printf '\n----- %s (last %d lines) -----\n' "${f##*/}" "${TP_LOG_LINES:-60}"
		tail -n "${TP_LOG_LINES:-60}" "$f"
	done
	printf -- '----- end of logs -----\n'
}

# ---- processes -------------------------------------------------------------

# tp__exec CMD...: runs CMD in the current world (TP_NS, if set).
tp__exec() {
	if [ -n "${TP_NS:-}" ]; then
		ip netns exec "$TP_NS" "$@"
	else
		"$@"
	fi
}

# tp__starttime PID: the process's start time in clock ticks since boot.
tp__starttime() {
	local stat f
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	# Fields after "(comm)": state is field 3, starttime field 22.
	read -r -a f <<<"${stat##*) }"
	echo "${f[19]}"
}

# tp_netns_new NAME: creates the network namespace NAME with lo up, deleted
# on exit (after the processes are stopped). Needs root; NAME should carry
# $$ so that parallel tests do not collide. Run things in it with
# TP_NS=NAME before any helper.
tp_netns_new() {
	ip netns add "$1" || fail "cannot create the network namespace $1"
	TP_NETNS+=("$1")
	ip -n "$1" link set lo up || fail "cannot bring lo up in $1"
}

# tp_pid_running PID: true while PID exists, is not a zombie and, for a
# process started by tp_spawn, is still that process: the shell reaps its
# children, and a freed PID can be handed to an unrelated process (pid_max
# may be as low as 32768).
tp_pid_running() {
	local stat f
	[ -z "${TP_REAPED[$1]:-}" ] || return 1
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	read -r -a f <<<"${stat##*) }"
	[ "${f[0]}" != Z ] || return 1
	[ -z "${TP_START_OF[$1]:-}" ] || [ "${f[19]}" = "${TP_START_OF[$1]}" ]
}

# tp_track NAME PID: records a background child started by other means than
# tp_spawn, for the clean-up.
tp_track() {
	TP_PIDS+=("$2")
	TP_PID_OF[$1]=$2
	TP_NAME_OF[$2]=$1
	TP_START_OF[$2]=$(tp__starttime "$2")
}

# tp_spawn NAME CMD...: starts CMD in the background, output to
# $TP_TMP/NAME.log; records the PID (also in TP_PID_OF[NAME] and TP_LAST_PID).
tp_spawn() {
	local name=$1
	shift
	# Not through a function: $! must be the program itself, not a
	# subshell, so that signals reach it.
	if [ -n "${TP_NS:-}" ]; then
		ip netns exec "$TP_NS" "$@" >>"$TP_TMP/$name.log" 2>&1 </dev/null &
	else
		"$@" >>"$TP_TMP/$name.log" 2>&1 </dev/null &
	fi
	TP_LAST_PID=$!
	tp_track "$name" "$TP_LAST_PID"
	tp_log "started $name (pid $TP_LAST_PID): $*"
}

# tp_pid NAME: the PID of a process started with tp_spawn.
tp_pid() {
	local pid=${TP_PID_OF[$1]:-}
	[ -n "$pid" ] || fail "internal: no process named $1"
	echo "$pid"
}

# tp_wait_pid PID SECONDS (whole): waits for PID to exit; sets TP_WAIT_RC to its
# exit status. Returns 1 if it is still running after SECONDS.
tp_wait_pid() {
	local pid=$1 secs=$2 deadline
	deadline=$(($(date +%s%N) + secs * 1000000000))
	while tp_pid_running "$pid"; do
		[ "$(date +%s%N)" -lt "$deadline" ] || return 1
		sleep 0.05
	done
	if [ -n "${TP_REAPED[$pid]:-}" ]; then
		TP_WAIT_RC=${TP_STATUS_OF[$pid]}
		return 0
	fi
	TP_WAIT_RC=0
	{ wait "$pid"; } 2>/dev/null || TP_WAIT_RC=$?
	TP_REAPED[$pid]=1
	TP_STATUS_OF[$pid]=$TP_WAIT_RC
	return 0
}

# Signals only while the PID is still our process (see tp_pid_running).
tp__stop_pid() {
	local pid=$1 sig=$2 secs=$3
	tp_pid_running "$pid" && kill "-$sig" "$pid" 2>/dev/null
	if ! tp_wait_pid "$pid" "$secs"; then
		tp_log "${TP_NAME_OF[$pid]:-pid $pid} did not exit within ${secs}s of SIG$sig; killing it"
		tp_pid_running "$pid" && kill -KILL "$pid" 2>/dev/null
		tp_wait_pid "$pid" 2
	fi
}

# tp_stop NAME [SIGNAL [SECONDS]]: signals a process (default TERM) and waits
# for it (default 5 s, then KILL). Sets TP_WAIT_RC.
tp_stop() {
	local pid
	pid=$(tp_pid "$1")
	tp__stop_pid "$pid" "${2:-TERM}" "${3:-5}"
	tp_log "stopped $1 (pid $pid): exit status $TP_WAIT_RC"
}

# tp_running NAME: true while the process is alive.
tp_running() {
	tp_pid_running "$(tp_pid "$1")"
}

# tp_is_asan_build FILE: true when FILE was built with AddressSanitizer.
tp_is_asan_build() {
	grep -q -a -m 1 AddressSanitizer "$1" 2>/dev/null
}

# tp_fd_count PID: open file descriptors of a process.
tp_fd_count() {
	local fds=("/proc/$1/fd/"*)
	echo "${#fds[@]}"
}

# tp_rss_kb PID: resident memory in KiB.
tp_rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# tp_now_ms: a monotonic-enough clock for measuring waits in tests.
tp_now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# ---- waiting ---------------------------------------------------------------

# tp_retry SECONDS (whole) CMD...: runs CMD every 0.1 s until it succeeds or SECONDS
# pass. Returns CMD's last status.
tp_retry() {
	local secs=$1 deadline rc
	shift
	deadline=$(($(date +%s%N) + secs * 1000000000))
	while :; do
		"$@" && return 0
		rc=$?
		[ "$(date +%s%N)" -lt "$deadline" ] || return "$rc"
		sleep 0.1
	done
}

# tp_port_listening PORT: true when a TCP socket listens on PORT.
tp_port_listening() {
	local hex
	hex=$(printf '%04X' "$1")
	tp__exec cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }'
}

# tp_wait_port PORT [SECONDS] [NAME]: waits until PORT listens; fails the test
# (naming process NAME) if it does not, or if NAME died.
tp_wait_port() {
	local port=$1 secs=${2:-10} name=${3:-}
	tp_retry "$secs" tp__port_or_dead "$port" "$name" ||
		fail "nothing listens on port $port after ${secs}s${name:+ (process $name)}"
	if [ -n "$name" ] && ! tp_running "$name"; then
		fail "$name exited before listening on port $port"
	fi
}

tp__port_or_dead() {
	tp_port_listening "$1" && return 0
	[ -n "$2" ] && ! tp_running "$2" && return 0
	return 1
}

# tp_wait_socket PATH [SECONDS] [NAME]: waits for a unix socket.
tp_wait_socket() {
	local path=$1 secs=${2:-10} name=${3:-}
	tp_retry "$secs" tp__socket_or_dead "$path" "$name" ||
		fail "no unix socket at $path after ${secs}s${name:+ (process $name)}"
	if [ -n "$name" ] && ! tp_running "$name"; then
		fail "$name exited before creating $path"
	fi
}

tp__socket_or_dead() {
	[ -S "$1" ] && return 0
	[ -n "$2" ] && ! tp_running "$2" && return 0
	return 1
}

# tp_wait_file PATH [SECONDS]: waits for a non-empty file.
tp_wait_file() {
	tp_retry "${2:-10}" test -s "$1" || fail "no file $1 after ${2:-10}s"
}

# tp_free_port: prints a TCP port free on 127.0.0.1 (just now).
tp_free_port() {
	"$TP_LOAD" freeport || fail "cannot find a free port"
}

# tp_run_logged NAME SECONDS CMD...: runs CMD in the foreground, bounded,
# output shown and appended to $TP_TMP/NAME.log. Returns CMD's status
# (124 on timeout).
tp_run_logged() {
	local name=$1 secs=$2 rc=0
	shift 2
	tp__exec timeout -k 2 "$secs" "$@" >"$TP_TMP/.out" 2>&1 || rc=$?
	{ echo "\$ $*"; cat "$TP_TMP/.out"; echo "(exit $rc)"; } >>"$TP_TMP/$name.log"
	sed 's/^/   | /' "$TP_TMP/.out"
	return "$rc"
}

# tp_log_mark NAME: the current length (lines) of a process log, for
# tp_wait_log.
tp_log_mark() {
	if [ -f "$TP_TMP/$1.log" ]; then
		wc -l <"$TP_TMP/$1.log"
	else
		echo 0
	fi
}

# tp_wait_log NAME MARK REGEX [SECONDS]: waits until a line after MARK in
# NAME's log matches the extended REGEX (case-insensitive); prints it.
tp_wait_log() {
	local name=$1 mark=$2 re=$3 secs=${4:-5}
	tp_retry "$secs" tp__log_has "$name" "$mark" "$re" || return 1
	tail -n "+$((mark + 1))" "$TP_TMP/$name.log" | grep -i -E -m 1 -- "$re"
}

tp__log_has() {
	tail -n "+$(($2 + 1))" "$TP_TMP/$1.log" 2>/dev/null | grep -q -i -E -- "$3"
}

# ---- telepod ---------------------------------------------------------------

# tp_certs DIR [ARGS...]: a fresh CA, server and client certificates.
tp_certs() {
	local dir=$1
	shift
	tp_run_logged cli 30 "$TELEPOD" certs create --out "$dir" "$@" >/dev/null ||
		fail "telepod certs create --out $dir failed"
}

# tp_start_echo NAME: starts a tp-load echo server on 127.0.0.1 (and ::1
# on the same port when possible); sets ECHO_PORT.
tp_start_echo() {
	local name=$1
	rm -f "$TP_TMP/$name.port"
	tp_spawn "$name" "$TP_LOAD" serve --listen 127.0.0.1:0 \
		--port-file "$TP_TMP/$name.port" --also-ipv6
	tp_wait_file "$TP_TMP/$name.port" 10
	ECHO_PORT=$(cat "$TP_TMP/$name.port")
	tp_log "$name listens on port $ECHO_PORT"
}

# tp_start_dns NAME: a private dnsmasq on 127.0.0.1 (when installed) that
# the server resolves with, so name tests do not depend on the host's DNS:
# echo.itest.test has A 127.0.0.1, names under .invalid are NXDOMAIN at
# once, nothing is forwarded. Sets DNS_PORT and TP_SERVER_DNS_ARGS (the
# server flags that use it); without dnsmasq both stay empty and the server
# uses the system resolver. Sets ECHO_NAME to a name of 127.0.0.1 that the
# server resolves (echo.itest.test, or localhost without dnsmasq).
tp_start_dns() {
	local name=$1 bin=${TP_DNSMASQ:-/usr/sbin/dnsmasq}
	DNS_PORT=
	TP_SERVER_DNS_ARGS=()
	ECHO_NAME=localhost
	if [ ! -x "$bin" ]; then
		tp_log "$bin is not installed: the server uses the system resolver"
		return 0
	fi
	DNS_PORT=$(tp_free_port)
	tp_spawn "$name" "$bin" --keep-in-foreground --conf-file=/dev/null \
		--no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.1 \
		--port="$DNS_PORT" --pid-file="$TP_TMP/$name.pid" --log-facility=- --user=root --group=root \
		--local=/test/ --local=/invalid/ --host-record=echo.itest.test,127.0.0.1
	tp_wait_port "$DNS_PORT" 10 "$name"
	printf 'nameserver 127.0.0.1\noptions ndots:1 timeout:1 attempts:2\n' >"$TP_TMP/resolv.conf"
	TP_SERVER_DNS_ARGS=(--resolv-conf "$TP_TMP/resolv.conf" --dns-servers "127.0.0.1:$DNS_PORT")
	# shellcheck disable=SC2034 # for the tests
	ECHO_NAME=echo.itest.test
}

# tp_start_server NAME PORT TLSDIR [ARGS...]: telepod-server on 127.0.0.1.
tp_start_server() {
	local name=$1 port=$2 tls=$3
	shift 3
	tp_spawn "$name" "$TELEPOD_SERVER" --listen "127.0.0.1:$port" \
		--tls-dir "$tls" --log-level debug "$@"
	tp_wait_port "$port" 10 "$name"
}

# tp_start_daemon NAME: telepodd in the foreground, control socket
# $TP_TMP/NAME.sock, SOCKS on a port it picks; sets DAEMON_SOCK.
tp_start_daemon() {
	local name=$1
	DAEMON_SOCK=$TP_TMP/$name.sock
	tp_spawn "$name" "$TELEPODD" --foreground --socket "$DAEMON_SOCK" \
		--socks 127.0.0.1:0 --log-level debug
	tp_wait_socket "$DAEMON_SOCK" 10 "$name"
}

# tp_cli SOCK ARGS...: the telepod CLI against a daemon, bounded; output on
# stdout and in cli.log.
tp_cli() {
	local sock=$1 rc=0
	shift
	tp__exec timeout -k 2 "${TP_CLI_TIMEOUT:-20}" "$TELEPOD" --socket "$sock" "$@" \
		>"$TP_TMP/.cli" 2>&1 || rc=$?
	{ echo "\$ telepod --socket $sock $*"; cat "$TP_TMP/.cli"; echo "(exit $rc)"; } >>"$TP_TMP/cli.log"
	cat "$TP_TMP/.cli"
	return "$rc"
}

# tp_connect SOCK HOST:PORT TLSDIR NAMESPACE: connects a session (no TUN).
tp_connect() {
	local out
	out=$(tp_cli "$1" connect --server "$2" --tls-dir "$3" -n "$4" --no-tun) ||
		fail "telepod connect --server $2 -n $4 failed: $out"
	tp_log "connected to $2 namespace $4"
}

# tp_status_json SOCK: `telepod status -o json`.
tp_status_json() {
	tp_cli "$1" status -o json
}

# tp_json PATH: the value at PATH of the JSON on stdin.
tp_json() {
	"$TP_LOAD" json "$1"
}

# tp_socks_addr SOCK: the daemon's SOCKS address (from status -o json).
tp_socks_addr() {
	local js addr
	js=$(tp_status_json "$1") || fail "telepod status -o json failed: $js"
	addr=$(printf '%s\n' "$js" | tp_json daemon.socks 2>/dev/null) ||
		addr=$(printf '%s\n' "$js" | tp_json socks 2>/dev/null) ||
		fail "no SOCKS address in telepod status -o json: $js"
	case $addr in
	127.0.0.1:[1-9]*) echo "$addr" ;;
	*) fail "unexpected SOCKS address \"$addr\" in telepod status -o json" ;;
	esac
}

# tp_conn_state SOCK: the state of the first connection in status -o json.
tp_conn_state() {
	tp_status_json "$1" | tp_json connections.0.state 2>/dev/null
}

# tp_load NAME SECONDS ARGS...: runs tp-load bounded, logged as NAME.
tp_load() {
	local name=$1 secs=$2
	shift 2
	tp_run_logged "$name" "$secs" "$TP_LOAD" "$@"
}

# tp_setup_tunnel NAMESPACE [SERVER ARGS...]: the whole loopback world of a
# test: certificates in $TP_TMP/tls, a tp-load echo server, a private DNS
# server, telepod-server, telepodd, a connected session. Sets TLS_DIR,
# ECHO_PORT, ECHO_NAME, SERVER_PORT, DAEMON_SOCK, SOCKS, SERVER_PID,
# DAEMON_PID, TP_SERVER_ARGS (to restart the server alike).
tp_setup_tunnel() {
	local ns=$1
	shift
	TLS_DIR=$TP_TMP/tls
	tp_certs "$TLS_DIR"
	tp_start_echo echo
	tp_start_dns dns
	SERVER_PORT=$(tp_free_port)
	TP_SERVER_ARGS=(--namespace "$ns" "${TP_SERVER_DNS_ARGS[@]}" "$@")
	tp_start_server server "$SERVER_PORT" "$TLS_DIR" "${TP_SERVER_ARGS[@]}"
	# shellcheck disable=SC2034 # for the tests
	SERVER_PID=$(tp_pid server)
	tp_start_daemon daemon
	# shellcheck disable=SC2034 # for the tests
	DAEMON_PID=$(tp_pid daemon)
	tp_connect "$DAEMON_SOCK" "127.0.0.1:$SERVER_PORT" "$TLS_DIR" "$ns"
	SOCKS=$(tp_socks_addr "$DAEMON_SOCK") || fail "cannot read the daemon's SOCKS address"
	tp_log "SOCKS entry $SOCKS, echo port $ECHO_PORT, server port $SERVER_PORT"
}
