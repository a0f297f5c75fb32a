/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/*
 * The guard on taking a lock with a deadline (-w, -n).  The library keeps
 * its deadlines, but a call on a network filesystem whose server has
 * stopped answering does not return: on a hard NFS mount the kernel
 * retries for ever, in a sleep that only a fatal signal ends, and dlock's
 * own signal handlers make SIGTERM and SIGINT not fatal.  So a thread that
 * makes no call on the filesystem watches the clock: GUARD_GRACE seconds
 * past the deadline it says why dlock gives up and ends the process, which
 * the kernel does by killing every thread, the stuck call included.
 *
 * Before the lock is taken nothing needs undoing: a kernel lock goes with
 * the process, the gated child ends when the gate closes, and a lockfile
 * or mkdir lock made by a call that the server performs later names a
 * process that is gone, stale by the usual rules.
 */

/* Seconds past the deadline before the guard gives up: more than a slow
 * but live server needs to answer the last call of a wait. */
#define GUARD_GRACE 4.0

static struct {
	pthread_t thread;
	int stop[2];		/* a byte on it: stand down */
	int running;
	const struct cli *cli;
	struct timespec began;	/* CLOCK_MONOTONIC */
	struct timespec fire_at;
} guard = { .stop = { -1, -1 } };

static int
ms_until(const struct timespec *t)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(t->tv_sec - now.tv_sec) * 1000 +
	    (t->tv_nsec - now.tv_nsec) / 1000000;
	if (ms < 0)
		return 0;
	return ms > 60000 ? 60000 : (int)ms + 1;
}

static void *
watch(void *unused)
{
	struct pollfd pfd = { .fd = guard.stop[0], .events = POLLIN };
	char line[PATH_MAX + 256];
	int n, len;

	(void)unused;
	for (;;) {
		n = poll(&pfd, 1, ms_until(&guard.fire_at));
		if (n > 0)
			return NULL;
		if (n == 0 && ms_until(&guard.fire_at) == 0)
			break;
	}
	/* One write(2): stdio's lock may be held by the stuck thread. */
	len = snprintf(line, sizeof(line), "dlock: %s: no answer from its "
	    "filesystem %.0f seconds after %s: a call on it is still blocked "
	    "(a file server that has stopped answering?); giving up\n",
	    lock_name(guard.cli), GUARD_GRACE, guard.cli->timeout > 0 ?
	    "the deadline of -w" : "the single try of -n");
	if (len > 0)
		(void)!write(STDERR_FILENO, line,
		    (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1);
	_exit(guard.cli->conflict_status);
}

void
guard_start(const struct cli *cli)
{
	sigset_t all, saved;
	double secs;

	if (cli->timeout < 0 || guard.running)
		return;
	if (pipe2(guard.stop, O_CLOEXEC) < 0)
		return;
	guard.cli = cli;
	clock_gettime(CLOCK_MONOTONIC, &guard.began);
	secs = cli->timeout + GUARD_GRACE;
	guard.fire_at = guard.began;
	guard.fire_at.tv_sec += (time_t)secs;
	guard.fire_at.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
	if (guard.fire_at.tv_nsec >= 1000000000L) {
		guard.fire_at.tv_sec++;
		guard.fire_at.tv_nsec -= 1000000000L;
	}
	/* Signals stay with the main thread, whose waits they end. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	guard.running = pthread_create(&guard.thread, NULL, watch, NULL) == 0;
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (!guard.running) {
		close(guard.stop[0]);
		close(guard.stop[1]);
		guard.stop[0] = guard.stop[1] = -1;
	}
}

/* The lock is taken, or the wait is over: the process is single-threaded
 * again when this returns, as the forks that follow want it. */
void
guard_stop(void)
{
	int saved = errno;

	if (!guard.running) {
		errno = saved;
		return;
	}
	/* A byte, not the end of the pipe: a child forked meanwhile holds
	 * the write end too, until it runs its command. */
	while (write(guard.stop[1], "", 1) < 0 && errno == EINTR)
		;
	pthread_join(guard.thread, NULL);
	close(guard.stop[1]);
	close(guard.stop[0]);
	guard.stop[0] = guard.stop[1] = -1;
	guard.running = 0;
	errno = saved;
}
