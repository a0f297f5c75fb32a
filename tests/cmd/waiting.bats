#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The status line while dlock waits: drawn on a real terminal (a tmux pane,
# read back as a screen; script(1), read back as bytes), never anywhere
# else.

load helpers

# The shared teardown, kept under another name, then the terminal too.
eval "shared_$(declare -f teardown)"
teardown() {
	if [ -n "${TMUX_SOCKET:-}" ]; then
		tmux -S "$TMUX_SOCKET" kill-server 2>/dev/null || true
	fi
	shared_teardown
}

# on_screen WIDTH COMMAND...: runs COMMAND in a detached tmux pane WIDTH
# columns wide, then prints "exit=STATUS" and stays, so that the screen
# can be read until the test ends.
on_screen() {
	local width=$1 cmd
	shift
	need_or_skip tmux
	printf -v cmd '%q ' "$@"
	TMUX_SOCKET=$T/tmux.sock
	tmux -S "$TMUX_SOCKET" -f /dev/null new-session -d -x "$width" -y 8 \
		"$cmd; echo exit=\$?; sleep 60"
}

screen() {
	tmux -S "$TMUX_SOCKET" capture-pane -p
}

screen_shows() {
	screen | grep -q -- "$1"
}

# What the owner record of $L says: record_field pid|child|host.
record_field() {
	sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" "$L"
}

@test "on a terminal, the wait shows one line: the holder's pid, host, command and since when, the time waited and the time left" {
	hold -m lockfile
	on_screen 200 "$DLOCK" -w 30 -m lockfile "$L" true
	wait_for screen_shows "dlock: waiting for"
	pid=$(record_field pid) child=$(record_field child) host=$(record_field host)
	line=$(screen | grep "dlock: waiting for")
	echo "screen: $line"
	[[ $line =~ ^"dlock: waiting for $L, held by pid $pid on $host (command pid $child) since "[0-9]{2}:[0-9]{2}:[0-9]{2}"; waited "[0-9]+s", "[0-9]+s" left"$ ]]
	# Redrawn in place: the count goes on, on the same single line.
	wait_for screen_shows "waited [2-9]s"
	[ "$(screen | grep -c "dlock: waiting for")" -eq 1 ]
	[[ $(screen | head -n 1) == "dlock: waiting for $L,"* ]]
}

@test "when the lock comes free, the line is erased and the command runs" {
	hold -m lockfile
	on_screen 200 "$DLOCK" -w 30 -m lockfile "$L" echo ran
	wait_for screen_shows "dlock: waiting for"
	release_holders
	wait_for screen_shows "exit=0"
	[ "$(screen | grep -c "waiting")" -eq 0 ]
	[ "$(screen | head -n 2)" = "ran
exit=0" ]
}

@test "for a kernel lock, whose holder the kernel does not name, the line says held by another process" {
	hold -m flock
	on_screen 200 "$DLOCK" -m flock "$L" true
	wait_for screen_shows "dlock: waiting for"
	line=$(screen | grep "dlock: waiting for")
	[[ $line =~ ^"dlock: waiting for $L, held by another process; waited "[0-9]+s", no timeout"$ ]]
}

@test "a wait that times out on a terminal exits 1 and leaves no line behind" {
	hold
	on_screen 200 "$DLOCK" -w 1.5 "$L" echo ran
	wait_for screen_shows "dlock: waiting for"
	[[ $(screen) == *"s left"* ]]
	wait_for screen_shows "exit="
	[ "$(screen | head -n 1)" = "exit=1" ]
	[ "$(screen | grep -c "waiting")" -eq 0 ]
}

@test "the line is cut to the terminal's width instead of wrapping" {
	hold -m lockfile
	on_screen 50 "$DLOCK" -w 30 -m lockfile "$L" true
	wait_for screen_shows "dlock: waiting"
	sleep 0.6
	[ "$(screen | grep -c .)" -eq 1 ]
	[ "$(screen | head -n 1 | wc -m)" -le 51 ]
}

@test "each redraw is a carriage return, the line and an erase to its end; the last write erases it" {
	need_or_skip script
	hold -m lockfile
	(sleep 1.2; release_holders) &
	TERM=xterm script -q -e -c "$DLOCK -w 30 -m lockfile --verbose $L echo ran" \
		"$T/typescript" </dev/null >/dev/null
	# Carriage returns and escapes made visible.
	sed 's/\r/<CR>/g; s/\x1b/<ESC>/g' "$T/typescript" >"$T/seen"
	cat "$T/seen"
	grep -q '<CR>dlock: waiting for [^<]*<ESC>\[K<CR>dlock: waiting for' "$T/seen"
	grep -q '<ESC>\[K<CR><ESC>\[Kdlock: [-0-9T:.]* exclusive lock on' "$T/seen"
	# Nothing but redraws while waiting: no newline inside the wait.
	[ "$(grep -c '<CR>dlock: waiting for' "$T/seen")" -eq 1 ]
}

@test "with stderr not a terminal, the wait writes nothing to it" {
	hold -m lockfile
	run "$DLOCK" -w 1 -m lockfile "$L" true
	[ "$status" -eq 1 ]
	[ -z "$output" ]
}

@test "with stderr redirected away from the terminal, nothing is drawn, even though stdout is the terminal" {
	need_or_skip script
	hold -m lockfile
	script -q -e -c "$DLOCK -w 1 -m lockfile $L true 2>$T/stderr" \
		"$T/typescript" </dev/null >/dev/null || status=$?
	[ "${status:-0}" -eq 1 ]
	[ ! -s "$T/stderr" ]
	[ "$(grep -c "waiting" "$T/typescript")" -eq 0 ]
}

@test "-n on a terminal gives up at once without drawing" {
	need_or_skip script
	hold -m lockfile
	script -q -e -c "$DLOCK -n -m lockfile $L true" "$T/typescript" \
		</dev/null >/dev/null || status=$?
	[ "${status:-0}" -eq 1 ]
	[ "$(grep -c "waiting" "$T/typescript")" -eq 0 ]
}
