"""The digit classifier and the image metrics on inputs whose answer is known."""
from __future__ import annotations

import math
import sys
import types

from dataclasses import replace

import numpy as np
import pytest
import torch

import gan_mixup.modalities.images.classifier as domain_classifier
import gan_mixup.modalities.images.metrics as image_metrics
from gan_mixup.modalities.images.classifier import MNIST, NATURAL, data_key, load_or_train, random_feature_net, train_classifier
from gan_mixup.modalities.images.features import density_coverage, knn_radii, prdc, precision_recall
from gan_mixup.modalities.images.digit_classifier import cache_path, default_cache_dir, load_digit_classifier, train_digit_classifier
from gan_mixup.errors import GanMixupError
from gan_mixup.modalities.images.metrics import (
    GaussianStats,
    ImageMetricError,
    digit_mode_metrics,
    frechet_distance,
    frechet_distance_from_stats,
    image_sample_metrics,
    inception_fid,
    judge_for,
)
from gan_mixup.modalities.images.data import digits_pixels, get_image_dataset, images_to_uint8


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """The 32 px classifier, trained once per session into a fresh cache, and what training touched."""
    cache = tmp_path_factory.mktemp("classifier-cache")
    rng, threads = torch.random.get_rng_state(), torch.get_num_threads()
    classifier = load_digit_classifier(32, cache_dir=cache)
    touched = not torch.equal(rng, torch.random.get_rng_state()) or threads != torch.get_num_threads()
    return classifier, cache, touched


@pytest.fixture(scope="session")
def classifier(trained):
    return trained[0]


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- the classifier -------------------------------------------------------------------------------


def test_classifier_reads_held_out_digits(classifier):
    assert 0.95 <= classifier.held_out_accuracy <= 1.0
    pixels, labels = digits_pixels(32)
    assert float((classifier.predict(pixels) == labels).float().mean()) > 0.97
    assert classifier.features(pixels[:5]).shape == (5, 64)
    assert not classifier.training


def test_training_leaves_the_global_rng_and_threads_alone(trained):
    assert trained[2] is False


def test_training_is_deterministic_and_leaves_the_global_rng_alone():
    before = torch.random.get_rng_state()
    a, b = train_digit_classifier(16, epochs=1), train_digit_classifier(16, epochs=1)
    assert torch.equal(torch.random.get_rng_state(), before)
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert a.held_out_accuracy == b.held_out_accuracy


