"""Named presets: sets of config fields that reproduce a known setting in one flag.

``paper-code`` is every choice of the mixup authors' own demo (hongyi-zhang/mixup,
``gan/example_gan.py``, the code that made Figure 5), where it differs from the paper's text:

- λ ~ Uniform(0, α) per sample, not Beta(α, α)                   (``lambda_distribution="uniform"``)
- two shuffled real∪fake batches mixed, labels mixed alike       (``pairing="shuffled"``)
- G maximises D's BCE on a fresh unmixed real∪fake batch          (``generator_loss="minimax"``)
- ring: 8 means on the unit circle; grid: 5×5 in [−1, 1]; std 0.01 (the datasets' defaults)
- latent size 2, 3×512 ReLU MLPs, batch 128, 5 D steps, Adam defaults, 20,000 iterations,
  1,000 fixed noise vectors (the ToyConfig defaults, restated here so the preset stands alone)

With this preset ``alpha=0`` is the authors' ERM (their ``mixup == 0`` branch: the unmixed,
shuffled 256-sample batch); ``figure5`` uses exactly that for its ERM half.
"""
from __future__ import annotations

from gan_mixup.errors import GanMixupError

from dataclasses import dataclass
from typing import Any


class PresetError(GanMixupError, ValueError):
    """An unknown preset name."""


@dataclass(frozen=True)
class Preset:
    description: str
    fields: dict[str, Any]


PRESETS: dict[str, Preset] = {
    "paper-code": Preset(
        description="the mixup authors' gan/example_gan.py: λ~U(0,α), shuffled pairs, minimax G loss",
        fields={
            "objective": "mixup",
            "lambda_distribution": "uniform",
            "lambda_sampling": "per-sample",
            "pairing": "shuffled",
            "generator_loss": "minimax",
            "dataset_options": {},
            "latent_dim": 2,
            "hidden": 512,
            "layers": 3,
            "iterations": 20000,
            "batch_size": 128,
            "d_steps": 5,
            "lr": 1e-3,
            "betas": [0.9, 0.999],
            "fixed_samples": 1000,
            "preset": "paper-code",
        },
    ),
    "paper-text": Preset(
        description="the paper's text: λ~Beta(α,α) per sample, real-fake pairs, non-saturating G loss",
        fields={
            "objective": "mixup",
            "lambda_distribution": "beta",
            "lambda_sampling": "per-sample",
            "pairing": "real-fake",
            "generator_loss": "non-saturating",
            "preset": "paper-text",
        },
    ),
}


def load_preset(name: str) -> dict[str, Any]:
    """The config fields of preset ``name`` (a fresh copy)."""
    if name not in PRESETS:
        raise PresetError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return {key: (dict(value) if isinstance(value, dict) else value) for key, value in PRESETS[name].fields.items()}
