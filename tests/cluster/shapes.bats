#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# Counting and fair locks across two hosts sharing one GlusterFS volume.
# Needs scripts/cluster-up to have been run.  Figures (occupancy, service
# order) are printed as "# " lines for the record.
#
# shellcheck disable=SC2154 # work_a, on_host and the like come from helpers
# shellcheck disable=SC2016 # the sh -c scripts expand in the inner shell

load helpers

DLOCK=${DLOCK:-$repo_root/build/dlock}
OCCUPY=$repo_root/tests/cmd/slot_occupy.sh

note() {
	echo "# $*" >&3
}

host_dir() {
	if [ "$1" = A ]; then echo "$work_a"; else echo "$work_b"; fi
}

# slots_across METHOD: 3 workers on each host each take one of 2 slots 3
# times, in slot_occupy.sh, whose counter and slot claims live on the
# shared volume under flock(1) and mkdir, which hold across the hosts.
slots_across() {
	local method=$1 h i pids=() pid failed=0 peak used
	mkdir "$work_a/occ"
	echo 0 >"$work_a/occ/count"
	for h in A B; do
		for ((i = 1; i <= 3; i++)); do
			timeout -k 5 240 "$on_host" "$h" sh -c '
				dlock=$1 method=$2 dir=$3 name=$4 occupy=$5
				for round in 1 2 3; do
					"$dlock" --slots 2 -m "$method" -w 120 "$dir/lock" \
					    bash "$occupy" "$dir/occ" "$name.$round" 0.2 || exit 1
				done' sh "$DLOCK" "$method" "$(host_dir "$h")" "$h$i" "$OCCUPY" &
			pids+=("$!")
		done
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || failed=$((failed + 1))
	done
	[ "$failed" -eq 0 ]
	peak=$(sort -n "$work_a/occ/peaks" | tail -n 1)
	used=$(cut -d' ' -f1 "$work_a/occ"/in.* | sort -u | tr '\n' ' ')
	note "$method across two hosts, 6 workers, --slots 2: peak occupancy $peak, slots used: $used"
	[ ! -e "$work_a/occ/doubles" ] || { cat "$work_a/occ/doubles"; false; }
	[ "$peak" -le 2 ]
	[ "$(find "$work_a/occ" -name 'in.*' | wc -l)" -eq 18 ]
}

@test "fcntl --slots 2 across the two hosts: never more than 2 inside" {
	slots_across fcntl
}

@test "lockfile --slots 2 across the two hosts: never more than 2 inside" {
	slots_across lockfile
}

@test "a different --slots on host B from host A's is an error (65)" {
	start_holder A "$BATS_TEST_TMPDIR/ready" "$DLOCK" --slots 2 -m lockfile "$work_a/lock" \
	    sh -c 'touch "$1"; exec sleep 60' sh "$BATS_TEST_TMPDIR/ready"
	run timeout -k 2 20 "$on_host" B "$DLOCK" --slots 3 -m lockfile -w 5 "$work_b/lock" true
	echo "$output"
	[ "$status" -eq 65 ]
}

tickets() {
	find "$work_a/lock.queue" -maxdepth 1 -name '[0-9]*' 2>/dev/null |
	    grep -c '/[0-9]\{12\}$' || true
}

tickets_are() {
	[ "$(tickets)" -eq "$1" ]
}

# fair_across METHOD: a holder on A, then 6 waiters alternating between
# the hosts, each started once the one before is in line; they must be
# served in that order.
fair_across() {
	local method=$1 i h pids=() order
	start_holder A "$BATS_TEST_TMPDIR/ready" "$DLOCK" --fair -m "$method" "$work_a/lock" \
	    sh -c 'touch "$1"; i=0; while [ ! -e "$2" ] && [ "$i" -lt 1200 ]; do
		sleep 0.05; i=$((i + 1)); done' sh "$BATS_TEST_TMPDIR/ready" "$BATS_TEST_TMPDIR/release"
	for ((i = 1; i <= 6; i++)); do
		if ((i % 2)); then h=A; else h=B; fi
		timeout -k 5 120 "$on_host" "$h" "$DLOCK" --fair -m "$method" -w 90 \
		    "$(host_dir "$h")/lock" sh -c 'echo "$1" >>"$2"' sh "$i$h" \
		    "$(host_dir "$h")/order" &
		pids+=("$!")
		wait_for 20 tickets_are "$i"
	done
	touch "$BATS_TEST_TMPDIR/release"
	for i in "${pids[@]}"; do
		wait "$i"
	done
	order=$(tr '\n' ' ' <"$work_a/order")
	note "$method across two hosts: waiters queued as 1A 2B 3A 4B 5A 6B were served: $order"
	[ "$order" = "1A 2B 3A 4B 5A 6B " ]
}

@test "fcntl --fair across the two hosts: waiters alternating between hosts are served in order" {
	fair_across fcntl
}

@test "lockfile --fair across the two hosts: waiters alternating between hosts are served in order" {
	fair_across lockfile
}
