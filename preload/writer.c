/* writer.c - the profile file and the snapshot thread.
 *
 * Every ps_opt.interval_ms a background thread encodes what changed since
 * the last snapshot (new modules, new frames and stacks, thread
 * identities, and the cumulative counters of every touched (stack,
 * thread) entry) into one batch of records, deflates it (one zlib stream
 * per file) and appends it as DEFLATE records, usually one write(2) per
 * batch. A run killed at any point therefore leaves a file that reads up
 * to its last whole record, and the file grows with sites x threads x
 * snapshots, not with allocations. A process with one thread has no
 * writer thread: its hooks take the snapshots, and encode only what they
 * logged as changed (the dirty log below) instead of walking the tables.
 * A batch that ends profiling closes the file with a TOTALS record after
 * the deflated stream (what the entries add up to), in the same write(2),
 * so `poolscout record` reads its summary from the file's last bytes.
 *
 * It reads the tables (stacks.c, threads.c, nodes.c, modules.c) and calls
 * nothing above them; after each batch it lets the thread registry retire
 * the threads whose last counts that batch wrote.
 *
 * The encoding buffers are mmap'd; nothing here calls malloc. The thread
 * blocks every signal, never records its own allocations, and does not
 * keep the process alive: when the main thread has ended with pthread_exit
 * and every other thread is gone, it calls exit(0) as glibc would have.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
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

/* zlib's level for the profile: 6 (its default) keeps 24-frame stacks
 * below heaptrack's zstd trace, at a cost the writer thread absorbs. A
 * process without a writer thread would pay it on its own thread (a
 * tenth of a clang++ -O2 compile's instructions): it deflates at 1, a
 * third of the work for 3% more bytes on that compile, until a writer
 * thread starts. */
#define PS_DEFLATE_LEVEL 6
#define PS_DEFLATE_LEVEL_INLINE 1

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
static uint32_t frames_written; /* highest frame id written */
static uint32_t stacks_written; /* highest stack id written */
static uint32_t threads_declared; /* highest thread index written */
/* The sum of every entry's allocations as the file holds them, for the
 * TOTALS record. A lost batch's entries are counted here but not in the
 * file: a lost batch therefore ends the writing (lose_batch), and no
 * TOTALS record follows it. */
static uint64_t allocs_in_file;

static uint8_t *buf;
static size_t buf_len, buf_cap;
static int buf_failed;

/* ---- encoding buffer ---------------------------------------------------- */

/* old (old_bytes of its own mapping, or NULL) grown to new_bytes, moved
 * if need be; MAP_FAILED, with old untouched, when memory runs out. */
