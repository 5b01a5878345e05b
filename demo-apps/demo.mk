# demo-apps/demo.mk - the demo apps and `make demo` (included by Makefile).
# Built like the test programs: no builtin malloc elision, no tail calls.

DB := $(B)/demo
DEMO_CFLAGS := -O2 -g -fno-builtin -fno-optimize-sibling-calls -pthread \
	-Iinclude -Wall -Wextra
DEMO_SCENARIOS := logger handler strings arrays json tiny bigbuf
DEMO_APPS := $(foreach s,$(DEMO_SCENARIOS),$(DB)/$(s)_before $(DB)/$(s)_after)

$(DB)/%: demo-apps/*/%.c demo-apps/demo.h include/poolscout.h $(B)/.deps-build
	$(Q)mkdir -p $(DB)
	@echo "  CC      $<"
	$(Q)$(CC) $(DEMO_CFLAGS) $< -o $@ -lm

demo-apps: $(DEMO_APPS)

demo: all $(DEMO_APPS)
	$(Q)rm -rf $(DB)/before $(DB)/after
	@echo; echo "== scenario 1: a concurrent JSON logger (seed 000), before the fix"
	$(Q)$(B)/poolscout record -o $(DB)/before -- $(DB)/logger_before 4 50000 >/dev/null
	@echo; echo "== the ranked report of the before run"
	$(Q)$(B)/poolscout report -n 5 $(DB)/before/*.pscout
	@echo "== the fix: a per-thread buffer that keeps its capacity (demo-apps/logger/logger_after.c)"
	$(Q)$(B)/poolscout record -o $(DB)/after -- $(DB)/logger_after 4 50000 >/dev/null
	@echo; echo "== poolscout diff before after (allocations per log line)"
	$(Q)$(B)/poolscout diff $(DB)/before $(DB)/after
	@echo; echo "== the same as pages for a browser (one self-contained file each)"
	$(Q)$(B)/poolscout report --html $(DB)/report.html $(DB)/before/*.pscout
	$(Q)$(B)/poolscout diff --html $(DB)/diff.html $(DB)/before $(DB)/after
	@echo "   report: file://$(abspath $(DB)/report.html)"
	@echo "   diff:   file://$(abspath $(DB)/diff.html)"

.PHONY: demo demo-apps
