"""The fingerprint store: content-keyed entries, a capped word index, lookups verified."""

import subprocess

import numpy as np
import pytest

import fastloop
from fastloop import store as store_mod
from fastloop.ffmpeg import find_ffmpeg
from fastloop.fingerprint import Fingerprint
from fastloop.store import Store
from fastloop.synth import Play, make_video

pytestmark = pytest.mark.slow


def _decoy(rng, n: int, common: int) -> Fingerprint:
    """Random frames (matching nothing), the first ``common`` of them sharing one
    hash word, as black frames or a channel logo every video has would."""
    hashes = rng.integers(0, 2**63, (n, 9), dtype=np.uint64)
    hashes[:common, 0] = 12345
    return Fingerprint(
        hashes=hashes,
        pts=np.arange(n) / 30.0,
        contrast=np.full(n, 60, np.uint8),
        desc=rng.integers(0, 256, (n, 144), dtype=np.uint8),
        hash_size=24,
        info={"path": "decoy.mp4", "fps": 30.0},
    )


def test_a_planted_source_among_50_decoys(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    source = str(tmp_path / "source.mp4")
    make_video(source, [Play(0, 600)], seed=3)
    query = str(tmp_path / "query.mp4")  # 8 s of the source from 5 s, re-encoded
    args = ["-ss", "5", "-t", "8", "-i", source, "-c:v", "libx264", "-crf", "26", query]
    subprocess.run([find_ffmpeg(), "-v", "error", "-y", *args], check=True)
    st = Store(tmp_path / "store", create=True)
    for i in range(50):
        fake = tmp_path / f"decoy{i}.mp4"
        fake.write_bytes(rng.bytes(64))
        st.add(fake, _decoy(rng, 900, common=60))
    entry, added = st.add(source)
    assert added and st.add(source) == (entry, False)  # the same content: one entry
    copy = tmp_path / "elsewhere.mp4"
    copy.write_bytes(open(source, "rb").read())
    assert st.add(copy)[1] is False  # another path, same content
    st.reindex()
    monkeypatch.setattr(store_mod, "BUCKET_CAP", 2000)
    # the word all decoys share (3000 frames) exceeds the cap: it proposes nothing
    fp = fastloop.fingerprint(query)
    cands = st.candidates(fp)
    assert [k for k, _ in cands] == [entry.key]
    ((found, matches),) = Store(tmp_path / "store").lookup(fp)
    assert found.key == entry.key and len(matches) == 1
    (m,) = matches
    assert abs(m.a_start_s - 5.0) <= 1 / 30 + 1e-6 and abs(m.b_start_s) <= 1 / 30 + 1e-6
    assert abs((m.a_end_s - m.a_start_s) - 8.0) <= 2 / 30
    # a video with nothing in common with the store finds nothing
    other = str(tmp_path / "other.mp4")
    make_video(other, [Play(0, 300)], seed=9, source="testsrc2=s={w}x{h}:r={fps}")
    assert Store(tmp_path / "store").lookup(fastloop.fingerprint(other)) == []
    # removed, it is found no more
    assert [e.key for e in st.remove("source.mp4")] == [entry.key]
    assert Store(tmp_path / "store").lookup(fp) == []


def test_index_commands_and_scan_against(tmp_path, looped_clip):
    import json

    from click.testing import CliRunner

    from fastloop.cli import cli

    path, truth = looped_clip
    twin = tmp_path / "twin.mp4"
    twin.write_bytes(open(path, "rb").read())
    store = str(tmp_path / "store")
    run = CliRunner().invoke(cli, ["--no-progress", "index", "add", store, path, str(twin)])
    assert run.exit_code == 0, run.output
    assert "added" in run.stdout and "already there" in run.stdout
    run = CliRunner().invoke(cli, ["index", "ls", store])
    assert run.stdout.strip().endswith("1 videos")
    run = CliRunner().invoke(cli, ["--no-progress", "scan", str(twin), "--against", store,
                                   "--format", "json"])  # fmt: skip
    doc = json.loads(run.stdout)
    ((shared,),) = [doc["shared_with"]]
    assert shared["video"] == "looped.mp4"
    whole = [m for m in shared["matches"] if m["a_start_frame"] == m["b_start_frame"] == 0]
    assert whole and whole[0]["length_frames"] >= len(truth) - 2
    run = CliRunner().invoke(cli, ["index", "rm", store, "looped.mp4"])
    assert "removed" in run.stdout
    assert CliRunner().invoke(cli, ["index", "ls", store]).stdout.strip().endswith("0 videos")
