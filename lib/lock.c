/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "internal.h"
#include "probe.h"

/* Adding a method means one file and one row here. */
static const struct dlock_ops *const method_table[] = {
	[DLOCK_FCNTL] = &fcntl_ops,
	[DLOCK_FLOCK] = &flock_ops,
	[DLOCK_LOCKFILE] = &lockfile_ops,
	[DLOCK_MKDIR] = &mkdir_ops,
};

static const char *const method_names[] = {
	[DLOCK_AUTO] = "auto",
	[DLOCK_FCNTL] = "fcntl",
	[DLOCK_FLOCK] = "flock",
	[DLOCK_LOCKFILE] = "lockfile",
	[DLOCK_MKDIR] = "mkdir",
};

#define NMETHODS (int)(sizeof(method_names) / sizeof(method_names[0]))
#define KNOWN_FLAGS (DLOCK_INTERRUPTIBLE | DLOCK_NOCREATE | DLOCK_INHERIT)

/* Polling methods back off to at most this between attempts. */
#define POLL_CAP_NS (50 * 1000000L)

const char *
dlock_method_name(int method)
{
	if (method < 0 || method >= NMETHODS)
		return NULL;
	return method_names[method];
}

int
dlock_method_from_name(const char *name)
{
	int m;

	for (m = 0; name != NULL && m < NMETHODS; m++)
		if (strcmp(name, method_names[m]) == 0)
			return m;
	errno = EINVAL;
	return -1;
}

static int
method_available(int method)
{
	return method > 0 &&
	    method < (int)(sizeof(method_table) / sizeof(method_table[0])) &&
	    method_table[method] != NULL;
}

void
dlock_options_init(struct dlock_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->method = DLOCK_AUTO;
	opts->mode = 0666;
}

static int
options_valid(const struct dlock_options *o)
{
	if (o->method != DLOCK_AUTO && !method_available(o->method))
		return o->method > 0 && o->method < NMETHODS ? -2 : 0;
	if ((o->flags & ~KNOWN_FLAGS) != 0)
		return 0;
	if (o->start < 0 || o->length < 0)
		return 0;
	/* The last byte of the range must be representable. */
	if (o->length > 0 && o->start > INT64_MAX - o->length)
		return 0;
	if (!(o->stale >= 0) || isinf(o->stale))
		return 0;
	return 1;
}

/*
 * What `auto` means for a path: the method the filesystem calls for
 * (probe.c), except that a byte range, which flock(2) cannot lock, gets
 * fcntl (every filesystem that gets flock makes fcntl coherent too), and
 * a directory, which cannot be opened for writing and so cannot take an
 * exclusive fcntl lock, gets flock(2), as with flock(1).  What it sees at
 * the path is kept for open_lock_file(): on a network filesystem every
 * look is a round trip to the server.
 */
static int
auto_method(struct dlock *lk, const char *path)
{
	struct fsprobe *probe;
	int is_dir, method, saved;

	if (lstat(path, &lk->path_st) == 0)
		lk->path_seen = 1;
	else if (errno == ENOENT)
		lk->path_seen = -1;
	is_dir = lk->path_seen > 0 && S_ISDIR(lk->path_st.st_mode);
	probe = malloc(sizeof(*probe));
	if (probe == NULL)
		return -1;
	method = probe_method(path, is_dir, probe);
	saved = errno;
	free(probe);
	errno = saved;
	if (method == DLOCK_FLOCK && (lk->start != 0 || lk->length != 0))
		return DLOCK_FCNTL;
	return method == DLOCK_FCNTL && is_dir ? DLOCK_FLOCK : method;
}

struct dlock *
handle_new(const struct dlock_options *opts)
{
	struct dlock_options defaults;
	struct dlock *lk;
	int valid;

	if (opts == NULL) {
		dlock_options_init(&defaults);
		opts = &defaults;
	}
	valid = options_valid(opts);
	if (valid <= 0) {
		errno = valid == -2 ? EOPNOTSUPP : EINVAL;
		return NULL;
	}
	lk = calloc(1, sizeof(*lk));
	if (lk == NULL)
		return NULL;
	lk->method = opts->method;
	lk->fd = -1;
	lk->flags = opts->flags;
	lk->start = opts->start;
	lk->length = opts->length;
	lk->mode = opts->mode;
	lk->stale = opts->stale > 0 ? opts->stale : DLOCK_STALE_DEFAULT;
	return lk;
}

void
handle_free(struct dlock *lk)
{
	int saved = errno;

	free(lk->path);
	free(lk);
	errno = saved;
}

/* Names the path, resolves auto, and prepares the method. */
int
handle_setup(struct dlock *lk, const char *path)
{
	if (path == NULL || *path == '\0') {
		errno = ENOENT;
		return -1;
	}
	lk->path = strdup(path);
	if (lk->path == NULL)
		return -1;
	if (lk->method == DLOCK_AUTO) {
		lk->method = auto_method(lk, path);
		if (lk->method < 0)
			return -1;
		lk->chosen = 1;
	}
	lk->ops = method_table[lk->method];
	return lk->ops->prepare(lk);
}

