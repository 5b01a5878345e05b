#!/bin/sh
# golden/run.sh - every view of the fixture profile (tests/golden/
# fixture.c) compared with the expected output in tests/golden/expected.
# The build directory's absolute path is replaced by BUILD first.
# GOLDEN_UPDATE=1 rewrites the expected files (review the diff!) and
# reports each view as a SKIP, not a pass.
. tests/lib.sh
FIX=$WORK/golden.pscout
"$T/golden_fixture" "$FIX" || { bad fixture "cannot write $FIX"; finish; exit 1; }
abs=$(cd "$B" && pwd)
views="report|report --json|top|top --cum|top --lines|top --alloc_space|top --inuse_objects|top --inuse_space --json|threads|threads --json|info|info --json"
IFS='|'
for view in $views; do
	IFS=' '
	name=$(echo "$view" | tr -d '-' | tr ' ' '_')
	# shellcheck disable=SC2086
	# the fixture's path (and so the file's size) depends on the build
	# directory: normalise both
	"$PS" $view "$FIX" 2>&1 | sed "s|$abs|BUILD|g; s|$WORK|WORK|g;
		s|\(\"bytes_read\": \)[0-9]*|\1N|; s|\(\"file_size\": \)[0-9]*|\1N|;
		s|build-id [0-9a-f]*|build-id HEX|; s|\(\"build_id\": \)\"[0-9a-f]*\"|\1\"HEX\"|" \
		>"$WORK/$name.out"
	want=tests/golden/expected/$name.txt
	if [ "${GOLDEN_UPDATE:-0}" = 1 ]; then
		# compared with itself, it would pass in silence: a SKIP instead
		mkdir -p tests/golden/expected
		cp "$WORK/$name.out" "$want"
		skip "golden/$name" "GOLDEN_UPDATE=1 rewrote $want (review the diff)"
	else
		expect "golden $view" 'diff -u "$want" "$WORK/$name.out"'
	fi
	IFS='|'
done
IFS=' '
finish
