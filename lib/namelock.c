/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "probe.h"

/*
 * The engine shared by the methods that hold a lock by a name that exists
 * (lockfile, mkdir): taking it with its owner record, judging and breaking
 * a stale one, waiting, refreshing the lease and releasing.
 */

/* Polls back off to this on a local filesystem, where inotify also
 * wakes a waiter at each release, and to the larger one on a network
 * filesystem, where each poll is a round trip to the server: a wait of
 * minutes costs it two operations a second, and a release is seen in a
 * quarter of a second on average (see namewait.c). */
#define LOCAL_POLL_CAP_NS (25 * 1000000L)
#define NETWORK_POLL_CAP_NS (500 * 1000000L)

/* statfs(2)'s f_type of NFS (NFS_SUPER_MAGIC). */
#define NFS_MAGIC 0x6969UL

char *
joined(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s;

	if (la + lb + 1 > PATH_MAX) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	s = malloc(la + lb + 1);
	if (s == NULL)
		return NULL;
	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

static char *
directory_of(const char *path)
{
	char dir[PATH_MAX];

	return parent_dir(path, dir, sizeof(dir)) < 0 ? NULL : strdup(dir);
}

static int name_release(struct dlock *lk);

/* lk->name_ops is set (lock.c): the method's own part. */
static int
name_prepare(struct dlock *lk)
{
	const struct name_ops *ops = lk->name_ops;
	struct lock_look look;
	struct statfs sfs;

	lk->watch = -1;
	if (lk->start != 0 || lk->length != 0) {
		errno = EINVAL;
		return -1;
	}
	lk->record_path = ops->kind == NAME_HOLDS_RECORD ?
	    joined(lk->path, "/" MKDIR_RECORD_NAME) : strdup(lk->path);
	lk->break_path = joined(lk->path, ".break");
	lk->intent_path = joined(lk->path, ".intent");
	lk->aside_path = joined(lk->path, ".released");
	lk->dir = directory_of(lk->path);
	if (lk->record_path == NULL || lk->break_path == NULL ||
	    lk->intent_path == NULL || lk->aside_path == NULL ||
	    lk->dir == NULL)
		goto fail;
	if (record_self(&lk->self, dlock_method_name(lk->method), 0) < 0)
		goto fail;
	/* Network filesystems have no unnamed files (O_TMPFILE): each
	 * refused try would be a round trip to the server. */
	if (statfs(lk->dir, &sfs) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			goto fail;
		sfs.f_type = 0;
	}
	if (probe_local_fstype((unsigned long)sfs.f_type) != NULL) {
		lk->poll_cap_ns = LOCAL_POLL_CAP_NS;
	} else {
		lk->poll_cap_ns = NETWORK_POLL_CAP_NS;
		lk->publish_how = PUBLISH_NAMED;
		lk->remote = 1;
		lk->over_nfs = (unsigned long)sfs.f_type == NFS_MAGIC;
	}
	/* Refuse another method's lock, or a missing directory, up front. */
	if (look_at_lock(lk, &look) < 0 && errno != EACCES)
		goto fail;
	if (look.kind_mismatch) {
		errno = look.kind_mismatch;
		goto fail;
	}
	/* No access() check of the directory: the first publish answers
	 * EACCES or EROFS itself, one round trip fewer. */
	return 0;
fail:
	name_release(lk);
	return -1;
}

/*
 * Our record, in lk->quick.record, stamped with the time of now; with a
 * new nonce for each lock, the same one for all the tries of one wait.
 */
int
name_record(struct dlock *lk, int new_nonce)
{
	struct quick_poll *q = &lk->quick;
	int len;

	if (new_nonce && record_nonce(lk->self.nonce) < 0)
		return -1;
	lk->self.time = (int64_t)time(NULL);
	len = record_format(&lk->self, q->record, sizeof(q->record));
	q->len = len < 0 ? 0 : len;
	return len < 0 ? -1 : 0;
}

/*
 * A lock judged alive by its lease cannot turn stale before the lease
 * runs out, so it is not judged again (a file created on the server each
 * time) until then, unless it changes.
 */
static int
judged_recently(struct dlock *lk, const struct lock_look *look)
{
	struct timespec left;

	return same_lock(&lk->judged, look) &&
	    deadline_left(&lk->rejudge_at, &left);
}

static void
remember_judgement(struct dlock *lk, const struct lock_look *look,
    const struct dlock_status *verdict)
{
	if (verdict->state == DLOCK_UNKNOWN && verdict->age >= 0) {
		lk->judged = *look;
		deadline_set(&lk->rejudge_at, lk->stale - verdict->age);
	} else {
		lk->judged.exists = 0;
	}
}

/*
 * Why a lock found at the path is not one this method may judge: a
 * directory or file of the other name method, a record naming another
 * method, or an empty file that a kernel-lock method holds right now.
 */
static int
foreign_lock(struct dlock *lk, const struct lock_look *look)
{
	if (look->kind_mismatch)
		return look->kind_mismatch;
	if (look->parsed && look->owner.kind == DLOCK_RECORD_V1 &&
	    strcmp(look->owner.method, lk->self.method) != 0)
		return EPROTO;
	if (look->parsed && look->owner.kind == DLOCK_RECORD_EMPTY &&
	    lk->name_ops->kind == NAME_IS_RECORD && kernel_lock_present(lk->path))
		return EPROTO;
	if (!look->has_record_file && lk->name_ops->kind == NAME_HOLDS_RECORD &&
	    kernel_lock_present(lk->path))
		return EPROTO;
	return 0;
}

/* How long an empty file may stand at the path before auto gives up on
 * it: one being written, or left by a locker falling back, is gone in
 * milliseconds. */
#define EMPTY_GRACE_SECONDS 3.0

/*
 * An empty file at the path, for a lockfile that auto chose.  It may be a
 * legacy lockfile (procmail, lockfile-progs), but it may as well be the
 * lock file of a kernel-lock method (dlock's fcntl or flock, flock(1)) on
 * a host whose kernel locks work: kernel locks on this mount are local or
 * missing, so no look from here can tell whether it is held, and judged
 * by its age it would be broken under a holder.  So it is waited for
 * while it may be one being written, and then refused (EEXIST); -m
 * lockfile says it is a legacy lockfile, judged by its age.  Returns 0
 * when the file is not such a case, else the errno to fail with.
 */
static int
empty_file_verdict(struct dlock *lk, const struct lock_look *look)
{
	struct timespec now;
	double seen_for;

	if (!lk->by_auto || !look->parsed ||
	    look->owner.kind != DLOCK_RECORD_EMPTY ||
	    lk->name_ops->kind != NAME_IS_RECORD)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!same_lock(&lk->empty, look)) {
		lk->empty = *look;
		lk->empty_since = now;
		return EWOULDBLOCK;
	}
	seen_for = (double)(now.tv_sec - lk->empty_since.tv_sec) +
	    (double)(now.tv_nsec - lk->empty_since.tv_nsec) / 1e9;
	return seen_for < EMPTY_GRACE_SECONDS ? EWOULDBLOCK : EEXIST;
}

