/* export.c - `poolscout export --format F -o OUT FILE...`: the profiles,
 * merged, in a format other tools read.
 *
 *   pprof       gzipped profile.proto (pprof's upstream message, encoded
 *               with protobuf-c): the four heap sample types, mappings,
 *               locations (inlined frames as extra lines), functions, and
 *               a sample per (process, thread, stack) labelled with pid
 *               and thread, for `go tool pprof`, Pyroscope, Parca
 *   gperftools  the legacy heap profile text read by google-pprof
 *   folded      one "root;...;leaf count" line per stack, for
 *               flamegraph.pl, speedscope, inferno (--sample-index)
 *   json        totals, threads, every site and every stack
 *
 * Stacks are exported after the allocator wrapper frames are removed, as
 * pprof's own heap profiles are, so `go tool pprof -top` shows the same
 * flat numbers as `poolscout top`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "commands.h"
#include "json.h"
#include "memory.h"
#include "present.h"
#include "profile.pb-c.h"
#include "ranking.h"
#include "uthash.h"

typedef Perftools__Profiles__Profile PbProfile;
typedef Perftools__Profiles__ValueType PbValueType;
typedef Perftools__Profiles__Sample PbSample;
typedef Perftools__Profiles__Label PbLabel;
typedef Perftools__Profiles__Mapping PbMapping;
typedef Perftools__Profiles__Location PbLocation;
typedef Perftools__Profiles__Line PbLine;
typedef Perftools__Profiles__Function PbFunction;

static const char *const sample_indexes[] = { "alloc_objects", "alloc_space",
					       "inuse_objects", "inuse_space" };

/* ---- the stacks of a file, by stack id ---------------------------------- */

/* Position in a->stacks of every stack of file f, indexed by stack id. */
static size_t *stack_positions(const analysis *a, const pf_file *f)
{
	size_t *pos = xcalloc(f->nstacks ? f->nstacks : 1, sizeof *pos);
	for (size_t i = 0; i < a->nstacks; i++)
		if (a->stacks[i].file == f)
			pos[a->stacks[i].stack->id] = i;
	return pos;
}

/* ---- pprof ---------------------------------------------------------------- */

struct keyed {
	char *key;
	uint64_t id;
	UT_hash_handle hh;
};

struct pprof {
	PbProfile p;
	struct keyed *strings, *functions, *locations, *mappings;
	size_t cap_strings, cap_samples, cap_locations, cap_functions,
		cap_mappings;
};

static uint64_t lookup(struct keyed **table, const char *key, int *fresh,
		       uint64_t next_id)
{
	struct keyed *k;
	HASH_FIND_STR(*table, key, k);
	*fresh = !k;
	if (k)
		return k->id;
	k = xcalloc(1, sizeof *k);
	k->key = xstrdup(key);
	k->id = next_id;
	HASH_ADD_KEYPTR(hh, *table, k->key, strlen(k->key), k);
	return k->id;
}

#define GROW(arr, n, cap)                                                 \
	do {                                                              \
		if ((n) == (cap)) {                                       \
			(cap) = (cap) ? (cap) * 2 : 64;                   \
			(arr) = xrealloc((arr), (cap) * sizeof *(arr));   \
		}                                                         \
	} while (0)

static int64_t str_id(struct pprof *x, const char *s)
{
	int fresh;
	uint64_t id = lookup(&x->strings, s, &fresh, x->p.n_string_table);
	if (fresh) {
		GROW(x->p.string_table, x->p.n_string_table, x->cap_strings);
		x->p.string_table[x->p.n_string_table++] = xstrdup(s);
	}
	return (int64_t)id;
}

static PbValueType *value_type(struct pprof *x, const char *type,
			       const char *unit)
{
	PbValueType *v = xcalloc(1, sizeof *v);
	perftools__profiles__value_type__init(v);
	v->type = str_id(x, type);
	v->unit = str_id(x, unit);
	return v;
}

