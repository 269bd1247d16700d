r"""RotoGrad (Javaloy & Valera, 2022; seed 004, Algorithm 1): per-task rotations of the shared representation.

Task k's head sees :math:`r_k = R_k z`. :meth:`RotoGrad.backward` then

* homogenises magnitudes: with :math:`G_k = \nabla_z L_k`, :math:`U_k = G_k / \|G_k\|`, :math:`\alpha_k \propto
  \|G_k\| / \|G_k^0\|` (summing to one) and :math:`C = \sum_k \alpha_k \|G_k\|`, the backbone receives
  :math:`C \sum_k U_k` through z;
* homogenises directions: the rotations descend :math:`L^{\text{roto}}_k = -\sum_n \langle R_k^\top \tilde g_{n,k},
  v_n \rangle` with :math:`\tilde g_{n,k} = R_k G_{n,k}` held constant and :math:`v_n = \frac1K \sum_k U_{n,k}`;
* gives each head the gradient of its own loss.

Rotations are :math:`R_k = \exp(A_k - A_k^\top)`, orthogonal for any parameters :math:`A_k` (initialised at 0).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

__all__ = ["RotoGrad"]


class RotoGrad(nn.Module):
    """K rotations of a d-dimensional shared feature; train ``parameters()`` with their own optimizer.

    >>> import torch
    >>> roto = RotoGrad(dim=3, num_tasks=2)
    >>> z = torch.randn(4, 3, requires_grad=True)
    >>> r = roto(z)  # (2, 4, 3): what each task's head sees
    >>> bool(torch.allclose(r[0], z))  # rotations start at the identity
    True
    """

    def __init__(self, dim: int, num_tasks: int) -> None:
        super().__init__()
        self.A = nn.Parameter(torch.zeros(num_tasks, dim, dim))
        self._initial_norms: Tensor | None = None

    def rotations(self) -> Tensor:
        return torch.linalg.matrix_exp(self.A - self.A.mT)

    def forward(self, z: Tensor) -> Tensor:
        """Rotated features (K, B, d) for shared features ``z`` (B, d); the heads' path does not train R."""
        return z @ self.rotations().detach().to(z).mT

    def backward(self, losses: Tensor, z: Tensor, head_params: Iterable[Tensor] = ()) -> Tensor:
        """Set the backbone's gradients (through ``z``), the rotations' and the heads'; returns :math:`\\alpha`."""
        K = losses.numel()
        if losses.shape != (K,) or K != self.A.shape[0]:
            raise ValueError(f"expected {self.A.shape[0]} task losses, got shape {tuple(losses.shape)}")
        basis = torch.eye(K, dtype=losses.dtype, device=losses.device)
        (G,) = torch.autograd.grad(losses, z, grad_outputs=basis, is_grads_batched=True, retain_graph=True)
        norms = G.flatten(1).norm(dim=1)  # (K,)
        if self._initial_norms is None:
            self._initial_norms = norms.detach().clone()
        alpha = norms / self._initial_norms.to(norms)
        alpha = alpha / alpha.sum()
        U = G / norms.clamp_min(torch.finfo(G.dtype).tiny)[:, None, None]
        C = (alpha * norms).sum()
        head_params = list(head_params)
        if head_params:
            grads = torch.autograd.grad(losses.sum(), head_params, retain_graph=True, allow_unused=True)
            for p, g in zip(head_params, grads, strict=True):
                if g is not None:
                    p.grad = g if p.grad is None else p.grad + g
        z.backward(C * U.sum(0))
        R = self.rotations().to(G)
        g_tilde = (G @ R.detach().mT).detach()  # R_k G_{n,k}, per row n
        v = U.mean(0).detach()
        roto_loss = -((g_tilde @ R) * v).sum()  # -sum_k sum_n <R_k^T g~_{n,k}, v_n>
        (gA,) = torch.autograd.grad(roto_loss, self.A)
        self.A.grad = gA if self.A.grad is None else self.A.grad + gA
        return alpha.detach()
