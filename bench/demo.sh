#!/bin/sh
# bench/demo.sh - part of `make bench`: each demo scenario's before and
# after versions, run plain (no profiler), ROUNDS times interleaved;
# prints the median times and how much faster the fix is.
set -eu
B=${POOLSCOUT_BUILD:-build}
ROUNDS=${ROUNDS:-5}
W=$(mktemp -d "${TMPDIR:-/tmp}/poolscout-bench-demo-XXXXXX")
trap 'rm -rf "$W"' EXIT
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '\n%-10s %12s %12s %10s\n' scenario "before s" "after s" speedup
for s in logger handler strings arrays json tiny bigbuf; do
	case $s in logger) args="4 200000" ;; tiny | bigbuf) args=20000000 ;; *) args=1000000 ;; esac
	for r in $(seq 1 "$ROUNDS"); do
		for v in before after; do
			# shellcheck disable=SC2086
			/usr/bin/time -f "%e" -o "$W/t" "$B/demo/${s}_$v" $args >/dev/null 2>&1
			cat "$W/t" >>"$W/$s.$v"
		done
	done
	b=$(median <"$W/$s.before")
	a=$(median <"$W/$s.after")
	printf '%-10s %12s %12s %9.1fx\n' "$s" "$b" "$a" \
		"$(echo "$b $a" | awk '{ print ($2 > 0 ? $1 / $2 : 0) }')"
done
