"""Preview."""
from __future__ import annotations

import argparse

import numpy as np

from flexseg.data.labels import colorize
from flexseg.data.synthdrive.misalignment import label_boundary
from flexseg.data.synthdrive.palette import Rgb
from flexseg.data.synthdrive.render import DOMAINS, render_scene

#: ``--help`` text of ``python -m flexseg.data.synthdrive`` (the first line of the former module docstring).
DESCRIPTION = "SynthDrive: the embedded procedural driving benchmark (docs/design.md §5)."


def edge_overlay(image: np.ndarray, label: np.ndarray, colour: Rgb = (255, 255, 0)) -> np.ndarray:
    """Image [H,W,3] uint8 with the label's boundaries painted in ``colour``."""
    out = image.copy()
    edges = label_boundary(label)
    out[edges] = colour
    return out


def preview_grid(num: int = 4, seed: int = 0, misalignment_px: float = 4.0, height: int = 128,
                 width: int = 256) -> np.ndarray:
    """[rows·(H+g), cols·(W+g), 3] uint8: one row per domain; per sample the image, the
    colorized label and the label edges drawn over the image."""
    gap = 4
    tiles = []
    for domain in DOMAINS:
        row = []
        for i in range(num):
            image, label = render_scene(seed, domain, i, height, width, misalignment_px)
            row += [image, colorize(label), edge_overlay(image, label)]
        tiles.append(row)
    cols = 3 * num
    grid = np.full((len(DOMAINS) * (height + gap), cols * (width + gap), 3), 255, np.uint8)
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            y, x = r * (height + gap), c * (width + gap)
            grid[y:y + height, x:x + width] = tile
    return grid


def write_preview(path: str, num: int = 4, seed: int = 0, misalignment_px: float = 4.0, height: int = 128,
                  width: int = 256) -> None:
    """Write the preview grid as a PNG with the domain names at the left."""
    from PIL import Image, ImageDraw

    grid = preview_grid(num, seed, misalignment_px, height, width)
    margin = 80
    canvas = Image.new("RGB", (grid.shape[1] + margin, grid.shape[0]), "white")
    canvas.paste(Image.fromarray(grid), (margin, 0))
    draw = ImageDraw.Draw(canvas)
    for r, domain in enumerate(DOMAINS):
        draw.text((6, r * (height + 4) + height // 2 - 6), domain, fill=(0, 0, 0))
    canvas.save(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flexseg.data.synthdrive", description=DESCRIPTION)
    parser.add_argument("--preview", required=True, help="output PNG path")
    parser.add_argument("--num", type=int, default=4, help="samples per domain")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--misalignment", type=float, default=4.0, help="generated-domain misalignment (px)")
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=256)
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error("--num must be ≥ 1")
    try:
        write_preview(args.preview, args.num, args.seed, args.misalignment, args.height, args.width)
    except ValueError as err:
        parser.error(str(err))
    print(f"wrote {args.preview}")

