#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Fencing tokens: --token and --print-token, DLOCK_TOKEN, the token in
# dlock status, a torture of killed and paused holders for every method,
# and dlock fence.

load helpers
load stale_helpers

METHODS=(fcntl flock lockfile mkdir auto)

# The options of a method; the name locks get a short lease, as in
# stale.bats, so that a lock whose holder and command both died is
# broken at once and one left half made is broken within seconds.
method_opts() {
	case $1 in
	lockfile | mkdir) echo "-m $1 --stale 3 --heartbeat 0.5" ;;
	*) echo "-m $1" ;;
	esac
}

@test "--token exports DLOCK_TOKEN to the command, one more at each grant, for every method" {
	local m
	for m in "${METHODS[@]}"; do
		# shellcheck disable=SC2046 # the options are words
		run "$DLOCK" $(method_opts "$m") --token "$L.$m" sh -c 'echo "$DLOCK_TOKEN"'
		[ "$status" -eq 0 ] && [ "$output" = 1 ]
		# shellcheck disable=SC2046
		run "$DLOCK" $(method_opts "$m") --token "$L.$m" -c 'echo "$DLOCK_TOKEN"'
		[ "$status" -eq 0 ] && [ "$output" = 2 ]
		[ "$(cat "$L.$m.token")" = 2 ]
	done
}

@test "without --token nothing is read or written, and DLOCK_TOKEN is not set" {
	local m
	for m in "${METHODS[@]}"; do
		# shellcheck disable=SC2046
		run env -u DLOCK_TOKEN "$DLOCK" $(method_opts "$m") "$L.$m" sh -c 'echo "${DLOCK_TOKEN-unset}"'
		[ "$status" -eq 0 ] && [ "$output" = unset ]
		[ ! -e "$L.$m.token" ]
	done
}

@test "shared grants (-s) of the kernel methods each get a token of their own" {
	local m
	for m in fcntl flock; do
		"$DLOCK" -m "$m" -s --token "$L.$m" sh -c 'echo "$DLOCK_TOKEN" >>"$1"; sleep 0.3' sh "$T/shared.$m" &
		"$DLOCK" -m "$m" -s --token "$L.$m" sh -c 'echo "$DLOCK_TOKEN" >>"$1"; sleep 0.3' sh "$T/shared.$m" &
		wait
		[ "$(sort -n "$T/shared.$m" | tr '\n' ' ')" = "1 2 " ]
	done
}

@test "--print-token with a descriptor prints the token once the lock is taken, and the lock stays with the descriptor" {
	exec 9>"$L"
	t=$("$DLOCK" --print-token 9)
	[ "$t" = 1 ]
	run "$DLOCK" -n "$L" true
	[ "$status" -eq 1 ]
	"$DLOCK" -u 9
	t=$("$DLOCK" -s --print-token 9)
	[ "$t" = 2 ]
	exec 9>&-
	[ "$(cat "$L.token")" = 2 ]
}

