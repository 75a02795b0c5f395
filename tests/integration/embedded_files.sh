#!/bin/sh
# With the embedded default (lego-run starting its own monitor, memnode and
# storenode), what a process wrote to a Lego file and never closed reaches
# the store: the storenode ends after the memnode, which writes the data
# back as it exits.  (They ended together, and a process killed with
# SIGKILL after writing 16 MiB left 0 to 2 MiB of it: "exiting with file data
# the storenode has not stored".)  And node's fs works on /lego: libuv
# closes and stats files with syscall(2), reads directories with
# scandir(3) and resolves names with realpath(3), none of which reached
# Lego files (fs.statSync and fs.readdirSync gave ENOENT, and what
# fs.writeFileSync wrote waited in the memnode, unclosed).
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
mkdir -p "$T/store"
# run LOG CMD...: lego-run with the embedded default; its daemons' PIDs
# recorded, and waited for (their exit writes the data back)
run() {
	_log=$1; shift
	env -u LEGO_MONITOR LEGO_STORE_ROOT="$T/store" LEGO_LOG_LEVEL=info "$BIN/lego-run" -- "$@" \
		>"$T/$_log.out" 2>"$T/$_log.log"
	_rc=$?
	_pids=$(sed -n 's/.*embedded monitor .* (pid \([0-9]*\)), memnode pid \([0-9]*\), storenode pid \([0-9]*\).*/\1 \2 \3/p' "$T/$_log.log")
	[ -n "$_pids" ] || fail "$_log: no embedded daemons: $(tail -3 "$T/$_log.log")"
	PIDS="$PIDS $_pids"
	_left=$(wait_gone 30 $_pids) || fail "$_log: daemon $_left still running 30 s after its command"
	return $_rc
}

run killed $PY -c '
import os
fd = os.open("/lego/killed", os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, bytes(range(256)) * 65536)
os.kill(os.getpid(), 9)'
[ $? -eq 137 ] || fail "the python that killed itself exited $?: $(tail -3 "$T/killed.log")"
want=$($PY -c 'import hashlib; print(hashlib.sha256(bytes(range(256)) * 65536).hexdigest())')
got=$(sha256sum <"$T/store/killed" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "a killed process's 16 MiB: the store holds $(stat -c %s "$T/store/killed") bytes, not the same: $(grep -i "error" "$T/killed.log" | tail -2)"
! grep -q "has not stored" "$T/killed.log" || fail "the memnode reported lost file data"
pass "embedded default: 16 MiB written by a process killed with SIGKILL before closing is in the store"

run node node -e '
const fs = require("fs");
fs.mkdirSync("/lego/n/d", {recursive: true});
fs.writeFileSync("/lego/n/x", "abc");
fs.symlinkSync("x", "/lego/n/l");
console.log(fs.statSync("/lego/n/x").size, fs.lstatSync("/lego/n/l").isSymbolicLink(),
	fs.readdirSync("/lego/n").sort().join(","), fs.realpathSync("/lego/n/l"),
	fs.realpathSync.native("/lego/n/l"), fs.readFileSync("/lego/n/l", "utf8"),
	fs.readdirSync("/lego/n", {withFileTypes: true}).filter(e => e.isDirectory()).length);
const fd = fs.openSync("/lego/n/y", "w");
fs.writeSync(fd, "def");
fs.closeSync(fd);
console.log(fs.readFileSync(process.argv[1], "utf8"));' "$T/store/n/y" ||
	fail "node's fs on /lego: $(tail -5 "$T/node.log")"
[ "$(cat "$T/node.out")" = "$(printf '3 true d,l,x /lego/n/x /lego/n/x abc 1\ndef')" ] ||
	fail "node's fs on /lego printed: $(cat "$T/node.out")"
[ "$(cat "$T/store/n/x")" = abc ] || fail "node's fs.writeFileSync: the store holds '$(cat "$T/store/n/x")'"
pass "node's fs on /lego: statSync, lstatSync, readdirSync, realpathSync (and .native), closeSync writes back at once"

# Java's NIO and java.io on /lego: walk, links, toRealPath (libnio calls
# __realpath_chk, the fortified realpath), getCanonicalPath, atomic move
mkdir -p "$T/java"
cat >"$T/java/F.java" <<'JAVA'
import java.io.*;
import java.nio.file.*;
import java.util.stream.*;
public class F {
	public static void main(String[] a) throws Exception {
		Path d = Paths.get("/lego/j");
		Files.createDirectories(d.resolve("sub"));
		Files.writeString(d.resolve("a.txt"), "hello java");
		Files.createSymbolicLink(d.resolve("l"), Paths.get("a.txt"));
		System.out.println(Files.readString(d.resolve("l")) + " " + Files.isSymbolicLink(d.resolve("l")));
		try (Stream<Path> s = Files.walk(d)) {
			System.out.println(s.map(p -> d.relativize(p).toString()).sorted().collect(Collectors.joining(",")));
		}
		System.out.println(d.resolve("l").toRealPath() + " " + new File("/lego/j/l").getCanonicalPath());
		Files.move(d.resolve("a.txt"), d.resolve("b.txt"), StandardCopyOption.ATOMIC_MOVE);
		System.out.println(Files.readString(d.resolve("b.txt")) + " " + Files.exists(d.resolve("l")));
	}
}
JAVA
javac -d "$T/java" "$T/java/F.java" 2>"$T/javac.log" || fail "javac: $(tail -3 "$T/javac.log")"
run java java -cp "$T/java" F || fail "Java's file APIs on /lego: $(grep -v "info:" "$T/java.log" | tail -5)"
[ "$(cat "$T/java.out")" = "$(printf 'hello java true\n,a.txt,l,sub\n/lego/j/a.txt /lego/j/a.txt\nhello java false')" ] ||
	fail "Java's file APIs on /lego printed: $(cat "$T/java.out")"
pass "Java on /lego: Files.walk, symbolic links, toRealPath, getCanonicalPath, ATOMIC_MOVE"
