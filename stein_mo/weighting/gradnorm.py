r"""GradNorm (Chen et al., 2018; seed 004): learn task weights :math:`w_k` so that the weighted gradient norms on
the last shared layer W follow the tasks' relative training rates.

.. math:: L_{\text{grad}} = \sum_k \big| w_k \|\nabla_W L_k\| - \bar G_W\, r_k^{\alpha} \big|, \quad
          \bar G_W = \tfrac1K \sum_k w_k \|\nabla_W L_k\|, \quad r_k = \frac{L_k / L_k(0)}{\tfrac1K \sum_j L_j/L_j(0)},

with the targets :math:`\bar G_W r_k^\alpha` held constant; after each optimizer step the weights are renormalised
to sum to K. The per-task gradient norms come from one batched backward (:func:`jacobian`).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from .backward import jacobian

__all__ = ["GradNorm"]


class GradNorm(nn.Module):
    """Task weights ``weights`` (K,), initialised at 1; train them with their own optimizer.

    >>> import torch
    >>> W = torch.nn.Parameter(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    >>> gn = GradNorm(2, alpha=0.0)
    >>> losses = torch.stack([3 * W[0, 0], W[1, 1]])  # gradient norms 3 and 1
    >>> w = gn(losses, [W])  # sets gn.weights.grad; returns the detached weights for the model's loss
    >>> gn.weights.grad.tolist()  # push the large-gradient task down, the small one up
    [3.0, -1.0]
    """

    def __init__(self, num_tasks: int, alpha: float = 1.5) -> None:
        super().__init__()
        self.alpha = alpha
        self.weights = nn.Parameter(torch.ones(num_tasks))
        self.register_buffer("initial_losses", torch.zeros(0))

    def forward(self, losses: Tensor, last_shared: Iterable[Tensor]) -> Tensor:
        """Accumulate :math:`\\nabla_w L_{\\text{grad}}` into ``weights.grad``; return the detached weights."""
        if losses.ndim != 1 or losses.numel() != len(self.weights):
            raise ValueError(f"expected {len(self.weights)} task losses, got shape {tuple(losses.shape)}")
        if self.initial_losses.numel() == 0:
            self.initial_losses = losses.detach().clone()
        norms = jacobian(losses, list(last_shared), retain_graph=True).norm(dim=1).detach()
        w = self.weights.to(losses)
        weighted = w * norms
        ratio = losses.detach() / self.initial_losses.to(losses)
        target = (weighted.mean() * (ratio / ratio.mean()) ** self.alpha).detach()
        (grad,) = torch.autograd.grad((weighted - target).abs().sum(), self.weights)
        self.weights.grad = grad if self.weights.grad is None else self.weights.grad + grad
        return w.detach()

    @torch.no_grad()
    def renormalize(self) -> None:
        """Rescale the weights to sum to K (call after each optimizer step on them)."""
        self.weights.clamp_(min=0.0)
        self.weights.mul_(len(self.weights) / self.weights.sum().clamp_min(torch.finfo(self.weights.dtype).tiny))
