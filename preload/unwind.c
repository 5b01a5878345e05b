/* unwind.c - a fast, exact x86-64 stack walk for the allocation hooks.
 *
 * libunwind's unw_backtrace walks 12-20 frames per allocation through a
 * per-thread hash of frame descriptions, ~1800 instructions a call. This
 * file does the same walk from tables compiled ahead: for every object in
 * the process it turns .eh_frame (found through .eh_frame_hdr) into sorted
 * address ranges, each with one 32-bit rule: "CFA = rsp or rbp + offset,
 * the return address is at CFA-8, the caller's rbp is at CFA-8n or
 * unchanged". An object's FDEs are compiled one at a time, the first
 * time a walk needs one of them. A walk is then, per frame, one look-up
 * in a per-thread cache (1024 slots, 16384 once a thread has missed it
 * often; binary searches on a miss), two loads and an add.
 *
 * Exactness. The result must be the array unw_backtrace returns, so the
 * rules mirror what libunwind computes (src/x86_64/Gtrace.c and
 * Gstash_frame.c of libunwind 1.6): the row is the one in effect at the
 * return address - 1, in the FDE the .eh_frame_hdr search table finds
 * there; a row is compiled only when libunwind would call it a standard
 * frame; "return address undefined" (or rbp undefined) ends the stack; a
 * return address below 0x4000 ends it too. Everything else - signal
 * frames ('S' CIEs), CFA or register expressions (PLT entries, realigned
 * stacks), a CFA in another register, opcodes libunwind does not know,
 * addresses no FDE covers, code in no object (JIT) - is compiled as "not
 * provable": when a walk meets one it stops and the caller runs libunwind
 * over the whole stack instead, so the result is libunwind's by
 * construction. The fast path only ever answers for stacks made wholly of
 * frames on which both agree.
 *
 * Reusing the previous walk. Consecutive allocations of a thread mostly
 * share the outer part of their stacks. Each thread keeps its last walk,
 * frame by frame, in one shadow stored outermost first; when a walk
 * reaches a frame with the same return address and stack pointer (and
 * rbp, if a step further out uses it) as a frame of the shadow, the rest
 * of the old walk is taken after re-checking every stack word it read -
 * the rest of a walk is a function of exactly those words, so it would
 * repeat. The check is a run of independent loads instead of a chain of
 * dependent ones, over a list of (address, value) kept per frame. The
 * shared outer part stays where it is in the shadow, with its check list
 * and its stack-hash prefixes (ps_unwind_hash: the caller's hash costs
 * only the new frames); only the new inner frames are written. A check
 * that finds a word changed names the innermost frame it belongs to, and
 * the walk goes on through it, free to join the shadow further out. The
 * commonest case, a walk wholly in pinned modules (below) that repeats
 * from state 0 on, is answered first, reading neither the module map nor
 * the rules: the walk depends on nothing else.
 *
 * Objects come and go. The tables describe the objects of one module-map
 * snapshot (dl_iterate_phdr), published through one pointer. A walk
 * (but that repeat) re-reads the map first when dlclose was called
 * (hooks.c tells us) or an address turned up outside every known object.
 * Each unpinned object a walk passes through is checked once per walk
 * against the loader's own lock-free map (_dl_find_object: same link_map,
 * range and .eh_frame_hdr), so an object unloaded behind our back
 * (glibc's own gconv modules) is noticed. Objects loaded at start-up (the
 * main program, its DT_NEEDED closure, the preloaded objects and theirs,
 * ld.so, the vDSO) are never unloaded: they are pinned, and not checked;
 * only what dlopen added later is. A table is built while holding the
 * loader's lock (inside dl_iterate_phdr), so its object cannot go away
 * meanwhile; the tables are our own mmap'd copies, so a walk never reads
 * an unloaded object. Replaced snapshots and tables are unmapped only
 * after every other thread has been seen outside a walk (the in_unwind
 * flags of capture.c's fork protocol, with the same membarrier pairing).
 *
 * Nothing here calls malloc: tables, snapshots and the per-thread caches
 * are mmap'd, so they also survive fork (the child has the same objects).
 * An ended thread's state is cleared and handed to the next thread that
 * starts (a few are kept), so short-lived threads do not each map and
 * fault in their own.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "ps_internal.h"
#include "unwind.h"

/* libunwind's registry of run-time generated unwind info (its JIT API;
 * exported, not declared in its headers). */
extern unw_word_t _U_dyn_info_list_addr(void);

/* ---- compiled rules ------------------------------------------------------
 * bits 0-1   kind
 * bit  2     CFA base: 0 = rsp, 1 = rbp
 * bit  3     the caller's rbp is saved (else unchanged)
 * bits 4-13  where: at CFA - 8 * n
 * bits 14-31 CFA offset in bytes (0 .. 2^18-1)
 */
enum rule_kind {
	RULE_NOT_PROVABLE = 0, /* hand the walk to libunwind */
	RULE_STANDARD = 1,
	RULE_END = 2,          /* the outermost frame: stop after it */
	RULE_NO_INFO = 3,      /* no usable FDE covers the address */
};
#define RULE_KIND(r) ((r) & 3u)
/* with RULE_NO_INFO: the address is past the end of the FDE the search
 * table finds for it, so libunwind finds none either (-UNW_ENOINFO) and
 * guesses (see ends_at_null_rbp) */
#define RULE_NO_FDE 4u
/* with RULE_END, only in a walk's states: ended by ends_at_null_rbp */
#define RULE_END_NULL_RBP 4u
#define RULE_CFA_RBP 4u
#define RULE_RBP_SAVED 8u
#define RULE_RBP_SLOT(r) (((r) >> 4) & 0x3ffu)
#define RULE_CFA_OFF(r) ((r) >> 14)
#define RULE_MAX_CFA_OFF ((1u << 18) - 1)
#define RULE_MAX_RBP_SLOT 0x3ffu

/* DWARF register numbers on x86-64 */
#define DWREG_RBP 6
#define DWREG_RSP 7
#define DWREG_RA 16
#define NREGS 17 /* libunwind knows rax..r15 and the return address */

/* ---- memory: mmap'd blocks ------------------------------------------------ */

struct block {
	size_t bytes;              /* the whole mapping */
	struct block *retired_next;
	struct block *owned;       /* blocks freed with this one */
	struct block *owned_next;  /* the next block of this one's owner */
};

static void *block_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	((struct block *)p)->bytes = bytes;
	return p;
}

static void block_free(void *p)
{
	struct block *b = p;
	if (!b)
		return;
	for (struct block *o = b->owned, *next; o; o = next) {
		next = o->owned_next;
		block_free(o);
	}
	munmap(b, b->bytes);
}

/* ---- one object's table ---------------------------------------------------
 * An object's .eh_frame_hdr search table is cut into chunks of CHUNK_FDES
 * entries; a chunk is compiled into rows the first time a walk needs an
 * address in it, so a big library (libLLVM: 95,000 FDEs) costs only for
 * the code that allocates. One entry a chunk: a short process (a `git
 * status`) compiles only the functions on its stacks; four a chunk, it
 * compiled three times as many, a third of what it paid the profiler.
 * The index costs 4 bytes an entry, and 8 more for each one compiled. */

#define CHUNK_FDES 1

struct uw_row {
	uint32_t start; /* offset from the object's lowest mapped address */
	uint32_t rule;
};

struct uw_chunk {
	uint32_t nrows; /* 0: could not be compiled, nothing provable */
	struct uw_row rows[];
};

struct uw_table {
	struct block block;          /* owns the blocks chunks live in */
	uintptr_t hdr;               /* in the object: read under its lock */
	uintptr_t eh_frame;
	const int32_t *entries;      /* the search table, in the object */
	uint32_t fde_count, nchunks;
	char *slab, *slab_end;       /* where the next chunk goes */
	uintptr_t lo;                /* the object's lowest mapped address */
	/* [nchunks]: its first entry's address - lo, clamped to the object
	 * (which keeps their order and what each address in it finds) */
	const uint32_t *chunk_start;
	struct uw_chunk **chunk;     /* [nchunks]: atomic; NULL until built */
};

/* The chunk covering addr, or -1. */
static int chunk_of(const struct uw_table *t, uintptr_t addr)
{
	if (addr < t->lo)
		return -1;
	uintptr_t off = addr - t->lo;
	uint32_t lo = 0, hi = t->nchunks;
	while (lo < hi) { /* first chunk starting above addr */
		uint32_t mid = (lo + hi) / 2;
		if (t->chunk_start[mid] <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (int)lo - 1;
}

/* The rule in effect at offset off (inside the chunk's range). */
static uint32_t chunk_rule(const struct uw_chunk *ch, uintptr_t off)
{
	if (!ch->nrows || ch->rows[0].start > off)
		return RULE_NO_INFO;
	uint32_t lo = 0, hi = ch->nrows - 1;
	while (lo < hi) { /* the last row with start <= off */
		uint32_t mid = (lo + hi + 1) / 2;
		if (ch->rows[mid].start <= off)
			lo = mid;
		else
			hi = mid - 1;
	}
	return ch->rows[lo].rule;
}

/* ---- reading .eh_frame ----------------------------------------------------- */

struct reader {
	const uint8_t *p, *end;
	int bad;
};

static uint64_t rd_bytes(struct reader *r, unsigned n)
{
	uint64_t v = 0;
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return 0;
	}
	memcpy(&v, r->p, n); /* little-endian */
	r->p += n;
	return v;
}

static uint64_t rd_uleb(struct reader *r)
{
	uint64_t v = 0;
	for (unsigned shift = 0; !r->bad; shift += 7) {
		if (r->p >= r->end || shift > 63) {
			r->bad = 1;
			break;
		}
		uint8_t b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	return 0;
}

static int64_t rd_sleb(struct reader *r)
{
	uint64_t v = 0;
	unsigned shift = 0;
	for (;;) {
		if (r->bad || r->p >= r->end || shift > 63) {
			r->bad = 1;
			return 0;
		}
		uint8_t b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80)) {
			if (shift < 64 && (b & 0x40))
				v |= ~(uint64_t)0 << shift;
			return (int64_t)v;
		}
	}
}

#define DW_EH_PE_omit 0xff
#define DW_EH_PE_pcrel 0x10
#define DW_EH_PE_datarel 0x30

/* Reads a pointer in encoding enc (DW_EH_PE_*). Only absolute, pc-relative
 * and (with datarel_base) data-relative values; anything else is bad. */
static uintptr_t rd_encoded(struct reader *r, uint8_t enc, uintptr_t datarel_base)
{
	uintptr_t field = (uintptr_t)r->p;
	uint64_t v;
	switch (enc & 0x0f) {
	case 0x00: v = rd_bytes(r, 8); break;
	case 0x01: v = rd_uleb(r); break;
	case 0x02: v = rd_bytes(r, 2); break;
	case 0x03: v = rd_bytes(r, 4); break;
	case 0x04: v = rd_bytes(r, 8); break;
	case 0x09: v = (uint64_t)rd_sleb(r); break;
	case 0x0a: v = (uint64_t)(int64_t)(int16_t)rd_bytes(r, 2); break;
	case 0x0b: v = (uint64_t)(int64_t)(int32_t)rd_bytes(r, 4); break;
	case 0x0c: v = rd_bytes(r, 8); break;
	default: r->bad = 1; return 0;
	}
	switch (enc & 0xf0) {
	case 0x00: break;
	case DW_EH_PE_pcrel: v += field; break;
	case DW_EH_PE_datarel:
		if (!datarel_base)
			r->bad = 1;
		v += datarel_base;
		break;
	default: r->bad = 1; /* textrel, funcrel, aligned, indirect */
	}
	return (uintptr_t)v;
}

/* ---- CIEs ------------------------------------------------------------------ */

