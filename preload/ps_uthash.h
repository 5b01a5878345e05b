/* ps_uthash.h - uthash configured for use inside the preload: its memory
 * comes from the internal arena (never the hooked malloc) and running out
 * of memory is reported, not fatal (the host program must not exit). The
 * report is a per-thread flag: threads add to their own tables without a
 * shared lock, so one flag for all would be a data race. */
#ifndef POOLSCOUT_PS_UTHASH_H
#define POOLSCOUT_PS_UTHASH_H

#include <stddef.h>

void *ps_arena_alloc(size_t size);
void ps_arena_free(void *p, size_t size);
extern __thread int ps_uthash_oom __attribute__((tls_model("initial-exec")));

#define uthash_malloc(sz) ps_arena_alloc(sz)
#define uthash_free(ptr, sz) ps_arena_free((ptr), (sz))
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (ps_uthash_oom = 1)
#include <uthash.h>

#endif
