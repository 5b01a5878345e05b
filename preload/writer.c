/* writer.c - the profile file and the snapshot thread.
 *
 * Every ps_opt.interval_ms a background thread encodes what changed since
 * the last snapshot (new modules, new stacks, thread identities, and the
 * cumulative counters of every touched (stack, thread) entry) into one
 * batch of records and appends it with a single write(2). A run killed at
 * any point therefore leaves a file that reads up to its last batch, and
 * the file grows with sites x threads x snapshots, not with allocations.
 *
 * The encoding buffer is mmap'd; nothing here calls malloc. The thread
 * blocks every signal, never records its own allocations, and does not
 * keep the process alive: when the main thread has ended with pthread_exit
 * and every other thread is gone, it calls exit(0) as glibc would have.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "ps_internal.h"

static ps_lock_t writer_lock;
/* What the calling thread holds: the lock alone (fork), or the lock while
 * it encodes a batch. A thread-local, so a signal handler that interrupts
 * its own thread sees it. */
enum { WRITER_HELD = 1, WRITER_ENCODING = 2 };
static __thread int writer_held PS_TLS;
static int out_fd = -1;
static dev_t out_dev;
static ino_t out_ino;
static char out_path[4200];
static int open_failed;      /* warned once; this process runs unprofiled */
static int write_stopped;    /* a batch could not go out: warned once */
static uint64_t out_size;    /* bytes of complete batches in the file */
static int finished;         /* an END other than exec was written */
static int thread_running;
static int main_exited;
static int last_thread_exit; /* the writer is ending the process */
static uint64_t snapshot_seq;
static uint64_t next_poll_ns; /* hook-driven snapshots: when the next is due */
static uint64_t start_mono, start_real, start_ticks;
static uint32_t stacks_written; /* highest stack id written */
static uint32_t threads_declared; /* highest thread index written */

static uint8_t *buf;
static size_t buf_len, buf_cap;
static int buf_failed;

/* ---- encoding buffer ---------------------------------------------------- */

static int reserve(size_t more)
{
	if (buf_failed)
		return -1;
	if (buf_len + more <= buf_cap)
		return 0;
	size_t cap = buf_cap ? buf_cap : (1u << 20);
	while (cap < buf_len + more)
		cap *= 2;
	void *p = buf ? mremap(buf, buf_cap, cap, MREMAP_MAYMOVE)
		      : mmap(NULL, cap, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		buf_failed = 1;
		return -1;
	}
	buf = p;
	buf_cap = cap;
	return 0;
}

static void put_varint(uint64_t v)
{
	if (reserve(PS_VARINT_MAX) == 0)
		buf_len += ps_varint_put(buf + buf_len, v);
}

static void put_bytes(const void *p, size_t n)
{
	put_varint(n);
	if (reserve(n) == 0) {
		memcpy(buf + buf_len, p, n);
		buf_len += n;
	}
}

static void put_str(const char *s)
{
	put_bytes(s, strlen(s));
}

/* Reserves a 5-byte varint to be filled in later by patch_count(). */
static size_t put_count_slot(void)
{
	size_t at = buf_len;
	if (reserve(5) == 0)
		buf_len += 5;
	return at;
}

/* Writes v as a padded (non-minimal, still valid LEB128) 5-byte varint. */
static void patch_count(size_t at, uint64_t v)
{
	if (buf_failed)
		return;
	for (int i = 0; i < 4; i++)
		buf[at + i] = (uint8_t)((v >> (7 * i)) & 0x7f) | 0x80;
	buf[at + 4] = (uint8_t)((v >> 28) & 0x7f);
}

static size_t record_begin(uint32_t type)
{
	size_t at = buf_len;
	if (reserve(8) == 0) {
		ps_put_u32le(buf + at, type);
		buf_len += 8;
	}
	return at;
}

static void record_end(size_t at)
{
	if (buf_failed || reserve(4))
		return;
	uint32_t len = (uint32_t)(buf_len - at - 8);
	ps_put_u32le(buf + at + 4, len);
	uint32_t crc = (uint32_t)crc32(0L, buf + at, (uInt)(buf_len - at));
	ps_put_u32le(buf + buf_len, crc);
	buf_len += 4;
}

/* ---- the file ----------------------------------------------------------- */

static void read_small_file(const char *path, char *out, size_t cap,
			    size_t *len)
{
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n;
	while (*len < cap && (n = read(fd, out + *len, cap - *len)) > 0)
		*len += (size_t)n;
	close(fd);
}