dlock_t *
dlock_open(const char *path, const struct dlock_options *opts)
{
	struct dlock *lk = handle_new(opts);

	if (lk == NULL)
		return NULL;
	if (handle_setup(lk, path) < 0) {
		handle_free(lk);
		return NULL;
	}
	return lk;
}

dlock_t *
dlock_open_fd(int fd, const struct dlock_options *opts)
{
	struct dlock *lk;

	if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
		errno = EBADF;
		return NULL;
	}
	lk = handle_new(opts);
	if (lk == NULL)
		return NULL;
	/* A descriptor gets the lock flock(1) takes on one, which needs no
	 * write access; on NFS the kernel sends it as a whole-file fcntl
	 * lock.  Only a byte range needs fcntl. */
	if (lk->method == DLOCK_AUTO)
		lk->method = lk->start != 0 || lk->length != 0 ?
		    DLOCK_FCNTL : DLOCK_FLOCK;
	if (lk->method != DLOCK_FCNTL && lk->method != DLOCK_FLOCK) {
		/* The other methods hold a lock by a name, not a descriptor. */
		handle_free(lk);
		errno = EINVAL;
		return NULL;
	}
	lk->fd = fd;
	lk->ops = method_table[lk->method];
	if (lk->ops->prepare(lk) < 0) {
		handle_free(lk);
		return NULL;
	}
	return lk;
}

/*
 * A kernel lock that fails with ENOLCK (no lock service: NFS without
 * lockd) or EOPNOTSUPP on a path whose method auto chose is held as a
 * lockfile instead.
 */
static int
fall_back_to_lockfile(struct dlock *lk)
{
	int saved = errno;

	if (!lk->chosen || lk->name != NULL || lk->path == NULL ||
	    (saved != ENOLCK && saved != EOPNOTSUPP))
		return -1;
	lk->ops->release(lk);
	/* The empty file just created for the kernel lock would read as a
	 * legacy lockfile, stale only after the whole lease. */
	if (lk->created)
		unlink(lk->path);
	lk->method = DLOCK_LOCKFILE;
	lk->ops = method_table[lk->method];
	lk->chosen = 0;
	if (lk->ops->prepare(lk) < 0)
		return -1;
	lk->fell_back = 1;
	return 0;
}

static int
take(struct dlock *lk, int shared, double timeout)
{
	struct timespec deadline;
	int rc;

	rc = lk->ops->try_lock(lk, shared);
	if (rc < 0 && errno == EWOULDBLOCK && timeout != 0) {
		if (timeout > 0)
			deadline_set(&deadline, timeout);
		if (lk->ops->wait_lock != NULL)
			rc = lk->ops->wait_lock(lk, shared,
			    timeout > 0 ? &deadline : NULL);
		else
			rc = wait_poll(lk, shared, timeout > 0 ? &deadline : NULL,
			    POLL_CAP_NS, NULL);
	}
	return rc;
}

int
dlock_lock(dlock_t *lk, int operation, double timeout)
{
	int kind = operation & ~LOCK_NB;
	int shared = kind == LOCK_SH;
	int rc;

	if (operation == LOCK_UN)
		return dlock_unlock(lk);
	if ((kind != LOCK_SH && kind != LOCK_EX) || isnan(timeout)) {
		errno = EINVAL;
		return -1;
	}
	if (operation & LOCK_NB)
		timeout = 0;
	rc = take(lk, shared, timeout);
	if (rc < 0 && fall_back_to_lockfile(lk) == 0)
		rc = take(lk, shared, timeout);
	if (rc == 0)
		lk->held = kind;
	return rc;
}

int
dlock_unlock(dlock_t *lk)
{
	if (lk->ops->unlock(lk) < 0)
		return -1;
	lk->held = 0;
	return 0;
}

int
dlock_close(dlock_t *lk)
{
	int rc;

	if (lk == NULL)
		return 0;
	rc = lk->ops->release(lk);
	handle_free(lk);
	return rc;
}

int
dlock_heartbeat(dlock_t *lk)
{
	return lk->ops->heartbeat != NULL ? lk->ops->heartbeat(lk) : 0;
}

int
dlock_set_child(dlock_t *lk, pid_t child)
{
	if (child < 0) {
		errno = EINVAL;
		return -1;
	}
	return lk->ops->set_child != NULL ? lk->ops->set_child(lk, child) : 0;
}

int
dlock_fell_back(const dlock_t *lk)
{
	return lk->fell_back;
}

int
dlock_fd(const dlock_t *lk)
{
	return lk->fd;
}

int
dlock_method(const dlock_t *lk)
{
	return lk->method;
}

const char *
dlock_path(const dlock_t *lk)
{
	return lk->path;
}
