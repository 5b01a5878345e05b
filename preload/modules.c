/* modules.c - the module map: every object loaded in the process, with its
 * load address, PT_LOAD segments and GNU build-id, so the analyzer can
 * symbolize return addresses offline.
 *
 * The map is re-read only when the loader's dlpi_adds/dlpi_subs counters
 * moved (dlopen/dlclose), and only from ps_stack_intern, that is when a new
 * stack is seen. Each re-read that changes the map bumps the epoch; a stack
 * records the epoch it was captured in, and a module records the epochs it
 * was loaded in, so a stack through a library that is later dlclose'd (and
 * maybe replaced by another at the same address) still resolves.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "ps_internal.h"
#include "psruntime.h"

static ps_lock_t module_lock;
static ps_module *module_newest;
static uint32_t module_count;
static uint32_t map_epoch;
static unsigned long long seen_adds = ~0ull, seen_subs = ~0ull;

struct scan {
	unsigned long long adds, subs;
	int counters_only;
};

static void read_build_id(ps_module *m, const struct dl_phdr_info *info)
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
			const char *name = p + sizeof *nh;
			const char *desc = name + name_sz;
			if (desc + desc_sz > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !memcmp(name, "GNU", 4) &&
			    nh->n_descsz <= sizeof m->build_id) {
				memcpy(m->build_id, desc, nh->n_descsz);
				m->build_id_len = nh->n_descsz;
				return;
			}
			p = desc + desc_sz;
		}
	}
}

/* The absolute path of the file mapped at addr, from /proc/self/maps, into
 * out; 0, or -1 when no file is mapped there. For objects the loader names
 * by a relative path (dlopen("./lib.so")): the analyzer runs elsewhere.
 * Allocation-free (read() into a stack buffer). */
static int mapped_path(uintptr_t addr, char *out, size_t outlen)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[4096];
	size_t have = 0;
	int found = -1;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = 0;
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n'))) {
			*nl = 0;
			unsigned long lo, hi;
			int at = 0;
			if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi,
				   &at) == 2 && at && addr >= lo && addr < hi &&
			    line[at] == '/') {
				snprintf(out, outlen, "%s", line + at);
				found = 0;
				goto done;
			}
			line = nl + 1;
		}
		/* keep the unfinished line; a line longer than the buffer
		 * is dropped */
		have = (size_t)(buf + have - line);
		if (have == sizeof buf - 1)
			have = 0;
		memmove(buf, line, have);
	}
done:
	close(fd);
	return found;
}

static int same_module(const ps_module *m, const struct dl_phdr_info *info,
		       const char *path)
{
	return m->base == info->dlpi_addr && !m->unload_epoch &&
	       !strcmp(m->path, path);
}

static int scan_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct scan *sc = arg;
	(void)size;
	sc->adds = info->dlpi_adds;
	sc->subs = info->dlpi_subs;
	if (sc->counters_only)
		return 1;

	/* the module lock is held: one buffer will do, off the stack */
	static char exe[PATH_MAX];
	const char *path = info->dlpi_name;
	if (!path || !*path) {
		/* The main program has no name here. */
		ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
		exe[n > 0 ? n : 0] = 0;
		path = exe;
	} else if (path[0] != '/' && info->dlpi_phnum) {
		/* dlopen'd by a relative path: name the file itself. The
		 * vDSO ("linux-vdso.so.1") is no file: keep its name
		 * without reading the whole of /proc/self/maps to learn it. */
		for (int i = 0; i < info->dlpi_phnum; i++)
			if (info->dlpi_phdr[i].p_type == PT_LOAD) {
				uintptr_t lo = info->dlpi_addr +
					       info->dlpi_phdr[i].p_vaddr;
				if (lo != getauxval(AT_SYSINFO_EHDR) &&
				    !mapped_path(lo, exe, sizeof exe))
					path = exe;
				break;
			}
	}
	for (ps_module *m = module_newest; m; m = m->next_all) {
		if (same_module(m, info, path)) {
			m->present = 1;
			return 0;
		}
	}
	size_t len = strnlen(path, PATH_MAX - 1);
	ps_module *m = ps_arena_alloc(sizeof *m);
	char *copy = m ? ps_arena_alloc(len + 1) : NULL;
	if (!copy) {
		if (m)
			ps_arena_free(m, sizeof *m);
		return 1;
	}
	memcpy(copy, path, len);
	copy[len] = 0;
	m->path = copy;
	m->base = info->dlpi_addr;
	m->lo = UINTPTR_MAX;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (lo < m->lo)
			m->lo = lo;
		if (lo + ph->p_memsz > m->hi)
			m->hi = lo + ph->p_memsz;
		if (m->nseg < sizeof m->seg / sizeof *m->seg) {
			m->seg[m->nseg].vaddr = ph->p_vaddr;
			m->seg[m->nseg].memsz = ph->p_memsz;
			m->seg[m->nseg].offset = ph->p_offset;
			m->seg[m->nseg].flags = ph->p_flags;
			m->nseg++;
		}
	}
	read_build_id(m, info);
	m->runtime = ps_runtime_module(m->path);
	m->load_epoch = map_epoch + 1;
	m->id = ++module_count;
	m->present = 1;
	m->next_all = module_newest;
	__atomic_store_n(&module_newest, m, __ATOMIC_RELEASE);
	return 0;
}

uint32_t ps_modules_refresh(void)
{
	struct scan sc = { .counters_only = 1 };
	ps_lock_acquire(&module_lock);
	dl_iterate_phdr(scan_cb, &sc);
	if (sc.adds == seen_adds && sc.subs == seen_subs) {
		uint32_t e = map_epoch;
		ps_lock_release(&module_lock);
		return e;
	}
	sc.counters_only = 0;
	for (ps_module *m = module_newest; m; m = m->next_all)
		m->present = 0;
	dl_iterate_phdr(scan_cb, &sc);
	map_epoch++;
	for (ps_module *m = module_newest; m; m = m->next_all) {
		if (!m->unload_epoch && !m->present)
			__atomic_store_n(&m->unload_epoch, map_epoch,
					 __ATOMIC_RELEASE);
	}
	seen_adds = sc.adds;
	seen_subs = sc.subs;
	uint32_t e = map_epoch;
	ps_lock_release(&module_lock);
	return e;
}

int ps_modules_ip_is_runtime(uintptr_t ip)
{
	for (ps_module *m = ps_modules_newest(); m; m = m->next_all) {
		if (ip < m->lo || ip >= m->hi ||
		    __atomic_load_n(&m->unload_epoch, __ATOMIC_ACQUIRE))
			continue;
		for (uint32_t i = 0; i < m->nseg; i++) {
			uintptr_t lo = m->base + m->seg[i].vaddr;
			if (ip >= lo && ip < lo + m->seg[i].memsz)
				return m->runtime;
		}
	}
	return 0;
}

ps_module *ps_modules_newest(void)
{
	return __atomic_load_n(&module_newest, __ATOMIC_ACQUIRE);
}

void ps_modules_lock(void)
{
	ps_lock_acquire(&module_lock);
}

void ps_modules_unlock(void)
{
	ps_lock_release(&module_lock);
}

void ps_modules_reset_child(void)
{
	/* The child keeps the parent's mappings: drop the records (the arena
	 * is reset) and let the next refresh read the whole map again. */
	module_newest = NULL;
	module_count = 0;
	map_epoch = 0;
	seen_adds = seen_subs = ~0ull;
	module_lock.locked = 0;
}
