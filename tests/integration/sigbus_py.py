"""What a Python program hands the kernel, for it_sigbus: in LEGO_FAULT=sigbus
mode the kernel cannot fault remote memory in, so each call below goes
through Lego's local copies (getcwd, getrandom, stat, getdents64, read and
write, send and recv, select, epoll_wait).  Prints values only, so the output
natively and under Lego can be compared.  Usage: sigbus_py.py DIR"""
import asyncio
import glob
import hashlib
import json
import os
import select
import socket
import sqlite3
import sys
import threading

d = sys.argv[1]
junk = [bytes([i % 251]) * 4096 for i in range(6000)]  # 24 MiB of heap, past the ExCache


def churn():
    return sum(len(b) for b in junk[::7])


print("cwd", os.getcwd() == os.path.realpath("."))
print("urandom", len(os.urandom(1 << 20)), len(set(os.urandom(1 << 16))) > 200)
for i in range(300):
    with open(os.path.join(d, "f%03d.json" % i), "w") as f:
        json.dump(list(range(i, i + 200)), f)
churn()
print("listdir", len(os.listdir(d)), len(glob.glob(os.path.join(d, "*.json"))))
h = hashlib.sha256()
for name in sorted(os.listdir(d)):
    p = os.path.join(d, name)
    h.update(str(os.stat(p).st_size).encode())
    with open(p, "rb") as f:
        h.update(f.read())
print("files", h.hexdigest()[:16], churn())

a, b = socket.socketpair()
payload = hashlib.sha512(b"x").digest() * 50000  # 3.2 MB
t = threading.Thread(target=lambda: (a.sendall(payload), a.close()))
t.start()
got = bytearray()
while True:
    c = b.recv(1 << 16)
    if not c:
        break
    got += c
t.join()
print("socketpair", len(got), bytes(got) == payload)

r, w = os.pipe()
os.write(w, b"ping")
print("select", select.select([r], [], [], 1.0)[0] == [r], os.read(r, 4))


async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def main():
    srv = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    total = 0
    for i in range(100):
        msg = hashlib.sha256(str(i).encode()).digest() * 600
        writer.write(msg)
        await writer.drain()
        total += len(await reader.readexactly(len(msg))) if churn() else 0
    writer.close()
    srv.close()
    return total


print("asyncio echo", asyncio.run(main()))
con = sqlite3.connect(os.path.join(d, "db"))
con.execute("create table t(a, b)")
con.executemany("insert into t values (?, ?)", [(i, str(i) * 20) for i in range(20000)])
con.commit()
print("sqlite", con.execute("select count(*), sum(a), sum(length(b)) from t").fetchone())
