r"""Classification and regression metrics for ensembles: accuracy, ECE, Brier, NLL, MSE, Gaussian NLL.

Probabilities are (N, C) rows summing to one; an ensemble's members are (M, N, C) and its predictive is their mean
(:func:`ensemble_predictive`). Definitions (seed 000, appendix):

.. math:: \mathrm{ECE} = \sum_b \frac{n_b}{N} \big|\mathrm{acc}(b) - \mathrm{conf}(b)\big|, \qquad
          \mathrm{Brier} = \frac1N \sum_i \sum_c (p_{ic} - [y_i = c])^2, \qquad
          \mathrm{NLL} = -\frac1N \sum_i \log p_{i y_i},

with the confidence :math:`\max_c p_{ic}` binned into ``n_bins`` equal-width bins. **Binning convention:** the
default ``closed="right"`` uses bins :math:`(l, u]` (the first one :math:`[0, u]`), as Guo et al. (2017) and the
MT-SGD reference code do; ``closed="left"`` uses :math:`[l, u)` (the last one :math:`[l, 1]`), as torchmetrics
does. They differ only for confidences exactly on a bin edge.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "accuracy",
    "brier",
    "ece",
    "ensemble_predictive",
    "gaussian_nll",
    "member_metrics",
    "mse",
    "nll",
    "reliability",
]


def _check(probs: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    if probs.ndim != 2 or labels.shape != probs.shape[:1]:
        raise ValueError(f"probs must be (N, C) and labels (N,), got {tuple(probs.shape)} and {tuple(labels.shape)}")
    if probs.shape[0] == 0:
        raise ValueError("no predictions to score")
    if not torch.isfinite(probs).all() or (probs < 0).any():
        raise ValueError("probs must be finite and non-negative")
    if (probs.sum(1) - 1).abs().max() > 1e-4:
        raise ValueError("each row of probs must sum to 1 (pass softmax(logits), not logits)")
    if labels.dtype.is_floating_point or labels.min() < 0 or labels.max() >= probs.shape[1]:
        raise ValueError(f"labels must be integers in [0, {probs.shape[1]})")
    return probs, labels.long()


def accuracy(probs: Tensor, labels: Tensor) -> Tensor:
    """Share of rows whose most probable class is the label."""
    probs, labels = _check(probs, labels)
    return (probs.argmax(1) == labels).to(probs.dtype).mean()


def reliability(probs: Tensor, labels: Tensor, n_bins: int = 10, closed: str = "right") -> dict[str, Tensor]:
    """Per-bin ``count``, ``accuracy`` and ``confidence`` (n_bins,) of the top-label confidence (see module doc)."""
    probs, labels = _check(probs, labels)
    if closed not in ("right", "left"):
        raise ValueError(f"closed must be 'right' (Guo et al.) or 'left' (torchmetrics), got {closed!r}")
    conf, pred = probs.max(1)
    edges = torch.arange(1, n_bins, dtype=probs.dtype, device=probs.device) / n_bins  # interior edges, k / n exactly
    idx = torch.bucketize(conf, edges, right=(closed == "left"))
    count = torch.zeros(n_bins, dtype=probs.dtype, device=probs.device).index_add_(0, idx, torch.ones_like(conf))
    hits = torch.zeros_like(count).index_add_(0, idx, (pred == labels).to(probs.dtype))
    total_conf = torch.zeros_like(count).index_add_(0, idx, conf)
    safe = count.clamp_min(1)
    return {"count": count, "accuracy": hits / safe, "confidence": total_conf / safe}


def ece(probs: Tensor, labels: Tensor, n_bins: int = 10, closed: str = "right") -> Tensor:
    """Expected calibration error (L1) with ``n_bins`` equal-width bins.

    >>> import torch
    >>> probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    >>> round(ece(probs, torch.tensor([0, 1, 1])).item(), 4)  # |1 - .9| + |0 - .6| + |1 - .7|, over 3
    0.3333
    """
    r = reliability(probs, labels, n_bins, closed)
    return (r["count"] / r["count"].sum() * (r["accuracy"] - r["confidence"]).abs()).sum()


def brier(probs: Tensor, labels: Tensor) -> Tensor:
    """Multi-class Brier score: squared error to the one-hot label, summed over classes, averaged over rows."""
    probs, labels = _check(probs, labels)
    onehot = torch.nn.functional.one_hot(labels, probs.shape[1]).to(probs.dtype)
    return (probs - onehot).pow(2).sum(1).mean()


def nll(probs: Tensor, labels: Tensor, eps: float = 1e-12) -> Tensor:
    """Mean negative log probability of the label (probabilities floored at ``eps``)."""
    probs, labels = _check(probs, labels)
    return -probs.gather(1, labels[:, None]).clamp_min(eps).log().mean()


def ensemble_predictive(member_probs: Tensor) -> Tensor:
    """The ensemble's predictive (N, C): the mean of the members' probabilities (M, N, C)."""
    if member_probs.ndim != 3:
        raise ValueError(f"member_probs must be (M, N, C), got {tuple(member_probs.shape)}")
    return member_probs.mean(0)


def member_metrics(member_probs: Tensor, labels: Tensor, n_bins: int = 10) -> dict[str, Tensor]:
    """Accuracy, ECE, Brier and NLL of every member (M,) — to compare with the ensemble's."""
    rows = [
        [accuracy(p, labels), ece(p, labels, n_bins), brier(p, labels), nll(p, labels)] for p in member_probs.unbind(0)
    ]
    values = torch.tensor(rows, dtype=member_probs.dtype)
    return dict(zip(("accuracy", "ece", "brier", "nll"), values.T, strict=True))


def mse(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over all entries."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    return (pred - target).pow(2).mean()


def gaussian_nll(mean: Tensor, var: Tensor, target: Tensor) -> Tensor:
    r""":math:`\frac12 \big(\log 2\pi\sigma^2 + (y - \mu)^2/\sigma^2\big)`, averaged; an ensemble gives
    :math:`\mu` and :math:`\sigma^2` as its members' mean and variance plus the noise variance."""
    if not (mean.shape == var.shape == target.shape):
        raise ValueError("mean, var and target must have the same shape")
    if (var <= 0).any():
        raise ValueError("variances must be positive")
    return 0.5 * (torch.log(2 * math.pi * var) + (target - mean).pow(2) / var).mean()
