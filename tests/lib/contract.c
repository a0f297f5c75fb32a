/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "contract.h"

/*
 * The library contract every method meets, whatever holds its lock: an
 * exclusive lock excludes other handles, threads and processes; LOCK_NB
 * and a timeout of 0 make one try; a timed wait ends on time or with the
 * lock once it is released; a signal ends a wait only when asked to; a
 * released lock can be taken again.
 */

/*
 * A kernel lock leaves its file behind, a name lock nothing.  The name
 * locks poll, so their threads contend for fewer rounds in the same time.
 */
static const struct method_traits known_traits[] = {
	{ DLOCK_FCNTL, DLOCK_FCNTL, 1, 1, 300 },
	{ DLOCK_FLOCK, DLOCK_FLOCK, 1, 1, 300 },
	{ DLOCK_LOCKFILE, DLOCK_LOCKFILE, 1, 0, 50 },
	{ DLOCK_MKDIR, DLOCK_MKDIR, 1, 0, 50 },
};

struct method_traits
traits_of(int method)
{
	struct method_traits t = { method, -1, 0, 0, 0 };
	struct place p;
	size_t i;

	if (method == DLOCK_AUTO) {
		dlock_t *lk;

		place_for(&p, "resolve", method);
		lk = open_with(p.lock, method, 0, 0);
		if (lk != NULL) {
			t = traits_of(dlock_method(lk));
			t.method = DLOCK_AUTO;
			dlock_close(lk);
		}
		return t;
	}
	for (i = 0; i < sizeof(known_traits) / sizeof(known_traits[0]); i++)
		if (known_traits[i].method == method)
			t = known_traits[i];
	return t;
}

static const char *
name(const struct method_traits *t)
{
	return dlock_method_name(t->method);
}

static void
test_exclusive_excludes_other_handles(const struct method_traits *t)
{
	struct place p;
	dlock_t *a, *b;

	place_for(&p, "excl", t->method);
	a = open_with(p.lock, t->method, 0, 0);
	b = open_with(p.lock, t->method, 0, 0);
	CHECK(a != NULL && b != NULL, "%s: open", name(t));
	if (a == NULL || b == NULL)
		return;
	CHECK(dlock_method(a) == t->resolved, "%s: method is %s", name(t),
	    dlock_method_name(t->resolved));
	CHECK(dlock_lock(a, LOCK_EX, -1) == 0, "%s: first exclusive", name(t));
	errno = 0;
	CHECK(dlock_lock(b, LOCK_EX | LOCK_NB, -1) == -1 &&
	    errno == EWOULDBLOCK, "%s: second exclusive with LOCK_NB is busy "
	    "(errno %d)", name(t), errno);
	errno = 0;
	CHECK(dlock_lock(b, LOCK_EX, 0) == -1 && errno == EWOULDBLOCK,
	    "%s: timeout 0 is one try (errno %d)", name(t), errno);
	CHECK(entries_in(p.dir) == 1, "%s: the held lock alone is in the "
	    "directory (%d entries)", name(t), entries_in(p.dir));
	CHECK(dlock_unlock(a) == 0, "%s: unlock", name(t));
	CHECK(dlock_lock(b, LOCK_EX | LOCK_NB, -1) == 0,
	    "%s: free after unlock", name(t));
	CHECK(dlock_close(b) == 0, "%s: close", name(t));
	CHECK(dlock_lock(a, LOCK_EX | LOCK_NB, 0) == 0,
	    "%s: free after close, and the handle that let go takes it "
	    "again", name(t));
	CHECK(dlock_unlock(a) == 0 && dlock_lock(a, LOCK_EX | LOCK_NB, 0) == 0,
	    "%s: ... and again after its own unlock", name(t));
	dlock_close(a);
	CHECK(entries_in(p.dir) == t->entries_at_rest, "%s: a released lock "
	    "leaves %d entries (%d)", name(t), t->entries_at_rest,
	    entries_in(p.dir));
}

