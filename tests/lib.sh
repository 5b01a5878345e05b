# lib.sh - helpers for the shell test suites (sourced).
#   ok NAME             record a pass
#   bad NAME WHY        record a failure
#   expect NAME COND... run COND (a shell command); pass if it succeeds
#   finish              print "N passed, N failed" and exit non-zero on failure
B=${POOLSCOUT_BUILD:-build}
PS=$PWD/$B/poolscout
LIB=$PWD/$B/libpoolscout.so
T=$PWD/$B/tests
_pass=0
_fail=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/poolscout-sh-XXXXXX")
trap 'rm -rf "$WORK"' EXIT

ok() { _pass=$((_pass + 1)); echo "  ok   $1"; }
bad() { _fail=$((_fail + 1)); echo "  FAIL $1: $2"; }
expect() {
	_what=$1
	shift
	if eval "$@"; then ok "$_what"; else bad "$_what" "$*"; fi
}
finish() {
	echo "$_pass passed, $_fail failed"
	[ "$_fail" = 0 ]
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
