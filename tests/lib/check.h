/* SPDX-License-Identifier: ISC */
#ifndef DLOCK_TEST_CHECK_H
#define DLOCK_TEST_CHECK_H

/* A minimal harness: each CHECK counts; the exit status is the failures. */

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond, ...) do {						\
	if (cond) {							\
		check_passed++;						\
	} else {							\
		check_failed++;						\
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);	\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
	}								\
} while (0)

static inline int
check_summary(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, check_passed,
	    check_failed);
	return check_failed > 255 ? 255 : check_failed;
}

/* Shared helpers of the library tests: time, a delayed release, alarms. */

#include <signal.h>
#include <sys/time.h>
#include <time.h>

#include "dlock.h"

static inline double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A thread that releases lk after the given seconds. */
struct release_later {
	dlock_t *lk;
	double after;
};

static inline void *
release_after(void *arg)
{
	struct release_later *r = arg;
	struct timespec nap = { (time_t)r->after,
	    (long)((r->after - (double)(time_t)r->after) * 1e9) };

	nanosleep(&nap, NULL);
	dlock_unlock(r->lk);
	return NULL;
}

/* A SIGALRM that does nothing but interrupt, secs from now. */
static inline void
on_alarm(int sig)
{
	(void)sig;
}

static inline void
arm_alarm(double secs)
{
	struct itimerval it = { { 0, 0 }, { (time_t)secs,
	    (suseconds_t)((secs - (double)(time_t)secs) * 1e6) } };

	setitimer(ITIMER_REAL, &it, NULL);
}

#endif /* DLOCK_TEST_CHECK_H */
