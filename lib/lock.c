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

/*
 * Adding a method means one file and one row here.  A method that holds
 * its lock by a name gives only what differs (name_ops); the engine of
 * namelock.c does the rest, and shared.c makes shared locks of its
 * exclusive ones.
 */
static const struct method {
	const struct dlock_ops *ops;
	const struct name_ops *name_ops;	/* NULL for kernel locks */
} method_table[] = {
	[DLOCK_FCNTL] = { &fcntl_ops, NULL },
	[DLOCK_FLOCK] = { &flock_ops, NULL },
	[DLOCK_LOCKFILE] = { &shared_name_ops, &lockfile_name_ops },
	[DLOCK_MKDIR] = { &shared_name_ops, &mkdir_name_ops },
};

#define KNOWN_FLAGS (DLOCK_INTERRUPTIBLE | DLOCK_NOCREATE | DLOCK_INHERIT | \
    DLOCK_FAIR | DLOCK_TOKEN)

static int
fcntl_setlk(int fd, int cmd, struct flock *fl)
{
	return fcntl(fd, cmd, fl);
}

const struct kernel_calls system_lock_calls = {
	.setlk = fcntl_setlk,
	.flock = flock,
};

/* Polling methods back off to at most this between attempts. */
#define POLL_CAP_NS (50 * 1000000L)

static int
method_available(int method)
{
	return method > 0 &&
	    method < (int)(sizeof(method_table) / sizeof(method_table[0])) &&
	    method_table[method].ops != NULL;
}

/* Sets the method and prepares it. */
static int
use_method(struct dlock *lk, int method)
{
	lk->method = method;
	lk->ops = method_table[method].ops;
	lk->name_ops = method_table[method].name_ops;
	return lk->ops->prepare(lk);
}

void
dlock_options_init(struct dlock_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->method = DLOCK_AUTO;
	opts->mode = 0666;
}

/* 0 for options a handle can be made of, else the errno that says why. */
static int
options_error(const struct dlock_options *o)
{
	if (o->method != DLOCK_AUTO && !method_available(o->method))
		return o->method > 0 && dlock_method_name(o->method) != NULL ?
		    EOPNOTSUPP : EINVAL;
	if ((o->flags & ~KNOWN_FLAGS) != 0)
		return EINVAL;
	if (o->start < 0 || o->length < 0)
		return EINVAL;
	/* The last byte of the range must be representable. */
	if (o->length > 0 && o->start > INT64_MAX - o->length)
		return EINVAL;
	if (!(o->stale >= 0) || isinf(o->stale))
		return EINVAL;
	if (o->slots < 0 || o->slots > DLOCK_SLOTS_MAX)
		return EINVAL;
	/* A shape is made of other locks, each of its own path: one count
	 * for all of them is not built. */
	if ((o->flags & DLOCK_TOKEN) &&
	    ((o->flags & DLOCK_FAIR) || o->slots > 0))
		return EINVAL;
	return 0;
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

	forget_look(lk);
	lk->path_fd = look_without_opening(path, &lk->path_st);
	if (lk->path_fd >= 0)
		lk->path_seen = PATH_FOUND;
	else if (errno == ENOENT)
		lk->path_seen = PATH_MISSING;
	is_dir = lk->path_seen == PATH_FOUND && S_ISDIR(lk->path_st.st_mode);
	probe = malloc(sizeof(*probe));
	if (probe == NULL)
		return -1;
	method = probe_method(path, lk->path_seen == PATH_FOUND ?
	    &lk->path_st : NULL, probe);
	saved = errno;
	free(probe);
	errno = saved;
	if (method != DLOCK_FCNTL && method != DLOCK_FLOCK) {
		/* Only a kernel method opens the file. */
		forget_look(lk);
		errno = saved;
	}
	if (method == DLOCK_FLOCK && (lk->start != 0 || lk->length != 0))
		return DLOCK_FCNTL;
	return method == DLOCK_FCNTL && is_dir ? DLOCK_FLOCK : method;
}

/*
 * A kernel method chosen by auto that finds a lock of a name method at the
 * path (EPROTO from its prepare) takes that method instead: the others on
 * this path fell back to a lockfile (their kernel locks fail), or chose
 * one, and only the same method excludes them.  Given by -m, a kernel
 * method refuses instead.
 */
static int
join_name_lock(struct dlock *lk)
{
	int err = errno, method;

	if (err != EPROTO || !lk->chosen || lk->name_ops != NULL ||
	    lk->path == NULL) {
		errno = err;
		return -1;
	}
	/* What the kernel method's prepare saw there (open.c); it may be
	 * gone already, and then the lock was just released. */
	method = S_ISDIR(lk->path_st.st_mode) ? DLOCK_MKDIR : DLOCK_LOCKFILE;
	lk->chosen = 0;
	return use_method(lk, method);
}

static struct dlock *
handle_new(const struct dlock_options *opts)
{
	struct dlock_options defaults;
	struct dlock *lk;
	int err;

	if (opts == NULL) {
		dlock_options_init(&defaults);
		opts = &defaults;
	}
	err = options_error(opts);
	if (err != 0) {
		errno = err;
		return NULL;
	}
	lk = calloc(1, sizeof(*lk));
	if (lk == NULL)
		return NULL;
	lk->method = opts->method;
	lk->fd = -1;
	lk->path_fd = -1;
	lk->quick.tmp_fd = -1;
	lk->kernel = &system_lock_calls;
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

	forget_look(lk);
	free(lk->path);
	free(lk->token_path);
	free(lk);
	errno = saved;
}

