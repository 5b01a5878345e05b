# tests/tests.mk - building and running the tests (included by Makefile).
#
# Test programs are built without the optimisations that would hide what
# they test: -fno-builtin (gcc may delete a malloc/free pair) and
# -fno-optimize-sibling-calls (a tail call removes the site's frame).

TB := $(B)/tests
PROG_CFLAGS := -O2 -g -fno-builtin -fno-optimize-sibling-calls -pthread \
	-Iinclude -Wall -Wextra
CMOCKA_LIBS := -lcmocka

TEST_PROGS := $(TB)/planted $(TB)/longnames $(TB)/dtor_exit $(TB)/exact $(TB)/cxx_objects $(TB)/stress $(TB)/many_stacks \
	$(TB)/exitpaths $(TB)/dlclose_self $(TB)/unshare_user $(TB)/early_ctor $(TB)/growing \
	$(TB)/deepbind $(TB)/deepbind_lib.so $(TB)/late_frees $(TB)/forks \
	$(TB)/alloc_family $(TB)/jemalloc_api $(TB)/static_hello $(TB)/dropper \
	$(TB)/secure_dlopen $(TB)/bad_names $(TB)/gen_profiles $(TB)/live_truth $(TB)/spawn_fds \
	$(TB)/thread_churn $(TB)/distinct_stacks $(TB)/short_threads $(TB)/plugin.so \
	$(TB)/same_depth $(TB)/late_touch $(TB)/summary_tree $(TB)/killed $(TB)/kill_after_ready $(TB)/slow_malloc.so $(TB)/cxx_counting_new.so $(TB)/counting_aligned.so $(TB)/gap_segments $(TB)/edge_stack \
	$(TB)/lost_batch $(TB)/sizes $(TB)/churn_memory $(TB)/reallocs $(TB)/diff_labels $(TB)/release_race $(TB)/thread_reuse $(TB)/missed_free $(TB)/own_signals $(TB)/oddnote $(TB)/renamed \
	$(TB)/obstack_chunks $(TB)/fork_faults
UNIT_TESTS := $(TB)/test_format $(TB)/test_reader $(TB)/test_wrappers $(TB)/test_ranking $(TB)/test_model $(TB)/test_json $(TB)/test_units \
	$(TB)/test_livetab $(TB)/test_stacks $(TB)/test_sample $(TB)/test_clock
INTEGRATION_TESTS := $(TB)/test_exact $(TB)/test_truth $(TB)/test_live_truth

$(TB)/%: tests/progs/%.c $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	@echo "  CC      $<"
	$(Q)$(CC) $(PROG_CFLAGS) $< -o $@ -ldl

$(TB)/%: tests/progs/%.cpp $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	@echo "  CXX     $<"
	$(Q)$(CXX) $(PROG_CFLAGS) -std=gnu++17 $< -o $@

# the bench's workloads of distinct stacks and short-lived threads, for the
# scale suite (tests/integration/scale.sh)
$(TB)/distinct_stacks $(TB)/short_threads: $(TB)/%: bench/%.c $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	@echo "  CC      $<"
	$(Q)$(CC) $(PROG_CFLAGS) $< -o $@

# a note of odd sizes before the build-id note (tests/progs/oddnote.c)
$(TB)/oddnote: tests/progs/oddnote.c tests/progs/oddnote.ld $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	@echo "  CC      $<"
	$(Q)$(CC) $(PROG_CFLAGS) $< -o $@ -Wl,--build-id -Wl,-T,tests/progs/oddnote.ld

# early_ctor links early_lib.so, so the loader runs its constructor first
$(TB)/early_lib.so: tests/progs/early_lib.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(PROG_CFLAGS) -fPIC -shared -Wl,-soname,early_lib.so $< -o $@

$(TB)/early_ctor: tests/progs/early_ctor.cpp $(TB)/early_lib.so
	@echo "  CXX     $<"
	$(Q)$(CXX) $(PROG_CFLAGS) $< -o $@ $(TB)/early_lib.so -Wl,-rpath,'$$ORIGIN'

$(TB)/deepbind_lib.so: tests/progs/deepbind_lib.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(PROG_CFLAGS) -fPIC -shared $< -o $@

