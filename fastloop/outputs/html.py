"""One self-contained HTML page of a scan: verdict, loops, thumbnails, loop map, player.

Everything but the video itself is inside the file (images as base64 data URIs, the
style and the script inline), so the page can be mailed or archived next to the
video. The page's ``<video>`` element points at the video by a path relative to the
page; clicking a row of the loop table (or a thumbnail) jumps the player to that
occurrence. Thumbnails are fetched by seeking (:func:`fastloop.outputs.frames.frame_image`),
a few per loop, so a report of a 24-hour video costs seconds, not a second decode.
"""

from __future__ import annotations

import base64
import html
import io
import os
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..util import atomic_write

#: Thumbnails shown per loop (evenly spaced over its occurrences when it has more).
MAX_THUMBS = 8
#: Loops that get thumbnails (the first ones in the table); the others only rows.
MAX_THUMB_LOOPS = 20
#: Table rows per loop; the JSON output lists every occurrence.
MAX_ROWS = 500
THUMB_WIDTH = 240

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;display:grid;
 grid-template-columns:minmax(0,1fr) minmax(300px,42%);gap:0 24px}
main{padding:16px 0 32px 20px;min-width:0}
aside{position:sticky;top:0;align-self:start;padding:16px 20px 16px 0}
@media (max-width:800px){body{display:block}aside{position:static;padding:0 20px}}
h1{font-size:20px;margin:0 0 6px}h2{font-size:16px;margin:22px 0 8px}
h3{font-size:14px;margin:14px 0 6px}
.verdict{font-size:17px;font-weight:600;padding:8px 12px;border-radius:6px;display:inline-block}
.looped{background:#fde2e1;color:#8a1510}.clean{background:#dcf5e0;color:#13531f}
.meta,.note{color:#666}
video{width:100%;background:#000;border-radius:4px}
#now{font-family:ui-monospace,monospace;color:#444;margin-top:6px;min-height:1.4em}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:3px 10px;text-align:right;border-bottom:1px solid #eee}
th{background:#f4f4f4;position:sticky;top:0}
tr.occ{cursor:pointer}tr.occ:hover{background:#eef4ff}
tr.first td{border-top:2px solid #ccc}
.current{background:#ffe9a8 !important;outline:2px solid #e0a800}
.thumbs{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0;cursor:pointer;border:3px solid transparent;border-radius:4px}
figure img{display:block;max-width:240px;height:auto}
figcaption{font-size:12px;color:#444;text-align:center}
img.map{max-width:100%;height:auto;border:1px solid #eee}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
"""

_SCRIPT = """
(function () {
  var v = document.getElementById('player');
  var now = document.getElementById('now');
  function hms(t) {
    var ms = Math.round(Math.max(0, t) * 1000);
    var h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60;
    var s = Math.floor(ms / 1000) % 60, r = ms % 1000;
    function p(x, n) { return String(x).padStart(n, '0'); }
    return p(h, 2) + ':' + p(m, 2) + ':' + p(s, 2) + '.' + p(r, 3);
  }
  function jump(el) {
    var t = parseFloat(el.dataset.t);
    v.pause();
    v.currentTime = t;
    document.querySelectorAll('.current').forEach(function (e) {
      e.classList.remove('current');
    });
    var key = '[data-loop="' + el.dataset.loop + '"][data-occ="' + el.dataset.occ + '"]';
    document.querySelectorAll(key).forEach(function (e) { e.classList.add('current'); });
    now.textContent = 'loop ' + el.dataset.loop + ', occurrence ' + el.dataset.occ +
      ': ' + hms(t) + ' (frame ' + el.dataset.frame + ')';
  }
  document.querySelectorAll('[data-t]').forEach(function (el) {
    el.addEventListener('click', function () { jump(el); });
    el.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); jump(el); }
    });
  });
  v.addEventListener('seeked', function () { v.dataset.seeked = String(v.currentTime); });
})();
"""


def video_src(video: str | os.PathLike, out_path: str | os.PathLike | None) -> str:
    """The ``src`` of the page's ``<video>``: the video's path relative to the page's
    folder (URL-quoted), or a ``file://`` URL when there is no relative path.

    Examples
    --------
    >>> video_src("/data/up.mp4", "/data/reports/up.html")
    '../up.mp4'
    """
    video = Path(os.path.abspath(os.fspath(video)))
    if out_path is not None:
        folder = os.path.dirname(os.path.abspath(os.fspath(out_path)))
        try:
            rel = os.path.relpath(video, folder)
        except ValueError:  # another drive (Windows)
            rel = None
        if rel is not None:
            return urllib.parse.quote(Path(rel).as_posix())
    return video.as_uri()


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _jpeg(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=82)
    return buf.getvalue()


def _png_of(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def thumb_picks(count: int, cap: int) -> np.ndarray:
    """Indices of the occurrences that get a thumbnail: all, or ``cap`` evenly spaced
    ones from the first to the last.

    Examples
    --------
    >>> thumb_picks(3, 8).tolist(), thumb_picks(100, 4).tolist()
    ([0, 1, 2], [0, 33, 66, 99])
    """
    if count <= cap:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, max(cap, 1)).round().astype(np.int64))


def report_html(
    result,
    video: str | os.PathLike,
    *,
    out_path: str | os.PathLike | None = None,
    max_thumbs: int = MAX_THUMBS,
    max_thumb_loops: int = MAX_THUMB_LOOPS,
    max_rows: int = MAX_ROWS,
    thumb_width: int = THUMB_WIDTH,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """The HTML report of a scan, as one self-contained string.

    (One function, longer than most: it writes the page top to bottom, section
    after section, and every section reads the same few locals; split up, each
    piece would take them all as arguments.)

    Parameters
    ----------
    result : ScanResult
        What :func:`fastloop.scan` returned for ``video``.
    video : str or PathLike
        The video, for thumbnails (fetched by seeking) and the page's player.
    out_path : str or PathLike, optional
        Where the page will be written: the player's ``src`` is relative to it.
    max_thumbs, max_thumb_loops : int
        Thumbnails per loop, and loops with thumbnails; the page says what it left out.
    max_rows : int
        Table rows per loop.
    progress : callable(done, total), optional
        Called after every thumbnail.

    Examples
    --------
    >>> result = fastloop.scan("clip.mp4")  # doctest: +SKIP
    >>> page = report_html(result, "clip.mp4", out_path="clip.html")  # doctest: +SKIP
    >>> "<video" in page  # doctest: +SKIP
    True
    """
    from ..util import hms as _hms
    from .frames import frame_image, require_plot
    from .plots import LOOP_COLOURS, loop_map

    require_plot("the HTML report")
    esc = html.escape
    fp = result.fingerprint
    info = fp.info
    name = os.path.basename(os.fspath(video))
    doc = result.to_dict()
    loops = result.loops
    out: list[str] = []
    w = out.append
    w("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>")
    w("<meta name='viewport' content='width=device-width,initial-scale=1'>")
    w(f"<title>fastloop: {esc(name)}</title><style>{_STYLE}</style></head><body>\n<main>")
    w(f"<h1>{esc(name)}</h1>")
    if loops:
        n = len(loops)
        w(
            f"<p class='verdict looped' id='verdict'>Looped: {n} loop{'s' if n != 1 else ''}, "
            f"{result.repeated_s:.1f} s of repeated footage</p>"
        )
    else:
        w("<p class='verdict clean' id='verdict'>No loops found</p>")
    if getattr(result, "verified", True) is False:
        w("<p class='note'>The loops were not confirmed on the video (it was not found).</p>")
    w(
        f"<p class='meta'>{doc['frames']} frames, {doc['fps']:g} fps, "
        f"{esc(_hms(doc['duration_s']))}, {doc['width']}x{doc['height']}, "
        f"{esc(str(info.get('codec', '')))}; {fp.hash_size}x{fp.hash_size} average hash, "
        f"frames within {result.params.resolved_distance(fp.hash_size)} bits match, "
        f"copies of {result.params.min_length_s:g} s and longer</p>"
    )

    # the table
    if loops:
        w("<h2>Loops</h2><p class='note'>Click a row or a thumbnail: the player jumps there.</p>")
        w(
            "<table id='loops'><thead><tr><th>loop</th><th>length</th><th>frames</th>"
            "<th>dist</th><th>#</th><th>start</th><th>frame</th></tr></thead><tbody>"
        )
        for i, lp in enumerate(loops, 1):
            colour = LOOP_COLOURS[(i - 1) % len(LOOP_COLOURS)]
            for k, occ in enumerate(lp.occurrences[:max_rows], 1):
                if k == 1:
                    head = (
                        f"<td><span class='swatch' style='background:{colour}'></span>{i}</td>"
                        f"<td>{_hms(lp.length_s)}</td><td>{lp.length_frames}</td>"
                        f"<td>{lp.mean_distance:.1f}</td>"
                    )
                else:
                    head = "<td></td><td></td><td></td><td></td>"
                w(
                    f"<tr class='occ{' first' if k == 1 else ''}' tabindex='0' data-loop='{i}' "
                    f"data-occ='{k}' data-t='{occ.start_s!r}' data-frame='{occ.start_frame}'>"
                    f"{head}<td>{k}</td><td>{_hms(occ.start_s)}</td>"
                    f"<td>{occ.start_frame}</td></tr>"
                )
            more = len(lp.occurrences) - max_rows
            if more > 0:
                w(
                    f"<tr class='more'><td colspan='7'>... {more} more occurrences of loop {i} "
                    "(<code>fastloop scan --format json</code> lists all)</td></tr>"
                )
        w("</tbody></table>")

        # thumbnails
        w("<h2>First frames of the occurrences, side by side</h2>")
        shown = loops[:max_thumb_loops]
        picks = [thumb_picks(len(lp.occurrences), max_thumbs) for lp in shown]
        total = sum(len(p) for p in picks)
        done = 0
        for i, (lp, pick) in enumerate(zip(shown, picks, strict=True), 1):
            k = len(lp.occurrences)
            w(
                f"<section class='loop' id='loop-{i}'><h3>Loop {i}: {_hms(lp.length_s)} "
                f"({lp.length_frames} frames), {k} occurrences</h3><div class='thumbs'>"
            )
            for x in pick.tolist():
                occ = lp.occurrences[x]
                img = frame_image(video, fp, occ.start_frame, max_width=thumb_width)
                w(
                    f"<figure tabindex='0' data-loop='{i}' data-occ='{x + 1}' "
                    f"data-t='{occ.start_s!r}' data-frame='{occ.start_frame}'>"
                    f"<img alt='loop {i} occurrence {x + 1}' width='{img.shape[1]}' "
                    f"height='{img.shape[0]}' src='{_data_uri(_jpeg(img), 'image/jpeg')}'>"
                    f"<figcaption>#{x + 1} {_hms(occ.start_s)} (frame {occ.start_frame})"
                    "</figcaption></figure>"
                )
                done += 1
                if progress is not None:
                    progress(done, total)
            w("</div>")
            if len(pick) < k:
                w(
                    f"<p class='note'>Showing {len(pick)} of {k} occurrences, evenly spaced "
                    "from the first to the last.</p>"
                )
            w("</section>")
        if len(loops) > len(shown):
            w(
                f"<p class='note'>Thumbnails for the first {len(shown)} of {len(loops)} "
                "loops only; the table lists them all.</p>"
            )

    # the loop map
    w("<h2>Loop map</h2>")
    w(
        "<p class='note'>Every matched pair of frames: copies are lines parallel to the "
        "diagonal, offset by the time between them.</p>"
    )
    png = _png_of(loop_map(result))
    w(f"<img class='map' id='loopmap' alt='loop map' src='{_data_uri(png, 'image/png')}'>")
    w("</main>\n<aside>")
    src = esc(video_src(video, out_path), quote=True)
    w(f"<video id='player' src='{src}' controls muted preload='auto'></video>")
    w(f"<div id='now'>{esc(name)}</div>")
    w(f"</aside>\n<script>{_SCRIPT}</script>\n</body></html>\n")
    return "\n".join(out)


def write_report(result, video: str | os.PathLike, out_path: str | os.PathLike, **kwargs) -> str:
    """Write :func:`report_html` to ``out_path`` (atomically); returns the path.

    Examples
    --------
    >>> write_report(fastloop.scan("clip.mp4"), "clip.mp4", "clip.html")  # doctest: +SKIP
    'clip.html'
    """
    out_path = os.fspath(out_path)
    page = report_html(result, video, out_path=out_path, **kwargs)
    with atomic_write(out_path, "w") as fh:
        fh.write(page)
    return out_path