def test_cached_classifier_is_reused_without_training(trained, monkeypatch):
    classifier, cache, _ = trained
    assert cache_path(32, cache).is_file()
    monkeypatch.setattr(domain_classifier, "train_classifier", lambda *a, **k: pytest.fail("retrained"))
    again = load_digit_classifier(32, cache_dir=cache)
    assert again.held_out_accuracy == classifier.held_out_accuracy
    for x, y in zip(again.state_dict().values(), classifier.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.parametrize("content", [b"", b"not a torch file", None])
def test_corrupt_or_outdated_cache_is_trained_over_with_a_warning(classifier, tmp_path, monkeypatch, content):
    path = cache_path(32, tmp_path)
    if content is None:  # a well-formed file from another version
        torch.save({"version": -1, "image_size": 32, "held_out_accuracy": 1.0, "state_dict": {}}, path)
    else:
        path.write_bytes(content)
    calls = []
    monkeypatch.setattr(domain_classifier, "train_classifier", lambda pixels, labels, spec, size, held_out=None: calls.append(size) or classifier)
    with pytest.warns(UserWarning, match="unreadable.*training it again"):
        assert load_digit_classifier(32, cache_dir=tmp_path) is classifier
    assert calls == [32]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # rewritten in place, no temp left
    saved = torch.load(path, weights_only=True)
    assert saved["version"] == domain_classifier.CLASSIFIER_VERSION and saved["image_size"] == 32


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_MIXUP_CACHE", str(tmp_path / "a"))
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("GAN_MIXUP_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "gan-mixup"
    assert cache_path(64, tmp_path).parent == tmp_path
    assert cache_path(64, tmp_path).name.startswith("digits-classifier-64px-")


# --- mode metrics ---------------------------------------------------------------------------------


def test_real_stacked_digits_cover_nearly_every_mode(classifier):
    x = get_image_dataset("stacked-digits").reference(10_000, seed=0)
    metrics = digit_mode_metrics(x, classifier, 1000)
    assert 990 <= metrics["modes_covered"] <= 1000
    # 10,000 draws over 1,000 equally likely modes: KL ≈ (K − 1) / 2N ≈ 0.05 from sampling alone.
    assert 0.0 < metrics["kl_modes"] < 0.15


def test_a_collapsed_generator_covers_one_mode(classifier):
    one = get_image_dataset("stacked-digits").reference(1, seed=0)
    metrics = digit_mode_metrics(one.expand(500, -1, -1, -1), classifier, 1000)
    assert metrics["modes_covered"] == 1
    assert metrics["kl_modes"] == pytest.approx(math.log(1000), abs=1e-9)


def test_real_digits_cover_all_ten_modes(classifier):
    x = images_to_uint8(get_image_dataset("digits").reference(1000, seed=0))
    metrics = digit_mode_metrics(x, classifier, 10)
    assert metrics["modes_covered"] == 10 and 0.0 < metrics["kl_modes"] < 0.02


def test_mode_count_must_match_the_channels(classifier):
    with pytest.raises(ImageMetricError, match="1000 modes"):
        digit_mode_metrics(torch.zeros(2, 3, 32, 32), classifier, 10)


# --- Fréchet distance -----------------------------------------------------------------------------


def test_frechet_distance_of_identical_sets_is_zero():
    a = np.random.default_rng(0).normal(size=(300, 20))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(torch.from_numpy(a).float(), a) == pytest.approx(0.0, abs=1e-4)


def test_frechet_distance_of_a_mean_shift_is_its_squared_norm():
    a = np.random.default_rng(1).normal(size=(400, 8))
    shift = np.arange(8) / 4.0
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), rel=1e-9)


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    # Commuting covariances: FD = ‖Δμ‖² + Σ (√a_i − √b_i)².
    var_a, var_b = torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64), torch.tensor([4.0, 1.0, 9.0], dtype=torch.float64)
    a = GaussianStats(torch.zeros(3, dtype=torch.float64), torch.diag(var_a))
    b = GaussianStats(torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), torch.diag(var_b))
    expected = 1.0 + float(((var_a.sqrt() - var_b.sqrt()) ** 2).sum())
    assert frechet_distance_from_stats(a, b) == pytest.approx(expected, rel=1e-12)
    assert frechet_distance_from_stats(b, a) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_is_stable_with_fewer_samples_than_features():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(64, 192)), rng.normal(size=(64, 192))
    value = frechet_distance(a, b)
    assert math.isfinite(value) and 0.0 < value < 1000.0
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_needs_two_samples():
    with pytest.raises(ImageMetricError):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))


def test_frechet_digits_is_small_for_real_data_and_grows_with_noise(classifier):
    pixels, labels = digits_pixels(32)
    order = torch.randperm(len(pixels), generator=seeded(0))
    a, b = pixels[order[:800]], pixels[order[800:1600]]  # two disjoint real batches
    features_a = classifier.features(a)
    distances = []
    for std in (0.0, 0.2, 0.4, 0.8):
        noisy = (b + std * torch.randn(b.shape, generator=seeded(1))).clamp(-1, 1)
        distances.append(frechet_distance(features_a, classifier.features(noisy)))
    assert all(x < y for x, y in zip(distances, distances[1:])), distances
    # Real against real is sampling noise only: ~1 % of the features' total variance (measured 5 of
    # 440), far below what losing half the modes costs (measured 67) or heavy pixel noise (76).
    real_vs_real = distances[0]
    assert 0.0 < real_vs_real < 0.03 * float(torch.var(features_a.double(), dim=0).sum())
    half_the_modes = frechet_distance(features_a, classifier.features(b[labels[order[800:1600]] < 5]))
    assert real_vs_real < 0.2 * half_the_modes
    assert real_vs_real < 0.2 * distances[-1]


# --- what a snapshot records ----------------------------------------------------------------------


