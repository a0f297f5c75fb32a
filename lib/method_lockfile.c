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

static int
lockfile_publish(struct dlock *lk, const char *record, size_t len)
{
	return publish_file(lk->dir, lk->path, record, len, lk->mode,
	    &lk->publish_how, NULL);
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
