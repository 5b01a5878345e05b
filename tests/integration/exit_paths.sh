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
# warning: rare, never more than 1 run in 10).
#   EXIT_PATH_RUNS=N  runs per (path, moment) for exit, _exit and exec
#                     (default 30: 60 a path); abort and SIGKILL get N/5.
. tests/lib.sh
P=$T/exitpaths
RUNS=${EXIT_PATH_RUNS:-30}

# one_path HOW WHEN RUNS STATUS...: the allowed statuses follow
one_path() {
	how=$1 when=$2 runs=$3
	shift 3
	wrong= unreadable=0 incomplete=0 kept_bad=0 kept_seen= cut=0
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
		# a wrong status except for the SIGKILL path)
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
	expect "$how from a handler ($when) x$runs: the asked-for status every time (wrong:${wrong:- none})" \
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

finish
