#!/bin/sh
# robust.sh - "never break the host, never lose or invent data": the
# preload in situations that used to crash, hang, or lose counts without
# a word. Each check compares with what the test program knows itself
# (its own counts, its exit status, files that must or must not exist).
. tests/lib.sh

# preloaded DIR CMD...: CMD under the preload (not the timeout in front of
# it), profiles in DIR, for at most 30 s
preloaded() {
	_dir=$1
	shift
	timeout 30 env POOLSCOUT_OUT="$_dir" LD_PRELOAD="$LIB" "$@"
}

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
	skip "robust/unshare" "unshare(CLONE_NEWUSER) refused here even without the preload ($plain)"
else
	d=$WORK/unshare
	mkdir -p "$d"
	out=$(preloaded "$d" "$T/unshare_user" 2>&1)
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

# ---- file size limit and full disk ----------------------------------------
# growing makes a new stack with every allocation, so every snapshot adds
# to the file; it prints how many allocations it made.
d=$WORK/fsize
mkdir -p "$d"
count=$(cd "$d" && timeout 60 prlimit --fsize=65536 env LD_PRELOAD="$LIB" \
	POOLSCOUT_INTERVAL_MS=10 "$T/growing" 1000 2>"$WORK/fsize.err")
rc=$?
expect "RLIMIT_FSIZE 64 KiB: the program is not killed by SIGXFSZ (status $rc)" '[ $rc = 0 ]'
expect "RLIMIT_FSIZE: one warning that names the limit" \
	'[ "$(grep -c poolscout: "$WORK/fsize.err")" = 1 ] && grep -q "file size limit" "$WORK/fsize.err"'
