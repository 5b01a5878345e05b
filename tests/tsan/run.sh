#!/bin/sh
# run.sh - the tsan suite: the preload's concurrent structures (stack table,
# thread registry and tables, site-candidate nodes, live-pointer table,
# arena, accounting, writer) driven by tests/tsan/harness.c, built with
# ThreadSanitizer. Fails on any ThreadSanitizer report (halt_on_error=1) and
# on any per-thread count in the profile that differs from the harness's
# own. Two runs: the interleavings differ from run to run.
. tests/lib.sh
H=$B/tests/tsan/harness
if [ ! -x "$H" ]; then
	bad "build" "$H is missing (make test-build)"
	finish
	exit 1
fi
OUT=$WORK/out
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
for round in 1 2; do
	"$H" >"$OUT" 2>&1
	rc=$?
	if [ $rc != 0 ] && grep -q "unexpected memory mapping" "$OUT"; then
		# TSan's fixed layout and a randomised mmap base can clash
		# (kernels with high vm.mmap_rnd_bits): once more, without ASLR
		setarch "$(uname -m)" -R "$H" >"$OUT" 2>&1
		rc=$?
	fi
	cat "$OUT"
	if grep -q "WARNING: ThreadSanitizer" "$OUT"; then
		bad "round $round" "ThreadSanitizer reported (above)"
		break
	elif [ $rc != 0 ]; then
		bad "round $round" "the harness failed (exit $rc; counts differ or it crashed)"
		break
	fi
	ok "round $round: no ThreadSanitizer report, every per-thread count exact"
done
finish
