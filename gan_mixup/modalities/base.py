"""The ``Modality`` protocol: what a kind of data (points, images, ...) provides to the package.

A modality is a small object with declarative attributes and methods; the methods of the built-in
modalities import their implementation lazily, so importing the registry (as ``config`` does to
find a dataset's defaults) costs nothing and creates no import cycle. A modality takes the run's
config as any object with RunConfig's attributes: modalities sit below ``config`` in the imports.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # annotations only
    from pathlib import Path

    import torch
    from torch import nn

    from gan_mixup.rundir import Reference


class Modality:
    """One kind of data. Subclasses set the attributes and implement the methods.

    Attributes:
        name: the modality's name, recorded as ``kind`` in run directories (``"points"``).
        datasets: the dataset names it serves (``owns`` may accept more, e.g. ``folder:PATH``).
        defaults: RunConfig field values that differ from the dataclass's own default.
        limits: upper limits of RunConfig integer fields for this modality (over the common ones).
        refused_fields: fields this modality never reads, with why; a config must leave them at
            their defaults so ``config.json`` records nothing the run did not use.
    """

    name: str = ""
    datasets: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {}
    limits: Mapping[str, int] = {}
    refused_fields: Mapping[str, str] = {}

    def owns(self, dataset: str) -> bool:
        """Whether this modality serves ``dataset``."""
        return dataset in self.datasets

    def dataset_defaults(self, dataset: str) -> Mapping[str, Any]:
        """Defaults of one dataset over the modality's (e.g. the 8x8 digits train at 16 px)."""
        return {}

    def build_data(self, config: Any) -> Any:
        """The run's dataset: ``sample(n, generator) -> Tensor`` drawing from that generator alone."""
        raise NotImplementedError

    def build_models(self, config: Any, data: Any) -> "tuple[nn.Module, nn.Module]":
        """G and D for ``config`` and ``data``."""
        raise NotImplementedError

    # --- training ---
    # What the trainer asks of a modality: what a snapshot records, the reference it is drawn
    # against, which snapshots compute metrics, and whether runs can train in lockstep.

    lockstep: bool = False  # whether runs can train batched over stacked weights (gan_mixup.training.batched)

    def metric_iterations(self, config: Any) -> "set[int] | None":
        """The snapshot iterations whose records compute metrics; ``None``: every snapshot (each
        of these iterations is a snapshot too)."""
        return None

    def make_reference(self, config: Any, data: Any, generator: "torch.Generator") -> "Reference":
        """The real samples every snapshot is drawn and measured against, from ``generator`` alone."""
        raise NotImplementedError

    def take_snapshot(self, state: Any, run_dir: "Path", G: "nn.Module", D: "nn.Module",
                      with_metrics: bool = True) -> dict[str, Any]:
        """Write the snapshot of ``state.iteration`` to ``run_dir`` and return its ``metrics.jsonl``
        record. ``state`` is the run's state (``fixed_noise``, ``metric_noise``, ``iteration``,
        ``config``, ``dataset``, ``reference``); G and D are in eval mode, gradients off."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<modality {self.name}>"
