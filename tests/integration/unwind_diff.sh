#!/bin/sh
# unwind_diff.sh - the fast unwinder (preload/unwind.c) against libunwind.
# Every program runs under the preload with POOLSCOUT_UNWIND=check: each
# allocation is unwound by both, and at exit each process prints
#   poolscout: unwind check: pid=P captures=C identical=I mismatches=M
#     fallback=F (not_provable=.. no_module=.. stale=.. ...) step_disagrees=S
#     repeated=R restepped=W
# (identical: the fast unwinder proved the stack and got libunwind's
# frames; fallback: it handed the stack to libunwind; repeated: it said
# the walk was its previous one, which is then what is compared;
# restepped: libunwind's walk went where an object was unloaded, and was
# made again by unw_step). Every run must
# have 0 mismatches, and must have compared at least as many stacks as
# the program counted allocations itself ("points=N" on its stdout).
# Scenarios where the fast path has to give up (signal frames, CFA in
# r12, a realigned stack) must show those fallbacks; the others must be
# proven frame by frame. Then real programs: python3, perl, sqlite3, jq,
# clang.
. tests/lib.sh
UD=$T/unwind_diff

# run NAME COMMAND... -> $WORK/NAME.out, $WORK/NAME.err; the sums over
# every process's check line in $captures $identical $mismatches
# $fallback $not_provable $stale $steps $repeated; $points from stdout
run() {
	name=$1
	shift
	POOLSCOUT_UNWIND=check POOLSCOUT_OUT=$WORK/prof LD_PRELOAD=$LIB \
		timeout 300 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
	rc=$?
	eval "$(grep '^poolscout: unwind check:' "$WORK/$name.err" |
		tr ' ()' '\n\n\n' | awk -F= '
		NF == 2 { sum[$1] += $2 }
		END {
			printf "captures=%d identical=%d mismatches=%d fallback=%d ",
				sum["captures"], sum["identical"], sum["mismatches"],
				sum["fallback"]
			printf "not_provable=%d stale=%d steps=%d repeated=%d ",
				sum["not_provable"], sum["stale"], sum["step_disagrees"],
				sum["repeated"]
			printf "restepped=%d\n", sum["restepped"]
		}')"
	lines=$(grep -c '^poolscout: unwind check:' "$WORK/$name.err")
	points=$(sed -n 's/^points=//p' "$WORK/$name.out")
	points=${points:-0}
	grep 'unwind check: .* differ' "$WORK/$name.err" | head -3
	echo "  $name: $captures stacks, $identical proven, $fallback to libunwind" \
		"(not provable $not_provable, stale map $stale), $mismatches mismatches;" \
		"libunwind's two walks disagreed $steps times"
}

# agree NAME: exit 0, a check line per process, no mismatch, every counted
# allocation compared
agree() {
	expect "$1: exit 0" '[ $rc = 0 ]'
	expect "$1: every process reported ($lines lines)" '[ "$lines" -ge 1 ]'
	expect "$1: 0 mismatches ($mismatches)" '[ "$mismatches" = 0 ]'
	expect "$1: compared at least its $points allocations ($captures)" \
		'[ "$captures" -ge "$points" ] && [ "$points" -gt 0 ]'
}

mkdir -p "$WORK/prof"

for s in recursion alloca o0 rbpshift plt qsort longjmp; do
	run "$s" "$UD" "$s"
	agree "$s"
	expect "$s: the fast path proved every stack ($identical of $captures)" \
		'[ "$identical" = "$captures" ]'
done

# runs from twin call sites: each run's first walk looks, from inside,
# like the last run's; walks said to repeat are compared as such
run repeat "$UD" repeat
agree repeat
expect "repeat: proved ($identical of $captures), $repeated said repeated" \
	'[ "$identical" = "$captures" ] && [ "$repeated" -ge 1000 ]'
