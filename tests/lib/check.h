/* SPDX-License-Identifier: ISC */
#ifndef DLOCK_TEST_CHECK_H
#define DLOCK_TEST_CHECK_H

/*
 * A minimal harness: each CHECK counts; the exit status is the failures.
 * The counts live in check.c, so that a suite spread over several files
 * adds up to one summary.
 */

#include <stdio.h>

extern int check_passed, check_failed;

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

int check_summary(const char *suite);

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

/*
 * Child processes of a test: each is killed by SIGALRM if it is still
 * there after the given seconds, so that a child stuck in a wait ends
 * the test as a failure instead of hanging it.
 */
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static inline void
bound_this_child(unsigned secs)
{
	signal(SIGALRM, SIG_DFL);
	alarm(secs);
}

/* The exit status of the child pid, or -1 if it did not exit. */
static inline int
child_status(pid_t pid)
{
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

#endif /* DLOCK_TEST_CHECK_H */
