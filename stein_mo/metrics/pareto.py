r"""Pareto-set quality for minimisation problems: non-dominated filter, hypervolume and IGD+.

* :func:`non_dominated` — rows of F (N, m) that no other row dominates (:math:`f' \le f` everywhere and
  :math:`f' \ne f`).
* :func:`hypervolume` — the Lebesgue measure of :math:`\bigcup_i [f_i, r]`, exact for any m by recursive slicing
  along the last objective (Hypervolume by Slicing Objectives, While et al. 2006), with a sort-and-sweep base
  case in 2-D. Cost grows like :math:`N^{m-1}`: instant for m ≤ 3 and a few thousand points.
* :func:`igd_plus` — :math:`\frac{1}{|Z|}\sum_{z \in Z} \min_{f \in F} \|\max(f - z, 0)\|` (Ishibuchi et al.,
  2015), the IGD variant that is weakly Pareto compliant.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

__all__ = ["hypervolume", "igd_plus", "non_dominated"]


def _as_points(F: Tensor | np.ndarray, name: str = "F") -> np.ndarray:
    A = F.detach().cpu().double().numpy() if isinstance(F, Tensor) else np.asarray(F, dtype=np.float64)
    if A.ndim != 2 or A.shape[1] == 0:
        raise ValueError(f"{name} must have shape (N, m) with m >= 1, got {A.shape}")
    if not np.isfinite(A).all():
        raise ValueError(f"{name} has non-finite entries")
    return A


def non_dominated(F: Tensor | np.ndarray) -> np.ndarray:
    """Boolean mask (N,) of the non-dominated rows of ``F`` (minimisation); duplicates are all kept.

    >>> non_dominated([[1.0, 2.0], [2.0, 1.0], [2.0, 2.0]]).tolist()
    [True, True, False]
    """
    A = _as_points(F)
    if A.shape[1] == 2:
        return _non_dominated_2d(A)
    le = (A[:, None, :] <= A[None, :, :]).all(-1)  # le[j, i]: row j is <= row i everywhere
    lt = (A[:, None, :] < A[None, :, :]).any(-1)
    return ~(le & lt).any(0)


def _non_dominated_2d(A: np.ndarray) -> np.ndarray:
    """O(N log N): sorted by (f1, f2), a point is dominated iff an earlier f1-group reached f2 <= its f2, or its
    own f1-group has a smaller f2."""
    order = np.lexsort((A[:, 1], A[:, 0]))
    f1, f2 = A[order, 0], A[order, 1]
    starts = np.flatnonzero(np.r_[True, f1[1:] != f1[:-1]])  # first index of each f1-group
    group = np.cumsum(np.r_[True, f1[1:] != f1[:-1]]) - 1
    best_before = np.r_[np.inf, np.minimum.accumulate(f2[starts])[:-1]]  # min f2 over strictly smaller f1
    dominated = (best_before[group] <= f2) | (f2 > f2[starts][group])
    mask = np.empty(len(A), dtype=bool)
    mask[order] = ~dominated
    return mask


def hypervolume(F: Tensor | np.ndarray, ref: Tensor | np.ndarray | list[float]) -> float:
    """Exact hypervolume dominated by ``F`` (N, m) and bounded by the reference point ``ref`` (m,).

    Points that do not strictly dominate ``ref`` add nothing.

    >>> hypervolume([[1.0, 2.0], [2.0, 1.0]], [3.0, 3.0])  # two 2x1 boxes overlapping in a 1x1 square
    3.0
    """
    A = _as_points(F)
    r = np.asarray(ref.detach().cpu() if isinstance(ref, Tensor) else ref, dtype=np.float64).reshape(-1)
    if r.shape != (A.shape[1],) or not np.isfinite(r).all():
        raise ValueError(f"ref must be a finite point with {A.shape[1]} coordinates, got {r.tolist()}")
    A = A[(A < r).all(1)]
    if len(A) == 0:
        return 0.0
    A = A[non_dominated(A)]
    return float(_hso(A, r))


def _hso(A: np.ndarray, r: np.ndarray) -> float:
    m = A.shape[1]
    if m == 1:
        return float(r[0] - A[:, 0].min())
    if m == 2:
        A = A[np.lexsort((A[:, 1], A[:, 0]))]  # by f1, then f2
        best = np.minimum.accumulate(A[:, 1])  # running minimum of f2 along increasing f1
        heights = np.concatenate([[r[1]], best[:-1]]) - best
        return float(((r[0] - A[:, 0]) * np.clip(heights, 0.0, None)).sum())
    A = A[np.argsort(A[:, -1], kind="stable")]
    cuts = np.append(A[:, -1], r[-1])
    total = 0.0
    for k in range(len(A)):  # slab between the k-th and (k+1)-th values of the last objective
        depth = cuts[k + 1] - cuts[k]
        if depth > 0:
            front = A[: k + 1, :-1]
            total += depth * _hso(front[non_dominated(front)], r[:-1])
    return total


def igd_plus(F: Tensor | np.ndarray, Z: Tensor | np.ndarray) -> float:
    """IGD+ of the set ``F`` (N, m) with respect to the reference front ``Z`` (K, m); lower is better.

    >>> igd_plus([[0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]])  # the second point is missed by d+ = 1
    0.5
    """
    A, B = _as_points(F), _as_points(Z, "Z")
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"F has {A.shape[1]} objectives but Z has {B.shape[1]}")
    d = np.sqrt((np.clip(A[None, :, :] - B[:, None, :], 0.0, None) ** 2).sum(-1))  # (K, N)
    return float(d.min(1).mean())
