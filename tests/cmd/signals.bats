#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Signals sent to the wrapper reach the command; the lock outlives neither.

load helpers

# start_trapping SIG: runs, under the lock, a command that on SIG records
# it, holds on for a moment, then exits 7.
start_trapping() {
	setsid timeout 60 "$DLOCK" "$L" sh -c '
		trap "echo $1 >\"$2/got\"; sleep 0.5; exit 7" "$1"
		touch "$2/ready"
		while :; do sleep 0.05; done' sh "$1" "$T" &
	WRAPPER=$!
	HOLDER_PIDS+=("$WRAPPER")
	wait_for test -e "$T/ready"
}

wrapper_pid() {
	# setsid execs timeout, whose child is dlock.
	pgrep -P "$WRAPPER" -x dlock
}

# check_forwarded SIG: SIG sent to the wrapper reached the command, whose
# exit status 7 is the wrapper's.
check_forwarded() {
	start_trapping "$1"
	kill "-$1" "$(wrapper_pid)"
	wait_for test -e "$T/got"
	[ "$(cat "$T/got")" = "$1" ]
	got=0
	wait "$WRAPPER" || got=$?
	[ "$got" -eq 7 ]
}

@test "SIGINT to the wrapper reaches the command, which exits 7" {
	check_forwarded INT
}

@test "SIGTERM to the wrapper reaches the command, which exits 7" {
	check_forwarded TERM
}

@test "SIGHUP to the wrapper reaches the command, which exits 7" {
	check_forwarded HUP
}

@test "SIGQUIT to the wrapper reaches the command, which exits 7" {
	check_forwarded QUIT
}

@test "the lock is held until the signalled command has exited" {
	start_trapping TERM
	kill -TERM "$(wrapper_pid)"
	wait_for test -e "$T/got"
	# The command is still in its trap, sleeping: the lock is still held.
	run timeout 10 "$DLOCK" -n "$L" true
	[ "$status" -eq 1 ]
	run timeout 10 "$DLOCK" -w 5 "$L" true
	[ "$status" -eq 0 ]
}

@test "a signal ignored by the caller stays ignored by the command" {
	run timeout 10 bash -c 'trap "" HUP; "$1" "$2" sh -c "kill -HUP \$\$; echo survived"' sh "$DLOCK" "$L"
	[ "$status" -eq 0 ]
	[ "$output" = survived ]
}
