#!/bin/sh
# asan.sh - the analyzer and its tests rebuilt with AddressSanitizer and
# UBSan (any report fails), then: the reader, format, model, wrapper and
# ranking unit tests, the
# golden views, and every view, export and page (report and diff) over
# fresh profiles of real programs.
# Skipped (exit 77) only when the compiler cannot build with the
# sanitizers at all.
. tests/lib.sh
A=$B/asan
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
printf 'int main(void) { return 0; }\n' >"$WORK/probe.c"
# shellcheck disable=SC2086
{ ${CC:-cc} $SAN "$WORK/probe.c" -o "$WORK/probe" && "$WORK/probe"; } >"$WORK/probe.log" 2>&1 ||
	skip_suite asan "${CC:-cc} cannot build with $SAN (gcc's libasan and libubsan): $(head -1 "$WORK/probe.log")"
if ! make -s B="$A" CFLAGS="-O1 -g $SAN" LDFLAGS="$SAN" \
	"$A/poolscout" "$A/tests/test_format" "$A/tests/test_reader" \
	"$A/tests/test_model" "$A/tests/test_wrappers" "$A/tests/test_ranking" \
	"$A/tests/golden_fixture" >/dev/null; then
	bad "build with ASan and UBSan" "make failed"
	finish
	exit 1
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# the cmocka and golden suites count their own tests; only a failure of
# the binary as a whole (a sanitizer report) is added here
"$A/tests/test_format" || bad "unit_format under ASan" "exit $?"
"$A/tests/test_reader" || bad "unit_reader under ASan" "exit $?"
# the model (stacks merged file by file, peaks, windows: every buffer it
# frees), the wrapper rules and the ranking, leaks included
"$A/tests/test_model" || bad "unit_model under ASan" "exit $?"
"$A/tests/test_wrappers" || bad "unit_wrappers under ASan" "exit $?"
"$A/tests/test_ranking" || bad "unit_ranking under ASan" "exit $?"
POOLSCOUT_BUILD=$A sh tests/golden/run.sh || bad "golden under ASan" "exit $?"
# every view, filtered ones too (their wrapper verdicts come from a first
# load), over profiles of real programs (recorded with the normal
# build: the preload is not sanitized, it goes into other programs; one
# directory per run: record refuses to mix two runs in one)
W=$WORK
"$B/poolscout" record -o "$W/p" -- "$B/tests/planted" >/dev/null 2>&1
"$B/poolscout" record -o "$W/q" -- sh -c 'ls /usr/bin | sort | head -3' >/dev/null 2>&1
"$B/poolscout" record -o "$W/r" -- "$B/tests/planted" >/dev/null 2>&1
for view in "report" "report --json" "top --cum --lines" "top --inuse_space" \
	"threads" "threads --json" "info" "info --json" "report --html $W/report.html" \
	"export --format pprof -o $W/x.pb.gz" "export --format gperftools -o $W/x.heap" \
	"export --format folded -o $W/x.folded" "export --format json -o $W/x.json" \
	"report --focus ^produce --ignore ^nothing$" "top --thread producer --from 1ms"; do
	# shellcheck disable=SC2086
	expect "$view under ASan" '"$A/poolscout" $view "$W"/p/*.pscout "$W"/q/*.pscout >/dev/null'
done
# a filter that keeps nothing: exit 2 and one message, nothing leaked
for view in "report --pid 1 --focus x" "report --thread no_such --focus x"; do
	# shellcheck disable=SC2086
	"$A/poolscout" $view "$W"/p/*.pscout >/dev/null 2>"$W/err"
	rc=$?
	expect "$view under ASan: exit 2, no sanitizer report ($rc)" \
		'[ $rc = 2 ] && ! grep -q Sanitizer "$W/err"'
done
# a program at a path of some 2800 bytes (twelve directories of 230):
# the preload keeps it whole (it once cut module paths at 1023 bytes,
# so nothing was named), the symbolizer's module key too (path and
# build-id; a fixed 1200 bytes once)
d=$W
for c in a b c d e f g h i j k l; do d=$d/$(printf "%0230d" 0 | tr 0 $c); done
mkdir -p "$d" && cp "$B/tests/planted" "$d/planted"
"$B/poolscout" record -o "$W/longpath" -- "$d/planted" >/dev/null 2>&1
expect "a module path of ${#d}+8 bytes under ASan, still named" \
	'"$A/poolscout" report --json "$W"/longpath/*.pscout | jq -e "[.sites[].function] | index(\"produce_message\")" >/dev/null'
for view in "diff" "diff --json" "diff --per 1000" "diff --html $W/diff.html"; do
	# shellcheck disable=SC2086
	expect "$view under ASan" '"$A/poolscout" $view "$W/p" "$W/r" >/dev/null'
done
finish
