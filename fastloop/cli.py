"""The ``fastloop`` command line: parse, call the API with a progress bar, format.

Command bodies hold no algorithm, and import the API inside each command so that
``fastloop --help`` loads neither numba nor ffmpeg.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import threading
import time

import click

from .errors import FastloopError
from .util import display_path, hms

HASH_SIZE = click.IntRange(4, 64)
DEFAULT_SIZES = "8,12,16,20,24,32,48,64"


class Progress:
    """A thread-safe progress line on stderr: frames, fps, percentage and ETA."""

    def __init__(self, label: str, enabled: bool):
        self.label = label
        self.enabled = enabled
        self.start = time.perf_counter()
        self.last = 0.0
        self.lock = threading.Lock()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        _STATE["done"], _STATE["total"] = done, total
        if not self.enabled:
            return
        now = time.perf_counter()
        with self.lock:
            if now - self.last < 0.2 and done < total:
                return
            self.last = now
            elapsed = max(now - self.start, 1e-9)
            fps = done / elapsed
            if total > 0:
                frac = min(done / total, 1.0)
                eta = (total - done) / fps if fps > 0 and done < total else 0.0
                bar = "#" * int(frac * 24)
                text = (
                    f"\r{self.label} [{bar:<24}] {frac:4.0%} {done}/{total} frames "
                    f"{fps:,.0f} fps ETA {hms(eta)[:8]} "
                )
            else:
                text = f"\r{self.label} {done} frames {fps:,.0f} fps "
            sys.stderr.write(text)
            sys.stderr.flush()
            self.shown = True

    def close(self) -> None:
        if self.enabled and self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


#: What the running command is working on, for the message when it is interrupted.
_STATE: dict = {"item": None, "cache": None, "done": 0, "total": 0}


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (ffmpeg stopped, work kept) but exit status 143."""


class Ctx:
    def __init__(self, progress: bool, verbose: int, quiet: bool):
        self.progress = progress and not quiet and sys.stderr.isatty()
        self.verbose = verbose
        self.quiet = quiet

    @property
    def resume_hint(self):
        return _STATE["item"], _STATE["cache"]

    @resume_hint.setter
    def resume_hint(self, value) -> None:
        _STATE["item"], _STATE["cache"] = value

    def bar(self, label: str) -> Progress:
        return Progress(label, self.progress)

    def log(self, msg: str) -> None:
        if self.verbose and not self.quiet:
            click.echo(msg, err=True)

    def warn(self, msg: str) -> None:
        if not self.quiet:
            click.echo(f"fastloop: warning: {msg}", err=True)


pass_ctx = click.make_pass_decorator(Ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--no-progress",
    is_flag=True,
    help="No progress bar (it is off anyway when stderr is not a terminal).",
)
@click.option("-v", "--verbose", count=True, help="Show the ffmpeg command lines and warnings.")
@click.option("-q", "--quiet", is_flag=True, help="Print only results.")
@click.version_option(package_name="fastloop")
@click.pass_context
def cli(ctx: click.Context, no_progress: bool, verbose: int, quiet: bool) -> None:
    """Prove or disprove that a video is looped: find footage copied and spliced in again.

    \b
    Start here:
      fastloop demo                 make a looped clip and scan it
      fastloop scan VIDEO           verdict and a table of loops
      fastloop scan VIDEO --format json
    Results go to stdout, progress and errors to stderr. Exit status: 0 done (looped
    or not), 2 bad usage or unreadable input, 1 unexpected failure, 130 interrupted.
    FASTLOOP_DEBUG=1 shows tracebacks; FASTLOOP_FFMPEG picks the ffmpeg binary.
    """
    ctx.obj = Ctx(not no_progress, verbose, quiet)


def _params(max_distance, min_length):
    from .loops import LoopParams

    return LoopParams(max_distance=max_distance, min_length_s=min_length)


def _write(text: str, output: str | None) -> None:
    if output:
        tmp = f"{output}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, output)
    else:
        click.echo(text, nl=False)


