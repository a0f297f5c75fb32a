/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "contract.h"

/*
 * The library's interface beside the methods' contract: method names,
 * the options and operations refused, and the descriptors of the kernel
 * methods: which files they open, close-on-exec, borrowed descriptors.
 */

static const int kernel_methods[] = { DLOCK_FCNTL, DLOCK_FLOCK };
#define NKERNEL (int)(sizeof(kernel_methods) / sizeof(kernel_methods[0]))

static const char *
path_in_dir(const char *name)
{
	static char buf[4][512];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", places_top(), name);
	return p;
}

static void
test_method_names_round_trip(void)
{
	int m;

	for (m = DLOCK_AUTO; m <= DLOCK_MKDIR; m++)
		CHECK(dlock_method_from_name(dlock_method_name(m)) == m,
		    "method %d round trip", m);
	errno = 0;
	CHECK(dlock_method_from_name("nfs") == -1 && errno == EINVAL,
	    "unknown method name is EINVAL");
	CHECK(dlock_method_name(99) == NULL, "method 99 has no name");
}

static void
test_bad_options_are_einval(void)
{
	struct dlock_options o;
	const char *p = path_in_dir("opts");

	dlock_options_init(&o);
	o.start = -1;
	errno = 0;
	CHECK(dlock_open(p, &o) == NULL && errno == EINVAL, "negative start");
	dlock_options_init(&o);
	o.start = INT64_MAX;
	o.length = 2;
	errno = 0;
	CHECK(dlock_open(p, &o) == NULL && errno == EINVAL, "range overflow");
	dlock_options_init(&o);
	o.flags = 0x4000;
	errno = 0;
	CHECK(dlock_open(p, &o) == NULL && errno == EINVAL, "unknown flag");
	dlock_options_init(&o);
	o.method = 42;
	errno = 0;
	CHECK(dlock_open(p, &o) == NULL && errno == EINVAL, "method 42");
	dlock_options_init(&o);
	o.stale = NAN;
	errno = 0;
	CHECK(dlock_open(p, &o) == NULL && errno == EINVAL, "stale NaN");
	dlock_options_init(&o);
	o.method = DLOCK_FLOCK;
	o.length = 10;
	errno = 0;
	CHECK(dlock_open(p, &o) == NULL && errno == EINVAL,
	    "flock method refuses a byte range");
	errno = 0;
	CHECK(dlock_open("", NULL) == NULL && errno == ENOENT, "empty path");
	errno = 0;
	CHECK(dlock_open(path_in_dir("missing/x"), NULL) == NULL &&
	    errno == ENOENT, "missing parent directory is ENOENT");
}

static void
test_odd_files_are_refused_without_hanging(void)
{
	const char *fifo = path_in_dir("fifo"), *link = path_in_dir("link");
	int m;

	mkfifo(fifo, 0600);
	symlink("/etc/passwd", link);
	for (m = 0; m < NKERNEL; m++) {
		errno = 0;
		CHECK(open_with(fifo, kernel_methods[m], 0, 0) == NULL &&
		    errno == EINVAL, "%s: a FIFO is refused (errno %d)",
		    dlock_method_name(kernel_methods[m]), errno);
		errno = 0;
		CHECK(open_with(link, kernel_methods[m], 0, 0) == NULL &&
		    errno == ELOOP, "%s: a symlink is not followed",
		    dlock_method_name(kernel_methods[m]));
		errno = 0;
		CHECK(open_with("/dev/null", kernel_methods[m], 0, 0) == NULL &&
		    errno == EINVAL, "%s: a device is refused",
		    dlock_method_name(kernel_methods[m]));
	}
}

static void
test_descriptors_close_on_exec_unless_inherited(void)
{
	const char *p = path_in_dir("cloexec");
	dlock_t *a = open_with(p, DLOCK_FCNTL, 0, 0);
	dlock_t *b = open_with(p, DLOCK_FCNTL, DLOCK_INHERIT, 0);

	CHECK(fcntl(dlock_fd(a), F_GETFD) & FD_CLOEXEC, "O_CLOEXEC by default");
	CHECK(!(fcntl(dlock_fd(b), F_GETFD) & FD_CLOEXEC),
	    "DLOCK_INHERIT clears close-on-exec");
	dlock_close(a);
	dlock_close(b);
}

static void
test_borrowed_descriptor_stays_open(void)
{
	const char *p = path_in_dir("borrowed");
	int fd = open(p, O_RDWR | O_CREAT, 0644), m;
	dlock_t *lk, *other;

	for (m = 0; m < NKERNEL; m++) {
		struct dlock_options o;

		dlock_options_init(&o);
		o.method = kernel_methods[m];
		lk = dlock_open_fd(fd, &o);
		CHECK(lk != NULL && dlock_lock(lk, LOCK_EX, 0) == 0,
		    "%s: lock a borrowed fd", dlock_method_name(o.method));
		dlock_close(lk);
		CHECK(fcntl(fd, F_GETFD) >= 0, "%s: borrowed fd still open",
		    dlock_method_name(o.method));
		other = open_with(p, o.method, 0, 0);
		errno = 0;
		CHECK(dlock_lock(other, LOCK_EX, 0) == -1 && errno == EWOULDBLOCK,
		    "%s: the lock stays with the descriptor after close",
		    dlock_method_name(o.method));
		dlock_close(other);
		lk = dlock_open_fd(fd, &o);
		CHECK(dlock_unlock(lk) == 0, "%s: unlock a borrowed fd",
		    dlock_method_name(o.method));
		dlock_close(lk);
	}
	close(fd);
	errno = 0;
	CHECK(dlock_open_fd(fd, NULL) == NULL && errno == EBADF,
	    "closed fd is EBADF");
}

static void
test_bad_operations_are_einval(void)
{
	dlock_t *lk = open_with(path_in_dir("ops"), DLOCK_FCNTL, 0, 0);

	errno = 0;
	CHECK(dlock_lock(lk, LOCK_NB, 0) == -1 && errno == EINVAL, "LOCK_NB");
	errno = 0;
	CHECK(dlock_lock(lk, LOCK_SH | LOCK_EX, 0) == -1 && errno == EINVAL,
	    "LOCK_SH|LOCK_EX");
	errno = 0;
	CHECK(dlock_lock(lk, LOCK_EX, NAN) == -1 && errno == EINVAL, "NaN");
	CHECK(dlock_lock(lk, LOCK_UN, 0) == 0, "LOCK_UN unlocks");
	dlock_close(lk);
}

int
main(void)
{
	if (places_init("api") < 0)
		return 255;
	test_method_names_round_trip();
	test_bad_options_are_einval();
	test_bad_operations_are_einval();
	test_odd_files_are_refused_without_hanging();
	test_descriptors_close_on_exec_unless_inherited();
	test_borrowed_descriptor_stays_open();
	places_remove();
	return check_summary("api");
}
