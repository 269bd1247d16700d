r"""MGDA (Désidéri, 2012; Sener & Koltun, 2018 = seed 002): :math:`w = \operatorname{argmin}_{w \in \Delta_m}
w^\top G w`, the minimum-norm element of the convex hull of the gradients (seed 003, B.2)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..qp import _min_norm_weights
from .base import Weighting

__all__ = ["MGDA"]

SOLVERS = ("exact", "frank_wolfe")


class MGDA(Weighting):
    r"""Min-norm weights on the simplex.

    ``solver="exact"`` (default) is :func:`stein_mo.min_norm_weights`. ``solver="frank_wolfe"`` is seed 002's
    Algorithm 2: start at :math:`1/m`, move towards the vertex :math:`t = \operatorname{argmin}_i (G w)_i` with the
    exact line search of the two-point problem, for ``max_iter`` steps or until the step is below ``tol``. It is
    the seed's algorithm and approximate: use it to reproduce the seed, not for accuracy.

    >>> import torch
    >>> MGDA()(torch.tensor([[1.0, -1.0], [-1.0, 4.0]])).tolist()
    [0.7142857..., 0.2857142...]
    """

    non_conflicting = True

    def __init__(self, solver: str = "exact", max_iter: int = 250, tol: float = 1e-6) -> None:
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
        self.solver, self.max_iter, self.tol = solver, max_iter, tol

    def weights(self, G: Tensor) -> Tensor:
        if self.solver == "exact":
            return _min_norm_weights(G)
        return _frank_wolfe(G, self.max_iter, self.tol)


def _frank_wolfe(G: Tensor, max_iter: int, tol: float) -> Tensor:
    m = G.shape[-1]
    Gb = G.reshape(-1, m, m)
    w = torch.full(Gb.shape[:-1], 1.0 / m, dtype=G.dtype, device=G.device)
    rows = torch.arange(Gb.shape[0], device=G.device)
    for _ in range(max_iter):
        Gw = (Gb @ w[:, :, None])[:, :, 0]
        t = Gw.argmin(-1)
        # two-point problem between u = w and the vertex e_t: gamma = argmin ||(1-g) u + g e_t||^2 (seed 002, Alg. 1)
        uu = (w * Gw).sum(-1)
        ut = Gw[rows, t]
        tt = Gb[rows, t, t]
        denom = uu - 2 * ut + tt
        gamma = torch.where(denom > 0, (uu - ut) / denom.clamp_min(torch.finfo(G.dtype).tiny), 0.0).clamp(0.0, 1.0)
        step = torch.nn.functional.one_hot(t, m).to(G.dtype) - w
        w = w + gamma[:, None] * step
        if (gamma[:, None] * step).abs().sum(-1).max() < tol:
            break
    return w.reshape(G.shape[:-1])
