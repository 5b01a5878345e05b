/* symbolize.c - return addresses to functions, files and lines (see
 * symbolize.h). Each module gets its own Dwfl session, reported at load
 * bias 0 (its segments at their own p_vaddr, which is not 0 for a library
 * linked at a fixed address), so an address is looked up as (ip - load
 * bias - 1), the ELF address: the "- 1" moves a return address back into
 * the call instruction. A module whose
 * file on disk has another build-id than the profile recorded is not
 * used: it would give wrong names; its frames show as module+offset. */
#define _GNU_SOURCE
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memory.h"
#include "symbolize.h"
#include "uthash.h"

#include <libiberty/demangle.h>

enum mod_status { MOD_DEBUG, MOD_SYMBOLS, MOD_MISSING, MOD_MISMATCH };

struct sym_mod {
	char *key; /* path + '\0'-free build-id hex */
	char *path;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	Dwarf_CFI *cfi;  /* .eh_frame: which addresses have unwind info */
	const uint8_t *eh_table; /* .eh_frame_hdr's (start, FDE) table */
	size_t eh_count;
	uint64_t eh_vaddr;       /* .eh_frame_hdr's address */
	int cfi_tried;
	/* function symbols sharing an address, the name to show for each
	 * (best_alias), sorted by address; made on first use */
	struct alias *aliases;
	size_t naliases;
	int aliases_made;
	enum mod_status status;
	UT_hash_handle hh;
};

struct alias {
	uint64_t addr;
	const char *name; /* libdwfl's (valid while the module is), or owned */
	unsigned rank;
	int owned;        /* a versioned name without its @VERSION */
};

struct sym_cache {
	struct {
		const struct sym_mod *mod;
		uint64_t addr;
	} key;
	sym_loc loc;
	UT_hash_handle hh;
};

/* pf_module -> its sym_mod, so a lookup does not rebuild the key. */
struct mod_ref {
	const pf_module *pm;
	struct sym_mod *mod;
	UT_hash_handle hh;
};

/* The first path seen for a build-id: the same object installed twice
 * (/usr/bin/git and /usr/lib/git-core/git) is one module to the views. */
struct canon {
	char *build_id; /* hex */
	char *path;
	UT_hash_handle hh;
};

struct sym_ctx {
	int offline; /* sym_offline(): open nothing */
	struct canon *canon;
	struct sym_mod *mods;
	struct mod_ref *refs;
	struct sym_cache *cache;
	struct sym_cache *unmapped; /* addresses outside every module */
	char *debuginfo_path;
};

static const char *const status_text[] = {
	"debug info", "symbols only", "not found on disk",
	"build-id differs from the profile",
};

void sym_offline(sym_ctx *ctx)
{
	ctx->offline = 1;
}

sym_ctx *sym_new(void)
{
	sym_ctx *ctx = xcalloc(1, sizeof *ctx);
	ctx->debuginfo_path = xstrdup("+:.debug:/usr/lib/debug");
	return ctx;
}

static void free_loc(sym_loc *loc)
{
	for (unsigned i = 0; i < loc->nframes; i++) {
		free((char *)loc->frames[i].function);
		free((char *)loc->frames[i].file);
	}
	free(loc->frames);
	free((char *)loc->module);
}

void sym_free(sym_ctx *ctx)
{
	if (!ctx)
		return;
	struct sym_cache *c, *ct;
	HASH_ITER(hh, ctx->cache, c, ct) {
		HASH_DEL(ctx->cache, c);
		free_loc(&c->loc);
		free(c);
	}
	HASH_ITER(hh, ctx->unmapped, c, ct) {
		HASH_DEL(ctx->unmapped, c);
		free_loc(&c->loc);
		free(c);
	}
	struct mod_ref *r, *rt;
	HASH_ITER(hh, ctx->refs, r, rt) {
		HASH_DEL(ctx->refs, r);
		free(r);
	}
	struct sym_mod *m, *mt;
	HASH_ITER(hh, ctx->mods, m, mt) {
		HASH_DEL(ctx->mods, m);
		if (m->cfi)
			dwarf_cfi_end(m->cfi);
		if (m->dwfl)
			dwfl_end(m->dwfl);
		for (size_t i = 0; i < m->naliases; i++)
			if (m->aliases[i].owned)
				free((char *)m->aliases[i].name);
		free(m->aliases);
		free(m->key);
		free(m->path);
		free(m);
	}
	struct canon *k, *kt;
	HASH_ITER(hh, ctx->canon, k, kt) {
		HASH_DEL(ctx->canon, k);
		free(k->build_id);
		free(k->path);
		free(k);
	}
	free(ctx->debuginfo_path);
	free(ctx);
}

