"""Issue 16: stability metrics on known inputs, D's gradient probes, sweeps, the scorecard, the
batched (lockstep) path, TensorBoard logging and the `sweep` / `metrics` commands."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import make_linear_d, make_tiny_config
from gan_mixup.config import RunConfig
from gan_mixup.metrics import gradient_summary
from gan_mixup.probes import discriminator_gradient_norms, input_gradient_norms, logit_gradients, mixed_points
from gan_mixup.rundir import read_snapshots
from gan_mixup.sweeps.scorecard import RESULT_COLUMNS, collect_results
from gan_mixup.presets import PresetError
from gan_mixup.sweeps import (SweepError, SweepGrid, SweepResult, authors_grid, parse_seeds, run_sweep, sweep_bases,
                              sweep_members)
from gan_mixup.sweeps.directory import member_finished
from gan_mixup.training import train
from toy_data import get_dataset

RING = get_dataset("ring8")


def ring_samples(n: int, seed: int = 0) -> np.ndarray:
    return RING.sample(n, torch.Generator().manual_seed(seed)).numpy()


# ----- metrics on known inputs ---------------------------------------------------------------------

def test_gradient_norm_of_a_linear_d_is_its_weight_norm():
    D = make_linear_d([3.0, -4.0], 0.5)
    x = torch.randn(50, 2)
    assert torch.allclose(input_gradient_norms(D, x), torch.full((50,), 5.0))
    assert torch.allclose(logit_gradients(D, x), torch.tensor([[3.0, -4.0]]).expand(50, 2))
    norms = discriminator_gradient_norms(D, x, torch.randn(30, 2))
    assert set(norms) == {"real", "fake", "mixed"} and len(norms["mixed"]) == 30
    assert gradient_summary(norms) == pytest.approx({"d_grad_real": 5.0, "d_grad_fake": 5.0, "d_grad_mixed": 5.0})


def test_gradient_norm_of_a_quadratic_d_depends_on_the_point():
    class Quadratic(torch.nn.Module):
        def forward(self, x):  # D(x) = |x|², gradient 2x
            return (x ** 2).sum(dim=1, keepdim=True)

    x = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    assert input_gradient_norms(Quadratic(), x).tolist() == pytest.approx([2.0, 6.0])


def test_mixed_points_lie_on_the_segments_and_are_fixed():
    real, fake = torch.zeros(100, 2), torch.ones(100, 2)
    a, b = mixed_points(real, fake), mixed_points(real, fake)
    assert torch.equal(a, b)  # the probe's λ comes from its own fixed seed
    assert ((a >= 0) & (a <= 1)).all() and torch.allclose(a[:, 0], a[:, 1])


def test_probing_leaves_d_untouched_and_its_grads_unset():
    D = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    before = [p.clone() for p in D.parameters()]
    with torch.no_grad():  # snapshots run under no_grad: the probe must still work
        discriminator_gradient_norms(D, torch.randn(10, 2), torch.randn(10, 2))
    assert all(torch.equal(a, b) for a, b in zip(before, D.parameters()))
    assert all(p.grad is None for p in D.parameters())


# ----- probes in snapshots, records and frames ----------------------------------------------------

def test_toy_snapshots_record_gradients_and_metrics_records_summarise_them(tmp_path):
    train(make_tiny_config(iterations=20), tmp_path / "run")
    snapshot = read_snapshots(tmp_path / "run")[-1]
    assert snapshot.d_grad_fake.shape == snapshot.fake.shape
    assert set(snapshot.d_grad_norms) == {"real", "fake", "mixed"}
    assert np.allclose(np.linalg.norm(snapshot.d_grad_fake, axis=1), snapshot.d_grad_norms["fake"], rtol=1e-5)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if r["kind"] == "snapshot"][-1]
    assert last["d_grad_fake"] == pytest.approx(float(snapshot.d_grad_norms["fake"].mean()), rel=1e-5)
    assert 0.0 <= last["outside_frame"] <= 1.0


def test_recording_gradients_does_not_change_training(tmp_path):
    config = make_tiny_config(iterations=15)
    recorded = train(config, tmp_path / "run")
    silent = train(config, None)
    for a, b in zip(recorded.discriminator.parameters(), silent.discriminator.parameters()):
        assert torch.equal(a, b)


def test_image_metric_records_hold_gradient_norms(tmp_path):
    config = RunConfig(dataset="digits", iterations=4, hidden=8, batch_size=16, metric_samples=64, metric_frames=2,
                       snapshot_frames=2, fixed_samples=16, checkpoint_every=1000)
    train(config, tmp_path / "img")
    records = [json.loads(line) for line in (tmp_path / "img" / "metrics.jsonl").read_text().splitlines()]
    with_metrics = [r for r in records if r["kind"] == "snapshot" and "modes_covered" in r]
    assert with_metrics and all(r["d_grad_fake"] > 0 and r["d_grad_real"] > 0 for r in with_metrics)


# ----- sweeps ------------------------------------------------------------------------------------

def tiny_members(seeds=(0, 1), objectives=("erm", "mixup"), datasets=("ring8",), **overrides):
    bases = {(d, ""): make_tiny_config(dataset=d, iterations=overrides.pop("iterations", 12), **overrides) for d in datasets}
    return sweep_members(bases, objectives=list(objectives), alphas=[0.2], seeds=list(seeds))


def test_members_expand_every_combination_and_erm_ignores_alpha():
    bases = {("ring8", "paper-text"): make_tiny_config(), ("ring8", "paper-code"): make_tiny_config()}
    members = sweep_members(bases, objectives=["erm", "mixup"], alphas=[0.1, 0.5], seeds=[0, 1, 2])
    assert len(members) == 2 * (1 + 2) * 3
    assert {m.setting for m in members} == {"erm[paper-text]", "erm[paper-code]", "mixup[paper-text] α=0.1",
                                            "mixup[paper-text] α=0.5", "mixup[paper-code] α=0.1", "mixup[paper-code] α=0.5"}
    assert len({m.name for m in members}) == len(members)
    assert {m.config.alpha for m in members if m.config.objective == "mixup"} == {0.1, 0.5}


def test_members_with_latent_sizes_and_bad_requests():
    members = sweep_members({("ring8", ""): make_tiny_config()}, objectives=["mixup"], alphas=[], seeds=[0],
                            latent_dims=[2, 5])
    assert sorted(m.config.latent_dim for m in members) == [2, 5]
    with pytest.raises(SweepError, match="seed"):
        sweep_members({("ring8", ""): make_tiny_config()}, objectives=["erm"], alphas=[], seeds=[])
    with pytest.raises(SweepError, match="twice"):
        sweep_members({("ring8", ""): make_tiny_config()}, objectives=["erm", "erm"], alphas=[], seeds=[0])


def test_the_authors_grid_seeds_and_a_results_summary_come_from_the_library_alone():
    grid = authors_grid()
    bases = sweep_bases(grid, flags={"iterations": 10, "hidden": 8})
    members = sweep_members(bases, objectives=grid.objectives, alphas=grid.alphas, seeds=parse_seeds("0-1"),
                            latent_dims=grid.latent_dims)
    assert len({(m.dataset, m.setting) for m in members}) == 30 and len(members) == 60
    assert {m.config.preset for m in members} == {"paper-code"} and {m.config.hidden for m in members} == {8}
    assert authors_grid(["ring8"]).datasets == ("ring8",)
    assert parse_seeds("0-2,9,1") == (0, 1, 2, 9)
    for bad in ("", "3-1", "x", "0-10000"):
        with pytest.raises(SweepError):
            parse_seeds(bad)
    with pytest.raises(PresetError, match="unknown preset"):
        sweep_bases(SweepGrid(datasets=[None], presets=["", "nope"], objectives=["erm"]))
    result = SweepResult({"a": "done", "b": "failed: disk full", "c": "done", "d": "diverged"})
    assert result.counts() == {"diverged": 1, "done": 2, "failed": 1} and result.failures() == [("b", "disk full")]
    assert result.summary() == "runs: 1 diverged, 2 done, 1 failed" and not result.still_training()
    assert result.failure_message() == "1 of 4 runs failed; the first, b: disk full"
    many = SweepResult({name: f"failed: no {name}" for name in "wxyz"} | {"v": "submitted"})
    assert many.failure_message() == "4 of 5 runs failed (w, x, y, ...); the first, w: no w" and many.still_training()
    assert SweepResult({"a": "done"}).failure_message() is None


def test_tiny_sweep_end_to_end_writes_results_and_scorecard(tmp_path):
    out = tmp_path / "sweep"
    result = run_sweep(tiny_members(), out, workers=1)
    assert set(result.statuses.values()) == {"done"}
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == RESULT_COLUMNS
    assert {r["run"] for r in rows} == {"ring8-erm-seed0", "ring8-erm-seed1", "ring8-mixup-a0.2-seed0", "ring8-mixup-a0.2-seed1"}
    iterations = {int(r["iteration"]) for r in rows if r["run"] == "ring8-erm-seed0"}
    assert {0, 12} <= iterations
    assert all(r["modes_total"] == "8" for r in rows)
    md = (out / "scorecard.md").read_text()
    assert "| ring8 | erm | 2 | 12 |" in md and "| ring8 | mixup α=0.2 | 2 | 12 |" in md
    assert (out / "scorecard.png").stat().st_size > 10_000 and (out / "gradients.png").stat().st_size > 10_000


def test_resume_skips_finished_members_and_adds_new_seeds(tmp_path):
    out = tmp_path / "sweep"
    run_sweep(tiny_members(seeds=(0,)), out, workers=1)
    finished = out / "ring8-erm-seed0" / "checkpoint.pt"
    stamp = finished.stat().st_mtime_ns
    result = run_sweep(tiny_members(seeds=(0, 1)), out, workers=1, resume=True)
    assert result.statuses["ring8-erm-seed0"] == "skipped" and result.statuses["ring8-erm-seed1"] == "done"
    assert finished.stat().st_mtime_ns == stamp  # not retrained
    assert len({r["run"] for r in collect_results(out)}) == 4


def test_an_interrupted_member_resumes_from_its_checkpoint(tmp_path):
    out = tmp_path / "sweep"
    members = tiny_members(seeds=(0,), objectives=("mixup",), iterations=30, checkpoint_every=10)
    run_sweep(members, out, workers=1)
    member = out / members[0].name
    uninterrupted = read_snapshots(member)[-1].fake
    # Cut the member back to its iteration-20 checkpoint, as a kill during iterations 21-30 leaves it.
    from gan_mixup.rundir import snapshot_path

    (member / "checkpoint.prev.pt").replace(member / "checkpoint.pt")
    snapshot_path(member, 30).unlink()
    assert not member_finished(member, 30)
    result = run_sweep(members, out, workers=1, resume=True)
    assert result.statuses[members[0].name] == "done"
    assert np.array_equal(read_snapshots(member)[-1].fake, uninterrupted)


def test_sweep_refuses_an_existing_folder_and_a_compare_folder(tmp_path):
    out = tmp_path / "sweep"
    run_sweep(tiny_members(seeds=(0,), objectives=("erm",)), out, workers=1)
    with pytest.raises(Exception, match="already exists"):
        run_sweep(tiny_members(seeds=(0,), objectives=("erm",)), out, workers=1)
    from gan_mixup.experiments import compare

    compare({"erm": make_tiny_config(objective="erm")}, tmp_path / "cmp")
    with pytest.raises(Exception, match="compare"):
        run_sweep(tiny_members(seeds=(0,), objectives=("erm",)), tmp_path / "cmp", workers=1, resume=True)


def test_two_workers_give_the_same_runs_as_one(tmp_path):
    members = tiny_members(seeds=(0, 1), objectives=("mixup",))
    run_sweep(members, tmp_path / "one", workers=1)
    run_sweep(members, tmp_path / "two", workers=2)
    for m in members:
        a, b = read_snapshots(tmp_path / "one" / m.name)[-1], read_snapshots(tmp_path / "two" / m.name)[-1]
        assert np.array_equal(a.fake, b.fake)


# ----- resuming a sweep: nothing trained is ever dropped, nothing changed silently ------------------

def cut_back(member_dir):
    """Leave a member as a kill after its iteration-20 checkpoint leaves it: the newest checkpoint is
    the one before (snapshots and records written after it stay, as they would)."""
    (member_dir / "checkpoint.prev.pt").replace(member_dir / "checkpoint.pt")


def test_resume_with_another_grid_keeps_every_earlier_member(tmp_path):
    out = tmp_path / "sweep"
    run_sweep(tiny_members(seeds=(0, 1), objectives=("erm",)), out, workers=1)
    result = run_sweep(tiny_members(seeds=(2,), objectives=("erm",)), out, workers=1, resume=True)
    assert result.statuses == {"ring8-erm-seed2": "done"}
    run_sweep(tiny_members(seeds=(0,), objectives=("mixup",)), out, workers=1, resume=True)  # a new objective
    everyone = {"ring8-erm-seed0", "ring8-erm-seed1", "ring8-erm-seed2", "ring8-mixup-a0.2-seed0"}
    manifest = json.loads((out / "runs.json").read_text())
    assert set(manifest["runs"]) == set(manifest["members"]) == everyone
    with open(out / "results.csv") as f:
        assert {r["run"] for r in csv.DictReader(f)} == everyone
    md = (out / "scorecard.md").read_text()
    assert "| ring8 | erm | 3 | 12 |" in md and "| ring8 | mixup α=0.2 | 1 | 12 |" in md


def test_a_full_disk_during_resume_leaves_the_manifest_whole(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    out = tmp_path / "sweep"
    run_sweep(tiny_members(seeds=(0,), objectives=("erm",)), out, workers=1)
    before = (out / "runs.json").read_text()
    real_write_text = Path.write_text

    def disk_full(self, text, *args, **kwargs):
        if self.name.startswith("runs.json"):  # half of it fits, then the disk is full
            real_write_text(self, text[: len(text) // 2], *args, **kwargs)
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write_text(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(OSError, match="No space"):
        run_sweep(tiny_members(seeds=(0, 1), objectives=("erm",)), out, workers=1, resume=True)
    monkeypatch.undo()
    assert (out / "runs.json").read_text() == before
    assert not (out / "runs.json.tmp").exists()


def test_results_are_never_replaced_by_emptier_ones(tmp_path):
    from gan_mixup.sweeps.scorecard import write_scorecard

    out = tmp_path / "sweep"
    run_sweep(tiny_members(seeds=(0, 1), objectives=("erm",)), out, workers=1)
    results = (out / "results.csv").read_bytes()
    (out / "ring8-erm-seed1" / "metrics.jsonl").unlink()  # a member's records gone
    (out / "ring8-erm-seed1" / "snapshots").rename(out / "elsewhere")
    with pytest.raises(SweepError, match=r"kept .*results.csv.*ring8-erm-seed1.*delete results.csv"):
        write_scorecard(out, recompute=True)
    assert (out / "results.csv").read_bytes() == results
    (out / "results.csv").unlink()  # the way out the message names
    write_scorecard(out, recompute=True)
    with open(out / "results.csv") as f:
        assert {r["run"] for r in csv.DictReader(f)} == {"ring8-erm-seed0"}


def test_finished_means_the_final_checkpoint_and_records_that_agree(tmp_path):
    out = tmp_path / "sweep"
    members = tiny_members(seeds=(0,), objectives=("erm",), iterations=30, checkpoint_every=10)
    run_sweep(members, out, workers=1)
    member = out / members[0].name
    uninterrupted = read_snapshots(member)[-1].fake
    assert member_finished(member, 30)
    # Killed between its last snapshot and its final checkpoint: snapshot 30 and its record are there.
    cut_back(member)
    assert not member_finished(member, 30)
    assert {r["status"] for r in collect_results(out)} == {"unfinished"}
    result = run_sweep(members, out, workers=1, resume=True)
    assert result.statuses == {members[0].name: "done"}
    assert torch.load(member / "checkpoint.pt", weights_only=True)["iteration"] == 30
    assert np.array_equal(read_snapshots(member)[-1].fake, uninterrupted)
    # The final checkpoint, but the records of the last snapshots gone (a cut metrics.jsonl).
    lines = (member / "metrics.jsonl").read_text().splitlines(keepends=True)
    last_snapshot = max(i for i, line in enumerate(lines) if json.loads(line)["kind"] == "snapshot")
    (member / "metrics.jsonl").write_text("".join(lines[:last_snapshot]))
    assert not member_finished(member, 30)
    with pytest.raises(SweepError, match="row"):  # results.csv holds the rows the cut lost: kept as it is
        run_sweep(members, out, workers=1, resume=True)
    (out / "results.csv").unlink()
    result = run_sweep(members, out, workers=1, resume=True)
    assert result.statuses[members[0].name].startswith("failed: its checkpoint is at the last iteration")


def test_resume_refuses_changed_settings_before_writing_anything(tmp_path):
    out = tmp_path / "sweep"
    run_sweep(tiny_members(seeds=(0,), objectives=("erm",)), out, workers=1)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    with pytest.raises(SweepError, match=r"ring8-erm-seed0 was trained with other settings \(.*lr: 0.001 -> 0.0005"):
        run_sweep(tiny_members(seeds=(0,), objectives=("erm",), lr=5e-4), out, workers=1, resume=True)
    with pytest.raises(SweepError, match=r"ring8-erm-seed1 would join ring8-erm-seed0, trained with other settings \(hidden: 16 -> 32"):
        run_sweep(tiny_members(seeds=(1,), objectives=("erm",), hidden=32), out, workers=1, resume=True)
    with pytest.raises(SweepError, match="has trained 12 iterations, more than --iterations 8"):
        run_sweep(tiny_members(seeds=(0,), objectives=("erm",), iterations=8), out, workers=1, resume=True)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    # Harmless settings may change: more iterations continue the finished member.
    result = run_sweep(tiny_members(seeds=(0,), objectives=("erm",), iterations=16, log_every=4), out, workers=1, resume=True)
    assert result.statuses == {"ring8-erm-seed0": "done"}


def test_diverged_members_are_kept_unless_retried(tmp_path):
    out = tmp_path / "sweep"
    members = tiny_members(seeds=(0,), objectives=("erm",), iterations=30, checkpoint_every=10)
    run_sweep(members, out, workers=1)
    member = out / members[0].name
    cut_back(member)  # as a NaN at iteration 25 leaves it: the checkpoint before it and a "nonfinite" event
    with open(member / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"kind": "event", "iteration": 25, "event": "nonfinite", "message": "the D loss became nan"}) + "\n")
    assert run_sweep(members, out, workers=1, resume=True).statuses == {members[0].name: "diverged"}
    assert torch.load(member / "checkpoint.pt", weights_only=True)["iteration"] == 20
    assert run_sweep(members, out, workers=1, resume=True, retry_diverged=True).statuses == {members[0].name: "done"}
    assert member_finished(member, 30) and {r["status"] for r in collect_results(out)} == {"finished"}


class KillItselfAt:
    """A callback that kills its own process (kill -9) at a train record of ``iteration``."""

    def __init__(self, iteration):
        self.iteration = iteration

    def __call__(self, record):
        import os
        import signal

        if record.get("kind") == "train" and record["iteration"] >= self.iteration:
            os.kill(os.getpid(), signal.SIGKILL)


def kill_seed1(run_dir):
    return [KillItselfAt(6)] if run_dir.name.endswith("seed1") else []


def test_a_member_whose_process_is_killed_fails_alone_and_the_sweep_goes_on(tmp_path):
    out = tmp_path / "sweep"
    members = tiny_members(seeds=(0, 1, 2), objectives=("erm",))
    result = run_sweep(members, out, workers=2, callbacks_for=kill_seed1)
    assert result.statuses["ring8-erm-seed0"] == result.statuses["ring8-erm-seed2"] == "done"
    assert result.statuses["ring8-erm-seed1"].startswith("failed: its process was killed by SIGKILL")
    assert "ring8-erm-seed1" not in {r["run"] for r in collect_results(out) if r["status"] == "finished"}
    again = run_sweep(members, out, workers=2, resume=True)
    assert again.statuses == {"ring8-erm-seed0": "skipped", "ring8-erm-seed1": "done", "ring8-erm-seed2": "skipped"}


def test_lockstep_jobs_of_nothing_to_do():
    from gan_mixup.sweeps.jobs import lockstep_jobs

    assert lockstep_jobs([], 4) == []


# ----- the batched path --------------------------------------------------------------------------

def test_batched_sweep_groups_seeds_and_writes_the_scorecard(tmp_path):
    result = run_sweep(tiny_members(seeds=(0, 1, 2)), tmp_path / "s", workers=1, batched=True)
    assert set(result.statuses.values()) == {"done"} and len(result.statuses) == 6
    assert (tmp_path / "s" / "scorecard.md").is_file()


def test_batched_resume_of_a_finished_sweep_skips_it(tmp_path):
    out = tmp_path / "s"
    run_sweep(tiny_members(seeds=(0, 1), objectives=("erm",)), out, workers=1, batched=True)
    again = run_sweep(tiny_members(seeds=(0, 1), objectives=("erm",)), out, workers=2, resume=True, batched=True)
    assert set(again.statuses.values()) == {"skipped"}


# ----- TensorBoard ---------------------------------------------------------------------------------

def test_tensorboard_logs_losses_metrics_and_frames(tmp_path):
    pytest.importorskip("tensorboard")  # in the test extra, so this runs in CI
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from gan_mixup.tensorboard_log import TensorBoardLogger

    train(make_tiny_config(iterations=12), tmp_path / "run", callbacks=TensorBoardLogger.for_run(tmp_path / "run"))
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"train/d_loss", "train/g_loss", "metrics/modes_covered", "metrics/d_grad_fake"} <= set(tags["scalars"])
    assert len(events.Images("frames")) == len(read_snapshots(tmp_path / "run"))


def test_tensorboard_missing_gives_one_line(monkeypatch):
    import builtins

    from gan_mixup.tensorboard_log import MissingExtraError, require_tensorboard

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name == "tensorboard" or name.startswith("tensorboard."):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(MissingExtraError, match=r"pip install 'gan-mixup\[tensorboard\]'"):
        require_tensorboard()


# ----- the commands --------------------------------------------------------------------------------

def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gan_mixup.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


TINY_FLAGS = ["--iterations", "8", "--hidden", "8", "--batch-size", "16", "--d-steps", "1", "--snapshot-frames", "2",
              "--fixed-samples", "64", "--grid-size", "8", "--no-progress"]


def test_cli_sweep_metrics_and_resume(tmp_path):
    out = tmp_path / "sw"
    done = cli("sweep", "--dataset", "ring8", "--objectives", "erm,mixup", "--preset", "paper-text,paper-code",
               "--alpha", "0.2", "--seeds", "0-1", "--workers", "1", "--out", str(out), *TINY_FLAGS, "--tensorboard")
    assert done.returncode == 0, done.stderr
    assert "runs: 8 done" in done.stdout
    with open(out / "results.csv") as f:
        settings = {r["setting"] for r in csv.DictReader(f)}
    assert settings == {"erm[paper-text]", "erm[paper-code]", "mixup[paper-text] α=0.2", "mixup[paper-code] α=0.2"}
    assert (out / "ring8-mixup-paper-code-a0.2-seed1" / "tensorboard").is_dir()
    assert f"viewer: {out / 'viewer' / 'index.html'}" in done.stdout  # written at the end, as the scorecard is
    assert len(list((out / "viewer" / "data").glob("run_*.js"))) == 8
    again = cli("sweep", "--dataset", "ring8", "--objectives", "erm,mixup", "--preset", "paper-text,paper-code",
                "--alpha", "0.2", "--seeds", "0-1", "--workers", "1", "--resume", str(out), *TINY_FLAGS)
    assert again.returncode == 0 and "runs: 8 skipped" in again.stdout
    (out / "scorecard.md").unlink()
    rebuilt = cli("metrics", str(out))
    assert rebuilt.returncode == 0 and "| ring8 | mixup[paper-code] α=0.2 | 2 | 8 |" in rebuilt.stdout
    assert (out / "scorecard.md").is_file()
    one = cli("metrics", str(out / "ring8-erm-paper-text-seed0"))
    assert one.returncode == 0 and "d_grad_fake" in one.stdout
    with open(out / "ring8-erm-paper-text-seed0" / "metrics.csv") as f:
        assert len(list(csv.DictReader(f))) == len(read_snapshots(out / "ring8-erm-paper-text-seed0"))


@pytest.mark.parametrize("args, message", [
    (["sweep", "--seeds", "4-1"], "backwards"),
    (["sweep", "--seeds", "a"], "seeds like"),
    (["sweep", "--seed", "3"], "--seeds"),
    (["sweep", "--preset", "paper-nope"], "unknown preset"),
    (["sweep", "--objectives", "erm,erm"], "twice"),
    (["sweep", "--alpha", "0.2,x"], "number"),
    (["sweep", "--authors-grid", "--alpha", "0.3"], "--authors-grid sets"),
    (["sweep", "--objectives", "nope"], "nope"),
    (["sweep", "--dataset", "ring8,mnist-nope"], "mnist-nope"),
    (["metrics", "/nonexistent/dir"], "neither a run directory"),
    (["sweep", "--workers", "0"], "--workers must be"),
    (["sweep", "--seeds", "0-999999999"], "at most 10000"),  # counted, not built (37 GB)
    (["sweep", "--retry-diverged"], "--resume"),
])
def test_cli_sweep_and_metrics_mistakes_are_one_line(tmp_path, args, message):
    needs_out = args[0] == "sweep"
    done = cli(*args, *(["--out", str(tmp_path / "o")] if needs_out else []), *TINY_FLAGS[:2] if needs_out else [])
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "o").exists()


def test_cli_sweep_resume_refuses_changes_and_exits_non_zero_on_failed_runs(tmp_path):
    from cli_helpers import run_cli

    out = tmp_path / "sw"
    flags = ["--objectives", "erm", "--seeds", "0", "--workers", "1", "--out", out, *TINY_FLAGS[2:], "--hidden", "8",
             "--checkpoint-every", "10"]
    code, stdout, stderr = run_cli(["sweep", "--iterations", "30", *flags])
    assert code == 0 and "runs: 1 done" in stdout, stderr
    manifest = (out / "runs.json").read_text()
    for changed, named in ((["--lr", "5e-4", "--hidden", "32"], "hidden: 8 -> 32; lr: 0.001 -> 0.0005"),
                           (["--iterations", "20"], "more than --iterations 20")):
        code, stdout, stderr = run_cli(["sweep", "--iterations", "30", *flags, "--resume", *changed])
        assert code == 2 and len(stderr.splitlines()) == 1 and named in stderr, stderr
        assert "skipped" not in stdout
    assert (out / "runs.json").read_text() == manifest  # the finished member's record is untouched
    member = out / "ring8-erm-seed0"
    cut_back(member)
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        (member / name).write_bytes(b"garbage")
    code, stdout, stderr = run_cli(["sweep", "--iterations", "30", *flags, "--resume"])
    assert code == 1 and "runs: 1 failed" in stdout
    (line,) = stderr.splitlines()
    assert line.startswith("gan-mixup: error: 1 of 1 runs failed; the first, ring8-erm-seed0: cannot resume"), line
    assert (out / "scorecard.md").is_file()


def test_sweep_dataset_comes_from_the_config_file_unless_typed(tmp_path, monkeypatch):
    import gan_mixup.cli as cli_module
    import gan_mixup.sweeps as sweep_module

    seen = []
    monkeypatch.setattr(sweep_module, "run_sweep",
                        lambda members, out, **kw: seen.append(members) or sweep_module.SweepResult({m.name: "done" for m in members}))
    config = tmp_path / "grid.json"
    config.write_text(make_tiny_config(dataset="grid25", hidden=24).to_json())

    def datasets(*argv):
        assert cli_module.main(["sweep", "--objectives", "erm", "--seeds", "0", "--out", str(tmp_path / "o"), "--no-progress", *argv]) == 0
        return sorted({m.dataset for m in seen[-1]}), {m.config.hidden for m in seen[-1]}

    assert datasets("--config", str(config)) == (["grid25"], {24})
    assert datasets("--config", str(config), "--dataset", "ring8") == (["ring8"], {24})
    assert datasets() == (["ring8"], {512})
    uniform = tmp_path / "uniform.json"  # α = 0 (the authors' ERM) needs their λ ~ U(0, α)
    uniform.write_text(make_tiny_config(dataset="grid25", lambda_distribution="uniform").to_json())
    assert cli_module.main(["sweep", "--authors-grid", "--config", str(uniform), "--seeds", "0", "--out", str(tmp_path / "g"),
                            "--no-progress"]) == 0
    assert {m.dataset for m in seen[-1]} == {"ring8", "grid25"}  # the grid's own datasets


def test_authors_grid_expands_to_thirty_settings(tmp_path, monkeypatch):
    import gan_mixup.cli as cli_module
    import gan_mixup.sweeps as sweep_module

    seen = {}

    def fake_run_sweep(members, out, **kwargs):
        seen["members"] = members
        return sweep_module.SweepResult({m.name: "done" for m in members})

    monkeypatch.setattr(sweep_module, "run_sweep", fake_run_sweep)
    assert cli_module.main(["sweep", "--authors-grid", "--seeds", "0-1", "--out", str(tmp_path / "g"), "--no-progress"]) == 0
    members = seen["members"]
    assert len({(m.dataset, m.setting) for m in members}) == 30 and len(members) == 60
    assert {m.config.lambda_distribution for m in members} == {"uniform"} and {m.config.pairing for m in members} == {"shuffled"}
    assert {m.config.latent_dim for m in members} == {2, 5, 10}


def test_cli_sweep_on_stacked_digits_scores_modes_of_a_thousand(tmp_path):
    out = tmp_path / "img"
    done = cli("sweep", "--dataset", "stacked-digits", "--objectives", "erm,mixup", "--seeds", "0-1", "--workers", "2",
               "--iterations", "3", "--hidden", "8", "--batch-size", "16", "--metric-samples", "100", "--metric-frames", "2",
               "--snapshot-frames", "2", "--fixed-samples", "16", "--out", str(out), "--no-progress", "--batched")
    assert done.returncode == 0, done.stderr
    with open(out / "results.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["modes_covered"]]
    assert {r["run"] for r in rows} == {"stacked-digits-erm-seed0", "stacked-digits-erm-seed1",
                                        "stacked-digits-mixup-a0.2-seed0", "stacked-digits-mixup-a0.2-seed1"}
    # the ceiling: what 100 real samples of 1,000 equally likely modes cover (about 95)
    assert all(80 <= int(r["modes_total"]) <= 100 for r in rows)
    assert all(0 <= float(r["kl_modes"]) for r in rows) and all(float(r["d_grad_fake"]) > 0 for r in rows)
    scorecard = (out / "scorecard.md").read_text()
    assert "| Fréchet | precision | recall | density | coverage |" in scorecard
    assert all(0 <= float(r["precision"]) <= 1 and 0 <= float(r["coverage"]) <= 1 for r in rows)


