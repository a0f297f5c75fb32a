/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "probe.h"

/*
 * Fair waiting: a ticket queue in the directory LOCKPATH.queue.  A waiter
 * publishes a ticket, a file named by the next sequence number holding
 * its owner record; the number is claimed by exclusive creation, so two
 * waiters on two hosts that pick the same one find out, and the loser
 * takes the next.  Each waiter watches only its predecessor, the largest
 * ticket below its own, so that a release wakes one waiter and not all.
 * The first in line waits for the ordinary lock beneath (which may be a
 * counting lock), and gives up its ticket once it holds it.
 *
 * A ticket is judged stale by the rules of a lockfile (stale.c): on this
 * host its owner is asked; from another host it keeps a lease, which the
 * waiter refreshes while it waits.  The queue directory is never removed:
 * a waiter about to publish a ticket in it would find it gone.
 */

struct queue {
	struct dlock *base;	/* the lock waited for */
	int dirfd;		/* LOCKPATH.queue */
	int notify;		/* inotify, -1 until a first wait */
	int how;		/* what publish_file() found works here */
	int local;		/* on a local filesystem, which inotify
				   sees whole */
	unsigned long long ticket;	/* ours, 0 if none */
	char ticket_name[32];
	struct timespec refreshed;	/* CLOCK_MONOTONIC, our ticket's
					   last lease refresh */
};

/* Ticket names: exactly this many decimal digits. */
#define TICKET_DIGITS	12
#define TICKET_MAX	999999999999ULL

/*
 * A predecessor on this host is watched: its removal by inotify, its death
 * by a pidfd.  On a network filesystem inotify misses what other hosts
 * do, such as removing a ticket they judged stale, so a look now and then
 * catches that; on a local one the look only guards against surprises.
 */
#define WATCHED_RECHECK_NS (1000 * 1000000L)
#define WATCHED_LOCAL_RECHECK_NS (10000 * 1000000L)
/* One on another host is polled, backing off to this. */
#define QUEUE_POLL_CAP_NS (100 * 1000000L)
/* Its lease is judged every this many polls: each judgement creates a
 * file to read the server's clock. */
#define POLLS_PER_JUDGEMENT 16

/* The number a ticket's name gives, 0 for any other name (temporary
 * files of publish_file(), those of other programs). */
static unsigned long long
ticket_number(const char *name)
{
	if (strlen(name) != TICKET_DIGITS ||
	    strspn(name, "0123456789") != TICKET_DIGITS)
		return 0;
	return strtoull(name, NULL, 10);
}

/*
 * Reads the queue: the largest ticket (*last) and the largest below mine
 * (*before), each 0 if none.
 */