static uint64_t mapping_id(struct pprof *x, size_t fi, const pf_module *m)
{
	char key[64];
	int fresh;
	snprintf(key, sizeof key, "%zu:%u", fi, m->id);
	uint64_t id = lookup(&x->mappings, key, &fresh, x->p.n_mapping + 1);
	if (!fresh)
		return id;
	PbMapping *pm = xcalloc(1, sizeof *pm);
	perftools__profiles__mapping__init(pm);
	pm->id = id;
	pm->memory_start = m->lo;
	pm->memory_limit = m->hi;
	pm->file_offset = 0;
	pm->filename = str_id(x, m->path);
	char hex[130];
	for (uint32_t i = 0; i < m->build_id_len; i++)
		sprintf(hex + 2 * i, "%02x", m->build_id[i]);
	hex[2 * m->build_id_len] = 0;
	pm->build_id = str_id(x, hex);
	pm->has_functions = pm->has_filenames = pm->has_line_numbers =
		pm->has_inline_frames = 1;
	GROW(x->p.mapping, x->p.n_mapping, x->cap_mappings);
	x->p.mapping[x->p.n_mapping++] = pm;
	return id;
}

static uint64_t function_id(struct pprof *x, const an_frame *f)
{
	char *key = xasprintf("%s\t%s", f->function, f->file ? f->file : "");
	int fresh;
	uint64_t id = lookup(&x->functions, key, &fresh, x->p.n_function + 1);
	free(key);
	if (!fresh)
		return id;
	PbFunction *pf = xcalloc(1, sizeof *pf);
	perftools__profiles__function__init(pf);
	pf->id = id;
	pf->name = pf->system_name = str_id(x, f->function);
	pf->filename = str_id(x, f->file ? f->file : "");
	GROW(x->p.function, x->p.n_function, x->cap_functions);
	x->p.function[x->p.n_function++] = pf;
	return id;
}

/* The location of frames [k, end) of st that share one return address
 * (the inlined callees first, the function they were inlined into last). */
static uint64_t location_id(struct pprof *x, size_t fi, const an_stack *st,
			    unsigned k, unsigned end)
{
	char key[96];
	int fresh;
	snprintf(key, sizeof key, "%zu:%llx:%u", fi,
		 (unsigned long long)st->frames[k]->ip, end - k);
	uint64_t id = lookup(&x->locations, key, &fresh, x->p.n_location + 1);
	if (!fresh)
		return id;
	PbLocation *loc = xcalloc(1, sizeof *loc);
	perftools__profiles__location__init(loc);
	loc->id = id;
	loc->address = st->frames[k]->ip ? st->frames[k]->ip - 1 : 0;
	const pf_module *m = pf_module_for(st->file, st->frames[k]->ip,
					   st->stack->map_epoch);
	if (m)
		loc->mapping_id = mapping_id(x, fi, m);
	loc->n_line = end - k;
	loc->line = xcalloc(loc->n_line, sizeof *loc->line);
	for (unsigned i = k; i < end; i++) {
		PbLine *line = xcalloc(1, sizeof *line);
		perftools__profiles__line__init(line);
		line->function_id = function_id(x, st->frames[i]);
		line->line = st->frames[i]->line;
		loc->line[i - k] = line;
	}
	GROW(x->p.location, x->p.n_location, x->cap_locations);
	x->p.location[x->p.n_location++] = loc;
	return id;
}

static PbLabel *label(struct pprof *x, const char *key, const char *str,
		      int64_t num)
{
	PbLabel *l = xcalloc(1, sizeof *l);
	perftools__profiles__label__init(l);
	l->key = str_id(x, key);
	if (str)
		l->str = str_id(x, str);
	else
		l->num = num;
	return l;
}

/* Allocations profile f recorded (its scale aside). */
static uint64_t file_allocs(const pf_file *f)
{
	uint64_t n = 0;
	for (size_t i = 0; i < f->nentries; i++)
		n += f->entries[i].allocs;
	return n;
}

