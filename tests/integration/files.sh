#!/bin/sh
# Lego files (docs/storage.md): a Python script doing file work under
# /lego prints the same transcript as on a local directory; the data lands
# in the storenode's directory, never with set-ID bits; processes appending
# at once keep every line; a working directory in /lego works (mkdir -p,
# cd); a second process on the same memnode sees the first one's writes
# after close/open; shells, cat, ls and C stdio work on /lego paths.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
mkdir -p "$T/root" "$T/local"
start_monitor
start_memnode m
start_storenode "$T/root"
export LEGO_MONITOR=$MON
RUN="$BIN/lego-run --"
OPS=$IT_SRC/tests/integration/files_ops.py

$PY "$OPS" "$T/local" >"$T/native.out" 2>"$T/native.log" || fail "files_ops natively"
$RUN $PY "$OPS" /lego/t >"$T/lego.out" 2>"$T/lego.log" || fail "files_ops under lego-run: $(tail -5 "$T/lego.log")"
cmp -s "$T/native.out" "$T/lego.out" ||
	fail "transcripts differ: $(diff "$T/native.out" "$T/lego.out" | head -20)"
[ -d "$T/root/t" ] || fail "the storenode root holds no t/"
pass "python file operations on /lego: $(wc -l <"$T/lego.out") transcript lines equal to a local directory"

# set-user-ID and set-group-ID bits never reach the storenode's files
$RUN $PY -c '
import os
open("/lego/t/suid", "w").write("x")
os.chmod("/lego/t/suid", 0o6755)
os.close(os.open("/lego/t/suid2", os.O_CREAT | os.O_WRONLY, 0o4755))
os.mkdir("/lego/t/sgid", 0o2775)
' 2>"$T/suid.log" || fail "chmod 6755: $(tail -3 "$T/suid.log")"
got=$(stat -c %a "$T/root/t/suid" "$T/root/t/suid2" "$T/root/t/sgid" | tr '\n' ' ')
[ "$got" = "755 755 755 " ] || fail "set-ID bits in the store: modes $got, want 755 755 755"
pass "modes and times as on a local directory (chmod, utime, copy2 in the transcript); set-ID bits dropped"

# processes appending to one file at once (O_APPEND, a log): every line
# there once, whole (each append used to take the size, then write there:
# with 4 writers of 1 500 lines, 2 363-2 871 of the 6 000 lines were left)
$RUN $PY -c '
import os, subprocess, sys
code = """
import os, sys
fd = os.open("/lego/t/log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
for i in range(1000):
    os.write(fd, ("%s:%04d %s\\n" % (sys.argv[1], i, "x" * (i % 50))).encode())
"""
ps = [subprocess.Popen([sys.executable, "-c", code, "w%d" % k]) for k in range(4)]
print(sum(p.wait() for p in ps))
got = open("/lego/t/log").read().splitlines()
want = ["w%d:%04d %s" % (k, i, "x" * (i % 50)) for k in range(4) for i in range(1000)]
print(len(got), sorted(got) == sorted(want))
' >"$T/append.out" 2>"$T/append.log" || fail "appenders: $(tail -3 "$T/append.log")"
[ "$(cat "$T/append.out")" = "$(printf '0\n4000 True')" ] ||
	fail "4 processes appending 1000 lines each: $(cat "$T/append.out")"
pass "4 processes appending to one file at once: all 4000 lines there, whole"

