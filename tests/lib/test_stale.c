/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "dlock.h"

/*
 * Staleness, judged by dlock_status() and acted on by dlock_break(), over
 * owner records written by hand: each row names what is at the lock path
 * and the state it must be found in.  dlock_break() must remove exactly
 * the dead ones, refuse the rest with EBUSY (and remove those only when
 * forced), and never leave its breaker lock behind.
 */

#define LEASE 10.0		/* seconds */
#define OLD (-60)		/* an mtime this far back is past the lease */

static char dir[] = "/tmp/dlock-stale-XXXXXX";

/* This host as records name it. */
static struct utsname uts;
static char boot[64];
static unsigned long long pidns, my_start;
static pid_t dead_pid, zombie_pid;
static unsigned long long zombie_start;

enum content {
	DEAD_PID,		/* v1, this host, a pid that is gone */
	REUSED_PID,		/* v1, this host, a live pid started at another time */
	LIVE_PID,		/* v1, this host, us */
	LIVE_CHILD,		/* v1, this host, holder gone, its command (us) alive */
	ZOMBIE,			/* v1, this host, exited but not reaped */
	OTHER_HOST,		/* v1, another host: by its lease */
	OTHER_BOOT,		/* v1, this host name, another boot id: rebooted */
	OTHER_PIDNS,		/* v1, this host, another PID namespace: by lease */
	LEGACY_PID,		/* "4242\n" (dotlockfile -p), a live pid: by lease */
	LEGACY_DEAD_PID,	/* a bare pid that is gone: still by lease */
	LEGACY_ZERO,		/* "0" (lockfile(1)) */
	LEGACY_EMPTY,		/* empty (lockfile-progs, or being written) */
	NEWER,			/* "dlock/2 ...": a newer writer, by lease */
	GARBAGE,		/* not a record: damaged or being written */
	HUGE,			/* 1 MiB: no record at all, never stale */
	NO_RECORD		/* mkdir: the directory, no owner file yet */
};

struct row {
	const char *name;
	int method;		/* DLOCK_LOCKFILE or DLOCK_MKDIR */
	enum content content;
	int age;		/* 0: fresh; OLD: past the lease */
	int want;		/* enum dlock_state */
};

