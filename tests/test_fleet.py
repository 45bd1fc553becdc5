"""Dask: range tasks on a cluster give the local result, survive a killed worker, and a
batch reports every video (a poison input as one error record)."""

import json
import os
import signal
import stat
import sys
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner

import fastloop
from fastloop import pipeline
from fastloop.cli import main
from fastloop.ffmpeg import find_ffmpeg
from fastloop.fleet import Failure, dask_executor, scan_many
from fastloop.video import Video

from .conftest import live_ffmpeg_below

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

pytestmark = pytest.mark.slow


def test_a_cluster_gives_the_local_result(long_clip, monkeypatch):
    """In-process workers (threads) and a real LocalCluster of 2 worker processes."""
    path, _ = long_clip
    local = fastloop.scan(path)
    monkeypatch.setattr(pipeline, "TASK_RANGE_S", 15.0)  # 45 s: two tasks, one seam
    assert len(pipeline.task_ranges(Video(path))) == 2
    with distributed.Client(
        distributed.LocalCluster(n_workers=2, processes=False, dashboard_address=":0")
    ) as client:
        (got,) = scan_many([path], client.get_executor())
    np.testing.assert_array_equal(got.fingerprint.hashes, local.fingerprint.hashes)
    np.testing.assert_array_equal(got.fingerprint.pts, local.fingerprint.pts)
    assert got.to_dict()["loops"] == local.to_dict()["loops"] != []
    with dask_executor("local:2") as executor:
        (got,) = scan_many([path], executor)
    np.testing.assert_array_equal(got.fingerprint.hashes, local.fingerprint.hashes)
    assert got.to_dict()["loops"] == local.to_dict()["loops"]
    assert not live_ffmpeg_below(os.getpid())


def test_a_poison_input_is_one_error_record_and_the_batch_completes(looped_clip, tmp_path):
    poison = tmp_path / "poison.mp4"
    poison.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000))
    missing = str(tmp_path / "missing.mp4")
    runner = CliRunner()
    args = ["--no-progress", "scan", looped_clip[0], str(poison), missing]
    args += ["--dask", "local:2", "--format", "jsonl"]
    res = runner.invoke(_Main(), args, catch_exceptions=False)
    assert res.exit_code == 2, res.output
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert len(lines) == 3
    by_video = {d["video"]: d for d in lines}
    assert by_video["looped.mp4"]["looped"] is True
    assert "error" in by_video["poison.mp4"] and "error" in by_video["missing.mp4"]
    assert "Traceback" not in res.stderr


class _Main:
    name = "fastloop"

    def main(self, args=None, prog_name=None, **extra):
        main(list(args or []))
        sys.exit(0)


def test_a_worker_killed_mid_range_costs_that_range_only(long_clip, tmp_path, monkeypatch):
    """SIGKILL the worker that is decoding: its ffmpeg dies with it (parent-death
    signal), Dask reruns the range elsewhere, and the result is the local one."""
    path, _ = long_clip
    local = fastloop.fingerprint(path)
    # ffmpeg at 3x real time (a wrapper the workers run as FASTLOOP_FFMPEG): the
    # decode lasts long enough to be killed in the middle
    slow = tmp_path / "slow-ffmpeg"
    slow.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        "args = sys.argv[1:]\n"
        "if '-stats_enc_pre' in args:\n"
        "    i = args.index('-i')\n"
        "    args[i:i] = ['-readrate', '3']\n"
        f"os.execv({find_ffmpeg()!r}, [{find_ffmpeg()!r}, *args])\n"
    )
    slow.chmod(slow.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("FASTLOOP_FFMPEG", str(slow))
    monkeypatch.setattr(pipeline, "TASK_RANGE_S", 15.0)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    try:
        with distributed.Client(cluster) as client:
            out: list = []
            runner = threading.Thread(
                target=lambda: out.extend(scan_many([path], client.get_executor()))
            )
            runner.start()
            # wait for both ranges to be decoding, then kill one worker process
            deadline = time.monotonic() + 60
            victims: list[int] = []
            while time.monotonic() < deadline and not victims:
                for w in client.run(os.getpid).values():
                    if live_ffmpeg_below(w):
                        victims = [w]
                        break
                time.sleep(0.2)
            assert victims, "no worker was decoding"
            kids = live_ffmpeg_below(victims[0])
            time.sleep(0.5)
            os.kill(victims[0], signal.SIGKILL)
            runner.join(180)
            assert not runner.is_alive()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and set(kids) & set(live_ffmpeg_below(1)):
                time.sleep(0.1)
            assert not set(kids) & set(live_ffmpeg_below(1)), "an ffmpeg outlived its worker"
    finally:
        cluster.close()
    (got,) = out
    assert not isinstance(got, Failure), got
    np.testing.assert_array_equal(got.fingerprint.hashes, local.hashes)
    np.testing.assert_array_equal(got.fingerprint.pts, local.pts)


def test_range_tasks_on_an_in_process_cluster(long_clip):
    """distributed's own test cluster (scheduler and two workers in this process, on
    one event loop): the range tasks, gathered and merged, are the local fingerprint."""
    from distributed.utils_test import gen_cluster

    from fastloop.hashers import AverageHash

    path, _ = long_clip
    local = fastloop.fingerprint(path)
    video = Video(path)
    ranges = pipeline.task_ranges(video, 15.0)
    hasher = AverageHash(24)
    got: list = []

    @gen_cluster(client=True, timeout=120)
    async def run(c, s, a, b):
        futures = [
            c.submit(pipeline.fingerprint_range, video, r, hasher, pure=False) for r in ranges
        ]
        got.extend(await c.gather(futures))
        assert {ws.address for ws in s.workers.values()} == {a.address, b.address}

    run()
    assert len(ranges) >= 2
    merged = pipeline.merge(got, video, hasher)
    np.testing.assert_array_equal(merged.hashes, local.hashes)
    np.testing.assert_array_equal(merged.pts, local.pts)
    np.testing.assert_array_equal(np.asarray(merged.desc), np.asarray(local.desc))
