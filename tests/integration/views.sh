#!/bin/sh
# views.sh - the views' options: help and version, and the filters
# (--pid, --thread, --focus, --ignore, --from/--to) checked against the
# counts tests/progs/planted.c and tests/progs/truth.c are written with
# or print themselves.
. tests/lib.sh

# help: every command, both spellings; version
for c in record report top threads diff export info; do
	expect "help $c" '"$PS" help $c | grep -q "^usage: poolscout $c"'
	expect "$c --help" '"$PS" $c --help | grep -q "^usage: poolscout $c"'
done
expect "help lists every command" \
	'[ "$("$PS" help | grep -cE "^  (record|report|top|threads|diff|export|info) ")" = 7 ]'
"$PS" help frobnicate 2>/dev/null
rc=$?
expect "help of an unknown command is exit 2" '[ $rc = 2 ]'
expect "--version names the format" '"$PS" --version | grep -q "profile format 9"'
expect "record -- CMD --help is the command's" \
	'"$PS" record -o "$WORK/h" -- sh -c "echo \$1" sh --help 2>/dev/null | grep -qx -- --help'

# record: one line as it starts (command, pid, directory), one summary as
# it ends; a pipeline of sh, ls, sort and wc is 4 processes
"$PS" record -o "$WORK/tree" -- sh -c 'ls / | sort | wc -l' >/dev/null 2>"$WORK/rec.err"
expect "record says what it starts, and where to" \
	'grep -q "^poolscout: recording sh (pid [0-9]*) into $WORK/tree$" "$WORK/rec.err"'
pid=$(sed -n 's/^poolscout: recording sh (pid \([0-9]*\)).*/\1/p' "$WORK/rec.err")
expect "the pid it names is the first process's" '[ -f "$WORK/tree/poolscout.sh.$pid.pscout" ]'
expect "a single-threaded process: \"1 profile, 1 thread,\"" \
	'"$PS" report "$WORK/tree/poolscout.sh.$pid.pscout" | head -1 | grep -q "^1 profile, 1 thread, "'
expect "the summary counts 4 processes" 'grep -q "profiles written (4 processes," "$WORK/rec.err"'
expect "the summary says where to look next" 'grep -q "^next: poolscout report $WORK/tree/\*.pscout" "$WORK/rec.err"'

