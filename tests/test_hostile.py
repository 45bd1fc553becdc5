"""Damaged and hostile input: what the user sees, through the library and the CLI.

Unreadable input: ``fastloop.fingerprint`` raises a :class:`FastloopError` whose message
says why, and ``fastloop scan`` prints one ``fastloop: error: ...`` line and exits 2.
Odd but valid input decodes. A file damaged mid-way yields the loops found in the
rest, a warning naming the time range lost, and exit 0. No test leaves an ffmpeg
child behind, and no file name is ever taken for an option or a protocol.
"""

from __future__ import annotations

import json
import os
import random
import re
import selectors
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

import fastloop
from fastloop.cli import main
from fastloop.errors import FastloopError, InputError
from fastloop.ffmpeg import find_ffmpeg
from fastloop.ffmpeg.banner import parse_probe
from fastloop.hashing import hamming
from fastloop.synth import Play, make_video

from .conftest import child_pids

FPS = 30
#: Footage 40..129 is shown again from frame 200: one loop, occurrences at 40 and 200.
LOOPED = [Play(0, 200), Play(40, 130), Play(200, 450)]
LOOP_STARTS = [40, 200]
HMS = re.compile(r"(\d{2}):(\d{2}):(\d{2}\.\d{3})")


# --------------------------------------------------------------------------- helpers


