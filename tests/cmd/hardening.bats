#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Bad input of every kind: a one-line error that names the path or value and
# the cause, a documented exit status, no hang, and nothing lost or followed.

load helpers

# as_nobody CMD...: runs CMD (bounded) without root's power to ignore
# permissions; the test directory must let nobody in.
as_nobody() {
	chmod 755 "$T"
	setpriv --reuid=65534 --regid=65534 --clear-groups timeout 10 "$@"
}

# one_line: the output is exactly one line.
one_line() {
	[ "${#lines[@]}" -eq 1 ] || { printf 'expected one line, got:\n%s\n' "$output"; false; }
}

@test "an empty lock path is refused with 66" {
	run timeout 10 "$DLOCK" "" true
	[ "$status" -eq 66 ]
	one_line
	[[ "$output" == *"''"*"No such file or directory"* ]]
}

@test "a lock path longer than PATH_MAX is refused with 66" {
	long=$T/$(printf 'a%.0s' $(seq 5000))
	run timeout 10 "$DLOCK" "$long" true
	[ "$status" -eq 66 ]
	one_line
	[[ "$output" =~ [Ff]ile\ ?name\ too\ long ]]
}

@test "a lock path whose directory is missing is refused with 66, for every method" {
	for m in fcntl flock lockfile mkdir; do
		run timeout 10 "$DLOCK" -m "$m" "$T/no/such/dir/L" true
		[ "$status" -eq 66 ] || { echo "$m: $status $output"; false; }
		[[ "$output" == *"'$T/no/such/dir/L'"*"No such file or directory"* ]]
	done
}

@test "the lockfile method refuses a directory at the lock path with 66" {
	mkdir "$L"
	run timeout 10 "$DLOCK" -m lockfile "$L" true
	[ "$status" -eq 66 ]
	one_line
	[[ "$output" == *"'$L'"*"is a directory"* ]]
	[ -d "$L" ]
}

@test "the mkdir method refuses a file at the lock path with 66" {
	echo data >"$L"
	run timeout 10 "$DLOCK" -m mkdir "$L" true
	[ "$status" -eq 66 ]
	[[ "$output" == *"'$L'"*"not a directory"* ]]
	[ "$(cat "$L")" = data ]
}

@test "a character device at the lock path is refused with 66, for every method" {
	for m in fcntl flock lockfile mkdir; do
		run timeout 10 "$DLOCK" -m "$m" /dev/null true
		[ "$status" -eq 66 ] || { echo "$m: $status $output"; false; }
		[[ "$output" == *"/dev/null"* ]]
	done
	[ -c /dev/null ]
}

@test "a FIFO at the lock path is refused without hanging, for every method" {
	mkfifo "$L"
	for m in fcntl flock lockfile mkdir; do
		run timeout 10 "$DLOCK" -m "$m" "$L" true
		[ "$status" -eq 66 ] || { echo "$m: $status $output"; false; }
	done
	[ -p "$L" ]
}

@test "a dangling symlink at the lock path is not followed into creating its target" {
	ln -s "$T/target" "$L"
	for m in fcntl flock lockfile mkdir; do
		run timeout 10 "$DLOCK" -m "$m" "$L" true
		[ "$status" -eq 66 ] || { echo "$m: $status $output"; false; }
		[[ "$output" == *"symbolic link"* ]]
		[ ! -e "$T/target" ]
	done
}

@test "a symlink to a file elsewhere is never followed, and the file is unchanged" {
	echo precious >"$T/elsewhere"
	ln -s "$T/elsewhere" "$L"
	for m in fcntl flock lockfile mkdir; do
		run timeout 10 "$DLOCK" -m "$m" "$L" true
		[ "$status" -eq 66 ] || { echo "$m: $status $output"; false; }
	done
	[ "$(cat "$T/elsewhere")" = precious ]
	[ -L "$L" ]
}

@test "a read-only lock file takes exclusive flock(2) locks by default, as with flock(1)" {
	echo data >"$L"
	chmod 444 "$L"
	run as_nobody "$DLOCK" -x "$L" true
	[ "$status" -eq 0 ]
	run as_nobody "$DLOCK" -m flock -x "$L" true
	[ "$status" -eq 0 ]
	[ "$(cat "$L")" = data ]
}

