r"""Projections onto the dual cone of the gradients (seed 003): UPGrad and DualProj.

With :math:`\pi_J` the projection onto :math:`\{x : J x \ge 0\}` and, by Proposition 1,
:math:`\pi_J(J^\top u) = J^\top v^\star(u)`, :math:`v^\star(u) = \operatorname{argmin}_{v \ge u} v^\top G v`
(:func:`stein_mo.dual_cone_weights`):

.. math:: A_{\mathrm{UPGrad}}(J) = \sum_i p_i\, \pi_J(g_i), \qquad A_{\mathrm{DualProj}}(J) = \pi_J(J^\top p),

with preference :math:`p` (default :math:`1/m`: the mean gradient, and UPGrad as defined in seed 003, eq. 5).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..qp import _dual_cone_weights
from .base import Weighting, check_preference

__all__ = ["DualProj", "UPGrad"]


class UPGrad(Weighting):
    """Unconflicting projection of gradients: each row projected onto the dual cone, then averaged by ``pref``.

    >>> import torch
    >>> UPGrad()(torch.tensor([[1.0, -1.0], [-1.0, 4.0]])).tolist()  # (e1 + 0.25 e2 + e1 + e2) / 2
    [1.0, 0.625]
    """

    non_conflicting = True
    linear_under_scaling = True

    def __init__(self, pref: Tensor | None = None) -> None:
        self.pref = pref

    def weights(self, G: Tensor) -> Tensor:
        p = check_preference(self.pref, G)
        U = torch.diag(p).expand(*G.shape[:-2], -1, -1)
        return _dual_cone_weights(G, U).sum(-2)


class DualProj(Weighting):
    """The ``pref``-weighted mean gradient projected onto the dual cone (Lopez-Paz & Ranzato, 2017).

    >>> import torch
    >>> DualProj()(torch.tensor([[1.0, -2.0], [-2.0, 5.0]])).tolist()  # the mean conflicts with g1 = (1, 0)
    [1.0, 0.5]
    """

    non_conflicting = True

    def __init__(self, pref: Tensor | None = None) -> None:
        self.pref = pref

    def weights(self, G: Tensor) -> Tensor:
        p = check_preference(self.pref, G)
        return _dual_cone_weights(G, p.expand(*G.shape[:-2], 1, -1))[..., 0, :]
