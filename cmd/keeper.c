/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/*
 * The keeper: a child of the wrapper that refreshes the lease of a lock
 * held by a name for as long as the command lives.  It does the refresh
 * I/O so that a call that hangs (a hard-mounted NFS server that stopped
 * answering) cannot hold up the wrapper, whose timer then acts on the
 * lease running out; it tells the wrapper of each refresh through a word
 * of shared memory, which, unlike a pipe, never fills up while the
 * wrapper is stopped.  And it
 * outlives a wrapper killed on its own: a command whose wrapper is gone
 * still holds the lock on this host, and without refreshes another host
 * would take the lock over while the command runs.  Left alone, the
 * keeper applies --on-lost and --max-time itself, and releases the lock
 * once the command has exited.  It is in a process group of its own, so
 * that a signal to the wrapper's group, a terminal's Ctrl-C among them,
 * does not end both; the wrapper ends it with SIGKILL when the command is
 * done.  It never outlives the command: it waits on a pidfd of it.
 */

/* Less than PIPE_BUF: written whole or not at all, and dropped when the
 * pipe is full (the wrapper stopped): the keeper must never block on it. */
static void
report(int to, const struct keeper_report *r)
{
	(void)!write(to, r, sizeof(*r));
}

static int64_t
ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static void
read_refreshed(const int64_t *refreshed, struct timespec *at)
{
	int64_t ns = __atomic_load_n(refreshed, __ATOMIC_ACQUIRE);

	at->tv_sec = (time_t)(ns / 1000000000);
	at->tv_nsec = (long)(ns % 1000000000);
}

/* When the last refresh that got through was asked for. */
void
keeper_refreshed(const struct keeper *k, struct timespec *at)
{
	read_refreshed(k->refreshed, at);
}

static void
describe_loss(const struct cli *cli, int by_clock, double silent,
    int last_err, char *text, size_t size)
{
	struct dlock_status st = { 0 };
	char when[16] = "?";
	struct tm tm;
	time_t t;

	if (by_clock) {
		describe_silence(text, size, silent, last_err);
		return;
	}
	if (dlock_status(cli->path, &cli->lock, &st) < 0 || !st.has_owner) {
		snprintf(text, size, "it was broken, and %s",
		    st.state == DLOCK_FREE ? "nobody holds it now" :
		    "its record cannot be read");
		return;
	}
	t = (time_t)st.owner.time;
	if (localtime_r(&t, &tm) != NULL)
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
	snprintf(text, size, "it was broken, and pid %d on host %s has held "
	    "it since %s", (int)st.owner.pid, st.owner.host, when);
}

/* Whether the wrapper is gone: its end of our pipe has closed. */
static int
wrapper_gone(int wrapper)
{
	struct pollfd pfd = { .fd = wrapper, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0;
}

__attribute__((noreturn)) static void
keep(const struct cli *cli, dlock_t *lk, double period, int pidfd,
    int wrapper, int to, pid_t target, int64_t *refreshed)
{
	struct timespec next, last_ok;
	struct policy policy;
	int alone = 0, last_err = 0, lost = 0;

	policy_start(&policy, cli, target);
	read_refreshed(refreshed, &last_ok);
	deadline_in(&next, period);
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = pidfd, .events = POLLIN },
			{ .fd = alone ? -1 : wrapper, .events = POLLIN },
		};
		int ms = alone ? policy_timeout_ms(&policy, NULL) : -1;
		double wait = lost ? -1 : -boottime_since(&next);

		if (!lost && (ms < 0 || wait * 1000 < ms))
			ms = wait > 0 ? (int)(wait * 1000) + 1 : 0;
		if (poll(pfd, 2, ms) < 0 && errno != EINTR)
			_exit(EXIT_OSERR);
		if (pfd[0].revents != 0)
			break;
		if (pfd[1].revents != 0)
			alone = 1;
		if (!lost && boottime_since(&next) >= 0) {
			struct keeper_report r = { 0 };
			int by_clock = dlock_lost(lk);
			struct timespec asked;

			clock_gettime(CLOCK_BOOTTIME, &asked);
			if (dlock_heartbeat(lk) == 0) {
				__atomic_store_n(refreshed, ns_of(&asked),
				    __ATOMIC_RELEASE);
				last_ok = asked;
				last_err = 0;
			} else if (errno == DLOCK_ELOST) {
				r.what = KEEPER_LOST;
				lost = 1;
				describe_loss(cli, by_clock,
				    boottime_since(&last_ok), last_err,
				    r.text, sizeof(r.text));
			} else {
				r.what = KEEPER_FAILED;
				r.err = last_err = errno;
			}
			if (r.what != 0 && !alone)
				report(to, &r);
			else if (lost)
				policy_lost(&policy, r.text);
			deadline_in(&next, period);
		}
		if (alone)
			policy_check_time(&policy);
	}
	/* The command has exited.  A wrapper still there releases the
	 * lock itself, once it has reaped the command and ended us. */
	if (!alone && !wrapper_gone(wrapper))
		_exit(0);
	/* A lock of dead processes may have been taken over already by a
	 * waiter on this host: that is no loss. */
	if (dlock_close(lk) < 0 && errno != DLOCK_ELOST) {
		warnx("releasing lock '%s': %s", lock_name(cli),
		    lock_error_text(errno));
		_exit(EXIT_OSERR);
	}
	_exit(0);
}

