/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"
#include "contract.h"

/*
 * The lockfile method: the contract of every method and of the name
 * locks, then what is its own: the lock is a regular file made by a
 * link, and a link reported failed may still have been made.
 */

/*
 * linkat(2) as the library sees it: the real one, except that a link made
 * to lying_link_to is reported as failed with EEXIST, as a retransmitted
 * NFS LINK request can be.
 */
static const char *lying_link_to;

int
linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
    int flags)
{
	long rc = syscall(SYS_linkat, olddirfd, oldpath, newdirfd, newpath,
	    flags);

	if (rc == 0 && lying_link_to != NULL &&
	    strcmp(newpath, lying_link_to) == 0) {
		errno = EEXIST;
		return -1;
	}
	return (int)rc;
}

static void
test_link_reported_failed_but_made_is_ours(void)
{
	char rec[1024];
	struct place p;
	dlock_t *a, *b;
	int rc;

	place_for(&p, "nfslink", DLOCK_LOCKFILE);
	a = open_with(p.lock, DLOCK_LOCKFILE, 0, 0);
	b = open_with(p.lock, DLOCK_LOCKFILE, 0, 0);
	lying_link_to = p.lock;
	errno = 0;
	rc = dlock_lock(a, LOCK_EX | LOCK_NB, 0);
	lying_link_to = NULL;
	CHECK(rc == 0, "lockfile: a link reported failed (EEXIST) but made "
	    "is our lock (errno %d)", errno);
	contents(p.record, rec, sizeof(rec));
	CHECK(strncmp(rec, "dlock/1 method=lockfile ", 24) == 0,
	    "lockfile: ... with our record: '%s'", rec);
	errno = 0;
	CHECK(dlock_lock(b, LOCK_EX | LOCK_NB, 0) == -1 && errno == EWOULDBLOCK,
	    "lockfile: ... and held (errno %d)", errno);
	CHECK(dlock_unlock(a) == 0 && entries_in(p.dir) == 0,
	    "lockfile: ... and released (%d entries left)", entries_in(p.dir));
	dlock_close(a);
	dlock_close(b);
}

static void
lockfile_own_tests(void)
{
	test_link_reported_failed_but_made_is_ours();
}

int
main(void)
{
	return contract_main(DLOCK_LOCKFILE, lockfile_own_tests);
}
