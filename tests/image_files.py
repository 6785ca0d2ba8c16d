"""Image files the tests write: MNIST's IDX files and PNGs (nothing is downloaded)."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray) -> None:
    """An array in the big-endian idx format MNIST ships (uint8 data, magic 0x08 0x0N)."""
    header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(struct.pack(">I", n) for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_fake_mnist(root: Path, folder: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    labels = np.arange(n) % 10
    for i in range(n):
        images[i, 4:24, 4 + i % 10 : 8 + i % 10] = 255  # a vertical bar whose place encodes i
    write_idx(raw / "train-images-idx3-ubyte", images)
    write_idx(raw / "train-labels-idx1-ubyte", labels)
    write_idx(raw / "t10k-images-idx3-ubyte", images[:3])
    write_idx(raw / "t10k-labels-idx1-ubyte", labels[:3])
    return images, labels


def write_png(path: Path, color: tuple[int, int, int], size: tuple[int, int]) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
