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

/*
 * How long after its publication our intent is still surely ours to link
 * or to remove by its name (intent_is_ours()): a third of the age at which
 * another host removes a written intent, INTENT_STALE (stale.c).
 */
#define INTENT_TRUST_SECONDS 10.0

/*
 * An intent created in place (there are no unnamed files) is empty until
 * its record is written, and one found empty for a second, by the
 * server's clock, is taken for one left by a kill and removed by whoever
 * finds it; the next to come publishes its own under the name.  So ours
 * is surely ours only if the write that filled it returned within half
 * that second of the create.
 */
#define INTENT_WHOLE_SECONDS 0.5

static long long
ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static double
seconds_since_intent(const struct dlock *lk)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - lk->intent_at.tv_sec) +
	    (double)(now.tv_nsec - lk->intent_at.tv_nsec) / 1e9;
}

/*
 * Whether the name LOCKPATH.intent still holds the intent we published.
 * The link that makes it the lock, and its removal, go by the name: had
 * it been removed under us and another published in its place, a link
 * would make that other's record the lock's, with both of us holding it
 * (the other's link fails with EEXIST and reads back its own record).
 */
static int
intent_is_ours(const struct dlock *lk)
{
	return lk->intent_whole_soon &&
	    seconds_since_intent(lk) <= INTENT_TRUST_SECONDS;
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
		    lk->mode, &lk->publish_how) == 0) {
			/* An unnamed file appears with its record in it. */
			lk->intent_whole_soon =
			    lk->publish_how == PUBLISH_UNNAMED ||
			    seconds_since_intent(lk) < INTENT_WHOLE_SECONDS;
			return 1;
		}
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
 * in place, and where the name may no longer be our intent's
 * (intent_is_ours()): the lock is then published from a temporary of our
 * own.  Over NFS a retransmitted LINK can fail with EEXIST although it
 * made the link: the data read back tells.
 */
int
intent_link(struct dlock *lk, const char *target, const char *record,
    size_t len)
{
	int err;

	if (!intent_is_ours(lk)) {
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
 * Ours is removed by name while it is surely ours; one that may not be is
 * removed only if a look with the breaker held finds our record in it
 * (breaker.c), else left for whoever finds its owner gone.
 */
void
intent_drop(struct dlock *lk)
{
	int saved = errno;

	if (intent_is_ours(lk))
		unlink(lk->intent_path);
	else
		drop_own_intent(lk);
	errno = saved;
}
