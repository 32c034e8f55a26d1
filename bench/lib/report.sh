# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Variables are shared between the files of bench/lib and bench/run.
# shellcheck disable=SC2034,SC2153
#
# report.sh: the results as Markdown: a table of medians with each figure's
# ratio to the bare veth measured in the same run, the targets of the
# issue checked against them, notes, and every figure's min and max.

# bench_fmt NUMBER: 3 significant-ish digits, thousands as plain digits.
bench_fmt() {
	awk -v v="$1" 'BEGIN {
		a = v < 0 ? -v : v
		if (a >= 1000) printf "%.0f", v
		else if (a >= 100) printf "%.0f", v
		else if (a >= 10) printf "%.1f", v
		else printf "%.2f", v }'
}

# bench_median PATH FIGURE: the median, or nothing.
bench_median() {
	local s
	s=$(bench_stats "$1" "$2") || return 1
	echo "${s%% *}"
}

bench_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) exit 1; printf "%.2f", a / b }'
}

# bench_cell PATH FIGURE BETTER: "median (ratio x)" or "n/a".
bench_cell() {
	local path=$1 fig=$2 better=$3 m b r
	m=$(bench_median "$path" "$fig") || {
		echo "-"
		return
	}
	if [ "$path" != bare ] && [ "$better" != - ] && b=$(bench_median bare "$fig") &&
	    r=$(bench_ratio "$m" "$b"); then
		echo "$(bench_fmt "$m") (${r}x)"
	else
		bench_fmt "$m"
	fi
}

# bench_target TEXT CONDITION-RESULT: one line of the targets list.
bench_target_line() {
	local text=$1 verdict=$2 detail=$3
	printf -- '- %s %s: %s\n' "$verdict" "$text" "$detail"
}

# bench_targets PATH: the issue's targets for one telepod path.
bench_targets() {
	local p=$1 v b s x ok
	# cmp A OP B: awk comparison, prints MET / MISSED / n/a.
	cmp() {
		if [ -z "$1" ] || [ -z "$3" ]; then
			echo "n/a"
			return
		fi
		awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
			r = (op == ">=") ? (a >= b) : (op == "<=") ? (a <= b) : (op == "<") ? (a < b) : 0
			print r ? "MET" : "MISSED" }'
	}
	v=$(bench_median "$p" tput1)
	b=$(bench_median bare tput1)
	s=$(bench_median stunnel tput1)
	x=$(awk -v b="$b" 'BEGIN { if (b != "") print 0.25 * b }')
	ok=$(cmp "$v" ">=" "$x")
	if [ "$ok" = MET ] && [ -n "$s" ]; then ok=$(cmp "$v" ">=" "$s"); fi
	bench_target_line "one stream >= stunnel and >= 0.25x bare" "$ok" "${v:-?} Gbit/s vs stunnel ${s:-not measured}, bare ${b:-?}"
	v=$(bench_median "$p" ka1_rps)
	b=$(bench_median bare ka1_rps)
	bench_target_line "one keep-alive connection >= 0.7x bare req/s" "$(cmp "$v" ">=" "$(awk -v b="$b" 'BEGIN { if (b != "") print 0.7 * b }')")" "${v:-?} vs bare ${b:-?}"
	v=$(bench_median "$p" rtt_p50)
	b=$(bench_median bare rtt_p50)
	bench_target_line "RTT p50 <= 1.5x bare" "$(cmp "$v" "<=" "$(awk -v b="$b" 'BEGIN { if (b != "") print 1.5 * b }')")" "${v:-?} us vs bare ${b:-?}"
	v=$(bench_median "$p" ka64_rps)
	b=$(bench_median bare ka64_rps)
	bench_target_line "64 keep-alive connections >= 0.5x bare" "$(cmp "$v" ">=" "$(awk -v b="$b" 'BEGIN { if (b != "") print 0.5 * b }')")" "${v:-?} vs bare ${b:-?}"
	v=$(bench_median "$p" conn_rps)
	b=$(bench_median bare conn_rps)
	bench_target_line "new connections >= 0.5x bare" "$(cmp "$v" ">=" "$(awk -v b="$b" 'BEGIN { if (b != "") print 0.5 * b }')")" "${v:-?}/s vs bare ${b:-?}"
	v=$(bench_median "$p" dns_qps)
	x=$(bench_median "$p" dns_p99)
	ok=$(cmp "$v" ">=" 20000)
	if [ "$ok" = MET ]; then ok=$(cmp "$x" "<" 2000); fi
	bench_target_line "DNS >= 20,000 qps with p99 < 2 ms" "$ok" "${v:-?} qps, p99 ${x:-?} us"
	v=$(bench_median "$p" idle_rss_daemon)
	x=$(bench_median "$p" idle_rss_server)
	ok=$(cmp "$v" "<" 64)
	if [ "$ok" = MET ]; then ok=$(cmp "$x" "<" 64); fi
	bench_target_line "10,000 idle streams: daemon and server < 64 MiB RSS each" "$ok" "telepodd ${v:-?} MiB, telepod-server ${x:-?} MiB"
	v=$(bench_median "$p" connect)
	bench_target_line "connect to first request < 1 s" "$(cmp "$v" "<" 1000)" "${v:-?} ms"
	unset -f cmp
}

