/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/*
 * The breaker lock, LOCKPATH.break, serializes everything that removes a
 * lock: breaking a stale one and releasing one's own.  Without it, two
 * waiters could both judge a lock stale, and the second would delete the
 * lock the first had just taken; or a holder broken while paused would,
 * on waking, delete its successor's lock.  It is held for milliseconds,
 * so one older than BREAKER_STALE belonged to a process that died.
 */

#define BREAKER_STALE 30

/*
 * The clear lock is held for the microseconds between a check and an
 * unlink, so one older than this was left by a process killed there.
 * Judging it by BREAKER_STALE would hold up every breaker, and with it
 * every release past the lease and every fencing token of the lock, for
 * half a minute.
 */
#define CLEAR_STALE 2

/*
 * The breaker appears with its record already in it (publish.c), so a
 * process killed at any moment leaves a breaker that names it, which
 * clear_dead_breaker() removes at once, never an empty one that only its
 * age could clear.
 */
static int
create_breaker(struct dlock *lk, ino_t *ino)
{
	char record[DLOCK_RECORD_MAX + 1];
	struct stat st;
	int len;

	len = record_format(&lk->self, record, sizeof(record));
	if (len < 0)
		return -1;
	if (publish_file(lk->dir, lk->break_path, record, (size_t)len,
	    lk->mode, &lk->publish_how, &st) < 0)
		return -1;
	*ino = st.st_ino;
	return 0;
}

/*
 * Whether the breaker lock open at fd (whose stat is st) was left by a
 * process that died holding it.  One held longer than BREAKER_STALE was.
 * One whose record names a process of this host that is gone was too, at
 * once: a holder killed while releasing must not hold up every waiter and
 * the next release for BREAKER_STALE seconds.  The breaker is held by the
 * process itself, never by its command, so the child is left out.
 */
static int
breaker_is_dead(struct dlock *lk, int fd, const struct stat *st)
{
	char buf[DLOCK_RECORD_MAX + 1];
	struct dlock_status verdict;
	struct lock_look look;
	struct timespec now;
	ssize_t n;
	int dated = server_now(lk->dir, &now) == 0;

	if (dated && now.tv_sec - st->st_mtim.tv_sec > BREAKER_STALE)
		return 1;
	memset(&look, 0, sizeof(look));
	n = pread(fd, buf, sizeof(buf), 0);
	/* Created in place (no hard links here) and never written: its
	 * maker was killed between the two calls. */
	if (n == 0 && dated && now.tv_sec - st->st_mtim.tv_sec > 1)
		return 1;
	if (n <= 0 || record_parse(buf, (size_t)n, &look.owner) < 0 ||
	    look.owner.kind != DLOCK_RECORD_V1 ||
	    strcmp(look.owner.host, lk->self.host) != 0)
		return 0;
	look.exists = look.parsed = look.has_record_file = 1;
	look.dev = st->st_dev;
	look.ino = st->st_ino;
	look.mtime = st->st_mtim;
	look.owner.child = 0;
	memset(&verdict, 0, sizeof(verdict));
	/* Dead by its pid, or by a reboot; never by the lock's lease. */
	return judge_lock(lk, &look, &verdict) == DLOCK_DEAD && verdict.age < 0;
}

/*
 * Removes a breaker lock left by a process that died holding it.  Checking
 * and unlinking are two steps, so two processes clearing one dead breaker
 * could have the second unlink the live breaker the first has just
 * created.  Clearing is therefore serialized by LOCKPATH.break.clear
 * (held for microseconds; one left by a death is cleared by its age), and
 * the dead breaker stays open meanwhile, so that its inode number cannot
 * pass to a new file.  Fails with EPERM when the dead breaker is not this
 * user's to remove: no one of this user can break or release until
 * someone who may removes it.
 */