static const struct row rows[] = {
	{ "dead pid", DLOCK_LOCKFILE, DEAD_PID, 0, DLOCK_DEAD },
	{ "reused pid (start mismatch)", DLOCK_LOCKFILE, REUSED_PID, 0,
	    DLOCK_DEAD },
	{ "live pid", DLOCK_LOCKFILE, LIVE_PID, 0, DLOCK_ALIVE },
	{ "live pid, old mtime", DLOCK_LOCKFILE, LIVE_PID, OLD, DLOCK_ALIVE },
	{ "dead holder, live command", DLOCK_LOCKFILE, LIVE_CHILD, OLD,
	    DLOCK_ALIVE },
	{ "zombie holder", DLOCK_LOCKFILE, ZOMBIE, 0, DLOCK_DEAD },
	{ "other host, fresh", DLOCK_LOCKFILE, OTHER_HOST, 0, DLOCK_UNKNOWN },
	{ "other host, old", DLOCK_LOCKFILE, OTHER_HOST, OLD, DLOCK_DEAD },
	{ "this host name, other boot id", DLOCK_LOCKFILE, OTHER_BOOT, 0,
	    DLOCK_DEAD },
	{ "other pid namespace, fresh", DLOCK_LOCKFILE, OTHER_PIDNS, 0,
	    DLOCK_UNKNOWN },
	{ "other pid namespace, old", DLOCK_LOCKFILE, OTHER_PIDNS, OLD,
	    DLOCK_DEAD },
	{ "legacy pid, fresh", DLOCK_LOCKFILE, LEGACY_PID, 0, DLOCK_UNKNOWN },
	{ "legacy pid, old", DLOCK_LOCKFILE, LEGACY_PID, OLD, DLOCK_DEAD },
	{ "legacy dead pid, fresh", DLOCK_LOCKFILE, LEGACY_DEAD_PID, 0,
	    DLOCK_UNKNOWN },
	{ "legacy 0, fresh", DLOCK_LOCKFILE, LEGACY_ZERO, 0, DLOCK_UNKNOWN },
	{ "legacy 0, old", DLOCK_LOCKFILE, LEGACY_ZERO, OLD, DLOCK_DEAD },
	{ "legacy empty, fresh", DLOCK_LOCKFILE, LEGACY_EMPTY, 0,
	    DLOCK_UNKNOWN },
	{ "legacy empty, old", DLOCK_LOCKFILE, LEGACY_EMPTY, OLD, DLOCK_DEAD },
	{ "newer version, fresh", DLOCK_LOCKFILE, NEWER, 0, DLOCK_UNKNOWN },
	{ "newer version, old", DLOCK_LOCKFILE, NEWER, OLD, DLOCK_DEAD },
	{ "garbage, fresh", DLOCK_LOCKFILE, GARBAGE, 0, DLOCK_UNKNOWN },
	{ "garbage, old", DLOCK_LOCKFILE, GARBAGE, OLD, DLOCK_DEAD },
	{ "1 MiB file, fresh", DLOCK_LOCKFILE, HUGE, 0, DLOCK_UNKNOWN },
	{ "1 MiB file, old", DLOCK_LOCKFILE, HUGE, OLD, DLOCK_UNKNOWN },
	{ "mkdir: dead pid", DLOCK_MKDIR, DEAD_PID, 0, DLOCK_DEAD },
	{ "mkdir: live pid", DLOCK_MKDIR, LIVE_PID, OLD, DLOCK_ALIVE },
	{ "mkdir: other host, fresh", DLOCK_MKDIR, OTHER_HOST, 0,
	    DLOCK_UNKNOWN },
	{ "mkdir: other host, old", DLOCK_MKDIR, OTHER_HOST, OLD, DLOCK_DEAD },
	{ "mkdir: no record, fresh", DLOCK_MKDIR, NO_RECORD, 0, DLOCK_UNKNOWN },
	{ "mkdir: no record, old", DLOCK_MKDIR, NO_RECORD, OLD, DLOCK_DEAD },
};

#define NROWS (int)(sizeof(rows) / sizeof(rows[0]))

static const char *const state_names[] = {
	"free", "alive", "dead", "unknown"
};

static int
start_time_of(const char *stat_path, unsigned long long *start)
{
	char buf[4096], *p;
	ssize_t n;
	int fd, field;

	fd = open(stat_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL)
		return -1;
	/* The space before field 3 follows ')'; the start time is field 22. */
	for (field = 3, p++; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL)
		return -1;
	*start = strtoull(p + 1, NULL, 10);
	return 0;
}

static int
read_small(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int
is_zombie(pid_t pid)
{
	char path[64], buf[4096];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf)) < 0 || strrchr(buf, ')') == NULL)
		return 0;
	return strrchr(buf, ')')[2] == 'Z';
}

static void
identify_this_host(void)
{
	struct stat st;
	struct timespec nap = { 0, 5 * 1000000L };
	pid_t pid;
	char path[64];
	int i;

	CHECK(uname(&uts) == 0, "uname");
	CHECK(read_small("/proc/sys/kernel/random/boot_id", boot,
	    sizeof(boot)) == 0, "boot id");
	CHECK(stat("/proc/self/ns/pid", &st) == 0, "pid namespace");
	pidns = (unsigned long long)st.st_ino;
	CHECK(start_time_of("/proc/self/stat", &my_start) == 0, "start time");

	pid = fork();
	if (pid == 0)
		_exit(0);
	CHECK(pid > 0 && waitpid(pid, NULL, 0) == pid, "a dead pid");
	dead_pid = pid;

	/* Left unreaped until the end: a zombie. */
	zombie_pid = fork();
	if (zombie_pid == 0)
		_exit(0);
	CHECK(zombie_pid > 0, "fork");
	for (i = 0; i < 1000 && !is_zombie(zombie_pid); i++)
		nanosleep(&nap, NULL);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)zombie_pid);
	CHECK(is_zombie(zombie_pid) &&
	    start_time_of(path, &zombie_start) == 0, "a zombie");
}

