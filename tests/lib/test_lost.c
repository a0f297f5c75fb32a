/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "contract.h"

/*
 * A lock lost while held: dlock_lost() tells it without any I/O, from
 * what the last heartbeat found and from the lease by the holder's own
 * clock, and the next dlock_heartbeat() and dlock_unlock() fail with
 * DLOCK_ELOST.  Each case has other processes contending for the lock.
 */

#define CONTENDERS 4
#define LEASE 2.0	/* seconds; lost by our clock after 0.8 s */

static void
sleep_for(double secs)
{
	struct timespec ts = { (time_t)secs,
	    (long)((secs - (double)(time_t)secs) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A handle of p's lock that holds it, or NULL (a failure counted). */
static dlock_t *
held_lock(const struct place *p, int method, double stale, const char *what)
{
	dlock_t *lk = open_with(p->lock, method, 0, stale);
	int rc = lk != NULL ? dlock_lock(lk, LOCK_EX, 5) : -1;

	CHECK(rc == 0, "%s: %s: locked (errno %d)", what,
	    dlock_method_name(method), errno);
	if (rc == 0)
		return lk;
	dlock_close(lk);
	return NULL;
}

/*
 * A contender: takes the lock (waiting up to 10 s), and checks inside
 * that it is alone and not lost, refreshing it once; exit status 0 when
 * all went well.
 */
static int
contend(const struct place *p, int method, int rounds)
{
	char inside[400];
	dlock_t *lk = open_with(p->lock, method, 0, LEASE);
	int fd, r;

	snprintf(inside, sizeof(inside), "%s.inside", p->dir);
	if (lk == NULL)
		return 10;
	for (r = 0; r < rounds; r++) {
		if (dlock_lock(lk, LOCK_EX, 10) < 0)
			return 11;
		fd = open(inside, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			return 12;
		close(fd);
		if (dlock_lost(lk) || dlock_heartbeat(lk) < 0 || dlock_lost(lk))
			return 13;
		sleep_for(0.01);
		unlink(inside);
		if (dlock_unlock(lk) < 0)
			return 14;
	}
	dlock_close(lk);
	return 0;
}

static void
start_contenders(const struct place *p, int method, int rounds,
    pid_t *pids)
{
	for (int i = 0; i < CONTENDERS; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			bound_this_child(30);
			_exit(contend(p, method, rounds));
		}
	}
}

static void
check_contenders(pid_t *pids, const char *what, int method)
{
	for (int i = 0; i < CONTENDERS; i++) {
		int st = child_status(pids[i]);

		CHECK(st == 0, "%s: %s: contender %d exited %d", what,
		    dlock_method_name(method), i, st);
	}
}

/* Fails with EWOULDBLOCK: the lock is held by someone. */
static int
busy(const struct place *p, int method)
{
	dlock_t *lk = open_with(p->lock, method, 0, LEASE);
	int rc, err;

	if (lk == NULL)
		return 0;
	rc = dlock_lock(lk, LOCK_EX | LOCK_NB, 0);
	err = errno;
	dlock_close(lk);
	return rc < 0 && err == EWOULDBLOCK;
}

static void
test_refreshed_lock_is_not_lost(int method)
{
	const char *m = dlock_method_name(method);
	pid_t pids[CONTENDERS];
	struct place p;
	dlock_t *lk;
	int lost = 0;

	place_for(&p, "refreshed", method);
	lk = held_lock(&p, method, LEASE, "refreshed");
	if (lk == NULL)
		return;
	CHECK(!dlock_lost(lk), "refreshed: %s: not lost when just taken", m);
	start_contenders(&p, method, 3, pids);
	/* Twice the lease, refreshed every 0.3 s. */
	for (int i = 0; i < 13; i++) {
		sleep_for(0.3);
		lost |= dlock_heartbeat(lk) < 0 || dlock_lost(lk);
	}
	CHECK(!lost, "refreshed: %s: a lock refreshed within its lease is "
	    "never lost (errno %d)", m, errno);
	CHECK(dlock_unlock(lk) == 0, "refreshed: %s: released (errno %d)", m,
	    errno);
	check_contenders(pids, "refreshed", method);
	dlock_close(lk);
}

static void
test_lease_run_out_by_own_clock(int method)
{
	const char *m = dlock_method_name(method);
	pid_t pids[CONTENDERS];
	struct place p;
	dlock_t *lk;
	int rc;

	place_for(&p, "runout", method);
	lk = held_lock(&p, method, LEASE, "runout");
	if (lk == NULL)
		return;
	start_contenders(&p, method, 2, pids);
	sleep_for(0.4);
	CHECK(!dlock_lost(lk), "runout: %s: not lost within the lease less "
	    "its margin", m);
	sleep_for(0.6);
	CHECK(dlock_lost(lk), "runout: %s: lost once no refresh came for "
	    "the lease less its margin", m);
	CHECK(busy(&p, method), "runout: %s: ... though no one has taken it",
	    m);
	errno = 0;
	rc = dlock_heartbeat(lk);
	CHECK(rc == -1 && errno == DLOCK_ELOST, "runout: %s: the next "
	    "heartbeat fails with DLOCK_ELOST (rc %d, errno %d)", m, rc,
	    errno);
	CHECK(dlock_lost(lk), "runout: %s: ... and it stays lost", m);
	errno = 0;
	rc = dlock_unlock(lk);
	CHECK(rc == -1 && errno == DLOCK_ELOST, "runout: %s: the release "
	    "fails with DLOCK_ELOST (rc %d, errno %d)", m, rc, errno);
	CHECK(!dlock_lost(lk), "runout: %s: a released handle is not lost",
	    m);
	check_contenders(pids, "runout", method);
	CHECK(entries_in(p.dir) == 0, "runout: %s: ... but removed our lock, "
	    "so that the contenders got in (%d entries left)", m,
	    entries_in(p.dir));
	CHECK(dlock_lock(lk, LOCK_EX | LOCK_NB, 0) == 0 && !dlock_lost(lk) &&
	    dlock_unlock(lk) == 0, "runout: %s: the handle locks again "
	    "(errno %d)", m, errno);
	dlock_close(lk);
}

/* Puts a record with another nonce in place of ours, atomically. */
static int
replace_record(const struct place *p)
{
	char rec[1024], tmp[400], *nonce;

	contents(p->record, rec, sizeof(rec));
	nonce = strstr(rec, "nonce=");
	if (nonce == NULL)
		return -1;
	nonce[6] = nonce[6] == 'a' ? 'b' : 'a';
	snprintf(tmp, sizeof(tmp), "%s.new", p->dir);
	if (write_file(tmp, rec) < 0)
		return -1;
	return rename(tmp, p->record);
}

static void
test_broken_lock_is_lost(int method)
{
	const char *m = dlock_method_name(method);
	char before[1024], after[1024];
	pid_t pids[CONTENDERS];
	struct place p;
	dlock_t *lk;
	int rc;

	place_for(&p, "broken", method);
	lk = held_lock(&p, method, 300, "broken");
	if (lk == NULL)
		return;
	CHECK(replace_record(&p) == 0, "broken: %s: record replaced (errno "
	    "%d)", m, errno);
	contents(p.record, before, sizeof(before));
	CHECK(!dlock_lost(lk), "broken: %s: dlock_lost() does no I/O: it "
	    "cannot know before a heartbeat", m);
	errno = 0;
	rc = dlock_heartbeat(lk);
	CHECK(rc == -1 && errno == DLOCK_ELOST, "broken: %s: the heartbeat "
	    "finds it lost (rc %d, errno %d)", m, rc, errno);
	CHECK(dlock_lost(lk), "broken: %s: ... and dlock_lost() says so", m);
	/* The record names our pid, alive: no contender may take it. */
	for (int i = 0; i < CONTENDERS; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			bound_this_child(30);
			_exit(busy(&p, method) ? 0 : 1);
		}
	}
	check_contenders(pids, "broken", method);
	errno = 0;
	rc = dlock_unlock(lk);
	CHECK(rc == -1 && errno == DLOCK_ELOST, "broken: %s: the release "
	    "fails with DLOCK_ELOST (rc %d, errno %d)", m, rc, errno);
	contents(p.record, after, sizeof(after));
	CHECK(strcmp(before, after) == 0 && after[0] != '\0', "broken: %s: "
	    "... and leaves the other's record alone", m);
	CHECK(dlock_close(lk) == 0, "broken: %s: closed (errno %d)", m, errno);
}

static void
test_kernel_lock_is_never_lost(int method)
{
	const char *m = dlock_method_name(method);
	pid_t pids[CONTENDERS];
	struct place p;
	dlock_t *lk;

	place_for(&p, "kernel", method);
	lk = held_lock(&p, method, LEASE, "kernel");
	if (lk == NULL)
		return;
	start_contenders(&p, method, 2, pids);
	sleep_for(1.0);
	CHECK(!dlock_lost(lk) && dlock_heartbeat(lk) == 0 && !dlock_lost(lk),
	    "kernel: %s: a kernel lock has no lease to lose", m);
	CHECK(dlock_unlock(lk) == 0, "kernel: %s: released (errno %d)", m,
	    errno);
	check_contenders(pids, "kernel", method);
	dlock_close(lk);
}

int
main(void)
{
	static const int by_name[] = { DLOCK_LOCKFILE, DLOCK_MKDIR };
	static const int kernel[] = { DLOCK_FCNTL, DLOCK_FLOCK };

	if (places_init("lost") < 0) {
		perror("mkdtemp");
		return 1;
	}
	for (size_t i = 0; i < 2; i++) {
		test_refreshed_lock_is_not_lost(by_name[i]);
		test_lease_run_out_by_own_clock(by_name[i]);
		test_broken_lock_is_lost(by_name[i]);
		test_kernel_lock_is_never_lost(kernel[i]);
	}
	places_remove();
	return check_summary("test_lost");
}
