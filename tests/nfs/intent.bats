#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# The intent beside a lockfile being made (LOCKPATH.intent) on NFS, which
# has no unnamed files: it is created empty and then written, and one
# found empty for over a second is taken for one left by a kill and
# removed.  A maker held up between the two must then not take the name
# for its own intent: linked, it would make another's record the lock's,
# with both holding it.  strace holds the calls up: the maker's write into
# its intent, then the other's link of the intent it published instead;
# both within the 4 s that -n gives a try on the mount (guard.c).

# shellcheck disable=SC2154 # set by helpers.bash

load helpers

# taken_over HOST: the maker on A, the other process on HOST.  The other
# watches for the maker's intent from its own host (a listing of the
# directory asks the server), so that it looks while the intent is empty.
taken_over() {
	local other=$1 dir lock
	dir=$(work_on /mnt/v3)
	lock=$dir/lock
	start_holder other "$other" sh -c '
		lock=$1
		shift
		echo watching
		i=0
		until ls -A "${lock%/*}" | grep -qx lock.intent; do
			i=$((i + 1))
			[ "$i" -lt 1000 ] || exit 99
			sleep 0.01
		done
		# Empty for over a second by the server clock when looked at.
		sleep 1.2
		exec "$@"' sh "$lock" strace -f -o /dev/null -P "$lock.intent" \
	    -e trace=link -e inject=link:delay_enter=2000000 \
	    "$DLOCK" -m lockfile -n "$lock" echo got
	wait_for 30 holder_said other watching
	start_holder maker A strace -f -o /dev/null -P "$lock.intent" \
	    -e trace=write -e inject=write:delay_enter=3000000 \
	    "$DLOCK" -m lockfile -n "$lock" sh -c 'echo held; sleep 6; echo done'
	wait_for 60 holder_exited other
	holder_status other
	echo "the other, on $other: exit $holder_rc: $(cat "$BATS_TEST_TMPDIR"/other.*)"
	# It removed the empty intent and published its own, whose link
	# then found the lock made: busy, and no error.
	[ "$holder_rc" -eq 1 ]
	! grep -q -e dlock: -e got "$BATS_TEST_TMPDIR"/other.*
	wait_for 60 holder_exited maker
	holder_status maker
	echo "the maker: exit $holder_rc: $(cat "$BATS_TEST_TMPDIR"/maker.*)"
	[ "$holder_rc" -eq 0 ]
	holder_said maker held
	holder_said maker "done"
	run on A sh -c "cd '$dir' && ls -A"
	echo "left in the directory: $output"
	[ -z "$output" ]
}

@test "a maker whose intent was removed while it was written, and replaced by another on the same host, publishes its own record: one holder, no loss, nothing left" {
	taken_over A
}

@test "a maker whose intent was removed while it was written, and replaced by another on another host, publishes its own record: one holder, no loss, nothing left" {
	taken_over B
}
