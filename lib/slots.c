/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * A counting lock: N slots, each an ordinary lock of the chosen method at
 * LOCKPATH.slotK (K from 1 to N), so that a slot left by a dead holder is
 * judged and broken exactly as any stale lock.  The slots are separate
 * files for every method, fcntl too: one-byte ranges of LOCKPATH would
 * share the file with whole-file lockers, who would then exclude slot
 * holders with some methods (fcntl) and not with others (flock).  So a
 * plain lock of LOCKPATH never excludes a slot holder, and the number of
 * slots is agreed on through LOCKPATH.slots, which the first user creates
 * holding N and every later one compares with its own.
 */

struct slots {
	int count;
	struct dlock **slot;	/* count handles; slot[K - 1] is slot K */
	unsigned int next;	/* where the next try starts */
	long poll_cap_ns;
	pid_t child;
};

/* Polls of busy slots back off to at most this; a name method's own cap
 * (longer on network filesystems) wins when it is longer. */
#define SLOTS_POLL_CAP_NS (50 * 1000000L)

/* How long an empty LOCKPATH.slots may be taken for one being written. */
#define SLOTS_FILE_GRACE_NS (1000 * 1000000L)

/* LOCKPATH.slotK, or LOCKPATH.slots for k 0. */
static char *
slot_path(const char *path, int k)
{
	size_t size = strlen(path) + 32;
	char *s = malloc(size);

	if (s == NULL)
		return NULL;
	if (k > 0)
		snprintf(s, size, "%s.slot%d", path, k);
	else
		snprintf(s, size, "%s.slots", path);
	return s;
}

/* The number in a LOCKPATH.slots file: "N\n"; 0 when empty (being
 * written), -1 for anything else. */
static int
slots_in(const char *buf, ssize_t n)
{
	uint64_t v;

	if (n == 0)
		return 0;
	if (n < 2 || buf[n - 1] != '\n' ||
	    parse_canonical_decimal(buf, (size_t)n - 1, DLOCK_SLOTS_MAX, &v) < 0 ||
	    v == 0)
		return -1;
	return (int)v;
}

/*
 * Makes LOCKPATH.slots hold our count, or checks that it does: a
 * disagreement seen is DLOCK_ESLOTS, never silent over-admission.  A file
 * written in place (where links are refused) may be read empty for a
 * moment; a little patience tells that from a damaged one.
 */
static int
agree_on_count(const char *path, int count, mode_t mode)
{
	char data[16], buf[16], dir[PATH_MAX], *file;
	struct timespec nap = { 0, 10 * 1000000L };
	int how = PUBLISH_UNNAMED, len, found = 0, err, tries;
	ssize_t n;

	file = slot_path(path, 0);
	if (file == NULL)
		return -1;
	len = snprintf(data, sizeof(data), "%d\n", count);
	if (parent_dir(file, dir, sizeof(dir)) < 0)
		goto fail;
	if (publish_file(dir, file, data, (size_t)len, mode, &how, NULL) == 0) {
		free(file);
		return 0;
	}
	err = errno;
	for (tries = 0; tries * nap.tv_nsec < SLOTS_FILE_GRACE_NS; tries++) {
		n = read_file(file, O_NOFOLLOW | O_NONBLOCK, buf, sizeof(buf));
		if (n < 0) {
			/* Creating it failed, and there is none to read. */
			if (errno == ENOENT && err != EEXIST)
				errno = err;
			goto fail;
		}
		found = slots_in(buf, n);
		if (found != 0)
			break;
		nanosleep(&nap, NULL);
	}
	free(file);
	if (found == count)
		return 0;
	errno = DLOCK_ESLOTS;
	return -1;
fail:
	err = errno;
	free(file);
	errno = err;
	return -1;
}

static void
slots_free(struct dlock *lk)
{
	struct slots *s = lk->slots;
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < s->count; i++)
		dlock_close(s->slot[i]);
	free(s->slot);
	free(s);
	lk->slots = NULL;
}