static void
write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	CHECK(fd >= 0 && write(fd, data, len) == (ssize_t)len,
	    "write %s", path);
	if (fd >= 0)
		close(fd);
}

/* A dlock/1 record of method for pid, this host unless told otherwise. */
static int
v1_record(char *buf, size_t size, int method, pid_t pid,
    unsigned long long start, const char *host, const char *boot_id,
    unsigned long long ns, pid_t child)
{
	char childkey[32] = "";

	if (child > 0)
		snprintf(childkey, sizeof(childkey), " child=%d", (int)child);
	return snprintf(buf, size, "dlock/1 method=%s pid=%d host=%s "
	    "boot=%s pidns=%llu start=%llu time=%lld "
	    "nonce=0123456789abcdef0123456789abcdef%s\n",
	    dlock_method_name(method), (int)pid, host, boot_id, ns, start,
	    (long long)time(NULL), childkey);
}

/* Writes what the row says is at the lock path. */
static void
make_lock(const struct row *r, const char *path, char *record_path,
    size_t size)
{
	static char huge[1024 * 1024];
	char buf[1024];
	const char *other_boot = strcmp(boot, "00000000-0000-0000-0000-"
	    "000000000000") != 0 ? "00000000-0000-0000-0000-000000000000" :
	    "11111111-1111-1111-1111-111111111111";
	int len = 0;

	snprintf(record_path, size, "%s%s", path,
	    r->method == DLOCK_MKDIR ? "/owner" : "");
	if (r->method == DLOCK_MKDIR)
		CHECK(mkdir(path, 0755) == 0, "mkdir %s", path);
	switch (r->content) {
	case DEAD_PID:
		len = v1_record(buf, sizeof(buf), r->method, dead_pid, 1,
		    uts.nodename, boot, pidns, 0);
		break;
	case REUSED_PID:
		len = v1_record(buf, sizeof(buf), r->method, getpid(),
		    my_start + 1, uts.nodename, boot, pidns, 0);
		break;
	case LIVE_PID:
		len = v1_record(buf, sizeof(buf), r->method, getpid(),
		    my_start, uts.nodename, boot, pidns, 0);
		break;
	case LIVE_CHILD:
		len = v1_record(buf, sizeof(buf), r->method, dead_pid, 1,
		    uts.nodename, boot, pidns, getpid());
		break;
	case ZOMBIE:
		len = v1_record(buf, sizeof(buf), r->method, zombie_pid,
		    zombie_start, uts.nodename, boot, pidns, 0);
		break;
	case OTHER_HOST:
		len = v1_record(buf, sizeof(buf), r->method, getpid(),
		    my_start, "otherhost", boot, pidns, 0);
		break;
	case OTHER_BOOT:
		len = v1_record(buf, sizeof(buf), r->method, getpid(),
		    my_start, uts.nodename, other_boot, pidns, 0);
		break;
	case OTHER_PIDNS:
		len = v1_record(buf, sizeof(buf), r->method, getpid(),
		    my_start, uts.nodename, boot, pidns + 1, 0);
		break;
	case LEGACY_PID:
		len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
		break;
	case LEGACY_DEAD_PID:
		len = snprintf(buf, sizeof(buf), "%d\n", (int)dead_pid);
		break;
	case LEGACY_ZERO:
		len = snprintf(buf, sizeof(buf), "0");
		break;
	case LEGACY_EMPTY:
		len = 0;
		break;
	case NEWER:
		len = snprintf(buf, sizeof(buf), "dlock/2 method=%s pid=%d "
		    "host=%s lease=server\n", dlock_method_name(r->method),
		    (int)getpid(), uts.nodename);
		break;
	case GARBAGE:
		len = snprintf(buf, sizeof(buf), "dlock/1 pid=12 host=\x01\n");
		break;
	case HUGE:
		memset(huge, 'x', sizeof(huge));
		write_file(record_path, huge, sizeof(huge));
		len = -1;
		break;
	case NO_RECORD:
		len = -1;
		break;
	}
	if (len >= 0)
		write_file(record_path, buf, (size_t)len);
	if (r->age != 0) {
		struct timespec times[2];

		clock_gettime(CLOCK_REALTIME, &times[0]);
		times[0].tv_sec += r->age;
		times[1] = times[0];
		CHECK(utimensat(AT_FDCWD, r->content == NO_RECORD ? path :
		    record_path, times, AT_SYMLINK_NOFOLLOW) == 0,
		    "utimensat %s", path);
	}
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Nothing of the breaker's may be left beside the lock. */
static void
check_no_breaker(const char *what, const char *path)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s.break", path);
	CHECK(!exists(p), "%s: %s left behind", what, p);
	snprintf(p, sizeof(p), "%s.break.clear", path);
	CHECK(!exists(p), "%s: %s left behind", what, p);
}

