"""Validation on real camera footage (../shared/videos, not in CI: the clips live outside
the repo).

1. every clip alone: no loops (static traffic camera, people walking past, a bottle line,
   the same chair footage edited three ways);
2. the asl/ clips concatenated and encoded once (one signer, one background, different
   gestures: look-alikes that are not copies): no loops;
3. each clip with three stretches of itself spliced in at non-keyframe positions and
   encoded once (libx264 crf 23, GOP 250): every splice found, frame recall/precision.
   The stretches are chosen to move (half their frames change 6+ bits in 0.2 s): a
   stretch of an empty static view copied elsewhere is, by design, not a loop.

    python -m bench.validate_real [--videos ../shared/videos] [--json out.json] [--fast]
"""

from __future__ import annotations

import argparse
import functools
import glob
import json
import operator
import os
import subprocess
import tempfile
import time

import numpy as np

import fastloop
from fastloop.hashing import hamming
from fastloop.media import find_ffmpeg, probe
from fastloop.synth import score

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VIDEOS = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "videos"))
X264 = [
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-crf",
    "23",
    "-g",
    "250",
    "-x264-params",
    "scenecut=0",
    "-pix_fmt",
    "yuv420p",
    "-an",
]


def splice(src: str, out: str, plan: list[tuple[int, int]]) -> np.ndarray:
    """Write the source frames ``[a, b)`` of each plan entry, in order, to ``out``."""
    parts = [
        f"[0:v]trim=start_frame={a}:end_frame={b},setpts=PTS-STARTPTS[v{i}]"
        for i, (a, b) in enumerate(plan)
    ]
    graph = ";".join(parts) + ";" + "".join(f"[v{i}]" for i in range(len(plan)))
    graph += f"concat=n={len(plan)}:v=1:a=0[out]"
    subprocess.run(
        [
            find_ffmpeg(),
            "-v",
            "error",
            "-y",
            "-i",
            src,
            "-filter_complex",
            graph,
            "-map",
            "[out]",
            "-fps_mode",
            "passthrough",
            *X264,
            out,
        ],
        check=True,
    )
    return np.concatenate([np.arange(a, b) for a, b in plan])


def moving(fp, a: int, b: int, shift: int) -> float:
    """Share of frames in [a, b) whose hash differs from ``shift`` frames earlier by
    6+ bits: a stretch that does not move at 24x24 is, to fastloop, a static view."""
    x = np.arange(max(a, shift), b)
    return float((hamming(fp.hashes[x], fp.hashes[x - shift]) >= 6).mean()) if len(x) else 0.0


def splice_plan(fp, fps: float, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Three copies of 2-6 s stretches that move, at random, non-keyframe cut points."""
    n = len(fp)
    plan, cut = [], 0
    points = sorted(rng.choice(np.arange(n // 5, n - 1), 3, replace=False).tolist())
    shift = max(1, round(0.2 * fps))
    for p in points:
        plan.append((cut, p))
        for _ in range(200):
            length = int(rng.integers(int(2 * fps), int(6 * fps)))
            a = int(rng.integers(0, max(1, p - length)))
            if moving(fp, a, min(a + length, p), shift) >= 0.5:
                break
        plan.append((a, min(a + length, p)))
        cut = p
    plan.append((cut, n))
    return plan


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", default=DEFAULT_VIDEOS)
    ap.add_argument("--json", default=None)
    ap.add_argument("--fast", action="store_true", help="scan with --fast")
    args = ap.parse_args(argv)
    scan = functools.partial(fastloop.scan, fast=args.fast)
    clips = sorted(
        glob.glob(os.path.join(args.videos, "*.mp4"))
        + glob.glob(os.path.join(args.videos, "variants", "*.mp4"))
    )
    asl = sorted(glob.glob(os.path.join(args.videos, "asl", "*.mkv")))
    report: dict = {"alone": [], "asl": None, "spliced": []}
    rng = np.random.default_rng(2026)
    with tempfile.TemporaryDirectory(prefix="fastloop-real-") as tmp:
        for path in clips + asl:
            r = scan(path)
            row = {
                "clip": os.path.relpath(path, args.videos),
                "frames": len(r.fingerprint),
                "loops": len(r.loops),
            }
            report["alone"].append(row)
            print(f"alone     {row['clip']:<42} {row['frames']:>5} frames  loops={row['loops']}")
        if asl:
            lst = os.path.join(tmp, "asl.txt")
            with open(lst, "w") as fh:
                fh.writelines(f"file '{p}'\n" for p in asl)
            cat = os.path.join(tmp, "asl.mp4")
            inputs = functools.reduce(operator.iadd, (["-i", p] for p in asl), [])
            graph = "".join(f"[{i}:v]" for i in range(len(asl))) + f"concat=n={len(asl)}:v=1:a=0"
            subprocess.run(
                [find_ffmpeg(), "-v", "error", "-y", *inputs, "-filter_complex", graph, *X264, cat],
                check=True,
            )
            r = scan(cat)
            report["asl"] = {"clips": len(asl), "frames": len(r.fingerprint), "loops": len(r.loops)}
            print(
                f"asl concatenated: {len(asl)} clips, {len(r.fingerprint)} frames, "
                f"loops={len(r.loops)}"
            )
        for path in clips:
            info = probe(path)
            src = fastloop.fingerprint(path)
            plan = splice_plan(src, info.fps, rng)
            out = os.path.join(tmp, "spliced-" + os.path.basename(path))
            truth = splice(path, out, plan)
            t = time.perf_counter()
            r = scan(out)
            dt = time.perf_counter() - t
            s = score(r.loops, truth)
            copies = [
                (a, b, round(moving(src, a, b, max(1, round(0.2 * info.fps))), 2))
                for (a, b) in plan[1::2]
            ]
            row = {
                "clip": os.path.basename(path),
                "frames": len(truth),
                "copies": copies,
                "found": [
                    [o.start_frame for o in lp.occurrences] + [lp.length_frames] for lp in r.loops
                ],
                "scan_s": dt,
                **s,
            }
            report["spliced"].append(row)
            print(
                f"spliced   {row['clip']:<42} {len(truth):>5} frames  {len(copies)} copies  "
                f"loops={len(r.loops)} recall={s['recall']:.4f} precision={s['precision']:.4f}"
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
    return report


if __name__ == "__main__":
    main()
