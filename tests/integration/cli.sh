#!/bin/sh
# cli.sh - the command-line contract: record's exit status and untouched
# stdout, option handling (warn, never break the host), file naming and
# modes, --no-children, raw LD_PRELOAD use, install, and the analyzer's
# exit 2 with one clear line on bad input.
. tests/lib.sh

# record: stdout is the command's, exit status is the command's
d=$WORK/rec
out=$("$PS" record -o "$d" -- sh -c 'echo hello; exit 7' 2>"$WORK/err")
rc=$?
expect "record keeps the exit status" '[ $rc = 7 ]'
expect "record leaves stdout alone" '[ "$out" = hello ]'
expect "record lists profiles on stderr" 'grep -q "poolscout: 1 profile written" "$WORK/err"'
f=$(ls "$d"/poolscout.sh.*.pscout 2>/dev/null | head -1)
expect "profile named poolscout.<comm>.<pid>.pscout" '[ -n "$f" ]'
expect "profile mode 0600" '[ "$(stat -c %a "$f")" = 600 ]'
expect "info reads it" '"$PS" info "$f" | grep -q "complete:      yes"'

# the same output with and without the preload
plain=$(printf 'b\na\nc\n' | sort)
pre=$(printf 'b\na\nc\n' | "$PS" record -o "$WORK/sort" -- sort 2>/dev/null)
expect "sort output unchanged" '[ "$plain" = "$pre" ]'

# a signal-killed command: 128 + signal
"$PS" record -o "$WORK/kill" -- sh -c 'kill -TERM $$' 2>/dev/null
rc=$?
expect "killed command gives 128+signal" '[ $rc = 143 ]'
"$PS" record -o "$WORK/nf" -- /nonexistent/cmd 2>/dev/null
rc=$?
expect "missing command gives 127" '[ $rc = 127 ]'

# bad usage: exit 2 and one line
"$PS" record --interval abc -- true 2>"$WORK/err"
rc=$?
expect "bad --interval is exit 2" '[ $rc = 2 ] && grep -q "interval expects" "$WORK/err"'
"$PS" record 2>/dev/null
rc=$?
expect "record without command is exit 2" '[ $rc = 2 ]'
"$PS" frobnicate 2>/dev/null
rc=$?
expect "unknown command is exit 2" '[ $rc = 2 ]'
"$PS" --x.pscout 2>"$WORK/err"
rc=$?
expect "an option ending in .pscout is an unknown command, not a file" \
	'[ $rc = 2 ] && grep -q "unknown command .--x\.pscout." "$WORK/err"'
"$PS" -x.pscout 2>"$WORK/err"
rc=$?
expect "-x.pscout is an unknown command too" '[ $rc = 2 ] && grep -q "unknown command .-x\.pscout." "$WORK/err"'

# bad option values in the environment: one warning each, program runs
msg=$(LD_PRELOAD=$LIB POOLSCOUT_OUT=$WORK/env POOLSCOUT_DEPTH=abc \
	POOLSCOUT_INTERVAL_MS=-5 POOLSCOUT_CHILDREN=maybe sh -c 'echo fine' 2>&1)
expect "bad env values: program still runs" 'echo "$msg" | grep -q fine'
expect "bad env values: one warning each" \
	'[ "$(echo "$msg" | grep -c "poolscout: ignoring")" = 3 ]'
mkdir -p "$WORK/env"

# an unwritable output directory: one warning, the program runs
mkdir -p "$WORK/ro" && chmod 555 "$WORK/ro"
if [ "$(id -u)" = 0 ]; then ro=/proc/poolscout-no-such-dir; else ro=$WORK/ro; fi
msg=$(LD_PRELOAD=$LIB POOLSCOUT_OUT=$ro sh -c 'echo still; exit 4' 2>&1)
rc=$?
expect "unwritable dir: program runs unprofiled" '[ $rc = 4 ] && echo "$msg" | grep -q still'
expect "unwritable dir: one warning" '[ "$(echo "$msg" | grep -c "cannot create a profile")" = 1 ]'

# process trees: one file per process; --no-children only the first
"$PS" record -o "$WORK/tree" -- sh -c 'ls / >/dev/null; cat /etc/hostname | wc -c >/dev/null; (true; echo x) >/dev/null' 2>/dev/null
n=$(ls "$WORK/tree" | wc -l)
expect "shell tree: a file per process ($n)" '[ "$n" -ge 4 ]'
"$PS" record --no-children -o "$WORK/one" -- sh -c 'ls / >/dev/null; cat /etc/hostname >/dev/null' 2>/dev/null
n=$(ls "$WORK/one" | wc -l)
expect "--no-children: one file ($n)" '[ "$n" = 1 ]'

# record's closing summary: what a process tree made itself (its own
# count: 5 processes, one exec'd after an exec that failed, 6 profiles),
# from each profile's TOTALS record; and again after it cut one child's
# profile by a byte (a torn TOTALS record) and another's TOTALS record
# off, which are read in full
for mode in whole tear; do
	arg=
	[ $mode = tear ] && arg=tear
	out=$("$PS" record -o "$WORK/sum-$mode" -- "$T/summary_tree" $arg 2>"$WORK/sum-$mode.err")
	rc=$?
	truth=$(echo "$out" | sed -n 's/^summary_tree: \([0-9]*\) allocations, \([0-9]*\) processes, \([0-9]*\) profiles$/\3 profiles written (\2 processes, \1 allocations):/p')
	expect "record's summary ($mode): the tree's own count, $truth" \
		'[ $rc = 0 ] && [ -n "$truth" ] && grep -qxF "poolscout: $truth" "$WORK/sum-$mode.err"'
