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

finish
