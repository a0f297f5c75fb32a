/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

/*
 * Running the command under the lock.  The wrapper stays until the command
 * has exited, so the lock is held exactly as long as the command runs, and
 * the signals that usually mean "stop" reach the command instead of only
 * killing the wrapper (which would free the lock under a running command).
 * Before there is a command, such a signal ends the wait for the lock; the
 * library then cleans up, and dlock dies of the signal.
 */

extern char **environ;

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NFORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t pending_signal;
static sigset_t handled;

static void
on_signal(int sig, siginfo_t *info, void *context)
{
	(void)context;
	if (child_pid <= 0) {
		pending_signal = sig;
		return;
	}
	/* A signal from the terminal went to the command's process group
	 * as well; sending it again would deliver it twice. */
	if (info != NULL && info->si_code == SI_KERNEL)
		return;
	kill(child_pid, sig);
}

/*
 * Catches the signals to forward, except those the caller ignores (nohup,
 * a cron daemon): those stay ignored, by us and by the command.  No
 * SA_RESTART: a wait for the lock must end when one arrives.
 */
void
catch_signals(void)
{
	struct sigaction sa, old;
	size_t i;

	sigemptyset(&handled);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < NFORWARDED; i++) {
		if (sigaction(forwarded[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		if (sigaction(forwarded[i], &sa, NULL) == 0)
			sigaddset(&handled, forwarded[i]);
	}
}

int
caught_signal(void)
{
	return pending_signal;
}

/* Ends dlock as the caught signal would have, had it not been caught. */
void
die_of_caught_signal(void)
{
	int sig = pending_signal;
	sigset_t set;

	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	/* Reached only if the signal could not end us after all. */
	// cppcheck-suppress unreachableCode
	_exit(128 + sig);
}

static int
exec_failure_status(const char *name, int err)
{
	if (err == ENOENT || err == ENOTDIR) {
		warnx("%s: command not found", name);
		return EXIT_NOT_FOUND;
	}
	warnx("cannot execute %s: %s", name, strerror(err));
	return err == ENOMEM || err == EAGAIN ? EXIT_OSERR : EXIT_CANNOT_EXEC;
}

/* -F: the command takes the wrapper's place and holds the lock itself. */
__attribute__((noreturn)) static void
exec_in_place(struct cli *cli)
{
	say_verbose(cli, "executing %s", cli->argv[0]);
	say_like_flock(cli, stdout, "executing %s", cli->argv[0]);
	execvp(cli->argv[0], cli->argv);
	_exit(exec_failure_status(cli->argv[0], errno));
}

/* How starting the command went. */
enum started {
	STARTED,
	START_FAILED,		/* *err says why: an errno of fork or exec */
	START_SIGNALLED,	/* a signal came first, and dlock dies of it */
	START_LOCK_LOST		/* the lock was broken before the command ran */
};

static enum started
spawn(struct cli *cli, pid_t *pid, int *err)
{
	posix_spawn_file_actions_t actions, *use_actions = NULL;
	posix_spawnattr_t attr;
	sigset_t blocked, saved;
	int rc;

	/* A descriptor given to lock is the caller's, not close-on-exec:
	 * -o closes it in the command. */
	if (cli->path == NULL && cli->close_fd) {
		rc = posix_spawn_file_actions_init(&actions);
		if (rc == 0 && (rc = posix_spawn_file_actions_addclose(&actions,
		    cli->fd)) != 0)
			posix_spawn_file_actions_destroy(&actions);
		if (rc != 0) {
			*err = rc;
			return START_FAILED;
		}
		use_actions = &actions;
	}

	sigemptyset(&blocked);
	for (size_t i = 0; i < NFORWARDED; i++)
		sigaddset(&blocked, forwarded[i]);
	/* Held back until child_pid is set, so none can be lost. */
	sigprocmask(SIG_BLOCK, &blocked, &saved);
	if (pending_signal) {
		sigprocmask(SIG_SETMASK, &saved, NULL);
		if (use_actions != NULL)
			posix_spawn_file_actions_destroy(use_actions);
		return START_SIGNALLED;
	}
	rc = posix_spawnattr_init(&attr);
	if (rc == 0) {
		posix_spawnattr_setsigmask(&attr, &saved);
		posix_spawnattr_setsigdefault(&attr, &handled);
		posix_spawnattr_setflags(&attr,
		    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
		rc = posix_spawnp(pid, cli->argv[0], use_actions, &attr,
		    cli->argv, environ);
		posix_spawnattr_destroy(&attr);
	}
	if (use_actions != NULL)
		posix_spawn_file_actions_destroy(use_actions);
	if (rc == 0)
		child_pid = *pid;
	sigprocmask(SIG_SETMASK, &saved, NULL);
	*err = rc;
	return rc == 0 ? STARTED : START_FAILED;
}

static int
holds_by_name(dlock_t *lk)
{
	return dlock_method(lk) == DLOCK_LOCKFILE ||
	    dlock_method(lk) == DLOCK_MKDIR;
}

__attribute__((noreturn)) static void
run_at_gate(struct cli *cli, int gate, int report, const sigset_t *mask)
{
	char go;
	int sig, err;

	for (sig = 1; sig < NSIG; sig++)
		if (sigismember(&handled, sig) == 1)
			signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	/* End of file: the wrapper died before the record named us. */
	while (read(gate, &go, 1) != 1)
		if (errno != EINTR)
			_exit(EXIT_OSERR);
	execvp(cli->argv[0], cli->argv);
	err = errno;
	(void)!write(report, &err, sizeof(err));
	_exit(EXIT_CANNOT_EXEC);
}

/* A child forked ahead of its command, waiting at a gate. */
struct gated {
	pid_t pid;		/* -1: none */
	int gate;		/* write end: a byte opens the gate */
	int report;		/* read end: errno of a failed exec */
};

static struct gated early = { .pid = -1, .gate = -1, .report = -1 };

/*
 * Forks the child that will run the command, held at a gate.  Forwarded
 * signals go to the wrapper alone until the gate opens: before that, one
 * ends the wrapper, whose death closes the gate and so ends the child.
 */
static enum started
fork_at_gate(struct cli *cli, struct gated *g, int *err)
{
	int gate[2], report[2];
	sigset_t blocked, saved;

	if (pipe2(gate, O_CLOEXEC) < 0) {
		*err = errno;
		return START_FAILED;
	}
	if (pipe2(report, O_CLOEXEC) < 0) {
		*err = errno;
		close(gate[0]);
		close(gate[1]);
		return START_FAILED;
	}
	sigemptyset(&blocked);
	for (size_t i = 0; i < NFORWARDED; i++)
		sigaddset(&blocked, forwarded[i]);
	sigprocmask(SIG_BLOCK, &blocked, &saved);
	g->pid = pending_signal ? -1 : fork();
	if (g->pid == 0) {
		/* Only the wrapper may hold the gate open, or the child
		 * would never see it close. */
		close(gate[1]);
		close(report[0]);
		run_at_gate(cli, gate[0], report[1], &saved);
	}
	*err = g->pid < 0 && !pending_signal ? errno : 0;
	sigprocmask(SIG_SETMASK, &saved, NULL);
	close(gate[0]);
	close(report[1]);
	if (g->pid < 0) {
		close(gate[1]);
		close(report[0]);
		return *err != 0 ? START_FAILED : START_SIGNALLED;
	}
	g->gate = gate[1];
	g->report = report[0];
	return STARTED;
}

static void
reap(pid_t pid)
{
	int wstatus;

	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
}

/* Closes the gate: the child ends without running the command. */
static void
abandon_gate(struct gated *g)
{
	close(g->gate);
	close(g->report);
	reap(g->pid);
	g->pid = -1;
}

/*
 * Lets the child run the command (*pid).  A child that died at the gate
 * (a signal sent to it alone) never ran the command: START_FAILED with
 * EINTR.
 */
static enum started
open_gate(struct gated *g, pid_t *pid, int *err)
{
	sigset_t blocked, saved;
	struct timespec none = { 0, 0 };
	ssize_t n;
	int wrote;

	sigemptyset(&blocked);
	sigaddset(&blocked, SIGPIPE);
	for (size_t i = 0; i < NFORWARDED; i++)
		sigaddset(&blocked, forwarded[i]);
	/* Held back until child_pid is set, so none can be lost. */
	sigprocmask(SIG_BLOCK, &blocked, &saved);
	if (pending_signal) {
		sigprocmask(SIG_SETMASK, &saved, NULL);
		abandon_gate(g);
		return START_SIGNALLED;
	}
	child_pid = g->pid;
	wrote = write(g->gate, "", 1) == 1;
	if (!wrote) {
		sigemptyset(&blocked);
		sigaddset(&blocked, SIGPIPE);
		(void)sigtimedwait(&blocked, NULL, &none);
	}
	sigprocmask(SIG_SETMASK, &saved, NULL);
	close(g->gate);
	*err = wrote ? 0 : EINTR;
	while ((n = read(g->report, err, sizeof(*err))) < 0 && errno == EINTR)
		;
	close(g->report);
	*pid = g->pid;
	g->pid = -1;
	if (n == (ssize_t)sizeof(*err) || !wrote) {
		reap(*pid);
		return START_FAILED;
	}
	return STARTED;
}

/*
 * For a lock held by a name, the record must name the command before the
 * command runs: a wrapper killed in between would leave a record of a dead
 * process while its command runs on, and a waiter would get in beside it.
 * So the child is forked first and waits at a gate, and the lock is
 * published with a record that names it already (posix_spawn, used for
 * kernel locks, has no way to make it wait).  Called before the lock is
 * taken; a method known only once the lock is taken (auto falling back to
 * a lockfile) is handled by spawn_gated() instead.  Returns 0, an errno,
 * or -1 when a signal came first.
 */
int
prepare_command(struct cli *cli, dlock_t *lk)
{
	enum started started;
	int err;

	/* Which slot is taken is known only once it is, and the command
	 * must find it in its environment: its child is forked then. */
	if (cli->no_fork || !holds_by_name(lk) || cli->lock.slots > 0)
		return 0;
	started = fork_at_gate(cli, &early, &err);
	if (started == START_SIGNALLED)
		return -1;
	if (started == START_FAILED)
		return err;
	if (dlock_set_child(lk, early.pid) < 0) {
		err = errno;
		abandon_gate(&early);
		return err;
	}
	return 0;
}

/* Ends a child forked by prepare_command() whose lock was not taken. */
void
forget_command(void)
{
	if (early.pid > 0)
		abandon_gate(&early);
}

static enum started
spawn_gated(struct cli *cli, dlock_t *lk, pid_t *pid, int *err)
{
	struct gated g;
	enum started started;

	if (early.pid > 0)
		return open_gate(&early, pid, err);
	started = fork_at_gate(cli, &g, err);
	if (started != STARTED)
		return started;
	if (dlock_set_child(lk, g.pid) < 0) {
		*err = errno;
		warnx("recording the command in lock '%s': %s", cli->path,
		    lock_error_text(*err));
		/* Without the lock, the command must not run at all. */
		if (*err == DLOCK_ELOST) {
			abandon_gate(&g);
			return START_LOCK_LOST;
		}
	}
	return open_gate(&g, pid, err);
}

static int
status_of(int wstatus)
{
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return WEXITSTATUS(wstatus);
}

static int
pidfd_of(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * Waits for the command, refreshing the lock's lease every period seconds
 * (0: never).  *lost is set when a refresh finds the lock broken.
 */
static int
wait_for(pid_t pid, dlock_t *lk, double period, int *lost)
{
	int pidfd = period > 0 ? pidfd_of(pid) : -1, wstatus;

	while (pidfd >= 0) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
		int n = poll(&pfd, 1, (int)(period * 1000));

		if (n > 0)
			break;
		if (n == 0 && !*lost && dlock_heartbeat(lk) < 0) {
			*lost = errno == DLOCK_ELOST;
			warnx("refreshing lock '%s': %s", dlock_path(lk),
			    lock_error_text(errno));
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	while (waitpid(pid, &wstatus, 0) < 0) {
		if (errno != EINTR) {
			warn("waiting for the command (pid %d)", (int)pid);
			return EXIT_OSERR;
		}
	}
	return status_of(wstatus);
}

static double
heartbeat_period(const struct cli *cli, dlock_t *lk)
{
	int m = dlock_method(lk);

	if (m != DLOCK_LOCKFILE && m != DLOCK_MKDIR)
		return 0;
	if (cli->heartbeat > 0)
		return cli->heartbeat;
	return (cli->lock.stale > 0 ? cli->lock.stale : DLOCK_STALE_DEFAULT) / 3;
}

int
run_command(struct cli *cli, dlock_t *lk)
{
	enum started started;
	pid_t pid = -1;
	int err = 0, status, lost = 0;

	if (dlock_slot(lk) > 0) {
		char slot[16];

		snprintf(slot, sizeof(slot), "%d", dlock_slot(lk));
		if (setenv("DLOCK_SLOT", slot, 1) < 0) {
			warn("setting DLOCK_SLOT");
			dlock_close(lk);
			return EXIT_OSERR;
		}
	}
	if (cli->no_fork)
		exec_in_place(cli);
	say_like_flock(cli, stdout, "executing %s", cli->argv[0]);
	started = holds_by_name(lk) ? spawn_gated(cli, lk, &pid, &err) :
	    spawn(cli, &pid, &err);
	if (started == START_SIGNALLED) {
		dlock_close(lk);
		die_of_caught_signal();
	}
	if (started == START_LOCK_LOST) {
		dlock_close(lk);
		return EXIT_OSERR;
	}
	if (started == START_FAILED) {
		status = exec_failure_status(cli->argv[0], err);
		dlock_close(lk);
		return status;
	}
	say_verbose(cli, "running %s (pid %d)", cli->argv[0], (int)pid);
	status = wait_for(pid, lk, heartbeat_period(cli, lk), &lost);
	say_verbose(cli, "%s exited with status %d; releasing %s",
	    cli->argv[0], status, lock_name(cli));
	if (dlock_close(lk) < 0 || lost) {
		warnx("releasing lock '%s': %s", lock_name(cli),
		    lock_error_text(lost ? DLOCK_ELOST : errno));
		if (status == 0)
			status = EXIT_OSERR;
	}
	return status;
}
