"""Every ffmpeg command line, as a list (no ffmpeg runs here), and ffmpeg's outputs
as fastloop reads them."""

from fractions import Fraction
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastloop import ffmpeg
from fastloop.errors import DecodeError
from fastloop.ffmpeg import logs
from fastloop.ffmpeg.commands import SEEK_MARGIN_S


def test_decode_args_is_a_safe_fast_list():
    args = ffmpeg.decode_args("ffmpeg", "file:/v.mp4", 24, "/tmp/s.txt")
    assert args[:5] == ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "level+error"]
    joined = " ".join(args)
    assert "scale=24:24:flags=area" in joined and "format=gray" in joined
    assert joined.index("scale=") < joined.index("format=gray")
    assert args[args.index("-fps_mode") + 1] == "passthrough"
    assert args[args.index("-map") + 1].startswith("[")  # only the mapped video stream
    assert "0:v:0" in args[args.index("-filter_complex") + 1]
    assert args[args.index("-i") + 1] == "file:/v.mp4"
    assert args[args.index("-stats_enc_pre") + 1] == "/tmp/s.txt"
    assert args[args.index("-max_error_rate") + 1] == "1"
    assert args[-1] == "pipe:" and "-ss" not in args and "-to" not in args
    ranged = ffmpeg.decode_args(
        "ffmpeg", "file:/v.mp4", 16, "/s", start_s=20.0, end_s=40.0, threads=1
    )
    assert ranged.index("-ss") < ranged.index("-i")  # a seek of the input, not the output
    assert ranged[ranged.index("-ss") + 1] == f"{20.0 - SEEK_MARGIN_S:.6f}"
    assert ranged[ranged.index("-to") + 1] == f"{40.0 + SEEK_MARGIN_S:.6f}"
    assert r"lt(t\,40.0)" in ranged[ranged.index("-filter_complex") + 1]
    assert ranged[ranged.index("-threads") + 1] == "1"
    # one decoding thread, one filter thread: no pool to hand each small frame to
    assert ranged[ranged.index("-filter_complex_threads") + 1] == "1"
    assert "-filter_complex_threads" not in args  # ffmpeg's choice for a single range
    one = ffmpeg.decode_args("ffmpeg", "u", 8, "s", filter_threads=1)
    assert one[one.index("-filter_complex_threads") + 1] == "1" and "-threads" not in one
    # the seek never goes before the file's start
    early = ffmpeg.decode_args("ffmpeg", "u", 8, "s", start_s=0.5)
    assert early[early.index("-ss") + 1] == "0.000000"
    # a range that starts on its keyframe seeks to it, rounded down to the
    # microsecond (a seek past it would drop it); it reads a short tail past its end
    on_key = ffmpeg.decode_args(
        "ffmpeg", "u", 8, "s", start_s=33.2000004, end_s=50.0, margin=0.0, tail=0.5
    )
    assert on_key[on_key.index("-ss") + 1] == "33.200000"
    assert on_key[on_key.index("-to") + 1] == "50.500000"
    third = ffmpeg.decode_args("ffmpeg", "u", 8, "s", start_s=2 / 3, margin=0.0)
    assert third[third.index("-ss") + 1] == "0.666666"
    fast = ffmpeg.decode_args("ffmpeg", "u", 8, "s", fast=True)
    assert fast[fast.index("-skip_frame") + 1] == "noref" and fast.index(
        "-skip_frame"
    ) < fast.index("-i")
    full = ffmpeg.decode_args("ffmpeg", "u", 0, "s", full_frame=(640, 360), tile=64)
    assert "scale=640:360" in full[full.index("-filter_complex") + 1]
    assert "tile=" not in full[full.index("-filter_complex") + 1]  # full frames: one by one


def test_tiled_decode_args_print_each_frame_time():
    """Tiled: the frames' times printed by the metadata filter before the tile
    filter stacks them (into the given file), the encoder's into a file beside it
    (its time base); ``live`` writes each line at once."""
    from fastloop.ffmpeg.commands import tile_frames
    from fastloop.ffmpeg.logs import time_base_path

    assert tile_frames(576) == 64 and tile_frames(4096) == 16 and tile_frames(640 * 360) == 1
    args = ffmpeg.decode_args("ffmpeg", "u", 24, "/t/pts0.txt", tile=64)
    graph = args[args.index("-filter_complex") + 1]
    order = [graph.index(f) for f in ("scale=", "format=gray", "metadata=", "tile=1x64")]
    assert order == sorted(order)
    assert r"file=file\\:/t/pts0.txt" in graph and "direct" not in graph
    assert args[args.index("-stats_enc_pre") + 1] == time_base_path("/t/pts0.txt")
    live = ffmpeg.decode_args("ffmpeg", "u", 24, "/t/pts0.txt", tile=64, live=True)
    assert "direct=1" in live[live.index("-filter_complex") + 1]


