#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# dlock across two hosts sharing one GlusterFS volume.  Needs
# scripts/cluster-up to have been run.  Figures (updates counted, takeover
# times) are printed as "# " lines for the record.
#
# shellcheck disable=SC2154 # work_a, on_host and the like come from helpers
# shellcheck disable=SC2016 # the sh -c scripts expand in the inner shell

load helpers

DLOCK=${DLOCK:-$repo_root/build/dlock}

# count_updates METHOD WORKERS ROUNDS: WORKERS processes on each host each
# take the lock ROUNDS times and increment a shared counter under it.
count_updates() {
	local method=$1 workers=$2 rounds=$3 pids=() h i
	echo 0 >"$work_a/counter"
	for h in A B; do
		for ((i = 0; i < workers; i++)); do
			timeout -k 5 240 "$on_host" "$h" sh -c '
				dlock=$1 method=$2 dir=$3 rounds=$4
				i=0
				while [ "$i" -lt "$rounds" ]; do
					"$dlock" -m "$method" "$dir/lock" sh -c "
						n=\$(cat '\''$dir/counter'\'')
						echo \$((n + 1)) >'\''$dir/counter'\''" || exit 1
					i=$((i + 1))
				done' sh "$DLOCK" "$method" "$(host_dir "$h")" "$rounds" &
			pids+=("$!")
		done
	done
	wait_all "${pids[@]}"
}

check_exclusion() {
	local method=$1 t0 t1 got
	t0=$(now)
	count_updates "$method" 2 20
	t1=$(now)
	got=$(timeout -k 2 10 "$on_host" A cat "$work_a/counter")
	note "$method across two hosts: $got updates counted of 80 expected," \
	    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
	[ "$got" -eq 80 ]
}

@test "fcntl locks exclude each other across the two hosts: no update lost" {
	check_exclusion fcntl
}

@test "lockfile locks exclude each other across the two hosts: no update lost" {
	check_exclusion lockfile
}

@test "mkdir locks exclude each other across the two hosts: no update lost" {
	check_exclusion mkdir
}

@test "auto chooses flock on both hosts, and probe names GlusterFS" {
	for h in A B; do
		run timeout -k 2 10 "$on_host" "$h" "$DLOCK" probe "$(host_dir "$h")/lock"
		[ "$status" -eq 0 ]
		[[ "$output" == *"filesystem:  fuse.glusterfs"* ]]
		[[ "$output" == *"method:      flock"* ]]
		run timeout -k 2 10 "$on_host" "$h" "$DLOCK" --verbose "$(host_dir "$h")/lock" true
		[[ "$output" == *"(flock)"* ]]
	done
}

@test "flock locks exclude each other across the two hosts: no update lost" {
	check_exclusion flock
}

# hold_on_a METHOD [OPTIONS...]: host A holds the lock until killed.
hold_on_a() {
	local method=$1
	shift
	start_holder A "$BATS_TEST_TMPDIR/ready" "$DLOCK" -m "$method" "$@" \
	    "$work_a/lock.$method" sh -c 'touch "$1"; exec sleep 600' sh "$BATS_TEST_TMPDIR/ready"
}

# crash_host_a: kills host A's filesystem client, as a crash of A would.
crash_host_a() {
	local pid
	pid=$(client_pid "$DLOCK_CLUSTER_A" "$DLOCK_CLUSTER_A_PIDFILE")
	touch "$BATS_TEST_TMPDIR/remount"
	kill -KILL "$pid"
}

# b_gets_it METHOD [OPTIONS...]: one try from host B.
b_gets_it() {
	local method=$1
	shift
	timeout -k 2 10 "$on_host" B "$DLOCK" -m "$method" "$@" -n \
	    "$work_b/lock.$method" true
}

@test "fcntl: when host A crashes holding the lock, host B gets it at once" {
	hold_on_a fcntl
	run b_gets_it fcntl
	[ "$status" -eq 1 ]
	t0=$(now)
	crash_host_a
	wait_for 10 b_gets_it fcntl
	note "fcntl: B took the lock $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }') s after A crashed"
}

# takeover_after_lease METHOD: A holds with a 4 s lease and crashes; B must
# not get in before the lease has run out, and must soon after.
takeover_after_lease() {
	local method=$1 t0 first=""
	hold_on_a "$method" --stale 4 --heartbeat 0.5
	sleep 1
	t0=$(now)
	crash_host_a
	while awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a < 12) }'; do
		if b_gets_it "$method" --stale 4; then
			first=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
			break
		fi
		sleep 0.2
	done
	note "$method: B took the lock $first s after A crashed (lease 4 s, heartbeat 0.5 s)"
	[ -n "$first" ]
	# The last heartbeat came at most 0.5 s before the crash.
	awk -v f="$first" 'BEGIN { exit !(f >= 3.4 && f <= 8) }'
}

@test "lockfile: when host A crashes holding the lock, host B takes it after the lease, not before" {
	takeover_after_lease lockfile
}

@test "mkdir: when host A crashes holding the lock, host B takes it after the lease, not before" {
	takeover_after_lease mkdir
}

@test "a live holder on host A with its heartbeat is never broken by host B" {
	for m in lockfile mkdir; do
		stop_holders
		rm -f "$BATS_TEST_TMPDIR/ready"
		hold_on_a "$m" --stale 2 --heartbeat 0.4
		tries=0
		end=$((SECONDS + 8))
		while ((SECONDS < end)); do
			run b_gets_it "$m" --stale 2
			[ "$status" -eq 1 ] || { echo "$m: B got in: $output"; false; }
			tries=$((tries + 1))
			sleep 0.3
		done
		note "$m: $tries attempts by B over 8 s (4 leases of 2 s) all refused"
	done
}

@test "status on host B describes host A's lock as held by another host" {
	hold_on_a lockfile --stale 30
	run timeout -k 2 10 "$on_host" B "$DLOCK" status -m lockfile --stale 30 "$work_b/lock.lockfile"
	[ "$status" -eq 0 ]
	[[ "$output" == *"owner:   pid "*" on dlock-a"* ]]
	[[ "$output" != *"(this host)"* ]]
	[[ "$output" == *"unknown: held by pid "*" on dlock-a"*"lease"* ]]
}
