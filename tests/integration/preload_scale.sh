#!/bin/sh
# preload_scale.sh - what the preload holds as a program grows: the memory of one
# distinct stack, and of threads that ended.
#
# Distinct stacks: bench/distinct_stacks makes 2^18 distinct 24-frame
# stacks (each allocated and freed once); the preload's memory is the
# peak RSS under it minus the plain run's, per stack (everything: the
# stack, its entry, frames, tables, buffers), the least of three runs.
# The target (issue 11, `make bench`'s stacks row) is 256 bytes; measured
# 207-213 B at a load of 13 (a snapshot's batch holds a fixed 128 KiB of
# changed entries, not some 24 B per entry as it did, when the peak moved
# between 234 and 265 B), so this test fails above 236 B: a regression,
# not the noise. The profile's bytes per stack are printed beside it, and
# its counts must be the program's: every leaf allocation, once per stack.
#
# Threads: bench/short_threads starts N short-lived threads (2 at a time,
# 32 allocations each). The preload retires ended threads, so its memory
# must not follow how many threads ever lived: the peak RSS with 80000
# threads must stay within 1.5x that with 20000 (plus 4 MiB); keeping
# every thread's tables (as before) made it grow by some 4 KiB a thread.
. tests/lib.sh
[ -x /usr/bin/time ] || skip_suite preload_scale "/usr/bin/time (GNU time) is not installed (package time)"

# peak_kib DIR CMD...: the peak RSS of CMD in KiB, under the preload
# writing into DIR (none: plain)
peak_kib() {
	d=$1
	shift
	if [ -n "$d" ]; then
		rm -rf "$d"
		mkdir -p "$d"
		set -- env LD_PRELOAD="$LIB" POOLSCOUT_OUT="$d" "$@"
	fi
	/usr/bin/time -f %M -o "$WORK/time" "$@" >/dev/null 2>&1 || :
	tail -1 "$WORK/time"
}

# ---- distinct stacks ----------------------------------------------------
levels=18
n=$((1 << levels))
plain=$(peak_kib "" "$T/distinct_stacks" $levels 24)
best=
for _ in 1 2 3; do
	kib=$(peak_kib "$WORK/stacks" "$T/distinct_stacks" $levels 24)
	case $kib in *[!0-9]*|'') continue ;; esac
	[ -z "$best" ] || [ "$kib" -lt "$best" ] && best=$kib
done
per=$(awk -v a="${best:-0}" -v p="$plain" -v n=$n \
	'BEGIN { printf "%.0f", (a - p) * 1024 / n }')
bytes=$(find "$WORK/stacks" -name '*.pscout' -printf '%s\n' |
	awk -v n=$n '{ s += $1 } END { printf "%.1f", s / n }')
echo "scale: $n distinct 24-frame stacks: +$per B of RSS per stack" \
	"(peak $best KiB, plain $plain KiB), $bytes B of profile per stack"
expect "distinct stacks: at most 236 B of RSS per stack ($per B; target 256)" \
	'[ -n "$best" ] && [ "$per" -le 236 ]'
got=$("$PS" info --json "$WORK"/stacks/*.pscout 2>/dev/null | jq '.[0].stacks')
expect "distinct stacks: the profile holds them all ($got >= $n)" \
	'[ "${got:-0}" -ge $n ]'
# the program allocates once in leaf() per stack: n folded stacks ending
# in leaf, one allocation each
"$PS" export --format folded -o "$WORK/stacks.txt" "$WORK"/stacks/*.pscout 2>/dev/null
leaf=$(awk '{ k = split($1, f, ";"); if (f[k] == "leaf") { n++; if ($NF != 1) bad++ } }
	END { print n + 0, bad + 0 }' "$WORK/stacks.txt")
expect "distinct stacks: $n leaf stacks, one allocation each (got: stacks, not one: $leaf)" \
	'[ "$leaf" = "$n 0" ]'

# ---- threads that ended ---------------------------------------------------
# the least of two runs each: ended threads are retired by the writer
# thread, which falls behind for a moment when the machine's other work
# starves it of CPU
least() { [ -z "$1" ] || { [ -n "$2" ] && [ "$2" -lt "$1" ]; } && echo "$2" || echo "$1"; }
few= many=
for _ in 1 2; do
	few=$(least "$few" "$(peak_kib "$WORK/threads" "$T/short_threads" 20000)")
	many=$(least "$many" "$(peak_kib "$WORK/threads" "$T/short_threads" 80000)")
done
echo "scale: peak RSS with 20000 short-lived threads $few KiB, with 80000 $many KiB"
expect "threads: memory does not follow the threads that lived ($many KiB <= 1.5 x $few KiB + 4 MiB)" \
	'[ "$many" -le $((few * 3 / 2 + 4096)) ]'
n=$("$PS" info --json "$WORK"/threads/*.pscout 2>/dev/null | jq '.[0].threads')
expect "threads: every thread in the profile ($n)" '[ "${n:-0}" = 80001 ]'

# ---- fork ------------------------------------------------------------------
# A fork child resets the tables it inherited. Their chunk-pointer arrays
# are 10 MiB of zero pages, of which a parent touches what its stacks
# fill: clearing them whole made every fork child fault in 10 MiB (2600
# faults, some 2 ms of system time, for each process a shell or make
# starts). The parent of tests/progs/fork_faults.c fills 2^15 stacks (two
# chunks and more); each of its 5 children allocates 1000 blocks at one
# site and exits, the last after filling the parent's 2^15 stacks again
# (its table reaches every chunk the parent's did). A light child's minor
# faults under the preload: at most 256 pages (1 MiB) more than plain's
# most; every child exits 0 and records its own allocations.
rm -rf "$WORK/fork"
mkdir -p "$WORK/fork"
"$T/fork_faults" 15 5 1000 >"$WORK/fork.plain" 2>&1
LD_PRELOAD="$LIB" POOLSCOUT_OUT="$WORK/fork" "$T/fork_faults" 15 5 1000 \
	>"$WORK/fork.ps" 2>&1
most_faults() {
	awk '/^child .*light/ { n++; if ($NF > m) m = $NF }
		END { print n == 4 ? m : "none" }' "$1"
}
fplain=$(most_faults "$WORK/fork.plain")
fps=$(most_faults "$WORK/fork.ps")
echo "scale: a fork child's minor faults, most of 4: plain $fplain, under the preload $fps"
expect "fork: every child exits 0 (plain and under the preload)" \
	'[ "$(grep -c "^child .*status 0," "$WORK/fork.plain" "$WORK/fork.ps" | cut -d: -f2 | tr "\n" " ")" = "5 5 " ]'
expect "fork: a child under the preload faults in at most 256 pages more than plain ($fps, plain $fplain)" \
	'[ "$fps" != none ] && [ "$fplain" != none ] && [ "$fps" -le $((fplain + 256)) ]'
nchild=$(ls "$WORK"/fork/*.pscout 2>/dev/null | wc -l)
expect "fork: the parent and its 5 children each wrote a profile ($nchild)" '[ "$nchild" = 6 ]'
"$PS" top --json -n 50 "$WORK"/fork/*.pscout >"$WORK/fork.json" 2>/dev/null
got=$(jq -r '[.rows[] | select(.function == "child_work" or .function == "leaf") | "\(.function) \(.flat)"] | sort | join(", ")' "$WORK/fork.json" 2>/dev/null)
expect "fork: the children's own 5000 allocations at child_work, and the parent's and the last child's 2^15 at leaf ($got)" \
	'[ "$got" = "child_work 5000, leaf 65536" ]'
finish
