"""Toy problems: Gaussian mixtures (including seed 000's three), and the two-loss synthetic problem of seed 001."""

from .mixtures import JOINT_MODE, GaussianMixture, three_mixtures
from .synthetic import two_gaussian_front, two_gaussian_losses

__all__ = ["JOINT_MODE", "GaussianMixture", "three_mixtures", "two_gaussian_front", "two_gaussian_losses"]