static int
scan_queue(struct dlock *lk, unsigned long long mine,
    unsigned long long *before, unsigned long long *last)
{
	struct queue *q = lk->queue;
	struct dirent *e;
	unsigned long long n;
	DIR *d;
	int fd, saved;

	*before = *last = 0;
	fd = openat(q->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (d == NULL)
		return fail_closing(fd, errno);
	errno = 0;
	/* cppcheck-suppress readdirCalled ; the stream is this call's own */
	while ((e = readdir(d)) != NULL) {
		n = ticket_number(e->d_name);
		if (n == 0)
			continue;
		if (n > *last)
			*last = n;
		if (n < mine && n > *before)
			*before = n;
	}
	saved = errno;
	closedir(d);
	errno = saved;
	return saved != 0 ? -1 : 0;
}

static void
ticket_name(unsigned long long n, char *buf, size_t size)
{
	snprintf(buf, size, "%0*llu", TICKET_DIGITS, n);
}

/* Takes the next number, our owner record in it. */
static int
take_ticket(struct dlock *lk)
{
	struct queue *q = lk->queue;
	char record[DLOCK_RECORD_MAX + 1], target[PATH_MAX];
	unsigned long long before, n;
	int len, tries;

	if (record_nonce(lk->self.nonce) < 0)
		return -1;
	lk->self.time = (int64_t)time(NULL);
	len = record_format(&lk->self, record, sizeof(record));
	if (len < 0)
		return -1;
	if (scan_queue(lk, 0, &before, &n) < 0)
		return -1;
	/* Each refusal means another waiter took that number just now. */
	for (tries = 0; tries < 1000; tries++) {
		if (++n > TICKET_MAX) {
			errno = EOVERFLOW;
			return -1;
		}
		ticket_name(n, q->ticket_name, sizeof(q->ticket_name));
		snprintf(target, sizeof(target), "%s/%s", lk->dir,
		    q->ticket_name);
		if (publish_file(lk->dir, target, record, (size_t)len, lk->mode,
		    &q->how, NULL) == 0) {
			q->ticket = n;
			clock_gettime(CLOCK_MONOTONIC, &q->refreshed);
			return 0;
		}
		if (errno != EEXIST)
			return -1;
	}
	errno = EAGAIN;
	return -1;
}

/* The lease of our ticket, refreshed as a lockfile's heartbeat does. */
static void
refresh_ticket(struct dlock *lk)
{
	struct queue *q = lk->queue;
	struct timespec now;
	double since;

	clock_gettime(CLOCK_MONOTONIC, &now);
	since = (double)(now.tv_sec - q->refreshed.tv_sec) +
	    (double)(now.tv_nsec - q->refreshed.tv_nsec) / 1e9;
	if (since < lk->stale / 3)
		return;
	if (utimensat(q->dirfd, q->ticket_name, NULL, AT_SYMLINK_NOFOLLOW) == 0)
		q->refreshed = now;
}

/* What ticket name holds now, as look_at_lock() sees a lockfile. */
static int
look_at_ticket(struct dlock *lk, const char *name, struct lock_look *look)
{
	struct stat st;
	int fd;

	memset(look, 0, sizeof(*look));
	fd = openat(lk->queue->dirfd, name,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESTALE ? 0 : -1;
	if (fstat(fd, &st) < 0)
		return fail_closing(fd, errno);
	if (!S_ISREG(st.st_mode))
		return fail_closing(fd, EINVAL);
	look->exists = 1;
	return read_record(fd, &st, look);
}

/*
 * Gives up our ticket, if it is still ours: a waiter behind that judged
 * it stale (we were paused past its lease) may have removed it, and its
 * number may since be another's.  errno is kept.
 */
static void
drop_ticket(struct dlock *lk)
{
	struct queue *q = lk->queue;
	struct lock_look look;
	int saved = errno;

	if (q->ticket != 0 && look_at_ticket(lk, q->ticket_name, &look) == 0 &&
	    lock_is_ours(lk, &look))
		unlinkat(q->dirfd, q->ticket_name, 0);
	q->ticket = 0;
	errno = saved;
}

/*
 * Removes the stale ticket judged, if it is still that one: a ticket
 * looked at a moment ago may since have been replaced.
 */
static int
remove_stale_ticket(struct dlock *lk, const char *name,
    const struct lock_look *judged)
{
	struct lock_look now;

	if (look_at_ticket(lk, name, &now) < 0)
		return -1;
	if (same_lock(&now, judged) && unlinkat(lk->queue->dirfd, name, 0) < 0 &&
	    errno != ENOENT)
		return -1;
	return 0;
}

/*
 * Sleeps until the predecessor's ticket (name, looked at in look) may have
 * changed, or the deadline.  Returns 0, or -1 with EINTR (a signal ended
 * an interruptible wait) or ETIMEDOUT.
 */
static int
await_predecessor(struct dlock *lk, const char *name,
    const struct lock_look *look, int on_this_host, unsigned int attempt,
    const struct timespec *deadline, const sigset_t *mask)
{
	struct queue *q = lk->queue;
	struct pollfd pfd[2];
	struct timespec rel, left;
	char path[PATH_MAX];
	long delay;
	int wd = -1, pidfd = -1, n = 0, rc;

	if (q->notify < 0)
		q->notify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (q->notify >= 0) {
		snprintf(path, sizeof(path), "%s/%s", lk->dir, name);
		wd = inotify_add_watch(q->notify, path,
		    IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
	}
	/* Pinned by the pidfd, the owner is asked once more, so that a pid
	 * reused between the judgement and the pidfd is not watched. */
	if (on_this_host && wd >= 0) {
		pidfd = pidfd_for(look->owner.pid);
		if (pidfd >= 0 && !owner_alive(&look->owner)) {
			close(pidfd);
			pidfd = -1;
			goto done;
		}
	}
	if (on_this_host && wd >= 0 && pidfd >= 0)
		delay = q->local ? WATCHED_LOCAL_RECHECK_NS : WATCHED_RECHECK_NS;
	else
		delay = backoff_ns(attempt, QUEUE_POLL_CAP_NS);
	/* Our own ticket's lease is refreshed between sleeps. */
	if ((double)delay > lk->stale / 3 * 1e9)
		delay = (long)(lk->stale / 3 * 1e9);
	if (wd >= 0)
		pfd[n++] = (struct pollfd){ .fd = q->notify, .events = POLLIN };
	if (pidfd >= 0)
		pfd[n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
	rel.tv_sec = delay / 1000000000L;
	rel.tv_nsec = delay % 1000000000L;
	if (deadline != NULL) {
		if (!deadline_left(deadline, &left)) {
			rc = -1;
			errno = ETIMEDOUT;
			goto out;
		}
		if (left.tv_sec < rel.tv_sec ||
		    (left.tv_sec == rel.tv_sec && left.tv_nsec < rel.tv_nsec))
			rel = left;
	}
	rc = ppoll(pfd, (nfds_t)n, &rel, mask);
	if (rc < 0 && errno == EINTR && mask != NULL)
		goto out;
done:
	rc = 0;
out:
	if (pidfd >= 0)
		close(pidfd);
	if (wd >= 0) {
		char drain[4096];
		int saved = errno;

		inotify_rm_watch(q->notify, wd);
		while (read(q->notify, drain, sizeof(drain)) > 0)
			;
		errno = saved;
	}
	return rc;
}

/*
 * Waits until no live ticket is ahead of ours.  With no deadline left (a
 * try), a live one ahead is EWOULDBLOCK.
 */
static int
wait_in_line(struct dlock *lk, int nb, const struct timespec *deadline,
    const sigset_t *mask)
{
	struct queue *q = lk->queue;
	struct dlock_status verdict;
	struct lock_look look, seen;
	unsigned long long before, last, watched = 0, gone = 0;
	struct timespec left;
	unsigned int attempt = 0, polls = 0;
	char name[32];
	int state = DLOCK_ALIVE, on_this_host = 0;

	memset(&seen, 0, sizeof(seen));
	for (;;) {
		if (scan_queue(lk, q->ticket, &before, &last) < 0)
			return -1;
		if (before == 0)
			return 0;
		ticket_name(before, name, sizeof(name));
		if (look_at_ticket(lk, name, &look) < 0)
			return -1;
		/* Over NFS a directory listing may name a ticket removed a
		 * moment ago for a while yet: listed again, it is waited
		 * out, not read in a busy loop. */
		if (!look.exists && before == gone) {
			if (nb) {
				errno = EWOULDBLOCK;
				return -1;
			}
			if (deadline != NULL && !deadline_left(deadline, &left)) {
				errno = ETIMEDOUT;
				return -1;
			}
			if (sleep_up_to(-1, deadline,
			    backoff_ns(++attempt, QUEUE_POLL_CAP_NS), mask) < 0)
				return -1;
		}
		if (!look.exists) {
			gone = before;
			continue;
		}
		/* A new predecessor, or a changed one, is judged at once;
		 * one on another host only now and then after that. */
		if (before != watched || !same_lock(&look, &seen) ||
		    on_this_host || ++polls % POLLS_PER_JUDGEMENT == 0) {
			if (before != watched)
				attempt = 0;
			watched = before;
			seen = look;
			memset(&verdict, 0, sizeof(verdict));
			state = judge_lock(lk, &look, &verdict);
			on_this_host = verdict.same_host;
		}
		if (state == DLOCK_DEAD) {
			if (remove_stale_ticket(lk, name, &look) < 0)
				return -1;
			watched = 0;
			continue;
		}
		if (nb) {
			errno = EWOULDBLOCK;
			return -1;
		}
		if (await_predecessor(lk, name, &look, on_this_host, ++attempt,
		    deadline, mask) < 0)
			return -1;
		refresh_ticket(lk);
	}
}

/* Any signal that the caller's mask lets in, waiting. */
static int
signal_pending(const sigset_t *mask)
{
	sigset_t pending;
	int sig;

	if (mask == NULL || sigpending(&pending) < 0)
		return 0;
	for (sig = 1; sig < NSIG; sig++)
		if (sigismember(&pending, sig) == 1 &&
		    sigismember(mask, sig) == 0)
			return 1;
	return 0;
}

/*
 * First in line: the lock beneath, waited for in spans of a third of the
 * lease, so that our ticket's lease is refreshed meanwhile.
 */
static int
take_base(struct dlock *lk, int shared, int nb,
    const struct timespec *deadline)
{
	struct timespec left;
	double span;
	int op = (shared ? LOCK_SH : LOCK_EX) | (nb ? LOCK_NB : 0);

	for (;;) {
		span = lk->stale / 3;
		if (deadline != NULL) {
			if (!deadline_left(deadline, &left)) {
				errno = ETIMEDOUT;
				return -1;
			}
			if ((double)left.tv_sec + (double)left.tv_nsec / 1e9 <
			    span)
				span = (double)left.tv_sec +
				    (double)left.tv_nsec / 1e9;
		}
		if (dlock_lock(lk->queue->base, op, nb ? 0 : span) == 0)
			return 0;
		if (errno != ETIMEDOUT)
			return -1;
		refresh_ticket(lk);
	}
}

int
queue_lock(struct dlock *lk, int shared, double timeout)
{
	struct queue *q = lk->queue;
	struct timespec deadline;
	sigset_t all, caller;
	const sigset_t *mask = NULL;
	int nb = timeout == 0, rc;

	if (lk->inner != NULL) {
		errno = EDEADLK;
		return -1;
	}
	if (timeout > 0)
		deadline_set(&deadline, timeout);
	/* Signals wait while we work, and end the waits (see sleep_up_to). */
	if (lk->flags & DLOCK_INTERRUPTIBLE) {
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &caller);
		mask = &caller;
	}
	rc = take_ticket(lk);
	if (rc == 0)
		rc = wait_in_line(lk, nb, timeout > 0 ? &deadline : NULL, mask);
	if (mask != NULL) {
		int saved = errno, signalled = rc == 0 && signal_pending(mask);

		pthread_sigmask(SIG_SETMASK, &caller, NULL);
		errno = saved;
		if (signalled) {
			errno = EINTR;
			rc = -1;
		}
	}
	if (rc == 0)
		rc = take_base(lk, shared, nb, timeout > 0 ? &deadline : NULL);
	drop_ticket(lk);
	if (rc < 0)
		return -1;
	lk->inner = q->base;
	lk->fd = dlock_fd(q->base);
	lk->fell_back = dlock_fell_back(q->base);
	lk->method = dlock_method(q->base);
	lk->held = shared ? LOCK_SH : LOCK_EX;
	return 0;
}

/* A queue's dlock_lock() is queue_lock(); these serve dlock_lock()'s
 * callers inside the library that go through the operations. */
static int
queue_try(struct dlock *lk, int shared)
{
	return queue_lock(lk, shared, 0);
}

static int
queue_wait(struct dlock *lk, int shared, const struct timespec *deadline)
{
	struct timespec left;

	if (deadline == NULL)
		return queue_lock(lk, shared, -1);
	if (!deadline_left(deadline, &left)) {
		errno = ETIMEDOUT;
		return -1;
	}
	return queue_lock(lk, shared,
	    (double)left.tv_sec + (double)left.tv_nsec / 1e9);
}

static int
queue_unlock(struct dlock *lk)
{
	if (lk->inner == NULL)
		return 0;
	lk->inner = NULL;
	lk->fd = -1;
	return dlock_unlock(lk->queue->base);
}

static void
queue_free(struct dlock *lk)
{
	struct queue *q = lk->queue;
	int saved = errno;

	if (q == NULL)
		return;
	drop_ticket(lk);
	dlock_close(q->base);
	if (q->dirfd >= 0)
		close(q->dirfd);
	if (q->notify >= 0)
		close(q->notify);
	free(q);
	free(lk->dir);
	lk->dir = NULL;
	lk->queue = NULL;
	errno = saved;
}

static int
queue_release(struct dlock *lk)
{
	int rc = queue_unlock(lk);

	queue_free(lk);
	return rc;
}

static int
queue_heartbeat(struct dlock *lk)
{
	return lk->inner != NULL ? dlock_heartbeat(lk->inner) : 0;
}

static int
queue_set_child(struct dlock *lk, pid_t child)
{
	return dlock_set_child(lk->queue->base, child);
}

static const struct dlock_ops queue_ops = {
	.try_lock = queue_try,
	.wait_lock = queue_wait,
	.unlock = queue_unlock,
	.release = queue_release,
	.heartbeat = queue_heartbeat,
	.set_child = queue_set_child,
};

/*
 * The queue directory, made if missing; whoever may create the lock may
 * queue for it, so it may be searched wherever it may be read.
 */
static int
open_queue_dir(struct dlock *lk)
{
	mode_t mode = lk->mode | ((lk->mode & 0444) >> 2);
	struct statfs sfs;
	size_t size = strlen(lk->path) + sizeof(".queue");

	lk->dir = malloc(size);
	if (lk->dir == NULL)
		return -1;
	snprintf(lk->dir, size, "%s.queue", lk->path);
	if (mkdir(lk->dir, mode & 0777) < 0 && errno != EEXIST)
		return -1;
	lk->queue->dirfd = open(lk->dir,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (lk->queue->dirfd < 0)
		return -1;
	lk->queue->local = fstatfs(lk->queue->dirfd, &sfs) == 0 &&
	    probe_local_fstype((unsigned long)sfs.f_type) != NULL;
	return 0;
}

struct dlock *
queue_open(const char *path, const struct dlock_options *opts)
{
	struct dlock_options plain = *opts;
	struct dlock *lk;
	struct queue *q;

	lk = shape_handle(path, opts, &queue_ops);
	if (lk == NULL)
		return NULL;
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		goto fail;
	q->dirfd = -1;
	q->notify = -1;
	lk->queue = q;
	plain.flags &= ~DLOCK_FAIR;
	q->base = dlock_open(path, &plain);
	if (q->base == NULL)
		goto fail;
	lk->method = dlock_method(q->base);
	if (record_self(&lk->self, "lockfile", 0) < 0 || open_queue_dir(lk) < 0)
		goto fail;
	return lk;
fail:
	queue_free(lk);
	handle_free(lk);
	return NULL;
}
