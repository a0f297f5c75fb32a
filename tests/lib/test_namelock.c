/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "dlock.h"

/*
 * The library contract for the methods that hold a lock by a name
 * (lockfile, mkdir), method by method: each case runs in a directory of
 * its own, so that what a lock leaves behind can be counted.
 */

static char top[] = "/tmp/dlock-namelock-XXXXXX";

static const int name_methods[] = { DLOCK_LOCKFILE, DLOCK_MKDIR };
#define NMETHODS (int)(sizeof(name_methods) / sizeof(name_methods[0]))

/* Another holder's nonce, for records that replace ours. */
#define OTHER_NONCE "0123456789abcdef0123456789abcdef"

/*
 * linkat(2) as the library sees it: the real one, except that a link made
 * to lying_link_to is reported as failed with EEXIST, as a retransmitted
 * NFS LINK request can be (design section 3).
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

struct place {
	char dir[256];		/* the case's own directory */
	char lock[300];		/* the lock path in it */
	char record[320];	/* the file holding the record */
};

static const char *
name(int method)
{
	return dlock_method_name(method);
}

static void
place_for(struct place *p, const char *what, int method)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "%s/%s-%s", top, what, name(method));
	mkdir(p->dir, 0755);
	snprintf(p->lock, sizeof(p->lock), "%s/lock", p->dir);
	snprintf(p->record, sizeof(p->record), "%s%s", p->lock,
	    method == DLOCK_MKDIR ? "/owner" : "");
}

static dlock_t *
open_with(const char *path, int method, int flags, double stale)
{
	struct dlock_options o;

	dlock_options_init(&o);
	o.method = method;
	o.flags = flags;
	o.stale = stale;
	return dlock_open(path, &o);
}

