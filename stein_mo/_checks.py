"""Input validation shared by every public entry point: one place for the error messages."""

from __future__ import annotations

import torch
from torch import Tensor


def check_particles(X: Tensor, name: str = "X") -> None:
    """Raise if ``X`` is not a finite (M, d) floating tensor with M >= 2."""
    if not isinstance(X, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (M, d), got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"{name} must have shape (M, d), got {tuple(X.shape)}")
    if not X.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {X.dtype}")
    if X.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 particles (rows), got {X.shape[0]}")
    if X.shape[1] < 1:
        raise ValueError(f"{name} needs at least one dimension (column), got shape {tuple(X.shape)}")
    if not torch.isfinite(X).all():
        bad = int((~torch.isfinite(X)).any(dim=1).sum())
        raise ValueError(f"{name} has non-finite values in {bad} of {X.shape[0]} particles")


def check_distinct(X: Tensor, name: str = "X") -> None:
    """Raise if two particles of ``X`` coincide: they would move together forever."""
    M = X.shape[0]
    sq = torch.cdist(X.detach(), X.detach()).pow(2)
    sq.fill_diagonal_(float("inf"))
    same = torch.nonzero(sq == 0)
    if same.numel():
        a, b = same[0].tolist()
        raise ValueError(
            f"{name} has identical particles: {same.shape[0] // 2} pair(s) of its {M} rows coincide "
            f"(e.g. rows {a} and {b}); identical particles get identical updates and never separate"
        )


def check_scores(X: Tensor, scores: Tensor) -> None:
    """Raise unless ``scores`` is (K, M, d) matching ``X`` (M, d)."""
    check_particles(X)
    if not isinstance(scores, Tensor) or scores.ndim != 3:
        shape = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise ValueError(f"scores must have shape (K, M, d), got {shape}")
    if scores.shape[1:] != X.shape:
        raise ValueError(
            f"scores have shape {tuple(scores.shape)}, which does not match X {tuple(X.shape)}: "
            f"expected (K, {X.shape[0]}, {X.shape[1]})"
        )
    if scores.shape[0] < 1:
        raise ValueError("scores hold no target (K = 0)")
    if not torch.isfinite(scores).all():
        bad = (~torch.isfinite(scores)).any(dim=2)
        raise_non_finite("scores are not finite", bad, [f"target {k}" for k in range(len(bad))])


def raise_non_finite(what: str, bad: Tensor, labels: list[str]) -> None:
    """Raise ``what``, naming each target (row of ``bad`` (K, M)) and how many of its particles are affected."""
    M = bad.shape[1]
    counts = bad.sum(1).tolist()
    which = "; ".join(f"{label}: {c} of {M} particles" for label, c in zip(labels, counts, strict=True) if c)
    raise ValueError(f"{what} ({which})")
