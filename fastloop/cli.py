"""The ``fastloop`` command line: parse, call the API with a progress bar, format.

Command bodies hold no algorithm, and import the API inside each command so that
``fastloop --help`` loads neither numba nor ffmpeg.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading

import click

from .errors import FastloopError
from .util import display_path, hms

HASH_SIZE = click.IntRange(4, 64)
DEFAULT_SIZES = "8,12,16,20,24,32,48,64"


class Progress:
    """A tqdm bar on stderr fed by the library's ``progress(done, total)`` callback,
    which worker threads call; ``run`` remembers the count for the message shown if
    the command is interrupted."""

    def __init__(self, label: str, enabled: bool, run: Run):
        from tqdm import tqdm

        self.run = run
        self.lock = threading.Lock()
        self.bar = tqdm(
            desc=label,
            unit=" frames",
            disable=not enabled,
            file=sys.stderr,
            mininterval=0.2,
            dynamic_ncols=True,
            bar_format="{desc} {percentage:3.0f}%|{bar:24}| {n}/{total} frames "
            "{rate_fmt} ETA {remaining}",
        )

    def __call__(self, done: int, total: int) -> None:
        self.run.done, self.run.total = done, total
        with self.lock:
            if total and self.bar.total != total:
                self.bar.total = total
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (ffmpeg stopped, work kept) but exit status 143."""


class Run:
    """One invocation: its options, and what it is working on (for the message when
    it is interrupted: which video, which checkpoint folder, how far)."""

    def __init__(self) -> None:
        self.progress = True
        self.quiet = False
        self.item: str | None = None
        self.cache: str | None = None
        self.done = 0
        self.total = 0
        self.terminated = False

    def configure(self, progress: bool, verbose: int, quiet: bool) -> None:
        self.progress = progress and not quiet and sys.stderr.isatty()
        self.quiet = quiet
        _log_to_stderr(0 if quiet else verbose)

    def working_on(self, item: str, cache: str | None) -> None:
        self.item, self.cache = item, cache

    def bar(self, label: str) -> Progress:
        return Progress(label, self.progress, self)

    def warn(self, msg: str) -> None:
        if not self.quiet:
            click.echo(f"fastloop: warning: {msg}", err=True)

    def interrupted_message(self, signal_name: str) -> str:
        where = f" after {self.done} of ~{self.total} frames" if self.done else ""
        msg = f"fastloop: {signal_name}{where}"
        if self.item and self.cache:
            msg += f"; what was decoded is saved in {display_path(self.cache)}: "
            msg += "run the same command to resume"
        elif self.item:
            msg += "; add --cache DIR to make a long scan resumable"
        return msg


class _Stderr(logging.Handler):
    """The ``fastloop`` logger's messages on the current stderr (click's, in tests)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


def _log_to_stderr(verbose: int) -> None:
    """``-v``: the library's INFO messages (ffmpeg command lines and warnings, the
    checkpoint), ``-vv``: DEBUG too; otherwise warnings are the CLI's own lines."""
    logger = logging.getLogger("fastloop")
    for h in [h for h in logger.handlers if isinstance(h, _Stderr)]:
        logger.removeHandler(h)
    if verbose:
        logger.addHandler(_Stderr())
        logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        logger.propagate = False
    else:
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


pass_ctx = click.make_pass_decorator(Run)


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
    if not isinstance(ctx.obj, Run):
        ctx.obj = Run()
    ctx.obj.configure(not no_progress, verbose, quiet)


