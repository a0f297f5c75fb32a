/* SPDX-License-Identifier: ISC */
#ifndef DLOCK_NUMBERS_H
#define DLOCK_NUMBERS_H

/*
 * Strict parsers for numbers given on the command line.  Each accepts the
 * whole string or nothing, returns 0 or -1 with errno EINVAL (not a number
 * of that kind) or ERANGE (outside [min, max]).
 */

#include <stdint.h>

int parse_seconds(const char *s, double max, double *out);
int parse_integer(const char *s, int64_t min, int64_t max, int64_t *out);

#endif /* DLOCK_NUMBERS_H */
