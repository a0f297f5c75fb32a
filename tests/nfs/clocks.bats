#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# Lockfile leases between hosts whose clocks differ: B's clock an hour
# ahead of A's and the server's, then an hour behind.  Leases are judged by
# the file server's clock, so A's lock, kept fresh by its heartbeat, is
# never broken by B; once A's holder is killed, B takes over after --stale
# (not sooner, not an hour later); and dlock status on B gives ages that
# make sense.

# shellcheck disable=SC2154 # set by helpers.bash

load helpers

stale=12

# A's holder runs in a session of its own, so that killing the session
# ends dlock, its command and its keeper together (each has a process
# group of its own), all stopped first so that the keeper cannot release
# the lock as it sees the command go: a crash of the holder with no
# release.
hold_on_a() {
	local lock=$1
	start_holder holder A setsid sh -c \
	    'echo $$ >/tmp/holder.pid; exec "$@"' sh \
	    "$DLOCK" -m lockfile --stale "$stale" "$lock" sh -c 'echo held; exec sleep 600'
	wait_for 60 holder_said holder held
}

kill_holder_on_a() {
	on A bash -c 's=$(</tmp/holder.pid); pkill -STOP -s "$s"; pkill -KILL -s "$s"'
}

check_offset() {
	local offset=$1 lock deadline killed got age status_out
	touch "$BATS_TEST_TMPDIR/clocks"
	"$nfs_host" clock B "$offset"
	lock=$(work_on /mnt/v3)/lock
	hold_on_a "$lock"
	start_holder waiter B "$DLOCK" -m lockfile --stale "$stale" -w 120 "$lock" echo got
	# Over a --stale and more, the heartbeat keeps A's lock fresh.
	deadline=$((SECONDS + stale + 6))
	while ((SECONDS < deadline)); do
		! holder_said waiter got
		sleep 0.5
	done
	status_out=$(on B "$DLOCK" status -m lockfile --stale "$stale" "$lock" 2>&1 || :)
	note "B's clock $offset s off; dlock status on B while A holds: $(tr '\n' ' ' <<<"$status_out")"
	# The lease's age is by the server's clock, so within the lease.
	age=$(sed -n 's/.*refreshed \([0-9][0-9.]*\) s ago.*/\1/p' <<<"$status_out")
	[[ -n $age ]]
	awk -v a="$age" -v s="$stale" 'BEGIN { exit !(a >= 0 && a <= s) }'
	killed=$(now)
	kill_holder_on_a
	wait_for 90 holder_said waiter got
	got=$(now)
	note "B's clock $offset s off: B took over $(elapsed "$killed" "$got") s after A's holder was killed (--stale $stale)"
	awk -v t="$(elapsed "$killed" "$got")" -v s="$stale" \
	    'BEGIN { exit !(t >= s * 2 / 3 - 1 && t <= s + 20) }'
}

@test "with B's clock an hour ahead, A's lockfile with its heartbeat is never broken, and B takes over after --stale once A's holder dies" {
	check_offset 3600
}

@test "with B's clock an hour behind, A's lockfile with its heartbeat is never broken, and B takes over after --stale once A's holder dies" {
	check_offset -3600
}

# Every age dlock status shows on B, for a lock A took seconds ago.
check_status_ages() {
	local offset=$1 lock status_out ago _
	touch "$BATS_TEST_TMPDIR/clocks"
	"$nfs_host" clock B "$offset"
	lock=$(work_on /mnt/v3)/lock
	hold_on_a "$lock"
	status_out=$(on B "$DLOCK" status -m lockfile --stale "$stale" "$lock" 2>&1 || :)
	echo "$status_out"
	# At least one age is shown, and every one is sensible.
	grep -q -- '[0-9] s ago' <<<"$status_out"
	while read -r ago _; do
		echo "an age shown on B: $ago s"
		awk -v a="$ago" 'BEGIN { exit !(a >= 0 && a <= 120) }'
	done < <(grep -o -- '-\{0,1\}[0-9][0-9.]* s ago' <<<"$status_out")
}

@test "with B's clock an hour ahead, dlock status on B shows no age an hour off for A's fresh lock" {
	check_status_ages 3600
}

@test "with B's clock an hour behind, dlock status on B shows no negative age for A's fresh lock" {
	check_status_ages -3600
}