# found by dlopen through the program's RUNPATH
$(TB)/deepbind: tests/progs/deepbind.c $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	@echo "  CC      $<"
	$(Q)$(CC) $(PROG_CFLAGS) $< -o $@ -ldl -Wl,--enable-new-dtags,-rpath,'$$ORIGIN'

# no dynamic loader: record must refuse it
$(TB)/static_hello: tests/progs/static_hello.c $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) -O2 -static $< -o $@

# writes profiles with tests/pswriter.h (crc32 from zlib)
$(TB)/gen_profiles: tests/progs/gen_profiles.c tests/pswriter.h $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	@echo "  CC      $<"
	$(Q)$(CC) $(PROG_CFLAGS) $< -o $@ -lz

$(TB)/plugin.so: tests/progs/plugin.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(PROG_CFLAGS) -fPIC -shared $< -o $@

$(TB)/slow_malloc.so: tests/progs/slow_malloc.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(PROG_CFLAGS) -fPIC -shared $< -o $@

# work() far past the other segments: a gap the loader splits the
# program's range at
$(TB)/gap_segments: tests/progs/gap_segments.c $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	@echo "  CC      $<"
	$(Q)$(CC) $(PROG_CFLAGS) -no-pie -Wl,--section-start=.far=0x10000000 $< -o $@

$(TB)/cxx_counting_new.so: tests/progs/cxx_counting_new.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(PROG_CFLAGS) -fPIC -shared $< -o $@

$(TB)/counting_aligned.so: tests/progs/counting_aligned.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(PROG_CFLAGS) -fPIC -shared $< -o $@ -ldl

$(TB)/harness.o: tests/harness.c $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(ALL_CFLAGS) $(ANALYZER_CFLAGS) -Itests -c $< -o $@

