"""Run-directory safety and collections: safe --overwrite, the run lock, compare and figure5
resumes, checkpoint fallbacks, the snapshot schedule, library errors and toy_data's refusals (the
training loop's own tests are under tests/training/, the CLI's errors in tests/test_cli.py).

Every training is tiny (width 16, 12 iterations). A real process is started only where one is the
point (another process holding the lock).
"""
from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cli_helpers import QUIET, TINY_FLAGS as TINY, assert_state_dicts_equal, load_checkpoint_file as load, one_error_line
from cli_helpers import run_cli, subprocess_env
from conftest import make_tiny_config, read_metrics_file
from gan_mixup.cli import EXIT_INTERRUPTED
from gan_mixup.config import RunConfig
from gan_mixup.errors import GanMixupError
from gan_mixup.objectives import (
    HingeGAN,
    LSGAN,
    WGANGP,
    MixupGAN,
    ObjectiveError,
    StandardGAN,
    logits_of,
)
from gan_mixup.rundir import (
    LOCK_FILE,
    MARKER_FILE,
    PAPER_ITERATIONS,
    RunLockedError,
    dense_schedule,
    locked,
    snapshot_schedule,
)
from gan_mixup.training.loop import train
from toy_data import DATASETS, get_dataset, grid25, ring8

experiments_module = importlib.import_module("gan_mixup.experiments")



# ----- helpers -------------------------------------------------------------------------------------

def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes (to prove a refused command touched nothing)."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(Path(path).rglob("*")) if p.is_file()}


# ----- 4. --overwrite safety ------------------------------------------------------------------------

