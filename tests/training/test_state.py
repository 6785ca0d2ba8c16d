"""training.state: a RunState saves and loads whole, so a loaded state trains on exactly as the
saved one would have; checkpoints written before every rank's streams were recorded still load."""
from __future__ import annotations

import io

import torch

from conftest import make_tiny_config
from gan_mixup.distributed import SINGLE_PROCESS
from gan_mixup.training.state import build_state
from gan_mixup.training.step import train_step


def _weights(state) -> list[torch.Tensor]:
    return [p.detach().clone() for p in (*state.generator.parameters(), *state.discriminator.parameters())]


def test_load_state_dict_continues_bit_identically():
    config = make_tiny_config(objective="mixup")
    trained = build_state(config)
    for _ in range(3):
        train_step(trained)
    buffer = io.BytesIO()
    torch.save(trained.state_dict(), buffer)  # what a checkpoint holds: copies, not the live tensors
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    assert saved["iteration"] == 3 and saved["world_size"] == 1 and saved["rank_rng"] == [saved["rng"]]

    resumed = build_state(config)
    resumed.load_state_dict(saved)
    assert resumed.iteration == 3
    for _ in range(2):
        train_step(trained), train_step(resumed)
    for a, b in zip(_weights(trained), _weights(resumed)):
        assert torch.equal(a, b)


def test_a_checkpoint_without_rank_streams_loads_its_own_streams():
    # Single-process checkpoints of earlier versions hold "rng" alone.
    config = make_tiny_config()
    source = build_state(config)
    train_step(source)
    saved = source.state_dict()
    del saved["rank_rng"], saved["world_size"]
    state = build_state(config)
    state.load_state_dict(saved)
    assert all(torch.equal(state.rngs[name].get_state(), source.rngs[name].get_state()) for name in source.rngs)


def test_a_single_process_is_a_world_of_one():
    state = build_state(make_tiny_config(batch_size=48))
    assert state.world is SINGLE_PROCESS and state.world.alone and state.batch_size == 48
