# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Variables are shared between the files of bench/lib and bench/run.
# shellcheck disable=SC2034,SC2153
#
# measure.sh: one function per figure, fig_NAME PATH, run once per
# repetition on a started path (the T_* variables of paths.sh). Each load
# runs in the laptop namespace under `timeout`, lasts BENCH_DURATION
# seconds and records its values with bench_record (an empty value when
# the run failed). Raw outputs are kept in $BENCH_TMP/raw/.

# Figure ids, in table order: "id|label|unit|better" (better: up or down;
# "-" for figures without a baseline).
BENCH_FIGURES=(
	"connect|connect to first request|ms|down"
	"tput1|iperf3, 1 stream|Gbit/s|up"
	"tput8|iperf3, 8 streams|Gbit/s|up"
	"ka1_rps|wrk 1 KiB, 1 keep-alive connection|req/s|up"
	"ka1_p50|  latency p50|us|down"
	"ka1_p99|  latency p99|us|down"
	"ka64_rps|wrk 1 KiB, 64 keep-alive connections|req/s|up"
	"ka64_p50|  latency p50|us|down"
	"ka64_p99|  latency p99|us|down"
	"conn_rps|new connections (64 concurrent, Connection: close)|req/s|up"
	"conn_p99|  latency p99 (connect to close)|us|down"
	"rtt_p50|TCP ping-pong RTT p50 (sockperf, 64 B)|us|down"
	"rtt_p99|TCP ping-pong RTT p99|us|down"
	"dns_qps|DNS queries, 100 outstanding|qps|up"
	"dns_p50|DNS latency p50 at 5,000 qps|us|down"
	"dns_p99|DNS latency p99 at 5,000 qps|us|down"
	"cpu_client|laptop-side CPU per GiB (1 stream)|s/GiB|-"
	"cpu_server|cluster-side CPU per GiB (1 stream)|s/GiB|-"
	"rss_client|laptop-side peak RSS|MiB|-"
	"rss_server|cluster-side peak RSS|MiB|-"
	"busy_tput|iperf3, 1 stream while 1,000 others are active|Gbit/s|up"
	"idle_rss_daemon|telepodd RSS, 10,000 idle streams|MiB|-"
	"idle_rss_server|telepod-server RSS, 10,000 idle streams|MiB|-"
)

bench_raw() {
	mkdir -p "$BENCH_TMP/raw"
	echo "$BENCH_TMP/raw/$1-$2-$BENCH_REP.txt"
}

# bench_load SECONDS CMD...: CMD in the laptop namespace, bounded.
bench_load() {
	local secs=$1
	local -a pin
	shift
	mapfile -t pin < <(bench_pin "$WORLD_LAPTOP_NS")
	in_lp "${pin[@]}" timeout -k 2 "$secs" "$@"
}

# bench_tunnel_pids SIDE: PIDs of the current path's processes on one side
# (laptop or cluster): in that namespace now, not there before the path.
bench_tunnel_pids() {
	local ns
	[ "$1" = laptop ] && ns=$WORLD_LAPTOP_NS || ns=$WORLD_CLUSTER_NS
	grep "^$ns " "$BENCH_TMP/path.pids" 2>/dev/null | cut -d ' ' -f 2
}

# to_us VALUE-WITH-UNIT: wrk's "512.00us", "1.20ms", "2.00s" in us.
to_us() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); print v + 0 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); print v * 1000 }
		else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000000 }
		else print "" }'
}

# iperf3 JSON: "bits_per_second bytes" of the receiver's sum.
bench_iperf_result() {
	python3 -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    s = d["end"]["sum_received"]
    print("%.3f %d" % (s["bits_per_second"] / 1e9, s["bytes"]))
except Exception:
    sys.exit(1)' "$1"
}