# the same walk 1000 times through a library loaded by dlopen (its
# frames checked for being still loaded, each walk): said repeated too
run repeat_plugin "$UD" repeat_plugin
agree repeat_plugin
expect "repeat_plugin: proved ($identical of $captures; the first after the load finds the map stale: $stale), $repeated of 1000 walks through a dlopen'd library said repeated" \
	'[ "$stale" -le 1 ] && [ "$identical" = $((captures - stale)) ] && [ "$repeated" -ge 900 ]'

# a frame too large for a compiled rule: libunwind's, as not provable
run bigframe "$UD" bigframe
agree bigframe
expect "bigframe: every stack through the big frame handed over as not provable ($not_provable >= $points)" \
	'[ "$not_provable" -ge "$points" ]'

# beyond the default depth (64) and beyond the deepest (256)
run deep "$UD" deep
agree deep
expect "deep: proved ($identical of $captures)" '[ "$identical" = "$captures" ]'
export POOLSCOUT_DEPTH=256
run deep256 "$UD" deep
unset POOLSCOUT_DEPTH
agree "deep, depth 256"

# a program whose code lies past a gap between its segments (the loader
# has a range per segment): proven like any other, the map read once
run gap_segments "$T/gap_segments" 20000
agree gap_segments
expect "gap_segments: every stack proven ($identical of $captures), none to a stale map ($stale)" \
	'[ "$identical" = "$captures" ] && [ "$stale" = 0 ]'

# signal frames: the fast path must notice them and hand over
for s in signal altstack; do
	run "$s" "$UD" "$s"
	agree "$s"
	expect "$s: handler stacks went to libunwind ($not_provable >= 100)" \
		'[ "$not_provable" -ge 100 ]'
done

# hand-written CFI: CFA in r12 and the realigned frame (20 each) are
# not provable; RA-1 row selection, call as last instruction, rbp frames,
# undefined RA, remember/restore_state and LEB128 operands padded to 10
# bytes (the most a 64-bit value takes) are proven
run asm "$UD" asm
agree asm
expect "asm: r12 and realigned frames went to libunwind ($not_provable = 40)" \
	'[ "$not_provable" = 40 ]'
expect "asm: the other 140 stacks proven ($identical)" '[ "$identical" -ge 140 ]'

run dlopen "$UD" dlopen
agree dlopen
grep '^dlopen:' "$WORK/dlopen.out" | sed 's/^/  /'
expect "dlopen: a plugin loaded where another was is noticed ($stale stale walks)" \
	'[ "$stale" -ge 20 ]'

run threads "$UD" threads
agree threads
expect "threads: nearly all proven ($identical of $captures)" \
	'[ $((identical * 100)) -ge $((captures * 95)) ]'
expect "threads: walks said to repeat the previous one compared too ($repeated)" \
	'[ "$repeated" -ge 1000 ]'

run fork "$UD" fork
agree fork
child=$(sed -n 's/^child points=//p' "$WORK/fork.out")
expect "fork: parent and child both checked ($lines processes)" '[ "$lines" = 2 ]'
expect "fork: the child's $child allocations compared too" \
	'[ "$captures" -ge $((points + child)) ]'

# paths alike from the allocation (tests/progs/same_depth.c: one leaf at
# one depth under twin callers, in turns): a walk the fast unwinder took
# for its previous one would be a mismatch
run same_depth "$T/same_depth"
expect "same_depth: exit 0" '[ $rc = 0 ]'
expect "same_depth: 0 mismatches in $captures stacks" \
	'[ "$mismatches" = 0 ] && [ "$captures" -ge 27000 ]'

run cxx "$T/unwind_diff_cxx"
agree "C++ exceptions"
expect "C++: proved ($identical of $captures)" \
	'[ $((identical * 100)) -ge $((captures * 95)) ]'

