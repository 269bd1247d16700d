r"""MoCo (Fernando et al., 2023; seed 004): stochastic MGDA with tracked gradients.

Each call, with the current Jacobian J (m, n): :math:`Y \leftarrow Y - \beta_t (Y - J)` (the tracked gradients,
which correct the bias of MGDA on noisy gradients), :math:`\lambda \leftarrow \Pi_\Delta\big(\lambda - \gamma_t
(Y Y^\top + \rho I)\lambda\big)`, and the update is :math:`Y^\top \lambda`. Step sizes :math:`\beta_t = \beta
t^{-\sigma_\beta}`, :math:`\gamma_t = \gamma t^{-\sigma_\gamma}`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import JacobianAggregator

__all__ = ["MoCo", "project_simplex"]


def project_simplex(v: Tensor) -> Tensor:
    """Euclidean projection of the rows of ``v`` (…, m) onto the probability simplex (sort-based, exact).

    >>> project_simplex(torch.tensor([0.5, 2.0, -1.0])).tolist()
    [0.0, 1.0, 0.0]
    """
    m = v.shape[-1]
    u = v.sort(-1, descending=True).values
    css = u.cumsum(-1) - 1
    k = torch.arange(1, m + 1, dtype=v.dtype, device=v.device)
    rho = ((u - css / k) > 0).sum(-1, keepdim=True)
    theta = css.gather(-1, rho - 1) / rho
    return (v - theta).clamp_min(0.0)


class MoCo(JacobianAggregator):
    """Stateful; :meth:`reset` between runs.

    >>> import torch
    >>> moco = MoCo(beta=1.0, gamma=0.5)
    >>> J = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    >>> for _ in range(200):
    ...     d = moco(J)
    >>> [round(x, 3) for x in d.tolist()]  # MGDA's min-norm point (0.8, 0.4)
    [0.8, 0.4]
    """

    def __init__(
        self, beta: float = 0.5, gamma: float = 0.1, rho: float = 0.0, beta_decay: float = 0.0, gamma_decay: float = 0.0
    ) -> None:
        if not (0 < beta <= 1 and gamma > 0 and rho >= 0):
            raise ValueError(f"need 0 < beta <= 1, gamma > 0, rho >= 0; got {beta}, {gamma}, {rho}")
        self.beta, self.gamma, self.rho, self.beta_decay, self.gamma_decay = beta, gamma, rho, beta_decay, gamma_decay
        self.reset()

    def reset(self) -> None:
        self._Y: Tensor | None = None
        self._lam: Tensor | None = None
        self._t = 0

    def __call__(self, J: Tensor) -> Tensor:
        """The update (…, n) for the Jacobians ``J`` (…, m, n); the state keeps one tracked Y and λ per problem."""
        m = J.shape[-2]
        self._t += 1
        if self._Y is None or self._Y.shape != J.shape:
            self._Y = torch.zeros_like(J)
            self._lam = torch.full(J.shape[:-1], 1.0 / m, dtype=J.dtype, device=J.device)
        beta = self.beta * self._t ** (-self.beta_decay)
        gamma = self.gamma * self._t ** (-self.gamma_decay)
        self._Y = self._Y - beta * (self._Y - J.detach())
        G = self._Y @ self._Y.mT
        scale = G.diagonal(dim1=-2, dim2=-1).amax(-1, keepdim=True).clamp_min(torch.finfo(J.dtype).tiny)
        Glam = (G @ self._lam[..., None])[..., 0] / scale  # step relative to the gradients' scale
        self._lam = project_simplex(self._lam - gamma * (Glam + self.rho * self._lam))
        return (self._Y.mT @ self._lam[..., None])[..., 0]
