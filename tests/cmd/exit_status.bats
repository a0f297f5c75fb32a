#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Exit statuses: the command's own, and dlock's documented ones.

load helpers
bats_require_minimum_version 1.5.0

@test "every command status from 0 to 255 passes through" {
	for i in $(seq 0 255); do
		got=0
		timeout 10 "$DLOCK" "$L" sh -c "exit $i" || got=$?
		[ "$got" -eq "$i" ] || { echo "exit $i gave $got"; false; }
	done
}

@test "a command killed by signal N gives 128+N" {
	run timeout 10 "$DLOCK" "$L" sh -c 'kill -KILL $$'
	[ "$status" -eq 137 ]
	run timeout 10 "$DLOCK" "$L" sh -c 'kill -SEGV $$'
	[ "$status" -eq 139 ]
}

@test "a command that is not found gives 127 and a message naming it" {
	run -127 timeout 10 "$DLOCK" "$L" no-such-command-here
	[ "$status" -eq 127 ]
	[[ "$output" == *"no-such-command-here: command not found"* ]]
}

@test "a command that is not executable gives 126" {
	printf 'echo hi\n' >"$T/script"
	chmod 644 "$T/script"
	run timeout 10 "$DLOCK" "$L" "$T/script"
	[ "$status" -eq 126 ]
	[[ "$output" == *"$T/script"*"Permission denied"* ]]
}

@test "-F with a command that is not found gives 127" {
	run -127 timeout 10 "$DLOCK" -F "$L" no-such-command-here
	[ "$status" -eq 127 ]
}

@test "busy gives 1 by default and the -E code when given" {
	hold
	run timeout 10 "$DLOCK" -n "$L" true
	[ "$status" -eq 1 ]
	run timeout 10 "$DLOCK" -n -E 0 "$L" touch "$T/ran"
	[ "$status" -eq 0 ]
	[ ! -e "$T/ran" ]
}

@test "a usage error gives 64" {
	run timeout 10 "$DLOCK" --no-such-option "$L" true
	[ "$status" -eq 64 ]
	run timeout 10 "$DLOCK"
	[ "$status" -eq 64 ]
	[[ "$output" == *"missing lock path"* ]]
}

@test "a lock file that cannot be opened gives 66 and names the path" {
	run timeout 10 "$DLOCK" "$T/missing/dir/lock" true
	[ "$status" -eq 66 ]
	[[ "$output" == *"'$T/missing/dir/lock'"*"No such file or directory"* ]]
}

@test "a symlink at the lock path is refused with 66, not followed" {
	ln -s "$T/target" "$L"
	run timeout 10 "$DLOCK" "$L" true
	[ "$status" -eq 66 ]
	[[ "$output" == *"symbolic link"* ]]
	[ ! -e "$T/target" ]
}

@test "a FIFO at the lock path is refused with 66 without hanging" {
	mkfifo "$L"
	run timeout 10 "$DLOCK" "$L" true
	[ "$status" -eq 66 ]
	[[ "$output" == *"not a regular file or directory"* ]]
}

@test "a descriptor that is not open gives 65, as with flock(1), and names it" {
	run timeout 10 "$DLOCK" -n 57
	[ "$status" -eq 65 ]
	[ "$output" = "dlock: cannot lock descriptor 57: Bad file descriptor" ]
	run timeout 10 "$DLOCK" --fd 57 true
	[ "$status" -eq 65 ]
	run timeout 10 "$DLOCK" -u 57
	[ "$status" -eq 65 ]
}
