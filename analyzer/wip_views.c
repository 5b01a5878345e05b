#include "commands.h"
int cmd_export(int argc, char **argv) { (void)argc; (void)argv; return usage_error("not built yet"); }
