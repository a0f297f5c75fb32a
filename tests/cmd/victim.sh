#!/bin/bash
# SPDX-License-Identifier: ISC
# victim.sh DIR NAME HOLD [stubborn]: the command of the lost-lock and
# --max-time tests.  A shell with a child in its process group (a sleep
# of HOLD seconds, which it waits for), so that a test can see whether a
# signal to the command's group reaches both.  On SIGTERM it notes the
# time in DIR/term.NAME and exits; "stubborn" makes both ignore SIGTERM
# instead, so that only SIGKILL ends them.  It notes "shell child
# wrapper" in DIR/pids.NAME, its entry time in DIR/in.NAME and, if it
# ends by itself, its exit time in DIR/out.NAME, each written by one
# write(2).
dir=$1 name=$2 hold=$3
if [ "${4:-}" = stubborn ]; then
	trap '' TERM
else
	# shellcheck disable=SC2154 # dir and name are set above
	trap 'echo "$EPOCHREALTIME" >"$dir/term.$name"; exit 143' TERM
fi
sleep "$hold" &
echo "$$ $! $PPID" >"$dir/pids.$name"
echo "$EPOCHREALTIME" >"$dir/in.$name"
wait
echo "$EPOCHREALTIME" >"$dir/out.$name"
