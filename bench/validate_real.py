"""Validation on real camera footage (../shared/videos, not in CI: the clips live outside
the repo).

1. every clip alone: no loops (static traffic camera, people walking past, a bottle line,
   the same chair footage edited three ways, 20 sign-language clips);
2. the asl/ clips concatenated and encoded once (one signer, one background, different
   gestures: look-alikes that are not copies): no loops;
3. each clip with three stretches of itself spliced in (1-3 s, chosen to move on the
   gray descriptor: a hand or one person in front of a still background counts), at
   non-keyframe positions, encoded once with x264 at crf 23-28: frame recall/precision;
4. looped clips: a moving stretch of each clip played back to back 30 times with 0-1 s
   trimmed at every cut, and the signer's gestures looped 10 times: one loop expected;
5. animated GIFs: a 2 s moving stretch of each clip played 12 times, 0-2 frames cut at
   either end of each play (a frame at the clip's edge is shown by a few plays only):
   one loop, every play to the frame.

    python -m bench.validate_real [--videos ../shared/videos] [--json out.json] [--quick]
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
from fastloop.ffmpeg import find_ffmpeg
from fastloop.synth import score
from fastloop.verify import Judge
from fastloop.video import probe

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VIDEOS = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "videos"))


def x264(crf: int) -> list[str]:
    return [
        "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-g", "250",
        "-x264-params", "scenecut=0", "-pix_fmt", "yuv420p", "-an",
    ]  # fmt: skip


X264 = x264(23)


def join(clips: list[str], out: str) -> None:
    """The ``clips`` one after another in ``out``, encoded once (``X264``)."""
    inputs = functools.reduce(operator.iadd, (["-i", p] for p in clips), [])
    graph = "".join(f"[{i}:v]" for i in range(len(clips))) + f"concat=n={len(clips)}:v=1:a=0"
    subprocess.run(
        [find_ffmpeg(), "-v", "error", "-y", *inputs, "-filter_complex", graph, *X264, out],
        check=True,
    )


def splice(src: str, out: str, plan: list[tuple[int, int]], crf: int = 23) -> np.ndarray:
    """Write the source frames ``[a, b)`` of each plan entry, in order, to ``out``;
    return the truth (source frame of every output frame). An ``out`` ending in .gif
    is an animated GIF (240 pixels wide, one palette), not H.264."""
    parts = [
        f"[0:v]trim=start_frame={a}:end_frame={b},setpts=PTS-STARTPTS[v{i}]"
        for i, (a, b) in enumerate(plan)
    ]
    graph = ";".join(parts) + ";" + "".join(f"[v{i}]" for i in range(len(plan)))
    graph += f"concat=n={len(plan)}:v=1:a=0[out]"
    codec = x264(crf)
    if out.endswith(".gif"):
        graph = graph[: -len("[out]")]
        graph += ",scale=240:-2,split[a][b];[a]palettegen[p];[b][p]paletteuse[out]"
        codec = ["-loop", "0"]
    args = ["-map", "[out]", "-fps_mode", "passthrough", *codec, out]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write(graph)  # a long graph does not fit on a command line
        script = fh.name
    try:
        subprocess.run(
            [find_ffmpeg(), "-v", "error", "-y", "-i", src, "-/filter_complex", script,
             *args],
            check=True,
        )  # fmt: skip
    finally:
        os.remove(script)
    return np.concatenate([np.arange(a, b) for a, b in plan])


def motion(fp) -> np.ndarray:
    """Per frame, how much it moves in 0.2 s on the gray descriptor (mean gray levels
    over the worst cells; -1 for flat frames)."""
    j = Judge.for_fingerprint(fp, 4)
    return j.motion / j.k


def moving_start(mot, n, length, rng, lo=0, hi=None, share=0.6, level=6.0) -> int:
    """A start for a stretch of ``length`` frames in [lo, hi) where ``share`` of the
    frames move by ``level`` gray levels or more (the best of 300 tries)."""
    hi = n if hi is None else hi
    best, best_a = -1.0, lo
    for _ in range(300):
        a = int(rng.integers(lo, max(lo + 1, hi - length)))
        m = float((mot[a : a + length] >= level).mean())
        if m >= share:
            return a
        if m > best:
            best, best_a = m, a
    return best_a


def splice_plan(mot, fps: float, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Three copies of 1-3 s stretches that move, at random non-keyframe cut points."""
    n = len(mot)
    plan, cut = [], 0
    points = sorted(rng.choice(np.arange(n // 5, n - 1), 3, replace=False).tolist())
    for p in points:
        plan.append((cut, p))
        length = int(rng.integers(int(1 * fps), int(3 * fps) + 1))
        a = moving_start(mot, p, min(length, p), rng)
        plan.append((a, min(a + length, p)))
        cut = p
    plan.append((cut, n))
    return plan


def loop_plan(mot, fps, rng, plays=30, clip_s=3.0, trim_s=1.0) -> list[tuple[int, int]]:
    """A moving stretch of about ``clip_s`` played ``plays`` times back to back, each
    play trimmed by 0..``trim_s`` at either end, after some honest footage."""
    n = len(mot)
    length = min(int(clip_s * fps), n // 2)
    a = moving_start(mot, n, length, rng, share=0.5)
    trim = int(trim_s * fps)
    plan = [(0, min(a, int(2 * fps)))] if a > 0 else []
    for _ in range(plays):
        t0 = int(rng.integers(0, trim // 2 + 1))
        t1 = int(rng.integers(0, trim // 2 + 1))
        plan.append((a + t0, a + length - t1))
    return [(x, y) for x, y in plan if y > x]


def gif_plan(mot, fps, rng, plays=12, clip_s=2.0, trim=2) -> list[tuple[int, int]]:
    """A GIF made of a moving stretch: about ``clip_s`` played ``plays`` times back to
    back, 0..``trim`` frames cut at either end of each play (a clip cut by hand each
    time), after some honest footage."""
    n = len(mot)
    length = min(int(clip_s * fps), n // 2)
    a = moving_start(mot, n, length, rng, share=0.5)
    plan = [(0, min(a, int(2 * fps)))] if a > 0 else []
    for _ in range(plays):
        t0, t1 = (int(t) for t in rng.integers(0, trim + 1, 2))
        plan.append((a + t0, a + length - t1))
    return [(x, y) for x, y in plan if y > x]


def _row(kind, name, truth, r, dt, t_fp, extra=None) -> dict:
    s = score(r.loops, truth)
    row = {
        "kind": kind,
        "clip": name,
        "frames": len(truth),
        "loops": len(r.loops),
        "occurrences": [len(lp.occurrences) for lp in r.loops],
        "scan_s": round(dt, 3),
        "fingerprint_s": round(t_fp, 3),
        **s,
        **(extra or {}),
    }
    print(
        f"{kind:<8} {name:<42} {len(truth):>6} frames  loops={len(r.loops):<3} "
        f"occ={row['occurrences'][:4]!s:<18} recall={s['recall']:.4f} "
        f"precision={s['precision']:.4f}  scan {dt:.1f}s (fingerprint {t_fp:.1f}s)",
        flush=True,
    )
    return row


def _made(src: str, out: str, plan, crf: int) -> np.ndarray:
    """The truth of ``out``, spliced from ``src`` by ``plan``, unless ``out`` and its
    truth exist already (``--keep``)."""
    truth_file = out + ".truth.npy"
    if os.path.exists(out) and os.path.exists(truth_file):
        return np.load(truth_file)
    truth = splice(src, out, plan, crf)
    np.save(truth_file, truth)
    return truth


def _scan_timed(path):
    t = time.perf_counter()
    fp = fastloop.fingerprint(path)
    t_fp = time.perf_counter() - t
    r = fastloop.scan(fp=fp)
    return r, time.perf_counter() - t, t_fp


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", default=DEFAULT_VIDEOS)
    ap.add_argument("--json", default=None)
    ap.add_argument("--quick", action="store_true", help="skip the clips alone")
    ap.add_argument(
        "--keep",
        default=None,
        help="folder for the made videos and their truth; videos already there are "
        "scanned again as they are (a fixed set of cases to compare code against)",
    )
    args = ap.parse_args(argv)
    clips = sorted(
        glob.glob(os.path.join(args.videos, "*.mp4"))
        + glob.glob(os.path.join(args.videos, "variants", "*.mp4"))
    )
    asl = sorted(glob.glob(os.path.join(args.videos, "asl", "*.mkv")))
    report: dict = {"alone": [], "asl": None, "spliced": [], "looped": [], "gif": []}
    rng = np.random.default_rng(2026)
    with tempfile.TemporaryDirectory(prefix="fastloop-real-") as scratch:
        tmp = args.keep or scratch
        os.makedirs(tmp, exist_ok=True)
        if not args.quick:
            for path in clips + asl:
                r = fastloop.scan(path)
                row = {
                    "clip": os.path.relpath(path, args.videos),
                    "frames": len(r.fingerprint),
                    "loops": len(r.loops),
                }
                report["alone"].append(row)
                print(f"alone    {row['clip']:<42} {row['frames']:>6} frames  loops={row['loops']}")
        if asl:
            cat = os.path.join(scratch, "asl.mp4")
            join(asl, cat)
            r = fastloop.scan(cat)
            report["asl"] = {"clips": len(asl), "frames": len(r.fingerprint), "loops": len(r.loops)}
            print(f"asl concatenated: {len(asl)} clips, {len(r.fingerprint)} frames, "
                  f"loops={len(r.loops)}")  # fmt: skip
            clips = [*clips, cat]
        for i, path in enumerate(clips):
            info = probe(path)
            src = fastloop.fingerprint(path)
            mot = motion(src)
            name = os.path.basename(path)
            crf = int(rng.integers(23, 29))
            out = os.path.join(tmp, f"spliced-{i}.mp4")
            plan = splice_plan(mot, info.fps, rng)
            truth = _made(path, out, plan, crf)
            r, dt, t_fp = _scan_timed(out)
            report["spliced"].append(_row("spliced", name, truth, r, dt, t_fp, {"crf": crf}))
            out = os.path.join(tmp, f"looped-{i}.mp4")
            plays = 10 if path == clips[-1] and asl else 30
            clip_s = 30.0 if plays == 10 else 3.0
            plan = loop_plan(mot, info.fps, rng, plays, clip_s)
            truth = _made(path, out, plan, crf)
            r, dt, t_fp = _scan_timed(out)
            report["looped"].append(
                _row("looped", name, truth, r, dt, t_fp, {"crf": crf, "plays": plays})
            )
            out = os.path.join(tmp, f"gif-{i}.gif")
            truth = _made(path, out, gif_plan(mot, info.fps, rng), crf)
            r, dt, t_fp = _scan_timed(out)
            report["gif"].append(_row("gif", name, truth, r, dt, t_fp, {"plays": 12}))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
    return report


if __name__ == "__main__":
    main()
