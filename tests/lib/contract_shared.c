/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "contract.h"

/*
 * Shared locks of the methods that hold a lock by a name: readers
 * overlap, a writer is alone, a writer waiting keeps new readers out, an
 * upgrade is refused, a dead reader is cleared, and nothing is left once
 * all have let go.
 */

/* 2001-09-09: long before any test ran. */
enum { times_old_sec = 1000000000 };

static const char *
name(int method)
{
	return dlock_method_name(method);
}

/* The registrations of the readers of lock: entries of LOCKPATH.readers. */
static int
readers_of(const struct place *p)
{
	char dir[400];

	snprintf(dir, sizeof(dir), "%s.readers", p->lock);
	return entries_in(dir);
}

/* Waits (bounded: 10 s) until path exists; 1 once it does. */
static int
appears(const char *path)
{
	struct timespec nap = { 0, 5 * 1000000L };
	double until = now() + 10;
	struct stat st;

	while (lstat(path, &st) < 0)
		if (now() > until || nanosleep(&nap, NULL) < 0)
			return 0;
	return 1;
}

/* One try of operation finds the lock busy. */
static int
is_busy(dlock_t *lk, int operation)
{
	errno = 0;
	return dlock_lock(lk, operation | LOCK_NB, 0) == -1 &&
	    errno == EWOULDBLOCK;
}

/* A wait of 0.3 s for operation ends with ETIMEDOUT, not before. */
static int
times_out(dlock_t *lk, int operation)
{
	double t0 = now();

	errno = 0;
	return dlock_lock(lk, operation, 0.3) == -1 && errno == ETIMEDOUT &&
	    now() - t0 >= 0.3;
}

static void
test_readers_overlap_and_exclude_a_writer(int method)
{
	struct place p;
	dlock_t *a, *b, *w;

	place_for(&p, "readers", method);
	a = open_with(p.lock, method, 0, 0);
	b = open_with(p.lock, method, 0, 0);
	w = open_with(p.lock, method, 0, 0);
	CHECK(a != NULL && b != NULL && w != NULL, "%s: open", name(method));
	if (a == NULL || b == NULL || w == NULL)
		return;
	CHECK(dlock_lock(a, LOCK_SH, 5) == 0 &&
	    dlock_lock(b, LOCK_SH | LOCK_NB, 0) == 0,
	    "%s: two readers at once", name(method));
	CHECK(readers_of(&p) == 2, "%s: two registrations (%d)", name(method),
	    readers_of(&p));
	CHECK(is_busy(w, LOCK_EX),
	    "%s: a writer with LOCK_NB is busy beside readers (errno %d)",
	    name(method), errno);
	CHECK(times_out(w, LOCK_EX), "%s: a writer's timed wait beside "
	    "readers ends with ETIMEDOUT (errno %d)", name(method), errno);
	CHECK(dlock_unlock(a) == 0, "%s: a reader lets go", name(method));
	CHECK(dlock_lock(a, LOCK_SH | LOCK_NB, 0) == 0, "%s: the writer that "
	    "gave up let go of the gate: a reader enters", name(method));
	CHECK(dlock_unlock(a) == 0 && dlock_unlock(b) == 0,
	    "%s: both readers let go", name(method));
	CHECK(dlock_lock(w, LOCK_EX | LOCK_NB, 0) == 0, "%s: the writer gets "
	    "in once the readers are gone", name(method));
	CHECK(is_busy(a, LOCK_SH),
	    "%s: a reader with LOCK_NB is busy beside a writer (errno %d)",
	    name(method), errno);
	CHECK(times_out(a, LOCK_SH), "%s: a reader's timed wait beside a "
	    "writer ends with ETIMEDOUT (errno %d)", name(method), errno);
	CHECK(readers_of(&p) <= 0, "%s: refused readers leave no "
	    "registration (%d)", name(method), readers_of(&p));
	dlock_close(a);
	dlock_close(b);
	dlock_close(w);
	CHECK(entries_in(p.dir) == 0, "%s: nothing is left once all let go "
	    "(%d entries)", name(method), entries_in(p.dir));
}

