"""Session-scoped videos made by ffmpeg, each with its ground truth."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from fastloop.ffmpeg import find_ffmpeg
from fastloop.synth import Black, Freeze, Play, Still, make_video

FPS = 30

#: Fixtures that make video with ffmpeg: a test that uses one is in the slow tier
#: (``pytest -m "not slow"`` runs the unit tests alone, in well under a minute).
VIDEO_FIXTURES = {
    "looped_clip", "frozen_clip", "vfr_clip", "audio_clip", "long_clip", "truncated_mp4",
    "truncated_mkv", "text_mp4", "audio_only", "image_png", "corpus", "videos", "scanned",
    "damaged", "intact_fp", "fuzz_sources", "tiny", "make",
}  # fmt: skip


def pytest_collection_modifyitems(config, items):
    for item in items:
        if VIDEO_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def copy_spans(truth) -> list[tuple[int, int, int]]:
    """``(source_start, copy_start, length)`` of every copied stretch of a fixture, from
    its truth (the footage frame each video frame shows): a frame is a copy when its
    footage frame was shown before, and its source is where that was."""
    first: dict[int, int] = {}
    spans: list[list[int]] = []
    for i, t in enumerate(np.asarray(truth).tolist()):
        if t < 0:
            continue
        if t not in first:
            first[t] = i
            continue
        src = first[t]
        if spans and spans[-1][1] + spans[-1][2] == i and spans[-1][0] + spans[-1][2] == src:
            spans[-1][2] += 1
        else:
            spans.append([src, i, 1])
    return [(a, b, n) for a, b, n in spans]


def _make(tmp_path_factory, name, segments, **kw):
    path = str(tmp_path_factory.mktemp("video") / name)
    truth = make_video(path, segments, **kw)
    return path, truth


@pytest.fixture(scope="session")
def looped_clip(tmp_path_factory):
    """826 frames; footage 137..262 copied in at frame 400 (no keyframe at a cut)."""
    return _make(tmp_path_factory, "looped.mp4", [Play(0, 400), Play(137, 263), Play(400, 700)])


@pytest.fixture(scope="session")
def frozen_clip(tmp_path_factory):
    """Footage with a bit-exact frozen stretch (frames 100..159), losslessly encoded."""
    return _make(
        tmp_path_factory, "frozen.mkv", [Play(0, 100), Freeze(99, 60), Play(100, 200)], crf=0
    )


@pytest.fixture(scope="session")
def vfr_clip(tmp_path_factory):
    """Variable frame rate: 30 fps for 200 frames, then 20 fps; a copy spans the change."""
    expr = "if(lt(N,200),N*20,4000+(N-200)*30)"  # in units of the 1/600 time base
    path, truth = _make(
        tmp_path_factory, "vfr.mp4", [Play(0, 300), Play(90, 200), Play(300, 450)], setpts=expr
    )
    n = np.arange(len(truth))
    times = np.where(n < 200, n / 30, 200 / 30 + (n - 200) / 20)
    return path, truth, times


@pytest.fixture(scope="session")
def audio_clip(tmp_path_factory):
    return _make(
        tmp_path_factory, "audio.mp4", [Play(0, 200), Play(40, 120), Play(200, 260)], audio=True
    )


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory):
    """45 s at a small size: long enough to be decoded as two time ranges."""
    return _make(
        tmp_path_factory,
        "long.mp4",
        [Play(0, 700), Play(333, 450), Play(700, 1300)],
        size=(160, 90),
    )


@pytest.fixture(scope="session")
def truncated_mp4(tmp_path_factory, looped_clip):
    """The first half of an MP4 whose index (moov) sits at the end: unreadable."""
    data = open(looped_clip[0], "rb").read()
    path = tmp_path_factory.mktemp("bad") / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])
    return str(path)


@pytest.fixture(scope="session")
def truncated_mkv(tmp_path_factory, looped_clip):
    """A Matroska file cut mid-stream: the first part still decodes."""
    folder = tmp_path_factory.mktemp("bad")
    full = folder / "full.mkv"
    subprocess.run(
        [find_ffmpeg(), "-v", "error", "-y", "-i", looped_clip[0], "-c", "copy", str(full)],
        check=True,
    )
    data = full.read_bytes()
    path = folder / "truncated.mkv"
    path.write_bytes(data[: len(data) // 2])
    return str(path)


@pytest.fixture(scope="session")
def text_mp4(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad") / "notes.mp4"
    path.write_text("this is not a video\n" * 100)
    return str(path)


@pytest.fixture(scope="session")
def audio_only(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("bad") / "tone.m4a")
    subprocess.run(
        [find_ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine=d=2", path], check=True
    )
    return path


@pytest.fixture(scope="session")
def image_png(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("bad") / "frame.png")
    subprocess.run(
        [
            find_ffmpeg(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=s=64x64",
            "-frames:v",
            "1",
            path,
        ],
        check=True,
    )
    return path


def child_pids() -> set[int]:
    """PIDs of this process's live children (to check that no ffmpeg survives)."""
    me = os.getpid()
    out = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == me:  # a zombie counts: it was never reaped
                    out.add(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


__all__ = ["Black", "Freeze", "Play", "Still", "child_pids"]


def live_ffmpeg_below(pid: int) -> list[int]:
    """Live ffmpeg processes anywhere below ``pid`` (children of any of its threads,
    their children, ...), from the parent links of every process on the machine."""
    parent, name = {}, {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    head, rest = fh.read().rsplit(")", 1)
                fields = rest.split()
                if fields[0] != "Z":
                    parent[int(d)] = int(fields[1])
                    name[int(d)] = head.split("(", 1)[1]
            except (OSError, IndexError, ValueError):
                pass
    out = []
    for p in parent:
        q = p
        while q in parent and q != pid:
            q = parent[q]
        if q == pid and p != pid and "ffmpeg" in name[p]:
            out.append(p)
    return out