f=$(ls "$d"/*.pscout)
expect "RLIMIT_FSIZE: the profile stays under the limit" '[ "$(stat -c %s "$f")" -le 65536 ]'
expect "RLIMIT_FSIZE: the profile reads" '"$PS" info "$f" >/dev/null 2>&1'
d=$WORK/fsize2
mkdir -p "$d"
count=$(cd "$d" && timeout 60 prlimit --fsize=100000 env LD_PRELOAD="$LIB" \
	POOLSCOUT_INTERVAL_MS=10 "$T/growing" 1000 2>/dev/null)
n=$(cum_allocs "$d" main)
expect "RLIMIT_FSIZE 100 KB: the snapshots that fit read, counts never above the program's ($n <= $count)" \
	'[ "$n" -gt 0 ] && [ "$n" -le "$count" ]'

# a child forked once the parent's profile is near the limit (growing
# lowers it to 1 KiB above its file): the child's profile is a new file,
# counted from 0 bytes, so it is written whole
d=$WORK/fsize-fork
mkdir -p "$d"
(cd "$d" && timeout 60 env LD_PRELOAD="$LIB" POOLSCOUT_OUT="$d" POOLSCOUT_INTERVAL_MS=10 \
	"$T/growing" 200 - fork >/dev/null 2>&1)
rc=$?
good=0
for f in "$d"/*.pscout; do
	"$PS" report --json "$f" 2>/dev/null | jq -e '.totals.partial == false and
		([.sites[] | select(.function == "child_blocks") | .alloc_objects] | add) == 100' >/dev/null &&
		good=$((good + 1))
done
expect "a child forked near the parent's file size limit: its own profile, whole, 100 allocations (status $rc)" \
	'[ $rc = 0 ] && [ $good = 1 ]'

mnt=$WORK/small-disk
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=4m tmpfs "$mnt" 2>/dev/null; then
	skip "robust/full-disk" "cannot mount a small tmpfs here (needs root)"
else
	# leave about 120 KiB free (deflated, that is some 40 batches: the
	# disk fills well before half-way); the program deletes the filler
	# half-way, so writes could resume after a torn batch
	head -c $((3976 * 1024)) /dev/zero >"$mnt/filler" 2>/dev/null
	count=$(cd "$mnt" && timeout 60 env LD_PRELOAD="$LIB" \
		POOLSCOUT_INTERVAL_MS=10 "$T/growing" 1500 "$mnt/filler" 2>"$WORK/disk.err")
	rc=$?
	expect "full disk: the program runs to its end (status $rc)" '[ $rc = 0 ]'
	expect "full disk: one warning, no space left" \
		'[ "$(grep -c poolscout: "$WORK/disk.err")" = 1 ] && grep -q "No space left" "$WORK/disk.err"'
	f=$(ls "$mnt"/*.pscout)
	expect "full disk: the profile reads up to its last complete snapshot" \
		'"$PS" info "$f" >"$WORK/disk.info" 2>&1'
	n=$(report_json "$mnt" | jq '.totals.alloc_objects')
	expect "full disk: counts never above the program's ($n <= $count)" \
		'[ "$n" -gt 0 ] && [ "$n" -le "$count" ]'
	umount "$mnt"
fi

# ---- RTLD_DEEPBIND ---------------------------------------------------------
# deepbind_lib makes 1000 malloc/free pairs in deepbind_work; the program
# finds it through its own RUNPATH ($ORIGIN), which a dlopen wrapper that
# became the caller would break.
for mode in deep plain; do
	d=$WORK/deepbind-$mode
	mkdir -p "$d"
	out=$(preloaded "$d" "$T/deepbind" $mode 2>"$WORK/deepbind.err")
	rc=$?
	expect "dlopen ($mode) through the program's RUNPATH: found, exit 0 ($rc)" \
		'[ $rc = 0 ] && [ "$out" = 1000 ]'
	r=$(report_json "$d" | jq -c '[.sites[] | select(.function == "deepbind_work") |
		[.alloc_objects, .frees, .inuse_objects]] | add')
	expect "dlopen ($mode): the library's 1000 allocations and 1000 frees, none live ($r)" \
		'[ "$r" = "[1000,1000,0]" ]'
	if [ $mode = deep ]; then
		expect "RTLD_DEEPBIND: one warning" \
			'[ "$(grep -c "poolscout:.*RTLD_DEEPBIND" "$WORK/deepbind.err")" = 1 ]'
	else
		expect "plain dlopen: no warning" '! grep -q poolscout: "$WORK/deepbind.err"'
	fi
done
d=$WORK/deepbind-keep
mkdir -p "$d"
POOLSCOUT_KEEP_DEEPBIND=1 preloaded "$d" "$T/deepbind" deep \
	>/dev/null 2>"$WORK/deepbind.err"
expect "POOLSCOUT_KEEP_DEEPBIND=1: kept, and a warning says what is lost" \
	'grep -q "RTLD_DEEPBIND kept" "$WORK/deepbind.err"'

# ---- allocations made before our constructor ------------------------------
d=$WORK/early
mkdir -p "$d"
out=$(preloaded "$d" "$T/early_ctor" 2>/dev/null)
expect "early constructors: the program ran ($out)" '[ "$out" = "7 100" ]'
report_json "$d" >"$WORK/early.json"
r=$(jq -c '[.sites[] | select(.function == "early_ctor_alloc") |
	select(.size_min == 777 and .size_max == 777) | [.alloc_objects, .frees, .inuse_objects]] | add' "$WORK/early.json")
expect "a library constructor that ran before ours: its 7 blocks of 777 B, freed by its destructor that runs after ours ($r)" \
	'[ "$r" = "[7,7,0]" ]'
# libstdc++ (GCC 12) keeps a 72,704-byte emergency exception pool (64
# objects of 1 KiB + 64 dependent exceptions of 112 B), allocated by its
# own initialiser.
pool=$(jq '[.sites[] | select(.module | test("libstdc\\+\\+")) |
	select(.size_max == 72704 and .inuse_objects == 1)] | length' "$WORK/early.json")
expect "libstdc++'s emergency pool: one live block of 72704 B ($pool)" '[ "$pool" = 1 ]'

# ---- the allocator family, against what the program asked for -------------
# FUNCTION:ALLOCS:BYTES:FREES:LIVE per site of tests/progs/alloc_family.cpp
FAMILY="f_malloc:10:1000:10:0 f_calloc:10:1200:10:0 f_realloc:20:5500:20:0
f_reallocarray:10:1500:10:0 f_memalign:10:1000:10:0 f_aligned_alloc:10:1280:10:0
f_posix_memalign:10:1000:10:0 f_valloc:10:1000:10:0 f_pvalloc:10:1000:10:0
f_new:10:480:10:0 f_new_array:10:1000:10:0 f_new_nothrow:10:1000:10:0
f_new_aligned:10:1280:10:0 f_new_aligned_array:10:1000:10:0
f_new_aligned_nothrow:10:1000:10:0 f_kept:5:385:0:5"
# check_family DIR LABEL
check_family() {
	report_json "$1" >"$WORK/family.json"
	for row in $FAMILY; do
		fn=${row%%:*}
		want=$(echo "${row#*:}" | tr : ,)
		got=$(jq -r "[.sites[] | select(.function == \"$fn\")] |
			[(map(.alloc_objects) | add), (map(.alloc_space) | add),
			 (map(.frees) | add), (map(.inuse_objects) | add)] |
			map(tostring) | join(\",\")" "$WORK/family.json")
		expect "$2: $fn allocs,bytes,frees,live = $want ($got)" '[ "$got" = "$want" ]'
	done
}
d=$WORK/family
mkdir -p "$d"
preloaded "$d" "$T/alloc_family"
rc=$?
expect "allocator family: malloc_usable_size covers every size asked for, exit 0 ($rc)" '[ $rc = 0 ]'
check_family "$d" "glibc"

# ---- allocators underneath, and before us -----------------------------------
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
TCMALLOC=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
for alloc in "$JEMALLOC" "$TCMALLOC"; do
	name=$(basename "$alloc")
	if [ ! -e "$alloc" ]; then
		skip "robust/$name" "not installed (Debian libjemalloc2 / libtcmalloc-minimal4)"
		continue
	fi
	# record puts libpoolscout.so first, the user's allocator underneath
	d=$WORK/under-$name
	LD_PRELOAD=$alloc timeout 30 "$PS" record -o "$d" -- "$T/alloc_family" 2>/dev/null
	rc=$?
	expect "record with $name preloaded: exit 0 ($rc)" '[ $rc = 0 ]'
	check_family "$d" "$name underneath"
	# raw use with the allocator first: no hook sees anything
	d=$WORK/before-$name
	mkdir -p "$d"
	timeout 30 env LD_PRELOAD="$alloc $LIB" POOLSCOUT_OUT="$d" "$T/alloc_family" 2>"$WORK/before.err"
	rc=$?
	expect "LD_PRELOAD=$name:libpoolscout.so: the program still runs, exit 0 ($rc)" '[ $rc = 0 ]'
	expect "$name first: one warning that says to put libpoolscout.so first" \
		'[ "$(grep -c poolscout: "$WORK/before.err")" = 1 ] &&
		grep -q "Put libpoolscout.so first: LD_PRELOAD=\"$LIB $alloc\"" "$WORK/before.err"'
	expect "$name first: no profile claiming zero allocations" '[ -z "$(ls "$d")" ]'
done
# an allocator with C++ operators of its own underneath (as tcmalloc and
# jemalloc have): the preload's operators call them, so the allocator sees
# every new and delete it sees without the preload, each counted once by
# the profile (tests/progs/cxx_objects.cpp: 1000 make_widgets, 500
# make_arrays, 300 restock)
CXXNEW=$T/cxx_counting_new.so
plain=$(LD_PRELOAD=$CXXNEW "$T/cxx_objects" 2>&1 >/dev/null | grep "^cxx_counting_new:")
d=$WORK/cxx-next
mkdir -p "$d"
got=$(env LD_PRELOAD="$LIB $CXXNEW" POOLSCOUT_OUT="$d" "$T/cxx_objects" 2>&1 >/dev/null |
	grep "^cxx_counting_new:")
expect "C++ operators of an allocator underneath: called for each new and delete, as without the preload ($got; $plain)" \
	'[ -n "$plain" ] && [ "$got" = "$plain" ] && [ "$plain" != "cxx_counting_new: new 0 delete 0" ]'
# every operator of the family, each the one the program called
# (tests/progs/alloc_family.cpp: new, new[], nothrow, aligned, both)
plain=$(LD_PRELOAD=$CXXNEW "$T/alloc_family" 2>&1 >/dev/null | grep "^cxx_counting_new:")
d2=$WORK/cxx-next-family
mkdir -p "$d2"
fam=$(env LD_PRELOAD="$LIB $CXXNEW" POOLSCOUT_OUT="$d2" "$T/alloc_family" 2>&1 >/dev/null |
	grep "^cxx_counting_new:")
expect "... each operator of the family as the program called it ($fam; $plain)" \
	'[ -n "$plain" ] && [ "$fam" = "$plain" ] && echo "$plain" | grep -q " new\[\]=" &&
	 echo "$plain" | grep -q "new\[\](align)=" && echo "$plain" | grep -q "delete(align,nothrow)="'
got=$(report_json "$d" | jq -r '[.sites[] | select(.function == "make_widgets" or
	.function == "make_arrays" or .function == "shop::restock(int)") | "\(.function)=\(.alloc_objects)"] | sort | join(" ")')
expect "... and the profile counts each once ($got)" \
	'[ "$got" = "make_arrays=500 make_widgets=1000 shop::restock(int)=300" ]'
if [ -e "$JEMALLOC" ]; then
	# FUNCTION:ALLOCS:BYTES:FREES:LIVE of tests/progs/jemalloc_api.c
	d=$WORK/jemalloc-api
	LD_PRELOAD=$JEMALLOC timeout 30 "$PS" record -o "$d" -- "$T/jemalloc_api" 2>/dev/null
	rc=$?
	expect "jemalloc's mallocx/rallocx/sdallocx/dallocx called directly: exit 0 ($rc)" '[ $rc = 0 ]'
	report_json "$d" >"$WORK/je.json"
	for row in jeapi_mallocx:10:1000:10:0 jeapi_mallocx_zero:10:2000:10:0 \
		jeapi_malloc:10:3000:10:0 jeapi_rallocx:20:5500:20:0; do
		fn=${row%%:*}
		want=$(echo "${row#*:}" | tr : ,)
		got=$(jq -r "[.sites[] | select(.function == \"$fn\")] |
			[(map(.alloc_objects) | add), (map(.alloc_space) | add),
			 (map(.frees) | add), (map(.inuse_objects) | add)] |
			map(tostring) | join(\",\")" "$WORK/je.json")
		expect "jemalloc API: $fn allocs,bytes,frees,live = $want ($got)" '[ "$got" = "$want" ]'
	done
fi

# ---- vfork and clone children -------------------------------------------------
# cum_in FILE FUNCTION: allocations whose stacks pass through FUNCTION
cum_in() {
	"$PS" top --json "$1" 2>/dev/null |
		jq "[.rows[] | select(.function == \"$2\") | .cum] | add // 0"
}
# the profile of the process whose argv[1] is $2 (first match) in dir $1
profile_of() {
	"$PS" info --json "$1"/*.pscout 2>/dev/null |
		jq -r "[.[] | select(.argv[1] == \"$2\")][0].file // empty"
}
# A vfork child runs on its parent's heap: its calls are the parent's
# (trial 9: dash's children freed their parent's blocks, false leaks).
for mode in vfork vfork-exec clone-vfork; do
	d=$WORK/$mode
	mkdir -p "$d"
	preloaded "$d" "$T/forks" $mode 2>"$WORK/$mode.err"
	rc=$?
	expect "$mode: exit 0 ($rc)" '[ $rc = 0 ]'
	p=$(profile_of "$d" $mode)
	n=$(cum_in "$p" parent_work),$(cum_in "$p" parent_keep)
	c=$(cum_in "$p" vfork_child_work),$(cum_in "$p" child_keeps),$(cum_in "$p" child_grows)
	expect "$mode: the parent's 100 and 20 allocations are its own ($n), the child's 50, 5 and 1 are charged to it ($c)" \
		'[ "$n" = 100,20 ] && [ "$c" = 50,5,1 ]'
	# the child's last allocation and the parent's first after it come
	# from one call site: each is both_alloc's, none parent_keep's
	n=$(cum_in "$p" both_alloc)
	expect "$mode: the child's last allocation and the parent's next, from one stack, are both both_alloc's ($n)" \
		'[ "$n" = 2 ]'
	# the heap's own count, the children's calls on it too (allocations,
	# frees, live at the end, peak, bytes, live bytes, resized, grown),
	# against the parent's totals
	want=$(sed -n 's/^heap allocs=\([0-9]*\) frees=\([0-9]*\) live=\([0-9]*\) peak=\([0-9]*\) bytes=\([0-9]*\) live_bytes=\([0-9]*\) resized=\([0-9]*\) .*/\1,\2,\3,\4,\5,\6,0,\7,\7/p' "$WORK/$mode.err")
	got=$("$PS" info --json "$p" 2>/dev/null | jq -r '.[0].totals |
		"\(.alloc_objects),\(.frees),\(.inuse_objects),\(.peak_live.lo),\(.alloc_space),\(.inuse_space),\(.unknown_frees)"'),$(
		"$PS" report --json "$p" 2>/dev/null |
		jq -r '"\([.sites[].realloc_resized_objects] | add),\([.sites[].realloc_growth_steps] | add)"')
	expect "$mode: allocations, frees, live, peak, bytes, live bytes, unknown frees, resized, grown = the heap's count $want ($got)" \
		'[ -n "$want" ] && [ "$got" = "$want" ]'
	# the child shares our memory, not our pid: its _exit (or exec)
	# must not end the parent's profile
	e=$("$PS" info --json "$p" 2>/dev/null | jq -r '.[0].end_reason')
	expect "$mode: the parent's profile ends by the parent's own exit ($e)" '[ "$e" = exit ]'
done
# Sampled (1 in 2): a block the child records and frees itself, or the
# parent frees after, must not stay live (the child marks it in the
# recorded-block filter, or its own free would pass it by). Up to 6 runs
# until some of the child's 5 kept for the parent are drawn (each run
# misses all 5 with chance 1/32).
d=$WORK/vfork-sampled
drawn=0 i=0
while [ "$drawn" = 0 ] && [ $i -lt 6 ]; do
	rm -rf "$d" && mkdir -p "$d"
	timeout 30 env POOLSCOUT_SAMPLE=2 POOLSCOUT_OUT="$d" LD_PRELOAD="$LIB" "$T/forks" vfork 2>/dev/null
	p=$(profile_of "$d" vfork)
	drawn=$(cum_in "$p" child_keeps)
	i=$((i + 1))
done
live=$("$PS" top --inuse_objects --json "$p" 2>/dev/null |
	jq '[.rows[] | select(.function == "child_keeps" or .function == "child_grows" or
		.function == "vfork_child_work") | .cum] | add // 0')
