/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/*
 * Fencing tokens.  The highest token granted on a lock path is kept in
 * the token file LOCKPATH.token, one line of decimal digits, never in the
 * lock file itself (flock(1) users lock their scripts and data files).
 * A grant reads it, adds one, and replaces it whole: the new value is
 * written to LOCKPATH.token.new, flushed, and renamed over the old file.
 * rename(2) is atomic on every filesystem dlock runs on, network ones
 * included, so a reader finds the old value or the new one, never a mix:
 *
 * - a holder killed between reading and renaming has changed nothing,
 *   and it was granted no token: the next one reads the old value again;
 * - one killed while writing leaves a partial LOCKPATH.token.new, which
 *   no reader looks at and the next writer removes first;
 * - the value is read from a descriptor opened after the update was
 *   serialized, so close-to-open consistency gives every client of a
 *   network filesystem the last value renamed into place.
 *
 * Updates are serialized so that each reads the value of the one before.
 * A name lock (lockfile, mkdir) is held by one process at a time, but a
 * holder paused past its lease can have lost it to a breaker while it
 * still runs; so its update is made with the breaker lock held, after a
 * fresh look shows the lock still ours (with_own_lock()), and breaking
 * waits for it.  A kernel lock may be shared, so its update takes an
 * exclusive kernel lock of the same kind on the token file, for the
 * update only.  The rename gives the name a new file, which a process
 * that opened the old one may lock next; so once locked, the file must
 * still be the one at the name, or the update starts over.  Only the
 * holder of the lock on the file at the name ever renames, so one
 * updater at a time passes that check.
 *
 * Before the rename of a name lock's update the value is read once more
 * (the kernel lock on the token file leaves nothing to check, and reading
 * through another descriptor would drop a classic fcntl lock), and a
 * file that holds
 * anything but what this update started from is never replaced, so the
 * stored value does not go down even when the serialization failed: a
 * holder paused for longer than the breaker lock's limit (30 s) while it
 * held it, whose breaker and then lock were taken over meanwhile, finds
 * the value moved on and fails with DLOCK_ELOST.  Only a pause that
 * falls exactly between that read and the rename escapes the check; no
 * scheme built on a lease can close that instant.
 */

#define TOKEN_SUFFIX	".token"
#define NEW_SUFFIX	".new"

/* The longest line: "18446744073709551615\n". */
#define COUNTER_MAX	21

/* An update that found the file at the name replaced starts over; each
 * such round means another update was made, so they are few. */
#define MAX_ROUNDS	1000

char *
token_path_for(const char *path)
{
	return joined(path, TOKEN_SUFFIX);
}

/*
 * The path of the file open at fd, from /proc/self/fd: a descriptor
 * carries no name otherwise.  ENOENT when it has none that leads back to
 * it (a pipe, a socket, a file deleted or renamed since it was opened, or
 * no /proc).
 */
char *
fd_path(int fd)
{
	char link[64], target[PATH_MAX];
	struct stat by_fd, by_name;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target));
	if (n < 0)
		return NULL;
	if ((size_t)n >= sizeof(target)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	target[n] = '\0';
	/* "pipe:[1234]", "socket:[...]", "anon_inode:...": no path. */
	if (target[0] != '/') {
		errno = ENOENT;
		return NULL;
	}
	if (fstat(fd, &by_fd) < 0 || lstat(target, &by_name) < 0)
		return NULL;
	if (by_name.st_dev != by_fd.st_dev || by_name.st_ino != by_fd.st_ino) {
		errno = ENOENT;
		return NULL;
	}
	return strdup(target);
}

/* Empty (a token file just created, never written) reads as 0. */
static int
parse_counter(const char *buf, size_t n, uint64_t *value)
{
	if (n == 0) {
		*value = 0;
		return 0;
	}
	if (n > COUNTER_MAX || buf[n - 1] != '\n' ||
	    parse_canonical_decimal(buf, n - 1, UINT64_MAX, value) < 0) {
		errno = EBADMSG;
		return -1;
	}
	return 0;
}

