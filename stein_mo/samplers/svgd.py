r"""Stein variational gradient descent (Liu & Wang, 2016): one target, :math:`x \leftarrow x + \varepsilon \phi(x)`."""

from __future__ import annotations

from torch import Tensor

from ..kernels import Kernel, KernelTerms
from ..stein import Target, _smoothed
from .base import Sampler

__all__ = ["SVGD"]


class SVGD(Sampler):
    r"""SVGD on one unnormalised log density.

    .. math:: \phi(x_a) = \frac{1}{M} \sum_b \big[k(x_b, x_a) \nabla \log p(x_b) + \nabla_{x_b} k(x_b, x_a)\big]

    >>> import torch, stein_mo
    >>> target = lambda x: -0.5 * ((x - 2.0) ** 2).sum(-1)
    >>> result = stein_mo.SVGD(target).run(torch.randn(50, 2), 500, lr=0.1)
    >>> bool((result.particles.mean(0) - 2.0).abs().max() < 0.1)
    True
    """

    def __init__(
        self, target: Target, kernel: Kernel | None = None, bounds: tuple | None = None, kernel_on: str = "particles"
    ) -> None:
        super().__init__([target], kernel, bounds, kernel_on)

    needs_trace = False

    def direction(self, terms: KernelTerms, S: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return _smoothed(terms, S[0]), {}
