/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/*
 * dlock fence STATEFILE: the resource's side of fencing tokens, for
 * scripts.  It accepts the token of the lock the caller holds (from
 * DLOCK_TOKEN, which dlock --token sets, or --token) if no newer one has
 * been seen in STATEFILE, and records it; the library does the work
 * (dlock_fence()).
 */

static const struct option fence_options[] = {
	{ "token", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* A token: decimal digits only, 1 to UINT64_MAX. */
static uint64_t
token_arg(const char *what, const char *value)
{
	uint64_t v = 0;
	const char *p;

	for (p = value; *p >= '0' && *p <= '9'; p++) {
		unsigned digit = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - digit) / 10)
			sub_usage_error("%s '%s': out of range (at most %"
			    PRIu64 ")", what, value, UINT64_MAX);
		v = v * 10 + digit;
	}
	if (p == value || *p != '\0' || v == 0)
		sub_usage_error("%s '%s': not a token (a whole number from "
		    "1, as dlock --token gives)", what, value);
	return v;
}

int
run_fence(int argc, char **argv)
{
	const char *given = NULL, *path;
	uint64_t token, highest;
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", fence_options, NULL)) != -1) {
		switch (c) {
		case 't':
			given = optarg;
			break;
		case 'h':
			sub_usage(stdout);
			exit(0);
		default:
			sub_usage_error("fence: unrecognized option or missing "
			    "value: '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		sub_usage_error("fence takes exactly one state file");
	path = argv[optind];
	if (given != NULL) {
		token = token_arg("--token", given);
	} else {
		given = getenv("DLOCK_TOKEN");
		if (given == NULL)
			sub_usage_error("fence: no token: run it under "
			    "dlock --token, which sets DLOCK_TOKEN, or give "
			    "--token");
		token = token_arg("DLOCK_TOKEN", given);
	}

	rc = dlock_fence(path, token, &highest);
	if (rc == 0)
		return 0;
	if (rc > 0) {
		warnx("fence: token %" PRIu64 " is older than token %" PRIu64
		    " already seen in '%s': a newer holder has taken the lock",
		    token, highest, path);
		return EXIT_FENCED;
	}
	if (errno == EBADMSG) {
		warnx("fence: state file '%s' is not a regular file holding a "
		    "token; it was left as it is", path);
		return EXIT_DATAERR;
	}
	warnx("fence: cannot check token %" PRIu64 " against '%s': %s", token,
	    path, lock_error_text(errno));
	return exit_status_for_open(errno);
}