static void *map_resize(void *old, size_t old_bytes, size_t new_bytes)
{
	return old ? mremap(old, old_bytes, new_bytes, MREMAP_MAYMOVE)
		   : mmap(NULL, new_bytes, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static int reserve(size_t more)
{
	if (buf_failed)
		return -1;
	if (buf_len + more <= buf_cap)
		return 0;
	size_t cap = buf_cap ? buf_cap : (256u << 10);
	while (cap < buf_len + more)
		cap *= 2;
	void *p = map_resize(buf, buf_cap, cap);
	if (p == MAP_FAILED) {
		buf_failed = 1;
		return -1;
	}
	buf = p;
	buf_cap = cap;
	return 0;
}

static inline void put_varint(uint64_t v)
{
	/* the buffer rarely needs to grow: test its room inline */
	if (PS_LIKELY(buf_len + PS_VARINT_MAX <= buf_cap) ||
	    reserve(PS_VARINT_MAX) == 0)
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

static void record_done(void);
static int check_fd(void);

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
	record_done();
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
 * 0-255), so a dup2() or close-range in the host rarely meets it. The
 * copy is not close-on-exec: bash takes a close-on-exec descriptor of
 * 10 or more for one of its own and puts it back after a script's `exec
 * N>FILE` (its writes to N then land in the profile). A program's dup2()
 * over ours replaces it for good instead, which check_fd() notices; the
 * exec hooks set the flag just before an exec (ps_writer_cloexec), so no
 * new image inherits it. */
static int move_fd_high(int fd)
{
	struct rlimit rl;
	int hint = 1000;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1100)
		hint = (int)rl.rlim_cur * 3 / 4;
	int high = fcntl(fd, F_DUPFD, hint);
	if (high < 0)
		return fd;
	close(fd);
	return high;
}

void ps_writer_cloexec(int on)
{
	int fd = __atomic_load_n(&out_fd, __ATOMIC_RELAXED);
	if (fd >= 0)
		fcntl(fd, F_SETFD, on ? FD_CLOEXEC : 0);
}

/* Whether glib's G_SLICE list (keys split by ':', ',', ';', ' ' or tab,
 * compared as g_parse_debug_string does: ASCII case and '-' against '_'
 * aside) names always-malloc, or all (every key). */
static int gslice_always_malloc(const char *list)
{
	static const char *const keys[] = { "always-malloc", "all" };
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ":,; \t");
		for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
			size_t i = 0;
			while (i < n && keys[k][i]) {
				char a = p[i], b = keys[k][i];
				a = a == '_' ? '-' : a >= 'A' && a <= 'Z' ? (char)(a + 32) : a;
				if (a != b)
					break;
				i++;
			}
			if (i == n && !keys[k][i])
				return 1;
		}
		p += n + (p[n] != 0);
	}
	return 0;
}

/* The runtimes told to leave their own allocators, so that their objects
 * all show (the analyzer's NOTEs then stay silent): CPython by
 * PYTHONMALLOC=malloc or malloc_debug; PHP by USE_ZEND_ALLOC set to what
 * reads as 0 (PHP takes it as a number: "0", "no"); glib by G_SLICE. */
static uint64_t runtime_allocator_flags(char **env)
{
	uint64_t flags = 0;
	const char *pym = ps_env_get(env, "PYTHONMALLOC");
	if (pym && (!strcmp(pym, "malloc") || !strcmp(pym, "malloc_debug")))
		flags |= PS_PROC_FLAG_NO_PYMALLOC;
	const char *zend = ps_env_get(env, "USE_ZEND_ALLOC");
	if (zend && strtol(zend, NULL, 10) == 0)
		flags |= PS_PROC_FLAG_NO_ZEND_MM;
	const char *slice = ps_env_get(env, "G_SLICE");
	if (slice && gslice_always_malloc(slice))
		flags |= PS_PROC_FLAG_NO_GSLICE;
	return flags;
}

/* comm: the thread name as /proc/self/comm gives it, without the
 * newline (ps_writer_open read it already). */
static void write_process_record(const char *comm)
{
	static char cmdline[32768], exe[4096];
	size_t cmd_len;
	read_small_file("/proc/self/cmdline", cmdline, sizeof cmdline,
			&cmd_len);
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = 0;

	size_t at = record_begin(PS_REC_PROCESS);
	put_varint((uint64_t)ps_pid);
	put_varint((uint64_t)getppid());
	put_varint((ps_opt.sample_every > 1 ? PS_PROC_FLAG_SAMPLED : 0) |
		   (ps_forked ? PS_PROC_FLAG_FORKED : 0) |
		   (ps_opt.site_peak ? PS_PROC_FLAG_SITE_PEAK : 0) |
		   runtime_allocator_flags(ps_environ()));
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

/* Appends n bytes of whole records, all or nothing. The file size limit
 * (RLIMIT_FSIZE) is checked first, and SIGXFSZ is blocked around the
 * write (a SIGXFSZ it raised anyway is taken back), so the host is never
 * killed for our bytes while its own writes keep the disposition it
 * chose. A short write (a full disk) is undone. Returns 0 or -1. */
static int write_out(const uint8_t *p, size_t n)
{
	if (write_stopped)
		return -1;
	struct rlimit rl;
	if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    out_size + n > (uint64_t)rl.rlim_cur) {
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
	int rc = write_all(p, n);
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
	out_size += n;
	return 0;
}

/* Appends the TOTALS record to the n bytes at out (room for
 * PS_TOTALS_RECORD_SIZE more), which end with the record holding the END
 * and go out next, at offset out_size. Called only while no batch was
 * lost (any lost batch stops the writing), so allocs_in_file is what the
 * file holds. Returns the new length. */
static size_t append_totals(uint8_t *out, size_t n)
{
	if (n < PS_RECORD_OVERHEAD)
		return n;
	struct ps_totals t = {
		.offset = out_size + n,
		.allocs = allocs_in_file,
		.pid = (uint32_t)ps_pid,
		.sample_every = ps_opt.sample_every,
		.prev_crc = ps_get_u32le(out + n - 4),
	};
	uint8_t *rec = out + n;
	ps_put_u32le(rec, PS_REC_TOTALS);
	ps_put_u32le(rec + 4, PS_TOTALS_PAYLOAD);
	ps_totals_put(rec + 8, &t);
	ps_put_u32le(rec + 8 + PS_TOTALS_PAYLOAD,
		     (uint32_t)crc32(0L, rec, 8 + PS_TOTALS_PAYLOAD));
	return n + PS_TOTALS_RECORD_SIZE;
}

/* ---- compression -------------------------------------------------------- */

/* Once the file holds RAW_BEFORE_STREAM bytes, every batch goes out
 * deflated: one raw deflate stream for the rest of the file, cut into
 * DEFLATE records at record boundaries, each ending on a sync flush so
 * that it inflates to whole records. Before that, batches go out as they
 * are: a process that ends at once (most of a build's or a script's) then
 * never sets up zlib, whose ~270 KiB of state, zeroed, cost it more than
 * the rest of its profile. zlib gets memory from its own mappings, never
 * from the hooked malloc. */
#define RAW_BEFORE_STREAM (64u << 10)
#define RAW_FLUSH (128u << 10)  /* deflate the raw records past this */
#define ZBUF_SPLIT (256u << 10) /* write a DEFLATE record past this */
static z_stream zs;
static int z_state; /* 0: not tried, 1: ready, -1: unavailable */
static int compressing; /* inside a batch that goes out deflated */
static uint8_t *zbuf;
static size_t zbuf_len, zbuf_cap;
static int batch_lost; /* some of this batch did not go out */
static int z_level, z_want; /* the stream's level; this batch's choice */
static int end_signal; /* PS_END_SIGNAL's signal number */

/* Some of this batch cannot go out: writing stops (if it has not), for
 * the later batches would refer to stacks and threads it declared and
 * continue a deflate stream it advanced, and the file would leave out
 * the counts it raised while claiming to be whole. */
static void lose_batch(const char *why)
{
	batch_lost = 1;
	if (!write_stopped)
		stop_writing(why);
}

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	size_t n = (size_t)items * size + 16;
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return Z_NULL;
	*(size_t *)p = n;
	return (char *)p + 16;
}

static void z_free(voidpf opaque, voidpf ptr)
{
	(void)opaque;
	if (ptr) {
		char *p = (char *)ptr - 16;
		munmap(p, *(size_t *)p);
	}
}

static int z_ready(void)
{
	if (!z_state) {
		zs.zalloc = z_alloc;
		zs.zfree = z_free;
		zs.opaque = Z_NULL;
		z_level = z_want;
		z_state = deflateInit2(&zs, z_level, Z_DEFLATED, -15, 8,
				       Z_DEFAULT_STRATEGY) == Z_OK ? 1 : -1;
	}
	return z_state == 1;
}

static int zbuf_reserve(size_t more)
{
	if (zbuf_len + more <= zbuf_cap)
		return 0;
	size_t cap = zbuf_cap ? zbuf_cap : (256u << 10);
	while (cap < zbuf_len + more)
		cap += 256u << 10;
	void *p = map_resize(zbuf, zbuf_cap, cap);
	if (p == MAP_FAILED)
		return -1;
	zbuf = p;
	zbuf_cap = cap;
	return 0;
}

/* Deflates the raw records into zbuf (after its 8-byte record header);
 * with sync, up to a flush point. */
static void deflate_raw(int sync)
{
	if (buf_failed)
		return;
	if (!zbuf_len) {
		if (zbuf_reserve(8)) {
			buf_failed = 1;
			return;
		}
		zbuf_len = 8;
	}
	if (z_level != z_want) {
		/* at a batch's first call, just after the last one's flush:
		 * nothing is pending, the change emits at most a few bytes */
		if (zbuf_reserve(64u << 10)) {
			buf_failed = 1;
			return;
		}
		zs.next_in = buf;
		zs.avail_in = 0;
		zs.next_out = zbuf + zbuf_len;
		zs.avail_out = (uInt)(zbuf_cap - zbuf_len);
		if (deflateParams(&zs, z_want, Z_DEFAULT_STRATEGY) == Z_OK)
			z_level = z_want;
		zbuf_len = (size_t)(zs.next_out - zbuf);
	}
	zs.next_in = buf;
	zs.avail_in = (uInt)buf_len;
	int flush = sync ? Z_SYNC_FLUSH : Z_NO_FLUSH;
	for (;;) {
		if (zbuf_reserve(64u << 10)) {
			buf_failed = 1;
			return;
		}
		zs.next_out = zbuf + zbuf_len;
		zs.avail_out = (uInt)(zbuf_cap - zbuf_len);
		int rc = deflate(&zs, flush);
		zbuf_len = (size_t)(zs.next_out - zbuf);
		if (rc != Z_OK && rc != Z_BUF_ERROR) {
			buf_failed = 1;
			return;
		}
		if (!zs.avail_in && zs.avail_out)
			break;
	}
	buf_len = 0;
}

/* Writes what was deflated so far as one DEFLATE record; with totals,
 * followed by the TOTALS record (when it can be exact), in one write. */
static void emit_deflated(int totals)
{
	deflate_raw(1);
	if (buf_failed || zbuf_len <= 8 ||
	    zbuf_reserve(4 + PS_TOTALS_RECORD_SIZE)) {
		lose_batch("out of memory");
		zbuf_len = 0;
		return;
	}
	ps_put_u32le(zbuf, PS_REC_DEFLATE);
	ps_put_u32le(zbuf + 4, (uint32_t)(zbuf_len - 8));
	ps_put_u32le(zbuf + zbuf_len, (uint32_t)crc32(0L, zbuf, (uInt)zbuf_len));
	zbuf_len += 4;
	if (totals && !batch_lost) /* all of the batch went out before */
		zbuf_len = append_totals(zbuf, zbuf_len);
	if (check_fd() || write_out(zbuf, zbuf_len))
		batch_lost = 1; /* and writing stopped */
	zbuf_len = 0;
}

/* After each record of a deflated batch: keeps the raw and the deflated
 * buffers small (a batch can declare a million stacks). */
static void record_done(void)
{
	if (!compressing) {
		/* a batch that takes the file past the raw allowance
		 * starts the stream, with what it encoded so far (never
		 * the first batch, out_size 0: PROCESS stays raw) */
		if (z_state || !out_size ||
		    out_size + buf_len < RAW_BEFORE_STREAM ||
		    !(compressing = z_ready()))
			return;
	}
	if (buf_len < RAW_FLUSH)
		return;
	deflate_raw(0);
	if (zbuf_len > ZBUF_SPLIT)
		emit_deflated(0);
}

/* Makes sure out_fd is still our file: a host that closes every
 * descriptor (daemons, subprocess children) may have closed it or reused
 * the number. Reopens by path when needed. Returns 0 when writable;
 * otherwise forgets out_fd (the number may be the host's now) and stops
 * writing (a batch is lost), and returns -1. */
static int check_fd(void)
{
	struct stat st;
	if (out_fd >= 0 && fstat(out_fd, &st) == 0 && st.st_dev == out_dev &&
	    st.st_ino == out_ino)
		return 0;
	int fd = open(out_path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	const char *why = fd < 0 ? strerror(errno) : "another file is there now";
	if (fd >= 0 &&
	    (fstat(fd, &st) || st.st_dev != out_dev || st.st_ino != out_ino)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		char msg[160];
		snprintf(msg, sizeof msg, "its descriptor was closed and it "
			 "cannot be opened again (%s)", why);
		__atomic_store_n(&out_fd, -1, __ATOMIC_RELAXED);
		stop_writing(msg);
		return -1;
	}
	out_fd = move_fd_high(fd);
	return 0;
}

int ps_writer_open(void)
{
	char name[64], comm[64];
	size_t len;
	read_small_file("/proc/self/comm", name, sizeof name - 1, &len);
	if (len && name[len - 1] == '\n')
		len--;
	name[len] = 0;
	memcpy(comm, name, len + 1);
	while (len && comm[len - 1] == '\n')
		comm[--len] = 0;
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
	write_process_record(name);
	out_size = 0;
	if (buf_failed || write_out(buf, buf_len)) {
		/* Not even the header went out: leave no unreadable file. */
		unlink(out_path);
		close(out_fd);
		out_fd = -1;
		open_failed = 1;
		return -EIO;
	}
	return 0;
}

/* A fork child opens its file on its first recorded allocation, not at
 * its first snapshot: killed before that snapshot (SIGKILL), it still
 * leaves a profile that says it ran and was cut short, instead of
 * nothing. A child that allocates nothing before it execs or exits
 * leaves no file, as before. From a hook, with the guard held; not while
 * a table's lock is held (a handler that interrupted one): the first
 * snapshot opens the file then. */
void ps_writer_open_child(void)
{
	if (PS_LIKELY(out_fd >= 0) || !ps_forked || open_failed || finished ||
	    write_stopped || ps_locks_held)
		return;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ps_writer_lock();
	if (out_fd < 0 && !open_failed && !finished && !write_stopped)
		ps_writer_open();
	ps_writer_unlock();
	pthread_sigmask(SIG_SETMASK, &old, NULL);
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

/* ---- the dirty log ------------------------------------------------------ */

/* A process without a writer thread takes its snapshots on its one
 * counting thread (the main thread), from the hooks, so walking every
 * entry and node there (tens of thousands, in cold memory, every
 * interval) would be paid by the program. Instead the hooks log what
 * changes: an entry when its mark goes from clear to set (ps_entry_touch),
 * a node when its peak rises and it is not logged yet; such a snapshot
 * encodes the logged ones only. The log holds every marked entry as long
 * as only the main thread counts; the first hook call of a second thread
 * turns logging off for good (ps_writer_start) and the writer thread
 * walks the tables as before. Only the main thread touches the log: a
 * snapshot made by another thread (an exit from a thread that never
 * counted) walks the tables and leaves the log alone, which can only
 * clear marks the log still lists (skipped then). When the log may miss
 * something (it could not grow, a fork child, a snapshot that interrupted
 * an append from a signal handler), the next snapshot walks everything. */
int ps_dirty_logging = 1;
struct logged_node {
	ps_node *node;
	uint32_t thread_index;
};
static ps_entry **dirty_entries;
static size_t dirty_entries_n, dirty_entries_cap;
static struct logged_node *dirty_nodes;
static size_t dirty_nodes_n, dirty_nodes_cap;
static int dirty_busy; /* an append is under way on the main thread */
static int dirty_lost; /* the log may miss a change: walk once */

/* A log holds at most this many bytes (256 KiB): more changes than that
 * in one interval and the next snapshot walks everything instead, a walk
 * no dearer than encoding that many changes, so the log's memory stays
 * fixed however many stacks the program makes. */
#define LOG_MAX_BYTES (256u << 10)

/* Doubles an mmap'd log of elem-byte items up to LOG_MAX_BYTES; 0, or -1
 * (unchanged). */
static int log_grow(void **v, size_t *cap, size_t elem)
{
	size_t n = *cap ? *cap * 2 : 4096;
	if (n * elem > LOG_MAX_BYTES)
		return -1;
	void *p = map_resize(*v, *cap * elem, n * elem);
	if (p == MAP_FAILED)
		return -1;
	*v = p;
	*cap = n;
	return 0;
}

/* The appends raise dirty_busy around their update: a snapshot that
 * finds it raised interrupted one (a signal handler that ends the
 * process, or an exec that failed, on the main thread) and stops using
 * the log. */
void ps_writer_note_entry(ps_entry *e)
{
	dirty_busy = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (dirty_entries_n < dirty_entries_cap ||
	    !log_grow((void **)&dirty_entries, &dirty_entries_cap,
		      sizeof *dirty_entries))
		dirty_entries[dirty_entries_n++] = e;
	else
		PS_STORE(&dirty_lost, 1);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	dirty_busy = 0;
}

void ps_writer_note_node(ps_node *n)
{
	dirty_busy = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	n->logged = 1;
	if (dirty_nodes_n < dirty_nodes_cap ||
	    !log_grow((void **)&dirty_nodes, &dirty_nodes_cap,
		      sizeof *dirty_nodes)) {
		dirty_nodes[dirty_nodes_n].node = n;
		dirty_nodes[dirty_nodes_n++].thread_index = ps_tls.thread->index;
	} else {
		PS_STORE(&dirty_lost, 1);
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	dirty_busy = 0;
}

/* How this snapshot finds what changed. */
enum {
	LOG_FOREIGN, /* walk the tables, leave the log alone */
	LOG_REBUILD, /* walk the tables, then start the log afresh */
	LOG_USE,     /* encode what the log holds */
};
static int snapshot_log_mode;

static int choose_log_mode(void)
{
	if (!PS_LOAD(&ps_dirty_logging) ||
	    __atomic_load_n(&thread_running, __ATOMIC_ACQUIRE) ||
	    gettid() != ps_pid)
		return LOG_FOREIGN;
	if (dirty_busy) {
		PS_STORE(&ps_dirty_logging, 0);
		return LOG_FOREIGN;
	}
	if (PS_LOAD(&dirty_lost)) {
		PS_STORE(&dirty_lost, 0);
		dirty_entries_n = 0;
		dirty_nodes_n = 0;
		return LOG_REBUILD;
	}
	return LOG_USE;
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
	void *p = map_resize(scratch, scratch_cap * sizeof *scratch,
			     cap * sizeof *scratch);
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

static uint64_t zigzag(int64_t v)
{
	return (uint64_t)v << 1 ^ (uint64_t)(v >> 63);
}

/* Frames up to count not written yet, in FRAMES records of at most
 * FRAMES_PER_RECORD: (id - parent, the return address as a difference
 * from its parent's). */
#define FRAMES_PER_RECORD 16384u
static void encode_frames(uint32_t count)
{
	while (frames_written < count && !buf_failed) {
		uint32_t first = frames_written + 1;
		uint32_t n = count - frames_written;
		if (n > FRAMES_PER_RECORD)
			n = FRAMES_PER_RECORD;
		size_t at = record_begin(PS_REC_FRAMES);
		put_varint(first);
		put_varint(n);
		for (uint32_t id = first; id < first + n; id++) {
			uint32_t parent, grand;
			uintptr_t ip, parent_ip = 0;
			ps_frame_get(id, &parent, &ip);
			if (parent)
				ps_frame_get(parent, &grand, &parent_ip);
			put_varint(id - parent);
			put_varint(zigzag((int64_t)(ip - parent_ip)));
		}
		record_end(at);
		frames_written += n;
	}
}

/* Stacks up to count not written yet, in STACKS records: (innermost
 * frame as a difference from the previous one's, map epoch, site
 * candidates). */
#define STACKS_PER_RECORD 16384u
static void encode_stacks(uint32_t count)
{
	while (stacks_written < count && !buf_failed) {
		uint32_t first = stacks_written + 1;
		uint32_t n = count - stacks_written;
		if (n > STACKS_PER_RECORD)
			n = STACKS_PER_RECORD;
		size_t at = record_begin(PS_REC_STACKS);
		put_varint(first);
		put_varint(n);
		uint32_t prev = 0;
		for (uint32_t id = first; id < first + n; id++) {
			const ps_stack *s = ps_stack_at(id);
			put_varint(zigzag((int64_t)s->frame - (int64_t)prev));
			prev = s->frame;
			put_varint(ps_stack_map_epoch(id));
			put_varint(s->cand_start);
			put_varint(s->cand_count);
		}
		record_end(at);
		stacks_written += n;
	}
}

static void encode_thread(ps_thread *t)
{
	if (!__atomic_exchange_n(&t->info_dirty, 0, __ATOMIC_ACQ_REL))
		return;
	char name[16];
	uint32_t index;
	pid_t tid;
	uint64_t start, end;
	ps_thread_copy_identity(t, name, &index, &tid, &start, &end);
	if (!index)
		return; /* a free record */
	if (!name[0] && !end) {
		ps_thread_read_name(t, tid);
		ps_thread_copy_identity(t, name, &index, &tid, &start, &end);
	}
	if (index > threads_declared)
		threads_declared = index;
	size_t at = record_begin(PS_REC_THREAD);
	put_varint(index);
	put_varint((uint64_t)tid);
	put_str(name);
	put_varint(start > start_mono ? start - start_mono : 0);
	put_varint(end > start_mono ? end - start_mono : 0);
	put_varint(end ? 1 : 0);
	record_end(at);
}

/* Sorts v[0..n) by thread index, in place (a heapsort: qsort may call
 * malloc). */
static void sort_by_index(void **v, size_t n)
{
#define KEY(i) (((ps_thread *)v[i])->index)
	for (size_t end = n, start = n / 2; end > 1;) {
		if (start > 0) {
			start--;
		} else {
			end--;
			void *t = v[0];
			v[0] = v[end];
			v[end] = t;
		}
		for (size_t root = start;;) {
			size_t child = 2 * root + 1;
			if (child >= end)
				break;
			if (child + 1 < end && KEY(child + 1) > KEY(child))
				child++;
			if (KEY(root) >= KEY(child))
				break;
			void *t = v[root];
			v[root] = v[child];
			v[child] = t;
			root = child;
		}
	}
#undef KEY
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
	size_t k = 0;
	for (ps_thread *t = head; t && k < n; t = t->next_all)
		if (__atomic_load_n(&t->info_dirty, __ATOMIC_ACQUIRE) &&
		    __atomic_load_n(&t->index, __ATOMIC_ACQUIRE))
			v[k++] = t;
	/* in the order they were given their indexes, so that a file cut
	 * short declares every index below the largest it holds */
	sort_by_index(v, k);
	uint32_t next_new = threads_declared + 1;
	for (size_t i = 0; i < k; i++) {
		uint32_t index = __atomic_load_n(&((ps_thread *)v[i])->index,
						 __ATOMIC_ACQUIRE);
		/* a new index only right after the last one declared: a
		 * thread registering now may not have shown its record yet */
		if (index > threads_declared && index != next_new)
			break;
		if (index == next_new)
			next_new++;
		encode_thread(v[i]);
	}
}

static void put_hist(const uint64_t *hist)
{
	/* one pass: the buckets in use, each read once */
	uint8_t used[PS_HIST_BUCKETS];
	uint64_t count[PS_HIST_BUCKETS];
	unsigned n = 0;
	for (unsigned b = 0; b < PS_HIST_BUCKETS; b++) {
		uint64_t c = PS_LOAD(&hist[b]);
		if (c) {
			used[n] = (uint8_t)b;
			count[n++] = c;
		}
	}
	put_varint(n);
	for (unsigned i = 0; i < n; i++) {
		put_varint(used[i]);
		put_varint(count[i]);
	}
}

/* Where the previous entry of the open ENTRIES record left off: entries
 * are written as differences from it (docs/format.md). */
struct entry_ctx {
	uint64_t thread, stack, first_alloc;
};

/* The allocations of e the file holds (0 before its first entry): 32 bits
 * in e, or e->more's 64 once they outgrow them (then e's allocations have
 * too, and e->more exists). */
static uint64_t allocs_written(const ps_entry *e)
{
	return e->allocs_written32 != PS_ENTRY_WIDE
		       ? e->allocs_written32
		       : ps_entry_more_of(e)->allocs_written;
}

static void set_allocs_written(ps_entry *e, uint64_t allocs)
{
	if (allocs < PS_ENTRY_WIDE) {
		e->allocs_written32 = (uint32_t)allocs;
	} else {
		ps_entry_more_of(e)->allocs_written = allocs;
		e->allocs_written32 = PS_ENTRY_WIDE;
	}
}

static void encode_entry(ps_entry *e, struct entry_ctx *x)
{
	/* Read frees before allocations (a block is counted allocated, with
	 * a release store, before any thread can free it), so every snapshot
	 * satisfies xfrees <= frees <= allocs and the same for bytes; the
	 * reader checks it. The sizes and times are read after the counts
	 * (account.c stores them before): a counted allocation or free has
	 * its size and time here; a time whose event is not counted yet (a
	 * free in flight) is left for the next snapshot. */
	ps_entry_more *m = __atomic_load_n(&e->more, __ATOMIC_ACQUIRE);
	/* the frees inside candidates before the frees (account.c counts
	 * them after), so they never pass them */
	uint64_t inner[PS_ENT_INNER_FREES], any_inner = 0;
	for (int k = 0; k < PS_ENT_INNER_FREES; k++)
		any_inner |= inner[k] = __atomic_load_n(&e->inner_frees16[k],
							 __ATOMIC_ACQUIRE);
	/* the resized blocks before the frees they are part of, the grown
	 * ones before those (account.c stores them the other way round) */
	uint64_t resized_grown = 0, resized_size_max = 0, resized = 0;
	if (m) {
		resized_grown = __atomic_load_n(&m->resized_grown, __ATOMIC_ACQUIRE);
		resized_size_max = PS_LOAD(&m->resized_size_max);
		resized = __atomic_load_n(&m->resized, __ATOMIC_ACQUIRE);
	}
	uint64_t xfree_bytes = ps_entry_xfree_bytes(e);
	uint64_t xfrees = ps_entry_xfrees(e);
	uint64_t free_bytes = xfree_bytes +
			      __atomic_load_n(&e->own_free_bytes, __ATOMIC_ACQUIRE);
	uint64_t frees = xfrees + ps_entry_own_frees(e);
	uint64_t peak_live = __atomic_load_n(&e->peak_live, __ATOMIC_ACQUIRE);
	uint64_t peak_bytes = __atomic_load_n(&e->peak_bytes, __ATOMIC_ACQUIRE);
	uint64_t allocs = ps_entry_allocs(e);
	uint64_t alloc_bytes = __atomic_load_n(&e->alloc_bytes, __ATOMIC_ACQUIRE);
	/* again: a `more` published since the first look has counts */
	m = __atomic_load_n(&e->more, __ATOMIC_ACQUIRE);
	uint64_t grows = m ? PS_LOAD(&m->realloc_grows) : 0;
	uint64_t chains = m ? PS_LOAD(&m->chains_ended) : 0;
	uint64_t size_min = ps_entry_size_min(e);
	uint64_t size_max = ps_entry_size_max(e);
	/* one size for every counted request: the bytes follow from the
	 * counts, exactly (the reader multiplies) */
	int one_size = allocs && size_min == size_max;
	uint64_t flags = PS_ENT_HAS_HIST |
			 (grows || chains ? PS_ENT_HAS_REALLOC : 0) |
			 (one_size ? PS_ENT_V3_ONE_SIZE : 0) |
			 (xfrees ? PS_ENT_V3_XFREES : 0) |
			 (resized ? PS_ENT_V5_RESIZED : 0) |
			 (any_inner ? PS_ENT_V6_INNER_FREES : 0);
	uint32_t stack = ps_entry_stack_id(e);
	/* cumulative counts never go down: the file now holds this many */
	allocs_in_file += allocs - allocs_written(e);
	set_allocs_written(e, allocs);

	put_varint(zigzag((int64_t)(e->thread_index - x->thread)));
	put_varint(zigzag((int64_t)(stack - x->stack)));
	x->thread = e->thread_index;
	x->stack = stack;
	put_varint(flags);
	put_varint(allocs);
	put_varint(frees);
	if (xfrees)
		put_varint(xfrees);
	if (one_size) {
		put_varint(size_min);
	} else {
		put_varint(alloc_bytes);
		put_varint(free_bytes);
		if (xfrees)
			put_varint(xfree_bytes);
		put_varint(size_min == UINT64_MAX ? 0 : size_min);
		put_varint(size_max);
	}
	put_varint(allocs - peak_live);
	if (!one_size)
		put_varint(peak_bytes);
	uint64_t last_alloc = 0;
	if (allocs) {
		uint64_t first = rel_ticks(PS_LOAD(&e->first_alloc_ticks));
		last_alloc = rel_ticks(PS_LOAD(&e->last_alloc_ticks));
		if (last_alloc < first)
			last_alloc = first;
		put_varint(zigzag((int64_t)(first - x->first_alloc)));
		put_varint(last_alloc - first);
		x->first_alloc = first;
	}
	if (frees)
		put_varint(zigzag((int64_t)(rel_ticks(PS_LOAD(&e->last_free_ticks)) -
					    last_alloc)));
	uint64_t hist[PS_HIST_BUCKETS] = { 0 };
	if (!one_size) {
		ps_entry_hist_read(e, PS_HIST_SIZE, allocs, hist);
		put_hist(hist);
		memset(hist, 0, sizeof hist);
	}
	ps_entry_hist_read(e, PS_HIST_OWN_LIFE, 0, hist);
	ps_entry_hist_read(e, PS_HIST_X_LIFE, 0, hist);
	put_hist(hist);
	if (flags & PS_ENT_HAS_REALLOC) {
		put_varint(grows);
		put_varint(chains);
		put_varint(PS_LOAD(&m->chain_steps_sum));
		put_varint(PS_LOAD(&m->chain_steps_max));
		put_varint(PS_LOAD(&m->chain_final_size_max));
	}
	if (resized) {
		put_varint(resized);
		put_varint(resized_grown);
		/* a size seen for a growth not counted yet waits for it */
		put_varint(resized_grown ? resized_size_max : 0);
	}
	for (int k = 0; any_inner && k < PS_ENT_INNER_FREES; k++)
		put_varint(inner[k]);
}

/* The open ENTRIES record: where it starts, its count's slot, its count,
 * and the entry its next one is written against. */
static size_t entries_at, entries_slot;
static uint64_t entries_n;
static struct entry_ctx entries_ctx;
#define ENTRIES_SPLIT (64u << 10) /* raw bytes per ENTRIES record */

static void entries_begin(void)
{
	entries_at = record_begin(PS_REC_ENTRIES);
	entries_slot = put_count_slot();
	entries_n = 0;
	memset(&entries_ctx, 0, sizeof entries_ctx);
}

static void entries_end(void)
{
	if (!entries_n) {
		buf_len = entries_at; /* nothing in it: drop it */
		return;
	}
	patch_count(entries_slot, entries_n);
	record_end(entries_at);
}

/* The entries that changed since the last snapshot, sorted by (thread,
 * stack) so that each is written as small differences from the one
 * before, in a fixed amount of memory however many changed. They are
 * collected in a run of TOUCHED_RUN (128 KiB), sorted and encoded when it
 * fills. A walk meets one thread's entries together (and the dirty log
 * holds mostly the main thread's): when the run fills, that thread's
 * entries in it go to a bitmap of stack ids instead (1 bit per stack),
 * and so do the rest of them; they are encoded in stack order at the end
 * of the thread, each found again in its table. So a thread with a
 * million changed entries still has them written in order. */
#define TOUCHED_RUN 8192u
struct touched {
	uint64_t key; /* thread index << 32 | stack id */
	ps_entry *e;
};
static struct touched touched[TOUCHED_RUN];
static size_t ntouched;

/* The walk's current thread (NULL: none) and its index; with
 * walk_bitmap its entries go to the bitmap, whose set bits lie between
 * stack ids bitmap_lo and bitmap_hi. */
static ps_thread *walk_thread;
static uint32_t walk_index;
static int walk_bitmap;
static uint64_t *bitmap; /* mmap'd, kept between batches */
static size_t bitmap_words;
static uint32_t bitmap_lo, bitmap_hi;

static void sort_touched(struct touched *v, size_t n);

/* Writes e into the open ENTRIES record, which it closes and opens again
 * at ENTRIES_SPLIT bytes (encode_entry notes in e what the file holds). */
static void entries_put(ps_entry *e)
{
	encode_entry(e, &entries_ctx);
	entries_n++;
	if (buf_len - entries_at > ENTRIES_SPLIT) {
		entries_end();
		entries_begin();
	}
}

/* Encodes the run collected so far. */
static void touched_flush(void)
{
	sort_touched(touched, ntouched);
	for (size_t i = 0; i < ntouched; i++)
		entries_put(touched[i].e);
	ntouched = 0;
}

/* Makes the bitmap hold a bit per stack declared; 0, or -1. */
static int bitmap_ready(void)
{
	size_t words = stacks_written / 64 + 1;
	if (words <= bitmap_words)
		return 0;
	size_t cap = bitmap_words ? bitmap_words : 512;
	while (cap < words)
		cap *= 2;
	void *p = map_resize(bitmap, bitmap_words * 8, cap * 8);
	if (p == MAP_FAILED)
		return -1;
	bitmap = p;
	bitmap_words = cap;
	return 0;
}

static void bitmap_set(uint32_t stack)
{
	bitmap[stack / 64] |= 1ull << (stack % 64);
	if (stack < bitmap_lo)
		bitmap_lo = stack;
	if (stack > bitmap_hi)
		bitmap_hi = stack;
}

/* The run is full: the walk's thread's entries in it go to the bitmap,
 * and the rest of them will. */
static void bitmap_begin(void)
{
	bitmap_lo = UINT32_MAX;
	bitmap_hi = 0;
	size_t keep = 0;
	for (size_t i = 0; i < ntouched; i++) {
		if (touched[i].key >> 32 == walk_index)
			bitmap_set((uint32_t)touched[i].key);
		else
			touched[keep++] = touched[i];
	}
	ntouched = keep;
	walk_bitmap = 1;
}

/* Thread t's entry for stack (it has one: its tables only grow). */
static ps_entry *entry_of(ps_thread *t, uint32_t stack)
{
	uint64_t key = ps_stack_key_of(ps_stack_at(stack));
	ps_ptrtable *tab = __atomic_load_n(&t->entries[key & (PS_ENTRY_SHARDS - 1)],
					   __ATOMIC_ACQUIRE);
	for (uint32_t i = tab ? ps_ptrtable_home(tab, key) : 0, n = 0;
	     tab && n < tab->cap; n++) {
		uint64_t v = __atomic_load_n(&tab->slot[i], __ATOMIC_ACQUIRE);
		if (!v)
			break;
		ps_entry *e = PS_PTRTABLE_PTR(v);
		if (ps_ptrtable_may_match(v, key) && ps_entry_stack_id(e) == stack)
			return e;
		if (++i == tab->cap)
			i = 0;
	}
	return NULL;
}

/* Encodes the bitmap's entries of the walk's thread, in stack order,
 * clearing it. */
static void bitmap_flush(void)
{
	for (uint32_t w = bitmap_lo / 64; bitmap_lo <= bitmap_hi && w <= bitmap_hi / 64;
	     w++) {
		for (uint64_t bits = bitmap[w]; bits; bits &= bits - 1) {
			uint32_t stack = w * 64 + (uint32_t)__builtin_ctzll(bits);
			ps_entry *e = entry_of(walk_thread, stack);
			if (e)
				entries_put(e);
		}
		bitmap[w] = 0;
	}
	walk_bitmap = 0;
}

/* The walk moves on to thread t (NULL: none). */
static void walk_to(ps_thread *t)
{
	if (walk_bitmap)
		bitmap_flush();
	walk_thread = t;
	walk_index = t ? __atomic_load_n(&t->index, __ATOMIC_ACQUIRE) : 0;
}

/* Takes e's mark and adds it to the batch if it was set. Returns 1 when
 * e must wait for the next batch (marked or not, it is left as is). */
static int touched_take(ps_entry *e)
{
	/* an entry of a stack or thread this batch has not declared
	 * (interned since) waits for the next batch */
	uint32_t stack = ps_entry_stack_id(e);
	if (stack > stacks_written || e->thread_index > threads_declared)
		return 1;
	/* most entries a walk meets are unmarked: read before writing */
	if (!(__atomic_load_n(&e->stack_touched, __ATOMIC_RELAXED) &
	      PS_ENTRY_TOUCHED))
		return 0;
	uint32_t v = __atomic_exchange_n(&e->stack_touched, stack, __ATOMIC_ACQ_REL);
	if (!(v & PS_ENTRY_TOUCHED))
		return 0;
	int walks = walk_index && e->thread_index == walk_index;
	if (walk_bitmap && walks) {
		bitmap_set(stack);
		return 0;
	}
	if (ntouched == TOUCHED_RUN) {
		if (walks && !walk_bitmap && !bitmap_ready())
			bitmap_begin();
		if (ntouched == TOUCHED_RUN)
			touched_flush();
		if (walk_bitmap && walks) {
			bitmap_set(stack);
			return 0;
		}
	}
	touched[ntouched].key = (uint64_t)e->thread_index << 32 | stack;
	touched[ntouched++].e = e;
	return 0;
}

/* touched_take for the walks; an entry left waiting while the log is
 * rebuilt makes the next snapshot walk too. */
static void touched_add(ps_entry *e, void *arg)
{
	(void)arg;
	if (touched_take(e) && snapshot_log_mode == LOG_REBUILD)
		PS_STORE(&dirty_lost, 1);
}

/* Sorts v[0..n) by key, in place (a heapsort: qsort may call malloc). */
static void sort_touched(struct touched *v, size_t n)
{
	for (size_t end = n, start = n / 2; end > 1;) {
		if (start > 0) {
			start--;
		} else {
			end--;
			struct touched t = v[0];
			v[0] = v[end];
			v[end] = t;
		}
		for (size_t root = start;;) {
			size_t child = 2 * root + 1;
			if (child >= end)
				break;
			if (child + 1 < end && v[child + 1].key > v[child].key)
				child++;
			if (v[root].key >= v[child].key)
				break;
			struct touched t = v[root];
			v[root] = v[child];
			v[child] = t;
			root = child;
		}
	}
}

/* The entries touched since the last snapshot, after its SNAPSHOT record,
 * in ENTRIES records of a bounded size: the live threads', then those
 * ended threads left (threads.c). */
static void encode_entries(void)
{
	ntouched = 0;
	entries_begin();
	if (snapshot_log_mode == LOG_USE) {
		/* the log is the main thread's, which takes this snapshot */
		walk_to(ps_own_thread());
		/* what waits for the next batch stays in the log, if still
		 * marked (a copy logged again after another thread's walk
		 * took the mark has nothing to wait for) */
		size_t keep = 0;
		for (size_t i = 0; i < dirty_entries_n; i++) {
			ps_entry *e = dirty_entries[i];
			if (touched_take(e) &&
			    (PS_LOAD(&e->stack_touched) & PS_ENTRY_TOUCHED))
				dirty_entries[keep++] = e;
		}
		dirty_entries_n = keep;
		walk_to(NULL);
	}
	ps_ptrtables_walk_begin();
	for (ps_thread *t = ps_threads_newest();
	     t && snapshot_log_mode != LOG_USE; t = t->next_all) {
		walk_to(t);
		for (int k = 0; k < PS_ENTRY_SHARDS; k++) {
			ps_ptrtable *tab = __atomic_load_n(&t->entries[k],
							   __ATOMIC_ACQUIRE);
			for (uint32_t i = 0; tab && i < tab->cap; i++) {
				/* the entries are scattered: ask for some
				 * ahead, so their misses overlap */
				if (i + 8 < tab->cap)
					__builtin_prefetch(PS_PTRTABLE_PTR(
						PS_LOAD(&tab->slot[i + 8])));
				ps_entry *e = PS_PTRTABLE_PTR(__atomic_load_n(
					&tab->slot[i], __ATOMIC_ACQUIRE));
				if (e)
					touched_add(e, NULL);
			}
		}
	}
	/* the bitmap's entries are found in the tables: before walk_end */
	walk_to(NULL);
	ps_ptrtables_walk_end();
	ps_threads_for_each_retired(touched_add, NULL);
	touched_flush();
	entries_end();
}

/* A node's peak, if it changed since written; returns 1 if written. */
static int encode_node(ps_node *nd, uint32_t thread_index)
{
	uint64_t peak = PS_LOAD(&nd->peak);
	uint64_t bytes = PS_LOAD(&nd->peak_bytes);
	if (peak == nd->peak_written && bytes == nd->peak_bytes_written)
		return 0;
	nd->peak_written = peak;
	nd->peak_bytes_written = bytes;
	put_varint(thread_index);
	put_varint(nd->ip);
	put_varint(peak);
	put_varint(bytes);
	return 1;
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

	/* The entries follow in ENTRIES records (encode_entries). */
	size_t slot = put_count_slot();
	uint64_t n = 0;
	patch_count(slot, n);

	/* Site-wide (all threads) peak of objects live at once, per stack. */
	slot = put_count_slot();
	n = 0;
	for (uint32_t id = 1; ps_opt.site_peak && id <= stacks_written; id++) {
		ps_stack_peak *sp = ps_stack_peak_of(id);
		uint64_t peak = sp ? PS_LOAD(&sp->peak_live) : 0;
		if (!sp || peak == sp->peak_written)
			continue;
		sp->peak_written = peak;
		put_varint(id);
		put_varint(peak);
		n++;
	}
	patch_count(slot, n);

	/* Per-thread totals that changed. */
	slot = put_count_slot();
	n = 0;
	for (ps_thread *t = ps_threads_newest(); t; t = t->next_all) {
		uint32_t index = __atomic_load_n(&t->index, __ATOMIC_ACQUIRE);
		if (!index || index > threads_declared)
			continue;
		uint64_t unknown = PS_LOAD(&t->unknown_frees);
		uint64_t unrecorded = PS_LOAD(&t->unrecorded_allocs);
		/* the recording's time, in ns at this snapshot's tick rate,
		 * never less than written before (the rate is measured),
		 * and as before unless the thread recorded since (not moved
		 * by the measured rate alone: its busy time is read when it
		 * moves, and a thread that did not run reads no more) */
		uint64_t rec_ticks = PS_LOAD(&t->rec_ticks);
		uint64_t rec_ns = hz ? (uint64_t)((double)rec_ticks * 1e9 /
						  (double)hz)
				     : 0;
		if (rec_ns < t->rec_ns_written ||
		    rec_ticks == t->rec_ticks_written)
			rec_ns = t->rec_ns_written;
		/* and the time it was busy and ran, read when it recorded
		 * since (a tid used again by a later thread may read less:
		 * held); of a thread that ended, the time it ran as it
		 * ended (its busy time is not known after the last read) */
		uint64_t busy = t->busy_ns_written, cpu = t->cpu_ns_written;
		if (rec_ns != t->rec_ns_written) {
			int ended = __atomic_load_n(&t->end_ns,
						    __ATOMIC_ACQUIRE) != 0;
			uint64_t ran = ended ? t->end_cpu_ns : 0;
			if (!ended) {
				uint64_t now = ps_thread_busy_ns(PS_LOAD(&t->tid),
								 &ran);
				if (now > busy)
					busy = now;
			}
			if (ran > cpu)
				cpu = ran;
		}
		if (unknown == t->totals_written[0] &&
		    unrecorded == t->totals_written[1] &&
		    rec_ns == t->rec_ns_written && busy == t->busy_ns_written &&
		    cpu == t->cpu_ns_written)
			continue;
		t->totals_written[0] = unknown;
		t->totals_written[1] = unrecorded;
		t->rec_ns_written = rec_ns;
		t->rec_ticks_written = rec_ticks;
		t->busy_ns_written = busy;
		t->cpu_ns_written = cpu;
		put_varint(index);
		put_varint(unknown);
		put_varint(unrecorded);
		put_varint(rec_ns);
		put_varint(busy);
		put_varint(cpu);
		n++;
	}
	patch_count(slot, n);

	/* Per-thread peaks of the site-candidate nodes that changed. */
	slot = put_count_slot();
	n = 0;
	if (snapshot_log_mode == LOG_USE) {
		size_t keep = 0;
		for (size_t i = 0; i < dirty_nodes_n; i++) {
			struct logged_node ln = dirty_nodes[i];
			if (ln.thread_index > threads_declared) {
				dirty_nodes[keep++] = ln;
				continue;
			}
			ln.node->logged = 0;
			n += encode_node(ln.node, ln.thread_index);
		}
		dirty_nodes_n = keep;
	}
	for (ps_thread *t = ps_threads_newest();
	     t && snapshot_log_mode != LOG_USE; t = t->next_all) {
		uint32_t index = __atomic_load_n(&t->index, __ATOMIC_ACQUIRE);
		int skip = !index || index > threads_declared;
		for (ps_node *nd = __atomic_load_n(&t->nodes, __ATOMIC_ACQUIRE);
		     nd; nd = nd->next_all) {
			if (snapshot_log_mode == LOG_REBUILD) {
				/* the log starts empty: no node is in it */
				if (nd->logged)
					nd->logged = 0;
				if (skip)
					PS_STORE(&dirty_lost, 1);
			}
			if (!skip)
				n += encode_node(nd, index);
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
		 * to say (ps_writer_open_child, or here if that could not),
		 * so fork-and-exec children leave no empty files. */
		if (!ps_threads_newest() || ps_writer_open())
			return;
	}
	if (end_reason == PS_END_EXIT && last_thread_exit)
		end_reason = PS_END_LAST_THREAD;
	buf_len = 0;
	buf_failed = 0;
	batch_lost = 0;
	zbuf_len = 0;
	z_want = __atomic_load_n(&thread_running, __ATOMIC_ACQUIRE)
			 ? PS_DEFLATE_LEVEL : PS_DEFLATE_LEVEL_INLINE;
	/* deflated once the stream has started (see RAW_BEFORE_STREAM) */
	compressing = z_state ? z_ready() : 0;
	ps_threads_retire_begin();
	snapshot_log_mode = choose_log_mode();
	uint64_t now = ps_mono_ns();
	encode_modules();
	/* the stack count first: every frame of a counted stack is counted */
	uint32_t stacks = ps_stacks_count();
	encode_frames(ps_frames_count());
	encode_stacks(stacks);
	encode_threads();
	encode_snapshot(now);
	encode_entries();
	if (end_reason) {
		size_t at = record_begin(PS_REC_END);
		put_varint((uint64_t)end_reason);
		put_varint(now - start_mono);
		if (end_reason == PS_END_SIGNAL)
			put_varint((uint64_t)end_signal);
		record_end(at);
		if (end_reason != PS_END_EXEC) {
			/* writer_main reads it without the lock */
			__atomic_store_n(&finished, 1, __ATOMIC_RELEASE);
			ps_recording = 0;
		}
	}
	if (compressing) {
		emit_deflated(end_reason != 0);
	} else if (buf_failed || (end_reason && reserve(PS_TOTALS_RECORD_SIZE))) {
		batch_lost = 1;
	} else {
		if (end_reason)
			buf_len = append_totals(buf, buf_len);
		if (check_fd() || write_out(buf, buf_len))
			batch_lost = 1; /* and writing stopped */
	}
	compressing = 0;
	if (batch_lost || buf_failed) /* the encoding ran out of memory */
		lose_batch("out of memory");
	ps_threads_retire_end(!batch_lost && !buf_failed && !write_stopped,
			      threads_declared);
}

void ps_writer_interrupted_warning(void)
{
	static int warned;
	if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		ps_warn("the program ended from a signal handler that "
			"interrupted the profiler's bookkeeping: the profile "
			"ends at its last snapshot");
}

void ps_writer_end_by_signal(int sig)
{
	end_signal = sig;
	ps_writer_snapshot(PS_END_SIGNAL);
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
	/* ... or, anywhere else, on a thread that was inside a table's
	 * critical section (the arena's, the stacks', ...): that section
	 * never finishes, and the writer thread may be waiting for it while
	 * it holds the writer lock. The profile then ends at its last
	 * snapshot, and says so once. */
	if (ps_locks_held > (held ? 1u : 0u)) {
		ps_writer_interrupted_warning();
		return;
	}
	if (end_reason)
		ps_thread_refresh_own_name();
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

/* Bumped (and the writer woken) when something cannot wait for the next
 * interval: many threads ended since the last snapshot (threads.c). */
static uint32_t wake_word;

void ps_writer_wake(void)
{
	__atomic_add_fetch(&wake_word, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &wake_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Sleeps ms milliseconds, or less if ps_writer_wake is called. */
static void writer_sleep(unsigned ms)
{
	uint32_t seen = __atomic_load_n(&wake_word, __ATOMIC_ACQUIRE);
	uint64_t end = ps_mono_ns() + (uint64_t)ms * 1000000u;
	for (;;) {
		uint64_t now = ps_mono_ns();
		if (now >= end || __atomic_load_n(&wake_word, __ATOMIC_ACQUIRE) != seen)
			return;
		struct timespec ts = { (time_t)((end - now) / 1000000000u),
				       (long)((end - now) % 1000000000u) };
		syscall(SYS_futex, &wake_word, FUTEX_WAIT_PRIVATE, seen, &ts,
			NULL, 0);
	}
}

static void *writer_main(void *arg)
{
	(void)arg;
	ps_tls.guard = 1; /* our own allocations are never recorded */
	for (;;) {
		/* the main thread ended with pthread_exit: exit when the
		 * others have (seen in the thread registry) */
		if (!main_exited && ps_threads_main_ended())
			main_exited = 1;
		writer_sleep(main_exited ? 10 : ps_opt.interval_ms);
		if (__atomic_load_n(&finished, __ATOMIC_ACQUIRE))
			return NULL;
		if (!main_exited && ps_threads_main_ended())
			main_exited = 1;
		if (main_exited && !other_threads_alive()) {
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
	/* from now on more than one thread counts: snapshots walk */
	PS_STORE(&ps_dirty_logging, 0);
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
	uint64_t t0 = ps_ticks();
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ps_writer_snapshot(0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* the program's thread wrote it: recording's time */
	ps_rec_exact(ps_own_thread(), t0);
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
	frames_written = 0;
	stacks_written = 0;
	threads_declared = 0;
	allocs_in_file = 0;
	/* the child has one thread and tables of its own: its log starts
	 * empty, after one walk to be sure */
	ps_dirty_logging = 1;
	dirty_entries_n = 0;
	dirty_nodes_n = 0;
	dirty_busy = 0;
	dirty_lost = 1;
	/* the child's file starts a deflate stream of its own */
	if (z_state == 1)
		deflateReset(&zs);
	zbuf_len = 0;
	compressing = 0;
	writer_held = 0;
	writer_lock.locked = 0;
}
