#!/bin/sh
# real_world.sh - the report's advice on real programs installed from
# Debian (git, redis-server under redis-benchmark, nginx under ab, perl,
# sqlite3, python3), each under a short realistic workload
# (real_world_workloads.sh) recorded with `poolscout record`. Per program:
#  (a) the program answers the same and exits the same as in a plain run;
#  (b) the #1 site of `report --json` is not an allocator wrapper. The
#      wrappers are known without poolscout: by name (a list per program,
#      below) and by address, from find_wrappers.py, which reads .dynsym
#      names and, for stripped code, the .eh_frame function ranges and the
#      call graph objdump shows (the small functions that call malloc and
#      that many places call);
#  (c) where the program is single-threaded (strace of the plain run sees
#      no CLONE_THREAD), every profile has one thread and every site shows
#      one thread (`alloc_threads`, or the thread count its reasons quote);
#  (d) no site has more objects live at its peak than it allocated.
# How the wrappers are known, per program (Debian's binaries are stripped;
# its -dbgsym archive and debuginfod were not reachable from here):
#   git      no symbol at all: disasm rules; they find exactly git's
#            wrapper.c (do_xmalloc, xmalloc, xmallocz, xmallocz_gently,
#            xmemdupz, xstrdup, xrealloc, xcalloc: each references its own
#            "Out of memory, ... failed" / "Data too large" message)
#   redis    .dynsym (linked with -rdynamic): zmalloc & co. by name
#   nginx    .dynsym (linked with -Wl,-E for modules): ngx_alloc & co.
#   perl     .dynsym of /usr/bin/perl (libperl linked in): Perl_safesys*
#   sqlite3  .dynsym of libsqlite3 (sqlite3Malloc, sqlite3DbMallocRaw...)
#            plus the disasm "table" rule for the static sqlite3MemMalloc /
#            sqlite3MemRealloc (reached only through sqlite3Config.m)
#   python3  .dynsym of python3.11 (PyMem_*, PyObject_Malloc), plus the
#            disasm rules for its static allocator functions
# Both come from binutils (nm, readelf, objdump) and the programs' own
# sources' names, never from poolscout's wrapper list or symbolizer.
# A program whose package is not installed is skipped with a SKIP line
# (mk/deps.sh test installs them). Not part of `make test` unless
# REAL_WORLD=1 (tests/run.sh): many checks fail until the wrapper
# detection and the peaks are fixed.
. tests/lib.sh
. tests/integration/real_world_workloads.sh
FW=tests/integration/find_wrappers.py
RW_SERVER_PID=
trap 'exit 143' INT TERM
trap '[ -n "$RW_SERVER_PID" ] && kill -TERM "$RW_SERVER_PID" 2>/dev/null
rm -rf "$WORK"' EXIT


# Allocation functions of the libraries these programs share (OpenSSL,
# zlib, libc): wrappers in every program.
COMMON_WRAPPERS='^(CRYPTO_(malloc|zalloc|realloc|clear_realloc|strdup|strndup|memdup|secure_malloc|secure_zalloc)|zcalloc|strdup|strndup|__strdup)$'
GIT_WRAPPERS='^(xmalloc|xmallocz|xmallocz_gently|xcalloc|xrealloc|xstrdup|xstrndup|xstrdup_or_null|xmemdupz|do_xmalloc|do_xmallocz)$'
REDIS_WRAPPERS='^(z(try)?(malloc|calloc|realloc)(_usable|_num|_no_tcache)?|zstrdup|RM_(Alloc|TryAlloc|Calloc|Realloc))$'
NGINX_WRAPPERS='^ngx_(alloc|calloc|memalign|palloc|pnalloc|pcalloc|pmemalign|palloc_small|palloc_large|palloc_block|create_pool|array_create|array_push|array_push_n|list_create|list_push|pstrdup|create_temp_buf|alloc_chain_link|calloc_buf)$'
PERL_WRAPPERS='^Perl_(safesys(malloc|calloc|realloc)|savepvn?|savesharedpvn?|savesvpv)$'
SQLITE_WRAPPERS='^sqlite3(Malloc|MallocZero|_malloc(64)?|_realloc(64)?|Realloc|DbMalloc(Raw|RawNN|Zero)?|DbRealloc|DbReallocOrFree|MemMalloc|MemRealloc|DbStrDup|DbStrNDup|PageMalloc)$'
PYTHON_WRAPPERS='^(_?PyMem_[A-Za-z]+|_?PyObject_(Malloc|Calloc|Realloc)|_PyMem_RawWcsdup)$'

