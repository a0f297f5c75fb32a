#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# make install and make uninstall, and a program built against the
# installed library with pkg-config, as the README and dlock(3) show it.

load helpers

ROOT=$(cd -- "$BATS_TEST_DIRNAME/../.." && pwd)
VERSION=$(sed -n 's/^#define DLOCK_VERSION "\(.*\)"$/\1/p' "$ROOT/include/dlock.h")

# The make that runs these tests must not lend its flags or jobserver to
# the one a test runs.
run_make() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$ROOT" "$@"
}

# Every public function of dlock.h.
functions() {
	grep -o '^[a-z].* \**dlock_[a-z_]*(' "$ROOT/include/dlock.h" |
		sed 's/.*\(dlock_[a-z_]*\)($/\1/' | sort -u
}

# What make install must lay out under PREFIX=/usr, and nothing else.
expected_files() {
	local f
	{
		echo usr/bin/dlock
		echo usr/include/dlock.h
		echo usr/lib/libdlock.a
		echo usr/lib/libdlock.so
		echo usr/lib/libdlock.so.0
		echo "usr/lib/libdlock.so.$VERSION"
		echo usr/lib/pkgconfig/dlock.pc
		echo usr/share/bash-completion/completions/dlock
		echo usr/share/man/man1/dlock.1
		echo usr/share/man/man3/dlock.3
		for f in $(functions); do
			echo "usr/share/man/man3/$f.3"
		done
	} | sort
}

installed_files() {
	(cd "$1" && find . ! -type d | sed 's|^\./||' | sort)
}

# The C example, as the README shows it and as dlock(3) shows it.
readme_example() {
	awk '/^    \/\* example\.c:/ { p = 1 } p { print } p && /^    }$/ { exit }' \
		"$ROOT/README" | sed 's/^    //'
}

# pkg-config for the staged tree: the .pc file names /usr, and the sysroot
# puts the staging directory in front of it.
staged_pkg_config() {
	PKG_CONFIG_SYSROOT_DIR=$T/root PKG_CONFIG_LIBDIR=$T/root/usr/lib/pkgconfig \
		pkg-config "$@"
}

manual_example() {
	awk '/^\.Sh EXAMPLES/ { e = 1 } e && /^\.Bd -literal/ { p = 1; next }
		p && /^\.Ed/ { exit } p { print }' "$ROOT/man/dlock.3" |
		sed -e 's/\\e/\\/g' -e 's/\\&//g'
}

@test "make install DESTDIR=... PREFIX=/usr lays out exactly the program, libraries, header, dlock.pc, man pages and completion" {
	run_make install DESTDIR="$T/root" PREFIX=/usr
	diff -u <(expected_files) <(installed_files "$T/root")
}

@test "libdlock.so links to libdlock.so.0, which links to the versioned file whose soname is libdlock.so.0" {
	run_make install DESTDIR="$T/root" PREFIX=/usr
	lib=$T/root/usr/lib
	[ "$(readlink "$lib/libdlock.so")" = libdlock.so.0 ]
	[ "$(readlink "$lib/libdlock.so.0")" = "libdlock.so.$VERSION" ]
	[ -f "$lib/libdlock.so.$VERSION" ] && [ ! -L "$lib/libdlock.so.$VERSION" ]
	readelf -d "$lib/libdlock.so.$VERSION" | grep -q 'SONAME.*\[libdlock\.so\.0\]'
}

@test "the installed libdlock.a and libdlock.so export exactly the functions of libdlock.map, which are those of dlock.h" {
	run_make install DESTDIR="$T/root" PREFIX=/usr
	lib=$T/root/usr/lib
	sed -n 's/^[[:space:]]*\(dlock_[a-z_]*\);$/\1/p' "$ROOT/lib/libdlock.map" | sort >"$T/map"
	diff -u <(functions) "$T/map"
	# Defined global symbols; the shared object's version node (type A)
	# names the version, not a symbol.
	nm -g --defined-only "$lib/libdlock.a" | awk 'NF == 3 { print $3 }' | sort >"$T/archive"
	diff -u "$T/map" "$T/archive"
	nm -D -g --defined-only --without-symbol-versions "$lib/libdlock.so.$VERSION" |
		awk 'NF == 3 && $2 != "A" { print $3 }' | sort >"$T/shared"
	diff -u "$T/map" "$T/shared"
}

@test "the installed program, dlock.pc and the library's file name carry the version of dlock.h" {
	run_make install DESTDIR="$T/root" PREFIX=/usr
	[ "$("$T/root/usr/bin/dlock" --version)" = "dlock $VERSION" ]
	grep -qx "Version: $VERSION" "$T/root/usr/lib/pkgconfig/dlock.pc"
	grep -qx 'libdir=/usr/lib' "$T/root/usr/lib/pkgconfig/dlock.pc"
	grep -qx 'includedir=/usr/include' "$T/root/usr/lib/pkgconfig/dlock.pc"
}