# the live-pointer table on its own: the test includes its source (and the
# arena's) to look inside, and stubs the rest of the preload; array
# indexes are bounds-checked (an id past the lowered limit must escape)
$(TB)/test_livetab: tests/unit/test_livetab.c tests/unit/rng.h preload/livetab.c preload/arena.c \
		$(wildcard preload/*.h) $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -fsanitize=bounds -fno-sanitize-recover=bounds \
		-Ipreload $< -o $@ -lcmocka -lpthread

# the stack table on its own, the same way
$(TB)/test_stacks: tests/unit/test_stacks.c tests/unit/rng.h preload/stacks.c preload/arena.c \
		$(wildcard preload/*.h) $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Ipreload $< -o $@ -lcmocka -lpthread

# the sampling's draws and filter on their own, the same way (libm's log
# is the reference)
$(TB)/test_sample: tests/unit/test_sample.c tests/unit/rng.h preload/sample.c \
		$(wildcard preload/*.h) $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Ipreload $< -o $@ -lcmocka -lm

# the recording's own time on a scripted tick counter, the same way
$(TB)/test_clock: tests/unit/test_clock.c preload/clock.c \
		$(wildcard preload/*.h) $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Ipreload $< -o $@ -lcmocka

$(TB)/test_%: tests/unit/test_%.c $(B)/libanalyzer.a $(TB)/harness.o
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(ANALYZER_CFLAGS) -Itests $< $(TB)/harness.o \
		$(B)/libanalyzer.a -o $@ $(LDFLAGS) $(ANALYZER_LIBS) $(CMOCKA_LIBS)

$(TB)/test_%: tests/integration/test_%.c $(B)/libanalyzer.a $(TB)/harness.o
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(ANALYZER_CFLAGS) -Itests $< $(TB)/harness.o \
		$(B)/libanalyzer.a -o $@ $(LDFLAGS) $(ANALYZER_LIBS) $(CMOCKA_LIBS) -lm

$(B)/.deps-test: mk/deps.sh
	$(Q)mkdir -p $(B)
	$(Q)sh mk/deps.sh test
	$(Q)touch $@

test-build: all $(B)/.deps-test $(TEST_PROGS) $(UNIT_TESTS) $(INTEGRATION_TESTS) demo-apps

test: test-build
	$(Q)sh tests/run.sh

.PHONY: test-build

# the golden fixture: -O0 so its return addresses map to stable lines
$(TB)/golden_fixture: tests/golden/fixture.c tests/pswriter.h include/psformat.h $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) -O0 -g -Iinclude -Itests $< -o $@ -lz

test-build: $(TB)/golden_fixture

# wrapped: a copy with symbols (the truth, read with nm) and a stripped
# one (what the tests profile)
$(TB)/wrapped-symbols: tests/progs/wrapped.c $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(PROG_CFLAGS) $< -o $@
$(TB)/wrapped: $(TB)/wrapped-symbols
	$(Q)objcopy --strip-all $< $@

test-build: $(TB)/truth $(TB)/wrapped $(TB)/test_truth

# The unwinder differential test (tests/integration/unwind_diff.sh): -O2
# and -O0 code, hand-written CFI, a library called through the PLT, and
# two plugins with different unwind rules loaded in turn at one address.
UNWIND_DIFF_PROGS := $(TB)/unwind_diff $(TB)/unwind_diff_cxx $(TB)/libudiff_plt.so \
	$(TB)/libudiff_plugin_a.so $(TB)/libudiff_plugin_b.so \
	$(TB)/libudiff_cie_plain.so $(TB)/libudiff_cie_r15.so \
	$(TB)/libudiff_cie_end.so

$(TB)/libudiff_plt.so: tests/progs/unwind_difflib.c tests/progs/unwind_difflib.h
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) -O2 -g -fPIC -shared -Wall -Wextra $< -o $@

$(TB)/libudiff_plugin_a.so: tests/progs/unwind_plugin.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) -O2 -g -fPIC -shared -Wall -Wextra $< -o $@

$(TB)/libudiff_plugin_b.so: tests/progs/unwind_plugin.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) -O1 -g -fno-omit-frame-pointer -DPLUGIN_B -fPIC -shared -Wall -Wextra $< -o $@

# Three CIEs of different content at one address (the "cie" scenario):
# one function alone in each library, linked at one fixed address, with
# neither start files nor the linker's unwind info ahead of its CIE.
UDIFF_CIE_FLAGS := -shared -nostdlib -Wl,--no-ld-generated-unwind-info \
	-Wl,-Ttext-segment=0x51000000
$(TB)/libudiff_cie_plain.so: tests/progs/unwind_cie.S
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(UDIFF_CIE_FLAGS) $< -o $@

$(TB)/libudiff_cie_r15.so: tests/progs/unwind_cie.S
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(UDIFF_CIE_FLAGS) -DRETURN_R15 $< -o $@

$(TB)/libudiff_cie_end.so: tests/progs/unwind_cie.S
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(UDIFF_CIE_FLAGS) -DOUTERMOST $< -o $@

$(TB)/unwind_diff_o0.o: tests/progs/unwind_diff_o0.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) -O0 -g -Wall -Wextra -c $< -o $@

$(TB)/unwind_diff: tests/progs/unwind_diff.c tests/progs/unwind_asm.S \
		$(TB)/unwind_diff_o0.o $(TB)/libudiff_plt.so $(B)/.deps-build
	@echo "  CC      $<"
	$(Q)$(CC) $(PROG_CFLAGS) -Itests/progs tests/progs/unwind_diff.c \
		tests/progs/unwind_asm.S $(TB)/unwind_diff_o0.o -L$(TB) -ludiff_plt \
		-Wl,-rpath,'$$ORIGIN' -o $@ -ldl

test-build: $(UNWIND_DIFF_PROGS)

# ThreadSanitizer (tests/tsan/run.sh): the preload's modules but hooks.c,
# instrumented, as a shared object of their own (so the stacks they capture
# skip their frames and keep the harness's, as in libpoolscout.so), and the
# multithreaded harness that plays hooks.c's part, with the analyzer's
# reader to check what was written. Default visibility: the harness calls
# the modules directly.
TSAN_SAN := -fsanitize=thread -fno-omit-frame-pointer
# -Wno-tsan: capture.c's and threads.c's fences for kernels without membarrier, which TSan
# does not model (fork, which that protocol serves, is not exercised here)
TSAN_CFLAGS := -O1 -g $(TSAN_SAN) $(WARN) -Wno-tsan -std=gnu11 -Iinclude \
	-Ipreload
TSAN_PRELOAD_SRC := $(filter-out preload/hooks.c preload/signals.c,$(PRELOAD_SRC))

$(TB)/tsan/libpoolscout.so: $(TSAN_PRELOAD_SRC) $(wildcard preload/*.h) \
		$(wildcard include/*.h) $(B)/.deps-build
	$(Q)mkdir -p $(dir $@)
	@echo "  CC      $@ (ThreadSanitizer)"
	$(Q)$(CC) $(TSAN_CFLAGS) -fPIC -ftls-model=initial-exec -shared \
		-Wl,-soname,libpoolscout.so -o $@ $(TSAN_PRELOAD_SRC) $(PRELOAD_LIBS)

# -fno-inline and no sibling calls or identical-code folding: every frame of
# the harness's allocation paths stays a frame of its own
$(TB)/tsan/harness: tests/tsan/harness.c analyzer/core/reader.c \
		analyzer/core/memory.c analyzer/core/progress.c \
		$(TB)/tsan/libpoolscout.so
	@echo "  CC      $@ (ThreadSanitizer)"
	$(Q)$(CC) $(TSAN_CFLAGS) -Ianalyzer/core -fno-inline \
		-fno-optimize-sibling-calls -fno-ipa-icf -o $@ tests/tsan/harness.c \
		analyzer/core/reader.c analyzer/core/memory.c \
		analyzer/core/progress.c -L$(TB)/tsan -lpoolscout -Wl,-rpath,'$$ORIGIN' -lz -lpthread

test-build: $(TB)/tsan/harness

# The preload itself under AddressSanitizer and UBSan (tests/asan_preload.sh),
# for programs run with the ASan runtime preloaded after it, so that its
# hooks come first. hooks.c gets UBSan only: with the hooks in front of
# ASan's, the runtime's own start-up (dlsym while it sets up its
# interceptors) calls our malloc before ASan's shadow memory exists, where
# any instrumented load faults. The other modules run only once it is up:
# PS_START_AT_CONSTRUCTOR keeps the first hook call from starting the
# profile (the normal build starts there, to see constructors that run
# before ours); ASan's runtime is up by our constructor.
AP := $(B)/asan-preload
ASAN_PRELOAD_UBSAN := -fsanitize=undefined -fno-sanitize-recover=all
ASAN_PRELOAD_SAN := -fsanitize=address $(ASAN_PRELOAD_UBSAN)
ASAN_PRELOAD_OBJ := $(PRELOAD_SRC:preload/%.c=$(AP)/%.o)

$(AP)/%.o: preload/%.c $(B)/.deps-build
	$(Q)mkdir -p $(AP)
	@echo "  CC      $< (AddressSanitizer, UBSan)"
	$(Q)$(CC) -O1 -g $(WARN) -std=gnu11 -Iinclude -MMD -MP $(PRELOAD_CFLAGS) \
		$(ASAN_PRELOAD_SAN) -c $< -o $@
$(AP)/hooks.o: ASAN_PRELOAD_SAN := $(ASAN_PRELOAD_UBSAN) -DPS_START_AT_CONSTRUCTOR

$(AP)/libpoolscout.so: $(ASAN_PRELOAD_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) -fsanitize=address,undefined -shared -Wl,-z,defs \
		-Wl,-soname,libpoolscout.so -o $@ $(ASAN_PRELOAD_OBJ) $(PRELOAD_LIBS)

test-build: $(AP)/libpoolscout.so

# a non-PIE program whose dynamic symbols define "malloc" (a PLT entry:
# its address taken in code, without -fPIC), with early_lib.so's
# constructor (kept without a reference: --no-as-needed)
$(TB)/nopie_addr: tests/progs/nopie_addr.c $(TB)/early_lib.so $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) -O2 -g -no-pie -fno-pic -fno-builtin $< -o $@ \
		-Wl,--no-as-needed $(TB)/early_lib.so -Wl,-rpath,'$$ORIGIN'

test-build: $(TB)/nopie_addr

# symbols: built with -g, but one file of it without (a function the
# symbol table names and no line table covers)
$(TB)/symbols_nodebug.o: tests/progs/symbols_nodebug.c $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(filter-out -g,$(PROG_CFLAGS)) -g0 -c $< -o $@

$(TB)/symbols: tests/progs/symbols.c $(TB)/symbols_nodebug.o
	@echo "  CC      $<"
	$(Q)$(CC) $(PROG_CFLAGS) $< $(TB)/symbols_nodebug.o -o $@

test-build: $(TB)/symbols

# A library closed and another loaded at its address (robust.sh): one
# source under two names, the same size, both linked at one fixed address
# (p_vaddr 0x50000000, not 0): ld.so asks the kernel for that address,
# so bravo lands where alpha was, whatever the preload mapped meanwhile.
RELOAD_LIB_FLAGS := -O2 -g -fPIC -shared -Wall -Wextra \
	-Wl,-Ttext-segment=0x50000000
# Their build-ids differ only past their first byte: the analyzer must
# tell the two modules apart by all of it (symbolize.c canonical_path).
RELOAD_ID := 0xab000000000000000000000000000000000000
$(TB)/libreload_alpha.so: tests/progs/reload_lib.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(RELOAD_LIB_FLAGS) -Wl,--build-id=$(RELOAD_ID)a1 $< -o $@

$(TB)/libreload_bravo.so: tests/progs/reload_lib.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(RELOAD_LIB_FLAGS) -Wl,--build-id=$(RELOAD_ID)b2 -DRELOAD_BRAVO $< -o $@

$(TB)/reload: tests/progs/reload.c $(TB)/libreload_alpha.so $(TB)/libreload_bravo.so
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(PROG_CFLAGS) $< -o $@ -ldl

test-build: $(TB)/reload

# mutation testing (slow, not part of `make test`): tests/mutation/run.py
# MUTANTS=N SEED=S FILES="reader.c hooks.c" JOBS=J; see docs/testing.md
mutation: $(B)/.deps-test
	$(Q)python3 tests/mutation/run.py

.PHONY: mutation

# nodebug_sites: a whole program without -g, not stripped (views.sh: two
# calls of one function named by the symbol table alone)
$(TB)/nodebug_sites: tests/progs/nodebug_sites.c $(B)/.deps-build
	@echo "  CC      $<"
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(filter-out -g,$(PROG_CFLAGS)) -g0 $< -o $@

test-build: $(TB)/nodebug_sites

# stripped_via: a program stripped of every symbol whose unnamed wrapper
# is reached from two calls of one unnamed function (views.sh)
$(TB)/stripped_via: tests/progs/stripped_via.c $(B)/.deps-build
	@echo "  CC      $<"
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(filter-out -g,$(PROG_CFLAGS)) -g0 -s $< -o $@

test-build: $(TB)/stripped_via

# libsite: allocations inside the system's zlib (views.sh: the note on
# sites in a library)
$(TB)/libsite: tests/progs/libsite.c $(B)/.deps-build
	@echo "  CC      $<"
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(PROG_CFLAGS) $< -o $@ -lz

test-build: $(TB)/libsite

# fork while a thread is held inside the fast walk (unwind_diff.sh)
test-build: $(TB)/fork_in_walk

# a runtime-named library with a large .bss allocating for its caller
# (test_truth.c, test_site_under_runtime_bss)
$(TB)/libmimalloc-psbss.so: tests/progs/runtime_bss_lib.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(PROG_CFLAGS) -fPIC -shared $< -o $@

test-build: $(TB)/runtime_bss $(TB)/libmimalloc-psbss.so

# A library inside the gap between the program's segments (unwind_diff.sh):
# the program links far_table at 0x200000000 (8 GiB, past 4 GiB from the
# rest), the library at 0x80000000 (p_vaddr not 0: ld.so asks the kernel
# for that address, free in a program not position-independent)
$(TB)/libgap_inner.so: tests/progs/gap_inner_lib.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(PROG_CFLAGS) -fPIC -shared -Wl,-Ttext-segment=0x80000000 $< -o $@

$(TB)/gap_inner: tests/progs/gap_inner.c $(TB)/libgap_inner.so $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	@echo "  CC      $<"
	$(Q)$(CC) $(PROG_CFLAGS) -no-pie -Wl,--section-start=.far=0x200000000 $< \
		-o $@ -L$(TB) -lgap_inner -Wl,-rpath,'$$ORIGIN'

test-build: $(TB)/gap_inner

# dlsym_alloc.so: a dlsym wrapper that allocates, preloaded after the
# preload (robust.sh: the bootstrap pool's blocks never reach free)
$(TB)/dlsym_alloc.so: tests/progs/dlsym_alloc.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(PROG_CFLAGS) -fPIC -shared $< -o $@ -ldl

test-build: $(TB)/dlsym_alloc.so
