"""Gramian → weights: one library for model training (on J Jᵀ) and for the samplers (on the RKHS Gramian U).

``aggregate(J, "upgrad")`` turns a Jacobian into an update; :func:`get_weighting` builds any weighting by name;
:func:`mtl_backward` trains a multi-task model with any of them.
"""

from .aligned import AlignedMTL
from .backward import jacobian, mgda_ub_backward, mtl_backward
from .base import JacobianAggregator, Weighting
from .cagrad import CAGrad
from .dual_cone import DualProj, UPGrad
from .graddrop import GradDrop
from .gradvac import GradVac
from .imtl import IMTLG
from .mgda import MGDA
from .nash import NashMTL
from .pcgrad import PCGrad
from .png import PNG, criterion_weights, energy_distance, epo_non_uniformity, weighted_distance
from .registry import WEIGHTINGS, aggregate, get_weighting
from .simple import Mean, Random

__all__ = [
    "IMTLG",
    "MGDA",
    "PNG",
    "WEIGHTINGS",
    "AlignedMTL",
    "CAGrad",
    "DualProj",
    "GradDrop",
    "GradVac",
    "JacobianAggregator",
    "Mean",
    "NashMTL",
    "PCGrad",
    "Random",
    "UPGrad",
    "Weighting",
    "aggregate",
    "criterion_weights",
    "energy_distance",
    "epo_non_uniformity",
    "get_weighting",
    "jacobian",
    "mgda_ub_backward",
    "mtl_backward",
    "weighted_distance",
]
