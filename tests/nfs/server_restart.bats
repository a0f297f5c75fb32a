#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# The server S restarts (power cut, boot) while host A holds locks and host
# B waits for them.  The export is on S's disk, so every file survives;
# S's statd and NFSv4 client records survive too, so A's kernel reclaims
# its fcntl locks in the grace period.  No second holder, during the grace
# period or after it: A either keeps its lock or is told it lost it (the
# command form exits 71), and B's waiters neither fail nor get in early.

# shellcheck disable=SC2154 # set by helpers.bash

load helpers

# hold NAME MNT OPTIONS...: A holds the lock for a while that outlasts the
# restart, with an occupancy directory made under it, and says when it is
# done; B waits for the same lock and finds the directory gone.
hold_and_wait() {
	local name=$1 dir
	dir=$(work_on "$2")
	shift 2
	# A holder told it lost its lock is ended by dlock's signal, and
	# then gives up its occupancy directory too.
	start_holder "$name-a" A "$DLOCK" "$@" "$dir/$name" sh -c \
	    "trap 'rmdir $dir/$name.occupied; echo ended; exit 143' TERM
	    mkdir $dir/$name.occupied && echo held && sleep 70 & wait \$!
	    rmdir $dir/$name.occupied && echo released"
	wait_for 60 holder_said "$name-a" held
	start_holder "$name-b" B "$DLOCK" --verbose -w 400 "$@" "$dir/$name" sh -c \
	    "if mkdir $dir/$name.occupied; then rmdir $dir/$name.occupied; echo got; else echo overlap; fi"
}

@test "a server restart while A holds fcntl (v3, v4.2) and lockfile locks lets no second holder in, and B's waiters get the locks afterwards" {
	hold_and_wait v3 /mnt/v3 -m fcntl
	hold_and_wait v4 /mnt/v4.2 -m fcntl
	hold_and_wait lockfile /mnt/v3 -m lockfile --stale 60
	sleep 1
	local name t0 t1
	for name in v3 v4 lockfile; do
		! holder_said "$name-b" got
	done
	t0=$(now)
	"$nfs_host" crash S
	timeout -k 5 300 "$repo_root/scripts/nfs-up" >/dev/null 2>&1 3>&-
	t1=$(now)
	note "S was down and booted again in $(elapsed "$t0" "$t1") s"
	for name in v3 v4 lockfile; do
		wait_for 300 holder_exited "$name-a"
		local a_status
		holder_status "$name-a"
		a_status=$holder_rc
		note "$name: A's holder exited $a_status: $(tr '\n' ' ' <"$BATS_TEST_TMPDIR/$name-a.out")" \
		    "$(tr '\n' ' ' <"$BATS_TEST_TMPDIR/$name-a.err")"
		[[ $a_status == 0 || $a_status == 71 ]]
		wait_for 300 holder_exited "$name-b"
		local b_status
		holder_status "$name-b"
		b_status=$holder_rc
		note "$name: B's waiter exited $b_status: $(tr '\n' ' ' <"$BATS_TEST_TMPDIR/$name-b.out")" \
		    "$(tr '\n' ' ' <"$BATS_TEST_TMPDIR/$name-b.err")"
		[ "$b_status" -eq 0 ]
		run cat "$BATS_TEST_TMPDIR/$name-b.out"
		[ "$output" = got ]
		# A that kept its lock released it before B got in.
		if [[ $a_status == 0 ]]; then
			grep -qx released "$BATS_TEST_TMPDIR/$name-a.out"
		fi
	done
}
