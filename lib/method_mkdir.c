/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * The lock is the directory LOCKPATH; its owner record is the file
 * MKDIR_RECORD_NAME inside.  mkdir(2) is atomic even where exclusive
 * creation of a file is not trusted.  Between the mkdir and the record's
 * appearance, readers see a lock with no record, which they judge by its
 * age alone.
 */

static int
mkdir_publish(struct dlock *lk, const char *record, size_t len)
{
	int err;

	/* A directory gets search permission wherever it gets read. */
	if (mkdir(lk->path, (lk->mode | (lk->mode & 0444) >> 2) & 0777) < 0)
		return -1;
	/* The record appears whole in it: readers find none yet, or all. */
	if (publish_file(lk->path, lk->record_path, record, len, lk->mode,
	    &lk->publish_how, NULL) == 0)
		return 0;
	err = errno;
	unlink(lk->record_path);
	rmdir(lk->path);
	/* Never EEXIST here: that would read as "someone holds it". */
	errno = err == EEXIST ? EIO : err;
	return -1;
}

/*
 * Our record is gone, but the directory is not empty: over NFS a file
 * removed while another process on this client has it open stays as a
 * silly-renamed .nfs* file until that process closes it.  The lock must
 * be free now, so the directory is renamed aside under a name of its own,
 * to be removed once it is empty.
 */
static int
move_aside(struct dlock *lk)
{
	char aside[PATH_MAX];
	int n;

	n = snprintf(aside, sizeof(aside), "%s.%s.released", lk->path,
	    lk->self.nonce);
	if (n < 0 || (size_t)n >= sizeof(aside)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (rename(lk->path, aside) < 0)
		return -1;
	/* A reader of the record closes it in a moment: give the client
	 * up to a second to remove the .nfs file, and the directory with
	 * it.  A file held open longer leaves the directory behind. */
	for (int i = 0; i < 50 && rmdir(aside) < 0 &&
	    (errno == ENOTEMPTY || errno == EEXIST); i++)
		nanosleep(&(struct timespec){ 0, 20 * 1000000L }, NULL);
	return 0;
}

/*
 * A directory with no record may be no lock of ours at all: flock(1) and
 * the flock method lock directories too.  Removing one while such a lock
 * is held would let two holders in, each by its own method.
 */
static int
mkdir_unpublish(struct dlock *lk)
{
	if (unlink(lk->record_path) < 0) {
		if (errno != ENOENT)
			return -1;
		if (kernel_lock_present(lk->path)) {
			errno = EPROTO;
			return -1;
		}
	}
	if (rmdir(lk->path) == 0)
		return 0;
	if (errno != ENOTEMPTY && errno != EEXIST)
		return -1;
	return move_aside(lk);
}

const struct name_ops mkdir_name_ops = {
	.kind = NAME_HOLDS_RECORD,
	.publish = mkdir_publish,
	.unpublish = mkdir_unpublish,
};
