#!/bin/sh
# demo_scenarios.sh - the seven demo scenarios (demo-apps/) as acceptance
# tests of the ranking: each *before* run under the preload must rank its
# planted site first with the expected remedy and numbers, and the diff
# against its *after* run must show the allocations per unit of work
# falling as expected (units recorded by the programs themselves).
. tests/lib.sh
D=$B/demo
rec() { "$PS" record -o "$WORK/$1" -- "$D/$1" $2 >/dev/null 2>"$WORK/$1.err"; }
top() { "$PS" report --json "$WORK/$1"/*.pscout 2>/dev/null | jq -r ".sites[0].$2"; }
site() { "$PS" report --json "$WORK/$1"/*.pscout 2>/dev/null |
	jq -r "[.sites[] | select(.function == \"$2\")][0].$3"; }
per_unit() { "$PS" diff --json "$WORK/$1_before" "$WORK/$1_after" 2>/dev/null | jq -r ".$2.alloc_objects"; }
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }

for s in logger handler strings arrays json tiny bigbuf; do
	case $s in logger) args="4 20000" ;; *) args=20000 ;; esac
	rec ${s}_before "$args"
	rec ${s}_after "$args"
done

# 1 logger (seed 000): the per-line field strings first, as stack
expect "logger: top site format_field" '[ "$(top logger_before function)" = format_field ]'
expect "logger: remedy stack" '[ "$(top logger_before remedy)" = stack ]'
expect "logger: the scratch buffer's growth chain is presize" \
	'[ "$(site logger_before buffer_append remedy)" = presize ]'
expect "logger: 7 -> 0 allocations per line" \
	'between "$(per_unit logger base)" 6.999 7.001 && between "$(per_unit logger new)" 0 0.001'

# 2 request handler (seeds 001, 002): a shared pool sized by the queue
expect "handler: top site new_request" '[ "$(top handler_before function)" = new_request ]'
expect "handler: remedy pool" '[ "$(top handler_before remedy)" = pool ]'
# the program counts its own peak of live requests; poolscout's may
# differ only by the frees in flight on the 2 workers at that moment
# the program counts its requests alive at once between two bounds (a
# thread may stop between an allocator call and its count: inside both
# blocks' lives and around them); the queue holds 32, the acceptor one
# more, the two workers one each
ps=$(top handler_before pool_size)
own=$(sed -n 's/.*peak live requests \([0-9]*\.\.[0-9]*\).*/\1/p' "$WORK/handler_before.err")
expect "handler: pool size $ps within the program's own peak $own" \
	'[ -n "$own" ] && between "$ps" "${own%..*}" "${own#*..}" && between "${own%..*}" 2 35 && between "${own#*..}" 2 35'
expect "handler: every request freed by another thread (shared pool)" \
	'[ "$(top handler_before cross_thread_free_ratio)" = 1 ]'
expect "handler: 2 -> under 0.01 per request (the pool, allocated once)" \
	'between "$(per_unit handler base)" 1.999 2.001 && between "$(per_unit handler new)" 0 0.01'
"$D/handler_after" 20000 --check 2>/dev/null
rc=$?
expect "handler: the pool's reset leaks no stale data (--check)" '[ $rc = 0 ]'

# 3 string building (seed 004): presize
expect "strings: top site concat, presize" \
	'[ "$(top strings_before function)" = concat ] && [ "$(top strings_before remedy)" = presize ]'
expect "strings: 24 growth steps per key" '[ "$(top strings_before realloc_steps_max)" = 24 ]'
expect "strings: 25 -> 1 allocations per key" \
	'between "$(per_unit strings base)" 24.999 25.001 && between "$(per_unit strings new)" 0.999 1.001'

# 4 growing arrays (seed 003): presize to 1000 longs
expect "arrays: top site append, presize" \
	'[ "$(top arrays_before function)" = append ] && [ "$(top arrays_before remedy)" = presize ]'
expect "arrays: reserve 8 KiB" '[ "$(top arrays_before reserve_bytes)" = 8192 ]'
expect "arrays: 11 -> 1 allocations per batch" \
	'between "$(per_unit arrays base)" 10.999 11.001 && between "$(per_unit arrays new)" 0.999 1.001'

# 5 JSON encoding per request (seed 003's real example): 45 -> 12
expect "json: 45 -> 12 allocations per request" \
	'between "$(per_unit json base)" 44.999 45.001 && between "$(per_unit json new)" 11.999 12.001'

# 6 where pooling does not pay (seeds 001, 004): stack, not pool
expect "tiny: top site distance" '[ "$(top tiny_before function)" = distance ]'
expect "tiny: remedy stack, not pool" '[ "$(top tiny_before remedy)" = stack ]'
expect "tiny: 1 -> 0 per unit" \
	'between "$(per_unit tiny base)" 0.999 1.001 && between "$(per_unit tiny new)" 0 0.0001'

# 7 oversized buffers (seed 000's 500 KB line): pool, with a cap warning
expect "bigbuf: top site message_buffer, pool" \
	'[ "$(top bigbuf_before function)" = message_buffer ] && [ "$(top bigbuf_before remedy)" = pool ]'
expect "bigbuf: the report flags the size spread" \
	'"$PS" report --json "$WORK"/bigbuf_before/*.pscout | jq -e ".sites[0].reasons | any(test(\"sizes spread .*cap what the pool takes back\"))" >/dev/null'
expect "bigbuf: sizes 512 B .. 500 KiB" \
	'[ "$(top bigbuf_before size_min)" = 512 ] && [ "$(top bigbuf_before size_max)" = 512000 ]'
expect "bigbuf: 1 -> about 0.01 per message (the huge ones)" \
	'between "$(per_unit bigbuf base)" 0.999 1.001 && between "$(per_unit bigbuf new)" 0.005 0.03'
finish