struct cie {
	const uint8_t *addr; /* identity, for the small cache */
	const uint8_t *instr, *instr_end;
	uint64_t code_align;
	int64_t data_align;
	uint8_t fde_enc;
	uint8_t has_z;  /* augmentation data is sized */
	uint8_t usable; /* 0: every row of its FDEs is not provable */
};

/* Parses the CIE at p within [lo, hi). Mirrors libunwind's checks; a CIE
 * libunwind would treat differently, or a signal-frame CIE, comes out
 * with usable = 0 (its FDEs still delimit their ranges). Returns 0, or -1
 * when even the FDE boundaries cannot be trusted (an augmentation or a
 * version whose layout we do not know): its FDEs then give no rows, and
 * their addresses fall back to libunwind. */
static int parse_cie(const uint8_t *p, const uint8_t *lo, const uint8_t *hi,
		     struct cie *c)
{
	memset(c, 0, sizeof *c);
	c->addr = p;
	if (p < lo || p >= hi)
		return -1;
	struct reader r = { p, hi, 0 };
	uint64_t len = rd_bytes(&r, 4);
	if (len == 0xffffffffu || len == 0 || len > (uint64_t)(hi - r.p))
		return -1;
	r.end = r.p + len;
	if (rd_bytes(&r, 4) != 0) /* CIE id */
		return -1;
	c->instr = c->instr_end = r.end;
	uint8_t version = (uint8_t)rd_bytes(&r, 1);
	char aug[8];
	size_t n = 0;
	for (;;) {
		uint8_t ch = (uint8_t)rd_bytes(&r, 1);
		if (r.bad)
			return -1;
		if (!ch)
			break;
		if (n < sizeof aug - 1)
			aug[n] = (char)ch;
		n++;
	}
	aug[n < sizeof aug ? n : sizeof aug - 1] = 0;
	c->code_align = rd_uleb(&r);
	c->data_align = rd_sleb(&r);
	uint64_t ra = version == 1 ? rd_bytes(&r, 1) : rd_uleb(&r);
	if (r.bad)
		return -1;
	if (version != 1 && version != 3)
		return -1; /* 4 has more fields; others libunwind rejects */
	/* libunwind reads at most 4 augmentation characters */
	int usable = n <= 4 && ra == DWREG_RA;
	c->fde_enc = 0; /* absptr */
	if (n && aug[0] == 'z') {
		c->has_z = 1;
		uint64_t alen = rd_uleb(&r);
		if (r.bad || alen > (uint64_t)(r.end - r.p))
			return -1;
		struct reader a = { r.p, r.p + alen, 0 };
		r.p += alen;
		for (size_t i = 1; i < n && i < sizeof aug - 1; i++) {
			switch (aug[i]) {
			case 'R': c->fde_enc = (uint8_t)rd_bytes(&a, 1); break;
			case 'L': rd_bytes(&a, 1); break;
			case 'P': {
				uint8_t enc = (uint8_t)rd_bytes(&a, 1);
				if ((enc & 0x70) == 0x50)
					return -1; /* aligned: its size depends on where */
				rd_encoded(&a, enc & 0x0f, 0); /* skip the pointer */
				break;
			}
			case 'S': usable = 0; break; /* a signal frame */
			default: return -1; /* its data's size is unknown */
			}
		}
		if (a.bad)
			return -1;
	} else if (n) {
		return -1; /* an augmentation we cannot size */
	}
	c->instr = r.p;
	c->usable = (uint8_t)usable;
	if (c->code_align == 0)
		c->usable = 0;
	return 0;
}

/* ---- the CFA program ------------------------------------------------------- */

enum where { W_SAME, W_UNDEF, W_CFAREL, W_REG, W_EXPR };

struct cfi_state {
	uint8_t where[NREGS];
	int64_t off[NREGS];
	uint32_t expr_mask; /* registers whose rule is an expression */
	uint8_t cfa_expr;   /* CFA defined by an expression */
	uint8_t cfa_defined;
	uint64_t cfa_reg;
	int64_t cfa_off;
};

static inline void set_rule(struct cfi_state *st, uint64_t reg, uint8_t where,
			    int64_t off)
{
	st->where[reg] = where;
	st->off[reg] = off;
	if (where == W_EXPR)
		st->expr_mask |= 1u << reg;
	else
		st->expr_mask &= ~(1u << reg);
}

/* The compiled rule for a row, or RULE_NOT_PROVABLE when libunwind would
 * not treat it as a standard frame (Gstash_frame.c) or as the last one. */
static uint32_t rule_of(const struct cfi_state *s)
{
	if (!s->cfa_defined || s->cfa_expr ||
	    (s->cfa_reg != DWREG_RSP && s->cfa_reg != DWREG_RBP))
		return RULE_NOT_PROVABLE;
	if (s->expr_mask)
		return RULE_NOT_PROVABLE;
	uint32_t base = s->cfa_reg == DWREG_RBP ? RULE_CFA_RBP : 0;
	if (s->where[DWREG_RA] == W_UNDEF)
		return RULE_END;
	if (s->where[DWREG_RBP] == W_UNDEF)
		return base == 0 && s->cfa_off > 0 ? RULE_END : RULE_NOT_PROVABLE;
	if (s->where[DWREG_RA] != W_CFAREL || s->off[DWREG_RA] != -8)
		return RULE_NOT_PROVABLE;
	if (s->cfa_off < 0 || s->cfa_off > (int64_t)RULE_MAX_CFA_OFF)
		return RULE_NOT_PROVABLE;
	if (s->where[DWREG_RSP] == W_REG ||
	    (s->where[DWREG_RSP] == W_CFAREL &&
	     (s->off[DWREG_RSP] <= -(1 << 14) || s->off[DWREG_RSP] >= (1 << 14) ||
	      s->off[DWREG_RSP] == -1)))
		return RULE_NOT_PROVABLE;
	uint32_t rule = RULE_STANDARD | base | (uint32_t)s->cfa_off << 14;
	switch (s->where[DWREG_RBP]) {
	case W_SAME:
		return rule;
	case W_CFAREL: {
		int64_t o = s->off[DWREG_RBP];
		if (o >= 0 || o % 8 || -o / 8 > RULE_MAX_RBP_SLOT)
			return RULE_NOT_PROVABLE;
		return rule | RULE_RBP_SAVED | (uint32_t)(-o / 8) << 4;
	}
	default:
		return RULE_NOT_PROVABLE;
	}
}

/* Where the rows of one FDE go: clipped to the part of the address space
 * libunwind would look this FDE up for. */
struct row_sink {
	struct uw_row_abs {
		uintptr_t start;
		uint32_t rule;
	} *v;
	size_t n, cap;
	int overflow;
	uintptr_t clip_lo, clip_hi;
	uint32_t pending;
	int has_pending;
};

static void sink_put(struct row_sink *k, uintptr_t start, uint32_t rule)
{
	if (k->n) {
		struct uw_row_abs *last = &k->v[k->n - 1];
		if (last->start == start) { /* a later FDE takes over */
			last->rule = rule;
			return;
		}
		if (last->start > start) {
			k->overflow = 1;
			return;
		}
		if (last->rule == rule)
			return;
	}
	if (k->n == k->cap) {
		k->overflow = 1;
		return;
	}
	k->v[k->n].start = start;
	k->v[k->n].rule = rule;
	k->n++;
}

/* The row [start, next row) has this rule. */
static void sink_row(struct row_sink *k, uintptr_t start, uint32_t rule)
{
	if (start >= k->clip_hi)
		return;
	if (start <= k->clip_lo) {
		k->pending = rule;
		k->has_pending = 1;
		return;
	}
	if (k->has_pending) {
		sink_put(k, k->clip_lo, k->pending);
		k->has_pending = 0;
	}
	sink_put(k, start, rule);
}

#define STATE_STACK 16

/* Runs a CFA program over st. With k == NULL (a CIE's initial
 * instructions) locations are ignored; else rows go to k from *loc on,
 * up to loc_end. Returns 0, or -1 at an instruction libunwind would
 * reject or treat differently (the rows from there on are not provable;
 * k has them). */
static int run_cfi(const uint8_t *p, const uint8_t *end, const struct cie *c,
		   struct cfi_state *st, const struct cfi_state *initial,
		   uintptr_t *loc, uintptr_t loc_end, struct row_sink *k)
{
	struct cfi_state stack[STATE_STACK];
	int depth = 0;
	struct reader r = { p, end, 0 };
	while (r.p < r.end) {
		uint8_t op = (uint8_t)rd_bytes(&r, 1);
		uint64_t reg = 0, delta = 0;
		uintptr_t newloc = 0;
		int advance = 0; /* 1: by delta code units; 2: to newloc */
		switch (op >> 6) {
		case 1: /* DW_CFA_advance_loc */
			delta = op & 0x3f;
			advance = 1;
			break;
		case 2: /* DW_CFA_offset */
			reg = op & 0x3f;
			if (reg >= NREGS)
				goto bad;
			set_rule(st, reg, W_CFAREL, (int64_t)rd_uleb(&r) * c->data_align);
			break;
		case 3: /* DW_CFA_restore */
			reg = op & 0x3f;
			if (reg >= NREGS || !initial)
				goto bad;
			set_rule(st, reg, initial->where[reg], initial->off[reg]);
			break;
		default:
			switch (op) {
			case 0x00: /* nop */
				break;
			case 0x01: /* set_loc */
				newloc = rd_encoded(&r, c->fde_enc, 0);
				if (r.bad || newloc < *loc)
					goto bad;
				advance = 2;
				break;
			case 0x02: delta = rd_bytes(&r, 1); advance = 1; break;
			case 0x03: delta = rd_bytes(&r, 2); advance = 1; break;
			case 0x04: delta = rd_bytes(&r, 4); advance = 1; break;
			case 0x05: /* offset_extended */
			case 0x11: /* offset_extended_sf */
			case 0x2f: /* GNU_negative_offset_extended */
				reg = rd_uleb(&r);
				if (reg >= NREGS)
					goto bad;
				set_rule(st, reg, W_CFAREL,
					 op == 0x05 ? (int64_t)rd_uleb(&r) * c->data_align :
					 op == 0x11 ? rd_sleb(&r) * c->data_align :
						      -(int64_t)rd_uleb(&r) * c->data_align);
				break;
			case 0x06: /* restore_extended */
				reg = rd_uleb(&r);
				if (reg >= NREGS || !initial)
					goto bad;
				set_rule(st, reg, initial->where[reg], initial->off[reg]);
				break;
			case 0x07: /* undefined */
			case 0x08: /* same_value */
				reg = rd_uleb(&r);
				if (reg >= NREGS)
					goto bad;
				set_rule(st, reg, op == 0x07 ? W_UNDEF : W_SAME, 0);
				break;
			case 0x09: /* register */
				reg = rd_uleb(&r);
				if (reg >= NREGS || rd_uleb(&r) >= NREGS)
					goto bad;
				set_rule(st, reg, W_REG, 0);
				break;
			case 0x0a: /* remember_state */
				if (depth == STATE_STACK)
					goto bad;
				stack[depth++] = *st;
				break;
			case 0x0b: /* restore_state */
				if (!depth)
					goto bad;
				*st = stack[--depth];
				break;
			case 0x0c: /* def_cfa */
				st->cfa_reg = rd_uleb(&r);
				st->cfa_off = (int64_t)rd_uleb(&r);
				st->cfa_expr = 0;
				st->cfa_defined = 1;
				if (st->cfa_reg >= NREGS)
					goto bad;
				break;
			case 0x12: /* def_cfa_sf */
				st->cfa_reg = rd_uleb(&r);
				st->cfa_off = rd_sleb(&r) * c->data_align;
				st->cfa_expr = 0;
				st->cfa_defined = 1;
				if (st->cfa_reg >= NREGS)
					goto bad;
				break;
			case 0x0d: /* def_cfa_register */
				st->cfa_reg = rd_uleb(&r);
				st->cfa_expr = 0;
				st->cfa_defined = 1;
				if (st->cfa_reg >= NREGS)
					goto bad;
				break;
			case 0x0e: /* def_cfa_offset: keeps an expression one */
				st->cfa_off = (int64_t)rd_uleb(&r);
				break;
			case 0x13: /* def_cfa_offset_sf */
				st->cfa_off = rd_sleb(&r) * c->data_align;
				break;
			case 0x0f: { /* def_cfa_expression */
				uint64_t len = rd_uleb(&r);
				if (r.bad || len > (uint64_t)(r.end - r.p))
					goto bad;
				r.p += len;
				st->cfa_expr = 1;
				st->cfa_defined = 1;
				break;
			}
			case 0x10: /* expression */
			case 0x16: { /* val_expression */
				reg = rd_uleb(&r);
				uint64_t len = rd_uleb(&r);
				if (reg >= NREGS || r.bad ||
				    len > (uint64_t)(r.end - r.p))
					goto bad;
				r.p += len;
				set_rule(st, reg, W_EXPR, 0);
				break;
			}
			case 0x2e: /* GNU_args_size: no effect on the CFA */
				rd_uleb(&r);
				break;
			default: /* val_offset, vendor ops: libunwind differs */
				goto bad;
			}
		}
		if (r.bad)
			goto bad;
		if (advance && k) {
			if (advance == 1 &&
			    (__builtin_mul_overflow(delta, c->code_align, &delta) ||
			     __builtin_add_overflow(*loc, delta, &newloc)))
				goto bad;
			if (newloc != *loc) {
				sink_row(k, *loc, rule_of(st));
				*loc = newloc;
				if (*loc >= loc_end)
					return 0;
			}
		}
	}
	if (k && *loc < loc_end)
		sink_row(k, *loc, rule_of(st));
	return 0;
bad:
	if (k && *loc < loc_end)
		sink_row(k, *loc, RULE_NOT_PROVABLE);
	return -1;
}

