/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/*
 * Making a file appear whole under a name that must not exist yet: the
 * record of a lockfile lock, the record inside a mkdir lock, the breaker
 * lock.  The data is written under no name, or under a name of our own,
 * and then linked into place: link(2) fails if the name exists, atomically,
 * and readers never see part of the data.  Where the filesystem has no
 * hard links, the file is created in place and written at once; readers
 * then give an empty or partial record the benefit of the doubt.
 */

int
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
 * transmission made the link; so a failed link is ours after all if the
 * name holds exactly our data, which carries a nonce no one else has.
 * Inode numbers cannot tell: some FUSE filesystems give the two names of
 * one file different ones, and over NFS an lstat() may answer from cached
 * attributes of the file the name held before, whose number the server
 * may since have given to ours.
 */
int
linked_after_all(const char *target, const char *data, size_t len)
{
	char buf[DLOCK_RECORD_MAX + 2];
	ssize_t n;

	if (len >= sizeof(buf))
		return 0;
	n = read_file(target, O_NOFOLLOW | O_NONBLOCK, buf, len + 1);
	return n == (ssize_t)len && memcmp(buf, data, len) == 0;
}

/* What one way of publishing came to. */
enum published {
	PUBLISH_DONE,
	PUBLISH_ERROR,		/* errno says why */
	PUBLISH_CANNOT		/* not here: the next way is tried */
};

static enum published
fail_publishing(int fd, int err)
{
	fail_closing(fd, err);
	return PUBLISH_ERROR;
}

/* An unnamed file (O_TMPFILE) leaves nothing behind whenever we are
 * killed.  PUBLISH_CANNOT when the filesystem (or a missing /proc)
 * cannot do it.  With keep, a file that our link named is left open
 * there, its one name target's. */
static enum published
publish_unnamed(const char *dir, const char *target, const char *data,
    size_t len, mode_t mode, int *keep)
{
#ifdef O_TMPFILE
	char proc[64];
	int fd, rc, err;

	fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
	if (fd < 0)
		return errno == EACCES || errno == EROFS || errno == ENOSPC ||
		    errno == EDQUOT ? PUBLISH_ERROR : PUBLISH_CANNOT;
	if (write_all(fd, data, len) < 0)
		return fail_publishing(fd, errno);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rc = linkat(AT_FDCWD, proc, AT_FDCWD, target, AT_SYMLINK_FOLLOW);
	err = errno;
	if (rc == 0 && keep != NULL) {
		*keep = fd;
		return PUBLISH_DONE;
	}
	if (rc == 0 || (err == EEXIST && linked_after_all(target, data, len))) {
		close(fd);
		return PUBLISH_DONE;
	}
	if ((err == ENOENT && access("/proc/self/fd", F_OK) < 0) ||
	    link_unsupported(err)) {
		close(fd);
		return PUBLISH_CANNOT;
	}
	return fail_publishing(fd, err);
#else
	(void)dir;
	(void)target;
	(void)data;
	(void)len;
	(void)mode;
	(void)keep;
	return PUBLISH_CANNOT;
#endif
}

int
prepare_named(const char *target, const char *data, size_t len, mode_t mode,
    char *tmp, size_t size)
{
	static unsigned int serial;
	int fd = -1, n, err, tries;

	for (tries = 0; fd < 0 && tries < 8; tries++) {
		n = snprintf(tmp, size, "%s.%d.%u.tmp", target, (int)getpid(),
		    serial++);
		if (n < 0 || (size_t)n >= size) {
			tmp[0] = '\0';
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, mode & 0666);
		if (fd < 0 && errno != EEXIST) {
			tmp[0] = '\0';
			return -1;
		}
	}
	if (fd < 0) {
		tmp[0] = '\0';
		return -1;
	}
	/* Closed before any link: over NFS the close writes the data back,
	 * and a reader on another client must find it whole. */
	if (write_all(fd, data, len) < 0) {
		err = errno;
		close(fd);
	} else if (close(fd) < 0) {
		err = errno;
	} else {
		return 0;
	}
	unlink_unfilled(tmp, err);
	tmp[0] = '\0';
	errno = err;
	return -1;
}

/* A temporary name of our own beside the target, then link(2).  Returns
 * as publish_unnamed(); a kill in between leaves the temporary file. */
