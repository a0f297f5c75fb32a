/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

/*
 * Running the command under the lock.  The wrapper stays until the command
 * has exited, so the lock is held exactly as long as the command runs, and
 * the signals that usually mean "stop" reach the command instead of only
 * killing the wrapper (which would free the lock under a running command).
 */

extern char **environ;

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NFORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

static volatile sig_atomic_t child_pid;

static void
forward_signal(int sig, siginfo_t *info, void *context)
{
	(void)context;
	/* A signal from the terminal went to the command's process group
	 * as well; sending it again would deliver it twice. */
	if (info != NULL && info->si_code == SI_KERNEL)
		return;
	if (child_pid > 0)
		kill(child_pid, sig);
}

/*
 * Handlers for the signals to forward, except those the caller ignores
 * (nohup, a cron daemon): those stay ignored, by us and by the command.
 * Returns the set of signals the command must see at their default.
 */
static void
install_forwarding(sigset_t *handled)
{
	struct sigaction sa, old;
	size_t i;

	sigemptyset(handled);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < NFORWARDED; i++) {
		if (sigaction(forwarded[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		if (sigaction(forwarded[i], &sa, NULL) == 0)
			sigaddset(handled, forwarded[i]);
	}
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
	execvp(cli->argv[0], cli->argv);
	_exit(exec_failure_status(cli->argv[0], errno));
}

static int
spawn(struct cli *cli, pid_t *pid)
{
	posix_spawnattr_t attr;
	sigset_t handled, blocked, saved;
	int rc;

	install_forwarding(&handled);
	sigemptyset(&blocked);
	for (size_t i = 0; i < NFORWARDED; i++)
		sigaddset(&blocked, forwarded[i]);
	/* Held back until child_pid is set, so none can be lost. */
	sigprocmask(SIG_BLOCK, &blocked, &saved);

	rc = posix_spawnattr_init(&attr);
	if (rc == 0) {
		posix_spawnattr_setsigmask(&attr, &saved);
		posix_spawnattr_setsigdefault(&attr, &handled);
		posix_spawnattr_setflags(&attr,
		    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
		rc = posix_spawnp(pid, cli->argv[0], NULL, &attr, cli->argv,
		    environ);
		posix_spawnattr_destroy(&attr);
	}
	if (rc == 0)
		child_pid = *pid;
	sigprocmask(SIG_SETMASK, &saved, NULL);
	return rc;
}

static int
wait_for(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			warn("waiting for the command (pid %d)", (int)pid);
			return EXIT_OSERR;
		}
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int
run_command(struct cli *cli, dlock_t *lk)
{
	pid_t pid;
	int rc, status;

	if (cli->no_fork)
		exec_in_place(cli);
	rc = spawn(cli, &pid);
	if (rc != 0) {
		status = exec_failure_status(cli->argv[0], rc);
		dlock_close(lk);
		return status;
	}
	say_verbose(cli, "running %s (pid %d)", cli->argv[0], (int)pid);
	status = wait_for(pid);
	say_verbose(cli, "%s exited with status %d; releasing %s",
	    cli->argv[0], status, cli->path);
	if (dlock_close(lk) < 0) {
		warn("releasing lock '%s'", cli->path);
		if (status == 0)
			status = EXIT_OSERR;
	}
	return status;
}