static void
test_shared_locks_or_none(const struct method_traits *t)
{
	struct place p;
	dlock_t *a, *b, *c;

	place_for(&p, "shared", t->method);
	a = open_with(p.lock, t->method, 0, 0);
	b = open_with(p.lock, t->method, 0, 0);
	c = open_with(p.lock, t->method, 0, 0);
	if (!t->shared) {
		errno = 0;
		CHECK(dlock_lock(a, LOCK_SH, -1) == -1 && errno == EOPNOTSUPP,
		    "%s: LOCK_SH is EOPNOTSUPP (errno %d)", name(t), errno);
		errno = 0;
		CHECK(dlock_lock(a, LOCK_SH | LOCK_NB, 0) == -1 &&
		    errno == EOPNOTSUPP, "%s: LOCK_SH|LOCK_NB is EOPNOTSUPP",
		    name(t));
		CHECK(entries_in(p.dir) == 0, "%s: a refused shared lock "
		    "leaves nothing", name(t));
	} else {
		CHECK(dlock_lock(a, LOCK_SH | LOCK_NB, 0) == 0 &&
		    dlock_lock(b, LOCK_SH | LOCK_NB, 0) == 0,
		    "%s: two shared locks", name(t));
		errno = 0;
		CHECK(dlock_lock(c, LOCK_EX | LOCK_NB, 0) == -1 &&
		    errno == EWOULDBLOCK, "%s: exclusive against shared is "
		    "busy", name(t));
		dlock_unlock(a);
		dlock_unlock(b);
		CHECK(dlock_lock(c, LOCK_EX, -1) == 0, "%s: exclusive once "
		    "the shared are gone", name(t));
		errno = 0;
		CHECK(dlock_lock(b, LOCK_SH, 0) == -1 && errno == EWOULDBLOCK,
		    "%s: shared beside exclusive is busy (timeout 0)",
		    name(t));
	}
	dlock_close(a);
	dlock_close(b);
	dlock_close(c);
}

/*
 * The holder's handle, which a child inherits: closing it there would let
 * go of the holder's lock, so the child leaves it alone, where a leak
 * checker still sees it.
 */
static dlock_t *volatile held_across_fork;

static void
test_another_process_is_excluded(const struct method_traits *t)
{
	struct place p;
	dlock_t *a;
	pid_t pid;

	place_for(&p, "fork", t->method);
	a = held_across_fork = open_with(p.lock, t->method, 0, 0);
	CHECK(a != NULL && dlock_lock(a, LOCK_EX, 0) == 0, "%s: lock",
	    name(t));
	pid = fork();
	if (pid == 0) {
		dlock_t *b;
		int timed_out;

		bound_this_child(30);
		b = open_with(p.lock, t->method, 0, 0);
		timed_out = b != NULL && dlock_lock(b, LOCK_EX, 0.2) == -1 &&
		    errno == ETIMEDOUT;
		dlock_close(b);
		_exit(timed_out ? 0 : 1);
	}
	CHECK(child_status(pid) == 0, "%s: another process times out on the "
	    "held lock", name(t));
	dlock_close(a);
	held_across_fork = NULL;
}

static void
test_timed_wait_expires_on_time(const struct method_traits *t)
{
	struct place p;
	dlock_t *a, *b;
	double t0, took;

	place_for(&p, "timeout", t->method);
	a = open_with(p.lock, t->method, 0, 0);
	b = open_with(p.lock, t->method, 0, 0);
	dlock_lock(a, LOCK_EX, -1);
	t0 = now();
	errno = 0;
	CHECK(dlock_lock(b, LOCK_EX, 0.3) == -1 && errno == ETIMEDOUT,
	    "%s: a wait on a held lock times out (errno %d)", name(t), errno);
	took = now() - t0;
	CHECK(took >= 0.3 && took < 1.5, "%s: timed out after %.3f s, "
	    "expected 0.3", name(t), took);
	CHECK(entries_in(p.dir) == 1, "%s: the timed-out waiter left nothing "
	    "beside the lock (%d entries)", name(t), entries_in(p.dir));
	CHECK(dlock_unlock(a) == 0 && dlock_lock(b, LOCK_EX, 0) == 0,
	    "%s: a timed-out waiter holds nothing and can lock later",
	    name(t));
	dlock_close(a);
	dlock_close(b);
}

