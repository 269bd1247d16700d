"""Particle ensembles of ``nn.Module``: M networks stacked and vectorised, and multi-task training (seed 000, Alg. 2)
with its baselines."""

from .methods import (
    BALANCERS,
    METHODS,
    GradNormEnsemble,
    LossBalancedEnsemble,
    MOOSVGDEnsemble,
    MTSGDEnsemble,
    ParetoMTL,
    TrainingMethod,
    WeightedEnsemble,
    get_method,
    preference_vectors,
)
from .models import lenet, mlp
from .multitask import MultiTaskEnsemble, task_losses
from .particles import ParticleEnsemble
from .training import FitResult, evaluate, fit, noise_variance

__all__ = [
    "BALANCERS",
    "METHODS",
    "FitResult",
    "GradNormEnsemble",
    "LossBalancedEnsemble",
    "MOOSVGDEnsemble",
    "MTSGDEnsemble",
    "MultiTaskEnsemble",
    "ParetoMTL",
    "ParticleEnsemble",
    "TrainingMethod",
    "WeightedEnsemble",
    "evaluate",
    "fit",
    "get_method",
    "lenet",
    "mlp",
    "noise_variance",
    "preference_vectors",
    "task_losses",
]
