/* unwind_diff.c - stacks for the unwinder differential test
 * (tests/integration/unwind_diff.sh). Run under the preload with
 * POOLSCOUT_UNWIND=check: every allocation is unwound by the fast unwinder
 * and by libunwind, and the preload counts the stacks on which they
 * disagree. Each scenario allocates at points it counts itself and prints
 * "points=N", so the test can check that at least that many stacks were
 * compared.
 *
 *   unwind_diff SCENARIO...
 *     recursion   recursive descent to depth 1..60 (-O2, no frame pointer)
 *     deep        one descent 300 frames deep (beyond POOLSCOUT_DEPTH)
 *     repeat      runs of allocations from one call site, then from a
 *                 twin at the same depth: from the inside, the first of
 *                 a run looks like a repeat of the last run's walk
 *     alloca      VLAs and alloca: rbp-based CFA in -O2 code
 *     o0          code built with -O0 (frame pointers everywhere)
 *     rbpshift    one frame position reached through frame-pointer
 *                 callers at two depths: only the saved rbp differs
 *     plt         calls through the PLT into a shared library that
 *                 allocates, and that calls back into us
 *     qsort       an allocating qsort comparator: stacks through libc
 *     signal      allocating signal handlers: raised synchronously from
 *                 deep frames, and by a timer interrupting a busy loop
 *     altstack    the same handlers on a sigaltstack
 *     asm         the hand-written CFI cases of unwind_asm.S
 *     longjmp     leaving deep frames by longjmp, then new shapes
 *     repeat_plugin  the same walk 1000 times through a dlopen'd library
 *     dlopen      libraries loaded and unloaded while allocating in
 *                 them, one unloaded behind the preload's back
 *     cie         three libraries loaded in turn at one address whose
 *                 CIEs share an address but not their content
 *     unloadN     N copies of a library loaded at once, then unloaded
 *     reload      one library loaded and unloaded 70 times
 *     threads     four threads mixing the scenarios above
 *     fork        a forked child allocating through inherited tables
 *     nullrbp     stacks ending at a frame without CFI called with rbp 0
 *     depths      every recursion depth from 0 to 280, up then down: each
 *                 depth limit is met with 0, 1, 2, ... frames beyond it
 */
#define _GNU_SOURCE
#include <alloca.h>
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unwind_difflib.h"

static long points; /* allocations at test points (atomic) */
static void *volatile sink;
static volatile int keep; /* read after calls: no tail calls */

static void count(void)
{
	__atomic_fetch_add(&points, 1, __ATOMIC_RELAXED);
}

__attribute__((noinline)) static void alloc_here(size_t n)
{
	void *p = malloc(n);
	sink = p;
	free(p);
	count();
}

/* ---- recursion, deep --------------------------------------------------- */

__attribute__((noinline)) static int descend(int depth, int width)
{
	if (depth == 0) {
		for (int i = 0; i < width; i++)
			alloc_here(16 + (size_t)i);
		return 1;
	}
	return descend(depth - 1, width) + keep;
}

static void scenario_recursion(void)
{
	for (int round = 0; round < 3; round++)
		for (int d = 1; d <= 60; d++)
			descend(d, 3);
}

/* ---- repeat ------------------------------------------------------------- */

/* Three allocations in a row from one call site, then three from another
 * in the same frame: the same leaf at the same depth, differing only in
 * the return address into scenario_repeat. The fast unwinder says a walk
 * repeats its previous one after re-checking every word that walk read;
 * a change this far out must be seen. */
static void scenario_repeat(void)
{
	for (int round = 0; round < 400; round++) {
		for (int i = 0; i < 3; i++)
			keep += descend(6, 1);
		for (int i = 0; i < 3; i++)
			keep += descend(6, 1) + 1;
	}
}

static void scenario_deep(void)
{
	for (int i = 0; i < 20; i++)
		descend(300, 2);
}

/* ---- alloca ------------------------------------------------------------ */

