"""``python -m bench.fleet``: fastloop on a Dask cluster, figures for issue 14.

1. **Workers.** The 1-hour slapping video (``bench.slapping --hours 1`` makes it)
   scanned locally with 1 and 2 decodes (one ffmpeg per core, in one process) and through
   ``fleet.scan_many`` on a LocalCluster of 1 and 2 single-threaded worker processes
   (range tasks of 10 minutes), each against the local scan with as many decodes,
   their rounds alternated, medians. The cluster's start is timed
   apart: a platform starts it once.
2. **Fleet.** 100 short clips (3 s, made here once) scanned one after another
   locally, and as one batch on the 2-worker cluster; the per-task overhead is what
   the cluster adds per clip over its share of the local time.
3. **Store.** Index build and lookup time of :class:`fastloop.store.Store` against
   its size (random fingerprints, 10^5, 10^6 and 10^7 frames), for a 1-minute query.
4. **Archive.** The 4-hour slapping video (``bench.slapping --hours 4``; the day with
   ``--archive-hours 24``): local scan,
   2-worker LocalCluster, and the same cluster with one worker SIGKILLed halfway
   through (Dask's nanny restarts it, its ranges run again): wall times, and whether
   the killed run's fingerprint is the local one.

    python -m bench.fleet [--rounds 3] [--skip-store] [--only-workers] [--archive]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import tempfile
import time

import numpy as np

from .common import HERE, machine, workdir


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def workers_figures(path: str, rounds: int) -> dict:
    import fastloop
    from fastloop.fleet import dask_executor, scan_many

    out: dict = {"video": os.path.basename(path), "rounds": rounds}
    fastloop.scan(path)  # warm-up: the file in the page cache, the kernels loaded
    for n in (1, 2):
        # at equal cores: the local scan with n decodes against n workers, the rounds
        # alternated (the shared machine drifts by 20% in minutes)
        t = time.perf_counter()
        with dask_executor(f"local:{n}") as ex:
            out[f"cluster{n}_start_s"] = time.perf_counter() - t
            list(scan_many([path], ex))  # warm-up: the workers' imports
            local, runs = [], []
            for _ in range(rounds):
                local.append(_timed(lambda n=n: fastloop.scan(path, workers=n)))
                runs.append(_timed(lambda ex=ex: list(scan_many([path], ex))))
        out[f"local{n}_s"] = statistics.median(local)
        out[f"cluster{n}_s"] = statistics.median(runs)
        out[f"cluster{n}_vs_local"] = out[f"local{n}_s"] / out[f"cluster{n}_s"]
    out["local_s"] = out["local2_s"]
    return out


def fleet_figures(folder: str, clips: int) -> dict:
    import fastloop
    from fastloop.fleet import dask_executor, scan_many
    from fastloop.synth import Play, make_video

    paths = []
    for i in range(clips):
        p = os.path.join(folder, f"fleet-{i:03d}.mp4")
        if not os.path.exists(p):
            make_video(p + ".part.mp4", [Play(0, 90)], seed=100 + i, size=(320, 180))
            os.replace(p + ".part.mp4", p)
        paths.append(p)
    local = _timed(lambda: [fastloop.scan(p) for p in paths])
    with dask_executor("local:2") as ex:
        list(scan_many(paths[:2], ex))  # warm: imports and kernels on both workers
        cluster = _timed(lambda: list(scan_many(paths, ex)))
    return {
        "clips": clips,
        "clip_s": 3.0,
        "local_sequential_s": local,
        "cluster2_s": cluster,
        "local_clips_per_s": clips / local,
        "cluster2_clips_per_s": clips / cluster,
        # what each task costs beyond an even share of the local work on 2 workers
        "overhead_per_clip_s": (cluster - local / 2) / clips,
    }


def store_figures(sizes=(100_000, 1_000_000, 10_000_000)) -> list[dict]:
    from fastloop.fingerprint import Fingerprint
    from fastloop.store import Store

    rng = np.random.default_rng(0)
    rows = []
    for total in sizes:
        with tempfile.TemporaryDirectory(prefix="fastloop-store-") as d:
            st = Store(d, create=True)
            per = 100_000
            t_add = time.perf_counter()
            for i in range(total // per):
                fake = os.path.join(d, f"v{i}.bin")
                with open(fake, "wb") as fh:
                    fh.write(rng.bytes(64))
                n = per
                fp = Fingerprint(
                    hashes=rng.integers(0, 2**63, (n, 9), dtype=np.uint64),
                    pts=np.arange(n) / 30.0,
                    contrast=np.full(n, 60, np.uint8),
                    desc=np.zeros((n, 144), np.uint8),
                    hash_size=24,
                    info={"path": fake, "fps": 30.0},
                )
                st.add(fake, fp)
            add_s = time.perf_counter() - t_add
            t = time.perf_counter()
            st.reindex()
            index_s = time.perf_counter() - t
            q = Fingerprint(
                hashes=rng.integers(0, 2**63, (1800, 9), dtype=np.uint64),
                pts=np.arange(1800) / 30.0,
                contrast=np.full(1800, 60, np.uint8),
                desc=np.zeros((1800, 144), np.uint8),
                hash_size=24,
                info={"path": "q.mp4", "fps": 30.0},
            )
            looks = [_timed(lambda q=q, st=st: st.lookup(q)) for _ in range(3)]
            rows.append(
                {
                    "frames": total,
                    "add_s": add_s,
                    "reindex_s": index_s,
                    "lookup_1min_s": statistics.median(looks),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def archive_figures(path: str) -> dict:
    """One long recording: local, on 2 workers, on 2 workers with one killed."""
    import signal
    import threading

    import distributed

    import fastloop
    from fastloop.fleet import _warm_worker, scan_many

    out: dict = {"video": os.path.basename(path)}
    t = time.perf_counter()
    local = fastloop.scan(path)
    out["local_s"] = time.perf_counter() - t
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    try:
        with distributed.Client(cluster) as client:
            client.run(_warm_worker, 24)
            ex = client.get_executor()
            out["cluster2_s"] = _timed(lambda: list(scan_many([path], ex)))
            got: list = []
            t = time.perf_counter()
            runner = threading.Thread(target=lambda: got.extend(scan_many([path], ex)))
            runner.start()
            time.sleep(out["cluster2_s"] / 2)
            victim = next(iter(client.run(os.getpid).values()))
            os.kill(victim, signal.SIGKILL)
            runner.join()
            out["cluster2_one_killed_s"] = time.perf_counter() - t
    finally:
        cluster.close()
    (res,) = got
    same = getattr(res, "fingerprint", None) is not None and np.array_equal(
        res.fingerprint.hashes, local.fingerprint.hashes
    )
    out["killed_run_equals_local"] = bool(same)
    out["frames"] = len(local.fingerprint)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clips", type=int, default=100)
    ap.add_argument("--skip-store", action="store_true")
    ap.add_argument("--only-workers", action="store_true")
    ap.add_argument("--archive", action="store_true", help="only the archive figures")
    ap.add_argument("--archive-hours", default="4", help="which slapping video: 4 or 24")
    ap.add_argument("--workdir")
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args(argv)
    folder = workdir(args.workdir)
    hour = sorted(glob.glob(os.path.join(folder, "slapping-1h-*.mp4")))
    res: dict = {"machine": machine()}
    out = os.path.join(args.out, "fleet.json")
    if args.archive:
        hours = args.archive_hours
        found = sorted(glob.glob(os.path.join(folder, f"slapping-{hours}h-*.mp4")))
        if not found:
            raise SystemExit(f"no {hours}-hour video: python -m bench.slapping --hours {hours}")
        key = "archive" if hours == "4" else f"archive_{hours}h"
        with open(out) as fh:
            res = {**json.load(fh), key: archive_figures(found[0])}
        print(json.dumps(res[key]), flush=True)
        with open(out, "w") as fh:
            json.dump(res, fh, indent=1)
        return
    if hour:
        res["workers"] = workers_figures(hour[0], args.rounds)
        print(json.dumps(res["workers"]), flush=True)
    else:
        print("no 1-hour slapping video: python -m bench.slapping --hours 1 makes it")
    if args.only_workers and os.path.exists(out):
        with open(out) as fh:
            res = {**json.load(fh), **res}
    else:
        res["fleet"] = fleet_figures(folder, args.clips)
        print(json.dumps(res["fleet"]), flush=True)
        if not args.skip_store:
            res["store"] = store_figures()
    with open(out, "w") as fh:
        json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
