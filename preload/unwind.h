/* unwind.h - the fast exact unwinder (unwind.c): a stack walk from compiled
 * .eh_frame rules that either produces exactly the frames libunwind's
 * unw_backtrace would, or says it cannot and leaves the walk to libunwind.
 */
#ifndef POOLSCOUT_UNWIND_H
#define POOLSCOUT_UNWIND_H

#include <stdint.h>

struct ps_stack_hash; /* ps_internal.h */

/* Why a fast walk handed over to libunwind (the negative results of
 * ps_unwind_fast). */
enum ps_unwind_result {
	PS_UNWIND_NOT_PROVABLE = -1, /* a frame's rule is not rsp/rbp+offset
				      * (signal frame, expression, PLT...) */
	PS_UNWIND_NO_MODULE = -2,    /* an address in no loaded object (JIT) */
	PS_UNWIND_STALE = -3,        /* the module map changed: re-read it */
	PS_UNWIND_BUSY = -4,         /* another thread holds the table lock */
	PS_UNWIND_NO_TABLE = -5,     /* the object has no usable .eh_frame_hdr */
	PS_UNWIND_ODD_FRAME = -6,    /* a CFA that does not move up the stack */
	PS_UNWIND_DYNAMIC = -7,      /* libunwind's JIT registry is in use */
};
#define PS_UNWIND_NREASONS 8

/* Where a walk may start instead: the state (return address, stack
 * pointer after the return, rbp) of a frame further out on the calling
 * thread's stack, read off a frame of ours whose prologue saved rbp
 * (hooks.c: the allocator hook's caller), so that the walk does not step
 * through the preload's own frames. */
struct ps_unwind_start {
	uintptr_t rip, rsp, rbp;
};

/* Walks the caller's stack. On success returns n >= 1 and ips[0..n-1] are
 * the return addresses, innermost first, starting with the one into the
 * function that called ps_unwind_fast: the same array unw_backtrace(ips,
 * max) returns when called from that function. With start (may be NULL),
 * the walk starts at that state instead: ips[0] is start->rip, and the
 * rest is what unw_backtrace returns after it (the frames between are
 * left out). Returns a negative
 * ps_unwind_result when some frame cannot be proven; then nothing in ips
 * is meaningful and the caller must use libunwind. Thread-safe; must run
 * with the caller's in_unwind flag raised (see capture.c: the module
 * tables are freed only when no thread is inside a walk). Never calls
 * malloc. max must be at least 1.
 *
 * repeated (may be NULL): set to 1 when the walk is exactly the one this
 * thread's previous call returned (same n, same addresses: that call
 * succeeded, and the stack words it read still hold what they held); then
 * only ips[0] is written. Else set to 0 and ips filled as above. */
int ps_unwind_fast(uintptr_t *ips, int max, int *repeated,
		   const struct ps_unwind_start *start);

/* The stack hash (ps_stack_hash_of) of frames skip..skip+depth-1 of the
 * walk the calling thread's last ps_unwind_fast() call returned, from
 * what the walk kept per frame (the frames it shares with the walk
 * before cost nothing). Returns 0, or -1 when that walk is not at hand
 * (the call failed, its walk was cut at max, or the window leaves it);
 * call it only after a call that succeeded. */
int ps_unwind_hash(int skip, int depth, struct ps_stack_hash *h);

/* Copies the walk the calling thread's last ps_unwind_fast() call said
 * was repeated into ips (at most max); returns its frame count. For
 * POOLSCOUT_UNWIND=check, which compares repeated walks too. */
int ps_unwind_last(uintptr_t *ips, int max);

/* Of the frames of the calling thread's last successful walk whose return
 * addresses are cand[0..n-1] (innermost first, as the walk met them),
 * the index of the innermost one still running: its return-address slot
 * lies above the caller's stack pointer and still holds the address the
 * walk read there. Returns n when none is, -1 when it cannot tell (no
 * walk at hand, a frame not found near the walk's inner end, or the
 * caller on what may be another stack). Reads only stack words between
 * the caller's frame and the walk's outermost frame, on the same stack. */
int ps_unwind_innermost_running(const uintptr_t *cand, int n);

/* Set when ps_unwind_reclaim has memory to give back. */
extern int ps_unwind_reclaim_pending;
/* Frees module tables replaced since the last call, once no other thread
 * is inside a walk (it waits for them). Call with the caller's in_unwind
 * flag down, holding no lock. */
void ps_unwind_reclaim(void);

/* The loader may have unloaded an object (dlclose): the next walk re-reads
 * the module map first. Async-signal-safe. */
void ps_unwind_modules_changed(void);

/* Re-reads the module map now if a walk or a dlclose asked for it (a
 * walk found the map stale: the objects unloaded meanwhile are noted
 * before libunwind walks that stack). Call inside a walk (in_unwind). */
void ps_unwind_refresh(void);

/* Whether one of the n addresses ips lies where an object was unloaded
 * since start (or too many were to tell). *changes: how many unloads were
 * noted so far (0: none, and the answer is 0); it grows with each. */
int ps_unwind_unloaded_among(const uintptr_t *ips, int n, uint32_t *changes);

/* Called once from the constructor, before the first walk. */
void ps_unwind_init(void);

#endif
