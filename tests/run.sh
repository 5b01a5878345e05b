#!/bin/sh
# run.sh - runs the test suites and closes with a summary: how many suites
# and how many tests ran, passed, failed and were skipped, and every SKIP.
# A suite's tests are counted from its own result lines: the shell suites'
# "N passed, N failed, N skipped" (tests/lib.sh) and cmocka's summary.
#
# Nothing passes in silence: a suite that exits 0 without a result line,
# or whose cmocka summary counts more skipped tests than it printed
# "SKIP name: reason" lines, fails. A suite that exits 77 was skipped as a
# whole (it must say why in a SKIP line).
#
#   POOLSCOUT_BUILD=DIR  the build directory (default build)
#   TESTS="a b"          run only these suites (names as listed below); an
#                        empty list or an unknown name is exit 2
#   CI=true              any SKIP fails the run (.ci/run sets it): CI
#                        installs every tool a test needs (mk/deps.sh test),
#                        so there a SKIP is a broken setup, not a choice.
#                        CI_MAY_SKIP lists the exceptions.
# Exit status: 0 all passed, 1 a suite failed (or CI skipped), 2 bad usage.
set -u
set -f
B=${POOLSCOUT_BUILD:-build}
export POOLSCOUT_BUILD=$B
all_suites="unit_format unit_reader unit_wrappers unit_ranking unit_model unit_json unit_units unit_livetab unit_stacks unit_sample unit_clock exact truth live_truth golden cli views exports scale preload_scale demo_scenarios real_programs real_world unwind_diff stress exit_paths robust fuzz_smoke asan tsan preload_asan browser"

# SKIP names (shell patterns) that CI accepts. Every other skippable test
# needs a tool that .ci/run installs -- tcmalloc (exact/tcmalloc),
# google-pprof and go (exports/*), the real programs (real_programs/*),
# clang's libFuzzer (fuzz_smoke*), the compiler's sanitizers (asan), the
# checked-in corpus (unit_reader/corpus) -- so each of them is required.
# The exceptions are checks that do not apply, not tools missing: a program
# that starts threads has no single-thread check; a machine too slow for
# the phases' timing; a library that the loader put at more than 64
# addresses in 70 loads (unwind_diff/reload: it is always one here). (robust/reload is required: its libraries are linked
# at a fixed address, which the loader asks the kernel for.)
CI_MAY_SKIP="real_world/*-single-thread views/time-window views/late-touch-* unwind_diff/reload"

case ${CI:-} in true | 1 | yes) ci=1 ;; *) ci=0 ;; esac

if [ "${TESTS+set}" = set ]; then
	suites=$(echo $TESTS)
	if [ -z "$suites" ]; then
		echo "tests/run.sh: TESTS is empty; name one or more of: $all_suites" >&2
		exit 2
	fi
else
	suites=$all_suites
fi
for s in $suites; do
	case " $all_suites " in
	*" $s "*) ;;
	*)
		echo "tests/run.sh: unknown suite '$s'; the suites are: $all_suites" >&2
		exit 2
		;;
	esac
done

LOGS=$(mktemp -d "${TMPDIR:-/tmp}/poolscout-run-XXXXXX")
trap 'rm -rf "$LOGS"' EXIT
s_pass=0 s_fail=0 s_skip=0
t_pass=0 t_fail=0 t_skip=0
failures=
: >"$LOGS/skips"

# sum_counts LOG: prints "passed failed skipped cmocka_skipped" summed
# over the shell suites' result lines and cmocka's summaries in LOG
sum_counts() {
	awk '
	/^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$/ {
		p += $1; f += $3; s += $5 }
	/^\[  PASSED  \] [0-9]+ test\(s\)\.$/ { p += $4 }
	/^\[  FAILED  \] [0-9]+ test\(s\), listed below:$/ { f += $4 }
	/^\[  SKIPPED \] [0-9]+ test\(s\), listed below:$/ { s += $4; c += $4 }
	END { print p + 0, f + 0, s + 0, c + 0 }' "$1"
}

suite_failed() {
	s_fail=$((s_fail + 1))
	failures="$failures $1"
	echo "<== $1: FAILED ($2)"
}