/* ---- building a table ------------------------------------------------------ */

#define CIE_CACHE 64

/* Scratch for compiling, used under table_lock only. */
struct build {
	const uint8_t *seg_lo, *seg_hi; /* the segment holding .eh_frame */
	struct cie cies[CIE_CACHE];
	/* a cached CIE is good for the chunk being compiled only: one whose
	 * cie_gen is not gen is empty (emptying all 64 for every chunk,
	 * an FDE, cost a short process more than parsing them) */
	uint32_t cie_gen[CIE_CACHE], gen;
	struct row_sink sink;
	struct block *rows_block;       /* the sink's memory, kept */
};
static struct build scratch;

static const struct cie *get_cie(struct build *b, const uint8_t *addr)
{
	unsigned slot = ((uintptr_t)addr >> 3) % CIE_CACHE;
	struct cie *c = &b->cies[slot];
	if (b->cie_gen[slot] == b->gen && c->addr == addr)
		return c;
	b->cie_gen[slot] = b->gen;
	if (parse_cie(addr, b->seg_lo, b->seg_hi, c) < 0) {
		c->addr = NULL;
		return NULL;
	}
	return c;
}

/* Compiles the FDE at fde, which libunwind uses for [clip_lo, clip_hi)
 * (the search table entry's start up to the next entry's). */
static void compile_fde(struct build *b, const uint8_t *fde, uintptr_t entry_lo,
			uintptr_t entry_hi)
{
	struct row_sink *k = &b->sink;
	if (fde < b->seg_lo || fde >= b->seg_hi)
		return;
	struct reader r = { fde, b->seg_hi, 0 };
	uint64_t len = rd_bytes(&r, 4);
	if (len == 0xffffffffu || len == 0 || len > (uint64_t)(b->seg_hi - r.p))
		return;
	r.end = r.p + len;
	const uint8_t *cie_field = r.p;
	uint32_t cie_off = (uint32_t)rd_bytes(&r, 4);
	if (!cie_off || r.bad)
		return;
	const struct cie *c = get_cie(b, cie_field - cie_off);
	if (!c)
		return;
	uintptr_t pc_begin = rd_encoded(&r, c->fde_enc, 0);
	uintptr_t pc_range = rd_encoded(&r, c->fde_enc & 0x0f, 0);
	if (c->has_z) {
		uint64_t alen = rd_uleb(&r);
		if (r.bad || alen > (uint64_t)(r.end - r.p))
			return;
		r.p += alen;
	}
	if (r.bad || pc_begin + pc_range < pc_begin)
		return;
	uintptr_t lo = entry_lo > pc_begin ? entry_lo : pc_begin;
	uintptr_t hi = entry_hi < pc_begin + pc_range ? entry_hi : pc_begin + pc_range;
	if (lo >= hi)
		return;
	k->clip_lo = lo;
	k->clip_hi = hi;
	k->has_pending = 0;
	uintptr_t loc = pc_begin;
	if (!c->usable) {
		sink_row(k, loc, RULE_NOT_PROVABLE);
	} else {
		struct cfi_state initial, st;
		memset(&initial, 0, sizeof initial); /* every register W_SAME */
		uintptr_t ignored = 0;
		if (run_cfi(c->instr, c->instr_end, c, &initial, NULL, &ignored,
			    0, NULL) < 0) {
			sink_row(k, loc, RULE_NOT_PROVABLE);
		} else {
			st = initial;
			run_cfi(r.p, r.end, c, &st, &initial, &loc, hi, k);
		}
	}
	if (k->has_pending) {
		sink_put(k, lo, k->pending);
		k->has_pending = 0;
	}
	/* the next FDE may take over here */
	sink_put(k, hi, RULE_NO_INFO | RULE_NO_FDE);
}

struct eh_frame_hdr {
	uint8_t version, eh_frame_ptr_enc, fde_count_enc, table_enc;
};

static const ElfW(Phdr) *segment_of(const struct dl_phdr_info *info, uintptr_t addr)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && addr >= lo && addr < lo + ph->p_memsz)
			return ph;
	}
	return NULL;
}

/* Reads the search table of the object described by info (mapped at
 * [lo, hi), .eh_frame_hdr at hdr) and returns its chunk index, or NULL
 * when there is no table libunwind would binary-search (then it scans
 * .eh_frame linearly, which we do not mirror) or memory ran out. Runs
 * inside dl_iterate_phdr, so the object stays mapped. */
static struct uw_table *table_create(const struct dl_phdr_info *info,
				     uintptr_t lo, uintptr_t hi, uintptr_t hdr)
{
	const ElfW(Phdr) *hseg = segment_of(info, hdr);
	if (!hseg || hi - lo > UINT32_MAX)
		return NULL;
	const uint8_t *hseg_hi = (const uint8_t *)(info->dlpi_addr + hseg->p_vaddr +
						   hseg->p_memsz);
	struct reader r = { (const uint8_t *)hdr, hseg_hi, 0 };
	struct eh_frame_hdr h;
	h.version = (uint8_t)rd_bytes(&r, 1);
	h.eh_frame_ptr_enc = (uint8_t)rd_bytes(&r, 1);
	h.fde_count_enc = (uint8_t)rd_bytes(&r, 1);
	h.table_enc = (uint8_t)rd_bytes(&r, 1);
	if (r.bad || h.version != 1 || h.table_enc != (DW_EH_PE_datarel | 0x0b) ||
	    h.eh_frame_ptr_enc == DW_EH_PE_omit || h.fde_count_enc == DW_EH_PE_omit)
		return NULL;
	uintptr_t eh_frame = rd_encoded(&r, h.eh_frame_ptr_enc, hdr);
	uint64_t fde_count = rd_encoded(&r, h.fde_count_enc, hdr);
	if (r.bad || fde_count == 0 || fde_count > UINT32_MAX ||
	    fde_count > (uint64_t)(hseg_hi - r.p) / 8 || !segment_of(info, eh_frame))
		return NULL;
	const int32_t *entries = (const int32_t *)r.p;
	uint32_t nchunks = (uint32_t)((fde_count + CHUNK_FDES - 1) / CHUNK_FDES);
	/* the pointers first: 8-byte aligned after the header */
	struct uw_table *t = block_alloc(sizeof *t + nchunks * (sizeof *t->chunk +
								sizeof *t->chunk_start));
	if (!t)
		return NULL;
	t->hdr = hdr;
	t->eh_frame = eh_frame;
	t->entries = entries;
	t->fde_count = (uint32_t)fde_count;
	t->nchunks = nchunks;
	t->lo = lo;
	t->chunk = (struct uw_chunk **)(t + 1);
	uint32_t *starts = (uint32_t *)(t->chunk + nchunks);
	/* libunwind binary-searches the whole table: unsorted, it misleads.
	 * Checked while the starts are copied, in one pass over the table
	 * (a short process reads the tables of git or libc once each). */
	int32_t prev = entries[0];
	int sorted = 1;
	/* sorted: when the first and last entries are inside, all are */
	uintptr_t first = hdr + (intptr_t)entries[0];
	uintptr_t last = hdr + (intptr_t)entries[2 * (fde_count - 1)];
	if (first >= lo && last < hi) {
		uintptr_t base = hdr - lo;
		for (uint64_t i = 0; i < fde_count; i++) {
			int32_t at = entries[2 * i];
			sorted &= at >= prev;
			prev = at;
			if (i % CHUNK_FDES == 0)
				starts[i / CHUNK_FDES] = (uint32_t)(base + (intptr_t)at);
		}
	} else {
		for (uint64_t i = 0; i < fde_count; i++) {
			int32_t rel = entries[2 * i];
			sorted &= rel >= prev;
			prev = rel;
			uintptr_t at = hdr + (intptr_t)rel;
			if (i % CHUNK_FDES == 0)
				starts[i / CHUNK_FDES] =
					at < lo ? 0 : at >= hi ? (uint32_t)(hi - lo)
							       : (uint32_t)(at - lo);
		}
	}
	if (!sorted) {
		block_free(t);
		return NULL;
	}
	t->chunk_start = starts;
	return t;
}

/* Memory for a chunk of n rows, from the table's slabs. */
static struct uw_chunk *chunk_alloc(struct uw_table *t, size_t n)
{
	size_t bytes = (sizeof(struct uw_chunk) + n * sizeof(struct uw_row) + 15) & ~(size_t)15;
	if ((size_t)(t->slab_end - t->slab) < bytes) {
		size_t slab = bytes + sizeof(struct block) > (64u << 10) ?
			bytes + sizeof(struct block) : (64u << 10);
		struct block *sb = block_alloc(slab);
		if (!sb)
			return NULL;
		sb->owned_next = t->block.owned;
		t->block.owned = sb;
		t->slab = (char *)(sb + 1);
		t->slab_end = (char *)sb + slab;
	}
	struct uw_chunk *ch = (struct uw_chunk *)t->slab;
	t->slab += bytes;
	return ch;
}

/* Compiles chunk c of t: the FDEs of its search-table entries, each for
 * the addresses libunwind would look it up for (its entry's start up to
 * the next entry's), as rows relative to lo, inside [lo, hi). Returns
 * the chunk (with no rows when it cannot be compiled), or NULL when
 * memory ran out. Runs inside dl_iterate_phdr with table_lock held. */