def test_a_file_name_that_is_not_utf8_reaches_ffmpeg_intact():
    url = "file:/v/\udcff\udcfe.mp4"  # undecodable bytes, as os.fsdecode gives them
    for args in (
        ffmpeg.decode_args("ffmpeg", url, 24, "s"),
        ffmpeg.packets_args("ffmpeg", url),
        ffmpeg.frame_args("ffmpeg", url, 1.0, 0.5, 0.01, "s"),
        ffmpeg.probe_args("ffmpeg", url),
    ):
        assert (args[args.index("-i") + 1] == url and args[1] == "-nostdin") or args[
            2
        ] == "-nostdin"


def test_frame_args_seek_before_input_and_pick_by_timestamp():
    args = ffmpeg.frame_args("ffmpeg", "file:/v.mp4", 13.4, 12.0, 0.015, "/t/pts.txt")
    assert args.index("-ss") < args.index("-i")  # input seeking: jump, then decode
    assert args[args.index("-ss") + 1] == "12.000000"
    assert "-copyts" in args and args[args.index("-frames:v") + 1] == "1"
    graph = args[args.index("-filter_complex") + 1]
    assert r"select=gte(t\,13.385000000)" in graph and "scale" not in graph
    assert args[args.index("-stats_enc_pre") + 1] == "/t/pts.txt"
    assert args[args.index("-c:v") + 1] == "ppm" and args[args.index("-pix_fmt") + 1] == "rgb24"
    assert args[args.index("-f") + 1] == "image2pipe" and args[-1] == "pipe:"
    assert "-ss" not in ffmpeg.frame_args("ffmpeg", "u", 0.5, None, 0.01, "p")
    thumbs = ffmpeg.frame_args("ffmpeg", "u", 5.0, 4.0, 0.01, "p", max_width=240)
    assert r"scale=min(iw\,240):-2" in thumbs[thumbs.index("-filter_complex") + 1]


def test_packets_args_copy_the_first_video_stream_to_framecrc():
    args = ffmpeg.packets_args("ffmpeg", "file:/v.ts")
    assert args[args.index("-map") + 1] == "0:v:0"
    assert args[args.index("-c") + 1] == "copy" and args[args.index("-f") + 1] == "framecrc"
    assert "-copyts" in args and args.index("-copyts") < args.index("-i")
    assert "-ss" not in args and "-t" not in args
    near = ffmpeg.packets_args("ffmpeg", "file:/v.mp4", start_s=30.5, span_s=12)
    assert near.index("-ss") < near.index("-i") and near.index("-t") < near.index("-i")
    assert near[near.index("-ss") + 1] == "30.500000" and near[near.index("-t") + 1] == "12.000000"


def test_probe_args_have_no_output():
    assert ffmpeg.probe_args("ffmpeg", "file:/v.mp4") == [
        "ffmpeg", "-hide_banner", "-nostdin", "-i", "file:/v.mp4",
    ]  # fmt: skip


def test_read_timestamps(tmp_path):
    p = tmp_path / "pts.txt"
    p.write_bytes(b"0 1/600\n20 1/600\n45 1/600\n6")
    pts, tb = ffmpeg.read_timestamps(str(p), complete_only=True)
    assert pts.tolist() == [0, 20, 45] and tb == Fraction(1, 600)
    assert ffmpeg.last_timestamp(str(p)) == pytest.approx(45 / 600)
    # many lines, across the 4 MB slices the parser reads
    lines = b"".join(b"%d 1/90000\n" % (i * 3003) for i in range(600_000))
    p.write_bytes(lines)
    pts, tb = ffmpeg.read_timestamps(str(p))
    np.testing.assert_array_equal(pts, np.arange(600_000) * 3003)
    p.write_bytes(b"0 1/600\n20 1/1000\n")
    with pytest.raises(DecodeError, match="time base"):
        ffmpeg.read_timestamps(str(p))
    missing = str(tmp_path / "none.txt")
    assert len(ffmpeg.read_timestamps(missing, complete_only=True)[0]) == 0
    with pytest.raises(FileNotFoundError):
        ffmpeg.read_timestamps(missing)
    assert ffmpeg.last_timestamp(missing) is None