static void add_samples(struct pprof *x, const analysis *a, size_t fi)
{
	const pf_file *f = a->set->files[fi];
	size_t *pos = stack_positions(a, f);
	uint64_t k = pf_scale(f);
	for (size_t i = 0; i < f->nentries; i++) {
		const pf_entry *e = &f->entries[i];
		const an_stack *st = &a->stacks[pos[e->stack_id]];
		const pf_thread *t = f->threads[e->thread_index];
		PbSample *s = xcalloc(1, sizeof *s);
		perftools__profiles__sample__init(s);
		s->n_value = 4;
		s->value = xcalloc(4, sizeof *s->value);
		s->value[0] = (int64_t)(e->allocs * k);
		s->value[1] = (int64_t)(e->alloc_bytes * k);
		s->value[2] = (int64_t)((e->allocs - e->frees) * k);
		s->value[3] = (int64_t)((e->alloc_bytes - e->free_bytes) * k);
		s->location_id = xcalloc(st->nframes, sizeof *s->location_id);
		for (unsigned j = 0; j < st->nframes;) {
			unsigned end = j + 1;
			while (end < st->nframes &&
			       st->frames[end]->ip == st->frames[j]->ip)
				end++;
			s->location_id[s->n_location_id++] =
				location_id(x, fi, st, j, end);
			j = end;
		}
		char tname[64];
		snprintf(tname, sizeof tname, "%s (%u)", t->name[0] ? t->name : "?",
			 t->tid);
		s->n_label = 3;
		s->label = xcalloc(3, sizeof *s->label);
		s->label[0] = label(x, "pid", NULL, f->pid);
		s->label[1] = label(x, "tid", NULL, t->tid);
		s->label[2] = label(x, "thread", tname, 0);
		GROW(x->p.sample, x->p.n_sample, x->cap_samples);
		x->p.sample[x->p.n_sample++] = s;
	}
	free(pos);
}

static void free_keyed(struct keyed **table)
{
	struct keyed *k, *tmp;
	HASH_ITER(hh, *table, k, tmp) {
		HASH_DEL(*table, k);
		free(k->key);
		free(k);
	}
}

static void free_pprof(struct pprof *x)
{
	PbProfile *p = &x->p;
	for (size_t i = 0; i < p->n_sample_type; i++)
		free(p->sample_type[i]);
	free(p->sample_type);
	free(p->period_type);
	for (size_t i = 0; i < p->n_sample; i++) {
		for (size_t l = 0; l < p->sample[i]->n_label; l++)
			free(p->sample[i]->label[l]);
		free(p->sample[i]->label);
		free(p->sample[i]->value);
		free(p->sample[i]->location_id);
		free(p->sample[i]);
	}
	free(p->sample);
	for (size_t i = 0; i < p->n_location; i++) {
		for (size_t l = 0; l < p->location[i]->n_line; l++)
			free(p->location[i]->line[l]);
		free(p->location[i]->line);
		free(p->location[i]);
	}
	free(p->location);
	for (size_t i = 0; i < p->n_function; i++)
		free(p->function[i]);
	free(p->function);
	for (size_t i = 0; i < p->n_mapping; i++)
		free(p->mapping[i]);
	free(p->mapping);
	for (size_t i = 0; i < p->n_string_table; i++)
		free(p->string_table[i]);
	free(p->string_table);
	free_keyed(&x->strings);
	free_keyed(&x->functions);
	free_keyed(&x->locations);
	free_keyed(&x->mappings);
}

