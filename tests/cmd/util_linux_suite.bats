#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# util-linux's own flock(1) tests (tests/ts/flock: flock, close, unlock,
# range-lock), case by case, restated for dlock with the spellings they
# use: a holder of the lock runs in the background, and each case checks
# the exact exit status while it holds.  The flock script runs every case
# twice, with flock(2) locks (no option) and with --fcntl; so does this.

load helpers

# attempt API OPTIONS...: one locker of $L beside the holder, which must
# not print anything on stderr (flock(1) prints nothing there either).
attempt() {
	local api=$1
	shift
	run --separate-stderr timeout 20 "$DLOCK" ${api:+"$api"} "$@" "$L" echo ran
}
bats_require_minimum_version 1.5.0

non_block() {
	hold ${1:+"$1"} --shared
	attempt "$1" --nonblocking --conflict-exit-code 123
	[ "$status" -eq 123 ]
	[ -z "$output" ] && [ -z "$stderr" ]
}

no_fork() {
	hold ${1:+"$1"} --shared
	attempt "$1" --no-fork --nonblocking --conflict-exit-code 123
	[ "$status" -eq 123 ]
	[ -z "$output" ] && [ -z "$stderr" ]
}

shared() {
	hold ${1:+"$1"} --shared
	attempt "$1" --shared
	[ "$status" -eq 0 ]
	[ "$output" = ran ] && [ -z "$stderr" ]
}

exclusive() {
	hold ${1:+"$1"} --shared
	attempt "$1" --nb --exclusive --conflict-exit-code 123
	[ "$status" -eq 123 ]
	[ -z "$output" ] && [ -z "$stderr" ]
}

descriptor() {
	hold ${1:+"$1"} --shared
	cd "$T" || return
	run --separate-stderr timeout 20 bash -c '
		exec 4<>"$1"
		"$2" ${3:+"$3"} --nonblocking --exclusive --conflict-exit-code 123 4' \
		sh "$L" "$DLOCK" "$1"
	[ "$status" -eq 123 ]
	[ -z "$stderr" ]
	[ ! -e "$T/4" ]
}

# The holder lets go after 1.5 s; a --timeout 5 locker gets in then.
timeout_then_time_check() {
	local start end
	start=$(date +%s.%N)
	setsid timeout 60 "$DLOCK" ${1:+"$1"} --shared "$L" sh -c 'touch "$1"; sleep 1.5' sh "$T/ready" &
	HOLDER_PIDS+=("$!")
	wait_for test -e "$T/ready"
	attempt "$1" --timeout 5 --conflict-exit-code 5
	end=$(date +%s.%N)
	[ "$status" -eq 0 ]
	[ "$output" = ran ] && [ -z "$stderr" ]
	# time-check: the wait lasted about as long as the holder held.
	awk -v s="$start" -v e="$end" 'BEGIN { d = e - s; exit !(d >= 1.4 && d < 5) }'
}

@test "flock: busy --nonblocking exits with the --conflict-exit-code" {
	non_block ""
}

@test "flock: busy --no-fork --nonblocking exits with the --conflict-exit-code" {
	no_fork ""
}

@test "flock: --shared beside a shared holder is granted" {
	shared ""
}

@test "flock: busy --nb --exclusive exits with the --conflict-exit-code" {
	exclusive ""
}

@test "flock: a busy descriptor exits with the --conflict-exit-code and creates no file named after it" {
	descriptor ""
}

@test "flock: --timeout waits for the holder, as long as it holds" {
	timeout_then_time_check ""
}

@test "fcntl: busy --nonblocking exits with the --conflict-exit-code" {
	non_block --fcntl
}

@test "fcntl: busy --no-fork --nonblocking exits with the --conflict-exit-code" {
	no_fork --fcntl
}

@test "fcntl: --shared beside a shared holder is granted" {
	shared --fcntl
}

@test "fcntl: busy --nb --exclusive exits with the --conflict-exit-code" {
	exclusive --fcntl
}

@test "fcntl: a busy descriptor exits with the --conflict-exit-code and creates no file named after it" {
	descriptor --fcntl
}

@test "fcntl-vs-flock: a default exclusive lock is granted beside an fcntl holder" {
	hold --fcntl --shared
	attempt "" --nonblock --exclusive
	[ "$status" -eq 0 ]
	[ "$output" = ran ] && [ -z "$stderr" ]
}

@test "fcntl: --timeout waits for the holder, as long as it holds" {
	timeout_then_time_check --fcntl
}

@test "close: --close --fd keeps the descriptor from the command, which then exits 65" {
	run --separate-stderr timeout 20 bash -c '
		exec 10<>"$1"
		"$2" --exclusive --close --fd 10 --command "\"$2\" --exclusive --nonblock --fd 10 true"
		echo "exit code: $?"
		"$2" --exclusive --fd 10 --command "\"$2\" --exclusive --nonblock --fd 10 true"
		echo "exit code: $?"' sh "$L" "$DLOCK"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'exit code: 65\nexit code: 0')" ]
	[[ "$stderr" == "dlock: "*"descriptor 10"*"Bad file descriptor" ]]
}

@test "close: --fd N -c and --fd N COMMAND ARGS run the command holding the descriptor's lock" {
	run timeout 20 bash -c '
		exec 10<>"$1"
		"$2" --fd 10 -c "\"$2\" -n \"$1\" true; echo \$?"
		"$2" --fd 10 sh -c "\"$2\" -n \"\$1\" true; echo \$?" sh "$1"
		"$2" --fd 10 -- echo after' sh "$L" "$DLOCK"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '1\n1\nafter')" ]
}

@test "unlock: --unlock releases a descriptor's lock, and --wait 0 is --nonblock" {
	run --separate-stderr timeout 20 env DLOCK_VERBOSE=flock bash -c '
		exec 10<>"$1"
		"$2" --exclusive --nonblock --verbose 10
		"$2" --unlock 10
		"$2" --exclusive --wait 0 --verbose "$1" true' sh "$L" "$DLOCK"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$(sed -E 's/took [0-9]+\.[0-9]{6} seconds$/took <n> seconds/' <<<"$output")" = \
	    "$(printf 'flock: getting lock took <n> seconds\nflock: getting lock took <n> seconds\nflock: executing true')" ]
}

@test "range-lock: lslocks shows the --start and --length of a --no-fork fcntl lock on a directory" {
	command -v lslocks >/dev/null || skip "lslocks is not installed"
	cd "$T"
	setsid "$DLOCK" --shared --fcntl --start 1 --length 2 --no-fork . \
		-c 'touch ready; exec sleep 60' &
	HOLDER_PIDS+=("$!")
	wait_for test -e "$T/ready"
	# An OFD lock has no pid for older lslocks to match: find the inode.
	run lslocks --noheadings --raw --output INODE,START,END
	[[ "$output" == *"$(stat -c %i "$T") 1 2"* ]]
}