/*
 * The lock is ours, its lease begun at published_at (CLOCK_MONOTONIC):
 * the same moment on CLOCK_BOOTTIME starts the lease dlock_lost() keeps.
 */
static void
took_lock(struct dlock *lk)
{
	struct timespec mono, boot;
	long long ns;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	ns = (long long)(boot.tv_sec - mono.tv_sec + lk->published_at.tv_sec) *
	    1000000000LL + boot.tv_nsec - mono.tv_nsec +
	    lk->published_at.tv_nsec;
	lk->renewed_at.tv_sec = (time_t)(ns / 1000000000LL);
	lk->renewed_at.tv_nsec = (long)(ns % 1000000000LL);
	lk->held = LOCK_EX;
	lk->lost = 0;
}

/*
 * No lock can be created here by this user (EACCES): and if the lock
 * there is stale, or has a record this user may not read, it is one this
 * user can do nothing about either (EPERM), which says more.
 */
static int
fail_unless_stale(struct dlock *lk)
{
	struct dlock_status verdict;
	struct lock_look look;

	memset(&verdict, 0, sizeof(verdict));
	if (look_at_lock(lk, &look) < 0)
		errno = errno == EACCES ? EPERM : EACCES;
	else
		errno = look.exists && !foreign_lock(lk, &look) &&
		    judge_lock(lk, &look, &verdict) == DLOCK_DEAD ?
		    EPERM : EACCES;
	return -1;
}

