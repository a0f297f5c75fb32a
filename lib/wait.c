/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

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
 * Sleeps for max_ns, or less if the deadline (NULL: none) comes first, or
 * until fd (-1: none) is readable.  The caller keeps signals blocked while
 * it works, and mask (its own mask, or NULL for "not interruptible") lets
 * them in during the sleep alone: a signal that came while it was busy
 * ends the sleep at once instead of being missed.  Returns 0, or -1 with
 * EINTR when a signal ended an interruptible sleep.
 */
int
sleep_up_to(int fd, const struct timespec *deadline, long max_ns,
    const sigset_t *mask)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct timespec rel = { max_ns / NSEC, max_ns % NSEC }, left;

	if (deadline != NULL && deadline_left(deadline, &left) &&
	    (left.tv_sec < rel.tv_sec ||
	    (left.tv_sec == rel.tv_sec && left.tv_nsec < rel.tv_nsec)))
		rel = left;
	if (ppoll(&pfd, fd >= 0 ? 1 : 0, &rel, mask) < 0 && errno == EINTR &&
	    mask != NULL)
		return -1;
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
	long base;

	if (attempt > 1000)
		attempt = 1000;
	/* Capped before the jitter, so that capped polls stay spread out. */
	base = (long)attempt * (long)attempt;
	base = base < cap_ns / 1000000L ? base * 1000000L : cap_ns;
	return jittered(base);
}

long
jittered(long base_ns)
{
	static _Thread_local unsigned int seed;

	if (seed == 0)
		seed = (unsigned int)getpid() * 2654435761u ^ (unsigned int)time(NULL);
	seed = seed * 1103515245u + 12345u;
	return base_ns / 4 * 3 +
	    (long)((double)(seed >> 8) / (1u << 24) * ((double)base_ns / 2));
}

/*
 * The wait of methods that cannot sleep in the kernel: try, back off,
 * retry.  A caller that has already blocked signals passes its own mask in
 * blocked; otherwise an interruptible wait blocks them here (see
 * sleep_up_to()).
 */
int
wait_polling(struct dlock *lk, int shared, const struct timespec *deadline,
    long cap_ns, const sigset_t *blocked, const struct poll_steps *steps)
{
	struct timespec left;
	unsigned int attempt = 0;
	sigset_t all, caller;
	const sigset_t *mask = blocked;
	int rc, saved, woken = 0;

	if (mask == NULL && (lk->flags & DLOCK_INTERRUPTIBLE)) {
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &caller);
		mask = &caller;
	}
	for (;;) {
		rc = steps->try_lock(lk, shared, woken);
		if (rc == 0 || errno != EWOULDBLOCK)
			break;
		if (deadline != NULL && !deadline_left(deadline, &left)) {
			errno = ETIMEDOUT;
			rc = -1;
			break;
		}
		++attempt;
		rc = steps->pause(lk, steps->delay != NULL ?
		    steps->delay(lk, attempt, cap_ns) :
		    backoff_ns(attempt, cap_ns), deadline,
		    (lk->flags & DLOCK_INTERRUPTIBLE) ? mask : NULL);
		if (rc < 0)
			break;
		woken = rc == 1;
	}
	if (mask == &caller) {
		saved = errno;
		pthread_sigmask(SIG_SETMASK, &caller, NULL);
		errno = saved;
	}
	return rc;
}

static int
try_again(struct dlock *lk, int shared, int woken)
{
	(void)woken;
	return lk->ops->try_lock(lk, shared);
}

static int
sleep_between_tries(struct dlock *lk, long delay_ns,
    const struct timespec *deadline, const sigset_t *mask)
{
	(void)lk;
	return sleep_up_to(-1, deadline, delay_ns, mask);
}

static const struct poll_steps plain_steps = {
	.try_lock = try_again,
	.pause = sleep_between_tries,
};

int
wait_poll(struct dlock *lk, int shared, const struct timespec *deadline,
    long cap_ns, const sigset_t *blocked)
{
	return wait_polling(lk, shared, deadline, cap_ns, blocked,
	    &plain_steps);
}
