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


CELLS = 144


def drifting(n: int, rng: np.random.Generator, chunk: int = 1 << 18) -> np.ndarray:
    """uint8[n, 144] gray descriptors of footage that moves and never comes back: every
    cell a sine of its own (incommensurate) speed."""
    w = np.exp(rng.uniform(np.log(0.02), np.log(0.4), CELLS))
    phi = rng.uniform(0, 2 * np.pi, CELLS)
    out = np.empty((n, CELLS), np.uint8)
    for a in range(0, n, chunk):
        t = np.arange(a, min(n, a + chunk))[:, None]
        out[a : a + len(t)] = (128 + 90 * np.sin(w * t + phi)).astype(np.uint8)
    return out


def walk_case(n: int, rng) -> tuple[np.ndarray, np.ndarray, list]:
    h = random_walk(n, 20, rng)
    desc = drifting(n, rng)
    planted = []
    for k in range(20):  # 20 copies of 10 s each, spread over the video
        src = int(rng.integers(0, n // 2))
        dst = int(n // 2 + k * (n // 2 - 400) // 20)
        h[dst : dst + 300] = noisy(h[src : src + 300], 3, rng)
        grain = rng.integers(-2, 3, (300, CELLS))
        desc[dst : dst + 300] = np.clip(desc[src : src + 300] + grain, 0, 255)
        planted.append((src, dst))
    return h, desc, planted


def quiet_case(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """A still scene: a few hundred near-identical hashes, one picture with sensor noise."""
    base = rng.integers(0, 2**63, WORDS, dtype=np.uint64)
    values = noisy(np.repeat(base[None], 300, 0), 6, rng)
    picture = rng.integers(40, 200, CELLS)
    desc = np.empty((n, CELLS), np.uint8)
    for a in range(0, n, 1 << 18):
        m = min(n, a + (1 << 18)) - a
        desc[a : a + m] = np.clip(picture + rng.integers(-2, 3, (m, CELLS)), 0, 255)
    return values[rng.integers(0, 300, n)], desc


def measure(name: str, h: np.ndarray, desc: np.ndarray) -> dict:
    n = len(h)
    fp = Fingerprint(h, np.arange(n) / 30.0, np.full(n, 200, np.uint8), 24, desc, {"fps": 30.0})
    t = time.perf_counter()
    res = search(fp, LoopParams())
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "case": name,
        "frames": n,
        "seconds": dt,
        "loops": len(res.loops),
        "runs": len(res.proposed["a"]),
        "peak_rss_mb": peak,
    }


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=2_592_000)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    h, desc, _ = walk_case(20_000, rng)
    measure("warm-up", h, desc)  # compile / load cache
    rows = []
    h, desc, planted = walk_case(args.frames, rng)
    row = measure("random walk, 20 planted copies", h, desc)
    row["planted"] = len(planted)
    rows.append(row)
    del h, desc
    rows.append(measure("quiet scene, 300 near-identical values", *quiet_case(args.frames, rng)))
    for r in rows:
        print(
            f"{r['case']:<42} {r['frames']:>9} frames  {r['seconds']:6.1f} s  "
            f"{r['loops']:>3} loops  {r['runs']:>9} runs  peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    return rows


if __name__ == "__main__":
    main()