@pytest.mark.parametrize("name,channels", [("digits", 1), ("stacked-digits", 3)])
def test_image_sample_metrics_on_snapshot_arrays(classifier, name, channels):
    ds = get_image_dataset(name)
    real = images_to_uint8(ds.reference(400, seed=1))
    fake = images_to_uint8(ds.reference(400, seed=2))
    metrics = image_sample_metrics(fake, real, dataset_name=name, classifier=classifier)
    assert set(metrics) == {"modes_covered", "kl_modes", "frechet_digits", "frechet", "precision", "recall",
                            "density", "coverage"}
    assert metrics["frechet"] == metrics["frechet_digits"]
    assert isinstance(metrics["modes_covered"], int) and isinstance(metrics["frechet_digits"], float)
    collapsed = image_sample_metrics(np.repeat(fake[:1], 400, axis=0), real, dataset_name=name, classifier=classifier)
    assert collapsed["modes_covered"] == 1
    assert collapsed["kl_modes"] == pytest.approx(math.log(10**channels), abs=1e-9)
    assert collapsed["frechet_digits"] > 5 * metrics["frechet_digits"]
    # The cached real statistics give the same answer as a fresh computation.
    image_metrics._REAL_STATS.clear()
    assert image_sample_metrics(fake, real, dataset_name=name, classifier=classifier) == metrics


def test_image_sample_metrics_uses_the_cached_classifier(classifier, monkeypatch):
    monkeypatch.setitem(image_metrics._CLASSIFIERS, 32, classifier)
    monkeypatch.setattr(image_metrics, "load_digit_classifier", lambda *a, **k: pytest.fail("loaded again"))
    x = images_to_uint8(get_image_dataset("digits").reference(50, seed=0))
    assert image_sample_metrics(x, x, dataset_name="digits")["frechet_digits"] == pytest.approx(0.0, abs=1e-6)


def test_other_datasets_have_no_sample_metrics_yet():
    x = np.zeros((4, 3, 32, 32), dtype=np.uint8)
    assert image_sample_metrics(x, x, dataset_name="cifar10") == {}


def test_wrong_channels_for_the_dataset_raise(classifier):
    x = np.zeros((4, 3, 32, 32), dtype=np.uint8)
    with pytest.raises(ImageMetricError, match="1 channel"):
        image_sample_metrics(x, x, dataset_name="digits", classifier=classifier)


# --- Inception FID (optional extra, local weights only) ------------------------------------------


def test_inception_fid_without_weights_says_what_it_needs(tmp_path):
    for path in (None, tmp_path / "absent.pth"):
        with pytest.raises(ImageMetricError) as info:
            inception_fid(np.zeros((2, 3, 8, 8), np.uint8), np.zeros((2, 3, 8, 8), np.uint8), path)
        message = str(info.value)
        assert isinstance(info.value, GanMixupError) and "\n" not in message
        assert "weights-inception-2015-12-05" in message and "nothing is downloaded" in message


def test_inception_fid_without_the_extra_names_it(tmp_path, monkeypatch):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "torch_fidelity.feature_extractor_inceptionv3", None)
    with pytest.raises(ImageMetricError, match=r"pip install 'gan-mixup\[fid\]'"):
        inception_fid(np.zeros((2, 3, 8, 8), np.uint8), np.zeros((2, 3, 8, 8), np.uint8), weights)


def test_inception_fid_feeds_uint8_rgb_to_torch_fidelitys_extractor(tmp_path, monkeypatch):
    # A stand-in for torch-fidelity's InceptionV3 (the real one needs its 100 MB weights and ~1 s per
    # image on a CPU): it checks what it is given and returns the per-channel means as 3 features.
    built = []

    class Extractor(torch.nn.Module):
        def __init__(self, name, features_list, feature_extractor_weights_path=None):
            super().__init__()
            built.append((name, features_list, feature_extractor_weights_path))

        def forward(self, x):
            assert x.dtype == torch.uint8 and x.dim() == 4 and x.shape[1] == 3 and x.shape[0] <= 4
            return (x.float().mean(dim=(2, 3)),)

    package, module = types.ModuleType("torch_fidelity"), types.ModuleType("torch_fidelity.feature_extractor_inceptionv3")
    module.FeatureExtractorInceptionV3 = Extractor
    monkeypatch.setitem(sys.modules, "torch_fidelity", package)
    monkeypatch.setitem(sys.modules, "torch_fidelity.feature_extractor_inceptionv3", module)
    monkeypatch.setattr(image_metrics, "_INCEPTION", {})
    weights = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    weights.write_bytes(b"weights")
    grey = get_image_dataset("digits", image_size=16).reference(10, seed=0)  # float [-1, 1], 1 channel
    rgb = images_to_uint8(get_image_dataset("stacked-digits", image_size=16).reference(10, seed=1))
    assert inception_fid(grey, grey, weights, batch_size=4) == pytest.approx(0.0, abs=1e-9)
    grey_means = images_to_uint8(grey).astype(np.float64).mean(axis=(2, 3)).repeat(3, axis=1)  # (10, 3)
    expected = frechet_distance(grey_means, rgb.astype(np.float64).mean(axis=(2, 3)))
    assert inception_fid(grey, rgb, weights, batch_size=4) == pytest.approx(expected, rel=1e-6)
    assert built == [("inception-v3-compat", ["2048"], str(weights.resolve()))]  # built once, from the file


