#!/bin/sh
# Symbolic links in the store (docs/storage.md "Symbolic links"): a Python
# script making, reading, following and removing links in /lego prints the
# same transcript as in a local directory, links leading out of the store
# (absolute, relative, "..") included; the storenode holds real links;
# a virtual environment made in /lego runs and imports from itself.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
mkdir -p "$T/root" "$T/local" "$T/out_native" "$T/out_lego"
start_monitor
start_memnode m
start_storenode "$T/root"
export LEGO_MONITOR=$MON
RUN="$BIN/lego-run --"
OPS=$IT_SRC/tests/integration/links_ops.py

$PY "$OPS" "$T/local/l" "$T/out_native" >"$T/native.out" 2>"$T/native.log" ||
	fail "links_ops natively: $(tail -5 "$T/native.log")"
$RUN $PY "$OPS" /lego/l "$T/out_lego" >"$T/lego.out" 2>"$T/lego.log" ||
	fail "links_ops under lego-run: $(tail -5 "$T/lego.log")"
cmp -s "$T/native.out" "$T/lego.out" ||
	fail "transcripts differ: $(diff "$T/native.out" "$T/lego.out" | head -20)"
[ -L "$T/root/l/lf2" ] && [ "$(readlink "$T/root/l/lf2")" = a/b/f ] ||
	fail "the storenode's root holds no link l/lf2 -> a/b/f"
[ "$(readlink "$T/out_lego/link_made_through")" = back ] ||
	fail "a link made through a link out of the store is not in the local directory"
pass "symbolic links in /lego: $(wc -l <"$T/lego.out") transcript lines equal to a local directory's"

