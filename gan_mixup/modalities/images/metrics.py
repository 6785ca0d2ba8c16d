"""Metrics on image samples: modes covered, KL over modes, Fréchet distances, precision, recall,
density and coverage, in the feature space of each dataset's classifier (``domain_classifier``).

Images come in as numpy or torch, ``(N, C, H, W)``: uint8 0..255 (the on-disk snapshot format) or
float in [-1, 1]; every metric comes out as a python number. Stacked datasets are judged one channel
at a time by the single-image classifier, so stacked digits and stacked MNIST have 1,000 modes.

Example:
    >>> import numpy as np
    >>> frechet_distance(np.eye(3), np.eye(3))
    0.0
"""
from __future__ import annotations

import hashlib
import warnings
import weakref
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gan_mixup.modalities.common import recorded_metrics
from gan_mixup.modalities.images.data import images_to_uint8
from gan_mixup.modalities.images.digit_classifier import DigitClassifier, load_digit_classifier
from gan_mixup.modalities.images.classifier import ClassifierSpec, DomainClassifier, load_classifier, random_feature_net
from gan_mixup.errors import GanMixupError, GanMixupWarning
from gan_mixup.metric_registry import computed_metrics
from gan_mixup.modalities.images.features import NEAREST_K, knn_radii, prdc

# The channels of each digit dataset; each channel is one digit, so it has 10 ** channels modes.
DIGIT_DATASETS = {"digits": 1, "stacked-digits": 3}


class ImageMetricError(GanMixupError, ValueError):
    """An image metric cannot be computed: wrong shapes, too few samples, a missing weights file or extra."""


def as_images(images: np.ndarray | Tensor) -> Tensor:
    """``(N, C, H, W)`` uint8 0..255 or float in [-1, 1], numpy or torch → float32 torch in [-1, 1].

    Example:
        >>> as_images(np.full((1, 1, 2, 2), 255, dtype=np.uint8)).unique().tolist()
        [1.0]
    """
    tensor = torch.as_tensor(images)
    if tensor.dim() != 4:
        raise ImageMetricError(f"images must be (N, C, H, W), got shape {tuple(tensor.shape)}")
    if tensor.dtype == torch.uint8:
        return tensor.float() / 127.5 - 1.0
    return tensor.float()


def digit_modes(images: np.ndarray | Tensor, classifier: DomainClassifier) -> tuple[Tensor, Tensor]:
    """The mode of each image ``(N,)`` and its classifier features ``(N, C·F)``.

    Each channel is read as one digit; the mode is the digits read as a number, first channel most
    significant (``100·c0 + 10·c1 + c2`` for three channels), and the features of the channels are
    concatenated.

    Example:
        >>> modes, feats = digit_modes(torch.zeros(2, 3, 16, 16), DigitClassifier(16))
        >>> modes.shape, feats.shape
        (torch.Size([2]), torch.Size([2, 192]))
    """
    x = as_images(images)
    n, c, h, w = x.shape
    labels, features = classifier.predict_and_features(x.reshape(n * c, 1, h, w))  # (N·C,), (N·C, F)
    weights = 10 ** torch.arange(c - 1, -1, -1, device=labels.device)
    return (labels.view(n, c) * weights).sum(dim=1), features.reshape(n, -1)


def mode_metrics(modes: np.ndarray | Tensor, num_modes: int) -> dict[str, float | int]:
    """``modes_covered`` (modes with at least one sample) and ``kl_modes`` = KL(p_fake ‖ uniform).

    Example:
        >>> mode_metrics(torch.tensor([0, 0, 0, 1]), 10)  # doctest: +ELLIPSIS
        {'modes_covered': 2, 'kl_modes': 1.7402...}
    """
    counts = np.bincount(np.asarray(torch.as_tensor(modes).cpu()), minlength=num_modes).astype(np.float64)
    if counts.size > num_modes or counts.sum() == 0:
        raise ImageMetricError(f"modes must be integers in [0, {num_modes}) and there must be at least one")
    p = counts[counts > 0] / counts.sum()
    # Σ p log(p / (1/K)); empty modes contribute 0 (0 log 0 = 0).
    return {"modes_covered": int((counts > 0).sum()), "kl_modes": float((p * np.log(p * num_modes)).sum())}