# bench_report: the whole Markdown document on stdout.
bench_report() {
	local p f id label unit better line s
	local -a paths=()
	for p in $BENCH_PATHS; do
		grep -q "^$p	" "$BENCH_TMP/results.tsv" 2>/dev/null && paths+=("$p")
	done
	echo "# telepod bench, $BENCH_DATE"
	echo
	echo "\`bench/run $BENCH_ARGS_SHOWN\`: $BENCH_MODE mode, each figure the median of $BENCH_RUNS run(s) of ${BENCH_DURATION} s loads; in brackets the ratio to the bare veth measured in the same run. Load generator, services and both tunnel ends share the machine's cores, so ratios carry over to other machines better than absolute numbers."
	echo
	echo "## Machine"
	echo
	cat "$BENCH_TMP/machine.md"
	echo
	echo "## Results"
	echo
	line="| figure | unit |"
	for p in "${paths[@]}"; do line+=" ${BENCH_PATH_TITLE[$p]} |"; done
	echo "$line"
	line="|---|---|"
	for p in "${paths[@]}"; do line+="---|"; done
	echo "$line"
	for f in "${BENCH_FIGURES[@]}"; do
		IFS='|' read -r id label unit better <<<"$f"
		grep -q "	$id	[0-9]" "$BENCH_TMP/results.tsv" 2>/dev/null || continue
		line="| $label | $unit |"
		for p in "${paths[@]}"; do line+=" $(bench_cell "$p" "$id" "$better") |"; done
		echo "$line"
	done
	echo
	for p in tun socks; do
		grep -q "^$p	" "$BENCH_TMP/results.tsv" 2>/dev/null || continue
		echo "## Targets: ${BENCH_PATH_TITLE[$p]}"
		echo
		bench_targets "$p"
		echo
	done
	echo "## Notes"
	echo
	cat "$BENCH_TMP/run-notes.md" 2>/dev/null
	if [ -s "$BENCH_TMP/notes.tsv" ]; then
		sort -u "$BENCH_TMP/notes.tsv" | while IFS=$'\t' read -r p f line; do
			echo "- ${BENCH_PATH_TITLE[$p]:-$p}, $f: $line"
		done
	fi
	echo
	echo "## Spread (median, min, max over the runs)"
	echo
	echo "| path | figure | median | min | max | runs |"
	echo "|---|---|---|---|---|---|"
	for p in "${paths[@]}"; do
		for f in "${BENCH_FIGURES[@]}"; do
			IFS='|' read -r id label unit better <<<"$f"
			s=$(bench_stats "$p" "$id") || continue
			# shellcheck disable=SC2086
			set -- $s
			echo "| ${BENCH_PATH_TITLE[$p]} | $id ($unit) | $(bench_fmt "$1") | $(bench_fmt "$2") | $(bench_fmt "$3") | $4 |"
		done
	done
}