static void
test_row(int i, const struct row *r)
{
	struct dlock_options o;
	struct dlock_status st;
	struct stat before, after;
	char path[PATH_MAX], record_path[PATH_MAX];
	int rc, err;

	snprintf(path, sizeof(path), "%s/lock%d", dir, i);
	make_lock(r, path, record_path, sizeof(record_path));
	dlock_options_init(&o);
	o.method = r->method;
	o.stale = LEASE;

	memset(&st, 0xa5, sizeof(st));
	rc = dlock_status(path, &o, &st);
	CHECK(rc == 0, "%s: dlock_status: %s", r->name, strerror(errno));
	if (rc == 0) {
		CHECK(st.state == r->want, "%s: state %s, want %s (%s)",
		    r->name, state_names[st.state & 3],
		    state_names[r->want], st.reason);
		CHECK(st.method == r->method, "%s: method %d", r->name,
		    st.method);
		CHECK(st.reason[0] != '\0' &&
		    memchr(st.reason, '\0', sizeof(st.reason)) != NULL,
		    "%s: a reason", r->name);
		CHECK(st.stale == LEASE, "%s: lease %g", r->name, st.stale);
	}
	check_no_breaker(r->name, path);

	CHECK(lstat(record_path, &before) == 0 || r->content == NO_RECORD,
	    "%s: the record is there", r->name);
	errno = 0;
	rc = dlock_break(path, &o, 0, &st);
	err = errno;
	if (r->want == DLOCK_DEAD) {
		CHECK(rc == 0, "%s: dlock_break: %s", r->name, strerror(err));
		CHECK(!exists(path), "%s: removed", r->name);
	} else {
		CHECK(rc == -1 && err == EBUSY, "%s: dlock_break gave %d, %s; "
		    "want EBUSY", r->name, rc, strerror(err));
		CHECK(exists(path), "%s: not removed", r->name);
		CHECK(r->content == NO_RECORD ||
		    (lstat(record_path, &after) == 0 &&
		    after.st_ino == before.st_ino &&
		    after.st_size == before.st_size &&
		    after.st_mtim.tv_sec == before.st_mtim.tv_sec),
		    "%s: untouched", r->name);
		check_no_breaker(r->name, path);
		/* Forced, it goes through the same protocol. */
		rc = dlock_break(path, &o, 1, &st);
		CHECK(rc == 0, "%s: forced: %s", r->name, strerror(errno));
		CHECK(!exists(path), "%s: removed when forced", r->name);
	}
	check_no_breaker(r->name, path);
}

static void
test_free_path(void)
{
	struct dlock_options o;
	struct dlock_status st;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/free", dir);
	dlock_options_init(&o);
	o.method = DLOCK_LOCKFILE;
	CHECK(dlock_status(path, &o, &st) == 0 && st.state == DLOCK_FREE,
	    "a free path is free");
	errno = 0;
	CHECK(dlock_break(path, &o, 0, &st) == -1 && errno == ENOENT,
	    "breaking a free path: ENOENT");
	CHECK(dlock_break(path, &o, 1, &st) == -1 && errno == ENOENT,
	    "forcing a free path: ENOENT");
	CHECK(!exists(path), "looking creates nothing");
	check_no_breaker("free path", path);
	snprintf(path, sizeof(path), "%s/missing/lock", dir);
	errno = 0;
	CHECK(dlock_status(path, &o, &st) == -1 && errno == ENOENT,
	    "a missing directory: ENOENT");
}

