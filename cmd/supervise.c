/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

/*
 * Waiting for the command under its lock: the keeper's reports, the timer
 * of the lease and of --max-time, and then the command's exit status.
 */

static int
status_of(int wstatus)
{
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return WEXITSTATUS(wstatus);
}

static int
pidfd_of(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* Takes the keeper's reports; 0 once it is gone. */
static int
read_reports(struct cli *cli, struct keeper *k, struct policy *p,
    int *last_err)
{
	struct keeper_report r;
	ssize_t n;

	while ((n = read(k->from, &r, sizeof(r))) == (ssize_t)sizeof(r)) {
		if (r.what == KEEPER_FAILED) {
			*last_err = r.err;
			warnx("refreshing lock '%s': %s", lock_name(cli),
			    lock_error_text(r.err));
		} else if (r.what == KEEPER_LOST) {
			policy_lost(p, r.text);
		}
	}
	return n != 0;
}

/*
 * Waits for the command pid, while its keeper refreshes the lease of a
 * lock held by a name every period seconds (0: none to refresh); target
 * is where the policy's signals go.  The timer is
 * here, away from the refresh I/O: a lease that no refresh renewed in
 * time is lost, however long a refresh has been stuck.  *outcome is the
 * policy's (0, or the status a lost lock or --max-time gives).
 */
int
supervise(struct cli *cli, dlock_t *lk, pid_t pid, pid_t target,
    double period, int *outcome)
{
	struct keeper keeper = { .pid = -1, .from = -1, .alive = -1 };
	int pidfd = pidfd_of(pid), wstatus, last_err = 0, watching = 0;
	struct timespec last_ok, lease_end;
	struct policy policy;

	policy_start(&policy, cli, target);
	clock_gettime(CLOCK_BOOTTIME, &last_ok);
	/* Without a keeper nothing refreshes the lease, and it is lost
	 * once it runs out. */
	if (pidfd >= 0 && period > 0) {
		if (keeper_start(cli, lk, period, pidfd, target, &keeper) < 0)
			warn("starting the keeper of lock '%s'",
			    lock_name(cli));
		watching = 1;
	}
	while (pidfd >= 0) {
		struct pollfd pfd[2] = {
			{ .fd = pidfd, .events = POLLIN },
			{ .fd = keeper.from, .events = POLLIN },
		};
		int n;

		if (keeper.refreshed != NULL)
			keeper_refreshed(&keeper, &last_ok);
		deadline_after(&lease_end, &last_ok, lease_safe_for(cli));
		n = poll(pfd, 2, policy_timeout_ms(&policy,
		    watching ? &lease_end : NULL));
		if (n < 0 && errno != EINTR) {
			warn("waiting for the command (pid %d)", (int)pid);
			break;
		}
		if (n > 0 && pfd[0].revents != 0)
			break;
		if (n > 0 && pfd[1].revents != 0 &&
		    !read_reports(cli, &keeper, &policy, &last_err)) {
			/* Gone: its lease is lost once it runs out. */
			close(keeper.from);
			keeper.from = -1;
		}
		if (keeper.refreshed != NULL)
			keeper_refreshed(&keeper, &last_ok);
		deadline_after(&lease_end, &last_ok, lease_safe_for(cli));
		if (watching && !policy.lost && boottime_since(&lease_end) >= 0) {
			char what[240];

			describe_silence(what, sizeof(what),
			    boottime_since(&last_ok), last_err);
			policy_lost(&policy, what);
		}
		policy_check_time(&policy);
	}
	if (pidfd >= 0)
		close(pidfd);
	while (waitpid(pid, &wstatus, 0) < 0) {
		if (errno != EINTR) {
			warn("waiting for the command (pid %d)", (int)pid);
			keeper_stop(&keeper);
			return EXIT_OSERR;
		}
	}
	keeper_stop(&keeper);
	*outcome = policy.outcome;
	return status_of(wstatus);
}
