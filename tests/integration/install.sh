#!/bin/sh
# `make install` puts lego.h, liblego, the daemons and lego.pc where
# `cc app.c $(pkg-config --cflags --libs lego)` finds them, and the
# installed program runs on the embedded default.
. "$(dirname "$0")/lib.sh"
SRC=${IT_SRC:?}
command -v cc >/dev/null || exit 77
cmake --install "$B" --prefix "$T/prefix" >"$T/install.log" 2>&1 || fail "install: $(tail "$T/install.log")"
pc=$(find "$T/prefix" -name lego.pc | head -1)
[ -n "$pc" ] || fail "lego.pc not installed"
# lego.pc names the configured prefix; point it at this one
sed -i "s|^prefix=.*|prefix=$T/prefix|; s|^libdir=.*|libdir=\${prefix}/$(basename "$(dirname "$(dirname "$pc")")")|; s|^includedir=.*|includedir=\${prefix}/include|" "$pc"
export PKG_CONFIG_PATH=$(dirname "$pc")
# a sanitizer build of liblego needs the sanitizer runtime in the program
SAN=; [ -n "${IT_SANITIZED:-}" ] && SAN="-fsanitize=address,undefined"
cc -O2 $SAN -o "$T/app" "$SRC/examples/bigarray.c" $(pkg-config --cflags --libs lego) -lpthread \
	>"$T/cc.log" 2>&1 || fail "compile with pkg-config: $(cat "$T/cc.log")"
LEGO_EXCACHE_SIZE=4M "$T/app" 32M 2 >"$T/app.out" 2>&1 || fail "installed app: $(cat "$T/app.out")"
grep -q '^OK' "$T/app.out" || fail "installed app: $(cat "$T/app.out")"
pass "installed: cc app.c \$(pkg-config --cflags --libs lego) builds and runs"
