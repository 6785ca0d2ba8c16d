"""No float64 on a training device: what Apple's MPS needs, since it has no float64 at all.

The failure guarded against is an ATen op that touches a tensor on a device other than the CPU
while one of its inputs or outputs is float64: MPS raises there (CUDA runs it, slowly). The paper
text's Beta(α, α) λ sampler used to do exactly that (``torch.full(..., dtype=float64, device=...)``
then ``_standard_gamma``, add, divide on the batches' device). With no Mac or GPU here the failure
is made observable in two ways:

1. The objectives and regularizers run on PyTorch's ``meta`` device. To every op and to every
   ``device.type`` test in the package it is a device that is not the CPU (dtypes and shapes are
   computed, no data), so the code takes the branches it takes on MPS. ``Float64Recorder``, a
   ``TorchDispatchMode``, sees every ATen op, factory ops and the backward pass included, and
   records the dtype and device of its tensors; a float64 tensor in an op that touches a non-CPU
   device fails the test. Float64 on the CPU stays allowed: CPU runs draw λ in float64 on the host,
   and must train byte for byte as they did.
2. The trainer's step cannot run on meta (fused Adam refuses it), so ``train_step`` runs on the CPU
   with λ's one device rule (``objectives.lambdas._draws_float64_on``) answering "no" for the CPU
   too: the step then takes the non-CPU path everywhere, and no op may see float64 at all, on any
   device.

Where CUDA or MPS is present, the step is also checked there for real.
"""
from __future__ import annotations

import contextlib

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from cli_helpers import run_cli
from conftest import make_tiny_config
from gan_mixup.objectives import OBJECTIVES, MixupGAN, StandardGAN, get_objective, lambdas
from gan_mixup.regularizers import REGULARIZERS, parse_regularizer, with_regularizers
from gan_mixup.training.state import build_state
from gan_mixup.training.step import train_step

META = torch.device("meta")


