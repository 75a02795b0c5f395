"""Load a redis server with deterministic values, or read every one back.

    redis_check.py load  PORT N SIZE   SET k:000000000000 .. k:N-1 (pipelined)
    redis_check.py check PORT N SIZE   GET them all; exit 1 on any mismatch

Keys have 12 digits, as redis-benchmark's __rand_int__ (bench/compare.sh
reads them at random with GET k:__rand_int__).

A tiny RESP client over a socket, so the test needs no redis module.
"""
import hashlib
import socket
import sys


def value(i, size):
    seed = hashlib.sha256(b"%d" % i).hexdigest().encode()
    return (seed * (size // len(seed) + 1))[:size]


def cmd(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Reader:
    def __init__(self, s):
        self.s, self.buf = s, bytearray()

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                l = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return l
            self._fill(len(self.buf) + 1)

    def reply(self):
        l = self.line()
        if l[:1] == b"$":
            n = int(l[1:])
            if n < 0:
                return None
            self._fill(n + 2)
            v = bytes(self.buf[:n])
            del self.buf[:n + 2]
            return v
        if l[:1] == b"-":
            raise RuntimeError(l.decode())
        return l


def main():
    what, port, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    s = socket.create_connection(("127.0.0.1", port))
    r = Reader(s)
    batch, bad = 500, 0
    for base in range(0, n, batch):
        ks = range(base, min(n, base + batch))
        if what == "load":
            s.sendall(b"".join(cmd(b"SET", b"k:%012d" % i, value(i, size)) for i in ks))
            for _ in ks:
                if r.reply() != b"+OK":
                    bad += 1
        else:
            s.sendall(b"".join(cmd(b"GET", b"k:%012d" % i) for i in ks))
            for i in ks:
                if r.reply() != value(i, size):
                    bad += 1
    print("%s: %d keys of %d bytes, %d wrong" % (what, n, size, bad))
    sys.exit(1 if bad else 0)


main()
