#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# Mixed hosts on one lock path: host A mounts with locks (auto: fcntl) and
# host B with nolock (auto: lockfile), or with locks whose calls fail with
# ENOLCK (auto falls back to a lockfile; the calls are made to fail by
# tests/fault/fault.c, since no setup of this kernel's made them fail for
# real).  They choose different methods; that must never let two holders
# in, and a waiter must never wait silently: --verbose says what it waits
# for and why.

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

# A program on B, on the export, that runs dlock with its kernel lock calls
# failing with ENOLCK.
enolck_dlock() {
	local wrapper
	wrapper=$(work_on /mnt/v3)/dlock-enolck
	on A sh -c "printf '#!/bin/sh\nexec %s enolck %s \"\$@\"\n' '$FAULT' '$DLOCK' >'$wrapper' && chmod +x '$wrapper'"
	echo "$wrapper"
}

@test "A's kernel locks work and B's fail with ENOLCK, auto on one path: B falls back, never two holders, no update lost, refusals only with exit 69" {
	local dlock_b
	dlock_b=$(enolck_dlock)
	run on B "$dlock_b" --verbose -n "$(work_on /mnt/v3)/probe-lock" true
	echo "B alone: exit $status: $output"
	[ "$status" -eq 0 ]
	[[ $output == *"fell back to a lockfile"* ]]
	dlock_b=$dlock_b tolerate_refusals=1 count_updates_on /mnt/v3 /mnt/v3 -w 30
}

@test "both hosts' lock calls fail with ENOLCK: every process falls back at once, and they wait for each other; no failure, no update lost" {
	local wrapper
	wrapper=$(enolck_dlock)
	dlock_a=$wrapper dlock_b=$wrapper count_updates_on /mnt/v3 /mnt/v3 -w 60
}

@test "with its lock calls failing with ENOLCK, -m fcntl on B fails at once with 69 and names the path and the cause" {
	local dlock_b lock
	dlock_b=$(enolck_dlock)
	lock=$(work_on /mnt/v3)/lock
	run on B "$dlock_b" -m fcntl -w 10 "$lock" echo got
	echo "B: exit $status: $output"
	[ "$status" -eq 69 ]
	[[ $output != *got* ]]
	[[ $output == *"$lock"* && $output == *"No locks available"* ]]
}
