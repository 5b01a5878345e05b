/* wrappers.h - which frames of a stack are the allocator or a wrapper
 * around it, so the frame above them is the allocation site.
 *
 * Fixed rules: frames in runtime modules (psruntime.h), code from
 * /usr/include/c++/ and the std::, __gnu_cxx:: and __cxxabiv1::
 * namespaces, the user's --wrapper expressions, and (unless
 * --no-auto-wrappers) a list of well-known wrapper names. The structural
 * rule (unless --no-auto-wrappers) finds the rest from the stacks
 * themselves, names or not: a function is a wrapper when it sits directly
 * above the allocator (or a wrapper) in nearly all the allocations it
 * takes part in, is called from several places, calls the allocator from
 * few places itself, and allocates different sizes for different callers
 * (a constructor of one fixed type is a site in its own right: its pool
 * sits there); and a function that a wrapper calls, one or two frames up,
 * in nearly all its allocations is that wrapper's internals. A function
 * whose blocks mostly die while it still runs (the preload saw it on the
 * stack at their free) uses them itself: it is never found a wrapper.
 * docs/ranking.md lists every rule and threshold.
 */
#ifndef POOLSCOUT_WRAPPERS_H
#define POOLSCOUT_WRAPPERS_H

#include "model.h"

/* Thresholds of the structural rule. */
#define WRAPPER_SITE_SHARE 0.9 /* share of its allocations where it is
				* directly above the allocator */
#define WRAPPER_MIN_CALLERS 3  /* distinct call sites that reach it */
#define WRAPPER_MAX_CALLS 3    /* places in it that call the allocator */
#define WRAPPER_OWN_SHARE 0.5  /* share of its frees made while it ran:
				* its blocks die inside it, never a wrapper */
#define WRAPPER_INSIDE 2       /* a function a wrapper calls within this
				* many frames, for nearly all of its
				* allocations, is the wrapper's internals */

typedef struct an_wrappers an_wrappers;

/* Compiles the rules. Returns NULL after printing a message on stderr
 * when a --wrapper expression does not compile. */
an_wrappers *wrappers_new(const an_opts *o);
void wrappers_free(an_wrappers *w);
/* Decides the wrapper frames of every stack (nskipped, frames, nframes,
 * via): the fixed rules, then the structural rule until nothing changes.
 * Stacks must have all/nall and their counts and size range set. */
void wrappers_apply(an_wrappers *w, an_stack *stacks, size_t n);
/* The functions the structural rule found, NULL-terminated ("module
 * function" strings owned by w), for docs and tests. */
const char *const *wrappers_found(const an_wrappers *w);

#endif
