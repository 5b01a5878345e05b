/* symbolize.h - offline symbolization of recorded return addresses with
 * elfutils libdwfl: function (demangled), source file and line, inlined
 * frames; separate debug info through build-id paths and .gnu_debuglink.
 * Results are cached per (module, address), so a profile with 100k stacks
 * resolves each distinct address once. */
#ifndef POOLSCOUT_SYMBOLIZE_H
#define POOLSCOUT_SYMBOLIZE_H

#include <stdint.h>

#include "profile.h"

typedef struct sym_ctx sym_ctx;

typedef struct sym_frame {
	const char *function; /* never NULL: "module+0xoffset" when unknown */
	const char *file;     /* NULL when no line information */
	unsigned line;
	int inlined;          /* inlined into the next frame */
	int runtime;          /* Rust's standard library, by its mangled name */
} sym_frame;

typedef struct sym_loc {
	const char *module;   /* path, or "?" when no module maps the address */
	uint64_t offset;      /* address within the module's ELF image */
	int resolved;         /* a function name was found */
	unsigned nframes;     /* >= 1; [0] innermost (inlined callee) */
	sym_frame *frames;
} sym_loc;

sym_ctx *sym_new(void);
/* From now on ctx opens no file: every address gets its module+offset
 * name (for untrusted profiles whose module paths may be anything). */
void sym_offline(sym_ctx *ctx);
void sym_free(sym_ctx *ctx);
/* Resolves return address ip of a stack recorded by f at map epoch. The
 * result is owned by ctx and lives until sym_free. */
const sym_loc *sym_lookup(sym_ctx *ctx, const pf_file *f, uint64_t ip,
			  uint32_t epoch);
/* Forgets what ctx keeps about the modules of f (by their address), so f
 * can be freed while the results already handed out stay valid. */
void sym_forget_file(sym_ctx *ctx, const pf_file *f);
/* One phrase on what was found for m: "debug info", "symbols only",
 * "not found on disk", "build-id differs from the profile". */
const char *sym_module_status(sym_ctx *ctx, const pf_module *m);
/* Symbol name as a reader wants it (malloc'd): Rust names (legacy and
 * v0) demangled without their hash, then C++ names; anything else as it
 * is. *runtime: a Rust name of the standard library (crates alloc, core,
 * std; <alloc::vec::Vec<T> as core::clone::Clone>::clone, but not
 * <app::Foo as core::clone::Clone>::clone). NULL for NULL. */
char *sym_demangle(const char *name, int *runtime);

#endif
