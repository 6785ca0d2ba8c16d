"""What differs between kinds of data, in one place each: the modalities' registry.

A modality owns everything that depends on what a sample is. What it declares (its datasets,
defaults, limits, refused fields, choices, layouts) is a ``ModalitySpec`` in its ``spec`` module,
plain data that ``config`` reads; what it does lives in three modules the spec names and that are
imported where used: ``training_of(spec)`` (data, models, reference, snapshots), ``drawing_of(spec)``
(frames and cells; matplotlib) and ``measuring_of(spec)`` (a run's metrics). The metrics it records
are registered by name in ``gan_mixup.metric_registry``. The rest of the package asks the run's
modality (``modality_of(config.dataset)``) and never tests for one by name.

Adding a modality (say 1-D signals) is a package with a spec and its three behaviour modules, and
one line in ``REGISTRY`` (or ``register(spec)`` from outside the package, as the tests do).

Example:
    >>> modality_of("ring8").name, modality_of("digits").name
    ('toy', 'images')
"""
from __future__ import annotations

from importlib import import_module
from typing import cast

from gan_mixup.errors import GanMixupError
from gan_mixup.modalities.images.spec import SPEC as IMAGES
from gan_mixup.modalities.spec import MODALITY_FIELDS, DrawingModule, MeasuringModule, ModalitySpec, TrainingModule
from gan_mixup.modalities.toy.spec import SPEC as TOY

__all__ = ["DrawingModule", "MeasuringModule", "ModalityError", "ModalitySpec", "REGISTRY", "TrainingModule",
           "UnknownDatasetError", "drawing_of", "measuring_of", "modality_named", "modality_of", "register", "training_of"]


class UnknownDatasetError(GanMixupError, ValueError):
    """No registered modality serves this dataset name."""


class ModalityError(GanMixupError, ValueError):
    """A modality that cannot be registered: not a ``ModalitySpec``, no name or datasets, missing
    defaults, or a dataset another modality already serves."""


# Order matters only for names two modalities would both claim (none do): the first one wins.
REGISTRY: dict[str, ModalitySpec] = {TOY.name: TOY, IMAGES.name: IMAGES}


def register(modality: ModalitySpec) -> ModalitySpec:
    """Add ``modality`` to the registry (replacing one of the same name) and return it.

    ``ModalityError`` when it is not a ``ModalitySpec``, has no name or no datasets, its ``defaults``
    leave out a field RunConfig leaves to the modality (``spec.MODALITY_FIELDS``), or it claims a
    dataset another registered modality serves (a dataset name has one meaning).

    Example:
        >>> register("signals")
        Traceback (most recent call last):
        ...
        gan_mixup.modalities.ModalityError: register() takes a ModalitySpec (gan_mixup.modalities.spec), got the str 'signals'
    """

    if not isinstance(modality, ModalitySpec):
        raise ModalityError("register() takes a ModalitySpec (gan_mixup.modalities.spec), "
                            f"got the {type(modality).__name__} {modality!r}"[:300])
    if not isinstance(modality.name, str) or not modality.name:
        raise ModalityError(f"a modality needs a name (ModalitySpec.name, e.g. 'signals'), got {modality.name!r}")
    datasets = modality.datasets
    if isinstance(datasets, str) or not datasets or not all(isinstance(d, str) and d for d in datasets):
        raise ModalityError(f"modality {modality.name!r}: datasets must be a non-empty tuple of names, got {datasets!r}")
    missing = [name for name in MODALITY_FIELDS if modality.defaults.get(name) is None]
    if missing:
        raise ModalityError(f"modality {modality.name!r}: its defaults must give {', '.join(missing)} (RunConfig "
                            "leaves these to the modality; see gan_mixup.modalities.spec.MODALITY_FIELDS)")
    for other in REGISTRY.values():
        taken = [d for d in datasets if other.name != modality.name and other.owns(d)]
        if taken:
            raise ModalityError(f"modality {modality.name!r}: {', '.join(map(repr, taken))} is already served by "
                                f"the {other.name!r} modality; give the dataset another name")
    REGISTRY[modality.name] = modality
    return modality


def modality_of(dataset: str) -> ModalitySpec:
    """The modality that serves ``dataset``; ``UnknownDatasetError`` lists every known name."""
    for modality in REGISTRY.values():
        if modality.owns(dataset):
            return modality
    raise UnknownDatasetError(f"unknown dataset {dataset!r}; choose from {', '.join(all_datasets())}")


def modality_named(name: str) -> ModalitySpec:
    """The registered modality called ``name`` (``"toy"``, ``"images"``)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownDatasetError(f"unknown modality {name!r}; choose from {', '.join(REGISTRY)}") from None


def all_datasets() -> tuple[str, ...]:
    """Every dataset name any registered modality serves, in registry order."""
    return tuple(name for m in REGISTRY.values() for name in m.datasets)


def training_of(modality: ModalitySpec) -> TrainingModule:
    """The module that trains ``modality``'s runs (``ModalitySpec.training``): data, models, snapshots."""
    return cast(TrainingModule, import_module(modality.training))


def drawing_of(modality: ModalitySpec) -> DrawingModule:
    """The module that draws ``modality``'s snapshots (``ModalitySpec.drawing``; it imports matplotlib)."""
    return cast(DrawingModule, import_module(modality.drawing))


def measuring_of(modality: ModalitySpec) -> MeasuringModule:
    """The module that measures ``modality``'s runs from their directories (``ModalitySpec.measuring``)."""
    return cast(MeasuringModule, import_module(modality.measuring))
