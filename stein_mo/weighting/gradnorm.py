r"""GradNorm (Chen et al., 2018; seed 004): learn task weights :math:`w_k` so that the weighted gradient norms on
the last shared layer W follow the tasks' relative training rates.

.. math:: L_{\text{grad}} = \sum_k \big| w_k \|\nabla_W L_k\| - \bar G_W\, r_k^{\alpha} \big|, \quad
          \bar G_W = \tfrac1K \sum_k w_k \|\nabla_W L_k\|, \quad r_k = \frac{L_k / L_k(0)}{\tfrac1K \sum_j L_j/L_j(0)},

with the targets :math:`\bar G_W r_k^\alpha` held constant; after each optimizer step the weights are renormalised
to sum to K. The per-task gradient norms come from one batched backward (:func:`jacobian`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from .backward import jacobian

__all__ = ["GradNorm"]


class GradNorm(nn.Module):
    """Task weights ``weights`` of shape ``(*batch_shape, K)``, initialised at 1; train them with their own optimizer.

    >>> import torch
    >>> W = torch.nn.Parameter(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    >>> gn = GradNorm(2, alpha=0.0)
    >>> losses = torch.stack([3 * W[0, 0], W[1, 1]])  # gradient norms 3 and 1
    >>> w = gn(losses, [W])  # sets gn.weights.grad; returns the detached weights for the model's loss
    >>> gn.weights.grad.tolist()  # push the large-gradient task down, the small one up
    [3.0, -1.0]
    """

    def __init__(self, num_tasks: int, alpha: float = 1.5, batch_shape: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.alpha = alpha
        self.weights = nn.Parameter(torch.ones(*batch_shape, num_tasks))
        self.register_buffer("initial_losses", torch.full((*batch_shape, num_tasks), math.nan))  # NaN: not yet seen

    def forward(self, losses: Tensor, last_shared: Iterable[Tensor]) -> Tensor:
        r"""Accumulate :math:`\nabla_w L_{\text{grad}}` into ``weights.grad``; return the detached weights."""
        if losses.shape != self.weights.shape or losses.ndim != 1:
            raise ValueError(f"expected {len(self.weights)} task losses, got shape {tuple(losses.shape)}")
        norms = jacobian(losses, list(last_shared), retain_graph=True).norm(dim=1).detach()
        return self.from_norms(losses, norms)

    def from_norms(self, losses: Tensor, norms: Tensor) -> Tensor:
        r""":meth:`forward` given the gradient norms :math:`\|\nabla_W L_k\|`, both of ``weights``' shape (one row
        per problem of a batch, e.g. per ensemble member)."""
        if losses.shape != self.weights.shape or norms.shape != self.weights.shape:
            raise ValueError(f"losses and norms must have shape {tuple(self.weights.shape)}, got "
                             f"{tuple(losses.shape)} and {tuple(norms.shape)}")  # fmt: skip
        if self.initial_losses.isnan().all():
            self.initial_losses = losses.detach().clone()
        w = self.weights.to(losses)
        weighted = w * norms.detach()
        ratio = losses.detach() / self.initial_losses.to(losses)
        target = (weighted.mean(-1, keepdim=True) * (ratio / ratio.mean(-1, keepdim=True)) ** self.alpha).detach()
        (grad,) = torch.autograd.grad((weighted - target).abs().sum(), self.weights)
        self.weights.grad = grad if self.weights.grad is None else self.weights.grad + grad
        return w.detach()

    @torch.no_grad()
    def renormalize(self) -> None:
        """Rescale the weights (each row of them) to sum to K (call after each optimizer step on them)."""
        self.weights.clamp_(min=0.0)
        total = self.weights.sum(-1, keepdim=True).clamp_min(torch.finfo(self.weights.dtype).tiny)
        self.weights.mul_(self.weights.shape[-1] / total)
