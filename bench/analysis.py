"""Analysis level: near-pair search + loop grouping on 2.6 million hashes (24 h at 30 fps).

Two inputs: a random walk (footage: each frame flips a few bits of the previous one, with
copies planted), and the quiet-scene worst case (every frame drawn from a few hundred
near-identical values, so every table bucket is huge). Prints seconds and peak memory.

    python -m bench.analysis [--frames 2592000]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from fastloop.fingerprint import Fingerprint
from fastloop.loops import LoopParams, search

WORDS = 9


def random_walk(n: int, flips: int, rng: np.random.Generator) -> np.ndarray:
    """uint64[n, 9] where frame i differs from frame i-1 in ``flips`` random bits."""
    steps = np.zeros((n, WORDS), np.uint64)
    pos = rng.integers(0, WORDS * 64, (n, flips))
    rows = np.repeat(np.arange(n), flips)
    np.bitwise_xor.at(
        steps,
        (rows, (pos // 64).ravel()),
        np.uint64(1) << (63 - pos % 64).astype(np.uint64).ravel(),
    )
    steps[0] = rng.integers(0, 2**63, WORDS, dtype=np.uint64)
    return np.bitwise_xor.accumulate(steps, axis=0)


def noisy(h: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    h = h.copy()
    for _ in range(bits):
        pos = rng.integers(0, WORDS * 64, len(h))
        h[np.arange(len(h)), pos // 64] ^= np.uint64(1) << (63 - pos % 64).astype(np.uint64)
    return h


def walk_case(n: int, rng) -> tuple[np.ndarray, list]:
    h = random_walk(n, 20, rng)
    planted = []
    for k in range(20):  # 20 copies of 10 s each, spread over the video
        src = int(rng.integers(0, n // 2))
        dst = int(n // 2 + k * (n // 2 - 400) // 20)
        h[dst : dst + 300] = noisy(h[src : src + 300], 3, rng)
        planted.append((src, dst))
    return h, planted


def quiet_case(n: int, rng) -> np.ndarray:
    base = rng.integers(0, 2**63, WORDS, dtype=np.uint64)
    values = noisy(np.repeat(base[None], 300, 0), 6, rng)
    return values[rng.integers(0, 300, n)]


def measure(name: str, h: np.ndarray) -> dict:
    n = len(h)
    fp = Fingerprint(h, np.arange(n) / 30.0, np.full(n, 200, np.uint8), 24, {"fps": 30.0})
    t = time.perf_counter()
    res = search(fp, LoopParams())
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "case": name,
        "frames": n,
        "seconds": dt,
        "loops": len(res.loops),
        "runs": len(res.runs["a"]),
        "peak_rss_mb": peak,
    }


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=2_592_000)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    search(
        Fingerprint(
            random_walk(2000, 20, rng),
            np.arange(2000) / 30.0,
            np.full(2000, 200, np.uint8),
            24,
            {"fps": 30.0},
        )
    )  # compile / load cache
    rows = []
    h, planted = walk_case(args.frames, rng)
    row = measure("random walk, 20 planted copies", h)
    row["planted"] = len(planted)
    rows.append(row)
    del h
    rows.append(measure("quiet scene, 300 near-identical values", quiet_case(args.frames, rng)))
    for r in rows:
        print(
            f"{r['case']:<42} {r['frames']:>9} frames  {r['seconds']:6.1f} s  "
            f"{r['loops']:>3} loops  {r['runs']:>9} runs  peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    return rows


if __name__ == "__main__":
    main()