@test "a read-only lock file takes shared fcntl locks; exclusive is refused with 66 and says why" {
	echo data >"$L"
	chmod 444 "$L"
	run as_nobody "$DLOCK" -m fcntl -s "$L" true
	[ "$status" -eq 0 ]
	run as_nobody "$DLOCK" -m fcntl -x "$L" true
	[ "$status" -eq 66 ]
	one_line
	[[ "$output" == *"read-only"* ]]
	[ "$(cat "$L")" = data ]
}

@test "a directory without write permission refuses lockfile and mkdir locks with 73, naming the directory" {
	mkdir "$T/ro"
	chmod 555 "$T/ro"
	for m in lockfile mkdir; do
		run as_nobody "$DLOCK" -m "$m" -w 2 "$T/ro/L" true
		[ "$status" -eq 73 ] || { echo "$m: $status $output"; false; }
		one_line
		[[ "$output" == *"cannot create lock '$T/ro/L': '$T/ro' (of root (uid 0), mode 0555) is not writable by this user"* ]]
	done
	[ -z "$(ls -A "$T/ro")" ]
}

@test "a lock record that cannot be read is an error, not a free lock: 77 at once, saying whose it is" {
	echo "dlock/1 garbage" >"$L"
	chmod 600 "$L"
	run as_nobody "$DLOCK" -m lockfile -w 5 "$L" true
	[ "$status" -eq 77 ]
	one_line
	[[ "$output" == *"its record cannot be read by this user (it belongs to root (uid 0), mode 0600)"* ]]
	[ "$(cat "$L")" = "dlock/1 garbage" ]
}

@test "a read-only filesystem refuses to create a lock with 73" {
	mkdir "$T/rofs"
	mount -t tmpfs -o ro,size=1m tmpfs "$T/rofs" || skip "cannot mount a tmpfs here"
	for m in fcntl lockfile mkdir; do
		run timeout 10 "$DLOCK" -m "$m" "$T/rofs/L" true
		[ "$status" -eq 73 ] || { echo "$m: $status $output"; umount "$T/rofs"; false; }
		[[ "$output" == *"Read-only file system"* ]]
	done
	umount "$T/rofs"
}

@test "a full filesystem refuses to create a lock with 73 and leaves nothing behind" {
	mkdir "$T/full"
	mount -t tmpfs -o size=64k,nr_inodes=8 tmpfs "$T/full" || skip "cannot mount a tmpfs here"
	# Use up the inodes: no file can be created any more.
	for i in $(seq 1 20); do : >"$T/full/f$i" 2>/dev/null || break; done
	for m in fcntl lockfile mkdir; do
		run timeout 10 "$DLOCK" -m "$m" "$T/full/L" true
		[ "$status" -eq 73 ] || { echo "$m: $status $output"; umount "$T/full"; false; }
		[[ "$output" == *"No space left on device"* ]]
	done
	left=0
	for f in "$T/full"/* "$T/full"/.[!.]*; do
		[ -e "$f" ] || continue
		case ${f##*/} in f[0-9]*) ;; *) left=$((left + 1)) ;; esac
	done
	umount "$T/full"
	[ "$left" -eq 0 ]
}

@test "a lockfile lock in a world-writable sticky directory gets the umask's mode" {
	chmod 1777 "$T"
	run timeout 10 sh -c 'umask 027; exec "$1" -m lockfile "$2" stat -c %a "$2"' sh "$DLOCK" "$L"
	[ "$status" -eq 0 ]
	[ "$output" = 640 ]
}

@test "no temporary file is left beside a lockfile after contention and errors" {
	for i in 1 2 3 4; do
		timeout 20 "$DLOCK" -m lockfile "$L" true &
	done
	timeout 20 "$DLOCK" -m lockfile -n "$L" false || true
	wait
	[ -z "$(ls -A "$T")" ]
}

