"""``register`` refuses what is not a usable modality, in one clear error rather than an
AttributeError or a config error far from the cause."""
from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from gan_mixup.errors import GanMixupError
from gan_mixup.modalities import REGISTRY, ModalityError, ModalitySpec, modality_of, register
from gan_mixup.modalities.toy.spec import SPEC as TOY


def signals(**changes) -> ModalitySpec:
    """A spec that registers (the toy's defaults and behaviour), with ``changes``."""
    return replace(TOY, **{"name": "signals-under-test", "datasets": ("sines-under-test",), **changes})


@pytest.fixture(autouse=True)
def registry_untouched():
    before = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(before)


@pytest.mark.parametrize("thing", ["signals", ModalitySpec, None])
def test_registering_what_is_no_modality_spec_says_so(thing):
    with pytest.raises(ModalityError, match="register\\(\\) takes a ModalitySpec") as info:
        register(thing)
    assert isinstance(info.value, GanMixupError) and "\n" not in str(info.value)


def test_a_modality_without_defaults_is_told_which_fields_it_must_give():
    with pytest.raises(ModalityError) as info:
        register(signals(defaults=MappingProxyType({})))
    message = str(info.value)
    assert "signals-under-test" in message and "defaults must give" in message
    assert "iterations" in message and "betas" in message and "got None" not in message
    assert "signals-under-test" not in REGISTRY


@pytest.mark.parametrize("datasets", [("ring8",), ("sines-under-test", "digits")])
def test_a_dataset_another_modality_serves_is_refused(datasets):
    with pytest.raises(ModalityError, match="already served by"):
        register(signals(datasets=datasets))
    assert modality_of("ring8") is TOY and "signals-under-test" not in REGISTRY


@pytest.mark.parametrize("datasets", [(), "sines", ("",)])
def test_a_modality_needs_dataset_names(datasets):
    with pytest.raises(ModalityError, match="datasets must be"):
        register(signals(datasets=datasets))


def test_a_good_modality_registers_and_may_replace_itself():
    first = register(signals())
    assert modality_of("sines-under-test") is first
    again = register(signals())  # the same name again: replaced, its own datasets are no conflict
    assert modality_of("sines-under-test") is again
