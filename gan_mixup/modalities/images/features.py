"""Precision, recall, density and coverage of fake features against real ones, in plain torch.

Both families judge each sample against k-nearest-neighbour balls: ``B(x, r_k(x))`` is the ball
around a sample whose radius is the distance to its k-th nearest neighbour in its own set (itself
excluded). With real features ``X = {x_i}`` (N, F) and fake features ``Y = {y_j}`` (M, F):

    precision = 1/M Σ_j 1[∃ i: ‖y_j − x_i‖ ≤ r_k(x_i)]        fakes inside the real manifold
    recall    = 1/N Σ_i 1[∃ j: ‖x_i − y_j‖ ≤ r_k(y_j)]        reals inside the fake manifold
        (Kynkäänniemi, Karras, Laine, Lehtinen, Aila, NeurIPS 2019, "Improved Precision and Recall", eq. 1-3)
    density   = 1/(kM) Σ_j Σ_i 1[‖y_j − x_i‖ ≤ r_k(x_i)]      how many real balls hold each fake, / k
    coverage  = 1/N Σ_i 1[min_j ‖x_i − y_j‖ ≤ r_k(x_i)]       reals whose own ball holds a fake
        (Naeem, Oh, Uh, Choi, Yoo, ICML 2020, "Reliable Fidelity and Diversity Metrics", eq. 3-4)

k = 3 in all four, as both papers recommend. For two independent samples of one distribution,
precision and recall approach 1, density's expectation is 1, and coverage's is
1 − (N−1)!(N+M−k−1)! / ((N−k−1)!(N+M−1)!), ≈ 1 − 2^−k = 0.875 for M = N (Naeem et al.,
Lemma 2): the real-vs-real values a run records are the ceiling to read a GAN's against. A sampler that draws
only one of C equally likely classes keeps precision and density but has recall and coverage
near 1/C. Distances are computed in chunks, so 26,000 × 26,000 pairs never sit in memory at once.

Example:
    >>> x = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    >>> y = torch.randn(500, 2, generator=torch.Generator().manual_seed(1))
    >>> m = prdc(x, y)
    >>> sorted(m), m["precision"] > 0.9
    (['coverage', 'density', 'precision', 'recall'], True)
"""
from __future__ import annotations

import torch
from torch import Tensor

NEAREST_K = 3
_CHUNK = 2048  # rows of a distance block: 2,048 × 26,000 float32 is ~200 MB


def _as_features(features: Tensor, what: str) -> Tensor:
    x = torch.as_tensor(features).detach().to(torch.float32)
    if x.dim() != 2:
        raise ValueError(f"{what} must be (N, F) features, got shape {tuple(x.shape)}")
    return x


def _distances(a: Tensor, b: Tensor) -> Tensor:
    """Euclidean distances ``(A, B)`` of rows of ``a`` ``(A, F)`` to rows of ``b`` ``(B, F)``, float64.

    ``torch.cdist``'s matrix-multiply form, in float64 so that near-equal points (a real set against
    itself) get distance 0 rather than 1e-3 of rounding, which would flip ball memberships.
    """
    return torch.cdist(a.double(), b.double(), compute_mode="use_mm_for_euclid_dist")


def knn_radii(features: Tensor, k: int = NEAREST_K) -> Tensor:
    """``r_k(x_i)`` ``(N,)``: the distance of each row of ``features`` ``(N, F)`` to its k-th nearest
    other row (duplicates count as neighbours at distance 0). Needs N > k.

    Example:
        >>> knn_radii(torch.tensor([[0.0], [1.0], [3.0], [6.0]]), k=1).tolist()
        [1.0, 1.0, 2.0, 3.0]
    """
    x = _as_features(features, "features")
    if x.shape[0] <= k:
        raise ValueError(f"k-nearest-neighbour radii need more than k={k} samples, got {x.shape[0]}")
    radii = []
    for start in range(0, len(x), _CHUNK):
        d = _distances(x[start:start + _CHUNK], x)  # (chunk, N); column start+i is the row itself
        # The k+1 smallest include the row itself (distance 0): the k-th neighbour is the (k+1)-th.
        radii.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def _ball_counts(points: Tensor, centres: Tensor, radii: Tensor) -> Tensor:
    """For each of ``points`` ``(P, F)``: how many balls ``B(centres_i, radii_i)`` hold it ``(P,)``."""
    counts = []
    for start in range(0, len(points), _CHUNK):
        d = _distances(points[start:start + _CHUNK], centres)  # (chunk, C)
        counts.append((d <= radii[None, :]).sum(dim=1))
    return torch.cat(counts)


def _nearest(points: Tensor, others: Tensor) -> Tensor:
    """The distance of each of ``points`` ``(P, F)`` to its nearest row of ``others`` ``(O, F)``."""
    return torch.cat([_distances(points[s:s + _CHUNK], others).min(dim=1).values for s in range(0, len(points), _CHUNK)])


def precision_recall(real: Tensor, fake: Tensor, k: int = NEAREST_K, *, real_radii: Tensor | None = None) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of ``fake`` ``(M, F)`` against ``real``
    ``(N, F)``, both in [0, 1]. ``real_radii`` ``(N,)``, when given, are ``knn_radii(real, k)`` reused.

    Example:
        >>> x = torch.arange(10.0).unsqueeze(1)
        >>> precision_recall(x, x)
        {'precision': 1.0, 'recall': 1.0}
    """
    x, y = _as_features(real, "real"), _as_features(fake, "fake")
    rx = real_radii if real_radii is not None else knn_radii(x, k)
    ry = knn_radii(y, k)
    return {"precision": float((_ball_counts(y, x, rx) > 0).double().mean()),
            "recall": float((_ball_counts(x, y, ry) > 0).double().mean())}


def density_coverage(real: Tensor, fake: Tensor, k: int = NEAREST_K, *, real_radii: Tensor | None = None) -> dict[str, float]:
    """Density (≥ 0, ~1 for matching distributions) and coverage (in [0, 1]) of Naeem et al. 2020, of
    ``fake`` ``(M, F)`` against ``real`` ``(N, F)``; only the real balls are used.

    Example:
        >>> x = torch.arange(10.0).unsqueeze(1)
        >>> density_coverage(x, x + 0.5)["coverage"]
        1.0
    """
    x, y = _as_features(real, "real"), _as_features(fake, "fake")
    rx = real_radii if real_radii is not None else knn_radii(x, k)
    density = float(_ball_counts(y, x, rx).double().sum() / (k * len(y)))
    coverage = float((_nearest(x, y) <= rx).double().mean())
    return {"density": density, "coverage": coverage}


def prdc(real: Tensor, fake: Tensor, k: int = NEAREST_K, *, real_radii: Tensor | None = None) -> dict[str, float]:
    """``precision``, ``recall``, ``density`` and ``coverage`` together (the real radii computed once).

    Example:
        >>> x = torch.arange(10.0).unsqueeze(1)
        >>> prdc(x, torch.full((10, 1), 100.0))["precision"]
        0.0
    """
    x = _as_features(real, "real")
    rx = real_radii if real_radii is not None else knn_radii(x, k)
    return {**precision_recall(x, fake, k, real_radii=rx), **density_coverage(x, fake, k, real_radii=rx)}
