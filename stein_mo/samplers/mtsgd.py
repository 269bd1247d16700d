r"""Multi-target sampling gradient descent, MT-SGD (seed 000, Algorithm 1).

Each step: form :math:`U_{ij} = \langle \phi_i, \phi_j \rangle_{\mathcal{H}^d}` (eq. 4), solve
:math:`w^\star = \operatorname{argmin}_{w \in \Delta_K} w^\top U w`, and move every particle along
:math:`\phi^\star = \sum_k w^\star_k \phi_k` (eq. 5). By Lemma 1, :math:`\langle \phi^\star, \phi_k \rangle \ge
\|\phi^\star\|^2` for every k, so all K KL divergences decrease together.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..kernels import Kernel, KernelTerms
from ..stein import Target, _gramian, _normalized_gramian, _smoothed
from ..weighting import MGDA, Weighting, get_weighting
from .base import Sampler

__all__ = ["MTSGD"]

GRAMIANS = ("exact", "normalized")


class MTSGD(Sampler):
    r"""MT-SGD over K targets.

    ``gramian="exact"`` is the paper's :math:`U` (eq. 3/4, with the trace term's correct sign).

    ``weighting`` turns the Gramian into the weights :math:`w`: ``"mgda"`` (default, the paper's min-norm QP)
    or any :mod:`stein_mo.weighting` name or object. Because :math:`U` is the Gramian of the :math:`\phi_k` in
    :math:`\mathcal{H}^d`, seed 003's properties carry over: ``"upgrad"`` gives a direction with
    :math:`\langle \phi^\star, \phi_k \rangle \ge 0` for every k (no KL divergence increases to first order)
    that, unlike MGDA's, is linear in rescalings of the targets' directions; ``"mean"`` is plain averaging.
    ``gramian="normalized"`` is what the authors' code computes instead (see
    :func:`stein_mo.normalized_gramian`): per-coordinate normalised scores, kernel-weighted score Gram only. Both
    move the particles along the same :math:`\phi_k`; they differ only in the weights.

    >>> import torch, stein_mo
    >>> targets = [lambda x, m=m: -0.5 * ((x - m) ** 2).sum(-1) for m in (-1.0, 1.0)]
    >>> result = stein_mo.MTSGD(targets).run(torch.randn(30, 1) * 3, 300, lr=0.1)
    >>> result.history["weights"].shape
    torch.Size([300, 2])
    """

    def __init__(
        self,
        targets: Sequence[Target] | Target,
        kernel: Kernel | None = None,
        gramian: str = "exact",
        weighting: str | Weighting = "mgda",
        bounds: tuple | None = None,
        kernel_on: str = "particles",
    ) -> None:
        super().__init__(targets, kernel, bounds, kernel_on)
        if gramian not in GRAMIANS:
            raise ValueError(f"gramian must be one of {GRAMIANS}, got {gramian!r}")
        self.gramian = gramian
        self.weighting = get_weighting(weighting)
        if not isinstance(self.weighting, Weighting):
            raise TypeError(f"{self.weighting!r} needs the Jacobian itself; MT-SGD only has the Gramian U")

    def direction(self, terms: KernelTerms, S: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        K, M, d = S.shape
        KS = terms.matrix @ S
        U = _gramian(terms, S, KS)
        G = U if self.gramian == "exact" else _normalized_gramian(terms, S)
        if K == 1:  # every weighting gives w = 1 here; this path is exactly SVGD's
            w = torch.ones(1, dtype=S.dtype, device=S.device)
            return _smoothed(terms, S[0]), {"weights": w, "ksd": U.diagonal()}
        w = self.weighting.weights(G)
        g = (w @ S.view(K, -1)).view(M, d)
        total = None if isinstance(self.weighting, MGDA) else w.sum()  # MGDA's weights sum to one
        return _smoothed(terms, g, total), {"weights": w, "ksd": U.diagonal()}

    def __repr__(self) -> str:
        return (
            f"MTSGD(K={self.num_targets}, kernel={self.kernel!r}, gramian={self.gramian!r}, "
            f"weighting={self.weighting!r})"
        )