/* Moves our descriptor far above the ones programs juggle (shells use
 * 0-255), so a dup2() or close-range in the host rarely meets it. */
static int move_fd_high(int fd)
{
	struct rlimit rl;
	int hint = 1000;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1100)
		hint = (int)rl.rlim_cur * 3 / 4;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, hint);
	if (high < 0)
		return fd;
	close(fd);
	return high;
}

static void write_process_record(void)
{
	static char cmdline[32768], comm[64], exe[4096];
	size_t cmd_len, comm_len;
	read_small_file("/proc/self/cmdline", cmdline, sizeof cmdline,
			&cmd_len);
	read_small_file("/proc/self/comm", comm, sizeof comm - 1, &comm_len);
	if (comm_len && comm[comm_len - 1] == '\n')
		comm_len--;
	comm[comm_len] = 0;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = 0;

	size_t at = record_begin(PS_REC_PROCESS);
	put_varint((uint64_t)ps_pid);
	put_varint((uint64_t)getppid());
	put_varint((ps_opt.sample_every > 1 ? PS_PROC_FLAG_SAMPLED : 0) |
		   (ps_forked ? PS_PROC_FLAG_FORKED : 0) |
		   (ps_opt.site_peak ? PS_PROC_FLAG_SITE_PEAK : 0));
	put_varint(start_real);
	put_varint(start_mono);
	put_varint(ps_opt.interval_ms);
	put_varint(ps_opt.depth);
	put_varint(ps_opt.sample_every);
	put_str(exe);
	put_str(comm);
	/* argv: count, then each argument */
	uint64_t argc = 0;
	for (size_t i = 0; i < cmd_len; i++)
		argc += cmdline[i] == 0;
	put_varint(argc);
	for (size_t i = 0, start = 0; i < cmd_len; i++) {
		if (cmdline[i] == 0) {
			put_bytes(cmdline + start, i - start);
			start = i + 1;
		}
	}
	record_end(at);
}

