/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "contract.h"
#include "internal.h"

/*
 * Fencing tokens (DLOCK_TOKEN): for every method, each grant's token is
 * greater than every earlier grant's, with processes contending, shared
 * grants taking part, holders killed at random moments, and a name lock
 * lost before its token was taken; a token file that is not one is
 * refused untouched; dlock_fence() accepts what is not older than it has
 * seen.
 */

#define PROCS		4
#define MAX_LOG		4096

/* What the contending processes share. */
struct shared {
	atomic_int inside;		/* holders in the critical section */
	atomic_int doubles;		/* times one found another inside */
	atomic_int failures;		/* calls that failed */
	atomic_uint next;		/* the next slot of log: grant order */
	uint64_t log[MAX_LOG];		/* the token each grant saw */
};

static struct shared *sh;

static const int methods[] = {
	DLOCK_FCNTL, DLOCK_FLOCK, DLOCK_LOCKFILE, DLOCK_MKDIR, DLOCK_AUTO
};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

static const char *
name(int method)
{
	return dlock_method_name(method);
}

static int
is_kernel(int method)
{
	return method != DLOCK_LOCKFILE && method != DLOCK_MKDIR;
}

static int
rounds_for(int method)
{
	return is_kernel(method) ? 100 : 30;
}

static void
reset_shared(void)
{
	memset(sh, 0, sizeof(*sh));
}

/* The critical section: it notes the token in grant order. */
static void
critical_section(dlock_t *lk, int exclusive)
{
	unsigned slot;

	if (atomic_fetch_add(&sh->inside, 1) != 0 && exclusive)
		atomic_fetch_add(&sh->doubles, 1);
	slot = atomic_fetch_add(&sh->next, 1);
	if (slot < MAX_LOG)
		sh->log[slot] = dlock_token(lk);
	if (dlock_token(lk) == 0)
		atomic_fetch_add(&sh->failures, 1);
	sched_yield();
	atomic_fetch_sub(&sh->inside, 1);
}

static void
contend(const char *path, int method, int operation, int rounds)
{
	dlock_t *lk;
	int r;

	bound_this_child(100);
	lk = open_with(path, method, DLOCK_TOKEN, 0);
	if (lk == NULL) {
		atomic_fetch_add(&sh->failures, 1);
		_exit(1);
	}
	for (r = 0; r < rounds; r++) {
		if (dlock_lock(lk, operation, 30) < 0) {
			atomic_fetch_add(&sh->failures, 1);
			continue;
		}
		critical_section(lk, operation == LOCK_EX);
		if (dlock_unlock(lk) < 0)
			atomic_fetch_add(&sh->failures, 1);
	}
	dlock_close(lk);
	_exit(0);
}

static int
run_contenders(const char *path, int method, int operation, int rounds)
{
	pid_t pids[PROCS];
	int i, bad = 0;

	for (i = 0; i < PROCS; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			contend(path, method, operation, rounds);
	}
	for (i = 0; i < PROCS; i++)
		if (child_status(pids[i]) != 0)
			bad++;
	return bad;
}

