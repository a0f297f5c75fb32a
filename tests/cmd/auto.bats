#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# -m auto chooses the method from the filesystem; dlock probe explains it.
# Mounts not at hand (NFS, Lustre, an unknown FUSE filesystem) are fed as
# recorded mount-table lines to the test build, $DLOCK_HOOKED.

load helpers

# record_mount FSTYPE SOURCE OPTIONS: a mount table whose only line puts
# $T on a filesystem of that type, with device 0:4242.
record_mount() {
	printf '99 1 0:4242 / %s rw,relatime shared:1 - %s %s %s\n' \
		"$T" "$1" "$2" "$3" >"$T/mountinfo"
	export DLOCK_TEST_MOUNTINFO=$T/mountinfo DLOCK_TEST_DEV=0:4242
	# Not a local filesystem's statfs magic (0x6969 is NFS's).
	export DLOCK_TEST_FSMAGIC=0x6969
}

hooked() {
	[ -n "${DLOCK_HOOKED:-}" ] || skip "DLOCK_HOOKED (the test build) not set"
	timeout 20 "$DLOCK_HOOKED" "$@"
}

@test "auto uses fcntl on the local filesystem under /tmp" {
	run timeout 10 "$DLOCK" --verbose "$L" true
	[ "$status" -eq 0 ]
	[[ "$output" == *"(fcntl)"* ]]
}

@test "auto uses fcntl on tmpfs" {
	[ -d /dev/shm ] || skip "no /dev/shm"
	d=$(mktemp -d /dev/shm/dlock-auto.XXXXXX)
	run timeout 10 "$DLOCK" --verbose "$d/lock" true
	rm -rf "$d"
	[ "$status" -eq 0 ]
	[[ "$output" == *"(fcntl)"* ]]
}

@test "auto uses flock(2) for a directory, as flock(1) does" {
	run timeout 10 "$DLOCK" --verbose "$T" true
	[ "$status" -eq 0 ]
	[[ "$output" == *"(flock)"* ]]
}

@test "probe explains the choice for a local filesystem" {
	run timeout 10 "$DLOCK" probe "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"method:      fcntl"* ]]
	[[ "$output" == *"because:     "*"local"* ]]
}

@test "probe --json gives the filesystem, the method and the reason" {
	run timeout 10 "$DLOCK" probe --json "$L"
	[ "$status" -eq 0 ]
	echo "$output" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["method"] == "fcntl", d
assert d["fstype"] and d["reason"], d'
}

@test "NFS mounted local_lock=all gets a lockfile, and probe says why" {
	record_mount nfs4 server:/export rw,vers=4.2,local_lock=all
	run hooked probe "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"method:      lockfile"* ]]
	[[ "$output" == *"local_lock=all"* ]]
	run hooked --verbose "$L" cat "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"(lockfile)"* ]]
	[[ "$output" == *"dlock/1 method=lockfile "* ]]
	[ ! -e "$L" ]
}

@test "NFS mounted nolock gets a lockfile" {
	record_mount nfs server:/export rw,vers=3,nolock,local_lock=all
	run hooked --verbose "$L" true
	[ "$status" -eq 0 ]
	[[ "$output" == *"(lockfile)"* ]]
}

@test "NFS with its lock service gets fcntl" {
	record_mount nfs4 server:/export rw,vers=4.2,local_lock=none
	run hooked --verbose "$L" true
	[ "$status" -eq 0 ]
	[[ "$output" == *"(fcntl)"* ]]
	run hooked probe "$L"
	[[ "$output" == *"method:      fcntl"* ]]
}

@test "an unknown FUSE filesystem gets a lockfile" {
	record_mount fuse.sshfs user@host:/srv rw,user_id=0,group_id=0
	run hooked probe "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"filesystem:  fuse.sshfs"* ]]
	[[ "$output" == *"method:      lockfile"* ]]
}

@test "GlusterFS over FUSE gets fcntl" {
	record_mount fuse.glusterfs 198.18.0.1:/v0 rw,user_id=0,group_id=0
	run hooked probe "$L"
	[[ "$output" == *"method:      fcntl"* ]]
}

@test "Lustre without the flock option gets a lockfile" {
	record_mount lustre 10.0.0.1@tcp:/fs rw,localflock
	run hooked probe "$L"
	[[ "$output" == *"method:      lockfile"* ]]
}

@test "ENOLCK from a kernel lock at run time falls back to a lockfile" {
	export DLOCK_TEST_ENOLCK=1
	run hooked --verbose "$L" cat "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"fell back to a lockfile"* ]]
	[[ "$output" == *"dlock/1 method=lockfile "* ]]
}

@test "ENOLCK with -m fcntl given is an error (69), not a silent fallback" {
	export DLOCK_TEST_ENOLCK=1
	run hooked -m fcntl "$L" true
	[ "$status" -eq 69 ]
	[[ "$output" == *"No locks available"* ]]
}
