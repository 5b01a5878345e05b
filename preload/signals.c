/* signals.c - a final snapshot for a process that a signal ends.
 *
 * A process without a writer thread (single-threaded) writes its
 * snapshots from its own allocator calls, so one that allocated in a
 * burst and then went quiet would lose the whole burst to a kill; with a
 * writer thread the loss is up to one interval. So the signals a user, a
 * shell or a supervisor ends a program with, when the program leaves
 * them at SIG_DFL, are caught: the catcher writes a last snapshot and an
 * END record naming the signal (the profile is whole up to it: views
 * read it as complete), puts SIG_DFL back and raises the signal again,
 * and the process dies by it exactly as it would have (same wait status,
 * no core either way).
 *
 * Caught: SIGHUP, SIGINT, SIGTERM (terminals, shells, `kill`, `timeout`,
 * supervisors, `record` passing them on), SIGPIPE (a pipeline's reader
 * going away ends short-lived writers, often before their first
 * snapshot), SIGALRM, SIGUSR1, SIGUSR2 (sent to end a program that has no
 * use for them). Not caught: SIGKILL and SIGSTOP (cannot be), the signals
 * whose default dumps core (SIGQUIT, SIGABRT, SIGSEGV, ...: the core is
 * what they are for, and should show the program as it was), and the
 * timer and I/O signals a program arms for itself (SIGPROF, SIGVTALRM,
 * SIGIO, the real-time ones).
 *
 * The program must not notice. sigaction, signal and their variants are
 * interposed: where our catcher stands in for SIG_DFL, a query answers
 * what the program (or its parent, or the default) set, as the kernel
 * held it; a handler or SIG_IGN of the program's own goes in for real
 * (and the catcher is gone); SIG_DFL set again brings it back. Whether
 * the catcher stands in is read from the kernel each time, so a
 * disposition changed past these functions (sigignore, a raw syscall) is
 * seen as it is. A SIG_IGN inherited (nohup, `trap '' TERM`) stays. A
 * fork child inherits the catcher with the memory; an exec resets it to
 * SIG_DFL, as the program expects.
 *
 * A signal that arrives inside one of our hooks must not have the
 * snapshot read tables the hook is half-way through changing: inside an
 * allocator hook (PS_GUARD_HOOK), it is put off until the hook's leave()
 * (a second one meanwhile ends the process at once, without the
 * snapshot, so a hook that never returned could not make the signal
 * ineffective). Anywhere else it is taken at once, with writer.c's rules
 * for a snapshot from a handler (writer_held, ps_locks_held, dirty_busy).
 * Multithreaded processes are caught too: the catcher runs on one of the
 * program's threads (the writer blocks every signal) and takes the
 * snapshot as a handler that calls exit() would.
 *
 * POOLSCOUT_CATCH_SIGNALS=0 leaves every disposition alone: the
 * interposed functions then only pass the calls on.
 *
 * Nothing here allocates; the catcher uses async-signal-safe calls only.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ps_internal.h"

/* exported by glibc, not declared by <signal.h> here */
int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);
sighandler_t bsd_signal(int sig, sighandler_t handler);

static const int caught_signals[] = { SIGHUP, SIGINT, SIGPIPE, SIGALRM,
				      SIGTERM, SIGUSR1, SIGUSR2 };

static int is_caught(int sig)
{
	for (size_t i = 0; i < sizeof caught_signals / sizeof *caught_signals; i++)
		if (caught_signals[i] == sig)
			return 1;
	return 0;
}

/* The next definitions (libc's, or a sanitizer's), found on first use:
 * by the constructor at the latest, never from a signal handler. */
static struct {
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
	sighandler_t (*signal)(int, sighandler_t);
	sighandler_t (*sysv_signal)(int, sighandler_t);
	sighandler_t (*sigset)(int, sighandler_t); /* only for the others */
} next_sig;

static int resolve_next(void)
{
	if (PS_LIKELY(__atomic_load_n(&next_sig.sigaction, __ATOMIC_ACQUIRE)))
		return 0;
	next_sig.signal = (sighandler_t (*)(int, sighandler_t))dlsym(
		RTLD_NEXT, "signal");
	next_sig.sysv_signal = (sighandler_t (*)(int, sighandler_t))dlsym(
		RTLD_NEXT, "sysv_signal");
	next_sig.sigset = (sighandler_t (*)(int, sighandler_t))dlsym(
		RTLD_NEXT, "sigset");
	void *f = dlsym(RTLD_NEXT, "sigaction");
	__atomic_store_n((void **)&next_sig.sigaction, f, __ATOMIC_RELEASE);
	return f ? 0 : -1;
}