static struct uw_chunk *chunk_compile(const struct dl_phdr_info *info,
				      struct uw_table *t, uint32_t c,
				      uintptr_t lo, uintptr_t hi)
{
	struct build *b = &scratch;
	const ElfW(Phdr) *eseg = segment_of(info, t->eh_frame);
	if (!eseg)
		return NULL;
	b->seg_lo = (const uint8_t *)(info->dlpi_addr + eseg->p_vaddr);
	b->seg_hi = b->seg_lo + eseg->p_memsz;
	if (!++b->gen) { /* wrapped: no entry may look current */
		memset(b->cie_gen, 0, sizeof b->cie_gen);
		b->gen = 1;
	}
	uint64_t first = (uint64_t)c * CHUNK_FDES;
	uint64_t end = first + CHUNK_FDES < t->fde_count ? first + CHUNK_FDES : t->fde_count;
	/* at most one row per advance instruction (a byte or more) and two
	 * more per FDE */
	size_t cap = 2;
	for (uint64_t i = first; i < end; i++) {
		const uint8_t *fde = (const uint8_t *)(t->hdr + (intptr_t)t->entries[2 * i + 1]);
		if (fde >= b->seg_lo && fde + 4 <= b->seg_hi) {
			uint32_t len;
			memcpy(&len, fde, 4);
			cap += 2 + (len < (size_t)(b->seg_hi - fde) ? len : 0);
		}
	}
	size_t need = sizeof(struct block) + cap * sizeof *b->sink.v;
	if (!b->rows_block || b->rows_block->bytes < need) {
		block_free(b->rows_block);
		b->rows_block = block_alloc(need > (1u << 20) ? need : (1u << 20));
		if (!b->rows_block)
			return NULL;
	}
	struct row_sink *k = &b->sink;
	memset(k, 0, sizeof *k);
	k->v = (struct uw_row_abs *)(b->rows_block + 1);
	k->cap = cap;
	for (uint64_t i = first; i < end; i++) {
		uintptr_t next = i + 1 < t->fde_count ?
			t->hdr + (intptr_t)t->entries[2 * (i + 1)] : UINTPTR_MAX;
		compile_fde(b, (const uint8_t *)(t->hdr + (intptr_t)t->entries[2 * i + 1]),
			    t->hdr + (intptr_t)t->entries[2 * i], next);
	}
	/* to offsets from lo, inside [lo, hi) */
	size_t n = 0;
	for (size_t i = 0; i < k->n && !k->overflow; i++) {
		uintptr_t start = k->v[i].start;
		if (start >= hi)
			break;
		if (start < lo) {
			if (i + 1 < k->n && k->v[i + 1].start <= lo)
				continue;
			start = lo; /* the row covering lo */
		}
		if (n && k->v[n - 1].rule == k->v[i].rule)
			continue;
		k->v[n].start = start - lo;
		k->v[n].rule = k->v[i].rule;
		n++;
	}
	if (k->overflow)
		n = 0; /* nothing provable here */
	struct uw_chunk *ch = chunk_alloc(t, n);
	if (!ch)
		return NULL;
	ch->nrows = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		ch->rows[i].start = (uint32_t)k->v[i].start;
		ch->rows[i].rule = k->v[i].rule;
	}
	return ch;
}

/* ---- the module map ------------------------------------------------------- */

enum { TABLE_NONE, TABLE_UNUSABLE };

struct uw_module {
	uintptr_t lo, hi;          /* the loader's map range (_dl_find_object) */
	uintptr_t base;            /* load bias (dlpi_addr) */
	const void *link_map;
	const void *eh_hdr;        /* PT_GNU_EH_FRAME, or NULL */
	struct uw_table *table;    /* built on first use; atomic */
	int table_state;           /* atomic: TABLE_UNUSABLE when it cannot be */
	int pinned;                /* never unloaded: not checked per walk */
	uint8_t build_id_len;
	uint8_t build_id[32];
};

struct uw_snapshot {
	struct block block;
	uint32_t generation;       /* > 0; per-thread caches follow it */
	uint32_t request_seen;     /* rescan_request this map answers */
	unsigned long long subs;   /* dlpi_subs when read */
	uint64_t pinned_mask;      /* pinned modules among the first 64 */
	uint32_t count;
	struct uw_module mods[];   /* sorted by lo, disjoint */
};

static struct uw_snapshot *current;   /* atomic */
static uint32_t rescan_request;       /* atomic; bumped to ask for a re-read */
static ps_lock_t table_lock = { .snapshot_free = 1 }; /* only tried */
static struct block *retired;         /* atomic list, freed by reclaim */

/* Where objects were unloaded (their map ranges), for libunwind's sake:
 * it keeps rules by address and never notices an object replaced by
 * another there (capture.c). Appended by rescan under table_lock, read
 * by anyone: a slot is written before the count that covers it is
 * published. Past UNLOADED_MAX, every address counts (all_unloaded). */
#define UNLOADED_MAX 64
static struct { uintptr_t lo, hi; } unloaded[UNLOADED_MAX];
static uint32_t unloaded_count, all_unloaded; /* atomic */
static uint32_t unload_events; /* atomic: every unload noted, again or not */
int ps_unwind_reclaim_pending;

/* What is never unloaded: found in ps_unwind_init. pin_addr: addresses
 * in the objects pinned whatever else is known (this library, ld.so, the
 * vDSO, libc). startup_*: the objects loaded at start-up, identified by
 * (map start, link_map); a walk never checks them (see pin_startup). */
static uintptr_t pin_addr[4];
#define MAX_STARTUP 512
static uintptr_t startup_lo[MAX_STARTUP];
static const void *startup_map[MAX_STARTUP];
static uint32_t startup_count;
static unw_dyn_info_list_t *dyn_list;

static void retire(void *p)
{
	struct block *b = p;
	if (!b)
		return;
	b->retired_next = __atomic_load_n(&retired, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(&retired, &b->retired_next, b, 1,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
	__atomic_store_n(&ps_unwind_reclaim_pending, 1, __ATOMIC_RELEASE);
}

static void read_build_id(struct uw_module *m, const struct dl_phdr_info *info)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
		const char *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			size_t name_sz = (nh->n_namesz + 3u) & ~3u;
			size_t desc_sz = (nh->n_descsz + 3u) & ~3u;
			const char *desc = p + sizeof *nh + name_sz;
			if (desc + desc_sz > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !memcmp(p + sizeof *nh, "GNU", 4) &&
			    nh->n_descsz <= sizeof m->build_id) {
				memcpy(m->build_id, desc, nh->n_descsz);
				m->build_id_len = (uint8_t)nh->n_descsz;
				return;
			}
			p = desc + desc_sz;
		}
	}
}

struct scan {
	struct uw_module *mods;
	uint32_t count, cap;
	int overflow;
	unsigned long long subs;
};

static int scan_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct scan *sc = arg;
	(void)size;
	sc->subs = info->dlpi_subs;
	const ElfW(Phdr) *load = NULL;
	uintptr_t hdr = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		if (info->dlpi_phdr[i].p_type == PT_LOAD && !load)
			load = &info->dlpi_phdr[i];
		if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME)
			hdr = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
	}
	struct dl_find_object fo;
	if (!load || _dl_find_object((void *)(info->dlpi_addr + load->p_vaddr),
				     &fo) != 0)
		return 0; /* unknown to the loader's map: never validated */
	if (sc->count == sc->cap) {
		sc->overflow = 1;
		return 1;
	}
	struct uw_module *m = &sc->mods[sc->count++];
	memset(m, 0, sizeof *m);
	m->lo = (uintptr_t)fo.dlfo_map_start;
	m->hi = (uintptr_t)fo.dlfo_map_end;
	/* An object mapped with gaps between its segments (a main program
	 * the kernel mapped: bc, make, nodesource's node) is a range per
	 * segment to the loader; ours spans them all, or every walk through
	 * its code would miss the map and read it again. */
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t seg = info->dlpi_addr + ph->p_vaddr;
		if (seg < m->lo)
			m->lo = seg;
		if (seg + ph->p_memsz > m->hi)
			m->hi = seg + ph->p_memsz;
	}
	m->base = info->dlpi_addr;
	m->link_map = fo.dlfo_link_map;
	m->eh_hdr = fo.dlfo_eh_frame;
	if (!m->eh_hdr || (uintptr_t)m->eh_hdr != hdr)
		m->table_state = TABLE_UNUSABLE;
	read_build_id(m, info);
	m->pinned = sc->count == 1; /* the main program comes first */
	for (unsigned i = 0; i < sizeof pin_addr / sizeof *pin_addr; i++)
		if (pin_addr[i] >= m->lo && pin_addr[i] < m->hi)
			m->pinned = 1;
	for (uint32_t i = 0; i < startup_count && !m->pinned; i++)
		m->pinned = startup_lo[i] == m->lo && startup_map[i] == m->link_map;
	return 0;
}

/* ---- the objects loaded at start-up ----------------------------------------
 * glibc unloads only objects dlopen loaded (l_type lt_loaded): the main
 * program and every object loaded with it (its DT_NEEDED closure, the
 * preloaded ones and theirs) stay until exit. No public interface says
 * which objects those are, so pin_startup() works it out from the
 * objects' own dynamic sections, once, in the constructor: starting from
 * the objects pinned anyway (the main program, this library, libc, ld.so,
 * the vDSO), a DT_NEEDED name joins the first object in the loader's list
 * whose soname or file name it is (as glibc matches names), until nothing
 * is added. The loader's list (dl_iterate_phdr order) holds every object
 * loaded at start-up before any object dlopen added, so a name's first
 * match is a start-up object whenever one matches; and to be safe against
 * a name glibc resolved otherwise (a file reached through a link), only
 * the longest run of the list's head made wholly of found objects is
 * pinned: a dlopen'd object comes after a start-up object it could have
 * been mistaken for, which then is not found. An object missed is only
 * checked per walk, as any other. */

struct dep_obj {
	uintptr_t lo, hi;
	const void *link_map;
	uint32_t name, soname;      /* offsets in the pool; 0: none */
	uint32_t needed, nneeded;   /* needed[] offsets, in dep_scan.needed */
	int found;
};

struct dep_scan {
	struct dep_obj *obj;
	uint32_t count, cap;
	uint32_t *needed;
	uint32_t nneeded, needed_cap;
	char *pool;
	uint32_t pool_used, pool_cap;
	int overflow;
};

/* Copies the string at s (at most max bytes, NUL included) into the pool;
 * its offset, or 0 when it is not terminated or does not fit. */
static uint32_t pool_add(struct dep_scan *d, const char *s, size_t max)
{
	size_t len = strnlen(s, max);
	if (len == max || d->pool_cap - d->pool_used <= len) {
		if (len != max)
			d->overflow = 1;
		return 0;
	}
	uint32_t at = d->pool_used;
	memcpy(d->pool + at, s, len + 1);
	d->pool_used += (uint32_t)len + 1;
	return at;
}

/* An address the dynamic section holds: relocated in place by ld.so (most
 * objects) or not (the vDSO, read-only sections); inside the object either
 * way, and only one of the two can be. */
static const char *dyn_address(const struct dl_phdr_info *info, uintptr_t v)
{
	if (segment_of(info, v))
		return (const char *)v;
	if (segment_of(info, v + info->dlpi_addr))
		return (const char *)(v + info->dlpi_addr);
	return NULL;
}

static int dep_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct dep_scan *d = arg;
	(void)size;
	const ElfW(Phdr) *load = NULL, *dynamic = NULL;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		if (info->dlpi_phdr[i].p_type == PT_LOAD && !load)
			load = &info->dlpi_phdr[i];
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			dynamic = &info->dlpi_phdr[i];
	}
	struct dl_find_object fo;
	if (!load || _dl_find_object((void *)(info->dlpi_addr + load->p_vaddr),
				     &fo) != 0)
		return 0; /* as scan_cb: not in the map */
	if (d->count == d->cap) {
		d->overflow = 1;
		return 1;
	}
	struct dep_obj *o = &d->obj[d->count++];
	memset(o, 0, sizeof *o);
	o->lo = (uintptr_t)fo.dlfo_map_start;
	o->hi = (uintptr_t)fo.dlfo_map_end;
	o->link_map = fo.dlfo_link_map;
	o->needed = d->nneeded;
	if (info->dlpi_name && info->dlpi_name[0])
		o->name = pool_add(d, info->dlpi_name, 4096);
	if (!dynamic)
		return 0;
	const ElfW(Dyn) *dyn = (const ElfW(Dyn) *)(info->dlpi_addr + dynamic->p_vaddr);
	size_t ndyn = dynamic->p_memsz / sizeof *dyn;
	uintptr_t strtab_v = 0, strsz = 0;
	for (size_t i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++) {
		if (dyn[i].d_tag == DT_STRTAB)
			strtab_v = dyn[i].d_un.d_ptr;
		else if (dyn[i].d_tag == DT_STRSZ)
			strsz = dyn[i].d_un.d_val;
	}
	const char *strtab = strtab_v ? dyn_address(info, strtab_v) : NULL;
	if (!strtab || !strsz || !dyn_address(info, strtab_v + strsz - 1))
		return 0;
	for (size_t i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++) {
		uintptr_t off = dyn[i].d_un.d_val;
		if ((dyn[i].d_tag != DT_NEEDED && dyn[i].d_tag != DT_SONAME) ||
		    off >= strsz)
			continue;
		uint32_t at = pool_add(d, strtab + off, strsz - off);
		if (!at)
			continue;
		if (dyn[i].d_tag == DT_SONAME) {
			o->soname = at;
		} else if (d->nneeded < d->needed_cap) {
			d->needed[d->nneeded++] = at;
			o->nneeded++;
		} else {
			d->overflow = 1;
		}
	}
	return 0;
}

