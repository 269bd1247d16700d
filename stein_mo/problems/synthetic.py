r"""The two-loss synthetic problem of Lin et al. (2019), used by seed 001 (§5.1):

.. math:: \ell_{1,2}(\theta) = 1 - \exp(-\|\theta \mp \eta\|^2), \qquad \eta = n^{-1/2} 1 \in \mathbb R^n .

Its Pareto set is the segment :math:`\theta = t\eta`, :math:`t \in [-1, 1]`, and its front
:math:`(1 - e^{-(1-t)^2}, 1 - e^{-(1+t)^2})` is concave, so linear scalarisation only ever finds its two ends.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["two_gaussian_front", "two_gaussian_losses"]


def two_gaussian_losses(theta: Tensor) -> Tensor:
    """Losses (…, 2) at parameters ``theta`` (…, n).

    >>> import torch
    >>> two_gaussian_losses(torch.zeros(10, dtype=torch.float64)).tolist()  # the middle of the Pareto set
    [0.6321205588285577, 0.6321205588285577]
    """
    eta = theta.new_full(theta.shape[-1:], theta.shape[-1] ** -0.5)
    return torch.stack([1 - torch.exp(-(theta - eta).pow(2).sum(-1)), 1 - torch.exp(-(theta + eta).pow(2).sum(-1))], -1)


def two_gaussian_front(num: int = 200, dtype: torch.dtype = torch.float64) -> Tensor:
    """``num`` points (num, 2) of the exact Pareto front, from t = -1 to 1."""
    t = torch.linspace(-1.0, 1.0, num, dtype=dtype)
    return torch.stack([1 - torch.exp(-((1 - t) ** 2)), 1 - torch.exp(-((1 + t) ** 2))], -1)
