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
views="report|report --json|top|top --cum|top --lines|top --alloc_space|top --inuse_objects|top --inuse_space --json|threads|threads --json|info|info --json|report --json --from 150ms --to 250ms"
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

# The expected files themselves against the counts the fixture wrote:
# regenerating a golden file from a view that got a number wrong fails
# here, not only in review.
E=tests/golden/expected
"$T/golden_fixture" --truth >"$WORK/truth" || bad truth "fixture --truth failed"
while read -r kind name rest; do
	case $kind in
	site)
		set -- $rest
		while [ $# -ge 2 ]; do
			key=$1 want=$2
			shift 2
			case $key in
			peak) q=".peak_live.hi" ;;
			threads) q=".alloc_threads" ;;
			*) q=".$key" ;;
			esac
			got=$(jq "[.sites[] | select(.function == \"$name\") | $q] | .[0]" "$E/report_json.txt")
			expect "expected report --json: $name $key = $want" '[ "$got" = "$want" ]'
		done
		got=$(jq "[.rows[] | select(.function == \"$name\") | .flat] | .[0]" "$E/top_inuse_space_json.txt")
		want=$(echo "$rest" | awk '{ for (i = 1; i < NF; i += 2) if ($i == "inuse_space") print $(i + 1) }')
		expect "expected top --inuse_space --json: $name flat = $want" '[ "$got" = "$want" ]'
		;;
	thread)
		set -- $rest
		got=$(jq ".threads[] | select(.tid == $name) | .peak_live.hi" "$E/threads_json.txt")
		want=$2
		expect "expected threads --json: thread $name peak = $want" '[ "$got" = "$want" ]'
		;;
	esac
done <"$WORK/truth"
# totals: the sum of the sites
want=$(awk '$1 == "site" { for (i = 3; i < NF; i += 2) if ($i == "alloc_objects") n += $(i + 1) } END { print n }' "$WORK/truth")
got=$(sed 's/: N,/: 0,/' "$E/info_json.txt" | jq '.[0].totals.alloc_objects')
expect "expected info --json: allocations = $want" '[ "$got" = "$want" ]'

# a window holding the second of the three snapshot intervals (the
# fixture writes 1/3, 2/3 and 3/3 of each count at 100, 200 and 300 ms):
# each site's counts are 2n/3 - n/3 (integer division, as the fixture
# writes them), allocated from 100 to 200 ms, over a 100 ms run
W=$E/report_json_from_150ms_to_250ms.txt
while read -r kind name rest; do
	[ "$kind" = site ] || continue
	set -- $rest
	while [ $# -ge 2 ]; do
		key=$1 n=$2
		shift 2
		case $key in alloc_objects | alloc_space | frees | cross_thread_frees) ;; *) continue ;; esac
		want=$((2 * n / 3 - n / 3))
		got=$(jq "[.sites[] | select(.function == \"$name\") | .$key] | .[0]" "$W")
		expect "expected window 150..250 ms: $name $key = $want" '[ "$got" = "$want" ]'
	done
	got=$(jq "[.sites[] | select(.function == \"$name\")][0] | [.first_alloc_ns, .last_alloc_ns] | join(\" \")" "$W")
	expect "expected window 150..250 ms: $name allocates from 100 to 200 ms" '[ "$got" = "\"100000000 200000000\"" ]'
done <"$WORK/truth"
expect "expected window 150..250 ms: a 100 ms run" '[ "$(jq .totals.duration_ns "$W")" = 100000000 ]'

# build-ids as the file holds them: none, and the longest (64 bytes)
"$T/golden_fixture" --modules "$WORK/modules.pscout" || bad modules "fixture --modules failed"
long=$(i=0; while [ $i -lt 64 ]; do printf '%02x' $i; i=$((i + 1)); done)
expect "info --json: no build-id is \"\", 64 bytes are 128 hex digits" \
	'"$PS" info --json "$WORK/modules.pscout" | jq -e --arg long "$long" "[.[0].modules[].build_id] == [\"\", \$long]" >/dev/null'
expect "info: the 64-byte build-id in full" \
	'"$PS" info "$WORK/modules.pscout" | grep -qx "    build-id $long"'
finish