/* The name a module goes by: its path, or the path first seen with the
 * same build-id. */
static const char *canonical_path(sym_ctx *ctx, const pf_module *pm)
{
	if (!pm->build_id_len)
		return pm->path;
	char hex[130];
	for (uint32_t i = 0; i < pm->build_id_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", pm->build_id[i]);
	struct canon *k;
	HASH_FIND_STR(ctx->canon, hex, k);
	if (!k) {
		k = xcalloc(1, sizeof *k);
		k->build_id = xstrdup(hex);
		k->path = xstrdup(pm->path);
		HASH_ADD_KEYPTR(hh, ctx->canon, k->build_id, strlen(k->build_id), k);
	}
	return k->path;
}

static struct sym_mod *open_module_by_key(sym_ctx *ctx, const pf_module *pm);

static struct sym_mod *open_module(sym_ctx *ctx, const pf_module *pm)
{
	struct mod_ref *r;
	HASH_FIND_PTR(ctx->refs, &pm, r);
	if (r)
		return r->mod;
	r = xcalloc(1, sizeof *r);
	r->pm = pm;
	r->mod = open_module_by_key(ctx, pm);
	HASH_ADD_PTR(ctx->refs, pm, r);
	return r->mod;
}

/* The session for a module path and build-id, shared by every file (and
 * process) that loaded the same object. */
static struct sym_mod *open_module_by_key(sym_ctx *ctx, const pf_module *pm)
{
	/* "PATH#BUILDID" in hex, whole however long the path */
	static const char hex[] = "0123456789abcdef";
	size_t plen = strlen(pm->path);
	char *key = xmalloc(plen + 2 + 2 * (size_t)pm->build_id_len);
	memcpy(key, pm->path, plen);
	char *k = key + plen;
	*k++ = '#';
	for (uint32_t i = 0; i < pm->build_id_len; i++) {
		*k++ = hex[pm->build_id[i] >> 4];
		*k++ = hex[pm->build_id[i] & 15];
	}
	*k = 0;
	struct sym_mod *m;
	HASH_FIND_STR(ctx->mods, key, m);
	if (m) {
		free(key);
		return m;
	}
	m = xcalloc(1, sizeof *m);
	m->key = key;
	m->path = xstrdup(pm->path);
	m->status = MOD_MISSING;
	HASH_ADD_KEYPTR(hh, ctx->mods, m->key, strlen(m->key), m);

	static Dwfl_Callbacks callbacks = {
		.find_elf = dwfl_build_id_find_elf,
		.find_debuginfo = dwfl_standard_find_debuginfo,
		.section_address = dwfl_offline_section_address,
	};
	callbacks.debuginfo_path = &ctx->debuginfo_path;
	if (ctx->offline || pm->path[0] != '/' || access(pm->path, R_OK))
		return m;
	m->dwfl = dwfl_begin(&callbacks);
	if (!m->dwfl)
		return m;
	dwfl_report_begin(m->dwfl);
	const char *base = strrchr(pm->path, '/');
	m->mod = dwfl_report_elf(m->dwfl, base ? base + 1 : pm->path, pm->path,
				 -1, 0, true);
	dwfl_report_end(m->dwfl, NULL, NULL);
	if (!m->mod)
		return m;
	const unsigned char *bits;
	GElf_Addr vaddr;
	int len = dwfl_module_build_id(m->mod, &bits, &vaddr);
	if (pm->build_id_len && (len != (int)pm->build_id_len ||
				 memcmp(bits, pm->build_id, (size_t)len))) {
		m->status = MOD_MISMATCH;
		m->mod = NULL;
		return m;
	}
	Dwarf_Addr bias;
	m->status = dwfl_module_getdwarf(m->mod, &bias) ? MOD_DEBUG
							: MOD_SYMBOLS;
	return m;
}

void sym_forget_file(sym_ctx *ctx, const pf_file *f)
{
	for (size_t i = 0; i < f->nmodules; i++) {
		const pf_module *pm = &f->modules[i];
		struct mod_ref *r;
		HASH_FIND_PTR(ctx->refs, &pm, r);
		if (r) {
			HASH_DEL(ctx->refs, r);
			free(r);
		}
	}
}

const char *sym_module_status(sym_ctx *ctx, const pf_module *m)
{
	return status_text[open_module(ctx, m)->status];
}

/* Crates of Rust's standard library, and of the allocator shims it
 * makes for every program. */
static int rust_std_crate(const char *name, size_t len)
{
	static const char *const crates[] = { "alloc", "core", "std",
					      "__rustc" };
	for (size_t i = 0; i < sizeof crates / sizeof *crates; i++)
		if (len == strlen(crates[i]) && !memcmp(name, crates[i], len))
			return 1;
	return 0;
}

/* A demangled path rooted at one of those crates. */
static int rust_std_path(const char *p)
{
	size_t len = strcspn(p, ":<>[]()&* ");
	return !strncmp(p + len, "::", 2) && rust_std_crate(p, len);
}

/* Whether demangled Rust name d is the standard library's code, where
 * the symbol does not say which crate wrote it (legacy symbols; a v0
 * trait's default method): a path rooted at alloc, core or std; an
 * inherent impl of one of their types or of a type of no crate (only
 * they can write <[_]>::to_vec_in); or one of their traits for one of
 * their types or a type of no crate, as legacy symbols write generic
 * impls (<&mut W as core::fmt::Write>::write_str). The program's own
 * types and traits are its own code (<app::Foo as core::clone::Clone>).
 * trait_only: by the trait alone (a trait's default method is written
 * where the trait is). */
static int rust_std_name(const char *d, int trait_only)
{
	if (*d != '<')
		return rust_std_path(d);
	const char *self = d + 1, *as = NULL, *end = NULL;
	int depth = 0;
	for (const char *p = self; *p && !end; p++) {
		if (*p == '<' || *p == '[' || *p == '(')
			depth++;
		else if ((*p == '>' || *p == ']' || *p == ')') && --depth < 0)
			end = p;
		if (!depth && !as && !strncmp(p, " as ", 4))
			as = p;
	}
	if (!end)
		return 0;
	if (trait_only)
		return as && rust_std_name(as + 4, 0);
	const char *self_end = as ? as : end;
	self += strspn(self, "&*[(");
	static const char *const words[] = { "mut ", "const ", "dyn " };
	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		if (!strncmp(self, words[i], strlen(words[i])))
			self += strlen(words[i]);
	int self_std = rust_std_path(self) ||
		       !memmem(d, (size_t)(self_end - d), "::", 2);
	return self_std && (!as || rust_std_name(as + 4, 0));
}

/* The crate that wrote the item v0 symbol p names (after "_R"): the
 * leftmost crate root through nested paths (N), generic arguments (I)
 * and impls (M, X: their own path, where the impl was written). 1 when
 * found; 2 for a trait's default method (Y, a type before the trait's
 * path); 0 otherwise (an encoding version after _R, which no compiler
 * writes yet). Only for a symbol rust_demangle took: well formed, its
 * lengths within it. */
static int v0_crate(const char *p, const char **crate, size_t *len)
{
	for (;;) {
		switch (*p) {
		case 'N': /* and a namespace letter */
			p += 2;
			continue;
		case 'I':
			p++;
			continue;
		case 'Y':
			return 2;
		case 'M':
		case 'X':
		case 'C': {
			int root = *p++ == 'C';
			if (*p == 's') /* a disambiguator, s<base-62>_ */
				p = strchr(p, '_') + 1;
			if (!root)
				continue;
			/* (a Punycode name, u<length>, reads as length 0) */
			char *name;
			*len = strtoul(p, &name, 10);
			/* a name that starts with a digit or _ has a _ first */
			*crate = name + (*name == '_');
			return 1;
		}
		default:
			return 0;
		}
	}
}

char *sym_demangle(const char *name, int *runtime)
{
	*runtime = 0;
	if (!name)
		return NULL;
	/* Rust first: its legacy names are valid C++ names too (the C++
	 * demangler leaves their hash and $LT$ escapes). */
	char *d = rust_demangle(name, DMGL_PARAMS);
	if (d) {
		const char *crate;
		size_t len;
		int v0 = name[1] == 'R' ? v0_crate(name + 2, &crate, &len) : 0;
		*runtime = v0 == 1 ? rust_std_crate(crate, len)
				   : rust_std_name(d, v0 == 2);
		return d;
	}
	if (name[0] == '_' && name[1] == 'Z') {
		d = cplus_demangle_v3(name, DMGL_PARAMS | DMGL_TYPES);
		if (d)
			return d;
	}
	return xstrdup(name);
}

/* The DIE's linkage name when it is mangled (C++, Rust): it says more
 * than the plain name (namespaces, parameters). Any other is an
 * assembler label (glibc's __GI___strdup for __strdup), or NULL. */
static const char *mangled_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name = NULL;
	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
		name = dwarf_formstring(&attr);
	if (name && (!strncmp(name, "_Z", 2) || !strncmp(name, "_R", 2)))
		return name;
	return NULL;
}

