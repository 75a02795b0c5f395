"""File operations on a directory, printed as a transcript.

Run once on a local directory and once on a Lego directory (/lego/...)
under lego-run: the two transcripts must be equal.
"""
import errno
import os
import shutil
import sys

base = sys.argv[1]
out = []


def say(*a):
    out.append(" ".join(str(x) for x in a))


def err(fn, *a):
    try:
        fn(*a)
        say(fn.__name__, "ok")
    except OSError as e:
        say(fn.__name__, errno.errorcode[e.errno])


os.makedirs(base + "/d/sub", exist_ok=True)
with open(base + "/d/a.txt", "w") as f:
    f.write("hello\n")
with open(base + "/d/a.txt", "a") as f:
    f.write("world\n" * 1000)
with open(base + "/d/a.txt") as f:
    data = f.read()
say("a.txt", len(data), data[:12].replace("\n", "|"), data.count("world"))
st = os.stat(base + "/d/a.txt")
say("stat", st.st_size, oct(st.st_mode & 0o170000))
say("isdir", os.path.isdir(base + "/d/sub"), os.path.isfile(base + "/d/sub"))

# binary data, seeks, partial overwrite, truncate
blob = bytes((i * 7 + 3) % 256 for i in range(300000))
with open(base + "/d/b.bin", "wb") as f:
    f.write(blob)
with open(base + "/d/b.bin", "r+b") as f:
    f.seek(100000)
    f.write(b"X" * 70000)
    f.seek(0, os.SEEK_END)
    say("end", f.tell())
    f.truncate(250000)
    f.seek(99990)
    say("mid", f.read(20).hex())
with open(base + "/d/b.bin", "rb") as f:
    got = f.read()
want = bytearray(blob)
want[100000:170000] = b"X" * 70000
say("b.bin", len(got), got == bytes(want[:250000]))

