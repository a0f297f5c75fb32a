/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE

/*
 * libFuzzer target for the owner-record parser.  Beyond not crashing, every
 * v1 record it accepts must be written back by record_format() as a line that
 * reads back to the same owner, and that line must be a fixed point.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int owners_equal(const struct dlock_owner *a,
    const struct dlock_owner *b)
{
	return a->kind == b->kind && strcmp(a->method, b->method) == 0 &&
	    a->pid == b->pid && a->child == b->child &&
	    a->child_start == b->child_start &&
	    strcmp(a->host, b->host) == 0 && strcmp(a->boot, b->boot) == 0 &&
	    a->pidns == b->pidns && a->start == b->start &&
	    a->time == b->time && a->token == b->token &&
	    strcmp(a->nonce, b->nonce) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *input = (const char *)data;
	char line[DLOCK_RECORD_MAX + 1], again[DLOCK_RECORD_MAX + 1];
	struct dlock_owner parsed, reparsed;
	int n;

	if (record_parse(input, size, &parsed) == -1) {
		if (errno != EINVAL)
			abort();
		record_version(input, size);
		return 0;
	}
	switch (parsed.kind) {
	case DLOCK_RECORD_PID:
		if (parsed.pid < 1)
			abort();
		return 0;
	case DLOCK_RECORD_EMPTY:
		if (parsed.pid != 0)
			abort();
		return 0;
	case DLOCK_RECORD_V1:
		break;
	default:
		abort();
	}
	if (parsed.pid < 1 || parsed.child < 0 || parsed.time < 0 ||
	    record_version(input, size) != 1)
		abort();
	n = record_format(&parsed, line, sizeof(line));
	if (n < 1 || n > DLOCK_RECORD_MAX || line[n - 1] != '\n' ||
	    strlen(line) != (size_t)n)
		abort();
	if (record_parse(line, (size_t)n, &reparsed) == -1 ||
	    !owners_equal(&parsed, &reparsed))
		abort();
	if (record_format(&reparsed, again, sizeof(again)) != n ||
	    memcmp(line, again, (size_t)n + 1) != 0)
		abort();
	return 0;
}
