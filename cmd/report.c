/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* How the command turns errno into one line on stderr and an exit status. */

/* --verbose lines carry the wall-clock time, for cron logs. */
void
say_verbose(const struct cli *cli, const char *fmt, ...)
{
	char when[32] = "", line[1024];
	struct timespec now;
	struct tm tm;
	va_list ap;

	if (cli->verbose != VERBOSE_DLOCK)
		return;
	va_start(ap, fmt);
	/* clang-analyzer 14 misreads this va_list as uninitialized. */
	vsnprintf(line, sizeof(line), fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &now);
	if (localtime_r(&now.tv_sec, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "dlock: %s.%03ld %s\n", when, now.tv_nsec / 1000000L,
	    line);
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
	case EACCES:
		return EXIT_NOINPUT;
	case EROFS:
	case ENOSPC:
	case EDQUOT:
		return EXIT_CANTCREAT;
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
	else
		warnx("cannot lock %s: %s", what, lock_error_text(err));
}
