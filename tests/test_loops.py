"""Loop detection on a ground-truth corpus made by ffmpeg, and properties of the grouping."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastloop
from fastloop.ffmpeg import find_ffmpeg
from fastloop.fingerprint import Fingerprint
from fastloop.loops import LoopParams, search
from fastloop.synth import Black, Freeze, Play, Still, copied_frames, make_video, score

from . import reference as ref
from .conftest import FPS, copy_spans


def _trimmed_plays(k: int, length: int, seed: int) -> list:
    """A clip of ``length`` frames played ``k`` times, a third of the cuts trimmed
    by 1-6 frames on one side or the other."""
    rng = np.random.default_rng(seed)
    plays = []
    for i in range(k):
        a = int(rng.integers(1, 7)) if i > 0 and rng.random() < 0.33 else 0
        b = length - int(rng.integers(1, 7)) if i < k - 1 and rng.random() < 0.33 else length
        plays.append(Play(a, b))
    return plays


TRIMMED = _trimmed_plays(9, 110, seed=5)

POSITIVE = {
    "one splice": dict(segments=[Play(0, 400), Play(137, 263), Play(400, 700)]),
    "one stretch, three places": dict(
        segments=[
            Play(0, 300),
            Play(51, 128),
            Play(300, 500),
            Play(51, 128),
            Play(500, 650),
            Play(333, 401),
            Play(650, 800),
        ]
    ),
    "clip looped 8 times": dict(segments=[Play(0, 97)] * 8),
    # plays trimmed by a few frames at some cuts, as a looped upload is cut by hand
    "clip looped 9 times with trims": dict(segments=TRIMMED),
    "copy among freezes, black and stills": dict(
        segments=[
            Play(0, 200),
            Freeze(150, 45),
            Play(200, 400),
            Black(40),
            Play(77, 199),
            Still(300, 90),
            Play(400, 520),
        ]
    ),
    "part of a copy copied again": dict(
        segments=[Play(0, 300), Play(60, 240), Play(300, 500), Play(100, 150), Play(500, 600)]
    ),
    # the second copy's original is split by the first copy's insertion: one piece
    # of it (10 frames, a third of a second) has its partner in another place
    "a copy whose original another copy splits": dict(
        segments=[Play(0, 200), Play(50, 110), Play(200, 400), Play(190, 260), Play(400, 500)]
    ),
    # testsrc2 repeats its pattern every 4 s, only its counter differs: every frame
    # matches many look-alikes by the hash, which link a copy's frames elsewhere
    # and lengthen its runs; verification must still find each copy, to the frame
    "copies in look-alike footage (testsrc2)": dict(
        segments=[Play(0, 300), Play(59, 137), Play(300, 450), Play(4, 45), Play(450, 600)],
        source="testsrc2=s={w}x{h}:r={fps}",
    ),
    # lavfi mandelbrot zooms slowly at times: the hash ends the copy's run where its
    # frames stop being specific at 0.2 s, and the rest of the copy (two seconds
    # here) is only found by following the pictures' agreement window by window
    # two copies that overlap in the source, in testsrc2: part of the first copy is in
    # the second too, and the rest of it has only its original as a partner
    "overlapping copies in look-alike footage": dict(
        segments=[Play(0, 188), Play(105, 172), Play(188, 307), Play(0, 139), Play(307, 900)],
        source="testsrc2=s={w}x{h}:r={fps}",
    ),
    "slow zoom (mandelbrot)": dict(
        segments=[Play(0, 587), Play(259, 397), Play(587, 810)],
        source="mandelbrot=s={w}x{h}:r={fps}",
    ),
    "slow footage": dict(segments=[Play(0, 400), Play(137, 263), Play(400, 700)], speed=0.12),
    # x264's medium preset puts B-frames in slow footage: a frame's copy then differs
    # from it by more bits than its neighbour does, and the hash cannot say which
    # diagonal is the copy's own (verification at 128x128 can)
    "slow footage, B-frames": dict(
        segments=[Play(0, 400), Play(137, 263), Play(400, 700)],
        speed=0.12,
        extra_args=["-x264-params", "b-adapt=0:scenecut=0"],
    ),
    "variable frame rate": dict(
        segments=[Play(0, 300), Play(90, 200), Play(300, 450)],
        setpts="if(lt(N,200),N*20,4000+(N-200)*30)",
    ),
    "720p, crf 28": dict(
        segments=[Play(0, 200), Play(61, 140), Play(200, 300)], size=(1280, 720), crf=28
    ),
}

NEGATIVE = {
    "honest footage": dict(segments=[Play(0, 900)]),
    "freezes and stills only": dict(
        segments=[
            Play(0, 100),
            Freeze(99, 60),
            Play(100, 200),
            Still(150, 120),
            Black(60),
            Play(200, 300),
            Freeze(250, 90),
            Still(150, 90),
        ]
    ),
    "static scene whose empty view comes back": dict(
        segments=[Still(10, 300), Play(10, 40), Still(40, 300), Still(10, 300)]
    ),
    "slow honest footage": dict(segments=[Play(0, 900)], speed=0.08),
    # lavfi testsrc2 repeats its moving pattern; only the frame counter differs:
    # the 24x24 hash matches, the verification at 128x128 must not
    "look-alike footage (testsrc2)": dict(
        segments=[Play(0, 900)], source="testsrc2=s={w}x{h}:r={fps}"
    ),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    made = {}

    def get(name, case):
        if name not in made:
            kw = dict(case)
            path = str(folder / f"{len(made)}.mp4")
            truth = make_video(path, kw.pop("segments"), **kw)
            made[name] = (path, truth)
        return made[name]

    return get


@pytest.mark.parametrize("name", list(POSITIVE))
def test_every_copied_frame_found(corpus, name):
    path, truth = corpus(name, POSITIVE[name])
    result = fastloop.scan(path)
    s = score(result.loops, truth)
    assert s["copied_frames"] > 0
    assert s["recall"] >= 0.99, s
    assert s["precision"] >= 0.995, s
    # every loop is a copied stretch of at least --min-length (1 s), or a piece of one:
    # one of its occurrences continues another loop's occurrence
    spans = sorted(
        (o.start_frame, o.start_frame + lp.length_frames)
        for lp in result.loops
        for o in lp.occurrences
    )
    for lp in result.loops:
        occ = lp.occurrences
        assert len(occ) >= 2 and list(occ) == sorted(occ, key=lambda o: o.start_frame)
        if lp.length_s < 1.0 - 1e-6:
            assert any(_stretch(spans, o.start_frame) >= 30 for o in occ), lp
        for o in occ:  # start_s is the frame's true timestamp, also for VFR
            assert o.start_s == pytest.approx(result.fingerprint.pts[o.start_frame])


def _stretch(spans, frame):
    """Length of the run of frames around ``frame`` that the spans cover (gaps of up to
    2 frames bridged)."""
    lo = hi = None
    for a, b in spans:
        if lo is None or a > hi + 2:
            if lo is not None and lo <= frame < hi:
                return hi - lo
            lo, hi = a, b
        else:
            hi = max(hi, b)
    return hi - lo if lo is not None and lo <= frame < hi else 0


TRANSCODES = {
    "hevc.mp4": ["-c:v", "libx265", "-crf", "28", "-x265-params", "log-level=error"],
    "vp9.webm": ["-c:v", "libvpx-vp9", "-crf", "30", "-b:v", "0", "-deadline", "realtime"],
    "mpeg4.avi": ["-c:v", "mpeg4", "-q:v", "5"],
    "mpeg2.ts": ["-c:v", "mpeg2video", "-q:v", "5"],
}


@pytest.mark.parametrize("target", list(TRANSCODES))
def test_slow_copies_survive_other_codecs(corpus, tmp_path, target):
    # slow footage is where a copy's own frame is hardest to tell from its neighbour;
    # each codec blurs it differently, and the boundaries must still be exact
    path, truth = corpus("slow footage", POSITIVE["slow footage"])
    out = str(tmp_path / f"slow.{target}")
    cmd = [find_ffmpeg(), "-v", "error", "-i", path, "-fps_mode", "passthrough"]
    subprocess.run([*cmd, *TRANSCODES[target], "-an", out], check=True)
    s = score(fastloop.scan(out).loops, truth)
    assert s["recall"] >= 0.99 and s["precision"] >= 0.995, s


def test_loop_boundaries_are_exact(corpus):
    path, truth = corpus("one splice", POSITIVE["one splice"])
    ((src, dst, length),) = copy_spans(truth)
    loops = fastloop.scan(path).loops
    assert len(loops) == 1
    lp = loops[0]
    assert [o.start_frame for o in lp.occurrences] == [src, dst]
    assert abs(lp.length_frames - length) <= 1
    assert lp.mean_distance < 10


def test_looped_clip_is_one_loop_with_k_occurrences(corpus):
    path, _ = corpus("clip looped 8 times", POSITIVE["clip looped 8 times"])
    loops = fastloop.scan(path).loops
    assert len(loops) == 1
    assert [o.start_frame for o in loops[0].occurrences] == [97 * k for k in range(8)]
    assert loops[0].length_frames == 97


def test_trimmed_plays_are_one_loop_with_one_occurrence_each(corpus):
    name = "clip looped 9 times with trims"
    path, _ = corpus(name, POSITIVE[name])
    loops = fastloop.scan(path).loops
    assert len(loops) == 1
    got = [(o.start_frame, o.length_frames, o.offset_frames) for o in loops[0].occurrences]
    assert len(got) == len(TRIMMED)
    at, first = 0, min(p.start for p in TRIMMED)
    for (start, length, offset), play in zip(got, TRIMMED, strict=True):
        # each play's first and last frame within one frame, at its place in the clip
        assert abs(start - at) <= 1, (got, TRIMMED)
        assert abs(start + length - (at + play.stop - play.start)) <= 1, (got, TRIMMED)
        assert offset - (start - at) == play.start - first, (got, TRIMMED)
        at += play.stop - play.start


def test_stretch_copied_to_several_places_is_one_loop(corpus):
    name = "one stretch, three places"
    path, _ = corpus(name, POSITIVE[name])
    loops = fastloop.scan(path).loops
    starts = sorted(tuple(o.start_frame for o in lp.occurrences) for lp in loops)
    assert (51, 300, 577) in starts


@pytest.mark.parametrize("name", list(NEGATIVE))
def test_no_loop_on_honest_footage(corpus, name):
    path, truth = corpus(name, NEGATIVE[name])
    assert not copied_frames(truth).any()
    result = fastloop.scan(path)
    assert result.loops == [], [lp.to_dict() for lp in result.loops]
    assert not result.looped


def test_the_descriptor_is_what_rejects_look_alikes(corpus):
    # testsrc2 repeats all but its frame counter: the hash alone pairs frames far apart
    name = "look-alike footage (testsrc2)"
    path, _ = corpus(name, NEGATIVE[name])
    fp = fastloop.fingerprint(path)
    h = fp.hashes
    far = [(i, j) for i in range(0, len(h), 7) for j in range(i + 60, len(h), 7)]
    d = fastloop.hamming(h[[i for i, _ in far]], h[[j for _, j in far]])
    assert (d <= LoopParams().resolved_distance(24)).any(), "the hash should match some"
    assert fastloop.scan(fp=fp).loops == []


def test_min_length_filters_short_copies(corpus):
    path, _ = corpus("one splice", POSITIVE["one splice"])
    fp = fastloop.fingerprint(path)
    assert fastloop.find_loops(fp, min_length_s=5.0) == []  # the copy is 4.2 s
    assert len(fastloop.find_loops(fp, min_length_s=4.0)) == 1


def _fingerprint_of(frames: np.ndarray, fps: float = 30.0) -> Fingerprint:
    h, c, d = fastloop.hashing.hash_frames(frames)
    n = len(h)
    return Fingerprint(
        hashes=h, pts=np.arange(n) / fps, contrast=c, desc=d, hash_size=24, info={"fps": fps}
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    copies=st.lists(st.tuples(st.integers(0, 359), st.integers(30, 150)), min_size=1, max_size=3),
    noise=st.integers(0, 3),
)
def test_planted_copies_are_found_exactly(seed, copies, noise):
    """Any set of planted copies (with gray-level noise, in drifting footage) comes back
    as loops: footage frames 0..399, then each copy followed by 30 frames of other
    footage."""
    rng = np.random.default_rng(seed)
    src = ref.smooth_footage(400, 24, seed=seed % 1000)
    other = ref.smooth_footage(30 * len(copies), 24, seed=seed % 1000 + 1000)
    pieces, truth = [src], list(range(400))
    for k, (start, length) in enumerate(copies):
        stop = min(start + length, 400)
        noisy = src[start:stop].astype(np.int16) + rng.integers(
            -noise, noise + 1, (stop - start, 24, 24)
        )
        pieces.append(np.clip(noisy, 0, 255).astype(np.uint8))
        truth += range(start, stop)
        pieces.append(other[30 * k : 30 * k + 30])
        truth += range(1000 + 30 * k, 1000 + 30 * k + 30)
    result = search(_fingerprint_of(np.concatenate(pieces)), LoopParams())
    s = score(result.loops, np.array(truth))
    assert s["recall"] >= 0.99 and s["precision"] >= 0.995, (s, copies)


def test_scan_never_decodes_the_video_again(corpus, monkeypatch):
    # copies are confirmed and cut on the gray descriptors kept from the one decode:
    # a scan runs ffmpeg once to probe the file and once per decoded range, no more
    import subprocess

    path, truth = corpus("one splice", POSITIVE["one splice"])
    real, calls = subprocess.Popen, []

    def spy(args, *rest, **kwargs):
        calls.append(list(args))
        return real(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    s = score(fastloop.scan(path).loops, truth)
    assert s["recall"] >= 0.99 and s["precision"] >= 0.995, s
    probes = [c for c in calls if c[-2] == "-i"]
    decodes = [c for c in calls if "rawvideo" in c]
    assert len(probes) == 1 and len(decodes) == 1 and len(calls) == 2, calls


def test_warm_loads_every_kernel_a_search_runs(looped_clip, tmp_path):
    """``loops.warm`` (run beside the decode) searches made-up fingerprints; the
    search of a real one that follows, in the same fresh process, must find all its
    kernels loaded, in the types it calls them with (a kernel given another array
    layout would be compiled or loaded then, on the scan's time), on the paths of a
    short video and on those of a long one, where the work is shared among cores."""
    fp_path = str(tmp_path / "fp.npz")
    fp = fastloop.fingerprint(looped_clip[0])
    # the clip played twice: many runs, as a long video has
    Fingerprint(
        hashes=np.concatenate([fp.hashes, fp.hashes]),
        pts=np.concatenate([fp.pts, fp.pts + fp.pts[-1] + 1 / FPS]),
        contrast=np.concatenate([fp.contrast, fp.contrast]),
        hash_size=fp.hash_size,
        desc=np.concatenate([fp.desc, fp.desc]),
    ).save(fp_path)
    code = (
        "import sys\n"
        "from fastloop import kernels, loops\n"
        "from fastloop.fingerprint import Fingerprint\n"
        "def sigs():\n"
        "    return {n: len(getattr(kernels, n).signatures) for n in dir(kernels)\n"
        "            if hasattr(getattr(kernels, n), 'signatures')}\n"
        "fp = Fingerprint.load(sys.argv[1])\n"
        "loops.warm()\n"
        "before = sigs()\n"
        "found = loops.search(fp).loops\n"
        "shared = loops.search(fp, parallel_from=0).loops\n"  # a long video's paths
        "print(len(found), sum(before.values()), len(shared))\n"
        "print(sorted(k for k, v in sigs().items() if v != before[k]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, fp_path], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    loops_found, loaded, shared = map(int, out[0].split())
    assert loops_found >= 1 and loaded > 10 and shared == loops_found
    assert out[1] == "[]"


def test_a_copy_spliced_after_another_copys_source_is_a_loop_of_its_own(tmp_path):
    """Copy A (footage 60-99) is spliced in right after footage 209, and copy B shows
    footage 189-212: footage 209's picture is followed once by A's first frame (the
    splice) and once by footage 210 (in B). A step seen once, across a cut, does not
    chain two copies into one footage: A and B stay two loops. And B's last three
    frames, whose original goes on after A (too short a piece for a run), are found
    all the same: that original's tail is a play of B's loop of its own."""
    from fastloop.synth import Play, make_video, score

    segments = [Play(0, 210), Play(60, 100), Play(210, 238), Play(177, 208),
                Play(238, 262), Play(189, 213), Play(262, 330)]  # fmt: skip
    truth = make_video(tmp_path / "v.mp4", segments, size=(240, 136), seed=4)
    result = fastloop.scan(tmp_path / "v.mp4")
    a = [lp for lp in result.loops if any(o.start_frame == 210 for o in lp.occurrences)]
    assert len(a) == 1 and [(o.start_frame, o.length_frames) for o in a[0].occurrences] == [
        (60, 40),
        (210, 40),
    ]
    (b,) = [lp for lp in result.loops if lp is not a[0]]
    tail = [o for o in b.occurrences if o.start_frame == 250]  # footage 210-212 after A
    assert [(o.length_frames, o.offset_frames) for o in tail] == [(3, b.length_frames - 3)]
    s = score(result.loops, truth)
    assert s["recall"] == 1.0 and s["precision"] == 1.0, s
