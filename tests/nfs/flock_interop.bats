#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# util-linux flock(1) on one host against dlock on the other, one lock
# path.  On Linux NFS, flock(2) is emulated with a whole-file POSIX lock on
# the server, so flock(1) and dlock's fcntl locks (what auto picks on these
# mounts) exclude each other across hosts, both ways.

# shellcheck disable=SC2154 # set by helpers.bash

load helpers

# holds HOLDER-HOST OTHER-HOST MNT HOLD-COMMAND... -- TRY-COMMAND...: while
# HOLD-COMMAND holds the lock on one host, TRY-COMMAND on the other finds it
# busy (exit 1), and gets it (exit 0) once the holder is gone.
holds() {
	local holder=$1 other=$2 lock t0
	lock=$(work_on "$3")/lock
	shift 3
	local hold=() try=()
	while [[ $1 != -- ]]; do
		hold+=("$1")
		shift
	done
	shift
	try=("$@")
	start_holder holder "$holder" "${hold[@]}" "$lock" sh -c 'echo held; exec sleep 600'
	wait_for 60 holder_said holder held
	run on "$other" "${try[@]}" "$lock" true
	echo "while held on $holder: $other's ${try[*]} exited $status: $output"
	[ "$status" -eq 1 ]
	stop_holders
	t0=$(now)
	wait_for 30 on "$other" "${try[@]}" "$lock" true
	note "$other's ${try[*]} got it $(elapsed "$t0" "$(now)") s after $holder's ${hold[*]} let go"
}

@test "flock(1) on A and dlock on B exclude each other on NFSv3" {
	holds A B /mnt/v3 flock -x -- "$DLOCK" -n
}

@test "dlock on A and flock(1) on B exclude each other on NFSv3" {
	holds A B /mnt/v3 "$DLOCK" -- flock -x -n
}

@test "flock(1) on A and dlock on B exclude each other on NFSv4.2" {
	holds A B /mnt/v4.2 flock -x -- "$DLOCK" -n
}

@test "dlock on A and flock(1) on B exclude each other on NFSv4.2" {
	holds A B /mnt/v4.2 "$DLOCK" -- flock -x -n
}
