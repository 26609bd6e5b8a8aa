"""The preview grid of every domain, and its command line.

``python -m flexseg.data.synthdrive --preview docs/synthdrive.png [--num 4] [--seed 0]
[--misalignment 4] [--height 128] [--width 256] [--domains D ...]`` (also
``flexseg-preview``; ``make preview``) writes a grid: one row per domain (default: the
seven ``DOMAINS``; ``--domains`` picks any of ``ALL_DOMAINS``, e.g. the physically
modelled adverse ones beside their classic counterparts for docs/synthdrive_adverse.png),
per sample the image, the colorized label and the label edges over the image.
"""
from __future__ import annotations

import argparse

import numpy as np

from flexseg.data.labels import colorize
from flexseg.data.synthdrive.misalignment import label_boundary
from flexseg.data.synthdrive.palette import Rgb
from flexseg.data.synthdrive.render import ALL_DOMAINS, DOMAINS, check_args, render_scene

#: ``--help`` text of ``python -m flexseg.data.synthdrive`` (the first line of the former module docstring).
DESCRIPTION = "SynthDrive: the embedded procedural driving benchmark (docs/design.md §5)."

__all__ = ["DESCRIPTION", "edge_overlay", "main", "preview_grid", "write_preview"]


def edge_overlay(image: np.ndarray, label: np.ndarray, colour: Rgb = (255, 255, 0)) -> np.ndarray:
    """A copy of ``image`` with the label's boundaries (``label_boundary``) painted in ``colour``.

    Args:
        image: uint8 RGB image.
        label: integer label map.
        colour: RGB of the edges.

    Returns:
        The overlay, uint8.

    Shape:
        - image: :math:`(H, W, 3)`.
        - label: :math:`(H, W)`.
        - Output: :math:`(H, W, 3)`.

    Example:
        >>> label = np.zeros((2, 4), np.int64); label[:, 2:] = 1
        >>> edge_overlay(np.zeros((2, 4, 3), np.uint8), label)[0].tolist()
        [[0, 0, 0], [255, 255, 0], [255, 255, 0], [0, 0, 0]]
    """
    out = image.copy()
    edges = label_boundary(label)
    out[edges] = colour
    return out


def preview_grid(num: int = 4, seed: int = 0, misalignment_px: float = 4.0, height: int = 128,
                 width: int = 256, domains: tuple[str, ...] = DOMAINS) -> np.ndarray:
    """The preview grid: one row per domain (``domains`` order, default ``DOMAINS``); per
    sample the image, the colorized label and the label edges drawn over the image; white
    gaps of 4 px.

    Args:
        num: samples per domain (indices 0 … num−1).
        seed: the dataset seed.
        misalignment_px: misalignment of the ``generated`` row, px.
        height: tile height, px.
        width: tile width, px.
        domains: the rows, any of ``ALL_DOMAINS``.

    Returns:
        The uint8 RGB grid.

    Shape:
        - Output: :math:`(D·(H + 4), 3·num·(W + 4), 3)`, D = ``len(domains)`` (7 by default).

    Example:
        >>> preview_grid(num=1, height=16, width=32).shape
        (140, 108, 3)
        >>> preview_grid(num=1, height=16, width=32, domains=("clear", "night_dark")).shape
        (40, 108, 3)
    """
    gap = 4
    tiles = []
    for domain in domains:
        row = []
        for i in range(num):
            image, label = render_scene(seed, domain, i, height, width, misalignment_px)
            row += [image, colorize(label), edge_overlay(image, label)]
        tiles.append(row)
    cols = 3 * num
    grid = np.full((len(domains) * (height + gap), cols * (width + gap), 3), 255, np.uint8)
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            y, x = r * (height + gap), c * (width + gap)
            grid[y:y + height, x:x + width] = tile
    return grid


def write_preview(path: str, num: int = 4, seed: int = 0, misalignment_px: float = 4.0, height: int = 128,
                  width: int = 256, domains: tuple[str, ...] = DOMAINS) -> None:
    """Write ``preview_grid(...)`` to ``path`` (PNG by its suffix), with an 80 px white
    margin at the left holding the domain names.

    Args:
        path: output file; its suffix selects the format.
        num, seed, misalignment_px, height, width, domains: as in ``preview_grid``.

    Raises:
        ValueError: for a non-positive size, a negative misalignment or an unknown domain
            (before writing).

    Example:
        >>> write_preview("never_written.png", num=1, height=0)
        Traceback (most recent call last):
        ...
        ValueError: synthdrive: height and width must be positive, got 0×256
    """
    from PIL import Image, ImageDraw

    for domain in domains:
        check_args(domain, height, width, misalignment_px)
    grid = preview_grid(num, seed, misalignment_px, height, width, tuple(domains))
    margin = 80
    canvas = Image.new("RGB", (grid.shape[1] + margin, grid.shape[0]), "white")
    canvas.paste(Image.fromarray(grid), (margin, 0))
    draw = ImageDraw.Draw(canvas)
    for r, domain in enumerate(domains):
        draw.text((6, r * (height + 4) + height // 2 - 6), domain, fill=(0, 0, 0))
    canvas.save(path)


def main(argv: list[str] | None = None) -> None:
    """``python -m flexseg.data.synthdrive``: parse ``argv`` (default: ``sys.argv[1:]``),
    write the preview and print ``wrote PATH``; a bad argument exits with status 2.

    Example:
        >>> main(["--preview", "never_written.png", "--num", "0"])
        Traceback (most recent call last):
        ...
        SystemExit: 2
    """
    parser = argparse.ArgumentParser(prog="python -m flexseg.data.synthdrive", description=DESCRIPTION)
    parser.add_argument("--preview", required=True, help="output PNG path")
    parser.add_argument("--num", type=int, default=4, help="samples per domain")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--misalignment", type=float, default=4.0, help="generated-domain misalignment (px)")
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--domains", nargs="+", default=list(DOMAINS), choices=ALL_DOMAINS, metavar="DOMAIN",
                        help=f"rows (default: the seven classic domains; any of {', '.join(ALL_DOMAINS)})")
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error("--num must be ≥ 1")
    try:
        write_preview(args.preview, args.num, args.seed, args.misalignment, args.height, args.width, tuple(args.domains))
    except ValueError as err:
        parser.error(str(err))
    print(f"wrote {args.preview}")

