#!/bin/sh
# The storenode keeps every path inside its root: "..", absolute paths,
# symlinks that point out, NUL bytes and overlong names are refused, and
# nothing outside the root changes.  Requests go straight to the storenode
# (as a tool) and through a process under lego-run.
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/root/in" "$T/outside"
echo secret >"$T/outside/victim"
ln -s "$T/outside" "$T/root/out"          # absolute symlink leaving the root
ln -s ../../outside "$T/root/in/up"       # relative one
ln -s ../in "$T/root/in/self"             # one that stays inside
start_monitor
start_storenode "$T/root"
# check WANT-REGEX OP PATH...: one request, in order; run_checks sends them
# all over one connection (a process per request cost 0.45 s each) and
# compares each result with its WANT.
: >"$T/checks"
check() { printf '%s\n' "$*" >>"$T/checks"; }
run_checks() {
	cut -d' ' -f2- "$T/checks" | "$BIN/lego-test-fileraw" "$STO" - >"$T/results" ||
		fail "fileraw: exit $? after $(wc -l <"$T/results") of $(wc -l <"$T/checks") requests"
	[ "$(wc -l <"$T/results")" -eq "$(wc -l <"$T/checks")" ] ||
		fail "fileraw answered $(wc -l <"$T/results") of $(wc -l <"$T/checks") requests"
	paste -d' ' "$T/results" "$T/checks" | while read -r _got _w _req; do
		echo "$_got" | grep -Eqx "$_w" || { echo "$_req gave $_got, want $_w"; exit 1; }
	done >"$T/bad" || fail "$(cat "$T/bad")"
}
check OK open-creat in/ok
check OK stat in/self/ok
check 'EXDEV' open-creat out    # the link itself may be removed, not followed out
check 'EXDEV' open-creat in/up/new
for p in ../outside/victim ../../etc/passwd in/../../outside/victim /etc/passwd \
	out/victim in/up/victim out/new in/up/new; do
	check 'EXDEV|EACCES|ENOENT' open-creat "$p"
	check 'EXDEV|EACCES|ENOENT' write "$p"
	check 'EXDEV|EACCES|ENOENT' unlink "$p"
	check 'EXDEV|EACCES|ENOENT|EINVAL' rename in/ok "$p"
	check 'EXDEV|EACCES|ENOENT|EEXIST' mkdir "$p/d"
done
check 'EXDEV|EACCES' stat out/victim
check 'EXDEV|EACCES' list out
check 'EXDEV|EACCES' list ..
check 'EINVAL' open-creat 'in/a\0b'
check 'EINVAL' unlink 'in/ok\0'
check 'ENAMETOOLONG' open-creat "in/@300"
check 'ENAMETOOLONG' open-creat "@5000"
check 'EINVAL|EBUSY|EEXIST|ENOTEMPTY' rmdir in/..
check 'EINVAL|EBUSY|EEXIST' rename in/ok in/.
run_checks
[ "$(cat "$T/outside/victim")" = secret ] || fail "the file outside the root changed"
[ "$(ls "$T/outside")" = victim ] || fail "something was created outside the root: $(ls "$T/outside")"
[ -f "$T/root/in/ok" ] || fail "in/ok is gone"
pass "storenode: .., absolute paths, escaping symlinks, NUL and overlong names refused; root and outside untouched"

[ -n "${IT_SANITIZED:-}" ] && exit 0
start_memnode m
# (by default a process follows a link out of the store to a file of its
# own host, as an NFS client does: tests/integration/links.sh; refused here)
LEGO_STORE_LINKS_OUT=refuse $BIN/lego-run --monitor "$MON" -- $PY -c '
import errno, os, sys
bad = []
for p in ["/lego/out/victim", "/lego/in/up/victim", "/lego/out/new", "/lego/in/up/new"]:
    try:
        open(p, "w").write("pwned")
        bad.append(p)
    except OSError as e:
        pass
try:
    open("/lego/" + "a" * 5000, "w")
    bad.append("long")
except OSError as e:
    if e.errno != errno.ENAMETOOLONG: bad.append("long:" + errno.errorcode[e.errno])
print(" ".join(bad) or "none")
' >"$T/py.out" 2>"$T/py.log" || fail "python under lego-run: $(tail -3 "$T/py.log")"
[ "$(cat "$T/py.out")" = none ] || fail "escapes through lego-run succeeded: $(cat "$T/py.out")"
[ "$(cat "$T/outside/victim")" = secret ] || fail "the file outside the root changed"
[ "$(ls "$T/outside")" = victim ] || fail "something was created outside the root: $(ls "$T/outside")"
pass "symlinks out of the root and overlong names fail from Python under lego-run too"
