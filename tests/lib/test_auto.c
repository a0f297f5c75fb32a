/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/stat.h>

#include "check.h"
#include "contract.h"

/*
 * The auto method: the contract of every method, met by the method it
 * chooses for a file here, then what is its own: a directory is locked
 * as flock(1) locks it.
 */

static void
test_directory_locks_like_flock1(void)
{
	struct place pl;
	const char *d;
	dlock_t *a, *b;

	place_for(&pl, "adir", DLOCK_AUTO);
	d = pl.lock;
	mkdir(d, 0755);
	a = open_with(d, DLOCK_AUTO, 0, 0);
	b = open_with(d, DLOCK_AUTO, 0, 0);
	CHECK(a != NULL && dlock_method(a) == DLOCK_FLOCK,
	    "auto on a directory uses flock");
	CHECK(a != NULL && dlock_lock(a, LOCK_EX, 0) == 0,
	    "exclusive lock on a directory");
	errno = 0;
	CHECK(b != NULL && dlock_lock(b, LOCK_EX, 0) == -1 &&
	    errno == EWOULDBLOCK, "directory lock excludes");
	dlock_close(a);
	dlock_close(b);
}

static void
auto_own_tests(void)
{
	test_directory_locks_like_flock1();
}

int
main(void)
{
	return contract_main(DLOCK_AUTO, auto_own_tests);
}