# bench_iperf PATH STREAMS [TAG]: "Gbit/s bytes" of one iperf3 run.
bench_iperf() {
	local path=$1 streams=$2 out
	out=$(bench_raw "$path" "${3:-iperf$streams}")
	bench_load $((BENCH_DURATION + 20)) "${T_WRAP[@]}" iperf3 -c "$T_HOST" -p "$T_PORT_IPERF" \
	    -t "$BENCH_DURATION" -P "$streams" -J >"$out" 2>&1
	bench_iperf_result "$out"
}

fig_tput1() {
	local path=$1 r c0 s0 c1 s1 gib
	local -a cp sp
	mapfile -t cp < <(bench_tunnel_pids laptop)
	mapfile -t sp < <(bench_tunnel_pids cluster)
	c0=$(bench_cpu_ticks "${cp[@]}")
	s0=$(bench_cpu_ticks "${sp[@]}")
	bench_profile_start "$path" tput1
	r=$(bench_iperf "$path" 1) || r=
	c1=$(bench_cpu_ticks "${cp[@]}")
	s1=$(bench_cpu_ticks "${sp[@]}")
	bench_profile_stop "$path"
	if [ -z "$r" ]; then
		bench_record "$path" tput1 ""
		return
	fi
	bench_record "$path" tput1 "${r% *}"
	[ "$path" != bare ] || return 0
	gib=$(awk -v b="${r#* }" 'BEGIN { printf "%.6f", b / 1073741824 }')
	bench_record "$path" cpu_client "$(awk -v t=$((c1 - c0)) -v g="$gib" -v hz="$BENCH_HZ" 'BEGIN { if (g > 0) printf "%.3f", t / hz / g }')"
	bench_record "$path" cpu_server "$(awk -v t=$((s1 - s0)) -v g="$gib" -v hz="$BENCH_HZ" 'BEGIN { if (g > 0) printf "%.3f", t / hz / g }')"
}

# --profile: perf record -g on telepodd and telepod-server during the
# first load of BENCH_PROFILE_FIG (default the single-stream one) of a
# telepod path, and, when pinned, perf record -a on each side's CPU (load
# generator, service and kernel work included); perf report goes to
# $BENCH_STAMP-profile-[FIG-]PATH-{daemon,server,laptop-cpu,cluster-cpu}.txt
# next to the results.
bench_profile_start() {
	local path=$1 fig=${2:-tput1} who
	local -a target
	BENCH_PROFILING=
	[ "${BENCH_PROFILE:-0}" = 1 ] && [ "$fig" = "${BENCH_PROFILE_FIG:-tput1}" ] &&
	    [ -n "$T_DAEMON_PID" ] && [ "$BENCH_REP" = 1 ] || return 0
	command -v perf >/dev/null || { bench_log "perf is not installed: no profile"; return 0; }
	BENCH_PROFILE_WHO=(daemon server)
	[ -z "${BENCH_CPU_LP:-}" ] || BENCH_PROFILE_WHO+=(laptop-cpu cluster-cpu)
	for who in "${BENCH_PROFILE_WHO[@]}"; do
		case $who in
		daemon) target=(-p "$T_DAEMON_PID") ;;
		server) target=(-p "$T_SERVER_PID") ;;
		laptop-cpu) target=(-a -C "$BENCH_CPU_LP") ;;
		cluster-cpu) target=(-a -C "$BENCH_CPU_CL") ;;
		esac
		bench_spawn "perf-$who" - perf record -g -F 999 "${target[@]}" \
		    -o "$BENCH_TMP/perf-$path-$who.data" -- sleep "$BENCH_DURATION"
	done
	BENCH_PROFILING=$fig
}

