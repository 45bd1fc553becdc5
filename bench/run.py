"""``python -m bench``: fastloop against the limit (ffmpeg alone) and the blog's methods,
end to end on a 360p and a 1080p H.264 clip, then the kernels, start-up and analysis.

Every contender runs on the same file, in alternation (A B C ... A B C ..., the first one
rotating each round) after a warm-up; results are medians with min-max, frames per
second and ratios against the limit. Writes ``bench/results.json`` and
``bench/RESULTS.md``. Clips are made once (ffmpeg, lavfi + concat, libx264) and cached
in ``~/.cache/fastloop-bench`` (``--workdir``), never in the repository.

    python -m bench                      # the full bench (about 10 minutes on 2 cores)
    python -m bench --quick              # fewer rounds, no veryfast clip, smaller kernels
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import clips, contenders, kernel, report
from .common import HERE, REPO, Series, alternate, machine, scan_cli, workdir

FAST = [
    "limit-halves",
    "limit-keyframes",
    "limit-threads",
    "ffmpeg-null",
    "fastloop-ffmpeg",
    "numpy-pipe",
    "fastloop-scan",
    "fastloop-fingerprint",
]
SLOW = ["blog-bytes", "blog-ahash"]
#: Diagnostics (not in a target): fewer rounds on the 1080p clips.
DIAG = ["numpy-pipe", "fastloop-ffmpeg"]
#: On the veryfast clip (reported if time allows): the limit and the scan.
VERYFAST_SET = ["limit-halves", "limit-keyframes", "limit-threads", "fastloop-scan"]


def log(msg: str) -> None:
    print(msg, flush=True)


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def score_scan(meta: dict, loops: list[dict]) -> dict:
    """Frame recall/precision of fastloop's loops against the clip's planted copies."""
    from fastloop.synth import score

    from .day24 import loops_of

    return score(loops_of({"loops": loops}), clips.truth([tuple(p) for p in meta["plan"]]))


def summarize(meta: dict, series: dict[str, Series]) -> dict:
    rows = {n: s.to_dict() for n, s in series.items()}
    names = ("limit-halves", "limit-keyframes", "limit-threads")
    lim = [n for n in names if n in series and series[n].times]
    limit = min(lim, key=lambda n: series[n].median) if lim else None
    if limit:
        for n, s in series.items():
            rows[n]["vs_limit"] = series[limit].median / s.median if s.times else None
    for n in ("fastloop-scan",):
        s = series.get(n)
        if not s or not s.runs:
            continue
        timing = {k: _median(r["timing"].get(k) for r in s.runs) for k in s.runs[0]["timing"]}
        rows[n]["timing_median"] = timing
        rows[n]["outside_total_s"] = s.median - (timing.get("total_s") or 0.0)
        rows[n]["loops_found"] = s.runs[-1]["loops"]
        rows[n]["score"] = score_scan(meta, s.runs[-1]["loops"])
        rows[n]["frames_seen"] = s.runs[-1]["frames_seen"]
    s = series.get("fastloop-fingerprint")
    if s and s.runs:
        t = [r["timing"] for r in s.runs]
        rows["fastloop-fingerprint"]["hash_s_median"] = _median(x.get("hash_s") for x in t)
    return {"clip": meta, "limit": limit, "contenders": rows}


def bench_clip(meta: dict, names: list[str], rounds: int, only: dict[str, int]) -> dict:
    fns = contenders.make(meta)
    series = {n: Series(n, contenders.LABELS[n], meta["frames"]) for n in names}
    fewer = ", ".join(f"{n}: {k}" for n, k in only.items() if n in names)
    log(f"  {meta['name']}: {len(names)} contenders, {rounds} rounds ({fewer or 'all'})")
    alternate([(n, fns[n]) for n in names], rounds, series, log, only)
    out = summarize(meta, series)
    out["fastloop_ranges"] = contenders.fastloop_ranges(meta["path"])
    out["keyframes_s"] = contenders.keyframes(meta["path"])
    out["load_avg_after"] = list(os.getloadavg())
    return out


def warm_up(meta: dict, names: list[str]) -> dict:
    """Each contender once, untimed: imports, numba's cache, the file in the page cache."""
    fns = contenders.make(meta)
    took = {}
    for n in names:
        t = time.perf_counter()
        fns[n]()
        took[n] = time.perf_counter() - t
        log(f"    warm-up  {n:<24} {took[n]:8.2f} s")
    return took


def preread(path: str) -> None:
    with open(path, "rb") as fh:
        while fh.read(1 << 24):
            pass


def cold_scan(meta: dict) -> dict:
    """One scan with an empty numba cache: what the very first run after install costs."""
    with tempfile.TemporaryDirectory(prefix="fastloop-bench-cold-") as tmp:
        env = {**os.environ, "NUMBA_CACHE_DIR": tmp}
        res = scan_cli(meta["path"], env=env)
    return {"clip": meta["name"], "wall_s": res["wall_s"], "timing": res["json"]["timing"]}


