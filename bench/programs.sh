# bench/programs.sh - the real-program workloads of `make bench` that
# tests/integration/real_world_workloads.sh does not have: jq, sort and
# clang++. Same conventions (sourced; each runs its program under the
# command prefix in $RUN, prints what the program answered, returns its
# status, uses only DIR), except that the inputs are made once by
# bp_inputs (outside the timed part) and shared by every run.
#
#   bp_inputs DIR   make DIR/records.json (~4 MB, 50k records) and
#                   DIR/lines.txt (1M lines, ~19 MB)
#   bp_jq DIR       jq: group 50k JSON records by tag, count and sum
#   bp_sort DIR     sort --parallel=2 of 1M lines
#   bp_clang DIR    clang++ -O2 -c bench/clang_input.cpp
#
# BP_INPUTS names the directory bp_inputs filled.
RUN=${RUN:-}
BP_SRC=${BP_SRC:-$PWD/bench}

bp_inputs() {
	mkdir -p "$1"
	awk 'BEGIN { printf "["
		for (i = 0; i < 50000; i++)
			printf "%s{\"id\":%d,\"name\":\"user-%d\",\"tags\":[\"t%d\",\"g%d\"],\"score\":%.1f}",
				(i ? "," : ""), i, i, i % 7, i % 11, (i * 7919) % 1000 / 10
		print "]" }' >"$1/records.json"
	awk 'BEGIN { for (i = 1; i <= 1000000; i++)
		printf "%07d line %d\n", (i * 7919) % 1000003, i }' >"$1/lines.txt"
}

bp_jq() {
	mkdir -p "$1"
	$RUN jq -c 'group_by(.tags[0]) | map({tag: .[0].tags[0], n: length,
		s: (map(.score) | add)})' "$BP_INPUTS/records.json"
}

bp_sort() {
	mkdir -p "$1"
	$RUN sort --parallel=2 -S 64M -o "$1/sorted.txt" "$BP_INPUTS/lines.txt" &&
		cksum <"$1/sorted.txt"
}

bp_clang() {
	mkdir -p "$1"
	$RUN clang++ -O2 -c "$BP_SRC/clang_input.cpp" -o "$1/clang_input.o" &&
		echo "compiled"
}