/* Whether the loader would take object o for DT_NEEDED name n. */
static int dep_matches(const struct dep_scan *d, const struct dep_obj *o,
		       const char *n)
{
	const char *name = o->name ? d->pool + o->name : "";
	if (strchr(n, '/'))
		return !strcmp(n, name);
	const char *base = strrchr(name, '/');
	return (o->soname && !strcmp(n, d->pool + o->soname)) ||
	       !strcmp(n, base ? base + 1 : name);
}

/* Fills startup_lo/startup_map (see above). Called once, from
 * ps_unwind_init, before the first rescan. */
static void pin_startup(void)
{
	size_t bytes = 1u << 20;
	struct block *b = block_alloc(bytes);
	if (!b)
		return;
	struct dep_scan d = { 0 };
	d.cap = MAX_STARTUP;
	d.obj = (struct dep_obj *)(b + 1);
	d.needed_cap = 8 * MAX_STARTUP;
	d.needed = (uint32_t *)(d.obj + d.cap);
	d.pool = (char *)(d.needed + d.needed_cap);
	d.pool_cap = (uint32_t)((char *)b + bytes - d.pool);
	d.pool_used = 1; /* offset 0 means none */
	dl_iterate_phdr(dep_cb, &d);
	if (d.overflow || !d.count)
		goto cleanup;
	d.obj[0].found = 1; /* the main program */
	for (uint32_t i = 0; i < d.count; i++)
		for (unsigned a = 0; a < sizeof pin_addr / sizeof *pin_addr; a++)
			if (pin_addr[a] >= d.obj[i].lo && pin_addr[a] < d.obj[i].hi)
				d.obj[i].found = 1;
	/* the preloaded objects (valgrind's, a preloaded allocator...):
	 * LD_PRELOAD as the loader read it, names split at ':' or ' ' */
	const char *preload = ps_env_get(ps_environ(), "LD_PRELOAD"), *entry;
	size_t len;
	while ((entry = ps_preload_next(&preload, &len))) {
		char name[4096];
		if (len && len < sizeof name) {
			memcpy(name, entry, len);
			name[len] = 0;
			uint32_t j = 0;
			while (j < d.count && !dep_matches(&d, &d.obj[j], name))
				j++;
			if (j < d.count && !d.obj[j].found)
				d.obj[j].found = 1;
		}
	}
	for (int grew = 1; grew;) {
		grew = 0;
		for (uint32_t i = 0; i < d.count; i++) {
			if (d.obj[i].found != 1)
				continue;
			d.obj[i].found = 2; /* its names followed */
			for (uint32_t k = 0; k < d.obj[i].nneeded; k++) {
				const char *n = d.pool + d.needed[d.obj[i].needed + k];
				uint32_t j = 0;
				while (j < d.count && !dep_matches(&d, &d.obj[j], n))
					j++;
				if (j < d.count && !d.obj[j].found) {
					d.obj[j].found = 1;
					grew = 1;
				}
			}
		}
	}
	uint32_t head = 0;
	while (head < d.count && d.obj[head].found)
		head++;
	for (uint32_t i = 0; i < head; i++) {
		startup_lo[i] = d.obj[i].lo;
		startup_map[i] = d.obj[i].link_map;
	}
	startup_count = head;
cleanup:
	block_free(b);
}

static int same_object(const struct uw_module *a, const struct uw_module *b)
{
	return a->lo == b->lo && a->hi == b->hi && a->base == b->base &&
	       a->link_map == b->link_map && a->eh_hdr == b->eh_hdr &&
	       a->build_id_len == b->build_id_len &&
	       !memcmp(a->build_id, b->build_id, a->build_id_len);
}

static void note_unloaded(uintptr_t lo, uintptr_t hi)
{
	uint32_t n = __atomic_load_n(&unloaded_count, __ATOMIC_RELAXED);
	int known = 0;
	for (uint32_t k = 0; k < n && !known; k++)
		known = unloaded[k].lo == lo && unloaded[k].hi == hi;
	if (!known && n == UNLOADED_MAX) {
		__atomic_store_n(&all_unloaded, 1, __ATOMIC_RELEASE);
	} else if (!known) {
		unloaded[n].lo = lo;
		unloaded[n].hi = hi;
		__atomic_store_n(&unloaded_count, n + 1, __ATOMIC_RELEASE);
	}
	__atomic_fetch_add(&unload_events, 1, __ATOMIC_RELEASE);
}

int ps_unwind_unloaded_among(const uintptr_t *ips, int n, uint32_t *changes)
{
	*changes = __atomic_load_n(&unload_events, __ATOMIC_ACQUIRE);
	if (PS_LIKELY(!*changes))
		return 0;
	if (__atomic_load_n(&all_unloaded, __ATOMIC_ACQUIRE))
		return 1;
	uint32_t count = __atomic_load_n(&unloaded_count, __ATOMIC_ACQUIRE);
	for (int i = 0; i < n; i++)
		for (uint32_t k = 0; k < count; k++)
			if (ips[i] - unloaded[k].lo < unloaded[k].hi - unloaded[k].lo)
				return 1;
	return 0;
}

/* Re-reads the module map into a new snapshot, keeping the tables of
 * objects that are provably still the same, and retires the old one.
 * Called with table_lock held. Returns 0 or a ps_unwind_result. */
static int rescan(uint32_t request)
{
	struct uw_snapshot *old = current;
	struct scan sc = { 0 };
	struct block *tmp = NULL;
	for (uint32_t cap = 128;; cap *= 4) {
		tmp = block_alloc(sizeof *tmp + cap * sizeof *sc.mods);
		if (!tmp)
			return PS_UNWIND_BUSY;
		sc = (struct scan){ .mods = (struct uw_module *)(tmp + 1), .cap = cap };
		dl_iterate_phdr(scan_cb, &sc);
		if (!sc.overflow)
			break;
		block_free(tmp);
		if (cap > 65536)
			return PS_UNWIND_BUSY;
	}
	/* insertion sort by lo: qsort may allocate */
	for (uint32_t i = 1; i < sc.count; i++) {
		struct uw_module m = sc.mods[i];
		uint32_t j = i;
		for (; j && sc.mods[j - 1].lo > m.lo; j--)
			sc.mods[j] = sc.mods[j - 1];
		sc.mods[j] = m;
	}
	/* disjoint: a range spanning its segments' gaps stops where an
	 * object mapped inside a gap starts (code past that point is then
	 * libunwind's, see lookup()) */
	for (uint32_t i = 0; i + 1 < sc.count; i++)
		if (sc.mods[i].hi > sc.mods[i + 1].lo)
			sc.mods[i].hi = sc.mods[i + 1].lo;
	struct uw_snapshot *s = block_alloc(sizeof *s + sc.count * sizeof *s->mods);
	if (!s) {
		block_free(tmp);
		return PS_UNWIND_BUSY;
	}
	s->generation = old ? old->generation + 1 : 1;
	s->request_seen = request;
	s->subs = sc.subs;
	s->count = sc.count;
	/* Nothing was unloaded since the old map (same dlpi_subs): an entry
	 * with the same identity is the same object. Otherwise only a pinned
	 * object or one with the same build-id keeps its table. */
	int nothing_unloaded = old && old->subs == sc.subs;
	for (uint32_t j = 0; old && !nothing_unloaded && j < old->count; j++) {
		const struct uw_module *o = &old->mods[j];
		int gone = !o->pinned;
		for (uint32_t i = 0; gone && i < sc.count; i++)
			gone = !same_object(&sc.mods[i], o);
		if (gone)
			note_unloaded(o->lo, o->hi);
	}
	for (uint32_t i = 0; i < sc.count; i++) {
		struct uw_module *m = &s->mods[i];
		*m = sc.mods[i];
		if (i < 64 && m->pinned)
			s->pinned_mask |= 1ull << i;
		for (uint32_t j = 0; old && j < old->count; j++) {
			const struct uw_module *o = &old->mods[j];
			if (!same_object(m, o) ||
			    !(nothing_unloaded || m->pinned || m->build_id_len))
				continue;
			m->table = __atomic_load_n(&o->table, __ATOMIC_RELAXED);
			m->table_state = __atomic_load_n(&o->table_state,
							 __ATOMIC_RELAXED);
			break;
		}
	}
	block_free(tmp);
	__atomic_store_n(&current, s, __ATOMIC_RELEASE);
	if (old) {
		for (uint32_t j = 0; j < old->count; j++) {
			struct uw_table *t = old->mods[j].table;
			int kept = 0;
			for (uint32_t i = 0; t && i < s->count && !kept; i++)
				kept = s->mods[i].table == t;
			if (t && !kept)
				retire(t);
		}
		retire(old);
	}
	return 0;
}

/* Makes *snapp the current map, re-reading it if asked to. */
static int refresh(const struct uw_snapshot **snapp)
{
	if (!ps_lock_try(&table_lock))
		return PS_UNWIND_BUSY;
	int rc = 0;
	uint32_t want = __atomic_load_n(&rescan_request, __ATOMIC_ACQUIRE);
	if (!current || current->request_seen != want)
		rc = rescan(want);
	*snapp = current;
	ps_lock_release(&table_lock);
	return rc;
}

void ps_unwind_refresh(void)
{
	uint32_t want = __atomic_load_n(&rescan_request, __ATOMIC_ACQUIRE);
	const struct uw_snapshot *s = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
	if (s && s->request_seen == want)
		return;
	refresh(&s);
}

static void request_rescan(void)
{
	__atomic_fetch_add(&rescan_request, 1, __ATOMIC_RELEASE);
}

void ps_unwind_modules_changed(void)
{
	request_rescan();
}

struct build_arg {
	struct uw_module *m;
	uintptr_t addr;   /* compile the chunk holding this address */
	int found;
};

static int build_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct build_arg *a = arg;
	struct uw_module *m = a->m;
	(void)size;
	int match = 0;
	for (int i = 0; i < info->dlpi_phnum && info->dlpi_addr == m->base; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		match |= ph->p_type == PT_GNU_EH_FRAME &&
			 info->dlpi_addr + ph->p_vaddr == (uintptr_t)m->eh_hdr;
	}
	if (!match)
		return 0;
	a->found = 1;
	struct uw_table *t = m->table;
	if (!t) {
		t = table_create(info, m->lo, m->hi, (uintptr_t)m->eh_hdr);
		if (!t) {
			__atomic_store_n(&m->table_state, TABLE_UNUSABLE, __ATOMIC_RELEASE);
			return 1;
		}
		__atomic_store_n(&m->table, t, __ATOMIC_RELEASE);
	}
	int c = chunk_of(t, a->addr);
	if (c >= 0 && !t->chunk[c]) {
		struct uw_chunk *ch = chunk_compile(info, t, (uint32_t)c, m->lo, m->hi);
		if (ch)
			__atomic_store_n(&t->chunk[c], ch, __ATOMIC_RELEASE);
	}
	return 1;
}

