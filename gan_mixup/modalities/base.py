"""The ``Modality`` protocol: what a kind of data (points, images, ...) provides to the package.

A modality is a small object with declarative attributes and methods; the methods of the built-in
modalities import their implementation lazily, so importing the registry (as ``config`` does to
find a dataset's defaults) costs nothing and creates no import cycle. A modality takes the run's
config as any object with RunConfig's attributes: modalities sit below ``config`` in the imports.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # annotations only
    from torch import nn


class Modality:
    """One kind of data. Subclasses set the attributes and implement the methods.

    Attributes:
        name: the modality's name, recorded as ``kind`` in run directories (``"points"``).
        datasets: the dataset names it serves (``owns`` may accept more, e.g. ``folder:PATH``).
        defaults: RunConfig field values that differ from the dataclass's own default.
        limits: upper limits of RunConfig integer fields for this modality (over the common ones).
        refused_fields: fields this modality never reads, with why; a config must leave them at
            their defaults so ``config.json`` records nothing the run did not use.
        choices, command, label, default_dataset: see the ``# --- config ---`` section.
    """

    name: str = ""
    datasets: tuple[str, ...] = ()

    def owns(self, dataset: str) -> bool:
        """Whether this modality serves ``dataset``."""
        return dataset in self.datasets

    # --- config ---
    # What RunConfig reads to resolve and check a config of this modality, and what the command line
    # shows of it; plain data, so that config (above this module) asks and this module knows no config.
    defaults: Mapping[str, Any] = {}
    limits: Mapping[str, int] = {}
    refused_fields: Mapping[str, str] = {}
    choices: Mapping[str, tuple[Any, ...]] = {}
    """RunConfig fields whose value must be one of these (``None`` stays allowed where it is the default)."""
    command: str = ""
    """The ``gan-mixup`` subcommand that trains this modality's datasets; its name labels them in --help."""
    label: str = ""
    """An adjective for its datasets in messages: "a toy dataset", "image datasets only"."""
    default_dataset: str = ""
    """The dataset ``command`` trains when nothing names one."""

    def dataset_defaults(self, dataset: str) -> Mapping[str, Any]:
        """Defaults of one dataset over the modality's (e.g. the 8x8 digits train at 16 px)."""
        return {}

    def config_problem(self, config: Any) -> str | None:
        """Why ``config`` (its defaults resolved, the common checks passed) cannot run on this
        modality, as one line; ``None`` when it can. RunConfig raises it as a ``ConfigError``."""
        return None

    def build_data(self, config: Any) -> Any:
        """The run's dataset: ``sample(n, generator) -> Tensor`` drawing from that generator alone."""
        raise NotImplementedError

    def build_models(self, config: Any, data: Any) -> "tuple[nn.Module, nn.Module]":
        """G and D for ``config`` and ``data``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<modality {self.name}>"