static enum published
publish_named(const char *target, const char *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int rc, err;

	if (prepare_named(target, data, len, mode, tmp, sizeof(tmp)) < 0)
		return PUBLISH_ERROR;
	rc = link(tmp, target);
	err = errno;
	if (rc < 0 && err == EEXIST && linked_after_all(target, data, len))
		rc = 0;
	unlink(tmp);
	errno = err;
	if (rc == 0)
		return PUBLISH_DONE;
	return link_unsupported(err) ? PUBLISH_CANNOT : PUBLISH_ERROR;
}

/*
 * A file we created and could not fill is removed by its name, unless the
 * failure was ESTALE: the file server no longer has our file, which
 * another client removed, and the name may be someone else's by now.
 */
void
unlink_unfilled(const char *path, int err)
{
	if (err != ESTALE)
		unlink(path);
}

static enum published
publish_in_place(const char *target, const char *data, size_t len,
    mode_t mode)
{
	int fd, err;

	fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd < 0)
		return PUBLISH_ERROR;
	if (write_all(fd, data, len) < 0) {
		err = errno;
		unlink_unfilled(target, err);
		return fail_publishing(fd, err);
	}
	if (close(fd) < 0) {
		err = errno;
		unlink_unfilled(target, err);
		errno = err;
		return PUBLISH_ERROR;
	}
	return PUBLISH_DONE;
}

/*
 * For a file that must be whole only before anyone relies on it, not
 * when it appears (an intent, intent.c): unnamed and linked into place
 * where the filesystem has unnamed files, else created in place, which
 * leaves no temporary name behind to a kill.
 */
int
publish_early(const char *dir, const char *target, const char *data,
    size_t len, mode_t mode, int *how)
{
	enum published rc = PUBLISH_CANNOT;

	mode &= 0666;
	if (*how == PUBLISH_UNNAMED) {
		rc = publish_unnamed(dir, target, data, len, mode, NULL);
		if (rc == PUBLISH_CANNOT)
			*how = PUBLISH_NAMED;
	}
	if (rc == PUBLISH_CANNOT)
		rc = publish_in_place(target, data, len, mode);
	return rc == PUBLISH_DONE ? 0 : -1;
}

/*
 * publish_file() by an unnamed file only: EXDEV where the filesystem has
 * none, so that the caller can say who is publishing first (intent.c).
 * *keep, if keep is not NULL, is then the published file's descriptor,
 * or -1 if none was kept (a link that failed yet made the name).
 */
int
publish_unnamed_file(const char *dir, const char *target, const char *data,
    size_t len, mode_t mode, int *how, int *keep)
{
	enum published rc = PUBLISH_CANNOT;

	if (*how == PUBLISH_UNNAMED) {
		rc = publish_unnamed(dir, target, data, len, mode & 0666, keep);
		if (rc == PUBLISH_CANNOT)
			*how = PUBLISH_NAMED;
	}
	if (rc == PUBLISH_CANNOT)
		errno = EXDEV;
	return rc == PUBLISH_DONE ? 0 : -1;
}

/*
 * Makes target (in dir) appear holding exactly data.  Returns 0, or -1
 * with errno (EEXIST: the name is taken).  *how starts at PUBLISH_UNNAMED
 * and remembers what this filesystem turned out to support; st, if not
 * NULL, receives the published file's identity.
 */
int
publish_file(const char *dir, const char *target, const char *data,
    size_t len, mode_t mode, int *how, struct stat *st)
{
	enum published rc = PUBLISH_CANNOT;

	mode &= 0666;
	if (*how == PUBLISH_UNNAMED) {
		rc = publish_unnamed(dir, target, data, len, mode, NULL);
		if (rc == PUBLISH_CANNOT)
			*how = PUBLISH_NAMED;
	}
	if (rc == PUBLISH_CANNOT && *how == PUBLISH_NAMED) {
		rc = publish_named(target, data, len, mode);
		if (rc == PUBLISH_CANNOT)
			*how = PUBLISH_IN_PLACE;
	}
	if (rc == PUBLISH_CANNOT)
		rc = publish_in_place(target, data, len, mode);
	if (rc != PUBLISH_DONE)
		return -1;
	if (st != NULL && lstat(target, st) < 0)
		memset(st, 0, sizeof(*st));
	return 0;
}
