/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/*
 * Is a lock stale?  On this host the holder can be asked: a pid that is
 * gone, or that now belongs to a process started at another time, is dead.
 * A holder elsewhere cannot be asked, so it keeps a lease: it refreshes
 * the lock's mtime, and the lock is stale once the mtime is older than the
 * lease by the file server's clock.  Anything uncertain counts as alive: a
 * live lock wrongly broken lets two holders in, a dead one wrongly kept
 * only makes a waiter wait.
 */

/*
 * A zombie has exited and holds nothing, yet kill() finds it until its
 * parent reaps it: for seconds where init reaps orphans only now and then
 * (a killed wrapper's command is an orphan), for ever under a parent that
 * never waits.  But a thread group leader that exited before its other
 * threads is a zombie too, in a process that runs on: only a zombie that
 * is the last of its threads has exited.
 */
static int
has_exited(pid_t pid)
{
	char path[32], buf[4096], *state, *threads;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	n = read_file(path, 0, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	state = strstr(buf, "\nState:\t");
	threads = strstr(buf, "\nThreads:\t");
	return state != NULL && state[8] == 'Z' && threads != NULL &&
	    strncmp(threads + 10, "1\n", 2) == 0;
}

static int
pid_exists(pid_t pid)
{
	/* EPERM: it exists, under another user. */
	return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH) &&
	    !has_exited(pid);
}

static int
owner_state(const struct dlock_owner *o, char *why, size_t size)
{
	uint64_t start;

	/* A child's start time, where recorded, tells a reused pid. */
	if (o->child > 0 && pid_exists(o->child) && (o->child_start == 0 ||
	    proc_start_time(o->child, &start) != 0 || start == o->child_start)) {
		snprintf(why, size, "its command, pid %d, is running",
		    (int)o->child);
		return DLOCK_ALIVE;
	}
	if (!pid_exists(o->pid)) {
		snprintf(why, size, "pid %d is gone%s", (int)o->pid,
		    o->child > 0 ? ", and so is its command" : "");
		return DLOCK_DEAD;
	}
	if (proc_start_time(o->pid, &start) == 0) {
		if (start != o->start) {
			snprintf(why, size, "pid %d now belongs to another "
			    "process (started at tick %llu, not %llu)",
			    (int)o->pid, (unsigned long long)start,
			    (unsigned long long)o->start);
			return DLOCK_DEAD;
		}
		snprintf(why, size, "pid %d is running", (int)o->pid);
		return DLOCK_ALIVE;
	}
	if (errno == ESRCH) {
		snprintf(why, size, "pid %d is gone", (int)o->pid);
		return DLOCK_DEAD;
	}
	snprintf(why, size, "pid %d exists (its start time cannot be read)",
	    (int)o->pid);
	return DLOCK_ALIVE;
}

int
owner_alive(const struct dlock_owner *o)
{
	char why[160];

	return owner_state(o, why, sizeof(why)) == DLOCK_ALIVE;
}

/*
 * The file server's time: the mtime the server gives a file created now.
 * The local clock may be off from the server's by any amount.  An unnamed
 * file, where the filesystem has them, leaves nothing behind if we are
 * killed, and its removal wakes no waiter watching the directory.
 */
int
server_now(const char *dir, struct timespec *now)
{
	/* Threads of one process each take a name of their own. */
	static _Atomic unsigned int serial;
	char path[4096];
	struct stat st;
	int fd = -1, n, saved, tries;

#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0) {
		n = fstat(fd, &st);
		saved = errno;
		close(fd);
		if (n < 0) {
			errno = saved;
			return -1;
		}
		*now = st.st_mtim;
		return 0;
	}
#endif
	for (tries = 0; tries < 3; tries++) {
		n = snprintf(path, sizeof(path), "%s/.dlock-clock.%d.%u",
		    dir, (int)getpid(), serial++);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd >= 0)
			break;
		if (errno != EEXIST)
			return -1;
	}
	if (fd < 0)
		return -1;
	n = fstat(fd, &st);
	saved = errno;
	close(fd);
	unlink(path);
	if (n < 0) {
		errno = saved;
		return -1;
	}
	*now = st.st_mtim;
	return 0;
}

/*
 * The time an age is measured at.  A removal goes by a look taken with the
 * breaker held, and the server's time is then taken before that look
 * (breaker.c): a judge paused between the look and a later reading of
 * the clock would otherwise count the pause as the file's age, and
 * remove what its owner had since written, or one that has since taken
 * its place.
 */
static int
judging_time(struct dlock *lk, struct timespec *now)
{
	if (lk->looked_after_set) {
		*now = lk->looked_after;
		return 0;
	}
	return server_now(lk->dir, now);
}

static int
same_host(const struct dlock *lk, const struct dlock_owner *o)
{
	return strcmp(o->host, lk->self.host) == 0 && o->boot[0] != '\0' &&
	    strcmp(o->boot, lk->self.boot) == 0 && o->pidns == lk->self.pidns;
}

static int
judge_by_age(struct dlock *lk, const struct lock_look *look,
    struct dlock_status *out, const char *who)
{
	struct timespec now;

	if (judging_time(lk, &now) < 0) {
		snprintf(out->reason, sizeof(out->reason), "%s; its age "
		    "cannot be told (no file can be created beside it: %s)",
		    who, strerror(errno));
		return DLOCK_UNKNOWN;
	}
	out->age = (double)(now.tv_sec - look->mtime.tv_sec) +
	    (double)(now.tv_nsec - look->mtime.tv_nsec) / 1e9;
	if (out->age > lk->stale) {
		snprintf(out->reason, sizeof(out->reason), "%s, silent for "
		    "%.0f s, past its %.0f s lease", who, out->age, lk->stale);
		return DLOCK_DEAD;
	}
	snprintf(out->reason, sizeof(out->reason), "%s, refreshed %.0f s ago, "
	    "within its %.0f s lease", who, out->age < 0 ? 0 : out->age,
	    lk->stale);
	return DLOCK_UNKNOWN;
}

