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
	.record_name = NULL,
	.publish = lockfile_publish,
	.unpublish = lockfile_unpublish,
};

static int
lockfile_prepare(struct dlock *lk)
{
	return name_prepare(lk, &lockfile_name_ops);
}

const struct dlock_ops lockfile_ops = {
	.name = "lockfile",
	.prepare = lockfile_prepare,
	.try_lock = name_try,
	.wait_lock = name_wait,
	.unlock = name_unlock,
	.release = name_release,
	.heartbeat = name_heartbeat,
	.set_child = name_set_child,
};