# --- precision, recall, density, coverage (feature_metrics) ----------------------------------------


def gaussian(n: int, seed: int, dims: int = 2, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(n, dims, generator=seeded(seed))


def test_knn_radii_are_the_distance_to_the_kth_other_point():
    line = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    assert knn_radii(line, k=1).tolist() == [1.0, 1.0, 2.0, 3.0]
    assert knn_radii(line, k=2).tolist() == [3.0, 2.0, 3.0, 5.0]
    with pytest.raises(ValueError, match="more than k=4"):
        knn_radii(line, k=4)


def test_a_set_against_itself_scores_exactly():
    x = gaussian(300, 0)
    m = prdc(x, x)
    assert (m["precision"], m["recall"], m["coverage"]) == (1.0, 1.0, 1.0)
    # Each real ball holds its centre and its k neighbours: density = (k + 1) / k.
    assert m["density"] == pytest.approx(4 / 3, abs=1e-12)


def test_two_samples_of_one_distribution_score_near_one():
    m = prdc(gaussian(2000, 0), gaussian(2000, 1))
    assert min(m["precision"], m["recall"]) > 0.95, m
    assert m["density"] == pytest.approx(1.0, abs=0.05)
    # Naeem et al.'s closed form for M = N: E[coverage] = 1 − (N−1)!(2N−k−1)! / ((N−k−1)!(2N−1)!) ≈ 1 − 2^−k.
    n, k = 2000, 3
    expected = 1 - math.exp(math.lgamma(n) + math.lgamma(2 * n - k) - math.lgamma(n - k) - math.lgamma(2 * n))
    assert m["coverage"] == pytest.approx(expected, abs=0.03)


def test_fakes_from_one_of_ten_classes_have_recall_and_coverage_near_a_tenth():
    angles = torch.arange(10) * (2 * math.pi / 10)
    centres = 10 * torch.stack([angles.cos(), angles.sin()], 1)  # (10, 2), 6.2 apart
    classes = torch.arange(2000) % 10
    real = centres[classes] + 0.5 * torch.randn(2000, 2, generator=seeded(0))
    fake = centres[0] + 0.5 * torch.randn(500, 2, generator=seeded(1))
    m = prdc(real, fake)
    assert m["precision"] > 0.9 and m["density"] == pytest.approx(1.0, abs=0.3), m
    assert 0.07 < m["recall"] < 0.13 and 0.07 < m["coverage"] < 0.13, m
    assert image_metrics.mode_metrics(torch.zeros(500, dtype=torch.int64), 10)["modes_covered"] == 1


def test_noise_is_not_precise():
    m = prdc(gaussian(1000, 0, dims=8), gaussian(1000, 1, dims=8, scale=20.0))
    assert m["precision"] < 0.01 and m["density"] < 0.01 and m["coverage"] < 0.2, m
    assert precision_recall(gaussian(50, 0), gaussian(50, 0) + 100.0) == {"precision": 0.0, "recall": 0.0}
    assert density_coverage(gaussian(50, 0), gaussian(50, 0) + 100.0) == {"density": 0.0, "coverage": 0.0}


# --- a classifier per dataset (domain_classifier) --------------------------------------------------

TINY = replace(MNIST, width=8, features=32, epochs=3, batch_size=32)


def shapes(n: int, seed: int, size: int = 16, rgb: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Four easy classes, uint8 ``(n, C, size, size)``: a horizontal bar, a vertical bar, a square, a dot,
    each at a random place, on a noisy background (RGB: in a random colour)."""
    g = seeded(seed)
    labels = torch.arange(n) % 4
    images = torch.zeros(n, 1, size, size)
    offsets = torch.randint(0, size // 4, (n, 2), generator=g)
    for i, (label, (a, b)) in enumerate(zip(labels.tolist(), offsets.tolist())):
        s = size // 4
        if label == 0:
            images[i, 0, s + a, s:3 * s] = 1
        elif label == 1:
            images[i, 0, s:3 * s, s + b] = 1
        elif label == 2:
            images[i, 0, s + a:2 * s + a, s + b:2 * s + b] = 1
        else:
            images[i, 0, 2 * s + a - 1:2 * s + a + 1, 2 * s + b - 1:2 * s + b + 1] = 1
    if rgb:
        images = images * (0.4 + 0.6 * torch.rand(n, 3, 1, 1, generator=g))
    images = (images + 0.1 * torch.rand(images.shape, generator=g)).clamp(0, 1)
    return (images * 255).round().to(torch.uint8), labels


def test_a_classifier_reads_easy_synthetic_shapes():
    pixels, labels = shapes(400, 0)
    before = torch.random.get_rng_state()
    model = train_classifier(pixels, labels, replace(TINY, num_classes=4, epochs=15))
    assert torch.equal(before, torch.random.get_rng_state())
    assert model.held_out_accuracy >= 0.95 and not model.training
    rgb, rgb_labels = shapes(400, 1, size=32, rgb=True)
    natural = replace(NATURAL, width=8, features=32, epochs=15, batch_size=32, num_classes=4)
    assert train_classifier(rgb, rgb_labels, natural).held_out_accuracy >= 0.9


def test_the_cache_is_hit_missed_on_new_data_and_retrained_when_corrupt(tmp_path, monkeypatch):
    pixels, labels = shapes(200, 0)
    spec = replace(TINY, num_classes=4, epochs=1)
    trained = []
    real_train = domain_classifier.train_classifier
    monkeypatch.setattr(domain_classifier, "train_classifier", lambda *a: trained.append(1) or real_train(*a))
    first = load_or_train("shapes", pixels, labels, spec, cache_dir=tmp_path)
    files = sorted(tmp_path.iterdir())
    assert len(trained) == 1 and len(files) == 1 and files[0].name.startswith("shapes-classifier-16px-")
    again = load_or_train("shapes", pixels, labels, spec, cache_dir=tmp_path)  # hit
    assert len(trained) == 1 and again.held_out_accuracy == first.held_out_accuracy
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    changed = pixels.clone()
    changed[0, 0, 0, 0] ^= 1
    load_or_train("shapes", changed, labels, spec, cache_dir=tmp_path)  # one pixel differs: a miss
    load_or_train("shapes", pixels, labels, replace(spec, width=4), cache_dir=tmp_path)  # another recipe: a miss
    assert len(trained) == 3 and len(list(tmp_path.iterdir())) == 3
    files[0].write_bytes(files[0].read_bytes()[:100])  # truncated
    with pytest.warns(UserWarning, match="unreadable"):
        retrained = load_or_train("shapes", pixels, labels, spec, cache_dir=tmp_path)
    assert len(trained) == 4 and retrained.held_out_accuracy == first.held_out_accuracy
    assert load_or_train("shapes", pixels, labels, spec, cache_dir=tmp_path) is not None and len(trained) == 4


def test_the_cache_key_covers_the_classifier_code(monkeypatch):
    pixels, labels = shapes(8, 0)
    key = data_key(pixels, labels, 16, TINY)
    monkeypatch.setattr(domain_classifier, "_code_digest", lambda: b"other code")
    assert data_key(pixels, labels, 16, TINY) != key


def digits_mnist(root, folder: str = "MNIST") -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits upscaled to 28 px, written as MNIST's four idx files under ``root``."""
    from image_files import write_idx

    pixels, labels = digits_pixels(32)
    images = images_to_uint8(torch.nn.functional.interpolate(pixels, size=(28, 28), mode="bilinear", antialias=True))[:, 0]
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for split in ("train", "t10k"):
        write_idx(raw / f"{split}-images-idx3-ubyte", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels.numpy())
    return images, labels.numpy()


def test_mnist_and_stacked_mnist_get_a_classifier_of_their_own(tmp_path):
    digits_mnist(tmp_path)
    ds = get_image_dataset("mnist", data_root=tmp_path, image_size=16)
    judge = judge_for(ds, cache_dir=tmp_path / "cache", spec=replace(TINY, epochs=4))
    assert judge.num_modes == 10 and judge.accuracy >= 0.9
    stacked = get_image_dataset("stacked-mnist", data_root=tmp_path, image_size=16)
    stacked_judge = judge_for(stacked, cache_dir=tmp_path / "cache", spec=replace(TINY, epochs=4))
    assert stacked_judge.num_modes == 1000 and stacked_judge.accuracy == judge.accuracy  # one file, reused
    assert len(list((tmp_path / "cache").iterdir())) == 1
    images, modes = stacked.sample_with_modes(400, seeded(0))
    predicted, features = stacked_judge.modes_and_features(images)
    assert features.shape == (400, 3 * TINY.features)
    assert float((predicted == modes).float().mean()) > 0.7  # all three digits read right
    real, fake = images_to_uint8(images), images_to_uint8(stacked.sample(400, seeded(1)))
    metrics = image_sample_metrics(fake, real, dataset_name="stacked-mnist", dataset=stacked)
    assert set(metrics) == {"modes_covered", "kl_modes", "frechet", "precision", "recall", "density", "coverage"}
    assert metrics["modes_covered"] > 250 and metrics["precision"] > 0.6 and metrics["recall"] > 0.6
    collapsed = image_sample_metrics(np.repeat(fake[:1], 400, axis=0), real, dataset_name="stacked-mnist", dataset=stacked)
    assert collapsed["modes_covered"] == 1 and collapsed["recall"] < 0.05 and collapsed["coverage"] < 0.05


def write_cifar(root, pixels: np.ndarray, labels: np.ndarray) -> None:
    """A CIFAR-10 python pickle layout (data_batch_1..5, test_batch, batches.meta) from ``(N, 3, 32, 32)`` uint8."""
    import pickle

    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    parts = np.array_split(np.arange(len(labels)), 5)
    for i, part in enumerate(parts, 1):
        entry = {"data": pixels[part].reshape(len(part), -1), "labels": labels[part].tolist()}
        (base / f"data_batch_{i}").write_bytes(pickle.dumps(entry))
    (base / "test_batch").write_bytes(pickle.dumps({"data": pixels[:10].reshape(10, -1), "labels": labels[:10].tolist()}))
    (base / "batches.meta").write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))


