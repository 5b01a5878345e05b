/* unwind_difflib.h - the shared library the unwinder differential test
 * calls through the PLT (unwind_difflib.c). */
#ifndef UNWIND_DIFFLIB_H
#define UNWIND_DIFFLIB_H

/* Descends depth frames inside the library, allocates there; returns how
 * many allocations it made. */
int difflib_alloc(int depth);
/* Descends depth frames inside the library, then calls cb(depth). */
void difflib_call_back(void (*cb)(int), int depth);

#endif
