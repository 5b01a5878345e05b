/* plugin.c - a library the stress test dlopens and dlcloses in a loop;
 * its allocations must still symbolize after it is unloaded. */
#include <stdlib.h>

void *volatile plugin_sink;

__attribute__((noinline)) static void plugin_work(void)
{
	for (int i = 0; i < 10; i++) {
		void *p = malloc(40);
		plugin_sink = p;
		free(p);
	}
}

void plugin_run(void)
{
	plugin_work();
}