done
# a process the command leaves running (a daemon) is "still running", one
# killed before its end "cut short": record checks whether each process
# of a profile without its end is alive
"$PS" record -o "$WORK/sum-daemon" -- sh -c 'perl -e "my @a = map { \"x\$_\" } 1..1000; sleep 5" "$0" & sleep 0.5; exit 0' "cli-daemon-$$" 2>"$WORK/sum-daemon.err"
expect "record's summary: a process left running is still running, not cut short" \
	'grep -q "profiles written (.*, some still running):$" "$WORK/sum-daemon.err" && ! grep -q "cut short" "$WORK/sum-daemon.err"'
pkill -f "cli-daemon-$$" 2>/dev/null
"$PS" record -o "$WORK/sum-killed" -- perl -e 'my @a = map { "x$_" } 1..1000; kill 9, $$' 2>"$WORK/sum-killed.err"
expect "record's summary: a process killed is cut short, not running" \
	'grep -q "profile written (1 process, .*, some cut short):$" "$WORK/sum-killed.err" && ! grep -q "still running" "$WORK/sum-killed.err"'
# a process that names itself after its first allocation (prctl, as
# tmux's server does) is listed under that name (read again as it ends)
"$PS" record -o "$WORK/renamed" -- "$T/renamed" >/dev/null 2>&1
expect "threads: a process renamed after its first allocation shows its last name" \
	'[ "$("$PS" threads --json "$WORK"/renamed/*.pscout | jq -r ".threads[0].name")" = renamed-late ]'
# its child, forked once it is named "a/b c\177": the child's profile is
# named after it, '/', ' ' and 0x7f each made '_', with its one allocation
"$PS" record -o "$WORK/renamed-fork" -- "$T/renamed" fork >/dev/null 2>&1
child=$(ls "$WORK/renamed-fork" | grep -v '^poolscout\.renamed\.')
expect "a child forked by a process named a/b c and DEL: profile poolscout.a_b_c_.PID.pscout ($child), 1 allocation" \
	'echo "$child" | grep -qx "poolscout\.a_b_c_\.[0-9]*\.pscout" &&
	[ "$("$PS" info --json "$WORK/renamed-fork/$child" | jq ".[0].totals.alloc_objects")" = 1 ]'
