# lib.sh - helpers for the shell test suites (sourced).
#   ok NAME               record a pass
#   bad NAME WHY          record a failure
#   expect NAME COND...   run COND (a shell command); pass if it succeeds
#   skip NAME REASON [N]  record N (default 1) tests not run, loudly:
#                         prints "SKIP NAME: REASON" (tests/run.sh lists
#                         every SKIP; under CI=true it fails the run)
#   skip_suite NAME REASON  nothing in this suite can run: prints the SKIP
#                         line and exits 77 (run.sh counts a skipped suite)
#   have CMD...           true when every CMD is on the PATH
#   finish                print "N passed, N failed, N skipped" and exit
#                         non-zero on a failure
B=${POOLSCOUT_BUILD:-build}
PS=$PWD/$B/poolscout
LIB=$PWD/$B/libpoolscout.so
T=$PWD/$B/tests
_pass=0
_fail=0
_skip=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/poolscout-sh-XXXXXX")
trap 'rm -rf "$WORK"' EXIT

ok() { _pass=$((_pass + 1)); echo "  ok   $1"; }
bad() { _fail=$((_fail + 1)); echo "  FAIL $1: $2"; }
expect() {
	_what=$1
	shift
	if eval "$@"; then ok "$_what"; else bad "$_what" "$*"; fi
}
skip() { _skip=$((_skip + ${3:-1})); echo "SKIP $1: $2"; }
skip_suite() { echo "SKIP $1: $2"; exit 77; }
have() {
	for _cmd in "$@"; do
		command -v "$_cmd" >/dev/null 2>&1 || return 1
	done
}
finish() {
	echo "$_pass passed, $_fail failed, $_skip skipped"
	[ "$_fail" = 0 ]
}
# jq 1.6 exits 0 under -e when its input is empty, so `poolscout ... |
# jq -e COND` would pass when poolscout failed and printed nothing: with
# -e, no output at all is a failure (exit 4, as later jq versions do)
jq() {
	case " $* " in
	*" -e "*)
		_jq_out=$(command jq "$@") || return $?
		[ -n "$_jq_out" ] || return 4
		printf '%s\n' "$_jq_out"
		;;
	*) command jq "$@" ;;
	esac
}
# jq over `report --json` of the profiles in a directory
report_json() { "$PS" report --json "$1"/*.pscout 2>/dev/null; }
# allocations of sites whose function is $2, in the profiles of dir $1
site_allocs() {
	report_json "$1" | jq "[.sites[] | select(.function == \"$2\") | .alloc_objects] | add // 0"
}
# allocations whose stacks pass through function $2 (pprof's cum)
cum_allocs() {
	"$PS" top --json "$1"/*.pscout 2>/dev/null |
		jq "[.rows[] | select(.function == \"$2\") | .cum] | add // 0"
}
