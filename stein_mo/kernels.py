r"""Radial kernels and the three quantities every Stein method needs from them.

For a radial kernel :math:`k(x, y) = f(\|x - y\|^2)` and particles :math:`x_1, \dots, x_M \in \mathbb{R}^d`,
a :class:`Kernel` returns, from :math:`O(M^2)` work and never an :math:`(M, M, d)` tensor:

* the matrix :math:`k_{ab} = k(x_a, x_b)`;
* the repulsion :math:`R_a = \sum_b \nabla_{x_b} k(x_b, x_a) = 2 \sum_b f'(r^2_{ab}) (x_b - x_a)`;
* the trace term :math:`t = \sum_{a,b} \operatorname{tr} \partial^2 k(x_a, x_b) / \partial x_a \partial x_b
  = \sum_{a,b} -2 d f'(r^2_{ab}) - 4 r^2_{ab} f''(r^2_{ab})`.

For the RBF kernel this gives :math:`R_a = (x_a \sum_b k_{ab} - (KX)_a)/\sigma^2` and
:math:`\operatorname{tr} = k_{ab} (d/\sigma^2 - r^2_{ab}/\sigma^4)` (a plus sign on :math:`d/\sigma^2`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from ._checks import check_particles

__all__ = ["IMQ", "RBF", "Kernel", "KernelTerms", "median_heuristic", "squared_distances"]


class KernelTerms(NamedTuple):
    """What a kernel contributes to a Stein step (see the module docstring)."""

    matrix: Tensor
    """(M, M) kernel matrix :math:`k_{ab}`."""
    repulsion: Tensor
    r"""(M, d) :math:`\sum_b \nabla_{x_b} k(x_b, x_a)`."""
    trace: Tensor | None
    r"""Scalar :math:`\sum_{a,b} \operatorname{tr} \partial^2 k / \partial x_a \partial x_b`, or ``None`` if skipped."""
    bandwidth: Tensor
    r"""Scalar :math:`\sigma` actually used."""


def squared_distances(X: Tensor) -> Tensor:
    """(M, M) matrix of squared Euclidean distances, exactly zero on the diagonal."""
    sq = X.pow(2).sum(-1)
    return torch.addmm(sq.unsqueeze(1) + sq, X, X.t(), alpha=-2.0).clamp_min_(0.0).fill_diagonal_(0.0)


def median_heuristic(sq_dist: Tensor) -> Tensor:
    r"""Median-heuristic bandwidth: :math:`2\sigma^2 = \operatorname{med}_{a \neq b} r^2_{ab} / \log(M + 1)`.

    The median is numpy's (mean of the two middle values) over unordered pairs :math:`a \neq b`, computed on
    detached distances. :math:`2\sigma^2` is floored at the dtype's machine epsilon so that coinciding particles
    never give :math:`\sigma = 0`.
    """
    return _sqrt(_median_sigma_sq(sq_dist), sq_dist)


def _median_sigma_sq(sq_dist: Tensor) -> float | Tensor:
    r""":math:`\sigma^2` of :func:`median_heuristic`: a Python float on CPU, a 0-d tensor elsewhere (no device sync).

    Computed in as few tensor operations as possible: it is a per-step cost of every sampler.
    """
    D = sq_dist.detach() if sq_dist.requires_grad else sq_dist
    M = D.shape[0]
    # Sorted, D's M² entries are its M zero diagonal entries, then every pair's value twice; so with P pairs the
    # lower and upper middle pair values sit at 1-based positions M + P and M + P + 1: the same pair when P is odd.
    flat, P = D.reshape(-1), M * (M - 1) // 2
    scale, floor = 0.5 / math.log(M + 1), 0.5 * torch.finfo(D.dtype).eps
    if D.device.type == "cpu" and D.dtype in (torch.float32, torch.float64):
        # numpy's selection at one position (two at once leave its fast path: benchmarks/bench_step_parts.py) puts
        # everything larger after it, so the next value is the minimum of the rest.
        k = M + P - 1
        part = np.partition(flat.numpy(), k)
        return max(0.5 * (float(part[k]) + float(part[k + 1 :].min())) * scale, floor)
    med = flat.kthvalue(M + P).values
    if P % 2 == 0:
        med = med.add_(flat.kthvalue(M + P + 1).values).mul_(0.5)
    return med.mul_(scale).clamp_min_(floor)


def _sqrt(value: float | Tensor, like: Tensor) -> Tensor:
    """The square root of a Python float or a 0-d tensor, as a 0-d tensor on ``like``'s device and dtype."""
    if isinstance(value, Tensor):
        return value.sqrt()
    return torch.scalar_tensor(math.sqrt(value), dtype=like.dtype, device=like.device)