# real programs: no mismatch on any allocation of any process
real() {
	name=$1
	shift
	if ! command -v "$1" >/dev/null 2>&1; then
		skip "unwind_diff/$name" "$1 not installed"
		return
	fi
	run "$name" "$@"
	expect "$name: exit 0" '[ $rc = 0 ]'
	expect "$name: 0 mismatches in $captures stacks" \
		'[ "$mismatches" = 0 ] && [ "$captures" -gt 1000 ]'
	expect "$name: the fast path proved most ($identical of $captures)" \
		'[ $((identical * 100)) -ge $((captures * ${PROVED_PCT:-90})) ]'
}
seq 1 20000 | awk '{print "{\"k\":" $1 ",\"v\":\"x" $1 "\"}"}' >"$WORK/in.json"
printf 'int sq(int x) { return x * x; }\nint main(void) { return sq(3) - 9; }\n' >"$WORK/t.c"
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
real python3 "${PY:-python3}" -c 'import json; print(len(json.dumps([("x" * 700) + str(i) for i in range(20000)])))'
real perl perl -e 'my %h; $h{$_} = "v$_" x 3 for 1..50000; print scalar(keys %h), "\n"'
real sqlite3 sqlite3 :memory: "create table t(a, b); with recursive c(x) as (select 1 union all select x + 1 from c where x < 20000) insert into t select x, printf('row %d', x) from c; select count(*), sum(length(b)) from t;"
real jq jq -c 'select(.k % 7 == 0) | .v' "$WORK/in.json"
# clang: a third of its allocations are libLLVM's static constructors,
# recorded since profiling starts at the first hook call; they run under
# ld.so's _dl_start_user, whose realigned stack only libunwind walks
PROVED_PCT=60 real clang clang -O2 -c "$WORK/t.c" -o "$WORK/t.o"

# stacks ending at a frame without CFI called with rbp 0, with half of a
# PLT entry's pattern at its return address (unwind_asm.S): libunwind
# ends them there, and so must the fast walk, proving every one
run nullrbp "$UD" nullrbp
agree nullrbp
expect "nullrbp: every stack proven ($identical of $captures), none handed over ($fallback)" \
	'[ "$identical" = "$captures" ] && [ "$fallback" = 0 ]'

# fork while another thread is held inside the fast walk (a signal caught
# there, tests/progs/fork_in_walk.c): the fork must wait until the walk
# is left (capture.c, enter_unwind), or the child could inherit the
# unwinders' locks held
walk_sym=$(nm -S "$LIB" 2>/dev/null | awk '$4 == "walk" { print $1, $2; exit }')
if [ -z "$walk_sym" ]; then
	skip "unwind_diff/fork_in_walk" "no symbol walk in $LIB"
else
	POOLSCOUT_OUT=$WORK/prof LD_PRELOAD=$LIB timeout 60 \
		"$T/fork_in_walk" $walk_sym >"$WORK/fork_in_walk.out" 2>&1
	rc=$?
	sed 's/^/  /' "$WORK/fork_in_walk.out"
	if [ $rc = 77 ]; then
		skip "unwind_diff/fork_in_walk" "no signal landed inside the walk"
	else
		expect "fork_in_walk: the fork waited for the thread inside the walk (exit $rc)" \
			'[ $rc = 0 ]'
	fi
fi

# every recursion depth from 0 to 280 (up, then down): at each depth
# limit some stacks have exactly one frame beyond it, whose hash is the
# prefix hashes' difference down to the outermost frame; all proven, no
# hash differs
# three libraries loaded in turn at one address, their CIEs at one
# address too (tests/progs/unwind_cie.S): each walked by its own CIE's
# rules, by the fast unwinder and by libunwind (whose caches must forget
# the last library's: the stacks through an address where an object was
# unloaded are walked again by unw_step, the others not); the first walk
# after each load finds the map stale
run cie "$UD" cie
agree cie
eval "$(sed -n 's/^cie: //p' "$WORK/cie.out")"
echo "  cie: plain=$plain r15=$r15 end=$end same_base=$same_base"
expect "cie: the three libraries loaded at one address in all 10 rounds ($same_base)" \
	'[ "$same_base" = 10 ]'
expect "cie: the r15 library's $r15 stacks handed to libunwind as not provable, the first after each load as stale ($not_provable, $stale)" \
	'[ "$not_provable" = $((r15 - 10)) ] && [ "$stale" = 30 ]'