def format_text(result, max_rows: int = 20, cuts: bool = False) -> str:
    """Verdict line, then per loop a summary (footage length, plays, typical period,
    first and last play, share of the video) and its occurrences: every one with
    ``cuts``, else the first ``max_rows``."""
    out = io.StringIO()
    info = result.fingerprint.info
    name = display_path(os.path.basename(str(info.get("path", ""))))
    if not result.looped:
        frames = len(result.fingerprint)
        out.write(f"{name}: no loops found ({frames} frames, {_duration_s(result):.1f} s)\n")
        return out.getvalue()
    n = len(result.loops)
    total = max(1, len(result.fingerprint))
    fps = result.fingerprint.fps or 30.0
    out.write(
        f"{name}: looped: {n} loop{'s' if n != 1 else ''}, "
        f"{result.repeated_s:.1f} s of repeated footage\n"
    )
    for i, lp in enumerate(result.loops, 1):
        occ = lp.occurrences
        share = 100.0 * lp.frames / total
        first, last = occ[0], occ[-1]
        out.write(
            f"loop {i}: {hms(lp.length_s)} of footage ({lp.length_frames} frames) plays "
            f"{len(occ)} times, {share:.1f}% of the video, mean distance "
            f"{lp.mean_distance:.1f} bits\n"
        )
        if len(occ) > 2:
            out.write(
                f"  typical period {hms(lp.period_frames / fps)}; first play at "
                f"{hms(first.start_s)}, last at {hms(last.start_s)}\n"
            )
        out.write(
            f"  {'#':>5}  {'start':<12}  {'frame':>8}  {'frames':>7}  {'footage frames':<15}\n"
        )
        rows = occ if cuts else occ[:max_rows]
        for k, o in enumerate(rows, 1):
            span = f"{o.offset_frames}-{o.offset_frames + o.length_frames - 1}"
            out.write(
                f"  {k:>5}  {hms(o.start_s):<12}  {o.start_frame:>8}  {o.length_frames:>7}  "
                f"{span:<15}\n"
            )
        if len(rows) < len(occ):
            more = len(occ) - len(rows)
            out.write(f"  ... {more} more (--cuts lists every one; so do csv and json)\n")
    return out.getvalue()


def _duration_s(result) -> float:
    return float(result.to_dict()["duration_s"])


