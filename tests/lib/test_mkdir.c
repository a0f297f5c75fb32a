/* SPDX-License-Identifier: ISC */
#include "contract.h"

/*
 * The mkdir method: the contract of every method and of the name locks.
 * What is its own (the lock is a directory holding the record in owner)
 * the name-lock contract tells apart by method.
 */

int
main(void)
{
	return contract_main(DLOCK_MKDIR, NULL);
}
