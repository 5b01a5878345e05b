#!/bin/sh
# browser/run.sh - the HTML pages in a real browser: records the planted
# program (from a directory whose name holds "</script>", "<!--" and
# U+2028, so the page's module paths test the JSON escaping), a demo app
# before and after its fix, the 131072-stack program, a process tree, a
# killed run and a sampled one; writes
# `report --html` and `diff --html` pages; then tests/browser/pages.py
# opens them in headless Chromium from disk and checks them against the
# programs' known counts. Screenshots land in $B/tests/browser/.
. tests/lib.sh

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
	skip_suite browser "$CHROMIUM is not installed (sh mk/deps.sh test)"
fi
if ! /usr/bin/python3 -c 'import websocket' 2>/dev/null; then
	skip_suite browser "Debian's python3-websocket is not installed (sh mk/deps.sh test)"
fi
SHOTS=$B/tests/browser
mkdir -p "$SHOTS"

# the planted program, from an awkwardly named directory
odd="$WORK/odd</script><!--$(printf '\342\200\250')dir"
mkdir -p "$odd"
cp "$T/planted" "$odd/planted"
"$PS" record --interval 5 -o "$WORK/planted" -- "$odd/planted" >/dev/null 2>&1
"$PS" report --html "$WORK/report.html" "$WORK"/planted/*.pscout 2>"$WORK/report.err"
expect "report --html writes the page" '[ -s "$WORK/report.html" ]'
expect "report --html says what it wrote" 'grep -q "wrote $WORK/report.html" "$WORK/report.err"'
expect "the page loads no script, style or image from elsewhere" \
	'! grep -Eiq "<script[^>]* src=|<link |<img |@import|url\(" "$WORK/report.html"'

# the logger demo before and after its fix
D=$B/demo
"$PS" record -o "$WORK/before" -- "$D/logger_before" 2 5000 >/dev/null 2>&1
"$PS" record -o "$WORK/after" -- "$D/logger_after" 2 5000 >/dev/null 2>&1
"$PS" diff --html "$WORK/diff.html" "$WORK/before" "$WORK/after" 2>/dev/null
expect "diff --html writes the page" '[ -s "$WORK/diff.html" ]'

# a huge profile: the page keeps the largest stacks and stays small
"$PS" record -o "$WORK/many" -- "$T/many_stacks" >/dev/null 2>&1
"$PS" report --html "$WORK/huge.html" "$WORK"/many/*.pscout 2>/dev/null
size=$(stat -c %s "$WORK/huge.html" 2>/dev/null || echo 0)
expect "131072 stacks: the page is at most 5 MiB ($size bytes)" \
	'[ "$size" -gt 0 ] && [ "$size" -le 5242880 ]'

# awkward profiles: a process tree, a killed run, a sampled run
"$PS" record -o "$WORK/tree" -- sh -c 'ls / >/dev/null; echo x | sort >/dev/null' >/dev/null 2>&1
ntree=$(ls "$WORK"/tree/*.pscout | wc -l)
"$PS" report --html "$WORK/tree.html" "$WORK"/tree/*.pscout 2>/dev/null
mkdir -p "$WORK/killed"
LD_PRELOAD=$LIB POOLSCOUT_OUT=$WORK/killed POOLSCOUT_INTERVAL_MS=50 \
	"$T/stress" spin 20000 >"$WORK/ready" &
pid=$!
i=0
while ! grep -q ready "$WORK/ready" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.3
kill -9 $pid
wait $pid 2>/dev/null
"$PS" report --html "$WORK/killed.html" "$WORK"/killed/*.pscout 2>/dev/null
"$PS" record --sample 10 -o "$WORK/sampled" -- "$T/planted" >/dev/null 2>&1
"$PS" report --html "$WORK/sampled.html" "$WORK"/sampled/*.pscout 2>/dev/null
expect "pages of a tree, a killed and a sampled run" \
	'[ -s "$WORK/tree.html" ] && [ -s "$WORK/killed.html" ] && [ -s "$WORK/sampled.html" ]'

# a page that cannot be written: exit 1 and one line
"$PS" report --html /nonexistent/dir/r.html "$WORK"/planted/*.pscout 2>"$WORK/err"
rc=$?
expect "unwritable --html path: exit 1, one line" \
	'[ $rc = 1 ] && [ "$(wc -l <"$WORK/err")" = 1 ] && grep -q "cannot write" "$WORK/err"'

# a program only the symbol table names (no lines): two calls of one
# function, 300 and 500 allocations (it prints them on stderr)
"$PS" record -o "$WORK/nodebug" -- "$T/nodebug_sites" >/dev/null 2>"$WORK/nodebug.err"
"$PS" report --html "$WORK/nodebug.html" "$WORK"/nodebug/*.pscout 2>/dev/null

if timeout 300 /usr/bin/python3 tests/browser/pages.py --chromium "$CHROMIUM" \
	--report "$WORK/report.html" --diff "$WORK/diff.html" \
	--huge "$WORK/huge.html" --shots "$SHOTS" --source tests/progs/planted.c \
	--tree "$WORK/tree.html" --tree-files "$ntree" --killed "$WORK/killed.html" \
	--sampled "$WORK/sampled.html" \
	--nodebug "$WORK/nodebug.html" --nodebug-truth "$WORK/nodebug.err" \
	--logger demo-apps/logger/logger_before.c; then
	ok "pages in Chromium"
else
	bad "pages in Chromium" "see the checks above"
fi
finish