# os-level calls: pread/pwrite, dup, fsync, lseek errors
fd = os.open(base + "/d/c", os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
os.pwrite(fd, b"abcdef", 10)
say("pread", os.pread(fd, 20, 0))
# with flags Python calls pwritev2/preadv2 (before they were Lego's, the
# bytes went to the placeholder file and were lost)
os.pwritev(fd, [b"gh", b"ij"], 16, os.RWF_DSYNC)
buf = bytearray(8)
say("preadv2", os.preadv(fd, [buf], 14, os.RWF_HIPRI), bytes(buf))
fd2 = os.dup(fd)
os.lseek(fd, 3, os.SEEK_SET)
say("dup shares offset", os.lseek(fd2, 0, os.SEEK_CUR))
os.fsync(fd)
os.close(fd)
os.close(fd2)
err(os.lseek, fd, 0, 0)

# directory listing, rename, copy, delete
for i in range(50):
    with open(base + "/d/sub/f%02d" % i, "w") as f:
        f.write("x" * i)
say("listdir", sorted(os.listdir(base + "/d")))
say("sub", len(os.listdir(base + "/d/sub")), sum(os.path.getsize(base + "/d/sub/" + n) for n in os.listdir(base + "/d/sub")))
say("scandir", sorted((e.name, e.is_dir()) for e in os.scandir(base + "/d")))
os.rename(base + "/d/a.txt", base + "/d/renamed.txt")
shutil.copyfile(base + "/d/renamed.txt", base + "/d/copy.txt")
with open(base + "/d/copy.txt") as f:
    say("copy", f.read() == data)
shutil.copytree(base + "/d/sub", base + "/d/sub2")
say("copytree", len(os.listdir(base + "/d/sub2")))

# modes and times, as Linux keeps them: chmod, utime (nanoseconds, before
# 1970, "now"), a write then futimens on one descriptor (the data must not
# take the new time back), shutil.copy2 (copystat); chown to oneself
c = base + "/d/copy.txt"
os.chmod(c, 0o640)
say("chmod", oct(os.stat(c).st_mode & 0o7777))
fd = os.open(c, os.O_RDONLY)
os.fchmod(fd, 0o604)
os.close(fd)
say("fchmod", oct(os.stat(c).st_mode & 0o7777))
os.utime(c, ns=(1_000_000_123, 2_000_000_456))
st = os.stat(c)
say("utime", st.st_atime_ns, st.st_mtime_ns)
os.utime(c, ns=(-86_400_000_000_001, -1))
st = os.stat(c)
say("before 1970", st.st_atime_ns, st.st_mtime_ns)
os.utime(c)
say("now", abs(os.stat(c).st_mtime - __import__("time").time()) < 60)
fd = os.open(c, os.O_RDWR)
os.pwrite(fd, b"more", 3)
os.utime(fd, ns=(5, 6))
os.close(fd)
say("write then futimens", os.stat(c).st_mtime_ns)
shutil.copy2(base + "/d/renamed.txt", base + "/d/copy2.txt")
s1, s2 = os.stat(base + "/d/renamed.txt"), os.stat(base + "/d/copy2.txt")
say("copy2", s1.st_mtime_ns == s2.st_mtime_ns, oct(s2.st_mode & 0o7777) == oct(s1.st_mode & 0o7777))
os.chown(c, os.getuid(), os.getgid())
say("chown to oneself ok")
os.unlink(base + "/d/copy2.txt")
err(os.chmod, base + "/d/nothere", 0o600)
err(os.utime, base + "/d/nothere")

# preallocation: the size grows to cover the range, never shrinks
fd = os.open(base + "/d/pre", os.O_RDWR | os.O_CREAT, 0o644)
os.posix_fallocate(fd, 0, 1 << 20)
say("posix_fallocate", os.fstat(fd).st_size)
os.pwrite(fd, b"z" * 10, (2 << 20) - 10)
os.posix_fallocate(fd, 4096, 100)
say("posix_fallocate inside", os.fstat(fd).st_size, os.pread(fd, 4, 4096))
os.close(fd)
os.unlink(base + "/d/pre")

# splice through a pipe, FIONREAD: the file's bytes, not its placeholder's
# (the build before moved zeros out and wrote nothing in)
import array, fcntl, termios
fd = os.open(base + "/d/renamed.txt", os.O_RDONLY)
os.lseek(fd, 2, os.SEEK_SET)
n = array.array("i", [0])
fcntl.ioctl(fd, termios.FIONREAD, n, True)
say("FIONREAD", n[0], os.fstat(fd).st_size - 2)
r, w = os.pipe()
say("splice out", os.splice(fd, w, 6), os.read(r, 64), os.lseek(fd, 0, os.SEEK_CUR))
os.close(fd)
os.write(w, b"into the file")
fd = os.open(base + "/d/spliced", os.O_RDWR | os.O_CREAT, 0o644)
say("splice in", os.splice(r, fd, 13, offset_dst=4), os.pread(fd, 64, 0))
os.close(fd)
os.close(r)
os.close(w)
os.unlink(base + "/d/spliced")

# errors as Linux gives them
err(os.mkdir, base + "/d/sub")
err(os.rmdir, base + "/d/sub")
err(os.unlink, base + "/d/nothere")
err(os.open, base + "/d/nothere/x", os.O_RDONLY)
err(os.open, base + "/d/renamed.txt", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
err(os.open, base + "/d/renamed.txt/x", os.O_RDONLY)
err(os.unlink, base + "/d/sub")
err(os.read, 9999, 1)
err(os.rmdir, base + "/d/renamed.txt")
err(os.listdir, base + "/d/renamed.txt")

shutil.rmtree(base + "/d/sub")
shutil.rmtree(base + "/d/sub2")
os.unlink(base + "/d/copy.txt")
say("after delete", sorted(os.listdir(base + "/d")))
say("exists", os.path.exists(base + "/d/sub"), os.path.exists(base + "/d/renamed.txt"))
shutil.rmtree(base + "/d")
say("gone", os.path.exists(base + "/d"))
print("\n".join(out))