int
name_try(struct dlock *lk, int shared)
{
	struct quick_poll *q = &lk->quick;
	struct dlock_status verdict;
	struct lock_look look;
	int round, err;

	if (shared) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (lk->held) {
		errno = EDEADLK;
		return -1;
	}
	err = quick_try(lk);
	if (err != 1) {
		if (err == 0)
			took_lock(lk);
		return err;
	}
	/* The record of a wait's temporary stays as it was written. */
	if (q->tmp[0] == '\0' &&
	    name_record(lk, !q->waiting || q->len == 0) < 0)
		return -1;
	/* A second round only after a stale lock was removed. */
	for (round = 0; round < 2; round++) {
		err = wait_publish(lk);
		if (err == 1) {
			clock_gettime(CLOCK_MONOTONIC, &lk->published_at);
			err = lk->name_ops->publish(lk, q->record,
			    (size_t)q->len);
		}
		if (err == 0) {
			took_lock(lk);
			lk->judged.exists = 0;
			return 0;
		}
		/* ESTALE: another client of a network filesystem just
		 * removed or replaced a name we had cached; EWOULDBLOCK:
		 * a process of this host is making the lock (intent.c). */
		if (errno == ESTALE || errno == EWOULDBLOCK)
			break;
		if (errno == EACCES)
			return fail_unless_stale(lk);
		if (errno != EEXIST)
			return -1;
		if (look_at_lock(lk, &look) < 0) {
			if (errno == ESTALE)
				break;
			/* A record this user may not read: its holder can
			 * never be judged from here, so waiting is vain. */
			if (errno == EACCES)
				errno = EPERM;
			return -1;
		}
		if (!look.exists)
			continue;
		/* A poll's link that reported EEXIST over NFS although it
		 * was made (a retransmission): the lease began with the
		 * temporary. */
		if (q->tmp[0] != '\0' && lock_is_ours(lk, &look)) {
			lk->published_at = q->tmp_at;
			took_lock(lk);
			return 0;
		}
		err = foreign_lock(lk, &look);
		if (err == 0)
			err = empty_file_verdict(lk, &look);
		if (err == EWOULDBLOCK)
			break;
		if (err != 0) {
			errno = err;
			return -1;
		}
		if (judged_recently(lk, &look)) {
			quick_start(lk, &look, NULL);
			break;
		}
		memset(&verdict, 0, sizeof(verdict));
		if (judge_lock(lk, &look, &verdict) != DLOCK_DEAD) {
			remember_judgement(lk, &look, &verdict);
			quick_start(lk, &look, &verdict);
			break;
		}
		if (break_if_unchanged(lk, &look, 0) < 0 &&
		    errno != EWOULDBLOCK && errno != ECANCELED &&
		    errno != EBUSY && errno != ESTALE) {
			/* Stale, and not this user's to remove: it can
			 * never become free for us, so waiting is vain. */
			if (errno == EACCES)
				errno = EPERM;
			return -1;
		}
	}
	errno = EWOULDBLOCK;
	return -1;
}

static int
unpublish(struct dlock *lk)
{
	return lk->name_ops->unpublish(lk);
}

/*
 * Whether no participant can have judged our lock stale yet.  On this
 * host a judge asks whether our pid lives, and it does.  Elsewhere a judge
 * goes by the lock's age on the server's clock, and the server stamped the
 * lock after published_at: so while our own monotonic clock says that less
 * than the lease has passed since then, with a margin for the two clocks'
 * rates and a step of the server's, the lock is fresh to every judge that
 * uses the same lease.  A judge with a shorter lease, or dlock break
 * --force, can take a live lock away at any time: that lets two holders
 * in whatever the release does.
 */
