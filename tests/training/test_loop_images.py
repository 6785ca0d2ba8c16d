"""Image GANs through the one trainer: every objective on 1- and 3-channel digits, kill -9 and resume
bit-identically, recording that never changes training, D's separate forwards for BatchNorm, a conv D
returning ``(B, 1, 1, 1)``, a short mixup run that really learns, the ``images`` / ``compare`` /
``render`` commands, and G's EMA.

Every run is tiny (16 px, width 8, a handful of iterations) except the one learning check.
"""
from __future__ import annotations

import copy
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cli_helpers import run_cli, subprocess_env, load_checkpoint_file as load
from conftest import assert_same, read_metrics_file
from gan_mixup import precision
from gan_mixup.config import RunConfig
from gan_mixup.modalities.images.data import images_to_uint8
from gan_mixup.objectives import (
    HingeGAN,
    LSGAN,
    MixupGAN,
    ObjectiveError,
    StandardGAN,
    WGANGP,
    has_batch_statistics,
)
from gan_mixup.rundir import read_reference, read_snapshot, read_snapshots, snapshot_path, snapshot_schedule
from gan_mixup.training.state import build_state
from gan_mixup.training.process import flush_denormals
from gan_mixup.training.recorder import take_snapshot
from gan_mixup.training.schedule import metric_schedule
from gan_mixup.training.loop import train
from gan_mixup.training.step import train_step, update_ema

TINY: dict[str, Any] = dict(
    dataset="digits", image_size=16, hidden=8, latent_dim=8, batch_size=16, iterations=6, snapshot_frames=3,
    fixed_samples=16, metric_samples=64, metric_frames=2, log_every=2, checkpoint_every=1000, checkpoint_seconds=0,
)
TINY_FLAGS = ["--image-size", "16", "--hidden", "8", "--nz", "8", "--batch-size", "16", "--snapshot-frames", "3",
              "--fixed-samples", "16", "--metric-samples", "64", "--metric-frames", "2", "--log-every", "2"]
OBJECTIVE_NAMES = ["erm", "mixup", "wgan-gp", "hinge", "lsgan", "manifold-mixup", "cutmix", "r3gan"]
CHANNELS = {"digits": 1, "stacked-digits": 3}


def tiny(**changes: Any) -> RunConfig:
    return RunConfig(**{**TINY, **changes})


def buffers_of(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: b.detach().clone() for name, b in module.named_buffers()}


# ----- 1. every objective trains on 1- and 3-channel images -------------------------------------------

def test_the_objectives_command_lists_exactly_the_objectives_trained_here():
    code, stdout, stderr = run_cli(["objectives"])
    assert code == 0, stderr
    lines = stdout.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("regularizers"))
    listed = [line.split()[0] for line in lines[1:end] if line.startswith("  ")]
    assert listed == OBJECTIVE_NAMES


@pytest.mark.parametrize("dataset", list(CHANNELS))
@pytest.mark.parametrize("objective,regularizers", [(name, ()) for name in OBJECTIVE_NAMES] + [("mixup", ("r1:10",))],
                         ids=[*OBJECTIVE_NAMES, "mixup+r1"])
