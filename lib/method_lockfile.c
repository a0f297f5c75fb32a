/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/*
 * The lock is the file LOCKPATH, holding its owner record.  It must appear
 * with the whole record in it, so it is written under another name first
 * and then linked into place: link(2) fails if LOCKPATH exists, atomically,
 * on every filesystem that has hard links.
 */

/*
 * Where the filesystem has unnamed files, the lock appears whole from
 * one.  Elsewhere it is first written under the intent's name (intent.c),
 * which a kill leaves for the next process to judge by its record and
 * remove, not under a temporary name no one would look for, and then
 * linked into place.  Where there are no hard links either, it is created
 * in place, empty for a moment, and the intent says meanwhile whose it is.
 */
static int
lockfile_publish(struct dlock *lk, const char *record, size_t len)
{
	int intent, rc, err, kept = -1;

	if (publish_unnamed_file(lk->dir, lk->path, record, len, lk->mode,
	    &lk->publish_how, &kept) == 0) {
		/* The release checks that the lock's name is still this
		 * file instead of reading the record back (namewait.c). */
		if (kept >= 0)
			kept_take(lk, kept);
		return 0;
	}
	if (errno != EXDEV)
		return -1;
	intent = intent_publish(lk, record, len);
	if (intent < 0)
		return -1;
	rc = intent ? intent_link(lk, lk->path, record, len) : -1;
	if (!intent || (rc < 0 && errno == EXDEV))
		rc = publish_file(lk->dir, lk->path, record, len, lk->mode,
		    &lk->publish_how, NULL);
	err = errno;
	if (intent)
		intent_drop(lk);
	errno = err;
	return rc;
}

static int
lockfile_unpublish(struct dlock *lk)
{
	return unlink(lk->path);
}

const struct name_ops lockfile_name_ops = {
	.kind = NAME_IS_RECORD,
	.publish = lockfile_publish,
	.unpublish = lockfile_unpublish,
};
