"""PNG frames into a looping GIF."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import imageio.v3 as iio
import numpy as np
from PIL import Image

from gan_mixup.render.common import check_fps, write_replacing

LAST_FRAME_HOLD_S = 2.0  # the GIF rests on the final state before it loops
FAST_PALETTE_ABOVE = 4096  # frames of more colours get a fast octree palette in the GIF (see _gif_frame)


def write_gif(frame_paths: Sequence[str | Path], gif_path: str | Path, *, fps: float = 10) -> Path:
    """Assemble PNG frames (all of one size) into a GIF that loops forever, the last frame held.

    Written to a temporary file and renamed, so a reader never sees half a GIF, and a failed write
    leaves no temporary file.

    Example:
        >>> write_gif(sorted(Path("runs/tiny/frames").glob("*.png")), "tiny.gif", fps=5)  # doctest: +SKIP
    """
    check_fps(fps)
    if not frame_paths:
        raise ValueError("write_gif needs at least one frame")
    gif_path = Path(gif_path)
    frames = [iio.imread(p)[..., :3] for p in frame_paths]  # drop alpha: GIF has no partial transparency
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise ValueError(f"frames differ in size ({sorted(shapes)}); a GIF needs frames of one size")
    frame_ms = 1000.0 / fps
    durations = [frame_ms] * len(frames)
    durations[-1] = max(frame_ms, 1000.0 * LAST_FRAME_HOLD_S)
    images = [_gif_frame(frame) for frame in frames]
    # loop=0 is "forever" in the GIF format; durations are in milliseconds for Pillow.
    write_replacing(gif_path, lambda tmp: images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                                                          duration=durations, loop=0))
    return gif_path


def _gif_frame(rgb: np.ndarray) -> Image.Image:
    """One GIF frame for Pillow. Grey frames (grey sample grids) go in as greyscale: exact, no palette
    to choose. Frames of many colours (colour sample grids, ~50k) are reduced to 256 by fast octree:
    Pillow's own choice, median cut, takes ~0.5 s for one 340-px frame of them, octree ~4 ms, about
    as close. Anything else (point frames, a few hundred colours) is left to Pillow as before."""
    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
        return Image.fromarray(np.ascontiguousarray(rgb[..., 0]), mode="L")
    image = Image.fromarray(rgb)
    if image.getcolors(FAST_PALETTE_ABOVE) is None:
        image = image.quantize(256, method=Image.Quantize.FASTOCTREE)
    return image