def analysis_level(frames: int) -> dict:
    """bench/analysis.py's measurement in its own process (its peak memory is its own)."""
    code = (
        "import json, bench.analysis as a\n"
        f"rows = a.main(['--frames', '{frames}'])\n"
        "print('ROWS ' + json.dumps(rows))\n"
    )
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    wall = time.perf_counter() - t
    rows = json.loads(proc.stdout.split("ROWS ", 1)[1])
    for line in proc.stdout.splitlines():
        if not line.startswith("ROWS "):
            log("    " + line)
    return {"frames": frames, "rows": rows, "process_wall_s": wall}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--workdir", help="cache folder for the clips (default ~/.cache/fastloop-bench)"
    )
    ap.add_argument("--out", default=HERE, help="where results.json and RESULTS.md go")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds per clip")
    ap.add_argument("--quick", action="store_true", help="fewer rounds and frames (smoke test)")
    ap.add_argument("--no-veryfast", action="store_true", help="skip the veryfast 1080p clip")
    ap.add_argument(
        "--clips", default="360p,1080p,1080p-veryfast", help="which clips (comma-separated)"
    )
    ap.add_argument("--no-cold", action="store_true", help="skip the empty-numba-cache scan")
    ap.add_argument(
        "--budget",
        type=float,
        default=840.0,
        help="seconds: the veryfast clip is skipped when it would not fit (default 840)",
    )
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    folder = workdir(args.workdir)
    quick = args.quick
    r360 = args.rounds or (2 if quick else 4)
    r1080 = args.rounds or (2 if quick else 3)
    slow = 1 if quick else 2
    only360 = {n: (1 if quick else 3) for n in SLOW}
    only1080 = {**{n: slow for n in SLOW}, **{n: min(r1080, 2) for n in DIAG}}
    results: dict = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "workdir": folder,
        "quick": quick,
    }
    log(f"fastloop bench: {results['machine']['cpu']}, {results['machine']['cores']} cores")

    log("clips (made once, cached in " + folder + ")")
    gen_s = 0.0
    metas = {}
    names = [n for n in args.clips.split(",") if n in clips.CLIPS]
    if args.no_veryfast or quick:
        names = [n for n in names if n != "1080p-veryfast"]
    if "360p" not in names:
        names.insert(0, "360p")  # the warm-up clip
    for n in names:
        t = time.perf_counter()
        metas[n] = clips.ensure(clips.CLIPS[n], folder, log)
        if not metas[n]["cached"]:
            gen_s += time.perf_counter() - t
    results["clips"] = metas
    results["generation_s_this_run"] = gen_s
    t_bench = time.perf_counter()

    log("warm-up on the 360p clip (every contender once, untimed)")
    results["warm_up_s"] = warm_up(metas["360p"], FAST + SLOW)
    results["e2e"] = {}
    log("end to end, 360p")
    results["e2e"]["360p"] = bench_clip(metas["360p"], FAST + SLOW, r360, only360)
    if "1080p" in metas:
        log("end to end, 1080p (medium)")
        preread(metas["1080p"]["path"])
        results["e2e"]["1080p"] = bench_clip(metas["1080p"], FAST + SLOW, r1080, only1080)
    if "1080p-veryfast" in metas and "1080p" in metas:
        done = results["e2e"]["1080p"]["contenders"]
        rvf = 2 if quick else min(r1080, 2)
        estimate = sum(done[n]["median_s"] for n in VERYFAST_SET) * rvf + 150
        spent = time.perf_counter() - t_bench
        if spent + estimate > args.budget:
            log(f"  veryfast clip skipped: {spent:.0f} s spent, {estimate:.0f} s more needed")
            results["e2e"]["1080p-veryfast"] = {"skipped": f"time budget ({args.budget:.0f} s)"}
        else:
            log("end to end, 1080p (veryfast)")
            preread(metas["1080p-veryfast"]["path"])
            results["e2e"]["1080p-veryfast"] = bench_clip(
                metas["1080p-veryfast"], VERYFAST_SET, rvf, {}
            )

    if not args.no_cold:
        log("first scan after install (empty numba cache), 360p")
        results["cold_scan"] = cold_scan(metas["360p"])
        log(f"    {results['cold_scan']['wall_s']:.2f} s")

    log("kernel level (in-memory frames)")
    kn = 200_000 if quick else 1_000_000
    results["kernel"] = kernel.run_kernels(
        n=kn, numpy_n=kn // 10, python_n=kn // 100, rounds=2 if quick else 3, log=log
    )
    results["blog_frame_ms"] = kernel.blog_frame_costs()
    log(
        "    per 1080p RGB frame: "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in results["blog_frame_ms"].items())
    )
    log("start-up (fresh processes)")
    results["startup"] = kernel.startup(rounds=2 if quick else 3, log=log)

    log("analysis level (bench/analysis.py)")
    results["analysis"] = analysis_level(500_000 if quick else 2_592_000)

    results["bench_s"] = time.perf_counter() - t_bench
    results["total_s"] = time.perf_counter() - t_start
    results["machine"]["load_avg_end"] = list(os.getloadavg())
    day = os.path.join(args.out, "day24.json")
    if os.path.exists(day):
        with open(day) as fh:
            results["day24"] = json.load(fh)
    results["targets"] = report.targets(results)
    results["extrapolation_24h"] = report.extrapolate(results)
    os.makedirs(args.out, exist_ok=True)
    tmp = os.path.join(args.out, "results.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(results, fh, indent=1, default=float)
    shutil.move(tmp, os.path.join(args.out, "results.json"))
    md = report.markdown(results)
    with open(os.path.join(args.out, "RESULTS.md"), "w") as fh:
        fh.write(md)
    log("")
    for t in results["targets"]:
        log(f"  {t['status']:<4}  {t['name']}: {t['measured_text']} (needs {t['needed_text']})")
    log(
        f"bench {results['bench_s']:.0f} s (+ {gen_s:.0f} s making clips); "
        f"wrote {os.path.join(args.out, 'RESULTS.md')}"
    )
    return results
