/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * Shared locks for the methods that hold a lock by a name (lockfile,
 * mkdir), built from their exclusive locks alone, so that they hold
 * wherever those do: exclusive create, link, mkdir, rename and unlink are
 * atomic on NFS, where the kernel's shared locks may be local or missing.
 *
 * The method's own lock at LOCKPATH is a gate.  A reader takes the gate,
 * registers itself with an exclusive lock of the same method at a name of
 * its own in LOCKPATH.readers, and lets go of the gate at once: readers
 * overlap, and serialize only while they enter.  A writer takes the gate
 * and keeps it, so that readers arriving after it wait behind it (writer
 * preference), then waits until no live registration remains, breaking
 * those of readers proven gone as any stale lock is broken.  Because a
 * reader registers only while it holds the gate, no registration can
 * appear after a writer holding the gate has looked.
 *
 * A registration is an ordinary lock of the method, with its own owner
 * record, lease and heartbeat, so a reader that died is judged as any
 * holder is: by its pid on this host, by a reboot, or by its lease on the
 * file server's clock elsewhere.
 *
 * An exclusive lock costs one operation more than the method's own: the
 * open of LOCKPATH.readers, which fails with ENOENT where no reader is.
 * The last reader to leave removes the directory, and so does a writer
 * that found only dead readers in it, to keep it that way.
 */

#define READERS_SUFFIX ".readers"

/* How often a reader retries its registration when the directory it
 * registers in was removed under it by the last reader leaving. */
#define REGISTER_TRIES 8

