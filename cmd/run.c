/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
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

/* Returns 0, an errno of posix_spawn, or -1 when a signal came first. */
static int
spawn(struct cli *cli, pid_t *pid)
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
		if (rc != 0)
			return rc;
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
		return -1;
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
	return rc;
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

/*
 * For a lock held by a name, the record must name the command before the
 * command runs: a wrapper killed in between would leave a record of a dead
 * process while its command runs on, and a waiter would get in beside it.
 * So the child waits at a gate until the record names it.  (posix_spawn,
 * used for kernel locks, has no way to make it wait.)  Returns as spawn().
 */
static int
spawn_gated(struct cli *cli, dlock_t *lk, pid_t *pid)
{
	int gate[2], report[2], err, wstatus;
	sigset_t blocked, saved;
	ssize_t n;

	if (pipe2(gate, O_CLOEXEC) < 0)
		return errno;
	if (pipe2(report, O_CLOEXEC) < 0) {
		err = errno;
		close(gate[0]);
		close(gate[1]);
		return err;
	}
	sigemptyset(&blocked);
	for (size_t i = 0; i < NFORWARDED; i++)
		sigaddset(&blocked, forwarded[i]);
	sigprocmask(SIG_BLOCK, &blocked, &saved);
	*pid = pending_signal ? -1 : fork();
	if (*pid == 0) {
		/* Only the wrapper may hold the gate open, or the child
		 * would never see it close. */
		close(gate[1]);
		close(report[0]);
		run_at_gate(cli, gate[0], report[1], &saved);
	}
	err = *pid < 0 && !pending_signal ? errno : 0;
	if (*pid > 0)
		child_pid = *pid;
	sigprocmask(SIG_SETMASK, &saved, NULL);
	close(gate[0]);
	close(report[1]);
	if (*pid < 0) {
		close(gate[1]);
		close(report[0]);
		return err != 0 ? err : -1;
	}
	if (dlock_set_child(lk, *pid) < 0) {
		err = errno;
		warnx("recording the command in lock '%s': %s", cli->path,
		    lock_error_text(err));
		/* Without the lock, the command must not run at all. */
		if (err == DLOCK_ELOST) {
			close(gate[1]);
			close(report[0]);
			while (waitpid(*pid, &wstatus, 0) < 0 && errno == EINTR)
				;
			return -2;
		}
	}
	(void)!write(gate[1], "", 1);
	close(gate[1]);
	while ((n = read(report[0], &err, sizeof(err))) < 0 && errno == EINTR)
		;
	close(report[0]);
	if (n == (ssize_t)sizeof(err)) {
		while (waitpid(*pid, &wstatus, 0) < 0 && errno == EINTR)
			;
		return err;
	}
	return 0;
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
	pid_t pid = -1;
	int rc, status, lost = 0;

	if (cli->no_fork)
		exec_in_place(cli);
	say_like_flock(cli, stdout, "executing %s", cli->argv[0]);
	rc = holds_by_name(lk) ? spawn_gated(cli, lk, &pid) : spawn(cli, &pid);
	if (rc == -1) {
		dlock_close(lk);
		die_of_caught_signal();
	}
	if (rc == -2) {
		dlock_close(lk);
		return EXIT_OSERR;
	}
	if (rc != 0) {
		status = exec_failure_status(cli->argv[0], rc);
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
