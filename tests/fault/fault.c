/* SPDX-License-Identifier: ISC */
/*
 * fault hang|enolck COMMAND [ARG]...: runs COMMAND with its kernel lock
 * calls (flock(2), and fcntl(2) F_SETLK, F_SETLKW, F_OFD_SETLK and
 * F_OFD_SETLKW) made to misbehave by a seccomp filter, which works for a
 * static program as well as a dynamic one:
 *
 *   hang    the calls never return, as on a hard NFS mount whose server
 *           has stopped answering: each is handed to a listener that never
 *           answers, so that only the end of the process ends it;
 *   enolck  the calls fail with ENOLCK, as on an NFS mount whose server
 *           has no lock manager, with every other call left alone.
 *
 * Exits with COMMAND's status (128 + the signal that ended it), 127 if it
 * cannot be run, 70 if the filter cannot be set.  With hang, COMMAND is
 * SIGKILLed if fault dies first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#define THIS_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define THIS_ARCH AUDIT_ARCH_AARCH64
#else
#error "fault: no seccomp architecture for this machine"
#endif

#ifndef F_OFD_SETLK
#define F_OFD_SETLK 37
#define F_OFD_SETLKW 38
#endif

#define ARG1 offsetof(struct seccomp_data, args[1])
#define NR offsetof(struct seccomp_data, nr)
#define ARCH offsetof(struct seccomp_data, arch)

static int
set_filter(unsigned int action, unsigned int flags)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARCH),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, THIS_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_flock, 7, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fcntl, 0, 7),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG1),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_SETLK, 4, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_SETLKW, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_OFD_SETLK, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_OFD_SETLKW, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof(code) / sizeof(code[0]),
		.filter = code,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static int
status_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int
main(int argc, char **argv)
{
	int listener, status;
	pid_t pid;

	if (argc < 3 || (strcmp(argv[1], "hang") != 0 &&
	    strcmp(argv[1], "enolck") != 0)) {
		fprintf(stderr, "usage: fault hang|enolck COMMAND [ARG]...\n");
		return 64;
	}
	if (strcmp(argv[1], "enolck") == 0) {
		if (set_filter(SECCOMP_RET_ERRNO | ENOLCK, 0) < 0) {
			perror("fault: seccomp");
			return 70;
		}
		execvp(argv[2], argv + 2);
		fprintf(stderr, "fault: %s: %s\n", argv[2], strerror(errno));
		return 127;
	}

	/*
	 * hang: the filter hands the calls to its listener, which we keep
	 * open and never read, so a call waits for an answer until its
	 * caller dies.  A signal that is not fatal only has it made again.
	 * We make none of the calls ourselves.
	 */
	listener = set_filter(SECCOMP_RET_USER_NOTIF,
	    SECCOMP_FILTER_FLAG_NEW_LISTENER);
	if (listener < 0) {
		perror("fault: seccomp");
		return 70;
	}
	pid = fork();
	if (pid < 0) {
		perror("fault: fork");
		return 70;
	}
	if (pid == 0) {
		/* The command dies with us: nothing else would end it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		close(listener);
		execvp(argv[2], argv + 2);
		fprintf(stderr, "fault: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 70;
	return status_of(status);
}
