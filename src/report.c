/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* How the command turns errno into one line on stderr and an exit status. */

void
say_verbose(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	if (!cli->verbose)
		return;
	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
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
		return EXIT_UNAVAILABLE;
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
		return EXIT_UNAVAILABLE;
	case EBADF:
		return EXIT_NOINPUT;
	default:
		return EXIT_OSERR;
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
	switch (err) {
	case ELOOP:
		warnx("cannot open lock file %s: it is a symbolic link, "
		    "which is never followed", what);
		break;
	case EINVAL:
		warnx("cannot open lock file %s: not a regular file or "
		    "directory", what);
		break;
	case EOPNOTSUPP:
		warnx("cannot use method %s on %s: not supported in this build",
		    dlock_method_name(cli->lock.method), what);
		break;
	default:
		warnx("cannot open lock file %s: %s", what, strerror(err));
	}
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
		warnx("cannot lock %s: %s", what, strerror(err));
}