# wrapper_why FUNCTION MODULE REGEX: prints why FUNCTION (a name, or
# module+0xOFFSET) of MODULE is an allocator wrapper; nothing if it is not
wrapper_why() {
	if printf '%s\n' "$1" | grep -Eq "$3|$COMMON_WRAPPERS"; then
		echo "its name is on the wrapper list"
		return
	fi
	[ -f "$2" ] || return
	_t=$WORK/wrappers$(printf '%s' "$2" | tr / _)
	[ -f "$_t" ] || python3 "$FW" --names "$3|$COMMON_WRAPPERS" "$2" >"$_t"
	case $1 in
	*+0x*)
		_off=$((${1##*+}))
		while read -r _s _e _rule _name; do
			if [ "$_off" -ge $((0x$_s)) ] && [ "$_off" -lt $((0x$_e)) ]; then
				echo "offset in the $_rule wrapper 0x$_s..0x$_e ($_name)"
				return
			fi
		done <"$_t"
		;;
	*)
		while read -r _s _e _rule _name; do
			if [ "$_name" = "$1" ]; then
				echo "the $_rule wrapper 0x$_s..0x$_e"
				return
			fi
		done <"$_t"
		;;
	esac
}

# show_top NAME JSON: the first three sites, for the log
show_top() {
	jq -r '.sites[0:3][] | "    #\(.rank) \(.function) (\(.module)) \(.remedy) \(.alloc_objects) allocs, peak \(.peak_live_objects)"' "$2"
}

# check_program NAME WORKLOAD WRAPPER_REGEX: run WORKLOAD plain (under
# strace, to learn whether it starts threads) and recorded; checks (a)-(d)
cat >"$WORK/record_into" <<SCRIPT
#!/bin/sh
# record_into DIR CMD...: poolscout record into a fresh directory beside
# DIR, then move the profiles into DIR
dir=\$1
shift
sub=\$(mktemp -u "\$dir.XXXXXX")
"$PS" record -o "\$sub" -- "\$@"
rc=\$?
mkdir -p "\$dir"
mv "\$sub"/*.pscout "\$dir"/ 2>/dev/null
rm -rf "\$sub"
exit \$rc
SCRIPT
chmod +x "$WORK/record_into"

check_program() {
	name=$1
	work=$2
	wre=$3
	d=$WORK/$name
	mkdir -p "$d"
	tracer=
	if command -v strace >/dev/null; then
		tracer="strace -f -qq -A --seccomp-bpf -e trace=clone,clone3 -o $d/strace"
		strace -f -qq --seccomp-bpf -e trace=clone -o /dev/null true 2>/dev/null ||
			tracer="strace -f -qq -A -e trace=clone,clone3 -o $d/strace"
	fi
	t0=$(date +%s.%N)
	# (RUN=... before a function call would outlive the call in bash)
	RUN=$tracer
	$work "$d/plain" >"$d/out.plain" 2>"$d/err.plain"
	rc_plain=$?
	t1=$(date +%s.%N)
	# each command of a workload records into a directory of its own
	# (record refuses to mix runs), gathered into prof/
	RUN="$WORK/record_into $d/prof"
	$work "$d/rec" >"$d/out.rec" 2>"$d/err.rec"
	rc_rec=$?
	RUN=
	t2=$(date +%s.%N)
	echo "  $name: plain$( [ -n "$tracer" ] && echo ' (strace)') $(echo "$t1 $t0" | awk '{ printf "%.2f", $1 - $2 }') s, recorded $(echo "$t2 $t1" | awk '{ printf "%.2f", $1 - $2 }') s"

	expect "$name (a): same exit status (plain $rc_plain, recorded $rc_rec)" \
		'[ "$rc_plain" = "$rc_rec" ] && [ "$rc_plain" = 0 ]'
	if cmp -s "$d/out.plain" "$d/out.rec"; then
		ok "$name (a): same output ($(wc -l <"$d/out.plain") lines)"
	else
		bad "$name (a): same output" "$(diff "$d/out.plain" "$d/out.rec" | head -6 | tr '\n' '|')"
	fi
	# record's messages: on the workload's stderr, or a server's log
	cat "$d/err.rec" "$d/rec/server.out" >"$d/record.msg" 2>/dev/null
	if grep -q ' 0 profiles written' "$d/record.msg" || ! ls "$d/prof"/*.pscout >/dev/null 2>&1; then
		bad "$name: profiles written" "$(grep 'profiles* written' "$d/record.msg" | head -3 | tr '\n' '|')"
		return
	fi
	nfiles=$(ls "$d/prof" | wc -l)
	if ! "$PS" report --json "$d/prof"/*.pscout >"$d/report.json" 2>"$d/report.err"; then
		bad "$name: report --json of its $nfiles profiles" "$(head -c 300 "$d/report.err")"
		return
	fi
	echo "  $name: $nfiles profile(s), $(jq '.totals.alloc_objects' "$d/report.json") allocations, top sites:"
	show_top "$name" "$d/report.json"

	# (b)
	top=$(jq -r '.sites[0].function // empty' "$d/report.json")
	mod=$(jq -r '.sites[0].module // empty' "$d/report.json")
	if [ -z "$top" ]; then
		bad "$name (b): #1 site is not an allocator wrapper" "no site in the report"
	else
		why=$(wrapper_why "$top" "$mod" "$wre")
		if [ -z "$why" ]; then
			ok "$name (b): #1 site is not an allocator wrapper ($top in $mod)"
		else
			bad "$name (b): #1 site is not an allocator wrapper" "#1 is $top in $mod: $why"
		fi
	fi

	# (c)
	if [ -z "$tracer" ]; then
		skip "real_world/$name-threads-unknown" "strace is not installed: cannot tell whether $name starts threads"
	elif [ "$(grep -c CLONE_THREAD "$d/strace")" != 0 ]; then
		skip "real_world/$name-single-thread" "not single-threaded: the plain run started $(grep -c CLONE_THREAD "$d/strace") threads (strace)"
	else
		multi=0 nofield=0 sites=0 sample='' unequal=0 usample=''
		for f in "$d/prof"/*.pscout; do
			"$PS" report --json "$f" >"$d/one.json" 2>/dev/null || continue
			# profile threads, sites, sites without alloc_threads, sites
			# showing more than one thread
			set -- $(jq -r '[(.threads | length), (.sites | length),
				([.sites[] | select(has("alloc_threads") | not)] | length),
				([.sites[] | select((.alloc_threads // 1) > 1 or
					any(.reasons[]; test("over its ([2-9]|[1-9][0-9]+) threads")))] | length)] | @tsv' "$d/one.json")
			nt=$1 ns=$2 nf=$3 nm=$4
			sites=$((sites + ns))
			# one thread: the site's peak is that thread's peak
			nu=$(jq '[.sites[] | select(.peak_live_objects != .thread_peak_live_objects)] | length' "$d/one.json")
			if [ "$nu" != 0 ]; then
				unequal=$((unequal + nu))
				[ -z "$usample" ] && usample=$(jq -r '[.sites[] | select(.peak_live_objects != .thread_peak_live_objects)][0] | "\(.function): peak_live_objects \(.peak_live_objects), thread_peak_live_objects \(.thread_peak_live_objects)"' "$d/one.json")
			fi
			nofield=$((nofield + nf))
			if [ "$nt" != 1 ] || [ "$nm" != 0 ]; then
				multi=$((multi + 1))
				[ -z "$sample" ] && sample="$(basename "$f"): $nt threads in the profile, $nm of $ns sites show more than one: $(jq -r '[.sites[] | select((.alloc_threads // 1) > 1 or any(.reasons[]; test("over its ([2-9]|[1-9][0-9]+) threads")))][0] | "\(.function) \"\(.reasons[] | select(test("threads")))\""' "$d/one.json" | head -1)"
			fi
		done
		if [ "$nofield" = 0 ]; then
			ok "$name (c): every site reports its thread count (alloc_threads)"
		else
			bad "$name (c): every site reports its thread count" \
				"no alloc_threads field on $nofield of $sites sites (per-profile reports)"
		fi
		if [ "$multi" = 0 ]; then
			ok "$name (c): single-threaded: one thread per profile and per site ($nfiles profiles)"
		else
			bad "$name (c): single-threaded: one thread per profile and per site" "$multi of $nfiles profiles: $sample"
		fi
		if [ "$unequal" = 0 ]; then
			ok "$name (d): single-threaded: each site's peak is its thread's peak"
		else
			bad "$name (d): single-threaded: each site's peak is its thread's peak" \
				"$unequal of $sites sites differ, e.g. $usample"
		fi
	fi

	# (d)
	over=$(jq -r '[.sites[] | select(.peak_live_objects > .alloc_objects)] | length' "$d/report.json")
	if [ "$over" = 0 ]; then
		ok "$name (d): every site's peak_live_objects <= alloc_objects ($(jq '.sites | length' "$d/report.json") sites)"
	else
		bad "$name (d): every site's peak_live_objects <= alloc_objects" \
			"$over of $(jq '.sites | length' "$d/report.json") sites: $(jq -r '[.sites[] | select(.peak_live_objects > .alloc_objects)][0:3][] | "\(.function) peak \(.peak_live_objects) > \(.alloc_objects) allocs"' "$d/report.json" | tr '\n' ';')"
	fi
}

have() { command -v "$1" >/dev/null 2>&1; }
# RW_ONLY="git nginx" runs only these programs
want() {
	[ -z "${RW_ONLY:-}" ] && return 0
	case " $RW_ONLY " in *" $1 "*) return 0 ;; esac
	return 1
}

if ! want git; then
	:
elif have git; then
	check_program git rw_git "$GIT_WRAPPERS"
else
	skip git "package git is not installed"
fi

if ! want redis; then
	:
elif have redis-server && have redis-benchmark && have redis-cli; then
	check_program redis rw_redis "$REDIS_WRAPPERS"
	expect "redis (a): the benchmark ran and counted every INCR and LPUSH" \
		'grep -q "^benchmark status 0" "$WORK/redis/out.rec" &&
		 grep -q "^get counter:__rand_int__: $RW_REDIS_N$" "$WORK/redis/out.rec" &&
		 grep -q "^llen mylist: $RW_REDIS_N$" "$WORK/redis/out.rec"'
else
	skip redis "packages redis-server and redis-tools are not installed"
fi

if ! want nginx; then
	:
elif have nginx && { have ab || have curl; }; then
	check_program nginx rw_nginx "$NGINX_WRAPPERS"
	expect "nginx (a): every request answered" \
		'grep -q "^Complete requests: *$RW_NGINX_N$" "$WORK/nginx/out.rec" &&
		 ! grep -q "^Non-2xx" "$WORK/nginx/out.rec" &&
		 grep -q "^Failed requests: *0$" "$WORK/nginx/out.rec"'
	expect "nginx: master and worker each wrote a profile" \
		'[ "$(ls "$WORK/nginx/prof" | wc -l)" = 2 ]'
	# the usual setup: the worker switches to an unprivileged user after
	# the fork; its profile must be written, or record must say why not
	# (the preload's own warning goes to nginx's error log, which a user
	# of record does not read)
	d=$WORK/nginx_nobody
	mkdir -p "$d"
	chmod 755 "$WORK" "$d" # nobody reads the pages under it
	n=$RW_NGINX_N
	RW_NGINX_N=200
	RUN="$PS record -o $d/prof --"
	rw_nginx "$d/rec" "nobody nogroup" >"$d.out" 2>"$d.err"
	RUN=
	RW_NGINX_N=$n
	n=$(ls "$d/prof" 2>/dev/null | wc -l)
	if [ "$n" = 2 ]; then
		ok "nginx, worker as nobody: the worker's profile is written"
	elif grep -q "cannot create\|not searchable by other users" "$d/rec/server.out"; then
		ok "nginx, worker as nobody: record says why the worker has no profile"
	else
		bad "nginx, worker as nobody: the worker's profile is written, or record says why not" \
			"$n profile(s); record said: $(grep -v '^  /' "$d/rec/server.out" | tr '\n' '|') nginx's error log: $(grep poolscout "$d/rec/error.log" | head -2 | tr '\n' '|')"
	fi
else
	skip nginx "packages nginx and apache2-utils (or curl) are not installed"
fi

if ! want perl; then
	:
elif have perl; then
	check_program perl rw_perl "$PERL_WRAPPERS"
else
	skip perl "package perl is not installed"
fi

if ! want sqlite3; then
	:
elif have sqlite3; then
	check_program sqlite3 rw_sqlite "$SQLITE_WRAPPERS"
else
	skip sqlite3 "package sqlite3 is not installed"
fi

if ! want python3; then
	:
elif [ -x /usr/bin/python3 ]; then
	check_program python3 rw_python "$PYTHON_WRAPPERS"
	# without pymalloc every object goes through malloc, and through
	# PyObject_Malloc, the wrapper to look past
	export PYTHONMALLOC=malloc
	n=$RW_PY_N
	RW_PY_N=10000
	check_program python3_malloc rw_python "$PYTHON_WRAPPERS"
	RW_PY_N=$n
	unset PYTHONMALLOC
else
	skip python3 "package python3 is not installed"
fi

# Rust's standard library is the runtime: a program whose allocations all
# go through Vec growth, format! and Box::new (tests/progs/rust_std.rs,
# which prints how many each of its functions makes) has its own functions
# as the sites, named as Rust writes them (demangled, no hash), with the
# library's finish_grow / format_inner nowhere, exact and sampled; with
# the program's symbols in either mangling, legacy and v0 (and the
# library's as this rustc ships it: legacy for Debian's 1.63, v0 for
# newer). rustc: Debian's (mk/deps.sh test installs it), or cargo's.
RUSTC=$(command -v rustc || ls "$HOME"/.cargo/bin/rustc 2>/dev/null | head -1)
if ! want rust; then
	:
elif [ -n "$RUSTC" ] && "$RUSTC" -O -C debuginfo=0 -o "$WORK/rust_std_legacy" tests/progs/rust_std.rs 2>"$WORK/rust_std.err" &&
	"$RUSTC" -O -C debuginfo=0 -C symbol-mangling-version=v0 -o "$WORK/rust_std_v0" tests/progs/rust_std.rs 2>>"$WORK/rust_std.err"; then
	for mangling in legacy v0; do
		sym=$(nm "$WORK/rust_std_$mangling" | sed -n 's/.* \(.*rust_std.*build_list.*\)/\1/p' | head -1)
		case $mangling in legacy) re='^_ZN8rust_std10build_list17h' ;; v0) re='^_R' ;; esac
		expect "rust_std ($mangling): its symbol is mangled so ($sym)" "echo '$sym' | grep -q '$re'"
		for opt in "" "--sample 4"; do
			d=$WORK/rust_std_prof_$mangling$(echo "$opt" | tr -d ' -')
			"$PS" record $opt -o "$d" -- "$WORK/rust_std_$mangling" >"$d.out" 2>"$d.err"
			"$PS" report --json -n 100000 "$d"/*.pscout >"$d.json"
			what="rust_std ($mangling${opt:+, $opt})"
			for fn in build_list make_name make_box; do
				truth=$(sed -n "s/^truth $fn //p" "$d.out")
				got=$(jq "[.sites[] | select(.function == \"rust_std::$fn\") | .alloc_objects] | add // 0" "$d.json")
				err=$(jq "[.sites[] | select(.function == \"rust_std::$fn\") | .alloc_objects_error95 // 0] | add // 0 | ceil" "$d.json")
				# twice the 95% half-width (about 4 sd: a test that fails 1 run in
				# 20 by chance is no test); exact: equal
				expect "$what: $fn's $truth allocations are its own sites (got $got +- $err)" \
					"[ -n '$truth' ] && [ $got -ge $((truth - 2 * err)) ] && [ $got -le $((truth + 2 * err)) ]"
			done
			lib=$(jq -r '[.sites[] | select(.function | test("finish_grow|format_inner|grow_one|__rust_alloc")) | .function] | join(", ")' "$d.json")
			expect "$what: no site is Rust's library code (got: $lib)" "[ -z '$lib' ]"
		done
	done
else
	skip rust "no rustc (or it failed: $(head -c 200 "$WORK/rust_std.err" 2>/dev/null))"
fi
finish