/* The name of a subprogram or inlined subroutine DIE, following
 * DW_AT_abstract_origin and DW_AT_specification; demangled. */
static char *die_name(Dwarf_Die *die, int *runtime)
{
	Dwarf_Attribute attr;
	const char *name = mangled_name(die);
	if (!name)
		name = dwarf_diename(die);
	if (!name && dwarf_attr_integrate(die, DW_AT_name, &attr))
		name = dwarf_formstring(&attr);
	return sym_demangle(name, runtime);
}

static void push_frame(sym_loc *loc, char *function, int runtime,
		       const char *file, unsigned line, int inlined)
{
	loc->frames = xrealloc(loc->frames,
			       (loc->nframes + 1) * sizeof *loc->frames);
	loc->frames[loc->nframes++] = (sym_frame){
		.function = function,
		.file = file ? xstrdup(file) : NULL,
		.line = line,
		.inlined = inlined,
		.runtime = runtime,
	};
}

/* How plainly a name names its function, lower is plainer: its leading
 * underscores, and one more for glibc's internal prefixes (strdup is
 * also __strdup, and with glibc's debug symbols __GI___strdup; fopen is
 * _IO_fopen and _IO_new_fopen). */
static unsigned plainness(const char *name)
{
	unsigned under = 0;
	while (name[under] == '_' && under < 255)
		under++;
	if (!strncmp(name + under, "IO_", 3) || !strncmp(name + under, "GI_", 3))
		under++;
	return under;
}