/* Builds what module i of snapshot s needs for addr (its table, the
 * chunk holding addr) if s is still current. */
static int build(const struct uw_snapshot *s, uint32_t i, uintptr_t addr)
{
	if (!ps_lock_try(&table_lock))
		return PS_UNWIND_BUSY;
	int rc = 0;
	struct uw_module *m = (struct uw_module *)&s->mods[i]; /* ours, locked */
	if (s != current) {
		rc = PS_UNWIND_BUSY;
	} else if (m->table_state != TABLE_UNUSABLE) {
		struct build_arg a = { m, addr, 0 };
		dl_iterate_phdr(build_cb, &a);
		if (!a.found) { /* unloaded since the map was read */
			request_rescan();
			rc = PS_UNWIND_STALE;
		}
	}
	ps_lock_release(&table_lock);
	return rc;
}

/* ---- reclaiming replaced tables ------------------------------------------ */

void ps_unwind_reclaim(void)
{
	__atomic_store_n(&ps_unwind_reclaim_pending, 0, __ATOMIC_RELAXED);
	struct block *list = __atomic_exchange_n(&retired, NULL, __ATOMIC_ACQUIRE);
	if (!list)
		return;
	/* A walk raises in_unwind, then (after a fence, or a compiler
	 * barrier that membarrier upgrades) loads the map. The map was
	 * replaced before we got here; so a thread seen with in_unwind down
	 * after this barrier can only reach the new one. */
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0) != 0)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ps_thread *self = ps_own_thread();
	for (ps_thread *t = ps_threads_newest(); t; t = t->next_all)
		while (t != self && __atomic_load_n(&t->in_unwind, __ATOMIC_ACQUIRE))
			sched_yield();
	while (list) {
		struct block *next = list->retired_next;
		block_free(list);
		list = next;
	}
}

/* ---- per-thread state: rule cache and the previous walk ----------------- */

/* The rule cache starts with 2^CACHE_BITS slots (a short thread touches
 * a few pages); a thread that missed it CACHE_GROW_MISSES times moves to
 * one of 2^CACHE_BITS_BIG (clang++: 4 walks in 5 met a frame that the
 * small one had lost, 330 instructions each). */
#define CACHE_BITS 10
#define CACHE_BITS_BIG 14
#define CACHE_GROW_MISSES (4u << CACHE_BITS)
#define PINNED_MOD 0x80000000u /* in a slot's mod: never validated */
#define MAX_STATES (PS_MAX_DEPTH + 16 + 1)
#define NO_POSITION (MAX_STATES + 1)

struct uw_cache_slot {
	uintptr_t key;  /* return address - 1; 0 = empty */
	uint32_t rule;
	uint32_t mod;   /* module index in the snapshot, | PINNED_MOD */
};

/* A stack word a reused walk depends on, and what it must still hold. */
struct uw_check {
	uintptr_t addr, value;
};

/* The thread's previous walk, frame by frame, stored OUTERMOST FIRST: a
 * state's position counts from the outer end, so a walk that joins the
 * previous one at position P keeps positions 0..P where they are and
 * writes only its own inner states above P. Position q holds (rip, rsp,
 * rbp) at that frame, rule[q] how it was stepped, mod[q] its module; the
 * innermost state (the caller's) is at count - 1. ended_low: the walk
 * ended because the step from position 1 read a return address below
 * 0x4000, and position 0 holds what it read (else position 0's rule is
 * RULE_END); the frames are positions ended_low..count-1. live[q]: some
 * step further out uses rbp_q as its CFA base before rbp is reloaded
 * (most code keeps data in rbp: a dead value may change without changing
 * the walk). rbp_at[q]: where the step into position q (from q + 1)
 * loaded a live rbp from, else 0 (stale at count - 1). */
struct uw_shadow {
	uint64_t call;        /* the thread's call that returned this walk */
	int count;            /* states held; 0: nothing to reuse */
	int ended_low;
	int unpinned_from;    /* lowest position in an unpinned module, or
			       * NO_POSITION */
	/* rip in the opposite order (SHADOW_RIP): a tail of the walk is
	 * then one memcpy into ips, innermost first */
	uintptr_t rip_reversed[MAX_STATES];
	uintptr_t rsp[MAX_STATES], rbp[MAX_STATES];
	uintptr_t rbp_at[MAX_STATES];
	uint32_t rule[MAX_STATES], mod[MAX_STATES];
	uint8_t live[MAX_STATES];
	/* hash_prefix[lane][q]: the stack hash's polynomials (ps_internal.h)
	 * over the frames of positions 0..q, made as ps_unwind_hash() needs
	 * them: those of positions 0..hashed-1 are (a new inner part keeps
	 * the outer ones) */
	int hashed;
	uint64_t hash_prefix[2][MAX_STATES];
	/* The words reuse_tail() checks, made as a reuse first needs them:
	 * those of positions 0..checked-1 are in check[0 ..
	 * check_top[checked]), position q's from check_top[q] on (the
	 * return address slot at CFA - 8, then a saved rbp a step further
	 * out uses). A new inner part leaves the outer positions' entries
	 * in place. check_top[0] is 0. */
	int checked;
	uint16_t check_top[MAX_STATES + 1];
	struct uw_check check[2 * MAX_STATES];
};

/* Position q's rip. */
#define SHADOW_RIP(sh, q) ((sh)->rip_reversed[MAX_STATES - 1 - (q)])

/* The states a walk steps through before it joins the shadow (or ends),
 * innermost first: state i is the walk's frame i. */
struct uw_fresh {
	uintptr_t rip[MAX_STATES], rsp[MAX_STATES], rbp[MAX_STATES];
	uint32_t rule[MAX_STATES], mod[MAX_STATES];
};

/* Makes the check list cover positions 0..upto-1. */
__attribute__((noinline)) static void checks_extend(struct uw_shadow *sh,
						    int upto)
{
	int m = sh->check_top[sh->checked];
	for (int q = sh->checked; q < upto; q++) {
		sh->check[m++] = (struct uw_check){ sh->rsp[q] - 8,
						    SHADOW_RIP(sh, q) };
		if (sh->rbp_at[q])
			sh->check[m++] = (struct uw_check){ sh->rbp_at[q],
							    sh->rbp[q] };
		sh->check_top[q + 1] = (uint16_t)m;
	}
	sh->checked = upto;
}

static inline int word_holds(const struct uw_check *c)
{
	return *(const uintptr_t *)c->addr == c->value;
}

/* Whether every word positions 0..upto-1 of sh depend on still holds
 * what it held, read in walk order (innermost first, so backwards):
 * returns -1 if so, else the innermost position one of whose words
 * changed. checks_extend(sh, upto) first. */
static inline int checks_changed(const struct uw_shadow *sh, int upto)
{
	const struct uw_check *c = sh->check + sh->check_top[upto];
	const struct uw_check *first = sh->check;
	/* four at a time (the loop's own cost was most of a check), each
	 * still read only once those before it held */
	while (c - first >= 4) {
		c -= 4;
		if (!word_holds(&c[3]) || !word_holds(&c[2]) ||
		    !word_holds(&c[1]) || !word_holds(&c[0])) {
			c += 4;
			break;
		}
	}
	while (c != first)
		if (!word_holds(--c))
			goto changed;
	return -1;
changed:;
	int e = (int)(c - first), q = upto - 1;
	while (sh->check_top[q] > e)
		q--;
	return q;
}

/* Puts fresh states nfresh-1..0 at positions base+1..base+nfresh (the
 * innermost last) and fills their live flags and the rbp_at of positions
 * base..base+nfresh-1, given live[base]. */
static void shadow_push(struct uw_shadow *sh, int base,
			const struct uw_fresh *f, int nfresh)
{
	int outer_live = sh->live[base];
	for (int i = nfresh - 1, q = base + 1; i >= 0; i--, q++) {
		uint32_t r = f->rule[i];
		SHADOW_RIP(sh, q) = f->rip[i];
		sh->rsp[q] = f->rsp[i];
		sh->rbp[q] = f->rbp[i];
		sh->rule[q] = r;
		sh->mod[q] = f->mod[i];
		sh->rbp_at[q - 1] = (r & RULE_RBP_SAVED) && outer_live ?
			sh->rsp[q - 1] - 8 * (uintptr_t)RULE_RBP_SLOT(r) : 0;
		int live = RULE_KIND(r) == RULE_STANDARD &&
			   ((r & RULE_CFA_RBP) || (!(r & RULE_RBP_SAVED) && outer_live));
		sh->live[q] = (uint8_t)live;
		outer_live = live;
	}
	sh->count = base + 1 + nfresh;
}

struct uw_thread {
	struct block block;  /* owns the big cache */
	uint32_t generation;
	uint64_t calls;      /* ps_unwind_fast calls of this thread so far */
	struct uw_cache_slot *slot; /* small_slot, or the big cache */
	uint32_t slot_shift; /* 64 - log2(slots) */
	uint32_t misses;     /* of the small cache */
	struct uw_shadow shadow;
	struct uw_fresh fresh;
	struct uw_cache_slot small_slot[1u << CACHE_BITS];
};

static __thread struct uw_thread *tls_state PS_TLS;
static __thread int tls_state_gone PS_TLS; /* thread exiting: no new one */
static pthread_key_t state_key;
static int state_key_ok;

/* The states of ended threads, kept for the threads that start next: a
 * program that runs thousands of short-lived threads would otherwise map,
 * fault in and unmap a state (tens of KiB, a dozen pages touched) for
 * each, more than the rest of its profiling. Only tried, never waited
 * for (a fork child may find it held: it maps its states then). */
#define SPARE_STATES 8
static ps_lock_t spare_lock = { .snapshot_free = 1 };
static struct uw_thread *spare_states[SPARE_STATES];
static int spare_count;

static void thread_state_destroy(void *arg)
{
	struct uw_thread *ts = arg;
	tls_state = NULL;
	tls_state_gone = 1;
	/* the big cache goes with its thread; the state may be reused */
	for (struct block *o = ts->block.owned, *next; o; o = next) {
		next = o->owned_next;
		block_free(o);
	}
	ts->block.owned = NULL;
	if (ps_lock_try(&spare_lock)) {
		if (spare_count < SPARE_STATES) {
			spare_states[spare_count++] = ts;
			ts = NULL;
		}
		ps_lock_release(&spare_lock);
	}
	block_free(ts);
}

/* A state as block_alloc() gives it: an ended thread's, cleared, or a
 * new mapping. */
static struct uw_thread *state_alloc(void)
{
	struct uw_thread *ts = NULL;
	if (ps_lock_try(&spare_lock)) {
		if (spare_count)
			ts = spare_states[--spare_count];
		ps_lock_release(&spare_lock);
	}
	if (!ts)
		return block_alloc(sizeof *ts);
	size_t bytes = ts->block.bytes;
	memset(ts, 0, sizeof *ts);
	ts->block.bytes = bytes;
	return ts;
}

static struct uw_thread *thread_state_create(void)
{
	if (tls_state_gone || !state_key_ok)
		return NULL;
	struct uw_thread *ts = state_alloc();
	if (!ts)
		return NULL;
	if (pthread_setspecific(state_key, ts) != 0) {
		block_free(ts);
		return NULL;
	}
	ts->slot = ts->small_slot;
	ts->slot_shift = 64 - CACHE_BITS;
	tls_state = ts;
	return ts;
}

static inline uint32_t slot_of(uint32_t shift, uintptr_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> shift);
}

/* Empties the rule cache (the module map changed). */
static void cache_clear(struct uw_thread *ts)
{
	memset(ts->slot, 0, sizeof *ts->slot << (64 - ts->slot_shift));
}