/* An intent is held for milliseconds: one older than this was left by a
 * process that died, here or on another host. */
#define INTENT_STALE 30
#define INTENT_EMPTY_STALE 1

/*
 * Whether the owner of an intent lives: on this host by its pid (the
 * intent is the process's own, never its command's), and by_age also by
 * the intent's age, which alone tells of an intent of another host.
 */
int
judge_intent(struct dlock *lk, const struct intent_look *intent, int by_age,
    char *why, size_t size)
{
	struct dlock_owner o = intent->owner;
	struct timespec now;
	double age;

	o.child = 0;
	if (intent->parsed && same_host(lk, &o))
		return owner_state(&o, why, size);
	if (intent->parsed && strcmp(o.host, lk->self.host) == 0 &&
	    o.boot[0] != '\0' && lk->self.boot[0] != '\0' &&
	    strcmp(o.boot, lk->self.boot) != 0) {
		snprintf(why, size, "pid %d wrote it before this host rebooted",
		    (int)o.pid);
		return DLOCK_DEAD;
	}
	/* One with no record yet is written in the call after its
	 * creation: one that stays empty was left by a kill. */
	if (by_age && judging_time(lk, &now) == 0) {
		age = (double)(now.tv_sec - intent->mtime.tv_sec) +
		    (double)(now.tv_nsec - intent->mtime.tv_nsec) / 1e9;
		if (age > (intent->parsed ? INTENT_STALE : INTENT_EMPTY_STALE)) {
			snprintf(why, size, "it was left %.1f s ago", age);
			return DLOCK_DEAD;
		}
	}
	snprintf(why, size, "its maker cannot be asked from this host");
	return DLOCK_UNKNOWN;
}

/*
 * A lock with no complete record yet, made just after an intent of this
 * host: alive while the intent's owner lives, stale at once when it is
 * gone.  DLOCK_UNKNOWN when the intent says nothing.
 */
static int
judge_by_intent(struct dlock *lk, const struct lock_look *look,
    struct dlock_status *out)
{
	char why[160];
	int state;

	if (look->oversized || look->version > 1 || (look->parsed &&
	    look->owner.kind != DLOCK_RECORD_EMPTY) || !intent_made_lock(look))
		return DLOCK_UNKNOWN;
	state = judge_intent(lk, &look->intent, 0, why, sizeof(why));
	if (state == DLOCK_UNKNOWN)
		return state;
	out->same_host = 1;
	out->state = state;
	snprintf(out->reason, sizeof(out->reason), "held with no record yet, "
	    "being made on this host (%s): %s", lk->intent_path, why);
	return state;
}

/* Fills out->state and out->reason (and age, owner) for a lock in look. */
int
judge_lock(struct dlock *lk, const struct lock_look *look,
    struct dlock_status *out)
{
	const struct dlock_owner *o = &look->owner;
	char why[160], who[160];

	out->age = -1;
	out->stale = lk->stale;
	out->has_owner = look->parsed;
	if (look->parsed)
		out->owner = *o;
	if (!look->exists) {
		out->state = DLOCK_FREE;
		snprintf(out->reason, sizeof(out->reason), "nobody holds it");
		return out->state;
	}
	if (look->parsed && o->kind == DLOCK_RECORD_V1) {
		if (same_host(lk, o)) {
			out->same_host = 1;
			out->state = owner_state(o, why, sizeof(why));
			snprintf(out->reason, sizeof(out->reason),
			    "held on this host: %s", why);
			return out->state;
		}
		if (strcmp(o->host, lk->self.host) == 0 && o->boot[0] != '\0' &&
		    lk->self.boot[0] != '\0' && strcmp(o->boot, lk->self.boot) != 0) {
			out->state = DLOCK_DEAD;
			snprintf(out->reason, sizeof(out->reason), "held on this "
			    "host before it rebooted (boot id %s)", o->boot);
			return out->state;
		}
		snprintf(who, sizeof(who), "held by pid %d on %s%s", (int)o->pid,
		    o->host, strcmp(o->host, lk->self.host) == 0 ?
		    " in another PID namespace" : "");
	} else if (judge_by_intent(lk, look, out) != DLOCK_UNKNOWN) {
		return out->state;
	} else if (look->parsed && o->kind == DLOCK_RECORD_PID) {
		snprintf(who, sizeof(who), "held by pid %d with no host named "
		    "(a legacy record)", (int)o->pid);
	} else if (look->parsed) {
		snprintf(who, sizeof(who), "held with an empty record (a "
		    "legacy lock, or one being written)");
	} else if (look->oversized) {
		out->state = DLOCK_UNKNOWN;
		snprintf(out->reason, sizeof(out->reason), "held by a file "
		    "larger than any lock record (%d bytes): not a lock, so "
		    "never judged stale", DLOCK_RECORD_MAX);
		return out->state;
	} else if (look->version > 1) {
		snprintf(who, sizeof(who), "held with a record of a newer "
		    "version (" RECORD_TAG "%d)", look->version);
	} else if (!look->has_record_file) {
		snprintf(who, sizeof(who), "held with no record yet (being "
		    "written)");
	} else {
		snprintf(who, sizeof(who), "held with an unreadable record "
		    "(damaged, or being written)");
	}
	out->state = judge_by_age(lk, look, out, who);
	return out->state;
}
