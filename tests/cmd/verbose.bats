#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# --verbose: dlock's timestamped lines on stderr, or, for scripts that
# read flock(1)'s, flock(1)'s own lines (--verbose=flock, DLOCK_VERBOSE).

load helpers
bats_require_minimum_version 1.5.0

@test "--verbose reports on stderr, each line stamped with the time of day" {
	run --separate-stderr timeout 10 "$DLOCK" --verbose "$L" echo ran
	[ "$status" -eq 0 ]
	[ "$output" = ran ]
	[[ "$stderr" =~ ^dlock:\ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}\ exclusive\ lock\ on ]]
}

@test "--verbose=flock prints flock(1)'s lines on stdout, before the command's own" {
	run --separate-stderr timeout 10 "$DLOCK" --verbose=flock "$L" echo ran
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "${lines[0]}" =~ ^flock:\ getting\ lock\ took\ [0-9]+\.[0-9]{6}\ seconds$ ]]
	[ "${lines[1]}" = "flock: executing echo" ]
	[ "${lines[2]}" = ran ]
}

@test "DLOCK_VERBOSE=flock makes plain --verbose print flock(1)'s lines" {
	DLOCK_VERBOSE=flock run --separate-stderr timeout 10 "$DLOCK" --verbose -F "$L" echo ran
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "${lines[0]}" == "flock: getting lock took "* ]]
	[ "${lines[1]}" = "flock: executing echo" ]
	[ "${lines[2]}" = ran ]
	DLOCK_VERBOSE=dlock run --separate-stderr timeout 10 "$DLOCK" --verbose "$L" true
	[[ "$stderr" == "dlock: "* ]]
	[ -z "$output" ]
}

@test "--verbose=flock says on stderr why a busy lock was not taken, as flock(1) does" {
	hold
	run --separate-stderr timeout 10 "$DLOCK" --verbose=flock -n "$L" true
	[ "$status" -eq 1 ]
	[ "$stderr" = "flock: failed to get lock" ]
	run --separate-stderr timeout 10 "$DLOCK" --verbose=flock -w 0.1 "$L" true
	[ "$status" -eq 1 ]
	[ "$stderr" = "flock: timeout while waiting to get lock" ]
}

@test "an unknown --verbose style is refused with 64" {
	run timeout 10 "$DLOCK" --verbose=loud "$L" true
	[ "$status" -eq 64 ]
	DLOCK_VERBOSE=loud run timeout 10 "$DLOCK" --verbose "$L" true
	[ "$status" -eq 64 ]
	[[ "$output" == *"DLOCK_VERBOSE 'loud'"* ]]
}
