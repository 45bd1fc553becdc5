"""Range tasks on an executor give the fingerprint of the local decode; merge checks seams."""

import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastloop
from fastloop import pipeline
from fastloop.errors import DecodeError
from fastloop.ffmpeg.banner import VideoInfo
from fastloop.hashers import AverageHash
from fastloop.pipeline import Part, merge
from fastloop.video import Range, Video

from .conftest import live_ffmpeg_below


def _part(lo, hi, times, seed=0):
    rng = np.random.default_rng(seed)
    n = len(times)
    return Part(
        rng=Range(lo, hi),
        pts=np.asarray(times, np.float64),
        hashes=rng.integers(0, 2**63, (n, 9), dtype=np.uint64),
        contrast=np.full(n, 9, np.uint8),
        desc=rng.integers(0, 256, (n, 144), dtype=np.uint8),
    )


def _video():
    info = VideoInfo("v.mp4", 320, 180, 10.0, 2.0, "h264", "yuv420p", container="mov,mp4")
    return Video("v.mp4", info)


def test_merge_joins_parts_in_order_and_checks_every_seam():
    a = _part(None, 1.0, [0.0, 0.1, 0.9], seed=1)
    b = _part(1.0, None, [1.0, 1.5], seed=2)
    fp = merge([a, b], _video(), AverageHash(24))
    np.testing.assert_array_equal(fp.pts, [0.0, 0.1, 0.9, 1.0, 1.5])
    np.testing.assert_array_equal(fp.hashes, np.concatenate([a.hashes, b.hashes]))
    np.testing.assert_array_equal(np.asarray(fp.desc), np.concatenate([a.desc, b.desc]))
    # a frame past its range's end would be counted twice at the seam
    with pytest.raises(DecodeError, match="outside"):
        merge([_part(None, 1.0, [0.5, 1.0]), _part(1.0, None, [1.2])], _video(), AverageHash(24))
    # ranges that leave a hole between them lose frames
    with pytest.raises(DecodeError, match="do not meet"):
        merge([_part(None, 1.0, [0.5]), _part(1.5, None, [1.6])], _video(), AverageHash(24))
    with pytest.raises(DecodeError, match="time order"):
        merge([_part(None, None, [0.5, 0.2])], _video(), AverageHash(24))


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_range_tasks_on_an_executor_equal_the_local_decode(long_clip, monkeypatch, kind):
    path, truth = long_clip
    local = fastloop.fingerprint(path)
    monkeypatch.setattr(pipeline, "TASK_RANGE_S", 15.0)  # a 45 s clip: two tasks, one seam
    assert len(pipeline.task_ranges(Video(path))) == 2
    if kind == "threads":
        pool = ThreadPoolExecutor(2)
    else:  # as on a cluster: the task and its arguments pickled to a fresh interpreter
        pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    with pool:
        split = fastloop.fingerprint(path, executor=pool)
    assert not live_ffmpeg_below(os.getpid()), "an ffmpeg outlived its task"
    assert len(split) == len(local) == len(truth)
    np.testing.assert_array_equal(split.hashes, local.hashes)
    np.testing.assert_array_equal(split.pts, local.pts)
    np.testing.assert_array_equal(split.contrast, local.contrast)
    np.testing.assert_array_equal(np.asarray(split.desc), np.asarray(local.desc))
    got = fastloop.scan(fp=split).to_dict()["loops"]
    assert got == fastloop.scan(fp=local).to_dict()["loops"] and got


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cuts=st.lists(st.floats(1.0, 44.0), min_size=1, max_size=3, unique=True))
def test_any_split_into_ranges_merges_to_the_local_fingerprint(long_clip, cuts):
    """Ranges cut anywhere (between frames or on one, off keyframes) merge back to
    the one-process fingerprint: every frame once, in order, hashed the same."""
    path, _ = long_clip
    video = Video(path)
    whole = _local_fp(path)
    bounds = sorted(round(c, 3) for c in cuts)
    ranges = [Range(s, e) for s, e in zip([None, *bounds], [*bounds, None], strict=True)]
    hasher = AverageHash(24)
    fp = merge([pipeline.fingerprint_range(video, r, hasher) for r in ranges], video, hasher)
    np.testing.assert_array_equal(fp.pts, whole.pts)
    np.testing.assert_array_equal(fp.hashes, whole.hashes)
    np.testing.assert_array_equal(np.asarray(fp.desc), np.asarray(whole.desc))


