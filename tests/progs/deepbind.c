/* deepbind.c - dlopens deepbind_lib.so by its bare name (found through
 * this program's RUNPATH, $ORIGIN, so a dlopen wrapper that loses the
 * caller fails to find it) and has it make DEEPBIND_PAIRS malloc/free
 * pairs.
 *
 *   deepbind deep|plain
 *
 * deep: RTLD_NOW | RTLD_DEEPBIND; plain: RTLD_NOW. Prints the number of
 * pairs the library made; exits 0, or 2 when dlopen failed.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#define DEEPBIND_PAIRS 1000

int main(int argc, char **argv)
{
	int deep = argc > 1 && !strcmp(argv[1], "deep");
	void *h = dlopen("deepbind_lib.so", RTLD_NOW | (deep ? RTLD_DEEPBIND : 0));
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 2;
	}
	int (*run)(int) = (int (*)(int))dlsym(h, "deepbind_run");
	printf("%d\n", run(DEEPBIND_PAIRS));
	return 0;
}