__attribute__((noinline)) static void with_vla(int n, int depth)
{
	char buf[n];
	memset(buf, depth, (size_t)n);
	sink = buf;
	if (depth)
		with_vla(n * 2 + 1, depth - 1);
	else
		alloc_here((size_t)n);
	sink = buf;
}

__attribute__((noinline)) static void with_alloca(size_t n, int depth)
{
	char *p = alloca(n);
	memset(p, 1, n);
	sink = p;
	if (depth)
		with_vla((int)n, depth - 1);
	alloc_here(n);
	sink = p;
}

static void scenario_alloca(void)
{
	for (int i = 1; i < 200; i++)
		with_alloca((size_t)i * 8, i % 5);
}

/* A frame larger than a compiled rule can hold (CFA offsets up to
 * 256 KiB): the fast path must hand it to libunwind, not wrap the
 * offset around. */
__attribute__((noinline)) static void with_big_frame(size_t n)
{
	char buf[320 * 1024];
	memset(buf, (int)n, sizeof buf);
	sink = buf;
	alloc_here(n);
	keep += buf[n];
}

static void scenario_bigframe(void)
{
	for (int i = 1; i < 50; i++)
		with_big_frame((size_t)i * 8);
}

/* ---- -O0 --------------------------------------------------------------- */

void o0_run(void (*leaf)(size_t), int depth); /* unwind_diff_o0.c */
void o0_shift(void (*f)(void), int depth, int pad);

static void scenario_o0(void)
{
	for (int d = 0; d < 40; d++)
		o0_run(alloc_here, d);
}

/* Keeps seven values across a call: -O2 code then saves and uses rbp as
 * a general register, with an rsp-based CFA. */
__attribute__((noinline)) static void keeps_data_in_rbp(void)
{
	int a = keep, b = keep + 1, c = keep + 2, d = keep + 3, e = keep + 4,
	    g = keep + 5, h = keep + 6;
	alloc_here(8);
	keep = a + b + c + d + e + g + h;
}

/* The same with a bigger frame: the frames below o0_shift differ from
 * keeps_data_in_rbp's, so the first frame two walks share is o0_shift's
 * own, whose rbp differs. */
__attribute__((noinline)) static void keeps_data_in_rbp_wide(void)
{
	volatile char pad[96];
	pad[0] = (char)keep;
	int a = keep, b = keep + 1, c = keep + 2, d = keep + 3, e = keep + 4,
	    g = keep + 5, h = keep + 6;
	alloc_here(8);
	keep = a + b + c + d + e + g + h + pad[0];
}

static uintptr_t probed;

__attribute__((noinline)) static void probe_position(void)
{
	probed = (uintptr_t)__builtin_frame_address(0);
}

/* The same allocation stack position, first under three o0_shift frames,
 * then under one whose VLA fills the difference: every return address
 * word the first walk read above that position is still there, but the
 * rbp that keeps_data_in_rbp saved (o0_shift's frame pointer) differs. A
 * walk reusing the first one must notice. */
static void scenario_rbpshift(void)
{
	uintptr_t at_depth2[256];
	for (int i = 0; i < 256; i++) {
		o0_shift(probe_position, 2, 16 * (i + 1));
		at_depth2[i] = probed;
	}
	for (int pad = 16; pad <= 8192; pad += 16) {
		o0_shift(probe_position, 0, pad);
		for (int i = 0; i < 256; i++) {
			if (at_depth2[i] != probed)
				continue;
			/* one call site: the outermost return address matches */
			for (int call = 0; call < 40; call++)
				o0_shift(call & 2 ? keeps_data_in_rbp_wide : keeps_data_in_rbp,
					 call & 1 ? 0 : 2, call & 1 ? pad : 16 * (i + 1));
		}
	}
}

/* ---- plt --------------------------------------------------------------- */

static void callback_alloc(int i)
{
	alloc_here(24 + (size_t)i);
}

