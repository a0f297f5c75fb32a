/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * Enough for /proc/PID/stat: 52 fields of at most 20 digits and a command
 * name of at most 64 bytes.
 */
#define STAT_MAX	4096
#define START_FIELD	22
#define NONCE_BYTES	(DLOCK_NONCE_LEN / 2)

/*
 * The command name in parentheses, field 2, may itself hold spaces and ')',
 * so the fields are counted from the last ')' of the line.
 */
static int parse_stat_start(const char *buf, size_t len, uint64_t *start)
{
	const char *end = buf + len;
	const char *p = memrchr(buf, ')', len);
	const char *token = NULL;
	int field;

	if (p == NULL)
		goto malformed;
	p++;
	for (field = 3; field <= START_FIELD; field++) {
		if (p == end || *p != ' ')
			goto malformed;
		token = ++p;
		while (p < end && *p != ' ' && *p != '\n')
			p++;
	}
	if (parse_canonical_decimal(token, (size_t)(p - token), UINT64_MAX,
	    start) == 0)
		return 0;
malformed:
	errno = EIO;
	return -1;
}

static int stat_start_time(const char *path, uint64_t *start)
{
	char buf[STAT_MAX];
	ssize_t n = read_file(path, 0, buf, sizeof(buf));

	if (n == -1)
		return -1;
	return parse_stat_start(buf, (size_t)n, start);
}

int proc_start_time(pid_t pid, uint64_t *start)
{
	char path[32];

	if (pid < 1) {
		errno = EINVAL;
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (stat_start_time(path, start) == 0)
		return 0;
	/*
	 * A missing /proc entry alone does not prove death: hidepid= mounts
	 * hide other users' processes, and /proc may not be mounted at all.
	 * Callers break locks on ESRCH, so it is only given when kill() agrees.
	 */
	if (errno == ENOENT) {
		int gone = kill(pid, 0) == -1 && errno == ESRCH;

		errno = gone ? ESRCH : EACCES;
	}
	return -1;
}

int host_boot_id(char *buf, size_t size)
{
	char raw[DLOCK_BOOT_MAX + 2];
	ssize_t n = read_file("/proc/sys/kernel/random/boot_id", 0, raw,
	    sizeof(raw));
	ssize_t i;

	if (n == -1)
		return -1;
	if (n > 0 && raw[n - 1] == '\n')
		n--;
	if (n == 0 || n > DLOCK_BOOT_MAX) {
		errno = EIO;
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!((raw[i] >= '0' && raw[i] <= '9') ||
		    (raw[i] >= 'a' && raw[i] <= 'f') || raw[i] == '-')) {
			errno = EIO;
			return -1;
		}
	}
	if ((size_t)n >= size) {
		errno = ERANGE;
		return -1;
	}
	memcpy(buf, raw, (size_t)n);
	buf[n] = '\0';
	return 0;
}

int host_pidns(uint64_t *ino)
{
	struct stat st;

	if (stat("/proc/self/ns/pid", &st) == -1)
		return -1;
	*ino = (uint64_t)st.st_ino;
	return 0;
}

static int read_urandom(unsigned char *buf, size_t size)
{
	ssize_t n = read_file("/dev/urandom", 0, (char *)buf, size);

	if (n == -1)
		return -1;
	if ((size_t)n != size) {
		errno = EIO;
		return -1;
	}
	return 0;
}

static int random_bytes(unsigned char *buf, size_t size)
{
	size_t used = 0;

	while (used < size) {
		ssize_t n = getrandom(buf + used, size - used, 0);

		if (n == -1 && errno == EINTR)
			continue;
		/* Kernels before 3.17 and some seccomp filters lack it. */
		if (n == -1 && errno == ENOSYS)
			return read_urandom(buf + used, size - used);
		if (n == -1)
			return -1;
		used += (size_t)n;
	}
	return 0;
}

int record_nonce(char nonce[DLOCK_NONCE_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char bytes[NONCE_BYTES];
	size_t i;

	if (random_bytes(bytes, sizeof(bytes)) == -1)
		return -1;
	for (i = 0; i < sizeof(bytes); i++) {
		nonce[2 * i] = hex[bytes[i] >> 4];
		nonce[2 * i + 1] = hex[bytes[i] & 0x0f];
	}
	nonce[DLOCK_NONCE_LEN] = '\0';
	return 0;
}

int record_self(struct dlock_owner *o, const char *method, pid_t child)
{
	char line[DLOCK_RECORD_MAX + 1];
	struct utsname uts;
	size_t len;
	int m;

	memset(o, 0, sizeof(*o));
	m = dlock_method_from_name(method);
	if (child < 0 || (m != DLOCK_LOCKFILE && m != DLOCK_MKDIR)) {
		errno = EINVAL;
		return -1;
	}
	o->kind = DLOCK_RECORD_V1;
	memcpy(o->method, method, strlen(method) + 1);
	o->pid = getpid();
	o->child = child;
	if (uname(&uts) == -1)
		return -1;
	len = strlen(uts.nodename);
	if (len > DLOCK_HOST_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(o->host, uts.nodename, len + 1);
	/*
	 * /proc/self, not /proc/getpid(): in a PID namespace whose /proc was
	 * not remounted, the two name different processes.
	 */
	if (host_boot_id(o->boot, sizeof(o->boot)) == -1 ||
	    host_pidns(&o->pidns) == -1 ||
	    stat_start_time("/proc/self/stat", &o->start) == -1 ||
	    record_nonce(o->nonce) == -1)
		return -1;
	o->time = (int64_t)time(NULL);
	/* An unwritable host name is refused here, where its cause is plain. */
	if (record_format(o, line, sizeof(line)) == -1)
		return -1;
	return 0;
}
