"""Pictures of the evidence: frames by seeking, the pair image, the loop map, the sweep
chart, the HTML report, and the report in a real headless Chromium."""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser

import numpy as np
import pytest
from click.testing import CliRunner

import fastloop
from fastloop.api import ScanResult
from fastloop.cli import main
from fastloop.ffmpeg import find_ffmpeg
from fastloop.fingerprint import Fingerprint
from fastloop.loops import Loop, LoopParams, Occurrence
from fastloop.outputs import frames as pics
from fastloop.outputs import plots

from .conftest import copy_spans

Image = pytest.importorskip("PIL.Image", reason="the plot extra is not installed")
pytest.importorskip("matplotlib", reason="the plot extra is not installed")


class _Main:
    name = "fastloop"

    def main(self, args=None, prog_name=None, **extra):
        main(list(args or []))
        sys.exit(0)


def run(args):
    res = CliRunner().invoke(_Main(), args, catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture(scope="module")
def scanned(looped_clip):
    path, _truth = looped_clip
    return fastloop.scan(path)


def decode_frame(path: str, index: int) -> np.ndarray:
    """Frame ``index`` decoded from the start, no seeking: the reference."""
    out = subprocess.run(
        [find_ffmpeg(), "-v", "error", "-i", path, "-map", "0:v:0", "-vf",
         f"select=eq(n\\,{index})", "-frames:v", "1", "-fps_mode", "passthrough",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(out, np.uint8).reshape(180, 320, 3)


# --- frames by seeking ------------------------------------------------------------


def test_frames_by_seeking_are_the_decoded_frames(looped_clip, scanned):
    path, _ = looped_clip
    fp = scanned.fingerprint
    for index in (0, 137, 400, 401, len(fp) - 1):
        got = pics.frame_image(path, fp, index)
        assert got.shape == (180, 320, 3)
        assert np.array_equal(got, decode_frame(path, index)), index
    thumb = pics.frame_image(path, fp, 400, max_width=160)
    assert thumb.shape == (90, 160, 3)
    with pytest.raises(fastloop.InputError, match="out of range"):
        pics.frame_image(path, fp, len(fp))


def test_seeking_honours_the_start_time(looped_clip, tmp_path):
    """MPEG-TS starts at 1.47 s: pts + start_s is the timestamp, -ss counts from start."""
    ts = str(tmp_path / "looped.ts")
    subprocess.run(
        [find_ffmpeg(), "-v", "error", "-i", looped_clip[0], "-c", "copy", ts], check=True
    )
    fp = fastloop.fingerprint(ts)
    assert fp.info["start_s"] > 1.0
    for index in (10, 400, 700):
        assert np.array_equal(pics.frame_image(ts, fp, index), decode_frame(looped_clip[0], index))


# --- the pair image ---------------------------------------------------------------


def test_unpack_hash_is_the_average_hash_bit_by_bit():
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (5, 12, 12), dtype=np.uint8)
    words = fastloop.ahash(frames)
    for f, w in zip(frames, words, strict=True):
        want = 144 * f.astype(np.int64) > f.astype(np.int64).sum()
        assert np.array_equal(pics.unpack_hash(w, 12), want)


def test_difference_is_dark_for_a_copy_and_bright_for_unrelated_frames(looped_clip, scanned):
    path, truth = looped_clip
    ((src, dst, _),) = copy_spans(truth)
    copy = pics.loop_pair(path, scanned, 1, (1, 2))
    assert copy.frames == (src, dst)
    d = copy.difference()
    assert d.shape == (180, 320)
    assert d.mean() < 12 and np.percentile(d, 99) < 60, (d.mean(), np.percentile(d, 99))
    other = pics.frame_pair(path, scanned.fingerprint, 50, 700)
    assert other.difference().mean() > 50
    assert copy.distance <= 20 < 150 < other.distance
    assert copy.distance == int(fastloop.hamming(*copy.hashes))


def test_pair_image_shows_frames_at_full_size_and_marks_the_bits(looped_clip, scanned, tmp_path):
    path, truth = looped_clip
    ((src, dst, _),) = copy_spans(truth)
    pair = pics.loop_pair(path, scanned, 1, (1, 2), offset=30)
    assert pair.frames == (src + 30, dst + 30)
    out = pair.save(tmp_path / "pair.png")
    img = np.asarray(Image.open(out).convert("RGB"))
    box = pics.pair_layout(320, 180, 24)
    assert img.shape == (box["canvas"][3], box["canvas"][2], 3)
    assert os.path.getsize(out) < 300_000

    def crop(key):
        x0, y0, x1, y1 = box[key]
        return img[y0:y1, x0:x1]

    assert np.array_equal(crop("frame_a"), pair.images[0])  # full resolution, untouched
    assert np.array_equal(crop("frame_b"), pair.images[1])
    assert np.array_equal(crop("diff")[..., 0], pair.difference())
    # one red cell per differing bit, in both hash pictures
    cell = (box["hash_a"][2] - box["hash_a"][0]) // 24
    for key in ("hash_a", "hash_b"):
        centres = crop(key)[cell // 2 :: cell, cell // 2 :: cell].astype(int)
        red = (centres[..., 0] > 150) & (centres[..., 1] < 150)
        assert red.sum() == pair.distance > 0
        assert np.array_equal(red, pair.bits[0] != pair.bits[1])
    # captions are drawn (dark text on the white band above each frame)
    for key in ("title", "caption_a", "caption_b", "distance"):
        assert (crop(key) < 100).any(), key


# --- the loop map -----------------------------------------------------------------


def test_match_histogram_is_the_copy_diagonal(looped_clip, scanned):
    ((src, dst, length),) = copy_spans(looped_clip[1])
    fp = scanned.fingerprint
    (lp,) = scanned.loops
    assert [o.start_frame for o in lp.occurrences] == [src, dst]
    assert abs(lp.length_frames - length) <= 2
    bins = 413  # two frames a cell
    counts, owner = plots.match_histogram(scanned, bins)
    pix = plots._frame_pixels(fp.pts, plots._duration(fp), bins)
    k = np.arange(lp.length_frames)
    a, b = pix[src + k], pix[dst + k]
    assert (counts[a, b] > 0).all() and (counts[b, a] > 0).all()
    assert counts.sum() == 2 * lp.length_frames  # each frame pair once, both ways
    assert (owner[a, b] == 0).all()
    lit = np.argwhere(counts > 0)
    offset_px = lit[:, 1] - lit[:, 0]
    assert set(np.abs(offset_px).tolist()) <= {130, 131, 132, 133}  # 263 frames / 2
    assert ((owner >= 0) == (counts > 0)).all()


def test_loop_map_png_draws_the_copy(scanned, tmp_path):
    fig = plots.loop_map(scanned)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    img = np.asarray(Image.open(buf).convert("RGB")).astype(int)
    height = img.shape[0]
    assert img.shape[1] == 80 + 720 + 30
    ax = fig.axes[0]
    fp = scanned.fingerprint
    colour = plots._rgb(plots.LOOP_COLOURS[0]) * 255

    def patch(tx, ty, axes=ax):  # 3x3 pixels around a point given in data coordinates
        x, y = axes.transData.transform((tx, ty))
        r, c = int(height - y), int(x)
        return img[r - 1 : r + 2, c - 1 : c + 2].reshape(-1, 3)

    def has(pixels, rgb, tol):
        return bool((np.abs(pixels - rgb).max(axis=1) < tol).any())

    lp = scanned.loops[0]
    s0, s1 = (o.start_frame for o in lp.occurrences)
    for k in (10, lp.length_frames // 2, lp.length_frames - 10):
        t1, t2 = fp.pts[s0 + k], fp.pts[s1 + k]
        for tx, ty in ((t1, t2), (t2, t1)):
            assert has(patch(tx, ty), colour, 60), (k, patch(tx, ty))
    assert (patch(20.0, 5.0) == 255).all()  # nothing matches there
    assert has(patch(fp.pts[700], fp.pts[700]), np.full(3, 166), 20)  # the grey diagonal
    # the timeline strip: loop 1's colour under both occurrences, white elsewhere
    sx = fig.axes[1]
    for t, want in ((fp.pts[s0 + 60], True), (fp.pts[s1 + 60], True), (22.0, False)):
        got = patch(t, 0.5, sx)
        assert (np.abs(got - colour).max() < 40) == want, (t, got)


def test_loop_map_of_a_day_with_thousands_of_occurrences(tmp_path):
    """24 h at 30 fps, a 10 s clip looped 7,900 times: binned, not drawn pair by pair."""
    n = 24 * 3600 * 30
    fp = Fingerprint(
        hashes=np.zeros((n, 1), np.uint64),
        pts=np.arange(n) / 30.0,
        contrast=np.full(n, 50, np.uint8),
        hash_size=8,
        info={"path": "day.mp4", "fps": 30.0, "duration_s": n / 30},
    )
    starts = 7200 * 30 + np.arange(7900) * 300
    big = Loop(300, 10.0, 3.0, tuple(Occurrence(int(s), s / 30, 300) for s in starts))
    hour = Loop(
        108000, 3600.0, 3.0, (Occurrence(0, 0.0, 108000), Occurrence(113000, 113000 / 30, 108000))
    )
    result = ScanResult(fp, [big, hour], LoopParams())
    counts, owner = plots.match_histogram(result, 720)
    px = lambda t: int(t / 86400 * 720)  # noqa: E731
    assert counts[px(3 * 3600), px(20 * 3600)] > 0  # copies of the short clip, far apart
    assert owner[px(1800), px(1800 + 113000 / 30)] == 1  # the hour, 62.8 min later
    assert counts[px(1800), px(12 * 3600)] == 0
    out = plots.save_loop_map(result, tmp_path / "day.png")
    assert Image.open(out).size == (830, 40 + 720 + 70 + 18 * 2 + 10 + 50)


# --- the sweep chart --------------------------------------------------------------


def test_sweep_plot_from_rows(tmp_path):
    rows = [
        {"hash_size": s, "buckets": b, "mean_size": m, "largest": g, "loops": lo,
         "recall": r, "precision": p}
        for s, b, m, g, lo, r, p in [
            (8, 40, 20.5, 300, 0, 0.0, 1.0), (16, 120, 3.1, 40, 1, 0.9, 0.8),
            (24, 30, 2.0, 3, 1, 1.0, 1.0), (32, 2, 2.0, 2, 1, 1.0, 1.0),
        ]
    ]  # fmt: skip
    fig = plots.sweep_plot(rows, title="t")
    assert len(fig.axes) == 4  # buckets, sizes, loops + recall/precision twin
    out = plots.save_sweep_plot(rows, tmp_path / "sweep.png")
    assert Image.open(out).size == (720, 800)
    with pytest.raises(fastloop.InputError):
        plots.sweep_plot([])


def test_cli_sweep_plot(looped_clip, tmp_path):
    path, truth = looped_clip
    np.save(tmp_path / "truth.npy", truth)
    png = tmp_path / "sweep.png"
    code, out, err = run(
        ["sweep", path, "--sizes", "8,24", "--truth", str(tmp_path / "truth.npy"),
         "--format", "json", "--plot", str(png)]
    )  # fmt: skip
    assert code == 0, err
    rows = json.loads(out)
    assert [r["hash_size"] for r in rows] == [8, 24]
    assert {"buckets", "mean_size", "largest", "loops", "recall", "precision"} <= set(rows[0])
    assert Image.open(png).size == (720, 800)


# --- the command line ---------------------------------------------------------------


def test_cli_show(looped_clip, tmp_path):
    path, _ = looped_clip
    out_png = tmp_path / "loop.png"
    code, out, err = run(["show", path, "--loop", "1", "-o", str(out_png)])
    assert code == 0, err
    assert "frames 137 (00:00:04.567) and 400 (00:00:13.333)" in out
    box = pics.pair_layout(320, 180, 24)
    assert Image.open(out_png).size == box["canvas"][2:]
    fp_file = tmp_path / "clip.npz"
    fastloop.fingerprint(path).save(fp_file)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:  # default name, in the current folder
        code, out, err = run(["show", path, "--frames", "3", "700", "--from-fingerprint", fp_file])
    finally:
        os.chdir(cwd)
    assert code == 0, err
    assert (tmp_path / "looped-frames-3-700.png").exists()
    assert "frames 3 (00:00:00.100) and 700 (00:00:23.333)" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--loop", "2"], "loop 2 does not exist: 1 loop found"),
        (["--loop", "1", "--occurrence", "1", "3"], "has 2 occurrences"),
        (["--frames", "0", "826"], "frame 826 is out of range"),
        ([], "give either --loop K or --frames I J"),
        (["--loop", "1", "--frames", "1", "2"], "give either"),
        (["--frames", "1", "2", "--occurrence", "1", "2"], "go with --loop"),
    ],
)
def test_cli_show_errors(looped_clip, tmp_path, args, message):
    code, _, err = run(["show", looped_clip[0], *args, "-o", str(tmp_path / "x.png")])
    assert code == 2
    assert message in err
    if err.startswith("fastloop: error:"):
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_cli_scan_plot(looped_clip, tmp_path):
    png = tmp_path / "map.png"
    code, out, err = run(["scan", looped_clip[0], "--plot", str(png)])
    assert code == 0, err
    assert "looped: 1 loop" in out
    assert Image.open(png).size == (830, 40 + 720 + 70 + 28 + 50)
    code, _, err = run(["scan", looped_clip[0], looped_clip[0], "--plot", str(png)])
    assert code == 2 and "--plot draws one video" in err


@pytest.mark.parametrize(
    "args",
    [
        ["show", "{v}", "--frames", "1", "2"],
        ["report", "{v}"],
        ["scan", "{v}", "--plot", "x.png"],
        ["sweep", "{v}", "--plot", "x.png"],
    ],
)
def test_without_the_plot_extra_one_clear_line(looped_clip, monkeypatch, tmp_path, args):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    monkeypatch.chdir(tmp_path)
    spawned = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: spawned.append(a) or 1 / 0)
    code, _out, err = run([a.replace("{v}", looped_clip[0]) for a in args])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastloop: error:")
    assert "pip install 'fastloop[plot]'" in lines[0]
    assert not spawned  # refused before any decoding
    assert not list(tmp_path.iterdir())


def test_core_imports_stay_lean():
    code = (
        "import sys, fastloop, fastloop.cli, fastloop.outputs.frames, fastloop.outputs.plots, "
        "fastloop.outputs.html; "
        "bad = [m for m in ('matplotlib', 'PIL') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the HTML report ----------------------------------------------------------------


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.imgs, self.videos, self.refs, self.text = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-t" in a:
            self.rows.append(a)
        if tag == "img":
            self.imgs.append(a)
        if tag == "video":
            self.videos.append(a)
        for key in ("src", "href"):
            if key in a and tag != "video":
                self.refs.append(a[key])

    def handle_data(self, data):
        self.text.append(data)


def test_report_html(looped_clip, scanned, tmp_path):
    from fastloop.outputs.html import write_report

    path, _ = looped_clip
    out = write_report(scanned, path, tmp_path / "r.html")
    page = _Page()
    page.feed(open(out, encoding="utf-8").read())
    text = " ".join(page.text)
    assert "Looped: 1 loop, 4.2 s of repeated footage" in text
    assert [(r["data-loop"], r["data-occ"], r["data-frame"]) for r in page.rows] == [
        ("1", "1", "137"),
        ("1", "2", "400"),
    ]
    assert [float(r["data-t"]) for r in page.rows] == [
        o.start_s for o in scanned.loops[0].occurrences
    ]
    assert "00:00:04.567" in text and "00:00:13.333" in text
    # everything but the video is inside the page
    assert all(ref.startswith("data:image/") for ref in page.refs), page.refs
    thumbs = [i for i in page.imgs if i["src"].startswith("data:image/jpeg")]
    assert len(thumbs) == 2
    pics = [Image.open(io.BytesIO(base64.b64decode(i["src"].split(",", 1)[1]))) for i in thumbs]
    assert [p.size for p in pics] == [(240, 136)] * 2  # even height: yuv420p
    a, b = (np.asarray(p.convert("L")).astype(int) for p in pics)
    assert np.abs(a - b).mean() < 8  # the two first frames are the same picture
    (loopmap,) = [i for i in page.imgs if i.get("id") == "loopmap"]
    assert Image.open(io.BytesIO(base64.b64decode(loopmap["src"].split(",", 1)[1]))).width == 830
    (video,) = page.videos
    assert os.path.samefile(os.path.join(tmp_path, video["src"]), path)


def test_report_caps_thumbnails_and_says_so(looped_clip, scanned, tmp_path):
    from fastloop.outputs.html import report_html, thumb_picks, video_src

    page = report_html(scanned, looped_clip[0], out_path=tmp_path / "r.html", max_thumbs=1)
    assert page.count("data:image/jpeg") == 1
    assert "Showing 1 of 2 occurrences" in page
    assert thumb_picks(5000, 8).tolist() == [0, 714, 1428, 2142, 2857, 3571, 4285, 4999]
    assert video_src("/a/b c.mp4", "/a/reports/r.html") == "../b%20c.mp4"
    assert video_src("/a/b.mp4", None) == "file:///a/b.mp4"


def test_report_without_loops(scanned, tmp_path):
    from fastloop.outputs.html import report_html

    clean = ScanResult(scanned.fingerprint, [], scanned.params)
    page = _Page()
    page.feed(report_html(clean, "looped.mp4", out_path=tmp_path / "r.html"))
    assert "No loops found" in " ".join(page.text)
    assert page.rows == [] and [i.get("id") for i in page.imgs] == ["loopmap"]


def test_cli_report_and_show_need_the_video(looped_clip, scanned, tmp_path):
    fp_file = tmp_path / "clip.npz"
    scanned.fingerprint.save(fp_file)
    gone = str(tmp_path / "gone.mp4")
    for cmd in (["report", gone], ["show", gone, "--frames", "1", "2"]):
        code, _, err = run([*cmd, "--from-fingerprint", str(fp_file), "-o", str(tmp_path / "x")])
        assert code == 2 and err.startswith("fastloop: error:") and "no such file" in err
    code, out, err = run(["report", looped_clip[0], "-o", str(tmp_path / "r.html")])
    assert code == 0, err
    assert out.strip() == f"{tmp_path / 'r.html'}: looped, 1 loop"


# --- the report in a real browser ---------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    """Debian's chromium (``.ci/run`` installs it; locally: ``apt-get install chromium``)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("no chromium on PATH: apt-get install chromium to run the browser test")
    return exe


class Chromium:
    """Headless Chromium driven over ``--remote-debugging-pipe``: the DevTools protocol
    as NUL-separated JSON on file descriptors 3 and 4, no port, no extra package."""

    def __init__(self, exe: str, profile: str, size=(1280, 900)):
        to_r, self._w = os.pipe()
        self._r, from_w = os.pipe()

        def fds():  # runs in the child before exec: chromium reads fd 3, writes fd 4
            a, b = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_r, from_w))
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.log = open(os.path.join(profile, "chromium.log"), "wb")
        self.proc = subprocess.Popen(
            [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
             f"--window-size={size[0]},{size[1]}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            pass_fds=(3, 4), preexec_fn=fds,
        )  # fmt: skip
        os.close(to_r)
        os.close(from_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []
        self.session = None

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer")
            if select.select([self._r], [], [], left)[0]:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    self.log.flush()
                    with open(self.log.name, "rb") as fh:
                        tail = fh.read()[-2000:].decode("utf-8", "replace")
                    raise RuntimeError(f"chromium closed the pipe; its log ends:\n{tail}")
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params=None, timeout: float = 30, browser: bool = False):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if self.session and not browser:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._message(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.events):
                if m.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._message(deadline))

    def open(self, url: str, size=(1280, 900)) -> None:
        targets = self.send("Target.getTargets", browser=True)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send(
            "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}, browser=True
        )["sessionId"]
        self.send("Page.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False},
        )
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def js(self, expr: str):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_js(self, expr: str, timeout: float = 20):
        deadline = time.monotonic() + timeout
        while True:
            value = self.js(expr)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.05)

    def click(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )

    def screenshot(self) -> np.ndarray:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))

    def close(self) -> None:
        try:
            self.send("Browser.close", browser=True, timeout=5)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)
        self.log.close()


