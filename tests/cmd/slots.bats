#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Counting locks, --slots N: at most N holders at once, each in a slot of
# its own (DLOCK_SLOT), for every method; slots of killed holders come
# back; every user must give the same N.  Figures (peak and mean
# occupancy) are printed as "# " lines for the record.
#
# shellcheck disable=SC2016 # the sh -c scripts expand in the inner shell

load helpers

OCCUPY=$BATS_TEST_DIRNAME/slot_occupy.sh

note() {
	echo "# $*" >&3
}

# contend METHOD CONTENDERS SLOTS HOLD: that many dlock processes at once,
# each holding a slot for HOLD seconds in slot_occupy.sh, all of which
# must succeed.
contend() {
	local method=$1 n=$2 slots=$3 hold=$4 i pids=() failed=0
	mkdir "$T/occ"
	echo 0 >"$T/occ/count"
	for ((i = 1; i <= n; i++)); do
		timeout -k 5 60 "$DLOCK" --slots "$slots" -m "$method" -w 30 "$L" \
		    bash "$OCCUPY" "$T/occ" "$i" "$hold" &
		pids+=("$!")
	done
	for i in "${pids[@]}"; do
		wait "$i" || failed=$((failed + 1))
	done
	[ "$failed" -eq 0 ]
}

# The most holders seen inside at once, and the mean number inside over
# the time from the first entry to the last exit.
occupancy() {
	local dir=$1
	peak=$(sort -n "$dir/peaks" | tail -n 1)
	mean=$(for f in "$dir"/in.*; do
		echo "$(cut -d' ' -f2 "$f") $(cat "$dir/out.${f##*/in.}")"
	done | awk '{ held += $2 - $1; if (first == "" || $1 < first) first = $1
		if ($2 > last) last = $2 }
		END { printf "%.2f", held / (last - first) }')
}

check_slots() {
	local method=$1 used
	contend "$method" 10 3 0.3
	[ ! -e "$T/occ/doubles" ] || { cat "$T/occ/doubles"; false; }
	occupancy "$T/occ"
	used=$(cut -d' ' -f1 "$T/occ"/in.* | sort -u | tr '\n' ' ')
	note "$method: 10 contenders, --slots 3: peak occupancy $peak, mean $mean, slots used: $used"
	[ "$peak" -le 3 ]
	[ "$peak" -eq 3 ]
	[ "$used" = "1 2 3 " ]
	[ "$(cat "$T/occ/count")" -eq 0 ]
}

@test "fcntl: 10 contenders for 3 slots: never more than 3 inside, all 3 slots used" {
	check_slots fcntl
}

@test "flock: 10 contenders for 3 slots: never more than 3 inside, all 3 slots used" {
	check_slots flock
}

@test "lockfile: 10 contenders for 3 slots: never more than 3 inside, all 3 slots used" {
	check_slots lockfile
}

@test "mkdir: 10 contenders for 3 slots: never more than 3 inside, all 3 slots used" {
	check_slots mkdir
}

@test "auto: 10 contenders for 3 slots: never more than 3 inside, all 3 slots used" {
	check_slots auto
}

# hold_slot NAME OPTIONS...: a background holder of a slot of $L that
# writes its DLOCK_SLOT to $T/slot.NAME once inside.
hold_slot() {
	local name=$1
	shift
	setsid timeout 60 "$DLOCK" "$@" "$L" \
	    sh -c 'echo "$DLOCK_SLOT" >"$1.tmp"; mv "$1.tmp" "$1"; exec sleep 60' \
	    sh "$T/slot.$name" &
	HOLDER_PIDS+=("$!")
	wait_for test -e "$T/slot.$name"
}

check_recovery() {
	local method=$1 killed t0
	hold_slot 1 --slots 3 -m "$method"
	hold_slot 2 --slots 3 -m "$method"
	hold_slot 3 --slots 3 -m "$method"
	[ "$(sort "$T"/slot.? | tr '\n' ' ')" = "1 2 3 " ]
	run timeout 20 "$DLOCK" --slots 3 -m "$method" -n "$L" true
	[ "$status" -eq 1 ]
	killed=$(cat "$T/slot.2")
	kill -KILL -- "-${HOLDER_PIDS[1]}"
	t0=$(now)
	run timeout 20 "$DLOCK" --slots 3 -m "$method" -w 10 "$L" sh -c 'echo "$DLOCK_SLOT"'
	note "$method: slot $killed of a SIGKILLed holder taken again after" \
	    "$(awk -v s="$t0" -v e="$(now)" 'BEGIN { printf "%.3f", e - s }') s"
	[ "$status" -eq 0 ]
	[ "$output" = "$killed" ]
}

@test "lockfile: the slot of a SIGKILLed holder is taken again at once" {
	check_recovery lockfile
}

@test "mkdir: the slot of a SIGKILLed holder is taken again at once" {
	check_recovery mkdir
}

@test "fcntl and flock: the slot of a SIGKILLed holder is taken again at once" {
	check_recovery fcntl
	release_holders
	rm -f "$T"/slot.?
	L=$T/other
	check_recovery flock
}

@test "a different --slots from the lock's is an error (65) naming the lock, and nothing runs" {
	hold_slot 1 --slots 3 -m lockfile
	run timeout 20 "$DLOCK" --slots 4 -m lockfile -w 5 "$L" touch "$T/ran"
	echo "$output"
	[ "$status" -eq 65 ]
	[[ $output == "dlock: cannot open lock '$L': it is used with another number of --slots"* ]]
	[ ! -e "$T/ran" ]
	[ "$(cat "$L.slots")" = 3 ]
	# Agreement is also required with no holder at all.
	release_holders
	run timeout 20 "$DLOCK" --slots 2 -m lockfile -w 5 "$L" true
	echo "$output"
	[ "$status" -eq 65 ]
	run timeout 20 "$DLOCK" --slots 3 -m lockfile -w 5 "$L" true
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "DLOCK_SLOT is in 1..N and distinct among concurrent holders, with 5 contenders holding at once" {
	local i pids=()
	mkdir "$T/got"
	# Each stays until all five are inside (for at most 10 s).
	for ((i = 1; i <= 5; i++)); do
		timeout -k 5 60 "$DLOCK" --slots 5 -m lockfile -w 30 "$L" \
		    sh -c 'echo "$DLOCK_SLOT" >"$1/$2"; i=0
			while [ "$(ls "$1" | wc -l)" -lt 5 ] && [ "$i" -lt 500 ]; do
				sleep 0.02; i=$((i + 1)); done
			[ "$i" -lt 500 ]' \
		    sh "$T/got" "$i" &
		pids+=("$!")
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	[ "$(cat "$T"/got/* | sort -n | tr '\n' ' ')" = "1 2 3 4 5 " ]
}

@test "status --slots shows each slot's holder, as text and as JSON" {
	hold_slot 1 --slots 3 -m lockfile
	hold_slot 2 --slots 3 -m lockfile
	run "$DLOCK" status --slots 3 -m lockfile "$L"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "$L: 2 of 3 slots held" ]]
	[ "$(grep -c "^slot [123]: $L.slot[123]: held (lockfile)" <<<"$output")" -eq 2 ]
	[ "$(grep -c "^slot [123]: $L.slot[123]: free (lockfile)" <<<"$output")" -eq 1 ]
	[ "$(grep -c "holder:  alive" <<<"$output")" -eq 2 ]
	run "$DLOCK" status --slots 3 -m lockfile --json "$L"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.slots' <<<"$output")" = 3 ]
	[ "$(jq -r '.held' <<<"$output")" = 2 ]
	[ "$(jq -r '[.slot[] | select(.held)] | length' <<<"$output")" = 2 ]
	[ "$(jq -r '[.slot[] | select(.state == "alive") | .owner.pid > 0] | all' <<<"$output")" = true ]
	release_holders
	# The killed holders' records stay, and are shown dead; a break of
	# each empties the slots.
	wait_for sh -c '"$1" status --slots 3 -m lockfile "$2" | grep -q "holder:  dead"' sh "$DLOCK" "$L"
	for i in 1 2 3; do
		"$DLOCK" break -m lockfile "$L.slot$i" || true
	done
	run "$DLOCK" status --slots 3 -m lockfile "$L"
	[ "$status" -eq 1 ]
	[[ ${lines[0]} == "$L: 0 of 3 slots held" ]]
}

@test "--slots is refused with -s, with a descriptor and out of range (64)" {
	run "$DLOCK" --slots 2 -s "$L" true
	[ "$status" -eq 64 ]
	run "$DLOCK" --slots 0 "$L" true
	[ "$status" -eq 64 ]
	[[ ${lines[0]} == "dlock: --slots '0': out of range" ]]
	run "$DLOCK" --slots 2 3
	[ "$status" -eq 64 ]
	run "$DLOCK" --slots x "$L" true
	[ "$status" -eq 64 ]
}
