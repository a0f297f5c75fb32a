#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# A server that stops answering (S paused: its QEMU stopped dead) under
# hard mounts, where the kernel retries for ever.  dlock -w 5 must return
# within a few seconds of its deadline with a clear message, and dlock -n
# must not hang; if a call on the mount cannot be ended, dlock's own
# process must still return and say so.  Every step here is bounded
# twice: by timeout(1) in the guest and by nfs-on's own deadline here.

# shellcheck disable=SC2154 # set by helpers.bash

load helpers

# timed HOST SECONDS COMMAND...: runs COMMAND on HOST, S paused meanwhile;
# sets status, output and took (seconds).
paused_run() {
	local host=$1 seconds=$2 t0
	shift 2
	"$nfs_host" pause S
	t0=$(now)
	run on "$host" -t "$seconds" "$@"
	took=$(elapsed "$t0" "$(now)")
	"$nfs_host" resume S
}

check_paused() {
	local mnt=$1 dir
	shift
	dir=$(work_on "$mnt")
	# The lock file exists and is cached: what hangs is the lock call.
	on A "$DLOCK" "$dir/lock" true
	paused_run A 30 "$DLOCK" "$@" "$dir/lock" true
	note "$mnt, S paused: dlock $* took $took s, exit $status: $output"
	[[ $status != 124 && $status != 137 ]]
	awk -v t="$took" 'BEGIN { exit !(t <= 12) }'
	[[ $status == 1 || $status == 71 ]]
	[[ $output == *"no answer from its filesystem"* ]]
	# Once S answers again, the call given up has left nothing in the
	# way: both hosts take the lock.
	on A "$DLOCK" -w 30 "$dir/lock" true
	on B "$DLOCK" -w 30 "$dir/lock" true
}

@test "with the server paused, dlock -w 5 on an NFSv4.2 hard mount returns within a few seconds of its deadline and says why" {
	check_paused /mnt/v4.2 -w 5
}

@test "with the server paused, dlock -w 5 on an NFSv3 hard mount returns within a few seconds of its deadline and says why" {
	check_paused /mnt/v3 -w 5
}

@test "with the server paused, dlock -n on an NFSv4.2 hard mount does not hang" {
	check_paused /mnt/v4.2 -n
}

@test "with the server paused, dlock -n on an NFSv3 hard mount does not hang" {
	check_paused /mnt/v3 -n
}