static int write_all(const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(out_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w == 0)
			errno = ENOSPC;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Stops writing for good after a batch could not go out: the file is cut
 * back to its last complete batch (later batches would refer to stacks
 * the lost one declared), one warning says so, and recording ends. */
static void stop_writing(const char *why)
{
	if (ftruncate(out_fd, (off_t)out_size) == 0)
		lseek(out_fd, (off_t)out_size, SEEK_SET);
	if (!out_size)
		ps_warn("cannot write %s: %s; running unprofiled", out_path,
			why);
	else
		ps_warn("cannot write %s: %s; the profile ends at its last "
			"complete snapshot (%llu bytes) and this process is no "
			"longer recorded", out_path, why,
			(unsigned long long)out_size);
	write_stopped = 1;
	ps_recording = 0;
}

/* Appends buf as one batch, whole or not at all. The file size limit
 * (RLIMIT_FSIZE) is checked first, and SIGXFSZ is blocked around the
 * write (a SIGXFSZ it raised anyway is taken back), so the host is never
 * killed for our bytes while its own writes keep the disposition it
 * chose. A short write (a full disk) is undone. Returns 0 or -1. */
static int write_batch(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    out_size + buf_len > (uint64_t)rl.rlim_cur) {
		char why[96];
		snprintf(why, sizeof why, "it would pass the file size limit "
			 "(ulimit -f) of %llu bytes",
			 (unsigned long long)rl.rlim_cur);
		stop_writing(why);
		return -1;
	}
	sigset_t xfsz, old;
	sigemptyset(&xfsz);
	sigaddset(&xfsz, SIGXFSZ);
	pthread_sigmask(SIG_BLOCK, &xfsz, &old);
	int rc = write_all(buf, buf_len);
	int err = errno;
	if (rc && err == EFBIG && !sigismember(&old, SIGXFSZ)) {
		sigset_t pending;
		struct timespec zero = { 0, 0 };
		if (sigpending(&pending) == 0 && sigismember(&pending, SIGXFSZ))
			sigtimedwait(&xfsz, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		stop_writing(strerror(err));
		return -1;
	}
	out_size += buf_len;
	return 0;
}

/* Makes sure out_fd is still our file: a host that closes every
 * descriptor (daemons, subprocess children) may have closed it or reused
 * the number. Reopens by path when needed. Returns 0 when writable. */
static int check_fd(void)
{
	struct stat st;
	if (out_fd >= 0 && fstat(out_fd, &st) == 0 && st.st_dev == out_dev &&
	    st.st_ino == out_ino)
		return 0;
	int fd = open(out_path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || st.st_dev != out_dev || st.st_ino != out_ino) {
		close(fd);
		return -1;
	}
	out_fd = move_fd_high(fd);
	return 0;
}

int ps_writer_open(void)
{
	char comm[64];
	size_t len;
	read_small_file("/proc/self/comm", comm, sizeof comm - 1, &len);
	while (len && comm[len - 1] == '\n')
		len--;
	comm[len] = 0;
	for (size_t i = 0; i < len; i++)
		if (comm[i] == '/' || comm[i] <= ' ' || comm[i] == 0x7f)
			comm[i] = '_';
	if (!len)
		strcpy(comm, "unknown");

	int fd = -1;
	for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
		if (attempt)
			snprintf(out_path, sizeof out_path,
				 "%s/poolscout.%s.%d.%d.pscout", ps_opt.out_dir,
				 comm, (int)ps_pid, attempt);
		else
			snprintf(out_path, sizeof out_path,
				 "%s/poolscout.%s.%d.pscout", ps_opt.out_dir,
				 comm, (int)ps_pid);
		fd = open(out_path,
			  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			  ps_opt.file_mode);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		int err = errno;
		ps_warn("cannot create a profile in %s: %s; running unprofiled",
			ps_opt.out_dir, strerror(err));
		open_failed = 1;
		return -err;
	}
	fchmod(fd, ps_opt.file_mode);
	struct stat st;
	fstat(fd, &st);
	out_dev = st.st_dev;
	out_ino = st.st_ino;
	out_fd = move_fd_high(fd);

	if (!start_mono)
		ps_writer_mark_start();
	next_poll_ns = start_mono + (uint64_t)ps_opt.interval_ms * 1000000u;
	buf_len = 0;
	if (reserve(PS_FORMAT_HEADER_SIZE) == 0) {
		ps_header_put(buf);
		buf_len = PS_FORMAT_HEADER_SIZE;
	}
	write_process_record();
	out_size = 0;
	if (buf_failed || write_batch()) {
		/* Not even the header went out: leave no unreadable file. */
		unlink(out_path);
		close(out_fd);
		out_fd = -1;
		open_failed = 1;
		return -EIO;
	}
	return 0;
}

void ps_writer_mark_start(void)
{
	start_mono = ps_mono_ns();
	start_real = ps_real_ns();
	start_ticks = ps_ticks();
}

/* A time in ticks as the file holds it: ticks since the start, plus one,
 * so that 0 means "never". */
static uint64_t rel_ticks(uint64_t t)
{
	return t ? (t > start_ticks ? t - start_ticks : 0) + 1 : 0;
}

/* ---- the batch ---------------------------------------------------------- */

/* A scratch array of pointers (mmap'd, kept between batches): the lists
 * are newest first, the records go out oldest first, so that every id a
 * file holds was declared after all the smaller ones - in any prefix of
 * the file, even one cut short by a kill. NULL when out of memory. */
static void **scratch;
static size_t scratch_cap;