static void
test_upgrade_is_refused(int method)
{
	struct place p;
	dlock_t *a, *b;

	place_for(&p, "upgrade", method);
	a = open_with(p.lock, method, 0, 0);
	b = open_with(p.lock, method, 0, 0);
	if (a == NULL || b == NULL) {
		CHECK(0, "%s: open", name(method));
		return;
	}
	CHECK(dlock_lock(a, LOCK_SH, 5) == 0, "%s: shared", name(method));
	errno = 0;
	CHECK(dlock_lock(a, LOCK_EX, 1) == -1 && errno == EDEADLK,
	    "%s: an upgrade to exclusive is refused with EDEADLK (errno %d)",
	    name(method), errno);
	errno = 0;
	CHECK(dlock_lock(a, LOCK_SH | LOCK_NB, 0) == -1 && errno == EDEADLK,
	    "%s: a second shared lock on one handle is refused with EDEADLK",
	    name(method));
	CHECK(is_busy(b, LOCK_EX),
	    "%s: the refused upgrade kept the shared lock", name(method));
	CHECK(readers_of(&p) == 1, "%s: one registration (%d)", name(method),
	    readers_of(&p));
	CHECK(dlock_unlock(a) == 0 && dlock_lock(a, LOCK_EX | LOCK_NB, 0) == 0,
	    "%s: unlock, then exclusive", name(method));
	errno = 0;
	CHECK(dlock_lock(a, LOCK_SH | LOCK_NB, 0) == -1 && errno == EDEADLK,
	    "%s: a downgrade is refused with EDEADLK too", name(method));
	dlock_close(a);
	dlock_close(b);
}

/*
 * A writer waiting keeps readers out that come after it: readers hold;
 * a writer, in another process, waits; a new reader is then refused,
 * and the writer gets in once the old readers let go.
 */
/*
 * Handles a child leaves open on purpose, and its parent's that fork
 * copied into it: kept reachable here, so that a leak checker (valgrind)
 * does not count them as lost when the child exits without closing them,
 * which closing would do to its parent's locks.
 */
static dlock_t *volatile kept[3];

static void
test_a_waiting_writer_keeps_new_readers_out(int method)
{
	struct place p;
	dlock_t *a, *late;
	char gate[400];
	pid_t writer;

	place_for(&p, "prefer", method);
	snprintf(gate, sizeof(gate), "%s", p.lock);
	a = open_with(p.lock, method, 0, 0);
	late = open_with(p.lock, method, 0, 0);
	kept[0] = a;
	kept[1] = late;
	if (a == NULL || late == NULL || dlock_lock(a, LOCK_SH, 5) < 0) {
		CHECK(0, "%s: open and share", name(method));
		return;
	}
	writer = fork();
	if (writer == 0) {
		dlock_t *w;

		bound_this_child(30);
		w = open_with(p.lock, method, 0, 0);
		_exit(w != NULL && dlock_lock(w, LOCK_EX, 20) == 0 &&
		    dlock_close(w) == 0 ? 0 : 1);
	}
	CHECK(appears(gate), "%s: the writer holds the gate while it waits",
	    name(method));
	CHECK(is_busy(late, LOCK_SH), "%s: a reader after a waiting writer waits "
	    "(errno %d)", name(method), errno);
	CHECK(dlock_unlock(a) == 0, "%s: the reader lets go", name(method));
	CHECK(child_status(writer) == 0, "%s: the writer got in once the "
	    "reader let go", name(method));
	CHECK(dlock_lock(late, LOCK_SH, 5) == 0, "%s: then the late reader",
	    name(method));
	dlock_close(a);
	dlock_close(late);
}

