#!/bin/sh
# exports.sh - the exports read by the real readers, in all four sample
# kinds, against the counts the profiled program (tests/progs/exact.c)
# printed itself: `go tool pprof` (golang-go) on the pprof export and
# google-pprof (google-perftools) on the gperftools export; folded and
# json exports add up to the program's total; diff of a program and its
# rewritten fix (another binary, other lines, same function names) gives
# the allocations per unit of work the programs' sources say.
. tests/lib.sh
d=$WORK/exact
"$PS" record -o "$d" -- "$T/exact" >/dev/null 2>"$WORK/exact.err"
# truth FUNCTION alloc_objects N alloc_space N inuse_objects N inuse_space N
truth() { awk -v f="$1" -v k="$2" '$1 == "truth" && $2 == f { for (i = 3; i < NF; i += 2) if ($i == k) print $(i + 1) }' "$WORK/exact.err"; }
F=$(ls "$d"/*.pscout)
"$PS" export --format pprof -o "$WORK/p.pb.gz" "$F"
"$PS" export --format gperftools -o "$WORK/h.heap" "$F"
expect "pprof export is gzip" 'gzip -t "$WORK/p.pb.gz"'
expect "gperftools header" 'head -1 "$WORK/h.heap" | grep -q "^heap profile: .* @ heapprofile$"'

SITES="small_objects zeroed_arrays aligned_blocks chain_start grow_chain grow_array keep_blocks main_blocks handoff_blocks"
# the real readers (required under CI=true: .ci/run installs them)
nsites=$(echo $SITES | wc -w)
have_go=0
have_gp=0
if have go; then have_go=1; else
	skip exports/go-pprof "go not installed (package golang-go, from mk/deps.sh test)" $((4 * nsites + 3))
fi
if have google-pprof perl; then have_gp=1; else
	skip exports/google-pprof "google-pprof not installed (package google-perftools, from mk/deps.sh test)" $((4 * nsites))
fi
for idx in alloc_objects alloc_space inuse_objects inuse_space; do
	unit=
	case $idx in *space) unit=-unit=B ;; esac
	[ $have_go = 1 ] &&
		go tool pprof -top -nodefraction=0 -sample_index=$idx $unit "$WORK/p.pb.gz" \
			>"$WORK/go.txt" 2>/dev/null
	[ $have_gp = 1 ] &&
		google-pprof --text --$idx --show_bytes --nodefraction=0 "$T/exact" \
			"$WORK/h.heap" >"$WORK/gp.txt" 2>/dev/null
	for fn in $SITES; do
		want=$(truth "$fn" $idx)
		go=$(awk -v f="$fn" '$6 == f { v = $1; sub(/B$/, "", v); print v }' "$WORK/go.txt")
		gp=$(awk -v f="$fn" '$6 == f { print $1 }' "$WORK/gp.txt")
		[ "$want" = 0 ] && [ -z "$go" ] && go=0
		[ "$want" = 0 ] && [ -z "$gp" ] && gp=0
		[ $have_go = 1 ] &&
			expect "$idx $fn: go tool pprof $go = the program's $want" '[ -n "$want" ] && [ "$go" = "$want" ]'
		[ $have_gp = 1 ] &&
			expect "$idx $fn: google-pprof $gp = the program's $want" '[ -n "$want" ] && [ "$gp" = "$want" ]'
	done
done
if [ $have_go = 1 ]; then
	# the first mapping is the program (pprof's main binary), not the
	# first library a stack happened to reach (cxx_objects' first
	# allocation is libstdc++'s)
	"$PS" record -o "$WORK/cxxmap" -- "$T/cxx_objects" >/dev/null 2>&1
	"$PS" export --format pprof -o "$WORK/cxx.pb.gz" "$WORK"/cxxmap/*.pscout 2>/dev/null
	main_file=$(go tool pprof -top "$WORK/cxx.pb.gz" 2>/dev/null | grep -m1 '^File:')
	expect "pprof: the main binary is the program ($main_file)" \
		'[ "$main_file" = "File: cxx_objects" ]'
	# of a process tree, the program with the most allocations (exact's
	# 6.5k over cxx_objects' 1.8k and the shell's few dozen), not the
	# first file (cxx_objects sorts first)
	"$PS" record -o "$WORK/treemap" -- sh -c "'$T/cxx_objects' >/dev/null; '$T/exact' >/dev/null; true" >/dev/null 2>&1
	"$PS" export --format pprof -o "$WORK/tree.pb.gz" "$WORK"/treemap/*.pscout 2>/dev/null
	main_file=$(go tool pprof -top "$WORK/tree.pb.gz" 2>/dev/null | grep -m1 '^File:')
	first=$(ls "$WORK"/treemap/*.pscout | head -1)
	expect "pprof: a process tree's main binary is the program with the most allocations ($main_file; first file ${first##*/})" \
		'[ "$main_file" = "File: exact" ] && case $first in *cxx_objects*) true ;; *) false ;; esac'
	expect "pprof labels carry threads" \
		'go tool pprof -tags "$WORK/p.pb.gz" 2>/dev/null | grep -q "thread"'

	# every location of the program's code: its address (in the file,
	# from the mapping's start) is, for addr2line, in the function and on
	# the line the location names
	go tool pprof -raw "$WORK/p.pb.gz" >"$WORK/raw.txt" 2>/dev/null
	set -- $(awk '/^Mappings/ { m = 1; next } m && $3 ~ /\/tests\/exact$/ { sub(":", "", $1); print $1, $2 }' "$WORK/raw.txt")
	mid=${1:-none} start=${2%%/*}
	checked=0 wrong=0
	awk -v id="M=$mid" '/^Locations/ { l = 1; next } /^Mappings/ { l = 0 } l && $3 == id && $5 != ":0" { print $2, $4, $5 }' \
		"$WORK/raw.txt" >"$WORK/locs.txt"
	while read -r addr fn fileline; do
		off=$(printf '0x%x' $((addr - start)))
		set -- $(addr2line -f -e "$T/exact" "$off")
		checked=$((checked + 1))
		case "$2" in */"$fileline" | */"$fileline":*) [ "$1" = "$fn" ] || wrong=$((wrong + 1)) ;;
		*) wrong=$((wrong + 1)); echo "  location $addr ($fn $fileline): addr2line says $*" ;;
		esac
	done <"$WORK/locs.txt"
	expect "pprof locations: $checked addresses of exact, each in its function and line for addr2line ($wrong wrong)" \
		'[ "$checked" -ge 20 ] && [ "$wrong" = 0 ]'
	# and its mapping carries the binary's build-id, as readelf reads it
	want=$(readelf -n "$T/exact" 2>/dev/null | awk '/Build ID:/ { print $3 }')
	got=$(awk '/^Mappings/ { m = 1; next } m && $3 ~ /\/tests\/exact$/ { print $4 }' "$WORK/raw.txt")
	expect "pprof mapping of exact: build-id $got = readelf's $want" \
		'[ -n "$want" ] && [ "$got" = "$want" ]'

	# a sampled run (planted, 1 in 10): each value scaled the same way;
	# the 1 KiB table rows stay live (with the rows' array, 16000 bytes,
	# if it was drawn), the 512-byte messages are all freed
	"$PS" record -o "$WORK/sampled" --sample 10 -- "$T/planted" >/dev/null 2>&1
	"$PS" export --format pprof -o "$WORK/s.pb.gz" "$WORK"/sampled/*.pscout
	for idx in alloc_objects alloc_space inuse_objects inuse_space; do
		go tool pprof -top -nodefraction=0 -sample_index=$idx -unit=B "$WORK/s.pb.gz" 2>/dev/null |
			awk -v i=$idx '$6 == "load_table" || $6 == "produce_message" { v = $1; sub(/B$/, "", v); print i, $6, v }'
	done >"$WORK/sampled.txt"
	# (a function with nothing of an index is not in that table: 0)
	val() { awk -v i="$1" -v f="$2" '$1 == i && $2 == f { v = $3 } END { print v + 0 }' "$WORK/sampled.txt"; }
	n=$(val alloc_objects produce_message)
	expect "sampled pprof: produce_message ~50000 allocations ($n), 512 B each, none in use" \
		'[ -n "$n" ] && [ "$n" -gt 40000 ] && [ "$n" -lt 60000 ] &&
		[ "$(val alloc_space produce_message)" = $((512 * n)) ] &&
		[ "$(val inuse_objects produce_message)" = 0 ] && [ "$(val inuse_space produce_message)" = 0 ]'
	n=$(val inuse_objects load_table)
	extra=$(( $(val inuse_space load_table) - 1024 * n ))
	expect "sampled pprof: load_table ~2000 rows in use ($n), 1 KiB each (+$extra for the array)" \
		'[ -n "$n" ] && [ "$n" -gt 1200 ] && [ "$n" -lt 2800 ] &&
		{ [ "$extra" = 0 ] || [ "$extra" = $((160000 - 10240)) ]; } &&
		[ "$(val alloc_objects load_table)" = "$n" ]'

	# a merge of many processes: sums, and each keeps its pid label
	"$PS" record -o "$WORK/tree" -- "$T/stress" fork 8 >/dev/null 2>&1
	"$PS" export --format pprof -o "$WORK/tree.pb.gz" "$WORK"/tree/*.pscout
	want=$("$PS" info --json "$WORK"/tree/*.pscout | jq '[.[].totals.alloc_objects] | add')
	got=$(go tool pprof -top -sample_index=alloc_objects "$WORK/tree.pb.gz" 2>/dev/null |
		sed -n 's/.*Total samples = \([0-9]*\).*/\1/p')
	expect "merged export of 9 processes sums ($got = $want)" '[ "$got" = "$want" ]'
	npids=$(go tool pprof -tags "$WORK/tree.pb.gz" 2>/dev/null | awk '/^ pid:/ { p = 1; next } /^ [a-z]+:/ { p = 0 } p && /%/' | wc -l)
	expect "merged export keeps 9 pids ($npids)" '[ "$npids" = 9 ]'
