"""render.py on image runs, mixed kinds, and damaged snapshot files (both kinds).

Run directories are written directly in the snapshot format (``write_reference`` / ``write_snapshot``):
no training, any iterations, any pixels. Frames are checked by what they show: sizes, frame counts,
and brightness where the samples are all black or all white.
"""
from __future__ import annotations

from typing import Any

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from gan_mixup.errors import GanMixupWarning

from gan_mixup import render
from gan_mixup.modalities.images.spec import SPEC as IMAGES
from gan_mixup.modalities.images.draw import GRID_PAD_VALUE, GRID_PADDING, sample_grid
from gan_mixup.render import RenderError, render_comparison, render_figure5, render_frame, render_run
from gan_mixup.rundir import (
    Reference,
    Snapshot,
    SnapshotError,
    list_snapshots,
    read_reference,
    read_snapshot,
    write_reference,
    write_snapshot,
)

NO_GRID = np.zeros((0, 0), np.float32)
IMAGE_FRAME = (340, 340)  # IMAGE_FRAME_INCHES² at FRAME_DPI
POINT_FRAME = (320, 320)


def image_run(path: Path, iterations: list[int], *, channels: int = 1, size: int = 16, n: int = 64,
              fill: dict[int, int] | None = None) -> Path:
    """An image run: random uint8 samples per snapshot, or one grey level for the iterations in ``fill``."""
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (n, channels, size, size), dtype=np.uint8)
    write_reference(path, Reference(real, np.zeros((0, 2), np.float32), float("nan"), np.zeros((0,), np.float32),
                                    None, "images"))
    for it in iterations:
        if fill and it in fill:
            fake = np.full((n, channels, size, size), fill[it], np.uint8)
        else:
            fake = rng.integers(0, 256, (n, channels, size, size), dtype=np.uint8)
        write_snapshot(path, Snapshot(it, fake, NO_GRID))
    write_metrics(path, iterations)
    return path


def point_run(path: Path, iterations: list[int], *, grid: int = 8) -> Path:
    rng = np.random.default_rng(1)
    axis = np.linspace(-1.5, 1.5, grid, dtype=np.float32)
    write_reference(path, Reference(rng.normal(size=(50, 2)).astype(np.float32), np.zeros((0, 2), np.float32), 1.5,
                                    axis, None))
    for it in iterations:
        write_snapshot(path, Snapshot(it, rng.normal(size=(50, 2)).astype(np.float32),
                                      np.full((grid, grid), 0.5, np.float32)))
    write_metrics(path, iterations)
    return path


def write_metrics(path: Path, iterations: list[int]) -> None:
    lines = [json.dumps({"kind": "train", "iteration": it, "d_loss": 1.2, "g_loss": 0.8}) for it in iterations if it]
    (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")


def gif_frames(path: Path) -> np.ndarray:
    return iio.imread(path, index=None)[..., :3]  # (frames, H, W, 3)


def centre(image: np.ndarray) -> np.ndarray:
    """The middle half of a frame: inside the sample grid, away from the title and the margins."""
    h, w = image.shape[:2]
    return image[h // 4: 3 * h // 4, w // 4: 3 * w // 4, :3].astype(np.float64)


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "garbage": b"not a zip file" * 9}[how])


# ----- one run --------------------------------------------------------------------------------

@pytest.mark.parametrize("channels,size", [(1, 16), (3, 32)])
def test_image_run_renders_one_gif_frame_per_snapshot(tmp_path: Path, channels: int, size: int) -> None:
    run = image_run(tmp_path / "run", [0, 1, 10, 40], channels=channels, size=size)
    paths = render_run(run, fps=5, workers=1)
    frames = sorted(paths["frames"].glob("frame_*.png"))
    assert len(frames) == 4 and {iio.imread(f).shape[:2] for f in frames} == {IMAGE_FRAME}
    gif = gif_frames(paths["gif"])
    assert gif.shape == (4, *IMAGE_FRAME, 3)
    assert paths["losses"].is_file()


def test_frame_shows_the_samples(tmp_path: Path) -> None:
    # All-black samples, then all-white: the GIF's image area follows, title and padding aside.
    run = image_run(tmp_path / "grey", [1, 2], channels=1, size=32, fill={1: 0, 2: 255})
    dark, bright = gif_frames(render_run(run, workers=1)["gif"])
    assert centre(dark).mean() < 40 and centre(bright).mean() > 200

    # Colour samples keep their colour: pure red reads red, not grey.
    red = np.zeros((16, 3, 16, 16), np.uint8)
    red[:, 0] = 255
    ax = render_frame(read_reference(run), Snapshot(7, red, NO_GRID), tmp_path / "red.png", title="cifar")
    assert ax.get_title() == "cifar, iteration 7" and not ax.axison
    r, g, b = centre(iio.imread(tmp_path / "red.png")).mean(axis=(0, 1))
    assert r > 200 and g < 60 and b < 60