/*
 * Reads the counter of an open file, which must be a regular one, and
 * its permission bits if perm is not NULL.
 */
static int
read_counter_fd(int fd, uint64_t *value, mode_t *perm)
{
	/* One byte more than a counter has, to see a longer file. */
	char buf[COUNTER_MAX + 1];
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EBADMSG;
		return -1;
	}
	if (perm != NULL)
		*perm = st.st_mode & 0666;
	n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return -1;
	return parse_counter(buf, (size_t)n, value);
}

/* ELOOP (a symlink) and EISDIR are files that are not counters. */
static int
counter_open_error(void)
{
	if (errno == ELOOP || errno == EISDIR || errno == ENXIO)
		errno = EBADMSG;
	return -1;
}

static int
open_counter(const char *path, int flags, mode_t mode)
{
	struct stat st;
	int fd;

	/* A device is refused unopened: opening one can have effects. */
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		errno = EBADMSG;
		return -1;
	}
	fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
	    mode);
	if (fd < 0)
		return counter_open_error();
	return fd;
}

/* A missing file reads as 0, and its bits as none (*perm = 0). */
static int
read_counter_at(const char *path, uint64_t *value, mode_t *perm)
{
	int fd;

	*perm = 0;
	fd = open_counter(path, O_RDONLY, 0);
	if (fd < 0) {
		if (errno != ENOENT)
			return -1;
		*value = 0;
		return 0;
	}
	if (read_counter_fd(fd, value, perm) < 0)
		return fail_closing(fd, errno);
	close(fd);
	return 0;
}

int
counter_read(const char *path, uint64_t *value)
{
	mode_t perm;

	return read_counter_at(path, value, &perm);
}

/*
 * Makes the rename into the directory of path survive a crash of the
 * machine: a token granted and then lost with the rename would be
 * granted again after the reboot.  A filesystem that cannot flush a
 * directory (EINVAL) makes its renames stable by itself, as an NFS
 * server does before it answers.
 */
static int
sync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	int fd, rc;

	if (parent_dir(path, dir, sizeof(dir)) < 0)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	if (rc < 0 && errno == EINVAL)
		rc = 0;
	if (rc < 0)
		return fail_closing(fd, errno);
	close(fd);
	return 0;
}

/*
 * Writes value into path.new and renames it over path.  With expect, only
 * if path still holds *expect (see the top of the file), else ECANCELED;
 * the new file then gets the old one's permission bits, or mode less the
 * umask if there was none.  Without, it gets mode, the bits of the file
 * it replaces.  It is flushed first, and the directory after the rename:
 * a machine or file server that crashes must keep the name and the data,
 * or neither.
 */
int
counter_replace(const char *path, const uint64_t *expect, uint64_t value,
    mode_t mode)
{
	char line[COUNTER_MAX + 1], *tmp;
	uint64_t now;
	mode_t perm;
	int fd, rc, len, saved;

	len = snprintf(line, sizeof(line), "%" PRIu64 "\n", value);
	tmp = joined(path, NEW_SUFFIX);
	if (tmp == NULL)
		return -1;
	if (unlink(tmp) < 0 && errno != ENOENT) {
		saved = errno;
		free(tmp);
		errno = saved;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode & 0666);
	rc = fd < 0 ? -1 : write_all(fd, line, (size_t)len);
	if (rc == 0)
		rc = fsync(fd);
	perm = mode & 0666;
	if (rc == 0 && expect != NULL)
		rc = read_counter_at(path, &now, &perm);
	if (rc == 0 && expect != NULL && now != *expect) {
		rc = -1;
		errno = ECANCELED;
	}
	/* Another user's bits may not be ours to set: EPERM keeps ours. */
	if (rc == 0 && perm != 0 && fchmod(fd, perm) < 0 && errno != EPERM)
		rc = -1;
	rc = replace_with(fd, rc, tmp, path);
	if (rc == 0)
		rc = sync_dir_of(path);
	saved = errno;
	free(tmp);
	errno = saved;
	return rc;
}

