r"""Aligned-MTL (Senushkin et al., 2023; seed 003, B.10, eq. 35–36).

With :math:`G = V \Lambda V^\top` restricted to its r non-zero eigenvalues and :math:`\lambda_{\min}` the smallest
of them, the Jacobian is aligned to an orthogonal system with equal singular values:

.. math:: w = \sqrt{\lambda_{\min}}\; V \Lambda^{-1/2} V^\top p, \qquad A(J) = J^\top w,

with preference :math:`p` (default :math:`1/m`). Eigenvalues below :math:`m\,\varepsilon \max \lambda` count as 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Weighting, check_preference

__all__ = ["AlignedMTL"]


class AlignedMTL(Weighting):
    """Aligned-MTL weights.

    >>> import torch
    >>> AlignedMTL()(torch.diag(torch.tensor([4.0, 1.0]))).tolist()  # orthogonal rows: scaled to the smallest
    [0.25, 0.5]
    """

    def __init__(self, pref: Tensor | None = None) -> None:
        self.pref = pref

    def weights(self, G: Tensor) -> Tensor:
        p = check_preference(self.pref, G)
        lam, V = torch.linalg.eigh(0.5 * (G + G.mT))
        keep = lam > G.shape[-1] * torch.finfo(G.dtype).eps * lam.amax(-1, keepdim=True).clamp_min(0.0)
        lam_min = torch.where(keep, lam, torch.inf).amin(-1, keepdim=True)
        inv_sqrt = torch.where(keep, lam.clamp_min(torch.finfo(G.dtype).tiny).rsqrt(), 0.0)
        scale = torch.where(keep.any(-1, keepdim=True), lam_min.clamp_min(0.0).sqrt(), 0.0)
        return scale * ((V * inv_sqrt[..., None, :]) @ (V.mT @ p[..., None]))[..., 0]
