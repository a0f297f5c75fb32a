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
	tolerate_refusals=1 count_updates_on /mnt/v3 /mnt/v3-nolock -w 30
}

@test "B's lockfile behind A's fcntl lock never gets in: it waits out the grace for an empty file, then refuses with 69 and says why" {
	local lock t0 took
	lock=$(work_on /mnt/v3)/lock
	start_holder holder A "$DLOCK" "$lock" sh -c 'echo held; exec sleep 600'
	wait_for 60 holder_said holder held
	t0=$(now)
	run on B "$DLOCK" --verbose -w 20 "$(work_on /mnt/v3-nolock)/lock" echo got
	took=$(elapsed "$t0" "$(now)")
	echo "B: exit $status after $took s: $output"
	[ "$status" -eq 69 ]
	[[ $output != *got* ]]
	# What it found and why it will not judge it: an empty file that may
	# be another host's kernel-lock file.
	[[ $output == *"empty file"* && $output == *"kernel lock"* ]]
	awk -v t="$took" 'BEGIN { exit !(t >= 3 && t < 15) }'
	# A's lock file is left alone.
	on A test -e "$lock"
}

@test "A's auto locker on a path where B holds a lockfile lock joins it: busy, never in beside B" {
	local lock
	lock=$(work_on /mnt/v3-nolock)/lock
	start_holder holder B "$DLOCK" "$lock" sh -c 'echo held; exec sleep 600'
	wait_for 60 holder_said holder held
	run on A "$DLOCK" -n --verbose "$(work_on /mnt/v3)/lock" echo got
	echo "A: exit $status: $output"
	[ "$status" -eq 1 ]
	[[ $output != *got* ]]
	run on A "$DLOCK" -m fcntl -n "$(work_on /mnt/v3)/lock" echo got
	echo "A, -m fcntl: exit $status: $output"
	[ "$status" -eq 69 ]
	[[ $output != *got* ]]
}
