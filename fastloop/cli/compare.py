"""``fastloop compare A B``: the footage of A that plays in B, with both times."""

from __future__ import annotations

import json
import os

import click

from ..util import display_path, hms
from .app import HASH_SIZE, Run, _params, cli, pass_ctx


@cli.command()
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@click.option("--hash-size", "-n", type=HASH_SIZE, default=24, show_default=True)
@click.option(
    "--min-length",
    type=click.FloatRange(0.05, None),
    default=1.0,
    show_default=True,
    help="Shortest shared stretch reported, in seconds.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "vsc"]),
    default="text",
    show_default=True,
    help="vsc: the Video Similarity Challenge 2022 CSV (B as the query, A as the reference).",
)
@click.option(
    "--as-is",
    is_flag=True,
    help="No bars cut off and no mirrored search: only copies of the same picture.",
)
@pass_ctx
def compare(ctx: Run, a, b, hash_size, min_length, fmt, as_is) -> None:
    """Find the stretches of A that play in B (a re-upload, a compilation).

    Both are decoded once, their black bars cut off, and searched as one video:
    the same grouping and verification as `fastloop scan`. Trims, re-encodes,
    letterbox and pillarbox bars, mirrored copies, a logo over part of the picture
    and another frame rate are undone; --as-is compares the pictures unchanged.

    \b
    Examples:
      fastloop compare source.mp4 reupload.mp4
      fastloop compare source.mp4 reupload.mp4 --format vsc >> matches.csv
    """
    from ..compare import compare as run_compare
    from ..compare import format_vsc
    from ..hashers import AverageHash

    ctx.working_on(a, None)
    result = run_compare(
        a,
        b,
        hasher=AverageHash(hash_size),
        params=_params(None, min_length),
        normalise=not as_is,
    )
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    if fmt == "vsc":
        click.echo(format_vsc(result), nl=False)
        return
    na, nb = (display_path(os.path.basename(p)) for p in (a, b))
    if not result.matches:
        click.echo(f"{na} and {nb}: no shared footage")
        return
    n = len(result.matches)
    click.echo(f"{na} and {nb}: {n} shared stretch{'es' if n != 1 else ''}")
    for name, crop in zip((na, nb), result.crops, strict=True):
        if crop is not None:
            click.echo(
                f"  {name}: black bars cut off (picture {crop[0]}x{crop[1]} at {crop[2]},{crop[3]})"
            )
    for m in result.matches:
        click.echo(
            f"  {na} {hms(m.a_start_s)}-{hms(m.a_end_s)} plays in {nb} at "
            f"{hms(m.b_start_s)}-{hms(m.b_end_s)}{' mirrored' if m.mirrored else ''} "
            f"({m.length} frames, mean distance {m.mean_distance:.1f} bits)"
        )
