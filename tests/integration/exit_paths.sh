#!/bin/sh
# exit_paths.sh - a signal handler ends a multithreaded allocating program
# (exit, _exit, exec, abort, SIGKILL), in a worker in the middle of its
# allocations or in the main thread while exit() writes the final
# snapshot; hundreds of runs of each under a timeout. Every run must end
# with the status the program asked for (a hang is a failure), and leave
# a profile that reads; the paths that end through a final snapshot must
# leave a complete one, holding the 100 blocks the program kept (or, when
# the handler interrupted one of the preload's critical sections, where
# no lock may be waited for, one that ends at its last snapshot, with a
# warning: rare, never more than 1 run in 10). Then the signals that end
# a program by their default action: caught for a last snapshot, invisibly
# to the program, the process dying by them as it would have.
#   EXIT_PATH_RUNS=N  runs per (path, moment) for exit, _exit and exec
#                     (default 30: 60 a path); abort and SIGKILL get N/5.
. tests/lib.sh
P=$T/exitpaths
RUNS=${EXIT_PATH_RUNS:-30}

# one_path HOW WHEN RUNS STATUS...: the allowed statuses follow
one_path() {
	how=$1 when=$2 runs=$3
	shift 3
	wrong= unreadable=0 incomplete=0 kept_bad=0 kept_seen= cut=0 hung=0
	i=0
	while [ $i -lt "$runs" ]; do
		i=$((i + 1))
		d=$WORK/run
		rm -rf "$d"
		mkdir -p "$d"
		timeout -k 5 20 env POOLSCOUT_OUT="$d" POOLSCOUT_INTERVAL_MS=10 \
			LD_PRELOAD="$LIB" "$P" "$how" "$when" $i >/dev/null 2>"$WORK/err"
		rc=$?
		# a hang ends as 124 (or 137 if SIGTERM is blocked: counted as
		# a wrong status except for the SIGKILL path). exit() from a
		# handler that interrupted exit() may deadlock in glibc itself
		# (its exit-handler lock, taken again by the same thread: 1 run
		# in 2000 here without the preload): one such hang is allowed
		if [ "$how $when $rc" = "exit final 124" ] && [ $hung = 0 ]; then
			hung=1
			continue
		fi
		case " $* " in
		*" $rc "*) ;;
		*) wrong="$wrong $rc"; continue ;;
		esac
		# every file reads; look at the one of the process that was
		# ended (not at the exec target's)
		if ! "$PS" info --json "$d"/*.pscout >"$WORK/all" 2>/dev/null; then
			unreadable=$((unreadable + 1))
			continue
		fi
		jq '[.[] | select(.argv[1] != "target")]' "$WORK/all" >"$WORK/info"
		first=$(jq -r '.[0].file' "$WORK/info")
		case $how in
		exit|_exit|exec)
			# a handler that interrupted a critical section of
			# the preload leaves the profile at its last snapshot,
			# and the preload says so
			if ! jq -e 'length == 1 and .[0].complete' "$WORK/info" >/dev/null; then
				if grep -q "interrupted the profiler's bookkeeping" "$WORK/err"; then
					cut=$((cut + 1))
				else
					incomplete=$((incomplete + 1))
				fi
				continue
			fi
			if [ $((i % 10)) = 1 ]; then
				n=$("$PS" report --json "$first" 2>/dev/null |
					jq '[.sites[] | select(.function == "kept_blocks") | .inuse_objects] | add // 0')
				if [ "$n" != 100 ]; then
					kept_bad=$((kept_bad + 1))
					kept_seen="$kept_seen $i:$n"
				fi
			fi
			;;
		esac
	done
	glibc=
	[ "$how $when" = "exit final" ] && glibc="; hung in glibc's exit lock, allowed once: $hung"
	expect "$how from a handler ($when) x$runs: the asked-for status every time (wrong:${wrong:- none}$glibc)" \
		'[ -z "$wrong" ]'
	expect "$how ($when): every profile reads ($unreadable unreadable)" '[ $unreadable = 0 ]'
	case $how in
	exit|_exit|exec)
		expect "$how ($when): every profile complete ($incomplete not) but those cut by a handler inside the preload, said on stderr, at most 1 in 10 ($cut)" \
			'[ $incomplete = 0 ] && [ $((cut * 10)) -le "$runs" ]'
		expect "$how ($when): the 100 kept blocks live at the end (run:count$kept_seen)" \
			'[ $kept_bad = 0 ]'
		;;
	esac
}

for how in exit _exit exec; do
	one_path $how worker "$RUNS" 42
	# the handler interrupts exit(0): 42, or 0 when exit() ended first
	one_path $how final "$RUNS" 42 0
done
few=$((RUNS / 5))
[ $few -lt 1 ] && few=1
one_path abort worker $few 134
one_path abort final $few 134 0
one_path kill worker $few 137
one_path kill final $few 137 0
# deterministic: the program's destructor raises a signal whose handler
# calls exit(42) while the loader runs destructors (the preload's comes
# later, so glibc skips it): the END must still be written
d=$WORK/dtor
mkdir -p "$d"
timeout -k 5 20 env POOLSCOUT_OUT="$d" LD_PRELOAD="$LIB" "$T/dtor_exit" >/dev/null 2>&1
rc=$?
expect "exit from a handler during the destructors: status 42 ($rc)" '[ $rc = 42 ]'
expect "exit during the destructors: the profile is complete" \
	'"$PS" info --json "$d"/*.pscout 2>/dev/null | jq -e ".[0].complete" >/dev/null'
n=$("$PS" report --json "$d"/*.pscout 2>/dev/null | jq '[.sites[] | select(.function == "kept_blocks") | .inuse_objects] | add // 0')
expect "exit during the destructors: the 100 kept blocks live at the end ($n)" '[ "$n" = 100 ]'

# ---- signals that end a program: its last snapshot ------------------------
# tests/progs/killed.c makes its allocations, prints "ready", and waits;
# kill_after_ready sends the signal then and prints how it ended
# ("status: signal 15", "status: exit 3"), which must be what the same
# program says without the preload. With a 10 s interval no periodic
# snapshot comes in between: what the profile holds, the catcher wrote.
K=$T/kill_after_ready
KP=$T/killed
# killed_under DIR KILL_ARGS... -- PROGRAM_ARGS...: the program preloaded,
# profiles in DIR; prints kill_after_ready's output
killed_under() {
	_d=$1
	shift
	_kargs=
	while [ "$1" != -- ]; do _kargs="$_kargs $1"; shift; done
	shift
	mkdir -p "$_d"
	"$K" $_kargs env LD_PRELOAD="$LIB" POOLSCOUT_OUT="$_d" \
		POOLSCOUT_INTERVAL_MS=${KILL_INTERVAL_MS:-10000} "$KP" "$@" 2>"$WORK/kerr"
}
last_line() { printf '%s\n' "$1" | tail -n 1; }
complete_of() { "$PS" info --json "$1"/*.pscout 2>/dev/null | jq -r '.[0].complete'; }

# each caught signal, single-threaded, after a 20000-allocation burst
for pair in 15:TERM 2:INT 1:HUP 13:PIPE 14:ALRM 10:USR1 12:USR2; do
	num=${pair%%:*} name=${pair#*:}
	d=$WORK/sig-$name
	plain=$(last_line "$("$K" "$num" "$KP" burst 20000)")
	got=$(last_line "$(killed_under "$d" "$num" -- burst 20000)")
	expect "SIG$name: the process dies by it, as without the preload ($got; $plain)" \
		'[ "$got" = "status: signal $num" ] && [ "$got" = "$plain" ]'
	n=$(site_allocs "$d" burst_one)
	expect "SIG$name after a burst, single-threaded: the profile holds all 20000 ($n)" \
		'[ "$n" = 20000 ]'
	got=$("$PS" info --json "$d"/*.pscout 2>/dev/null | jq -c '.[0] | [.complete, .end_reason, .end_signal]')
	expect "SIG$name: the profile is whole up to the signal and names it ($got)" \
		'[ "$got" = "[true,\"signal\",$num]" ]'
	expect "SIG$name: info says it ended by signal $num, SIG$name" \
		'"$PS" info "$d"/*.pscout | grep -q "^complete:      yes (ended by signal $num, SIG$name)$"'
done

# multithreaded: the writer thread would have written it only at the
# next interval
d=$WORK/sig-threads
got=$(last_line "$(killed_under "$d" 15 -- burst 20000 threads)")
n=$(site_allocs "$d" burst_one)
expect "SIGTERM, two threads: dies by it ($got), the profile holds all 20000 ($n)" \
	'[ "$got" = "status: signal 15" ] && [ "$n" = 20000 ]'

# the program's own handler stays its own
d=$WORK/sig-handler
plain=$("$K" 15 "$KP" handler 20000 | tr '\n' ' ')
got=$(killed_under "$d" 15 -- handler 20000 | tr '\n' ' ')
expect "a SIGTERM handler of the program's own runs and exits 3 ($got)" \
	'[ "$got" = "ready 20000 handler status: exit 3 " ] && [ "$got" = "$plain" ]'
n=$(site_allocs "$d" burst_one)
expect "its handler's exit: a complete profile of 20000 ($(complete_of "$d"), $n)" \
	'[ "$(complete_of "$d")" = true ] && [ "$n" = 20000 ]'

# what the program sees of dispositions, whatever it sets: the same as
# without the preload; SIG_DFL set again brings the catcher back
d=$WORK/sig-query
"$K" 15 "$KP" query 1000 >"$WORK/q-plain"
killed_under "$d" 15 -- query 1000 >"$WORK/q-pre"
expect "sigaction/signal/sysv_signal/sigset answer as without the preload ($(diff "$WORK/q-plain" "$WORK/q-pre" | head -n 3 | tr '\n' ' '))" \
	'cmp -s "$WORK/q-plain" "$WORK/q-pre"'
# (a shell's background job inherits SIGINT and SIGQUIT ignored, nohup
# SIGHUP: those start as IGN in both runs, and the catcher leaves them)
dfl_plain=$(grep -c "^start .*: DFL flags=0 mask=0$" "$WORK/q-plain")
dfl_pre=$(grep -c "^start .*: DFL flags=0 mask=0$" "$WORK/q-pre")
ign_plain=$(grep -c "^start .*: IGN " "$WORK/q-plain")
expect "the queries see SIG_DFL at the start ($dfl_pre of 8, as without the preload; $ign_plain inherited ignored)" \
	'[ "$dfl_pre" = "$dfl_plain" ] && [ $((dfl_pre + ign_plain)) = 8 ] && [ "$dfl_pre" -ge 6 ]'
n=$(site_allocs "$d" burst_one)
expect "SIGTERM after a handler and SIG_DFL again: caught, dies by it, 1000 kept ($(tail -n 1 "$WORK/q-pre"), $n)" \
	'[ "$(tail -n 1 "$WORK/q-pre")" = "status: signal 15" ] && [ "$n" = 1000 ]'

# a fork child inherits the catcher, and writes its own profile
d=$WORK/sig-fork
got=$(killed_under "$d" 15 -- forked 5000 | grep -v '^child pid' | tr '\n' ' ')
n=$(site_allocs "$d" burst_one)
expect "a fork child sent SIGTERM after a burst: dies by it, its profile holds all 5000 ($got, $n)" \
	'[ "$got" = "child: signal 15 status: exit 0 " ] && [ "$n" = 5000 ]'
# SIGKILL before the fork child's first snapshot: its counts are lost, but
# it leaves a file that says it ran (opened at its first allocation)
d=$WORK/kill-fork
out=$(killed_under "$d" 15 -- forked 5000 9)
got=$(printf '%s\n' "$out" | grep -v '^child pid' | tr '\n' ' ')
cpid=$(printf '%s\n' "$out" | sed -n 's/^child pid: //p')
cinfo=$("$PS" info --json "$d"/poolscout.killed."$cpid".pscout 2>/dev/null |
	jq -r '.[0] | "\(.pid) \(.complete) \(.snapshots) \(.totals.alloc_objects)"')
"$PS" report "$d"/*.pscout >/dev/null 2>"$WORK/kill-fork.err"
expect "a fork child SIGKILLed before its first snapshot leaves a partial profile with no counts ($got; $cinfo)" \
	'[ "$got" = "child: signal 9 status: exit 0 " ] && [ "$cinfo" = "$cpid false 0 0" ] &&
	 grep -q "killed before its first snapshot, or is still running): it holds no counts" "$WORK/kill-fork.err"'

# an inherited SIG_IGN stays: `trap '' TERM`, and nohup's SIGHUP
d=$WORK/sig-ign
got=$(killed_under "$d" -i 15 15 -- ignored 2000 | tr '\n' ' ')
expect "SIGTERM ignored from the parent: still ignored ($got)" \
	'[ "$got" = "TERM IGN HUP DFL ready 2000 survived status: exit 0 " ]'
d=$WORK/sig-nohup
mkdir -p "$d"
got=$("$K" 1 nohup env LD_PRELOAD="$LIB" POOLSCOUT_OUT="$d" "$KP" ignored 2000 2>/dev/null | tr '\n' ' ')
expect "SIGHUP under nohup: still ignored ($got)" \
	'[ "$got" = "TERM DFL HUP IGN ready 2000 survived status: exit 0 " ]'

# a signal that lands inside the preload's hook: tests/progs/slow_malloc.c,
# preloaded after the preload, holds one request up inside the hook. The
# signal waits for the hook to return, then the snapshot holds the burst
# and that request; a second signal while the hook has not returned ends
# the process at once (no snapshot: the burst is lost, with a 10 s
# interval), so a hook that never returned cannot make the signal
# ineffective. Without the preload, the first signal ends it at once.
SLOW=$T/slow_malloc.so
plain=$("$K" -a 500 15 env LD_PRELOAD="$SLOW" "$KP" stuck 20000 | tr '\n' ' ')
expect "without the preload, SIGTERM inside the held-up malloc ends it at once ($plain)" \
	'[ "$plain" = "ready stuck status: signal 15 " ]'
d=$WORK/sig-in-hook
mkdir -p "$d"
got=$("$K" -a 3000 15 env LD_PRELOAD="$LIB $SLOW" SLOW_MALLOC_MS=500 \
	POOLSCOUT_OUT="$d" POOLSCOUT_INTERVAL_MS=10000 "$KP" stuck 20000 | tr '\n' ' ')
n=$(site_allocs "$d" burst_one)
expect "SIGTERM inside a hook that returns 0.5 s later: taken then, no second signal needed ($got)" \
	'[ "$got" = "ready stuck status: signal 15 " ]'
expect "SIGTERM inside a hook: the snapshot holds the burst and the held-up request (20001: $n)" \
	'[ "$n" = 20001 ]'
d=$WORK/sig-in-stuck-hook
mkdir -p "$d"
got=$("$K" -a 500 15 env LD_PRELOAD="$LIB $SLOW" POOLSCOUT_OUT="$d" \
	POOLSCOUT_INTERVAL_MS=10000 "$KP" stuck 20000 | tr '\n' ' ')
n=$(site_allocs "$d" burst_one)
expect "SIGTERM inside a hook that does not return: put off, a second one ends it at once ($got)" \
	'[ "$got" = "ready stuck again status: signal 15 " ]'
expect "the second signal writes no snapshot: the burst is lost ($n)" '[ "$n" = 0 ]'

# POOLSCOUT_CATCH_SIGNALS=0: no catcher, a killed single-threaded burst
# is lost as before; a value that is no boolean warns once and keeps it on
d=$WORK/sig-catch-off
got=$(last_line "$(POOLSCOUT_CATCH_SIGNALS=0 killed_under "$d" 15 -- burst 20000)")
n=$(site_allocs "$d" burst_one)
expect "POOLSCOUT_CATCH_SIGNALS=0: dies by SIGTERM ($got), the burst is lost ($n)" \
	'[ "$got" = "status: signal 15" ] && [ "$n" = 0 ]'
d=$WORK/sig-catch-bad
got=$(last_line "$(POOLSCOUT_CATCH_SIGNALS=maybe killed_under "$d" 15 -- burst 20000)")
n=$(site_allocs "$d" burst_one)
warned=$(grep -c "ignoring POOLSCOUT_CATCH_SIGNALS=maybe" "$WORK/kerr")
expect "POOLSCOUT_CATCH_SIGNALS=maybe: one warning ($warned), caught as by default ($got, $n)" \
	'[ "$warned" = 1 ] && [ "$got" = "status: signal 15" ] && [ "$n" = 20000 ]'

# killed in the middle of allocating: the profile holds what the
# program counted (one more when the signal came between its malloc
# and its count; a signal inside a hook waits for the hook's end)
wrong= diffs=
i=0
while [ $i -lt 20 ]; do
	d=$WORK/sig-mid-$i
	got=$(last_line "$(killed_under "$d" -d $((i % 7)) 15 -- midburst "$WORK/ctr")")
	c=$(od -An -t u8 -N 8 "$WORK/ctr" | tr -d ' ')
	n=$(site_allocs "$d" mid_alloc)
	[ "$got" = "status: signal 15" ] || wrong="$wrong $got"
	case $((n - c)) in 0 | 1) ;; *) diffs="$diffs $c:$n" ;; esac
	rm -rf "$d"
	i=$((i + 1))
done
expect "SIGTERM mid-burst x20: dies by it every time (wrong:${wrong:- none})" '[ -z "$wrong" ]'
expect "SIGTERM mid-burst x20: the profile holds the program's count, or one more (counted:profile${diffs:- all})" \
	'[ -z "$diffs" ]'
# four threads: at least the 4000 made before "ready", at most what the
# threads counted by the end plus one in flight each
wrong= diffs=
i=0
while [ $i -lt 10 ]; do
	d=$WORK/sig-mid4-$i
	got=$(last_line "$(killed_under "$d" -d $((i % 5)) 15 -- midburst "$WORK/ctr" 4)")
	c=$(od -An -t u8 -N 32 "$WORK/ctr" | awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s }')
	n=$(site_allocs "$d" mid_alloc)
	[ "$got" = "status: signal 15" ] || wrong="$wrong $got"
	[ "$n" -ge 4000 ] && [ "$n" -le $((c + 4)) ] || diffs="$diffs $c:$n"
	rm -rf "$d"
	i=$((i + 1))
done
expect "SIGTERM mid-burst, 4 threads x10: dies by it every time (wrong:${wrong:- none})" '[ -z "$wrong" ]'
expect "SIGTERM mid-burst, 4 threads x10: 4000 <= profile <= counted + 4 (counted:profile${diffs:- all})" \
	'[ -z "$diffs" ]'

# SIGKILL cannot be caught (docs/usage.md): a single-threaded process
# keeps its last snapshot, written by one of its allocator calls once an
# interval has passed; a multithreaded one, its writer thread's
d=$WORK/kill-burst
got=$(last_line "$(killed_under "$d" 9 -- burst 20000)")
n=$(site_allocs "$d" burst_one)
expect "SIGKILL after a burst, single-threaded, no snapshot due since: the burst is lost ($got, $n)" \
	'[ "$got" = "status: signal 9" ] && [ "$n" = 0 ]'
d=$WORK/kill-quiet
got=$(last_line "$(KILL_INTERVAL_MS=100 killed_under "$d" 9 -- quiet 20000 300)")
n=$(site_allocs "$d" burst_one)
late=$(site_allocs "$d" late_alloc)
expect "SIGKILL, single-threaded, allocations after an interval: the burst before them kept ($n), the last ones not all ($late of 1000)" \
	'[ "$got" = "status: signal 9" ] && [ "$n" = 20000 ] && [ "$late" -lt 1000 ]'
d=$WORK/kill-threads
got=$(last_line "$(KILL_INTERVAL_MS=100 killed_under "$d" -d 500 9 -- burst 20000 threads)")
n=$(site_allocs "$d" burst_one)
expect "SIGKILL, two threads, an interval after the burst: the writer thread kept it ($got, $n)" \
	'[ "$got" = "status: signal 9" ] && [ "$n" = 20000 ]'


# the program's own handlers for signals the preload leaves alone
# (SIGWINCH by sigaction, SIGCHLD by signal): installed, run as often as
# raised, and read back as set, as without the preload
plain=$("$T/own_signals" 10)
got=$("$PS" record -o "$WORK/own" -- "$T/own_signals" 10 2>/dev/null)
rc=$?
expect "handlers of signals not caught: set, run and read back as without the preload ($plain | $got)" \
	'[ $rc = 0 ] && [ "$plain" = "winch 10 chld 10 query ok" ] && [ "$got" = "$plain" ]'

finish
