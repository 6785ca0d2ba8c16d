"""Metrics on image samples: digit modes covered, KL over modes, Fréchet distances.

Images come in as numpy or torch, ``(N, C, H, W)``: uint8 0..255 (the on-disk snapshot format) or
float in [-1, 1]; every metric comes out as a python number. The digit metrics judge samples with
``digit_classifier``'s CNN, one channel at a time, so stacked digits have 1,000 modes.

Example:
    >>> import numpy as np
    >>> frechet_distance(np.eye(3), np.eye(3))
    0.0
"""
from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gan_mixup.digit_classifier import DigitClassifier, load_digit_classifier
from gan_mixup.errors import GanMixupError

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


def digit_modes(images: np.ndarray | Tensor, classifier: DigitClassifier) -> tuple[Tensor, Tensor]:
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


def digit_mode_metrics(images: np.ndarray | Tensor, classifier: DigitClassifier, num_modes: int) -> dict[str, float | int]:
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


# The loaded classifier per image size, and each classifier's statistics of the real references the
# trainer passes at every snapshot (the same array each time, so hashing it beats re-classifying it).
_CLASSIFIERS: dict[int, DigitClassifier] = {}
_REAL_STATS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _classifier_for(image_size: int) -> DigitClassifier:
    if image_size not in _CLASSIFIERS:
        _CLASSIFIERS[image_size] = load_digit_classifier(image_size)
    return _CLASSIFIERS[image_size]


def _real_stats(real: np.ndarray | Tensor, classifier: DigitClassifier) -> GaussianStats:
    array = np.ascontiguousarray(torch.as_tensor(real).cpu().numpy())
    key = (array.shape, str(array.dtype), hashlib.blake2b(array.data, digest_size=16).hexdigest())
    cache = _REAL_STATS.setdefault(classifier, {})
    if key not in cache:
        if len(cache) >= 4:
            cache.pop(next(iter(cache)))
        cache[key] = gaussian_stats(digit_modes(array, classifier)[1])
    return cache[key]


def image_sample_metrics(
    fake: np.ndarray | Tensor,
    real: np.ndarray | Tensor,
    *,
    dataset_name: str,
    classifier: DigitClassifier | None = None,
) -> dict[str, float | int]:
    """What a snapshot of an image run records: for digits and stacked-digits, ``modes_covered``,
    ``kl_modes`` (see ``digit_mode_metrics``) and ``frechet_digits``, the Fréchet distance between
    fake and real in the classifier's feature space (per-channel features concatenated).

    ``fake`` and ``real`` are ``(N, C, H, W)`` uint8 0..255 (the snapshot format) or float in [-1, 1].
    The classifier defaults to the one for the images' size, loaded once per process (the very first
    call on a machine trains and caches it, ~5 s). Other datasets return ``{}``:
    they have no classifier here; Inception FID is the separate, optional ``inception_fid``.

    Example:
        >>> x = np.zeros((4, 1, 16, 16), dtype=np.uint8)
        >>> image_sample_metrics(x, x, dataset_name="cifar10")
        {}
    """
    if dataset_name not in DIGIT_DATASETS:
        return {}
    fake_images = as_images(fake)
    classifier = classifier if classifier is not None else _classifier_for(fake_images.shape[-1])
    channels = DIGIT_DATASETS[dataset_name]
    if fake_images.shape[1] != channels:
        raise ImageMetricError(f"{dataset_name} images have {channels} channel(s), got {fake_images.shape[1]}")
    modes, features = digit_modes(fake_images, classifier)
    metrics = mode_metrics(modes, 10**channels)
    metrics["frechet_digits"] = frechet_distance_from_stats(_real_stats(real, classifier), gaussian_stats(features))
    return metrics


# torch-fidelity's InceptionV3 per weights file: loading ~100 MB of weights once per process is enough.
_INCEPTION: dict[tuple[str, str], torch.nn.Module] = {}


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
    if weights_path is None or not Path(weights_path).expanduser().is_file():
        raise ImageMetricError(
            f"Inception FID needs a local InceptionV3 weights file (torch-fidelity's "
            f"weights-inception-2015-12-05-6726825d.pth); {weights_path} is not a file, and nothing is downloaded"
        )
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError as error:
        raise ImageMetricError("Inception FID needs torch-fidelity: pip install 'gan-mixup[fid]'") from error
    path = str(Path(weights_path).expanduser().resolve())
    key = (path, str(torch.device(device)))
    if key not in _INCEPTION:
        extractor = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=path)
        _INCEPTION[key] = extractor.to(device)
    extractor = _INCEPTION[key]

    def features(images: np.ndarray | Tensor) -> Tensor:
        x = torch.as_tensor(images)
        if x.dtype != torch.uint8:  # float [-1, 1] → the uint8 the extractor insists on
            x = ((x.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ImageMetricError(f"Inception FID needs (N, 1 or 3, H, W) images, got shape {tuple(x.shape)}")
        x = x.expand(-1, 3, -1, -1)  # (N, 1, H, W) grey → (N, 3, H, W)
        with torch.no_grad():
            return torch.cat([extractor(part.to(device))[0].cpu() for part in x.split(batch_size)])  # (N, 2048)

    return frechet_distance(features(real), features(fake))
