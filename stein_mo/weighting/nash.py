r"""Nash-MTL (Navon et al., 2022) as the bargaining problem seed 003 analyses (B.9, eq. 34):

.. math:: A(J) = \operatorname*{argmax}_{\|d\| \le \varepsilon} \sum_i \log(g_i^\top d).

Its solution is :math:`d = \varepsilon J^\top \beta / \sqrt m` with :math:`\beta > 0` solving :math:`G\beta = 1/\beta`
(Navon et al., Claim 3.1), the unique minimiser of the strictly convex :math:`\tfrac12 \beta^\top G \beta - \sum_i
\log \beta_i`, found here by damped Newton steps, batched. The problem has a solution iff some d improves every
objective, i.e. iff 0 is not in the convex hull of the gradients (Gordan); at such Pareto-stationary J the weights
are 0. This is the defining objective, not the authors' iterative code (seed 003 notes the two may differ); it is
therefore not compared with torchjd's NashMTL.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..qp import _min_norm_weights, _normalized_gramians
from .base import Weighting

__all__ = ["NashMTL"]


class NashMTL(Weighting):
    """Nash bargaining between the objectives; the update has norm ``max_norm`` (or is 0 at Pareto stationarity).

    >>> import torch
    >>> w = NashMTL()(torch.eye(2))  # orthogonal unit gradients: equal shares
    >>> [round(x, 6) for x in w.tolist()]
    [0.707107, 0.707107]
    """

    non_conflicting = True
    homogeneous = False

    def __init__(self, max_norm: float = 1.0, max_iter: int = 100, tol: float = 1e-24) -> None:
        if not max_norm > 0:
            raise ValueError(f"max_norm must be positive, got {max_norm}")
        self.max_norm, self.max_iter, self.tol = max_norm, max_iter, tol

    def weights(self, G: Tensor) -> Tensor:
        m = G.shape[-1]
        Gn, scale = _normalized_gramians(G)  # beta scales as scale^(-1/2); J^T beta is unchanged
        w_mgda = _min_norm_weights(Gn)
        stationary = (w_mgda * (Gn @ w_mgda[:, :, None])[:, :, 0]).sum(-1) <= 1e3 * m * torch.finfo(Gn.dtype).eps
        beta = torch.ones_like(w_mgda)
        active = ~stationary
        for _ in range(self.max_iter):
            if not active.any():
                break
            grad = (Gn @ beta[:, :, None])[:, :, 0] - 1.0 / beta
            H = Gn + torch.diag_embed(beta.pow(-2))
            step = torch.linalg.solve(H, grad[:, :, None])[:, :, 0]
            decrement = (grad * step).sum(-1)  # Newton decrement squared
            # fraction-to-the-boundary and Armijo backtracking, in one batched sweep over step lengths
            alphas = 0.5 ** torch.arange(30, dtype=Gn.dtype, device=Gn.device)
            trial = beta[:, None, :] - alphas[None, :, None] * step[:, None, :]  # (B, 30, m)
            feasible = (trial > 0).all(-1)
            f0 = self._objective(Gn, beta)
            ft = self._objective(Gn[:, None], trial.clamp_min(torch.finfo(Gn.dtype).tiny))
            good = feasible & (ft <= f0[:, None] - 0.25 * alphas * decrement[:, None])
            first = torch.where(good.any(-1), good.float().argmax(-1), alphas.numel() - 1)
            new = trial[torch.arange(len(beta)), first]
            beta = torch.where(active[:, None] & (new > 0).all(-1, keepdim=True), new, beta)
            active = active & (decrement > self.tol)
        w = self.max_norm * beta / m**0.5 / scale[:, None].sqrt()
        w = torch.where(stationary[:, None], 0.0, w)
        return w.to(G.dtype).reshape(G.shape[:-1])

    @staticmethod
    def _objective(G: Tensor, beta: Tensor) -> Tensor:
        return 0.5 * (beta * (G @ beta[..., None])[..., 0]).sum(-1) - beta.log().sum(-1)
