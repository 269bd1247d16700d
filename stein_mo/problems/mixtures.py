r"""Gaussian-mixture targets, and the three two-component mixtures of seed 000 (§4.1.1).

.. math:: \log p(x) = \operatorname{logsumexp}_c \big[\log \pi_c + \log \mathcal{N}(x \mid \mu_c, \Sigma_c)\big]
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["JOINT_MODE", "GaussianMixture", "three_mixtures"]

#: The centre of the region where all three of :func:`three_mixtures` have high density.
JOINT_MODE = (0.25, 0.25)


class GaussianMixture:
    """Log density of a Gaussian mixture, evaluated on whatever device and dtype the particles have.

    ``means`` (C, d), ``weights`` (C,) summing to 1, ``covariances`` (C, d, d), (d, d) shared, or a scalar
    variance shared by all components.

    >>> import torch
    >>> p = GaussianMixture([[0.0, 0.0]], [1.0], 1.0)
    >>> round(p(torch.zeros(1, 2)).item(), 6) == round(-torch.log(torch.tensor(2 * torch.pi)).item(), 6)
    True
    """

    def __init__(self, means, weights, covariances=1.0, name: str | None = None) -> None:
        self.means = torch.as_tensor(means, dtype=torch.float64)
        if self.means.ndim != 2:
            raise ValueError(f"means must have shape (C, d), got {tuple(self.means.shape)}")
        C, d = self.means.shape
        self.weights = torch.as_tensor(weights, dtype=torch.float64)
        if self.weights.shape != (C,) or (self.weights < 0).any() or abs(float(self.weights.sum()) - 1) > 1e-9:
            raise ValueError(f"weights must be {C} non-negative numbers summing to 1, got {self.weights.tolist()}")
        cov = torch.as_tensor(covariances, dtype=torch.float64)
        if cov.ndim == 0:
            cov = cov * torch.eye(d, dtype=torch.float64)
        cov = cov.expand(C, d, d)
        try:
            self.scale_tril = torch.linalg.cholesky(cov)
        except RuntimeError:
            raise ValueError("every covariance must be symmetric positive definite") from None
        self.dim = d
        self.__name__ = name or f"GaussianMixture(C={C}, d={d})"
        self._cache: dict = {}

    def _params(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        key = (x.device, x.dtype)
        if key not in self._cache:
            L = self.scale_tril.to(x)
            logdet = 2 * L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
            const = self.weights.to(x).log() - 0.5 * (logdet + self.dim * math.log(2 * math.pi))
            self._cache[key] = (self.means.to(x), L, const)
        return self._cache[key]

    def __call__(self, x: Tensor) -> Tensor:
        """(M,) log densities of the rows of ``x`` (M, d)."""
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{self.__name__} expects particles of shape (M, {self.dim}), got {tuple(x.shape)}")
        mu, L, const = self._params(x)
        diff = (x[None] - mu[:, None]).transpose(1, 2)  # (C, d, M)
        z = torch.linalg.solve_triangular(L, diff, upper=False)
        return torch.logsumexp(const[:, None] - 0.5 * z.pow(2).sum(1), dim=0)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` exact draws (float64, CPU)."""
        c = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, dtype=torch.float64, generator=generator)
        return self.means[c] + (self.scale_tril[c] @ eps[:, :, None])[:, :, 0]

    def __repr__(self) -> str:
        return self.__name__


def three_mixtures() -> list[GaussianMixture]:
    """Seed 000's three targets: weights 0.7/0.3, covariance 0.5·I, a shared high-density region near the origin."""
    means = [
        [[4.0, -4.0], [0.0, 0.5]],
        [[-4.0, 4.0], [0.5, 0.0]],
        [[-3.0, -3.0], [0.0, 0.0]],
    ]
    return [GaussianMixture(m, [0.7, 0.3], 0.5, name=f"mixture{i + 1}") for i, m in enumerate(means)]