# planted: 200000 handle_request (main thread, under serve), 50000
# produce_message on the thread named "producer", 100000 parse_token
"$PS" record -o "$WORK/p" -- "$T/planted" >/dev/null 2>"$WORK/p.err"
P=$(ls "$WORK"/p/*.pscout)
allocs() { # allocs FUNCTION OPTIONS...: the site's allocations, 0 if absent
	fn=$1
	shift
	"$PS" report --json "$@" "$P" | jq "[.sites[] | select(.function == \"$fn\") | .alloc_objects] | add // 0"
}
expect "--thread producer: produce_message 50000" '[ "$(allocs produce_message --thread producer)" = 50000 ]'
expect "--thread producer: no handle_request" '[ "$(allocs handle_request --thread producer)" = 0 ]'
tid=$("$PS" threads --json "$P" | jq '.threads[] | select(.name == "producer") | .tid')
expect "--thread TID is the same thread" '[ "$(allocs produce_message --thread "$tid")" = 50000 ]'
expect "--thread: totals are that thread's" \
	'[ "$("$PS" report --json --thread producer "$P" | jq .totals.alloc_objects)" = 50000 ]'
# a --thread that matches no thread says so and fails, as --pid does
# (it printed an empty report and exit 0)
"$PS" report --thread no_such_thread "$P" >"$WORK/nothread.out" 2>"$WORK/nothread.err"
rc=$?
expect "--thread no_such_thread: exit 2, one message, nothing on stdout ($rc)" \
	'[ $rc = 2 ] && [ ! -s "$WORK/nothread.out" ] && [ "$(wc -l <"$WORK/nothread.err")" = 1 ] &&
	 grep -q "no thread named or numbered .no_such_thread." "$WORK/nothread.err"'
expect "--focus serve: handle_request only" \
	'[ "$(allocs handle_request --focus "^serve$")" = 200000 ] && [ "$(allocs parse_token --focus "^serve$")" = 0 ]'
expect "--ignore serve: everything but handle_request" \
	'[ "$(allocs handle_request --ignore "^serve$")" = 0 ] && [ "$(allocs parse_token --ignore "^serve$")" = 100000 ]'
expect "filters are said on top" '"$PS" report --focus serve "$P" | grep -q "^FILTERED: focus /serve/"'
expect "top --focus" '"$PS" top --json --focus "^serve$" "$P" | jq -e ".total == 200000" >/dev/null'
"$PS" report --focus '([' "$P" 2>"$WORK/err"
rc=$?
expect "bad --focus is exit 2 with the expression" '[ $rc = 2 ] && grep -q "focus" "$WORK/err"'
"$PS" report --from 2s --to 1s "$P" 2>/dev/null
rc=$?
expect "--from after --to is exit 2" '[ $rc = 2 ]'
"$PS" report --from soon "$P" 2>/dev/null
rc=$?
expect "bad --from is exit 2" '[ $rc = 2 ]'

# threads: the consumer never allocates (its row is zeros, its timeline
# blank); the producer started when the program says (its clock starts
# with main, poolscout's at the first allocation: a few ms apart at most)
# and allocated at the rate its own clock gives
expect "threads: the consumer's row is zeros with a blank timeline" \
	'"$PS" threads "$P" | grep -Eq "^ +[0-9]+ +[0-9]+ consumer +0 +0 B +0 +0 +0/s +0 +$"'
started=$(sed -n 's/^planted: producer started \([0-9]*\) ns after main$/\1/p' "$WORK/p.err")
active=$(sed -n 's/^planted: producer allocated for \([0-9]*\) ns$/\1/p' "$WORK/p.err")
"$PS" threads --json "$P" >"$WORK/pthreads.json"
expect "threads --json: the producer starts $started ns after main (within 20 ms)" \
	'jq -e --argjson s "$started" ".threads[] | select(.name == \"producer\") |
		.start_ns >= \$s and .start_ns < \$s + 20000000 and .end_ns > .start_ns" "$WORK/pthreads.json" >/dev/null'
# (its own time: the recording's on it taken out, which the rate over
# what it measured can only exceed)
expect "threads --json: the producer's rate is 50000 over the $active ns it measured, less its recording time (+-25%), and at least its rate over all of them" \
	'jq -e --argjson a "$active" ".threads[] | select(.name == \"producer\") |
		(.alloc_rate_per_s * (\$a - .recording_ns) / 1e9) as \$n |
		\$n > 37500 and \$n < 62500 and .recording_ns > 0 and
		.alloc_rate_per_s * \$a / 1e9 > 37500" "$WORK/pthreads.json" >/dev/null'

# a time window: every snapshot interval from the start to the end adds
# up to the whole; an empty window leaves nothing
whole=$("$PS" report --json "$P" | jq .totals.alloc_objects)
expect "--from 0 is the whole run" '[ "$("$PS" report --json --from 0 "$P" | jq .totals.alloc_objects)" = "$whole" ]'
expect "a window after the run is empty" \
	'[ "$("$PS" report --json --from 3600s "$P" | jq .totals.alloc_objects)" = 0 ]'

# a window on each side of 300 ms: truth's phases happen at ~0 and
# ~350 ms (the program says when), snapshots every 100 ms
"$PS" record -o "$WORK/ph" -- "$T/truth" phases >/dev/null 2>"$WORK/pherr"
PH=$(ls "$WORK"/ph/*.pscout)
t1=$(awk '$2 == "phase_one_ends_ns" { print $3 }' "$WORK/pherr")
t2=$(awk '$2 == "phase_two_starts_ns" { print $3 }' "$WORK/pherr")
in_window() { # FUNCTION OPTIONS...
	fn=$1
	shift
	"$PS" report --json "$@" "$PH" | jq "[.sites[] | select(.function == \"$fn\") | .alloc_objects] | add // 0"
}
if [ "${t1%.*}" -lt 50000000 ] && [ "${t2%.*}" -gt 340000000 ]; then
	expect "--to 300ms: phase one's 1000" '[ "$(in_window phase_one --to 300ms)" = 1000 ] && [ "$(in_window phase_two --to 300ms)" = 0 ]'
	expect "--from 300ms: phase two's 2000" '[ "$(in_window phase_two --from 300ms)" = 2000 ] && [ "$(in_window phase_one --from 300ms)" = 0 ]'
	expect "--from 300ms: the header says which intervals were read" \
		'"$PS" report --from 300ms "$PH" | grep -q "read as snapshots 0.3"'
else
	skip "views/time-window" "the machine was too slow for the phases' timing (phase one ended at $t1 ns, two began at $t2 ns)"
fi

# --pid: the forked child of truth's fork scenario, on its own
"$PS" record -o "$WORK/f" -- "$T/truth" fork >/dev/null 2>"$WORK/ferr"
child=$(awk '$2 == "child_pid" { print $3 }' "$WORK/ferr")
expect "--pid: the child's 200 ticker allocations" \
	'[ "$("$PS" report --json --pid "$child" "$WORK"/f/*.pscout | jq "[.sites[] | select(.function == \"ticker\") | .alloc_objects] | add")" = 200 ]'
"$PS" report --pid 1 "$WORK"/f/*.pscout 2>"$WORK/err"
rc=$?
expect "--pid of no profile is exit 2" '[ $rc = 2 ] && grep -q "no profile of pid 1" "$WORK/err"'
# every text view fits 100 columns: names far longer than a line (site,
# callers, a module under a long directory, a long command line)
long=$WORK/a_directory_whose_name_is_long/and_then_another_level_of_directories/and_more
mkdir -p "$long"
cp "$T/longnames" "$long/longnames"
"$PS" record -o "$WORK/long" -- "$long/longnames" an argument list that goes on and on for \
	long enough to wrap twice at a hundred columns, when info prints it, and a bit more >/dev/null 2>&1
widest() { python3 -c 'import sys; print(max((len(l.rstrip("\n")) for l in sys.stdin), default=0))'; }
for view in report top threads info; do
	w=$("$PS" $view "$WORK"/long/*.pscout 2>&1 | widest)
	expect "$view: no line wider than 100 columns (widest $w)" '[ "$w" -le 100 ] && [ "$w" -gt 60 ]'
done
w=$("$PS" diff "$WORK"/long "$WORK"/long 2>&1 | widest)
expect "diff: no line wider than 100 columns (widest $w)" '[ "$w" -le 100 ] && [ "$w" -gt 60 ]'
expect "the site is still named, its name cut" \
	'"$PS" report "$WORK"/long/*.pscout | grep -q "allocate_the_block_with_a_name_long"'
# the HTML report's threads per site: three threads, one after another,
# allocate 40, 25 and 15 blocks from worker_buffer (tests/progs/truth.c);
# and for every site, its threads' rows add up to its allocations
"$PS" record -o "$WORK/seq" -- "$T/truth" sequential >/dev/null 2>&1
"$PS" report --html "$WORK/seq.html" "$WORK"/seq/*.pscout 2>/dev/null
"$PS" report --json "$WORK"/seq/*.pscout >"$WORK/seq.json" 2>/dev/null
python3 - "$WORK/seq.html" "$WORK/seq.json" >"$WORK/seq.check" 2>&1 <<'PY'
import json, re, sys
page = open(sys.argv[1]).read()
m = re.search(r'<script type="application/json" id="poolscout-data">(.*?)</script>', page, re.S)
data = json.loads(m.group(1))
sites = {s["rank"]: s for s in json.load(open(sys.argv[2]))["sites"]}
for st in data["site_threads"]:
    site = sites[st["rank"]]
    counts = sorted(t["alloc_objects"] for t in st["threads"])
    if site["function"] == "worker_buffer":
        print("worker_buffer", st["count"], " ".join(map(str, counts)))
    if st["count"] == len(st["threads"]) and sum(counts) != site["alloc_objects"]:
        print("mismatch", site["function"], sum(counts), site["alloc_objects"])
PY
expect "html: worker_buffer's three threads with the program's 15, 25 and 40 blocks" \
	'grep -qx "worker_buffer 3 15 25 40" "$WORK/seq.check"'
expect "html: every site's thread rows add up to its allocations" \
	'! grep -q "^mismatch\|Error" "$WORK/seq.check"'
# the page's budget (analyzer/cmd/html.c): 4.5 MiB of JSON in all, the
# stacks getting what the ranked sites and timelines leave. 600 sites of
# diff rows are functions: one that allocates from two call sites says
# so instead of naming one of them, with the program's count; two names
# cut to the same text each get their whole name under them
"$PS" record -o "$WORK/dl1" -- "$T/diff_labels" >"$WORK/dl.out" 2>/dev/null
"$PS" record -o "$WORK/dl2" -- "$T/diff_labels" >/dev/null 2>&1
"$PS" diff "$WORK/dl1" "$WORK/dl2" >"$WORK/dl.txt" 2>/dev/null
two=$(sed -n 's/.*two_calls=\([0-9]*\).*/\1/p' "$WORK/dl.out")
expect "diff: a function of two call sites is one row that says so ($(grep two_calls "$WORK/dl.txt" | tr -s ' '))" \
	'grep -q "^same *$two *$two .*  two_calls (2 call sites)$" "$WORK/dl.txt"'
expect "diff: names cut to the same text get their whole names under them" \
	'grep -qx " *diff_label_collision_left_part_one_and_then_a_long_right_part" "$WORK/dl.txt" &&
	 grep -qx " *diff_label_collision_left_part_two_and_then_a_long_right_part" "$WORK/dl.txt" &&
	 [ "$(grep -c "^same .*  diff_lab[.][.][.]ight_part$" "$WORK/dl.txt")" = 2 ]'
expect "diff: a row of one site keeps its place (main's file:line), no whole name under it" \
	'grep -q "  main (diff_labels.c:[0-9]*)$" "$WORK/dl.txt" && ! grep -qx " *main" "$WORK/dl.txt"'
# a site's stacks each say what they still hold at the end: truth's
# keepers keeps the blocks of keep_records() (its count on stderr) and
# frees every one handle_request() made
"$PS" record -o "$WORK/kp" -- "$T/truth" keepers >/dev/null 2>"$WORK/kperr"
kept=$(awk '$1 == "truth" && $2 == "kept" { print $3 }' "$WORK/kperr")
got=$("$PS" report --json "$WORK"/kp/*.pscout 2>/dev/null | jq -r '[.sites[] | select(.function == "make_record") | .stacks[] |
	"\(.frames[1].function)=\(.alloc_objects)/\(.inuse_objects)"] | sort | join(" ")')
expect "report --json: each stack's inuse_objects, as the program kept them ($got; kept $kept)" \
	'[ "$got" = "handle_request=10000/0 keep_records=$kept/$kept" ]'
expect "report: the pool leaves the keepers out ($kept of them kept)" \
	'"$PS" report "$WORK"/kp/*.pscout 2>/dev/null | tr -s " \n" " " | grep -q "$kept of them come from 1 stack that keeps them"'
# long stacks (tests/progs/gen_profiles) fill the 1.5 MiB the ranked
# sites may take; the stacks are cut so that the whole stays within the
# budget (and the few KiB written after them), not given 4.5 MiB of
# their own on top
# the page's timeline ends with what the program still held: truth's
# leftover keeps 200 blocks of 40 B (8000 B) after freeing 80 (3200 B);
# libc adds a few blocks of its own (< 2 KiB), never the freed bytes
"$PS" record -o "$WORK/left" -- "$T/truth" leftover >/dev/null 2>&1
"$PS" report --html "$WORK/left.html" "$WORK"/left/*.pscout 2>/dev/null
last=$(python3 - "$WORK/left.html" 2>&1 <<'PY'
import json, re, sys
page = open(sys.argv[1]).read()
m = re.search(r'<script type="application/json" id="poolscout-data">(.*?)</script>', page, re.S)
p = json.loads(m.group(1))["timeline"]["processes"][0]["points"][-1]
print(p["inuse_objects"], p["inuse_space"])
PY
)
read -r objs space <<EOF
$last
EOF
expect "html timeline: the last point holds the program's 200 blocks, 8000 B (+ libc's: $objs, $space B)" \
	'[ "${objs:-0}" -ge 200 ] && [ "${objs:-0}" -le 210 ] && [ "${space:-0}" -ge 8000 ] && [ "${space:-0}" -lt 10048 ]'
# page_budget PAGE TABLE CUT: the page's JSON bytes, its TABLE's bytes,
# and the stacks its limits.CUT says were shown and there were
page_budget() {
	python3 - "$@" 2>&1 <<'PY'
import json, re, sys
page = open(sys.argv[1]).read()
m = re.search(r'<script type="application/json" id="poolscout-data">(.*?)</script>', page, re.S)
data = json.loads(m.group(1))
cut = data["limits"][sys.argv[3]]
print(len(m.group(1).encode()), len(json.dumps(data[sys.argv[2]]).encode()), cut["shown"], cut["total"])
PY
}
mkdir -p "$WORK/budget"
"$T/gen_profiles" "$WORK/budget" 1 20000 0 600 >/dev/null
"$PS" report --html "$WORK/budget.html" "$WORK"/budget/*.pscout 2>/dev/null
read -r page_b report_b shown total <<EOF
$(page_budget "$WORK/budget.html" report stacks)
EOF
expect "html budget: ranked sites take 1-1.5 MiB ($report_b B)" \
	'[ "${report_b:-0}" -ge 1048576 ] && [ "${report_b:-0}" -le 1572864 ]'
expect "html budget: the stacks are cut ($shown of $total shown)" \
	'[ "${shown:-0}" -gt 0 ] && [ "${shown:-0}" -lt "${total:-0}" ]'
expect "html budget: 4-4.5 MiB of JSON in all, + 64 KiB at most ($page_b B)" \
	'[ "${page_b:-0}" -ge 4194304 ] && [ "${page_b:-0}" -le $((4718592 + 65536)) ]'
# 6000 threads (gen_profiles: 3000 profiles of 2 threads, 4 sites): their
# timelines do not fit the ranked sites' budget, so the page leaves them
# out of the report (the page's timeline holds them merged) and keeps
# every site, ranked from the first
mkdir -p "$WORK/brief"
"$T/gen_profiles" "$WORK/brief" 3000 4 >/dev/null
"$PS" report --html "$WORK/brief.html" "$WORK"/brief/*.pscout 2>/dev/null
got=$(python3 - "$WORK/brief.html" 2>&1 <<'PY'
import json, re, sys
page = open(sys.argv[1]).read()
m = re.search(r'<script type="application/json" id="poolscout-data">(.*?)</script>', page, re.S)
d = json.loads(m.group(1))
print(d["limits"]["report_thread_timelines"], len(d["report"]["threads"]),
      ",".join(str(s["rank"]) for s in d["report"]["sites"]))
PY
)
expect "html, 6000 threads: the report's threads without timelines, all 4 sites from rank 1 ($got)" \
	'[ "$got" = "False 6000 1,2,3,4" ]'
# and diff's page: the two sides' stacks share what the table leaves
"$PS" diff --html "$WORK/budget-diff.html" "$WORK/budget" "$WORK/budget" 2>/dev/null
read -r page_b diff_b shown total <<EOF
$(page_budget "$WORK/budget-diff.html" diff base_stacks)
EOF
expect "diff html budget: stacks cut ($shown of $total) beside a $diff_b B table, 4-4.5 MiB + 64 KiB in all ($page_b B)" \
	'[ "${diff_b:-0}" -ge 262144 ] && [ "${shown:-0}" -gt 0 ] && [ "${shown:-0}" -lt "${total:-0}" ] &&
	 [ "${page_b:-0}" -ge 4194304 ] && [ "${page_b:-0}" -le $((4718592 + 65536)) ]'
# info's command line: arguments that end at column 100 stay on the
# line; one character more and the last one wraps
for extra in 0 1; do
	n=$((100 - 14 - 1 - ${#T} - 10 - 1 + extra))
	arg=$(printf "%${n}s" "" | tr " " x)
	"$PS" record -o "$WORK/edge$extra" -- "$T/longnames" "$arg" >/dev/null 2>&1
	"$PS" info "$WORK"/edge$extra/*.pscout >"$WORK/edge$extra.txt"
done
expect "info: a command ending at column 100 is one line of 100 columns" \
	'[ "$(grep "^command:" "$WORK/edge0.txt" | wc -L)" = 100 ] &&
	 [ "$(grep -A1 "^command:" "$WORK/edge0.txt" | tail -1 | cut -c1-11)" = "executable:" ]'
expect "info: one column more and the last argument wraps under the first" \
	'[ "$(grep -A1 "^command:" "$WORK/edge1.txt" | tail -1 | grep -c "^               x")" = 1 ]'
# a stack line: its count, then as much of the site's name as fits 99
# columns; a deep stack of short names shows its first five frames
"$PS" report "$WORK"/long/*.pscout >"$WORK/long.txt"
line=$(grep "^ *1000  allocate_the_block_with_a_name_long" "$WORK/long.txt")
expect "a stack line cut at 99 columns, ending in ..." \
	'[ "$(printf "%s" "$line" | wc -c)" = 99 ] && [ "${line%...}" != "$line" ]'
# at the edge (tests/progs/edge_stack.c): a line of exactly 99 columns
# is whole; one column more and its last frame becomes " < ..."; a fifth
# frame that would leave no room for the " < ..." of a sixth is dropped
"$PS" record -o "$WORK/edge" -- "$T/edge_stack" >/dev/null 2>&1
"$PS" report "$WORK"/edge/*.pscout >"$WORK/edge.txt"
expect "a stack line of exactly 99 columns is whole" \
	'grep -qx "         1000  edge_site_exact_99 < main < __libc_start_call_main < __libc_start_main_impl < _start" "$WORK/edge.txt"'
expect "one column more: the last frame becomes \" < ...\"" \
	'grep -qx "         1000  edge_site_one_more1 < main < __libc_start_call_main < __libc_start_main_impl < ..." "$WORK/edge.txt"'
expect "no room for the sixth frame's \" < ...\": the fifth is dropped" \
	'grep -qx "         1000  edge_site_tail16 < mid < main < __libc_start_call_main < ..." "$WORK/edge.txt"'
expect "a deep stack line: its first five frames" \
	'grep -qx "          500  deep6 < deep5 < deep4 < deep3 < deep2" "$WORK/long.txt"'
expect "two threads: \"2 threads,\"" 'head -1 "$WORK/long.txt" | grep -q "^1 profile, 2 threads, "'
# a thread with one allocation: its one busy interval is a full block
expect "threads: one allocation draws a full block" \
	'"$PS" threads "$WORK"/long/*.pscout | grep -E " one_block +1 +64 B +1 " | grep -q "█"'

# a single-threaded program takes its snapshots from its own hook calls
# and encodes only what changed since the last one (preload/writer.c's
# dirty log): entries untouched for several snapshots that change again,
# a stack first seen late, frees of blocks from an early interval, and a
# peak raised late must all be in the intervals they happened in, as the
# program counts them (tests/progs/late_touch.c)
"$PS" record -o "$WORK/lt" -- "$T/late_touch" >/dev/null 2>"$WORK/lterr"
LT=$(ls "$WORK"/lt/*.pscout)
lt_truth() { awk -v k="$1" '$1 == "truth" && $2 == k { print $3 }' "$WORK/lterr"; }
lt_site() { # FUNCTION FIELD OPTIONS...
	fn=$1 field=$2
	shift 2
	"$PS" report --json "$@" "$LT" | jq "[.sites[] | select(.function == \"$fn\") | .$field] | add // 0"
}
late_all=$(($(lt_truth late_a) + $(lt_truth late_b) + $(lt_truth late_c)))
expect "late_touch: whole run: late_site's $late_all allocations, late_only's $(lt_truth late_only)" \
	'[ "$(lt_site late_site alloc_objects)" = "$late_all" ] && [ "$(lt_site late_site frees)" = "$late_all" ] &&
	 [ "$(lt_site late_only alloc_objects)" = "$(lt_truth late_only)" ] && [ "$(lt_site late_only frees)" = "$(lt_truth late_only)" ]'
expect "late_touch: whole run: the early blocks freed late, the $(lt_truth fan_stacks) fan stacks" \
	'[ "$(lt_site early_site alloc_objects)" = "$(lt_truth early_allocs)" ] &&
	 [ "$(lt_site early_site frees)" = "$(lt_truth early_allocs)" ] &&
	 [ "$(lt_site fan_leaf alloc_objects)" = "$(lt_truth fan_stacks)" ] &&
	 [ "$("$PS" info "$LT" | awk "/^stacks:/ { print \$2 }")" -ge "$(lt_truth fan_stacks)" ]'
expect "late_touch: late_site's peak, raised in the last phase, is $(($(lt_truth late_c) + 1))" \
	'[ "$("$PS" report --json "$LT" | jq "[.sites[] | select(.function == \"late_site\") | .peak_live.hi] | add")" = "$(($(lt_truth late_c) + 1))" ]'
# Each window is read as whole snapshot intervals, which the analyzer
# names ("read as snapshots A s..B s"); a window is checked only when the
# phases, in the profile's time, fall where the window's counts need them
# (a loaded machine can move a phase or a snapshot across a bound): the
# program's clock starts main_unix_ns - start_unix_ns into the profile's.
lt_offset=$(awk -v m="$(lt_truth main_unix_ns)" \
	-v s="$("$PS" info --json "$LT" | jq '.[0].start_unix_ns')" 'BEGIN { printf "%.0f", m - s }')
lt_phase() { awk -v t="$(lt_truth "$1")" -v o="$lt_offset" 'BEGIN { printf "%.0f", t + o }'; }
lt_read_as() { # OPTIONS... -> "FROM_NS TO_NS" of the snapshots read (TO: 1e30 for the end)
	"$PS" report --json "$@" "$LT" | jq -r .totals.filters |
		sed -n 's/.*read as snapshots \([0-9.e+-]*\) s\.\.\([0-9.e+-]*\) s.*/\1 \2/p' |
		awk '{ printf "%.0f %.0f\n", $1 * 1e9, $2 * 1e9 }'
}
lt_before() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
a_end=$(lt_phase phase_a_ends_ns) b_start=$(lt_phase phase_b_starts_ns)
b_end=$(lt_phase phase_b_ends_ns) c_start=$(lt_phase phase_c_starts_ns)
set -- $(lt_read_as --to 300ms)
if [ $# = 2 ] && lt_before "$a_end" "$2" && lt_before "$2" "$b_start"; then
	expect "late_touch: --to 300ms: the first snapshots' counts" \
		'[ "$(lt_site late_site alloc_objects --to 300ms)" = "$(lt_truth late_a)" ] &&
		 [ "$(lt_site late_only alloc_objects --to 300ms)" = 0 ] &&
		 [ "$(lt_site early_site inuse_objects --to 300ms)" = "$(lt_truth early_allocs)" ]'
else
	skip "views/late-touch-to-300ms" "a loaded machine moved the phases across the window's snapshots (read as $* ns; phase a ended at $a_end ns, b began at $b_start ns, in the profile's time)"
fi
set -- $(lt_read_as --from 300ms --to 550ms)
if [ $# = 2 ] && lt_before "$a_end" "$1" && lt_before "$1" "$b_start" &&
	lt_before "$b_end" "$2" && lt_before "$2" "$c_start"; then
	expect "late_touch: 300-550ms: what changed at 350ms, and only that" \
		'[ "$(lt_site late_site alloc_objects --from 300ms --to 550ms)" = "$(lt_truth late_b)" ] &&
		 [ "$(lt_site late_site frees --from 300ms --to 550ms)" = "$(lt_truth late_b)" ] &&
		 [ "$(lt_site late_only alloc_objects --from 300ms --to 550ms)" = "$(lt_truth late_only)" ] &&
		 [ "$(lt_site fan_leaf alloc_objects --from 300ms --to 550ms)" = 0 ]'
else
	skip "views/late-touch-300-550ms" "a loaded machine moved the phases across the window's snapshots (read as $* ns; phase b ran $b_start-$b_end ns, c began at $c_start ns, in the profile's time)"
fi
set -- $(lt_read_as --from 550ms)
if [ $# = 2 ] && lt_before "$b_end" "$1" && lt_before "$1" "$c_start"; then
	expect "late_touch: --from 550ms: the last phase" \
		'[ "$(lt_site late_site alloc_objects --from 550ms)" = "$(lt_truth late_c)" ] &&
		 [ "$(lt_site late_only alloc_objects --from 550ms)" = 0 ]'
else
	skip "views/late-touch-from-550ms" "a loaded machine moved the phases across the window's snapshots (read as $* ns; phase b ended at $b_end ns, c began at $c_start ns, in the profile's time)"
fi

# py_checks WANT SCRIPT ARGS...: each "ok NAME" or "FAIL NAME: WHY" line
# SCRIPT prints is a test; WANT of them must have run
py_checks() {
	want=$1
	shift
	python3 "$@" >"$WORK/py.check" 2>&1
	while IFS= read -r line; do
		case $line in
		"ok "*) ok "${line#ok }" ;;
		"FAIL "*) bad "${line#FAIL }" "" ;;
		*) bad "$1" "$line" ;;
		esac
	done <"$WORK/py.check"
	expect "$1: all $want checks ran" '[ "$(grep -c "^ok \|^FAIL " "$WORK/py.check")" = "$want" ]'
}

# the HTML report's timeline, live-site tables and threads per site
# against two profiles tests/integration/html_timeline.py writes event by
# event: 601 snapshots (two a point) and 600 sampled ones (one a point),
# 18 threads (12 series and the rest summed) and 13 (a series each), 237
# sites live (200 rows and the rest summed; equal bytes in the order of
# more blocks; a live block of 0 bytes), a site of 29 threads in two
# processes, two stacks each (16 listed); and `report --json`'s totals,
# threads and sites, and the folded and gperftools exports, on the same
# files
py_checks 38 tests/integration/html_timeline.py "$PS" "$WORK"
# a module's symbols come only from the object with the profile's
# build-id (tests/integration/module_match.py): one that differs in its
# low or high nibbles or its first byte, a missing path that spells the
# same key, a relative path; and the gperftools export of such profiles
# (mappings, the header's equal pair, stacks from the site out)
py_checks 23 tests/integration/module_match.py "$PS" "$WORK" "$T/planted"

# two calls of one function that only the symbol table names (no file, no
# line; tests/progs/nodebug_sites.c, 300 and 500 allocations, as the
# program prints): report keeps them apart as two sites, and its labels
# must too, each with its call's address ("two_calls at 0xCALL", the
# offset --json gives); top --lines has a row per call with the program's
# counts, not one row of 800 naming one address
"$PS" record -o "$WORK/nd" -- "$T/nodebug_sites" >/dev/null 2>"$WORK/nd.err"
ND=$(ls "$WORK"/nd/*.pscout)
nd_truth() { awk -v k="$1" '$1 == "truth" && $2 == k { print $3 }' "$WORK/nd.err"; }
"$PS" report --json "$ND" | jq -r '.sites[] | select(.function == "two_calls") |
	"\(.alloc_objects) two_calls at 0x\(.offset | tostring)"' >"$WORK/nd.json.txt"
expect "nodebug_sites: two sites of two_calls, $(nd_truth first) and $(nd_truth second) allocations" \
	'[ "$(cut -d" " -f1 "$WORK/nd.json.txt" | sort -n | tr "\n" " ")" = "$(nd_truth first) $(nd_truth second) " ]'
"$PS" report "$ND" >"$WORK/nd.report"
"$PS" top --lines "$ND" >"$WORK/nd.top"
for off in $("$PS" report --json "$ND" | jq -r '.sites[] | select(.function == "two_calls") | .offset'); do
	n=$("$PS" report --json "$ND" | jq -r ".sites[] | select(.function == \"two_calls\" and .offset == $off) | .alloc_objects")
	label=$(printf "two_calls at 0x%x" "$off")
	expect "report labels the site of $n allocations \"$label\"" \
		'[ "$(grep -c " $label\$" "$WORK/nd.report")" = 1 ]'
	expect "top --lines: \"$label\" has flat $n" \
		'awk -v l="$label" -v n="$n" "index(\$0, \"  \" l) && \$1 == n { f = 1 } END { exit !f }" "$WORK/nd.top"'
done
expect "top --lines: no row of two_calls sums both calls" \
	'! awk "/two_calls/ && \$1 == $(nd_truth first) + $(nd_truth second)" "$WORK/nd.top" | grep -q .'


# a program stripped of every symbol (tests/progs/stripped_via.c): its
# unnamed wrapper (four calls, different sizes) is a wrapper by the
# structural rule, and the two calls of one unnamed function are two
# sites whose 100-column rows must read apart: "stripped_via+0xSTART at
# 0xCALL via +0xWRAPPER" (the wrapper in the site's own module by its
# offset alone: its whole name left no room for the call address, and
# both rows read alike -- trial 3, ruby's ranks 9 and 10)
"$PS" record -o "$WORK/sv" -- "$T/stripped_via" >/dev/null 2>"$WORK/sv.err"
SV=$(ls "$WORK"/sv/*.pscout)
sv_truth() { awk -v k="$1" '$1 == "truth" && $2 == k { print $3 }' "$WORK/sv.err"; }
"$PS" report "$SV" >"$WORK/sv.report"
"$PS" report --json "$SV" | jq -r '.sites[] | select(.via != null) |
	"\(.alloc_objects) \(.function) \(.offset) \(.via)"' >"$WORK/sv.sites"
expect "stripped_via: four sites through its wrapper, as the program counted ($(sv_truth first) $(sv_truth second) $(sv_truth other) $(sv_truth third))" \
	'[ "$(cut -d" " -f1 "$WORK/sv.sites" | sort -n | tr "\n" " ")" = "$(printf "%s\n" $(sv_truth first) $(sv_truth second) $(sv_truth other) $(sv_truth third) | sort -n | tr "\n" " ")" ]'
expect "stripped_via: the two calls of one function are two sites of $(sv_truth first) and $(sv_truth second)" \
	'[ "$(awk "{ n[\$2]++; c[\$2] = c[\$2] \" \" \$1 } END { for (f in n) if (n[f] == 2) print c[f] }" "$WORK/sv.sites" | tr " " "\n" | grep . | sort -n | tr "\n" " ")" = "$(printf "%s\n" $(sv_truth first) $(sv_truth second) | sort -n | tr "\n" " ")" ]'
while read -r n fn off via; do
	label=$(printf "%s at 0x%x via +%s" "$fn" "$off" "${via#*+}")
	expect "report's row of $n allocations reads \"$label\"" \
		'[ "$(grep -c "^ *[0-9]* .* $n  *[0-9]*%  .* $label\$" "$WORK/sv.report")" = 1 ]'
done <"$WORK/sv.sites"

# runtimes with an allocator of their own: a process whose program is
# named like CPython's or PHP's gets the NOTE that says how to see every
# object; any other program, neither (a copy of tests/progs/planted)
for name in python3.11 php8.2 tclsh8.6 ruby3.1 planted; do
	mkdir -p "$WORK/rt-$name"
	cp "$T/planted" "$WORK/rt-$name/$name"
	"$PS" record -o "$WORK/rt-$name/out" -- "$WORK/rt-$name/$name" >/dev/null 2>&1
	"$PS" report -n 1 "$WORK/rt-$name/out"/*.pscout >"$WORK/rt-$name.txt" 2>&1
done
expect "a python process: the pymalloc NOTE, not PHP's" \
	'grep -q "^NOTE: CPython serves small objects" "$WORK/rt-python3.11.txt" &&
	 ! grep -q "Zend MM" "$WORK/rt-python3.11.txt"'
# told to leave its pools (PYTHONMALLOC=malloc or malloc_debug: every
# object through malloc), the NOTE would be false: none (trial 7); any
# other value keeps it
# rt_env NAME VAR VALUE: the copy named NAME recorded with VAR=VALUE, its
# report in $WORK/rt-NAME-VALUE.txt
rt_env() {
	rm -rf "$WORK/rt-$1/out-$3"
	env "$2=$3" "$PS" record -o "$WORK/rt-$1/out-$3" -- "$WORK/rt-$1/$1" >/dev/null 2>&1
	"$PS" report -n 1 "$WORK/rt-$1/out-$3"/*.pscout >"$WORK/rt-$1-$3.txt" 2>&1
}
for pym in malloc malloc_debug pymalloc debug; do
	rt_env python3.11 PYTHONMALLOC "$pym"
done
expect "PYTHONMALLOC=malloc, malloc_debug: no pymalloc NOTE; pymalloc, debug: the NOTE" \
	'! grep -q "^NOTE: CPython" "$WORK/rt-python3.11-malloc.txt" &&
	 ! grep -q "^NOTE: CPython" "$WORK/rt-python3.11-malloc_debug.txt" &&
	 grep -q "^rank" "$WORK/rt-python3.11-malloc.txt" &&
	 grep -q "^NOTE: CPython serves small objects" "$WORK/rt-python3.11-pymalloc.txt" &&
	 grep -q "^NOTE: CPython serves small objects" "$WORK/rt-python3.11-debug.txt"'
expect "a php process: the Zend MM NOTE and USE_ZEND_ALLOC=0, not CPython's" \
	'grep -q "^NOTE: PHP serves its values from its own allocator (Zend MM)" "$WORK/rt-php8.2.txt" &&
	 grep -q "run with USE_ZEND_ALLOC=0 to see every one" "$WORK/rt-php8.2.txt" &&
	 ! grep -q "CPython" "$WORK/rt-php8.2.txt"'
# PHP told to leave Zend MM (USE_ZEND_ALLOC read as a number: 0, or no
# number at all) sends every value to malloc: no NOTE (trial 9); 1
# keeps it
for zend in 0 no 1; do
	rt_env php8.2 USE_ZEND_ALLOC "$zend"
done
expect "USE_ZEND_ALLOC=0 or no: no Zend MM NOTE; 1: the NOTE" \
	'! grep -q "Zend MM" "$WORK/rt-php8.2-0.txt" && grep -q "^rank" "$WORK/rt-php8.2-0.txt" &&
	 ! grep -q "Zend MM" "$WORK/rt-php8.2-no.txt" &&
	 grep -q "^NOTE: PHP serves its values from its own allocator (Zend MM)" "$WORK/rt-php8.2-1.txt"'
expect "a tclsh process: the Tcl NOTE (no setting turns it off), neither CPython's nor PHP's" \
	'grep -q "^NOTE: Tcl serves its objects from its own per-thread caches (TclpAlloc)" "$WORK/rt-tclsh8.6.txt" &&
	 grep -q "only the caches. refills (no setting turns it off)" "$WORK/rt-tclsh8.6.txt" &&
	 ! grep -q "CPython\|Zend MM" "$WORK/rt-tclsh8.6.txt"'
expect "a ruby process: the Ruby NOTE (its own heap pages), no other" \
	'grep -q "^NOTE: Ruby keeps its objects in its own heap pages, not malloc" "$WORK/rt-ruby3.1.txt" &&
	 [ "$(grep -c "^NOTE: " "$WORK/rt-ruby3.1.txt")" = 1 ]'
expect "any other program: no runtime NOTE" \
	'! grep -q "^NOTE: " "$WORK/rt-planted.txt" && grep -q "^rank" "$WORK/rt-planted.txt"'
# glib's GSlice: a process that loaded libglib-2.0.so.0 whose file is
# glib 2.74 gets the NOTE, one whose file is 2.76 (GSlice made a malloc)
# does not (stand-ins: an empty library of that name and version, loaded
# through its soname link)
for v in 7400.6 7600.0; do
	mkdir -p "$WORK/glib-$v"
	echo 'int glib_stand_in(void) { return 0; }' >"$WORK/glib-$v/g.c"
	cc -shared -fPIC -Wl,-soname,libglib-2.0.so.0 -o "$WORK/glib-$v/libglib-2.0.so.0.$v" "$WORK/glib-$v/g.c"
	ln -sf "libglib-2.0.so.0.$v" "$WORK/glib-$v/libglib-2.0.so.0"
	LD_PRELOAD="$WORK/glib-$v/libglib-2.0.so.0" "$PS" record -o "$WORK/glib-$v/out" -- "$T/planted" >/dev/null 2>&1
	"$PS" report -n 1 "$WORK/glib-$v/out"/*.pscout >"$WORK/glib-$v.txt" 2>&1
done
# G_SLICE naming always-malloc (keys as glib reads them: any case, '_'
# for '-', in a list) or all sends every slice to malloc: no NOTE (trial
# 9); debug-blocks alone keeps it
v=7400.6
for gs in always-malloc debug-blocks:Always_Malloc all debug-blocks; do
	rm -rf "$WORK/glib-$v/out-$gs"
	G_SLICE=$gs LD_PRELOAD="$WORK/glib-$v/libglib-2.0.so.0" "$PS" record -o "$WORK/glib-$v/out-$gs" -- "$T/planted" >/dev/null 2>&1
	"$PS" report -n 1 "$WORK/glib-$v/out-$gs"/*.pscout >"$WORK/glib-$gs.txt" 2>&1
done
expect "G_SLICE=always-malloc, debug-blocks:Always_Malloc, all: no GSlice NOTE; debug-blocks: the NOTE" \
	'for gs in always-malloc debug-blocks:Always_Malloc all; do
		! grep -q "GSlice" "$WORK/glib-$gs.txt" && grep -q "^rank" "$WORK/glib-$gs.txt" || exit 1
	 done
	 grep -q "^NOTE: glib before 2.76 serves g_slice_alloc" "$WORK/glib-debug-blocks.txt"'
expect "glib 2.74 loaded: the GSlice NOTE and G_SLICE=always-malloc; 2.76: none" \
	'grep -q "^NOTE: glib before 2.76 serves g_slice_alloc" "$WORK/glib-7400.6.txt" &&
	 grep -q "run with G_SLICE=always-malloc to see every one" "$WORK/glib-7400.6.txt" &&
	 "$PS" info --json "$WORK"/glib-7600.0/out/*.pscout | jq -e "[.[0].modules[].path | select(test(\"libglib-2.0.so.0\$\"))] | length == 1" >/dev/null &&
	 ! grep -q "^NOTE: " "$WORK/glib-7600.0.txt" && grep -q "^rank" "$WORK/glib-7600.0.txt"'

# more of tests/progs/edge_stack.c (recorded above into $WORK/edge.txt):
# a fifth frame that ends at column 93, leaving exactly the 6 columns a
# sixth's " < ..." would take, is shown; two stacks whose lines read the
# same say where they first differ: twin_site's at frame 6 (twin_left or
# twin_right, the program's own call paths), line_site's in frame 2's
# address only (two calls on one line of same_line)
expect "a fifth frame ending at column 93 is shown" \
	'grep -qx "         1000  edge_site_fits < mid2 < main < __libc_start_call_main < __libc_start_main_impl" "$WORK/edge.txt"'
expect "stacks that differ past the shown frames: frame 6, twin_left" \
	'grep -qE "^ +\(stack [0-9]+: frame 6 is twin_left \(edge_stack\.c:[0-9]+\), \+0x[0-9a-f]+\)$" "$WORK/edge.txt"'
expect "stacks that differ past the shown frames: frame 6, twin_right" \
	'grep -qE "^ +\(stack [0-9]+: frame 6 is twin_right \(edge_stack\.c:[0-9]+\), \+0x[0-9a-f]+\)$" "$WORK/edge.txt"'
sl=$(grep -A1 "^ *1000  line_site < same_line < main" "$WORK/edge.txt" |
	sed -n "s/^ *(stack [0-9]*: frame 2 is same_line (edge_stack\.c:[0-9]*), +\(0x[0-9a-f]*\))$/\1/p" | sort -u | wc -l)
expect "two calls on one line: both stacks differ at frame 2, at two addresses" '[ "$sl" = 2 ]'
# one_line_site calls malloc twice from one line: frame 1, two addresses;
# wrapped_site's two stacks differ only inside xmalloc (a wrapper by
# name): the same 5 frames (the site, main, glibc's three), told apart
# by stack id and the recording's pid (the file's name)
ol=$(grep -A1 "^ *1000  one_line_site < main" "$WORK/edge.txt" |
	sed -n "s/^ *(stack [0-9]*: frame 1 is one_line_site (edge_stack\.c:[0-9]*), +\(0x[0-9a-f]*\))$/\1/p" | sort -u | wc -l)
expect "two mallocs on one line of the site: frame 1, at two addresses" '[ "$ol" = 2 ]'
epid=$(ls "$WORK"/edge/*.pscout | sed -n 's/.*\.\([0-9]*\)\.pscout$/\1/p')
ws=$(grep -A1 "^ *1000  wrapped_site < main" "$WORK/edge.txt" |
	grep -xE "               \(stack [0-9]+ of pid $epid, 5 frames, through xmalloc \(edge_stack\.c:[0-9]+\)\)" |
	sed 's/.*edge_stack\.c://' | sort -u | wc -l)
expect "stacks the same past a wrapper: stack id, pid, depth and the wrapper frames they differ in (xmalloc at two lines, trial 7)" '[ "$ws" = 2 ]'
# the same program stripped: a frame without a name ("edge_s+0x1410 at
# 0x1418") says its address once, not again as ", +0x1418" (trial 7)
cp "$T/edge_stack" "$WORK/edge_s"
strip -s "$WORK/edge_s"
"$PS" record -o "$WORK/edge_s.out" -- "$WORK/edge_s" >/dev/null 2>&1
"$PS" report "$WORK"/edge_s.out/*.pscout >"$WORK/edge_s.txt"
nd=$(grep -cE "^ +\(stack [0-9]+: frame [0-9]+ is edge_s\+0x[0-9a-f]+ at 0x[0-9a-f]+\)$" "$WORK/edge_s.txt")
expect "stripped: where two stacks differ, an unnamed frame's address once ($nd lines, none with +0x)" \
	'[ "$nd" -ge 6 ] && ! grep -q "at 0x[0-9a-f]*, +0x" "$WORK/edge_s.txt"'

# report -n 3 of edge_stack.c, whose 9 functions allocate (edge_site_*
# four, twin_site, line_site, one_line_site, long_line_site,
# wrapped_site): 3 ranked rows, then "(6 more sites; ...)"
"$PS" report -n 3 "$WORK"/edge/*.pscout >"$WORK/edge3.txt"
expect "report -n 3: three rows, then the 6 other sites" \
	'[ "$(grep -cE "^ +[0-9]+  [a-z]+ " "$WORK/edge3.txt")" = 3 ] &&
	[ "$(tail -1 "$WORK/edge3.txt")" = "(6 more sites; -n to see more)" ]'
"$PS" report -n 9 "$WORK"/edge/*.pscout >"$WORK/edge9.txt"
expect "report -n 9 of its 9 sites: 9 rows, no \"more sites\" line" \
	'[ "$(grep -cE "^ +[0-9]+  [a-z]+ " "$WORK/edge9.txt")" = 9 ] &&
	! grep -q "more sites" "$WORK/edge9.txt"'

# longnames.c's site name is longer than its row has room for: the
# label is cut to fill the row to column 100 exactly (53 columns of
# rank, remedy and numbers, then 47 of label)
row=$(grep -E "^ +[0-9]+  [a-z]+ .* allocate_the_b" "$WORK/long.txt")
expect "a site label cut to end at column 100 (${#row})" '[ ${#row} = 100 ]'

# edge_stack.c run twice, the two profiles in one report: each call path
# is one stack line, with both processes' 1000 blocks (2000)
"$PS" record -o "$WORK/edgeb" -- "$T/edge_stack" >/dev/null 2>&1
"$PS" report "$WORK"/edge/*.pscout "$WORK"/edgeb/*.pscout >"$WORK/edge2runs.txt"
# the site's block: from its row to the blank line after it
awk '/^ +[0-9]+  [a-z]+ .* edge_site_exact_99 \(/ { on = 1 } on && /^$/ { exit } on' \
	"$WORK/edge2runs.txt" >"$WORK/edge2block.txt"
expect "two processes' same path: one stack line of 2000" \
	'[ "$(grep -c "^ *2000  edge_site_exact_99 < main" "$WORK/edge2block.txt")" = 1 ] &&
	[ "$(grep -c "^ *[0-9]*  edge_site_exact_99 < " "$WORK/edge2block.txt")" = 1 ]'

# a stack that is the first frames of others: edge_stack.c recorded with
# --depth 5 and --depth 8, at the same addresses (setarch -R), in one
# report: twin_site's 5-frame stack reads like the two 8-frame ones and
# is told apart by pid and depth; each deeper one by its frame 6
# (twin_left or twin_right, the program's own call paths)
if setarch -R true 2>/dev/null; then
	setarch -R "$PS" record --depth 5 -o "$WORK/pre5" -- "$T/edge_stack" >/dev/null 2>&1
	setarch -R "$PS" record --depth 8 -o "$WORK/pre8" -- "$T/edge_stack" >/dev/null 2>&1
	"$PS" report -n 20 "$WORK"/pre5/*.pscout "$WORK"/pre8/*.pscout >"$WORK/prefix.txt"
	awk '/^ +[0-9]+  [a-z]+ .* twin_site \(/ { on = 1 } on && /^$/ { exit } on' \
		"$WORK/prefix.txt" >"$WORK/prefix_block.txt"
	p5=$(ls "$WORK"/pre5/*.pscout | sed -n 's/.*\.\([0-9]*\)\.pscout$/\1/p')
	expect "a stack that is another's first 5 frames: its pid and depth" \
		'grep -A1 "^ *2000  twin_site < tw1 < tw2 < tw3 < tw4$" "$WORK/prefix_block.txt" |
		grep -qx "               (stack [0-9]* of pid $p5, 5 frames)"'
	expect "the deeper stacks that start with it: their frame 6" \
		'[ "$(grep -cE "^ +\(stack [0-9]+: frame 6 is twin_(left|right) \(edge_stack\.c:[0-9]+\), \+0x[0-9a-f]+\)$" "$WORK/prefix_block.txt")" = 2 ]'
else
	skip views/prefix-stacks "setarch -R cannot turn off address randomization here"
fi

# long_line_site's two stacks differ in frame 2, a function whose name
# (43 characters) does not fit the 40 columns the report gives it: both
# labels are cut to exactly 40
"$PS" report -n 20 "$WORK"/edge/*.pscout >"$WORK/edge20.txt"
ll=$(sed -n 's/^ *(stack [0-9]*: frame 2 is \(calls_twice.*\), +0x[0-9a-f]*)$/\1/p' "$WORK/edge20.txt" |
	awk '{ print length($0) }' | sort -u | tr '\n' ' ')
expect "a differing frame's long label is cut to 40 columns ($ll)" \
	'[ "$ll" = "40 " ] &&
	[ "$(grep -c "^ *(stack [0-9]*: frame 2 is calls_twice" "$WORK/edge20.txt")" = 2 ]'


# diff --per: an amount per unit is written with decimals under 10000 and
# as a count from there (planted's 200000 handle_request by 20: exactly
# 10000 a unit, "10.0k"; its 50000 produce_message: "2500.0")
"$PS" diff --per 20 "$P" "$P" >"$WORK/per20.txt" 2>&1
expect "diff --per 20: 10000 a unit reads 10.0k, 2500 reads 2500.0" \
	'grep -Eq "^same +10\.0k +10\.0k .*handle_request" "$WORK/per20.txt" &&
	 grep -Eq "^same +2500\.0 +2500\.0 .*produce_message" "$WORK/per20.txt"'

# diff of sampled runs: a change within the sampling's 95% error is
# "noise", not "changed"/"gone"/"new". truth's periodic scenario counts
# 100000 every_fourth() allocations in each run, recorded 1 in 64: the
# printed error of the change is 1.96 sd of the difference of two such
# estimates (sd of one: sqrt(100000 x 64 x 63/64) = 2510), and halving one
# side (--per 1,2, a true change of -50000, 18 sd) is "changed"
"$PS" record --sample 64 -o "$WORK/smp1" -- "$T/truth" periodic >/dev/null 2>"$WORK/smp1.err"
"$PS" record --sample 64 -o "$WORK/smp2" -- "$T/truth" periodic >/dev/null 2>&1
want=$(sed -n 's/^truth every_fourth //p' "$WORK/smp1.err")
"$PS" diff --json "$WORK/smp1" "$WORK/smp2" >"$WORK/smp.json" 2>&1
"$PS" diff --json --per 1,2 "$WORK/smp1" "$WORK/smp1" >"$WORK/smphalf.json" 2>&1
"$PS" diff "$WORK/smp1" "$WORK/smp2" >"$WORK/smp.txt" 2>&1
smp_site() { python3 -c '
import json, math, sys
d = json.load(open(sys.argv[1])); want = float(sys.argv[2]); half = sys.argv[3] == "half"
s = [x for x in d["sites"] if x["function"] == "every_fourth"][0]
sd = math.sqrt(want * 64 * (1 - 1 / 64.0))
sd_change = math.sqrt(sd * sd + (sd / 2) ** 2) if half else math.sqrt(2) * sd
e, delta = s["alloc_objects_error95"], s["delta"]["alloc_objects"]
print(s["status"], e, delta, sd_change)
ok = 0.8 < e / (1.96 * sd_change) < 1.25
if half:
    ok = ok and s["status"] == "changed" and abs(delta + want / 2) < 3.3 * sd_change
else:
    ok = ok and s["status"] == ("noise" if abs(delta) <= e else "changed") and abs(delta) < 3.3 * sd_change
sys.exit(0 if ok else 1)' "$@"; }
expect "sampled diff: the change's 95% error is the estimates' ($(smp_site "$WORK/smp.json" "$want" same 2>&1)), noise inside it" \
	'[ "$want" = 100000 ] && smp_site "$WORK/smp.json" "$want" same >/dev/null'
expect "sampled diff: a true change of half is \"changed\" ($(smp_site "$WORK/smphalf.json" "$want" half 2>&1))" \
	'smp_site "$WORK/smphalf.json" "$want" half >/dev/null'
expect "sampled diff: the table says what noise is" \
	'grep -q "^noise: a change within the sampling.s 95% error" "$WORK/smp.txt"'
# a sampled run against itself, per 100000 units of work: every value
# and the change's error are under 1 (the error some 0.1), and the change
# (0) is inside it: noise, however small the error
"$PS" diff --json --per 100000 "$WORK/smp1" "$WORK/smp1" >"$WORK/smpself.json" 2>&1
self=$(jq -r '.sites[] | select(.function == "every_fourth") | "\(.status) \(.alloc_objects_error95) \(.delta.alloc_objects)"' "$WORK/smpself.json" 2>/dev/null)
expect "sampled diff: a run against itself per 100000 units is noise, its error under 1 ($self)" \
	'echo "$self" | awk "{ exit !(\$1 == \"noise\" && \$2 > 0 && \$2 < 1 && \$3 == 0) }"'

# a sampled site's count is an estimate on every reason that states it,
# "rare" ones included: cxx_objects makes 500 make_arrays() blocks (its
# own count), recorded 1 in 4: "rare: N (+-E%)", N within 3.3 sd of 500
# and E about 1.96 sd (sqrt(500 x 4 x 3/4) = 38.7) over N
"$PS" record --sample 4 -o "$WORK/cxs" -- "$T/cxx_objects" >/dev/null 2>&1
"$PS" report -n 50 "$WORK"/cxs/*.pscout >"$WORK/cxs.txt" 2>&1
rare=$(grep -A1 "  make_arrays" "$WORK/cxs.txt" | sed -n 's/.*- rare: \([0-9]*\) (+-\([0-9.]*\)%) allocations.*/\1 \2/p')
expect "sampled report: a rare site's count says how close it is ($rare)" \
	'[ -n "$rare" ] && echo "$rare" | awk "{ sd = sqrt(500 * 4 * 0.75); e = \$2 / 100 * \$1 / 1.96;
		exit !(\$1 - 500 < 3.3 * sd && 500 - \$1 < 3.3 * sd && e > 0.8 * sd && e < 1.25 * sd) }"'

# the diff of sampled runs says so in its document (and so on its page):
# each side's sample_every, the 64 they were recorded with
expect "sampled diff: each side's sample_every is the recording's (64)" \
	'python3 -c "import json, sys; d = json.load(open(sys.argv[1]));
sys.exit(not (d[\"base\"][\"sample_every\"] == 64 == d[\"new\"][\"sample_every\"]))" "$WORK/smp.json"'

# top of a sampled run says how close each row is, as report's sites do:
# every_fourth's flat, 100000 as truth counts them (recorded 1 in 64),
# within 3.3 sd of the truth, its flat_error95 about 1.96 sd (sd =
# sqrt(100000 x 64 x 63/64) = 2510), and the text's +-95% column that
# error over flat
"$PS" top --json "$WORK"/smp1/*.pscout >"$WORK/smptop.json" 2>&1
"$PS" top "$WORK"/smp1/*.pscout >"$WORK/smptop.txt" 2>&1
top_err=$(python3 -c '
import json, math, sys
d = json.load(open(sys.argv[1])); want = float(sys.argv[2])
r = [x for x in d["rows"] if x["function"] == "every_fourth"][0]
sd = math.sqrt(want * 64 * (1 - 1 / 64.0))
ok = abs(r["flat"] - want) < 3.3 * sd and 0.8 < r["flat_error95"] / (1.96 * sd) < 1.25
print("%d +- %.0f %.1f%%" % (r["flat"], r["flat_error95"], 100 * r["flat_error95"] / r["flat"]))
sys.exit(0 if ok else 1)' "$WORK/smptop.json" "$want")
expect "sampled top: a row's flat and its 95% error, truth 100000 ($top_err)" \
	'[ "$want" = 100000 ] && [ -n "$top_err" ] && python3 -c "import json, math, sys
d = json.load(open(sys.argv[1]))
r = [x for x in d[\"rows\"] if x[\"function\"] == \"every_fourth\"][0]
sd = math.sqrt(100000 * 63)
sys.exit(not (abs(r[\"flat\"] - 100000) < 3.3 * sd and 0.8 < r[\"flat_error95\"] / (1.96 * sd) < 1.25))" "$WORK/smptop.json"'
expect "sampled top: the text's +-95% column is that error over flat (${top_err##* })" \
	'grep -q "+-95%" "$WORK/smptop.txt" && grep -E "every_fourth\$" "$WORK/smptop.txt" | grep -qF " ${top_err##* } "'
# nothing in use at the end (periodic frees every block): every row of
# top --inuse_objects is 0, and so is its error (no block to stand for
# others)
expect "sampled top --inuse_objects: every row 0 +- 0 (all freed)" \
	'"$PS" top --json --inuse_objects "$WORK"/smp1/*.pscout |
	jq -e "(.rows | length) > 0 and all(.rows[]; .flat == 0 and .cum == 0 and .flat_error95 == 0 and .cum_error95 == 0)" >/dev/null'
# the least sampling, 1 in 2: a row's error is there too (sd =
# sqrt(100000 x 2 x 1/2)), where 1 in 1 has none
"$PS" record --sample 2 -o "$WORK/smp_half" -- "$T/truth" periodic >/dev/null 2>&1
"$PS" top --json "$WORK"/smp_half/*.pscout >"$WORK/smptop2.json" 2>&1
expect "sampled 1 in 2, top: every_fourth's flat within 3.3 sd of 100000, its flat_error95 1.96 sd" \
	'python3 -c "import json, math, sys
d = json.load(open(sys.argv[1]))
r = [x for x in d[\"rows\"] if x[\"function\"] == \"every_fourth\"][0]
sd = math.sqrt(100000)
sys.exit(not (abs(r[\"flat\"] - 100000) < 3.3 * sd and 0.8 < r[\"flat_error95\"] / (1.96 * sd) < 1.25))" "$WORK/smptop2.json"'

# stacks cut at the depth cap right above their site (tests/progs/wrapped.c
# in full: my_xmalloc called by site_small, site_medium and site_large,
# 1000 + 2000 + 3000 times; new_record, 700, by three loaders): at
# --depth 1 every stack is its site alone, the 6700; at 2 the wrapper's
# callers are sites with nothing recorded above them, the 6000; at 3
# none is (the header line, then none)
for d in 1 2 3; do
	"$PS" record --depth $d -o "$WORK/depth$d" -- "$T/wrapped-symbols" >/dev/null 2>&1
	"$PS" report -n 1 "$WORK/depth$d"/*.pscout >"$WORK/depth$d.txt" 2>&1
done
expect "--depth 1: all 6700 allocations cut right above their site, said in the header" \
	'grep -q "^DEPTH: 6700 of the allocations (100.0%) have stacks cut at the depth cap (--depth 1)$" "$WORK/depth1.txt"'
expect "--depth 2: the wrapper's callers' 6000, not new_record's 700" \
	'grep -q "^DEPTH: 6000 of the allocations (89.6%) have stacks cut at the depth cap (--depth 2)$" "$WORK/depth2.txt"'
expect "--depth 3: no DEPTH line" '! grep -q "^DEPTH" "$WORK/depth3.txt" && grep -q "^rank" "$WORK/depth3.txt"'

# stacks that are the runtime's code up to the cap (trial 8: glibc's
# regcomp recursion 64 frames deep): truth via_runtime at --depth 1 keeps
# strdup alone for dup_names' 1000 and either_dup's 200 strdup copies (it
# alternates with strndup): counted in the DEPTH line, and strdup is no
# remedy's site, said why
"$PS" record --depth 1 -o "$WORK/depthrt" -- "$T/truth" via_runtime >/dev/null 2>"$WORK/depthrt.truth"
"$PS" report --json "$WORK"/depthrt/*.pscout >"$WORK/depthrt.json"
"$PS" report -n 1 "$WORK"/depthrt/*.pscout >"$WORK/depthrt.txt"
rt_truth() { awk -v k="$1" '$1 == "truth" && $2 == k { print $3 }' "$WORK/depthrt.truth"; }
rt_all=$(($(rt_truth dup_names) + $(rt_truth direct_block) + $(rt_truth either_dup)))
rt_dup=$(($(rt_truth dup_names) + $(rt_truth either_dup) / 2))
# and truth deep_runtime at --depth 3: put_line's stdio buffers (its
# count) have three of libc's frames, nothing of the program's
"$PS" record --depth 3 -o "$WORK/depthio" -- "$T/truth" deep_runtime >/dev/null 2>"$WORK/depthio.truth"
io_truth=$(awk '$1 == "truth" && $2 == "put_line" { print $3 }' "$WORK/depthio.truth")
"$PS" report -n 1 "$WORK"/depthio/*.pscout >"$WORK/depthio.txt"
expect "--depth 3 through stdio: put_line's $io_truth buffers, three frames of libc's each, in the DEPTH line" \
	'grep -q "^DEPTH: $io_truth of the allocations ([0-9.]*%) have stacks cut at the depth cap (--depth 3)$" "$WORK/depthio.txt"'
# (with them, pthread_create's own for the thread spawn_one starts)
rt_depth=$(sed -n 's/^DEPTH: \([0-9]*\) of the allocations (100.0%).*/\1/p' "$WORK/depthrt.txt")
expect "--depth 1 through strdup: every allocation in the DEPTH line, the program's $rt_all among them (${rt_depth:-none})" \
	'[ -n "$rt_depth" ] && [ "$rt_depth" -ge "$rt_all" ] && [ "$rt_depth" -le $((rt_all + 2)) ]'
expect "--depth 1 through strdup: strdup's $rt_dup are none, its stacks the runtime's to the cap ($(jq -c "[.sites[] | select(.function == \"strdup\") | .remedy, .alloc_objects]" "$WORK/depthrt.json"))" \
	'jq -e --argjson n "$rt_dup" "[.sites[] | select(.function == \"strdup\")][0] | .remedy == \"none\" and .alloc_objects == \$n and any(.reasons[]; test(\"up to the depth cap \\\\(--depth 1\\\\): the code that called it went unrecorded\"))" "$WORK/depthrt.json" >/dev/null'

# sampled runs and the wrapper rule (tests/progs/wrapped.c rare): the
# wrapper my_xmalloc has three callers, site_small (1000 x 24 B),
# site_medium (2000 x 100..163 B) and rare_large (1 x 1000 B); new_record
# (56 B) has two. Exact, my_xmalloc is a wrapper and nothing is "maybe a
# wrapper". 1 in 64, rare_large's one call is most likely not recorded:
# my_xmalloc, reached from 2 callers, is then a site that says it may be
# a wrapper and how to tell; new_record (one size), site_small (one
# caller) are not; with the --wrapper it names, the callers are the sites.
WR=$T/wrapped-symbols
"$PS" record -o "$WORK/wre" -- "$WR" rare >/dev/null 2>&1
"$PS" record --sample 64 -o "$WORK/wrs" -- "$WR" rare >/dev/null 2>&1
"$PS" record --sample 64 -o "$WORK/wrm" -- "$WR" medium >/dev/null 2>&1
WRAP_RE='^my_xmalloc$'
wr_allocs() { # DIR FUNCTION [OPTIONS...]: its alloc_objects as a site (0: none)
	_d=$1 _f=$2
	shift 2
	"$PS" report --json "$@" "$_d"/*.pscout |
		jq --arg f "$_f" '[.sites[] | select(.function == $f) | .alloc_objects] | add // 0'
}
wr_noted() { # DIR FUNCTION [OPTIONS...]: whether a reason of its says "maybe a wrapper"
	_d=$1 _f=$2
	shift 2
	"$PS" report --json "$@" "$_d"/*.pscout |
		jq -e --arg f "$_f" '[.sites[] | select(.function == $f) | .reasons[]? | select(test("maybe a wrapper"))] | length > 0' >/dev/null
}
wr_exact() {
	[ "$(wr_allocs "$WORK/wre" my_xmalloc)" = 0 ] &&
		[ "$(wr_allocs "$WORK/wre" site_small)" = 1000 ] &&
		[ "$(wr_allocs "$WORK/wre" site_medium)" = 2000 ] &&
		[ "$(wr_allocs "$WORK/wre" rare_large)" = 1 ] &&
		! "$PS" report -n 100 "$WORK"/wre/*.pscout | grep -q "maybe a wrapper"
}
expect "wrapped rare, exact: my_xmalloc is a wrapper, its callers the sites (1000, 2000, 1); no \"maybe a wrapper\"" wr_exact
if [ "$(wr_allocs "$WORK/wrs" rare_large)" = 0 ]; then
	wr_note_text() {
		"$PS" report --json "$WORK"/wrs/*.pscout |
			jq -r '.sites[] | select(.function == "my_xmalloc") | .reasons[]' |
			grep -qF "sampled: maybe a wrapper, with callers unrecorded: reached from 2 callers (a wrapper has 3); record without --sample, or pass --wrapper '$WRAP_RE', to see its callers as the sites"
	}
	expect "wrapped rare, 1 in 64, rare_large unrecorded: my_xmalloc, a site, says it may be a wrapper with 2 callers, and how to tell" \
		'[ "$(wr_allocs "$WORK/wrs" my_xmalloc)" -gt 0 ] && wr_note_text'
	expect "wrapped rare, 1 in 64: new_record (2 callers, one size) has no such note" \
		'[ "$(wr_allocs "$WORK/wrs" new_record)" -gt 0 ] && ! wr_noted "$WORK/wrs" new_record'
	expect "wrapped rare, 1 in 64, --wrapper its regex: site_small and site_medium are the sites, my_xmalloc none, no note" \
		'[ "$(wr_allocs "$WORK/wrs" my_xmalloc --wrapper "$WRAP_RE")" = 0 ] &&
		 [ "$(wr_allocs "$WORK/wrs" site_small --wrapper "$WRAP_RE")" -gt 0 ] &&
		 [ "$(wr_allocs "$WORK/wrs" site_medium --wrapper "$WRAP_RE")" -gt 0 ] &&
		 ! "$PS" report -n 100 --wrapper "$WRAP_RE" "$WORK"/wrs/*.pscout | grep -q "maybe a wrapper"'
else
	# rare_large's call was recorded (about 1 run in 64): three callers,
	# a wrapper as in the exact run
	expect "wrapped rare, 1 in 64, rare_large recorded: my_xmalloc is a wrapper, no note" \
		'[ "$(wr_allocs "$WORK/wrs" my_xmalloc)" = 0 ] && ! "$PS" report -n 100 "$WORK"/wrs/*.pscout | grep -q "maybe a wrapper"'
fi
expect "wrapped medium, 1 in 64: my_xmalloc with its one caller is a site with no note" \
	'[ "$(wr_allocs "$WORK/wrm" my_xmalloc)" -gt 0 ] && ! wr_noted "$WORK/wrm" my_xmalloc'
# exact, two callers are all there are: my_xmalloc is a site (3000 as
# the program makes them), with no note
"$PS" record -o "$WORK/wr2" -- "$WR" two >/dev/null 2>&1
expect "wrapped two, exact: my_xmalloc with its two callers is a site (3000) with no note" \
	'[ "$(wr_allocs "$WORK/wr2" my_xmalloc)" = 3000 ] && ! wr_noted "$WORK/wr2" my_xmalloc'

# a realloc chain is recorded whole or not at all (truth chains: 20000
# chains of a malloc and 7 growing reallocs, recorded 1 in 10): top
# --lines gives the realloc line's estimate the error of 7-step draws,
# 1.96 x 7 x 10 x sqrt(20000 / 10 x 9 / 10) = 1.96 x 2970 (+-10%: the
# recorded chains stand for the truth's), the malloc line that of single
# draws, 1.96 x 10 x sqrt(2000 x 9 / 10) = 1.96 x 424
"$PS" record --sample 10 -o "$WORK/chs" -- "$T/truth" chains >/dev/null 2>"$WORK/chs.err"
ch_err() { # LINE_ROLE: the grow_buffer row's flat_error95 / 1.96 (its realloc line: the larger flat)
	"$PS" top --lines --json "$WORK"/chs/*.pscout |
		jq "[.rows[] | select(.function == \"grow_buffer\")] | sort_by(.flat) | .[$1].flat_error95 / 1.96 | floor"
}
ch_chains=$(awk '$2 == "chains" { print $3 }' "$WORK/chs.err")
ch_steps=$(awk '$2 == "steps_per_chain" { print $3 }' "$WORK/chs.err")
ch_sd=$(awk -v c="$ch_chains" -v s="$ch_steps" 'BEGIN { printf "%.0f", s * 10 * sqrt(c / 10 * 0.9) }')
ch_sd1=$(awk -v c="$ch_chains" 'BEGIN { printf "%.0f", 10 * sqrt(c / 10 * 0.9) }')
ch_in() { awk -v x="$1" -v w="$2" 'BEGIN { exit !(x >= 0.9 * w && x <= 1.1 * w) }'; }
expect "sampled top --lines: a realloc chain's steps vary as one draw (error95 / 1.96: $(ch_err -1), the truth's sd $ch_sd); the malloc line's as single ones ($(ch_err 0), $ch_sd1)" \
	'[ "$ch_chains" = 20000 ] && [ "$ch_steps" = 7 ] && ch_in "$(ch_err -1)" "$ch_sd" && ch_in "$(ch_err 0)" "$ch_sd1"'

# a run of many short processes: from 10 that lived under 50 ms the
# header says that their start and exit under the preload are in no
# profile; 9 and it does not (a shell that lives over 50 ms itself, its
# sleep too, runs /bin/true N times)
for n in 9 10; do
	"$PS" record -o "$WORK/short$n" -- sh -c "sleep 0.06; for i in $(seq -s ' ' $n); do /bin/true; done" >/dev/null 2>&1
	"$PS" report -n 1 "$WORK"/short$n/*.pscout >"$WORK/short$n.txt" 2>&1
done
expect "10 processes under 50 ms: the header says their start and exit are in no profile" \
	'grep -q "^PROCESSES: 10 of the run.s processes lived under 50 ms" "$WORK/short10.txt"'
expect "9 processes under 50 ms: nothing said" \
	'! grep -q "^PROCESSES:" "$WORK/short9.txt" && grep -q "^rank" "$WORK/short9.txt"'

# glibc's own obstack (tests/progs/obstack_chunks.c): its chunks pile up
# and die together by design, through libc's _obstack_newchunk whether
# the site called it, a wrapper chain holds it (dpkg's nfmalloc, chunks
# from a wrapper of malloc) or it called the site (the obstack's chunk
# allocator): none, an arena already; a pile-up of no obstack's is an
# arena. The chunk counts are the obstacks' own chunk lists.
"$PS" record -o "$WORK/obst" -- "$T/obstack_chunks" 20000 >"$WORK/obst.out" 2>/dev/null
ob_truth() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$WORK/obst.out"; }
"$PS" report --json -n 100 "$WORK"/obst/*.pscout >"$WORK/obst.json"
ob_site() { # FUNCTION: "remedy allocations obstack-reason(0/1)"
	jq -r --arg f "$1" '[.sites[] | select(.function == $f)][0] |
		"\(.remedy) \(.alloc_objects) \([.reasons[] | select(test("an obstack.s chunks \\(through _obstack_newchunk\\), an arena already"))] | length)"' "$WORK/obst.json"
}
ob_begin() { jq --arg f "$1" '[.sites[] | select(.function == $f) | .alloc_objects] | add // 0' "$WORK/obst.json"; }
expect "obstack chunks, the site calls libc's _obstack_newchunk: none, the obstack's $(ob_truth straight) chunks ($(ob_site straight_use), + $(ob_begin straight_begin) at its begin)" \
	'[ "$(ob_site straight_use)" = "none $(($(ob_truth straight) - 1)) 1" ] && [ "$(ob_begin straight_begin)" = 1 ]'
expect "obstack chunks through a wrapper chain (nfmalloc, chunk_malloc): none, $(ob_truth wrapped) chunks ($(ob_site nfmalloc), + $(ob_begin wrapped_begin))" \
	'[ "$(ob_site nfmalloc)" = "none $(($(ob_truth wrapped) - 1)) 1" ] && [ "$(ob_begin wrapped_begin)" = 1 ]'
expect "obstack chunks from the obstack's own chunk allocator, called by _obstack_newchunk: none, $(ob_truth own) chunks ($(ob_site own_chunk))" \
	'[ "$(ob_site own_chunk)" = "none $(ob_truth own) 1" ]'
expect "a pile-up of no obstack's: an arena ($(ob_site pile_block))" \
	'[ "$(ob_site pile_block)" = "arena $(ob_truth pile) 0" ]'

# sites in a system library (tests/progs/libsite.c: zlib's deflateInit
# INITS times from compress_often, plus once through the program's own
# counting allocator, which the wrapper rule folds into zlib's lines too):
# their counts are the program's, (INITS + 1) x per_init, and each says
# it is library code the program reaches through compress_often; the
# program's own site (own_site, 300) says nothing of the kind
"$PS" record -o "$WORK/libsite" -- "$T/libsite" >"$WORK/libsite.out" 2>/dev/null
ls_truth() { awk -v k="$1" '$1 == "truth" && $2 == k { print $3 }' "$WORK/libsite.out"; }
"$PS" report --json "$WORK"/libsite/*.pscout >"$WORK/libsite.json"
ls_want=$(( ($(ls_truth inits) + 1) * $(ls_truth per_init) ))
ls_got=$(jq '[.sites[] | select(.module | test("/libz\\.so")) | .alloc_objects] | add // 0' "$WORK/libsite.json")
expect "a library's sites: zlib's $ls_want allocations ($ls_got), each site noting the library and the program's compress_often" \
	'[ "$ls_got" = "$ls_want" ] && [ "$ls_want" -gt 0 ] &&
	 jq -e "[.sites[] | select(.module | test(\"/libz\\\\.so\"))] | length > 0 and all(.reasons | any(startswith(\"in libz.so.1, a library: the remedy is its own; the program decides how often it runs (its busiest path leaves the library at compress_often)\")))" "$WORK/libsite.json" >/dev/null'
expect "the program's own site ($(ls_truth own_site)) has no library note" \
	'jq -e "[.sites[] | select(.function == \"own_site\")] | length == 1 and .[0].alloc_objects == $(ls_truth own_site) and (.[0].reasons | all(test(\"a library\") | not))" "$WORK/libsite.json" >/dev/null'

# diff decides the wrappers over both sides' files together, however
# many each side has: the base two runs of `wrapped medium` (my_xmalloc
# with one caller: no wrapper on its own; three files with the shell's),
# the new side one full run (three callers): my_xmalloc is a wrapper on
# both sides, and site_medium the site of its 2000 a run on each
"$PS" record -o "$WORK/dwb" -- sh -c "'$WR' medium; '$WR' medium" >/dev/null 2>&1
"$PS" record -o "$WORK/dwn" -- "$WR" >/dev/null 2>&1
"$PS" diff --json "$WORK/dwb" "$WORK/dwn" >"$WORK/dw.json" 2>/dev/null
expect "diff of 3 files against 1: site_medium is the site on both sides (4000 and 2000), my_xmalloc none" \
	'[ "$(ls "$WORK"/dwb/*.pscout | wc -l)" = 3 ] &&
	 [ "$(jq -r "[.sites[] | select(.function == \"site_medium\")][0] | \"\(.base.alloc_objects) \(.new.alloc_objects)\"" "$WORK/dw.json")" = "4000 2000" ] &&
	 [ "$(jq "[.sites[] | select(.function == \"my_xmalloc\")] | length" "$WORK/dw.json")" = 0 ]'

# a stripped module's .eh_frame_hdr gives its functions' starts, read
# only when its segment lies within the file: the same program with the
# segment's size patched to end exactly at the file's end names
# site_small by its start (nm's address on the copy with symbols), and
# one byte longer names no function start (the table is not read)
mkdir -p "$WORK/ehf"
cp "$T/wrapped" "$WORK/ehf/wrapped"
"$PS" record -o "$WORK/ehf/out" -- "$WORK/ehf/wrapped" >/dev/null 2>&1
small=$(nm "$T/wrapped-symbols" | sed -n 's/^0*\([0-9a-f]*\) [tT] site_small$/\1/p')
eh_size() { # FILE EXTRA: PT_GNU_EH_FRAME's p_filesz := the bytes to the file's end + EXTRA
	python3 - "$1" "$2" <<'EOF'
import struct, sys
path, extra = sys.argv[1], int(sys.argv[2])
data = bytearray(open(path, "rb").read())
phoff, = struct.unpack_from("<Q", data, 32)
phentsize, phnum = struct.unpack_from("<HH", data, 54)
for i in range(phnum):
    at = phoff + i * phentsize
    if struct.unpack_from("<I", data, at)[0] == 0x6474e550:
        off, = struct.unpack_from("<Q", data, at + 8)
        struct.pack_into("<Q", data, at + 32, len(data) - off + extra)
open(path, "wb").write(data)
EOF
}
eh_names() { "$PS" report --json -n 100 "$WORK"/ehf/out/*.pscout | jq -r ".sites[].function"; }
eh_size "$WORK/ehf/wrapped" 0
eh_names >"$WORK/ehf/fit.txt"
eh_size "$WORK/ehf/wrapped" 1
eh_names >"$WORK/ehf/over.txt"
expect "a .eh_frame_hdr segment ending at the file's end gives site_small's start (wrapped+0x$small)" \
	'[ -n "$small" ] && grep -qx "wrapped+0x$small" "$WORK/ehf/fit.txt"'
expect "one byte past the file's end: not read, no site named by a function start" \
	'[ -s "$WORK/ehf/over.txt" ] && ! grep -qx "wrapped+0x$small" "$WORK/ehf/over.txt"'

finish