# a file renamed while open and written again (a log rotated under its
# writer): every byte lands in the renamed file (the memnode's cache took
# the descriptor's old name back and its write-back found nothing there:
# all 20 bytes dropped); first a temporary file, unlinked while open, whose
# inode number the file system then gives the log (ext4 does)
got=$($RUN $PY -c '
import os, tempfile
with tempfile.TemporaryFile(dir="/lego/t") as f:
    f.write(b"x" * 100000)
    f.seek(0)
    n = len(f.read())
fd = os.open("/lego/t/rot.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.write(fd, b"before\n")
os.rename("/lego/t/rot.log", "/lego/t/rot.log.1")
os.write(fd, b"after rename\n")
os.fsync(fd)
print(n, os.fstat(fd).st_size)
os.close(fd)
print(repr(open("/lego/t/rot.log.1").read()))
' 2>"$T/rot.log") || fail "rename while open: $(tail -3 "$T/rot.log")"
[ "$got" = "$(printf "100000 20\n'before\\\\nafter rename\\\\n'")" ] || fail "rename while open: $got"
[ "$(cat "$T/root/t/rot.log.1")" = "$(printf 'before\nafter rename')" ] ||
	fail "rename while open: the store holds '$(cat "$T/root/t/rot.log.1")'"
pass "a file renamed while open: written, fsync'ed and fstat'ed after, all of it kept; a temporary file unlinked while open"

# the working directory in /lego: mkdir -p (which changes into each
# directory it makes), cd, relative names, fchdir, a program exec'd there,
# cd .. back out of the store
$RUN sh -c 'mkdir -p /lego/t/w/x/y && cd /lego/t/w && pwd && echo hi >x/y/f && cd x && pwd &&
	cat y/f && "$0" -c "import os; print(os.getcwd(), open(\"y/f\").read().strip())
fd = os.open(\"/lego/t/w/x/y\", os.O_RDONLY); os.fchdir(fd); print(os.getcwd(), os.listdir())" &&
	cd ../.. && pwd && cd /lego && cd .. && pwd' "$PY" >"$T/cwd.out" 2>"$T/cwd.log" ||
	fail "cd into /lego: $(tail -3 "$T/cwd.log")"
want=$(printf '%s\n' /lego/t/w /lego/t/w/x hi "/lego/t/w/x hi" "/lego/t/w/x/y ['f']" /lego/t /)
[ "$(cat "$T/cwd.out")" = "$want" ] || fail "cd into /lego gave: $(cat "$T/cwd.out")"
[ -f "$T/root/t/w/x/y/f" ] || fail "mkdir -p /lego/t/w/x/y and x/y/f did not reach the store"
pass "working directory in /lego: mkdir -p, cd, relative names, fchdir, exec, cd .. out"

# make in a Lego directory: sort of a Lego file (it checks its inputs with
# euidaccess: "cannot read" before), a rebuild after touch (times are kept)
$RUN sh -c 'mkdir -p /lego/t/mk && cd /lego/t/mk && printf "b\na\n" >in.txt &&
	printf "out.txt: in.txt\n\tsort in.txt >out.txt\n" >Makefile && make -s && cat out.txt &&
	touch -d "2000-01-01" out.txt && make -s && cat out.txt && make -s && echo nothing' \
	>"$T/make.out" 2>"$T/make.log" || fail "make in /lego: $(tail -3 "$T/make.log")"
[ "$(cat "$T/make.out")" = "$(printf 'a\nb\na\nb\nnothing')" ] || fail "make in /lego gave: $(cat "$T/make.out")"
pass "make in a Lego directory: built, rebuilt after touch -d of its target, then up to date"

# programs in the store (the kernel cannot open them: exec runs a copy
# from a memfd, or a #! script's interpreter on it): by path, from a Lego
# working directory, through PATH, a script whose interpreter (with its
# one argument) is in the store, one without #! (the shell runs it), exit
# statuses, EACCES without an x bit, 127 when missing; the build before
# could run none of them
$RUN sh -c 'mkdir -p /lego/t/bin && cd /lego/t/bin && cp /bin/echo myecho && cp /bin/false myfalse &&
	printf "#!/bin/sh\necho script \"\$0\" \"\$@\"\nexit 4\n" >s.sh &&
	printf "#!/lego/t/bin/myecho one\n" >e.sh && printf "echo plain \"\$@\"\n" >plain &&
	printf "#!/bin/sh\necho x\n" >noexec && chmod +x s.sh e.sh plain &&
	/lego/t/bin/myecho abs; ./myfalse; echo "false $?"; ./s.sh a "b c"; echo "script $?";
	./e.sh x; PATH=/lego/t/bin:$PATH; myecho path; plain p; perl -e "exec q(myecho), q(execvp)";
	./noexec 2>/dev/null;
	echo "noexec $?"; ./missing 2>/dev/null; echo "missing $?"' >"$T/exec.out" 2>"$T/exec.log" ||
	fail "programs in /lego: $(tail -3 "$T/exec.log")"
want=$(printf '%s\n' abs "false 1" "script ./s.sh a b c" "script 4" "one ./e.sh x" path "plain p" \
	execvp "noexec 126" "missing 127")
[ "$(cat "$T/exec.out")" = "$want" ] || fail "programs in /lego gave: $(cat "$T/exec.out")"
# and from Python: subprocess (vfork) with cwd= as the process's first Lego
# call (it started the runtime in the vforked child, which exec took away:
# MemoryError later), a PATH search, posix_spawn, system, execv's errors
$RUN $PY -c '
import os, subprocess, sys, time
r = subprocess.run(["./s.sh", "vf"], cwd="/lego/t/bin", capture_output=True, text=True)
print(r.returncode, r.stdout.strip())
time.sleep(1.5)
big = bytearray(48 << 20)
for i in range(0, len(big), 4096):
    big[i] = 1
env = dict(os.environ, PATH="/lego/t/bin:" + os.environ["PATH"])
print(subprocess.run(["myecho", "searched"], env=env, capture_output=True, text=True).stdout.strip())
pid = os.posix_spawn("/lego/t/bin/myecho", ["myecho", "spawned"], os.environ)
print(os.waitpid(pid, 0)[1])
os.environ["PATH"] = "/usr/bin:/lego/t/bin:/bin"
pid = os.posix_spawnp("myecho", ["myecho", "spawnp"], os.environ)
print(os.waitpid(pid, 0)[1])
print(os.system("/lego/t/bin/s.sh system") >> 8, sum(big[::4096]))
for p in ("/lego/t/bin/noexec", "/lego/t/bin", "/lego/t/bin/none"):
    try:
        os.execv(p, ["x"])
    except OSError as e:
        print(e.strerror)
' >"$T/exec_py.out" 2>"$T/exec_py.log" || fail "programs in /lego from Python: $(tail -3 "$T/exec_py.log")"
want=$(printf '%s\n' "4 script ./s.sh vf" searched spawned 0 spawnp 0 "script /lego/t/bin/s.sh system" \
	"4 12288" "Permission denied" "Permission denied" "No such file or directory")
[ "$(cat "$T/exec_py.out")" = "$want" ] || fail "programs in /lego from Python gave: $(cat "$T/exec_py.out")"
pass "programs in /lego run: by path, ./, PATH (sh, execvp, posix_spawnp), #! scripts (interpreter in the store too), subprocess, posix_spawn, system"

# a Lego file by the name of its descriptor (prog /dev/stdin < /lego/f):
# the kernel would open the placeholder, a TiB of zeros and then its
# metadata (cat /dev/stdin read zeros for ever with the build before;
# here every read is bounded)
$RUN sh -c 'cd /lego/t && printf "line1\nline2\n" >fdn.txt &&
	{ head -c 6 /dev/stdin; head -c 12 /dev/fd/0 | sort -r; readlink /proc/self/fd/0;
	stat -L -c %s /dev/stdin; } <fdn.txt &&
	"$0" -c "import os; print(os.path.realpath(\"/dev/stdin\"), os.stat(\"/dev/fd/0\").st_size)" <fdn.txt &&
	{ echo via-stdout >>/dev/stdout; } >>fdn.txt && cat fdn.txt' "$PY" >"$T/fdn.out" 2>"$T/fdn.log" ||
	fail "/dev/stdin of a Lego file: $(tail -3 "$T/fdn.log")"
want=$(printf '%s\n' line1 line2 line1 /lego/t/fdn.txt 12 "/lego/t/fdn.txt 12" line1 line2 via-stdout)
[ "$(cat "$T/fdn.out")" = "$want" ] || fail "/dev/stdin of a Lego file gave: $(cat "$T/fdn.out")"
pass "/dev/stdin, /dev/fd/N, /proc/self/fd/N of a Lego descriptor are its file (open, stat, readlink, realpath)"

# a Lego descriptor passed to another process over a Unix socket
# (SCM_RIGHTS): the receiver reads the file, not the placeholder (zeros with
# the build before), and shares the offset
$RUN $PY -c '
import os, socket, subprocess, sys
a, b = socket.socketpair()
child = subprocess.Popen([sys.executable, "-c", """
import os, socket, sys
s = socket.socket(fileno=int(sys.argv[1]))
msg, fds, _, _ = socket.recv_fds(s, 16, 1)
print(os.read(fds[0], 5), os.lseek(fds[0], 0, os.SEEK_CUR), os.fstat(fds[0]).st_size)
""", str(b.fileno())], pass_fds=[b.fileno()])
open("/lego/t/passed.txt", "w").write("passed over a socket")
fd = os.open("/lego/t/passed.txt", os.O_RDONLY)
os.lseek(fd, 7, os.SEEK_SET)
socket.send_fds(a, [b"fd"], [fd])
child.wait()
print(os.lseek(fd, 0, os.SEEK_CUR))
' >"$T/passfd.out" 2>"$T/passfd.log" || fail "passing a Lego descriptor: $(tail -3 "$T/passfd.log")"
[ "$(cat "$T/passfd.out")" = "$(printf "b'over ' 12 20\n12")" ] ||
	fail "a Lego descriptor passed over a socket gave: $(cat "$T/passfd.out")"
pass "a Lego descriptor passed over a Unix socket (SCM_RIGHTS) reads the file in the receiver, offset shared"

# coreutils on modes and names: sed -i (a temporary file, then libacl's
# fsetxattr, then rename) keeps the mode; FIFOs are refused with EPERM and
# a hard link to a local file with EXDEV, not made in the local file
# system; ln and ln -s work (tests/integration/links.sh has the rest)
$RUN sh -c 'cd /lego/t && printf "a\n" >m.txt && chmod 640 m.txt && sed -i s/a/A/ m.txt &&
	stat -c "%a %s" m.txt && cp -p m.txt m2.txt && stat -c %a m2.txt &&
	for c in "ln /etc/hostname h2" "mkfifo f"; do
		$c 2>&1 | sed "s/.*: //"; done; ln -s m.txt l && readlink l && cat l &&
	ln m.txt h && stat -c %h h && ls' \
	>"$T/names.out" 2>"$T/names.log" || fail "sed -i, ln, mkfifo: $(tail -3 "$T/names.log")"
want=$(printf '%s\n' "640 2" 640 "Invalid cross-device link" "Operation not permitted" m.txt A 2)
[ "$(head -7 "$T/names.out")" = "$want" ] || fail "sed -i, ln, mkfifo gave: $(cat "$T/names.out")"
! grep -qx -e h2 -e f "$T/names.out" || fail "a link or FIFO appeared: $(cat "$T/names.out")"
[ -L "$T/root/t/l" ] && [ "$(stat -c %h "$T/root/t/m.txt")" = 2 ] ||
	fail "ln -s or ln made no link in the store"
pass "sed -i keeps the mode, cp -p too; mkfifo refused (EPERM), ln to a local file (EXDEV); ln and ln -s make links"

# statfs and statvfs of /lego: the storenode's file system (df, disk_usage)
got=$($RUN $PY -c '
import os, shutil, sys
u = shutil.disk_usage("/lego/t")
fd = os.open("/lego/t/m.txt", os.O_RDONLY)
f = os.fstatvfs(fd)
print(u.total, f.f_blocks * f.f_frsize, f.f_namemax)
try:
    os.statvfs("/lego/t/nothere")
except OSError as e:
    print(e.strerror)
' 2>"$T/statfs.log") || fail "statvfs of /lego: $(tail -3 "$T/statfs.log")"
want=$($PY -c '
import os, sys
v = os.statvfs(sys.argv[1])
print(v.f_blocks * v.f_frsize, v.f_blocks * v.f_frsize, v.f_namemax)
print("No such file or directory")' "$T/root")
[ "$got" = "$want" ] || fail "statvfs of /lego: '$got', of the store's root '$want'"
pass "statvfs and fstatvfs of /lego say the store's file system; ENOENT for a missing path"

# statfs's type is Lego's own, a file system tail does not know: tail -f
# polls without a word (it used to say inotify "cannot watch" the file)
$RUN sh -c 'stat -f -c %t /lego/t; echo one >/lego/t/tailed; tail -f /lego/t/tailed & p=$!
	sleep 1.5; echo two >>/lego/t/tailed; sleep 2; kill $p' >"$T/tail.out" 2>"$T/tail.log" ||
	fail "tail -f of a Lego file: $(tail -3 "$T/tail.log")"
[ "$(cat "$T/tail.out")" = "$(printf '4c45474f\none\ntwo')" ] && [ ! -s "$T/tail.log" ] ||
	fail "stat -f and tail -f on /lego: '$(cat "$T/tail.out")', said '$(cat "$T/tail.log")'"
pass "statfs's type of /lego is Lego's own; tail -f follows a Lego file without a word"

# written through Lego, visible in the root after close, and to a second process
$RUN $PY -c '
import sys
with open("/lego/t/shared.txt", "w") as f:
    f.write("from the first process\n" * 3)
' 2>"$T/p1.log" || fail "first writer: $(tail -3 "$T/p1.log")"
[ "$(cat "$T/root/t/shared.txt")" = "$(printf 'from the first process\n%.0s' 1 2 3)" ] ||
	fail "storenode file after close: $(head -c 200 "$T/root/t/shared.txt")"
got=$($RUN $PY -c 'print(open("/lego/t/shared.txt").read().count("first"))' 2>"$T/p2.log")
[ "$got" = 3 ] || fail "second process read '$got': $(tail -3 "$T/p2.log")"
pass "close writes back to the storenode; a second process sees the data after open"

# ordinary programs: shell redirection, cat, ls, C stdio, mkstemp (git's
# temporary files: "Unable to create temporary file" before they were Lego's)
$RUN sh -c 'echo one >/lego/t/sh.txt; echo two >>/lego/t/sh.txt; cat /lego/t/sh.txt' >"$T/sh.out" 2>"$T/sh.log" ||
	fail "sh: $(tail -3 "$T/sh.log")"
[ "$(cat "$T/sh.out")" = "$(printf 'one\ntwo')" ] || fail "sh/cat gave: $(cat "$T/sh.out")"
$RUN ls /lego/t >"$T/ls.out" 2>"$T/ls.log" || fail "ls: $(tail -3 "$T/ls.log")"
grep -qx shared.txt "$T/ls.out" && grep -qx sh.txt "$T/ls.out" || fail "ls /lego/t: $(cat "$T/ls.out")"
"$BIN/lego-test-prog_stdio" "$T/local/stdio.txt" >/dev/null 2>&1 || fail "prog_stdio natively failed"
$RUN "$BIN/lego-test-prog_stdio" /lego/t/stdio.txt >"$T/stdio.out" 2>"$T/stdio.log" ||
	fail "C stdio: $(tail -3 "$T/stdio.log")"
pass "sh redirections, cat, ls, C stdio (fopen/fprintf/fgets/fseek), mkstemp, mkostemps, mkdtemp on /lego"

# mmap of a Lego file: MAP_PRIVATE is a copy of the file; so is MAP_SHARED
# without PROT_WRITE (np.load's mmap_mode="r", Python's ACCESS_READ: ENODEV
# before), which then cannot be made writable (EACCES, as for a file opened
# read-only); a writable MAP_SHARED writes the file (ENODEV before;
# it_mmap_shared has the rest)
$RUN $PY -c '
import ctypes, errno, mmap, os
open("/lego/t/mm.txt", "w").write("hello mmap " * 1000)
fd = os.open("/lego/t/mm.txt", os.O_RDONLY)
m = mmap.mmap(fd, 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
print(len(m), m[:11].decode(), m.find(b"mmap", 5000))
with open("/lego/t/mm.txt", "rb") as f:
    r = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    print("shared", len(r), r[-11:].decode(), r.find(b"mmap", 9000))
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
a = libc.mmap(None, 11000, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
print("mprotect", libc.mprotect(a, 11000, mmap.PROT_READ | mmap.PROT_WRITE), errno.errorcode[ctypes.get_errno()])
fw = os.open("/lego/t/mm.txt", os.O_RDWR)
w = mmap.mmap(fw, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
w[6:10] = b"MMAP"
w.flush()
print("shared writable", open("/lego/t/mm.txt").read(10))
' >"$T/mm.out" 2>"$T/mm.log" || fail "mmap: $(tail -3 "$T/mm.log")"
want=$(printf '%s\n' "11000 hello mmap  5000" "shared 11000 hello mmap  9004" "mprotect -1 EACCES" \
	"shared writable hello MMAP")
[ "$(cat "$T/mm.out")" = "$want" ] || fail "mmap gave: $(cat "$T/mm.out")"
pass "mmap of a Lego file: MAP_PRIVATE and read-only MAP_SHARED read its contents (no PROT_WRITE later); writable MAP_SHARED writes it"

# descriptors: shared offset across fork, inherited by exec unless O_CLOEXEC
$RUN $PY -c '
import os, subprocess, sys
fd = os.open("/lego/t/fork.txt", os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
os.write(fd, b"parent ")
pid = os.fork()
if pid == 0:
    os.write(fd, b"child ")
    os._exit(0)
os.waitpid(pid, 0)
os.write(fd, b"parent-again")
print(os.pread(fd, 100, 0).decode(), os.lseek(fd, 0, os.SEEK_CUR))
keep = os.open("/lego/t/fork.txt", os.O_RDONLY)
os.set_inheritable(keep, True)
shut = os.open("/lego/t/fork.txt", os.O_RDONLY | os.O_CLOEXEC)
code = "import os,sys; print(os.read(int(sys.argv[1]), 6).decode()); os.fstat(int(sys.argv[2]))"
r = subprocess.run([sys.executable, "-c", code, str(keep), str(shut)], close_fds=False,
                   capture_output=True, text=True)
print(r.stdout.strip(), "EBADF" if "Bad file descriptor" in r.stderr else r.stderr)
' >"$T/fork.out" 2>"$T/fork.log" || fail "fork/exec: $(tail -3 "$T/fork.log")"
[ "$(cat "$T/fork.out")" = "$(printf 'parent child parent-again 25\nparent EBADF')" ] ||
	fail "fork/exec gave: $(cat "$T/fork.out")"
pass "a Lego descriptor shares its offset across fork, survives exec, and O_CLOEXEC closes it"
