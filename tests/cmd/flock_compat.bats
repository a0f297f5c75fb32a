#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The cases of util-linux flock(1)'s own test suite, run against dlock.

load helpers

@test "busy lock with -n exits 1 and does not run the command" {
	hold
	run timeout 10 "$DLOCK" -n "$L" touch "$T/ran"
	[ "$status" -eq 1 ]
	[ ! -e "$T/ran" ]
}

@test "busy lock with -n -E 253 exits 253" {
	hold
	run timeout 10 "$DLOCK" -n -E 253 "$L" true
	[ "$status" -eq 253 ]
}

@test "-w timeout on a busy lock exits with the -E code" {
	hold
	run timeout 10 "$DLOCK" -w 0.2 -E 7 "$L" true
	[ "$status" -eq 7 ]
}

@test "--no-fork runs the command in place of dlock, holding the lock" {
	run timeout 10 "$DLOCK" -F "$L" sh -c 'echo $$'
	[ "$status" -eq 0 ]
	# With -F the command is dlock itself, so it sees the lock on an
	# inherited descriptor: a second locker is refused meanwhile.
	timeout 10 "$DLOCK" -F "$L" sh -c 'touch "$1"; sleep 60' sh "$T/in" &
	HOLDER_PIDS+=("$!")
	wait_for test -e "$T/in"
	run timeout 10 "$DLOCK" -n "$L" true
	[ "$status" -eq 1 ]
}

@test "shared lock beside a shared lock is granted" {
	hold -s
	run timeout 10 "$DLOCK" -s -n "$L" echo shared
	[ "$status" -eq 0 ]
	[ "$output" = shared ]
}

@test "exclusive lock against a shared lock is refused" {
	hold -s
	run timeout 10 "$DLOCK" -x -n "$L" true
	[ "$status" -eq 1 ]
}

@test "exclusive wait is granted once the shared holder lets go" {
	hold -s
	( sleep 0.3; end_job "${HOLDER_PIDS[0]}" ) &
	run timeout 10 "$DLOCK" -x -w 5 "$L" echo got
	[ "$status" -eq 0 ]
	[ "$output" = got ]
}

@test "fd form locks the descriptor and creates no file named after it" {
	cd "$T"
	run timeout 10 bash -c '
		exec 9>"$1"
		"$2" -n 9 || exit 90
		"$3" -n "$1" true && exit 91
		exit 0' sh "$L" "$DLOCK" "$DLOCK"
	[ "$status" -eq 0 ]
	[ ! -e "$T/9" ]
}

@test "fd form with -u releases the descriptor's lock" {
	run timeout 10 bash -c '
		exec 9>"$1"
		"$2" 9 || exit 90
		"$2" -n "$1" true && exit 91
		"$2" -u 9 || exit 92
		"$2" -n "$1" true || exit 93' sh "$L" "$DLOCK"
	[ "$status" -eq 0 ]
}

@test "--fd N is the same as the fd form" {
	run timeout 10 bash -c '
		exec 9>"$1"
		"$2" -n --fd 9 || exit 90
		"$2" -n "$1" true && exit 91
		exit 0' sh "$L" "$DLOCK"
	[ "$status" -eq 0 ]
}

@test "timed wait succeeds once the holder lets go" {
	hold
	( sleep 0.5; end_job "${HOLDER_PIDS[0]}" ) &
	run timeout 10 "$DLOCK" -w 5 "$L" echo finished
	[ "$status" -eq 0 ]
	[ "$output" = finished ]
}

@test "a timed-out wait lasts about the timeout" {
	hold
	start=$(date +%s.%N)
	run timeout 10 "$DLOCK" -w 1 "$L" true
	end=$(date +%s.%N)
	[ "$status" -eq 1 ]
	# Bounds, not a benchmark: at least the timeout, and not stuck.
	awk -v s="$start" -v e="$end" 'BEGIN { d = e - s; exit !(d >= 1.0 && d < 4.0) }'
}

@test "--close keeps the lock descriptor from the command" {
	run timeout 10 "$DLOCK" -o "$L" sh -c 'ls -l /proc/$$/fd'
	[ "$status" -eq 0 ]
	[[ "$output" != *"$L"* ]]
	# Without -o the command inherits it, as with flock(1).
	run timeout 10 "$DLOCK" "$L" sh -c 'ls -l /proc/$$/fd'
	[[ "$output" == *"$L"* ]]
}

@test "--close: a daemon left by the command does not keep the lock" {
	run timeout 10 "$DLOCK" -o "$L" sh -c 'sleep 30 >/dev/null 2>&1 & echo $! >"$1"' sh "$T/daemon"
	[ "$status" -eq 0 ]
	HOLDER_PIDS+=("$(cat "$T/daemon")")
	run timeout 10 "$DLOCK" -n "$L" true
	[ "$status" -eq 0 ]
}

@test "without --close a daemon left by the command keeps the lock, as with flock(1)" {
	run timeout 10 "$DLOCK" "$L" sh -c 'sleep 30 >/dev/null 2>&1 & echo $! >"$1"' sh "$T/daemon"
	[ "$status" -eq 0 ]
	HOLDER_PIDS+=("$(cat "$T/daemon")")
	run timeout 10 "$DLOCK" -n "$L" true
	[ "$status" -eq 1 ]
}

@test "a byte range lock shows its range in lslocks" {
	command -v lslocks >/dev/null || skip "lslocks is not installed"
	hold --start 100 --length 50
	# lslocks cannot always name the path of an OFD lock: match the inode.
	run lslocks --noheadings --raw --output INODE,START,END
	[[ "$output" == *"$(stat -c %i "$L") 100 149"* ]]
}

@test "disjoint byte ranges lock side by side, overlapping ones do not" {
	hold --start 0 --length 10
	run timeout 10 "$DLOCK" -n --start 10 --length 10 "$L" true
	[ "$status" -eq 0 ]
	run timeout 10 "$DLOCK" -n --start 5 --length 10 "$L" true
	[ "$status" -eq 1 ]
}

@test "a directory can be locked, as with flock(1)" {
	mkdir "$T/dir"
	L=$T/dir
	hold
	run timeout 10 "$DLOCK" -n "$T/dir" true
	[ "$status" -eq 1 ]
}

@test "-m flock excludes util-linux flock(1) on the same file" {
	hold_with_flock1
	run timeout 10 "$DLOCK" -m flock -n "$L" true
	[ "$status" -eq 1 ]
	release_holders
	hold -m flock
	run timeout 10 flock -n "$L" true
	[ "$status" -eq 1 ]
}

@test "-c runs the string with /bin/sh, not \$SHELL" {
	SHELL=/bin/false run timeout 10 "$DLOCK" "$L" -c 'echo "$0"'
	[ "$status" -eq 0 ]
	[ "$output" = /bin/sh ]
}

@test "-- separates the lock path from the command and is not run" {
	run timeout 10 "$DLOCK" "$L" -- echo a b
	[ "$status" -eq 0 ]
	[ "$output" = "a b" ]
}

@test "options after the lock path belong to the command" {
	run timeout 10 "$DLOCK" "$L" echo -n -x
	[ "$status" -eq 0 ]
	[ "$output" = "-x" ]
}
