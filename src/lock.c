/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dlock_int.h"

/* Adding a method means one file and one row here. */
static const struct dlock_ops *const method_table[] = {
	[DLOCK_FCNTL] = &dlock_fcntl_ops,
	[DLOCK_FLOCK] = &dlock_flock_ops,
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
 * What `auto` means for a path: a directory cannot take an exclusive fcntl
 * lock (it cannot be opened for writing), so, as flock(1) does, it gets
 * flock(2).
 */
static int
auto_method(const char *path)
{
	struct stat st;

	if (path != NULL && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return DLOCK_FLOCK;
	return DLOCK_FCNTL;
}

static struct dlock *
new_handle(const struct dlock_options *opts)
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

static dlock_t *
prepare_or_free(struct dlock *lk)
{
	int saved;

	lk->ops = method_table[lk->method];
	if (lk->ops->prepare(lk) == 0)
		return lk;
	saved = errno;
	free(lk->path);
	free(lk);
	errno = saved;
	return NULL;
}

dlock_t *
dlock_open(const char *path, const struct dlock_options *opts)
{
	struct dlock *lk;

	if (path == NULL || *path == '\0') {
		errno = ENOENT;
		return NULL;
	}
	lk = new_handle(opts);
	if (lk == NULL)
		return NULL;
	lk->path = strdup(path);
	if (lk->path == NULL) {
		free(lk);
		errno = ENOMEM;
		return NULL;
	}
	if (lk->method == DLOCK_AUTO)
		lk->method = auto_method(path);
	return prepare_or_free(lk);
}

dlock_t *
dlock_open_fd(int fd, const struct dlock_options *opts)
{
	struct dlock *lk;

	if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
		errno = EBADF;
		return NULL;
	}
	lk = new_handle(opts);
	if (lk == NULL)
		return NULL;
	if (lk->method == DLOCK_AUTO)
		lk->method = DLOCK_FCNTL;
	if (lk->method != DLOCK_FCNTL && lk->method != DLOCK_FLOCK) {
		/* The other methods hold a lock by a name, not a descriptor. */
		free(lk);
		errno = EINVAL;
		return NULL;
	}
	lk->fd = fd;
	return prepare_or_free(lk);
}

int
dlock_lock(dlock_t *lk, int operation, double timeout)
{
	struct timespec deadline;
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

	rc = lk->ops->try_lock(lk, shared);
	if (rc < 0 && errno == EWOULDBLOCK && timeout != 0) {
		if (timeout > 0)
			deadline_set(&deadline, timeout);
		if (lk->ops->wait_lock != NULL)
			rc = lk->ops->wait_lock(lk, shared,
			    timeout > 0 ? &deadline : NULL);
		else
			rc = wait_poll(lk, shared, timeout > 0 ? &deadline : NULL,
			    POLL_CAP_NS);
	}
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
	int rc, saved;

	if (lk == NULL)
		return 0;
	rc = lk->ops->release(lk);
	saved = errno;
	free(lk->path);
	free(lk);
	errno = saved;
	return rc;
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
