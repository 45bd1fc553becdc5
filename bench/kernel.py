"""Kernel level: average hash + hash table on in-memory 24x24 frames, no video.

* ``numba``: ``fastloop.hashing.ahash`` then ``fastloop.index.group_ids`` (the numba
  open-addressing table), on all frames;
* ``numpy per-frame``: one frame at a time (``sum``, compare, ``np.packbits``) into a
  dict of bytes: what a straightforward numpy script does;
* ``numpy batch``: the same vectorised over the whole batch, grouped by ``np.unique``
  (information: the best numpy can do without a per-frame loop);
* ``pure Python``: the frame as bytes, the hash built as a Python int, a dict.

All four compute the same hash (fastloop's: bit p set when ``N*N*pixel > sum``, packed
most significant first); that is checked on the first frames. The slow contenders run
on a prefix of the frames and are compared by frames per second.

Start-up, in fresh subprocesses: first call with an empty ``NUMBA_CACHE_DIR`` (numba
compiles ``_ahash_batch`` and ``_group_ids``), then with that cache filled (what every
later run pays), and the bare costs: the interpreter, ``import numba``, the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from .common import REPO, Series, alternate

SIZE = 24
AREA = SIZE * SIZE

_STARTUP_PROBE = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
t1 = time.perf_counter()
import numba
t2 = time.perf_counter()
from fastloop.hashing import ahash
from fastloop.index import group_ids
import fastloop.kernels
t3 = time.perf_counter()
x = np.random.default_rng(0).integers(0, 256, (1000, 24, 24), np.uint8)
t4 = time.perf_counter()
h = ahash(x)
t5 = time.perf_counter()
ids, count = group_ids(h)
t6 = time.perf_counter()
print(json.dumps({"import_numpy_s": t1 - t0, "import_numba_s": t2 - t1,
                  "import_fastloop_s": t3 - t2, "first_ahash_s": t5 - t4,
                  "first_group_ids_s": t6 - t5, "in_process_s": t6 - t0}))
"""


def numpy_key(f: np.ndarray) -> bytes:
    return np.packbits(f.astype(np.int32) * AREA > int(f.sum())).tobytes()


def python_key(b: bytes) -> int:
    s = sum(b)
    h = 0
    for p in b:
        h = (h << 1) | (p * AREA > s)
    return h


def numpy_per_frame(frames: np.ndarray) -> int:
    table: dict[bytes, int] = {}
    ids = []
    for f in frames:
        ids.append(table.setdefault(numpy_key(f), len(table)))
    return len(table)


def numpy_batch(frames: np.ndarray, chunk: int = 65536) -> int:
    keys = []
    for i in range(0, len(frames), chunk):
        x = frames[i : i + chunk].reshape(-1, AREA)
        sums = x.sum(axis=1, dtype=np.int64)
        bits = np.multiply(x, AREA, dtype=np.int32) > sums[:, None]
        keys.append(np.packbits(bits, axis=1))
    k = np.concatenate(keys)
    _, ids = np.unique(k.view(np.dtype((np.void, k.shape[1]))), return_inverse=True)
    return int(ids.max()) + 1


def pure_python(blobs: list[bytes]) -> int:
    table: dict[int, int] = {}
    ids = []
    for b in blobs:
        ids.append(table.setdefault(python_key(b), len(table)))
    return len(table)


def check_same_hash(frames: np.ndarray) -> bool:
    from fastloop.hashing import ahash

    h = ahash(frames).astype(">u8")
    for i, f in enumerate(frames):
        want = h[i].tobytes()
        if numpy_key(f) != want or python_key(f.tobytes()).to_bytes(AREA // 8, "big") != want:
            return False
    return True


def blog_frame_costs(rounds: int = 5) -> dict:
    """Milliseconds per full 1080p RGB frame of what the blog's methods do in Python
    (the frame already decoded): the candidates for "hash the frame" and PIL + aHash."""
    import hashlib

    import imagehash
    from PIL import Image

    frame = np.random.default_rng(1).integers(0, 256, (1080, 1920, 3), np.uint8)
    cases = {
        "hash(frame.tobytes())": lambda: hash(frame.tobytes()),
        "hashlib.sha1(frame)": lambda: hashlib.sha1(frame).digest(),
        "hashlib.md5(frame)": lambda: hashlib.md5(frame).digest(),
        "PIL fromarray + imagehash.average_hash": lambda: imagehash.average_hash(
            Image.fromarray(frame)
        ),
    }
    out = {}
    for name, fn in cases.items():
        fn()
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        out[name] = float(np.median(times)) * 1000
    return out


def _probe(env: dict) -> dict:
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _STARTUP_PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=True,
    ).stdout
    wall = time.perf_counter() - t
    doc = json.loads(out.strip().splitlines()[-1])
    doc["wall_s"] = wall
    return doc