static void scenario_plt(void)
{
	for (int i = 0; i < 300; i++) {
		/* the library allocates, deep in its own frames */
		__atomic_fetch_add(&points, difflib_alloc(i % 7), __ATOMIC_RELAXED);
		difflib_call_back(callback_alloc, i % 5);
	}
}

/* ---- qsort ------------------------------------------------------------- */

static int cmp_alloc(const void *a, const void *b)
{
	alloc_here(8);
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static void scenario_qsort(void)
{
	int v[200];
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 200; i++)
			v[i] = (i * 7919 + round) % 211;
		qsort(v, 200, sizeof *v, cmp_alloc);
	}
}

/* ---- signals ----------------------------------------------------------- */

static volatile sig_atomic_t ticks;

static void on_signal(int sig)
{
	/* malloc is not async-signal-safe in general; here the interrupted
	 * code never allocates (see below), so the heap lock is free */
	(void)sig;
	alloc_here(32);
	ticks++;
}

__attribute__((noinline)) static int raise_deep(int depth)
{
	if (depth == 0) {
		raise(SIGUSR1);
		return 1;
	}
	return raise_deep(depth - 1) + keep;
}

__attribute__((noinline)) static unsigned long busy(unsigned long n)
{
	unsigned long x = n;
	for (unsigned long i = 0; i < n; i++)
		x = x * 6364136223846793005ul + 1442695040888963407ul;
	return x;
}

static void run_signals(int on_altstack)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = on_altstack ? SA_ONSTACK : 0;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	for (int d = 0; d < 30; d++)
		raise_deep(d);
	/* a timer interrupting arbitrary instructions of a loop that never
	 * allocates; the handler's frames sit on the interrupted ones */
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	ticks = 0;
	setitimer(ITIMER_REAL, &it, NULL);
	for (int i = 0; i < 2000 && ticks < 100; i++)
		sink = (void *)busy(20000);
	memset(&it, 0, sizeof it);
	setitimer(ITIMER_REAL, &it, NULL);
	signal(SIGALRM, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
}

static void scenario_signal(void)
{
	run_signals(0);
}

static void scenario_altstack(void)
{
	stack_t ss = { .ss_sp = malloc(1 << 16), .ss_size = 1 << 16 };
	sigaltstack(&ss, NULL);
	run_signals(1);
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
}

/* ---- asm --------------------------------------------------------------- */

void asm_cfa_r12(void (*f)(void));
void asm_row_at_ra(void (*f)(void));
void asm_call_last(void (*f)(void));
void asm_rbp_frame(void (*f)(void));
void asm_drap(void (*f)(void));
void asm_ra_undefined(void (*f)(void));
void asm_remember(void (*f)(void), long early);
void asm_padded_leb(void (*f)(void));

static __thread jmp_buf escape; /* per thread: the threads scenario */

static void leaf_alloc(void)
{
	alloc_here(40);
}

static void leaf_alloc_escape(void)
{
	alloc_here(48);
	longjmp(escape, 1);
}

__attribute__((noinline)) static void via(void (*asm_fn)(void (*)(void)), int depth)
{
	if (depth)
		via(asm_fn, depth - 1);
	else
		asm_fn(leaf_alloc);
	keep = keep + 1;
}

/* setjmp in a function of its own: the caller's locals stay safe */
__attribute__((noinline)) static void call_last_and_escape(void)
{
	if (!setjmp(escape))
		asm_call_last(leaf_alloc_escape);
}

static void scenario_asm(void)
{
	void (*fns[])(void (*)(void)) = { asm_cfa_r12, asm_row_at_ra, asm_rbp_frame,
					  asm_drap, asm_ra_undefined,
					  asm_padded_leb };
	for (int round = 0; round < 20; round++) {
		for (unsigned i = 0; i < sizeof fns / sizeof *fns; i++)
			via(fns[i], round % 4);
		call_last_and_escape();
		asm_remember(leaf_alloc, 0);
		asm_remember(leaf_alloc, 1); /* early exit: no calls */
	}
}

/* ---- longjmp ----------------------------------------------------------- */

