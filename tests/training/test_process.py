"""training.process: the denormal flush is scoped to train() and restored however it ends."""
from __future__ import annotations

import pytest
import torch

from conftest import make_tiny_config
from gan_mixup.rundir import LOCK_FILE
from gan_mixup.training.process import denormals_flushed
from gan_mixup.training.loop import train


# ----- 1. flush_denormal is scoped to train() -------------------------------------------------------

@pytest.fixture
def keep_flush_denormal():
    before = denormals_flushed()
    yield
    torch.set_flush_denormal(before)


@pytest.mark.parametrize("before", [False, True], ids=["off-before", "on-before"])
def test_train_flushes_denormals_inside_and_restores_the_setting(before, keep_flush_denormal):
    assert torch.set_flush_denormal(before), "this CPU cannot flush denormals: the test means nothing here"
    assert denormals_flushed() is before
    during: list[bool] = []
    result = train(make_tiny_config(), None, callbacks=[lambda record: during.append(denormals_flushed())])
    assert result.iteration == 12
    assert len(during) == 6 and all(during), during  # every train record (2, 4, ..., 12) saw the flush on
    assert denormals_flushed() is before


def test_flush_denormal_false_leaves_it_off_during_training(keep_flush_denormal):
    torch.set_flush_denormal(False)
    during: list[bool] = []
    train(make_tiny_config(), None, flush_denormal=False, callbacks=[lambda record: during.append(denormals_flushed())])
    assert len(during) == 6 and not any(during)
    assert denormals_flushed() is False


def test_flush_denormal_is_restored_when_train_raises(tmp_path, keep_flush_denormal):
    torch.set_flush_denormal(False)

    def crash(record):
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        train(make_tiny_config(), tmp_path / "run", callbacks=[crash])
    assert denormals_flushed() is False
    assert not (tmp_path / "run" / LOCK_FILE).exists()
