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
    """Log density of a Gaussian mixture, or of K mixtures at once, on whatever device and dtype the particles have.

    ``means`` (C, d), ``weights`` (C,) summing to 1, ``covariances`` (C, d, d), (d, d) shared, or a scalar
    variance shared by all components. With a leading K on ``means`` (K, C, d) and ``weights`` (K, C), the object
    is a *batched target* (``num_targets = K``): it maps (K, M, d) or (M, d) particles to (K, M) log densities in
    one evaluation, which the samplers use instead of K separate calls (see :meth:`stack`).

    >>> import torch
    >>> p = GaussianMixture([[0.0, 0.0]], [1.0], 1.0)
    >>> round(p(torch.zeros(1, 2)).item(), 6) == round(-torch.log(torch.tensor(2 * torch.pi)).item(), 6)
    True
    """

    def __init__(self, means, weights, covariances=1.0, name: str | None = None, names=None) -> None:
        self.means = torch.as_tensor(means, dtype=torch.float64)
        if self.means.ndim not in (2, 3):
            raise ValueError(f"means must have shape (C, d) or (K, C, d), got {tuple(self.means.shape)}")
        *batch, C, d = self.means.shape
        self.weights = torch.as_tensor(weights, dtype=torch.float64)
        ok = self.weights.shape == (*batch, C) and (self.weights >= 0).all()
        if not ok or (self.weights.sum(-1) - 1).abs().max() > 1e-9:
            raise ValueError(
                f"weights must have shape {(*batch, C)}, be non-negative and sum to 1, got {self.weights.tolist()}"
            )
        cov = torch.as_tensor(covariances, dtype=torch.float64)
        self.variance = cov if cov.ndim == 0 else None  # isotropic shared covariance: no triangular solves
        if cov.ndim == 0:
            cov = cov * torch.eye(d, dtype=torch.float64)
        try:
            cov = cov.expand(*batch, C, d, d)
            self.scale_tril = torch.linalg.cholesky(cov)
        except RuntimeError as e:
            raise ValueError(f"covariances must be symmetric positive definite, of shape (…, d, d): {e}") from None
        self.dim = d
        self.num_targets = batch[0] if batch else None
        self.__name__ = name or f"GaussianMixture(C={C}, d={d}{f', K={batch[0]}' if batch else ''})"
        self.names = list(names) if names is not None else None
        self._cache: dict = {}

    @classmethod
    def stack(cls, mixtures: list[GaussianMixture]) -> GaussianMixture:
        """K mixtures with the same C and d as one batched target."""
        first = mixtures[0]
        if any(m.num_targets is not None for m in mixtures):
            raise ValueError("only single (unbatched) mixtures can be stacked")
        if any(m.means.shape != first.means.shape for m in mixtures):
            raise ValueError(f"mixtures to stack need equal (C, d); got {[tuple(m.means.shape) for m in mixtures]}")
        cov = torch.stack([m.scale_tril @ m.scale_tril.mT for m in mixtures])
        same_iso = all(m.variance is not None and m.variance == first.variance for m in mixtures)
        return cls(
            torch.stack([m.means for m in mixtures]),
            torch.stack([m.weights for m in mixtures]),
            first.variance if same_iso else cov,
            name="+".join(m.__name__ for m in mixtures),
            names=[m.__name__ for m in mixtures],
        )

    def _params(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        key = (x.device, x.dtype)
        if key not in self._cache:
            L = self.scale_tril.to(x)
            logdet = 2 * L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
            const = self.weights.to(x).log() - 0.5 * (logdet + self.dim * math.log(2 * math.pi))
            if self.variance is None:
                self._cache[key] = (self.means.to(x), L, const[..., None])
            else:  # -|x - μ|²/2v = x·μ/v - |μ|²/2v - |x|²/2v: the component logits are one matmul away
                mu = self.means.to(x) / float(self.variance)
                self._cache[key] = (mu.mT, (const - 0.5 * (self.means.to(x) * mu).sum(-1)).unsqueeze(-2), None)
        return self._cache[key]

    def __call__(self, x: Tensor) -> Tensor:
        """Log densities of the rows of ``x``: (M, d) → (M,), or (K, M) for a batched mixture."""
        K = self.num_targets
        shape_ok = x.ndim == 2 or (x.ndim == 3 and K is not None and x.shape[0] == K)
        if not shape_ok or x.shape[-1] != self.dim:
            want = f"(M, {self.dim})" + (f" or ({K}, M, {self.dim})" if K else "")
            raise ValueError(f"{self.__name__} expects particles of shape {want}, got {tuple(x.shape)}")
        if self.variance is not None:  # isotropic: logsumexp_c(x·μ_c/v + b_c) - |x|²/2v, (…, M, C) logits
            mu_t, b, _ = self._params(x)
            if x.ndim == mu_t.ndim:  # one fused product-and-add (addmm / baddbmm): fewer nodes to back-propagate
                logits = torch.addmm(b, x, mu_t) if x.ndim == 2 else torch.baddbmm(b, x, mu_t)
            else:
                logits = torch.matmul(x, mu_t).add_(b)
            return torch.logsumexp(logits, dim=-1).sub(x.pow(2).sum(-1), alpha=0.5 / float(self.variance))
        mu, L, const = self._params(x)
        diff = x.unsqueeze(-3) - mu.unsqueeze(-2)  # (…, C, M, d)
        sq = torch.linalg.solve_triangular(L, diff.mT, upper=False).pow(2).sum(-2)
        return torch.logsumexp(const - 0.5 * sq, dim=-2)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` exact draws (float64, CPU), (n, d) or (K, n, d) for a batched mixture."""
        if self.num_targets is not None:
            return torch.stack([self[k].sample(n, generator) for k in range(self.num_targets)])
        c = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, dtype=torch.float64, generator=generator)
        return self.means[c] + (self.scale_tril[c] @ eps[:, :, None])[:, :, 0]

    def __getitem__(self, k: int) -> GaussianMixture:
        """Mixture k of a batched mixture."""
        if self.num_targets is None:
            raise TypeError(f"{self.__name__} is a single mixture")
        cov = self.variance if self.variance is not None else self.scale_tril[k] @ self.scale_tril[k].mT
        return GaussianMixture(self.means[k], self.weights[k], cov, name=self.names[k] if self.names else None)

    def __repr__(self) -> str:
        return self.__name__


def three_mixtures(stacked: bool = False) -> list[GaussianMixture] | GaussianMixture:
    """Seed 000's three targets: weights 0.7/0.3, covariance 0.5·I, a shared high-density region near the origin.

    A list of three mixtures, or with ``stacked=True`` one batched target evaluating all three at once.
    """
    means = [
        [[4.0, -4.0], [0.0, 0.5]],
        [[-4.0, 4.0], [0.5, 0.0]],
        [[-3.0, -3.0], [0.0, 0.0]],
    ]
    mixtures = [GaussianMixture(m, [0.7, 0.3], 0.5, name=f"mixture{i + 1}") for i, m in enumerate(means)]
    return GaussianMixture.stack(mixtures) if stacked else mixtures
