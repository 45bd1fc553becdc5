"""``compare A B``: footage of A found in B with both times, through a trim, a
re-encode and a frame-rate change; nothing between unrelated clips."""

import subprocess

import numpy as np
import pytest

from fastloop.compare import compare, format_vsc, mirror
from fastloop.ffmpeg import find_ffmpeg
from fastloop.fingerprint import Fingerprint
from fastloop.hashing import hash_frames
from fastloop.synth import Play, make_video

A_FRAMES, FPS = 900, 30
CUT_S, LEN_S = 4.0, 10.0  # B shows A from 4.0 s for 10 s ...
LEAD_FRAMES = 150  # ... after 5 s of other footage


@pytest.mark.parametrize("size", [8, 12, 24, 7])
def test_a_mirrored_fingerprint_is_the_fingerprint_of_the_mirrored_frames(size):
    frames = np.random.default_rng(size).integers(0, 256, (40, size, size), dtype=np.uint8)
    h, c, d = hash_frames(frames)
    fh, _, fd = hash_frames(np.ascontiguousarray(frames[:, :, ::-1]))
    fp = Fingerprint(hashes=h, pts=np.arange(40) / 30, contrast=c, desc=d, hash_size=size)
    got = mirror(fp)
    np.testing.assert_array_equal(got.hashes, fh)
    np.testing.assert_array_equal(got.desc, fd)
    np.testing.assert_array_equal(mirror(got).hashes, h)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("compare")
    ff = find_ffmpeg()
    a, other = str(d / "a.mp4"), str(d / "other.mp4")
    make_video(a, [Play(0, A_FRAMES)])
    make_video(other, [Play(0, LEAD_FRAMES)], seed=7)
    mid = str(d / "mid.mp4")
    cut = ["-ss", f"{CUT_S}", "-t", f"{LEN_S}", "-i", a, "-c:v", "libx264", "-crf", "26", mid]
    subprocess.run([ff, "-v", "error", "-y", *cut], check=True)
    made = {}
    # re-uploads of A's stretch after other footage: at A's rate, at 24 fps, with
    # black bars above and below, mirrored, and under a channel logo (a white box
    # over a twentieth of the picture)
    variants = {
        "b30": "fps=30",
        "b24": "fps=24",
        "letterbox": "pad=iw:ih*4/3:0:ih/6:black",
        "mirror": "hflip",
        "logo": "drawbox=x=iw*3/4:y=ih/20:w=iw/5:h=ih/4:color=white:t=fill",
    }
    for name, post in variants.items():
        path = str(d / f"{name}.mp4")
        graph = f"[0:v][1:v]concat=n=2:v=1[v];[v]{post}[o]"
        args = ["-i", other, "-i", mid, "-filter_complex", graph, "-map", "[o]"]
        subprocess.run([ff, "-v", "error", "-y", *args, "-crf", "24", path], check=True)
        made[name] = path
    return a, other, made


@pytest.mark.slow
@pytest.mark.parametrize("name", ["b30", "b24", "letterbox", "mirror", "logo"])
def test_a_trimmed_reencoded_copy_is_found_with_both_times(clips, name):
    a, _other, made = clips
    got = compare(a, made[name])
    assert len(got.matches) == 1, got.matches
    (m,) = got.matches
    assert m.mirrored == (name == "mirror")
    assert (got.crops[1] is not None) == (name == "letterbox")
    lead = LEAD_FRAMES / FPS
    step = 1 / FPS
    # within a frame of the truth at 30 fps; two frames where B was resampled
    tol = (1 if name == "b30" else 2) * step + 1e-6
    assert abs(m.a_start_s - CUT_S) <= tol and abs(m.a_end_s - (CUT_S + LEN_S)) <= tol, m
    assert abs(m.b_start_s - lead) <= tol and abs(m.b_end_s - (lead + LEN_S)) <= tol, m
    (loop,) = got.to_dict()["loops"]
    a_occ, b_occ = loop["occurrences"]
    assert (a_occ["video"], b_occ["video"]) == ("a.mp4", f"{name}.mp4")
    assert (a_occ["start_frame"], b_occ["start_frame"]) == (m.a_start, m.b_start)
    assert b_occ["mirrored"] == (name == "mirror") and not a_occ["mirrored"]
    rows = format_vsc(got).splitlines()
    assert rows[0] == "query_id,ref_id,query_start,query_end,ref_start,ref_end,score"
    q, r, qs, qe, rs, r_end, score = rows[1].split(",")
    assert (q, r) == (name, "a") and 0 < float(score) <= 1
    assert abs(float(qs) - lead) <= tol and abs(float(qe) - (lead + LEN_S)) <= tol
    assert abs(float(rs) - CUT_S) <= tol and abs(float(r_end) - (CUT_S + LEN_S)) <= tol


@pytest.mark.slow
def test_unrelated_clips_share_nothing(clips):
    a, other, _made = clips
    assert compare(a, other).matches == []
    assert compare(other, a).matches == []
