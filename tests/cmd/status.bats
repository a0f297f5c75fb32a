#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# dlock status tells who holds a lock and whether it is alive, and why;
# dlock break removes a stale lock, and with -f any lock, and says whose.

# Each test runs in a process of its own, and each sh -c script expands
# its own arguments.
# shellcheck disable=SC2016,SC2030,SC2031

load helpers
load stale_helpers

# field_of KEY FILE: the value of KEY in the owner record in FILE.
field_of() {
	sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$2"
}

@test "status of a lock held by a command shows its pid, host, start and command, and says alive" {
	hold -m lockfile
	pid=$(field_of pid "$L")
	child=$(field_of child "$L")
	[ "$(pgrep -P "${HOLDER_PIDS[0]}" -x dlock)" = "$pid" ]
	[ -n "$child" ]
	# No -m: the record at the path says which method holds it.
	run timeout 10 "$DLOCK" status "$L"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$L: held (lockfile)" ]
	[[ "$output" == *"owner:   pid $pid on $(this_host) (this host)"* ]]
	[[ "$output" == *"command: pid $child"* ]]
	[[ "$output" == *"since:   $(date +%Y-%m-%d)"* ]]
	[[ "$output" == *"holder:  alive: held on this host: its command, pid $child, is running"* ]]
}

@test "status of an mkdir lock held by a command says alive, without -m" {
	hold -m mkdir
	run timeout 10 "$DLOCK" status "$L"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$L: held (mkdir)" ]
	[[ "$output" == *"holder:  alive: "* ]]
}

@test "status of a dead holder's lock says dead and why" {
	dead=$(a_dead_pid)
	write_record "$L" "$dead" 1
	run timeout 10 "$DLOCK" status "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"owner:   pid $dead on $(this_host) (this host)"* ]]
	[[ "$output" == *"holder:  dead: held on this host: pid $dead is gone"* ]]
}

@test "status of a lock held on another host says unknown within its lease, dead past it" {
	write_record "$L" 4242 1 otherhost
	run timeout 10 "$DLOCK" status --stale 5 "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"owner:   pid 4242 on otherhost"$'\n'* ]]
	[[ "$output" == *"holder:  unknown: held by pid 4242 on otherhost, refreshed 0 s ago, within its 5 s lease"* ]]
	touch -d '-1 minute' "$L"
	run timeout 10 "$DLOCK" status --stale 5 "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"holder:  dead: held by pid 4242 on otherhost, silent for 6"?" s, past its 5 s lease"* ]]
}

@test "status of a legacy record says what it is, with -m lockfile" {
	echo 4242 >"$L"
	run timeout 10 "$DLOCK" status -m lockfile "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"owner:   pid 4242"$'\n'* ]]
	[[ "$output" == *"unknown: held by pid 4242 with no host named (a legacy record)"* ]]
}

@test "status --json parses and has the holder's fields" {
	hold -m lockfile
	run timeout 10 "$DLOCK" status --json "$L"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | python3 -c '
import json, sys
s = json.load(sys.stdin)
want = {"path", "held", "state", "method", "owner", "stale", "reason"}
assert want <= set(s), s
assert s["held"] is True and s["state"] == "alive", s
assert s["method"] == "lockfile", s
o = s["owner"]
assert {"pid", "host", "child", "since", "same_host"} <= set(o), o
assert o["pid"] == int(sys.argv[1]) and o["child"] == int(sys.argv[2]), o
assert o["host"] == sys.argv[3] and o["same_host"] is True, o
assert o["since"] > 0 and "running" in s["reason"], s
' "$(field_of pid "$L")" "$(field_of child "$L")" "$(this_host)"
}

@test "status --json of a free lock and of a lease-judged one parse too" {
	run timeout 10 "$DLOCK" status --json -m lockfile "$L"
	[ "$status" -eq 1 ]
	printf '%s\n' "$output" | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["held"] is False and s["state"] == "free" and "owner" not in s, s
'
	write_record "$L" 4242 1 "odd\"host\\"
	run timeout 10 "$DLOCK" status --json "$L"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["state"] == "unknown" and 0 <= s["age"] < 5, s
assert s["owner"]["host"] == "odd\"host\\" and s["owner"]["same_host"] is False, s
'
}

@test "status of a free lock exits 1 and creates nothing" {
	run timeout 10 "$DLOCK" status "$L"
	[ "$status" -eq 1 ]
	[[ "${lines[0]}" == "$L: free ("* ]]
	run timeout 10 "$DLOCK" status -m lockfile "$L"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "$L: free (lockfile)" ]
	run timeout 10 "$DLOCK" status -m mkdir "$L"
	[ "$status" -eq 1 ]
	[ "$(find "$T" -mindepth 1 | wc -l)" -eq 0 ]
}