static __thread jmp_buf out;

__attribute__((noinline)) static int dive(int depth, int jump_at)
{
	char pad[32];
	memset(pad, depth, sizeof pad);
	sink = pad;
	if (depth == jump_at) {
		alloc_here(64);
		longjmp(out, 1);
	}
	int r = depth ? dive(depth - 1, jump_at) : 0;
	alloc_here(72);
	return r + pad[3];
}

__attribute__((noinline)) static void dive_and_escape(int depth, int jump_at)
{
	if (!setjmp(out))
		dive(depth, jump_at);
}

static void scenario_longjmp(void)
{
	for (int i = 0; i < 200; i++) {
		dive_and_escape(20 + i % 13, i % 7);
		descend(i % 9, 1);
	}
}

/* ---- dlopen ------------------------------------------------------------ */

static uintptr_t last_base[2]; /* where plugin a and b were loaded */

/* Loads path (into *h) and returns its function sym; exits on failure. */
static void *open_lib(const char *path, const char *sym, void **h)
{
	*h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!*h) {
		fprintf(stderr, "unwind_diff: dlopen %s: %s\n", path, dlerror());
		exit(2);
	}
	void *fn = dlsym(*h, sym);
	if (!fn) {
		fprintf(stderr, "unwind_diff: %s lacks %s\n", path, sym);
		exit(2);
	}
	return fn;
}

static void call_lib(const char *path, int (*closer)(void *), int n)
{
	void *h;
	int (*run)(int) = (int (*)(int))(uintptr_t)open_lib(path, "plugin_alloc_run", &h);
	for (int i = 0; i < n; i++)
		__atomic_fetch_add(&points, run(i), __ATOMIC_RELAXED);
	Dl_info info;
	if (dladdr((void *)(uintptr_t)run, &info))
		last_base[path[strlen(path) - 4] == 'b'] = (uintptr_t)info.dli_fbase;
	closer(h);
}

static void scenario_dlopen(const char *dir)
{
	char a[4096], b[4096];
	snprintf(a, sizeof a, "%s/libudiff_plugin_a.so", dir);
	snprintf(b, sizeof b, "%s/libudiff_plugin_b.so", dir);
	/* libc's own dlclose, as glibc calls it for its gconv modules: the
	 * preload is not told */
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	int (*quiet_close)(void *) = libc ?
		(int (*)(void *))(uintptr_t)dlvsym(libc, "dlclose", "GLIBC_2.34") : NULL;
	if (!quiet_close)
		quiet_close = dlclose;
	int same_base = 0;
	for (int round = 0; round < 10; round++) {
		call_lib(a, dlclose, 20);
		call_lib(b, dlclose, 20);
		same_base += last_base[0] == last_base[1];
		call_lib(a, quiet_close, 20);
		call_lib(b, quiet_close, 20);
		same_base += last_base[0] == last_base[1];
	}
	/* b replacing a at the same address is the case worth testing */
	printf("dlopen: b loaded where a was in %d of 20 rounds\n", same_base);
}

/* The same walk again and again through a library loaded by dlopen (not
 * pinned: its frames are checked for being still loaded, once per walk):
 * 1000 allocations three frames down in libudiff_plugin_a.so from one
 * call site. */
static void scenario_repeat_plugin(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/libudiff_plugin_a.so", dir);
	void *h;
	int (*run)(int) = (int (*)(int))(uintptr_t)open_lib(path,
							    "plugin_alloc_run", &h);
	for (int i = 0; i < 1000; i++) {
		keep += run(3);
		count();
	}
	dlclose(h);
}

/* ---- one CIE address, two CIEs ------------------------------------------ */

/* libudiff_cie_{plain,r15,end}.so (unwind_cie.S) are one function
 * linked at one address, whose only CIE sits at the same address in all
 * three, of the same size: the return address at CFA-8 (plain), in
 * r15's column (not provable: libunwind's), or undefined (the stack ends
 * there). Loaded in turn, each must be compiled with its own CIE, not
 * with the one cached for another; and libunwind must not walk one by
 * the rules it cached for another. */