def test_overwrite_refuses_an_unmarked_folder_with_a_config(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text('{"my": "own config"}\n')
    (folder / "data.csv").write_text("1,2,3\n")
    before = tree(folder)
    code, _, stderr = run_cli(["toy", "--out", folder, "--overwrite", *TINY, *QUIET])
    one_error_line(code, stderr, "refusing", MARKER_FILE)
    assert tree(folder) == before


@pytest.fixture
def marked_run(tmp_path) -> Path:
    run = tmp_path / "run"
    train(make_tiny_config(checkpoint_every=5), run)
    assert (run / MARKER_FILE).is_file()
    return run


def test_overwrite_refuses_the_current_directory(marked_run, monkeypatch):
    before = tree(marked_run)
    monkeypatch.chdir(marked_run)
    code, _, stderr = run_cli(["toy", "--out", ".", "--overwrite", *TINY, *QUIET])
    one_error_line(code, stderr, "current directory")
    assert tree(marked_run) == before


@pytest.mark.parametrize("out", ["..", "absolute"])
def test_overwrite_refuses_a_parent_of_the_current_directory(out, marked_run, monkeypatch):
    before = tree(marked_run)
    monkeypatch.chdir(marked_run / "snapshots")
    target = str(marked_run) if out == "absolute" else out
    code, _, stderr = run_cli(["toy", "--out", target, "--overwrite", *TINY, *QUIET])
    one_error_line(code, stderr, "parents")
    assert tree(marked_run) == before


def test_overwrite_removes_only_gan_mixups_files(marked_run):
    (marked_run / "notes.txt").write_text("my notes\n")
    (marked_run / "mine").mkdir()
    (marked_run / "mine" / "data.txt").write_text("keep me\n")
    assert (marked_run / "checkpoint.prev.pt").is_file() and (marked_run / "snapshots" / "it_00000012.npz").is_file()
    code, _, stderr = run_cli(["toy", "--out", marked_run, "--overwrite", *TINY, "--iterations", "8", *QUIET])
    assert code == 0, stderr
    assert (marked_run / "notes.txt").read_text() == "my notes\n"
    assert (marked_run / "mine" / "data.txt").read_text() == "keep me\n"
    assert load(marked_run / "checkpoint.pt")["iteration"] == 8
    assert not (marked_run / "checkpoint.prev.pt").exists(), "the old run's previous checkpoint is gone"
    assert not (marked_run / "snapshots" / "it_00000012.npz").exists(), "the old run's snapshots are gone"
    assert max(r["iteration"] for r in read_metrics_file(marked_run)) == 8
    assert (marked_run / MARKER_FILE).is_file() and not (marked_run / LOCK_FILE).exists()


# ----- 6. the run lock ------------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from gan_mixup.rundir import locked
with locked(Path(sys.argv[1])):
    print("ready", flush=True)
    time.sleep(120)
"""


def test_a_locked_run_is_refused_naming_the_holder_and_freed_by_its_death(tmp_path):
    run = tmp_path / "run"
    train(make_tiny_config(), run)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run)], cwd=tmp_path, env=subprocess_env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        before = tree(run)
        assert f"process {holder.pid} " in before[LOCK_FILE].decode()
        for flags in (["--resume", run, "--iterations", "16"], ["--out", run, "--overwrite", *TINY]):
            code, _, stderr = run_cli(["toy", *flags, *QUIET])
            one_error_line(code, stderr, f"process {holder.pid}", "in use")
            assert tree(run) == before
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert holder.returncode == -signal.SIGKILL
    assert (run / LOCK_FILE).exists(), "kill -9 left the lock file behind: the kernel lock is what counts"
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", "16", *QUIET])
    assert code == 0, stderr
    assert load(run / "checkpoint.pt")["iteration"] == 16
    assert not (run / LOCK_FILE).exists()


def test_no_lock_file_remains_after_a_run(tmp_path):
    run = tmp_path / "run"
    train(make_tiny_config(), run)
    assert not (run / LOCK_FILE).exists()
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", "14", *QUIET])
    assert code == 0, stderr
    assert not (run / LOCK_FILE).exists()
    code, _, stderr = run_cli(["toy", "--out", run, *TINY, *QUIET])  # refused: exists
    one_error_line(code, stderr, "--overwrite")
    assert not (run / LOCK_FILE).exists()


def test_nested_lock_in_one_process_is_refused(tmp_path):
    run = tmp_path / "run"
    with locked(run):
        assert (run / LOCK_FILE).is_file()
        with pytest.raises(RunLockedError) as info:
            with locked(run):
                pytest.fail("a second lock on the same run directory was granted")
        assert f"process {os.getpid()} " in str(info.value)
        assert isinstance(info.value, GanMixupError)
        with pytest.raises(RunLockedError):  # the refused attempt did not release the first lock
            with locked(run):
                pass
        with pytest.raises(RunLockedError):
            train(make_tiny_config(), run)
    assert not run.exists(), "a directory created by the lock that stayed empty is removed"
    with locked(run):  # free again
        pass


# ----- 9. compare and figure5 -----------------------------------------------------------------------

@pytest.fixture
def no_collection_render(monkeypatch):
    """Rendering a collection takes seconds and is not what these tests are about."""
    monkeypatch.setattr(experiments_module, "render_run", lambda run_dir, **kw: {})
    monkeypatch.setattr(experiments_module, "render_comparison", lambda runs, out_dir, **kw: {})


def test_compare_resume_finishes_a_member_without_checkpoint_and_one_never_started(
        tmp_path, monkeypatch, no_collection_render):
    out = tmp_path / "cmp"
    flags = [*TINY, "--checkpoint-seconds", "0", "--no-progress"]
    real_train = experiments_module.train

    def ctrl_c_at_first_record(config, run_dir, **kwargs):
        def stop(record):
            if record["kind"] == "train":
                raise KeyboardInterrupt
        return real_train(config, run_dir, callbacks=[stop, *kwargs.pop("callbacks", ())], **kwargs)

    monkeypatch.setattr(experiments_module, "train", ctrl_c_at_first_record)
    code, _, stderr = run_cli(["compare", "--out", out, *flags])
    assert code == EXIT_INTERRUPTED, stderr
    assert (out / "erm" / "config.json").is_file() and not (out / "erm" / "checkpoint.pt").exists()
    assert not (out / "mixup").exists()

    monkeypatch.setattr(experiments_module, "train", real_train)
    code, _, stderr = run_cli(["compare", "--out", out, "--resume", *flags])
    assert code == 0, stderr
    for member in ("erm", "mixup"):
        assert load(out / member / "checkpoint.pt")["iteration"] == 12, member
        assert not (out / member / LOCK_FILE).exists()
    assert json.loads((out / "runs.json").read_text())["runs"] == {"erm": "erm", "mixup": "mixup"}
    # erm started again from 0: exactly the run that was never interrupted.
    reference = train(RunConfig.load(out / "erm" / "config.json"), None)
    assert_state_dicts_equal(load(out / "erm" / "checkpoint.pt")["generator"], reference.generator.state_dict())


def test_compare_overwrite_removes_the_old_members(tmp_path, no_collection_render):
    out = tmp_path / "cmp"
    code, _, stderr = run_cli(["compare", "--out", out, *TINY, "--no-progress"])
    assert code == 0, stderr
    assert (out / "erm" / "checkpoint.pt").is_file() and (out / "mixup" / "checkpoint.pt").is_file()
    (out / "notes.txt").write_text("mine\n")
    code, _, stderr = run_cli(["compare", "--out", out, "--objectives", "hinge", "--overwrite", *TINY, "--no-progress"])
    assert code == 0, stderr
    assert not (out / "erm").exists() and not (out / "mixup").exists()
    assert load(out / "hinge" / "checkpoint.pt")["iteration"] == 12
    assert json.loads((out / "runs.json").read_text())["runs"] == {"hinge": "hinge"}
    assert (out / "notes.txt").read_text() == "mine\n"


def test_figure5_resume_into_a_compare_directory_is_refused_untouched(tmp_path, no_collection_render):
    out = tmp_path / "cmp"
    code, _, stderr = run_cli(["compare", "--out", out, *TINY, "--no-progress"])
    assert code == 0, stderr
    before = tree(out)
    code, _, stderr = run_cli(["figure5", "--out", out, "--resume", "--iterations", "12", "--hidden", "16", "--no-progress"])
    one_error_line(code, stderr, "compare")
    assert tree(out) == before


# ----- 10. checkpoint fallbacks ---------------------------------------------------------------------

def test_empty_latest_checkpoint_falls_back_to_the_previous(tmp_path):
    run = tmp_path / "run"
    train(make_tiny_config(iterations=20, checkpoint_every=10), run)
    (run / "checkpoint.pt").write_bytes(b"")
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", "24", *QUIET])
    assert code == 0, stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("gan-mixup: warning:")]
    assert any("checkpoint.pt" in w and "unreadable" in w for w in warnings), stderr
    assert any("previous checkpoint" in w and "checkpoint.prev.pt" in w for w in warnings), stderr
    assert "Traceback" not in stderr
    assert load(run / "checkpoint.pt")["iteration"] == 24
    # Resumed from iteration 10: the train records 12..20 were written again, once each.
    assert [r["iteration"] for r in read_metrics_file(run) if r["kind"] == "train"] == list(range(2, 25, 2))


@pytest.mark.parametrize("damage", ["empty", "garbage"])
def test_both_checkpoints_damaged_is_one_line(damage, tmp_path):
    run = tmp_path / "run"
    train(make_tiny_config(iterations=20, checkpoint_every=10), run)
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        (run / name).write_bytes(b"" if damage == "empty" else b"not a checkpoint\x00\xff" * 10)
    before = tree(run)
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", "24", *QUIET])
    one_error_line(code, stderr, "checkpoint")
    assert tree(run) == before


# ----- 11. the snapshot schedule --------------------------------------------------------------------

def test_paper_schedule_sizes():
    dense = dense_schedule(20000, 200)
    assert len(dense) == len(set(dense)) == 200
    assert dense == sorted(dense) and dense[0] == 1 and dense[-1] == 20000
    full = snapshot_schedule(20000, 200)
    assert len(full) >= 200 and set(dense) <= set(full) and set(PAPER_ITERATIONS) <= set(full)


@settings(max_examples=300, deadline=None)
@given(iterations=st.integers(1, 10**6), frames=st.integers(0, 500))
def test_dense_schedule_property(iterations, frames):
    points = dense_schedule(iterations, frames)
    assert len(points) == min(frames, iterations)
    assert all(isinstance(p, int) for p in points)
    assert all(a < b for a, b in zip(points, points[1:]))
    assert all(1 <= p <= iterations for p in points)
    if frames >= 1:
        assert points[-1] == iterations
    if min(frames, iterations) >= 2:
        assert points[0] == 1
    schedule = snapshot_schedule(iterations, frames)
    assert schedule == sorted(set(schedule)) and schedule[-1] == iterations
    assert set(points) <= set(schedule) and {p for p in PAPER_ITERATIONS if p <= iterations} <= set(schedule)


# ----- 12. library errors ---------------------------------------------------------------------------

OBJECTIVE_FACTORIES = {
    "erm": lambda: StandardGAN(),
    "mixup": lambda: MixupGAN(generator=torch.Generator().manual_seed(0)),
    "wgan-gp": lambda: WGANGP(generator=torch.Generator().manual_seed(0)),
    "hinge": lambda: HingeGAN(),
    "lsgan": lambda: LSGAN(),
}


def test_logits_of_an_empty_batch_raises():
    with pytest.raises(ObjectiveError, match="empty") as info:
        logits_of(nn.Linear(2, 1), torch.zeros(0, 2))
    assert isinstance(info.value, GanMixupError)


@pytest.mark.parametrize("sizes", [(0, 0), (8, 0), (0, 8)], ids=["both-empty", "fake-empty", "real-empty"])
@pytest.mark.parametrize("name", list(OBJECTIVE_FACTORIES))
def test_discriminator_loss_on_an_empty_batch_raises(name, sizes):
    D = nn.Linear(2, 1)
    with pytest.raises(ObjectiveError):
        loss = OBJECTIVE_FACTORIES[name]().discriminator_loss(D, torch.randn(sizes[0], 2), torch.randn(sizes[1], 2))
        pytest.fail(f"{name} returned {loss} for real/fake batches of {sizes}")


@pytest.mark.parametrize("name", list(OBJECTIVE_FACTORIES))
def test_generator_loss_on_an_empty_batch_raises(name):
    with pytest.raises(ObjectiveError):
        OBJECTIVE_FACTORIES[name]().generator_loss(nn.Linear(2, 1), torch.zeros(0, 2), torch.randn(8, 2))


@pytest.mark.parametrize("make", [
    lambda: MixupGAN(alpha=True),
    lambda: MixupGAN(alpha=False),
    lambda: StandardGAN(generator_loss="minimax").generator_loss(nn.Linear(2, 1), torch.randn(8, 2), torch.randn(6, 2)),
    lambda: MixupGAN(generator_loss="minimax").generator_loss(nn.Linear(2, 1), torch.randn(8, 2), torch.randn(6, 2)),
], ids=["alpha-True", "alpha-False", "erm-minimax-sizes", "mixup-minimax-sizes"])
def test_objective_mistakes_raise_objective_error(make):
    with pytest.raises(ObjectiveError) as info:
        make()
    assert isinstance(info.value, GanMixupError)


class FlatD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x):
        return self.linear(x).reshape(-1)


class ConvShapedD(FlatD):
    """Returns (B, 1, 1, 1), as a DCGAN's last convolution does."""

    def forward(self, x):
        return self.linear(x).reshape(-1, 1, 1, 1)


@pytest.mark.parametrize("name", ["mixup", "erm"])
def test_a_conv_shaped_discriminator_gives_the_flat_ones_losses(name):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        flat, conv = FlatD(), ConvShapedD()
        conv.load_state_dict(flat.state_dict())
        real, fake = torch.randn(16, 2), torch.randn(16, 2)
    for kind in ("discriminator", "generator"):
        losses = []
        for D in (flat, conv):
            objective = OBJECTIVE_FACTORIES[name]()
            if kind == "discriminator":
                loss = objective.discriminator_loss(D, real, fake)
            else:
                loss = objective.generator_loss(D, fake, real)
            loss.backward()
            losses.append(loss.detach())
        assert losses[0].shape == losses[1].shape == ()
        assert torch.isfinite(losses[0]) and torch.equal(losses[0], losses[1]), (kind, losses)
    assert torch.allclose(flat.linear.weight.grad, conv.linear.weight.grad, rtol=0, atol=0)
    minimax = StandardGAN(generator_loss="minimax").generator_loss(conv, fake, real)
    assert torch.isfinite(minimax) and minimax.item() < 0


# ----- 15. toy_data -------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [{"n_modes": 2.5}, {"n_modes": 1e9}, {"n_modes": 0}, {"n_modes": float("inf")}],
                         ids=["fraction", "huge", "zero", "inf"])
