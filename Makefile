# poolscout - an LD_PRELOAD allocation profiler that ranks pooling candidates.
#
#   make            build/libpoolscout.so and build/poolscout
#   make test       every test (unit, golden, integration, stress, fuzz smoke)
#   make demo       profile a demo app before and after its fix
#   make bench      overhead against a plain run and heaptrack, side by side
#   make install PREFIX=/usr/local
#
# Missing Debian packages are installed when run as root (mk/deps.sh).

CC ?= cc
CXX ?= g++
PREFIX ?= /usr/local
B := build
V ?= 0
Q := $(if $(filter 1,$(V)),,@)

WARN := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes \
	-Wmissing-prototypes
CFLAGS ?= -O2 -g
ALL_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -Iinclude -MMD -MP

PRELOAD_SRC := $(wildcard preload/*.c)
PRELOAD_OBJ := $(PRELOAD_SRC:%.c=$(B)/%.o)
# The hooks' hot paths are a few short loops and branches: where a jump
# crosses or ends on a 32-byte boundary, Intel CPUs since Skylake (with
# the JCC-erratum microcode) run it from the slow legacy decoder. Which
# jumps do is an accident of code layout: an unrelated change once made
# alloc_bench 45% slower (0.42 -> 0.61 s) with fewer instructions. The
# assembler keeps branches within 32-byte blocks (a few nops), where it
# can (binutils >= 2.34).
JCC_FLAG := $(shell $(CC) -Wa,-mbranches-within-32B-boundaries -x c -c \
	/dev/null -o /dev/null 2>/dev/null && echo -Wa,-mbranches-within-32B-boundaries)
PRELOAD_CFLAGS := -fPIC -fvisibility=hidden -ftls-model=initial-exec \
	-fno-omit-frame-pointer -Ipreload $(JCC_FLAG)
PRELOAD_LIBS := -lunwind -lz -ldl -lpthread

# The analyzer: a core (reader, symbolizer, model, wrappers, ranking and
# their shared presentation) and the commands on top of it.
ANALYZER_LIB_SRC := $(wildcard analyzer/core/*.c) \
	$(filter-out analyzer/cmd/main.c,$(wildcard analyzer/cmd/*.c))
ANALYZER_LIB_OBJ := $(ANALYZER_LIB_SRC:%.c=$(B)/%.o) $(B)/analyzer/profile.pb-c.o \
	$(B)/analyzer/web_assets.o
# libiberty (static only) demangles Rust's and C++'s names: no libstdc++,
# whose shared library's relocations cost every `poolscout record` (a
# build's every command) 1.6M instructions before main.
ANALYZER_LIBS := -ldw -lelf -lprotobuf-c -lz -lm -liberty
ANALYZER_CFLAGS := -Ianalyzer/core -Ianalyzer/cmd -I$(B)/analyzer

.PHONY: all deps test demo bench install clean fuzz check-warnings
all: $(B)/libpoolscout.so $(B)/poolscout

$(B)/.deps-build: mk/deps.sh
	$(Q)mkdir -p $(B)
	$(Q)sh mk/deps.sh build
	$(Q)touch $@

deps: $(B)/.deps-build

$(B)/preload/%.o: preload/%.c $(B)/.deps-build
	$(Q)mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(PRELOAD_CFLAGS) -c $< -o $@

$(B)/libpoolscout.so: $(PRELOAD_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) -shared -Wl,-z,defs -Wl,-z,nodelete -Wl,-soname,libpoolscout.so -o $@ \
		$(PRELOAD_OBJ) $(PRELOAD_LIBS)

# pprof's upstream profile.proto, as Debian packages it.
PPROF_PROTO_DIR := /usr/share/gocode/src/github.com/google/pprof/proto

$(B)/analyzer/profile.pb-c.c: $(B)/.deps-build
	$(Q)mkdir -p $(dir $@)
	@echo "  PROTOC  profile.proto"
	$(Q)protoc-c --proto_path=$(PPROF_PROTO_DIR) --c_out=$(B)/analyzer \
		$(PPROF_PROTO_DIR)/profile.proto

$(B)/analyzer/profile.pb-c.o: $(B)/analyzer/profile.pb-c.c
	$(Q)$(CC) $(CFLAGS) -std=gnu11 -I$(B)/analyzer -c $< -o $@

# The HTML pages' template, style and scripts, compiled in (analyzer/cmd/html.c).
WEB_ASSETS := $(sort $(wildcard analyzer/web/*.html analyzer/web/*.css \
	analyzer/web/*.js))

$(B)/analyzer/web_assets.c: $(WEB_ASSETS) mk/embed.sh
	$(Q)mkdir -p $(dir $@)
	@echo "  EMBED   analyzer/web/"
	$(Q)sh mk/embed.sh $(WEB_ASSETS) > $@.tmp && mv $@.tmp $@

$(B)/analyzer/web_assets.o: $(B)/analyzer/web_assets.c analyzer/cmd/html.h
	$(Q)$(CC) $(CFLAGS) -std=gnu11 -Iinclude $(ANALYZER_CFLAGS) -c $< -o $@

$(B)/analyzer/%.o: analyzer/%.c $(B)/.deps-build $(B)/analyzer/profile.pb-c.c
	$(Q)mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(ANALYZER_CFLAGS) -c $< -o $@

$(B)/libanalyzer.a: $(ANALYZER_LIB_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/poolscout: $(B)/analyzer/cmd/main.o $(B)/libanalyzer.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(ANALYZER_LIBS)

include tests/tests.mk
include demo-apps/demo.mk

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
		$(DESTDIR)$(PREFIX)/include
	install -m 755 $(B)/poolscout $(DESTDIR)$(PREFIX)/bin/poolscout
	install -m 755 $(B)/libpoolscout.so $(DESTDIR)$(PREFIX)/lib/libpoolscout.so
	install -m 644 include/poolscout.h $(DESTDIR)$(PREFIX)/include/poolscout.h

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# `make bench` (bench/run.sh): its workloads and the live-block counter.
# alloc_bench keeps the flags of the measurements in the product brief.
BENCH_PROGS := $(B)/bench/alloc_bench $(B)/bench/live_blocks \
	$(B)/bench/short_threads $(B)/bench/distinct_stacks $(B)/bench/count_live.so \
	$(B)/bench/peak_rss.so
BENCH_CFLAGS := -O2 -g -fno-builtin -fno-optimize-sibling-calls -pthread \
	-Wall -Wextra

$(B)/bench/alloc_bench: bench/alloc_bench.c
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -pthread $< -o $@

$(B)/bench/count_live.so: bench/count_live.c
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -fPIC -shared -fvisibility=hidden -Wall -Wextra $< -o $@

$(B)/bench/peak_rss.so: bench/peak_rss.c
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -fPIC -shared -fvisibility=hidden -Wall -Wextra $< -o $@

$(B)/bench/%: bench/%.c
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(BENCH_CFLAGS) $< -o $@

$(B)/.deps-bench: mk/deps.sh
	$(Q)sh mk/deps.sh bench
	$(Q)touch $@

bench: all $(BENCH_PROGS) $(B)/.deps-bench demo-apps
	$(Q)sh bench/run.sh
	$(Q)sh bench/demo.sh