static const char *const cie_kind[3] = { "plain", "r15", "end" };
static long cie_points[3]; /* allocations in each */

static uintptr_t call_cie(const char *dir, int kind)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/libudiff_cie_%s.so", dir, cie_kind[kind]);
	void *h;
	int (*run)(void) = (int (*)(void))(uintptr_t)open_lib(path, "cie_alloc_run", &h);
	for (int i = 0; i < 20; i++) {
		int n = run();
		cie_points[kind] += n;
		__atomic_fetch_add(&points, n, __ATOMIC_RELAXED);
	}
	Dl_info info;
	uintptr_t base = dladdr((void *)(uintptr_t)run, &info) ?
		(uintptr_t)info.dli_fbase : 0;
	dlclose(h);
	return base;
}

static void scenario_cie(const char *dir)
{
	int same_base = 0;
	for (int round = 0; round < 10; round++) {
		uintptr_t plain = call_cie(dir, 0);
		uintptr_t r15 = call_cie(dir, 1);
		same_base += plain && r15 == plain && call_cie(dir, 2) == plain;
	}
	printf("cie: plain=%ld r15=%ld end=%ld same_base=%d\n", cie_points[0],
	       cie_points[1], cie_points[2], same_base);
}

/* n copies of libudiff_plugin_a.so (under TMPDIR), all loaded at once
 * (n objects, n address ranges), each allocating, then all unloaded;
 * then 1000 allocations from our own code. The unwinder notes up to 64
 * ranges where objects were unloaded, past that every address: libunwind
 * then walks every stack again (check mode counts them, restepped). */
static void scenario_unload(const char *dir, int n)
{
	char src[4096], tmpl[4096], path[4096];
	snprintf(src, sizeof src, "%s/libudiff_plugin_a.so", dir);
	const char *tmp = getenv("TMPDIR");
	snprintf(tmpl, sizeof tmpl, "%s/udiff_unload.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmpl)) {
		perror("unwind_diff: mkdtemp");
		exit(2);
	}
	FILE *in = fopen(src, "rb");
	static char image[1 << 20];
	size_t len = in ? fread(image, 1, sizeof image, in) : 0;
	if (!in || !len || len == sizeof image) {
		fprintf(stderr, "unwind_diff: cannot read %s\n", src);
		exit(2);
	}
	fclose(in);
	void *h[100];
	for (int i = 0; i < n && i < 100; i++) {
		snprintf(path, sizeof path, "%s/copy%d.so", tmpl, i);
		FILE *out = fopen(path, "wb");
		if (!out || fwrite(image, 1, len, out) != len || fclose(out)) {
			fprintf(stderr, "unwind_diff: cannot write %s\n", path);
			exit(2);
		}
		int (*run)(int) = (int (*)(int))(uintptr_t)open_lib(path, "plugin_alloc_run", &h[i]);
		__atomic_fetch_add(&points, run(i), __ATOMIC_RELAXED);
	}
	for (int i = 0; i < n && i < 100; i++) {
		dlclose(h[i]);
		snprintf(path, sizeof path, "%s/copy%d.so", tmpl, i);
		unlink(path);
	}
	rmdir(tmpl);
	for (int i = 0; i < 1000; i++)
		descend(3, 1);
	printf("unload: %d objects\n", n < 100 ? n : 100);
}

/* One library loaded and unloaded 70 times (at one address, mostly):
 * the unwinder notes its range once, not 70 times, so that the 64 ranges
 * it keeps are not used up and the 1000 stacks of our own code after it
 * are not walked again. Prints how many distinct addresses it got. */