def test_cifar10_gets_an_rgb_classifier(tmp_path, monkeypatch):
    import torchvision

    # Our pickle is not the real one, so torchvision's md5 check would refuse it.
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args: True)
    pixels, labels = shapes(600, 2, size=32, rgb=True)
    write_cifar(tmp_path, pixels.expand(-1, 3, -1, -1).numpy() if pixels.shape[1] == 1 else pixels.numpy(), labels.numpy())
    ds = get_image_dataset("cifar10", data_root=tmp_path, image_size=32)
    assert ds.channels == 3 and len(ds) == 600
    natural = replace(NATURAL, width=8, features=32, epochs=4, batch_size=32)
    judge = judge_for(ds, cache_dir=tmp_path / "cache", spec=natural)
    assert judge.num_modes == 4 and judge.accuracy >= 0.9
    metrics = image_sample_metrics(ds.pixels[:300], ds.pixels[300:], dataset_name="cifar10", dataset=ds)
    assert metrics["modes_covered"] == 4 and metrics["precision"] > 0.8 and "frechet_digits" not in metrics


def test_a_folder_without_classes_is_measured_in_random_features(tmp_path):
    from PIL import Image

    pixels, _ = shapes(60, 3, size=16, rgb=True)
    root = tmp_path / "pictures"
    root.mkdir()
    for i, image in enumerate(pixels.permute(0, 2, 3, 1).numpy()):
        Image.fromarray(image).save(root / f"{i:03d}.png")
    ds = get_image_dataset("folder", data_root=root, image_size=16)
    with pytest.warns(UserWarning, match="mode coverage.*class subfolders"):
        judge = judge_for(ds)
    assert judge.num_modes is None and math.isnan(judge.accuracy)
    real = ds.pixels[:30]
    same = image_sample_metrics(real, real, dataset_name="folder", dataset=ds)
    assert set(same) == {"frechet", "precision", "recall", "density", "coverage"}
    assert same["frechet"] == pytest.approx(0.0, abs=1e-6) and same["precision"] == 1.0
    noise = images_to_uint8(torch.rand(30, 3, 16, 16, generator=seeded(0)) * 2 - 1)
    far = image_sample_metrics(noise, real, dataset_name="folder", dataset=ds)
    assert far["frechet"] > 10 * image_sample_metrics(ds.pixels[30:], real, dataset_name="folder", dataset=ds)["frechet"]
    assert far["precision"] < 0.2
    # The random features are fixed: the same weights in every process.
    a, b = random_feature_net(3, 16), random_feature_net(3, 16)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


