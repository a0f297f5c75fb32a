/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* How the command turns errno into one line on stderr and an exit status. */

static void
vsay_timed(const char *fmt, va_list ap)
{
	char when[32] = "", line[1024];
	struct timespec now;
	struct tm tm;

	/* clang-analyzer 14 misreads this va_list as uninitialized. */
	vsnprintf(line, sizeof(line), fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
	clock_gettime(CLOCK_REALTIME, &now);
	if (localtime_r(&now.tv_sec, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "dlock: %s.%03ld %s\n", when, now.tv_nsec / 1000000L,
	    line);
}

/* Lines about events a log must date: a lost lock, a time limit. */
void
say_timed(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay_timed(fmt, ap);
	va_end(ap);
}

/* --verbose lines carry the wall-clock time, for cron logs. */
void
say_verbose(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	if (cli->verbose != VERBOSE_DLOCK)
		return;
	va_start(ap, fmt);
	vsay_timed(fmt, ap);
	va_end(ap);
}

/*
 * --verbose=flock: the lines flock(1) prints, word for word and with its
 * name, for scripts that read them.  Flushed at once, so that they come
 * before what the command prints.
 */
void
say_like_flock(const struct cli *cli, FILE *to, const char *fmt, ...)
{
	va_list ap;

	if (cli->verbose != VERBOSE_FLOCK)
		return;
	va_start(ap, fmt);
	fputs("flock: ", to);
	/* clang-analyzer 14 misreads this va_list as uninitialized. */
	vfprintf(to, fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
	va_end(ap);
	fputc('\n', to);
	fflush(to);
}

/* What a --verbose line calls the lock. */
const char *
lock_name(const struct cli *cli)
{
	static char what[32];

	if (cli->path != NULL)
		return cli->path;
	snprintf(what, sizeof(what), "descriptor %d", cli->fd);
	return what;
}

int
exit_status_for_open(int err)
{
	switch (err) {
	case ENOMEM:
	case EMFILE:
	case ENFILE:
		return EXIT_OSERR;
	case EROFS:
	case ENOSPC:
	case EDQUOT:
		return EXIT_CANTCREAT;
	case ENOLCK:
	case EOPNOTSUPP:
	case EPROTO:
		return EXIT_UNAVAILABLE;
	case DLOCK_ESLOTS:
		return EXIT_DATAERR;
	default:
		return EXIT_NOINPUT;
	}
}

int
exit_status_for_lock(int err)
{
	switch (err) {
	case ENOLCK:
	case EOPNOTSUPP:
	case ENOSYS:
	case EPROTO:
	case EEXIST:
		return EXIT_UNAVAILABLE;
	case EBADF:
	case EISDIR:
	case ENOTDIR:
	case ELOOP:
	case EBADMSG:
		return EXIT_NOINPUT;
	case EROFS:
	case ENOSPC:
	case EDQUOT:
	case EACCES:
		return EXIT_CANTCREAT;
	case EPERM:
		return EXIT_NOPERM;
	default:
		return EXIT_OSERR;
	}
}

/* strerror(), in the words of locks where errno's own would mislead. */
const char *
lock_error_text(int err)
{
	switch (err) {
	case DLOCK_ELOST:
		return "the lock was lost: another process removed or replaced "
		    "it (broke it as stale, or by force)";
	case EPROTO:
		return "it is held by another lock method; every user of one "
		    "lock must use the same method";
	case EISDIR:
		return "it is a directory (a lock of the mkdir method, or not "
		    "a lock at all)";
	case ENOTDIR:
		return "it is not a directory (a lock of another method, or "
		    "not a lock at all)";
	case ELOOP:
		return "it is a symbolic link, which is never followed";
	case EINVAL:
		return "not a regular file or directory";
	case EDEADLK:
		return "this handle already holds it";
	case DLOCK_ESLOTS:
		return "it is used with another number of --slots (the one "
		    "in its .slots file); every user must give the same";
	case EBADMSG:
		return "its token file (the lock path with .token added) is "
		    "not a regular file holding a token; it was left as it is";
	case EEXIST:
		return "it is an empty file, which may be the lock file of a "
		    "kernel lock held on another host (kernel locks do not "
		    "work here) or a legacy lockfile; remove it if no host "
		    "locks it, or give -m lockfile to judge it by its age";
	default:
		return strerror(err);
	}
}

static const char *
target(const struct cli *cli, char *buf, size_t size)
{
	if (cli->path != NULL)
		snprintf(buf, size, "'%s'", cli->path);
	else
		snprintf(buf, size, "descriptor %d", cli->fd);
	return buf;
}

void
report_open_error(const struct cli *cli, int err)
{
	char what[64 + 4096];

	target(cli, what, sizeof(what));
	if (cli->path == NULL)
		warnx("cannot lock %s: %s", what, lock_error_text(err));
	else
		warnx("cannot open lock %s: %s", what, lock_error_text(err));
}

void
report_lock_error(const struct cli *cli, int err)
{
	char what[64 + 4096];

	target(cli, what, sizeof(what));
	if (err == EBADF && cli->operation == LOCK_EX)
		warnx("cannot lock %s: it is open read-only, and an exclusive "
		    "fcntl lock needs write access (use -s, or -m flock)", what);
	else if (err == EOPNOTSUPP && cli->operation == LOCK_SH &&
	    (cli->lock.flags & DLOCK_TOKEN))
		warnx("cannot lock %s: fencing tokens for shared locks need a "
		    "kernel lock method (fcntl or flock); this path uses a %s",
		    what, cli->lock.method == DLOCK_MKDIR ? "mkdir lock" :
		    "lockfile");
	else if (err == EBADMSG && cli->path != NULL)
		warnx("cannot lock %s: its token file '%s.token' is not a "
		    "regular file holding a token; it was left as it is", what,
		    cli->path);
	else if (err == EPERM && cli->path != NULL)
		report_no_permission("cannot lock", cli->path, &cli->lock);
	else if (err == EACCES && cli->path != NULL)
		report_cannot_create(cli->path);
	else
		warnx("cannot lock %s: %s", what, lock_error_text(err));
}

/* A user as people and ls(1) name it: "name (uid N)". */
static const char *
user_named(uid_t uid, char *buf, size_t size)
{
	struct passwd pwd, *pw = NULL;
	char names[4096];

	if (getpwuid_r(uid, &pwd, names, sizeof(names), &pw) != 0)
		pw = NULL;
	if (pw != NULL)
		snprintf(buf, size, "%s (uid %u)", pw->pw_name, (unsigned)uid);
	else
		snprintf(buf, size, "uid %u", (unsigned)uid);
	return buf;
}

static void
directory_of(const char *path, char *dir, size_t size)
{
	char copy[PATH_MAX];

	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(dir, size, "%s", dirname(copy));
}

/*
 * Why this user may not remove the file at path from its directory dir:
 * a sticky directory and a file of another user (unlink(2) and rename(2)
 * then need the file's or the directory's owner, or root), or a directory
 * it may not write to.  0 when neither is the cause.
 */
static int
why_not_removable(const char *path, const char *dir, char *buf, size_t size)
{
	char owner[64], downer[64], who[160];
	struct stat fst, dst;
	uid_t me = geteuid();

	if (lstat(path, &fst) < 0 || stat(dir, &dst) < 0)
		return 0;
	user_named(fst.st_uid, owner, sizeof(owner));
	user_named(dst.st_uid, downer, sizeof(downer));
	if (access(dir, W_OK) < 0) {
		snprintf(buf, size, "'%s' (of %s, mode %04o) is not writable "
		    "by this user: only a user who may write to it, or root, "
		    "may remove it", dir, downer, (unsigned)dst.st_mode & 07777);
		return 1;
	}
	if ((dst.st_mode & S_ISVTX) && fst.st_uid != me && dst.st_uid != me) {
		if (fst.st_uid == dst.st_uid)
			snprintf(who, sizeof(who), "%s%s", owner,
			    fst.st_uid == 0 ? "" : " or root");
		else
			snprintf(who, sizeof(who), "%s, the directory's owner "
			    "%s%s", owner, downer, fst.st_uid == 0 ||
			    dst.st_uid == 0 ? "" : ", or root");
		snprintf(buf, size, "it belongs to %s and '%s' is sticky "
		    "(mode %04o): only %s may remove it", owner, dir,
		    (unsigned)dst.st_mode & 07777, who);
		return 1;
	}
	return 0;
}

static void
hint_shared_layout(void)
{
	warnx("hint: in a lock directory shared by several users, lay it "
	    "out as dlock(1) says under Shared lock directories, so that "
	    "every user can remove a stale lock");
}

/*
 * EPERM from taking or breaking a lock held by a name: a stale lock or
 * breaker lock this user may not remove, or a record it may not read, so
 * that the lock can never become free for this user.  One line says whose
 * lock it is, since when it is silent, why it cannot be removed here and
 * who can; a second points to the layout that avoids it.
 */
void
report_no_permission(const char *what, const char *path,
    const struct dlock_options *opts)
{
	char dir[PATH_MAX], breaker[PATH_MAX], record[PATH_MAX], why[768];
	char owner[64], when[32] = "an unknown time";
	struct dlock_status st;
	struct stat rst;
	struct tm tm;

	directory_of(path, dir, sizeof(dir));
	snprintf(breaker, sizeof(breaker), "%s.break", path);
	if (why_not_removable(breaker, dir, why, sizeof(why))) {
		warnx("%s '%s': its breaker lock '%s', left by a process that "
		    "died while breaking or releasing it, cannot be removed: "
		    "%s", what, path, breaker, why);
		hint_shared_layout();
		return;
	}
	memset(&st, 0, sizeof(st));
	if (dlock_status(path, opts, &st) < 0) {
		if (lstat(path, &rst) == 0)
			warnx("%s '%s': its record cannot be read by this user "
			    "(it belongs to %s, mode %04o), so whether its "
			    "holder lives cannot be told; only that user or "
			    "root can", what, path,
			    user_named(rst.st_uid, owner, sizeof(owner)),
			    (unsigned)rst.st_mode & 07777);
		else
			warnx("%s '%s': %s", what, path, strerror(EPERM));
		return;
	}
	snprintf(record, sizeof(record), "%s%s", path,
	    st.method == DLOCK_MKDIR ? "/owner" : "");
	if (lstat(record, &rst) == 0 &&
	    localtime_r(&rst.st_mtim.tv_sec, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	if (!why_not_removable(path, dir, why, sizeof(why)))
		snprintf(why, sizeof(why), "%s", strerror(EPERM));
	warnx("%s '%s': it is stale (%s; silent since %s), but %s", what,
	    path, st.reason, when, why);
	hint_shared_layout();
}

/*
 * EACCES from taking a lock held by a name: the lock cannot be created,
 * as its directory is not writable by this user.
 */
void
report_cannot_create(const char *path)
{
	char dir[PATH_MAX], downer[64];
	struct stat dst;

	directory_of(path, dir, sizeof(dir));
	if (stat(dir, &dst) == 0 && access(dir, W_OK) < 0)
		warnx("cannot create lock '%s': '%s' (of %s, mode %04o) is "
		    "not writable by this user", path, dir,
		    user_named(dst.st_uid, downer, sizeof(downer)),
		    (unsigned)dst.st_mode & 07777);
	else
		warnx("cannot create lock '%s': %s", path, strerror(EACCES));
}
