"""Metrics: Pareto-set quality (hypervolume, IGD+, non-dominated filter) and calibration (ECE, Brier, NLL)."""

from .calibration import (
    accuracy,
    brier,
    ece,
    ensemble_predictive,
    gaussian_nll,
    member_metrics,
    mse,
    nll,
    reliability,
)
from .pareto import hypervolume, igd_plus, non_dominated

__all__ = [
    "accuracy",
    "brier",
    "ece",
    "ensemble_predictive",
    "gaussian_nll",
    "hypervolume",
    "igd_plus",
    "member_metrics",
    "mse",
    "nll",
    "non_dominated",
    "reliability",
]
