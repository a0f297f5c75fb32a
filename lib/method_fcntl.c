/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "internal.h"

/*
 * Kernel record locks.  Open file description (OFD) locks are preferred:
 * classic POSIX locks belong to the process, so two handles in one process
 * would not exclude each other, and closing any descriptor of the file
 * (a library reading it, say) would silently drop the lock.  Kernels
 * without OFD locks answer EINVAL; the handle then falls back to classic
 * locks for good.
 */

static int
set_lock(struct dlock *lk, short type, int wait)
{
	struct flock fl = {
		.l_type = type,
		.l_whence = SEEK_SET,
		.l_start = lk->start,
		.l_len = lk->length,
	};

#ifdef F_OFD_SETLK
	if (!lk->classic) {
		if (lk->kernel->setlk(lk->fd, wait ? F_OFD_SETLKW : F_OFD_SETLK,
		    &fl) == 0)
			return 0;
		if (errno != EINVAL)
			goto busy;
		lk->classic = 1;
		fl.l_pid = 0;
	}
#endif
	if (lk->kernel->setlk(lk->fd, wait ? F_SETLKW : F_SETLK, &fl) == 0)
		return 0;
busy:
	/* POSIX lets a busy F_SETLK fail with either EAGAIN or EACCES. */
	if (errno == EAGAIN || errno == EACCES)
		errno = EWOULDBLOCK;
	return -1;
}

static int
fcntl_prepare(struct dlock *lk)
{
	return lk->fd >= 0 ? 0 : open_lock_file(lk, 1);
}

static int
fcntl_try(struct dlock *lk, int shared)
{
	return set_lock(lk, shared ? F_RDLCK : F_WRLCK, 0);
}

static int
fcntl_block(struct dlock *lk, int shared)
{
	return set_lock(lk, shared ? F_RDLCK : F_WRLCK, 1);
}

static int
fcntl_wait(struct dlock *lk, int shared, const struct timespec *deadline)
{
	/* A classic lock taken by a child would be the child's. */
	return wait_kernel(lk, shared, deadline, fcntl_block, !lk->classic);
}

static int
fcntl_unlock(struct dlock *lk)
{
	return set_lock(lk, F_UNLCK, 0);
}

const struct dlock_ops fcntl_ops = {
	.prepare = fcntl_prepare,
	.try_lock = fcntl_try,
	.wait_lock = fcntl_wait,
	.unlock = fcntl_unlock,
	.release = close_lock_file,
};
