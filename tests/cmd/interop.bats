#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Sharing a lock path: with Debian's dot-lock tools, which take the same
# kind of lock as -m lockfile, and with dlock's other methods, which must
# refuse a lock they cannot take part in rather than let two holders in.

# Commands for sh -c are in single quotes on purpose; and bats runs each
# test in a subshell, which shellcheck takes for changes that get lost.
# shellcheck disable=SC2016,SC2030,SC2031

load helpers

# Each lock lives in a directory of its own, $D, so that everything a run
# leaves there can be listed.
eval "shared_$(declare -f setup)"
setup() {
	shared_setup
	D=$T/d
	mkdir "$D"
	L=$D/X.lock
}

# need TOOL: skips the test unless TOOL is installed.
need() {
	command -v "$1" >/dev/null ||
		skip "$1 is not installed (scripts/need $1 installs it)"
}

# dlock_is_refused: dlock -m lockfile cannot take $L, runs nothing, and
# leaves $L as it was.
dlock_is_refused() {
	local before
	before=$(cat "$L")
	run timeout 10 "$DLOCK" -m lockfile -n "$L" touch "$T/ran"
	[ "$status" -eq 1 ]
	[ ! -e "$T/ran" ]
	[ "$(cat "$L")" = "$before" ]
	[ "$(ls -A "$D")" = X.lock ]
}

# dlock_takes_it: once the other tool has let go, dlock takes $L and
# leaves nothing behind.
dlock_takes_it() {
	run timeout 10 "$DLOCK" -m lockfile -n "$L" echo got
	[ "$status" -eq 0 ]
	[ "$output" = got ]
	[ -z "$(ls -A "$D")" ]
}

# held_by_dlock: a dlock holder's record is still $L, and nothing else
# is in the directory.
held_by_dlock() {
	[ "$(cat "$L")" = "$1" ]
	[ "$(ls -A "$D")" = X.lock ]
}

@test "while dotlockfile -l holds X.lock, dlock -m lockfile -n exits 1" {
	need dotlockfile
	timeout 10 dotlockfile -l -r 0 "$L"
	dlock_is_refused
	timeout 10 dotlockfile -u "$L"
	dlock_takes_it
}

@test "while dotlockfile -p holds X.lock with its pid, dlock -m lockfile -n exits 1" {
	need dotlockfile
	timeout 10 dotlockfile -l -p -r 0 "$L"
	grep -q -E '^[0-9]+$' "$L"
	dlock_is_refused
	timeout 10 dotlockfile -u "$L"
	dlock_takes_it
}

@test "while dotlockfile runs a command under X.lock, dlock -m lockfile -n exits 1" {
	need dotlockfile
	setsid timeout 60 dotlockfile -l -r 0 "$L" sh -c 'touch "$1"; exec sleep 60' sh "$T/ready" &
	HOLDER_PIDS+=("$!")
	wait_for test -e "$T/ready"
	dlock_is_refused
}

@test "while procmail's lockfile holds X.lock, dlock -m lockfile -n exits 1" {
	need lockfile
	timeout 10 lockfile -r 0 "$L"
	dlock_is_refused
	rm -f "$L"
	dlock_takes_it
}

@test "while lockfile-create holds X (as X.lock), dlock -m lockfile -n exits 1" {
	need lockfile-create
	timeout 10 lockfile-create --retry 0 "$D/X"
	dlock_is_refused
	timeout 10 lockfile-remove "$D/X"
	dlock_takes_it
}

@test "while lockfile-create --use-pid holds X.lock, dlock -m lockfile -n exits 1" {
	need lockfile-create
	timeout 10 lockfile-create --use-pid --retry 0 "$D/X"
	dlock_is_refused
	timeout 10 lockfile-remove "$D/X"
	dlock_takes_it
}

# liblockfile's L_MAXTRYS: the lock exists, and no try is left.
L_MAXTRYS=4

@test "while dlock holds X.lock, dotlockfile -r 0 fails to take it" {
	need dotlockfile
	hold -m lockfile
	record=$(cat "$L")
	run timeout 10 dotlockfile -l -r 0 "$L"
	[ "$status" -eq "$L_MAXTRYS" ]
	held_by_dlock "$record"
	run timeout 10 dotlockfile -l -p -r 0 "$L"
	[ "$status" -eq "$L_MAXTRYS" ]
	held_by_dlock "$record"
	run timeout 10 dotlockfile -l -r 0 "$L" touch "$T/ran"
	[ "$status" -eq "$L_MAXTRYS" ]
	[ ! -e "$T/ran" ]
	held_by_dlock "$record"
}

@test "while dlock holds X.lock, procmail's lockfile -r 0 fails to take it" {
	need lockfile
	hold -m lockfile
	record=$(cat "$L")
	run timeout 10 lockfile -r 0 "$L"
	[ "$status" -ne 0 ]
	held_by_dlock "$record"
	# -! turns a failure into success only when the lock already exists.
	run timeout 10 lockfile -! -r 0 "$L"
	[ "$status" -eq 0 ]
	held_by_dlock "$record"
}