def test_sample_grid_has_make_grids_layout_and_every_pixel_shows(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    make_grid = pytest.importorskip("torchvision.utils").make_grid
    rng = np.random.default_rng(2)
    for n, channels in ((10, 1), (64, 3)):
        images = rng.integers(0, 256, (n, channels, 8, 6), dtype=np.uint8)
        ours = sample_grid(images)
        theirs = make_grid(torch.from_numpy(images), nrow=int(np.ceil(np.sqrt(n))), padding=GRID_PADDING,
                           pad_value=GRID_PAD_VALUE).numpy().transpose(1, 2, 0)  # grey comes back as 3 channels
        np.testing.assert_array_equal(ours, theirs[..., :channels])
    assert sample_grid(images, 36).shape == (6 * 10 + 2, 6 * 8 + 2, 3)  # a figure cell: the first 36

    # 64 samples of 32 px: the 274-px grid gets at least one screen pixel per image pixel.
    fig, (ax,) = render.frame_figure(IMAGES)
    run = image_run(tmp_path / "run", [3], size=32)
    render_frame(read_reference(run), read_snapshot(list_snapshots(run)[0]), None, ax=ax)
    fig.canvas.draw()
    box = ax.get_window_extent()
    assert ax.images[0].get_array().shape == (8 * 34 + 2, 8 * 34 + 2)
    assert min(box.width, box.height) >= 8 * 34 + 2


def test_reused_figure_draws_what_a_fresh_one_does(tmp_path: Path) -> None:
    # A worker swaps the pixels of one image from frame to frame (and makes a new one when the grid's
    # shape changes); a frame drawn on a fresh figure must be the same, or one frame leaked into the next.
    # (Parallel = serial is test_render's, for the same worker function.)
    run = image_run(tmp_path / "run", [0, 1, 2], channels=3, size=16)
    write_snapshot(run, Snapshot(3, np.zeros((9, 3, 16, 16), np.uint8), NO_GRID))  # a 3 x 3 grid, not 8 x 8
    image_run(tmp_path / "run", [4], channels=3, size=16)
    frames = sorted(render_run(run, workers=1)["frames"].glob("*.png"))
    reference = read_reference(run)
    for k in (2, 3, 4):
        render_frame(reference, read_snapshot(list_snapshots(run)[k]), tmp_path / f"alone{k}.png")
        np.testing.assert_array_equal(iio.imread(tmp_path / f"alone{k}.png"), iio.imread(frames[k]))


# ----- several runs ---------------------------------------------------------------------------

def test_image_comparison_side_by_side_and_grid(tmp_path: Path) -> None:
    grey = image_run(tmp_path / "digits", [0, 10, 20, 100], channels=1, size=16)
    colour = image_run(tmp_path / "cifar", [0, 10, 100, 1000], channels=3, size=32)
    paths = render_comparison({"ERM": grey, "mixup": colour}, tmp_path / "cmp", workers=1)
    gif = gif_frames(paths["gif"])
    assert gif.shape == (3, IMAGE_FRAME[0], 2 * IMAGE_FRAME[1], 3)  # iterations 0, 10, 100; two frames wide
    one = gif_frames(render_comparison({"ERM": grey}, tmp_path / "one", workers=1)["gif"])
    assert one.shape[1:3] == IMAGE_FRAME

    # figure5.png: a row per run, a column per paper iteration reached (10 and 100 for both runs).
    two_rows = iio.imread(paths["figure5"]).shape[:2]
    one_row = iio.imread(tmp_path / "one" / "figure5.png").shape[:2]  # grey alone: 10 and 100
    short = image_run(tmp_path / "short", [0, 5, 10])  # reaches 10 only
    one_col = iio.imread(render_comparison({"ERM": short}, tmp_path / "short_out", workers=1)["figure5"]).shape[:2]
    panel = two_rows[0] - one_row[0]
    assert panel == pytest.approx(90 * (IMAGES.compare_cell.inches + 0.08), abs=1)  # one more row of cells
    assert one_row[1] == two_rows[1] and one_col[0] == one_row[0]
    assert one_row[1] - one_col[1] == pytest.approx(panel, abs=1)  # 10, 100 vs 10: one more column


def test_render_figure5_draws_image_runs(tmp_path: Path) -> None:
    paper = [0, 10, 100]
    runs = {(dataset, objective): image_run(tmp_path / f"{dataset}-{objective}", paper, channels=c)
            for dataset, c in (("digits", 1), ("cifar", 3)) for objective in ("ERM GAN", "mixup GAN")}
    height, width = iio.imread(render_figure5(runs, tmp_path / "fig5.png")).shape[:2]
    h1, w1 = iio.imread(render_figure5({k: v for k, v in runs.items() if k[0] == "digits"}, tmp_path / "d.png")).shape[:2]
    assert w1 == width and height - h1 > 200  # one more dataset: one more row of 216-px cells
    assert width > 4 * 216  # 2 objectives x 2 iterations


def test_points_and_images_do_not_mix(tmp_path: Path) -> None:
    points = point_run(tmp_path / "points", [0, 10])
    images = image_run(tmp_path / "images", [0, 10])
    with pytest.raises(RenderError, match=r"runs of toy and images.*'toy' \(toy\).*'mnist' \(images\)"):
        render_comparison({"toy": points, "mnist": images}, tmp_path / "cmp")
    with pytest.raises(ValueError, match="runs of toy and images"):
        render_figure5({("ring8", "ERM"): points, ("mnist", "ERM"): images}, tmp_path / "f.png")
    with pytest.raises(RenderError, match="expected images"):
        render_frame(read_reference(images), Snapshot(3, np.zeros((5, 2), np.float32), NO_GRID), tmp_path / "x.png")
    odd = Reference(np.zeros((1, 2), np.float32), np.zeros((0, 2), np.float32), 1.0, np.zeros(0, np.float32), modality="audio")
    with pytest.raises(RenderError, match="unknown modality 'audio'"):
        render_frame(odd, Snapshot(0, np.zeros((1, 2), np.float32), NO_GRID), tmp_path / "y.png")


@pytest.mark.parametrize("recorded", [{}, {"kind": np.str_("points")}], ids=["before-images", "kind-points"])
def test_an_old_reference_renders_as_toy(tmp_path: Path, recorded: dict[str, Any]) -> None:
    run = point_run(tmp_path / "old", [0, 10])
    ref = read_reference(run)
    # The reference.npz of a run written before image runs existed (no modality recorded), or before
    # the toy modality had its name (``kind="points"``).
    np.savez(run / "snapshots" / "reference.npz", real=ref.real, modes=ref.modes, extent=np.float64(ref.extent),
             grid_axis=ref.grid_axis, std=np.float64(np.nan), **recorded)
    assert read_reference(run).modality == "toy"
    assert gif_frames(render_run(run, workers=1)["gif"]).shape == (2, *POINT_FRAME, 3)


# ----- damaged files --------------------------------------------------------------------------

def messages(caught: Any) -> list[str]:
    """The GanMixupWarning messages among the warnings ``pytest.warns`` caught."""
    return [str(w.message) for w in caught if issubclass(w.category, GanMixupWarning)]


@pytest.mark.parametrize("kind,how", [("points", "truncated"), ("images", "truncated"), ("images", "empty"),
                                      ("points", "garbage")])
def test_damaged_snapshot_is_skipped_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str,
                                                    how: str) -> None:
    make = image_run if kind == "images" else point_run
    run = make(tmp_path / "run", [0, 10, 20, 30])
    bad = list_snapshots(run)[1]
    damage(bad, how)
    with pytest.warns(GanMixupWarning) as caught:
        paths = render_run(run, workers=1)
    assert gif_frames(paths["gif"]).shape[0] == 3
    # The frames stay numbered without a gap.
    assert [f.name for f in sorted(paths["frames"].glob("*.png"))] == [f"frame_{i:04d}.png" for i in range(3)]
    warnings = messages(caught)
    assert len(warnings) == 1 and str(bad) in warnings[0] and "damaged" in warnings[0]

    for snapshot_file in list_snapshots(run):
        damage(snapshot_file, how)
    with pytest.raises(SnapshotError, match=r"has no readable snapshot: 4 damaged") as err:
        render_run(run, workers=1)
    assert "it_00000000.npz" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("kind", ["points", "images"])