def ff(*args: str) -> None:
    """Run ffmpeg quietly on one thread (the machine is shared)."""
    subprocess.run(
        [find_ffmpeg(), "-nostdin", "-v", "error", "-y", *args],
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def make_testsrc(path, size="64x48", frames=30, *, pix_fmt="yuv420p", codec=("libx264",), vf=None):
    """``frames`` frames of lavfi testsrc2 at 30 fps, encoded on one thread."""
    args = ["-f", "lavfi", "-i", f"testsrc2=s={size}:r={FPS}", "-frames:v", str(frames)]
    if vf:
        args += ["-vf", vf]
    if codec[0] == "libx264":
        codec = ("libx264", "-preset", "ultrafast", "-threads", "1")
    elif codec[0] == "libx265":
        codec = (
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "pools=1:frame-threads=1:log-level=error",
        )
    ff(*args, "-c:v", *codec, "-pix_fmt", pix_fmt, str(path))
    return str(path)


class _Main:
    """Adapter so CliRunner runs ``main`` (which maps errors to exit codes)."""

    name = "fastloop"

    def main(self, args=None, prog_name=None, **extra):
        main(list(args or []))
        sys.exit(0)


def run_cli(args):
    """``fastloop ARGS`` in-process, our error mapping included: (code, stdout, stderr)."""
    res = CliRunner().invoke(_Main(), args, catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def assert_one_line_error(code, out, err, message):
    assert code == 2, (code, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("fastloop: error: "), err
    assert re.search(message, lines[0]), (message, err)
    assert "Traceback" not in err and "unexpected error" not in err
    assert " @ 0x" not in err, "ffmpeg's internal line prefix is no message for a user"


def no_new_children(before: set[int]) -> None:
    leaked = child_pids() - before
    assert not leaked, f"ffmpeg children left behind: {leaked}"


def seconds(m: re.Match) -> float:
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def named_ranges(warnings) -> list[tuple[float, float]]:
    """(start, end) of every warning that names a time range as HH:MM:SS.mmm twice."""
    out = []
    for w in warnings:
        times = [seconds(m) for m in HMS.finditer(w)]
        if len(times) >= 2 and times[0] < times[1]:
            out.append((times[0], times[1]))
    return out


def assert_lost_range_named(warnings, lost: np.ndarray, tol: float = 1.5 / FPS) -> None:
    """Every lost timestamp lies inside a range some warning names."""
    ranges = named_ranges(warnings)
    assert ranges, f"no warning names the time range lost: {warnings}"
    for t in lost:
        assert any(a - tol <= t <= b + tol for a, b in ranges), (t, warnings)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def looped_small(tmp_path_factory):
    """540 frames (18 s) at 160x90, GOP 250: footage 40..129 again from frame 200."""
    path = str(tmp_path_factory.mktemp("hostile") / "looped.mp4")
    truth = make_video(path, LOOPED, size=(160, 90))
    return path, truth


@pytest.fixture(scope="session")
def intact_fp(looped_small):
    return fastloop.fingerprint(looped_small[0])


@pytest.fixture(scope="session")
def damaged(tmp_path_factory, looped_small):
    """The looped clip cut short (MP4, MKV, TS) or with 5% of its bytes overwritten by
    random ones at 72% of the file (MP4, TS)."""
    folder = tmp_path_factory.mktemp("damaged")
    src = looped_small[0]
    files = {"mp4": src}
    for ext in ("mkv", "ts"):
        files[ext] = str(folder / f"looped.{ext}")
        ff("-i", src, "-c", "copy", files[ext])
    rnd = random.Random(1)
    out = {}
    for ext, path in files.items():
        data = open(path, "rb").read()
        cut = folder / f"truncated.{ext}"
        cut.write_bytes(data[: int(len(data) * (0.5 if ext == "mp4" else 0.7))])
        out[f"truncated.{ext}"] = str(cut)
        if ext == "mkv":
            continue
        bad = bytearray(data)
        start, n = int(len(data) * 0.72), len(data) // 20
        bad[start : start + n] = rnd.randbytes(n)
        hole = folder / f"corrupted.{ext}"
        hole.write_bytes(bytes(bad))
        out[f"corrupted.{ext}"] = str(hole)
    out.update({f"intact.{k}": v for k, v in files.items()})
    return out


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """A valid 64x48 clip of 30 frames, to copy under hostile names."""
    return make_testsrc(tmp_path_factory.mktemp("tiny") / "tiny.mp4")


@pytest.fixture(scope="session")
def reference_8bit(tmp_path_factory):
    """testsrc2 at 320x180, 8-bit 4:2:0: what 10-bit and 4:4:4 must hash like."""
    path = make_testsrc(tmp_path_factory.mktemp("ref") / "ref.mp4", "320x180")
    return fastloop.fingerprint(path)


# ----------------------------------------------------- input that cannot be read at all


def _missing(tmp, fx):
    return str(tmp / "missing.mp4")


def _directory(tmp, fx):
    return str(tmp)


def _empty(tmp, fx):
    (tmp / "empty.mp4").write_bytes(b"")
    return str(tmp / "empty.mp4")


def _text(tmp, fx):
    (tmp / "notes.mp4").write_text("this is not a video\n" * 200)
    return str(tmp / "notes.mp4")


def _random(tmp, fx):
    (tmp / "random.mp4").write_bytes(random.Random(7).randbytes(50_000))
    return str(tmp / "random.mp4")


def _image(ext):
    def make(tmp, fx):
        path = str(tmp / f"frame.{ext}")
        ff("-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1", path)
        return path

    return make


def _png_named_mp4(tmp, fx):
    png = _image("png")(tmp, fx)
    os.replace(png, tmp / "frame.mp4")
    return str(tmp / "frame.mp4")


def _audio_only(tmp, fx):
    path = str(tmp / "tone.m4a")
    ff("-f", "lavfi", "-i", "sine=d=1", path)
    return path


def _truncated_mp4(tmp, fx):
    return fx("damaged")["truncated.mp4"]


def _video_track_no_frames(tmp, fx):
    """An mkv with a video track whose every packet was dropped, and a sound track."""
    path = str(tmp / "no-frames.mkv")
    ff(
        "-i", fx("tiny"), "-f", "lavfi", "-i", "sine=d=1",
        "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac",
        "-bsf:v", "noise=drop=1", path,
    )  # fmt: skip
    return path


def _video_only_no_frames(tmp, fx):
    """The same without sound: ffmpeg writes an mkv it cannot open again."""
    path = str(tmp / "no-frames-video-only.mkv")
    ff("-i", fx("tiny"), "-map", "0:v", "-c:v", "copy", "-bsf:v", "noise=drop=1", path)
    return path


def _fifo(tmp, fx):
    path = tmp / "pipe.mp4"
    os.mkfifo(path)
    return str(path)


def _forged_banner(tmp, fx):
    """Audio only, but the name holds a newline and a fake 'Stream: Video' line."""
    audio = _audio_only(tmp, fx)
    path = tmp / "x\n  Stream #0:7: Video: h264, yuv420p, 64x64, 30 fps\n.m4a"
    os.replace(audio, path)
    return str(path)


UNREADABLE = [
    ("missing", _missing, "no such file"),
    ("directory", _directory, "is a directory"),
    ("empty", _empty, "empty file"),
    ("text-named-mp4", _text, "not a readable video .*does not recognise the format"),
    ("random-bytes-mp4", _random, "not a readable video .*does not recognise the format"),
    ("png", _image("png"), r"is an image \(png_pipe\)"),
    ("jpg", _image("jpg"), r"is an image \((image2|jpeg_pipe)\)"),
    ("png-named-mp4", _png_named_mp4, r"is an image \(png_pipe\)"),
    ("audio-only", _audio_only, "no video stream"),
    ("truncated-mp4-no-moov", _truncated_mp4, "not a readable video .*moov atom.* missing"),
    ("video-track-no-frames", _video_track_no_frames, "no video frames"),
    ("video-only-no-frames", _video_only_no_frames, "not a readable video .*truncated or damaged"),
    ("fifo", _fifo, "not a regular file"),
    ("name-forges-banner", _forged_banner, r"x\\n  Stream #0:7.*: no video stream"),
]


@pytest.mark.parametrize(
    "make, message", [c[1:] for c in UNREADABLE], ids=[c[0] for c in UNREADABLE]
)
def test_unreadable_input_is_one_clear_error(tmp_path, request, make, message):
    path = make(tmp_path, request.getfixturevalue)
    before = child_pids()
    with pytest.raises(FastloopError, match=message) as exc:
        fastloop.fingerprint(path)
    assert exc.value.exit_code == 2
    assert "\n" not in str(exc.value)
    no_new_children(before)
    assert_one_line_error(*run_cli(["scan", path]), message)
    no_new_children(before)


@pytest.mark.slow
def test_unreadable_input_real_subprocess(tmp_path):
    """``python -m fastloop``: exit 2, one line, for the files of a batch that fail."""
    text = _text(tmp_path, None)
    res = subprocess.run(
        [sys.executable, "-m", "fastloop", "scan", text],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.startswith("fastloop: error: ") and res.stderr.count("\n") == 1


def test_unknown_codec_is_refused_at_probe():
    """A damaged header can leave a stream ffmpeg calls "Video: none": no decoder."""
    banner = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:<input>':
  Duration: 00:00:02.00, bitrate: 11 kb/s
  Stream #0:0[0x1](und): Video: none, none, SAR 1:1 DAR 0:0, 15360 tbr, 15360 tbn (default)
"""
    with pytest.raises(InputError, match="codec is unknown"):
        parse_probe("/x.mp4", banner)


# --------------------------------------------------- valid but unusual: must decode


def _one_frame(tmp):
    return make_testsrc(tmp / "one.mp4", frames=1), 1, (64, 48)


def _tall(tmp):
    return make_testsrc(tmp / "tall.mp4", "16x4000", 10), 10, (16, 4000)


def _wide(tmp):
    return make_testsrc(tmp / "wide.mp4", "4000x16", 10), 10, (4000, 16)


def _uhd(tmp):
    return make_testsrc(tmp / "uhd.mp4", "3840x2160", 10), 10, (3840, 2160)


def _odd(tmp):
    path = make_testsrc(
        tmp / "odd.mkv", "322x180", vf="scale=321:179", codec=("ffv1",), pix_fmt="yuv420p"
    )
    return path, 30, (321, 179)


def _x264_10bit(tmp):
    return make_testsrc(tmp / "x264-10.mp4", "320x180", pix_fmt="yuv420p10le"), 30, (320, 180)


def _x265_10bit(tmp):
    path = make_testsrc(tmp / "x265-10.mp4", "320x180", pix_fmt="yuv420p10le", codec=("libx265",))
    return path, 30, (320, 180)


def _yuv444(tmp):
    return make_testsrc(tmp / "444.mp4", "320x180", pix_fmt="yuv444p"), 30, (320, 180)


UNUSUAL = [
    ("one-frame", _one_frame),
    ("16x4000", _tall),
    ("4000x16", _wide),
    ("3840x2160", _uhd),
    ("odd-321x179-420", _odd),
    ("x264-yuv420p10le", _x264_10bit),
    ("x265-yuv420p10le", _x265_10bit),
    ("x264-yuv444p", _yuv444),
]


@pytest.mark.parametrize("make", [c[1] for c in UNUSUAL], ids=[c[0] for c in UNUSUAL])
def test_unusual_video_decodes(tmp_path, request, make):
    path, frames, (w, h) = make(tmp_path)
    before = child_pids()
    fp = fastloop.fingerprint(path)
    no_new_children(before)
    assert len(fp) == frames
    assert (fp.info["width"], fp.info["height"]) == (w, h)
    np.testing.assert_allclose(fp.pts, np.arange(frames) / FPS, atol=1e-3)
    assert fp.warnings == []
    if (w, h) in ((320, 180), (321, 179)):
        # the same testsrc2 pictures as the 8-bit 4:2:0 reference, so the same hashes
        ref = request.getfixturevalue("reference_8bit")
        dist = hamming(fp.hashes, ref.hashes)
        assert dist.max() <= 20 and dist.mean() <= 8, dist
    code, out, err = run_cli(["scan", path])
    assert code == 0, err
    assert f"no loops found ({frames} frame" in out
    assert err == ""
    no_new_children(before)


def test_several_video_streams_use_the_first_and_say_so(tmp_path):
    """Stream 0: 30 frames of 160x90 at 30 fps; stream 1: 12 frames of 96x64 at 25 fps."""
    first = make_testsrc(tmp_path / "first.mp4", "160x90", 30)
    second = str(tmp_path / "second.mp4")
    ff("-f", "lavfi", "-i", "mandelbrot=s=96x64:r=25", "-frames:v", "12",
       "-c:v", "libx264", "-preset", "ultrafast", "-threads", "1", second)  # fmt: skip
    path = str(tmp_path / "two-videos.mkv")
    ff("-i", first, "-i", second, "-map", "0:v", "-map", "1:v", "-c", "copy", path)
    before = child_pids()
    fp = fastloop.fingerprint(path)
    assert len(fp) == 30 and (fp.info["width"], fp.info["height"]) == (160, 90)
    assert fp.info["video_streams"] == 2
    said = [w for w in fp.warnings if "2 video streams" in w and "first" in w]
    assert said, f"no warning that only the first of 2 video streams is used: {fp.warnings}"
    code, out, err = run_cli(["scan", path])
    assert code == 0 and "no loops found (30 frames" in out
    assert re.search(r"^fastloop: warning: .*2 video streams.*first", err, re.M), err
    no_new_children(before)


# ---------------------------------------------------- names: options, protocols, bytes


def _place(tmp, name, src):
    """Copy ``src`` to ``tmp/name`` (``name`` may hold folders); return ``name``."""
    dest = tmp / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return name


NAMES = [
    ("spaces-and-non-ascii", "dir with spaces/vidéo ünï 日本語 clip (1).mp4"),
    ("leading-dash", "-i.mp4"),
    ("only-a-dash", "-"),
    ("url-like-http", "http://example.com/x.mp4"),  # the folder "http:" in the cwd
    ("concat-protocol", "concat:a.mp4|b.mp4"),
    ("pipe-protocol", "pipe:0"),
    ("not-utf8", os.fsdecode(b"bad-\xff\xfe-name.mp4")),
]


@pytest.mark.parametrize("name", [c[1] for c in NAMES], ids=[c[0] for c in NAMES])
def test_hostile_names_are_local_files(tmp_path, tiny, monkeypatch, name):
    """Every name is the local file of that name: never an option, a protocol or a URL.

    For ``concat:a.mp4|b.mp4``, a.mp4 and b.mp4 exist with other frame counts, so
    reading them as the concat protocol would show in the frame count.
    """
    make_testsrc(tmp_path / "a.mp4", frames=11)
    make_testsrc(tmp_path / "b.mp4", frames=13)
    _place(tmp_path, name, tiny)
    monkeypatch.chdir(tmp_path)
    before = child_pids()
    fp = fastloop.fingerprint(name)
    assert len(fp) == 30
    no_new_children(before)
    code, out, err = run_cli(["scan", "--", name])
    assert code == 0, err
    assert "no loops found (30 frames" in out and err == ""
    no_new_children(before)


def test_hostile_names_real_subprocess(tmp_path, tiny):
    """The argv of a real ``python -m fastloop`` process, run from the files' folder."""
    make_testsrc(tmp_path / "a.mp4", frames=11)
    make_testsrc(tmp_path / "b.mp4", frames=13)
    names = ["-i.mp4", "http://example.com/x.mp4", "concat:a.mp4|b.mp4"]
    for name in names:
        _place(tmp_path, name, tiny)
    env = {**os.environ, "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
    res = subprocess.run(
        [sys.executable, "-m", "fastloop", "scan", "--format", "json", "--", *names],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert res.returncode == 0, res.stderr
    docs = json.loads(res.stdout)
    assert [d["frames"] for d in docs] == [30, 30, 30]
    assert [d["video"] for d in docs] == ["-i.mp4", "x.mp4", "concat:a.mp4|b.mp4"]


# ------------------------------------------------------------- damaged mid-way


def _check_damaged(path, intact, *, lost_must_be_named=True):
    before = child_pids()
    fp = fastloop.fingerprint(path)
    no_new_children(before)
    assert 0 < len(fp) < len(intact)
    # frames before the damage are the intact file's frames (the loop lies there)
    head = int(np.searchsorted(intact.pts, 9.9))
    np.testing.assert_allclose(fp.pts[:head], intact.pts[:head], atol=1e-3)
    assert (hamming(fp.hashes[:head], intact.hashes[:head]) <= 2).all()
    result = fastloop.scan(fp=fp)
    assert [[o.start_frame for o in lp.occurrences] for lp in result.loops] == [LOOP_STARTS]
    if lost_must_be_named:
        have = set(np.round(fp.pts, 3))
        lost = np.array([t for t in np.round(intact.pts, 3) if t not in have])
        assert len(lost) and lost.min() > 9.9, "the damage should lie after the loop"
        assert_lost_range_named(fp.warnings, lost)
    code, out, err = run_cli(["scan", path])
    assert code == 0, err
    assert "looped: 1 loop" in out
    assert "Traceback" not in err and "fastloop: error" not in err
    if lost_must_be_named:
        warned = [ln for ln in err.splitlines() if ln.startswith("fastloop: warning: ")]
        assert named_ranges(warned), f"no warning line names the time range lost: {err!r}"
    no_new_children(before)
    return fp


@pytest.mark.parametrize("kind", ["truncated.mkv", "corrupted.mp4", "corrupted.ts"])
def test_damaged_mid_way_warns_and_finds_loops_in_the_rest(damaged, intact_fp, kind):
    _check_damaged(damaged[kind], intact_fp)


def test_truncated_ts_decodes_what_is_there(damaged, intact_fp):
    """A TS has no index: a cut one is a shorter stream (ffmpeg says nothing), so only
    the frames and the loop are checked, not a warning."""
    fp = _check_damaged(damaged["truncated.ts"], intact_fp, lost_must_be_named=False)
    assert fp.pts[-1] < 0.8 * intact_fp.pts[-1]


def test_mostly_damaged_mp4_keeps_the_frames_before_the_damage(tmp_path, fuzz_sources):
    """A chunk cut out of an MP4 shifts every later sample: most frames fail to decode.
    ffmpeg gives up past 2/3 of errors unless told otherwise; the frames before the
    damage must still come out, with the range lost named, and exit 0."""
    data = open(fuzz_sources["mp4"], "rb").read()
    at = int(len(data) * 0.3)
    path = tmp_path / "cut-out.mp4"
    path.write_bytes(data[:at] + data[at + len(data) // 20 :])
    intact = fastloop.fingerprint(fuzz_sources["mp4"])
    before = child_pids()
    fp = fastloop.fingerprint(str(path))
    no_new_children(before)
    assert 0 < len(fp) < len(intact)
    np.testing.assert_array_equal(fp.hashes[:3], intact.hashes[:3])
    have = set(np.round(fp.pts, 3))
    assert_lost_range_named(
        fp.warnings, np.array([t for t in np.round(intact.pts, 3) if t not in have])
    )
    code, out, err = run_cli(["scan", str(path)])
    assert code == 0, err
    assert f"no loops found ({len(fp)} frames" in out
    assert named_ranges(err.splitlines()), err
    no_new_children(before)


# ------------------------------------------------------------------------ fuzzing

#: Runs in a child interpreter: fingerprints each file and prints one JSON line each.
FUZZ_WORKER = r"""
import json, os, sys, traceback
import fastloop
from fastloop.errors import FastloopError, InputError

def children():
    me, out = os.getpid(), set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == me:
                        out.add(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out

for path in sys.argv[1:]:
    before = children()
    rec = {"path": os.path.basename(path)}
    try:
        fp = fastloop.fingerprint(path)
        rec.update(outcome="ok", frames=len(fp))
    except FastloopError as exc:
        rec.update(outcome="error", type=type(exc).__name__, message=str(exc))
    except BaseException as exc:
        rec.update(outcome="crash", type=type(exc).__name__, message=str(exc),
                   tb=traceback.format_exc())
    rec["leaked"] = sorted(children() - before)
    print(json.dumps(rec), flush=True)
"""

FUZZ_CASES = 36
FUZZ_TIMEOUT_S = 30.0


def mutate(data: bytes, rnd: random.Random) -> tuple[bytes, str]:
    """One to three random byte flips, truncations, chunk duplications, deletions or
    overwrites; "header" flips bytes of the first 512, where the container says what
    the file holds."""
    buf = bytearray(data)
    done = []
    for _ in range(rnd.randint(1, 3)):
        op = rnd.choice(["flip", "header", "truncate", "duplicate", "delete", "overwrite"])
        n = len(buf)
        if n < 64:
            break
        a = rnd.randrange(n)
        size = rnd.randint(1, max(1, n // 8))
        if op in ("flip", "header"):
            span = range(min(n, 512)) if op == "header" else range(n)
            for i in rnd.sample(span, min(len(span), rnd.randint(1, 64))):
                buf[i] ^= 1 << rnd.randrange(8)
        elif op == "truncate":
            del buf[rnd.randint(1, n - 1) :]
        elif op == "duplicate":
            buf[a:a] = buf[a : a + size]
        elif op == "delete":
            del buf[a : a + size]
        else:
            buf[a : a + size] = rnd.randbytes(len(buf[a : a + size]))
        done.append(op)
    return bytes(buf), "+".join(done)


@pytest.fixture(scope="session")
def fuzz_sources(tmp_path_factory):
    """A small clip with several keyframes, as MP4 (index first), MKV and TS."""
    folder = tmp_path_factory.mktemp("fuzz-src")
    base = make_testsrc(folder / "base.mp4", "96x64", 60)
    out = {}
    for ext, extra in (("mp4", ["-movflags", "+faststart"]), ("mkv", []), ("ts", [])):
        out[ext] = str(folder / f"src.{ext}")
        ff("-i", base, "-c:v", "libx264", "-preset", "ultrafast", "-threads", "1",
           "-g", "15", *extra, out[ext])  # fmt: skip
    return out


def test_fuzzed_files_return_or_raise_a_fastloop_error(tmp_path, fuzz_sources):
    rnd = random.Random(20240607)
    paths, how = [], {}
    sources = sorted(fuzz_sources.items())
    for i in range(FUZZ_CASES):
        ext, src = sources[i % len(sources)]
        data, ops = mutate(open(src, "rb").read(), rnd)
        path = tmp_path / f"fuzz{i:02d}.{ext}"
        path.write_bytes(data)
        paths.append(str(path))
        how[path.name] = ops
    before = child_pids()
    proc = subprocess.Popen(
        [sys.executable, "-c", FUZZ_WORKER, *paths],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    records = []
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        while len(records) < len(paths):
            deadline = time.monotonic() + FUZZ_TIMEOUT_S
            line = b""
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    name = os.path.basename(paths[len(records)])
                    pytest.fail(f"fingerprint hung over {FUZZ_TIMEOUT_S:.0f} s on {name}")
                chunk = proc.stdout.readline()
                if not chunk:
                    err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
                    pytest.fail(f"fuzz worker died after {len(records)} files: {err[-2000:]}")
                line += chunk
            records.append(json.loads(line))
    finally:
        sel.close()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    no_new_children(before)
    crashes = [r for r in records if r["outcome"] == "crash"]
    assert not crashes, "\n".join(
        f"{r['path']} ({how[r['path']]}): {r['type']}: {r['message']}\n{r['tb']}" for r in crashes
    )
    assert not [r for r in records if r["leaked"]], records
    for r in records:
        if r["outcome"] == "error":
            assert r["message"] and "\n" not in r["message"], r
    # the corpus must exercise both paths, or it tests nothing
    assert {r["outcome"] for r in records} == {"ok", "error"}, records


def test_the_exit_waits_for_code_loading_in_the_background(tmp_path):
    """A scan of a few frames can end while the search's code still loads (or, on a
    first run, compiles) in a background thread; stopped inside LLVM by the exit, it
    aborted the process (exit -6, "terminate called without an active exception").
    The exit waits for it: here a slow stand-in writes its mark after the main code
    has returned."""
    mark = tmp_path / "done"
    code = (
        "import time\n"
        "from fastloop.pipeline import in_background\n"
        f"in_background(lambda: (time.sleep(1), open({str(mark)!r}, 'w').write('x')))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert mark.read_text() == "x"