def _printed(pts, times=None, den=600) -> bytes:
    """Lines as ffmpeg's metadata filter prints them (NOPTS for None)."""
    out = []
    for i, p in enumerate(pts):
        t = "NOPTS" if p is None else (times[i] if times else f"{p / den:.6f}")
        out.append(f"frame:{i:<4} pts:{'NOPTS' if p is None else p:<7} pts_time:{t}\nfastloop=1\n")
    return "".join(out).encode()


def test_read_printed_timestamps(tmp_path):
    from fastloop.ffmpeg.logs import count_timestamps, time_base_path

    p = tmp_path / "pts.txt"
    tb = tmp_path / time_base_path("pts.txt")
    p.write_bytes(_printed([0, 20, 45]) + b"frame:3    pts:6")
    # no time base yet: nothing is complete (a checkpoint waits), or an error at the end
    assert len(ffmpeg.read_timestamps(str(p), complete_only=True)[0]) == 0
    with pytest.raises(DecodeError, match="time base"):
        ffmpeg.read_timestamps(str(p))
    assert ffmpeg.first_timestamp(str(p)) is None  # exact times need the time base
    tb.write_bytes(b"0 1/600\n")
    pts, base = ffmpeg.read_timestamps(str(p), complete_only=True)
    assert pts.tolist() == [0, 20, 45] and base == Fraction(1, 600)
    assert ffmpeg.last_timestamp(str(p)) == pytest.approx(45 / 600)
    assert ffmpeg.first_timestamp(str(p)) == 0.0
    # the line cut short is never a frame's, even at the end (ffmpeg killed)
    assert ffmpeg.read_timestamps(str(p))[0].tolist() == [0, 20, 45]
    assert count_timestamps(str(p)) == 3
    # the exact time, as the select filter computes it, not the rounded pts_time
    p.write_bytes(_printed([760760], ["25.358667"]))
    tb.write_bytes(b"0 1/30000\n")
    assert ffmpeg.first_timestamp(str(p)) == float(np.float64(760760) * float(Fraction(1, 30000)))
    tb.write_bytes(b"0 1/600\n")
    # negative times, a frame without one (it takes its predecessor's), a large one
    p.write_bytes(_printed([-1200, 0, None, 7_000_000_000_000]))
    assert ffmpeg.read_timestamps(str(p))[0].tolist() == [-1200, 0, 0, 7_000_000_000_000]
    assert count_timestamps(str(p)) == 4
    # many lines, across the slices the parser reads
    many = np.arange(300_000) * 3003
    p.write_bytes(_printed(many.tolist(), den=90000))
    tb.write_bytes(b"0 1/90000\n")
    out, base = ffmpeg.read_timestamps(str(p))
    np.testing.assert_array_equal(out, many)
    assert base == Fraction(1, 90000) and count_timestamps(str(p)) == len(many)
    # printed times that contradict the time base: the printed times, in microseconds
    p.write_bytes(_printed([0, 10, 20], ["0", "1.5", "3.25"]))
    out, base = ffmpeg.read_timestamps(str(p))
    assert out.tolist() == [0, 1_500_000, 3_250_000] and base == Fraction(1, 1_000_000)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-(2**62), 2**62)), max_size=40))
def test_printed_pts_against_a_plain_parser(values):
    """The column-by-column numpy reader against a regular expression."""
    import re

    from fastloop.ffmpeg.logs import printed_pts

    data = _printed(values)
    ref, last = [], None
    for tok in re.findall(rb"pts:(\S+)", data):
        last = int(tok) if tok != b"NOPTS" else last
        ref.append(last)
    first = next((v for v in ref if v is not None), 0)
    ref = [first if v is None else v for v in ref]
    assert printed_pts(data).tolist() == ref


def test_reason_and_log_lines():
    tail = (
        "[vist#0:0/h264 @ 0x55] [dec:h264 @ 0x56] Invalid NAL unit size\n"
        "[out#0/rawvideo @ 0x57] Nothing was written into output file\n"
        "Conversion failed!\n"
    )
    assert ffmpeg.reason(tail) == "Invalid NAL unit size"
    assert ffmpeg.reason("") == ""
    log = "[h264 @ 0x1] [error] bad slice\n[h264 @ 0x1] [warning] odd header\n"
    from fastloop.ffmpeg.logs import log_lines

    assert log_lines(log) == ["bad slice"]
    assert log_lines(log, errors=False) == ["odd header"]