static double
seconds_on(clockid_t clock, const struct timespec *since)
{
	struct timespec now;

	clock_gettime(clock, &now);
	return (double)(now.tv_sec - since->tv_sec) +
	    (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

static double
lease_margin(const struct dlock *lk)
{
	return 1 + lk->stale / 10;
}

static int
lease_is_fresh(const struct dlock *lk)
{
	double elapsed = seconds_on(CLOCK_MONOTONIC, &lk->published_at);

	return elapsed >= 0 && elapsed < lk->stale - lease_margin(lk);
}

/*
 * The same judgement from the last refresh that got through, on the
 * clock that counts a suspended machine's sleep: a holder that slept or
 * could not reach the file server for that long must take its lock for
 * lost before any judge can take it for stale.
 */
int
name_lease_ran_out(const struct dlock *lk)
{
	double elapsed = seconds_on(CLOCK_BOOTTIME, &lk->renewed_at);

	return elapsed < 0 || elapsed >= lk->stale - lease_margin(lk);
}

/* Ends a lock found lost: the next operation on it fails. */
static int
fail_lost(struct dlock *lk, int still_held)
{
	lk->lost = 1;
	lk->held = still_held ? lk->held : 0;
	errno = DLOCK_ELOST;
	return -1;
}

/*
 * Whether the record at the lock path is still ours: it is read without
 * a look at the path first, because we published a regular file there
 * and only its owner or a breaker can have replaced it.
 */
static int
record_still_ours(struct dlock *lk)
{
	char buf[DLOCK_RECORD_MAX + 1];
	struct dlock_owner owner;
	ssize_t n;
	int fd, saved;

	fd = open(lk->record_path,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESTALE || errno == ELOOP ?
		    0 : -1;
	n = read_full(fd, buf, sizeof(buf));
	saved = errno;
	close(fd);
	if (n < 0) {
		errno = saved;
		return saved == EISDIR ? 0 : -1;
	}
	return (size_t)n <= DLOCK_RECORD_MAX &&
	    record_parse(buf, (size_t)n, &owner) == 0 &&
	    owner.kind == DLOCK_RECORD_V1 &&
	    strcmp(owner.nonce, lk->self.nonce) == 0;
}

/*
 * A release within the lease needs no breaker lock: no one can be
 * breaking our lock as stale (lease_is_fresh), so what we read is what we
 * remove.  After the lease the breaker lock makes the check and the
 * removal one step against waiters who judge the lock stale.
 */
static int
name_unlock(struct dlock *lk)
{
	int ours;

	/* A lock whose lease ran out is still removed if it is provably
	 * ours, but its holder learns that it was not held throughout. */
	if (lk->lost) {
		lk->lost = 0;
		if (lk->held && with_own_lock(lk, unpublish) < 0 &&
		    errno != DLOCK_ELOST) {
			lk->lost = 1;
			return -1;
		}
		lk->held = 0;
		kept_drop(lk);
		errno = DLOCK_ELOST;
		return -1;
	}
	if (!lk->held)
		return 0;
	if (!lease_is_fresh(lk)) {
		if (with_own_lock(lk, unpublish) < 0)
			return -1;
		lk->held = 0;
		kept_drop(lk);
		return 0;
	}
	/* A lock linked from a temporary whose descriptor we kept is asked
	 * after in one round trip (namewait.c); any other is read back. */
	ours = kept_still_ours(lk);
	if (ours < 0)
		ours = record_still_ours(lk);
	if (ours < 0)
		return -1;
	if (!ours) {
		lk->held = 0;
		kept_drop(lk);
		errno = DLOCK_ELOST;
		return -1;
	}
	if (unpublish(lk) < 0)
		return -1;
	lk->held = 0;
	kept_drop(lk);
	return 0;
}

static int
name_release(struct dlock *lk)
{
	int rc = 0, saved;

	if (lk->held || lk->lost)
		rc = name_unlock(lk);
	saved = errno;
	quick_end(lk);
	kept_drop(lk);
	if (lk->watch >= 0)
		close(lk->watch);
	lk->watch = -1;
	free(lk->record_path);
	free(lk->break_path);
	free(lk->intent_path);
	free(lk->aside_path);
	free(lk->dir);
	lk->record_path = lk->break_path = lk->dir = NULL;
	lk->intent_path = lk->aside_path = NULL;
	errno = saved;
	return rc;
}

/*
 * The lease: the mtime of our record file, set by the file server's clock
 * (a NULL time asks the server for its own).  The descriptor is of the file
 * we checked, so a lock replaced meanwhile is never touched.
 */
static int
name_heartbeat(struct dlock *lk)
{
	struct lock_look look;
	struct timespec asked;
	int fd, rc, saved;

	if (lk->lost)
		return fail_lost(lk, 1);
	if (!lk->held)
		return 0;
	if (name_lease_ran_out(lk))
		return fail_lost(lk, 1);
	/* Before the call: the server stamps the lease after this. */
	clock_gettime(CLOCK_BOOTTIME, &asked);
	fd = open(lk->record_path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		return -1;
	/* A look that failed (an NFS hiccup) proves nothing: not lost. */
	if (fd >= 0 && look_at_lock(lk, &look) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (fd < 0 || !lock_is_ours(lk, &look)) {
		if (fd >= 0)
			close(fd);
		return fail_lost(lk, 0);
	}
	rc = futimens(fd, NULL);
	saved = errno;
	close(fd);
	if (rc == 0)
		lk->renewed_at = asked;
	errno = saved;
	return rc;
}

/*
 * Over NFS a lockfile's record, which is the lock itself, is rewritten in
 * place, never replaced by a rename.  There a rename onto a name that
 * other processes of the client are using at that moment is made in two
 * steps: the file there is first renamed aside (silly-renamed), then ours
 * is renamed in, and in between the name is free.  A waiter on another
 * host may take it then, and the second step replaces its lock with
 * ours, both of us holding it.  Written in place, the lock never goes:
 * a reader finds the record as it was or as it is now, or, if it reads
 * while the write lands, one it cannot read whole, which is judged alive
 * (stale.c).  The holder itself reads its record only after the rewrite,
 * which it makes with the breaker held.  Elsewhere, where a rename is one
 * step, the record is replaced whole, and readers never see part of it.
 */
static int
rewrite_in_place(struct dlock *lk, const char *record, size_t len)
{
	struct stat st;
	int fd, rc, saved;

	fd = open(lk->record_path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = write_all(fd, record, len);
	/* Shorter than before (a child forgotten): cut what was after it. */
	if (rc == 0 && fstat(fd, &st) == 0 && st.st_size > (off_t)len)
		rc = ftruncate(fd, (off_t)len);
	saved = errno;
	if (close(fd) < 0 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	errno = saved;
	return rc;
}

/*
 * Writes lk->self over our record, with the breaker held.  Elsewhere
 * than in place (above), the new record is written beside the lock, under
 * a name of the breaker's, and renamed into place: never written inside a
 * mkdir lock, where a copy left by a holder killed before the rename
 * would keep the directory from ever being removed.  One name per lock,
 * so such a leftover is not joined by more.  A rename inside a mkdir lock
 * frees no lock even over NFS: the directory is the lock, and it stands
 * meanwhile.
 */
int
rewrite_record(struct dlock *lk)
{
	char record[DLOCK_RECORD_MAX + 1], *tmp;
	int len, fd, rc, saved;

	len = record_format(&lk->self, record, sizeof(record));
	if (len < 0)
		return -1;
	if (lk->name_ops->kind == NAME_IS_RECORD && lk->over_nfs)
		return rewrite_in_place(lk, record, (size_t)len);
	tmp = joined(lk->break_path, ".new");
	if (tmp == NULL)
		return -1;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    lk->mode & 0666);
	rc = fd < 0 ? -1 : write_all(fd, record, (size_t)len);
	rc = replace_with(fd, rc, tmp, lk->record_path);
	saved = errno;
	free(tmp);
	/* The lock is another file now: the descriptor kept of the one it
	 * was linked from says nothing of it (namewait.c). */
	if (rc == 0)
		kept_drop(lk);
	errno = saved;
	return rc;
}

static int
name_set_child(struct dlock *lk, pid_t child)
{
	lk->self.child = child;
	if (child == 0 || proc_start_time(child, &lk->self.child_start) < 0)
		lk->self.child_start = 0;
	/* Before the lock is taken, the record it is published with will
	 * name the child: one write instead of two. */
	if (!lk->held)
		return 0;
	return with_own_lock(lk, rewrite_record);
}

const struct dlock_ops name_lock_ops = {
	.prepare = name_prepare,
	.try_lock = name_try,
	.wait_lock = name_wait,
	.unlock = name_unlock,
	.release = name_release,
	.heartbeat = name_heartbeat,
	.set_child = name_set_child,
};