static int export_pprof(const analysis *a, const char *out)
{
	struct pprof x;
	memset(&x, 0, sizeof x);
	perftools__profiles__profile__init(&x.p);
	str_id(&x, ""); /* string_table[0] must be "" */
	x.p.n_sample_type = 4;
	x.p.sample_type = xcalloc(4, sizeof *x.p.sample_type);
	x.p.sample_type[0] = value_type(&x, "alloc_objects", "count");
	x.p.sample_type[1] = value_type(&x, "alloc_space", "bytes");
	x.p.sample_type[2] = value_type(&x, "inuse_objects", "count");
	x.p.sample_type[3] = value_type(&x, "inuse_space", "bytes");
	x.p.period_type = value_type(&x, "space", "bytes");
	x.p.period = a->sample_every;
	x.p.default_sample_type = str_id(&x, "alloc_objects");
	/* pprof takes the first mapping for the main binary (its File:
	 * line, -list and -disasm): the program of the profile with the
	 * most allocations first (of a process tree, the one profiled, not
	 * the shell that started it) */
	size_t main_fi = 0;
	uint64_t most = 0;
	for (size_t fi = 0; fi < a->set->nfiles; fi++) {
		uint64_t n = file_allocs(a->set->files[fi]);
		if (n > most) {
			main_fi = fi;
			most = n;
		}
	}
	if (a->set->nfiles) {
		const pf_file *f = a->set->files[main_fi];
		for (size_t i = 0; f->exe && i < f->nmodules; i++)
			if (f->modules[i].path && !strcmp(f->modules[i].path, f->exe)) {
				mapping_id(&x, main_fi, &f->modules[i]);
				break;
			}
	}
	for (size_t fi = 0; fi < a->set->nfiles; fi++)
		add_samples(&x, a, fi);
	if (a->set->nfiles) {
		const pf_file *f = a->set->files[0];
		x.p.time_nanos = (int64_t)f->start_real_ns;
	}
	x.p.duration_nanos = (int64_t)a->duration_ns;

	size_t len = perftools__profiles__profile__get_packed_size(&x.p);
	uint8_t *buf = xmalloc(len);
	perftools__profiles__profile__pack(&x.p, buf);
	free_pprof(&x);
	gzFile gz = gzopen(out, "wb9");
	int ok = gz && gzwrite(gz, buf, (unsigned)len) == (int)len;
	if (gz && gzclose(gz) != Z_OK)
		ok = 0;
	free(buf);
	if (!ok) {
		fprintf(stderr, "poolscout: export: cannot write %s: %s\n", out,
			strerror(errno));
		return 1;
	}
	return 0;
}

/* ---- gperftools ----------------------------------------------------------- */

static int export_gperftools(const analysis *a, FILE *out)
{
	uint64_t inuse = a->allocs - a->frees;
	uint64_t inuse_bytes = a->alloc_bytes - a->free_bytes;
	uint64_t alloc_bytes = a->alloc_bytes;
	/* Readers treat equal in-use and alloc pairs as an old profile with
	 * only one kind of value; one byte more keeps them apart. */
	if (inuse == a->allocs && inuse_bytes == alloc_bytes)
		alloc_bytes++;
	fprintf(out, "heap profile: %6llu: %8llu [%6llu: %8llu] @ heapprofile\n",
		(unsigned long long)inuse, (unsigned long long)inuse_bytes,
		(unsigned long long)a->allocs, (unsigned long long)alloc_bytes);
	for (size_t i = 0; i < a->nstacks; i++) {
		const an_stack *st = &a->stacks[i];
		if (!st->allocs)
			continue;
		fprintf(out, "%6llu: %8llu [%6llu: %8llu] @",
			(unsigned long long)(st->allocs - st->frees),
			(unsigned long long)(st->alloc_bytes - st->free_bytes),
			(unsigned long long)st->allocs,
			(unsigned long long)st->alloc_bytes);
		/* the recorded return addresses from the site outwards */
		uint32_t from = 0;
		while (from < st->stack->depth &&
		       st->stack->ips[from] != st->frames[0]->ip)
			from++;
		if (from == st->stack->depth)
			from = 0;
		for (uint32_t k = from; k < st->stack->depth; k++)
			fprintf(out, " 0x%016llx",
				(unsigned long long)st->stack->ips[k]);
		fputc('\n', out);
	}
	/* The readers know one address space: the first file's. */
	fputs("\nMAPPED_LIBRARIES:\n", out);
	if (!a->set->nfiles)
		return 0;
	const pf_file *f = a->set->files[0];
	for (size_t i = 0; i < f->nmodules; i++) {
		const pf_module *m = &f->modules[i];
		if (!m->id || m->unload_epoch || m->path[0] != '/')
			continue;
		for (uint32_t s = 0; s < m->nseg; s++) {
			if (!(m->seg[s].flags & 1)) /* PF_X */
				continue;
			uint64_t start = (m->base + m->seg[s].vaddr) & ~0xfffull;
			uint64_t end = (m->base + m->seg[s].vaddr + m->seg[s].memsz +
					0xfff) & ~0xfffull;
			fprintf(out, "%08llx-%08llx r-xp %08llx 00:00 0 %s\n",
				(unsigned long long)start, (unsigned long long)end,
				(unsigned long long)(m->seg[s].offset & ~0xfffull),
				m->path);
		}
	}
	return 0;
}

/* ---- folded --------------------------------------------------------------- */