def test_ring8_rejects_a_bad_mode_count(options):
    with pytest.raises(ValueError, match="n_modes"):
        ring8(**options)


@pytest.mark.parametrize("side", [2.5, 1e9, float("inf")], ids=["fraction", "huge", "inf"])
def test_grid25_rejects_a_bad_side(side):
    with pytest.raises(ValueError, match="side"):
        grid25(side=side)


def test_ring8_mode_count_is_honoured():
    modes = ring8(n_modes=3.0).modes
    assert modes.shape == (3, 2)
    assert torch.allclose(modes.norm(dim=1), torch.ones(3), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", list(DATASETS))
def test_samples_are_drawn_on_the_generators_device_cpu(name):
    dataset = get_dataset(name)
    x = dataset.sample(64, torch.Generator().manual_seed(0))
    assert x.shape == (64, 2) and x.dtype == torch.float32 and x.device.type == "cpu"
    y = dataset.sample(64, torch.Generator().manual_seed(0))
    assert torch.equal(x, y), "the generator alone drives the sampler"
    assert bool(torch.isfinite(x).all()) and 0 < float(x.abs().max()) < 2 * dataset.extent


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", list(DATASETS))
def test_samples_are_drawn_on_the_generators_device_cuda(name):
    dataset = get_dataset(name)
    x = dataset.sample(64, torch.Generator("cuda").manual_seed(0))
    assert x.shape == (64, 2) and x.dtype == torch.float32 and x.device.type == "cuda"
    assert torch.equal(x, dataset.sample(64, torch.Generator("cuda").manual_seed(0)))


def test_overwrite_accepts_a_run_of_the_version_before_markers(tmp_path):
    from gan_mixup.training.loop import train

    run = tmp_path / "old"
    train(make_tiny_config(), run)
    (run / ".gan-mixup-run").unlink()  # as written before runs were marked
    (run / "notes.txt").write_text("mine")
    code, _, stderr = run_cli(["toy", "--out", run, *TINY, "--no-progress", "--no-render", "--overwrite"])
    assert code == 0, stderr
    assert (run / ".gan-mixup-run").is_file() and (run / "notes.txt").read_text() == "mine"
    # A folder with only a config.json (a project's) is still refused.
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.json").write_text('{"dataset": "ring8"}')
    code, _, stderr = run_cli(["toy", "--out", project, *TINY, "--no-progress", "--no-render", "--overwrite"])
    assert code == 2 and "marker" in stderr and (project / "config.json").is_file()