def _params(max_distance, min_length):
    from .loops import LoopParams

    return LoopParams(max_distance=max_distance, min_length_s=min_length)


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
        from .outputs.frames import require_plot

        if len(jobs) != 1:
            raise click.UsageError("--plot draws one video: give one VIDEO or --from-fingerprint")
        require_plot("--plot")
    for kind, item in jobs:
        try:
            if kind == "fp":
                fp = Fingerprint.load(item)
                r = api_scan(fp=fp, params=params)
            else:
                bar = ctx.bar(display_path(os.path.basename(item)))
                try:
                    ctx.working_on(item, cache)
                    r = api_scan(
                        item,
                        hash_size,
                        bar,
                        params=params,
                        workers=workers,
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
    from . import outputs

    outputs.write(outputs.render(results, fmt, cuts=cuts, one=len(jobs) == 1), output)
    if plot and results:
        from .outputs.plots import save_loop_map

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
def fingerprint(ctx: Run, video, output, hash_size, workers, cache, fast) -> None:
    """Hash every frame of VIDEO and save hashes + timestamps to one .npz file.

    Scanning the saved file (`fastloop scan --from-fingerprint FILE`) with other
    thresholds costs no decoding.
    """
    from .api import fingerprint as api_fingerprint

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
def buckets(ctx: Run, video, hash_size, exact, fmt, min_size) -> None:
    """The blog's method: group frames whose hashes are exactly equal.

    Exact buckets catch frozen frames, but miss most re-encoded copies (a copy sits
    elsewhere in the group of pictures and flips a few bits): `fastloop scan`
    finds those.
    """
    from .api import buckets as api_buckets
    from .api import fingerprint as api_fingerprint
    from .api import full_frame_buckets

    bar = ctx.bar(display_path(os.path.basename(video)))
    try:
        if exact:
            groups, n = full_frame_buckets(video, bar, min_size=min_size)
        else:
            fp = api_fingerprint(video, hash_size, bar)
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
def sweep(ctx: Run, video, sizes, truth, min_length, fmt, plot) -> None:
    """The blog's parameter search: bucket metrics and loops found per hash size.

    Small hashes put unrelated frames in one bucket (few, large buckets); large
    ones split copies apart (every frame alone). Each size is one decode.
    """
    import numpy as np

    from .api import sweep as api_sweep

    if plot:
        from .outputs.frames import require_plot

        require_plot("--plot")
    gt = np.load(truth) if truth else None
    bar = ctx.bar(display_path(os.path.basename(video)))
    try:
        rows = api_sweep(video, sizes, bar, truth=gt, params=_params(None, min_length))
    finally:
        bar.close()
    if plot:
        from .outputs.plots import save_sweep_plot

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
def demo(ctx: Run, keep, fmt) -> None:
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
        from .outputs import format_text

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


def _load_fingerprint(ctx: Run, video, fingerprint_file, hash_size):
    from .api import fingerprint as api_fingerprint
    from .fingerprint import Fingerprint

    if fingerprint_file:
        from .video import check_input

        check_input(video)  # show and report fetch frames from it
        fp = Fingerprint.load(fingerprint_file)
        made_from = os.path.basename(str(fp.info.get("path", "")))
        if made_from and made_from != os.path.basename(video):
            ctx.warn(
                f"{display_path(fingerprint_file)} was made from {display_path(made_from)}, "
                f"not {display_path(video)}"
            )
        return fp
    bar = ctx.bar(display_path(os.path.basename(video)))
    try:
        fp = api_fingerprint(video, hash_size, bar)
    finally:
        bar.close()
    for w in fp.warnings:
        ctx.warn(f"{display_path(video)}: {w}")
    return fp


def _scan_one(ctx: Run, video, fingerprint_file, hash_size, max_distance, min_length):
    from .api import scan as api_scan

    fp = _load_fingerprint(ctx, video, fingerprint_file, hash_size)
    return api_scan(video, fp=fp, params=_params(max_distance, min_length))


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
    ctx: Run,
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
    from .outputs.frames import frame_pair, loop_pair, require_plot

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
            f"{display_path(path)}: frames {i} ({hms(ti)}) and {j} ({hms(tj)}): "
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
    ctx: Run, video, output, thumbs, fingerprint_file, hash_size, max_distance, min_length
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
    from .outputs.frames import require_plot
    from .outputs.html import write_report

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
        click.echo(f"{display_path(path)}: {verdict}")


def _stopped(run: Run) -> None:
    if run.terminated:
        click.echo("\n" + run.interrupted_message("terminated"), err=True)
        sys.exit(143)
    click.echo("\n" + run.interrupted_message("interrupted"), err=True)
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
    run = Run()

    def on_sigterm(signum, frame) -> None:
        run.terminated = True  # click turns the exception into Abort: remember why
        raise _Terminated()

    try:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_sigterm)
        cli.main(args=argv, prog_name="fastloop", standalone_mode=False, obj=run)
    except click.exceptions.Abort:  # click's wrapper of KeyboardInterrupt
        _stopped(run)
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
        _stopped(run)
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