class Float64Recorder(TorchDispatchMode):
    """Records every ATen op that runs inside it as ``(op, dtypes, device types)`` of its tensors."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[str, frozenset[torch.dtype], frozenset[str]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        tensors = [t for t in tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor)]
        self.ops.append((str(func), frozenset(t.dtype for t in tensors), frozenset(t.device.type for t in tensors)))
        return out

    def float64_on_a_device(self) -> list[str]:
        """The ops that touch a non-CPU device with a float64 tensor: what fails on MPS."""
        return [op for op, dtypes, devices in self.ops if torch.float64 in dtypes and devices - {"cpu"}]

    def float64_anywhere(self) -> list[str]:
        return [op for op, dtypes, _ in self.ops if torch.float64 in dtypes]

    def ran_on(self, device: str) -> int:
        return sum(device in devices for _, _, devices in self.ops)


# ----- the recorder sees what MPS refuses ----------------------------------------------------------

def test_the_recorder_catches_float64_on_a_device_and_allows_it_on_the_cpu():
    with Float64Recorder() as on_meta:
        torch.full((2, 3), 0.2, dtype=torch.float64, device=META).float()
    assert "aten.full.default" in on_meta.float64_on_a_device()
    assert "aten._to_copy.default" in on_meta.float64_on_a_device()  # the float64 input of the cast
    with Float64Recorder() as host_then_device:
        torch.rand(3, dtype=torch.float64).float().to(META)
    assert host_then_device.float64_on_a_device() == [] and host_then_device.float64_anywhere()
    with Float64Recorder() as mixed:
        torch.ones(3, device=META) * torch.tensor(0.5, dtype=torch.float64)  # a CPU float64 scalar into a device op
    assert mixed.float64_on_a_device() == ["aten.mul.Tensor"]


def test_the_cpu_float64_sampler_on_a_device_is_what_the_recorder_catches(monkeypatch):
    """Drawing λ in float64 where the batches live, as every device did before, fails here."""
    monkeypatch.setattr(lambdas, "_draws_float64_on", lambda device: True)
    for alpha in (0.2, 0.005):  # torch's Gamma sampler, and the log-space one for small α
        with Float64Recorder() as recorder, contextlib.suppress(NotImplementedError):
            # (the log-space rounds index with a mask, which meta cannot size: it stops there)
            MixupGAN(alpha=alpha).sample_lambda(8, META, torch.float32)
        assert recorder.float64_on_a_device(), alpha


# ----- objectives and regularizers on a device without float64 ----------------------------------

def _mlp_d() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))


def _batchnorm_image_d() -> nn.Module:
    """A tiny DCGAN-like D with BatchNorm (two forwards, batch statistics) on (B, 1, 8, 8) images."""
    return nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1), nn.BatchNorm2d(4), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 4, 1, 0))


MIXUP_VARIANTS = {
    "paper-text": {},
    "per-batch": {"per_sample": False},
    "small-alpha": {"alpha": 0.005},  # the log-space sampler below α = 0.01
    "large-alpha": {"alpha": 1.5},  # no U^(1/α) boost
    "uniform": {"lambda_distribution": "uniform"},
    "shuffled-beta": {"pairing": "shuffled"},
    "paper-code": {"lambda_distribution": "uniform", "pairing": "shuffled", "generator_loss": "minimax"},
    "mixed-g-loss": {"generator_loss": "mixed"},
    "saturating": {"generator_loss": "saturating"},
}
MIXUP_VARIANTS["fake-fake-real-real"] = {"mix_fake_fake": 1.0, "mix_real_real": 1.0}
OBJECTIVE_CASES = [(name, {}) for name in OBJECTIVES if name != "mixup"] + [
    ("mixup", options) for options in MIXUP_VARIANTS.values()] + [("manifold-mixup", {"target": "fake-min"})]
CASE_IDS = [name for name in OBJECTIVES if name != "mixup"] + [f"mixup-{v}" for v in MIXUP_VARIANTS] + [
    "manifold-mixup-fake-min"]


def _losses_and_backward(objective, D: nn.Module, shape: tuple[int, ...]) -> None:
    """Both losses of ``objective`` on float32 batches on meta, each with its backward pass."""
    D = D.to(META)
    real = torch.randn(8, *shape, device=META)
    fake = torch.randn(8, *shape, device=META, requires_grad=True)
    d_loss = objective.discriminator_loss(D, real, fake.detach())
    assert d_loss.dtype == torch.float32 and d_loss.device == META
    d_loss.backward()
    g_loss = objective.generator_loss(D, fake, real)
    assert g_loss.dtype == torch.float32 and g_loss.device == META
    g_loss.backward()
    assert fake.grad is not None and fake.grad.dtype == torch.float32


@pytest.mark.parametrize("name, options", OBJECTIVE_CASES, ids=CASE_IDS)
@pytest.mark.parametrize("make_d, shape", [(_mlp_d, (2,)), (_batchnorm_image_d, (1, 8, 8))], ids=["mlp", "batchnorm-conv"])
def test_objectives_put_no_float64_on_a_device(name, options, make_d, shape):
    objective = get_objective(name, **options)
    with Float64Recorder() as recorder:
        _losses_and_backward(objective, make_d(), shape)
    assert recorder.ran_on("meta") > 20  # the losses and their backward really ran there
    assert recorder.float64_on_a_device() == []
    lam_mean = getattr(objective.last_stats, "lam_mean", None)
    assert lam_mean is None or (lam_mean.dtype == torch.float32 and lam_mean.device == META)


def test_every_objective_is_covered():
    assert {name for name, _ in OBJECTIVE_CASES} == set(OBJECTIVES)


@pytest.mark.parametrize("regularizer", list(REGULARIZERS))
@pytest.mark.parametrize("make_objective", [StandardGAN, MixupGAN], ids=["erm", "mixup"])
def test_regularizers_put_no_float64_on_a_device(regularizer, make_objective):
    objective = with_regularizers(make_objective(), parse_regularizer(regularizer))
    objective.begin_iteration(3, 10)  # instance noise: a std between its start and zero
    with Float64Recorder() as recorder:
        _losses_and_backward(objective, _mlp_d(), (2,))
    assert recorder.ran_on("meta") > 20
    assert recorder.float64_on_a_device() == []


def test_lambda_on_a_device_is_float32_from_the_device_sampler(monkeypatch):
    calls = []
    sampler = lambdas._sample_beta_float32
    monkeypatch.setattr(lambdas, "_sample_beta_float32", lambda *a: calls.append(a) or sampler(*a))
    for per_sample in (True, False):
        lam = MixupGAN(alpha=0.2, per_sample=per_sample).sample_lambda(8, META, torch.float32)
        assert lam.shape == (8,) and lam.dtype == torch.float32 and lam.device == META
    lam = MixupGAN(alpha=0.2, generator=torch.Generator().manual_seed(0)).sample_lambda(8, torch.device("cpu"), torch.float32)
    assert len(calls) == 2  # the CPU keeps its float64 sampler
    assert lam.device.type == "cpu"


# ----- the trainer's step ----------------------------------------------------------------------

STEP_CONFIGS = {
    "paper-text": {},
    "small-alpha-per-batch-ema": {"alpha": 0.005, "lambda_sampling": "per-batch", "g_ema": 0.9},
    "shuffled-beta": {"pairing": "shuffled"},
    "paper-code": {"lambda_distribution": "uniform", "pairing": "shuffled", "generator_loss": "minimax"},
    "mixed-with-every-regularizer": {"generator_loss": "mixed", "regularizers": ("r1:1", "gp:1", "instance-noise:0.1",
                                                                                  "label-smoothing:0.9")},
    "one-d-step": {"d_steps": 1},
    **{name: {"objective": name} for name in OBJECTIVES if name != "mixup"},
    "mixup-fake-fake-real-real": {"objective_options": {"mix_fake_fake": 1.0, "mix_real_real": 1.0}},
    "cutmix-images": {"objective": "cutmix", "dataset": "digits", "image_size": 16, "hidden": 8, "latent_dim": 8,
                      "batch_size": 16, "fixed_samples": 16},
    "manifold-mixup-images": {"objective": "manifold-mixup", "dataset": "digits", "image_size": 16, "hidden": 8,
                              "latent_dim": 8, "batch_size": 16, "fixed_samples": 16},
}


@pytest.mark.parametrize("changes", list(STEP_CONFIGS.values()), ids=list(STEP_CONFIGS))
def test_train_steps_create_no_float64_off_the_cpu(changes, monkeypatch):
    """Told that no device here has float64, the whole step (D and G updates, EMA) uses none."""
    monkeypatch.setattr(lambdas, "_draws_float64_on", lambda device: False)
    state = build_state(make_tiny_config(device="cpu", **changes))
    with Float64Recorder() as recorder:
        for _ in range(3):
            train_step(state)
    assert recorder.ran_on("cpu") > 100
    assert recorder.float64_anywhere() == []


ACCELERATORS = [name for name, present in (("cuda", torch.cuda.is_available()),
                                           ("mps", torch.backends.mps.is_available())) if present]


@pytest.mark.skipif(not ACCELERATORS, reason="no CUDA or MPS device here")
@pytest.mark.parametrize("changes", list(STEP_CONFIGS.values()), ids=list(STEP_CONFIGS))
def test_train_steps_on_a_real_accelerator_create_no_float64_there(changes):
    state = build_state(make_tiny_config(device=ACCELERATORS[0], **changes))
    with Float64Recorder() as recorder:
        for _ in range(3):
            train_step(state)
    assert recorder.ran_on(ACCELERATORS[0]) > 100
    assert recorder.float64_on_a_device() == []


# ----- asking for a device this machine lacks ----------------------------------------------------

@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is available here; this checks the message without it")
def test_unavailable_mps_device_is_one_line(tmp_path):
    out = tmp_path / "run"
    code, _, stderr = run_cli(["toy", "--device", "mps", "--out", out, "--iterations", "5", "--hidden", "8", "--no-render",
                               "--no-progress"])
    assert code == 2 and "Traceback" not in stderr
    assert stderr.count("\n") == 1 and stderr.startswith("gan-mixup: error: ") and "MPS is not available" in stderr
    assert not out.exists()
