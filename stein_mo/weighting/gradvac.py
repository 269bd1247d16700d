r"""Gradient Vaccine (Wang et al., 2021), stateful, in Gramian form.

For every pair (i, j), with :math:`\phi_{ij}` the cosine of :math:`g_i^{PC}` and :math:`g_j` and
:math:`\hat\phi_{ij}` its exponential moving average (rate :math:`\beta`), whenever :math:`\phi_{ij} <
\hat\phi_{ij}`:

.. math:: g_i^{PC} \leftarrow g_i^{PC} + \frac{\|g_i^{PC}\| \big(\hat\phi_{ij}\sqrt{1 - \phi_{ij}^2} - \phi_{ij}
          \sqrt{1 - \hat\phi_{ij}^2}\big)}{\|g_j\| \sqrt{1 - \hat\phi_{ij}^2}}\, g_j ,

visiting the other gradients in a random order, as PCGrad does; the update is :math:`\sum_i g_i^{PC}`. The
targets start at 0 (the first call behaves like PCGrad) and stay within :math:`\pm(1 - 10^{-6})`. Only G is
needed: the coefficients of :math:`g_i^{PC} = \sum_k C_{ik} g_k` carry the whole computation.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Weighting

__all__ = ["GradVac"]


class GradVac(Weighting):
    """Gradient Vaccine with EMA rate ``beta``; call :meth:`reset` between independent runs.

    >>> import torch
    >>> gv = GradVac(beta=0.5)
    >>> gv(torch.tensor([[1.0, -1.0], [-1.0, 4.0]])).tolist()  # first call: PCGrad's weights
    [2.0, 1.25]
    """

    linear_under_scaling = True  # cosines ignore scale; each correction is proportional to ||g_i||

    def __init__(self, beta: float = 0.01, generator: torch.Generator | None = None) -> None:
        if not 0.0 < beta <= 1.0:
            raise ValueError(f"beta must lie in (0, 1], got {beta}")
        self.beta, self._generator = beta, generator
        self._target: Tensor | None = None

    def reset(self) -> None:
        self._target = None

    def weights(self, G: Tensor) -> Tensor:
        """Weights (…, m) for the Gramians ``G`` (…, m, m); the targets are kept per problem of the batch."""
        m = G.shape[-1]
        Gb = G.reshape(-1, m, m)
        B = Gb.shape[0]
        if self._target is None or self._target.shape != Gb.shape:
            self._target = torch.zeros_like(Gb)
        dev = self._generator.device if self._generator is not None else G.device
        keys = torch.rand(B, m, m, generator=self._generator, device=dev).to(G.device)
        keys.diagonal(dim1=1, dim2=2).fill_(2.0)  # each row visits the others in random order, itself last
        order = keys.argsort(-1)
        C = torch.eye(m, dtype=G.dtype, device=G.device).repeat(B, 1, 1)
        norms = Gb.diagonal(dim1=1, dim2=2).clamp_min(0).sqrt()
        tiny = torch.finfo(G.dtype).tiny
        for t in range(m - 1):  # the m - 1 projections of every row, in sequence (PCGrad's order)
            j = order[:, :, t : t + 1]  # (B, m, 1)
            CG = C @ Gb
            inner = CG.gather(-1, j)[..., 0]  # g_i^PC . g_j
            norm_i = (CG * C).sum(-1).clamp_min(0).sqrt()  # ||g_i^PC||
            norm_j = norms.gather(-1, j[..., 0])
            denom = norm_i * norm_j
            phi = torch.where(denom > 0, inner / denom.clamp_min(tiny), 0.0)
            target = self._target.gather(-1, j)[..., 0]
            s_phi, s_tgt = (1 - phi**2).clamp_min(0).sqrt(), (1 - target**2).clamp_min(0).sqrt()
            coef = norm_i * (target * s_phi - phi * s_tgt) / (norm_j * s_tgt).clamp_min(tiny)
            coef = torch.where((phi < target) & (denom > 0), coef, 0.0)
            C.scatter_add_(-1, j, coef[..., None])
            # |target| = 1 would ask for an infinite correction: keep the targets strictly inside (-1, 1)
            new = ((1 - self.beta) * target + self.beta * phi).clamp(-1 + 1e-6, 1 - 1e-6)
            self._target.scatter_(-1, j, new[..., None])
        return C.sum(1).reshape(G.shape[:-1])
