"""``python -m bench.slapping``: the "24 hours of slapping myself" video, end to end.

Built like the blog's: one clip of one scene with motion (251 s of :mod:`bench.footage`,
which moves all the time, so every cut falls in the middle of motion) played back to
back, cut at the same point each time (about 344 plays in 24 hours), with a fifth of the
cuts trimmed by 1-6 frames on either side, and two stretches of 10 s of *other* footage
each shown twice (two loops of their own). 30 fps, 128x72, encoded once with libx264,
cached outside the repository.

Recorded: wall time of ``fastloop scan`` against ffmpeg alone decoding the same file,
twice: into fastloop's own pipe (its command lines, the frames read and thrown away:
the limit the issue sets) and to the null muxer (two halves, as in the main bench: plain
``ffmpeg -f null``, frame by frame, which fastloop's tiled pipe now beats), peak RSS of fastloop
and of its ffmpeg children apart, the loops reported, and every play scored against
the plan: the loop holding most of the clip must have one occurrence per play, each
first and last frame within one frame.

With ``--rounds N`` the scan and ffmpeg into the pipe are run N times each, alternated
(scan, ffmpeg, scan, ffmpeg...), after the scan that measures memory, and the ratio is
of their medians: the machine is shared, and one pair of runs can differ by 10% from
the next.

    python -m bench.slapping --hours 1     # 14 plays: the quick check
    python -m bench.slapping               # 24 hours, ~344 plays
    python -m bench.slapping --rounds 3    # alternated rounds, medians
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import time

import numpy as np

from .common import HERE, machine, scan_cli, workdir
from .day24 import FPS, limit, loops_of, render

CLIP_S = 251
OTHER_S = 10
#: Footage frame numbers: the clip is [0, CLIP), the other stretches far from it.
OTHER_AT = (10_000_000, 20_000_000)


def plan(frames: int, rng: np.random.Generator) -> tuple[np.ndarray, list, list]:
    """Footage frame of every output frame, the plays ``(start, stop, first footage
    frame)`` and the other stretches' places ``(start, stop, footage start)``."""
    clip = CLIP_S * FPS
    other = OTHER_S * FPS
    # the two other stretches go in after the plays at about 1/3 and 2/3 of the video,
    # each shown twice: once there and once near the end
    n_plays = max(3, round((frames - 4 * other) / clip))
    breaks = {round(n_plays / 3): 0, round(2 * n_plays / 3): 1}
    again = {n_plays - 2: 0, n_plays - 1: 1}
    parts, plays, others = [], [], []
    at = 0
    for k in range(n_plays):
        a, b = 0, clip
        if k > 0 and rng.random() < 0.2:
            a = int(rng.integers(1, 7))
        if k < n_plays - 1 and rng.random() < 0.2:
            b = clip - int(rng.integers(1, 7))
        parts.append(np.arange(a, b))
        plays.append((at, at + b - a, a))
        at += b - a
        for table in (breaks, again):
            if k in table:
                s = OTHER_AT[table[k]]
                parts.append(np.arange(s, s + other))
                others.append((at, at + other, s))
                at += other
    src = np.concatenate(parts)[:frames]
    return src, plays, others


def pipe_limit(path: str, frames: int) -> float:
    """ffmpeg alone decoding the file into the same pipe as the scan: fastloop's own
    command lines (its range plan), their frames read and thrown away. The wall time."""
    import tempfile

    from .common import run_parallel
    from .contenders import fastloop_commands

    with tempfile.TemporaryDirectory(prefix="fastloop-bench-") as tmp:
        t = time.perf_counter()
        run_parallel(fastloop_commands(path, tmp), piped=True)
        dt = time.perf_counter() - t
    print(f"  ffmpeg alone into fastloop's pipe: {dt:.1f} s ({frames / dt:,.0f} fps)")
    return dt


def score_plays(doc: dict, plays: list, others: list, src: np.ndarray) -> dict:
    """The plays against the loop that holds most of them, and the other stretches."""
    from fastloop.synth import score

    loops = doc["loops"]
    s = score(loops_of(doc), src)
    if not loops:
        return {"loops": 0, **s}
    main = max(loops, key=lambda lp: sum(o["length_frames"] for o in lp["occurrences"]))
    occ = sorted((o["start_frame"], o["length_frames"]) for o in main["occurrences"])
    starts = np.array([o[0] for o in occ])
    exact = start_off = end_off = 0
    for a, b, _ in plays:
        i = int(np.argmin(np.abs(starts - a)))
        o_a, o_n = occ[i]
        da, db = abs(o_a - a), abs(o_a + o_n - b)
        start_off, end_off = max(start_off, da), max(end_off, db)
        exact += da <= 1 and db <= 1
    other_loops = sum(
        1
        for lp in loops
        if lp is not main
        and sum(
            any(o["start_frame"] <= a + 1 and o["start_frame"] + o["length_frames"] >= b - 1
                for o in lp["occurrences"])
            for a, b, _ in others
        )
        >= 2
    )  # fmt: skip
    return {
        "loops": len(loops),
        "plays": len(plays),
        "occurrences_of_main_loop": len(occ),
        "plays_cut_within_one_frame": exact,
        "worst_start_off": start_off,
        "worst_end_off": end_off,
        "main_loop_footage_frames": main["length_frames"],
        "other_stretches_found_as_own_loops": other_loops,
        **s,
    }