pairs=$(cum_in "$p" vfork_child_work)
expect "vfork, sampled: the child's blocks it or the parent freed are not live ($drawn and $pairs estimated allocated, $live live)" \
	'[ "$drawn" != 0 ] && [ "$pairs" != 0 ] && [ "$live" = 0 ]'
# the child draws: its 50 are estimated from about 25 recorded (all 50
# drawn, 100 estimated, has chance 2^-50)
expect "vfork, sampled: the child's 50 allocations were sampled, not all recorded ($pairs estimated)" \
	'[ "$pairs" -lt 100 ]'

# The vfork child ran on the parent's thread (its record, which a fork
# from another thread waits on while it unwinds): a fork after it must
# not wait for it.
d=$WORK/vfork-then-fork
mkdir -p "$d"
timeout 20 env POOLSCOUT_OUT="$d" LD_PRELOAD="$LIB" "$T/forks" vfork-then-fork 2>/dev/null
rc=$?
expect "vfork, then a fork from another thread: exit 0, no hang ($rc)" '[ $rc = 0 ]'

# A thread that has allocated nothing vforks: its child's blocks, which
# the thread frees after, are the thread's (it gets its record before the
# child runs, which must not make one).
d=$WORK/thread-vfork
mkdir -p "$d"
preloaded "$d" "$T/forks" thread-vfork 2>/dev/null
rc=$?
p=$(profile_of "$d" thread-vfork)
n=$(cum_in "$p" child_keeps)
live=$("$PS" top --inuse_objects --json "$p" 2>/dev/null |
	jq '[.rows[] | select(.function == "child_keeps") | .cum] | add // 0')
