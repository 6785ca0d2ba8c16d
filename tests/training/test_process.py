"""training.process: the denormal flush is scoped to train() and restored however it ends; freed
memory stays in the heap."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import make_tiny_config
from gan_mixup.rundir import LOCK_FILE
from gan_mixup.training.process import denormals_flushed
from gan_mixup.training.loop import train

REPO = Path(__file__).resolve().parents[2]


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


# ----- 2. freed memory stays in the heap ----------------------------------------------------------------

FAULTS_PER_LOCKSTEP_STEP = """
import resource, sys, torch
from gan_mixup.training.process import keep_freed_memory
if sys.argv[1] == "kept":
    assert keep_freed_memory()
from gan_mixup import RunConfig
from gan_mixup.training import build_state
from gan_mixup.training.batched import Lockstep, lockstep_step
torch.set_num_threads(1)
group = Lockstep([build_state(RunConfig(hidden=128, seed=s)) for s in range(4)])
for _ in range(3):
    lockstep_step(group)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    lockstep_step(group)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="keep_freed_memory tunes glibc's malloc; it does nothing here")
def test_keep_freed_memory_stops_the_page_faults_of_each_steps_activations():
    # A fresh process each (malloc's state is per process): by default glibc hands the freed
    # activations back to the kernel, and every step faults their pages in again (290-740 minor
    # faults per step here); kept, they are reused (0-40).
    def faults(mode: str) -> float:
        done = subprocess.run([sys.executable, "-c", FAULTS_PER_LOCKSTEP_STEP, mode], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert done.returncode == 0, done.stderr
        return float(done.stdout)

    default, kept = faults("default"), faults("kept")
    if default < 100:
        pytest.skip(f"the step takes only {default:.0f} page faults here without the setting: nothing to stop")
    assert kept < 0.25 * default