static void
test_timed_wait_succeeds_once_released(const struct method_traits *t)
{
	struct place p;
	dlock_t *a, *b, *c;
	struct release_later r;
	pthread_t thread;
	double t0, took;

	place_for(&p, "release", t->method);
	a = open_with(p.lock, t->method, 0, 0);
	b = open_with(p.lock, t->method, 0, 0);
	c = open_with(p.lock, t->method, 0, 0);
	r = (struct release_later){ a, 0.2 };
	dlock_lock(a, LOCK_EX, -1);
	pthread_create(&thread, NULL, release_after, &r);
	t0 = now();
	CHECK(dlock_lock(b, LOCK_EX, 10) == 0, "%s: a timed wait gets the "
	    "lock once it is released", name(t));
	took = now() - t0;
	pthread_join(thread, NULL);
	CHECK(took >= 0.15 && took < 1.0, "%s: got it after %.3f s, expected "
	    "about 0.2", name(t), took);
	errno = 0;
	CHECK(dlock_lock(c, LOCK_EX | LOCK_NB, 0) == -1 && errno == EWOULDBLOCK,
	    "%s: the lock a timed wait got is really held", name(t));
	dlock_close(b);
	CHECK(dlock_lock(c, LOCK_EX | LOCK_NB, 0) == 0,
	    "%s: and released by close", name(t));
	dlock_close(a);
	dlock_close(c);
}

struct contender {
	const char *path;
	int method;
	int rounds;
	volatile int *inside;
	int *counter;
	int overlaps;
	int errors;
};

/* Takes the lock c->rounds times to add one to a counter, read and
 * written back with a yield between, and notes whom it found inside. */
static void *
contend(void *arg)
{
	struct contender *c = arg;
	dlock_t *lk = open_with(c->path, c->method, 0, 0);
	int i, v;

	if (lk == NULL) {
		c->errors++;
		return NULL;
	}
	for (i = 0; i < c->rounds; i++) {
		if (dlock_lock(lk, LOCK_EX, i % 2 ? 10 : -1) < 0) {
			c->errors++;
			continue;
		}
		if (__atomic_fetch_add(c->inside, 1, __ATOMIC_SEQ_CST) != 0)
			c->overlaps++;
		v = *c->counter;
		sched_yield();
		*c->counter = v + 1;
		__atomic_fetch_sub(c->inside, 1, __ATOMIC_SEQ_CST);
		if (dlock_unlock(lk) < 0)
			c->errors++;
	}
	dlock_close(lk);
	return NULL;
}

static void
test_threads_of_one_process_exclude_each_other(const struct method_traits *t)
{
	enum { NTHREADS = 4 };
	struct contender c[NTHREADS];
	pthread_t thread[NTHREADS];
	volatile int inside = 0;
	int counter = 0, overlaps = 0, errors = 0, i;
	struct place p;

	place_for(&p, "threads", t->method);
	for (i = 0; i < NTHREADS; i++) {
		c[i] = (struct contender){ p.lock, t->method, t->thread_rounds,
		    &inside, &counter, 0, 0 };
		pthread_create(&thread[i], NULL, contend, &c[i]);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(thread[i], NULL);
		overlaps += c[i].overlaps;
		errors += c[i].errors;
	}
	CHECK(overlaps == 0 && errors == 0 &&
	    counter == NTHREADS * t->thread_rounds,
	    "%s: %d threads x %d rounds: counter %d, overlaps %d, errors %d",
	    name(t), NTHREADS, t->thread_rounds, counter, overlaps, errors);
	CHECK(entries_in(p.dir) == t->entries_at_rest, "%s: only %d entries "
	    "left after the threads (%d)", name(t), t->entries_at_rest,
	    entries_in(p.dir));
}

/* What the contending processes share, in memory mapped by them all. */
struct shared_count {
	volatile int inside;
	int counter;
	int overlaps;
};

