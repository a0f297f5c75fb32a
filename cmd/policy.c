/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "cli.h"

/*
 * What happens to a command that may no longer hold its lock: its lock
 * was lost (--on-lost), or its time is up (--max-time).  Both end it the
 * same way, SIGTERM to its process group and SIGKILL --kill-after seconds
 * later, so that a shell's children go with it.  The clock is
 * CLOCK_BOOTTIME, on which a suspended machine's sleep counts: a lease
 * runs out on the file server while this host sleeps.
 */

double
boottime_since(const struct timespec *t0)
{
	return seconds_on(CLOCK_BOOTTIME, t0);
}

/* Sets t to secs seconds after from (CLOCK_BOOTTIME). */
void
deadline_after(struct timespec *t, const struct timespec *from, double secs)
{
	*t = *from;
	t->tv_sec += (time_t)secs;
	t->tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/* Sets t to secs seconds from now. */
void
deadline_in(struct timespec *t, double secs)
{
	struct timespec now;

	clock_gettime(CLOCK_BOOTTIME, &now);
	deadline_after(t, &now, secs);
}

/* What a lease that ran out by our clock is reported as. */
void
describe_silence(char *text, size_t size, double silent, int last_err)
{
	snprintf(text, size, "no refresh of its lease got through for %.1f s "
	    "(%s)", silent, last_err != 0 ? lock_error_text(last_err) :
	    "a refresh has not returned");
}

/*
 * How long after a refresh that got through the lock is surely still
 * ours: the lease less the margin dlock_lost(3) allows for the clocks of
 * this host and the file server.
 */
double
lease_safe_for(const struct cli *cli)
{
	double stale = cli->lock.stale > 0 ? cli->lock.stale :
	    DLOCK_STALE_DEFAULT;

	return stale - (1 + stale / 10);
}

void
policy_start(struct policy *p, const struct cli *cli, pid_t target)
{
	p->cli = cli;
	p->target = target;
	p->signalled = 0;
	p->outcome = 0;
	p->lost = 0;
	p->timed_out = 0;
	if (cli->max_time > 0)
		deadline_in(&p->end_at, cli->max_time);
}

static int
ms_until(const struct timespec *t)
{
	double left = -boottime_since(t);

	if (left <= 0)
		return 0;
	/* One millisecond late rather than early: poll rounds down. */
	return left * 1000 + 1 > INT_MAX ? INT_MAX : (int)(left * 1000) + 1;
}

static void
earliest(int *ms, const struct timespec *t)
{
	int m = ms_until(t);

	if (*ms < 0 || m < *ms)
		*ms = m;
}

/* Milliseconds until the next thing to do, for poll(2); -1: none. */
int
policy_timeout_ms(const struct policy *p, const struct timespec *lease_end)
{
	int ms = -1;

	if (p->cli->max_time > 0 && !p->timed_out)
		earliest(&ms, &p->end_at);
	if (p->signalled == SIGTERM)
		earliest(&ms, &p->kill_at);
	if (lease_end != NULL && !p->lost)
		earliest(&ms, lease_end);
	return ms;
}

static void
send(struct policy *p, int sig)
{
	kill(p->target, sig);
	p->signalled = sig;
	if (sig == SIGTERM)
		deadline_in(&p->kill_at, p->cli->kill_after);
}

static const char *
signal_words(int sig)
{
	return sig == SIGKILL ? "sending SIGKILL to the command" :
	    "sending SIGTERM to the command";
}

/* Sends SIGKILL when the grace after SIGTERM is over, and ends the
 * command when --max-time is.  The first of a lost lock and the time
 * limit makes the exit status. */
void
policy_check_time(struct policy *p)
{
	if (p->signalled == SIGTERM && ms_until(&p->kill_at) == 0) {
		say_timed("%s still runs %g s after SIGTERM: sending SIGKILL",
		    p->cli->argv[0], p->cli->kill_after);
		send(p, SIGKILL);
	}
	if (p->cli->max_time > 0 && !p->timed_out &&
	    ms_until(&p->end_at) == 0) {
		p->timed_out = 1;
		if (p->outcome == 0)
			p->outcome = EXIT_TIMED_OUT;
		say_timed("%s has held lock '%s' for its --max-time of %g s: "
		    "%s", p->cli->argv[0], lock_name(p->cli),
		    p->cli->max_time, signal_words(SIGTERM));
		if (p->signalled == 0)
			send(p, SIGTERM);
	}
}

/* The lock is lost; what says so what was seen. */
void
policy_lost(struct policy *p, const char *what)
{
	int action = p->cli->on_lost;

	if (p->lost)
		return;
	p->lost = 1;
	if (p->outcome == 0)
		p->outcome = EXIT_OSERR;
	say_timed("lost lock '%s': %s; %s", lock_name(p->cli), what,
	    action == ON_LOST_IGNORE ? "--on-lost=ignore: the command "
	    "runs on" : signal_words(action == ON_LOST_KILL ? SIGKILL :
	    SIGTERM));
	if (action == ON_LOST_KILL)
		send(p, SIGKILL);
	else if (action == ON_LOST_TERM && p->signalled == 0)
		send(p, SIGTERM);
}