# plant_malformed_record NAME: puts the malformed record NAME at $L.
plant_malformed_record() {
	local host boot ns
	host=$(uname -n)
	boot=$(cat /proc/sys/kernel/random/boot_id)
	ns=$(stat -L -c %i /proc/self/ns/pid)
	case "$1" in
	empty) : >"$L" ;;
	garbage) head -c 300 /dev/urandom >"$L" ;;
	huge) head -c 1048576 /dev/zero | tr '\0' 'x' >"$L" ;;
	negative-pid) echo "dlock/1 method=lockfile pid=-5 host=$host boot=$boot pidns=$ns start=1 time=1 nonce=0123456789abcdef0123456789abcdef" >"$L" ;;
	pid-0) echo "dlock/1 method=lockfile pid=0 host=$host boot=$boot pidns=$ns start=1 time=1 nonce=0123456789abcdef0123456789abcdef" >"$L" ;;
	beyond-pid-max) echo "dlock/1 method=lockfile pid=99999999 host=$host boot=$boot pidns=$ns start=1 time=1 nonce=0123456789abcdef0123456789abcdef" >"$L" ;;
	truncated) printf 'dlock/1 method=lockfile pid=4242 host=%s boot=%s pid' "$host" "$boot" >"$L" ;;
	duplicate-keys) echo "dlock/1 method=lockfile pid=1 pid=2 host=$host boot=$boot pidns=$ns start=1 time=1 nonce=0123456789abcdef0123456789abcdef" >"$L" ;;
	unknown-version) echo "dlock/9 method=lockfile pid=1 host=$host" >"$L" ;;
	esac
}

@test "malformed owner records are held while fresh and taken over once old, never crash" {
	for r in empty garbage negative-pid pid-0 truncated duplicate-keys unknown-version; do
		plant_malformed_record "$r"
		run timeout 10 "$DLOCK" -m lockfile --stale 5 -n "$L" true
		[ "$status" -eq 1 ] || { echo "$r fresh: $status $output"; false; }
		run timeout 10 "$DLOCK" status -m lockfile --stale 5 "$L"
		[ "$status" -eq 0 ] || { echo "$r status: $status $output"; false; }
		[[ "$output" == *"unknown"* ]] || { echo "$r: $output"; false; }
		touch -d '-60 seconds' "$L"
		run timeout 10 "$DLOCK" -m lockfile --stale 5 -n "$L" true
		[ "$status" -eq 0 ] || { echo "$r old: $status $output"; false; }
		[ ! -e "$L" ]
	done
}

@test "a 1 MiB file at a lockfile path is never taken for a stale lock, nor removed" {
	plant_malformed_record huge
	touch -d '-60 seconds' "$L"
	run timeout 10 "$DLOCK" -m lockfile --stale 5 -n "$L" true
	[ "$status" -eq 1 ]
	run timeout 10 "$DLOCK" status -m lockfile --stale 5 "$L"
	[[ "$output" == *"larger than any lock record"* ]]
	[ "$(stat -c %s "$L")" -eq 1048576 ]
}

@test "a record of this host naming a pid beyond pid_max is dead at once" {
	plant_malformed_record beyond-pid-max
	run timeout 10 "$DLOCK" -m lockfile -n "$L" true
	[ "$status" -eq 0 ]
	[ ! -e "$L" ]
}

@test "kernel-lock methods given by -m refuse a path that holds a lockfile or mkdir lock, with 69; auto waits for it" {
	run timeout 20 "$DLOCK" -m lockfile "$L" sh -c '
		"$1" -m fcntl "$2" true; echo "fcntl $?"
		"$1" -m flock "$2" true; echo "flock $?"
		"$1" -n "$2" true; echo "auto $?"' sh "$DLOCK" "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"fcntl 69"* && "$output" == *"flock 69"* && "$output" == *"auto 1"* ]]
	[[ "$output" == *"held by another lock method"* ]]
	run timeout 20 "$DLOCK" -m mkdir "$L.d" sh -c '"$1" -n "$2" true; echo "auto $?"' sh "$DLOCK" "$L.d"
	[[ "$output" == *"auto 1"* ]]
}

@test "byte ranges with a whole-file method are a usage error (64)" {
	for m in flock lockfile mkdir; do
		run timeout 10 "$DLOCK" -m "$m" --start 10 "$L" true
		[ "$status" -eq 64 ] || { echo "$m: $status $output"; false; }
		[[ "$output" == *"byte ranges need -m fcntl"* ]]
	done
}

@test "the lockfile method refuses a file that a kernel-lock holder holds, with 69" {
	hold -m fcntl
	run timeout 10 "$DLOCK" -m lockfile -n "$L" true
	[ "$status" -eq 69 ]
	[[ "$output" == *"held by another lock method"* ]]
	release_holders
	hold_with_flock1
	run timeout 10 "$DLOCK" -m lockfile -w 1 "$L" true
	[ "$status" -eq 69 ]
}