def digit_mode_metrics(images: np.ndarray | Tensor, classifier: DomainClassifier, num_modes: int) -> dict[str, float | int]:
    """Modes covered and KL over modes of digit samples ``(N, C, H, W)``, judged by ``classifier``.

    One channel: 10 modes (the digit). Three channels (stacked digits): each channel is classified
    on its own and the mode is ``100·c0 + 10·c1 + c2``, 1,000 modes. As in VEEGAN and PacGAN's
    Stacked-MNIST tables, a mode counts as covered when at least one sample lands in it, and
    ``kl_modes`` is KL(p_fake ‖ uniform over num_modes) of the predicted modes: 0 for a perfectly
    balanced sampler, ``log(num_modes)`` for one that always draws the same mode.

    Example:
        >>> clf = DigitClassifier(16)
        >>> digit_mode_metrics(torch.zeros(4, 1, 16, 16), clf, 10)["modes_covered"]
        1
    """
    channels = as_images(images).shape[1]
    if num_modes != 10**channels:
        raise ImageMetricError(f"{channels}-channel digit images have {10 ** channels} modes, not {num_modes}")
    return mode_metrics(digit_modes(images, classifier)[0], num_modes)


@dataclass(frozen=True)
class GaussianStats:
    """Mean ``(F,)`` and covariance ``(F, F)`` of a feature set, float64 on the CPU."""

    mean: Tensor
    cov: Tensor

    @cached_property
    def root(self) -> Tensor:
        """Σ^½, the symmetric PSD square root (cached: the real side's is reused at every snapshot)."""
        values, vectors = torch.linalg.eigh(self.cov)
        return (vectors * values.clamp(min=0.0).sqrt()) @ vectors.T


def gaussian_stats(features: np.ndarray | Tensor) -> GaussianStats:
    """Mean and unbiased covariance (float64) of features ``(N, F)``, N >= 2.

    Example:
        >>> stats = gaussian_stats(np.array([[0.0], [2.0]]))
        >>> stats.mean.tolist(), stats.cov.tolist()
        ([1.0], [[2.0]])
    """
    x = torch.as_tensor(features).detach().to("cpu", torch.float64)
    if x.dim() != 2 or x.shape[0] < 2:
        raise ImageMetricError(f"Fréchet distance needs features (N >= 2, F), got shape {tuple(x.shape)}")
    return GaussianStats(x.mean(dim=0), torch.atleast_2d(torch.cov(x.T)))


def frechet_distance_from_stats(a: GaussianStats, b: GaussianStats) -> float:
    """‖μa − μb‖² + tr Σa + tr Σb − 2 tr (Σa^½ Σb Σa^½)^½, the Fréchet distance of two Gaussians.

    Example:
        >>> eye = torch.eye(2, dtype=torch.float64)
        >>> frechet_distance_from_stats(GaussianStats(torch.zeros(2), eye), GaussianStats(torch.ones(2), eye))
        2.0
    """
    # tr (Σa Σb)^½ equals tr (Σa^½ Σb Σa^½)^½, and the latter is a symmetric PSD matrix, so `eigh`
    # gives it with real eigenvalues that can be clipped at 0. scipy.linalg.sqrtm on the non-symmetric
    # Σa Σb returns complex parts and loses accuracy when the covariances are singular, as they are
    # whenever N < F (64 samples of 192 features): the symmetric form is the stabler one. It runs in
    # torch, not numpy, because numpy's OpenBLAS threads fight the trainer's for the same cores.
    # Pass the side whose statistics repeat (the real references) as ``a``: its root is cached.
    middle = a.root @ b.cov.to(torch.float64) @ a.root
    trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0.0).sqrt().sum()
    diff = a.mean.to(torch.float64) - b.mean.to(torch.float64)
    distance = diff @ diff + a.cov.trace() + b.cov.trace() - 2.0 * trace_root
    return max(float(distance), 0.0)  # rounding can leave -1e-12 for identical sets


