#!/usr/bin/env python3
"""Turn requests recorded by daemons (LEGO_RECORD=DIR) into fuzzing seeds.

    scripts/fuzz-seeds.py REC_DIR OUT_DIR

Each DIR/NAME-PID.rec (NAME: memnode, monitor or storenode) holds the
requests of authenticated peers as the daemon received them: u16 opcode,
u16 the peer's role, u32 body length, the body.  For each daemon this
writes OUT_DIR/corpus-NAME/rec-<hash> files in the input format of
tests/fuzz/fuzz_NAME.c: runs of up to 32 consecutive requests, each as a
raw message (pick byte 0xff, flags naming a harness connection of the
sender's role, with valid capabilities where the harness has them, the
opcode byte, u16 body length, the body cut to what the harness takes).

Prints what it wrote, per daemon; exits 1 if a record file is damaged.
"""
import hashlib
import os
import struct
import sys

PROCESS, MEMNODE, TOOL, STORENODE = 1, 2, 3, 4
BYE = 3
PICK_RAW = 0xFF
RUN = 32         # requests per seed
MAX_SEEDS = 400  # per daemon

# Per harness: the connection index for each role, the bit position of the
# connection in the flags byte, the flag that makes capabilities valid,
# and the largest raw body it takes (exclusive).
HARNESS = {
    "memnode": {"conn": {PROCESS: 0, TOOL: 2, MEMNODE: 3}, "shift": 4, "cap": 0x01, "max": 4096},
    "monitor": {"conn": {PROCESS: 0, MEMNODE: 2, TOOL: 4, STORENODE: 5}, "shift": 4,
                "cap": 0x01, "max": 4096},
    "storenode": {"conn": {MEMNODE: 0, TOOL: 2, PROCESS: 3}, "shift": 3, "cap": 0, "max": 8192},
}


def read_records(path):
    """The (opcode, role, body) records of one file."""
    with open(path, "rb") as f:
        data = f.read()
    out, at = [], 0
    while at < len(data):
        if at + 8 > len(data):
            raise ValueError(f"{path}: record header cut at byte {at}")
        op, role, n = struct.unpack_from("<HHI", data, at)
        at += 8
        if at + n > len(data):
            raise ValueError(f"{path}: record body cut at byte {at}")
        out.append((op, role, data[at:at + n]))
        at += n
    return out


def encode(h, op, role, body):
    """One request as the harness reads a raw message."""
    conn = h["conn"].get(role)
    if conn is None or op > 0xFF:
        return b""
    body = body[: h["max"] - 1]
    flags = (conn << h["shift"]) | h["cap"]
    return bytes([PICK_RAW, flags, op]) + struct.pack("<H", len(body)) + body


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    rec_dir, out_dir = sys.argv[1], sys.argv[2]
    seeds = {name: {} for name in HARNESS}
    ops = {name: {} for name in HARNESS}
    bad = 0
    for fn in sorted(os.listdir(rec_dir)):
        name = fn.split("-", 1)[0]
        if not fn.endswith(".rec") or name not in HARNESS:
            continue
        try:
            recs = [r for r in read_records(os.path.join(rec_dir, fn)) if r[0] != BYE]
        except ValueError as e:
            print(f"fuzz-seeds: {e}", file=sys.stderr)
            bad = 1
            continue
        h = HARNESS[name]
        for op, _, _ in recs:
            ops[name][op] = ops[name].get(op, 0) + 1
        for i in range(0, len(recs), RUN):
            seed = b"".join(encode(h, *r) for r in recs[i:i + RUN])
            if seed:
                seeds[name][hashlib.sha1(seed).hexdigest()] = seed
    for name, got in seeds.items():
        keys = sorted(got)
        if len(keys) > MAX_SEEDS:  # evenly over the traffic
            keys = keys[:: len(keys) // MAX_SEEDS + 1]
        d = os.path.join(out_dir, f"corpus-{name}")
        os.makedirs(d, exist_ok=True)
        for k in keys:
            with open(os.path.join(d, f"rec-{k[:16]}"), "wb") as f:
                f.write(got[k])
        opl = " ".join(f"{op}:{n}" for op, n in sorted(ops[name].items()))
        print(f"fuzz-seeds: {name}: {len(keys)} seeds from {sum(ops[name].values())} "
              f"requests (opcode:count {opl or '-'})")
    return bad


if __name__ == "__main__":
    sys.exit(main())
