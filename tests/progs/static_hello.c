/* static_hello.c - built with -static: no dynamic loader runs in it, so
 * LD_PRELOAD cannot reach it. Prints "static". */
#include <stdio.h>

int main(void)
{
	puts("static");
	return 0;
}