def frechet_distance(features_a: np.ndarray | Tensor, features_b: np.ndarray | Tensor) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets ``(N, F)`` and ``(M, F)``, float64.

    Example:
        >>> a = np.random.default_rng(0).normal(size=(500, 2))
        >>> round(frechet_distance(a, a + [3.0, 4.0]), 6)
        25.0
    """
    return frechet_distance_from_stats(gaussian_stats(features_a), gaussian_stats(features_b))


# The loaded digit classifier per image size, each dataset's judge, and each judge's statistics of
# the real references the trainer passes at every snapshot (the same array each time, so hashing it
# beats re-classifying it).
_CLASSIFIERS: dict[int, DomainClassifier] = {}
_JUDGES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_REAL_STATS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _classifier_for(image_size: int) -> DomainClassifier:
    if image_size not in _CLASSIFIERS:
        _CLASSIFIERS[image_size] = load_digit_classifier(image_size)
    return _CLASSIFIERS[image_size]


@dataclass(eq=False)
class Judge:
    """The feature space a dataset's samples are measured in.

    ``net`` reads one stacked image ``(B, C0, H, W)`` at a time (C0 = channels / stack); ``num_modes``
    is ``classes ** stack`` for a labelled dataset and None for a label-free one, whose ``net`` is
    ``random_feature_net`` (no modes, only the feature metrics). ``accuracy`` is the classifier's
    held-out accuracy (NaN for random features).
    """

    net: DomainClassifier
    stack: int
    num_classes: int | None

    @property
    def num_modes(self) -> int | None:
        return None if self.num_classes is None else self.num_classes**self.stack

    @property
    def accuracy(self) -> float:
        return self.net.held_out_accuracy

    def modes_and_features(self, images: np.ndarray | Tensor) -> tuple[Tensor | None, Tensor]:
        """Modes ``(N,)`` (None when label-free) and features ``(N, stack·F)`` of ``(N, C, H, W)`` images.

        Each channel group is classified on its own; the mode reads the classes as digits base
        ``num_classes``, first group most significant; the groups' features are concatenated.
        """
        x = as_images(images)
        n, c, h, w = x.shape
        c0 = c // self.stack
        if c0 * self.stack != c or c0 != self.net.spec.in_channels:
            raise ImageMetricError(f"images with {c} channel(s) do not fit a judge of {self.stack} × "
                                   f"{self.net.spec.in_channels}-channel images")
        labels, features = self.net.predict_and_features(x.reshape(n * self.stack, c0, h, w))
        features = features.reshape(n, -1)
        if self.num_classes is None:
            return None, features
        weights = self.num_classes ** torch.arange(self.stack - 1, -1, -1, device=labels.device)
        return (labels.view(n, self.stack) * weights).sum(dim=1), features


def judge_for(dataset: Any, *, cache_dir: str | Path | None = None, spec: ClassifierSpec | None = None) -> Judge:
    """The judge of an ``images.ImageDataset``, built once per dataset object: its classifier (from
    the disk cache, or trained, see ``domain_classifier``), or for a dataset without labels (a
    ``folder`` without class subfolders) a fixed random CNN, with one warning that mode coverage
    needs class subfolders.

    Example:
        >>> from gan_mixup.modalities.images.data import get_image_dataset
        >>> judge_for(get_image_dataset("stacked-digits", image_size=16)).num_modes   # doctest: +SKIP
        1000
    """
    judge = _JUDGES.get(dataset)
    if judge is None:
        c0 = dataset.pixels.shape[1]
        classes = int(dataset.labels.max()) + 1 if dataset.labels is not None else 0
        if classes < 2:
            warnings.warn(f"{dataset.name}: mode coverage and KL over modes need class subfolders "
                          "(<root>/<class>/<image>, two or more); without them only Fréchet, precision, recall, "
                          "density and coverage are measured, in random CNN features", GanMixupWarning, stacklevel=2)
            judge = Judge(random_feature_net(c0, dataset.image_size), dataset.stack, None)
        elif dataset.name in DIGIT_DATASETS and spec is None and cache_dir is None:
            judge = Judge(_classifier_for(dataset.image_size), dataset.stack, classes)
        else:
            judge = Judge(load_classifier(dataset, cache_dir=cache_dir, spec=spec), dataset.stack, classes)
        _JUDGES[dataset] = judge
    return judge


@dataclass(frozen=True)
class RealFeatures:
    """What the metrics reuse of a real reference: Gaussian statistics, features ``(N, F)``, k-NN radii ``(N,)``."""

    stats: GaussianStats
    features: Tensor
    radii: Tensor


def _real_features(real: np.ndarray | Tensor, judge: Judge | DomainClassifier) -> RealFeatures:
    array = np.ascontiguousarray(torch.as_tensor(real).cpu().numpy())
    key = (array.shape, str(array.dtype), hashlib.blake2b(array.data, digest_size=16).hexdigest())
    cache = _REAL_STATS.setdefault(judge, {})
    if key not in cache:
        if len(cache) >= 4:
            cache.pop(next(iter(cache)))
        features = judge.modes_and_features(array)[1] if isinstance(judge, Judge) else digit_modes(array, judge)[1]
        cache[key] = RealFeatures(gaussian_stats(features), features, knn_radii(features))
    return cache[key]


def _real_stats(real: np.ndarray | Tensor, classifier: DomainClassifier) -> GaussianStats:
    return _real_features(real, classifier).stats


def image_sample_metrics(
    fake: np.ndarray | Tensor,
    real: np.ndarray | Tensor,
    *,
    dataset_name: str,
    classifier: DomainClassifier | None = None,
    dataset: Any = None,
) -> dict[str, float | int]:
    """What a snapshot of an image run records, in the feature space of the dataset's judge
    (``judge_for``; per-channel features concatenated for stacked sets):

        modes_covered, kl_modes    labelled datasets only (see ``digit_mode_metrics``)
        frechet                    Fréchet distance of Gaussians fitted to fake and real features
        precision, recall          Kynkäänniemi et al. 2019, k = 3 (``feature_metrics``)
        density, coverage          Naeem et al. 2020, k = 3
        frechet_digits             digits and stacked-digits: the same value as ``frechet`` (older runs' key)
        ...                        every registered images metric with a ``compute`` function (``Metric.compute``)

    ``fake`` and ``real`` are ``(N, C, H, W)`` uint8 0..255 (the snapshot format) or float in [-1, 1].
    ``dataset`` is the run's ``images.ImageDataset``; without it only digits and stacked-digits are
    judged (their data is bundled), with ``classifier`` (a digit classifier) when given, and every
    other dataset returns ``{}``. Inception FID is the separate, optional ``inception_fid``.

    Example:
        >>> x = np.zeros((4, 1, 16, 16), dtype=np.uint8)
        >>> image_sample_metrics(x, x, dataset_name="cifar10")
        {}
    """
    fake_images = as_images(fake)
    if dataset is None:
        if dataset_name not in DIGIT_DATASETS:
            return {}
        channels = DIGIT_DATASETS[dataset_name]
        if fake_images.shape[1] != channels:
            raise ImageMetricError(f"{dataset_name} images have {channels} channel(s), got {fake_images.shape[1]}")
        net = classifier if classifier is not None else _classifier_for(fake_images.shape[-1])
        judge: Judge | DomainClassifier = net
        modes, features = digit_modes(fake_images, net)
        num_modes: int | None = 10**channels
    else:
        if fake_images.shape[1] != dataset.channels:
            raise ImageMetricError(f"{dataset.name} images have {dataset.channels} channel(s), got {fake_images.shape[1]}")
        judge = (Judge(classifier, dataset.stack, int(dataset.labels.max()) + 1) if classifier is not None
                 else judge_for(dataset))
        modes, features = judge.modes_and_features(fake_images)
        num_modes = judge.num_modes
    reference = _real_features(real, judge)
    metrics: dict[str, float | int] = mode_metrics(modes, num_modes) if modes is not None else {}
    metrics["frechet"] = frechet_distance_from_stats(reference.stats, gaussian_stats(features))
    if dataset_name in DIGIT_DATASETS:
        metrics["frechet_digits"] = metrics["frechet"]
    if len(features) > NEAREST_K and len(reference.features) > NEAREST_K:
        metrics.update(prdc(reference.features, features, real_radii=reference.radii))
    metrics.update(computed_metrics("images", fake_images, as_images(real)))
    return metrics


def ceiling_reals(dataset: Any, n: int, seed: int) -> np.ndarray:
    """``n`` real images ``(n, C, H, W)`` uint8 drawn apart from the run's reference (own generator,
    seeded from ``seed``): the second real sample whose scores are the real-vs-real ceiling.

    Example:
        >>> from gan_mixup.modalities.images.data import get_image_dataset
        >>> ceiling_reals(get_image_dataset("digits", image_size=16), 3, 0).shape
        (3, 1, 16, 16)
    """
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 24]).generate_state(1)[0]))
    return images_to_uint8(dataset.sample(n, generator))


# torch-fidelity's InceptionV3 per weights file: loading ~100 MB of weights once per process is enough.
_INCEPTION: dict[tuple[str, str], torch.nn.Module] = {}


def _inception(weights_path: str | Path | None, device: str | torch.device) -> torch.nn.Module:
    """torch-fidelity's InceptionV3 from a local weights file, loaded once per process; one-line
    ``ImageMetricError`` when the file or the extra is missing."""
    if weights_path is None or not Path(weights_path).expanduser().is_file():
        raise ImageMetricError(
            f"Inception FID needs a local InceptionV3 weights file (torch-fidelity's "
            f"weights-inception-2015-12-05-6726825d.pth); {weights_path} is not a file, and nothing is downloaded"
        )
    try:  # torch-fidelity: an optional extra, heavy to import
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError as error:
        raise ImageMetricError("Inception FID needs torch-fidelity: pip install 'gan-mixup[fid]'") from error
    path = str(Path(weights_path).expanduser().resolve())
    key = (path, str(torch.device(device)))
    if key not in _INCEPTION:
        extractor = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=path)
        _INCEPTION[key] = extractor.to(device)
    return _INCEPTION[key]


def check_inception(weights_path: str | Path | None) -> None:
    """Raise the one-line ``ImageMetricError`` that ``inception_fid`` would, without loading anything.

    Example:
        >>> check_inception("/nonexistent.pth")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ImageMetricError: Inception FID needs a local InceptionV3 weights file ...
    """
    if weights_path is None or not Path(weights_path).expanduser().is_file():
        _inception(weights_path, "cpu")  # raises the message about the file
    try:  # torch-fidelity: an optional extra, heavy to import
        import torch_fidelity  # noqa: F401
    except ImportError:
        raise ImageMetricError("Inception FID needs torch-fidelity: pip install 'gan-mixup[fid]'") from None
    # Build it now (it is kept for the run): a file of the wrong kind fails here, before a run folder
    # is written, not at the first metric snapshot.
    try:
        _inception(weights_path, "cpu")
    except ImageMetricError:
        raise
    except Exception as error:  # an unpickling error, a state dict of another network, ...
        detail = " ".join(line.strip() for line in str(error).splitlines() if line.strip())[:300]
        raise ImageMetricError(f"{weights_path} is not an InceptionV3 weights file torch-fidelity can load "
                               f"({type(error).__name__}: {detail}); give torch-fidelity's "
                               "weights-inception-2015-12-05-6726825d.pth") from None


def inception_features(images: np.ndarray | Tensor, weights_path: str | Path | None, *,
                       device: str | torch.device = "cpu", batch_size: int = 64) -> Tensor:
    """InceptionV3 pool features ``(N, 2048)`` of ``(N, 1 or 3, H, W)`` uint8 or [-1, 1] float images."""
    extractor = _inception(weights_path, device)
    x = torch.as_tensor(images)
    if x.dtype != torch.uint8:  # float [-1, 1] → the uint8 the extractor insists on
        x = ((x.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ImageMetricError(f"Inception FID needs (N, 1 or 3, H, W) images, got shape {tuple(x.shape)}")
    x = x.expand(-1, 3, -1, -1)  # (N, 1, H, W) grey → (N, 3, H, W)
    with torch.no_grad():
        return torch.cat([extractor(part.to(device))[0].cpu() for part in x.split(batch_size)])  # (N, 2048)


def inception_fid(
    real: np.ndarray | Tensor,
    fake: np.ndarray | Tensor,
    weights_path: str | Path | None,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
) -> float:
    """FID: the Fréchet distance of InceptionV3 pool features (2048-d) of real and fake images.

    Runs torch-fidelity's TF-compatible InceptionV3 (the optional extra ``gan-mixup[fid]``) from a
    local ``weights_path`` only, torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth``:
    nothing is downloaded. Images are ``(N, C, H, W)`` uint8 or float in [-1, 1]; grey is repeated
    to RGB; the extractor resizes to 299 px itself. Slow on a CPU (~0.1 s per image).

    Example:
        >>> inception_fid(real, fake, "~/weights/weights-inception-2015-12-05-6726825d.pth")  # doctest: +SKIP
        12.3
    """
    _inception(weights_path, device)  # the file and the extra, checked before any image is
    return frechet_distance(inception_features(real, weights_path, device=device, batch_size=batch_size),
                            inception_features(fake, weights_path, device=device, batch_size=batch_size))


def kernel_inception_distance(features_a: Tensor, features_b: Tensor) -> float:
    """KID (Bińkowski et al. 2018): the unbiased MMD² of two feature sets ``(N, F)``, ``(M, F)`` with
    the cubic polynomial kernel k(x, y) = (x·y / F + 1)³, float64.

    Example:
        >>> a, b = (torch.randn(200, 4, generator=torch.Generator().manual_seed(s)) for s in (0, 1))
        >>> abs(kernel_inception_distance(a, b)) < 0.05, kernel_inception_distance(a, b + 1.0) > 5.0
        (True, True)
    """
    x, y = torch.as_tensor(features_a).double(), torch.as_tensor(features_b).double()
    if len(x) < 2 or len(y) < 2:
        raise ImageMetricError("KID needs at least two samples on each side")
    d = x.shape[1]
    kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
    n, m = len(x), len(y)
    return float((kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1)) + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
                 - 2 * kxy.mean())


_REAL_INCEPTION: dict[tuple, Tensor] = {}


def inception_metrics(fake: np.ndarray | Tensor, real: np.ndarray | Tensor, weights_path: str | Path, *,
                      device: str | torch.device = "cpu") -> dict[str, float]:
    """``fid`` and ``kid`` of ``fake`` against ``real`` in InceptionV3 features (see ``inception_fid``);
    the real side's features are computed once per process and reused at every snapshot."""
    array = np.ascontiguousarray(torch.as_tensor(real).cpu().numpy())
    key = (str(weights_path), array.shape, hashlib.blake2b(array.data, digest_size=16).hexdigest())
    if key not in _REAL_INCEPTION:
        _REAL_INCEPTION.clear()
        _REAL_INCEPTION[key] = inception_features(array, weights_path, device=device)
    real_features = _REAL_INCEPTION[key]
    fake_features = inception_features(fake, weights_path, device=device)
    return {"fid": frechet_distance(real_features, fake_features), "kid": kernel_inception_distance(real_features, fake_features)}


def evaluate_run(run_dir: Path, reference: Any) -> list[dict[str, Any]]:
    """The metrics training recorded: an image snapshot keeps only a sample grid, too few samples
    to measure again."""
    return recorded_metrics(run_dir)


def modes_total(reference: Any, records: list[dict[str, Any]]) -> int | None:
    """What the real data covers at the metrics' sample size, recorded at iteration 0."""
    return records[0].get("real_modes_covered") if records else None