/* Names the path, resolves auto, and prepares the method. */
static int
handle_setup(struct dlock *lk, const char *path)
{
	if (path == NULL || *path == '\0') {
		errno = ENOENT;
		return -1;
	}
	lk->path = strdup(path);
	if (lk->path == NULL)
		return -1;
	if ((lk->flags & DLOCK_TOKEN) &&
	    (lk->token_path = token_path_for(path)) == NULL)
		return -1;
	if (lk->method == DLOCK_AUTO) {
		lk->method = auto_method(lk, path);
		if (lk->method < 0)
			return -1;
		lk->chosen = 1;
		lk->by_auto = 1;
	}
	if (use_method(lk, lk->method) == 0)
		return 0;
	return join_name_lock(lk);
}

struct dlock *
handle_open(const char *path, const struct dlock_options *opts,
    const struct kernel_calls *kernel)
{
	struct dlock *lk = handle_new(opts);

	if (lk == NULL)
		return NULL;
	lk->kernel = kernel;
	if (handle_setup(lk, path) < 0) {
		handle_free(lk);
		return NULL;
	}
	return lk;
}

/*
 * A shape is a handle of its own whose operations take and give back
 * ordinary locks (slots.c, queue.c); it names the method they use.
 */
struct dlock *
shape_handle(const char *path, const struct dlock_options *opts,
    const struct dlock_ops *ops)
{
	struct dlock *lk = handle_new(opts);

	if (lk == NULL)
		return NULL;
	if (path == NULL || *path == '\0') {
		handle_free(lk);
		errno = ENOENT;
		return NULL;
	}
	lk->path = strdup(path);
	if (lk->path == NULL) {
		handle_free(lk);
		return NULL;
	}
	lk->ops = ops;
	return lk;
}

dlock_t *
dlock_open(const char *path, const struct dlock_options *opts)
{
	if (opts != NULL && (opts->flags & DLOCK_FAIR))
		return queue_open(path, opts);
	if (opts != NULL && opts->slots > 0)
		return slots_open(path, opts);
	return handle_open(path, opts, &system_lock_calls);
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
	if ((lk->method != DLOCK_FCNTL && lk->method != DLOCK_FLOCK) ||
	    (lk->flags & DLOCK_FAIR) || (opts != NULL && opts->slots > 0)) {
		/* The other methods hold a lock by a name, not a descriptor;
		 * so do the shapes, whose parts lie beside the path. */
		handle_free(lk);
		errno = EINVAL;
		return NULL;
	}
	lk->fd = fd;
	/* A descriptor's token file is named after the file it is open on. */
	if (lk->flags & DLOCK_TOKEN) {
		char *path = fd_path(fd);

		lk->token_path = path != NULL ? token_path_for(path) : NULL;
		free(path);
		if (lk->token_path == NULL) {
			handle_free(lk);
			return NULL;
		}
	}
	if (use_method(lk, lk->method) < 0) {
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

	if (!lk->chosen || lk->name_ops != NULL || lk->path == NULL ||
	    (saved != ENOLCK && saved != EOPNOTSUPP))
		return -1;
	lk->ops->release(lk);
	/* The empty file just created for the kernel lock would read as a
	 * legacy lockfile, stale only after the whole lease. */
	if (lk->created)
		unlink(lk->path);
	lk->chosen = 0;
	if (use_method(lk, DLOCK_LOCKFILE) < 0)
		return -1;
	lk->fell_back = 1;
	return 0;
}

static int
take(struct dlock *lk, int shared, double timeout)
{
	struct timespec deadline;
	int rc;

	/* A lock held by a name, about to be waited for if busy: on a
	 * network filesystem the first try is then made as a wait's tries
	 * are, at one operation each (namewait.c). */
	if (lk->name_ops != NULL && timeout != 0)
		quick_begin(lk);
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
	if (lk->name_ops != NULL)
		quick_end(lk);
	return rc;
}

/*
 * A grant without its token is no grant: the lock is let go of again
 * (unless it was lost already), and the token's error is what the caller
 * sees.
 */
static int
let_go_of_grant(struct dlock *lk)
{
	int saved = errno;

	if (lk->held)
		lk->ops->unlock(lk);
	lk->held = 0;
	lk->token = 0;
	errno = saved;
	return -1;
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
	/* A queue's first try already takes its place in line. */
	if (lk->queue != NULL)
		return queue_lock(lk, shared, timeout);
	/* A record published for this grant shows no earlier one's token. */
	if (!lk->held)
		lk->self.token = 0;
	rc = take(lk, shared, timeout);
	if (rc < 0 && fall_back_to_lockfile(lk) == 0)
		rc = take(lk, shared, timeout);
	if (rc == 0)
		lk->held = kind;
	if (rc == 0 && (lk->flags & DLOCK_TOKEN) && token_take(lk) < 0)
		return let_go_of_grant(lk);
	return rc;
}

int
dlock_unlock(dlock_t *lk)
{
	if (lk->ops->unlock(lk) < 0)
		return -1;
	lk->held = 0;
	lk->token = 0;
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
dlock_lost(const dlock_t *lk)
{
	/* A shape is lost when the ordinary lock it holds is. */
	if (lk->inner != NULL)
		return dlock_lost(lk->inner);
	return lk->lost || (lk->held && lk->name_ops != NULL &&
	    name_lease_ran_out(lk));
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

/* A queue holds its lock through another shape, perhaps slots. */
int
dlock_slot(const dlock_t *lk)
{
	for (; lk != NULL; lk = lk->inner)
		if (lk->slot > 0)
			return lk->slot;
	return 0;
}

const char *
dlock_path(const dlock_t *lk)
{
	return lk->path;
}
