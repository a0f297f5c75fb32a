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

@test "auto uses flock(2) on the local filesystem under /tmp, as flock(1) does" {
	run timeout 10 "$DLOCK" --verbose "$L" true
	[ "$status" -eq 0 ]
	[[ "$output" == *"(flock)"* ]]
}

@test "auto uses fcntl for a byte range on a local filesystem" {
	run timeout 10 "$DLOCK" --verbose --start 10 --length 5 "$L" true
	[ "$status" -eq 0 ]
	[[ "$output" == *"(fcntl)"* ]]
}

@test "auto uses flock(2) for a descriptor, and fcntl for a descriptor's byte range" {
	run timeout 10 bash -c 'exec 9>"$1"; "$2" --verbose 9 && "$2" -u 9 &&
		"$2" --verbose --start 1 --length 1 9' sh "$L" "$DLOCK"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == *"(flock)"* ]]
	[[ "${lines[1]}" == *"(fcntl)"* ]]
}

@test "auto uses flock(2) on tmpfs" {
	[ -d /dev/shm ] || skip "no /dev/shm"
	d=$(mktemp -d /dev/shm/dlock-auto.XXXXXX)
	run timeout 10 "$DLOCK" --verbose "$d/lock" true
	rm -rf "$d"
	[ "$status" -eq 0 ]
	[[ "$output" == *"(flock)"* ]]
}

@test "auto uses flock(2) for a directory, as flock(1) does" {
	run timeout 10 "$DLOCK" --verbose "$T" true
	[ "$status" -eq 0 ]
	[[ "$output" == *"(flock)"* ]]
}

@test "probe explains the choice for a local filesystem" {
	run timeout 10 "$DLOCK" probe "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"method:      flock"* ]]
	[[ "$output" == *"because:     "*"local"* ]]
	[[ "$output" == *"flock(1) users are excluded"* ]]
}

@test "probe --json gives the filesystem, the method and the reason" {
	run timeout 10 "$DLOCK" probe --json "$L"
	[ "$status" -eq 0 ]
	echo "$output" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["method"] == "flock", d
assert d["fstype"] and d["reason"], d'
}

@test "NFS mounted local_lock=all gets a lockfile, and probe says why" {
	record_mount nfs4 server:/export rw,vers=4.2,local_lock=all
	run hooked probe "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"method:      lockfile"* ]]
	[[ "$output" == *"local_lock=all"* ]]
	[[ "$output" == *"flock(1) users are not excluded"* ]]
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
	[[ "$output" == *"flock(2) is sent as a whole-file fcntl lock; flock(1) users are excluded"* ]]
}

@test "NFS mounted local_lock=flock gets fcntl, and probe says flock(1) is not excluded" {
	record_mount nfs4 server:/export rw,vers=4.2,local_lock=flock
	run hooked probe "$L"
	[[ "$output" == *"method:      fcntl"* ]]
	[[ "$output" == *"flock(1) users are not excluded"* ]]
}

@test "an unknown FUSE filesystem gets a lockfile" {
	record_mount fuse.sshfs user@host:/srv rw,user_id=0,group_id=0
	run hooked probe "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"filesystem:  fuse.sshfs"* ]]
	[[ "$output" == *"method:      lockfile"* ]]
}

@test "GlusterFS over FUSE gets flock(2), which its client forwards" {
	record_mount fuse.glusterfs 198.18.0.1:/v0 rw,user_id=0,group_id=0
	run hooked probe "$L"
	[[ "$output" == *"method:      flock"* ]]
	[[ "$output" == *"flock(1) users are excluded"* ]]
	run hooked --verbose --start 0 --length 1 "$L" true
	[[ "$output" == *"(fcntl)"* ]]
}

@test "Lustre without the flock option gets a lockfile" {
	record_mount lustre 10.0.0.1@tcp:/fs rw,localflock
	run hooked probe "$L"
	[[ "$output" == *"method:      lockfile"* ]]
}

@test "ENOLCK from a kernel lock at run time falls back to a lockfile" {
	# NFS whose lock service is down: auto chose fcntl, which fails.
	record_mount nfs server:/export rw,vers=3,local_lock=none
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
