/* secure_dlopen.c - installed setuid by the test: a process in secure
 * mode (AT_SECURE) that loads libpoolscout.so itself, with POOLSCOUT_OUT
 * in its environment. It must write no profile.
 *
 *   secure_dlopen LIB
 *
 * Prints the AT_SECURE flag it runs with; exits 0, or 2 when dlopen fails.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>

static void *volatile sink;

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
	if (!h)
		return 2;
	for (int i = 0; i < 100; i++) {
		sink = malloc(32);
		free(sink);
	}
	printf("secure=%lu\n", getauxval(AT_SECURE));
	return 0;
}
