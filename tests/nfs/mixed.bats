#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# Mixed hosts on one lock path: host A mounts with locks (auto: fcntl) and
# host B with nolock (auto: lockfile).  They choose different methods;
# that must never let two holders in, and a waiter must never wait
# silently: --verbose says what it waits for and why.

# shellcheck disable=SC2154 # set by helpers.bash

load helpers

@test "A on a locking mount and B on a nolock mount, auto on one path: never two holders, no update lost, refusals only with exit 69" {
	known_failure "the lockfile method takes the empty lock file of the fcntl method for a procmail lock and waits for its 300 s lease, saying only that the lock is busy"
	tolerate_refusals=1 count_updates_on /mnt/v3 /mnt/v3-nolock -w 30
}

@test "B's lockfile waiter behind A's fcntl lock does not get in, and says what it waits for and when it will be judged stale" {
	known_failure "the lockfile method takes the empty lock file of the fcntl method for a procmail lock and waits for its 300 s lease, saying only that the lock is busy"
	local lock
	lock=$(work_on /mnt/v3)/lock
	start_holder holder A "$DLOCK" "$lock" sh -c 'echo held; exec sleep 600'
	wait_for 60 holder_said holder held
	run on B "$DLOCK" --verbose -w 4 "$(work_on /mnt/v3-nolock)/lock" echo got
	echo "B: exit $status: $output"
	[ "$status" -eq 1 ]
	[[ $output != *got* ]]
	# Not just "busy": what holds it (an empty file, maybe another
	# method's or another tool's lock) and when it would be stale.
	[[ $output == *empty* || $output == *fcntl* || $output == *kernel* ]]
	[[ $output == *stale* ]]
}

@test "A's fcntl lock on a path where B holds a lockfile lock does not get in" {
	local lock
	lock=$(work_on /mnt/v3-nolock)/lock
	start_holder holder B "$DLOCK" "$lock" sh -c 'echo held; exec sleep 600'
	wait_for 60 holder_said holder held
	run on A "$DLOCK" -n "$(work_on /mnt/v3)/lock" echo got
	echo "A: exit $status: $output"
	[ "$status" -ne 0 ]
	[[ $output != *got* ]]
}
