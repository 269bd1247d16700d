r"""CAGrad (Liu et al., 2021; seed 003, B.7, eq. 31): the best worst-case improvement in a ball around the mean.

.. math:: A(J) = \operatorname*{argmax}_{\|d - g_0\| \le c \|g_0\|} \min_i g_i^\top d, \qquad g_0 = J^\top 1/m,

solved through its dual :math:`\min_{w \in \Delta} w^\top G 1/m + c \|g_0\| \sqrt{w^\top G w}`, after which
:math:`d = g_0 + \frac{c \|g_0\|}{\|J^\top w\|} J^\top w`, i.e. weights :math:`1/m + \frac{c\|g_0\|}{\|J^\top w\|} w`.
We follow eq. 31 and do not rescale by :math:`1/(1 + c^2)` as the authors' code optionally does.

The dual is solved exactly up to a 1-D search: with :math:`\sqrt q = \min_{t > 0} (q/t + t)/2`, the inner problem
for fixed t is a simplex QP with a linear term, :math:`\min_w w^\top G w + b^\top w`, which on the simplex equals
:math:`w^\top H w - \mu` with :math:`H = G + (b 1^\top + 1 b^\top)/2 + \mu 1 1^\top` positive semi-definite once
:math:`\mu \ge c_b^\top G c_b / 4` for :math:`b = G c_b` — so :func:`stein_mo.min_norm_weights` solves it
exactly. The outer function of t is convex; a batched grid search narrows it to :math:`10^{-12}` relative.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..qp import _min_norm_weights, _normalized_gramians
from .base import Weighting

__all__ = ["CAGrad"]


class CAGrad(Weighting):
    """Conflict-averse gradient descent with radius ``c`` in [0, 1) (c = 0 is the mean).

    >>> import torch
    >>> J = torch.tensor([[1.0, 0.0], [-1.0, 3.0**0.5]])
    >>> d = J.T @ CAGrad(c=0.5)(J @ J.T)
    >>> bool((J @ d).min() > (J @ J.mean(0)).min())  # better worst case than the mean
    True
    """

    def __init__(self, c: float = 0.5, grid: int = 16, rounds: int = 14) -> None:
        if not 0.0 <= c < 1.0:
            raise ValueError(f"c must lie in [0, 1), got {c}")
        self.c, self.grid, self.rounds = c, grid, rounds

    def weights(self, G: Tensor) -> Tensor:
        m = G.shape[-1]
        Gb, _ = _normalized_gramians(G)  # the weights do not depend on G's scale
        B = Gb.shape[0]
        mean = torch.full((B, m), 1.0 / m, dtype=Gb.dtype, device=Gb.device)
        a = (Gb @ mean[:, :, None])[:, :, 0]  # G 1/m
        g0_sq = (a * mean).sum(-1).clamp_min(0.0)  # ||g0||^2
        kappa = self.c * g0_sq.sqrt()
        if self.c == 0.0 or not (kappa > 0).any():  # c = 0, or every mean gradient is 0: the mean
            return mean.to(G.dtype).reshape(G.shape[:-1])
        # h(t) = min_w kappa/2 (w'Gw / t + t) + w'a ; the optimal t is ||J^T w*|| <= max_i ||g_i||.
        hi = Gb.diagonal(dim1=-2, dim2=-1).amax(-1).clamp_min(torch.finfo(Gb.dtype).tiny).sqrt()
        lo, hi = torch.zeros_like(hi), hi * 1.01
        ones = torch.ones(m, dtype=Gb.dtype, device=Gb.device)
        n = self.grid
        frac = torch.linspace(0.0, 1.0, n + 2, dtype=Gb.dtype, device=Gb.device)[1:-1]  # interior points
        for _ in range(self.rounds):
            t = lo[:, None] + (hi - lo)[:, None] * frac  # (B, n)
            w, h = self._inner(Gb, a, kappa, g0_sq, t, ones)
            best = h.argmin(-1)
            step = (hi - lo) / (n + 1)
            centre = t.gather(1, best[:, None])[:, 0]
            lo, hi = (centre - step).clamp_min(0.0), centre + step
        w = w[torch.arange(B, device=Gb.device), best]
        gw = (w * (Gb @ w[:, :, None])[:, :, 0]).sum(-1).clamp_min(0.0).sqrt()  # ||J^T w||
        scale = torch.where((gw > 0) & (kappa > 0), kappa / gw.clamp_min(torch.finfo(Gb.dtype).tiny), 0.0)
        return (mean + scale[:, None] * w).to(G.dtype).reshape(G.shape[:-1])

    @staticmethod
    def _inner(G, a, kappa, g0_sq, t, ones):
        """For every t: argmin over the simplex of w'Gw + (2t/kappa) a'w (then h(t)), as one batched min-norm QP."""
        r = (2 * t / kappa[:, None].clamp_min(torch.finfo(G.dtype).tiny))[:, :, None, None]  # b = r a = G (r/m) 1
        mu = (r[:, :, 0, 0] ** 2 * g0_sq[:, None] / 4) * 1.01  # c_b' G c_b / 4 with c_b = r 1/m, plus a margin
        ab = a[:, None, :, None] * ones + ones[:, None] * a[:, None, None, :]  # a 1' + 1 a'
        H = G[:, None] + 0.5 * r * ab + mu[:, :, None, None]
        w = _min_norm_weights(H)  # (B, n, m)
        quad = (w * (G[:, None] @ w[..., None])[..., 0]).sum(-1)
        h = 0.5 * kappa[:, None] * (quad / t + t) + (w * a[:, None]).sum(-1)
        return w, h