static void export_folded(const analysis *a, const char *index, FILE *out)
{
	for (size_t i = 0; i < a->nstacks; i++) {
		const an_stack *st = &a->stacks[i];
		uint64_t v = stack_value(st, index);
		if (!v)
			continue;
		for (unsigned k = st->nframes; k-- > 0;) {
			for (const char *c = st->frames[k]->function; *c; c++)
				fputc(*c == ';' || *c == ' ' ? '_' : *c, out);
			fputc(k ? ';' : ' ', out);
		}
		fprintf(out, "%llu\n", (unsigned long long)v);
	}
}

/* ---- json ------------------------------------------------------------------ */

static void export_json(analysis *a, FILE *out)
{
	rank_sites(a);
	json j;
	json_init(&j, out);
	json_begin_object(&j, NULL);
	json_ranked(&j, a, a->nsites);
	json_begin_array(&j, "stacks");
	for (size_t i = 0; i < a->nstacks; i++) {
		const an_stack *st = &a->stacks[i];
		json_begin_object(&j, NULL);
		json_u64(&j, "pid", st->file->pid);
		json_str(&j, "site", a->sites[st->site].where.function);
		for (unsigned x = 0; x < 4; x++)
			json_u64(&j, sample_indexes[x],
				 stack_value(st, sample_indexes[x]));
		json_frames(&j, st, st->nframes);
		json_end_object(&j);
	}
	json_end_array(&j);
	json_end_object(&j);
	json_finish(&j);
}

int cmd_export(int argc, char **argv)
{
	const char *format = NULL, *out = NULL, *index = "alloc_objects";
	view_opts o = { 0 };
	int i;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *arg = argv[i];
		if (i + 1 >= argc)
			return usage_error("export: %s needs a value", arg);
		if (!strcmp(arg, "--format"))
			format = argv[++i];
		else if (!strcmp(arg, "-o"))
			out = argv[++i];
		else if (!strcmp(arg, "--sample-index"))
			index = argv[++i];
		else {
			int rc = view_opt_one(&o, argc, argv, &i, "export", 0);
			if (rc == 2)
				return 2;
			if (!rc || o.json || o.limit)
				return usage_error("export: unknown option '%s'", arg);
		}
	}
	if (options_after_files(argc, argv, i, "export"))
		return 2;
	if (!format || !out || i >= argc)
		return usage_error("export: usage: poolscout export --format "
				   "pprof|gperftools|folded|json -o OUT FILE...");
	int known = 0;
	for (unsigned x = 0; x < 4; x++)
		known |= !strcmp(index, sample_indexes[x]);
	if (!known)
		return usage_error("export: --sample-index expects alloc_objects, "
				   "alloc_space, inuse_objects or inuse_space");
	if (strcmp(format, "pprof") && strcmp(format, "gperftools") &&
	    strcmp(format, "folded") && strcmp(format, "json"))
		return usage_error("export: unknown format '%s' (pprof, gperftools, "
				   "folded, json)", format);
	o.files = argv + i;
	o.nfiles = argc - i;
	analysis a;
	int rc = analysis_load(&a, o.files, o.nfiles, &o.model);
	if (rc) {
		analysis_free(&a);
		return rc;
	}
	if (!strcmp(format, "pprof")) {
		rc = export_pprof(&a, out);
	} else {
		FILE *fp = strcmp(out, "-") ? fopen(out, "w") : stdout;
		if (!fp) {
			fprintf(stderr, "poolscout: export: cannot write %s: %s\n",
				out, strerror(errno));
			rc = 1;
		} else {
			if (!strcmp(format, "gperftools")) {
				if (a.set->nfiles > 1)
					fprintf(stderr, "poolscout: export: gperftools "
							"holds one address space; "
							"mappings are the first file's\n");
				export_gperftools(&a, fp);
			} else if (!strcmp(format, "folded")) {
				export_folded(&a, index, fp);
			} else {
				export_json(&a, fp);
			}
			if (fp != stdout && fclose(fp)) {
				fprintf(stderr, "poolscout: export: cannot write %s: %s\n",
					out, strerror(errno));
				rc = 1;
			}
		}
	}
	analysis_free(&a);
	return rc;
}
