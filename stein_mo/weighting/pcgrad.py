r"""PCGrad (Yu et al., 2020; seed 003, B.4, eq. 23–26), in Gramian form.

Each gradient :math:`g_i` is projected, in a random order of the others, onto the normal plane of every
:math:`g_j` it conflicts with: :math:`g_i \leftarrow g_i - \frac{\min(g_i^\top g_j, 0)}{\|g_j\|^2} g_j`; the
update is the sum :math:`\sum_i g_i^{PC}` (Yu et al. sum; seed 003 follows them). Tracking the coefficients
:math:`g_i^{PC} = \sum_k C_{ik} g_k` needs only :math:`G`; all m gradients advance together, one projection step
at a time.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Weighting

__all__ = ["PCGrad"]


class PCGrad(Weighting):
    """Projecting conflicting gradients; random for m > 2 (pass a ``generator`` for reproducible draws).

    >>> import torch
    >>> PCGrad()(torch.tensor([[1.0, -1.0], [-1.0, 4.0]])).tolist()  # m = 2: twice UPGrad's weights
    [2.0, 1.25]
    """

    linear_under_scaling = True

    def __init__(self, generator: torch.Generator | None = None) -> None:
        self._generator = generator

    def weights(self, G: Tensor) -> Tensor:
        m = G.shape[-1]
        Gb = G.reshape(-1, m, m)
        B = Gb.shape[0]
        dev = self._generator.device if self._generator is not None else G.device
        keys = torch.rand(B, m, m, generator=self._generator, device=dev).to(G.device)
        keys.diagonal(dim1=-2, dim2=-1).fill_(2.0)  # each gradient comes last in its own order, and is skipped
        order = keys.argsort(-1)  # (B, m, m): row i is gradient i's random order of the others
        C = torch.eye(m, dtype=G.dtype, device=G.device).expand(B, m, m).clone()
        norms = Gb.diagonal(dim1=-2, dim2=-1)  # (B, m)
        for t in range(m - 1):
            j = order[:, :, t]  # (B, m): the gradient each g_i meets at step t
            inner = (C @ Gb).gather(-1, j[..., None])[..., 0]  # g_i^PC . g_j
            nj = norms.gather(-1, j)
            coef = torch.where((inner < 0) & (nj > 0), inner / torch.where(nj > 0, nj, 1.0), 0.0)
            C.scatter_add_(-1, j[..., None], -coef[..., None])
        return C.sum(-2).reshape(G.shape[:-1])
