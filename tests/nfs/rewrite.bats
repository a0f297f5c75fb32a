#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# A lockfile's record rewritten while it is held (a token granted, or the
# command recorded after auto fell back to a lockfile).  Over NFS, a
# rename onto a name that other processes of the client have open is made
# in two steps, the file there first renamed aside to .nfs*, so that for a
# moment the lock's name is free: another host's waiter could take it,
# and the rename would then replace its lock.  The record is rewritten in
# place instead, and the lock never leaves its name.

# shellcheck disable=SC2154 # set by helpers.bash

load helpers

@test "a lockfile's record rewritten while another process of its host has the lock open stays in place: no .nfs* name, the new record whole" {
	local dir lock
	dir=$(work_on /mnt/v3)
	lock=$dir/lock
	# The holder is held up at the breaker it takes for the rewrite
	# (its link), with the lock taken.
	start_holder holder A strace -f -o /dev/null -P "$lock.break" \
	    -e trace=link -e inject=link:delay_enter=3000000 \
	    "$DLOCK" -m lockfile --token -w 30 "$lock" \
	    sh -c 'echo "held $DLOCK_TOKEN"; sleep 4; echo done'
	wait_for 30 on A test -s "$lock"
	# Two descriptors on the lock, from another process of A, through
	# the rewrite.
	start_holder opener A sh -c "exec 3<'$lock' 4<'$lock'; echo open; exec sleep 20"
	wait_for 30 holder_said opener open
	wait_for 30 holder_said holder held
	run on A sh -c "ls -A '$dir'; cat '$lock'"
	echo "while held: $output"
	[[ $output != *.nfs* ]]
	[[ $output == *" token=1"* ]]
	run on B "$DLOCK" status "$lock"
	echo "status on B: $output"
	[[ $output =~ token:\ +1 ]]
	wait_for 60 holder_exited holder
	holder_status holder
	echo "the holder: exit $holder_rc: $(cat "$BATS_TEST_TMPDIR"/holder.*)"
	[ "$holder_rc" -eq 0 ]
	holder_said holder "held 1"
	holder_said holder "done"
}
