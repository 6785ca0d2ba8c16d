"""The digit classifier: ``domain_classifier``'s CNN for the bundled digits, under its older names.

Example:
    >>> clf = load_digit_classifier(16)                       # doctest: +SKIP
    >>> clf.held_out_accuracy >= 0.95                         # doctest: +SKIP
    True
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gan_mixup.modalities.images.classifier import (  # noqa: F401  (re-exported)
    CLASSIFIER_VERSION,
    DIGITS,
    FEATURES,
    DomainClassifier,
    classifier_cache_path,
    data_key,
    default_cache_dir,
    load_or_train,
    train_classifier,
)
from gan_mixup.modalities.images.data import digits_pixels


def DigitClassifier(image_size: int = 32) -> DomainClassifier:  # noqa: N802  (was a class)
    """An untrained digit classifier for ``image_size`` px images ``(B, 1, S, S)``.

    Example:
        >>> DigitClassifier(16).features(__import__("torch").zeros(2, 1, 16, 16)).shape
        torch.Size([2, 64])
    """
    return DomainClassifier(DIGITS, image_size)


def train_digit_classifier(image_size: int = 32, *, epochs: int = 20, batch_size: int = 64) -> DomainClassifier:
    """Train the digit classifier from scratch (deterministic, a few seconds on one CPU thread)."""
    return train_classifier(*digits_pixels(image_size), replace(DIGITS, epochs=epochs, batch_size=batch_size), image_size)


def cache_path(image_size: int, cache_dir: str | Path | None = None) -> Path:
    """Where the digit classifier for ``image_size`` is cached."""
    pixels, labels = digits_pixels(image_size)
    return classifier_cache_path("digits", data_key(pixels, labels, image_size, DIGITS), image_size, cache_dir)


def load_digit_classifier(image_size: int = 32, *, cache_dir: str | Path | None = None,
                          retrain: bool = False) -> DomainClassifier:
    """The digit classifier for ``image_size`` px: loaded from the cache, or trained and cached."""
    return load_or_train("digits", *digits_pixels(image_size), DIGITS, cache_dir=cache_dir, retrain=retrain)
