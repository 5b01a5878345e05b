#!/bin/sh
# bench/run.sh - `make bench`: what recording costs, as one table. Every
# workload runs ROUNDS times under each tool -- plain (no profiler),
# `poolscout record`, and heaptrack if installed -- interleaved (round 1:
# every workload under every tool, then round 2, ...) so that the load
# of a shared machine hits all tools alike. The headline numbers are
# ratios to the plain run of the same round, their median over the
# rounds; absolute times are only for scale. Rows (ROWS selects):
#
#   alloc        bench/alloc_bench.c: 2 threads x 4M malloc/free of 64-112 B
#                at the end of a 12-frame descent, a realloc chain every 64th
#   sample       the same under `poolscout record --sample 64`
#   real         real programs (jq, python3, perl, sqlite3, sort
#                --parallel=2, clang++ -O2, git, redis, nginx): the
#                workloads of bench/programs.sh and
#                tests/integration/real_world_workloads.sh
#   perl         perl -e making 10M small strings, all held to the end
#   live         bench/live_blocks.c: 4M blocks of 32-48 B held at once
#   threads      bench/short_threads.c: 20k short-lived threads
#   stacks       bench/distinct_stacks.c: 262144 distinct 24-frame stacks
#   long_stacks  the same with 524288 stacks (a scaled-down 2.1M-stack
#                run), LONG_ROUNDS rounds (default ROUNDS); both stack
#                rows also time `poolscout report` on the profile
#
# It prints the medians behind each row, then the table: per row the
# plain run's time, poolscout's and heaptrack's ratios, the row's own
# measure (RSS per live block, bytes per stack, ...), its target, PASS or
# MISS, and the spread of poolscout's per-round ratios (flagged when the
# rounds fall on both sides of a time target: then noise decides).
#
# Times: wall (elapsed) and CPU (user + sys of the command and the
# children it waited for: the profiled program and the profiler's own
# processes). For a real program both are sums over the commands its
# workload runs under the tool (a server's clients and the setup are not
# counted). Peak RSS: /usr/bin/time's %M, the peak of the largest single
# process of the tree, not a sum: for plain and poolscout that is the
# profiled program (`poolscout record` itself stays at a few MiB while it
# runs), for heaptrack the larger of the program and heaptrack_interpret.
# In the threads and stacks rows poolscout's is the profiled program's
# own peak, reported by bench/peak_rss.so: record reads every profile for
# its closing summary, which with 262k stacks takes more than the
# program. Live
# blocks at the peak are counted by bench/count_live.so (a preload shim
# that counts glibc calls), distinct stacks by construction. Round 1 also
# checks poolscout's output: the program printed what it printed plain,
# the profile reads back complete, its peak of live blocks and its stack
# count match that ground truth; what fails is listed under the table.
#
#   make bench                      (builds what it needs, then this)
#   ROUNDS=1 sh bench/run.sh        a quick look
#   ROWS="alloc sample" ROUNDS=5 sh bench/run.sh
#   PROGRAMS="jq git" ROWS=real sh bench/run.sh
set -eu
B=${POOLSCOUT_BUILD:-build}
BB=$B/bench
PS=$PWD/$B/poolscout
ROUNDS=${ROUNDS:-3}
LONG_ROUNDS=${LONG_ROUNDS:-$ROUNDS}
ROWS=${ROWS:-"alloc sample real perl live threads stacks long_stacks"}
PROGRAMS=${PROGRAMS:-"jq python perl sqlite sort clang git redis nginx"}
ITERS=${ITERS:-4000000}
LIVE_BLOCKS=${LIVE_BLOCKS:-4000000}
THREADS=${THREADS:-20000}
STACK_LEVELS=${STACK_LEVELS:-18}
LONG_STACK_LEVELS=${LONG_STACK_LEVELS:-19}
PERL_N=${PERL_N:-10000000}
PERL_CODE="my @a; push @a, \"x\$_\" for 1..$PERL_N; print scalar(@a), \"\\n\""
# real programs: sizes that take ~0.3-0.5 s of CPU plain
export RW_PERL_N="${RW_PERL_N:-400000}" RW_SQLITE_N="${RW_SQLITE_N:-300000}" \
	RW_PY_N="${RW_PY_N:-100000}"