run_suite() {
	name=$1
	shift
	log=$LOGS/$name.log
	echo "==> $name"
	start=$(date +%s)
	{
		"$@" 2>&1
		echo $? >"$LOGS/$name.rc"
	} | tee "$log"
	rc=$(cat "$LOGS/$name.rc")
	secs=$(($(date +%s) - start))
	set -- $(sum_counts "$log")
	t_pass=$((t_pass + $1))
	t_fail=$((t_fail + $2))
	t_skip=$((t_skip + $3))
	nskip_lines=$(grep -c '^SKIP ' "$log")
	grep '^SKIP ' "$log" >>"$LOGS/skips"
	if [ "$rc" = 77 ] && [ "$nskip_lines" -gt 0 ]; then
		s_skip=$((s_skip + 1))
		echo "<== $name: skipped ($secs s)"
	elif [ "$rc" = 77 ]; then
		suite_failed "$name" "exit 77 without a SKIP line saying why"
	elif [ "$rc" != 0 ]; then
		suite_failed "$name" "exit $rc, $secs s"
	elif [ $(($1 + $2 + $3)) = 0 ] && [ "$nskip_lines" = 0 ]; then
		suite_failed "$name" "exit 0 but no result line: it ran no test"
	elif [ "$4" -gt "$nskip_lines" ]; then
		suite_failed "$name" "cmocka skipped $4, only $nskip_lines SKIP lines say why"
	else
		s_pass=$((s_pass + 1))
		echo "<== $name: ok ($secs s)"
	fi
}

for s in $suites; do
	case $s in
	unit_format) run_suite $s "$B/tests/test_format" ;;
	unit_reader) run_suite $s "$B/tests/test_reader" ;;
	unit_wrappers) run_suite $s "$B/tests/test_wrappers" ;;
	unit_ranking) run_suite $s "$B/tests/test_ranking" ;;
	unit_model) run_suite $s "$B/tests/test_model" ;;
	unit_json) run_suite $s "$B/tests/test_json" ;;
	unit_units) run_suite $s "$B/tests/test_units" ;;
	unit_livetab) run_suite $s "$B/tests/test_livetab" ;;
	unit_stacks) run_suite $s "$B/tests/test_stacks" ;;
	unit_sample) run_suite $s "$B/tests/test_sample" ;;
	unit_clock) run_suite $s "$B/tests/test_clock" ;;
	exact) run_suite $s "$B/tests/test_exact" ;;
	truth) run_suite $s "$B/tests/test_truth" ;;
	live_truth) run_suite $s "$B/tests/test_live_truth" ;;
	golden) run_suite $s sh tests/golden/run.sh ;;
	cli) run_suite $s sh tests/integration/cli.sh ;;
	views) run_suite $s sh tests/integration/views.sh ;;
	exports) run_suite $s sh tests/integration/exports.sh ;;
	scale) run_suite $s sh tests/integration/scale.sh ;;
	demo_scenarios) run_suite $s sh tests/integration/demo_scenarios.sh ;;
	real_programs) run_suite $s sh tests/integration/real_programs.sh ;;
	real_world) run_suite $s sh tests/integration/real_world.sh ;;
	unwind_diff) run_suite $s sh tests/integration/unwind_diff.sh ;;
	stress) run_suite $s sh tests/integration/stress.sh ;;
	preload_scale) run_suite $s sh tests/integration/preload_scale.sh ;;
	exit_paths) run_suite $s sh tests/integration/exit_paths.sh ;;
	robust) run_suite $s sh tests/integration/robust.sh ;;
	fuzz_smoke) run_suite $s sh tests/fuzz/run.sh ;;
	asan) run_suite $s sh tests/asan.sh ;;
	tsan) run_suite $s sh tests/tsan/run.sh ;;
	preload_asan) run_suite $s sh tests/preload_asan.sh ;;
	browser) run_suite $s sh tests/browser/run.sh ;;
	esac
done

# under CI, a SKIP not in CI_MAY_SKIP fails the run
ci_missing=
if [ $ci = 1 ]; then
	while IFS= read -r line; do
		n=${line#SKIP }
		n=${n%%: *}
		allowed=0
		for pat in $CI_MAY_SKIP; do
			# shellcheck disable=SC2254
			case $n in $pat) allowed=1 ;; esac
		done
		[ $allowed = 0 ] && ci_missing="$ci_missing $n"
	done <"$LOGS/skips"
fi

echo
echo "== summary"
echo "suites: $((s_pass + s_fail)) ran ($s_pass passed, $s_fail failed), $s_skip skipped"
echo "tests:  $((t_pass + t_fail)) ran ($t_pass passed, $t_fail failed), $t_skip skipped"
if [ -s "$LOGS/skips" ]; then
	echo "skipped:"
	sed 's/^/  /' "$LOGS/skips"
fi
[ -n "$failures" ] && echo "failed suites:$failures"
if [ -n "$ci_missing" ]; then
	echo "CI=true: these tests are required in CI but were skipped:$ci_missing"
	echo "  (.ci/run installs their tools with mk/deps.sh test; a SKIP here is a broken setup)"
fi
echo "$s_pass passed, $s_fail failed, $s_skip skipped"
[ "$s_fail" = 0 ] && [ -z "$ci_missing" ]