def test_every_objective_trains_an_image_gan(objective, regularizers, dataset, tmp_path):
    config = tiny(dataset=dataset, objective=objective, regularizers=regularizers)
    channels = CHANNELS[dataset]
    initial = build_state(config)  # the same seed: the networks the run started from
    records: list[dict[str, Any]] = []
    run = tmp_path / "run"
    result = train(config, run, callbacks=[records.append])

    assert result.iteration == config.iterations
    assert math.isfinite(result.last["d_loss"]) and math.isfinite(result.last["g_loss"])
    train_records = [r for r in records if r["kind"] == "train"]
    assert [r["iteration"] for r in train_records] == [2, 4, 6]
    for r in train_records:
        assert r["d_loss"] is not None and math.isfinite(r["d_loss"]), r
        assert r["g_loss"] is not None and math.isfinite(r["g_loss"]), r
    assert not [r for r in records if r["kind"] == "event"], records

    G, D = result.generator, result.discriminator
    with torch.no_grad():
        out = G(torch.randn(5, config.latent_dim, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (5, channels, 16, 16)
    assert bool(out.isfinite().all()) and float(out.min()) >= -1.0 and float(out.max()) <= 1.0
    # Every parameter moved, but where the gradient is exactly zero: D's output bias adds one constant to
    # D(real) and D(fake), so it cancels in WGAN-GP's loss (and its penalty), in R3GAN's relativistic
    # D(x) − D(G(z)) (and its penalties), and in the hinge loss while every sample is inside the margin
    # (at the start D(x) ≈ 0 for all: -1 + 1 = 0).
    constant = {f"{len(D) - 2}.bias"} if objective in ("wgan-gp", "hinge", "r3gan") else set()
    for model, start, exempt in ((G, initial.generator, set()), (D, initial.discriminator, constant)):
        unchanged = [name for (name, p), p0 in zip(model.named_parameters(), start.parameters())
                     if torch.equal(p, p0) and name not in exempt]
        assert not unchanged, f"{objective}: parameters never updated: {unchanged}"

    # The run directory.
    assert RunConfig.load(run / "config.json") == config
    on_disk = read_metrics_file(run)
    assert on_disk == json.loads(json.dumps(records))
    kinds = {r["kind"] for r in on_disk}
    assert {"train", "snapshot"} <= kinds
    snapshot_records = [r for r in on_disk if r["kind"] == "snapshot"]
    expected = sorted({0, *snapshot_schedule(config.iterations, config.snapshot_frames)})
    assert [r["iteration"] for r in snapshot_records] == expected
    assert "frechet_digits" in snapshot_records[0] and "frechet_digits" in snapshot_records[-1]
    snapshots = read_snapshots(run)
    assert [s.iteration for s in snapshots] == expected
    for s in snapshots:
        assert s.fake.dtype == np.uint8
        assert s.fake.shape == (config.fixed_samples, channels, 16, 16)
        assert s.d_grid.size == 0
    reference = read_reference(run)
    assert reference.modality == "images"
    assert reference.real.dtype == np.uint8 and reference.real.shape[1:] == (channels, 16, 16)


# ----- 2. kill -9 and resume, bit-identical --------------------------------------------------------------

def start_images_cli(args: list[Any], cwd: Path, log: Path) -> subprocess.Popen:
    with open(log, "wb") as stderr:
        return subprocess.Popen([sys.executable, "-m", "gan_mixup.cli", "images", *map(str, args)], cwd=cwd,
                                env=subprocess_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)


def checkpoint_iteration(path: Path) -> int | None:
    try:
        return int(load(path)["iteration"])
    except Exception:  # not there yet, or being replaced
        return None


def assert_image_runs_identical(a: Path, b: Path) -> None:
    ca, cb = load(a / "checkpoint.pt"), load(b / "checkpoint.pt")
    for part in ("generator", "discriminator", "opt_g", "opt_d", "rng"):
        assert_same(ca[part], cb[part], part)
    # BatchNorm running statistics are part of the state dicts; make sure they were compared.
    assert any("running_mean" in key for key in ca["generator"]) and any("running_var" in key for key in ca["discriminator"])
    # The rest too, but torch's global RNG: training never draws from it, and each process seeds it anew.
    assert_same({k: v for k, v in ca.items() if k != "torch_rng"}, {k: v for k, v in cb.items() if k != "torch_rng"})
    names_a = sorted(p.name for p in (a / "snapshots").glob("*.npz"))
    names_b = sorted(p.name for p in (b / "snapshots").glob("*.npz"))
    assert names_a == names_b and names_a
    for name in names_a:
        with np.load(a / "snapshots" / name) as x, np.load(b / "snapshots" / name) as y:
            assert x.files == y.files, name
            for key in x.files:
                np.testing.assert_array_equal(x[key], y[key], err_msg=f"{name}:{key}")
    assert (a / "metrics.jsonl").read_bytes() == (b / "metrics.jsonl").read_bytes()


@pytest.mark.parametrize("extra", [[], ["--g-ema", "0.9"]], ids=["plain", "g-ema"])
def test_sigkill_then_resume_of_an_image_run_is_bit_identical(extra, tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    # Should a fast machine finish the run before the kill lands, the next try runs longer.
    for iterations in (40, 400):
        proc = start_images_cli(["--dataset", "digits", *TINY_FLAGS, *extra, "--iterations", iterations, "--out", a,
                                 "--checkpoint-every", 3, "--checkpoint-seconds", 0, "--no-render", "--no-progress"],
                                tmp_path, tmp_path / "A.log")
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline and not (a / "checkpoint.pt").exists():
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        killed_at = checkpoint_iteration(a / "checkpoint.pt")
        if proc.returncode == -signal.SIGKILL and killed_at is not None and killed_at < iterations:
            break
        assert proc.returncode in (0, -signal.SIGKILL), (tmp_path / "A.log").read_text()
        for path in sorted(a.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
    else:
        pytest.fail("every run finished before it could be killed")
    print(f"killed with checkpoint {killed_at} of {iterations} on disk")  # shown on failure
    assert 3 <= killed_at < iterations

    code, _, stderr = run_cli(["images", "--out", a, "--resume", "--no-render", "--no-progress"])
    assert code == 0, stderr
    assert load(a / "checkpoint.pt")["iteration"] == iterations

    config = RunConfig.load(a / "config.json")
    assert config.iterations == iterations and config.g_ema == (0.9 if extra else 0.0)
    train(config, b)
    assert_image_runs_identical(a, b)
    if extra:
        assert "ema" in load(a / "checkpoint.pt")


# ----- 3. recording never changes training ---------------------------------------------------------------

@pytest.mark.parametrize("g_ema", [0.0, 0.9], ids=["plain", "g-ema"])
def test_snapshots_and_metrics_do_not_change_training(g_ema, tmp_path):
    # A snapshot, with metrics, at every iteration.
    config = tiny(iterations=5, snapshot_frames=5, metric_frames=5, g_ema=g_ema)
    run = tmp_path / "run"
    train(config, run)
    records = [r for r in read_metrics_file(run) if r["kind"] == "snapshot"]
    assert [r["iteration"] for r in records] == [0, 1, 2, 3, 4, 5]
    assert all("frechet_digits" in r for r in records), records
    recorded = load(run / "checkpoint.pt")

    silent = train(config, None)
    assert_same(silent.generator.state_dict(), recorded["generator"], "generator")
    assert_same(silent.discriminator.state_dict(), recorded["discriminator"], "discriminator")

    # The bare loop: the optimisers, RNG streams and EMA as well.
    state = build_state(config)
    with flush_denormals():
        for _ in range(config.iterations):
            train_step(state)
    assert_same(state.generator.state_dict(), recorded["generator"], "generator")
    assert_same(state.discriminator.state_dict(), recorded["discriminator"], "discriminator")
    assert_same(state.opt_g.state_dict(), recorded["opt_g"], "opt_g")
    assert_same(state.opt_d.state_dict(), recorded["opt_d"], "opt_d")
    assert_same({k: g.get_state() for k, g in state.rngs.items()}, recorded["rng"], "rng")
    if g_ema:
        assert_same(state.ema.state_dict(), recorded["ema"], "ema")


@pytest.mark.parametrize("g_ema", [0.0, 0.9], ids=["plain", "g-ema"])
def test_a_snapshot_leaves_modes_batchnorm_statistics_and_rngs_alone(g_ema, tmp_path):
    state = build_state(tiny(g_ema=g_ema))
    for _ in range(2):
        train_step(state)
    modules = {"G": state.generator, "D": state.discriminator, **({"ema": state.ema} if g_ema else {})}
    before = {name: buffers_of(m) for name, m in modules.items()}
    assert any("running_mean" in key for key in before["G"]) and any("running_mean" in key for key in before["D"])
    rngs = {name: g.get_state() for name, g in state.rngs.items()}

    record = take_snapshot(state, tmp_path, with_metrics=True)

    assert record["kind"] == "snapshot" and record["iteration"] == 2 and "frechet_digits" in record
    for name, module in modules.items():
        in_eval = [type(m).__name__ for m in module.modules() if not m.training]
        assert not in_eval, f"{name} left in eval mode: {in_eval}"
        assert_same(buffers_of(module), before[name], f"{name} buffers")
    assert_same({name: g.get_state() for name, g in state.rngs.items()}, rngs, "rng streams")


# ----- 4. separate forwards for a BatchNorm D --------------------------------------------------------------

def bn_discriminator() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1), nn.BatchNorm2d(4), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * 8 * 8, 1))


def real_fake(batch: int = 8, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    real = torch.rand(batch, channels, 16, 16, generator=g) * 2 - 1
    fake = torch.randn(batch, channels, 16, 16, generator=g) * 0.3
    return real, fake


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.reshape(-1), torch.full((logits.shape[0],), target))


def test_standard_gan_runs_a_batchnorm_d_on_real_and_fake_separately():
    D, (real, fake) = bn_discriminator(), real_fake()
    assert has_batch_statistics(D)
    separate = bce(D(real), 1.0) + bce(D(fake), 0.0)
    both = D(torch.cat([real, fake]))
    joint = bce(both[:8], 1.0) + bce(both[8:], 0.0)
    assert abs(float(separate.detach()) - float(joint.detach())) > 1e-3, "the test needs a D whose batch statistics matter"

    torch.testing.assert_close(StandardGAN().discriminator_loss(D, real, fake), separate)
    objective = StandardGAN()
    objective.separate_forwards = False
    torch.testing.assert_close(objective.discriminator_loss(D, real, fake), joint)
    objective.separate_forwards = True
    torch.testing.assert_close(objective.discriminator_loss(D, real, fake), separate)


def test_batch_statistics_only_for_batchnorm_in_training_mode():
    mlp = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    assert not has_batch_statistics(mlp)
    D = bn_discriminator()
    assert has_batch_statistics(D)
    D.eval()
    assert not has_batch_statistics(D)
    # In eval mode one joint forward is what the objective uses, and equals two separate ones.
    real, fake = real_fake()
    torch.testing.assert_close(StandardGAN().discriminator_loss(D, real, fake), bce(D(real), 1.0) + bce(D(fake), 0.0))


def test_mixup_generator_loss_with_a_batchnorm_d_normalises_real_and_fake_together():
    D, (real, fake) = bn_discriminator(), real_fake()
    joint = bce(D(torch.cat([real, fake]))[8:], 1.0)
    alone = bce(D(fake), 1.0)
    assert abs(float(joint.detach()) - float(alone.detach())) > 1e-3
    torch.testing.assert_close(MixupGAN(0.2).generator_loss(D, fake, real), joint)
    torch.testing.assert_close(MixupGAN(0.2).generator_loss(D, fake), alone)  # no real batch: fakes alone
    objective = MixupGAN(0.2)
    objective.separate_forwards = True
    torch.testing.assert_close(objective.generator_loss(D, fake, real), alone)


@pytest.mark.parametrize("d_forward,expected", [("auto", None), ("joint", False), ("separate", True)])
def test_d_forward_sets_the_trainers_objective(d_forward, expected):
    state = build_state(tiny(objective="erm", d_forward=d_forward))
    assert state.objective.separate_forwards is expected
    assert has_batch_statistics(state.discriminator)  # the DCGAN D: auto means separate forwards


# ----- 5. a conv D returning (B, 1, 1, 1) drops in ----------------------------------------------------------

OBJECTIVES = {
    "mixup": lambda: MixupGAN(0.2, generator=torch.Generator().manual_seed(0)),
    "erm": StandardGAN,
    "hinge": HingeGAN,
    "lsgan": LSGAN,
    "wgan-gp": lambda: WGANGP(10.0, generator=torch.Generator().manual_seed(0)),
}


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_a_conv_d_returning_b_1_1_1_works_with_every_objective(name):
    torch.manual_seed(0)
    D = nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 8, 1, 0))
    real, fake = real_fake()
    assert D(real).shape == (8, 1, 1, 1)
    fake = fake.requires_grad_(True)
    objective = OBJECTIVES[name]()

    d_loss = objective.discriminator_loss(D, real, fake.detach())
    assert d_loss.shape == () and math.isfinite(float(d_loss.detach()))
    d_loss.backward()
    grads = [p.grad for p in D.parameters()]
    assert all(g is not None and bool(g.isfinite().all()) for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)

    g_loss = objective.generator_loss(D, fake, real)
    assert g_loss.shape == () and math.isfinite(float(g_loss.detach()))
    g_loss.backward()
    assert fake.grad is not None and bool(fake.grad.isfinite().all()) and float(fake.grad.abs().sum()) > 0


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_a_d_returning_two_outputs_per_sample_is_refused(name):
    D = nn.Sequential(nn.Conv2d(1, 2, 16), nn.Flatten())  # (B, 2)
    real, fake = real_fake()
    assert D(real).shape == (8, 2)
    objective = OBJECTIVES[name]()
    with pytest.raises(ObjectiveError, match="one logit per sample"):
        objective.discriminator_loss(D, real, fake)
    with pytest.raises(ObjectiveError, match="one logit per sample"):
        objective.generator_loss(D, fake, real)