def _playable_copy(browser: Chromium, video: str, folder) -> str:
    """The video itself if this chromium plays H.264, else a VP9/WebM re-encode."""
    if browser.js(
        "document.createElement('video').canPlayType('video/mp4; codecs=\"avc1.64001e\"')"
    ):
        return video
    webm = str(folder / "looped.webm")
    subprocess.run(
        [find_ffmpeg(), "-v", "error", "-i", video, "-c:v", "libvpx-vp9", "-b:v", "0",
         "-crf", "30", "-deadline", "realtime", "-cpu-used", "8", "-g", "250", webm],
        check=True,
    )  # fmt: skip
    return webm


def test_report_in_headless_chromium(looped_clip, scanned, tmp_path):
    exe = _chromium()
    profile = tmp_path / "profile"
    profile.mkdir()
    site = tmp_path / "site"
    site.mkdir()
    browser = Chromium(exe, str(profile))
    try:
        browser.open("about:blank")
        video = _playable_copy(browser, looped_clip[0], site)
        shutil.copy(video, site / os.path.basename(video))
        fp_file = tmp_path / "clip.npz"
        scanned.fingerprint.save(fp_file)
        page = site / "report.html"
        code, _out, err = run(
            ["report", str(site / os.path.basename(video)), "-o", str(page),
             "--from-fingerprint", str(fp_file)]
        )  # fmt: skip
        assert code == 0, err
        browser.send("Page.navigate", {"url": page.as_uri()})
        browser.wait_event("Page.loadEventFired")
        state = browser.wait_js(
            "(() => { const v = document.getElementById('player');"
            " return (v.readyState >= 2 || v.error) && [v.readyState, v.error && v.error.code,"
            " v.duration]; })()"
        )
        assert state and state[1] is None and state[0] >= 2, f"video not loaded: {state}"
        assert abs(state[2] - 826 / 30) < 0.1
        for row, occ in enumerate(scanned.loops[0].occurrences):
            x, y = browser.js(
                f"(() => {{ const r = document.querySelectorAll('tr.occ')[{row}];"
                " r.scrollIntoView({block: 'center'}); const b = r.getBoundingClientRect();"
                " return [b.x + b.width / 2, b.y + b.height / 2]; })()"
            )
            browser.js("delete document.getElementById('player').dataset.seeked")
            browser.click(x, y)
            seeked = browser.wait_js(
                "(() => { const v = document.getElementById('player');"
                " return v.dataset.seeked !== undefined && !v.seeking && v.readyState >= 2"
                " && v.currentTime; })()"
            )
            assert seeked == pytest.approx(occ.start_s, abs=2e-6), (row, seeked)
            assert browser.js("document.querySelector('tr.current').dataset.occ") == str(row + 1)
            now = browser.js("document.getElementById('now').textContent")
            assert f"occurrence {row + 1}" in now and str(occ.start_frame) in now
        time.sleep(1.5)  # the frame is composited at once, the loading spinner fades later
        shot = browser.screenshot()
        Image.fromarray(shot).save(tmp_path / "report-screenshot.png")
        if os.environ.get("FASTLOOP_SCREENSHOT"):
            Image.fromarray(shot).save(os.environ["FASTLOOP_SCREENSHOT"])
        assert shot.shape[:2] == (900, 1280)
        # the player shows the frame it jumped to (the last occurrence's first frame):
        # compare its top half, above the controls, with that frame and an unrelated one
        box = browser.js(
            "(() => { const v = document.getElementById('player');"
            " const b = v.getBoundingClientRect(); return [b.x, b.y, b.width, b.height]; })()"
        )
        x0, y0, w, h = (round(v) for v in box)
        h = min(h, round(w * 9 / 16))
        shown = shot[y0 : y0 + h // 2, x0 : x0 + w].astype(float).mean(axis=2)
        fp = scanned.fingerprint

        def half(index):
            rgb = pics.frame_image(video, fp, index)
            gray = Image.fromarray(rgb).convert("L").resize((w, h), Image.BILINEAR)
            return np.asarray(gray, float)[: h // 2]

        last = scanned.loops[0].occurrences[-1].start_frame
        same, other = np.abs(shown - half(last)).mean(), np.abs(shown - half(700)).mean()
        assert shown.std() > 5, "the player is blank"
        assert same < 8 and other > 3 * same, (same, other)
    finally:
        browser.close()
