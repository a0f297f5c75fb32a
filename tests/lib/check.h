/* SPDX-License-Identifier: ISC */
#ifndef DLOCK_TEST_CHECK_H
#define DLOCK_TEST_CHECK_H

/* A minimal harness: each CHECK counts; the exit status is the failures. */

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond, ...) do {						\
	if (cond) {							\
		check_passed++;						\
	} else {							\
		check_failed++;						\
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);	\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
	}								\
} while (0)

static inline int
check_summary(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, check_passed,
	    check_failed);
	return check_failed > 255 ? 255 : check_failed;
}

#endif /* DLOCK_TEST_CHECK_H */
