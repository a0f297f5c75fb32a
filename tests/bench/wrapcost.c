/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/*
 * wrapcost: the wall time of whole commands, interleaved: every round
 * runs each command once, in a rotating order, so that a noisy second
 * slows all of them alike (hyperfine runs one command's runs back to
 * back).  Output goes to /dev/null, as with hyperfine -N.
 *
 *   wrapcost [-r runs] [-w warmup] cmd arg... \; cmd arg... \; ...
 *
 * One line per command: median, mean and minimum in milliseconds, tab
 * separated, then the command.
 */

#define MAXCMDS 16

static double
run_once(char **argv, posix_spawn_file_actions_t *fa)
{
	uint64_t t0 = now_ns();
	pid_t pid;
	int rc, status;

	rc = posix_spawnp(&pid, argv[0], fa, NULL, argv, environ);
	if (rc != 0)
		errx(2, "%s: %s", argv[0], strerror(rc));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			err(2, "waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		errx(1, "%s failed (status %d)", argv[0], status);
	return (double)(now_ns() - t0) / 1e6;
}

int
main(int argc, char **argv)
{
	char **cmds[MAXCMDS];
	double *times[MAXCMDS], sum, min;
	posix_spawn_file_actions_t fa;
	int runs = 300, warmup = 20, ncmds = 0, c, i, r, k;

	while ((c = getopt(argc, argv, "+r:w:")) != -1) {
		switch (c) {
		case 'r':
			runs = atoi(optarg);
			break;
		case 'w':
			warmup = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (runs < 1 || warmup < 0 || optind >= argc)
		errx(2, "usage: wrapcost [-r runs] [-w warmup] cmd... [; cmd...]");
	for (i = optind; i < argc && ncmds < MAXCMDS; ) {
		cmds[ncmds++] = argv + i;
		while (i < argc && strcmp(argv[i], ";") != 0)
			i++;
		if (i < argc)
			argv[i++] = NULL;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	for (k = 0; k < ncmds; k++) {
		times[k] = calloc((size_t)runs, sizeof(double));
		if (times[k] == NULL)
			err(2, "calloc");
	}
	for (r = -warmup; r < runs; r++) {
		for (i = 0; i < ncmds; i++) {
			k = (i + (r < 0 ? -r : r)) % ncmds;
			double t = run_once(cmds[k], &fa);

			if (r >= 0)
				times[k][r] = t;
		}
	}
	for (k = 0; k < ncmds; k++) {
		sum = 0;
		min = times[k][0];
		for (r = 0; r < runs; r++) {
			sum += times[k][r];
			if (times[k][r] < min)
				min = times[k][r];
		}
		printf("%.4f\t%.4f\t%.4f\t", median_double(times[k],
		    (size_t)runs), sum / runs, min);
		for (i = 0; cmds[k][i] != NULL; i++)
			printf("%s%s", i ? " " : "", cmds[k][i]);
		putchar('\n');
	}
	return 0;
}