W=$(mktemp -d "${TMPDIR:-/tmp}/poolscout-bench-XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/runs"
: >"$W/notes"
: >"$W/table"

for f in "$PS" "$BB/alloc_bench" "$BB/live_blocks" "$BB/short_threads" \
	"$BB/distinct_stacks" "$BB/count_live.so" "$BB/peak_rss.so" /usr/bin/time; do
	[ -e "$f" ] || { echo "bench: $f missing: run make bench" >&2; exit 1; }
done
heaptrack=
command -v heaptrack >/dev/null && heaptrack=heaptrack
has_row() { case " $ROWS " in *" $1 "*) return 0 ;; esac; return 1; }
note() { echo "- $*" >>"$W/notes"; }
load1() { cut -d' ' -f1 /proc/loadavg; }
load1 >"$W/load"
started=$(date +%s)

# ---- measuring ---------------------------------------------------------

# tools ROW: the tools the row runs under, plain first
tools() {
	case $1 in
	alloc) echo "plain poolscout sample64 $heaptrack" ;;
	*) echo "plain poolscout $heaptrack" ;;
	esac
}

# profile_bytes DIR: the size of the files under DIR, in bytes
profile_bytes() {
	find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'
}

# check_profile ROW DIR: round 1's look at what poolscout wrote -- that
# it is complete and that its totals match the ground truth
check_profile() {
	if ! "$PS" info --json "$2"/*.pscout >"$W/info.json" 2>"$W/info.err"; then
		note "$1: poolscout info cannot read the profile: $(head -1 "$W/info.err")"
		return
	fi
	if ! command -v jq >/dev/null; then
		return
	fi
	jq -e 'all(.[]; .complete)' "$W/info.json" >/dev/null ||
		note "$1: poolscout marked a profile incomplete"
	case $1 in
	stacks | long_stacks)
		want=$((1 << $(levels "$1")))
		got=$(jq '[.[].stacks] | add' "$W/info.json")
		what="stacks" ;;
	perl | live)
		want=$(awk '/^peak_live/ { print $2 }' "$W/truth.$1")
		got=$(jq '[.[].totals.peak_live.hi] | add' "$W/info.json")
		what="live blocks at the peak" ;;
	*) return 0 ;;
	esac
	# stacks: at least the program's (main adds a few); live blocks: within 1%
	awk -v g="$got" -v w="$want" -v r="$1" 'BEGIN {
		if (g !~ /^[0-9]+$/) exit 0
		if (r ~ /stacks/) exit !(g < w)
		d = g - w; if (d < 0) d = -d; exit !(d > 0.01 * w) }' &&
		note "$1: poolscout's profile says $got $what, the ground truth is $want"
	return 0
}

levels() {
	case $1 in
	stacks) echo "$STACK_LEVELS" ;;
	long_stacks) echo "$LONG_STACK_LEVELS" ;;
	esac
}

# run_synthetic ROW TOOL ROUND: one timed run, appended to runs/ROW.TOOL
# as "wall cpu rss_kib output_bytes"
run_synthetic() {
	row=$1 tool=$2 round=$3 out=$W/out
	case $row in
	alloc) set -- "$BB/alloc_bench" "$ITERS" ;;
	perl) set -- perl -e "$PERL_CODE" ;;
	live) set -- "$BB/live_blocks" "$LIVE_BLOCKS" ;;
	threads) set -- "$BB/short_threads" "$THREADS" ;;
	stacks | long_stacks) set -- "$BB/distinct_stacks" "$(levels "$row")" 24 ;;
	esac
	rm -rf "$out"
	mkdir -p "$out/ps" "$out/ht"
	rm -f "$W/peak"
	case $tool in
	plain) ;;
	poolscout)
		set -- "$PS" record -o "$out/ps" -- "$@"
		# the profiled program's own peak, not record's (see the top)
		case $row in
		threads | stacks | long_stacks)
			set -- env LD_PRELOAD="$PWD/$BB/peak_rss.so" \
				PEAK_RSS_OUT="$W/peak" "$@" ;;
		esac ;;
	sample64) set -- "$PS" record --sample 64 -o "$out/ps" -- "$@" ;;
	heaptrack) set -- heaptrack -o "$out/ht/trace" "$@" ;;
	esac
	status=0
	start=$(date +%s%N)
	/usr/bin/time -f "%e %U %S %M" -o "$W/time" "$@" >"$W/stdout" \
		2>"$W/stderr" || status=$?
	wall=$(($(date +%s%N) - start))
	case $tool in
	plain) bytes=0 ;;
	heaptrack) bytes=$(profile_bytes "$out/ht") ;;
	*) bytes=$(profile_bytes "$out/ps") ;;
	esac
	peak=
	[ -s "$W/peak" ] && peak=$(awk '$1 != "poolscout" && $2 > m { m = $2 }
		END { print m + 0 }' "$W/peak")
	# wall time in ns from date: %e's 10 ms are too coarse for 0.1 s runs
	tail -1 "$W/time" | awk -v w="$wall" -v b="$bytes" -v p="$peak" \
		'{ printf "%.4f %.2f %d %d\n", w / 1e9, $2 + $3, p != "" ? p : $4, b }' \
		>>"$W/runs/$row.$tool"
	if [ "$tool" = plain ]; then
		[ "$round" = 1 ] && cp "$W/stdout" "$W/expect.$row"
		[ "$status" = 0 ] || note "$row: the plain run exited with status $status"
		return
	fi
	if [ "$status" != 0 ]; then
		note "$row: round $round under $tool exited with status $status: $(grep -v '^heaptrack\|^poolscout:\|^  /' "$W/stderr" | head -1)"
	elif [ "$tool" != heaptrack ] && ! cmp -s "$W/stdout" "$W/expect.$row"; then
		note "$row: round $round under $tool printed something else than the plain run"
	fi
	case $tool in
	poolscout)
		[ "$round" = 1 ] && check_profile "$row" "$out/ps"
		case $row in
		stacks | long_stacks)
			/usr/bin/time -f "%e %U %S %M" -o "$W/time" "$PS" report \
				"$out"/ps/*.pscout >/dev/null 2>"$W/stderr" ||
				note "$row: poolscout report failed: $(head -1 "$W/stderr")"
			tail -1 "$W/time" | awk '{ print $1, $2 + $3, $4 }' \
				>>"$W/runs/$row.report" ;;
		esac ;;
	esac
	return 0
}

# startup_cost: what `poolscout record` costs a program that does nothing
# (its fork and exec, loading the preload, the writer's start and final
# flush), appended to runs/startup.TOOL in ms
startup_cost() {
	for tool in plain poolscout; do
		rm -rf "$W/out"
		set -- true
		[ $tool = poolscout ] && set -- "$PS" record -o "$W/out" -- true
		start=$(date +%s%N)
		"$@" 2>/dev/null
		echo $((($(date +%s%N) - start) / 1000)) | awk '{ print $1 / 1000 }' \
			>>"$W/runs/startup.$tool"
	done
}

# workload function of a real program
program_fn() {
	case $1 in
	jq | sort | clang) echo "bp_$1" ;;
	*) echo "rw_$1" ;;
	esac
}

# the command a real program's workload needs, to skip a missing one
program_cmd() {
	case $1 in
	python) echo /usr/bin/python3 ;;
	sqlite) echo sqlite3 ;;
	clang) echo clang++ ;;
	redis) echo redis-server ;;
	*) echo "$1" ;;
	esac
}

# run_program NAME TOOL ROUND: one run of a real program's workload,
# appended to runs/real.NAME.TOOL as "wall cpu rss_kib": the sums over
# the commands run under the tool (clients and setup excluded), the
# largest RSS of them
run_program() {
	name=$1 tool=$2 round=$3 d=$W/rp
	rm -rf "$d"
	mkdir -p "$d/ps" "$d/ht"
	timed="/usr/bin/time -a -o $W/rp.time -f %e:%U:%S:%M"
	# a command, not a shell function: workloads run it under timeout(1)
	printf '%s\n' '#!/bin/sh' \
		'_o=$(mktemp -u "$BENCH_PS_DIR/run.XXXXXX")' \
		'exec $BENCH_TIMED "$PS" record -o "$_o" -- "$@"' \
		>"$W/bench_record"
	chmod +x "$W/bench_record"
	# poolscout records each command into a directory of its own
	# (record refuses a directory that holds an earlier run's profiles)
	case $tool in
	plain) run=$timed ;;
	poolscout) run=$W/bench_record ;;
	heaptrack) run="$timed heaptrack -o $d/ht/trace" ;;
	esac
	: >"$W/rp.time"
	status=0
	RUN=$run BENCH_TIMED=$timed BENCH_PS_DIR=$d/ps PS=$PS \
		BP_INPUTS=$W/inputs sh -c '. tests/integration/real_world_workloads.sh
		. bench/programs.sh
		"$0" "$1"' "$(program_fn "$name")" "$d/w" >"$W/stdout" \
		2>"$W/stderr" || status=$?
	awk -F: '/^[0-9.]+:[0-9.]+:[0-9.]+:[0-9]+$/ {
			w += $1; c += $2 + $3; if ($4 > m) m = $4; n++ }
		END { print w + 0, c + 0, m + 0 }' "$W/rp.time" \
		>>"$W/runs/real.$name.$tool"
	if [ "$tool" = plain ]; then
		[ "$round" = 1 ] && cp "$W/stdout" "$W/expect.real.$name"
		[ "$status" = 0 ] || note "$name: the plain run exited with status $status"
	elif [ "$status" != 0 ]; then
		note "$name: round $round under $tool exited with status $status"
	elif [ "$tool" = poolscout ] && ! cmp -s "$W/stdout" "$W/expect.real.$name"; then
		note "$name: round $round under poolscout printed something else than the plain run"
	fi
	return 0
}

# ---- running -----------------------------------------------------------

programs=
if has_row real; then
	for p in $PROGRAMS; do
		if command -v "$(program_cmd "$p")" >/dev/null; then
			programs="$programs $p"
		else
			note "real: $p skipped: $(program_cmd "$p") is not installed"
		fi
	done
	BP_INPUTS=$W/inputs sh -c '. bench/programs.sh; bp_inputs "$BP_INPUTS"'
fi
# ground truth: the live blocks at the peak, counted outside poolscout
if has_row perl; then
	COUNT_LIVE_OUT=$W/truth.perl LD_PRELOAD=$PWD/$BB/count_live.so \
		perl -e "$PERL_CODE" >/dev/null
fi
if has_row live; then
	COUNT_LIVE_OUT=$W/truth.live LD_PRELOAD=$PWD/$BB/count_live.so \
		"$BB/live_blocks" "$LIVE_BLOCKS" >/dev/null
fi

synthetic_rows=
for r in alloc perl live threads stacks long_stacks; do
	if has_row "$r" || { [ $r = alloc ] && has_row sample; }; then
		synthetic_rows="$synthetic_rows $r"
	fi
done
for round in $(seq 1 "$ROUNDS"); do
	for row in $synthetic_rows; do
		[ "$row" = long_stacks ] && [ "$round" -gt "$LONG_ROUNDS" ] && continue
		echo "bench: round $round/$ROUNDS: $row" >&2
		for tool in $(tools "$row"); do
			run_synthetic "$row" "$tool" "$round"
		done
		[ "$row" = alloc ] && startup_cost
	done
	if [ -n "$programs" ]; then
		echo "bench: round $round/$ROUNDS: real programs:$programs" >&2
		for p in $programs; do
			for tool in $(tools real); do
				run_program "$p" "$tool" "$round"
			done
		done
	fi
	load1 >>"$W/load"
done

# ---- summarising -------------------------------------------------------

# ratios NUM DEN COL: the per-round ratio of column COL, one per line
ratios() {
	paste -d' ' "$1" "$2" | awk -v c="$3" '{ n = NF / 2
		print ($(n + c) > 0 ? $c / $(n + c) : 0) }'
}
# stats: "median min max" of the numbers on stdin
stats() {
	sort -g | awk '{ v[NR] = $1 } END { if (!NR) print "0 0 0"
		else print v[int((NR + 1) / 2)], v[1], v[NR] }'
}
med() { cut -d' ' -f"$2" "$1" | stats | cut -d' ' -f1; }
secs() { med "$1" 1 | awk '{ printf "%.2f s", $1 }'; }
# spread "median min max": half the range as a share of the median
# spread "median min max" [TARGET [UNIT]]: half the range as a share of the
# median, and whether the rounds fall on both sides of a ratio target (then
# the verdict is the noise's)
spread() {
	echo "$1" | awk -v r="$ROUNDS_SEEN" -v t="${2:-}" -v u="${3:-x}" '{
		if (r < 2 || $1 == 0) { print "-"; next }
		printf "±%.0f%%", 50 * ($3 - $2) / $1
		if (t != "" && $2 <= t && t <= $3)
			printf ", rounds on both sides of %.2f%s", t, u
		print "" }'
}
# human N: 4000000 -> 4M, 20000 -> 20k
human() { awk -v n="$1" 'BEGIN { if (n >= 1e6) printf "%gM", n / 1e6
	else if (n >= 1e3) printf "%gk", n / 1e3; else print n }'; }
x() { awk -v v="$1" 'BEGIN { if (v == 0) print "-"; else printf "%.2fx\n", v }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
row() { echo "| $1 | $2 | $3 | $4 | $5 | $6 | $7 | $8 |" >>"$W/table"; }

# detail ROW: per tool, the medians and the ratios behind the row
detail() {
	r=$1
	printf '\n%s\n%-10s %8s %8s %9s %10s %8s %8s\n' "$2" tool "wall s" \
		"cpu s" "peak RSS" output "wall x" "cpu x"
	for t in $(tools "$r"); do
		f=$W/runs/$r.$t
		[ -s "$f" ] || continue
		printf '%-10s %8.3f %8s %6.0f MiB %10s %8.2f %8.2f\n' "$t" "$(med "$f" 1)" \
			"$(med "$f" 2)" "$(med "$f" 3 | awk '{ print $1 / 1024 }')" \
			"$(med "$f" 4 | awk '{ if ($1 == 0) print "-"
				else if ($1 < 1e6) printf "%.0f KB", $1 / 1e3
				else printf "%.1f MB", $1 / 1e6 }')" \
			"$(ratios "$f" "$W/runs/$r.plain" 1 | stats | cut -d' ' -f1)" \
			"$(ratios "$f" "$W/runs/$r.plain" 2 | stats | cut -d' ' -f1)"
	done
}

# tool_ratio ROW TOOL: the median per-round wall-time ratio, or n/a
tool_ratio() {
	if [ -s "$W/runs/$1.$2" ]; then
		x "$(ratios "$W/runs/$1.$2" "$W/runs/$1.plain" 1 | stats | cut -d' ' -f1)"
	else
		echo "n/a: not installed"
	fi
}

# extra RSS per unit: (median RSS under TOOL - median plain RSS) / UNITS, B
extra_rss() {
	awk -v a="$(med "$W/runs/$1.$2" 3)" -v p="$(med "$W/runs/$1.plain" 3)" \
		-v n="$3" 'BEGIN { printf "%.0f", (a - p) * 1024 / n }'
}

# the rows -----------------------------------------------------------

if has_row alloc || has_row sample; then
	ROUNDS_SEEN=$(wc -l <"$W/runs/alloc.plain")
	detail alloc "alloc: $BB/alloc_bench $ITERS (2 threads)"
	s=$(ratios "$W/runs/alloc.poolscout" "$W/runs/alloc.plain" 1 | stats)
	ps=$(echo "$s" | cut -d' ' -f1)
	plain=$(med "$W/runs/alloc.plain" 1 | awk '{ printf "%.2f s", $1 }')
	awk -v p="$(med "$W/runs/startup.plain" 1)" -v s="$(med "$W/runs/startup.poolscout" 1)" \
		-v a="$(med "$W/runs/alloc.plain" 1)" 'BEGIN { printf "the fixed cost of poolscout record (running /bin/true): %.1f ms, %.2fx of the plain run\n",
		s - p, (s - p) / 1000 / a }'
	if has_row alloc; then
		le "$ps" 3 && v=PASS || v="MISS"
		row "2 threads x $(human "$ITERS") alloc/free, 12-frame stacks" "$plain" "$(x "$ps")" \
			"$(tool_ratio alloc heaptrack)" \
			"cpu $(x "$(ratios "$W/runs/alloc.poolscout" "$W/runs/alloc.plain" 2 | stats | cut -d' ' -f1)"), profile $(med "$W/runs/alloc.poolscout" 4 | awk '{ printf "%.0f KB", $1 / 1e3 }')" \
			"poolscout <= 3x" "$v" "$(spread "$s" 3)"
	fi
	if has_row sample; then
		s=$(ratios "$W/runs/alloc.sample64" "$W/runs/alloc.plain" 1 | stats)
		p64=$(echo "$s" | cut -d' ' -f1)
		le "$p64" 1.15 && v=PASS || v=MISS
		row "the same, --sample 64" "$plain" "$(x "$p64")" \
			"$(tool_ratio alloc heaptrack) (unsampled)" \
			"cpu $(x "$(ratios "$W/runs/alloc.sample64" "$W/runs/alloc.plain" 2 | stats | cut -d' ' -f1)")" \
			"<= 1.15x" "$v" "$(spread "$s" 1.15)"
	fi
fi

if [ -n "$programs" ]; then
	ROUNDS_SEEN=$ROUNDS
	printf '\nreal programs: medians over %s rounds of the commands run under the tool\n' "$ROUNDS"
	printf '%-8s %8s %8s %9s %9s %9s %9s\n' program "plain s" "cpu s" \
		"ps wall" "ps cpu" "ht wall" "ht cpu"
	: >"$W/real.summary"
	for p in $programs; do
		f=$W/runs/real.$p
		pw=$(ratios "$f.poolscout" "$f.plain" 1 | stats | cut -d' ' -f1)
		pc=$(ratios "$f.poolscout" "$f.plain" 2 | stats | cut -d' ' -f1)
		hw=- hc=-
		if [ -n "$heaptrack" ]; then
			hw=$(ratios "$f.heaptrack" "$f.plain" 1 | stats | cut -d' ' -f1)
			hc=$(ratios "$f.heaptrack" "$f.plain" 2 | stats | cut -d' ' -f1)
		fi
		echo "$p $pw $pc $hw $hc" >>"$W/real.summary"
		printf '%-8s %8s %8s %9s %9s %9s %9s\n' "$p" "$(med "$f.plain" 1)" \
			"$(med "$f.plain" 2)" "$(x "$pw")" "$(x "$pc")" \
			"$([ "$hw" = - ] && echo - || x "$hw")" "$([ "$hc" = - ] && echo - || x "$hc")"
		# per round: this program's ratios, for the geomean's spread
		ratios "$f.poolscout" "$f.plain" 2 >"$W/real.$p.cpu_rounds"
		ratios "$f.poolscout" "$f.plain" 1 >"$W/real.$p.wall_rounds"
	done
	# geomean COLUMN -> "geomean worst worst_name" over the programs
	geomean() {
		awk -v c="$1" '$c != "-" { s += log($c); n++
			if ($c > m) { m = $c; w = $1 } }
			END { if (n) printf "%.2f %.2f %s\n", exp(s / n), m, w; else print "- - -" }' \
			"$W/real.summary"
	}
	# round_spread KIND: the spread of the per-round geomeans
	round_spread() {
		for p in $programs; do tr '\n' ' ' <"$W/real.$p.$1_rounds"; echo; done |
			awk '{ for (i = 1; i <= NF; i++) { s[i] += log($i) }; n++; k = NF }
				END { for (i = 1; i <= k; i++) print exp(s[i] / n) }' | stats
	}
	plain_total=$(for p in $programs; do med "$W/runs/real.$p.plain" 1; done |
		awk '{ s += $1 } END { printf "%.1f s total", s }')
	nprog=$(echo "$programs" | wc -w)
	for kind in cpu wall; do
		if [ $kind = cpu ]; then pcol=3 hcol=5; else pcol=2 hcol=4; fi
		# shellcheck disable=SC2046 # three words
		set -- $(geomean $pcol)
		g=$1 worst=$2 wname=$3
		# shellcheck disable=SC2046
		set -- $(geomean $hcol)
		ht="n/a: not installed"
		[ -n "$heaptrack" ] && ht="geomean $(x "$1"), worst $(x "$2") ($3)"
		miss=
		le "$g" 1.3 || miss="$miss geomean"
		le "$worst" 2 || miss="$miss worst"
		over=$(awk -v c=$pcol '$c > 2 { printf "%s%s %.1fx", s, $1, $c; s = ", " }' \
			"$W/real.summary")
		row "$nprog real programs, $kind time" "$plain_total" \
			"geomean $(x "$g"), worst $(x "$worst") ($wname)" "$ht" \
			"over 2x: ${over:-none}" "<= 1.3x geomean, none over 2x" \
			"$([ -z "$miss" ] && echo PASS || echo "MISS ($(echo "$miss" | sed 's/^ //; s/ /, /'))")" \
			"$(spread "$(round_spread $kind)" 1.3)"
	done
fi

if has_row perl; then
	ROUNDS_SEEN=$(wc -l <"$W/runs/perl.plain")
	detail perl "perl: $(human "$PERL_N") small strings held ($(awk '/^peak_live/ { printf "%.1fM", $2 / 1e6 }' "$W/truth.perl") live blocks at the peak)"
	live=$(awk '/^peak_live/ { print $2 }' "$W/truth.perl")
	s=$(ratios "$W/runs/perl.poolscout" "$W/runs/perl.plain" 1 | stats)
	ps=$(echo "$s" | cut -d' ' -f1)
	b=$(extra_rss perl poolscout "$live")
	miss=
	le "$ps" 2 || miss="time"
	le "$b" 24 || miss="${miss:+$miss, }RSS"
	hb=
	[ -n "$heaptrack" ] && hb=" (heaptrack +$(extra_rss perl heaptrack "$live") B, largest process)"
	row "perl: $(human "$PERL_N") small allocations held" "$(secs "$W/runs/perl.plain")" \
		"$(x "$ps")" "$(tool_ratio perl heaptrack)" "+$b B RSS per live block$hb" \
		"<= 2x, <= +24 B per live block" "$([ -z "$miss" ] && echo PASS || echo "MISS ($miss)")" \
		"$(spread "$s" 2)"
fi

if has_row live; then
	ROUNDS_SEEN=$(wc -l <"$W/runs/live.plain")
	detail live "live: $BB/live_blocks $LIVE_BLOCKS (32-48 B, held at once)"
	live=$(awk '/^peak_live/ { print $2 }' "$W/truth.live")
	s=$(ratios "$W/runs/live.poolscout" "$W/runs/live.plain" 1 | stats)
	ps=$(echo "$s" | cut -d' ' -f1)
	b=$(extra_rss live poolscout "$live")
	miss=
	le "$b" 24 || miss="RSS"
	hb='' h=
	if [ -n "$heaptrack" ]; then
		hb=" (heaptrack +$(extra_rss live heaptrack "$live") B, largest process)"
		h=$(ratios "$W/runs/live.heaptrack" "$W/runs/live.plain" 1 | stats | cut -d' ' -f1)
		le "$ps" "$h" || miss="${miss:+$miss, }slower than heaptrack"
	fi
	row "$(human "$LIVE_BLOCKS") live 32-48 B blocks" "$(secs "$W/runs/live.plain")" "$(x "$ps")" \
		"$(tool_ratio live heaptrack)" "+$b B RSS per live block$hb" \
		"<= 24 B per live block, faster than heaptrack" \
		"$([ -z "$miss" ] && echo PASS || echo "MISS ($miss)")" "$(spread "$s" "$h")"
fi

if has_row threads; then
	ROUNDS_SEEN=$(wc -l <"$W/runs/threads.plain")
	detail threads "threads: $BB/short_threads $THREADS (2 alive at a time)"
	s=$(ratios "$W/runs/threads.poolscout" "$W/runs/threads.plain" 1 | stats)
	ps=$(echo "$s" | cut -d' ' -f1)
	v="n/a: no heaptrack" h=
	if [ -n "$heaptrack" ]; then
		h=$(ratios "$W/runs/threads.heaptrack" "$W/runs/threads.plain" 1 | stats | cut -d' ' -f1)
		le "$ps" "$h" && v=PASS || v=MISS
	fi
	row "$(human "$THREADS") short-lived threads" "$(secs "$W/runs/threads.plain")" "$(x "$ps")" \
		"$(tool_ratio threads heaptrack)" \
		"cpu $(x "$(ratios "$W/runs/threads.poolscout" "$W/runs/threads.plain" 2 | stats | cut -d' ' -f1)")" \
		"<= heaptrack" "$v" "$(spread "$s" "$h")"
fi

for r in stacks long_stacks; do
	has_row $r || continue
	ROUNDS_SEEN=$(wc -l <"$W/runs/$r.plain")
	n=$((1 << $(levels $r)))
	detail $r "$r: $BB/distinct_stacks $(levels $r) 24 ($n stacks, 2 threads)"
	s=$(ratios "$W/runs/$r.poolscout" "$W/runs/$r.plain" 1 | stats)
	ps=$(echo "$s" | cut -d' ' -f1)
	b=$(extra_rss $r poolscout $n)
	pb=$(med "$W/runs/$r.poolscout" 4 | awk -v n=$n '{ printf "%.0f", $1 / n }')
	# the report's seconds per million stacks, each round
	report_s=$(awk -v n=$n '{ print $1 / (n / 1e6) }' "$W/runs/$r.report" | stats)
	repm=$(echo "$report_s" | awk '{ printf "%.1f", $1 }')
	rep_rss=$(med "$W/runs/$r.report" 3 | awk -v n=$n '{ printf "%.1f KB", $1 * 1024 / n / 1e3 }')
	echo "poolscout report on that profile: $(med "$W/runs/$r.report" 1) s wall, $(med "$W/runs/$r.report" 2) s cpu, $(med "$W/runs/$r.report" 3 | awk '{ printf "%.0f MiB", $1 / 1024 }') peak RSS: $repm s per million stacks, $rep_rss per stack"
	miss=
	hb=
	if [ -n "$heaptrack" ]; then
		hbytes=$(med "$W/runs/$r.heaptrack" 4 | awk -v n=$n '{ printf "%.0f", $1 / n }')
		hb=" (heaptrack trace $hbytes B)"
	fi
	measure="+$b B RSS, profile $pb B$hb per stack; report $repm s per M stacks, $rep_rss RSS per stack"
	if [ $r = stacks ]; then
		le "$b" 256 || miss="RSS"
		[ -z "$hb" ] || le "$pb" "$hbytes" || miss="${miss:+$miss, }profile"
		row "$((n / 1000))k distinct 24-frame stacks" "$(secs "$W/runs/$r.plain")" "$(x "$ps")" \
			"$(tool_ratio $r heaptrack)" "$measure" \
			"<= 256 B RSS per stack, profile <= heaptrack's" \
			"$([ -z "$miss" ] && echo PASS || echo "MISS ($miss)")" "$(spread "$s")"
	else
		le "$repm" 10 && v=PASS || v="MISS"
		rounds=
		[ "$ROUNDS_SEEN" = "$ROUNDS" ] || rounds=", $ROUNDS_SEEN round(s)"
		row "$((n / 1000))k distinct 24-frame stacks (2.1M scaled down)$rounds" \
			"$(secs "$W/runs/$r.plain")" "$(x "$ps")" "$(tool_ratio $r heaptrack)" \
			"$measure" "report <= 10 s per million stacks" "$v" \
			"report $(spread "$report_s" 10 " s")"
	fi
done

# ---- the table -------------------------------------------------------

load1 >>"$W/load"
echo
echo "poolscout $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- preload analyzer 2>/dev/null || echo ' (modified)'), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "load average (1 min) during the run: $(stats <"$W/load" | awk '{ print "median " $1 ", from " $2 " to " $3 }'); rounds: $ROUNDS (long_stacks: $LONG_ROUNDS); heaptrack: $([ -n "$heaptrack" ] && heaptrack --version 2>&1 | head -1 | sed 's/heaptrack //' || echo 'not installed')"
echo "ratios: the median over the rounds of (time under the tool / plain time in the same round); spread: half the range of those ratios, as a share of the median"
echo
echo "| workload | plain | poolscout | heaptrack | also measured | target | result | spread |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
cat "$W/table"
if [ -s "$W/notes" ]; then
	echo
	echo "problems seen:"
	cat "$W/notes"
fi
echo
echo "bench took $(( $(date +%s) - started )) s"
