"""render.py: frames, GIFs, comparisons and Figure 5, drawn from run directories on disk.

Two sorts of runs: tiny trained runs (``gan_mixup.train``, 40 iterations, hidden 16), and synthetic
run directories written with ``gan_mixup.rundir`` when a test needs iterations a tiny run does
not reach (the paper's 100, 1000, ...) or samples no training would give (NaN, far outside).
"""
from __future__ import annotations

import ast
import errno
import json
import shutil
import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_tiny_config
from gan_mixup import RunConfig, train
from gan_mixup import render
from gan_mixup.modalities.toy.spec import SPEC as TOY
from gan_mixup.errors import GanMixupError
from gan_mixup.experiments import render_any
from gan_mixup.render import (
    NothingToRenderError,
    RenderError,
    RenderWarning,
    common_iterations,
    figure_iterations,
    load_losses,
    plot_losses,
    render_comparison,
    render_figure5,
    render_frame,
    render_run,
)
from gan_mixup.rundir import (
    Reference,
    RunLockedError,
    Snapshot,
    list_snapshots,
    locked,
    read_reference,
    read_snapshot,
    read_snapshots,
    render_locked,
    write_reference,
    write_snapshot,
)

TINY = dict(iterations=40, hidden=16, snapshot_frames=8, fixed_samples=200, grid_size=24, log_every=5)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny trained runs, same seed: mixup and ERM. Tests that change a run copy it first."""
    root = tmp_path_factory.mktemp("runs")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 16-unit nets: thread hand-offs cost more than they save
    try:
        out = {}
        for objective in ("mixup", "erm"):
            train(RunConfig(objective=objective, **TINY), root / objective)
            out[objective] = root / objective
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture
def run_copy(runs: dict[str, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(runs["mixup"], tmp_path / "run"))


def fake_run(path: Path, iterations: list[int], *, extent: float = 1.5, modes: np.ndarray | None = None,
             fake: dict[int, np.ndarray] | None = None, n: int = 100, grid: int = 16) -> Path:
    """A run directory written directly in the snapshot format: no training, any iterations."""
    rng = np.random.default_rng(0)
    modes = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], np.float32) if modes is None else modes
    axis = np.linspace(-extent, extent, grid, dtype=np.float32)
    real = rng.normal(scale=0.5, size=(n, 2)).astype(np.float32)
    write_reference(path, Reference(real, modes, extent, axis, 0.01))
    for it in iterations:
        samples = (fake or {}).get(it, rng.normal(scale=0.3, size=(n, 2)).astype(np.float32))
        d_grid = 1 / (1 + np.exp(-(axis[None, :] + axis[:, None] * (it % 3)))).astype(np.float32)
        write_snapshot(path, Snapshot(it, samples, d_grid))
    (path / "config.json").write_text("{}")
    return path


def png_size(path: Path) -> tuple[int, int]:
    height, width = iio.imread(path).shape[:2]
    return height, width


# ----- render_run -----------------------------------------------------------------------------

def test_render_run_writes_one_gif_frame_per_snapshot(run_copy: Path) -> None:
    stale = run_copy / "frames" / "frame_9999.png"
    stale.parent.mkdir()
    stale.write_bytes(b"left over from a longer run")
    paths = render_run(run_copy, fps=5, workers=1)

    n_snapshots = len(list_snapshots(run_copy))
    assert n_snapshots >= 8  # iteration 0, the dense schedule, 10 and 40
    frames = sorted(paths["frames"].glob("frame_*.png"))
    assert [f.name for f in frames] == [f"frame_{i:04d}.png" for i in range(n_snapshots)]  # stale one removed
    assert {iio.imread(f).shape for f in frames} == {(320, 320, 4)}

    gif = iio.imread(paths["gif"], index=None)
    assert paths["gif"] == run_copy / "training.gif"
    assert gif.shape[0] == n_snapshots
    assert gif.shape[1:3] == (320, 320)
    meta = [iio.immeta(paths["gif"], index=i) for i in range(n_snapshots)]
    assert meta[0]["loop"] == 0  # loops forever
    assert meta[0]["duration"] == 200  # 5 fps
    assert meta[-1]["duration"] == 2000  # the last frame is held
    assert paths["losses"] == run_copy / "losses.png" and paths["losses"].stat().st_size > 0


def test_render_run_needs_only_the_snapshots(run_copy: Path) -> None:
    for name in ("checkpoint.pt", "checkpoint.prev.pt", "metrics.jsonl", "config.json"):
        (run_copy / name).unlink(missing_ok=True)
    paths = render_run(run_copy, workers=1)
    assert iio.imread(paths["gif"], index=None).shape[0] == len(list_snapshots(run_copy))
    assert "losses" not in paths  # no metrics.jsonl: no loss plot, and no error


def test_render_module_imports_no_torch_model_code() -> None:
    imported = set()
    for module in Path(render.__file__).parent.glob("*.py"):
        tree = ast.parse(module.read_text())
        imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    ours = {name for name in imported if name.split(".")[0] in {"gan_mixup", "torch", "toy_data"}}
    assert ours - {m for m in ours if m.startswith("gan_mixup.render")} <= {"gan_mixup.rundir", "gan_mixup.errors", "gan_mixup.modalities", "gan_mixup.pool"}, ours


def test_parallel_frames_equal_serial_and_standalone_frames(runs: dict[str, Path], tmp_path: Path) -> None:
    serial = render_run(shutil.copytree(runs["mixup"], tmp_path / "serial"), workers=1)
    parallel = render_run(shutil.copytree(runs["mixup"], tmp_path / "parallel"), workers=2)
    serial_frames = sorted(serial["frames"].glob("*.png"))
    parallel_frames = sorted(parallel["frames"].glob("*.png"))
    assert len(serial_frames) == len(parallel_frames) == len(list_snapshots(runs["mixup"]))
    for a, b in zip(serial_frames, parallel_frames):
        np.testing.assert_array_equal(iio.imread(a), iio.imread(b))
    # Workers reuse one figure for many frames; a frame drawn on a fresh figure must match, or
    # something of the previous frame leaked into the next.
    reference = read_reference(runs["mixup"])
    last = list_snapshots(runs["mixup"])[-1]
    render_frame(reference, read_snapshot(last), tmp_path / "alone.png")
    np.testing.assert_array_equal(iio.imread(tmp_path / "alone.png"), iio.imread(serial_frames[-1]))


# ----- render_frame ---------------------------------------------------------------------------

def test_axes_stay_fixed_whatever_the_samples(tmp_path: Path) -> None:
    far = np.array([[50.0, -80.0], [0.0, 0.0], [1e6, 1e6]], np.float32)
    near = np.full((3, 2), 0.01, np.float32)
    run = fake_run(tmp_path / "run", [0, 1], extent=2.0, fake={0: far, 1: near})
    reference = read_reference(run)
    boxes = []
    for i, snapshot_file in enumerate(list_snapshots(run)):
        ax = render_frame(reference, read_snapshot(snapshot_file), tmp_path / f"f{i}.png")
        assert ax.get_xlim() == (-2.0, 2.0) and ax.get_ylim() == (-2.0, 2.0)
        assert ax.get_aspect() == 1.0
        boxes.append(tuple(ax.get_window_extent().bounds))
        assert ax.get_title() == f"iteration {i}"
    assert boxes[0] == boxes[1]  # the plot area sits on the same pixels in every frame
    assert png_size(tmp_path / "f0.png") == png_size(tmp_path / "f1.png")


def test_non_finite_samples_are_dropped_and_counted(tmp_path: Path) -> None:
    fake = np.random.default_rng(1).normal(size=(50, 2)).astype(np.float32)
    fake[[3, 7, 9]] = [[np.nan, 0.0], [np.inf, 1.0], [-np.inf, np.nan]]
    run = fake_run(tmp_path / "run", [0, 5], fake={5: fake})
    broken = read_snapshot(list_snapshots(run)[-1])
    nan_d = Snapshot(5, np.full((50, 2), np.nan, np.float32), np.full_like(broken.d_grid, np.nan))
    write_snapshot(run, nan_d)  # a fully diverged G and D: nothing finite to draw

    ax = render_frame(read_reference(run), Snapshot(5, fake, broken.d_grid), tmp_path / "f.png", title="mixup")
    assert ax.get_title() == "mixup, iteration 5\n(3 non-finite samples dropped)"
    assert "(50 non-finite samples dropped)" in render_frame(read_reference(run), nan_d, tmp_path / "g.png").get_title()
    assert iio.imread(render_run(run, workers=1)["gif"], index=None).shape[0] == 2


def test_render_frame_into_a_given_axes_writes_nothing(tmp_path: Path) -> None:
    run = fake_run(tmp_path / "run", [3])
    fig, (ax,) = render.frame_figure(TOY)
    assert render_frame(read_reference(run), read_snapshot(list_snapshots(run)[0]), None, ax=ax) is ax
    assert ax.get_title() == "iteration 3"
    assert not list(tmp_path.glob("*.png"))
    with pytest.raises(ValueError, match="path"):
        render_frame(read_reference(run), read_snapshot(list_snapshots(run)[0]), None)


# ----- several runs ---------------------------------------------------------------------------

def test_render_comparison_uses_common_iterations(runs: dict[str, Path], tmp_path: Path) -> None:
    paths = render_comparison({"mixup": runs["mixup"], "ERM": runs["erm"]}, tmp_path / "cmp", fps=4)
    n = len(list_snapshots(runs["mixup"]))
    assert n == len(list_snapshots(runs["erm"]))  # one config but the objective: one schedule
    gif = iio.imread(paths["gif"], index=None)
    assert paths["gif"] == tmp_path / "cmp" / "comparison.gif" and gif.shape[0] == n
    assert gif.shape[2] > 1.8 * gif.shape[1]  # two panels side by side
    assert paths["figure5"] == tmp_path / "cmp" / "figure5.png" and paths["figure5"].is_file()

    a = fake_run(tmp_path / "a", [0, 10, 20])
    b = fake_run(tmp_path / "b", [0, 10, 30])
    paths = render_comparison({"a": a, "b": b}, tmp_path / "ab")
    assert iio.imread(paths["gif"], index=None).shape[0] == 2  # iterations 0 and 10 only


def test_comparison_grid_has_one_row_per_run_and_one_column_per_paper_iteration(tmp_path: Path) -> None:
    short = fake_run(tmp_path / "short", [0, 5, 10])  # reaches the paper's 10 only
    long = [fake_run(tmp_path / f"long{k}", [0, 10, 50, 100, 1000, 1500]) for k in range(3)]
    sizes = {}
    for rows in (1, 2, 3):
        out = render_comparison({f"run {k}": d for k, d in enumerate(long[:rows])}, tmp_path / f"rows{rows}")
        sizes[rows] = png_size(out["figure5"])
    one_col = png_size(render_comparison({"short": short}, tmp_path / "short_out")["figure5"])

    (h1, w3), (h2, w3b), (h3, w3c) = sizes[1], sizes[2], sizes[3]
    step = h2 - h1
    assert step > 100  # a row is a panel, not a few pixels of text
    assert h3 - h2 == pytest.approx(step, abs=1)  # each run adds exactly one row
    assert w3 == w3b == w3c  # and no column
    assert one_col[0] == h1  # one run: one row either way
    assert w3 - one_col[1] == pytest.approx(3 * step, abs=2)  # 10, 100, 1000, 1500 vs 10 alone: three more columns


def test_figure_iterations() -> None:
    assert figure_iterations([0, 10, 50, 100, 1000, 1500]) == [10, 100, 1000, 1500]  # ends on the last state
    assert figure_iterations([0, 10, 50, 100, 1000]) == [10, 100, 1000]
    assert figure_iterations(list(range(0, 20001, 10))) == [10, 100, 1000, 10000, 20000]
    assert figure_iterations([0, 1, 7]) == [7]  # none of the paper's reached: the last common one
    with pytest.raises(ValueError):
        figure_iterations([])


def test_render_figure5_layout(tmp_path: Path) -> None:
    paper = [0, 10, 100, 1000, 10000, 20000]
    grid = np.array([[x, y] for x in np.linspace(-1, 1, 5) for y in np.linspace(-1, 1, 5)], np.float32)
    ring = np.array([[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)], np.float32)
    objectives = ("ERM GAN", "mixup GAN (α = 0.2)")
    runs = {(dataset, objective): fake_run(tmp_path / f"{dataset}-{k}", paper, modes=modes, n=1000, grid=8)
            for dataset, modes in (("grid25", grid), ("ring8", ring)) for k, objective in enumerate(objectives)}

    full = render_figure5(runs, tmp_path / "fig5.png")
    assert full == tmp_path / "fig5.png"
    assert full.stat().st_size < 500_000
    height, width = png_size(full)

    one_dataset = {key: d for key, d in runs.items() if key[0] == "ring8"}
    one_objective = {key: d for key, d in runs.items() if key[1] == "ERM GAN"}
    h_one_row, w_same = png_size(render_figure5(one_dataset, tmp_path / "ring.png"))
    h_same, w_half = png_size(render_figure5(one_objective, tmp_path / "erm.png"))
    row = height - h_one_row  # one dataset = one row of panels
    assert w_same == width and h_same == height
    assert row > 60
    # the other objective's block: five more panel columns, plus the gap that separates the halves
    assert width - w_half > 5 * row
    assert width > 4 * height  # 2 rows x 10 columns

    with pytest.raises(ValueError, match="missing"):
        render_figure5({key: d for key, d in runs.items() if key != ("ring8", "ERM GAN")}, tmp_path / "x.png")


# ----- errors ---------------------------------------------------------------------------------

def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="reference.npz"):
        render_run(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a gan-mixup run directory"):
        render_run(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="reference.npz"):
        render_comparison({"x": tmp_path / "empty"}, tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="metrics.jsonl"):
        load_losses(tmp_path / "empty")


def test_run_without_snapshots(tmp_path: Path) -> None:
    run = fake_run(tmp_path / "run", [])
    with pytest.raises(ValueError, match="has no snapshots"):
        render_run(run)
    with pytest.raises(ValueError, match="has no snapshots"):
        render_figure5({("ring8", "ERM GAN"): run}, tmp_path / "f.png")


def test_a_run_stopped_before_its_first_snapshot_has_nothing_to_render(tmp_path: Path) -> None:
    only_config = tmp_path / "only-config"  # killed while setting up: config.json, maybe metrics.jsonl
    only_config.mkdir()
    (only_config / "config.json").write_text(RunConfig(**TINY).to_json())
    (only_config / "metrics.jsonl").write_text("")
    with_reference = fake_run(tmp_path / "with-reference", [])  # reference.npz, no it_*.npz
    for run in (only_config, with_reference):
        before = sorted(p.name for p in run.rglob("*"))
        for call in (render_run, render_any):
            with pytest.raises(NothingToRenderError, match="nothing to render yet") as info:
                call(run)
            assert str(run) in str(info.value) and "--resume" in str(info.value) and "\n" not in str(info.value)
            assert isinstance(info.value, GanMixupError)
        assert sorted(p.name for p in run.rglob("*")) == before  # no frames folder, no lock file left


def test_runs_sharing_no_iteration_are_a_render_error(tmp_path: Path) -> None:
    a, b = fake_run(tmp_path / "a", [1, 2]), fake_run(tmp_path / "b", [3, 4])
    with pytest.raises(RenderError, match="share no snapshot iteration"):
        common_iterations([a, b])
    with pytest.raises(RenderError, match="share no snapshot iteration"):
        render_comparison({"a": a, "b": b}, tmp_path / "out", workers=1)


@pytest.mark.parametrize("options, keyword", [
    ({"fps": 0}, "fps"), ({"fps": -5}, "fps"), ({"fps": float("nan")}, "fps"),
    ({"workers": 0}, "workers"), ({"workers": -1}, "workers"),
    ({"max_frames": 1}, "max_frames"), ({"max_frames": 0}, "max_frames"),
])
def test_bad_render_options_are_render_errors_before_anything_is_written(run_copy: Path, tmp_path: Path,
                                                                        options: dict, keyword: str) -> None:
    render_run(run_copy, workers=1)
    before = {p: p.read_bytes() for p in sorted(run_copy.rglob("*")) if p.is_file()}
    for call in (lambda: render_run(run_copy, **options), lambda: render_any(run_copy, **options),
                 lambda: render_comparison({"a": run_copy}, tmp_path / "cmp", **options)):
        with pytest.raises(RenderError, match=keyword) as info:
            call()
        assert isinstance(info.value, GanMixupError) and isinstance(info.value, ValueError)
    after = {p: p.read_bytes() for p in sorted(run_copy.rglob("*")) if p.is_file()}
    assert after == before  # workers=0 used to clear the old frames before it was refused
    assert not (tmp_path / "cmp").exists()


def test_a_second_render_of_a_run_is_refused_while_one_holds_it(run_copy: Path) -> None:
    render_run(run_copy, workers=1)
    before = {p: p.read_bytes() for p in sorted(run_copy.rglob("*")) if p.is_file()}
    with render_locked(run_copy):  # another process's render, as the kernel sees it: a second flock
        with pytest.raises(RunLockedError, match="another render of .* is running") as info:
            render_run(run_copy, workers=1)
        assert "wait for it" in str(info.value) and "\n" not in str(info.value)
        with pytest.raises(RunLockedError, match="another render"):
            render_any(run_copy, workers=1)
    assert {p: p.read_bytes() for p in sorted(run_copy.rglob("*")) if p.is_file()} == before
    with locked(run_copy):  # training's lock: a run that trains can still be rendered
        assert render_run(run_copy, workers=1)["gif"].is_file()
    assert not (run_copy / ".render.lock").exists()


def test_a_failed_gif_write_keeps_the_old_gif_and_leaves_no_temporary_file(run_copy: Path, monkeypatch) -> None:
    old = render_run(run_copy, workers=1)["gif"].read_bytes()
    save = Image.Image.save

    def disk_full(self, fp, *args, **kwargs):
        if kwargs.get("format") != "GIF":  # the frames (PNG through Pillow too) are written as usual
            return save(self, fp, *args, **kwargs)
        Path(fp).write_bytes(b"half a GIF")
        raise OSError(errno.ENOSPC, "No space left on device", str(fp))

    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        render_run(run_copy, workers=1)
    assert len(list((run_copy / "frames").glob("frame_*.png"))) == len(list_snapshots(run_copy))  # it got to the GIF
    assert (run_copy / "training.gif").read_bytes() == old
    assert not [p for p in run_copy.rglob("*") if p.name.endswith(".tmp")]
    assert not (run_copy / ".render.lock").exists()


def _collection(path: Path, dir_type: str, members: dict[str, str]) -> Path:
    path.mkdir()
    (path / "runs.json").write_text(json.dumps({"dir_type": dir_type, "runs": members}))
    return path


def test_a_compare_folder_renders_the_members_that_have_snapshots(runs: dict[str, Path], tmp_path: Path) -> None:
    folder = _collection(tmp_path / "cmp", "compare", {"mixup": "mixup", "erm": "erm", "r1": "erm_r1"})
    shutil.copytree(runs["mixup"], folder / "mixup")
    fake_run(folder / "erm", [])  # killed before its first snapshot; erm_r1 never started
    with pytest.warns(RenderWarning) as caught:
        outputs = render_any(folder, workers=1)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert "'erm' is left out" in messages[0] and "has no snapshots" in messages[0]
    assert "'r1' is left out" in messages[1] and "was not trained" in messages[1]
    assert outputs["gif"] == folder / "comparison.gif" and "mixup_gif" in outputs
    assert iio.imread(outputs["figure5"]).shape[0] < 300  # one row (mixup) of 1.9-inch panels at 90 dpi, not two
    assert not (folder / "erm" / "frames").exists()


def test_a_compare_folder_with_nothing_to_render_is_one_error(tmp_path: Path) -> None:
    folder = _collection(tmp_path / "cmp", "compare", {"erm": "erm", "mixup": "mixup"})
    fake_run(folder / "erm", [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warnings before the error: it says it all
        with pytest.raises(NothingToRenderError, match="no run of .* has a snapshot") as info:
            render_any(folder)
    assert "erm" in str(info.value) and "\n" not in str(info.value)
    (folder / "runs.json").write_text('{"dir_type": "compare", "runs": ')
    with pytest.raises(RenderError, match="runs.json is damaged"):
        render_any(folder)


def test_a_figure5_folder_leaves_out_a_dataset_with_a_run_missing(tmp_path: Path) -> None:
    members = {"grid25/ERM GAN": "grid25-erm", "grid25/mixup GAN": "grid25-mixup",
               "ring8/ERM GAN": "ring8-erm", "ring8/mixup GAN": "ring8-mixup"}
    folder = _collection(tmp_path / "f5", "figure5", members)
    for label, sub in members.items():
        fake_run(folder / sub, [] if label == "ring8/mixup GAN" else [1, 10])
    with pytest.warns(RenderWarning) as caught:
        outputs = render_any(folder, workers=1)
    messages = [str(w.message) for w in caught]
    assert any("'ring8/mixup GAN' is left out" in m for m in messages)
    assert any("'ring8' is left out of" in m and "figure5.png" in m for m in messages)
    assert "grid25_gif" in outputs and "ring8_gif" not in outputs and "ring8/ERM GAN_gif" in outputs
    assert (folder / "figure5.png").is_file() and not (folder / "ring8").exists()


# ----- losses ---------------------------------------------------------------------------------

def test_load_losses_reads_the_train_records(run_copy: Path) -> None:
    lines = (run_copy / "metrics.jsonl").read_text().splitlines()
    train_records = [json.loads(line) for line in lines if json.loads(line)["kind"] == "train"]
    with open(run_copy / "metrics.jsonl", "a") as f:
        f.write('{"kind": "train", "iteration": 45, "d_lo')  # a write cut short by a crash
    losses = load_losses(run_copy)
    assert losses["iteration"].tolist() == [r["iteration"] for r in train_records] == list(range(5, 41, 5))
    np.testing.assert_allclose(losses["d_loss"], [r["d_loss"] for r in train_records])
    np.testing.assert_allclose(losses["g_loss"], [r["g_loss"] for r in train_records])
    assert "lam_mean" in losses  # mixup's statistics come along
    out = plot_losses(run_copy)
    assert out == run_copy / "losses.png" and png_size(out) == (300, 500)


def test_quiver_is_drawn_and_can_be_left_out(tmp_path):
    train(make_tiny_config(iterations=20), tmp_path / "run")
    reference, snapshot = read_reference(tmp_path / "run"), read_snapshots(tmp_path / "run")[-1]
    with_arrows = render_frame(reference, snapshot, tmp_path / "a.png")
    without = render_frame(reference, snapshot, tmp_path / "b.png", quiver=False)
    from matplotlib.quiver import Quiver

    assert any(isinstance(c, Quiver) for c in with_arrows.collections)
    assert not any(isinstance(c, Quiver) for c in without.collections)
