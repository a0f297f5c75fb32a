/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/*
 * Opens the file a kernel lock is taken on.  O_NOFOLLOW: a symlink planted
 * at the lock path in a shared directory must not send us to create or lock
 * some other file.  O_NONBLOCK: opening a FIFO must not wait for a writer.
 * Never O_TRUNC: the lock file may be a file whose data matters.
 */

static int
is_lockable(mode_t mode)
{
	return S_ISREG(mode) || S_ISDIR(mode);
}

static int
starts_like_a_record(int fd)
{
	char head[RECORD_TAG_LEN + 2];

	return pread(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head) &&
	    memcmp(head, RECORD_TAG, RECORD_TAG_LEN) == 0 &&
	    head[RECORD_TAG_LEN] >= '0' && head[RECORD_TAG_LEN] <= '9';
}

/*
 * A lock of the lockfile or mkdir method at the path: a kernel lock on it
 * would not exclude its holder, so it is refused.  Kernel lock files are
 * normally empty, which makes the check free for them.
 */
static int
holds_owner_record(int fd, const struct stat *st)
{
	int owner, found;

	if (S_ISREG(st->st_mode))
		return st->st_size > 0 && starts_like_a_record(fd);
	owner = openat(fd, MKDIR_RECORD_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (owner < 0)
		return 0;
	found = starts_like_a_record(owner);
	close(owner);
	return found;
}

/*
 * The open of a file seen a moment ago, as it is: by the descriptor of
 * auto's look, which costs no second lookup of the name, or by its name.
 * Returns the descriptor, -1 if it could not be opened so (ENOENT: it
 * has gone meanwhile, and is to be created), or -2 with errno for a file
 * that is not to be opened at all.
 */
static int
open_seen(struct dlock *lk, enum path_seen seen, const struct stat *st,
    int looked, int flags)
{
	int fd;

	if (seen != PATH_FOUND)
		return -1;
	/* Devices are refused before they are opened: opening one can have
	 * side effects (a tape rewinds, a terminal becomes ours). */
	if (!S_ISLNK(st->st_mode) && !is_lockable(st->st_mode)) {
		errno = EINVAL;
		return -2;
	}
	/* A symlink is opened by name, to be refused (O_NOFOLLOW). */
	if (looked >= 0) {
		fd = reopen_looked(looked, flags);
		/* ENOENT: no /proc here. */
		if (fd >= 0 || errno != ENOENT)
			return fd;
	}
	return open(lk->path, flags);
}

/* Opened read-only: a directory, a read-only file or filesystem can
 * still take a shared lock (and flock(2) locks of either kind). */
static int
open_read_only(struct dlock *lk, int looked, int flags)
{
	int fd;

	if (looked >= 0) {
		fd = reopen_looked(looked, O_RDONLY | flags);
		if (fd >= 0 || errno != ENOENT)
			return fd;
	}
	return open(lk->path, O_RDONLY | flags);
}

static int
open_looked(struct dlock *lk, int want_write, enum path_seen seen,
    int looked)
{
	int base = O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
	int create = !(lk->flags & DLOCK_NOCREATE);
	int access_mode = want_write ? O_RDWR : O_RDONLY;
	struct stat st;
	int fd, first, known = 0;

	if (seen != PATH_UNSEEN)
		st = lk->path_st;
	else if (lstat(lk->path, &st) == 0)
		seen = PATH_FOUND;
	if (seen == PATH_FOUND && S_ISLNK(st.st_mode))
		looked = -1;
	fd = open_seen(lk, seen, &st, looked, access_mode | base);
	if (fd == -2)
		return -1;
	/*
	 * What the look showed a moment ago is what was opened: O_NOFOLLOW
	 * refuses a symlink, and only a rename over the name could swap in
	 * another file, which a later look could not rule out either (the
	 * name can change just after it too).  So no fstat(), a round trip
	 * on a network filesystem; nor for a file we have just created.
	 */
	known = fd >= 0 && !S_ISLNK(st.st_mode);
	/* Knowing whether the file is new lets a fall back to a lockfile
	 * remove it again (see lock.c).  If it has gone meanwhile, it is
	 * created. */
	if (fd < 0 && seen == PATH_FOUND && errno == ENOENT) {
		seen = PATH_MISSING;
		looked = -1;
	}
	if (fd < 0 && seen != PATH_FOUND && create) {
		fd = open(lk->path, access_mode | O_CREAT | O_EXCL | base,
		    lk->mode);
		lk->created = fd >= 0;
		if (lk->created) {
			memset(&st, 0, sizeof(st));
			st.st_mode = S_IFREG;
			known = 1;
		}
	}
	if (fd < 0 && seen != PATH_FOUND && (!create || errno == EEXIST)) {
		looked = -1;
		fd = open(lk->path, access_mode | base);
	}
	if (fd < 0) {
		first = errno;
		if (first == EISDIR || first == EACCES || first == EROFS ||
		    first == ETXTBSY || first == EPERM)
			fd = open_read_only(lk, looked, base);
		if (fd < 0) {
			errno = first == EISDIR ? errno : first;
			return -1;
		}
	}
	if (!known && fstat(fd, &st) < 0)
		return fail_closing(fd, errno);
	if (!is_lockable(st.st_mode))
		return fail_closing(fd, EINVAL);
	if (holds_owner_record(fd, &st)) {
		/* Which name method's lock it is (lock.c joins it). */
		lk->path_st = st;
		return fail_closing(fd, EPROTO);
	}
	if ((lk->flags & DLOCK_INHERIT) && fcntl(fd, F_SETFD, 0) < 0)
		return fail_closing(fd, errno);
	lk->fd = fd;
	lk->owns_fd = 1;
	return 0;
}

static int
open_once(struct dlock *lk, int want_write)
{
	enum path_seen seen = lk->path_seen;
	int looked = lk->path_fd, rc, saved;

	/* auto has just looked (lock.c); on a network filesystem each look
	 * is a round trip, so its answer serves here, once. */
	lk->path_seen = PATH_UNSEEN;
	lk->path_fd = -1;
	rc = open_looked(lk, want_write, seen, looked);
	saved = errno;
	if (looked >= 0)
		close(looked);
	errno = saved;
	return rc;
}

/*
 * ESTALE: another client of a network filesystem removed or replaced the
 * file whose handle this one had cached; another look finds what is
 * there now.  ENOENT after a create found the name taken: the file came
 * and went again meanwhile, as it does where processes that fall back
 * from kernel locks remove the file they had just created for one
 * (lock.c); another round sees it made or gone.  A few rounds at most.
 */
#define OPEN_ROUNDS 8

int
open_lock_file(struct dlock *lk, int want_write)
{
	int round;

	for (round = 0; round < OPEN_ROUNDS; round++) {
		if (open_once(lk, want_write) == 0)
			return 0;
		if (errno != ESTALE && (errno != ENOENT ||
		    (lk->flags & DLOCK_NOCREATE)))
			return -1;
		forget_look(lk);
	}
	return -1;
}

void
forget_look(struct dlock *lk)
{
	if (lk->path_fd >= 0)
		close(lk->path_fd);
	lk->path_fd = -1;
	lk->path_seen = PATH_UNSEEN;
}

/* Closing our descriptor drops the lock unless a child inherited it. */
int
close_lock_file(struct dlock *lk)
{
	if (lk->owns_fd && lk->fd >= 0)
		close(lk->fd);
	lk->fd = -1;
	return 0;
}
