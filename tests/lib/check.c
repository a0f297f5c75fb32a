/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include "check.h"

int check_passed, check_failed;

int
check_summary(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, check_passed,
	    check_failed);
	return check_failed > 255 ? 255 : check_failed;
}
