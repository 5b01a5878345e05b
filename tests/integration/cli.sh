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
"$PS" record -o "$WORK/opt" --interval 20 --depth 3 --sample 10 -- "$T/planted" >/dev/null 2>&1
expect "record passes --interval/--depth/--sample" \
	'"$PS" info --json "$WORK"/opt/*.pscout | jq -e ".[0].interval_ms == 20 and .[0].sample_every == 10" >/dev/null'
expect "sampled views say so" '"$PS" report "$WORK"/opt/*.pscout | grep -q SAMPLED'
s=$(site_allocs "$WORK/opt" handle_request)
expect "sampled count is an estimate near 200000 ($s)" '[ "$s" -ge 190000 ] && [ "$s" -le 210000 ]'

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
finish
