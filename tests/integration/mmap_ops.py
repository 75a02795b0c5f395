# Shared mappings of files open for writing (docs/storage.md, "Shared
# mappings of files open for writing"), printed as a transcript that must
# be the same in a local directory and in /lego: stores seen by read and by
# other openers, resize, partial munmap, fork children and other processes
# mapping the file at once, a read-only mapping seeing writes, np.memmap,
# sqlite in WAL mode from two processes and with mmap_size, LMDB, a
# process killed after writing through a mapping.  argv[1]: the directory to work in.
import ctypes, errno, mmap, os, signal, sqlite3, subprocess, sys

d = sys.argv[1]
os.makedirs(d, exist_ok=True)
P = 4096


def path(n):
    return os.path.join(d, n)


def put(n, data):
    with open(path(n), "wb") as f:
        f.write(data)


def get(n):
    with open(path(n), "rb") as f:
        return f.read()


# stores, seen through the descriptor at once and by another open after flush
put("a.bin", b"a" * 10000)
f = open(path("a.bin"), "r+b")
m = mmap.mmap(f.fileno(), 0)
m[0:5] = b"hello"
m[8192:8197] = b"WORLD"
print("pread before flush", os.pread(f.fileno(), 5, 0), os.pread(f.fileno(), 5, 8192))
m.flush()
print("another open after flush", get("a.bin")[:5], get("a.bin")[8192:8197])
os.pwrite(f.fileno(), b"WRITE", 100)
print("write() seen in the mapping", m[100:105])
m.resize(20000)  # ftruncate, then mremap
m[19990:20000] = b"0123456789"
m.close()
f.close()
data = get("a.bin")
print("after resize and close", len(data), data[:6], data[8190:8200], data[-12:])

# a mapping cut in the middle (munmap of one page of three); msync MS_SYNC
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.msync.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
put("c.bin", b"." * (3 * P))
fd = os.open(path("c.bin"), os.O_RDWR)
rw = mmap.PROT_READ | mmap.PROT_WRITE
a = libc.mmap(None, 3 * P, rw, mmap.MAP_SHARED, fd, 0)
for i in range(3):
    ctypes.memmove(a + i * P, b"page%d" % i, 5)
print("munmap middle", libc.munmap(a + P, P), get("c.bin")[P:P + 5])
print("msync", libc.msync(a, P, 4), get("c.bin")[:5], get("c.bin")[2 * P:2 * P + 5])  # MS_SYNC
ctypes.memmove(a + 2 * P, b"again", 5)
print("munmap the rest", libc.munmap(a, 3 * P), get("c.bin")[2 * P:2 * P + 5])
os.close(fd)
ro = os.open(path("c.bin"), os.O_RDONLY)
b = libc.mmap(None, P, rw, mmap.MAP_SHARED, ro, 0)
print("shared writable of a read-only descriptor", b == ctypes.c_void_p(-1).value and
      errno.errorcode[ctypes.get_errno()])
os.close(ro)

# children of fork write through the parent's mapping and end with _exit
put("f.bin", bytes(8 * P))
f = open(path("f.bin"), "r+b")
m = mmap.mmap(f.fileno(), 0)
kids = []
for k in range(4):
    pid = os.fork()
    if pid == 0:
        m[k * 2 * P:k * 2 * P + 6] = b"child%d" % k
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
print("parent sees", [m[k * 2 * P:k * 2 * P + 6] for k in range(4)])
m.close()
f.close()
print("file has", [get("f.bin")[k * 2 * P:k * 2 * P + 6] for k in range(4)])

# another program maps the file at the same time: each sees the other's stores
put("s.bin", bytes(2 * P))
f = open(path("s.bin"), "r+b")
m = mmap.mmap(f.fileno(), 0)
m[0:6] = b"parent"
other = subprocess.run([sys.executable, "-c", """
import mmap, sys
f = open(sys.argv[1], "r+b")
m = mmap.mmap(f.fileno(), 0)
print(bytes(m[0:6]).decode(), end=" ")
m[4096:4101] = b"other"
m.close()
""", path("s.bin")], capture_output=True, text=True)
print("the other saw", other.stdout, other.returncode, "and wrote", m[P:P + 5])
m.close()
f.close()
print("file has", get("s.bin")[:6], get("s.bin")[P:P + 5])