/* Whether the catcher stands in: set by ps_signals_install, in a process
 * that records (and inherited by its fork children). */
static int catching;
/* For each caught signal whose disposition is our catcher: the one the
 * program would see, as the kernel held it before the catcher went in. */
static struct sigaction program_view[NSIG];
/* Serialises the changes of a caught signal's disposition with the view;
 * taken with every signal of the thread blocked. Not one a snapshot
 * waits for. */
static ps_lock_t view_lock = { 0, 1 };

static void catcher(int sig, siginfo_t *info, void *context);

static int is_catcher(const struct sigaction *a)
{
	return (a->sa_flags & SA_SIGINFO) && a->sa_sigaction == catcher;
}

static void lock_view(sigset_t *saved)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, saved);
	ps_lock_acquire(&view_lock);
}

static void unlock_view(const sigset_t *saved)
{
	ps_lock_release(&view_lock);
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

/* Puts the catcher on sig, whose disposition (SIG_DFL) becomes the
 * program's view. The caller holds the view lock. */
static void put_catcher(int sig)
{
	struct sigaction c, was;
	memset(&c, 0, sizeof c);
	c.sa_sigaction = catcher;
	/* every signal blocked: nothing interrupts the snapshot, and the
	 * process ends before the mask is given back */
	sigfillset(&c.sa_mask);
	c.sa_flags = SA_SIGINFO | SA_RESTART;
	if (next_sig.sigaction(sig, &c, &was) == 0)
		program_view[sig] = was;
}

void ps_signals_install(void)
{
	if (resolve_next())
		return;
	sigset_t saved;
	lock_view(&saved);
	catching = 1;
	for (size_t i = 0; i < sizeof caught_signals / sizeof *caught_signals; i++) {
		int sig = caught_signals[i];
		struct sigaction now;
		if (next_sig.sigaction(sig, NULL, &now) == 0 &&
		    now.sa_handler == SIG_DFL)
			put_catcher(sig);
	}
	unlock_view(&saved);
}

/* Ends the process by sig as SIG_DFL would have: the program's view goes
 * back in (if the catcher is still there), and sig, raised again on this
 * thread, is delivered as soon as it is unblocked. The caller has every
 * signal blocked. Returns only if sig did not end the process (a
 * disposition the program set meanwhile on another thread). */
static void end_by(int sig)
{
	ps_lock_acquire(&view_lock);
	struct sigaction now;
	if (next_sig.sigaction(sig, NULL, &now) == 0 && is_catcher(&now))
		next_sig.sigaction(sig, &program_view[sig], NULL);
	ps_lock_release(&view_lock);
	syscall(SYS_tgkill, (pid_t)syscall(SYS_getpid),
		(pid_t)syscall(SYS_gettid), sig);
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, sig);
	pthread_sigmask(SIG_UNBLOCK, &one, NULL);
}

/* The snapshot a process that sig ends leaves, with an END record that
 * names the signal: the profile is whole up to it. Every signal is
 * blocked. */
static void last_snapshot(int sig)
{
	int saved = ps_tls.guard;
	ps_tls.guard = 1;
	ps_writer_end_by_signal(sig);
	ps_tls.guard = saved;
}

/* Runs with every signal blocked (sa_mask). A process that no longer
 * records, or a vfork child (it shares our memory, not our file), only
 * dies. */
static void catcher(int sig, siginfo_t *info, void *context)
{
	(void)info;
	(void)context;
	int saved_errno = errno;
	if (ps_recording && (pid_t)syscall(SYS_getpid) == ps_pid) {
		if (ps_tls.guard & PS_GUARD_HOOK) {
			if (!ps_tls.signal_deferred) {
				ps_tls.signal_deferred = sig;
				errno = saved_errno;
				return;
			}
			/* a second one while the hook has not returned:
			 * the signal must not wait any longer */
		} else {
			last_snapshot(sig);
		}
	}
	end_by(sig);
	errno = saved_errno;
}