static int
clear_dead_breaker(struct dlock *lk)
{
	char clear[PATH_MAX];
	struct timespec now;
	struct stat st, again;
	int fd, cfd, n, rc = 0;

	n = snprintf(clear, sizeof(clear), "%s.clear", lk->break_path);
	if (n < 0 || (size_t)n >= sizeof(clear))
		return 0;
	fd = open(lk->break_path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !breaker_is_dead(lk, fd, &st)) {
		close(fd);
		return 0;
	}
	cfd = open(clear, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    lk->mode & 0666);
	if (cfd < 0) {
		if (errno == EEXIST && lstat(clear, &again) == 0 &&
		    server_now(lk->dir, &now) == 0 &&
		    now.tv_sec - again.st_mtim.tv_sec > CLEAR_STALE)
			unlink(clear);
		close(fd);
		return 0;
	}
	close(cfd);
	if (lstat(lk->break_path, &again) == 0 && again.st_ino == st.st_ino &&
	    again.st_dev == st.st_dev && unlink(lk->break_path) < 0 &&
	    (errno == EPERM || errno == EACCES))
		rc = -1;
	unlink(clear);
	close(fd);
	if (rc < 0)
		errno = EPERM;
	return rc;
}

/* One attempt; EWOULDBLOCK while another process holds it. */
static int
breaker_take(struct dlock *lk, ino_t *ino)
{
	if (create_breaker(lk, ino) == 0)
		return 0;
	/* ESTALE: a breaker another client just dropped, still cached. */
	if (errno == ESTALE)
		errno = EWOULDBLOCK;
	if (errno != EEXIST)
		return -1;
	if (clear_dead_breaker(lk) < 0)
		return -1;
	if (create_breaker(lk, ino) == 0)
		return 0;
	if (errno == EEXIST || errno == ESTALE)
		errno = EWOULDBLOCK;
	return -1;
}

/*
 * Waits for the breaker as long as one can be held, and a little more:
 * by then a holder that died has left one that clear_dead_breaker removes.
 */