# ----- 6. a short mixup run moves G toward the digits --------------------------------------------------------

def test_a_short_mixup_run_moves_the_generator_toward_the_digits(tmp_path):
    # Seeds 0, 1 and 2 end at 0.39, 0.27 and 0.40 of the start; a G that does not learn (lr 1e-9) ends at
    # ~0.94 (its BatchNorm statistics still move), so 0.6 separates the two.
    config = RunConfig(dataset="digits", objective="mixup", image_size=16, hidden=16, iterations=250, seed=0,
                       snapshot_frames=2, fixed_samples=16, metric_samples=256, metric_frames=1, log_every=50,
                       checkpoint_every=10**6, checkpoint_seconds=0)
    train(config, tmp_path / "run")
    frechet = {r["iteration"]: r["frechet_digits"] for r in read_metrics_file(tmp_path / "run")
               if r["kind"] == "snapshot" and "frechet_digits" in r}
    assert 0 in frechet and config.iterations in frechet, frechet
    start, end = frechet[0], frechet[config.iterations]
    assert math.isfinite(start) and math.isfinite(end)
    assert end < 0.6 * start, f"Fréchet distance in the digit classifier's features: {frechet}"


# ----- 7. the commands -------------------------------------------------------------------------------------

def test_images_command_trains_and_renders_a_gif(tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = run_cli(["images", "--dataset", "digits", *TINY_FLAGS, "--iterations", "6", "--out", out,
                                    "--no-progress"])
    assert code == 0, stderr
    assert "Traceback" not in stderr
    last = stdout.strip().splitlines()[-1]
    assert last == f"gif: {out / 'training.gif'}", stdout
    assert (out / "training.gif").read_bytes()[:4] == b"GIF8"
    config = RunConfig.load(out / "config.json")
    assert config.modality == "images" and config.dataset == "digits" and config.iterations == 6
    assert (config.image_size, config.hidden, config.latent_dim, config.batch_size) == (16, 8, 8, 16)


def test_compare_on_digits_then_render_from_the_snapshots_alone(tmp_path):
    out = tmp_path / "cmp"
    code, stdout, stderr = run_cli(["compare", "--dataset", "digits", "--objectives", "erm,mixup", "--out", out,
                                    *TINY_FLAGS, "--iterations", "6", "--no-progress"])
    assert code == 0, stderr
    pictures = [out / "comparison.gif", out / "figure5.png", out / "erm" / "training.gif", out / "mixup" / "training.gif"]
    for path in pictures:
        assert path.is_file(), (path, stdout)
    assert (out / "comparison.gif").read_bytes()[:4] == b"GIF8"
    assert (out / "figure5.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for member in ("erm", "mixup"):
        assert read_reference(out / member).modality == "images"
    # The same start: iteration 0 of both runs is the same grid.
    np.testing.assert_array_equal(read_snapshot(snapshot_path(out / "erm", 0)).fake,
                                  read_snapshot(snapshot_path(out / "mixup", 0)).fake)

    # Re-render with nothing but the snapshots: no pictures, no checkpoints.
    for path in pictures:
        path.unlink()
    for checkpoint in out.rglob("checkpoint*.pt"):
        checkpoint.unlink()
    code, stdout, stderr = run_cli(["render", out])
    assert code == 0, stderr
    for path in pictures:
        assert path.is_file(), (path, stdout)
    assert (out / "comparison.gif").read_bytes()[:4] == b"GIF8"


def test_image_defaults():
    digits = RunConfig(dataset="digits")
    assert digits.modality == "images"
    assert (digits.image_size, digits.hidden, digits.latent_dim, digits.batch_size, digits.d_steps) == (16, 32, 100, 64, 1)
    assert digits.lr == 2e-4 and digits.betas == (0.5, 0.999)
    mnist = RunConfig(dataset="mnist", data_root="x")
    assert (mnist.image_size, mnist.hidden) == (32, 64)
    assert (mnist.latent_dim, mnist.batch_size, mnist.lr, mnist.betas) == (100, 64, 2e-4, (0.5, 0.999))


def test_metrics_are_computed_at_every_scheduled_metric_iteration(tmp_path):
    # metric_frames log-spaced iterations are meant to be snapshots that carry metrics ("metrics at this
    # many log-spaced snapshots"); an iteration that is no snapshot never gets any.
    config = tiny(iterations=8, snapshot_frames=4, metric_frames=3)
    train(config, tmp_path / "run")
    with_metrics = {r["iteration"] for r in read_metrics_file(tmp_path / "run")
                    if r["kind"] == "snapshot" and "frechet_digits" in r}
    scheduled = metric_schedule(config)
    assert with_metrics == scheduled, f"metrics scheduled at {sorted(scheduled)}, computed at {sorted(with_metrics)}"
    # Metric iterations off the GIF's snapshot schedule become snapshots of their own.
    sparse = tiny(iterations=40, snapshot_frames=2, metric_frames=6)
    assert metric_schedule(sparse) - {0, *snapshot_schedule(40, 2, ())}, "the case must exercise an off-schedule metric"
    train(sparse, tmp_path / "sparse")
    with_metrics = {r["iteration"] for r in read_metrics_file(tmp_path / "sparse")
                    if r["kind"] == "snapshot" and "frechet_digits" in r}
    assert with_metrics == metric_schedule(sparse)


# ----- 8. G's exponential moving average -----------------------------------------------------------------------

def test_update_ema_lerps_the_weights_and_copies_the_buffers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    ema = copy.deepcopy(model).requires_grad_(False)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    model(torch.randn(16, 3))  # moves the BatchNorm statistics
    start = copy.deepcopy(ema)

    update_ema(ema, model, 0.9)

    for (name, e), s, m in zip(ema.named_parameters(), start.parameters(), model.parameters()):
        torch.testing.assert_close(e, 0.9 * s + 0.1 * m, msg=name)
        assert not torch.equal(e, m), name
    for (name, e), m in zip(ema.named_buffers(), model.buffers()):
        assert torch.equal(e, m), name
    assert int(ema[1].num_batches_tracked) == 1


def test_the_trainers_ema_follows_g_and_draws_the_snapshots(tmp_path):
    config = tiny(g_ema=0.9, lr=1e-3)
    state = build_state(config)
    train_step(state)
    before = copy.deepcopy(state.ema)
    train_step(state)
    for (name, e), s, g in zip(state.ema.named_parameters(), before.parameters(), state.generator.parameters()):
        torch.testing.assert_close(e, torch.lerp(s, g, 0.1), msg=name)
    for (name, e), g in zip(state.ema.named_buffers(), state.generator.buffers()):
        assert torch.equal(e, g), name
    for _ in range(3):
        train_step(state)
    differ = [not torch.equal(e, g) for e, g in zip(state.ema.parameters(), state.generator.parameters())]
    assert all(differ)

    take_snapshot(state, tmp_path, with_metrics=False)
    fake = read_snapshot(snapshot_path(tmp_path, state.iteration)).fake
    with torch.no_grad():
        from_ema = images_to_uint8(copy.deepcopy(state.ema).eval()(state.fixed_noise))
        from_g = images_to_uint8(copy.deepcopy(state.generator).eval()(state.fixed_noise))
    np.testing.assert_array_equal(fake, from_ema)
    assert not np.array_equal(fake, from_g), "the test needs G and its EMA to draw different images"


def test_a_runs_last_snapshot_is_its_ema_generators_samples(tmp_path):
    config = tiny(g_ema=0.5)
    train(config, tmp_path / "run")
    checkpoint = load(tmp_path / "run" / "checkpoint.pt")
    G = build_state(config).generator
    G.load_state_dict(checkpoint["ema"])
    assert any(not torch.equal(checkpoint["ema"][k], checkpoint["generator"][k]) for k in checkpoint["ema"])
    with torch.no_grad():
        expected = images_to_uint8(G.eval()(checkpoint["fixed_noise"]))
    last = read_snapshot(snapshot_path(tmp_path / "run", config.iterations)).fake
    np.testing.assert_array_equal(last, expected)


# ----- 9. --amp: bfloat16 autocast, on CUDA or a CPU with native bfloat16 ---------------------------------

def test_amp_on_a_cpu_without_native_bfloat16_is_refused_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(precision, "cpu_native_bf16", lambda: None)
    out = tmp_path / "run"
    code, _, stderr = run_cli(["images", "--amp", "--device", "cpu", *TINY_FLAGS, "--iterations", 4, "--out", out,
                               "--no-render", "--no-progress"])
    assert code != 0
    assert stderr.startswith("gan-mixup: error: ") and stderr.count("\n") == 1, stderr
    assert "native bfloat16" in stderr and "slower than float32" in stderr, stderr
    assert not out.exists()


def test_amp_on_a_bfloat16_cpu_trains_in_bfloat16_and_resumes_bit_identically(monkeypatch, tmp_path):
    # Emulated bfloat16 computes the same numbers as native, only slower: the test runs on any CPU.
    monkeypatch.setattr(precision, "cpu_native_bf16", lambda: "avx512_bf16")
    config = tiny(amp=True, device="cpu", iterations=6, checkpoint_every=3)

    state = build_state(config)
    dtypes: list[torch.dtype] = []
    last_layer = [m for m in state.generator.modules() if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d))][-1]
    last_layer.register_forward_hook(lambda module, args, output: dtypes.append(output.dtype))
    with flush_denormals():
        train_step(state)
    assert dtypes and set(dtypes) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in state.generator.parameters()), "autocast keeps float32 weights"

    a, b = tmp_path / "A", tmp_path / "B"
    train(config, b)
    train(config.replace(iterations=3), a)
    assert load(a / "checkpoint.pt")["iteration"] == 3
    train(config, a, resume=True)
    ca, cb = load(a / "checkpoint.pt"), load(b / "checkpoint.pt")
    assert ca["iteration"] == cb["iteration"] == 6
    for part in ("generator", "discriminator", "opt_g", "opt_d", "rng"):
        assert_same(ca[part], cb[part], part)
    assert RunConfig.load(a / "config.json").amp

    float32 = train(config.replace(amp=False), None)
    assert any(not torch.equal(float32.generator.state_dict()[k], v) for k, v in cb["generator"].items()), \
        "bfloat16 autocast should train a different G from float32"
