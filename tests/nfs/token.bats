#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# Fencing tokens on a real NFS server: every grant, from host A or B, gets
# a token above every earlier grant's, on every mount and method; and
# dlock fence, run from both hosts on one state file, never lets it fall.

# shellcheck disable=SC2154 # set by helpers.bash

load helpers

# Under the lock, each grant compares its token with the last one granted
# (a file on the export, read under the lock), notes a token not above
# it, and writes its own; every token is logged, one log per host.
# shellcheck disable=SC2016 # expanded by the guest's shell
token_worker='
dlock=$1 dir=$2 workers=$3 rounds=$4
shift 4
export dir
work() {
	i=0
	while [ "$i" -lt "$rounds" ]; do
		"$dlock" "$@" --token "$dir/lock" sh -c "
			last=\$(cat \"\$dir/last\")
			[ \"\$DLOCK_TOKEN\" -gt \"\$last\" ] || echo \"\$DLOCK_TOKEN after \$last\" >>\"\$dir/not-above.\$(hostname)\"
			echo \"\$DLOCK_TOKEN\" >\"\$dir/last\"
			echo \"\$DLOCK_TOKEN\" >>\"\$dir/log.\$(hostname)\"" || echo "exit $?" >>"$dir/failures.$(hostname)"
		i=$((i + 1))
	done
}
w=0
while [ "$w" -lt "$workers" ]; do
	work "$@" &
	w=$((w + 1))
done
wait
'

# tokens_across MNT DLOCK-OPTIONS...
tokens_across() {
	local mnt=$1 dir grants repeats not_above failures expected a b
	shift
	dir=$(work_on "$mnt")
	on A sh -c "echo 0 >$dir/last"
	expected=$((2 * workers * rounds))
	on A -t 400 sh -c "$token_worker" sh "$DLOCK" "$dir" "$workers" "$rounds" "$@" &
	a=$!
	on B -t 400 sh -c "$token_worker" sh "$DLOCK" "$dir" "$workers" "$rounds" "$@" &
	b=$!
	wait "$a" || :
	wait "$b" || :
	grants=$(on A sh -c "cat $dir/log.* | wc -l")
	repeats=$(on A sh -c "cat $dir/log.* | sort -n | uniq -d | wc -l")
	not_above=$(on A sh -c "cat $dir/not-above.* 2>/dev/null | wc -l")
	failures=$(on A sh -c "cat $dir/failures.* 2>/dev/null | wc -l")
	note "$mnt $*: $grants grants of $expected, $not_above not above the one before," \
	    "$repeats repeats, $failures failures; last token $(on A cat "$dir/lock.token")"
	[ "$grants" -eq "$expected" ]
	[ "$repeats" -eq 0 ] && [ "$not_above" -eq 0 ] && [ "$failures" -eq 0 ]
}

setup() {
	load_rig
	make_work_dir
}

teardown() {
	stop_holders
	remove_work_dir
}

@test "fcntl on NFSv3: tokens strictly increase across hosts" {
	tokens_across /mnt/v3 -w 200 -m fcntl
}

@test "fcntl on NFSv4.2: tokens strictly increase across hosts" {
	tokens_across /mnt/v4.2 -w 200 -m fcntl
}

@test "lockfile on NFSv4.2: tokens strictly increase across hosts" {
	tokens_across /mnt/v4.2 -w 200 -m lockfile
}

@test "lockfile on an NFSv3 nolock mount: tokens strictly increase across hosts" {
	tokens_across /mnt/v3-nolock -w 200 -m lockfile
}

@test "mkdir on NFSv3: tokens strictly increase across hosts" {
	tokens_across /mnt/v3 -w 200 -m mkdir
}

@test "dlock fence from both hosts: the state file ends at the highest token accepted, lower ones refused" {
	local dir a b
	dir=$(work_on /mnt/v4.2)
	# Tokens 1..20 from A (odd) and B (even), each fenced in turn by its
	# host; a token refused must be below the state seen at the end.
	on A -t 300 sh -c 'd=$2; for t in 1 3 5 7 9 11 13 15 17 19; do "$1" fence --token "$t" "$d/state" >>"$d/a.out" 2>&1; echo "$t $?" >>"$d/a.st"; done' sh "$DLOCK" "$dir" &
	a=$!
	on B -t 300 sh -c 'd=$2; for t in 2 4 6 8 10 12 14 16 18 20; do "$1" fence --token "$t" "$d/state" >>"$d/b.out" 2>&1; echo "$t $?" >>"$d/b.st"; done' sh "$DLOCK" "$dir" &
	b=$!
	wait "$a"
	wait "$b"
	run on A sh -c "cat $dir/a.st $dir/b.st"
	local accepted refused
	accepted=$(printf '%s\n' "$output" | awk '$2 == 0' | wc -l)
	refused=$(printf '%s\n' "$output" | awk '$2 != 0' | wc -l)
	note "dlock fence from A and B: $accepted accepted, $refused refused"
	# The highest token is always accepted, and the state ends there.
	printf '%s\n' "$output" | grep -qx '20 0'
	run on A cat "$dir/state"
	[[ $output == *20* ]]
}
