# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Variables are shared between the files of bench/lib and bench/run.
# shellcheck disable=SC2034,SC2153
#
# common.sh: what every part of bench/run shares: messages, processes
# started by the bench (recorded by PID and start time, stopped by PID
# only), bounded waits, statistics over repeated runs, and the description
# of the machine the figures were taken on.

# ---- messages ------------------------------------------------------------

# Messages go to BENCH_LOG_FD (bench/run keeps a copy of its stderr there):
# a trap runs under the redirections of the command it interrupted, which
# may be a load's output file.
bench_log() {
	printf '%s bench: %s\n' "$(date +%T)" "$*" >&"${BENCH_LOG_FD:-2}"
}

bench_die() {
	printf '%s bench: error: %s\n' "$(date +%T)" "$*" >&"${BENCH_LOG_FD:-2}"
	exit 1
}

# ---- processes -----------------------------------------------------------

# Start time (clock ticks since boot) of a live, non-zombie process.
bench_starttime() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	# shellcheck disable=SC2086
	set -- ${stat##*) }
	[ "$1" != Z ] && [ "$1" != X ] || return 1
	echo "${20}"
}

# bench_alive PID START: PID is running and is still the recorded process.
bench_alive() {
	local st
	st=$(bench_starttime "$1") || return 1
	[ "$st" = "$2" ]
}

# bench_spawn NAME NS CMD...: runs CMD in the background inside network
# namespace NS ("-" for none: the caller's), output to $BENCH_TMP/NAME.log;
# records "NAME PID START" in $BENCH_TMP/pids and sets BENCH_PID.
# `ip netns exec` execs the program, so the PID is the program's own.
bench_spawn() {
	local name=$1 ns=$2 st
	local -a pin
	shift 2
	if [ "$ns" = - ]; then
		"$@" </dev/null >>"$BENCH_TMP/$name.log" 2>&1 &
	else
		mapfile -t pin < <(bench_pin "$ns")
		ip netns exec "$ns" "${pin[@]}" "$@" </dev/null >>"$BENCH_TMP/$name.log" 2>&1 &
	fi
	BENCH_PID=$!
	st=$(bench_starttime "$BENCH_PID") || st=0
	echo "$name $BENCH_PID $st" >>"$BENCH_TMP/pids"
}

# bench_pin NS: the command prefix (one word a line) that keeps a process
# on its side's CPU: the laptop namespace on BENCH_CPU_LP, the cluster on
# BENCH_CPU_CL, so that the two namespaces behave as two machines and the
# one cross-CPU hop is the "network" (nothing when pinning is off).
# taskset execs the program: the PID stays the program's.
bench_pin() {
	local cpu=
	[ "$1" = "${WORLD_LAPTOP_NS:-}" ] && cpu=${BENCH_CPU_LP:-}
	[ "$1" = "${WORLD_CLUSTER_NS:-}" ] && cpu=${BENCH_CPU_CL:-}
	[ -n "$cpu" ] || return 0
	printf '%s\n' taskset -c "$cpu"
}

# bench_pid NAME: the PID of the newest process recorded as NAME.
bench_pid() {
	awk -v n="$1" '$1 == n { p = $2 } END { if (p == "") exit 1; print p }' \
	    "$BENCH_TMP/pids"
}

# bench_stop_pid PID START [NAME]: SIGTERM, SIGKILL after 5 s.
bench_stop_pid() {
	local pid=$1 st=$2 name=${3:-pid $1} i
	bench_alive "$pid" "$st" || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		if ! bench_alive "$pid" "$st"; then
			wait "$pid" 2>/dev/null
			return 0
		fi
		sleep 0.1
	done
	bench_log "$name (pid $pid) ignored SIGTERM for 5 s: SIGKILL"
	kill -KILL "$pid" 2>/dev/null
	for ((i = 0; i < 20; i++)); do
		bench_alive "$pid" "$st" || return 0
		sleep 0.1
	done
	return 1
}

# bench_stop NAME: stops every live process recorded as NAME.
bench_stop() {
	local name pid st
	while read -r name pid st; do
		[ "$name" = "$1" ] || continue
		bench_stop_pid "$pid" "$st" "$name"
	done <"$BENCH_TMP/pids"
	return 0
}