expect "cie: the plain and end libraries' stacks proven ($identical of $captures)" \
	'[ "$identical" -ge $((plain + end - 20)) ] && [ "$identical" = $((captures - fallback)) ]'
expect "cie: libunwind walked again by unw_step exactly the stacks through the libraries after the first was unloaded ($restepped = $plain + $r15 + $end - 20)" \
	'[ "$restepped" = $((plain + r15 + end - 20)) ]'

# 64 objects unloaded at once are 64 ranges the unwinder notes: stacks
# elsewhere keep unw_backtrace; with 65 it notes every address, and the
# 1000 stacks from our own code after the unload are walked again too
run unload64 "$UD" unload64
agree unload64
expect "unload64: 64 objects unloaded, no stack elsewhere walked again ($restepped)" \
	'[ "$restepped" = 0 ]'
run unload65 "$UD" unload65
agree unload65
expect "unload65: 65 objects unloaded, every stack after it walked again ($restepped >= 1000)" \
	'[ "$restepped" -ge 1000 ]'
# one library loaded and unloaded 70 times, at one address (mostly): a
# range is noted once, the 64 kept are not used up: at most its own 69
# stacks after the first unload are walked again, not the 1000 of our
# code after it (70 ranges noted would be every address)
run reload "$UD" reload
agree reload
rl_bases=$(sed -n 's/^reload: 70 loads at \([0-9]*\) addresses$/\1/p' "$WORK/reload.out")
if [ "${rl_bases:-0}" -gt 64 ]; then
	skip "unwind_diff/reload" "the library loaded at $rl_bases addresses, over the 64 ranges kept"
else
	expect "reload: the library's range noted once per address (${rl_bases:-?}): at most its 69 stacks walked again, none of the 1000 after ($restepped)" \
		'[ -n "$rl_bases" ] && [ "$restepped" -le 69 ]'
fi

for depth in 64 256; do
	POOLSCOUT_DEPTH=$depth run "depths$depth" "$UD" depths
	agree "depths, depth $depth"
	expect "depths, depth $depth: every stack proven ($identical of $captures)" \
		'[ "$identical" = "$captures" ]'
done

# the check line's fallback count is the sum of its reasons, in runs that
# handed stacks over (bigframe, signal, asm, dlopen): "fell back F (R by
# reason)"
for name in bigframe signal asm dlopen; do
	sums=$(grep -h '^poolscout: unwind check:' "$WORK/$name.err" | awk '{
		for (i = 1; i <= NF; i++) {
			gsub(/[()]/, "", $i)
			split($i, kv, "=")
			if (kv[1] == "fallback")
				f += kv[2]
			else if (kv[1] ~ /^(not_provable|no_module|stale|busy|no_table|odd_frame|dynamic)$/)
				r += kv[2]
		}
	} END { print f + 0, r + 0 }')
	fell=${sums% *}
	reasons=${sums#* }
	expect "$name: fallback $fell is the sum of its reasons ($reasons), not 0" \
		'[ "$fell" = "$reasons" ] && [ "$fell" -gt 0 ]'
done

# a library loaded inside the program's gap (tests/progs/gap_inner.c:
# its far segment 8 GiB up, the library at 2 GiB): the program's range
# must end where the library begins, or, spanning both, it is too wide
# for a search table and no stack through main is proven
run gap_inner "$T/gap_inner" 20000
sed -n 's/^program=/  program=/p' "$WORK/gap_inner.out"
if [ $rc = 77 ]; then
	skip "unwind_diff/gap_inner" "$(tail -1 "$WORK/gap_inner.out")"
else
	agree gap_inner
	expect "gap_inner: every stack proven ($identical of $captures), none handed over ($fallback)" \
		'[ "$identical" = "$captures" ] && [ "$fallback" = 0 ] && [ "$stale" = 0 ]'
	expect "gap_inner: the stacks compared are the library's $points allocations and stdio's few ($captures)" \
		'[ "$captures" -le $((points + 16)) ]'
fi
finish
