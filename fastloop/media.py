"""Finding the ffmpeg binary and probing a video with it (no ffprobe needed)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import DecodeError, InputError

_IMAGE_FORMATS = re.compile(r"(_pipe|^image2)$")
#: Image containers that hold animations: videos when they hold more than one frame.
_ANIMATIONS = ("gif", "apng")


def find_ffmpeg() -> str:
    """Return the ffmpeg binary to use.

    ``$FASTLOOP_FFMPEG`` wins, then ``ffmpeg`` on ``PATH``, then the binary shipped in
    the ``imageio-ffmpeg`` wheel, so a plain ``pip install`` is enough.

    Examples
    --------
    >>> find_ffmpeg()  # doctest: +SKIP
    '/usr/bin/ffmpeg'
    """
    env = os.environ.get("FASTLOOP_FFMPEG")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise InputError(f"FASTLOOP_FFMPEG={env!r} is not an executable file")
        return env
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - imageio-ffmpeg is a dependency
        imageio_ffmpeg = None
    if imageio_ffmpeg is not None:
        try:
            return imageio_ffmpeg.get_ffmpeg_exe()
        except RuntimeError:  # pragma: no cover - wheel without a binary
            pass
    raise InputError(
        "no ffmpeg found: install one (e.g. apt install ffmpeg), "
        "pip install imageio-ffmpeg, or set FASTLOOP_FFMPEG"
    )


def input_url(path: str | os.PathLike) -> str:
    """The path as an ffmpeg input that can be neither an option nor a protocol."""
    return "file:" + os.path.abspath(os.fspath(path))


def display_path(path: str | os.PathLike) -> str:
    """The path for a one-line message: control characters, line separators and bytes
    that are not UTF-8 are escaped, so a hostile file name cannot forge output lines.

    >>> display_path("a\\nb.mp4")
    'a\\\\nb.mp4'
    """
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


@dataclass(frozen=True)
class VideoInfo:
    """What ffmpeg says about the first video stream of a file."""

    path: str
    width: int
    height: int
    fps: float
    duration_s: float
    codec: str
    pix_fmt: str
    start_s: float = 0.0
    video_streams: int = 1
    container: str = ""

    @property
    def frames_estimate(self) -> int:
        """Frame count from duration and rate; a guess for variable frame rate."""
        if self.fps > 0 and self.duration_s > 0:
            return max(1, round(self.duration_s * self.fps))
        return 0

    def to_dict(self) -> dict:
        return asdict(self)


def check_input(path: str | os.PathLike) -> Path:
    """Refuse paths that cannot be a video before any process is spawned.

    Only regular files pass: a FIFO or a device would block ffmpeg or feed it
    endless data.
    """
    p = Path(os.fspath(path))
    name = display_path(p)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except NotADirectoryError:
        raise InputError(f"{name}: no such file (a parent is not a directory)") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{name}: is a directory, not a video file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{name}: not a regular file (a pipe, socket or device)")
    if not os.access(p, os.R_OK):
        raise InputError(f"{name}: permission denied")
    if st.st_size == 0:
        raise InputError(f"{name}: empty file")
    return p


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)(?:, start: (-?\d+(?:\.\d+)?))?")
_INPUT = re.compile(r"^Input #0, ([^,]+(?:,[^ ][^,]*)*), from")
_STREAM = re.compile(r"^\s*Stream #0:\d+(?:\[[^\]]*\])?(?:\([^)]*\))?: Video: (.*)$")
_SIZE = re.compile(r"(?:^|[ ,])(\d{1,6})x(\d{1,6})(?:[ ,\]]|$)")
_RATE = re.compile(r"([\d.]+)(k?) (fps|tbr)")


def _parse_rate(text: str) -> float:
    rates = {unit: float(v) * (1000 if k else 1) for v, k, unit in _RATE.findall(text)}
    return rates.get("fps") or rates.get("tbr") or 0.0


def parse_probe(path: str, stderr: str) -> VideoInfo:
    """Parse the banner that ``ffmpeg -i FILE`` prints into a :class:`VideoInfo`."""
    lines = stderr.splitlines()
    fmt = ""
    for line in lines:
        m = _INPUT.match(line)
        if m:
            fmt = m.group(1)
            break
    videos = [
        m.group(1) for m in map(_STREAM.match, lines) if m and "(attached pic)" not in m.group(1)
    ]
    if not videos:
        raise InputError(f"{display_path(path)}: no video stream")
    desc = videos[0]
    head = fmt.split(",")[0] if fmt else ""
    if head in _ANIMATIONS:
        # an animated GIF or APNG is a video (the canonical looped clip); one frame is not
        fps = _parse_rate(desc)
        d = _DURATION.search(stderr)
        if d and fps > 0:
            hh, mm, ss, _ = d.groups()
            if int(hh) * 3600 + int(mm) * 60 + float(ss) < 1.5 / fps:
                raise InputError(f"{display_path(path)}: is a still image ({head}), not a video")
    elif head and _IMAGE_FORMATS.search(head):
        raise InputError(f"{display_path(path)}: is an image ({fmt}), not a video")
    codec = desc.split(" ", 1)[0].rstrip(",")
    if codec in ("", "none"):
        raise InputError(
            f"{display_path(path)}: the video stream's codec is unknown "
            "(a damaged header, or a codec this ffmpeg does not know)"
        )
    parts = [p.strip() for p in re.split(r",(?![^(]*\))", desc)]
    pix_fmt = parts[1].split("(")[0] if len(parts) > 1 else ""
    size = _SIZE.search(desc)
    width, height = (int(size.group(1)), int(size.group(2))) if size else (0, 0)
    duration = start = 0.0
    m = _DURATION.search(stderr)
    if m:
        hh, mm, ss, st = m.groups()
        duration = int(hh) * 3600 + int(mm) * 60 + float(ss)
        start = float(st) if st else 0.0
    elif (m2 := re.search(r"start: (-?\d+(?:\.\d+)?)", stderr)) is not None:
        start = float(m2.group(1))
    return VideoInfo(
        path=path,
        width=width,
        height=height,
        fps=_parse_rate(desc),
        duration_s=duration,
        codec=codec,
        pix_fmt=pix_fmt,
        start_s=start,
        video_streams=len(videos),
        container=fmt,
    )


def probe(path: str | os.PathLike, ffmpeg: str | None = None) -> VideoInfo:
    """Probe a video file with ``ffmpeg -i`` (ffprobe is not needed).

    Raises :class:`InputError` for a missing file, a directory, an empty file, a file
    ffmpeg cannot open, or a file without a video stream.

    Examples
    --------
    >>> info = probe("clip.mp4")  # doctest: +SKIP
    >>> info.width, info.height, info.fps
    (640, 360, 30.0)
    """
    p = check_input(path)
    exe = ffmpeg or find_ffmpeg()
    url = input_url(p)
    try:
        proc = subprocess.run(
            [exe, "-hide_banner", "-nostdin", "-i", url],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired as exc:
        raise DecodeError(
            f"{display_path(p)}: ffmpeg took over 2 minutes to open the file"
        ) from exc
    # ffmpeg echoes the file name raw: a name holding a newline and "Stream #0:0:
    # Video: ..." would forge banner lines, so it is blanked before parsing.
    raw = proc.stderr.replace(os.fsencode(url), b"file:<input>")
    err = raw.decode("utf-8", "replace")
    if "Input #0" not in err:
        raise InputError(f"{display_path(p)}: not a readable video ({open_failure(err)})")
    return parse_probe(str(p), err)


#: Demuxer messages worth a plain-words hint.
_HINTS = (
    ("misdetection possible", "ffmpeg does not recognise the format"),
    ("moov atom not found", "the MP4/MOV index (moov atom) is missing: truncated or unfinished"),
    ("File ended prematurely", "the file ends before its header: truncated"),
    ("Error opening input: End of file", "the file ends before its header: truncated or damaged"),
)
_GENERIC = re.compile(r"^Error opening input(?: files?)?(?::|\b)")
_PREFIX = re.compile(r"^(?:\[[^\]]*\]\s*)+")


def open_failure(stderr: str) -> str:
    """Why ``ffmpeg -i`` could not open a file, in one line.

    The demuxer's own complaint (e.g. ``moov atom not found``) comes first, with a
    hint, then ffmpeg's generic reason (e.g. ``Invalid data found when processing
    input``); ``[in#0 @ 0x...]`` prefixes are dropped.
    """
    lines = [_PREFIX.sub("", ln).strip() for ln in stderr.splitlines()]
    lines = [ln for ln in lines if ln]
    generic = ""
    for ln in lines:
        if ln.startswith("Error opening input files:"):
            generic = ln.split(":", 1)[1].strip()
    if not generic:
        for ln in reversed(lines):
            if ln.startswith("Error opening input:"):
                generic = ln.split(":", 1)[1].strip()
                break
    for needle, hint in _HINTS:
        if any(needle in ln for ln in lines):
            return f"{hint}; {generic}" if generic else hint
    if generic:
        return generic
    specific = [ln for ln in lines if not _GENERIC.match(ln)]
    return (specific or lines or ["unknown error"])[-1]