def main(argv=None) -> dict:
    doc = __doc__.splitlines()[0]
    ap = argparse.ArgumentParser(prog="python -m bench.slapping", description=doc)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--height", type=int, default=72)
    ap.add_argument("--preset", default="ultrafast")
    ap.add_argument("--rounds", type=int, default=1, help="alternated scan/ffmpeg runs")
    ap.add_argument("--workdir", help="cache folder for the video")
    ap.add_argument("--out", default=HERE, help="where slapping.json goes")
    args = ap.parse_args(argv)
    frames = round(args.hours * 3600 * FPS)
    src, plays, others = plan(frames, np.random.default_rng(344))
    key = hashlib.sha1(json.dumps([frames, args.width, args.height, args.preset, "v1"]).encode())
    name = f"slapping-{args.hours:g}h-{key.hexdigest()[:8]}.mp4"
    path = os.path.join(workdir(args.workdir), name)
    print(f"slapping: {args.hours:g} h, {len(plays)} plays of {CLIP_S} s, {path}")
    if not os.path.exists(path):
        make_s, encoder = render(path, src, args.width, args.height, args.preset)
        print(f"  made in {make_s:.0f} s ({encoder})")
    t = time.perf_counter()
    res = scan_cli(path, memory=True)
    doc = res["json"]
    out = {
        "machine": machine(),
        "hours": args.hours,
        "frames": int(doc["frames"]),
        "scan_wall_s": res["wall_s"],
        "timing": doc["timing"],
        "memory": res["memory"],
        **score_plays(doc, plays, others, src),
    }
    lim = limit({"path": path, "frames": frames})
    out["limit_wall_s"] = lim["wall_s"]
    if args.rounds == 1:
        scans, piped = [res["wall_s"]], [pipe_limit(path, frames)]
    else:
        # the first scan polled its memory (and met a cold cache): timed apart, the
        # rounds that count alternate a scan and ffmpeg alone
        scans, piped = [], []
        for _ in range(args.rounds):
            scans.append(scan_cli(path)["wall_s"])
            print(f"  scan: {scans[-1]:.1f} s")
            piped.append(pipe_limit(path, frames))
        out["first_scan_wall_s"] = res["wall_s"]
        out["scan_walls_s"] = scans
        out["pipe_limit_walls_s"] = piped
        out["scan_wall_s"] = res["wall_s"] = statistics.median(scans)
    out["scan_vs_limit"] = res["wall_s"] / lim["wall_s"]
    piped = statistics.median(piped)
    out["pipe_limit_wall_s"] = piped
    out["scan_vs_pipe_limit"] = res["wall_s"] / piped
    m = out["memory"]
    print(
        f"  scan {res['wall_s']:.1f} s; ffmpeg alone {lim['wall_s']:.1f} s to the null muxer "
        f"(scan takes {out['scan_vs_limit']:.3f}x), {piped:.1f} s into fastloop's pipe "
        f"(scan takes {out['scan_vs_pipe_limit']:.3f}x); fastloop peak RSS "
        f"{m['fastloop_peak_rss_mb']:.0f} MB, ffmpeg {m['ffmpeg_peak_rss_mb_max_child']:.0f} MB "
        f"per child; search {doc['timing'].get('match_s', 0):.1f} s"
    )
    print(
        f"  {out['loops']} loops; main loop {out['occurrences_of_main_loop']} occurrences for "
        f"{out['plays']} plays, {out['plays_cut_within_one_frame']} cut within one frame "
        f"(worst start {out['worst_start_off']}, end {out['worst_end_off']} frames off); "
        f"other stretches as own loops: {out['other_stretches_found_as_own_loops']}/2; "
        f"recall {out['recall']:.4f}, precision {out['precision']:.4f}"
    )
    out["total_s"] = time.perf_counter() - t
    os.makedirs(args.out, exist_ok=True)
    path_json = os.path.join(args.out, "slapping.json")
    runs = {}
    if os.path.exists(path_json):
        with open(path_json) as fh:
            runs = json.load(fh)
    runs[f"{args.hours:g}h"] = out
    with open(path_json, "w") as fh:
        json.dump(runs, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
