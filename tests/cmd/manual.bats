#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The manual pages: clean mdoc, and saying what the command does -- its
# usage, options, methods and exit statuses.

load helpers

MAN=$(cd -- "$BATS_TEST_DIRNAME/../../man" && pwd)
ROOT=$(cd -- "$BATS_TEST_DIRNAME/../.." && pwd)

# A page as plain text, without the overstrikes of bold and underline.
rendered() {
	MANWIDTH=80 mandoc -Tascii "$1" | sed 's/.\x08//g'
}

# The text of one section (.Sh NAME) of a rendered page.
section() {
	rendered "$1" | awk -v name="$2" '
		/^[A-Z][A-Z ]*$/ { p = $0 == name; next }
		p { print }'
}

words() {
	tr -s ' \t\n' '\n' | sed '/^$/d'
}

@test "every page is clean under mandoc -Tlint" {
	need_or_skip mandoc
	# From the directory of the pages, so that their references to each
	# other resolve.  The complaints about the system's missing
	# mandoc.db, and references to pages of packages this machine lacks,
	# are about the machine, not the pages.
	cd "$MAN"
	run mandoc -Tlint ./*.1 ./*.3
	echo "$output"
	while IFS= read -r line; do
		case $line in
		"" | *"outdated mandoc.db"*) continue ;;
		*"referenced manual not found: Xr "*)
			ref=${line##*Xr }
			ref=${ref% (*}
			name=${ref% *} sec=${ref#* }
			[[ $name != dlock* ]] || { echo "not found: $ref"; false; }
			! man -w "$sec" "$name" >/dev/null 2>&1 || { echo "$line"; false; }
			;;
		*) echo "lint: $line"; false ;;
		esac
	done <<<"$output"
}

@test "the SYNOPSIS of dlock(1) is the usage of dlock --help, word for word" {
	need_or_skip mandoc
	section "$MAN/dlock.1" SYNOPSIS | words >"$T/synopsis"
	"$DLOCK" --help | awk '/^usage: / || (u && /^ /) { u = 1; print; next } { exit }' |
		sed 's/^usage: //' | words >"$T/usage"
	[ -s "$T/usage" ]
	diff -u "$T/usage" "$T/synopsis"
}

@test "the usage of each subcommand is its line of the SYNOPSIS" {
	need_or_skip mandoc
	section "$MAN/dlock.1" SYNOPSIS | words >"$T/synopsis"
	for sub in status break probe fence; do
		"$DLOCK" "$sub" --help | grep " $sub " | sed 's/^usage: //' | words >"$T/usage"
		[ -s "$T/usage" ]
		grep -qxF -f "$T/usage" "$T/synopsis"
		# The words appear in the SYNOPSIS in this order, together.
		tr '\n' ' ' <"$T/synopsis" | grep -qF "$(tr '\n' ' ' <"$T/usage")"
	done
}

@test "dlock(1) describes every option that dlock --help lists" {
	need_or_skip mandoc
	rendered "$MAN/dlock.1" >"$T/page"
	options=$("$DLOCK" --help | grep -o -- '\(^\| \)-[a-zA-Z-][a-z-]*' | sort -u)
	[ -n "$options" ]
	for opt in $options; do
		grep -q -- "^     $opt\\b\\|^     -[a-zA-Z], .*$opt\\b\\|, $opt\\b" "$T/page" ||
			{ echo "dlock(1) does not describe $opt"; false; }
	done
}

@test "dlock(1) describes the subcommands' options" {
	need_or_skip mandoc
	section "$MAN/dlock.1" DESCRIPTION >"$T/page"
	for opt in --json --force -f --stale --method; do
		grep -q -- "$opt" "$T/page" || { echo "missing $opt"; false; }
	done
}

@test "dlock(1) and the README list every exit status of cmd/cli.h" {
	need_or_skip mandoc
	section "$MAN/dlock.1" "EXIT STATUS" >"$T/exit"
	codes=$(sed -n 's/^#define EXIT_[A-Z_]*[[:space:]]*\([0-9]*\)$/\1/p' "$ROOT/cmd/cli.h")
	[ -n "$codes" ]
	for code in 0 1 $codes; do
		grep -q "^     $code " "$T/exit" || { echo "dlock(1) lacks $code"; false; }
		grep -q "^    $code " "$ROOT/README" || { echo "README lacks $code"; false; }
	done
}

@test "dlock(1) describes every method the command accepts" {
	need_or_skip mandoc
	run "$DLOCK" -m nosuch "$L" true
	methods=$(echo "$output" | sed -n 's/.*(\(.*\)).*/\1/p' | tr -d ,)
	[ -n "$methods" ]
	section "$MAN/dlock.1" DESCRIPTION >"$T/page"
	for m in $methods; do
		grep -q "^     $m " "$T/page" || [ "$m" = auto ] ||
			{ echo "no row for $m in the method table"; false; }
		grep -q "\\b$m\\b" "$T/page"
	done
}

@test "each page's ERRORS name only errno values that the code uses" {
	need_or_skip mandoc
	for page in "$MAN"/*.3; do
		grep -o 'Er E[A-Z0-9]*' "$page" | sed 's/Er //' | sort -u >"$T/errnos"
		while read -r e; do
			grep -rqw "$e" "$ROOT/include" "$ROOT/lib" "$ROOT/cmd" ||
				{ echo "$page: $e appears nowhere in the code"; false; }
		done <"$T/errnos"
	done
}
