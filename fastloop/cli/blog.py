"""``fastloop buckets`` and ``sweep``: the blog's methods, for comparison."""

from __future__ import annotations

import json
import os

import click

from ..util import display_path
from .app import DEFAULT_SIZES, HASH_SIZE, Run, _params, cli, pass_ctx


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
    from ..api import buckets as api_buckets
    from ..api import fingerprint as api_fingerprint
    from ..api import full_frame_buckets

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

    from ..api import sweep as api_sweep

    if plot:
        from ..outputs.frames import require_plot

        require_plot("--plot")
    gt = np.load(truth) if truth else None
    bar = ctx.bar(display_path(os.path.basename(video)))
    try:
        rows = api_sweep(video, sizes, bar, truth=gt, params=_params(None, min_length))
    finally:
        bar.close()
    if plot:
        from ..outputs.plots import save_sweep_plot

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