static int
compare_tokens(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
test_exclusive_tokens_increase_in_grant_order(int method)
{
	int rounds = rounds_for(method), n, i, decreases = 0, repeats = 0;
	struct place p;

	place_for(&p, "exclusive", method);
	reset_shared();
	CHECK(run_contenders(p.lock, method, LOCK_EX, rounds) == 0,
	    "%s: every contender ran its rounds", name(method));
	n = (int)atomic_load(&sh->next);
	CHECK(n == PROCS * rounds, "%s: %d grants, expected %d", name(method),
	    n, PROCS * rounds);
	CHECK(atomic_load(&sh->doubles) == 0 &&
	    atomic_load(&sh->failures) == 0, "%s: %d doubles, %d failures",
	    name(method), atomic_load(&sh->doubles),
	    atomic_load(&sh->failures));
	for (i = 1; i < n && i < MAX_LOG; i++) {
		if (sh->log[i] == sh->log[i - 1])
			repeats++;
		else if (sh->log[i] < sh->log[i - 1])
			decreases++;
	}
	CHECK(repeats == 0 && decreases == 0, "%s: in grant order, %d repeats "
	    "and %d decreases among %d tokens", name(method), repeats,
	    decreases, n);
	CHECK(n > 0 && sh->log[0] == 1 && sh->log[n - 1] == (uint64_t)n,
	    "%s: the tokens run from 1 to %d (%" PRIu64 " to %" PRIu64 ")",
	    name(method), n, sh->log[0], n > 0 ? sh->log[n - 1] : 0);
}

static void
test_shared_grants_get_distinct_tokens(int method)
{
	int rounds = rounds_for(method), n, i, repeats = 0;
	uint64_t highest;
	struct place p;
	dlock_t *lk;

	place_for(&p, "shared", method);
	if (!is_kernel(method)) {
		/* A shared grant of a name lock is a registration beside the
		 * lock, which the token's update does not cover. */
		lk = open_with(p.lock, method, DLOCK_TOKEN, 0);
		CHECK(lk != NULL && dlock_lock(lk, LOCK_SH, 1) < 0 &&
		    errno == EOPNOTSUPP && dlock_token(lk) == 0,
		    "%s: a shared grant with DLOCK_TOKEN is refused (EOPNOTSUPP)",
		    name(method));
		if (lk != NULL)
			dlock_close(lk);
		lk = open_with(p.lock, method, DLOCK_TOKEN, 0);
		CHECK(lk != NULL && dlock_lock(lk, LOCK_EX, 1) == 0 &&
		    dlock_token(lk) > 0, "%s: and leaves the lock free for an "
		    "exclusive one", name(method));
		if (lk != NULL)
			dlock_close(lk);
		return;
	}
	reset_shared();
	CHECK(run_contenders(p.lock, method, LOCK_SH, rounds) == 0,
	    "%s: every shared contender ran its rounds", name(method));
	n = (int)atomic_load(&sh->next);
	CHECK(n == PROCS * rounds && atomic_load(&sh->failures) == 0,
	    "%s: %d shared grants (expected %d), %d failures", name(method),
	    n, PROCS * rounds, atomic_load(&sh->failures));
	if (n > MAX_LOG)
		n = MAX_LOG;
	qsort(sh->log, (size_t)n, sizeof(sh->log[0]), compare_tokens);
	for (i = 1; i < n; i++)
		if (sh->log[i] == sh->log[i - 1])
			repeats++;
	CHECK(repeats == 0, "%s: %d repeated tokens among %d shared grants",
	    name(method), repeats, n);
	highest = n > 0 ? sh->log[n - 1] : 0;
	lk = open_with(p.lock, method, DLOCK_TOKEN, 0);
	CHECK(lk != NULL && dlock_lock(lk, LOCK_EX, 10) == 0 &&
	    dlock_token(lk) > highest, "%s: an exclusive grant after them "
	    "gets more than %" PRIu64 " (%" PRIu64 ")", name(method), highest,
	    dlock_token(lk));
	dlock_close(lk);
}

/*
 * A mkdir holder killed between making its directory and putting its
 * record in (or a breaker killed between removing the record and the
 * directory) leaves a lock that only its age can judge: the lease here
 * is short, so that such a lock is broken within the test.
 */
#define KILLED_LEASE	2.0

/* A holder that notes its token and waits to be killed. */
static void
hold_until_killed(const char *path, int method)
{
	dlock_t *lk;
	unsigned slot;

	bound_this_child(30);
	lk = open_with(path, method, DLOCK_TOKEN, KILLED_LEASE);
	if (lk == NULL || dlock_lock(lk, LOCK_EX, 20) < 0) {
		atomic_fetch_add(&sh->failures, 1);
		_exit(1);
	}
	slot = atomic_fetch_add(&sh->next, 1);
	if (slot < MAX_LOG)
		sh->log[slot] = dlock_token(lk);
	pause();
	_exit(0);
}

/*
 * Holders are killed at random moments, many of them while taking the
 * lock or its token: every token granted is still greater than every
 * one before, and the token file stays readable.
 */
static void
test_killed_holders_never_repeat(int method)
{
	int kills = 40, k, n, i, bad = 0;
	struct place p;
	dlock_t *lk;
	pid_t pid;

	place_for(&p, "killed", method);
	reset_shared();
	srand((unsigned)getpid());
	for (k = 0; k < kills; k++) {
		struct timespec nap = { 0, (long)(rand() % 3000) * 1000 };

		pid = fork();
		if (pid == 0)
			hold_until_killed(p.lock, method);
		nanosleep(&nap, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	n = (int)atomic_load(&sh->next);
	for (i = 1; i < n; i++)
		if (sh->log[i] <= sh->log[i - 1])
			bad++;
	CHECK(bad == 0 && atomic_load(&sh->failures) == 0, "%s: %d grants "
	    "among %d killed holders, %d not above the one before, %d "
	    "failures", name(method), n, kills, bad,
	    atomic_load(&sh->failures));
	lk = open_with(p.lock, method, DLOCK_TOKEN, KILLED_LEASE);
	CHECK(lk != NULL && dlock_lock(lk, LOCK_EX, 20) == 0 &&
	    dlock_token(lk) > (n > 0 ? sh->log[n - 1] : 0), "%s: the grant "
	    "after the killings gets a greater token (%" PRIu64 ", errno %d)",
	    name(method), dlock_token(lk), errno);
	dlock_close(lk);
}

static void
test_no_token_unless_asked(int method)
{
	char token_file[400];
	struct place p;
	struct stat st;
	dlock_t *lk;

	place_for(&p, "unasked", method);
	snprintf(token_file, sizeof(token_file), "%s.token", p.lock);
	lk = open_with(p.lock, method, 0, 0);
	CHECK(lk != NULL && dlock_lock(lk, LOCK_EX, 5) == 0 &&
	    dlock_token(lk) == 0, "%s: a lock taken without DLOCK_TOKEN has "
	    "token 0", name(method));
	CHECK(lstat(token_file, &st) < 0 && errno == ENOENT, "%s: and no "
	    "token file", name(method));
	dlock_close(lk);
	lk = open_with(p.lock, method, DLOCK_TOKEN, 0);
	CHECK(lk != NULL, "%s: open with DLOCK_TOKEN", name(method));
	if (lk == NULL)
		return;
	CHECK(dlock_token(lk) == 0, "%s: token 0 before the lock is taken",
	    name(method));
	CHECK(dlock_lock(lk, LOCK_EX, 5) == 0 && dlock_token(lk) == 1,
	    "%s: the first token is 1", name(method));
	CHECK(dlock_unlock(lk) == 0 && dlock_token(lk) == 0, "%s: token 0 "
	    "once released", name(method));
	dlock_close(lk);
}

/* What a token file holds that is not a token: each refused untouched. */
static void
test_bad_token_file_is_refused(int method)
{
	static const char *const garbage[] = { "abc\n", "12", "-1\n",
	    "007\n", "1\n2\n", "18446744073709551616\n" };
	char token_file[400], target[400], buf[64];
	struct place p;
	dlock_t *lk, *other;
	size_t i;

	place_for(&p, "bad", method);
	snprintf(token_file, sizeof(token_file), "%s.token", p.lock);
	snprintf(target, sizeof(target), "%s/target", p.dir);
	for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		write_file(token_file, garbage[i]);
		lk = open_with(p.lock, method, DLOCK_TOKEN, 0);
		errno = 0;
		CHECK(lk != NULL && dlock_lock(lk, LOCK_EX, 5) == -1 &&
		    errno == EBADMSG && dlock_token(lk) == 0, "%s: token file "
		    "'%s' refused with EBADMSG (errno %d)", name(method),
		    garbage[i], errno);
		CHECK(strcmp(contents(token_file, buf, sizeof(buf)),
		    garbage[i]) == 0, "%s: and left as it was", name(method));
		other = open_with(p.lock, method, 0, 0);
		CHECK(other != NULL && dlock_lock(other, LOCK_EX | LOCK_NB,
		    0) == 0, "%s: the lock was let go of", name(method));
		dlock_close(other);
		dlock_close(lk);
	}
	unlink(token_file);
	write_file(target, "7\n");
	CHECK(symlink(target, token_file) == 0, "symlink");
	lk = open_with(p.lock, method, DLOCK_TOKEN, 0);
	errno = 0;
	CHECK(lk != NULL && dlock_lock(lk, LOCK_EX, 5) == -1 &&
	    errno == EBADMSG, "%s: a symlink as token file is refused "
	    "(errno %d)", name(method), errno);
	CHECK(strcmp(contents(target, buf, sizeof(buf)), "7\n") == 0,
	    "%s: its target is untouched", name(method));
	dlock_close(lk);
	unlink(token_file);
	CHECK(mkfifo(token_file, 0600) == 0, "mkfifo");
	lk = open_with(p.lock, method, DLOCK_TOKEN, 0);
	errno = 0;
	CHECK(lk != NULL && dlock_lock(lk, LOCK_EX, 5) == -1 &&
	    errno == EBADMSG, "%s: a FIFO as token file is refused (errno %d)",
	    name(method), errno);
	dlock_close(lk);
	unlink(token_file);
}

static void
test_descriptor_token(void)
{
	struct dlock_options o;
	char path[400], buf[64];
	struct place p;
	int fd, pipefd[2];
	dlock_t *lk;

	place_for(&p, "descriptor", DLOCK_FLOCK);
	fd = open(p.lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	dlock_options_init(&o);
	o.flags = DLOCK_TOKEN;
	lk = dlock_open_fd(fd, &o);
	CHECK(lk != NULL, "dlock_open_fd with DLOCK_TOKEN");
	if (lk == NULL)
		return;
	CHECK(dlock_lock(lk, LOCK_EX, 5) == 0 && dlock_token(lk) == 1,
	    "a descriptor's lock gets token 1");
	dlock_unlock(lk);
	CHECK(dlock_lock(lk, LOCK_SH, 5) == 0 && dlock_token(lk) == 2,
	    "and a shared one then token 2");
	dlock_close(lk);
	snprintf(path, sizeof(path), "%s.token", p.lock);
	CHECK(strcmp(contents(path, buf, sizeof(buf)), "2\n") == 0,
	    "beside the descriptor's file");
	close(fd);
	CHECK(pipe2(pipefd, O_CLOEXEC) == 0, "pipe");
	errno = 0;
	CHECK(dlock_open_fd(pipefd[0], &o) == NULL && errno == ENOENT,
	    "a pipe has no path for a token file: ENOENT (errno %d)", errno);
	close(pipefd[0]);
	close(pipefd[1]);
}

/*
 * A name lock's holder whose lock is broken before it takes its token
 * (it waits for the breaker here, as a paused holder would have) finds
 * that out and gets DLOCK_ELOST, and the token file is not advanced.
 */
static void
test_lost_before_token(int method)
{
	char breaker[400], token_file[400], record[DLOCK_RECORD_MAX + 1];
	char buf[64], cmd[600];
	struct dlock_owner me;
	struct place p;
	struct stat st;
	dlock_t *lk;
	pid_t pid;
	int len, i;

	place_for(&p, "lost", method);
	snprintf(breaker, sizeof(breaker), "%s.break", p.lock);
	snprintf(token_file, sizeof(token_file), "%s.token", p.lock);
	write_file(token_file, "41\n");
	/* A breaker of this live process: the holder must wait for it. */
	CHECK(record_self(&me, "lockfile", 0) == 0 &&
	    record_nonce(me.nonce) == 0, "record_self");
	len = record_format(&me, record, sizeof(record));
	CHECK(len > 0 && write_file(breaker, record) == 0, "fake breaker");
	pid = fork();
	if (pid == 0) {
		bound_this_child(60);
		lk = open_with(p.lock, method, DLOCK_TOKEN, 0);
		_exit(lk != NULL && dlock_lock(lk, LOCK_EX, 5) == -1 &&
		    errno == DLOCK_ELOST && dlock_token(lk) == 0 ? 0 : 1);
	}
	for (i = 0; i < 250 && lstat(p.record, &st) < 0; i++)
		nanosleep(&(struct timespec){ 0, 20 * 1000000L }, NULL);
	CHECK(i < 250, "%s: the holder published its lock", name(method));
	/* What a breaker does to a lock it judged stale. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p.lock);
	CHECK(system(cmd) == 0, "remove the lock");
	unlink(breaker);
	CHECK(child_status(pid) == 0, "%s: the holder that lost its lock "
	    "before its token was taken fails with DLOCK_ELOST", name(method));
	CHECK(strcmp(contents(token_file, buf, sizeof(buf)), "41\n") == 0,
	    "%s: and took no token (the token file holds %s)", name(method),
	    buf);
	lk = open_with(p.lock, method, DLOCK_TOKEN, 0);
	CHECK(lk != NULL && dlock_lock(lk, LOCK_EX, 5) == 0 &&
	    dlock_token(lk) == 42, "%s: the next holder gets 42 (%" PRIu64
	    ")", name(method), dlock_token(lk));
	dlock_close(lk);
}

/* Fencers with random tokens: the state file ends at the highest
 * accepted, and no token below one already recorded is accepted. */
static void
fence_randomly(const char *state, unsigned seed)
{
	uint64_t token, highest;
	int r, rc;

	bound_this_child(60);
	srand(seed);
	for (r = 0; r < 50; r++) {
		unsigned slot;

		token = 1 + (uint64_t)(rand() % 1000);
		rc = dlock_fence(state, token, &highest);
		if (rc < 0 || (rc == 0 && highest != token) ||
		    (rc == 1 && highest <= token)) {
			atomic_fetch_add(&sh->failures, 1);
			continue;
		}
		if (rc == 0) {
			slot = atomic_fetch_add(&sh->next, 1);
			if (slot < MAX_LOG)
				sh->log[slot] = token;
		} else {
			atomic_fetch_add(&sh->doubles, 1);
		}
	}
	_exit(0);
}

static void
test_fence(void)
{
	char state[400], buf[64], target[400];
	uint64_t highest, top = 0;
	struct place p;
	pid_t pids[PROCS];
	int i, n;

	place_for(&p, "fence", DLOCK_AUTO);
	snprintf(state, sizeof(state), "%s/state", p.dir);
	CHECK(dlock_fence(state, 5, &highest) == 0 && highest == 5,
	    "a first token is accepted");
	CHECK(strcmp(contents(state, buf, sizeof(buf)), "5\n") == 0,
	    "and recorded");
	CHECK(dlock_fence(state, 5, &highest) == 0, "the same token again");
	CHECK(dlock_fence(state, 4, &highest) == 1 && highest == 5,
	    "an older one is refused, and the newer one named");
	CHECK(dlock_fence(state, 9, &highest) == 0 && highest == 9 &&
	    strcmp(contents(state, buf, sizeof(buf)), "9\n") == 0,
	    "a newer one is accepted and recorded");
	errno = 0;
	CHECK(dlock_fence(state, 0, &highest) == -1 && errno == EINVAL,
	    "token 0 is EINVAL");
	write_file(state, "nine\n");
	errno = 0;
	CHECK(dlock_fence(state, 10, &highest) == -1 && errno == EBADMSG &&
	    strcmp(contents(state, buf, sizeof(buf)), "nine\n") == 0,
	    "a state file holding garbage is refused untouched");
	unlink(state);
	snprintf(target, sizeof(target), "%s/target", p.dir);
	write_file(target, "3\n");
	CHECK(symlink(target, state) == 0, "symlink");
	errno = 0;
	CHECK(dlock_fence(state, 10, &highest) == -1 && errno == EBADMSG &&
	    strcmp(contents(target, buf, sizeof(buf)), "3\n") == 0,
	    "a symlink as state file is refused, its target untouched");
	unlink(state);

	reset_shared();
	for (i = 0; i < PROCS; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			fence_randomly(state, (unsigned)(i + 1) * 7919u);
	}
	for (i = 0; i < PROCS; i++)
		CHECK(child_status(pids[i]) == 0, "fencer %d", i);
	n = (int)atomic_load(&sh->next);
	for (i = 0; i < n && i < MAX_LOG; i++)
		if (sh->log[i] > top)
			top = sh->log[i];
	snprintf(target, sizeof(target), "%" PRIu64 "\n", top);
	CHECK(atomic_load(&sh->failures) == 0 && n > 0 &&
	    strcmp(contents(state, buf, sizeof(buf)), target) == 0,
	    "%d fencers: %d accepted, %d refused, %d failures; the state "
	    "file holds %s, the highest accepted is %" PRIu64, PROCS, n,
	    atomic_load(&sh->doubles), atomic_load(&sh->failures), buf, top);
}

int
main(void)
{
	size_t i;

	/* cppcheck-suppress invalidFunctionArg ; an anonymous map has no fd */
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || places_init("token") < 0)
		return 1;
	for (i = 0; i < NMETHODS; i++) {
		test_no_token_unless_asked(methods[i]);
		test_exclusive_tokens_increase_in_grant_order(methods[i]);
		test_shared_grants_get_distinct_tokens(methods[i]);
		test_killed_holders_never_repeat(methods[i]);
		test_bad_token_file_is_refused(methods[i]);
		if (!is_kernel(methods[i]))
			test_lost_before_token(methods[i]);
	}
	test_descriptor_token();
	test_fence();
	places_remove();
	return check_summary("token");
}
