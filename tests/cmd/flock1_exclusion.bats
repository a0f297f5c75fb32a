#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# By default dlock takes the lock util-linux flock(1) takes, so scripts
# moved to dlock one by one and scripts still calling flock(1) exclude
# each other on one path, in both directions, by path and by descriptor.

load helpers

setup_file() {
	command -v flock >/dev/null || skip "util-linux flock(1) is not installed"
}

@test "flock(1) holding a path makes dlock -n on it busy, and the other way round" {
	hold_with_flock1
	run timeout 10 "$DLOCK" -n "$L" true
	[ "$status" -eq 1 ]
	release_holders
	hold
	run timeout 10 flock -n "$L" true
	[ "$status" -eq 1 ]
	run timeout 10 flock -s -n "$L" true
	[ "$status" -eq 1 ]
}

@test "a shared dlock lock and a shared flock(1) lock are held together, an exclusive one of either is refused" {
	hold -s
	run timeout 10 flock -s -n "$L" "$DLOCK" -s -n "$L" echo both
	[ "$status" -eq 0 ]
	[ "$output" = both ]
	run timeout 10 flock -x -n "$L" true
	[ "$status" -eq 1 ]
}

# worker TOOL: ROUNDS read-modify-write rounds of the shared counter,
# each under TOOL's lock; a round that finds another inside marks overlap.
worker() {
	local tool=$1 i
	for ((i = 0; i < ROUNDS; i++)); do
		timeout 60 "$tool" "$L" sh -c '
			mkdir "$1/inside" 2>/dev/null || touch "$1/overlap"
			n=$(cat "$1/count")
			sleep 0.005
			echo $((n + 1)) >"$1/count"
			rmdir "$1/inside"' sh "$T" || touch "$T/failed"
	done
}

@test "4 dlock and 4 flock(1) processes contending for one path never overlap and lose no update" {
	ROUNDS=12
	echo 0 >"$T/count"
	local pids=() k
	for k in 1 2 3 4; do
		worker "$DLOCK" &
		pids+=("$!")
		worker flock &
		pids+=("$!")
	done
	for k in "${pids[@]}"; do
		wait "$k"
	done
	[ ! -e "$T/failed" ]
	[ ! -e "$T/overlap" ]
	[ "$(cat "$T/count")" -eq $((8 * ROUNDS)) ]
}

@test "a descriptor locked by flock(1) makes dlock on the path busy, and the other way round" {
	run timeout 20 bash -c '
		exec 9>"$1"
		flock -n 9 || exit 90
		"$2" -n "$1" true && exit 91
		flock -u 9
		"$2" -n 9 || exit 92
		flock -n "$1" true && exit 93
		"$2" -u 9
		flock -n "$1" true || exit 94' sh "$L" "$DLOCK"
	[ "$status" -eq 0 ]
}

@test "a read-only descriptor takes an exclusive lock, as with flock(1): exec 200<\"\$0\"; dlock -n 200" {
	printf '#!/bin/sh\n' >"$T/script"
	run timeout 20 bash -c '
		exec 200<"$1"
		"$2" -n 200 || exit 90
		flock -n "$1" true && exit 91
		exit 0' sh "$T/script" "$DLOCK"
	[ "$status" -eq 0 ]
}

@test "a write-only descriptor takes a shared lock: exec 9>file; dlock -s 9" {
	run timeout 20 bash -c '
		exec 9>"$1"
		"$2" -s 9 || exit 90
		flock -s -n "$1" true || exit 91
		flock -x -n "$1" true && exit 92
		exit 0' sh "$L" "$DLOCK"
	[ "$status" -eq 0 ]
}

@test "a read-only descriptor with --fcntl cannot be locked exclusively, and exits 65, flock(1)'s status for it" {
	touch "$L"
	run timeout 20 bash -c 'exec 200<"$1"; "$2" --fcntl -n 200' sh "$L" "$DLOCK"
	[ "$status" -eq 65 ]
	[[ "$output" == "dlock: "*"read-only"* ]]
}
