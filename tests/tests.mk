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
	$(TB)/exitpaths $(TB)/dlclose_self $(TB)/unshare_user $(TB)/early_ctor $(TB)/growing \
	$(TB)/deepbind $(TB)/deepbind_lib.so $(TB)/late_frees $(TB)/forks \
	$(TB)/alloc_family $(TB)/jemalloc_api $(TB)/static_hello $(TB)/dropper \
	$(TB)/secure_dlopen $(TB)/bad_names \
	$(TB)/plugin.so
UNIT_TESTS := $(TB)/test_format $(TB)/test_reader $(TB)/test_json
INTEGRATION_TESTS := $(TB)/test_exact

$(TB)/%: tests/progs/%.c $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	@echo "  CC      $<"
	$(Q)$(CC) $(PROG_CFLAGS) $< -o $@ -ldl

$(TB)/%: tests/progs/%.cpp $(B)/.deps-build
	$(Q)mkdir -p $(TB)
	@echo "  CXX     $<"
	$(Q)$(CXX) $(PROG_CFLAGS) -std=gnu++17 $< -o $@

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
