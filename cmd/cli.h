/* SPDX-License-Identifier: ISC */
#ifndef DLOCK_CLI_H
#define DLOCK_CLI_H

/* Shared by the parts of the dlock command; not part of the library. */

#include <time.h>
#include <stdio.h>

#include "dlock.h"

/* Exit statuses, as sysexits(3) and flock(1) use them. */
#define EXIT_USAGE	64
#define EXIT_DATAERR	65	/* flock(1): a descriptor it cannot lock */
#define EXIT_NOINPUT	66
#define EXIT_UNAVAILABLE 69
#define EXIT_OSERR	71
#define EXIT_CANTCREAT	73
#define EXIT_NOPERM	77
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND	127

/* The methods -m takes besides auto, and the error for any other. */
#define METHODS_BESIDES_AUTO	"fcntl, flock, lockfile, mkdir"
#define UNKNOWN_METHOD		"unknown method '%s' (auto, " \
				METHODS_BESIDES_AUTO ")"

struct cli {
	int operation;		/* LOCK_SH, LOCK_EX or LOCK_UN */
	double timeout;		/* seconds; negative waits forever */
	int conflict_status;	/* -E */
	int close_fd;		/* -o */
	int no_fork;		/* -F */
	int verbose;		/* 0, VERBOSE_DLOCK or VERBOSE_FLOCK */
	double heartbeat;	/* seconds between lease refreshes; 0: stale/3 */
	struct dlock_options lock;
	const char *path;	/* NULL in the descriptor form */
	int fd;			/* -1 unless the descriptor form */
	char *command;		/* -c before the operands (with --fd) */
	char **argv;		/* the command; NULL if none */
};

/* --verbose: dlock's timestamped lines on stderr, or flock(1)'s own. */
#define VERBOSE_DLOCK	1
#define VERBOSE_FLOCK	2

/* run.c */
void catch_signals(void);
__attribute__((noreturn)) void die_of_caught_signal(void);
int caught_signal(void);
int prepare_command(struct cli *cli, dlock_t *lk);
void forget_command(void);
int run_command(struct cli *cli, dlock_t *lk);

/* subcommands.c: dlock status|break|probe */
int is_subcommand(const char *word);
int run_subcommand(int argc, char **argv);

/* report.c */
void say_verbose(const struct cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void say_like_flock(const struct cli *cli, FILE *to, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *lock_name(const struct cli *cli);
int exit_status_for_open(int err);
int exit_status_for_lock(int err);
void report_open_error(const struct cli *cli, int err);
void report_lock_error(const struct cli *cli, int err);
const char *lock_error_text(int err);
void report_no_permission(const char *what, const char *path,
    const struct dlock_options *opts);
void report_cannot_create(const char *path);

/* waitline.c: dlock_lock(), with a status line while waiting on a terminal */
int lock_showing_wait(const struct cli *cli, dlock_t *lk);
/* Seconds on CLOCK_MONOTONIC since t0. */
double seconds_since(const struct timespec *t0);

#endif /* DLOCK_CLI_H */
