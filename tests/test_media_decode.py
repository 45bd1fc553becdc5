"""Finding ffmpeg, probing, and the decode pipe, on videos the fixtures make."""

import itertools
import os
import subprocess

import numpy as np
import pytest

import fastloop
from fastloop import decode as dec
from fastloop import ffmpeg
from fastloop.errors import DecodeError, InputError
from fastloop.ffmpeg import find_ffmpeg, input_url
from fastloop.ffmpeg.banner import parse_probe
from fastloop.video import Range, Video, probe

from .conftest import child_pids


def test_find_ffmpeg_prefers_env(monkeypatch, tmp_path):
    real = find_ffmpeg()
    monkeypatch.setenv("FASTLOOP_FFMPEG", real)
    assert find_ffmpeg() == real
    monkeypatch.setenv("FASTLOOP_FFMPEG", str(tmp_path / "nope"))
    with pytest.raises(InputError, match="FASTLOOP_FFMPEG"):
        find_ffmpeg()


def test_find_ffmpeg_falls_back_to_imageio_wheel(monkeypatch):
    import imageio_ffmpeg

    monkeypatch.delenv("FASTLOOP_FFMPEG", raising=False)
    monkeypatch.setenv("PATH", "")
    assert find_ffmpeg() == imageio_ffmpeg.get_ffmpeg_exe()


def test_input_url_cannot_become_an_option_or_protocol():
    assert input_url("-i") == "file:" + os.path.abspath("-i")
    assert input_url("http://example.com/x.mp4").startswith("file:/")


def test_probe(looped_clip):
    info = probe(looped_clip[0])
    assert (info.width, info.height) == (320, 180)
    assert info.fps == 30
    assert info.codec == "h264"
    assert abs(info.duration_s - len(looped_clip[1]) / 30) < 0.05
    assert abs(info.frames_estimate - len(looped_clip[1])) <= 1


def test_parse_probe_banner():
    banner = """Input #0, matroska,webm, from 'file:/x.mkv':
  Duration: 01:02:03.50, start: 0.007000, bitrate: 1 kb/s
  Stream #0:0: Audio: aac, 48000 Hz, stereo
  Stream #0:1(eng): Video: h264 (High), yuv420p(tv, bt709, progressive), 1920x1080 \
[SAR 1:1 DAR 16:9], 29.97 fps, 29.97 tbr, 1k tbn (default)
  Stream #0:2: Video: hevc (Main 10), yuv420p10le(tv), 3840x2160, 25 fps, 25 tbr, 1k tbn
"""
    info = parse_probe("/x.mkv", banner)
    assert (info.width, info.height, info.fps) == (1920, 1080, 29.97)
    assert info.duration_s == pytest.approx(3723.5)
    assert info.start_s == pytest.approx(0.007)
    assert (
        info.video_streams == 2
        and info.pix_fmt == "yuv420p"
        and info.container.startswith("matroska")
    )


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp, fx: str(tmp / "missing.mp4"), "no such file"),
        (lambda tmp, fx: str(tmp), "directory"),
        (lambda tmp, fx: (tmp / "empty.mp4").write_bytes(b"") or str(tmp / "empty.mp4"), "empty"),
        (lambda tmp, fx: fx["text_mp4"], "not a readable video"),
        (lambda tmp, fx: fx["audio_only"], "no video stream"),
        (lambda tmp, fx: fx["image_png"], "image"),
        (lambda tmp, fx: fx["truncated_mp4"], "not a readable video"),
    ],
)
def test_bad_input_raises_input_error(tmp_path, request, make, message):
    fx = {
        k: request.getfixturevalue(k)
        for k in ("text_mp4", "audio_only", "image_png", "truncated_mp4")
    }
    before = child_pids()
    with pytest.raises(InputError, match=message):
        fastloop.fingerprint(make(tmp_path, fx))
    assert child_pids() <= before


def test_fingerprint_frames_and_timestamps(looped_clip):
    path, truth = looped_clip
    fp = fastloop.fingerprint(path)
    assert fp.hashes.shape == (len(truth), 9)
    np.testing.assert_allclose(fp.pts, np.arange(len(truth)) / 30, atol=1e-6)
    assert fp.contrast.min() > 4


