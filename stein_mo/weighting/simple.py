r"""Weightings that ignore the geometry: Mean (:math:`w = 1/m`) and RGW (Lin et al., 2021), :math:`w =
\operatorname{softmax}(\xi)`, :math:`\xi \sim \mathcal{N}(0, I)`, drawn afresh at every call."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Weighting

__all__ = ["Mean", "Random"]


class Mean(Weighting):
    """:math:`A(J) = \\frac{1}{m} \\sum_i g_i` (seed 003, B.1).

    >>> import torch
    >>> Mean()(torch.eye(4)).tolist()
    [0.25, 0.25, 0.25, 0.25]
    """

    linear_under_scaling = True

    def weights(self, G: Tensor) -> Tensor:
        return torch.full(G.shape[:-1], 1.0 / G.shape[-1], dtype=G.dtype, device=G.device)


class Random(Weighting):
    """Random gradient weighting, RGW (seed 003, B.8): softmax of i.i.d. standard normal draws.

    >>> import torch
    >>> w = Random(generator=torch.Generator().manual_seed(0))(torch.eye(3))
    >>> round(w.sum().item(), 6), bool((w > 0).all())
    (1.0, True)
    """

    linear_under_scaling = True

    def __init__(self, generator: torch.Generator | None = None) -> None:
        self._generator = generator

    def weights(self, G: Tensor) -> Tensor:
        xi = torch.randn(G.shape[:-1], generator=self._generator, dtype=G.dtype, device=self._device(G))
        return torch.softmax(xi, -1).to(G.device)

    def _device(self, G: Tensor) -> torch.device:
        return self._generator.device if self._generator is not None else G.device
