"""SynthDrive: the embedded procedural driving benchmark (docs/design.md §5).

Deterministic driving scenes in the 19 Cityscapes train ids, rendered on the fly with
vectorized numpy (no files, no network, ~10 ms per 128×256 sample). Domains: ``source``
(GTA-like), ``generated`` (a random style per image, rendered from a part map warped by
up to ``misalignment_px`` pixels at label boundaries) and the unseen targets ``clear``,
``fog``, ``night``, ``rain``, ``snow``, plus the physically modelled adverse targets
``fog_dense``, ``night_dark``, ``rain_lens``, ``snow_storm`` (``adverse``; not in
``DOMAINS``, which keeps the former seven: ``render.ALL_DOMAINS`` has all). Sample ``i`` is a function of ``(seed, domain, i)``
only. The design (scenes, classes, rendering, domains, misalignment) is in
docs/synthdrive.md.

One concept per module, in the order a sample is made:

- ``streams``: the per-sample random generators;
- ``classes``, ``palette``, ``textures``: train ids, appearance roles, noise bank;
- ``camera``, ``canvas``, ``raster``: projection, the part map, pixel primitives;
- ``street``, ``objects``, ``scene``: the street layout, things in it, the whole scene;
- ``styles``, ``blur``, ``shading``, ``weather``: part map → image;
- ``sensor``, ``adverse``: linear light and camera pieces, the physically modelled adverse
  targets (import their names from these modules);
- ``misalignment``: the image↔mask displacement of ``generated``;
- ``render``, ``dataset``, ``flip``: the public sample function, dataset, augmentation;
- ``preview`` (and ``__main__``): ``python -m flexseg.data.synthdrive --preview out.png``.

Every name below was importable from the former single module and still is. The
switches (``WALLS_AND_FENCES``, ``TWO_WHEELERS`` and ``GEN_*``) are read from the module
that defines them (``scene``, ``styles``): set them there, not here.
"""
from __future__ import annotations

from flexseg.data.synthdrive.blur import box_blur, coarse_blur
from flexseg.data.synthdrive.camera import Camera, sample_camera
from flexseg.data.synthdrive.canvas import SKY_DEPTH, Canvas
from flexseg.data.synthdrive.classes import (
    BICYCLE,
    BUILDING,
    BUS,
    CAR,
    FENCE,
    LIGHT,
    MOTORCYCLE,
    PERSON,
    POLE,
    RIDER,
    ROAD,
    SIDEWALK,
    SIGN,
    SKY,
    TERRAIN,
    TRAIN,
    TRUCK,
    VEGETATION,
    WALL,
)
from flexseg.data.synthdrive.dataset import SynthDrive
from flexseg.data.synthdrive.flip import RandomFlip
from flexseg.data.synthdrive.misalignment import (
    boundary_distance,
    label_boundary,
    misalignment_field,
    smooth_field,
    warp_nearest,
)
from flexseg.data.synthdrive.objects import (
    MIN_LIGHT_PX,
    MIN_PERSON_PX,
    MIN_POLE_PX,
    MIN_SIGN_PX,
    draw_overhead_light,
    draw_person,
    draw_pole,
    draw_sign,
    draw_traffic_light,
    draw_tree,
    draw_two_wheeler,
    draw_vehicle,
    draw_wall_or_fence,
)
from flexseg.data.synthdrive.palette import NUM_ROLES, PALETTE_WIDTH, ROLES, Rgb, Role
from flexseg.data.synthdrive.preview import edge_overlay, main, preview_grid, write_preview
from flexseg.data.synthdrive.raster import draw_box, face_rect, fill_ellipse, fill_polygon, fill_rect, fill_segment
from flexseg.data.synthdrive.render import (
    DOMAINS,
    TARGET_DOMAINS,
    TRAIN_DOMAINS,
    Rendered,
    render_details,
    render_scene,
)
from flexseg.data.synthdrive.scene import MAX_VEHICLE_Z, TWO_WHEELERS, WALLS_AND_FENCES, Scene, build_scene
from flexseg.data.synthdrive.shading import finish, shade
from flexseg.data.synthdrive.streams import sample_seed
from flexseg.data.synthdrive.street import (
    Block,
    Street,
    draw_facade,
    draw_ground,
    draw_street_end,
    sample_blocks,
    sample_street,
)
from flexseg.data.synthdrive.styles import GEN_KEEP_TEXTURE, GEN_WILD, Style, clear_style, generated_style, source_style
from flexseg.data.synthdrive.textures import (
    NUM_TEXTURES,
    TEX_BLOTCH,
    TEX_FINE,
    TEX_FLAT,
    TEX_HSTREAK,
    TEX_LEAFY,
    TEX_VSTREAK,
    random_crop,
    texture_bank,
)
from flexseg.data.synthdrive.weather import apply_fog, apply_night, apply_rain, apply_snow

__all__ = [
    "DOMAINS",
    "TRAIN_DOMAINS",
    "TARGET_DOMAINS",
    "ROAD",
    "SIDEWALK",
    "BUILDING",
    "WALL",
    "FENCE",
    "POLE",
    "LIGHT",
    "SIGN",
    "VEGETATION",
    "TERRAIN",
    "SKY",
    "PERSON",
    "RIDER",
    "CAR",
    "TRUCK",
    "BUS",
    "TRAIN",
    "MOTORCYCLE",
    "BICYCLE",
    "SKY_DEPTH",
    "MIN_POLE_PX",
    "MIN_SIGN_PX",
    "MIN_LIGHT_PX",
    "MIN_PERSON_PX",
    "MAX_VEHICLE_Z",
    "WALLS_AND_FENCES",
    "TWO_WHEELERS",
    "GEN_WILD",
    "GEN_KEEP_TEXTURE",
    "Rgb",
    "TEX_FLAT",
    "TEX_FINE",
    "TEX_LEAFY",
    "TEX_BLOTCH",
    "TEX_HSTREAK",
    "TEX_VSTREAK",
    "NUM_TEXTURES",
    "Role",
    "ROLES",
    "NUM_ROLES",
    "PALETTE_WIDTH",
    "sample_seed",
    "texture_bank",
    "random_crop",
    "Camera",
    "Canvas",
    "fill_rect",
    "fill_polygon",
    "fill_ellipse",
    "fill_segment",
    "draw_box",
    "face_rect",
    "Street",
    "sample_camera",
    "sample_street",
    "draw_ground",
    "Block",
    "sample_blocks",
    "draw_facade",
    "draw_street_end",
    "draw_tree",
    "draw_sign",
    "draw_traffic_light",
    "draw_pole",
    "draw_overhead_light",
    "draw_wall_or_fence",
    "draw_person",
    "draw_two_wheeler",
    "draw_vehicle",
    "Scene",
    "build_scene",
    "Style",
    "source_style",
    "clear_style",
    "generated_style",
    "box_blur",
    "coarse_blur",
    "shade",
    "finish",
    "apply_fog",
    "apply_night",
    "apply_rain",
    "apply_snow",
    "label_boundary",
    "boundary_distance",
    "smooth_field",
    "misalignment_field",
    "warp_nearest",
    "Rendered",
    "render_details",
    "render_scene",
    "SynthDrive",
    "RandomFlip",
    "edge_overlay",
    "preview_grid",
    "write_preview",
    "main",
]
