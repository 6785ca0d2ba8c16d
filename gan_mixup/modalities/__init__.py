"""What differs between kinds of data, in one place each: the ``Modality`` protocol and the registry.

A modality owns everything that depends on what a sample is: its datasets, defaults and limits, the
data and the models, what a snapshot records and the reference it is drawn against, the metrics
(registered by name in ``gan_mixup.metric_registry``), how one frame or grid cell is drawn. The rest
of the package asks the run's modality (``modality_of(config.dataset)``) and never tests for a kind itself.

Adding a modality (say 1-D signals) is one module or package implementing ``Modality`` and one line
in ``REGISTRY`` (or ``register(modality)`` from outside the package, as the tests do).

Example:
    >>> modality_of("ring8").name, modality_of("digits").name
    ('points', 'images')
"""
from __future__ import annotations

from gan_mixup.errors import GanMixupError
from gan_mixup.modalities.base import MODALITY_FIELDS, Modality
from gan_mixup.modalities.images import IMAGES
from gan_mixup.modalities.points import POINTS

__all__ = ["Modality", "ModalityError", "REGISTRY", "UnknownDatasetError", "modality_named", "modality_of", "register"]


class UnknownDatasetError(GanMixupError, ValueError):
    """No registered modality serves this dataset name."""


class ModalityError(GanMixupError, ValueError):
    """A modality that cannot be registered: not a ``Modality``, no name or datasets, missing defaults,
    or a dataset another modality already serves."""


# Order matters only for names two modalities would both claim (none do): the first one wins.
REGISTRY: dict[str, Modality] = {POINTS.name: POINTS, IMAGES.name: IMAGES}


def register(modality: Modality) -> Modality:
    """Add ``modality`` to the registry (replacing one of the same name) and return it.

    ``ModalityError`` when it is not a ``Modality`` instance, has no name or no datasets, its
    ``defaults`` leave out a field RunConfig leaves to the modality (``base.MODALITY_FIELDS``), or it
    claims a dataset another registered modality serves (a dataset name has one meaning).

    Example:
        >>> register("signals")
        Traceback (most recent call last):
        ...
        gan_mixup.modalities.ModalityError: register() takes a Modality instance (a subclass of gan_mixup.modalities.Modality), got the str 'signals'
    """

    if not isinstance(modality, Modality):
        raise ModalityError("register() takes a Modality instance (a subclass of gan_mixup.modalities.Modality), "
                            f"got the {type(modality).__name__} {modality!r}"[:300])
    if not isinstance(modality.name, str) or not modality.name:
        raise ModalityError(f"a modality needs a name (Modality.name, e.g. 'signals'), got {modality.name!r}")
    datasets = modality.datasets
    if isinstance(datasets, str) or not datasets or not all(isinstance(d, str) and d for d in datasets):
        raise ModalityError(f"modality {modality.name!r}: datasets must be a non-empty tuple of names, got {datasets!r}")
    missing = [name for name in MODALITY_FIELDS if modality.defaults.get(name) is None]
    if missing:
        raise ModalityError(f"modality {modality.name!r}: its defaults must give {', '.join(missing)} (RunConfig "
                            "leaves these to the modality; see gan_mixup.modalities.base.MODALITY_FIELDS)")
    for other in REGISTRY.values():
        taken = [d for d in datasets if other.name != modality.name and other.owns(d)]
        if taken:
            raise ModalityError(f"modality {modality.name!r}: {', '.join(map(repr, taken))} is already served by "
                                f"the {other.name!r} modality; give the dataset another name")
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