static void **scratch_for(size_t n)
{
	if (n <= scratch_cap)
		return scratch;
	size_t cap = scratch_cap ? scratch_cap : 1024;
	while (cap < n)
		cap *= 2;
	void *p = scratch ? mremap(scratch, scratch_cap * sizeof *scratch,
				   cap * sizeof *scratch, MREMAP_MAYMOVE)
			  : mmap(NULL, cap * sizeof *scratch, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	scratch = p;
	scratch_cap = cap;
	return scratch;
}

static void encode_module(ps_module *m)
{
	if (!m->written) {
		size_t at = record_begin(PS_REC_MODULE);
		put_varint(m->id);
		put_varint(m->load_epoch);
		put_varint(m->base);
		put_str(m->path);
		put_bytes(m->build_id, m->build_id_len);
		put_varint(m->nseg);
		for (uint32_t i = 0; i < m->nseg; i++) {
			put_varint(m->seg[i].vaddr);
			put_varint(m->seg[i].memsz);
			put_varint(m->seg[i].offset);
			put_varint(m->seg[i].flags);
		}
		record_end(at);
		m->written = 1;
	}
	uint32_t gone = __atomic_load_n(&m->unload_epoch, __ATOMIC_ACQUIRE);
	if (gone && !m->unload_written) {
		size_t at = record_begin(PS_REC_MODULE_UNLOAD);
		put_varint(m->id);
		put_varint(gone);
		record_end(at);
		m->unload_written = 1;
	}
}

static void encode_modules(void)
{
	ps_module *head = ps_modules_newest(); /* the lists only grow at the head */
	size_t n = 0;
	for (ps_module *m = head; m; m = m->next_all)
		n++;
	void **v = scratch_for(n);
	if (!v) {
		buf_failed = 1;
		return;
	}
	size_t i = n;
	for (ps_module *m = head; m && i; m = m->next_all)
		v[--i] = m;
	for (; i < n; i++)
		encode_module(v[i]);
}

static void encode_stacks(void)
{
	ps_stack *newest = ps_stacks_newest();
	size_t n = 0;
	for (ps_stack *s = newest; s && s->id > stacks_written; s = s->next_all)
		n++;
	void **v = scratch_for(n);
	if (!v) {
		buf_failed = 1;
		return;
	}
	size_t i = n;
	for (ps_stack *s = newest; s && i; s = s->next_all)
		v[--i] = s;
	for (; i < n; i++) {
		const ps_stack *s = v[i];
		size_t at = record_begin(PS_REC_STACK);
		put_varint(s->id);
		put_varint(s->map_epoch);
		put_varint(s->depth);
		for (uint32_t k = 0; k < s->depth; k++)
			put_varint(s->ips[k]);
		put_varint(s->cand_start);
		put_varint(s->cand_count);
		record_end(at);
	}
	if (newest)
		stacks_written = newest->id;
}

static void encode_thread(ps_thread *t)
{
	if (!__atomic_exchange_n(&t->info_dirty, 0, __ATOMIC_ACQ_REL))
		return;
	uint64_t end = __atomic_load_n(&t->end_ns, __ATOMIC_ACQUIRE);
	char name[sizeof t->name];
	ps_thread_copy_name(t, name);
	if (!name[0] && !end) {
		ps_thread_read_name(t, t->tid);
		ps_thread_copy_name(t, name);
	}
	if (t->index > threads_declared)
		threads_declared = t->index;
	size_t at = record_begin(PS_REC_THREAD);
	put_varint(t->index);
	put_varint((uint64_t)t->tid);
	put_str(name);
	put_varint(t->start_ns > start_mono ? t->start_ns - start_mono : 0);
	put_varint(end > start_mono ? end - start_mono : 0);
	put_varint(end ? 1 : 0);
	record_end(at);
}

static void encode_threads(void)
{
	ps_thread *head = ps_threads_newest();
	size_t n = 0;
	for (ps_thread *t = head; t; t = t->next_all)
		n++;
	void **v = scratch_for(n);
	if (!v) {
		buf_failed = 1;
		return;
	}
	size_t i = n;
	for (ps_thread *t = head; t && i; t = t->next_all)
		v[--i] = t;
	for (; i < n; i++)
		encode_thread(v[i]);
}

static void put_hist(const uint64_t *hist)
{
	uint64_t n = 0;
	for (unsigned b = 0; b < PS_HIST_BUCKETS; b++)
		n += PS_LOAD(&hist[b]) != 0;
	put_varint(n);
	for (unsigned b = 0; b < PS_HIST_BUCKETS && n; b++) {
		uint64_t c = PS_LOAD(&hist[b]);
		if (c) {
			put_varint(b);
			put_varint(c);
			n--;
		}
	}
}

static void encode_entry(const ps_entry *e)
{
	/* Read frees before allocations (a block is counted allocated, with
	 * a release store, before any thread can free it), so every snapshot
	 * satisfies xfrees <= frees <= allocs and the same for bytes; the
	 * reader checks it. The sizes and times are read after the counts
	 * (account.c stores them before): a counted allocation or free has
	 * its size and time here; a time whose event is not counted yet (a
	 * free in flight) is left for the next snapshot. */
	uint64_t xfree_bytes = __atomic_load_n(&e->xfree_bytes, __ATOMIC_ACQUIRE);
	uint64_t xfrees = __atomic_load_n(&e->xfrees, __ATOMIC_ACQUIRE);
	uint64_t free_bytes = xfree_bytes +
			      __atomic_load_n(&e->own_free_bytes, __ATOMIC_ACQUIRE);
	uint64_t frees = xfrees + __atomic_load_n(&e->own_frees, __ATOMIC_ACQUIRE);
	uint64_t peak_live = __atomic_load_n(&e->peak_live, __ATOMIC_ACQUIRE);
	uint64_t peak_bytes = __atomic_load_n(&e->peak_bytes, __ATOMIC_ACQUIRE);
	uint64_t allocs = __atomic_load_n(&e->allocs, __ATOMIC_ACQUIRE);
	uint64_t alloc_bytes = __atomic_load_n(&e->alloc_bytes, __ATOMIC_ACQUIRE);
	uint64_t grows = PS_LOAD(&e->realloc_grows);
	uint64_t chains = PS_LOAD(&e->chains_ended);
	uint64_t flags = PS_ENT_HAS_HIST |
			 (grows || chains ? PS_ENT_HAS_REALLOC : 0);
	uint64_t size_min = PS_LOAD(&e->size_min);

	put_varint(e->thread->index);
	put_varint(e->stack->id);
	put_varint(flags);
	put_varint(allocs);
	put_varint(alloc_bytes);
	put_varint(frees);
	put_varint(free_bytes);
	put_varint(xfrees);
	put_varint(xfree_bytes);
	put_varint(size_min == UINT64_MAX ? 0 : size_min);
	put_varint(PS_LOAD(&e->size_max));
	put_varint(peak_live);
	put_varint(peak_bytes);
	put_varint(allocs ? rel_ticks(PS_LOAD(&e->first_alloc_ticks)) : 0);
	put_varint(allocs ? rel_ticks(PS_LOAD(&e->last_alloc_ticks)) : 0);
	put_varint(frees ? rel_ticks(PS_LOAD(&e->last_free_ticks)) : 0);
	uint64_t life[PS_HIST_BUCKETS];
	for (unsigned b = 0; b < PS_HIST_BUCKETS; b++)
		life[b] = PS_LOAD(&e->own_life_hist[b]) +
			  PS_LOAD(&e->x_life_hist[b]);
	put_hist(e->size_hist);
	put_hist(life);
	if (flags & PS_ENT_HAS_REALLOC) {
		put_varint(grows);
		put_varint(chains);
		put_varint(PS_LOAD(&e->chain_steps_sum));
		put_varint(PS_LOAD(&e->chain_steps_max));
		put_varint(PS_LOAD(&e->chain_final_size_max));
	}
}

static void encode_snapshot(uint64_t now_mono)
{
	uint64_t ticks = ps_ticks();
	uint64_t elapsed = now_mono - start_mono;
	uint64_t hz = elapsed ? (uint64_t)((double)(ticks - start_ticks) *
					   1e9 / (double)elapsed)
			      : 0;
	size_t at = record_begin(PS_REC_SNAPSHOT);
	put_varint(++snapshot_seq);
	put_varint(elapsed);
	put_varint(hz);
	put_varint(PS_LOAD(&ps_work_units));

	/* Entries touched since the last snapshot. */
	size_t slot = put_count_slot();
	uint64_t n = 0;
	for (ps_thread *t = ps_threads_newest(); t; t = t->next_all) {
		for (ps_entry *e = __atomic_load_n(&t->entries,
						   __ATOMIC_ACQUIRE);
		     e; e = e->next_all) {
			/* Interned after this batch declared its stacks and
			 * threads: it goes out with the next batch. */
			if (e->stack->id > stacks_written ||
			    t->index > threads_declared)
				continue;
			if (!__atomic_exchange_n(&e->touched, 0,
						 __ATOMIC_ACQ_REL))
				continue;
			encode_entry(e);
			n++;
		}
	}
	patch_count(slot, n);

	/* Site-wide (all threads) peak of objects live at once, per stack. */
	slot = put_count_slot();
	n = 0;
	for (ps_stack *s = ps_stacks_newest(); s; s = s->next_all) {
		uint64_t peak = PS_LOAD(&s->peak_live);
		if (peak == s->peak_written || s->id > stacks_written)
			continue;
		s->peak_written = peak;
		put_varint(s->id);
		put_varint(peak);
		n++;
	}
	patch_count(slot, n);

	/* Per-thread totals that changed. */
	slot = put_count_slot();
	n = 0;
	for (ps_thread *t = ps_threads_newest(); t; t = t->next_all) {
		if (t->index > threads_declared)
			continue;
		uint64_t unknown = PS_LOAD(&t->unknown_frees);
		uint64_t unrecorded = PS_LOAD(&t->unrecorded_allocs);
		if (unknown == t->totals_written[0] &&
		    unrecorded == t->totals_written[1])
			continue;
		t->totals_written[0] = unknown;
		t->totals_written[1] = unrecorded;
		put_varint(t->index);
		put_varint(unknown);
		put_varint(unrecorded);
		n++;
	}
	patch_count(slot, n);

	/* Per-thread peaks of the site-candidate nodes that changed. */
	slot = put_count_slot();
	n = 0;
	for (ps_thread *t = ps_threads_newest(); t; t = t->next_all) {
		if (t->index > threads_declared)
			continue;
		for (ps_node *nd = __atomic_load_n(&t->nodes, __ATOMIC_ACQUIRE);
		     nd; nd = nd->next_all) {
			uint64_t peak = PS_LOAD(&nd->peak);
			uint64_t bytes = PS_LOAD(&nd->peak_bytes);
			if (peak == nd->peak_written &&
			    bytes == nd->peak_bytes_written)
				continue;
			nd->peak_written = peak;
			nd->peak_bytes_written = bytes;
			put_varint(t->index);
			put_varint(nd->ip);
			put_varint(peak);
			put_varint(bytes);
			n++;
		}
	}
	patch_count(slot, n);

	/* All-thread peaks of the nodes (--site-peak). */
	slot = put_count_slot();
	n = 0;
	for (ps_gnode *g = ps_gnodes_newest(); g; g = g->next_all) {
		uint64_t peak = PS_LOAD(&g->peak);
		uint64_t bytes = PS_LOAD(&g->peak_bytes);
		if (peak == g->peak_written && bytes == g->peak_bytes_written)
			continue;
		g->peak_written = peak;
		g->peak_bytes_written = bytes;
		put_varint(g->ip);
		put_varint(peak);
		put_varint(bytes);
		n++;
	}
	patch_count(slot, n);
	record_end(at);
}

/* Encodes and appends one batch; the caller holds the writer lock. */
static void snapshot_locked(int end_reason)
{
	if (finished || open_failed || write_stopped)
		return;
	if (out_fd < 0) {
		/* A fork child opens its file when it first has something
		 * to say, so fork-and-exec children leave no empty files. */
		if (!ps_threads_newest() || ps_writer_open())
			return;
	}
	if (end_reason == PS_END_EXIT && last_thread_exit)
		end_reason = PS_END_LAST_THREAD;
	buf_len = 0;
	buf_failed = 0;
	uint64_t now = ps_mono_ns();
	encode_modules();
	encode_stacks();
	encode_threads();
	encode_snapshot(now);
	if (end_reason) {
		size_t at = record_begin(PS_REC_END);
		put_varint((uint64_t)end_reason);
		put_varint(now - start_mono);
		record_end(at);
		if (end_reason != PS_END_EXEC) {
			/* writer_main reads it without the lock */
			__atomic_store_n(&finished, 1, __ATOMIC_RELEASE);
			ps_recording = 0;
		}
	}
	if (!buf_failed && check_fd() == 0)
		write_batch();
}

void ps_writer_snapshot(int end_reason)
{
	/* A signal handler that ends the process can run on a thread that
	 * holds the writer lock: inside fork's prepare handler (the batch
	 * state is consistent: go on without the lock) or, if a snapshot
	 * ran with signals open, in the middle of encoding (skip: the batch
	 * state is half-built). Waiting for the lock would never end. */
	int held = writer_held;
	if (held == WRITER_ENCODING)
		return;
	if (!held)
		ps_lock_acquire(&writer_lock);
	writer_held = WRITER_ENCODING;
	snapshot_locked(end_reason);
	writer_held = held;
	if (!held)
		ps_lock_release(&writer_lock);
}

void ps_writer_abandon(void)
{
	ps_writer_lock();
	ps_recording = 0;
	if (out_fd >= 0) {
		close(out_fd);
		out_fd = -1;
		unlink(out_path);
	}
	open_failed = 1;
	ps_writer_unlock();
}

/* ---- the thread --------------------------------------------------------- */

/* Whether any thread but the caller is still running. A main thread that
 * ended with pthread_exit stays in /proc as a zombie until the process
 * exits, so the "Threads:" count cannot tell; each task's state can.
 * Reads /proc with getdents64 directly: opendir would allocate. */
static int other_threads_alive(void)
{
	struct linux_dirent64 {
		uint64_t d_ino;
		int64_t d_off;
		unsigned short d_reclen;
		unsigned char d_type;
		char d_name[];
	};
	char dents[4096], path[64], stat[512];
	pid_t self = gettid();
	int alive = 0;
	int dir = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return 1;
	long n;
	while (!alive && (n = syscall(SYS_getdents64, dir, dents, sizeof dents)) > 0) {
		for (long off = 0; off < n && !alive;) {
			struct linux_dirent64 *d = (void *)(dents + off);
			off += d->d_reclen;
			int tid = atoi(d->d_name);
			if (tid <= 0 || tid == self)
				continue;
			snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
			size_t len;
			read_small_file(path, stat, sizeof stat - 1, &len);
			stat[len] = 0;
			const char *close_paren = strrchr(stat, ')');
			/* a task that vanished between the two reads is gone */
			alive = close_paren && close_paren[1] == ' ' &&
				close_paren[2] != 'Z' && close_paren[2] != 'X';
		}
	}
	close(dir);
	return alive;
}

static void *writer_main(void *arg)
{
	(void)arg;
	ps_tls.guard = 1; /* our own allocations are never recorded */
	for (;;) {
		unsigned ms = __atomic_load_n(&main_exited, __ATOMIC_ACQUIRE)
				      ? 10 : ps_opt.interval_ms;
		struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		if (__atomic_load_n(&finished, __ATOMIC_ACQUIRE))
			return NULL;
		if (__atomic_load_n(&main_exited, __ATOMIC_ACQUIRE) &&
		    !other_threads_alive()) {
			/* We are the last thread: end the process the way
			 * glibc does when its last thread exits. The atexit
			 * handlers and destructors run on this thread, and
			 * their frees are the program's: record them. */
			last_thread_exit = 1;
			ps_tls.guard = 0;
			exit(0);
		}
		ps_writer_snapshot(0);
	}
}

void ps_writer_start(void)
{
	if (__atomic_load_n(&thread_running, __ATOMIC_ACQUIRE))
		return;
	/* A single-threaded process stays single-threaded (unshare with
	 * CLONE_NEWUSER, and other calls, refuse a multithreaded caller):
	 * it writes its snapshots from its own hook calls (ps_writer_poll).
	 * The first hook call from a second thread starts the writer. */
	if (gettid() == ps_pid)
		return;
	if (__atomic_exchange_n(&thread_running, 1, __ATOMIC_ACQ_REL))
		return;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	pthread_t th;
	if (pthread_create(&th, &attr, writer_main, NULL))
		thread_running = 0; /* snapshots still come from the hooks */
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void ps_writer_poll(void)
{
	if (__atomic_load_n(&thread_running, __ATOMIC_ACQUIRE))
		return;
	uint64_t now = ps_mono_ns();
	if (now < __atomic_load_n(&next_poll_ns, __ATOMIC_RELAXED))
		return;
	__atomic_store_n(&next_poll_ns,
			 now + (uint64_t)ps_opt.interval_ms * 1000000u,
			 __ATOMIC_RELAXED);
	/* Signals wait until the batch is out: a handler that ends the
	 * process must not find it half-built (see ps_writer_snapshot). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ps_writer_snapshot(0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void ps_writer_main_thread_exited(void)
{
	__atomic_store_n(&main_exited, 1, __ATOMIC_RELEASE);
}

void ps_writer_lock(void)
{
	ps_lock_acquire(&writer_lock);
	writer_held = WRITER_HELD;
}

void ps_writer_unlock(void)
{
	writer_held = 0;
	ps_lock_release(&writer_lock);
}

void ps_writer_reset_child(void)
{
	/* The child shares the parent's file offset through the inherited
	 * descriptor: close it; the child gets its own file. */
	if (out_fd >= 0)
		close(out_fd);
	out_fd = -1;
	/* The child's clock starts at the fork, not when it first writes. */
	ps_writer_mark_start();
	out_size = 0;
	write_stopped = 0;
	finished = 0;
	thread_running = 0;
	main_exited = 0;
	snapshot_seq = 0;
	next_poll_ns = ps_mono_ns() + (uint64_t)ps_opt.interval_ms * 1000000u;
	stacks_written = 0;
	threads_declared = 0;
	writer_held = 0;
	writer_lock.locked = 0;
}
