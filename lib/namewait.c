/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/inotify.h>
#endif

#include "internal.h"

/*
 * Waiting for a lock held by a name (lockfile, mkdir).  On a local
 * filesystem a release wakes the waiters through inotify, and a poll costs
 * little.  On a network filesystem nothing wakes a waiter on another
 * client, and every system call on the lock's directory is a round trip to
 * the server: there a poll must cost one operation, and the polls come
 * faster the younger the wait, so that a lock held briefly passes on in
 * about a round trip while a long wait costs the server a few operations
 * a second.
 */

/* A look at the lock (its record read, its holder judged) is taken again
 * this often while a wait goes on, at the least and at the most. */
#define RELOOK_MIN_SECONDS 1.0
#define RELOOK_MAX_SECONDS 10.0

/* The temporary that each poll links holds our record; it is written again
 * when it is this old, or a tenth of the lease, whichever comes first, so
 * that the lock starts its lease fresh. */
#define PREPARED_MAX_SECONDS 30.0

static double
seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) +
	    (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static double
min_of(double a, double b)
{
	return a < b ? a : b;
}

#ifdef __linux__
/* A release on this host removes a name in the lock's directory. */
static int
watch_releases(struct dlock *lk)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd >= 0 && inotify_add_watch(fd, lk->dir,
	    IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void
drain(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/*
 * Whether the events on the watch include the removal of the lock's own
 * name.  The others (the breaker lock, a temporary name, files that have
 * nothing to do with the lock) free nothing: waking every waiter for
 * them only has them all try in vain.  A lost event counts as a release.
 */
static int
lock_name_removed(struct dlock *lk)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const char *slash = strrchr(lk->path, '/');
	const char *base = slash != NULL ? slash + 1 : lk->path;
	const struct inotify_event *ev;
	int removed = *base == '\0';
	ssize_t n;

	while ((n = read(lk->watch, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;
		    p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(void *)p;
			if ((ev->mask & IN_Q_OVERFLOW) ||
			    (ev->len > 0 && strcmp(ev->name, base) == 0))
				removed = 1;
		}
	}
	return removed;
}
#endif

/*
 * A sleep between polls (see sleep_up_to()) that the removal of the lock's
 * name, seen by the watch, cuts short.  Returns 1 when it did, 0 when the
 * sleep ran its course, -1 as sleep_up_to().
 */
static int
pause_between_polls(struct dlock *lk, long delay_ns,
    const struct timespec *deadline, const sigset_t *mask)
{
	struct timespec until, left;

	deadline_set(&until, (double)delay_ns / 1e9);
	if (deadline != NULL && (deadline->tv_sec < until.tv_sec ||
	    (deadline->tv_sec == until.tv_sec &&
	    deadline->tv_nsec < until.tv_nsec)))
		until = *deadline;
	for (;;) {
		if (sleep_up_to(lk->watch, &until, delay_ns, mask) < 0)
			return -1;
#ifdef __linux__
		if (lk->watch >= 0 && lock_name_removed(lk))
			return 1;
#endif
		if (lk->watch < 0 || !deadline_left(&until, &left))
			return 0;
	}
}


/*
 * After a look found the lock held and not stale, a poll need not look
 * again until the verdict may change: until the holder's lease may run out
 * (a holder elsewhere), while the holder's process lives (one on this
 * host: asked of /proc, which costs the server nothing), and in any case
 * for no longer than a while proportionate to the wait, because the
 * holder may change unseen.  Such a poll is one operation while the name
 * is taken: for lockfile, link(2) of a temporary holding our record, which
 * fails with EEXIST while the name is taken and takes the lock at once
 * when it is free; for mkdir, a statx(2) that asks the server whether the
 * name is still there (name_still_there()), the lock being made only once
 * it may not be.  Called by name_try() in a wait only.
 */
void
quick_start(struct dlock *lk, const struct lock_look *look,
    const struct dlock_status *verdict)
{
	struct quick_poll *q = &lk->quick;
	double relook = min_of(RELOOK_MAX_SECONDS, seconds_since(&q->began) / 2);

	if (!lk->remote || !q->waiting)
		return;
	if (relook < RELOOK_MIN_SECONDS)
		relook = RELOOK_MIN_SECONDS;
	q->owner_here = 0;
	if (verdict == NULL || verdict->state == DLOCK_UNKNOWN) {
		/* Judged by the lease: remember_judgement() set when it
		 * may run out, and it is looked at again then. */
		double lease_left = -seconds_since(&lk->rejudge_at);

		if ((verdict != NULL && verdict->age < 0) || lease_left <= 0)
			return;
		deadline_set(&q->until, min_of(relook, lease_left));
	} else if (verdict->state == DLOCK_ALIVE && verdict->same_host &&
	    look->parsed) {
		q->owner_here = 1;
		q->owner = look->owner;
		deadline_set(&q->until, relook);
	} else {
		return;
	}
	q->active = 1;
}

static int
prepared_is_fresh(struct dlock *lk)
{
	struct quick_poll *q = &lk->quick;

	return q->tmp[0] != '\0' &&
	    seconds_since(&q->tmp_at) < min_of(PREPARED_MAX_SECONDS, lk->stale / 10);
}

/*
 * The temporary under the lock's own waiting name, LOCKPATH.wait.tmp,
 * unless another waiter has it: one that a waiter killed meanwhile left is
 * then found, and removed, by the next waiter, where a name of the
 * waiter's own would stay until a stale lock is broken (sweep.c).  Only
 * a waiter known dead (its pid on this host, a boot of its host since) is
 * removed, never one judged by its age: each poll links the temporary by
 * its name, and a waiter paused long enough to look dead would then link
 * the record of whoever took the name over, making both of us holders.
 */
static int
prepare_waiting_name(struct dlock *lk)
{
	struct quick_poll *q = &lk->quick;
	struct intent_look seen;
	char why[160];
	int n, fd, tries, rc, err;

	n = snprintf(q->tmp, sizeof(q->tmp), "%s.wait.tmp", lk->path);
	if (n < 0 || (size_t)n >= sizeof(q->tmp))
		return -1;
	for (tries = 0; tries < 2; tries++) {
		fd = open(q->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, lk->mode & 0666);
		if (fd >= 0) {
			rc = write_all(fd, q->record, (size_t)q->len);
			err = errno;
			/* Closed first: over NFS a file removed while we have
			 * it open would be silly-renamed instead. */
			if (close(fd) < 0 && rc == 0) {
				rc = -1;
				err = errno;
			}
			if (rc == 0)
				return 0;
			unlink_unfilled(q->tmp, err);
			break;
		}
		if (errno != EEXIST || look_at_record_file(q->tmp, &seen) < 0 ||
		    !seen.exists || judge_intent(lk, &seen, 0, why,
		    sizeof(why)) != DLOCK_DEAD)
			break;
		unlink(q->tmp);
	}
	q->tmp[0] = '\0';
	return -1;
}

/*
 * The names the file open at fd has, by the file server's word (a
 * cached answer could be of before a breaker removed one): 0 if the
 * server has it no more, -1 if it cannot be told.
 */
static long
names_of(int fd)
{
	struct stat st;

	if (statx_stat(fd, "", STATX_EMPTY_PATH | STATX_FORCE_SYNC,
	    STATX_NLINK_ONLY, &st) < 0)
		return errno == ESTALE || errno == ENOENT ? 0 : -1;
	return (long)st.st_nlink;
}

static void
forget_prepared(struct quick_poll *q)
{
	if (q->tmp[0] != '\0')
		unlink(q->tmp);
	q->tmp[0] = '\0';
	if (q->tmp_fd >= 0)
		close(q->tmp_fd);
	q->tmp_fd = -1;
	q->linked = 0;
	q->kept_ino = 0;
}

/*
 * An O_PATH descriptor on the temporary: when the lock is linked from it,
 * the release needs one question to the server, how many names the file
 * has, to know that the lock is still ours (kept_still_ours()).  Opening
 * by a path asks the server nothing: there is no file to open.  Not over
 * NFS, where a file removed while a descriptor of its client is open on
 * it is renamed to .nfs* instead (silly-renamed): the temporary's removal
 * would leave such a name, and the lock two names, until the release.
 */
static void
keep_a_handle(struct dlock *lk)
{
	if (!lk->over_nfs)
		lk->quick.tmp_fd = open(lk->quick.tmp,
		    O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

/* Our record (same nonce, the time of now) under a temporary name. */
static int
prepare(struct dlock *lk)
{
	struct quick_poll *q = &lk->quick;

	if (prepared_is_fresh(lk))
		return 0;
	forget_prepared(q);
	if (name_record(lk, 0) < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &q->tmp_at);
	if (prepare_waiting_name(lk) < 0 &&
	    prepare_named(lk->path, q->record, (size_t)q->len, lk->mode,
	    q->tmp, sizeof(q->tmp)) < 0)
		return -1;
	keep_a_handle(lk);
	return 0;
}

/* The verdict of the last look still holds. */
static int
quick_holds(struct dlock *lk)
{
	struct quick_poll *q = &lk->quick;

	if (!q->active)
		return 0;
	if (seconds_since(&q->until) >= 0 ||
	    (q->owner_here && !owner_alive(&q->owner))) {
		q->active = 0;
		return 0;
	}
	return 1;
}

/*
 * In a wait on a network filesystem, a lockfile is published by a link of
 * the temporary that the wait keeps (one operation), not by writing a new
 * one each time.  A link that fails with EEXIST is not read back here (see
 * publish_file()): the look that follows a whole try finds our nonce if
 * the link was made after all.  Returns as quick_try().
 */
int
wait_publish(struct dlock *lk)
{
	struct quick_poll *q = &lk->quick;
	int rc;

	if (!q->waiting || !lk->remote || lk->name_ops->kind != NAME_IS_RECORD ||
	    lk->publish_how != PUBLISH_NAMED)
		return 1;
	if (prepare(lk) < 0)
		return 1;
	rc = link(q->tmp, lk->path);
	if (rc == 0) {
		lk->published_at = q->tmp_at;
		q->linked = 1;
		return 0;
	}
	return errno == EEXIST ? -1 : 1;
}

/*
 * Whether the lock is still the file we linked it from the temporary (or
 * the unnamed file, kept_take()), which we keep a descriptor of: with the
 * temporary's name gone, the file's one name is the lock's.  No one else
 * links our file, and only a breaker removes its name: then the server
 * no longer has it.  One
 * question to the server, where reading the record back costs three.  A
 * file with more names (a filesystem that counts names of its own) is
 * read back.  Locally the lock's name is looked at instead, and must
 * still be the kept file (kept_take()).  1 yes, 0 no, -1 when it cannot
 * be told this way.
 */
int
kept_still_ours(struct dlock *lk)
{
	struct quick_poll *q = &lk->quick;
	struct stat st;
	long links;

	if (!q->linked || q->tmp_fd < 0)
		return -1;
	if (q->kept_ino != 0) {
		if (lstat(lk->path, &st) < 0)
			return errno == ENOENT ? 0 : -1;
		return st.st_dev == q->kept_dev && st.st_ino == q->kept_ino;
	}
	links = names_of(q->tmp_fd);
	if (links < 0 || links > 1)
		return -1;
	return links == 1;
}

/* The descriptor of the unnamed file that a lock was published from, which
 * then has the one name, the lock's: kept as a wait's temporary is. */
void
kept_take(struct dlock *lk, int fd)
{
	struct quick_poll *q = &lk->quick;
	struct stat st;

	forget_prepared(q);
	/* Locally the release compares it with what the lock's name is:
	 * a lock renamed away by another program is no longer ours either.
	 * An inode is not reused while a descriptor keeps it. */
	if (!lk->remote) {
		if (fstat(fd, &st) < 0) {
			close(fd);
			return;
		}
		q->kept_dev = st.st_dev;
		q->kept_ino = st.st_ino;
	}
	q->tmp_fd = fd;
	q->linked = 1;
}

/* The descriptor of the file a lock was linked from goes with the lock. */
void
kept_drop(struct dlock *lk)
{
	int saved = errno;

	if (lk->quick.linked)
		forget_prepared(&lk->quick);
	errno = saved;
}

/*
 * Whether the lock's name is still there, by the file server's word: a
 * statx(2) with AT_STATX_FORCE_SYNC has the attributes of the name's file
 * fetched again, where an answer from the cached lookup (lstat, access)
 * could be believed for as long as the client caches the directory's
 * attributes (30 s and more over NFS).  A name removed meanwhile answers
 * ENOENT or ESTALE.  One operation, and nothing written: a mkdir poll
 * would otherwise publish an intent and remove it again each time.
 * Returns 1 when it is there, 0 when it may not be (the whole publish
 * tells).
 */
static int
name_still_there(const char *path)
{
	struct stat st;

	return statx_stat(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW |
	    STATX_FORCE_SYNC, STATX_TYPE_ONLY, &st) == 0;
}

/*
 * A poll of one operation (see quick_start()).  Returns 0 with the lock
 * taken, -1 with EWOULDBLOCK while it is held, -1 with errno on an error,
 * and 1 when a whole try must be made instead.
 */
int
quick_try(struct dlock *lk)
{
	struct quick_poll *q = &lk->quick;
	int rc;

	if (!q->waiting || !quick_holds(lk))
		return 1;
	rc = wait_publish(lk);
	/* The first try makes the lock at once: most locks are free. */
	if (rc == 1 && lk->name_ops->kind == NAME_HOLDS_RECORD && q->tried &&
	    name_still_there(lk->path)) {
		errno = EWOULDBLOCK;
		return -1;
	}
	q->tried = 1;
	if (rc == 1 && lk->name_ops->kind == NAME_HOLDS_RECORD &&
	    name_record(lk, 0) == 0) {
		clock_gettime(CLOCK_MONOTONIC, &lk->published_at);
		rc = lk->name_ops->publish(lk, q->record, (size_t)q->len);
	}
	if (rc == 0)
		return 0;
	if (rc < 0 && errno == EEXIST) {
		errno = EWOULDBLOCK;
		return -1;
	}
	/* Anything else (ESTALE, a filesystem without links): the whole try
	 * knows what to make of it. */
	q->active = 0;
	return 1;
}

/*
 * A wait begins, or may: the try before it is made as its tries are.  On
 * a network filesystem its first tries, for QUICK_FIRST_SECONDS, are the
 * one-operation polls of quick_try() with no look at the lock: a lock held
 * for a moment then passes on in about a round trip, where a look at its
 * record (three or four more) would often end after the release.  The
 * holder is judged once that time is out, so a stale lock is broken that
 * much later at the most.  A try that must not wait (-n) looks at once.
 */
#define QUICK_FIRST_SECONDS 0.05

void
quick_begin(struct dlock *lk)
{
	struct quick_poll *q = &lk->quick;

	clock_gettime(CLOCK_MONOTONIC, &q->began);
	q->waiting = 1;
	q->tried = 0;
	if (lk->remote) {
		deadline_set(&q->until, QUICK_FIRST_SECONDS);
		q->owner_here = 0;
		q->active = 1;
	}
}

/*
 * The end of a wait, or of a try that took the lock: the temporary goes.
 * If the lock was linked from it, its descriptor stays until the release
 * (kept_still_ours(), kept_drop()).
 */
void
quick_end(struct dlock *lk)
{
	struct quick_poll *q = &lk->quick;
	int saved = errno;

	if (q->linked) {
		if (q->tmp[0] != '\0')
			unlink(q->tmp);
		q->tmp[0] = '\0';
	} else {
		forget_prepared(q);
	}
	q->active = q->waiting = 0;
	q->len = 0;
	errno = saved;
}

/*
 * On a network filesystem the sleep between polls is an eighth of the
 * time waited so far (at least a millisecond, at most the cap): a lock
 * held for a moment is polled for often, for a moment, and one held long
 * costs the server little.  Locally the polls back off as backoff_ns()
 * says, and inotify wakes the waiters at each release.
 */
static long
name_delay(struct dlock *lk, unsigned int attempt, long cap_ns)
{
	long base;

	if (!lk->remote)
		return backoff_ns(attempt, cap_ns);
	base = (long)(seconds_since(&lk->quick.began) / 8 * 1e9);
	if (base < 1000000L)
		base = 1000000L;
	return jittered(base < cap_ns ? base : cap_ns);
}

/*
 * After a release that another waiter has already turned into its own
 * lock, a try would only cost a failed publish and a judgement of a lock
 * just made: when every waiter wakes at once, that is most of what they
 * spend.
 */
static int
try_unless_retaken(struct dlock *lk, int shared, int woken)
{
	struct stat st;

	if (woken && lstat(lk->path, &st) == 0) {
		errno = EWOULDBLOCK;
		return -1;
	}
	return name_try(lk, shared);
}

static const struct poll_steps name_steps = {
	.try_lock = try_unless_retaken,
	.pause = pause_between_polls,
	.delay = name_delay,
};

/* The watch is set before the first try, so that no release is missed. */
int
name_wait(struct dlock *lk, int shared, const struct timespec *deadline)
{
	int rc;

#ifdef __linux__
	/*
	 * One watch for the handle's life: closing an inotify descriptor
	 * waits for the kernel to tear its watch down, a millisecond or
	 * more that would fall between taking the lock and returning.
	 */
	if (lk->watch < 0)
		lk->watch = watch_releases(lk);
	else
		drain(lk->watch);
#endif
	if (!lk->quick.waiting)
		quick_begin(lk);
	rc = wait_polling(lk, shared, deadline, lk->poll_cap_ns, NULL,
	    &name_steps);
	quick_end(lk);
	return rc;
}
