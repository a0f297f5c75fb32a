/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "dlock_int.h"

#define NSEC 1000000000L

/*
 * Deadlines live on CLOCK_MONOTONIC so that a clock step (NTP, an admin
 * running date -s) neither cuts a wait short nor stretches it.
 */
void
deadline_set(struct timespec *deadline, double timeout)
{
	double whole;
	long frac;

	clock_gettime(CLOCK_MONOTONIC, deadline);
	/* Far beyond any uptime: callers treat it as "forever". */
	if (timeout > 1e12)
		timeout = 1e12;
	whole = (double)(int64_t)timeout;
	frac = (long)((timeout - whole) * NSEC);
	deadline->tv_sec += (time_t)whole;
	deadline->tv_nsec += frac;
	if (deadline->tv_nsec >= NSEC) {
		deadline->tv_sec++;
		deadline->tv_nsec -= NSEC;
	}
}

/* Returns 1 and the time left while the deadline is ahead, 0 once passed. */
int
deadline_left(const struct timespec *deadline, struct timespec *left)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	left->tv_sec = deadline->tv_sec - now.tv_sec;
	left->tv_nsec = deadline->tv_nsec - now.tv_nsec;
	if (left->tv_nsec < 0) {
		left->tv_sec--;
		left->tv_nsec += NSEC;
	}
	return left->tv_sec > 0 || (left->tv_sec == 0 && left->tv_nsec > 0);
}

/*
 * Sleeps for max_ns, or less if the deadline (NULL: none) comes first.
 * Returns 0, or -1 with EINTR when a signal arrived and the caller asked to
 * be interruptible; otherwise the sleep resumes on the same absolute time.
 */
int
sleep_until(const struct timespec *deadline, long max_ns, int interruptible)
{
	struct timespec wake, left;

	clock_gettime(CLOCK_MONOTONIC, &wake);
	wake.tv_nsec += max_ns % NSEC;
	wake.tv_sec += max_ns / NSEC;
	if (wake.tv_nsec >= NSEC) {
		wake.tv_sec++;
		wake.tv_nsec -= NSEC;
	}
	if (deadline != NULL && deadline_left(deadline, &left) &&
	    (deadline->tv_sec < wake.tv_sec ||
	    (deadline->tv_sec == wake.tv_sec && deadline->tv_nsec < wake.tv_nsec)))
		wake = *deadline;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake,
	    NULL) == EINTR) {
		if (interruptible) {
			errno = EINTR;
			return -1;
		}
	}
	return 0;
}

/*
 * The delay before poll attempt n (from 1): n squared milliseconds, times a
 * random factor in [0.75, 1.25) so that waiters released together do not
 * retry in lockstep, and never more than cap_ns.
 */
long
backoff_ns(unsigned int attempt, long cap_ns)
{
	static _Thread_local unsigned int seed;
	long base, delay;

	if (seed == 0)
		seed = (unsigned int)getpid() * 2654435761u ^ (unsigned int)time(NULL);
	seed = seed * 1103515245u + 12345u;
	if (attempt > 1000)
		attempt = 1000;
	/* Capped before the jitter, so that capped polls stay spread out. */
	base = (long)attempt * (long)attempt;
	base = base < cap_ns / 1000000L ? base * 1000000L : cap_ns;
	delay = base / 4 * 3 +
	    (long)((double)(seed >> 8) / (1u << 24) * ((double)base / 2));
	return delay;
}

/* The wait of methods that cannot sleep in the kernel: try, back off, retry. */
int
wait_poll(struct dlock *lk, int shared, const struct timespec *deadline,
    long cap_ns)
{
	struct timespec left;
	unsigned int attempt = 0;

	for (;;) {
		if (lk->ops->try_lock(lk, shared) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -1;
		if (deadline != NULL && !deadline_left(deadline, &left)) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (sleep_until(deadline, backoff_ns(++attempt, cap_ns),
		    lk->flags & DLOCK_INTERRUPTIBLE) < 0)
			return -1;
	}
}