/* A reader that died holding its lock is cleared by the next writer. */
static void
test_a_dead_reader_is_cleared(int method)
{
	struct place p;
	dlock_t *w;
	pid_t reader;

	place_for(&p, "dead", method);
	reader = fork();
	if (reader == 0) {
		dlock_t *r;

		bound_this_child(30);
		r = open_with(p.lock, method, 0, 0);
		kept[2] = r;
		/* Gone without letting go, as if killed. */
		_exit(r != NULL && dlock_lock(r, LOCK_SH, 5) == 0 ? 0 : 1);
	}
	CHECK(child_status(reader) == 0, "%s: the reader took its lock",
	    name(method));
	CHECK(readers_of(&p) == 1, "%s: its registration stays (%d)",
	    name(method), readers_of(&p));
	w = open_with(p.lock, method, 0, 0);
	CHECK(w != NULL && dlock_lock(w, LOCK_EX | LOCK_NB, 0) == 0,
	    "%s: a writer gets in at once, past the dead reader", name(method));
	CHECK(readers_of(&p) <= 0, "%s: the dead registration was removed "
	    "(%d)", name(method), readers_of(&p));
	CHECK(entries_in(p.dir) == 1, "%s: only the writer's lock is left "
	    "(%d entries)", name(method), entries_in(p.dir));
	dlock_close(w);
}

/*
 * With times: sets the mtime of each registration's record file in dir to
 * them; without: counts the records refreshed since (an mtime after 2001).
 * Returns how many it set or found.
 */
static int
registrations_touched(const char *dir, int method,
    const struct timespec times[2])
{
	char rec[700];
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(dir);
	int n = 0;

	/* cppcheck-suppress readdirCalled ; one thread reads each directory */
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strlen(e->d_name) != DLOCK_NONCE_LEN)
			continue;
		snprintf(rec, sizeof(rec), "%s/%s%s", dir, e->d_name,
		    method == DLOCK_MKDIR ? "/owner" : "");
		if (times != NULL)
			n += utimensat(AT_FDCWD, rec, times,
			    AT_SYMLINK_NOFOLLOW) == 0;
		else
			n += lstat(rec, &st) == 0 &&
			    st.st_mtim.tv_sec > times_old_sec;
	}
	if (d != NULL)
		closedir(d);
	return n;
}

/* A reader's heartbeat refreshes its registration; status lists it. */
static void
test_a_readers_lease_and_status(int method)
{
	struct timespec old[2] = { { times_old_sec, 0 }, { times_old_sec, 0 } };
	struct dlock_options o;
	struct dlock_status st[4];
	struct place p;
	char dir[400];
	struct stat sb;
	dlock_t *a, *b;
	int n;

	place_for(&p, "lease", method);
	a = open_with(p.lock, method, 0, 0);
	b = open_with(p.lock, method, 0, 0);
	if (a == NULL || b == NULL || dlock_lock(a, LOCK_SH, 5) < 0 ||
	    dlock_lock(b, LOCK_SH, 5) < 0) {
		CHECK(0, "%s: two readers", name(method));
		return;
	}
	dlock_options_init(&o);
	o.method = method;
	n = dlock_status_readers(p.lock, &o, st, 4);
	CHECK(n == 2 && st[0].state == DLOCK_ALIVE && st[1].state ==
	    DLOCK_ALIVE && st[0].owner.pid == getpid() && st[0].same_host,
	    "%s: dlock_status_readers() finds two live readers of ours (%d)",
	    name(method), n);
	CHECK(dlock_status_readers(p.lock, &o, st, 1) == 2, "%s: and counts "
	    "them all when given room for one", name(method));
	/* Age every registration, then let a's heartbeat refresh its own. */
	snprintf(dir, sizeof(dir), "%s.readers", p.lock);
	CHECK(registrations_touched(dir, method, old) == 2, "%s: two "
	    "registrations aged", name(method));
	CHECK(dlock_heartbeat(a) == 0, "%s: a reader's heartbeat",
	    name(method));
	n = registrations_touched(dir, method, NULL);
	CHECK(n == 1, "%s: the heartbeat refreshed one registration, its own "
	    "(%d)", name(method), n);
	CHECK(lstat(p.lock, &sb) < 0 && errno == ENOENT, "%s: no gate stays "
	    "while only readers hold", name(method));
	dlock_close(a);
	dlock_close(b);
	CHECK(dlock_status_readers(p.lock, &o, st, 4) == 0, "%s: no readers "
	    "once they let go", name(method));
}

