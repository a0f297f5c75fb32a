#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# Fencing tokens across two hosts sharing one GlusterFS volume: every
# grant, from either host, gets a token above every earlier grant's.
# Needs scripts/cluster-up to have been run.
#
# shellcheck disable=SC2154 # work_a, on_host and the like come from helpers
# shellcheck disable=SC2016 # the sh -c scripts expand in the inner shell

load helpers

DLOCK=${DLOCK:-$repo_root/build/dlock}

note() {
	echo "# $*" >&3
}

host_dir() {
	if [ "$1" = A ]; then echo "$work_a"; else echo "$work_b"; fi
}

# tokens_across_hosts METHOD WORKERS ROUNDS: WORKERS processes on each
# host each take the lock ROUNDS times with --token.  Under the lock, each
# compares its token with the last one granted, kept on the shared volume,
# notes a token not above it, and writes its own; every token is also
# logged on this machine, one log per host, to count repeats.
tokens_across_hosts() {
	local method=$1 workers=$2 rounds=$3 pids=() h i failed
	local tmp=$BATS_TEST_TMPDIR grants repeats
	echo 0 >"$work_a/last"
	: >"$tmp/not-above"
	for h in A B; do
		: >"$tmp/log.$h"
		for ((i = 0; i < workers; i++)); do
			timeout -k 5 240 "$on_host" "$h" sh -c '
				dlock=$1 method=$2 dir=$3 rounds=$4 bad=$5 log=$6
				i=0
				while [ "$i" -lt "$rounds" ]; do
					"$dlock" -m "$method" --token "$dir/lock" sh -c "
						last=\$(cat \"\$1/last\")
						if [ \"\$DLOCK_TOKEN\" -le \"\$last\" ]; then
							echo \"\$DLOCK_TOKEN after \$last\" >>\"\$2\"
						fi
						echo \"\$DLOCK_TOKEN\" >\"\$1/last\"
						echo \"\$DLOCK_TOKEN\" >>\"\$3\"" sh "$dir" "$bad" "$log" || exit 1
					i=$((i + 1))
				done' sh "$DLOCK" "$method" "$(host_dir "$h")" "$rounds" \
				"$tmp/not-above" "$tmp/log.$h" &
			pids+=("$!")
		done
	done
	failed=0
	wait_all "${pids[@]}" || failed=1
	grants=$(cat "$tmp/log.A" "$tmp/log.B" | wc -l)
	repeats=$(cat "$tmp/log.A" "$tmp/log.B" | sort -n | uniq -d | wc -l)
	note "$method across two hosts: $grants grants of $((2 * workers * rounds))" \
	    "($(wc -l <"$tmp/log.A") on A, $(wc -l <"$tmp/log.B") on B)," \
	    "$(wc -l <"$tmp/not-above") not above the one before, $repeats repeats;" \
	    "last token $(cat "$work_a/lock.token")"
	[ "$failed" -eq 0 ]
	[ "$grants" -eq $((2 * workers * rounds)) ]
	[ ! -s "$tmp/not-above" ] && [ "$repeats" -eq 0 ]
	[ "$(cat "$work_a/lock.token")" -eq "$grants" ]
}

@test "lockfile: tokens strictly increase across the two hosts, 3 processes on each" {
	tokens_across_hosts lockfile 3 8
}

@test "fcntl: tokens strictly increase across the two hosts, 3 processes on each" {
	tokens_across_hosts fcntl 3 8
}

@test "flock: tokens strictly increase across the two hosts, 3 processes on each" {
	tokens_across_hosts flock 3 8
}

@test "fcntl shared grants on both hosts get distinct tokens" {
	local pids=() h i tmp=$BATS_TEST_TMPDIR
	for h in A B; do
		: >"$tmp/shared.$h"
		for ((i = 0; i < 2; i++)); do
			timeout -k 5 120 "$on_host" "$h" sh -c '
				i=0
				while [ "$i" -lt 10 ]; do
					"$1" -m fcntl -s --token "$2/lock" sh -c "echo \"\$DLOCK_TOKEN\" >>\"\$1\"" sh "$3" || exit 1
					i=$((i + 1))
				done' sh "$DLOCK" "$(host_dir "$h")" "$tmp/shared.$h" &
			pids+=("$!")
		done
	done
	wait_all "${pids[@]}"
	note "fcntl -s across two hosts: $(cat "$tmp"/shared.* | wc -l) shared grants," \
	    "$(cat "$tmp"/shared.* | sort -n | uniq -d | wc -l) repeats"
	[ "$(cat "$tmp"/shared.* | wc -l)" -eq 40 ]
	[ -z "$(cat "$tmp"/shared.* | sort -n | uniq -d)" ]
}

@test "dlock fence from both hosts: the state file ends at the highest token accepted" {
	local pids=() h tmp=$BATS_TEST_TMPDIR
	for h in A B; do
		: >"$tmp/accepted.$h"
		timeout -k 5 120 "$on_host" "$h" sh -c '
			r=0
			while [ "$r" -lt 15 ]; do
				t=$((r * 10 + $(od -An -N1 -tu1 /dev/urandom) % 20 + 1))
				if "$1" fence --token "$t" "$2/state" 2>/dev/null; then
					echo "$t" >>"$3"
				fi
				r=$((r + 1))
			done' sh "$DLOCK" "$(host_dir "$h")" "$tmp/accepted.$h" &
		pids+=("$!")
	done
	wait_all "${pids[@]}"
	highest=$(cat "$tmp"/accepted.* | sort -n | tail -n 1)
	note "fence across two hosts: $(cat "$tmp"/accepted.* | wc -l) of 30 accepted," \
	    "state $(cat "$work_a/state"), highest accepted $highest"
	[ "$(cat "$work_a/state")" = "$highest" ]
}
