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
UNIT_TESTS := $(TB)/test_format $(TB)/test_reader
INTEGRATION_TESTS := $(TB)/test_exact

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
		$(B)/libanalyzer.a -o $@ $(LDFLAGS) $(ANALYZER_LIBS) $(CMOCKA_LIBS)

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

# mutation testing (slow, not part of `make test`): tests/mutation/run.py
# MUTANTS=N SEED=S FILES="reader.c hooks.c" JOBS=J; see docs/testing.md
mutation: $(B)/.deps-test
	$(Q)python3 tests/mutation/run.py

.PHONY: mutation
