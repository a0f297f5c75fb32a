#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Help, version, and the refusals of malformed command lines.

load helpers

@test "--help prints the usage and exits 0" {
	run "$DLOCK" --help
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "usage: dlock "* ]]
	[[ "$output" == *"--conflict-exit-code"* ]]
}

@test "--version prints the version and exits 0" {
	run "$DLOCK" --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^dlock\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "a lock path alone, not a number, is refused with 64" {
	run "$DLOCK" "$L"
	[ "$status" -eq 64 ]
	[[ "$output" == *"missing command"* ]]
}

@test "a bad timeout is refused with 64 and quoted" {
	for bad in abc -1 1e999 nan inf 0x10 ''; do
		run "$DLOCK" -w "$bad" "$L" true
		[ "$status" -eq 64 ] || { echo "-w '$bad' gave $status"; false; }
		[[ "$output" == *"timeout '$bad'"* ]]
	done
}

@test "a bad -E code is refused with 64 and quoted" {
	for bad in 256 -1 x 1.5; do
		run "$DLOCK" -E "$bad" "$L" true
		[ "$status" -eq 64 ] || { echo "-E '$bad' gave $status"; false; }
		[[ "$output" == *"'$bad'"* ]]
	done
}

@test "-c needs exactly one command string" {
	run "$DLOCK" "$L" -c
	[ "$status" -eq 64 ]
	run "$DLOCK" "$L" -c 'echo a' extra
	[ "$status" -eq 64 ]
}

@test "-o with -F is refused with 64" {
	run "$DLOCK" -o -F "$L" true
	[ "$status" -eq 64 ]
}

@test "an unknown method is refused with 64" {
	run "$DLOCK" -m nfs "$L" true
	[ "$status" -eq 64 ]
	[[ "$output" == *"unknown method 'nfs'"* ]]
}

@test "a huge descriptor number is refused with 64" {
	run "$DLOCK" 99999999999999999999
	[ "$status" -eq 64 ]
}

@test "a negative or overflowing byte range is refused with 64" {
	run "$DLOCK" --start -1 "$L" true
	[ "$status" -eq 64 ]
	run "$DLOCK" --start 9223372036854775807 --length 10 "$L" true
	[ "$status" -eq 64 ]
	run "$DLOCK" --length 99999999999999999999 "$L" true
	[ "$status" -eq 64 ]
}

@test "a usage error is one line naming the fault, then where to read more" {
	run "$DLOCK" -w abc "$L" true
	[ "$status" -eq 64 ]
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" == "dlock: timeout 'abc': "* ]]
	[ "${lines[1]}" = "Try 'dlock --help' for more information." ]
}

@test "getopt's refusals start with dlock:, however dlock was called" {
	cd "$(dirname "$DLOCK")"
	run "./$(basename "$DLOCK")" --no-such-option "$L" true
	[ "$status" -eq 64 ]
	[ "${lines[0]}" = "dlock: unrecognized option '--no-such-option'" ]
	[ "${lines[1]}" = "Try 'dlock --help' for more information." ]
	run "./$(basename "$DLOCK")" -Z "$L" true
	[ "${lines[0]}" = "dlock: unrecognized option '-Z'" ]
	run "./$(basename "$DLOCK")" --shared -Zs --bogus=1 "$L" true
	[ "${lines[0]}" = "dlock: unrecognized option '-Z'" ]
	run "./$(basename "$DLOCK")" --shared --bogus=1 "$L" true
	[ "${lines[0]}" = "dlock: unrecognized option '--bogus'" ]
	run "./$(basename "$DLOCK")" -w
	[ "$status" -eq 64 ]
	[ "${lines[0]}" = "dlock: option '-w' requires an argument" ]
	run "./$(basename "$DLOCK")" --timeout
	[ "${lines[0]}" = "dlock: option '--timeout' requires an argument" ]
}

@test "every long option spelling of flock(1) is accepted" {
	for spelling in --shared --exclusive --nonblocking --nonblock --nb \
	    "--timeout 1" "--wait 1" "--conflict-exit-code 3" --close \
	    --verbose=flock --fcntl "--start 0" "--length 0"; do
		# shellcheck disable=SC2086 # the spelling and its value
		run timeout 10 "$DLOCK" $spelling "$L" echo ran
		[ "$status" -eq 0 ] && [ "${lines[-1]}" = ran ] ||
			{ echo "$spelling: $status $output"; false; }
	done
	run timeout 10 "$DLOCK" --no-fork "$L" echo ran
	[ "$status" -eq 0 ] && [ "$output" = ran ]
	run timeout 10 "$DLOCK" "$L" --command 'echo ran'
	[ "$status" -eq 0 ] && [ "$output" = ran ]
	run timeout 10 bash -c 'exec 9>"$1"; "$2" --fd 9 --command "echo ran" &&
		"$2" --fd 9 -c "echo ran" && "$2" --fd 9 echo ran &&
		"$2" --unlock 9' sh "$L" "$DLOCK"
	[ "$status" -eq 0 ] && [ "$output" = "$(printf 'ran\nran\nran')" ]
}

@test "-c before the lock path is refused unless --fd names a descriptor" {
	run "$DLOCK" -c true "$L"
	[ "$status" -eq 64 ]
	[[ "$output" == *"needs --fd"* ]]
	run timeout 10 bash -c 'exec 9>"$1"; "$2" --fd 9 -c true extra' sh "$L" "$DLOCK"
	[ "$status" -eq 64 ]
}

@test "-u with a command is refused with 64" {
	run timeout 10 bash -c 'exec 9>"$1"; "$2" -u --fd 9 true' sh "$L" "$DLOCK"
	[ "$status" -eq 64 ]
}