# --- what a run records -----------------------------------------------------------------------------


def test_a_resumed_image_run_records_the_metrics_of_an_uninterrupted_one(tmp_path, monkeypatch):
    import json

    from gan_mixup import RunConfig, train
    from gan_mixup.training import StopTraining

    monkeypatch.setenv("GAN_MIXUP_CACHE", str(tmp_path / "cache"))
    digits_mnist(tmp_path / "data")
    config = RunConfig(dataset="stacked-mnist", data_root=str(tmp_path / "data"), image_size=16, hidden=8, latent_dim=8,
                       iterations=12, batch_size=16, snapshot_frames=3, fixed_samples=16, metric_samples=64,
                       metric_frames=3, log_every=2, checkpoint_every=1000, checkpoint_seconds=0.0)

    def stop_at_six(record):
        if record["kind"] == "train" and record["iteration"] == 6:
            raise StopTraining

    train(config, tmp_path / "whole")
    assert train(config, tmp_path / "parts", callbacks=[stop_at_six]).stopped_early
    image_metrics._JUDGES.clear()  # a new process: the classifier comes back from the disk cache
    train(config, tmp_path / "parts", resume=True)
    whole = (tmp_path / "whole" / "metrics.jsonl").read_bytes()
    assert whole == (tmp_path / "parts" / "metrics.jsonl").read_bytes()
    first = next(r for r in map(json.loads, whole.decode().splitlines()) if r["kind"] == "snapshot")
    assert first["iteration"] == 0 and 0.5 < first["classifier_accuracy"] <= 1.0
    for key in ("modes_covered", "kl_modes", "frechet", "precision", "recall", "density", "coverage"):
        assert key in first and f"real_{key}" in first, key
    assert first["real_precision"] > first["precision"] and first["real_frechet"] < first["frechet"]
    assert "frechet_digits" not in first