@test "while dlock holds X.lock, lockfile-create --retry 0 fails and lockfile-check sees it" {
	need lockfile-create
	hold -m lockfile
	record=$(cat "$L")
	run timeout 10 lockfile-create --retry 0 "$D/X"
	[ "$status" -eq "$L_MAXTRYS" ]
	held_by_dlock "$record"
	run timeout 10 lockfile-create --use-pid --retry 0 "$D/X"
	[ "$status" -eq "$L_MAXTRYS" ]
	held_by_dlock "$record"
	run timeout 10 lockfile-check "$D/X"
	[ "$status" -eq 0 ]
}

@test "a lockfile locker is refused with 66 while a mkdir holder holds the path" {
	hold -m mkdir
	run timeout 10 "$DLOCK" -m lockfile -w 5 "$L" touch "$T/ran"
	[ "$status" -eq 66 ]
	[[ "$output" == *"'$L'"*"a lock of the mkdir method"* ]]
	[ ! -e "$T/ran" ]
	[ "$(ls -A "$L")" = owner ]
}

@test "a mkdir locker is refused with 66 while a lockfile holder holds the path" {
	hold -m lockfile
	record=$(cat "$L")
	run timeout 10 "$DLOCK" -m mkdir -w 5 "$L" touch "$T/ran"
	[ "$status" -eq 66 ]
	[[ "$output" == *"'$L'"*"not a directory"* ]]
	[ ! -e "$T/ran" ]
	held_by_dlock "$record"
}

@test "fcntl and flock lockers refuse a path held as a lockfile with 69" {
	hold -m lockfile
	record=$(cat "$L")
	for method in fcntl flock; do
		run timeout 10 "$DLOCK" -m "$method" -n "$L" touch "$T/ran"
		[ "$status" -eq 69 ]
		[[ "$output" == *"'$L'"*"another lock method"* ]]
		[ ! -e "$T/ran" ]
	done
	held_by_dlock "$record"
}

@test "fcntl and flock lockers refuse a directory held as a mkdir lock with 69" {
	hold -m mkdir
	for method in fcntl flock; do
		run timeout 10 "$DLOCK" -m "$method" -n "$L" touch "$T/ran"
		[ "$status" -eq 69 ]
		[[ "$output" == *"'$L'"*"another lock method"* ]]
		[ ! -e "$T/ran" ]
	done
	[ "$(ls -A "$L")" = owner ]
}

# lockers_started N: N of check_auto_joins' lockers are running.
lockers_started() {
	[ "$(pgrep -fc -- "^$DLOCK -w 15 --verbose $L")" -ge "$1" ]
}

# check_auto_joins METHOD: while a METHOD lock holds $L, auto waits for it
# as a METHOD lock (busy with -n, timed out with -w); once it is free,
# four auto lockers at once take it one after the other the same way.
check_auto_joins() {
	hold -m "$1"
	run timeout 10 "$DLOCK" -n "$L" touch "$T/ran"
	[ "$status" -eq 1 ]
	run timeout 10 "$DLOCK" -w 0.3 --verbose "$L" touch "$T/ran"
	[ "$status" -eq 1 ]
	[ ! -e "$T/ran" ]
	# The four start while the lock is held, so that each finds it and
	# waits as a METHOD locker: one started after the last had let go
	# would find no lock at all, and take auto's own method.
	for i in 1 2 3 4; do
		timeout 20 "$DLOCK" -w 15 --verbose "$L" sh -c '
			mkdir "$1/inside" || echo overlap >>"$1/overlaps"
			sleep 0.05
			rmdir "$1/inside"' sh "$T" 2>"$T/err.$i" &
	done
	wait_for lockers_started 4
	sleep 0.3
	release_holders
	wait
	[ ! -e "$T/overlaps" ]
	for i in 1 2 3 4; do
		grep -q "($1)" "$T/err.$i" || { cat "$T/err.$i"; false; }
	done
}

@test "auto joins a lockfile lock found at the path: it waits as a lockfile locker, and four of them take turns" {
	check_auto_joins lockfile
	[ ! -e "$L" ]
}

@test "auto joins a mkdir lock found at the path: it waits as a mkdir locker, and four of them take turns" {
	check_auto_joins mkdir
	[ ! -e "$L" ]
}

# check_directory_kept HOLDER: while HOLDER (hold or hold_with_flock1)
# holds the directory $L with flock(2), a mkdir locker, finding no record
# in a directory older than any lease, refuses rather than remove it.
check_directory_kept() {
	mkdir "$L"
	touch -d 2000-01-01 "$L"
	"$@"
	run timeout 10 "$DLOCK" -m mkdir -n "$L" touch "$T/ran"
	[ "$status" -eq 69 ]
	[[ "$output" == *"'$L'"*"another lock method"* ]]
	[ ! -e "$T/ran" ]
	[ -d "$L" ]
}

@test "a mkdir locker never removes a directory that flock(1) holds" {
	check_directory_kept hold_with_flock1
}

@test "a mkdir locker never removes a directory that dlock -m flock holds" {
	check_directory_kept hold -m flock
}