static void
test_processes_exclude_each_other(const struct method_traits *t)
{
	enum { NPROCS = 4, ROUNDS = 25 };
	struct shared_count *s;
	pid_t pid[NPROCS];
	int i, failed = 0;
	struct place p;

	place_for(&p, "procs", t->method);
	s = shared_memory(sizeof(*s));
	CHECK(s != NULL, "%s: shared memory", name(t));
	if (s == NULL)
		return;
	for (i = 0; i < NPROCS; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			dlock_t *lk;
			int round, errors = 0, v;

			bound_this_child(60);
			lk = open_with(p.lock, t->method, 0, 0);
			for (round = 0; lk != NULL && round < ROUNDS; round++) {
				if (dlock_lock(lk, LOCK_EX, 10) < 0) {
					errors++;
					continue;
				}
				if (__atomic_fetch_add(&s->inside, 1,
				    __ATOMIC_SEQ_CST) != 0)
					__atomic_fetch_add(&s->overlaps, 1,
					    __ATOMIC_SEQ_CST);
				v = s->counter;
				sched_yield();
				s->counter = v + 1;
				__atomic_fetch_sub(&s->inside, 1,
				    __ATOMIC_SEQ_CST);
				if (dlock_unlock(lk) < 0)
					errors++;
			}
			dlock_close(lk);
			_exit(lk == NULL || errors > 0 ? 1 : 0);
		}
	}
	for (i = 0; i < NPROCS; i++)
		if (child_status(pid[i]) != 0)
			failed++;
	CHECK(failed == 0 && s->overlaps == 0 &&
	    s->counter == NPROCS * ROUNDS, "%s: %d processes x %d rounds: "
	    "counter %d, overlaps %d, %d failed", name(t), NPROCS, ROUNDS,
	    s->counter, s->overlaps, failed);
	CHECK(entries_in(p.dir) == t->entries_at_rest, "%s: only %d entries "
	    "left after the processes (%d)", name(t), t->entries_at_rest,
	    entries_in(p.dir));
	munmap(s, sizeof(*s));
}

static void
test_signals_interrupt_only_when_asked(const struct method_traits *t)
{
	struct place p;
	struct sigaction sa;
	dlock_t *a, *plain, *intr;
	double t0;

	place_for(&p, "intr", t->method);
	a = open_with(p.lock, t->method, 0, 0);
	plain = open_with(p.lock, t->method, 0, 0);
	intr = open_with(p.lock, t->method, DLOCK_INTERRUPTIBLE, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	dlock_lock(a, LOCK_EX, -1);

	arm_alarm(0.1);
	errno = 0;
	CHECK(dlock_lock(intr, LOCK_EX, -1) == -1 && errno == EINTR,
	    "%s: an interruptible wait forever ends with EINTR", name(t));
	arm_alarm(0.1);
	errno = 0;
	CHECK(dlock_lock(intr, LOCK_EX, 5) == -1 && errno == EINTR,
	    "%s: an interruptible timed wait ends with EINTR", name(t));
	arm_alarm(0.1);
	t0 = now();
	errno = 0;
	CHECK(dlock_lock(plain, LOCK_EX, 0.4) == -1 && errno == ETIMEDOUT &&
	    now() - t0 >= 0.4, "%s: a signal does not end a plain wait",
	    name(t));
	CHECK(entries_in(p.dir) == 1, "%s: interrupted waits leave nothing "
	    "(%d entries)", name(t), entries_in(p.dir));
	dlock_close(a);
	dlock_close(plain);
	dlock_close(intr);
}

void
contract_run(const struct method_traits *t)
{
	CHECK(t->resolved != -1 && t->resolved != DLOCK_AUTO,
	    "%s: a method to test (%d)", name(t), t->resolved);
	if (t->resolved == -1 || t->resolved == DLOCK_AUTO)
		return;
	test_exclusive_excludes_other_handles(t);
	test_shared_locks_or_none(t);
	test_another_process_is_excluded(t);
	test_timed_wait_expires_on_time(t);
	test_timed_wait_succeeds_once_released(t);
	test_threads_of_one_process_exclude_each_other(t);
	test_processes_exclude_each_other(t);
	test_signals_interrupt_only_when_asked(t);
}

int
contract_main(int method, void (*own_tests)(void))
{
	struct method_traits t;
	const char *suite = dlock_method_name(method);

	if (suite == NULL || places_init(suite) < 0)
		return 255;
	t = traits_of(method);
	contract_run(&t);
	if (method == DLOCK_LOCKFILE || method == DLOCK_MKDIR) {
		names_contract_run(method);
		shared_contract_run(method);
	}
	if (own_tests != NULL)
		own_tests();
	places_remove();
	return check_summary(suite);
}