def test_open_failure_says_why_in_one_line():
    err = "[mov,mp4 @ 0x1] moov atom not found\n[in#0 @ 0x2] Error opening input: Invalid data\n"
    assert ffmpeg.open_failure(err) == (
        "the MP4/MOV index (moov atom) is missing: truncated or unfinished; Invalid data"
    )
    assert ffmpeg.open_failure("") == "unknown error"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-(2**40), 2**40), max_size=40),
    st.sampled_from([b"1/600", b"1/90000", b"1001/30000"]),
    st.sampled_from(["", "partial", "number", "other-tb", "blank", "junk"]),
)
def test_timestamp_fast_path_agrees_with_the_token_parser(pts, tb, tail):
    """The numpy reader and the token-by-token parser read any file the same way
    (or the fast one stands aside): partial last lines, another time base, junk."""
    from fastloop.ffmpeg.logs import _parse_lines, _parse_regular

    data = b"".join(b"%d %s\n" % (p, tb) for p in pts)
    data += {
        "": b"",
        "partial": b"123",
        "number": b"77 " + tb,
        "other-tb": b"5 1/1000\n",
        "blank": b"\n",
        "junk": b"x y\n",
    }[tail]
    try:
        want = _parse_lines(data)
    except (DecodeError, ValueError) as exc:
        want = type(exc)
    fast = _parse_regular(data)
    if fast is not None:
        assert not isinstance(want, type), (want, fast)
        np.testing.assert_array_equal(fast[0], want[0])
        assert fast[1] == want[1]


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_timestamps_parsed_as_written_equal_the_whole_file(tmp_path_factory, data):
    """A running decode's timestamp file, read and parsed in whatever pieces ffmpeg's
    buffer writes it (lines cut anywhere, frames without a time at a cut, the time
    base written late), gives what the finished file does, and so do the cases the
    whole-file reader decides: times that contradict the time base, lines that are
    not printed ones, a file written anew from the start."""
    from fastloop.ffmpeg.logs import PrintedTimes, time_base_path

    tmp = tmp_path_factory.mktemp("ts")
    p, tb = tmp / "pts.txt", tmp / time_base_path("pts.txt")
    values = data.draw(st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), max_size=60))
    kind = data.draw(st.sampled_from(["printed", "contradicting", "stats"]))
    if kind == "printed":
        text = _printed(values)
    elif kind == "contradicting":
        text = _printed([0, 10, 20], ["0", "1.5", "3.25"])
    else:
        text = "".join(f"{i * 20} 1/600\n" for i in range(len(values) + 1)).encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    # parsed by numpy (the kernel not loaded yet) or by the kernel, with room for a
    # few values at first (it grows) or for all
    kernel = data.draw(st.booleans())
    if kernel:
        logs.warm_parser()
    parser = logs._loaded_parser if kernel else lambda: None
    room = data.draw(st.sampled_from([1, 3, 1 << 14]))
    with (
        mock.patch.object(logs, "_loaded_parser", parser),
        mock.patch.object(logs, "_FIRST_ROOM", room),
    ):
        times = PrintedTimes(str(p))
        _write_in_pieces(times, p, tb, text, cuts, data)
        pts, base = times.result()
    want, want_base = ffmpeg.read_timestamps(str(p))
    assert pts.tolist() == want.tolist() and base == want_base


def _write_in_pieces(times, p, tb, text: bytes, cuts: list, data) -> None:
    """Write ``text`` to ``p`` in pieces, polling ``times`` after each; the time base
    file ``tb`` is written late, at a point drawn; maybe write ``p`` anew at the end."""
    times.poll()  # no file yet
    late = data.draw(st.integers(0, len(cuts)))
    with open(p, "wb") as fh:
        at = 0
        for i, cut in enumerate([*cuts, len(text)]):
            if i == late:
                tb.write_bytes(b"0 1/600\n")
            fh.write(text[at:cut])
            fh.flush()
            at = cut
            times.poll()
    if late > len(cuts):
        tb.write_bytes(b"0 1/600\n")
    anew = _printed([7])
    if len(anew) < len(text) and data.draw(st.booleans()):
        # written anew from the start, shorter than what was read (a filter graph
        # rebuilt; fastloop's decodes forbid it, see decode_args)
        p.write_bytes(anew)
        times.poll()