/* A symbol's order among its aliases, best first: plainer, then exported
 * (global, then weak) before local. */
static unsigned alias_rank(const GElf_Sym *sym, const char *name)
{
	unsigned bind = GELF_ST_BIND(sym->st_info);
	unsigned rank = bind == STB_GLOBAL || bind == STB_GNU_UNIQUE ? 0
			: bind == STB_WEAK			     ? 1
								     : 2;
	return plainness(name) << 2 | rank;
}

static int alias_cmp(const void *a, const void *b)
{
	const struct alias *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The plainest name of the function at start among the module's symbols
 * there, when name is one of them and that one is plainer (fewer leading
 * underscores: __libc_start_main_impl stays, though __libc_start_main is
 * exported); else name (a DWARF name no symbol has, a clone's, foo for
 * foo.constprop.0, stays). A versioned name (fputs@@GLIBC_2.2.5) is
 * taken without its version. */
static const char *best_alias(struct sym_mod *m, uint64_t start,
			      const char *name)
{
	if (!m->aliases_made) {
		m->aliases_made = 1;
		int n = dwfl_module_getsymtab(m->mod);
		for (int i = 1; i < n; i++) {
			GElf_Sym sym;
			GElf_Addr value;
			const char *s = dwfl_module_getsym_info(m->mod, i, &sym,
								&value, NULL,
								NULL, NULL);
			int type = GELF_ST_TYPE(sym.st_info);
			if (!s || !*s || *s == '@' ||
			    (type != STT_FUNC && type != STT_GNU_IFUNC))
				continue;
			const char *at = strchr(s, '@');
			if ((m->naliases & (m->naliases - 1)) == 0) /* 0, 1, 2, 4 */
				m->aliases = xrealloc(m->aliases,
						      (m->naliases ? 2 * m->naliases
								   : 1) *
							      sizeof *m->aliases);
			if (at)
				s = xasprintf("%.*s", (int)(at - s), s);
			m->aliases[m->naliases++] = (struct alias){
				value, s, alias_rank(&sym, s), at != NULL
			};
		}
		if (m->naliases)
			qsort(m->aliases, m->naliases, sizeof *m->aliases,
			      alias_cmp);
	}
	size_t lo = 0, hi = m->naliases;
	while (lo < hi) { /* the first at start: the best there */
		size_t mid = lo + (hi - lo) / 2;
		if (m->aliases[mid].addr < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < m->naliases && m->aliases[i].addr == start; i++)
		if (!strcmp(m->aliases[i].name, name))
			return plainness(m->aliases[lo].name) < plainness(name)
				       ? m->aliases[lo].name
				       : name;
	return name;
}

/* A C function's name (no mangled one) as its plainest alias, so that a
 * library with debug symbols names it as one without (strdup, not
 * __strdup). Takes name; returns it or its replacement. */
static char *plain_c_name(struct sym_mod *m, Dwarf_Die *die, Dwarf_Addr bias,
			  char *name)
{
	Dwarf_Addr low, base, end;
	if (mangled_name(die))
		return name;
	/* its entry: its low pc, or its first address range's start (a
	 * function split into a hot and a cold part has ranges) */
	if (dwarf_entrypc(die, &low) != 0 &&
	    dwarf_ranges(die, 0, &base, &low, &end) <= 0)
		return name;
	const char *alias = best_alias(m, low + bias, name);
	if (alias == name || !strncmp(alias, "_Z", 2) || !strncmp(alias, "_R", 2))
		return name;
	free(name);
	return xstrdup(alias);
}

static void resolve(struct sym_mod *m, uint64_t addr, sym_loc *loc)
{
	Dwfl_Module *mod = m->mod;
	const char *file = NULL;
	int line = 0;
	Dwfl_Line *dl = dwfl_module_getsrc(mod, addr);
	if (dl)
		file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);

	Dwarf_Addr bias = 0;
	Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, &bias);
	Dwarf_Die *scopes = NULL, *chain = NULL;
	int nscopes = cu ? dwarf_getscopes(cu, addr - bias, &scopes) : 0;
	/* dwarf_getscopes follows an inlined instance with its abstract
	 * origin's scopes; the concrete chain of callers comes from
	 * dwarf_getscopes_die on the innermost scope (as eu-addr2line -i). */
	if (nscopes > 0) {
		int n = dwarf_getscopes_die(&scopes[0], &chain);
		free(scopes);
		scopes = chain;
		nscopes = n > 0 ? n : 0;
	}
	Dwarf_Files *files = NULL;
	size_t nfiles = 0;
	if (cu)
		dwarf_getsrcfiles(cu, &files, &nfiles);
	for (int i = 0; i < nscopes; i++) {
		int tag = dwarf_tag(&scopes[i]);
		if (tag != DW_TAG_subprogram &&
		    tag != DW_TAG_inlined_subroutine)
			continue;
		int runtime;
		char *name = die_name(&scopes[i], &runtime);
		if (!name)
			name = xstrdup("??");
		if (tag == DW_TAG_subprogram)
			name = plain_c_name(m, &scopes[i], bias, name);
		push_frame(loc, name, runtime, file,
			   (unsigned)(line > 0 ? line : 0),
			   tag == DW_TAG_inlined_subroutine);
		if (tag == DW_TAG_subprogram)
			break;
		/* The caller's position is this inlined call's call site. */
		Dwarf_Attribute attr;
		Dwarf_Word word;
		file = NULL;
		line = 0;
		if (dwarf_attr(&scopes[i], DW_AT_call_file, &attr) &&
		    !dwarf_formudata(&attr, &word) && files && word < nfiles)
			file = dwarf_filesrc(files, word, NULL, NULL);
		if (dwarf_attr(&scopes[i], DW_AT_call_line, &attr) &&
		    !dwarf_formudata(&attr, &word))
			line = (int)word;
	}
	free(scopes);
	if (loc->nframes) {
		loc->resolved = 1;
		return;
	}
	/* No DWARF for this address: the ELF symbol table. */
	GElf_Off off;
	GElf_Sym sym;
	const char *name = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL,
						NULL, NULL);
	if (name)
		name = best_alias(m, addr - off, name);
	if (name) {
		int runtime;
		char *d = sym_demangle(name, &runtime);
		push_frame(loc, d, runtime, file,
			   (unsigned)(line > 0 ? line : 0), 0);
		loc->resolved = 1;
	}
}