_WHOLE: dict = {}


def _local_fp(path):
    if path not in _WHOLE:
        _WHOLE[path] = fastloop.fingerprint(path, workers=1)
    return _WHOLE[path]


def _drawn_keep(data, rng, n: int) -> np.ndarray:
    """Which of a range's n frames it keeps: all, one stretch (after a pre-roll, before
    a tail), scattered frames (times that step back), or none."""
    kind = data.draw(st.sampled_from(["all", "slice", "scattered", "none"]))
    keep = np.zeros(n, bool)
    if kind == "all":
        keep[:] = True
    elif kind == "slice":
        i, j = sorted(data.draw(st.tuples(st.integers(0, n), st.integers(0, n))))
        keep[i:j] = True
    elif kind == "scattered":
        keep = rng.random(n) < 0.5
    return keep


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_descriptors_keep_exactly_the_kept_frames(data):
    """In memory, or spilled to files (a day's descriptors), the kept frames come back
    in order, whatever each range keeps: everything, one slice (spilled: copied in the
    kernel, the first range's file reused), scattered frames or nothing."""
    from fastloop.fingerprint import Descriptors

    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    ranges = data.draw(st.integers(1, 3))
    desc = Descriptors(24, 10, spill=data.draw(st.booleans()))
    frames, keeps = [], []
    for r in range(ranges):
        n = data.draw(st.integers(0, 200))
        d = rng.integers(0, 256, (n, desc.cells), dtype=np.uint8)
        keep = _drawn_keep(data, rng, n)
        at = 0
        while at < n:
            step = int(rng.integers(1, 60))
            desc.add(r, d[at : at + step])
            at += step
        frames.append(d)
        keeps.append(keep)
    got = desc.finish(keeps)
    kept = [d[k] for d, k in zip(frames, keeps, strict=True)]
    want = np.concatenate([np.empty((0, desc.cells), np.uint8), *kept])
    np.testing.assert_array_equal(np.asarray(got), want)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_range_rows_keep_exactly_the_kept_frames(data):
    """Rows written where they stay come back in order, every kind alike, whatever
    each range keeps (everything, one stretch after a pre-roll, scattered frames,
    nothing) and whether its room held it or not: in place while all the rooms
    together hold the kept frames, else copied."""
    from fastloop.fingerprint import RangeRows

    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    ranges = data.draw(st.integers(1, 3))
    spill = data.draw(st.booleans())
    counts = [data.draw(st.integers(0, 200)) for _ in range(ranges)]
    # room short of a range's frames (a frame rate above the stated one) or to spare
    room = [max(0, n + data.draw(st.integers(-60, 40))) for n in counts]
    rows = RangeRows(
        room, [((3,), np.uint64, False), ((), np.uint8, False), ((5,), np.uint8, spill)]
    )
    frames, keeps = [], []
    for n in counts:
        parts = (
            rng.integers(0, 2**63, (n, 3), dtype=np.uint64),
            rng.integers(0, 256, n, dtype=np.uint8),
            rng.integers(0, 256, (n, 5), dtype=np.uint8),
        )
        keep = _drawn_keep(data, rng, n)
        frames.append(parts)
        keeps.append(keep)
    # the ranges' batches interleaved, as their reader threads deliver them
    at = [0] * ranges
    while any(a < n for a, n in zip(at, counts, strict=True)):
        r = int(rng.choice([i for i in range(ranges) if at[i] < counts[i]]))
        step = int(rng.integers(1, 60))
        batch = tuple(p[at[r] : at[r] + step] for p in frames[r])
        n = len(batch[0])
        # written where the room says (the scan's hasher does), or handed over
        where = rows.room(r, n) if rng.random() < 0.5 else None
        if where is not None:
            for dst, src in zip(where, batch, strict=True):
                dst[...] = src
            rows.wrote(r, n)
        else:
            rows.add(r, batch)
        at[r] += step
    made = rows.arrays
    got = rows.finish(keeps)
    in_place = sum(int(k.sum()) for k in keeps) <= sum(room)
    for kind, out in enumerate(got):
        want = np.concatenate([f[kind][k] for f, k in zip(frames, keeps, strict=True)])
        np.testing.assert_array_equal(np.asarray(out), want)
        assert out.flags.c_contiguous and out.shape[1:] == want.shape[1:]
        # no second copy of the rows while there is room for them all, however
        # the frames fell between the ranges' rooms
        if in_place and len(out):
            assert np.shares_memory(out, made[kind])


