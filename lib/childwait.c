/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

/*
 * A timed wait for a kernel lock that belongs to an open file description
 * (OFD fcntl locks and flock(2) locks).  flock(2) has no timed form, and
 * neither call can be cut short without a signal handler, which a library
 * must not install.  So the blocking call runs in a child process that
 * shares our open file description: a lock the child obtains is ours, and
 * at the deadline SIGKILL ends the child, no handler needed.  The child's
 * end is watched through a pidfd, whose poll timeout runs on the monotonic
 * clock; there is no window in which a wake-up can be lost.
 */

/* Where no child can wait, kernel locks are polled this often at most. */
#define KERNEL_POLL_CAP_NS (10 * 1000000L)

int
pidfd_for(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

static void
reap(pid_t pid, int *status)
{
	/* ECHILD means the caller reaps its children itself; the final
	 * try_lock below then tells whether the child got the lock. */
	*status = -1;
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

/*
 * Waits for the child until the deadline (NULL: none).  Signals are
 * blocked around it; *mask, the caller's own, lets them in during the
 * poll alone, so one that came earlier is not lost.  A signal ends the
 * wait only when the caller asked to be interruptible.
 */
static int
watch_child(int pidfd, const struct timespec *deadline, const sigset_t *mask,
    int interruptible)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
	struct timespec left;
	int n;

	for (;;) {
		if (deadline != NULL && !deadline_left(deadline, &left)) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = ppoll(&pfd, 1, deadline != NULL ? &left : NULL, mask);
		if (n > 0)
			return 0;
		if (n < 0 && (errno != EINTR || interruptible))
			return -1;
	}
}

static int
wait_in_child(struct dlock *lk, int shared, const struct timespec *deadline,
    int (*blocking_lock)(struct dlock *, int))
{
	sigset_t all, saved;
	pid_t pid;
	int pidfd, status, rc, why;

	/* The child must not run the caller's signal handlers. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	pid = fork();
	if (pid == 0) {
		while ((rc = blocking_lock(lk, shared)) < 0 && errno == EINTR)
			;
		_exit(rc == 0 ? 0 : (errno > 0 && errno < 256 ? errno : EIO));
	}
	why = errno;
	if (pid < 0) {
		pthread_sigmask(SIG_SETMASK, &saved, NULL);
		errno = why;
		return -1;
	}

	pidfd = pidfd_for(pid);
	if (pidfd < 0) {
		/* No pidfd (an old kernel): give up the child and poll, with
		 * signals still held back so that none is missed. */
		kill(pid, SIGKILL);
		reap(pid, &status);
		rc = wait_poll(lk, shared, deadline, KERNEL_POLL_CAP_NS, &saved);
		why = errno;
		pthread_sigmask(SIG_SETMASK, &saved, NULL);
		errno = why;
		return rc;
	}
	rc = watch_child(pidfd, deadline, &saved,
	    lk->flags & DLOCK_INTERRUPTIBLE);
	why = errno;
	if (rc < 0)
		kill(pid, SIGKILL);
	reap(pid, &status);
	close(pidfd);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);

	if (rc == 0 && status != -1 && WIFEXITED(status)) {
		if (WEXITSTATUS(status) == 0)
			return 0;
		errno = WEXITSTATUS(status);
		return -1;
	}
	/* The child may have taken the lock just before it was killed. */
	if (lk->ops->try_lock(lk, shared) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		errno = rc < 0 ? why : ETIMEDOUT;
	return -1;
}

int
wait_kernel(struct dlock *lk, int shared, const struct timespec *deadline,
    int (*blocking_lock)(struct dlock *, int), int child_can_lock)
{
	int rc;

	/* An interruptible wait runs in a child too, so that a signal
	 * arriving just before the blocking call cannot be missed. */
	if (deadline == NULL && !(lk->flags & DLOCK_INTERRUPTIBLE)) {
		while ((rc = blocking_lock(lk, shared)) < 0 && errno == EINTR)
			;
		return rc;
	}
	if (!child_can_lock)
		return wait_poll(lk, shared, deadline, KERNEL_POLL_CAP_NS, NULL);
	return wait_in_child(lk, shared, deadline, blocking_lock);
}
