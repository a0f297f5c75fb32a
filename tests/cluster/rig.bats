#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# The shared-filesystem rig itself: two mounts of one GlusterFS volume that
# behave as two hosts.  Needs scripts/cluster-up to have been run.
#
# shellcheck disable=SC2154 # work_a, on_host and the like come from helpers
# shellcheck disable=SC2016 # the sh -c scripts expand in the inner shell

load helpers

@test "a file created on host A is visible on host B" {
	timeout -k 2 10 "$on_host" A sh -c 'echo "written on $(hostname)" >"$1"' sh "$work_a/note"
	wait_for 10 test -e "$work_b/note"
	run timeout -k 2 10 "$on_host" B cat "$work_b/note"
	[ "$status" -eq 0 ]
	[ "$output" = "written on dlock-a" ]
}

@test "mkdir on host B fails when host A made the directory first" {
	timeout -k 2 10 "$on_host" A mkdir "$work_a/lockdir"
	run timeout -k 2 10 "$on_host" B mkdir "$work_b/lockdir"
	[ "$status" -eq 1 ]
	[[ $output == *"File exists"* ]]
}

@test "mkdir of one directory racing on both hosts never succeeds on both, 20 times" {
	race_on_both_hosts 20 mkdir
}

@test "O_EXCL create on host B fails when host A created the file first" {
	timeout -k 2 10 "$on_host" A "${create_excl[@]}" "$work_a/lockfile"
	run timeout -k 2 10 "$on_host" B "${create_excl[@]}" "$work_b/lockfile"
	[ "$status" -eq 1 ]
}

@test "O_EXCL create of one file racing on both hosts never succeeds on both, 20 times" {
	race_on_both_hosts 20 "${create_excl[@]}"
}

@test "flock -n on host B fails while host A holds flock on the same file" {
	start_holder A "$BATS_TEST_TMPDIR/ready" \
	    flock "$work_a/lock" sh -c 'touch "$1"; exec sleep 600' sh "$BATS_TEST_TMPDIR/ready"
	run flock_is_free B "$work_b/lock"
	[ "$status" -eq 1 ]
	stop_holders
	wait_for 10 flock_is_free B "$work_b/lock"
}

@test "fcntl lock on host B fails while host A holds a POSIX record lock" {
	start_holder A "$BATS_TEST_TMPDIR/ready" \
	    /usr/bin/python3 -c "$fcntl_lock_py" hold posix "$work_a/lock" "$BATS_TEST_TMPDIR/ready"
	run fcntl_is_free B posix "$work_b/lock"
	[ "$status" -eq 1 ]
	stop_holders
	wait_for 10 fcntl_is_free B posix "$work_b/lock"
}

@test "OFD lock on host B fails while host A holds an OFD lock" {
	start_holder A "$BATS_TEST_TMPDIR/ready" \
	    /usr/bin/python3 -c "$fcntl_lock_py" hold ofd "$work_a/lock" "$BATS_TEST_TMPDIR/ready"
	run fcntl_is_free B ofd "$work_b/lock"
	[ "$status" -eq 1 ]
	stop_holders
	wait_for 10 fcntl_is_free B ofd "$work_b/lock"
}

@test "on-host gives host A and host B different hostnames" {
	run timeout -k 2 10 "$on_host" A hostname
	[ "$status" -eq 0 ]
	[ "$output" = dlock-a ]
	run timeout -k 2 10 "$on_host" B hostname
	[ "$status" -eq 0 ]
	[ "$output" = dlock-b ]
	[ "$(hostname)" != dlock-a ]
	[ "$(hostname)" != dlock-b ]
}

@test "on-host runs the command in its own PID namespace, in the host's mount" {
	run timeout -k 2 10 "$on_host" A sh -c 'pwd; echo "$DLOCK_HOST_MNT"; ps -e -o comm='
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$DLOCK_CLUSTER_A" ]
	[ "${lines[1]}" = "$DLOCK_CLUSTER_A" ]
	[[ $output != *glusterd* ]]
}

@test "on-host passes stdin, stdout, stderr and the exit status through" {
	run timeout -k 2 10 "$on_host" B sh -c 'read -r line; echo "out $line"; echo "err $line" >&2; exit 7' <<<hello
	[ "$status" -eq 7 ]
	[ "${lines[0]}" = "out hello" ]
	[ "${lines[1]}" = "err hello" ]
}

@test "on-host passes SIGTERM on to the command" {
	start_holder A "$BATS_TEST_TMPDIR/ready" \
	    sh -c 'touch "$1"; exec sleep 600' sh "$BATS_TEST_TMPDIR/ready"
	local pid=${holder_pids[0]} status=0
	kill -TERM "$pid"
	timeout -k 2 10 tail --pid="$pid" -f /dev/null
	wait "$pid" || status=$?
	[ "$status" -eq 143 ]
}

@test "killing host A's glusterfs client lets host B take A's flock and fcntl locks within 10 s" {
	start_holder A "$BATS_TEST_TMPDIR/ready-flock" \
	    flock "$work_a/flock" sh -c 'touch "$1"; exec sleep 600' sh "$BATS_TEST_TMPDIR/ready-flock"
	start_holder A "$BATS_TEST_TMPDIR/ready-fcntl" \
	    /usr/bin/python3 -c "$fcntl_lock_py" hold posix "$work_a/fcntl" "$BATS_TEST_TMPDIR/ready-fcntl"
	run flock_is_free B "$work_b/flock"
	[ "$status" -eq 1 ]
	run fcntl_is_free B posix "$work_b/fcntl"
	[ "$status" -eq 1 ]

	local pid
	pid=$(client_pid "$DLOCK_CLUSTER_A" "$DLOCK_CLUSTER_A_PIDFILE")
	touch "$BATS_TEST_TMPDIR/remount"
	kill -KILL "$pid"
	wait_for 10 flock_is_free B "$work_b/flock"
	wait_for 10 fcntl_is_free B posix "$work_b/fcntl"
}
