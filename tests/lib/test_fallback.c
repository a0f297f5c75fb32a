/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"

/*
 * A kernel lock that the filesystem refuses with ENOLCK (NFS without its
 * lock service): auto falls back to a lockfile, an explicit -m fcntl does
 * not.  The handles are opened with kernel lock calls that answer as such
 * a filesystem would.
 */

static int
refuse_setlk(int fd, int cmd, struct flock *fl)
{
	(void)fd;
	(void)cmd;
	(void)fl;
	errno = ENOLCK;
	return -1;
}

static int
refuse_flock(int fd, int operation)
{
	(void)fd;
	(void)operation;
	errno = ENOLCK;
	return -1;
}

static const struct kernel_calls no_lock_service = {
	.setlk = refuse_setlk,
	.flock = refuse_flock,
};

static void
read_lock_file(const char *path, char *buf, size_t size)
{
	FILE *fp = fopen(path, "r");
	size_t n = 0;

	if (fp != NULL) {
		n = fread(buf, 1, size - 1, fp);
		fclose(fp);
	}
	buf[n] = '\0';
}

static void
test_auto_falls_back(const char *lock, double timeout)
{
	char record[DLOCK_RECORD_MAX + 1];
	dlock_t *lk;

	lk = handle_open(lock, NULL, &no_lock_service);
	CHECK(lk != NULL, "open with auto: %s", strerror(errno));
	if (lk == NULL)
		return;
	CHECK(dlock_method(lk) == DLOCK_FCNTL || dlock_method(lk) == DLOCK_FLOCK,
	    "auto under /tmp chooses a kernel lock (%s)",
	    dlock_method_name(dlock_method(lk)));
	CHECK(dlock_lock(lk, LOCK_EX, timeout) == 0,
	    "auto with ENOLCK takes the lock (timeout %g): %s", timeout,
	    strerror(errno));
	CHECK(dlock_fell_back(lk) && dlock_method(lk) == DLOCK_LOCKFILE,
	    "auto with ENOLCK fell back to a lockfile (method %s)",
	    dlock_method_name(dlock_method(lk)));
	read_lock_file(lock, record, sizeof(record));
	CHECK(strncmp(record, "dlock/1 method=lockfile ", 24) == 0,
	    "the lock file holds a lockfile record: \"%s\"", record);
	CHECK(dlock_close(lk) == 0, "close: %s", strerror(errno));
	CHECK(access(lock, F_OK) < 0 && errno == ENOENT,
	    "the lock file is gone after the release");
}

static void
test_method_given_fails(const char *lock, int method)
{
	struct dlock_options o;
	dlock_t *lk;

	dlock_options_init(&o);
	o.method = method;
	lk = handle_open(lock, &o, &no_lock_service);
	CHECK(lk != NULL, "open with %s: %s", dlock_method_name(method),
	    strerror(errno));
	if (lk == NULL)
		return;
	errno = 0;
	CHECK(dlock_lock(lk, LOCK_EX, 0) == -1 && errno == ENOLCK &&
	    !dlock_fell_back(lk) && dlock_method(lk) == method,
	    "%s given with ENOLCK is an error, not a fall back (%s)",
	    dlock_method_name(method), strerror(errno));
	dlock_close(lk);
	unlink(lock);
}

static dlock_t *
open_auto(const char *lock)
{
	struct dlock_options o;

	dlock_options_init(&o);
	return handle_open(lock, &o, &no_lock_service);
}

/*
 * An empty file that stays at the path is no lock auto can judge where
 * kernel locks fail: after a short grace it is refused, and never
 * removed, however old it is.
 */
static void
test_empty_file_is_refused(const char *lock)
{
	struct timespec old[2] = { { 946684800, 0 }, { 946684800, 0 } };
	dlock_t *lk;
	double t0, took;
	int fd;

	fd = open(lock, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK(fd >= 0 && futimens(fd, old) == 0, "an old empty file at %s",
	    lock);
	if (fd >= 0)
		close(fd);
	lk = open_auto(lock);
	CHECK(lk != NULL, "open: %s", strerror(errno));
	if (lk == NULL)
		return;
	t0 = now();
	errno = 0;
	CHECK(dlock_lock(lk, LOCK_EX, 20) == -1 && errno == EEXIST,
	    "an empty file is refused with EEXIST (%s)", strerror(errno));
	took = now() - t0;
	CHECK(took >= 2.5 && took < 10, "refused after its grace, %.2f s",
	    took);
	CHECK(access(lock, F_OK) == 0, "the empty file is left alone");
	dlock_close(lk);
	unlink(lock);
}

/*
 * Lockers that fall back at the same moment wait for each other as
 * lockfile lockers do: four processes, 25 rounds each, each round a
 * handle of its own; none fails, none overlaps another.
 */
static int
fall_back_rounds(const char *lock, const char *inside, int rounds)
{
	int failed = 0, overlaps = 0, i;
	dlock_t *lk;

	for (i = 0; i < rounds; i++) {
		lk = open_auto(lock);
		if (lk == NULL || dlock_lock(lk, LOCK_EX, 25) < 0) {
			fprintf(stderr, "round %d: %s: %s\n", i,
			    lk == NULL ? "open" : "lock", strerror(errno));
			failed++;
			if (lk != NULL)
				dlock_close(lk);
			continue;
		}
		if (mkdir(inside, 0700) < 0)
			overlaps++;
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
		rmdir(inside);
		if (dlock_close(lk) < 0)
			failed++;
	}
	return failed + (overlaps > 0 ? 100 : 0);
}

static void
test_fall_back_in_a_crowd(const char *dir, const char *lock)
{
	char inside[PATH_MAX];
	pid_t pids[4];
	int i, status, bad = 0;

	snprintf(inside, sizeof(inside), "%s/inside", dir);
	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			bound_this_child(100);
			_exit(fall_back_rounds(lock, inside, 25));
		}
	}
	for (i = 0; i < 4; i++) {
		status = child_status(pids[i]);
		CHECK(status == 0, "a crowd falling back: process %d: %s", i,
		    status < 0 ? "killed" : status >= 100 ? "overlapped" :
		    "some rounds failed");
		bad += status != 0;
	}
	CHECK(bad == 0 && access(lock, F_OK) < 0,
	    "4 x 25 rounds: no failure, no overlap, nothing left");
}

int
main(void)
{
	char tmp[] = "/tmp/dlock-fallback-XXXXXX", lock[PATH_MAX];

	if (mkdtemp(tmp) == NULL) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return check_summary("fallback");
	}
	snprintf(lock, sizeof(lock), "%s/lock", tmp);
	test_auto_falls_back(lock, 0);
	test_auto_falls_back(lock, 5);
	test_method_given_fails(lock, DLOCK_FCNTL);
	test_method_given_fails(lock, DLOCK_FLOCK);
	test_empty_file_is_refused(lock);
	test_fall_back_in_a_crowd(tmp, lock);
	rmdir(tmp);
	return check_summary("fallback");
}
