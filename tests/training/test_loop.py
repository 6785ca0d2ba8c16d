"""train: the run directory a short run writes, reproducibility, learning, callbacks, refusals, and
the D-step fast path checked against a plain reference step."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan_mixup import precision
from gan_mixup.metrics import evaluate_run
from gan_mixup.objectives import MixupGAN, StandardGAN
from gan_mixup.rundir import list_snapshots, load_checkpoint, read_reference, read_snapshot, snapshot_path, snapshot_schedule
from gan_mixup.rundir import RunDirectoryError
from gan_mixup.training.outcomes import StopTraining
from gan_mixup.training.state import build_state
from gan_mixup.training.loop import train
from gan_mixup.training.step import train_step


def _snapshot_iterations(run_dir) -> list[int]:
    return [read_snapshot(p).iteration for p in list_snapshots(run_dir)]


# ----- one short run, inspected from several sides ---------------------------------------------

@pytest.fixture(scope="module")
def short_run(tmp_path_factory, tiny_config):
    config = tiny_config(hidden=24, iterations=120, snapshot_frames=5, log_every=10, checkpoint_every=50)
    run_dir = tmp_path_factory.mktemp("short") / "run"
    rng_before = torch.get_rng_state()
    result = train(config, run_dir)
    rng_after = torch.get_rng_state()
    return config, run_dir, result, rng_before, rng_after


def test_short_run_writes_config_and_checkpoint(short_run):
    config, run_dir, result, _, _ = short_run
    assert result.iteration == 120 and not result.stopped_early
    assert json.loads((run_dir / "config.json").read_text()) == json.loads(config.to_json())
    state, warnings = load_checkpoint(run_dir)
    assert warnings == [] and state["iteration"] == 120
    assert state["config"] == config.to_dict()
    # checkpoint_every=50: the one at 100 is kept as the previous checkpoint.
    previous = torch.load(run_dir / "checkpoint.prev.pt", weights_only=True)
    assert previous["iteration"] == 100
    # The checkpoint's G is the G the run returned.
    for name, tensor in result.generator.state_dict().items():
        torch.testing.assert_close(state["generator"][name], tensor, rtol=0, atol=0)


def test_short_run_snapshots_every_scheduled_iteration(short_run, tmp_path):
    config, run_dir, _, _, _ = short_run
    expected = [0] + snapshot_schedule(config.iterations, config.snapshot_frames, config.snapshot_iterations)
    assert {10, 100, 120} <= set(expected)
    assert _snapshot_iterations(run_dir) == expected
    ref = read_reference(run_dir)
    assert ref.real.shape == (config.fixed_samples, 2) and ref.modes.shape == (8, 2) and ref.std == 0.01
    for it in expected:
        snap = read_snapshot(snapshot_path(run_dir, it))
        assert snap.fake.shape == (config.fixed_samples, 2) and np.isfinite(snap.fake).all()
        assert snap.d_grid.shape == (config.grid_size, config.grid_size)
        assert ((snap.d_grid >= 0) & (snap.d_grid <= 1)).all()
    # Training changes G: the last snapshot's samples are not the first's.
    assert not np.allclose(read_snapshot(snapshot_path(run_dir, 0)).fake, read_snapshot(snapshot_path(run_dir, 120)).fake)


def test_short_run_metrics_records(short_run, read_metrics):
    config, run_dir, result, _, _ = short_run
    records = read_metrics(run_dir)
    train_records = [r for r in records if r["kind"] == "train"]
    snapshot_records = [r for r in records if r["kind"] == "snapshot"]
    assert [r["iteration"] for r in train_records] == list(range(10, 121, 10))
    for r in train_records:
        assert {"d_loss", "g_loss", "lam_mean"} <= set(r)
        assert all(np.isfinite(r[k]) for k in ("d_loss", "g_loss", "lam_mean"))
        assert 0 <= r["lam_mean"] <= 1
    assert result.last == train_records[-1]
    assert [r["iteration"] for r in snapshot_records] == _snapshot_iterations(run_dir)
    for r in snapshot_records:
        assert {"modes_covered", "high_quality", "kl_modes", "mean_mode_distance", "sliced_wasserstein"} <= set(r)
    # The metrics on disk are what evaluate_run recomputes from the snapshots alone.
    for row, r in zip(evaluate_run(run_dir), snapshot_records):
        assert row["iteration"] == r["iteration"]
        torch.testing.assert_close(row["mean_mode_distance"], r["mean_mode_distance"], rtol=1e-6, atol=1e-9)
        assert row["modes_covered"] == r["modes_covered"]


def test_training_leaves_the_global_rng_alone(short_run):
    *_, rng_before, rng_after = short_run
    assert torch.equal(rng_before, rng_after)


def test_training_without_a_directory_leaves_the_global_rng_alone(tiny_config):
    before = torch.get_rng_state()
    train(tiny_config(iterations=4), None)
    assert torch.equal(torch.get_rng_state(), before)


# ----- reproducibility ---------------------------------------------------------------------------

def _all_snapshots(run_dir) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    return {s.iteration: (s.fake, s.d_grid) for s in map(read_snapshot, list_snapshots(run_dir))}


def test_same_seed_same_snapshots_different_seed_different(tiny_config, tmp_path):
    a = train(tiny_config(seed=4), tmp_path / "a")
    train(tiny_config(seed=4), tmp_path / "b")
    train(tiny_config(seed=5), tmp_path / "c")
    snaps_a, snaps_b, snaps_c = (_all_snapshots(tmp_path / n) for n in "abc")
    assert snaps_a.keys() == snaps_b.keys() and len(snaps_a) >= 4
    for it in snaps_a:
        np.testing.assert_array_equal(snaps_a[it][0], snaps_b[it][0])
        np.testing.assert_array_equal(snaps_a[it][1], snaps_b[it][1])
        assert not np.allclose(snaps_a[it][0], snaps_c[it][0])
    assert a.iteration == 12


def test_erm_and_mixup_with_one_seed_start_from_the_same_networks_and_noise(tiny_config, tmp_path):
    erm = tiny_config(objective="erm", seed=2)
    mixup = tiny_config(objective="mixup", seed=2)
    state_erm, state_mixup = build_state(erm), build_state(mixup)
    for (name, p), q in zip(state_erm.generator.state_dict().items(), state_mixup.generator.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)
    for p, q in zip(state_erm.discriminator.parameters(), state_mixup.discriminator.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    torch.testing.assert_close(state_erm.fixed_noise, state_mixup.fixed_noise, rtol=0, atol=0)

    train(erm, tmp_path / "erm")
    train(mixup, tmp_path / "mixup")
    first_erm = read_snapshot(snapshot_path(tmp_path / "erm", 0))
    first_mixup = read_snapshot(snapshot_path(tmp_path / "mixup", 0))
    np.testing.assert_array_equal(first_erm.fake, first_mixup.fake)
    np.testing.assert_array_equal(first_erm.d_grid, first_mixup.d_grid)
    np.testing.assert_array_equal(read_reference(tmp_path / "erm").real, read_reference(tmp_path / "mixup").real)
    # ...and the objectives then take them apart.
    last_erm = read_snapshot(snapshot_path(tmp_path / "erm", 12))
    last_mixup = read_snapshot(snapshot_path(tmp_path / "mixup", 12))
    assert not np.allclose(last_erm.fake, last_mixup.fake)


@pytest.mark.parametrize("objective", ["mixup", "erm"])
def test_amp_trains_the_toy_gan_under_bfloat16_autocast_reproducibly(objective, tiny_config, monkeypatch):
    # Emulated bfloat16 computes the same numbers as native, only slower: the test runs on any CPU.
    monkeypatch.setattr(precision, "cpu_native_bf16", lambda: "amx_bf16")
    config = tiny_config(objective=objective, amp=True, device="cpu")  # d_steps 2: one G forward for both D steps
    state = build_state(config)
    dtypes = {"G": [], "D": []}
    for name, module in (("G", state.generator), ("D", state.discriminator)):
        last = [m for m in module.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.register_forward_hook(lambda m, args, out, name=name: dtypes[name].append(out.dtype))
    d_loss, g_loss = train_step(state)
    assert set(dtypes["G"]) == set(dtypes["D"]) == {torch.bfloat16} and len(dtypes["D"]) == 3  # 2 D steps, the G step
    assert d_loss.dtype == g_loss.dtype == torch.float32 and torch.isfinite(d_loss) and torch.isfinite(g_loss)

    a, b = train(config, None), train(config, None)
    for (name, p), q in zip(a.generator.state_dict().items(), b.generator.state_dict().values()):
        assert torch.equal(p, q), name
    float32 = train(config.replace(amp=False), None)
    assert any(not torch.equal(p, q) for p, q in zip(a.generator.parameters(), float32.generator.parameters()))


# ----- it learns --------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 3])
def test_short_mixup_run_moves_samples_toward_the_ring_modes(tiny_config, tmp_path, read_metrics, seed):
    # 600 iterations of a width-64 GAN: every seed of 0..5 ends at a mean distance to the nearest
    # mode of 0.18-0.26 from ~0.9 at initialisation (hand-checked), so a factor 0.5 leaves margin.
    config = tiny_config(dataset="ring8", objective="mixup", alpha=0.2, hidden=64, iterations=600, batch_size=64,
                         d_steps=2, snapshot_frames=0, log_every=10, seed=seed)
    train(config, tmp_path / "run")
    records = read_metrics(tmp_path / "run")
    distance = {r["iteration"]: r["mean_mode_distance"] for r in records if r["kind"] == "snapshot"}
    assert sorted(distance) == [0, 10, 100, 600]
    assert distance[0] > 0.6  # G starts far from the ring
    assert distance[600] < 0.5 * distance[0]
    assert distance[600] < 0.4
    # evaluate_run reads the same answer back from the snapshots alone.
    torch.testing.assert_close(evaluate_run(tmp_path / "run")[-1]["mean_mode_distance"], distance[600], rtol=1e-6, atol=1e-9)
    # Beta(0.2, 0.2) has mean 0.5; 60 logged batch means of 64 λ's each average close to it.
    lam = [r["lam_mean"] for r in records if r["kind"] == "train"]
    assert len(lam) == 60
    torch.testing.assert_close(float(np.mean(lam)), 0.5, rtol=0, atol=0.04)
    assert np.std(lam) > 0.01  # λ really varies from step to step


# ----- callbacks, early stop, no directory ----------------------------------------------------

def test_callbacks_receive_every_record(tiny_config, tmp_path, read_metrics):
    seen: list[dict] = []
    train(tiny_config(), tmp_path / "run", callbacks=[seen.append])
    assert seen == read_metrics(tmp_path / "run")
    kinds = {r["kind"] for r in seen}
    assert kinds == {"train", "snapshot"}


def test_stop_training_ends_early_with_a_checkpoint(tiny_config, tmp_path, read_metrics):
    seen: list[dict] = []

    def stop_at_six(record):
        seen.append(record)
        if record["kind"] == "train" and record["iteration"] == 6:
            raise StopTraining

    result = train(tiny_config(iterations=50, log_every=2), tmp_path / "run", callbacks=[stop_at_six])
    assert result.stopped_early and result.iteration == 6
    state, _ = load_checkpoint(tmp_path / "run")
    assert state["iteration"] == 6
    assert max(r["iteration"] for r in seen) == 6
    assert max(r["iteration"] for r in read_metrics(tmp_path / "run")) == 6


def test_no_run_directory_trains_without_writing(tiny_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seen: list[dict] = []
    result = train(tiny_config(iterations=6, log_every=3), None, callbacks=[seen.append])
    assert result.run_dir is None and result.iteration == 6
    assert list(tmp_path.iterdir()) == []
    assert [r["iteration"] for r in seen] == [3, 6] and all(r["kind"] == "train" for r in seen)
    assert result.last["iteration"] == 6 and np.isfinite(result.last["d_loss"])


# ----- refusing to clobber a directory --------------------------------------------------------

def _tree(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_non_empty_directory_without_overwrite_is_refused_untouched(tiny_config, tmp_path):
    run_dir = tmp_path / "mine"
    run_dir.mkdir()
    (run_dir / "thesis.tex").write_text("five years of work")
    before = _tree(run_dir)
    with pytest.raises(RunDirectoryError, match="already exists"):
        train(tiny_config(), run_dir)
    assert _tree(run_dir) == before
    # Even with overwrite, a directory that is not a run directory is not deleted.
    with pytest.raises(RunDirectoryError, match="not a gan-mixup run directory"):
        train(tiny_config(), run_dir, overwrite=True)
    assert _tree(run_dir) == before


def test_existing_run_is_refused_untouched_and_replaced_with_overwrite(tiny_config, tmp_path):
    run_dir = tmp_path / "run"
    train(tiny_config(iterations=4, seed=1), run_dir)
    before = _tree(run_dir)
    with pytest.raises(RunDirectoryError):
        train(tiny_config(iterations=6, seed=2), run_dir)
    assert _tree(run_dir) == before
    result = train(tiny_config(iterations=6, seed=2), run_dir, overwrite=True)
    assert result.iteration == 6
    assert json.loads((run_dir / "config.json").read_text())["seed"] == 2


def test_an_empty_existing_directory_is_used(tiny_config, tmp_path):
    (tmp_path / "empty").mkdir()
    assert train(tiny_config(iterations=2), tmp_path / "empty").iteration == 2


# ----- the D-step fast path vs a plain reference step ----------------------------------------

def _reference_iteration(state) -> tuple[torch.Tensor, torch.Tensor]:
    """One generator iteration written plainly: a separate G forward per D step.

    The trainer draws all D steps' noise as one randn(d_steps·B, latent) from rngs["noise"] and all
    their real data as one sample(d_steps·B) from rngs["data"], then one more of each for the G
    step; drawing the same calls here and slicing keeps both on the same random numbers.
    """
    cfg, G, D = state.config, state.generator, state.discriminator
    B = cfg.batch_size
    noise = torch.randn(cfg.d_steps * B, cfg.latent_dim, generator=state.rngs["noise"])
    reals = state.dataset.sample(cfg.d_steps * B, state.rngs["data"])
    for k in range(cfg.d_steps):
        z, real = noise[k * B : (k + 1) * B], reals[k * B : (k + 1) * B]
        with torch.no_grad():
            fake = G(z)
        if isinstance(state.objective, MixupGAN):
            lam = state.objective.sample_lambda(B, real.device, real.dtype)
            x = lam[:, None] * real + (1 - lam[:, None]) * fake
            d_loss = F.binary_cross_entropy_with_logits(D(x).squeeze(1), lam)
        else:
            assert isinstance(state.objective, StandardGAN)
            d_loss = F.binary_cross_entropy_with_logits(D(real).squeeze(1), torch.ones(B)) + \
                F.binary_cross_entropy_with_logits(D(fake).squeeze(1), torch.zeros(B))
        state.opt_d.zero_grad()
        d_loss.backward()
        state.opt_d.step()
    z = torch.randn(B, cfg.latent_dim, generator=state.rngs["noise"])
    state.dataset.sample(B, state.rngs["data"])  # the trainer's G step draws a real batch; non-saturating ignores it
    g_loss = F.binary_cross_entropy_with_logits(D(G(z)).squeeze(1), torch.ones(B))
    state.opt_g.zero_grad()
    g_loss.backward()
    state.opt_g.step()
    return d_loss.detach(), g_loss.detach()


@pytest.mark.parametrize("objective", ["mixup", "erm"])
def test_train_step_matches_a_plain_reference_step(tiny_config, objective):
    config = tiny_config(objective=objective, hidden=16, batch_size=32, d_steps=3, seed=7)
    state = build_state(config)
    reference = copy.deepcopy(state)
    # The deep copy keeps the wiring: its optimisers drive its own networks, its objective its own λ stream.
    assert reference.opt_d.param_groups[0]["params"][0] is next(reference.discriminator.parameters())
    assert reference.opt_g.param_groups[0]["params"][0] is next(reference.generator.parameters())
    if objective == "mixup":
        assert reference.objective.generator is reference.rngs["objective"]
    for _ in range(3):
        d_fast, g_fast = train_step(state)
        d_ref, g_ref = _reference_iteration(reference)
        torch.testing.assert_close(d_fast, d_ref, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(g_fast, g_ref, rtol=1e-5, atol=1e-6)
    assert state.iteration == 3
    for fast, ref in ((state.generator, reference.generator), (state.discriminator, reference.discriminator)):
        for (name, p), q in zip(fast.named_parameters(), ref.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6, msg=name)
    # The parameters moved: the comparison is not between two untouched copies.
    untouched = build_state(config)
    assert not torch.allclose(next(state.generator.parameters()), next(untouched.generator.parameters()))
    assert all(p.requires_grad for p in state.discriminator.parameters())  # D unfrozen after the G step


# ----- what train() refuses, and what it leaves alone -------------------------------------------

def test_train_refuses_a_dict_config_naming_the_fix(tmp_path):
    from gan_mixup.training.outcomes import TrainingSetupError

    with pytest.raises(TrainingSetupError, match=r"takes a RunConfig, got dict.*from_dict"):
        train({"iterations": 20}, tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
def test_train_refuses_to_run_without_autograd(tmp_path, tiny_config, context):
    from gan_mixup.training.outcomes import TrainingSetupError

    with context(), pytest.raises(TrainingSetupError, match="needs autograd"):
        train(tiny_config(), tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("resume", [False, True])
def test_train_leaves_the_callers_global_rng_as_it_was(tmp_path, tiny_config, resume):
    config = tiny_config(iterations=12, checkpoint_every=6)
    if resume:  # a checkpoint at iteration 6, holding the global RNG state of that time (not the caller's below)
        torch.manual_seed(1)
        train(config.replace(iterations=6), tmp_path / "run")
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    train(config, tmp_path / "run", resume=resume)
    assert torch.equal(torch.get_rng_state(), before)


def test_callbacks_see_the_global_rng_continue_across_a_resume(tmp_path, tiny_config):
    # A callback drawing from torch's global RNG draws the same numbers in a resumed run as in an
    # uninterrupted one (the checkpoint carries that RNG), whatever the caller's RNG holds.
    def drawing(draws):
        return lambda record: draws.append(torch.rand(()).item()) if record.get("kind") == "train" else None

    config = tiny_config(iterations=12, checkpoint_every=6, log_every=2)
    whole: list[float] = []
    torch.manual_seed(5)
    train(config, tmp_path / "whole", callbacks=[drawing(whole)])
    first, second = [], []
    torch.manual_seed(5)
    train(config.replace(iterations=6), tmp_path / "halves", callbacks=[drawing(first)])
    torch.manual_seed(99)
    train(config, tmp_path / "halves", resume=True, callbacks=[drawing(second)])
    assert first + second == whole


def test_gan_mixup_train_is_the_function_and_no_module_shadows_it():
    from pathlib import Path

    import gan_mixup
    import gan_mixup.training

    assert gan_mixup.train is gan_mixup.training.train and callable(gan_mixup.train)
    assert not (Path(gan_mixup.__file__).parent / "train.py").exists(), "a module gan_mixup/train.py would shadow it"
