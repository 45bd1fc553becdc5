"""Every way a result leaves fastloop, as library functions; the CLI dispatches here.

Stream formats (``scan --format``) render a list of :class:`~fastloop.api.ScanResult`
to text: :data:`FORMATS` maps each name to its function, and :func:`render` /
:func:`write` are what ``fastloop scan`` calls, so a library user gets the same
bytes. File formats that need the video or the plot extra have their own modules:
:mod:`.html` (the report page), :mod:`.frames` (two frames side by side),
:mod:`.plots` (the loop map, the sweep chart).

A new format is one function here and one entry in :data:`FORMATS`.

Examples
--------
>>> print(render([fastloop.scan("clip.mp4")], "csv"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence

from ..util import atomic_write
from .table import format_csv
from .text import format_text


def format_json(results: Sequence, one: bool = False) -> str:
    """The JSON contract (see README): one object for ``one`` result, else a list."""
    docs = [r.to_dict() for r in results]
    return json.dumps(docs[0] if one else docs, indent=2) + "\n"


def _text(results: Sequence, cuts: bool = False, **_) -> str:
    return "".join(format_text(r, cuts=cuts) for r in results)


def _json(results: Sequence, one: bool = False, **_) -> str:
    return format_json(results, one)


def _csv(results: Sequence, **_) -> str:
    return format_csv(results)


def _jsonl(results: Sequence, **_) -> str:
    return "".join(json.dumps(r.to_dict()) + "\n" for r in results)


#: name -> function(results, **options) -> str. Options: ``cuts`` (text: every
#: occurrence), ``one`` (json: a single object rather than a list). ``jsonl`` is one
#: compact JSON object per line (``fastloop scan`` writes each as its video finishes).
FORMATS: dict[str, Callable[..., str]] = {
    "text": _text,
    "json": _json,
    "csv": _csv,
    "jsonl": _jsonl,
}


def render(results: Sequence, fmt: str = "text", **options) -> str:
    """``results`` in format ``fmt`` (a key of :data:`FORMATS`)."""
    try:
        fn = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}") from None
    return fn(results, **options)


def write(text: str, output: str | os.PathLike | None = None) -> None:
    """Write rendered ``text`` to ``output`` atomically, or to stdout."""
    if output:
        with atomic_write(output, "w") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


__all__ = ["FORMATS", "format_csv", "format_json", "format_text", "render", "write"]