def format_csv(results) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        [
            "video",
            "loop",
            "occurrence",
            "start_frame",
            "start_s",
            "length_frames",
            "offset_frames",
            "loop_length_frames",
            "loop_length_s",
            "mean_distance",
        ]
    )
    for r in results:
        name = display_path(os.path.basename(str(r.fingerprint.info.get("path", ""))))
        for i, lp in enumerate(r.loops, 1):
            for k, occ in enumerate(lp.occurrences, 1):
                w.writerow(
                    [
                        name,
                        i,
                        k,
                        occ.start_frame,
                        f"{occ.start_s:.6f}",
                        occ.length_frames,
                        occ.offset_frames,
                        lp.length_frames,
                        f"{lp.length_s:.6f}",
                        f"{lp.mean_distance:.3f}",
                    ]
                )
    return out.getvalue()


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
    "--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True
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
    help="ffmpeg processes decoding in parallel (default: one per core).",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False),
    default=None,
    help="Checkpoint folder: the fingerprint is saved as it goes, an interrupted scan "
    "resumes where it stopped when run again, and a finished one is reused at once "
    "(re-scanning with other thresholds costs no decode).",
)
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
@pass_ctx
def scan(
    ctx: Ctx,
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
    """
    from .api import scan as api_scan
    from .fingerprint import Fingerprint

    if not videos and not fingerprints:
        raise click.UsageError("give at least one VIDEO or --from-fingerprint FILE")
    params = _params(max_distance, min_length)
    results = []
    failed = 0
    jobs = [("fp", f) for f in fingerprints] + [("video", v) for v in videos]
    if plot:
        from .visual import require_plot

        if len(jobs) != 1:
            raise click.UsageError("--plot draws one video: give one VIDEO or --from-fingerprint")
        require_plot("--plot")
    for kind, item in jobs:
        try:
            if kind == "fp":
                fp = Fingerprint.load(item)
                r = api_scan(fp=fp, params=params)
            else:
                bar = ctx.bar(os.path.basename(item))
                try:
                    ctx.resume_hint = (item, cache)
                    r = api_scan(
                        item,
                        hash_size,
                        bar,
                        params=params,
                        workers=workers,
                        log=ctx.log,
                        cache=cache,
                        fast=fast,
                    )
                finally:
                    bar.close()
                for w in r.fingerprint.warnings:
                    ctx.warn(f"{display_path(item)}: {w}")
            results.append(r)
        except FastloopError as exc:
            if len(jobs) == 1:
                raise
            failed += 1
            click.echo(f"fastloop: error: {exc}", err=True)
    if fmt == "json":
        docs = [r.to_dict() for r in results]
        text = json.dumps(docs[0] if len(jobs) == 1 else docs, indent=2) + "\n"
    elif fmt == "csv":
        text = format_csv(results)
    else:
        text = "".join(format_text(r, cuts=cuts) for r in results)
    _write(text, output)
    if plot and results:
        from .visual import save_loop_map

        save_loop_map(results[0], plot)
    if failed:
        sys.exit(2)


@cli.command()
@click.argument("video", type=click.Path())
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .npz file to write."
)
@click.option("--hash-size", "-n", type=HASH_SIZE, default=24, show_default=True)
@click.option("--workers", type=click.IntRange(1, 256), default=None)
@click.option(
    "--cache",
    type=click.Path(file_okay=False),
    default=None,
    help="Checkpoint folder: the fingerprint is saved as it goes, an interrupted scan "
    "resumes where it stopped when run again, and a finished one is reused at once "
    "(re-scanning with other thresholds costs no decode).",
)
@click.option(
    "--fast",
    is_flag=True,
    help="Decode only the frames other frames refer to (see `fastloop scan --fast`).",
)
@pass_ctx
def fingerprint(ctx: Ctx, video, output, hash_size, workers, cache, fast) -> None:
    """Hash every frame of VIDEO and save hashes + timestamps to one .npz file.

    Scanning the saved file (`fastloop scan --from-fingerprint FILE`) with other
    thresholds costs no decoding.
    """
    from .api import fingerprint as api_fingerprint

    bar = ctx.bar(os.path.basename(video))
    try:
        ctx.resume_hint = (video, cache)
        fp = api_fingerprint(
            video, hash_size, bar, workers=workers, log=ctx.log, cache=cache, fast=fast
        )
    finally:
        bar.close()
    for w in fp.warnings:
        ctx.warn(f"{display_path(video)}: {w}")
    fp.save(output)
    if not ctx.quiet:
        skipped = f" ({int(fp.filled.sum())} not decoded)" if fp.decoded is not None else ""
        click.echo(f"{output}: {len(fp)} frames{skipped}, {fp.hash_size}x{fp.hash_size} hashes")


@cli.command()
@click.argument("video", type=click.Path())
@click.option("--hash-size", "-n", type=HASH_SIZE, default=24, show_default=True)
@click.option(
    "--exact", is_flag=True, help="Hash the full decoded frames instead (the blog's first attempt)."
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--min-size",
    type=click.IntRange(1, None),
    default=2,
    show_default=True,
    help="Smallest bucket listed.",
)
@pass_ctx
def buckets(ctx: Ctx, video, hash_size, exact, fmt, min_size) -> None:
    """The blog's method: group frames whose hashes are exactly equal.

    Exact buckets catch frozen frames, but miss most re-encoded copies (a copy sits
    elsewhere in the group of pictures and flips a few bits): `fastloop scan`
    finds those.
    """
    from .api import buckets as api_buckets
    from .api import fingerprint as api_fingerprint
    from .api import full_frame_buckets

    bar = ctx.bar(os.path.basename(video))
    try:
        if exact:
            groups, n = full_frame_buckets(video, bar, min_size=min_size, log=ctx.log)
        else:
            fp = api_fingerprint(video, hash_size, bar, log=ctx.log)
            groups, n = api_buckets(fp, min_size), len(fp)
    finally:
        bar.close()
    if fmt == "json":
        doc = {
            "hash_size": None if exact else hash_size,
            "exact": exact,
            "frames": n,
            "buckets": [g.tolist() for g in groups],
        }
        click.echo(json.dumps(doc))
        return
    kind = "full frames" if exact else f"{hash_size}x{hash_size} average hash"
    click.echo(f"{len(groups)} buckets of {min_size}+ equal frames ({kind}, {n} frames)")
    for g in groups[:50]:
        head = ", ".join(str(x) for x in g[:12].tolist())
        more = f", ... ({len(g)} frames)" if len(g) > 12 else ""
        click.echo(f"  {len(g):>6}  [{head}{more}]")
    if len(groups) > 50:
        click.echo(f"  ... {len(groups) - 50} more (--format json lists all)")


def _sizes(ctx, param, value: str) -> list[int]:
    try:
        sizes = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers") from None
    bad = [s for s in sizes if not 4 <= s <= 64]
    if not sizes or bad:
        raise click.BadParameter(f"hash sizes must be between 4 and 64, got {value!r}")
    return sizes


@cli.command()
@click.argument("video", type=click.Path())
@click.option(
    "--sizes",
    default=DEFAULT_SIZES,
    show_default=True,
    callback=_sizes,
    help="Hash sizes to try, comma-separated.",
)
@click.option(
    "--truth",
    type=click.Path(exists=True, dir_okay=False),
    help="Ground truth (.npy: for every frame, the source frame it shows, "
    "negative for none) to add frame recall and precision.",
)
@click.option("--min-length", type=click.FloatRange(0.05, None), default=1.0, show_default=True)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    help="Also draw the blog's chart (buckets, mean and largest bucket, loops found, "
    "recall/precision) against the hash size to this PNG. Needs the plot extra.",
)
@pass_ctx
def sweep(ctx: Ctx, video, sizes, truth, min_length, fmt, plot) -> None:
    """The blog's parameter search: bucket metrics and loops found per hash size.

    Small hashes put unrelated frames in one bucket (few, large buckets); large
    ones split copies apart (every frame alone). Each size is one decode.
    """
    import numpy as np

    from .api import sweep as api_sweep

    if plot:
        from .visual import require_plot

        require_plot("--plot")
    gt = np.load(truth) if truth else None
    bar = ctx.bar(os.path.basename(video))
    try:
        rows = api_sweep(video, sizes, bar, truth=gt, params=_params(None, min_length))
    finally:
        bar.close()
    if plot:
        from .visual import save_sweep_plot

        save_sweep_plot(rows, plot, title=f"{os.path.basename(video)}: hash size sweep")
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    head = f"{'size':>4}  {'buckets':>8}  {'mean':>8}  {'largest':>8}  {'loops':>5}"
    if gt is not None:
        head += f"  {'recall':>7}  {'precision':>9}"
    click.echo(head)
    for r in rows:
        line = (
            f"{r['hash_size']:>4}  {r['buckets']:>8}  {r['mean_size']:>8.2f}  "
            f"{r['largest']:>8}  {r['loops']:>5}"
        )
        if gt is not None:
            line += f"  {r['recall']:>7.3f}  {r['precision']:>9.3f}"
        click.echo(line)


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
def demo(ctx: Ctx, keep, fmt) -> None:
    """Make a 40 s looped clip with ffmpeg and scan it: no video of yours needed.

    The clip is lavfi footage in which a 4 s stretch (from 6.0 s) is spliced in
    again at 20.0 s and 29.0 s, cut at non-keyframe positions, with a freeze and a
    black stretch as decoys, encoded once with lossy H.264.
    """
    import tempfile

    from .api import scan as api_scan
    from .synth import DEMO_SEGMENTS, make_video

    folder = keep or tempfile.mkdtemp(prefix="fastloop-demo-")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "demo-looped.mp4")
    if not ctx.quiet:
        click.echo(f"making {path} ...", err=True)
    make_video(path, DEMO_SEGMENTS)
    bar = ctx.bar("demo-looped.mp4")
    try:
        result = api_scan(path, progress=bar, log=ctx.log)
    finally:
        bar.close()
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(format_text(result), nl=False)
        if not ctx.quiet:
            click.echo(
                "planted: 4.000 s from 00:00:06.000 copied to 00:00:20.000 and 00:00:29.000",
                err=True,
            )
    if not keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def _loop_options(f):
    """Options of the commands that find the loops themselves (as `scan` does)."""
    for opt in reversed(
        [
            click.option(
                "--from-fingerprint",
                "fingerprint_file",
                type=click.Path(exists=True, dir_okay=False),
                help="Use this saved fingerprint of VIDEO (.npz from `fastloop fingerprint`) "
                "instead of decoding it.",
            ),
            click.option("--hash-size", "-n", type=HASH_SIZE, default=24, show_default=True),
            click.option(
                "--max-distance",
                "-d",
                type=click.IntRange(0, 4096),
                default=None,
                help="As for `fastloop scan` (loops are numbered as it numbers them).",
            ),
            click.option(
                "--min-length", type=click.FloatRange(0.05, None), default=1.0, show_default=True
            ),
        ]
    ):
        f = opt(f)
    return f


def _load_fingerprint(ctx: Ctx, video, fingerprint_file, hash_size):
    from .api import fingerprint as api_fingerprint
    from .fingerprint import Fingerprint

    if fingerprint_file:
        from .video import check_input

        check_input(video)  # show and report fetch frames from it
        fp = Fingerprint.load(fingerprint_file)
        made_from = os.path.basename(str(fp.info.get("path", "")))
        if made_from and made_from != os.path.basename(video):
            ctx.warn(f"{fingerprint_file} was made from {made_from}, not {video}")
        return fp
    bar = ctx.bar(os.path.basename(video))
    try:
        fp = api_fingerprint(video, hash_size, bar, log=ctx.log)
    finally:
        bar.close()
    for w in fp.warnings:
        ctx.warn(f"{video}: {w}")
    return fp


def _scan_one(ctx: Ctx, video, fingerprint_file, hash_size, max_distance, min_length):
    from .api import scan as api_scan

    fp = _load_fingerprint(ctx, video, fingerprint_file, hash_size)
    return api_scan(video, fp=fp, params=_params(max_distance, min_length), log=ctx.log)


@cli.command()
@click.argument("video", type=click.Path())
@click.option("--loop", "loop_no", type=click.IntRange(1, None), help="Show loop K (1-based).")
@click.option(
    "--occurrence",
    nargs=2,
    type=click.IntRange(1, None),
    default=None,
    metavar="A B",
    help="Which two occurrences of the loop (1-based; default 1 2).",
)
@click.option(
    "--offset",
    type=click.IntRange(0, None),
    default=None,
    help="Footage frame of the loop to show (0-based, as in the 'footage frames' "
    "column; default: the first one both occurrences play).",
)
@click.option(
    "--frames",
    nargs=2,
    type=click.IntRange(0, None),
    default=None,
    metavar="I J",
    help="Show frames I and J (0-based) instead of a loop.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="PNG to write (default: VIDEO-loopK-A-B.png or VIDEO-frames-I-J.png here).",
)
@_loop_options
@pass_ctx
def show(
    ctx: Ctx,
    video,
    loop_no,
    occurrence,
    offset,
    frames,
    output,
    fingerprint_file,
    hash_size,
    max_distance,
    min_length,
) -> None:
    """Two frames side by side: see a loop with your own eyes.

    One PNG: both frames at full resolution with frame number and time, their
    difference amplified (black where they agree), and their hashes as N x N bits
    with the differing bits in red. Loops and occurrences are numbered as in the
    table of `fastloop scan`. Frames are fetched by seeking, so a 24-hour video
    costs no more than a short one (once it has a fingerprint: --from-fingerprint).

    \b
    Examples:
      fastloop show upload.mp4 --loop 1
      fastloop show upload.mp4 --loop 2 --occurrence 1 5 --offset 30 -o evidence.png
      fastloop show upload.mp4 --frames 137 400
    """
    from .visual import frame_pair, loop_pair, require_plot

    if (loop_no is None) == (frames is None):
        raise click.UsageError("give either --loop K or --frames I J")
    if loop_no is None and (occurrence or offset is not None):
        raise click.UsageError("--occurrence and --offset go with --loop K")
    require_plot("fastloop show")
    stem = os.path.splitext(os.path.basename(video))[0]
    if frames:
        fp = _load_fingerprint(ctx, video, fingerprint_file, hash_size)
        pair = frame_pair(video, fp, *frames)
        default = f"{stem}-frames-{frames[0]}-{frames[1]}.png"
    else:
        occurrence = occurrence or (1, 2)
        result = _scan_one(ctx, video, fingerprint_file, hash_size, max_distance, min_length)
        pair = loop_pair(video, result, loop_no, occurrence, offset)
        default = f"{stem}-loop{loop_no}-{occurrence[0]}-{occurrence[1]}.png"
    path = pair.save(output or default)
    if not ctx.quiet:
        (i, j), (ti, tj) = pair.frames, pair.pts
        click.echo(
            f"{path}: frames {i} ({hms(ti)}) and {j} ({hms(tj)}): "
            f"{pair.distance} of {pair.hash_size**2} bits differ"
        )


@cli.command()
@click.argument("video", type=click.Path())
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="HTML file to write (default: VIDEO-report.html here).",
)
@click.option(
    "--thumbs",
    type=click.IntRange(1, 100),
    default=8,
    show_default=True,
    help="Thumbnails per loop (evenly spaced when it has more occurrences).",
)
@_loop_options
@pass_ctx
def report(
    ctx: Ctx, video, output, thumbs, fingerprint_file, hash_size, max_distance, min_length
) -> None:
    """One self-contained HTML page of the evidence, to open in a browser.

    The verdict, the loop table, the first frame of every occurrence side by side,
    the loop map, and a player: click a row (or a thumbnail) and it jumps to that
    occurrence. Images are inside the page; the player plays VIDEO from its path
    relative to the page, so keep the two together.

    \b
    Examples:
      fastloop report upload.mp4 -o upload.html
    """
    from .report import write_report
    from .visual import require_plot

    require_plot("fastloop report")
    result = _scan_one(ctx, video, fingerprint_file, hash_size, max_distance, min_length)
    stem = os.path.splitext(os.path.basename(video))[0]
    bar = ctx.bar("thumbnails")
    try:
        path = write_report(
            result, video, output or f"{stem}-report.html", max_thumbs=thumbs, progress=bar
        )
    finally:
        bar.close()
    if not ctx.quiet:
        n = len(result.loops)
        verdict = f"looped, {n} loop{'s' if n != 1 else ''}" if n else "no loops found"
        click.echo(f"{path}: {verdict}")


def _interrupted_message(signal_name: str) -> str:
    item, cache = _STATE["item"], _STATE["cache"]
    done, total = _STATE["done"], _STATE["total"]
    where = f" after {done} of ~{total} frames" if done else ""
    msg = f"fastloop: {signal_name}{where}"
    if item and cache:
        msg += f"; what was decoded is saved in {cache}: run the same command to resume"
    elif item:
        msg += "; add --cache DIR to make a long scan resumable"
    return msg


def _on_sigterm(signum, frame) -> None:
    _STATE["terminated"] = True  # click turns the exception into Abort: remember why
    raise _Terminated()


def _stopped() -> None:
    if _STATE.get("terminated"):
        click.echo("\n" + _interrupted_message("terminated"), err=True)
        sys.exit(143)
    click.echo("\n" + _interrupted_message("interrupted"), err=True)
    sys.exit(130)


def _return_freed_memory() -> None:
    """Ask glibc to give every large array back to the system when it is freed.

    By default glibc raises its mmap threshold after each large free (up to 32 MB),
    so the per-frame arrays of a long video's search, tens of MB each, come from the
    heap and stay in the process once freed: some 90 MB more peak RSS on a 24-hour
    video. The command line owns its process; the library leaves the allocator alone.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD: fixed, as glibc's default start
    except (OSError, AttributeError):  # not glibc
        pass


def main(argv=None) -> None:
    """Entry point: map known errors to one line and an exit status."""
    import signal

    _return_freed_memory()
    debug = os.environ.get("FASTLOOP_DEBUG", "") not in ("", "0")
    try:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _on_sigterm)
        cli.main(args=argv, prog_name="fastloop", standalone_mode=False)
    except click.exceptions.Abort:  # click's wrapper of KeyboardInterrupt
        _stopped()
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except FastloopError as exc:
        if debug:
            raise
        click.echo(f"fastloop: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        if debug:
            raise
        _stopped()
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"fastloop: unexpected error: {type(exc).__name__}: {exc} "
            "(FASTLOOP_DEBUG=1 shows the traceback)",
            err=True,
        )
        sys.exit(1)
