/* nodes.c - live blocks counted per site candidate, so the analyzer can
 * give a site's exact peak (the most of its blocks live at once: a pool's
 * size) however many stacks reach it.
 *
 * Which frame of a stack is its site is decided offline, after
 * symbolization and wrapper detection; the preload cannot know it. But it
 * is one of the first frames outside the runtime (psruntime.h): the caller
 * of the allocator, or of a wrapper around it. So each stack names up to
 * PS_SITE_CANDIDATES such frames (ps_stack.cand_*), and each thread keeps
 * one node per candidate return address: the live blocks it allocated
 * from every stack that has that address among its candidates. All the
 * stacks of a site share the node of the site's return address, so its
 * peak is the site's peak on that thread, exactly, with owner-only stores.
 * The node with ip 0 counts every block of the thread.
 *
 * With --site-peak each node also feeds a process-wide node (one shared
 * counter per candidate, atomic on every allocation and free: exact peaks
 * across threads, at the price of contention on hot shared sites).
 *
 * An entry reaches its nodes through a node set, one per distinct list of
 * candidates on a thread, shared by all the entries with that list. When
 * a thread has ended, its nodes and sets are taken whole (ps_nodes_take)
 * and freed by the thread registry once no free can reach them.
 */
#include <string.h>

#include "ps_internal.h"

static ps_lock_t gnode_lock;
static ps_ptrtable *gnode_table;
static ps_gnode *gnode_newest;

static uint64_t ip_hash(uintptr_t ip)
{
	uint64_t h = (uint64_t)ip * 0x9e3779b97f4a7c15ull;
	return h ^ h >> 29;
}

static uint64_t gnode_hash(const void *p)
{
	return ip_hash(((const ps_gnode *)p)->ip);
}

static uint64_t node_hash(const void *p)
{
	return ip_hash(((const ps_node *)p)->ip);
}

static uint64_t cand_hash(const uintptr_t *cand, int ncand)
{
	uint64_t h = (uint64_t)ncand;
	for (int i = 0; i < ncand; i++)
		h = ip_hash(h ^ cand[i]);
	return h;
}

static uint64_t nodeset_hash(const void *p)
{
	const ps_nodeset *ns = p;
	return cand_hash(ns->cand, (int)ns->ncand);
}

ps_gnode *ps_gnode_get(uintptr_t ip)
{
	uint64_t h = ip_hash(ip);
	ps_gnode *g = NULL;
	ps_lock_acquire(&gnode_lock);
	for (uint32_t i = gnode_table ? ps_ptrtable_home(gnode_table, h) : 0;
	     gnode_table && gnode_table->slot[i];
	     i = i + 1 == gnode_table->cap ? 0 : i + 1) {
		ps_gnode *q = PS_PTRTABLE_PTR(gnode_table->slot[i]);
		if (q->ip == ip) {
			g = q;
			goto out;
		}
	}
	g = ps_arena_alloc(sizeof *g);
	if (!g)
		goto out;
	g->ip = ip;
	if (ps_ptrtable_add(&gnode_table, h, g, gnode_hash, 0)) {
		ps_arena_free(g, sizeof *g);
		g = NULL;
		goto out;
	}
	g->next_all = gnode_newest;
	__atomic_store_n(&gnode_newest, g, __ATOMIC_RELEASE);
out:
	ps_lock_release(&gnode_lock);
	return g;
}

ps_gnode *ps_gnodes_newest(void)
{
	return __atomic_load_n(&gnode_newest, __ATOMIC_ACQUIRE);
}

/* The node of thread t for ip (0: t's total), created on first use, or
 * NULL when out of memory. */
static ps_node *node_get(ps_thread *t, uintptr_t ip)
{
	uint64_t h = ip_hash(ip);
	ps_ptrtable *tab = t->node_table;
	for (uint32_t i = tab ? ps_ptrtable_home(tab, h) : 0; tab && tab->slot[i];
	     i = i + 1 == tab->cap ? 0 : i + 1) {
		ps_node *n = PS_PTRTABLE_PTR(tab->slot[i]);
		if (n->ip == ip)
			return n;
	}
	ps_node *n = ps_arena_alloc(sizeof *n);
	if (!n)
		return NULL;
	n->ip = ip;
	if (ps_opt.site_peak)
		n->global = ps_gnode_get(ip);
	if (ps_ptrtable_add(&t->node_table, h, n, node_hash, 0)) {
		ps_arena_free(n, sizeof *n);
		return NULL;
	}
	n->next_all = t->nodes;
	__atomic_store_n(&t->nodes, n, __ATOMIC_RELEASE);
	return n;
}

ps_nodeset *ps_nodeset_get(ps_thread *t, const uintptr_t *cand, int ncand)
{
	uint64_t h = cand_hash(cand, ncand);
	ps_ptrtable *tab = t->nodeset_table;
	for (uint32_t i = tab ? ps_ptrtable_home(tab, h) : 0; tab && tab->slot[i];
	     i = i + 1 == tab->cap ? 0 : i + 1) {
		ps_nodeset *ns = PS_PTRTABLE_PTR(tab->slot[i]);
		if (ns->ncand == (uint32_t)ncand &&
		    !memcmp(ns->cand, cand, (size_t)ncand * sizeof *cand))
			return ns;
	}
	ps_nodeset *ns = ps_arena_alloc(sizeof *ns);
	if (!ns)
		return NULL;
	ns->ncand = (uint32_t)ncand;
	memcpy(ns->cand, cand, (size_t)ncand * sizeof *cand);
	/* each distinct candidate (0 is never a return address), then the
	 * thread's total */
	for (int i = 0; i < ncand; i++) {
		int seen = !cand[i];
		for (uint32_t k = 0; k < ns->n; k++)
			seen |= ns->node[k]->ip == cand[i];
		ps_node *n = seen ? NULL : node_get(t, cand[i]);
		if (n)
			ns->node[ns->n++] = n;
	}
	ps_node *total = node_get(t, 0);
	if (total)
		ns->node[ns->n++] = total;
	if (ps_ptrtable_add(&t->nodeset_table, h, ns, nodeset_hash, 0)) {
		ps_arena_free(ns, sizeof *ns);
		return NULL;
	}
	ns->next = t->nodesets;
	t->nodesets = ns;
	return ns;
}

ps_node_bundle ps_nodes_take(ps_thread *t)
{
	ps_node_bundle b = { t->nodes, t->nodesets };
	ps_ptrtable_free(t->node_table);
	ps_ptrtable_free(t->nodeset_table);
	t->node_table = t->nodeset_table = NULL;
	__atomic_store_n(&t->nodes, NULL, __ATOMIC_RELEASE);
	t->nodesets = NULL;
	return b;
}

void ps_node_bundle_free(ps_node_bundle b)
{
	while (b.nodes) {
		ps_node *next = b.nodes->next_all;
		ps_arena_free(b.nodes, sizeof *b.nodes);
		b.nodes = next;
	}
	while (b.nodesets) {
		ps_nodeset *next = b.nodesets->next;
		ps_arena_free(b.nodesets, sizeof *b.nodesets);
		b.nodesets = next;
	}
}

void ps_nodes_lock(void)
{
	ps_lock_acquire(&gnode_lock);
}

void ps_nodes_unlock(void)
{
	ps_lock_release(&gnode_lock);
}

void ps_nodes_reset_child(void)
{
	gnode_table = NULL;
	gnode_newest = NULL;
	gnode_lock.locked = 0;
}
