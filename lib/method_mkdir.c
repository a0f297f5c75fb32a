/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * The lock is the directory LOCKPATH; its owner record is the file
 * MKDIR_RECORD_NAME inside.  mkdir(2) is atomic even where exclusive
 * creation of a file is not trusted.  Between the mkdir and the record's
 * appearance, readers see a lock with no record, which the intent beside
 * it (intent.c) lets them judge.
 */

/* The record appears whole in the directory: readers find none yet, or
 * all of it.  Our intent is our record, whole, so one link makes it the
 * lock's; without one (or without hard links), it is published anew. */
static int
put_record(struct dlock *lk, int intent, const char *record, size_t len)
{
	if (intent && intent_link(lk, lk->record_path, record, len) == 0)
		return 0;
	if (intent && errno != EXDEV)
		return -1;
	return publish_file(lk->path, lk->record_path, record, len, lk->mode,
	    &lk->publish_how, NULL);
}

/*
 * The intent costs one create and one unlink per lock, both beside the
 * lock; the link that turns it into the record replaces the record's own
 * creation.
 */
static int
mkdir_publish(struct dlock *lk, const char *record, size_t len)
{
	int intent, rc = -1, err;

	intent = intent_publish(lk, record, len);
	if (intent < 0)
		return -1;
	/* A directory gets search permission wherever it gets read. */
	if (mkdir(lk->path, (lk->mode | (lk->mode & 0444) >> 2) & 0777) == 0) {
		rc = put_record(lk, intent, record, len);
		err = errno;
		/* Our own directory, still empty: a lock we could not
		 * finish.  Never EEXIST: that would read as "someone holds
		 * it". */
		if (rc < 0) {
			rmdir(lk->path);
			errno = err == EEXIST ? EIO : err;
		}
	}
	if (intent)
		intent_drop(lk);
	return rc;
}

/*
 * Empties a directory set aside: our record, or a dead holder's, and the
 * temporary names publish.c gives the record while it is written.  It is
 * no lock any more, so nothing in it is anyone's.
 */
void
empty_aside(const char *aside)
{
	char path[PATH_MAX];
	const size_t base = sizeof(MKDIR_RECORD_NAME) - 1;
	struct dirent *e;
	DIR *d;
	int n;

	d = opendir(aside);
	if (d == NULL)
		return;
	/* readdir_r(3) is deprecated; this stream is ours alone. */
	// cppcheck-suppress readdirCalled
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, MKDIR_RECORD_NAME, base) != 0 ||
		    (e->d_name[base] != '\0' && e->d_name[base] != '.'))
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", aside, e->d_name);
		if (n > 0 && (size_t)n < sizeof(path))
			unlink(path);
	}
	closedir(d);
}

/*
 * Moves the lock out of the way in one step, record and all.  The fixed
 * name LOCKPATH.released, which the next release finds, is taken when it
 * is an empty directory (rename(2) replaces one); when it holds something,
 * it is a leftover of a release killed half-way, or one under way: it is
 * emptied and removed, being no lock, and if it still stands a name of
 * our own is used.
 */
static int
set_aside(struct dlock *lk, char *aside, size_t size)
{
	int n;

	n = snprintf(aside, size, "%s", lk->aside_path);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (rename(lk->path, aside) == 0)
		return 0;
	/* EPERM, EACCES: an empty one of another user's in a sticky
	 * directory, or the lock is not ours to move at all, as the next
	 * rename says. */
	if (errno != ENOTEMPTY && errno != EEXIST && errno != ENOTDIR &&
	    errno != EISDIR && errno != EPERM && errno != EACCES)
		return -1;
	empty_aside(aside);
	if (rmdir(aside) == 0 && rename(lk->path, aside) == 0)
		return 0;
	n = snprintf(aside, size, "%s.%s.released", lk->path, lk->self.nonce);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return rename(lk->path, aside);
}

/*
 * The directory is renamed aside before its record is removed, so that
 * the lock and its record go in one step: removing the record first would
 * leave, to a kill just after, a directory with no record and no intent,
 * which only its age could clear.  This costs the rename; the record's
 * unlink and the rmdir are made as before, on the name aside.
 */
static int
mkdir_unpublish(struct dlock *lk)
{
	char aside[PATH_MAX];
	char record[PATH_MAX];
	int n;

	if (set_aside(lk, aside, sizeof(aside)) < 0)
		return -1;
	n = snprintf(record, sizeof(record), "%s/" MKDIR_RECORD_NAME, aside);
	if (n > 0 && (size_t)n < sizeof(record))
		unlink(record);
	if (rmdir(aside) == 0 || (errno != ENOTEMPTY && errno != EEXIST))
		return 0;
	/* A dead holder's temporary name, or a silly-renamed file. */
	empty_aside(aside);
	/*
	 * Over NFS a file removed while another process on this client has
	 * it open stays as a silly-renamed .nfs* file until that process
	 * closes it.  A reader of the record closes it in a moment: give
	 * the client up to a second to remove the .nfs file, and the
	 * directory with it.  A file held open longer leaves the directory
	 * behind, for the next release to remove.
	 */
	for (int i = 0; i < 50 && rmdir(aside) < 0 &&
	    (errno == ENOTEMPTY || errno == EEXIST); i++)
		nanosleep(&(struct timespec){ 0, 20 * 1000000L }, NULL);
	return 0;
}

const struct name_ops mkdir_name_ops = {
	.kind = NAME_HOLDS_RECORD,
	.publish = mkdir_publish,
	.unpublish = mkdir_unpublish,
};
