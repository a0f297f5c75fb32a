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