static int
readers_dir(const char *path, char *dir, size_t size)
{
	int n = snprintf(dir, size, "%s%s", path, READERS_SUFFIX);

	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * A registration's name is a nonce.  Whatever else is in the directory is
 * not a reader: the temporaries of a publish, a registration's breaker
 * lock (NAME.break) and its rewritten record.
 */
static int
is_registration(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		    (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return i == DLOCK_NONCE_LEN;
}

static void
options_of(const struct dlock *lk, struct dlock_options *o)
{
	dlock_options_init(o);
	o->method = lk->method;
	o->flags = lk->flags;
	o->mode = lk->mode;
	o->stale = lk->stale;
}

/*
 * The readers' directory, made if missing.  One found there is used only
 * if it is a directory, never through a symbolic link someone planted.
 */
static int
make_readers_dir(const struct dlock *lk, const char *dir)
{
	struct stat st;

	if (mkdir(dir, (lk->mode | (lk->mode & 0444) >> 2) & 0777) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (lstat(dir, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
		return -1;
	}
	return 0;
}

/*
 * Registers lk as a reader; the gate is held.  The last reader to leave
 * removes the directory, which can happen between our mkdir and its
 * lstat, or our publish (ENOENT, or ESTALE from a network filesystem's
 * cached handle): then the directory is made again.
 */
static int
register_reader(struct dlock *lk)
{
	char dir[PATH_MAX], path[PATH_MAX], nonce[DLOCK_NONCE_LEN + 1];
	struct dlock_options o;
	struct dlock *reg;
	int tries, n, saved;

	if (readers_dir(lk->path, dir, sizeof(dir)) < 0 ||
	    record_nonce(nonce) < 0)
		return -1;
	n = snprintf(path, sizeof(path), "%s/%s", dir, nonce);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	options_of(lk, &o);
	for (tries = 0; tries < REGISTER_TRIES; tries++) {
		if (make_readers_dir(lk, dir) < 0) {
			if (errno == ENOENT || errno == ESTALE)
				continue;
			return -1;
		}
		reg = handle_open(path, &o, lk->kernel);
		if (reg == NULL) {
			if (errno == ENOENT || errno == ESTALE)
				continue;
			return -1;
		}
		/* A plain exclusive lock, without a gate of its own. */
		reg->ops = &name_lock_ops;
		reg->self.child = lk->self.child;
		reg->self.child_start = lk->self.child_start;
		if (name_try(reg, 0) == 0) {
			lk->reader = reg;
			return 0;
		}
		saved = errno;
		dlock_close(reg);
		/* EWOULDBLOCK: the name was taken, which a fresh nonce
		 * never is, or a look at it failed with ESTALE. */
		if (saved != ENOENT && saved != ESTALE &&
		    saved != EWOULDBLOCK) {
			errno = saved;
			return -1;
		}
	}
	errno = EAGAIN;
	return -1;
}

/*
 * Removes our registration.  On success, or when it was lost (broken by a
 * writer that judged it stale), the registration is done with; on another
 * failure it is kept, so that a later unlock or close tries again.  The
 * directory is removed when it is empty: rmdir(2) refuses otherwise, so
 * no other reader's registration can be lost by it.
 */
static int
leave_readers(struct dlock *lk)
{
	char dir[PATH_MAX];
	int rc, saved;

	rc = name_lock_ops.unlock(lk->reader);
	saved = errno;
	if (rc < 0 && saved != DLOCK_ELOST)
		return -1;
	dlock_close(lk->reader);
	lk->reader = NULL;
	lk->held = 0;
	if (rc == 0 && readers_dir(lk->path, dir, sizeof(dir)) == 0)
		rmdir(dir);
	errno = saved;
	return rc;
}

/* With the gate held: registers, then lets go of the gate. */
static int
enter_as_reader(struct dlock *lk)
{
	int saved;

	if (register_reader(lk) < 0) {
		saved = errno;
		name_lock_ops.unlock(lk);
		errno = saved;
		return -1;
	}
	/*
	 * A gate lost while we held it (broken as stale while we were
	 * paused) may have let a writer in that has already looked at the
	 * readers: our registration, made after, must not stand.
	 */
	if (name_lock_ops.unlock(lk) < 0) {
		saved = errno;
		leave_readers(lk);
		errno = saved;
		return -1;
	}
	lk->held = LOCK_SH;
	return 0;
}

/*
 * Calls visit(registration's path, arg) for each registration of the lock
 * at path, until one returns other than 0.  Returns 0 when all were
 * visited, the value visit returned, or -1 with errno (ENOENT: no
 * readers' directory).
 */
static int
each_registration(const char *path, int (*visit)(const char *, void *),
    void *arg)
{
	char dir[PATH_MAX], reg[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int fd, n, rc = 0, err = 0;

	if (readers_dir(path, dir, sizeof(dir)) < 0)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (d == NULL)
		return fail_closing(fd, errno);
	while (rc == 0) {
		errno = 0;
		/* cppcheck-suppress readdirCalled ; the stream is this call's
		 * own, and readdir_r(3) is deprecated */
		e = readdir(d);
		if (e == NULL) {
			err = errno;
			break;
		}
		if (!is_registration(e->d_name))
			continue;
		n = snprintf(reg, sizeof(reg), "%s/%s", dir, e->d_name);
		if (n < 0 || (size_t)n >= sizeof(reg)) {
			err = ENAMETOOLONG;
			break;
		}
		rc = visit(reg, arg);
		if (rc < 0)
			err = errno;
	}
	closedir(d);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return rc;
}

/*
 * A registration judged, and broken if stale, by dlock_break(), under the
 * registration's own breaker lock: a live one is never removed.  1 while
 * its reader may live.
 */
static int
judge_reader(const char *reg, void *arg)
{
	struct dlock_options o;
	struct dlock_status st;

	options_of(arg, &o);
	memset(&st, 0, sizeof(st));
	if (dlock_break(reg, &o, 0, &st) == 0 || errno == ENOENT)
		return 0;
	/* Alive, or changing, or being broken or left by another: a
	 * reader still counts until it is seen gone. */
	if (errno == EBUSY || errno == ECANCELED || errno == EWOULDBLOCK ||
	    errno == ESTALE)
		return 1;
	return -1;
}

/*
 * Whether a live reader remains: 0 when none does, -1 with EWOULDBLOCK
 * while one does, -1 with errno when the directory cannot be read.
 *
 * On NFS the listing is current: opendir(2) revalidates the directory
 * with the server (close-to-open), and every registration that matters
 * was made before its reader let go of the gate, so before we took it;
 * a directory changed since the client cached it reads anew.
 */
static int
readers_gone(struct dlock *lk)
{
	char dir[PATH_MAX];
	int rc;

	rc = each_registration(lk->path, judge_reader, lk);
	if (rc < 0 && errno == ENOENT)
		return 0;
	/* ESTALE: the directory was removed, and made again, by another
	 * client of a network filesystem; look again at the next poll. */
	if (rc < 0 && errno != ESTALE)
		return -1;
	if (rc != 0) {
		errno = EWOULDBLOCK;
		return -1;
	}
	/* Left by readers that died: no reader can be registering now. */
	if (readers_dir(lk->path, dir, sizeof(dir)) == 0)
		rmdir(dir);
	return 0;
}

/*
 * The gate is ours while we wait, and its lease must not run out
 * meanwhile: a holder elsewhere would break it as stale, and readers
 * would enter behind our back.
 */
static int
readers_step(struct dlock *lk, int shared, int woken)
{
	struct timespec left;

	(void)shared;
	(void)woken;
	if (!deadline_left(&lk->gate_beat_at, &left)) {
		if (name_lock_ops.heartbeat(lk) < 0)
			return -1;
		deadline_set(&lk->gate_beat_at, lk->stale / 3);
	}
	return readers_gone(lk);
}

static int
readers_pause(struct dlock *lk, long delay_ns, const struct timespec *deadline,
    const sigset_t *mask)
{
	(void)lk;
	return sleep_up_to(-1, deadline, delay_ns, mask);
}

static const struct poll_steps reader_steps = {
	.try_lock = readers_step,
	.pause = readers_pause,
};

/*
 * With the gate held: waits until the readers are gone (once: looks only
 * once).  A writer that gives up lets go of the gate, and the readers
 * waiting behind it get in.
 */
static int
enter_as_writer(struct dlock *lk, const struct timespec *deadline, int once)
{
	int rc, saved;

	if (once) {
		rc = readers_gone(lk);
	} else {
		deadline_set(&lk->gate_beat_at, lk->stale / 3);
		rc = wait_polling(lk, 0, deadline, lk->poll_cap_ns, NULL,
		    &reader_steps);
	}
	/*
	 * The first try of a wait (take() in lock.c began one) that finds
	 * readers keeps the gate, and the wait goes on with it
	 * (shared_wait()): letting go in between would let readers that
	 * came after us in first.
	 */
	if (rc < 0 && once && errno == EWOULDBLOCK && lk->quick.waiting) {
		lk->gate_kept = 1;
		return rc;
	}
	if (rc < 0) {
		saved = errno;
		name_lock_ops.unlock(lk);
		errno = saved;
	}
	return rc;
}

/*
 * A handle that holds a lock, of either kind, is refused another: EDEADLK.
 * An upgrade from shared to exclusive could only be had by letting go of
 * the shared lock first, which would let a writer in between unannounced
 * (flock(2) does just that); the caller should unlock and lock again.
 */
static int
shared_try(struct dlock *lk, int shared)
{
	if (lk->held) {
		errno = EDEADLK;
		return -1;
	}
	if (name_lock_ops.try_lock(lk, 0) < 0)
		return -1;
	return shared ? enter_as_reader(lk) : enter_as_writer(lk, NULL, 1);
}

static int
shared_wait(struct dlock *lk, int shared, const struct timespec *deadline)
{
	if (lk->gate_kept) {
		lk->gate_kept = 0;
		return enter_as_writer(lk, deadline, 0);
	}
	if (lk->held) {
		errno = EDEADLK;
		return -1;
	}
	if (name_lock_ops.wait_lock(lk, 0, deadline) < 0)
		return -1;
	return shared ? enter_as_reader(lk) : enter_as_writer(lk, deadline, 0);
}

static int
shared_unlock(struct dlock *lk)
{
	if (lk->reader != NULL)
		return leave_readers(lk);
	return lk->held == LOCK_SH ? 0 : name_lock_ops.unlock(lk);
}

static int
shared_release(struct dlock *lk)
{
	int rc = 0, saved;

	if (lk->reader != NULL) {
		rc = leave_readers(lk);
		saved = errno;
		if (lk->reader != NULL)
			dlock_close(lk->reader);
		lk->reader = NULL;
		lk->held = 0;
		errno = saved;
	}
	if (name_lock_ops.release(lk) < 0)
		return -1;
	return rc;
}

/* A reader's lease is its registration's, a writer's the gate's. */
static int
shared_heartbeat(struct dlock *lk)
{
	int saved;

	if (lk->reader == NULL)
		return name_lock_ops.heartbeat(lk);
	if (name_lock_ops.heartbeat(lk->reader) == 0)
		return 0;
	if (errno == DLOCK_ELOST) {
		saved = errno;
		dlock_close(lk->reader);
		lk->reader = NULL;
		lk->held = 0;
		errno = saved;
	}
	return -1;
}

/* The gate's record names the child for the next lock, and a reader's
 * registration names it now. */
static int
shared_set_child(struct dlock *lk, pid_t child)
{
	int held = lk->held, rc;

	if (lk->reader == NULL)
		return name_lock_ops.set_child(lk, child);
	lk->held = 0;
	rc = name_lock_ops.set_child(lk, child);
	lk->held = held;
	if (rc < 0)
		return -1;
	return name_lock_ops.set_child(lk->reader, child);
}

static int
shared_prepare(struct dlock *lk)
{
	return name_lock_ops.prepare(lk);
}

const struct dlock_ops shared_name_ops = {
	.prepare = shared_prepare,
	.try_lock = shared_try,
	.wait_lock = shared_wait,
	.unlock = shared_unlock,
	.release = shared_release,
	.heartbeat = shared_heartbeat,
	.set_child = shared_set_child,
};

/* Where dlock_status_readers() puts what it finds. */
struct listing {
	const struct dlock_options *opts;
	struct dlock_status *out;
	size_t max;
	int count;
};

static int
list_reader(const char *reg, void *arg)
{
	struct listing *l = arg;
	struct dlock_status st;

	if (dlock_status(reg, l->opts, &st) < 0)
		/* Left between the listing and the look. */
		return errno == ENOENT ? 0 : -1;
	if (st.state == DLOCK_FREE)
		return 0;
	if ((size_t)l->count < l->max)
		l->out[l->count] = st;
	if (l->count < INT_MAX)
		l->count++;
	return 0;
}

/*
 * The readers of the shared lock at path, as dlock_status() judges each
 * registration: up to max of them in out, and how many there are.
 */
int
dlock_status_readers(const char *path, const struct dlock_options *opts,
    struct dlock_status *out, size_t max)
{
	struct listing l = { opts, out, max, 0 };

	if (path == NULL || *path == '\0') {
		errno = ENOENT;
		return -1;
	}
	if (each_registration(path, list_reader, &l) < 0)
		return errno == ENOENT ? 0 : -1;
	return l.count;
}
