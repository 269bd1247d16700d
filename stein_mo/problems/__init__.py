"""Toy problems: Gaussian mixtures (seed 000's three), ZDT1-3 with their fronts, seed 001's two-loss problem."""

from .mixtures import JOINT_MODE, GaussianMixture, three_mixtures
from .synthetic import two_gaussian_front, two_gaussian_losses
from .zdt import ZDT, objective_targets

__all__ = [
    "JOINT_MODE",
    "ZDT",
    "GaussianMixture",
    "objective_targets",
    "three_mixtures",
    "two_gaussian_front",
    "two_gaussian_losses",
]
