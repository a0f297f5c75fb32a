/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/*
 * The shapes, for every method, with several processes: a counting lock
 * (slots) never lets more than its N holders in, each in a slot of its
 * own; a fair lock serves its waiters in the order they queued; all users
 * of a counting lock agree on N.
 */

static const int methods[] = {
	DLOCK_FCNTL, DLOCK_FLOCK, DLOCK_LOCKFILE, DLOCK_MKDIR, DLOCK_AUTO
};

#define SLOTS		3
#define CONTENDERS	8
#define ROUNDS		6
#define WAITERS		6

static char top[256];

/* What the processes of a case share. */
struct shared {
	int inside;		/* holders inside now */
	int peak;		/* the most seen inside at once */
	int in_slot[SLOTS + 1];	/* holders in each slot now */
	int doubled;		/* a slot was found taken by another */
	int bad_slot;		/* dlock_slot() outside 1..SLOTS */
	int used[SLOTS + 1];
	int order[WAITERS];
	int served;
};

static struct shared *sh;

static dlock_t *
open_shape(const char *path, int method, int slots, int flags)
{
	struct dlock_options o;

	dlock_options_init(&o);
	o.method = method;
	o.slots = slots;
	o.flags = flags;
	return dlock_open(path, &o);
}

static void
nap_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };

	nanosleep(&ts, NULL);
}