def test_fingerprint_matches_reference_hash_of_decoded_frames(looped_clip):
    """The hash of a frame equals the reference hash of the same NxN pipe output."""
    from . import reference as ref

    frames = []
    dec.decode(looped_clip[0], 16, lambda r, f: frames.append(f.copy()), workers=1)
    frames = np.concatenate(frames).reshape(-1, 16, 16)
    fp = fastloop.fingerprint(looped_clip[0], hash_size=16)
    np.testing.assert_array_equal(fp.hashes, ref.ahash(frames))


def test_vfr_timestamps_are_true_timestamps(vfr_clip):
    path, truth, times = vfr_clip
    fp = fastloop.fingerprint(path)
    assert len(fp) == len(truth)
    np.testing.assert_allclose(fp.pts, times, atol=1e-3)


def test_audio_is_ignored(audio_clip):
    path, truth = audio_clip
    fp = fastloop.fingerprint(path)
    assert len(fp) == len(truth)


def test_split_decode_equals_serial_decode(long_clip):
    path, truth = long_clip
    serial = fastloop.fingerprint(path, workers=1)
    assert len(Video(path).plan(2)) == 2
    split = fastloop.fingerprint(path, workers=2)
    assert len(serial) == len(split) == len(truth)
    np.testing.assert_array_equal(split.hashes, serial.hashes)
    np.testing.assert_array_equal(split.pts, serial.pts)


