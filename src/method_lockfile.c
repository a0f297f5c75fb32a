/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlock_int.h"

/*
 * The lock is the file LOCKPATH, holding its owner record.  It must appear
 * with the whole record in it, so it is written under another name first
 * and then linked into place: link(2) fails if LOCKPATH exists, atomically,
 * on every filesystem that has hard links.
 */

static int
link_unsupported(int err)
{
#if ENOTSUP != EOPNOTSUPP
	if (err == ENOTSUP)
		return 1;
#endif
	return err == EPERM || err == EOPNOTSUPP || err == EMLINK ||
	    err == ENOSYS;
}

/*
 * Over NFS a retransmitted LINK can fail with EEXIST although the first
 * transmission made the link, so a failed link is checked: the lock is
 * ours if LOCKPATH is our file (mine), or if it carries our nonce (some
 * FUSE filesystems give the two names of one file different inode
 * numbers).
 */
static int
linked_after_all(struct dlock *lk, const struct stat *mine)
{
	struct lock_look look;
	struct stat there;

	if (lstat(lk->path, &there) == 0 && there.st_dev == mine->st_dev &&
	    there.st_ino == mine->st_ino)
		return 1;
	return look_at_lock(lk, &look) == 0 && lock_is_ours(lk, &look);
}

/*
 * An unnamed file (O_TMPFILE) linked into place leaves nothing behind,
 * whatever happens to us meanwhile.  Local filesystems, and those network
 * ones that have it.  Returns 0, -1 with errno, or -2 when the filesystem
 * cannot do it.
 */
static int
publish_unnamed(struct dlock *lk, const char *record, size_t len)
{
#ifdef O_TMPFILE
	char proc[64];
	struct stat mine;
	int fd, rc, saved;

	fd = open(lk->dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, lk->mode & 0666);
	if (fd < 0)
		return errno == EACCES || errno == EROFS || errno == ENOSPC ||
		    errno == EDQUOT ? -1 : -2;
	if (write_all(fd, record, len) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rc = linkat(AT_FDCWD, proc, AT_FDCWD, lk->path, AT_SYMLINK_FOLLOW);
	saved = errno;
	if (rc < 0 && saved == EEXIST && fstat(fd, &mine) == 0 &&
	    linked_after_all(lk, &mine))
		rc = 0;
	close(fd);
	errno = saved;
	/* No /proc to name the file by: use a named one. */
	if (rc < 0 && saved == ENOENT && access("/proc/self/fd", F_OK) < 0)
		return -2;
	return rc;
#else
	(void)lk;
	(void)record;
	(void)len;
	return -2;
#endif
}

/* A named temporary file beside LOCKPATH, linked into place. */
static int
publish_named(struct dlock *lk, const char *record, size_t len)
{
	char tmp[PATH_MAX];
	struct stat mine;
	int fd, rc, err, n;

	n = snprintf(tmp, sizeof(tmp), "%s.%.16s.tmp", lk->path,
	    lk->self.nonce);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    lk->mode & 0666);
	if (fd < 0)
		return -1;
	if (write_all(fd, record, len) < 0 || fstat(fd, &mine) < 0) {
		err = errno;
		close(fd);
		unlink(tmp);
		errno = err;
		return -1;
	}
	close(fd);
	rc = link(tmp, lk->path);
	err = errno;
	if (rc < 0 && !link_unsupported(err) && linked_after_all(lk, &mine))
		rc = 0;
	unlink(tmp);
	errno = err;
	return rc;
}

/* Without hard links: create in place, then write at once.  Readers give
 * an empty or partial record the benefit of the doubt (the lease). */
static int
publish_in_place(struct dlock *lk, const char *record, size_t len)
{
	int fd, err;

	fd = open(lk->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, lk->mode & 0666);
	if (fd < 0)
		return -1;
	if (write_all(fd, record, len) < 0) {
		err = errno;
		close(fd);
		unlink(lk->path);
		errno = err;
		return -1;
	}
	if (close(fd) < 0) {
		err = errno;
		unlink(lk->path);
		errno = err;
		return -1;
	}
	return 0;
}

static int
lockfile_publish(struct dlock *lk, const char *record, size_t len)
{
	int rc;

	if (!lk->no_tmpfile) {
		rc = publish_unnamed(lk, record, len);
		if (rc != -2)
			return rc;
		lk->no_tmpfile = 1;
	}
	if (!lk->no_link) {
		rc = publish_named(lk, record, len);
		if (rc == 0 || !link_unsupported(errno))
			return rc;
		lk->no_link = 1;
	}
	return publish_in_place(lk, record, len);
}

static int
lockfile_unpublish(struct dlock *lk)
{
	return unlink(lk->path);
}

const struct name_ops dlock_lockfile_name_ops = {
	.record_name = NULL,
	.publish = lockfile_publish,
	.unpublish = lockfile_unpublish,
};

static int
lockfile_prepare(struct dlock *lk)
{
	return name_prepare(lk, &dlock_lockfile_name_ops);
}

const struct dlock_ops dlock_lockfile_ops = {
	.name = "lockfile",
	.prepare = lockfile_prepare,
	.try_lock = name_try,
	.wait_lock = name_wait,
	.unlock = name_unlock,
	.release = name_release,
	.heartbeat = name_heartbeat,
	.set_child = name_set_child,
};
