"""Two frames side by side: see a loop with your own eyes (``fastloop show``).

Both frames at full resolution with frame number and time, their difference
amplified (black where they agree), and their hashes bit by bit with the differing
bits in red. Frames are fetched by *seeking*: ffmpeg jumps to the keyframe before
the wanted time, decodes a few frames, and the frame is picked by its exact
timestamp, so showing a frame of a 24-hour video costs a fraction of a second.
Drawing needs the optional ``plot`` extra (Pillow), imported only inside the
functions that draw; without it they raise :class:`~fastloop.errors.InputError`
saying ``pip install 'fastloop[plot]'``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..util import hms

PLOT_HINT = "pip install 'fastloop[plot]'"
#: The difference image is ``|A - B|`` in gray levels times this.
DIFF_GAIN = 4


def require_plot(what: str = "drawing") -> None:
    """Raise :class:`InputError` with the install hint unless the ``plot`` extra is there.

    Examples
    --------
    >>> require_plot("fastloop show")  # doctest: +SKIP
    """
    try:
        import matplotlib  # noqa: F401
        import PIL  # noqa: F401
    except ImportError as exc:
        raise InputError(
            f"{what} needs the plot extra ({exc.name} is missing): {PLOT_HINT}"
        ) from None


# --- frames by seeking ------------------------------------------------------------


def frame_image(path: str | os.PathLike, fp, index: int, max_width: int | None = None):
    """Frame ``index`` (0-based, as in the fingerprint) of ``path``, fetched by seeking.

    Examples
    --------
    >>> frame_image("clip.mp4", fastloop.fingerprint("clip.mp4"), 400).shape  # doctest: +SKIP
    (180, 320, 3)
    """
    n = len(fp)
    if not 0 <= index < n:
        raise InputError(f"frame {index} is out of range: the video has {n} frames (0..{n - 1})")
    from ..ffmpeg.banner import is_seekable
    from ..video import read_frame

    return read_frame(
        path,
        float(fp.pts[index]),
        start_s=float(fp.info.get("start_s") or 0.0),
        fps=fp.fps,
        indexed=is_seekable(str(fp.info.get("container", ""))),
        max_width=max_width,
    )


# --- two frames side by side ------------------------------------------------------


def unpack_hash(words: np.ndarray, hash_size: int) -> np.ndarray:
    """Packed hash words (most significant bit first) -> bool[hash_size, hash_size].

    Examples
    --------
    >>> unpack_hash(np.array([0xFFFFFFFF00000000], np.uint64), 8)[:, 0].tolist()
    [True, True, True, True, False, False, False, False]
    """
    w = np.ascontiguousarray(np.asarray(words, np.uint64)).astype(">u8")
    bits = np.unpackbits(w.view(np.uint8))[: hash_size * hash_size]
    return bits.reshape(hash_size, hash_size).astype(bool)


def difference(a: np.ndarray, b: np.ndarray, gain: float = DIFF_GAIN) -> np.ndarray:
    """``|gray(a) - gray(b)| * gain`` as uint8[h, w]: black where two frames agree.

    Frames of different sizes are compared on their common top-left part.

    Examples
    --------
    >>> a = np.zeros((2, 2, 3), np.uint8); b = a.copy(); b[0, 0] = 10
    >>> difference(a, b).tolist()
    [[40, 0], [0, 0]]
    """
    h = min(a.shape[0], b.shape[0])
    w = min(a.shape[1], b.shape[1])
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    ga = a[:h, :w].astype(np.float32) @ weights
    gb = b[:h, :w].astype(np.float32) @ weights
    return np.clip(np.abs(ga - gb) * gain, 0, 255).round().astype(np.uint8)


def pair_layout(width: int, height: int, hash_size: int) -> dict[str, tuple[int, int, int, int]]:
    """Boxes ``(left, top, right, bottom)`` of every part of the pair image.

    Top row: frame A and frame B at full resolution, each under its caption. Bottom
    row: their amplified difference, and the two hashes as N x N bit images side by
    side with the Hamming distance under them. ``"canvas"`` is the whole image.
    """
    fs = font_size(width)
    line = fs + fs // 2 + 4
    pad = max(8, fs // 2)
    x0, x1 = pad, 2 * pad + width
    y = pad
    boxes = {"title": (x0, y, x1 + width, y + line)}
    y += line
    boxes["caption_a"] = (x0, y, x0 + width, y + line)
    boxes["caption_b"] = (x1, y, x1 + width, y + line)
    y += line
    boxes["frame_a"] = (x0, y, x0 + width, y + height)
    boxes["frame_b"] = (x1, y, x1 + width, y + height)
    y += height + pad
    boxes["caption_diff"] = (x0, y, x0 + width, y + line)
    boxes["caption_hash"] = (x1, y, x1 + width, y + line)
    y += line
    boxes["diff"] = (x0, y, x0 + width, y + height)
    cell = max(1, min((width - pad) // 2, height - line) // hash_size)
    side = cell * hash_size
    gx = x1 + (width - 2 * side - pad) // 2
    boxes["hash_a"] = (gx, y, gx + side, y + side)
    boxes["hash_b"] = (gx + side + pad, y, gx + 2 * side + pad, y + side)
    boxes["distance"] = (x1, y + side + 2, x1 + width, y + side + 2 + line)
    bottom = max(y + height, y + side + 2 + line) + pad
    boxes["canvas"] = (0, 0, x1 + width + pad, bottom)
    return boxes


def font_size(width: int) -> int:
    """Caption size in pixels for frames ``width`` pixels wide."""
    return int(np.clip(width // 26, 12, 40))


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow < 10.1 has only the bitmap font
        return ImageFont.load_default()


def hash_grid(bits: np.ndarray, other: np.ndarray, cell: int) -> np.ndarray:
    """RGB picture of a hash: 1 white, 0 black; bits that differ from ``other`` red
    (light red for a 1, dark red for a 0), one ``cell`` x ``cell`` square per bit."""
    rgb = np.where(bits[..., None], np.uint8(235), np.uint8(25)).repeat(3, axis=2)
    diff = bits != other
    rgb[diff & bits] = (255, 130, 130)
    rgb[diff & ~bits] = (190, 0, 0)
    img = rgb.repeat(cell, axis=0).repeat(cell, axis=1)
    if cell >= 5:  # thin grid lines between cells
        img[::cell, :] = img[::cell, :] // 2 + 60
        img[:, ::cell] = img[:, ::cell] // 2 + 60
    return img


@dataclass
class FramePair:
    """Two frames of one video, their timestamps and their hashes: the evidence that a
    loop claims, ready to be drawn with :meth:`render`.

    Attributes
    ----------
    video : str
        The video the frames come from.
    frames : (int, int)
        0-based frame numbers.
    pts : (float, float)
        Their presentation times in seconds from the start of the video.
    images : (ndarray, ndarray)
        The frames at full resolution, RGB uint8[h, w, 3].
    hashes : (ndarray, ndarray)
        Their packed average hashes (uint64 words) from the fingerprint.
    hash_size : int
        N of the N x N hash.
    title : str
        First line of the picture.
    """

    video: str
    frames: tuple[int, int]
    pts: tuple[float, float]
    images: tuple[np.ndarray, np.ndarray]
    hashes: tuple[np.ndarray, np.ndarray]
    hash_size: int
    title: str = ""

    @property
    def bits(self) -> tuple[np.ndarray, np.ndarray]:
        """The two hashes as bool[N, N]."""
        return (
            unpack_hash(self.hashes[0], self.hash_size),
            unpack_hash(self.hashes[1], self.hash_size),
        )

    @property
    def distance(self) -> int:
        """Hamming distance of the two hashes (bits that differ)."""
        a, b = self.bits
        return int((a != b).sum())

    def difference(self, gain: float = DIFF_GAIN) -> np.ndarray:
        """The amplified absolute difference of the two frames, uint8[h, w]."""
        return difference(self.images[0], self.images[1], gain)

    def render(self):
        """The pair as one PIL image; see :func:`pair_layout` for where things are.

        Examples
        --------
        >>> loop_pair("clip.mp4", fastloop.scan("clip.mp4")).render().size  # doctest: +SKIP
        (664, 450)
        """
        require_plot("drawing frames")
        from PIL import Image, ImageDraw

        a, b = self.images
        h = max(a.shape[0], b.shape[0])
        w = max(a.shape[1], b.shape[1])
        n = self.hash_size
        box = pair_layout(w, h, n)
        canvas = Image.new("RGB", box["canvas"][2:], (255, 255, 255))
        canvas.paste(Image.fromarray(a), box["frame_a"][:2])
        canvas.paste(Image.fromarray(b), box["frame_b"][:2])
        canvas.paste(Image.fromarray(self.difference()), box["diff"][:2])
        bits_a, bits_b = self.bits
        cell = (box["hash_a"][2] - box["hash_a"][0]) // n
        canvas.paste(Image.fromarray(hash_grid(bits_a, bits_b, cell)), box["hash_a"][:2])
        canvas.paste(Image.fromarray(hash_grid(bits_b, bits_a, cell)), box["hash_b"][:2])
        draw = ImageDraw.Draw(canvas)
        font = _font(font_size(w))
        ink, grey = (0, 0, 0), (90, 90, 90)
        title = self.title or (
            f"{os.path.basename(self.video)}: frames {self.frames[0]} and {self.frames[1]}"
        )
        draw.text(box["title"][:2], title, fill=ink, font=font)
        for key, label, i in (("caption_a", "A", 0), ("caption_b", "B", 1)):
            text = f"{label}: frame {self.frames[i]}  {hms(self.pts[i])}"
            draw.text(box[key][:2], text, fill=ink, font=font)
        draw.text(box["caption_diff"][:2], f"|A - B| x{DIFF_GAIN} (black = same)", grey, font)
        draw.text(box["caption_hash"][:2], f"{n}x{n} average hashes, A | B", grey, font)
        d = self.distance
        draw.text(
            box["distance"][:2],
            f"Hamming distance {d} of {n * n} bits (red)",
            fill=(190, 0, 0) if d else ink,
            font=font,
        )
        return canvas

    def save(self, path: str | os.PathLike) -> str:
        """Render and write a PNG; returns the path."""
        img = self.render()
        path = os.fspath(path)
        img.save(path, format="PNG", optimize=True)
        return path


def frame_pair(path: str | os.PathLike, fp, i: int, j: int, title: str = "") -> FramePair:
    """Frames ``i`` and ``j`` (0-based) of ``path`` with their hashes from ``fp``.

    Examples
    --------
    >>> fp = fastloop.fingerprint("clip.mp4")  # doctest: +SKIP
    >>> frame_pair("clip.mp4", fp, 137, 400).save("pair.png")  # doctest: +SKIP
    'pair.png'
    """
    images = (frame_image(path, fp, i), frame_image(path, fp, j))
    return FramePair(
        video=os.fspath(path),
        frames=(int(i), int(j)),
        pts=(float(fp.pts[i]), float(fp.pts[j])),
        images=images,
        hashes=(fp.hashes[i].copy(), fp.hashes[j].copy()),
        hash_size=fp.hash_size,
        title=title,
    )


def loop_frames(
    result, loop: int = 1, occurrences=(1, 2), offset: int | None = None
) -> tuple[int, int]:
    """The frames of occurrences A and B of loop K (1-based, as in the text table of
    ``fastloop scan``) that show footage frame ``offset`` of the loop (0-based; default:
    the first footage frame both occurrences show).

    Examples
    --------
    >>> loop_frames(fastloop.scan("clip.mp4"), 1, (1, 2))  # doctest: +SKIP
    (137, 400)
    """
    loops = result.loops
    if not loops:
        raise InputError("no loops found: nothing to show (give two frames instead)")
    if not 1 <= loop <= len(loops):
        n = len(loops)
        raise InputError(
            f"loop {loop} does not exist: {n} loop{'s' if n != 1 else ''} found (1..{n})"
        )
    lp = loops[loop - 1]
    k = len(lp.occurrences)
    for occ in occurrences:
        if not 1 <= occ <= k:
            raise InputError(f"loop {loop} has {k} occurrences (1..{k}), not {occ}")
    oa, ob = (lp.occurrences[o - 1] for o in occurrences)
    lo = max(oa.offset_frames, ob.offset_frames)
    hi = min(oa.offset_frames + oa.length_frames, ob.offset_frames + ob.length_frames)
    if offset is None:
        offset = lo
    if not lo <= offset < hi:
        if lo >= hi:
            raise InputError(
                f"occurrences {occurrences[0]} and {occurrences[1]} of loop {loop} show "
                "no footage frame in common"
            )
        raise InputError(
            f"offset {offset} is not shown by both occurrences {occurrences[0]} and "
            f"{occurrences[1]} of loop {loop} (footage frames {lo}..{hi - 1})"
        )
    a, b = (o.start_frame + offset - o.offset_frames for o in (oa, ob))
    return int(a), int(b)


def loop_pair(
    path: str | os.PathLike, result, loop: int = 1, occurrences=(1, 2), offset: int | None = None
) -> FramePair:
    """The frames of occurrences A and B of loop K (1-based, as in ``fastloop scan``'s
    table) that show footage frame ``offset`` (see :func:`loop_frames`), with their
    hashes.

    Examples
    --------
    >>> result = fastloop.scan("clip.mp4")  # doctest: +SKIP
    >>> loop_pair("clip.mp4", result, 1, (1, 2)).save("loop1.png")  # doctest: +SKIP
    'loop1.png'
    """
    i, j = loop_frames(result, loop, occurrences, offset)
    lp = result.loops[loop - 1]
    title = (
        f"{os.path.basename(os.fspath(path))}: loop {loop} ({hms(lp.length_s)}, "
        f"{lp.length_frames} frames), occurrences {occurrences[0]} and {occurrences[1]}"
    )
    if offset:
        title += f", frame +{offset}"
    return frame_pair(path, result.fingerprint, i, j, title)