@test "status of a lock in a missing directory exits 66" {
	for m in auto fcntl flock lockfile mkdir; do
		run timeout 10 "$DLOCK" status -m "$m" "$T/missing/lock"
		[ "$status" -eq 66 ] || { echo "-m $m gave $status"; false; }
		[[ "$output" == *"'$T/missing/lock'"*"No such file or directory"* ]]
	done
}

@test "status of a lock held by auto on a local disk says alive, and flock" {
	hold
	run timeout 10 "$DLOCK" status "$L"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$L: held (flock)" ]
	[[ "$output" == *"alive: held by a kernel lock"* ]]
}

@test "status of a held fcntl lock says alive" {
	hold -m fcntl
	run timeout 10 "$DLOCK" status -m fcntl "$L"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$L: held (fcntl)" ]
	[[ "$output" == *"alive: held by a kernel lock"* ]]
}

@test "break removes a stale lock, says whose, and exits 0" {
	dead=$(a_dead_pid)
	write_record "$L" "$dead" 1
	run timeout 10 "$DLOCK" break "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$L: removed the lock of pid $dead on $(this_host) (dead: "* ]]
	[ ! -e "$L" ]
	[ ! -e "$L.break" ]
}

@test "break removes a stale mkdir lock" {
	dead=$(a_dead_pid)
	mkdir "$L"
	RECORD_METHOD="mkdir" write_record "$L/owner" "$dead" 1
	run timeout 10 "$DLOCK" break "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"removed the lock of pid $dead"* ]]
	[ ! -e "$L" ]
	[ ! -e "$L.break" ]
}

@test "break refuses a live lock with exit 1 and says why" {
	hold -m lockfile
	cp "$L" "$T/before"
	run timeout 10 "$DLOCK" break "$L"
	[ "$status" -eq 1 ]
	[[ "$output" == *"lock '$L' is not stale, not removed: held on this host: its command, pid "*" is running (-f removes it anyway)"* ]]
	cmp "$L" "$T/before"
	[ ! -e "$L.break" ]
}

@test "break refuses a lock of another host within its lease" {
	write_record "$L" 4242 1 otherhost
	run timeout 10 "$DLOCK" break --stale 5 "$L"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not stale"*"within its 5 s lease"* ]]
	[ -e "$L" ]
	touch -d '-1 minute' "$L"
	run timeout 10 "$DLOCK" break --stale 5 "$L"
	[ "$status" -eq 0 ]
	[ ! -e "$L" ]
}

@test "break -f removes a live lock and says whose; its holder then reports the lock lost" {
	setsid timeout 30 "$DLOCK" -m lockfile "$L" sh -c 'touch "$1"; sleep 1' sh "$T/ready" 2>"$T/holder.err" &
	HOLDER_PIDS+=("$!")
	wait_for test -e "$T/ready"
	pid=$(field_of pid "$L")
	run timeout 10 "$DLOCK" break -f "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$L: removed the lock of pid $pid on $(this_host) (alive: "* ]]
	[ ! -e "$L" ]
	[ ! -e "$L.break" ]
	got=0
	wait "${HOLDER_PIDS[0]}" || got=$?
	[ "$got" -ne 0 ]
	grep -q "lost" "$T/holder.err"
}

@test "break of a free path says so and exits 66" {
	run timeout 10 "$DLOCK" break "$L"
	[ "$status" -eq 66 ]
	[[ "$output" == *"no lock at '$L'"* ]]
	run timeout 10 "$DLOCK" break -m lockfile "$L"
	[ "$status" -eq 66 ]
	[[ "$output" == *"no lock at '$L'"* ]]
}

@test "break of a kernel lock file is refused with 69, held or not" {
	hold
	run timeout 10 "$DLOCK" break "$L"
	[ "$status" -eq 69 ]
	[[ "$output" == *"'$L' is a kernel lock (flock), released only by its holder"* ]]
	run timeout 10 "$DLOCK" break -m fcntl "$L"
	[ "$status" -eq 69 ]
	[[ "$output" == *"'$L' is a kernel lock (fcntl), released only by its holder"* ]]
	release_holders
	run timeout 10 "$DLOCK" break -f "$L"
	[ "$status" -eq 69 ]
	[ -e "$L" ]
}

@test "break -m lockfile refuses a file under a kernel lock" {
	hold
	touch -d '-1 hour' "$L"
	run timeout 10 "$DLOCK" break -m lockfile --stale 5 "$L"
	[ "$status" -eq 69 ]
	[ -e "$L" ]
}
