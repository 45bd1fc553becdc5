"""``fastloop scan``, ``fingerprint`` and ``demo``: the verdict on one or more videos."""

from __future__ import annotations

import json
import os
import sys

import click

from ..errors import FastloopError
from ..outputs import FORMATS
from ..util import display_path
from .app import HASH_SIZE, Run, _params, cache_option, cli, pass_ctx


@cli.command()
@click.argument("videos", nargs=-1, type=click.Path(dir_okay=True))
@click.option(
    "--hash-size",
    "-n",
    type=HASH_SIZE,
    default=24,
    show_default=True,
    help="Frames are shrunk to N x N gray before hashing. 24 (576 bits) keeps "
    "copies within a few bits and unrelated footage 80+ bits apart.",
)
@click.option(
    "--max-distance",
    "-d",
    type=click.IntRange(0, 4096),
    default=None,
    help="A pair of frames is looked at as a possible copy when their hashes differ "
    "by at most this many bits. Default: 8% of the bits (46 at 24x24); re-encoded "
    "copies measured 1-19 bits, unrelated frames 80+. Every candidate is then judged "
    "on the frames' gray levels, kept from the same decode.",
)
@click.option(
    "--min-length",
    type=click.FloatRange(0.05, None),
    default=1.0,
    show_default=True,
    help="Shortest copied stretch reported, in seconds.",
)
@click.option(
    "--format", "fmt", type=click.Choice(list(FORMATS)), default="text", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the result to this file instead of stdout.",
)
@click.option(
    "--from-fingerprint",
    "fingerprints",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Scan a saved fingerprint (.npz from `fastloop fingerprint`): no decoding.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="ffmpeg processes decoding in parallel (default: one per core; two per core "
    "for a video of 2 hours or more with frames under 320x240).",
)
@cache_option
@click.option(
    "--cuts",
    is_flag=True,
    help="List every occurrence (every cut) in the text output, not only the first 20 "
    "of each loop.",
)
@click.option(
    "--fast",
    is_flag=True,
    help="Decode only the frames other frames refer to (ffmpeg -skip_frame noref): "
    "fewer frames to decode on H.264/HEVC with B-frames, no gain without them. "
    "Skipped frames take their nearest decoded neighbour's hash and gray levels "
    "interpolated between the decoded frames around them; copies in test patterns "
    "that jump (lavfi testsrc2) may be partly missed.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    help="Also draw the loop map (every matched pair of frames, and a timeline of "
    "the occurrences) to this PNG. Needs the plot extra.",
)
@click.option(
    "--dask",
    "dask_address",
    metavar="ADDRESS",
    help="Decode on a Dask cluster: ranges of about 10 minutes of every VIDEO run as "
    "tasks on its workers, and each video is reported as soon as it is done. "
    "ADDRESS is a scheduler (tcp://host:8786), or local[:N] for N worker processes "
    "here. With --cache, a folder the workers share, each range done is kept there "
    "and a batch run again does only the others. Needs pip install 'fastloop[dask]'.",
)
@click.option(
    "--against",
    "store",
    type=click.Path(exists=True, file_okay=False),
    help="Also say which videos of this store (`fastloop index add`) share footage "
    "with each VIDEO, and where.",
)
@pass_ctx
def scan(
    ctx: Run,
    videos,
    hash_size,
    max_distance,
    min_length,
    fmt,
    output,
    fingerprints,
    workers,
    cache,
    cuts,
    fast,
    plot,
    dask_address,
    store,
) -> None:
    """Find the loops of one or more videos.

    A loop is a stretch of footage that occurs again elsewhere in the video,
    frame for frame. Frozen frames, black frames, stills and static scenes are not
    loops: the repeated stretch itself must change over time.

    \b
    Examples:
      fastloop scan upload.mp4
      fastloop scan upload.mp4 --format json -o loops.json
      fastloop fingerprint upload.mp4 -o up.npz && fastloop scan --from-fingerprint up.npz
      fastloop scan upload.mp4 --plot loopmap.png
      fastloop scan day.mp4 --cache ~/.cache/fastloop   (Ctrl-C, then run it again)
      fastloop scan day.mp4 --fast
      fastloop scan uploads/*.mp4 --dask tcp://scheduler:8786 --format jsonl
    """

    if not videos and not fingerprints:
        raise click.UsageError("give at least one VIDEO or --from-fingerprint FILE")
    params = _params(max_distance, min_length)
    against = None
    if store:
        from ..store import Store

        against = Store(store)
    results: list = []
    jobs = [("fp", f) for f in fingerprints] + [("video", v) for v in videos]
    if plot:
        from ..outputs.frames import require_plot

        if len(jobs) != 1:
            raise click.UsageError("--plot draws one video: give one VIDEO or --from-fingerprint")
        require_plot("--plot")
    stream = _Stream(output) if fmt == "jsonl" else None
    here = [(k, i) for k, i in jobs if not (k == "video" and dask_address)]
    one = len(jobs) == 1 and not stream
    opts = dict(hash_size=hash_size, workers=workers, cache=cache, fast=fast)
    failed = _scan_here(ctx, here, one, params, opts, against, stream, results)
    if dask_address and videos:
        failed += _scan_on_dask(
            ctx, videos, dask_address, hash_size, params, fast, stream, results, cache
        )
    if stream:
        stream.close()
        if failed:
            sys.exit(2)
        return
    from .. import outputs

    outputs.write(outputs.render(results, fmt, cuts=cuts, one=len(jobs) == 1), output)
    if plot and results:
        from ..outputs.plots import save_loop_map

        save_loop_map(results[0], plot)
    if failed:
        sys.exit(2)


def _scan_here(ctx: Run, jobs, one: bool, params, opts, against, stream, results) -> int:
    """Scan saved fingerprints and videos in this process, one after another; returns
    how many failed (an error is raised when ``one`` job was asked for)."""
    from ..api import scan as api_scan
    from ..fingerprint import Fingerprint

    failed = 0
    for kind, item in jobs:
        try:
            if kind == "fp":
                r = api_scan(fp=Fingerprint.load(item), params=params)
            else:
                bar = ctx.bar(display_path(os.path.basename(item)))
                try:
                    ctx.working_on(item, opts["cache"])
                    kw = {k: opts[k] for k in ("workers", "cache", "fast")}
                    r = api_scan(item, opts["hash_size"], bar, params=params, **kw)
                finally:
                    bar.close()
                for w in r.fingerprint.warnings:
                    ctx.warn(f"{display_path(item)}: {w}")
            if against is not None:
                r.shared = against.lookup(r.fingerprint, params)
            results.append(r)
            if stream:
                stream.put(r.to_dict())
        except FastloopError as exc:
            if one:
                raise
            failed += 1
            if stream:
                stream.put({"video": os.path.basename(item), "error": str(exc)})
            else:
                click.echo(f"fastloop: error: {exc}", err=True)
    return failed


class _Stream:
    """``--format jsonl``: one JSON line per video, written as each one finishes."""

    def __init__(self, output: str | None):
        self.fh = open(output, "w", encoding="utf-8") if output else None

    def put(self, doc: dict) -> None:
        line = json.dumps(doc) + "\n"
        if self.fh is not None:
            self.fh.write(line)
            self.fh.flush()
        else:
            click.echo(line, nl=False)

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def _scan_on_dask(
    ctx: Run, videos, address, hash_size, params, fast, stream, results, cache=None
) -> int:
    """Scan ``videos`` on a Dask cluster (see :mod:`fastloop.fleet`); returns how many
    failed (said on stderr, or as records with jsonl)."""
    from ..fleet import Failure, dask_executor, scan_many
    from ..hashers import AverageHash

    failed = 0
    bar = ctx.bar(f"{len(videos)} videos")
    try:
        with dask_executor(address, hash_size) as executor:
            hasher = AverageHash(hash_size)
            found = scan_many(
                videos, executor, hasher=hasher, params=params, fast=fast, cache=cache
            )
            for done, r in enumerate(found, 1):
                bar(done, len(videos))
                if isinstance(r, Failure):
                    failed += 1
                    if stream:
                        stream.put(r.to_dict())
                    else:
                        click.echo(f"fastloop: error: {r.error}", err=True)
                    continue
                for w in r.fingerprint.warnings:
                    ctx.warn(f"{display_path(r.fingerprint.info.get('path', ''))}: {w}")
                if stream:
                    stream.put(r.to_dict())
                results.append(r)
    finally:
        bar.close()
    return failed


@cli.command()
@click.argument("video", type=click.Path())
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .npz file to write."
)
@click.option("--hash-size", "-n", type=HASH_SIZE, default=24, show_default=True)
@click.option("--workers", type=click.IntRange(1, 256), default=None)
@cache_option
@click.option(
    "--fast",
    is_flag=True,
    help="Decode only the frames other frames refer to (see `fastloop scan --fast`).",
)
@pass_ctx
def fingerprint(ctx: Run, video, output, hash_size, workers, cache, fast) -> None:
    """Hash every frame of VIDEO and save hashes + timestamps to one .npz file.

    Scanning the saved file (`fastloop scan --from-fingerprint FILE`) with other
    thresholds costs no decoding.
    """
    from ..api import fingerprint as api_fingerprint

    bar = ctx.bar(display_path(os.path.basename(video)))
    try:
        ctx.working_on(video, cache)
        fp = api_fingerprint(video, hash_size, bar, workers=workers, cache=cache, fast=fast)
    finally:
        bar.close()
    for w in fp.warnings:
        ctx.warn(f"{display_path(video)}: {w}")
    fp.save(output)
    if not ctx.quiet:
        skipped = f" ({int(fp.filled.sum())} not decoded)" if fp.decoded is not None else ""
        size = f"{fp.hash_size}x{fp.hash_size}"
        click.echo(f"{display_path(output)}: {len(fp)} frames{skipped}, {size} hashes")


@cli.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False),
    default=None,
    help="Keep the generated clip in this folder.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@pass_ctx
def demo(ctx: Run, keep, fmt) -> None:
    """Make a 40 s looped clip with ffmpeg and scan it: no video of yours needed.

    The clip is lavfi footage in which a 4 s stretch (from 6.0 s) is spliced in
    again at 20.0 s and 29.0 s, cut at non-keyframe positions, with a freeze and a
    black stretch as decoys, encoded once with lossy H.264.
    """
    import tempfile

    from ..api import scan as api_scan
    from ..synth import DEMO_SEGMENTS, make_video

    folder = keep or tempfile.mkdtemp(prefix="fastloop-demo-")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "demo-looped.mp4")
    if not ctx.quiet:
        click.echo(f"making {display_path(path)} ...", err=True)
    make_video(path, DEMO_SEGMENTS)
    bar = ctx.bar("demo-looped.mp4")
    try:
        result = api_scan(path, progress=bar)
    finally:
        bar.close()
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        from ..outputs import format_text

        click.echo(format_text(result), nl=False)
        if not ctx.quiet:
            click.echo(
                "planted: 4.000 s from 00:00:06.000 copied to 00:00:20.000 and 00:00:29.000",
                err=True,
            )
    if not keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