# a profile that ends cleanly ends with its TOTALS record: type 12, 28 bytes
n=$(for f in "$WORK"/sum-whole/*.pscout; do tail -c 40 "$f" | od -An -tu4 -N8; done | grep -c "^ *12 *28$")
expect "every profile of the tree ends with a TOTALS record ($n of 6)" '[ "$n" = 6 ]'

# a profile stays raw records until it holds 64 KiB (preload/writer.c
# RAW_BEFORE_STREAM): a short process never sets up zlib. Record types
# in file order, and the offset of the first DEFLATE (10) record
records() {
	python3 -c '
import struct, sys
d = open(sys.argv[1], "rb").read()
at, first, n = 16, 0, 0
while at + 8 <= len(d):
    t, size = struct.unpack_from("<II", d, at)
    if t == 10:
        n += 1
        first = first or at
    at += 8 + size + 4
print(n, first)' "$1"
}
"$PS" record -o "$WORK/short" -- sh -c 'sort /etc/services | head -1' >/dev/null 2>&1
for f in "$WORK"/short/*.pscout; do
	r=$(records "$f")
	expect "a short process's profile is raw records only ($(basename "$f"): $r deflated)" \
		'[ "${r%% *}" = 0 ] && [ "$(stat -c %s "$f")" -lt 65536 ]'
done
"$PS" record -o "$WORK/long" -- "$T/many_stacks" >/dev/null 2>&1
r=$(records "$WORK"/long/*.pscout)
expect "131072 stacks: deflated after the first batch ($r: records, offset)" \
	'[ "${r%% *}" -ge 2 ] && [ "${r#* }" -gt 16 ] && [ "${r#* }" -lt 65536 ]'

# as root, record names a directory on the way to -o that other users
# cannot search (workers that drop privileges could not write there),
# and says nothing once it is searchable
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$WORK/closed/a/b"
	chmod 711 "$WORK" # (mktemp made it 0700)
	chmod 700 "$WORK/closed"
	"$PS" record -o "$WORK/closed/a/b/out" -- true 2>"$WORK/closed.err"
	expect "record -o under a 0700 directory: a note names it" \
		'grep -q "note: $WORK/closed is not searchable by other users" "$WORK/closed.err"'
	chmod 711 "$WORK/closed"
	"$PS" record -o "$WORK/closed/a/b/out2" -- true 2>"$WORK/open.err"
	expect "record -o under a 0711 directory: no note" '! grep -q "not searchable" "$WORK/open.err"'
else
	skip "cli/unreachable-dir" "not root: record checks the way to -o only as root"
fi

# raw use (the preload writes into an existing directory)
mkdir -p "$WORK/raw"
LD_PRELOAD=$LIB POOLSCOUT_OUT=$WORK/raw "$T/planted" >/dev/null
expect "raw LD_PRELOAD use writes a profile" '[ "$(ls "$WORK/raw" | wc -l)" = 1 ]'

# thread names set with pthread_setname_np, and per-thread timelines
"$PS" record -o "$WORK/names" -- "$T/planted" >/dev/null 2>&1
"$PS" threads --json "$WORK"/names/*.pscout >"$WORK/threads.json"
expect "threads: names from pthread_setname_np" \
	'jq -e "[.threads[].name] | index(\"producer\") and index(\"consumer\")" "$WORK/threads.json" >/dev/null'
expect "threads: producer made 50000 allocations, all freed by another thread" \
	'jq -e ".threads[] | select(.name == \"producer\") | .alloc_objects >= 50000 and .cross_thread_frees == 50000" "$WORK/threads.json" >/dev/null'
expect "threads: the timeline adds up to the total" \
	'jq -e "all(.threads[]; ([.timeline[].alloc_objects] | add // 0) == .alloc_objects)" "$WORK/threads.json" >/dev/null'

# a profile as the only argument is the report
expect "poolscout FILE is poolscout report FILE" \
	'[ "$("$PS" "$WORK"/names/*.pscout | md5sum)" = "$("$PS" report "$WORK"/names/*.pscout | md5sum)" ]'
cp "$WORK"/names/*.pscout "$WORK/x-copy.pscout"
expect "poolscout x-copy.pscout (a dash inside the name) is the report" \
	'(cd "$WORK" && "$PS" x-copy.pscout | grep -q "^rank  remedy")'
# -n: 1..1000000 sites
for n in 0 1000001 -1 x; do
	"$PS" report -n $n "$WORK"/names/*.pscout >/dev/null 2>"$WORK/err"
	rc=$?
	expect "report -n $n is exit 2" '[ $rc = 2 ] && grep -q "expects 1..1000000" "$WORK/err"'
done
expect "report -n 1: one site" \
	'"$PS" report -n 1 "$WORK"/names/*.pscout | grep -q "^([0-9]* more sites; -n to see more)$" &&
	[ "$("$PS" report --json -n 1 "$WORK"/names/*.pscout | jq ".sites | length")" = 1 ]'
expect "report -n 1000000: every site" \
	'[ "$("$PS" report --json -n 1000000 "$WORK"/names/*.pscout | jq ".sites | length")" = \
		"$("$PS" report --json "$WORK"/names/*.pscout | jq ".sites | length")" ]'
# an option after the files is no file: exit 2, the option named, for
# every command that reads profiles ("-" alone is a file)
for cmd in report top threads info diff export; do
	case $cmd in
	diff) set -- "$WORK"/names/*.pscout "$WORK"/names/*.pscout ;;
	export) set -- --format json -o "$WORK/x.json" "$WORK"/names/*.pscout ;;
	*) set -- "$WORK"/names/*.pscout ;;
	esac
	"$PS" $cmd "$@" -n 2 >/dev/null 2>"$WORK/err"
	rc=$?
	expect "$cmd FILE -n 2: exit 2, options go before the files" \
		'[ $rc = 2 ] && [ "$(cat "$WORK/err")" = "poolscout: $cmd: '"'"'-n'"'"' after the files: options go before them" ]'
done
"$PS" report "$WORK"/names/*.pscout - </dev/null >/dev/null 2>"$WORK/err"
expect "report FILE - : '-' is a file, not an option" '! grep -q "options go before" "$WORK/err"'
"$PS" export --format 2>"$WORK/err"
rc=$?
expect "export --format without a value: exit 2, says so" '[ $rc = 2 ] && grep -q "needs a value" "$WORK/err"'

# --wrapper: a user-named wrapper is skipped, its caller becomes the site
expect "--wrapper names a wrapper: handle_request's caller is the site" \
	'"$PS" report --json --wrapper "^handle_request$" "$WORK"/names/*.pscout |
	jq -e ".sites[0].function == \"serve\" and .sites[0].alloc_objects == 200000" >/dev/null'
"$PS" report --wrapper "([" "$WORK"/names/*.pscout >/dev/null 2>"$WORK/err"
rc=$?
expect "a bad --wrapper regex is exit 2 with a message" '[ $rc = 2 ] && grep -q "wrapper" "$WORK/err"'

# separate debug info: a stripped binary with .gnu_debuglink still gives
# function names and source lines
cp "$T/planted" "$WORK/planted_stripped"
objcopy --only-keep-debug "$WORK/planted_stripped" "$WORK/planted_stripped.debug"
strip --strip-all "$WORK/planted_stripped"
(cd "$WORK" && objcopy --add-gnu-debuglink=planted_stripped.debug planted_stripped)
"$PS" record -o "$WORK/dbg" -- "$WORK/planted_stripped" >/dev/null 2>&1
expect "stripped binary + .gnu_debuglink: names and lines" \
	'"$PS" report --json "$WORK"/dbg/*.pscout | jq -e ".sites[0].function == \"handle_request\" and (.sites[0].file | endswith(\"planted.c\")) and .sites[0].line > 0" >/dev/null'
rm "$WORK/planted_stripped.debug"
expect "stripped, debug file gone: module+offset, never a wrong name" \
	'"$PS" report --json "$WORK"/dbg/*.pscout | jq -e ".sites[0].function | test(\"^planted_stripped\\\\+0x[0-9a-f]+$\")" >/dev/null'

# options reach the preload
"$PS" record -o "$WORK/opt" --interval 20 --depth 3 --sample 10 -- "$T/planted" >/dev/null 2>"$WORK/opt.err"
expect "record passes --interval/--depth/--sample" \
	'"$PS" info --json "$WORK"/opt/*.pscout | jq -e ".[0].interval_ms == 20 and .[0].sample_every == 10" >/dev/null'
expect "sampled views say so" '"$PS" report "$WORK"/opt/*.pscout | grep -q SAMPLED'
s=$(site_allocs "$WORK/opt" handle_request)
expect "sampled count is an estimate near 200000 ($s)" '[ "$s" -ge 190000 ] && [ "$s" -le 210000 ]'
# planted makes 416001 allocations (its header comment), libc a few more:
# record's summary scales the sampled counts up too (the 60000 realloc
# steps come in whole chains of 15, drawn 1 in 10: a standard deviation of
# 2800 or so; 400k..439k is more than 5 of them)
expect "record's summary of a sampled run: ~416k allocations" \
	'grep -Eq "1 profile written \(1 process, 4[0-3][0-9]k allocations" "$WORK/opt.err"'
# the sampled estimates of handle_request's 256-byte blocks: bytes are
# 256 x the allocation estimate, all freed (totals likewise add up)
OPT=$(ls "$WORK"/opt/*.pscout)
expect "sampled site: alloc_space = 256 x alloc_objects, all freed" \
	'"$PS" report --json "$OPT" | jq -e "[.sites[] | select(.function == \"handle_request\")][0] |
		.alloc_space == 256 * .alloc_objects and .frees == .alloc_objects and .inuse_space == 0" >/dev/null'
expect "sampled totals are the sums of the sites" \
	'"$PS" report --json "$OPT" | jq -e "(.totals.alloc_space == ([.sites[].alloc_space] | add)) and
		(.totals.frees == ([.sites[].frees] | add)) and (.totals.alloc_objects == ([.sites[].alloc_objects] | add)) and
		(.totals.inuse_space == ([.sites[].inuse_space] | add))" >/dev/null'
# bytes: 341 MB, most of it the 4000 chains of 64 KiB, drawn whole 1 in
# 10 (a standard deviation of 12.5 MB): 250..450 MB is over 6 of them
expect "sampled info: frees and bytes scaled like the allocations" \
	'"$PS" info --json "$OPT" | jq -e ".[0].totals | .alloc_space > 250000000 and .alloc_space < 450000000 and
		.free_space > 250000000 and .frees > 390000 and .frees < 440000" >/dev/null'
# produce_message's 512-byte blocks, every one freed by the consumer
expect "sampled threads --json: the producer's bytes, frees and timeline scaled" \
	'"$PS" threads --json "$OPT" | jq -e ".threads[] | select(.name == \"producer\") |
		.alloc_objects > 40000 and .alloc_objects < 60000 and .alloc_space == 512 * .alloc_objects and
		.frees == .alloc_objects and .cross_thread_frees == .frees and
		([.timeline[].alloc_objects] | add) == .alloc_objects and
		([.timeline[].alloc_space] | add) == .alloc_space and ([.timeline[].frees] | add) == .frees" >/dev/null'
"$PS" record -o "$WORK/smallest" --interval 1 --depth 1 --sample 1 -- "$T/planted" >/dev/null 2>&1
rc=$?
expect "record --interval 1 --depth 1 --sample 1: the smallest values are accepted" \
	'[ $rc = 0 ] && "$PS" info --json "$WORK"/smallest/*.pscout | jq -e ".[0].interval_ms == 1 and .[0].sample_every == 1" >/dev/null &&
	"$PS" info "$WORK"/smallest/*.pscout | grep -q "(depth cap 1)"'
"$PS" record -o "$WORK/largest" --interval 3600000 --depth 256 --sample 1073741824 -- true >/dev/null 2>&1
rc=$?
expect "record --interval 3600000 --depth 256 --sample 2^30: the largest values are accepted" '[ $rc = 0 ]'
for bad in "--interval 0" "--interval 3600001" "--depth 0" "--depth 257" "--sample 0" \
	"--sample 1073741825" "--sample -1" "--depth 2x"; do
	# shellcheck disable=SC2086
	"$PS" record -o "$WORK/bad" $bad -- true 2>"$WORK/err"
	rc=$?
	expect "record $bad is exit 2 with a message" '[ $rc = 2 ] && grep -q "expects" "$WORK/err"'
done
"$PS" record -o "$WORK/bad" --interval 2>"$WORK/err"
rc=$?
expect "record --interval without a value is exit 2" '[ $rc = 2 ] && grep -q "needs a value" "$WORK/err"'
# the option wins over the environment
POOLSCOUT_SAMPLE=5 "$PS" record -o "$WORK/env5" --sample 10 -- "$T/planted" >/dev/null 2>&1
expect "POOLSCOUT_SAMPLE=5 record --sample 10: 1 in 10" \
	'"$PS" info --json "$WORK"/env5/*.pscout | jq -e ".[0].sample_every == 10" >/dev/null'
# POOLSCOUT_LIB: the library record preloads
cp "$LIB" "$WORK/copy.so"
out=$(POOLSCOUT_LIB=$WORK/copy.so "$PS" record -o "$WORK/libcopy" -- sh -c 'echo "$LD_PRELOAD"' 2>/dev/null)
expect "POOLSCOUT_LIB names the library record preloads" '[ "$out" = "$WORK/copy.so" ]'
out=$(POOLSCOUT_LIB=$WORK/none.so "$PS" record -o "$WORK/libnone" -- sh -c 'echo "$LD_PRELOAD"' 2>/dev/null)
expect "POOLSCOUT_LIB naming no file: the library beside poolscout" '[ "$out" = "$LIB" ]'
out=$(LD_PRELOAD=/lib/x86_64-linux-gnu/libm.so.6 "$PS" record -o "$WORK/libkeep" -- sh -c 'echo "$LD_PRELOAD"' 2>/dev/null)
expect "record puts its library first in an LD_PRELOAD already set" \
	'[ "$out" = "$LIB /lib/x86_64-linux-gnu/libm.so.6" ]'

# the file: mode from POOLSCOUT_FILE_MODE (octal), the command name
# without its newline, every argument, even an empty argv[0]
mkdir -p "$WORK/mode"
LD_PRELOAD=$LIB POOLSCOUT_OUT=$WORK/mode POOLSCOUT_FILE_MODE=0640 sh -c 'true'
f=$(ls "$WORK"/mode/*.pscout 2>/dev/null | head -1)
expect "POOLSCOUT_FILE_MODE=0640 gives a 0640 file" '[ -n "$f" ] && [ "$(stat -c %a "$f")" = 640 ]'
mkdir -p "$WORK/mode8"
msg=$(LD_PRELOAD=$LIB POOLSCOUT_OUT=$WORK/mode8 POOLSCOUT_FILE_MODE=0680 sh -c 'true' 2>&1)
f=$(ls "$WORK"/mode8/*.pscout 2>/dev/null | head -1)
expect "POOLSCOUT_FILE_MODE=0680 (not octal): a warning and 0600" \
	'echo "$msg" | grep -q "ignoring" && [ -n "$f" ] && [ "$(stat -c %a "$f")" = 600 ]'
"$PS" record -o "$WORK/comm" -- sh -c 'true' 2>"$WORK/err"
pid=$(sed -n 's/^poolscout: recording sh (pid \([0-9]*\)).*/\1/p' "$WORK/err")
f=$WORK/comm/poolscout.sh.$pid.pscout
expect "the file is named poolscout.sh.PID.pscout, exactly" '[ -f "$f" ] && [ "$(ls "$WORK/comm")" = "poolscout.sh.$pid.pscout" ]'
expect "comm is the command's name, exactly" \
	'"$PS" info --json "$f" | jq -e ".[0].comm == \"sh\" and .[0].argv == [\"sh\", \"-c\", \"true\"]" >/dev/null'
if have bash; then
	"$PS" record -o "$WORK/noname" -- bash -c "exec -a '' '$T/planted'" >/dev/null 2>&1
	expect "argv [\"\"] (exec -a ''): read as one empty argument" \
		'"$PS" info --json "$WORK"/noname/poolscout.planted.*.pscout | jq -e ".[0].argv == [\"\"]" >/dev/null'
	"$PS" record -o "$WORK/noname2" -- bash -c "exec -a '' '$T/planted' '' x" >/dev/null 2>&1
	expect "argv [\"\", \"\", \"x\"]: every argument, empty ones too" \
		'"$PS" info --json "$WORK"/noname2/poolscout.planted.*.pscout | jq -e ".[0].argv == [\"\", \"\", \"x\"]" >/dev/null'
else
	skip cli/empty-argv "bash not installed" 2
fi
# a host started with stdin closed: the profile is opened on fd 0 first
# (then moved up); one file, under its plain name
"$PS" record -o "$WORK/nostdin" -- sh -c 'true' <&- 2>"$WORK/err"
pid=$(sed -n 's/^poolscout: recording sh (pid \([0-9]*\)).*/\1/p' "$WORK/err")
expect "stdin closed: one profile, poolscout.sh.PID.pscout" \
	'[ "$(ls "$WORK/nostdin")" = "poolscout.sh.$pid.pscout" ]'
# names taken: poolscout.COMM.PID.N.pscout, N = 1..99, then none (a
# warning); the shell execs the program under its own pid
taken() { # N DIR: N names taken before planted runs, under the shell's pid
	mkdir -p "$2"
	LIB=$LIB sh -c 'i=0; while [ $i -lt '"$1"' ]; do
		if [ $i = 0 ]; then n=$0.$$.pscout; else n=$0.$$.$i.pscout; fi
		: >"$n"; i=$((i + 1)); done
		exec env LD_PRELOAD=$LIB POOLSCOUT_OUT='"$2"' '"$T/planted"'' "$2/poolscout.planted" >/dev/null 2>&1
	find "$2" -name "*.pscout" -size +0 | sed 's|.*/poolscout\.planted\.[0-9]*||'
}
expect "poolscout.planted.PID.pscout taken: .1.pscout" '[ "$(taken 1 "$WORK/taken1")" = .1.pscout ]'
expect "99 names taken: .99.pscout" '[ "$(taken 99 "$WORK/taken99")" = .99.pscout ]'
expect "100 names taken: no profile" '[ -z "$(taken 100 "$WORK/taken100")" ]'

# the profile's descriptor: 1000, far above the host's (a quarter below
# the limit when the limit is under 1100)
cat >"$WORK/fds.sh" <<'EOF_FDS'
for fd in /proc/$$/fd/*; do
	case $(readlink "$fd") in *.pscout) echo "${fd##*/}" ;; esac
