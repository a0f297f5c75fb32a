#!/bin/bash
# SPDX-License-Identifier: ISC
# slot_occupy.sh DIR NAME HOLD: the critical section of the counting-lock
# tests, run under a slot.
#
# It claims its slot with an atomic mkdir of DIR/slot.$DLOCK_SLOT, so that
# two holders given one slot say so in DIR/doubles.  It counts the holders
# inside in DIR/count under a kernel lock of its own (flock(1) on
# DIR/count.lock), and appends the count it saw on entry to DIR/peaks.  It
# notes its slot and entry time in DIR/in.NAME and its exit time in
# DIR/out.NAME, each by one write(2).
dir=$1 name=$2 hold=$3
slot=${DLOCK_SLOT:-none}
if ! mkdir "$dir/slot.$slot" 2>/dev/null; then
	echo "$name found slot $slot taken" >>"$dir/doubles"
fi
{
	flock 8
	n=$(($(cat "$dir/count") + 1))
	echo "$n" >"$dir/count"
	echo "$n" >>"$dir/peaks"
} 8>>"$dir/count.lock"
echo "$slot $EPOCHREALTIME" >"$dir/in.$name"
sleep "$hold"
echo "$EPOCHREALTIME" >"$dir/out.$name"
{
	flock 8
	echo $(($(cat "$dir/count") - 1)) >"$dir/count"
} 8>>"$dir/count.lock"
rmdir "$dir/slot.$slot"
