/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/*
 * The wait for a lock, told on a terminal: one line on stderr, redrawn in
 * place, naming the holder and counting the wait.  The wait is cut into
 * slices so that the line can be redrawn between them; the library knows
 * nothing of this.  Without a terminal nothing changes: one dlock_lock()
 * call, as a script or a cron job expects.
 */

/* Seconds between redraws, and between looks at who holds the lock. */
#define REDRAW_EVERY	0.25
#define LOOK_EVERY	1.0

struct waitline {
	const struct cli *cli;
	dlock_t *lk;
	struct timespec start;
	double looked_at;	/* when the holder was last looked at, or -1 */
	char holder[160];
	int drawn;		/* a line is on the screen */
};

double
seconds_on(clockid_t clock, const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(clock, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	    (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

double
seconds_since(const struct timespec *t0)
{
	return seconds_on(CLOCK_MONOTONIC, t0);
}

/* Only the foreground job may draw: a background one would be stopped
 * (SIGTTOU) on terminals that say so, and would scribble over a shell. */
static int
may_draw(void)
{
	return tcgetpgrp(STDERR_FILENO) == getpgrp();
}

static void
format_duration(char *buf, size_t size, double seconds)
{
	long s = seconds < 0 ? 0 : (long)seconds;

	if (s < 60)
		snprintf(buf, size, "%lds", s);
	else if (s < 3600)
		snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
	else
		snprintf(buf, size, "%ldh%02ldm", s / 3600, s / 60 % 60);
}

static void
format_since(char *buf, size_t size, int64_t when)
{
	time_t t = (time_t)when, now = time(NULL);
	struct tm tm, today;

	buf[0] = '\0';
	if (localtime_r(&t, &tm) == NULL || localtime_r(&now, &today) == NULL)
		return;
	strftime(buf, size, tm.tm_year == today.tm_year &&
	    tm.tm_yday == today.tm_yday ? " since %H:%M:%S" :
	    " since %Y-%m-%d %H:%M:%S", &tm);
}

/*
 * Who holds the lock, from its owner record, or as far as the kernel
 * tells.  A flock(2) lock is not asked about: the only question flock(2)
 * answers is "may I have it", and taking it for a moment could turn away
 * another process that tries it just then.  Nor is a borrowed descriptor,
 * which has no path to look at.
 */
static void
look_at_holder(struct waitline *w)
{
	const struct dlock_owner *o;
	struct dlock_options opts = w->cli->lock;
	struct dlock_status st;
	char since[48], child[32];

	snprintf(w->holder, sizeof(w->holder), "held by another process");
	opts.method = dlock_method(w->lk);
	opts.flags = 0;
	if (w->cli->path == NULL || opts.method == DLOCK_FLOCK ||
	    dlock_status(w->cli->path, &opts, &st) < 0 ||
	    st.state == DLOCK_FREE || !st.has_owner || st.owner.pid <= 0)
		return;
	o = &st.owner;
	since[0] = child[0] = '\0';
	if (o->time > 0)
		format_since(since, sizeof(since), o->time);
	if (o->child > 0)
		snprintf(child, sizeof(child), " (command pid %d)",
		    (int)o->child);
	snprintf(w->holder, sizeof(w->holder), "held by pid %d%s%s%s%s%s",
	    (int)o->pid, o->host[0] != '\0' ? " on " : "", o->host, child,
	    since, st.state == DLOCK_DEAD ? ", stale" : "");
}

/* Terminal control characters from a path or a host name stay inert. */
static void
make_printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			*s = '?';
}

static size_t
terminal_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		return ws.ws_col;
	return 80;
}

/* One line, never wrapped: a wrapped line could not be redrawn in place. */
static void
draw(struct waitline *w, double waited)
{
	char line[640], what[256], spent[32], left[32], out[sizeof(line) + 8];
	const struct cli *cli = w->cli;
	size_t max, len;
	int n;

	if (!may_draw())
		return;
	if (w->looked_at < 0 || waited - w->looked_at >= LOOK_EVERY) {
		look_at_holder(w);
		w->looked_at = waited;
	}
	if (cli->path != NULL)
		snprintf(what, sizeof(what), "%s", cli->path);
	else
		snprintf(what, sizeof(what), "descriptor %d", cli->fd);
	format_duration(spent, sizeof(spent), waited);
	if (cli->timeout < 0)
		snprintf(left, sizeof(left), "no timeout");
	else
		format_duration(left, sizeof(left), cli->timeout - waited + 0.999);
	snprintf(line, sizeof(line), "dlock: waiting for %s, %s; waited %s, %s%s",
	    what, w->holder, spent, left, cli->timeout < 0 ? "" : " left");
	make_printable(line);

	/* Cut to the terminal's width, between characters, not inside one. */
	max = terminal_width() - 1;
	len = strlen(line);
	if (len > max) {
		len = max;
		while (len > 0 && ((unsigned char)line[len] & 0xc0) == 0x80)
			len--;
	}
	n = snprintf(out, sizeof(out), "\r%.*s\033[K", (int)len, line);
	if (n > 0)
		(void)!write(STDERR_FILENO, out, (size_t)n);
	w->drawn = 1;
}

static void
erase(struct waitline *w)
{
	if (w->drawn)
		(void)!write(STDERR_FILENO, "\r\033[K", 4);
	w->drawn = 0;
}

/*
 * Takes the lock as dlock_lock(lk, cli->operation, cli->timeout) does,
 * answering the same, and while it waits with stderr on a terminal keeps
 * the status line up to date.  The line is gone when this returns.
 */
int
lock_showing_wait(const struct cli *cli, dlock_t *lk)
{
	struct waitline w = { .cli = cli, .lk = lk, .looked_at = -1 };
	double waited, slice;
	int rc, err;

	if (cli->timeout == 0 || !isatty(STDERR_FILENO))
		return dlock_lock(lk, cli->operation, cli->timeout);
	clock_gettime(CLOCK_MONOTONIC, &w.start);
	rc = dlock_lock(lk, cli->operation | LOCK_NB, 0);
	if (rc == 0 || errno != EWOULDBLOCK)
		return rc;
	for (;;) {
		waited = seconds_since(&w.start);
		if (cli->timeout > 0 && waited >= cli->timeout) {
			errno = ETIMEDOUT;
			rc = -1;
			break;
		}
		draw(&w, waited);
		slice = REDRAW_EVERY;
		if (cli->timeout > 0 && cli->timeout - waited < slice)
			slice = cli->timeout - waited;
		rc = dlock_lock(lk, cli->operation, slice);
		if (rc == 0 || (errno != ETIMEDOUT && errno != EWOULDBLOCK))
			break;
	}
	err = errno;
	erase(&w);
	errno = err;
	return rc;
}
