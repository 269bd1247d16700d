"""Weightings by name, and :func:`aggregate`: a Jacobian in, one update out."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .aligned import AlignedMTL
from .base import JacobianAggregator, Method, Weighting
from .cagrad import CAGrad
from .dual_cone import DualProj, UPGrad
from .graddrop import GradDrop
from .gradvac import GradVac
from .imtl import IMTLG
from .mgda import MGDA
from .moco import MoCo
from .nash import NashMTL
from .pcgrad import PCGrad
from .simple import Mean, Random

__all__ = ["WEIGHTINGS", "aggregate", "get_weighting"]

WEIGHTINGS: dict[str, type[Weighting] | type[JacobianAggregator]] = {
    "mean": Mean,
    "random": Random,
    "mgda": MGDA,
    "upgrad": UPGrad,
    "dualproj": DualProj,
    "imtlg": IMTLG,
    "pcgrad": PCGrad,
    "aligned": AlignedMTL,
    "cagrad": CAGrad,
    "nash": NashMTL,
    "gradvac": GradVac,
    "graddrop": GradDrop,  # needs J itself: aggregate() only, not inside the samplers
    "moco": MoCo,  # stateful, needs J
}


def get_weighting(method: str | Weighting | JacobianAggregator, **options: Any) -> Weighting | JacobianAggregator:
    """A method from its name (see ``WEIGHTINGS``) and options, or ``method`` itself if it is one already."""
    if isinstance(method, Method):
        if options:
            raise ValueError(f"options {sorted(options)} given with an already built {method!r}")
        return method
    if not isinstance(method, str) or method.lower() not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {method!r}; choose one of {sorted(WEIGHTINGS)} or pass a Weighting")
    return WEIGHTINGS[method.lower()](**options)


def aggregate(J: Tensor, method: str | Weighting | JacobianAggregator = "upgrad", **options: Any) -> Tensor:
    r"""Combine the rows of a Jacobian ``J`` (m, n) into one update (n,): :math:`A(J) = J^\top w(J J^\top)`
    (or the method's own rule, for GradDrop).

    >>> import torch, stein_mo
    >>> J = torch.tensor([[1.0, 0.0], [-1.0, 3.0**0.5]])  # two conflicting gradients
    >>> d = stein_mo.aggregate(J, "upgrad")
    >>> bool((J @ d >= -1e-6).all())  # neither objective gets worse to first order
    True
    """
    if not isinstance(J, Tensor) or J.ndim != 2:
        shape = tuple(J.shape) if isinstance(J, Tensor) else type(J).__name__
        raise ValueError(f"J must be a (m, n) Jacobian: one row per objective, got {shape}")
    if J.numel() == 0:
        raise ValueError(f"J is empty (shape {tuple(J.shape)}): there is nothing to aggregate")
    if not J.is_floating_point():
        raise TypeError(f"J must be floating point, got {J.dtype}")
    G = J @ J.T
    if not G.isfinite().all():  # non-finite J gives non-finite G; overflow alone does not name a row
        bad = (~J.isfinite()).any(1).nonzero().flatten().tolist()
        raise ValueError(f"J has non-finite entries in rows {bad}" if bad else "J @ J.T overflows")
    method = get_weighting(method, **options)
    if isinstance(method, JacobianAggregator):
        return method(J)
    return J.T @ method.weights(G)
