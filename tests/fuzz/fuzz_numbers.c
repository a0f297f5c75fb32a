/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE

/*
 * libFuzzer target for the command's number parsers.  Beyond not crashing:
 * whatever they accept is in range, and an accepted integer is made only
 * of an optional minus sign and digits.
 */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "numbers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	double seconds;
	int64_t v;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (parse_seconds(s, 1e9, &seconds) == 0 &&
	    (!isfinite(seconds) || seconds < 0 || seconds > 1e9))
		abort();
	if (parse_integer(s, 0, 255, &v) == 0 && (v < 0 || v > 255))
		abort();
	if (parse_integer(s, INT64_MIN, INT64_MAX, &v) == 0) {
		const char *digits = s[0] == '-' ? s + 1 : s;

		if (*digits == '\0' ||
		    strspn(digits, "0123456789") != strlen(digits))
			abort();
	}
	free(s);
	return 0;
}
