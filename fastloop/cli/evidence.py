"""``fastloop show`` and ``report``: the evidence, for a person to look at."""

from __future__ import annotations

import os

import click

from ..util import display_path, hms
from .app import HASH_SIZE, Run, _params, cli, pass_ctx


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
    from ..api import fingerprint as api_fingerprint
    from ..fingerprint import Fingerprint

    if fingerprint_file:
        from ..video import check_input

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
    from ..api import scan as api_scan

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
    from ..outputs.frames import frame_pair, loop_pair, require_plot

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
    from ..outputs.frames import require_plot
    from ..outputs.html import write_report

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
