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
from .gradnorm import GradNorm
from .gradvac import GradVac
from .imtl import IMTLG
from .loss_balancing import DWA, GLS, IMTLL, STCH, UW
from .mgda import MGDA
from .moco import MoCo, project_simplex
from .nash import NashMTL
from .pcgrad import PCGrad
from .png import PNG, criterion_weights, energy_distance, epo_non_uniformity, weighted_distance
from .registry import WEIGHTINGS, aggregate, get_weighting
from .rotograd import RotoGrad
from .simple import Mean, Random

__all__ = [
    "DWA",
    "GLS",
    "IMTLG",
    "IMTLL",
    "MGDA",
    "PNG",
    "STCH",
    "UW",
    "WEIGHTINGS",
    "AlignedMTL",
    "CAGrad",
    "DualProj",
    "GradDrop",
    "GradNorm",
    "GradVac",
    "JacobianAggregator",
    "Mean",
    "MoCo",
    "NashMTL",
    "PCGrad",
    "Random",
    "RotoGrad",
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
    "project_simplex",
    "weighted_distance",
]
