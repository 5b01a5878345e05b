#!/bin/sh
# real_programs.sh - real, unmodified programs under `poolscout record`:
# same stdout and exit status as without the preload, readable complete
# profiles, and reports whose top sites are named functions (not raw
# addresses). Includes a shell script that starts children and pipelines
# (heaptrack hangs on it); every run is under a timeout.
. tests/lib.sh
IN=$WORK/in.json
seq 1 20000 | awk '{print "{\"k\":" $1 ",\"v\":\"x" $1 "\"}"}' >"$IN"
printf 'int sq(int x) { return x * x; }\nint main(void) { return sq(3) - 9; }\n' >"$WORK/t.c"
seq 1 200000 | awk '{print ($1 * 7919) % 100003}' >"$WORK/nums"
cat >"$WORK/tree.sh" <<'SH'
#!/bin/sh
for i in 1 2 3; do
	seq 1 2000 | sort -rn | head -5 | tr '\n' ' ' &
done
wait
(cd / && ls | wc -l) | cat
echo "$(printf 'a\nb\n' | sort | uniq -c | wc -l) lines"
sh -c 'exit 0'
SH

# run_one NAME named|any COMMAND...
#   named: the top site must be a function name (the binary has symbols)
#   any:   a name, or module+0xoffset where the binary is stripped (never
#          an empty or wrong name)
#   a program that is not installed is a SKIP of its 4 tests (required
#   under CI=true: .ci/run installs them all with mk/deps.sh test)
run_one() {
	name=$1
	want=$2
	shift 2
	if ! have "$1"; then
		skip "real_programs/$name" "$1 not installed (mk/deps.sh test installs it)" 4
		return
	fi
	timeout 300 "$@" >"$WORK/$name.plain" 2>/dev/null
	rc_plain=$?
	timeout 300 "$PS" record -o "$WORK/$name" -- "$@" >"$WORK/$name.prof" 2>/dev/null
	rc_prof=$?
	expect "$name: same exit status ($rc_plain)" '[ $rc_plain = $rc_prof ]'
	expect "$name: same output" 'cmp -s "$WORK/$name.plain" "$WORK/$name.prof"'
	# every file reads; the command's own process ended cleanly (a child
	# killed by SIGPIPE in a pipeline is partial, and says so)
	expect "$name: profiles read, the first process's is complete" \
		'"$PS" info --json "$WORK/$name"/*.pscout 2>/dev/null |
		jq -e "sort_by(.start_unix_ns) | .[0].complete" >/dev/null'
	top=$("$PS" report --json -n 3 "$WORK/$name"/*.pscout 2>/dev/null |
		jq -r '.sites[0].function')
	if [ "$want" = named ]; then
		expect "$name: top site is a named function ($top)" \
			'[ -n "$top" ] && ! echo "$top" | grep -Eq "^0x|\+0x"'
	else
		expect "$name: top site is a name or module+offset ($top)" \
			'echo "$top" | grep -Eq "^[A-Za-z_][^ ]*(\+0x[0-9a-f]+)?$"'
	fi
}

# the interpreter itself, not a pyenv shim script in front of it
PY=python3
have python3 && PY=$(python3 -c 'import sys; print(sys.executable)')
run_one python named "$PY" -c 'import json; print(len(json.dumps([{"a": i, "b": str(i)} for i in range(50000)])))'
run_one perl any perl -e 'my %h; $h{$_} = "v$_" x 3 for 1..50000; print scalar(keys %h), "\n"'
run_one sqlite3 any sqlite3 :memory: "create table t(a, b); with recursive c(x) as (select 1 union all select x + 1 from c where x < 20000) insert into t select x, printf('row %d', x) from c; select count(*), sum(length(b)) from t;"
run_one jq named jq -c 'select(.k % 7 == 0) | .v' "$IN"
run_one sort_parallel any sort -n --parallel=2 -S 1M "$WORK/nums"
# clang's top site is in libLLVM's static constructors (recorded since
# profiling starts at the first hook call), static functions that only
# libLLVM's debug info would name
run_one clang any clang -O2 -c "$WORK/t.c" -o "$WORK/t.o"
run_one shell_tree any sh "$WORK/tree.sh"
n=$(ls "$WORK/shell_tree" | wc -l)
expect "shell_tree: one file per process ($n >= 10)" '[ "$n" -ge 10 ]'
finish
