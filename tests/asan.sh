#!/bin/sh
# asan.sh - the analyzer and its tests rebuilt with AddressSanitizer and
# UBSan (any report fails), then: the reader and format unit tests, the
# golden views, and every view (the HTML pages too) over fresh profiles
# of real programs.
set -eu
B=${POOLSCOUT_BUILD:-build}
A=$B/asan
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
make -s B="$A" CFLAGS="-O1 -g $SAN" LDFLAGS="$SAN" \
	"$A/poolscout" "$A/tests/test_format" "$A/tests/test_reader" \
	"$A/tests/golden_fixture" >/dev/null
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$A/tests/test_format"
"$A/tests/test_reader"
POOLSCOUT_BUILD=$A sh tests/golden/run.sh
# every view over profiles of real programs (recorded with the normal
# build: the preload is not sanitized, it goes into other programs)
W=$(mktemp -d "${TMPDIR:-/tmp}/poolscout-asan-XXXXXX")
trap 'rm -rf "$W"' EXIT
# (one directory per run: record refuses to mix two runs in one)
"$B/poolscout" record -o "$W/p" -- "$B/tests/planted" >/dev/null 2>&1
"$B/poolscout" record -o "$W/q" -- sh -c 'ls /usr/bin | sort | head -3' >/dev/null 2>&1
for view in "report" "report --json" "top --cum --lines" "top --inuse_space" \
	"threads --json" "info" "report --html $W/report.html"; do
	# shellcheck disable=SC2086
	"$A/poolscout" $view "$W"/p/*.pscout "$W"/q/*.pscout >/dev/null
done
"$B/poolscout" record -o "$W/r" -- "$B/tests/planted" >/dev/null 2>&1
"$A/poolscout" diff --html "$W/diff.html" "$W/p" "$W/r" 2>/dev/null
echo "asan: clean"