/* Counts a miss; moves to the big cache at the CACHE_GROW_MISSES-th. */
static void cache_missed(struct uw_thread *ts)
{
	if (ts->slot != ts->small_slot || ++ts->misses < CACHE_GROW_MISSES)
		return;
	struct block *big = block_alloc(sizeof *big +
					(sizeof *ts->slot << CACHE_BITS_BIG));
	if (!big) {
		ts->misses = 0; /* try again later */
		return;
	}
	big->owned_next = ts->block.owned;
	ts->block.owned = big;
	ts->slot = (struct uw_cache_slot *)(big + 1);
	ts->slot_shift = 64 - CACHE_BITS_BIG;
}

/* ---- the walk ------------------------------------------------------------- */

static int find_module(const struct uw_snapshot *s, uintptr_t addr)
{
	uint32_t lo = 0, hi = s->count;
	while (lo < hi) { /* first module with lo > addr */
		uint32_t mid = (lo + hi) / 2;
		if (s->mods[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || addr >= s->mods[lo - 1].hi)
		return -1;
	return (int)lo - 1;
}

/* The rule for key (a return address - 1) and its module's index (with
 * PINNED_MOD when it is never unloaded). */
static int lookup(const struct uw_snapshot *s, uintptr_t key, uint32_t *rule,
		  uint32_t *mod)
{
	int i = find_module(s, key);
	if (i < 0) {
		struct dl_find_object fo;
		if (_dl_find_object((void *)key, &fo) != 0)
			return PS_UNWIND_NO_MODULE;
		/* an object our map has, at an address its range does not
		 * cover: reading the map again would not change that (and
		 * doing it on every walk costs 100x): libunwind's */
		for (uint32_t k = 0; k < s->count; k++)
			if (s->mods[k].link_map == fo.dlfo_link_map)
				return PS_UNWIND_NOT_PROVABLE;
		request_rescan(); /* loaded since our map was read */
		return PS_UNWIND_STALE;
	}
	const struct uw_module *m = &s->mods[i];
	*rule = RULE_NO_INFO;
	*mod = (uint32_t)i | (m->pinned ? PINNED_MOD : 0);
	const struct uw_table *t = __atomic_load_n(&m->table, __ATOMIC_ACQUIRE);
	if (!t) {
		if (__atomic_load_n(&m->table_state, __ATOMIC_ACQUIRE) == TABLE_UNUSABLE)
			return 0;
		int rc = build(s, (uint32_t)i, key);
		if (rc < 0)
			return rc;
		if (!(t = __atomic_load_n(&m->table, __ATOMIC_ACQUIRE)))
			return 0;
	}
	int c = chunk_of(t, key);
	if (c < 0)
		return 0;
	const struct uw_chunk *ch = __atomic_load_n(&t->chunk[c], __ATOMIC_ACQUIRE);
	if (!ch) {
		int rc = build(s, (uint32_t)i, key);
		if (rc < 0)
			return rc;
		if (!(ch = __atomic_load_n(&t->chunk[c], __ATOMIC_ACQUIRE)))
			return PS_UNWIND_BUSY; /* out of memory: try again later */
	}
	*rule = chunk_rule(ch, key - m->lo);
	return 0;
}

/* Is the object m (holding addr) still what the loader has there? (The
 * loader's range for addr is all of m, or one of its segments.) */
static int still_loaded(const struct uw_module *m, uintptr_t addr)
{
	struct dl_find_object fo;
	return _dl_find_object((void *)addr, &fo) == 0 &&
	       (uintptr_t)fo.dlfo_map_start >= m->lo &&
	       (uintptr_t)fo.dlfo_map_end <= m->hi &&
	       fo.dlfo_link_map == m->link_map && fo.dlfo_eh_frame == m->eh_hdr;
}

/* Checks, once per walk, that an unpinned module is still loaded. */
static inline int check_module(const struct uw_snapshot *s, uint32_t mod,
			       uintptr_t addr, uint64_t *checked)
{
	if (PS_LIKELY(mod & PINNED_MOD))
		return 0;
	if (mod < 64 && (*checked >> mod & 1))
		return 0;
	if (!still_loaded(&s->mods[mod], addr)) {
		request_rescan();
		return PS_UNWIND_STALE;
	}
	if (mod < 64)
		*checked |= 1ull << mod;
	return 0;
}

/* The previous walk's position P equals this walk's state j (rbp only if
 * it is live), and ts->fresh holds this walk's states 0..j-1. The rest of
 * the previous walk was a function of that state and of the stack words
 * each step read; if every one of those words that mattered still holds
 * what it held, this walk would repeat it exactly. Checks them
 * (independent loads, no chain through the stack), then writes the tail
 * to ips and makes the shadow this walk: positions 0..P stay, the fresh
 * states go above. Returns the frame count, or -1 when a word changed
 * (walk on normally; *changed_at is the innermost position with a changed
 * word: only a position outer than that can still be joined). unpinned:
 * the last fresh state in an unpinned module, or -1. */
static int reuse_tail(const struct uw_snapshot *s, struct uw_thread *ts, int P,
		      int j, uintptr_t *ips, int max, uint64_t checked,
		      int unpinned, int *repeated, int *changed_at)
{
	struct uw_shadow *sh = &ts->shadow;
	/* In walk order, so that every address read was computed from words
	 * already found unchanged: nothing is read that this walk itself
	 * would not read (another stack, perhaps unmapped, stays unread).
	 * Per state: a saved rbp that later steps use, the return address
	 * slot at CFA - 8. */
	if (sh->checked < P)
		checks_extend(sh, P);
	if ((*changed_at = checks_changed(sh, P)) >= 0)
		return -1;
	for (int q = P; q >= sh->unpinned_from; q--)
		if (check_module(s, sh->mod[q], SHADOW_RIP(sh, q) - 1,
				 &checked) < 0)
			return PS_UNWIND_STALE;
	int n = j + 1 + P - sh->ended_low;
	int out = n < max ? n : max;
	if (!j && P == sh->count - 1 && sh->call + 1 == ts->calls && repeated) {
		/* state 0 and every word after it as in the previous call,
		 * which returned this very walk: say so instead of copying */
		*repeated = 1;
		sh->call = ts->calls;
		return out;
	}
	if (out > j + 1) /* positions P-1 down: upwards in rip_reversed */
		memcpy(ips + j + 1, &SHADOW_RIP(sh, P - 1),
		       (size_t)(out - j - 1) * sizeof *ips);
	/* the new previous walk: the tail in place, this walk's first j
	 * states above it */
	if (P + 1 + j <= MAX_STATES) {
		if (sh->unpinned_from > P)
			sh->unpinned_from = unpinned >= 0 ? P + j - unpinned
							  : NO_POSITION;
		shadow_push(sh, P, &ts->fresh, j);
		if (sh->checked > P) /* position P's rbp_at may have changed */
			sh->checked = P;
		if (sh->hashed > P + 1)
			sh->hashed = P + 1;
		sh->call = ts->calls;
	} else {
		sh->count = 0;
	}
	return out;
}

/* Whether libunwind's unw_step ends the stack at a frame (not the
 * innermost) with return address rip that no FDE covers, rbp being rbp.
 * With no FDE it guesses from the code and rbp (Gstep.c, "DWARF
 * failed"): a sigreturn trampoline or a PLT entry it steps through; else,
 * rbp 0 and the code at rip readable, the frame is the last one (glibc's
 * _dl_start_user, which calls the static constructors with rbp cleared).
 * Anything else is left to it. Its reads of the 16 bytes at rip are
 * taken only in the page of the call before rip, which ran. */
static int ends_at_null_rbp(uintptr_t rip, uintptr_t rbp)
{
	if (rbp || ((rip - 1) ^ (rip + 15)) >> 12)
		return 0;
	uint64_t w0, w1;
	memcpy(&w0, (const void *)rip, 8);
	memcpy(&w1, (const void *)(rip + 8), 8);
	if ((w0 & 0xffff) == 0x25ff && (w0 >> 48 & 0xff) == 0x68 &&
	    (w1 >> 24 & 0xff) == 0xe9)
		return 0; /* its PLT entry pattern */
	if (w0 == 0x0f0000000fc0c748ull && (w1 & 0xff) == 0x05)
		return 0; /* mov $15, %rax; syscall: rt_sigreturn */
	return 1;
}

/* The walk for a thread with no state block (it is exiting, or mmap
 * failed): every frame looked up in the tables. */
static int walk_uncached(const struct uw_snapshot *s, uintptr_t *ips, int max,
			 uintptr_t rip, uintptr_t rsp, uintptr_t rbp)
{
	uint64_t checked = 0;
	int n = 0;
	ips[n++] = rip;
	while (n < max) {
		uint32_t rule, mod;
		int rc = lookup(s, rip - 1, &rule, &mod);
		if (rc < 0)
			return rc;
		if (check_module(s, mod, rip - 1, &checked) < 0)
			return PS_UNWIND_STALE;
		if (RULE_KIND(rule) == RULE_END)
			break;
		if (RULE_KIND(rule) != RULE_STANDARD)
			return RULE_KIND(rule) == RULE_NO_INFO ? PS_UNWIND_NO_TABLE
							      : PS_UNWIND_NOT_PROVABLE;
		uintptr_t cfa = ((rule & RULE_CFA_RBP) ? rbp : rsp) + RULE_CFA_OFF(rule);
		if (cfa - rsp - 1 >= (1u << 30))
			return PS_UNWIND_ODD_FRAME;
		rip = ((const uintptr_t *)cfa)[-1];
		if (rule & RULE_RBP_SAVED)
			rbp = ((const uintptr_t *)cfa)[-(intptr_t)RULE_RBP_SLOT(rule)];
		rsp = cfa;
		if (rip < 0x4000)
			break;
		ips[n++] = rip;
	}
	return n;
}

/* Whether libunwind's JIT registry holds anything (then every walk is
 * libunwind's). */
static inline int dynamic_info_registered(void)
{
	return dyn_list && __atomic_load_n(&dyn_list->first, __ATOMIC_RELAXED);
}

/* The walk of the caller's state (rip, rsp, rbp): everything but the
 * repeated walk ps_unwind_fast() answers itself. changed_at: that one
 * found state 0 and the previous call's alike but a word of this
 * position changed (else NO_POSITION): only positions below it may be
 * joined. */
__attribute__((noinline)) static int walk(uintptr_t *ips, int max,
					  int *repeated, uintptr_t rip,
					  uintptr_t rsp, uintptr_t rbp,
					  int changed_at)
{
	if (repeated)
		*repeated = 0;
	const struct uw_snapshot *s = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
	if (PS_UNLIKELY(!s || s->request_seen !=
				      __atomic_load_n(&rescan_request,
						      __ATOMIC_ACQUIRE))) {
		int rc = refresh(&s);
		if (rc < 0)
			return rc;
	}
	if (PS_UNLIKELY(dynamic_info_registered()))
		return PS_UNWIND_DYNAMIC;
	struct uw_thread *ts = tls_state;
	if (PS_UNLIKELY(!ts)) {
		ts = thread_state_create();
		if (!ts)
			return walk_uncached(s, ips, max, rip, rsp, rbp);
	}
	struct uw_shadow *sh = &ts->shadow;
	if (PS_UNLIKELY(ts->generation != s->generation)) {
		if (ts->generation) /* a new thread's cache is empty */
			cache_clear(ts);
		sh->count = 0;
		ts->generation = s->generation;
	}
	/* the previous walk's candidates for a join, innermost first: its
	 * frames, positions top down to ended_low */
	int top = sh->count - 1, floor = sh->ended_low;
	ts->calls++;
	ips[0] = rip;
	/* As in ps_unwind_fast(), with the check list still to make. */
	if (repeated && changed_at == NO_POSITION && sh->count &&
	    sh->call + 1 == ts->calls && sh->rsp[top] == rsp &&
	    SHADOW_RIP(sh, top) == rip &&
	    (!sh->live[top] || sh->rbp[top] == rbp) && sh->unpinned_from > top) {
		if (sh->checked < top)
			checks_extend(sh, top);
		if ((changed_at = checks_changed(sh, top)) < 0) {
			*repeated = 1;
			sh->call = ts->calls;
			int n = sh->count - sh->ended_low;
			return n < max ? n : max;
		}
	}
	int q = top < changed_at ? top : changed_at - 1;

	struct uw_fresh *f = &ts->fresh;
	uint64_t checked = 0; /* unpinned modules found loaded this walk */
	int unpinned = -1;    /* the last frame in one */
	struct uw_cache_slot *slots = ts->slot;
	uint32_t slot_shift = ts->slot_shift;
	int j = 0, ended_low;
	for (;;) {
		/* state j: rip is ips[j] */
		if (q >= floor) {
			while (q >= floor && sh->rsp[q] < rsp)
				q--;
			if (q >= floor && sh->rsp[q] == rsp &&
			    SHADOW_RIP(sh, q) == rip &&
			    (!sh->live[q] || sh->rbp[q] == rbp)) {
				int n = reuse_tail(s, ts, q, j, ips, max, checked,
						   unpinned, repeated, &changed_at);
				if (n != -1)
					return n;
				/* the walk goes its own way through the
				 * positions from there in; one further out
				 * may still be joined */
				q = changed_at - 1;
			}
		}
		uintptr_t key = rip - 1; /* the call, not what follows it */
		uint32_t rule, mod;
		struct uw_cache_slot *slot = &slots[slot_of(slot_shift, key)];
		if (PS_LIKELY(slot->key == key)) {
			rule = slot->rule;
			mod = slot->mod;
		} else {
			int rc = lookup(s, key, &rule, &mod);
			if (rc < 0)
				return rc;
			cache_missed(ts);
			slots = ts->slot;
			slot_shift = ts->slot_shift;
			slot = &slots[slot_of(slot_shift, key)];
			slot->key = key;
			slot->rule = rule;
			slot->mod = mod;
		}
		if (PS_UNLIKELY(!(mod & PINNED_MOD))) {
			if (check_module(s, mod, key, &checked) < 0)
				return PS_UNWIND_STALE;
			unpinned = j;
		}
		f->rip[j] = rip;
		f->rsp[j] = rsp;
		f->rbp[j] = rbp;
		f->rule[j] = rule;
		f->mod[j] = mod;
		if (PS_UNLIKELY(RULE_KIND(rule) != RULE_STANDARD)) {
			if (rule == (RULE_NO_INFO | RULE_NO_FDE) && j &&
			    ends_at_null_rbp(rip, rbp)) {
				/* rbp decided it: live, as if a CFA base */
				f->rule[j] = RULE_END | RULE_END_NULL_RBP;
			} else if (RULE_KIND(rule) != RULE_END) {
				return RULE_KIND(rule) == RULE_NO_INFO ?
					PS_UNWIND_NO_TABLE : PS_UNWIND_NOT_PROVABLE;
			}
			ended_low = 0;
			break;
		}
		uintptr_t cfa = ((rule & RULE_CFA_RBP) ? rbp : rsp) + RULE_CFA_OFF(rule);
		if (PS_UNLIKELY(cfa - rsp - 1 >= (1u << 30))) /* not above rsp */
			return PS_UNWIND_ODD_FRAME;
		rip = ((const uintptr_t *)cfa)[-1];
		if (rule & RULE_RBP_SAVED)
			rbp = ((const uintptr_t *)cfa)[-(intptr_t)RULE_RBP_SLOT(rule)];
		rsp = cfa;
		if (PS_UNLIKELY(rip < 0x4000)) { /* as libunwind: the end */
			f->rip[j + 1] = rip;
			f->rsp[j + 1] = rsp;
			f->rbp[j + 1] = rbp;
			f->rule[j + 1] = RULE_NOT_PROVABLE;
			f->mod[j + 1] = 0;
			ended_low = 1;
			break;
		}
		if (PS_UNLIKELY(++j == max))
			return j; /* truncated: not a walk to reuse */
		ips[j] = rip;
	}
	/* the new previous walk: its outermost state at position 0, no live
	 * rbp beyond it (its own is live if it decided the end) */
	int outer = j + ended_low;
	SHADOW_RIP(sh, 0) = f->rip[outer];
	sh->rsp[0] = f->rsp[outer];
	sh->rbp[0] = f->rbp[outer];
	sh->rule[0] = f->rule[outer];
	sh->mod[0] = f->mod[outer];
	sh->live[0] = sh->rule[0] == (RULE_END | RULE_END_NULL_RBP);
	shadow_push(sh, 0, f, outer);
	sh->ended_low = ended_low;
	sh->unpinned_from = unpinned >= 0 ? outer - unpinned : NO_POSITION;
	sh->checked = 0;
	sh->hashed = 0;
	sh->call = ts->calls;
	return j + 1;
}

__attribute__((noinline)) int ps_unwind_fast(uintptr_t *ips, int max,
					    int *repeated,
					    const struct ps_unwind_start *start)
{
	/* Our own frame has a frame pointer (__builtin_frame_address forces
	 * one): the caller's state is read off it, unless given. */
	uintptr_t *frame = __builtin_frame_address(0);
	uintptr_t rip = (uintptr_t)__builtin_return_address(0);
	uintptr_t rsp = (uintptr_t)(frame + 2);
	uintptr_t rbp = frame[0];
	if (start) {
		rip = start->rip;
		rsp = start->rsp;
		rbp = start->rbp;
	}
	struct uw_thread *ts = tls_state;
	int changed_at = NO_POSITION;
	/* The common case on its own, first: the caller's state 0 is the
	 * previous call's, and so is its whole walk (reuse_tail() with
	 * j = 0 at the innermost position), a walk in pinned modules only.
	 * Then neither the module map nor the rules matter: a pinned module
	 * stays where it is, its rules as they are (a new map or generation
	 * changes neither), and the walk is a function of state 0 and the
	 * words checked. */
	if (PS_LIKELY(repeated && ts)) {
		struct uw_shadow *sh = &ts->shadow;
		int top = sh->count - 1;
		if (sh->call == ts->calls && sh->count && sh->rsp[top] == rsp &&
		    SHADOW_RIP(sh, top) == rip &&
		    (!sh->live[top] || sh->rbp[top] == rbp) &&
		    sh->unpinned_from > top && !dynamic_info_registered()) {
			if (PS_UNLIKELY(sh->checked < top))
				checks_extend(sh, top);
			if ((changed_at = checks_changed(sh, top)) < 0) {
				sh->call = ++ts->calls;
				ips[0] = rip;
				*repeated = 1;
				int n = sh->count - sh->ended_low;
				return n < max ? n : max;
			}
		}
	}
	return walk(ips, max, repeated, rip, rsp, rbp, changed_at);
}

/* base^k for k = 0..PS_MAX_DEPTH, per lane of the stack hash */
static uint64_t hash_power[2][PS_MAX_DEPTH + 1];

int ps_unwind_hash(int skip, int depth, ps_stack_hash *h)
{
	struct uw_thread *ts = tls_state;
	if (!ts || !ts->shadow.count || ts->shadow.call != ts->calls ||
	    skip < 0 || depth < 0 || depth > PS_MAX_DEPTH)
		return -1;
	struct uw_shadow *sh = &ts->shadow;
	int inner = sh->count - 1 - skip, outer = inner - depth + 1;
	if (outer < sh->ended_low)
		return -1;
	if (sh->hashed <= inner) { /* the prefixes up to inner */
		int q = sh->hashed;
		uint64_t p0, p1;
		if (q) {
			p0 = sh->hash_prefix[0][q - 1];
			p1 = sh->hash_prefix[1][q - 1];
		} else { /* position 0: a frame, or the end's low address */
			p0 = p1 = sh->ended_low ? 0 : ps_stack_hash_mix(SHADOW_RIP(sh, 0));
			sh->hash_prefix[0][0] = p0;
			sh->hash_prefix[1][0] = p1;
			q = 1;
		}
		for (; q <= inner; q++) {
			uint64_t x = ps_stack_hash_mix(SHADOW_RIP(sh, q));
			sh->hash_prefix[0][q] = p0 = p0 * PS_STACK_HASH_BASE0 + x;
			sh->hash_prefix[1][q] = p1 = p1 * PS_STACK_HASH_BASE1 + x;
		}
		sh->hashed = inner + 1;
	}
	uint64_t p[2];
	for (int lane = 0; lane < 2; lane++) {
		p[lane] = depth ? sh->hash_prefix[lane][inner] : 0;
		if (depth && outer > 0)
			p[lane] -= sh->hash_prefix[lane][outer - 1] *
				   hash_power[lane][depth];
	}
	*h = ps_stack_hash_finish(p[0], p[1], depth);
	return 0;
}

int ps_unwind_last(uintptr_t *ips, int max)
{
	struct uw_thread *ts = tls_state;
	if (!ts || !ts->shadow.count)
		return 0;
	const struct uw_shadow *sh = &ts->shadow;
	int n = sh->count - sh->ended_low;
	if (n > max)
		n = max;
	memcpy(ips, &SHADOW_RIP(sh, sh->count - 1), (size_t)n * sizeof *ips);
	return n;
}

/* How far below the last walk's innermost frame the caller's stack
 * pointer may be and still be taken for the same stack: less than a
 * guard page, so a stack mapped just below (a coroutine's) never passes
 * for it, and a word of one that was unmapped is never read. */
#define SAME_STACK_SLACK 2048

int ps_unwind_innermost_running(const uintptr_t *cand, int n)
{
	struct uw_thread *ts = tls_state;
	if (!ts || !ts->shadow.count || ts->shadow.call != ts->calls)
		return -1;
	const struct uw_shadow *sh = &ts->shadow;
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	int top = sh->count - 1;
	if (sp + SAME_STACK_SLACK < sh->rsp[top] || sp > sh->rsp[0])
		return -1;
	/* the candidates are the walk's frames from a few in, consecutive */
	int q = top;
	while (q >= 0 && top - q < 16 && SHADOW_RIP(sh, q) != cand[0])
		q--;
	if (q < 0 || top - q >= 16)
		return -1;
	for (int k = 0; k < n; k++, q--) {
		if (q < 0 || SHADOW_RIP(sh, q) != cand[k])
			return -1;
		if (q == 0)
			return k; /* the outermost frame never returns */
		/* its return address, at its CFA - 8 (the caller's rsp) */
		uintptr_t slot = sh->rsp[q - 1] - sizeof(uintptr_t);
		if (slot > sp && *(const uintptr_t *)slot == SHADOW_RIP(sh, q - 1))
			return k;
	}
	return n;
}

/* ---- setup ------------------------------------------------------------------ */

void ps_unwind_init(void)
{
	state_key_ok = !pthread_key_create(&state_key, thread_state_destroy);
	hash_power[0][0] = hash_power[1][0] = 1;
	for (int k = 1; k <= PS_MAX_DEPTH; k++) {
		hash_power[0][k] = hash_power[0][k - 1] * PS_STACK_HASH_BASE0;
		hash_power[1][k] = hash_power[1][k - 1] * PS_STACK_HASH_BASE1;
	}
	dyn_list = (unw_dyn_info_list_t *)(uintptr_t)_U_dyn_info_list_addr();
	pin_addr[0] = (uintptr_t)&ps_unwind_fast;
	pin_addr[1] = (uintptr_t)getauxval(AT_BASE);          /* ld.so */
	pin_addr[2] = (uintptr_t)getauxval(AT_SYSINFO_EHDR);  /* the vDSO */
	pin_addr[3] = (uintptr_t)dlsym(RTLD_NEXT, "__libc_start_main");
	pin_startup();
	if (ps_lock_try(&table_lock)) {
		rescan(__atomic_load_n(&rescan_request, __ATOMIC_ACQUIRE));
		ps_lock_release(&table_lock);
	}
}
