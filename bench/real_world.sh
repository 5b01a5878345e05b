#!/bin/sh
# bench/real_world.sh - the cost of recording real Debian programs: each
# workload of tests/integration/real_world_workloads.sh (git, redis, nginx,
# perl, sqlite3, python3) runs ROUNDS times plain, under `poolscout record`
# and under heaptrack (if installed), interleaved so machine noise hits all
# alike. Prints per workload and tool the median wall time and CPU time
# (user + sys of the whole tree, clients included) and their ratios to the
# plain run; for the servers also the clients' requests per second (the
# number a server's user feels). heaptrack follows no fork: under it,
# nginx's worker (which serves the requests) and git's child processes run
# unprofiled. Run from the top of the tree after `make all`:
#   sh bench/real_world.sh            ROUNDS=3, every workload
#   ROUNDS=5 ONLY="git perl" sh bench/real_world.sh
#   RW_PERL_N=400000 sh bench/real_world.sh   (sizes: see the workloads)
# python_malloc is the python workload with PYTHONMALLOC=malloc.
set -eu
B=${POOLSCOUT_BUILD:-build}
PS=$PWD/$B/poolscout
ROUNDS=${ROUNDS:-3}
ONLY=${ONLY:-"git redis nginx perl sqlite python python_malloc"}
W=$(mktemp -d "${TMPDIR:-/tmp}/poolscout-rwbench-XXXXXX")
trap 'rm -rf "$W"' EXIT
[ -x "$PS" ] || { echo "build first: make all" >&2; exit 1; }

tools="plain poolscout"
command -v heaptrack >/dev/null && tools="$tools heaptrack"

# one WORKLOAD TOOL ROUND -> appends "wall cpu rps" to $W/WORKLOAD.TOOL
one() {
	d=$W/run
	rm -rf "$d"
	case $2 in
	plain) run= ;;
	poolscout) run="$PS record -o $d/prof --" ;;
	heaptrack) run="heaptrack -o $d/ht/heaptrack" ;;
	esac
	fn=rw_$1 pymalloc=${PYTHONMALLOC:-}
	[ "$1" = python_malloc ] && fn=rw_python pymalloc=malloc
	/usr/bin/time -f "%e %U %S" -o "$W/time" env RUN="$run" \
		PYTHONMALLOC="$pymalloc" sh -c \
		'. tests/integration/real_world_workloads.sh; '"$fn"' "$0"' \
		"$d/w" >"$W/out" 2>&1 || echo "  ($1 under $2 exited non-zero)" >&2
	rps=-
	case $1 in
	redis) rps=$(sed 's/\r/\n/g' "$d/w/benchmark.out" |
		awk '/requests per second/ { s += $2; n++ } END { if (n) printf "%.0f", s / n; else print "-" }') ;;
	nginx) rps=$(awk '/^Requests per second/ { printf "%.0f", $4 }' "$d/w/ab.out") ;;
	esac
	echo "$(awk '{ print $1, $2 + $3 }' "$W/time") ${rps:--}" >>"$W/$1.$2"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "rounds: $ROUNDS, tools: $tools"
for wl in $ONLY; do
	for r in $(seq 1 "$ROUNDS"); do
		for t in $tools; do
			one "$wl" "$t"
		done
	done
done

printf '\n%-13s %-10s %8s %8s %8s %8s %10s %8s\n' workload tool "wall s" "x plain" \
	"cpu s" "x plain" "req/s" "x plain"
for wl in $ONLY; do
	pw=$(cut -d' ' -f1 "$W/$wl.plain" | median)
	pc=$(cut -d' ' -f2 "$W/$wl.plain" | median)
	pr=$(cut -d' ' -f3 "$W/$wl.plain" | median)
	for t in $tools; do
		w=$(cut -d' ' -f1 "$W/$wl.$t" | median)
		c=$(cut -d' ' -f2 "$W/$wl.$t" | median)
		r=$(cut -d' ' -f3 "$W/$wl.$t" | median)
		echo "$wl $t $w $pw $c $pc $r $pr" | awk '{
			rr = ($7 == "-" || $8 == "-" || $7 == 0) ? "-" : sprintf("%.2f", $8 / $7)
			printf "%-13s %-10s %8.2f %8.2f %8.2f %8.2f %10s %8s\n",
				$1, $2, $3, $3 / $4, $5, $5 / $6, $7, rr }'
	done
done
echo "(req/s x plain: how many times fewer requests per second than plain)"