@test "--print-token with a command prints the token before the command runs" {
	run "$DLOCK" --print-token "$L" sh -c 'echo "ran with $DLOCK_TOKEN"'
	[ "$status" -eq 0 ]
	[ "$output" = "1
ran with 1" ]
}

@test "--token on a descriptor without a path (a pipe) fails with 66 and says why" {
	run bash -c 'echo x | "$1" --token 0' sh "$DLOCK"
	[ "$status" -eq 66 ]
	[[ $output == *"cannot lock descriptor 0: --token needs the path of its file"* ]]
}

@test "--token with --slots or --fair is a usage error" {
	run "$DLOCK" --slots 2 --token "$L" true
	[ "$status" -eq 64 ] && [[ $output == *"--token with --slots or --fair"* ]]
	run "$DLOCK" --fair --print-token "$L" true
	[ "$status" -eq 64 ]
	[ ! -e "$L.token" ]
}

@test "-u with --token is a usage error" {
	exec 9>"$L"
	run "$DLOCK" -u --token 9
	exec 9>&-
	[ "$status" -eq 64 ]
	[[ $output == *"--token"* ]]
}

@test "a token file holding garbage, a symlink, a directory: refused with 66 naming it, left as it is" {
	echo garbage >"$L.token"
	run "$DLOCK" --token "$L" true
	[ "$status" -eq 66 ]
	[[ $output == *"token file '$L.token' is not a regular file holding a token"* ]]
	[ "$(cat "$L.token")" = garbage ]
	# The lock was let go of.
	"$DLOCK" -n "$L" true
	echo 5 >"$T/target"
	ln -s "$T/target" "$L.b.token"
	run "$DLOCK" -m lockfile --token "$L.b" true
	[ "$status" -eq 66 ]
	[ "$(cat "$T/target")" = 5 ] && [ -L "$L.b.token" ]
	[ ! -e "$L.b" ]
	mkdir "$L.c.token"
	run "$DLOCK" -m mkdir --token "$L.c" true
	[ "$status" -eq 66 ]
	[ -d "$L.c.token" ] && [ ! -e "$L.c" ]
}

@test "status shows the holder's token and the last token granted, in text and in JSON" {
	hold -m lockfile --token
	run "$DLOCK" status "$L"
	[ "$status" -eq 0 ]
	[[ $output == *"  token:   1"* ]]
	[[ $output == *"  last token: 1 (in $L.token)"* ]]
	run "$DLOCK" status --json "$L"
	python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["owner"]["token"] == 1, s
assert s["last_token"] == 1, s
' <<<"$output"
	release_holders
	"$DLOCK" -m flock --token "$L.k" true
	"$DLOCK" -m flock --token "$L.k" true
	run "$DLOCK" status -m flock "$L.k"
	[ "$status" -eq 1 ]
	[[ $output == *"  last token: 2 (in $L.k.token)"* ]]
	run "$DLOCK" status --json -m flock "$L.k"
	python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["last_token"] == 2 and not s["held"], s
' <<<"$output"
}

# The critical section of the torture: it proves it is alone (flock -n
# on $T/occupied, dropped by the kernel when it dies), notes its pids for
# the killer, appends the token it was given to the log in one write,
# and stays a few milliseconds.
write_fenced_section() {
	cat >"$T/fenced.sh" <<'EOF'
dir=$1
exec 9>>"$dir/occupied"
if ! flock -n 9; then
	echo "entered while another was inside" >>"$dir/doubles"
fi
echo "$$ $PPID" >"$dir/pids.$$"
echo "${DLOCK_TOKEN:-missing}" >>"$dir/log"
sleep "0.0$((RANDOM % 5))" 9>&-
# Let go of the marker before rm is forked: a child holding its open
# file description would keep it locked after the command was killed,
# and the next holder would find it taken.
exec 9>&-
rm -f "$dir/pids.$$"
EOF
}

# ours PID: PID is still a process of this test (its command line names
# $T), not one that took over its number.
ours() {
	tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qF "$T"
}

# kill_any_wrapper: SIGKILLs one dlock of this test, chosen at random,
# wherever it is: waiting, taking the lock, taking its token, holding.
kill_any_wrapper() {
	local all p
	# shellcheck disable=SC2207 # one pid a line
	all=($(pgrep -f -- "$T" 2>/dev/null)) || return 0
	p=${all[RANDOM % ${#all[@]}]}
	if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = dlock ] && ours "$p" &&
		kill -KILL "$p" 2>/dev/null; then
		echo >>"$T/wrapper_kills"
	fi
}

# killer: until $T/done appears, picks a holder at random and kills its
# command, its wrapper or both, or pauses it for a moment, or kills any
# dlock at a random moment; the actions are counted in $T/kills,
# $T/stops and $T/wrapper_kills.
killer() {
	local files f pids cmd wrapper
	while [ ! -e "$T/done" ]; do
		sleep "0.0$((RANDOM % 3))"
		if ((RANDOM % 5 == 0)); then
			kill_any_wrapper
			continue
		fi
		files=("$T"/pids.*)
		f=${files[RANDOM % ${#files[@]}]}
		pids=$(cat "$f" 2>/dev/null) || continue
		cmd=${pids% *} wrapper=${pids#* }
		case $((RANDOM % 4)) in
		0) ours "$cmd" && kill -KILL "$cmd" 2>/dev/null && echo >>"$T/kills" ;;
		1) ours "$wrapper" && kill -KILL "$wrapper" 2>/dev/null && echo >>"$T/kills" ;;
		2) ours "$wrapper" && ours "$cmd" && kill -KILL "$wrapper" "$cmd" 2>/dev/null && echo >>"$T/kills" ;;
		3) if ours "$cmd" && kill -STOP "$cmd" 2>/dev/null; then
			echo >>"$T/stops"
			sleep 0.1
			kill -CONT "$cmd" 2>/dev/null
		   fi ;;
		esac
	done
}

# torture METHOD: 8 processes x 20 rounds under the killer; every token
# logged, in the order of grants, is above the one before.  The log's
# order is that of the grants because the occupancy check proves that
# one holder at a time was inside.
torture() {
	local m=$1 w r killer_pid workers=() repeats decreases grants
	rm -rf "$T/t" && mkdir "$T/t"
	write_fenced_section
	local TD=$T/t
	for ((w = 0; w < 8; w++)); do
		(
			for ((r = 0; r < 20; r++)); do
				# shellcheck disable=SC2046
				timeout 60 "$DLOCK" $(method_opts "$m") --token -w 30 "$L.$m" \
					bash "$T/fenced.sh" "$TD" 2>>"$TD/errors" || true
			done
		) 2>/dev/null &
		workers+=("$!")
	done
	T=$TD killer &
	killer_pid=$!
	wait "${workers[@]}"
	touch "$TD/done"
	wait "$killer_pid" || true
	grants=$(wc -l <"$TD/log")
	repeats=$(awk 'NR > 1 && $1 == prev { n++ } { prev = $1 } END { print n + 0 }' "$TD/log")
	decreases=$(awk 'NR > 1 && $1 < prev { n++ } { prev = $1 } END { print n + 0 }' "$TD/log")
	figure "$m: 160 attempts, $grants grants logged; $(count "$TD/kills") holders killed, $(count "$TD/stops") paused, $(count "$TD/wrapper_kills") dlocks killed at random moments; $repeats repeats, $decreases decreases; last token $(cat "$L.$m.token")"
	! grep -q missing "$TD/log"
	no_doubles_in "$TD"
	[ "$repeats" -eq 0 ] && [ "$decreases" -eq 0 ]
	[ "$grants" -ge 40 ]
	# The lock is free again, and its next token is above all of them.
	# shellcheck disable=SC2046
	t=$(timeout 30 "$DLOCK" $(method_opts "$m") --print-token -w 20 "$L.$m" true)
	[ "$t" -gt "$(tail -n 1 "$TD/log")" ]
}

count() {
	if [ -e "$1" ]; then wc -l <"$1"; else echo 0; fi
}

no_doubles_in() {
	if [ -s "$1/doubles" ]; then
		cat "$1/doubles" >&2
		return 1
	fi
}

@test "torture, fcntl: 8 processes x 20 rounds with holders killed and paused at random: no token repeats or goes down" {
	torture fcntl
}

@test "torture, flock: 8 processes x 20 rounds with holders killed and paused at random: no token repeats or goes down" {
	torture flock
}

@test "torture, lockfile: 8 processes x 20 rounds with holders killed and paused at random: no token repeats or goes down" {
	torture lockfile
}

@test "torture, mkdir: 8 processes x 20 rounds with holders killed and paused at random: no token repeats or goes down" {
	torture mkdir
}

@test "torture, auto: 8 processes x 20 rounds with holders killed and paused at random: no token repeats or goes down" {
	torture auto
}

@test "fence accepts a token equal to or above the highest seen, and records it" {
	F=$T/state
	DLOCK_TOKEN=3 "$DLOCK" fence "$F"
	[ "$(cat "$F")" = 3 ]
	DLOCK_TOKEN=3 "$DLOCK" fence "$F"
	"$DLOCK" fence --token 7 "$F"
	[ "$(cat "$F")" = 7 ]
}

@test "fence refuses a token below the highest seen with 3, naming both, and leaves the state file" {
	F=$T/state
	"$DLOCK" fence --token 7 "$F"
	run env DLOCK_TOKEN=6 "$DLOCK" fence "$F"
	[ "$status" -eq 3 ]
	[[ $output == *"token 6 is older than token 7 already seen in '$F'"* ]]
	[ "$(cat "$F")" = 7 ]
}

@test "fence without a token, or with a bad one, is a usage error quoting it" {
	F=$T/state
	run env -u DLOCK_TOKEN "$DLOCK" fence "$F"
	[ "$status" -eq 64 ] && [[ $output == *"no token"* ]]
	local bad
	for bad in abc -1 0 1.5 "" 18446744073709551616; do
		run env DLOCK_TOKEN="$bad" "$DLOCK" fence "$F"
		[ "$status" -eq 64 ]
		[[ $output == *"DLOCK_TOKEN '$bad'"* ]]
		run "$DLOCK" fence --token "$bad" "$F"
		[ "$status" -eq 64 ]
		[[ $output == *"--token '$bad'"* ]]
	done
	[ ! -e "$F" ]
}

@test "fence refuses a state file holding garbage, or a symlink, with 65 and leaves it as it is" {
	F=$T/state
	printf 'not a token\n' >"$F"
	run "$DLOCK" fence --token 5 "$F"
	[ "$status" -eq 65 ]
	[[ $output == *"state file '$F' is not a regular file holding a token"* ]]
	[ "$(cat "$F")" = "not a token" ]
	rm "$F"
	echo 2 >"$T/target"
	ln -s "$T/target" "$F"
	run "$DLOCK" fence --token 5 "$F"
	[ "$status" -eq 65 ]
	[ -L "$F" ] && [ "$(cat "$T/target")" = 2 ]
}

@test "8 concurrent fencers never leave the state file below the highest token accepted" {
	F=$T/state
	local i
	for ((i = 0; i < 8; i++)); do
		(
			for ((r = 0; r < 20; r++)); do
				# Rising, as tokens do, but out of step.
				t=$((r * 20 + RANDOM % 50 + 1))
				if "$DLOCK" fence --token "$t" "$F" 2>>"$T/refused.$i"; then
					echo "$t" >>"$T/accepted"
				fi
			done
		) &
	done
	wait
	highest=$(sort -n "$T/accepted" | tail -n 1)
	refused=$(cat "$T"/refused.* | grep -c 'is older than' || true)
	figure "fence: $(wc -l <"$T/accepted") accepted, $refused refused; state $(cat "$F"), highest accepted $highest"
	[ "$(cat "$F")" = "$highest" ]
	[ "$(( $(wc -l <"$T/accepted") + refused ))" -eq 160 ]
}

@test "the cron example of dlock(1): a holder whose token was overtaken is fenced off" {
	F=$T/job.fence
	run "$DLOCK" --token "$L" -- sh -c '"$1" fence "$2" && echo wrote' sh "$DLOCK" "$F"
	[ "$status" -eq 0 ] && [ "$output" = wrote ]
	run "$DLOCK" --token "$L" -- sh -c '"$1" fence "$2" && echo wrote' sh "$DLOCK" "$F"
	[ "$output" = wrote ] && [ "$(cat "$F")" = 2 ]
	# A holder that still has token 1 (it was paused while two others
	# took the lock) is refused.
	run env DLOCK_TOKEN=1 sh -c '"$1" fence "$2" && echo wrote' sh "$DLOCK" "$F"
	[ "$status" -eq 3 ]
	[[ $output != *wrote* ]]
}

@test "shared lockfile and mkdir locks with --token are refused with 69, saying why; fcntl gives shared grants tokens" {
	for m in lockfile mkdir; do
		run "$DLOCK" -s -m "$m" --token "$L.$m" true
		[ "$status" -eq 69 ]
		[[ $output == *"fencing tokens for shared locks need a kernel lock method"* ]]
	done
	run "$DLOCK" -s -m fcntl --token "$L.fcntl" sh -c 'echo "$DLOCK_TOKEN"'
	[ "$status" -eq 0 ] && [ "$output" -ge 1 ]
}

@test "a holder stopped while its lock is taken from it, left running by --on-lost=ignore, has its late write refused by dlock fence (3)" {
	F=$T/state
	# The old holder: its command waits for $T/go, then fences its write.
	setsid "$DLOCK" -m lockfile --stale 2 --heartbeat 0.3 --on-lost=ignore \
	    --token "$L" sh -c 'touch "$1/ready"
		while [ ! -e "$1/go" ]; do sleep 0.05; done
		if "$2" fence "$1/state"; then echo wrote >"$1/late"; else echo "$?" >"$1/late"; fi' \
	    sh "$T" "$DLOCK" 2>"$T/old.err" &
	old=$!
	HOLDER_PIDS+=("$old")
	wait_for test -e "$T/ready"
	pkill -STOP -s "$old"
	# On one host a stopped holder is alive, never stale: its lock is
	# taken away by force here, as another host would after the lease.
	"$DLOCK" break -f -m lockfile "$L"
	# A new holder takes the lock, and writes.
	run timeout 30 "$DLOCK" -m lockfile --stale 2 --token -w 20 "$L" sh -c \
	    '"$1" fence "$2" && echo "$DLOCK_TOKEN"' sh "$DLOCK" "$F"
	[ "$status" -eq 0 ]
	[ "$output" -ge 2 ]
	new=$output
	pkill -CONT -s "$old"
	touch "$T/go"
	wait_for test -s "$T/late"
	echo "# the old holder's late write: fence said $(cat "$T/late"); the state holds $(cat "$F"), the new holder's token $new" >&3
	[ "$(cat "$T/late")" = 3 ]
	[ "$(cat "$F")" = "$new" ]
	wait "$old" || [ "$?" -eq 71 ]
}
