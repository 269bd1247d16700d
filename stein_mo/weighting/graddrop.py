r"""GradDrop (Chen et al., 2020; seed 003, B.5, eq. 27): a random sign per coordinate, then only the gradient
entries of that sign are summed.

.. math:: P_j = \tfrac12 \Big(1 + \frac{\sum_i J_{ij}}{\sum_i |J_{ij}|}\Big), \qquad
          d_j = \sum_i J_{ij} \,[J_{ij} > 0] \text{ if } U_j < P_j \text{ else } \sum_i J_{ij}\,[J_{ij} < 0],

with :math:`U_j \sim \mathcal U(0, 1)` independent. It needs J itself, not only :math:`G = JJ^\top`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import JacobianAggregator

__all__ = ["GradDrop"]


class GradDrop(JacobianAggregator):
    """Gradient sign dropout (the aggregator of the GradDrop layer); pass a ``generator`` for reproducible draws.

    >>> import torch
    >>> J = torch.tensor([[1.0, -2.0], [3.0, 4.0]])
    >>> GradDrop()(J)[0].item()  # both entries of coordinate 0 are positive: P = 1, always kept
    4.0
    """

    def __init__(self, generator: torch.Generator | None = None) -> None:
        self._generator = generator

    def __call__(self, J: Tensor) -> Tensor:
        """The update (…, n) of the Jacobians ``J`` (…, m, n), one sign draw per coordinate of each."""
        total, mass = J.sum(-2), J.abs().sum(-2)
        P = 0.5 * (1 + torch.where(mass > 0, total / torch.where(mass > 0, mass, 1.0), 0.0))
        dev = self._generator.device if self._generator is not None else J.device
        U = torch.rand(total.shape, generator=self._generator, device=dev, dtype=J.dtype).to(J.device)
        return torch.where(U < P, J.clamp_min(0).sum(-2), J.clamp_max(0).sum(-2))
