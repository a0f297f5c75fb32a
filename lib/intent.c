/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * The intent, LOCKPATH.intent: a file beside the lock that names the
 * would-be owner while it makes a lock that cannot appear whole in one
 * step.  A mkdir lock is a directory with no record in it until one is
 * put there; a lockfile created in place, where the filesystem has no
 * hard links, is empty until it is written.  A process killed in between
 * would leave a lock that only its age could clear.  So the intent is
 * published whole first, with our record, and removed once the lock holds
 * its record: a lock with no complete record, made just after the intent
 * of a process of this host, is being written while that process lives
 * and is stale at once when it is gone (stale.c).
 *
 * The intent does not exclude anyone: the lock does.  A contender that
 * finds an intent it cannot judge makes the lock without one, and a lock
 * it then leaves unfinished is judged by its age, as one made by a shell
 * `mkdir` is.
 */

/*
 * How long after the intent its lock may be made and still be taken for
 * the intent's.  The maker makes the lock right after publishing the
 * intent: one call, a round trip on a network filesystem.  A lock made
 * later is someone else's, made after the intent's owner died, and the
 * intent says nothing about it.  Both times are the file server's.
 */
#define INTENT_WINDOW_NS (2 * 1000000000LL)

/* How long after its publication our intent is still surely ours to
 * link (intent_link()). */
#define INTENT_TRUST_SECONDS 10.0

static long long
ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* Whether the lock in look was made by the owner of the intent beside it. */
int
intent_made_lock(const struct lock_look *look)
{
	long long after;

	if (!look->intent.exists || !look->intent.parsed)
		return 0;
	after = ns(&look->made) - ns(&look->intent.mtime);
	return after >= 0 && after <= INTENT_WINDOW_NS;
}

/* Reads the file at path as an intent: intent.c's, or a temporary file
 * holding a record (sweep.c). */
int
look_at_record_file(const char *path, struct intent_look *intent)
{
	char buf[DLOCK_RECORD_MAX + 1];
	struct stat st;
	ssize_t n;
	int fd;

	memset(intent, 0, sizeof(*intent));
	fd = open(path,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESTALE ? 0 : -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		/* Not a file of ours: it names no one. */
		close(fd);
		return 0;
	}
	n = read_full(fd, buf, sizeof(buf));
	close(fd);
	intent->exists = 1;
	intent->dev = st.st_dev;
	intent->ino = st.st_ino;
	intent->mtime = st.st_mtim;
	intent->parsed = n > 0 && (size_t)n <= DLOCK_RECORD_MAX &&
	    record_parse(buf, (size_t)n, &intent->owner) == 0 &&
	    intent->owner.kind == DLOCK_RECORD_V1;
	if (!intent->parsed)
		memset(&intent->owner, 0, sizeof(intent->owner));
	return 0;
}

int
look_at_intent(struct dlock *lk, struct intent_look *intent)
{
	return look_at_record_file(lk->intent_path, intent);
}

/*
 * Whether a lock made now could be taken for the one the owner of the
 * intent seen was making (intent_made_lock()), with a second's margin for
 * the server's clock.  A lock made beside such an intent without one of
 * our own would be judged by it: stale as soon as that owner is found
 * dead, under us.
 */
static int
intent_may_claim(struct dlock *lk, const struct intent_look *seen)
{
	struct timespec now;

	/* One with no record yet names no one, and claims nothing. */
	if (!seen->parsed)
		return 0;
	return server_now(lk->dir, &now) < 0 ||
	    ns(&now) - ns(&seen->mtime) <= INTENT_WINDOW_NS + 1000000000LL;
}

int
intent_publish(struct dlock *lk, const char *record, size_t len)
{
	struct intent_look seen;
	char why[160];
	int round;

	memset(&seen, 0, sizeof(seen));
	for (round = 0; round < 2; round++) {
		clock_gettime(CLOCK_MONOTONIC, &lk->intent_at);
		if (publish_early(lk->dir, lk->intent_path, record, len,
		    lk->mode, &lk->publish_how) == 0)
			return 1;
		if (errno == ESTALE)
			return 0;
		if (errno != EEXIST)
			return -1;
		if (look_at_intent(lk, &seen) < 0)
			return 0;
		if (!seen.exists)
			continue;
		switch (judge_intent(lk, &seen, 1, why, sizeof(why))) {
		case DLOCK_ALIVE:
			/* Its owner is making the lock this very moment. */
			errno = EWOULDBLOCK;
			return -1;
		case DLOCK_DEAD:
			/* Left by a process killed before it removed it. */
			if (clear_intent_if_dead(lk) == 0)
				continue;
			break;
		default:
			break;
		}
		break;
	}
	/* One that stays (not ours to remove, or not judged): the lock is
	 * made without an intent, but only once it cannot be taken for the
	 * one that intent's owner was making. */
	if (seen.exists && intent_may_claim(lk, &seen)) {
		errno = EWOULDBLOCK;
		return -1;
	}
	return 0;
}

/*
 * Makes target, which must not exist, a second name of our intent: the
 * lock's record, whole, in one step.  Returns 0, or -1 with errno; EXDEV
 * where the filesystem has no hard links, which from then on publishes
 * in place, and where our intent is too old to be surely ours still.  Over NFS a retransmitted LINK can fail with EEXIST although
 * it made the link: the data read back tells.
 */
int
intent_link(struct dlock *lk, const char *target, const char *record,
    size_t len)
{
	struct timespec now;
	double since;
	int err;

	/* The link goes by name: the name must still be our intent's.
	 * Another host removes an intent by its age alone (INTENT_STALE),
	 * and may publish its own under the name; linking that would make
	 * its record the lock's, and both of us its holders.  So an intent
	 * of ours that has stood for INTENT_TRUST_SECONDS, a third of that
	 * age (a process paused meanwhile), is not linked: the lock is
	 * published from a temporary of our own instead. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	since = (double)(now.tv_sec - lk->intent_at.tv_sec) +
	    (double)(now.tv_nsec - lk->intent_at.tv_nsec) / 1e9;
	if (since > INTENT_TRUST_SECONDS) {
		errno = EXDEV;
		return -1;
	}
	if (link(lk->intent_path, target) == 0)
		return 0;
	/* The read back must not leave its own errno: a lock released
	 * meanwhile (ENOENT) is still a name that was taken. */
	err = errno;
	if (err == EEXIST && linked_after_all(target, record, len))
		return 0;
	if (link_unsupported(err)) {
		lk->publish_how = PUBLISH_IN_PLACE;
		err = EXDEV;
	}
	errno = err;
	return -1;
}

/*
 * Ours is removed by name: no one else removes an intent whose owner is
 * alive (clear_intent_if_dead()), unless it stood for INTENT_STALE
 * seconds, and no one publishes one while ours is there.
 */
void
intent_drop(struct dlock *lk)
{
	int saved = errno;

	unlink(lk->intent_path);
	errno = saved;
}
