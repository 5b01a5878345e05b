#!/bin/sh
# fuzz/run.sh - builds the reader's (and model's) libFuzzer target with ASan and UBSan,
# replays the regression corpus (tests/fuzz/corpus: seeds plus every
# crasher ever found), then fuzzes for FUZZ_SECONDS (default 60) more.
# New crashers land in $B/fuzz/crashes; copy them into the corpus.
set -eu
B=${POOLSCOUT_BUILD:-build}
SECONDS_TO_FUZZ=${FUZZ_SECONDS:-60}
OUT=$B/fuzz
mkdir -p "$OUT/crashes" "$OUT/work"
SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
# the reader and the whole core on top of it (the model, the ranking, the
# JSON document)
clang -g -O1 $SAN -Iinclude -Ianalyzer/core tests/fuzz/fuzz_reader.c \
	analyzer/core/*.c -o "$OUT/fuzz_reader" -ldw -lelf -lz -lm
# seeds: real profiles of small programs, made fresh
if [ ! -f "$OUT/seeds.done" ]; then
	"$B/tests/golden_fixture" "$OUT/work/golden.pscout"
	# record wants a directory of its own for each run
	rm -rf "$OUT/rec"
	"$B/poolscout" record -o "$OUT/rec" -- "$B/tests/exact" >/dev/null 2>&1
	mv "$OUT"/rec/*.pscout "$OUT/work/"
	rmdir "$OUT/rec"
	touch "$OUT/seeds.done"
fi
echo "replaying the corpus"
"$OUT/fuzz_reader" -runs=0 tests/fuzz/corpus
echo "fuzzing for $SECONDS_TO_FUZZ s"
"$OUT/fuzz_reader" -max_total_time="$SECONDS_TO_FUZZ" -max_len=65536 \
	-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$OUT/crashes/" \
	-print_final_stats=1 "$OUT/work" tests/fuzz/corpus 2>&1 | tail -5
echo "fuzz: no crash"
