/* SPDX-License-Identifier: ISC */
#ifndef DLOCK_CLI_H
#define DLOCK_CLI_H

/* Shared by the parts of the dlock command; not part of the library. */

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "dlock.h"

/* Exit statuses, as sysexits(3) and flock(1) use them. */
#define EXIT_USAGE	64
#define EXIT_DATAERR	65	/* flock(1): a descriptor it cannot lock */
#define EXIT_NOINPUT	66
#define EXIT_UNAVAILABLE 69
#define EXIT_OSERR	71
#define EXIT_CANTCREAT	73
#define EXIT_FENCED	3	/* dlock fence: a newer token was seen */
#define EXIT_NOPERM	77
#define EXIT_TIMED_OUT	124	/* --max-time, as timeout(1) */
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
	int print_token;	/* --print-token */
	double heartbeat;	/* seconds between lease refreshes; 0: stale/3 */
	int on_lost;		/* ON_LOST_*: what a lost lock does */
	double kill_after;	/* seconds from SIGTERM to SIGKILL */
	double max_time;	/* seconds the command may run; 0: no limit */
	struct dlock_options lock;
	const char *path;	/* NULL in the descriptor form */
	int fd;			/* -1 unless the descriptor form */
	char *command;		/* -c before the operands (with --fd) */
	char **argv;		/* the command; NULL if none */
};

/* --on-lost: what happens to a command whose lock is lost. */
enum { ON_LOST_TERM, ON_LOST_KILL, ON_LOST_IGNORE };
#define KILL_AFTER_DEFAULT	5.0

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

/* policy.c: ending the command when its lock is lost or its time is up */
struct policy {
	const struct cli *cli;
	pid_t target;		/* what signals go to: -pgid, or the pid */
	struct timespec end_at;	/* --max-time, CLOCK_BOOTTIME */
	struct timespec kill_at;	/* SIGKILL, once SIGTERM is sent */
	int signalled;		/* 0, SIGTERM or SIGKILL: the last sent */
	int lost;		/* the lock was found lost */
	int timed_out;		/* --max-time is over */
	int outcome;		/* 0, or the status of the first of those:
				   EXIT_OSERR or EXIT_TIMED_OUT */
};
void policy_start(struct policy *p, const struct cli *cli, pid_t target);
int policy_timeout_ms(const struct policy *p, const struct timespec *lease_end);
void policy_check_time(struct policy *p);
void policy_lost(struct policy *p, const char *what);
double lease_safe_for(const struct cli *cli);
double boottime_since(const struct timespec *t0);
void deadline_in(struct timespec *t, double secs);
void deadline_after(struct timespec *t, const struct timespec *from,
    double secs);
void describe_silence(char *text, size_t size, double silent, int last_err);

/* supervise.c: waiting for the command, ending it by the policy */
int supervise(struct cli *cli, dlock_t *lk, pid_t pid, pid_t target,
    double period, int *outcome);

/* keeper.c: the process that keeps a lock held by a name alive */
struct keeper {
	pid_t pid;		/* -1: none */
	int from;		/* reports from the keeper, non-blocking */
	int alive;		/* held open for as long as the wrapper lives */
	int64_t *refreshed;	/* shared: CLOCK_BOOTTIME ns, just before the
				   last refresh that got through was asked */
};
/* What the keeper tells the wrapper, besides each refresh. */
struct keeper_report {
	int what;		/* KEEPER_* */
	int err;		/* KEEPER_FAILED: errno of the refresh */
	char text[240];		/* KEEPER_LOST: what the keeper saw */
};
enum { KEEPER_FAILED = 1, KEEPER_LOST };
int keeper_start(const struct cli *cli, dlock_t *lk, double period, int pidfd,
    pid_t target, struct keeper *k);
void keeper_refreshed(const struct keeper *k, struct timespec *at);
void keeper_stop(struct keeper *k);

/* guard.c: giving up on a call that does not return, past -w's deadline */
void guard_start(const struct cli *cli);
void guard_stop(void);

/* subcommands.c: dlock status|break|probe|fence */
int is_subcommand(const char *word);
int run_subcommand(int argc, char **argv);

/* The subcommands' usage; an error in their command line, and exit 64. */
void sub_usage(FILE *to);
__attribute__((noreturn, format(printf, 1, 2))) void
sub_usage_error(const char *fmt, ...);

/* fence.c: dlock fence */
int run_fence(int argc, char **argv);

/* report.c */
void say_timed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
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
/* Seconds on CLOCK_MONOTONIC since t0; seconds on clock since t0. */
double seconds_since(const struct timespec *t0);
double seconds_on(clockid_t clock, const struct timespec *t0);

#endif /* DLOCK_CLI_H */