@test "every function of dlock.h has a man page by its own name that names it" {
	run_make install DESTDIR="$T/root" PREFIX=/usr
	[ -n "$(functions)" ]
	for f in $(functions); do
		page=$T/root/usr/share/man/man3/$f.3
		[ -e "$page" ] || { echo "no page for $f"; false; }
		grep -qx "\.Nm $f\( ,\)\{0,1\}" "$page" || { echo "$page does not name $f"; false; }
		grep -q '^\.Sh RETURN VALUES' "$page" || { echo "$page has no RETURN VALUES"; false; }
	done
}

@test "make uninstall with the same variables leaves nothing behind" {
	run_make install DESTDIR="$T/root" PREFIX=/usr
	run_make uninstall DESTDIR="$T/root" PREFIX=/usr
	run find "$T/root" -mindepth 1
	[ "$status" -eq 0 ]
	[ -z "$output" ] || { echo "left behind: $output"; false; }
}

@test "make uninstall removes only what make install put there" {
	mkdir -p "$T/root/usr/lib/pkgconfig" "$T/root/usr/share/man/man3"
	echo other >"$T/root/usr/lib/pkgconfig/other.pc"
	echo other >"$T/root/usr/share/man/man3/other.3"
	run_make install DESTDIR="$T/root" PREFIX=/usr
	run_make uninstall DESTDIR="$T/root" PREFIX=/usr
	[ "$(installed_files "$T/root")" = "usr/lib/pkgconfig/other.pc
usr/share/man/man3/other.3" ]
}

@test "BINDIR, LIBDIR, INCLUDEDIR, MANDIR, PKGCONFIGDIR and BASHCOMPDIR say where each part goes, and uninstall follows them" {
	dirs=(PREFIX=/opt/d BINDIR=/opt/d/sbin LIBDIR=/opt/d/lib64
		INCLUDEDIR=/opt/d/inc MANDIR=/opt/d/doc/man
		PKGCONFIGDIR=/opt/pc BASHCOMPDIR=/opt/bash)
	run_make install DESTDIR="$T/root" "${dirs[@]}"
	[ -x "$T/root/opt/d/sbin/dlock" ]
	[ -L "$T/root/opt/d/lib64/libdlock.so" ]
	[ -f "$T/root/opt/d/lib64/libdlock.a" ]
	[ -f "$T/root/opt/d/inc/dlock.h" ]
	[ -f "$T/root/opt/d/doc/man/man1/dlock.1" ]
	[ -L "$T/root/opt/d/doc/man/man3/dlock_close.3" ]
	[ -f "$T/root/opt/bash/dlock" ]
	grep -qx 'libdir=/opt/d/lib64' "$T/root/opt/pc/dlock.pc"
	grep -qx 'includedir=/opt/d/inc' "$T/root/opt/pc/dlock.pc"
	[ "$(installed_files "$T/root" | wc -l)" -eq "$(expected_files | wc -l)" ]
	run_make uninstall DESTDIR="$T/root" "${dirs[@]}"
	[ -z "$(find "$T/root" -mindepth 1)" ]
}

@test "the C example of the README is the one of dlock(3)" {
	readme_example >"$T/readme.c"
	manual_example >"$T/manual.c"
	[ -s "$T/readme.c" ]
	grep -q '^#include <dlock.h>$' "$T/readme.c"
	diff -u "$T/readme.c" "$T/manual.c"
}

@test "the C example builds against an installed copy with pkg-config, links libdlock.so.0, and takes the lock" {
	need_or_skip pkg-config cc readelf
	run_make install DESTDIR="$T/root" PREFIX=/usr
	readme_example >"$T/example.c"
	flags=$(staged_pkg_config --cflags --libs dlock)
	[[ $flags == *"-I$T/root/usr/include"* ]]
	# shellcheck disable=SC2086 # the flags are words
	cc -Wall -Wextra -Werror -o "$T/example" "$T/example.c" $flags
	readelf -d "$T/example" | grep -q 'NEEDED.*\[libdlock\.so\.0\]'
	method=$("$DLOCK" probe "$T" | sed -n 's/^method: *//p')
	LD_LIBRARY_PATH=$T/root/usr/lib run "$T/example" "$T/ex.lock"
	[ "$status" -eq 0 ]
	[ "$output" = "holding $T/ex.lock with the $method method" ]
}

@test "the C example waits for a lock that the command holds, and takes it once it is free" {
	need_or_skip pkg-config cc
	run_make install DESTDIR="$T/root" PREFIX=/usr
	readme_example >"$T/example.c"
	# shellcheck disable=SC2046 # the flags are words
	cc -o "$T/example" "$T/example.c" $(staged_pkg_config --cflags --libs dlock)
	# shellcheck disable=SC2016 # expanded by the inner shell
	"$DLOCK" "$L" sh -c 'touch "$1"; sleep 1; touch "$2"' sh \
		"$T/held" "$T/done" &
	holder=$!
	wait_for test -e "$T/held"
	LD_LIBRARY_PATH=$T/root/usr/lib "$T/example" "$L" >"$T/out"
	# It took the lock only after the holder's command had ended.
	[ -e "$T/done" ]
	wait "$holder"
	grep -q "^holding $L with" "$T/out"
}