class Kernel:
    r"""A radial kernel :math:`k(x, y) = f(\|x - y\|^2)` with bandwidth :math:`\sigma`.

    ``sigma=None`` uses :func:`median_heuristic` at every call; a number is used as given. Subclasses define
    :math:`f, f', f''` as functions of :math:`r^2` and :math:`\sigma`.
    """

    def __init__(self, sigma: float | None = None) -> None:
        if sigma is not None and not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma must be a positive finite number or None (median heuristic), got {sigma}")
        self.sigma = sigma

    def profile(self, r2: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Return :math:`f(r^2), f'(r^2), f''(r^2)` elementwise."""
        raise NotImplementedError

    def bandwidth(self, sq_dist: Tensor) -> Tensor:
        r""":math:`\sigma` for the squared distances ``sq_dist`` (M, M): the fixed one or the median heuristic."""
        return _sqrt(self._sigma_sq(sq_dist), sq_dist)

    def _sigma_sq(self, sq_dist: Tensor) -> float | Tensor:
        r""":math:`\sigma^2`, a Python float where that costs no device synchronisation, else a 0-d tensor."""
        return _median_sigma_sq(sq_dist) if self.sigma is None else self.sigma**2

    def __call__(self, X: Tensor) -> KernelTerms:
        """All kernel terms at the particles ``X`` (M, d)."""
        check_particles(X)
        return self.terms(X)

    def terms(self, X: Tensor, trace: bool = True) -> KernelTerms:
        """:meth:`__call__` without input validation, for the samplers' inner loop; ``trace=False`` skips the trace
        term (``None``), which only the Gramian and the KSD need."""
        d = X.shape[1]
        r2 = squared_distances(X)
        sigma = self.bandwidth(r2)
        f0, f1, f2 = self.profile(r2, sigma)
        repulsion = 2.0 * (f1 @ X - X * f1.sum(1, keepdim=True))
        t = (-2.0 * d * f1 - 4.0 * r2 * f2).sum() if trace else None
        return KernelTerms(f0, repulsion, t, sigma)

    def feature_terms(self, U: Tensor, J: Tensor, trace: bool = True) -> KernelTerms:
        r"""Terms of the kernel :math:`k(U(x), U(y))` on features :math:`U` (M, K), e.g. objective values, with their
        Jacobians ``J`` (M, K, d) with respect to the particles; the bandwidth comes from distances between features.

        .. math:: R_a = \sum_b J_b^\top\, 2 f'_{ab} (U_b - U_a), \qquad
                  t = \sum_{a,b} -2 f'_{ab} \langle J_a, J_b \rangle
                      - 4 f''_{ab}\, \Delta_{ab}^\top J_a J_b^\top \Delta_{ab},

        with :math:`\Delta_{ab} = U_a - U_b`. Cost :math:`O(M^2 K^2 + M^2 K d)`; no (M, M, d) tensor.
        """
        M, K, d = J.shape
        r2 = squared_distances(U)
        sigma = self.bandwidth(r2)
        f0, f1, f2 = self.profile(r2, sigma)
        W = 2.0 * f1
        JU = (J * U[:, :, None]).sum(1)  # (M, d): J_b^T U_b
        A = (W @ J.reshape(M, K * d)).view(M, K, d)  # sum_b W_ab J_b
        repulsion = W @ JU - (A * U[:, :, None]).sum(1)
        Gkl = (J.reshape(M * K, d) @ J.reshape(M * K, d).T).view(M, K, M, K).permute(0, 2, 1, 3)  # <J_a,k, J_b,l>
        delta = U[:, None, :] - U[None, :, :]
        if not trace:
            return KernelTerms(f0, repulsion, None, sigma)
        quad = ((delta[:, :, :, None] * delta[:, :, None, :]) * Gkl).sum((2, 3))
        t = (-2.0 * f1 * Gkl.diagonal(dim1=2, dim2=3).sum(-1) - 4.0 * f2 * quad).sum()
        return KernelTerms(f0, repulsion, t, sigma)

    def matrix(self, X: Tensor) -> Tensor:
        """The (M, M) kernel matrix alone."""
        return self(X).matrix

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in vars(self).items() if k != "sigma")
        return f"{type(self).__name__}(sigma={self.sigma!r}{extra})"


class RBF(Kernel):
    r"""Gaussian kernel :math:`k(x, y) = \exp(-\|x - y\|^2 / (2\sigma^2))`.

    ``scale`` measures distances per coordinate, :math:`k(x, y) = \exp(-\|D^{-1}(x - y)\|^2 / (2\sigma^2))`:
    a fixed (d,) tensor D, or ``"std"`` for the particles' own per-coordinate standard deviations (detached,
    recomputed every step). Use ``"std"`` when coordinates live on very different scales (a Pyro model with a
    site of spread 0.01 and another of spread 100): with one isotropic bandwidth the small coordinate feels no
    repulsion and its particles collapse.

    >>> import torch, stein_mo
    >>> X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    >>> stein_mo.RBF(sigma=1.0)(X).matrix[0, 1].item() == torch.exp(torch.tensor(-0.5)).item()
    True
    """

    def __init__(self, sigma: float | None = None, scale: str | Tensor | None = None) -> None:
        super().__init__(sigma)
        if not (scale is None or scale == "std" or isinstance(scale, Tensor)):
            raise ValueError(f"scale must be None, 'std' or a (d,) tensor of positive scales, got {scale!r}")
        if isinstance(scale, Tensor) and not (scale.ndim == 1 and (scale > 0).all()):
            raise ValueError(f"a fixed scale must be a (d,) tensor of positive numbers, got {scale}")
        self.scale = scale

    def profile(self, r2: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        inv = 1.0 / (2.0 * sigma**2)
        f0 = torch.exp(-r2 * inv)
        return f0, -inv * f0, inv**2 * f0

    def _scales(self, X: Tensor) -> Tensor | None:
        if self.scale is None:
            return None
        if isinstance(self.scale, Tensor):
            if self.scale.shape != X.shape[1:]:
                raise ValueError(f"scale has shape {tuple(self.scale.shape)}, particles have d = {X.shape[1]}")
            return self.scale.to(X)
        std = X.detach().std(0)
        return std.clamp_min(1e-12 * std.max().clamp_min(torch.finfo(X.dtype).tiny))

    def terms(self, X: Tensor, trace: bool = True) -> KernelTerms:
        # The generic terms with f' = -f/(2σ²), f'' = f/(4σ⁴) folded in: five (M, M) operations instead of ten.
        # With per-coordinate scales D the kernel is exp(-|D⁻¹(x - y)|²/(2σ²)): work on X / D, chain-rule back.
        D = self._scales(X)
        Xs = X if D is None else X / D
        r2 = squared_distances(Xs)
        sigma_sq = self._sigma_sq(r2)
        K = r2.div(sigma_sq * -2.0).exp_()
        rows = K.sum(1, keepdim=True)
        repulsion = torch.addmm(Xs * rows, K, Xs, alpha=-1.0).div_(sigma_sq)
        # tr = k (d/σ² - r²/σ⁴) summed, i.e. (d Σk - Σ k r² / σ²) / σ²; with scales D, d -> Σ_i D_i⁻², r -> |Δx / D²|
        t = None
        if trace:
            d_eff = X.shape[1] if D is None else D.pow(-2).sum()
            kr2 = torch.dot(K.view(-1), (r2 if D is None else squared_distances(Xs / D)).view(-1))
            t = (rows.sum() * d_eff - kr2 / sigma_sq) / sigma_sq
        return KernelTerms(K, repulsion if D is None else repulsion / D, t, _sqrt(sigma_sq, X))


class IMQ(Kernel):
    r"""Inverse multiquadric :math:`k(x, y) = (1 + \|x - y\|^2 / (2\sigma^2))^{\beta}`, :math:`-1 < \beta < 0`.

    Its heavier tails keep the kernel Stein discrepancy convergence-determining (Gorham & Mackey, 2017).

    >>> import torch, stein_mo
    >>> stein_mo.IMQ(sigma=1.0, beta=-0.5).matrix(torch.tensor([[0.0], [2.0]]))[0, 1].item()
    0.5773502...
    """

    def __init__(self, sigma: float | None = None, beta: float = -0.5) -> None:
        super().__init__(sigma)
        if not -1.0 < beta < 0.0:
            raise ValueError(f"beta must lie in (-1, 0), got {beta}")
        self.beta = beta

    def profile(self, r2: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h, b = 2.0 * sigma**2, self.beta
        base = 1.0 + r2 / h
        p = base.pow(b - 2)
        return p * base**2, (b / h) * p * base, (b * (b - 1) / h**2) * p
