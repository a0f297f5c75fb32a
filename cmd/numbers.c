/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "numbers.h"

/*
 * A duration in seconds: decimal, fraction and exponent allowed as strtod
 * reads them, but no sign, no hexadecimal, no "inf" or "nan": those are
 * typos, not durations.
 */
int
parse_seconds(const char *s, double max, double *out)
{
	char *end;
	double v;

	if (s == NULL || ((*s < '0' || *s > '9') && *s != '.') ||
	    strspn(s, "0123456789.eE+-") != strlen(s)) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (errno == ERANGE || !isfinite(v) || v > max) {
		errno = ERANGE;
		return -1;
	}
	*out = v;
	return 0;
}

/* A decimal integer, optionally negative; no spaces, no plus sign. */
int
parse_integer(const char *s, int64_t min, int64_t max, int64_t *out)
{
	const char *digits = s != NULL && *s == '-' ? s + 1 : s;
	char *end;
	long long v;

	if (digits == NULL || *digits < '0' || *digits > '9') {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (errno == ERANGE || v < min || v > max) {
		errno = ERANGE;
		return -1;
	}
	*out = v;
	return 0;
}