/* What the contending processes share, in memory mapped by them all. */
struct inside {
	int readers;
	int writers;
	int reader_peak;
	int overlaps;		/* a writer with anyone */
	int errors;
	int first_error;	/* the errno of the first */
};

static void
enter(struct inside *s, int writer)
{
	struct timespec nap = { 0, 1000000L };
	int r, w, i;

	if (writer) {
		w = __atomic_add_fetch(&s->writers, 1, __ATOMIC_SEQ_CST);
		r = __atomic_load_n(&s->readers, __ATOMIC_SEQ_CST);
		if (w != 1 || r != 0)
			__atomic_add_fetch(&s->overlaps, 1, __ATOMIC_SEQ_CST);
		nanosleep(&nap, NULL);
		__atomic_sub_fetch(&s->writers, 1, __ATOMIC_SEQ_CST);
		return;
	}
	__atomic_add_fetch(&s->readers, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&s->writers, __ATOMIC_SEQ_CST) != 0)
		__atomic_add_fetch(&s->overlaps, 1, __ATOMIC_SEQ_CST);
	/* A reader stays a little while another may join it: up to half a
	 * second, for readers on a network filesystem, which poll slowly. */
	for (i = 0; i < 500 && __atomic_load_n(&s->readers,
	    __ATOMIC_SEQ_CST) < 2; i++)
		nanosleep(&nap, NULL);
	r = __atomic_load_n(&s->readers, __ATOMIC_SEQ_CST);
	for (;;) {
		int peak = __atomic_load_n(&s->reader_peak, __ATOMIC_SEQ_CST);

		if (r <= peak || __atomic_compare_exchange_n(&s->reader_peak,
		    &peak, r, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			break;
	}
	__atomic_sub_fetch(&s->readers, 1, __ATOMIC_SEQ_CST);
}

static void
note_error(struct inside *s)
{
	int none = 0;

	__atomic_compare_exchange_n(&s->first_error, &none, errno, 0,
	    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&s->errors, 1, __ATOMIC_SEQ_CST);
}

/* 4 processes, 3 readers and a writer, many rounds each. */
static void
test_processes_share_and_exclude(int method)
{
	enum { NPROCS = 4, ROUNDS = 20 };
	struct inside *s;
	pid_t pid[NPROCS];
	struct place p;
	int i, failed = 0;

	place_for(&p, "mixed", method);
	s = shared_memory(sizeof(*s));
	CHECK(s != NULL, "%s: shared memory", name(method));
	if (s == NULL)
		return;
	for (i = 0; i < NPROCS; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			int writer = i == 0, round;
			dlock_t *lk;

			bound_this_child(60);
			lk = open_with(p.lock, method, 0, 0);
			for (round = 0; lk != NULL && round < ROUNDS; round++) {
				if (dlock_lock(lk, writer ? LOCK_EX : LOCK_SH,
				    20) < 0) {
					note_error(s);
					continue;
				}
				enter(s, writer);
				if (dlock_unlock(lk) < 0)
					note_error(s);
			}
			dlock_close(lk);
			_exit(lk == NULL ? 1 : 0);
		}
	}
	for (i = 0; i < NPROCS; i++)
		if (child_status(pid[i]) != 0)
			failed++;
	CHECK(failed == 0 && s->errors == 0 && s->overlaps == 0 &&
	    s->reader_peak > 1, "%s: %d processes (1 writer) x %d rounds: "
	    "a writer with another %d times, reader peak %d, %d errors "
	    "(the first: %s), %d failed", name(method), NPROCS, ROUNDS,
	    s->overlaps, s->reader_peak, s->errors, strerror(s->first_error),
	    failed);
	CHECK(entries_in(p.dir) == 0, "%s: nothing is left after the "
	    "processes (%d entries)", name(method), entries_in(p.dir));
	munmap(s, sizeof(*s));
}

void
shared_contract_run(int method)
{
	test_readers_overlap_and_exclude_a_writer(method);
	test_upgrade_is_refused(method);
	test_a_waiting_writer_keeps_new_readers_out(method);
	test_a_dead_reader_is_cleared(method);
	test_a_readers_lease_and_status(method);
	test_processes_share_and_exclude(method);
}