static int
fail_unmapping(struct keeper *k)
{
	int saved = errno;

	munmap(k->refreshed, sizeof(*k->refreshed));
	k->refreshed = NULL;
	errno = saved;
	return -1;
}

/*
 * Forks the keeper of the lock lk, which refreshes it every period
 * seconds, for the command (pidfd: a pidfd of it; target: where the
 * policy's signals go).  Returns 0, or -1 with errno.
 */
int
keeper_start(const struct cli *cli, dlock_t *lk, double period, int pidfd,
    pid_t target, struct keeper *k)
{
	/* SIGTERM is not among them: the keeper can be ended by hand. */
	static const int quiet[] = { SIGINT, SIGHUP, SIGQUIT, SIGPIPE,
	    SIGTSTP, SIGTTIN, SIGTTOU };
	int up[2], down[2], saved, null;
	sigset_t all, old;

	int prot = PROT_READ | PROT_WRITE, flags = MAP_SHARED | MAP_ANONYMOUS;
	struct timespec now;

	k->pid = -1;
	k->from = k->alive = -1;
	/* An anonymous mapping takes -1 for its descriptor. */
	// cppcheck-suppress invalidFunctionArg
	k->refreshed = mmap(NULL, sizeof(*k->refreshed), prot, flags, -1, 0);
	if (k->refreshed == MAP_FAILED) {
		k->refreshed = NULL;
		return -1;
	}
	/* Taking the lock counts as its first refresh. */
	clock_gettime(CLOCK_BOOTTIME, &now);
	*k->refreshed = ns_of(&now);
	if (pipe2(up, O_CLOEXEC) < 0)
		return fail_unmapping(k);
	if (pipe2(down, O_CLOEXEC) < 0) {
		close(up[0]);
		close(up[1]);
		return fail_unmapping(k);
	}
	(void)fcntl(up[1], F_SETFL, O_NONBLOCK);
	/* The keeper must not run the wrapper's handlers, which forward
	 * signals to the command: none is taken until they are replaced. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	k->pid = fork();
	if (k->pid == 0) {
		for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
			signal(quiet[i], SIG_IGN);
		signal(SIGTERM, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		setpgid(0, 0);
		prctl(PR_SET_NAME, "dlock-keeper");
		close(up[0]);
		close(down[1]);
		/* Its standard output is the command's and the wrapper's:
		 * a reader of it must see the end when they end. */
		null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			if (null > STDERR_FILENO)
				close(null);
		}
		keep(cli, lk, period, pidfd, down[0], up[1], target,
		    k->refreshed);
	}
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(up[1]);
	close(down[0]);
	if (k->pid < 0) {
		close(up[0]);
		close(down[1]);
		errno = saved;
		return fail_unmapping(k);
	}
	(void)fcntl(up[0], F_SETFL, O_NONBLOCK);
	k->from = up[0];
	/* Never written: its end tells the keeper that the wrapper is gone. */
	k->alive = down[1];
	return 0;
}

/* Ends the keeper; then the wrapper may release the lock. */
void
keeper_stop(struct keeper *k)
{
	int wstatus;

	if (k->pid <= 0)
		return;
	kill(k->pid, SIGKILL);
	while (waitpid(k->pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	if (k->from >= 0)
		close(k->from);
	close(k->alive);
	munmap(k->refreshed, sizeof(*k->refreshed));
	k->pid = -1;
	k->from = k->alive = -1;
	k->refreshed = NULL;
}
