#include "commands.h"
int cmd_report(int argc, char **argv) { (void)argc; (void)argv; return usage_error("report: not built yet"); }
int cmd_top(int argc, char **argv) { (void)argc; (void)argv; return usage_error("not built yet"); }
int cmd_threads(int argc, char **argv) { (void)argc; (void)argv; return usage_error("not built yet"); }
int cmd_diff(int argc, char **argv) { (void)argc; (void)argv; return usage_error("not built yet"); }
int cmd_export(int argc, char **argv) { (void)argc; (void)argv; return usage_error("not built yet"); }
