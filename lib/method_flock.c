/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/file.h>

#include "internal.h"

/*
 * flock(2) locks: whole-file, owned by the open file description, and the
 * same locks util-linux flock(1) takes, so both tools exclude each other.
 */

static int
flock_prepare(struct dlock *lk)
{
	if (lk->start != 0 || lk->length != 0) {
		errno = EINVAL;
		return -1;
	}
	/* For writing where allowed: on NFS the kernel sends flock(2) as a
	 * whole-file fcntl lock, which is exclusive only on a descriptor
	 * open for writing (flock(1) reopens the file for it). */
	return lk->fd >= 0 ? 0 : open_lock_file(lk, 1);
}

static int
flock_try(struct dlock *lk, int shared)
{
	return lk->kernel->flock(lk->fd,
	    (shared ? LOCK_SH : LOCK_EX) | LOCK_NB);
}

static int
flock_block(struct dlock *lk, int shared)
{
	return lk->kernel->flock(lk->fd, shared ? LOCK_SH : LOCK_EX);
}

static int
flock_wait(struct dlock *lk, int shared, const struct timespec *deadline)
{
	return wait_kernel(lk, shared, deadline, flock_block, 1);
}

static int
flock_unlock(struct dlock *lk)
{
	return lk->kernel->flock(lk->fd, LOCK_UN);
}

const struct dlock_ops flock_ops = {
	.prepare = flock_prepare,
	.try_lock = flock_try,
	.wait_lock = flock_wait,
	.unlock = flock_unlock,
	.release = close_lock_file,
};
