#!/bin/sh
# run.sh - runs every test suite and prints one closing line
# "N passed, N failed" (suites count as one test each; cmocka suites print
# their own per-test summaries above it).
#   POOLSCOUT_BUILD=DIR  the build directory (default build)
#   TESTS="a b"          run only these suites (names as listed below)
set -u
B=${POOLSCOUT_BUILD:-build}
export POOLSCOUT_BUILD=$B
passed=0
failed=0
failures=
suites=${TESTS:-"unit_format unit_reader unit_wrappers unit_ranking unit_model unit_json exact truth golden cli views exports demo_scenarios real_programs real_world unwind_diff stress scale exit_paths robust fuzz_smoke asan tsan preload_asan browser"}

run_suite() {
	name=$1
	shift
	echo "==> $name"
	start=$(date +%s)
	if "$@"; then
		passed=$((passed + 1))
		echo "<== $name: ok ($(( $(date +%s) - start )) s)"
	else
		failed=$((failed + 1))
		failures="$failures $name"
		echo "<== $name: FAILED ($(( $(date +%s) - start )) s)"
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
	exact) run_suite $s "$B/tests/test_exact" ;;
	truth) run_suite $s "$B/tests/test_truth" ;;
	golden) run_suite $s sh tests/golden/run.sh ;;
	cli) run_suite $s sh tests/integration/cli.sh ;;
	views) run_suite $s sh tests/integration/views.sh ;;
	exports) run_suite $s sh tests/integration/exports.sh ;;
	demo_scenarios) run_suite $s sh tests/integration/demo_scenarios.sh ;;
	real_programs) run_suite $s sh tests/integration/real_programs.sh ;;
	real_world) run_suite $s sh tests/integration/real_world.sh ;;
	unwind_diff) run_suite $s sh tests/integration/unwind_diff.sh ;;
	stress) run_suite $s sh tests/integration/stress.sh ;;
	scale) run_suite $s sh tests/integration/scale.sh ;;
	exit_paths) run_suite $s sh tests/integration/exit_paths.sh ;;
	robust) run_suite $s sh tests/integration/robust.sh ;;
	fuzz_smoke) run_suite $s sh tests/fuzz/run.sh ;;
	asan) run_suite $s sh tests/asan.sh ;;
	tsan) run_suite $s sh tests/tsan/run.sh ;;
	preload_asan) run_suite $s sh tests/preload_asan.sh ;;
	browser) run_suite $s sh tests/browser/run.sh ;;
	*) echo "unknown suite $s"; failed=$((failed + 1)) ;;
	esac
done
[ -n "$failures" ] && echo "failed suites:$failures"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
