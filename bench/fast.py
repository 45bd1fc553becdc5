"""``--fast`` against the normal scan, side by side, on the bench's clips.

For each clip, four contenders run in alternation (A B C D, the first rotating each
round, after a warm-up): ``fastloop scan`` and ``fastloop scan --fast`` (the CLI,
whole process, with verification), and the ``fingerprint`` stage alone in both
modes (in-process API, decode + hash). Each scan's loops are scored against the
clip's planted copies (frame recall and precision). Writes ``bench/fast.json`` and
``bench/FAST.md``.

Clips: ``720p-clean`` is the bench footage without film grain, so that x264 uses
B-frames (what ``--fast`` skips), one minute and (``720p-clean-5min``) five minutes
with the same two copies; ``1080p`` is the main bench clip, whose grain makes x264
use no B-frames: there ``--fast`` has nothing to skip, and the table shows that too.

    python -m bench.fast [--rounds 3] [--clips 720p-clean,1080p] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from . import clips
from .common import Series, alternate, fmt_s, machine, scan_cli, workdir
from .run import score_scan

HERE = os.path.dirname(os.path.abspath(__file__))
FAST_CLIPS = {
    "720p-clean": clips.ClipSpec("720p-clean", 1280, 720, "medium", grain=False),
    "720p-clean-5min": clips.ClipSpec("720p-clean-5min", 1280, 720, "medium", grain=False),
    "1080p": clips.CLIPS["1080p"],
}
#: The 5-minute clip: the same two copies, in five minutes of footage (verification
#: costs the same, decoding five times more: what --fast saves grows with length).
PLANS = {
    "720p-clean-5min": ((0, 3000), (150, 300), (3000, 6000), (720, 840), (6000, 8730)),
}


def _loops(doc: dict) -> list[dict]:
    return [
        {
            "starts": [o["start_frame"] for o in lp["occurrences"]],
            "frames": lp["length_frames"],
        }
        for lp in doc["loops"]
    ]


def bench_clip(meta: dict, rounds: int, log=print) -> dict:
    import fastloop

    path = meta["path"]
    n = meta["frames"]
    series = {
        "scan": Series("scan", "fastloop scan (CLI)", n),
        "scan_fast": Series("scan_fast", "fastloop scan --fast (CLI)", n),
        "fp": Series("fp", "fingerprint (API)", n),
        "fp_fast": Series("fp_fast", "fingerprint fast=True (API)", n),
    }
    decoded: list[int] = []

    def fp_fast() -> dict:
        fp = fastloop.fingerprint(path, fast=True)
        decoded.append(int(fp.decoded.sum()) if fp.decoded is not None else len(fp))
        return {}

    contenders = [
        ("scan", lambda: scan_cli(path)),
        ("scan_fast", lambda: scan_cli(path, ["--fast"])),
        ("fp", lambda: (fastloop.fingerprint(path), {})[1]),
        ("fp_fast", fp_fast),
    ]
    log(f"  warm-up on {os.path.basename(path)}")
    for _, fn in contenders:
        fn()
    alternate(contenders, rounds, series, log)
    out = {"clip": meta["name"], "label": meta["label"], "frames": n}
    out["decoded_frames"] = statistics.median(decoded)
    for name in ("scan", "scan_fast"):
        s = series[name]
        out[name] = s.to_dict()
        out[name]["score"] = score_scan(meta, _loops(s.runs[-1]["json"]))
        out[name]["loops"] = len(s.runs[-1]["json"]["loops"])
    for name in ("fp", "fp_fast"):
        out[name] = {k: v for k, v in series[name].to_dict().items() if k != "runs"}
    out["scan_speedup"] = series["scan"].median / series["scan_fast"].median
    out["fingerprint_speedup"] = series["fp"].median / series["fp_fast"].median
    return out


def report(doc: dict) -> str:
    m = doc["machine"]
    lines = [
        "# `--fast` against the normal scan",
        "",
        f"Made by `python -m bench.fast` on {doc['date']}: {m.get('cpu', '?')}, "
        f"{m.get('cores', '?')} cores; {doc['rounds']} rounds in alternation after a "
        "warm-up; medians (min-max). Scans are the CLI, whole process;",
        "fingerprints are the API in-process (decode + hash only).",
        "",
        "| clip | frames decoded by --fast | scan | scan --fast | speed-up "
        "| fingerprint | fingerprint fast | speed-up | recall / precision: scan "
        "| --fast |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in doc["clips"]:
        s, f = c["scan"], c["scan_fast"]
        a, b = c["fp"], c["fp_fast"]
        share = c["decoded_frames"] / c["frames"]

        def mm(x):
            return f"{fmt_s(x['median_s'])} s ({fmt_s(x['min_s'])}-{fmt_s(x['max_s'])})"

        minutes = c["frames"] / 30 / 60
        lines.append(
            f"| {c['label']}, {minutes:.0f} min "
            f"| {c['decoded_frames']:,.0f} of {c['frames']:,} ({share:.0%}) "
            f"| {mm(s)} | {mm(f)} | **{c['scan_speedup']:.2f}x** | {mm(a)} | {mm(b)} "
            f"| {c['fingerprint_speedup']:.2f}x "
            f"| {s['score']['recall']:.3f} / {s['score']['precision']:.3f} "
            f"| {f['score']['recall']:.3f} / {f['score']['precision']:.3f} |"
        )
    lines += [
        "",
        "What `--fast` does: ffmpeg decodes only the frames that other frames refer to",
        "(`-skip_frame noref`); the others get the hash of their nearest decoded",
        "neighbour and gray levels interpolated in time between the decoded frames",
        "around them, on the frame grid that ffmpeg's `framecrc` muxer lists from the",
        "packets without decoding. Loops are found and judged on that grid, with no",
        "second decode: the gain is the decode's. A stream without",
        "B-frames (the 1080p clip: its film grain makes x264 use none) decodes every",
        "frame either way and scans as a normal scan does.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clips", default=",".join(FAST_CLIPS))
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=os.path.join(HERE, "fast.json"))
    ap.add_argument("--markdown", default=os.path.join(HERE, "FAST.md"))
    args = ap.parse_args(argv)
    folder = workdir(args.workdir)
    doc = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "rounds": args.rounds,
        "clips": [],
    }
    for name in args.clips.split(","):
        meta = clips.ensure(FAST_CLIPS[name], folder, plan=PLANS.get(name, clips.PLAN))
        print(f"{name}: {meta['label']}, {meta['frames']} frames")
        doc["clips"].append(bench_clip(meta, args.rounds))
    with open(args.json, "w") as fh:
        json.dump(doc, fh, indent=1)
    text = report(doc)
    with open(args.markdown, "w") as fh:
        fh.write(text)
    print(text)
    return doc


if __name__ == "__main__":
    main()
