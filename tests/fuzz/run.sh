#!/bin/sh
# fuzz/run.sh - builds the reader's (and model's) libFuzzer target with ASan and UBSan,
# replays the regression corpus (tests/fuzz/corpus: seeds plus every
# crasher ever found) input by input, then fuzzes for FUZZ_SECONDS
# (default 60; 0 replays only, and says so with a SKIP line).
# A crash, leak, timeout or sanitizer report in either step fails the
# suite and names the input: a corpus file, or the new crasher libFuzzer
# wrote under $B/fuzz/crashes (copy it into the corpus with the fix).
# Without clang's libFuzzer runtime the suite is skipped (exit 77).
. tests/lib.sh
SECONDS_TO_FUZZ=${FUZZ_SECONDS:-60}
OUT=$B/fuzz
mkdir -p "$OUT/crashes" "$OUT/work"
SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"

# the toolchain first: a missing libFuzzer is a SKIP, our code failing to
# build with it is a failure
have clang || skip_suite fuzz_smoke "clang not installed (package clang, from mk/deps.sh test)"
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
	>"$WORK/probe.c"
clang $SAN "$WORK/probe.c" -o "$WORK/probe" >"$WORK/probe.log" 2>&1 ||
	skip_suite fuzz_smoke "clang cannot link -fsanitize=fuzzer (package libclang-rt-14-dev): $(head -1 "$WORK/probe.log")"
# shellcheck disable=SC2086
# the reader and the whole core on top of it (the model, the ranking, the
# JSON document)
if ! clang -g -O1 $SAN -Iinclude -Ianalyzer/core tests/fuzz/fuzz_reader.c \
	analyzer/core/*.c -o "$OUT/fuzz_reader" -ldw -lelf -lz -lm -liberty; then
	bad "build the fuzz target" "clang failed"
	finish
	exit 1
fi

# seeds: real profiles of small programs, made fresh
if [ ! -f "$OUT/seeds.done" ]; then
	"$B/tests/golden_fixture" "$OUT/work/golden.pscout"
	# record wants a directory of its own for each run
	rm -rf "$OUT/rec"
	"$B/poolscout" record -o "$OUT/rec" -- "$B/tests/exact" >/dev/null 2>&1
	mv "$OUT"/rec/*.pscout "$OUT/work/"
	rmdir "$OUT/rec"
	# blocks resized by realloc (format version 5's fields)
	"$B/poolscout" record -o "$OUT/rec" -- "$B/tests/truth" resized >/dev/null 2>&1
	for f in "$OUT"/rec/*.pscout; do mv "$f" "$OUT/work/resized-${f##*/}"; done
	rmdir "$OUT/rec"
	# frees inside site candidates (format version 6's fields)
	"$B/poolscout" record -o "$OUT/rec" -- "$B/tests/truth" temporaries >/dev/null 2>&1
	for f in "$OUT"/rec/*.pscout; do mv "$f" "$OUT/work/inner-${f##*/}"; done
	rmdir "$OUT/rec"
	# an END of a caught signal (format version 7's field)
	"$B/poolscout" record -o "$OUT/rec" -- sh -c 'kill -TERM $$' >/dev/null 2>&1
	for f in "$OUT"/rec/*.pscout; do mv "$f" "$OUT/work/signal-${f##*/}"; done
	rmdir "$OUT/rec"
	touch "$OUT/seeds.done"
fi

# replay: every corpus file as one run (libFuzzer stops at the first
# input that fails and names it in a "Running:" line)
n=$(ls tests/fuzz/corpus | wc -l)
if "$OUT/fuzz_reader" -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix="$WORK/replay-" tests/fuzz/corpus/* >"$WORK/replay.log" 2>&1; then
	ok "replay of the $n corpus inputs"
else
	rc=$?
	tail -40 "$WORK/replay.log"
	input=$(sed -n 's/^Running: //p' "$WORK/replay.log" | tail -1)
	bad "replay of the $n corpus inputs" "exit $rc on ${input:-an unknown input}; rerun: $OUT/fuzz_reader $input"
fi

if [ "$SECONDS_TO_FUZZ" = 0 ]; then
	skip fuzz_smoke/fuzzing "FUZZ_SECONDS=0: corpus replay only"
	finish
	exit
fi
log=$OUT/fuzz.log
echo "fuzzing for $SECONDS_TO_FUZZ s (log: $log)"
if "$OUT/fuzz_reader" -max_total_time="$SECONDS_TO_FUZZ" -max_len=65536 \
	-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$OUT/crashes/" \
	-print_final_stats=1 "$OUT/work" tests/fuzz/corpus >"$log" 2>&1; then
	tail -5 "$log"
	ok "fuzzing for $SECONDS_TO_FUZZ s: no crash"
	echo "fuzz: no crash"
else
	rc=$?
	tail -60 "$log"
	crasher=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
	bad "fuzzing for $SECONDS_TO_FUZZ s" "exit $rc; the input is ${crasher:-not written (see $log)}"
	[ -n "$crasher" ] && echo "fuzz: CRASH; reproduce: $OUT/fuzz_reader $crasher; once fixed, copy it into tests/fuzz/corpus/"
fi
finish
