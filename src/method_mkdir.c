/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlock_int.h"

/*
 * The lock is the directory LOCKPATH; its owner record is the file "owner"
 * inside.  mkdir(2) is atomic even where exclusive creation of a file is
 * not trusted.  Between the mkdir and the record's appearance, readers see
 * a lock with no record, which they judge by its age alone.
 */

/*
 * The record appears whole: it is written into an unnamed file (O_TMPFILE)
 * in the new directory, then linked into place, so that a reader finds
 * either no record yet or all of it, never an empty or half-written one.
 * Local filesystems only.  Returns 0, -1 with errno, or -2 when the
 * filesystem cannot do it.
 */
static int
link_whole_record(struct dlock *lk, const char *record, size_t len)
{
#ifdef O_TMPFILE
	char proc[64];
	int fd, rc, saved;

	fd = open(lk->path, O_TMPFILE | O_WRONLY | O_CLOEXEC, lk->mode & 0666);
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
	rc = linkat(AT_FDCWD, proc, AT_FDCWD, lk->record_path,
	    AT_SYMLINK_FOLLOW);
	saved = errno;
	close(fd);
	errno = saved;
	/* No /proc to name the file by, or no hard links: write in place. */
	if (rc < 0 && ((saved == ENOENT && access("/proc/self/fd", F_OK) < 0) ||
	    saved == EPERM || saved == EOPNOTSUPP || saved == EMLINK))
		return -2;
	return rc;
#else
	(void)lk;
	(void)record;
	(void)len;
	return -2;
#endif
}

/* Without O_TMPFILE: create, then write at once.  Readers give an empty
 * or partial record the benefit of the doubt (the lease). */
static int
write_record_at_once(struct dlock *lk, const char *record, size_t len)
{
	int fd, err;

	fd = open(lk->record_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, lk->mode & 0666);
	if (fd < 0)
		return -1;
	if (write_all(fd, record, len) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return close(fd);
}

static int
mkdir_publish(struct dlock *lk, const char *record, size_t len)
{
	int rc = -2, err;

	/* A directory gets search permission wherever it gets read. */
	if (mkdir(lk->path, (lk->mode | (lk->mode & 0444) >> 2) & 0777) < 0)
		return -1;
	if (!lk->no_tmpfile) {
		rc = link_whole_record(lk, record, len);
		if (rc == -2)
			lk->no_tmpfile = 1;
	}
	if (rc == -2)
		rc = write_record_at_once(lk, record, len);
	if (rc == 0)
		return 0;
	err = errno;
	unlink(lk->record_path);
	rmdir(lk->path);
	/* Never EEXIST here: that would read as "someone holds it". */
	errno = err == EEXIST ? EIO : err;
	return -1;
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
	return rmdir(lk->path);
}

const struct name_ops dlock_mkdir_name_ops = {
	.record_name = "/owner",
	.publish = mkdir_publish,
	.unpublish = mkdir_unpublish,
};

static int
mkdir_prepare(struct dlock *lk)
{
	return name_prepare(lk, &dlock_mkdir_name_ops);
}

const struct dlock_ops dlock_mkdir_ops = {
	.name = "mkdir",
	.prepare = mkdir_prepare,
	.try_lock = name_try,
	.wait_lock = name_wait,
	.unlock = name_unlock,
	.release = name_release,
	.heartbeat = name_heartbeat,
	.set_child = name_set_child,
};