/* Slot i is ours now: the handle answers for it. */
static void
note_held(struct dlock *lk, int i)
{
	struct slots *s = lk->slots;

	lk->inner = s->slot[i];
	lk->slot = i + 1;
	lk->fd = dlock_fd(s->slot[i]);
	lk->fell_back = dlock_fell_back(s->slot[i]);
	lk->method = dlock_method(s->slot[i]);
	/* The next lock starts one further on, where a slot is likelier
	 * free than the one just released. */
	s->next = (unsigned int)i + 1;
}

/*
 * One try of every slot, from a place that differs between processes so
 * that contenders spread over the slots instead of all trying slot 1
 * first.
 */
static int
slots_try(struct dlock *lk, int shared)
{
	struct slots *s = lk->slots;
	int k, i, err = EWOULDBLOCK;

	if (shared) {
		errno = EINVAL;
		return -1;
	}
	if (lk->inner != NULL) {
		errno = EDEADLK;
		return -1;
	}
	for (k = 0; k < s->count; k++) {
		i = (int)((s->next + (unsigned int)k) % (unsigned int)s->count);
		if (dlock_lock(s->slot[i], LOCK_EX | LOCK_NB, 0) == 0) {
			note_held(lk, i);
			return 0;
		}
		if (errno != EWOULDBLOCK) {
			err = errno;
			break;
		}
	}
	errno = err;
	return -1;
}

static int
slots_wait(struct dlock *lk, int shared, const struct timespec *deadline)
{
	return wait_poll(lk, shared, deadline, lk->slots->poll_cap_ns, NULL);
}

static int
slots_unlock(struct dlock *lk)
{
	struct dlock *held = lk->inner;

	if (held == NULL)
		return 0;
	lk->inner = NULL;
	lk->slot = 0;
	lk->fd = -1;
	return dlock_unlock(held);
}

static int
slots_release(struct dlock *lk)
{
	int rc = slots_unlock(lk), saved = errno;

	slots_free(lk);
	errno = saved;
	return rc;
}

static int
slots_heartbeat(struct dlock *lk)
{
	return lk->inner != NULL ? dlock_heartbeat(lk->inner) : 0;
}

/* The command is recorded in whichever slot is taken, so in all. */
static int
slots_set_child(struct dlock *lk, pid_t child)
{
	struct slots *s = lk->slots;
	int i;

	s->child = child;
	for (i = 0; i < s->count; i++)
		if (dlock_set_child(s->slot[i], child) < 0)
			return -1;
	return 0;
}

static const struct dlock_ops slots_ops = {
	.try_lock = slots_try,
	.wait_lock = slots_wait,
	.unlock = slots_unlock,
	.release = slots_release,
	.heartbeat = slots_heartbeat,
	.set_child = slots_set_child,
};

struct dlock *
slots_open(const char *path, const struct dlock_options *opts)
{
	struct dlock_options one = *opts;
	struct dlock *lk;
	struct slots *s;
	char *name;
	int i;

	if (opts->slots < 1) {
		errno = EINVAL;
		return NULL;
	}
	lk = shape_handle(path, opts, &slots_ops);
	if (lk == NULL)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto fail;
	lk->slots = s;
	/* An array of handles, which are pointers. */
	s->slot = calloc((size_t)opts->slots, sizeof(dlock_t *)); // NOLINT(bugprone-sizeof-expression)
	if (s->slot == NULL)
		goto fail;
	if (agree_on_count(path, opts->slots, opts->mode) < 0)
		goto fail;
	one.slots = 0;
	s->poll_cap_ns = SLOTS_POLL_CAP_NS;
	for (i = 0; i < opts->slots; i++) {
		name = slot_path(path, i + 1);
		if (name == NULL)
			goto fail;
		s->slot[i] = dlock_open(name, &one);
		free(name);
		if (s->slot[i] == NULL)
			goto fail;
		s->count = i + 1;
		if (s->slot[i]->poll_cap_ns > s->poll_cap_ns)
			s->poll_cap_ns = s->slot[i]->poll_cap_ns;
	}
	lk->method = dlock_method(s->slot[0]);
	s->next = (unsigned int)getpid() % (unsigned int)opts->slots;
	return lk;
fail:
	slots_free(lk);
	handle_free(lk);
	return NULL;
}