def _vm_flags(addr: int) -> list[str] | None:
    """The VmFlags of the mapping of this process that holds ``addr`` (Linux)."""
    try:
        with open("/proc/self/smaps") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    inside = False
    for line in lines:
        head = line.split()[0]
        if "-" in head and not head.endswith(":"):
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = lo <= addr < hi
        elif inside and head == "VmFlags:":
            return line.split()[1:]
    return None


def test_a_days_rows_live_in_small_pages():
    """Rows of 4 MB and more are asked not to take huge pages (the first touch of
    huge pages on a VM whose host reclaims free memory cost 3-4x more): they still
    slide in place and come back exact, and the mapping they live in is marked."""
    from fastloop.fingerprint import RangeRows

    rng = np.random.default_rng(5)
    counts, room = [30_000, 25_000], [31_000, 40_000]  # 10 MB of 144-cell rows
    rows = RangeRows(room, [((144,), np.uint8, False), ((), np.uint8, False)])
    made = rows.arrays
    parts = [rng.integers(0, 256, (n, 144), dtype=np.uint8) for n in counts]
    for r, d in enumerate(parts):
        for at in range(0, len(d), 4096):
            where = rows.room(r, len(d[at : at + 4096]))
            where[0][...] = d[at : at + 4096]
            where[1][...] = d[at : at + 4096, 0]
            rows.wrote(r, len(where[0]))
    keep = [np.ones(counts[0], bool), np.arange(counts[1]) >= 700]  # a pre-roll dropped
    desc, first = rows.finish(keep)
    want = np.concatenate([parts[0], parts[1][700:]])
    np.testing.assert_array_equal(desc, want)
    np.testing.assert_array_equal(first, want[:, 0])
    assert np.shares_memory(desc, made[0]) and desc.flags.writeable
    flags = _vm_flags(desc.__array_interface__["data"][0])
    if flags is not None and os.path.exists("/sys/kernel/mm/transparent_hugepage"):
        assert "nh" in flags, flags


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced on Linux")
def test_small_pages_refused_is_numpys_memory_error():
    """Under a memory limit the map is refused: the caller gets numpy's MemoryError
    (which the scan turns into advice), not an OSError from mmap."""
    code = (
        "import resource, numpy as np\n"
        "from fastloop.util import empty_small_pages\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        "try:\n"
        "    empty_small_pages((6 << 30,), np.uint8)\n"
        "except MemoryError:\n"
        "    print('MemoryError')\n"
        "a = empty_small_pages((64 << 20,), np.uint8)\n"
        "a[:] = 7\n"
        "print(int(a.sum()) == 7 * (64 << 20))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["MemoryError", "True"]


def test_small_pages_where_the_kernel_refuses_the_advice(monkeypatch):
    """A kernel built without huge pages refuses MADV_NOHUGEPAGE (EINVAL): the
    advice is optional, the array is made all the same."""
    import errno
    import mmap

    from fastloop import util

    class Refusing(mmap.mmap):
        def madvise(self, *args):
            raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(util.mmap, "mmap", Refusing)
    a = util.empty_small_pages((3, 8 << 20), np.uint8)
    a[...] = 5
    assert a.shape == (3, 8 << 20) and int(a[2, -1]) == 5


def test_the_room_for_each_range_holds_its_frames(long_clip):
    """The room set aside for each range of a real split is more than the frames the
    range decodes, pre-roll included, so the rows are slid in place, not copied."""
    from fastloop.decode import decode

    video = Video(long_clip[0])
    ranges = video.plan(2)
    assert len(ranges) == 2
    counts = [0, 0]

    def count(r, frames):
        counts[r] += len(frames)

    decode(video, 24, count, ranges=ranges)
    room = pipeline.room_for(video.info, ranges)
    assert all(n < have for n, have in zip(counts, room, strict=True)), (counts, room)
    # the unused room of a range before the last is fresh memory the next one slides over
    assert room[0] - counts[0] < 0.05 * counts[0] + 2 * video.info.fps + 16, (counts, room)


@pytest.fixture(scope="module")
def broadcast(long_clip, tmp_path_factory):
    """The long clip as broadcast archives hold it: in MPEG-TS (no index, starts at
    1.4 s), with a 2 s GOP cut into MPEG-TS (a seek lands inside a GOP), and in MP4
    starting at the time of day it was recorded (10:00:00)."""
    from fastloop.ffmpeg import find_ffmpeg

    d = tmp_path_factory.mktemp("broadcast")
    ff = find_ffmpeg()
    out = {}
    for name, args in {
        "ts": ["-c", "copy", "-f", "mpegts"],
        "ts-reencoded": ["-c:v", "libx264", "-g", "60", "-bf", "2", "-f", "mpegts"],
        "mp4-at-10h": ["-c", "copy", "-output_ts_offset", "36000"],
    }.items():
        path = str(d / f"{name}.{'ts' if 'ts' in name else 'mp4'}")
        subprocess.run([ff, "-v", "error", "-y", "-i", long_clip[0], *args, path], check=True)
        out[name] = path
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ts", "ts-reencoded", "mp4-at-10h"])
def test_archives_that_start_later_or_have_no_index_split_too(broadcast, name):
    path = broadcast[name]
    video = Video(path)
    plan = video.plan(2)
    assert len(plan) == 2 and plan[1].start_s > video.info.start_s + 20  # in its own times
    whole = fastloop.fingerprint(path, workers=1)
    split = fastloop.fingerprint(path, workers=2)
    assert split.warnings == whole.warnings == []  # a seek inside a GOP is not damage
    np.testing.assert_array_equal(split.pts, whole.pts)
    np.testing.assert_array_equal(split.hashes, whole.hashes)
    hasher = AverageHash(24)
    tasks = [pipeline.fingerprint_range(video, r, hasher) for r in plan]
    np.testing.assert_array_equal(merge(tasks, video, hasher).hashes, whole.hashes)


def test_range_tasks_keep_their_parts_and_a_second_run_decodes_nothing(
    long_clip, tmp_path, monkeypatch
):
    """With a cache folder, every range's part is kept (one file per range, named by
    it); a batch run again, as after a lost client, reads them back: no decode at
    all, the same fingerprint."""
    path, _ = long_clip
    monkeypatch.setattr(pipeline, "TASK_RANGE_S", 15.0)
    local = fastloop.fingerprint(path)
    with ThreadPoolExecutor(2) as pool:
        first = fastloop.fingerprint(path, executor=pool, cache=tmp_path)
    kept = sorted(p.name for p in tmp_path.glob("*/part-*.npz"))
    assert len(kept) == len(pipeline.task_ranges(Video(path))) >= 2, kept
    with monkeypatch.context() as mp, ThreadPoolExecutor(2) as pool:
        mp.setattr("fastloop.decode.decode", lambda *a, **k: pytest.fail("decoded again"))
        again = fastloop.fingerprint(path, executor=pool, cache=tmp_path)
    for fp in (first, again):
        np.testing.assert_array_equal(fp.hashes, local.hashes)
        np.testing.assert_array_equal(fp.pts, local.pts)
        np.testing.assert_array_equal(np.asarray(fp.desc), np.asarray(local.desc))


def test_a_video_decodes_with_one_range_a_core(monkeypatch):
    """One ffmpeg a core, whatever the frames' size and the video's length (tiled
    small frames leave no core idle), and a plan that follows it."""
    from fastloop.decode import default_workers

    monkeypatch.setattr(os, "cpu_count", lambda: 3)

    def info(w, h, hours):
        return VideoInfo("v.mp4", w, h, 30.0, hours * 3600, "h264", "yuv420p", container="mp4")

    for w, h, hours in [(128, 72, 24), (128, 72, 1), (1920, 1080, 24), (0, 0, 24)]:
        assert default_workers(info(w, h, hours)) == 3
    plan = Video("v.mp4", info(128, 72, 24)).plan(default_workers(info(128, 72, 24)))
    assert len(plan) == 3
