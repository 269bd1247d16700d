r"""IMTL-G (Liu et al., 2021), generalised to any rank as in seed 003, B.6 (eq. 28–30):

.. math:: v = G^{+} d, \quad d_i = \sqrt{G_{ii}} = \|g_i\|, \qquad
          w = v / 1^\top v \text{ if } 1^\top v \ne 0, \text{ else } 0 .

On linearly independent gradients this is the original: :math:`J^\top w` has the same projection on every unit
gradient :math:`g_i / \|g_i\|`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Weighting

__all__ = ["IMTLG"]


class IMTLG(Weighting):
    """Impartial weights: equal projections of the update on every normalised gradient.

    >>> import torch
    >>> J = torch.tensor([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
    >>> [round(x, 4) for x in IMTLG()(J @ J.T).tolist()]
    [0.5923, 0.4077]
    """

    def weights(self, G: Tensor) -> Tensor:
        d = G.diagonal(dim1=-2, dim2=-1).clamp_min(0.0).sqrt()
        v = (torch.linalg.pinv(G, hermitian=True) @ d[..., None])[..., 0]
        total = v.sum(-1, keepdim=True)
        defined = total.abs() > 64 * torch.finfo(G.dtype).eps * G.shape[-1] * v.abs().sum(-1, keepdim=True)
        return torch.where(defined, v / torch.where(defined, total, 1.0), 0.0)
