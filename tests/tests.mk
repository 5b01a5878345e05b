# tests/tests.mk - building and running the tests (included by Makefile).
#
# Test programs are built without the optimisations that would hide what
# they test: -fno-builtin (gcc may delete a malloc/free pair) and
# -fno-optimize-sibling-calls (a tail call removes the site's frame).

TB := $(B)/tests
PROG_CFLAGS := -O2 -g -fno-builtin -fno-optimize-sibling-calls -pthread \
	-Iinclude -Wall -Wextra
CMOCKA_LIBS := -lcmocka

TEST_PROGS := $(TB)/planted $(TB)/exact $(TB)/cxx_objects $(TB)/stress $(TB)/many_stacks \
	$(TB)/plugin.so
UNIT_TESTS := $(TB)/test_format $(TB)/test_reader $(TB)/test_wrappers $(TB)/test_ranking $(TB)/test_model
INTEGRATION_TESTS := $(TB)/test_exact $(TB)/test_truth

$(TB)/%: tests/progs/%.c $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	@echo "  CC      $<"
	$(Q)$(CC) $(PROG_CFLAGS) $< -o $@ -ldl

$(TB)/%: tests/progs/%.cpp $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	@echo "  CXX     $<"
	$(Q)$(CXX) $(PROG_CFLAGS) $< -o $@

$(TB)/plugin.so: tests/progs/plugin.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(PROG_CFLAGS) -fPIC -shared $< -o $@

$(TB)/harness.o: tests/harness.c $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) $(ALL_CFLAGS) $(ANALYZER_CFLAGS) -Itests -c $< -o $@

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
	$(TB)/libudiff_plugin_a.so $(TB)/libudiff_plugin_b.so

$(TB)/libudiff_plt.so: tests/progs/unwind_difflib.c tests/progs/unwind_difflib.h
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) -O2 -g -fPIC -shared -Wall -Wextra $< -o $@

$(TB)/libudiff_plugin_a.so: tests/progs/unwind_plugin.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) -O2 -g -fPIC -shared -Wall -Wextra $< -o $@

$(TB)/libudiff_plugin_b.so: tests/progs/unwind_plugin.c
	$(Q)mkdir -p $(TB)
	$(Q)$(CC) -O1 -g -fno-omit-frame-pointer -DPLUGIN_B -fPIC -shared -Wall -Wextra $< -o $@

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