fi

# folded: the counts add up to the program's total (its own sites, plus
# what libc and the loader allocate for threads and stdio: the same
# number in every export, checked here against the json export's sites)
"$PS" export --format folded -o "$WORK/f.txt" "$F"
sum=$(awk '{ s += $NF } END { print s }' "$WORK/f.txt")
total=$("$PS" info --json "$F" | jq '.[0].totals.alloc_objects')
own=$(awk '$1 == "truth" { s += $4 } END { print s }' "$WORK/exact.err")
expect "the program's own allocations are all there ($own <= $total)" \
	'[ -n "$own" ] && [ "$own" -le "$total" ] && [ "$(( total - own ))" -lt 50 ]'
folded_own=0
for fn in $SITES; do
	n=$(awk -v f="$fn" '{ n = split($1, fr, ";"); if (fr[n] == f) s += $NF } END { print s + 0 }' "$WORK/f.txt")
	expect "folded $fn: $n = the program's $(truth "$fn" alloc_objects)" '[ "$n" = "$(truth "$fn" alloc_objects)" ]'
done
expect "folded counts add up ($sum = $total)" '[ "$sum" = "$total" ]'
# 2^17 stacks, each its own path through left() and right(): one folded
# line each, with its own frames, never merged
"$PS" record -o "$WORK/many" -- "$T/many_stacks" >/dev/null 2>&1
"$PS" export --format folded -o "$WORK/many.txt" "$WORK"/many/*.pscout
expect "folded: many_stacks' 131072 stacks, each once, each with one allocation" \
	'[ "$(awk "/;step;/ && \$NF == 1" "$WORK/many.txt" | cut -d" " -f1 | sort -u | wc -l)" = 131072 ] &&
	[ "$(grep -c ";step;" "$WORK/many.txt")" = 131072 ]'
expect "folded: frames are function names, root first (... worker;step ... step)" \
	'grep -q ";start_thread;worker;step;\(left\|right\);step;" "$WORK/many.txt" &&
	awk "{ n = split(\$1, f, \";\"); if (f[n] != \"step\") bad++ } END { exit bad > 2 }" "$WORK/many.txt"'
"$PS" export --format json -o "$WORK/e.json" "$F"
expect "json export: stacks add up" \
	'[ "$(jq "[.stacks[].alloc_objects] | add" "$WORK/e.json")" = "$total" ]'
"$PS" export --format nope -o "$WORK/x" "$F" 2>/dev/null
rc=$?
expect "unknown export format is exit 2" '[ $rc = 2 ]'

# diff: the logger and its rewrite, per log line (units recorded by the
# program through poolscout_mark_work)
D=$B/demo
"$PS" record -o "$WORK/before" -- "$D/logger_before" 4 20000 >/dev/null 2>&1
"$PS" record -o "$WORK/after" -- "$D/logger_after" 4 20000 >/dev/null 2>&1
"$PS" diff --json "$WORK/before" "$WORK/after" >"$WORK/diff.json"
expect "diff uses the recorded units of work" \
	'jq -e ".per == \"recorded units of work\" and .base.work_units == 80000" "$WORK/diff.json" >/dev/null'
expect "diff: 7 allocations per log line before" \
	'jq -e ".base.alloc_objects > 6.999 and .base.alloc_objects < 7.001" "$WORK/diff.json" >/dev/null'
expect "diff: under 0.001 per line after" \
	'jq -e ".new.alloc_objects < 0.001" "$WORK/diff.json" >/dev/null'
expect "diff: format_field is gone (4 per line -> 0)" \
	'jq -e "[.sites[] | select(.function == \"format_field\")][0] | .status == \"gone\" and .base.alloc_objects == 4 and .delta.alloc_objects == -4" "$WORK/diff.json" >/dev/null'
expect "diff: log_line matched across binaries by name (its one allocation a run on both sides: same)" \
	'jq -e "[.sites[] | select(.function == \"log_line\")][0].status == \"same\"" "$WORK/diff.json" >/dev/null'
"$PS" diff --json --per 1000 "$F" "$F" >"$WORK/same.json"
expect "diff --per of a profile with itself: no change" \
	'jq -e "all(.sites[]; .delta.alloc_objects == 0) and .base.alloc_objects == 6.486" "$WORK/same.json" >/dev/null'
for fn in keep_blocks main_blocks small_objects; do
	want="$(truth $fn alloc_objects) $(truth $fn alloc_space) $(truth $fn inuse_objects) $(truth $fn inuse_space)"
	got=$(jq -r "[.sites[] | select(.function == \"$fn\")][0].base |
		[.alloc_objects, .alloc_space, .inuse_objects, .inuse_space] | map(. * 1000 | round) | join(\" \")" "$WORK/same.json")
	expect "diff --per 1000: $fn per 1000 units = the program's counts / 1000 ($got)" '[ "$got" = "$want" ]'
done
# --per N,M: the base by N, the new side by M (the same profile twice:
# the new side's numbers are the program's counts / 500)
"$PS" diff --json --per 1000,500 "$F" "$F" >"$WORK/two.json"
for fn in keep_blocks small_objects; do
	want="$(truth $fn alloc_objects) $(truth $fn alloc_objects)"
	got=$(jq -r "[.sites[] | select(.function == \"$fn\")][0] |
		[(.base.alloc_objects * 1000 | round), (.new.alloc_objects * 500 | round)] | join(\" \")" "$WORK/two.json")
	expect "diff --per 1000,500: $fn base x 1000 and new x 500 = the program's count ($got)" '[ "$got" = "$want" ]'
done
expect "diff --per 1000,500 text says both" \
	'"$PS" diff --per 1000,500 "$F" "$F" | grep -q "per unit of work: base divided by 1000, new by 500 (--per)"'
for bad in "1000," "1000,0" ",5" "1000,x" "1000,-3"; do
	expect "diff --per $bad: exit 2" '"$PS" diff --per "$bad" "$F" "$F" >/dev/null 2>&1; [ $? = 2 ]'
done
# the text table of the logger (per log line, from its source: four
# 48-byte fields, two buffer growths to 64 and 128 bytes, one 32-byte
# timestamp), biggest change first
"$PS" diff "$WORK/before" "$WORK/after" >"$WORK/diff.txt"
row() { grep -E "^$1 " "$WORK/diff.txt" | grep "$2" | tr -s " "; }
expect "diff text: format_field 4.00 -> 0.00 per line, 192 B" \
	'[ "$(row gone format_field | cut -d" " -f1-8)" = "gone 4.00 0.00 -4.00 (-100%) 192 B 0" ]'
expect "diff text: buffer_append 2.00 per line, 192 B" \
	'[ "$(row gone buffer_append | cut -d" " -f1-8)" = "gone 2.00 0.00 -2.00 (-100%) 192 B 0" ]'
expect "diff text: format_timestamp 1.00 per line, 32 B" \
	'[ "$(row gone format_timesta | cut -d" " -f1-8)" = "gone 1.00 0.00 -1.00 (-100%) 32 B 0" ]'
expect "diff text: total 7.00 per line, 416 B (the new side's few a run, under 0.005 per line, in e-notation, not 0.00)" \
	'[ "$(row total "(all sites)" | cut -d" " -f1,2,4-7)" = "total 7.00 -7.00 (-100%) 416 B" ] &&
	 row total "(all sites)" | cut -d" " -f3 | grep -qE "^[1-9]\.[0-9]e-0[4-6]$"'
# a site with the same count on both sides is "same", not "changed"
expect "diff text: main, the same few allocations a run on both sides, is same" \
	'[ "$(row same "main (" | cut -d" " -f1)" = same ] && ! grep -qE "^changed .* main \(" "$WORK/diff.txt"'
expect "diff text: the biggest change first" \
	'[ "$(grep -E "^(gone|new|changed) " "$WORK/diff.txt" | head -3 | awk "{ print \$NF }" | cut -d" " -f1 | tr -d "\n")" != "" ] &&
	grep -nE "^gone " "$WORK/diff.txt" | head -3 | grep -q "format_field" &&
	[ "$(grep -E "^(gone|new|changed) " "$WORK/diff.txt" | awk "{ print \$2 }" | head -3 | tr "\n" " ")" = "4.00 2.00 1.00 " ]'
expect "diff json: sites by size of change" \
	'jq -e "[.sites[].delta.alloc_objects | fabs] as \$d | \$d == (\$d | sort | reverse)" "$WORK/diff.json" >/dev/null'
# per 3200 lines: format_field 12800 / 3200 = 100, two decimals below 100
"$PS" diff --per 3200 "$WORK/before" "$WORK/after" >"$WORK/diff3200.txt"
expect "diff --per 3200: 100.0 and 50.00 (two decimals under 100 only)" \
	'grep -E "^gone " "$WORK/diff3200.txt" | grep format_field | grep -q "^gone  *100\.0  " &&
	grep -E "^gone " "$WORK/diff3200.txt" | grep buffer_append | grep -q "^gone  *50\.00  "'
expect "diff text names the unit" \
	'"$PS" diff "$WORK/before" "$WORK/after" | grep -q "per unit of work: base 80000 units"'
# -n as many as there are sites (or more): every row, and no line about
# more sites (one would say "0 more"); -n 1 (the logger has at least its
# three gone sites): the line says there are more
"$PS" diff -n 1000000 "$WORK/before" "$WORK/after" >"$WORK/diffall.txt"
rc=$?
expect "diff -n 1000000: every site, no \"more sites\" line" \
	'[ $rc = 0 ] && grep -q "^total .*(all sites)$" "$WORK/diffall.txt" && ! grep -q "more sites" "$WORK/diffall.txt"'
expect "diff -n 1: one row, then how many more" \
	'"$PS" diff -n 1 "$WORK/before" "$WORK/after" | tail -1 | grep -Eq "^\([0-9]+ more sites; -n to see more\)$"'
finish
