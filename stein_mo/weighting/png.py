r"""Pareto navigation gradient descent, PNG (Ye & Liu; seed 001): optimise a criterion F inside the Pareto set.

The direction (eq. 7) is the closest vector to :math:`\nabla F` that decreases every loss at rate at least
:math:`\varphi_t`; by its dual (eq. 9–10)

.. math:: v_t = \nabla F + J^\top \lambda, \qquad
          \lambda = \operatorname*{argmin}_{\lambda \ge 0} \tfrac12 \lambda^\top G \lambda + \lambda^\top
          (J \nabla F - \varphi_t 1),

a non-negative QP on the Gramian, solved by the active-set solver behind :func:`stein_mo.dual_cone_weights`,
batched over models (with a :math:`10^{-12}` relative ridge: G may be singular while :math:`\varphi_t 1` is not in
its range). The control (eq. 8) is :math:`\varphi_t = \alpha\, g(\theta_t)` while :math:`g(\theta_t) =
\min_{\omega \in \Delta} \|J^\top \omega\|^2 > e`, and :math:`-\infty` (plain descent on F) below; :math:`e =
\gamma e_0` with :math:`e_0` an exponential moving average of :math:`\frac1m \sum_i \|\nabla \ell_i\|^2`
(Appendix B: :math:`\alpha = 0.5`, :math:`\gamma = 0.1`).

Criteria that depend on the parameters only through the losses have :math:`\nabla F = J^\top c` with
:math:`c = \partial F / \partial \ell`; :func:`criterion_weights` computes c by autograd for any such callable,
e.g. :func:`energy_distance` (eq. 6, over an ensemble), :func:`weighted_distance` or
:func:`epo_non_uniformity` (Mahapatra & Rajan's non-uniformity score).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..qp import _min_norm_weights, _nnqp, _normalized_gramians

__all__ = ["PNG", "criterion_weights", "energy_distance", "epo_non_uniformity", "weighted_distance"]


class PNG:
    """PNG directions for one model or a batch of models (leading dimensions), with the control state.

    >>> import torch
    >>> J = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # two losses, far from Pareto-stationary
    >>> v, info = PNG(alpha=0.5).direction(J, torch.tensor([1.0, -1.0]))  # F pulls loss 2 up
    >>> bool((J @ v >= info["phi"] - 1e-6).all())  # still decreases both losses at rate >= phi
    True
    """

    def __init__(self, alpha: float = 0.5, gamma: float = 0.1, decay: float = 0.9) -> None:
        if not (alpha > 0 and gamma >= 0 and 0 <= decay < 1):
            raise ValueError(f"need alpha > 0, gamma >= 0, 0 <= decay < 1; got {alpha}, {gamma}, {decay}")
        self.alpha, self.gamma, self.decay = alpha, gamma, decay
        self._e0: Tensor | None = None

    def reset(self) -> None:
        """Forget the moving average :math:`e_0`."""
        self._e0 = None

    def direction(self, J: Tensor, grad_F: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """``J`` (…, m, n) loss gradients and ``grad_F`` (…, n) → the update direction (…, n) to *subtract*.

        ``info`` holds ``lambda`` (…, m), ``phi`` (…) (``-inf`` when the control is off) and ``g`` (…).
        """
        if J.ndim < 2 or grad_F.shape != J.shape[:-2] + J.shape[-1:]:
            raise ValueError(f"J (..., m, n) and grad_F (..., n) disagree: {tuple(J.shape)}, {tuple(grad_F.shape)}")
        if not (torch.isfinite(J).all() and torch.isfinite(grad_F).all()):
            raise ValueError("J or grad_F has non-finite entries")
        m, n = J.shape[-2:]
        Jb, fb = J.reshape(-1, m, n).double(), grad_F.reshape(-1, n).double()
        G = Jb @ Jb.mT
        w = _min_norm_weights(G)
        g = (w * (G @ w[:, :, None])[:, :, 0]).sum(-1)
        mean_sq = G.diagonal(dim1=-2, dim2=-1).mean(-1)
        self._e0 = mean_sq if self._e0 is None else self.decay * self._e0 + (1 - self.decay) * mean_sq
        control = g > self.gamma * self._e0
        phi = self.alpha * g
        Gn, scale = _normalized_gramians(G)
        q = ((Jb @ fb[:, :, None])[:, :, 0] - phi[:, None]) / scale[:, None]
        tol = 64 * torch.finfo(G.dtype).eps * m
        lam = _nnqp(Gn, q, tol, 10 * m + 50, control, ridge=1e-12)
        lam = torch.where(control[:, None], lam, 0.0)
        v = fb + (lam[:, None, :] @ Jb)[:, 0]
        info = {
            "lambda": lam.to(J.dtype).reshape(J.shape[:-1]),
            "phi": torch.where(control, phi, -torch.inf).to(J.dtype).reshape(J.shape[:-2]),
            "g": g.to(J.dtype).reshape(J.shape[:-2]),
        }
        return v.to(J.dtype).reshape(grad_F.shape), info

    def __repr__(self) -> str:
        return f"PNG(alpha={self.alpha}, gamma={self.gamma}, decay={self.decay})"


def criterion_weights(criterion: Callable[[Tensor], Tensor], losses: Tensor) -> Tensor:
    r""":math:`c = \partial F / \partial \ell` at ``losses`` (…, m), so that :math:`\nabla_\theta F = J^\top c`."""
    ell = losses.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (c,) = torch.autograd.grad(criterion(ell), ell)
    return c


def energy_distance(L: Tensor) -> Tensor:
    r"""Seed 001, eq. 6: :math:`E = \sum_{i \ne j} \|\ell_i - \ell_j\|^{-2}` over the loss vectors ``L`` (N, m)."""
    D = (L[:, None, :] - L[None, :, :]).pow(2).sum(-1)
    off = ~torch.eye(L.shape[0], dtype=torch.bool, device=L.device)
    return D[off].reciprocal().sum()


def weighted_distance(losses: Tensor, r: Tensor) -> Tensor:
    r""":math:`F = \sum_i (\ell_i - r_i)^2 / r_i` (seed 001, §5.1), summed over leading dimensions."""
    return ((losses - r) ** 2 / r).sum()


def epo_non_uniformity(losses: Tensor, r: Tensor) -> Tensor:
    r"""Mahapatra & Rajan's non-uniformity :math:`\sum_i \hat\ell_i \log(m \hat\ell_i)`,
    :math:`\hat\ell_i = r_i \ell_i / \sum_j r_j \ell_j`: zero exactly when :math:`r_i \ell_i` are all equal."""
    weighted = r * losses
    p = weighted / weighted.sum(-1, keepdim=True)
    return (p * torch.log(p * losses.shape[-1])).sum()