done
EOF_FDS
fd_of_profile() { # LIMIT: the fd of the profile of a shell started with that limit
	(ulimit -n "$1" && "$PS" record -o "$WORK/fd$1" -- sh "$WORK/fds.sh" 2>/dev/null)
}
expect "the profile's descriptor is 1000 (limit 20000)" '[ "$(fd_of_profile 20000)" = 1000 ]'
expect "the profile's descriptor is 1000 (limit 1100)" '[ "$(fd_of_profile 1100)" = 1000 ]'
expect "the profile's descriptor is 3/4 of a limit of 1099" '[ "$(fd_of_profile 1099)" = 824 ]'

# info: the build-id is the binary's (readelf -n); stdin closed is no
# obstacle to opening a profile
F=$(ls "$WORK"/names/*.pscout)
want=$(readelf -n "$T/planted" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p')
got=$("$PS" info --json "$F" | jq -r ".[0].modules[] | select(.path == \"$T/planted\") | .build_id")
expect "info: planted's build-id is readelf's ($got)" '[ -n "$want" ] && [ "$got" = "$want" ]'
# the same past a note of odd sizes (5 and 3 bytes, each padded to 4) in
# the build-id's PT_NOTE segment (tests/progs/oddnote.c)
"$PS" record -o "$WORK/oddnote" -- "$T/oddnote" >/dev/null 2>&1
want=$(readelf -n "$T/oddnote" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p')
got=$("$PS" info --json "$WORK"/oddnote/*.pscout | jq -r ".[0].modules[] | select(.path == \"$T/oddnote\") | .build_id")
expect "info: oddnote's build-id is readelf's, past an odd note ($got)" \
	'[ -n "$want" ] && [ "$got" = "$want" ] && readelf -n "$T/oddnote" | grep -q "ODDN  *0x00000003"'
expect "info reads a profile with stdin closed" '"$PS" info "$F" <&- | grep -q "complete:      yes"'

# info's module lines fit 100 columns: "  PATH [STATUS]" whole while PATH
# leaves room for the rest, its middle cut one byte past that. The
# program is copied to a path of each length (its status read first,
# from a short one).
mkdir -p "$WORK/pathlen"
cp "$T/oddnote" "$WORK/pathlen/p"
"$PS" record -o "$WORK/pathlen/rs" -- "$WORK/pathlen/p" >/dev/null 2>&1
status=$("$PS" info --json "$WORK"/pathlen/rs/*.pscout |
	jq -r ".[0].modules[] | select(.path == \"$WORK/pathlen/p\") | .symbols")
room=$((100 - 5 - ${#status}))
for extra in 0 1; do
	want=$((room + extra)) dir="$WORK/pathlen"
	name=p$(printf "%$((want - ${#dir} - 2))s" | tr ' ' x)
	cp "$T/oddnote" "$dir/$name"
	"$PS" record -o "$dir/r$extra" -- "$dir/$name" >/dev/null 2>&1
	"$PS" info "$dir"/r$extra/*.pscout | grep "\[$status\]" |
		grep "pathlen" > "$dir/line$extra"
	cols=$(awk '{ print length($0) }' "$dir/line$extra")
	if [ $extra = 0 ]; then
		expect "info: a module path of $want bytes with [$status] is whole in 100 columns ($cols)" \
			'[ "$cols" = 100 ] && grep -qF "  $dir/$name [$status]" "$dir/line0"'
	else
		expect "info: one byte longer ($want), its middle is cut to 100 columns ($cols)" \
			'[ "$cols" = 100 ] && grep -qF "..." "$dir/line1" && ! grep -qF "$dir/$name" "$dir/line1"'
	fi
done

# install: record finds the library from the installed prefix
make -s install PREFIX="$WORK/prefix" >/dev/null 2>&1
out=$("$WORK/prefix/bin/poolscout" record -o "$WORK/inst" -- echo installed 2>/dev/null)
expect "installed record works" '[ "$out" = installed ] && [ "$(ls "$WORK/inst" | wc -l)" = 1 ]'

# the analyzer on bad input: exit 2, one line naming file and offset
printf 'garbage' >"$WORK/bad.pscout"
"$PS" report "$WORK/bad.pscout" 2>"$WORK/err" >/dev/null
rc=$?
expect "bad file is exit 2" '[ $rc = 2 ]'
expect "bad file message names file and offset" \
	'grep -q "bad.pscout: offset 0: expected the poolscout magic" "$WORK/err"'
expect "bad file message is one line" '[ "$(wc -l <"$WORK/err")" = 1 ]'
"$PS" info /nonexistent.pscout 2>/dev/null
rc=$?
expect "missing file is exit 2" '[ $rc = 2 ]'
# report --html to a directory that does not exist: exit 1, one message
# naming the path, nothing on stdout
"$PS" report --html "$WORK/no_such_dir/page.html" "$WORK"/names/*.pscout >"$WORK/out" 2>"$WORK/err"
rc=$?
expect "report --html into a missing directory is exit 1, said once" \
	'[ $rc = 1 ] && [ "$(wc -l <"$WORK/err")" = 1 ] &&
	grep -q "cannot write $WORK/no_such_dir/page.html" "$WORK/err" &&
	[ ! -s "$WORK/out" ] && [ ! -e "$WORK/no_such_dir" ]'


# record's options win over the same POOLSCOUT_ variables already in the
# environment: --site-peak with POOLSCOUT_SITE_PEAK=0 set still measures
# the all-thread peak (truth concurrent: two threads hold 10 blocks each
# at once: exactly 20), --sample and --depth likewise
POOLSCOUT_SITE_PEAK=0 POOLSCOUT_SAMPLE=4 POOLSCOUT_DEPTH=3 \
	"$PS" record --site-peak --sample 1 --depth 7 -o "$WORK/envwin" -- "$T/truth" concurrent 2>/dev/null
got=$("$PS" report --json "$WORK/envwin"/*.pscout 2>/dev/null |
	jq -r '[.sites[] | select(.function == "worker_buffer")][0].peak_live | "\(.lo) \(.hi) \(.exact)"')
expect "record --site-peak over POOLSCOUT_SITE_PEAK=0 in the environment: the exact 20 ($got)" \
	'[ "$got" = "20 20 true" ]'
got=$("$PS" info --json "$WORK/envwin"/*.pscout 2>/dev/null | jq -r '"\(.[0].sample_every)"')
expect "record --sample 1 over POOLSCOUT_SAMPLE=4: every allocation ($got)" '[ "$got" = 1 ]'
expect "record --depth 7 over POOLSCOUT_DEPTH=3: the depth cap is 7" \
	'"$PS" info "$WORK/envwin"/*.pscout | grep -q "(depth cap 7)"'

# a POOLSCOUT_OUT as long as the option's buffer (4096 bytes, no room for
# its end): one warning, and the default, the current directory, is used
long=$(printf "/%04095d" 0 | tr 0 d)
mkdir -p "$WORK/longout"
msg=$(cd "$WORK/longout" && LD_PRELOAD=$LIB POOLSCOUT_OUT=$long sh -c 'echo ran' 2>&1)
expect "POOLSCOUT_OUT of 4096 bytes: ignored with one warning (${#long} bytes)" \
	'[ ${#long} = 4096 ] && echo "$msg" | grep -q ran &&
	[ "$(echo "$msg" | grep -c "poolscout: ignoring POOLSCOUT_OUT=/dd")" = 1 ] &&
	[ "$(ls "$WORK/longout" | grep -c "\.pscout$")" -ge 1 ]'
# ... and that warning, too long for the preload's 512-byte line buffer, is
# cut to one line that fits it, its newline and end included
line=$(echo "$msg" | grep "poolscout: ignoring POOLSCOUT_OUT=")
expect "the warning about it is cut to fit 512 bytes (${#line} characters)" \
	'[ ${#line} -ge 400 ] && [ ${#line} -le 510 ]'

# every spelling of yes and no is taken without a word: POOLSCOUT_CHILDREN
# set to each, over a shell that runs ls (a second process: profiled with
# yes, not with no)
for v in 1 on yes true ON 0 off no false No; do
	case $v in 1 | on | yes | true | ON) want=2 ;; *) want=1 ;; esac
	rm -rf "$WORK/bool" && mkdir -p "$WORK/bool"
	msg=$(LD_PRELOAD=$LIB POOLSCOUT_OUT=$WORK/bool POOLSCOUT_CHILDREN=$v sh -c 'ls / >/dev/null; echo ran' 2>&1)
	n=$(ls "$WORK/bool" | grep -c "\.pscout$")
	expect "POOLSCOUT_CHILDREN=$v: no warning, $want profile(s) ($n)" \
		'[ "$msg" = ran ] && [ "$n" = $want ]'
done

# the profile's wall-clock start lies between the test's own clock
# readings before and after the run
mkdir -p "$WORK/clock"
before=$(date +%s%N)
LD_PRELOAD=$LIB POOLSCOUT_OUT=$WORK/clock POOLSCOUT_CHILDREN=0 sh -c 'ls / >/dev/null'
after=$(date +%s%N)
start=$("$PS" info --json "$WORK"/clock/*.pscout 2>/dev/null | jq -r '.[0].start_unix_ns')
expect "start_unix_ns within the run, by the test's clock ($before <= $start <= $after)" \
	'[ -n "$start" ] && [ "$start" -ge "$before" ] && [ "$start" -le "$after" ]'


# the views' options at their edges (options.c): an option missing its
# value is exit 2 and says so; --pid takes 1..4294967295 (the largest is
# parsed and then matches no profile); a time is at most 1e18 ns
for opt in --pid --thread --from --to --focus --ignore -n --wrapper --html; do
	"$PS" report $opt >"$WORK/out" 2>"$WORK/err"
	rc=$?
	expect "report $opt without its value: exit 2, says so" \
		'[ $rc = 2 ] && grep -q "^poolscout: report: $opt needs a " "$WORK/err" && [ ! -s "$WORK/out" ]'
done
for v in 0 4294967296 12x; do
	"$PS" report --pid $v "$WORK"/names/*.pscout >/dev/null 2>"$WORK/err"
	rc=$?
	expect "report --pid $v: exit 2, not a process id" '[ $rc = 2 ] && grep -q "expects a process id" "$WORK/err"'
done
"$PS" report --pid 4294967295 "$WORK"/names/*.pscout >/dev/null 2>"$WORK/err"
rc=$?
expect "report --pid 4294967295 is a process id, of no profile given" \
	'[ $rc = 2 ] && grep -q "no profile of pid 4294967295" "$WORK/err"'
for v in 1000000001s 1.1e18ns -1 nan "" 1.5xs; do
	"$PS" report --from "$v" "$WORK"/names/*.pscout >/dev/null 2>"$WORK/err"
	rc=$?
	expect "report --from '$v': exit 2, not a time" '[ $rc = 2 ] && grep -q "expects a time in the run" "$WORK/err"'
done
for v in 1000000000s 1e18ns 1000.5 3600s; do
	expect "report --from $v: a time, after the run: no allocation" \
		'[ "$("$PS" report --json --from "$v" "$WORK"/names/*.pscout | jq .totals.alloc_objects)" = 0 ]'
done
for v in 0 0.5ms 0.25; do
	"$PS" report --from "$v" "$WORK"/names/*.pscout >/dev/null 2>"$WORK/err"
	rc=$?
	expect "report --from $v is a time (from 0 up)" '[ $rc = 0 ] && [ ! -s "$WORK/err" ]'
done
"$PS" report --from 2s --to 2s "$WORK"/names/*.pscout >/dev/null 2>"$WORK/err"
rc=$?
expect "report --from 2s --to 2s: an empty window is exit 2" \
	'[ $rc = 2 ] && grep -q "from must come before --to" "$WORK/err"'


# diff takes the views' options one by one (view_opt_one, without
# view_opts_parse): --wrapper there too makes handle_request's caller
# the site, its 200000 allocations on either side
"$PS" diff --json --wrapper "^handle_request$" "$WORK"/names/*.pscout "$WORK"/names/*.pscout >"$WORK/dwrap.json" 2>"$WORK/err"
rc=$?
expect "diff --wrapper: serve is the site of handle_request's 200000, on both sides" \
	'[ $rc = 0 ] && jq -e "[.sites[] | select(.function == \"serve\")][0] |
		.base.alloc_objects == 200000 and .new.alloc_objects == 200000" "$WORK/dwrap.json" >/dev/null &&
	jq -e "[.sites[] | select(.function == \"handle_request\")] | length == 0" "$WORK/dwrap.json" >/dev/null'


# --to 0 is a window of the run's first ns (0 would mean no end): the
# header says the window
expect "report --to 0: the window 0 s..1 ns, said on top" \
	'"$PS" report --to 0 "$WORK"/names/*.pscout | grep -q "^FILTERED: time 0 s\.\.1e-09 s$"'


# a time in each unit: 1 us as us, ns, ms, s and plain seconds is one
# window
for v in 1us 1000ns 0.001ms 0.000001s 0.000001; do
	expect "report --to $v: the window 0 s..1 us" \
		'"$PS" report --to "$v" "$WORK"/names/*.pscout | grep -q "^FILTERED: time 0 s\.\.1e-06 s$"'
done


# a batch declares its new frames and stacks in FRAMES and STACKS records
# of at most 16384 each (preload/writer.c FRAMES_PER_RECORD,
# STACKS_PER_RECORD), ids in turn: many_stacks' 131072 distinct stacks
# (the program's own count; a tree of twice as many frames) in one batch
# (the exit's, at a 60 s interval) make at least 8 of each, declaring
# every stack
"$PS" record --interval 60000 -o "$WORK/onebatch" -- "$T/many_stacks" >/dev/null 2>&1
for rtype in 8:frames:262144 9:stacks:131072; do
	r=$(python3 -c '
import sys
sys.path.insert(0, "tests/integration")
from pscout_records import read_records, read_varint
per, nxt, out_of_turn = [], 1, 0
for t, p in read_records(sys.argv[1]):
    if t == int(sys.argv[2]):
        first, at = read_varint(p, 0)
        n, at = read_varint(p, at)
        out_of_turn += first != nxt
        nxt = first + n
        per.append(n)
print(len(per), max(per or [0]), sum(per), out_of_turn)' "$WORK"/onebatch/*.pscout "${rtype%%:*}")
	set -- $r
	nrec=${1:-0} largest=${2:-0} ids=${3:-0} out_of_turn=${4:-1}
	what=${rtype#*:}
	least=${what#*:}
	what=${what%:*}
	expect "131072 stacks in one batch: ${what} records of at most 16384, in turn, at least $least ($r: records, largest, ${what}, out of turn)" \
		'[ "$nrec" -ge 8 ] && [ "$largest" = 16384 ] && [ "$ids" -ge "$least" ] && [ "$out_of_turn" = 0 ]'
done

finish