bench_profile_stop() {
	local path=$1 who i fig=${BENCH_PROFILING:-} name
	[ -n "$fig" ] || return 0
	name=$path
	[ "$fig" = tput1 ] || name=$fig-$path
	for who in "${BENCH_PROFILE_WHO[@]}"; do
		for ((i = 0; i < (BENCH_DURATION + 10) * 10; i++)); do
			bench_running "perf-$who" || break
			sleep 0.1
		done
		bench_stop "perf-$who"
		{
			echo "# perf record -g -F 999 on $who during the first $fig load of $path"
			echo "## by object"
			timeout 120 perf report -i "$BENCH_TMP/perf-$path-$who.data" --stdio \
			    --no-children -g none --percent-limit 0.5 --sort comm,dso 2>/dev/null | grep -v '^#' | grep .
			echo "## by symbol (self)"
			timeout 120 perf report -i "$BENCH_TMP/perf-$path-$who.data" --stdio \
			    --no-children -g none --percent-limit 0.5 --sort comm,dso,symbol 2>/dev/null | grep -v '^#' | grep .
			echo "## by symbol with callers (children included)"
			timeout 120 perf report -i "$BENCH_TMP/perf-$path-$who.data" --stdio \
			    --children -g none --percent-limit 5 --sort comm,symbol 2>/dev/null | grep -v '^#' | grep .
		} >"$BENCH_RESULTS/$BENCH_STAMP-profile-$name-$who.txt"
		rm -f "$BENCH_TMP/perf-$path-$who.data"
		bench_log "  profile of $who: $BENCH_RESULTS/$BENCH_STAMP-profile-$name-$who.txt"
	done
	BENCH_PROFILING=
}

fig_tput8() {
	local path=$1 r
	r=$(bench_iperf "$path" 8) || r=
	bench_record "$path" tput8 "${r% *}"
}

# wrk with --latency: records PREFIX_rps, PREFIX_p50, PREFIX_p99.
bench_wrk() {
	local path=$1 prefix=$2 threads=$3 conns=$4 out rps p50 p99 errs
	out=$(bench_raw "$path" "$prefix")
	bench_profile_start "$path" "$prefix"
	bench_load $((BENCH_DURATION + 20)) "${T_WRAP[@]}" wrk -t "$threads" -c "$conns" \
	    -d "${BENCH_DURATION}s" --latency "http://$T_HOST:$T_PORT_HTTP/" >"$out" 2>&1
	bench_profile_stop "$path"
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	p50=$(to_us "$(awk '$1 == "50%" { print $2 }' "$out")")
	p99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$out")")
	errs=$(awk '/Socket errors|Non-2xx/ { print }' "$out" | tr '\n' ' ')
	if [ -n "$errs" ]; then
		bench_note "$path" "${prefix}_rps" "wrk reported: $errs"
	fi
	bench_record "$path" "${prefix}_rps" "$rps"
	bench_record "$path" "${prefix}_p50" "$p50"
	bench_record "$path" "${prefix}_p99" "$p99"
}

fig_ka1() {
	bench_wrk "$1" ka1 1 1
}

fig_ka64() {
	bench_wrk "$1" ka64 2 64
}

# tp-bench conns in close mode: a new connection per request, 64 at a time
# (wrk cannot do its handshakes through SOCKS5 without blocking).
fig_conn() {
	local path=$1 out line rt ms fail
	local -a via=()
	[ -z "$T_SOCKS" ] || via=(--socks "$T_SOCKS")
	out=$(bench_raw "$path" conn)
	bench_profile_start "$path" conn
	bench_load $((BENCH_DURATION + 20)) "$BENCH_TOOL" conns --to "$T_HOST:$T_PORT_HTTP" \
	    "${via[@]}" -n 64 --mode close --duration "$BENCH_DURATION" >"$out" 2>&1
	bench_profile_stop "$path"
	line=$(grep '^done ' "$out")
	rt=$(sed -n 's/.* roundtrips=\([0-9]*\).*/\1/p' <<<"$line")
	ms=$(sed -n 's/.* ms=\([0-9]*\).*/\1/p' <<<"$line")
	fail=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(failed|closed)=/) { split($i, a, "="); s += a[2] } } END { print s + 0 }' <<<"$line")
	if [ -z "$rt" ] || [ -z "$ms" ] || [ "$ms" = 0 ] || [ "$rt" = 0 ]; then
		bench_record "$path" conn_rps ""
		return
	fi
	[ "$fail" = 0 ] || bench_note "$path" conn_rps "$fail failed connections in one run"
	bench_record "$path" conn_rps "$(awk -v r="$rt" -v m="$ms" 'BEGIN { printf "%.0f", r * 1000 / m }')"
	bench_record "$path" conn_p99 "$(sed -n 's/.* p99_us=\([0-9]*\).*/\1/p' <<<"$line")"
}