u=$("$PS" info --json "$p" 2>/dev/null | jq '.[0].totals.unknown_frees')
expect "a thread's first call a vfork: exit 0, its child's 5 allocations counted ($n), freed by the thread ($live live, $u unknown frees)" \
	'[ $rc = 0 ] && [ "$n" = 5 ] && [ "$live" = 0 ] && [ "$u" = 0 ]'

# A child that cannot map its log (no address space to spare): what it
# allocated is counted as unrecorded, what it freed is lost, and the
# parent's frees of its blocks are unknown frees; no crash.
d=$WORK/vfork-nolog
mkdir -p "$d"
preloaded "$d" "$T/forks" vfork-nolog 2>"$WORK/vfork-nolog.err"
rc=$?
expect "vfork-nolog: exit 0 ($rc)" '[ $rc = 0 ]'
want=$(sed -n 's/^heap allocs=\([0-9]*\) frees=\([0-9]*\) .* child=\([0-9]*\),\([0-9]*\)$/\1 \2 \3 \4/p' \
	"$WORK/vfork-nolog.err" | { read -r a f ca cf && echo "$((a - ca)),$ca,$((f - cf))"; })
got=$("$PS" info --json "$(profile_of "$d" vfork-nolog)" 2>/dev/null | jq -r '.[0].totals |
	"\(.alloc_objects),\(.unrecorded_allocs),\(.frees + .unknown_frees)"')
expect "vfork-nolog: allocations, unrecorded, frees and unknown frees = the parent's own, the child's, the parent's ($want) ($got)" \
	'[ -n "$want" ] && [ "$got" = "$want" ]'
expect "vfork child that _exits: no profile of its own (it shares the parent's memory)" \
	'[ "$(ls "$WORK/vfork" | wc -l)" = 1 ]'
p=$(profile_of "$WORK/vfork-exec" exec-target)
n=$([ -n "$p" ] && cum_in "$p" exec_target_work)
expect "vfork child that execs: the new image has its own profile with its 10 allocations (${n:-none})" \
	'[ "$n" = 10 ]'
d=$WORK/clone
mkdir -p "$d"
preloaded "$d" "$T/forks" clone 2>/dev/null
rc=$?
expect "clone without CLONE_VM: exit 0 ($rc)" '[ $rc = 0 ]'
expect "clone without CLONE_VM: two profiles, like fork" '[ "$(ls "$d" | wc -l)" = 2 ]'
"$PS" info --json "$d"/*.pscout >"$WORK/clone.json" 2>/dev/null
child=$(jq -r '.[] | select(.pid != .ppid) | select(.argv[1] == "clone") | .file' "$WORK/clone.json" |
	while read -r f; do [ "$(cum_in "$f" parent_work)" = 0 ] && echo "$f"; done)
n=$([ -n "$child" ] && cum_in "$child" clone_child_work)
expect "clone child: its own profile holds its 60 allocations (${n:-no profile})" '[ "$n" = 60 ]'
expect "clone child: complete and marked forked" \
	'[ -n "$child" ] && "$PS" info "$child" 2>/dev/null | grep -q "forked from a profiled process" &&
	"$PS" info --json "$child" 2>/dev/null | jq -e ".[0].complete" >/dev/null'

# ---- never silent: what record refuses, and processes that cannot write -----
out=$("$PS" record -o "$WORK/static" -- "$T/static_hello" 2>"$WORK/static.err")
rc=$?
expect "record a static binary: exit 2, says it is statically linked ($rc)" \
	'[ $rc = 2 ] && grep -q "statically linked" "$WORK/static.err"'
touch "$WORK/a-file"
"$PS" record -o "$WORK/a-file" -- true 2>"$WORK/file.err"
rc=$?
expect "record -o a regular file: exit 2, says it is not a directory ($rc)" \
	'[ $rc = 2 ] && grep -q "not a directory" "$WORK/file.err"'
mkdir -p "$WORK/with space"
cp "$LIB" "$WORK/with space/libpoolscout.so"
POOLSCOUT_LIB="$WORK/with space/libpoolscout.so" "$PS" record -o "$WORK/sp" -- true 2>"$WORK/space.err"
rc=$?
expect "libpoolscout.so under a path with a space: exit 2, says why ($rc)" \
	'[ $rc = 2 ] && grep -q "space or a colon" "$WORK/space.err"'
d=$WORK/twice
"$PS" record -o "$d" -- "$T/planted" >/dev/null 2>&1
first=$(ls "$d")
"$PS" record -o "$d" -- "$T/planted" >/dev/null 2>"$WORK/twice.err"
rc=$?
expect "record twice into one directory: the second refuses, exit 2 ($rc)" \
	'[ $rc = 2 ] && grep -q "already holds 1 profile" "$WORK/twice.err"'
expect "record twice: the first run's profile is left alone" '[ "$(ls "$d")" = "$first" ]'
# a parent that ignores SIGCHLD (inherited by record)
d=$WORK/sigchld
ignoring_chld() { perl -e '$SIG{CHLD} = "IGNORE"; exec @ARGV or exit 127' -- "$@"; }
ignoring_chld "$PS" record -o "$d" -- sh -c 'exit 7' 2>/dev/null
rc=$?
expect "SIGCHLD ignored by record's parent: record still exits with the command's 7 ($rc)" '[ $rc = 7 ]'
ign=$(ignoring_chld "$PS" record -o "$d-2" -- grep SigIgn /proc/self/status 2>/dev/null |
	awk '{ print $2 }')
expect "SIGCHLD ignored: the command still runs with SIGCHLD ignored (SigIgn $ign)" \
	'[ $(( 0x$ign & 0x10000 )) != 0 ]'

if [ "$(id -u)" != 0 ]; then
	skip "robust/privileges" "privilege drop and setuid need root"
else
	# the test's own directory must be reachable by nobody
	chmod 755 "$WORK"
	d=$WORK/dropped
	"$PS" record -o "$d" -- "$T/dropper" 2>"$WORK/drop.err"
	rc=$?
	expect "a server that drops to nobody before forking its worker: exit 0 ($rc)" '[ $rc = 0 ]'
	w=$(for f in "$d"/*.pscout; do [ "$(stat -c %u "$f")" = 65534 ] && echo "$f"; done)
	n=$([ -n "$w" ] && cum_in "$w" worker_work)
	expect "the worker running as nobody wrote its profile (${n:-none}, of 25)" '[ "$n" = 25 ]'
	expect "... created 0600 by its owner" '[ -n "$w" ] && [ "$(stat -c %a "$w")" = 600 ]'
	# setuid: secure mode ignores POOLSCOUT_* and writes nothing
	mkdir -m 1777 "$WORK/secure"
	cp "$T/secure_dlopen" "$WORK/secure_dlopen"
	chown 65534 "$WORK/secure_dlopen"
	chmod 4755 "$WORK/secure_dlopen"
	out=$(cd "$WORK/secure" && POOLSCOUT_OUT="$WORK/secure" timeout 30 "$WORK/secure_dlopen" "$LIB" 2>"$WORK/secure.err")
	rc=$?
	if [ "$out" != "secure=1" ]; then
		skip "robust/setuid" "the program did not run in secure mode ($out, $rc; nosuid mount?)"
	else
		expect "setuid program that dlopens libpoolscout.so: runs, exit 0 ($rc)" '[ $rc = 0 ]'
		expect "setuid program: no profile written, POOLSCOUT_OUT ignored" '[ -z "$(ls "$WORK/secure")" ]'
		expect "setuid program: not a word on stderr" '[ ! -s "$WORK/secure.err" ]'
	fi
fi

# ---- the analyzer on odd input ---------------------------------------------
mkfifo "$WORK/fifo.pscout"
for cmd in info report diff; do
	if [ $cmd = diff ]; then
		timeout 10 "$PS" diff "$WORK/fifo.pscout" "$WORK/fifo.pscout" >/dev/null 2>"$WORK/fifo.err"
	else
		timeout 10 "$PS" $cmd "$WORK/fifo.pscout" >/dev/null 2>"$WORK/fifo.err"
	fi
	rc=$?
	expect "$cmd on a FIFO: rejected at once, exit 2, says what it is ($rc)" \
		'[ $rc = 2 ] && grep -q "expected a regular file, found a FIFO" "$WORK/fifo.err"'
done
d=$WORK/bad-names
mkdir -p "$d"
preloaded "$d" "$T/bad_names" 2>/dev/null
# strict: jq would take invalid UTF-8; Python's decoder does not
strict_json() {
	python3 -c 'import json, sys; json.loads(sys.stdin.buffer.read().decode("utf-8"))'
}
for view in "report --json" "threads --json" "info --json" "top --json"; do
	expect "names that are not UTF-8: $view is valid UTF-8 JSON" \
		'"$PS" $view "$d"/*.pscout 2>/dev/null | strict_json'
done
expect "names that are not UTF-8: each bad byte became \\ufffd" \
	'"$PS" threads --json "$d"/*.pscout 2>/dev/null | grep -qF "\"w\\ufffd(\\ufffd\""'
"$PS" export --format json -o "$WORK/bad.json" "$d"/*.pscout 2>/dev/null
expect "names that are not UTF-8: export --format json is valid UTF-8 JSON" 'strict_json <"$WORK/bad.json"'

# ---- frees after main: pthread_exit, atexit, destructors -------------------
d=$WORK/late
mkdir -p "$d"
preloaded "$d" "$T/late_frees" 2>/dev/null
rc=$?
expect "main ends with pthread_exit: the process still ends, status 0 ($rc)" '[ $rc = 0 ]'
report_json "$d" >"$WORK/late.json"
for f in atexit_alloc:50 dtor_alloc:30 worker_pairs:200; do
	fn=${f%:*} want=${f#*:}
	r=$(jq -c "[.sites[] | select(.function == \"$fn\") | [.alloc_objects, .frees, .inuse_objects]] | add" "$WORK/late.json")
	expect "after pthread_exit from main: $fn $want allocated, $want freed, none live ($r)" \
		'[ "$r" = "[$want,$want,0]" ]'
done
expect "after pthread_exit: complete, ended by the last thread" \
	'"$PS" info --json "$d"/*.pscout 2>/dev/null | jq -e ".[0].end_reason == \"last thread ended\"" >/dev/null'

# a non-PIE program that takes malloc's address in its code: its
# "malloc" to dlsym is a PLT entry that reaches us; profiled, no hang
expect "non-PIE with &malloc: the case, malloc's dynamic symbol the PLT entry's address" \
	'readelf --dyn-syms -W "$T/nopie_addr" | awk "\$8 ~ /^malloc@/ && \$2 !~ /^0+\$/ { f = 1 } END { exit !f }"'
d=$WORK/nopie
timeout 20 "$PS" record -o "$d" -- "$T/nopie_addr" >"$WORK/nopie.out" 2>"$WORK/nopie.err"
rc=$?
expect "non-PIE with &malloc: runs (exit $rc)" '[ $rc = 0 ] && grep -q "nopie: done" "$WORK/nopie.out"'
expect "non-PIE with &malloc: profiled, 1000 through the pointer and 1000 direct" \
	'[ "$("$PS" report --json "$d"/*.pscout 2>/dev/null | jq -c "[.sites[] | select(.function == \"main\" and .alloc_objects == 1000) | [.size_min, .alloc_objects]] | sort")" = "[[24,1000],[40,1000]]" ]'
expect "non-PIE with &malloc: no warning about an allocator of its own" \
	'! grep -q "defines malloc itself" "$WORK/nopie.err"'
# sampled 1 in 2^30, its 2007 allocations are all but surely unrecorded
# (2e-6): the probe of the PLT entry (made with the countdown at 0) is no
# sample, and the countdown the thread drew at early_lib's first
# allocation is its own again after the probe
d=$WORK/nopie-sampled
"$PS" record --sample 1073741824 -o "$d" -- "$T/nopie_addr" >/dev/null 2>&1
expect "non-PIE with &malloc, 1 in 2^30: nothing recorded" \
	'[ "$("$PS" info --json "$d"/*.pscout | jq ".[0].totals.alloc_objects")" = 0 ]'
# ---- a script's own descriptor where the profile's is ------------------
# The profile sits on descriptor 1000 (3/4 of `ulimit -n` below 1100: 768
# for 1024). A bash script that opens a file there with `exec N>FILE` must
# get all its lines in FILE: bash takes a close-on-exec descriptor of 10
# or more for its own and put it back after the exec, so the lines went
# into the profile (and it no longer read) while the profile's was one
for limit in 4096 1024; do
	n=$([ $limit = 1024 ] && echo 768 || echo 1000)
	d=$WORK/fd$n
	mkdir -p "$d"
	out=$(sh -c "ulimit -n $limit && exec env POOLSCOUT_OUT='$d' LD_PRELOAD='$LIB' \
		timeout 30 bash -c 'exec $n>\"$d/lines\"; for i in \$(seq 3000); do echo line \$i >&$n; done; exec $n>&-; echo done'" 2>&1)
	lines=$(wc -l <"$d/lines" 2>/dev/null || echo 0)
	expect "script's fd $n (ulimit -n $limit): its 3000 lines in its file ($lines)" \
		'[ "$out" = done ] && [ "$lines" = 3000 ]'
	expect "script's fd $n: the profile reads, complete" \
		'"$PS" info --json "$d"/*.pscout 2>/dev/null | jq -e "all(.[]; .complete)" >/dev/null'
done
# ... and no new image inherits the profile's descriptor, however it is
# started: posix_spawn, system and popen exec inside libc, past the exec
# hooks (tests/progs/spawn_fds.c counts, in each child, its descriptors
# naming the parent's profile)
d=$WORK/spawn
mkdir -p "$d"
out=$(preloaded "$d" "$T/spawn_fds" 2>/dev/null | tr '\n' ' ')
expect "spawned children get no profile descriptor ($out)" \
	'[ "$out" = "spawn 0 system 0 popen 0 execl 0 " ]'
expect "spawn_fds: its profile reads, complete" \
	'"$PS" info --json "$d"/poolscout.spawn_fds.*.pscout 2>/dev/null | jq -e "all(.[]; .complete)" >/dev/null'

# ---- a library closed and another loaded at its address -------------------
# dlopen'd by a relative path, so the file's name must be made absolute
# for the analyzer; the same addresses mean alpha_work in one epoch and
# bravo_work in the next. Both libraries are linked at 0x50000000 (load
# bias 0, ELF addresses not from 0: the symbolizer once looked them up
# 0x50000000 too low and named neither).
d=$WORK/reload
mkdir -p "$d"
out=$(preloaded "$d" "./${T#"$PWD"/}/reload" 20 2>/dev/null)
rc=$?
expect "reload: exit 0 ($rc)" '[ $rc = 0 ]'
# the program closed every library it opened: each is unloaded in the
# profile (alpha and bravo, one module per load seen)
u=$("$PS" info --json "$d"/*.pscout 2>/dev/null |
	jq -c '[.[0].modules[] | select(.path | test("libreload_")) | [(.path | sub(".*/"; "")), .unloaded]] | unique')
expect "reload: libreload_alpha.so and libreload_bravo.so both unloaded ($u)" \
	'[ "$u" = "[[\"libreload_alpha.so\",true],[\"libreload_bravo.so\",true]]" ]'
same=$(echo "$out" | sed -n 's/.*same_base \([0-9]*\).*/\1/p')
if [ "${same:-0}" = 0 ]; then
	skip "robust/reload" "the loader never put bravo where alpha was ($out)" 2
else
	report_json "$d" >"$WORK/reload.json"
	for fn in alpha bravo; do
		want=$(echo "$out" | sed -n "s/.*$fn \([0-9]*\).*/\1/p")
		got=$(jq "[.sites[] | select(.function == \"${fn}_work\" and (.file // \"\" | endswith(\"reload_lib.c\"))) | .alloc_objects] | add // 0" "$WORK/reload.json")
		expect "reload: ${fn}_work counted as the program counted ($want), in $same rounds at one address ($got)" \
			'[ "$got" = "$want" ]'
		# the two build-ids differ only past their first byte
		mod=$(jq -r "[.sites[] | select(.function == \"${fn}_work\") | .module] | unique | join(\" \")" "$WORK/reload.json")
		expect "reload: ${fn}_work's module is its own library ($mod)" \
			'[ "${mod##*/}" = "libreload_$fn.so" ] && [ "${mod#* }" = "$mod" ]'
	done
fi

# ---- a batch that cannot go out between two that can -----------------------
# lost_batch closes every descriptor (the profile's too), puts a file of
# its own at the profile's number, and lowers its descriptor limit to 3,
# so one snapshot cannot reopen the file; then it puts the limit back and
# goes on (tests/progs/lost_batch.c). Its own file must keep its 6 bytes
# (cutting the profile back must not cut it). The profile
# must end at the snapshot before: the later ones would refer to a stack
# the lost one declared ("new": the file did not read) or leave out the
# counts it raised while claiming to be whole ("same": site_a 1000 of
# 1500, "complete"). It holds phase 1's 1000 site_a blocks exactly.
for mode in same new; do
	d=$WORK/lost-$mode
	mkdir -p "$d"
	out=$(cd "$d" && timeout 30 env LD_PRELOAD="$LIB" POOLSCOUT_INTERVAL_MS=20 \
		"$T/lost_batch" $mode 2>"$WORK/lost.err")
	rc=$?
	want=$([ $mode = same ] && echo "site_a 1500 site_b 0 site_c 700 mine 6" ||
		echo "site_a 1000 site_b 500 site_c 700 mine 6")
	expect "lost batch ($mode): the program runs to its end, its own file at the profile's old number untouched ($rc: $out)" \
		'[ $rc = 0 ] && [ "$out" = "$want" ]'
	expect "lost batch ($mode): one warning, the file could not be opened again" \
		'[ "$(grep -c poolscout: "$WORK/lost.err")" = 1 ] &&
		grep -q "cannot be opened again (Too many open files)" "$WORK/lost.err"'
	got=$("$PS" info --json "$d"/*.pscout 2>/dev/null | jq -c '[.[0].complete, .[0].snapshots > 0]')
	expect "lost batch ($mode): the profile reads, partial ($got)" \
		'[ "$got" = "[false,true]" ]'
	got=$(report_json "$d" | jq -c '[([.sites[] | select(.function == "site_a") | .alloc_objects] | add),
		([.sites[] | select(.function == "site_b" or .function == "site_c")] | length)]')
	expect "lost batch ($mode): site_a 1000 as phase 1 made them, no site_b, site_c ($got)" \
		'[ "$got" = "[1000,0]" ]'
done

# ---- an exec that drops the preload from LD_PRELOAD --------------------
# `env LD_PRELOAD=other.so prog` or `env -i prog` starts a program no one
# profiles: the preload says so once, naming the program and what
# LD_PRELOAD it gets, and the program runs as it would (its own counts on
# stderr, tests/progs/nodebug_sites.c); an exec that keeps the preload
# says nothing, and its program's profile has the program's counts; with
# --no-children nothing is said either
nd_exec() { # DIR RECORD-OPTION ENV-ARGS...: stderr to DIR.err
	_d=$1 _o=$2
	shift 2
	rm -rf "$_d"
	"$PS" record $_o -o "$_d" -- env "$@" "$T/nodebug_sites" >/dev/null 2>"$_d.err"
}
nd_exec "$WORK/exec-other" "" LD_PRELOAD=/lib/x86_64-linux-gnu/libm.so.6
expect "exec with LD_PRELOAD=libm.so.6: one warning naming the program and its LD_PRELOAD" \
	'[ "$(grep -c "execs .*nodebug_sites with LD_PRELOAD=/lib/x86_64-linux-gnu/libm.so.6, without .*libpoolscout.so: that program is not profiled" "$WORK/exec-other.err")" = 1 ]'
expect "exec with LD_PRELOAD=libm.so.6: the program ran as without (its 300 and 500)" \
	'grep -q "^truth first 300$" "$WORK/exec-other.err" && grep -q "^truth second 500$" "$WORK/exec-other.err"'
nd_exec "$WORK/exec-none" "" -i
expect "exec with env -i: one warning, no LD_PRELOAD" \
	'[ "$(grep -c "execs .*nodebug_sites with no LD_PRELOAD, without .*libpoolscout.so" "$WORK/exec-none.err")" = 1 ]'
nd_exec "$WORK/exec-kept" "" X=1
n=$(report_json "$WORK/exec-kept" | jq '[.sites[] | select(.function == "two_calls") | .alloc_objects] | add')
expect "exec that keeps the preload: no warning, the program's 800 allocations in its profile ($n)" \
	'! grep -q "not profiled" "$WORK/exec-kept.err" && [ "$n" = 800 ]'
nd_exec "$WORK/exec-nochild" --no-children -i
expect "exec with env -i under --no-children: no warning" \
	'! grep -q "not profiled" "$WORK/exec-nochild.err"'

# ---- loaded too late ----------------------------------------------------------
# a program that dlopens libpoolscout.so itself (no LD_PRELOAD; secure_dlopen
# without its setuid bit): libc's malloc was bound before, so the preload
# would see nothing; it says so, naming itself and how to preload it, and
# writes no profile
mkdir -p "$WORK/dlopened"
out=$(cd "$WORK/dlopened" && POOLSCOUT_OUT="$WORK/dlopened" timeout 30 "$T/secure_dlopen" "$LIB" 2>"$WORK/dlopened.err")
rc=$?
expect "a program that dlopens libpoolscout.so: runs, exit 0 ($rc, $out)" '[ $rc = 0 ] && [ "$out" = secure=0 ]'
expect "dlopened: one warning, the preload was loaded after libc's malloc was bound" \
	'[ "$(grep -c poolscout: "$WORK/dlopened.err")" = 1 ] &&
	grep -q "poolscout: $LIB was loaded after the program.s malloc was bound (with dlopen?)" "$WORK/dlopened.err" &&
	grep -q "Preload it: LD_PRELOAD=$LIB PROGRAM" "$WORK/dlopened.err"'
expect "dlopened: no profile written" '[ -z "$(ls "$WORK/dlopened")" ]'

# ---- aligned_alloc goes to the next aligned_alloc ------------------------------
# tests/progs/counting_aligned.c preloaded after us: the program's own
# aligned_alloc calls (exact: 100 per worker, 3 workers) reach it, as
# they do without the preload, not through memalign
ALIGNED=$T/counting_aligned.so
plain=$(LD_PRELOAD=$ALIGNED "$T/exact" 2>&1 >/dev/null | grep "^counting_aligned:")
d=$WORK/aligned
got=$(env LD_PRELOAD="$LIB $ALIGNED" POOLSCOUT_OUT="$d" "$T/exact" 2>&1 >/dev/null | grep "^counting_aligned:")
expect "aligned_alloc under the preload: the next allocator's aligned_alloc sees the program's 300 calls ($got; $plain)" \
	'[ "$plain" = "counting_aligned: aligned_alloc 300" ] && [ "$got" = "$plain" ]'

# POOLSCOUT_UNWIND takes fast, libunwind or check, in any case: each is
# taken without a word (check then reports at exit, the others do not);
# anything else is warned about once and the default (fast) is used
for v in fast libunwind check CHECK Fast; do
	d=$WORK/unwind-$v
	mkdir -p "$d"
	POOLSCOUT_UNWIND=$v POOLSCOUT_OUT=$d LD_PRELOAD=$LIB "$T/planted" >/dev/null 2>"$d.err"
	rc=$?
	case $v in check | CHECK) want=1 ;; *) want=0 ;; esac
	expect "POOLSCOUT_UNWIND=$v: taken without a warning, $want check report" \
		'[ $rc = 0 ] && ! grep -q "ignoring" "$d.err" && [ "$(grep -c "unwind check: pid=" "$d.err")" = "$want" ]'
done
d=$WORK/unwind-bogus
mkdir -p "$d"
POOLSCOUT_UNWIND=bogus POOLSCOUT_OUT=$d LD_PRELOAD=$LIB "$T/planted" >/dev/null 2>"$d.err"
expect "POOLSCOUT_UNWIND=bogus: one warning, the default (no check report)" \
	'[ "$(grep -c "ignoring POOLSCOUT_UNWIND=bogus: expected fast, libunwind or check; using the default" "$d.err")" = 1 ] &&
	 ! grep -q "unwind check:" "$d.err"'

# a dlsym wrapper preloaded after the preload allocates while the preload
# looks up the next allocator (tests/progs/dlsym_alloc.c): those blocks
# come from the preload's bootstrap pool, and when the wrapper frees them
# at exit they must not reach the real free ("free(): invalid pointer"),
# exact or sampled (where the sampling filter must know the pool's range)
for smp in 1 4; do
	d=$WORK/dlsym-alloc-$smp
	mkdir -p "$d"
	LD_PRELOAD="$LIB $T/dlsym_alloc.so" POOLSCOUT_SAMPLE=$smp POOLSCOUT_OUT=$d \
		"$T/planted" >/dev/null 2>"$d.err"
	rc=$?
	line=$(grep "^dlsym_alloc:" "$d.err")
	expect "a dlsym wrapper that allocates, preloaded after us, POOLSCOUT_SAMPLE=$smp: exit 0, its blocks freed ($line)" \
		'[ $rc = 0 ] && echo "$line" | grep -Eq "^dlsym_alloc: ([1-9][0-9]*) calls, [1-9][0-9]* freed$" && ! grep -q "invalid pointer" "$d.err"'
done

finish
