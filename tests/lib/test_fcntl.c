/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "contract.h"

/*
 * The fcntl method: the contract of every method, then what is its own:
 * byte ranges, and a lock taken on a file that holds data.
 */

static void
test_byte_ranges_are_independent(void)
{
	struct place pl;
	const char *p;
	struct dlock_options o;
	dlock_t *a, *b, *c;

	place_for(&pl, "ranges", DLOCK_FCNTL);
	p = pl.lock;
	dlock_options_init(&o);
	o.method = DLOCK_FCNTL;
	o.start = 0;
	o.length = 10;
	a = dlock_open(p, &o);
	o.start = 10;
	b = dlock_open(p, &o);
	o.start = 5;
	c = dlock_open(p, &o);
	CHECK(dlock_lock(a, LOCK_EX | LOCK_NB, 0) == 0 &&
	    dlock_lock(b, LOCK_EX | LOCK_NB, 0) == 0,
	    "fcntl: disjoint ranges lock side by side");
	errno = 0;
	CHECK(dlock_lock(c, LOCK_EX | LOCK_NB, 0) == -1 && errno == EWOULDBLOCK,
	    "fcntl: an overlapping range is busy");
	dlock_close(a);
	dlock_close(b);
	dlock_close(c);
}

static void
test_existing_file_is_not_truncated(void)
{
	struct place pl;
	const char *p;
	char buf[16] = "";
	dlock_t *lk;
	int fd;

	place_for(&pl, "data", DLOCK_FCNTL);
	p = pl.lock;
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	(void)!write(fd, "precious", 8);
	close(fd);
	lk = open_with(p, DLOCK_FCNTL, 0, 0);
	CHECK(lk != NULL && dlock_lock(lk, LOCK_EX, -1) == 0, "lock data file");
	dlock_close(lk);
	fd = open(p, O_RDONLY);
	(void)!read(fd, buf, sizeof(buf) - 1);
	close(fd);
	CHECK(strcmp(buf, "precious") == 0, "data kept: '%s'", buf);
	CHECK(access(p, F_OK) == 0, "lock file not unlinked");
}

static void
fcntl_own_tests(void)
{
	test_byte_ranges_are_independent();
	test_existing_file_is_not_truncated();
}

int
main(void)
{
	return contract_main(DLOCK_FCNTL, fcntl_own_tests);
}