fig_rtt() {
	local path=$1 out
	out=$(bench_raw "$path" rtt)
	bench_profile_start "$path" rtt
	bench_load $((BENCH_DURATION + 20)) "${T_WRAP[@]}" sockperf ping-pong --tcp -i "$T_HOST" \
	    -p "$T_PORT_SOCKPERF" -t "$BENCH_DURATION" -m 64 --full-rtt --mps=max >"$out" 2>&1
	bench_profile_stop "$path"
	bench_record "$path" rtt_p50 "$(sed -n 's/.*percentile 50\.000 = *\([0-9.]*\).*/\1/p' "$out" | head -n 1)"
	bench_record "$path" rtt_p99 "$(sed -n 's/.*percentile 99\.000 = *\([0-9.]*\).*/\1/p' "$out" | head -n 1)"
}

bench_dns_queries() {
	local f=$BENCH_TMP/dns-queries.txt d=svc.$WORLD_CLUSTER_DOMAIN ns=$WORLD_K8S_NAMESPACE
	[ -f "$f" ] && return 0
	{
		echo "gateway.$ns.$d A"
		echo "redis-master.$ns.$d A"
		echo "postgresql.$ns.$d A"
		echo "kube-dns.kube-system.$d A"
		echo "_http._tcp.gateway.$ns.$d SRV"
	} >"$f"
}

fig_dns() {
	local path=$1 out lat q
	if [ -z "$T_DNS" ]; then
		bench_note "$path" dns_qps "the path carries no DNS"
		return
	fi
	bench_dns_queries
	out=$(bench_raw "$path" dns)
	bench_load $((BENCH_DURATION + 20)) dnsperf -s "$T_DNS" -d "$BENCH_TMP/dns-queries.txt" \
	    -l "$BENCH_DURATION" -q 100 -t 2 >"$out" 2>&1
	q=$(awk '/Queries per second:/ { printf "%.0f", $4 }' "$out")
	if ! grep -q 'Response codes: *NOERROR [0-9]* (100.00%)' "$out"; then
		bench_note "$path" dns_qps "not every answer was NOERROR: $(grep -E 'Queries lost|Response codes' "$out" | tr -s ' ' | tr '\n' ' ')"
	fi
	bench_record "$path" dns_qps "$q"
	# Latency at a fixed rate, from each answer's time (dnsperf -v).
	lat=$(bench_raw "$path" dnslat)
	bench_load $((BENCH_DURATION + 20)) dnsperf -s "$T_DNS" -d "$BENCH_TMP/dns-queries.txt" \
	    -l "$BENCH_DURATION" -Q 5000 -q 100 -t 2 -v >"$lat" 2>&1
	awk '$1 == ">" && $2 == "NOERROR" { print $NF * 1000000 }' "$lat" | sort -n >"$lat.sorted"
	bench_record "$path" dns_p50 "$(bench_quantile "$lat.sorted" 0.5)"
	bench_record "$path" dns_p99 "$(bench_quantile "$lat.sorted" 0.99)"
	rm -f "$lat.sorted"
}

# bench_quantile FILE Q: the Q quantile of the sorted numbers in FILE.
bench_quantile() {
	awk -v q="$2" '{ v[NR] = $1 } END { if (NR == 0) exit; i = int(q * NR); if (i < 1) i = 1; printf "%.0f", v[i] }' "$1"
}

