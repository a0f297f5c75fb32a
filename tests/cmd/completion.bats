#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Bash completion (completion/dlock.bash): options, subcommands, methods,
# and the command to run.

load helpers

COMPLETION=$BATS_TEST_DIRNAME/../../completion/dlock.bash

# complete WORD...: what completing the last WORD offers, one per line,
# sorted.  The last word is the one being completed ("" for a new one).
complete_words() {
	# shellcheck source=/dev/null
	source "$COMPLETION"
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMPREPLY=()
	_dlock
	printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort -u
}

@test "the completion registers itself for dlock" {
	# shellcheck source=/dev/null
	source "$COMPLETION"
	[[ $(complete -p dlock) == *"-F _dlock dlock" ]]
}

@test "completing an option offers every option of dlock --help, and no other" {
	complete_words dlock - >"$T/offered"
	"$DLOCK" --help | grep -o -- '\(^\| \)-[a-zA-Z-][a-z-]*' | tr -d ' ' |
		grep -vx -- '-c\|--command' | sort -u >"$T/documented"
	diff -u "$T/documented" "$T/offered"
}

@test "completing a long option completes its name" {
	[ "$(complete_words dlock --conf)" = --conflict-exit-code ]
	[ "$(complete_words dlock --heart)" = --heartbeat ]
	[ "$(complete_words dlock --sl)" = --slots ]
	[ "$(complete_words dlock --fa)" = --fair ]
	[ "$(complete_words dlock status --sl)" = --slots ]
}

@test "the first word offers the subcommands beside lock paths" {
	[ "$(complete_words dlock st)" = status ]
	complete_words dlock "" >"$T/offered"
	grep -qx status "$T/offered"
	grep -qx break "$T/offered"
	grep -qx probe "$T/offered"
}

@test "after -m and --method, the methods are offered" {
	expected=$(printf '%s\n' auto fcntl flock lockfile mkdir)
	[ "$(complete_words dlock -m "")" = "$expected" ]
	[ "$(complete_words dlock -n --method "")" = "$expected" ]
	[ "$(complete_words dlock status -m l)" = lockfile ]
	[ "$(complete_words dlock break --method m)" = mkdir ]
}

@test "a value that is a number is not completed" {
	[ -z "$(complete_words dlock -w "")" ]
	[ -z "$(complete_words dlock --stale "")" ]
	[ -z "$(complete_words dlock -E "")" ]
	[ -z "$(complete_words dlock --slots "")" ]
	[ -z "$(complete_words dlock status --slots "")" ]
}

@test "each subcommand offers its own options" {
	[ "$(complete_words dlock status --j)" = --json ]
	[ "$(complete_words dlock probe --j)" = --json ]
	[ "$(complete_words dlock break -f)" = -f ]
	[ -z "$(complete_words dlock break --j)" ]
	[ -z "$(complete_words dlock probe -f)" ]
}

@test "after the lock path come -c, -- and the command, then the command's arguments" {
	[ "$(complete_words dlock -w 5 "$L" -)" = "--
--command
-c" ]
	mkdir "$T/bin"
	printf '#!/bin/sh\n' >"$T/bin/dlock-test-command"
	chmod +x "$T/bin/dlock-test-command"
	PATH=$T/bin:$PATH
	[ "$(complete_words dlock -w 5 "$L" dlock-test-c)" = dlock-test-command ]
	[ "$(complete_words dlock "$L" -- dlock-test-c)" = dlock-test-command ]
	touch "$T/arg-file"
	[ "$(complete_words dlock -n "$L" cat "$T/arg-")" = "$T/arg-file" ]
	[ -z "$(complete_words dlock "$L" -c "")" ]
}
