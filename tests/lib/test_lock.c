/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "dlock.h"

/* The library contract for the kernel-lock methods, method by method. */

static char dir[] = "/tmp/dlock-test-XXXXXX";

static const int kernel_methods[] = { DLOCK_FCNTL, DLOCK_FLOCK };
#define NKERNEL (int)(sizeof(kernel_methods) / sizeof(kernel_methods[0]))

static char *
path_in_dir(const char *name)
{
	static char buf[4][256];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

static dlock_t *
open_with(const char *path, int method, int flags)
{
	struct dlock_options o;

	dlock_options_init(&o);
	o.method = method;
	o.flags = flags;
	return dlock_open(path, &o);
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
test_exclusive_excludes_everyone(int method)
{
	const char *p = path_in_dir("excl");
	dlock_t *a = open_with(p, method, 0), *b = open_with(p, method, 0);

	CHECK(a != NULL && b != NULL, "%s: open", dlock_method_name(method));
	if (a == NULL || b == NULL)
		return;
	CHECK(dlock_method(a) == method, "%s: method kept",
	    dlock_method_name(method));
	CHECK(dlock_lock(a, LOCK_EX, -1) == 0, "%s: first exclusive",
	    dlock_method_name(method));
	errno = 0;
	CHECK(dlock_lock(b, LOCK_EX | LOCK_NB, -1) == -1 &&
	    errno == EWOULDBLOCK, "%s: second exclusive is busy",
	    dlock_method_name(method));
	errno = 0;
	CHECK(dlock_lock(b, LOCK_SH, 0) == -1 && errno == EWOULDBLOCK,
	    "%s: shared beside exclusive is busy (timeout 0)",
	    dlock_method_name(method));
	CHECK(dlock_unlock(a) == 0, "%s: unlock", dlock_method_name(method));
	CHECK(dlock_lock(b, LOCK_EX | LOCK_NB, -1) == 0,
	    "%s: free after unlock", dlock_method_name(method));
	CHECK(dlock_close(b) == 0, "%s: close", dlock_method_name(method));
	CHECK(dlock_lock(a, LOCK_EX | LOCK_NB, 0) == 0,
	    "%s: free after close", dlock_method_name(method));
	dlock_close(a);
}

static void
test_shared_beside_shared(int method)
{
	const char *p = path_in_dir("shared");
	dlock_t *a = open_with(p, method, 0), *b = open_with(p, method, 0);
	dlock_t *c = open_with(p, method, 0);

	CHECK(dlock_lock(a, LOCK_SH | LOCK_NB, 0) == 0 &&
	    dlock_lock(b, LOCK_SH | LOCK_NB, 0) == 0,
	    "%s: two shared locks", dlock_method_name(method));
	errno = 0;
	CHECK(dlock_lock(c, LOCK_EX | LOCK_NB, 0) == -1 && errno == EWOULDBLOCK,
	    "%s: exclusive against shared is busy", dlock_method_name(method));
	dlock_close(a);
	dlock_close(b);
	dlock_close(c);
}

static void
test_timeout_expires_on_time(int method)
{
	const char *p = path_in_dir("timeout");
	dlock_t *a = open_with(p, method, 0), *b = open_with(p, method, 0);
	double t0, took;

	dlock_lock(a, LOCK_EX, -1);
	t0 = now();
	errno = 0;
	CHECK(dlock_lock(b, LOCK_EX, 0.3) == -1 && errno == ETIMEDOUT,
	    "%s: wait on a held lock times out", dlock_method_name(method));
	took = now() - t0;
	CHECK(took >= 0.3 && took < 3.0, "%s: timed out after %.3f s, "
	    "expected 0.3", dlock_method_name(method), took);
	CHECK(dlock_unlock(a) == 0 && dlock_lock(b, LOCK_EX, 0) == 0,
	    "%s: a timed-out waiter holds nothing and can lock later",
	    dlock_method_name(method));
	dlock_close(a);
	dlock_close(b);
}

static void
test_timed_wait_succeeds_when_released(int method)
{
	const char *p = path_in_dir("release");
	dlock_t *a = open_with(p, method, 0), *b = open_with(p, method, 0);
	dlock_t *c = open_with(p, method, 0);
	struct release_later r = { a, 0.2 };
	pthread_t t;
	double t0, took;

	dlock_lock(a, LOCK_EX, -1);
	pthread_create(&t, NULL, release_after, &r);
	t0 = now();
	CHECK(dlock_lock(b, LOCK_EX, 10) == 0, "%s: timed wait gets the lock "
	    "once it is released", dlock_method_name(method));
	took = now() - t0;
	pthread_join(t, NULL);
	CHECK(took >= 0.15 && took < 5, "%s: got it after %.3f s, expected "
	    "about 0.2", dlock_method_name(method), took);
	errno = 0;
	CHECK(dlock_lock(c, LOCK_EX | LOCK_NB, 0) == -1 && errno == EWOULDBLOCK,
	    "%s: the lock a timed wait got is really held",
	    dlock_method_name(method));
	dlock_close(b);
	CHECK(dlock_lock(c, LOCK_EX | LOCK_NB, 0) == 0,
	    "%s: and released by close", dlock_method_name(method));
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

static void *
contend(void *arg)
{
	struct contender *c = arg;
	dlock_t *lk = open_with(c->path, c->method, 0);
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
		dlock_unlock(lk);
	}
	dlock_close(lk);
	return NULL;
}

static void
test_threads_of_one_process_exclude_each_other(int method)
{
	enum { NTHREADS = 4, ROUNDS = 300 };
	struct contender c[NTHREADS];
	pthread_t t[NTHREADS];
	volatile int inside = 0;
	int counter = 0, overlaps = 0, errors = 0, i;

	for (i = 0; i < NTHREADS; i++) {
		c[i] = (struct contender){ path_in_dir("threads"), method,
		    ROUNDS, &inside, &counter, 0, 0 };
		pthread_create(&t[i], NULL, contend, &c[i]);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		overlaps += c[i].overlaps;
		errors += c[i].errors;
	}
	CHECK(overlaps == 0 && errors == 0 && counter == NTHREADS * ROUNDS,
	    "%s: %d threads x %d rounds: counter %d, overlaps %d, errors %d",
	    dlock_method_name(method), NTHREADS, ROUNDS, counter, overlaps,
	    errors);
}

static void
test_byte_ranges_are_independent(void)
{
	const char *p = path_in_dir("ranges");
	struct dlock_options o;
	dlock_t *a, *b, *c;

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
test_odd_files_are_refused_without_hanging(void)
{
	const char *fifo = path_in_dir("fifo"), *link = path_in_dir("link");
	int m;

	mkfifo(fifo, 0600);
	symlink("/etc/passwd", link);
	for (m = 0; m < NKERNEL; m++) {
		errno = 0;
		CHECK(open_with(fifo, kernel_methods[m], 0) == NULL &&
		    errno == EINVAL, "%s: a FIFO is refused (errno %d)",
		    dlock_method_name(kernel_methods[m]), errno);
		errno = 0;
		CHECK(open_with(link, kernel_methods[m], 0) == NULL &&
		    errno == ELOOP, "%s: a symlink is not followed",
		    dlock_method_name(kernel_methods[m]));
		errno = 0;
		CHECK(open_with("/dev/null", kernel_methods[m], 0) == NULL &&
		    errno == EINVAL, "%s: a device is refused",
		    dlock_method_name(kernel_methods[m]));
	}
}

static void
test_existing_file_is_not_truncated(void)
{
	const char *p = path_in_dir("data");
	char buf[16] = "";
	dlock_t *lk;
	int fd;

	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	(void)!write(fd, "precious", 8);
	close(fd);
	lk = open_with(p, DLOCK_FCNTL, 0);
	CHECK(lk != NULL && dlock_lock(lk, LOCK_EX, -1) == 0, "lock data file");
	dlock_close(lk);
	fd = open(p, O_RDONLY);
	(void)!read(fd, buf, sizeof(buf) - 1);
	close(fd);
	CHECK(strcmp(buf, "precious") == 0, "data kept: '%s'", buf);
	CHECK(access(p, F_OK) == 0, "lock file not unlinked");
}

static void
test_directory_locks_like_flock1(void)
{
	const char *d = path_in_dir("adir");
	dlock_t *a, *b;

	mkdir(d, 0755);
	a = open_with(d, DLOCK_AUTO, 0);
	b = open_with(d, DLOCK_AUTO, 0);
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
test_descriptors_close_on_exec_unless_inherited(void)
{
	const char *p = path_in_dir("cloexec");
	dlock_t *a = open_with(p, DLOCK_FCNTL, 0);
	dlock_t *b = open_with(p, DLOCK_FCNTL, DLOCK_INHERIT);

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
		other = open_with(p, o.method, 0);
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
test_signals_interrupt_only_when_asked(int method)
{
	const char *p = path_in_dir("intr");
	dlock_t *a = open_with(p, method, 0);
	dlock_t *plain = open_with(p, method, 0);
	dlock_t *intr = open_with(p, method, DLOCK_INTERRUPTIBLE);
	struct sigaction sa;
	double t0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	dlock_lock(a, LOCK_EX, -1);

	arm_alarm(0.1);
	errno = 0;
	CHECK(dlock_lock(intr, LOCK_EX, -1) == -1 && errno == EINTR,
	    "%s: interruptible wait forever ends with EINTR",
	    dlock_method_name(method));
	arm_alarm(0.1);
	errno = 0;
	CHECK(dlock_lock(intr, LOCK_EX, 5) == -1 && errno == EINTR,
	    "%s: interruptible timed wait ends with EINTR",
	    dlock_method_name(method));
	arm_alarm(0.1);
	t0 = now();
	errno = 0;
	CHECK(dlock_lock(plain, LOCK_EX, 0.4) == -1 && errno == ETIMEDOUT &&
	    now() - t0 >= 0.4, "%s: a signal does not end a plain wait",
	    dlock_method_name(method));
	dlock_close(a);
	dlock_close(plain);
	dlock_close(intr);
}

static void
test_bad_operations_are_einval(void)
{
	dlock_t *lk = open_with(path_in_dir("ops"), DLOCK_FCNTL, 0);

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
	int m;

	if (mkdtemp(dir) == NULL)
		return 255;
	test_method_names_round_trip();
	test_bad_options_are_einval();
	test_bad_operations_are_einval();
	for (m = 0; m < NKERNEL; m++) {
		test_exclusive_excludes_everyone(kernel_methods[m]);
		test_shared_beside_shared(kernel_methods[m]);
		test_timeout_expires_on_time(kernel_methods[m]);
		test_timed_wait_succeeds_when_released(kernel_methods[m]);
		test_threads_of_one_process_exclude_each_other(kernel_methods[m]);
		test_signals_interrupt_only_when_asked(kernel_methods[m]);
	}
	test_byte_ranges_are_independent();
	test_odd_files_are_refused_without_hanging();
	test_existing_file_is_not_truncated();
	test_directory_locks_like_flock1();
	test_descriptors_close_on_exec_unless_inherited();
	test_borrowed_descriptor_stays_open();
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		(void)!system(cmd);
	}
	return check_summary("lock");
}