void ps_signals_deferred(void)
{
	int sig = ps_tls.signal_deferred;
	int saved_errno = errno;
	sigset_t all, saved;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	if (ps_recording && (pid_t)syscall(SYS_getpid) == ps_pid)
		last_snapshot(sig);
	end_by(sig);
	ps_tls.signal_deferred = 0;
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	errno = saved_errno;
}

/* ---- the interposed functions ---------------------------------------------- */

/* sigaction for a caught signal: the program's view where the catcher
 * stands in; act goes in for real, and SIG_DFL brings the catcher back
 * (the view then holds act as the kernel stored it). */
static int caught_sigaction(int sig, const struct sigaction *act,
			    struct sigaction *old)
{
	sigset_t saved;
	lock_view(&saved);
	struct sigaction now;
	int rc = next_sig.sigaction(sig, NULL, &now);
	int err = errno;
	if (rc == 0 && is_catcher(&now))
		now = program_view[sig];
	if (rc == 0 && act) {
		rc = next_sig.sigaction(sig, act, NULL);
		err = errno;
		if (rc == 0 && catching && act->sa_handler == SIG_DFL)
			put_catcher(sig);
	}
	unlock_view(&saved);
	if (rc == 0 && old)
		*old = now;
	errno = err;
	return rc;
}

PS_EXPORT int sigaction(int sig, const struct sigaction *act,
			struct sigaction *old)
{
	if (resolve_next()) {
		errno = ENOSYS;
		return -1;
	}
	if (!is_caught(sig))
		return next_sig.sigaction(sig, act, old);
	return caught_sigaction(sig, act, old);
}

PS_EXPORT int __sigaction(int sig, const struct sigaction *act,
			  struct sigaction *old)
{
	return sigaction(sig, act, old);
}

/* The functions that set a handler in one call (signal, sysv_signal) go
 * to libc's, which sets the flags and mask its own way (past
 * our sigaction); then the same as for sigaction. */
static sighandler_t set_handler(sighandler_t (*next)(int, sighandler_t),
				int sig, sighandler_t handler)
{
	if (resolve_next() || !next) {
		errno = ENOSYS;
		return SIG_ERR;
	}
	if (!is_caught(sig))
		return next(sig, handler);
	sigset_t saved;
	lock_view(&saved);
	sighandler_t was = next(sig, handler);
	int err = errno;
	if ((void *)was == (void *)catcher)
		was = program_view[sig].sa_handler;
	if (was != SIG_ERR && catching && handler == SIG_DFL)
		put_catcher(sig);
	unlock_view(&saved);
	errno = err;
	return was;
}

PS_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
	resolve_next();
	return set_handler(next_sig.signal, sig, handler);
}

PS_EXPORT sighandler_t bsd_signal(int sig, sighandler_t handler)
{
	return signal(sig, handler);
}

PS_EXPORT sighandler_t ssignal(int sig, sighandler_t handler)
{
	return signal(sig, handler);
}

PS_EXPORT sighandler_t sysv_signal(int sig, sighandler_t handler)
{
	resolve_next();
	return set_handler(next_sig.sysv_signal, sig, handler);
}

PS_EXPORT sighandler_t __sysv_signal(int sig, sighandler_t handler)
{
	return sysv_signal(sig, handler);
}

/* sigset changes the thread's mask too: as glibc's does, on top of the
 * view. */
PS_EXPORT sighandler_t sigset(int sig, sighandler_t disp)
{
	if (resolve_next() || !next_sig.sigset) {
		errno = ENOSYS;
		return SIG_ERR;
	}
	if (!is_caught(sig))
		return next_sig.sigset(sig, disp);
	sigset_t one, was_blocked;
	sigemptyset(&one);
	sigaddset(&one, sig);
	struct sigaction act, old;
	if (disp == SIG_HOLD) {
		if (pthread_sigmask(SIG_BLOCK, &one, &was_blocked))
			return SIG_ERR;
		if (sigismember(&was_blocked, sig))
			return SIG_HOLD;
		if (caught_sigaction(sig, NULL, &old))
			return SIG_ERR;
		return old.sa_handler;
	}
	memset(&act, 0, sizeof act);
	act.sa_handler = disp;
	sigemptyset(&act.sa_mask);
	if (caught_sigaction(sig, &act, &old) ||
	    pthread_sigmask(SIG_UNBLOCK, &one, &was_blocked))
		return SIG_ERR;
	return sigismember(&was_blocked, sig) ? SIG_HOLD : old.sa_handler;
}
