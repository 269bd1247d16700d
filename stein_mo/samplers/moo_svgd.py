r"""MOO-SVGD (Liu, Tong & Liu, 2021): per-particle MGDA, kernel-smoothed, plus the SVGD repulsion.

For each particle :math:`a`, :math:`w_a = \operatorname{argmin}_{w \in \Delta_K} w^\top G_a w` with
:math:`(G_a)_{ij} = s_i(a)^\top s_j(a)`; then :math:`g_a = \sum_k w_{ak} s_k(a)` and

.. math:: \phi(x_a) = \frac{1}{M} \sum_b \big[k(x_b, x_a)\, g_b + \nabla_{x_b} k(x_b, x_a)\big].

All M QPs are solved in one batched call.
"""

from __future__ import annotations

from torch import Tensor

from ..kernels import KernelTerms
from ..qp import _min_norm_weights
from ..stein import _smoothed
from .base import Sampler

__all__ = ["MOOSVGD"]


class MOOSVGD(Sampler):
    r"""MOO-SVGD over K targets; particles spread along the Pareto set rather than gather in the joint region.

    The step's ``weights`` diagnostic is the mean over particles of the per-particle weights.

    >>> import torch, stein_mo
    >>> targets = [lambda x, m=m: -0.5 * ((x - m) ** 2).sum(-1) for m in (-1.0, 1.0)]
    >>> x = stein_mo.MOOSVGD(targets).run(torch.randn(30, 1) * 3, 500, lr=0.1).particles
    >>> bool(x.min() < -1 and x.max() > 1)  # covers the Pareto set [-1, 1] and beyond
    True
    """

    needs_trace = False

    def direction(self, terms: KernelTerms, S: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        Sp = S.transpose(0, 1)  # (M, K, d)
        w = _min_norm_weights(Sp @ Sp.transpose(1, 2))  # (M, K)
        g = (w[:, :, None] * Sp).sum(1)
        return _smoothed(terms, g), {"weights": w.mean(0)}
