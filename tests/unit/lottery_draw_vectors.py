#!/usr/bin/env python3
"""Independent reference for docs/lottery-protocol.md §8 (not run by make).

Prints the expected values that tests/unit/test_lottery_draw.c hard-codes:
seed hashes, pool hashes, the first stream numbers, uniform() results with
rejection, and draw_pick outputs. Written from the protocol text alone,
with hashlib, so it shares no code with apps/lottery/draw.c."""
import hashlib


def stream(seed):
    i = 0
    while True:
        block = hashlib.sha256(seed + i.to_bytes(8, "big")).digest()
        for o in range(0, 32, 8):
            yield int.from_bytes(block[o:o + 8], "big")
        i += 1


def uniform(it, m):
    t = (2**64 - m) % m
    rejected = 0
    while True:
        x = next(it)
        if x >= t:
            return x % m, rejected
        rejected += 1


def pick(seed, n, k):
    pos = list(range(n))
    it = stream(seed)
    for i in range(k):
        j = i + uniform(it, n - i)[0]
        pos[i], pos[j] = pos[j], pos[i]
    return pos[:k]


SEEDS = {
    "zero": bytes(32),
    "count": bytes(range(32)),
    "sha_abc": hashlib.sha256(b"abc").digest(),
}

for name, seed in SEEDS.items():
    print(name, "seed", seed.hex())
    print("  seedHash", hashlib.sha256(seed).hexdigest())
    it = stream(seed)
    print("  first5", ["0x%016x" % next(it) for _ in range(5)])
    print("  pick(10,3)", pick(seed, 10, 3))
    print("  pick(1000,5)", pick(seed, 1000, 5))
    print("  pick(7,7)", pick(seed, 7, 7))
    for m in (3, 2**63 + 1, 2**64 - 1):
        print("  uniform(%d)" % m, uniform(stream(seed), m))

pool = sorted([b"E002", b"E001", b"E010", "王".encode(), b"e001"])
print("pool", pool)
print("poolHash", hashlib.sha256(b"".join(p + b"\n" for p in pool)).hexdigest())
print("emptyPoolHash", hashlib.sha256(b"").hexdigest())