/* A lock of this host's, the record of which says so, found by auto. */
static void
test_auto_finds_the_record(void)
{
	struct dlock_status st;
	char path[PATH_MAX], buf[1024];
	int len;

	snprintf(path, sizeof(path), "%s/auto", dir);
	len = v1_record(buf, sizeof(buf), DLOCK_LOCKFILE, dead_pid, 1,
	    uts.nodename, boot, pidns, 0);
	write_file(path, buf, (size_t)len);
	CHECK(dlock_status(path, NULL, &st) == 0 &&
	    st.method == DLOCK_LOCKFILE && st.state == DLOCK_DEAD,
	    "auto finds a lockfile record: method %d state %d", st.method,
	    st.state);
	CHECK(dlock_break(path, NULL, 0, &st) == 0 && !exists(path),
	    "auto breaks it");
	check_no_breaker("auto", path);
}

/*
 * A breaker lock left by a process that died holding it: cleared at once
 * when it names a dead process of this host, or when older than any hold;
 * respected when it names a live one, or nobody (being written).
 */
static void
test_left_breakers(void)
{
	static const struct {
		const char *name;
		enum content content;
		int age;
		int cleared;
	} cases[] = {
		{ "breaker of a dead pid", DEAD_PID, 0, 1 },
		{ "breaker of a zombie", ZOMBIE, 0, 1 },
		{ "breaker of a live pid", LIVE_PID, 0, 0 },
		{ "breaker of a live pid, old", LIVE_PID, OLD, 1 },
		{ "breaker of another host", OTHER_HOST, 0, 0 },
		{ "empty breaker", LEGACY_EMPTY, 0, 0 },
		{ "empty breaker, old", LEGACY_EMPTY, OLD, 1 },
	};
	struct dlock_options o;
	struct dlock_status st;
	char path[256], brk[300], rec[320], buf[1024];
	size_t i;
	int len, rc;

	dlock_options_init(&o);
	o.method = DLOCK_LOCKFILE;
	o.stale = LEASE;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct row r = { cases[i].name, DLOCK_LOCKFILE,
		    cases[i].content, cases[i].age, 0 };

		snprintf(path, sizeof(path), "%s/broken%zu", dir, i);
		snprintf(brk, sizeof(brk), "%s.break", path);
		len = v1_record(buf, sizeof(buf), DLOCK_LOCKFILE, dead_pid, 1,
		    uts.nodename, boot, pidns, 0);
		write_file(path, buf, (size_t)len);
		make_lock(&r, brk, rec, sizeof(rec));
		errno = 0;
		rc = dlock_break(path, &o, 0, &st);
		if (cases[i].cleared) {
			CHECK(rc == 0 && !exists(path), "%s: cleared, the lock "
			    "broken: %s", cases[i].name, strerror(errno));
			check_no_breaker(cases[i].name, path);
		} else {
			CHECK(rc == -1 && errno == EWOULDBLOCK && exists(path),
			    "%s: respected: %d %s", cases[i].name, rc,
			    strerror(errno));
			CHECK(exists(brk), "%s: still there", cases[i].name);
			unlink(brk);
			unlink(path);
		}
	}
}

int
main(void)
{
	int i;

	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	identify_this_host();
	for (i = 0; i < NROWS; i++)
		test_row(i, &rows[i]);
	test_free_path();
	test_auto_finds_the_record();
	test_left_breakers();
	waitpid(zombie_pid, NULL, 0);
	CHECK(rmdir(dir) == 0, "nothing left in %s: %s", dir, strerror(errno));
	return check_summary("test_stale");
}