def test_damaged_reference_is_an_error_naming_it(tmp_path: Path, kind: str) -> None:
    run = (image_run if kind == "images" else point_run)(tmp_path / "run", [0, 10])
    damage(run / "snapshots" / "reference.npz", "truncated")
    with pytest.raises(SnapshotError, match="reference.npz is damaged"):
        render_run(run, workers=1)
    with pytest.raises(SnapshotError, match="reference.npz is damaged"):
        render_comparison({"a": run}, tmp_path / "cmp", workers=1)


def test_wrong_samples_in_an_image_run_count_as_damaged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = image_run(tmp_path / "run", [0, 10])
    write_snapshot(run, Snapshot(5, np.zeros((64, 2), np.float32), NO_GRID))  # points in an image run
    with pytest.warns(GanMixupWarning) as caught:
        assert gif_frames(render_run(run, workers=1)["gif"]).shape[0] == 2
    assert any("it_00000005.npz" in message for message in messages(caught))


def test_comparison_skips_damaged_iterations_and_blanks_their_cells(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    a = image_run(tmp_path / "a", [0, 10, 100], channels=3)
    b = image_run(tmp_path / "b", [0, 10, 100], channels=3)
    damage(b / "snapshots" / "it_00000010.npz", "truncated")
    with pytest.warns(GanMixupWarning) as caught:
        paths = render_comparison({"a": a, "b": b}, tmp_path / "cmp", workers=1)
    assert gif_frames(paths["gif"]).shape[0] == 2  # iteration 10 left out
    err = messages(caught)
    assert len(err) == 2 and all("it_00000010.npz" in line for line in err)  # the GIF's and the grid cell's
    assert "figure cell" in err[1]
    # The grid keeps its two columns (10 and 100), the damaged cell left blank.
    assert iio.imread(paths["figure5"]).shape[:2] == iio.imread(
        render_comparison({"a": a, "c": a}, tmp_path / "ok", workers=1)["figure5"]).shape[:2]
