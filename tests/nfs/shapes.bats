#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# Counting locks (--slots) and fair waiting (--fair) between hosts A and B
# on a real NFS server.

# shellcheck disable=SC2154 # set by helpers.bash
# shellcheck disable=SC2016 # expanded by the guest's shell

load helpers

OCCUPY=$repo_root/tests/cmd/slot_occupy.sh

setup() {
	load_rig
	make_work_dir
}

teardown() {
	stop_holders
	remove_work_dir
}

# slots_across MNT METHOD: 2 workers on each host each take one of 2
# slots twice.  The occupancy count and the slot claims live in the
# test's directory seen through NFSv4.2, where flock(1) and mkdir hold
# across the hosts whatever the lock's own mount.
slots_across() {
	local mnt=$1 method=$2 occ h i pids=() pid failed=0 peak inside
	occ=$(work_on /mnt/v4.2)/occ
	on A sh -c "mkdir $occ && echo 0 >$occ/count"
	for h in A B; do
		for i in 1 2; do
			on "$h" -t 300 sh -c '
				dlock=$1 method=$2 dir=$3 occ=$4 name=$5 occupy=$6
				for round in 1 2; do
					"$dlock" --slots 2 -m "$method" -w 240 "$dir/lock" \
					    bash "$occupy" "$occ" "$name.$round" 0.5 || exit 1
				done' sh "$DLOCK" "$method" "$(work_on "$mnt")" "$occ" "$h$i" "$OCCUPY" &
			pids+=("$!")
		done
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || failed=$((failed + 1))
	done
	peak=$(on A sh -c "sort -n $occ/peaks | tail -n 1")
	inside=$(on A sh -c "ls $occ | grep -c '^in\\.'")
	note "$mnt $method, 4 workers on two hosts, --slots 2: peak occupancy $peak, $inside entries of 8, $failed failures"
	run on A sh -c "cat $occ/doubles 2>/dev/null"
	[ -z "$output" ]
	[ "$failed" -eq 0 ]
	[ "$peak" -le 2 ]
	[ "$inside" -eq 8 ]
}

@test "fcntl --slots 2 on NFSv4.2 across hosts: never more than 2 inside" {
	slots_across /mnt/v4.2 fcntl
}

@test "lockfile --slots 2 on an NFSv3 nolock mount across hosts: never more than 2 inside" {
	slots_across /mnt/v3-nolock lockfile
}

tickets_are() {
	[ "$(on A sh -c "ls '$1/lock.queue' 2>/dev/null | grep -c '^[0-9]\{12\}$'")" -eq "$2" ]
}

# fair_across MNT METHOD: a holder on A, then 4 waiters alternating
# between the hosts, each started once the one before is in line.
fair_across() {
	local mnt=$1 method=$2 dir i h pids=() order
	dir=$(work_on "$mnt")
	start_holder holder A "$DLOCK" --fair -m "$method" "$dir/lock" \
	    sh -c 'echo held; i=0; while [ ! -e "$1" ] && [ "$i" -lt 2400 ]; do
		sleep 0.05; i=$((i + 1)); done' sh "$dir/release"
	wait_for 60 holder_said holder held
	for ((i = 1; i <= 4; i++)); do
		if ((i % 2)); then h=A; else h=B; fi
		on "$h" -t 300 "$DLOCK" --fair -m "$method" -w 240 "$dir/lock" \
		    sh -c 'echo "$1" >>"$2"' sh "$i$h" "$dir/order" &
		pids+=("$!")
		wait_for 60 tickets_are "$dir" "$i"
	done
	on A touch "$dir/release"
	for i in "${pids[@]}"; do
		wait "$i"
	done
	order=$(on A cat "$dir/order" | tr '\n' ' ')
	note "$mnt $method: waiters queued as 1A 2B 3A 4B were served: $order"
	[ "$order" = "1A 2B 3A 4B " ]
}

@test "lockfile --fair on NFSv4.2 across hosts: waiters are served in the order they came" {
	fair_across /mnt/v4.2 lockfile
}

@test "fcntl --fair on NFSv3 across hosts: waiters are served in the order they came" {
	fair_across /mnt/v3 fcntl
}
