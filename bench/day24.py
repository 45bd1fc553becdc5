"""``python -m bench.day24``: make a real 24-hour video and scan it with ``fastloop scan``.

The video: 30 fps, 2,592,000 frames at 128x72, footage that moves and never repeats
(:mod:`bench.footage`, rendered by numpy, scaled up by ffmpeg) with copies of 10 s
planted at known places (one per hour, at least 3), encoded once with libx264
(``ultrafast`` by default; no B-frames). It is written to the cache folder
(``~/.cache/fastloop-bench`` or ``--workdir``), never the repository, and reused by
later runs; how long making it took is recorded.

The scan runs ``python -m fastloop scan --format json`` as a subprocess, polled for the
peak RSS of fastloop and of its ffmpeg children apart (``VmHWM`` in /proc), and checks
that every planted copy comes back. ``--flatness`` also scans a 1/4-as-long video, to
show that memory does not grow with the video (the hashes do: 72 bytes a frame). The
24-hour times of real 1080p and 360p scans are extrapolated from bench/results.json.

    python -m bench.day24 --hours 0.25          # smoke test: 15 minutes of video
    python -m bench.day24 --hours 1 --flatness  # 1 h vs 15 min: memory flatness
    python -m bench.day24                       # the real thing (24 h of video)
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices; no spinning threads

import argparse
import hashlib
import json
import subprocess
import threading
import time

import numpy as np

from .common import HERE, ffmpeg_exe, machine, scan_cli, workdir
from .footage import Footage, plan_copies, source_index

FPS = 30
COPY_S = 10
BATCH = 8192


def _name(hours: float, width: int, height: int, preset: str, copies: int) -> str:
    key = hashlib.sha1(
        json.dumps([hours, width, height, preset, copies, COPY_S, "footage-v2"]).encode()
    ).hexdigest()[:8]
    return f"day-{hours:g}h-{width}x{height}-{preset}-{key}.mp4"


def _encode_part(cmd: list[str], footage: Footage, src: np.ndarray, errors: list) -> None:
    """Render footage frames ``src`` batch by batch into one encoder's stdin."""
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        assert proc.stdin is not None
        try:
            for a in range(0, len(src), BATCH):
                proc.stdin.write(footage.frames(src[a : a + BATCH]).tobytes())
            proc.stdin.close()
            if proc.wait() != 0:
                raise RuntimeError(f"ffmpeg failed to encode {cmd[-1]}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    except BaseException as exc:  # reported by the caller
        errors.append(exc)


def render(path: str, src: np.ndarray, width: int, height: int, preset: str, log=print):
    """Encode footage frames ``src`` (one footage frame number per output frame) to
    ``path``, once; return (seconds it took, the encoder's description).

    At 128x72 one x264 is fastest single-threaded, so the frames are cut in one part
    per core, each encoded by its own single-threaded x264 (fed by its own thread),
    and the parts are joined without re-encoding (concat demuxer, stream copy;
    ``ultrafast`` has no B-frames, so the timestamps simply continue)."""
    frames = len(src)
    footage = Footage(fps=FPS)
    exe = ffmpeg_exe()
    parts = max(1, min(os.cpu_count() or 1, frames // 9000))
    bounds = np.linspace(0, frames, parts + 1).astype(int)
    t = time.perf_counter()
    names = [f"{path}.part{k}.mp4" for k in range(parts)]
    threads, errors = [], []
    for k in range(parts):
        cmd = [
            exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{footage.width}x{footage.height}",
            "-r", str(FPS), "-i", "pipe:",
            "-vf", f"scale={width}:{height}:flags=bicubic,format=yuv420p",
            "-c:v", "libx264", "-threads", "1", "-preset", preset, "-crf", "23", "-g", "250",
            "-f", "mp4", names[k],
        ]  # fmt: skip
        th = threading.Thread(
            target=_encode_part, args=(cmd, footage, src[bounds[k] : bounds[k + 1]], errors)
        )
        th.start()
        threads.append(th)
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    listing = path + ".parts.txt"
    with open(listing, "w") as fh:
        fh.writelines(f"file '{os.path.basename(n)}'\n" for n in names)
    subprocess.run(
        [exe, "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", listing,
         "-c", "copy", "-f", "mp4", path + ".part"],
        check=True,
    )  # fmt: skip
    for n in [*names, listing]:
        os.remove(n)
    os.replace(path + ".part", path)
    return time.perf_counter() - t, f"libx264 {preset} crf 23, {parts} single-threaded parts joined"


def make_video(
    path: str, hours: float, width: int, height: int, preset: str, copies: int, log=print
) -> dict:
    """Render, plant copies, encode once; return the manifest (and write it as JSON)."""
    frames = round(hours * 3600 * FPS)
    length = COPY_S * FPS
    rng = np.random.default_rng(2026)
    plan = plan_copies(frames, copies, length, rng)
    src = source_index(frames, plan, length)
    log(f"  making {os.path.basename(path)}: {frames:,} frames, {copies} copies of {COPY_S} s")
    dt, encoder = render(path, src, width, height, preset, log)
    meta = {
        "path": path,
        "hours": hours,
        "frames": frames,
        "width": width,
        "height": height,
        "fps": FPS,
        "encoder": encoder,
        "copies": copies,
        "copy_frames": length,
        "plan": plan,
        "make_s": dt,
        "make_fps": frames / dt,
        "mbytes": os.path.getsize(path) / 1e6,
    }
    with open(path + ".json", "w") as fh:
        json.dump(meta, fh)
    log(f"  made in {dt:.0f} s ({frames / dt:,.0f} fps), {meta['mbytes']:.0f} MB")
    return meta


def ensure_video(folder, hours, width, height, preset, copies, log=print) -> dict:
    path = os.path.join(folder, _name(hours, width, height, preset, copies))
    if os.path.exists(path) and os.path.exists(path + ".json"):
        with open(path + ".json") as fh:
            meta = json.load(fh)
        meta["cached"] = True
        log(f"  reusing {path} (made in {meta['make_s']:.0f} s)")
        return meta
    meta = make_video(path, hours, width, height, preset, copies, log)
    meta["cached"] = False
    return meta


def loops_of(doc: dict) -> list:
    """The loops of ``fastloop scan --format json`` output as library objects."""
    from fastloop.loops import Loop, Occurrence

    return [
        Loop(
            lp["length_frames"],
            lp["length_s"],
            lp["mean_distance"],
            tuple(
                Occurrence(o["start_frame"], o["start_s"], o["length_frames"], o["offset_frames"])
                for o in lp["occurrences"]
            ),
        )
        for lp in doc["loops"]
    ]


def check(meta: dict, doc: dict) -> dict:
    """Did every planted copy come back? A copy is found when one loop has an
    occurrence over most of its original and one over most of its copy."""
    from fastloop.synth import score

    length = meta["copy_frames"]
    loops = doc["loops"]

    def covers(occ_start: int, occ_len: int, start: int) -> bool:
        overlap = min(occ_start + occ_len, start + length) - max(occ_start, start)
        return overlap >= 0.5 * length

    found = 0
    for s, d in meta["plan"]:
        for lp in loops:
            occ = [(o["start_frame"], o["length_frames"]) for o in lp["occurrences"]]
            if any(covers(a, n, s) for a, n in occ) and any(covers(a, n, d) for a, n in occ):
                found += 1
                break
    objs = loops_of(doc)
    truth = source_index(meta["frames"], [tuple(p) for p in meta["plan"]], length)
    return {"planted_found": found, "planted": len(meta["plan"]), "score": score(objs, truth)}


def scan(meta: dict, log=print) -> dict:
    log(f"  scanning {os.path.basename(meta['path'])} ...")
    res = scan_cli(meta["path"], memory=True)
    doc = res["json"]
    out = {
        "hours": meta["hours"],
        "frames": doc["frames"],
        "wall_s": res["wall_s"],
        "fps": doc["frames"] / res["wall_s"],
        "timing": doc["timing"],
        "memory": res["memory"],
        "loops": len(doc["loops"]),
        **check(meta, doc),
    }
    m = out["memory"]
    log(
        f"  {out['frames']:,} frames in {out['wall_s']:.1f} s ({out['fps']:,.0f} fps); "
        f"fastloop peak RSS {m['fastloop_peak_rss_mb']:.0f} MB, ffmpeg "
        f"{m['ffmpeg_peak_rss_mb_max_child']:.0f} MB per child "
        f"({m['ffmpeg_peak_rss_mb_sum']:.0f} MB together); {out['loops']} loops, "
        f"{out['planted_found']}/{out['planted']} planted copies found, frame recall "
        f"{out['score']['recall']:.3f}, precision {out['score']['precision']:.3f}"
    )
    return out


def limit(meta: dict, log=print) -> dict:
    """ffmpeg alone on the day video, as in the main bench: two single-threaded
    processes, one per half, same filter, null muxer."""
    from .common import run_parallel
    from .contenders import limit_halves_args

    t = time.perf_counter()
    run_parallel(limit_halves_args(meta["path"], meta["frames"] / FPS))
    dt = time.perf_counter() - t
    log(f"  limit (ffmpeg alone, 2 halves): {dt:.1f} s ({meta['frames'] / dt:,.0f} fps)")
    return {"wall_s": dt, "fps": meta["frames"] / dt}


def extrapolation(results_path: str) -> dict:
    if not os.path.exists(results_path):
        return {}
    from .report import extrapolate

    with open(results_path) as fh:
        return extrapolate(json.load(fh))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.day24", description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--height", type=int, default=72)
    ap.add_argument("--preset", default="ultrafast", help="x264 preset (default ultrafast)")
    ap.add_argument("--copies", type=int, default=None, help="planted copies (default 1/hour)")
    ap.add_argument("--flatness", action="store_true", help="also scan a 1/4-as-long video")
    ap.add_argument("--workdir", help="cache folder for the videos")
    ap.add_argument("--out", default=HERE, help="where day24.json goes (and RESULTS.md)")
    ap.add_argument("--no-limit", action="store_true", help="skip ffmpeg alone on the video")
    ap.add_argument("--delete", action="store_true", help="delete the videos afterwards")
    args = ap.parse_args(argv)
    folder = workdir(args.workdir)
    t0 = time.perf_counter()
    copies = args.copies or max(3, round(args.hours))
    result: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine()}
    print(f"day24: {args.hours:g} h of {args.width}x{args.height} video in {folder}")
    big = ensure_video(folder, args.hours, args.width, args.height, args.preset, copies)
    videos = [big]
    if args.flatness:
        small_h = args.hours / 4
        videos.insert(
            0,
            ensure_video(
                folder, small_h, args.width, args.height, args.preset, max(3, copies // 4)
            ),
        )
    scans = [scan(v) for v in videos]
    lim = None if args.no_limit else limit(big)
    if lim:
        scans[-1]["limit"] = lim
        scans[-1]["vs_limit"] = lim["wall_s"] / scans[-1]["wall_s"]
        print(f"  scan fps / limit fps: {scans[-1]['vs_limit']:.2f}")
    result.update(
        {
            k: big[k]
            for k in ("hours", "frames", "width", "height", "encoder", "copies", "copy_frames")
        }
    )
    result.update(
        {
            "make_s": big["make_s"],
            "make_fps": big["make_fps"],
            "made_now": not big["cached"],
            "mbytes": big["mbytes"],
            "scans": scans,
        }
    )
    if args.flatness:
        a, b = scans[0], scans[1]
        result["flatness"] = {
            "small_h": a["hours"],
            "big_h": b["hours"],
            "small_mb": a["memory"]["fastloop_peak_rss_mb"],
            "big_mb": b["memory"]["fastloop_peak_rss_mb"],
            "ratio": b["memory"]["fastloop_peak_rss_mb"] / a["memory"]["fastloop_peak_rss_mb"],
        }
        f = result["flatness"]
        print(
            f"  memory flatness: {f['small_mb']:.0f} MB at {f['small_h']:g} h, "
            f"{f['big_mb']:.0f} MB at {f['big_h']:g} h ({f['ratio']:.2f}x)"
        )
    results_path = os.path.join(args.out, "results.json")
    result["extrapolation_24h"] = extrapolation(results_path)
    for clip, row in result["extrapolation_24h"].items():
        print(
            f"  24 h of {clip}: {row['at_limit_s'] / 3600:.2f} h at the limit's rate, "
            f"{row.get('model_s', float('nan')) / 3600:.2f} h modelled, "
            f"{row['at_scan_rate_s'] / 3600:.2f} h at the 1-minute scan rate"
        )
    result["total_s"] = time.perf_counter() - t0
    if args.delete:
        for v in videos:
            for p in (v["path"], v["path"] + ".json"):
                if os.path.exists(p):
                    os.remove(p)
    os.makedirs(args.out, exist_ok=True)
    # bench/day24.json keeps the latest run of every length ("1h", "24h", ...)
    day_path = os.path.join(args.out, "day24.json")
    runs = {}
    if os.path.exists(day_path):
        with open(day_path) as fh:
            runs = json.load(fh).get("runs", {})
    runs[f"{args.hours:g}h"] = result
    with open(day_path, "w") as fh:
        json.dump({"runs": runs}, fh, indent=1)
    if os.path.exists(results_path):  # refresh RESULTS.md with this run
        from .report import markdown

        with open(results_path) as fh:
            res = json.load(fh)
        res["day24"] = {"runs": runs}
        with open(results_path, "w") as fh:
            json.dump(res, fh, indent=1)
        with open(os.path.join(args.out, "RESULTS.md"), "w") as fh:
            fh.write(markdown(res))
    print(f"day24 done in {result['total_s']:.0f} s")
    return result


if __name__ == "__main__":
    main()