static int
next_value(uint64_t was, uint64_t *next)
{
	if (was == UINT64_MAX) {
		errno = EOVERFLOW;
		return -1;
	}
	*next = was + 1;
	return 0;
}

/* The exclusive kernel lock on the token file, of the method's kind. */
static int
lock_counter(struct dlock *lk, int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int rc;

	for (;;) {
		if (lk->method == DLOCK_FLOCK)
			rc = lk->kernel->flock(fd, LOCK_EX);
#ifdef F_OFD_SETLKW
		else if (!lk->classic)
			rc = lk->kernel->setlk(fd, F_OFD_SETLKW, &fl);
#endif
		else
			rc = lk->kernel->setlk(fd, F_SETLKW, &fl);
		if (rc == 0 || errno != EINTR ||
		    (lk->flags & DLOCK_INTERRUPTIBLE))
			return rc;
	}
}

/*
 * With the token file at fd locked: if it is still the file at the name,
 * takes the next token (0); if it was replaced meanwhile, 1.  The second
 * descriptor stays open until the rename is done: closing it would drop
 * a classic fcntl lock, which belongs to the process and the file.
 */
static int
update_if_current(struct dlock *lk, int fd)
{
	struct stat held, now;
	uint64_t was = 0, next = 0;
	mode_t perm = 0;
	int cur, rc;

	if (fstat(fd, &held) < 0)
		return errno == ESTALE ? 1 : -1;
	cur = open_counter(lk->token_path, O_RDONLY, 0);
	if (cur < 0)
		return errno == ENOENT || errno == ESTALE ? 1 : -1;
	rc = fstat(cur, &now);
	if (rc < 0 && errno != ESTALE)
		return fail_closing(cur, errno);
	if (rc < 0 || now.st_dev != held.st_dev ||
	    now.st_ino != held.st_ino) {
		close(cur);
		return 1;
	}
	rc = read_counter_fd(cur, &was, &perm);
	if (rc == 0)
		rc = next_value(was, &next);
	if (rc == 0)
		rc = counter_replace(lk->token_path, NULL, next, perm);
	if (rc < 0)
		return fail_closing(cur, errno);
	close(cur);
	lk->token = next;
	return 0;
}

static int
kernel_token(struct dlock *lk)
{
	int round, fd, rc, saved;

	for (round = 0; round < MAX_ROUNDS; round++) {
		fd = open_counter(lk->token_path, O_RDWR | O_CREAT, lk->mode);
		if (fd < 0)
			return -1;
		rc = lock_counter(lk, fd);
		/* A network filesystem can refuse a lock on a file that was
		 * replaced meanwhile: the one at the name is another. */
		if (rc == 0)
			rc = update_if_current(lk, fd);
		else if (errno == ESTALE || errno == ENOENT)
			rc = 1;
		saved = errno;
		close(fd);
		errno = saved;
		if (rc <= 0)
			return rc;
	}
	errno = EAGAIN;
	return -1;
}

/*
 * With the breaker held and the lock ours: the next token, then our
 * record rewritten to show it.  A token file changed under us means that
 * another process took a token while we thought we held the lock: it was
 * lost.
 */
static int
name_token(struct dlock *lk)
{
	uint64_t was = 0, next = 0;

	if (counter_read(lk->token_path, &was) < 0 ||
	    next_value(was, &next) < 0)
		return -1;
	if (counter_replace(lk->token_path, &was, next, lk->mode) < 0) {
		if (errno == ECANCELED)
			errno = DLOCK_ELOST;
		return -1;
	}
	lk->token = next;
	lk->self.token = next;
	return rewrite_record(lk);
}

int
token_take(struct dlock *lk)
{
	lk->token = 0;
	/* A shared grant of a lock held by a name is a registration beside
	 * the lock (shared.c), not the record the breaker protects here:
	 * refused, rather than granted without a token. */
	if (lk->name_ops != NULL && lk->held == LOCK_SH) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (lk->name_ops != NULL)
		return with_own_lock(lk, name_token);
	return kernel_token(lk);
}

uint64_t
dlock_token(const dlock_t *lk)
{
	return lk != NULL && lk->held ? lk->token : 0;
}
