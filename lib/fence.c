/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/*
 * The resource's side of fencing: a state file holding the highest token
 * a resource has accepted, one line of decimal digits as in a token file.
 * Checks and updates of one state file exclude each other through a lock
 * of their own, STATEFILE.lock, taken with the method auto chooses there,
 * so that they exclude each other across hosts wherever dlock's locks do.
 * The state file is replaced whole, as a token file is (token.c): a
 * process killed at any moment leaves the old value or the new one.
 */

#define FENCE_LOCK_SUFFIX ".lock"

static int
check_and_record(const char *statefile, uint64_t token, uint64_t *highest)
{
	uint64_t seen;

	if (counter_read(statefile, &seen) < 0)
		return -1;
	*highest = seen;
	if (token < seen)
		return 1;
	if (token == seen)
		return 0;
	*highest = token;
	return counter_replace(statefile, &seen, token, 0666);
}

int
dlock_fence(const char *statefile, uint64_t token, uint64_t *highest)
{
	char lockpath[PATH_MAX];
	uint64_t ignored;
	dlock_t *lk;
	int n, rc, saved;

	if (highest == NULL)
		highest = &ignored;
	*highest = 0;
	if (statefile == NULL || *statefile == '\0' || token == 0) {
		errno = statefile == NULL || *statefile == '\0' ? ENOENT :
		    EINVAL;
		return -1;
	}
	n = snprintf(lockpath, sizeof(lockpath), "%s" FENCE_LOCK_SUFFIX,
	    statefile);
	if (n < 0 || (size_t)n >= sizeof(lockpath)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	lk = dlock_open(lockpath, NULL);
	if (lk == NULL)
		return -1;
	if (dlock_lock(lk, LOCK_EX, -1) < 0) {
		saved = errno;
		dlock_close(lk);
		errno = saved;
		return -1;
	}
	rc = check_and_record(statefile, token, highest);
	saved = errno;
	/* A state file updated under a lock that was lost meanwhile was
	 * still updated only from the value it held (counter_replace()). */
	if (dlock_close(lk) < 0 && rc >= 0 && errno != DLOCK_ELOST) {
		rc = -1;
		saved = errno;
	}
	errno = saved;
	return rc;
}