def _wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True, cwd=REPO)
    return time.perf_counter() - t


def startup(rounds: int = 3, log=print) -> dict:
    """Compile (empty numba cache) vs cached start-up, and the bare start-up costs."""
    base = dict(os.environ)
    runs: dict[str, list[dict]] = {"compile": [], "cached": []}
    bare: dict[str, list[float]] = {"python": [], "import_numba": [], "fastloop_version": []}
    with tempfile.TemporaryDirectory(prefix="fastloop-bench-numba-") as root:
        cached_dir = os.path.join(root, "cached")
        # fill the cache once (not timed), then alternate
        _probe({**base, "NUMBA_CACHE_DIR": cached_dir})
        for r in range(rounds):
            fresh = os.path.join(root, f"fresh{r}")
            runs["compile"].append(_probe({**base, "NUMBA_CACHE_DIR": fresh}))
            runs["cached"].append(_probe({**base, "NUMBA_CACHE_DIR": cached_dir}))
            bare["python"].append(_wall([sys.executable, "-c", "pass"]))
            bare["import_numba"].append(_wall([sys.executable, "-c", "import numba"]))
            bare["fastloop_version"].append(_wall([sys.executable, "-m", "fastloop", "--version"]))
            c, k = runs["compile"][-1], runs["cached"][-1]
            log(
                f"    round {r + 1}/{rounds}  start-up: compile {c['wall_s']:.2f} s "
                f"(first ahash {c['first_ahash_s']:.2f} + group_ids "
                f"{c['first_group_ids_s']:.2f}), cached {k['wall_s']:.2f} s"
            )

    def med(rows, key):
        return float(np.median([r[key] for r in rows]))

    keys = runs["compile"][0].keys()
    return {
        "compile": {k: med(runs["compile"], k) for k in keys},
        "cached": {k: med(runs["cached"], k) for k in keys},
        "bare": {k: float(np.median(v)) for k, v in bare.items()},
        "rounds": rounds,
        "runs": runs,
    }


def run_kernels(
    n: int = 1_000_000,
    numpy_n: int = 100_000,
    python_n: int = 10_000,
    rounds: int = 3,
    log=print,
) -> dict:
    from fastloop.hashing import ahash
    from fastloop.index import group_ids

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (n, SIZE, SIZE), np.uint8)
    same = check_same_hash(frames[:500])
    ahash(frames[:1000])  # load the compiled kernels (warm-up)
    group_ids(ahash(frames[:1000]))
    blobs = [f.tobytes() for f in frames[:python_n]]
    sub = frames[:numpy_n]
    series = {
        "numba": Series("numba", "numba ahash + group_ids", n),
        "numpy-per-frame": Series("numpy-per-frame", "numpy, one frame at a time, dict", numpy_n),
        "numpy-batch": Series("numpy-batch", "numpy vectorised + np.unique", numpy_n),
        "pure-python": Series("pure-python", "pure Python int hash, dict", python_n),
    }

    def numba_run():
        t = time.perf_counter()
        h = ahash(frames)
        t1 = time.perf_counter()
        _, count = group_ids(h)
        t2 = time.perf_counter()
        return {"hash_s": t1 - t, "table_s": t2 - t1, "groups": count}

    # warm-up: one run of each (not timed)
    numba_run()
    numpy_per_frame(sub[:2000])
    numpy_batch(sub[:2000])
    pure_python(blobs[:200])
    alternate(
        [
            ("numba", numba_run),
            ("numpy-per-frame", lambda: {"groups": numpy_per_frame(sub)}),
            ("numpy-batch", lambda: {"groups": numpy_batch(sub)}),
            ("pure-python", lambda: {"groups": pure_python(blobs)}),
        ],
        rounds,
        series,
        log,
    )
    out = {name: s.to_dict() for name, s in series.items()}
    nb = series["numba"]
    out["numba"]["hash_s_median"] = float(np.median([r["hash_s"] for r in nb.runs]))
    out["numba"]["table_s_median"] = float(np.median([r["table_s"] for r in nb.runs]))
    for name in ("numpy-per-frame", "numpy-batch", "pure-python"):
        out[name]["numba_speedup"] = nb.fps / series[name].fps
    return {"frames": n, "same_hash_checked": same, "results": out}