@pytest.mark.parametrize("clip", ["long_clip", "vfr_clip"])
def test_tiled_decode_equals_frame_by_frame(clip, request, monkeypatch, tmp_path):
    """Frames sent 64 to a picture (ffmpeg's per-picture hand-offs cost more than a
    small frame's decode) arrive as the same bytes with the same timestamps as frames
    sent one by one, in every range: the black frames that pad each range's last
    picture are never handed on, and the timestamps come from the frames, not from
    the pictures."""
    from fastloop.ffmpeg import commands

    path = request.getfixturevalue(clip)[0]
    video = Video(path)
    plan = video.plan(2)

    def run(tiled: bool):
        if not tiled:
            monkeypatch.setattr(commands, "TILE_BYTES", 0)
        got: dict[int, list] = {r: [] for r in range(len(plan))}
        out = dec.decode(video, 24, lambda r, f: got[r].append(f.copy()), ranges=plan)
        monkeypatch.undo()
        return out, [np.concatenate(got[r]) for r in range(len(plan))]

    (pipe,) = dec._pipes(video, 24, [Range()], str(tmp_path), False, False, None, None)
    graph = pipe.args[pipe.args.index("-filter_complex") + 1]
    assert pipe.tile == 64 and "tile=1x64" in graph and "metadata=" in graph
    tiled, frames = run(True)
    plain, one_by_one = run(False)
    assert [len(f) % 64 for f in frames] != [0] * len(frames)  # padded last pictures
    for a, b in zip(frames, one_by_one, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(tiled.pts, plain.pts)
    for a, b in zip(tiled.keep, plain.keep, strict=True):
        np.testing.assert_array_equal(a, b)
    assert tiled.warnings == plain.warnings


def test_a_frame_size_or_format_change_mid_stream_keeps_every_frame_and_time(tmp_path, monkeypatch):
    """MPEG-TS pieces joined end to end, the picture size, then the pixel format,
    changing between them: ffmpeg must not rebuild the filter graph (a new metadata
    filter would empty the timestamp file, the old tile filter drop its unfinished
    picture), and the tiled decode gives the frames and times a frame-by-frame one does."""
    from fastloop.ffmpeg import commands

    pieces = [("160x90", "yuv420p"), ("192x108", "yuv420p"), ("192x108", "yuv444p")]
    joined = tmp_path / "joined.ts"
    with open(joined, "wb") as out:
        for i, (size, pix) in enumerate(pieces):
            piece = tmp_path / f"p{i}.ts"
            subprocess.run(
                [find_ffmpeg(), "-v", "error", "-f", "lavfi", "-i", f"testsrc2=s={size}:r=25",
                 "-t", "2.6", "-pix_fmt", pix, "-c:v", "libx264", "-f", "mpegts", str(piece)],
                check=True,
            )  # fmt: skip
            out.write(piece.read_bytes())
    tiled = fastloop.fingerprint(str(joined), workers=1)
    monkeypatch.setattr(commands, "TILE_BYTES", 0)
    plain = fastloop.fingerprint(str(joined), workers=1)
    assert len(tiled) == len(plain) == 3 * 65
    np.testing.assert_array_equal(tiled.pts, plain.pts)
    np.testing.assert_array_equal(tiled.hashes, plain.hashes)


@pytest.mark.parametrize("live", [False, True])
def test_a_range_on_an_ntsc_keyframe_is_not_a_missed_seek(live, tmp_path, monkeypatch):
    """At 30000/1001 fps a keyframe's time has no short decimal: the printed
    ``pts_time`` is rounded (up, half the time), and a range that starts exactly on the
    keyframe must compare the exact ``pts * tb`` with its start, as the select filter
    does, or every split decode would be called a missed seek and run again whole."""
    path = str(tmp_path / "ntsc.mp4")
    subprocess.run(
        [find_ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=30000/1001",
         "-t", "12", "-c:v", "libx264", "-preset", "ultrafast", "-g", "40", path],
        check=True,
    )  # fmt: skip
    monkeypatch.setattr("fastloop.video.MIN_RANGE_S", 5.0)  # a 12 s clip splits
    video = Video(path)
    plan = video.plan(2, keyframes=True)
    assert plan[1].exact
    frames: dict[int, list] = {0: [], 1: []}
    on_start = (lambda paths: None) if live else None
    split = dec.decode(video, 24, lambda r, f: frames[r].append(f), ranges=plan, on_start=on_start)
    whole = dec.decode(video, 24, lambda r, f: None, workers=1)
    np.testing.assert_array_equal(split.pts, whole.pts)
    assert sum(len(f) for r in frames for f in frames[r]) == len(whole.pts)


@pytest.fixture(scope="module", params=["b-frames", "no-b-frames", "open-gop"])
def short_gop_clip(request, long_clip, tmp_path_factory):
    """long_clip with a keyframe every 2.5 s: with B-frames (a keyframe's packet is
    read before its time), without (packet time = frame time: a seek to it rounded up
    would land a GOP early), and with open GOPs (B-frames after a keyframe refer to
    the GOP before it: the range that starts there cannot decode them, and must not
    call that damage)."""
    path = str(tmp_path_factory.mktemp("gop") / f"{request.param}.mp4")
    bf = "0" if request.param == "no-b-frames" else "3"
    x264 = ["-c:v", "libx264", "-preset", "veryfast", "-g", "75", "-bf", bf]
    if request.param == "open-gop":
        x264[3] = "ultrafast"  # with B-frames put back: its pyramid leaves references
        x264 += ["-x264-params", "open_gop=1"]
    subprocess.run(
        [find_ffmpeg(), "-v", "error", "-y", "-i", long_clip[0], *x264, path], check=True
    )
    return path


def test_range_bounds_on_keyframes_decode_nothing_twice(short_gop_clip, tmp_path):
    """``plan(keyframes=True)`` moves the bound to the keyframe nearest the middle
    (every keyframe known from the packet list, a separate path); the second range
    then starts exactly on it, decodes no frame before it, the first stops there
    (``-to`` at the keyframe, nothing read past it), and the split decode equals the
    serial one frame for frame (B-frames and open GOPs included)."""
    video = Video(short_gop_clip)
    packets = video.packets()
    keys = packets.pts[packets.key] + video.info.start_s
    middle = video.plan(2)[1].start_s
    plan = video.plan(2, keyframes=True)
    assert [r.exact for r in plan] == [False, True]
    assert plan[0].end_s == plan[1].start_s != middle
    assert plan[1].start_s == pytest.approx(keys[np.argmin(np.abs(keys - middle))], abs=1e-6)
    first, _ = dec._pipes(video, 16, plan, str(tmp_path), False, False, None, 1)
    to = float(first.args[first.args.index("-to") + 1]) + video.info.start_s
    assert to == pytest.approx(plan[0].end_s, abs=1e-6)
    frames: dict[int, list] = {0: [], 1: []}
    split = dec.decode(video, 16, lambda r, f: frames[r].append(f.copy()), ranges=plan)
    assert split.keep[1].all()  # its first frame is the keyframe: nothing before it
    serial = []
    whole = dec.decode(video, 16, lambda r, f: serial.append(f.copy()), workers=1)
    np.testing.assert_array_equal(split.pts, whole.pts)
    kept = [np.concatenate(frames[r])[split.keep[r]] for r in (0, 1)]
    np.testing.assert_array_equal(np.concatenate(kept), np.concatenate(serial))
    assert split.warnings == whole.warnings == []


def test_one_decode_of_small_frames_filters_on_one_thread(looped_clip, tmp_path):
    """A single range of small frames: the decoder may use every core, the filter
    graph one (its pool costs more than 320x180 frames do); full frames keep it."""
    video = Video(looped_clip[0])
    assert video.info.width * video.info.height < dec.SMALL_FRAME_PIXELS
    (small,) = dec._pipes(video, 24, [Range()], str(tmp_path), False, False, None, None)
    assert small.args[small.args.index("-filter_complex_threads") + 1] == "1"
    assert "-threads" not in small.args
    (full,) = dec._pipes(video, 24, [Range()], str(tmp_path), True, False, None, None)
    assert "-filter_complex_threads" not in full.args


def test_a_range_started_on_its_keyframe_must_see_it():
    exact, early = Range(10.0, None, exact=True), Range(10.0)
    assert not exact.missed(10.0) and exact.missed(10.001) and not exact.missed(9.9)
    assert early.missed(10.0) and not early.missed(9.9)


def test_truncated_mkv_decodes_what_is_there(truncated_mkv, looped_clip):
    fp = fastloop.fingerprint(truncated_mkv)
    full = fastloop.fingerprint(looped_clip[0])
    assert 0 < len(fp) < len(full)
    # what was decoded is the start of the video, frame for frame
    np.testing.assert_array_equal(fp.hashes[: len(fp) - 5], full.hashes[: len(fp) - 5])


def test_consumer_error_kills_and_reaps_ffmpeg(looped_clip):
    before = child_pids()

    def boom(r, frames):
        raise RuntimeError("consumer stopped")

    with pytest.raises(RuntimeError, match="consumer stopped"):
        dec.decode(looped_clip[0], 24, boom)
    assert child_pids() <= before


def test_ffmpeg_failure_is_a_decode_error(looped_clip, monkeypatch):
    # a filter that fails at run time: ffmpeg exits non-zero, we get its last line
    real = ffmpeg.decode_args

    def bad_args(*a, **kw):
        args = real(*a, **kw)
        i = args.index("-filter_complex") + 1
        args[i] = args[i].replace("format=gray", "format=no_such_format")
        return args

    monkeypatch.setattr(ffmpeg, "decode_args", bad_args)
    with pytest.raises(DecodeError) as err:
        fastloop.fingerprint(looped_clip[0])
    assert err.value.stderr_tail


def test_fingerprint_save_load_roundtrip(looped_clip, tmp_path):
    fp = fastloop.fingerprint(looped_clip[0])
    fp.save(tmp_path / "fp.npz")
    back = fastloop.Fingerprint.load(tmp_path / "fp.npz")
    np.testing.assert_array_equal(back.hashes, fp.hashes)
    np.testing.assert_array_equal(back.pts, fp.pts)
    np.testing.assert_array_equal(back.contrast, fp.contrast)
    assert back.hash_size == 24 and back.info["width"] == 320
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a fastloop fingerprint"):
        fastloop.Fingerprint.load(tmp_path / "junk.npz")


@pytest.mark.parametrize("spill", [False, True])
def test_descriptors_in_memory_or_spilled_come_back_whole(
    looped_clip, tmp_path, monkeypatch, spill
):
    """Descriptors too large for a quarter of the memory available (forced here) are
    written to a reserved, unlinked file as the decode goes and read back through a
    memory map, on the scan and on a load; the rows are the same either way."""
    import importlib

    fpmod = importlib.import_module("fastloop.fingerprint")
    whole = fastloop.fingerprint(looped_clip[0])
    if spill:
        monkeypatch.setattr(fpmod, "SPILL_BYTES", 0)
        monkeypatch.setattr(fpmod, "SPILL_SHARE", 0.0)
    fp = fastloop.fingerprint(looped_clip[0])
    assert isinstance(fp.desc, np.memmap) == spill
    np.testing.assert_array_equal(np.asarray(fp.desc), np.asarray(whole.desc))
    fp.save(tmp_path / "fp.npz")
    back = fastloop.Fingerprint.load(tmp_path / "fp.npz")
    assert isinstance(back.desc, np.memmap) == spill
    np.testing.assert_array_equal(np.asarray(back.desc), np.asarray(whole.desc))
    # a descriptor member cut short is not a fingerprint, spilled or not
    import zipfile

    with (
        zipfile.ZipFile(tmp_path / "fp.npz") as z,
        zipfile.ZipFile(tmp_path / "cut.npz", "w") as out,
    ):
        for item in z.infolist():
            data = z.read(item)
            out.writestr(item, data[: len(data) // 2] if item.filename == "desc.npy" else data)
    with pytest.raises(InputError, match="not a fastloop fingerprint"):
        fastloop.Fingerprint.load(tmp_path / "cut.npz")


def _as_gif(mp4):
    """``mp4`` as an animated GIF beside it (one palette, every frame kept)."""
    gif = mp4.with_suffix(".gif")
    palette = "split[a][b];[a]palettegen[p];[b][p]paletteuse"
    subprocess.run(
        [find_ffmpeg(), "-v", "error", "-y", "-i", str(mp4), "-vf", palette, str(gif)],
        check=True,
    )
    return gif


@pytest.mark.slow
def test_animated_gif_is_a_video_and_its_loop_is_found(tmp_path):
    # an animated GIF is the canonical looped clip: a 3 s clip played 4 times
    from fastloop.synth import Play, make_video, score

    mp4 = tmp_path / "clip.mp4"
    truth = make_video(mp4, [Play(0, 75)] * 4, size=(160, 90), fps=25, seed=5)
    result = fastloop.scan(_as_gif(mp4))
    assert len(result.fingerprint) == len(truth)
    assert [len(lp.occurrences) for lp in result.loops] == [4]
    s = score(result.loops, truth)
    assert s["recall"] >= 0.99 and s["precision"] >= 0.995, s
    # the GIF's own frame delays give the times: the second play starts at 3 s
    assert result.loops[0].occurrences[1].start_s == pytest.approx(75 / 25)


@pytest.mark.slow
@pytest.mark.parametrize("container", ["gif", "mp4"])
def test_a_short_clip_trimmed_at_every_cut_has_every_play_to_the_frame(tmp_path, container):
    """A 2 s clip at 15 fps played 12 times, 0-2 frames trimmed at each end of each
    play (a GIF made from a screen recording): a footage frame at the clip's edge is
    shown by a few plays only, and no run ties some of them to the rest. Every play
    must still start and end on its own first and last frame."""
    from fastloop.synth import Play, make_video, score

    heads = [1, 2, 0, 0, 2, 1, 0, 1, 1, 0, 0, 0]
    tails = [29, 30, 29, 29, 30, 28, 30, 29, 29, 29, 30, 30]
    plays = [Play(40 + a, 40 + b) for a, b in zip(heads, tails, strict=True)]
    mp4 = tmp_path / "clip.mp4"
    truth = make_video(mp4, [Play(0, 40), *plays], size=(240, 136), fps=15, seed=11)
    result = fastloop.scan(_as_gif(mp4) if container == "gif" else mp4)
    assert len(result.fingerprint) == len(truth)
    (loop,) = result.loops
    starts = 40 + np.cumsum([0] + [b - a for a, b in zip(heads, tails, strict=True)])
    got = [(o.start_frame, o.start_frame + o.length_frames) for o in loop.occurrences]
    assert got == list(itertools.pairwise(starts.tolist()))
    # and shows the footage frame its own first frame is: offsets agree with the truth
    first = {o.offset_frames - int(truth[o.start_frame]) for o in loop.occurrences}
    assert len(first) == 1, first
    s = score(result.loops, truth)
    assert s["recall"] == 1.0 and s["precision"] == 1.0, s


@pytest.mark.slow
def test_a_one_frame_gif_is_a_still_image(tmp_path):
    gif = tmp_path / "still.gif"
    subprocess.run(
        [find_ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x36:r=10",
         "-frames:v", "1", str(gif)],
        check=True,
    )  # fmt: skip
    with pytest.raises(InputError, match=r"is a still image \(gif\)"):
        fastloop.scan(gif)


def test_every_ffmpeg_child_is_bound_to_die_with_fastloop(looped_clip, monkeypatch):
    """The probe, the decode, the packet listing and the seek for one frame all spawn
    ffmpeg with the parent-death signal (Linux), so none outlives a killed fastloop."""
    import sys

    real, calls = subprocess.Popen, []

    def spy(args, *rest, **kwargs):
        calls.append((args, kwargs.get("preexec_fn")))
        return real(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    path = looped_clip[0]
    fastloop.scan(path)
    video = Video(path)
    video.packets()
    assert video.frame(1.0).shape == (180, 320, 3)
    names = ("framecrc", "ppm", "rawvideo")
    kinds = {"probe" if a[-2] == "-i" else next(k for k in names if k in a) for a, _ in calls}
    assert kinds == {"probe", "rawvideo", "framecrc", "ppm"}, kinds
    if sys.platform.startswith("linux"):
        assert all(fn is not None for _, fn in calls), [a[:3] for a, fn in calls if fn is None]
