"""Symbolic links in a directory, printed as a transcript.

links_ops.py DIR OUT: DIR is the directory to work in (local, or /lego/...
under lego-run), OUT a local directory outside it that links lead to.
Run once locally and once in the store: the two transcripts must be equal,
so nothing printed names DIR or OUT themselves.
"""
import errno
import os
import shutil
import stat
import subprocess
import sys

d, out = sys.argv[1], sys.argv[2]
lines = []


def say(*a):
    lines.append(" ".join(str(x) for x in a))


def tryit(what, fn, *a):
    try:
        r = fn(*a)
        say(what, "ok", "" if r is None else r)
    except OSError as e:
        say(what, errno.errorcode[e.errno])


def p(*names):
    return os.path.join(d, *names)


def read(path):
    with open(path) as f:
        return f.read()


os.makedirs(p("a", "b"))
with open(p("a", "b", "f"), "w") as f:
    f.write("hello")

# a link to a file, and to a directory, beside them
os.symlink("a/b/f", p("lf"))
say("readlink", os.readlink(p("lf")))
st = os.lstat(p("lf"))
say("lstat", stat.S_ISLNK(st.st_mode), st.st_size)
say("stat", stat.S_ISREG(os.stat(p("lf")).st_mode), os.stat(p("lf")).st_size)
say("islink", os.path.islink(p("lf")), os.path.islink(p("a")))
say("read", read(p("lf")))
os.symlink("a/b", p("ld"))
say("listdir ld", sorted(os.listdir(p("ld"))))
with open(p("ld", "new"), "w") as f:
    f.write("through")
say("written through ld", read(p("a", "b", "new")))
tryit("symlink over a link", os.symlink, "x", p("lf"))
tryit("readlink of a file", os.readlink, p("a", "b", "f"))
tryit("readlink of nothing", os.readlink, p("nothing"))

# a chain, a loop, a dangling link that O_CREAT follows
os.symlink("lf", p("l2"))
os.symlink("l2", p("l3"))
say("chain", read(p("l3")), os.readlink(p("l3")))
os.symlink("loop1", p("loop2"))
os.symlink("loop2", p("loop1"))
tryit("open a loop", read, p("loop1"))
os.unlink(p("loop1"))
os.unlink(p("loop2"))
os.symlink("made", p("dang"))
say("dangling", os.path.exists(p("dang")), os.path.lexists(p("dang")))
with open(p("dang"), "w") as f:
    f.write("created")
say("O_CREAT through it", read(p("made")))
tryit("O_NOFOLLOW", os.open, p("lf"), os.O_RDONLY | os.O_NOFOLLOW)
tryit("O_CREAT|O_EXCL on a link", os.open, p("lf"), os.O_WRONLY | os.O_CREAT | os.O_EXCL)

# links that lead out of the directory: absolute, relative, and ".."
os.symlink(out, p("out"))
with open(p("out", "x"), "w") as f:
    f.write("outside")
say("write through an absolute link", read(os.path.join(out, "x")))
say("stat out", stat.S_ISDIR(os.stat(p("out")).st_mode), sorted(os.listdir(p("out"))))
say("realpath out", os.path.realpath(p("out")) == os.path.realpath(out))
rel = os.path.relpath(out, d)
os.symlink(rel, p("rel"))
say("read through a relative link out", read(p("rel", "x")))
say("read by ..", read(os.path.join(d, rel, "x")))
os.symlink(os.path.join(out, "x"), p("outfile"))
say("outfile", read(p("outfile")), os.path.getsize(p("outfile")))
os.chmod(p("outfile"), 0o600)
say("chmod through it", oct(os.stat(os.path.join(out, "x")).st_mode & 0o777))
os.mkdir(p("out", "made_dir"))
os.rename(p("out", "x"), p("out", "made_dir", "y"))
say("mkdir and rename through it", sorted(os.listdir(os.path.join(out, "made_dir"))))
os.unlink(p("out", "made_dir", "y"))
os.rmdir(p("out", "made_dir"))
say("unlink and rmdir through it", sorted(os.listdir(out)))
os.symlink("back", p("out", "link_made_through"))
say("symlink through it", os.readlink(os.path.join(out, "link_made_through")))
os.symlink(p("a", "b", "f"), p("abs"))
say("absolute link inside", read(p("abs")))

# scandir's types, walk, copytree keeping links, chdir through a link
say("scandir", sorted((e.name, e.is_symlink(), e.is_dir()) for e in os.scandir(d)))
say("walk", sorted((os.path.relpath(r, d), sorted(ds), sorted(fs))
                   for r, ds, fs in os.walk(d) if "out" not in r.split(os.sep)))
shutil.copytree(p("a"), p("copy"), symlinks=True)
os.symlink("b/f", p("copy", "inner"))
shutil.copytree(p("copy"), p("copy2"), symlinks=True)
say("copytree", os.readlink(p("copy2", "inner")), read(p("copy2", "inner")))
here = os.getcwd()
os.chdir(p("ld"))
say("chdir through a link", os.path.relpath(os.getcwd(), os.path.realpath(d)), read("f"))
os.chdir(here)

# rename and unlink of links, not of what they name
os.rename(p("lf"), p("lf2"))
say("renamed", os.readlink(p("lf2")), read(p("lf2")))
os.unlink(p("ld"))
say("unlinked ld", os.path.lexists(p("ld")), os.path.isdir(p("a", "b")))
os.unlink(p("out"))
say("unlinked out", os.path.isdir(out))

# hard links: one file by two names (the memnode's cache keeps it while
# it has one), of a link itself or of what it leads to
os.link(p("a", "b", "f"), p("hard"))
st1, st2 = os.stat(p("a", "b", "f")), os.stat(p("hard"))
say("hard link", st1.st_ino == st2.st_ino, st2.st_nlink)
with open(p("hard"), "a") as f:
    f.write(" again")
say("written by the other name", read(p("a", "b", "f")))
with open(p("a", "b", "f"), "a") as f:
    os.unlink(p("hard"))
    f.write(" and again")
say("one name unlinked, written", os.stat(p("a", "b", "f")).st_nlink, read(p("a", "b", "f")))
os.link(p("lf2"), p("hard_of_link"), follow_symlinks=False)
say("hard link of a link", os.path.islink(p("hard_of_link")), os.readlink(p("hard_of_link")))
os.link(p("lf2"), p("hard_followed"))
say("hard link through a link", os.path.islink(p("hard_followed")),
    os.stat(p("hard_followed")).st_nlink)
tryit("hard link of a directory", os.link, p("a"), p("hard_dir"))
tryit("hard link over a file", os.link, p("a", "b", "f"), p("lf2"))

# programs run through links: a local one out of the directory, a script in it
os.symlink(sys.executable, p("py"))
r = subprocess.run([p("py"), "-c", "print(6 * 7)"], capture_output=True, text=True)
say("exec through a link out", r.returncode, r.stdout.strip())
with open(p("s.sh"), "w") as f:
    f.write("#!/bin/sh\necho script $1\n")
os.chmod(p("s.sh"), 0o755)
os.symlink("s.sh", p("ls.sh"))
r = subprocess.run([p("ls.sh"), "ran"], capture_output=True, text=True)
say("exec a script by a link", r.returncode, r.stdout.strip())

print("\n".join(lines))