/* Bytes a DW_EH_PE pointer of encoding enc takes (0: unsupported). */
static size_t eh_pointer_size(uint8_t enc)
{
	switch (enc & 0x0f) {
	case 0x00: return 8; /* absptr on a 64-bit target */
	case 0x02: case 0x0a: return 2;
	case 0x03: case 0x0b: return 4;
	case 0x04: case 0x0c: return 8;
	}
	return 0;
}

/* Finds the binary search table of .eh_frame_hdr (PT_GNU_EH_FRAME, kept
 * by strip): sorted (function start, FDE) pairs, which give every
 * function's start even without a symbol table. Only the usual layout
 * (udata4 count, datarel sdata4 table) is read; anything else, or any
 * bound that does not hold, leaves the module without a table. */
static void load_eh_table(struct sym_mod *m)
{
	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(m->mod, &bias);
	size_t phnum, fsize;
	const char *raw = elf ? elf_rawfile(elf, &fsize) : NULL;
	if (!raw || elf_getphdrnum(elf, &phnum))
		return;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_GNU_EH_FRAME)
			continue;
		if (ph.p_offset > fsize || ph.p_filesz > fsize - ph.p_offset ||
		    ph.p_filesz < 4)
			return;
		const uint8_t *h = (const uint8_t *)raw + ph.p_offset;
		size_t skip = eh_pointer_size(h[1]);
		if (h[0] != 1 || h[2] != 0x03 || h[3] != 0x3b || !skip ||
		    ph.p_filesz < 4 + skip + 4)
			return;
		const uint8_t *p = h + 4 + skip;
		uint32_t count = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
				 (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		p += 4;
		if (count > (ph.p_filesz - (size_t)(p - h)) / 8)
			return;
		m->eh_table = p;
		m->eh_count = count;
		m->eh_vaddr = ph.p_vaddr;
		return;
	}
}