static int
breaker_take_waiting(struct dlock *lk, ino_t *ino)
{
	struct timespec deadline;
	unsigned int attempt = 0;

	deadline_set(&deadline, BREAKER_STALE + 10);
	for (;;) {
		struct timespec left;

		if (breaker_take(lk, ino) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -1;
		if (!deadline_left(&deadline, &left)) {
			errno = ETIMEDOUT;
			return -1;
		}
		sleep_up_to(-1, &deadline, backoff_ns(++attempt, 5 * 1000000L),
		    NULL);
	}
}

static void
breaker_drop(struct dlock *lk, ino_t ino)
{
	struct stat st;
	int saved = errno;

	if (lstat(lk->break_path, &st) == 0 && st.st_ino == ino)
		unlink(lk->break_path);
	errno = saved;
}

/* What is done with the breaker held, on a fresh look at the lock. */
struct breaker_job {
	const struct lock_look *judged;	/* break: the lock judged stale */
	int force;			/* break: alive or not */
	int (*fn)(struct dlock *);	/* with_own_lock(): what to do */
	int by_age;			/* what is removed may be judged
					   by its age */
};

/*
 * Takes the breaker (waiting for it, or failing with EWOULDBLOCK), looks
 * at the lock and runs act on that look; returns as act(), errno kept.
 * A job that may judge by age reads the server's clock first, and ages
 * are counted to then (stale.c): what the look shows was at least that
 * old, however long the judge is paused before it acts.
 */
static int
with_breaker(struct dlock *lk, int wait, const struct breaker_job *job,
    int (*act)(struct dlock *, const struct lock_look *,
    const struct breaker_job *))
{
	struct lock_look now;
	ino_t ino;
	int rc, err;

	if ((wait ? breaker_take_waiting(lk, &ino) : breaker_take(lk, &ino)) < 0)
		return -1;
	lk->looked_after_set = job->by_age &&
	    server_now(lk->dir, &lk->looked_after) == 0;
	rc = look_at_lock(lk, &now) < 0 ? -1 : act(lk, &now, job);
	err = errno;
	lk->looked_after_set = 0;
	breaker_drop(lk, ino);
	errno = err;
	return rc;
}

static int
fail_with(int err)
{
	errno = err;
	return -1;
}

static int remove_judged(struct dlock *lk, const struct lock_look *now);

/*
 * Removes the intent beside the lock if its owner is dead (intent.c).
 * Called with the breaker held: the owner of a dead intent removes
 * nothing, a live owner removes by its name only an intent surely its
 * own, and everyone else removes an intent only here, so the intent
 * cannot change between the judgement and the unlink.
 */
static void
drop_dead_intent(struct dlock *lk)
{
	struct intent_look now;
	char why[160];

	if (look_at_intent(lk, &now) == 0 && now.exists &&
	    judge_intent(lk, &now, 1, why, sizeof(why)) == DLOCK_DEAD &&
	    unlink(lk->intent_path) == 0)
		sweep_leftovers(lk);
}

static int
drop_intent(struct dlock *lk, const struct lock_look *now,
    const struct breaker_job *job)
{
	struct dlock_status verdict;

	(void)job;
	memset(&verdict, 0, sizeof(verdict));
	/* The intent is the only word on a lock made with it and left with
	 * no record: such a lock goes with it (see break_it()). */
	if (now->exists && !now->kind_mismatch && intent_made_lock(now) &&
	    judge_lock(lk, now, &verdict) == DLOCK_DEAD)
		return remove_judged(lk, now);
	drop_dead_intent(lk);
	return 0;
}

/*
 * Removes an intent left by a dead process, and the lock it was making if
 * that has no record.  Fails with EWOULDBLOCK while another process
 * breaks or releases.
 */
int
clear_intent_if_dead(struct dlock *lk)
{
	struct breaker_job job = { .by_age = 1 };

	return with_breaker(lk, 0, &job, drop_intent);
}

static int
drop_intent_if_ours(struct dlock *lk, const struct lock_look *now,
    const struct breaker_job *job)
{
	struct intent_look seen;

	(void)now;
	(void)job;
	if (look_at_intent(lk, &seen) == 0 && seen.exists && seen.parsed &&
	    strcmp(seen.owner.nonce, lk->self.nonce) == 0)
		unlink(lk->intent_path);
	return 0;
}

/*
 * Removes the intent if it holds our record (intent.c: one that may no
 * longer be ours by its name alone).  With the breaker held no judge
 * removes it between the look and the unlink, and no one publishes
 * another under the name while it stands.  If the breaker is busy, the
 * intent stays, for whoever finds its owner gone.
 */
void
drop_own_intent(struct dlock *lk)
{
	struct breaker_job job = { .force = 0 };

	(void)with_breaker(lk, 0, &job, drop_intent_if_ours);
}

static int
break_it(struct dlock *lk, const struct lock_look *now,
    const struct breaker_job *job)
{
	struct dlock_status verdict;

	if (!same_lock(job->judged, now))
		return fail_with(ECANCELED);
	if (!job->force && judge_lock(lk, now, &verdict) != DLOCK_DEAD)
		return fail_with(EBUSY);
	return remove_judged(lk, now);
}

/* Removes the lock in *now, judged stale with the breaker held. */
static int
remove_judged(struct dlock *lk, const struct lock_look *now)
{
	/* A file or directory with no record of ours may be the lock of a
	 * kernel-lock method (flock(1) locks directories too). */
	if (!(now->parsed && now->owner.kind == DLOCK_RECORD_V1) &&
	    kernel_lock_present(lk->path))
		return fail_with(EPROTO);
	if (lk->name_ops->unpublish(lk) == 0) {
		drop_dead_intent(lk);
		sweep_leftovers(lk);
		return 0;
	}
	/* Gone already: released through another client of a network
	 * filesystem whose cache still showed it here. */
	if (errno == ENOENT || errno == ESTALE)
		errno = ECANCELED;
	return -1;
}

/*
 * Removes the lock judged stale in *judged, if it is still that lock and
 * still stale (or force).  Fails with EWOULDBLOCK when another process is
 * breaking or releasing, ECANCELED when the lock changed meanwhile, EBUSY
 * when it is alive after all, EPROTO when it is another method's file.
 */
int
break_if_unchanged(struct dlock *lk, const struct lock_look *judged, int force)
{
	struct breaker_job job = { .judged = judged, .force = force,
	    .by_age = !force };

	return with_breaker(lk, 0, &job, break_it);
}

static int
run_if_ours(struct dlock *lk, const struct lock_look *now,
    const struct breaker_job *job)
{
	if (!lock_is_ours(lk, now)) {
		lk->held = 0;
		return fail_with(DLOCK_ELOST);
	}
	return job->fn(lk);
}

/* Runs fn on a lock of ours with the breaker held: release, rewrite. */
int
with_own_lock(struct dlock *lk, int (*fn)(struct dlock *))
{
	struct breaker_job job = { .fn = fn };

	return with_breaker(lk, 1, &job, run_if_ours);
}