/* One contender: ROUNDS times a slot, with a check of who else is in. */
static int
contend(const char *path, int method)
{
	dlock_t *lk = open_shape(path, method, SLOTS, 0);
	int round, slot, n, peak;

	bound_this_child(60);
	if (lk == NULL)
		return 2;
	for (round = 0; round < ROUNDS; round++) {
		if (dlock_lock(lk, LOCK_EX, 30) < 0)
			return 3;
		slot = dlock_slot(lk);
		if (slot < 1 || slot > SLOTS) {
			__atomic_store_n(&sh->bad_slot, 1, __ATOMIC_SEQ_CST);
			return 4;
		}
		if (__atomic_fetch_add(&sh->in_slot[slot], 1,
		    __ATOMIC_SEQ_CST) != 0)
			__atomic_store_n(&sh->doubled, 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&sh->used[slot], 1, __ATOMIC_SEQ_CST);
		n = __atomic_add_fetch(&sh->inside, 1, __ATOMIC_SEQ_CST);
		peak = __atomic_load_n(&sh->peak, __ATOMIC_SEQ_CST);
		while (n > peak && !__atomic_compare_exchange_n(&sh->peak,
		    &peak, n, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			;
		nap_ms(20);
		__atomic_sub_fetch(&sh->inside, 1, __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(&sh->in_slot[slot], 1, __ATOMIC_SEQ_CST);
		if (dlock_unlock(lk) < 0)
			return 5;
		if (dlock_slot(lk) != 0)
			return 6;
	}
	return dlock_close(lk) < 0 ? 7 : 0;
}

static void
test_slots(int method, const char *dir)
{
	char path[700];
	pid_t pids[CONTENDERS];
	const char *m = dlock_method_name(method);
	int i, failed = 0;

	snprintf(path, sizeof(path), "%s/slots", dir);
	memset(sh, 0, sizeof(*sh));
	for (i = 0; i < CONTENDERS; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(contend(path, method));
	}
	for (i = 0; i < CONTENDERS; i++)
		failed += child_status(pids[i]) != 0;
	CHECK(failed == 0, "%s: %d of %d contenders failed", m, failed,
	    CONTENDERS);
	CHECK(sh->peak <= SLOTS, "%s: %d inside at once, of %d slots", m,
	    sh->peak, SLOTS);
	CHECK(sh->peak >= 2, "%s: never more than %d inside", m, sh->peak);
	CHECK(!sh->doubled, "%s: two holders in one slot", m);
	CHECK(!sh->bad_slot, "%s: a slot number outside 1..%d", m, SLOTS);
	for (i = 1; i <= SLOTS; i++)
		CHECK(sh->used[i], "%s: slot %d never used", m, i);
}

static int
tickets_in(const char *queue)
{
	DIR *d = opendir(queue);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	/* cppcheck-suppress readdirCalled ; one thread reads each directory */
	while ((e = readdir(d)) != NULL)
		n += strlen(e->d_name) == 12 &&
		    strspn(e->d_name, "0123456789") == 12;
	closedir(d);
	return n;
}

static int
queue_and_note(const char *path, int method, int me)
{
	dlock_t *lk = open_shape(path, method, 0, DLOCK_FAIR);

	bound_this_child(60);
	if (lk == NULL || dlock_lock(lk, LOCK_EX, 30) < 0)
		return 2;
	sh->order[__atomic_fetch_add(&sh->served, 1, __ATOMIC_SEQ_CST)] = me;
	return dlock_close(lk) < 0 ? 3 : 0;
}

static void
test_fair(int method, const char *dir)
{
	char path[700], queue[720];
	pid_t pids[WAITERS];
	const char *m = dlock_method_name(method);
	dlock_t *holder, *other;
	int i, k, failed = 0, in_order = 1;

	snprintf(path, sizeof(path), "%s/fair", dir);
	snprintf(queue, sizeof(queue), "%s.queue", path);
	memset(sh, 0, sizeof(*sh));
	holder = open_shape(path, method, 0, DLOCK_FAIR);
	CHECK(holder != NULL && dlock_lock(holder, LOCK_EX, 5) == 0,
	    "%s: fair holder", m);
	if (holder == NULL)
		return;
	/* A try with the lock held is busy, and leaves no ticket behind. */
	other = open_shape(path, method, 0, DLOCK_FAIR);
	errno = 0;
	CHECK(other != NULL && dlock_lock(other, LOCK_EX | LOCK_NB, 0) < 0 &&
	    errno == EWOULDBLOCK, "%s: fair try of a held lock: %s", m,
	    strerror(errno));
	CHECK(tickets_in(queue) == 0, "%s: a try left a ticket", m);
	dlock_close(other);
	for (i = 0; i < WAITERS; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(queue_and_note(path, method, i));
		/* The next one comes once this one is in line. */
		for (k = 0; k < 500 && tickets_in(queue) < i + 1; k++)
			nap_ms(10);
		CHECK(tickets_in(queue) == i + 1, "%s: waiter %d not queued", m,
		    i);
	}
	CHECK(dlock_unlock(holder) == 0, "%s: holder's release", m);
	for (i = 0; i < WAITERS; i++)
		failed += child_status(pids[i]) != 0;
	CHECK(failed == 0, "%s: %d of %d fair waiters failed", m, failed,
	    WAITERS);
	for (i = 0; i < WAITERS; i++)
		in_order &= sh->order[i] == i;
	CHECK(in_order && sh->served == WAITERS,
	    "%s: served out of order: %d %d %d %d %d %d", m, sh->order[0],
	    sh->order[1], sh->order[2], sh->order[3], sh->order[4],
	    sh->order[5]);
	CHECK(tickets_in(queue) == 0, "%s: tickets left behind", m);
	dlock_close(holder);
}

static void
test_agreement(const char *dir)
{
	char path[700];
	dlock_t *a, *b, *plain;

	snprintf(path, sizeof(path), "%s/agree", dir);
	a = open_shape(path, DLOCK_LOCKFILE, 3, 0);
	CHECK(a != NULL, "open with 3 slots: %s", strerror(errno));
	errno = 0;
	b = open_shape(path, DLOCK_LOCKFILE, 2, 0);
	CHECK(b == NULL && errno == DLOCK_ESLOTS,
	    "2 slots where 3 were agreed: %s", strerror(errno));
	dlock_close(b);
	errno = 0;
	b = open_shape(path, DLOCK_LOCKFILE, DLOCK_SLOTS_MAX + 1, 0);
	CHECK(b == NULL && errno == EINVAL, "too many slots: %s",
	    strerror(errno));
	CHECK(a != NULL && dlock_slot(a) == 0, "a slot before locking");
	plain = open_shape(path, DLOCK_LOCKFILE, 0, 0);
	CHECK(plain != NULL && dlock_lock(plain, LOCK_EX, 0) == 0 &&
	    dlock_slot(plain) == 0, "a plain lock has no slot");
	dlock_close(plain);
	dlock_close(a);
}

static void
remove_tree(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int
main(void)
{
	const char *under = getenv("DLOCK_TEST_DIR");
	char dir[300];
	size_t i;
	int n;

	/* DLOCK_TEST_DIR puts the cases on another filesystem: the cluster
	 * tier runs them on its volume. */
	n = snprintf(top, sizeof(top), "%s/dlock-shapes.XXXXXX",
	    under != NULL && *under != '\0' ? under : "/tmp");
	if (n < 0 || (size_t)n >= sizeof(top) || mkdtemp(top) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	/* cppcheck-suppress invalidFunctionArg ; an anonymous map has no fd */
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/%s", top,
		    dlock_method_name(methods[i]));
		if (mkdir(dir, 0700) < 0) {
			perror(dir);
			return 1;
		}
		test_slots(methods[i], dir);
		test_fair(methods[i], dir);
	}
	test_agreement(top);
	remove_tree(top);
	return check_summary("shapes");
}
