"""training.batched: lockstep members track their single runs and are functions of their own seed;
the stacked forms (models, objectives' targets) give the single forms' bits; the trainer runs
train()'s schedule and recorder, so its members' callbacks have train()'s contract (sweeps that
train in lockstep are tested in tests/test_sweep.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import make_tiny_config
from gan_mixup.config import RunConfig
from gan_mixup.metrics import mode_metrics
from gan_mixup.modalities.toy.models import mlp
from gan_mixup.rundir import read_snapshots
from gan_mixup.training import StopTraining, build_state, train
from gan_mixup.training.batched import BatchingError, Lockstep, StackedModels, batchable, lockstep_step, train_batched
from gan_mixup.training.step import train_step
from toy_data import get_dataset

RING = get_dataset("ring8")


def test_a_members_stop_ends_that_member_alone_with_a_checkpoint(tmp_path):
    import torch

    def stop_at_six(record):
        if record["kind"] == "train" and record["iteration"] == 6:
            raise StopTraining

    configs = [make_tiny_config(objective="mixup", seed=s, iterations=12) for s in (0, 1)]
    dirs = [tmp_path / "a", tmp_path / "b"]
    assert train_batched(configs, dirs, callbacks=[[stop_at_six], []]) == ["done", "done"]
    stopped = torch.load(dirs[0] / "checkpoint.pt", map_location="cpu", weights_only=True)
    finished = torch.load(dirs[1] / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert stopped["iteration"] == 6 and finished["iteration"] == 12
    logged = [json.loads(line)["iteration"] for line in (dirs[0] / "metrics.jsonl").read_text().splitlines()
              if json.loads(line)["kind"] == "train"]
    assert max(logged) == 6


def test_batched_members_match_their_single_runs_statistically(tmp_path):
    configs = [make_tiny_config(iterations=100, hidden=32, batch_size=64, seed=s, snapshot_frames=2) for s in range(3)]
    statuses = train_batched(configs, [tmp_path / f"b{s}" for s in range(3)])
    assert statuses == ["done"] * 3
    modes, std = RING.modes.numpy(), RING.std
    batched = [mode_metrics(read_snapshots(tmp_path / f"b{s}")[-1].fake, modes, std)["mean_mode_distance"] for s in range(3)]
    single = [mode_metrics(train(c, None).generator(build_state(c).fixed_noise).detach().numpy(), modes, std)["mean_mode_distance"]
              for c in configs]
    start = mode_metrics(read_snapshots(tmp_path / "b0")[0].fake, modes, std)["mean_mode_distance"]
    assert np.mean(batched) < 0.9 * start and np.mean(single) < 0.9 * start  # both learn
    # Same seed, same streams: at this size a batched member tracks its single run closely (the
    # low bits differ, so only statistics are promised).
    assert np.abs(np.array(batched) - np.array(single)).max() < 0.1


@pytest.mark.parametrize("fields", [
    {"objective": "erm"},
    {"objective": "erm", "generator_loss": "minimax"},
    {"objective": "erm", "generator_loss": "saturating"},
    {"objective": "mixup"},
    {"objective": "mixup", "generator_loss": "mixed", "lambda_sampling": "per-batch"},
    {"objective": "mixup", "lambda_distribution": "uniform", "pairing": "shuffled", "generator_loss": "minimax"},
    {"objective": "lsgan"},
    {"objective": "cutmix"},
], ids=lambda f: "-".join(str(v) for v in f.values()))
def test_batched_first_steps_equal_the_single_steps_up_to_rounding(fields):
    configs = [make_tiny_config(seed=s, **fields) for s in (0, 1)]
    group = Lockstep([build_state(c) for c in configs])
    for _ in range(3):
        lockstep_step(group)
    group.sync_members()
    for config, state in zip(configs, group.states):
        alone = build_state(config)
        for _ in range(3):
            train_step(alone)
        for a, b in zip(alone.discriminator.parameters(), state.discriminator.parameters()):
            assert torch.allclose(a, b, atol=1e-5)
        for a, b in zip(alone.generator.parameters(), state.generator.parameters()):
            assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("preset", ["paper-text", "paper-code"])
def test_batched_member_is_reproducible_from_its_seed_alone(tmp_path, preset):
    from gan_mixup.presets import load_preset

    fields = {**load_preset(preset), "hidden": 16, "iterations": 20, "snapshot_frames": 2, "fixed_samples": 100,
              "grid_size": 8, "checkpoint_every": 1000}
    configs = [RunConfig.from_dict({**fields, "seed": s}) for s in (0, 1, 2)]
    train_batched(configs, [tmp_path / f"x{s}" for s in range(3)])
    train_batched([configs[1], configs[0]], [tmp_path / "y1", tmp_path / "y0"])  # other company, other order
    for s in (0, 1):
        assert np.array_equal(read_snapshots(tmp_path / f"x{s}")[-1].fake, read_snapshots(tmp_path / f"y{s}")[-1].fake)


def test_batched_checkpoint_resumes_unbatched(tmp_path):
    configs = [make_tiny_config(seed=s, iterations=10, checkpoint_every=5) for s in (0, 1)]
    train_batched(configs, [tmp_path / "a", tmp_path / "b"])
    longer = configs[0].replace(iterations=14)
    result = train(longer, tmp_path / "a", resume=True)
    assert result.iteration == 14


def test_batching_refuses_what_it_cannot_do():
    assert batchable(make_tiny_config(objective="wgan-gp"))  # its penalty needs D's input gradient
    assert batchable(make_tiny_config(objective="hinge")) is None and batchable(make_tiny_config(objective="lsgan")) is None
    assert batchable(make_tiny_config(regularizers=("r1:1",)))
    assert batchable(make_tiny_config()) is None
    assert batchable(make_tiny_config(hidden=512))  # slower batched than alone: trained one per process
    assert "amp" in batchable(make_tiny_config(amp=True))  # trained one per process, in bfloat16 as asked
    with pytest.raises(BatchingError, match="seed"):
        train_batched([make_tiny_config(seed=0), make_tiny_config(seed=1, alpha=0.5)], ["/nonexistent/a", "/nonexistent/b"])


OBJECTIVE_FIELDS = [
    {"objective": "erm"},
    {"objective": "erm", "generator_loss": "minimax"},
    {"objective": "mixup"},
    {"objective": "mixup", "generator_loss": "mixed", "lambda_sampling": "per-batch"},
    {"objective": "mixup", "lambda_distribution": "uniform", "pairing": "shuffled", "generator_loss": "minimax"},
    {"objective": "mixup", "lambda_distribution": "uniform", "pairing": "shuffled", "alpha": 0.0},
    {"objective": "cutmix"},
    {"objective": "cutmix", "objective_options": {"target": "fake", "mix_weight": 0.5}},
]


@pytest.mark.parametrize("fields", OBJECTIVE_FIELDS, ids=lambda f: "-".join(str(v) for v in f.values()))
def test_stacked_terms_are_the_members_own_terms_bit_for_bit(fields):
    # The stacked form draws each member's randomness from the member's own generator, in the
    # single form's order, and mixes once for all: same bits (elementwise ops on the same draws),
    # and the generators end in the same state.
    configs = [make_tiny_config(seed=s, **fields) for s in (0, 1, 2)]
    stacked, single = [build_state(c).objective for c in configs], [build_state(c).objective for c in configs]
    batch = configs[0].batch_size * stacked[0].batches_per_step
    real, fake = torch.randn(3, batch, 2), torch.randn(3, batch, 2)
    for method in ("discriminator_terms", "generator_terms"):
        forwards = getattr(stacked[0], method)(real, fake, separate=False, batch_statistics=False, members=stacked)
        for k, objective in enumerate(single):
            own = getattr(objective, method)(real[k], fake[k], separate=False, batch_statistics=False)
            assert len(own) == len(forwards)
            for forward, own_forward in zip(forwards, own):
                for term, own_term in zip(forward, own_forward, strict=True):
                    assert torch.equal(term.x[k], own_term.x) and torch.equal(term.target[k], own_term.target)
                    assert (term.weight, term.per_sample, term.role) == (own_term.weight, own_term.per_sample, own_term.role)
    for a, b in zip(stacked, single):
        if getattr(b, "generator", None) is not None:  # erm draws nothing
            assert torch.equal(a.generator.get_state(), b.generator.get_state())


@pytest.mark.parametrize("width", [16, 128, 256])
def test_stacked_mlps_fused_form_agrees_with_vmap_up_to_rounding(width):
    # Two formulations of one computation: they sum in another order, so equal bits would hold only
    # on some CPUs' GEMM kernels (they differ at width 256 on an AMD EPYC); the promise is rounding.
    torch.manual_seed(0)
    modules = [mlp(2, 1, hidden=width) for _ in range(4)]
    fused, generic = StackedModels(modules), StackedModels(modules)
    generic._layers = None  # the vmap-over-functional_call form every other module takes
    x = torch.randn(4, 64, 2)
    out_fused, out_generic = fused(x), generic(x)
    grads_fused = torch.autograd.grad(out_fused.square().sum(), fused.parameters())
    grads_generic = torch.autograd.grad(out_generic.square().sum(), generic.parameters())
    torch.testing.assert_close(out_fused, out_generic, rtol=1e-5, atol=1e-6)
    for a, b in zip(grads_fused, grads_generic, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    for k, module in enumerate(modules):  # and each member's slice is that module's own output
        torch.testing.assert_close(out_fused[k], module(x[k]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("width", [16, 256])
def test_a_fused_member_is_the_same_in_any_company(width):
    # The promise the lockstep trainer makes: a member's bits depend on its own weights and inputs
    # alone (same code path, same thread count), whatever else is stacked beside it and where.
    torch.manual_seed(0)
    modules = [mlp(2, 1, hidden=width) for _ in range(3)]
    x = torch.randn(3, 64, 2)
    alone = StackedModels(modules)(x)
    swapped = StackedModels([modules[2], modules[0]])(x[[2, 0]])
    assert torch.equal(swapped[0], alone[2]) and torch.equal(swapped[1], alone[0])


def test_only_plain_mlps_take_the_fused_form():
    assert StackedModels([mlp(2, 1, hidden=8)])._layers == [("0.", True), ("2.", True), ("4.", True), ("6.", False)]
    assert StackedModels([mlp(2, 1, hidden=8, spectral_norm=True)])._layers is None
    assert StackedModels([torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))])._layers is None