# python -m venv: bin/python is a link out of the store (to this python),
# lib64 one inside it; the environment's python finds its site-packages
$RUN $PY -m venv /lego/venv 2>"$T/venv.log" || fail "python -m venv /lego/venv: $(tail -3 "$T/venv.log")"
[ -L "$T/root/venv/bin/python" ] || fail "venv/bin/python is not a link in the store"
site=$(ls -d "$T"/root/venv/lib/python3*/site-packages) || fail "no site-packages in the venv"
echo 'WHO = "from the store"' >"$site/legomod.py"
got=$($RUN /lego/venv/bin/python -c '
import sys, legomod
print(sys.prefix, legomod.WHO, sys.prefix != sys.base_prefix)' 2>"$T/venvpy.log") ||
	fail "/lego/venv/bin/python: $(tail -3 "$T/venvpy.log")"
[ "$got" = "/lego/venv from the store True" ] || fail "the venv's python printed '$got'"
pass "python -m venv /lego/venv; its python runs with sys.prefix /lego/venv and imports from it"

# the C library's tree walkers (glob, nftw, ftw, remove), which read
# directories with internal calls, on a tree with links in /lego: the same
# transcript as in a local directory
"$BIN/lego-test-prog_walk" "$T/local/walk" >"$T/walk_native.out" 2>&1 || fail "prog_walk natively"
$RUN "$BIN/lego-test-prog_walk" /lego/walk >"$T/walk.out" 2>"$T/walk.log" ||
	fail "prog_walk in /lego: $(tail -3 "$T/walk.log")"
cmp -s "$T/walk_native.out" "$T/walk.out" ||
	fail "glob, nftw, ftw in /lego differ: $(diff "$T/walk_native.out" "$T/walk.out" | head -10)"
pass "glob, nftw (FTW_PHYS, FTW_DEPTH, FTW_CHDIR, FTW_ACTIONRETVAL, following links, a loop), ftw and remove in /lego as in a local directory"

# libraries in the store: ctypes (dlopen) of a C library built there, twice
# (one object: its counter goes on), and a C extension module in the venv's
# site-packages imported by the venv's python
cat >"$T/count.c" <<'C'
static int n;
int bump(void) { return ++n; }
C
mkdir -p "$T/root/lib"
cc -shared -fPIC -o "$T/root/lib/libcount.so" "$T/count.c" || fail "cc libcount.so"
got=$($RUN $PY -c '
import ctypes
a = ctypes.CDLL("/lego/lib/libcount.so")
b = ctypes.CDLL("/lego/lib/libcount.so")
print(a.bump(), a.bump(), b.bump())' 2>"$T/ctypes.log") || fail "ctypes.CDLL of /lego/lib/libcount.so: $(tail -3 "$T/ctypes.log")"
[ "$got" = "1 2 3" ] || fail "ctypes of a library in the store twice gave '$got', want '1 2 3' (one object)"
# a library that needs another in the store, found through its RUNPATH
# $ORIGIN/../pkg.libs (how wheels bundle theirs: numpy.libs/)
printf 'int dep(void) { return 40; }\n' >"$T/dep.c"
printf 'int dep(void);\nint user(void) { return dep() + 2; }\n' >"$T/user.c"
mkdir -p "$T/root/pkg" "$T/root/pkg.libs"
cc -shared -fPIC -Wl,-soname,libdep.so.1 -o "$T/root/pkg.libs/libdep.so.1" "$T/dep.c" &&
	cc -shared -fPIC -o "$T/root/pkg/libuser.so" "$T/user.c" -L"$T/root/pkg.libs" -l:libdep.so.1 \
		-Wl,-rpath,'$ORIGIN/../pkg.libs' -Wl,--enable-new-dtags || fail "cc libuser.so, libdep.so.1"
got=$($RUN $PY -c '
import ctypes
print(ctypes.CDLL("/lego/pkg/libuser.so").user())' 2>"$T/needed.log") ||
	fail "a library in the store needing another there: $(tail -3 "$T/needed.log")"
[ "$got" = 42 ] || fail "libuser.so from the store gave '$got'"
cat >"$T/legoext.c" <<'C'
#include <Python.h>
static PyObject *twice(PyObject *self, PyObject *arg) { return PyNumber_Multiply(arg, PyLong_FromLong(2)); }
static PyMethodDef m[] = {{"twice", twice, METH_O, ""}, {0}};
static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, "legoext", "", -1, m};
PyMODINIT_FUNC PyInit_legoext(void) { return PyModule_Create(&d); }
C
inc=$($PY -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suf=$($PY -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
cc -shared -fPIC -I"$inc" -o "$site/legoext$suf" "$T/legoext.c" || fail "cc legoext (python3-dev)"
got=$($RUN /lego/venv/bin/python -c '
import legoext; print(legoext.twice(21), legoext.__file__.startswith("/lego/venv/"))' 2>"$T/ext.log") ||
	fail "import of a C extension module from the store: $(tail -3 "$T/ext.log")"
[ "$got" = "42 True" ] || fail "the extension module in the store gave '$got'"
pass "dlopen of libraries in the store: ctypes twice (one object), one needing another through \$ORIGIN, a C extension module in the venv"

# programs in the store whose libraries are in the store (a CMake or make
# build tree): found through the program's RUNPATH ($ORIGIN/../lib, or an
# absolute /lego path), through the libraries' own RUNPATH, and through
# LD_LIBRARY_PATH entries in the store; a rebuilt library is the one the
# next run loads
mkdir -p "$T/root/proj/bin" "$T/root/proj/lib" "$T/root/proj/lib2"
printf 'int bar(void) { return 40; }\n' >"$T/bar.c"
printf 'int bar(void);\nint foo(void) { return bar() + 2; }\n' >"$T/foo.c"
printf '#include <stdio.h>\nint foo(void);\nint main(void) { printf("foo %%d\\n", foo()); return 0; }\n' >"$T/app.c"
cc -shared -fPIC -o "$T/root/proj/lib/libbar.so" "$T/bar.c" &&
	cc -shared -fPIC -o "$T/root/proj/lib/libfoo.so" "$T/foo.c" -L"$T/root/proj/lib" -lbar \
		-Wl,-rpath,'$ORIGIN' &&
	cc -o "$T/root/proj/bin/app" "$T/app.c" -L"$T/root/proj/lib" -lfoo -Wl,-rpath,'$ORIGIN/../lib' &&
	cc -o "$T/root/proj/bin/app_abs" "$T/app.c" -L"$T/root/proj/lib" -lfoo \
		-Wl,-rpath,/lego/proj/lib &&
	cc -o "$T/root/proj/bin/app_llp" "$T/app.c" -L"$T/root/proj/lib" -lfoo &&
	cp "$T/root/proj/lib/libfoo.so" "$T/root/proj/lib/libbar.so" "$T/root/proj/lib2/" ||
	fail "cc the project in the store"
got=$($RUN sh -c '/lego/proj/bin/app; /lego/proj/bin/app_abs; cd /lego/proj/bin && ./app &&
	LD_LIBRARY_PATH=/lego/proj/lib2 ./app_llp' 2>"$T/proj.log") ||
	fail "programs in the store with their libraries there: $(tail -3 "$T/proj.log")"
[ "$got" = "$(printf 'foo 42\nfoo 42\nfoo 42\nfoo 42')" ] || fail "the project's programs printed '$got'"
sed 's/40/50/' "$T/bar.c" >"$T/bar2.c" # (rebuilt through the store: its cache knows)
$RUN cc -shared -fPIC -o /lego/proj/lib/libbar.so "$T/bar2.c" 2>"$T/cc2.log" ||
	fail "cc libbar.so again in /lego: $(tail -3 "$T/cc2.log")"
got=$($RUN /lego/proj/bin/app 2>"$T/proj2.log") || fail "after the rebuild: $(tail -3 "$T/proj2.log")"
[ "$got" = "foo 52" ] || fail "after libbar.so was rebuilt the program printed '$got'"
# from Python's subprocess (a vforked child: the parent's descriptor table
# stays its own), and a library in the store that is a link to a local one
sed 's/40/70/' "$T/bar.c" >"$T/bar3.c"
mkdir -p "$T/root/proj/lib3" "$T/local/lib"
cc -shared -fPIC -o "$T/local/lib/libbar.so" "$T/bar3.c" &&
	cp "$T/root/proj/lib/libfoo.so" "$T/root/proj/lib3/" &&
	ln -s "$T/local/lib/libbar.so" "$T/root/proj/lib3/libbar.so" || fail "lib3 with a link out"
got=$($RUN $PY -c '
import os, subprocess
for p in ["/lego/proj/bin/app", "/lego/proj/bin/app_llp"]:
    env = dict(os.environ, LD_LIBRARY_PATH="/lego/proj/lib3")
    print(subprocess.run([p], capture_output=True, text=True, env=env).stdout.strip())
fd = os.open("/etc/hostname", os.O_RDONLY)
print(len(os.read(fd, 64)) > 0)
os.close(fd)' 2>"$T/proj3.log") || fail "subprocess of store programs: $(tail -3 "$T/proj3.log")"
[ "$got" = "$(printf 'foo 72\nfoo 72\nTrue')" ] || fail "subprocess of the store programs printed '$got'"
# a local program whose RUNPATH (or LD_LIBRARY_PATH) leads into the store,
# run by lego-run itself and from a shell
cc -o "$T/local/app_rp" "$T/app.c" -L"$T/root/proj/lib" -lfoo -Wl,-rpath,/lego/proj/lib &&
	cc -o "$T/local/app_plain" "$T/app.c" -L"$T/root/proj/lib" -lfoo || fail "cc the local programs"
got=$($RUN "$T/local/app_rp" 2>"$T/local1.log" && LD_LIBRARY_PATH=/lego/proj/lib $RUN "$T/local/app_plain" \
	2>>"$T/local1.log" && $RUN sh -c "$T/local/app_rp" 2>>"$T/local1.log") ||
	fail "local programs with their libraries in the store: $(tail -3 "$T/local1.log")"
[ "$got" = "$(printf 'foo 52\nfoo 52\nfoo 52')" ] || fail "the local programs printed '$got'"
pass "programs in the store load their libraries from the store (RUNPATH \$ORIGIN/../lib and /lego/..., a library's own \$ORIGIN, LD_LIBRARY_PATH, a link to a local library), a rebuilt one the next run, from a vforked child too; so do local programs whose RUNPATH or LD_LIBRARY_PATH leads there"
