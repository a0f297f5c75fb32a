/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE

/*
 * libFuzzer target for the mount-table line parser and the method choice.
 * Beyond not crashing: every string field of a parsed line is terminated
 * within its buffer, and the choice is always fcntl or lockfile.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlock.h"
#include "probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_terminated(const char *field, size_t size)
{
	if (memchr(field, '\0', size) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fsprobe probe;
	char *line = malloc(size + 1);
	int method;

	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	memset(&probe, 0, sizeof(probe));
	if (mountinfo_parse_line(line, &probe) == 0) {
		check_terminated(probe.fstype, sizeof(probe.fstype));
		check_terminated(probe.subtype, sizeof(probe.subtype));
		check_terminated(probe.source, sizeof(probe.source));
		check_terminated(probe.mountpoint, sizeof(probe.mountpoint));
		check_terminated(probe.options, sizeof(probe.options));
		method = probe_choose(&probe);
		if (method != DLOCK_FCNTL && method != DLOCK_LOCKFILE)
			abort();
		check_terminated(probe.reason, sizeof(probe.reason));
	}
	free(line);
	return 0;
}
