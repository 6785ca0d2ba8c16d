"""Named presets: sets of config fields that reproduce a known setting in one flag.

``paper-code`` is every choice of the mixup authors' own demo (hongyi-zhang/mixup,
``gan/example_gan.py``, the code that made Figure 5), where it differs from the paper's text:

- λ ~ Uniform(0, α) per sample, not Beta(α, α)                   (``lambda_distribution="uniform"``)
- two shuffled real∪fake batches mixed, labels mixed alike       (``pairing="shuffled"``)
- G maximises D's BCE on a fresh unmixed real∪fake batch          (``generator_loss="minimax"``)
- ring: 8 means on the unit circle; grid: 5×5 in [−1, 1]; std 0.01 (the datasets' defaults)
- latent size 2, 3×512 ReLU MLPs, batch 128, 5 D steps, Adam defaults, 20,000 iterations,
  1,000 fixed noise vectors (the toy defaults, restated here so the preset stands alone)

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
    """A named set of config fields. ``modality``: the modality whose networks and schedule the
    preset sizes (``None``: it sizes nothing); on another modality those sizes give way to its own
    defaults, so ``images --preset paper-code`` is the authors' objective on a DCGAN of DCGAN's size."""

    description: str
    fields: dict[str, Any]
    modality: str | None = None


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
        modality="toy",
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


# `make demo` (`gan-mixup toy --demo`): the authors' Figure-5 setting (preset paper-code), at width
# 128 and cut to 2,000 iterations: well under a minute of training on 2 cores, by when mixup has
# reached all eight ring modes (by eye; widths 256 and 512 get there too, at 4x and 16x the matmul
# cost). The paper-text variant needs far longer to get there (see docs/toy.md, "The paper's text and
# the authors' code").
DEMO_PRESET = "paper-code"
DEMO_SETTINGS = {"iterations": 2000, "hidden": 128, "snapshot_frames": 100, "checkpoint_every": 500}
DEMO = Preset(description=f"a quick demo: preset {DEMO_PRESET} with {DEMO_SETTINGS}",
              fields={**PRESETS[DEMO_PRESET].fields, **DEMO_SETTINGS}, modality=PRESETS[DEMO_PRESET].modality)

# --data-scale: the toy datasets' scale in the mixup authors' code (the datasets' defaults) and in
# later papers; dataset -> its options.
DATA_SCALES: dict[str, dict[str, dict[str, float]]] = {
    "authors": {"ring8": {}, "grid25": {}},
    "later": {"ring8": {"radius": 2.0, "std": 0.02}, "grid25": {"spacing": 2.0, "std": 0.05}},
}


def get_preset(preset: "str | Preset") -> Preset:
    """The ``Preset`` named ``preset`` (a ``Preset`` is returned as it is)."""
    if isinstance(preset, Preset):
        return preset
    load_preset(preset)  # an unknown name: the error naming the choices
    return PRESETS[preset]


def preset_fields(preset: "str | Preset", modality: Any) -> dict[str, Any]:
    """The fields ``preset`` sets on a run of ``modality`` (its sizes giving way on another one):
    a fresh copy. ``modality`` is the run's ``ModalitySpec``; the fields named in its ``defaults`` are
    the sizes a preset written for another modality leaves to it."""
    found = get_preset(preset)
    fields = {key: (dict(value) if isinstance(value, dict) else value) for key, value in found.fields.items()}
    if found.modality is not None and found.modality != modality.name:
        fields = {key: value for key, value in fields.items() if key not in modality.defaults}
    return fields
