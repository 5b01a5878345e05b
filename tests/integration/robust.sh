#!/bin/sh
# robust.sh - "never break the host, never lose or invent data": the
# preload in situations that used to crash, hang, or lose counts without
# a word. Each check compares with what the test program knows itself
# (its own counts, its exit status, files that must or must not exist).
. tests/lib.sh

# ---- dlopen + dlclose of the preload by the program itself ---------------
for mode in local global; do
	d=$WORK/dlclose-$mode
	mkdir -p "$d"
	out=$(cd "$d" && timeout 30 "$T/dlclose_self" "$LIB" $([ $mode = global ] && echo global) 2>"$WORK/err")
	rc=$?
	expect "dlclose of a dlopen'ed libpoolscout.so ($mode): no crash, exit 0 ($rc)" \
		'[ $rc = 0 ] && [ "$out" = done ]'
done

# ---- a single-threaded program stays single-threaded ---------------------
# unshare(CLONE_NEWUSER) fails with EINVAL in a multithreaded process.
plain=$(timeout 30 "$T/unshare_user" 2>&1)
if [ $? != 0 ]; then
	echo "SKIP unshare(CLONE_NEWUSER): refused here even without the preload ($plain)"
else
	d=$WORK/unshare
	mkdir -p "$d"
	out=$(POOLSCOUT_OUT=$d LD_PRELOAD=$LIB timeout 30 "$T/unshare_user" 2>&1)
	rc=$?
	expect "unshare(CLONE_NEWUSER) under the preload succeeds ($out)" \
		'[ $rc = 0 ] && [ "$out" = "unshare: ok threads=1" ]'
	n=$(site_allocs "$d" before_unshare)
	expect "unshare: the 1000 allocations made before it counted ($n)" '[ "$n" = 1000 ]'
	# raw use, then through record, in a single-threaded program
	d=$WORK/unshare-record
	out=$(timeout 30 "$PS" record -o "$d" -- "$T/unshare_user" 2>/dev/null)
	expect "unshare under record: ok, one thread ($out)" \
		'[ "$out" = "unshare: ok threads=1" ]'
fi
# a single-threaded program killed mid-run still has its periodic snapshots
d=$WORK/spin1
mkdir -p "$d"
LD_PRELOAD=$LIB POOLSCOUT_OUT=$d POOLSCOUT_INTERVAL_MS=50 "$T/stress" spin 20000 >"$WORK/ready" &
pid=$!
i=0
while ! grep -q ready "$WORK/ready" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
threads=$(awk '/^Threads:/ { print $2 }' /proc/$pid/status)
sleep 0.5
kill -9 $pid
wait $pid 2>/dev/null
expect "single-threaded spin: no writer thread ($threads thread)" '[ "$threads" = 1 ]'
n=$(cum_allocs "$d" spin_work)
expect "single-threaded, SIGKILL: snapshots written from the hooks ($n allocations)" \
	'[ "$n" -ge 1000 ]'

# ---- allocations made before our constructor ------------------------------
d=$WORK/early
mkdir -p "$d"
out=$(POOLSCOUT_OUT=$d LD_PRELOAD=$LIB timeout 30 "$T/early_ctor" 2>/dev/null)
expect "early constructors: the program ran ($out)" '[ "$out" = "7 100" ]'
report_json "$d" >"$WORK/early.json"
n=$(jq '[.sites[] | select(.function == "early_ctor_alloc") |
	select(.size_min == 777 and .size_max == 777) | .inuse_objects] | add // 0' "$WORK/early.json")
expect "a library constructor that ran before ours: its 7 live blocks of 777 B ($n)" '[ "$n" = 7 ]'
# libstdc++ (GCC 12) keeps a 72,704-byte emergency exception pool (64
# objects of 1 KiB + 64 dependent exceptions of 112 B), allocated by its
# own initialiser.
pool=$(jq '[.sites[] | select(.module | test("libstdc\\+\\+")) |
	select(.size_max == 72704 and .inuse_objects == 1)] | length' "$WORK/early.json")
expect "libstdc++'s emergency pool: one live block of 72704 B ($pool)" '[ "$pool" = 1 ]'

finish