# Peak RSS of the path's processes (after the loads).
fig_rss() {
	local path=$1
	local -a cp sp
	[ "$path" != bare ] || return 0
	mapfile -t cp < <(bench_tunnel_pids laptop)
	mapfile -t sp < <(bench_tunnel_pids cluster)
	bench_record "$path" rss_client "$(awk -v k="$(bench_status_kb VmHWM "${cp[@]}")" 'BEGIN { printf "%.1f", k / 1024 }')"
	bench_record "$path" rss_server "$(awk -v k="$(bench_status_kb VmHWM "${sp[@]}")" 'BEGIN { printf "%.1f", k / 1024 }')"
}

# bench_conns_bg NAME COUNT MODE SECONDS [ARGS...]: tp-bench conns to the echo
# service in the background; waits until all are through (or failed).
bench_conns_bg() {
	local name=$1 count=$2 mode=$3 secs=$4 ready
	shift 4
	local -a via=()
	[ -z "$T_SOCKS" ] || via=(--socks "$T_SOCKS")
	ready=$BENCH_TMP/$name.ready
	rm -f "$ready"
	bench_spawn "$name" "$WORLD_LAPTOP_NS" "$BENCH_TOOL" conns --to "$T_HOST:$T_PORT_ECHO" \
	    "${via[@]}" -n "$count" --mode "$mode" --duration "$secs" --ready-file "$ready" "$@"
	if ! bench_retry 60 test -s "$ready"; then
		bench_log "$name: connections not through after 60 s"
		bench_stop "$name"
		return 1
	fi
	BENCH_CONNS_READY=$(cat "$ready")
	bench_log "  $name: $BENCH_CONNS_READY"
	case $BENCH_CONNS_READY in
	*" established=$count "*) return 0 ;;
	esac
	bench_stop "$name"
	return 1
}

# One stream's throughput while 1,000 connections each do a 1 KiB
# round trip every 100 ms (10,000 round trips per second in all).
fig_busy() {
	local path=$1 r
	if ! bench_conns_bg busy-conns 1000 pingpong $((BENCH_DURATION + 90)) --msg 1024 --interval-ms 100 --ramp 128; then
		bench_note "$path" busy_tput "the 1,000 connections did not all open: ${BENCH_CONNS_READY:-}"
		bench_record "$path" busy_tput ""
		return
	fi
	r=$(bench_iperf "$path" 1 busy) || r=
	bench_stop busy-conns
	bench_record "$path" busy_tput "${r% *}"
}

# RSS of telepodd and telepod-server with 10,000 idle streams open, opened
# 128 at a time (telepodd's SOCKS5 entry takes 256 handshakes in flight).
fig_idle() {
	local path=$1 open
	if [ -z "$T_DAEMON_PID" ]; then
		return
	fi
	if ! bench_conns_bg idle-conns 10000 idle 120 --ramp 128; then
		bench_note "$path" idle_rss_daemon "10,000 streams did not all open: ${BENCH_CONNS_READY:-}"
		bench_record "$path" idle_rss_daemon ""
		return
	fi
	sleep 1
	open=$(bench_tp_cli status -o json 2>/dev/null | sed -n 's/.*"streams_open": *\([0-9]*\).*/\1/p')
	bench_record "$path" idle_rss_daemon "$(awk -v k="$(bench_status_kb VmRSS "$T_DAEMON_PID")" 'BEGIN { printf "%.1f", k / 1024 }')"
	bench_record "$path" idle_rss_server "$(awk -v k="$(bench_status_kb VmRSS "$T_SERVER_PID")" 'BEGIN { printf "%.1f", k / 1024 }')"
	bench_note "$path" idle_rss_daemon "streams open during the sample: ${open:-unknown}"
	bench_stop idle-conns
}