static void scenario_reload(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/libudiff_plugin_a.so", dir);
	uintptr_t bases[70];
	int distinct = 0;
	for (int i = 0; i < 70; i++) {
		void *h;
		int (*run)(int) = (int (*)(int))(uintptr_t)open_lib(path,
								    "plugin_alloc_run", &h);
		Dl_info info;
		bases[i] = dladdr((void *)(uintptr_t)run, &info)
				   ? (uintptr_t)info.dli_fbase : 0;
		int seen = 0;
		for (int k = 0; k < i && !seen; k++)
			seen = bases[k] == bases[i];
		distinct += !seen;
		__atomic_fetch_add(&points, run(1), __ATOMIC_RELAXED);
		dlclose(h);
	}
	for (int i = 0; i < 1000; i++)
		descend(3, 1);
	printf("reload: 70 loads at %d addresses\n", distinct);
}

/* ---- threads, fork ----------------------------------------------------- */

static void *thread_main(void *arg)
{
	long id = (long)arg;
	for (int i = 0; i < 3; i++) {
		scenario_recursion();
		if (id & 1)
			scenario_alloca();
		else
			scenario_qsort();
		scenario_plt();
		scenario_longjmp();
	}
	return NULL;
}

static void scenario_threads(void)
{
	pthread_t t[4];
	for (long i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, thread_main, (void *)i);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
}

static void scenario_fork(void)
{
	scenario_recursion();
	pid_t pid = fork();
	if (pid == 0) {
		points = 0;
		scenario_recursion();
		scenario_plt();
		printf("child points=%ld\n", points);
		exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		exit(3);
}

/* ---- frames without CFI, rbp 0 ------------------------------------------ */

void asm_null_rbp_jmp(void (*f)(void));
void asm_null_rbp_plt(void (*f)(void));

/* stacks that end at an asm frame with no FDE and rbp 0 (unwind_asm.S) */
static void scenario_nullrbp(void)
{
	for (int i = 0; i < 200; i++) {
		asm_null_rbp_jmp(leaf_alloc);
		asm_null_rbp_plt(leaf_alloc);
	}
}

/* ---- every depth ----------------------------------------------------------- */

static void scenario_depths(void)
{
	for (int round = 0; round < 2; round++) {
		for (int d = 0; d <= 280; d++)
			descend(d, 1);
		for (int d = 280; d >= 0; d--)
			descend(d, 1);
	}
}

int main(int argc, char **argv)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", argv[0]);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		strcpy(dir, ".");
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "recursion")) scenario_recursion();
		else if (!strcmp(s, "deep")) scenario_deep();
		else if (!strcmp(s, "repeat")) scenario_repeat();
		else if (!strcmp(s, "alloca")) scenario_alloca();
		else if (!strcmp(s, "bigframe")) scenario_bigframe();
		else if (!strcmp(s, "o0")) scenario_o0();
		else if (!strcmp(s, "rbpshift")) scenario_rbpshift();
		else if (!strcmp(s, "plt")) scenario_plt();
		else if (!strcmp(s, "qsort")) scenario_qsort();
		else if (!strcmp(s, "signal")) scenario_signal();
		else if (!strcmp(s, "altstack")) scenario_altstack();
		else if (!strcmp(s, "asm")) scenario_asm();
		else if (!strcmp(s, "longjmp")) scenario_longjmp();
		else if (!strcmp(s, "dlopen")) scenario_dlopen(dir);
		else if (!strcmp(s, "repeat_plugin")) scenario_repeat_plugin(dir);
		else if (!strcmp(s, "cie")) scenario_cie(dir);
		else if (!strncmp(s, "unload", 6)) scenario_unload(dir, atoi(s + 6));
		else if (!strcmp(s, "reload")) scenario_reload(dir);
		else if (!strcmp(s, "threads")) scenario_threads();
		else if (!strcmp(s, "fork")) scenario_fork();
		else if (!strcmp(s, "nullrbp")) scenario_nullrbp();
		else if (!strcmp(s, "depths")) scenario_depths();
		else {
			fprintf(stderr, "unwind_diff: unknown scenario %s\n", s);
			return 2;
		}
	}
	printf("points=%ld\n", points);
	return 0;
}
