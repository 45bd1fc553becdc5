"""Checkpoints, resume, and stopping: a long scan never loses its work or leaks ffmpeg."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import fastloop
from fastloop.checkpoint import Checkpoint

from .conftest import child_pids


def _descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children") as fh:
                kids = [int(x) for x in fh.read().split()]
        except OSError:
            kids = []
        out.update(kids)
        todo.extend(kids)
    return out


def _alive(pids) -> set[int]:
    alive = set()
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.add(p)
        except OSError:
            pass
    return alive


def _scan_cmd(video, cache, slow=False):
    """The CLI in a child process; ``slow``: decoding at 6x real time, see slow_cli.py."""
    return [
        sys.executable,
        *([os.path.join(os.path.dirname(__file__), "slow_cli.py")] if slow else ["-m", "fastloop"]),
        "scan",
        video,
        "--cache",
        str(cache),
        "--format",
        "json",
    ]


def test_cache_reuses_a_finished_fingerprint(long_clip, tmp_path):
    path, truth = long_clip
    first = fastloop.fingerprint(path, cache=tmp_path)
    ck = Checkpoint(tmp_path, path, 24)
    assert os.path.exists(ck.final_path) and ck.chunks(0) == []
    with pytest.MonkeyPatch.context() as mp:  # no decode: no ffmpeg at all
        mp.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail(f"spawned {a}"))
        again = fastloop.fingerprint(path, cache=tmp_path)
    np.testing.assert_array_equal(again.hashes, first.hashes)
    np.testing.assert_array_equal(again.pts, first.pts)
    plain = fastloop.fingerprint(path)
    np.testing.assert_array_equal(plain.hashes, first.hashes)
    np.testing.assert_array_equal(plain.pts, first.pts)
    assert len(first) == len(truth)


def test_cache_key_follows_the_file(long_clip, tmp_path):
    path = tmp_path / "copy.mp4"
    path.write_bytes(open(long_clip[0], "rb").read())
    a = Checkpoint(tmp_path / "c", str(path), 24).dir
    assert Checkpoint(tmp_path / "c", str(path), 16).dir != a
    with open(path, "r+b") as fh:  # same size, one byte changed at the end
        fh.seek(-10, 2)
        fh.write(b"x")
    os.utime(path, ns=(0, 0))
    assert Checkpoint(tmp_path / "c", str(path), 24).dir != a


def test_cache_key_is_the_content_not_the_path_or_the_time(long_clip, tmp_path):
    """A cluster's workers see one file under other paths and times: one key."""
    src = open(long_clip[0], "rb").read()
    one, two = tmp_path / "one.mp4", tmp_path / "elsewhere" / "two.mp4"
    two.parent.mkdir()
    one.write_bytes(src)
    two.write_bytes(src)
    os.utime(two, ns=(10**9, 10**9))
    assert (
        Checkpoint(tmp_path / "c", str(one), 24).dir == Checkpoint(tmp_path / "c", str(two), 24).dir
    )
    with open(two, "r+b") as fh:  # same size, one byte changed in the middle
        fh.seek(len(src) // 2)
        fh.write(bytes([src[len(src) // 2] ^ 1]))
    assert (
        Checkpoint(tmp_path / "c", str(one), 24).dir != Checkpoint(tmp_path / "c", str(two), 24).dir
    )


def test_a_range_checkpointed_twice_reads_every_frame_once(long_clip, tmp_path, monkeypatch):
    """Two runs of one video into one cache (a retried task, two scans at once), their
    chunks cut at other frames: every frame once, in order, as a plain decode has it."""
    import shutil

    from fastloop import checkpoint

    path, _ = long_clip
    plain = fastloop.fingerprint(path)
    kept = tmp_path / "kept"
    kept.mkdir()
    finish = checkpoint.Checkpoint.finish

    def finish_keeping_chunks(self, plan, *args):
        for r in range(len(plan)):
            for c in self.chunks(r):
                shutil.copy(c, kept)
        return finish(self, plan, *args)

    monkeypatch.setattr(checkpoint.Checkpoint, "finish", finish_keeping_chunks)
    monkeypatch.setattr("fastloop.ffmpeg.process.MIN_BATCH", 16)  # small batches
    monkeypatch.setattr(checkpoint, "CHUNK_FRAMES", 100)
    fastloop.fingerprint(path, cache=tmp_path / "first")
    monkeypatch.setattr(checkpoint, "CHUNK_FRAMES", 37)  # the second run cuts elsewhere
    fastloop.fingerprint(path, cache=tmp_path / "second")
    ck = Checkpoint(tmp_path / "both", path, 24)
    for chunk in kept.glob("r*.npz"):
        shutil.copy(chunk, ck.dir)
    ranges = {c.name[:4] for c in kept.glob("r*.npz")}
    assert len(list(kept.glob("r*.npz"))) > 4 * len(ranges)  # both runs' chunks
    pts = np.concatenate([ck.committed(r)[2] for r in range(len(ranges))])
    hashes = np.concatenate([ck.committed(r)[0] for r in range(len(ranges))])
    np.testing.assert_array_equal(pts - pts[0], plain.pts - plain.pts[0])
    np.testing.assert_array_equal(hashes, plain.hashes)


@pytest.mark.parametrize("seed", [1, 2])
def test_sigkill_then_resume_gives_the_same_hashes_and_loops(long_clip, tmp_path, seed):
    path, _ = long_clip
    cache = tmp_path / "cache"
    reference = fastloop.scan(path)
    proc = subprocess.Popen(
        _scan_cmd(path, cache, slow=True),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # wait for the first chunks, then kill at a random moment
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(cache.glob("*/r*-*.npz")):
        time.sleep(0.05)
    assert list(cache.glob("*/r*-*.npz")), "no checkpoint was written"
    time.sleep(np.random.default_rng(seed).uniform(0.0, 1.5))
    kids = _descendants(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    assert not _alive(kids), "an ffmpeg child survived SIGKILL of fastloop"
    ck = Checkpoint(cache, path, 24)
    assert not os.path.exists(ck.final_path)
    partial = sum(len(ck.committed(r)[2]) for r in range(2))
    assert 0 < partial < len(reference.fingerprint)
    res = subprocess.run(_scan_cmd(path, cache), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    resumed = fastloop.Fingerprint.load(ck.final_path)
    np.testing.assert_array_equal(resumed.hashes, reference.fingerprint.hashes)
    np.testing.assert_array_equal(resumed.pts, reference.fingerprint.pts)
    assert doc["loops"] == json.loads(json.dumps([lp.to_dict() for lp in reference.loops]))


@pytest.mark.parametrize(
    "sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_signal_stops_ffmpeg_keeps_work_and_says_how_to_resume(
    long_clip, tmp_path, sig, code, word
):
    path, _ = long_clip
    cache = tmp_path / "cache"
    proc = subprocess.Popen(
        _scan_cmd(path, cache, slow=True),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(cache.glob("*/r*-*.npz")):
        time.sleep(0.05)
    time.sleep(0.3)
    kids = _descendants(proc.pid)
    assert kids, "ffmpeg should be running"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert word in err and "run the same command to resume" in err and str(cache) in err
    assert "Traceback" not in err
    time.sleep(0.3)
    assert not _alive(kids)
    ck = Checkpoint(cache, path, 24)
    assert sum(len(ck.committed(r)[2]) for r in range(2)) > 0


def test_interrupt_in_library_kills_children(long_clip, tmp_path, monkeypatch):
    from fastloop import decode as dec

    before = child_pids()
    calls = []

    def boom(r, frames):
        calls.append(len(frames))
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dec.decode(long_clip[0], 24, boom)
    assert child_pids() <= before


def test_memory_budget_refuses_before_allocation(looped_clip):
    from fastloop.errors import InputError
    from fastloop.pipeline import check_budget
    from fastloop.video import probe

    info = probe(looped_clip[0])
    check_budget(info, 24)  # 826 frames: fine
    with pytest.raises(InputError, match="use a smaller --hash-size"):
        check_budget(info, 64, memory_bytes=100_000)


def test_a_plan_on_keyframes_is_resumed_as_planned(long_clip, tmp_path):
    """The plan of the first run is the plan of a resume, keyframe starts included;
    a range resumed after its last committed frame seeks with a margin again."""
    from fastloop.video import Range, Video

    plan = Video(long_clip[0]).plan(2, keyframes=True)
    assert plan[1].exact
    ck = Checkpoint(tmp_path, long_clip[0], 8)
    assert ck.plan(plan) == plan
    again = Checkpoint(tmp_path, long_clip[0], 8)
    assert again.plan([Range()]) == plan
    assert [rng for _, rng in again.todo(plan)] == plan  # nothing committed yet
    (resumed,) = _resumed_after(ck, plan, 1, plan[1].start_s + 5)
    assert resumed.start_s > plan[1].start_s + 5 and not resumed.exact


def _resumed_after(ck, plan, r, t):
    """Range r of ``ck.todo(plan)`` once it has committed a frame at time t."""
    words = (ck.hash_size * ck.hash_size + 63) // 64
    np.savez(
        os.path.join(ck.dir, f"r{r:03d}-{0:015d}-{1:09d}.npz"),
        hashes=np.zeros((1, words), np.uint64),
        contrast=np.zeros(1, np.uint8),
        pts=np.array([t]),
        desc=np.zeros((1, 4), np.uint8),
    )
    return [rng for i, rng in ck.todo(plan) if i == r]
