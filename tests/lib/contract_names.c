/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "contract.h"

/*
 * The library contract of the methods that hold a lock by a name
 * (lockfile, mkdir), beyond the one every method meets: the lock holds
 * an owner record, published whole and rewritten atomically; a lock
 * replaced or removed by someone else is lost, and left as it is; a
 * holder that is gone is judged dead, a foreign one by its lease; and
 * nothing is ever left behind.
 */

/* Another holder's nonce, for records that replace ours. */
#define OTHER_NONCE "0123456789abcdef0123456789abcdef"

static const char *
name(int method)
{
	return dlock_method_name(method);
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
test_holder_locking_again_is_edeadlk(int method)
{
	struct place p;
	dlock_t *a;

	place_for(&p, "relock", method);
	a = open_with(p.lock, method, 0, 0);
	CHECK(a != NULL && dlock_lock(a, LOCK_EX | LOCK_NB, 0) == 0,
	    "%s: lock", name(method));
	if (a == NULL)
		return;
	errno = 0;
	CHECK(dlock_lock(a, LOCK_EX | LOCK_NB, 0) == -1 && errno == EDEADLK,
	    "%s: a holder locking again is EDEADLK, not busy (errno %d)",
	    name(method), errno);
	dlock_close(a);
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

/*
 * A handle holding the lock at p, whose record is then replaced by
 * another holder's; before gets the replacement.
 */
static dlock_t *
held_then_replaced(struct place *p, const char *what, int method,
    char *before, size_t size)
{
	dlock_t *a;

	place_for(p, what, method);
	a = open_with(p->lock, method, 0, 0);
	CHECK(a != NULL && dlock_lock(a, LOCK_EX, 0) == 0, "%s: lock",
	    name(method));
	CHECK(replace_record(p) == 0, "%s: replace the record", name(method));
	contents(p->record, before, size);
	return a;
}

static void
test_replaced_lock_is_lost_and_kept(int method)
{
	char before[1024], after[1024];
	struct place p;
	dlock_t *a;

	a = held_then_replaced(&p, "replaced", method, before, sizeof(before));
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

	a = held_then_replaced(&p, "lostbeat", method, before, sizeof(before));
	errno = 0;
	CHECK(dlock_heartbeat(a) == -1 && errno == DLOCK_ELOST,
	    "%s: a heartbeat finds the lock lost (errno %d)", name(method),
	    errno);
	/* The release tells the loss again, to a caller that checks only
	 * the release; the handle then holds nothing. */
	errno = 0;
	CHECK(dlock_unlock(a) == -1 && errno == DLOCK_ELOST,
	    "%s: unlock after a lost heartbeat is DLOCK_ELOST (errno %d)",
	    name(method), errno);
	CHECK(dlock_unlock(a) == 0 && dlock_close(a) == 0,
	    "%s: unlock and close after that", name(method));
	contents(p.record, after, sizeof(after));
	CHECK(strcmp(before, after) == 0, "%s: the replacement is left in "
	    "place", name(method));
}

/*
 * A lock that another program renames away while it is held is lost
 * too, and a lock made meanwhile at its name is another holder's: the
 * release removes neither.
 */
static void
test_renamed_lock_is_lost_and_kept(int method)
{
	char moved[PATH_MAX];
	char rec[1024], after[1024], *nonce;
	struct place p;
	dlock_t *a;

	place_for(&p, "renamed", method);
	a = open_with(p.lock, method, 0, 0);
	CHECK(a != NULL && dlock_lock(a, LOCK_EX, 0) == 0, "%s: lock",
	    name(method));
	contents(p.record, rec, sizeof(rec));
	nonce = strstr(rec, " nonce=");
	CHECK(nonce != NULL && strlen(nonce) >= 7 + 32, "%s: the record has "
	    "a nonce: '%s'", name(method), rec);
	if (nonce != NULL && strlen(nonce) >= 7 + 32)
		memcpy(nonce + 7, OTHER_NONCE, 32);
	snprintf(moved, sizeof(moved), "%s.moved", p.lock);
	CHECK(rename(p.lock, moved) == 0 && plant_lock(&p, method, rec) == 0,
	    "%s: rename the lock away and make another's", name(method));
	errno = 0;
	CHECK(dlock_unlock(a) == -1 && errno == DLOCK_ELOST,
	    "%s: unlock of a lock renamed away is DLOCK_ELOST (errno %d)",
	    name(method), errno);
	contents(p.record, after, sizeof(after));
	CHECK(strcmp(rec, after) == 0, "%s: the other's lock is left in "
	    "place: '%s'", name(method), after);
	CHECK(access(moved, F_OK) == 0, "%s: the renamed lock is left as it "
	    "is", name(method));
	CHECK(dlock_close(a) == 0 && entries_in(p.dir) == 2, "%s: close "
	    "leaves both (%d entries)", name(method), entries_in(p.dir));
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

/* A thread reading the record over and over; with a nonce, the record
 * must be ours and name a child, else any holder's whole record will do. */
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

/* A complete record ends in a newline, is a version 1 record with a
 * nonce, and, where it must be ours, carries our nonce and names a child
 * that was written as a whole (a truncated child= value would still
 * parse). */
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
		    strncmp(buf, "dlock/1 ", 8) != 0 ||
		    strstr(buf, " nonce=") == NULL || (r->nonce != NULL &&
		    (strstr(buf, r->nonce) == NULL ||
		    (child_in(buf) != 7 && child_in(buf) != 1234567)))) {
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
test_record_appears_whole(int method)
{
	struct record_reader r;
	struct place p;
	pthread_t t;
	dlock_t *a;
	int i, failed = 0;

	place_for(&p, "whole", method);
	a = open_with(p.lock, method, 0, 0);
	memset(&r, 0, sizeof(r));
	r.path = p.record;
	pthread_create(&t, NULL, read_records, &r);
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
test_missing_directory_is_enoent(int method)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/no/such/dir/lock", places_top());
	errno = 0;
	CHECK(open_with(path, method, 0, 0) == NULL && errno == ENOENT,
	    "%s: a missing directory is ENOENT at dlock_open (errno %d)",
	    name(method), errno);
}

/* Our own record at p, made by a, but naming a process that has exited. */
static void
dead_record(const struct place *p, int method, dlock_t *a, char *rec,
    size_t size)
{
	char *pid;
	pid_t dead;

	dlock_lock(a, LOCK_EX, 0);
	contents(p->record, rec, size);
	dlock_unlock(a);
	dead = fork();
	if (dead == 0)
		_exit(0);
	CHECK(child_status(dead) == 0, "%s: a process that exits",
	    name(method));
	pid = strstr(rec, " pid=");
	if (pid != NULL) {
		char tail[1024];

		snprintf(tail, sizeof(tail), "%s", strchr(pid + 1, ' '));
		snprintf(pid, size - (size_t)(pid - rec), " pid=%d%s",
		    (int)dead, tail);
	}
}

static void
test_dead_holder_on_this_host_is_broken(int method)
{
	char rec[1024];
	struct place p;
	dlock_t *a;

	place_for(&p, "dead", method);
	a = open_with(p.lock, method, 0, 0);
	dead_record(&p, method, a, rec, sizeof(rec));
	plant_lock(&p, method, rec);
	CHECK(dlock_lock(a, LOCK_EX | LOCK_NB, 0) == 0, "%s: a lock whose "
	    "holder on this host is gone is broken and taken", name(method));
	CHECK(entries_in(p.dir) == 1, "%s: breaking leaves nothing behind "
	    "(%d entries)", name(method), entries_in(p.dir));
	dlock_close(a);
}

/*
 * A lock left unfinished (a mkdir lock's directory with no record, or a
 * lockfile created in place and still empty) beside the intent of a
 * process of this host that has died: stale at once if it was made just
 * after the intent, and judged by its age if it was made later, by
 * someone else.
 */
static void
test_unfinished_lock_beside_a_dead_intent(int method, int later)
{
	struct timespec back[2] = { { 0, UTIME_OMIT }, { 0, 0 } };
	char rec[1024], intent[340];
	struct dlock_status st;
	struct place p;
	dlock_t *a, *b;
	int fd;

	place_for(&p, later ? "intent-later" : "intent", method);
	snprintf(intent, sizeof(intent), "%s.intent", p.lock);
	a = open_with(p.lock, method, 0, 0);
	b = open_with(p.lock, method, 0, 0);
	dead_record(&p, method, a, rec, sizeof(rec));
	CHECK(write_file(intent, rec) == 0, "%s: plant an intent",
	    name(method));
	if (later) {
		back[1].tv_sec = time(NULL) - 10;
		CHECK(utimensat(AT_FDCWD, intent, back, 0) == 0,
		    "%s: date the intent back", name(method));
	}
	if (method == DLOCK_MKDIR) {
		CHECK(mkdir(p.lock, 0755) == 0, "mkdir: plant a directory");
	} else {
		fd = open(p.lock, O_WRONLY | O_CREAT | O_EXCL, 0644);
		CHECK(fd >= 0 && close(fd) == 0, "lockfile: plant an empty "
		    "file");
	}
	CHECK(dlock_status(p.lock, &(struct dlock_options){ .method = method,
	    .stale = 300 }, &st) == 0 && st.state == (later ? DLOCK_UNKNOWN :
	    DLOCK_DEAD), "%s: the unfinished lock is %s (%s)", name(method),
	    later ? "judged by its age" : "stale at once", st.reason);
	if (later) {
		CHECK(dlock_lock(a, LOCK_EX | LOCK_NB, 0) == -1 &&
		    errno == EWOULDBLOCK && dlock_lock(b, LOCK_EX | LOCK_NB,
		    0) == -1 && errno == EWOULDBLOCK, "%s: a lock made after "
		    "the intent is not broken", name(method));
		CHECK(access(p.lock, F_OK) == 0, "%s: it is left",
		    name(method));
		/* A lockfile needs no intent where there are unnamed files,
		 * and so meets none. */
		CHECK(method != DLOCK_MKDIR || access(intent, F_OK) < 0,
		    "mkdir: the dead intent is cleared");
	} else {
		CHECK(dlock_lock(a, LOCK_EX | LOCK_NB, 0) == 0, "%s: broken "
		    "and taken at once", name(method));
		CHECK(dlock_lock(b, LOCK_EX | LOCK_NB, 0) == -1 &&
		    errno == EWOULDBLOCK, "%s: and then busy for another "
		    "handle", name(method));
		CHECK(dlock_unlock(a) == 0 && entries_in(p.dir) == 0,
		    "%s: nothing left after the release (%d entries)",
		    name(method), entries_in(p.dir));
	}
	dlock_close(a);
	dlock_close(b);
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

/* At the lock path, what the method does not make is refused, not taken
 * for a lock: a directory for lockfile, a file for mkdir, and a symlink. */
static void
test_wrong_kind_of_file_is_refused_at_open(int method)
{
	int mkdir_method = method == DLOCK_MKDIR;
	struct place p;
	dlock_t *a;

	place_for(&p, "kind", method);
	if (mkdir_method)
		write_file(p.lock, "");
	else
		mkdir(p.lock, 0755);
	errno = 0;
	a = open_with(p.lock, method, 0, 0);
	CHECK(a == NULL && errno == (mkdir_method ? ENOTDIR : EISDIR),
	    "%s: a %s at the path is %s at dlock_open (errno %d)",
	    name(method), mkdir_method ? "file" : "directory",
	    mkdir_method ? "ENOTDIR" : "EISDIR", errno);
	dlock_close(a);
	remove(p.lock);
	symlink("/nonexistent", p.lock);
	errno = 0;
	a = open_with(p.lock, method, 0, 0);
	CHECK(a == NULL && errno == ELOOP, "%s: a symlink is ELOOP "
	    "(errno %d)", name(method), errno);
	dlock_close(a);
}

void
names_contract_run(int method)
{
	test_holder_locking_again_is_edeadlk(method);
	test_close_leaves_nothing_behind(method);
	test_replaced_lock_is_lost_and_kept(method);
	test_heartbeat_finds_a_replaced_lock_lost(method);
	test_removed_lock_is_lost_and_not_recreated(method);
	test_renamed_lock_is_lost_and_kept(method);
	test_heartbeat_refreshes_the_record_mtime(method);
	test_set_child_rewrites_the_record_atomically(method);
	test_record_appears_whole(method);
	test_other_method_record_is_eproto(method);
	test_missing_directory_is_enoent(method);
	test_dead_holder_on_this_host_is_broken(method);
	test_unfinished_lock_beside_a_dead_intent(method, 0);
	test_unfinished_lock_beside_a_dead_intent(method, 1);
	test_foreign_holder_is_judged_by_its_lease(method);
	test_wrong_kind_of_file_is_refused_at_open(method);
}
