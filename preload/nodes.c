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
 */
#include "ps_internal.h"

static ps_lock_t gnode_lock;
static ps_gnode *gnode_table;
static ps_gnode *gnode_newest;

ps_gnode *ps_gnode_get(uintptr_t ip)
{
	ps_gnode *g;
	ps_lock_acquire(&gnode_lock);
	HASH_FIND(hh, gnode_table, &ip, sizeof ip, g);
	if (!g) {
		g = ps_arena_alloc(sizeof *g);
		if (g) {
			g->ip = ip;
			HASH_ADD(hh, gnode_table, ip, sizeof g->ip, g);
			ps_uthash_oom = 0;
			g->next_all = gnode_newest;
			__atomic_store_n(&gnode_newest, g, __ATOMIC_RELEASE);
		}
	}
	ps_lock_release(&gnode_lock);
	return g;
}

ps_gnode *ps_gnodes_newest(void)
{
	return __atomic_load_n(&gnode_newest, __ATOMIC_ACQUIRE);
}

ps_node *ps_node_get(ps_thread *t, uintptr_t ip)
{
	ps_node *n;
	HASH_FIND(hh, t->node_table, &ip, sizeof ip, n);
	if (PS_LIKELY(n != NULL))
		return n;
	n = ps_arena_alloc(sizeof *n);
	if (!n)
		return NULL;
	n->ip = ip;
	if (ps_opt.site_peak)
		n->global = ps_gnode_get(ip);
	HASH_ADD(hh, t->node_table, ip, sizeof n->ip, n);
	ps_uthash_oom = 0;
	n->next_all = t->nodes;
	__atomic_store_n(&t->nodes, n, __ATOMIC_RELEASE);
	return n;
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
