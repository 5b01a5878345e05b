#!/bin/sh
# bench/run.sh - `make bench`: the cost of profiling, side by side in one
# run. The workload (bench/alloc_bench.c, 2 threads x ITERS iterations of
# a 12-frame descent to a malloc/free of a 64-112 B scratch buffer, plus
# a realloc chain every 64 iterations) runs ROUNDS times each: plain,
# under `poolscout record`, and under heaptrack, interleaved so machine
# noise hits all three alike. Reports median wall time, the ratios (the
# numbers to compare across machines), peak RSS and output size.
set -eu
B=${POOLSCOUT_BUILD:-build}
ROUNDS=${ROUNDS:-5}
ITERS=${ITERS:-4000000}
PROG=$B/alloc_bench
W=$(mktemp -d "${TMPDIR:-/tmp}/poolscout-bench-XXXXXX")
trap 'rm -rf "$W"' EXIT

# run TOOL -> "seconds maxrss_kib" on stdout
run() {
	case $1 in
	plain) /usr/bin/time -f "%e %M" -o "$W/t" "$PROG" "$ITERS" >/dev/null ;;
	poolscout)
		rm -rf "$W/ps"
		/usr/bin/time -f "%e %M" -o "$W/t" "$B/poolscout" record -o "$W/ps" -- \
			"$PROG" "$ITERS" >/dev/null 2>&1 ;;
	heaptrack)
		rm -f "$W"/ht.*
		/usr/bin/time -f "%e %M" -o "$W/t" heaptrack -o "$W/ht" "$PROG" \
			"$ITERS" >/dev/null 2>&1 ;;
	esac
	tail -1 "$W/t"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

tools="plain poolscout"
command -v heaptrack >/dev/null && tools="$tools heaptrack"
echo "workload: $PROG $ITERS (2 threads), $ROUNDS rounds each, interleaved"
for r in $(seq 1 "$ROUNDS"); do
	for t in $tools; do
		run "$t" >>"$W/$t.runs"
	done
done
plain=$(cut -d' ' -f1 "$W/plain.runs" | median)
printf '\n%-12s %10s %10s %12s %12s\n' tool "median s" "x plain" "peak RSS" output
for t in $tools; do
	s=$(cut -d' ' -f1 "$W/$t.runs" | median)
	rss=$(cut -d' ' -f2 "$W/$t.runs" | median)
	case $t in
	plain) out=- ;;
	poolscout) out=$(du -sh "$W/ps" | cut -f1) ;;
	heaptrack) out=$(du -ch "$W"/ht.* | tail -1 | cut -f1) ;;
	esac
	printf '%-12s %10s %10.1f %9s MiB %12s\n' "$t" "$s" \
		"$(echo "$s $plain" | awk '{ print $1 / $2 }')" \
		"$(echo "$rss" | awk '{ printf "%.0f", $1 / 1024 }')" "$out"
	eval "s_$t=$s"
done
if [ -n "${s_heaptrack:-}" ]; then
	echo
	echo "poolscout is $(echo "$s_heaptrack $s_poolscout" | awk '{ printf "%.1f", $1 / $2 }')x faster than heaptrack on this workload"
fi

# The analyzer on a profile with very many stacks: tests/progs/many_stacks
# makes 131072 distinct 22-frame stacks on 2 threads.
if [ -x "$B/tests/many_stacks" ]; then
	"$B/poolscout" record -o "$W/ms" -- "$B/tests/many_stacks" >/dev/null 2>&1
	f=$(ls "$W"/ms/*.pscout)
	stacks=$("$B/poolscout" info --json "$f" | jq '.[0].stacks')
	for view in report top; do
		/usr/bin/time -f "%e %M" -o "$W/t" "$B/poolscout" $view "$f" >/dev/null
		echo "poolscout $view on $stacks stacks ($(du -h "$f" | cut -f1) profile): $(cut -d' ' -f1 "$W/t") s, $(awk '{ printf "%.0f", $2 / 1024 }' "$W/t") MiB"
	done
fi
