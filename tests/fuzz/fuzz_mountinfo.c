/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE

/*
 * libFuzzer target for the mount-table line parser, linked alone.  Beyond
 * not crashing: every string field of a parsed line is terminated within
 * its buffer.  The filter keeps about half the options, by their first
 * byte, so that both kept and dropped options and a full options buffer
 * are reached.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlock.h"
#include "probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
keep_some(const char *fstype, const char *option)
{
	(void)fstype;
	return ((unsigned char)option[0] & 1) != 0;
}

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

	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	memset(&probe, 0, sizeof(probe));
	if (mountinfo_parse_line(line, keep_some, &probe) == 0) {
		check_terminated(probe.fs.fstype, sizeof(probe.fs.fstype));
		check_terminated(probe.fs.subtype, sizeof(probe.fs.subtype));
		check_terminated(probe.fs.source, sizeof(probe.fs.source));
		check_terminated(probe.fs.mountpoint,
		    sizeof(probe.fs.mountpoint));
		check_terminated(probe.fs.options, sizeof(probe.fs.options));
	}
	free(line);
	return 0;
}
