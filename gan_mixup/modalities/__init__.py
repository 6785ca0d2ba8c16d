"""What differs between kinds of data, in one place each: the ``Modality`` protocol and the registry.

A modality owns everything that depends on what a sample is: its datasets, defaults and limits, the
data and the models, what a snapshot records and the reference it is drawn against, the metrics,
how one frame or grid cell is drawn, and its scorecard columns. The rest of the package asks the
run's modality (``modality_of(config.dataset)``) and never tests for a kind itself.

Adding a modality (say 1-D signals) is one module or package implementing ``Modality`` and one line
in ``REGISTRY`` (or ``register(modality)`` from outside the package, as the tests do).

Example:
    >>> modality_of("ring8").name, modality_of("digits").name
    ('points', 'images')
"""
from __future__ import annotations

from gan_mixup.errors import GanMixupError
from gan_mixup.modalities.base import Modality
from gan_mixup.modalities.images import IMAGES
from gan_mixup.modalities.points import POINTS

__all__ = ["Modality", "REGISTRY", "UnknownDatasetError", "modality_named", "modality_of", "register"]


class UnknownDatasetError(GanMixupError, ValueError):
    """No registered modality serves this dataset name."""


# Order matters only for names two modalities would both claim (none do): the first one wins.
REGISTRY: dict[str, Modality] = {POINTS.name: POINTS, IMAGES.name: IMAGES}


def register(modality: Modality) -> Modality:
    """Add ``modality`` to the registry (replacing one of the same name) and return it."""
    REGISTRY[modality.name] = modality
    return modality


def modality_of(dataset: str) -> Modality:
    """The modality that serves ``dataset``; ``UnknownDatasetError`` lists every known name."""
    for modality in REGISTRY.values():
        if modality.owns(dataset):
            return modality
    known = ", ".join(name for m in REGISTRY.values() for name in m.datasets)
    raise UnknownDatasetError(f"unknown dataset {dataset!r}; choose from {known}")


def modality_named(name: str) -> Modality:
    """The registered modality called ``name`` (``"points"``, ``"images"``)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownDatasetError(f"unknown modality {name!r}; choose from {', '.join(REGISTRY)}") from None


def all_datasets() -> tuple[str, ...]:
    """Every dataset name any registered modality serves, in registry order."""
    return tuple(name for m in REGISTRY.values() for name in m.datasets)
