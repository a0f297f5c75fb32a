/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "probe.h"

/* Looking at a lock without taking it: dlock_status() and dlock_break(). */

/*
 * A kernel lock's holder is alive by definition: the kernel (or the file
 * server) drops the lock when it dies.  Asking for a conflicting lock
 * tells whether one is held; for flock(2), which has no such query, this
 * host's lock table does (kernlocks.c).
 */
static void
kernel_status(struct dlock *lk, struct dlock_status *out)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
	    .l_start = lk->start, .l_len = lk->length };
	int held = 0;

	if (lk->method == DLOCK_FCNTL) {
#ifdef F_OFD_GETLK
		if (fcntl(lk->fd, F_OFD_GETLK, &fl) < 0)
#endif
		{
			fl.l_type = F_WRLCK;
			fl.l_pid = 0;
			fcntl(lk->fd, F_GETLK, &fl);
		}
		held = fl.l_type != F_UNLCK;
		if (held && fl.l_pid > 0) {
			out->has_owner = 1;
			out->owner.pid = fl.l_pid;
		}
	} else {
		struct stat st;

		held = fstat(lk->fd, &st) == 0 && flock_held(&st);
	}
	out->state = held ? DLOCK_ALIVE : DLOCK_FREE;
	out->age = -1;
	if (!held)
		snprintf(out->reason, sizeof(out->reason), "nobody holds it");
	else if (out->has_owner)
		snprintf(out->reason, sizeof(out->reason), "held by a kernel "
		    "lock of pid %d, which the kernel drops if it dies",
		    (int)out->owner.pid);
	else
		snprintf(out->reason, sizeof(out->reason), "held by a kernel "
		    "lock, which the kernel drops when its holder dies");
}

/*
 * The method whose lock is at path, as its owner record says: a lockfile
 * or mkdir lock taken with -m (or by auto on another kind of filesystem)
 * where auto here means a kernel lock.  Asked about the path, a person
 * wants that lock, not the free kernel lock on its file.  DLOCK_AUTO when
 * no dlock record is there.
 */
static int
method_found_at(const char *path)
{
	char buf[DLOCK_RECORD_MAX + 1], owner[PATH_MAX];
	struct dlock_owner o;
	struct stat st;
	ssize_t n;
	int want;

	if (lstat(path, &st) < 0)
		return DLOCK_AUTO;
	if (S_ISDIR(st.st_mode)) {
		want = DLOCK_MKDIR;
		n = snprintf(owner, sizeof(owner), "%s/%s", path,
		    MKDIR_RECORD_NAME);
		if (n < 0 || (size_t)n >= sizeof(owner))
			return DLOCK_AUTO;
		path = owner;
	} else if (S_ISREG(st.st_mode)) {
		want = DLOCK_LOCKFILE;
	} else {
		return DLOCK_AUTO;
	}
	n = read_file(path, O_NOFOLLOW | O_NONBLOCK, buf, sizeof(buf));
	if (n <= 0 || record_parse(buf, (size_t)n, &o) < 0 ||
	    o.kind != DLOCK_RECORD_V1 ||
	    dlock_method_from_name(o.method) != want)
		return DLOCK_AUTO;
	return want;
}

static struct dlock *
open_for_look(const char *path, const struct dlock_options *opts)
{
	struct dlock_options o;

	if (opts != NULL)
		o = *opts;
	else
		dlock_options_init(&o);
	if (o.method == DLOCK_AUTO && path != NULL)
		o.method = method_found_at(path);
	/* Looking must not create a lock file. */
	o.flags |= DLOCK_NOCREATE;
	return handle_open(path, &o, &system_lock_calls);
}

static int
directory_exists(const char *path)
{
	char dir[PATH_MAX];
	struct stat st;

	if (parent_dir(path, dir, sizeof(dir)) < 0)
		return 0;
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* What auto would take at path; auto itself if that cannot be told. */
static int
auto_method_of(const char *path)
{
	struct dlock_fsinfo fs;

	return dlock_probe(path, &fs) == 0 ? fs.method : DLOCK_AUTO;
}

static int
look_and_judge(struct dlock *lk, struct lock_look *look,
    struct dlock_status *out)
{
	memset(out, 0, sizeof(*out));
	out->method = lk->method;
	out->stale = lk->stale;
	if (lk->name_ops == NULL) {
		kernel_status(lk, out);
		return 0;
	}
	if (look_at_lock(lk, look) < 0)
		return -1;
	if (look->kind_mismatch) {
		errno = look->kind_mismatch;
		return -1;
	}
	judge_lock(lk, look, out);
	return 0;
}

/* The last token granted at path, if its token file shows one. */
static void
look_at_token(const char *path, struct dlock_status *out)
{
	char *token_path = token_path_for(path);
	int saved = errno;

	if (token_path != NULL && counter_read(token_path, &out->last_token) < 0)
		out->last_token = 0;
	free(token_path);
	errno = saved;
}

int
dlock_status(const char *path, const struct dlock_options *opts,
    struct dlock_status *out)
{
	struct lock_look look;
	struct dlock *lk;
	int rc;

	lk = open_for_look(path, opts);
	if (lk == NULL) {
		/* No lock file in a directory that exists: a kernel-method
		 * lock that is free.  A missing directory is an error. */
		if (errno != ENOENT || !directory_exists(path))
			return -1;
		memset(out, 0, sizeof(*out));
		out->method = opts != NULL ? opts->method : DLOCK_AUTO;
		if (out->method == DLOCK_AUTO)
			out->method = auto_method_of(path);
		out->state = DLOCK_FREE;
		out->age = -1;
		out->stale = opts != NULL && opts->stale > 0 ? opts->stale :
		    DLOCK_STALE_DEFAULT;
		snprintf(out->reason, sizeof(out->reason), "no lock file");
		look_at_token(path, out);
		return 0;
	}
	rc = look_and_judge(lk, &look, out);
	dlock_close(lk);
	if (rc == 0)
		look_at_token(path, out);
	return rc;
}

/*
 * Removes a stale lock, or with force any lock, through the breaker
 * protocol.  EBUSY: alive (out says why); ENOENT: nothing to break;
 * EOPNOTSUPP: a kernel lock, which only its holder can release; ECANCELED:
 * the lock changed while being broken (look again).
 */
int
dlock_break(const char *path, const struct dlock_options *opts, int force,
    struct dlock_status *out)
{
	struct lock_look look;
	struct dlock *lk;
	int rc = -1, err;

	lk = open_for_look(path, opts);
	if (lk == NULL)
		return -1;
	if (look_and_judge(lk, &look, out) < 0) {
		err = errno;
	} else if (lk->name_ops == NULL) {
		err = EOPNOTSUPP;
	} else if (out->state == DLOCK_FREE) {
		err = ENOENT;
	} else if (out->state != DLOCK_DEAD && !force) {
		err = EBUSY;
	} else {
		rc = break_if_unchanged(lk, &look, force);
		err = errno;
	}
	dlock_close(lk);
	errno = err;
	return rc;
}

int
dlock_probe(const char *path, struct dlock_fsinfo *out)
{
	struct fsprobe *probe;
	int saved;

	probe = malloc(sizeof(*probe));
	if (probe == NULL)
		return -1;
	if (probe_path(path, probe) < 0) {
		saved = errno;
		free(probe);
		errno = saved;
		return -1;
	}
	/* For a directory: the method of lock files in it, which is what
	 * a user probing a lock directory wants to know. */
	*out = probe->fs;
	free(probe);
	return 0;
}
