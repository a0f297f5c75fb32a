#!/bin/bash
# SPDX-License-Identifier: ISC
# occupy.sh DIR NAME HOLD [mark]: the critical section of the stale-lock
# tests, run under the lock.
#
# It proves it is alone with a kernel lock (flock -n) on DIR/occupied,
# which the kernel drops the moment this shell dies: a holder killed in
# the middle leaves nothing behind, and a second occupant finds the lock
# taken and says so in DIR/doubles.  With "mark" it also creates
# DIR/inside with noclobber and removes it on the way out, for holders
# that are never killed.  It notes its pids ("shell wrapper") in
# DIR/pids.NAME and its entry and exit times in DIR/in.NAME and
# DIR/out.NAME, each written by one write(2), so a reader that sees a
# non-empty file sees all of it.  Descriptor 9 is closed for every other
# program, so that nothing outlives the shell holding it.
dir=$1 name=$2 hold=$3 mark=${4:-}
exec 9>>"$dir/occupied"
if ! flock -n 9; then
	echo "$name entered while another was inside" >>"$dir/doubles"
fi
if [ -n "$mark" ]; then
	set -C
	if ! : 2>/dev/null >"$dir/inside"; then
		echo "$name found $dir/inside already there" >>"$dir/doubles"
	fi
	set +C
fi
echo "$$ $PPID" >"$dir/pids.$name"
echo "$EPOCHREALTIME" >"$dir/in.$name"
if [ "$hold" != 0 ]; then
	sleep "$hold" 9>&-
fi
if [ -n "$mark" ]; then
	rm -f "$dir/inside" 9>&-
fi
echo "$EPOCHREALTIME" >"$dir/out.$name"
