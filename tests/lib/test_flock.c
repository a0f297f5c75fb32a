/* SPDX-License-Identifier: ISC */
#include "contract.h"

/*
 * The flock method: the contract of every method.  What is its own (no
 * byte ranges, the lock util-linux flock(1) takes) is in test_api.c and
 * in the command's tests beside flock(1).
 */

int
main(void)
{
	return contract_main(DLOCK_FLOCK, NULL);
}
