#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# What the other host does to names on the export (removing a lock, putting
# a new one in its place) shows up on NFS as ESTALE and as silly-renamed
# .nfs* files.  Neither may surface as an error of dlock's, and nothing of
# dlock's may be left in the directory afterwards.

# shellcheck disable=SC2154 # set by helpers.bash

load helpers

# The directory as both hosts see it, without the test's own files.
leftovers() {
	local host
	for host in A B; do
		on "$host" sh -c "ls -A $1 | grep -vx -e counter -e 'errors.*'" || :
	done
}

@test "lockfile locks taken in turn from both hosts leave nothing behind: no lock, no breaker, no temporary, no .nfs file" {
	count_updates /mnt/v3 -w 120 -m lockfile
	run leftovers "$(work_on /mnt/v3)"
	echo "left: $output"
	[ -z "$output" ]
}

@test "mkdir locks taken in turn from both hosts leave nothing behind" {
	count_updates /mnt/v4.2 -w 120 -m mkdir
	run leftovers "$(work_on /mnt/v4.2)"
	echo "left: $output"
	[ -z "$output" ]
}

@test "fcntl locks taken in turn from both hosts leave only the lock file, which is never removed" {
	count_updates /mnt/v4.2 -w 120 -m fcntl
	run leftovers "$(work_on /mnt/v4.2)"
	echo "left: $output"
	[ "$output" = "lock"$'\n'"lock" ]
}

@test "dlock status on B while A takes and releases a lockfile lock over and over never fails with ESTALE" {
	local dir
	dir=$(work_on /mnt/v3)
	start_holder churn A sh -c "i=0; while [ \$i -lt 30 ]; do $DLOCK -m lockfile $dir/lock true || exit 1; i=\$((i + 1)); done; echo finished"
	run on B -t 120 sh -c "
		n=0
		while [ \$n -lt 40 ]; do
			$DLOCK status -m lockfile $dir/lock >/dev/null 2>>/tmp/status.err
			s=\$?
			[ \$s -lt 64 ] || { echo \"status exited \$s\"; cat /tmp/status.err; exit 1; }
			n=\$((n + 1))
		done
		cat /tmp/status.err; rm -f /tmp/status.err"
	echo "B: $output"
	[ "$status" -eq 0 ]
	[[ $output != *"tale file handle"* ]]
	wait_for 120 holder_said churn finished
}

# On NFS, a file removed while a process on the same client has it open is
# renamed to .nfs* until it is closed, so the directory is not empty yet.
# A waiter reading the owner record at the moment of the release is enough.
@test "a mkdir lock released while another process on the host has its record open is gone afterwards" {
	local lock
	lock=$(work_on /mnt/v3)/lock
	run on A -t 60 bash -c "
		$DLOCK -m mkdir $lock sleep 3 & holder=\$!
		until [ -e $lock/owner ]; do sleep 0.1; done
		exec 3<$lock/owner
		wait \$holder; echo \"holder exited \$?\"
		exec 3<&-
		$DLOCK -m mkdir -w 5 $lock echo next"
	echo "$output"
	[[ $output == *"holder exited 0"* ]]
	[[ $output != *"Directory not empty"* ]]
	[[ $output == *next* ]]
}