/* Entries of a directory other than . and .., or -1. */
static int
entries_in(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return -1;
	/* cppcheck-suppress readdirCalled ; one thread reads each directory */
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* The file's content as a string, or "" when it cannot be read. */
static const char *
contents(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY);

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	size_t len = strlen(text);

	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* Puts a copy of the record with another nonce in place of ours. */
static int
replace_record(const struct place *p)
{
	char buf[1024], *nonce;

	contents(p->record, buf, sizeof(buf));
	nonce = strstr(buf, " nonce=");
	if (nonce == NULL || strlen(nonce) < 7 + 32)
		return -1;
	memcpy(nonce + 7, OTHER_NONCE, 32);
	if (unlink(p->record) < 0)
		return -1;
	return write_file(p->record, buf);
}

/* Puts at the lock path a lock of another holder with this record. */
static int
plant_lock(const struct place *p, int method, const char *record)
{
	if (method == DLOCK_MKDIR && mkdir(p->lock, 0755) < 0)
		return -1;
	return write_file(p->record, record);
}

static void
test_two_handles_exclude_each_other(int method)
{
	struct place p;
	dlock_t *a, *b;

	place_for(&p, "excl", method);
	a = open_with(p.lock, method, 0, 0);
	b = open_with(p.lock, method, 0, 0);
	CHECK(a != NULL && b != NULL, "%s: open", name(method));
	if (a == NULL || b == NULL)
		return;
	CHECK(dlock_method(a) == method, "%s: method kept", name(method));
	CHECK(dlock_lock(a, LOCK_EX | LOCK_NB, 0) == 0, "%s: first lock",
	    name(method));
	errno = 0;
	CHECK(dlock_lock(b, LOCK_EX | LOCK_NB, 0) == -1 && errno == EWOULDBLOCK,
	    "%s: second handle is busy (errno %d)", name(method), errno);
	errno = 0;
	CHECK(dlock_lock(b, LOCK_EX, 0) == -1 && errno == EWOULDBLOCK,
	    "%s: timeout 0 is one try (errno %d)", name(method), errno);
	errno = 0;
	CHECK(dlock_lock(a, LOCK_EX | LOCK_NB, 0) == -1 && errno == EDEADLK,
	    "%s: a holder locking again is EDEADLK, not busy (errno %d)",
	    name(method), errno);
	CHECK(dlock_unlock(a) == 0, "%s: unlock", name(method));
	CHECK(dlock_lock(b, LOCK_EX | LOCK_NB, 0) == 0,
	    "%s: free after unlock", name(method));
	CHECK(dlock_close(b) == 0, "%s: close", name(method));
	CHECK(dlock_lock(a, LOCK_EX | LOCK_NB, 0) == 0,
	    "%s: free after close", name(method));
	dlock_close(a);
}

static void
test_another_process_is_excluded(int method)
{
	struct place p;
	dlock_t *a;
	pid_t pid;
	int status = -1;

	place_for(&p, "fork", method);
	a = open_with(p.lock, method, 0, 0);
	CHECK(a != NULL && dlock_lock(a, LOCK_EX, 0) == 0, "%s: lock",
	    name(method));
	pid = fork();
	if (pid == 0) {
		dlock_t *b = open_with(p.lock, method, 0, 0);
		int timed_out = b != NULL && dlock_lock(b, LOCK_EX, 0.2) == -1 &&
		    errno == ETIMEDOUT;

		dlock_close(b);
		_exit(timed_out ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "%s: another process times out on the held lock", name(method));
	dlock_close(a);
}

static void
test_shared_is_not_supported(int method)
{
	struct place p;
	dlock_t *a;

	place_for(&p, "shared", method);
	a = open_with(p.lock, method, 0, 0);
	errno = 0;
	CHECK(dlock_lock(a, LOCK_SH, -1) == -1 && errno == EOPNOTSUPP,
	    "%s: LOCK_SH is EOPNOTSUPP (errno %d)", name(method), errno);
	errno = 0;
	CHECK(dlock_lock(a, LOCK_SH | LOCK_NB, 0) == -1 && errno == EOPNOTSUPP,
	    "%s: LOCK_SH|LOCK_NB is EOPNOTSUPP", name(method));
	CHECK(entries_in(p.dir) == 0, "%s: a refused shared lock leaves "
	    "nothing", name(method));
	dlock_close(a);
}

static void
test_timed_wait_expires_on_time(int method)
{
	struct place p;
	dlock_t *a, *b;
	double t0, took;

	place_for(&p, "timeout", method);
	a = open_with(p.lock, method, 0, 0);
	b = open_with(p.lock, method, 0, 0);
	dlock_lock(a, LOCK_EX, -1);
	t0 = now();
	errno = 0;
	CHECK(dlock_lock(b, LOCK_EX, 0.3) == -1 && errno == ETIMEDOUT,
	    "%s: a wait on a held lock times out (errno %d)", name(method),
	    errno);
	took = now() - t0;
	CHECK(took >= 0.3 && took < 1.5, "%s: timed out after %.3f s, "
	    "expected 0.3", name(method), took);
	CHECK(entries_in(p.dir) == 1, "%s: the timed-out waiter left nothing "
	    "beside the lock (%d entries)", name(method), entries_in(p.dir));
	CHECK(dlock_unlock(a) == 0 && dlock_lock(b, LOCK_EX, 0) == 0,
	    "%s: a timed-out waiter can lock later", name(method));
	dlock_close(a);
	dlock_close(b);
}

static void
test_timed_wait_succeeds_once_released(int method)
{
	struct place p;
	dlock_t *a, *b, *c;
	struct release_later r;
	pthread_t t;
	double t0, took;

	place_for(&p, "release", method);
	a = open_with(p.lock, method, 0, 0);
	b = open_with(p.lock, method, 0, 0);
	c = open_with(p.lock, method, 0, 0);
	r = (struct release_later){ a, 0.2 };
	dlock_lock(a, LOCK_EX, -1);
	pthread_create(&t, NULL, release_after, &r);
	t0 = now();
	CHECK(dlock_lock(b, LOCK_EX, 10) == 0, "%s: a timed wait gets the "
	    "lock once it is released", name(method));
	took = now() - t0;
	pthread_join(t, NULL);
	CHECK(took >= 0.15 && took < 1.0, "%s: got it after %.3f s, expected "
	    "about 0.2", name(method), took);
	errno = 0;
	CHECK(dlock_lock(c, LOCK_EX | LOCK_NB, 0) == -1 && errno == EWOULDBLOCK,
	    "%s: the lock a timed wait got is really held", name(method));
	dlock_close(a);
	dlock_close(b);
	dlock_close(c);
}

static void
test_close_leaves_nothing_behind(int method)
{
	struct place p;
	struct stat st;
	dlock_t *a;

	place_for(&p, "close", method);
	a = open_with(p.lock, method, 0, 0);
	CHECK(entries_in(p.dir) == 0, "%s: open creates nothing",
	    name(method));
	CHECK(dlock_lock(a, LOCK_EX, 0) == 0, "%s: lock", name(method));
	CHECK(lstat(p.lock, &st) == 0 && (method == DLOCK_MKDIR ?
	    S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)),
	    "%s: the lock is a %s at the path", name(method),
	    method == DLOCK_MKDIR ? "directory" : "regular file");
	CHECK(entries_in(p.dir) == 1, "%s: the lock alone is in the "
	    "directory (%d entries)", name(method), entries_in(p.dir));
	if (method == DLOCK_MKDIR)
		CHECK(entries_in(p.lock) == 1 && access(p.record, F_OK) == 0,
		    "mkdir: the lock directory holds the owner file alone");
	CHECK(dlock_close(a) == 0, "%s: close a held lock", name(method));
	CHECK(access(p.lock, F_OK) < 0 && errno == ENOENT,
	    "%s: the lock path is gone after close", name(method));
	CHECK(entries_in(p.dir) == 0, "%s: nothing left in the directory "
	    "(%d entries)", name(method), entries_in(p.dir));
}

static void
test_replaced_lock_is_lost_and_kept(int method)
{
	char before[1024], after[1024];
	struct place p;
	dlock_t *a;

	place_for(&p, "replaced", method);
	a = open_with(p.lock, method, 0, 0);
	dlock_lock(a, LOCK_EX, 0);
	CHECK(replace_record(&p) == 0, "%s: replace the record", name(method));
	contents(p.record, before, sizeof(before));
	errno = 0;
	CHECK(dlock_unlock(a) == -1 && errno == DLOCK_ELOST,
	    "%s: unlock of a replaced lock is DLOCK_ELOST (errno %d)",
	    name(method), errno);
	contents(p.record, after, sizeof(after));
	CHECK(after[0] != '\0' && strcmp(before, after) == 0 &&
	    strstr(after, OTHER_NONCE) != NULL,
	    "%s: the replacement is left in place: '%s'", name(method), after);
	CHECK(dlock_close(a) == 0, "%s: close after the loss", name(method));
	contents(p.record, after, sizeof(after));
	CHECK(strcmp(before, after) == 0, "%s: close leaves the replacement "
	    "too", name(method));
	CHECK(entries_in(p.dir) == 1, "%s: nothing but the replacement "
	    "(%d entries)", name(method), entries_in(p.dir));
}

static void
test_heartbeat_finds_a_replaced_lock_lost(int method)
{
	char before[1024], after[1024];
	struct place p;
	dlock_t *a;

	place_for(&p, "lostbeat", method);
	a = open_with(p.lock, method, 0, 0);
	dlock_lock(a, LOCK_EX, 0);
	replace_record(&p);
	contents(p.record, before, sizeof(before));
	errno = 0;
	CHECK(dlock_heartbeat(a) == -1 && errno == DLOCK_ELOST,
	    "%s: a heartbeat finds the lock lost (errno %d)", name(method),
	    errno);
	/* The loss is told once; the handle then holds nothing. */
	CHECK(dlock_unlock(a) == 0 && dlock_close(a) == 0,
	    "%s: unlock and close after a lost heartbeat", name(method));
	contents(p.record, after, sizeof(after));
	CHECK(strcmp(before, after) == 0, "%s: the replacement is left in "
	    "place", name(method));
}

static void
test_removed_lock_is_lost_and_not_recreated(int method)
{
	struct place p;
	dlock_t *a;

	place_for(&p, "removed", method);
	a = open_with(p.lock, method, 0, 0);
	dlock_lock(a, LOCK_EX, 0);
	unlink(p.record);
	if (method == DLOCK_MKDIR)
		rmdir(p.lock);
	errno = 0;
	CHECK(dlock_unlock(a) == -1 && errno == DLOCK_ELOST,
	    "%s: unlock of a removed lock is DLOCK_ELOST (errno %d)",
	    name(method), errno);
	CHECK(entries_in(p.dir) == 0, "%s: nothing was created (%d entries)",
	    name(method), entries_in(p.dir));
	dlock_close(a);
}

static void
test_heartbeat_refreshes_the_record_mtime(int method)
{
	struct timespec past[2];
	struct place p;
	struct stat st;
	dlock_t *a;
	time_t t0;

	place_for(&p, "heartbeat", method);
	a = open_with(p.lock, method, 0, 0);
	dlock_lock(a, LOCK_EX, 0);
	clock_gettime(CLOCK_REALTIME, &past[0]);
	past[0].tv_sec -= 1000;
	past[1] = past[0];
	utimensat(AT_FDCWD, p.record, past, AT_SYMLINK_NOFOLLOW);
	t0 = time(NULL);
	CHECK(dlock_heartbeat(a) == 0, "%s: heartbeat", name(method));
	CHECK(stat(p.record, &st) == 0 && st.st_mtime >= t0 - 2 &&
	    st.st_mtime <= t0 + 2, "%s: the record's mtime is now (%lld, "
	    "expected about %lld)", name(method), (long long)st.st_mtime,
	    (long long)t0);
	CHECK(entries_in(p.dir) == 1, "%s: a heartbeat leaves nothing beside "
	    "the lock", name(method));
	dlock_unlock(a);
	CHECK(dlock_heartbeat(a) == 0, "%s: a heartbeat without a lock is a "
	    "no-op", name(method));
	dlock_close(a);
}

struct record_reader {
	const char *path;
	const char *nonce;
	volatile int stop;
	int reads, missing, partial;
	char bad[1024];
};

/* The child= value of a record, whole (followed by a space or the final
 * newline), or -1. */
static long
child_in(const char *rec)
{
	const char *c = strstr(rec, " child=");
	char *end;
	long pid;

	if (c == NULL)
		return -1;
	pid = strtol(c + 7, &end, 10);
	return end > c + 7 && (*end == ' ' || (*end == '\n' && end[1] == '\0')) ?
	    pid : -1;
}

/* A complete record of ours carries the nonce, ends in a newline, and
 * names a child that was written as a whole (a truncated child= value
 * would still parse). */
static void *
read_records(void *arg)
{
	struct record_reader *r = arg;
	char buf[1024];
	ssize_t n;
	int fd;

	while (!r->stop) {
		fd = open(r->path, O_RDONLY);
		if (fd < 0) {
			r->missing++;
			continue;
		}
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		r->reads++;
		if (n <= 0 || buf[n - 1] != '\n' ||
		    strstr(buf, r->nonce) == NULL ||
		    (child_in(buf) != 7 && child_in(buf) != 1234567)) {
			r->partial++;
			snprintf(r->bad, sizeof(r->bad), "%s", buf);
		}
	}
	return NULL;
}

static void
test_set_child_rewrites_the_record_atomically(int method)
{
	char rec[1024], nonce[64];
	struct record_reader r;
	struct place p;
	pthread_t t;
	dlock_t *a;
	const char *s;
	int i;

	place_for(&p, "child", method);
	a = open_with(p.lock, method, 0, 0);
	errno = 0;
	CHECK(dlock_set_child(a, -1) == -1 && errno == EINVAL,
	    "%s: a negative child is EINVAL", name(method));
	/* Before the lock: the record is published naming the child. */
	CHECK(dlock_set_child(a, 1234567) == 0,
	    "%s: set_child before the lock", name(method));
	dlock_lock(a, LOCK_EX, 0);
	contents(p.record, rec, sizeof(rec));
	CHECK(child_in(rec) == 1234567, "%s: the first record names the "
	    "child set before the lock: '%s'", name(method), rec);
	dlock_unlock(a);
	CHECK(dlock_set_child(a, 0) == 0, "%s: set_child 0 before the lock",
	    name(method));
	dlock_lock(a, LOCK_EX, 0);
	contents(p.record, rec, sizeof(rec));
	CHECK(strstr(rec, " child=") == NULL, "%s: no child= after "
	    "set_child 0: '%s'", name(method), rec);
	s = strstr(rec, " nonce=");
	snprintf(nonce, sizeof(nonce), "%.39s", s != NULL ? s : " nonce=?");
	CHECK(dlock_set_child(a, 7) == 0, "%s: set_child", name(method));
	contents(p.record, rec, sizeof(rec));
	CHECK(child_in(rec) == 7 && strstr(rec, nonce) != NULL,
	    "%s: the record names the child, same nonce: '%s'", name(method),
	    rec);

	memset(&r, 0, sizeof(r));
	r.path = p.record;
	r.nonce = nonce;
	pthread_create(&t, NULL, read_records, &r);
	for (i = 0; i < 200; i++)
		if (dlock_set_child(a, i % 2 ? 7 : 1234567) < 0)
			break;
	r.stop = 1;
	pthread_join(t, NULL);
	CHECK(i == 200, "%s: 200 rewrites (stopped at %d, errno %d)",
	    name(method), i, errno);
	CHECK(r.missing == 0 && r.partial == 0, "%s: %d reads during "
	    "rewrites: %d found no record, %d a partial one ('%s')",
	    name(method), r.reads, r.missing, r.partial, r.bad);
	CHECK(entries_in(p.dir) == 1 && (method != DLOCK_MKDIR ||
	    entries_in(p.lock) == 1), "%s: rewrites leave no temporary file",
	    name(method));
	CHECK(dlock_unlock(a) == 0, "%s: the rewritten lock is still ours",
	    name(method));
	dlock_close(a);
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

struct whole_reader {
	const char *path;
	volatile int stop;
	int reads, partial;
	char bad[1024];
};

/* Whenever the record file can be opened, it holds a whole record. */
static void *
read_whole_records(void *arg)
{
	struct whole_reader *r = arg;
	char buf[1024];
	ssize_t n;
	int fd;

	while (!r->stop) {
		fd = open(r->path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		r->reads++;
		if (n <= 0 || buf[n - 1] != '\n' ||
		    strncmp(buf, "dlock/1 ", 8) != 0 ||
		    strstr(buf, " nonce=") == NULL) {
			r->partial++;
			snprintf(r->bad, sizeof(r->bad), "%s", buf);
		}
	}
	return NULL;
}

static void
test_record_appears_whole(int method)
{
	struct whole_reader r;
	struct place p;
	pthread_t t;
	dlock_t *a;
	int i, failed = 0;

	place_for(&p, "whole", method);
	a = open_with(p.lock, method, 0, 0);
	memset(&r, 0, sizeof(r));
	r.path = p.record;
	pthread_create(&t, NULL, read_whole_records, &r);
	for (i = 0; i < 200; i++)
		if (dlock_lock(a, LOCK_EX, 0) < 0 || dlock_unlock(a) < 0)
			failed++;
	r.stop = 1;
	pthread_join(t, NULL);
	CHECK(failed == 0, "%s: 200 lock and unlock rounds (%d failed)",
	    name(method), failed);
	CHECK(r.partial == 0, "%s: %d of %d reads found a partial record "
	    "('%s')", name(method), r.partial, r.reads, r.bad);
	dlock_close(a);
}

/* A v1 record of a holder on another host: only its age can tell. */
static void
foreign_record(char *buf, size_t size, const char *method)
{
	snprintf(buf, size, "dlock/1 method=%s pid=4242 host=elsewhere "
	    "boot=0e0e0e0e-0e0e-0e0e-0e0e-0e0e0e0e0e0e pidns=4026531836 "
	    "start=1 time=1763712000 nonce=" OTHER_NONCE "\n", method);
}

static void
test_other_method_record_is_eproto(int method)
{
	char rec[1024], after[1024];
	int other = method == DLOCK_MKDIR ? DLOCK_LOCKFILE : DLOCK_MKDIR;
	struct place p;
	dlock_t *a;
	double t0;

	place_for(&p, "eproto", method);
	foreign_record(rec, sizeof(rec), name(other));
	plant_lock(&p, method, rec);
	a = open_with(p.lock, method, 0, 0);
	CHECK(a != NULL, "%s: open beside another method's lock",
	    name(method));
	if (a == NULL)
		return;
	errno = 0;
	CHECK(dlock_lock(a, LOCK_EX | LOCK_NB, 0) == -1 && errno == EPROTO,
	    "%s: a record naming %s is EPROTO (errno %d)", name(method),
	    name(other), errno);
	t0 = now();
	errno = 0;
	CHECK(dlock_lock(a, LOCK_EX, 5) == -1 && errno == EPROTO &&
	    now() - t0 < 1, "%s: ... at once, not after waiting (errno %d)",
	    name(method), errno);
	contents(p.record, after, sizeof(after));
	CHECK(strcmp(rec, after) == 0 && entries_in(p.dir) == 1,
	    "%s: the other method's lock is untouched", name(method));
	dlock_close(a);
}

static void
test_wrong_kind_of_file_is_refused_at_open(void)
{
	struct place p;
	dlock_t *a;

	place_for(&p, "kind", DLOCK_LOCKFILE);
	mkdir(p.lock, 0755);
	errno = 0;
	a = open_with(p.lock, DLOCK_LOCKFILE, 0, 0);
	CHECK(a == NULL && errno == EISDIR, "lockfile: a directory at the "
	    "path is EISDIR at dlock_open (errno %d)", errno);
	dlock_close(a);
	rmdir(p.lock);

	place_for(&p, "kind", DLOCK_MKDIR);
	write_file(p.lock, "");
	errno = 0;
	a = open_with(p.lock, DLOCK_MKDIR, 0, 0);
	CHECK(a == NULL && errno == ENOTDIR, "mkdir: a file at the path is "
	    "ENOTDIR at dlock_open (errno %d)", errno);
	dlock_close(a);
	unlink(p.lock);
	symlink("/nonexistent", p.lock);
	errno = 0;
	a = open_with(p.lock, DLOCK_MKDIR, 0, 0);
	CHECK(a == NULL && errno == ELOOP, "mkdir: a symlink is ELOOP "
	    "(errno %d)", errno);
	dlock_close(a);
	errno = 0;
	a = open_with(p.lock, DLOCK_LOCKFILE, 0, 0);
	CHECK(a == NULL && errno == ELOOP, "lockfile: a symlink is ELOOP "
	    "(errno %d)", errno);
	dlock_close(a);
}

static void
test_missing_directory_is_enoent(int method)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/no/such/dir/lock", top);
	errno = 0;
	CHECK(open_with(path, method, 0, 0) == NULL && errno == ENOENT,
	    "%s: a missing directory is ENOENT at dlock_open (errno %d)",
	    name(method), errno);
}

static void
test_dead_holder_on_this_host_is_broken(int method)
{
	char rec[1024], *pid;
	struct place p;
	dlock_t *a;
	pid_t dead;
	int status;

	/* Our own record, naming a process that has exited. */
	place_for(&p, "dead", method);
	a = open_with(p.lock, method, 0, 0);
	dlock_lock(a, LOCK_EX, 0);
	contents(p.record, rec, sizeof(rec));
	dlock_unlock(a);
	dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, &status, 0);
	pid = strstr(rec, " pid=");
	if (pid != NULL) {
		char tail[1024];

		snprintf(tail, sizeof(tail), "%s", strchr(pid + 1, ' '));
		snprintf(pid, sizeof(rec) - (size_t)(pid - rec), " pid=%d%s",
		    (int)dead, tail);
	}
	plant_lock(&p, method, rec);
	CHECK(dlock_lock(a, LOCK_EX | LOCK_NB, 0) == 0, "%s: a lock whose "
	    "holder on this host is gone is broken and taken", name(method));
	CHECK(entries_in(p.dir) == 1, "%s: breaking leaves nothing behind "
	    "(%d entries)", name(method), entries_in(p.dir));
	dlock_close(a);
}

static void
test_foreign_holder_is_judged_by_its_lease(int method)
{
	struct timespec old[2];
	char rec[1024];
	struct place p;
	dlock_t *a;

	place_for(&p, "lease", method);
	foreign_record(rec, sizeof(rec), name(method));
	plant_lock(&p, method, rec);
	a = open_with(p.lock, method, 0, 2.0);
	errno = 0;
	CHECK(dlock_lock(a, LOCK_EX | LOCK_NB, 0) == -1 && errno == EWOULDBLOCK,
	    "%s: a fresh lock of another host is busy (errno %d)",
	    name(method), errno);
	dlock_close(a);
	/* A new handle: one that judged the lock alive by its lease does
	 * not judge it again before the lease can have run out. */
	clock_gettime(CLOCK_REALTIME, &old[0]);
	old[0].tv_sec -= 10;
	old[1] = old[0];
	utimensat(AT_FDCWD, p.record, old, AT_SYMLINK_NOFOLLOW);
	a = open_with(p.lock, method, 0, 2.0);
	CHECK(dlock_lock(a, LOCK_EX | LOCK_NB, 0) == 0, "%s: past its lease "
	    "it is broken and taken", name(method));
	CHECK(entries_in(p.dir) == 1, "%s: judging and breaking leave nothing "
	    "behind (%d entries)", name(method), entries_in(p.dir));
	dlock_close(a);
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
test_threads_of_one_process_exclude_each_other(int method)
{
	enum { NTHREADS = 4, ROUNDS = 50 };
	struct contender c[NTHREADS];
	pthread_t t[NTHREADS];
	volatile int inside = 0;
	int counter = 0, overlaps = 0, errors = 0, i;
	struct place p;

	place_for(&p, "threads", method);
	for (i = 0; i < NTHREADS; i++) {
		c[i] = (struct contender){ p.lock, method, ROUNDS, &inside,
		    &counter, 0, 0 };
		pthread_create(&t[i], NULL, contend, &c[i]);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		overlaps += c[i].overlaps;
		errors += c[i].errors;
	}
	CHECK(overlaps == 0 && errors == 0 && counter == NTHREADS * ROUNDS,
	    "%s: %d threads x %d rounds: counter %d, overlaps %d, errors %d",
	    name(method), NTHREADS, ROUNDS, counter, overlaps, errors);
	CHECK(entries_in(p.dir) == 0, "%s: nothing left after the threads "
	    "(%d entries)", name(method), entries_in(p.dir));
}

static void
test_signals_interrupt_only_when_asked(int method)
{
	struct place p;
	struct sigaction sa;
	dlock_t *a, *plain, *intr;
	double t0;

	place_for(&p, "intr", method);
	a = open_with(p.lock, method, 0, 0);
	plain = open_with(p.lock, method, 0, 0);
	intr = open_with(p.lock, method, DLOCK_INTERRUPTIBLE, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	dlock_lock(a, LOCK_EX, -1);

	arm_alarm(0.1);
	errno = 0;
	CHECK(dlock_lock(intr, LOCK_EX, -1) == -1 && errno == EINTR,
	    "%s: an interruptible wait ends with EINTR", name(method));
	arm_alarm(0.1);
	t0 = now();
	errno = 0;
	CHECK(dlock_lock(plain, LOCK_EX, 0.4) == -1 && errno == ETIMEDOUT &&
	    now() - t0 >= 0.4, "%s: a signal does not end a plain wait",
	    name(method));
	CHECK(entries_in(p.dir) == 1, "%s: interrupted waits leave nothing "
	    "(%d entries)", name(method), entries_in(p.dir));
	dlock_close(a);
	dlock_close(plain);
	dlock_close(intr);
}

int
main(void)
{
	int m;

	if (mkdtemp(top) == NULL)
		return 255;
	test_wrong_kind_of_file_is_refused_at_open();
	test_link_reported_failed_but_made_is_ours();
	for (m = 0; m < NMETHODS; m++) {
		test_two_handles_exclude_each_other(name_methods[m]);
		test_another_process_is_excluded(name_methods[m]);
		test_shared_is_not_supported(name_methods[m]);
		test_timed_wait_expires_on_time(name_methods[m]);
		test_timed_wait_succeeds_once_released(name_methods[m]);
		test_close_leaves_nothing_behind(name_methods[m]);
		test_replaced_lock_is_lost_and_kept(name_methods[m]);
		test_heartbeat_finds_a_replaced_lock_lost(name_methods[m]);
		test_removed_lock_is_lost_and_not_recreated(name_methods[m]);
		test_heartbeat_refreshes_the_record_mtime(name_methods[m]);
		test_set_child_rewrites_the_record_atomically(name_methods[m]);
		test_record_appears_whole(name_methods[m]);
		test_other_method_record_is_eproto(name_methods[m]);
		test_missing_directory_is_enoent(name_methods[m]);
		test_dead_holder_on_this_host_is_broken(name_methods[m]);
		test_foreign_holder_is_judged_by_its_lease(name_methods[m]);
		test_threads_of_one_process_exclude_each_other(name_methods[m]);
		test_signals_interrupt_only_when_asked(name_methods[m]);
	}
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
		(void)!system(cmd);
	}
	return check_summary("namelock");
}
