#!/bin/sh
# scale.sh - the analyzer on many profiles, against what
# tests/progs/gen_profiles planted: a directory of 600 profiles (a process
# tree, one program loaded at eight addresses) reports totals that are
# the generator's sums, in memory bounded by its largest file plus a
# little per process (what the views keep of it: threads, timeline, the
# peaks' contributors) and by a little per distinct stack of a profile,
# and twice the files cost twice the work (counted in instructions under
# valgrind, not in time), as do twice the stacks of one site. The old analyzer held every file at once (1.2 GB here) and
# scanned every stack once per file.
. tests/lib.sh
GEN=$T/gen_profiles
N=600
STACKS=400
PER_FILE_KIB=12 # what report may keep per process, generously

# field NAME of the generator's summary line in $1
field() { echo "$1" | awk -v k="$2" '{ for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1) }'; }

mkdir -p "$WORK/many" "$WORK/one"
planted=$("$GEN" "$WORK/many" $N $STACKS)
"$GEN" "$WORK/one" 1 $STACKS >/dev/null
F=$(ls "$WORK"/many/*.pscout)

# ---- totals: what the generator planted ------------------------------

"$PS" report --json $F >"$WORK/many.json" 2>"$WORK/many.err"
expect "report of $N profiles reads (exit $?)" '[ -s "$WORK/many.json" ]'
tot() { jq ".totals.$1" "$WORK/many.json"; }
for k in alloc_objects:allocs alloc_space:bytes frees:frees files:files threads:threads; do
	got=$(tot "${k%%:*}")
	want=$(field "$planted" "${k#*:}")
	expect "totals.${k%%:*} $got = planted $want" '[ "$got" = "$want" ]'
done
got=$(jq '[.sites[].alloc_objects] | add' "$WORK/many.json")
expect "the 16 sites add up to the planted allocations ($got)" \
	'[ "$got" = "$(field "$planted" allocs)" ] && [ "$(jq ".sites | length" "$WORK/many.json")" = 16 ]'
# the same stack in every process is one stack of the report
got=$(jq '[.sites[0].stacks[].alloc_objects] | add' "$WORK/many.json")
expect "a site's top stacks hold every process's share ($got >= $N)" '[ "$got" -ge $N ]'
got=$("$PS" top --json $F 2>/dev/null | jq .total)
expect "top's total $got = planted" '[ "$got" = "$(field "$planted" allocs)" ]'
got=$("$PS" threads --json $F 2>/dev/null | jq '[.threads[].alloc_objects] | add')
expect "threads add up to the planted allocations ($got)" \
	'[ "$got" = "$(field "$planted" allocs)" ]'

# ---- memory: bounded by the largest file -----------------------------

if [ -x /usr/bin/time ]; then
	# peak RSS (KiB) of report on the files given
	rss() {
		/usr/bin/time -f %M -o "$WORK/rss" "$PS" report "$@" >/dev/null 2>&1
		tail -1 "$WORK/rss"
	}
	one=$(rss "$WORK"/one/*.pscout)
	half=$(rss $(ls "$WORK"/many/*.pscout | head -$((N / 2))))
	many=$(rss $F)
	largest=$(($(field "$planted" bytes_max) / 1024))
	bound=$((one + 2 * largest + N * PER_FILE_KIB))
	expect "report of $N files: $many KiB <= one file's $one + 2 x largest $largest + $N x $PER_FILE_KIB KiB" \
		'[ "$many" -le "$bound" ]'
	grow=$((many - half))
	expect "the second $((N / 2)) files add $grow KiB <= $((N / 2)) x $PER_FILE_KIB KiB" \
		'[ "$grow" -le $((N / 2 * PER_FILE_KIB)) ]'
else
	skip scale/memory "/usr/bin/time is not installed (package time)" 2
fi

# ---- memory: bounded per distinct stack ---------------------------------

# One profile of 40000, one of 80000 distinct 24-frame stacks (two threads,
# three snapshots): what the 40000 more stacks add to the peak RSS of
# report, and of info (the reader alone), per stack. The bounds hold what
# one stack costs with margin: report ~1.3 KB (its frames are shared,
# entries' histograms sparse), info ~0.9 KB with the file's mapped pages;
# the analyzer before took 3.0 and 1.7 KB, and 2.1M stacks took 8.2 GB.
REPORT_PER_STACK=2048
INFO_PER_STACK=1280
if [ -x /usr/bin/time ]; then
	mkdir -p "$WORK/d1" "$WORK/d2"
	planted1=$("$GEN" "$WORK/d1" 1 40000)
	"$GEN" "$WORK/d2" 1 80000 >/dev/null
	# peak RSS (KiB) of poolscout $1 on the profile in dir $2; "fail"
	# unless it reads it
	peak_rss() {
		/usr/bin/time -f %M -o "$WORK/rss" "$PS" "$1" "$2"/*.pscout \
			>"$WORK/peak.out" 2>/dev/null || { echo fail; return; }
		tail -1 "$WORK/rss"
	}
	r1=$(peak_rss report "$WORK/d1")
	r2=$(peak_rss report "$WORK/d2")
	got=$("$PS" report --json "$WORK"/d1/*.pscout 2>/dev/null | jq .totals.alloc_objects)
	expect "report of 40000 stacks reads them all ($got allocations planted)" \
		'[ "$got" = "$(field "$planted1" allocs)" ]'
	i1=$(peak_rss info "$WORK/d1")
	i2=$(peak_rss info "$WORK/d2")
	per=$(( (r2 - r1) * 1024 / 40000 ))
	expect "report: $per bytes of peak RSS per distinct stack <= $REPORT_PER_STACK ($r1 -> $r2 KiB)" \
		'[ "$r1" != fail ] && [ "$r2" != fail ] && [ "$per" -le $REPORT_PER_STACK ]'
	per=$(( (i2 - i1) * 1024 / 40000 ))
	expect "info: $per bytes of peak RSS per distinct stack <= $INFO_PER_STACK ($i1 -> $i2 KiB)" \
		'[ "$i1" != fail ] && [ "$i2" != fail ] && [ "$per" -le $INFO_PER_STACK ]'
else
	skip scale/stack-memory "/usr/bin/time is not installed (package time)" 3
fi

# ---- work: linear in files and in stacks per site ----------------------

if command -v valgrind >/dev/null; then
	# instructions report executes on the files given
	instructions() {
		valgrind --tool=callgrind --callgrind-out-file=/dev/null "$PS" report "$@" \
			2>&1 >/dev/null | awk '/Collected/ { print $4 }'
	}
	# ratio A B: B / A with two decimals
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
	mkdir -p "$WORK/small" "$WORK/s1" "$WORK/s2"
	# one site, 10 stacks per file: the old analyzer's per-file scans of
	# every stack made 500 -> 1000 files cost 2.3x
	"$GEN" "$WORK/small" 1000 10 0 1 >/dev/null
	a=$(instructions $(ls "$WORK"/small/*.pscout | head -500))
	b=$(instructions "$WORK"/small/*.pscout)
	r=$(ratio "$a" "$b")
	expect "1000 files cost $r x the work of 500 (<= 2.15)" \
		'[ -n "$a" ] && awk -v r="$r" "BEGIN { exit !(r <= 2.15) }"'
	# one site of 3000, then 6000 stacks in one file
	"$GEN" "$WORK/s1" 1 3000 0 1 >/dev/null
	"$GEN" "$WORK/s2" 1 6000 0 1 >/dev/null
	a=$(instructions "$WORK"/s1/*.pscout)
	b=$(instructions "$WORK"/s2/*.pscout)
	r=$(ratio "$a" "$b")
	expect "a site of 6000 stacks costs $r x the work of 3000 (<= 2.15)" \
		'[ -n "$a" ] && awk -v r="$r" "BEGIN { exit !(r <= 2.15) }"'
else
	skip scale/work "valgrind is not installed (package valgrind)" 2
fi
finish
