"""What ``ffmpeg -i FILE`` prints about a file, parsed (ffprobe is not needed)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from ..errors import InputError
from ..util import display_path

#: Containers whose index makes a seek land exactly on a keyframe; others
#: (MPEG-TS, raw streams) are decoded by one process from start to end.
SEEKABLE_FORMATS = ("mov", "mp4", "m4a", "3gp", "matroska", "webm", "avi")
#: Containers without an index that ffmpeg still seeks in, by a bisection on the
#: packets' times (broadcast recordings): split too, each range's seek started
#: :data:`UNINDEXED_SPLIT_MARGIN_S` early, so that a keyframe of a long GOP falls
#: between the seek and the range (a decoder shows no frame before a keyframe; a
#: seek that still lands late is caught and the file decoded whole).
TIMESTAMP_SEEK_FORMATS = ("mpegts",)
#: Seconds decoded before a range's start: the seek lands on the keyframe before it
#: in an indexed file, and near the asked time in the others.
SPLIT_MARGIN_S = 2.0
UNINDEXED_SPLIT_MARGIN_S = 10.0
_IMAGE_FORMATS = re.compile(r"(_pipe|^image2)$")
#: Image containers that hold animations: videos when they hold more than one frame.
_ANIMATIONS = ("gif", "apng")


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

    @property
    def seekable(self) -> bool:
        """Does the container have an index, so that a seek lands where it is asked?"""
        return is_seekable(self.container)

    @property
    def split_margin_s(self) -> float | None:
        """How long before a range's start its decode seeks to, or None where the
        file cannot be split into ranges (a raw stream, an image sequence)."""
        if self.seekable:
            return SPLIT_MARGIN_S
        if any(c in TIMESTAMP_SEEK_FORMATS for c in self.container.split(",")):
            return UNINDEXED_SPLIT_MARGIN_S
        return None

    def to_dict(self) -> dict:
        return asdict(self)


def is_seekable(container: str) -> bool:
    """Is ``container`` (ffmpeg's format names, comma-separated) one with an index?"""
    return any(c in SEEKABLE_FORMATS for c in container.split(","))


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