TINY_RUN = ["--dataset", "digits", "--image-size", "16", "--hidden", "8", "--nz", "8", "--batch-size", "16",
            "--iterations", "4", "--snapshot-frames", "2", "--fixed-samples", "16", "--metric-samples", "32",
            "--metric-frames", "2", "--no-render", "--no-progress"]


def test_fid_weights_that_are_missing_is_one_line(tmp_path):
    from cli_helpers import run_cli

    code, _, stderr = run_cli(["images", *TINY_RUN, "--out", tmp_path / "run", "--fid-weights", tmp_path / "absent.pth"])
    assert code != 0 and stderr.count("\n") == 1 and stderr.startswith("gan-mixup: error: ")
    assert "absent.pth is not a file" in stderr and "nothing is downloaded" in stderr
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_fid_weights_without_the_extra_is_one_line(tmp_path, monkeypatch):
    from cli_helpers import run_cli

    weights = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    weights.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)
    monkeypatch.setitem(sys.modules, "torch_fidelity.feature_extractor_inceptionv3", None)
    code, _, stderr = run_cli(["images", *TINY_RUN, "--out", tmp_path / "run", "--fid-weights", weights])
    assert code != 0 and stderr.count("\n") == 1
    assert "pip install 'gan-mixup[fid]'" in stderr
    assert not (tmp_path / "run").exists()


def test_kid_of_one_set_is_near_zero_and_grows_with_a_shift():
    a, b = gaussian(400, 0, dims=8), gaussian(400, 1, dims=8)
    assert abs(image_metrics.kernel_inception_distance(a, b)) < 0.05
    assert image_metrics.kernel_inception_distance(a, b + 2.0) > 1.0


def test_the_metrics_command_prints_the_new_metrics_and_the_classifier(tmp_path):
    from cli_helpers import run_cli

    code, _, stderr = run_cli(["images", *TINY_RUN, "--out", tmp_path / "run"])
    assert code == 0, stderr
    code, stdout, stderr = run_cli(["metrics", tmp_path / "run"])
    assert code == 0, stderr
    header = stdout.splitlines()[0].split()
    assert {"frechet", "precision", "recall", "density", "coverage", "modes_covered"} <= set(header)
    assert "frechet_digits" not in header
    assert "real data at this sample size (the ceiling): " in stdout and "real_precision" not in stdout
    assert "classifier held-out accuracy: 0.9" in stdout
