/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/*
 * Reading what is at a lock path.  The record file is opened and then
 * fstat()ed, never stat()ed by name: over NFS the open revalidates the
 * attributes (close-to-open consistency), where a stat may answer from a
 * cache up to a minute old.
 */

static int
mismatch_errno(const struct dlock *lk, mode_t mode)
{
	int want_dir = lk->name_ops->kind == NAME_HOLDS_RECORD;

	if (S_ISLNK(mode))
		return ELOOP;
	if (S_ISDIR(mode))
		return want_dir ? 0 : EISDIR;
	if (S_ISREG(mode))
		return want_dir ? ENOTDIR : 0;
	return EINVAL;
}

/*
 * A name removed by another client of a network filesystem can answer
 * ESTALE for a moment (its cached handle is dead): that is "gone" too.
 */
static int
gone(int err)
{
	return err == ENOENT || err == ESTALE;
}

int
look_at_lock(struct dlock *lk, struct lock_look *look)
{
	struct stat st;
	int fd, saved;

	memset(look, 0, sizeof(*look));
	if (lstat(lk->path, &st) < 0)
		return gone(errno) ? 0 : -1;
	look->exists = 1;
	look->kind_mismatch = mismatch_errno(lk, st.st_mode);
	look->dev = st.st_dev;
	look->ino = st.st_ino;
	look->mtime = st.st_mtim;
	if (look->kind_mismatch)
		return 0;

	fd = open(lk->record_path,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		/* Gone since the lstat: free.  For mkdir, no record yet. */
		if (gone(errno) && lk->name_ops->kind == NAME_IS_RECORD)
			look->exists = 0;
		return gone(errno) ? 0 : -1;
	}
	if (fstat(fd, &st) < 0) {
		saved = errno;
		close(fd);
		if (gone(saved) && lk->name_ops->kind == NAME_IS_RECORD) {
			look->exists = 0;
			return 0;
		}
		errno = saved;
		return gone(saved) ? 0 : -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return read_record(fd, &st, look);
}

int
read_record(int fd, const struct stat *st, struct lock_look *look)
{
	/* One byte more than a record may have, to see that it is too long. */
	char buf[DLOCK_RECORD_MAX + 1];
	ssize_t n;
	int saved;

	look->has_record_file = 1;
	look->dev = st->st_dev;
	look->ino = st->st_ino;
	look->mtime = st->st_mtim;
	n = read_full(fd, buf, sizeof(buf));
	saved = errno;
	close(fd);
	if (n < 0) {
		errno = saved;
		return -1;
	}
	look->version = record_version(buf, (size_t)n);
	/*
	 * More than any record holds, and not a newer writer's: not a lock
	 * but someone's file (the data file itself, given as the lock path
	 * as with flock(1)), which breaking it would delete.  judge_lock()
	 * never finds it stale.
	 */
	look->oversized = (size_t)n > DLOCK_RECORD_MAX && look->version <= 1;
	look->parsed = (size_t)n <= DLOCK_RECORD_MAX &&
	    record_parse(buf, (size_t)n, &look->owner) == 0;
	if (!look->parsed)
		memset(&look->owner, 0, sizeof(look->owner));
	return 0;
}

/* The same lock as when it was judged: same file, same record. */
int
same_lock(const struct lock_look *a, const struct lock_look *b)
{
	if (!a->exists || !b->exists || a->dev != b->dev || a->ino != b->ino ||
	    a->parsed != b->parsed || a->has_record_file != b->has_record_file)
		return 0;
	if (a->parsed && a->owner.kind == DLOCK_RECORD_V1)
		return strcmp(a->owner.nonce, b->owner.nonce) == 0;
	return a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/*
 * Ours only by the nonce: an inode number is reused as soon as a broken
 * lock's file is gone, so it proves nothing after the fact.
 */
int
lock_is_ours(struct dlock *lk, const struct lock_look *look)
{
	return look->exists && look->parsed &&
	    look->owner.kind == DLOCK_RECORD_V1 &&
	    strcmp(look->owner.nonce, lk->self.nonce) == 0;
}
