"""``register`` refuses what is not a usable modality, in one clear error rather than an
AttributeError or a config error far from the cause."""
from __future__ import annotations

from types import MappingProxyType

import pytest

from gan_mixup.errors import GanMixupError
from gan_mixup.modalities import REGISTRY, Modality, ModalityError, modality_of, register
from gan_mixup.modalities.points import POINTS


class Signals(Modality):
    name = "signals-under-test"
    datasets = ("sines-under-test",)
    label = "signal"
    defaults = MappingProxyType(dict(POINTS.defaults))


@pytest.fixture(autouse=True)
def registry_untouched():
    before = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(before)


@pytest.mark.parametrize("thing", ["signals", Signals, None])
def test_registering_what_is_no_modality_instance_says_so(thing):
    with pytest.raises(ModalityError, match="register\\(\\) takes a Modality instance") as info:
        register(thing)
    assert isinstance(info.value, GanMixupError) and "\n" not in str(info.value)


def test_a_modality_without_defaults_is_told_which_fields_it_must_give():
    class Bare(Signals):
        defaults = MappingProxyType({})

    with pytest.raises(ModalityError) as info:
        register(Bare())
    message = str(info.value)
    assert "signals-under-test" in message and "defaults must give" in message
    assert "iterations" in message and "betas" in message and "got None" not in message
    assert "signals-under-test" not in REGISTRY


@pytest.mark.parametrize("datasets", [("ring8",), ("sines-under-test", "digits")])
def test_a_dataset_another_modality_serves_is_refused(datasets):
    class Greedy(Signals):
        pass

    Greedy.datasets = datasets
    with pytest.raises(ModalityError, match="already served by"):
        register(Greedy())
    assert modality_of("ring8") is POINTS and "signals-under-test" not in REGISTRY


@pytest.mark.parametrize("datasets", [(), "sines", ("",)])
def test_a_modality_needs_dataset_names(datasets):
    class Odd(Signals):
        pass

    Odd.datasets = datasets
    with pytest.raises(ModalityError, match="datasets must be"):
        register(Odd())


def test_a_good_modality_registers_and_may_replace_itself():
    first = register(Signals())
    assert modality_of("sines-under-test") is first
    again = register(Signals())  # the same name again: replaced, its own datasets are no conflict
    assert modality_of("sines-under-test") is again