# a mapping past the file's end reaches what a write past it added
put("g.bin", b"g" * P)
fd = os.open(path("g.bin"), os.O_RDWR)
a = libc.mmap(None, 2 * P, rw, mmap.MAP_SHARED, fd, 0)  # (Python's mmap refuses that)
os.pwrite(fd, b"grown", 2 * P - 5)
print("past the old end", ctypes.string_at(a + 2 * P - 5, 5), ctypes.string_at(a + P - 1, 2))
ctypes.memmove(a + P, b"new", 3)
libc.munmap(a, 2 * P)
os.close(fd)
print("file has", len(get("g.bin")), get("g.bin")[P:P + 3])

# a read-only shared mapping of a descriptor open for writing sees write()
put("r.bin", b"-" * P)
f = open(path("r.bin"), "r+b")
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
os.pwrite(f.fileno(), b"fresh", 10)
print("read-only mapping sees a write", m[10:15])
m.close()
f.close()

# np.memmap (mode w+, then r+)
try:
    import numpy as np
    x = np.memmap(path("x.dat"), dtype=np.int64, mode="w+", shape=(1 << 16,))
    x[:] = np.arange(1 << 16)
    x.flush()
    del x
    y = np.memmap(path("x.dat"), dtype=np.int64, mode="r+")
    y[::2] *= -1
    del y
    z = np.fromfile(path("x.dat"), dtype=np.int64)
    print("np.memmap", len(z), int(z.sum()), int(z[:6].sum()))
except ImportError:
    print("np.memmap", "no numpy")

# sqlite in WAL mode: its index (DB-shm) is a shared mapping; two processes
db = path("w.db")
c = sqlite3.connect(db)
print("journal", c.execute("pragma journal_mode=wal").fetchone()[0])
c.execute("create table t(x)")
c.commit()
pid = os.fork()
if pid == 0:
    c2 = sqlite3.connect(db)
    for i in range(100):
        c2.execute("insert into t values (?)", (i,))
        c2.commit()
    c2.close()
    os._exit(0)
for i in range(100):
    c.execute("insert into t values (?)", (1000 + i,))
    c.commit()
os.waitpid(pid, 0)
print("rows", c.execute("select count(*), sum(x) from t").fetchone())
c.close()
c = sqlite3.connect(db)
print("reopened", c.execute("select count(*), sum(x) from t").fetchone(),
      c.execute("pragma integrity_check").fetchone()[0])
c.close()

# sqlite reading its database through a mapping (mmap_size) while it
# writes the file with write()
c = sqlite3.connect(path("m.db"))
c.execute("pragma mmap_size=1000000")
c.execute("create table t(x, y)")
for i in range(300):
    c.execute("insert into t values (?, ?)", (i, "row%d" % i * 10))
c.commit()
c.execute("update t set x = x + 1 where x % 3 = 0")
c.commit()
print("mmap_size", c.execute("select count(*), sum(x) from t").fetchone(),
      c.execute("pragma integrity_check").fetchone()[0])
c.close()

# LMDB: its reader table (lock.mdb) is a shared mapping; its data file is
# read through a read-only mapping while written with pwrite, or, with
# writemap, written through a writable mapping.  A fork child opens the
# environment itself and writes too.
try:
    import lmdb
    for wm in (False, True):
        e = path("lmdb-%d" % wm)
        env = lmdb.open(e, map_size=16 << 20, writemap=wm)
        with env.begin(write=True) as t:
            for i in range(2000):
                t.put(b"k%05d" % i, b"v%d" % i * 20)
        pid = os.fork()
        if pid == 0:
            e2 = lmdb.open(e, map_size=16 << 20, writemap=wm)
            with e2.begin(write=True) as t:
                for i in range(2000, 3000):
                    t.put(b"k%05d" % i, b"c%d" % i)
            os._exit(0)
        os.waitpid(pid, 0)
        with env.begin() as t:
            print("lmdb writemap", wm, t.stat()["entries"], t.get(b"k02500"), t.get(b"k00007")[:6])
        env.close()
        env = lmdb.open(e, readonly=True)
        with env.begin() as t:
            print("lmdb reopened", t.stat()["entries"], sum(len(v) for k, v in t.cursor()))
        env.close()
except ImportError:
    print("lmdb", "not installed")

# a process killed (SIGKILL) after writing through a mapping
put("k.bin", bytes(2 * P))
pid = os.fork()
if pid == 0:
    f = open(path("k.bin"), "r+b")
    m = mmap.mmap(f.fileno(), 0)
    m[100:104] = b"kill"
    os.kill(os.getpid(), signal.SIGKILL)
os.waitpid(pid, 0)
f = open(path("k.bin"), "r+b")
m = mmap.mmap(f.fileno(), 0)
print("after SIGKILL, mapped again", m[100:104])
m.close()
f.close()
print("after SIGKILL, the file", get("k.bin")[100:104])