# bench_stop_all: every recorded process, newest first.
bench_stop_all() {
	local -a procs=()
	local i name pid st
	[ -f "$BENCH_TMP/pids" ] || return 0
	mapfile -t procs <"$BENCH_TMP/pids"
	for ((i = ${#procs[@]} - 1; i >= 0; i--)); do
		read -r name pid st <<<"${procs[i]}"
		bench_stop_pid "$pid" "$st" "$name"
	done
}

# bench_running NAME: the newest process recorded as NAME is alive.
bench_running() {
	local line
	line=$(awk -v n="$1" '$1 == n { l = $0 } END { print l }' "$BENCH_TMP/pids")
	[ -n "$line" ] || return 1
	# shellcheck disable=SC2086
	set -- $line
	bench_alive "$2" "$3"
}

# ---- waiting -------------------------------------------------------------

bench_now_us() {
	echo "${EPOCHREALTIME/[.,]/}"
}

# bench_retry SECONDS CMD...: runs CMD every 20 ms until it succeeds or
# SECONDS (whole) pass.
bench_retry() {
	local deadline=$(($(bench_now_us) + $1 * 1000000))
	shift
	while :; do
		"$@" && return 0
		[ "$(bench_now_us)" -lt "$deadline" ] || return 1
		sleep 0.02
	done
}

# bench_tcp_listening NS IP PORT: a TCP socket listens on IP:PORT in NS.
bench_tcp_listening() {
	local hexport
	hexport=$(printf '%04X' "$3")
	ip netns exec "$1" cat /proc/net/tcp 2>/dev/null | awk -v ip="$2" -v p="$hexport" '
		BEGIN { split(ip, o, "."); want = sprintf("%02X%02X%02X%02X:%s", o[4], o[3], o[2], o[1], p) }
		$4 == "0A" && ($2 == want || $2 == "00000000:" p) { f = 1 }
		END { exit !f }'
}

# ---- per-process accounting ------------------------------------------------

# bench_cpu_ticks PID...: user+system CPU time of the processes, in ticks.
bench_cpu_ticks() {
	local pid stat sum=0
	for pid in "$@"; do
		stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		# shellcheck disable=SC2086
		set -- ${stat##*) }
		sum=$((sum + ${12} + ${13}))
	done
	echo "$sum"
}

# bench_status_kb FIELD PID...: the sum of a /proc/PID/status field (VmRSS,
# VmHWM) in KiB.
bench_status_kb() {
	local field=$1 pid v sum=0
	shift
	for pid in "$@"; do
		v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/status" 2>/dev/null)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# ---- statistics ------------------------------------------------------------

# bench_record PATH FIGURE VALUE: one run's value (empty: the run failed).
bench_record() {
	printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$BENCH_TMP/results.tsv"
	bench_log "  $1 $2: ${3:-failed}"
}

# bench_note PATH FIGURE TEXT: why a figure is missing or how to read it.
bench_note() {
	printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$BENCH_TMP/notes.tsv"
}

# bench_stats PATH FIGURE: "median min max count" of the recorded values.
bench_stats() {
	awk -F '\t' -v p="$1" -v f="$2" '$1 == p && $2 == f && $3 != "" { v[n++] = $3 + 0 }
		END {
			if (n == 0) exit 1
			for (i = 1; i < n; i++) { x = v[i]; for (j = i - 1; j >= 0 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
			med = (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
			print med, v[0], v[n - 1], n
		}' "$BENCH_TMP/results.tsv" 2>/dev/null
}

# ---- the machine -----------------------------------------------------------

# bench_machine: a Markdown description of the machine and its crypto
# ceiling (one core, AES-128-GCM through the EVP interface).
bench_machine() {
	local cpu cores kernel ossl speed
	cpu=$(awk -F ': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	cores=$(nproc)
	kernel=$(uname -r)
	ossl=$(openssl version 2>/dev/null)
	speed=$(timeout 60 openssl speed -seconds 1 -evp aes-128-gcm 2>/dev/null |
		awk '/^(AES-128-GCM|aes-128-gcm)/ { print }' | tail -n 1)
	echo "- CPU: ${cpu:-unknown}, $cores cores online ($(grep -c -w -E 'aes' /proc/cpuinfo >/dev/null && echo AES-NI || echo 'no AES-NI'))"
	echo "- kernel: $kernel; $(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "- $ossl"
	if [ -n "$speed" ]; then
		echo "- \`openssl speed -evp aes-128-gcm\`, one core (bytes/s in kB for 16 B, 64 B, 256 B, 1 KiB, 8 KiB, 16 KiB blocks):"
		echo "  \`$speed\`"
	fi
	echo "- load: $(cut -d ' ' -f 1-3 /proc/loadavg) (1/5/15 min) when the run started"
	bench_machine_idle
}

# How an idle CPU waits for its next wake-up: what every round trip pays
# (docs/performance.md, "Waking up").
bench_machine_idle() {
	local d=/sys/devices/system/cpu/cpuidle drv gov poll
	drv=$(cat "$d/current_driver" 2>/dev/null) || return 0
	gov=$(cat "$d/current_governor_ro" 2>/dev/null || cat "$d/current_governor" 2>/dev/null)
	poll=$(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns 2>/dev/null)
	echo "- idle CPUs: cpuidle driver ${drv:-none}, governor ${gov:-none}${poll:+, guest_halt_poll_ns $poll}"
}
