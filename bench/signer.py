"""``python -m bench.signer``: issue 11's looped signer video, scanned against its fingerprint.

The 20 sign-language clips of ``../shared/videos/asl`` joined (one signer, one
background, 44 s), played back to back 28 times with 0-1 s trimmed at each cut and
encoded once with x264 (crf 25): about 10 minutes. Recorded: the whole scan (API:
fingerprint and search) against the fingerprint alone, alternated rounds, medians;
the loops, and frame recall and precision against the plan. Cached outside the repo.

    python -m bench.signer [--videos ../shared/videos] [--rounds 3]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import time

import numpy as np

import fastloop
from fastloop.synth import score

from .common import HERE, machine, workdir
from .validate_real import DEFAULT_VIDEOS, join, loop_plan, motion, splice

PLAYS = 28


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.signer", description=__doc__.splitlines()[0])
    ap.add_argument("--videos", default=DEFAULT_VIDEOS)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir", help="cache folder for the videos")
    args = ap.parse_args(argv)
    clips = sorted(glob.glob(os.path.join(args.videos, "asl", "*.mkv")))
    if not clips:
        raise SystemExit(f"bench.signer: no asl/*.mkv under {args.videos}")
    folder = workdir(args.workdir)
    joined = os.path.join(folder, "signer-joined.mp4")
    if not os.path.exists(joined):
        join(clips, joined)
    src = fastloop.fingerprint(joined)
    plan = loop_plan(
        motion(src), src.fps, np.random.default_rng(11), PLAYS, len(src) / src.fps - 1.0
    )
    video = os.path.join(folder, f"signer-looped-{PLAYS}.mp4")
    if not os.path.exists(video + ".truth.npy"):
        np.save(video + ".truth.npy", splice(joined, video, plan, 25))
    truth = np.load(video + ".truth.npy")
    fingerprints, scans = [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        fastloop.fingerprint(video)
        fingerprints.append(time.perf_counter() - t)
        t = time.perf_counter()
        result = fastloop.scan(video)
        scans.append(time.perf_counter() - t)
    s = score(result.loops, truth)
    out = {
        "machine": machine(),
        "frames": len(truth),
        "minutes": round(len(truth) / src.fps / 60, 2),
        "plays": PLAYS,
        "fingerprint_s": fingerprints,
        "scan_s": scans,
        "scan_vs_fingerprint": statistics.median(scans) / statistics.median(fingerprints),
        "loops": len(result.loops),
        "occurrences": [len(lp.occurrences) for lp in result.loops],
        **s,
    }
    print(
        f"signer: {out['minutes']} min, {PLAYS} plays; scan {statistics.median(scans):.2f} s "
        f"against the fingerprint alone {statistics.median(fingerprints):.2f} s "
        f"({out['scan_vs_fingerprint']:.3f}x); {out['loops']} loop(s) {out['occurrences']}, "
        f"recall {s['recall']:.4f}, precision {s['precision']:.4f}"
    )
    with open(os.path.join(HERE, "signer.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
