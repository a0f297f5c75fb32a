#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# Real ENOLCK: a server whose lock manager cannot be found.  The server's
# lock manager is taken out of its portmapper, and the clients mount the
# export through the server's second address, which their lock managers
# have never looked up: every lock call on that mount then fails with
# ENOLCK, as on a server that runs no lock manager at all.  (Stopping a
# client's statd before its first lock does not do it on this kernel: the
# lock call blocks for a minute in the kernel instead.)  At the end the
# server's lock manager is restarted, which registers it again.
#
# There, -m fcntl fails with a clear message (69), auto falls back to a
# lockfile, and processes that fall back at the same moment wait for each
# other like any other waiters.

# shellcheck disable=SC2154 # set by helpers.bash

load helpers

enolck_mnt=/mnt/v3-enolck

setup() {
	load_rig
	make_work_dir
	touch "$BATS_TEST_TMPDIR/enolck"
	on S sh -c 'rpcinfo -d 100021 1; rpcinfo -d 100021 3; rpcinfo -d 100021 4' || :
	local host
	for host in A B; do
		on "$host" sh -c "mkdir -p $enolck_mnt && { mountpoint -q $enolck_mnt ||
		    mount -t nfs -o vers=3,nosharecache 198.18.1.1:$DLOCK_NFS_EXPORT $enolck_mnt; }"
	done
}

teardown() {
	stop_holders
	local host
	for host in A B; do
		on "$host" sh -c "umount -f $enolck_mnt || umount -l $enolck_mnt" || :
	done
	# nfsd starts the lock manager again, registered, in a new grace period.
	on S sh -c 'rpc.nfsd 0 && rpc.nfsd 8' || :
	restore_rig
	remove_work_dir
}

@test "on a server without a lock manager, -m fcntl fails with exit 69 and says why" {
	local t0
	t0=$(now)
	run on B -t 90 "$DLOCK" -m fcntl -n "$(work_on "$enolck_mnt")/lock" echo got
	note "-m fcntl without a lock manager: exit $status after $(elapsed "$t0" "$(now)") s: $output"
	[ "$status" -eq 69 ]
	[[ $output != *got* ]]
	[[ $output == *"$(work_on "$enolck_mnt")/lock"* ]]
	[[ $output == *lock* ]]
}

@test "on a server without a lock manager, auto falls back to a lockfile lock" {
	run on B -t 90 "$DLOCK" --verbose "$(work_on "$enolck_mnt")/lock" echo got
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *got* ]]
	[[ $output == *lockfile* ]]
}

# The figure of the issue: 4 processes x 25 runs of dlock -w 25 L cmd
# where the lock calls fail with ENOLCK; here two processes on each host.
@test "processes falling back at the same moment wait for each other: 100 runs of dlock -w 25, none fails, none overlaps" {
	workers=2 rounds=25 count_updates "$enolck_mnt" -w 25
}
