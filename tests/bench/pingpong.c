/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlock.h"
#include "bench.h"

/*
 * pingpong: two processes, one on each of two hosts, take one lock in
 * strict turns.  Each holds the lock only to read a counter in a file on
 * the same filesystem and, when the count says it is its turn (even for
 * turn 0, odd for turn 1), to add one; so every increment but the first
 * needs the lock to pass from one host to the other, and the time per
 * increment is the time a lock takes to cross between the hosts (with
 * the counter's read and write, which the lock must make coherent).  An
 * acquisition out of turn is counted as a spin.  No clock is shared:
 * each process times itself.
 */

#define USAGE "usage: pingpong -m method -n rounds [-w timeout] LOCK COUNTER 0|1\n"

static long
read_counter(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		err(2, "reading the counter");
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

static void
write_counter(int fd, long v)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", v);

	if (pwrite(fd, buf, (size_t)n, 0) != n)
		err(2, "writing the counter");
}

int
main(int argc, char **argv)
{
	struct dlock_options opts;
	long rounds = 0, mine = 0, spins = 0, v;
	double timeout = 60;
	uint64_t t0 = 0, t1;
	int c, fd, turn;
	dlock_t *lk;

	dlock_options_init(&opts);
	while ((c = getopt(argc, argv, "m:n:w:")) != -1) {
		switch (c) {
		case 'm':
			opts.method = dlock_method_from_name(optarg);
			if (opts.method < 0)
				errx(64, "unknown method '%s'", optarg);
			break;
		case 'n':
			rounds = strtol(optarg, NULL, 10);
			break;
		case 'w':
			timeout = strtod(optarg, NULL);
			break;
		default:
			fputs(USAGE, stderr);
			return 64;
		}
	}
	if (argc - optind != 3 || rounds <= 0) {
		fputs(USAGE, stderr);
		return 64;
	}
	turn = argv[optind + 2][0] == '1';
	lk = dlock_open(argv[optind], &opts);
	if (lk == NULL)
		err(2, "dlock_open %s", argv[optind]);
	while (mine < rounds) {
		if (dlock_lock(lk, LOCK_EX, timeout) < 0)
			err(2, "dlock_lock %s", argv[optind]);
		/* Opened under the lock, closed before the release: what
		 * close-to-open consistency needs for the name methods. */
		fd = open(argv[optind + 1], O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			err(2, "%s", argv[optind + 1]);
		v = read_counter(fd);
		if (v % 2 == turn) {
			write_counter(fd, v + 1);
			if (t0 == 0)
				t0 = now_ns();
			mine++;
		} else {
			spins++;
		}
		if (close(fd) < 0)
			err(2, "closing the counter");
		if (dlock_unlock(lk) < 0)
			err(2, "dlock_unlock %s", argv[optind]);
	}
	t1 = now_ns();
	dlock_close(lk);
	/* From this process's first increment to its last, the other made
	 * as many: 2 * (rounds - 1) crossings. */
	printf("rounds=%ld spins=%ld seconds=%.6f per_crossing_us=%.1f\n",
	    rounds, spins, (double)(t1 - t0) / 1e9,
	    rounds > 1 ? (double)(t1 - t0) / 1e3 / (double)(2 * (rounds - 1)) : 0.0);
	return 0;
}
