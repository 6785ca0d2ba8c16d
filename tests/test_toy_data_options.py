"""toy_data's refusals of bad mode counts and grid sides, and samples drawn on the generator's device."""
from __future__ import annotations


import pytest
import torch

from toy_data import DATASETS, get_dataset, grid25, ring8



# ----- 15. toy_data -------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [{"n_modes": 2.5}, {"n_modes": 1e9}, {"n_modes": 0}, {"n_modes": float("inf")}],
                         ids=["fraction", "huge", "zero", "inf"])
def test_ring8_rejects_a_bad_mode_count(options):
    with pytest.raises(ValueError, match="n_modes"):
        ring8(**options)


@pytest.mark.parametrize("side", [2.5, 1e9, float("inf")], ids=["fraction", "huge", "inf"])
def test_grid25_rejects_a_bad_side(side):
    with pytest.raises(ValueError, match="side"):
        grid25(side=side)


def test_ring8_mode_count_is_honoured():
    modes = ring8(n_modes=3.0).modes
    assert modes.shape == (3, 2)
    assert torch.allclose(modes.norm(dim=1), torch.ones(3), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", list(DATASETS))
def test_samples_are_drawn_on_the_generators_device_cpu(name):
    dataset = get_dataset(name)
    x = dataset.sample(64, torch.Generator().manual_seed(0))
    assert x.shape == (64, 2) and x.dtype == torch.float32 and x.device.type == "cpu"
    y = dataset.sample(64, torch.Generator().manual_seed(0))
    assert torch.equal(x, y), "the generator alone drives the sampler"
    assert bool(torch.isfinite(x).all()) and 0 < float(x.abs().max()) < 2 * dataset.extent


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", list(DATASETS))
def test_samples_are_drawn_on_the_generators_device_cuda(name):
    dataset = get_dataset(name)
    x = dataset.sample(64, torch.Generator("cuda").manual_seed(0))
    assert x.shape == (64, 2) and x.dtype == torch.float32 and x.device.type == "cuda"
    assert torch.equal(x, dataset.sample(64, torch.Generator("cuda").manual_seed(0)))