static uint64_t eh_entry_start(const struct sym_mod *m, size_t i)
{
	const uint8_t *e = m->eh_table + 8 * i;
	int32_t rel = (int32_t)((uint32_t)e[0] | (uint32_t)e[1] << 8 |
				(uint32_t)e[2] << 16 | (uint32_t)e[3] << 24);
	return m->eh_vaddr + (uint64_t)(int64_t)rel;
}

/* The start of the function holding addr (an ELF address of module m).
 * Returns 0 and sets *start, or -1 when no unwind entry covers addr. */
static int function_start(struct sym_mod *m, uint64_t addr, uint64_t *start)
{
	if (!m->cfi_tried) {
		m->cfi_tried = 1;
		GElf_Addr bias;
		Elf *elf = dwfl_module_getelf(m->mod, &bias);
		m->cfi = elf ? dwarf_getcfi_elf(elf) : NULL;
		load_eh_table(m);
	}
	if (!m->cfi || !m->eh_count)
		return -1;
	/* the covering FDE must exist ... */
	Dwarf_Frame *frame;
	if (dwarf_cfi_addrframe(m->cfi, addr, &frame))
		return -1;
	free(frame);
	/* ... and it starts at the last table entry at or below addr */
	size_t lo = 0, hi = m->eh_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (eh_entry_start(m, mid) <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -1;
	*start = eh_entry_start(m, lo - 1);
	return 0;
}

const sym_loc *sym_lookup(sym_ctx *ctx, const pf_file *f, uint64_t ip,
			  uint32_t epoch)
{
	const pf_module *pm = pf_module_for(f, ip, epoch);
	struct sym_mod *m = pm ? open_module(ctx, pm) : NULL;
	uint64_t addr = pm ? ip - pm->base - 1 : ip;
	struct sym_cache probe, *c;
	memset(&probe.key, 0, sizeof probe.key);
	probe.key.mod = m;
	probe.key.addr = addr;
	struct sym_cache **table = m ? &ctx->cache : &ctx->unmapped;
	HASH_FIND(hh, *table, &probe.key, sizeof probe.key, c);
	if (c)
		return &c->loc;
	c = xcalloc(1, sizeof *c);
	c->key = probe.key;
	c->loc.module = xstrdup(pm ? canonical_path(ctx, pm) : "?");
	c->loc.offset = addr;
	if (m && m->mod)
		resolve(m, addr, &c->loc);
	if (!c->loc.nframes) {
		/* No name: the function is "module+0xSTART", its start from
		 * the unwind tables stripped binaries keep, so the call sites
		 * of one function group together (else the address itself). */
		const char *path = pm ? canonical_path(ctx, pm) : NULL;
		const char *base = path ? strrchr(path, '/') : NULL;
		uint64_t start = addr;
		if (m && m->mod)
			function_start(m, addr, &start);
		char *name = pm ? xasprintf("%s+0x%llx", base ? base + 1 : path,
					    (unsigned long long)start)
				: xasprintf("0x%llx", (unsigned long long)ip);
		push_frame(&c->loc, name, 0, NULL, 0, 0);
	}
	HASH_ADD(hh, *table, key, sizeof c->key, c);
	return &c->loc;
}
