#!/bin/sh
# preload_asan.sh - libpoolscout.so itself under AddressSanitizer and UBSan
# (build/asan-preload, see tests/tests.mk), preloaded into the plain test
# programs: the exact-count program, whose every site must count what the
# program printed itself, and the stress modes (threads, fork, exec,
# dlopen, pthread_exit, _exit) with the counts tests/integration/stress.sh
# expects. Any sanitizer report fails. Not the allocating signal handler:
# ASan's allocator is not async-signal-safe, and a handler's free that
# interrupts its refill deadlocks on its own region lock (seen in
# SizeClassAllocator64::GetFromAllocator), with or without the preload.
#
# The ASan runtime must be loaded, but after the preload: with it first, its
# malloc comes before ours and the hooks see nothing. So LD_PRELOAD lists
# the preload, then the runtime (ASan's link-order check is turned off for
# that); the suite checks that the program's malloc binds to the preload
# and the preload's next malloc to ASan's, so ASan's allocator sits where
# glibc's would and every block the hooks hand on is ASan's.
. tests/lib.sh
AL=$PWD/$B/asan-preload/libpoolscout.so
S=$T/stress
if [ ! -f "$AL" ]; then
	bad "build" "$AL is missing (make test-build)"
	finish
	exit 1
fi
# the runtime the library was linked against
RT=$(ldd "$AL" 2>/dev/null | awk '$1 ~ /^libasan\.so/ { print $3 }')
if [ -z "$RT" ] || [ ! -f "$RT" ]; then
	skip_suite preload_asan "$AL names no shared ASan runtime that ldd can find"
fi
export ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
REPORTS="ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|Sanitizer:DEADLYSIGNAL"

# run NAME DIR [VAR=VALUE...] CMD...: the program under the sanitized
# preload, its stderr kept in $WORK/NAME.err, under a timeout (a deadlock
# fails; timeout itself runs unprofiled)
run() {
	_name=$1
	_dir=$2
	shift 2
	mkdir -p "$_dir"
	timeout 60 env LD_PRELOAD="$AL $RT" POOLSCOUT_OUT="$_dir" \
		POOLSCOUT_INTERVAL_MS=20 "$@" >"$WORK/$_name.out" 2>"$WORK/$_name.err"
}
# clean NAME: no sanitizer report in the run's stderr
clean() {
	if grep -Eq "$REPORTS" "$WORK/$1.err"; then
		bad "$1: no sanitizer report" "see below"
		grep -E -A30 "$REPORTS" "$WORK/$1.err" | head -60
		return 1
	fi
	ok "$1: no sanitizer report"
}

# ---- the lookup order, then the exact counts
d=$WORK/exact
run exact "$d" LD_DEBUG=bindings LD_DEBUG_OUTPUT="$WORK/ld" "$T/exact"
rc=$?
expect "exact: exit 0 ($rc)" '[ $rc = 0 ]'
clean exact
expect "the program's malloc binds to the sanitized preload" \
	'grep -h "binding file $T/exact .* to $AL .*symbol \`malloc'"'"'" "$WORK"/ld.* >/dev/null'
expect "the preload's next malloc is ASan's (dlsym RTLD_NEXT)" \
	'grep -h "binding file $AL .* to $RT .*symbol \`malloc'"'"'" "$WORK"/ld.* >/dev/null'
n=$(grep -c '^truth ' "$WORK/exact.err")
expect "exact: the program printed its truth (9 lines: $n)" '[ "$n" = 9 ]'
report_json "$d" >"$WORK/exact.json"
while read -r _ fn _ allocs _ space _ inuse _ inuse_space; do
	[ -n "$fn" ] || continue
	got=$(jq -r --arg f "$fn" '[.sites[] | select(.function == $f)] |
		"\(map(.alloc_objects) | add // 0) \(map(.alloc_space) | add // 0) \(map(.inuse_objects) | add // 0) \(map(.inuse_space) | add // 0)"' \
		"$WORK/exact.json")
	want="$allocs $space $inuse $inuse_space"
	expect "exact $fn: objects, bytes, in use, in-use bytes $got = the program's $want" \
		'[ "$got" = "$want" ]'
done <<EOF
$(grep '^truth ' "$WORK/exact.err")
EOF

# ---- ended threads' entries touched at once: two threads' 131072 blocks,
# freed by main after they ended, are 16 batches of the writer's touched
# list in one snapshot (a batch not sent when full ran past its buffer)
d=$WORK/held
run held "$d" "$T/many_stacks" hold
rc=$?
expect "held: exit 0 ($rc)" '[ $rc = 0 ]'
clean held
t=$("$PS" info --json "$d"/*.pscout 2>/dev/null | jq -c '[.[] | .totals.cross_thread_frees] | add')
expect "held: the 131072 frees by main all counted ($t)" '[ "$t" = 131072 ]'

# ---- the stress modes
d=$WORK/threads
run threads "$d" "$S" threads 200
rc=$?
expect "200 short-lived threads: exit 0 ($rc)" '[ $rc = 0 ]'
clean threads
n=$(site_allocs "$d" churn)
expect "threads: all 200000 allocations counted ($n)" '[ "$n" = 200000 ]'

d=$WORK/fork
run fork "$d" "$S" fork 10
rc=$?
expect "fork while 4 threads allocate: exit 0 ($rc)" '[ $rc = 0 ]'
clean fork
good=0
for f in "$d"/*.pscout; do
	c=$("$PS" report --json "$f" 2>/dev/null |
		jq '[.sites[] | select(.function == "child_work") | .alloc_objects] | add // 0')
	[ "$c" = 100 ] && good=$((good + 1))
done
expect "fork: every child counts exactly 100 in child_work ($good/10)" '[ $good = 10 ]'

d=$WORK/exec
run exec "$d" "$S" exec
rc=$?
expect "exec: exit 0 ($rc)" '[ $rc = 0 ]'
clean exec
expect "exec: before_exec and after_exec counted, 10 each" \
	'[ "$(cum_allocs "$d" before_exec) $(cum_allocs "$d" after_exec)" = "10 10" ]'

d=$WORK/dlopen
run dlopen "$d" "$S" dlopen 50
rc=$?
expect "dlopen/dlclose x50: exit 0 ($rc)" '[ $rc = 0 ]'
clean dlopen
n=$(site_allocs "$d" plugin_work)
expect "dlopen: 500 counted in plugin_work ($n)" '[ "$n" = 500 ]'

d=$WORK/pexit
run pexit "$d" "$S" pthread_exit
rc=$?
expect "main thread pthread_exit: exit 0 ($rc)" '[ $rc = 0 ]'
clean pexit
expect "pthread_exit: the late workers' 1500 allocations" \
	'[ "$(site_allocs "$d" churn)" = 1500 ]'

d=$WORK/uexit
run uexit "$d" "$S" _exit 3
rc=$?
expect "_exit(3): status 3 ($rc)" '[ $rc = 3 ]'
clean uexit
expect "_exit: 77 allocations" '[ "$(site_allocs "$d" churn)" = 77 ]'
finish
