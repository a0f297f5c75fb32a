#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# A lost lock on a real NFS server: host A frozen (its virtual machine
# stopped dead) past the lease while host B takes the lock over; when A
# runs again, its command must be ended at once, never left running
# beside B's.

# shellcheck disable=SC2154 # set by helpers.bash
# shellcheck disable=SC2016 # expanded by the guest's shell

load helpers

setup() {
	load_rig
	make_work_dir
}

teardown() {
	timeout -k 2 10 "$nfs_host" resume A 2>/dev/null || :
	stop_holders
	remove_work_dir
}

# frozen_holder MNT METHOD
frozen_holder() {
	local mnt=$1 method=$2 dir t0 t_b t_cont t_end
	dir=$(work_on "$mnt")
	start_holder a A sh -c '"$1" -m "$3" --stale 6 --heartbeat 1 "$2/lock" sh -c "
		mkdir \"\$1/inside\" || echo A >>\"\$1/doubles\"
		echo held
		sleep 600
		echo finished >\"\$1/a_finished\"" sh "$2"; echo "status $?"' sh "$DLOCK" "$dir" "$method"
	wait_for 60 holder_said a held
	"$nfs_host" pause A
	t0=$(now)
	# B's waiter judges A's lock by its lease, by the server's clock.
	run on B -t 120 "$DLOCK" -m "$method" --stale 6 -w 90 "$dir/lock" sh -c '
		rmdir "$1/inside" 2>/dev/null	# the marker of A, frozen, not inside
		mkdir "$1/inside" || echo B >>"$1/doubles"
		echo in; sleep 2; rmdir "$1/inside"' sh "$dir"
	t_b=$(now)
	echo "$output"
	[ "$status" -eq 0 ] && [[ $output == *in* ]]
	t_cont=$(now)
	"$nfs_host" resume A
	wait_for 60 holder_said a 'status '
	t_end=$(now)
	cat "$BATS_TEST_TMPDIR/a.out" "$BATS_TEST_TMPDIR/a.err"
	holder_said a 'status 71'
	grep -q "lost lock" "$BATS_TEST_TMPDIR/a.err"
	run on A test -e "$dir/a_finished"
	[ "$status" -ne 0 ]
	run on A sh -c "cat $dir/doubles 2>/dev/null"
	[ -z "$output" ]
	note "$mnt $method: B got the lock and let it go $(elapsed "$t0" "$t_b") s after A froze (lease 6 s);" \
	    "A's dlock exited 71 $(elapsed "$t_cont" "$t_end") s after A ran again, its command ended"
}

@test "lockfile on NFSv4.2: host A frozen past its lease loses the lock to B, and A's command is ended when A runs again" {
	frozen_holder /mnt/v4.2 lockfile
}

@test "mkdir on an NFSv3 nolock mount: host A frozen past its lease loses the lock to B, and A's command is ended when A runs again" {
	frozen_holder /mnt/v3-nolock mkdir
}
